//! The fractional buffer (controlled queue), spec §1.5.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::module::{Ctx, Module, Out};
use crate::packet::{Batch, MAX_BURST};

/// Error of [`Trigger::set`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TriggerError {
    /// The requested trigger exceeds the batch size.
    #[error("trigger {0} out of range 0..=32")]
    OutOfRange(u32),
}

/// Shared, atomically updated trigger of a fractional buffer.
#[derive(Debug, Default)]
pub struct Trigger(AtomicU32);

impl Trigger {
    /// Current trigger.
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// Set the trigger (validates the *new* value; reference bug §7 item 6 fixed).
    pub fn set(&self, q: u32) -> Result<(), TriggerError> {
        if q as usize > MAX_BURST {
            return Err(TriggerError::OutOfRange(q));
        }
        self.0.store(q, Ordering::Relaxed);
        Ok(())
    }
}

/// Fractional buffer: re-batches arriving packets into batches of exactly `q` packets.
///
/// No task and no timer: it only acts when a batch arrives. With `q = 0` it is a
/// bypass (after flushing any residue first).
pub struct FractionalBuffer {
    buf: Batch,
    trigger: Arc<Trigger>,
}

impl FractionalBuffer {
    /// A buffer driven by `trigger`.
    pub fn new(trigger: Arc<Trigger>) -> Self {
        FractionalBuffer {
            buf: Vec::with_capacity(MAX_BURST),
            trigger,
        }
    }

    /// Packets currently held.
    pub fn occupancy(&self) -> usize {
        self.buf.len()
    }

    /// Process one arriving batch, pushing every released batch into `emit` in order.
    pub fn push_batch(&mut self, batch: Batch, emit: impl FnMut(Batch)) {
        self.push_into(batch, &mut FnSink(emit));
    }

    fn push_into(&mut self, mut batch: Batch, sink: &mut impl BatchSink) {
        let q = self.trigger.get() as usize;
        if q == 0 {
            if !self.buf.is_empty() {
                let fresh = sink.fresh();
                sink.emit(std::mem::replace(&mut self.buf, fresh));
            }
            if batch.is_empty() {
                sink.recycle(batch);
            } else {
                sink.emit(batch);
            }
            return;
        }
        if self.buf.len() > q {
            let fresh = sink.fresh();
            sink.emit(std::mem::replace(&mut self.buf, fresh));
        }
        if self.buf.is_empty() && batch.len() == q {
            // Exactly one full batch: pass it on without moving packets.
            sink.emit(batch);
            return;
        }
        let mut remaining = batch.len();
        let mut incoming = batch.drain(..);
        while self.buf.len() + remaining >= q {
            let need = q - self.buf.len();
            self.buf.extend(incoming.by_ref().take(need));
            remaining -= need;
            let fresh = sink.fresh();
            sink.emit(std::mem::replace(&mut self.buf, fresh));
        }
        self.buf.extend(incoming);
        sink.recycle(batch);
    }
}

/// Where a fractional buffer sends released batches and gets empty ones.
trait BatchSink {
    fn fresh(&mut self) -> Batch;
    fn emit(&mut self, b: Batch);
    fn recycle(&mut self, b: Batch);
}

struct FnSink<F>(F);

impl<F: FnMut(Batch)> BatchSink for FnSink<F> {
    fn fresh(&mut self) -> Batch {
        Vec::with_capacity(MAX_BURST)
    }
    fn emit(&mut self, b: Batch) {
        (self.0)(b);
    }
    fn recycle(&mut self, _b: Batch) {}
}

impl BatchSink for Out {
    fn fresh(&mut self) -> Batch {
        self.new_batch()
    }
    fn emit(&mut self, b: Batch) {
        Out::emit(self, 0, b);
    }
    fn recycle(&mut self, b: Batch) {
        Out::recycle(self, b);
    }
}

impl Module for FractionalBuffer {
    fn class(&self) -> &'static str {
        "FractionalBuffer"
    }

    fn process(&mut self, _ctx: &mut Ctx<'_>, _igate: usize, batch: Batch, out: &mut Out) {
        self.push_into(batch, out);
    }
}
