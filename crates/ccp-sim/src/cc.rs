//! The per-flow congestion-controller interface.
//!
//! The sender calls its controller on every ACK ([`CongestionController::on_ack`]), once when
//! a loss episode starts ([`CongestionController::on_loss`]) and on every retransmission
//! timeout ([`CongestionController::on_timeout`]). Each call carries a [`Measurement`]: the
//! exact fields of libccp's `struct ccp_primitives` ([`Primitives`]), the current time, and a
//! few sender facts ([`SenderState`]) that in-datapath algorithms use but CCP does not
//! transmit. The controller answers through [`Control`]: set the cwnd (bytes) and the pacing
//! rate (bytes/s), schedule its own timers, and send messages to control-plane components.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::control::{CtrlEvent, Endpoint, FlowId, FlowKnobs, Outbox, Outgoing};
use crate::time::SimTime;

/// Per-ACK measurements: the datapath library's own type (libccp's `struct ccp_primitives`,
/// spec §4.2), so the CCP adapter hands it to `ccp-datapath` as is. The simulator fills it
/// following the Linux mapping of spec §4.5:
///
/// * `bytes_acked` / `packets_acked`: newly cumulatively-acked payload bytes / segments that
///   had not been SACKed before (`acked_sacked − packets_misordered`);
/// * `bytes_misordered` / `packets_misordered`: segments newly SACKed by this ACK (× MSS);
/// * `ecn_bytes` / `ecn_packets`: the ACK echoes a CE mark (1 segment / MSS bytes);
/// * `lost_pkts_sample`: segments newly marked lost by this ACK (RFC 6675 3-SACK rule, plus
///   lost retransmissions); on a timeout, the segments the timeout marked lost;
/// * `was_timeout`: set only on the invocation made for a retransmission timeout;
/// * `rtt_sample_us`: the latest RTT sample (most recently sent, never retransmitted segment
///   newly acked or SACKed); it keeps its last value when an ACK yields no sample, and is 0
///   only before the first sample;
/// * `rate_outgoing` / `rate_incoming`: delivery-rate samples (draft-cheng-iccrg-delivery-
///   rate-estimation): `delivered · packet_size · 10⁹ / send_interval` and
///   `/ ack_interval`, in bytes/s; samples whose interval is below the minimum RTT are
///   discarded (as Linux does) and the previous value is kept;
/// * `bytes_in_flight` / `packets_in_flight`: `packets_out − sacked − lost + retransmitted`
///   (Linux `tcp_packets_in_flight`), × MSS for bytes;
/// * `snd_cwnd`: the current cwnd in bytes; `snd_rate`: the current pacing rate, bytes/s;
/// * `bytes_pending`: bytes the application has queued but not yet sent: a bulk flow always
///   reports its notional send buffer ([`crate::sender::SEND_BUFFER_BYTES`]).
pub use ccp_datapath::Primitives;

/// Sender facts beyond `ccp_primitives`, for in-datapath (native) algorithms. A CCP
/// adapter ignores these: CCP algorithms only see [`Primitives`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SenderState {
    /// The sender is in fast recovery (SACK-based loss recovery) until the data outstanding
    /// when the loss episode started is acknowledged. Native Reno/CUBIC do not grow the
    /// window then. Not set after a timeout: the window slow-starts while the sender
    /// retransmits (Linux's `CA_Loss`).
    pub in_recovery: bool,
    /// Smoothed RTT (RFC 6298) in µs, 0 before the first sample.
    pub srtt_us: u64,
    /// Minimum RTT seen, µs (0 before the first sample).
    pub min_rtt_us: u64,
    /// Maximum segment size (payload bytes).
    pub mss: u32,
    /// Bytes on the wire per full segment (MSS + headers).
    pub packet_size: u32,
}

/// What a controller sees on each call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measurement {
    /// Current virtual time.
    pub now: SimTime,
    /// The libccp primitives.
    pub prims: Primitives,
    /// Extra sender facts.
    pub sender: SenderState,
}

/// Static facts about a flow, given to factories and to [`CongestionController::on_start`].
#[derive(Debug, Clone, PartialEq)]
pub struct FlowInfo {
    /// The flow's index.
    pub flow: FlowId,
    /// The controller name the scenario asked for.
    pub alg: String,
    /// Controller parameters from the scenario (`params` table).
    pub params: BTreeMap<String, f64>,
    /// Maximum segment size, payload bytes.
    pub mss: u32,
    /// Bytes on the wire per full segment.
    pub packet_size: u32,
    /// Initial congestion window, bytes.
    pub init_cwnd: u32,
    /// When the flow starts.
    pub start: SimTime,
    /// When it stops (`None` = runs to the end).
    pub stop: Option<SimTime>,
    /// The scenario's IPC delay for control-plane messages.
    pub ipc_delay: SimTime,
    /// The scenario seed.
    pub seed: u64,
}

