//! Programs installed at run time (`datapath.install(src)`, the older pyportus API).
//!
//! The agent core (`ccp-agent`) compiles every program once at start-up and numbers them
//! 1..=N. A flow of the older API instead installs program *text* whenever it likes, so
//! this module keeps a second, growing table next to the agent's:
//!
//! * a program is compiled the first time its text is installed and cached by text; it gets
//!   the next uid after the agent's (never uid 1, which tells a datapath "a new agent
//!   started": the Python layer always has at least one static program, see
//!   [`PLACEHOLDER_PROGRAM`]);
//! * `install` on a flow queues INSTALL (only if that datapath has not received this uid
//!   since its last READY) and CHANGE_PROG for the flow;
//! * reports (MEASURE) of a flow whose current program is one of these are decoded here
//!   and handed to the flow's [`DynSink`] (the [`Host`](crate::Host) intercepts them before
//!   the agent, which would drop them as stale);
//! * updates are resolved in the flow's current dynamic program's scope.
//!
//! Messages are queued, per datapath key, and drained by the host right after the
//! agent's own queue.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ccp_lang::{CompileError, FieldError, Scope};
use ccp_wire::{
    Encode, EncodeError, Install, MAX_UPDATES, UpdateField, encode_change_prog_into,
    encode_update_fields_into,
};
use thiserror::Error;

/// Name of the no-op program the Python layer registers when an algorithm declares no
/// programs of its own, so that the agent's first INSTALL still carries uid 1 (libccp's
/// "new agent" signal, which also wipes programs a previous agent left behind) and
/// dynamic programs never need uid 1.
pub const PLACEHOLDER_PROGRAM: &str = "portus.placeholder";

/// Source of [`PLACEHOLDER_PROGRAM`]: never reports, never changes anything.
pub const PLACEHOLDER_SOURCE: &str = "(def (Report.unused 0))\n(when false\n    (report)\n)\n";

/// Most distinct program texts one agent compiles at run time (a guard against programs
/// generated with embedded values: each one takes a slot in the datapath's table).
pub const MAX_DYNAMIC_PROGRAMS: usize = 1024;

