//! The run-to-completion engine: nodes, tasks, per-worker hierarchical schedulers and the
//! two clocks (real threads, deterministic virtual time).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::module::{Ctx, Module, Now, Out};
use crate::modules::QueueShared;
use crate::packet::{Batch, MAX_BURST};
use crate::stats::GateCounter;

/// Which clock drives the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockMode {
    /// Modules really run on worker threads.
    Real,
    /// Deterministic simulation: module v costs T0 + T1·b ns of virtual time.
    #[default]
    Virtual,
}

/// A node of a worker's graph.
pub struct Node {
    /// Instance name.
    pub name: String,
    /// The module.
    pub module: Box<dyn Module>,
    /// Output gates: (destination node, destination igate).
    pub ogates: Vec<Option<(usize, usize)>>,
    /// Number of edges into each igate (> 1 ⇒ mergeable).
    pub indeg: Vec<u32>,
    /// Per-igate counters (task roots: produced batches on igate 0).
    pub counters: Arc<[GateCounter]>,
    /// Virtual cost (T0 ns per batch, T1 ns per packet).
    pub vcost: (f64, f64),
    /// Topological priority (smaller = more upstream).
    pub prio: u32,
    pending: Vec<(usize, Batch)>,
    queued: bool,
}

impl Node {
    /// A node with `igates` input gates and no outputs wired.
    pub fn new(name: String, module: Box<dyn Module>, igates: usize, vcost: (f64, f64)) -> Self {
        let counters: Vec<GateCounter> =
            (0..igates.max(1)).map(|_| GateCounter::default()).collect();
        Node {
            name,
            module,
            ogates: Vec::new(),
            indeg: vec![0; igates.max(1)],
            counters: counters.into(),
            vcost,
            prio: 0,
            pending: Vec::new(),
            queued: false,
        }
    }
}

/// A schedulable task of a worker.
pub struct TaskRt {
    /// Task name.
    pub name: String,
    /// Root node (source or queue dequeue side).
    pub root: usize,
    /// Queues whose overload blocks this task (backpressure).
    pub blocked_by: Vec<Arc<QueueShared>>,
    /// Leaf traffic class.
    pub leaf_tc: usize,
    /// Time spent in the task [ns] (real or virtual), for cycles/packet.
    pub busy_ns: Arc<AtomicU64>,
    /// Non-empty invocations and packets produced.
    pub ingress: Arc<GateCounter>,
}

/// Resource a traffic class accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Invocations.
    Count,
    /// CPU time (ns).
    Cycle,
    /// Packets.
    Packet,
    /// Bits.
    Bit,
}

/// Scheduling policy of a traffic class.
#[derive(Debug, Clone)]
pub enum TcKind {
    /// Round robin over children.
    RoundRobin {
        /// Next child to try.
        next: usize,
    },
    /// Stride scheduling over children by `resource`.
    WeightedFair(Resource),
    /// Token bucket on `resource` in front of one child.
    RateLimit {
        /// Resource limited.
        resource: Resource,
        /// Units per second.
        limit: f64,
        /// Current tokens (may go negative).
        tokens: f64,
        /// Bucket depth.
        depth: f64,
        /// Last refill time [ns].
        last: u64,
    },
    /// A task.
    Leaf(usize),
}

/// A traffic class (node of the scheduler tree).
#[derive(Debug, Clone)]
pub struct Tc {
    /// Name (for logs).
    pub name: String,
    /// Policy.
    pub kind: TcKind,
    /// Children.
    pub children: Vec<usize>,
    /// Parent.
    pub parent: Option<usize>,
    /// Share under a weighted-fair parent.
    pub share: f64,
    /// Stride pass value under a weighted-fair parent.
    pub pass: f64,
}

/// Usage of one task invocation.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    ns: f64,
    packets: f64,
    bits: f64,
}

impl Usage {
    fn of(&self, r: Resource) -> f64 {
        match r {
            Resource::Count => 1.0,
            Resource::Cycle => self.ns,
            Resource::Packet => self.packets,
            Resource::Bit => self.bits,
        }
    }
}

