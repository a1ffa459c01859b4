//! CREATE (type 0): datapath → agent, 96 bytes (spec §2.5).

use crate::bytes::u32_at;
use crate::encode::{Encode, emit_slice};
use crate::error::{EncodeError, ParseError};
use crate::header::{HEADER_LEN, HeaderView, MsgType, ParseOptions, check_header, region};

/// Size of a CREATE message.
pub const CREATE_LEN: usize = 96;
/// Size of the algorithm-name field.
pub const CONG_ALG_FIELD_LEN: usize = 64;
/// Longest algorithm name (63 bytes + NUL).
pub const MAX_CONG_ALG_LEN: usize = CONG_ALG_FIELD_LEN - 1;
const NAME_OFF: usize = HEADER_LEN + 24;

/// CREATE: a new connection started in the datapath.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Create {
    /// Connection index (≥ 1).
    pub sid: u32,
    /// Initial congestion window, bytes.
    pub init_cwnd: u32,
    /// Maximum segment size, bytes.
    pub mss: u32,
    /// Opaque datapath value (Linux: IPv4 address in network byte order).
    pub src_ip: u32,
    /// Opaque datapath value (Linux: port, network byte order, widened).
    pub src_port: u32,
    /// Opaque datapath value.
    pub dst_ip: u32,
    /// Opaque datapath value.
    pub dst_port: u32,
    /// Requested algorithm name: `None` when the field starts with NUL; at most 63 bytes.
    pub cong_alg: Option<String>,
}

impl Create {
    /// Parse with [`ParseOptions::STRICT`].
    pub fn parse(buf: &[u8]) -> Result<Create, ParseError> {
        Create::parse_with(buf, &ParseOptions::STRICT)
    }

    /// Parse with the given options.
    pub fn parse_with(buf: &[u8], opts: &ParseOptions) -> Result<Create, ParseError> {
        Ok(CreateView::parse(buf, opts)?.to_create())
    }

    fn check_name(&self) -> Result<Option<&[u8]>, EncodeError> {
        let Some(name) = self.cong_alg.as_deref() else {
            return Ok(None);
        };
        let b = name.as_bytes();
        if b.is_empty() {
            return Err(EncodeError::EmptyName);
        }
        if b.len() > MAX_CONG_ALG_LEN {
            return Err(EncodeError::NameTooLong {
                len: b.len(),
                max: MAX_CONG_ALG_LEN,
            });
        }
        if let Some(at) = b.iter().position(|&c| c == 0) {
            return Err(EncodeError::NameContainsNul {
                msg: MsgType::Create,
                at,
            });
        }
        Ok(Some(b))
    }
}

impl Encode for Create {
    fn encoded_len(&self) -> Result<usize, EncodeError> {
        self.check_name()?;
        Ok(CREATE_LEN)
    }

    fn encode_to_slice(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let name = self.check_name()?.unwrap_or(&[]);
        emit_slice(out, MsgType::Create, CREATE_LEN, self.sid, |w| {
            w.u32(self.init_cwnd);
            w.u32(self.mss);
            w.u32(self.src_ip);
            w.u32(self.src_port);
            w.u32(self.dst_ip);
            w.u32(self.dst_port);
            w.put(name);
            w.zeros(CONG_ALG_FIELD_LEN - name.len());
        })
    }
}

/// Checked view of a CREATE message (the name is validated as NUL-terminated UTF-8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreateView<'a> {
    bytes: &'a [u8],
    cong_alg: Option<&'a str>,
}

impl<'a> CreateView<'a> {
    /// Check `buf` and build the view.
    pub fn parse(buf: &'a [u8], opts: &ParseOptions) -> Result<CreateView<'a>, ParseError> {
        let (hv, _) = check_header(buf, opts, Some(MsgType::Create))?;
        CreateView::from_header(&hv, opts)
    }

    pub(crate) fn from_header(
        hv: &HeaderView<'a>,
        opts: &ParseOptions,
    ) -> Result<CreateView<'a>, ParseError> {
        let bytes = region(hv, opts, MsgType::Create, "fields", CREATE_LEN, true)?;
        let field = bytes.get(NAME_OFF..).unwrap_or(&[]);
        let cong_alg = match field.first() {
            None | Some(0) => None,
            Some(_) => {
                let end = field
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or(ParseError::NameNotTerminated)?;
                let raw = field.get(..end).unwrap_or(&[]);
                let s = std::str::from_utf8(raw).map_err(|e| ParseError::NameNotUtf8 {
                    valid_up_to: e.valid_up_to(),
                })?;
                Some(s)
            }
        };
        Ok(CreateView { bytes, cong_alg })
    }

