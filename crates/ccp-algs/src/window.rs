//! A shared skeleton for window-based algorithms (CUBIC, AIMD), in the style of
//! generic-cong-avoid: one datapath program, the per-RTT control law in the agent.
//!
//! Division of labour, chosen so that an agent-steered flow behaves like the same
//! algorithm running per ACK inside the datapath:
//!
//! * **datapath program** ([`PROGRAM_SRC`]): accumulates acked/SACKed bytes and losses,
//!   keeps the latest RTT sample, in-flight bytes and its clock, and reports **once per
//!   RTT**. Per ACK it also does what a TCP stack does before it sends:
//!   * **slow start** (`Cwnd += acked` while `Cwnd < ssthresh`, not on an ACK that found a
//!     loss);
//!   * **loss episodes** (TCP's fast recovery): the first loss found outside an episode
//!     starts one and is reported at once; the window is held at the bytes in flight and
//!     slow start stops (`ssthresh := 0`) until the agent answers, so the datapath does
//!     not keep sending at the old window during the IPC round trip. The episode lasts
//!     until everything outstanding at its start has been delivered: the bytes in flight
//!     plus the segments found lost (retransmitted later), plus three segments of slack (a
//!     loss is found only once three later segments are SACKed), counted down by every
//!     acked or SACKed byte. Further losses inside the episode are only counted;
//!   * **timeouts**: the window drops to one segment at once (the loss window) and the
//!     timeout is reported at once;
//!   * **congestion avoidance growth, spread over the ACKs**: the agent sends a target
//!     window for the next RTT (`ca_target`) and the growth per acked byte (`ca_gain`,
//!     in 1/65536, with a remainder carried from ACK to ACK); the datapath moves `Cwnd`
//!     toward the target on every ACK outside loss episodes. Growing the window in one
//!     step per report would send the whole increase as one burst, and bursts decide
//!     which flow loses packets at a full drop-tail queue (two agent-steered CUBIC flows
//!     then share the link unfairly); per-ACK growth is what a TCP stack does;
//! * **agent** ([`WindowFlow`]): congestion avoidance per report through a
//!   [`WindowLaw`] — the window it wants one RTT from now, given the packets acked in the
//!   interval, on the report's clock — not during a loss episode; the reduction when an
//!   episode starts; `ssthresh` after a timeout. It answers every report.
//!
//! The report carries the datapath's own clock (`Ack.now`, µs), so the control law runs on
//! datapath time — under a simulator, virtual time — whatever the agent's clock says.

use std::time::Duration;

use ccp_agent::{Datapath, DatapathInfo, Flow, Report};

use crate::common::{install, mss_of, report_time};

/// Name of the shared program.
pub const PROGRAM: &str = "window";

/// The shared datapath program (portus-compatible subset: comments only before `when`).
pub const PROGRAM_SRC: &str = "(def
    (Report
        (volatile acked 0)
        (volatile sacked 0)
        (volatile loss 0)
        (volatile timeout false)
        (volatile episode false)
        (volatile recovering false)
        (volatile rtt 0)
        (volatile inflight 0)
        (volatile now 0)
        (volatile cwnd 0)
    )
    (ssthresh +infinity)
    (mss 1460)
    (rec_left 0)
    (ca_target 0)
    (ca_gain 0)
    (ca_acc 0)
)
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.sacked (+ Report.sacked Ack.bytes_misordered))
    (:= Report.loss (+ Report.loss Ack.lost_pkts_sample))
    (:= Report.timeout Flow.was_timeout)
    (:= Report.rtt Flow.rtt_sample_us)
    (:= Report.inflight Flow.bytes_in_flight)
    (:= Report.now Ack.now)
    (:= rec_left (- (max rec_left (+ Ack.bytes_acked Ack.bytes_misordered)) (+ Ack.bytes_acked Ack.bytes_misordered)))
    (fallthrough)
)
# slow start per ACK, never on an ACK that found a loss
(when (&& (< Cwnd ssthresh) (== Ack.lost_pkts_sample 0))
    (:= Cwnd (+ Cwnd (+ Ack.bytes_acked Ack.bytes_misordered)))
    (fallthrough)
)
# congestion avoidance: spread the agent's growth over the ACKs (ca_gain/65536 per byte)
(when (&& (&& (< ssthresh (+ Cwnd 1)) (< Cwnd ca_target)) (&& (== rec_left 0) (== Ack.lost_pkts_sample 0)))
    (:= ca_acc (+ ca_acc (* (+ Ack.bytes_acked Ack.bytes_misordered) ca_gain)))
    (:= Cwnd (min ca_target (+ Cwnd (/ ca_acc 65536))))
    (:= ca_acc (- ca_acc (* (/ ca_acc 65536) 65536)))
    (fallthrough)
)
(when true
    (:= Report.cwnd Cwnd)
    (fallthrough)
)
# the loss window after a timeout: one segment at once; a timeout ends a loss episode
(when (|| Report.timeout false)
    (:= Cwnd mss)
    (:= rec_left 0)
    (:= ca_gain 0)
    (report)
    (:= Micros 0)
)
# a new loss episode: hold the window at what is in flight until the agent answers
(when (&& (> Ack.lost_pkts_sample 0) (== rec_left 0))
    (:= Report.episode true)
    (:= rec_left (+ Flow.bytes_in_flight (* (+ Ack.lost_pkts_sample 3) mss)))
    (:= Cwnd (min Cwnd Flow.bytes_in_flight))
    (:= ssthresh 0)
    (:= ca_gain 0)
    (report)
    (:= Micros 0)
)
(when true
    (:= Report.recovering (> rec_left 0))
    (fallthrough)
)
(when (> Micros Report.rtt)
    (report)
    (:= Micros 0)
)";

