//! Typed errors of the datapath operations, each with its libccp return code.

use ccp_lang::bytecode::InstrDecodeError;
use ccp_lang::vm::LoadError;
use ccp_wire::{MsgType, ParseError, codes};
use thiserror::Error;

use crate::callbacks::Sid;

/// Why [`Datapath::connection_start`](crate::Datapath::connection_start) failed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum StartError {
    /// `max_connections` connections are live (libccp returns NULL).
    #[error("connection limit of {0} reached")]
    TooManyConnections(u32),
    /// The requested algorithm name is longer than 63 bytes.
    #[error("algorithm name of {0} bytes exceeds 63")]
    AlgNameTooLong(usize),
    /// The requested algorithm name contains a NUL byte.
    #[error("algorithm name contains a NUL byte")]
    AlgNameHasNul,
}

/// Why [`Datapath::read_msg`](crate::Datapath::read_msg) rejected a message.
///
/// [`ReadError::libccp_code`] gives the code libccp's `ccp_read_msg` returns for the same
/// situation (spec §2.13, §4.8).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ReadError {
    /// Fewer than 8 bytes (libccp reads 8 bytes regardless): −22.
    #[error("message of {0} bytes is shorter than the 8-byte header")]
    ShortHeader(usize),
    /// A type the datapath does not accept (anything but INSTALL, UPDATE_FIELDS,
    /// CHANGE_PROG and HELLO): −32.
    #[error("message type {0:#06x} is not accepted by a datapath")]
    UnknownType(u16),
    /// Header `len` exceeds the bytes received: −22.
    #[error("header len {len} exceeds the {available} bytes received")]
    LenExceedsBuffer {
        /// Header `len`.
        len: u16,
        /// Bytes received.
        available: usize,
    },
    /// Header `len` exceeds 32678: −23.
    #[error("header len {0} exceeds 32678")]
    TooLong(u16),
    /// The message's counts need more bytes than were received: −22 (libccp would read
    /// past its buffer).
    #[error("{msg}: needs {needed} bytes, {available} received")]
    Truncated {
        /// Message type.
        msg: MsgType,
        /// Bytes the counts imply.
        needed: usize,
        /// Bytes received.
        available: usize,
    },
    /// INSTALL: an instruction does not decode (−33 … −37).
    #[error("INSTALL: instruction {index}: {source}")]
    BadInstr {
        /// Instruction index.
        index: usize,
        /// Why.
        source: InstrDecodeError,
    },
    /// INSTALL: the program is unsafe to run (too many events/instructions, an event
    /// outside the instructions, > 110 report fields): −42/−43 (−34 for a write to a
    /// read-only register). libccp would install it and corrupt memory.
    #[error("INSTALL: invalid program: {0}")]
    InvalidProgram(LoadError),
    /// INSTALL: the program table is full: −81.
    #[error("INSTALL uid {uid}: program table full")]
    ProgTableFull {
        /// uid of the rejected program.
        uid: u32,
    },
    /// UPDATE_FIELDS / CHANGE_PROG for a socket id that is not live: −71.
    #[error("{msg} for unknown connection {sid}")]
    UnknownConnection {
        /// Message type.
        msg: MsgType,
        /// The sid in the header.
        sid: Sid,
    },
    /// Too many update records: −52 (UPDATE_FIELDS, > 127) / −62 (CHANGE_PROG, > 222).
    #[error("{msg}: {count} updates exceed the limit")]
    TooManyUpdates {
        /// Message type.
        msg: MsgType,
        /// Count received.
        count: u32,
    },
    /// An update record targets a register that cannot be updated (types other than
    /// 0, 2, 8, or a control index ≥ 110): −53. Records before it stay staged, as in libccp.
    #[error("{msg}: update record {index} targets register type {reg_type} index {reg_index}")]
    BadUpdate {
        /// Message type.
        msg: MsgType,
        /// Record index.
        index: usize,
        /// Register type byte.
        reg_type: u8,
        /// Register index.
        reg_index: u32,
    },
    /// CHANGE_PROG to a uid that is not installed. Nothing is staged and nothing is sent.
    /// libccp returns **+8** here (a quirk, spec §9 row 8); so does
    /// [`libccp_code`](Self::libccp_code).
    #[error("CHANGE_PROG for connection {sid}: program uid {uid} is not installed")]
    UnknownProgram {
        /// Connection.
        sid: Sid,
        /// Requested uid.
        uid: u32,
    },
    /// A malformed HELLO or one from another datapath: −32 (libccp rejects the type).
    #[error("bad HELLO: {0}")]
    BadHello(ParseError),
}

impl ReadError {
    /// libccp's return code for the same input.
    pub fn libccp_code(&self) -> i32 {
        match self {
            ReadError::ShortHeader(_)
            | ReadError::LenExceedsBuffer { .. }
            | ReadError::Truncated { .. } => codes::BUFSIZE_TOO_SMALL,
            ReadError::UnknownType(_) | ReadError::BadHello(_) => codes::READ_INVALID_HEADER_TYPE,
            ReadError::TooLong(_) => codes::MSG_TOO_LONG,
            ReadError::BadInstr { source, .. } => source.libccp_code(),
            ReadError::InvalidProgram(e) => match e {
                LoadError::ResultNotWritable { .. } => codes::READ_REG_NOT_ALLOWED,
                LoadError::Bin(ccp_lang::bytecode::BinError::TooManyInstrs(_))
                | LoadError::TooManyReportFields(_) => codes::INSTALL_TOO_MANY_INSTR,
                LoadError::Bin(_) => codes::INSTALL_TOO_MANY_EXPR,
            },
            ReadError::ProgTableFull { .. } => codes::PROG_TABLE_FULL,
            ReadError::UnknownConnection { .. } => codes::UNKNOWN_CONNECTION,
            ReadError::TooManyUpdates { msg, .. } => match msg {
                MsgType::ChangeProg => codes::CHANGE_TOO_MANY,
                _ => codes::UPDATE_TOO_MANY,
            },
            ReadError::BadUpdate { .. } => codes::UPDATE_INVALID_REG_TYPE,
            ReadError::UnknownProgram { .. } => 8,
        }
    }

    /// Whether the message got past libccp's header checks (and so proves the agent is
    /// alive, switching the fallback timer off).
    pub fn passed_header(&self) -> bool {
        !matches!(
            self,
            ReadError::ShortHeader(_)
                | ReadError::UnknownType(_)
                | ReadError::LenExceedsBuffer { .. }
                | ReadError::TooLong(_)
        )
    }
}

/// Why [`Datapath::invoke`](crate::Datapath::invoke) did not run the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum InvokeError {
    /// No live connection has this sid (libccp: NULL connection, −12; reported here as
    /// −71 `UNKNOWN_CONNECTION`).
    #[error("unknown connection {0}")]
    UnknownConnection(Sid),
    /// The program aborted (−91 … −94), or no program is active yet because the agent has
    /// not sent CHANGE_PROG (−96, expected during start-up).
    #[error(transparent)]
    Program(#[from] ccp_lang::vm::InvokeError),
}

impl InvokeError {
    /// libccp's return code.
    pub fn libccp_code(&self) -> i32 {
        match self {
            InvokeError::UnknownConnection(_) => codes::UNKNOWN_CONNECTION,
            InvokeError::Program(e) => e.libccp_code(),
        }
    }
}
