//! A TCP-like reliable sender with a SACK scoreboard, and its receiver.
//!
//! Sequence numbers count segments (every segment carries [`SenderConfig::mss`] payload
//! bytes; the application always has data while the flow is active). The sender keeps, per
//! outstanding segment, its transmission time, flags (SACKed, lost, retransmission in
//! flight) and a delivery-rate snapshot. Loss detection follows RFC 6675: a segment is lost
//! when at least three segments above it are SACKed; lost retransmissions are detected
//! RACK-style (a segment sent later has been delivered, beyond a reordering window of
//! min RTT / 4). RTO follows RFC 6298 (SRTT/RTTVAR, exponential backoff, a configurable
//! minimum of 200 ms like Linux, initial 1 s, maximum 60 s).

use std::collections::VecDeque;

use crate::cc::{Measurement, Primitives, SenderState};
use crate::control::FlowKnobs;
use crate::time::{NANOS_PER_SEC, SimTime};

/// The notional send buffer a bulk flow reports as `bytes_pending` (4 MiB).
pub const SEND_BUFFER_BYTES: u32 = 4 << 20;
/// Segments SACKed above a hole before the hole counts as lost (RFC 6675 DupThresh).
pub const DUP_THRESH: u64 = 3;
/// SACK blocks an ACK carries at most.
pub const MAX_SACK_BLOCKS: usize = 3;

const F_SACKED: u8 = 1;
const F_LOST: u8 = 2;
const F_RETRANS: u8 = 4;
const F_EVER_RETRANS: u8 = 8;

/// Sender constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderConfig {
    /// Payload bytes per segment.
    pub mss: u32,
    /// Wire bytes per segment (MSS + headers).
    pub packet_size: u32,
    /// Lower bound of the RTO.
    pub min_rto: SimTime,
    /// RTO before the first RTT sample.
    pub initial_rto: SimTime,
    /// Upper bound of the RTO (also of backoff).
    pub max_rto: SimTime,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            mss: 1460,
            packet_size: 1500,
            min_rto: SimTime::from_millis(200),
            initial_rto: SimTime::from_secs(1),
            max_rto: SimTime::from_secs(60),
        }
    }
}

/// An acknowledgement as it travels back to the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ack {
    /// Next segment expected (everything below is received).
    pub cum: u64,
    /// SACK blocks `[start, end)`; the first contains the segment that triggered this ACK
    /// when it arrived out of order.
    pub sacks: [(u64, u64); MAX_SACK_BLOCKS],
    /// How many entries of `sacks` are valid.
    pub n_sacks: u8,
    /// The triggering segment carried a CE mark.
    pub ce: bool,
}

impl Ack {
    /// The valid SACK blocks.
    pub fn sack_blocks(&self) -> &[(u64, u64)] {
        &self.sacks[..usize::from(self.n_sacks).min(MAX_SACK_BLOCKS)]
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Seg {
    sent: u64,
    first_sent_time: u64,
    delivered: u64,
    delivered_time: u64,
    flags: u8,
}

/// Loss-recovery state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recovery {
    Open,
    /// Fast recovery until `point` is cumulatively acked.
    Fast {
        point: u64,
    },
    /// After a timeout until `point` is cumulatively acked.
    Timeout {
        point: u64,
    },
}

/// Per-flow sender counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SenderStats {
    /// Segments transmitted (new + retransmitted).
    pub sent_packets: u64,
    /// Retransmitted segments.
    pub retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Loss episodes (fast-recovery entries).
    pub loss_episodes: u64,
    /// Segments marked lost by the sender.
    pub detected_lost: u64,
}

#[derive(Default)]
struct RateSample {
    valid: bool,
    prior_delivered: u64,
    send_elapsed: u64,
    ack_elapsed: u64,
}

#[derive(Default)]
struct AckWork {
    newly_acked: u32,
    newly_sacked: u32,
    rtt_sent: Option<u64>,
    rack_sent: Option<u64>,
    rs: RateSample,
}

/// What the sender decided while processing an ACK.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AckOutcome {
    /// The measurement for the controller.
    pub measurement: Measurement,
    /// This ACK started a loss episode.
    pub entered_recovery: bool,
    /// The cumulative ACK point moved.
    pub cum_advanced: bool,
    /// A new RTT sample (ns) was taken.
    pub rtt_sample: Option<u64>,
}

/// The reliable sender of one flow.
#[derive(Debug)]
pub struct Sender {
    cfg: SenderConfig,
    una: u64,
    nxt: u64,
    segs: VecDeque<Seg>,
    sacked: Vec<(u64, u64)>,
    sacked_out: u32,
    lost_out: u32,
    retrans_out: u32,
    lost_upto: u64,
    retx_hint: u64,
    recovery: Recovery,
    fast_retransmit: bool,
    // RTT / RTO, ns
    srtt: u64,
    rttvar: u64,
    rto: u64,
    min_rtt: u64,
    rto_deadline: Option<u64>,
    // delivery-rate state
    delivered: u64,
    delivered_time: u64,
    first_sent_time: u64,
    rack_sent: u64,
    // persisted primitive values
    last_rtt_us: u64,
    rate_out: u64,
    rate_in: u64,
    // pacing
    next_send_at: u64,
    active: bool,
    stats: SenderStats,
}

