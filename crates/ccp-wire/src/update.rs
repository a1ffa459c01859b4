//! UPDATE_FIELDS (type 3, 12 + 13·n bytes) and CHANGE_PROG (type 4, 16 + 13·n bytes):
//! agent → datapath (spec §2.10, §2.11).

use ccp_lang::bytecode::{LIBCCP_CONTROL_REGS, RegKind, implicit};

use crate::bytes::{Records, Writer, u8_at, u32_at, u64_at};
use crate::encode::{Encode, emit_slice, emit_vec};
use crate::error::{EncodeError, ParseError};
use crate::header::{HEADER_LEN, HeaderView, MsgType, ParseOptions, check_header, region};

/// Size of one update record (`kind: u8, index: u32, value: u64`, packed).
pub const UPDATE_RECORD_LEN: usize = 13;
/// Size of UPDATE_FIELDS' fixed part (header, count).
pub const UPDATE_FIELDS_FIXED_LEN: usize = HEADER_LEN + 4;
/// Size of CHANGE_PROG's fixed part (header, uid, count).
pub const CHANGE_PROG_FIXED_LEN: usize = HEADER_LEN + 8;
/// Most records per UPDATE_FIELDS or CHANGE_PROG we emit, and most records per
/// UPDATE_FIELDS we accept. libccp reads the UPDATE_FIELDS count as *one signed byte*
/// (counts 128..255 turn negative and are rejected with −52; counts ≥ 256 are read
/// modulo 256), so 127 is the largest count that means the same to libccp and to us.
pub const MAX_UPDATES: usize = 127;
/// Most records per CHANGE_PROG we accept (libccp reads that count as a full u32 and
/// rejects more than `MAX_MUTABLE_REG` = 222 with −62).
pub const MAX_CHANGE_PROG_UPDATES: usize = 222;

/// One register update: `kind` 0/8 (control) or 2 (implicit: 4 = Cwnd, 5 = Rate; other
/// implicit indices are accepted and ignored by libccp).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UpdateField {
    /// Register type: [`RegKind::Control`], [`RegKind::VolatileControl`] or
    /// [`RegKind::Implicit`].
    pub kind: RegKind,
    /// Register index (control: < 110).
    pub index: u32,
    /// New value.
    pub value: u64,
}

impl UpdateField {
    /// An update of any register (validated when encoded).
    pub const fn new(kind: RegKind, index: u32, value: u64) -> UpdateField {
        UpdateField { kind, index, value }
    }

    /// Set `Cwnd` (implicit register 4), bytes.
    pub const fn cwnd(value: u64) -> UpdateField {
        UpdateField::new(RegKind::Implicit, implicit::CWND, value)
    }

    /// Set `Rate` (implicit register 5), bytes/s.
    pub const fn rate(value: u64) -> UpdateField {
        UpdateField::new(RegKind::Implicit, implicit::RATE, value)
    }

    /// Set a non-volatile control register.
    pub const fn control(index: u32, value: u64) -> UpdateField {
        UpdateField::new(RegKind::Control, index, value)
    }

    /// Set a volatile control register.
    pub const fn volatile_control(index: u32, value: u64) -> UpdateField {
        UpdateField::new(RegKind::VolatileControl, index, value)
    }

    /// Whether the datapath accepts this target: control types with index < 110, or an
    /// implicit register.
    pub fn is_valid_target(&self) -> bool {
        match self.kind {
            RegKind::Control | RegKind::VolatileControl => {
                (self.index as usize) < LIBCCP_CONTROL_REGS
            }
            RegKind::Implicit => true,
            _ => false,
        }
    }

    /// Encode the 13-byte record.
    pub fn encode(&self) -> [u8; UPDATE_RECORD_LEN] {
        let mut b = [0u8; UPDATE_RECORD_LEN];
        let mut w = Writer::new(&mut b);
        w.u8(self.kind as u8);
        w.u32(self.index);
        w.u64(self.value);
        b
    }

    /// Decode a 13-byte record without validating it (`None` for an unknown type byte).
    pub fn decode(b: &[u8; UPDATE_RECORD_LEN]) -> Option<UpdateField> {
        Some(UpdateField {
            kind: RegKind::from_u8(b[0])?,
            index: u32_at(b, 1),
            value: u64_at(b, 5),
        })
    }
}

