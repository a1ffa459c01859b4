//! Wire interoperability with portus 0.9 (the reference agent):
//!
//! * our encoder → portus's decoder (`serialize::Msg::from_buf`) for READY, CREATE and
//!   MEASURE (incl. close) gives equal field values;
//! * portus's encoders (`install`, `update_field`, `changeprog` + `serialize::serialize`)
//!   → our parser gives equal field values, and our encoder produces the same bytes;
//! * portus decodes our HELLO as an unknown message (`Msg::Other`), not an error or panic.

use std::collections::HashMap;

use ccp_wire::{
    Bin, ChangeProg, Create, Encode, Event, Hello, ImplVersion, Install, Instr, Measure, Op,
    Operand, Ready, RegKind, Role, UpdateField, UpdateFields,
};
use portus::lang::{Reg, Type};
use portus::serialize::{self, Msg, changeprog, install, update_field};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------
// Conversions between our operands and portus registers (within portus's encoder limits).

/// A portus register that portus encodes as exactly `o`.
fn to_portus_reg(o: Operand) -> Reg {
    let i = o.value as u8;
    let t = || Type::Num(None);
    match o.kind {
        RegKind::Control => Reg::Control(i, t(), false),
        RegKind::VolatileControl => Reg::Control(i, t(), true),
        RegKind::Immediate => Reg::ImmNum(u64::from(o.value)),
        RegKind::Implicit => Reg::Implicit(i, t()),
        RegKind::Local => Reg::Local(i, t()),
        RegKind::Primitive => Reg::Primitive(i, t()),
        RegKind::VolatileReport => Reg::Report(i, t(), true),
        RegKind::Report => Reg::Report(i, t(), false),
        RegKind::Tmp => Reg::Tmp(i, t()),
    }
}

/// Operands portus can encode: indices ≤ 15 (implicit/local ≤ 5), immediates < 2^31.
fn arb_portus_operand(writable: bool) -> impl Strategy<Value = Operand> {
    let mut kinds: Vec<(RegKind, u32)> = vec![
        (RegKind::Control, 15),
        (RegKind::VolatileControl, 15),
        (RegKind::Implicit, 5),
        (RegKind::Local, 5),
        (RegKind::VolatileReport, 15),
        (RegKind::Report, 15),
        (RegKind::Tmp, 15),
    ];
    if !writable {
        kinds.push((RegKind::Immediate, (1 << 31) - 1));
        kinds.push((RegKind::Primitive, 15));
    }
    prop::sample::select(kinds)
        .prop_flat_map(|(k, max)| (0..=max).prop_map(move |v| Operand::new(k, v)))
}

fn arb_instr() -> impl Strategy<Value = Instr> {
    (
        prop::sample::select(Op::ALL.to_vec()),
        arb_portus_operand(true),
        arb_portus_operand(false),
        arb_portus_operand(false),
    )
        .prop_map(|(op, result, left, right)| Instr {
            op,
            result,
            left,
            right,
        })
}

fn arb_range(n: u32) -> impl Strategy<Value = (u32, u32)> {
    (0..=n).prop_flat_map(move |s| (Just(s), 0..=(n - s)))
}

fn arb_bin() -> impl Strategy<Value = Bin> {
    (0usize..40)
        .prop_flat_map(|ni| {
            (
                prop::collection::vec(arb_instr(), ni),
                prop::collection::vec((arb_range(ni as u32), arb_range(ni as u32)), 0..5),
            )
        })
        .prop_map(|(instrs, evs)| Bin {
            instrs,
            events: evs
                .into_iter()
                .map(|((cs, cl), (bs, bl))| Event {
                    cond_start: cs,
                    cond_len: cl,
                    body_start: bs,
                    body_len: bl,
                })
                .collect(),
        })
}

fn arb_update() -> impl Strategy<Value = UpdateField> {
    prop_oneof![
        (0u32..=15, any::<u32>()).prop_map(|(i, v)| UpdateField::control(i, v.into())),
        (0u32..=15, any::<u32>()).prop_map(|(i, v)| UpdateField::volatile_control(i, v.into())),
        any::<u32>().prop_map(|v| UpdateField::cwnd(v.into())),
        any::<u32>().prop_map(|v| UpdateField::rate(v.into())),
        (0u32..=5, any::<u64>()).prop_map(|(i, v)| UpdateField::new(RegKind::Implicit, i, v)),
    ]
}

fn to_portus_fields(updates: &[UpdateField]) -> Vec<(Reg, u64)> {
    updates
        .iter()
        .map(|u| (to_portus_reg(Operand::new(u.kind, u.index)), u.value))
        .collect()
}

