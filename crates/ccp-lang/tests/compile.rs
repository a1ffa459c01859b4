//! Compiler output for known programs: the spec's worked examples (§2.7, §3.9) and the
//! programs of portus's own compiler tests, instruction by instruction.

use ccp_lang::bytecode::{Event, Instr, Op, Operand, RegKind, ValType};
use ccp_lang::{CompileWithPresetsError, PresetError, VarClass, compile, compile_with_presets};

fn vrep(i: u32) -> Operand {
    Operand::new(RegKind::VolatileReport, i)
}
fn rep(i: u32) -> Operand {
    Operand::new(RegKind::Report, i)
}
fn ctrl(i: u32) -> Operand {
    Operand::new(RegKind::Control, i)
}
fn vctrl(i: u32) -> Operand {
    Operand::new(RegKind::VolatileControl, i)
}
fn imp(i: u32) -> Operand {
    Operand::new(RegKind::Implicit, i)
}
fn prim(i: u32) -> Operand {
    Operand::new(RegKind::Primitive, i)
}
fn tmp(i: u32) -> Operand {
    Operand::new(RegKind::Tmp, i)
}
fn local(i: u32) -> Operand {
    Operand::new(RegKind::Local, i)
}
fn imm(v: u32) -> Operand {
    Operand::imm(v)
}
fn ins(op: Op, result: Operand, left: Operand, right: Operand) -> Instr {
    Instr {
        op,
        result,
        left,
        right,
    }
}
fn def(r: Operand, v: u32) -> Instr {
    ins(Op::Def, r, r, imm(v))
}
fn bind(r: Operand, v: Operand) -> Instr {
    ins(Op::Bind, r, r, v)
}
fn ev(cond_start: u32, cond_len: u32, body_start: u32, body_len: u32) -> Event {
    Event {
        cond_start,
        cond_len,
        body_start,
        body_len,
    }
}

const FLAG: u32 = 0;
const CONTINUE: u32 = 1;
const REPORT: u32 = 2;
const MICROS: u32 = 3;
const CWND: u32 = 4;

#[test]
fn spec_2_7_install_example_bytes() {
    let p = compile(
        "(def (Report (volatile foo 0))) (when true (bind Report.foo 4))",
        7,
    )
    .unwrap();
    assert_eq!(p.uid, 7);
    assert_eq!(p.install_len(), 84);
    let expected: Vec<u8> = [
        &[1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0][..],
        &[2, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 0, 0, 0, 0],
        &[1, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 1, 0, 0, 0],
        &[1, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 4, 0, 0, 0],
    ]
    .concat();
    assert_eq!(p.encode_body(), expected);
}

const DATAPATH_INTERVAL: &str = "
(def
    (Report
        (volatile acked 0)
        (volatile sacked 0)
        (volatile loss 0)
        (volatile timeout false)
        (volatile rtt 0)
        (volatile inflight 0)
    )
    (reportTime 0)
)
(when true
    (:= Report.inflight Flow.packets_in_flight)
    (:= Report.rtt Flow.rtt_sample_us)
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.sacked (+ Report.sacked Ack.packets_misordered))
    (:= Report.loss Ack.lost_pkts_sample)
    (:= Report.timeout Flow.was_timeout)
    (fallthrough)
)
(when (|| Report.timeout (> Report.loss 0))
    (report)
    (:= Micros 0)
)
(when (> Micros reportTime)
    (report)
    (:= Micros 0)
)
";

