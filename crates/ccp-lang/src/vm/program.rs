//! Loading a [`Bin`] into the VM's pre-decoded form.

use std::fmt;

use super::error::LoadError;
use super::layout;
use crate::bytecode::{Bin, DATAPATH_INFINITY, DEF_INFINITY_SENTINEL, LIBCCP_REPORT_REGS};
use crate::bytecode::{Op, Operand, RegKind};

/// One pre-decoded instruction. Operand values are `regs[slot] | imm`: for a register
/// `imm` is 0, for an immediate `slot` is the always-zero slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Code {
    pub(crate) op: Op,
    /// Slot written by the instruction ([`layout::SINK`] if the write is ignored).
    pub(crate) dst: u16,
    /// Slot read as the current value `D` (EWMA).
    pub(crate) cur: u16,
    pub(crate) l_slot: u16,
    pub(crate) r_slot: u16,
    pub(crate) l_imm: u32,
    pub(crate) r_imm: u32,
}

/// An event's instruction ranges, validated against the instruction array.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    pub(crate) cond_start: u16,
    pub(crate) cond_end: u16,
    pub(crate) body_start: u16,
    pub(crate) body_end: u16,
}

/// A DEF's effect in a reset/init pass: write `value` to `slot`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DefWrite {
    pub(crate) slot: u16,
    pub(crate) value: u64,
}

/// A validated datapath program, ready to run on any number of [`Flow`](super::Flow)s.
///
/// Built once per INSTALL and shared (e.g. in an `Arc`). Loading checks
/// [`Bin::validate`], rejects instructions writing immediates or primitives (libccp −34),
/// and precomputes the DEF passes of spec §3.11 and `num_to_return` (§3.12).
pub struct Program {
    uid: u32,
    bin: Bin,
    pub(crate) code: Box<[Code]>,
    pub(crate) spans: Box<[Span]>,
    /// DEFs applied on program switch and after every report (volatile report/control).
    pub(crate) reset_defs: Box<[DefWrite]>,
    /// DEFs applied on program switch only (non-volatile control/report).
    pub(crate) init_defs: Box<[DefWrite]>,
    pub(crate) num_to_return: usize,
    /// Register-file length (in slots) this program needs.
    pub(crate) file_len: usize,
}

impl Program {
    /// Validate and pre-decode `bin`, installed under `uid`.
    pub fn new(uid: u32, bin: Bin) -> Result<Program, LoadError> {
        bin.validate()?;

        let (mut report_len, mut control_len) = (0usize, 0usize);
        let mut need = |op: Operand| {
            let (r, c) = layout::bank_needs(op);
            report_len = report_len.max(r);
            control_len = control_len.max(c);
        };
        let mut code = Vec::with_capacity(bin.instrs.len());
        for (i, ins) in bin.instrs.iter().enumerate() {
            if !ins.result.kind.is_writable() {
                return Err(LoadError::ResultNotWritable {
                    instr: i,
                    kind: ins.result.kind,
                });
            }
            need(ins.result);
            need(ins.left);
            need(ins.right);
            code.push(Code {
                op: ins.op,
                dst: slot16(layout::write_slot(ins.result)),
                cur: slot16(layout::read_slot(ins.result)),
                l_slot: slot16(layout::read_slot(ins.left)),
                r_slot: slot16(layout::read_slot(ins.right)),
                l_imm: imm32(ins.left),
                r_imm: imm32(ins.right),
            });
        }

        // DEF passes (spec §3.11). libccp walks the DEF prefix and uses the *left*
        // operand as the target (portus emits result = left).
        let mut reset_defs = Vec::new();
        let mut init_defs = Vec::new();
        let mut report_defs = 0usize;
        let mut prefix_ends = false;
        for ins in &bin.instrs {
            if ins.op != Op::Def {
                prefix_ends = true;
                break;
            }
            let value = def_value(ins.right);
            let w = DefWrite {
                slot: slot16(layout::write_slot(ins.left)),
                value,
            };
            match ins.left.kind {
                RegKind::VolatileReport => {
                    report_defs += 1;
                    reset_defs.push(w);
                }
                RegKind::VolatileControl => reset_defs.push(w),
                RegKind::Report => {
                    report_defs += 1;
                    init_defs.push(w);
                }
                RegKind::Control => init_defs.push(w),
                _ => {}
            }
        }
        // libccp only stores the count when its DEF walk meets a non-DEF instruction; a
        // program made only of DEFs keeps the zero of a fresh program slot.
        let num_to_return = if prefix_ends { report_defs } else { 0 };
        if num_to_return > LIBCCP_REPORT_REGS {
            return Err(LoadError::TooManyReportFields(num_to_return));
        }
        report_len = report_len.max(num_to_return);

        let spans = bin
            .events
            .iter()
            .map(|e| Span {
                cond_start: e.cond_start as u16,
                cond_end: (e.cond_start + e.cond_len) as u16,
                body_start: e.body_start as u16,
                body_end: (e.body_start + e.body_len) as u16,
            })
            .collect();

        Ok(Program {
            uid,
            file_len: layout::file_len(report_len, control_len),
            bin,
            code: code.into_boxed_slice(),
            spans,
            reset_defs: reset_defs.into_boxed_slice(),
            init_defs: init_defs.into_boxed_slice(),
            num_to_return,
        })
    }

    /// The program uid assigned by the agent.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The program as loaded.
    pub fn bin(&self) -> &Bin {
        &self.bin
    }

    /// Number of report fields a MEASURE from this program carries: the number of DEFs
    /// targeting report registers (spec §3.12).
    pub fn num_to_return(&self) -> usize {
        self.num_to_return
    }

    /// Bytes of per-flow register storage a flow running this program needs.
    pub fn register_bytes(&self) -> usize {
        self.file_len * std::mem::size_of::<u64>()
    }
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program")
            .field("uid", &self.uid)
            .field("events", &self.bin.events.len())
            .field("instrs", &self.bin.instrs.len())
            .field("num_to_return", &self.num_to_return)
            .finish()
    }
}

/// A DEF's default value: the right immediate, with the legacy sentinel 0x3FFFFFFF read
/// as 0xFFFFFFFF. libccp reads 0 for a non-immediate right operand.
fn def_value(right: Operand) -> u64 {
    match right.kind {
        RegKind::Immediate if u64::from(right.value) == DEF_INFINITY_SENTINEL => DATAPATH_INFINITY,
        RegKind::Immediate => u64::from(right.value),
        _ => 0,
    }
}

fn imm32(op: Operand) -> u32 {
    match op.kind {
        RegKind::Immediate => op.value,
        _ => 0,
    }
}

/// Slots are < 300 by construction (BANK + 2·110).
fn slot16(s: usize) -> u16 {
    u16::try_from(s).unwrap_or(layout::SINK as u16)
}
