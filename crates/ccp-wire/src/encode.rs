//! The [`Encode`] trait shared by all owned messages.

use crate::bytes::Writer;
use crate::error::EncodeError;
use crate::header::{Header, MsgType};

/// Encoding of an owned message.
///
/// Implementors provide [`encoded_len`](Encode::encoded_len) (which also validates) and
/// [`encode_to_slice`](Encode::encode_to_slice); the `Vec` helpers reuse the caller's
/// buffer, so encoding into a cleared, already-grown `Vec` does not allocate.
pub trait Encode {
    /// The size of the encoded message, after checking that it can be encoded.
    fn encoded_len(&self) -> Result<usize, EncodeError>;

    /// Encode into the start of `out`; returns the number of bytes written.
    fn encode_to_slice(&self, out: &mut [u8]) -> Result<usize, EncodeError>;

    /// Append the encoded message to `out`; returns the number of bytes appended. On
    /// error `out` is left unchanged.
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        let len = self.encoded_len()?;
        let start = out.len();
        out.resize(start + len, 0);
        match out.get_mut(start..).map(|dst| self.encode_to_slice(dst)) {
            Some(Ok(n)) => Ok(n),
            Some(Err(e)) => {
                out.truncate(start);
                Err(e)
            }
            None => {
                out.truncate(start);
                Ok(0)
            }
        }
    }

    /// Encode into a new `Vec`.
    fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut v = Vec::new();
        self.encode_into(&mut v)?;
        Ok(v)
    }
}

/// Run `write` over the first `len` bytes of `out`, after writing the header.
pub(crate) fn emit_slice(
    out: &mut [u8],
    msg: MsgType,
    len: usize,
    sid: u32,
    write: impl FnOnce(&mut Writer<'_>),
) -> Result<usize, EncodeError> {
    let available = out.len();
    let Some(dst) = out.get_mut(..len) else {
        return Err(EncodeError::BufferTooSmall {
            msg,
            needed: len,
            available,
        });
    };
    let mut w = Writer::new(dst);
    w.put(
        &Header {
            msg_type: msg.id(),
            len: len as u16,
            sid,
        }
        .encode(),
    );
    write(&mut w);
    debug_assert_eq!(w.written(), len);
    Ok(len)
}

/// Append a message of `len` bytes to `out` (header plus `write`).
pub(crate) fn emit_vec(
    out: &mut Vec<u8>,
    msg: MsgType,
    len: usize,
    sid: u32,
    write: impl FnOnce(&mut Writer<'_>),
) -> usize {
    let start = out.len();
    out.resize(start + len, 0);
    if let Some(dst) = out.get_mut(start..) {
        // Cannot fail: `dst` has exactly `len` bytes.
        let _ = emit_slice(dst, msg, len, sid, write);
    }
    len
}
