//! C ABI of [`::ccp_datapath`]: libccp's API (`ccp.h`) on top of the Rust datapath library.
//!
//! The structs keep libccp's names, field order and (for the libccp fields) layout; the
//! functions keep libccp's names, arguments and return codes. The generated header is
//! `include/ccp_datapath.h`. Differences from libccp (all listed in `docs/datapath.md`,
//! "Port your libccp datapath"):
//!
//! * `ccp_connection.index` and the `sid` arguments are `uint32_t` (libccp: `u16`);
//! * `ccp_active_connections` may be NULL: the library then allocates each connection
//!   itself and `max_connections` 0 means "no limit";
//! * new optional fields at the end of `struct ccp_datapath` (zero = default):
//!   `set_rate_rel` (never called), `fallback_alg`, `probe_interval_us`,
//!   `disable_handshake`;
//! * under fallback `ccp_invoke` still returns −101 but has already applied the built-in
//!   controller's window through `set_cwnd`;
//! * extra functions `ccp_tick`, `ccp_get_stats`.
//!
//! All entry points are internally locked (one mutex per datapath), so they may be called
//! from several threads; callbacks run with that lock held and must not call back into the
//! library for the same datapath (such calls are refused with −12). No entry point unwinds
//! into C.
#![allow(non_camel_case_types)]

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::{Mutex, PoisonError};

use ::ccp_datapath::{
    Callbacks, Config, Datapath, DatapathInfo, FallbackAlg, Primitives, SendError, Sid,
};

/// Success.
pub const LIBCCP_OK: c_int = 0;
/// A required datapath field is missing.
pub const LIBCCP_MISSING_ARG: c_int = -11;
/// A NULL argument (also: a callback re-entered the library).
pub const LIBCCP_NULL_ARG: c_int = -12;
/// Negative buffer size.
pub const LIBCCP_BUFSIZE_NEGATIVE: c_int = -21;
/// Message longer than its buffer, or truncated.
pub const LIBCCP_BUFSIZE_TOO_SMALL: c_int = -22;
/// Message longer than 32678 bytes.
pub const LIBCCP_MSG_TOO_LONG: c_int = -23;
/// Tried to write a header of a type the datapath does not send.
pub const LIBCCP_WRITE_INVALID_HEADER_TYPE: c_int = -31;
/// Received a message type the datapath does not accept.
pub const LIBCCP_READ_INVALID_HEADER_TYPE: c_int = -32;
/// Invalid opcode.
pub const LIBCCP_READ_INVALID_OP: c_int = -33;
/// Instruction writes a read-only register.
pub const LIBCCP_READ_REG_NOT_ALLOWED: c_int = -34;
/// Invalid result register type.
pub const LIBCCP_READ_INVALID_RETURN_REG: c_int = -35;
/// Invalid left register type.
pub const LIBCCP_READ_INVALID_LEFT_REG: c_int = -36;
/// Invalid right register type.
pub const LIBCCP_READ_INVALID_RIGHT_REG: c_int = -37;
/// INSTALL parser given another type.
pub const LIBCCP_INSTALL_TYPE_MISMATCH: c_int = -41;
/// Too many events, or an event outside the instructions.
pub const LIBCCP_INSTALL_TOO_MANY_EXPR: c_int = -42;
/// Too many instructions (or report fields).
pub const LIBCCP_INSTALL_TOO_MANY_INSTR: c_int = -43;
/// UPDATE parser given another type.
pub const LIBCCP_UPDATE_TYPE_MISMATCH: c_int = -51;
/// Too many update records.
pub const LIBCCP_UPDATE_TOO_MANY: c_int = -52;
/// Update of a register that cannot be updated.
pub const LIBCCP_UPDATE_INVALID_REG_TYPE: c_int = -53;
/// CHANGE_PROG parser given another type.
pub const LIBCCP_CHANGE_TYPE_MISMATCH: c_int = -61;
/// Too many update records in CHANGE_PROG.
pub const LIBCCP_CHANGE_TOO_MANY: c_int = -62;
/// Unknown socket id.
pub const LIBCCP_UNKNOWN_CONNECTION: c_int = -71;
/// CREATE not yet sent.
pub const LIBCCP_CREATE_PENDING: c_int = -72;
/// Connection not initialised.
pub const LIBCCP_CONNECTION_NOT_INITIALIZED: c_int = -73;
/// Program table full.
pub const LIBCCP_PROG_TABLE_FULL: c_int = -81;
/// Program uid not found.
pub const LIBCCP_PROG_NOT_FOUND: c_int = -82;
/// ADD overflowed.
pub const LIBCCP_ADD_INT_OVERFLOW: c_int = -91;
/// DIV by zero.
pub const LIBCCP_DIV_BY_ZERO: c_int = -92;
/// MUL overflowed.
pub const LIBCCP_MUL_INT_OVERFLOW: c_int = -93;
/// SUB underflowed.
pub const LIBCCP_SUB_INT_UNDERFLOW: c_int = -94;
/// Private state is NULL.
pub const LIBCCP_PRIV_IS_NULL: c_int = -95;
/// No program active, or `ccp_init` not called.
pub const LIBCCP_PROG_IS_NULL: c_int = -96;
/// The agent is unreachable: the flow is under the built-in fallback controller.
pub const LIBCCP_FALLBACK_TIMED_OUT: c_int = -101;
/// `ccp_read_msg`: CHANGE_PROG named a program that is not installed (libccp's +8).
pub const LIBCCP_CHANGE_PROG_UNKNOWN_UID: c_int = 8;

