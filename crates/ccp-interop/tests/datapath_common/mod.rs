//! Shared harness of the `datapath_*` tests: a small test algorithm written against
//! portus 0.9 (reporting what it sees through a channel), and a mock datapath built on our
//! `ccp-datapath` library with a virtual clock, over portus's channel transport or a real
//! unix socket.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ccp_datapath::{Callbacks, Config, Datapath, DatapathInfo, Primitives, SendError, Sid};
use ccp_ipc::Ipc;
use crossbeam_channel::{Receiver, Sender};
use portus::ipc::{BackendBuilder, Blocking};
use portus::lang::Scope;
use portus::{CongAlg, DatapathTrait, Flow, Report};

/// How long any single wait for the other side may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// What the portus-side test algorithm observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `new_flow` for this sid (after `install` sent CHANGE_PROG and updates).
    Created(u32),
    /// `on_report`, with every report variable decoded through the flow's scope.
    Report {
        /// Connection.
        sid: u32,
        /// Report variables by name.
        fields: BTreeMap<String, u64>,
    },
    /// `close`.
    Closed(u32),
}

/// One scenario: the programs, what the flow does when created, and which report
/// variables to decode.
#[derive(Clone, Copy)]
pub struct Scenario {
    /// Program name and source.
    pub program: (&'static str, &'static str),
    /// Report variable names to decode.
    pub fields: &'static [&'static str],
    /// Called in `new_flow`: typically `set_program` and updates.
    pub install: fn(&mut dyn DatapathTrait) -> Option<Scope>,
    /// Called in `on_report` after the event was recorded: further updates.
    pub on_report: fn(&mut dyn DatapathTrait, &Scope, &BTreeMap<String, u64>),
}

fn no_reaction(_: &mut dyn DatapathTrait, _: &Scope, _: &BTreeMap<String, u64>) {}

impl Scenario {
    /// A scenario without report reaction.
    pub const fn new(
        program: (&'static str, &'static str),
        fields: &'static [&'static str],
        install: fn(&mut dyn DatapathTrait) -> Option<Scope>,
    ) -> Scenario {
        Scenario {
            program,
            fields,
            install,
            on_report: no_reaction,
        }
    }
}

/// The portus algorithm.
pub struct TestAlg {
    pub scenario: Scenario,
    pub events: Sender<Event>,
}

/// Its flows.
pub struct TestFlow<I: portus::ipc::Ipc> {
    dp: portus::Datapath<I>,
    sc: Option<Scope>,
    sid: u32,
    scenario: Scenario,
    events: Sender<Event>,
}

impl<I: portus::ipc::Ipc> CongAlg<I> for TestAlg {
    type Flow = TestFlow<I>;

    fn name() -> &'static str {
        "datapath-interop-test"
    }

    fn datapath_programs(&self) -> HashMap<&'static str, String> {
        HashMap::from([(self.scenario.program.0, self.scenario.program.1.to_owned())])
    }

    fn new_flow(
        &self,
        mut control: portus::Datapath<I>,
        info: portus::DatapathInfo,
    ) -> TestFlow<I> {
        let sc = (self.scenario.install)(&mut control);
        let _ = self.events.send(Event::Created(info.sock_id));
        TestFlow {
            dp: control,
            sc,
            sid: info.sock_id,
            scenario: self.scenario,
            events: self.events.clone(),
        }
    }
}

impl<I: portus::ipc::Ipc> Flow for TestFlow<I> {
    fn on_report(&mut self, sock_id: u32, m: Report) {
        let Some(sc) = self.sc.as_ref() else { return };
        let fields: BTreeMap<String, u64> = self
            .scenario
            .fields
            .iter()
            .filter_map(|n| m.get_field(n, sc).ok().map(|v| ((*n).to_owned(), v)))
            .collect();
        (self.scenario.on_report)(&mut self.dp, sc, &fields);
        let _ = self.events.send(Event::Report {
            sid: sock_id,
            fields,
        });
    }

    fn close(&mut self) {
        let _ = self.events.send(Event::Closed(self.sid));
    }
}

/// Start portus with `scenario` on `sock`; returns its handle and the event receiver.
pub fn start_portus<I>(sock: I, scenario: Scenario) -> (portus::CCPHandle, Receiver<Event>)
where
    I: portus::ipc::Ipc + Sync,
{
    let (tx, rx) = crossbeam_channel::unbounded();
    let handle = portus::RunBuilder::new(BackendBuilder { sock })
        .default_alg(TestAlg {
            scenario,
            events: tx,
        })
        .spawn_thread()
        .run()
        .expect("portus starts");
    (handle, rx)
}

