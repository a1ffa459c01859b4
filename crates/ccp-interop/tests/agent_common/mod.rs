//! Shared harness of the agent interop tests: a recording test algorithm, the agent
//! driven directly or in its own thread, and a datapath side (the real C libccp or our
//! `ccp-datapath`) invoked every 100 ms of mock time; plus the six scenarios of portus's
//! integration suite (spec §8), generic over both sides.
#![allow(dead_code)]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use ccp_agent::{
    Agent, AgentBuilder, AgentHandle, CongAlg, Datapath, DatapathInfo, Flow, OwnedReport, Programs,
    Report, RunBuilder,
};
use ccp_interop::libccp_ffi::{Libccp, set_clock_us};
use ccp_ipc::chan::ChanSocket;
use ccp_ipc::{Ipc, Mode};
use ccp_lang::vm::Primitives;

pub const ACKED: u32 = 5;
pub const STEP_US: u64 = 100_000;
pub const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- test algorithm

#[derive(Clone, Debug, PartialEq)]
pub enum Ev {
    Report {
        sid: u32,
        report: OwnedReport,
        cwnd_readable: bool,
    },
    Closed {
        sid: u32,
    },
}

#[derive(Clone, Copy)]
pub struct Scenario {
    pub src: &'static str,
    pub setup: fn(&mut Datapath),
    /// Messages the agent sends in answer to one CREATE.
    pub replies_per_create: usize,
    pub flows: usize,
}

pub struct RecAlg {
    pub sc: Scenario,
    pub tx: mpsc::Sender<Ev>,
}

pub struct RecFlow {
    sid: u32,
    _dp: Datapath,
    tx: mpsc::Sender<Ev>,
}

impl CongAlg for RecAlg {
    type Flow = RecFlow;
    fn name(&self) -> &str {
        "integration-test"
    }
    fn datapath_programs(&self) -> Programs {
        [("prog".to_string(), self.sc.src.to_string())]
            .into_iter()
            .collect()
    }
    fn new_flow(&self, mut dp: Datapath, info: DatapathInfo) -> RecFlow {
        (self.sc.setup)(&mut dp);
        RecFlow {
            sid: info.sock_id,
            _dp: dp,
            tx: self.tx.clone(),
        }
    }
}

impl Flow for RecFlow {
    fn on_report(&mut self, sid: u32, r: Report<'_>) {
        let _ = self.tx.send(Ev::Report {
            sid,
            report: r.to_owned_report(),
            cwnd_readable: r.cwnd().is_ok(),
        });
    }
    fn close(&mut self) {
        let _ = self.tx.send(Ev::Closed { sid: self.sid });
    }
}

// ---------------------------------------------------------------- agent sides

/// Where the agent runs.
pub trait AgentSide {
    /// Hand one datapath message to the agent at mock time `now_us`.
    fn deliver(&mut self, now_us: u64, msg: &[u8]);
    /// The agent's next `n` messages to the datapath.
    fn replies(&mut self, n: usize) -> Vec<Vec<u8>>;
    /// Stop the agent; returns the number of messages it dropped.
    fn finish(self) -> u64;
}

pub struct Direct(pub Agent<()>);

impl AgentSide for Direct {
    fn deliver(&mut self, now_us: u64, msg: &[u8]) {
        self.0.handle(Duration::from_micros(now_us), &(), msg);
    }
    fn replies(&mut self, n: usize) -> Vec<Vec<u8>> {
        let out: Vec<_> = self
            .0
            .take_transmits()
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        assert_eq!(out.len(), n, "agent replies");
        out
    }
    fn finish(mut self) -> u64 {
        self.0.close_all();
        self.0.stats().dropped()
    }
}

pub struct Threaded {
    sock: ChanSocket,
    handle: AgentHandle,
}

impl AgentSide for Threaded {
    fn deliver(&mut self, _now_us: u64, msg: &[u8]) {
        self.sock.send_to(msg, &()).expect("agent end alive");
    }
    fn replies(&mut self, n: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + WAIT;
        let mut out = Vec::new();
        while out.len() < n {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for agent replies"
            );
            if let Some(m) = self.sock.recv_vec().expect("agent end alive") {
                out.push(m);
            }
        }
        out
    }
    fn finish(self) -> u64 {
        self.handle.kill();
        let s = self.handle.wait().expect("agent loop ends cleanly");
        s.stats.dropped()
    }
}

