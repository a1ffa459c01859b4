//! Infrastructure modules: traffic source, timestamp, measure, sink and task queues.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;

use crate::module::{Ctx, Module, Out};
use crate::packet::{Batch, MAX_BURST, Packet};
use crate::stats::FlowStats;

/// One flow fed by a [`Source`].
#[derive(Debug, Clone)]
pub struct SourceFlow {
    /// Flow index (written into packet metadata).
    pub flow: u32,
    /// Packet templates (frame bytes).
    pub templates: Vec<Vec<u8>>,
    /// Relative weight (≥ 1).
    pub weight: u32,
    /// Consecutive repeats of each packet (burstiness, ≥ 1).
    pub burst: u32,
}

/// Template-based traffic generator (Source + Rewrite of BESS), also used for pcap loops.
pub struct Source {
    seq: Vec<(u32, Arc<[u8]>)>,
    pos: usize,
    burst_size: usize,
}

impl Source {
    /// Build the packet sequence: each flow's templates repeated weight×burst times,
    /// shuffled (seeded) unless some flow asks for bursts of ≥ 2.
    pub fn new(flows: &[SourceFlow], burst_size: usize, seed: u64) -> Result<Self, String> {
        let mut seq = Vec::new();
        let mut bursty = false;
        for f in flows {
            if f.templates.is_empty() {
                return Err(format!("flow #{} has no packet template", f.flow));
            }
            bursty |= f.burst >= 2;
            for t in &f.templates {
                let t: Arc<[u8]> = Arc::from(t.as_slice());
                for _ in 0..f.weight.max(1) {
                    for _ in 0..f.burst.max(1) {
                        seq.push((f.flow, t.clone()));
                    }
                }
            }
        }
        if seq.is_empty() {
            return Err("source without flows".into());
        }
        if !bursty {
            let mut rng = SmallRng::seed_from_u64(seed);
            seq.shuffle(&mut rng);
        }
        Ok(Source {
            seq,
            pos: 0,
            burst_size: burst_size.clamp(1, MAX_BURST),
        })
    }

    /// A source replaying a fixed sequence of frames (pcap loop), all for one flow.
    pub fn replay(flow: u32, frames: Vec<Vec<u8>>, burst_size: usize) -> Result<Self, String> {
        if frames.is_empty() {
            return Err("no packets to replay".into());
        }
        Ok(Source {
            seq: frames
                .into_iter()
                .map(|f| (flow, Arc::from(f.as_slice())))
                .collect(),
            pos: 0,
            burst_size: burst_size.clamp(1, MAX_BURST),
        })
    }

    /// Change the burst size (profiler sweeps).
    pub fn set_burst_size(&mut self, b: usize) {
        self.burst_size = b.clamp(1, MAX_BURST);
    }
}

impl Module for Source {
    fn class(&self) -> &'static str {
        "Source"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, _b: Batch, out: &mut Out) {
        let mut batch = out.new_batch();
        for _ in 0..self.burst_size {
            let (flow, bytes) = &self.seq[self.pos];
            self.pos = (self.pos + 1) % self.seq.len();
            let mut p = out.new_packet(bytes);
            p.meta.flow = *flow;
            batch.push(p);
        }
        out.emit(0, batch);
    }
}

/// Writes the current time into each packet's metadata (`meta.ts`).
pub struct Timestamp;

impl Module for Timestamp {
    fn class(&self) -> &'static str {
        "Timestamp"
    }
    fn process(&mut self, ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        let now = ctx.now_ns();
        for p in &mut batch {
            p.meta.ts = now;
        }
        out.emit(0, batch);
    }
}

/// Egress measurement: records `now − ts` into the packet's flow histogram.
///
/// One clock read per batch (as BESS's `Measure`); consecutive packets of one flow with
/// the same timestamp (one source batch) are recorded as one `(delay, count)` pair —
/// the histogram content is the same as recording each packet.
pub struct Measure {
    flows: Arc<[Arc<FlowStats>]>,
    fixed: Option<u32>,
    delays: Vec<(u64, u64)>,
}

impl Measure {
    /// Measure into the given per-flow statistics (indexed by `meta.flow`).
    /// With `fixed = Some(f)` every packet counts for flow `f` (a per-flow Measure at a
    /// flow's private egress, as in the original).
    pub fn new(flows: Arc<[Arc<FlowStats>]>, fixed: Option<u32>) -> Self {
        Measure {
            flows,
            fixed,
            delays: Vec::with_capacity(MAX_BURST),
        }
    }
}