impl Sender {
    /// A sender with nothing sent yet.
    pub fn new(cfg: SenderConfig) -> Sender {
        Sender {
            cfg,
            una: 0,
            nxt: 0,
            segs: VecDeque::with_capacity(512),
            sacked: Vec::with_capacity(16),
            sacked_out: 0,
            lost_out: 0,
            retrans_out: 0,
            lost_upto: 0,
            retx_hint: 0,
            recovery: Recovery::Open,
            fast_retransmit: false,
            srtt: 0,
            rttvar: 0,
            rto: cfg.initial_rto.0,
            min_rtt: u64::MAX,
            rto_deadline: None,
            delivered: 0,
            delivered_time: 0,
            first_sent_time: 0,
            rack_sent: 0,
            last_rtt_us: 0,
            rate_out: 0,
            rate_in: 0,
            next_send_at: 0,
            active: false,
            stats: SenderStats::default(),
        }
    }

    /// Constants.
    pub fn config(&self) -> &SenderConfig {
        &self.cfg
    }
    /// Counters.
    pub fn stats(&self) -> SenderStats {
        self.stats
    }
    /// Whether the application has data (between start and stop).
    pub fn is_active(&self) -> bool {
        self.active
    }
    /// Start or stop producing new data.
    pub fn set_active(&mut self, active: bool) {
        self.active = active;
    }
    /// Lowest unacknowledged segment.
    pub fn snd_una(&self) -> u64 {
        self.una
    }
    /// Next new segment to send.
    pub fn snd_nxt(&self) -> u64 {
        self.nxt
    }
    /// `tcp_packets_in_flight`: out − SACKed − lost + retransmitted.
    pub fn packets_in_flight(&self) -> u32 {
        let out = (self.nxt - self.una) as u32;
        (out + self.retrans_out).saturating_sub(self.sacked_out + self.lost_out)
    }
    /// Smoothed RTT in ns (0 before the first sample).
    pub fn srtt(&self) -> u64 {
        self.srtt
    }
    /// Latest RTT sample in µs (0 before the first).
    pub fn last_rtt_us(&self) -> u64 {
        self.last_rtt_us
    }
    /// Current RTO in ns.
    pub fn rto(&self) -> u64 {
        self.rto
    }
    /// When the retransmission timer expires, if armed.
    pub fn rto_deadline(&self) -> Option<SimTime> {
        self.rto_deadline.map(SimTime)
    }
    /// Whether the sender is in loss recovery.
    pub fn in_recovery(&self) -> bool {
        self.recovery != Recovery::Open
    }

    /// The next segment to transmit and whether it is a retransmission, or `None` when
    /// nothing may be sent now because of the window (pacing is checked separately with
    /// [`Sender::pacing_wait`]).
    pub fn next_to_send(&mut self, knobs: &FlowKnobs) -> Option<(u64, bool)> {
        let cwnd_segs = (knobs.cwnd / self.cfg.mss).max(1);
        let window_ok = self.packets_in_flight() < cwnd_segs;
        if let Some(seq) = self.next_retransmit() {
            if window_ok || self.fast_retransmit {
                return Some((seq, true));
            }
            return None;
        }
        self.fast_retransmit = false;
        if self.active && window_ok {
            return Some((self.nxt, false));
        }
        None
    }

    /// If pacing forbids sending at `now`, the time it next allows.
    pub fn pacing_wait(&self, now: SimTime, knobs: &FlowKnobs) -> Option<SimTime> {
        if knobs.pacing_rate > 0 && now.0 < self.next_send_at {
            Some(SimTime(self.next_send_at))
        } else {
            None
        }
    }

    fn next_retransmit(&mut self) -> Option<u64> {
        let mut seq = self.retx_hint.max(self.una);
        while seq < self.lost_upto {
            let f = self.segs[(seq - self.una) as usize].flags;
            if f & F_LOST != 0 && f & (F_RETRANS | F_SACKED) == 0 {
                self.retx_hint = seq;
                return Some(seq);
            }
            seq += 1;
        }
        self.retx_hint = seq;
        None
    }