/// How the mock datapath reaches the agent.
pub enum Link {
    /// portus's in-process channel.
    Chan {
        to_agent: Sender<Vec<u8>>,
        from_agent: Receiver<Vec<u8>>,
    },
    /// A unix datagram socket bound by the datapath, sending to the agent's path.
    Unix {
        sock: ccp_ipc::unix::UnixSocket,
        agent: PathBuf,
    },
}

/// A connected pair: portus on a channel, the link for our datapath.
pub fn chan_pair() -> (portus::ipc::chan::Socket<Blocking>, Link) {
    let (to_agent, agent_rx) = crossbeam_channel::unbounded();
    let (agent_tx, from_agent) = crossbeam_channel::unbounded();
    (
        portus::ipc::chan::Socket::<Blocking>::new(agent_tx, agent_rx),
        Link::Chan {
            to_agent,
            from_agent,
        },
    )
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique name for sockets of this test process.
pub fn unique(tag: &str) -> String {
    format!(
        "h7-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// portus bound at `/tmp/ccp/<name>` and our datapath's socket at `/tmp/ccp/<name>-dp`.
pub fn unix_pair(name: &str) -> (portus::ipc::unix::Socket<Blocking>, Link) {
    let agent_sock = portus::ipc::unix::Socket::<Blocking>::new(name).expect("portus binds");
    let link = unix_link(name);
    (agent_sock, link)
}

/// Our datapath's socket, talking to the agent at `/tmp/ccp/<name>`.
pub fn unix_link(name: &str) -> Link {
    let path = PathBuf::from(format!("/tmp/ccp/{name}-dp"));
    let sock =
        ccp_ipc::unix::UnixSocket::bind(&path, ccp_ipc::Mode::Nonblocking).expect("datapath binds");
    Link::Unix {
        sock,
        agent: ccp_ipc::agent_socket_path(name),
    }
}

impl Link {
    fn send(&self, msg: &[u8]) -> Result<(), SendError> {
        match self {
            Link::Chan { to_agent, .. } => to_agent
                .send(msg.to_vec())
                .map_err(|_| SendError::Unreachable("channel closed".into())),
            Link::Unix { sock, agent } => sock
                .send_to(msg, agent)
                .map_err(|e| SendError::Unreachable(e.to_string())),
        }
    }

    /// Next message, waiting at most [`WAIT`] for it.
    pub fn recv_blocking(&self) -> Option<Vec<u8>> {
        match self {
            Link::Chan { from_agent, .. } => from_agent.recv_timeout(WAIT).ok(),
            Link::Unix { sock, .. } => {
                sock.set_mode(ccp_ipc::Mode::Blocking(WAIT)).ok()?;
                let m = self.try_recv();
                sock.set_mode(ccp_ipc::Mode::Nonblocking).ok()?;
                m
            }
        }
    }

    /// Next queued message, without waiting.
    pub fn try_recv(&self) -> Option<Vec<u8>> {
        match self {
            Link::Chan { from_agent, .. } => from_agent.try_recv().ok(),
            Link::Unix { sock, .. } => {
                let mut buf = vec![0u8; ccp_ipc::RECV_BUF_LEN];
                match sock.recv_from(&mut buf) {
                    Ok(Some((n, _))) => {
                        buf.truncate(n);
                        Some(buf)
                    }
                    _ => None,
                }
            }
        }
    }
}

/// The mock datapath's callbacks: virtual µs clock, per-flow cwnd/rate echoed into the
/// next primitives (like portus's libccp mock).
pub struct MockDp {
    pub link: Link,
    pub now_us: u64,
    pub cwnd: HashMap<Sid, u64>,
    pub rate: HashMap<Sid, u64>,
    pub cwnd_calls: u64,
}

impl Callbacks for MockDp {
    type Conn = ();

    fn set_cwnd(&mut self, sid: Sid, _: &mut (), cwnd: u64) {
        self.cwnd.insert(sid, cwnd);
        self.cwnd_calls += 1;
    }

    fn set_rate_abs(&mut self, sid: Sid, _: &mut (), rate: u64) {
        self.rate.insert(sid, rate);
    }

    fn send_msg(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.link.send(msg)
    }

    fn now(&self) -> u64 {
        self.now_us
    }
}

/// Our datapath with its mock callbacks.
pub type Dp = Datapath<MockDp>;

/// `ccp_init` our datapath on `link` at virtual time 1 s.
pub fn datapath(link: Link, cfg: Config) -> Dp {
    Datapath::init(
        cfg,
        MockDp {
            link,
            now_us: 1_000_000,
            cwnd: HashMap::new(),
            rate: HashMap::new(),
            cwnd_calls: 0,
        },
    )
    .expect("valid config")
}

/// The flow info of the portus integration tests' mock connections.
pub fn flow_info() -> DatapathInfo {
    DatapathInfo {
        init_cwnd: 15_000,
        mss: 1500,
        src_ip: 0,
        src_port: 1,
        dst_ip: 2,
        dst_port: 3,
    }
}

/// The primitives of the portus integration tests (bytes_acked 5, rtt 2, …), with the
/// flow's current cwnd/rate echoed back.
pub fn prims(dp: &Dp, sid: Sid) -> Primitives {
    let cb = dp.callbacks();
    Primitives {
        packets_acked: 0,
        rtt_sample_us: 2,
        bytes_acked: 5,
        packets_misordered: 10,
        bytes_misordered: 100,
        lost_pkts_sample: 52,
        packets_in_flight: 100,
        rate_outgoing: 30,
        rate_incoming: 20,
        snd_cwnd: cb.cwnd.get(&sid).copied().unwrap_or(0) as u32,
        snd_rate: cb.rate.get(&sid).copied().unwrap_or(0),
        ..Primitives::default()
    }
}

/// Hand every queued agent message to the datapath; returns how many.
pub fn drain(dp: &mut Dp) -> usize {
    let mut n = 0;
    while let Some(m) = dp.callbacks().link.try_recv() {
        let _ = dp.read_msg(&m);
        n += 1;
    }
    n
}

/// Wait (bounded) for the next event from the algorithm.
pub fn next_event(rx: &Receiver<Event>) -> Event {
    rx.recv_timeout(WAIT)
        .expect("the agent answered within the bound")
}

/// Wait until `sid` was created by the agent (its CHANGE_PROG and updates are then queued
/// for us), and hand the queued messages to the datapath.
pub fn await_created(dp: &mut Dp, rx: &Receiver<Event>, sid: Sid) {
    loop {
        match next_event(rx) {
            Event::Created(s) if s == sid => break,
            _ => {}
        }
    }
    drain(dp);
}

/// Invoke `sid` once at the current virtual time; if it sent a report, wait for the
/// agent's `on_report` (so its answers are queued), hand them to the datapath and return
/// the report's fields.
pub fn step(dp: &mut Dp, rx: &Receiver<Event>, sid: Sid) -> Option<BTreeMap<String, u64>> {
    let before = dp.stats().reports_sent;
    let p = prims(dp, sid);
    let _ = dp.invoke(sid, &p);
    if dp.stats().reports_sent == before {
        drain(dp);
        return None;
    }
    let fields = loop {
        match next_event(rx) {
            Event::Report { sid: s, fields } if s == sid => break fields,
            _ => {}
        }
    };
    drain(dp);
    Some(fields)
}

/// Advance the virtual clock.
pub fn advance(dp: &mut Dp, us: u64) {
    dp.callbacks_mut().now_us += us;
}

// ---------------------------------------------------------------------------------------
// The example C datapath.

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/ccp-interop is two levels down")
        .to_path_buf()
}

/// The static library cargo built for the `ccp-datapath-ffi` dev-dependency (it sits next
/// to this test binary).
pub fn static_lib() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps dir");
    for dir in [deps, deps.parent().unwrap_or(deps)] {
        let p = dir.join("libccp_datapath_ffi.a");
        if p.exists() {
            return p;
        }
    }
    panic!("libccp_datapath_ffi.a not found next to {}", exe.display());
}

/// Compile `examples/c-datapath/mock_datapath.c` into `out`.
pub fn compile_c_example(out: &Path) {
    let root = workspace_root();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args([
            "-O1",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-std=c11",
            "-D_POSIX_C_SOURCE=200809L",
        ])
        .arg("-I")
        .arg(root.join("crates/ccp-datapath-ffi/include"))
        .arg("-o")
        .arg(out)
        .arg(root.join("examples/c-datapath/mock_datapath.c"))
        .arg(static_lib())
        .args(["-lpthread", "-ldl", "-lm", "-lrt", "-lutil", "-lgcc_s"])
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(status.success(), "compiling the C example failed");
}
