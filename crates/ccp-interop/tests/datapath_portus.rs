//! The real portus 0.9 agent steering our datapath library: the six portus integration
//! scenarios (spec §8: basic, preset, timing, twoflow, update, volatile), each over
//! portus's in-process channel and over unix sockets (portus at `/tmp/ccp/<unique>`, our
//! datapath at its own path). The datapath runs on a virtual clock (100 ms per
//! invocation, like portus's mock connections); every wait for the agent is bounded.

mod datapath_common;

use std::collections::BTreeMap;

use ccp_datapath::{Config, Sid};
use crossbeam_channel::Receiver;
use datapath_common::*;

const STEP_US: u64 = 100_000;

struct Run {
    dp: Dp,
    rx: Receiver<Event>,
    agent: portus::CCPHandle,
}

impl Run {
    fn start(scenario: Scenario, unix: bool, flows: u32) -> (Run, Vec<Sid>) {
        let (dp, rx, agent) = if unix {
            let name = unique("portus");
            let (sock, link) = unix_pair(&name);
            let (agent, rx) = start_portus(sock, scenario);
            (datapath(link, Config::new(7)), rx, agent)
        } else {
            let (sock, link) = chan_pair();
            let (agent, rx) = start_portus(sock, scenario);
            (datapath(link, Config::new(7)), rx, agent)
        };
        let mut run = Run { dp, rx, agent };
        let sids: Vec<Sid> = (0..flows)
            .map(|_| {
                run.dp
                    .connection_start(flow_info(), None, ())
                    .expect("connection starts")
            })
            .collect();
        for &sid in &sids {
            await_created(&mut run.dp, &run.rx, sid);
        }
        (run, sids)
    }

    /// Invoke `sid` until it reports (at most `max` invocations, 100 ms apart).
    fn until_report(&mut self, sid: Sid, max: usize) -> (usize, BTreeMap<String, u64>) {
        for i in 1..=max {
            advance(&mut self.dp, STEP_US);
            if let Some(f) = step(&mut self.dp, &self.rx, sid) {
                return (i, f);
            }
        }
        panic!("no report from sid {sid} within {max} invocations");
    }

    /// Free the flows (the agent must see the close) and stop portus.
    fn finish(mut self, sids: &[Sid]) {
        for &sid in sids {
            self.dp.connection_free(sid).expect("live");
            loop {
                if next_event(&self.rx) == Event::Closed(sid) {
                    break;
                }
            }
        }
        let s = self.dp.stats();
        assert_eq!(s.malformed + s.unknown_type + s.unknown_program, 0, "{s:?}");
        assert_eq!(s.fallback_entries, 0);
        self.agent.kill();
        self.agent.wait().expect("portus stops cleanly");
    }
}

fn field(f: &BTreeMap<String, u64>, name: &str) -> u64 {
    *f.get(name)
        .unwrap_or_else(|| panic!("report lacks {name}: {f:?}"))
}

// ---------------------------------------------------------------------------------------
// basic: a counter over 20 invocations.

const BASIC: Scenario = Scenario::new(
    (
        "h7basic",
        "(def (Report (volatile total 0)) (invocations 0))
         (when true
             (:= Report.total (+ Report.total Ack.bytes_acked))
             (:= invocations (+ invocations 1))
             (fallthrough))
         (when (== invocations 20)
             (report))",
    ),
    &["Report.total"],
    |dp| dp.set_program("h7basic", None).ok(),
);

fn basic(unix: bool) {
    let (mut r, sids) = Run::start(BASIC, unix, 1);
    let (n, f) = r.until_report(sids[0], 40);
    assert_eq!(n, 20, "reports after exactly 20 invocations");
    assert_eq!(field(&f, "Report.total"), 20 * 5);
    r.finish(&sids);
}

#[test]
fn basic_chan() {
    basic(false);
}

#[test]
fn basic_unix() {
    basic(true);
}

// ---------------------------------------------------------------------------------------
// preset: set_program with an initial control value.

const PRESET: Scenario = Scenario::new(
    (
        "h7preset",
        "(def (Report (seen 0)) (preset 0))
         (when true
             (:= Report.seen preset)
             (report))",
    ),
    &["Report.seen"],
    |dp| dp.set_program("h7preset", Some(&[("preset", 52)][..])).ok(),
);

fn preset(unix: bool) {
    let (mut r, sids) = Run::start(PRESET, unix, 1);
    let (n, f) = r.until_report(sids[0], 5);
    assert_eq!(n, 1);
    assert_eq!(field(&f, "Report.seen"), 52);
    r.finish(&sids);
}

#[test]
fn preset_chan() {
    preset(false);
}

#[test]
fn preset_unix() {
    preset(true);
}

// ---------------------------------------------------------------------------------------
// timing: a report once Micros exceeds 3 s.

const TIMING: Scenario = Scenario::new(
    (
        "h7timing",
        "(def (Report (volatile acked 0)) (fired 0))
         (when true
             (:= Report.acked Ack.bytes_acked)
             (fallthrough))
         (when (&& (> Micros 3000000) (== fired 0))
             (:= fired 1)
             (report))",
    ),
    &["Report.acked"],
    |dp| dp.set_program("h7timing", None).ok(),
);