pub fn direct(alg: impl CongAlg) -> Direct {
    Direct(
        AgentBuilder::new()
            .default_alg(alg)
            .build()
            .expect("compiles"),
    )
}

pub fn threaded(alg: impl CongAlg) -> Threaded {
    let (agent_end, dp_end) = ccp_ipc::chan::pair(Mode::Blocking(Duration::from_millis(5)));
    let handle = RunBuilder::new(agent_end)
        .default_alg(alg)
        .spawn_thread()
        .expect("compiles");
    Threaded {
        sock: dp_end,
        handle,
    }
}

// ---------------------------------------------------------------- libccp side

pub fn prims(cwnd: u32, rate: u32) -> Primitives {
    Primitives {
        bytes_acked: ACKED,
        packets_acked: 0,
        rtt_sample_us: 2,
        packets_misordered: 10,
        bytes_misordered: 100,
        lost_pkts_sample: 52,
        packets_in_flight: 100,
        rate_outgoing: 30,
        rate_incoming: 20,
        snd_cwnd: cwnd,
        snd_rate: u64::from(rate),
        ..Primitives::default()
    }
}

pub fn msg_type(m: &[u8]) -> u16 {
    u16::from_le_bytes([m[0], m[1]])
}

/// The datapath under test.
pub trait DatapathSide: Sized {
    /// Messages the datapath sends when it starts (READY, maybe HELLO).
    const INIT_MSGS: usize;
    /// `read_msg`'s code for the agent's HELLO.
    const HELLO_CODE: i32;
    /// Whether reports carry Cwnd/Rate (REPORT_CWND_RATE negotiated).
    const REPORTS_CWND: bool;
    /// Start at mock time 0.
    fn init() -> Self;
    fn set_clock(&mut self, now_us: u64);
    fn take_sent(&mut self) -> Vec<Vec<u8>>;
    fn read_msg(&mut self, m: &[u8]) -> i32;
    fn start_connection(&mut self, init_cwnd: u32, mss: u32) -> u32;
    fn invoke(&mut self, sid: u32, prims: &Primitives) -> i32;
    fn free_connection(&mut self, sid: u32);
    /// Last cwnd and rate set through the callbacks.
    fn last_cwnd_rate(&mut self) -> (u32, u32);
}

/// The real C libccp.
pub struct LibccpSide(pub Libccp);

impl DatapathSide for LibccpSide {
    const INIT_MSGS: usize = 1;
    const HELLO_CODE: i32 = -32;
    const REPORTS_CWND: bool = false;
    fn init() -> Self {
        set_clock_us(0);
        LibccpSide(Libccp::new(8, 10, 1, true).expect("ccp_init"))
    }
    fn set_clock(&mut self, now_us: u64) {
        set_clock_us(now_us);
    }
    fn take_sent(&mut self) -> Vec<Vec<u8>> {
        self.0.recorder().sent.drain(..).collect()
    }
    fn read_msg(&mut self, m: &[u8]) -> i32 {
        self.0.read_msg(m).expect("defined for libccp")
    }
    fn start_connection(&mut self, init_cwnd: u32, mss: u32) -> u32 {
        u32::from(self.0.start_connection(init_cwnd, mss).expect("slot"))
    }
    fn invoke(&mut self, sid: u32, prims: &Primitives) -> i32 {
        let sid = u16::try_from(sid).expect("libccp sid");
        self.0.invoke(sid, prims).expect("known sid")
    }
    fn free_connection(&mut self, sid: u32) {
        let sid = u16::try_from(sid).expect("libccp sid");
        self.0.free_connection(sid).expect("known sid");
    }
    fn last_cwnd_rate(&mut self) -> (u32, u32) {
        let r = self.0.recorder();
        (r.last_cwnd, r.last_rate)
    }
}

/// Callbacks of our datapath library for the tests: mock clock, recorded messages.
#[derive(Default)]
pub struct MockCallbacks {
    pub now_us: u64,
    pub sent: Vec<Vec<u8>>,
    pub cwnd: u64,
    pub rate: u64,
}

