//! BBR v1 (Cardwell et al., 2016; draft-cardwell-iccrg-bbr-congestion-control-00),
//! driven by the pacing rate with the window as a cap.
//!
//! The datapath reports once per `interval` (the agent sets it to the minimum RTT, so one
//! report is one round): the largest delivery-rate sample of the interval
//! (`min(Flow.rate_incoming, Flow.rate_outgoing)`: delivered data over the longer of the
//! send and ACK intervals, as Linux's rate sampler), the smallest RTT sample, and what is
//! in flight. The agent keeps
//!
//! * `BtlBw`: the maximum of the per-round samples over the last 10 rounds;
//! * `RTprop`: the minimum RTT over the last 10 s;
//!
//! and runs the state machine, setting `Rate = pacing_gain · BtlBw` and
//! `Cwnd = cwnd_gain · BtlBw · RTprop` (at least 4 packets):
//!
//! * **Startup** (gains 2/ln 2 ≈ 2.89) until `BtlBw` grew less than 25 % in three rounds;
//! * **Drain** (pacing gain 1/2.89) until in-flight ≤ the BDP;
//! * **ProbeBW**: pacing gain cycling 1.25, 0.75, 1, 1, 1, 1, 1, 1, one `RTprop` each
//!   (cwnd gain 2);
//! * **ProbeRTT**: when `RTprop` was not refreshed for 10 s, the window drops to 4 packets
//!   for max(200 ms, one round) once in-flight got there, then back to ProbeBW (or Startup).
//!
//! Losses are not a signal (BBR v1); after a timeout the window restarts from the model.

use std::collections::VecDeque;
use std::time::Duration;

use ccp_agent::{CongAlg, Datapath, DatapathInfo, Flow, Programs, Report};

use crate::common::{init_cwnd_of, install, mss_of, one_program, report_time, to_reg};
use crate::params::{ParamError, ParamReader, Params, Tunable};

/// Registry name.
pub const NAME: &str = "bbr";

/// Name of BBR's datapath program.
pub const PROGRAM: &str = "bbr";

/// BBR's datapath program.
pub const PROGRAM_SRC: &str = "(def
    (Report
        (volatile acked 0)
        (volatile loss 0)
        (volatile timeout false)
        (volatile bw 0)
        (volatile minrtt +infinity)
        (volatile rtt 0)
        (volatile inflight 0)
        (volatile now 0)
    )
    (interval 0)
)
(when true
    (:= Report.acked (+ Report.acked (+ Ack.bytes_acked Ack.bytes_misordered)))
    (:= Report.loss (+ Report.loss Ack.lost_pkts_sample))
    (:= Report.timeout Flow.was_timeout)
    (:= Report.bw (max Report.bw (min Flow.rate_incoming Flow.rate_outgoing)))
    (:= Report.minrtt (min Report.minrtt Flow.rtt_sample_us))
    (:= Report.rtt Flow.rtt_sample_us)
    (:= Report.inflight Flow.bytes_in_flight)
    (:= Report.now Ack.now)
    (fallthrough)
)
(when (|| Report.timeout false)
    (report)
    (:= Micros 0)
)
# one report per round (the agent sets the interval to RTprop; 0 until then)
(when (> Micros interval)
    (report)
    (:= Micros 0)
)";

/// `2/ln 2`: Startup's gains.
pub const HIGH_GAIN: f64 = 2.885_390_081_777_927;

/// ProbeBW's pacing-gain cycle.
pub const PROBE_BW_GAINS: [f64; 8] = [1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];

/// Smallest window, packets.
pub const MIN_CWND_PACKETS: f64 = 4.0;

/// BBR's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bbr {
    /// Window gain in ProbeBW.
    pub cwnd_gain: f64,
    /// Rounds of the `BtlBw` max filter.
    pub bw_window_rounds: usize,
    /// Lifetime of an `RTprop` sample before ProbeRTT.
    pub min_rtt_window: Duration,
    /// How long ProbeRTT holds the small window.
    pub probe_rtt_time: Duration,
    /// Initial window in bytes; `None`: the datapath's.
    pub init_cwnd: Option<u64>,
}

impl Default for Bbr {
    fn default() -> Self {
        Bbr {
            cwnd_gain: 2.0,
            bw_window_rounds: 10,
            min_rtt_window: Duration::from_secs(10),
            probe_rtt_time: Duration::from_millis(200),
            init_cwnd: None,
        }
    }
}

