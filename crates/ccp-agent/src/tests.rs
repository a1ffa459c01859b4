//! Unit tests of the sans-IO core: dispatch table rows, handle API, robustness.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ccp_wire::{
    Capabilities, ChangeProg, Create, Encode, Hello, ImplVersion, Install, Measure, Message,
    MsgType, ParseOptions, Ready, Role, UpdateField, UpdateFields,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::*;

const PROG_A: &str = "(def (Report (volatile acked 0) (seen 0)) (ctl 0))
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.seen ctl)
    (report)
)";
const PROG_B: &str = "(def (Report (volatile x 0)))
(when true (:= Report.x Ack.lost_pkts_sample) (report))";

#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Created {
        alg: String,
        sid: u32,
        requested: Option<String>,
    },
    Report {
        alg: String,
        sid: u32,
        acked: Option<u64>,
        cwnd: Option<u64>,
    },
    Closed {
        alg: String,
        sid: u32,
    },
}

type Log = Arc<Mutex<Vec<Ev>>>;

struct TestAlg {
    name: String,
    programs: Vec<(&'static str, &'static str)>,
    log: Log,
}

struct TestFlow {
    alg: String,
    dp: Datapath,
    log: Log,
}

impl CongAlg for TestAlg {
    type Flow = TestFlow;
    fn name(&self) -> &str {
        &self.name
    }
    fn datapath_programs(&self) -> Programs {
        self.programs
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect()
    }
    fn new_flow(&self, mut dp: Datapath, info: DatapathInfo) -> TestFlow {
        self.log.lock().unwrap().push(Ev::Created {
            alg: self.name.clone(),
            sid: info.sock_id,
            requested: info.requested_alg.clone(),
        });
        dp.set_program("a", Some(&[("ctl", 7)])).unwrap();
        TestFlow {
            alg: self.name.clone(),
            dp,
            log: self.log.clone(),
        }
    }
}

impl Flow for TestFlow {
    fn on_report(&mut self, sid: u32, r: Report<'_>) {
        let acked = r.get_field("acked").ok();
        self.log.lock().unwrap().push(Ev::Report {
            alg: self.alg.clone(),
            sid,
            acked,
            cwnd: r.cwnd().ok(),
        });
        if let Some(a) = acked {
            self.dp.update_field("Cwnd", a.saturating_mul(2)).unwrap();
        }
    }
    fn close(&mut self) {
        self.log.lock().unwrap().push(Ev::Closed {
            alg: self.alg.clone(),
            sid: self.dp.sock_id(),
        });
    }
}

fn alg(name: &str, programs: Vec<(&'static str, &'static str)>, log: &Log) -> TestAlg {
    TestAlg {
        name: name.into(),
        programs,
        log: log.clone(),
    }
}

/// Agent with default "dflt" (programs a, b) and additional "extra" (program a).
fn agent(log: &Log) -> Agent<u32> {
    AgentBuilder::new()
        .default_alg(alg("dflt", vec![("b", PROG_B), ("a", PROG_A)], log))
        .additional_alg(alg("extra", vec![("a", PROG_A)], log))
        .build()
        .unwrap()
}

const T0: Duration = Duration::ZERO;

fn ready() -> Vec<u8> {
    Ready { id: 1 }.to_bytes().to_vec()
}

fn create(sid: u32, alg: Option<&str>) -> Vec<u8> {
    Create {
        sid,
        init_cwnd: 14600,
        mss: 1460,
        cong_alg: alg.map(str::to_owned),
        ..Create::default()
    }
    .encode()
    .unwrap()
}

fn measure(sid: u32, uid: u32, fields: &[u64]) -> Vec<u8> {
    Measure {
        sid,
        program_uid: uid,
        fields: fields.to_vec(),
    }
    .encode()
    .unwrap()
}

fn parse_all(out: &[(u32, Vec<u8>)]) -> Vec<(u32, Message)> {
    out.iter()
        .map(|(a, b)| (*a, Message::parse_with(b, &ParseOptions::STRICT).unwrap()))
        .collect()
}

fn new_log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn events(log: &Log) -> Vec<Ev> {
    std::mem::take(&mut *log.lock().unwrap())
}

#[test]
fn ready_installs_every_program_in_uid_order_then_hello() {
    let log = new_log();
    let mut a = agent(&log);
    // uids: default alg first, by program name (a=1, b=2), then extra's a=3.
    let names: Vec<_> = a
        .programs()
        .map(|p| (p.uid(), p.alg_name().to_owned(), p.name().to_owned()))
        .collect();
    assert_eq!(
        names,
        vec![
            (1, "dflt".into(), "a".into()),
            (2, "dflt".into(), "b".into()),
            (3, "extra".into(), "a".into())
        ]
    );
    a.handle(T0, &9, &ready());
    let out = parse_all(&a.take_transmits());
    assert_eq!(out.len(), 4);
    for (i, (to, m)) in out.iter().take(3).enumerate() {
        assert_eq!(*to, 9);
        match m {
            Message::Install(Install {
                program_uid, sid, ..
            }) => {
                assert_eq!((*program_uid, *sid), (i as u32 + 1, 0));
            }
            other => panic!("expected INSTALL, got {other:?}"),
        }
    }
    match &out[3].1 {
        Message::Hello(h) => {
            assert_eq!(h.role, Role::Agent);
            assert!(h.capabilities.contains(REPORT_CWND_RATE));
        }
        other => panic!("expected HELLO, got {other:?}"),
    }
    assert_eq!(a.stats().readies, 1);
    assert_eq!(a.stats().sent, 4);
}

