//! Agent benchmarks, ours (`ccp-agent`) vs portus 0.9, in one run on the same machine,
//! both over unix datagram sockets with the same program and the same `on_report` work
//! (read `Report.acked`, send `Cwnd` via UPDATE_FIELDS). The driver (the datapath side) is
//! the same code for every agent.
//!
//! 1. Round trip: the driver sends MEASURE and waits for the UPDATE_FIELDS, sleeping in
//!    `recv` or busy-polling its socket (two tables); p50/p90/p99/p99.9 over `--rtt N`
//!    round trips (default 100,000).
//! 2. Throughput: reports handled per second with 1, 100 and 10,000 flows (CREATEd
//!    first). One busy-polling driver thread keeps `--window` MEASUREs unanswered
//!    (non-blocking `sendmmsg`/`recvmmsg`), so that the agent, not the driver, is the
//!    bottleneck; every MEASURE must be answered (the answered column counts them).
//!
//! Agents: ours with its default transport (adaptive spin of 50 µs before sleeping;
//! `--spin-us N|forever` changes it), ours without spinning (`--spin-us 0`, sleeps as
//! soon as its queue is empty, like portus), portus.
//!
//! Run: `cargo bench -p ccp-interop --bench agent_vs_portus [-- --rtt N --reports N
//! --rounds N --window N --spin-us N --rtt-only --throughput-only]`. Prints tables;
//! asserts nothing about speed.

use std::collections::HashMap;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, UnixAddr, recv, recvmmsg, sendmmsg,
};
use portus::DatapathTrait;
use portus::ipc::Ipc as PortusIpc;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd};

/// MEASUREs per `sendmmsg` and UPDATEs per `recvmmsg` in the throughput driver (the
/// kernel queues at most `net.unix.max_dgram_qlen` + 1 = 11 datagrams per socket here).
const DRIVER_BATCH: usize = 8;

const PROGRAM: &str = "(def (Report (volatile acked 0)))
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (report)
)";

// ------------------------------------------------------------------ our algorithm

struct Ours;
struct OursFlow(ccp_agent::Datapath);

impl ccp_agent::CongAlg for Ours {
    type Flow = OursFlow;
    fn name(&self) -> &str {
        "bench"
    }
    fn datapath_programs(&self) -> ccp_agent::Programs {
        [("bench".to_string(), PROGRAM.to_string())]
            .into_iter()
            .collect()
    }
    fn new_flow(&self, mut dp: ccp_agent::Datapath, _: ccp_agent::DatapathInfo) -> OursFlow {
        dp.set_program("bench", None).expect("program exists");
        OursFlow(dp)
    }
}

impl ccp_agent::Flow for OursFlow {
    fn on_report(&mut self, _sid: u32, r: ccp_agent::Report<'_>) {
        let acked = r.get_field("Report.acked").unwrap_or(0) as u32;
        let _ = self
            .0
            .update_field("Cwnd", u64::from(acked.wrapping_mul(2)));
    }
}

// ------------------------------------------------------------------ portus algorithm

struct Portus;
struct PortusFlow<I: PortusIpc> {
    dp: portus::Datapath<I>,
    sc: portus::lang::Scope,
}

impl<I: PortusIpc> portus::CongAlg<I> for Portus {
    type Flow = PortusFlow<I>;
    fn name() -> &'static str {
        "bench"
    }
    fn datapath_programs(&self) -> HashMap<&'static str, String> {
        [("bench", PROGRAM.to_string())].into_iter().collect()
    }
    fn new_flow(&self, mut dp: portus::Datapath<I>, _: portus::DatapathInfo) -> PortusFlow<I> {
        let sc = dp.set_program("bench", None).expect("program exists");
        PortusFlow { dp, sc }
    }
}

impl<I: PortusIpc> portus::Flow for PortusFlow<I> {
    fn on_report(&mut self, _sid: u32, m: portus::Report) {
        let acked = m.get_field("Report.acked", &self.sc).unwrap_or(0) as u32;
        let _ = self
            .dp
            .update_field(&self.sc, &[("Cwnd", acked.wrapping_mul(2))]);
    }
}

// ------------------------------------------------------------------ agents under test

