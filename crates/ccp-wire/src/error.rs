//! Typed errors of parsing and encoding, with their libccp return codes.

use ccp_lang::bytecode::{BinError, InstrDecodeError, RegKind};
use thiserror::Error;

use crate::codes;
use crate::header::{Accept, MsgType};

/// Why a buffer could not be parsed as a CCP message.
///
/// Every variant names the message and the field involved; [`ParseError::libccp_code`]
/// gives the return code libccp's `ccp_read_msg` uses for the same situation, so a Rust
/// datapath library can return compatible codes.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The buffer is shorter than the 8-byte header.
    #[error("buffer holds {actual} bytes, fewer than the 8-byte header")]
    ShortHeader {
        /// Bytes in the buffer.
        actual: usize,
    },
    /// The type id is not a known message type.
    #[error("unknown message type {msg_type:#06x}")]
    UnknownType {
        /// Raw type id.
        msg_type: u16,
    },
    /// A parser for one message type was given another type.
    #[error("expected a {expected} message, got type {actual:#06x}")]
    WrongType {
        /// The type the caller asked for.
        expected: MsgType,
        /// The raw type id found.
        actual: u16,
    },
    /// A known type that this side does not receive (e.g. CREATE at a datapath).
    #[error("{msg} messages are not accepted here ({accept:?})")]
    NotAccepted {
        /// The message type.
        msg: MsgType,
        /// The parser's acceptance policy.
        accept: Accept,
    },
    /// Header `len` is smaller than the header itself.
    #[error("message type {msg_type:#06x}: header len {len} is below the 8-byte header size")]
    LenBelowHeader {
        /// Raw type id.
        msg_type: u16,
        /// Header `len`.
        len: u16,
    },
    /// Header `len` claims more bytes than the buffer holds.
    #[error(
        "message type {msg_type:#06x}: header len {len} exceeds the {available} bytes received"
    )]
    LenExceedsBuffer {
        /// Raw type id.
        msg_type: u16,
        /// Header `len`.
        len: u16,
        /// Bytes in the buffer.
        available: usize,
    },
    /// Header `len` exceeds the configured maximum (libccp: 32678).
    #[error("message type {msg_type:#06x}: header len {len} exceeds the maximum of {max}")]
    TooLong {
        /// Raw type id.
        msg_type: u16,
        /// Header `len`.
        len: u16,
        /// Configured maximum.
        max: usize,
    },
    /// The bytes a field (or the counts) require are not available: beyond `len` in
    /// strict mode, beyond the buffer in lenient mode.
    #[error("{msg}: {field} needs {needed} bytes but only {available} are available")]
    Truncated {
        /// The message type.
        msg: MsgType,
        /// Which part was being read.
        field: &'static str,
        /// Bytes needed from the start of the message.
        needed: usize,
        /// Bytes available to the parser.
        available: usize,
    },
    /// Strict mode: header `len` differs from the size implied by the message content.
    #[error("{msg}: header len {len} differs from the {expected} bytes its content implies")]
    LenMismatch {
        /// The message type.
        msg: MsgType,
        /// Header `len`.
        len: u16,
        /// Size implied by the counts.
        expected: usize,
    },
    /// CREATE: no NUL within the 64-byte algorithm-name field.
    #[error("CREATE: algorithm name has no NUL terminator within its 64 bytes")]
    NameNotTerminated,
    /// CREATE: the algorithm name is not UTF-8.
    #[error("CREATE: algorithm name is not valid UTF-8 (valid up to byte {valid_up_to})")]
    NameNotUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// MEASURE: more fields than libccp can produce (110).
    #[error("MEASURE: {count} fields exceed the limit of {max}")]
    TooManyFields {
        /// `num_fields` as received.
        count: u32,
        /// The limit.
        max: usize,
    },
    /// INSTALL: more than 256 events.
    #[error("INSTALL: {count} events exceed the limit of {max}")]
    TooManyEvents {
        /// `num_events` as received.
        count: u32,
        /// The limit.
        max: usize,
    },
    /// INSTALL: more than 255 instructions.
    #[error("INSTALL: {count} instructions exceed the limit of {max}")]
    TooManyInstrs {
        /// `num_instrs` as received.
        count: u32,
        /// The limit.
        max: usize,
    },
    /// INSTALL: an instruction is invalid (opcode or operand types).
    #[error("INSTALL: instruction {index}: {source}")]
    BadInstr {
        /// Index of the instruction in the array.
        index: usize,
        /// What is wrong with it.
        #[source]
        source: InstrDecodeError,
    },
    /// INSTALL: an event's condition or body range reaches past the instruction array.
    #[error("INSTALL: event {event} range {start}+{len} exceeds the {num_instrs} instructions")]
    EventOutOfRange {
        /// Index of the event.
        event: usize,
        /// Start of the bad range.
        start: u32,
        /// Length of the bad range.
        len: u32,
        /// Number of instructions.
        num_instrs: usize,
    },
    /// UPDATE_FIELDS / CHANGE_PROG: too many update records.
    #[error("{msg}: {count} update records exceed the limit of {max}")]
    TooManyUpdates {
        /// UPDATE_FIELDS or CHANGE_PROG.
        msg: MsgType,
        /// Count as received.
        count: u32,
        /// The limit.
        max: usize,
    },
    /// An update record targets a register type that cannot be updated (only control
    /// types 0/8 and implicit type 2 can).
    #[error("{msg}: update record {index} targets register type {kind}, which is not updatable")]
    BadUpdateRegType {
        /// UPDATE_FIELDS or CHANGE_PROG.
        msg: MsgType,
        /// Index of the record.
        index: usize,
        /// The register type byte.
        kind: u8,
    },
    /// An update record targets a control register beyond libccp's 110.
    #[error(
        "{msg}: update record {index} targets control register {reg}, beyond the {max} registers"
    )]
    BadUpdateRegIndex {
        /// UPDATE_FIELDS or CHANGE_PROG.
        msg: MsgType,
        /// Index of the record.
        index: usize,
        /// Register index.
        reg: u32,
        /// Number of control registers.
        max: usize,
    },
    /// HELLO: the magic is not `"CCPH"`.
    #[error("HELLO: bad magic {found:02x?}")]
    HelloBadMagic {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// HELLO: unknown role byte.
    #[error("HELLO: unknown role {role}")]
    HelloBadRole {
        /// The role byte.
        role: u8,
    },
    /// HELLO: the implementation name has no NUL in its field.
    #[error("HELLO: implementation name has no NUL terminator")]
    HelloNameNotTerminated,
    /// HELLO: the implementation name is not UTF-8.
    #[error("HELLO: implementation name is not valid UTF-8 (valid up to byte {valid_up_to})")]
    HelloNameNotUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
}

