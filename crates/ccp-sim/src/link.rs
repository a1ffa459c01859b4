//! The bottleneck link: a drop-tail FIFO queue in front of a fixed-rate or trace-driven
//! server, followed by a propagation delay, with optional random loss, jitter and ECN
//! marking.
//!
//! The link is work-conserving and FIFO, so the fate of a packet (dropped, or the instants it
//! starts service, leaves the queue and reaches the far end) is fully determined when it
//! arrives. [`Link::enqueue`] computes it at once; no per-packet "transmission done" event is
//! needed, which halves the event count. Occupancy at any later instant is recovered from
//! the list of admitted packets that have not yet left ([`Link::advance`]).

use std::collections::VecDeque;

use crate::rng::{SimRng, streams};
use crate::time::{NANOS_PER_SEC, SimTime};
use crate::trace::{OPPORTUNITY_BYTES, Trace};

/// How much the queue may hold (packets waiting, not counting the one being transmitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueLimit {
    /// At most this many packets wait.
    Packets(u32),
    /// At most this many bytes wait.
    Bytes(u64),
}

/// The link's service capacity.
#[derive(Debug, Clone)]
pub enum Capacity {
    /// A constant rate in bits per second.
    Rate {
        /// Bits per second (> 0).
        bps: u64,
    },
    /// A mahimahi delivery-opportunity trace (looping).
    Trace(Trace),
}

/// Everything that defines a link.
#[derive(Debug, Clone)]
pub struct LinkParams {
    /// Service capacity.
    pub capacity: Capacity,
    /// One-way propagation delay after the queue.
    pub prop_delay: SimTime,
    /// Drop-tail limit.
    pub limit: QueueLimit,
    /// Probability that an arriving packet is lost before the queue (Bernoulli, in `[0, 1)`).
    pub loss: f64,
    /// Extra delay drawn uniformly from `[0, jitter]` per packet.
    pub jitter: SimTime,
    /// With jitter: let packets overtake each other. Without, a packet never arrives
    /// before the one ahead of it (jitter only stretches gaps).
    pub reorder: bool,
    /// Mark packets CE when at least this many packets are waiting on arrival.
    pub ecn_threshold: Option<u32>,
}

/// Why a packet was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The drop-tail queue was full.
    QueueFull,
    /// Random (Bernoulli) loss.
    RandomLoss,
}

/// The fate of an admitted packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transit {
    /// Time spent waiting in the queue before service started.
    pub queue_delay: SimTime,
    /// When it finished leaving the link (last bit serialized / its opportunity).
    pub depart: SimTime,
    /// When it reaches the far end (departure + propagation + jitter).
    pub deliver_at: SimTime,
    /// Whether the packet was ECN CE-marked.
    pub ce: bool,
}

/// Result of offering a packet to the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Dropped on arrival.
    Dropped(DropReason),
    /// Admitted; this is when it leaves and arrives.
    Sent(Transit),
}

#[derive(Debug, Clone, Copy)]
struct InLink {
    start: u64,
    depart: u64,
    size: u32,
}

/// Link counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Packets admitted.
    pub admitted_packets: u64,
    /// Packets that have left the link (up to the last [`Link::advance`]).
    pub departed_packets: u64,
    /// Bytes that have left the link.
    pub departed_bytes: u64,
    /// Drop-tail drops.
    pub queue_drops: u64,
    /// Random losses.
    pub random_drops: u64,
    /// CE marks.
    pub ce_marks: u64,
}

/// A bottleneck link. See the module documentation.
#[derive(Debug, Clone)]
pub struct Link {
    params: LinkParams,
    pending: VecDeque<InLink>,
    pending_bytes: u64,
    // fixed-rate server
    busy_until: u64,
    rem: u64,
    // trace server: next opportunity index and bytes left in it
    trace_k: u64,
    trace_credit: u32,
    last_deliver: u64,
    loss_rng: SimRng,
    jitter_rng: SimRng,
    counters: LinkCounters,
}

