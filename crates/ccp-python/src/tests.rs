//! Tests of the pure-Rust core: the dynamic-program table and the host, against
//! hand-built wire messages and against the real datapath library (`ccp-datapath`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ccp_agent::{AgentBuilder, CongAlg, Datapath, DatapathInfo, Flow, Programs, Report};
use ccp_wire::{Create, Encode, Measure, Message, ParseOptions, Ready, RegKind, UpdateField};

use crate::dynamic::{DynHandle, DynPrograms, DynReport, DynSink, InstallError};
use crate::host::Host;
use crate::{PLACEHOLDER_PROGRAM, PLACEHOLDER_SOURCE};

const LEGACY: &str = "(def (Report.rtt 0) (Report.acked 0) (control 7))
(when true
    (:= Report.rtt Flow.rtt_sample_us)
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (fallthrough)
)
(when (> Micros Flow.rtt_sample_us)
    (report)
)";

const STATIC: &str = "(def (Report (volatile acked 0)))
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (report)
)";

#[derive(Clone, Debug, PartialEq)]
enum Ev {
    Dyn {
        sid: u32,
        uid: u32,
        fields: Vec<(String, u64)>,
        cwnd_rate: Option<(u64, u64)>,
    },
    Static {
        sid: u32,
        acked: u64,
    },
    Closed(u32),
}

type Log = Arc<Mutex<Vec<Ev>>>;

struct Recorder(Log);

impl DynSink for Recorder {
    fn on_report(&self, sid: u32, r: DynReport<'_>) {
        let fields = r
            .program
            .report_names()
            .iter()
            .zip(r.fields)
            .map(|(n, v)| (n.clone(), *v))
            .collect();
        self.0.lock().unwrap().push(Ev::Dyn {
            sid,
            uid: r.program.uid(),
            fields,
            cwnd_rate: r.cwnd_rate,
        });
    }
}

/// An algorithm shaped like the Python layer: a static program table (the placeholder,
/// or one real program) and flows that install program text at run time.
struct TestAlg {
    dynamic: DynPrograms,
    log: Log,
    with_static: bool,
    install_at_start: bool,
    handles: Arc<Mutex<Vec<(Datapath, DynHandle)>>>,
}

struct TestFlow {
    dp: Datapath,
    handle: DynHandle,
    log: Log,
}

impl CongAlg for TestAlg {
    type Flow = TestFlow;
    fn name(&self) -> &str {
        "test"
    }
    fn datapath_programs(&self) -> Programs {
        let mut p = Programs::new();
        if self.with_static {
            p.insert("static".into(), STATIC.into());
        } else {
            p.insert(PLACEHOLDER_PROGRAM.into(), PLACEHOLDER_SOURCE.into());
        }
        p
    }
    fn new_flow(&self, dp: Datapath, info: DatapathInfo) -> TestFlow {
        let handle = self
            .dynamic
            .register_flow(info.sock_id, Arc::new(Recorder(self.log.clone())));
        if self.install_at_start {
            handle
                .install(LEGACY, &[("Cwnd", 10 * u64::from(info.mss))])
                .expect("legacy program installs");
        }
        self.handles
            .lock()
            .unwrap()
            .push((dp.clone(), handle.clone()));
        TestFlow {
            dp,
            handle,
            log: self.log.clone(),
        }
    }
}

impl Flow for TestFlow {
    fn on_report(&mut self, sid: u32, r: Report<'_>) {
        self.log.lock().unwrap().push(Ev::Static {
            sid,
            acked: r.get_field("acked").unwrap_or(u64::MAX),
        });
    }
    fn close(&mut self) {
        self.handle.detach();
        self.log.lock().unwrap().push(Ev::Closed(self.dp.sock_id()));
    }
}

struct Rig {
    host: Host<u32>,
    log: Log,
    handles: Arc<Mutex<Vec<(Datapath, DynHandle)>>>,
}