/// Longest algorithm name plus its NUL (`MAX_CONG_ALG_SIZE`).
pub const MAX_CONG_ALG_SIZE: usize = 64;
/// `ccp_datapath.fallback_alg`: Reno (the default).
pub const CCP_FALLBACK_RENO: u32 = 0;
/// `ccp_datapath.fallback_alg`: CUBIC.
pub const CCP_FALLBACK_CUBIC: u32 = 1;

/// Log levels of the `log` callback (libccp's).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ccp_log_level {
    /// Trace.
    TRACE,
    /// Debug.
    DEBUG,
    /// Info.
    INFO,
    /// Warning.
    WARN,
    /// Error.
    ERROR,
}

/// Per-ACK measurements the datapath writes into `conn->prims` before `ccp_invoke`
/// (libccp's layout, 88 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ccp_primitives {
    /// Newly acked in-order bytes since the last invocation.
    pub bytes_acked: u32,
    /// Newly acked in-order packets.
    pub packets_acked: u32,
    /// Out-of-order (SACKed) bytes.
    pub bytes_misordered: u32,
    /// Out-of-order packets.
    pub packets_misordered: u32,
    /// Bytes of ECN-marked packets.
    pub ecn_bytes: u32,
    /// ECN-marked packets.
    pub ecn_packets: u32,
    /// Estimated lost packets (> 0 signals a loss).
    pub lost_pkts_sample: u32,
    /// A retransmission timeout happened (clear it after `ccp_invoke`).
    pub was_timeout: bool,
    /// Latest RTT sample, µs (0 = none).
    pub rtt_sample_us: u64,
    /// Send rate, bytes/s.
    pub rate_outgoing: u64,
    /// Receive rate, bytes/s.
    pub rate_incoming: u64,
    /// Bytes in flight.
    pub bytes_in_flight: u32,
    /// Packets in flight.
    pub packets_in_flight: u32,
    /// Current congestion window, bytes.
    pub snd_cwnd: u32,
    /// Current pacing rate, bytes/s.
    pub snd_rate: u64,
    /// Bytes waiting in the send buffer.
    pub bytes_pending: u32,
}

/// Connection constants announced in CREATE (libccp's layout, 88 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(non_snake_case)]
pub struct ccp_datapath_info {
    /// Initial congestion window, bytes.
    pub init_cwnd: u32,
    /// Maximum segment size, bytes.
    pub mss: u32,
    /// Opaque source address.
    pub src_ip: u32,
    /// Opaque source port.
    pub src_port: u32,
    /// Opaque destination address.
    pub dst_ip: u32,
    /// Opaque destination port.
    pub dst_port: u32,
    /// Requested algorithm, NUL-terminated (empty = the agent's default).
    pub congAlg: [c_char; MAX_CONG_ALG_SIZE],
}

