//! A deterministic harness around the real C libccp (the `libccp.a` that the crates.io
//! `libccp` 1.2 crate builds), driven through its C API with our own callbacks and a
//! **mock clock** in µs.
//!
//! The `libccp` crate's Rust wrapper reads the wall clock, so it is not used; only its
//! static library is. **Every binary using this module must link that crate**, e.g. with
//! `use libccp as _;` (it is a dev-dependency of this crate), otherwise linking fails
//! with undefined `ccp_*` symbols.
//!
//! The mock clock is thread-local (libccp's `now()` callback has no context argument):
//! [`set_clock_us`] / [`clock_us`]. A [`Libccp`] must be used on one thread.
//!
//! libccp trusts its input: messages whose counts exceed the buffer, or programs that
//! read registers outside its arrays, make it read or write out of bounds. [`Libccp::read_msg`]
//! therefore refuses (without calling libccp) every message on which libccp's behaviour
//! is not defined; see [`Refused`].
#![allow(unsafe_code)]

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};
use std::ptr;

use ccp_lang::bytecode::{
    Bin, EVENT_LEN, Event, INSTR_LEN, Instr, LIBCCP_CONTROL_REGS, LIBCCP_LOCAL_REGS,
    LIBCCP_REPORT_REGS, LIBCCP_TMP_REGS, Operand, RegKind,
};
use ccp_lang::vm::Primitives;
use thiserror::Error;

/// Raw libccp C declarations (x86-64 layout, checked against spec §4.2 sizes).
#[allow(non_camel_case_types, missing_docs)]
pub mod ffi {
    use super::*;

    /// `struct ccp_primitives` (88 bytes).
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct ccp_primitives {
        pub bytes_acked: u32,
        pub packets_acked: u32,
        pub bytes_misordered: u32,
        pub packets_misordered: u32,
        pub ecn_bytes: u32,
        pub ecn_packets: u32,
        pub lost_pkts_sample: u32,
        pub was_timeout: bool,
        pub rtt_sample_us: u64,
        pub rate_outgoing: u64,
        pub rate_incoming: u64,
        pub bytes_in_flight: u32,
        pub packets_in_flight: u32,
        pub snd_cwnd: u32,
        pub snd_rate: u64,
        pub bytes_pending: u32,
    }

    /// `struct ccp_datapath_info` (88 bytes).
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct ccp_datapath_info {
        pub init_cwnd: u32,
        pub mss: u32,
        pub src_ip: u32,
        pub src_port: u32,
        pub dst_ip: u32,
        pub dst_port: u32,
        pub cong_alg: [c_char; 64],
    }

    /// `struct ccp_connection` (216 bytes).
    #[repr(C)]
    pub struct ccp_connection {
        pub index: u16,
        pub last_create_msg_sent: u64,
        pub prims: ccp_primitives,
        pub flow_info: ccp_datapath_info,
        pub state: *mut c_void,
        pub impl_: *mut c_void,
        pub datapath: *mut ccp_datapath,
    }

    /// `struct ccp_datapath` (128 bytes).
    #[repr(C)]
    pub struct ccp_datapath {
        pub set_cwnd: Option<unsafe extern "C" fn(*mut ccp_connection, u32)>,
        pub set_rate_abs: Option<unsafe extern "C" fn(*mut ccp_connection, u32)>,
        pub send_msg: Option<unsafe extern "C" fn(*mut ccp_datapath, *mut c_char, c_int) -> c_int>,
        pub log: Option<unsafe extern "C" fn(*mut ccp_datapath, c_int, *const c_char, c_int)>,
        pub time_zero: u64,
        pub now: Option<unsafe extern "C" fn() -> u64>,
        pub since_usecs: Option<unsafe extern "C" fn(u64) -> u64>,
        pub after_usecs: Option<unsafe extern "C" fn(u64) -> u64>,
        pub max_connections: usize,
        pub ccp_active_connections: *mut ccp_connection,
        pub fto_us: u64,
        pub last_msg_sent: u64,
        pub in_fallback: bool,
        pub max_programs: usize,
        pub programs: *mut c_void,
        pub impl_: *mut c_void,
    }

    const _: () = assert!(std::mem::size_of::<ccp_primitives>() == 88);
    const _: () = assert!(std::mem::size_of::<ccp_datapath_info>() == 88);
    const _: () = assert!(std::mem::size_of::<ccp_connection>() == 216);
    const _: () = assert!(std::mem::size_of::<ccp_datapath>() == 128);

