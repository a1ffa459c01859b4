//! The [`Datapath`]: program table, connections, agent messages, per-ACK invocation and
//! the fallback state machine.

use std::collections::BTreeSet;
use std::sync::Arc;

use ccp_lang::bytecode::{
    Bin, EVENT_LEN, Event, INSTR_LEN, Instr, LIBCCP_CONTROL_REGS, MAX_EVENTS, MAX_INSTRS, RegKind,
    implicit,
};
use ccp_lang::vm::{self, Call, Flow, LoadError, Primitives, Program};
use ccp_wire::{
    Capabilities, Create, DATAPATH_MAX_MSG_LEN, Encode, HEADER_LEN, Hello, HelloView, ImplVersion,
    MAX_REPORT_FIELDS, MsgType, Negotiated, ParseError, ParseOptions, Ready, Role,
    encode_measure_into,
};
use tracing::{debug, info, warn};

use crate::callbacks::{Callbacks, DatapathInfo, Sid};
use crate::config::{Config, ConfigError};
use crate::error::{InvokeError, ReadError, StartError};
use crate::fallback::{Controller, Fallback};
use crate::stats::Stats;

/// libccp's `CREATE_TIMEOUT_US`: CREATE is retried at most once per 100 ms per connection.
pub const CREATE_RETRY_US: u64 = 100_000;
/// UPDATE_FIELDS records accepted per message (libccp's effective limit, spec §9 row 4).
pub const MAX_UPDATE_FIELDS: u32 = 127;
/// CHANGE_PROG records accepted per message (libccp's `MAX_MUTABLE_REG`).
pub const MAX_CHANGE_PROG_FIELDS: u32 = 222;
/// The implementation name this library announces in its HELLO.
pub const IMPL_NAME: &str = "ccp-rs-datapath";

/// What [`Datapath::read_msg`] did with a valid message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// INSTALL: the program is stored in table slot `slot` (0-based).
    Installed {
        /// Program uid.
        uid: u32,
        /// Table slot.
        slot: usize,
    },
    /// UPDATE_FIELDS: `count` updates staged for the connection's next invocation.
    Updated {
        /// Connection.
        sid: Sid,
        /// Records staged.
        count: u32,
    },
    /// CHANGE_PROG: program switch staged for the connection's next invocation.
    ProgramChanged {
        /// Connection.
        sid: Sid,
        /// New program.
        uid: u32,
    },
    /// HELLO from an agent: capabilities negotiated.
    Hello {
        /// What both sides support.
        capabilities: Capabilities,
    },
}

impl Handled {
    /// libccp's return code (always 0).
    pub fn libccp_code(&self) -> i32 {
        0
    }
}

/// What [`Datapath::invoke`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invoked {
    /// The connection's program ran; `reported` if it sent a MEASURE.
    Ran {
        /// A MEASURE was sent (or attempted).
        reported: bool,
    },
    /// CREATE has not reached the agent yet: it was retried (at most once per 100 ms) and
    /// no program ran (libccp returns 0 here).
    CreatePending,
    /// The agent is away (or has not taken this flow back yet): the built-in controller
    /// set the window to `cwnd` bytes. The C ABI returns libccp's −101 here.
    Fallback {
        /// The window applied through `set_cwnd`.
        cwnd: u64,
    },
}

impl Invoked {
    /// libccp's return code: 0, or −101 (`FALLBACK_TIMED_OUT`) under fallback.
    pub fn libccp_code(&self) -> i32 {
        match self {
            Invoked::Fallback { .. } => ccp_wire::codes::FALLBACK_TIMED_OUT,
            _ => 0,
        }
    }
}

/// A read-only snapshot of one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Socket id.
    pub sid: Sid,
    /// What CREATE announced.
    pub info: DatapathInfo,
    /// Requested algorithm.
    pub alg: Option<String>,
    /// uid of the active program.
    pub program_uid: Option<u32>,
    /// CREATE reached the transport.
    pub create_sent: bool,
    /// Driven by the fallback controller on its next invocation.
    pub under_fallback: bool,
    /// Bytes this connection occupies in the library (slot + VM heap + name).
    pub memory_bytes: usize,
}

/// One live connection.
#[derive(Debug)]
struct Conn<T> {
    sid: Sid,
    info: DatapathInfo,
    alg: Option<Box<str>>,
    data: T,
    flow: Flow,
    create_sent: bool,
    last_create_us: Option<u64>,
    /// Re-announced to a returning/new agent, not yet taken back by a CHANGE_PROG.
    awaiting_handback: bool,
    fallback: Option<Fallback>,
}

