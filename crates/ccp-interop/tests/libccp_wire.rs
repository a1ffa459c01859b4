//! Wire interoperability with libccp (the reference datapath library, driven through the
//! `libccp` 1.2 crate's public API):
//!
//! * libccp accepts what we emit: INSTALL, UPDATE_FIELDS and CHANGE_PROG bytes given to
//!   `ccp_read_msg` (`Datapath::recv_msg`) return 0;
//! * libccp rejects our HELLO with −32 and without side effects (nothing sent, staged
//!   updates and the program table untouched);
//! * the READY, CREATE, MEASURE and close bytes libccp emits parse with our parser.
//!
//! libccp reads the wall clock; nothing here depends on timing (send_msg never fails, so
//! the fallback timer never starts).

use std::sync::{Arc, Mutex};

use ccp_wire::{
    Bin, ChangeProg, Create, Encode, Event, Hello, ImplVersion, Install, Instr, Measure,
    MessageView, Op, Operand, ParseOptions, Ready, RegKind, Role, UpdateField, UpdateFields,
};
use libccp::{
    CongestionOps, Connection, Datapath, DatapathBuilder, DatapathOps, FlowInfo, LibccpError,
    Primitives,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

type Sent = Arc<Mutex<Vec<Vec<u8>>>>;

struct Capture(Sent);

impl DatapathOps for Capture {
    fn send_msg(&mut self, msg: &[u8]) {
        self.0.lock().expect("capture lock").push(msg.to_vec());
    }
}

#[derive(Default)]
struct Flow {
    cwnd: u32,
    rate: u32,
}

impl CongestionOps for Flow {
    fn set_cwnd(&mut self, cwnd: u32) {
        self.cwnd = cwnd;
    }

    fn set_rate_abs(&mut self, rate: u32) {
        self.rate = rate;
    }
}

fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

fn datapath(id: u32) -> (Datapath, Sent) {
    let sent: Sent = Arc::default();
    let dp = DatapathBuilder::default()
        .with_ops(Capture(sent.clone()))
        .with_id(id)
        .init()
        .expect("libccp init");
    (dp, sent)
}

fn take(sent: &Sent) -> Vec<Vec<u8>> {
    std::mem::take(&mut *sent.lock().expect("capture lock"))
}

/// Feed our bytes to libccp's `ccp_read_msg`.
fn feed(dp: &Datapath, bytes: &[u8]) -> Result<(), LibccpError> {
    let mut b = bytes.to_vec();
    dp.recv_msg(&mut b)
}

fn encode(m: &impl Encode) -> Vec<u8> {
    m.encode().expect("encodable")
}

/// A program with report registers `0..n` (kind per register) set to the given
/// immediates, reporting on every invocation: n DEFs, then one event whose condition sets
/// the event flag and whose body binds every register and `__shouldReport`.
fn report_program(uid: u32, regs: &[(RegKind, u32)]) -> Install {
    let n = regs.len() as u32;
    let flag = Operand::new(RegKind::Implicit, 0);
    let should_report = Operand::new(RegKind::Implicit, 2);
    let mut instrs = Vec::new();
    for (i, (k, _)) in regs.iter().enumerate() {
        let r = Operand::new(*k, i as u32);
        instrs.push(Instr {
            op: Op::Def,
            result: r,
            left: r,
            right: Operand::imm(0),
        });
    }
    instrs.push(Instr {
        op: Op::Bind,
        result: flag,
        left: flag,
        right: Operand::imm(1),
    });
    for (i, (k, v)) in regs.iter().enumerate() {
        let r = Operand::new(*k, i as u32);
        instrs.push(Instr {
            op: Op::Bind,
            result: r,
            left: r,
            right: Operand::imm(*v),
        });
    }
    instrs.push(Instr {
        op: Op::Bind,
        result: should_report,
        left: should_report,
        right: Operand::imm(1),
    });
    Install {
        sid: 0,
        program_uid: uid,
        bin: Bin {
            events: vec![Event {
                cond_start: n,
                cond_len: 1,
                body_start: n + 1,
                body_len: n + 1,
            }],
            instrs,
        },
    }
}

/// `(def (Report (volatile cwnd 0) (volatile ctl0 0)) (c 0)) (when true (:= Report.cwnd
/// Cwnd) (:= Report.ctl0 c) (report))`, hand-assembled.
fn cwnd_program(uid: u32) -> Install {
    let rep = |i| Operand::new(RegKind::VolatileReport, i);
    let ctl = Operand::new(RegKind::Control, 0);
    let imp = |i| Operand::new(RegKind::Implicit, i);
    let i = |op, result, right| Instr {
        op,
        result,
        left: result,
        right,
    };
    Install {
        sid: 0,
        program_uid: uid,
        bin: Bin {
            events: vec![Event {
                cond_start: 3,
                cond_len: 1,
                body_start: 4,
                body_len: 3,
            }],
            instrs: vec![
                i(Op::Def, rep(0), Operand::imm(0)),
                i(Op::Def, rep(1), Operand::imm(0)),
                i(Op::Def, ctl, Operand::imm(5)),
                i(Op::Bind, imp(0), Operand::imm(1)),
                i(Op::Bind, rep(0), imp(4)),
                i(Op::Bind, rep(1), ctl),
                i(Op::Bind, imp(2), Operand::imm(1)),
            ],
        },
    }
}

/// Start a connection and return it with the sid of the CREATE libccp sent (the
/// `libccp` crate `malloc`s its connection array without zeroing it, so the first free
/// slot is not necessarily slot 1).
fn start<'dp>(dp: &'dp Datapath, sent: &Sent, info: FlowInfo) -> (Connection<'dp, Flow>, Create) {
    let conn = Connection::start(dp, Flow::default(), info).expect("connection slot");
    let msgs = take(sent);
    assert_eq!(msgs.len(), 1, "expected one CREATE, got {msgs:?}");
    let create =
        Create::parse_with(&msgs[0], &ParseOptions::AGENT).expect("our parser reads CREATE");
    assert!(create.sid >= 1);
    (conn, create)
}

