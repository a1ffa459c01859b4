//! libccp's program encoding: opcodes, register kinds, operands, instructions and
//! events (spec §2.7–§2.9, §3.6).
//!
//! These types are shared by the compiler (which produces them), the VM (which executes
//! them) and the wire codec (which carries them inside INSTALL messages). Encoding and
//! decoding of a single 16-byte instruction or event lives here; the INSTALL framing
//! lives in `ccp-wire`.

use thiserror::Error;

/// Size in bytes of one encoded instruction.
pub const INSTR_LEN: usize = 16;
/// Size in bytes of one encoded event descriptor.
pub const EVENT_LEN: usize = 16;
/// Largest number of events (`when` clauses) a program may have (libccp `MAX_EXPRESSIONS`).
pub const MAX_EVENTS: usize = 256;
/// Largest number of instructions a program may have. libccp's table holds 256 but its
/// interpreter uses an 8-bit loop index, so 255 is the safe maximum (spec §2.12).
pub const MAX_INSTRS: usize = 255;
/// Number of report registers libccp stores per connection (`MAX_REPORT_REG`).
pub const LIBCCP_REPORT_REGS: usize = 110;
/// Number of control registers libccp stores per connection (`MAX_CONTROL_REG`).
pub const LIBCCP_CONTROL_REGS: usize = 110;
/// Number of temporary registers libccp stores per connection.
pub const LIBCCP_TMP_REGS: usize = 8;
/// Number of local registers libccp stores per connection.
pub const LIBCCP_LOCAL_REGS: usize = 8;
/// Legacy DEF sentinel that the datapath replaces by `0xFFFF_FFFF` (spec §3.11).
pub const DEF_INFINITY_SENTINEL: u64 = 0x3FFF_FFFF;
/// The value `+infinity` takes on the datapath (spec §3.1, §3.14).
pub const DATAPATH_INFINITY: u64 = 0xFFFF_FFFF;

/// An instruction opcode (spec §2.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Op {
    /// `D ← L + R`, aborts on wrap.
    Add = 0,
    /// `D ← R`.
    Bind = 1,
    /// Declares a default value; no-op at run time.
    Def = 2,
    /// `D ← L / R`, aborts on division by zero.
    Div = 3,
    /// `D ← (L == R)`.
    Equiv = 4,
    /// Exponentially weighted moving average, `L` = weight of the old value in tenths.
    Ewma = 5,
    /// `D ← (L > R)`.
    Gt = 6,
    /// `if L ≠ 0 then D ← R`.
    If = 7,
    /// `D ← (L < R)`.
    Lt = 8,
    /// `D ← max(L, R)`.
    Max = 9,
    /// Wrap-around-aware max of the low 32 bits.
    MaxWrap = 10,
    /// `D ← min(L, R)`.
    Min = 11,
    /// `D ← L · R`, aborts on (incompletely detected) overflow.
    Mul = 12,
    /// `if L == 0 then D ← R`.
    NotIf = 13,
    /// `D ← L − R`, aborts on underflow.
    Sub = 14,
}

impl Op {
    /// All opcodes in numeric order.
    pub const ALL: [Op; 15] = [
        Op::Add,
        Op::Bind,
        Op::Def,
        Op::Div,
        Op::Equiv,
        Op::Ewma,
        Op::Gt,
        Op::If,
        Op::Lt,
        Op::Max,
        Op::MaxWrap,
        Op::Min,
        Op::Mul,
        Op::NotIf,
        Op::Sub,
    ];

    /// The opcode for a wire byte, or `None` if it is not a valid opcode (≥ 15).
    pub fn from_u8(b: u8) -> Option<Op> {
        Op::ALL.get(b as usize).copied()
    }

    /// Short upper-case mnemonic used in listings (`ADD`, `BIND`, …).
    pub fn mnemonic(self) -> &'static str {
        match self {
            Op::Add => "ADD",
            Op::Bind => "BIND",
            Op::Def => "DEF",
            Op::Div => "DIV",
            Op::Equiv => "EQUIV",
            Op::Ewma => "EWMA",
            Op::Gt => "GT",
            Op::If => "IF",
            Op::Lt => "LT",
            Op::Max => "MAX",
            Op::MaxWrap => "MAXWRAP",
            Op::Min => "MIN",
            Op::Mul => "MUL",
            Op::NotIf => "NOTIF",
            Op::Sub => "SUB",
        }
    }
}