#[test]
fn create_picks_algorithm_by_name_and_falls_back_to_default() {
    let log = new_log();
    let mut a = agent(&log);
    a.handle(T0, &1, &ready());
    a.take_transmits();
    a.handle(T0, &1, &create(1, Some("extra")));
    a.handle(T0, &1, &create(2, Some("nobody")));
    a.handle(T0, &1, &create(3, None));
    a.handle(T0, &1, &create(4, Some("dflt")));
    assert_eq!(
        events(&log),
        vec![
            Ev::Created {
                alg: "extra".into(),
                sid: 1,
                requested: Some("extra".into())
            },
            Ev::Created {
                alg: "dflt".into(),
                sid: 2,
                requested: Some("nobody".into())
            },
            Ev::Created {
                alg: "dflt".into(),
                sid: 3,
                requested: None
            },
            Ev::Created {
                alg: "dflt".into(),
                sid: 4,
                requested: Some("dflt".into())
            },
        ]
    );
    assert_eq!(a.stats().default_alg_fallbacks, 1);
    // Each flow's set_program("a") resolves in its own algorithm: extra's a is uid 3.
    let out = parse_all(&a.take_transmits());
    let uids: Vec<_> = out
        .iter()
        .map(|(_, m)| match m {
            Message::ChangeProg(c) => (c.sid, c.program_uid),
            other => panic!("expected CHANGE_PROG, got {other:?}"),
        })
        .collect();
    assert_eq!(uids, vec![(1, 3), (2, 1), (3, 1), (4, 1)]);
    // The preset value travels with the switch (ctl is control register 0).
    match &out[0].1 {
        Message::ChangeProg(ChangeProg { updates, .. }) => {
            assert_eq!(updates, &vec![UpdateField::control(0, 7)]);
        }
        _ => unreachable!(),
    }
}

#[test]
fn create_from_unknown_datapath_installs_first() {
    let log = new_log();
    let mut a = agent(&log);
    a.handle(T0, &5, &create(1, None));
    let out = parse_all(&a.take_transmits());
    let types: Vec<_> = out.iter().map(|(_, m)| m.msg_type()).collect();
    assert_eq!(
        types,
        vec![
            MsgType::Install,
            MsgType::Install,
            MsgType::Install,
            MsgType::Hello,
            MsgType::ChangeProg
        ]
    );
    // A second CREATE does not reinstall.
    a.handle(T0, &5, &create(2, None));
    let out = parse_all(&a.take_transmits());
    assert_eq!(out.len(), 1);
}

#[test]
fn report_is_decoded_by_name_and_answered() {
    let log = new_log();
    let mut a = agent(&log);
    a.handle(T0, &1, &ready());
    a.handle(T0, &1, &create(1, None));
    a.take_transmits();
    events(&log);
    a.handle(T0, &1, &measure(1, 1, &[1500, 7]));
    assert_eq!(
        events(&log),
        vec![Ev::Report {
            alg: "dflt".into(),
            sid: 1,
            acked: Some(1500),
            cwnd: None
        }]
    );
    let out = a.take_transmits();
    // Spec §2.10 test vector shape: UPDATE_FIELDS, sid 1, one record, implicit 4.
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].1,
        UpdateFields {
            sid: 1,
            updates: vec![UpdateField::cwnd(3000)]
        }
        .encode()
        .unwrap()
    );
    assert_eq!(a.stats().reports, 1);
}