/// One connection. libccp's layout (216 bytes); `index` is `uint32_t` here (libccp:
/// `u16`, at the same offset).
///
/// cbindgen:field-names=[index, last_create_msg_sent, prims, flow_info, state, impl, datapath]
#[repr(C)]
#[derive(Debug)]
pub struct ccp_connection {
    /// Socket id (1-based); 0 = free slot.
    pub index: u32,
    /// Unused by this library (kept for layout).
    pub last_create_msg_sent: u64,
    /// Filled by the datapath before every `ccp_invoke`.
    pub prims: ccp_primitives,
    /// Copy of the info given to `ccp_connection_start`.
    pub flow_info: ccp_datapath_info,
    /// Private (unused, NULL).
    pub state: *mut c_void,
    /// The datapath's per-connection pointer (`ccp_get_impl` / `ccp_set_impl`).
    pub impl_: *mut c_void,
    /// The datapath this connection belongs to.
    pub datapath: *mut ccp_datapath,
}

/// `set_cwnd` / `set_rate_abs` callback.
pub type ccp_set_u32_fn = Option<unsafe extern "C" fn(conn: *mut ccp_connection, value: u32)>;
/// `send_msg` callback: return 0 on success, non-zero on failure.
pub type ccp_send_msg_fn =
    Option<unsafe extern "C" fn(dp: *mut ccp_datapath, msg: *mut c_char, len: c_int) -> c_int>;
/// `log` callback.
pub type ccp_log_fn = Option<
    unsafe extern "C" fn(
        dp: *mut ccp_datapath,
        level: ccp_log_level,
        msg: *const c_char,
        len: c_int,
    ),
>;
/// `now` callback.
pub type ccp_now_fn = Option<unsafe extern "C" fn() -> u64>;
/// `since_usecs` / `after_usecs` callback.
pub type ccp_time_fn = Option<unsafe extern "C" fn(arg: u64) -> u64>;

/// The datapath: callbacks and settings filled by the caller (zero-initialise it, as for
/// libccp). libccp's fields come first, in libccp's order; the fields after `impl` are
/// additions whose zero value is the default.
///
/// cbindgen:field-names=[set_cwnd, set_rate_abs, send_msg, log, time_zero, now, since_usecs, after_usecs, max_connections, ccp_active_connections, fto_us, last_msg_sent, _in_fallback, max_programs, programs, impl, set_rate_rel, fallback_alg, probe_interval_us, disable_handshake]
#[repr(C)]
#[derive(Debug)]
pub struct ccp_datapath {
    /// Required: apply a congestion window (bytes; saturated to `uint32_t`).
    pub set_cwnd: ccp_set_u32_fn,
    /// Required: apply a pacing rate (bytes/s; saturated to `uint32_t`).
    pub set_rate_abs: ccp_set_u32_fn,
    /// Required: send one message to the agent; 0 = success.
    pub send_msg: ccp_send_msg_fn,
    /// Optional log sink (rejected messages, fallback transitions).
    pub log: ccp_log_fn,
    /// Set by `ccp_init`: `now()` at init.
    pub time_zero: u64,
    /// Required: current time in datapath units.
    pub now: ccp_now_fn,
    /// Required: µs since a `now()` value.
    pub since_usecs: ccp_time_fn,
    /// Required (never called, as in libccp): a `now()` value µs in the future.
    pub after_usecs: ccp_time_fn,
    /// Connection limit; 0 = none (only with `ccp_active_connections` NULL).
    pub max_connections: usize,
    /// Caller-allocated, zeroed array of `max_connections` connections, or NULL to let the
    /// library allocate connections.
    pub ccp_active_connections: *mut ccp_connection,
    /// Required, > 0: fallback timeout, µs.
    pub fto_us: u64,
    /// Unused (0).
    pub last_msg_sent: u64,
    /// Maintained by the library: whether the datapath is in fallback.
    pub _in_fallback: bool,
    /// Required, > 0: program table size.
    pub max_programs: usize,
    /// Private: the library's state.
    pub programs: *mut c_void,
    /// The datapath's global pointer.
    pub impl_: *mut c_void,
    /// Optional, never called (libccp removed relative rates in 2019).
    pub set_rate_rel: ccp_set_u32_fn,
    /// `CCP_FALLBACK_RENO` (0, default) or `CCP_FALLBACK_CUBIC`.
    pub fallback_alg: u32,
    /// First interval between READY probes in fallback, µs (0 = 250 ms).
    pub probe_interval_us: u64,
    /// Do not send HELLO after READY.
    pub disable_handshake: bool,
}