impl Module for Measure {
    fn class(&self) -> &'static str {
        "Measure"
    }
    fn process(&mut self, ctx: &mut Ctx<'_>, _ig: usize, batch: Batch, out: &mut Out) {
        let now = ctx.now_ns();
        let mut i = 0;
        while i < batch.len() {
            let flow = self.fixed.unwrap_or(batch[i].meta.flow);
            self.delays.clear();
            let mut bytes = 0u64;
            let mut last_ts = None;
            while i < batch.len() && self.fixed.unwrap_or(batch[i].meta.flow) == flow {
                let ts = batch[i].meta.ts;
                match self.delays.last_mut() {
                    Some(run) if last_ts == Some(ts) => run.1 += 1,
                    _ => self.delays.push((now.saturating_sub(ts), 1)),
                }
                last_ts = Some(ts);
                bytes += batch[i].len() as u64;
                i += 1;
            }
            if let Some(fs) = self.flows.get(flow as usize) {
                fs.record(&self.delays, bytes);
            }
        }
        out.emit(0, batch);
    }
}

/// Discards packets.
pub struct Sink;

impl Module for Sink {
    fn class(&self) -> &'static str {
        "Sink"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, batch: Batch, out: &mut Out) {
        out.recycle_packets(batch);
    }
}

/// High/low watermarks of queue backpressure (fractions of capacity).
pub const BACKPRESSURE_HIGH: f64 = 0.9;
/// Low watermark.
pub const BACKPRESSURE_LOW: f64 = 0.15;

/// The ring shared by a queue's enqueue side and its dequeue task.
///
/// A bounded FIFO of packet handles behind a mutex taken once per batch (enqueue or
/// dequeue of up to 32 packets), not once per packet: per-packet cost is one 8-byte
/// move. The overload flag is an atomic read by the scheduler without the lock.
#[derive(Debug)]
pub struct QueueShared {
    ring: Mutex<VecDeque<Packet>>,
    capacity: usize,
    backpressure: bool,
    overloaded: AtomicBool,
    drops: AtomicU64,
}

impl QueueShared {
    /// A ring of `size` packets.
    pub fn new(size: usize, backpressure: bool) -> Self {
        let capacity = size.max(1);
        QueueShared {
            ring: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
            backpressure,
            overloaded: AtomicBool::new(false),
            drops: AtomicU64::new(0),
        }
    }

    /// True while upstream tasks must be held back.
    pub fn overloaded(&self) -> bool {
        self.backpressure && self.overloaded.load(Ordering::Relaxed)
    }

    /// Packets dropped at enqueue because the ring was full.
    pub fn drops(&self) -> u64 {
        self.drops.load(Ordering::Relaxed)
    }

    /// Current occupancy.
    pub fn len(&self) -> usize {
        self.ring.lock().map_or(0, |r| r.len())
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn high(&self, len: usize) -> bool {
        len as f64 > BACKPRESSURE_HIGH * self.capacity as f64
    }

    fn low(&self, len: usize) -> bool {
        (len as f64) < BACKPRESSURE_LOW * self.capacity as f64
    }
}

/// Enqueue side of a queue.
pub struct QueueIn(pub Arc<QueueShared>);

impl Module for QueueIn {
    fn class(&self) -> &'static str {
        "Queue"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        let q = &self.0;
        let Ok(mut ring) = q.ring.lock() else {
            q.drops.fetch_add(batch.len() as u64, Ordering::Relaxed);
            out.recycle_packets(batch);
            return;
        };
        let room = q.capacity.saturating_sub(ring.len()).min(batch.len());
        ring.extend(batch.drain(..room));
        let len = ring.len();
        drop(ring);
        if !batch.is_empty() {
            q.drops.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
        out.recycle_packets(batch);
        if q.high(len) {
            q.overloaded.store(true, Ordering::Relaxed);
        }
    }
}

/// Dequeue side of a queue: a task module emitting up to 32 packets per call.
pub struct QueueOut(pub Arc<QueueShared>);

impl Module for QueueOut {
    fn class(&self) -> &'static str {
        "QueueInc"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, _b: Batch, out: &mut Out) {
        let q = &self.0;
        let mut batch = out.new_batch();
        let len = match q.ring.lock() {
            Ok(mut ring) => {
                let n = ring.len().min(MAX_BURST);
                batch.extend(ring.drain(..n));
                ring.len()
            }
            Err(_) => 0,
        };
        if q.low(len) {
            q.overloaded.store(false, Ordering::Relaxed);
        }
        if batch.is_empty() {
            out.recycle(batch);
        } else {
            out.emit(0, batch);
        }
    }
}
