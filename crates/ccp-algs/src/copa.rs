//! Copa (Arun & Balakrishnan, NSDI 2018), default mode: a delay-based target rate.
//!
//! The datapath reports every half RTT with the smallest RTT sample of the interval (the
//! "standing" RTT). The agent keeps `RTT_min` (smallest over the last 10 s) and computes
//! the queueing delay `d_q = RTT_standing − RTT_min` and the target rate
//! `λ_t = 1/(δ·d_q)` packets/s. With the current rate `λ = cwnd / RTT_standing`:
//!
//! * `λ ≤ λ_t`: `cwnd += v/(δ·cwnd)` per acked packet, else `cwnd −= v/(δ·cwnd)`;
//! * velocity `v`: 1, doubled every RTT once the window moved in the same direction for
//!   three RTTs, back to 1 when the direction changes;
//! * slow start: the window doubles per RTT until the first time `λ > λ_t`;
//! * pacing at `2·cwnd/RTT_standing` (`Rate`), the window as a cap;
//! * losses are not a signal in the default mode; a timeout restarts from a small window.

use std::collections::VecDeque;
use std::time::Duration;

use ccp_agent::{CongAlg, Datapath, DatapathInfo, Flow, Programs, Report};

use crate::common::{init_cwnd_of, install, mss_of, one_program, report_time, to_reg};
use crate::params::{ParamError, ParamReader, Params, Tunable};

/// Registry name.
pub const NAME: &str = "copa";

/// Name of Copa's datapath program.
pub const PROGRAM: &str = "copa";

/// Copa's datapath program: a report every half RTT (of the latest sample) with the
/// interval's smallest RTT sample.
pub const PROGRAM_SRC: &str = "(def
    (Report
        (volatile acked 0)
        (volatile sacked 0)
        (volatile timeout false)
        (volatile minrtt +infinity)
        (volatile rtt 0)
        (volatile now 0)
    )
)
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.sacked (+ Report.sacked Ack.bytes_misordered))
    (:= Report.timeout Flow.was_timeout)
    (:= Report.minrtt (min Report.minrtt Flow.rtt_sample_us))
    (:= Report.rtt Flow.rtt_sample_us)
    (:= Report.now Ack.now)
    (fallthrough)
)
(when (|| Report.timeout false)
    (report)
    (:= Micros 0)
)
(when (> (* Micros 2) Report.rtt)
    (report)
    (:= Micros 0)
)";

/// Copa's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Copa {
    /// δ: the target rate is `1/(δ·d_q)` (default 0.5).
    pub delta: f64,
    /// Window over which `RTT_min` is the minimum.
    pub min_rtt_window: Duration,
    /// Pace at this multiple of `cwnd/RTT_standing` (0: no pacing).
    pub pacing_gain: f64,
    /// Initial window in bytes; `None`: the datapath's.
    pub init_cwnd: Option<u64>,
}

impl Default for Copa {
    fn default() -> Self {
        Copa {
            delta: 0.5,
            min_rtt_window: Duration::from_secs(10),
            pacing_gain: 2.0,
            init_cwnd: None,
        }
    }
}

/// Copa's tunables.
pub const TUNABLES: &[Tunable] = &[
    Tunable {
        name: "delta",
        default: 0.5,
        description: "δ: target rate 1/(δ·queueing delay); smaller is more aggressive",
    },
    Tunable {
        name: "min_rtt_window_s",
        default: 10.0,
        description: "RTT_min is the minimum over this many seconds",
    },
    Tunable {
        name: "pacing_gain",
        default: 2.0,
        description: "pace at this multiple of cwnd/RTT_standing (0: no pacing)",
    },
    Tunable {
        name: "init_cwnd",
        default: 0.0,
        description: "initial window in bytes (0: the datapath's)",
    },
];

impl Copa {
    /// Build from tunables.
    pub fn from_params(p: &Params) -> Result<Copa, ParamError> {
        let r = ParamReader::new(NAME, TUNABLES, p)?;
        Ok(Copa {
            delta: r.above("delta", 0.0, 100.0)?,
            min_rtt_window: Duration::from_secs_f64(r.above("min_rtt_window_s", 0.0, 3600.0)?),
            pacing_gain: r.range("pacing_gain", 0.0, 100.0)?,
            init_cwnd: r.optional_integer("init_cwnd", 1, u64::from(u32::MAX))?,
        })
    }

