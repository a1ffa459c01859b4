//! Unit tests of the VM's semantics (opcodes, events, staging, DEF passes, reports, time).

use std::sync::Arc;

use super::*;
use crate::bytecode::{Bin, BinError, Event, Instr, Op, Operand, RegKind, implicit, primitive};

const FLAG: Operand = Operand::new(RegKind::Implicit, implicit::EVENT_FLAG);
const CONT: Operand = Operand::new(RegKind::Implicit, implicit::SHOULD_CONTINUE);
const REPORT: Operand = Operand::new(RegKind::Implicit, implicit::SHOULD_REPORT);
const MICROS: Operand = Operand::new(RegKind::Implicit, implicit::MICROS);
const CWND: Operand = Operand::new(RegKind::Implicit, implicit::CWND);
const RATE: Operand = Operand::new(RegKind::Implicit, implicit::RATE);

fn imm(v: u32) -> Operand {
    Operand::imm(v)
}
fn ctrl(i: u32) -> Operand {
    Operand::new(RegKind::Control, i)
}
fn vctrl(i: u32) -> Operand {
    Operand::new(RegKind::VolatileControl, i)
}
fn rep(i: u32) -> Operand {
    Operand::new(RegKind::Report, i)
}
fn vrep(i: u32) -> Operand {
    Operand::new(RegKind::VolatileReport, i)
}
fn tmp(i: u32) -> Operand {
    Operand::new(RegKind::Tmp, i)
}
fn local(i: u32) -> Operand {
    Operand::new(RegKind::Local, i)
}
fn prim(i: u32) -> Operand {
    Operand::new(RegKind::Primitive, i)
}

fn ins(op: Op, result: Operand, left: Operand, right: Operand) -> Instr {
    Instr {
        op,
        result,
        left,
        right,
    }
}
fn bind(result: Operand, right: Operand) -> Instr {
    ins(Op::Bind, result, result, right)
}
fn def(result: Operand, default: u32) -> Instr {
    ins(Op::Def, result, result, imm(default))
}
fn cond_true() -> Vec<Instr> {
    vec![bind(FLAG, imm(1))]
}
fn cond_false() -> Vec<Instr> {
    vec![bind(FLAG, imm(0))]
}

/// Lay out `defs ++ cond0 ++ body0 ++ cond1 ++ …` with matching event descriptors.
fn bin(defs: Vec<Instr>, events: Vec<(Vec<Instr>, Vec<Instr>)>) -> Bin {
    let mut instrs = defs;
    let mut evs = Vec::new();
    for (cond, body) in events {
        let cond_start = instrs.len() as u32;
        instrs.extend_from_slice(&cond);
        let body_start = instrs.len() as u32;
        instrs.extend_from_slice(&body);
        evs.push(Event {
            cond_start,
            cond_len: cond.len() as u32,
            body_start,
            body_len: body.len() as u32,
        });
    }
    Bin {
        events: evs,
        instrs,
    }
}

fn prog(uid: u32, defs: Vec<Instr>, events: Vec<(Vec<Instr>, Vec<Instr>)>) -> Arc<Program> {
    Arc::new(Program::new(uid, bin(defs, events)).expect("valid test program"))
}

fn flow_with(p: &Arc<Program>, updates: &[(u8, u32, u64)]) -> Flow {
    let mut f = Flow::new();
    f.stage_change_program(Arc::clone(p), updates.iter().copied())
        .expect("valid updates");
    f
}

fn quiet() -> Primitives {
    Primitives::default()
}

fn calls(o: &Outcome<'_>) -> Vec<Call> {
    o.calls().collect()
}

fn fields(o: &Outcome<'_>) -> Option<Vec<u64>> {
    o.report().map(|m| m.fields.to_vec())
}

/// Run `ctrl2 ← op(ctrl0, ctrl1)` with ctrl0 = l, ctrl1 = r, ctrl2 = d beforehand.
fn eval(op: Op, l: u64, r: u64, d: u64) -> Result<u64, InvokeError> {
    let p = prog(
        1,
        vec![],
        vec![(cond_true(), vec![ins(op, ctrl(2), ctrl(0), ctrl(1))])],
    );
    let mut f = flow_with(&p, &[(0, 0, l), (0, 1, r), (0, 2, d)]);
    let out = f.invoke(&quiet(), 0);
    out.result()?;
    Ok(f.register(RegKind::Control, 2))
}

fn code(r: Result<u64, InvokeError>) -> i32 {
    match r {
        Ok(_) => 0,
        Err(e) => e.libccp_code(),
    }
}