/// Counters (see `ccp_datapath::Stats`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ccp_stats {
    /// Messages given to `ccp_read_msg`.
    pub msgs_received: u64,
    /// Programs installed.
    pub installs: u64,
    /// Messages rejected as malformed.
    pub malformed: u64,
    /// Messages of a type a datapath does not accept.
    pub unknown_type: u64,
    /// Messages for an unknown connection.
    pub unknown_connection: u64,
    /// CHANGE_PROG to an unknown program.
    pub unknown_program: u64,
    /// INSTALLs refused because the table was full.
    pub prog_table_full: u64,
    /// `ccp_invoke` calls on live connections.
    pub invocations: u64,
    /// Of those, driven by the fallback controller.
    pub fallback_invocations: u64,
    /// Reports sent.
    pub reports_sent: u64,
    /// Failed sends.
    pub send_failures: u64,
    /// Times fallback was entered.
    pub fallback_entries: u64,
    /// Times the agent came back.
    pub agent_returns: u64,
    /// Flows handed back to the agent.
    pub handbacks: u64,
}

/// The connection pointer the library stores per flow.
#[derive(Debug, Clone, Copy)]
struct ConnPtr(*mut ccp_connection);

/// The Rust callbacks: forward to the C function pointers.
struct CCallbacks {
    dp: *mut ccp_datapath,
    set_cwnd: unsafe extern "C" fn(*mut ccp_connection, u32),
    set_rate_abs: unsafe extern "C" fn(*mut ccp_connection, u32),
    send_msg: unsafe extern "C" fn(*mut ccp_datapath, *mut c_char, c_int) -> c_int,
    now: unsafe extern "C" fn() -> u64,
    since_usecs: unsafe extern "C" fn(u64) -> u64,
    after_usecs: unsafe extern "C" fn(u64) -> u64,
    /// libccp hands `send_msg` a mutable buffer: copy into this one (no allocation once
    /// grown).
    scratch: Vec<u8>,
}

fn sat32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl Callbacks for CCallbacks {
    type Conn = ConnPtr;

    fn set_cwnd(&mut self, _sid: Sid, conn: &mut ConnPtr, cwnd: u64) {
        // SAFETY: `conn.0` is the live connection struct registered for this sid (set in
        // `ccp_connection_start`, valid until `ccp_connection_free`); the C callback was
        // checked non-NULL at init.
        unsafe { (self.set_cwnd)(conn.0, sat32(cwnd)) }
    }

    fn set_rate_abs(&mut self, _sid: Sid, conn: &mut ConnPtr, rate: u64) {
        // SAFETY: as in `set_cwnd`.
        unsafe { (self.set_rate_abs)(conn.0, sat32(rate)) }
    }

    fn send_msg(&mut self, msg: &[u8]) -> Result<(), SendError> {
        let len = c_int::try_from(msg.len()).map_err(|_| SendError::Other("too long".into()))?;
        self.scratch.clear();
        self.scratch.extend_from_slice(msg);
        // SAFETY: `dp` is the caller's datapath (valid while it uses the library);
        // `scratch` holds `len` initialised bytes the callee may read (or even write).
        let rc = unsafe { (self.send_msg)(self.dp, self.scratch.as_mut_ptr().cast(), len) };
        if rc == 0 {
            Ok(())
        } else {
            Err(SendError::Other(format!("send_msg returned {rc}")))
        }
    }

    fn now(&self) -> u64 {
        // SAFETY: checked non-NULL at init; takes no arguments.
        unsafe { (self.now)() }
    }

    fn since_usecs(&self, then: u64) -> u64 {
        // SAFETY: checked non-NULL at init.
        unsafe { (self.since_usecs)(then) }
    }

    fn after_usecs(&self, us: u64) -> u64 {
        // SAFETY: checked non-NULL at init.
        unsafe { (self.after_usecs)(us) }
    }
}

/// The library state behind `ccp_datapath.programs`.
struct State {
    dp: Mutex<Datapath<CCallbacks>>,
    /// Connections live in the caller's array (else: boxed by the library).
    caller_array: bool,
    log: ccp_log_fn,
}

thread_local! {
    /// The state whose lock this thread holds (re-entry from a callback is refused).
    static HELD: Cell<*const State> = const { Cell::new(ptr::null()) };
}

