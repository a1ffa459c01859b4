//! Human-readable listing of a compiled program: variables, events, instructions.

use crate::bytecode::{Op, Operand, RegKind, ValType};
use crate::compiler::CompiledProgram;
use crate::scope::{Scope, VarClass};
use std::fmt::Write;

/// An operand with its register name where the program knows it, e.g.
/// `vrep0(Report.acked)`, `prim13(Flow.rtt_sample_us)`, `tmp0`, `imm 4`.
pub fn operand_name(scope: &Scope, op: Operand) -> String {
    match op.kind {
        RegKind::Immediate => format!("imm {}", op.value),
        RegKind::Tmp => format!("tmp{}", op.value),
        k => match scope.name_of(op) {
            Some(n) => format!("{}{}({})", k.short_name(), op.value, n),
            None => format!("{}{}", k.short_name(), op.value),
        },
    }
}

fn range(start: u32, len: u32) -> String {
    let unit = if len == 1 { "instr" } else { "instrs" };
    format!("{}..{} ({len} {unit})", start, start as u64 + len as u64)
}

/// Render the whole listing (ends with a newline).
pub fn listing(p: &CompiledProgram) -> String {
    let mut s = String::new();
    let bin = &p.bin;
    let _ = writeln!(
        s,
        "program uid {}: {} events, {} instructions, INSTALL message {} bytes",
        p.uid,
        bin.events.len(),
        bin.instrs.len(),
        p.install_len()
    );

    let _ = writeln!(s, "\nvariables:");
    let vars: Vec<_> = p
        .scope
        .reports()
        .into_iter()
        .chain(p.scope.controls())
        .chain(p.scope.locals())
        .collect();
    if vars.is_empty() {
        let _ = writeln!(s, "  (none)");
    } else {
        let width = vars.iter().map(|v| v.name.len()).max().unwrap_or(0).max(4);
        let _ = writeln!(
            s,
            "  {:<width$}  {:<8}  {:<8}  {:<4}  {:<8}  default",
            "name", "class", "register", "type", "volatile"
        );
        for v in vars {
            let class = match v.class {
                VarClass::Report => "report",
                VarClass::Control => "control",
                VarClass::Local => "local",
                VarClass::Primitive => "prim",
                VarClass::Implicit => "implicit",
            };
            let ty = match v.ty {
                Some(ValType::Num) => "Num",
                Some(ValType::Bool) => "Bool",
                None => "?",
            };
            let default = match v.default {
                None => "-".to_string(),
                Some(u64::MAX) => "+infinity".to_string(),
                Some(d) if v.ty == Some(ValType::Bool) => (d != 0).to_string(),
                Some(d) => d.to_string(),
            };
            let volatile = match v.class {
                VarClass::Report | VarClass::Control if v.volatile => "yes",
                VarClass::Report | VarClass::Control => "no",
                _ => "-",
            };
            let reg = format!("{}{}", v.kind().short_name(), v.index);
            let _ = writeln!(
                s,
                "  {:<width$}  {class:<8}  {reg:<8}  {ty:<4}  {volatile:<8}  {default}",
                v.name
            );
        }
    }

    let _ = writeln!(s, "\nevents:");
    for (i, e) in bin.events.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {i:>3}  condition {}, body {}",
            range(e.cond_start, e.cond_len),
            range(e.body_start, e.body_len)
        );
    }

    let _ = writeln!(s, "\ninstructions:");
    for (i, ins) in bin.instrs.iter().enumerate() {
        let res = operand_name(&p.scope, ins.result);
        let left = operand_name(&p.scope, ins.left);
        let right = operand_name(&p.scope, ins.right);
        let text = match ins.op {
            Op::Def => format!("{res} default {right}"),
            Op::Bind => format!("{res} <- {right}"),
            _ => format!("{res} <- {left}, {right}"),
        };
        let _ = writeln!(s, "  {i:>3}  {:<7}  {text}", ins.op.mnemonic());
    }
    s
}
