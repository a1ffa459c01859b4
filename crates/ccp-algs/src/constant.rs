//! Constant rate and constant window: baselines that ignore every signal.
//!
//! Both install a program that only counts delivered bytes and reports once a second
//! (nothing in the agent reacts to it); the rate and the window are set once, with
//! `set_program`'s initial values.

use ccp_agent::{CongAlg, Datapath, DatapathInfo, Flow, Programs, Report};

use crate::common::{install, mss_of, one_program, to_reg};
use crate::params::{ParamError, ParamReader, Params, Tunable};

/// Registry name of the constant-rate algorithm.
pub const RATE_NAME: &str = "const-rate";
/// Registry name of the constant-window algorithm.
pub const CWND_NAME: &str = "const-cwnd";

/// Name of the program both use.
pub const PROGRAM: &str = "constant";

/// The program: count delivered bytes, report once a second.
pub const PROGRAM_SRC: &str = "(def
    (Report
        (volatile acked 0)
    )
)
(when true
    (:= Report.acked (+ Report.acked (+ Ack.bytes_acked Ack.bytes_misordered)))
    (fallthrough)
)
(when (> Micros 1000000)
    (report)
    (:= Micros 0)
)";

fn programs() -> Programs {
    one_program(PROGRAM, PROGRAM_SRC)
}

/// Megabits per second to bytes per second.
pub fn mbps_to_bytes_per_sec(mbps: f64) -> u64 {
    to_reg(mbps * 1e6 / 8.0)
}

/// Pace at a fixed rate, with a (large) fixed window as a cap.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConstRate {
    /// Pacing rate, Mbit/s.
    pub rate_mbps: f64,
    /// Window cap, packets.
    pub cwnd_packets: u64,
}

impl Default for ConstRate {
    fn default() -> Self {
        ConstRate {
            rate_mbps: 10.0,
            cwnd_packets: 100_000,
        }
    }
}

/// Constant rate's tunables.
pub const RATE_TUNABLES: &[Tunable] = &[
    Tunable {
        name: "rate_mbps",
        default: 10.0,
        description: "pacing rate, Mbit/s",
    },
    Tunable {
        name: "cwnd_packets",
        default: 100_000.0,
        description: "window cap, packets",
    },
];

impl ConstRate {
    /// Build from tunables.
    pub fn from_params(p: &Params) -> Result<ConstRate, ParamError> {
        let r = ParamReader::new(RATE_NAME, RATE_TUNABLES, p)?;
        Ok(ConstRate {
            rate_mbps: r.above("rate_mbps", 0.0, 34_000.0)?,
            cwnd_packets: r.integer("cwnd_packets", 1, 1_000_000)?,
        })
    }
}

impl CongAlg for ConstRate {
    type Flow = ConstFlow;

    fn name(&self) -> &str {
        RATE_NAME
    }

    fn datapath_programs(&self) -> Programs {
        programs()
    }

    fn new_flow(&self, datapath: Datapath, info: DatapathInfo) -> ConstFlow {
        let cwnd = self.cwnd_packets.saturating_mul(mss_of(&info));
        ConstFlow::start(
            datapath,
            &info,
            to_reg(cwnd as f64),
            mbps_to_bytes_per_sec(self.rate_mbps),
        )
    }
}

/// A fixed window, optionally paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConstCwnd {
    /// Window, packets.
    pub cwnd_packets: u64,
    /// Pacing rate, Mbit/s (0: no pacing).
    pub rate_mbps: f64,
}

impl Default for ConstCwnd {
    fn default() -> Self {
        ConstCwnd {
            cwnd_packets: 100,
            rate_mbps: 0.0,
        }
    }
}

/// Constant window's tunables.
pub const CWND_TUNABLES: &[Tunable] = &[
    Tunable {
        name: "cwnd_packets",
        default: 100.0,
        description: "window, packets",
    },
    Tunable {
        name: "rate_mbps",
        default: 0.0,
        description: "pacing rate, Mbit/s (0: no pacing)",
    },
];

impl ConstCwnd {
    /// Build from tunables.
    pub fn from_params(p: &Params) -> Result<ConstCwnd, ParamError> {
        let r = ParamReader::new(CWND_NAME, CWND_TUNABLES, p)?;
        Ok(ConstCwnd {
            cwnd_packets: r.integer("cwnd_packets", 1, 1_000_000)?,
            rate_mbps: r.range("rate_mbps", 0.0, 34_000.0)?,
        })
    }
}

impl CongAlg for ConstCwnd {
    type Flow = ConstFlow;

    fn name(&self) -> &str {
        CWND_NAME
    }

    fn datapath_programs(&self) -> Programs {
        programs()
    }

    fn new_flow(&self, datapath: Datapath, info: DatapathInfo) -> ConstFlow {
        let cwnd = self.cwnd_packets.saturating_mul(mss_of(&info));
        ConstFlow::start(
            datapath,
            &info,
            to_reg(cwnd as f64),
            mbps_to_bytes_per_sec(self.rate_mbps),
        )
    }
}

/// A flow of either constant algorithm: nothing to do after the start.
#[derive(Debug)]
pub struct ConstFlow {
    _datapath: Datapath,
    delivered: u64,
}

impl ConstFlow {
    fn start(mut datapath: Datapath, info: &DatapathInfo, cwnd: u64, rate: u64) -> ConstFlow {
        let fields = [("Cwnd", cwnd), ("Rate", rate)];
        let fields = if rate > 0 { &fields[..] } else { &fields[..1] };
        install(&mut datapath, info, "const", PROGRAM, fields);
        ConstFlow {
            _datapath: datapath,
            delivered: 0,
        }
    }

    /// Bytes delivered so far, as reported.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }
}

impl Flow for ConstFlow {
    fn on_report(&mut self, _sock_id: u32, report: Report<'_>) {
        if let Ok(a) = report.get_field("acked") {
            self.delivered = self.delivered.saturating_add(a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;
    use std::time::Duration;

    #[test]
    fn rate_and_window_are_set_once_and_never_change() {
        let a = ConstRate::from_params(&Params::new().with("rate_mbps", 48.0)).unwrap();
        let mut h = Harness::new(a, 1460, 14_600).unwrap();
        assert_eq!(h.rate(), Some(6_000_000));
        assert_eq!(h.cwnd(), Some(100_000 * 1460));
        let set = h
            .report(Duration::from_secs(1), &[("acked", 6_000_000)])
            .unwrap();
        assert!(set.is_empty());

        let mut h = Harness::new(ConstCwnd::default(), 1460, 14_600).unwrap();
        assert_eq!(h.cwnd(), Some(146_000));
        assert_eq!(h.rate(), None);
        assert!(
            h.report(Duration::from_secs(1), &[("acked", 1)])
                .unwrap()
                .is_empty()
        );
        assert!(ConstRate::from_params(&Params::new().with("rate_mbps", -1.0)).is_err());
        assert!(ConstCwnd::from_params(&Params::new().with("cwnd_packets", 0.5)).is_err());
    }
}