    unsafe extern "C" {
        pub fn ccp_init(dp: *mut ccp_datapath, id: u32) -> c_int;
        pub fn ccp_free(dp: *mut ccp_datapath);
        pub fn ccp_connection_start(
            dp: *mut ccp_datapath,
            impl_: *mut c_void,
            info: *mut ccp_datapath_info,
        ) -> *mut ccp_connection;
        pub fn ccp_connection_free(dp: *mut ccp_datapath, sid: u16);
        pub fn ccp_read_msg(dp: *mut ccp_datapath, buf: *mut c_char, bufsize: c_int) -> c_int;
        pub fn ccp_invoke(conn: *mut ccp_connection) -> c_int;
    }
}

use ffi::{ccp_connection, ccp_datapath, ccp_datapath_info, ccp_primitives};

thread_local! {
    static CLOCK_US: Cell<u64> = const { Cell::new(0) };
}

/// Set this thread's mock clock (µs; what libccp's `now()` returns).
pub fn set_clock_us(t: u64) {
    CLOCK_US.with(|c| c.set(t));
}

/// This thread's mock clock (µs).
pub fn clock_us() -> u64 {
    CLOCK_US.try_with(Cell::get).unwrap_or(0)
}

unsafe extern "C" fn mock_now() -> u64 {
    clock_us()
}

unsafe extern "C" fn mock_since_usecs(then: u64) -> u64 {
    clock_us().wrapping_sub(then)
}

unsafe extern "C" fn mock_after_usecs(us: u64) -> u64 {
    clock_us().wrapping_add(us)
}

/// A `set_cwnd` / `set_rate_abs` callback made by libccp (values as the C ABI passes
/// them: truncated to u32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Callback {
    /// `set_cwnd(conn, cwnd)`.
    SetCwnd(u32),
    /// `set_rate_abs(conn, rate)`.
    SetRateAbs(u32),
}

/// What the callbacks saw. In counting mode (`record == false`) only the counters and
/// last values are kept (cheap enough for benchmarks).
#[derive(Debug, Default)]
pub struct Recorder {
    /// Keep every callback and message (otherwise only count them).
    pub record: bool,
    /// Callbacks in order (recording mode).
    pub calls: Vec<Callback>,
    /// Messages libccp sent, in order (recording mode).
    pub sent: Vec<Vec<u8>>,
    /// Number of callbacks.
    pub n_calls: u64,
    /// Number of messages sent.
    pub n_sent: u64,
    /// Last cwnd set.
    pub last_cwnd: u32,
    /// Last rate set.
    pub last_rate: u32,
    /// Sum of the lengths of all messages sent.
    pub sent_bytes: u64,
}

/// Recover the recorder from a connection pointer given to a callback.
///
/// SAFETY (callers): `conn` is a connection of a datapath created by [`Libccp::new`],
/// whose `impl_` points to the live, boxed [`Recorder`] owned by that harness; libccp
/// calls callbacks synchronously from within harness methods, while no Rust reference to
/// the recorder exists.
unsafe fn recorder_of_dp<'a>(dp: *mut ccp_datapath) -> Option<&'a mut Recorder> {
    if dp.is_null() {
        return None;
    }
    // SAFETY: see the function comment; `dp` is the harness's live datapath.
    let rec = unsafe { (*dp).impl_ } as *mut Recorder;
    // SAFETY: `impl_` is the harness's boxed recorder or null.
    unsafe { rec.as_mut() }
}

unsafe extern "C" fn cb_set_cwnd(conn: *mut ccp_connection, cwnd: u32) {
    if conn.is_null() {
        return;
    }
    // SAFETY: libccp passes a live connection whose `datapath` is the harness's.
    if let Some(r) = unsafe { recorder_of_dp((*conn).datapath) } {
        r.n_calls += 1;
        r.last_cwnd = cwnd;
        if r.record {
            r.calls.push(Callback::SetCwnd(cwnd));
        }
    }
}

unsafe extern "C" fn cb_set_rate_abs(conn: *mut ccp_connection, rate: u32) {
    if conn.is_null() {
        return;
    }
    // SAFETY: as in `cb_set_cwnd`.
    if let Some(r) = unsafe { recorder_of_dp((*conn).datapath) } {
        r.n_calls += 1;
        r.last_rate = rate;
        if r.record {
            r.calls.push(Callback::SetRateAbs(rate));
        }
    }
}