#[test]
fn interleaved_datapaths_with_the_same_sid_keep_their_own_flows() {
    // The agent caches the last datapath it looked up; runs of messages from alternating
    // datapaths must still reach each datapath's own flow and be answered to it.
    let log = new_log();
    let mut a = agent(&log);
    for dp in [1u32, 2] {
        a.handle(T0, &dp, &ready());
        a.handle(T0, &dp, &create(1, None));
    }
    a.take_transmits();
    events(&log);
    for (dp, acked) in [(1u32, 100u64), (2, 300), (2, 301), (1, 101), (2, 302)] {
        a.handle(T0, &dp, &measure(1, 1, &[acked, 0]));
    }
    let out = parse_all(&a.take_transmits());
    let answers: Vec<(u32, u64)> = out
        .iter()
        .map(|(to, m)| match m {
            Message::UpdateFields(u) => (*to, u.updates[0].value),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        answers,
        vec![(1, 200), (2, 600), (2, 602), (1, 202), (2, 604)]
    );
    // A sid only datapath 1 has: unknown on datapath 2 right after a datapath-1 message.
    a.handle(T0, &1, &create(7, None));
    a.handle(T0, &2, &measure(7, 1, &[5, 0]));
    assert_eq!(a.stats().unknown_flow, 1);
    assert!(a.has_flow(&1, 7) && !a.has_flow(&2, 7));
    assert_eq!(a.num_datapaths(), 2);
    assert_eq!(a.num_flows(), 3);
}

#[test]
fn report_fields_by_short_and_full_name_and_errors() {
    struct Probe(Arc<Mutex<Vec<String>>>);
    struct ProbeFlow(Arc<Mutex<Vec<String>>>);
    impl CongAlg for Probe {
        type Flow = ProbeFlow;
        fn name(&self) -> &str {
            "probe"
        }
        fn datapath_programs(&self) -> Programs {
            [("a".to_string(), PROG_A.to_string())]
                .into_iter()
                .collect()
        }
        fn new_flow(&self, mut dp: Datapath, _: DatapathInfo) -> ProbeFlow {
            dp.set_program("a", None).unwrap();
            ProbeFlow(self.0.clone())
        }
    }
    impl Flow for ProbeFlow {
        fn on_report(&mut self, _: u32, r: Report<'_>) {
            let mut o = self.0.lock().unwrap();
            o.push(format!("{:?}", r.get_field("acked")));
            o.push(format!("{:?}", r.get_field("Report.seen")));
            o.push(format!("{:?}", r.get_field("ctl").is_err()));
            o.push(format!(
                "{:?}",
                r.cwnd().map_err(|e| e.to_string().contains("legacy"))
            ));
            o.push(format!("{:?}", r.fields()));
            o.push(format!("{:?}", r.to_owned_report().get("seen")));
        }
    }
    let out = Arc::new(Mutex::new(Vec::new()));
    let mut a: Agent<()> = AgentBuilder::new()
        .default_alg(Probe(out.clone()))
        .build()
        .unwrap();
    a.handle(T0, &(), &ready());
    a.handle(T0, &(), &create(1, None));
    a.handle(T0, &(), &measure(1, 1, &[10, 20]));
    assert_eq!(
        *out.lock().unwrap(),
        vec![
            "Ok(10)",
            "Ok(20)",
            "true",
            "Err(true)",
            "[10, 20]",
            "Some(20)"
        ]
    );
    // A report with fewer fields than declared: the missing one is an error.
    out.lock().unwrap().clear();
    a.handle(T0, &(), &measure(1, 1, &[10]));
    assert!(out.lock().unwrap()[1].contains("FieldMissing"));
}

#[test]
fn cwnd_and_rate_are_readable_when_the_datapath_appends_them() {
    let log = new_log();
    let mut a = agent(&log);
    a.handle(T0, &1, &ready());
    let mut h = Hello::new(Role::Datapath, "test-dp", ImplVersion::default());
    h.capabilities |= REPORT_CWND_RATE;
    a.handle(T0, &1, &h.encode().unwrap());
    assert!(
        a.negotiated(&1)
            .unwrap()
            .capabilities
            .contains(REPORT_CWND_RATE)
    );
    a.handle(T0, &1, &create(1, None));
    events(&log);
    // 2 report variables + Cwnd + Rate.
    a.handle(T0, &1, &measure(1, 1, &[5, 7, 14600, 99]));
    assert_eq!(
        events(&log),
        vec![Ev::Report {
            alg: "dflt".into(),
            sid: 1,
            acked: Some(5),
            cwnd: Some(14600)
        }]
    );
    // Our HELLO was already sent after READY; the datapath's HELLO does not repeat it.
    let types: Vec<_> = parse_all(&a.take_transmits())
        .into_iter()
        .map(|(_, m)| m.msg_type())
        .filter(|t| *t == MsgType::Hello)
        .collect();
    assert_eq!(types.len(), 1);
    // Without the capability (new READY resets negotiation) the extra fields are not
    // taken as Cwnd/Rate.
    a.handle(T0, &1, &ready());
    a.handle(T0, &1, &create(1, None));
    events(&log);
    a.handle(T0, &1, &measure(1, 1, &[5, 7, 14600, 99]));
    assert_eq!(
        events(&log),
        vec![Ev::Report {
            alg: "dflt".into(),
            sid: 1,
            acked: Some(5),
            cwnd: None
        }]
    );
}

#[test]
fn stale_reports_are_dropped_and_counted() {
    let log = new_log();
    let mut a = agent(&log);
    a.handle(T0, &1, &ready());
    a.handle(T0, &1, &create(1, None));
    events(&log);
    a.handle(T0, &1, &measure(1, 2, &[1]));
    a.handle(T0, &1, &measure(1, 99, &[1]));
    assert!(events(&log).is_empty());
    assert_eq!(a.stats().stale_reports, 2);
    assert_eq!(a.stats().reports, 0);
}

#[test]
fn close_measure_closes_the_flow_once() {
    let log = new_log();
    let mut a = agent(&log);
    a.handle(T0, &1, &ready());
    a.handle(T0, &1, &create(1, None));
    events(&log);
    a.handle(T0, &1, &Measure::close(1).encode().unwrap());
    assert_eq!(
        events(&log),
        vec![Ev::Closed {
            alg: "dflt".into(),
            sid: 1
        }]
    );
    assert!(!a.has_flow(&1, 1));
    a.handle(T0, &1, &Measure::close(1).encode().unwrap());
    a.handle(T0, &1, &measure(1, 1, &[1, 2]));
    assert!(events(&log).is_empty());
    assert_eq!(a.stats().closes, 1);
    assert_eq!(a.stats().unknown_flow, 2);
}

#[test]
fn ready_closes_flows_and_reinstalls_and_detaches_handles() {
    let log = new_log();
    let kept: Arc<Mutex<Option<Datapath>>> = Arc::default();
    struct Keep(Arc<Mutex<Option<Datapath>>>, Log);
    impl CongAlg for Keep {
        type Flow = TestFlow;
        fn name(&self) -> &str {
            "keep"
        }
        fn datapath_programs(&self) -> Programs {
            [("a".to_string(), PROG_A.to_string())]
                .into_iter()
                .collect()
        }
        fn new_flow(&self, mut dp: Datapath, _: DatapathInfo) -> TestFlow {
            dp.set_program("a", None).unwrap();
            *self.0.lock().unwrap() = Some(dp.clone());
            TestFlow {
                alg: "keep".into(),
                dp,
                log: self.1.clone(),
            }
        }
    }
    let mut a: Agent<u32> = AgentBuilder::new()
        .default_alg(Keep(kept.clone(), log.clone()))
        .build()
        .unwrap();
    a.handle(T0, &1, &ready());
    a.handle(T0, &1, &create(1, None));
    a.handle(T0, &1, &create(2, None));
    a.handle(T0, &2, &create(1, None));
    a.take_transmits();
    assert_eq!(a.num_flows(), 3);
    assert_eq!(a.num_datapaths(), 2);
    let dp = kept.lock().unwrap().clone().unwrap();
    assert!(dp.is_attached());
    a.handle(T0, &2, &ready());
    let mut closed = events(&log);
    closed.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        closed,
        vec![Ev::Closed {
            alg: "keep".into(),
            sid: 1
        }]
    );
    assert_eq!(a.num_flows(), 2, "datapath 1's flows are untouched");
    assert!(!dp.is_attached());
    assert_eq!(
        dp.update_field("Cwnd", 1),
        Err(UpdateError::Detached { sid: 1 })
    );
    let out = parse_all(&a.take_transmits());
    assert!(out.iter().all(|(to, _)| *to == 2));
    assert_eq!(out.len(), 2, "INSTALL + HELLO");
    assert_eq!(a.stats().reset_flows, 1);
}