/// BBR's tunables.
pub const TUNABLES: &[Tunable] = &[
    Tunable {
        name: "cwnd_gain",
        default: 2.0,
        description: "window = cwnd_gain · BDP in ProbeBW",
    },
    Tunable {
        name: "bw_window_rounds",
        default: 10.0,
        description: "rounds of the bottleneck-bandwidth max filter",
    },
    Tunable {
        name: "min_rtt_window_s",
        default: 10.0,
        description: "seconds before an unrefreshed RTprop triggers ProbeRTT",
    },
    Tunable {
        name: "probe_rtt_ms",
        default: 200.0,
        description: "how long ProbeRTT holds the 4-packet window, ms",
    },
    Tunable {
        name: "init_cwnd",
        default: 0.0,
        description: "initial window in bytes (0: the datapath's)",
    },
];

impl Bbr {
    /// Build from tunables.
    pub fn from_params(p: &Params) -> Result<Bbr, ParamError> {
        let r = ParamReader::new(NAME, TUNABLES, p)?;
        Ok(Bbr {
            cwnd_gain: r.above("cwnd_gain", 0.0, 100.0)?,
            bw_window_rounds: r.integer("bw_window_rounds", 1, 1000)? as usize,
            min_rtt_window: Duration::from_secs_f64(r.above("min_rtt_window_s", 0.0, 3600.0)?),
            probe_rtt_time: Duration::from_secs_f64(r.range("probe_rtt_ms", 0.0, 60_000.0)? / 1e3),
            init_cwnd: r.optional_integer("init_cwnd", 1, u64::from(u32::MAX))?,
        })
    }
}

impl CongAlg for Bbr {
    type Flow = BbrFlow;

    fn name(&self) -> &str {
        NAME
    }

    fn datapath_programs(&self) -> Programs {
        one_program(PROGRAM, PROGRAM_SRC)
    }

    fn new_flow(&self, mut datapath: Datapath, info: DatapathInfo) -> BbrFlow {
        let mss = mss_of(&info);
        let init = init_cwnd_of(&info, self.init_cwnd);
        let state = BbrState::new(*self, mss, init);
        install(&mut datapath, &info, NAME, PROGRAM, &[("Cwnd", init)]);
        BbrFlow { datapath, state }
    }
}

/// One report of [`PROGRAM_SRC`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BbrReport {
    /// Bytes acked or SACKed in the round.
    pub delivered: u64,
    /// A retransmission timeout happened.
    pub timeout: bool,
    /// Largest delivery-rate sample of the round, bytes/s (0: none).
    pub bw: u64,
    /// Smallest RTT sample of the round, µs (`u32::MAX`: none).
    pub min_rtt_us: u64,
    /// Bytes in flight.
    pub inflight: u64,
    /// Report time (datapath clock).
    pub now: Duration,
}

impl BbrReport {
    /// Decode a report of [`PROGRAM_SRC`].
    pub fn from_report(r: &Report<'_>) -> Option<BbrReport> {
        Some(BbrReport {
            delivered: r.get_field("acked").ok()?,
            timeout: r.get_field("timeout").ok()? != 0,
            bw: r.get_field("bw").ok()?,
            min_rtt_us: r.get_field("minrtt").ok()?,
            inflight: r.get_field("inflight").ok()?,
            now: report_time(r, r.get_field("now").ok()?),
        })
    }
}

/// BBR's state-machine modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Exponential search for the bottleneck bandwidth.
    Startup,
    /// Drain the queue Startup built.
    Drain,
    /// Steady state, cycling the pacing gain.
    ProbeBw,
    /// Measure the propagation RTT with a small window.
    ProbeRtt,
}

/// What BBR wants the datapath to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BbrUpdate {
    /// Window, bytes.
    pub cwnd: u64,
    /// Pacing rate, bytes/s (0: none yet).
    pub rate: u64,
    /// Report interval for the datapath, µs (0: unchanged).
    pub interval_us: u64,
}

