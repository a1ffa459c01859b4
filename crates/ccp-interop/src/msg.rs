//! Minimal decoders/encoders for the agent→datapath messages the interop tests replay
//! into our VM, and for MEASURE (spec §2.6–§2.11).
//!
//! These are test helpers (they parse by counts and check the buffer, nothing more); the
//! real codec is `ccp-wire`.

use ccp_lang::bytecode::{Bin, EVENT_LEN, Event, INSTR_LEN, Instr, InstrDecodeError};
use thiserror::Error;

/// One UPDATE_FIELDS / CHANGE_PROG record: `(register type, index, value)`.
pub type Record = (u8, u32, u64);

/// Why a message could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum MsgError {
    /// Buffer shorter than the header or than the counts imply.
    #[error("message truncated: need {needed} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// Unexpected message type.
    #[error("message type {got}, expected {expected}")]
    WrongType {
        /// Type found.
        got: u16,
        /// Type expected.
        expected: u16,
    },
    /// An instruction did not decode.
    #[error("instruction {index}: {source}")]
    Instr {
        /// Instruction index.
        index: usize,
        /// Decode error.
        source: InstrDecodeError,
    },
}

fn u32_at(b: &[u8], off: usize) -> Result<u32, MsgError> {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(MsgError::Truncated {
            needed: off + 4,
            have: b.len(),
        })
}

fn check_type(b: &[u8], expected: u16) -> Result<u32, MsgError> {
    if b.len() < 8 {
        return Err(MsgError::Truncated {
            needed: 8,
            have: b.len(),
        });
    }
    let got = u16::from_le_bytes([b[0], b[1]]);
    if got != expected {
        return Err(MsgError::WrongType { got, expected });
    }
    u32_at(b, 4)
}

/// Decode an INSTALL_EXPR message into `(program_uid, Bin)`.
pub fn decode_install(b: &[u8]) -> Result<(u32, Bin), MsgError> {
    check_type(b, 2)?;
    let uid = u32_at(b, 8)?;
    let ne = u32_at(b, 12)? as usize;
    let ni = u32_at(b, 16)? as usize;
    let needed = 20 + EVENT_LEN * ne + INSTR_LEN * ni;
    if needed > b.len() {
        return Err(MsgError::Truncated {
            needed,
            have: b.len(),
        });
    }
    let mut bin = Bin::default();
    for c in b[20..20 + EVENT_LEN * ne].chunks_exact(EVENT_LEN) {
        let mut e = [0u8; EVENT_LEN];
        e.copy_from_slice(c);
        bin.events.push(Event::decode(&e));
    }
    let start = 20 + EVENT_LEN * ne;
    for (index, c) in b[start..start + INSTR_LEN * ni]
        .chunks_exact(INSTR_LEN)
        .enumerate()
    {
        let mut i = [0u8; INSTR_LEN];
        i.copy_from_slice(c);
        bin.instrs
            .push(Instr::decode(&i).map_err(|source| MsgError::Instr { index, source })?);
    }
    Ok((uid, bin))
}

fn records(b: &[u8], start: usize, n: usize) -> Result<Vec<Record>, MsgError> {
    let needed = start + 13 * n;
    if needed > b.len() {
        return Err(MsgError::Truncated {
            needed,
            have: b.len(),
        });
    }
    Ok(b[start..needed]
        .chunks_exact(13)
        .map(|r| {
            let idx = u32::from_le_bytes([r[1], r[2], r[3], r[4]]);
            let mut v = [0u8; 8];
            v.copy_from_slice(&r[5..13]);
            (r[0], idx, u64::from_le_bytes(v))
        })
        .collect())
}

/// Decode an UPDATE_FIELDS message into `(sid, records)`. The count is read as a full
/// u32 (libccp reads only its first byte as a signed char; counts ≤ 127 agree).
pub fn decode_update_fields(b: &[u8]) -> Result<(u32, Vec<Record>), MsgError> {
    let sid = check_type(b, 3)?;
    let n = u32_at(b, 8)? as usize;
    Ok((sid, records(b, 12, n)?))
}

/// Decode a CHANGE_PROG message into `(sid, program_uid, records)`.
pub fn decode_change_prog(b: &[u8]) -> Result<(u32, u32, Vec<Record>), MsgError> {
    let sid = check_type(b, 4)?;
    let uid = u32_at(b, 8)?;
    let n = u32_at(b, 12)? as usize;
    Ok((sid, uid, records(b, 16, n)?))
}