    /// Set δ.
    pub fn with_delta(mut self, delta: f64) -> Copa {
        self.delta = delta;
        self
    }
}

impl CongAlg for Copa {
    type Flow = CopaFlow;

    fn name(&self) -> &str {
        NAME
    }

    fn datapath_programs(&self) -> Programs {
        one_program(PROGRAM, PROGRAM_SRC)
    }

    fn new_flow(&self, mut datapath: Datapath, info: DatapathInfo) -> CopaFlow {
        let mss = mss_of(&info);
        let init = init_cwnd_of(&info, self.init_cwnd);
        let state = CopaState::new(*self, mss, init);
        install(&mut datapath, &info, NAME, PROGRAM, &[("Cwnd", init)]);
        CopaFlow { datapath, state }
    }
}

/// One report of [`PROGRAM_SRC`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopaReport {
    /// Bytes acked or SACKed in the interval.
    pub delivered: u64,
    /// A retransmission timeout happened.
    pub timeout: bool,
    /// Smallest RTT sample of the interval, µs (`u32::MAX`: none).
    pub min_rtt_us: u64,
    /// Report time (datapath clock).
    pub now: Duration,
}

impl CopaReport {
    /// Decode a report of [`PROGRAM_SRC`].
    pub fn from_report(r: &Report<'_>) -> Option<CopaReport> {
        Some(CopaReport {
            delivered: r
                .get_field("acked")
                .ok()?
                .saturating_add(r.get_field("sacked").ok()?),
            timeout: r.get_field("timeout").ok()? != 0,
            min_rtt_us: r.get_field("minrtt").ok()?,
            now: report_time(r, r.get_field("now").ok()?),
        })
    }
}

/// What Copa wants the datapath to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopaUpdate {
    /// Window, bytes.
    pub cwnd: u64,
    /// Pacing rate, bytes/s (0: unchanged).
    pub rate: u64,
}

/// Copa's per-flow state, without I/O.
#[derive(Clone, Debug, PartialEq)]
pub struct CopaState {
    cfg: Copa,
    /// Segment size, bytes.
    pub mss: f64,
    /// Window, packets.
    pub cwnd: f64,
    /// Velocity.
    pub velocity: f64,
    /// Still in slow start.
    pub slow_start: bool,
    /// RTT samples (time, µs) of the last `min_rtt_window`, increasing in both.
    min_rtts: VecDeque<(Duration, u64)>,
    /// Start of the current velocity RTT, the window then, and its direction (+1/−1/0).
    rtt_start: Option<(Duration, f64)>,
    direction: i8,
    same_direction_rtts: u32,
    /// Last target rate (packets/s) and current rate, for inspection.
    pub target_rate: f64,
    /// `cwnd / RTT_standing`, packets/s.
    pub current_rate: f64,
    /// Latest standing RTT.
    pub standing_rtt: Duration,
}

impl CopaState {
    /// A flow starting at `init_cwnd` bytes, in slow start.
    pub fn new(cfg: Copa, mss: u64, init_cwnd: u64) -> CopaState {
        let mss = mss.max(1) as f64;
        CopaState {
            cfg,
            mss,
            cwnd: (init_cwnd as f64 / mss).max(2.0),
            velocity: 1.0,
            slow_start: true,
            min_rtts: VecDeque::new(),
            rtt_start: None,
            direction: 0,
            same_direction_rtts: 0,
            target_rate: f64::INFINITY,
            current_rate: 0.0,
            standing_rtt: Duration::ZERO,
        }
    }

