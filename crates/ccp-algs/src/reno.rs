//! TCP Reno in the style of generic-cong-avoid: the datapath program accumulates acked
//! and SACKed bytes and losses and reports once per RTT (`Micros > rtt`), or at once on
//! loss or timeout; the agent runs the control law ([`RenoState`]) and sends `Cwnd`. On a
//! loss the program also holds the window at the bytes in flight until the agent answers,
//! so the datapath does not keep sending at the old window during the round trip.
//!
//! Control law per report:
//! * timeout: `ssthresh = max(cwnd/2, 2·MSS)`, `cwnd = 1 MSS` (RFC 5681's loss window; the
//!   program applies it at once, the agent confirms it);
//! * loss (at most one reduction per loss episode): `ssthresh = cwnd = max(cwnd/2, 2·MSS)`.
//!   An episode lasts, like TCP's fast recovery, until everything outstanding at the
//!   reduction has been delivered: the bytes in flight then plus the lost segments (and
//!   three segments of slack), counted down by the acked and SACKed bytes of later reports;
//! * otherwise, for the acked bytes: slow start below `ssthresh` (`cwnd += acked`, not
//!   beyond `ssthresh`; the rest of the bytes counts for congestion avoidance), then
//!   congestion avoidance: +1 MSS per cwnd's worth of acked bytes.

use std::time::Duration;

use ccp_agent::{CongAlg, Datapath, DatapathInfo, Flow, Programs, Report};

use crate::common::{init_cwnd_of, install, mss_of, one_program};

/// Registry name.
pub const NAME: &str = "reno";

/// Name of Reno's datapath program.
pub const PROGRAM: &str = "reno";

/// Reno's datapath program.
pub const PROGRAM_SRC: &str = "(def
    (Report
        (volatile acked 0)
        (volatile sacked 0)
        (volatile loss 0)
        (volatile timeout false)
        (volatile rtt 0)
        (volatile inflight 0)
    )
    (mss 1460)
)
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.sacked (+ Report.sacked Ack.bytes_misordered))
    (:= Report.loss (+ Report.loss Ack.lost_pkts_sample))
    (:= Report.timeout Flow.was_timeout)
    (:= Report.rtt Flow.rtt_sample_us)
    (:= Report.inflight Flow.bytes_in_flight)
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

/// Reno's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reno {
    /// Initial congestion window in bytes; `None`: the datapath's `init_cwnd` (or 10 MSS
    /// if it announces 0).
    pub init_cwnd: Option<u64>,
    /// Initial slow-start threshold in bytes (default: unbounded).
    pub ssthresh: u64,
}

impl Default for Reno {
    fn default() -> Self {
        Reno {
            init_cwnd: None,
            ssthresh: u64::MAX,
        }
    }
}

impl CongAlg for Reno {
    type Flow = RenoFlow;

    fn name(&self) -> &str {
        NAME
    }

    fn datapath_programs(&self) -> Programs {
        one_program(PROGRAM, PROGRAM_SRC)
    }

    fn new_flow(&self, mut datapath: Datapath, info: DatapathInfo) -> RenoFlow {
        let mss = mss_of(&info);
        let init_cwnd = init_cwnd_of(&info, self.init_cwnd);
        let state = RenoState::new(mss, init_cwnd, self.ssthresh);
        install(
            &mut datapath,
            &info,
            NAME,
            PROGRAM,
            &[("Cwnd", state.cwnd), ("mss", mss)],
        );
        RenoFlow { datapath, state }
    }
}

/// One measurement, as Reno's program reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measurement {
    /// Bytes acknowledged since the last report.
    pub acked: u64,
    /// Bytes newly SACKed since the last report.
    pub sacked: u64,
    /// Bytes in flight at the report.
    pub inflight: u64,
    /// Packets lost since the last report.
    pub loss: u64,
    /// A retransmission timeout happened.
    pub timeout: bool,
    /// Latest RTT sample, µs.
    pub rtt_us: u64,
    /// When the agent got the report.
    pub now: Duration,
}

impl Measurement {
    /// Read Reno's report variables.
    pub fn from_report(r: &Report<'_>) -> Option<Measurement> {
        Some(Measurement {
            acked: r.get_field("acked").ok()?,
            sacked: r.get_field("sacked").ok()?,
            inflight: r.get_field("inflight").ok()?,
            loss: r.get_field("loss").ok()?,
            timeout: r.get_field("timeout").ok()? != 0,
            rtt_us: r.get_field("rtt").ok()?,
            now: r.received_at(),
        })
    }
}