/// Run `f` on the locked datapath of `state`, refusing re-entry from a callback and never
/// unwinding into C.
fn with_state<R>(
    state: *const State,
    on_error: R,
    f: impl FnOnce(&State, &mut Datapath<CCallbacks>) -> R,
) -> R {
    if state.is_null() || HELD.with(|h| h.get()) == state {
        return on_error;
    }
    // SAFETY: `state` was created by `ccp_init` (Box::into_raw) and stays valid until
    // `ccp_free`, which the caller must not run concurrently with other calls.
    let st = unsafe { &*state };
    catch_unwind(AssertUnwindSafe(|| {
        let mut dp = st.dp.lock().unwrap_or_else(PoisonError::into_inner);
        HELD.with(|h| h.set(state));
        let r = f(st, &mut dp);
        HELD.with(|h| h.set(ptr::null()));
        r
    }))
    .unwrap_or_else(|_| {
        HELD.with(|h| h.set(ptr::null()));
        on_error
    })
}

fn state_of(dp: *mut ccp_datapath) -> *const State {
    if dp.is_null() {
        return ptr::null();
    }
    // SAFETY: `dp` is the caller's (non-NULL) datapath struct.
    unsafe { (*dp).programs as *const State }
}

fn log(st: &State, dp: *mut ccp_datapath, level: ccp_log_level, msg: &str) {
    if let Some(f) = st.log {
        let len = c_int::try_from(msg.len()).unwrap_or(c_int::MAX);
        // SAFETY: the caller's log callback; `msg` is valid for `len` bytes during the
        // call (not NUL-terminated: libccp also passes an explicit length).
        unsafe { f(dp, level, msg.as_ptr().cast(), len) }
    }
}

/// Update the libccp-visible fallback flag and log transitions.
fn sync_fallback(st: &State, dp: *mut ccp_datapath, inner: &Datapath<CCallbacks>) {
    let now = inner.in_fallback();
    // SAFETY: `dp` is the caller's live datapath struct.
    let was = unsafe { std::mem::replace(&mut (*dp)._in_fallback, now) };
    if now != was {
        let msg = if now {
            "ccp fallback: agent unreachable, built-in controller active"
        } else {
            "ccp restored: agent is back"
        };
        log(st, dp, ccp_log_level::ERROR, msg);
    }
}

/// `ccp_init`: check the datapath's callbacks and settings, set up the library state in
/// `dp->programs`, set `dp->time_zero` and send READY (then HELLO). Returns 0, or
/// `LIBCCP_MISSING_ARG` if a required field is missing.
///
/// # Safety
///
/// `dp` must point to a valid `ccp_datapath` that stays valid (and is not moved) until
/// `ccp_free`; if `ccp_active_connections` is not NULL it must point to
/// `max_connections` zero-initialised connections with the same lifetime.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ccp_init(dp: *mut ccp_datapath, id: u32) -> c_int {
    if dp.is_null() {
        return LIBCCP_MISSING_ARG;
    }
    // SAFETY: `dp` is non-NULL and valid per the function contract.
    let d = unsafe { &mut *dp };
    let (
        Some(set_cwnd),
        Some(set_rate_abs),
        Some(send_msg),
        Some(now),
        Some(since_usecs),
        Some(after_usecs),
    ) = (
        d.set_cwnd,
        d.set_rate_abs,
        d.send_msg,
        d.now,
        d.since_usecs,
        d.after_usecs,
    )
    else {
        return LIBCCP_MISSING_ARG;
    };
    let caller_array = !d.ccp_active_connections.is_null();
    if d.fto_us == 0 || d.max_programs == 0 || (caller_array && d.max_connections == 0) {
        return LIBCCP_MISSING_ARG;
    }
    let mut cfg = Config::new(id);
    cfg.fallback_timeout_us = d.fto_us;
    cfg.max_programs = d.max_programs;
    cfg.max_connections = match d.max_connections {
        0 => None,
        n => Some(u32::try_from(n).unwrap_or(u32::MAX - 1)),
    };
    cfg.fallback_alg = if d.fallback_alg == CCP_FALLBACK_CUBIC {
        FallbackAlg::Cubic
    } else {
        FallbackAlg::Reno
    };
    if d.probe_interval_us > 0 {
        cfg.probe_interval_us = d.probe_interval_us;
    }
    cfg.handshake = !d.disable_handshake;
    let cb = CCallbacks {
        dp,
        set_cwnd,
        set_rate_abs,
        send_msg,
        now,
        since_usecs,
        after_usecs,
        scratch: Vec::with_capacity(1024),
    };
    let log_fn = d.log;
    let r = catch_unwind(AssertUnwindSafe(|| Datapath::init(cfg, cb)));
    let Ok(Ok(inner)) = r else {
        return LIBCCP_MISSING_ARG;
    };
    d.time_zero = inner.time_zero();
    d._in_fallback = false;
    d.last_msg_sent = 0;
    let st = Box::new(State {
        dp: Mutex::new(inner),
        caller_array,
        log: log_fn,
    });
    d.programs = Box::into_raw(st).cast();
    LIBCCP_OK
}