impl ccp_datapath::Callbacks for MockCallbacks {
    type Conn = ();
    fn set_cwnd(&mut self, _: ccp_datapath::Sid, _: &mut (), cwnd: u64) {
        self.cwnd = cwnd;
    }
    fn set_rate_abs(&mut self, _: ccp_datapath::Sid, _: &mut (), rate: u64) {
        self.rate = rate;
    }
    fn send_msg(&mut self, msg: &[u8]) -> Result<(), ccp_datapath::SendError> {
        self.sent.push(msg.to_vec());
        Ok(())
    }
    fn now(&self) -> u64 {
        self.now_us
    }
}

/// Our datapath library (`ccp-datapath`).
pub struct RustSide(pub ccp_datapath::Datapath<MockCallbacks>);

impl DatapathSide for RustSide {
    const INIT_MSGS: usize = 2;
    const HELLO_CODE: i32 = 0;
    const REPORTS_CWND: bool = true;
    fn init() -> Self {
        RustSide(
            ccp_datapath::Datapath::init(ccp_datapath::Config::new(1), MockCallbacks::default())
                .expect("init"),
        )
    }
    fn set_clock(&mut self, now_us: u64) {
        self.0.callbacks_mut().now_us = now_us;
    }
    fn take_sent(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.0.callbacks_mut().sent)
    }
    fn read_msg(&mut self, m: &[u8]) -> i32 {
        match self.0.read_msg(m) {
            Ok(_) => 0,
            Err(e) => e.libccp_code(),
        }
    }
    fn start_connection(&mut self, init_cwnd: u32, mss: u32) -> u32 {
        let info = ccp_datapath::DatapathInfo {
            init_cwnd,
            mss,
            ..Default::default()
        };
        self.0.connection_start(info, None, ()).expect("connection")
    }
    fn invoke(&mut self, sid: u32, prims: &Primitives) -> i32 {
        match self.0.invoke(sid, prims) {
            Ok(_) => 0,
            Err(e) => e.libccp_code(),
        }
    }
    fn free_connection(&mut self, sid: u32) {
        self.0.connection_free(sid).expect("known sid");
    }
    fn last_cwnd_rate(&mut self) -> (u32, u32) {
        let c = self.0.callbacks();
        (c.cwnd as u32, c.rate as u32)
    }
}

pub struct Run<S: AgentSide, D: DatapathSide> {
    pub lib: D,
    side: S,
    rx: mpsc::Receiver<Ev>,
    now: u64,
    sids: Vec<u32>,
}

impl<S: AgentSide, D: DatapathSide> Run<S, D> {
    /// Start libccp (READY), exchange INSTALL/HELLO, start the scenario's flows.
    pub fn start(sc: Scenario, make: impl FnOnce(RecAlg) -> S) -> Run<S, D> {
        let (tx, rx) = mpsc::channel();
        let side = make(RecAlg { sc, tx });
        let lib = D::init();
        let mut run = Run {
            lib,
            side,
            rx,
            now: 0,
            sids: Vec::new(),
        };
        assert_eq!(run.forward(), (D::INIT_MSGS, 0), "READY (+ HELLO)");
        // One INSTALL + our HELLO (libccp ignores HELLO with -32).
        let codes = run.feed_replies(2);
        assert_eq!(codes, vec![0, D::HELLO_CODE]);
        for _ in 0..sc.flows {
            let sid = run.lib.start_connection(15_000, 1500);
            run.sids.push(sid);
            assert_eq!(run.forward(), (1, 0), "CREATE");
            let codes = run.feed_replies(sc.replies_per_create);
            assert!(codes.iter().all(|&c| c == 0), "libccp accepts {codes:?}");
        }
        run
    }

    /// Forward what libccp sent; returns (messages, reports among them).
    fn forward(&mut self) -> (usize, usize) {
        let sent = self.lib.take_sent();
        let reports = sent
            .iter()
            .filter(|m| msg_type(m) == 1 && m.len() > 16)
            .count();
        for m in &sent {
            self.side.deliver(self.now, m);
        }
        (sent.len(), reports)
    }

    fn feed_replies(&mut self, n: usize) -> Vec<i32> {
        self.side
            .replies(n)
            .into_iter()
            .map(|m| self.lib.read_msg(&m))
            .collect()
    }

