//! HELLO (type 0x48): the optional version/capability handshake of this implementation.
//!
//! Neither libccp nor portus knows it, and both ignore it safely: libccp's
//! `ccp_read_msg` rejects any type other than 2, 3, 4 with −32 *before* touching any
//! state (not even the fallback timer); portus truncates the type to its low byte
//! (0x48), which is none of the types it decodes (0–5), so `Msg::from_buf` returns
//! `Msg::Other` and the run loop logs and ignores it. Nothing depends on the handshake for
//! basic interoperation. See `docs/protocol.md` for who sends it when.
//!
//! Layout (64 bytes, little-endian; later minor versions may append fields, receivers
//! ignore bytes beyond 64):
//!
//! | Off | Size | Field |
//! |---|---|---|
//! | 0 | 8 | header: type 0x48, len ≥ 64, sid 0 |
//! | 8 | 4 | magic `"CCPH"` (`43 43 50 48`) |
//! | 12 | 2 | protocol version major |
//! | 14 | 2 | protocol version minor |
//! | 16 | 8 | capability bits ([`Capabilities`]) |
//! | 24 | 1 | role: 1 datapath, 2 agent |
//! | 25 | 1 | reserved (0; ignored) |
//! | 26 | 2 | largest message the sender accepts |
//! | 28 | 2 | report fields: a datapath's maximum, or the most an agent accepts |
//! | 30 | 6 | implementation version major, minor, patch (u16 each) |
//! | 36 | 28 | implementation name, UTF-8, NUL-terminated, zero-filled (≤ 27 bytes) |

use std::fmt;

use bitflags::bitflags;

use crate::bytes::{u8_at, u16_at, u64_at};
use crate::encode::{Encode, emit_slice};
use crate::error::{EncodeError, ParseError};
use crate::header::{
    DATAPATH_MAX_MSG_LEN, HEADER_LEN, HeaderView, MsgType, PORTUS_RECV_BUF_LEN, ParseOptions,
    check_header, region,
};
use crate::measure::{MAX_REPORT_FIELDS, PORTUS_MAX_REPORT_FIELDS};

/// Size of a version-1 HELLO.
pub const HELLO_LEN: usize = 64;
/// The magic at offset 8.
pub const HELLO_MAGIC: [u8; 4] = *b"CCPH";
/// Size of the implementation-name field.
pub const HELLO_NAME_FIELD_LEN: usize = 28;
/// Longest implementation name (27 bytes + NUL).
pub const MAX_HELLO_NAME_LEN: usize = HELLO_NAME_FIELD_LEN - 1;
const NAME_OFF: usize = 36;

/// A protocol version. Major 1 is the CCP wire format of spec §2 (libccp since 2021-07,
/// portus 0.6–0.9: 96-byte CREATE, READY); minor 1 adds HELLO.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolVersion {
    /// Incompatible wire changes bump this.
    pub major: u16,
    /// Compatible additions bump this.
    pub minor: u16,
}

impl ProtocolVersion {
    /// The version every libccp (since 2021-07) and portus 0.6–0.9 peer speaks implicitly.
    pub const BASE: ProtocolVersion = ProtocolVersion { major: 1, minor: 0 };
    /// The version this crate implements (base + HELLO).
    pub const CURRENT: ProtocolVersion = ProtocolVersion { major: 1, minor: 1 };
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// An implementation's own version (informational: logs and bug reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ImplVersion {
    /// Major.
    pub major: u16,
    /// Minor.
    pub minor: u16,
    /// Patch.
    pub patch: u16,
}