/// A window control law: the part of an algorithm that differs between CUBIC, AIMD, …
/// Windows are in packets (fractional), times on the datapath's clock.
pub trait WindowLaw: Send + 'static {
    /// Congestion avoidance: `acked` packets were delivered since the last report (ending
    /// at `now`); the smoothed RTT is `rtt`. Return the new window (packets).
    fn on_ack(&mut self, cwnd: f64, acked: f64, now: Duration, rtt: Duration) -> f64;

    /// A loss episode starts with the window at `cwnd` packets. Return the new window and
    /// slow-start threshold (packets).
    fn on_loss(&mut self, cwnd: f64, now: Duration) -> (f64, f64);

    /// A retransmission timeout with the window at `cwnd` packets (the datapath already
    /// set it to one packet). Return the new slow-start threshold (packets).
    fn on_timeout(&mut self, cwnd: f64, now: Duration) -> f64;
}

/// One report of [`PROGRAM_SRC`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowReport {
    /// Bytes cumulatively acked (not previously SACKed).
    pub acked: u64,
    /// Bytes newly SACKed.
    pub sacked: u64,
    /// Packets detected lost.
    pub loss: u64,
    /// A retransmission timeout happened.
    pub timeout: bool,
    /// A loss episode started (the report was sent at once).
    pub episode: bool,
    /// A loss episode is in progress at the report.
    pub recovering: bool,
    /// Latest RTT sample, µs.
    pub rtt_us: u64,
    /// Bytes in flight.
    pub inflight: u64,
    /// The datapath's window when the report was made (before a timeout set it to one
    /// MSS), bytes.
    pub cwnd: u64,
    /// Report time on the datapath's clock (the agent's clock if the datapath sent 0).
    pub now: Duration,
}

impl WindowReport {
    /// Decode a report of [`PROGRAM_SRC`].
    pub fn from_report(r: &Report<'_>) -> Option<WindowReport> {
        Some(WindowReport {
            acked: r.get_field("acked").ok()?,
            sacked: r.get_field("sacked").ok()?,
            loss: r.get_field("loss").ok()?,
            timeout: r.get_field("timeout").ok()? != 0,
            episode: r.get_field("episode").ok()? != 0,
            recovering: r.get_field("recovering").ok()? != 0,
            rtt_us: r.get_field("rtt").ok()?,
            inflight: r.get_field("inflight").ok()?,
            cwnd: r.get_field("cwnd").ok()?,
            now: report_time(r, r.get_field("now").ok()?),
        })
    }
}

/// The agent-side state of a window-based flow, without I/O: feed it reports, it returns
/// the updates to send.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowState<L> {
    /// The control law.
    pub law: L,
    /// Segment size, bytes.
    pub mss: f64,
    /// Window, packets.
    pub cwnd: f64,
    /// Slow-start threshold, packets (infinite until the first loss).
    pub ssthresh: f64,
    /// Smoothed RTT (RFC 6298 gains), once a sample arrived.
    pub srtt: Option<Duration>,
    /// A loss episode was in progress at the last report (no growth).
    pub recovering: bool,
}

/// Updates a [`WindowState`] wants sent (bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowUpdate {
    /// New `Cwnd`, bytes.
    pub cwnd: Option<u64>,
    /// New `ssthresh`, bytes.
    pub ssthresh: Option<u64>,
    /// Congestion avoidance: the window to reach over the next RTT (bytes) and the growth
    /// per acked byte in 1/65536 (`ca_target`, `ca_gain`).
    pub growth: Option<(u64, u64)>,
}

/// Fixed-point scale of `ca_gain`.
pub const GAIN_SCALE: f64 = 65536.0;

/// Lower bound of the window and ssthresh after a reduction, packets.
pub const MIN_WINDOW: f64 = 2.0;

/// Segments of slack added to a loss episode's length (see the [module docs](self)).
pub const RECOVERY_SLACK_PACKETS: f64 = 3.0;

impl<L: WindowLaw> WindowState<L> {
    /// A flow starting at `init_cwnd` bytes in slow start.
    pub fn new(law: L, mss: u64, init_cwnd: u64) -> WindowState<L> {
        let mss = mss.max(1) as f64;
        WindowState {
            law,
            mss,
            cwnd: (init_cwnd as f64 / mss).max(1.0),
            ssthresh: f64::INFINITY,
            srtt: None,
            recovering: false,
        }
    }

    fn bytes(&self, packets: f64) -> u64 {
        (packets * self.mss).round().clamp(0.0, f64::from(u32::MAX)) as u64
    }