unsafe extern "C" fn cb_send_msg(dp: *mut ccp_datapath, msg: *mut c_char, len: c_int) -> c_int {
    // SAFETY: `dp` is the harness's datapath (see `recorder_of_dp`).
    let Some(r) = (unsafe { recorder_of_dp(dp) }) else {
        return 0;
    };
    let n = usize::try_from(len).unwrap_or(0);
    r.n_sent += 1;
    r.sent_bytes += n as u64;
    if r.record && !msg.is_null() {
        // SAFETY: libccp passes a buffer of at least `len` initialised bytes.
        let bytes = unsafe { std::slice::from_raw_parts(msg as *const u8, n) };
        r.sent.push(bytes.to_vec());
    }
    0
}

/// Why [`Libccp::read_msg`] refused to pass a message to libccp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum Refused {
    /// Shorter than the 8-byte header (libccp copies 8 bytes unconditionally).
    #[error("message shorter than its header")]
    NoHeader,
    /// The counts imply more bytes than the buffer holds (libccp would read past it).
    #[error("counts imply {needed} bytes, buffer has {have}")]
    Truncated {
        /// Bytes the counts imply.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// The INSTALL does not fit libccp's tables, or an event range leaves the
    /// instruction array (stale entries / endless 8-bit loop).
    #[error("program outside libccp's defined behaviour: {0}")]
    BadProgram(&'static str),
    /// An operand reads a register outside libccp's arrays.
    #[error("instruction {instr}: register {kind:?} {index} out of libccp's range")]
    RegisterOutOfRange {
        /// Instruction index.
        instr: usize,
        /// Operand kind.
        kind: RegKind,
        /// Operand index.
        index: u32,
    },
    /// An update targets a control register ≥ 110 (libccp writes out of bounds).
    #[error("update of control register {0} (libccp stores 110)")]
    UpdateOutOfRange(u32),
    /// More connections or programs than the harness was created with.
    #[error("harness capacity exceeded")]
    Capacity,
}

/// Why the harness could not be created or a connection started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum HarnessError {
    /// `ccp_init` failed with this code.
    #[error("ccp_init returned {0}")]
    Init(i32),
    /// No free connection slot.
    #[error("no free connection slot")]
    NoSlot,
    /// Unknown connection id.
    #[error("unknown connection {0}")]
    UnknownSid(u16),
}

/// One libccp datapath with its connection array, callbacks and recorder.
pub struct Libccp {
    dp: *mut ccp_datapath,
    conns: *mut ccp_connection,
    n_conns: usize,
    rec: *mut Recorder,
}

impl Libccp {
    /// `ccp_init` a datapath with room for `max_connections` connections and
    /// `max_programs` programs, datapath id `id`, fallback timeout 1 s, at the current
    /// mock time (which becomes libccp's `time_zero`). `record` selects the recorder
    /// mode. The READY message it sends is in the recorder.
    pub fn new(
        max_connections: usize,
        max_programs: usize,
        id: u32,
        record: bool,
    ) -> Result<Libccp, HarnessError> {
        let rec = Box::into_raw(Box::new(Recorder {
            record,
            ..Recorder::default()
        }));
        let conns: Box<[ccp_connection]> = (0..max_connections.max(1))
            .map(|_| zeroed_connection())
            .collect();
        let n_conns = conns.len();
        let conns = Box::into_raw(conns) as *mut ccp_connection;
        let dp = Box::into_raw(Box::new(ccp_datapath {
            set_cwnd: Some(cb_set_cwnd),
            set_rate_abs: Some(cb_set_rate_abs),
            send_msg: Some(cb_send_msg),
            log: None,
            time_zero: 0,
            now: Some(mock_now),
            since_usecs: Some(mock_since_usecs),
            after_usecs: Some(mock_after_usecs),
            max_connections: n_conns,
            ccp_active_connections: conns,
            fto_us: 1_000_000,
            last_msg_sent: 0,
            in_fallback: false,
            max_programs: max_programs.max(1),
            programs: ptr::null_mut(),
            impl_: rec as *mut c_void,
        }));
        let h = Libccp {
            dp,
            conns,
            n_conns,
            rec,
        };
        // SAFETY: `dp` is a fully initialised datapath whose pointers (connection array,
        // recorder) stay valid until `h` is dropped.
        let ok = unsafe { ffi::ccp_init(h.dp, id) };
        if ok < 0 {
            return Err(HarnessError::Init(ok));
        }
        Ok(h)
    }

    /// libccp's `time_zero` (mock µs at `ccp_init`).
    pub fn time_zero(&self) -> u64 {
        // SAFETY: `dp` is live for `self`'s lifetime; no callback is running.
        unsafe { (*self.dp).time_zero }
    }

