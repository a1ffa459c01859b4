//! The sans-IO agent core: [`Agent::handle`] takes one received datagram, dispatches its
//! messages to the algorithms' flows, and queues what must be sent; the driver sends the
//! queue with [`Agent::drain`].

/// Hash maps keyed by small trusted values (socket ids, datapath addresses): FxHash is
/// several times cheaper than SipHash per report.
type HashMap<K, V> = rustc_hash::FxHashMap<K, V>;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ccp_wire::{
    Capabilities, CreateView, Encode, Hello, HelloView, ImplVersion, MeasureView, MessageView,
    Negotiated, ParseError, ParseOptions, Role, Splitter,
};

use crate::alg::{CongAlg, DatapathInfo, ErasedAlg, Flow};
use crate::datapath::{Datapath, FlowLink, Outbox, Shared};
use crate::programs::{Program, ProgramSet, StartError, compile_all};
use crate::report::Report;

/// Capability bit `REPORT_CWND_RATE` (issue-3 design, [`Capabilities::REPORT_CWND_RATE`]):
/// the datapath appends the connection's Cwnd and Rate after the report variables of every
/// MEASURE. Effective only when both sides announce it in their HELLO.
pub const REPORT_CWND_RATE: Capabilities = Capabilities::REPORT_CWND_RATE;

/// What the agent needs of a datapath address: the transports' `Addr` types (`PathBuf`
/// for unix sockets, `()` for netlink and channels) all qualify.
pub trait Addr: Clone + Eq + Hash + Debug + Send + 'static {}
impl<T: Clone + Eq + Hash + Debug + Send + 'static> Addr for T {}

/// Counters of everything the agent received, sent and dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed to [`Agent::handle`].
    pub datagrams: u64,
    /// Well-formed messages among them.
    pub messages: u64,
    /// READY messages.
    pub readies: u64,
    /// CREATE messages (new flows, including replacements).
    pub creates: u64,
    /// Reports delivered to flows.
    pub reports: u64,
    /// Flows closed by a close MEASURE (0 fields).
    pub closes: u64,
    /// HELLO messages from datapaths.
    pub hellos: u64,
    /// Flows replaced by a CREATE reusing their sid.
    pub replaced_flows: u64,
    /// Flows closed because their datapath sent READY again.
    pub reset_flows: u64,
    /// CREATEs requesting an algorithm name nobody registered (given the default).
    pub default_alg_fallbacks: u64,
    /// Dropped: bad header, bad length, truncated or inconsistent message, invalid name.
    pub malformed: u64,
    /// Dropped: a message only a datapath should receive (INSTALL, UPDATE_FIELDS,
    /// CHANGE_PROG) or a HELLO claiming the agent role.
    pub unexpected: u64,
    /// Dropped: unknown message type.
    pub unknown_type: u64,
    /// Dropped: MEASURE (report or close) for a datapath or sid with no flow.
    pub unknown_flow: u64,
    /// Dropped: report whose program uid is not the flow's current program.
    pub stale_reports: u64,
    /// Messages handed to the driver by [`Agent::drain`].
    pub sent: u64,
}

impl Stats {
    /// Everything dropped, all reasons together.
    pub fn dropped(&self) -> u64 {
        self.malformed
            + self.unexpected
            + self.unknown_type
            + self.unknown_flow
            + self.stale_reports
    }
}

#[derive(Clone, Copy, Debug)]
enum DropKind {
    Malformed,
    Unexpected,
    UnknownType,
    UnknownFlow,
    Stale,
}

const N_DROP_KINDS: usize = 5;
/// Log lines per kind of drop per second of agent time.
const LOG_BURST: u32 = 10;

/// Rate limiter for drop logs: at most [`LOG_BURST`] lines per kind per second.
#[derive(Clone, Copy, Debug, Default)]
struct Limiter {
    window_start: Duration,
    count: u32,
    suppressed: u64,
}

impl Limiter {
    fn allow(&mut self, now: Duration, what: &str) -> bool {
        if now.saturating_sub(self.window_start) >= Duration::from_secs(1) {
            if self.suppressed > 0 {
                tracing::warn!(
                    suppressed = self.suppressed,
                    "{what}: similar messages suppressed in the last second"
                );
            }
            self.window_start = now;
            self.count = 0;
            self.suppressed = 0;
        }
        self.count += 1;
        if self.count > LOG_BURST {
            self.suppressed += 1;
            false
        } else {
            true
        }
    }
}

