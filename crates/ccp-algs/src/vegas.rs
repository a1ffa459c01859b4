//! TCP Vegas: keep between α and β packets queued at the bottleneck.
//!
//! Once per RTT the datapath reports the smallest RTT sample of the interval; the agent
//! keeps the base RTT (the smallest ever seen) and estimates the packets the flow has
//! queued, `diff = cwnd · (1 − base_rtt / rtt)`:
//!
//! * congestion avoidance: `diff < α` → +1 packet, `diff > β` → −1 packet, else hold;
//! * slow start (below ssthresh): the window grows by the acked packets (doubling per RTT)
//!   until `diff > γ`, then it is set to `min(cwnd, cwnd·base_rtt/rtt + 1)` and congestion
//!   avoidance starts;
//! * loss: Reno's halving once per loss episode (the datapath holds the window at the
//!   bytes in flight until the agent answers); timeout: one segment (set at once by the
//!   datapath), `ssthresh = cwnd/2`.

use std::time::Duration;

use ccp_agent::{CongAlg, Datapath, DatapathInfo, Flow, Programs, Report};

use crate::common::{init_cwnd_of, install, mss_of, one_program, report_time, to_reg};
use crate::params::{ParamError, ParamReader, Params, Tunable};
use crate::window::RECOVERY_SLACK_PACKETS;

/// Registry name.
pub const NAME: &str = "vegas";

/// Name of Vegas's datapath program.
pub const PROGRAM: &str = "vegas";

/// Vegas's datapath program: per-RTT reports of the minimum RTT, immediate loss/timeout
/// reports.
pub const PROGRAM_SRC: &str = "(def
    (Report
        (volatile acked 0)
        (volatile sacked 0)
        (volatile loss 0)
        (volatile timeout false)
        (volatile minrtt +infinity)
        (volatile rtt 0)
        (volatile inflight 0)
        (volatile now 0)
        (volatile cwnd 0)
    )
    (mss 1460)
)
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.sacked (+ Report.sacked Ack.bytes_misordered))
    (:= Report.loss (+ Report.loss Ack.lost_pkts_sample))
    (:= Report.timeout Flow.was_timeout)
    (:= Report.minrtt (min Report.minrtt Flow.rtt_sample_us))
    (:= Report.rtt Flow.rtt_sample_us)
    (:= Report.inflight Flow.bytes_in_flight)
    (:= Report.now Ack.now)
    (:= Report.cwnd Cwnd)
    (fallthrough)
)
# hold the window at what is in flight (one segment after a timeout) until the agent answers
(when (|| Report.timeout (> Report.loss 0))
    (:= Cwnd (max (min Cwnd Flow.bytes_in_flight) mss))
    (report)
    (:= Micros 0)
)
(when (> Micros Report.rtt)
    (report)
    (:= Micros 0)
)";

/// Vegas's settings (packets).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Vegas {
    /// Lower bound of the packets to keep queued.
    pub alpha: f64,
    /// Upper bound of the packets to keep queued.
    pub beta: f64,
    /// Slow start ends when more than this many packets are queued.
    pub gamma: f64,
    /// Initial window in bytes; `None`: the datapath's.
    pub init_cwnd: Option<u64>,
}

impl Default for Vegas {
    fn default() -> Self {
        Vegas {
            alpha: 2.0,
            beta: 4.0,
            gamma: 1.0,
            init_cwnd: None,
        }
    }
}

/// Vegas's tunables.
pub const TUNABLES: &[Tunable] = &[
    Tunable {
        name: "alpha",
        default: 2.0,
        description: "grow while fewer than alpha packets are queued",
    },
    Tunable {
        name: "beta",
        default: 4.0,
        description: "shrink while more than beta packets are queued",
    },
    Tunable {
        name: "gamma",
        default: 1.0,
        description: "leave slow start when more than gamma packets are queued",
    },
    Tunable {
        name: "init_cwnd",
        default: 0.0,
        description: "initial window in bytes (0: the datapath's)",
    },
];

impl Vegas {
    /// Build from tunables (α ≤ β required).
    pub fn from_params(p: &Params) -> Result<Vegas, ParamError> {
        let r = ParamReader::new(NAME, TUNABLES, p)?;
        let alpha = r.range("alpha", 0.0, 1e4)?;
        let beta = r.range("beta", alpha, 1e4)?;
        Ok(Vegas {
            alpha,
            beta,
            gamma: r.range("gamma", 0.0, 1e4)?,
            init_cwnd: r.optional_integer("init_cwnd", 1, u64::from(u32::MAX))?,
        })
    }
}

impl CongAlg for Vegas {
    type Flow = VegasFlow;

    fn name(&self) -> &str {
        NAME
    }

    fn datapath_programs(&self) -> Programs {
        one_program(PROGRAM, PROGRAM_SRC)
    }

    fn new_flow(&self, mut datapath: Datapath, info: DatapathInfo) -> VegasFlow {
        let mss = mss_of(&info);
        let init = init_cwnd_of(&info, self.init_cwnd);
        let state = VegasState::new(*self, mss, init);
        install(
            &mut datapath,
            &info,
            NAME,
            PROGRAM,
            &[("Cwnd", init), ("mss", mss)],
        );
        VegasFlow { datapath, state }
    }
}

