//! Malformed input at the datapath: random bytes, truncated and oversized messages,
//! unknown types, INSTALLs out of range, UPDATE/CHANGE_PROG to unknown connections or
//! programs. Nothing panics, every rejection is counted in the public stats, and the
//! datapath keeps working afterwards. The ≥ 1,000,000-case run is `#[ignore]`d.

mod common;

use ccp_datapath::{Config, Datapath, DatapathInfo, Invoked, Primitives, ReadError};
use ccp_lang::bytecode::{Event, Instr, Op, Operand, RegKind};
use ccp_lang::compile;
use ccp_wire::{ChangeProg, Encode, Install, UpdateField, UpdateFields};
use common::Mock;
use proptest::prelude::*;

const PROGRAM: &str =
    "(def (Report (volatile acked 0) (volatile loss 0) (volatile rtt 0)) (interval 0))
    (when true
        (:= Report.acked (+ Report.acked Ack.bytes_acked))
        (:= Report.loss (+ Report.loss Ack.lost_pkts_sample))
        (:= Report.rtt Flow.rtt_sample_us)
        (fallthrough))
    (when (> Micros interval)
        (:= Micros 0)
        (report))";

fn install(uid: u32) -> Vec<u8> {
    let p = compile(PROGRAM, uid).expect("compiles");
    Install {
        sid: 0,
        program_uid: uid,
        bin: p.bin,
    }
    .encode()
    .unwrap()
}

/// A steered datapath with two flows.
fn ready() -> Datapath<Mock> {
    let mut dp = Datapath::init(Config::new(1), Mock::default()).unwrap();
    let info = DatapathInfo {
        init_cwnd: 14_600,
        mss: 1460,
        ..DatapathInfo::default()
    };
    for _ in 0..2 {
        dp.connection_start(info, None, ()).unwrap();
    }
    dp.read_msg(&install(1)).unwrap();
    for sid in 1..=2 {
        let cp = ChangeProg {
            sid,
            program_uid: 1,
            updates: vec![],
        };
        dp.read_msg(&cp.encode().unwrap()).unwrap();
    }
    dp
}

fn prims() -> Primitives {
    Primitives {
        bytes_acked: 1460,
        rtt_sample_us: 5_000,
        snd_cwnd: 14_600,
        ..Primitives::default()
    }
}

fn rejected(dp: &Datapath<Mock>) -> u64 {
    let s = dp.stats();
    s.malformed + s.unknown_type + s.unknown_connection + s.unknown_program + s.prog_table_full
}

/// Still steers both flows and reports.
fn still_works(dp: &mut Datapath<Mock>, t: u64) {
    dp.callbacks_mut().now_us = t;
    for sid in 1..=2 {
        let r = dp.invoke(sid, &prims());
        assert!(
            matches!(r, Ok(Invoked::Ran { .. }))
                || matches!(r, Err(ref e) if e.libccp_code() <= -91),
            "{r:?}"
        );
    }
}

#[test]
fn every_truncation_of_valid_messages_is_rejected_without_effect() {
    let upd = UpdateFields {
        sid: 1,
        updates: vec![UpdateField::cwnd(1), UpdateField::control(0, 9)],
    }
    .encode()
    .unwrap();
    let cp = ChangeProg {
        sid: 1,
        program_uid: 1,
        updates: vec![UpdateField::rate(5)],
    }
    .encode()
    .unwrap();
    for msg in [install(7), upd, cp] {
        let mut dp = ready();
        let progs = dp.programs();
        for cut in 0..msg.len() {
            let mut m = msg[..cut].to_vec();
            // Keep the header's len consistent with the cut, so the counts are what fails.
            if cut >= 4 {
                m[2..4].copy_from_slice(&(cut as u16).to_le_bytes());
            }
            let e = dp.read_msg(&m).unwrap_err();
            assert_eq!(e.libccp_code(), -22, "cut {cut}: {e}");
        }
        assert_eq!(dp.programs(), progs);
        assert_eq!(rejected(&dp), msg.len() as u64);
        assert!(dp.read_msg(&msg).is_ok(), "the full message is fine");
        still_works(&mut dp, 1_000_000);
    }
}

#[test]
fn header_checks_in_libccp_order() {
    let mut dp = ready();
    // Unknown and agent-bound types: −32.
    for ty in [0u16, 1, 5, 6, 0xff, 0x102] {
        let mut m = install(9);
        m[0..2].copy_from_slice(&ty.to_le_bytes());
        assert_eq!(dp.read_msg(&m), Err(ReadError::UnknownType(ty)));
    }
    // len beyond the buffer: −22; beyond 32678: −23.
    let mut m = install(9);
    let too_long = m.len() as u16 + 1;
    m[2..4].copy_from_slice(&too_long.to_le_bytes());
    assert_eq!(dp.read_msg(&m).unwrap_err().libccp_code(), -22);
    let mut big = vec![0u8; 40_000];
    big[0] = 3;
    big[2..4].copy_from_slice(&40_000u16.to_le_bytes());
    assert_eq!(dp.read_msg(&big), Err(ReadError::TooLong(40_000)));
    assert_eq!(dp.read_msg(&[3, 0, 8]), Err(ReadError::ShortHeader(3)));
    assert_eq!(dp.stats().unknown_type, 6);
    assert_eq!(dp.stats().malformed, 3);
}

