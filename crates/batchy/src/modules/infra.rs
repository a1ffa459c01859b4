//! Infrastructure modules: traffic source, timestamp, measure, sink and task queues.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;
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
pub struct Measure {
    flows: Arc<[Arc<FlowStats>]>,
    fixed: Option<u32>,
    delays: Vec<u64>,
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
            while i < batch.len() && self.fixed.unwrap_or(batch[i].meta.flow) == flow {
                self.delays.push(now.saturating_sub(batch[i].meta.ts));
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
#[derive(Debug)]
pub struct QueueShared {
    ring: ArrayQueue<Packet>,
    backpressure: bool,
    overloaded: AtomicBool,
    drops: AtomicU64,
}

impl QueueShared {
    /// A ring of `size` packets.
    pub fn new(size: usize, backpressure: bool) -> Self {
        QueueShared {
            ring: ArrayQueue::new(size.max(1)),
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
        self.ring.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }
}

/// Enqueue side of a queue.
pub struct QueueIn(pub Arc<QueueShared>);

impl Module for QueueIn {
    fn class(&self) -> &'static str {
        "Queue"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, batch: Batch, _out: &mut Out) {
        let q = &self.0;
        for p in batch {
            if q.ring.push(p).is_err() {
                q.drops.fetch_add(1, Ordering::Relaxed);
            }
        }
        if q.ring.len() as f64 > BACKPRESSURE_HIGH * q.ring.capacity() as f64 {
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
        while batch.len() < MAX_BURST {
            match q.ring.pop() {
                Some(p) => batch.push(p),
                None => break,
            }
        }
        if (q.ring.len() as f64) < BACKPRESSURE_LOW * q.ring.capacity() as f64 {
            q.overloaded.store(false, Ordering::Relaxed);
        }
        if batch.is_empty() {
            out.recycle(batch);
        } else {
            out.emit(0, batch);
        }
    }
}