    /// Connection index.
    pub fn sid(&self) -> u32 {
        u32_at(self.bytes, 4)
    }
    /// Initial congestion window, bytes.
    pub fn init_cwnd(&self) -> u32 {
        u32_at(self.bytes, 8)
    }
    /// Maximum segment size, bytes.
    pub fn mss(&self) -> u32 {
        u32_at(self.bytes, 12)
    }
    /// Source address (opaque).
    pub fn src_ip(&self) -> u32 {
        u32_at(self.bytes, 16)
    }
    /// Source port (opaque).
    pub fn src_port(&self) -> u32 {
        u32_at(self.bytes, 20)
    }
    /// Destination address (opaque).
    pub fn dst_ip(&self) -> u32 {
        u32_at(self.bytes, 24)
    }
    /// Destination port (opaque).
    pub fn dst_port(&self) -> u32 {
        u32_at(self.bytes, 28)
    }
    /// Requested algorithm name, if any.
    pub fn cong_alg(&self) -> Option<&'a str> {
        self.cong_alg
    }

    /// The owned message.
    pub fn to_create(&self) -> Create {
        Create {
            sid: self.sid(),
            init_cwnd: self.init_cwnd(),
            mss: self.mss(),
            src_ip: self.src_ip(),
            src_port: self.src_port(),
            dst_ip: self.dst_ip(),
            dst_port: self.dst_port(),
            cong_alg: self.cong_alg.map(str::to_owned),
        }
    }

    /// The 96 message bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec §2.5 test vector: sid 1, init_cwnd 100, mss 10, 1/2/3/4, "my-cool-alg".
    fn spec_vector() -> Vec<u8> {
        let mut v = vec![
            0x00, 0x00, 0x60, 0x00, 0x01, 0x00, 0x00, 0x00, // header
            0x64, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, // init_cwnd, mss
            0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, // src_ip, src_port
            0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, // dst_ip, dst_port
            0x6d, 0x79, 0x2d, 0x63, 0x6f, 0x6f, 0x6c, 0x2d, 0x61, 0x6c, 0x67, 0x00,
        ];
        v.resize(96, 0);
        v
    }

    fn spec_msg() -> Create {
        Create {
            sid: 1,
            init_cwnd: 100,
            mss: 10,
            src_ip: 1,
            src_port: 2,
            dst_ip: 3,
            dst_port: 4,
            cong_alg: Some("my-cool-alg".into()),
        }
    }

    #[test]
    fn spec_vector_both_directions() {
        assert_eq!(spec_msg().encode().unwrap(), spec_vector());
        assert_eq!(Create::parse(&spec_vector()), Ok(spec_msg()));
        let v = spec_vector();
        let view = CreateView::parse(&v, &ParseOptions::AGENT).unwrap();
        assert_eq!(view.cong_alg(), Some("my-cool-alg"));
        assert_eq!(view.mss(), 10);
        assert_eq!(view.dst_port(), 4);
    }

    #[test]
    fn no_name_is_none_and_bytes_after_nul_are_ignored() {
        let mut v = spec_vector();
        v[32] = 0;
        assert_eq!(Create::parse(&v).unwrap().cong_alg, None);
        let mut v = spec_vector();
        v[50] = 0xff; // garbage after the terminator
        assert_eq!(
            Create::parse(&v).unwrap().cong_alg.as_deref(),
            Some("my-cool-alg")
        );
    }

    #[test]
    fn name_errors() {
        let mut v = spec_vector();
        v[32..96].fill(b'a');
        assert_eq!(Create::parse(&v), Err(ParseError::NameNotTerminated));
        let mut v = spec_vector();
        v[33] = 0xc3; // lone UTF-8 lead byte, then '-'
        assert_eq!(
            Create::parse(&v),
            Err(ParseError::NameNotUtf8 { valid_up_to: 1 })
        );
        let mut m = spec_msg();
        m.cong_alg = Some("x".repeat(64));
        assert_eq!(
            m.encode(),
            Err(EncodeError::NameTooLong { len: 64, max: 63 })
        );
        m.cong_alg = Some("x".repeat(63));
        let b = m.encode().unwrap();
        assert_eq!(b[95], 0);
        assert_eq!(Create::parse(&b).unwrap(), m);
        m.cong_alg = Some(String::new());
        assert_eq!(m.encode(), Err(EncodeError::EmptyName));
        m.cong_alg = Some("a\0b".into());
        assert!(matches!(
            m.encode(),
            Err(EncodeError::NameContainsNul { at: 1, .. })
        ));
    }

    #[test]
    fn length_checks() {
        let v = spec_vector();
        assert!(matches!(
            Create::parse(&v[..95]),
            Err(ParseError::LenExceedsBuffer { .. })
        ));
        let mut w = v.clone();
        w.push(0);
        w[2] = 97;
        assert!(matches!(
            Create::parse(&w),
            Err(ParseError::LenMismatch { expected: 96, .. })
        ));
        assert!(Create::parse_with(&w, &ParseOptions::LENIENT).is_ok());
    }
}