/// One report of [`PROGRAM_SRC`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VegasReport {
    /// Bytes cumulatively acked.
    pub acked: u64,
    /// Bytes newly SACKed.
    pub sacked: u64,
    /// Packets found lost.
    pub loss: u64,
    /// A retransmission timeout happened.
    pub timeout: bool,
    /// Smallest RTT sample of the interval, µs (`u32::MAX`: none).
    pub min_rtt_us: u64,
    /// Bytes in flight.
    pub inflight: u64,
    /// The datapath's window, bytes.
    pub cwnd: u64,
    /// Report time (datapath clock).
    pub now: Duration,
}

impl VegasReport {
    /// Decode a report of [`PROGRAM_SRC`].
    pub fn from_report(r: &Report<'_>) -> Option<VegasReport> {
        Some(VegasReport {
            acked: r.get_field("acked").ok()?,
            sacked: r.get_field("sacked").ok()?,
            loss: r.get_field("loss").ok()?,
            timeout: r.get_field("timeout").ok()? != 0,
            min_rtt_us: r.get_field("minrtt").ok()?,
            inflight: r.get_field("inflight").ok()?,
            cwnd: r.get_field("cwnd").ok()?,
            now: report_time(r, r.get_field("now").ok()?),
        })
    }
}

/// Vegas's per-flow state, without I/O.
#[derive(Clone, Debug, PartialEq)]
pub struct VegasState {
    cfg: Vegas,
    /// Segment size, bytes.
    pub mss: f64,
    /// Window, packets.
    pub cwnd: f64,
    /// Slow-start threshold, packets.
    pub ssthresh: f64,
    /// Smallest RTT seen, µs.
    pub base_rtt_us: Option<u64>,
    /// Estimated packets queued at the last report.
    pub diff: f64,
    /// Bytes still to be delivered before the current loss episode ends.
    pub recovery_left: Option<f64>,
}

impl VegasState {
    /// A flow starting at `init_cwnd` bytes in slow start.
    pub fn new(cfg: Vegas, mss: u64, init_cwnd: u64) -> VegasState {
        let mss = mss.max(1) as f64;
        VegasState {
            cfg,
            mss,
            cwnd: (init_cwnd as f64 / mss).max(1.0),
            ssthresh: f64::INFINITY,
            base_rtt_us: None,
            diff: 0.0,
            recovery_left: None,
        }
    }

    fn bytes(&self) -> u64 {
        to_reg(self.cwnd * self.mss)
    }

    /// Apply one report; returns the window to send (bytes).
    pub fn on_report(&mut self, m: &VegasReport) -> Option<u64> {
        if let Some(left) = self.recovery_left {
            let left = left - (m.acked + m.sacked) as f64;
            self.recovery_left = (left > 0.0).then_some(left);
        }
        let reported = m.cwnd as f64 / self.mss;
        if m.timeout {
            self.ssthresh = (reported / 2.0).max(2.0);
            self.cwnd = 1.0;
            self.recovery_left = None;
            return Some(self.bytes());
        }
        if m.loss > 0 {
            if self.recovery_left.is_none() {
                self.cwnd = (reported / 2.0).max(2.0);
                self.ssthresh = self.cwnd;
                self.recovery_left =
                    Some(m.inflight as f64 + (m.loss as f64 + RECOVERY_SLACK_PACKETS) * self.mss);
            }
            return Some(self.bytes());
        }
        // Answer every report (an agent waited for in lock-step is never waited for in
        // vain): during a loss episode, or without an RTT sample, the window stays.
        if self.recovery_left.is_some() {
            return Some(self.bytes());
        }
        let rtt = m.min_rtt_us;
        if rtt == 0 || rtt >= u64::from(u32::MAX) {
            return Some(self.bytes());
        }
        let base = self.base_rtt_us.map_or(rtt, |b| b.min(rtt));
        self.base_rtt_us = Some(base);
        self.diff = self.cwnd * (1.0 - base as f64 / rtt as f64);
        if self.cwnd < self.ssthresh {
            if self.diff > self.cfg.gamma {
                let target = self.cwnd * base as f64 / rtt as f64;
                self.cwnd = self.cwnd.min(target + 1.0).max(2.0);
                self.ssthresh = self.cwnd;
            } else {
                let acked = (m.acked + m.sacked) as f64 / self.mss;
                self.cwnd = (self.cwnd + acked).min(2.0 * self.cwnd);
            }
        } else if self.diff < self.cfg.alpha {
            self.cwnd += 1.0;
        } else if self.diff > self.cfg.beta {
            self.cwnd = (self.cwnd - 1.0).max(2.0);
        }
        Some(self.bytes())
    }
}

/// A Vegas flow.
#[derive(Debug)]
pub struct VegasFlow {
    datapath: Datapath,
    state: VegasState,
}

impl VegasFlow {
    /// The control state.
    pub fn state(&self) -> &VegasState {
        &self.state
    }
}