struct AlgEntry {
    alg: Box<dyn ErasedAlg>,
    name: Arc<str>,
    programs: Arc<ProgramSet>,
}

struct FlowEntry {
    flow: Box<dyn Flow>,
    link: Arc<FlowLink>,
}

impl FlowEntry {
    fn close(mut self) {
        self.link.alive.store(false, Ordering::Release);
        self.flow.close();
    }
}

struct DpState {
    key: u32,
    flows: HashMap<u32, FlowEntry>,
    negotiated: Negotiated,
    /// Our HELLO was sent since this datapath's last READY.
    hello_sent: bool,
    /// The INSTALLs were sent (after READY, or on the first CREATE).
    installed: bool,
}

/// Builds an [`Agent`]: algorithms first, then [`build`](AgentBuilder::build) compiles
/// every program (uids 1, 2, … : default algorithm first, then additional ones in
/// registration order; within an algorithm by program name).
pub struct AgentBuilder {
    default: Option<Box<dyn ErasedAlg>>,
    additional: Vec<Box<dyn ErasedAlg>>,
    impl_name: String,
    log_messages: bool,
}

impl Default for AgentBuilder {
    fn default() -> Self {
        AgentBuilder::new()
    }
}

impl std::fmt::Debug for AgentBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentBuilder")
            .field(
                "default",
                &self.default.as_ref().map(|a| a.name().to_owned()),
            )
            .field(
                "additional",
                &self
                    .additional
                    .iter()
                    .map(|a| a.name().to_owned())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl AgentBuilder {
    /// No algorithms yet.
    pub fn new() -> AgentBuilder {
        AgentBuilder {
            default: None,
            additional: Vec::new(),
            impl_name: "ccp-agent".to_owned(),
            log_messages: false,
        }
    }

    /// The algorithm for flows that request no name, or a name nobody registered.
    pub fn default_alg(mut self, alg: impl CongAlg) -> Self {
        self.default = Some(Box::new(alg));
        self
    }

    /// Another algorithm, picked when a CREATE requests its name (a later registration
    /// wins over an earlier one of the same name, including the default's).
    pub fn additional_alg(mut self, alg: impl CongAlg) -> Self {
        self.additional.push(Box::new(alg));
        self
    }

    /// [`additional_alg`](Self::additional_alg) if `alg` is `Some`.
    pub fn try_additional_alg(self, alg: Option<impl CongAlg>) -> Self {
        match alg {
            Some(a) => self.additional_alg(a),
            None => self,
        }
    }

    /// Log every received and sent message at `info` level.
    pub fn log_messages(mut self, on: bool) -> Self {
        self.log_messages = on;
        self
    }

    /// The implementation name announced in HELLO (≤ 27 bytes; longer names are cut).
    pub fn impl_name(mut self, name: &str) -> Self {
        let mut end = name.len().min(ccp_wire::MAX_HELLO_NAME_LEN);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        self.impl_name = name[..end].replace('\0', "");
        self
    }

    /// Compile every program and build the agent.
    pub fn build<A: Addr>(self) -> Result<Agent<A>, StartError> {
        let default = self.default.ok_or(StartError::NoDefaultAlg)?;
        let mut algs_raw: Vec<Box<dyn ErasedAlg>> = vec![default];
        algs_raw.extend(self.additional);
        let (table, sets) = compile_all(&algs_raw)?;
        let mut by_name = HashMap::default();
        let mut algs = Vec::with_capacity(algs_raw.len());
        for (i, (alg, programs)) in algs_raw.into_iter().zip(sets).enumerate() {
            let name: Arc<str> = Arc::from(alg.name());
            by_name.insert(name.to_string(), i);
            algs.push(AlgEntry {
                alg,
                name,
                programs,
            });
        }
        let mut hello = Hello::new(
            Role::Agent,
            &self.impl_name,
            ImplVersion::parse(env!("CARGO_PKG_VERSION")).unwrap_or_default(),
        );
        hello.capabilities |= REPORT_CWND_RATE;
        // We accept anything up to our receive buffer and libccp's report limit.
        hello.max_msg_len = ccp_wire::DATAPATH_MAX_MSG_LEN as u16;
        hello.max_report_fields = (ccp_wire::MAX_REPORT_FIELDS + 2) as u16;
        hello.capabilities |= Capabilities::EXTENDED_REPORTS;
        let hello_bytes = hello.encode().map_err(|error| StartError::Encode {
            alg: String::new(),
            program: "HELLO".into(),
            error,
        })?;
        tracing::info!(
            algorithms = ?algs.iter().map(|a| a.name.to_string()).collect::<Vec<_>>(),
            programs = table.len(),
            "agent ready"
        );
        Ok(Agent {
            algs,
            by_name,
            shared: Arc::new(Shared {
                table,
                outbox: Mutex::new(Outbox::default()),
            }),
            dps: Vec::new(),
            dp_index: HashMap::default(),
            last_dp: None,
            addrs: Vec::new(),
            hello,
            hello_bytes,
            stats: Stats::default(),
            scratch: Vec::with_capacity(ccp_wire::MAX_REPORT_FIELDS),
            spare: Outbox::default(),
            limits: [Limiter::default(); N_DROP_KINDS],
            log_messages: self.log_messages,
        })
    }
}

/// The agent: algorithms, compiled programs, and the flows of every datapath it has heard
/// from, keyed by datapath address and socket id. Sans-IO: feed it datagrams with
/// [`handle`](Agent::handle), send what [`drain`](Agent::drain) hands out.
///
/// It never panics or gives up on what it receives: malformed, unexpected or out-of-order
/// messages are logged (rate-limited), counted in [`Stats`] and dropped.
pub struct Agent<A: Addr> {
    algs: Vec<AlgEntry>,
    by_name: HashMap<String, usize>,
    shared: Arc<Shared>,
    /// Datapaths by key (index = `DpState::key`, never removed).
    dps: Vec<DpState>,
    /// Key of each datapath address.
    dp_index: HashMap<A, u32>,
    /// Key of the datapath of the last message (a compare instead of hashing the address
    /// for every report: datagrams usually come in runs from one datapath).
    last_dp: Option<u32>,
    /// Address of each key.
    addrs: Vec<A>,
    hello: Hello,
    hello_bytes: Vec<u8>,
    stats: Stats,
    scratch: Vec<u64>,
    spare: Outbox,
    limits: [Limiter; N_DROP_KINDS],
    log_messages: bool,
}

impl<A: Addr> std::fmt::Debug for Agent<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field(
                "algorithms",
                &self.algs.iter().map(|a| &*a.name).collect::<Vec<_>>(),
            )
            .field("datapaths", &self.dps.len())
            .field("flows", &self.num_flows())
            .field("stats", &self.stats)
            .finish()
    }
}

