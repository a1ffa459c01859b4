//! AIMD: additive increase of `increase` packets per RTT, multiplicative decrease by
//! `decrease` once per loss episode. With the defaults (1, 0.5) it is TCP Reno's law on the
//! shared [`window`](crate::window) program (per-ACK slow start in the datapath).

use std::time::Duration;

use ccp_agent::{CongAlg, Datapath, DatapathInfo, Programs};

use crate::params::{ParamError, ParamReader, Params, Tunable};
use crate::window::{MIN_WINDOW, PROGRAM, PROGRAM_SRC, WindowFlow, WindowLaw};

/// Registry name.
pub const NAME: &str = "aimd";

/// AIMD's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Aimd {
    /// Packets added per RTT in congestion avoidance.
    pub increase: f64,
    /// Factor applied to the window on a loss (0–1).
    pub decrease: f64,
    /// Initial window in bytes; `None`: the datapath's.
    pub init_cwnd: Option<u64>,
}

impl Default for Aimd {
    fn default() -> Self {
        Aimd {
            increase: 1.0,
            decrease: 0.5,
            init_cwnd: None,
        }
    }
}

/// AIMD's tunables.
pub const TUNABLES: &[Tunable] = &[
    Tunable {
        name: "increase",
        default: 1.0,
        description: "additive increase, packets per RTT",
    },
    Tunable {
        name: "decrease",
        default: 0.5,
        description: "multiplicative decrease factor on loss (0–1)",
    },
    Tunable {
        name: "init_cwnd",
        default: 0.0,
        description: "initial window in bytes (0: the datapath's)",
    },
];

impl Aimd {
    /// Build from tunables.
    pub fn from_params(p: &Params) -> Result<Aimd, ParamError> {
        let r = ParamReader::new(NAME, TUNABLES, p)?;
        Ok(Aimd {
            increase: r.above("increase", 0.0, 1e6)?,
            decrease: r.above("decrease", 0.0, 0.999)?,
            init_cwnd: r.optional_integer("init_cwnd", 1, u64::from(u32::MAX))?,
        })
    }

    /// Set the additive increase (packets per RTT).
    pub fn with_increase(mut self, packets: f64) -> Aimd {
        self.increase = packets;
        self
    }

    /// Set the decrease factor.
    pub fn with_decrease(mut self, factor: f64) -> Aimd {
        self.decrease = factor;
        self
    }
}

impl CongAlg for Aimd {
    type Flow = WindowFlow<AimdLaw>;

    fn name(&self) -> &str {
        NAME
    }

    fn datapath_programs(&self) -> Programs {
        crate::common::one_program(PROGRAM, PROGRAM_SRC)
    }

    fn new_flow(&self, datapath: Datapath, info: DatapathInfo) -> Self::Flow {
        WindowFlow::start(NAME, datapath, &info, AimdLaw(*self), self.init_cwnd)
    }
}

/// AIMD's control law.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AimdLaw(pub Aimd);

impl WindowLaw for AimdLaw {
    fn on_ack(&mut self, cwnd: f64, acked: f64, _now: Duration, _rtt: Duration) -> f64 {
        cwnd + self.0.increase * acked / cwnd
    }

    fn on_loss(&mut self, cwnd: f64, _now: Duration) -> (f64, f64) {
        let w = (cwnd * self.0.decrease).max(MIN_WINDOW);
        (w, w)
    }

    fn on_timeout(&mut self, cwnd: f64, _now: Duration) -> f64 {
        (cwnd * self.0.decrease).max(MIN_WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;

    const MSS: u64 = 1000;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    #[test]
    fn additive_increase_per_rtt_and_multiplicative_decrease_per_episode() {
        let a = Aimd::default().with_increase(2.0).with_decrease(0.8);
        let mut h = Harness::new(a, MSS as u32, 10 * MSS as u32).unwrap();
        // Leave slow start with a loss episode at 100 packets.
        h.report(
            ms(100),
            &[("episode", 1), ("cwnd", 100 * MSS), ("rtt", 10_000)],
        )
        .unwrap();
        assert_eq!(h.cwnd(), Some(80 * MSS));
        assert_eq!(h.control("ssthresh"), Some(80 * MSS));
        // Ten RTTs, each acking one window: the target grows by 2 packets per RTT, spread
        // over the ACKs (gain 2/cwnd per acked byte).
        let mut cwnd = 80 * MSS;
        let mut t = 110;
        for i in 1..=10u64 {
            t += 10;
            h.report(ms(t), &[("acked", cwnd), ("cwnd", cwnd), ("rtt", 10_000)])
                .unwrap();
            assert_eq!(h.control("ca_target"), Some((80 + 2 * i) * MSS), "RTT {i}");
            let gain = (2.0 / (78 + 2 * i) as f64 * 65536.0).round() as u64;
            assert_eq!(h.control("ca_gain"), Some(gain));
            cwnd = (80 + 2 * i) * MSS;
        }
        // Half a window acked: half the increase.
        t += 10;
        h.report(
            ms(t),
            &[("acked", 50 * MSS), ("cwnd", 100 * MSS), ("rtt", 10_000)],
        )
        .unwrap();
        assert_eq!(h.control("ca_target"), Some(101 * MSS));
        // An episode: ×0.8, once.
        h.report(
            ms(t + 1),
            &[("episode", 1), ("loss", 2), ("cwnd", 101 * MSS)],
        )
        .unwrap();
        assert_eq!(h.cwnd(), Some(80_800));
        h.report(
            ms(t + 2),
            &[("loss", 2), ("recovering", 1), ("cwnd", 81 * MSS)],
        )
        .unwrap();
        assert_eq!(h.cwnd(), Some(80_800));
        // Never below two packets.
        let mut law = AimdLaw(Aimd::default());
        assert_eq!(law.on_loss(3.0, ms(0)), (2.0, 2.0));
        assert_eq!(law.on_timeout(1.0, ms(0)), 2.0);
    }

    #[test]
    fn params_are_checked() {
        let a = Aimd::from_params(&Params::new().with("increase", 3.0)).unwrap();
        assert_eq!(a.increase, 3.0);
        assert!(Aimd::from_params(&Params::new().with("decrease", 0.0)).is_err());
        assert!(Aimd::from_params(&Params::new().with("decrease", 1.0)).is_err());
    }
}