#[test]
fn add_and_overflow_abort() {
    assert_eq!(eval(Op::Add, 2, 3, 0), Ok(5));
    assert_eq!(eval(Op::Add, u64::MAX, 0, 0), Ok(u64::MAX));
    assert_eq!(
        eval(Op::Add, u64::MAX, 1, 9),
        Err(InvokeError::AddOverflow { instr: 1 })
    );
    assert_eq!(code(eval(Op::Add, 1 << 63, 1 << 63, 0)), -91);
}

#[test]
fn sub_and_underflow_abort() {
    assert_eq!(eval(Op::Sub, 5, 3, 0), Ok(2));
    assert_eq!(eval(Op::Sub, 0, 0, 7), Ok(0));
    assert_eq!(
        eval(Op::Sub, 3, 5, 0),
        Err(InvokeError::SubUnderflow { instr: 1 })
    );
    assert_eq!(code(eval(Op::Sub, 0, 1, 0)), -94);
}

#[test]
fn mul_and_libccp_overflow_quirk() {
    assert_eq!(eval(Op::Mul, 3, 4, 0), Ok(12));
    assert_eq!(eval(Op::Mul, 0, u64::MAX, 1), Ok(0));
    // r = 0: the product (0) is < l but libccp requires r > 0 to abort.
    assert_eq!(eval(Op::Mul, 5, 0, 1), Ok(0));
    // Detected: 2^63 · 2 wraps to 0 < 2^63.
    assert_eq!(
        eval(Op::Mul, 1 << 63, 2, 0),
        Err(InvokeError::MulOverflow { instr: 1 })
    );
    // Undetected (the quirk): 3 · (2^63 + 1) wraps to 2^63 + 3, which is ≥ 3.
    assert_eq!(eval(Op::Mul, 3, (1 << 63) + 1, 0), Ok((1 << 63) + 3));
}

#[test]
fn div_and_div_by_zero_abort() {
    assert_eq!(eval(Op::Div, 7, 2, 0), Ok(3));
    assert_eq!(eval(Op::Div, 0, 9, 5), Ok(0));
    assert_eq!(
        eval(Op::Div, 7, 0, 0),
        Err(InvokeError::DivByZero { instr: 1 })
    );
    assert_eq!(code(eval(Op::Div, 0, 0, 0)), -92);
}

#[test]
fn comparisons_min_max() {
    assert_eq!(eval(Op::Equiv, 4, 4, 9), Ok(1));
    assert_eq!(eval(Op::Equiv, 4, 5, 9), Ok(0));
    assert_eq!(eval(Op::Gt, 5, 4, 9), Ok(1));
    assert_eq!(eval(Op::Gt, 4, 4, 9), Ok(0));
    assert_eq!(eval(Op::Lt, 3, 4, 9), Ok(1));
    assert_eq!(eval(Op::Lt, 4, 4, 9), Ok(0));
    assert_eq!(eval(Op::Max, 3, u64::MAX, 0), Ok(u64::MAX));
    assert_eq!(eval(Op::Max, 8, 2, 0), Ok(8));
    assert_eq!(eval(Op::Min, 3, u64::MAX, 0), Ok(3));
    assert_eq!(eval(Op::Min, 8, 2, 0), Ok(2));
}

#[test]
fn bind_ignores_left_and_def_is_a_runtime_noop() {
    assert_eq!(eval(Op::Bind, 11, 22, 0), Ok(22));
    assert_eq!(eval(Op::Def, 11, 22, 33), Ok(33));
}

#[test]
fn if_and_notif() {
    assert_eq!(eval(Op::If, 1, 50, 7), Ok(50));
    assert_eq!(eval(Op::If, 0, 50, 7), Ok(7));
    assert_eq!(eval(Op::NotIf, 0, 50, 7), Ok(50));
    assert_eq!(eval(Op::NotIf, 2, 50, 7), Ok(7));
}

#[test]
fn ewma_rules() {
    // D = 0: take the new value.
    assert_eq!(eval(Op::Ewma, 8, 200, 0), Ok(200));
    // (8·100 + 2·200) / 10.
    assert_eq!(eval(Op::Ewma, 8, 200, 100), Ok(120));
    // Weight 0: only the new value; weight 10: only the old one.
    assert_eq!(eval(Op::Ewma, 0, 200, 100), Ok(200));
    assert_eq!(eval(Op::Ewma, 10, 200, 100), Ok(100));
    // Weight > 10: (10 − 11) wraps like libccp's u64 arithmetic:
    // (11·10 + (2^64 − 1)·1) mod 2^64 = 109, / 10 = 10.
    assert_eq!(eval(Op::Ewma, 11, 1, 10), Ok(10));
}