/// `ccp_free`: release the library state (and the connections the library allocated).
/// Sends nothing.
///
/// # Safety
///
/// `dp` must be a datapath initialised by `ccp_init` (or NULL); no other call on it may
/// run concurrently or afterwards (until a new `ccp_init`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ccp_free(dp: *mut ccp_datapath) {
    let state = state_of(dp) as *mut State;
    if state.is_null() {
        return;
    }
    // SAFETY: `state` came from `Box::into_raw` in `ccp_init`; nobody else uses it now.
    let st = unsafe { Box::from_raw(state) };
    // SAFETY: `dp` is non-NULL (state_of returned non-NULL).
    unsafe { (*dp).programs = ptr::null_mut() };
    let caller_array = st.caller_array;
    let inner = st.dp.into_inner().unwrap_or_else(PoisonError::into_inner);
    if !caller_array {
        // Free the connections the library allocated.
        let mut sid: Sid = 1;
        let mut left = inner.connections();
        while left > 0 && sid < u32::MAX {
            if let Some(c) = inner.conn(sid) {
                // SAFETY: allocated by `ccp_connection_start` with Box::into_raw and not
                // freed yet (still registered).
                drop(unsafe { Box::from_raw(c.0) });
                left -= 1;
            }
            sid += 1;
        }
    }
}

/// `ccp_connection_start`: create a connection (lowest free sid), copy `info`, store
/// `impl`, send CREATE (retried by `ccp_invoke` if it fails). Returns the connection, or
/// NULL if the limit is reached or `info->congAlg` is not NUL-terminated UTF-8.
///
/// # Safety
///
/// `dp` must be initialised by `ccp_init`; `info` must point to a valid
/// `ccp_datapath_info`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ccp_connection_start(
    dp: *mut ccp_datapath,
    impl_: *mut c_void,
    info: *mut ccp_datapath_info,
) -> *mut ccp_connection {
    if info.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: non-NULL and valid per the contract; copied.
    let info = unsafe { *info };
    let name_bytes: Vec<u8> = info.congAlg.iter().map(|&c| c as u8).collect();
    let Some(end) = name_bytes.iter().position(|&b| b == 0) else {
        return ptr::null_mut();
    };
    let Ok(name) = std::str::from_utf8(&name_bytes[..end]) else {
        return ptr::null_mut();
    };
    let alg = (!name.is_empty()).then_some(name);
    let dinfo = DatapathInfo {
        init_cwnd: info.init_cwnd,
        mss: info.mss,
        src_ip: info.src_ip,
        src_port: info.src_port,
        dst_ip: info.dst_ip,
        dst_port: info.dst_port,
    };
    with_state(state_of(dp), ptr::null_mut(), |st, inner| {
        let sid = match inner.connection_start(dinfo, alg, ConnPtr(ptr::null_mut())) {
            Ok(s) => s,
            Err(e) => {
                log(st, dp, ccp_log_level::WARN, &e.to_string());
                return ptr::null_mut();
            }
        };
        let conn: *mut ccp_connection = if st.caller_array {
            // SAFETY: `dp` is valid; the sid is ≤ max_connections (the library enforces
            // the limit and hands out the lowest free sid), so the slot is in the array.
            unsafe { (*dp).ccp_active_connections.add((sid - 1) as usize) }
        } else {
            Box::into_raw(Box::new(zeroed_connection()))
        };
        // SAFETY: `conn` is a valid connection slot owned by this sid.
        unsafe {
            (*conn).index = sid;
            (*conn).last_create_msg_sent = 0;
            (*conn).prims = ccp_primitives::default();
            (*conn).flow_info = info;
            (*conn).state = ptr::null_mut();
            (*conn).impl_ = impl_;
            (*conn).datapath = dp;
        }
        if let Some(c) = inner.conn_mut(sid) {
            *c = ConnPtr(conn);
        }
        sync_fallback(st, dp, inner);
        conn
    })
}