#[derive(Debug)]
struct AgentState {
    /// Any valid agent message since `init`.
    heard: bool,
    /// libccp's `last_msg_sent`: first failed CREATE/MEASURE send since the agent was last
    /// heard (µs since time zero).
    timer_us: Option<u64>,
    in_fallback: bool,
    next_probe_us: u64,
    probe_interval_us: u64,
    last_rx_us: u64,
    reports_since_rx: u64,
}

/// Everything but the connection table (so that methods can borrow a connection and the
/// rest independently).
struct Core<C: Callbacks> {
    cfg: Config,
    cb: C,
    time_zero: u64,
    programs: Vec<Option<Arc<Program>>>,
    agent: AgentState,
    stats: Stats,
    /// Reused send buffer.
    out: Vec<u8>,
    /// Reused report-field buffer.
    fields: Vec<u64>,
    hello: Hello,
    negotiated: Negotiated,
}

/// A CCP datapath: the libccp equivalent, sans-IO.
///
/// The datapath author supplies [`Callbacks`] (apply cwnd/rate, send to the agent, clock)
/// and drives the library:
///
/// * [`init`](Self::init) once (sends READY, then HELLO);
/// * [`connection_start`](Self::connection_start) / [`connection_free`](Self::connection_free)
///   per flow (CREATE / close MEASURE);
/// * [`read_msg`](Self::read_msg) for every message received from the agent;
/// * [`invoke`](Self::invoke) on every ACK (or batch of ACKs) with the flow's
///   [`Primitives`];
/// * optionally [`tick`](Self::tick) from a timer, so that fallback is entered and the
///   agent is probed even when no ACKs arrive.
///
/// No threads, sockets or clocks inside: all I/O goes through the callbacks, time through
/// [`Callbacks::now`] / [`Callbacks::since_usecs`], so a simulator can run it on virtual
/// time.
///
/// # Thread safety
///
/// Every method takes `&mut self`: calls must be serialised (one thread at a time, or a
/// lock such as [`SyncDatapath`](crate::SyncDatapath)). libccp only requires that
/// `ccp_invoke` of a connection is serialised with `ccp_read_msg` and that INSTALL does
/// not run concurrently with any invoke — in practice a datapath-wide lock, which is what
/// this type asks for explicitly. Callbacks run inside these calls and must not re-enter
/// the same `Datapath`.
pub struct Datapath<C: Callbacks> {
    core: Core<C>,
    conns: Vec<Option<Conn<C::Conn>>>,
    /// Free sids below `conns.len()`, lowest first (libccp reuses the lowest free slot).
    free: BTreeSet<Sid>,
    live: usize,
}

impl<C: Callbacks> std::fmt::Debug for Datapath<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datapath")
            .field("config", &self.core.cfg)
            .field("connections", &self.live)
            .field("in_fallback", &self.core.agent.in_fallback)
            .field("stats", &self.core.stats)
            .finish_non_exhaustive()
    }
}