/// BBR's per-flow state, without I/O.
#[derive(Clone, Debug, PartialEq)]
pub struct BbrState {
    cfg: Bbr,
    /// Segment size, bytes.
    pub mss: f64,
    /// Current mode.
    pub mode: Mode,
    /// Current pacing gain.
    pub pacing_gain: f64,
    /// Current window gain.
    pub cwnd_gain: f64,
    /// ProbeBW cycle index.
    pub cycle_index: usize,
    cycle_start: Duration,
    /// Per-round bandwidth samples (bytes/s), newest last.
    bw_samples: VecDeque<f64>,
    /// `RTprop`, and when it was last set.
    pub rt_prop: Option<Duration>,
    rt_prop_stamp: Duration,
    full_bw: f64,
    full_bw_rounds: u32,
    /// The pipe was filled once (Startup is over).
    pub filled_pipe: bool,
    probe_rtt_done: Option<Duration>,
    init_cwnd: f64,
    last_interval_us: u64,
}

impl BbrState {
    /// A flow in Startup with `init_cwnd` bytes.
    pub fn new(cfg: Bbr, mss: u64, init_cwnd: u64) -> BbrState {
        let mss = mss.max(1) as f64;
        BbrState {
            cfg,
            mss,
            mode: Mode::Startup,
            pacing_gain: HIGH_GAIN,
            cwnd_gain: HIGH_GAIN,
            cycle_index: 0,
            cycle_start: Duration::ZERO,
            bw_samples: VecDeque::new(),
            rt_prop: None,
            rt_prop_stamp: Duration::ZERO,
            full_bw: 0.0,
            full_bw_rounds: 0,
            filled_pipe: false,
            probe_rtt_done: None,
            init_cwnd: init_cwnd as f64,
            last_interval_us: 0,
        }
    }

    /// `BtlBw`, bytes/s.
    pub fn btl_bw(&self) -> f64 {
        self.bw_samples.iter().copied().fold(0.0, f64::max)
    }

    /// `BtlBw · RTprop`, bytes.
    pub fn bdp(&self) -> Option<f64> {
        let bw = self.btl_bw();
        match self.rt_prop {
            Some(rt) if bw > 0.0 => Some(bw * rt.as_secs_f64()),
            _ => None,
        }
    }

    fn enter_probe_bw(&mut self, now: Duration) {
        self.mode = Mode::ProbeBw;
        self.pacing_gain = PROBE_BW_GAINS[0];
        self.cwnd_gain = self.cfg.cwnd_gain;
        self.cycle_index = 0;
        self.cycle_start = now;
    }

    /// Apply one report (one round).
    pub fn on_report(&mut self, m: &BbrReport) -> BbrUpdate {
        let now = m.now;
        // RTprop.
        let us = m.min_rtt_us;
        let expired = now.saturating_sub(self.rt_prop_stamp) > self.cfg.min_rtt_window;
        if us > 0 && us < u64::from(u32::MAX) {
            let sample = Duration::from_micros(us);
            if self.rt_prop.is_none_or(|r| sample <= r) || expired {
                self.rt_prop = Some(sample);
                self.rt_prop_stamp = now;
            }
        }
        // BtlBw: one sample per round.
        if m.bw > 0 {
            self.bw_samples.push_back(m.bw as f64);
            while self.bw_samples.len() > self.cfg.bw_window_rounds {
                self.bw_samples.pop_front();
            }
        }
        let bw = self.btl_bw();
        // Startup → Drain once the bandwidth stopped growing.
        if !self.filled_pipe && bw > 0.0 {
            if bw >= self.full_bw * 1.25 {
                self.full_bw = bw;
                self.full_bw_rounds = 0;
            } else {
                self.full_bw_rounds += 1;
                if self.full_bw_rounds >= 3 {
                    self.filled_pipe = true;
                }
            }
        }
        match self.mode {
            Mode::Startup if self.filled_pipe => {
                self.mode = Mode::Drain;
                self.pacing_gain = 1.0 / HIGH_GAIN;
                self.cwnd_gain = HIGH_GAIN;
            }
            Mode::ProbeBw => {
                let rt = self.rt_prop.unwrap_or_default();
                if now.saturating_sub(self.cycle_start) >= rt {
                    self.cycle_index = (self.cycle_index + 1) % PROBE_BW_GAINS.len();
                    self.cycle_start = now;
                    self.pacing_gain = PROBE_BW_GAINS[self.cycle_index];
                }
            }
            _ => {}
        }
        if self.mode == Mode::Drain && self.bdp().is_some_and(|b| m.inflight as f64 <= b) {
            self.enter_probe_bw(now);
        }
        // ProbeRTT.
        if self.mode != Mode::ProbeRtt && expired && self.rt_prop.is_some() {
            self.mode = Mode::ProbeRtt;
            self.pacing_gain = 1.0;
            self.probe_rtt_done = None;
        }
        if self.mode == Mode::ProbeRtt {
            if self.probe_rtt_done.is_none() && m.inflight as f64 <= MIN_CWND_PACKETS * self.mss {
                self.probe_rtt_done = Some(now + self.cfg.probe_rtt_time);
            }
            if self.probe_rtt_done.is_some_and(|d| now >= d) {
                self.rt_prop_stamp = now;
                if self.filled_pipe {
                    self.enter_probe_bw(now);
                } else {
                    self.mode = Mode::Startup;
                    self.pacing_gain = HIGH_GAIN;
                    self.cwnd_gain = HIGH_GAIN;
                }
            }
        }
        self.outputs(m)
    }