/// Reno's per-flow state and control law, without I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenoState {
    /// Congestion window, bytes.
    pub cwnd: u64,
    /// Slow-start threshold, bytes.
    pub ssthresh: u64,
    /// Segment size, bytes.
    pub mss: u64,
    /// Initial window, bytes.
    pub init_cwnd: u64,
    /// Acked bytes not yet turned into congestion-avoidance growth.
    pub ca_acked: u64,
    /// When the window was last cut for loss.
    pub last_cut: Option<Duration>,
    /// In a loss episode: bytes still to be delivered before it ends.
    pub recovery_left: Option<u64>,
}

/// Segments of slack added to a loss episode: a loss is detected only once three segments
/// sent after it are SACKed.
const RECOVERY_SLACK_SEGMENTS: u64 = 3;

impl RenoState {
    /// A flow starting at `init_cwnd` bytes.
    pub fn new(mss: u64, init_cwnd: u64, ssthresh: u64) -> RenoState {
        let mss = mss.max(1);
        RenoState {
            cwnd: init_cwnd.max(mss),
            ssthresh,
            mss,
            init_cwnd: init_cwnd.max(mss),
            ca_acked: 0,
            last_cut: None,
            recovery_left: None,
        }
    }

    fn floor(&self) -> u64 {
        2 * self.mss
    }

    /// Apply one report; returns the new window.
    pub fn on_measurement(&mut self, m: &Measurement) -> u64 {
        if let Some(left) = self.recovery_left {
            let left = left.saturating_sub(m.acked.saturating_add(m.sacked));
            self.recovery_left = (left > 0).then_some(left);
        }
        if m.timeout {
            self.ssthresh = (self.cwnd / 2).max(self.floor());
            self.cwnd = self.mss;
            self.ca_acked = 0;
            self.last_cut = Some(m.now);
            self.recovery_left = None;
            return self.cwnd;
        }
        if m.loss > 0 {
            if self.recovery_left.is_none() {
                self.cwnd = (self.cwnd / 2).max(self.floor());
                self.ssthresh = self.cwnd;
                self.ca_acked = 0;
                self.last_cut = Some(m.now);
                self.recovery_left = Some(
                    m.inflight.saturating_add(
                        m.loss
                            .saturating_add(RECOVERY_SLACK_SEGMENTS)
                            .saturating_mul(self.mss),
                    ),
                );
            }
            return self.cwnd;
        }
        if self.recovery_left.is_some() {
            // Like TCP's fast recovery: no growth until the episode is over.
            return self.cwnd;
        }
        let mut acked = m.acked;
        if self.cwnd < self.ssthresh {
            let room = self.ssthresh - self.cwnd;
            let grow = acked.min(room);
            self.cwnd = self.cwnd.saturating_add(grow);
            acked -= grow;
        }
        if acked > 0 {
            self.ca_acked = self.ca_acked.saturating_add(acked);
            while self.ca_acked >= self.cwnd {
                self.ca_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.mss);
            }
        }
        self.cwnd
    }
}

/// A Reno flow.
#[derive(Debug)]
pub struct RenoFlow {
    datapath: Datapath,
    state: RenoState,
}

impl RenoFlow {
    /// The control state.
    pub fn state(&self) -> &RenoState {
        &self.state
    }
}

