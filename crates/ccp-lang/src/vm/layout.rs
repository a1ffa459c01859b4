//! The per-flow register file layout: one flat `u64` array shared by all register kinds.
//!
//! ```text
//! slot 0..6     implicit registers (eventFlag, shouldContinue, shouldReport, Micros, Cwnd, Rate)
//! slot 6..14    tmp 0..8
//! slot 14..22   local 0..8
//! slot 22..37   primitives 0..15 (loaded at the start of each invocation)
//! slot 37       ZERO: never written; out-of-range reads resolve here
//! slot 38       SINK: never read; out-of-range writes resolve here
//! slot 39+2i    report register i   (i < 110)
//! slot 40+2i    control register i  (i < 110)
//! ```
//!
//! Report and control registers are interleaved so that the array can grow at its end
//! when a program (or an update) needs a higher index, without moving existing values and
//! without making slot numbers depend on the flow: every [`Program`](super::Program)
//! resolves its operands to slots once, at load time.

use crate::bytecode::{
    LIBCCP_CONTROL_REGS, LIBCCP_LOCAL_REGS, LIBCCP_REPORT_REGS, LIBCCP_TMP_REGS, Operand, RegKind,
    implicit,
};

/// Number of implicit registers libccp stores.
pub(crate) const NUM_IMPLICIT: usize = 6;
/// Number of primitives (indices 0..15; higher indices read as 0).
pub(crate) const NUM_PRIMS: usize = 15;

pub(crate) const IMPL: usize = 0;
pub(crate) const FLAG: usize = IMPL + implicit::EVENT_FLAG as usize;
pub(crate) const CONTINUE: usize = IMPL + implicit::SHOULD_CONTINUE as usize;
pub(crate) const SHOULD_REPORT: usize = IMPL + implicit::SHOULD_REPORT as usize;
pub(crate) const MICROS: usize = IMPL + implicit::MICROS as usize;
pub(crate) const CWND: usize = IMPL + implicit::CWND as usize;
pub(crate) const RATE: usize = IMPL + implicit::RATE as usize;
pub(crate) const TMP: usize = IMPL + NUM_IMPLICIT;
pub(crate) const LOCAL: usize = TMP + LIBCCP_TMP_REGS;
pub(crate) const PRIM: usize = LOCAL + LIBCCP_LOCAL_REGS;
pub(crate) const ZERO: usize = PRIM + NUM_PRIMS;
pub(crate) const SINK: usize = ZERO + 1;
/// First slot of the interleaved report/control bank.
pub(crate) const BANK: usize = SINK + 1;

/// Slot of report register `i` (caller checks `i < 110`).
pub(crate) const fn report_slot(i: usize) -> usize {
    BANK + 2 * i
}

/// Slot of control register `i` (caller checks `i < 110`).
pub(crate) const fn control_slot(i: usize) -> usize {
    BANK + 2 * i + 1
}

/// Length of a register file that holds `report_len` report and `control_len` control
/// registers.
pub(crate) const fn file_len(report_len: usize, control_len: usize) -> usize {
    let n = if report_len > control_len {
        report_len
    } else {
        control_len
    };
    BANK + 2 * n
}

/// Slot an operand reads from. Immediates read [`ZERO`] (their value is carried
/// separately); out-of-range registers read [`ZERO`].
pub(crate) fn read_slot(op: Operand) -> usize {
    let i = op.value as usize;
    match op.kind {
        RegKind::Immediate => ZERO,
        RegKind::Implicit if i < NUM_IMPLICIT => IMPL + i,
        RegKind::Tmp if i < LIBCCP_TMP_REGS => TMP + i,
        RegKind::Local if i < LIBCCP_LOCAL_REGS => LOCAL + i,
        RegKind::Primitive if i < NUM_PRIMS => PRIM + i,
        RegKind::VolatileReport | RegKind::Report if i < LIBCCP_REPORT_REGS => report_slot(i),
        RegKind::Control | RegKind::VolatileControl if i < LIBCCP_CONTROL_REGS => control_slot(i),
        _ => ZERO,
    }
}

/// Slot an instruction result is written to; [`SINK`] when libccp ignores the write.
pub(crate) fn write_slot(op: Operand) -> usize {
    match op.kind {
        // Not writable (rejected at load time; kept total for safety).
        RegKind::Immediate | RegKind::Primitive => SINK,
        _ => match read_slot(op) {
            ZERO => SINK,
            s => s,
        },
    }
}

/// The (report, control) register counts an operand needs to be addressable.
pub(crate) fn bank_needs(op: Operand) -> (usize, usize) {
    let i = op.value as usize;
    match op.kind {
        RegKind::VolatileReport | RegKind::Report if i < LIBCCP_REPORT_REGS => (i + 1, 0),
        RegKind::Control | RegKind::VolatileControl if i < LIBCCP_CONTROL_REGS => (0, i + 1),
        _ => (0, 0),
    }
}