fn install_bin(uid: u32, events: Vec<Event>, instrs: Vec<Instr>) -> Vec<u8> {
    Install {
        sid: 0,
        program_uid: uid,
        bin: ccp_lang::bytecode::Bin { events, instrs },
    }
    .encode()
    .expect("encodable")
}

/// One event whose condition range (0, 5) exceeds the single instruction. The encoder
/// refuses such programs, so build it by hand.
fn install_event_out_of_range(uid: u32) -> Vec<u8> {
    let mut v = vec![2, 0, 0, 0, 0, 0, 0, 0];
    v.extend_from_slice(&uid.to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes());
    v.extend_from_slice(
        &Event {
            cond_start: 0,
            cond_len: 5,
            body_start: 0,
            body_len: 0,
        }
        .encode(),
    );
    v.extend_from_slice(&[1, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 1, 0, 0, 0]);
    let len = v.len() as u16;
    v[2..4].copy_from_slice(&len.to_le_bytes());
    v
}

#[test]
fn out_of_range_installs_are_rejected() {
    let mut dp = ready();
    let flag = Operand::new(RegKind::Implicit, 0);
    let bind = Instr {
        op: Op::Bind,
        result: flag,
        left: flag,
        right: Operand::imm(1),
    };
    // Event range past the instructions (libccp would run stale entries): −42.
    let m = install_event_out_of_range(9);
    assert_eq!(dp.read_msg(&m).unwrap_err().libccp_code(), -42);
    // Too many events / instructions claimed (and not present).
    let mut m = install(9);
    m[12..16].copy_from_slice(&300u32.to_le_bytes());
    assert_eq!(dp.read_msg(&m).unwrap_err().libccp_code(), -42);
    let mut m = install(9);
    m[16..20].copy_from_slice(&256u32.to_le_bytes());
    assert_eq!(dp.read_msg(&m).unwrap_err().libccp_code(), -43);
    // Writing an immediate: −34; invalid opcode: −33; invalid operand type: −35.
    let mut m = install_bin(
        9,
        vec![Event {
            cond_start: 0,
            cond_len: 1,
            body_start: 1,
            body_len: 0,
        }],
        vec![bind],
    );
    let off = m.len() - 16;
    m[off + 1] = 1; // result type immediate
    assert_eq!(dp.read_msg(&m).unwrap_err().libccp_code(), -34);
    m[off + 1] = 2;
    m[off] = 15;
    assert_eq!(dp.read_msg(&m).unwrap_err().libccp_code(), -33);
    m[off] = 1;
    m[off + 1] = 9;
    assert_eq!(dp.read_msg(&m).unwrap_err().libccp_code(), -35);
    // Registers far out of range are accepted and read as 0 / written nowhere.
    let far = Instr {
        op: Op::Add,
        result: Operand::new(RegKind::Tmp, 1_000_000),
        left: Operand::new(RegKind::Report, 4_000_000_000),
        right: Operand::new(RegKind::Local, 77),
    };
    let m = install_bin(
        9,
        vec![Event {
            cond_start: 0,
            cond_len: 1,
            body_start: 1,
            body_len: 1,
        }],
        vec![bind, far],
    );
    assert!(dp.read_msg(&m).is_ok());
    assert_eq!(dp.stats().malformed, 6);
    still_works(&mut dp, 1);
}