impl<C: Callbacks> Datapath<C> {
    /// `ccp_init`: validate `cfg`, take the time zero, send READY (and HELLO unless
    /// [`Config::handshake`] is off). A failed send is only logged, as in libccp.
    pub fn init(cfg: Config, cb: C) -> Result<Datapath<C>, ConfigError> {
        cfg.validate()?;
        let time_zero = cb.now();
        let mut hello = Hello::new(
            Role::Datapath,
            IMPL_NAME,
            ImplVersion::parse(env!("CARGO_PKG_VERSION")).unwrap_or_default(),
        );
        hello.capabilities |= Capabilities::FALLBACK
            | Capabilities::VALIDATED_INSTALL
            | Capabilities::REPORT_CWND_RATE;
        let programs = vec![None; cfg.max_programs];
        let probe = cfg.probe_interval_us;
        let mut core = Core {
            cfg,
            cb,
            time_zero,
            programs,
            agent: AgentState {
                heard: false,
                timer_us: None,
                in_fallback: false,
                next_probe_us: 0,
                probe_interval_us: probe,
                last_rx_us: 0,
                reports_since_rx: 0,
            },
            stats: Stats::default(),
            out: Vec::with_capacity(16 + 8 * (MAX_REPORT_FIELDS + 2)),
            fields: Vec::with_capacity(MAX_REPORT_FIELDS + 2),
            hello,
            negotiated: Negotiated::legacy(Role::Agent),
        };
        core.send_ready_hello();
        Ok(Datapath {
            core,
            conns: Vec::new(),
            free: BTreeSet::new(),
            live: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.core.cfg
    }

    /// The callbacks.
    pub fn callbacks(&self) -> &C {
        &self.core.cb
    }

    /// The callbacks, mutably (e.g. to change a transport address).
    pub fn callbacks_mut(&mut self) -> &mut C {
        &mut self.core.cb
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.core.stats
    }

    /// Whether the datapath is in fallback (agent timed out, not heard from since).
    pub fn in_fallback(&self) -> bool {
        self.core.agent.in_fallback
    }

    /// What was negotiated with the agent's HELLO (legacy until one arrives).
    pub fn negotiated(&self) -> Negotiated {
        self.core.negotiated
    }

    /// The `now()` value taken at `init` (libccp `time_zero`).
    pub fn time_zero(&self) -> u64 {
        self.core.time_zero
    }

    /// Number of live connections.
    pub fn connections(&self) -> usize {
        self.live
    }

    /// uids in the program table, by slot.
    pub fn programs(&self) -> Vec<Option<u32>> {
        self.core
            .programs
            .iter()
            .map(|p| p.as_ref().map(|p| p.uid()))
            .collect()
    }

    fn slot(&self, sid: Sid) -> Option<&Conn<C::Conn>> {
        let i = usize::try_from(sid).ok()?.checked_sub(1)?;
        self.conns.get(i)?.as_ref()
    }

    fn slot_mut(&mut self, sid: Sid) -> Option<&mut Conn<C::Conn>> {
        let i = usize::try_from(sid).ok()?.checked_sub(1)?;
        self.conns.get_mut(i)?.as_mut()
    }

    /// The datapath data of a live connection (`ccp_get_impl`).
    pub fn conn(&self, sid: Sid) -> Option<&C::Conn> {
        self.slot(sid).map(|c| &c.data)
    }

    /// The datapath data of a live connection, mutably (`ccp_set_impl`).
    pub fn conn_mut(&mut self, sid: Sid) -> Option<&mut C::Conn> {
        self.slot_mut(sid).map(|c| &mut c.data)
    }

    /// A snapshot of a live connection.
    pub fn connection(&self, sid: Sid) -> Option<ConnectionInfo> {
        let c = self.slot(sid)?;
        Some(ConnectionInfo {
            sid,
            info: c.info,
            alg: c.alg.as_deref().map(str::to_owned),
            program_uid: c.flow.program().map(|p| p.uid()),
            create_sent: c.create_sent,
            under_fallback: self.core.agent.in_fallback || c.awaiting_handback,
            memory_bytes: conn_memory(c),
        })
    }

    /// Bytes the library uses for one connection slot with its VM state (the figure
    /// stated in the docs): the slot itself plus the VM's heap and the algorithm name.
    pub fn connection_memory_bytes(&self, sid: Sid) -> Option<usize> {
        self.slot(sid).map(conn_memory)
    }

    /// `ccp_connection_start`: allocate the lowest free sid (1-based), store `data`, send
    /// CREATE with `info` and the requested algorithm name. If CREATE cannot be sent the
    /// connection is still created; [`invoke`](Self::invoke) retries CREATE at most once
    /// per 100 ms (libccp).
    pub fn connection_start(
        &mut self,
        info: DatapathInfo,
        alg: Option<&str>,
        data: C::Conn,
    ) -> Result<Sid, StartError> {
        if let Some(a) = alg {
            if a.len() > ccp_wire::MAX_CONG_ALG_LEN {
                return Err(StartError::AlgNameTooLong(a.len()));
            }
            if a.contains('\0') {
                return Err(StartError::AlgNameHasNul);
            }
        }
        let limit = self.core.cfg.max_connections.unwrap_or(u32::MAX - 1);
        if self.live >= limit as usize {
            return Err(StartError::TooManyConnections(limit));
        }
        let sid = match self.free.pop_first() {
            Some(s) => s,
            None => Sid::try_from(self.conns.len() + 1)
                .map_err(|_| StartError::TooManyConnections(limit))?,
        };
        let mut conn = Conn {
            sid,
            info,
            alg: alg.filter(|a| !a.is_empty()).map(Box::from),
            data,
            flow: Flow::new(),
            create_sent: false,
            last_create_us: None,
            awaiting_handback: false,
            fallback: None,
        };
        let now = self.core.now_us();
        self.core.send_create(&mut conn, now);
        let i = (sid - 1) as usize;
        if i == self.conns.len() {
            self.conns.push(Some(conn));
        } else if let Some(slot) = self.conns.get_mut(i) {
            *slot = Some(conn);
        }
        self.live += 1;
        debug!(sid, "connection started");
        Ok(sid)
    }

    /// `ccp_connection_free`: send the close MEASURE (uid 0, no fields), free the sid and
    /// return the connection's data. `None` if `sid` is not live.
    pub fn connection_free(&mut self, sid: Sid) -> Option<C::Conn> {
        let i = usize::try_from(sid).ok()?.checked_sub(1)?;
        let conn = self.conns.get_mut(i)?.take()?;
        self.live -= 1;
        self.free.insert(sid);
        // Keep the table (and the free set) no longer than needed.
        while matches!(self.conns.last(), Some(None)) {
            self.conns.pop();
            let len = self.conns.len() as Sid;
            self.free.remove(&(len + 1));
        }
        let core = &mut self.core;
        core.out.clear();
        if encode_measure_into(sid, 0, &[], &mut core.out).is_ok()
            && let Err(e) = core.cb.send_msg(&core.out)
        {
            core.stats.send_failures += 1;
            if !core.agent.in_fallback {
                warn!(sid, error = %e, "could not send close message");
            }
        }
        debug!(sid, "connection freed");
        Some(conn.data)
    }

    /// `ccp_invoke`: one ACK (or batch of ACKs) of connection `sid`, with the primitives
    /// the datapath measured (spec §4.4–4.5: per-invocation deltas, current values,
    /// `snd_cwnd` in bytes, `lost_pkts_sample` for losses, `was_timeout` for a
    /// retransmission timeout — clear it after the call).
    ///
    /// In order: fallback check (and a probe if one is due); CREATE retry if CREATE has
    /// not gone out (then nothing else runs, like libccp); under fallback the built-in
    /// controller sets the window; otherwise the connection's program runs, the
    /// `set_cwnd` / `set_rate_abs` callbacks are made and a MEASURE is sent if the program
    /// reported. No allocation on this path once the buffers have grown.
    pub fn invoke(&mut self, sid: Sid, prims: &Primitives) -> Result<Invoked, InvokeError> {
        let i = usize::try_from(sid)
            .ok()
            .and_then(|s| s.checked_sub(1))
            .ok_or(InvokeError::UnknownConnection(sid))?;
        let Some(Some(conn)) = self.conns.get_mut(i) else {
            return Err(InvokeError::UnknownConnection(sid));
        };
        let core = &mut self.core;
        core.stats.invocations += 1;
        let now = core.now_us();
        core.check_fallback(now);
        let was_created = conn.create_sent;
        if !core.agent.in_fallback && !conn.create_sent {
            core.send_create(conn, now);
        }
        if core.agent.in_fallback || conn.awaiting_handback {
            return Ok(core.run_fallback(conn, prims, now));
        }
        if !was_created {
            return Ok(Invoked::CreatePending);
        }
        core.run_program(conn, prims, now)
    }

    /// Timer entry point: enter fallback if the agent timed out and send a probe if one is
    /// due, without waiting for an ACK. Returns the µs until the library next needs a
    /// `tick` (next probe, or the fallback deadline), or `None` when no timer is pending.
    pub fn tick(&mut self) -> Option<u64> {
        let now = self.core.now_us();
        self.core.check_fallback(now);
        let a = &self.core.agent;
        if a.in_fallback {
            Some(a.next_probe_us.saturating_sub(now))
        } else {
            a.timer_us
                .map(|t| (t + self.core.cfg.fallback_timeout_us + 1).saturating_sub(now))
        }
    }

    /// `ccp_read_msg`: handle one message from the agent.
    ///
    /// Checks in libccp's order (type, `len` vs buffer, `len` ≤ 32678); any message past
    /// those checks proves the agent alive (fallback timer off; after fallback every live
    /// connection is re-announced with CREATE and stays under fallback until its first
    /// CHANGE_PROG). Then:
    ///
    /// * INSTALL: validated completely (limits, event ranges, operands, register
    ///   writability) before anything changes; uid 1 wipes the table first ("a new agent
    ///   started", as libccp); stored in the lowest free slot (full → −81).
    /// * UPDATE_FIELDS / CHANGE_PROG: staged for the connection's next invocation, with
    ///   libccp's semantics (CHANGE_PROG discards earlier staged updates; a bad record
    ///   keeps the records before it staged). CHANGE_PROG to an unknown uid returns
    ///   [`ReadError::UnknownProgram`] and stages nothing.
    /// * HELLO from an agent: capabilities negotiated.
    ///
    /// Never panics; every rejection is counted in [`Stats`] and logged.
    pub fn read_msg(&mut self, buf: &[u8]) -> Result<Handled, ReadError> {
        self.core.stats.msgs_received += 1;
        let r = self.read_inner(buf);
        if let Err(e) = &r {
            let s = &mut self.core.stats;
            match e {
                ReadError::UnknownType(_) => s.unknown_type += 1,
                ReadError::UnknownConnection { .. } => s.unknown_connection += 1,
                ReadError::UnknownProgram { .. } => s.unknown_program += 1,
                ReadError::ProgTableFull { .. } => s.prog_table_full += 1,
                _ => s.malformed += 1,
            }
            warn!(error = %e, code = e.libccp_code(), "agent message rejected");
        }
        r
    }

    fn read_inner(&mut self, buf: &[u8]) -> Result<Handled, ReadError> {
        let Some(hdr) = buf.first_chunk::<HEADER_LEN>() else {
            return Err(ReadError::ShortHeader(buf.len()));
        };
        let ty = u16::from_le_bytes([hdr[0], hdr[1]]);
        let len = u16::from_le_bytes([hdr[2], hdr[3]]);
        let sid = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        let msg = match MsgType::from_u16(ty) {
            Some(
                t @ (MsgType::Install
                | MsgType::UpdateFields
                | MsgType::ChangeProg
                | MsgType::Hello),
            ) => t,
            _ => return Err(ReadError::UnknownType(ty)),
        };
        if usize::from(len) > buf.len() {
            return Err(ReadError::LenExceedsBuffer {
                len,
                available: buf.len(),
            });
        }
        if usize::from(len) > DATAPATH_MAX_MSG_LEN {
            return Err(ReadError::TooLong(len));
        }
        let now = self.core.now_us();
        let heard_before = self.core.agent.heard;
        let returned = self.agent_alive(now);
        match msg {
            MsgType::Install => self.on_install(buf, heard_before && !returned),
            MsgType::UpdateFields => self.on_update(sid, buf),
            MsgType::ChangeProg => self.on_change_prog(sid, buf),
            _ => self.on_hello(buf),
        }
    }

    /// A valid message arrived: timer off; leaving fallback re-announces every flow.
    /// Returns whether the agent came back from fallback.
    fn agent_alive(&mut self, now: u64) -> bool {
        let a = &mut self.core.agent;
        a.timer_us = None;
        a.heard = true;
        a.last_rx_us = now;
        a.reports_since_rx = 0;
        if !a.in_fallback {
            return false;
        }
        a.in_fallback = false;
        self.core.stats.agent_returns += 1;
        info!(flows = self.live, "agent is back: re-announcing flows");
        self.reannounce(now);
        true
    }

    /// Send CREATE again for every live connection and keep it under fallback until the
    /// agent's first CHANGE_PROG for it.
    fn reannounce(&mut self, now: u64) {
        let core = &mut self.core;
        for conn in self.conns.iter_mut().flatten() {
            conn.awaiting_handback = true;
            conn.create_sent = false;
            conn.last_create_us = None;
            core.stats.reannounced += 1;
            core.send_create(conn, now);
        }
    }

    fn on_install(&mut self, buf: &[u8], maybe_new_agent: bool) -> Result<Handled, ReadError> {
        let bin_err = |needed| ReadError::Truncated {
            msg: MsgType::Install,
            needed,
            available: buf.len(),
        };
        let fixed = buf.get(8..20).ok_or(bin_err(20))?;
        let word =
            |i: usize| u32::from_le_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]]);
        let (uid, ne, ni) = (word(0), word(4) as usize, word(8) as usize);
        if ne > MAX_EVENTS {
            return Err(ReadError::InvalidProgram(LoadError::Bin(
                ccp_lang::bytecode::BinError::TooManyEvents(ne),
            )));
        }
        if ni > MAX_INSTRS {
            return Err(ReadError::InvalidProgram(LoadError::Bin(
                ccp_lang::bytecode::BinError::TooManyInstrs(ni),
            )));
        }
        let ev_end = 20 + EVENT_LEN * ne;
        let needed = ev_end + INSTR_LEN * ni;
        let body = buf.get(20..needed).ok_or(bin_err(needed))?;
        let (ev_bytes, in_bytes) = body.split_at(EVENT_LEN * ne);
        let events = ev_bytes
            .chunks_exact(EVENT_LEN)
            .filter_map(|c| c.first_chunk::<EVENT_LEN>().map(Event::decode))
            .collect();
        let mut instrs = Vec::with_capacity(ni);
        for (index, c) in in_bytes.chunks_exact(INSTR_LEN).enumerate() {
            if let Some(b) = c.first_chunk::<INSTR_LEN>() {
                instrs.push(
                    Instr::decode(b).map_err(|source| ReadError::BadInstr { index, source })?,
                );
            }
        }
        let program =
            Program::new(uid, Bin { events, instrs }).map_err(ReadError::InvalidProgram)?;
        let core = &mut self.core;
        if uid == 1 {
            core.programs.iter_mut().for_each(|p| *p = None);
            core.stats.table_wipes += 1;
            if maybe_new_agent {
                core.negotiated = Negotiated::legacy(Role::Agent);
            }
            if maybe_new_agent && self.live > 0 {
                core.stats.new_agents += 1;
                info!(
                    flows = self.live,
                    "new agent (INSTALL uid 1): re-announcing flows"
                );
                let now = core.now_us();
                self.reannounce(now);
            }
        }
        let core = &mut self.core;
        let Some(slot) = core.programs.iter().position(Option::is_none) else {
            return Err(ReadError::ProgTableFull { uid });
        };
        core.programs[slot] = Some(Arc::new(program));
        core.stats.installs += 1;
        debug!(uid, slot, "program installed");
        Ok(Handled::Installed { uid, slot })
    }

    fn on_update(&mut self, sid: Sid, buf: &[u8]) -> Result<Handled, ReadError> {
        const MSG: MsgType = MsgType::UpdateFields;
        let conn = self
            .conns
            .get_mut((sid as usize).wrapping_sub(1))
            .and_then(Option::as_mut)
            .ok_or(ReadError::UnknownConnection { msg: MSG, sid })?;
        let count = read_u32(buf, 8).ok_or(ReadError::Truncated {
            msg: MSG,
            needed: 12,
            available: buf.len(),
        })?;
        if count > MAX_UPDATE_FIELDS {
            return Err(ReadError::TooManyUpdates { msg: MSG, count });
        }
        let records = records(buf, 12, count, MSG)?;
        stage_records(&mut conn.flow, records, MSG)?;
        self.core.stats.updates += 1;
        Ok(Handled::Updated { sid, count })
    }

    fn on_change_prog(&mut self, sid: Sid, buf: &[u8]) -> Result<Handled, ReadError> {
        const MSG: MsgType = MsgType::ChangeProg;
        let conn = self
            .conns
            .get_mut((sid as usize).wrapping_sub(1))
            .and_then(Option::as_mut)
            .ok_or(ReadError::UnknownConnection { msg: MSG, sid })?;
        let trunc = ReadError::Truncated {
            msg: MSG,
            needed: 16,
            available: buf.len(),
        };
        let uid = read_u32(buf, 8).ok_or(trunc.clone())?;
        let count = read_u32(buf, 12).ok_or(trunc)?;
        if count > MAX_CHANGE_PROG_FIELDS {
            return Err(ReadError::TooManyUpdates { msg: MSG, count });
        }
        let core = &mut self.core;
        let Some(program) = core
            .programs
            .iter()
            .flatten()
            .find(|p| p.uid() == uid)
            .cloned()
        else {
            return Err(ReadError::UnknownProgram { sid, uid });
        };
        let records = records(buf, 16, count, MSG)?;
        // Cannot fail without records.
        let _ = conn.flow.stage_change_program(program, []);
        if conn.awaiting_handback {
            conn.awaiting_handback = false;
            core.stats.handbacks += 1;
            info!(sid, uid, "flow handed back to the agent");
        }
        stage_records(&mut conn.flow, records, MSG)?;
        core.stats.change_progs += 1;
        Ok(Handled::ProgramChanged { sid, uid })
    }

    fn on_hello(&mut self, buf: &[u8]) -> Result<Handled, ReadError> {
        let view = HelloView::parse(buf, &ParseOptions::LENIENT).map_err(ReadError::BadHello)?;
        if view.role() != Role::Agent {
            return Err(ReadError::BadHello(ParseError::HelloBadRole {
                role: view.role() as u8,
            }));
        }
        let core = &mut self.core;
        core.negotiated = core.hello.negotiate(&view.to_hello());
        core.stats.hellos += 1;
        info!(
            agent = view.impl_name(),
            version = %view.protocol(),
            capabilities = ?core.negotiated.capabilities,
            "agent HELLO"
        );
        Ok(Handled::Hello {
            capabilities: core.negotiated.capabilities,
        })
    }
}

