//! Type checker, register allocator and code generator (spec §3.3–§3.4, §3.9).
//!
//! For every program portus 0.9 compiles without error (and without the quirks
//! rejected by the parser, see [`crate::parser`]), the instructions and events
//! produced here are byte-identical to portus's:
//! * report variables get indices 0.. (the `Report` block first, then old-style
//!   `Report.*` declarations), control variables 0.. in source order;
//! * one DEF per declared variable, sorted byte-wise by full name, forms the prefix;
//! * per event: condition instructions then body instructions; temporaries restart at 0
//!   for the condition and for every body statement; expressions are compiled
//!   depth-first, left operand first;
//! * a Bool temporary condition has its last instruction re-targeted to the event flag
//!   (implicit 0), a Bool literal condition becomes `BIND impl0 ← imm`;
//! * `(:= T e)` appends `BIND T ← e` (result = left = T) unless `e` is `if`/`!if`/`ewma`,
//!   whose own instruction gets `T` as its result;
//! * unknown names become locals, numbered in order of first appearance.
//!
//! Where portus panics or silently miscompiles, this compiler reports an error instead;
//! see [`ErrorKind`] for the list.

use crate::ast::{BinOp, Decl, Expr, ExprKind, Literal, Program, When};
use crate::bytecode::{
    Bin, DEF_INFINITY_SENTINEL, Event, Instr, MAX_EVENTS, MAX_INSTRS, Op, Operand, RegKind,
    ValType, implicit,
};
use crate::error::{CompileError, ErrorKind, Warning};
use crate::parser::parse;
use crate::scope::{Scope, Var, VarClass};
use crate::span::Span;
use thiserror::Error;

/// Most report variables a program may declare (portus's encoder limit).
pub const MAX_REPORT_VARS: usize = 16;
/// Most control variables a program may declare (portus's encoder limit).
pub const MAX_CONTROL_VARS: usize = 16;
/// Most local variables a program may use (portus's encoder limit).
pub const MAX_LOCALS: usize = 6;
/// Most temporaries one statement may use (libccp stores 8).
pub const MAX_TMPS: usize = 8;
/// Immediates must be below this value, or be `+infinity`.
pub const IMMEDIATE_LIMIT: u64 = 1 << 31;

/// A compiled program: what INSTALL carries plus the names needed to talk about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledProgram {
    /// The program uid the agent allocated for it.
    pub uid: u32,
    /// Events and instructions (DEFs first).
    pub bin: Bin,
    /// Names → registers.
    pub scope: Scope,
    /// Non-fatal diagnostics.
    pub warnings: Vec<Warning>,
}

/// Why a preset value could not be applied.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PresetError {
    /// The program declares no such variable.
    #[error("preset for unknown variable `{0}`")]
    Unknown(String),
    /// The name is not a declared report or control variable.
    #[error("`{0}` is not a declared report or control variable and cannot be preset")]
    NotDeclared(String),
    /// The value does not fit an immediate.
    #[error("preset value {1} for `{0}` is too large: must be below 2^31 or +infinity")]
    TooLarge(String, u64),
    /// A Bool variable preset to something other than 0 or 1.
    #[error("`{0}` is a Bool variable: its preset must be 0 or 1, not {1}")]
    NotBool(String, u64),
}