    /// `RTT_min` over the window.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtts
            .front()
            .map(|&(_, us)| Duration::from_micros(us))
    }

    fn push_rtt(&mut self, now: Duration, us: u64) {
        // Monotonic deque: the front is the minimum of the window.
        while self.min_rtts.back().is_some_and(|&(_, v)| v >= us) {
            self.min_rtts.pop_back();
        }
        self.min_rtts.push_back((now, us));
        let horizon = now.saturating_sub(self.cfg.min_rtt_window);
        while self.min_rtts.len() > 1 && self.min_rtts.front().is_some_and(|&(t, _)| t < horizon) {
            self.min_rtts.pop_front();
        }
    }

    fn update(&self) -> CopaUpdate {
        let srtt = self.standing_rtt.as_secs_f64();
        let rate = if self.cfg.pacing_gain > 0.0 && srtt > 0.0 {
            to_reg(self.cfg.pacing_gain * self.cwnd * self.mss / srtt)
        } else {
            0
        };
        CopaUpdate {
            cwnd: to_reg(self.cwnd * self.mss),
            rate,
        }
    }

    /// Apply one report.
    pub fn on_report(&mut self, m: &CopaReport) -> Option<CopaUpdate> {
        if m.timeout {
            self.cwnd = 2.0;
            self.velocity = 1.0;
            self.slow_start = true;
            self.rtt_start = None;
            return Some(self.update());
        }
        let us = m.min_rtt_us;
        if us == 0 || us >= u64::from(u32::MAX) {
            // No RTT sample: keep the window (and answer, as for every report).
            return Some(self.update());
        }
        self.push_rtt(m.now, us);
        let standing = Duration::from_micros(us);
        self.standing_rtt = standing;
        let rtt_min = self.min_rtt().unwrap_or(standing);
        let dq = standing.saturating_sub(rtt_min).as_secs_f64();
        self.target_rate = if dq > 0.0 {
            1.0 / (self.cfg.delta * dq)
        } else {
            f64::INFINITY
        };
        self.current_rate = self.cwnd / standing.as_secs_f64();
        let increase = self.current_rate <= self.target_rate;
        let acked = m.delivered as f64 / self.mss;
        if self.slow_start {
            if increase {
                self.cwnd += acked.min(self.cwnd);
            } else {
                self.slow_start = false;
            }
        }
        if !self.slow_start {
            let step = (acked * self.velocity / (self.cfg.delta * self.cwnd)).min(self.cwnd / 2.0);
            if increase {
                self.cwnd += step;
            } else {
                self.cwnd = (self.cwnd - step).max(2.0);
            }
        }
        self.update_velocity(m.now, standing);
        Some(self.update())
    }

    fn update_velocity(&mut self, now: Duration, rtt: Duration) {
        let Some((start, w0)) = self.rtt_start else {
            self.rtt_start = Some((now, self.cwnd));
            return;
        };
        if now.saturating_sub(start) < rtt {
            return;
        }
        let dir: i8 = if self.cwnd > w0 {
            1
        } else if self.cwnd < w0 {
            -1
        } else {
            0
        };
        if dir != 0 && dir == self.direction {
            self.same_direction_rtts += 1;
            if self.same_direction_rtts >= 3 {
                self.velocity = (self.velocity * 2.0).min(1e6);
            }
        } else {
            self.same_direction_rtts = 0;
            self.velocity = 1.0;
        }
        self.direction = dir;
        self.rtt_start = Some((now, self.cwnd));
    }
}

/// A Copa flow.
#[derive(Debug)]
pub struct CopaFlow {
    datapath: Datapath,
    state: CopaState,
}

impl CopaFlow {
    /// The control state.
    pub fn state(&self) -> &CopaState {
        &self.state
    }
}