#[test]
fn maxwrap_cases() {
    assert_eq!(eval(Op::MaxWrap, 0, 5, 9), Ok(5));
    assert_eq!(eval(Op::MaxWrap, 5, 0, 9), Ok(5));
    // Zero cases return the other operand unchanged (all 64 bits).
    assert_eq!(eval(Op::MaxWrap, 0, 1 << 40, 9), Ok(1 << 40));
    assert_eq!(eval(Op::MaxWrap, 1, 2, 9), Ok(2));
    assert_eq!(eval(Op::MaxWrap, 2, 1, 9), Ok(2));
    assert_eq!(eval(Op::MaxWrap, 5, 5, 9), Ok(5));
    // 0x10 comes just after 0xFFFFFFF0 on the u32 circle.
    assert_eq!(eval(Op::MaxWrap, 0xFFFF_FFF0, 0x10, 9), Ok(0x10));
    assert_eq!(eval(Op::MaxWrap, 0x10, 0xFFFF_FFF0, 9), Ok(0x10));
    // Non-zero cases keep only the low 32 bits.
    assert_eq!(eval(Op::MaxWrap, 0x1_0000_0005, 3, 9), Ok(5));
    // Low half 0 but value non-zero: a32 = 0 compared with 7.
    assert_eq!(eval(Op::MaxWrap, 0x1_0000_0000, 7, 9), Ok(7));
}

#[test]
fn abort_skips_remaining_instructions_and_side_effects() {
    let p = prog(
        3,
        vec![def(vrep(0), 0)],
        vec![(
            cond_true(),
            vec![
                bind(vrep(0), imm(5)),
                bind(REPORT, imm(1)),
                bind(CWND, imm(999)),
                ins(Op::Sub, tmp(0), imm(1), imm(2)),
                bind(vrep(0), imm(6)),
            ],
        )],
    );
    let mut f = flow_with(&p, &[]);
    let prims = Primitives {
        snd_cwnd: 100,
        snd_rate: 7,
        ..quiet()
    };
    let out = f.invoke(&prims, 0);
    assert_eq!(out.result(), Err(InvokeError::SubUnderflow { instr: 5 }));
    assert_eq!(out.libccp_code(), -94);
    assert!(calls(&out).is_empty(), "no cwnd/rate after an abort");
    assert!(out.report().is_none(), "no report after an abort");
    // Writes before the aborting instruction stay.
    assert_eq!(f.register(RegKind::VolatileReport, 0), 5);
    assert_eq!(f.register(RegKind::Implicit, implicit::CWND), 999);
}

#[test]
fn every_primitive_reads_its_field() {
    // report i ← primitive i for i in 0..16 (index 15 does not exist and reads 0).
    let defs = (0..16).map(|i| def(vrep(i), 77)).collect();
    let mut body: Vec<Instr> = (0..16).map(|i| bind(vrep(i), prim(i))).collect();
    body.push(bind(REPORT, imm(1)));
    let p = prog(9, defs, vec![(cond_true(), body)]);
    let mut f = flow_with(&p, &[]);
    let prims = Primitives {
        bytes_acked: 1,
        packets_acked: 2,
        bytes_misordered: 3,
        packets_misordered: 4,
        ecn_bytes: 5,
        ecn_packets: 6,
        lost_pkts_sample: 7,
        was_timeout: true,
        rtt_sample_us: 8,
        rate_outgoing: 9,
        rate_incoming: 10,
        bytes_in_flight: 11,
        packets_in_flight: 12,
        snd_cwnd: 13,
        snd_rate: 14,
        bytes_pending: 15,
    };
    let out = f.invoke(&prims, 123_456);
    let mut expect = [0u64; 16];
    expect[primitive::BYTES_ACKED as usize] = 1;
    expect[primitive::PACKETS_ACKED as usize] = 2;
    expect[primitive::BYTES_MISORDERED as usize] = 3;
    expect[primitive::PACKETS_MISORDERED as usize] = 4;
    expect[primitive::ECN_BYTES as usize] = 5;
    expect[primitive::ECN_PACKETS as usize] = 6;
    expect[primitive::LOST_PKTS_SAMPLE as usize] = 7;
    expect[primitive::WAS_TIMEOUT as usize] = 1;
    expect[primitive::RTT_SAMPLE_US as usize] = 8;
    expect[primitive::RATE_OUTGOING as usize] = 9;
    expect[primitive::RATE_INCOMING as usize] = 10;
    expect[primitive::BYTES_IN_FLIGHT as usize] = 11;
    expect[primitive::PACKETS_IN_FLIGHT as usize] = 12;
    expect[primitive::BYTES_PENDING as usize] = 15;
    expect[primitive::NOW as usize] = 123_456;
    assert_eq!(fields(&out), Some(expect.to_vec()));
    assert_eq!(out.report().map(|m| m.program_uid), Some(9));
}

