//! Per-flow state, staging and the per-ACK interpreter.

use std::sync::Arc;

use super::error::{InvokeError, StageError};
use super::layout::{
    self, CONTINUE, CWND, FLAG, MICROS, NUM_PRIMS, PRIM, RATE, SHOULD_REPORT, control_slot,
    report_slot,
};
use super::program::{Code, DefWrite, Program};
use crate::bytecode::{DATAPATH_INFINITY, LIBCCP_CONTROL_REGS, Op, RegKind, implicit};

/// The per-ACK measurements a datapath fills before each invocation; mirrors libccp's
/// `struct ccp_primitives` field for field (spec §4.2), including its C layout.
///
/// `Ack.now` is not a field: it is the `now_us` argument of [`Flow::invoke`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Primitives {
    /// Newly cumulatively-acked bytes (`Ack.bytes_acked`).
    pub bytes_acked: u32,
    /// Newly acked packets (`Ack.packets_acked`).
    pub packets_acked: u32,
    /// Bytes acked out of order, e.g. SACKed (`Ack.bytes_misordered`).
    pub bytes_misordered: u32,
    /// Packets acked out of order (`Ack.packets_misordered`).
    pub packets_misordered: u32,
    /// Bytes in ECN-marked packets (`Ack.ecn_bytes`).
    pub ecn_bytes: u32,
    /// ECN-marked packets (`Ack.ecn_packets`).
    pub ecn_packets: u32,
    /// Estimated lost packets (`Ack.lost_pkts_sample`).
    pub lost_pkts_sample: u32,
    /// A retransmission timeout happened (`Flow.was_timeout`).
    pub was_timeout: bool,
    /// Latest RTT sample in µs, 0 = none (`Flow.rtt_sample_us`, where 0 reads as
    /// 0xFFFFFFFF).
    pub rtt_sample_us: u64,
    /// Send rate, bytes/s (`Flow.rate_outgoing`).
    pub rate_outgoing: u64,
    /// Receive rate, bytes/s (`Flow.rate_incoming`).
    pub rate_incoming: u64,
    /// Bytes in flight (`Flow.bytes_in_flight`).
    pub bytes_in_flight: u32,
    /// Packets in flight (`Flow.packets_in_flight`).
    pub packets_in_flight: u32,
    /// Current congestion window in bytes; loaded into `Cwnd` before the program runs.
    pub snd_cwnd: u32,
    /// Current pacing rate in bytes/s; loaded into `Rate` before the program runs.
    pub snd_rate: u64,
    /// Bytes waiting in the send buffer (`Flow.bytes_pending`).
    pub bytes_pending: u32,
}

/// A callback the datapath must make after an invocation, in the order given by
/// [`Outcome::calls`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// `set_cwnd(bytes)`. libccp's C callback takes a `u32` (truncating).
    SetCwnd(u64),
    /// `set_rate_abs(bytes_per_second)`. libccp's C callback takes a `u32` (truncating).
    SetRateAbs(u64),
}

/// The contents of a MEASURE message due after an invocation (spec §2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measurement<'a> {
    /// Uid of the program that produced the report.
    pub program_uid: u32,
    /// Report register values `0..num_to_return`, taken before the volatile reset.
    pub fields: &'a [u64],
}

/// What one [`Flow::invoke`] asks the datapath to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome<'a> {
    staged_cwnd: Option<u64>,
    staged_rate: Option<u64>,
    cwnd: Option<u64>,
    rate: Option<u64>,
    report: Option<Measurement<'a>>,
    status: Result<(), InvokeError>,
}