impl<C: Callbacks> Core<C> {
    /// µs since the time zero.
    fn now_us(&self) -> u64 {
        self.cb.since_usecs(self.time_zero)
    }

    fn start_timer(&mut self, now: u64) {
        if self.agent.timer_us.is_none() {
            self.agent.timer_us = Some(now);
        }
    }

    fn send_out(&mut self) -> bool {
        match self.cb.send_msg(&self.out) {
            Ok(()) => true,
            Err(e) => {
                self.stats.send_failures += 1;
                debug!(error = %e, "send failed");
                false
            }
        }
    }

    /// READY, then HELLO (if configured). Returns whether READY went out.
    fn send_ready_hello(&mut self) -> bool {
        self.out.clear();
        self.out
            .extend_from_slice(&Ready { id: self.cfg.id }.to_bytes());
        let ok = self.send_out();
        if !ok && !self.agent.in_fallback {
            warn!("could not send READY");
        }
        if self.cfg.handshake {
            self.out.clear();
            if self.hello.encode_into(&mut self.out).is_ok() {
                self.send_out();
            }
        }
        ok
    }

    /// Send CREATE unless one was attempted less than 100 ms ago. A failure starts the
    /// fallback timer.
    fn send_create<T>(&mut self, conn: &mut Conn<T>, now: u64) -> bool {
        if conn
            .last_create_us
            .is_some_and(|t| now.saturating_sub(t) < CREATE_RETRY_US)
        {
            return false;
        }
        conn.last_create_us = Some(now);
        let msg = Create {
            sid: conn.sid,
            init_cwnd: conn.info.init_cwnd,
            mss: conn.info.mss,
            src_ip: conn.info.src_ip,
            src_port: conn.info.src_port,
            dst_ip: conn.info.dst_ip,
            dst_port: conn.info.dst_port,
            cong_alg: conn.alg.as_deref().map(str::to_owned),
        };
        self.out.clear();
        if msg.encode_into(&mut self.out).is_err() {
            return false;
        }
        if self.send_out() {
            conn.create_sent = true;
            self.stats.creates_sent += 1;
            true
        } else {
            if !self.agent.in_fallback {
                warn!(sid = conn.sid, "could not send CREATE");
            }
            self.start_timer(now);
            false
        }
    }