/// One worker (one core): nodes, tasks and its scheduler.
pub struct Worker {
    /// Worker name.
    pub name: String,
    /// Graph nodes placed on this worker.
    pub nodes: Vec<Node>,
    /// Tasks.
    pub tasks: Vec<TaskRt>,
    /// Traffic classes; index 0 is the root.
    pub tcs: Vec<Tc>,
    rng: SmallRng,
    out: Out,
    stack: Vec<(usize, usize, Batch)>,
    emit_buf: Vec<(usize, Batch)>,
    chain_buf: Vec<(usize, usize, Batch)>,
    heap: BinaryHeap<Reverse<(u32, usize)>>,
    /// Virtual clock [ns].
    pub vclock: u64,
    next_ready: Option<u64>,
    /// Virtual per-invocation scheduling overhead [ns].
    pub task_overhead_ns: f64,
    /// TSC GHz (Bypass).
    pub tsc_ghz: f64,
    /// Packets dropped inside this worker (unconnected gates, module drops).
    pub drops: Arc<AtomicU64>,
}

/// Index of the QoS class in a worker built by [`Worker::new`].
pub const TC_QOS: usize = 1;
/// Index of the bulk round-robin class.
pub const TC_BULK: usize = 3;

impl Worker {
    /// A worker with Batchy's TC layout: root weighted_fair(count) → {qos
    /// weighted_fair(count), bulk rate_limit(1e9 pps) → bulk round_robin}.
    pub fn new(name: String, seed: u64, tsc_ghz: f64, task_overhead_ns: f64) -> Self {
        let tc = |name: &str, kind, parent| Tc {
            name: name.into(),
            kind,
            children: Vec::new(),
            parent,
            share: 1.0,
            pass: 0.0,
        };
        let mut tcs = vec![
            tc("root", TcKind::WeightedFair(Resource::Count), None),
            tc("qos", TcKind::WeightedFair(Resource::Count), Some(0)),
            tc(
                "bulk_root",
                TcKind::RateLimit {
                    resource: Resource::Packet,
                    limit: 1e9,
                    tokens: 0.0,
                    depth: 1e9 * 1e-3,
                    last: 0,
                },
                Some(0),
            ),
            tc("bulk", TcKind::RoundRobin { next: 0 }, Some(2)),
        ];
        tcs[0].children = vec![1, 2];
        tcs[2].children = vec![3];
        Worker {
            name,
            nodes: Vec::new(),
            tasks: Vec::new(),
            tcs,
            rng: SmallRng::seed_from_u64(seed),
            out: Out::new(),
            stack: Vec::new(),
            emit_buf: Vec::new(),
            chain_buf: Vec::new(),
            heap: BinaryHeap::new(),
            vclock: 0,
            next_ready: None,
            task_overhead_ns,
            tsc_ghz,
            drops: Arc::new(AtomicU64::new(0)),
        }
    }

    fn add_tc(&mut self, name: String, kind: TcKind, parent: usize) -> usize {
        let id = self.tcs.len();
        self.tcs.push(Tc {
            name,
            kind,
            children: Vec::new(),
            parent: Some(parent),
            share: 1.0,
            pass: 0.0,
        });
        self.tcs[parent].children.push(id);
        id
    }

    /// Add a task rooted at `root`; `rate_limit` (pps) puts it into the QoS class behind
    /// a token bucket, otherwise it joins the bulk round robin.
    pub fn add_task(
        &mut self,
        name: String,
        root: usize,
        rate_limit: Option<(Resource, f64)>,
        blocked_by: Vec<Arc<QueueShared>>,
    ) -> usize {
        let tid = self.tasks.len();
        let leaf_parent = match rate_limit {
            Some((resource, limit)) => self.add_tc(
                format!("{name}_rl"),
                TcKind::RateLimit {
                    resource,
                    limit,
                    tokens: 0.0,
                    depth: (limit * 1e-3).max(2.0 * MAX_BURST as f64),
                    last: 0,
                },
                TC_QOS,
            ),
            None => TC_BULK,
        };
        let leaf = self.add_tc(name.clone(), TcKind::Leaf(tid), leaf_parent);
        self.tasks.push(TaskRt {
            name,
            root,
            blocked_by,
            leaf_tc: leaf,
            busy_ns: Arc::new(AtomicU64::new(0)),
            ingress: Arc::new(GateCounter::default()),
        });
        tid
    }