/// Errors of [`compile_with_presets`].
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CompileWithPresetsError {
    /// The source does not compile.
    #[error("{0}")]
    Compile(#[from] CompileError),
    /// A preset could not be applied.
    #[error("{0}")]
    Preset(#[from] PresetError),
}

impl CompiledProgram {
    /// Serialized event table + instructions (the INSTALL payload after the
    /// `uid, num_events, num_instrs` words; portus's `Bin::serialize()`).
    pub fn encode_body(&self) -> Vec<u8> {
        self.bin.encode_body()
    }

    /// Length of the INSTALL message carrying this program: `20 + 16·(E + I)`.
    pub fn install_len(&self) -> usize {
        20 + 16 * (self.bin.events.len() + self.bin.instrs.len())
    }

    /// Replace the default of a declared report or control variable (portus's
    /// `compile(src, updates)`): its DEF instruction gets the new immediate. The
    /// variable keeps its declared type; a Bool variable accepts only 0 or 1.
    pub fn set_preset(&mut self, name: &str, value: u64) -> Result<(), PresetError> {
        let var = self
            .scope
            .get(name)
            .ok_or_else(|| PresetError::Unknown(name.to_string()))?;
        if !matches!(var.class, VarClass::Report | VarClass::Control) {
            return Err(PresetError::NotDeclared(name.to_string()));
        }
        if var.ty == Some(ValType::Bool) && value > 1 {
            return Err(PresetError::NotBool(name.to_string(), value));
        }
        let imm = immediate(value).ok_or(PresetError::TooLarge(name.to_string(), value))?;
        let target = var.operand();
        for ins in self.bin.instrs.iter_mut().take_while(|i| i.op == Op::Def) {
            if ins.result == target {
                ins.right = imm;
            }
        }
        if let Some(v) = self.scope.get_mut(name) {
            v.default = Some(value);
        }
        Ok(())
    }
}

/// Compile `src` as program `uid`.
pub fn compile(src: &str, uid: u32) -> Result<CompiledProgram, CompileError> {
    let program = parse(src)?;
    compile_program(src, &program, uid)
}

/// Compile `src` as program `uid`, then apply preset defaults `(name, value)`.
pub fn compile_with_presets(
    src: &str,
    uid: u32,
    presets: &[(&str, u64)],
) -> Result<CompiledProgram, CompileWithPresetsError> {
    let mut p = compile(src, uid)?;
    for &(name, value) in presets {
        p.set_preset(name, value)?;
    }
    Ok(p)
}

/// Compile an already parsed program (`src` is used for error positions).
pub fn compile_program<'s>(
    src: &'s str,
    program: &Program<'s>,
    uid: u32,
) -> Result<CompiledProgram, CompileError> {
    let mut cx = Cx {
        src,
        scope: Scope::new(),
        instrs: Vec::with_capacity(64),
        ntmp: 0,
        nlocal: 0,
        warnings: Vec::new(),
        decls: &program.decls,
    };
    cx.declare(&program.decls)?;
    let mut events = Vec::with_capacity(program.events.len());
    for (i, when) in program.events.iter().enumerate() {
        if i >= MAX_EVENTS {
            return cx.err(ErrorKind::TooManyEvents(MAX_EVENTS), head(when.span));
        }
        events.push(cx.event(when)?);
    }
    let bin = Bin {
        events,
        instrs: cx.instrs,
    };
    debug_assert!(bin.validate().is_ok());
    Ok(CompiledProgram {
        uid,
        bin,
        scope: cx.scope,
        warnings: cx.warnings,
    })
}

/// The immediate operand for `n`, if the wire encoding can carry it.
fn immediate(n: u64) -> Option<Operand> {
    if n == u64::MAX {
        Some(Operand::imm(u32::MAX))
    } else if n < IMMEDIATE_LIMIT {
        Some(Operand::imm(n as u32))
    } else {
        None
    }
}

fn head(span: Span) -> Span {
    Span::new(span.start, span.start + 1)
}

fn type_name(t: ValType) -> &'static str {
    match t {
        ValType::Num => "Num",
        ValType::Bool => "Bool",
    }
}

/// Where a value lives (variables by the name they were written with).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Src<'s> {
    Imm,
    Tmp,
    Var(&'s str),
}

#[derive(Clone, Copy, Debug)]
struct Val<'s> {
    op: Operand,
    ty: Option<ValType>,
    src: Src<'s>,
}

struct Cx<'s, 'p> {
    src: &'s str,
    scope: Scope,
    instrs: Vec<Instr>,
    ntmp: usize,
    nlocal: usize,
    warnings: Vec<Warning>,
    decls: &'p [Decl],
}