#[test]
fn spec_3_9_datapath_interval_prog_table() {
    let p = compile(DATAPATH_INTERVAL, 1).unwrap();
    let expected = vec![
        def(vrep(0), 0),
        def(vrep(5), 0),
        def(vrep(2), 0),
        def(vrep(4), 0),
        def(vrep(1), 0),
        def(vrep(3), 0),
        def(ctrl(0), 0),
        bind(imp(FLAG), imm(1)),
        bind(vrep(5), prim(10)),
        bind(vrep(4), prim(13)),
        ins(Op::Add, tmp(0), vrep(0), prim(0)),
        bind(vrep(0), tmp(0)),
        ins(Op::Add, tmp(0), vrep(1), prim(7)),
        bind(vrep(1), tmp(0)),
        bind(vrep(2), prim(4)),
        bind(vrep(3), prim(14)),
        bind(imp(CONTINUE), imm(1)),
        ins(Op::Gt, tmp(0), vrep(2), imm(0)),
        ins(Op::Add, imp(FLAG), vrep(3), tmp(0)),
        bind(imp(REPORT), imm(1)),
        bind(imp(MICROS), imm(0)),
        ins(Op::Gt, imp(FLAG), imp(MICROS), ctrl(0)),
        bind(imp(REPORT), imm(1)),
        bind(imp(MICROS), imm(0)),
    ];
    assert_eq!(p.bin.instrs, expected);
    assert_eq!(
        p.bin.events,
        vec![ev(7, 1, 8, 9), ev(17, 2, 19, 2), ev(21, 1, 22, 2)]
    );
    assert_eq!(p.install_len(), 452);
    // Scope as listed in the spec.
    let names: Vec<(&str, u32)> = p
        .scope
        .reports()
        .iter()
        .map(|v| (v.short_name(), v.index))
        .collect();
    assert_eq!(
        names,
        [
            ("acked", 0),
            ("sacked", 1),
            ("loss", 2),
            ("timeout", 3),
            ("rtt", 4),
            ("inflight", 5)
        ]
    );
    assert_eq!(p.scope.report("timeout").unwrap().ty, Some(ValType::Bool));
    let rt = p.scope.get("reportTime").unwrap();
    assert_eq!(
        (rt.class, rt.kind(), rt.index),
        (VarClass::Control, RegKind::Control, 0)
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn portus_ewma() {
    let p = compile(
        "(def (Report.foo 0))\n(when true\n    (bind Report.foo (ewma 2 Flow.rate_outgoing))\n)",
        1,
    )
    .unwrap();
    assert_eq!(
        p.bin.instrs,
        vec![
            def(rep(0), 0),
            bind(imp(FLAG), imm(1)),
            ins(Op::Ewma, rep(0), imm(2), prim(12)),
        ]
    );
    assert_eq!(p.bin.events, vec![ev(1, 1, 2, 1)]);
}

#[test]
fn portus_infinity_if() {
    let p = compile(
        "(def (Report.foo +infinity))
         (when true
            (bind Report.foo (if (< Flow.rtt_sample_us Report.foo) Flow.rtt_sample_us)))",
        1,
    )
    .unwrap();
    assert_eq!(
        p.bin.instrs,
        vec![
            def(rep(0), u32::MAX),
            bind(imp(FLAG), imm(1)),
            ins(Op::Lt, tmp(0), prim(13), rep(0)),
            ins(Op::If, rep(0), tmp(0), prim(13)),
        ]
    );
    assert_eq!(p.scope.get("Report.foo").unwrap().default, Some(u64::MAX));
    assert_eq!(
        p.scope.get("Report.foo").unwrap().datapath_default(),
        Some(0xFFFF_FFFF)
    );
}

#[test]
fn portus_control_def_and_if() {
    let p = compile(
        "(def (Control.foo +infinity))
         (when (< Flow.rtt_sample_us Control.foo)
            (bind Control.foo Flow.rtt_sample_us)
            (report))",
        1,
    )
    .unwrap();
    assert_eq!(
        p.bin.instrs,
        vec![
            def(ctrl(0), u32::MAX),
            ins(Op::Lt, imp(FLAG), prim(13), ctrl(0)),
            bind(ctrl(0), prim(13)),
            bind(imp(REPORT), imm(1)),
        ]
    );
    let p = compile(
        "(def (controlFoo 0))
         (when true (bind  controlFoo (if (== controlFoo 0) (+ controlFoo 1))))",
        1,
    )
    .unwrap();
    assert_eq!(
        p.bin.instrs,
        vec![
            def(ctrl(0), 0),
            bind(imp(FLAG), imm(1)),
            ins(Op::Equiv, tmp(0), ctrl(0), imm(0)),
            ins(Op::Add, tmp(1), ctrl(0), imm(1)),
            ins(Op::If, ctrl(0), tmp(0), tmp(1)),
        ]
    );
}

#[test]
fn portus_intermediate_local() {
    let p = compile(
        "(def (Report.foo 0))
         (when true (bind bar 3) (bind Report.foo (+ 2 bar)))",
        1,
    )
    .unwrap();
    assert_eq!(
        p.bin.instrs,
        vec![
            def(rep(0), 0),
            bind(imp(FLAG), imm(1)),
            bind(local(0), imm(3)),
            ins(Op::Add, tmp(0), imm(2), local(0)),
            bind(rep(0), tmp(0)),
        ]
    );
    let bar = p.scope.get("bar").unwrap();
    assert_eq!((bar.class, bar.ty), (VarClass::Local, Some(ValType::Num)));
}

#[test]
fn portus_temporaries_restart_per_statement() {
    let p = compile(
        "(def (Report.foo 0))
         (when (> (+ 1 2) 3)
            (bind Report.foo (+ (+ 1 2) 3))
            (bind Report.foo (+ (+ 4 5) 6)))",
        1,
    )
    .unwrap();
    assert_eq!(
        p.bin.instrs,
        vec![
            def(rep(0), 0),
            ins(Op::Add, tmp(0), imm(1), imm(2)),
            ins(Op::Gt, imp(FLAG), tmp(0), imm(3)),
            ins(Op::Add, tmp(0), imm(1), imm(2)),
            ins(Op::Add, tmp(1), tmp(0), imm(3)),
            bind(rep(0), tmp(1)),
            ins(Op::Add, tmp(0), imm(4), imm(5)),
            ins(Op::Add, tmp(1), tmp(0), imm(6)),
            bind(rep(0), tmp(1)),
        ]
    );
    assert_eq!(p.bin.events, vec![ev(1, 2, 3, 6)]);
}

#[test]
fn portus_bool_ops_and_commands() {
    let p = compile(
        "(def (Report.acked 0) (Control.state 0))
         (when true
            (:= Report.acked (+ Report.acked Ack.bytes_acked))
            (fallthrough))
         (when (&& (> Micros 3000000) (== Control.state 0))
            (:= Control.state 1)
            (report))",
        1,
    )
    .unwrap();
    assert_eq!(
        p.bin.instrs,
        vec![
            def(ctrl(0), 0),
            def(rep(0), 0),
            bind(imp(FLAG), imm(1)),
            ins(Op::Add, tmp(0), rep(0), prim(0)),
            bind(rep(0), tmp(0)),
            bind(imp(CONTINUE), imm(1)),
            ins(Op::Gt, tmp(0), imp(MICROS), imm(3_000_000)),
            ins(Op::Equiv, tmp(1), ctrl(0), imm(0)),
            ins(Op::Mul, imp(FLAG), tmp(0), tmp(1)),
            bind(ctrl(0), imm(1)),
            bind(imp(REPORT), imm(1)),
        ]
    );
    assert_eq!(p.bin.events, vec![ev(2, 1, 3, 3), ev(6, 3, 9, 2)]);
}

#[test]
fn portus_multiple_events() {
    let p = compile(
        "(def (Report.foo 0))
         (when true (bind Report.foo 4))
         (when (> 2 3) (bind Report.foo 5))",
        1,
    )
    .unwrap();
    assert_eq!(
        p.bin.instrs,
        vec![
            def(rep(0), 0),
            bind(imp(FLAG), imm(1)),
            bind(rep(0), imm(4)),
            ins(Op::Gt, imp(FLAG), imm(2), imm(3)),
            bind(rep(0), imm(5)),
        ]
    );
    assert_eq!(p.bin.events, vec![ev(1, 1, 2, 1), ev(3, 1, 4, 1)]);
}

#[test]
fn word_spellings_compile_like_symbols() {
    let sym = compile(
        "(def (Report (volatile a 0) (volatile b false)) (n 0))
         (when (&& (> n 1) (|| (< n 9) (== n 4)))
            (:= Report.a (- (+ (* n 2) (/ n 2)) 1))
            (:= Report.b (&& true false)))",
        3,
    )
    .unwrap();
    let word = compile(
        "(def (Report (volatile a 0) (volatile b false)) (n 0))
         (when (and (gt n 1) (or (lt n 9) (eq n 4)))
            (bind Report.a (sub (add (mul n 2) (div n 2)) 1))
            (bind Report.b (and true false)))",
        3,
    )
    .unwrap();
    assert_eq!(sym.bin, word.bin);
    assert!(sym.bin.instrs.iter().any(|i| i.op == Op::Sub));
}

#[test]
fn def_order_is_bytewise_and_report_indices_follow_declarations() {
    // Old-style decls before and after the Report block come after the block's entries.
    let p = compile(
        "(def (Report.zOld 1) (beta 2) (Report (volatile b 3) (A 4)) (alpha 5) (volatile Report.aOld 6))
         (when true (report))",
        1,
    )
    .unwrap();
    let idx = |n: &str| p.scope.get(n).map(|v| (v.kind(), v.index));
    assert_eq!(idx("Report.b"), Some((RegKind::VolatileReport, 0)));
    assert_eq!(idx("Report.A"), Some((RegKind::Report, 1)));
    assert_eq!(idx("Report.zOld"), Some((RegKind::Report, 2)));
    assert_eq!(idx("Report.aOld"), Some((RegKind::VolatileReport, 3)));
    assert_eq!(idx("beta"), Some((RegKind::Control, 0)));
    assert_eq!(idx("alpha"), Some((RegKind::Control, 1)));
    // DEFs: Report.A < Report.aOld < Report.b < Report.zOld < alpha < beta (bytes).
    let defs: Vec<u32> = p.bin.instrs[..6].iter().map(|i| i.right.value).collect();
    assert_eq!(defs, [4, 6, 3, 1, 5, 2]);
    assert!(
        p.bin.instrs[..6]
            .iter()
            .all(|i| i.op == Op::Def && i.left == i.result)
    );
    // Old-style non-volatile report var: portus semantics kept, with a warning.
    assert!(
        p.warnings
            .iter()
            .any(|w| w.message.contains("`Report.zOld` is not volatile"))
    );
    assert!(!p.warnings.iter().any(|w| w.message.contains("Report.aOld")));
}

#[test]
fn presets_replace_defaults() {
    let src = "(def (Report (volatile acked 0) (flag false)) (reportTime 7) (volatile gain 1))
               (when (> Micros reportTime) (report))";
    let p = compile_with_presets(
        src,
        9,
        &[
            ("reportTime", 20_000),
            ("gain", u64::MAX),
            ("Report.flag", 1),
        ],
    )
    .unwrap();
    let def_of = |o: Operand| {
        p.bin
            .instrs
            .iter()
            .find(|i| i.op == Op::Def && i.result == o)
            .map(|i| i.right)
    };
    assert_eq!(def_of(ctrl(0)), Some(imm(20_000)));
    assert_eq!(def_of(vctrl(1)), Some(imm(u32::MAX)));
    assert_eq!(def_of(rep(1)), Some(imm(1)));
    assert_eq!(def_of(vrep(0)), Some(imm(0)));
    assert_eq!(p.scope.get("reportTime").unwrap().default, Some(20_000));
    let err = |presets: &[(&str, u64)]| match compile_with_presets(src, 9, presets) {
        Err(CompileWithPresetsError::Preset(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(err(&[("nope", 1)]), PresetError::Unknown("nope".into()));
    assert_eq!(err(&[("Cwnd", 1)]), PresetError::NotDeclared("Cwnd".into()));
    assert_eq!(
        err(&[("reportTime", 1 << 31)]),
        PresetError::TooLarge("reportTime".into(), 1 << 31)
    );
    assert_eq!(
        err(&[("Report.flag", 2)]),
        PresetError::NotBool("Report.flag".into(), 2)
    );
}

#[test]
fn scope_resolves_names_for_the_agent() {
    let p = compile(
        "(def (Report (volatile acked 0) (rtt 0)) (volatile ctl 3) (keep 1))
         (when true (:= tmpval Ack.bytes_acked) (:= Report.acked tmpval) (:= Cwnd (+ Cwnd 1)))",
        2,
    )
    .unwrap();
    let s = &p.scope;
    assert_eq!(s.num_reports(), 2);
    assert_eq!(s.report("rtt").unwrap().operand(), rep(1));
    assert_eq!(s.report("Report.acked").unwrap().operand(), vrep(0));
    assert_eq!(s.update_target("ctl"), Ok(vctrl(0)));
    assert_eq!(s.update_target("keep"), Ok(ctrl(1)));
    assert_eq!(s.update_target("Cwnd"), Ok(imp(CWND)));
    assert_eq!(s.update_target("Rate"), Ok(imp(5)));
    assert!(s.update_target("Report.rtt").is_err());
    assert!(s.update_target("tmpval").is_err());
    assert!(s.update_target("Flow.rtt_sample_us").is_err());
    assert_eq!(s.get("tmpval").unwrap().operand(), local(0));
    assert_eq!(s.controls().len(), 2);
    assert_eq!(s.locals().len(), 1);
}

#[test]
fn limits_at_the_boundary_compile() {
    // 16 report + 16 control variables.
    let mut src = String::from("(def (Report");
    for i in 0..16 {
        src.push_str(&format!(" (r{i} 0)"));
    }
    src.push(')');
    for i in 0..16 {
        src.push_str(&format!(" (c{i} 0)"));
    }
    src.push_str(")\n(when true\n");
    // 6 locals.
    for i in 0..6 {
        src.push_str(&format!("(:= l{i} {i})\n"));
    }
    // A statement with exactly 8 temporaries.
    src.push_str("(:= Report.r0 (+ (+ (+ (+ 1 2) (+ 3 4)) (+ (+ 5 6) (+ 7 8))) 0)))");
    let p = compile(&src, 1).unwrap();
    assert_eq!(p.scope.num_reports(), 16);
    assert_eq!(p.scope.locals().len(), 6);
    let max_tmp = p
        .bin
        .instrs
        .iter()
        .filter(|i| i.result.kind == RegKind::Tmp)
        .map(|i| i.result.value)
        .max();
    assert_eq!(max_tmp, Some(7));

    // Exactly 255 instructions: 1 DEF + 127 events of (cond, body) pairs.
    let mut src = String::from("(def (x 0))\n");
    for _ in 0..127 {
        src.push_str("(when true (:= x 1))\n");
    }
    let p = compile(&src, 1).unwrap();
    assert_eq!(p.bin.instrs.len(), 255);
    assert!(p.bin.validate().is_ok());
}

#[test]
fn immediates_and_infinity_encoding() {
    let p = compile(
        "(def (Report (volatile a +infinity)))
         (when true (:= Report.a (min 2147483647 +infinity)) (:= Report.a 18446744073709551615))",
        1,
    )
    .unwrap();
    assert_eq!(p.bin.instrs[0], def(vrep(0), u32::MAX));
    assert_eq!(
        p.bin.instrs[2],
        ins(Op::Min, tmp(0), imm(0x7FFF_FFFF), imm(u32::MAX))
    );
    assert_eq!(p.bin.instrs[4], bind(vrep(0), imm(u32::MAX)));
}

#[test]
fn bare_bool_variable_condition_is_accepted_with_a_warning() {
    let p = compile("(def (flag true))\n(when flag (report))", 1).unwrap();
    assert_eq!(
        p.bin.instrs,
        vec![
            def(ctrl(0), 1),
            bind(imp(FLAG), ctrl(0)),
            bind(imp(REPORT), imm(1)),
        ]
    );
    assert_eq!(p.warnings.len(), 1);
    assert_eq!((p.warnings[0].line, p.warnings[0].col), (2, 7));
    assert!(p.warnings[0].message.contains("(&& flag true)"));
    // The same for a primitive.
    assert!(compile("(def)\n(when Flow.was_timeout (report))", 1).is_ok());
}

#[test]
fn typo_local_warns_with_suggestion() {
    let p = compile(
        "(def (Control.number 0) (Report.value 0))
(when (> Control.number 0)
    (:= Report.value Control.number)
    (:= Control.numer 0)
    (report)
)",
        1,
    )
    .unwrap();
    let w: Vec<String> = p.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter().any(|m| m
            == "4:9: warning: `Control.numer` is not declared, so assigning to it creates a \
                local variable (did you mean `Control.number`?)"),
        "{w:?}"
    );
}

#[test]
fn comments_anywhere_do_not_change_the_code() {
    let plain = compile(DATAPATH_INTERVAL, 1).unwrap();
    let commented: String = DATAPATH_INTERVAL
        .lines()
        .map(|l| format!("{l} # note (with parens) ((\n"))
        .collect();
    let commented = format!("# leading comment\n{commented}# trailing comment");
    assert_eq!(compile(&commented, 1).unwrap().bin, plain.bin);
}

#[test]
fn listing_names_registers() {
    let p = compile(DATAPATH_INTERVAL, 1).unwrap();
    let l = ccp_lang::listing::listing(&p);
    assert!(l.starts_with("program uid 1: 3 events, 24 instructions, INSTALL message 452 bytes\n"));
    assert!(l.contains("  Report.timeout   report    vrep3     Bool  yes       false\n"));
    assert!(l.contains("    1  condition 17..19 (2 instrs), body 19..21 (2 instrs)\n"));
    assert!(l.contains("   18  ADD      impl0(__eventFlag) <- vrep3(Report.timeout), tmp0\n"));
    assert!(l.contains("    6  DEF      ctrl0(reportTime) default imm 0\n"));
}