impl<'a> Outcome<'a> {
    const fn empty() -> Outcome<'a> {
        Outcome {
            staged_cwnd: None,
            staged_rate: None,
            cwnd: None,
            rate: None,
            report: None,
            status: Ok(()),
        }
    }

    /// The `set_cwnd` / `set_rate_abs` calls to make, in libccp's order: a staged `Cwnd`
    /// update (if ≠ 0), a staged `Rate` update (if ≠ 0), then — only if the program ran
    /// to completion — `Cwnd` if > 0 and `Rate` if ≠ 0. With a pending update the same
    /// callback is therefore made twice in one invocation, as libccp does.
    pub fn calls(&self) -> impl Iterator<Item = Call> + use<> {
        [
            self.staged_cwnd.map(Call::SetCwnd),
            self.staged_rate.map(Call::SetRateAbs),
            self.cwnd.map(Call::SetCwnd),
            self.rate.map(Call::SetRateAbs),
        ]
        .into_iter()
        .flatten()
    }

    /// The last cwnd among [`calls`](Self::calls), for datapaths that only apply the
    /// final value.
    pub fn final_cwnd(&self) -> Option<u64> {
        self.cwnd.or(self.staged_cwnd)
    }

    /// The last rate among [`calls`](Self::calls).
    pub fn final_rate(&self) -> Option<u64> {
        self.rate.or(self.staged_rate)
    }

    /// The report to send, if the program executed `(report)`.
    pub fn report(&self) -> Option<Measurement<'a>> {
        self.report
    }

    /// Whether the program ran to completion.
    pub fn result(&self) -> Result<(), InvokeError> {
        self.status
    }

    /// `ccp_invoke`'s return value: 0 or the error's negative libccp code.
    pub fn libccp_code(&self) -> i32 {
        match self.status {
            Ok(()) => 0,
            Err(e) => e.libccp_code(),
        }
    }
}

/// Per-connection VM state: registers, `Micros` time base, active program, staging area.
///
/// Memory: [`std::mem::size_of::<Flow>()`] (128 bytes on 64-bit targets) plus
/// 8 · (39 + 2 · max(report regs, control regs)) bytes of registers (sized by the largest
/// program this flow has been switched to, grow-only), 8 bytes per report field and 16
/// bytes per distinct staged control update (capacity kept once used); e.g. 584 bytes in
/// total for a Reno program with 6 report fields and 1 control variable.
/// [`Flow::memory_bytes`] gives the exact figure. libccp's per-connection state is about
/// 3 KB (`struct ccp_priv_state`) plus its 216-byte `struct ccp_connection`.
#[derive(Debug, Clone)]
pub struct Flow {
    regs: Vec<u64>,
    /// `Micros` counts from this instant (µs since the datapath's time zero, wrapping).
    time_base_us: u64,
    program: Option<Arc<Program>>,
    staged_program: Option<Arc<Program>>,
    /// Staged control updates `(index, value)`, at most one per index.
    staged_controls: Vec<(u8, u64)>,
    staged_cwnd: Option<u64>,
    staged_rate: Option<u64>,
    /// Report values copied out before the volatile reset.
    report: Vec<u64>,
}

impl Default for Flow {
    fn default() -> Self {
        Flow::new()
    }
}

impl Flow {
    /// A new flow with all registers 0, no program and the time base at the datapath's
    /// time zero (as `ccp_connection_start` leaves it).
    pub fn new() -> Flow {
        Flow {
            regs: vec![0; layout::BANK],
            time_base_us: 0,
            program: None,
            staged_program: None,
            staged_controls: Vec::new(),
            staged_cwnd: None,
            staged_rate: None,
            report: Vec::new(),
        }
    }

    /// The active program, if a program switch has been applied.
    pub fn program(&self) -> Option<&Arc<Program>> {
        self.program.as_ref()
    }

    /// The program switch staged for the next invocation, if any.
    pub fn staged_program(&self) -> Option<&Arc<Program>> {
        self.staged_program.as_ref()
    }

    /// The instant `Micros` counts from, in µs since the datapath's time zero.
    pub fn time_base_us(&self) -> u64 {
        self.time_base_us
    }

    /// The current value of a register as the VM sees it (out-of-range registers read
    /// 0; an immediate reads as its literal; primitives hold the values of the last
    /// invocation).
    pub fn register(&self, kind: RegKind, index: u32) -> u64 {
        match kind {
            RegKind::Immediate => u64::from(index),
            _ => get(
                &self.regs,
                layout::read_slot(crate::bytecode::Operand::new(kind, index)),
            ),
        }
    }