    fn runnable(&self, t: usize) -> bool {
        !self.tasks[t].blocked_by.iter().any(|q| q.overloaded())
    }

    fn pick(&mut self, tc: usize, now: u64) -> Option<usize> {
        match self.tcs[tc].kind.clone() {
            TcKind::Leaf(t) => self.runnable(t).then_some(t),
            TcKind::RateLimit {
                resource,
                limit,
                tokens,
                depth,
                last,
            } => {
                let refill = now.saturating_sub(last) as f64 * limit / 1e9;
                let tokens = (tokens + refill).min(depth);
                self.tcs[tc].kind = TcKind::RateLimit {
                    resource,
                    limit,
                    tokens,
                    depth,
                    last: now,
                };
                if tokens < 0.0 {
                    let wait = (-tokens / limit.max(1e-9) * 1e9).ceil() as u64 + 1;
                    let ready = now + wait;
                    self.next_ready = Some(self.next_ready.map_or(ready, |r| r.min(ready)));
                    return None;
                }
                let c = *self.tcs[tc].children.first()?;
                self.pick(c, now)
            }
            TcKind::RoundRobin { next } => {
                let n = self.tcs[tc].children.len();
                for i in 0..n {
                    let c = self.tcs[tc].children[(next + i) % n];
                    if let Some(t) = self.pick(c, now) {
                        self.tcs[tc].kind = TcKind::RoundRobin {
                            next: (next + i + 1) % n,
                        };
                        return Some(t);
                    }
                }
                None
            }
            TcKind::WeightedFair(_) => {
                // Children in increasing pass order (ties: child order), without
                // allocating: select the smallest untried pass each time.
                let n = self.tcs[tc].children.len();
                if n > 128 {
                    let mut order = self.tcs[tc].children.clone();
                    order.sort_by(|a, b| self.tcs[*a].pass.total_cmp(&self.tcs[*b].pass));
                    return order.into_iter().find_map(|c| self.pick(c, now));
                }
                let mut tried = 0u128;
                for _ in 0..n {
                    let mut best: Option<(usize, f64)> = None;
                    for (i, &c) in self.tcs[tc].children.iter().enumerate() {
                        let pass = self.tcs[c].pass;
                        if tried & (1 << i) == 0
                            && best.is_none_or(|(_, bp)| pass.total_cmp(&bp).is_lt())
                        {
                            best = Some((i, pass));
                        }
                    }
                    let Some((i, _)) = best else { break };
                    tried |= 1 << i;
                    let c = self.tcs[tc].children[i];
                    if let Some(t) = self.pick(c, now) {
                        return Some(t);
                    }
                }
                None
            }
        }
    }

    fn account(&mut self, leaf: usize, u: Usage) {
        let mut child = leaf;
        while let Some(p) = self.tcs[child].parent {
            match &mut self.tcs[p].kind {
                TcKind::WeightedFair(r) => {
                    let r = *r;
                    let share = self.tcs[child].share.max(1e-9);
                    self.tcs[child].pass += u.of(r) / share;
                }
                TcKind::RateLimit {
                    resource, tokens, ..
                } => {
                    *tokens -= u.of(*resource);
                }
                _ => {}
            }
            child = p;
        }
    }

    /// Run one scheduling step at time `now` (virtual: the worker clock). Returns the
    /// packets produced, or None when no task was runnable.
    pub fn step(&mut self, epoch: Option<Instant>) -> Option<usize> {
        let start = Instant::now();
        let now = match epoch {
            Some(e) => start.saturating_duration_since(e).as_nanos() as u64,
            None => self.vclock,
        };
        self.next_ready = None;
        let t = self.pick(0, now)?;
        let (pkts, bits, vns) = self.run_task(t, epoch);
        let ns = match epoch {
            Some(_) => start.elapsed().as_nanos() as f64,
            None => vns,
        };
        self.tasks[t]
            .busy_ns
            .fetch_add(ns as u64, Ordering::Relaxed);
        let leaf = self.tasks[t].leaf_tc;
        self.account(
            leaf,
            Usage {
                ns,
                packets: pkts as f64,
                bits: bits as f64,
            },
        );
        Some(pkts)
    }