impl<'s> Cx<'s, '_> {
    fn err<T>(&self, kind: ErrorKind, span: Span) -> Result<T, CompileError> {
        Err(CompileError::new(kind, span, self.src))
    }

    fn warn(&mut self, msg: String, span: Span) {
        self.warnings.push(Warning::new(msg, span, self.src));
    }

    fn declare(&mut self, decls: &[Decl]) -> Result<(), CompileError> {
        // Report indices: the Report block's entries first, then old-style `Report.*`.
        let reports = decls
            .iter()
            .filter(|d| d.in_report_block)
            .chain(decls.iter().filter(|d| !d.in_report_block && d.is_report()));
        let controls = decls.iter().filter(|d| !d.is_report());
        let mut defs: Vec<(String, Operand, Operand)> = Vec::new();
        for (class, list, max) in [
            (
                VarClass::Report,
                reports.collect::<Vec<_>>(),
                MAX_REPORT_VARS,
            ),
            (VarClass::Control, controls.collect(), MAX_CONTROL_VARS),
        ] {
            for (i, d) in list.into_iter().enumerate() {
                if i >= max {
                    let kind = match class {
                        VarClass::Report => ErrorKind::TooManyReportVars(max),
                        _ => ErrorKind::TooManyControlVars(max),
                    };
                    return self.err(kind, d.name_span);
                }
                let (ty, value) = match d.default {
                    Literal::Num(n) => (ValType::Num, n),
                    Literal::Bool(b) => (ValType::Bool, u64::from(b)),
                };
                let Some(imm) = immediate(value) else {
                    return self.err(ErrorKind::ImmediateTooLarge(value), d.default_span);
                };
                self.decl_warnings(d, value);
                let var = Var {
                    name: d.name.clone(),
                    class,
                    index: i as u32,
                    volatile: d.volatile,
                    ty: Some(ty),
                    default: Some(value),
                };
                defs.push((d.name.clone(), var.operand(), imm));
                self.scope.push(var);
            }
        }
        defs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (_, reg, imm) in defs {
            self.instrs.push(Instr {
                op: Op::Def,
                result: reg,
                left: reg,
                right: imm,
            });
        }
        Ok(())
    }

    fn decl_warnings(&mut self, d: &Decl, value: u64) {
        if d.is_report() && !d.in_report_block && !d.volatile {
            self.warn(
                format!(
                    "old-style report variable `{0}` is not volatile: like portus, it keeps its \
                     value across reports; write `(volatile {0} ...)` to reset it after each report",
                    d.name
                ),
                d.name_span,
            );
        }
        if value == DEF_INFINITY_SENTINEL {
            self.warn(
                "the datapath replaces the default 1073741823 by +infinity (4294967295)".into(),
                d.default_span,
            );
        }
        let written = d.name.strip_prefix("Report.").filter(|_| d.in_report_block);
        let written = written.unwrap_or(&d.name);
        if written.len() > "volatile".len() && written.starts_with("volatile") {
            self.warn(
                format!(
                    "portus reads `({written} ...)` as `(volatile {} ...)`; rename the variable \
                     to stay compatible",
                    &written["volatile".len()..]
                ),
                d.name_span,
            );
        }
    }

    fn check_instr_limit(&self, span: Span) -> Result<(), CompileError> {
        if self.instrs.len() > MAX_INSTRS {
            return self.err(
                ErrorKind::TooManyInstructions(self.instrs.len(), MAX_INSTRS),
                span,
            );
        }
        Ok(())
    }

    fn event(&mut self, when: &When<'s>) -> Result<Event, CompileError> {
        let cond_start = self.instrs.len();
        self.ntmp = 0;
        self.condition(&when.cond)?;
        self.check_instr_limit(when.cond.span)?;
        let body_start = self.instrs.len();
        for stmt in &when.body {
            self.ntmp = 0;
            self.statement(stmt)?;
            self.check_instr_limit(stmt.span)?;
        }
        let end = self.instrs.len();
        Ok(Event {
            cond_start: cond_start as u32,
            cond_len: (body_start - cond_start) as u32,
            body_start: body_start as u32,
            body_len: (end - body_start) as u32,
        })
    }

    fn condition(&mut self, cond: &Expr<'s>) -> Result<(), CompileError> {
        if let ExprKind::Op {
            op: BinOp::Bind, ..
        } = cond.kind
        {
            return self.err(
                ErrorKind::ConditionNotBool("an assignment".into()),
                cond.span,
            );
        }
        let v = self.expr(cond)?;
        let flag = Operand::new(RegKind::Implicit, implicit::EVENT_FLAG);
        match (v.src, v.ty) {
            (Src::Tmp, Some(ValType::Bool)) => {
                if let Some(last) = self.instrs.last_mut() {
                    last.result = flag;
                }
            }
            (Src::Imm, Some(ValType::Bool)) => self.bind(flag, v.op),
            (Src::Var(name), Some(ValType::Bool)) => {
                self.warn(
                    format!(
                        "portus rejects a bare variable as a `when` condition; write \
                         `(&& {name} true)` to stay compatible"
                    ),
                    cond.span,
                );
                self.bind(flag, v.op);
            }
            (Src::Var(name), None) => {
                return self.err(ErrorKind::UseBeforeAssign(name.to_string()), cond.span);
            }
            (Src::Var(name), Some(ValType::Num)) => {
                return self.err(
                    ErrorKind::ConditionNotBool(format!(
                        "the Num variable `{name}` (compare it, e.g. `(> {name} 0)`)"
                    )),
                    cond.span,
                );
            }
            (Src::Tmp, _) => {
                return self.err(
                    ErrorKind::ConditionNotBool("a Num expression".into()),
                    cond.span,
                );
            }
            (Src::Imm, _) => {
                return self.err(ErrorKind::ConditionNotBool("a number".into()), cond.span);
            }
        }
        Ok(())
    }

    fn statement(&mut self, stmt: &Expr<'s>) -> Result<(), CompileError> {
        match &stmt.kind {
            ExprKind::Num(_) | ExprKind::Bool(_) | ExprKind::Name(_) => {
                self.expr(stmt)?;
                self.warn("this statement has no effect".into(), stmt.span);
            }
            ExprKind::Op {
                op: BinOp::Bind, ..
            }
            | ExprKind::Report
            | ExprKind::Fallthrough => {
                self.expr(stmt)?;
            }
            ExprKind::Op { .. } => {
                self.expr(stmt)?;
                self.warn(
                    "the value of this expression is computed and discarded".into(),
                    stmt.span,
                );
            }
        }
        Ok(())
    }

    fn bind(&mut self, target: Operand, value: Operand) {
        self.instrs.push(Instr {
            op: Op::Bind,
            result: target,
            left: target,
            right: value,
        });
    }

    fn imm(&self, n: u64, span: Span) -> Result<Val<'s>, CompileError> {
        match immediate(n) {
            Some(op) => Ok(Val {
                op,
                ty: Some(ValType::Num),
                src: Src::Imm,
            }),
            None => self.err(ErrorKind::ImmediateTooLarge(n), span),
        }
    }

    fn new_tmp(&mut self, ty: ValType, span: Span) -> Result<Val<'s>, CompileError> {
        if self.ntmp >= MAX_TMPS {
            return self.err(ErrorKind::TooManyTemporaries(MAX_TMPS), span);
        }
        let op = Operand::new(RegKind::Tmp, self.ntmp as u32);
        self.ntmp += 1;
        Ok(Val {
            op,
            ty: Some(ty),
            src: Src::Tmp,
        })
    }

    /// Resolve a name, creating a local for an unknown plain name (as portus does).
    fn name(&mut self, name: &'s str, span: Span) -> Result<Val<'s>, CompileError> {
        if let Some(v) = self.scope.get(name) {
            return Ok(Val {
                op: v.operand(),
                ty: v.ty,
                src: Src::Var(name),
            });
        }
        if name.starts_with("Report.") {
            return self.err(ErrorKind::UndeclaredReport(name.to_string()), span);
        }
        if name.starts_with("Ack.") || name.starts_with("Flow.") {
            return self.err(ErrorKind::UnknownPrimitive(name.to_string()), span);
        }
        if self.nlocal >= MAX_LOCALS {
            return self.err(
                ErrorKind::TooManyLocals {
                    max: MAX_LOCALS,
                    name: name.to_string(),
                },
                span,
            );
        }
        let var = Var {
            name: name.to_string(),
            class: VarClass::Local,
            index: self.nlocal as u32,
            volatile: false,
            ty: None,
            default: None,
        };
        self.nlocal += 1;
        let val = Val {
            op: var.operand(),
            ty: None,
            src: Src::Var(name),
        };
        self.scope.push(var);
        Ok(val)
    }

    fn check_operand(
        &self,
        v: &Val<'s>,
        e: &Expr<'s>,
        op_text: &str,
        want: ValType,
    ) -> Result<(), CompileError> {
        match (v.ty, v.src) {
            (None, Src::Var(name)) => {
                self.err(ErrorKind::UseBeforeAssign(name.to_string()), e.span)
            }
            (Some(t), _) if t == want => Ok(()),
            (t, _) => self.err(
                ErrorKind::TypeMismatch {
                    op: op_text.to_string(),
                    expected: type_name(want),
                    found: t.map_or("an unknown type", type_name),
                },
                e.span,
            ),
        }
    }

    fn expr(&mut self, e: &Expr<'s>) -> Result<Val<'s>, CompileError> {
        match &e.kind {
            ExprKind::Num(n) => self.imm(*n, e.span),
            ExprKind::Bool(b) => Ok(Val {
                op: Operand::imm(u32::from(*b)),
                ty: Some(ValType::Bool),
                src: Src::Imm,
            }),
            ExprKind::Name(n) => self.name(n, e.span),
            ExprKind::Report | ExprKind::Fallthrough => {
                let idx = if e.kind == ExprKind::Report {
                    implicit::SHOULD_REPORT
                } else {
                    implicit::SHOULD_CONTINUE
                };
                let reg = Operand::new(RegKind::Implicit, idx);
                self.bind(reg, Operand::imm(1));
                Ok(Val {
                    op: reg,
                    ty: Some(ValType::Bool),
                    src: Src::Var(implicit::name(idx).unwrap_or_default()),
                })
            }
            ExprKind::Op {
                op,
                op_text,
                left,
                right,
                ..
            } => {
                let (opcode, operand_ty, result_ty) = match op {
                    BinOp::Bind => return self.assign(op_text, left, right, e.span),
                    BinOp::If | BinOp::NotIf | BinOp::Ewma => {
                        return self.err(
                            ErrorKind::ConditionalOutsideBind(op_text.to_string()),
                            e.span,
                        );
                    }
                    BinOp::Add => (Op::Add, ValType::Num, ValType::Num),
                    BinOp::Sub => (Op::Sub, ValType::Num, ValType::Num),
                    BinOp::Mul => (Op::Mul, ValType::Num, ValType::Num),
                    BinOp::Div => (Op::Div, ValType::Num, ValType::Num),
                    BinOp::Max => (Op::Max, ValType::Num, ValType::Num),
                    BinOp::MaxWrap => (Op::MaxWrap, ValType::Num, ValType::Num),
                    BinOp::Min => (Op::Min, ValType::Num, ValType::Num),
                    BinOp::Equiv => (Op::Equiv, ValType::Num, ValType::Bool),
                    BinOp::Gt => (Op::Gt, ValType::Num, ValType::Bool),
                    BinOp::Lt => (Op::Lt, ValType::Num, ValType::Bool),
                    BinOp::And => (Op::Mul, ValType::Bool, ValType::Bool),
                    BinOp::Or => (Op::Add, ValType::Bool, ValType::Bool),
                };
                let l = self.expr(left)?;
                let r = self.expr(right)?;
                self.check_operand(&l, left, op_text, operand_ty)?;
                self.check_operand(&r, right, op_text, operand_ty)?;
                let res = self.new_tmp(result_ty, e.span)?;
                self.instrs.push(Instr {
                    op: opcode,
                    result: res.op,
                    left: l.op,
                    right: r.op,
                });
                Ok(res)
            }
        }
    }

    /// `(:= target value)`.
    fn assign(
        &mut self,
        op_text: &str,
        target: &Expr<'s>,
        value: &Expr<'s>,
        span: Span,
    ) -> Result<Val<'s>, CompileError> {
        let ExprKind::Name(tname) = target.kind else {
            return self.err(
                ErrorKind::AssignToNonVariable(op_text.to_string()),
                target.span,
            );
        };
        let existed = self.scope.has(tname);
        let t = self.name(tname, target.span)?;
        let class = self.scope.get(tname).map(|v| v.class);
        if class == Some(VarClass::Primitive) {
            return self.err(ErrorKind::AssignToPrimitive(tname.to_string()), target.span);
        }
        if !existed {
            if let Some(similar) = self.similar_declared(tname) {
                self.warn(
                    format!(
                        "`{tname}` is not declared, so assigning to it creates a local variable \
                         (did you mean `{similar}`?)"
                    ),
                    target.span,
                );
            }
        }
        // `if` / `!if` / `ewma` write their result straight into the target.
        if let ExprKind::Op {
            op: op @ (BinOp::If | BinOp::NotIf | BinOp::Ewma),
            op_text: cond_text,
            left,
            right,
            ..
        } = &value.kind
        {
            if !matches!(class, Some(VarClass::Report | VarClass::Control)) {
                return self.err(
                    ErrorKind::ConditionalBadTarget {
                        op: cond_text.to_string(),
                        target: tname.to_string(),
                    },
                    span,
                );
            }
            let l = self.expr(left)?;
            let r = self.expr(right)?;
            self.instrs.push(Instr {
                op: match op {
                    BinOp::If => Op::If,
                    BinOp::NotIf => Op::NotIf,
                    _ => Op::Ewma,
                },
                result: t.op,
                left: l.op,
                right: r.op,
            });
            return Ok(t);
        }
        let v = self.expr(value)?;
        if let (Src::Var(vname), None) = (v.src, v.ty) {
            self.warn(
                format!(
                    "`{vname}` is read before its first assignment: it holds the value left by \
                     a previous ACK (or garbage)"
                ),
                value.span,
            );
        }
        let mut t = t;
        match (t.ty, v.ty) {
            (None, Some(vt)) => {
                if let Some(var) = self.scope.get_mut(tname) {
                    var.ty = Some(vt);
                }
                t.ty = Some(vt);
            }
            (Some(tt), Some(vt)) if tt != vt => self.warn(
                format!(
                    "assigning a {} value to the {} variable `{tname}`",
                    type_name(vt),
                    type_name(tt)
                ),
                value.span,
            ),
            _ => {}
        }
        self.bind(t.op, v.op);
        Ok(t)
    }

    fn similar_declared(&self, name: &str) -> Option<&str> {
        self.decls
            .iter()
            .map(|d| (edit_distance(&d.name, name), d.name.as_str()))
            .filter(|&(dist, _)| dist <= 2)
            .min_by_key(|&(dist, _)| dist)
            .map(|(_, n)| n)
    }
}

/// Levenshtein distance between two short strings (for "did you mean" hints).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("Control.numer", "Control.number"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn immediates() {
        assert_eq!(immediate(0), Some(Operand::imm(0)));
        assert_eq!(immediate((1 << 31) - 1), Some(Operand::imm(0x7FFF_FFFF)));
        assert_eq!(immediate(1 << 31), None);
        assert_eq!(immediate(u64::MAX), Some(Operand::imm(u32::MAX)));
    }
}
