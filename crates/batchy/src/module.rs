//! The module abstraction: input batches in, per-output-gate packets out.

use std::time::Instant;

use rand::rngs::SmallRng;

use crate::packet::{Batch, MAX_BURST, Packet};

/// Time source seen by modules during one execution.
#[derive(Debug, Clone, Copy)]
pub enum Now {
    /// Real clock: nanoseconds since `epoch`.
    Real(Instant),
    /// Virtual clock: the current virtual time in ns.
    Virtual(u64),
}

/// Execution context handed to a module.
pub struct Ctx<'a> {
    /// Time source.
    pub now: Now,
    /// Deterministic per-worker random generator.
    pub rng: &'a mut SmallRng,
    /// TSC frequency used to convert cycles to ns (Bypass).
    pub tsc_ghz: f64,
}

impl Ctx<'_> {
    /// Current time in ns (real: since the engine epoch; virtual: the virtual clock).
    pub fn now_ns(&self) -> u64 {
        match self.now {
            Now::Real(epoch) => epoch.elapsed().as_nanos() as u64,
            Now::Virtual(t) => t,
        }
    }

    /// True when running on the real clock (Bypass then busy-waits).
    pub fn is_real(&self) -> bool {
        matches!(self.now, Now::Real(_))
    }
}

/// Output collector of one module execution.
#[derive(Default)]
pub struct Out {
    gates: Vec<Batch>,
    /// Gates < 64 that received packets since the last drain (bit per gate).
    used: u64,
    /// Some gate ≥ 64 received packets since the last drain (scan them all).
    used_high: bool,
    explicit: Vec<(usize, Batch)>,
    spare: Vec<Batch>,
    free: Vec<Packet>,
    /// Packets dropped by the module during this execution.
    pub dropped: u64,
}

impl Out {
    /// A fresh, empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Send one packet out of `gate` (packets of one gate form one batch).
    #[inline]
    pub fn push(&mut self, gate: usize, p: Packet) {
        if self.gates.len() <= gate {
            self.gates.resize_with(gate + 1, Vec::new);
        }
        if gate < 64 {
            self.used |= 1 << gate;
        } else {
            self.used_high = true;
        }
        self.gates[gate].push(p);
    }

    /// Emit a whole batch on `gate` as its own downstream batch (kept separate from
    /// other batches of the same gate; used by the fractional buffer).
    pub fn emit(&mut self, gate: usize, b: Batch) {
        if !b.is_empty() {
            self.explicit.push((gate, b));
        }
    }

    /// Drop a packet.
    pub fn drop_packet(&mut self, p: Packet) {
        self.dropped += 1;
        if self.free.len() < 4096 {
            self.free.push(p);
        }
    }

    /// An empty batch with room for [`MAX_BURST`] packets (recycled when possible).
    pub fn new_batch(&mut self) -> Batch {
        self.spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(MAX_BURST))
    }

    /// A packet holding a copy of `bytes`, reusing a recycled packet buffer if any.
    pub fn new_packet(&mut self, bytes: &[u8]) -> Packet {
        match self.free.pop() {
            Some(mut p) => {
                p.set_bytes(bytes);
                p
            }
            None => Packet::from_bytes(bytes),
        }
    }

    /// Recycle the packets of a batch (and the batch vector) for later `new_packet`s.
    pub fn recycle_packets(&mut self, mut b: Batch) {
        if self.free.len() < 4096 {
            self.free.append(&mut b);
        }
        self.recycle(b);
    }

    /// Give an emptied batch vector back for reuse.
    pub fn recycle(&mut self, mut b: Batch) {
        b.clear();
        if self.spare.len() < 64 {
            self.spare.push(b);
        }
    }

    /// Move all outputs, in order (explicit batches first, then per-gate batches in gate
    /// order), into `sink`.
    pub fn drain(&mut self, mut sink: impl FnMut(usize, Batch)) {
        for (g, b) in self.explicit.drain(..) {
            sink(g, b);
        }
        // Only the gates used since the last drain, in gate order.
        let mut used = std::mem::take(&mut self.used);
        let high = std::mem::take(&mut self.used_high);
        while used != 0 {
            let g = used.trailing_zeros() as usize;
            used &= used - 1;
            self.drain_gate(g, &mut sink);
        }
        if high {
            for g in 64..self.gates.len() {
                self.drain_gate(g, &mut sink);
            }
        }
    }

    fn drain_gate(&mut self, g: usize, sink: &mut impl FnMut(usize, Batch)) {
        if self.gates[g].is_empty() {
            return;
        }
        let fresh = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(MAX_BURST));
        let b = std::mem::replace(&mut self.gates[g], fresh);
        sink(g, b);
    }
}

/// A packet-processing module (an NF or an NF building block).
pub trait Module: Send {
    /// The module class name (as used by the profiler and in configs).
    fn class(&self) -> &'static str;

    /// Process one input batch arriving on `igate`. Task modules (sources, queues) are
    /// called with an empty batch and produce packets.
    fn process(&mut self, ctx: &mut Ctx<'_>, igate: usize, batch: Batch, out: &mut Out);

    /// Intrinsic service-time model (T0 ns per batch, T1 ns per packet) used by the
    /// virtual clock when the script gives none.
    fn virtual_cost(&self, _tsc_ghz: f64) -> (f64, f64) {
        (0.0, 0.0)
    }
}