    fn check_fallback(&mut self, now: u64) {
        let a = &self.agent;
        if !a.in_fallback {
            let timed_out = a
                .timer_us
                .is_some_and(|t| now.saturating_sub(t) > self.cfg.fallback_timeout_us);
            let silent = self
                .cfg
                .silence_timeout_us
                .is_some_and(|s| a.reports_since_rx > 0 && now.saturating_sub(a.last_rx_us) > s);
            if !(timed_out || silent) {
                return;
            }
            self.agent.in_fallback = true;
            self.agent.probe_interval_us = self.cfg.probe_interval_us;
            self.agent.next_probe_us = now;
            self.negotiated = Negotiated::legacy(Role::Agent);
            self.stats.fallback_entries += 1;
            warn!(
                silent,
                alg = ?self.cfg.fallback_alg,
                "agent unreachable: entering fallback"
            );
        }
        if now >= self.agent.next_probe_us {
            self.send_ready_hello();
            self.stats.probes_sent += 1;
            let a = &mut self.agent;
            a.next_probe_us = now.saturating_add(a.probe_interval_us);
            let cap = self
                .cfg
                .max_probe_interval_us
                .max(self.cfg.probe_interval_us);
            a.probe_interval_us = a.probe_interval_us.saturating_mul(2).min(cap);
        }
    }

