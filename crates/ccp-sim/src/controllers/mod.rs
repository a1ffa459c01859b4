//! Native (in-datapath) reference controllers.

mod constant;
mod cubic;
mod reno;

pub use constant::{ConstCwnd, ConstRate, mbps_to_bytes};
pub use cubic::{CUBIC_BETA, CUBIC_C, Cubic};
pub use reno::Reno;