/// The type of an operand: which register file it names (spec §2.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RegKind {
    /// Non-volatile control register (per-connection state, persists across reports).
    Control = 0,
    /// Immediate: the operand value is the literal itself.
    Immediate = 1,
    /// Implicit register (eventFlag, shouldContinue, shouldReport, Micros, Cwnd, Rate).
    Implicit = 2,
    /// Local variable (first assigned in a `when` body without a `def`).
    Local = 3,
    /// Read-only per-ACK primitive.
    Primitive = 4,
    /// Volatile report register (reset to its default after each report).
    VolatileReport = 5,
    /// Non-volatile report register.
    Report = 6,
    /// Expression temporary.
    Tmp = 7,
    /// Volatile control register (reset to its default after each report).
    VolatileControl = 8,
}

impl RegKind {
    /// The register kind for a wire byte, or `None` for an unknown type.
    pub fn from_u8(b: u8) -> Option<RegKind> {
        Some(match b {
            0 => RegKind::Control,
            1 => RegKind::Immediate,
            2 => RegKind::Implicit,
            3 => RegKind::Local,
            4 => RegKind::Primitive,
            5 => RegKind::VolatileReport,
            6 => RegKind::Report,
            7 => RegKind::Tmp,
            8 => RegKind::VolatileControl,
            _ => return None,
        })
    }

    /// Whether an instruction may write this kind of register.
    pub fn is_writable(self) -> bool {
        !matches!(self, RegKind::Immediate | RegKind::Primitive)
    }

    /// Short lower-case name used in listings (`ctrl`, `imm`, `impl`, …).
    pub fn short_name(self) -> &'static str {
        match self {
            RegKind::Control => "ctrl",
            RegKind::Immediate => "imm",
            RegKind::Implicit => "impl",
            RegKind::Local => "local",
            RegKind::Primitive => "prim",
            RegKind::VolatileReport => "vrep",
            RegKind::Report => "rep",
            RegKind::Tmp => "tmp",
            RegKind::VolatileControl => "vctrl",
        }
    }
}

/// One operand: a register kind and either a register index or an immediate literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Operand {
    /// Which register file (or immediate).
    pub kind: RegKind,
    /// Register index, or the literal for [`RegKind::Immediate`].
    pub value: u32,
}

impl Operand {
    /// An operand of the given kind and index/value.
    pub const fn new(kind: RegKind, value: u32) -> Operand {
        Operand { kind, value }
    }

    /// An immediate operand.
    pub const fn imm(value: u32) -> Operand {
        Operand::new(RegKind::Immediate, value)
    }

    fn encode_into(self, out: &mut [u8]) {
        out[0] = self.kind as u8;
        out[1..5].copy_from_slice(&self.value.to_le_bytes());
    }
}

impl std::fmt::Display for Operand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            RegKind::Immediate => write!(f, "imm {}", self.value),
            RegKind::Implicit => match implicit::name(self.value) {
                Some(n) => write!(f, "impl{}({})", self.value, n),
                None => write!(f, "impl{}", self.value),
            },
            RegKind::Primitive => match primitive::name(self.value) {
                Some(n) => write!(f, "prim{}({})", self.value, n),
                None => write!(f, "prim{}", self.value),
            },
            k => write!(f, "{}{}", k.short_name(), self.value),
        }
    }
}

/// Why a 16-byte instruction could not be decoded. The variants correspond to libccp's
/// install-time error codes −33 … −37 (spec §2.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum InstrDecodeError {
    /// Opcode byte ≥ 15 (libccp −33).
    #[error("invalid opcode {0}")]
    InvalidOp(u8),
    /// Result operand is an immediate or a primitive (libccp −34).
    #[error("result operand of kind {0:?} is not writable")]
    ResultNotWritable(RegKind),
    /// Unknown result operand type (libccp −35).
    #[error("invalid result register type {0}")]
    InvalidResultReg(u8),
    /// Unknown left operand type (libccp −36).
    #[error("invalid left register type {0}")]
    InvalidLeftReg(u8),
    /// Unknown right operand type (libccp −37).
    #[error("invalid right register type {0}")]
    InvalidRightReg(u8),
}

