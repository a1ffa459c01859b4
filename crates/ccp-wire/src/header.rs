//! The common 8-byte header, message type ids and parse options (spec §2.2, §2.3).

use std::fmt;

use crate::bytes::{u16_at, u32_at};
use crate::error::ParseError;

/// Size of the common header (`type: u16, len: u16, sid: u32`).
pub const HEADER_LEN: usize = 8;
/// Largest length the u16 `len` field can express.
pub const MAX_MSG_LEN: usize = u16::MAX as usize;
/// Largest message libccp accepts (`BIGGEST_MSG_SIZE`; note 32678, not 32768).
pub const DATAPATH_MAX_MSG_LEN: usize = 32678;
/// Size of portus's receive buffer: longer datapath → agent datagrams are truncated there.
pub const PORTUS_RECV_BUF_LEN: usize = 1024;

/// A CCP message type id (spec §2.3 plus the [`Hello`](crate::Hello) extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum MsgType {
    /// CREATE (0): datapath → agent, a new connection.
    Create = 0,
    /// MEASURE (1): datapath → agent, a report (or, with 0 fields, a close).
    Measure = 1,
    /// INSTALL_EXPR (2): agent → datapath, a compiled program.
    Install = 2,
    /// UPDATE_FIELDS (3): agent → datapath, register updates for one connection.
    UpdateFields = 3,
    /// CHANGE_PROG (4): agent → datapath, switch one connection's program.
    ChangeProg = 4,
    /// READY (5): datapath → agent, sent once at datapath start.
    Ready = 5,
    /// HELLO (0x48, an extension of this implementation): version/capability handshake,
    /// either direction. libccp rejects it with −32 before touching any state, portus
    /// decodes it as an unknown message and ignores it.
    Hello = 0x48,
}

impl MsgType {
    /// All message types, in id order.
    pub const ALL: [MsgType; 7] = [
        MsgType::Create,
        MsgType::Measure,
        MsgType::Install,
        MsgType::UpdateFields,
        MsgType::ChangeProg,
        MsgType::Ready,
        MsgType::Hello,
    ];

    /// The message type for a wire id, or `None` if the id is unknown. The full u16 is
    /// compared (portus truncates to u8; we do not: `0x0102` is unknown, not INSTALL).
    pub const fn from_u16(id: u16) -> Option<MsgType> {
        Some(match id {
            0 => MsgType::Create,
            1 => MsgType::Measure,
            2 => MsgType::Install,
            3 => MsgType::UpdateFields,
            4 => MsgType::ChangeProg,
            5 => MsgType::Ready,
            0x48 => MsgType::Hello,
            _ => return None,
        })
    }

    /// The wire id.
    pub const fn id(self) -> u16 {
        self as u16
    }

    /// The upper-case name used in the spec and in logs.
    pub const fn name(self) -> &'static str {
        match self {
            MsgType::Create => "CREATE",
            MsgType::Measure => "MEASURE",
            MsgType::Install => "INSTALL",
            MsgType::UpdateFields => "UPDATE_FIELDS",
            MsgType::ChangeProg => "CHANGE_PROG",
            MsgType::Ready => "READY",
            MsgType::Hello => "HELLO",
        }
    }

    /// Whether an agent receives this type (CREATE, MEASURE, READY, HELLO).
    pub const fn is_agent_bound(self) -> bool {
        matches!(
            self,
            MsgType::Create | MsgType::Measure | MsgType::Ready | MsgType::Hello
        )
    }

    /// Whether a datapath receives this type (INSTALL, UPDATE_FIELDS, CHANGE_PROG, HELLO).
    pub const fn is_datapath_bound(self) -> bool {
        matches!(
            self,
            MsgType::Install | MsgType::UpdateFields | MsgType::ChangeProg | MsgType::Hello
        )
    }
}

impl fmt::Display for MsgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the header `len` is checked against the size a message's counts imply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum LenMode {
    /// `len` must equal the exact size implied by the message's counts (HELLO: at least
    /// its fixed size). Everything is parsed from the first `len` bytes. Used by the agent
    /// side: libccp and portus always emit exact lengths.
    #[default]
    Strict,
    /// libccp's behaviour (spec §2.11): `len` is only checked to be ≥ 8, ≤ the buffer and
    /// ≤ `max_len`; the message is then parsed by its counts from the *real buffer*, which
    /// must hold every byte the counts imply (never read past it). Needed to replay
    /// libccp's own test vectors, whose `len` is smaller than their content. Used by the
    /// datapath side.
    Lenient,
}

/// Which message types a parser accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Accept {
    /// Every known type.
    #[default]
    Any,
    /// Types an agent receives: CREATE, MEASURE, READY, HELLO.
    AgentBound,
    /// Types a datapath receives: INSTALL, UPDATE_FIELDS, CHANGE_PROG, HELLO (libccp
    /// answers −32 to everything else).
    DatapathBound,
}