#[test]
fn rtt_zero_reads_as_u32_max() {
    let p = prog(
        1,
        vec![def(vrep(0), 0)],
        vec![(
            cond_true(),
            vec![
                bind(vrep(0), prim(primitive::RTT_SAMPLE_US)),
                bind(REPORT, imm(1)),
            ],
        )],
    );
    let mut f = flow_with(&p, &[]);
    let out = f.invoke(&quiet(), 0);
    assert_eq!(fields(&out), Some(vec![0xFFFF_FFFF]));
    let prims = Primitives {
        rtt_sample_us: 1 << 40,
        ..quiet()
    };
    let out = f.invoke(&prims, 0);
    assert_eq!(fields(&out), Some(vec![1 << 40]));
}

/// Three events that each append a marker to local 0 (`local0 ← local0·10 + k`).
fn marker(k: u32) -> Vec<Instr> {
    vec![
        ins(Op::Mul, tmp(0), local(0), imm(10)),
        ins(Op::Add, local(0), tmp(0), imm(k)),
    ]
}

#[test]
fn first_true_event_wins() {
    let p = prog(
        1,
        vec![],
        vec![
            (cond_false(), marker(1)),
            (cond_true(), marker(2)),
            (cond_true(), marker(3)),
        ],
    );
    let mut f = flow_with(&p, &[]);
    assert_eq!(f.invoke(&quiet(), 0).libccp_code(), 0);
    assert_eq!(f.register(RegKind::Local, 0), 2);
}

#[test]
fn fallthrough_is_sticky_for_the_rest_of_the_invocation() {
    let mut first = marker(1);
    first.push(bind(CONT, imm(1)));
    let p = prog(
        1,
        vec![],
        vec![
            (cond_true(), first),
            // No fallthrough here, but the flag set by event 0 is still on.
            (cond_true(), marker(2)),
            (cond_true(), marker(3)),
        ],
    );
    let mut f = flow_with(&p, &[]);
    assert_eq!(f.invoke(&quiet(), 0).libccp_code(), 0);
    assert_eq!(f.register(RegKind::Local, 0), 123);
    // The flags are cleared at the start of every invocation; locals persist.
    assert_eq!(f.invoke(&quiet(), 0).libccp_code(), 0);
    assert_eq!(f.register(RegKind::Local, 0), 123_123);
}

#[test]
fn event_without_condition_sees_the_previous_flag() {
    let mut first = marker(1);
    first.push(bind(CONT, imm(1)));
    let p = prog(1, vec![], vec![(cond_true(), first), (vec![], marker(2))]);
    let mut f = flow_with(&p, &[]);
    f.invoke(&quiet(), 0);
    assert_eq!(f.register(RegKind::Local, 0), 12);
}

#[test]
fn body_clearing_the_flag_does_not_stop_the_event_loop() {
    let mut first = marker(1);
    first.push(bind(FLAG, imm(0)));
    let p = prog(
        1,
        vec![],
        vec![(cond_true(), first), (cond_true(), marker(2))],
    );
    let mut f = flow_with(&p, &[]);
    f.invoke(&quiet(), 0);
    assert_eq!(f.register(RegKind::Local, 0), 12);
}

#[test]
fn report_then_volatile_reset_and_nonvolatile_persistence() {
    // vrep0 counts ACKs (volatile), rep1 counts ACKs (non-volatile), vctrl0 and ctrl1
    // likewise; report every second ACK (when ctrl2, a toggle, is 1).
    let defs = vec![
        def(vrep(0), 100),
        def(rep(1), 200),
        def(vctrl(0), 10),
        def(ctrl(1), 20),
        def(ctrl(2), 0),
    ];
    let body = vec![
        ins(Op::Add, vrep(0), vrep(0), imm(1)),
        ins(Op::Add, rep(1), rep(1), imm(1)),
        ins(Op::Add, vctrl(0), vctrl(0), imm(1)),
        ins(Op::Add, ctrl(1), ctrl(1), imm(1)),
        ins(Op::Equiv, ctrl(2), ctrl(2), imm(0)),
        bind(REPORT, ctrl(2)),
    ];
    let p = prog(5, defs, vec![(cond_true(), body)]);
    assert_eq!(p.num_to_return(), 2);
    let mut f = flow_with(&p, &[]);
    let o1 = f.invoke(&quiet(), 0);
    assert_eq!(fields(&o1), Some(vec![101, 201]));
    assert_eq!(
        f.register(RegKind::VolatileReport, 0),
        100,
        "volatile reset"
    );
    assert_eq!(f.register(RegKind::Report, 1), 201, "non-volatile kept");
    assert_eq!(
        f.register(RegKind::VolatileControl, 0),
        10,
        "volatile reset"
    );
    assert_eq!(f.register(RegKind::Control, 1), 21, "non-volatile kept");
    assert!(f.invoke(&quiet(), 0).report().is_none());
    let o3 = f.invoke(&quiet(), 0);
    assert_eq!(fields(&o3), Some(vec![102, 203]));
    assert_eq!(f.register(RegKind::Control, 1), 23);
}