    fn run_fallback(&mut self, conn: &mut Conn<C::Conn>, prims: &Primitives, now: u64) -> Invoked {
        let alg = self.cfg.fallback_alg;
        let fb = conn.fallback.get_or_insert_with(|| {
            let cwnd = if prims.snd_cwnd > 0 {
                prims.snd_cwnd
            } else {
                conn.info.init_cwnd
            };
            Fallback::new(alg, u64::from(cwnd), u64::from(conn.info.mss))
        });
        let cwnd = fb.on_ack(prims, now);
        self.stats.fallback_invocations += 1;
        self.cb.set_cwnd(conn.sid, &mut conn.data, cwnd);
        Invoked::Fallback { cwnd }
    }

    fn run_program(
        &mut self,
        conn: &mut Conn<C::Conn>,
        prims: &Primitives,
        now: u64,
    ) -> Result<Invoked, InvokeError> {
        conn.fallback = None;
        let mut calls = [None; 4];
        let (status, uid) = {
            let outcome = conn.flow.invoke(prims, now);
            for (slot, c) in calls.iter_mut().zip(outcome.calls()) {
                *slot = Some(c);
            }
            let uid = outcome.report().map(|m| {
                self.fields.clear();
                self.fields.extend_from_slice(m.fields);
                m.program_uid
            });
            (outcome.result(), uid)
        };
        if uid.is_some()
            && self
                .negotiated
                .capabilities
                .contains(Capabilities::REPORT_CWND_RATE)
            && self.fields.len() + 2 <= MAX_REPORT_FIELDS
        {
            self.fields
                .push(conn.flow.register(RegKind::Implicit, implicit::CWND));
            self.fields
                .push(conn.flow.register(RegKind::Implicit, implicit::RATE));
        }
        for c in calls.into_iter().flatten() {
            match c {
                Call::SetCwnd(v) => self.cb.set_cwnd(conn.sid, &mut conn.data, v),
                Call::SetRateAbs(v) => self.cb.set_rate_abs(conn.sid, &mut conn.data, v),
            }
        }
        if let Some(uid) = uid {
            self.out.clear();
            if encode_measure_into(conn.sid, uid, &self.fields, &mut self.out).is_ok() {
                if self.send_out() {
                    self.stats.reports_sent += 1;
                    self.agent.reports_since_rx += 1;
                } else {
                    self.start_timer(now);
                }
            }
        }
        match status {
            Ok(()) => Ok(Invoked::Ran {
                reported: uid.is_some(),
            }),
            Err(e) => {
                if e != vm::InvokeError::NoProgram {
                    self.stats.program_errors += 1;
                }
                Err(InvokeError::Program(e))
            }
        }
    }
}