    /// Record the transmission of `seq` (from [`Sender::next_to_send`]) at `now`.
    pub fn on_transmit(&mut self, now: SimTime, seq: u64, retransmit: bool, knobs: &FlowKnobs) {
        let t = now.0;
        if self.packets_in_flight() == 0 {
            self.first_sent_time = t;
            self.delivered_time = t;
        }
        let snapshot = Seg {
            sent: t,
            first_sent_time: self.first_sent_time,
            delivered: self.delivered,
            delivered_time: self.delivered_time,
            flags: 0,
        };
        if retransmit {
            let idx = (seq - self.una) as usize;
            let seg = &mut self.segs[idx];
            let flags = seg.flags | F_RETRANS | F_EVER_RETRANS;
            *seg = Seg { flags, ..snapshot };
            self.retrans_out += 1;
            self.stats.retransmits += 1;
            self.fast_retransmit = false;
        } else {
            self.segs.push_back(snapshot);
            self.nxt += 1;
        }
        self.stats.sent_packets += 1;
        if knobs.pacing_rate > 0 {
            let gap = u64::from(self.cfg.packet_size) * NANOS_PER_SEC / knobs.pacing_rate.max(1);
            self.next_send_at = self.next_send_at.max(t).saturating_add(gap);
        } else {
            self.next_send_at = t;
        }
        if self.rto_deadline.is_none() {
            self.rto_deadline = Some(t.saturating_add(self.rto));
        }
    }

    fn deliver_one(&mut self, seg: Seg, now: u64, w: &mut AckWork) {
        self.delivered += 1;
        self.delivered_time = now;
        if !w.rs.valid || seg.delivered > w.rs.prior_delivered {
            w.rs.valid = true;
            w.rs.prior_delivered = seg.delivered;
            w.rs.send_elapsed = seg.sent.saturating_sub(seg.first_sent_time);
            w.rs.ack_elapsed = now.saturating_sub(seg.delivered_time);
            self.first_sent_time = seg.sent;
        }
        if seg.flags & F_EVER_RETRANS == 0 {
            w.rtt_sent = Some(w.rtt_sent.map_or(seg.sent, |s| s.max(seg.sent)));
        }
        w.rack_sent = Some(w.rack_sent.map_or(seg.sent, |s| s.max(seg.sent)));
    }

    fn sack_range(&mut self, s: u64, e: u64, now: u64, w: &mut AckWork) {
        let s = s.max(self.una);
        let e = e.min(self.nxt);
        if s >= e {
            return;
        }
        // walk only the parts of [s, e) not already known as SACKed
        let mut cur = s;
        let mut i = self.sacked.partition_point(|r| r.1 <= s);
        while cur < e {
            if i < self.sacked.len() && self.sacked[i].0 <= cur {
                cur = cur.max(self.sacked[i].1);
                i += 1;
                continue;
            }
            let piece_end = if i < self.sacked.len() {
                e.min(self.sacked[i].0)
            } else {
                e
            };
            for seq in cur..piece_end {
                let idx = (seq - self.una) as usize;
                let seg = self.segs[idx];
                if seg.flags & F_SACKED != 0 {
                    continue;
                }
                let mut flags = seg.flags | F_SACKED;
                self.sacked_out += 1;
                if flags & F_LOST != 0 {
                    flags &= !F_LOST;
                    self.lost_out -= 1;
                }
                if flags & F_RETRANS != 0 {
                    flags &= !F_RETRANS;
                    self.retrans_out -= 1;
                }
                self.segs[idx].flags = flags;
                w.newly_sacked += 1;
                self.deliver_one(seg, now, w);
            }
            cur = piece_end;
        }
        // merge [s, e) into the sorted, disjoint range list
        let lo = self.sacked.partition_point(|r| r.1 < s);
        let hi = self.sacked.partition_point(|r| r.0 <= e);
        if lo == hi {
            self.sacked.insert(lo, (s, e));
        } else {
            let merged = (s.min(self.sacked[lo].0), e.max(self.sacked[hi - 1].1));
            self.sacked[lo] = merged;
            self.sacked.drain(lo + 1..hi);
        }
    }

    fn cum_ack(&mut self, cum: u64, now: u64, w: &mut AckWork) {
        while self.una < cum {
            let Some(seg) = self.segs.pop_front() else {
                break;
            };
            self.una += 1;
            if seg.flags & F_SACKED != 0 {
                self.sacked_out -= 1;
                continue;
            }
            if seg.flags & F_LOST != 0 {
                self.lost_out -= 1;
            }
            if seg.flags & F_RETRANS != 0 {
                self.retrans_out -= 1;
            }
            w.newly_acked += 1;
            self.deliver_one(seg, now, w);
        }
        let una = self.una;
        let drop_n = self.sacked.partition_point(|r| r.1 <= una);
        self.sacked.drain(..drop_n);
        if let Some(first) = self.sacked.first_mut() {
            first.0 = first.0.max(una);
        }
        self.lost_upto = self.lost_upto.max(una);
        self.retx_hint = self.retx_hint.max(una);
    }

    /// The highest segment number `L` such that every un-SACKed segment below `L` has at
    /// least [`DUP_THRESH`] SACKed segments above it.
    fn dupthresh_frontier(&self) -> Option<u64> {
        let mut count = 0u64;
        for &(a, b) in self.sacked.iter().rev() {
            let len = b - a;
            if count + len >= DUP_THRESH {
                return Some(b - (DUP_THRESH - count));
            }
            count += len;
        }
        None
    }