fn rig(with_static: bool, install_at_start: bool) -> Rig {
    let dynamic = DynPrograms::new();
    let log: Log = Arc::default();
    let handles: Arc<Mutex<Vec<(Datapath, DynHandle)>>> = Arc::default();
    let agent = AgentBuilder::new()
        .default_alg(TestAlg {
            dynamic: dynamic.clone(),
            log: log.clone(),
            with_static,
            install_at_start,
            handles: handles.clone(),
        })
        .build::<u32>()
        .expect("programs compile");
    Rig {
        host: Host::new(agent, dynamic),
        log,
        handles,
    }
}

impl Rig {
    /// Feed one datagram from datapath `dp`, return the parsed messages sent back.
    fn feed(&mut self, dp: u32, bytes: &[u8]) -> Vec<(u32, Message)> {
        let mut out = Vec::new();
        self.host.handle(Duration::ZERO, &dp, bytes, &mut |to, b| {
            let m = Message::parse_with(b, &ParseOptions::DATAPATH).expect("valid message");
            out.push((*to, m));
        });
        out
    }
    /// Feed anything; count what is sent back (without parsing it).
    fn feed_lenient(&mut self, dp: u32, bytes: &[u8]) -> usize {
        let mut n = 0;
        self.host
            .handle(Duration::ZERO, &dp, bytes, &mut |_, _| n += 1);
        n
    }