impl FlowInfo {
    /// A parameter, or `default` if absent.
    pub fn param(&self, name: &str, default: f64) -> f64 {
        self.params.get(name).copied().unwrap_or(default)
    }
}

/// The controller's handle on its flow during a callback.
pub struct Control<'a> {
    now: SimTime,
    flow: FlowId,
    mss: u32,
    ipc_delay: SimTime,
    knobs: &'a mut FlowKnobs,
    outbox: &'a mut Outbox,
}

impl<'a> Control<'a> {
    /// Build a handle (the simulator does this; public so controllers can be unit-tested and
    /// driven outside a simulation).
    pub fn new(
        now: SimTime,
        flow: FlowId,
        mss: u32,
        ipc_delay: SimTime,
        knobs: &'a mut FlowKnobs,
        outbox: &'a mut Outbox,
    ) -> Self {
        Control {
            now,
            flow,
            mss,
            ipc_delay,
            knobs,
            outbox,
        }
    }
    /// Current virtual time.
    pub fn now(&self) -> SimTime {
        self.now
    }
    /// This flow.
    pub fn flow(&self) -> FlowId {
        self.flow
    }
    /// The flow's MSS.
    pub fn mss(&self) -> u32 {
        self.mss
    }
    /// The scenario's IPC delay.
    pub fn ipc_delay(&self) -> SimTime {
        self.ipc_delay
    }
    /// Current cwnd, bytes.
    pub fn cwnd(&self) -> u32 {
        self.knobs.cwnd
    }
    /// Set the cwnd in bytes; values below one MSS are raised to one MSS.
    pub fn set_cwnd(&mut self, bytes: u32) {
        self.knobs.cwnd = bytes.max(self.mss);
    }
    /// Current pacing rate, bytes/s (0 = none).
    pub fn pacing_rate(&self) -> u64 {
        self.knobs.pacing_rate
    }
    /// Set the pacing rate in bytes/s; 0 turns pacing off.
    pub fn set_pacing_rate(&mut self, bytes_per_sec: u64) {
        self.knobs.pacing_rate = bytes_per_sec;
    }
    /// Call this controller back (`on_event` with `CtrlEvent::Timer { token }`) after `delay`.
    pub fn schedule(&mut self, delay: SimTime, token: u64) {
        self.outbox.push(Outgoing {
            at: self.now + delay,
            to: Endpoint::Flow(self.flow),
            event: CtrlEvent::Timer { token },
        });
    }
    /// Deliver `payload` to `to` after `delay`.
    pub fn send(&mut self, to: Endpoint, delay: SimTime, payload: Vec<u8>) {
        self.outbox.push(Outgoing {
            at: self.now + delay,
            to,
            event: CtrlEvent::Message {
                from: Endpoint::Flow(self.flow),
                payload,
            },
        });
    }
    /// Deliver `payload` to `to` after the configured IPC delay.
    pub fn send_ipc(&mut self, to: Endpoint, payload: Vec<u8>) {
        self.send(to, self.ipc_delay, payload);
    }
}

/// A congestion controller for one flow.
///
/// Call order for one ACK: the sender updates its scoreboard, then calls `on_loss` if this
/// ACK started a loss episode, then `on_ack` (always). A retransmission timeout calls
/// `on_timeout` with `prims.was_timeout = true`. After every callback the sender transmits
/// whatever the (possibly new) cwnd and pacing rate allow.
pub trait CongestionController {
    /// The algorithm's name, for reports.
    fn name(&self) -> &str;
    /// The flow starts now; `ctl.cwnd()` holds the scenario's initial window.
    fn on_start(&mut self, _info: &FlowInfo, _ctl: &mut Control<'_>) {}
    /// Every ACK.
    fn on_ack(&mut self, m: &Measurement, ctl: &mut Control<'_>);
    /// A new loss episode started (the first loss detected while not already in recovery;
    /// at most once per window of data). Called just before `on_ack` for the same ACK.
    fn on_loss(&mut self, _m: &Measurement, _ctl: &mut Control<'_>) {}
    /// A retransmission timeout fired (`m.prims.was_timeout` is true). The default treats
    /// it like an ACK invocation, as a CCP datapath does.
    fn on_timeout(&mut self, m: &Measurement, ctl: &mut Control<'_>) {
        self.on_ack(m, ctl);
    }
    /// A timer this controller scheduled, or a message sent to this flow, came due.
    fn on_event(&mut self, _event: CtrlEvent, _ctl: &mut Control<'_>) {}
    /// The flow stops (its stop time, or the end of the simulation).
    fn on_stop(&mut self, _ctl: &mut Control<'_>) {}
}