#[test]
fn create_for_live_sid_replaces_the_flow() {
    let log = new_log();
    let mut a = agent(&log);
    a.handle(T0, &1, &ready());
    a.handle(T0, &1, &create(1, None));
    a.handle(T0, &1, &create(1, Some("extra")));
    assert_eq!(
        events(&log),
        vec![
            Ev::Created {
                alg: "dflt".into(),
                sid: 1,
                requested: None
            },
            Ev::Closed {
                alg: "dflt".into(),
                sid: 1
            },
            Ev::Created {
                alg: "extra".into(),
                sid: 1,
                requested: Some("extra".into())
            },
        ]
    );
    assert_eq!(a.stats().replaced_flows, 1);
    assert_eq!(a.num_flows(), 1);
}

#[test]
fn measure_before_anything_is_unknown_flow() {
    let log = new_log();
    let mut a = agent(&log);
    a.handle(T0, &1, &measure(1, 1, &[1]));
    a.handle(T0, &1, &Measure::close(3).encode().unwrap());
    assert_eq!(a.stats().unknown_flow, 2);
    assert!(a.take_transmits().is_empty());
}

#[test]
fn datapath_bound_and_unknown_messages_are_dropped_and_counted() {
    let log = new_log();
    let mut a = agent(&log);
    a.handle(T0, &1, &ready());
    a.take_transmits();
    let install = Install {
        sid: 0,
        program_uid: 1,
        bin: ccp_lang::compile(PROG_B, 1).unwrap().bin,
    }
    .encode()
    .unwrap();
    a.handle(T0, &1, &install);
    a.handle(
        T0,
        &1,
        &UpdateFields {
            sid: 1,
            updates: vec![UpdateField::cwnd(1)],
        }
        .encode()
        .unwrap(),
    );
    a.handle(
        T0,
        &1,
        &ChangeProg {
            sid: 1,
            program_uid: 1,
            updates: vec![],
        }
        .encode()
        .unwrap(),
    );
    // A HELLO claiming to be an agent.
    a.handle(
        T0,
        &1,
        &Hello::new(Role::Agent, "x", ImplVersion::default())
            .encode()
            .unwrap(),
    );
    assert_eq!(a.stats().unexpected, 4);
    a.handle(T0, &1, &[0x99, 0, 8, 0, 0, 0, 0, 0]);
    a.handle(T0, &1, &[6, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(a.stats().unknown_type, 2);
    assert!(a.take_transmits().is_empty());
    assert!(events(&log).is_empty());
}

#[test]
fn malformed_messages_are_dropped_and_counted() {
    let log = new_log();
    let mut a = agent(&log);
    a.handle(T0, &1, &ready());
    a.handle(T0, &1, &create(1, None));
    a.take_transmits();
    events(&log);
    let good = measure(1, 1, &[1, 2]);
    let mut cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![1, 0, 24],
        // MEASURE with a partial last field (len covers 3 of 8 bytes).
        {
            let mut m = good[..good.len() - 5].to_vec();
            m[2] = m.len() as u8;
            m
        },
        // Truncated: len claims more than received.
        good[..20].to_vec(),
        // len below the header size.
        vec![1, 0, 4, 0, 1, 0, 0, 0],
        // MEASURE claiming 200 fields.
        {
            let mut m = good.clone();
            m[12] = 200;
            m
        },
    ];
    // CREATE with an invalid UTF-8 name.
    let mut c = create(2, Some("ab"));
    c[32] = 0xff;
    cases.push(c);
    // CREATE with an unterminated name.
    let mut c = create(3, None);
    for b in &mut c[32..96] {
        *b = b'x';
    }
    cases.push(c);
    // Oversized: a 65535-byte MEASURE (more than libccp's 110 fields).
    let mut big = vec![0u8; 65_535];
    big[0] = 1;
    big[2] = 0xff;
    big[3] = 0xff;
    cases.push(big);
    let n = cases.len() as u64;
    for c in &cases {
        a.handle(T0, &1, c);
    }
    assert_eq!(a.stats().malformed, n - 1, "{:?}", a.stats());
    // The empty datagram carries no message at all.
    assert_eq!(a.stats().datagrams, 2 + n);
    assert!(events(&log).is_empty());
    assert!(a.take_transmits().is_empty());
    assert_eq!(a.num_flows(), 1);
    // Still fully functional.
    a.handle(T0, &1, &good);
    assert_eq!(a.stats().reports, 1);
}

#[test]
fn concatenated_messages_in_one_datagram_are_all_handled() {
    let log = new_log();
    let mut a = agent(&log);
    let mut buf = ready();
    buf.extend(create(1, None));
    buf.extend(measure(1, 1, &[3, 0]));
    buf.extend(Measure::close(1).encode().unwrap());
    a.handle(T0, &1, &buf);
    assert_eq!(
        events(&log),
        vec![
            Ev::Created {
                alg: "dflt".into(),
                sid: 1,
                requested: None
            },
            Ev::Report {
                alg: "dflt".into(),
                sid: 1,
                acked: Some(3),
                cwnd: None
            },
            Ev::Closed {
                alg: "dflt".into(),
                sid: 1
            },
        ]
    );
    assert_eq!(a.stats().messages, 4);
}

#[test]
fn hello_from_unknown_datapath_still_gets_installs_on_create() {
    let log = new_log();
    let mut a = agent(&log);
    a.handle(
        T0,
        &1,
        &Hello::new(Role::Datapath, "dp", ImplVersion::default())
            .encode()
            .unwrap(),
    );
    let out = parse_all(&a.take_transmits());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.msg_type(), MsgType::Hello);
    a.handle(T0, &1, &create(1, None));
    let types: Vec<_> = parse_all(&a.take_transmits())
        .into_iter()
        .map(|(_, m)| m.msg_type())
        .collect();
    assert_eq!(
        types,
        vec![
            MsgType::Install,
            MsgType::Install,
            MsgType::Install,
            MsgType::ChangeProg
        ]
    );
    let n = a.negotiated(&1).unwrap();
    assert!(!n.legacy);
    assert!(n.capabilities.contains(Capabilities::HANDSHAKE));
}