/// One value of portus's (private) `Op` per mnemonic, taken from compiled programs: the
/// type is not nameable outside portus, but values can be copied around.
fn portus_ops() -> HashMap<String, portus::lang::Bin> {
    // Every opcode appears in this program.
    let src = b"
        (def (Report (volatile foo 0) (bar 0)) (ctl 0))
        (when (> Flow.rtt_sample_us 0)
            (:= Report.foo (+ Report.foo 1))
            (:= Report.foo (- Report.foo 1))
            (:= Report.foo (* Report.foo 2))
            (:= Report.foo (/ Report.foo 2))
            (:= Report.foo (max Report.foo 3))
            (:= Report.foo (min Report.foo 3))
            (:= Report.foo (wrapped_max Report.foo 3))
            (:= Report.bar (ewma 2 Flow.rate_outgoing))
            (:= Report.bar (if (< Flow.rtt_sample_us Report.bar) Flow.rtt_sample_us))
            (:= ctl (!if (== ctl 0) (+ ctl 1)))
        )";
    let (bin, _) = portus::lang::compile(src, &[]).expect("portus compiles the op tour");
    let mut by_name = HashMap::new();
    for i in &bin.instrs {
        // A one-instruction Bin per op name, used as a template.
        by_name
            .entry(format!("{:?}", i.op))
            .or_insert_with(|| portus::lang::Bin {
                events: bin.events[..1].to_vec(),
                instrs: vec![i.clone()],
            });
    }
    by_name
}

/// Build the portus `Bin` equal to ours, from templates.
fn to_portus_bin(bin: &Bin, ops: &HashMap<String, portus::lang::Bin>) -> portus::lang::Bin {
    let any = ops.values().next().expect("templates");
    let mut ev_template = any.events[0].clone();
    let events = bin
        .events
        .iter()
        .map(|e| {
            ev_template.flag_idx = e.cond_start;
            ev_template.num_flag_instrs = e.cond_len;
            ev_template.body_idx = e.body_start;
            ev_template.num_body_instrs = e.body_len;
            ev_template.clone()
        })
        .collect();
    let instrs = bin
        .instrs
        .iter()
        .map(|i| {
            let mut p = ops[&format!("{:?}", i.op)].instrs[0].clone();
            p.res = to_portus_reg(i.result);
            p.left = to_portus_reg(i.left);
            p.right = to_portus_reg(i.right);
            p
        })
        .collect();
    portus::lang::Bin { events, instrs }
}