    fn detect_losses(&mut self, rack_advanced: bool) -> u32 {
        let mut newly_lost = 0u32;
        if let Some(frontier) = self.dupthresh_frontier() {
            let from = self.lost_upto.max(self.una);
            for seq in from..frontier {
                let seg = &mut self.segs[(seq - self.una) as usize];
                if seg.flags & (F_SACKED | F_LOST) == 0 {
                    seg.flags |= F_LOST;
                    self.lost_out += 1;
                    newly_lost += 1;
                }
            }
            self.lost_upto = self.lost_upto.max(frontier);
        }
        if rack_advanced && self.retrans_out > 0 && self.min_rtt != u64::MAX {
            let reo_wnd = self.min_rtt / 4;
            let end = self.lost_upto.min(self.nxt);
            for seq in self.una..end {
                let idx = (seq - self.una) as usize;
                let seg = &mut self.segs[idx];
                if seg.flags & F_RETRANS != 0
                    && seg.flags & F_SACKED == 0
                    && seg.sent.saturating_add(reo_wnd) < self.rack_sent
                {
                    seg.flags &= !F_RETRANS;
                    self.retrans_out -= 1;
                    newly_lost += 1;
                    self.retx_hint = self.retx_hint.min(seq);
                }
            }
        }
        self.stats.detected_lost += u64::from(newly_lost);
        newly_lost
    }

    fn update_rtt(&mut self, rtt: u64) {
        // RFC 6298 §2 with alpha = 1/8, beta = 1/4, G = 1 ms.
        if self.srtt == 0 {
            self.srtt = rtt.max(1);
            self.rttvar = rtt / 2;
        } else {
            let diff = self.srtt.abs_diff(rtt);
            self.rttvar = (3 * self.rttvar + diff) / 4;
            self.srtt = ((7 * self.srtt + rtt) / 8).max(1);
        }
        let rto = self.srtt + (4 * self.rttvar).max(1_000_000);
        self.rto = rto.clamp(self.cfg.min_rto.0, self.cfg.max_rto.0);
        self.min_rtt = self.min_rtt.min(rtt);
        self.last_rtt_us = (rtt / 1_000).max(1);
    }

    fn sender_state(&self) -> SenderState {
        SenderState {
            in_recovery: matches!(self.recovery, Recovery::Fast { .. }),
            srtt_us: self.srtt / 1_000,
            min_rtt_us: if self.min_rtt == u64::MAX {
                0
            } else {
                self.min_rtt / 1_000
            },
            mss: self.cfg.mss,
            packet_size: self.cfg.packet_size,
        }
    }

    fn primitives(&self, knobs: &FlowKnobs) -> Primitives {
        let pif = self.packets_in_flight();
        Primitives {
            rtt_sample_us: self.last_rtt_us,
            rate_outgoing: self.rate_out,
            rate_incoming: self.rate_in,
            bytes_in_flight: pif.saturating_mul(self.cfg.mss),
            packets_in_flight: pif,
            snd_cwnd: knobs.cwnd,
            snd_rate: knobs.pacing_rate,
            bytes_pending: if self.active { SEND_BUFFER_BYTES } else { 0 },
            ..Primitives::default()
        }
    }