#[test]
fn datapath_handle_errors_send_nothing() {
    struct Bad(Arc<Mutex<Vec<String>>>);
    struct Nop;
    impl Flow for Nop {
        fn on_report(&mut self, _: u32, _: Report<'_>) {}
    }
    impl CongAlg for Bad {
        type Flow = Nop;
        fn name(&self) -> &str {
            "bad"
        }
        fn datapath_programs(&self) -> Programs {
            [("a".to_string(), PROG_A.to_string())]
                .into_iter()
                .collect()
        }
        fn new_flow(&self, mut dp: Datapath, _: DatapathInfo) -> Nop {
            let mut o = self.0.lock().unwrap();
            o.push(format!("{:?}", dp.update_field("ctl", 1)));
            o.push(format!("{:?}", dp.set_program("zzz", None)));
            o.push(format!(
                "{:?}",
                dp.set_program("a", Some(&[("Report.acked", 1)])).is_err()
            ));
            o.push(format!(
                "{:?}",
                dp.set_program("a", Some(&[("nope", 1)])).is_err()
            ));
            let many: Vec<(&str, u64)> = (0..128).map(|_| ("Cwnd", 1)).collect();
            o.push(format!("{:?}", dp.update_fields(&many).is_err()));
            o.push(format!("{:?}", dp.program().is_none()));
            // Cwnd and Rate work without a program.
            o.push(format!(
                "{:?}",
                dp.update_fields(&[("Cwnd", 5), ("Rate", 6)])
            ));
            o.push(format!("{:?}", dp.set_program("a", None)));
            o.push(format!("{:?}", dp.update_field("__eventFlag", 1).is_err()));
            o.push(format!("{:?}", dp.update_field("Micros", 1).is_err()));
            o.push(format!("{:?}", dp.update_field("ctl", 9)));
            o.push(format!("{:?}", dp.program().map(|p| p.name().to_owned())));
            Nop
        }
    }
    let out = Arc::new(Mutex::new(Vec::new()));
    let mut a: Agent<()> = AgentBuilder::new()
        .default_alg(Bad(out.clone()))
        .build()
        .unwrap();
    a.handle(T0, &(), &create(1, None));
    assert_eq!(
        *out.lock().unwrap(),
        vec![
            "Err(NoProgram(\"ctl\"))",
            "Err(UnknownProgram { name: \"zzz\", alg: \"bad\" })",
            "true",
            "true",
            "true",
            "true",
            "Ok(())",
            "Ok(())",
            "true",
            "true",
            "Ok(())",
            "Some(\"a\")",
        ]
    );
    let msgs: Vec<_> = parse_all(
        &a.take_transmits()
            .into_iter()
            .map(|(_, b)| (0, b))
            .collect::<Vec<_>>(),
    )
    .into_iter()
    .map(|(_, m)| m)
    .filter(|m| !matches!(m, Message::Install(_) | Message::Hello(_)))
    .collect();
    assert_eq!(
        msgs,
        vec![
            Message::UpdateFields(UpdateFields {
                sid: 1,
                updates: vec![UpdateField::cwnd(5), UpdateField::rate(6)]
            }),
            Message::ChangeProg(ChangeProg {
                sid: 1,
                program_uid: 1,
                updates: vec![]
            }),
            Message::UpdateFields(UpdateFields {
                sid: 1,
                updates: vec![UpdateField::control(0, 9)]
            }),
        ]
    );
}

#[test]
fn start_up_errors() {
    let log = new_log();
    let e = AgentBuilder::new().build::<()>().unwrap_err();
    assert!(matches!(e, StartError::NoDefaultAlg));
    let e = AgentBuilder::new()
        .default_alg(alg(
            "x",
            vec![(
                "broken",
                "(def (Report (a 0)))\n(when true (:= Report.a (+ 1 )))",
            )],
            &log,
        ))
        .build::<()>()
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("program `broken` failed to compile"),
        "{text}"
    );
    assert!(text.contains("2:"), "LINE:COL: in {text}");
}

#[test]
fn close_all_closes_every_flow() {
    let log = new_log();
    let mut a = agent(&log);
    a.handle(T0, &1, &create(1, None));
    a.handle(T0, &2, &create(1, None));
    events(&log);
    a.close_all();
    assert_eq!(events(&log).len(), 2);
    assert_eq!(a.num_flows(), 0);
}

fn mutate(rng: &mut ChaCha8Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut m = seeds[rng.random_range(0..seeds.len())].clone();
    match rng.random_range(0..6) {
        0 => {
            let n = rng.random_range(0..64);
            (0..n).map(|_| rng.random()).collect()
        }
        1 => {
            let cut = rng.random_range(0..=m.len());
            m.truncate(cut);
            m
        }
        2 => {
            for _ in 0..rng.random_range(1..4) {
                if !m.is_empty() {
                    let i = rng.random_range(0..m.len());
                    m[i] = rng.random();
                }
            }
            m
        }
        3 => {
            // Corrupt a header field (type, len or sid).
            if m.len() >= 8 {
                let i = rng.random_range(0..8);
                m[i] = rng.random();
            }
            m
        }
        4 => {
            let extra = rng.random_range(1..40);
            m.extend((0..extra).map(|_| rng.random::<u8>()));
            m
        }
        _ => m,
    }
}

fn fuzz(n: u64, seed: u64) -> Stats {
    let log = new_log();
    let mut a = agent(&log);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let seeds = vec![
        ready(),
        create(1, Some("extra")),
        create(2, None),
        measure(1, 3, &[1, 2]),
        measure(2, 1, &[5, 6]),
        Measure::close(1).encode().unwrap(),
        Hello::new(Role::Datapath, "dp", ImplVersion::default())
            .encode()
            .unwrap(),
        UpdateFields {
            sid: 1,
            updates: vec![UpdateField::cwnd(1)],
        }
        .encode()
        .unwrap(),
    ];
    for i in 0..n {
        let m = mutate(&mut rng, &seeds);
        a.handle(Duration::from_micros(i), &rng.random_range(0..3), &m);
        a.drain(|_, b| assert!(b.len() >= 8));
        if i % 1024 == 0 {
            events(&log);
        }
    }
    let s = a.stats().clone();
    assert_eq!(s.datagrams, n);
    // Every parsed message was either acted on or dropped for a reason.
    assert!(s.messages + s.malformed + s.unexpected + s.unknown_type >= n / 2);
    s
}