    /// Bytes used by this flow: the struct itself plus its heap allocations.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Flow>()
            + 8 * self.regs.capacity()
            + 8 * self.report.capacity()
            + std::mem::size_of::<(u8, u64)>() * self.staged_controls.capacity()
    }

    /// Stage one UPDATE_FIELDS record (spec §2.10, §3.13), applied at the start of the
    /// next [`invoke`](Self::invoke).
    ///
    /// `reg_type` is the record's register type byte: 0/8 (control) stage a control
    /// value (indices ≥ 110 are ignored); 2 (implicit) stages `Cwnd` (index 4) or
    /// `Rate` (index 5) and silently ignores other indices; every other type is
    /// [`StageError::InvalidRegType`] (libccp −53). A later update of the same register
    /// replaces an earlier one.
    pub fn stage_update(&mut self, reg_type: u8, index: u32, value: u64) -> Result<(), StageError> {
        match RegKind::from_u8(reg_type) {
            Some(RegKind::Control | RegKind::VolatileControl) => {
                let Some(i) = u8::try_from(index)
                    .ok()
                    .filter(|&i| usize::from(i) < LIBCCP_CONTROL_REGS)
                else {
                    return Ok(());
                };
                self.grow(layout::file_len(0, usize::from(i) + 1));
                match self.staged_controls.iter_mut().find(|e| e.0 == i) {
                    Some(e) => e.1 = value,
                    None => self.staged_controls.push((i, value)),
                }
                Ok(())
            }
            Some(RegKind::Implicit) => {
                match index {
                    implicit::CWND => self.staged_cwnd = Some(value),
                    implicit::RATE => self.staged_rate = Some(value),
                    _ => {}
                }
                Ok(())
            }
            _ => Err(StageError::InvalidRegType(reg_type)),
        }
    }

    /// Stage a program switch (CHANGE_PROG, spec §2.11, §3.13): discards every update
    /// staged so far, then stages `updates` — `(reg_type, index, value)` records as for
    /// [`stage_update`](Self::stage_update) — to be applied right after the switch.
    ///
    /// On an invalid record the switch and the records before it stay staged, and the
    /// error is returned (libccp −53). Register storage for `program` is allocated here,
    /// so that [`invoke`](Self::invoke) never allocates.
    pub fn stage_change_program<I>(
        &mut self,
        program: Arc<Program>,
        updates: I,
    ) -> Result<(), StageError>
    where
        I: IntoIterator<Item = (u8, u32, u64)>,
    {
        self.grow(program.file_len);
        if self.report.len() < program.num_to_return {
            self.report
                .reserve_exact(program.num_to_return - self.report.len());
            self.report.resize(program.num_to_return, 0);
        }
        self.staged_program = Some(program);
        self.staged_controls.clear();
        self.staged_cwnd = None;
        self.staged_rate = None;
        for (t, i, v) in updates {
            self.stage_update(t, i, v)?;
        }
        Ok(())
    }

    fn grow(&mut self, len: usize) {
        if self.regs.len() < len {
            self.regs.reserve_exact(len - self.regs.len());
            self.regs.resize(len, 0);
        }
    }

    /// Run one invocation (one ACK or batch of ACKs), exactly as libccp's `ccp_invoke`
    /// after its fallback and CREATE checks (spec §4.4 steps 4–7):
    ///
    /// 1. `Cwnd` ← `prims.snd_cwnd`, `Rate` ← `prims.snd_rate`;
    /// 2. a staged program switch: reset pass, init pass, `Micros` time base ← now;
    /// 3. staged control values; staged `Cwnd`/`Rate` (each ≠ 0 also yields a call);
    /// 4. no active program → [`InvokeError::NoProgram`];
    /// 5. the events (spec §3.8, sticky fallthrough); an aborting instruction ends the
    ///    invocation with its error;
    /// 6. `Cwnd` > 0 and `Rate` ≠ 0 yield calls; `(report)` yields the report, then the
    ///    volatile registers are reset.
    ///
    /// `now_us` is the current time in µs since the datapath's time zero; `Ack.now`
    /// reads it and `Micros` counts from the program's time base on the same clock.
    pub fn invoke(&mut self, prims: &Primitives, now_us: u64) -> Outcome<'_> {
        let Flow {
            regs,
            time_base_us,
            program,
            staged_program,
            staged_controls,
            staged_cwnd,
            staged_rate,
            report,
        } = self;
        let mut out = Outcome::empty();

        set(regs, CWND, u64::from(prims.snd_cwnd));
        set(regs, RATE, prims.snd_rate);

        if let Some(p) = staged_program.take() {
            apply_defs(regs, &p.reset_defs);
            apply_defs(regs, &p.init_defs);
            *time_base_us = now_us;
            set(regs, MICROS, 0);
            *program = Some(p);
        }
        for &(i, v) in staged_controls.iter() {
            set(regs, control_slot(usize::from(i)), v);
        }
        staged_controls.clear();
        if let Some(c) = staged_cwnd.take() {
            set(regs, CWND, c);
            if c != 0 {
                out.staged_cwnd = Some(c);
            }
        }
        if let Some(r) = staged_rate.take() {
            set(regs, RATE, r);
            if r != 0 {
                out.staged_rate = Some(r);
            }
        }

        let Some(prog) = program.as_deref() else {
            out.status = Err(InvokeError::NoProgram);
            return out;
        };

        load_primitives(regs, prims, now_us);
        if let Err(e) = run(regs, prog, time_base_us, now_us) {
            out.status = Err(e);
            return out;
        }

        let cwnd = get(regs, CWND);
        if cwnd > 0 {
            out.cwnd = Some(cwnd);
        }
        let rate = get(regs, RATE);
        if rate != 0 {
            out.rate = Some(rate);
        }
        if get(regs, SHOULD_REPORT) != 0 {
            let n = prog.num_to_return;
            if let Some(buf) = report.get_mut(..n) {
                for (i, f) in buf.iter_mut().enumerate() {
                    *f = get(regs, report_slot(i));
                }
                apply_defs(regs, &prog.reset_defs);
                out.report = Some(Measurement {
                    program_uid: prog.uid(),
                    fields: &report[..n],
                });
            }
        }
        out
    }
}