#[test]
fn def_sentinel_and_defaults() {
    let defs = vec![
        def(vrep(0), 0x3FFF_FFFF),
        def(vrep(1), 0x3FFF_FFFE),
        def(rep(2), 0xFFFF_FFFF),
        // A non-immediate default reads as 0 (libccp's fresh program slot).
        ins(Op::Def, vrep(3), vrep(3), prim(0)),
        def(ctrl(0), 0x3FFF_FFFF),
    ];
    let body = vec![bind(REPORT, imm(1))];
    let p = prog(1, defs, vec![(cond_true(), body)]);
    assert_eq!(p.num_to_return(), 4);
    let mut f = flow_with(&p, &[]);
    // Make vrep3 non-zero before the switch is applied: the DEF must reset it to 0.
    f.stage_update(0, 0, 5).expect("control update");
    let out = f.invoke(&quiet(), 0);
    assert_eq!(
        fields(&out),
        Some(vec![0xFFFF_FFFF, 0x3FFF_FFFE, 0xFFFF_FFFF, 0])
    );
    // The staged value overrides the DEF default of ctrl0 (preset semantics).
    assert_eq!(f.register(RegKind::Control, 0), 5);
}

#[test]
fn num_to_return_counts_report_defs_of_the_prefix_only() {
    let p = prog(
        1,
        vec![def(vrep(0), 1), def(ctrl(0), 2), def(rep(1), 3)],
        vec![(
            cond_true(),
            // A DEF after the prefix is ignored by the passes and the count.
            vec![def(vrep(2), 9), bind(REPORT, imm(1))],
        )],
    );
    assert_eq!(p.num_to_return(), 2);
    let mut f = flow_with(&p, &[]);
    assert_eq!(fields(&f.invoke(&quiet(), 0)), Some(vec![1, 3]));
    assert_eq!(f.register(RegKind::VolatileReport, 2), 0);

    // A program made only of DEFs keeps libccp's initial count of 0.
    let only_defs = Program::new(
        2,
        Bin {
            events: vec![Event {
                cond_start: 0,
                cond_len: 1,
                body_start: 1,
                body_len: 1,
            }],
            instrs: vec![def(vrep(0), 1), def(vrep(1), 1)],
        },
    )
    .expect("valid");
    assert_eq!(only_defs.num_to_return(), 0);
}

#[test]
fn micros_counts_from_the_switch_and_writes_move_the_base() {
    let p = prog(
        1,
        vec![def(vrep(0), 0), def(vrep(1), 0)],
        vec![
            // event 0: when ctrl0 == 1: Micros ← ctrl1; vrep1 ← Micros (the new value)
            (
                vec![ins(Op::Equiv, FLAG, ctrl(0), imm(1))],
                vec![
                    bind(MICROS, ctrl(1)),
                    bind(vrep(1), MICROS),
                    bind(ctrl(0), imm(0)),
                    bind(REPORT, imm(1)),
                ],
            ),
            // event 1: always report Micros
            (
                cond_true(),
                vec![bind(vrep(0), MICROS), bind(REPORT, imm(1))],
            ),
        ],
    );
    let mut f = flow_with(&p, &[]);
    assert_eq!(fields(&f.invoke(&quiet(), 1_000)), Some(vec![0, 0]));
    assert_eq!(f.time_base_us(), 1_000);
    assert_eq!(fields(&f.invoke(&quiet(), 1_500)), Some(vec![500, 0]));

    // (:= Micros 250) at t = 3000 → Micros reads 250 at once, 300 at t = 3050.
    f.stage_update(0, 0, 1).expect("ok");
    f.stage_update(0, 1, 250).expect("ok");
    assert_eq!(fields(&f.invoke(&quiet(), 3_000)), Some(vec![0, 250]));
    assert_eq!(f.time_base_us(), 2_750);
    assert_eq!(fields(&f.invoke(&quiet(), 3_050)), Some(vec![300, 0]));

    // Writing a value larger than the clock wraps the base and still reads back exactly.
    f.stage_update(0, 0, 1).expect("ok");
    f.stage_update(0, 1, 1 << 40).expect("ok");
    f.invoke(&quiet(), 4_000);
    assert_eq!(
        fields(&f.invoke(&quiet(), 4_010)),
        Some(vec![(1 << 40) + 10, 0])
    );

    // A new switch (even to the same program) restarts Micros.
    f.stage_change_program(Arc::clone(&p), []).expect("ok");
    assert_eq!(fields(&f.invoke(&quiet(), 9_000)), Some(vec![0, 0]));
    assert_eq!(fields(&f.invoke(&quiet(), 9_007)), Some(vec![7, 0]));
}