fn conn_memory<T>(c: &Conn<T>) -> usize {
    std::mem::size_of::<Option<Conn<T>>>() - std::mem::size_of::<Flow>()
        + c.flow.memory_bytes()
        + c.alg.as_ref().map_or(0, |a| a.len())
}

fn read_u32(buf: &[u8], off: usize) -> Option<u32> {
    buf.get(off..off + 4)
        .and_then(|b| b.first_chunk::<4>())
        .map(|b| u32::from_le_bytes(*b))
}

/// The `count` 13-byte update records starting at `start`, all present in `buf`.
fn records(buf: &[u8], start: usize, count: u32, msg: MsgType) -> Result<&[u8], ReadError> {
    let needed = start + 13 * count as usize;
    buf.get(start..needed).ok_or(ReadError::Truncated {
        msg,
        needed,
        available: buf.len(),
    })
}

/// Stage update records in order, as libccp: a bad record stops staging (earlier ones stay
/// staged) and is reported.
fn stage_records(flow: &mut Flow, records: &[u8], msg: MsgType) -> Result<(), ReadError> {
    for (index, r) in records.chunks_exact(13).enumerate() {
        let reg_type = r[0];
        let reg_index = u32::from_le_bytes([r[1], r[2], r[3], r[4]]);
        let mut v = [0u8; 8];
        v.copy_from_slice(&r[5..13]);
        let value = u64::from_le_bytes(v);
        let bad = ReadError::BadUpdate {
            msg,
            index,
            reg_type,
            reg_index,
        };
        let ok = match RegKind::from_u8(reg_type) {
            Some(RegKind::Control | RegKind::VolatileControl) => {
                (reg_index as usize) < LIBCCP_CONTROL_REGS
            }
            Some(RegKind::Implicit) => true,
            _ => false,
        };
        if !ok {
            return Err(bad);
        }
        flow.stage_update(reg_type, reg_index, value)
            .map_err(|_| bad)?;
    }
    Ok(())
}