/// `ccp_connection_lookup`: the live connection with this sid, or NULL.
///
/// # Safety
///
/// `dp` must be initialised by `ccp_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ccp_connection_lookup(
    dp: *mut ccp_datapath,
    sid: u32,
) -> *mut ccp_connection {
    with_state(state_of(dp), ptr::null_mut(), |_, inner| {
        inner.conn(sid).map_or(ptr::null_mut(), |c| c.0)
    })
}

/// `ccp_connection_free`: send the close message, free the sid (and, when the library
/// allocated it, the connection struct: do not use it afterwards).
///
/// # Safety
///
/// `dp` must be initialised by `ccp_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ccp_connection_free(dp: *mut ccp_datapath, sid: u32) {
    with_state(state_of(dp), (), |st, inner| {
        let Some(c) = inner.connection_free(sid) else {
            return;
        };
        if c.0.is_null() {
            return;
        }
        if st.caller_array {
            // SAFETY: a slot of the caller's array.
            unsafe { (*c.0).index = 0 };
        } else {
            // SAFETY: allocated with Box::into_raw in `ccp_connection_start`.
            drop(unsafe { Box::from_raw(c.0) });
        }
    })
}

/// `ccp_get_impl`: the connection's `impl` pointer.
///
/// # Safety
///
/// `conn` must be a live connection (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ccp_get_impl(conn: *mut ccp_connection) -> *mut c_void {
    if conn.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: non-NULL live connection.
    unsafe { (*conn).impl_ }
}

/// `ccp_set_impl`: set the connection's `impl` pointer.
///
/// # Safety
///
/// `conn` must be a live connection (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ccp_set_impl(conn: *mut ccp_connection, ptr: *mut c_void) {
    if !conn.is_null() {
        // SAFETY: non-NULL live connection.
        unsafe { (*conn).impl_ = ptr };
    }
}

/// `ccp_read_msg`: handle one message from the agent. Returns 0, a negative libccp code,
/// or `LIBCCP_CHANGE_PROG_UNKNOWN_UID` (+8, as libccp) for a CHANGE_PROG to an unknown
/// program.
///
/// # Safety
///
/// `dp` must be initialised by `ccp_init`; `buf` must hold `bufsize` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ccp_read_msg(
    dp: *mut ccp_datapath,
    buf: *mut c_char,
    bufsize: c_int,
) -> c_int {
    let state = state_of(dp);
    if state.is_null() {
        return LIBCCP_PROG_IS_NULL;
    }
    let Ok(n) = usize::try_from(bufsize) else {
        return LIBCCP_BUFSIZE_NEGATIVE;
    };
    if buf.is_null() {
        return LIBCCP_NULL_ARG;
    }
    // SAFETY: `buf` holds `n` readable bytes per the contract; only read.
    let msg = unsafe { std::slice::from_raw_parts(buf as *const u8, n) };
    with_state(state, LIBCCP_NULL_ARG, |st, inner| {
        let rc = match inner.read_msg(msg) {
            Ok(h) => h.libccp_code(),
            Err(e) => {
                log(st, dp, ccp_log_level::WARN, &format!("ccp_read_msg: {e}"));
                e.libccp_code()
            }
        };
        sync_fallback(st, dp, inner);
        rc
    })
}