enum Running {
    Ours(ccp_agent::AgentHandle),
    Portus(portus::CCPHandle),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Which {
    /// Our agent with its default transport (batched `recvmmsg`/`sendmmsg`, reply
    /// sockets, adaptive 50 µs spin before sleeping).
    Ours,
    /// Our agent without spinning.
    OursNoSpin,
    Portus,
}

const ALL: [Which; 3] = [Which::Ours, Which::OursNoSpin, Which::Portus];

impl Which {
    fn label(self) -> String {
        match self {
            Which::Ours => match spin_setting() {
                ccp_agent::UnixTransport::SPIN_FOREVER => {
                    "ccp-agent, --spin-us forever (busy-poll)".into()
                }
                ccp_agent::UnixTransport::DEFAULT_SPIN => {
                    "ccp-agent (default: adaptive spin 50 µs)".into()
                }
                d => format!("ccp-agent, adaptive spin {} µs", d.as_micros()),
            },
            Which::OursNoSpin => "ccp-agent, --spin-us 0 (no spin)".into(),
            Which::Portus => "portus 0.9".into(),
        }
    }
    fn tag(self) -> &'static str {
        match self {
            Which::Ours => "ours",
            Which::OursNoSpin => "oursnospin",
            Which::Portus => "portus",
        }
    }
}

/// The spin of the default `Ours` agent: `--spin-us N|forever` (default
/// [`ccp_agent::UnixTransport::DEFAULT_SPIN`]).
fn spin_setting() -> Duration {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--spin-us")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| ccp_agent::UnixTransport::parse_spin(v))
        .unwrap_or(ccp_agent::UnixTransport::DEFAULT_SPIN)
}

fn tids() -> Vec<u64> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// CPU time (ns) thread `tid` of this process has run (first field of schedstat).
fn cpu_ns(tid: u64) -> u64 {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Start an agent; returns it, its socket path and its thread id.
fn start(which: Which, name: &str) -> (Running, PathBuf, u64) {
    let before = tids();
    let (run, path) = start_inner(which, name);
    let tid = tids()
        .into_iter()
        .find(|t| !before.contains(t))
        .unwrap_or(0);
    (run, path, tid)
}

fn start_inner(which: Which, name: &str) -> (Running, PathBuf) {
    let path = ccp_ipc::agent_socket_path(name);
    match which {
        Which::Ours | Which::OursNoSpin => {
            let sock = ccp_ipc::unix::UnixSocket::agent(name, ccp_ipc::Mode::Nonblocking)
                .expect("bind our agent");
            let spin = if which == Which::Ours {
                spin_setting()
            } else {
                ccp_agent::UnixTransport::NO_SPIN
            };
            let h = ccp_agent::RunBuilder::new(ccp_agent::UnixTransport::new(sock, spin))
                .default_alg(Ours)
                .spawn_thread()
                .expect("start our agent");
            (Running::Ours(h), path)
        }
        Which::Portus => {
            let sock =
                portus::ipc::unix::Socket::<portus::ipc::Blocking>::new(name).expect("bind portus");
            let h = portus::RunBuilder::new(portus::ipc::BackendBuilder { sock })
                .default_alg(Portus)
                .spawn_thread()
                .run()
                .expect("start portus");
            (Running::Portus(h), path)
        }
    }
}

fn stop(r: Running, path: &Path) {
    match r {
        Running::Ours(h) => {
            h.kill();
            let s = h.wait().expect("our agent stops cleanly");
            assert_eq!(s.stats.dropped(), 0, "our agent dropped messages: {s:?}");
            println!(
                "|  | (ccp-agent: {} datagrams in {} receive rounds, {:.1} per recvmmsg) | | | |",
                s.stats.datagrams,
                s.batches,
                s.stats.datagrams as f64 / s.batches.max(1) as f64
            );
        }
        Running::Portus(h) => {
            h.kill();
            let _ = h.wait();
            // portus leaves its socket file behind.
            let _ = std::fs::remove_file(path);
        }
    }
}

// ------------------------------------------------------------------ the driver (datapath side)

fn header(t: u16, len: usize, sid: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&t.to_le_bytes());
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(&sid.to_le_bytes());
}

fn ready_msg() -> Vec<u8> {
    let mut m = Vec::new();
    header(5, 12, 0, &mut m);
    m.extend_from_slice(&1u32.to_le_bytes());
    m
}

fn create_msg(sid: u32) -> Vec<u8> {
    let mut m = Vec::new();
    header(0, 96, sid, &mut m);
    for v in [14_600u32, 1460, 0, 0, 0, 0] {
        m.extend_from_slice(&v.to_le_bytes());
    }
    m.resize(96, 0);
    m
}

fn measure_into(sid: u32, uid: u32, acked: u64, m: &mut Vec<u8>) {
    m.clear();
    header(1, 24, sid, m);
    m.extend_from_slice(&uid.to_le_bytes());
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&acked.to_le_bytes());
}

