//! A shared skeleton for window-based algorithms (CUBIC, AIMD), in the style of
//! generic-cong-avoid: one datapath program, the per-RTT control law in the agent.
//!
//! Division of labour, chosen so that an agent-steered flow behaves like the same
//! algorithm running per ACK inside the datapath:
//!
//! * **datapath program** ([`PROGRAM_SRC`]): accumulates acked/SACKed bytes and losses,
//!   keeps the latest RTT sample, in-flight bytes and its clock; **slow start runs per ACK
//!   in the datapath** (`Cwnd += acked` while `Cwnd < ssthresh`, never on an ACK that
//!   detected a loss); on a retransmission timeout it sets `Cwnd` to one MSS at once (the
//!   loss window, as TCP does before it retransmits); it reports **once per RTT**, and at
//!   once on a loss or timeout. On a loss it also stops slow start (`ssthresh := 0`) and
//!   holds the window at the bytes in flight until the agent answers: otherwise the
//!   datapath would keep sending new data at the old window during the IPC round trip
//!   and overflow the queue again (a TCP stack reduces before it sends);
//! * **agent** ([`WindowFlow`]): congestion avoidance per report through a
//!   [`WindowLaw`] (the growth of the acked packets of the interval, with the report's
//!   clock), the loss response once per loss episode, and `ssthresh` after a timeout. It
//!   answers every report: the new `Cwnd` and/or `ssthresh`. A loss episode, like TCP's
//!   fast recovery, lasts until everything outstanding at the reduction has been
//!   delivered; the agent counts it in bytes (in flight and found lost at the reduction,
//!   against the acked and SACKed bytes of later reports), and neither grows the window
//!   nor reduces it again meanwhile.
//!
//! The report carries the datapath's own clock (`Ack.now`, µs), so the control law runs on
//! datapath time — under a simulator, virtual time — whatever the agent's clock says.

use std::time::Duration;

use ccp_agent::{Datapath, DatapathInfo, Flow, Report};

use crate::common::{mss_of, report_time};

/// Name of the shared program.
pub const PROGRAM: &str = "window";

/// The shared datapath program (portus-compatible subset: comments only before `when`).
pub const PROGRAM_SRC: &str = "(def
    (Report
        (volatile acked 0)
        (volatile sacked 0)
        (volatile loss 0)
        (volatile timeout false)
        (volatile rtt 0)
        (volatile inflight 0)
        (volatile now 0)
        (volatile cwnd 0)
    )
    (ssthresh +infinity)
    (mss 1460)
)
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.sacked (+ Report.sacked Ack.bytes_misordered))
    (:= Report.loss (+ Report.loss Ack.lost_pkts_sample))
    (:= Report.timeout Flow.was_timeout)
    (:= Report.rtt Flow.rtt_sample_us)
    (:= Report.inflight Flow.bytes_in_flight)
    (:= Report.now Ack.now)
    (fallthrough)
)
# slow start per ACK, never on an ACK that detected a loss
(when (&& (< Cwnd ssthresh) (== Ack.lost_pkts_sample 0))
    (:= Cwnd (+ Cwnd (+ Ack.bytes_acked Ack.bytes_misordered)))
    (fallthrough)
)
(when true
    (:= Report.cwnd Cwnd)
    (fallthrough)
)
# the loss window after a timeout: one segment at once
(when (|| Report.timeout false)
    (:= Cwnd mss)
    (fallthrough)
)
# a loss: send no new data until the agent decides
(when (> Report.loss 0)
    (:= Cwnd (min Cwnd Flow.bytes_in_flight))
    (:= ssthresh 0)
    (report)
    (:= Micros 0)
)
(when (|| Report.timeout false)
    (report)
    (:= Micros 0)
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
    /// In a loss episode: bytes still to be delivered (acked or SACKed) before every
    /// segment outstanding at the reduction has left the network (no growth, no further
    /// reduction meanwhile).
    pub recovery_left: Option<f64>,
    /// The datapath was in slow start at the previous report (its window is authoritative).
    slow_start: bool,
}