/// `ccp_invoke`: run one invocation for `conn` with the primitives in `conn->prims`.
/// Returns 0, a negative libccp code (−96 while the agent has not sent CHANGE_PROG), or
/// −101 under fallback (after the built-in controller set the window).
///
/// # Safety
///
/// `conn` must be a live connection of an initialised datapath (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ccp_invoke(conn: *mut ccp_connection) -> c_int {
    if conn.is_null() {
        return LIBCCP_NULL_ARG;
    }
    // SAFETY: non-NULL live connection; fields read by value.
    let (sid, dp, p) = unsafe { ((*conn).index, (*conn).datapath, (*conn).prims) };
    let state = state_of(dp);
    if state.is_null() {
        return LIBCCP_PROG_IS_NULL;
    }
    let prims = Primitives {
        bytes_acked: p.bytes_acked,
        packets_acked: p.packets_acked,
        bytes_misordered: p.bytes_misordered,
        packets_misordered: p.packets_misordered,
        ecn_bytes: p.ecn_bytes,
        ecn_packets: p.ecn_packets,
        lost_pkts_sample: p.lost_pkts_sample,
        was_timeout: p.was_timeout,
        rtt_sample_us: p.rtt_sample_us,
        rate_outgoing: p.rate_outgoing,
        rate_incoming: p.rate_incoming,
        bytes_in_flight: p.bytes_in_flight,
        packets_in_flight: p.packets_in_flight,
        snd_cwnd: p.snd_cwnd,
        snd_rate: p.snd_rate,
        bytes_pending: p.bytes_pending,
    };
    with_state(state, LIBCCP_NULL_ARG, |st, inner| {
        if inner.conn(sid).map(|c| c.0) != Some(conn) {
            return LIBCCP_UNKNOWN_CONNECTION;
        }
        let rc = match inner.invoke(sid, &prims) {
            Ok(i) => i.libccp_code(),
            Err(e) => e.libccp_code(),
        };
        sync_fallback(st, dp, inner);
        rc
    })
}

/// Timer entry point (not in libccp): enter fallback / send a due probe without waiting
/// for an ACK. Returns the µs until the library next needs `ccp_tick`, or `UINT64_MAX`
/// if no timer is pending.
///
/// # Safety
///
/// `dp` must be initialised by `ccp_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ccp_tick(dp: *mut ccp_datapath) -> u64 {
    with_state(state_of(dp), u64::MAX, |st, inner| {
        let next = inner.tick().unwrap_or(u64::MAX);
        sync_fallback(st, dp, inner);
        next
    })
}

/// Copy the library's counters into `*out` (not in libccp). Returns 0, or −12 if `dp`
/// is not initialised or `out` is NULL.
///
/// # Safety
///
/// `dp` must be initialised by `ccp_init`; `out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ccp_get_stats(dp: *mut ccp_datapath, out: *mut ccp_stats) -> c_int {
    if out.is_null() {
        return LIBCCP_NULL_ARG;
    }
    with_state(state_of(dp), LIBCCP_NULL_ARG, |_, inner| {
        let s = inner.stats();
        let c = ccp_stats {
            msgs_received: s.msgs_received,
            installs: s.installs,
            malformed: s.malformed,
            unknown_type: s.unknown_type,
            unknown_connection: s.unknown_connection,
            unknown_program: s.unknown_program,
            prog_table_full: s.prog_table_full,
            invocations: s.invocations,
            fallback_invocations: s.fallback_invocations,
            reports_sent: s.reports_sent,
            send_failures: s.send_failures,
            fallback_entries: s.fallback_entries,
            agent_returns: s.agent_returns,
            handbacks: s.handbacks,
        };
        // SAFETY: `out` is non-NULL and writable per the contract.
        unsafe { out.write(c) };
        LIBCCP_OK
    })
}

fn zeroed_connection() -> ccp_connection {
    ccp_connection {
        index: 0,
        last_create_msg_sent: 0,
        prims: ccp_primitives::default(),
        flow_info: ccp_datapath_info {
            init_cwnd: 0,
            mss: 0,
            src_ip: 0,
            src_port: 0,
            dst_ip: 0,
            dst_port: 0,
            congAlg: [0; MAX_CONG_ALG_SIZE],
        },
        state: ptr::null_mut(),
        impl_: ptr::null_mut(),
        datapath: ptr::null_mut(),
    }
}

// libccp's layout for the structs it shares with us (x86-64).
const _: () = assert!(std::mem::size_of::<ccp_primitives>() == 88);
const _: () = assert!(std::mem::size_of::<ccp_datapath_info>() == 88);
const _: () = assert!(std::mem::size_of::<ccp_connection>() == 216);
const _: () = assert!(std::mem::offset_of!(ccp_datapath, impl_) == 120);