/// Encode a MEASURE message (spec §2.6) for connection `sid`.
pub fn encode_measure(sid: u32, program_uid: u32, fields: &[u64]) -> Vec<u8> {
    let len = 16 + 8 * fields.len();
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&(len as u16).to_le_bytes());
    v.extend_from_slice(&sid.to_le_bytes());
    v.extend_from_slice(&program_uid.to_le_bytes());
    v.extend_from_slice(&(fields.len() as u32).to_le_bytes());
    for f in fields {
        v.extend_from_slice(&f.to_le_bytes());
    }
    v
}

/// Encode an INSTALL_EXPR message (spec §2.7) with `sid` 0.
pub fn encode_install(program_uid: u32, bin: &Bin) -> Vec<u8> {
    let body = bin.encode_body();
    let len = 20 + body.len();
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&(len as u16).to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&program_uid.to_le_bytes());
    v.extend_from_slice(&(bin.events.len() as u32).to_le_bytes());
    v.extend_from_slice(&(bin.instrs.len() as u32).to_le_bytes());
    v.extend_from_slice(&body);
    v
}

/// Encode a CHANGE_PROG message (spec §2.11).
pub fn encode_change_prog(sid: u32, program_uid: u32, records: &[Record]) -> Vec<u8> {
    let len = 16 + 13 * records.len();
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&(len as u16).to_le_bytes());
    v.extend_from_slice(&sid.to_le_bytes());
    v.extend_from_slice(&program_uid.to_le_bytes());
    v.extend_from_slice(&(records.len() as u32).to_le_bytes());
    push_records(&mut v, records);
    v
}

/// Encode an UPDATE_FIELDS message (spec §2.10).
pub fn encode_update_fields(sid: u32, records: &[Record]) -> Vec<u8> {
    let len = 12 + 13 * records.len();
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&3u16.to_le_bytes());
    v.extend_from_slice(&(len as u16).to_le_bytes());
    v.extend_from_slice(&sid.to_le_bytes());
    v.extend_from_slice(&(records.len() as u32).to_le_bytes());
    push_records(&mut v, records);
    v
}

fn push_records(v: &mut Vec<u8>, records: &[Record]) {
    for &(t, i, val) in records {
        v.push(t);
        v.extend_from_slice(&i.to_le_bytes());
        v.extend_from_slice(&val.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_vectors_roundtrip() {
        // §2.10: Cwnd ← 42 on sid 1.
        let upd = [
            3, 0, 0x19, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 4, 0, 0, 0, 0x2a, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(decode_update_fields(&upd), Ok((1, vec![(2, 4, 42)])));
        assert_eq!(encode_update_fields(1, &[(2, 4, 42)]), upd.to_vec());
        // §2.11: sid 1, uid 7, Cwnd ← 42.
        let cp = [
            4, 0, 0x1d, 0, 1, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 4, 0, 0, 0, 0x2a, 0, 0, 0, 0, 0,
            0, 0,
        ];
        assert_eq!(decode_change_prog(&cp), Ok((1, 7, vec![(2, 4, 42)])));
        assert_eq!(encode_change_prog(1, 7, &[(2, 4, 42)]), cp.to_vec());
        // §2.6: one field of value 1 from sid 1, uid 1.
        assert_eq!(
            encode_measure(1, 1, &[1]),
            vec![
                1, 0, 0x18, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0
            ]
        );
    }

    #[test]
    fn install_roundtrip_and_truncation() {
        // §2.7 worked example body (uid 7, 1 event, 3 instructions), with sid 0.
        let mut msg = vec![2, 0, 84, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0];
        msg.extend_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0]);
        msg.extend_from_slice(&[2, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        msg.extend_from_slice(&[1, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 1, 0, 0, 0]);
        msg.extend_from_slice(&[1, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 4, 0, 0, 0]);
        let (uid, bin) = decode_install(&msg).expect("valid");
        assert_eq!((uid, bin.events.len(), bin.instrs.len()), (7, 1, 3));
        assert_eq!(encode_install(7, &bin), msg);
        assert!(matches!(
            decode_install(&msg[..msg.len() - 1]),
            Err(MsgError::Truncated { .. })
        ));
    }
}