fn msg_type(m: &[u8]) -> u16 {
    u16::from_le_bytes([m[0], m[1]])
}

struct Driver {
    /// Bound at `path`, not connected (like spec §5.1 datapaths): receives the answers.
    sock: UnixDatagram,
    /// Bound under the same name before `sock` (its file then removed) and connected to
    /// the agent: sends MEASUREs without a per-datagram path lookup, and they still come
    /// from `path`.
    tx: UnixDatagram,
    path: PathBuf,
}

impl Driver {
    fn new(tag: &str, agent: &Path) -> Driver {
        let path =
            ccp_ipc::default_socket_dir().join(format!("h6-bench-dp-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        // The send socket first: bound at `path`, whose file is then removed so that
        // `sock` can bind there; datagrams from `tx` still carry `path` as their sender.
        let tx = UnixDatagram::bind(&path).expect("bind driver send socket");
        std::fs::remove_file(&path).expect("unlink driver send socket");
        let sock = UnixDatagram::bind(&path).expect("bind driver");
        // Connected send socket: the driver's sends skip the per-datagram path lookup
        // (a cheaper driver, the same for every agent). The receiving socket stays
        // unconnected, as datapaths do (spec §5.1), so an agent may answer from any of
        // its sockets.
        tx.connect(agent).expect("agent socket exists");
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Driver { sock, tx, path }
    }

    fn send(&self, m: &[u8]) {
        self.tx.send(m).expect("agent reachable");
    }

    fn recv<'a>(&self, buf: &'a mut [u8]) -> &'a [u8] {
        let (n, _) = self.sock.recv_from(buf).expect("agent answers within 10 s");
        &buf[..n]
    }

    /// READY, then CREATE `flows` flows (at most 8 unanswered at a time); returns the
    /// program uid the agent switched them to.
    fn setup(&self, flows: u32) -> u32 {
        let mut buf = vec![0u8; 65_536];
        self.send(&ready_msg());
        let mut uid = 0;
        let (mut sent, mut done) = (0u32, 0u32);
        while done < flows {
            while sent < flows && sent - done < 8 {
                sent += 1;
                self.send(&create_msg(sent));
            }
            let m = self.recv(&mut buf);
            if msg_type(m) == 4 {
                uid = u32::from_le_bytes([m[8], m[9], m[10], m[11]]);
                done += 1;
            }
        }
        uid
    }

    /// `n` round trips: send a MEASURE, wait for the UPDATE_FIELDS. With `poll`, the
    /// driver busy-polls its socket for the reply (non-blocking receives) instead of
    /// sleeping in `recv`.
    fn round_trips(&self, uid: u32, n: usize, poll: bool, hist: &mut Histogram<u64>) {
        let mut buf = vec![0u8; 65_536];
        let mut m = Vec::with_capacity(64);
        let deadline_after = Duration::from_secs(10);
        for i in 0..n {
            measure_into(1, uid, 1000 + i as u64 % 1000, &mut m);
            let t = Instant::now();
            self.send(&m);
            if poll {
                loop {
                    match recv(self.sock.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                        Ok(k) if k >= 2 && msg_type(&buf[..k]) == 3 => break,
                        Ok(_) => {}
                        Err(nix::errno::Errno::EAGAIN) => {
                            assert!(t.elapsed() < deadline_after, "agent answers within 10 s");
                            std::hint::spin_loop();
                        }
                        Err(e) => panic!("driver receive failed: {e}"),
                    }
                }
            } else {
                loop {
                    if msg_type(self.recv(&mut buf)) == 3 {
                        break;
                    }
                }
            }
            let _ = hist.record(t.elapsed().as_nanos() as u64);
        }
    }

