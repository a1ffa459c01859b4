//! The CCP datapath library: the Rust equivalent of libccp.
//!
//! A datapath (a kernel TCP stack, a QUIC or user-space TCP implementation, a simulator)
//! links this library to be steered by a CCP agent (portus or `ccp-agent`): the agent
//! installs datapath programs, the library runs them on every ACK with libccp's exact
//! semantics (the [`ccp_lang::vm`] interpreter), applies the congestion window / pacing
//! rate they compute through the datapath's [`Callbacks`], and sends their reports back.
//! It is byte-compatible with libccp on the wire (spec §2, §4), returns libccp's codes,
//! and adds:
//!
//! * **fallback** — when the agent is unreachable for [`Config::fallback_timeout_us`],
//!   every flow is driven per ACK by a built-in [`Reno`](fallback::Reno) or
//!   [`Cubic`](fallback::Cubic) from its current window (libccp only returns −101 and the
//!   window freezes); the agent is probed with READY + HELLO, and when it answers every
//!   live flow is re-announced with CREATE and handed back on its first CHANGE_PROG;
//! * programs stored once and shared by all flows (`Arc<Program>`), no fixed connection
//!   limit, small per-flow memory (see `docs/datapath.md`);
//! * input validation: nothing the agent sends can make the library panic, read out of
//!   bounds or loop; rejections are counted in [`Stats`];
//! * the HELLO handshake and, with an agent that supports it, `Cwnd`/`Rate` appended to
//!   every report (`REPORT_CWND_RATE`).
//!
//! The C ABI (libccp's functions and structs) lives in the `ccp-datapath-ffi` crate.
//!
//! # Example
//!
//! ```
//! use ccp_datapath::{Callbacks, Config, Datapath, DatapathInfo, Invoked, SendError, Sid};
//! use ccp_datapath::Primitives;
//!
//! #[derive(Default)]
//! struct Mock { now_us: u64, sent: Vec<Vec<u8>>, cwnd: u64 }
//!
//! impl Callbacks for Mock {
//!     type Conn = ();
//!     fn set_cwnd(&mut self, _sid: Sid, _c: &mut (), cwnd: u64) { self.cwnd = cwnd; }
//!     fn set_rate_abs(&mut self, _sid: Sid, _c: &mut (), _rate: u64) {}
//!     fn send_msg(&mut self, msg: &[u8]) -> Result<(), SendError> {
//!         self.sent.push(msg.to_vec());
//!         Ok(())
//!     }
//!     fn now(&self) -> u64 { self.now_us }
//! }
//!
//! let mut dp = Datapath::init(Config::new(7), Mock::default())?;
//! let info = DatapathInfo { init_cwnd: 14600, mss: 1460, ..Default::default() };
//! let sid = dp.connection_start(info, Some("reno"), ())?;
//! assert_eq!(sid, 1);
//! // READY, HELLO, CREATE went out.
//! assert_eq!(dp.callbacks().sent.len(), 3);
//! assert_eq!(dp.callbacks().sent[2].len(), 96);
//! // No program yet: libccp's −96.
//! let prims = Primitives { bytes_acked: 1460, snd_cwnd: 14600, ..Default::default() };
//! assert_eq!(dp.invoke(sid, &prims).unwrap_err().libccp_code(), -96);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod callbacks;
mod config;
mod datapath;
mod error;
pub mod fallback;
mod stats;
mod sync;

pub use callbacks::{Callbacks, DatapathInfo, SendError, Sid};
pub use ccp_lang::vm::Primitives;
pub use config::{Config, ConfigError, FallbackAlg};
pub use datapath::{
    CREATE_RETRY_US, ConnectionInfo, Datapath, Handled, IMPL_NAME, Invoked, MAX_CHANGE_PROG_FIELDS,
    MAX_UPDATE_FIELDS,
};
pub use error::{InvokeError, ReadError, StartError};
pub use stats::Stats;
pub use sync::SyncDatapath;