#[test]
fn random_and_mutated_input_never_panics() {
    let s = fuzz(20_000, 1);
    assert!(s.malformed > 0 && s.reports > 0 && s.creates > 0, "{s:?}");
}

#[test]
#[ignore = "stress: run with --ignored"]
fn stress_one_million_random_messages() {
    let t = std::time::Instant::now();
    let s = fuzz(1_000_000, 7);
    eprintln!("1,000,000 messages in {:?}: {s:?}", t.elapsed());
    assert!(s.malformed > 0 && s.reports > 0);
}

mod run_loop {
    use std::os::unix::net::UnixDatagram;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use ccp_ipc::Mode;
    use ccp_ipc::unix::UnixSocket;
    use ccp_wire::{Measure, Message, MsgType, ParseOptions};

    use super::{PROG_A, create, measure, new_log, ready};
    use crate::*;

    struct Echo;
    struct EchoFlow(Datapath);
    impl CongAlg for Echo {
        type Flow = EchoFlow;
        fn name(&self) -> &str {
            "echo"
        }
        fn datapath_programs(&self) -> Programs {
            [("a".to_string(), PROG_A.to_string())]
                .into_iter()
                .collect()
        }
        fn new_flow(&self, mut dp: Datapath, _: DatapathInfo) -> EchoFlow {
            dp.set_program("a", None).unwrap();
            EchoFlow(dp)
        }
    }
    impl Flow for EchoFlow {
        fn on_report(&mut self, _: u32, r: Report<'_>) {
            self.0
                .update_field("Cwnd", r.get_field("acked").unwrap())
                .unwrap();
        }
    }

    fn recv_type(sock: &UnixDatagram) -> Message {
        let mut buf = [0u8; 4096];
        let n = sock
            .recv(&mut buf)
            .expect("agent answers within the timeout");
        Message::parse_with(&buf[..n], &ParseOptions::STRICT).unwrap()
    }

    #[test]
    fn unix_run_loop_batches_and_answers_every_report() {
        unix_run_loop(Duration::ZERO);
    }

    #[test]
    fn unix_run_loop_with_spin_answers_every_report() {
        unix_run_loop(UnixTransport::DEFAULT_SPIN);
    }

    #[test]
    fn unix_run_loop_spinning_forever_answers_and_still_stops() {
        // Busy-poll mode: never sleeps while traffic flows, must not overflow the deadline
        // arithmetic, and must still see its stop flag.
        unix_run_loop(UnixTransport::SPIN_FOREVER);
    }

    #[test]
    fn spin_settings_parse() {
        assert_eq!(
            UnixTransport::parse_spin("50"),
            Some(Duration::from_micros(50))
        );
        assert_eq!(
            UnixTransport::parse_spin(" Forever "),
            Some(UnixTransport::SPIN_FOREVER)
        );
        assert_eq!(UnixTransport::parse_spin("0"), Some(Duration::ZERO));
        assert_eq!(UnixTransport::parse_spin("-1"), None);
        assert_eq!(UnixTransport::parse_spin("50us"), None);
    }

    #[test]
    fn idle_spins_are_misses_and_a_window_of_them_pauses_spinning() {
        let dir = tempfile::tempdir().unwrap();
        let apath = dir.path().join("agent");
        let sock = UnixSocket::bind(&apath, Mode::Nonblocking).unwrap();
        let mut t = UnixTransport::new(sock, UnixTransport::DEFAULT_SPIN);
        t.set_poll_interval(Duration::from_millis(1));
        let dp = UnixDatagram::bind(dir.path().join("dp")).unwrap();
        let mut seen = 0;
        let mut on = |_: &PathBuf, _: &[u8]| seen += 1;
        // No datagram yet: nothing to spin after.
        assert_eq!(t.recv_batch(&mut on).unwrap(), 0);
        assert_eq!(t.spin_counts(), (0, 0, 0));
        // Sparse traffic: after each datagram the socket stays idle, so the spin runs out
        // (a miss) and the thread sleeps a poll interval; the next datagram comes after the
        // budget and is not a spin at all.
        for round in 1..=32u64 {
            dp.send_to(b"x", &apath).unwrap();
            assert_eq!(t.recv_batch(&mut on).unwrap(), 1);
            assert_eq!(t.recv_batch(&mut on).unwrap(), 0);
            assert_eq!(t.spin_counts().1, round, "one miss per idle gap");
        }
        assert_eq!(seen, 32);
        assert_eq!(
            t.spin_counts(),
            (0, 32, 1),
            "a window of misses pauses spinning"
        );
    }