    /// Earliest time a rate-limited class becomes eligible (after a failed `step`).
    pub fn next_ready(&self) -> Option<u64> {
        self.next_ready
    }

    fn exec(
        &mut self,
        node: usize,
        igate: usize,
        batch: Batch,
        epoch: Option<Instant>,
        vt: &mut f64,
    ) {
        let n = batch.len();
        let nd = &mut self.nodes[node];
        if let Some(c) = nd.counters.get(igate) {
            c.add(n);
        }
        let now = match epoch {
            Some(e) => Now::Real(e),
            None => Now::Virtual(self.vclock + *vt as u64),
        };
        let mut ctx = Ctx {
            now,
            rng: &mut self.rng,
            tsc_ghz: self.tsc_ghz,
        };
        nd.module.process(&mut ctx, igate, batch, &mut self.out);
        *vt += nd.vcost.0 + nd.vcost.1 * n as f64;
        self.dispatch(node);
    }

    fn dispatch(&mut self, node: usize) {
        let Worker {
            nodes,
            out,
            stack,
            emit_buf,
            chain_buf,
            heap,
            drops,
            ..
        } = self;
        let mut dropped = std::mem::take(&mut out.dropped);
        out.drain(|g, b| emit_buf.push((g, b)));
        // Mergeable igates collect batches (in ogate order); chained igates run
        // depth-first in ogate order, so they are pushed in reverse on the stack.
        for (g, b) in emit_buf.drain(..) {
            match nodes[node].ogates.get(g).copied().flatten() {
                None => {
                    dropped += b.len() as u64;
                    out.recycle_packets(b);
                }
                Some((dst, ig)) => {
                    if nodes[dst].indeg.get(ig).copied().unwrap_or(1) > 1 {
                        merge_pending(nodes, heap, dst, ig, b, out);
                    } else {
                        chain_buf.push((dst, ig, b));
                    }
                }
            }
        }
        stack.extend(chain_buf.drain(..).rev());
        if dropped > 0 {
            drops.fetch_add(dropped, Ordering::Relaxed);
        }
    }

    /// Run task `t` to completion. Returns (packets produced, bits, virtual ns).
    fn run_task(&mut self, t: usize, epoch: Option<Instant>) -> (usize, u64, f64) {
        let root = self.tasks[t].root;
        let mut vt = self.task_overhead_ns;
        // Produce.
        let nd = &mut self.nodes[root];
        let now = match epoch {
            Some(e) => Now::Real(e),
            None => Now::Virtual(self.vclock),
        };
        let mut ctx = Ctx {
            now,
            rng: &mut self.rng,
            tsc_ghz: self.tsc_ghz,
        };
        nd.module.process(&mut ctx, 0, Vec::new(), &mut self.out);
        let mut pkts = 0usize;
        let mut bits = 0u64;
        let mut produced = std::mem::take(&mut self.emit_buf);
        self.out.drain(|g, b| produced.push((g, b)));
        for (_, b) in &produced {
            pkts += b.len();
            bits += b.iter().map(|p| p.len() as u64 * 8).sum::<u64>();
        }
        if pkts > 0 {
            self.tasks[t].ingress.add(pkts);
            vt += nd.vcost.0 + nd.vcost.1 * pkts as f64;
        }
        for (g, b) in produced.drain(..).rev() {
            match self.nodes[root].ogates.get(g).copied().flatten() {
                Some((dst, ig)) => self.stack.push((dst, ig, b)),
                None => {
                    self.drops.fetch_add(b.len() as u64, Ordering::Relaxed);
                    self.out.recycle_packets(b);
                }
            }
        }
        self.emit_buf = produced;
        loop {
            while let Some((node, ig, b)) = self.stack.pop() {
                self.exec(node, ig, b, epoch, &mut vt);
            }
            let Some(Reverse((_, node))) = self.heap.pop() else {
                break;
            };
            let nd = &mut self.nodes[node];
            nd.queued = false;
            self.stack
                .extend(nd.pending.drain(..).rev().map(|(ig, b)| (node, ig, b)));
        }
        if epoch.is_none() {
            self.vclock += vt.round() as u64;
        }
        (pkts, bits, vt)
    }
}