    fn events(&self) -> Vec<Ev> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

fn create(sid: u32) -> Vec<u8> {
    Create {
        sid,
        init_cwnd: 14_600,
        mss: 1460,
        ..Create::default()
    }
    .encode()
    .unwrap()
}

fn measure(sid: u32, uid: u32, fields: Vec<u64>) -> Vec<u8> {
    Measure {
        sid,
        program_uid: uid,
        fields,
    }
    .encode()
    .unwrap()
}

fn kinds(msgs: &[(u32, Message)]) -> Vec<String> {
    msgs.iter()
        .map(|(_, m)| match m {
            Message::Install(i) => format!("INSTALL {}", i.program_uid),
            Message::ChangeProg(c) => format!("CHANGE_PROG {} {}", c.sid, c.program_uid),
            Message::UpdateFields(u) => format!("UPDATE {}", u.sid),
            Message::Hello(_) => "HELLO".to_string(),
            other => format!("{:?}", other.msg_type()),
        })
        .collect()
}

#[test]
fn install_sends_install_once_per_datapath_then_change_prog() {
    let mut r = rig(false, true);
    let out = r.feed(1, &create(1));
    // Agent: placeholder INSTALL uid 1 + HELLO; then the flow's dynamic program (uid 2).
    assert_eq!(
        kinds(&out),
        ["INSTALL 1", "HELLO", "INSTALL 2", "CHANGE_PROG 1 2"]
    );
    match &out[3].1 {
        Message::ChangeProg(c) => {
            assert_eq!(c.updates, vec![UpdateField::cwnd(14_600)]);
        }
        other => panic!("{other:?}"),
    }
    // A second flow on the same datapath: no second INSTALL.
    assert_eq!(kinds(&r.feed(1, &create(2))), ["CHANGE_PROG 2 2"]);
    // Another datapath gets its own copy.
    assert_eq!(
        kinds(&r.feed(9, &create(1))),
        ["INSTALL 1", "HELLO", "INSTALL 2", "CHANGE_PROG 1 2"]
    );
    assert!(out.iter().all(|(to, _)| *to == 1));
    let st = r.host.dynamic().stats();
    assert_eq!((st.compiled, st.installs_sent, st.switches), (1, 2, 3));
}

#[test]
fn reports_of_dynamic_programs_reach_the_flow_and_stale_ones_are_dropped() {
    let mut r = rig(false, true);
    r.feed(1, &create(1));
    r.events();
    assert!(r.feed(1, &measure(1, 2, vec![5000, 2920])).is_empty());
    assert_eq!(
        r.events(),
        [Ev::Dyn {
            sid: 1,
            uid: 2,
            fields: vec![("rtt".into(), 5000), ("acked".into(), 2920)],
            cwnd_rate: None,
        }]
    );
    // The placeholder's uid: not this flow's program.
    r.feed(1, &measure(1, 1, vec![1]));
    assert!(r.events().is_empty());
    assert_eq!(r.host.dynamic().stats().stale_reports, 1);
    // Unknown sid: the agent's "unknown flow".
    r.feed(1, &measure(7, 2, vec![1, 2]));
    assert!(r.events().is_empty());
    assert_eq!(r.host.agent().stats().unknown_flow, 1);
}

#[test]
fn several_messages_in_one_datagram_are_split_and_routed() {
    let mut r = rig(false, true);
    r.feed(1, &create(1));
    r.events();
    let mut dgram = measure(1, 2, vec![1, 2]);
    dgram.extend(create(2));
    dgram.extend(measure(2, 2, vec![3, 4]));
    dgram.extend(measure(1, 0, vec![])); // close of flow 1
    let out = r.feed(1, &dgram);
    assert_eq!(kinds(&out), ["CHANGE_PROG 2 2"]);
    let ev = r.events();
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert!(matches!(&ev[0], Ev::Dyn { sid: 1, fields, .. } if fields[1].1 == 2));
    assert!(matches!(&ev[1], Ev::Dyn { sid: 2, fields, .. } if fields[0].1 == 3));
    assert_eq!(ev[2], Ev::Closed(1));
    assert_eq!(r.host.dynamic().active(), 1);
}

#[test]
fn updates_resolve_in_the_dynamic_scope() {
    let dynamic = DynPrograms::new();
    dynamic.set_base_uid(5);
    let log: Log = Arc::default();
    let h = dynamic.register_flow(3, Arc::new(Recorder(log)));
    assert!(
        !h.update_fields(&[("Cwnd", 1)]).unwrap(),
        "no dynamic program yet"
    );
    let p = h.install(LEGACY, &[]).unwrap();
    assert_eq!(p.uid(), 5);
    assert!(h.update_fields(&[("control", 9), ("Cwnd", 2)]).unwrap());
    // Report variables and unknown names cannot be updated.
    assert!(h.update_fields(&[("Report.rtt", 1)]).is_err());
    assert!(h.update_fields(&[("nope", 1)]).is_err());
    let mut msgs = Vec::new();
    dynamic.drain(|key, b| msgs.push((key, Message::parse(b).unwrap())));
    assert_eq!(msgs.len(), 3, "INSTALL, CHANGE_PROG, one UPDATE");
    match &msgs[2].1 {
        Message::UpdateFields(u) => {
            assert_eq!(u.sid, 3);
            assert_eq!(u.updates[1], UpdateField::cwnd(2));
            assert!(matches!(
                u.updates[0].kind,
                RegKind::Control | RegKind::VolatileControl
            ));
            assert_eq!(u.updates[0].value, 9);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn same_text_is_compiled_once_and_errors_carry_line_and_column() {
    let dynamic = DynPrograms::new();
    let a = dynamic.compile(LEGACY).unwrap();
    let b = dynamic.compile(LEGACY).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(a.uid(), 2, "dynamic uids never use 1");
    let e = dynamic
        .compile("(def (Report.x 0))\n(when true\n    (:= Report.x (+ 1 Nope.y))\n)")
        .unwrap_err();
    assert!(matches!(e, InstallError::Compile(_)));
    let text = e.to_string();
    assert!(text.starts_with("3:"), "{text}");
    assert_eq!(dynamic.stats().compiled, 1);
}

#[test]
fn detached_flows_refuse_commands_and_a_reused_sid_is_a_new_flow() {
    let dynamic = DynPrograms::new();
    let log: Log = Arc::default();
    let old = dynamic.register_flow(1, Arc::new(Recorder(log.clone())));
    old.install(LEGACY, &[]).unwrap();
    assert_eq!(dynamic.active(), 1);
    let new = dynamic.register_flow(1, Arc::new(Recorder(log)));
    assert_eq!(
        dynamic.active(),
        0,
        "the replaced flow's program no longer counts"
    );
    assert!(matches!(
        old.install(LEGACY, &[]),
        Err(InstallError::Detached { sid: 1 })
    ));
    assert!(new.is_attached());
    old.detach(); // must not remove the new flow
    assert!(new.is_attached());
    new.detach();
    assert!(!new.is_attached());
    assert!(new.update_fields(&[("Cwnd", 1)]).is_err());
}

#[test]
fn ready_makes_the_next_install_resend_the_program() {
    let mut r = rig(false, true);
    r.feed(1, &create(1));
    let out = r.feed(1, &Ready { id: 1 }.to_bytes());
    // The flow was closed; the agent re-sends its static programs and HELLO.
    assert_eq!(kinds(&out), ["INSTALL 1", "HELLO"]);
    assert_eq!(r.events().last(), Some(&Ev::Closed(1)));
    assert_eq!(
        kinds(&r.feed(1, &create(1))),
        ["INSTALL 2", "CHANGE_PROG 1 2"]
    );
}

#[test]
fn switching_between_static_and_dynamic_programs_routes_reports() {
    let mut r = rig(true, false);
    r.feed(1, &create(1));
    let (mut dp, h) = r.handles.lock().unwrap().pop().expect("flow created");
    let mut sent = Vec::new();
    let flush = |r: &mut Rig| {
        let mut out = Vec::new();
        r.host
            .flush(&mut |_, b| out.push(kinds(&[(0, Message::parse(b).unwrap())])[0].clone()));
        out
    };
    dp.set_program("static", None).unwrap();
    sent.extend(flush(&mut r));
    r.feed(1, &measure(1, 1, vec![5]));
    assert_eq!(r.events(), [Ev::Static { sid: 1, acked: 5 }]);

    h.install(LEGACY, &[]).unwrap();
    sent.extend(flush(&mut r));
    r.feed(1, &measure(1, 1, vec![6])); // in flight from the static program: dropped
    r.feed(1, &measure(1, 2, vec![7, 8]));
    let ev = r.events();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(matches!(&ev[0], Ev::Dyn { uid: 2, .. }));

    // Back to the static program within the same round as a dynamic command: the
    // static CHANGE_PROG is repeated behind it so the datapath ends on the static one.
    h.update_fields(&[("control", 1)]).unwrap();
    assert!(h.pending_this_round());
    h.clear_current();
    dp.set_program("static", None).unwrap();
    h.push_resolved(Some(1), &[]).unwrap();
    let round = flush(&mut r);
    assert_eq!(round, ["CHANGE_PROG 1 1", "UPDATE 1", "CHANGE_PROG 1 1"]);
    assert!(!h.pending_this_round());
    r.feed(1, &measure(1, 2, vec![1, 1]));
    r.feed(1, &measure(1, 1, vec![9]));
    assert_eq!(r.events(), [Ev::Static { sid: 1, acked: 9 }]);
    assert_eq!(sent, ["CHANGE_PROG 1 1", "INSTALL 2", "CHANGE_PROG 1 2"]);
}

/// The real datapath library in the loop: the dynamic program is installed, runs per ACK,
/// and its reports (with Cwnd/Rate appended after the HELLO handshake) reach the flow.
#[test]
fn dynamic_program_runs_on_ccp_datapath() {
    use ccp_datapath::{Callbacks, Config, Primitives, SendError, Sid};

    #[derive(Default)]
    struct Dp {
        now: u64,
        out: Vec<Vec<u8>>,
        cwnd: u64,
    }
    impl Callbacks for Dp {
        type Conn = ();
        fn set_cwnd(&mut self, _: Sid, _: &mut (), c: u64) {
            self.cwnd = c;
        }
        fn set_rate_abs(&mut self, _: Sid, _: &mut (), _: u64) {}
        fn send_msg(&mut self, m: &[u8]) -> Result<(), SendError> {
            self.out.push(m.to_vec());
            Ok(())
        }
        fn now(&self) -> u64 {
            self.now
        }
    }

    let mut r = rig(false, true);
    let mut dp = ccp_datapath::Datapath::init(Config::new(1), Dp::default()).unwrap();
    let info = ccp_datapath::DatapathInfo {
        init_cwnd: 14_600,
        mss: 1460,
        ..Default::default()
    };
    let sid = dp.connection_start(info, None, ()).unwrap();
    let pump = |r: &mut Rig, dp: &mut ccp_datapath::Datapath<Dp>| {
        let msgs = std::mem::take(&mut dp.callbacks_mut().out);
        for m in msgs {
            let mut back = Vec::new();
            r.host
                .handle(Duration::ZERO, &1, &m, &mut |_, b| back.push(b.to_vec()));
            for b in back {
                dp.read_msg(&b)
                    .expect("datapath accepts what the host sends");
            }
        }
    };
    pump(&mut r, &mut dp);
    r.events();
    for i in 1..=20u64 {
        dp.callbacks_mut().now = i * 1000;
        let prims = Primitives {
            bytes_acked: 1460,
            rtt_sample_us: 1500,
            snd_cwnd: 14_600,
            ..Default::default()
        };
        dp.invoke(sid, &prims).unwrap();
        pump(&mut r, &mut dp);
    }
    // The CHANGE_PROG's initial Cwnd was applied.
    assert_eq!(dp.callbacks().cwnd, 14_600);
    let ev = r.events();
    assert!(ev.len() >= 5, "{ev:?}");
    let total: u64 = ev
        .iter()
        .map(|e| match e {
            Ev::Dyn {
                uid: 2,
                fields,
                cwnd_rate,
                ..
            } => {
                assert_eq!(fields[0], ("rtt".to_string(), 1500));
                assert_eq!(
                    cwnd_rate.map(|c| c.0),
                    Some(14_600),
                    "HELLO negotiated Cwnd"
                );
                fields[1].1
            }
            other => panic!("{other:?}"),
        })
        .sum();
    // `acked` is not volatile: it accumulates; the last report holds every byte.
    let last = match ev.last() {
        Some(Ev::Dyn { fields, .. }) => fields[1].1,
        _ => 0,
    };
    assert!(
        last <= 20 * 1460 && last >= 1460 * ev.len() as u64,
        "{last}"
    );
    assert!(total > 0);
    dp.connection_free(sid);
    pump(&mut r, &mut dp);
    assert_eq!(r.events(), [Ev::Closed(1)]);
    assert_eq!(r.host.dynamic().active(), 0);
}

/// Garbage and mutated messages, with flows running dynamic programs (so the host parses
/// every datagram itself): nothing panics, and valid traffic still works afterwards.
#[test]
fn random_and_mutated_datagrams_never_break_the_host() {
    let mut r = rig(false, true);
    r.feed(1, &create(1));
    r.feed(1, &create(2));
    assert_eq!(r.host.dynamic().active(), 2);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let valid = [
        measure(1, 2, vec![1, 2]),
        measure(2, 2, vec![3, 4]),
        create(3),
        Ready { id: 1 }.to_bytes().to_vec(),
        measure(1, 0, vec![]),
    ];
    for i in 0..20_000u64 {
        let mut d = if i % 2 == 0 {
            let len = (next() % 120) as usize;
            (0..len).map(|_| next() as u8).collect::<Vec<u8>>()
        } else {
            let mut d = valid[(next() % valid.len() as u64) as usize].clone();
            let n = 1 + next() % 4;
            for _ in 0..n {
                let at = (next() as usize) % d.len();
                d[at] = next() as u8;
            }
            d
        };
        if i % 7 == 0 {
            let more = valid[(next() % valid.len() as u64) as usize].clone();
            d.extend(more);
        }
        let dp = (next() % 3) as u32;
        let _ = r.feed_lenient(dp, &d);
    }
    // Still serves: a new flow on a fresh datapath gets its program and its reports.
    r.events();
    assert_eq!(
        kinds(&r.feed(42, &create(1))),
        ["INSTALL 1", "HELLO", "INSTALL 2", "CHANGE_PROG 1 2"]
    );
    r.feed(42, &measure(1, 2, vec![7, 8]));
    assert!(matches!(
        r.events().as_slice(),
        [Ev::Dyn { sid: 1, uid: 2, .. }]
    ));
}
