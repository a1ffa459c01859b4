//! Built-in congestion controllers that drive a flow while the agent is away.
//!
//! Both run per invocation (per ACK or batch of ACKs) on the same [`Primitives`] the
//! datapath fills for `invoke`, starting from the flow's current window, and return the
//! window to apply. Signals used: `bytes_acked` (growth), `lost_pkts_sample > 0` (loss:
//! multiplicative decrease, at most once per smoothed RTT), `was_timeout` (retransmission
//! timeout: window to 1 MSS), `rtt_sample_us` (smoothed RTT), `bytes_in_flight` (flight
//! size for the Reno decrease).
//!
//! **Floors:** the window never goes below 1 MSS (after a timeout) and never below 2 MSS
//! after a loss, so a flow under fallback always has at least one segment to send and is
//! never stalled. Both controllers only set the window; the pacing rate is left as it was.

mod cubic;
mod reno;

pub use cubic::Cubic;
pub use reno::Reno;

use ccp_lang::vm::Primitives;

use crate::config::FallbackAlg;

/// MSS assumed when the connection announced 0.
pub const DEFAULT_MSS: u64 = 1460;
/// RTT assumed before the first sample (recovery period, CUBIC's RTT term).
pub const DEFAULT_RTT_US: u64 = 100_000;
/// Largest window the controllers produce (bytes).
pub const MAX_CWND: u64 = u32::MAX as u64;

/// A per-ACK window controller.
pub trait Controller {
    /// Process one invocation's primitives at `now_us` (µs, any monotonic origin) and
    /// return the new congestion window in bytes.
    fn on_ack(&mut self, prims: &Primitives, now_us: u64) -> u64;
    /// The current window in bytes.
    fn cwnd(&self) -> u64;
}

/// Either built-in controller.
#[derive(Clone, Debug, PartialEq)]
pub enum Fallback {
    /// Reno.
    Reno(Reno),
    /// CUBIC.
    Cubic(Cubic),
}

impl Fallback {
    /// A controller of kind `alg` starting in congestion avoidance at `cwnd` bytes.
    pub fn new(alg: FallbackAlg, cwnd: u64, mss: u64) -> Fallback {
        match alg {
            FallbackAlg::Reno => Fallback::Reno(Reno::new(cwnd, mss)),
            FallbackAlg::Cubic => Fallback::Cubic(Cubic::new(cwnd, mss)),
        }
    }
}

impl Controller for Fallback {
    fn on_ack(&mut self, prims: &Primitives, now_us: u64) -> u64 {
        match self {
            Fallback::Reno(r) => r.on_ack(prims, now_us),
            Fallback::Cubic(c) => c.on_ack(prims, now_us),
        }
    }

    fn cwnd(&self) -> u64 {
        match self {
            Fallback::Reno(r) => r.cwnd(),
            Fallback::Cubic(c) => c.cwnd(),
        }
    }
}

/// Smoothed RTT (RFC 6298 α = 1/8). Samples of 0 ("none") and ≥ 2³² − 1 are ignored.
pub(crate) fn smooth_rtt(srtt_us: u64, sample_us: u64) -> u64 {
    if sample_us == 0 || sample_us >= 0xFFFF_FFFF {
        return srtt_us;
    }
    if srtt_us == 0 {
        sample_us
    } else {
        (7 * srtt_us + sample_us) / 8
    }
}

pub(crate) fn effective_mss(mss: u64) -> u64 {
    if mss == 0 { DEFAULT_MSS } else { mss }
}