    fn outputs(&mut self, m: &BbrReport) -> BbrUpdate {
        let min_cwnd = MIN_CWND_PACKETS * self.mss;
        let bw = self.btl_bw();
        let (cwnd, rate) = match (self.bdp(), self.rt_prop) {
            (Some(bdp), _) => ((self.cwnd_gain * bdp).max(min_cwnd), self.pacing_gain * bw),
            (None, Some(rt)) => {
                // No bandwidth sample yet: pace the initial window over the RTT.
                let w = self.init_cwnd.max(m.delivered as f64);
                (w.max(min_cwnd), self.pacing_gain * w / rt.as_secs_f64())
            }
            (None, None) => (self.init_cwnd.max(min_cwnd), 0.0),
        };
        let cwnd = if self.mode == Mode::ProbeRtt {
            min_cwnd
        } else {
            cwnd
        };
        let interval_us = self.rt_prop.map_or(0, |r| r.as_micros() as u64);
        let interval_us = if interval_us != self.last_interval_us {
            self.last_interval_us = interval_us;
            interval_us
        } else {
            0
        };
        BbrUpdate {
            cwnd: to_reg(cwnd),
            rate: to_reg(rate),
            interval_us,
        }
    }
}

/// A BBR flow.
#[derive(Debug)]
pub struct BbrFlow {
    datapath: Datapath,
    state: BbrState,
}

impl BbrFlow {
    /// The control state.
    pub fn state(&self) -> &BbrState {
        &self.state
    }
}