impl<A: Addr> Agent<A> {
    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Number of live flows over all datapaths.
    pub fn num_flows(&self) -> usize {
        self.dps.iter().map(|d| d.flows.len()).sum()
    }

    /// Number of datapaths heard from.
    pub fn num_datapaths(&self) -> usize {
        self.dps.len()
    }

    /// The compiled programs, in uid order.
    pub fn programs(&self) -> impl Iterator<Item = &Arc<Program>> {
        self.shared.table.iter()
    }

    /// Names of the registered algorithms (default first).
    pub fn alg_names(&self) -> impl Iterator<Item = &str> {
        self.algs.iter().map(|a| &*a.name)
    }

    /// The HELLO this agent sends.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// What was negotiated with the datapath at `addr` (legacy until it sent HELLO).
    pub fn negotiated(&self, addr: &A) -> Option<Negotiated> {
        self.dp(addr).map(|d| d.negotiated)
    }

    /// Whether a flow `sid` of datapath `addr` exists.
    pub fn has_flow(&self, addr: &A, sid: u32) -> bool {
        self.dp(addr).is_some_and(|d| d.flows.contains_key(&sid))
    }

    /// Handle one received datagram from `from` (it may carry several concatenated
    /// messages). `now` is the driver's clock (any epoch; virtual time is fine): it is
    /// passed to flows in [`Report::received_at`] and paces the drop logs.
    pub fn handle(&mut self, now: Duration, from: &A, bytes: &[u8]) {
        self.stats.datagrams += 1;
        for item in Splitter::new(bytes, ParseOptions::AGENT) {
            match item {
                Ok(msg) => {
                    self.stats.messages += 1;
                    if self.log_messages {
                        tracing::info!(from = ?from, msg = ?msg.to_message(), "received");
                    }
                    match msg {
                        MessageView::Ready(_) => self.on_ready(from),
                        MessageView::Create(c) => self.on_create(from, &c),
                        MessageView::Measure(m) => self.on_measure(now, from, &m),
                        MessageView::Hello(h) => self.on_hello(now, from, &h),
                        // The AGENT parse options refuse these (they arrive as errors).
                        MessageView::Install(_)
                        | MessageView::UpdateFields(_)
                        | MessageView::ChangeProg(_) => {
                            self.dropped(now, DropKind::Unexpected, from, &"datapath-bound message")
                        }
                    }
                }
                Err(e) => {
                    let kind = match e {
                        ParseError::NotAccepted { .. } => DropKind::Unexpected,
                        ParseError::UnknownType { .. } => DropKind::UnknownType,
                        _ => DropKind::Malformed,
                    };
                    self.dropped(now, kind, from, &e);
                }
            }
        }
    }