    /// Advance the mock clock one step and invoke every flow; returns the reports sent.
    pub fn step(&mut self) -> usize {
        self.now += STEP_US;
        self.lib.set_clock(self.now);
        let (c, r) = self.lib.last_cwnd_rate();
        for &sid in &self.sids.clone() {
            let code = self.lib.invoke(sid, &prims(c, r));
            assert_eq!(code, 0, "ccp_invoke");
        }
        self.forward().1
    }

    /// Step until `n` reports have been delivered (at most `max_steps` steps); returns
    /// them with the mock time (µs) of the step that produced each.
    pub fn reports(&mut self, n: usize, max_steps: usize) -> Vec<(u64, u32, OwnedReport, bool)> {
        let mut out = Vec::new();
        for _ in 0..max_steps {
            let k = self.step();
            for _ in 0..k {
                match self.rx.recv_timeout(WAIT).expect("report reaches the flow") {
                    Ev::Report {
                        sid,
                        report,
                        cwnd_readable,
                    } => out.push((self.now, sid, report, cwnd_readable)),
                    other => panic!("unexpected {other:?}"),
                }
            }
            if out.len() >= n {
                return out;
            }
        }
        panic!("only {} of {n} reports after {max_steps} steps", out.len());
    }

    /// Free every connection (close MEASUREs), check each flow was closed, stop.
    pub fn finish(mut self) {
        for sid in self.sids.clone() {
            self.lib.free_connection(sid);
        }
        self.forward();
        let mut closed: Vec<u32> = (0..self.sids.len())
            .map(
                |_| match self.rx.recv_timeout(WAIT).expect("close reaches the flow") {
                    Ev::Closed { sid } => sid,
                    other => panic!("unexpected {other:?}"),
                },
            )
            .collect();
        closed.sort_unstable();
        let want: Vec<u32> = self.sids.clone();
        assert_eq!(closed, want);
        assert_eq!(self.side.finish(), 0, "the agent dropped nothing");
    }
}

// ---------------------------------------------------------------- the six scenarios

const BASIC: &str = "(def (Report (acked 0) (calls 0)) (invocations 0))
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= invocations (+ invocations 1))
    (:= Report.calls invocations)
    (fallthrough)
)
(when (== invocations 20)
    (report)
)";

pub fn basic_scenario() -> Scenario {
    Scenario {
        src: BASIC,
        setup: |dp| dp.set_program("prog", None).expect("known program"),
        replies_per_create: 1,
        flows: 1,
    }
}

pub fn basic<D: DatapathSide, S: AgentSide>(make: impl FnOnce(RecAlg) -> S) {
    let mut run = Run::<S, D>::start(basic_scenario(), make);
    let r = run.reports(1, 40);
    // Reported exactly at the 20th invocation, with 20 × 5 bytes summed.
    assert_eq!(r[0].0, 20 * STEP_US);
    assert_eq!(r[0].2.get("acked"), Some(u64::from(20 * ACKED)));
    assert_eq!(r[0].2.get("Report.calls"), Some(20));
    run.finish();
}

const PRESET: &str = "(def (Report (volatile seen 0)) (preset 0))
(when true
    (:= Report.seen preset)
    (report)
)";

pub fn preset<D: DatapathSide, S: AgentSide>(make: impl FnOnce(RecAlg) -> S) {
    let sc = Scenario {
        src: PRESET,
        setup: |dp| {
            dp.set_program("prog", Some(&[("preset", 52)]))
                .expect("known program")
        },
        replies_per_create: 1,
        flows: 1,
    };
    let mut run = Run::<S, D>::start(sc, make);
    let r = run.reports(1, 3);
    assert_eq!(r[0].2.get("seen"), Some(52));
    run.finish();
}

const TIMING: &str = "(def (Report (volatile acked 0)) (fired 0))
(when true
    (:= Report.acked Ack.bytes_acked)
    (fallthrough)
)
(when (&& (> Micros 3000000) (== fired 0))
    (:= fired 1)
    (report)
)";

pub fn timing<D: DatapathSide, S: AgentSide>(
    make: impl FnOnce(RecAlg) -> S,
) -> Vec<(u64, u32, OwnedReport, bool)> {
    let sc = Scenario {
        src: TIMING,
        setup: |dp| dp.set_program("prog", None).expect("known program"),
        replies_per_create: 1,
        flows: 1,
    };
    let mut run = Run::<S, D>::start(sc, make);
    let r = run.reports(1, 60);
    // Flow created at mock time 0: the report is due once Micros > 3 s.
    assert!(
        (3_000_000..4_000_000).contains(&r[0].0),
        "report at {} µs",
        r[0].0
    );
    assert_eq!(r[0].2.get("acked"), Some(u64::from(ACKED)));
    // Only once: the next 10 s of mock time bring no further report.
    for _ in 0..100 {
        assert_eq!(run.step(), 0);
    }
    run.finish();
    r
}