impl ImplVersion {
    /// Parse `"MAJOR.MINOR.PATCH"` (a pre-release/build suffix after the patch number is
    /// ignored), e.g. `env!("CARGO_PKG_VERSION")`.
    pub fn parse(s: &str) -> Option<ImplVersion> {
        let mut it = s.splitn(3, '.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        let rest = it.next()?;
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let patch = rest.get(..end)?.parse().ok()?;
        Some(ImplVersion {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for ImplVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

bitflags! {
    /// Capability bits. Unknown bits are kept when parsing and ignored by
    /// [`Hello::negotiate`] (it intersects both sides' bits).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Capabilities: u64 {
        /// Speaks this handshake (always set by senders).
        const HANDSHAKE = 1 << 0;
        /// Datapath: runs a built-in fallback congestion controller when the agent is
        /// silent (libccp only reports −101). Agents leave it clear.
        const FALLBACK = 1 << 1;
        /// Handles reports with more than 16 fields and messages longer than 1024 bytes,
        /// up to the limits in the HELLO. Effective only when both sides set it.
        const EXTENDED_REPORTS = 1 << 2;
        /// Datapath: validates INSTALL limits, event ranges and register indices instead
        /// of trusting the agent (libccp does not).
        const VALIDATED_INSTALL = 1 << 3;
        /// Always sets the header `len` to the exact message size, so the receiver may
        /// parse this peer in strict mode.
        const EXACT_LEN = 1 << 4;
        /// The datapath appends two u64 fields after the program's report variables in
        /// every MEASURE it sends: the connection's `Cwnd` then `Rate` after the program
        /// ran (the values the `set_cwnd` / `set_rate_abs` callbacks received). The agent
        /// knows the program's report-variable count n from its scope, so a MEASURE with
        /// n + 2 fields carries them. Only when both sides set it (a datapath sets it when
        /// it can append, an agent when it can read them).
        const REPORT_CWND_RATE = 1 << 5;
    }
}

/// Which end of the protocol sent a HELLO.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Role {
    /// A datapath (libccp's side).
    Datapath = 1,
    /// An agent (portus's side).
    Agent = 2,
}

impl Role {
    /// The role for a wire byte.
    pub const fn from_u8(b: u8) -> Option<Role> {
        match b {
            1 => Some(Role::Datapath),
            2 => Some(Role::Agent),
            _ => None,
        }
    }
}

/// HELLO: who the sender is, which protocol version it speaks and what it can do.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Hello {
    /// Sender's role.
    pub role: Role,
    /// Sender's protocol version.
    pub protocol: ProtocolVersion,
    /// Sender's capabilities.
    pub capabilities: Capabilities,
    /// Largest message the sender accepts.
    pub max_msg_len: u16,
    /// Datapath: most report fields it can send; agent: most it accepts.
    pub max_report_fields: u16,
    /// Sender's implementation version.
    pub impl_version: ImplVersion,
    /// Sender's implementation name (≤ 27 bytes, no NUL).
    pub impl_name: String,
}

impl Hello {
    /// A HELLO for this crate's protocol version with role-appropriate defaults: a
    /// datapath accepts libccp's 32678-byte messages and reports up to 110 fields; an
    /// agent accepts portus-sized reports (1024 bytes, 16 fields). Capabilities:
    /// [`HANDSHAKE`](Capabilities::HANDSHAKE) | [`EXACT_LEN`](Capabilities::EXACT_LEN);
    /// runtimes add what they support.
    pub fn new(role: Role, impl_name: &str, impl_version: ImplVersion) -> Hello {
        let (max_msg_len, max_report_fields) = match role {
            Role::Datapath => (DATAPATH_MAX_MSG_LEN as u16, MAX_REPORT_FIELDS as u16),
            Role::Agent => (PORTUS_RECV_BUF_LEN as u16, PORTUS_MAX_REPORT_FIELDS as u16),
        };
        Hello {
            role,
            protocol: ProtocolVersion::CURRENT,
            capabilities: Capabilities::HANDSHAKE | Capabilities::EXACT_LEN,
            max_msg_len,
            max_report_fields,
            impl_version,
            impl_name: impl_name.to_owned(),
        }
    }

    /// Parse with [`ParseOptions::STRICT`].
    pub fn parse(buf: &[u8]) -> Result<Hello, ParseError> {
        Hello::parse_with(buf, &ParseOptions::STRICT)
    }

    /// Parse with the given options.
    pub fn parse_with(buf: &[u8], opts: &ParseOptions) -> Result<Hello, ParseError> {
        Ok(HelloView::parse(buf, opts)?.to_hello())
    }

    /// What both sides may rely on, from this side's HELLO and the peer's. A peer of
    /// another major version, or of the same role, is treated as legacy.
    pub fn negotiate(&self, peer: &Hello) -> Negotiated {
        if peer.protocol.major != self.protocol.major || peer.role == self.role {
            return Negotiated::legacy(peer.role);
        }
        Negotiated {
            version: self.protocol.min(peer.protocol),
            capabilities: self.capabilities & peer.capabilities,
            peer_max_msg_len: peer.max_msg_len,
            peer_max_report_fields: peer.max_report_fields,
            legacy: false,
        }
    }

    fn check_name(&self) -> Result<&[u8], EncodeError> {
        let b = self.impl_name.as_bytes();
        if b.len() > MAX_HELLO_NAME_LEN {
            return Err(EncodeError::HelloNameTooLong {
                len: b.len(),
                max: MAX_HELLO_NAME_LEN,
            });
        }
        if let Some(at) = b.iter().position(|&c| c == 0) {
            return Err(EncodeError::NameContainsNul {
                msg: MsgType::Hello,
                at,
            });
        }
        Ok(b)
    }
}

impl Encode for Hello {
    fn encoded_len(&self) -> Result<usize, EncodeError> {
        self.check_name()?;
        Ok(HELLO_LEN)
    }

    fn encode_to_slice(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let name = self.check_name()?;
        emit_slice(out, MsgType::Hello, HELLO_LEN, 0, |w| {
            w.put(&HELLO_MAGIC);
            w.u16(self.protocol.major);
            w.u16(self.protocol.minor);
            w.u64(self.capabilities.bits());
            w.u8(self.role as u8);
            w.u8(0);
            w.u16(self.max_msg_len);
            w.u16(self.max_report_fields);
            w.u16(self.impl_version.major);
            w.u16(self.impl_version.minor);
            w.u16(self.impl_version.patch);
            w.put(name);
            w.zeros(HELLO_NAME_FIELD_LEN - name.len());
        })
    }
}

/// The outcome of a handshake (or of its absence).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Negotiated {
    /// The protocol version both speak.
    pub version: ProtocolVersion,
    /// Capabilities both have.
    pub capabilities: Capabilities,
    /// Largest message the peer accepts.
    pub peer_max_msg_len: u16,
    /// Peer's report-field limit.
    pub peer_max_report_fields: u16,
    /// Whether the peer is treated as a legacy (handshake-less) CCP peer.
    pub legacy: bool,
}

impl Negotiated {
    /// Assumptions about a peer that never sent a (usable) HELLO: base protocol, no
    /// capabilities; a legacy agent (portus) accepts 1024-byte messages and 16 report
    /// fields, a legacy datapath (libccp) 32678 bytes and 110 fields.
    pub const fn legacy(peer_role: Role) -> Negotiated {
        let (peer_max_msg_len, peer_max_report_fields) = match peer_role {
            Role::Datapath => (DATAPATH_MAX_MSG_LEN as u16, MAX_REPORT_FIELDS as u16),
            Role::Agent => (PORTUS_RECV_BUF_LEN as u16, PORTUS_MAX_REPORT_FIELDS as u16),
        };
        Negotiated {
            version: ProtocolVersion::BASE,
            capabilities: Capabilities::empty(),
            peer_max_msg_len,
            peer_max_report_fields,
            legacy: true,
        }
    }
}

/// Checked view of a HELLO message (magic, role and name validated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelloView<'a> {
    bytes: &'a [u8],
    role: Role,
    name: &'a str,
}

