//! Counters shared between the data plane and the controller.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;

/// Batch and packet counters of one input gate (or of a task's ingress).
#[derive(Debug, Default)]
pub struct GateCounter {
    batches: AtomicU64,
    packets: AtomicU64,
}

/// A snapshot of a [`GateCounter`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GateSnapshot {
    /// Batches seen.
    pub batches: u64,
    /// Packets seen.
    pub packets: u64,
}

impl GateSnapshot {
    /// Counts since `earlier`.
    pub fn since(self, earlier: GateSnapshot) -> GateSnapshot {
        GateSnapshot {
            batches: self.batches.saturating_sub(earlier.batches),
            packets: self.packets.saturating_sub(earlier.packets),
        }
    }
}

impl GateCounter {
    /// Count one batch of `n` packets. Single writer (the worker owning the gate): a
    /// relaxed load + store instead of a locked read-modify-write, readers never block.
    pub fn add(&self, n: usize) {
        let b = self.batches.load(Ordering::Relaxed);
        self.batches.store(b + 1, Ordering::Relaxed);
        let p = self.packets.load(Ordering::Relaxed);
        self.packets.store(p + n as u64, Ordering::Relaxed);
    }

    /// Read without stopping the writer.
    pub fn snapshot(&self) -> GateSnapshot {
        GateSnapshot {
            batches: self.batches.load(Ordering::Relaxed),
            packets: self.packets.load(Ordering::Relaxed),
        }
    }
}

/// Histogram resolution of the egress `Measure` [ns] (Batchy: 50 ns buckets).
pub const MEASURE_RESOLUTION_NS: u64 = 50;
/// Largest recorded delay [ns] (Batchy: 250 ms).
pub const MEASURE_MAX_NS: u64 = 250_000_000;

/// Per-flow egress statistics: delay histogram, packets, bytes.
#[derive(Debug)]
pub struct FlowStats {
    hist: Mutex<Option<Histogram<u64>>>,
    packets: AtomicU64,
    bytes: AtomicU64,
}

impl Default for FlowStats {
    fn default() -> Self {
        Self::new()
    }
}

/// A read-and-clear result of [`FlowStats::take`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FlowSample {
    /// 95th percentile delay [ns] (0 when no packet was measured).
    pub p95: f64,
    /// Mean delay [ns].
    pub mean: f64,
    /// Delays recorded since the last clear.
    pub count: u64,
}

impl FlowStats {
    /// Empty statistics.
    pub fn new() -> Self {
        // 3 significant digits over 1 ns ..= 250 ms: ≤ 0.1 % error, finer than 50 ns buckets.
        let hist = Histogram::new_with_bounds(1, MEASURE_MAX_NS, 3).ok();
        FlowStats {
            hist: Mutex::new(hist),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// Record the delays of a batch as run-length pairs `(delay ns, packets)` (each
    /// delay clamped to the histogram range). Exact: a pair records its delay once per
    /// packet (`record_n`), so equal delays of one batch cost one histogram update.
    pub fn record(&self, delays: &[(u64, u64)], bytes: u64) {
        let packets: u64 = delays.iter().map(|d| d.1).sum();
        self.packets.fetch_add(packets, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Ok(mut g) = self.hist.lock()
            && let Some(h) = g.as_mut()
        {
            for &(d, n) in delays {
                h.saturating_record_n(d.clamp(1, MEASURE_MAX_NS), n);
            }
        }
    }

    /// Packets and bytes counted so far (monotonic).
    pub fn totals(&self) -> (u64, u64) {
        (
            self.packets.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }

    /// Read the delay percentiles and clear the histogram (clear-on-read).
    pub fn take(&self) -> FlowSample {
        match self.hist.lock() {
            Ok(mut g) => {
                let Some(h) = g.as_mut() else {
                    return FlowSample::default();
                };
                let s = FlowSample {
                    p95: if h.is_empty() {
                        0.0
                    } else {
                        h.value_at_quantile(0.95) as f64
                    },
                    mean: h.mean(),
                    count: h.len(),
                };
                h.reset();
                s
            }
            Err(_) => FlowSample::default(),
        }
    }
}