/// Queue `b` on the mergeable igate `ig` of `dst`, appending to the last pending batch
/// of that igate while the sum stays ≤ 32.
fn merge_pending(
    nodes: &mut [Node],
    heap: &mut BinaryHeap<Reverse<(u32, usize)>>,
    dst: usize,
    ig: usize,
    mut b: Batch,
    out: &mut Out,
) {
    let nd = &mut nodes[dst];
    if let Some((_, last)) = nd.pending.iter_mut().rev().find(|(g, _)| *g == ig)
        && last.len() + b.len() <= MAX_BURST
    {
        last.append(&mut b);
        out.recycle(b);
    } else {
        nd.pending.push((ig, b));
    }
    if !nd.queued {
        nd.queued = true;
        heap.push(Reverse((nd.prio, dst)));
    }
}

/// The set of workers plus the clock.
pub struct Engine {
    /// Workers.
    pub workers: Vec<Worker>,
    /// Clock mode.
    pub clock: ClockMode,
    /// Real-clock epoch.
    pub epoch: Instant,
    /// Virtual "now" of the control plane [ns].
    pub vnow: u64,
}

/// Idle step when no worker can make progress and no event is pending [ns].
const IDLE_QUANTUM_NS: u64 = 100;

impl Engine {
    /// An engine over `workers`.
    pub fn new(workers: Vec<Worker>, clock: ClockMode) -> Self {
        Engine {
            workers,
            clock,
            epoch: Instant::now(),
            vnow: 0,
        }
    }

    /// Current control-plane time [ns].
    pub fn now_ns(&self) -> u64 {
        match self.clock {
            ClockMode::Real => self.epoch.elapsed().as_nanos() as u64,
            ClockMode::Virtual => self.vnow,
        }
    }

    /// Virtual clock: run every worker until `vnow + dur_ns`, always stepping the worker
    /// with the smallest clock (ties: lowest index) — fully deterministic.
    pub fn advance_virtual(&mut self, dur_ns: u64) {
        let end = self.vnow + dur_ns;
        while let Some((w, _)) = self
            .workers
            .iter()
            .enumerate()
            .filter(|(_, w)| w.vclock < end)
            .min_by_key(|(i, w)| (w.vclock, *i))
        {
            if self.workers[w].step(None).is_none() {
                let own = self.workers[w].vclock;
                let ahead = self
                    .workers
                    .iter()
                    .enumerate()
                    .filter(|(i, o)| *i != w && o.vclock > own)
                    .map(|(_, o)| o.vclock)
                    .min();
                let mut next = ahead.unwrap_or(own + IDLE_QUANTUM_NS);
                if let Some(r) = self.workers[w].next_ready()
                    && r > own
                {
                    next = next.min(r);
                }
                self.workers[w].vclock = next.max(own + 1).min(end);
            }
        }
        self.vnow = end;
    }

    /// Real clock: run every worker on its own thread while `control` runs on the
    /// calling thread; the workers stop when `control` returns.
    pub fn run_real<R>(&mut self, control: impl FnOnce(&Self) -> R) -> R {
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = std::mem::take(&mut self.workers);
        let epoch = self.epoch;
        let result = std::thread::scope(|s| {
            for w in workers.iter_mut() {
                let stop = stop.clone();
                s.spawn(move || {
                    let mut idle = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        if w.step(Some(epoch)).is_some() {
                            idle = 0;
                        } else {
                            idle += 1;
                            if idle > 64 {
                                std::thread::yield_now();
                                idle = 0;
                            } else {
                                std::hint::spin_loop();
                            }
                        }
                    }
                });
            }
            let view = Engine {
                workers: Vec::new(),
                clock: ClockMode::Real,
                epoch,
                vnow: 0,
            };
            let r = control(&view);
            stop.store(true, Ordering::Relaxed);
            r
        });
        self.workers = workers;
        result
    }
}