impl Link {
    /// A new idle link. `seed` keys its loss and jitter random streams.
    pub fn new(params: LinkParams, seed: u64) -> Link {
        Link {
            params,
            pending: VecDeque::with_capacity(256),
            pending_bytes: 0,
            busy_until: 0,
            rem: 0,
            trace_k: 0,
            trace_credit: OPPORTUNITY_BYTES,
            last_deliver: 0,
            loss_rng: SimRng::new(seed, streams::LINK_LOSS),
            jitter_rng: SimRng::new(seed, streams::LINK_JITTER),
            counters: LinkCounters::default(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &LinkParams {
        &self.params
    }

    /// Counters (departures are counted up to the last [`Link::advance`]).
    pub fn counters(&self) -> LinkCounters {
        self.counters
    }

    /// Account for every packet that has left by `now`.
    pub fn advance(&mut self, now: SimTime) {
        while let Some(front) = self.pending.front() {
            if front.depart > now.0 {
                break;
            }
            self.counters.departed_packets += 1;
            self.counters.departed_bytes += u64::from(front.size);
            self.pending_bytes -= u64::from(front.size);
            self.pending.pop_front();
        }
    }

    /// Packets and bytes waiting at `now` (not counting one in service).
    pub fn occupancy(&mut self, now: SimTime) -> (u32, u64) {
        self.advance(now);
        let mut pkts = self.pending.len() as u32;
        let mut bytes = self.pending_bytes;
        if let Some(front) = self.pending.front()
            && front.start <= now.0
        {
            pkts -= 1;
            bytes -= u64::from(front.size);
        }
        (pkts, bytes)
    }

    /// Offer a packet of `size` bytes arriving at `now`.
    pub fn enqueue(&mut self, now: SimTime, size: u32) -> Admission {
        let size = size.max(1);
        if self.params.loss > 0.0 && self.loss_rng.bernoulli(self.params.loss) {
            self.counters.random_drops += 1;
            return Admission::Dropped(DropReason::RandomLoss);
        }
        let (waiting, waiting_bytes) = self.occupancy(now);
        let full = match self.params.limit {
            QueueLimit::Packets(limit) => waiting >= limit,
            QueueLimit::Bytes(limit) => waiting_bytes + u64::from(size) > limit,
        };
        if full {
            self.counters.queue_drops += 1;
            return Admission::Dropped(DropReason::QueueFull);
        }
        let ce = self
            .params
            .ecn_threshold
            .is_some_and(|threshold| waiting >= threshold);
        if ce {
            self.counters.ce_marks += 1;
        }
        let (start, depart) = match &self.params.capacity {
            Capacity::Rate { bps } => {
                let bps = (*bps).max(1);
                let start = now.0.max(self.busy_until);
                let bits_ns =
                    u128::from(size) * 8 * u128::from(NANOS_PER_SEC) + u128::from(self.rem);
                let ser = (bits_ns / u128::from(bps)) as u64;
                self.rem = (bits_ns % u128::from(bps)) as u64;
                let depart = start.saturating_add(ser);
                self.busy_until = depart;
                (start, depart)
            }
            Capacity::Trace(trace) => {
                let first = trace.count_before(now);
                if first > self.trace_k {
                    self.trace_k = first;
                    self.trace_credit = OPPORTUNITY_BYTES;
                }
                let start = trace.opportunity_time(self.trace_k).0;
                let mut remaining = size;
                let mut depart = start;
                while remaining > 0 {
                    let take = remaining.min(self.trace_credit);
                    remaining -= take;
                    self.trace_credit -= take;
                    depart = trace.opportunity_time(self.trace_k).0;
                    if self.trace_credit == 0 {
                        self.trace_k += 1;
                        self.trace_credit = OPPORTUNITY_BYTES;
                    }
                }
                (start, depart)
            }
        };
        let jitter = if self.params.jitter.0 > 0 {
            self.jitter_rng.uniform_inclusive(self.params.jitter.0)
        } else {
            0
        };
        let mut deliver = depart
            .saturating_add(self.params.prop_delay.0)
            .saturating_add(jitter);
        if !self.params.reorder {
            deliver = deliver.max(self.last_deliver);
        }
        self.last_deliver = self.last_deliver.max(deliver);
        self.pending.push_back(InLink {
            start,
            depart,
            size,
        });
        self.pending_bytes += u64::from(size);
        self.counters.admitted_packets += 1;
        Admission::Sent(Transit {
            queue_delay: SimTime(start.saturating_sub(now.0)),
            depart: SimTime(depart),
            deliver_at: SimTime(deliver),
            ce,
        })
    }

    /// Bytes served by `now`: every departed packet, plus the transmitted fraction of the
    /// packet in service (so per-interval utilization never exceeds 1 on slow links).
    pub fn served_bytes(&mut self, now: SimTime) -> f64 {
        self.advance(now);
        let mut served = self.counters.departed_bytes as f64;
        if let Some(front) = self.pending.front()
            && front.start <= now.0
            && front.depart > front.start
        {
            served += f64::from(front.size) * (now.0 - front.start) as f64
                / (front.depart - front.start) as f64;
        }
        served
    }

    /// Bytes the link could have carried in `(from, to]` (a trace opportunity exactly at
    /// `to` counts, like a departure exactly at `to`).
    pub fn capacity_bytes(&self, from: SimTime, to: SimTime) -> f64 {
        if to <= from {
            return 0.0;
        }
        match &self.params.capacity {
            Capacity::Rate { bps } => *bps as f64 * (to.0 - from.0) as f64 / 8e9,
            Capacity::Trace(trace) => {
                (trace.count_before(to + SimTime(1)) - trace.count_before(from + SimTime(1))) as f64
                    * f64::from(OPPORTUNITY_BYTES)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate_link(bps: u64, limit: QueueLimit) -> Link {
        Link::new(
            LinkParams {
                capacity: Capacity::Rate { bps },
                prop_delay: SimTime::from_millis(10),
                limit,
                loss: 0.0,
                jitter: SimTime::ZERO,
                reorder: false,
                ecn_threshold: None,
            },
            1,
        )
    }

    fn sent(a: Admission) -> Transit {
        match a {
            Admission::Sent(t) => t,
            Admission::Dropped(r) => panic!("dropped: {r:?}"),
        }
    }

    #[test]
    fn fixed_rate_serializes_back_to_back() {
        // 96 Mbit/s: a 1500-byte packet takes exactly 125 µs.
        let mut l = rate_link(96_000_000, QueueLimit::Packets(160));
        let t0 = sent(l.enqueue(SimTime::ZERO, 1500));
        assert_eq!(t0.queue_delay, SimTime::ZERO);
        assert_eq!(t0.depart, SimTime::from_micros(125));
        assert_eq!(t0.deliver_at, SimTime::from_micros(10_125));
        let t1 = sent(l.enqueue(SimTime::ZERO, 1500));
        assert_eq!(t1.queue_delay, SimTime::from_micros(125));
        assert_eq!(t1.depart, SimTime::from_micros(250));
        // after the queue drained, a late packet is served at once
        let t2 = sent(l.enqueue(SimTime::from_millis(5), 1500));
        assert_eq!(t2.queue_delay, SimTime::ZERO);
        assert_eq!(t2.depart, SimTime::from_micros(5125));
        l.advance(SimTime::from_millis(6));
        assert_eq!(l.counters().departed_bytes, 4500);
    }

    #[test]
    fn fractional_serialization_does_not_drift() {
        // 7 bit/s-ish odd rate: total time for n packets equals n*bits/rate within 1 ns.
        let bps = 12_345_677;
        let mut l = rate_link(bps, QueueLimit::Packets(10_000));
        let mut last = SimTime::ZERO;
        for _ in 0..1000 {
            last = sent(l.enqueue(SimTime::ZERO, 1500)).depart;
        }
        let exact = 1000.0 * 1500.0 * 8.0 * 1e9 / bps as f64;
        assert!(
            (last.0 as f64 - exact).abs() <= 1.0,
            "{} vs {exact}",
            last.0
        );
    }

    #[test]
    fn drop_tail_by_packets() {
        let mut l = rate_link(96_000_000, QueueLimit::Packets(3));
        // one in service + 3 waiting fit, the fifth is dropped
        for _ in 0..4 {
            sent(l.enqueue(SimTime::ZERO, 1500));
        }
        assert_eq!(l.occupancy(SimTime::ZERO), (3, 4500));
        assert_eq!(
            l.enqueue(SimTime::ZERO, 1500),
            Admission::Dropped(DropReason::QueueFull)
        );
        // after one departure there is room again
        sent(l.enqueue(SimTime::from_micros(125), 1500));
        assert_eq!(l.counters().queue_drops, 1);
    }

    #[test]
    fn drop_tail_by_bytes() {
        let mut l = rate_link(96_000_000, QueueLimit::Bytes(3000));
        sent(l.enqueue(SimTime::ZERO, 1500)); // in service
        sent(l.enqueue(SimTime::ZERO, 1500));
        sent(l.enqueue(SimTime::ZERO, 1500));
        assert_eq!(
            l.enqueue(SimTime::ZERO, 100),
            Admission::Dropped(DropReason::QueueFull)
        );
    }

    #[test]
    fn trace_link_follows_opportunities_and_loops() {
        let trace = Trace::parse("t", "0\n0\n2\n4\n").unwrap(); // period 4 ms
        let mut l = Link::new(
            LinkParams {
                capacity: Capacity::Trace(trace),
                prop_delay: SimTime::ZERO,
                limit: QueueLimit::Packets(100),
                loss: 0.0,
                jitter: SimTime::ZERO,
                reorder: false,
                ecn_threshold: None,
            },
            1,
        );
        let departs: Vec<u64> = (0..8)
            .map(|_| sent(l.enqueue(SimTime::ZERO, 1500)).depart.as_millis())
            .collect();
        // opportunities: 0,0,2,4 | 4,4,6,8 | ...
        assert_eq!(departs, vec![0, 0, 2, 4, 4, 4, 6, 8]);
        // a packet arriving at 8.5 ms after the queue drained uses the next opportunity at 10
        let t = sent(l.enqueue(SimTime::from_micros(8_500), 1500));
        assert_eq!(t.depart.as_millis(), 10);
        assert_eq!(t.queue_delay, SimTime::from_micros(1_500));
        // small packets share one opportunity
        let a = sent(l.enqueue(SimTime::from_millis(11), 700));
        let b = sent(l.enqueue(SimTime::from_millis(11), 700));
        assert_eq!(a.depart, SimTime::from_millis(12));
        assert_eq!(b.depart, SimTime::from_millis(12));
        // opportunities in (0, 4 ms]: 2 ms, 4 ms and the second lap's two at 4 ms (the two
        // at 0 ms are not included)
        assert_eq!(
            l.capacity_bytes(SimTime::ZERO, SimTime::from_millis(4)),
            4.0 * 1500.0
        );
        assert_eq!(
            l.capacity_bytes(SimTime(0), SimTime::from_millis(8)),
            l.capacity_bytes(SimTime(0), SimTime::from_millis(4))
                + l.capacity_bytes(SimTime::from_millis(4), SimTime::from_millis(8))
        );
    }

    #[test]
    fn random_loss_is_seeded() {
        let run = |seed| {
            let mut l = Link::new(
                LinkParams {
                    loss: 0.3,
                    ..rate_link(1_000_000_000, QueueLimit::Packets(100_000)).params
                },
                seed,
            );
            (0..1000)
                .map(|i| matches!(l.enqueue(SimTime(i * 100_000), 100), Admission::Dropped(_)))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
        let losses = run(5).iter().filter(|d| **d).count();
        assert!((200..400).contains(&losses), "{losses}");
    }

    #[test]
    fn jitter_without_reordering_keeps_order() {
        let mut params = rate_link(1_000_000_000, QueueLimit::Packets(100_000)).params;
        params.jitter = SimTime::from_millis(5);
        let mut l = Link::new(params.clone(), 3);
        let mut last = SimTime::ZERO;
        let mut spread = false;
        for i in 0..500 {
            let t = sent(l.enqueue(SimTime(i * 10_000), 1500));
            assert!(t.deliver_at >= last);
            if t.deliver_at > t.depart + SimTime::from_millis(11) {
                spread = true;
            }
            last = t.deliver_at;
        }
        assert!(spread);
        params.reorder = true;
        let mut l = Link::new(params, 3);
        let delivers: Vec<SimTime> = (0..500)
            .map(|i| sent(l.enqueue(SimTime(i * 10_000), 1500)).deliver_at)
            .collect();
        assert!(delivers.windows(2).any(|w| w[1] < w[0]), "no reordering");
    }

    #[test]
    fn ecn_marks_above_threshold() {
        let mut params = rate_link(96_000_000, QueueLimit::Packets(100)).params;
        params.ecn_threshold = Some(2);
        let mut l = Link::new(params, 1);
        let marks: Vec<bool> = (0..5)
            .map(|_| sent(l.enqueue(SimTime::ZERO, 1500)).ce)
            .collect();
        // waiting before each arrival: 0 (first goes to service), 0, 1, 2, 3
        assert_eq!(marks, vec![false, false, false, true, true]);
    }
}