#[inline(always)]
fn get(regs: &[u64], slot: usize) -> u64 {
    regs.get(slot).copied().unwrap_or(0)
}

#[inline(always)]
fn set(regs: &mut [u64], slot: usize, v: u64) {
    if let Some(x) = regs.get_mut(slot) {
        *x = v;
    }
}

fn apply_defs(regs: &mut [u64], defs: &[DefWrite]) {
    for d in defs {
        set(regs, usize::from(d.slot), d.value);
    }
}

#[inline(always)]
fn load_primitives(regs: &mut [u64], p: &Primitives, now_us: u64) {
    let Some(Ok(s)) = regs
        .get_mut(PRIM..PRIM + NUM_PRIMS)
        .map(<&mut [u64; NUM_PRIMS]>::try_from)
    else {
        return;
    };
    // Index order of spec §3.6.1 (alphabetical by DSL name).
    *s = [
        u64::from(p.bytes_acked),
        u64::from(p.bytes_misordered),
        u64::from(p.ecn_bytes),
        u64::from(p.ecn_packets),
        u64::from(p.lost_pkts_sample),
        now_us,
        u64::from(p.packets_acked),
        u64::from(p.packets_misordered),
        u64::from(p.bytes_in_flight),
        u64::from(p.bytes_pending),
        u64::from(p.packets_in_flight),
        p.rate_incoming,
        p.rate_outgoing,
        if p.rtt_sample_us == 0 {
            DATAPATH_INFINITY
        } else {
            p.rtt_sample_us
        },
        u64::from(p.was_timeout),
    ];
}

/// The event loop of spec §3.8.
#[inline(always)]
fn run(
    regs: &mut [u64],
    prog: &Program,
    time_base_us: &mut u64,
    now_us: u64,
) -> Result<(), InvokeError> {
    set(regs, FLAG, 0);
    set(regs, CONTINUE, 0);
    set(regs, SHOULD_REPORT, 0);
    set(regs, MICROS, now_us.wrapping_sub(*time_base_us));
    for sp in prog.spans.iter() {
        run_range(
            regs,
            &prog.code,
            sp.cond_start,
            sp.cond_end,
            time_base_us,
            now_us,
        )?;
        if get(regs, FLAG) != 0 {
            run_range(
                regs,
                &prog.code,
                sp.body_start,
                sp.body_end,
                time_base_us,
                now_us,
            )?;
            // The fallthrough flag is never cleared between events (sticky).
            if get(regs, FLAG) != 0 && get(regs, CONTINUE) == 0 {
                break;
            }
        }
    }
    Ok(())
}