    fn dropped(&mut self, now: Duration, kind: DropKind, from: &A, why: &dyn std::fmt::Display) {
        let (counter, what) = match kind {
            DropKind::Malformed => (&mut self.stats.malformed, "malformed message"),
            DropKind::Unexpected => (&mut self.stats.unexpected, "unexpected message"),
            DropKind::UnknownType => (&mut self.stats.unknown_type, "unknown message type"),
            DropKind::UnknownFlow => (&mut self.stats.unknown_flow, "message for unknown flow"),
            DropKind::Stale => (&mut self.stats.stale_reports, "report from a stale program"),
        };
        *counter += 1;
        if self.limits[kind as usize].allow(now, what) {
            match kind {
                DropKind::Malformed | DropKind::Unexpected | DropKind::UnknownType => {
                    tracing::warn!(from = ?from, "dropped {what}: {why}")
                }
                DropKind::UnknownFlow | DropKind::Stale => {
                    tracing::debug!(from = ?from, "dropped {what}: {why}")
                }
            }
        }
    }

    /// The datapath at `addr`, if known.
    fn dp(&self, addr: &A) -> Option<&DpState> {
        let key = *self.dp_index.get(addr)?;
        self.dps.get(key as usize)
    }

    /// The key of the datapath at `from`, if known (through the last-datapath cache).
    fn dp_key(&mut self, from: &A) -> Option<u32> {
        if let Some(k) = self.last_dp {
            if self.addrs.get(k as usize) == Some(from) {
                return Some(k);
            }
        }
        let k = *self.dp_index.get(from)?;
        self.last_dp = Some(k);
        Some(k)
    }

    /// The datapath at `from`, if known.
    fn dp_mut(&mut self, from: &A) -> Option<&mut DpState> {
        let key = self.dp_key(from)?;
        self.dps.get_mut(key as usize)
    }

    fn dp_entry(&mut self, from: &A) -> &mut DpState {
        let key = match self.dp_key(from) {
            Some(k) => k,
            None => {
                let key = self.dps.len() as u32;
                self.addrs.push(from.clone());
                self.dp_index.insert(from.clone(), key);
                tracing::info!(addr = ?from, "new datapath");
                self.dps.push(DpState {
                    key,
                    flows: HashMap::default(),
                    negotiated: Negotiated::legacy(Role::Datapath),
                    hello_sent: false,
                    installed: false,
                });
                self.last_dp = Some(key);
                key
            }
        };
        let i = (key as usize).min(self.dps.len().saturating_sub(1));
        &mut self.dps[i]
    }

    fn send_installs_and_hello(shared: &Shared, hello: &[u8], dp: &mut DpState) {
        let mut ob = shared.outbox();
        for p in shared.table.iter() {
            ob.push(dp.key, p.install_msg());
        }
        if !dp.hello_sent {
            ob.push(dp.key, hello);
            dp.hello_sent = true;
        }
        dp.installed = true;
    }