impl<'a> HelloView<'a> {
    /// Check `buf` and build the view. In strict mode `len` must be at least 64 (longer
    /// HELLOs from later minor versions are accepted; the extra bytes are ignored).
    pub fn parse(buf: &'a [u8], opts: &ParseOptions) -> Result<HelloView<'a>, ParseError> {
        let (hv, _) = check_header(buf, opts, Some(MsgType::Hello))?;
        HelloView::from_header(&hv, opts)
    }

    pub(crate) fn from_header(
        hv: &HeaderView<'a>,
        opts: &ParseOptions,
    ) -> Result<HelloView<'a>, ParseError> {
        let bytes = region(hv, opts, MsgType::Hello, "fields", HELLO_LEN, false)?;
        let mut magic = [0u8; 4];
        if let Some(m) = bytes.get(HEADER_LEN..HEADER_LEN + 4) {
            magic.copy_from_slice(m);
        }
        if magic != HELLO_MAGIC {
            return Err(ParseError::HelloBadMagic { found: magic });
        }
        let role_byte = u8_at(bytes, 24);
        let role = Role::from_u8(role_byte).ok_or(ParseError::HelloBadRole { role: role_byte })?;
        let field = bytes.get(NAME_OFF..HELLO_LEN).unwrap_or(&[]);
        let end = field
            .iter()
            .position(|&c| c == 0)
            .ok_or(ParseError::HelloNameNotTerminated)?;
        let name = std::str::from_utf8(field.get(..end).unwrap_or(&[])).map_err(|e| {
            ParseError::HelloNameNotUtf8 {
                valid_up_to: e.valid_up_to(),
            }
        })?;
        Ok(HelloView { bytes, role, name })
    }