/// A program that sets Cwnd ← ctrl0 and Rate ← ctrl1 when they are non-zero.
fn cwnd_rate_prog() -> Arc<Program> {
    prog(
        1,
        vec![def(ctrl(0), 0), def(ctrl(1), 0)],
        vec![(
            cond_true(),
            vec![
                ins(Op::If, CWND, ctrl(0), ctrl(0)),
                ins(Op::If, RATE, ctrl(1), ctrl(1)),
            ],
        )],
    )
}

#[test]
fn cwnd_and_rate_come_from_the_primitives() {
    let p = cwnd_rate_prog();
    let mut f = flow_with(&p, &[]);
    let prims = Primitives {
        snd_cwnd: 14_600,
        snd_rate: 1_000_000,
        ..quiet()
    };
    let out = f.invoke(&prims, 0);
    assert_eq!(
        calls(&out),
        vec![Call::SetCwnd(14_600), Call::SetRateAbs(1_000_000)]
    );
    // Cwnd 0 and Rate 0 are not applied.
    let out = f.invoke(&quiet(), 0);
    assert!(calls(&out).is_empty());
}

#[test]
fn staged_cwnd_and_rate_are_applied_twice() {
    let p = cwnd_rate_prog();
    let mut f = flow_with(&p, &[]);
    f.invoke(&quiet(), 0);

    // Staged Cwnd/Rate, program leaves them: the same value twice each.
    f.stage_update(2, implicit::CWND, 42).expect("ok");
    f.stage_update(2, implicit::RATE, 10).expect("ok");
    let prims = Primitives {
        snd_cwnd: 1,
        snd_rate: 2,
        ..quiet()
    };
    let out = f.invoke(&prims, 0);
    assert_eq!(
        calls(&out),
        vec![
            Call::SetCwnd(42),
            Call::SetRateAbs(10),
            Call::SetCwnd(42),
            Call::SetRateAbs(10)
        ]
    );
    assert_eq!(out.final_cwnd(), Some(42));

    // Staged values, program overrides them: staged first, then the program's.
    f.stage_update(0, 0, 3000).expect("ok");
    f.stage_update(2, implicit::CWND, 42).expect("ok");
    let out = f.invoke(&prims, 0);
    assert_eq!(
        calls(&out),
        vec![Call::SetCwnd(42), Call::SetCwnd(3000), Call::SetRateAbs(2)]
    );
    assert_eq!(out.final_cwnd(), Some(3000));
    assert_eq!(out.final_rate(), Some(2));

    // A staged 0 sets the register without a call.
    f.stage_update(0, 0, 0).expect("ok");
    f.stage_update(2, implicit::CWND, 0).expect("ok");
    let out = f.invoke(&prims, 0);
    assert_eq!(calls(&out), vec![Call::SetRateAbs(2)]);

    // Other implicit indices are accepted and ignored.
    assert_eq!(f.stage_update(2, implicit::MICROS, 5), Ok(()));
    assert_eq!(f.stage_update(2, 99, 5), Ok(()));
    assert_eq!(
        calls(&f.invoke(&prims, 0)),
        vec![Call::SetCwnd(1), Call::SetRateAbs(2)]
    );
}

#[test]
fn invalid_update_types_fail_like_libccp() {
    let p = cwnd_rate_prog();
    let mut f = flow_with(&p, &[]);
    for t in [1u8, 3, 4, 5, 6, 7, 9, 200] {
        let e = f.stage_update(t, 0, 1).expect_err("not updatable");
        assert_eq!(e, StageError::InvalidRegType(t));
        assert_eq!(e.libccp_code(), -53);
    }
    // In a CHANGE_PROG, records before the bad one stay staged, and so does the switch.
    let e = f
        .stage_change_program(Arc::clone(&p), [(0, 0, 500), (5, 0, 1), (0, 1, 600)])
        .expect_err("bad record");
    assert_eq!(e.libccp_code(), -53);
    assert!(f.staged_program().is_some());
    let out = f.invoke(&quiet(), 0);
    assert_eq!(calls(&out), vec![Call::SetCwnd(500)]);
}

#[test]
fn change_prog_discards_earlier_staged_updates() {
    let p = cwnd_rate_prog();
    let mut f = flow_with(&p, &[]);
    f.invoke(&quiet(), 0);
    f.stage_update(0, 0, 111).expect("ok");
    f.stage_update(2, implicit::CWND, 222).expect("ok");
    f.stage_update(2, implicit::RATE, 333).expect("ok");
    f.stage_change_program(Arc::clone(&p), [(0, 1, 444)])
        .expect("ok");
    // An UPDATE after the CHANGE_PROG adds to the switch's values.
    f.stage_update(0, 0, 555).expect("ok");
    let out = f.invoke(&quiet(), 0);
    assert_eq!(calls(&out), vec![Call::SetCwnd(555), Call::SetRateAbs(444)]);
}

