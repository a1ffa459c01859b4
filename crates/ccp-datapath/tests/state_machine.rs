//! The datapath's state machine on a mock transport and virtual time: CREATE retry,
//! fallback timer and entry, probing with backoff, agent return (re-announce, handback),
//! a new agent (INSTALL uid 1), the HELLO handshake with `Cwnd`/`Rate` appended to
//! reports, sid allocation and connection limits.

mod common;

use ccp_datapath::{
    Config, Datapath, DatapathInfo, FallbackAlg, Handled, InvokeError, Invoked, Primitives,
    StartError,
};
use ccp_lang::compile;
use ccp_wire::{
    Capabilities, ChangeProg, Encode, Hello, ImplVersion, Install, Measure, Message, MsgType,
    ParseOptions, Role, UpdateField, UpdateFields,
};
use common::{Cb, Mock};

const FTO: u64 = 100_000;

fn cfg() -> Config {
    let mut c = Config::new(1);
    c.fallback_timeout_us = FTO;
    c.probe_interval_us = 10_000;
    c.max_probe_interval_us = 40_000;
    c
}

fn info() -> DatapathInfo {
    DatapathInfo {
        init_cwnd: 14_600,
        mss: 1460,
        ..DatapathInfo::default()
    }
}

/// INSTALL of a program that reports Ack.bytes_acked on every ACK.
fn install(uid: u32) -> Vec<u8> {
    let p = compile(
        "(def (Report (volatile acked 0))) (when true (:= Report.acked Ack.bytes_acked) (report))",
        uid,
    )
    .expect("compiles");
    Install {
        sid: 0,
        program_uid: uid,
        bin: p.bin,
    }
    .encode()
    .unwrap()
}

fn change_prog(sid: u32, uid: u32) -> Vec<u8> {
    ChangeProg {
        sid,
        program_uid: uid,
        updates: vec![],
    }
    .encode()
    .unwrap()
}

fn prims(cwnd: u32) -> Primitives {
    Primitives {
        bytes_acked: 1460,
        packets_acked: 1,
        rtt_sample_us: 10_000,
        bytes_in_flight: cwnd,
        snd_cwnd: cwnd,
        ..Primitives::default()
    }
}

fn types(sent: &[Vec<u8>]) -> Vec<MsgType> {
    sent.iter()
        .map(|m| Message::parse(m).expect("valid message").msg_type())
        .collect()
}

fn at(dp: &mut Datapath<Mock>, t: u64) {
    dp.callbacks_mut().now_us = t;
}

/// A datapath with one steered flow (uid 1 active).
fn steered() -> Datapath<Mock> {
    let mut dp = Datapath::init(cfg(), Mock::default()).unwrap();
    assert_eq!(dp.connection_start(info(), Some("reno"), ()), Ok(1));
    dp.read_msg(&install(1)).unwrap();
    dp.read_msg(&change_prog(1, 1)).unwrap();
    assert_eq!(
        dp.invoke(1, &prims(14_600)),
        Ok(Invoked::Ran { reported: true })
    );
    dp.callbacks_mut().take_sent();
    dp
}

#[test]
fn create_is_retried_at_most_every_100ms() {
    let m = Mock {
        fail_sends: true,
        ..Mock::default()
    };
    let mut c = cfg();
    c.fallback_timeout_us = 1_000_000;
    let mut dp = Datapath::init(c, m).unwrap();
    assert_eq!(dp.connection_start(info(), None, ()), Ok(1));
    assert_eq!(dp.stats().send_failures, 2 + 1); // READY, HELLO, CREATE
    dp.callbacks_mut().fail_sends = false;
    at(&mut dp, 50_000);
    assert_eq!(dp.invoke(1, &prims(14_600)), Ok(Invoked::CreatePending));
    assert!(
        dp.callbacks().sent.is_empty(),
        "retry suppressed within 100 ms"
    );
    at(&mut dp, 100_000);
    assert_eq!(dp.invoke(1, &prims(14_600)), Ok(Invoked::CreatePending));
    assert_eq!(
        types(&dp.callbacks_mut().take_sent()),
        vec![MsgType::Create]
    );
    // Created now, but no program yet: libccp's −96.
    at(&mut dp, 100_001);
    let e = dp.invoke(1, &prims(14_600)).unwrap_err();
    assert_eq!(e.libccp_code(), -96);
}