impl Flow for CopaFlow {
    fn on_report(&mut self, sock_id: u32, report: Report<'_>) {
        let Some(m) = CopaReport::from_report(&report) else {
            tracing::debug!(sid = sock_id, "copa: report without Copa's fields");
            return;
        };
        let Some(u) = self.state.on_report(&m) else {
            return;
        };
        let fields = [("Cwnd", u.cwnd), ("Rate", u.rate)];
        let fields = if u.rate > 0 {
            &fields[..]
        } else {
            &fields[..1]
        };
        if let Err(e) = self.datapath.update_fields(fields) {
            tracing::debug!(sid = sock_id, error = %e, "copa: cannot update");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;

    const MSS: u64 = 1000;

    fn report(t_ms: f64, delivered_pkts: f64, rtt_ms: f64) -> CopaReport {
        CopaReport {
            delivered: (delivered_pkts * MSS as f64) as u64,
            timeout: false,
            min_rtt_us: (rtt_ms * 1000.0).round() as u64,
            now: Duration::from_secs_f64(t_ms / 1000.0),
        }
    }

    #[test]
    fn window_moves_toward_the_target_rate() {
        let mut s = CopaState::new(Copa::default(), MSS, 100 * MSS);
        s.slow_start = false;
        // RTT_min 20 ms.
        s.on_report(&report(0.0, 0.0, 20.0));
        // Standing RTT 20.5 ms: d_q = 0.5 ms, λ_t = 1/(0.5·0.0005) = 4000 packets/s;
        // λ = 100/0.0205 = 4878 > λ_t → decrease by acked·v/(δ·cwnd) = 50·1/50 = 1.
        s.on_report(&report(10.0, 50.0, 20.5));
        assert!((s.target_rate - 4000.0).abs() < 1e-6, "{}", s.target_rate);
        assert!((s.cwnd - 99.0).abs() < 1e-9, "{}", s.cwnd);
        // A smaller window at the same delay: λ = 60/0.0205 = 2927 < λ_t → increase.
        s.cwnd = 60.0;
        s.on_report(&report(20.0, 30.0, 20.5));
        assert!((s.cwnd - 61.0).abs() < 1e-9, "{}", s.cwnd);
        // No queueing at all: infinite target, increase.
        s.on_report(&report(30.0, 61.0, 20.0));
        assert!(s.cwnd > 61.0);
    }

    #[test]
    fn velocity_doubles_after_three_rtts_in_one_direction_and_resets() {
        let mut s = CopaState::new(Copa::default(), MSS, 10 * MSS);
        s.slow_start = false;
        let mut t = 0.0;
        let mut velocities = Vec::new();
        // Always below target (no queueing): increasing every RTT.
        for _ in 0..14 {
            t += 10.0; // reports every half RTT (RTT 20 ms)
            let c = s.cwnd;
            s.on_report(&report(t, c / 2.0, 20.0));
            velocities.push(s.velocity);
        }
        assert_eq!(velocities[0], 1.0);
        assert!(velocities.iter().any(|&v| v >= 4.0), "{velocities:?}");
        // The direction changes: velocity back to 1.
        let c = s.cwnd;
        for i in 0..4 {
            s.on_report(&report(t + 10.0 * (i + 1) as f64, c / 2.0, 40.0));
        }
        assert_eq!(s.velocity, 1.0);
    }

    #[test]
    fn closed_loop_rate_settles_near_one_over_delta_dq() {
        // A fluid bottleneck of 8000 packets/s, base RTT 20 ms, driven through the agent.
        let (rate, base) = (8000.0, 0.020);
        let mut h = Harness::new(Copa::default(), MSS as u32, 10 * MSS as u32).unwrap();
        let mut t = 0.0;
        let mut queue = Vec::new();
        let mut ratio = Vec::new();
        for i in 0..4000 {
            let cwnd = h.cwnd().unwrap() as f64 / MSS as f64;
            let q = (cwnd - rate * base).max(0.0);
            let rtt = base + q / rate;
            t += rtt / 2.0;
            let delivered = (cwnd / 2.0).min(rate * rtt / 2.0);
            h.report(
                Duration::from_secs_f64(t),
                &[
                    ("acked", (delivered * MSS as f64) as u64),
                    ("minrtt", (rtt * 1e6).round() as u64),
                ],
            )
            .unwrap();
            if i >= 2000 {
                queue.push(q);
                if q > 0.0 {
                    // the throughput against Copa's target 1/(δ·d_q)
                    ratio.push(rate / (1.0 / (0.5 * (q / rate))));
                }
            }
        }
        let mean_q = queue.iter().sum::<f64>() / queue.len() as f64;
        // 1/δ = 2 packets of standing queue at equilibrium; Copa oscillates around it.
        assert!(mean_q > 0.5 && mean_q < 8.0, "mean queue {mean_q}");
        let busy = queue.iter().filter(|&&q| q > 0.0).count() as f64 / queue.len() as f64;
        assert!(busy > 0.5, "link busy {busy}");
        let mean_ratio = ratio.iter().sum::<f64>() / ratio.len() as f64;
        assert!(mean_ratio > 0.3 && mean_ratio < 3.0, "{mean_ratio}");
        // It paces at twice the window per standing RTT.
        let c = h.cwnd().unwrap() as f64;
        let r = h.rate().unwrap() as f64;
        assert!(
            r > 1.5 * c / 0.03 && r < 2.1 * c / 0.02,
            "rate {r}, cwnd {c}"
        );
    }

    #[test]
    fn params_are_checked() {
        let c = Copa::from_params(&Params::new().with("delta", 0.1)).unwrap();
        assert_eq!(c.delta, 0.1);
        assert!(Copa::from_params(&Params::new().with("delta", 0.0)).is_err());
    }
}