/// Updates a [`WindowState`] wants sent (bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowUpdate {
    /// New `Cwnd`, bytes.
    pub cwnd: Option<u64>,
    /// New `ssthresh`, bytes.
    pub ssthresh: Option<u64>,
}

/// Lower bound of the window and ssthresh after a reduction, packets.
pub const MIN_WINDOW: f64 = 2.0;

/// Packets added to a loss episode's length (see [`WindowState::recovery_left`]).
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
            recovery_left: None,
            slow_start: true,
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

    /// Whether a loss episode is in progress.
    pub fn in_recovery(&self) -> bool {
        self.recovery_left.is_some()
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
        let delivered = (m.acked + m.sacked) as f64;
        if let Some(left) = self.recovery_left {
            let left = left - delivered;
            self.recovery_left = (left > 0.0).then_some(left);
        }
        if m.timeout {
            self.ssthresh = self.law.on_timeout(reported, now).max(MIN_WINDOW);
            self.cwnd = 1.0;
            self.recovery_left = None;
            self.slow_start = true;
            return WindowUpdate {
                cwnd: None,
                ssthresh: Some(self.ssthresh_bytes()),
            };
        }
        if m.loss > 0 {
            if !self.in_recovery() {
                let (cwnd, ssthresh) = self.law.on_loss(reported, now);
                self.cwnd = cwnd.max(MIN_WINDOW);
                self.ssthresh = ssthresh.max(MIN_WINDOW);
                self.slow_start = false;
                // Everything outstanding now (in flight, plus the segments just found
                // lost, which will be retransmitted) must be delivered before a loss can
                // belong to a new episode; the network is FIFO, so later segments arrive
                // after those. A few segments of slack: a loss is detected only when three
                // segments sent after it are SACKed.
                self.recovery_left =
                    Some(m.inflight as f64 + (m.loss as f64 + RECOVERY_SLACK_PACKETS) * self.mss);
                return WindowUpdate {
                    cwnd: Some(self.bytes(self.cwnd)),
                    ssthresh: Some(self.ssthresh_bytes()),
                };
            }
            // Same episode: the program held the window at what is in flight and stopped
            // slow start; restore both.
            return WindowUpdate {
                cwnd: Some(self.bytes(self.cwnd)),
                ssthresh: Some(self.ssthresh_bytes()),
            };
        }
        if self.in_recovery() {
            return WindowUpdate::default();
        }
        if m.cwnd < self.ssthresh_bytes() {
            // The datapath slow-starts; follow its window.
            self.cwnd = reported;
            self.slow_start = true;
            return WindowUpdate::default();
        }
        if self.slow_start {
            self.cwnd = reported;
            self.slow_start = false;
        }
        let acked = (m.acked + m.sacked) as f64 / self.mss;
        if acked > 0.0 {
            let rtt = self
                .srtt
                .unwrap_or(Duration::from_micros(m.rtt_us.min(1 << 32)));
            self.cwnd = self.law.on_ack(self.cwnd, acked, now, rtt).max(1.0);
        }
        WindowUpdate {
            cwnd: Some(self.bytes(self.cwnd)),
            ssthresh: None,
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
        if let Err(e) = datapath.set_program(PROGRAM, Some(&fields)) {
            tracing::warn!(sid = info.sock_id, alg = name, error = %e, "cannot install program");
        }
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
        let mut fields: [(&str, u64); 2] = [("", 0); 2];
        let mut n = 0;
        if let Some(c) = u.cwnd {
            fields[n] = ("Cwnd", c);
            n += 1;
        }
        if let Some(s) = u.ssthresh {
            fields[n] = ("ssthresh", s);
            n += 1;
        }
        if n > 0
            && let Err(e) = self.datapath.update_fields(&fields[..n])
        {
            tracing::debug!(sid = sock_id, alg = self.name, error = %e, "cannot update");
        }
    }
}