const TWOFLOW: &str = "(def (Report (volatile value 0)) (number 0))
(when (> number 0)
    (:= Report.value number)
    (report)
)";

pub fn twoflow<D: DatapathSide, S: AgentSide>(make: impl FnOnce(RecAlg) -> S) {
    let sc = Scenario {
        src: TWOFLOW,
        setup: |dp| {
            dp.set_program("prog", None).expect("known program");
            let v = u64::from(dp.sock_id()) * 10;
            dp.update_field("number", v).expect("control variable");
        },
        replies_per_create: 2,
        flows: 2,
    };
    let mut run = Run::<S, D>::start(sc, make);
    let mut r = run.reports(2, 2);
    r.sort_by_key(|x| x.1);
    let got: Vec<_> = r.iter().map(|x| (x.1, x.2.get("value"))).collect();
    assert_eq!(got, vec![(1, Some(10)), (2, Some(20))]);
    run.finish();
}

const UPDATE: &str = "(def (Report (volatile cwnd 0) (volatile rate 0) (volatile acked 0)))
(when true
    (:= Report.cwnd Cwnd)
    (:= Report.rate Rate)
    (:= Report.acked Ack.bytes_acked)
    (fallthrough)
)
(when (== Cwnd 42)
    (report)
)";

pub fn update<D: DatapathSide, S: AgentSide>(make: impl FnOnce(RecAlg) -> S) {
    let sc = Scenario {
        src: UPDATE,
        setup: |dp| {
            dp.set_program("prog", None).expect("known program");
            dp.update_fields(&[("Cwnd", 42), ("Rate", 10)])
                .expect("Cwnd and Rate are updatable");
        },
        replies_per_create: 2,
        flows: 1,
    };
    let mut run = Run::<S, D>::start(sc, make);
    let r = run.reports(1, 3);
    assert_eq!(r[0].0, STEP_US, "the very next invocation reports");
    assert_eq!(r[0].2.get("cwnd"), Some(42));
    assert_eq!(r[0].2.get("rate"), Some(10));
    // libccp is a legacy datapath: Cwnd is only readable through a report variable. Our
    // datapath appends Cwnd and Rate (REPORT_CWND_RATE): the report has them too.
    assert_eq!(r[0].3, D::REPORTS_CWND);
    assert_eq!(r[0].2.cwnd_rate, D::REPORTS_CWND.then_some((42, 10)));
    assert_eq!(run.lib.last_cwnd_rate(), (42, 10));
    run.finish();
}

const VOLATILE: &str = "(def
    (volatile vctl 0)
    (Report (volatile foo 0) (bar 0) (volatile sum 0))
    (nctl 0)
)
(when true
    (:= Report.foo (+ Report.foo 1))
    (:= Report.bar (+ Report.bar 1))
    (:= vctl (+ vctl 1))
    (:= nctl (+ nctl 1))
    (:= Report.sum (+ vctl nctl))
    (fallthrough)
)
(when (== Report.foo 10)
    (report)
)";

pub fn volatile<D: DatapathSide, S: AgentSide>(make: impl FnOnce(RecAlg) -> S) {
    let sc = Scenario {
        src: VOLATILE,
        setup: |dp| dp.set_program("prog", None).expect("known program"),
        replies_per_create: 1,
        flows: 1,
    };
    let mut run = Run::<S, D>::start(sc, make);
    let r = run.reports(2, 25);
    let got: Vec<_> = r
        .iter()
        .map(|x| {
            (
                x.0 / STEP_US,
                x.2.get("foo"),
                x.2.get("bar"),
                x.2.get("sum"),
            )
        })
        .collect();
    // Volatile variables restart after each report; non-volatile ones keep counting.
    assert_eq!(
        got,
        vec![
            (10, Some(10), Some(10), Some(20)),
            (20, Some(10), Some(20), Some(30))
        ]
    );
    run.finish();
}
