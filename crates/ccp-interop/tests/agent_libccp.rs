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

mod agent_common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use agent_common::*;
use ccp_agent::{Agent, AgentBuilder, RunBuilder};
use ccp_interop::libccp_ffi::{Libccp, set_clock_us};
use ccp_ipc::{Ipc, Mode};
use ccp_lang::vm::Primitives;
use libccp as _;

#[test]
fn basic_direct() {
    basic::<LibccpSide, _>(direct);
}
#[test]
fn basic_chan() {
    basic::<LibccpSide, _>(threaded);
}
#[test]
fn preset_direct() {
    preset::<LibccpSide, _>(direct);
}
#[test]
fn preset_chan() {
    preset::<LibccpSide, _>(threaded);
}
#[test]
fn timing_direct() {
    // In direct mode the agent's clock is the mock clock: the report carries it.
    let r = timing::<LibccpSide, _>(direct);
    assert_eq!(r[0].2.received_at, Duration::from_micros(r[0].0));
}
#[test]
fn timing_chan() {
    timing::<LibccpSide, _>(threaded);
}
#[test]
fn twoflow_direct() {
    twoflow::<LibccpSide, _>(direct);
}
#[test]
fn twoflow_chan() {
    twoflow::<LibccpSide, _>(threaded);
}
#[test]
fn update_direct() {
    update::<LibccpSide, _>(direct);
}
#[test]
fn update_chan() {
    update::<LibccpSide, _>(threaded);
}
#[test]
fn volatile_direct() {
    volatile::<LibccpSide, _>(direct);
}
#[test]
fn volatile_chan() {
    volatile::<LibccpSide, _>(threaded);
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
    // Forward libccp's messages to the agent and the agent's to libccp; returns the last
    // Cwnd the agent sent in an UPDATE_FIELDS, if any.
    let pump = |agent: &mut Agent<()>, lib: &mut Libccp, now: u64| -> Option<u64> {
        let sent: Vec<Vec<u8>> = lib.recorder().sent.drain(..).collect();
        for m in &sent {
            agent.handle(Duration::from_micros(now), &(), m);
        }
        let mut cwnd = None;
        for (_, m) in agent.take_transmits() {
            if let Ok(ccp_wire::Message::UpdateFields(u)) = ccp_wire::Message::parse(&m) {
                cwnd = u
                    .updates
                    .iter()
                    .rfind(|f| f.kind == ccp_wire::RegKind::Implicit && f.index == 4)
                    .map(|f| f.value)
                    .or(cwnd);
            }
            let code = lib.read_msg(&m).expect("defined");
            assert!(code == 0 || code == -32, "libccp code {code}");
        }
        cwnd
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
    let mut agent_cwnd = None;
    for _ in 0..100 {
        now += 1000;
        set_clock_us(now);
        let c = lib.recorder().last_cwnd;
        assert_eq!(lib.invoke(sid, &ack(c, 0)).expect("sid"), 0);
        agent_cwnd = pump(&mut agent, &mut lib, now).or(agent_cwnd);
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
    // A loss is reported at once; the agent answers with half the window it last set, which
    // libccp applies at the next invocation.
    let before = agent_cwnd.expect("the agent updated Cwnd during slow start");
    assert!(before >= u64::from(grown));
    now += 1000;
    set_clock_us(now);
    assert_eq!(lib.invoke(sid, &ack(grown, 1)).expect("sid"), 0);
    let halved = pump(&mut agent, &mut lib, now).expect("the loss is answered");
    assert_eq!(halved, before / 2);
    now += 1000;
    set_clock_us(now);
    assert_eq!(lib.invoke(sid, &ack(grown, 0)).expect("sid"), 0);
    assert_eq!(u64::from(lib.recorder().last_cwnd), halved);
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