    /// Process an ACK arriving at `now`.
    pub fn on_ack(&mut self, now: SimTime, ack: &Ack, knobs: &FlowKnobs) -> AckOutcome {
        let t = now.0;
        let mut w = AckWork::default();
        let cum = ack.cum.min(self.nxt);
        let cum_advanced = cum > self.una;
        if cum_advanced {
            self.cum_ack(cum, t, &mut w);
        }
        for &(s, e) in ack.sack_blocks() {
            self.sack_range(s, e, t, &mut w);
        }
        let mut rtt_sample = None;
        if let Some(sent) = w.rtt_sent {
            let rtt = t.saturating_sub(sent);
            self.update_rtt(rtt);
            rtt_sample = Some(rtt);
        }
        let mut rack_advanced = false;
        if let Some(sent) = w.rack_sent
            && sent > self.rack_sent
        {
            self.rack_sent = sent;
            rack_advanced = true;
        }
        // delivery-rate sample
        if w.rs.valid {
            let delivered = self.delivered - w.rs.prior_delivered;
            let interval = w.rs.send_elapsed.max(w.rs.ack_elapsed);
            let min_rtt = if self.min_rtt == u64::MAX {
                0
            } else {
                self.min_rtt
            };
            if delivered > 0 && interval >= min_rtt && interval > 0 {
                let bytes = u128::from(delivered) * u128::from(self.cfg.packet_size);
                if w.rs.send_elapsed > 0 {
                    self.rate_out =
                        (bytes * u128::from(NANOS_PER_SEC) / u128::from(w.rs.send_elapsed)) as u64;
                }
                if w.rs.ack_elapsed > 0 {
                    self.rate_in =
                        (bytes * u128::from(NANOS_PER_SEC) / u128::from(w.rs.ack_elapsed)) as u64;
                }
            }
        }
        let newly_lost = self.detect_losses(rack_advanced);
        // recovery state machine
        match self.recovery {
            Recovery::Fast { point } | Recovery::Timeout { point } if self.una >= point => {
                self.recovery = Recovery::Open;
            }
            _ => {}
        }
        let mut entered_recovery = false;
        if newly_lost > 0 && self.recovery == Recovery::Open {
            self.recovery = Recovery::Fast { point: self.nxt };
            self.fast_retransmit = true;
            self.stats.loss_episodes += 1;
            entered_recovery = true;
        }
        // RFC 6298 5.2/5.3: stop the timer when all is acked, restart on new cum ACK
        if self.una == self.nxt {
            self.rto_deadline = None;
        } else if cum_advanced {
            self.rto_deadline = Some(t.saturating_add(self.rto));
        }
        let mut prims = self.primitives(knobs);
        prims.bytes_acked = w.newly_acked.saturating_mul(self.cfg.mss);
        prims.packets_acked = w.newly_acked;
        prims.packets_misordered = w.newly_sacked;
        prims.bytes_misordered = w.newly_sacked.saturating_mul(self.cfg.mss);
        if ack.ce {
            prims.ecn_packets = 1;
            prims.ecn_bytes = self.cfg.mss;
        }
        prims.lost_pkts_sample = newly_lost;
        AckOutcome {
            measurement: Measurement {
                now,
                prims,
                sender: self.sender_state(),
            },
            entered_recovery,
            cum_advanced,
            rtt_sample,
        }
    }

    /// The retransmission timer fired at `now`: back off, mark everything outstanding and
    /// not SACKed as lost, and return the measurement (with `was_timeout`) for the
    /// controller. `None` if nothing is outstanding (the timer is then disarmed).
    pub fn on_rto(&mut self, now: SimTime, knobs: &FlowKnobs) -> Option<Measurement> {
        if self.una == self.nxt {
            self.rto_deadline = None;
            return None;
        }
        self.stats.timeouts += 1;
        self.rto = (self.rto.saturating_mul(2)).min(self.cfg.max_rto.0);
        let mut newly_lost = 0u32;
        for seg in self.segs.iter_mut() {
            if seg.flags & F_SACKED != 0 {
                continue;
            }
            if seg.flags & F_LOST == 0 {
                seg.flags |= F_LOST;
                self.lost_out += 1;
                newly_lost += 1;
            }
            if seg.flags & F_RETRANS != 0 {
                seg.flags &= !F_RETRANS;
                self.retrans_out -= 1;
            }
        }
        self.stats.detected_lost += u64::from(newly_lost);
        self.lost_upto = self.nxt;
        self.retx_hint = self.una;
        self.recovery = Recovery::Timeout { point: self.nxt };
        self.fast_retransmit = false;
        self.rto_deadline = Some(now.0.saturating_add(self.rto));
        let mut prims = self.primitives(knobs);
        prims.was_timeout = true;
        prims.lost_pkts_sample = newly_lost;
        Some(Measurement {
            now,
            prims,
            sender: self.sender_state(),
        })
    }

