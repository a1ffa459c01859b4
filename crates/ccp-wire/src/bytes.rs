//! Little-endian byte helpers that cannot panic.
//!
//! Readers return 0 when the requested bytes are not there; they are only called on
//! slices whose length was checked beforehand, so the fallback is never observed. The
//! writer writes into a slice that was sized beforehand from the same arithmetic.

use std::slice::ChunksExact;

#[inline]
pub(crate) fn u8_at(b: &[u8], off: usize) -> u8 {
    b.get(off).copied().unwrap_or(0)
}

#[inline]
pub(crate) fn u16_at(b: &[u8], off: usize) -> u16 {
    match b.get(off..).and_then(|s| s.first_chunk::<2>()) {
        Some(a) => u16::from_le_bytes(*a),
        None => 0,
    }
}

#[inline]
pub(crate) fn u32_at(b: &[u8], off: usize) -> u32 {
    match b.get(off..).and_then(|s| s.first_chunk::<4>()) {
        Some(a) => u32::from_le_bytes(*a),
        None => 0,
    }
}

#[inline]
pub(crate) fn u64_at(b: &[u8], off: usize) -> u64 {
    match b.get(off..).and_then(|s| s.first_chunk::<8>()) {
        Some(a) => u64::from_le_bytes(*a),
        None => 0,
    }
}

/// Sequential writer over a pre-sized slice.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    #[inline]
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    #[inline]
    pub(crate) fn put(&mut self, src: &[u8]) {
        let end = self.pos + src.len();
        debug_assert!(
            end <= self.buf.len(),
            "writer overflow: sizes computed wrongly"
        );
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(src);
        }
        self.pos = end;
    }

    #[inline]
    pub(crate) fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }

    #[inline]
    pub(crate) fn u16(&mut self, v: u16) {
        self.put(&v.to_le_bytes());
    }

    #[inline]
    pub(crate) fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }

    #[inline]
    pub(crate) fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }

    /// Writes `n` zero bytes.
    #[inline]
    pub(crate) fn zeros(&mut self, n: usize) {
        let end = self.pos + n;
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.fill(0);
        }
        self.pos = end;
    }

    /// Number of bytes written so far.
    #[inline]
    pub(crate) fn written(&self) -> usize {
        self.pos
    }
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// A fixed-size record that a view iterates over: `u64` (MEASURE fields),
/// [`Event`](ccp_lang::bytecode::Event), [`Instr`](ccp_lang::bytecode::Instr),
/// [`UpdateField`](crate::UpdateField). Sealed: implemented only in this crate.
pub trait Record: Sized + sealed::Sealed {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Decode one record of exactly [`SIZE`](Record::SIZE) bytes that was validated when
    /// the view was built (`None` only for bytes that would have failed validation).
    fn decode_record(b: &[u8]) -> Option<Self>;
}

impl sealed::Sealed for u64 {}
impl Record for u64 {
    const SIZE: usize = 8;
    #[inline]
    fn decode_record(b: &[u8]) -> Option<u64> {
        b.first_chunk::<8>().map(|a| u64::from_le_bytes(*a))
    }
}

impl sealed::Sealed for ccp_lang::bytecode::Event {}
impl Record for ccp_lang::bytecode::Event {
    const SIZE: usize = ccp_lang::bytecode::EVENT_LEN;
    #[inline]
    fn decode_record(b: &[u8]) -> Option<Self> {
        b.first_chunk().map(ccp_lang::bytecode::Event::decode)
    }
}

impl sealed::Sealed for ccp_lang::bytecode::Instr {}
impl Record for ccp_lang::bytecode::Instr {
    const SIZE: usize = ccp_lang::bytecode::INSTR_LEN;
    #[inline]
    fn decode_record(b: &[u8]) -> Option<Self> {
        b.first_chunk()
            .and_then(|a| ccp_lang::bytecode::Instr::decode(a).ok())
    }
}

/// Iterator over the fixed-size records of a region whose every record was validated
/// when the view was built; decodes in place, no allocation. Records failing
/// validation cannot occur (they would simply be skipped).
#[derive(Clone, Debug)]
pub struct Records<'a, T> {
    chunks: ChunksExact<'a, u8>,
    _marker: std::marker::PhantomData<fn() -> T>,
}

impl<'a, T: Record> Records<'a, T> {
    pub(crate) fn new(region: &'a [u8]) -> Self {
        Records {
            chunks: region.chunks_exact(T::SIZE),
            _marker: std::marker::PhantomData,
        }
    }
}

impl<T: Record> Iterator for Records<'_, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        for chunk in self.chunks.by_ref() {
            if let Some(v) = T::decode_record(chunk) {
                return Some(v);
            }
        }
        None
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl<T: Record> ExactSizeIterator for Records<'_, T> {}

impl<T: Record> DoubleEndedIterator for Records<'_, T> {
    #[inline]
    fn next_back(&mut self) -> Option<T> {
        while let Some(chunk) = self.chunks.next_back() {
            if let Some(v) = T::decode_record(chunk) {
                return Some(v);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_are_le_and_total() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(u16_at(&b, 0), 0x0201);
        assert_eq!(u32_at(&b, 1), 0x0504_0302);
        assert_eq!(u64_at(&b, 1), 0x0908_0706_0504_0302);
        // Out of range: fallback value, no panic.
        assert_eq!(u64_at(&b, 2), 0);
        assert_eq!(u32_at(&b, usize::MAX), 0);
        assert_eq!(u8_at(&b, 9), 0);
    }

    #[test]
    fn writer_writes_le() {
        let mut buf = [0xffu8; 15];
        let mut w = Writer::new(&mut buf);
        w.u8(1);
        w.u16(0x0302);
        w.u32(0x0706_0504);
        w.zeros(2);
        w.u32(0x0b0a_0908);
        assert_eq!(w.written(), 13);
        assert_eq!(buf[..13], [1, 2, 3, 4, 5, 6, 7, 0, 0, 8, 9, 10, 11]);
        assert_eq!(buf[13..], [0xff, 0xff]);
    }
}
