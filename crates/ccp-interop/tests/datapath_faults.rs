//! Faults between the real portus 0.9 agent and our datapath library: the agent is killed
//! mid-flow → every flow enters fallback within the timeout and its window keeps moving
//! on ACKs and losses; the agent is restarted → every flow is re-created (CREATE seen by
//! the new agent) and steered again (the new agent's UPDATE applied). Over unix sockets
//! (Reno fallback) and over portus's channel (CUBIC fallback). Virtual time; bounded waits.

mod datapath_common;

use ccp_datapath::{Config, FallbackAlg, Invoked, Primitives, Sid};
use datapath_common::*;

const CWND_A: u32 = 50_000;
const CWND_B: u32 = 70_000;
const FTO_US: u64 = 50_000;
const STEP_US: u64 = 10_000;
const MSS: u32 = 1500;

fn steer(program: &'static str, cwnd: u32) -> Scenario {
    Scenario {
        program: (
            program,
            "(def (Report (volatile acked 0)))
             (when true
                 (:= Report.acked (+ Report.acked Ack.bytes_acked))
                 (report))",
        ),
        fields: &["Report.acked"],
        install: if cwnd == CWND_A {
            |dp| dp.set_program("h7faultA", None).ok()
        } else {
            |dp| dp.set_program("h7faultB", None).ok()
        },
        on_report: if cwnd == CWND_A {
            |dp, sc, _| {
                let _ = dp.update_field(sc, &[("Cwnd", CWND_A)]);
            }
        } else {
            |dp, sc, _| {
                let _ = dp.update_field(sc, &[("Cwnd", CWND_B)]);
            }
        },
    }
}

fn ack(dp: &Dp, sid: Sid, lost: u32, timeout: bool) -> Primitives {
    let cwnd = dp.callbacks().cwnd.get(&sid).copied().unwrap_or(15_000) as u32;
    Primitives {
        bytes_acked: if lost > 0 || timeout { 0 } else { MSS },
        packets_acked: 1,
        lost_pkts_sample: lost,
        was_timeout: timeout,
        rtt_sample_us: 20_000,
        bytes_in_flight: cwnd,
        packets_in_flight: cwnd / MSS,
        snd_cwnd: cwnd,
        ..Primitives::default()
    }
}

fn cwnd(dp: &Dp, sid: Sid) -> u64 {
    dp.callbacks().cwnd.get(&sid).copied().unwrap_or(0)
}