impl ParseError {
    /// The libccp return code for this error (spec §2.13, §4.8).
    ///
    /// * −22 `BUFSIZE_TOO_SMALL`: short buffer, `len` < 8 or > buffer, counts needing
    ///   more bytes than available, strict `len` mismatch (libccp itself checks none of
    ///   `len < 8`, counts or mismatch; −22 is the closest code).
    /// * −23 `MSG_TOO_LONG`: `len` > maximum.
    /// * −32 `READ_INVALID_HEADER_TYPE`: unknown / wrong / not accepted type, and every
    ///   error inside CREATE, MEASURE, READY or HELLO (libccp never accepts those types).
    /// * −33 … −37: instruction decoding (opcode, operand types).
    /// * −42 `INSTALL_TOO_MANY_EXPR` (too many events, event range out of bounds) and −43
    ///   `INSTALL_TOO_MANY_INSTR`: libccp defines but never produces them (it does not
    ///   enforce these limits); we do.
    /// * −52 `UPDATE_TOO_MANY`, −62 `CHANGE_TOO_MANY`.
    /// * −53 `UPDATE_INVALID_REG_TYPE`: non-updatable register type or control index ≥ 110.
    pub fn libccp_code(&self) -> i32 {
        match self {
            ParseError::ShortHeader { .. }
            | ParseError::LenBelowHeader { .. }
            | ParseError::LenExceedsBuffer { .. }
            | ParseError::Truncated { .. }
            | ParseError::LenMismatch { .. } => codes::BUFSIZE_TOO_SMALL,
            ParseError::TooLong { .. } => codes::MSG_TOO_LONG,
            ParseError::UnknownType { .. }
            | ParseError::WrongType { .. }
            | ParseError::NotAccepted { .. }
            | ParseError::NameNotTerminated
            | ParseError::NameNotUtf8 { .. }
            | ParseError::TooManyFields { .. }
            | ParseError::HelloBadMagic { .. }
            | ParseError::HelloBadRole { .. }
            | ParseError::HelloNameNotTerminated
            | ParseError::HelloNameNotUtf8 { .. } => codes::READ_INVALID_HEADER_TYPE,
            ParseError::BadInstr { source, .. } => source.libccp_code(),
            ParseError::TooManyEvents { .. } | ParseError::EventOutOfRange { .. } => {
                codes::INSTALL_TOO_MANY_EXPR
            }
            ParseError::TooManyInstrs { .. } => codes::INSTALL_TOO_MANY_INSTR,
            ParseError::TooManyUpdates { msg, .. } => match msg {
                MsgType::ChangeProg => codes::CHANGE_TOO_MANY,
                _ => codes::UPDATE_TOO_MANY,
            },
            ParseError::BadUpdateRegType { .. } | ParseError::BadUpdateRegIndex { .. } => {
                codes::UPDATE_INVALID_REG_TYPE
            }
        }
    }