impl InstrDecodeError {
    /// The libccp return code for this error.
    pub fn libccp_code(self) -> i32 {
        match self {
            InstrDecodeError::InvalidOp(_) => -33,
            InstrDecodeError::ResultNotWritable(_) => -34,
            InstrDecodeError::InvalidResultReg(_) => -35,
            InstrDecodeError::InvalidLeftReg(_) => -36,
            InstrDecodeError::InvalidRightReg(_) => -37,
        }
    }
}

/// One instruction: `result ← op(left, right)` (spec §2.7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instr {
    /// Operation.
    pub op: Op,
    /// Destination register (also read as `D` by EWMA/IF/NOTIF).
    pub result: Operand,
    /// Left operand.
    pub left: Operand,
    /// Right operand.
    pub right: Operand,
}

impl Instr {
    /// Encode as the 16-byte wire form.
    pub fn encode(&self) -> [u8; INSTR_LEN] {
        let mut b = [0u8; INSTR_LEN];
        b[0] = self.op as u8;
        self.result.encode_into(&mut b[1..6]);
        self.left.encode_into(&mut b[6..11]);
        self.right.encode_into(&mut b[11..16]);
        b
    }

    /// Decode the 16-byte wire form, validating it the way libccp does at install time.
    pub fn decode(b: &[u8; INSTR_LEN]) -> Result<Instr, InstrDecodeError> {
        let op = Op::from_u8(b[0]).ok_or(InstrDecodeError::InvalidOp(b[0]))?;
        let val = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let rk = RegKind::from_u8(b[1]).ok_or(InstrDecodeError::InvalidResultReg(b[1]))?;
        if !rk.is_writable() {
            return Err(InstrDecodeError::ResultNotWritable(rk));
        }
        let lk = RegKind::from_u8(b[6]).ok_or(InstrDecodeError::InvalidLeftReg(b[6]))?;
        let xk = RegKind::from_u8(b[11]).ok_or(InstrDecodeError::InvalidRightReg(b[11]))?;
        Ok(Instr {
            op,
            result: Operand::new(rk, val(2)),
            left: Operand::new(lk, val(7)),
            right: Operand::new(xk, val(12)),
        })
    }
}

impl std::fmt::Display for Instr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<7} {} <- {}, {}",
            self.op.mnemonic(),
            self.result,
            self.left,
            self.right
        )
    }
}

/// One event (`when` clause) descriptor: instruction ranges of its condition and body
/// (spec §2.7.1). Indices count from 0 over the whole instruction array, DEFs included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Event {
    /// Index of the first condition instruction.
    pub cond_start: u32,
    /// Number of condition instructions.
    pub cond_len: u32,
    /// Index of the first body instruction.
    pub body_start: u32,
    /// Number of body instructions.
    pub body_len: u32,
}

impl Event {
    /// Encode as the 16-byte wire form.
    pub fn encode(&self) -> [u8; EVENT_LEN] {
        let mut b = [0u8; EVENT_LEN];
        b[0..4].copy_from_slice(&self.cond_start.to_le_bytes());
        b[4..8].copy_from_slice(&self.cond_len.to_le_bytes());
        b[8..12].copy_from_slice(&self.body_start.to_le_bytes());
        b[12..16].copy_from_slice(&self.body_len.to_le_bytes());
        b
    }

    /// Decode the 16-byte wire form (every bit pattern is a syntactically valid event).
    pub fn decode(b: &[u8; EVENT_LEN]) -> Event {
        let val = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Event {
            cond_start: val(0),
            cond_len: val(4),
            body_start: val(8),
            body_len: val(12),
        }
    }
}

/// Why a program (events + instructions) is not safe to execute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum BinError {
    /// More than [`MAX_EVENTS`] events.
    #[error("{0} events exceed the limit of {MAX_EVENTS}")]
    TooManyEvents(usize),
    /// More than [`MAX_INSTRS`] instructions.
    #[error("{0} instructions exceed the limit of {MAX_INSTRS}")]
    TooManyInstrs(usize),
    /// An event's condition or body range reaches past the instruction array.
    #[error("event {event} range {start}+{len} exceeds the {num_instrs} instructions")]
    EventOutOfRange {
        /// Index of the bad event.
        event: usize,
        /// Start of the bad range.
        start: u32,
        /// Length of the bad range.
        len: u32,
        /// Number of instructions in the program.
        num_instrs: usize,
    },
}

