//! Small helpers shared by the algorithms.

use std::time::Duration;

use ccp_agent::{Datapath, DatapathInfo, Programs, Report};

/// MSS assumed when a datapath announces 0.
pub const DEFAULT_MSS: u64 = 1460;

/// Initial window (packets) assumed when a datapath announces 0.
pub const DEFAULT_INIT_CWND_PACKETS: u64 = 10;

/// The connection's MSS (bytes), [`DEFAULT_MSS`] if the datapath announced 0.
pub fn mss_of(info: &DatapathInfo) -> u64 {
    match u64::from(info.mss) {
        0 => DEFAULT_MSS,
        m => m,
    }
}

/// The initial window in bytes: `configured` if set, else the datapath's `init_cwnd`, else
/// [`DEFAULT_INIT_CWND_PACKETS`] segments.
pub fn init_cwnd_of(info: &DatapathInfo, configured: Option<u64>) -> u64 {
    configured.unwrap_or(match u64::from(info.init_cwnd) {
        0 => DEFAULT_INIT_CWND_PACKETS * mss_of(info),
        c => c,
    })
}

/// The program map of an algorithm with a single datapath program.
pub fn one_program(name: &str, src: &str) -> Programs {
    Programs::from([(name.to_owned(), src.to_owned())])
}

/// Switch a new flow to `program` with the given initial field values. A failure (the
/// datapath refuses, e.g. the program is unknown) is logged; the flow keeps whatever the
/// datapath runs until the next successful switch.
pub fn install(
    datapath: &mut Datapath,
    info: &DatapathInfo,
    alg: &str,
    program: &str,
    fields: &[(&str, u64)],
) {
    if let Err(e) = datapath.set_program(program, Some(fields)) {
        tracing::warn!(sid = info.sock_id, alg, error = %e, "cannot install program");
    }
}

/// The time of a report: the datapath's clock (`now_us`, a report variable filled from
/// `Ack.now`, µs since the datapath started) when it is set, else the agent's clock.
///
/// Algorithms time their control law with the datapath's clock so that it is right even
/// when the agent's clock runs at another pace (a simulator running faster than real time).
pub fn report_time(r: &Report<'_>, now_us: u64) -> Duration {
    if now_us > 0 {
        Duration::from_micros(now_us)
    } else {
        r.received_at()
    }
}

/// A `u64` from a rounded non-negative `f64`, saturating at `u32::MAX` (the datapath
/// registers Cwnd/Rate travel as u64 but libccp's callbacks take u32).
pub fn to_reg(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        0
    } else {
        x.round().min(f64::from(u32::MAX)) as u64
    }
}