impl crate::bytes::sealed::Sealed for UpdateField {}
impl crate::bytes::Record for UpdateField {
    const SIZE: usize = UPDATE_RECORD_LEN;
    #[inline]
    fn decode_record(b: &[u8]) -> Option<UpdateField> {
        b.first_chunk().and_then(UpdateField::decode)
    }
}

fn check_updates(msg: MsgType, updates: &[UpdateField]) -> Result<(), EncodeError> {
    if updates.len() > MAX_UPDATES {
        return Err(EncodeError::TooManyUpdates {
            msg,
            count: updates.len(),
            max: MAX_UPDATES,
        });
    }
    if let Some((index, u)) = updates
        .iter()
        .enumerate()
        .find(|(_, u)| !u.is_valid_target())
    {
        return Err(EncodeError::BadUpdateTarget {
            msg,
            index,
            kind: u.kind,
            reg: u.index,
        });
    }
    Ok(())
}

fn write_records(w: &mut Writer<'_>, updates: &[UpdateField]) {
    for u in updates {
        w.u8(u.kind as u8);
        w.u32(u.index);
        w.u64(u.value);
    }
}

/// Validate the records of a received message.
fn validate_records(msg: MsgType, records: &[u8]) -> Result<(), ParseError> {
    for (index, c) in records.chunks_exact(UPDATE_RECORD_LEN).enumerate() {
        let kind = u8_at(c, 0);
        let reg = u32_at(c, 1);
        match RegKind::from_u8(kind) {
            Some(RegKind::Control | RegKind::VolatileControl) => {
                if reg as usize >= LIBCCP_CONTROL_REGS {
                    return Err(ParseError::BadUpdateRegIndex {
                        msg,
                        index,
                        reg,
                        max: LIBCCP_CONTROL_REGS,
                    });
                }
            }
            Some(RegKind::Implicit) => {}
            _ => return Err(ParseError::BadUpdateRegType { msg, index, kind }),
        }
    }
    Ok(())
}

/// Parse the count at `count_off`, check it against `max`, and return the records.
fn records_region<'a>(
    hv: &HeaderView<'a>,
    opts: &ParseOptions,
    msg: MsgType,
    fixed_len: usize,
    max: usize,
) -> Result<(&'a [u8], &'a [u8]), ParseError> {
    let fixed = region(hv, opts, msg, "fixed fields", fixed_len, false)?;
    let n = u32_at(fixed, fixed_len - 4);
    if n as usize > max {
        return Err(ParseError::TooManyUpdates { msg, count: n, max });
    }
    let total = fixed_len + UPDATE_RECORD_LEN * n as usize;
    let bytes = region(hv, opts, msg, "update records", total, true)?;
    let records = bytes.get(fixed_len..).unwrap_or(&[]);
    validate_records(msg, records)?;
    Ok((bytes, records))
}

// ---------------------------------------------------------------------------------------
// UPDATE_FIELDS

/// UPDATE_FIELDS: staged register updates for one connection (applied at its next
/// invocation).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct UpdateFields {
    /// Target connection.
    pub sid: u32,
    /// Updates, in order (≤ 127).
    pub updates: Vec<UpdateField>,
}

impl UpdateFields {
    /// Parse with [`ParseOptions::STRICT`].
    pub fn parse(buf: &[u8]) -> Result<UpdateFields, ParseError> {
        UpdateFields::parse_with(buf, &ParseOptions::STRICT)
    }

    /// Parse with the given options.
    pub fn parse_with(buf: &[u8], opts: &ParseOptions) -> Result<UpdateFields, ParseError> {
        Ok(UpdateFieldsView::parse(buf, opts)?.to_update_fields())
    }
}

fn update_fields_len(updates: &[UpdateField]) -> Result<usize, EncodeError> {
    check_updates(MsgType::UpdateFields, updates)?;
    Ok(UPDATE_FIELDS_FIXED_LEN + UPDATE_RECORD_LEN * updates.len())
}

/// Append an UPDATE_FIELDS built from borrowed parts (agent hot path: no allocation
/// when `out` has capacity). Returns the bytes appended.
pub fn encode_update_fields_into(
    sid: u32,
    updates: &[UpdateField],
    out: &mut Vec<u8>,
) -> Result<usize, EncodeError> {
    let len = update_fields_len(updates)?;
    Ok(emit_vec(out, MsgType::UpdateFields, len, sid, |w| {
        w.u32(updates.len() as u32);
        write_records(w, updates);
    }))
}