/// A compiled program: events plus the instruction array (DEFs first).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Bin {
    /// Event table, in source order.
    pub events: Vec<Event>,
    /// Instruction array.
    pub instrs: Vec<Instr>,
}

impl Bin {
    /// Check the limits of spec §2.12 and that every event range lies inside the
    /// instruction array (libccp does not check this; we reject such programs).
    pub fn validate(&self) -> Result<(), BinError> {
        if self.events.len() > MAX_EVENTS {
            return Err(BinError::TooManyEvents(self.events.len()));
        }
        if self.instrs.len() > MAX_INSTRS {
            return Err(BinError::TooManyInstrs(self.instrs.len()));
        }
        let n = self.instrs.len();
        for (i, ev) in self.events.iter().enumerate() {
            for (start, len) in [(ev.cond_start, ev.cond_len), (ev.body_start, ev.body_len)] {
                let end = start as u64 + len as u64;
                if end > n as u64 {
                    return Err(BinError::EventOutOfRange {
                        event: i,
                        start,
                        len,
                        num_instrs: n,
                    });
                }
            }
        }
        Ok(())
    }

    /// Serialize the event table followed by the instructions (the INSTALL payload after
    /// the `uid, num_events, num_instrs` words).
    pub fn encode_body(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity((self.events.len() + self.instrs.len()) * 16);
        for e in &self.events {
            v.extend_from_slice(&e.encode());
        }
        for i in &self.instrs {
            v.extend_from_slice(&i.encode());
        }
        v
    }
}

/// Value type of a language-level register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValType {
    /// Unsigned 64-bit number.
    Num,
    /// Boolean (0/1 on the datapath).
    Bool,
}

/// Primitive registers (read-only per-ACK measurements, register kind 4; spec §3.6.1).
pub mod primitive {
    use super::ValType;

    /// `Ack.bytes_acked`.
    pub const BYTES_ACKED: u32 = 0;
    /// `Ack.bytes_misordered`.
    pub const BYTES_MISORDERED: u32 = 1;
    /// `Ack.ecn_bytes`.
    pub const ECN_BYTES: u32 = 2;
    /// `Ack.ecn_packets`.
    pub const ECN_PACKETS: u32 = 3;
    /// `Ack.lost_pkts_sample`.
    pub const LOST_PKTS_SAMPLE: u32 = 4;
    /// `Ack.now` (µs since the datapath started).
    pub const NOW: u32 = 5;
    /// `Ack.packets_acked`.
    pub const PACKETS_ACKED: u32 = 6;
    /// `Ack.packets_misordered`.
    pub const PACKETS_MISORDERED: u32 = 7;
    /// `Flow.bytes_in_flight`.
    pub const BYTES_IN_FLIGHT: u32 = 8;
    /// `Flow.bytes_pending`.
    pub const BYTES_PENDING: u32 = 9;
    /// `Flow.packets_in_flight`.
    pub const PACKETS_IN_FLIGHT: u32 = 10;
    /// `Flow.rate_incoming`.
    pub const RATE_INCOMING: u32 = 11;
    /// `Flow.rate_outgoing`.
    pub const RATE_OUTGOING: u32 = 12;
    /// `Flow.rtt_sample_us` (0 reads as 0xFFFFFFFF).
    pub const RTT_SAMPLE_US: u32 = 13;
    /// `Flow.was_timeout`.
    pub const WAS_TIMEOUT: u32 = 14;

    /// Names and types of all primitives, indexed by register index.
    pub const ALL: [(&str, ValType); 15] = [
        ("Ack.bytes_acked", ValType::Num),
        ("Ack.bytes_misordered", ValType::Num),
        ("Ack.ecn_bytes", ValType::Num),
        ("Ack.ecn_packets", ValType::Num),
        ("Ack.lost_pkts_sample", ValType::Num),
        ("Ack.now", ValType::Num),
        ("Ack.packets_acked", ValType::Num),
        ("Ack.packets_misordered", ValType::Num),
        ("Flow.bytes_in_flight", ValType::Num),
        ("Flow.bytes_pending", ValType::Num),
        ("Flow.packets_in_flight", ValType::Num),
        ("Flow.rate_incoming", ValType::Num),
        ("Flow.rate_outgoing", ValType::Num),
        ("Flow.rtt_sample_us", ValType::Num),
        ("Flow.was_timeout", ValType::Bool),
    ];