impl Accept {
    /// Whether `t` is accepted.
    pub const fn allows(self, t: MsgType) -> bool {
        match self {
            Accept::Any => true,
            Accept::AgentBound => t.is_agent_bound(),
            Accept::DatapathBound => t.is_datapath_bound(),
        }
    }
}

/// Parser configuration. Use [`ParseOptions::AGENT`] on the agent side and
/// [`ParseOptions::DATAPATH`] on the datapath side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParseOptions {
    /// `len` vs counts policy.
    pub len_mode: LenMode,
    /// Largest accepted header `len` (error [`ParseError::TooLong`], libccp −23).
    pub max_len: usize,
    /// Accepted message types.
    pub accept: Accept,
}

impl ParseOptions {
    /// Strict lengths, any type, no length cap beyond the u16 field. The default.
    pub const STRICT: ParseOptions = ParseOptions {
        len_mode: LenMode::Strict,
        max_len: MAX_MSG_LEN,
        accept: Accept::Any,
    };
    /// Lenient lengths (libccp style), any type, no length cap beyond the u16 field.
    pub const LENIENT: ParseOptions = ParseOptions {
        len_mode: LenMode::Lenient,
        max_len: MAX_MSG_LEN,
        accept: Accept::Any,
    };
    /// Agent side: strict lengths, agent-bound types only.
    pub const AGENT: ParseOptions = ParseOptions {
        len_mode: LenMode::Strict,
        max_len: MAX_MSG_LEN,
        accept: Accept::AgentBound,
    };
    /// Datapath side, equivalent to libccp's `ccp_read_msg` checks: lenient lengths,
    /// `len ≤ 32678`, datapath-bound types only.
    pub const DATAPATH: ParseOptions = ParseOptions {
        len_mode: LenMode::Lenient,
        max_len: DATAPATH_MAX_MSG_LEN,
        accept: Accept::DatapathBound,
    };
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions::STRICT
    }
}

/// The decoded common header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Header {
    /// Raw type id (see [`MsgType::from_u16`]).
    pub msg_type: u16,
    /// Total message length in bytes, header included.
    pub len: u16,
    /// Socket id (connection); 0 when not connection-specific.
    pub sid: u32,
}

impl Header {
    /// Encode as 8 bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..2].copy_from_slice(&self.msg_type.to_le_bytes());
        b[2..4].copy_from_slice(&self.len.to_le_bytes());
        b[4..8].copy_from_slice(&self.sid.to_le_bytes());
        b
    }

    /// Decode 8 bytes (every bit pattern decodes; validation is [`HeaderView::new`]'s job).
    pub fn decode(b: &[u8; HEADER_LEN]) -> Header {
        Header {
            msg_type: u16_at(b, 0),
            len: u16_at(b, 2),
            sid: u32_at(b, 4),
        }
    }
}

/// A checked view of a message's header over a received buffer.
///
/// Construction guarantees: the buffer holds at least 8 bytes, and `8 ≤ len ≤ buffer
/// length`. The type is *not* checked here (see [`MessageView`](crate::MessageView)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderView<'a> {
    buf: &'a [u8],
    len: u16,
}

impl<'a> HeaderView<'a> {
    /// Check the header at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Result<HeaderView<'a>, ParseError> {
        if buf.len() < HEADER_LEN {
            return Err(ParseError::ShortHeader { actual: buf.len() });
        }
        let msg_type = u16_at(buf, 0);
        let len = u16_at(buf, 2);
        if (len as usize) < HEADER_LEN {
            return Err(ParseError::LenBelowHeader { msg_type, len });
        }
        if len as usize > buf.len() {
            return Err(ParseError::LenExceedsBuffer {
                msg_type,
                len,
                available: buf.len(),
            });
        }
        Ok(HeaderView { buf, len })
    }

    /// Raw type id.
    pub fn msg_type_id(&self) -> u16 {
        u16_at(self.buf, 0)
    }

    /// Known message type, if any.
    pub fn msg_type(&self) -> Option<MsgType> {
        MsgType::from_u16(self.msg_type_id())
    }

    /// Header `len` (≥ 8 and ≤ the buffer length).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        self.len
    }

    /// Socket id.
    pub fn sid(&self) -> u32 {
        u32_at(self.buf, 4)
    }

    /// The decoded header.
    pub fn header(&self) -> Header {
        Header {
            msg_type: self.msg_type_id(),
            len: self.len,
            sid: self.sid(),
        }
    }

    /// The first `len` bytes of the buffer: the message as its header delimits it.
    pub fn frame(&self) -> &'a [u8] {
        self.buf.get(..self.len as usize).unwrap_or(self.buf)
    }

    /// The whole buffer the view was built on (may extend beyond `len`).
    pub fn buffer(&self) -> &'a [u8] {
        self.buf
    }
}

