//! CCP wire messages, byte-compatible with libccp and portus.
//!
//! Every message of the CCP protocol (READY, CREATE, MEASURE incl. close, INSTALL,
//! UPDATE_FIELDS, CHANGE_PROG), plus this implementation's optional [`Hello`] handshake,
//! in two forms:
//!
//! * **owned structs** ([`Ready`], [`Create`], [`Measure`], [`Install`],
//!   [`UpdateFields`], [`ChangeProg`], [`Hello`], and the enum [`Message`]) with
//!   `parse(&[u8])` and the [`Encode`] trait (`encode`, `encode_into(&mut Vec<u8>)`,
//!   `encode_to_slice(&mut [u8])`);
//! * **checked views** ([`HeaderView`], [`MeasureView`], [`InstallView`], …,
//!   [`MessageView`]) over `&[u8]`: built only after every length, count and limit
//!   check, after which their accessors cannot fail or panic. Views and the borrowed
//!   encoders ([`encode_measure_into`], [`encode_update_fields_into`], …) make up the
//!   zero-allocation hot paths (datapath: MEASURE emit; agent: MEASURE parse,
//!   UPDATE_FIELDS emit).
//!
//! All integers are little-endian. Nothing here panics on input or reads past the
//! buffer it is given. Errors are typed ([`ParseError`], [`EncodeError`]);
//! [`ParseError::libccp_code`] maps a parse error to the code libccp's `ccp_read_msg`
//! returns for the same situation ([`codes`]).
//!
//! # Length checking: strict (agent) and lenient (datapath)
//!
//! With [`ParseOptions::AGENT`] (strict) the header `len` must equal the size the
//! message's counts imply. With [`ParseOptions::DATAPATH`] (lenient, libccp's behaviour)
//! `len` only has to be ≥ 8, ≤ the buffer and ≤ 32678, and the message is parsed by its
//! counts from the real buffer — libccp's own test vectors carry a `len` smaller than
//! their content. In both modes the counts are checked against the bytes actually
//! available. See `docs/protocol.md` for the full protocol, limits and the handshake.
//!
//! # Example
//!
//! ```
//! use ccp_wire::{Encode, Message, MessageView, Measure, ParseOptions, UpdateField,
//!                UpdateFields, encode_update_fields_into};
//!
//! // Datapath side: emit a report.
//! let report = Measure { sid: 1, program_uid: 7, fields: vec![1460, 42] };
//! let bytes = report.encode()?;
//! assert_eq!(bytes.len(), 16 + 8 * 2);
//!
//! // Agent side: zero-copy parse.
//! match MessageView::parse(&bytes, &ParseOptions::AGENT)? {
//!     MessageView::Measure(m) => {
//!         assert_eq!(m.program_uid(), 7);
//!         assert_eq!(m.fields().sum::<u64>(), 1502);
//!     }
//!     other => panic!("unexpected {:?}", other.msg_type()),
//! }
//!
//! // Agent side: answer with a new cwnd, reusing a buffer.
//! let mut out = Vec::with_capacity(64);
//! encode_update_fields_into(1, &[UpdateField::cwnd(14600)], &mut out)?;
//! assert_eq!(&out[..4], &[3, 0, 25, 0]); // UPDATE_FIELDS, len 25
//!
//! // Datapath side: parse it like libccp would.
//! let msg = Message::parse_with(&out, &ParseOptions::DATAPATH)?;
//! assert_eq!(msg, Message::UpdateFields(UpdateFields {
//!     sid: 1,
//!     updates: vec![UpdateField::cwnd(14600)],
//! }));
//!
//! // Errors carry detail and a libccp code.
//! let err = Message::parse_with(&out[..20], &ParseOptions::DATAPATH).unwrap_err();
//! assert_eq!(err.libccp_code(), -22);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod bytes;
pub mod codes;
mod create;
mod encode;
mod error;
mod header;
mod hello;
mod install;
mod measure;
mod message;
mod ready;
mod update;

pub use bytes::{Record, Records};
pub use create::{CONG_ALG_FIELD_LEN, CREATE_LEN, Create, CreateView, MAX_CONG_ALG_LEN};
pub use encode::Encode;
pub use error::{EncodeError, ParseError};
pub use header::{
    Accept, DATAPATH_MAX_MSG_LEN, HEADER_LEN, Header, HeaderView, LenMode, MAX_MSG_LEN, MsgType,
    PORTUS_RECV_BUF_LEN, ParseOptions,
};
pub use hello::{
    Capabilities, HELLO_LEN, HELLO_MAGIC, HELLO_NAME_FIELD_LEN, Hello, HelloView, ImplVersion,
    MAX_HELLO_NAME_LEN, Negotiated, ProtocolVersion, Role,
};
pub use install::{INSTALL_FIXED_LEN, Install, InstallView};
pub use measure::{
    MAX_REPORT_FIELDS, MEASURE_FIXED_LEN, Measure, MeasureView, PORTUS_MAX_REPORT_FIELDS,
    encode_measure_into, encode_measure_to_slice,
};
pub use message::{Message, MessageView, Splitter};
pub use ready::{READY_LEN, Ready, ReadyView};
pub use update::{
    CHANGE_PROG_FIXED_LEN, ChangeProg, ChangeProgView, MAX_CHANGE_PROG_UPDATES, MAX_UPDATES,
    UPDATE_FIELDS_FIXED_LEN, UPDATE_RECORD_LEN, UpdateField, UpdateFields, UpdateFieldsView,
    encode_change_prog_into, encode_change_prog_to_slice, encode_update_fields_into,
    encode_update_fields_to_slice,
};

/// Re-export of the bytecode types carried by INSTALL and UPDATE records.
pub use ccp_lang::bytecode::{Bin, Event, Instr, Op, Operand, RegKind};