    fn on_ready(&mut self, from: &A) {
        self.stats.readies += 1;
        let shared = self.shared.clone();
        let hello = std::mem::take(&mut self.hello_bytes);
        let dp = self.dp_entry(from);
        let n = dp.flows.len();
        for (_, f) in dp.flows.drain() {
            f.close();
        }
        if n > 0 {
            tracing::info!(addr = ?from, flows = n, "datapath restarted: its flows were closed");
        }
        dp.negotiated = Negotiated::legacy(Role::Datapath);
        dp.hello_sent = false;
        Self::send_installs_and_hello(&shared, &hello, dp);
        self.stats.reset_flows += n as u64;
        self.hello_bytes = hello;
    }

    fn on_create(&mut self, from: &A, c: &CreateView<'_>) {
        self.stats.creates += 1;
        let requested = c.cong_alg();
        let idx = match requested {
            Some(name) => match self.by_name.get(name) {
                Some(&i) => i,
                None => {
                    self.stats.default_alg_fallbacks += 1;
                    tracing::debug!(
                        requested = name,
                        "unknown algorithm requested: using the default"
                    );
                    0
                }
            },
            None => 0,
        };
        let shared = self.shared.clone();
        let hello = std::mem::take(&mut self.hello_bytes);
        let dp = self.dp_entry(from);
        if !dp.installed {
            // portus's "compatibility mode": a datapath that never sent READY.
            Self::send_installs_and_hello(&shared, &hello, dp);
        }
        let sid = c.sid();
        let replaced = dp.flows.remove(&sid);
        let key = dp.key;
        self.hello_bytes = hello;
        if let Some(old) = replaced {
            self.stats.replaced_flows += 1;
            tracing::debug!(sid, "CREATE for an existing flow: replacing it");
            old.close();
        }
        let Some(alg) = self.algs.get(idx) else {
            return;
        };
        let link = Arc::new(FlowLink::new());
        let datapath = Datapath::new(
            sid,
            key,
            alg.name.clone(),
            alg.programs.clone(),
            link.clone(),
            shared,
        );
        let info = DatapathInfo {
            sock_id: sid,
            init_cwnd: c.init_cwnd(),
            mss: c.mss(),
            src_ip: c.src_ip(),
            src_port: c.src_port(),
            dst_ip: c.dst_ip(),
            dst_port: c.dst_port(),
            requested_alg: requested.map(str::to_owned),
        };
        tracing::debug!(sid, alg = %alg.name, ?info, "new flow");
        let flow = alg.alg.new_flow(datapath, info);
        if let Some(dp) = self.dp_mut(from) {
            dp.flows.insert(sid, FlowEntry { flow, link });
        }
    }

    fn on_measure(&mut self, now: Duration, from: &A, m: &MeasureView<'_>) {
        let sid = m.sid();
        let key = self.dp_key(from);
        let Some(dp) = key.and_then(|k| self.dps.get_mut(k as usize)) else {
            return self.dropped(
                now,
                DropKind::UnknownFlow,
                from,
                &format_args!("no datapath, sid {sid}"),
            );
        };
        if m.is_close() {
            match dp.flows.remove(&sid) {
                Some(f) => {
                    f.close();
                    self.stats.closes += 1;
                }
                None => self.dropped(
                    now,
                    DropKind::UnknownFlow,
                    from,
                    &format_args!("close of sid {sid}"),
                ),
            }
            return;
        }
        let Some(entry) = dp.flows.get_mut(&sid) else {
            return self.dropped(
                now,
                DropKind::UnknownFlow,
                from,
                &format_args!("report for sid {sid}"),
            );
        };
        let current = entry.link.current_uid.load(Ordering::Acquire);
        let program = match self.shared.table.get(current) {
            Some(p) if current == m.program_uid() => p,
            _ => {
                let uid = m.program_uid();
                return self.dropped(
                    now,
                    DropKind::Stale,
                    from,
                    &format_args!("sid {sid}: report of uid {uid}, current program uid {current}"),
                );
            }
        };
        m.fields_into(&mut self.scratch);
        let n = program.num_reports();
        let with_cr =
            dp.negotiated.capabilities.contains(REPORT_CWND_RATE) && self.scratch.len() == n + 2;
        let (fields, cwnd_rate) = match (with_cr, self.scratch.get(n), self.scratch.get(n + 1)) {
            (true, Some(&c), Some(&r)) => (&self.scratch[..n], Some((c, r))),
            _ => (&self.scratch[..], None),
        };
        entry
            .flow
            .on_report(sid, Report::new(program, fields, cwnd_rate, now));
        self.stats.reports += 1;
    }