    /// Sender's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Sender's protocol version.
    pub fn protocol(&self) -> ProtocolVersion {
        ProtocolVersion {
            major: u16_at(self.bytes, 12),
            minor: u16_at(self.bytes, 14),
        }
    }

    /// Sender's capabilities (unknown bits kept).
    pub fn capabilities(&self) -> Capabilities {
        Capabilities::from_bits_retain(u64_at(self.bytes, 16))
    }

    /// Largest message the sender accepts.
    pub fn max_msg_len(&self) -> u16 {
        u16_at(self.bytes, 26)
    }

    /// Sender's report-field limit.
    pub fn max_report_fields(&self) -> u16 {
        u16_at(self.bytes, 28)
    }

    /// Sender's implementation version.
    pub fn impl_version(&self) -> ImplVersion {
        ImplVersion {
            major: u16_at(self.bytes, 30),
            minor: u16_at(self.bytes, 32),
            patch: u16_at(self.bytes, 34),
        }
    }

    /// Sender's implementation name.
    pub fn impl_name(&self) -> &'a str {
        self.name
    }

    /// The owned message.
    pub fn to_hello(&self) -> Hello {
        Hello {
            role: self.role,
            protocol: self.protocol(),
            capabilities: self.capabilities(),
            max_msg_len: self.max_msg_len(),
            max_report_fields: self.max_report_fields(),
            impl_version: self.impl_version(),
            impl_name: self.name.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Hello {
        let mut h = Hello::new(
            Role::Datapath,
            "ccp-rs-datapath",
            ImplVersion {
                major: 0,
                minor: 1,
                patch: 2,
            },
        );
        h.capabilities |= Capabilities::FALLBACK | Capabilities::VALIDATED_INSTALL;
        h
    }

    #[test]
    fn layout_is_as_documented() {
        let b = sample().encode().unwrap();
        #[rustfmt::skip]
        let expected_head: [u8; 36] = [
            0x48, 0x00, 0x40, 0x00, 0, 0, 0, 0,     // header: type 0x48, len 64, sid 0
            b'C', b'C', b'P', b'H',                 // magic
            1, 0, 1, 0,                             // protocol 1.1
            0x1b, 0, 0, 0, 0, 0, 0, 0,              // caps: HANDSHAKE|FALLBACK|VALIDATED|EXACT
            1, 0,                                   // role datapath, reserved
            0xa6, 0x7f,                             // max_msg_len 32678
            110, 0,                                 // max_report_fields
            0, 0, 1, 0, 2, 0,                       // impl version 0.1.2
        ];
        assert_eq!(b.len(), HELLO_LEN);
        assert_eq!(b[..36], expected_head);
        assert_eq!(&b[36..51], b"ccp-rs-datapath");
        assert!(b[51..].iter().all(|&c| c == 0));
        assert_eq!(Hello::parse(&b), Ok(sample()));
    }

    #[test]
    fn longer_hello_is_accepted_and_unknown_bits_kept() {
        let mut b = sample().encode().unwrap();
        b.extend_from_slice(&[9; 8]);
        b[2] = 72;
        b[23] = 0x80; // unknown capability bit 63
        let h = Hello::parse(&b).unwrap();
        assert!(h.capabilities.contains(Capabilities::FALLBACK));
        assert_eq!(h.capabilities.bits() >> 63, 1);
    }

    #[test]
    fn rejects_bad_magic_role_and_name() {
        let good = sample().encode().unwrap();
        let mut b = good.clone();
        b[8] = b'X';
        assert!(matches!(
            Hello::parse(&b),
            Err(ParseError::HelloBadMagic { .. })
        ));
        let mut b = good.clone();
        b[24] = 3;
        assert_eq!(Hello::parse(&b), Err(ParseError::HelloBadRole { role: 3 }));
        let mut b = good.clone();
        b[36..64].fill(b'a');
        assert_eq!(Hello::parse(&b), Err(ParseError::HelloNameNotTerminated));
        let mut b = good.clone();
        b[36] = 0xff;
        assert_eq!(
            Hello::parse(&b),
            Err(ParseError::HelloNameNotUtf8 { valid_up_to: 0 })
        );
        let mut b = good;
        b[2] = 60;
        assert!(matches!(
            Hello::parse(&b),
            Err(ParseError::Truncated { needed: 64, .. })
        ));
        let mut h = sample();
        h.impl_name = "n".repeat(28);
        assert!(matches!(
            h.encode(),
            Err(EncodeError::HelloNameTooLong { len: 28, max: 27 })
        ));
    }

    #[test]
    fn negotiation() {
        let dp = sample();
        let mut agent = Hello::new(Role::Agent, "ccp-rs-agent", ImplVersion::default());
        agent.capabilities |= Capabilities::EXTENDED_REPORTS;
        agent.max_msg_len = 4096;
        let n = dp.negotiate(&agent);
        assert!(!n.legacy);
        assert_eq!(n.version, ProtocolVersion::CURRENT);
        assert_eq!(
            n.capabilities,
            Capabilities::HANDSHAKE | Capabilities::EXACT_LEN
        );
        assert_eq!(n.peer_max_msg_len, 4096);
        let n = agent.negotiate(&dp);
        assert_eq!(n.peer_max_report_fields, 110);
        // Older minor: the lower version wins.
        let mut old = agent.clone();
        old.protocol.minor = 0;
        assert_eq!(dp.negotiate(&old).version, ProtocolVersion::BASE);
        // Other major, or same role: legacy.
        let mut other = agent.clone();
        other.protocol.major = 2;
        assert_eq!(dp.negotiate(&other), Negotiated::legacy(Role::Agent));
        assert!(dp.negotiate(&dp.clone()).legacy);
        let l = Negotiated::legacy(Role::Agent);
        assert_eq!((l.peer_max_msg_len, l.peer_max_report_fields), (1024, 16));
    }

    #[test]
    fn report_cwnd_rate_needs_both_sides() {
        assert_eq!(Capabilities::REPORT_CWND_RATE.bits(), 1 << 5);
        let mut dp = sample();
        let mut agent = Hello::new(Role::Agent, "ccp-rs-agent", ImplVersion::default());
        dp.capabilities |= Capabilities::REPORT_CWND_RATE;
        assert!(
            !dp.negotiate(&agent)
                .capabilities
                .contains(Capabilities::REPORT_CWND_RATE)
        );
        agent.capabilities |= Capabilities::REPORT_CWND_RATE;
        assert!(
            dp.negotiate(&agent)
                .capabilities
                .contains(Capabilities::REPORT_CWND_RATE)
        );
        let b = dp.encode().unwrap();
        assert_eq!(b[16], 0x1b | 0x20);
        assert_eq!(Hello::parse(&b).unwrap().capabilities, dp.capabilities);
    }

    #[test]
    fn impl_version_parse() {
        assert_eq!(
            ImplVersion::parse("1.22.333"),
            Some(ImplVersion {
                major: 1,
                minor: 22,
                patch: 333
            })
        );
        assert_eq!(
            ImplVersion::parse("0.9.0-rc.1").map(|v| v.to_string()),
            Some("0.9.0".into())
        );
        assert_eq!(ImplVersion::parse("1.2"), None);
        assert_eq!(ImplVersion::parse("x.2.3"), None);
    }
}
