//! Strategies shared by the property tests.
#![allow(dead_code)]

use ccp_wire::{
    Bin, Capabilities, ChangeProg, Create, Event, Hello, ImplVersion, Install, Instr, Measure,
    Message, Op, Operand, ParseOptions, ProtocolVersion, Ready, RegKind, Role, UpdateField,
    UpdateFields,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// Deterministic proptest configuration (fixed seed, no regression files).
pub fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

pub const ALL_OPTS: [ParseOptions; 4] = [
    ParseOptions::STRICT,
    ParseOptions::LENIENT,
    ParseOptions::AGENT,
    ParseOptions::DATAPATH,
];

const KINDS: [RegKind; 9] = [
    RegKind::Control,
    RegKind::Immediate,
    RegKind::Implicit,
    RegKind::Local,
    RegKind::Primitive,
    RegKind::VolatileReport,
    RegKind::Report,
    RegKind::Tmp,
    RegKind::VolatileControl,
];

pub fn arb_kind() -> impl Strategy<Value = RegKind> {
    prop::sample::select(&KINDS[..])
}

pub fn arb_writable_operand() -> impl Strategy<Value = Operand> {
    let writable: Vec<RegKind> = KINDS.into_iter().filter(|k| k.is_writable()).collect();
    (prop::sample::select(writable), any::<u32>()).prop_map(|(k, v)| Operand::new(k, v))
}

pub fn arb_operand() -> impl Strategy<Value = Operand> {
    (arb_kind(), any::<u32>()).prop_map(|(k, v)| Operand::new(k, v))
}

pub fn arb_instr() -> impl Strategy<Value = Instr> {
    (
        0usize..Op::ALL.len(),
        arb_writable_operand(),
        arb_operand(),
        arb_operand(),
    )
        .prop_map(|(op, result, left, right)| Instr {
            op: Op::ALL[op],
            result,
            left,
            right,
        })
}

fn arb_range(n: u32) -> impl Strategy<Value = (u32, u32)> {
    (0..=n).prop_flat_map(move |start| (Just(start), 0..=(n - start)))
}

pub fn arb_event(n: u32) -> impl Strategy<Value = Event> {
    (arb_range(n), arb_range(n)).prop_map(|((cs, cl), (bs, bl))| Event {
        cond_start: cs,
        cond_len: cl,
        body_start: bs,
        body_len: bl,
    })
}

/// A valid program; mostly small, sometimes at the 255-instruction limit.
pub fn arb_bin() -> impl Strategy<Value = Bin> {
    prop_oneof![
        8 => 0usize..24,
        1 => 250usize..=255,
    ]
    .prop_flat_map(|ni| {
        (
            prop::collection::vec(arb_instr(), ni),
            prop::collection::vec(arb_event(ni as u32), 0..6),
        )
    })
    .prop_map(|(instrs, events)| Bin { events, instrs })
}

pub fn arb_update() -> impl Strategy<Value = UpdateField> {
    prop_oneof![
        (0u32..110, any::<u64>()).prop_map(|(i, v)| UpdateField::control(i, v)),
        (0u32..110, any::<u64>()).prop_map(|(i, v)| UpdateField::volatile_control(i, v)),
        (any::<u32>(), any::<u64>()).prop_map(|(i, v)| UpdateField::new(RegKind::Implicit, i, v)),
        any::<u64>().prop_map(UpdateField::cwnd),
        any::<u64>().prop_map(UpdateField::rate),
    ]
}

pub fn arb_updates() -> impl Strategy<Value = Vec<UpdateField>> {
    prop_oneof![
        6 => prop::collection::vec(arb_update(), 0..8),
        1 => prop::collection::vec(arb_update(), 120..=127),
    ]
}

/// A name of 1..=max bytes without NUL (any Unicode).
pub fn arb_name(max: usize) -> impl Strategy<Value = String> {
    "[^\\x00]{1,40}".prop_map(move |s: String| {
        let mut out = String::new();
        for c in s.chars() {
            if out.len() + c.len_utf8() > max {
                break;
            }
            out.push(c);
        }
        if out.is_empty() { "a".to_owned() } else { out }
    })
}

pub fn arb_ready() -> impl Strategy<Value = Ready> {
    any::<u32>().prop_map(|id| Ready { id })
}

pub fn arb_create() -> impl Strategy<Value = Create> {
    (
        any::<[u32; 7]>(),
        prop::option::of(arb_name(ccp_wire::MAX_CONG_ALG_LEN)),
    )
        .prop_map(|(v, cong_alg)| Create {
            sid: v[0],
            init_cwnd: v[1],
            mss: v[2],
            src_ip: v[3],
            src_port: v[4],
            dst_ip: v[5],
            dst_port: v[6],
            cong_alg,
        })
}

pub fn arb_measure() -> impl Strategy<Value = Measure> {
    (
        any::<u32>(),
        any::<u32>(),
        prop_oneof![
            4 => prop::collection::vec(any::<u64>(), 0..=16),
            1 => prop::collection::vec(any::<u64>(), 0..=ccp_wire::MAX_REPORT_FIELDS),
        ],
    )
        .prop_map(|(sid, program_uid, fields)| Measure {
            sid,
            program_uid,
            fields,
        })
}

pub fn arb_install() -> impl Strategy<Value = Install> {
    (any::<u32>(), any::<u32>(), arb_bin()).prop_map(|(sid, program_uid, bin)| Install {
        sid,
        program_uid,
        bin,
    })
}

pub fn arb_update_fields() -> impl Strategy<Value = UpdateFields> {
    (any::<u32>(), arb_updates()).prop_map(|(sid, updates)| UpdateFields { sid, updates })
}

pub fn arb_change_prog() -> impl Strategy<Value = ChangeProg> {
    (any::<u32>(), any::<u32>(), arb_updates()).prop_map(|(sid, program_uid, updates)| ChangeProg {
        sid,
        program_uid,
        updates,
    })
}

pub fn arb_hello() -> impl Strategy<Value = Hello> {
    (
        prop_oneof![Just(Role::Datapath), Just(Role::Agent)],
        any::<(u16, u16)>(),
        any::<u64>(),
        any::<(u16, u16)>(),
        any::<(u16, u16, u16)>(),
        prop_oneof![Just(String::new()), arb_name(ccp_wire::MAX_HELLO_NAME_LEN)],
    )
        .prop_map(
            |(role, (major, minor), caps, (ml, mr), (a, b, c), name)| Hello {
                role,
                protocol: ProtocolVersion { major, minor },
                capabilities: Capabilities::from_bits_retain(caps),
                max_msg_len: ml,
                max_report_fields: mr,
                impl_version: ImplVersion {
                    major: a,
                    minor: b,
                    patch: c,
                },
                impl_name: name,
            },
        )
}

pub fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        arb_ready().prop_map(Message::from),
        arb_create().prop_map(Message::from),
        arb_measure().prop_map(Message::from),
        arb_install().prop_map(Message::from),
        arb_update_fields().prop_map(Message::from),
        arb_change_prog().prop_map(Message::from),
        arb_hello().prop_map(Message::from),
    ]
}