    fn on_hello(&mut self, now: Duration, from: &A, h: &HelloView<'_>) {
        if h.role() != Role::Datapath {
            return self.dropped(
                now,
                DropKind::Unexpected,
                from,
                &"HELLO with the agent role",
            );
        }
        self.stats.hellos += 1;
        let peer = h.to_hello();
        let negotiated = self.hello.negotiate(&peer);
        let shared = self.shared.clone();
        let key;
        let send_hello;
        {
            let dp = self.dp_entry(from);
            dp.negotiated = negotiated;
            send_hello = !dp.hello_sent;
            dp.hello_sent = true;
            key = dp.key;
        }
        tracing::info!(
            addr = ?from,
            peer = %peer.impl_name,
            version = %peer.impl_version,
            capabilities = ?negotiated.capabilities,
            "datapath handshake"
        );
        if send_hello {
            shared.outbox().push(key, &self.hello_bytes);
        }
    }

    /// Hand every queued outgoing message to `send(to, bytes)`, in the order queued, and
    /// clear the queue. Returns the number of messages. No allocation once the buffers
    /// have grown. `send` may use [`Datapath`] handles (the queue is not locked while it
    /// runs); what they queue is sent by the next call.
    pub fn drain(&mut self, mut send: impl FnMut(&A, &[u8])) -> usize {
        {
            let mut ob = self.shared.outbox();
            std::mem::swap(&mut *ob, &mut self.spare);
        }
        let n = self.spare.msgs.len();
        for m in &self.spare.msgs {
            let (Some(to), Some(bytes)) = (
                self.addrs.get(m.dp as usize),
                self.spare.bytes.get(m.start..m.end),
            ) else {
                continue;
            };
            if self.log_messages {
                match MessageView::parse(bytes, &ParseOptions::LENIENT) {
                    Ok(v) => tracing::info!(to = ?to, msg = ?v.to_message(), "sending"),
                    Err(_) => tracing::info!(to = ?to, len = bytes.len(), "sending"),
                }
            }
            send(to, bytes);
        }
        self.stats.sent += n as u64;
        self.spare.clear();
        n
    }

    /// Whether messages are queued.
    pub fn has_pending(&self) -> bool {
        !self.shared.outbox().msgs.is_empty()
    }

    /// Drain into owned `(address, bytes)` pairs (convenient for tests and simulators;
    /// allocates).
    pub fn take_transmits(&mut self) -> Vec<(A, Vec<u8>)> {
        let mut out = Vec::new();
        self.drain(|a, b| out.push((a.clone(), b.to_vec())));
        out
    }

    /// Close every flow of every datapath (calls their `close()`), e.g. at shutdown.
    pub fn close_all(&mut self) {
        let mut n = 0;
        for dp in self.dps.iter_mut() {
            for (_, f) in dp.flows.drain() {
                f.close();
                n += 1;
            }
        }
        if n > 0 {
            tracing::info!(flows = n, "closed all flows");
        }
    }
}

impl<A: Addr> Drop for Agent<A> {
    fn drop(&mut self) {
        // Detach every handle a flow may have kept elsewhere; `close()` is only called by
        // `close_all` (explicit shutdown), not on drop.
        for dp in self.dps.iter() {
            for f in dp.flows.values() {
                f.link.alive.store(false, Ordering::Release);
            }
        }
    }
}

#[allow(dead_code)]
fn _assert_send<A: Addr>() {
    fn is_send<T: Send>() {}
    fn is_send_sync<T: Send + Sync>() {}
    // The agent moves into its thread; handles may go to other threads (Python).
    is_send::<Agent<A>>();
    is_send_sync::<Datapath>();
}