impl Flow for RenoFlow {
    fn on_report(&mut self, sock_id: u32, report: Report<'_>) {
        let Some(m) = Measurement::from_report(&report) else {
            tracing::debug!(sid = sock_id, "reno: report without Reno's fields");
            return;
        };
        // Answer every report (as generic-cong-avoid does): the datapath always holds the
        // agent's latest window, and an agent that is waited for (a simulator in
        // lock-step) is never waited for in vain.
        let cwnd = self.state.on_measurement(&m);
        if let Err(e) = self.datapath.update_field("Cwnd", cwnd) {
            tracing::debug!(sid = sock_id, error = %e, "reno: cannot update cwnd");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u64 = 1000;

    fn m(acked: u64, loss: u64, timeout: bool, now_ms: u64) -> Measurement {
        Measurement {
            acked,
            sacked: 0,
            inflight: 0,
            loss,
            timeout,
            rtt_us: 10_000,
            now: Duration::from_millis(now_ms),
        }
    }

    #[test]
    fn slow_start_doubles_per_window_then_stops_at_ssthresh() {
        let mut s = RenoState::new(MSS, 10 * MSS, 40 * MSS);
        assert_eq!(s.on_measurement(&m(10 * MSS, 0, false, 10)), 20 * MSS);
        assert_eq!(s.on_measurement(&m(20 * MSS, 0, false, 20)), 40 * MSS);
        // At ssthresh: the next window of acks adds one MSS.
        assert_eq!(s.on_measurement(&m(40 * MSS, 0, false, 30)), 41 * MSS);
    }

    #[test]
    fn slow_start_overshoot_goes_to_congestion_avoidance() {
        let mut s = RenoState::new(MSS, 10 * MSS, 15 * MSS);
        // 5 MSS of slow start reach ssthresh; the other 15 MSS = one window at 15 MSS.
        assert_eq!(s.on_measurement(&m(20 * MSS, 0, false, 10)), 16 * MSS);
        assert_eq!(s.ca_acked, 0);
    }

    #[test]
    fn congestion_avoidance_adds_one_mss_per_window_with_carry() {
        let mut s = RenoState::new(MSS, 10 * MSS, 10 * MSS);
        assert_eq!(s.on_measurement(&m(6 * MSS, 0, false, 10)), 10 * MSS);
        assert_eq!(s.ca_acked, 6 * MSS);
        assert_eq!(s.on_measurement(&m(6 * MSS, 0, false, 20)), 11 * MSS);
        assert_eq!(s.ca_acked, 2 * MSS);
    }

    #[test]
    fn loss_halves_once_per_loss_episode() {
        let mut s = RenoState::new(MSS, 40 * MSS, u64::MAX);
        // 38 segments in flight when 1 is found lost: the episode lasts until
        // 38 + 1 + 3 segments have been delivered.
        let lost = Measurement {
            inflight: 38 * MSS,
            ..m(0, 1, false, 100)
        };
        assert_eq!(s.on_measurement(&lost), 20 * MSS);
        assert_eq!(s.ssthresh, 20 * MSS);
        // Later losses of the same episode: no second cut, even after more than an RTT.
        let same = Measurement {
            sacked: 10 * MSS,
            ..m(30 * MSS, 2, false, 125)
        };
        assert_eq!(s.on_measurement(&same), 20 * MSS);
        assert_eq!(s.recovery_left, Some(2 * MSS));
        // Once 42 segments were delivered the episode is over: the next loss cuts again.
        assert_eq!(s.on_measurement(&m(2 * MSS, 1, false, 130)), 10 * MSS);
        // Never below 2 MSS.
        for t in 0..10 {
            s.on_measurement(&m(10 * MSS, 1, false, 200 + 20 * t));
        }
        assert_eq!(s.cwnd, 2 * MSS);
    }

    #[test]
    fn timeout_resets_to_one_segment() {
        let mut s = RenoState::new(MSS, 10 * MSS, u64::MAX);
        s.on_measurement(&m(30 * MSS, 0, false, 10));
        assert_eq!(s.cwnd, 40 * MSS);
        assert_eq!(s.on_measurement(&m(0, 0, true, 20)), MSS);
        assert_eq!(s.ssthresh, 20 * MSS);
        // Slow start again up to the new ssthresh, then one MSS per window.
        assert_eq!(s.on_measurement(&m(MSS, 0, false, 30)), 2 * MSS);
        assert_eq!(s.on_measurement(&m(30 * MSS, 0, false, 40)), 20 * MSS);
        assert_eq!(s.ca_acked, 12 * MSS);
        assert_eq!(s.on_measurement(&m(8 * MSS, 0, false, 50)), 21 * MSS);
    }

    #[test]
    fn program_compiles_and_reports_six_fields() {
        let p = ccp_lang_compile();
        assert_eq!(p, 6);
    }

    fn ccp_lang_compile() -> usize {
        let agent: ccp_agent::Agent<()> = ccp_agent::AgentBuilder::new()
            .default_alg(Reno::default())
            .build()
            .expect("reno compiles");
        agent.programs().map(|p| p.num_reports()).sum()
    }
}