/// Why `install` failed (nothing was sent).
#[derive(Debug, Error)]
pub enum InstallError {
    /// The program does not compile (`LINE:COL: message`, source line, caret).
    #[error("{0}")]
    Compile(#[source] Box<CompileError>),
    /// The compiled program cannot be carried by one INSTALL message.
    #[error("program cannot be encoded: {0}")]
    Encode(#[source] EncodeError),
    /// An initial value names something that cannot be set in this program.
    #[error("{0}")]
    Field(#[source] FieldError),
    /// More initial values than one message can carry.
    #[error("{count} initial values, at most {max} per message")]
    TooManyUpdates {
        /// Values given.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// Too many distinct programs were installed.
    #[error(
        "more than {MAX_DYNAMIC_PROGRAMS} distinct programs installed: reuse program texts and set values with update_field"
    )]
    TooManyPrograms,
    /// The flow no longer exists.
    #[error("flow {sid} no longer exists on its datapath")]
    Detached {
        /// Socket id.
        sid: u32,
    },
}

/// Why an update through a dynamic program failed (nothing was sent).
#[derive(Debug, Error)]
pub enum DynUpdateError {
    /// A name cannot be updated in the current program.
    #[error("{0}")]
    Field(#[from] FieldError),
    /// More values than one message can carry.
    #[error("{count} updates, at most {max} per message")]
    TooManyUpdates {
        /// Values given.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// The message could not be encoded.
    #[error("cannot encode: {0}")]
    Encode(#[from] EncodeError),
    /// The flow no longer exists.
    #[error("flow {sid} no longer exists on its datapath")]
    Detached {
        /// Socket id.
        sid: u32,
    },
}

/// One program compiled at run time.
#[derive(Debug)]
pub struct DynProgram {
    uid: u32,
    scope: Scope,
    report_index: HashMap<Box<str>, usize>,
    report_names: Vec<String>,
    install: Vec<u8>,
}

impl DynProgram {
    fn compile(src: &str, uid: u32) -> Result<DynProgram, InstallError> {
        let compiled =
            ccp_lang::compile(src, uid).map_err(|e| InstallError::Compile(Box::new(e)))?;
        for w in &compiled.warnings {
            tracing::warn!(
                uid,
                "installed program: {}:{}: {}",
                w.line,
                w.col,
                w.message
            );
        }
        let install = Install {
            sid: 0,
            program_uid: uid,
            bin: compiled.bin,
        }
        .encode()
        .map_err(InstallError::Encode)?;
        let scope = compiled.scope;
        let mut report_index = HashMap::new();
        let mut named: Vec<(usize, String)> = Vec::new();
        for v in scope.reports() {
            let i = v.index as usize;
            report_index.insert(v.name.clone().into_boxed_str(), i);
            report_index.insert(v.short_name().to_owned().into_boxed_str(), i);
            named.push((i, v.short_name().to_owned()));
        }
        named.sort();
        Ok(DynProgram {
            uid,
            scope,
            report_index,
            report_names: named.into_iter().map(|(_, n)| n).collect(),
            install,
        })
    }

    /// The uid this agent allocated.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// Names → registers.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Number of report variables.
    pub fn num_reports(&self) -> usize {
        self.report_names.len()
    }

    /// Field index of a report variable (`"rtt"` or `"Report.rtt"`).
    pub fn report_field_index(&self, name: &str) -> Option<usize> {
        self.report_index.get(name).copied()
    }

    /// Short names of the report variables, in field order.
    pub fn report_names(&self) -> &[String] {
        &self.report_names
    }

    /// The INSTALL message (sid 0).
    pub fn install_msg(&self) -> &[u8] {
        &self.install
    }
}

/// A report of a flow running a dynamic program.
#[derive(Clone, Copy, Debug)]
pub struct DynReport<'a> {
    /// The program that produced it.
    pub program: &'a Arc<DynProgram>,
    /// Report variables in field order (without the appended Cwnd/Rate).
    pub fields: &'a [u64],
    /// Cwnd and Rate, when the datapath appends them (`REPORT_CWND_RATE`).
    pub cwnd_rate: Option<(u64, u64)>,
    /// The host's clock when it was handled.
    pub received_at: Duration,
}

/// Where reports of a flow running a dynamic program go.
pub trait DynSink: Send + Sync {
    /// One report.
    fn on_report(&self, sid: u32, report: DynReport<'_>);
}

/// Counters of the dynamic-program layer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DynStats {
    /// Distinct programs compiled.
    pub compiled: u64,
    /// INSTALL messages queued.
    pub installs_sent: u64,
    /// CHANGE_PROG messages queued for dynamic programs.
    pub switches: u64,
    /// Reports delivered to flows running a dynamic program.
    pub reports: u64,
    /// Reports dropped because their uid is not the flow's current dynamic program.
    pub stale_reports: u64,
}

struct FlowEntry {
    /// Distinguishes a flow from a later one reusing its (datapath, sid).
    id: u64,
    current: Option<Arc<DynProgram>>,
    /// Drain round in which this flow last queued a message here.
    last_round: u64,
    sink: Arc<dyn DynSink>,
}

#[derive(Default)]
struct State {
    base_uid: u32,
    by_source: HashMap<String, Arc<DynProgram>>,
    installed: HashMap<u32, HashSet<u32>>,
    flows: HashMap<(u32, u32), FlowEntry>,
    next_flow_id: u64,
    current_key: u32,
    round: u64,
    bytes: Vec<u8>,
    msgs: Vec<(u32, usize, usize)>,
    stats: DynStats,
}

struct Shared {
    state: Mutex<State>,
    /// Flows whose current program is dynamic (fast path: 0 → nothing to intercept).
    active: AtomicUsize,
}

/// The table of programs installed at run time, shared by the host and every flow's
/// [`DynHandle`]. Cheap to clone.
#[derive(Clone)]
pub struct DynPrograms {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for DynPrograms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("DynPrograms")
            .field("programs", &st.by_source.len())
            .field("flows", &st.flows.len())
            .field("stats", &st.stats)
            .finish()
    }
}

impl Default for DynPrograms {
    fn default() -> Self {
        DynPrograms::new()
    }
}

/// What the host should do with a MEASURE.
pub enum Intercept {
    /// The flow does not run a dynamic program: the agent handles it.
    NotDynamic,
    /// The flow runs a dynamic program but the report is of another uid: drop it.
    Stale,
    /// Decode with this program and deliver to this sink.
    Deliver(Arc<DynProgram>, Arc<dyn DynSink>),
}

impl DynPrograms {
    /// An empty table; dynamic uids start at 2 until [`set_base_uid`](Self::set_base_uid).
    pub fn new() -> DynPrograms {
        DynPrograms {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    base_uid: 2,
                    round: 1,
                    ..State::default()
                }),
                active: AtomicUsize::new(0),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock; recover the data if it ever happens.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// First uid for dynamic programs: one past the agent's static programs, at least 2.
    pub fn set_base_uid(&self, uid: u32) {
        self.lock().base_uid = uid.max(2);
    }

    /// The datapath (host key) whose message is being handled: flows created now belong
    /// to it.
    pub fn set_current_datapath(&self, key: u32) {
        self.lock().current_key = key;
    }

    /// Number of flows currently running a dynamic program.
    pub fn active(&self) -> usize {
        self.shared.active.load(Ordering::Acquire)
    }

    /// Whether any dynamic program was ever sent to the datapath `key` since its last
    /// READY.
    pub fn has_installed(&self, key: u32) -> bool {
        self.lock()
            .installed
            .get(&key)
            .is_some_and(|s| !s.is_empty())
    }

    /// The datapath `key` restarted (READY): its program table is empty again.
    pub fn datapath_reset(&self, key: u32) {
        self.lock().installed.remove(&key);
    }

    /// Counters.
    pub fn stats(&self) -> DynStats {
        self.lock().stats.clone()
    }

    /// Compile `src` (or take it from the cache).
    pub fn compile(&self, src: &str) -> Result<Arc<DynProgram>, InstallError> {
        let mut st = self.lock();
        Self::compile_locked(&mut st, src)
    }

    fn compile_locked(st: &mut State, src: &str) -> Result<Arc<DynProgram>, InstallError> {
        if let Some(p) = st.by_source.get(src) {
            return Ok(p.clone());
        }
        if st.by_source.len() >= MAX_DYNAMIC_PROGRAMS {
            return Err(InstallError::TooManyPrograms);
        }
        let uid = st
            .base_uid
            .checked_add(st.by_source.len() as u32)
            .ok_or(InstallError::TooManyPrograms)?;
        let p = Arc::new(DynProgram::compile(src, uid)?);
        tracing::debug!(uid, "compiled an installed program");
        st.by_source.insert(src.to_owned(), p.clone());
        st.stats.compiled += 1;
        Ok(p)
    }

    /// Register a new flow `sid` of the current datapath; reports of its dynamic programs
    /// go to `sink`. A flow already registered under the same (datapath, sid) is replaced.
    pub fn register_flow(&self, sid: u32, sink: Arc<dyn DynSink>) -> DynHandle {
        let mut st = self.lock();
        let key = st.current_key;
        st.next_flow_id += 1;
        let id = st.next_flow_id;
        if let Some(old) = st.flows.insert(
            (key, sid),
            FlowEntry {
                id,
                current: None,
                last_round: 0,
                sink,
            },
        ) && old.current.is_some()
        {
            self.shared.active.fetch_sub(1, Ordering::AcqRel);
        }
        DynHandle {
            programs: self.clone(),
            key,
            sid,
            id,
        }
    }

    /// Decide what to do with a MEASURE of `sid` from datapath `key` carrying `uid`.
    pub fn intercept(&self, key: u32, sid: u32, uid: u32) -> Intercept {
        let mut st = self.lock();
        let Some(f) = st.flows.get(&(key, sid)) else {
            return Intercept::NotDynamic;
        };
        match &f.current {
            None => Intercept::NotDynamic,
            Some(p) if p.uid == uid => {
                let out = Intercept::Deliver(p.clone(), f.sink.clone());
                st.stats.reports += 1;
                out
            }
            Some(_) => {
                st.stats.stale_reports += 1;
                Intercept::Stale
            }
        }
    }

    /// Hand every queued message to `send(datapath key, bytes)` in order and clear the
    /// queue. Returns the number of messages.
    pub fn drain(&self, mut send: impl FnMut(u32, &[u8])) -> usize {
        let (bytes, msgs) = {
            let mut st = self.lock();
            st.round += 1;
            if st.msgs.is_empty() {
                return 0;
            }
            (std::mem::take(&mut st.bytes), std::mem::take(&mut st.msgs))
        };
        let n = msgs.len();
        for &(key, s, e) in &msgs {
            if let Some(b) = bytes.get(s..e) {
                send(key, b);
            }
        }
        // Give the buffers back (keeps their capacity) unless more was queued meanwhile.
        let mut st = self.lock();
        if st.msgs.is_empty() {
            let (mut bytes, mut msgs) = (bytes, msgs);
            bytes.clear();
            msgs.clear();
            st.bytes = bytes;
            st.msgs = msgs;
        }
        n
    }
}

fn push_msg(st: &mut State, key: u32, encode: impl FnOnce(&mut Vec<u8>)) {
    let start = st.bytes.len();
    encode(&mut st.bytes);
    let end = st.bytes.len();
    if end > start {
        st.msgs.push((key, start, end));
    }
}

/// A flow's access to the dynamic-program table (held by its Python `Datapath`).
#[derive(Clone)]
pub struct DynHandle {
    programs: DynPrograms,
    key: u32,
    sid: u32,
    id: u64,
}

impl std::fmt::Debug for DynHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynHandle")
            .field("datapath", &self.key)
            .field("sid", &self.sid)
            .finish()
    }
}

impl DynHandle {
    /// The flow's socket id.
    pub fn sock_id(&self) -> u32 {
        self.sid
    }