#[test]
fn failed_report_starts_timer_and_fallback_follows_after_timeout() {
    let mut dp = steered();
    dp.callbacks_mut().fail_sends = true;
    at(&mut dp, 1_000_000);
    // The report fails: timer starts at 1.0 s; the program still ran.
    assert_eq!(
        dp.invoke(1, &prims(14_600)),
        Ok(Invoked::Ran { reported: true })
    );
    assert_eq!(dp.tick(), Some(FTO + 1));
    at(&mut dp, 1_000_000 + FTO);
    assert!(matches!(
        dp.invoke(1, &prims(14_600)),
        Ok(Invoked::Ran { .. })
    ));
    assert!(!dp.in_fallback(), "not before the timeout has passed");
    at(&mut dp, 1_000_000 + FTO + 1);
    dp.callbacks_mut().take_calls();
    let r = dp.invoke(1, &prims(14_600)).unwrap();
    assert!(matches!(r, Invoked::Fallback { .. }), "{r:?}");
    assert_eq!(r.libccp_code(), -101);
    assert!(dp.in_fallback());
    // The fallback controller applied a window (Reno from the current 14600).
    assert_eq!(dp.callbacks_mut().take_calls(), vec![Cb::Cwnd(1, 14_600)]);
    let s = dp.stats();
    assert_eq!((s.fallback_entries, s.probes_sent), (1, 1));
}

#[test]
fn probes_back_off_to_the_maximum() {
    let mut dp = steered();
    dp.callbacks_mut().fail_sends = true;
    at(&mut dp, 0);
    dp.invoke(1, &prims(14_600)).unwrap();
    at(&mut dp, FTO + 1);
    assert_eq!(dp.tick(), Some(10_000));
    // Probe times: +0, +10 ms, +30 ms, +70 ms, +110 ms (interval 10, 20, 40, 40 ms).
    let start = FTO + 1;
    let mut probe_times = vec![];
    for t in (start..start + 120_000).step_by(1_000) {
        at(&mut dp, t);
        let before = dp.stats().probes_sent;
        dp.tick();
        if dp.stats().probes_sent > before {
            probe_times.push(t - start);
        }
    }
    assert_eq!(probe_times, vec![10_000, 30_000, 70_000, 110_000]);
    // Each probe is READY (+ HELLO) — failing here, so counted as send failures.
    assert!(dp.stats().send_failures >= 2 * 5);
}

#[test]
fn agent_return_reannounces_and_hands_back_on_change_prog() {
    let mut dp = steered();
    assert_eq!(dp.connection_start(info(), None, ()), Ok(2));
    dp.callbacks_mut().fail_sends = true;
    at(&mut dp, 0);
    dp.invoke(1, &prims(14_600)).unwrap();
    at(&mut dp, FTO + 1);
    assert!(matches!(
        dp.invoke(2, &prims(14_600)),
        Ok(Invoked::Fallback { .. })
    ));
    // The agent answers (a fresh agent: INSTALL uid 1 first).
    dp.callbacks_mut().fail_sends = false;
    dp.callbacks_mut().take_sent();
    at(&mut dp, FTO + 50_000);
    assert!(matches!(
        dp.read_msg(&install(1)),
        Ok(Handled::Installed { uid: 1, slot: 0 })
    ));
    assert!(!dp.in_fallback());
    let sent = dp.callbacks_mut().take_sent();
    assert_eq!(types(&sent), vec![MsgType::Create, MsgType::Create]);
    let sids: Vec<u32> = sent
        .iter()
        .map(|m| Message::parse(m).unwrap().sid())
        .collect();
    assert_eq!(sids, vec![1, 2]);
    assert_eq!(dp.stats().reannounced, 2);
    // Still under fallback until the CHANGE_PROG of each flow.
    assert!(matches!(
        dp.invoke(1, &prims(14_600)),
        Ok(Invoked::Fallback { .. })
    ));
    dp.read_msg(&change_prog(1, 1)).unwrap();
    assert_eq!(dp.stats().handbacks, 1);
    assert_eq!(
        dp.invoke(1, &prims(14_600)),
        Ok(Invoked::Ran { reported: true })
    );
    assert!(matches!(
        dp.invoke(2, &prims(14_600)),
        Ok(Invoked::Fallback { .. })
    ));
    dp.read_msg(&change_prog(2, 1)).unwrap();
    assert_eq!(
        dp.invoke(2, &prims(14_600)),
        Ok(Invoked::Ran { reported: true })
    );
    assert_eq!(dp.stats().agent_returns, 1);
}