fn kill_and_restart(unix: bool, alg: FallbackAlg) {
    let mut cfg = Config::new(3);
    cfg.fallback_timeout_us = FTO_US;
    cfg.fallback_alg = alg;
    cfg.probe_interval_us = 20_000;
    let name = unique("fault");
    let (mut dp, rx, agent) = if unix {
        let (sock, link) = unix_pair(&name);
        let (agent, rx) = start_portus(sock, steer("h7faultA", CWND_A));
        (datapath(link, cfg), rx, agent)
    } else {
        let (sock, link) = chan_pair();
        let (agent, rx) = start_portus(sock, steer("h7faultA", CWND_A));
        (datapath(link, cfg), rx, agent)
    };

    // Phase 1: three flows steered by agent A.
    let sids: Vec<Sid> = (0..3)
        .map(|_| dp.connection_start(flow_info(), None, ()).expect("start"))
        .collect();
    for &s in &sids {
        await_created(&mut dp, &rx, s);
    }
    for _ in 0..2 {
        advance(&mut dp, STEP_US);
        for &s in &sids {
            assert!(step(&mut dp, &rx, s).is_some(), "flow {s} reports");
        }
    }
    for &s in &sids {
        assert_eq!(cwnd(&dp, s), u64::from(CWND_A), "agent A steers flow {s}");
    }

    // Phase 2: kill the agent. Sends start failing; within the fallback timeout every flow
    // is under fallback.
    agent.kill();
    agent.wait().expect("portus stops");
    drop(rx);
    let t_kill = dp.callbacks().now_us;
    let mut entered = None;
    for _ in 0..20 {
        advance(&mut dp, STEP_US);
        let results: Vec<_> = sids
            .iter()
            .map(|&s| {
                let p = ack(&dp, s, 0, false);
                dp.invoke(s, &p)
            })
            .collect();
        if results
            .iter()
            .all(|r| matches!(r, Ok(Invoked::Fallback { .. })))
        {
            entered = Some(dp.callbacks().now_us - t_kill);
            break;
        }
    }
    let entered = entered.expect("all flows under fallback");
    // The first failed report starts the timer one step after the kill; fallback begins
    // at the first invocation more than FTO later.
    assert!(
        entered <= STEP_US + FTO_US + STEP_US,
        "fallback after {entered} µs"
    );
    assert!(dp.in_fallback());
    assert_eq!(dp.stats().fallback_entries, 1);

    // Windows move: growth on ACKs, decrease on a loss, 1 MSS on a timeout, growth again.
    for &s in &sids {
        let start = cwnd(&dp, s);
        for _ in 0..200 {
            advance(&mut dp, 1_000);
            let p = ack(&dp, s, 0, false);
            assert!(matches!(dp.invoke(s, &p), Ok(Invoked::Fallback { .. })));
        }
        let grown = cwnd(&dp, s);
        assert!(grown > start, "flow {s}: {start} → {grown} on ACKs");
        advance(&mut dp, 1_000);
        let p = ack(&dp, s, 3, false);
        dp.invoke(s, &p).expect("invoke");
        let cut = cwnd(&dp, s);
        assert!(
            cut < grown && cut >= grown / 2 - u64::from(MSS),
            "loss: {grown} → {cut}"
        );
        advance(&mut dp, 1_000_000);
        let p = ack(&dp, s, 0, true);
        dp.invoke(s, &p).expect("invoke");
        assert_eq!(cwnd(&dp, s), u64::from(MSS), "timeout → 1 MSS");
        for _ in 0..10 {
            advance(&mut dp, 1_000);
            let p = ack(&dp, s, 0, false);
            dp.invoke(s, &p).expect("invoke");
        }
        assert!(
            cwnd(&dp, s) > u64::from(MSS),
            "slow start after the timeout"
        );
    }
    assert!(dp.stats().probes_sent >= 1, "the agent is being probed");

    // Phase 3: restart an agent (B) at the same address; the next probe reaches it.
    let (agent, rx) = if unix {
        let sock = portus::ipc::unix::Socket::<portus::ipc::Blocking>::new(&name)
            .expect("portus binds again");
        start_portus(sock, steer("h7faultB", CWND_B))
    } else {
        let (sock, link) = chan_pair();
        dp.callbacks_mut().link = link;
        start_portus(sock, steer("h7faultB", CWND_B))
    };
    advance(&mut dp, 1_000_000);
    let probes = dp.stats().probes_sent;
    dp.tick();
    assert_eq!(dp.stats().probes_sent, probes + 1, "a probe (READY) is due");
    let first = dp
        .callbacks()
        .link
        .recv_blocking()
        .expect("agent B answers the probe");
    dp.read_msg(&first).expect("INSTALL from agent B");
    assert!(!dp.in_fallback());
    assert_eq!(dp.stats().agent_returns, 1);
    assert_eq!(dp.stats().reannounced, 3);
    // Until agent B takes a flow back, the fallback still drives it.
    let p = ack(&dp, sids[0], 0, false);
    assert!(matches!(
        dp.invoke(sids[0], &p),
        Ok(Invoked::Fallback { .. })
    ));
    for &s in &sids {
        await_created(&mut dp, &rx, s);
    }
    assert_eq!(dp.stats().handbacks, 3);
    for _ in 0..2 {
        advance(&mut dp, STEP_US);
        for &s in &sids {
            assert!(
                step(&mut dp, &rx, s).is_some(),
                "flow {s} reports to agent B"
            );
        }
    }
    for &s in &sids {
        assert_eq!(cwnd(&dp, s), u64::from(CWND_B), "agent B steers flow {s}");
    }
    for &s in &sids {
        dp.connection_free(s).expect("live");
    }
    let mut closed = 0;
    while closed < 3 {
        if let Event::Closed(_) = next_event(&rx) {
            closed += 1;
        }
    }
    agent.kill();
    agent.wait().expect("portus stops");
}

#[test]
fn agent_killed_and_restarted_unix_reno() {
    kill_and_restart(true, FallbackAlg::Reno);
}

#[test]
fn agent_killed_and_restarted_chan_cubic() {
    kill_and_restart(false, FallbackAlg::Cubic);
}