/// Header checks for parsing one message of (optionally) an expected type, in libccp's
/// order: buffer ≥ 8, type known / expected / accepted (−32), `len` ≥ 8 and ≤ buffer
/// (−22), `len` ≤ `max_len` (−23).
pub(crate) fn check_header<'a>(
    buf: &'a [u8],
    opts: &ParseOptions,
    expect: Option<MsgType>,
) -> Result<(HeaderView<'a>, MsgType), ParseError> {
    if buf.len() < HEADER_LEN {
        return Err(ParseError::ShortHeader { actual: buf.len() });
    }
    let id = u16_at(buf, 0);
    let Some(t) = MsgType::from_u16(id) else {
        return Err(match expect {
            Some(expected) => ParseError::WrongType {
                expected,
                actual: id,
            },
            None => ParseError::UnknownType { msg_type: id },
        });
    };
    if let Some(expected) = expect {
        if expected != t {
            return Err(ParseError::WrongType {
                expected,
                actual: id,
            });
        }
    }
    if !opts.accept.allows(t) {
        return Err(ParseError::NotAccepted {
            msg: t,
            accept: opts.accept,
        });
    }
    let hv = HeaderView::new(buf)?;
    if hv.len() as usize > opts.max_len {
        return Err(ParseError::TooLong {
            msg_type: id,
            len: hv.len(),
            max: opts.max_len,
        });
    }
    Ok((hv, t))
}

/// The bytes a message body may be parsed from: the frame (strict) or the whole buffer
/// (lenient).
pub(crate) fn available<'a>(hv: &HeaderView<'a>, opts: &ParseOptions) -> &'a [u8] {
    match opts.len_mode {
        LenMode::Strict => hv.frame(),
        LenMode::Lenient => hv.buffer(),
    }
}

/// Ensure `needed` bytes are available and return exactly them; in strict mode also
/// require `len == needed` (or `len ≥ needed` when `at_least`).
pub(crate) fn region<'a>(
    hv: &HeaderView<'a>,
    opts: &ParseOptions,
    msg: MsgType,
    field: &'static str,
    needed: usize,
    exact: bool,
) -> Result<&'a [u8], ParseError> {
    let avail = available(hv, opts);
    let Some(r) = avail.get(..needed) else {
        return Err(ParseError::Truncated {
            msg,
            field,
            needed,
            available: avail.len(),
        });
    };
    if exact && opts.len_mode == LenMode::Strict && hv.len() as usize != needed {
        return Err(ParseError::LenMismatch {
            msg,
            len: hv.len(),
            expected: needed,
        });
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip() {
        let h = Header {
            msg_type: 3,
            len: 25,
            sid: 0xdead_beef,
        };
        let b = h.encode();
        assert_eq!(b, [3, 0, 25, 0, 0xef, 0xbe, 0xad, 0xde]);
        assert_eq!(Header::decode(&b), h);
    }

    #[test]
    fn type_ids() {
        for t in MsgType::ALL {
            assert_eq!(MsgType::from_u16(t.id()), Some(t));
        }
        assert_eq!(MsgType::from_u16(0x0102), None);
        assert_eq!(MsgType::from_u16(6), None);
        assert_eq!(MsgType::from_u16(0xff), None);
        // The handshake id must not collide with anything portus decodes after its u8
        // truncation (0–5) nor with its test types (0xFE, 0xFF).
        let low = (MsgType::Hello.id() & 0xff) as u8;
        assert!(low > 5 && low < 0xfe);
    }

    #[test]
    fn header_view_checks() {
        assert_eq!(
            HeaderView::new(&[5, 0, 12, 0]),
            Err(ParseError::ShortHeader { actual: 4 })
        );
        assert_eq!(
            HeaderView::new(&[5, 0, 7, 0, 0, 0, 0, 0]),
            Err(ParseError::LenBelowHeader {
                msg_type: 5,
                len: 7
            })
        );
        assert_eq!(
            HeaderView::new(&[5, 0, 12, 0, 0, 0, 0, 0, 0xaa]),
            Err(ParseError::LenExceedsBuffer {
                msg_type: 5,
                len: 12,
                available: 9
            })
        );
        let buf = [5, 0, 8, 0, 1, 0, 0, 0, 0xaa, 0xbb];
        let hv = HeaderView::new(&buf).unwrap();
        assert_eq!(hv.len(), 8);
        assert_eq!(hv.sid(), 1);
        assert_eq!(hv.msg_type(), Some(MsgType::Ready));
        assert_eq!(hv.frame(), &buf[..8]);
        assert_eq!(hv.buffer(), &buf[..]);
    }
}