#[test]
fn later_updates_of_one_register_win() {
    let p = cwnd_rate_prog();
    let mut f = flow_with(&p, &[(0, 0, 1), (0, 0, 2)]);
    f.stage_update(0, 0, 3).expect("ok");
    f.stage_update(8, 0, 4)
        .expect("volatile control type shares the index space");
    assert_eq!(calls(&f.invoke(&quiet(), 0)), vec![Call::SetCwnd(4)]);
}

#[test]
fn no_program_returns_minus_96_after_applying_staged_work() {
    let mut f = Flow::new();
    f.stage_update(2, implicit::CWND, 42).expect("ok");
    f.stage_update(0, 3, 9).expect("ok");
    let out = f.invoke(&quiet(), 0);
    assert_eq!(out.result(), Err(InvokeError::NoProgram));
    assert_eq!(out.libccp_code(), -96);
    assert_eq!(calls(&out), vec![Call::SetCwnd(42)]);
    assert!(out.report().is_none());
    assert_eq!(f.register(RegKind::Control, 3), 9);
}

#[test]
fn abort_still_reports_staged_calls() {
    let p = prog(
        1,
        vec![],
        vec![(cond_true(), vec![ins(Op::Div, tmp(0), imm(1), imm(0))])],
    );
    let mut f = flow_with(&p, &[(2, implicit::RATE, 77)]);
    let out = f.invoke(
        &Primitives {
            snd_cwnd: 5,
            ..quiet()
        },
        0,
    );
    assert_eq!(out.libccp_code(), -92);
    assert_eq!(calls(&out), vec![Call::SetRateAbs(77)]);
}

#[test]
fn out_of_range_registers_read_zero_and_ignore_writes() {
    let body = vec![
        bind(rep(200), imm(5)),
        bind(ctrl(150), imm(5)),
        bind(tmp(9), imm(5)),
        bind(local(8), imm(5)),
        bind(Operand::new(RegKind::Implicit, 7), imm(5)),
        // Reads: each must be 0.
        ins(Op::Add, vrep(0), rep(200), ctrl(150)),
        ins(Op::Add, vrep(0), vrep(0), tmp(9)),
        ins(Op::Add, vrep(0), vrep(0), local(8)),
        ins(
            Op::Add,
            vrep(0),
            vrep(0),
            Operand::new(RegKind::Implicit, 7),
        ),
        ins(Op::Add, vrep(0), vrep(0), prim(15)),
        ins(Op::Add, vrep(0), vrep(0), prim(u32::MAX)),
        bind(REPORT, imm(1)),
    ];
    let p = prog(1, vec![def(vrep(0), 0)], vec![(cond_true(), body)]);
    let mut f = flow_with(&p, &[(0, 110, 5), (8, u32::MAX, 5)]);
    let out = f.invoke(&quiet(), 0);
    assert_eq!(fields(&out), Some(vec![0]));
    assert_eq!(f.register(RegKind::Control, 110), 0);
    assert_eq!(f.register(RegKind::Report, 200), 0);
    // The highest in-range indices work.
    let p = prog(
        2,
        vec![],
        vec![(
            cond_true(),
            vec![
                bind(rep(109), imm(1)),
                bind(ctrl(109), imm(2)),
                bind(tmp(7), imm(3)),
                bind(local(7), imm(4)),
            ],
        )],
    );
    f.stage_change_program(p, []).expect("ok");
    f.invoke(&quiet(), 0);
    assert_eq!(f.register(RegKind::Report, 109), 1);
    assert_eq!(f.register(RegKind::Control, 109), 2);
    assert_eq!(f.register(RegKind::Tmp, 7), 3);
    assert_eq!(f.register(RegKind::Local, 7), 4);
}

#[test]
fn registers_without_def_survive_program_switches() {
    let a = prog(
        1,
        vec![def(ctrl(0), 1)],
        vec![(
            cond_true(),
            vec![
                bind(local(2), imm(42)),
                bind(rep(3), imm(43)),
                bind(ctrl(5), imm(44)),
            ],
        )],
    );
    let b = prog(
        2,
        vec![def(vrep(0), 0), def(vrep(1), 0), def(vrep(2), 0)],
        vec![(
            cond_true(),
            vec![
                bind(vrep(0), local(2)),
                bind(vrep(1), ctrl(5)),
                bind(vrep(2), rep(3)),
                bind(REPORT, imm(1)),
            ],
        )],
    );
    let mut f = flow_with(&a, &[]);
    f.invoke(&quiet(), 0);
    f.stage_change_program(Arc::clone(&b), []).expect("ok");
    let out = f.invoke(&quiet(), 0);
    assert_eq!(out.report().map(|m| m.program_uid), Some(2));
    // local2, ctrl5 and rep3 have no DEF in b: they keep a's values.
    assert_eq!(fields(&out), Some(vec![42, 44, 43]));
    assert_eq!(f.register(RegKind::Report, 3), 43);
}

