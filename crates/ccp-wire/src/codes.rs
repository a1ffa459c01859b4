//! libccp's return codes (spec §4.8), for a datapath library that wants to return the
//! same numbers as `ccp_read_msg` / `ccp_invoke`. Numbering: section·10 + position.

/// Success.
pub const OK: i32 = 0;
/// A required datapath field is missing.
pub const MISSING_ARG: i32 = -11;
/// A NULL argument.
pub const NULL_ARG: i32 = -12;
/// Negative buffer size.
pub const BUFSIZE_NEGATIVE: i32 = -21;
/// Buffer smaller than the message (`len` > buffer size).
pub const BUFSIZE_TOO_SMALL: i32 = -22;
/// Message longer than 32678 bytes.
pub const MSG_TOO_LONG: i32 = -23;
/// Tried to write a header of a type the datapath does not send.
pub const WRITE_INVALID_HEADER_TYPE: i32 = -31;
/// Received a message type the datapath does not accept (anything but 2, 3, 4).
pub const READ_INVALID_HEADER_TYPE: i32 = -32;
/// Opcode ≥ 15.
pub const READ_INVALID_OP: i32 = -33;
/// Result operand is an immediate or a primitive.
pub const READ_REG_NOT_ALLOWED: i32 = -34;
/// Unknown result operand type.
pub const READ_INVALID_RETURN_REG: i32 = -35;
/// Unknown left operand type.
pub const READ_INVALID_LEFT_REG: i32 = -36;
/// Unknown right operand type.
pub const READ_INVALID_RIGHT_REG: i32 = -37;
/// INSTALL parser given another type.
pub const INSTALL_TYPE_MISMATCH: i32 = -41;
/// Too many events (never produced by libccp).
pub const INSTALL_TOO_MANY_EXPR: i32 = -42;
/// Too many instructions (never produced by libccp).
pub const INSTALL_TOO_MANY_INSTR: i32 = -43;
/// UPDATE parser given another type.
pub const UPDATE_TYPE_MISMATCH: i32 = -51;
/// Too many update records.
pub const UPDATE_TOO_MANY: i32 = -52;
/// Update of a non-updatable register type.
pub const UPDATE_INVALID_REG_TYPE: i32 = -53;
/// CHANGE_PROG parser given another type.
pub const CHANGE_TYPE_MISMATCH: i32 = -61;
/// Too many update records in CHANGE_PROG.
pub const CHANGE_TOO_MANY: i32 = -62;
/// Unknown socket id.
pub const UNKNOWN_CONNECTION: i32 = -71;
/// CREATE not yet sent.
pub const CREATE_PENDING: i32 = -72;
/// Connection not initialised.
pub const CONNECTION_NOT_INITIALIZED: i32 = -73;
/// Program table full.
pub const PROG_TABLE_FULL: i32 = -81;
/// Program uid not found.
pub const PROG_NOT_FOUND: i32 = -82;
/// ADD overflowed.
pub const ADD_INT_OVERFLOW: i32 = -91;
/// DIV by zero.
pub const DIV_BY_ZERO: i32 = -92;
/// MUL overflowed.
pub const MUL_INT_OVERFLOW: i32 = -93;
/// SUB underflowed.
pub const SUB_INT_UNDERFLOW: i32 = -94;
/// Private state is NULL.
pub const PRIV_IS_NULL: i32 = -95;
/// No program (none active, or program table not allocated).
pub const PROG_IS_NULL: i32 = -96;
/// The agent has been silent longer than the fallback timeout.
pub const FALLBACK_TIMED_OUT: i32 = -101;
