//! Our agent (`ccp-agent`) ↔ the real C libccp datapath (through the FFI harness with a
//! mock clock): the six behaviours of portus's integration suite (spec §8) — basic sum over
//! 20 invocations, preset control value, report after `Micros > 3 s`, two flows with
//! different updates, UPDATE of Cwnd/Rate visible in the next report, volatile vs
//! non-volatile variables — each run twice:
//!
//! * **direct**: the sans-IO [`Agent`] is driven from the test thread;
//! * **chan**: the agent runs in its own thread ([`RunBuilder`] + `ccp_ipc::chan`), the
//!   test thread drives libccp and waits for messages with bounded timeouts;
//!
//! plus the basic scenario over real unix sockets between two processes (this test binary
//! re-executes itself as the libccp datapath), and Reno from `ccp-algs` steering libccp.
//!
//! Mock connections are invoked every 100 ms of mock time with fixed primitives
//! (bytes_acked 5, rtt 2 µs, …), echoing the last cwnd/rate libccp set.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
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
use libccp as _;

const ACKED: u32 = 5;
const STEP_US: u64 = 100_000;
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- test algorithm

#[derive(Clone, Debug, PartialEq)]
enum Ev {
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
struct Scenario {
    src: &'static str,
    setup: fn(&mut Datapath),
    /// Messages the agent sends in answer to one CREATE.
    replies_per_create: usize,
    flows: usize,
}

struct RecAlg {
    sc: Scenario,
    tx: mpsc::Sender<Ev>,
}

struct RecFlow {
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
trait AgentSide {
    /// Hand one datapath message to the agent at mock time `now_us`.
    fn deliver(&mut self, now_us: u64, msg: &[u8]);
    /// The agent's next `n` messages to the datapath.
    fn replies(&mut self, n: usize) -> Vec<Vec<u8>>;
    /// Stop the agent; returns the number of messages it dropped.
    fn finish(self) -> u64;
}

struct Direct(Agent<()>);

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

struct Threaded {
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

fn direct(alg: impl CongAlg) -> Direct {
    Direct(
        AgentBuilder::new()
            .default_alg(alg)
            .build()
            .expect("compiles"),
    )
}

fn threaded(alg: impl CongAlg) -> Threaded {
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

fn prims(cwnd: u32, rate: u32) -> Primitives {
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

fn msg_type(m: &[u8]) -> u16 {
    u16::from_le_bytes([m[0], m[1]])
}

struct Run<S: AgentSide> {
    lib: Libccp,
    side: S,
    rx: mpsc::Receiver<Ev>,
    now: u64,
    sids: Vec<u16>,
}

impl<S: AgentSide> Run<S> {
    /// Start libccp (READY), exchange INSTALL/HELLO, start the scenario's flows.
    fn start(sc: Scenario, make: impl FnOnce(RecAlg) -> S) -> Run<S> {
        let (tx, rx) = mpsc::channel();
        let side = make(RecAlg { sc, tx });
        set_clock_us(0);
        let lib = Libccp::new(8, 10, 1, true).expect("ccp_init");
        let mut run = Run {
            lib,
            side,
            rx,
            now: 0,
            sids: Vec::new(),
        };
        assert_eq!(run.forward(), (1, 0), "READY");
        // One INSTALL + our HELLO (libccp ignores HELLO with -32).
        let codes = run.feed_replies(2);
        assert_eq!(codes, vec![0, -32]);
        for _ in 0..sc.flows {
            let sid = run.lib.start_connection(15_000, 1500).expect("slot");
            run.sids.push(sid);
            assert_eq!(run.forward(), (1, 0), "CREATE");
            let codes = run.feed_replies(sc.replies_per_create);
            assert!(codes.iter().all(|&c| c == 0), "libccp accepts {codes:?}");
        }
        run
    }

    /// Forward what libccp sent; returns (messages, reports among them).
    fn forward(&mut self) -> (usize, usize) {
        let sent: Vec<Vec<u8>> = self.lib.recorder().sent.drain(..).collect();
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
            .map(|m| self.lib.read_msg(&m).expect("defined for libccp"))
            .collect()
    }

    /// Advance the mock clock one step and invoke every flow; returns the reports sent.
    fn step(&mut self) -> usize {
        self.now += STEP_US;
        set_clock_us(self.now);
        let (c, r) = {
            let rec = self.lib.recorder();
            (rec.last_cwnd, rec.last_rate)
        };
        for &sid in &self.sids.clone() {
            let code = self.lib.invoke(sid, &prims(c, r)).expect("known sid");
            assert_eq!(code, 0, "ccp_invoke");
        }
        self.forward().1
    }

    /// Step until `n` reports have been delivered (at most `max_steps` steps); returns
    /// them with the mock time (µs) of the step that produced each.
    fn reports(&mut self, n: usize, max_steps: usize) -> Vec<(u64, u32, OwnedReport, bool)> {
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
    fn finish(mut self) {
        for sid in self.sids.clone() {
            self.lib.free_connection(sid).expect("known sid");
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
        let want: Vec<u32> = self.sids.iter().map(|&s| u32::from(s)).collect();
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

fn basic_scenario() -> Scenario {
    Scenario {
        src: BASIC,
        setup: |dp| dp.set_program("prog", None).expect("known program"),
        replies_per_create: 1,
        flows: 1,
    }
}

fn basic<S: AgentSide>(make: impl FnOnce(RecAlg) -> S) {
    let mut run = Run::start(basic_scenario(), make);
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

fn preset<S: AgentSide>(make: impl FnOnce(RecAlg) -> S) {
    let sc = Scenario {
        src: PRESET,
        setup: |dp| {
            dp.set_program("prog", Some(&[("preset", 52)]))
                .expect("known program")
        },
        replies_per_create: 1,
        flows: 1,
    };
    let mut run = Run::start(sc, make);
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

fn timing<S: AgentSide>(make: impl FnOnce(RecAlg) -> S) -> Vec<(u64, u32, OwnedReport, bool)> {
    let sc = Scenario {
        src: TIMING,
        setup: |dp| dp.set_program("prog", None).expect("known program"),
        replies_per_create: 1,
        flows: 1,
    };
    let mut run = Run::start(sc, make);
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

fn twoflow<S: AgentSide>(make: impl FnOnce(RecAlg) -> S) {
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
    let mut run = Run::start(sc, make);
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

fn update<S: AgentSide>(make: impl FnOnce(RecAlg) -> S) {
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
    let mut run = Run::start(sc, make);
    let r = run.reports(1, 3);
    assert_eq!(r[0].0, STEP_US, "the very next invocation reports");
    assert_eq!(r[0].2.get("cwnd"), Some(42));
    assert_eq!(r[0].2.get("rate"), Some(10));
    // libccp is a legacy datapath: Cwnd is only readable through a report variable.
    assert!(!r[0].3);
    assert_eq!(r[0].2.cwnd_rate, None);
    let rec = run.lib.recorder();
    assert_eq!((rec.last_cwnd, rec.last_rate), (42, 10));
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

fn volatile<S: AgentSide>(make: impl FnOnce(RecAlg) -> S) {
    let sc = Scenario {
        src: VOLATILE,
        setup: |dp| dp.set_program("prog", None).expect("known program"),
        replies_per_create: 1,
        flows: 1,
    };
    let mut run = Run::start(sc, make);
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

#[test]
fn basic_direct() {
    basic(direct);
}
#[test]
fn basic_chan() {
    basic(threaded);
}
#[test]
fn preset_direct() {
    preset(direct);
}
#[test]
fn preset_chan() {
    preset(threaded);
}
#[test]
fn timing_direct() {
    // In direct mode the agent's clock is the mock clock: the report carries it.
    let r = timing(direct);
    assert_eq!(r[0].2.received_at, Duration::from_micros(r[0].0));
}
#[test]
fn timing_chan() {
    timing(threaded);
}
#[test]
fn twoflow_direct() {
    twoflow(direct);
}
#[test]
fn twoflow_chan() {
    twoflow(threaded);
}
#[test]
fn update_direct() {
    update(direct);
}
#[test]
fn update_chan() {
    update(threaded);
}
#[test]
fn volatile_direct() {
    volatile(direct);
}
#[test]
fn volatile_chan() {
    volatile(threaded);
}

// ---------------------------------------------------------------- Reno on libccp

#[test]
fn reno_from_ccp_algs_steers_libccp() {
    set_clock_us(0);
    let mut agent: Agent<()> = AgentBuilder::new()
        .default_alg(ccp_algs::by_name("reno").expect("built in").build())
        .build()
        .expect("reno compiles");
    let mut lib = Libccp::new(4, 10, 1, true).expect("ccp_init");
    let mut now = 0u64;
    let pump = |agent: &mut Agent<()>, lib: &mut Libccp, now: u64| {
        let sent: Vec<Vec<u8>> = lib.recorder().sent.drain(..).collect();
        for m in &sent {
            agent.handle(Duration::from_micros(now), &(), m);
        }
        for (_, m) in agent.take_transmits() {
            let code = lib.read_msg(&m).expect("defined");
            assert!(code == 0 || code == -32, "libccp code {code}");
        }
    };
    pump(&mut agent, &mut lib, now);
    let sid = lib.start_connection(14_600, 1460).expect("slot");
    pump(&mut agent, &mut lib, now);
    // One RTT = 10 ms; one ACK of 1 MSS per ms; no loss.
    let ack = |cwnd: u32, lost: u32| Primitives {
        bytes_acked: 1460,
        packets_acked: 1,
        rtt_sample_us: 10_000,
        lost_pkts_sample: lost,
        snd_cwnd: cwnd,
        bytes_in_flight: cwnd,
        ..Primitives::default()
    };
    let mut cwnds = Vec::new();
    for _ in 0..100 {
        now += 1000;
        set_clock_us(now);
        let c = lib.recorder().last_cwnd;
        assert_eq!(lib.invoke(sid, &ack(c, 0)).expect("sid"), 0);
        pump(&mut agent, &mut lib, now);
        cwnds.push(lib.recorder().last_cwnd);
    }
    let grown = *cwnds.last().expect("100 steps");
    // Initial window applied by CHANGE_PROG, then slow start: one MSS per acked MSS.
    assert_eq!(cwnds[0], 14_600);
    assert!(
        grown > 14_600 + 50 * 1460,
        "slow start grew cwnd to {grown}"
    );
    assert!(
        cwnds.windows(2).all(|w| w[1] >= w[0]),
        "no loss: never shrinks"
    );
    // A loss is reported at once and halves the window the agent last set (which libccp
    // applies at the start of this invocation); the halved window is applied at the next.
    now += 1000;
    set_clock_us(now);
    assert_eq!(lib.invoke(sid, &ack(grown, 1)).expect("sid"), 0);
    let before = lib.recorder().last_cwnd;
    assert!(before >= grown);
    pump(&mut agent, &mut lib, now);
    now += 1000;
    set_clock_us(now);
    assert_eq!(lib.invoke(sid, &ack(before, 0)).expect("sid"), 0);
    assert_eq!(lib.recorder().last_cwnd, before / 2);
    assert!(agent.stats().reports > 5);
    assert_eq!(agent.stats().dropped(), 0);
}

// ---------------------------------------------------------------- two processes, unix sockets

const CHILD_ENV: &str = "CCP_H6_AGENT_TEST_PATHS";
static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_path(what: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    ccp_ipc::default_socket_dir().join(format!("h6-test-{what}-{}-{n}", std::process::id()))
}

/// Helper for [`basic_over_unix_sockets_between_two_processes`]: when started by it
/// (environment variable set), this process is a libccp datapath on a unix socket. Without
/// the variable it has nothing to do.
#[test]
#[ignore = "helper process of basic_over_unix_sockets_between_two_processes"]
fn child_libccp_datapath() {
    let Ok(paths) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (agent, dp) = paths.split_once('|').expect("agent|datapath paths");
    let agent = PathBuf::from(agent);
    let sock = ccp_ipc::unix::UnixSocket::bind(dp, Mode::Blocking(WAIT)).expect("bind");
    set_clock_us(0);
    let mut lib = Libccp::new(4, 10, 1, true).expect("ccp_init");
    let mut buf = vec![0u8; ccp_ipc::RECV_BUF_LEN];
    let forward = |lib: &mut Libccp| {
        for m in lib.recorder().sent.drain(..) {
            sock.send_to(&m, &agent).expect("agent reachable");
        }
    };
    // Receive until a message of type `until` has been handed to libccp.
    let recv_until = |lib: &mut Libccp, buf: &mut [u8], until: u16| loop {
        let (n, _) = sock
            .recv_from(buf)
            .expect("recv")
            .expect("agent answered in time");
        let m = &buf[..n];
        lib.read_msg(m).expect("defined");
        if msg_type(m) == until {
            return;
        }
    };
    forward(&mut lib);
    recv_until(&mut lib, &mut buf, 0x48);
    let sid = lib.start_connection(15_000, 1500).expect("slot");
    forward(&mut lib);
    recv_until(&mut lib, &mut buf, 4);
    for step in 1..=25u64 {
        set_clock_us(step * STEP_US);
        assert_eq!(lib.invoke(sid, &prims(0, 0)).expect("sid"), 0);
        forward(&mut lib);
    }
    lib.free_connection(sid).expect("sid");
    forward(&mut lib);
}

#[test]
fn basic_over_unix_sockets_between_two_processes() {
    let agent_path = unique_path("agent");
    let dp_path = unique_path("dp");
    let sock = ccp_ipc::unix::UnixSocket::bind(&agent_path, Mode::Nonblocking).expect("bind");
    let (tx, rx) = mpsc::channel();
    let handle = RunBuilder::new(sock)
        .default_alg(RecAlg {
            sc: basic_scenario(),
            tx,
        })
        .spawn_thread()
        .expect("compiles");
    let child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_libccp_datapath",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            CHILD_ENV,
            format!("{}|{}", agent_path.display(), dp_path.display()),
        )
        .output()
        .expect("spawn the datapath process");
    assert!(
        child.status.success(),
        "datapath process failed:\n{}",
        String::from_utf8_lossy(&child.stderr)
    );
    let report = match rx.recv_timeout(WAIT).expect("report") {
        Ev::Report { sid, report, .. } => {
            assert_eq!(sid, 1);
            report
        }
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(report.get("acked"), Some(u64::from(20 * ACKED)));
    assert_eq!(report.get("calls"), Some(20));
    assert_eq!(rx.recv_timeout(WAIT).expect("close"), Ev::Closed { sid: 1 });
    handle.kill();
    let summary = handle.wait().expect("clean stop");
    assert_eq!(summary.stats.reports, 1);
    assert_eq!(summary.stats.closes, 1);
    assert_eq!(summary.stats.dropped(), 0);
    assert_eq!(summary.send_errors, 0);
    assert!(!agent_path.exists(), "socket file removed at shutdown");
}