fn last_measure(sent: &Sent) -> Measure {
    let msgs = take(sent);
    assert_eq!(msgs.len(), 1, "expected exactly one message, got {msgs:?}");
    Measure::parse_with(&msgs[0], &ParseOptions::AGENT).expect("our parser reads libccp's MEASURE")
}

// ---------------------------------------------------------------------------------------

#[test]
fn libccp_ready_create_report_close_parse_with_ours() {
    let (dp, sent) = datapath(0xaa);
    let msgs = take(&sent);
    assert_eq!(msgs.len(), 1);
    // Spec §2.4 test vector, emitted by libccp itself.
    assert_eq!(msgs[0], [0x05, 0, 0x0c, 0, 0, 0, 0, 0, 0xaa, 0, 0, 0]);
    assert_eq!(Ready::parse(&msgs[0]), Ok(Ready { id: 0xaa }));

    let info = FlowInfo::default()
        .with_init_cwnd(100)
        .with_mss(10)
        .with_four_tuple(1, 2, 3, 4)
        .with_cong_alg("my-cool-alg")
        .expect("name fits");
    let (mut conn, create) = start(&dp, &sent, info);
    let sid = create.sid;
    assert_eq!(
        create,
        Create {
            sid,
            init_cwnd: 100,
            mss: 10,
            src_ip: 1,
            src_port: 2,
            dst_ip: 3,
            dst_port: 4,
            cong_alg: Some("my-cool-alg".into()),
        }
    );

    feed(&dp, &encode(&cwnd_program(1))).expect("INSTALL accepted");
    feed(
        &dp,
        &encode(&ChangeProg {
            sid,
            program_uid: 1,
            updates: vec![],
        }),
    )
    .expect("CHANGE_PROG accepted");
    conn.load_primitives(Primitives::default().with_snd_cwnd(14600));
    conn.invoke().expect("invoke");
    let m = last_measure(&sent);
    assert_eq!(
        m,
        Measure {
            sid,
            program_uid: 1,
            fields: vec![14600, 5]
        }
    );
    assert_eq!(conn.cwnd, 14600);

    drop(conn);
    let msgs = take(&sent);
    assert_eq!(msgs.len(), 1);
    let close = Measure::parse(&msgs[0]).unwrap();
    assert!(close.is_close());
    assert_eq!(close, Measure::close(sid));
}

