//! The datapath-program interpreter: executes a compiled program once per ACK with
//! libccp's exact semantics (spec §2.8–§2.9, §3.6–§3.13, §4.4).
//!
//! Two types make up the VM:
//!
//! * [`Program`] — a validated, pre-decoded program, built once from a [`Bin`] and its uid
//!   (what an INSTALL message carries) and shared between all flows of a datapath, e.g. as
//!   an `Arc<Program>`. Loading precomputes everything per-program: the DEF lists for the
//!   "reset" and "init" passes, `num_to_return` (the report length), and a compact
//!   instruction form whose operands are already resolved to register slots
//!   (out-of-range registers resolved to "reads as 0 / writes ignored").
//! * [`Flow`] — the per-connection state: registers, the `Micros` time base, the active
//!   program, and the staging area for UPDATE_FIELDS / CHANGE_PROG. [`Flow::invoke`] runs
//!   one ACK and returns an [`Outcome`]: the `set_cwnd` / `set_rate_abs` calls to make, in
//!   order, the report (MEASURE contents) if one is due, and the libccp-compatible status.
//!
//! The VM performs no I/O, reads no clock (time is an argument, in µs since the datapath's
//! time zero) and does not allocate in [`Flow::invoke`]: registers are grown when a program
//! switch or an update is *staged*, never while running.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use ccp_lang::bytecode::{Bin, Event, Instr, Op, Operand, RegKind};
//! use ccp_lang::vm::{Call, Flow, Primitives, Program};
//!
//! // (def (Report (volatile acked 0))) (when true (:= Report.acked Ack.bytes_acked) (report))
//! let rep = Operand::new(RegKind::VolatileReport, 0);
//! let flag = Operand::new(RegKind::Implicit, 0);
//! let should_report = Operand::new(RegKind::Implicit, 2);
//! let bin = Bin {
//!     events: vec![Event { cond_start: 1, cond_len: 1, body_start: 2, body_len: 2 }],
//!     instrs: vec![
//!         Instr { op: Op::Def, result: rep, left: rep, right: Operand::imm(0) },
//!         Instr { op: Op::Bind, result: flag, left: flag, right: Operand::imm(1) },
//!         Instr { op: Op::Bind, result: rep, left: rep,
//!                 right: Operand::new(RegKind::Primitive, 0) },
//!         Instr { op: Op::Bind, result: should_report, left: should_report,
//!                 right: Operand::imm(1) },
//!     ],
//! };
//! let prog = Arc::new(Program::new(7, bin).expect("valid program"));
//!
//! let mut flow = Flow::new();
//! flow.stage_change_program(prog, []).expect("no updates");
//! let prims = Primitives { bytes_acked: 1460, snd_cwnd: 14600, ..Primitives::default() };
//! let out = flow.invoke(&prims, 1_000);
//! assert_eq!(out.libccp_code(), 0);
//! assert_eq!(out.calls().collect::<Vec<_>>(), vec![Call::SetCwnd(14600)]);
//! let report = out.report().expect("the program reports on every ACK");
//! assert_eq!((report.program_uid, report.fields), (7, &[1460u64][..]));
//! ```
//!
//! # Deviations from libccp (all on inputs portus never produces)
//!
//! * Reads of registers outside libccp's arrays (report/control ≥ 110, tmp/local ≥ 8,
//!   implicit ≥ 6) return 0; libccp reads out of bounds. Writes there are ignored, as in
//!   libccp. Staged control updates with an index ≥ 110 are ignored (libccp writes out of
//!   bounds).
//! * A DEF whose right operand is not an immediate defines the value 0 (libccp reads a
//!   field that is 0 in a freshly installed program slot).
//! * Programs whose DEFs declare more than 110 report fields are rejected at load time
//!   (libccp would overflow its 900-byte MEASURE buffer), as are programs failing
//!   [`Bin::validate`] (libccp does not check event ranges or the 8-bit loop limit).
//! * `Micros` write: libccp computes the new time base as `now() − v` with `now()` in
//!   *datapath* time units and `v` in µs, exact only for `v = 0` or a µs clock (spec §9
//!   row 10). Here time is always µs, so `(:= Micros v)` makes `Micros` read `v` plus the
//!   µs elapsed since, for every `v`. This equals libccp driven by a µs clock (the
//!   differential tests use one).
//! * The values of `set_cwnd` / `set_rate_abs` calls are reported as `u64`; libccp's C
//!   callbacks take `u32` and truncate. A datapath with a u32 ABI should saturate or
//!   truncate explicitly (libccp truncates).
//!
//! # libccp behaviours reproduced that the spec leaves implicit
//!
//! Checked against libccp's C source and by the differential test against the C library
//! (`crates/ccp-interop/tests/libccp_vm.rs`):
//!
//! * The DEF passes read the DEF's *left* operand as the target (portus emits
//!   result = left), and a DEF whose left operand is not a report/control register is
//!   skipped.
//! * `num_to_return` is only computed when the DEF prefix is followed by a non-DEF
//!   instruction; a program made only of DEFs reports 0 fields.
//! * `__eventFlag` is a plain register: an event with an empty condition sees the value
//!   left by the previous event, and a body that clears it does not stop the event loop.
//! * Writing `Micros` also stores the value in the register, so later reads in the same
//!   invocation see exactly `v`.
//! * EWMA uses wrapping u64 arithmetic, so weights > 10 wrap instead of failing.
//! * A staged switch to the program that is already active still runs both DEF passes
//!   and restarts `Micros`.
//! * A staged `Cwnd` is applied with a call when ≠ 0, the post-program `Cwnd` when > 0
//!   (identical on u64); the same register can therefore be set twice per invocation.
//!
//! [`Bin`]: crate::bytecode::Bin
//! [`Bin::validate`]: crate::bytecode::Bin::validate

mod error;
mod flow;
mod layout;
mod program;

pub use error::{InvokeError, LoadError, StageError};
pub use flow::{Call, Flow, Measurement, Outcome, Primitives};
pub use program::Program;

#[cfg(test)]
mod tests;