    /// The host key of the flow's datapath.
    pub fn datapath_key(&self) -> u32 {
        self.key
    }

    fn entry<'s>(&self, st: &'s mut State) -> Option<&'s mut FlowEntry> {
        st.flows
            .get_mut(&(self.key, self.sid))
            .filter(|f| f.id == self.id)
    }

    /// Whether the flow still exists.
    pub fn is_attached(&self) -> bool {
        let mut st = self.programs.lock();
        self.entry(&mut st).is_some()
    }

    /// The flow's current dynamic program, if it runs one.
    pub fn current(&self) -> Option<Arc<DynProgram>> {
        let mut st = self.programs.lock();
        self.entry(&mut st).and_then(|f| f.current.clone())
    }

    /// Compile `src` if needed, send it to the flow's datapath if it does not have it,
    /// and switch the flow to it (CHANGE_PROG) with initial values `fields` (control
    /// variables, `Cwnd`, `Rate`).
    pub fn install(
        &self,
        src: &str,
        fields: &[(&str, u64)],
    ) -> Result<Arc<DynProgram>, InstallError> {
        if fields.len() > MAX_UPDATES {
            return Err(InstallError::TooManyUpdates {
                count: fields.len(),
                max: MAX_UPDATES,
            });
        }
        let mut st = self.programs.lock();
        if self.entry(&mut st).is_none() {
            return Err(InstallError::Detached { sid: self.sid });
        }
        let prog = DynPrograms::compile_locked(&mut st, src)?;
        let updates = resolve_all(prog.scope(), fields).map_err(InstallError::Field)?;
        let key = self.key;
        if st.installed.entry(key).or_default().insert(prog.uid) {
            let msg = prog.install_msg();
            push_msg(&mut st, key, |out| out.extend_from_slice(msg));
            st.stats.installs_sent += 1;
        }
        let mut err = None;
        push_msg(&mut st, key, |out| {
            if let Err(e) = encode_change_prog_into(self.sid, prog.uid, &updates, out) {
                err = Some(e);
            }
        });
        if let Some(e) = err {
            return Err(InstallError::Encode(e));
        }
        st.stats.switches += 1;
        let round = st.round;
        let was_dynamic = match self.entry(&mut st) {
            Some(f) => {
                f.last_round = round;
                f.current.replace(prog.clone()).is_some()
            }
            None => true,
        };
        if !was_dynamic {
            self.programs.shared.active.fetch_add(1, Ordering::AcqRel);
        }
        Ok(prog)
    }

    /// Set variables of the current dynamic program (UPDATE_FIELDS). `Ok(false)`: the
    /// flow runs no dynamic program (nothing sent; use the agent's handle).
    pub fn update_fields(&self, fields: &[(&str, u64)]) -> Result<bool, DynUpdateError> {
        let mut st = self.programs.lock();
        let Some(f) = self.entry(&mut st) else {
            return Err(DynUpdateError::Detached { sid: self.sid });
        };
        let Some(prog) = f.current.clone() else {
            return Ok(false);
        };
        if fields.len() > MAX_UPDATES {
            return Err(DynUpdateError::TooManyUpdates {
                count: fields.len(),
                max: MAX_UPDATES,
            });
        }
        let updates = resolve_all(prog.scope(), fields)?;
        self.push_locked(&mut st, None, &updates)?;
        Ok(true)
    }

    /// Whether this flow queued a message here since the host last drained: then
    /// commands that go through the agent's queue (which is sent first) must be repeated
    /// here to keep their order.
    pub fn pending_this_round(&self) -> bool {
        let mut st = self.programs.lock();
        let round = st.round;
        self.entry(&mut st)
            .is_some_and(|f| f.last_round == round && f.last_round != 0)
    }

    /// The flow switched to a static program: reports are the agent's again.
    pub fn clear_current(&self) {
        let mut st = self.programs.lock();
        if let Some(f) = self.entry(&mut st)
            && f.current.take().is_some()
        {
            self.programs.shared.active.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Queue a CHANGE_PROG (`Some(uid)`) or UPDATE_FIELDS (`None`) with resolved records
    /// for this flow, behind what it already queued here.
    pub fn push_resolved(
        &self,
        uid: Option<u32>,
        updates: &[UpdateField],
    ) -> Result<(), DynUpdateError> {
        let mut st = self.programs.lock();
        if self.entry(&mut st).is_none() {
            return Err(DynUpdateError::Detached { sid: self.sid });
        }
        self.push_locked(&mut st, uid, updates)
    }

    fn push_locked(
        &self,
        st: &mut State,
        uid: Option<u32>,
        updates: &[UpdateField],
    ) -> Result<(), DynUpdateError> {
        let mut err = None;
        push_msg(st, self.key, |out| {
            let r = match uid {
                Some(u) => encode_change_prog_into(self.sid, u, updates, out),
                None => encode_update_fields_into(self.sid, updates, out),
            };
            if let Err(e) = r {
                err = Some(e);
            }
        });
        if let Some(e) = err {
            return Err(DynUpdateError::Encode(e));
        }
        let round = st.round;
        if let Some(f) = self.entry(st) {
            f.last_round = round;
        }
        Ok(())
    }

    /// The flow ended: forget it (its reports, if any arrive, go to the agent, which
    /// drops them).
    pub fn detach(&self) {
        let mut st = self.programs.lock();
        if let Some(f) = self.entry(&mut st) {
            let was_dynamic = f.current.is_some();
            st.flows.remove(&(self.key, self.sid));
            if was_dynamic {
                self.programs.shared.active.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

/// Resolve `(name, value)` pairs to update records in `scope`.
pub fn resolve_all(scope: &Scope, fields: &[(&str, u64)]) -> Result<Vec<UpdateField>, FieldError> {
    fields
        .iter()
        .map(|&(n, v)| {
            let op = scope.update_target(n)?;
            Ok(UpdateField::new(op.kind, op.value, v))
        })
        .collect()
}