    /// The DSL name of primitive `idx`, if any.
    pub fn name(idx: u32) -> Option<&'static str> {
        ALL.get(idx as usize).map(|p| p.0)
    }

    /// The index of the primitive called `name`, if any.
    pub fn index(name: &str) -> Option<u32> {
        ALL.iter().position(|p| p.0 == name).map(|i| i as u32)
    }
}

/// Implicit registers (register kind 2; spec §3.6.2).
pub mod implicit {
    use super::ValType;

    /// `__eventFlag`: the current `when` condition.
    pub const EVENT_FLAG: u32 = 0;
    /// `__shouldContinue`: set by `(fallthrough)`.
    pub const SHOULD_CONTINUE: u32 = 1;
    /// `__shouldReport`: set by `(report)`.
    pub const SHOULD_REPORT: u32 = 2;
    /// `Micros`: µs since the program's time base.
    pub const MICROS: u32 = 3;
    /// `Cwnd`: congestion window in bytes.
    pub const CWND: u32 = 4;
    /// `Rate`: pacing rate in bytes/s.
    pub const RATE: u32 = 5;

    /// Names and types of all implicit registers, indexed by register index.
    pub const ALL: [(&str, ValType); 6] = [
        ("__eventFlag", ValType::Bool),
        ("__shouldContinue", ValType::Bool),
        ("__shouldReport", ValType::Bool),
        ("Micros", ValType::Num),
        ("Cwnd", ValType::Num),
        ("Rate", ValType::Num),
    ];

    /// The DSL name of implicit register `idx`, if any.
    pub fn name(idx: u32) -> Option<&'static str> {
        ALL.get(idx as usize).map(|p| p.0)
    }

    /// The index of the implicit register called `name`, if any.
    pub fn index(name: &str) -> Option<u32> {
        ALL.iter().position(|p| p.0 == name).map(|i| i as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instr_roundtrip_and_vector() {
        // From the spec's worked example (§2.7): DEF volatile-report[0] default imm 0.
        let bytes: [u8; 16] = [2, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        let i = Instr::decode(&bytes).unwrap();
        assert_eq!(i.op, Op::Def);
        assert_eq!(i.result, Operand::new(RegKind::VolatileReport, 0));
        assert_eq!(i.right, Operand::imm(0));
        assert_eq!(i.encode(), bytes);
    }

    #[test]
    fn instr_decode_errors_match_libccp_codes() {
        let mut b = [0u8; 16];
        b[0] = 15;
        assert_eq!(Instr::decode(&b).unwrap_err().libccp_code(), -33);
        b[0] = 0;
        b[1] = 1;
        assert_eq!(Instr::decode(&b).unwrap_err().libccp_code(), -34);
        b[1] = 4;
        assert_eq!(Instr::decode(&b).unwrap_err().libccp_code(), -34);
        b[1] = 9;
        assert_eq!(Instr::decode(&b).unwrap_err().libccp_code(), -35);
        b[1] = 0;
        b[6] = 200;
        assert_eq!(Instr::decode(&b).unwrap_err().libccp_code(), -36);
        b[6] = 0;
        b[11] = 9;
        assert_eq!(Instr::decode(&b).unwrap_err().libccp_code(), -37);
    }

    #[test]
    fn bin_validate_rejects_out_of_range_events() {
        let bin = Bin {
            events: vec![Event {
                cond_start: 0,
                cond_len: 1,
                body_start: 1,
                body_len: 1,
            }],
            instrs: vec![Instr {
                op: Op::Bind,
                result: Operand::new(RegKind::Implicit, 0),
                left: Operand::new(RegKind::Implicit, 0),
                right: Operand::imm(1),
            }],
        };
        assert!(matches!(
            bin.validate(),
            Err(BinError::EventOutOfRange { event: 0, .. })
        ));
    }

    #[test]
    fn primitive_and_implicit_names() {
        assert_eq!(primitive::index("Flow.rtt_sample_us"), Some(13));
        assert_eq!(primitive::name(14), Some("Flow.was_timeout"));
        assert_eq!(implicit::index("Cwnd"), Some(4));
        assert_eq!(implicit::name(9), None);
    }
}