impl Flow for VegasFlow {
    fn on_report(&mut self, sock_id: u32, report: Report<'_>) {
        let Some(m) = VegasReport::from_report(&report) else {
            tracing::debug!(sid = sock_id, "vegas: report without Vegas's fields");
            return;
        };
        if let Some(c) = self.state.on_report(&m)
            && let Err(e) = self.datapath.update_field("Cwnd", c)
        {
            tracing::debug!(sid = sock_id, error = %e, "vegas: cannot update cwnd");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;

    const MSS: u64 = 1000;

    #[test]
    fn per_rtt_steps_keep_alpha_to_beta_packets_queued() {
        let mut h = Harness::new(Vegas::default(), MSS as u32, 10 * MSS as u32).unwrap();
        // Base RTT 20 ms (diff 0 → slow start doubles: 10 → 20).
        h.report(
            Duration::from_millis(20),
            &[("acked", 10 * MSS), ("minrtt", 20_000), ("cwnd", 10 * MSS)],
        )
        .unwrap();
        assert_eq!(h.cwnd(), Some(20 * MSS));
        // 100 packets at RTT 25 ms: 20 queued > γ: leave slow start at base/rtt·cwnd + 1.
        h.report(
            Duration::from_millis(40),
            &[("acked", 20 * MSS), ("minrtt", 25_000), ("cwnd", 100 * MSS)],
        )
        .unwrap();
        // The agent's own window (20) is what it scales: 20·0.8 + 1 = 17.
        assert_eq!(h.cwnd(), Some(17 * MSS));
        let step = |h: &mut Harness, t: u64, rtt_us: u64| {
            let c = h.cwnd().unwrap();
            h.report(
                Duration::from_millis(t),
                &[("acked", c), ("minrtt", rtt_us), ("cwnd", c)],
            )
            .unwrap();
            h.cwnd().unwrap()
        };
        // 17 packets, RTT 21 ms: 0.8 queued < α → +1.
        assert_eq!(step(&mut h, 60, 21_000), 18 * MSS);
        // 18 packets, RTT 23 ms: 2.3 queued in [α, β] → hold.
        assert_eq!(step(&mut h, 80, 23_000), 18 * MSS);
        // 18 packets, RTT 30 ms: 6 queued > β → −1.
        assert_eq!(step(&mut h, 100, 30_000), 17 * MSS);
    }

    /// A fluid bottleneck: `rate` packets/s, base RTT `base` s; the queue holds what the
    /// window puts beyond the bandwidth-delay product.
    fn queued(cwnd: f64, rate: f64, base: f64) -> f64 {
        (cwnd - rate * base).max(0.0)
    }

    #[test]
    fn closed_loop_settles_between_alpha_and_beta_queued_packets() {
        let (rate, base) = (8000.0, 0.020); // 96 Mbit/s of 1500-byte packets, 20 ms
        let mut h = Harness::new(Vegas::default(), MSS as u32, 10 * MSS as u32).unwrap();
        let mut t = 0.0;
        let mut queue_trace = Vec::new();
        for _ in 0..400 {
            let cwnd = h.cwnd().unwrap() as f64 / MSS as f64;
            let q = queued(cwnd, rate, base);
            let rtt = base + q / rate;
            t += rtt;
            h.report(
                Duration::from_secs_f64(t),
                &[
                    ("acked", (cwnd * MSS as f64) as u64),
                    ("minrtt", (rtt * 1e6).round() as u64),
                    ("cwnd", (cwnd * MSS as f64) as u64),
                ],
            )
            .unwrap();
            queue_trace.push(q);
        }
        // After convergence: α..β packets queued (±1 packet of step), the link full.
        for q in &queue_trace[300..] {
            assert!((1.0..=5.0).contains(q), "queue {q} packets");
        }
        let cwnd = h.cwnd().unwrap() as f64 / MSS as f64;
        assert!(cwnd >= rate * base, "link not full: {cwnd}");
    }

    #[test]
    fn loss_halves_once_per_episode_and_timeout_drops_to_one_segment() {
        let mut s = VegasState::new(Vegas::default(), MSS, 10 * MSS);
        let r = VegasReport {
            loss: 1,
            cwnd: 40 * MSS,
            inflight: 30 * MSS,
            ..Default::default()
        };
        assert_eq!(s.on_report(&r), Some(20 * MSS));
        assert_eq!(s.on_report(&r), Some(20 * MSS)); // same episode
        let t = VegasReport {
            timeout: true,
            cwnd: 20 * MSS,
            ..Default::default()
        };
        assert_eq!(s.on_report(&t), Some(MSS));
        assert_eq!(s.ssthresh, 10.0);
    }

    #[test]
    fn params_are_checked() {
        assert_eq!(
            Vegas::from_params(&Params::new()).unwrap(),
            Vegas::default()
        );
        let v = Vegas::from_params(&Params::new().with("alpha", 1.0).with("beta", 3.0)).unwrap();
        assert_eq!((v.alpha, v.beta), (1.0, 3.0));
        assert!(Vegas::from_params(&Params::new().with("alpha", 5.0)).is_err()); // > beta
    }
}