#[inline(always)]
fn run_range(
    regs: &mut [u64],
    code: &[Code],
    start: u16,
    end: u16,
    time_base_us: &mut u64,
    now_us: u64,
) -> Result<(), InvokeError> {
    let Some(instrs) = code.get(usize::from(start)..usize::from(end)) else {
        return Ok(());
    };
    for (k, c) in instrs.iter().enumerate() {
        if let Err(abort) = exec(regs, c, time_base_us, now_us) {
            return Err(abort.at(start.saturating_add(k as u16)));
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Abort {
    Add,
    Div,
    Mul,
    Sub,
}

impl Abort {
    #[cold]
    fn at(self, instr: u16) -> InvokeError {
        match self {
            Abort::Add => InvokeError::AddOverflow { instr },
            Abort::Div => InvokeError::DivByZero { instr },
            Abort::Mul => InvokeError::MulOverflow { instr },
            Abort::Sub => InvokeError::SubUnderflow { instr },
        }
    }
}

/// Denominator of EWMA weights (libccp `CCP_FRAC_DENOM`).
const EWMA_DENOM: u64 = 10;

#[inline(always)]
fn exec(regs: &mut [u64], c: &Code, time_base_us: &mut u64, now_us: u64) -> Result<(), Abort> {
    let l = get(regs, usize::from(c.l_slot)) | u64::from(c.l_imm);
    let r = get(regs, usize::from(c.r_slot)) | u64::from(c.r_imm);
    let v = match c.op {
        Op::Add => {
            let s = l.wrapping_add(r);
            if s < l {
                return Err(Abort::Add);
            }
            s
        }
        Op::Bind => r,
        Op::Def => return Ok(()),
        Op::Div => match l.checked_div(r) {
            Some(q) => q,
            None => return Err(Abort::Div),
        },
        Op::Equiv => u64::from(l == r),
        Op::Ewma => {
            let d = get(regs, usize::from(c.cur));
            if d == 0 {
                r
            } else {
                l.wrapping_mul(d)
                    .wrapping_add(EWMA_DENOM.wrapping_sub(l).wrapping_mul(r))
                    / EWMA_DENOM
            }
        }
        Op::Gt => u64::from(l > r),
        Op::If => {
            if l == 0 {
                return Ok(());
            }
            r
        }
        Op::Lt => u64::from(l < r),
        Op::Max => l.max(r),
        Op::MaxWrap => max_wrap(l, r),
        Op::Min => l.min(r),
        Op::Mul => {
            let p = l.wrapping_mul(r);
            // libccp's (incomplete) overflow test, reproduced as is.
            if p < l && r > 0 {
                return Err(Abort::Mul);
            }
            p
        }
        Op::NotIf => {
            if l != 0 {
                return Ok(());
            }
            r
        }
        Op::Sub => {
            let d = l.wrapping_sub(r);
            if d > l {
                return Err(Abort::Sub);
            }
            d
        }
    };
    let dst = usize::from(c.dst);
    if dst == MICROS {
        // Writing Micros moves the time base so that Micros reads `v` now.
        *time_base_us = now_us.wrapping_sub(v);
    }
    set(regs, dst, v);
    Ok(())
}

/// Wrap-around-aware max of the low 32 bits (spec §2.8 MAXWRAP).
pub(crate) fn max_wrap(l: u64, r: u64) -> u64 {
    if l == 0 {
        return r;
    }
    if r == 0 {
        return l;
    }
    let (a, b) = (l as u32, r as u32);
    // Distance walking forward from x to y on the u32 circle, as libccp computes it.
    let fwd = |x: u32, y: u32| {
        if y > x {
            y - x
        } else {
            (u32::MAX - x).wrapping_add(y)
        }
    };
    if fwd(b, a) < fwd(a, b) {
        u64::from(a)
    } else {
        u64::from(b)
    }
}