#[test]
fn updates_and_change_prog_to_unknown_targets() {
    let mut dp = ready();
    let upd = |sid, updates| UpdateFields { sid, updates }.encode().unwrap();
    assert_eq!(
        dp.read_msg(&upd(3, vec![UpdateField::cwnd(1)]))
            .unwrap_err()
            .libccp_code(),
        -71
    );
    assert_eq!(dp.read_msg(&upd(0, vec![])).unwrap_err().libccp_code(), -71);
    let cp = ChangeProg {
        sid: 9,
        program_uid: 1,
        updates: vec![],
    }
    .encode()
    .unwrap();
    assert_eq!(dp.read_msg(&cp).unwrap_err().libccp_code(), -71);
    let cp = ChangeProg {
        sid: 1,
        program_uid: 99,
        updates: vec![],
    }
    .encode()
    .unwrap();
    assert_eq!(dp.read_msg(&cp).unwrap_err().libccp_code(), 8);
    // A bad record type: −53, the records before it stay staged (libccp).
    let mut m = upd(
        1,
        vec![UpdateField::cwnd(33_000), UpdateField::control(0, 5)],
    );
    m[12 + 13] = 4; // second record: primitive (not updatable)
    assert_eq!(dp.read_msg(&m).unwrap_err().libccp_code(), -53);
    dp.callbacks_mut().take_calls();
    dp.callbacks_mut().now_us = 10;
    dp.invoke(1, &prims()).unwrap();
    assert_eq!(dp.callbacks().calls[0], common::Cb::Cwnd(1, 33_000));
    // Too many updates: −52.
    let mut m = upd(1, vec![]);
    m[8..12].copy_from_slice(&128u32.to_le_bytes());
    assert_eq!(dp.read_msg(&m).unwrap_err().libccp_code(), -52);
    let s = dp.stats();
    assert_eq!(
        (s.unknown_connection, s.unknown_program, s.malformed),
        (3, 1, 2)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), ty in 0u8..6) {
        let mut dp = ready();
        let mut m = bytes;
        if m.len() >= 2 {
            m[0] = ty; // mostly datapath-bound types
            m[1] = 0;
        }
        let _ = dp.read_msg(&m);
        let s = dp.stats();
        // 3 set-up messages (INSTALL, 2 CHANGE_PROG) plus this one.
        prop_assert_eq!(s.msgs_received, 4);
        prop_assert_eq!(rejected(&dp) + s.installs + s.updates + s.change_progs + s.hellos, 4);
        still_works(&mut dp, 1_000);
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One hostile message: random bytes, or a valid message with bit flips, a changed count,
/// a cut, or a wrong type.
fn hostile(rng: &mut Rng, valid: &[Vec<u8>]) -> Vec<u8> {
    match rng.below(4) {
        0 => (0..rng.below(120)).map(|_| rng.next() as u8).collect(),
        _ => {
            let mut m = valid[rng.below(valid.len() as u64) as usize].clone();
            for _ in 0..=rng.below(4) {
                match rng.below(5) {
                    0 if !m.is_empty() => {
                        let i = rng.below(m.len() as u64) as usize;
                        m[i] ^= 1 << rng.below(8);
                    }
                    1 if m.len() >= 20 => {
                        let off = [8usize, 12, 16][rng.below(3) as usize];
                        let v =
                            [0u32, 1, 127, 128, 255, 256, 1 << 20, u32::MAX][rng.below(8) as usize];
                        m[off..off + 4].copy_from_slice(&v.to_le_bytes());
                    }
                    2 => m.truncate(rng.below(m.len() as u64 + 1) as usize),
                    3 if m.len() >= 2 => m[0] = rng.below(8) as u8,
                    _ => m.extend((0..rng.below(64)).map(|_| rng.next() as u8)),
                }
            }
            m
        }
    }
}

fn run_cases(n: u64, seed: u64) -> (u64, u64) {
    let mut rng = Rng(seed);
    let valid = vec![
        install(2),
        install(1),
        UpdateFields {
            sid: 1,
            updates: vec![UpdateField::cwnd(20_000), UpdateField::control(0, 1)],
        }
        .encode()
        .unwrap(),
        ChangeProg {
            sid: 2,
            program_uid: 1,
            updates: vec![UpdateField::rate(100)],
        }
        .encode()
        .unwrap(),
    ];
    let mut dp = ready();
    let mut accepted = 0;
    for i in 0..n {
        let m = hostile(&mut rng, &valid);
        if dp.read_msg(&m).is_ok() {
            accepted += 1;
        }
        // Interleave ACKs so mutated programs and updates get executed.
        if i % 4 == 0 {
            dp.callbacks_mut().now_us += 1_000;
            let sid = 1 + (i / 4 % 2) as u32;
            let _ = dp.invoke(sid, &prims());
            dp.callbacks_mut().sent.clear();
            dp.callbacks_mut().calls.clear();
        }
    }
    let s = dp.stats();
    assert_eq!(s.msgs_received, n + 3);
    assert_eq!(
        rejected(&dp) + s.installs + s.updates + s.change_progs + s.hellos,
        n + 3,
        "every message is either handled or counted as rejected"
    );
    (accepted, rejected(&dp))
}

#[test]
fn hostile_mix_10k() {
    let (ok, bad) = run_cases(10_000, 0x5eed);
    assert!(ok > 100 && bad > 5_000, "ok {ok}, rejected {bad}");
}

#[test]
#[ignore = "stress: run with --ignored"]
fn hostile_mix_stress_1m() {
    let n = 1_000_000;
    let t = std::time::Instant::now();
    let (ok, bad) = run_cases(n, 0xdead_beef);
    println!(
        "datapath stress: {n} hostile messages ({ok} accepted, {bad} rejected) with {} invocations in {:.2?}",
        n / 4,
        t.elapsed()
    );
}