#[test]
fn libccp_rejects_hello_with_minus_32_and_no_side_effects() {
    let (dp, sent) = datapath(1);
    take(&sent);
    let (mut conn, Create { sid, .. }) = start(&dp, &sent, FlowInfo::default());
    feed(&dp, &encode(&cwnd_program(1))).unwrap();
    feed(
        &dp,
        &encode(&ChangeProg {
            sid,
            program_uid: 1,
            updates: vec![],
        }),
    )
    .unwrap();
    conn.load_primitives(Primitives::default().with_snd_cwnd(1000));
    conn.invoke().unwrap();
    assert_eq!(last_measure(&sent).fields, [1000, 5]);

    // Stage updates, then send HELLOs (datapath and agent role, sid 0 and 1).
    feed(
        &dp,
        &encode(&UpdateFields {
            sid,
            updates: vec![UpdateField::cwnd(42), UpdateField::control(0, 77)],
        }),
    )
    .unwrap();
    for role in [Role::Agent, Role::Datapath] {
        let mut hello = encode(&Hello::new(role, "ccp-rs", ImplVersion::default()));
        for hello_sid in [0u32, sid] {
            hello[4..8].copy_from_slice(&hello_sid.to_le_bytes());
            match feed(&dp, &hello) {
                Err(LibccpError::LibccpReadInvalidHeaderType) => {}
                other => panic!("libccp answered {other:?} to HELLO (expected -32)"),
            }
            // Our datapath-side parser accepts it; our libccp code for a HELLO error
            // path would be -32 too.
            assert!(MessageView::parse(&hello, &ParseOptions::DATAPATH).is_ok());
        }
    }
    assert!(take(&sent).is_empty(), "HELLO made libccp send something");

    // The staged updates survived and the program is still active: the next report
    // shows them.
    conn.invoke().unwrap();
    assert_eq!(last_measure(&sent).fields, [42, 77]);
    assert_eq!(conn.cwnd, 42);
    // The program table was not wiped: switching to uid 1 still finds it (an unknown
    // uid would return +8, an error for the Rust binding).
    feed(
        &dp,
        &encode(&ChangeProg {
            sid,
            program_uid: 1,
            updates: vec![UpdateField::control(0, 9)],
        }),
    )
    .unwrap();
    conn.invoke().unwrap();
    assert_eq!(last_measure(&sent).fields[1], 9);
    // Sanity check of the side-effect probe itself: an unknown uid is refused.
    assert!(
        feed(
            &dp,
            &encode(&ChangeProg {
                sid,
                program_uid: 4242,
                updates: vec![],
            }),
        )
        .is_err()
    );
}

// ---------------------------------------------------------------------------------------
// Random messages.

fn arb_operand(writable: bool) -> impl Strategy<Value = Operand> {
    let kinds: Vec<RegKind> = (0u8..=8)
        .filter_map(RegKind::from_u8)
        .filter(|k| !writable || k.is_writable())
        .collect();
    (prop::sample::select(kinds), any::<u32>()).prop_map(|(k, v)| Operand::new(k, v))
}