    /// Check internal counters against a full recount (for tests).
    #[cfg(test)]
    fn check_invariants(&self) {
        let mut sacked = 0;
        let mut lost = 0;
        let mut retrans = 0;
        for (i, s) in self.segs.iter().enumerate() {
            let seq = self.una + i as u64;
            let in_ranges = self.sacked.iter().any(|r| r.0 <= seq && seq < r.1);
            assert_eq!(s.flags & F_SACKED != 0, in_ranges, "seq {seq}");
            if s.flags & F_SACKED != 0 {
                sacked += 1;
                assert_eq!(s.flags & (F_LOST | F_RETRANS), 0);
            }
            if s.flags & F_LOST != 0 {
                lost += 1;
            }
            if s.flags & F_RETRANS != 0 {
                retrans += 1;
                assert!(s.flags & F_LOST != 0);
            }
        }
        assert_eq!(self.segs.len() as u64, self.nxt - self.una);
        assert_eq!(sacked, self.sacked_out);
        assert_eq!(lost, self.lost_out);
        assert_eq!(retrans, self.retrans_out);
        for w in self.sacked.windows(2) {
            assert!(
                w[0].1 < w[1].0,
                "ranges not disjoint/sorted: {:?}",
                self.sacked
            );
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Block {
    start: u64,
    end: u64,
    stamp: u64,
}

/// The receiving end of a flow: cumulative + SACK acknowledgements, one ACK per segment.
#[derive(Debug, Default)]
pub struct Receiver {
    rcv_nxt: u64,
    blocks: Vec<Block>,
    stamp: u64,
    received: u64,
    duplicates: u64,
}

impl Receiver {
    /// A receiver expecting segment 0.
    pub fn new() -> Receiver {
        Receiver::default()
    }
    /// Next expected segment (= segments delivered in order).
    pub fn rcv_nxt(&self) -> u64 {
        self.rcv_nxt
    }
    /// Segments received (including duplicates).
    pub fn received(&self) -> u64 {
        self.received
    }
    /// Duplicate segments received.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Segment `seq` arrived (with CE mark `ce`); returns the ACK to send.
    pub fn on_segment(&mut self, seq: u64, ce: bool) -> Ack {
        self.received += 1;
        self.stamp += 1;
        let mut current: Option<usize> = None;
        if seq < self.rcv_nxt {
            self.duplicates += 1;
        } else if seq == self.rcv_nxt {
            self.rcv_nxt += 1;
            if let Some(first) = self.blocks.first()
                && first.start == self.rcv_nxt
            {
                self.rcv_nxt = first.end;
                self.blocks.remove(0);
            }
        } else {
            let i = self.blocks.partition_point(|b| b.end < seq);
            if i < self.blocks.len() && self.blocks[i].start <= seq && seq < self.blocks[i].end {
                self.duplicates += 1;
                current = Some(i);
            } else if i < self.blocks.len() && self.blocks[i].end == seq {
                // extends block i; maybe joins block i+1
                self.blocks[i].end = seq + 1;
                self.blocks[i].stamp = self.stamp;
                if i + 1 < self.blocks.len() && self.blocks[i + 1].start == seq + 1 {
                    self.blocks[i].end = self.blocks[i + 1].end;
                    self.blocks.remove(i + 1);
                }
                current = Some(i);
            } else if i < self.blocks.len() && self.blocks[i].start == seq + 1 {
                self.blocks[i].start = seq;
                self.blocks[i].stamp = self.stamp;
                current = Some(i);
            } else {
                self.blocks.insert(
                    i,
                    Block {
                        start: seq,
                        end: seq + 1,
                        stamp: self.stamp,
                    },
                );
                current = Some(i);
            }
        }
        let mut ack = Ack {
            cum: self.rcv_nxt,
            ce,
            ..Ack::default()
        };
        let mut n = 0usize;
        if let Some(c) = current {
            let b = self.blocks[c];
            ack.sacks[0] = (b.start, b.end);
            n = 1;
        }
        // then the most recently changed other blocks
        let mut best: [Option<(u64, usize)>; MAX_SACK_BLOCKS] = [None; MAX_SACK_BLOCKS];
        for (i, b) in self.blocks.iter().enumerate() {
            if Some(i) == current {
                continue;
            }
            let mut cand = Some((b.stamp, i));
            for slot in best.iter_mut() {
                if cand.is_none() {
                    break;
                }
                if slot.is_none_or(|s| cand.is_some_and(|c| c.0 > s.0)) {
                    std::mem::swap(slot, &mut cand);
                }
            }
        }
        for (_, i) in best.iter().flatten() {
            if n >= MAX_SACK_BLOCKS {
                break;
            }
            let b = self.blocks[*i];
            ack.sacks[n] = (b.start, b.end);
            n += 1;
        }
        ack.n_sacks = n as u8;
        ack
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimTime;
    use proptest::prelude::*;

    fn knobs(cwnd_segs: u32) -> FlowKnobs {
        FlowKnobs {
            cwnd: cwnd_segs * 1460,
            pacing_rate: 0,
        }
    }

    fn send_all(s: &mut Sender, now: SimTime, k: &FlowKnobs) -> Vec<(u64, bool)> {
        let mut out = vec![];
        while let Some((seq, re)) = s.next_to_send(k) {
            s.on_transmit(now, seq, re, k);
            out.push((seq, re));
        }
        out
    }

    #[test]
    fn window_limits_sending_and_acks_clock_more() {
        let mut s = Sender::new(SenderConfig::default());
        s.set_active(true);
        let k = knobs(4);
        let sent = send_all(&mut s, SimTime::ZERO, &k);
        assert_eq!(sent, vec![(0, false), (1, false), (2, false), (3, false)]);
        assert_eq!(s.packets_in_flight(), 4);
        let mut r = Receiver::new();
        let ack = r.on_segment(0, false);
        let out = s.on_ack(SimTime::from_millis(20), &ack, &k);
        assert_eq!(out.measurement.prims.packets_acked, 1);
        assert_eq!(out.measurement.prims.bytes_acked, 1460);
        assert_eq!(out.measurement.prims.rtt_sample_us, 20_000);
        assert_eq!(out.measurement.prims.packets_in_flight, 3);
        assert_eq!(
            send_all(&mut s, SimTime::from_millis(20), &k),
            vec![(4, false)]
        );
        s.check_invariants();
    }

    #[test]
    fn three_sacks_mark_a_hole_lost_and_retransmit_it_first() {
        let mut s = Sender::new(SenderConfig::default());
        s.set_active(true);
        let k = knobs(10);
        send_all(&mut s, SimTime::ZERO, &k);
        let mut r = Receiver::new();
        // segment 2 is lost
        let t = SimTime::from_millis(20);
        let mut lost_total = 0;
        let mut entered = 0;
        for seq in [0, 1, 3, 4, 5] {
            let ack = r.on_segment(seq, false);
            let o = s.on_ack(t, &ack, &k);
            lost_total += o.measurement.prims.lost_pkts_sample;
            entered += u32::from(o.entered_recovery);
            s.check_invariants();
            if seq == 3 || seq == 4 {
                assert_eq!(
                    o.measurement.prims.lost_pkts_sample, 0,
                    "too early at {seq}"
                );
                assert_eq!(o.measurement.prims.packets_misordered, 1);
            }
        }
        assert_eq!(lost_total, 1);
        assert_eq!(entered, 1);
        assert!(s.in_recovery());
        // in flight: out 8 (2..10) − sacked 3 − lost 1 = 4
        assert_eq!(s.packets_in_flight(), 4);
        // the fast retransmit goes out even though the window is not open
        let k_small = knobs(2);
        assert_eq!(s.next_to_send(&k_small), Some((2, true)));
        s.on_transmit(t, 2, true, &k_small);
        assert_eq!(s.next_to_send(&k_small), None);
        assert_eq!(s.stats().retransmits, 1);
        // the retransmission arrives: cumulative ACK jumps over the SACKed segments
        let ack = r.on_segment(2, false);
        assert_eq!(ack.cum, 6);
        let o = s.on_ack(SimTime::from_millis(40), &ack, &k);
        assert_eq!(
            o.measurement.prims.packets_acked, 1,
            "only seg 2 was not SACKed"
        );
        assert!(
            o.rtt_sample.is_none(),
            "Karn: no sample from a retransmission"
        );
        s.check_invariants();
    }

    #[test]
    fn recovery_ends_when_the_recovery_point_is_acked() {
        let mut s = Sender::new(SenderConfig::default());
        s.set_active(true);
        let k = knobs(6);
        send_all(&mut s, SimTime::ZERO, &k); // 0..6
        let mut r = Receiver::new();
        let t = SimTime::from_millis(10);
        for seq in [1, 2, 3] {
            let ack = r.on_segment(seq, false);
            s.on_ack(t, &ack, &k);
        }
        assert!(s.in_recovery());
        send_all(&mut s, t, &k);
        for seq in [0, 4, 5] {
            let ack = r.on_segment(seq, false);
            s.on_ack(t, &ack, &k);
        }
        assert_eq!(s.snd_una(), 6);
        assert!(!s.in_recovery());
        s.check_invariants();
    }

    #[test]
    fn rto_marks_everything_lost_and_backs_off() {
        let mut s = Sender::new(SenderConfig::default());
        s.set_active(true);
        let k = knobs(5);
        send_all(&mut s, SimTime::ZERO, &k);
        assert_eq!(s.rto_deadline(), Some(SimTime::from_secs(1)));
        let m = s.on_rto(SimTime::from_secs(1), &k).unwrap();
        assert!(m.prims.was_timeout);
        assert_eq!(m.prims.lost_pkts_sample, 5);
        assert_eq!(m.prims.packets_in_flight, 0);
        assert_eq!(s.rto(), 2_000_000_000);
        assert_eq!(s.stats().timeouts, 1);
        let k1 = knobs(1);
        let sent = send_all(&mut s, SimTime::from_secs(1), &k1);
        assert_eq!(sent, vec![(0, true)]);
        s.check_invariants();
        // second timeout backs off again; the lost retransmission is marked again
        let m = s.on_rto(SimTime::from_secs(3), &k1).unwrap();
        assert_eq!(m.prims.lost_pkts_sample, 0, "all were already lost");
        assert_eq!(s.rto(), 4_000_000_000);
        assert_eq!(
            send_all(&mut s, SimTime::from_secs(3), &k1),
            vec![(0, true)]
        );
        s.check_invariants();
    }

    #[test]
    fn rto_follows_rfc6298() {
        let mut s = Sender::new(SenderConfig::default());
        s.update_rtt(100_000_000); // 100 ms
        assert_eq!(s.srtt, 100_000_000);
        assert_eq!(s.rttvar, 50_000_000);
        assert_eq!(s.rto, 300_000_000);
        s.update_rtt(100_000_000);
        assert_eq!(s.rttvar, 37_500_000);
        assert_eq!(s.rto, 250_000_000);
        for _ in 0..100 {
            s.update_rtt(10_000_000);
        }
        assert_eq!(s.rto, 200_000_000, "clamped to the minimum");
    }

    #[test]
    fn lost_retransmission_is_detected_rack_style() {
        let mut s = Sender::new(SenderConfig::default());
        s.set_active(true);
        let k = knobs(10);
        send_all(&mut s, SimTime::ZERO, &k); // 0..10
        let mut r = Receiver::new();
        let t1 = SimTime::from_millis(20);
        for seq in [1, 2, 3] {
            s.on_ack(t1, &r.on_segment(seq, false), &k);
        }
        // retransmit 0 at t1, and it is lost again; new data sent later gets SACKed
        assert_eq!(s.next_to_send(&k), Some((0, true)));
        s.on_transmit(t1, 0, true, &k);
        let t2 = SimTime::from_millis(30);
        let more = send_all(&mut s, t2, &k);
        assert!(!more.is_empty());
        let t3 = SimTime::from_millis(50);
        let mut lost = 0;
        for seq in 4..10 {
            lost += s
                .on_ack(t3, &r.on_segment(seq, false), &k)
                .measurement
                .prims
                .lost_pkts_sample;
        }
        // sent at 0 ms: not after the retransmission, no verdict yet
        assert_eq!(lost, 0);
        let o = s.on_ack(t3, &r.on_segment(more[0].0, false), &k);
        assert_eq!(o.measurement.prims.lost_pkts_sample, 1);
        assert_eq!(s.next_to_send(&k), Some((0, true)));
        s.check_invariants();
    }

    #[test]
    fn pacing_spaces_packets() {
        let mut s = Sender::new(SenderConfig::default());
        s.set_active(true);
        let k = FlowKnobs {
            cwnd: 100 * 1460,
            pacing_rate: 1_500_000, // 1000 packets/s → 1 ms apart
        };
        let now = SimTime::ZERO;
        assert!(s.pacing_wait(now, &k).is_none());
        let (seq, re) = s.next_to_send(&k).unwrap();
        s.on_transmit(now, seq, re, &k);
        assert_eq!(s.pacing_wait(now, &k), Some(SimTime::from_millis(1)));
        assert!(s.pacing_wait(SimTime::from_millis(1), &k).is_none());
    }

    #[test]
    fn receiver_builds_sack_blocks_most_recent_first() {
        let mut r = Receiver::new();
        assert_eq!(r.on_segment(0, false).cum, 1);
        let a = r.on_segment(2, false);
        assert_eq!(a.cum, 1);
        assert_eq!(a.sack_blocks(), &[(2, 3)]);
        let a = r.on_segment(5, true);
        assert!(a.ce);
        assert_eq!(a.sack_blocks(), &[(5, 6), (2, 3)]);
        let a = r.on_segment(3, false);
        assert_eq!(a.sack_blocks(), &[(2, 4), (5, 6)]);
        let a = r.on_segment(4, false);
        assert_eq!(a.sack_blocks(), &[(2, 6)]);
        let a = r.on_segment(8, false);
        let a2 = r.on_segment(10, false);
        assert_eq!(a.sack_blocks(), &[(8, 9), (2, 6)]);
        assert_eq!(a2.sack_blocks(), &[(10, 11), (8, 9), (2, 6)]);
        let a = r.on_segment(12, false);
        assert_eq!(a.n_sacks, 3);
        assert_eq!(a.sack_blocks()[0], (12, 13));
        let a = r.on_segment(1, false);
        assert_eq!(a.cum, 6);
        assert_eq!(r.on_segment(3, false).cum, 6);
        assert_eq!(r.duplicates(), 1);
    }

    proptest! {
        /// Random loss patterns: the sender's counters stay consistent, every segment is
        /// eventually delivered, and the receiver ends with everything in order.
        #[test]
        fn scoreboard_stays_consistent(losses in proptest::collection::vec(0u8..100, 1..300), loss_pct in 0u8..40) {
            let mut s = Sender::new(SenderConfig::default());
            let mut r = Receiver::new();
            s.set_active(true);
            let k = knobs(20);
            let mut now = SimTime::ZERO;
            let mut in_net: std::collections::VecDeque<u64> = Default::default();
            let mut li = 0;
            let target = 200u64;
            for _round in 0..50_000 {
                if s.snd_una() >= target { break; }
                if s.snd_nxt() >= target { s.set_active(false); }
                while let Some((seq, re)) = s.next_to_send(&k) {
                    s.on_transmit(now, seq, re, &k);
                    // every fifth transmission gets through, so progress is always possible
                    let drop = losses[li % losses.len()] < loss_pct && li % 5 != 4;
                    li += 1;
                    if !drop { in_net.push_back(seq); }
                }
                now += SimTime::from_millis(1);
                if let Some(seq) = in_net.pop_front() {
                    let ack = r.on_segment(seq, false);
                    s.on_ack(now, &ack, &k);
                    s.check_invariants();
                } else if let Some(d) = s.rto_deadline() {
                    now = now.max(d);
                    s.on_rto(now, &k);
                    s.check_invariants();
                }
            }
            prop_assert!(s.snd_una() >= target, "stuck at {}", s.snd_una());
            prop_assert_eq!(r.rcv_nxt(), s.snd_una());
        }
    }
}