/// Encode an UPDATE_FIELDS from borrowed parts into the start of `out`.
pub fn encode_update_fields_to_slice(
    sid: u32,
    updates: &[UpdateField],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let len = update_fields_len(updates)?;
    emit_slice(out, MsgType::UpdateFields, len, sid, |w| {
        w.u32(updates.len() as u32);
        write_records(w, updates);
    })
}

impl Encode for UpdateFields {
    fn encoded_len(&self) -> Result<usize, EncodeError> {
        update_fields_len(&self.updates)
    }

    fn encode_to_slice(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        encode_update_fields_to_slice(self.sid, &self.updates, out)
    }
}

/// Checked view of an UPDATE_FIELDS message: count ≤ 127 (full u32 read), records
/// present, every record an updatable target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateFieldsView<'a> {
    sid: u32,
    records: &'a [u8],
}

impl<'a> UpdateFieldsView<'a> {
    /// Check `buf` and build the view.
    pub fn parse(buf: &'a [u8], opts: &ParseOptions) -> Result<UpdateFieldsView<'a>, ParseError> {
        let (hv, _) = check_header(buf, opts, Some(MsgType::UpdateFields))?;
        UpdateFieldsView::from_header(&hv, opts)
    }

    pub(crate) fn from_header(
        hv: &HeaderView<'a>,
        opts: &ParseOptions,
    ) -> Result<UpdateFieldsView<'a>, ParseError> {
        let (_, records) = records_region(
            hv,
            opts,
            MsgType::UpdateFields,
            UPDATE_FIELDS_FIXED_LEN,
            MAX_UPDATES,
        )?;
        Ok(UpdateFieldsView {
            sid: hv.sid(),
            records,
        })
    }

    /// Target connection.
    pub fn sid(&self) -> u32 {
        self.sid
    }

    /// Number of updates.
    pub fn num_updates(&self) -> usize {
        self.records.len() / UPDATE_RECORD_LEN
    }

    /// The updates, decoded in place.
    pub fn updates(&self) -> Records<'a, UpdateField> {
        Records::new(self.records)
    }

    /// The owned message.
    pub fn to_update_fields(&self) -> UpdateFields {
        UpdateFields {
            sid: self.sid,
            updates: self.updates().collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// CHANGE_PROG

/// CHANGE_PROG: switch one connection to an installed program and stage initial
/// register values (previously staged updates are discarded by the datapath).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct ChangeProg {
    /// Target connection.
    pub sid: u32,
    /// uid of the (installed) program to switch to.
    pub program_uid: u32,
    /// Initial values applied right after the switch (≤ 127 emitted, ≤ 222 accepted).
    pub updates: Vec<UpdateField>,
}

impl ChangeProg {
    /// Parse with [`ParseOptions::STRICT`].
    pub fn parse(buf: &[u8]) -> Result<ChangeProg, ParseError> {
        ChangeProg::parse_with(buf, &ParseOptions::STRICT)
    }

    /// Parse with the given options.
    pub fn parse_with(buf: &[u8], opts: &ParseOptions) -> Result<ChangeProg, ParseError> {
        Ok(ChangeProgView::parse(buf, opts)?.to_change_prog())
    }
}

fn change_prog_len(updates: &[UpdateField]) -> Result<usize, EncodeError> {
    check_updates(MsgType::ChangeProg, updates)?;
    Ok(CHANGE_PROG_FIXED_LEN + UPDATE_RECORD_LEN * updates.len())
}

/// Append a CHANGE_PROG built from borrowed parts. Returns the bytes appended.
pub fn encode_change_prog_into(
    sid: u32,
    program_uid: u32,
    updates: &[UpdateField],
    out: &mut Vec<u8>,
) -> Result<usize, EncodeError> {
    let len = change_prog_len(updates)?;
    Ok(emit_vec(out, MsgType::ChangeProg, len, sid, |w| {
        w.u32(program_uid);
        w.u32(updates.len() as u32);
        write_records(w, updates);
    }))
}

/// Encode a CHANGE_PROG from borrowed parts into the start of `out`.
pub fn encode_change_prog_to_slice(
    sid: u32,
    program_uid: u32,
    updates: &[UpdateField],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let len = change_prog_len(updates)?;
    emit_slice(out, MsgType::ChangeProg, len, sid, |w| {
        w.u32(program_uid);
        w.u32(updates.len() as u32);
        write_records(w, updates);
    })
}

impl Encode for ChangeProg {
    fn encoded_len(&self) -> Result<usize, EncodeError> {
        change_prog_len(&self.updates)
    }

    fn encode_to_slice(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        encode_change_prog_to_slice(self.sid, self.program_uid, &self.updates, out)
    }
}

/// Checked view of a CHANGE_PROG message: count ≤ 222, records present, every record an
/// updatable target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeProgView<'a> {
    sid: u32,
    program_uid: u32,
    records: &'a [u8],
}