fn arb_instr() -> impl Strategy<Value = Instr> {
    (
        prop::sample::select(Op::ALL.to_vec()),
        arb_operand(true),
        arb_operand(false),
        arb_operand(false),
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
    prop_oneof![5 => 0usize..30, 1 => 250usize..=255]
        .prop_flat_map(|ni| {
            (
                prop::collection::vec(arb_instr(), ni),
                prop::collection::vec((arb_range(ni as u32), arb_range(ni as u32)), 0..8),
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
        (0u32..110, any::<u64>()).prop_map(|(i, v)| UpdateField::control(i, v)),
        (0u32..110, any::<u64>()).prop_map(|(i, v)| UpdateField::volatile_control(i, v)),
        any::<u64>().prop_map(UpdateField::cwnd),
        any::<u64>().prop_map(UpdateField::rate),
        (any::<u32>(), any::<u64>()).prop_map(|(i, v)| UpdateField::new(RegKind::Implicit, i, v)),
    ]
}

fn arb_updates() -> impl Strategy<Value = Vec<UpdateField>> {
    prop_oneof![
        4 => prop::collection::vec(arb_update(), 0..10),
        1 => prop::collection::vec(arb_update(), 100..=127),
    ]
}

#[test]
fn libccp_accepts_our_install_update_change_prog() {
    let (dp, sent) = datapath(2);
    take(&sent);
    let (conn, Create { sid, .. }) = start(&dp, &sent, FlowInfo::default());
    let wipe = encode(&report_program(1, &[(RegKind::VolatileReport, 0)]));
    let mut runner = TestRunner::new(config(200, 0x11bc_cc01));
    runner
        .run(
            &(
                2u32..,
                any::<u32>(),
                arb_bin(),
                arb_updates(),
                arb_updates(),
            ),
            |(uid, install_sid, bin, cp_updates, updates)| {
                // uid 1 wipes libccp's program table, so it never fills up.
                prop_assert!(feed(&dp, &wipe).is_ok());
                let install = Install {
                    sid: install_sid,
                    program_uid: uid,
                    bin,
                };
                let r = feed(&dp, &encode(&install));
                prop_assert!(r.is_ok(), "INSTALL refused: {:?}", r);
                let cp = ChangeProg {
                    sid,
                    program_uid: uid,
                    updates: cp_updates,
                };
                let r = feed(&dp, &encode(&cp));
                prop_assert!(r.is_ok(), "CHANGE_PROG refused: {:?}", r);
                let up = UpdateFields { sid, updates };
                let r = feed(&dp, &encode(&up));
                prop_assert!(r.is_ok(), "UPDATE_FIELDS refused: {:?}", r);
                // Never invoke: random programs are not meant to run.
                prop_assert!(take(&sent).is_empty());
                Ok(())
            },
        )
        .unwrap();
    drop(conn);
}

#[test]
fn libccp_reports_parse_with_ours() {
    let (dp, sent) = datapath(3);
    take(&sent);
    let (conn, Create { sid, .. }) = start(&dp, &sent, FlowInfo::default());
    // `TestRunner::run` takes an `Fn`; the connection is invoked through a RefCell.
    let conn = std::cell::RefCell::new(conn);
    let kinds = prop::sample::select(vec![RegKind::VolatileReport, RegKind::Report]);
    let mut runner = TestRunner::new(config(200, 0x11bc_cc02));
    runner
        .run(
            &(
                2u32..,
                prop::collection::vec((kinds, any::<u32>()), 1..=110),
            ),
            |(uid, regs)| {
                prop_assert!(feed(&dp, &encode(&report_program(1, &regs[..1]))).is_ok());
                prop_assert!(feed(&dp, &encode(&report_program(uid, &regs))).is_ok());
                let cp = ChangeProg {
                    sid,
                    program_uid: uid,
                    updates: vec![],
                };
                prop_assert!(feed(&dp, &encode(&cp)).is_ok());
                prop_assert!(conn.borrow_mut().invoke().is_ok());
                let msgs = take(&sent);
                prop_assert_eq!(msgs.len(), 1);
                let view = MessageView::parse(&msgs[0], &ParseOptions::AGENT);
                let Ok(MessageView::Measure(m)) = view else {
                    return Err(TestCaseError::fail(format!("not a MEASURE: {view:?}")));
                };
                prop_assert_eq!(m.sid(), sid);
                prop_assert_eq!(m.program_uid(), uid);
                let expected: Vec<u64> = regs.iter().map(|(_, v)| u64::from(*v)).collect();
                prop_assert_eq!(m.fields().collect::<Vec<_>>(), expected);
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn libccp_ready_and_create_random_values_parse_with_ours() {
    let mut runner = TestRunner::new(config(16, 0x11bc_cc03));
    runner
        .run(&any::<u32>(), |id| {
            let (_dp, sent) = datapath(id);
            let msgs = take(&sent);
            prop_assert_eq!(msgs.len(), 1);
            prop_assert_eq!(Ready::parse(&msgs[0]), Ok(Ready { id }));
            Ok(())
        })
        .unwrap();

    let (dp, sent) = datapath(4);
    take(&sent);
    // Connections stay open until the end: libccp rate-limits CREATE per slot (100 ms,
    // `last_create_msg_sent` survives slot reuse), so a reused slot would send nothing.
    let open = std::cell::RefCell::new(Vec::new());
    let mut runner = TestRunner::new(config(100, 0x11bc_cc04));
    runner
        .run(
            &(
                any::<[u32; 6]>(),
                prop::option::of("[^\\x00]{1,15}".prop_filter("≤ 63 bytes", |s| s.len() <= 63)),
            ),
            |(v, name)| {
                let mut info = FlowInfo::default()
                    .with_init_cwnd(v[0])
                    .with_mss(v[1])
                    .with_four_tuple(v[2], v[3], v[4], v[5]);
                if let Some(n) = &name {
                    info = info.with_cong_alg(n).expect("≤ 63 bytes");
                }
                let (conn, c) = start(&dp, &sent, info);
                prop_assert_eq!(
                    &c,
                    &Create {
                        sid: c.sid,
                        init_cwnd: v[0],
                        mss: v[1],
                        src_ip: v[2],
                        src_port: v[3],
                        dst_ip: v[4],
                        dst_port: v[5],
                        cong_alg: name,
                    }
                );
                open.borrow_mut().push((conn, c.sid));
                Ok(())
            },
        )
        .unwrap();
    // Every close parses as the close of its connection.
    for (conn, sid) in open.into_inner() {
        drop(conn);
        let msgs = take(&sent);
        assert_eq!(msgs.len(), 1);
        assert_eq!(Measure::parse(&msgs[0]), Ok(Measure::close(sid)));
    }
}