#[test]
fn a_new_agent_without_fallback_gets_the_flows_reannounced() {
    // The agent restarts quickly (no failed send): its INSTALL uid 1 reaches a datapath
    // that has talked to an agent before → flows re-announced, fallback until handback.
    let mut dp = steered();
    let s0 = dp.stats();
    dp.read_msg(&install(1)).unwrap();
    assert_eq!(
        types(&dp.callbacks_mut().take_sent()),
        vec![MsgType::Create]
    );
    let s = dp.stats();
    assert_eq!((s.new_agents, s.table_wipes), (1, s0.table_wipes + 1));
    assert!(matches!(
        dp.invoke(1, &prims(14_600)),
        Ok(Invoked::Fallback { .. })
    ));
    dp.read_msg(&change_prog(1, 1)).unwrap();
    assert!(matches!(
        dp.invoke(1, &prims(14_600)),
        Ok(Invoked::Ran { .. })
    ));
    // The first agent's install burst (uid 1 first) re-announces nothing.
    let mut dp = Datapath::init(cfg(), Mock::default()).unwrap();
    dp.connection_start(info(), None, ()).unwrap();
    dp.callbacks_mut().take_sent();
    dp.read_msg(&install(1)).unwrap();
    dp.read_msg(&install(2)).unwrap();
    assert!(dp.callbacks().sent.is_empty());
    assert_eq!(dp.stats().new_agents, 0);
}

#[test]
fn silence_rule_is_off_by_default_and_works_when_set() {
    let mut dp = steered();
    for t in 1..50u64 {
        at(&mut dp, t * 100_000);
        assert!(matches!(
            dp.invoke(1, &prims(14_600)),
            Ok(Invoked::Ran { .. })
        ));
    }
    let mut c = cfg();
    c.silence_timeout_us = Some(500_000);
    let mut dp = Datapath::init(c, Mock::default()).unwrap();
    dp.connection_start(info(), None, ()).unwrap();
    dp.read_msg(&install(1)).unwrap();
    dp.read_msg(&change_prog(1, 1)).unwrap();
    at(&mut dp, 100_000);
    dp.invoke(1, &prims(14_600)).unwrap();
    // Last agent message at t = 0; reports sent since.
    at(&mut dp, 500_000);
    assert!(matches!(
        dp.invoke(1, &prims(14_600)),
        Ok(Invoked::Ran { .. })
    ));
    at(&mut dp, 500_001);
    assert!(matches!(
        dp.invoke(1, &prims(14_600)),
        Ok(Invoked::Fallback { .. })
    ));
}

#[test]
fn cubic_fallback_is_used_when_configured() {
    let mut c = cfg();
    c.fallback_alg = FallbackAlg::Cubic;
    let mut dp = Datapath::init(c, Mock::default()).unwrap();
    dp.callbacks_mut().fail_sends = true;
    dp.connection_start(info(), None, ()).unwrap(); // CREATE fails at t = 0: timer
    at(&mut dp, FTO + 1);
    let lossy = Primitives {
        lost_pkts_sample: 1,
        ..prims(100_000)
    };
    // CUBIC's β = 0.7 (Reno would halve).
    assert_eq!(dp.invoke(1, &lossy), Ok(Invoked::Fallback { cwnd: 70_000 }));
}

fn agent_hello(caps: Capabilities) -> Vec<u8> {
    let mut h = Hello::new(Role::Agent, "test-agent", ImplVersion::default());
    h.capabilities |= caps;
    h.encode().unwrap()
}