impl<'a> ChangeProgView<'a> {
    /// Check `buf` and build the view.
    pub fn parse(buf: &'a [u8], opts: &ParseOptions) -> Result<ChangeProgView<'a>, ParseError> {
        let (hv, _) = check_header(buf, opts, Some(MsgType::ChangeProg))?;
        ChangeProgView::from_header(&hv, opts)
    }

    pub(crate) fn from_header(
        hv: &HeaderView<'a>,
        opts: &ParseOptions,
    ) -> Result<ChangeProgView<'a>, ParseError> {
        let (bytes, records) = records_region(
            hv,
            opts,
            MsgType::ChangeProg,
            CHANGE_PROG_FIXED_LEN,
            MAX_CHANGE_PROG_UPDATES,
        )?;
        Ok(ChangeProgView {
            sid: hv.sid(),
            program_uid: u32_at(bytes, HEADER_LEN),
            records,
        })
    }

    /// Target connection.
    pub fn sid(&self) -> u32 {
        self.sid
    }

    /// Program to switch to.
    pub fn program_uid(&self) -> u32 {
        self.program_uid
    }

    /// Number of updates.
    pub fn num_updates(&self) -> usize {
        self.records.len() / UPDATE_RECORD_LEN
    }

    /// The updates, decoded in place.
    pub fn updates(&self) -> Records<'a, UpdateField> {
        Records::new(self.records)
    }

    /// The owned message.
    pub fn to_change_prog(&self) -> ChangeProg {
        ChangeProg {
            sid: self.sid,
            program_uid: self.program_uid,
            updates: self.updates().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec §2.10: implicit[4] (Cwnd) ← 42 on sid 1.
    #[rustfmt::skip]
    const UPD_CWND: [u8; 25] = [
        0x03, 0x00, 0x19, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x02, 0x04, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    /// Spec §2.10: control[0] ← 42 on sid 1.
    #[rustfmt::skip]
    const UPD_CTRL: [u8; 25] = [
        0x03, 0x00, 0x19, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    /// Spec §2.11 (portus vector): sid 1, uid 7, Cwnd ← 42.
    #[rustfmt::skip]
    const CHG_CWND: [u8; 29] = [
        0x04, 0x00, 0x1d, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00,
        0x02, 0x04, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn update_spec_vectors_both_directions() {
        let m = UpdateFields {
            sid: 1,
            updates: vec![UpdateField::cwnd(42)],
        };
        assert_eq!(m.encode().unwrap(), UPD_CWND.to_vec());
        assert_eq!(UpdateFields::parse(&UPD_CWND), Ok(m));
        let m = UpdateFields {
            sid: 1,
            updates: vec![UpdateField::control(0, 42)],
        };
        assert_eq!(m.encode().unwrap(), UPD_CTRL.to_vec());
        assert_eq!(UpdateFields::parse(&UPD_CTRL), Ok(m));
    }

    #[test]
    fn change_prog_spec_vectors_both_directions() {
        let m = ChangeProg {
            sid: 1,
            program_uid: 7,
            updates: vec![UpdateField::cwnd(42)],
        };
        assert_eq!(m.encode().unwrap(), CHG_CWND.to_vec());
        assert_eq!(ChangeProg::parse(&CHG_CWND), Ok(m));
        // Minimal switch with no fields: `04 00 10 00 01 00 00 00 <uid LE32> 00 00 00 00`.
        let min = [
            4, 0, 0x10, 0, 1, 0, 0, 0, 0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0,
        ];
        let m = ChangeProg {
            sid: 1,
            program_uid: 0x1234_5678,
            updates: vec![],
        };
        assert_eq!(m.encode().unwrap(), min.to_vec());
        assert_eq!(ChangeProg::parse(&min), Ok(m));
    }

    #[test]
    fn libccp_change_prog_vector_with_len_12() {
        // libccp unittest.c: len 12 on a 16-byte CHANGE_PROG.
        let v = [4, 0, 12, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        assert!(ChangeProg::parse(&v).is_err());
        let m = ChangeProg::parse_with(&v, &ParseOptions::DATAPATH).unwrap();
        assert_eq!(m.program_uid, 1);
        assert!(m.updates.is_empty());
    }

    #[test]
    fn views_read_in_place() {
        let v = UpdateFieldsView::parse(&UPD_CWND, &ParseOptions::DATAPATH).unwrap();
        assert_eq!(v.sid(), 1);
        assert_eq!(v.num_updates(), 1);
        assert_eq!(v.updates().next(), Some(UpdateField::cwnd(42)));
        let v = ChangeProgView::parse(&CHG_CWND, &ParseOptions::DATAPATH).unwrap();
        assert_eq!(v.program_uid(), 7);
        assert_eq!(v.updates().len(), 1);
    }

    #[test]
    fn count_limits() {
        let many = vec![UpdateField::control(1, 1); 128];
        let m = UpdateFields {
            sid: 1,
            updates: many.clone(),
        };
        assert!(matches!(
            m.encode(),
            Err(EncodeError::TooManyUpdates {
                count: 128,
                max: 127,
                ..
            })
        ));
        let c = ChangeProg {
            sid: 1,
            program_uid: 2,
            updates: many,
        };
        assert!(matches!(
            c.encode(),
            Err(EncodeError::TooManyUpdates { count: 128, .. })
        ));
        // 127 records: fine both ways.
        let m = UpdateFields {
            sid: 1,
            updates: vec![UpdateField::rate(9); 127],
        };
        let b = m.encode().unwrap();
        assert_eq!(b.len(), 12 + 13 * 127);
        assert_eq!(UpdateFields::parse(&b), Ok(m));
        // A received count of 128 is rejected (libccp: negative signed char → −52).
        let mut b = UPD_CWND.to_vec();
        b[8] = 128;
        let e = UpdateFields::parse(&b).unwrap_err();
        assert_eq!(e.libccp_code(), -52);
        // CHANGE_PROG accepts up to 222 records on receive.
        let mut b = vec![4, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 222, 0, 0, 0];
        for i in 0..222u32 {
            b.extend_from_slice(&UpdateField::control(i % 110, 5).encode());
        }
        let len = b.len() as u16;
        b[2..4].copy_from_slice(&len.to_le_bytes());
        assert_eq!(ChangeProg::parse(&b).unwrap().updates.len(), 222);
        b[12] = 223;
        assert_eq!(ChangeProg::parse(&b).unwrap_err().libccp_code(), -62);
    }

    #[test]
    fn bad_targets() {
        let mut b = UPD_CWND;
        b[12] = 5; // report register
        assert_eq!(
            UpdateFields::parse(&b),
            Err(ParseError::BadUpdateRegType {
                msg: MsgType::UpdateFields,
                index: 0,
                kind: 5
            })
        );
        assert_eq!(UpdateFields::parse(&b).unwrap_err().libccp_code(), -53);
        let mut b = UPD_CTRL;
        b[13] = 110; // control[110]
        assert!(matches!(
            UpdateFields::parse(&b),
            Err(ParseError::BadUpdateRegIndex { reg: 110, .. })
        ));
        let m = UpdateFields {
            sid: 1,
            updates: vec![UpdateField::new(RegKind::Primitive, 0, 1)],
        };
        assert!(matches!(
            m.encode(),
            Err(EncodeError::BadUpdateTarget { index: 0, .. })
        ));
        // Implicit registers other than Cwnd/Rate pass (libccp ignores them).
        let m = UpdateFields {
            sid: 1,
            updates: vec![UpdateField::new(RegKind::Implicit, 2, 1)],
        };
        assert_eq!(UpdateFields::parse(&m.encode().unwrap()), Ok(m));
    }

    #[test]
    fn borrowed_encoders() {
        let ups = [UpdateField::cwnd(42)];
        let mut out = Vec::with_capacity(64);
        encode_update_fields_into(1, &ups, &mut out).unwrap();
        assert_eq!(out, UPD_CWND);
        let mut stack = [0u8; 29];
        let n = encode_change_prog_to_slice(1, 7, &ups, &mut stack).unwrap();
        assert_eq!(&stack[..n], &CHG_CWND);
        out.clear();
        encode_change_prog_into(1, 7, &ups, &mut out).unwrap();
        assert_eq!(out, CHG_CWND);
        let mut small = [0u8; 24];
        assert!(encode_update_fields_to_slice(1, &ups, &mut small).is_err());
    }
}