/// One mutation of a valid message's bytes.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// Flip bit `bit` of byte `pos % len`.
    Flip { pos: usize, bit: u8 },
    /// Overwrite byte `pos % len`.
    Set { pos: usize, value: u8 },
    /// Keep only the first `n % (len + 1)` bytes.
    Truncate { n: usize },
    /// Append bytes.
    Extend { bytes: Vec<u8> },
    /// Overwrite the header `len` field.
    SetLen { len: u16 },
    /// Overwrite the u32 at offset `pos % len` (hits counts and indices).
    SetU32 { pos: usize, value: u32 },
}

pub fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), 0u8..8).prop_map(|(pos, bit)| Mutation::Flip { pos, bit }),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(pos, value)| Mutation::Set { pos, value }),
        2 => any::<usize>().prop_map(|n| Mutation::Truncate { n }),
        1 => prop::collection::vec(any::<u8>(), 1..40).prop_map(|bytes| Mutation::Extend { bytes }),
        2 => prop_oneof![any::<u16>(), 0u16..300].prop_map(|len| Mutation::SetLen { len }),
        2 => (any::<usize>(), prop_oneof![any::<u32>(), 0u32..300])
            .prop_map(|(pos, value)| Mutation::SetU32 { pos, value }),
    ]
}

pub fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match m {
        Mutation::Flip { pos, bit } => {
            if len > 0 {
                bytes[pos % len] ^= 1 << bit;
            }
        }
        Mutation::Set { pos, value } => {
            if len > 0 {
                bytes[pos % len] = *value;
            }
        }
        Mutation::Truncate { n } => bytes.truncate(n % (len + 1)),
        Mutation::Extend { bytes: extra } => bytes.extend_from_slice(extra),
        Mutation::SetLen { len: l } => {
            if len >= 4 {
                bytes[2..4].copy_from_slice(&l.to_le_bytes());
            }
        }
        Mutation::SetU32 { pos, value } => {
            if len >= 4 {
                let p = pos % (len - 3);
                bytes[p..p + 4].copy_from_slice(&value.to_le_bytes());
            }
        }
    }
}

/// Input for the robustness properties: random bytes (sometimes behind a plausible
/// header) or a valid message with 1–4 mutations.
pub fn arb_hostile_input() -> impl Strategy<Value = Vec<u8>> {
    let random = prop::collection::vec(any::<u8>(), 0..200);
    let headed = (
        prop_oneof![0u16..6, Just(0x48), any::<u16>()],
        prop::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(t, mut body)| {
            let len = (body.len() + 8) as u16;
            let mut b = Vec::with_capacity(body.len() + 8);
            b.extend_from_slice(&t.to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(&[1, 0, 0, 0]);
            b.append(&mut body);
            b
        });
    let mutated =
        (arb_message(), prop::collection::vec(arb_mutation(), 1..=4)).prop_map(|(m, muts)| {
            use ccp_wire::Encode;
            let mut b = m.encode().unwrap_or_default();
            for mu in &muts {
                apply(&mut b, mu);
            }
            b
        });
    prop_oneof![
        1 => random,
        1 => headed,
        4 => mutated,
    ]
}