    /// The recorder.
    pub fn recorder(&mut self) -> &mut Recorder {
        // SAFETY: the recorder is live for `self`'s lifetime, and libccp only touches it
        // from within `&mut self` methods, so this borrow is unique.
        unsafe { &mut *self.rec }
    }

    /// `ccp_connection_start` with the given flow info; returns the sid. The CREATE
    /// message it sends is in the recorder.
    pub fn start_connection(&mut self, init_cwnd: u32, mss: u32) -> Result<u16, HarnessError> {
        let mut info = ccp_datapath_info {
            init_cwnd,
            mss,
            src_ip: 0,
            src_port: 0,
            dst_ip: 0,
            dst_port: 0,
            cong_alg: [0; 64],
        };
        // SAFETY: `dp` is live and initialised; `info` outlives the call (libccp copies it).
        let conn = unsafe { ffi::ccp_connection_start(self.dp, ptr::null_mut(), &mut info) };
        if conn.is_null() {
            return Err(HarnessError::NoSlot);
        }
        // SAFETY: a non-null return points into our connection array.
        Ok(unsafe { (*conn).index })
    }

    fn conn(&self, sid: u16) -> Result<*mut ccp_connection, HarnessError> {
        let i = usize::from(sid);
        if i == 0 || i > self.n_conns {
            return Err(HarnessError::UnknownSid(sid));
        }
        // SAFETY: `i - 1 < n_conns`, inside the connection array.
        let c = unsafe { self.conns.add(i - 1) };
        // SAFETY: `c` points to an initialised connection slot.
        if unsafe { (*c).index } != sid {
            return Err(HarnessError::UnknownSid(sid));
        }
        Ok(c)
    }

    /// Fill connection `sid`'s primitives and `ccp_invoke` it; returns libccp's code.
    pub fn invoke(&mut self, sid: u16, prims: &Primitives) -> Result<i32, HarnessError> {
        let c = self.conn(sid)?;
        // SAFETY: `c` is a started connection of this datapath; libccp's callbacks only
        // touch the recorder, which is not borrowed during the call.
        unsafe {
            (*c).prims = to_c(prims);
            Ok(ffi::ccp_invoke(c))
        }
    }

    /// `ccp_connection_free(sid)` (sends the close MEASURE).
    pub fn free_connection(&mut self, sid: u16) -> Result<(), HarnessError> {
        self.conn(sid)?;
        // SAFETY: `sid` names a started connection of this live datapath.
        unsafe { ffi::ccp_connection_free(self.dp, sid) };
        Ok(())
    }

    /// Hand one agent message to `ccp_read_msg` and return its code, unless the message
    /// is outside libccp's defined behaviour (then libccp is not called).
    pub fn read_msg(&mut self, msg: &[u8]) -> Result<i32, Refused> {
        check_defined(msg)?;
        let mut buf = msg.to_vec();
        let len = c_int::try_from(buf.len()).map_err(|_| Refused::Capacity)?;
        // SAFETY: `buf` holds `len` bytes and `check_defined` verified that libccp's
        // parse stays inside them and inside its own tables.
        Ok(unsafe { ffi::ccp_read_msg(self.dp, buf.as_mut_ptr() as *mut c_char, len) })
    }
}

impl Drop for Libccp {
    fn drop(&mut self) {
        for i in 0..self.n_conns {
            // SAFETY: `i < n_conns`.
            let idx = unsafe { (*self.conns.add(i)).index };
            if idx != 0 {
                // SAFETY: a started connection of this live datapath.
                unsafe { ffi::ccp_connection_free(self.dp, idx) };
            }
        }
        // SAFETY: the datapath was initialised by `ccp_init`; after `ccp_free` nothing
        // references the connection array or the recorder, so they are freed from the
        // boxes they were created from.
        unsafe {
            ffi::ccp_free(self.dp);
            drop(Box::from_raw(self.dp));
            drop(Box::from_raw(ptr::slice_from_raw_parts_mut(
                self.conns,
                self.n_conns,
            )));
            drop(Box::from_raw(self.rec));
        }
    }
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
            cong_alg: [0; 64],
        },
        state: ptr::null_mut(),
        impl_: ptr::null_mut(),
        datapath: ptr::null_mut(),
    }
}