#[test]
fn hello_negotiates_and_cwnd_rate_are_appended_to_reports() {
    let mut dp = steered();
    // Legacy agent: 1 field.
    at(&mut dp, 1);
    dp.invoke(1, &prims(14_600)).unwrap();
    let m = Measure::parse(&dp.callbacks_mut().take_sent()[0]).unwrap();
    assert_eq!(m.fields, vec![1460]);
    // An agent without the capability: still 1 field.
    assert!(matches!(
        dp.read_msg(&agent_hello(Capabilities::empty())),
        Ok(Handled::Hello { .. })
    ));
    dp.invoke(1, &prims(14_600)).unwrap();
    let m = Measure::parse(&dp.callbacks_mut().take_sent()[0]).unwrap();
    assert_eq!(m.fields.len(), 1);
    // With it: report fields, then Cwnd and Rate after the program ran.
    let r = dp
        .read_msg(&agent_hello(Capabilities::REPORT_CWND_RATE))
        .unwrap();
    assert!(
        matches!(r, Handled::Hello { capabilities } if capabilities.contains(Capabilities::REPORT_CWND_RATE))
    );
    let upd = UpdateFields {
        sid: 1,
        updates: vec![UpdateField::cwnd(20_000), UpdateField::rate(1_000_000)],
    };
    dp.read_msg(&upd.encode().unwrap()).unwrap();
    dp.invoke(1, &prims(14_600)).unwrap();
    let m = Measure::parse(&dp.callbacks_mut().take_sent()[0]).unwrap();
    assert_eq!(m.fields, vec![1460, 20_000, 1_000_000]);
    // A HELLO from a datapath is rejected (−32) and changes nothing.
    let dp_hello = Hello::new(Role::Datapath, "x", ImplVersion::default())
        .encode()
        .unwrap();
    assert_eq!(dp.read_msg(&dp_hello).unwrap_err().libccp_code(), -32);
    assert!(
        dp.negotiated()
            .capabilities
            .contains(Capabilities::REPORT_CWND_RATE)
    );
}

#[test]
fn sids_reuse_the_lowest_free_and_limits_hold() {
    let mut c = cfg();
    c.max_connections = Some(3);
    let mut dp = Datapath::init(c, Mock::default()).unwrap();
    for want in 1..=3 {
        assert_eq!(dp.connection_start(info(), None, ()), Ok(want));
    }
    assert_eq!(
        dp.connection_start(info(), None, ()),
        Err(StartError::TooManyConnections(3))
    );
    assert!(dp.connection_free(2).is_some());
    assert!(dp.connection_free(2).is_none());
    assert_eq!(dp.connection_start(info(), None, ()), Ok(2));
    assert!(dp.connection_free(3).is_some());
    assert!(dp.connection_free(2).is_some());
    assert_eq!(dp.connection_start(info(), None, ()), Ok(2));
    assert_eq!(dp.connections(), 2);
    let long = "x".repeat(64);
    assert_eq!(
        dp.connection_start(info(), Some(&long), ()),
        Err(StartError::AlgNameTooLong(64))
    );
    assert_eq!(
        dp.invoke(9, &prims(1)),
        Err(InvokeError::UnknownConnection(9))
    );
    // No limit by default: many flows.
    let mut dp = Datapath::init(cfg(), Mock::default()).unwrap();
    for want in 1..=5000 {
        assert_eq!(dp.connection_start(info(), None, ()), Ok(want));
    }
}

#[test]
fn program_table_full_and_uid_one_wipe() {
    let mut c = cfg();
    c.max_programs = 3;
    let mut dp = Datapath::init(c, Mock::default()).unwrap();
    for uid in 2..=4 {
        dp.read_msg(&install(uid)).unwrap();
    }
    assert_eq!(dp.read_msg(&install(5)).unwrap_err().libccp_code(), -81);
    assert_eq!(dp.programs(), vec![Some(2), Some(3), Some(4)]);
    dp.read_msg(&install(1)).unwrap();
    assert_eq!(dp.programs(), vec![Some(1), None, None]);
    assert_eq!(dp.stats().prog_table_full, 1);
    // CHANGE_PROG to a wiped uid: +8, nothing sent, nothing staged.
    dp.connection_start(info(), None, ()).unwrap();
    dp.callbacks_mut().take_sent();
    let e = dp.read_msg(&change_prog(1, 3)).unwrap_err();
    assert_eq!(e.libccp_code(), 8);
    assert!(dp.callbacks().sent.is_empty());
    assert_eq!(dp.invoke(1, &prims(1)).unwrap_err().libccp_code(), -96);
}

#[test]
fn close_message_and_parse_options() {
    let mut dp = steered();
    dp.connection_free(1).unwrap();
    let sent = dp.callbacks_mut().take_sent();
    let m = Message::parse_with(&sent[0], &ParseOptions::AGENT).unwrap();
    assert_eq!(m, Message::Measure(Measure::close(1)));
}