    /// `ssthresh` in bytes as the datapath compares it (`u32::MAX` = infinity).
    pub fn ssthresh_bytes(&self) -> u64 {
        if self.ssthresh.is_finite() {
            self.bytes(self.ssthresh)
        } else {
            u64::from(u32::MAX)
        }
    }

    /// Apply one report.
    pub fn on_report(&mut self, m: &WindowReport) -> WindowUpdate {
        let now = m.now;
        if m.rtt_us > 0 && m.rtt_us < u64::from(u32::MAX) {
            let sample = Duration::from_micros(m.rtt_us);
            self.srtt = Some(match self.srtt {
                None => sample,
                Some(s) => (s * 7 + sample) / 8,
            });
        }
        let reported = m.cwnd as f64 / self.mss;
        self.recovering = m.recovering;
        if m.timeout {
            self.ssthresh = self.law.on_timeout(reported, now).max(MIN_WINDOW);
            self.cwnd = 1.0;
            return WindowUpdate {
                ssthresh: Some(self.ssthresh_bytes()),
                ..WindowUpdate::default()
            };
        }
        if m.episode {
            let (cwnd, ssthresh) = self.law.on_loss(reported, now);
            self.cwnd = cwnd.max(MIN_WINDOW);
            self.ssthresh = ssthresh.max(MIN_WINDOW);
            return WindowUpdate {
                cwnd: Some(self.bytes(self.cwnd)),
                ssthresh: Some(self.ssthresh_bytes()),
                ..WindowUpdate::default()
            };
        }
        if self.recovering {
            // Like TCP's fast recovery: no growth until the episode is over.
            return WindowUpdate {
                cwnd: Some(self.bytes(self.cwnd)),
                ..WindowUpdate::default()
            };
        }
        if m.cwnd < self.ssthresh_bytes() {
            // The datapath slow-starts; follow its window (and answer with the threshold).
            self.cwnd = reported;
            return WindowUpdate {
                ssthresh: Some(self.ssthresh_bytes()),
                ..WindowUpdate::default()
            };
        }
        // Congestion avoidance from the datapath's window (it grew toward the last
        // target during the interval).
        self.cwnd = reported.max(1.0);
        let acked = (m.acked + m.sacked) as f64 / self.mss;
        let rtt = self
            .srtt
            .unwrap_or(Duration::from_micros(m.rtt_us.min(1 << 32)));
        let target = if acked > 0.0 {
            self.law.on_ack(self.cwnd, acked, now, rtt).max(1.0)
        } else {
            self.cwnd
        };
        if target < self.cwnd {
            self.cwnd = target;
            return WindowUpdate {
                cwnd: Some(self.bytes(target)),
                growth: Some((0, 0)),
                ..WindowUpdate::default()
            };
        }
        let gain = ((target - self.cwnd) / self.cwnd * GAIN_SCALE).round();
        WindowUpdate {
            growth: Some((self.bytes(target), gain.clamp(0.0, 1e9) as u64)),
            ..WindowUpdate::default()
        }
    }
}

/// A window-based flow: a [`WindowState`] and the datapath handle.
#[derive(Debug)]
pub struct WindowFlow<L> {
    datapath: Datapath,
    state: WindowState<L>,
    name: &'static str,
}

impl<L: WindowLaw> WindowFlow<L> {
    /// Install [`PROGRAM`] on the connection (initial window, `mss`) and return the flow.
    pub fn start(
        name: &'static str,
        mut datapath: Datapath,
        info: &DatapathInfo,
        law: L,
        init_cwnd: Option<u64>,
    ) -> WindowFlow<L> {
        let mss = mss_of(info);
        let init = crate::common::init_cwnd_of(info, init_cwnd);
        let state = WindowState::new(law, mss, init);
        let fields = [("Cwnd", init), ("mss", mss)];
        install(&mut datapath, info, name, PROGRAM, &fields);
        WindowFlow {
            datapath,
            state,
            name,
        }
    }

    /// The control state.
    pub fn state(&self) -> &WindowState<L> {
        &self.state
    }
}

impl<L: WindowLaw> Flow for WindowFlow<L> {
    fn on_report(&mut self, sock_id: u32, report: Report<'_>) {
        let Some(m) = WindowReport::from_report(&report) else {
            tracing::debug!(
                sid = sock_id,
                alg = self.name,
                "report without the window fields"
            );
            return;
        };
        let u = self.state.on_report(&m);
        let mut fields: [(&str, u64); 4] = [("", 0); 4];
        let mut n = 0;
        if let Some(c) = u.cwnd {
            fields[n] = ("Cwnd", c);
            n += 1;
        }
        if let Some(s) = u.ssthresh {
            fields[n] = ("ssthresh", s);
            n += 1;
        }
        if let Some((t, g)) = u.growth {
            fields[n] = ("ca_target", t);
            fields[n + 1] = ("ca_gain", g);
            n += 2;
        }
        if n > 0
            && let Err(e) = self.datapath.update_fields(&fields[..n])
        {
            tracing::debug!(sid = sock_id, alg = self.name, error = %e, "cannot update");
        }
    }
}