    /// Send `reports` MEASUREs round-robin over `flows` flows and count the UPDATE_FIELDS
    /// answering them, from one busy-polling thread that keeps up to `window` MEASUREs
    /// unanswered: `sendmmsg` (non-blocking; a full agent queue just means "later") and
    /// `recvmmsg` of whatever answers are queued, in batches of [`DRIVER_BATCH`].
    /// Returns (reports/s, answers received). The driver thread never sleeps, so the
    /// agent never has to wake it, and it has a CPU of its own (2 cores: one for the
    /// agent, one for the driver).
    fn throughput(&self, uid: u32, flows: u32, reports: u64, window: u64) -> (f64, u64) {
        let fd = self.sock.as_raw_fd();
        let tx = self.tx.as_raw_fd();
        let mut sh = MultiHeaders::<UnixAddr>::preallocate(DRIVER_BATCH, None);
        // No sender addresses wanted: every answer comes from the agent.
        let mut rh = MultiHeaders::<()>::preallocate(DRIVER_BATCH, None);
        let mut msgs: Vec<Vec<u8>> = (0..DRIVER_BATCH).map(|_| Vec::with_capacity(32)).collect();
        let addrs = [None::<UnixAddr>; DRIVER_BATCH];
        let mut bufs = vec![[0u8; 64]; DRIVER_BATCH];
        let (mut sent, mut got) = (0u64, 0u64);
        // MEASUREs built but not yet accepted by the kernel.
        let (mut built_from, mut built_to) = (0usize, 0usize);
        let start = Instant::now();
        let mut last = start;
        while got < reports {
            // Refill the window.
            let room = (window - (sent - got)).min(reports - sent) as usize;
            if built_from == built_to && room > 0 {
                let n = room.min(DRIVER_BATCH);
                for (i, m) in msgs.iter_mut().take(n).enumerate() {
                    let sid = 1 + ((sent + i as u64) % u64::from(flows)) as u32;
                    measure_into(sid, uid, 1460, m);
                }
                (built_from, built_to) = (0, n);
            }
            let to_send = (built_to - built_from).min(room);
            if to_send > 0 {
                let slices: Vec<[IoSlice<'_>; 1]> = msgs[built_from..built_from + to_send]
                    .iter()
                    .map(|m| [IoSlice::new(m)])
                    .collect();
                let no_cmsgs: [ControlMessage<'_>; 0] = [];
                match sendmmsg(
                    tx,
                    &mut sh,
                    slices.iter(),
                    &addrs[..to_send],
                    no_cmsgs,
                    MsgFlags::MSG_DONTWAIT,
                ) {
                    Ok(r) => {
                        let k = r.count();
                        built_from += k;
                        sent += k as u64;
                    }
                    Err(nix::errno::Errno::EAGAIN) => {}
                    Err(e) => panic!("agent unreachable: {e}"),
                }
            }
            // Collect answers. `poll` looks at the queue without taking its lock, so the
            // driver does not contend with the agent queueing answers.
            let mut pfd = [PollFd::new(self.sock.as_fd(), PollFlags::POLLIN)];
            let ready = matches!(poll(&mut pfd, PollTimeout::ZERO), Ok(n) if n > 0);
            let lens: Vec<usize> = if !ready {
                Vec::new()
            } else {
                let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
                    bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
                match recvmmsg(fd, &mut rh, iovs.iter_mut(), MsgFlags::MSG_DONTWAIT, None) {
                    Ok(r) => r.map(|m| m.bytes).collect(),
                    Err(nix::errno::Errno::EAGAIN) => Vec::new(),
                    Err(e) => panic!("driver receive failed: {e}"),
                }
            };
            if lens.is_empty() {
                // 3 s without an answer: the rest is lost.
                if last.elapsed() > Duration::from_secs(3) {
                    break;
                }
                std::hint::spin_loop();
                continue;
            }
            for (b, n) in bufs.iter().zip(lens) {
                if n >= 2 && msg_type(&b[..n]) == 3 {
                    got += 1;
                }
            }
            last = Instant::now();
        }
        let secs = (last - start).as_secs_f64().max(1e-9);
        (got as f64 / secs, got)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

// ------------------------------------------------------------------ main

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn max_dgram_qlen() -> u64 {
    std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(10)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn main() {
    let rtt_n = arg("--rtt", 100_000) as usize;
    let reports = arg("--reports", 200_000);
    let rounds = arg("--rounds", 5).max(1);
    // The agent's socket queues at most max_dgram_qlen + 1 datagrams; twice that in flight
    // keeps it full while the agent works through the batch it took.
    let window = arg("--window", 2 * (max_dgram_qlen() + 1)).max(1);
    let only = std::env::args().any(|a| a == "--rtt-only");
    let skip_rtt = std::env::args().any(|a| a == "--throughput-only");
    let pid = std::process::id();
    println!(
        "agent benchmark: ccp-agent vs portus 0.9, unix datagram sockets; all agents run at once \
         and are measured in alternation ({rounds} rounds) so they share the machine's noise"
    );
    println!("load before: {}", loadavg());

    // 1. round trip, with a datapath that sleeps for the reply and with one that polls.
    for poll in [false, true] {
        if skip_rtt {
            break;
        }
        let how = if poll {
            "datapath busy-polls for the reply"
        } else {
            "datapath sleeps in recv for the reply"
        };
        println!(
            "\n## round trip MEASURE → on_report → UPDATE_FIELDS, {how}; {rtt_n} round trips each (after 1,000 warm-up)\n"
        );
        println!(
            "| agent | p50 µs | p90 µs | p99 µs | p99.9 µs | mean µs | agent CPU µs per round trip |"
        );
        println!("|---|---|---|---|---|---|---|");
        let mut setups = Vec::new();
        for which in ALL {
            let tag = format!("{}-rtt{}", which.tag(), u8::from(poll));
            let (run, path, tid) = start(which, &format!("h6-bench-{tag}-{pid}"));
            let d = Driver::new(&tag, &path);
            let uid = d.setup(1);
            let mut warm = Histogram::<u64>::new(3).expect("histogram");
            d.round_trips(uid, 1000, poll, &mut warm);
            let h = Histogram::<u64>::new(3).expect("histogram");
            setups.push((which, run, d, uid, h, tid, 0u64, path));
        }
        let per_round = rtt_n.div_ceil(rounds as usize);
        for _ in 0..rounds {
            for (_, _, d, uid, h, tid, cpu, _) in setups.iter_mut() {
                let c0 = cpu_ns(*tid);
                d.round_trips(*uid, per_round, poll, h);
                *cpu += cpu_ns(*tid) - c0;
            }
        }
        let mut p = HashMap::new();
        for (which, run, d, _, h, _, cpu, path) in setups {
            println!(
                "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} |",
                which.label(),
                us(h.value_at_quantile(0.5)),
                us(h.value_at_quantile(0.9)),
                us(h.value_at_quantile(0.99)),
                us(h.value_at_quantile(0.999)),
                h.mean() / 1000.0,
                cpu as f64 / 1000.0 / (per_round as f64 * rounds as f64)
            );
            p.insert(
                which,
                (
                    h.value_at_quantile(0.5) as f64,
                    h.value_at_quantile(0.99) as f64,
                ),
            );
            drop(d);
            stop(run, &path);
        }
        for w in [Which::Ours, Which::OursNoSpin] {
            let (o, q) = (p[&w], p[&Which::Portus]);
            println!(
                "| **ratio {} / portus** | **{:.2}** | | **{:.2}** | | | |",
                w.label(),
                o.0 / q.0,
                o.1 / q.1
            );
        }
    }
    if only {
        return;
    }

    // 2. throughput
    println!(
        "\n## throughput: reports handled per second (median of {rounds} rounds of {reports} MEASUREs, each answered by one UPDATE_FIELDS; busy-polling driver, {window} MEASUREs in flight)\n"
    );
    println!(
        "| flows | agent | reports/s (median) | agent CPU ns per report | agent CPU busy | answered |"
    );
    println!("|---|---|---|---|---|---|");
    for flows in [1u32, 100, 10_000] {
        let mut setups = Vec::new();
        for which in ALL {
            let (run, path, tid) =
                start(which, &format!("h6-bench-{}-tp{flows}-{pid}", which.tag()));
            let d = Driver::new(&format!("tp{flows}-{}", which.tag()), &path);
            let uid = d.setup(flows);
            // Warm-up: one report per flow (at most 10,000).
            d.throughput(uid, flows, u64::from(flows).min(10_000), window);
            setups.push((which, run, d, uid, Vec::new(), 0u64, tid, 0u64, 0f64, path));
        }
        for _ in 0..rounds {
            for (_, _, d, uid, rates, answered, tid, cpu, wall, _) in setups.iter_mut() {
                let c0 = cpu_ns(*tid);
                let t0 = Instant::now();
                let (r, got) = d.throughput(*uid, flows, reports, window);
                *wall += t0.elapsed().as_secs_f64();
                *cpu += cpu_ns(*tid) - c0;
                rates.push(r);
                *answered += got;
            }
        }
        let total = reports * rounds;
        let mut res = HashMap::new();
        for (which, run, d, _, rates, answered, _, cpu, wall, path) in setups {
            let rate = median(rates);
            let cpu_per = cpu as f64 / total as f64;
            println!(
                "| {flows} | {} | {rate:.0} | {cpu_per:.0} | {:.0} % | {answered}/{total} |",
                which.label(),
                cpu as f64 / 1e9 / wall.max(1e-9) * 100.0
            );
            res.insert(which, (rate, cpu_per));
            drop(d);
            stop(run, &path);
        }
        for w in [Which::Ours, Which::OursNoSpin] {
            let (o, q) = (res[&w], res[&Which::Portus]);
            println!(
                "| {flows} | **ratio {} / portus** | **{:.2}×** | **{:.2}×** | | |",
                w.label(),
                o.0 / q.0,
                o.1 / q.1
            );
        }
    }
    println!("\nload after: {}", loadavg());
}