    /// The message type the error is about, when it is known.
    pub fn msg_type(&self) -> Option<MsgType> {
        match self {
            ParseError::ShortHeader { .. } => None,
            ParseError::UnknownType { msg_type }
            | ParseError::LenBelowHeader { msg_type, .. }
            | ParseError::LenExceedsBuffer { msg_type, .. }
            | ParseError::TooLong { msg_type, .. } => MsgType::from_u16(*msg_type),
            ParseError::WrongType { actual, .. } => MsgType::from_u16(*actual),
            ParseError::NotAccepted { msg, .. }
            | ParseError::Truncated { msg, .. }
            | ParseError::LenMismatch { msg, .. }
            | ParseError::TooManyUpdates { msg, .. }
            | ParseError::BadUpdateRegType { msg, .. }
            | ParseError::BadUpdateRegIndex { msg, .. } => Some(*msg),
            ParseError::NameNotTerminated | ParseError::NameNotUtf8 { .. } => Some(MsgType::Create),
            ParseError::TooManyFields { .. } => Some(MsgType::Measure),
            ParseError::TooManyEvents { .. }
            | ParseError::TooManyInstrs { .. }
            | ParseError::BadInstr { .. }
            | ParseError::EventOutOfRange { .. } => Some(MsgType::Install),
            ParseError::HelloBadMagic { .. }
            | ParseError::HelloBadRole { .. }
            | ParseError::HelloNameNotTerminated
            | ParseError::HelloNameNotUtf8 { .. } => Some(MsgType::Hello),
        }
    }
}

/// Why a message could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The destination slice is too small.
    #[error("{msg}: needs {needed} bytes but the buffer holds {available}")]
    BufferTooSmall {
        /// The message type.
        msg: MsgType,
        /// Encoded size.
        needed: usize,
        /// Destination size.
        available: usize,
    },
    /// CREATE: the algorithm name is longer than 63 bytes.
    #[error("CREATE: algorithm name of {len} bytes exceeds {max}")]
    NameTooLong {
        /// Name length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// CREATE: the algorithm name is empty (use `None` for "no algorithm requested").
    #[error("CREATE: empty algorithm name (use None for no request)")]
    EmptyName,
    /// CREATE / HELLO: the name contains a NUL byte.
    #[error("{msg}: name contains a NUL byte at {at}")]
    NameContainsNul {
        /// CREATE or HELLO.
        msg: MsgType,
        /// Byte offset of the NUL.
        at: usize,
    },
    /// MEASURE: more than 110 fields.
    #[error("MEASURE: {count} fields exceed the limit of {max}")]
    TooManyFields {
        /// Number of fields.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// INSTALL: the program breaks a limit or has an event range outside the
    /// instruction array.
    #[error("INSTALL: invalid program: {0}")]
    InvalidProgram(#[from] BinError),
    /// INSTALL: an instruction writes an immediate or a primitive.
    #[error("INSTALL: instruction {index} writes a {kind:?} operand, which is read-only")]
    ResultNotWritable {
        /// Instruction index.
        index: usize,
        /// Its result kind.
        kind: RegKind,
    },
    /// UPDATE_FIELDS / CHANGE_PROG: more than 127 records (libccp reads UPDATE counts
    /// as one signed byte; spec §2.10).
    #[error("{msg}: {count} update records exceed the limit of {max}")]
    TooManyUpdates {
        /// UPDATE_FIELDS or CHANGE_PROG.
        msg: MsgType,
        /// Number of records.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An update record targets a register that cannot be updated.
    #[error(
        "{msg}: update record {index} targets {kind:?} register {reg}, which cannot be updated"
    )]
    BadUpdateTarget {
        /// UPDATE_FIELDS or CHANGE_PROG.
        msg: MsgType,
        /// Record index.
        index: usize,
        /// Register kind.
        kind: RegKind,
        /// Register index.
        reg: u32,
    },
    /// HELLO: implementation name longer than its field allows.
    #[error("HELLO: implementation name of {len} bytes exceeds {max}")]
    HelloNameTooLong {
        /// Name length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_libccp() {
        assert_eq!(ParseError::ShortHeader { actual: 0 }.libccp_code(), -22);
        assert_eq!(ParseError::UnknownType { msg_type: 9 }.libccp_code(), -32);
        assert_eq!(
            ParseError::TooLong {
                msg_type: 2,
                len: 40000,
                max: 32678
            }
            .libccp_code(),
            -23
        );
        assert_eq!(
            ParseError::BadInstr {
                index: 0,
                source: InstrDecodeError::InvalidOp(15)
            }
            .libccp_code(),
            -33
        );
        assert_eq!(
            ParseError::TooManyUpdates {
                msg: MsgType::UpdateFields,
                count: 128,
                max: 127
            }
            .libccp_code(),
            -52
        );
        assert_eq!(
            ParseError::TooManyUpdates {
                msg: MsgType::ChangeProg,
                count: 223,
                max: 222
            }
            .libccp_code(),
            -62
        );
    }

    #[test]
    fn messages_carry_detail() {
        let e = ParseError::Truncated {
            msg: MsgType::Install,
            field: "instructions",
            needed: 100,
            available: 88,
        };
        assert_eq!(
            e.to_string(),
            "INSTALL: instructions needs 100 bytes but only 88 are available"
        );
        assert_eq!(e.msg_type(), Some(MsgType::Install));
    }
}