    fn unix_run_loop(spin: Duration) {
        let _ = new_log();
        let dir = tempfile::tempdir().unwrap();
        let agent_path = dir.path().join("agent");
        let sock = UnixSocket::bind(&agent_path, Mode::Nonblocking).unwrap();
        let mut transport = UnixTransport::new(sock, spin);
        transport.set_poll_interval(Duration::from_millis(5));
        let handle = RunBuilder::new(transport)
            .default_alg(Echo)
            .spawn_thread()
            .unwrap();
        let dp = UnixDatagram::bind(dir.path().join("dp")).unwrap();
        dp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        dp.send_to(&ready(), &agent_path).unwrap();
        assert_eq!(recv_type(&dp).msg_type(), MsgType::Install);
        assert_eq!(recv_type(&dp).msg_type(), MsgType::Hello);
        dp.send_to(&create(1, None), &agent_path).unwrap();
        assert_eq!(recv_type(&dp).msg_type(), MsgType::ChangeProg);
        // More reports than one recvmmsg batch, sent back to back (at most 8 unanswered:
        // the kernel queues only ~10 datagrams per unix socket).
        let n = 3 * UnixTransport::BATCH as u64 + 5;
        let mut answered = Vec::new();
        let mut sent = 0;
        while (answered.len() as u64) < n {
            while sent < n && sent - answered.len() as u64 <= 8 {
                sent += 1;
                dp.send_to(&measure(1, 1, &[sent, 0]), &agent_path).unwrap();
            }
            match recv_type(&dp) {
                Message::UpdateFields(u) => answered.push(u.updates[0].value),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(answered, (1..=n).collect::<Vec<_>>(), "in order, none lost");
        // An unnamed sender cannot be answered: dropped, the loop goes on.
        let anon = UnixDatagram::unbound().unwrap();
        anon.send_to(&ready(), &agent_path).unwrap();
        dp.send_to(&Measure::close(1).encode_close(), &agent_path)
            .unwrap();
        // A round trip proves the loop is still alive after both.
        dp.send_to(&create(2, None), &agent_path).unwrap();
        assert_eq!(recv_type(&dp).msg_type(), MsgType::ChangeProg);
        handle.kill();
        let summary = handle.wait().unwrap();
        assert_eq!(summary.stats.reports, n);
        assert_eq!(summary.stats.closes, 1);
        assert_eq!(summary.stats.readies, 1);
        assert_eq!(summary.send_errors, 0);
        assert!(!agent_path.exists(), "socket file removed");
    }

    #[test]
    fn unix_run_loop_answers_alternating_datapaths_at_their_own_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let agent_path = dir.path().join("agent");
        let sock = UnixSocket::bind(&agent_path, Mode::Nonblocking).unwrap();
        let mut transport = UnixTransport::new(sock, Duration::ZERO);
        transport.set_poll_interval(Duration::from_millis(5));
        let handle = RunBuilder::new(transport)
            .default_alg(Echo)
            .spawn_thread()
            .unwrap();
        let dps: Vec<UnixDatagram> = (0..2)
            .map(|i| {
                let d = UnixDatagram::bind(dir.path().join(format!("dp{i}"))).unwrap();
                d.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                d
            })
            .collect();
        for d in &dps {
            d.send_to(&ready(), &agent_path).unwrap();
            assert_eq!(recv_type(d).msg_type(), MsgType::Install);
            assert_eq!(recv_type(d).msg_type(), MsgType::Hello);
            d.send_to(&create(1, None), &agent_path).unwrap();
            assert_eq!(recv_type(d).msg_type(), MsgType::ChangeProg);
        }
        // Both datapaths send before either reads, so one receive round holds datagrams
        // from both and the replies alternate between the two destinations.
        for round in 0..20u64 {
            for (i, d) in dps.iter().enumerate() {
                d.send_to(&measure(1, 1, &[1000 * i as u64 + round, 0]), &agent_path)
                    .unwrap();
            }
            for (i, d) in dps.iter().enumerate() {
                match recv_type(d) {
                    Message::UpdateFields(u) => {
                        assert_eq!(u.updates[0].value, 1000 * i as u64 + round)
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        handle.kill();
        let summary = handle.wait().unwrap();
        assert_eq!(summary.stats.reports, 40);
        assert_eq!(summary.send_errors, 0);
    }

    #[test]
    fn unreachable_datapath_counts_send_errors() {
        let dir = tempfile::tempdir().unwrap();
        let agent_path = dir.path().join("agent");
        let sock = UnixSocket::bind(&agent_path, Mode::Nonblocking).unwrap();
        let mut transport = UnixTransport::new(sock, Duration::from_micros(20));
        transport.set_poll_interval(Duration::from_millis(5));
        let handle = RunBuilder::new(transport)
            .default_alg(Echo)
            .spawn_thread()
            .unwrap();
        // A datapath that sends READY and vanishes at once.
        let gone = dir.path().join("gone");
        {
            let dp = UnixDatagram::bind(&gone).unwrap();
            dp.send_to(&ready(), &agent_path).unwrap();
        }
        std::fs::remove_file(&gone).unwrap();
        // A live datapath: its answer means the READY before it was handled.
        let dp = UnixDatagram::bind(dir.path().join("dp")).unwrap();
        dp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        dp.send_to(&ready(), &agent_path).unwrap();
        assert_eq!(recv_type(&dp).msg_type(), MsgType::Install);
        handle.kill();
        let summary = handle.wait().unwrap();
        assert_eq!(
            summary.send_errors, 2,
            "INSTALL and HELLO to the vanished datapath"
        );
        assert_eq!(summary.stats.readies, 2);
    }

    #[test]
    fn a_datapath_that_stops_reading_costs_one_timeout_then_is_skipped() {
        stuck_datapath(0);
    }

    #[test]
    fn a_datapath_that_stops_reading_costs_one_timeout_then_is_skipped_with_a_reply_socket() {
        stuck_datapath(1);
    }

    fn stuck_datapath(replies: usize) {
        let dir = tempfile::tempdir().unwrap();
        let sock = UnixSocket::bind_with_reply_sockets(
            dir.path().join("agent"),
            Mode::Nonblocking,
            replies,
        )
        .unwrap();
        let mut t = UnixTransport::new(sock, Duration::ZERO);
        let stuck_path = dir.path().join("stuck");
        let stuck = UnixDatagram::bind(&stuck_path).unwrap();
        // The kernel queues max_dgram_qlen + 1 datagrams per unix socket.
        let queue = std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map_or(11, |q| q + 1);
        let n = queue + 9;
        for i in 0..n {
            t.send(&stuck_path, &ready_with_id(i as u32)).unwrap();
        }
        assert!(!t.is_stuck(&stuck_path));
        assert_eq!(
            t.flush(),
            n - queue,
            "queued what fits, then failed once per message"
        );
        assert!(t.is_stuck(&stuck_path));
        // While stuck, sends do not wait.
        for i in 0..5 {
            t.send(&stuck_path, &ready_with_id(i)).unwrap();
        }
        assert_eq!(t.flush(), 5);
        // The datapath reads again: the next send goes through and it is unstuck.
        stuck.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        let mut read = 0;
        while stuck.recv(&mut buf).is_ok() {
            read += 1;
        }
        assert_eq!(read, queue, "the first messages arrived, in full");
        t.send(&stuck_path, &ready_with_id(99)).unwrap();
        assert_eq!(t.flush(), 0);
        assert!(!t.is_stuck(&stuck_path));
        assert_eq!(stuck.recv(&mut buf).unwrap(), 12);
        assert_eq!(&buf[8..12], &99u32.to_le_bytes());
    }

    /// Receive one datagram (10 s bound): its id (READY body) and its sender.
    fn recv_id(dp: &UnixDatagram) -> (u32, PathBuf) {
        let mut buf = [0u8; 64];
        let (n, from) = dp.recv_from(&mut buf).expect("a message arrives");
        assert_eq!(n, 12);
        let id = u32::from_le_bytes(buf[8..12].try_into().unwrap());
        (id, from.as_pathname().expect("named sender").to_path_buf())
    }

    fn bound_dp(path: &Path) -> UnixDatagram {
        let d = UnixDatagram::bind(path).unwrap();
        d.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        d
    }

    #[test]
    fn reply_sockets_answer_under_the_agent_address_and_lose_nothing_on_restart_or_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let apath = dir.path().join("agent");
        let sock = UnixSocket::bind_with_reply_sockets(&apath, Mode::Nonblocking, 2).unwrap();
        let mut t = UnixTransport::new(sock, Duration::ZERO);
        let p1 = dir.path().join("dp1");
        let dp1 = bound_dp(&p1);
        // A batch to one datapath goes through its reply socket, in order, from the
        // agent's address (8: the kernel queues ~11 datagrams per unix socket).
        for i in 0..8 {
            t.send(&p1, &ready_with_id(i)).unwrap();
        }
        assert_eq!(t.flush(), 0);
        for i in 0..8 {
            assert_eq!(recv_id(&dp1), (i, apath.clone()));
        }
        assert_eq!(t.send_counts(), (8, 0));

        // The datapath restarts at the same path: the reply socket's peer is gone; the
        // message still reaches the new socket (sendto), and the next one is direct again.
        drop(dp1);
        std::fs::remove_file(&p1).unwrap();
        let dp1 = bound_dp(&p1);
        t.send(&p1, &ready_with_id(100)).unwrap();
        assert_eq!(t.flush(), 0);
        assert_eq!(recv_id(&dp1), (100, apath.clone()));
        assert_eq!(t.send_counts(), (8, 1));
        t.send(&p1, &ready_with_id(101)).unwrap();
        assert_eq!(t.flush(), 0);
        assert_eq!(recv_id(&dp1), (101, apath.clone()));
        assert_eq!(t.send_counts(), (9, 1));

        // A datapath whose socket is connected to the agent's path accepts only the bound
        // socket: answered with sendto, every time.
        let p2 = dir.path().join("dp2");
        let dp2 = bound_dp(&p2);
        dp2.connect(&apath).unwrap();
        for i in 0..3 {
            t.send(&p2, &ready_with_id(200 + i)).unwrap();
            assert_eq!(t.flush(), 0);
            assert_eq!(recv_id(&dp2), (200 + i, apath.clone()));
        }
        assert_eq!(t.send_counts(), (9, 4));

        // More datapaths than reply sockets: interleaved messages, all delivered in order
        // per datapath (dp3 takes the second reply socket, dp4 gets sendto).
        let p3 = dir.path().join("dp3");
        let p4 = dir.path().join("dp4");
        let (dp3, dp4) = (bound_dp(&p3), bound_dp(&p4));
        for i in 0..6 {
            for p in [&p1, &p3, &p4] {
                t.send(p, &ready_with_id(300 + i)).unwrap();
            }
        }
        assert_eq!(t.flush(), 0);
        for i in 0..6 {
            for d in [&dp1, &dp3, &dp4] {
                assert_eq!(recv_id(d), (300 + i, apath.clone()));
            }
        }
        assert_eq!(t.send_counts(), (9 + 12, 4 + 6));
    }

    #[test]
    fn datagrams_sent_to_the_agent_path_while_a_reply_socket_held_it_are_handled() {
        let dir = tempfile::tempdir().unwrap();
        let apath = dir.path().join("agent");
        // Two datapaths act in the start-up window: one sends READY, one connects its
        // socket to the path (so all its later datagrams go to that reply socket).
        let early = bound_dp(&dir.path().join("early"));
        let conn = bound_dp(&dir.path().join("conn"));
        let mut k = 0;
        let sock =
            UnixSocket::bind_with_reply_sockets_observed(&apath, Mode::Nonblocking, 2, &mut |p| {
                if k == 0 {
                    early.send_to(&ready_with_id(7), p).unwrap();
                } else {
                    conn.connect(p).unwrap();
                }
                k += 1;
            })
            .unwrap();
        let mut t = UnixTransport::new(sock, UnixTransport::NO_SPIN);
        t.set_poll_interval(Duration::from_millis(1));
        let mut got: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        let mut on = |p: &PathBuf, b: &[u8]| got.push((p.clone(), b.to_vec()));
        conn.send(&ready_with_id(8)).unwrap();
        // Bounded: an idle round reads the reply sockets.
        for _ in 0..100 {
            t.recv_batch(&mut on).unwrap();
        }
        got.sort();
        assert_eq!(
            got,
            vec![
                (dir.path().join("conn"), ready_with_id(8)),
                (dir.path().join("early"), ready_with_id(7)),
            ]
        );
    }

    fn ready_with_id(id: u32) -> Vec<u8> {
        ccp_wire::Ready { id }.to_bytes().to_vec()
    }

    trait CloseBytes {
        fn encode_close(&self) -> Vec<u8>;
    }
    impl CloseBytes for Measure {
        fn encode_close(&self) -> Vec<u8> {
            ccp_wire::Encode::encode(self).unwrap()
        }
    }

    #[test]
    fn chan_transport_closed_by_peer_ends_the_loop_with_an_error() {
        let (agent_end, dp_end) = ccp_ipc::chan::pair(Mode::Blocking(Duration::from_millis(5)));
        let handle = RunBuilder::new(agent_end)
            .default_alg(Echo)
            .spawn_thread()
            .unwrap();
        drop(dp_end);
        assert!(matches!(handle.wait(), Err(RunError::Transport(_))));
    }
}