/// Our [`Primitives`] as libccp's struct.
pub fn to_c(p: &Primitives) -> ccp_primitives {
    ccp_primitives {
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
    }
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Check that libccp's handling of `msg` stays inside the buffer and its own arrays.
pub fn check_defined(msg: &[u8]) -> Result<(), Refused> {
    if msg.len() < 8 {
        return Err(Refused::NoHeader);
    }
    let ty = u16::from_le_bytes([msg[0], msg[1]]);
    let len = usize::from(u16::from_le_bytes([msg[2], msg[3]]));
    // libccp returns an error before parsing when len > buffer; nothing else to check.
    if len > msg.len() {
        return Ok(());
    }
    let truncated = |needed: usize| Refused::Truncated {
        needed,
        have: msg.len(),
    };
    match ty {
        2 => {
            let (Some(ne), Some(ni)) = (u32_at(msg, 12), u32_at(msg, 16)) else {
                return Err(truncated(20));
            };
            let (ne, ni) = (ne as usize, ni as usize);
            if ne > 256 || ni > 255 {
                return Err(Refused::BadProgram("too many events or instructions"));
            }
            let needed = 20 + EVENT_LEN * ne + INSTR_LEN * ni;
            if needed > msg.len() {
                return Err(truncated(needed));
            }
            // Decode as libccp does. A program that fails to decode stays installed
            // half-decoded in libccp (spec §2.13): refuse those.
            let mut bin = Bin::default();
            for k in 0..ne {
                let off = 20 + EVENT_LEN * k;
                let mut b = [0u8; EVENT_LEN];
                b.copy_from_slice(&msg[off..off + EVENT_LEN]);
                bin.events.push(Event::decode(&b));
            }
            for k in 0..ni {
                let off = 20 + EVENT_LEN * ne + INSTR_LEN * k;
                let mut b = [0u8; INSTR_LEN];
                b.copy_from_slice(&msg[off..off + INSTR_LEN]);
                match Instr::decode(&b) {
                    Ok(i) => bin.instrs.push(i),
                    Err(_) => return Err(Refused::BadProgram("undecodable instruction")),
                }
            }
            if bin.validate().is_err() {
                return Err(Refused::BadProgram("event range outside the instructions"));
            }
            for (k, ins) in bin.instrs.iter().enumerate() {
                for op in [ins.result, ins.left, ins.right] {
                    check_operand(k, op)?;
                }
            }
            let report_defs = bin
                .instrs
                .iter()
                .take_while(|i| i.op == ccp_lang::bytecode::Op::Def)
                .filter(|i| matches!(i.left.kind, RegKind::Report | RegKind::VolatileReport))
                .count();
            if report_defs > LIBCCP_REPORT_REGS {
                return Err(Refused::BadProgram("more than 110 report fields"));
            }
            Ok(())
        }
        3 => {
            // libccp reads the count as the first byte, signed; negative → rejected.
            let n = i8::from_le_bytes([*msg.get(8).ok_or(truncated(9))?]);
            if n < 0 {
                return Ok(());
            }
            check_updates(msg, 12, n as usize)
        }
        4 => {
            let n = u32_at(msg, 12).ok_or(truncated(16))? as usize;
            if n > 222 {
                return Ok(());
            }
            check_updates(msg, 16, n)
        }
        _ => Ok(()),
    }
}

fn check_operand(instr: usize, op: Operand) -> Result<(), Refused> {
    let limit = match op.kind {
        RegKind::Immediate | RegKind::Primitive => return Ok(()),
        RegKind::Implicit => 6,
        RegKind::Tmp => LIBCCP_TMP_REGS,
        RegKind::Local => LIBCCP_LOCAL_REGS,
        RegKind::Report | RegKind::VolatileReport => LIBCCP_REPORT_REGS,
        RegKind::Control | RegKind::VolatileControl => LIBCCP_CONTROL_REGS,
    };
    if op.value as usize >= limit {
        return Err(Refused::RegisterOutOfRange {
            instr,
            kind: op.kind,
            index: op.value,
        });
    }
    Ok(())
}

fn check_updates(msg: &[u8], start: usize, n: usize) -> Result<(), Refused> {
    let needed = start + 13 * n;
    if needed > msg.len() {
        return Err(Refused::Truncated {
            needed,
            have: msg.len(),
        });
    }
    for k in 0..n {
        let off = start + 13 * k;
        let ty = msg[off];
        let idx = u32_at(msg, off + 1).unwrap_or(0);
        if (ty == 0 || ty == 8) && idx as usize >= LIBCCP_CONTROL_REGS {
            return Err(Refused::UpdateOutOfRange(idx));
        }
        if !matches!(ty, 0 | 2 | 8) {
            // libccp stops at the first invalid record.
            break;
        }
    }
    Ok(())
}
