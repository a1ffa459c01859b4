//! READY (type 5): datapath → agent, 12 bytes (spec §2.4).

use crate::bytes::u32_at;
use crate::encode::{Encode, emit_slice};
use crate::error::{EncodeError, ParseError};
use crate::header::{HEADER_LEN, MsgType, ParseOptions, check_header, region};

/// Size of a READY message.
pub const READY_LEN: usize = 12;

/// READY: the datapath started (sent once by `ccp_init`). The header `sid` is always 0;
/// portus ignores `id` and identifies datapaths by transport address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Ready {
    /// Datapath identifier passed to `ccp_init(dp, id)`.
    pub id: u32,
}

impl Ready {
    /// Parse with [`ParseOptions::STRICT`].
    pub fn parse(buf: &[u8]) -> Result<Ready, ParseError> {
        Ready::parse_with(buf, &ParseOptions::STRICT)
    }

    /// Parse with the given options.
    pub fn parse_with(buf: &[u8], opts: &ParseOptions) -> Result<Ready, ParseError> {
        Ok(ReadyView::parse(buf, opts)?.to_ready())
    }

    /// The 12 encoded bytes (never fails).
    pub fn to_bytes(&self) -> [u8; READY_LEN] {
        let mut b = [0u8; READY_LEN];
        // Cannot fail: the array has exactly READY_LEN bytes.
        let _ = self.encode_to_slice(&mut b);
        b
    }
}

impl Encode for Ready {
    fn encoded_len(&self) -> Result<usize, EncodeError> {
        Ok(READY_LEN)
    }

    fn encode_to_slice(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        emit_slice(out, MsgType::Ready, READY_LEN, 0, |w| w.u32(self.id))
    }
}

/// Checked view of a READY message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadyView<'a> {
    bytes: &'a [u8],
}

impl<'a> ReadyView<'a> {
    /// Check `buf` and build the view.
    pub fn parse(buf: &'a [u8], opts: &ParseOptions) -> Result<ReadyView<'a>, ParseError> {
        let (hv, _) = check_header(buf, opts, Some(MsgType::Ready))?;
        ReadyView::from_header(&hv, opts)
    }

    pub(crate) fn from_header(
        hv: &crate::header::HeaderView<'a>,
        opts: &ParseOptions,
    ) -> Result<ReadyView<'a>, ParseError> {
        let bytes = region(hv, opts, MsgType::Ready, "id", READY_LEN, true)?;
        Ok(ReadyView { bytes })
    }

    /// Header socket id (0 from libccp).
    pub fn sid(&self) -> u32 {
        u32_at(self.bytes, 4)
    }

    /// Datapath id.
    pub fn id(&self) -> u32 {
        u32_at(self.bytes, HEADER_LEN)
    }

    /// The owned message.
    pub fn to_ready(&self) -> Ready {
        Ready { id: self.id() }
    }

    /// The message bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec §2.4 test vector (id 0xAA).
    const VEC: [u8; 12] = [0x05, 0x00, 0x0c, 0x00, 0, 0, 0, 0, 0xaa, 0, 0, 0];

    #[test]
    fn spec_vector_both_directions() {
        let r = Ready { id: 0xaa };
        assert_eq!(r.to_bytes(), VEC);
        assert_eq!(r.encode().unwrap(), VEC.to_vec());
        assert_eq!(Ready::parse(&VEC), Ok(r));
        let v = ReadyView::parse(&VEC, &ParseOptions::AGENT).unwrap();
        assert_eq!(v.id(), 0xaa);
        assert_eq!(v.sid(), 0);
    }

    #[test]
    fn rejects_wrong_len_and_truncation() {
        let mut b = VEC;
        b[2] = 16;
        assert!(matches!(
            Ready::parse(&b),
            Err(ParseError::LenExceedsBuffer { .. })
        ));
        let mut b = VEC.to_vec();
        b[2] = 8;
        assert!(matches!(
            Ready::parse(&b),
            Err(ParseError::Truncated { needed: 12, .. })
        ));
        // Lenient: parsed from the real buffer, len 8 tolerated.
        assert_eq!(
            Ready::parse_with(&b, &ParseOptions::LENIENT),
            Ok(Ready { id: 0xaa })
        );
        assert!(Ready::parse_with(&b[..11], &ParseOptions::LENIENT).is_err());
    }

    #[test]
    fn slice_too_small() {
        let mut small = [0u8; 11];
        assert!(matches!(
            Ready { id: 1 }.encode_to_slice(&mut small),
            Err(EncodeError::BufferTooSmall { needed: 12, .. })
        ));
    }
}