#[test]
fn flows_sharing_a_program_are_independent() {
    let p = prog(
        1,
        vec![def(ctrl(0), 0)],
        vec![(cond_true(), vec![ins(Op::Add, ctrl(0), ctrl(0), prim(0))])],
    );
    let mut f1 = flow_with(&p, &[]);
    let mut f2 = flow_with(&p, &[]);
    let prims = Primitives {
        bytes_acked: 10,
        ..quiet()
    };
    f1.invoke(&prims, 0);
    f1.invoke(&prims, 0);
    f2.invoke(&prims, 0);
    assert_eq!(f1.register(RegKind::Control, 0), 20);
    assert_eq!(f2.register(RegKind::Control, 0), 10);
    assert_eq!(Arc::strong_count(&p), 3);
}

#[test]
fn load_rejects_invalid_programs() {
    let out_of_range = Bin {
        events: vec![Event {
            cond_start: 0,
            cond_len: 2,
            body_start: 0,
            body_len: 0,
        }],
        instrs: cond_true(),
    };
    assert!(matches!(
        Program::new(1, out_of_range),
        Err(LoadError::Bin(BinError::EventOutOfRange { .. }))
    ));
    let too_long = bin(vec![], vec![(cond_true(), vec![bind(tmp(0), imm(0)); 255])]);
    assert!(matches!(
        Program::new(1, too_long),
        Err(LoadError::Bin(BinError::TooManyInstrs(256)))
    ));
    let writes_imm = bin(vec![], vec![(cond_true(), vec![bind(imm(3), imm(0))])]);
    assert_eq!(
        Program::new(1, writes_imm).map(|_| ()),
        Err(LoadError::ResultNotWritable {
            instr: 1,
            kind: RegKind::Immediate
        })
    );
    let writes_prim = bin(vec![], vec![(cond_true(), vec![bind(prim(0), imm(0))])]);
    assert!(matches!(
        Program::new(1, writes_prim),
        Err(LoadError::ResultNotWritable { .. })
    ));
    let many_reports = bin(
        (0..111).map(|i| def(vrep(i), 0)).collect(),
        vec![(cond_true(), vec![])],
    );
    assert_eq!(
        Program::new(1, many_reports).map(|_| ()),
        Err(LoadError::TooManyReportFields(111))
    );
    let max_reports = bin(
        (0..110).map(|i| def(rep(i), i)).collect(),
        vec![(cond_true(), vec![bind(REPORT, imm(1))])],
    );
    let p = Arc::new(Program::new(1, max_reports).expect("110 report fields are fine"));
    let mut f = flow_with(&p, &[]);
    let out = f.invoke(&quiet(), 0);
    assert_eq!(fields(&out), Some((0..110).collect()));
}

#[test]
fn memory_grows_with_the_program_and_never_shrinks() {
    let small = prog(1, vec![def(vrep(0), 0)], vec![(cond_true(), vec![])]);
    let big = prog(2, vec![def(ctrl(60), 0)], vec![(cond_true(), vec![])]);
    let mut f = flow_with(&small, &[]);
    let m_small = f.memory_bytes();
    assert!(m_small < 512, "small program flow uses {m_small} bytes");
    f.stage_change_program(Arc::clone(&big), []).expect("ok");
    let m_big = f.memory_bytes();
    assert!(m_big >= m_small + 60 * 16, "{m_big} vs {m_small}");
    f.stage_change_program(small, []).expect("ok");
    assert_eq!(f.memory_bytes(), m_big);
    assert!(big.register_bytes() > 60 * 16);
}

#[test]
fn primitives_have_the_c_layout_size() {
    assert_eq!(std::mem::size_of::<Primitives>(), 88);
}

#[test]
#[cfg(target_pointer_width = "64")]
fn reno_sized_flow_uses_584_bytes() {
    // 6 report fields, 1 control variable: 39 + 2·6 register slots, 6 report slots.
    let defs = (0..6)
        .map(|i| def(vrep(i), 0))
        .chain([def(ctrl(0), 0)])
        .collect();
    let p = prog(1, defs, vec![(cond_true(), vec![bind(REPORT, imm(1))])]);
    let mut f = flow_with(&p, &[]);
    assert_eq!(std::mem::size_of::<Flow>(), 128);
    assert_eq!(f.memory_bytes(), 128 + 8 * (39 + 12) + 8 * 6);
    assert_eq!(f.memory_bytes(), 584);
    // Invocations never allocate: the footprint is unchanged after running.
    for t in 0..100 {
        f.invoke(&quiet(), t);
    }
    assert_eq!(f.memory_bytes(), 584);
}