fn timing(unix: bool) {
    let (mut r, sids) = Run::start(TIMING, unix, 1);
    // The program switch happens at the first invocation; count virtual time from it.
    let (n, f) = r.until_report(sids[0], 60);
    let elapsed_us = (n as u64 - 1) * STEP_US;
    assert!(
        (3_000_000..4_000_000).contains(&elapsed_us),
        "report {elapsed_us} µs after the program started"
    );
    assert_eq!(field(&f, "Report.acked"), 5);
    // Reported once only.
    for _ in 0..15 {
        advance(&mut r.dp, STEP_US);
        assert_eq!(step(&mut r.dp, &r.rx, sids[0]), None);
    }
    r.finish(&sids);
}

#[test]
fn timing_chan() {
    timing(false);
}

#[test]
fn timing_unix() {
    timing(true);
}

// ---------------------------------------------------------------------------------------
// twoflow: two flows get different UPDATE values.

const TWOFLOW: Scenario = Scenario::new(
    (
        "h7twoflow",
        "(def (Report (volatile value 0)) (number 0))
         (when (> number 0)
             (:= Report.value number)
             (report))",
    ),
    &["Report.value"],
    |dp| {
        let sc = dp.set_program("h7twoflow", None).ok()?;
        let n = dp.get_sock_id() * 10;
        dp.update_field(&sc, &[("number", n)]).ok()?;
        Some(sc)
    },
);

fn twoflow(unix: bool) {
    let (mut r, sids) = Run::start(TWOFLOW, unix, 2);
    assert_eq!(sids, vec![1, 2]);
    advance(&mut r.dp, STEP_US);
    let a = step(&mut r.dp, &r.rx, 1).expect("flow 1 reports");
    let b = step(&mut r.dp, &r.rx, 2).expect("flow 2 reports");
    assert_eq!(field(&a, "Report.value"), 10);
    assert_eq!(field(&b, "Report.value"), 20);
    r.finish(&sids);
}

#[test]
fn twoflow_chan() {
    twoflow(false);
}

#[test]
fn twoflow_unix() {
    twoflow(true);
}

// ---------------------------------------------------------------------------------------
// update: Cwnd / Rate updates are visible in the next report (and applied).

const UPDATE: Scenario = Scenario::new(
    (
        "h7update",
        "(def (Report (volatile cwnd 0) (volatile rate 0)))
         (when true
             (:= Report.cwnd Cwnd)
             (:= Report.rate Rate)
             (fallthrough))
         (when (== Cwnd 42000)
             (report))",
    ),
    &["Report.cwnd", "Report.rate"],
    |dp| {
        let sc = dp.set_program("h7update", None).ok()?;
        dp.update_field(&sc, &[("Cwnd", 42_000), ("Rate", 10_000)])
            .ok()?;
        Some(sc)
    },
);

fn update(unix: bool) {
    let (mut r, sids) = Run::start(UPDATE, unix, 1);
    let (n, f) = r.until_report(sids[0], 5);
    assert_eq!(n, 1, "the update applies at the first invocation");
    assert_eq!(field(&f, "Report.cwnd"), 42_000);
    assert_eq!(field(&f, "Report.rate"), 10_000);
    let cb = r.dp.callbacks();
    assert_eq!(cb.cwnd.get(&sids[0]), Some(&42_000));
    assert_eq!(cb.rate.get(&sids[0]), Some(&10_000));
    r.finish(&sids);
}

#[test]
fn update_chan() {
    update(false);
}

#[test]
fn update_unix() {
    update(true);
}

// ---------------------------------------------------------------------------------------
// volatile: volatile vs non-volatile report and control variables across reports.

const VOLATILE: Scenario = Scenario::new(
    (
        "h7volatile",
        "(def (volatile cv 0)
              (Report (volatile foo 0) (bar 0) (volatile sum 0))
              (cn 0))
         (when true
             (:= Report.foo (+ Report.foo 1))
             (:= Report.bar (+ Report.bar 1))
             (:= cv (+ cv 1))
             (:= cn (+ cn 1))
             (:= Report.sum (+ cv cn))
             (fallthrough))
         (when (== Report.foo 10)
             (report))",
    ),
    &["Report.foo", "Report.bar", "Report.sum"],
    |dp| dp.set_program("h7volatile", None).ok(),
);

fn volatile(unix: bool) {
    let (mut r, sids) = Run::start(VOLATILE, unix, 1);
    let (n, f) = r.until_report(sids[0], 15);
    assert_eq!(n, 10);
    assert_eq!(
        (
            field(&f, "Report.foo"),
            field(&f, "Report.bar"),
            field(&f, "Report.sum")
        ),
        (10, 10, 20)
    );
    let (n, f) = r.until_report(sids[0], 15);
    assert_eq!(n, 10);
    assert_eq!(
        (
            field(&f, "Report.foo"),
            field(&f, "Report.bar"),
            field(&f, "Report.sum")
        ),
        (10, 20, 30),
        "non-volatile bar and cn keep counting, volatile foo and cv restart"
    );
    r.finish(&sids);
}

#[test]
fn volatile_chan() {
    volatile(false);
}

#[test]
fn volatile_unix() {
    volatile(true);
}