#[test]
fn op_templates_cover_every_opcode() {
    let ops = portus_ops();
    for op in Op::ALL {
        assert!(
            ops.contains_key(&format!("{op:?}")),
            "portus op tour lacks {op:?}; has {:?}",
            ops.keys().collect::<Vec<_>>()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Spec vectors through portus.

#[test]
fn spec_install_example_matches_portus_compiler() {
    // Spec §2.7: the portus unit-test program, uid 7, sid 1.
    let (bin, _) = portus::lang::compile(
        b"(def (Report (volatile foo 0))) (when true (bind Report.foo 4))",
        &[],
    )
    .unwrap();
    let theirs = serialize::serialize(&install::Msg {
        sid: 1,
        program_uid: 7,
        num_events: bin.events.len() as u32,
        num_instrs: bin.instrs.len() as u32,
        instrs: bin,
    })
    .unwrap();
    let ours = Install::parse(&theirs).unwrap();
    assert_eq!(ours.program_uid, 7);
    assert_eq!(ours.bin.instrs.len(), 3);
    assert_eq!(ours.encode().unwrap(), theirs);
}

#[test]
fn hello_is_ignored_by_portus() {
    let h = Hello::new(Role::Datapath, "ccp-rs", ImplVersion::default());
    let bytes = h.encode().unwrap();
    match Msg::from_buf(&bytes) {
        Ok((Msg::Other(raw), consumed)) => {
            assert_eq!(raw.typ, 0x48);
            assert_eq!(raw.len, 64);
            assert_eq!(consumed, 64);
        }
        Ok((other, _)) => panic!("portus decoded HELLO as {other:?}"),
        Err(e) => panic!("portus failed on HELLO: {e:?}"),
    }
    // In a buffer holding HELLO then READY, portus skips HELLO by its len and still
    // decodes the READY that follows.
    let mut buf = bytes.clone();
    Ready { id: 3 }.encode_into(&mut buf).unwrap();
    let (_, consumed) = Msg::from_buf(&buf).unwrap();
    match Msg::from_buf(&buf[consumed..]) {
        Ok((Msg::Rdy(r), 12)) => assert_eq!(r.id, 3),
        other => panic!("expected READY after HELLO, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Random messages.

/// Algorithm names: any non-NUL Unicode up to 63 bytes (portus decodes UTF-8).
fn arb_name() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        "[a-z0-9_-]{1,63}",
        "[^\\x00]{1,15}".prop_filter("fits 63 bytes", |s: &String| s.len() <= 63),
    ])
}

proptest! {
    #![proptest_config(config(256, 0x9047_0001))]

    #[test]
    fn ready_ours_to_portus(id in any::<u32>()) {
        let b = Ready { id }.encode().unwrap();
        match Msg::from_buf(&b) {
            Ok((Msg::Rdy(r), n)) => {
                prop_assert_eq!(r.id, id);
                prop_assert_eq!(n, b.len());
            }
            other => prop_assert!(false, "portus: {:?}", other),
        }
    }

    #[test]
    fn create_ours_to_portus(v in any::<[u32; 7]>(), name in arb_name()) {
        let c = Create {
            sid: v[0],
            init_cwnd: v[1],
            mss: v[2],
            src_ip: v[3],
            src_port: v[4],
            dst_ip: v[5],
            dst_port: v[6],
            cong_alg: name,
        };
        let b = c.encode().unwrap();
        match Msg::from_buf(&b) {
            Ok((Msg::Cr(p), n)) => {
                prop_assert_eq!(n, 96);
                prop_assert_eq!(
                    (p.sid, p.init_cwnd, p.mss, p.src_ip, p.src_port, p.dst_ip, p.dst_port),
                    (c.sid, c.init_cwnd, c.mss, c.src_ip, c.src_port, c.dst_ip, c.dst_port)
                );
                prop_assert_eq!(p.cong_alg, c.cong_alg);
            }
            other => prop_assert!(false, "portus: {:?}", other),
        }
    }

    #[test]
    fn measure_ours_to_portus(
        sid in any::<u32>(),
        uid in any::<u32>(),
        fields in prop::collection::vec(any::<u64>(), 0..=110),
    ) {
        let m = Measure { sid, program_uid: uid, fields };
        let b = m.encode().unwrap();
        match Msg::from_buf(&b) {
            Ok((Msg::Ms(p), n)) => {
                prop_assert_eq!(n, b.len());
                prop_assert_eq!(p.sid, sid);
                prop_assert_eq!(p.program_uid, uid);
                prop_assert_eq!(p.num_fields as usize, m.fields.len());
                prop_assert_eq!(&p.fields, &m.fields);
            }
            other => prop_assert!(false, "portus: {:?}", other),
        }
    }

    #[test]
    fn close_ours_to_portus(sid in any::<u32>()) {
        let b = Measure::close(sid).encode().unwrap();
        match Msg::from_buf(&b) {
            Ok((Msg::Ms(p), 16)) => {
                prop_assert_eq!(p.sid, sid);
                prop_assert_eq!(p.program_uid, 0);
                prop_assert_eq!(p.num_fields, 0);
                prop_assert!(p.fields.is_empty());
            }
            other => prop_assert!(false, "portus: {:?}", other),
        }
    }

    #[test]
    fn install_portus_to_ours(sid in any::<u32>(), uid in any::<u32>(), bin in arb_bin()) {
        let ops = portus_ops();
        let pbin = to_portus_bin(&bin, &ops);
        let theirs = serialize::serialize(&install::Msg {
            sid,
            program_uid: uid,
            num_events: pbin.events.len() as u32,
            num_instrs: pbin.instrs.len() as u32,
            instrs: pbin,
        })
        .unwrap();
        let ours = Install { sid, program_uid: uid, bin };
        prop_assert_eq!(&Install::parse(&theirs).unwrap(), &ours);
        prop_assert_eq!(ours.encode().unwrap(), theirs);
    }

    #[test]
    fn update_fields_portus_to_ours(
        sid in any::<u32>(),
        updates in prop::collection::vec(arb_update(), 0..=127),
    ) {
        let theirs = serialize::serialize(&update_field::Msg {
            sid,
            num_fields: updates.len() as u8,
            fields: to_portus_fields(&updates),
        })
        .unwrap();
        let ours = UpdateFields { sid, updates };
        prop_assert_eq!(&UpdateFields::parse(&theirs).unwrap(), &ours);
        prop_assert_eq!(ours.encode().unwrap(), theirs);
    }

    #[test]
    fn change_prog_portus_to_ours(
        sid in any::<u32>(),
        uid in any::<u32>(),
        updates in prop::collection::vec(arb_update(), 0..=127),
    ) {
        let theirs = serialize::serialize(&changeprog::Msg {
            sid,
            program_uid: uid,
            num_fields: updates.len() as u32,
            fields: to_portus_fields(&updates),
        })
        .unwrap();
        let ours = ChangeProg { sid, program_uid: uid, updates };
        prop_assert_eq!(&ChangeProg::parse(&theirs).unwrap(), &ours);
        prop_assert_eq!(ours.encode().unwrap(), theirs);
    }

    #[test]
    fn any_hello_is_other_to_portus(
        role in prop_oneof![Just(Role::Datapath), Just(Role::Agent)],
        caps in any::<u64>(),
        name in "[a-z-]{0,27}",
    ) {
        let mut h = Hello::new(role, &name, ImplVersion { major: 1, minor: 2, patch: 3 });
        h.capabilities = ccp_wire::Capabilities::from_bits_retain(caps);
        let b = h.encode().unwrap();
        match Msg::from_buf(&b) {
            Ok((Msg::Other(raw), 64)) => prop_assert_eq!(raw.typ, 0x48),
            other => prop_assert!(false, "portus: {:?}", other),
        }
    }
}