impl Flow for BbrFlow {
    fn on_report(&mut self, sock_id: u32, report: Report<'_>) {
        let Some(m) = BbrReport::from_report(&report) else {
            tracing::debug!(sid = sock_id, "bbr: report without BBR's fields");
            return;
        };
        let u = self.state.on_report(&m);
        let mut fields: [(&str, u64); 3] = [("Cwnd", u.cwnd), ("", 0), ("", 0)];
        let mut n = 1;
        if u.rate > 0 {
            fields[n] = ("Rate", u.rate);
            n += 1;
        }
        if u.interval_us > 0 {
            fields[n] = ("interval", u.interval_us);
            n += 1;
        }
        if let Err(e) = self.datapath.update_fields(&fields[..n]) {
            tracing::debug!(sid = sock_id, error = %e, "bbr: cannot update");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;

    const MSS: u64 = 1000;
    const RTT_US: u64 = 20_000;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    fn gain(h: &Harness, bw: f64) -> f64 {
        h.rate().unwrap() as f64 / bw
    }

    #[test]
    fn startup_drain_then_probe_bw_cycles_its_gains() {
        let mut h = Harness::new(Bbr::default(), MSS as u32, 10 * MSS as u32).unwrap();
        let mut t = 0;
        let mut round = |h: &mut Harness, bw: u64, inflight: u64| {
            t += 20;
            h.report(
                ms(t),
                &[
                    ("bw", bw),
                    ("minrtt", RTT_US),
                    ("inflight", inflight),
                    ("acked", 10 * MSS),
                ],
            )
            .unwrap();
        };
        // Startup: bandwidth doubling each round, pacing at 2.89×.
        for i in 0..5 {
            let bw = 1_000_000u64 << i;
            round(&mut h, bw, 0);
            assert!((gain(&h, bw as f64) - HIGH_GAIN).abs() < 1e-3, "round {i}");
            // The report interval follows RTprop.
            assert_eq!(h.control("interval"), Some(RTT_US));
        }
        // Plateau at 16 MB/s: three rounds without 25 % growth → Drain (gain 1/2.89).
        let bw = 16_000_000u64;
        round(&mut h, bw, 900_000);
        round(&mut h, bw, 900_000);
        round(&mut h, bw, 900_000);
        assert!((gain(&h, bw as f64) - 1.0 / HIGH_GAIN).abs() < 1e-3);
        // Window in Drain: 2.89 · BDP (16 MB/s · 20 ms = 320 kB).
        let bdp = 320_000.0;
        assert!((h.cwnd().unwrap() as f64 / bdp - HIGH_GAIN).abs() < 1e-3);
        // In-flight down to the BDP → ProbeBW: 1.25, 0.75, then six rounds at 1, repeat.
        round(&mut h, bw, 300_000);
        let mut gains = vec![gain(&h, bw as f64)];
        for _ in 0..9 {
            round(&mut h, bw, 300_000);
            gains.push(gain(&h, bw as f64));
        }
        let expected = [1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.25, 0.75];
        for (g, e) in gains.iter().zip(expected) {
            assert!((g - e).abs() < 1e-3, "{gains:?}");
        }
        // Window = 2 · BDP in ProbeBW.
        assert!((h.cwnd().unwrap() as f64 / bdp - 2.0).abs() < 1e-3);
    }

    #[test]
    fn bandwidth_is_a_windowed_max_and_rtprop_a_windowed_min() {
        let mut s = BbrState::new(Bbr::default(), MSS, 10 * MSS);
        let r = |t: u64, bw: u64, rtt: u64| BbrReport {
            bw,
            min_rtt_us: rtt,
            now: ms(t),
            ..Default::default()
        };
        s.on_report(&r(10, 5_000_000, 30_000));
        s.on_report(&r(20, 9_000_000, 20_000));
        for i in 0..9 {
            s.on_report(&r(30 + 10 * i, 4_000_000, 25_000));
        }
        // 9 + 1 rounds later the 9 MB/s sample is still in the 10-round window…
        assert_eq!(s.btl_bw(), 9_000_000.0);
        s.on_report(&r(200, 4_000_000, 25_000));
        // …one more and it is gone.
        assert_eq!(s.btl_bw(), 4_000_000.0);
        assert_eq!(s.rt_prop, Some(Duration::from_micros(20_000)));
    }

    #[test]
    fn probe_rtt_after_ten_seconds_without_a_new_minimum() {
        let mut s = BbrState::new(Bbr::default(), MSS, 10 * MSS);
        let r = |t: u64, inflight: u64, rtt: u64| BbrReport {
            bw: 10_000_000,
            min_rtt_us: rtt,
            inflight,
            now: ms(t),
            ..Default::default()
        };
        s.on_report(&r(0, 0, 20_000));
        let mut t = 0;
        // Queueing keeps every later RTT above 20 ms.
        while t < 10_000 {
            t += 20;
            s.on_report(&r(t, 400_000, 25_000));
        }
        assert_ne!(s.mode, Mode::ProbeRtt);
        t += 20;
        let u = s.on_report(&r(t, 400_000, 25_000));
        assert_eq!(s.mode, Mode::ProbeRtt);
        assert_eq!(u.cwnd, 4 * MSS);
        // In-flight reaches 4 packets: hold for 200 ms, then back to ProbeBW.
        t += 20;
        s.on_report(&r(t, 4 * MSS, 25_000));
        let start = t;
        while t < start + 180 {
            t += 20;
            assert_eq!(s.on_report(&r(t, 4 * MSS, 20_500)).cwnd, 4 * MSS);
        }
        t += 40;
        let u = s.on_report(&r(t, 4 * MSS, 20_500));
        assert_eq!(s.mode, Mode::ProbeBw);
        assert!(u.cwnd > 4 * MSS);
        // The RTprop sample taken in ProbeRTT replaced the expired one.
        assert_eq!(s.rt_prop, Some(Duration::from_micros(20_500)));
    }

    #[test]
    fn params_are_checked() {
        let b = Bbr::from_params(&Params::new().with("cwnd_gain", 3.0)).unwrap();
        assert_eq!(b.cwnd_gain, 3.0);
        assert!(Bbr::from_params(&Params::new().with("bw_window_rounds", 0.0)).is_err());
    }
}
