//! MEASURE (type 1): datapath → agent, 16 + 8·n bytes (spec §2.6), including the close
//! notification (uid 0, 0 fields).

use crate::bytes::{Records, u32_at, u64_at};
use crate::encode::{Encode, emit_slice, emit_vec};
use crate::error::{EncodeError, ParseError};
use crate::header::{HEADER_LEN, HeaderView, MsgType, ParseOptions, check_header, region};

/// Size of the fixed part (header, uid, count).
pub const MEASURE_FIXED_LEN: usize = HEADER_LEN + 8;
/// Most report fields libccp can send (`MAX_REPORT_REG`); more is a parse error.
pub const MAX_REPORT_FIELDS: usize = 110;
/// portus caps report variables at 16 (indices ≤ 15); keep reports this small when the
/// agent may be portus (its receive buffer is 1024 bytes).
pub const PORTUS_MAX_REPORT_FIELDS: usize = 16;

/// MEASURE: the report registers of one program run, or (0 fields) a close notification.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Measure {
    /// Connection.
    pub sid: u32,
    /// uid of the program that produced the report (0 in a close).
    pub program_uid: u32,
    /// Report register values, index order.
    pub fields: Vec<u64>,
}

impl Measure {
    /// The close notification libccp sends from `ccp_connection_free`.
    pub fn close(sid: u32) -> Measure {
        Measure {
            sid,
            program_uid: 0,
            fields: Vec::new(),
        }
    }

    /// Whether this is a close: agents treat *any* MEASURE with 0 fields as one.
    pub fn is_close(&self) -> bool {
        self.fields.is_empty()
    }

    /// Parse with [`ParseOptions::STRICT`].
    pub fn parse(buf: &[u8]) -> Result<Measure, ParseError> {
        Measure::parse_with(buf, &ParseOptions::STRICT)
    }

    /// Parse with the given options.
    pub fn parse_with(buf: &[u8], opts: &ParseOptions) -> Result<Measure, ParseError> {
        Ok(MeasureView::parse(buf, opts)?.to_measure())
    }
}

impl Encode for Measure {
    fn encoded_len(&self) -> Result<usize, EncodeError> {
        measure_len(self.fields.len())
    }

    fn encode_to_slice(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        encode_measure_to_slice(self.sid, self.program_uid, &self.fields, out)
    }
}

fn measure_len(n: usize) -> Result<usize, EncodeError> {
    if n > MAX_REPORT_FIELDS {
        return Err(EncodeError::TooManyFields {
            count: n,
            max: MAX_REPORT_FIELDS,
        });
    }
    Ok(MEASURE_FIXED_LEN + 8 * n)
}

fn write_fields(w: &mut crate::bytes::Writer<'_>, uid: u32, fields: &[u64]) {
    w.u32(uid);
    w.u32(fields.len() as u32);
    for f in fields {
        w.u64(*f);
    }
}

/// Append a MEASURE built from borrowed parts (datapath hot path: no allocation when
/// `out` has capacity). Returns the bytes appended.
pub fn encode_measure_into(
    sid: u32,
    program_uid: u32,
    fields: &[u64],
    out: &mut Vec<u8>,
) -> Result<usize, EncodeError> {
    let len = measure_len(fields.len())?;
    Ok(emit_vec(out, MsgType::Measure, len, sid, |w| {
        write_fields(w, program_uid, fields)
    }))
}

/// Encode a MEASURE from borrowed parts into the start of `out` (e.g. a stack buffer).
pub fn encode_measure_to_slice(
    sid: u32,
    program_uid: u32,
    fields: &[u64],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let len = measure_len(fields.len())?;
    emit_slice(out, MsgType::Measure, len, sid, |w| {
        write_fields(w, program_uid, fields)
    })
}

/// Checked view of a MEASURE message; the agent's zero-allocation receive path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeasureView<'a> {
    bytes: &'a [u8],
}

impl<'a> MeasureView<'a> {
    /// Check `buf` and build the view: `num_fields ≤ 110`, and the message is exactly
    /// 16 + 8·n bytes (strict) or the buffer holds them (lenient).
    pub fn parse(buf: &'a [u8], opts: &ParseOptions) -> Result<MeasureView<'a>, ParseError> {
        let (hv, _) = check_header(buf, opts, Some(MsgType::Measure))?;
        MeasureView::from_header(&hv, opts)
    }

    pub(crate) fn from_header(
        hv: &HeaderView<'a>,
        opts: &ParseOptions,
    ) -> Result<MeasureView<'a>, ParseError> {
        let fixed = region(
            hv,
            opts,
            MsgType::Measure,
            "program_uid/num_fields",
            MEASURE_FIXED_LEN,
            false,
        )?;
        let n = u32_at(fixed, 12);
        if n as usize > MAX_REPORT_FIELDS {
            return Err(ParseError::TooManyFields {
                count: n,
                max: MAX_REPORT_FIELDS,
            });
        }
        let total = MEASURE_FIXED_LEN + 8 * n as usize;
        let bytes = region(hv, opts, MsgType::Measure, "fields", total, true)?;
        Ok(MeasureView { bytes })
    }

    /// Connection.
    pub fn sid(&self) -> u32 {
        u32_at(self.bytes, 4)
    }

    /// uid of the program that produced the report.
    pub fn program_uid(&self) -> u32 {
        u32_at(self.bytes, 8)
    }

    /// Number of fields (≤ 110).
    pub fn num_fields(&self) -> usize {
        (self.bytes.len() - MEASURE_FIXED_LEN.min(self.bytes.len())) / 8
    }

    /// Whether this is a close notification (0 fields).
    pub fn is_close(&self) -> bool {
        self.num_fields() == 0
    }

    /// Field `i`, if present.
    pub fn field(&self, i: usize) -> Option<u64> {
        (i < self.num_fields()).then(|| u64_at(self.bytes, MEASURE_FIXED_LEN + 8 * i))
    }

    /// The fields in index order, read in place.
    pub fn fields(&self) -> Records<'a, u64> {
        Records::new(self.bytes.get(MEASURE_FIXED_LEN..).unwrap_or(&[]))
    }

    /// Copy the fields into `out` (cleared first; no allocation if it has capacity).
    pub fn fields_into(&self, out: &mut Vec<u64>) {
        out.clear();
        out.extend(self.fields());
    }

    /// The owned message.
    pub fn to_measure(&self) -> Measure {
        Measure {
            sid: self.sid(),
            program_uid: self.program_uid(),
            fields: self.fields().collect(),
        }
    }

    /// The message bytes (exactly 16 + 8·n).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec §2.6: report with one field value 1 from sid 1, uid 1.
    const REPORT: [u8; 24] = [
        0x01, 0x00, 0x18, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    /// Spec §2.6: close of sid 1.
    const CLOSE: [u8; 16] = [
        0x01, 0x00, 0x10, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00,
    ];

    #[test]
    fn spec_vectors_both_directions() {
        let m = Measure {
            sid: 1,
            program_uid: 1,
            fields: vec![1],
        };
        assert_eq!(m.encode().unwrap(), REPORT.to_vec());
        assert_eq!(Measure::parse(&REPORT), Ok(m));
        assert_eq!(Measure::close(1).encode().unwrap(), CLOSE.to_vec());
        let c = Measure::parse(&CLOSE).unwrap();
        assert!(c.is_close());
        assert_eq!(c, Measure::close(1));
    }

    #[test]
    fn view_reads_in_place() {
        let v = MeasureView::parse(&REPORT, &ParseOptions::AGENT).unwrap();
        assert_eq!(v.num_fields(), 1);
        assert_eq!(v.field(0), Some(1));
        assert_eq!(v.field(1), None);
        assert_eq!(v.fields().len(), 1);
        assert!(!v.is_close());
        let mut buf = Vec::with_capacity(4);
        v.fields_into(&mut buf);
        assert_eq!(buf, [1]);
    }

    #[test]
    fn borrowed_encoders_match_owned() {
        let fields = [7u64, u64::MAX, 0];
        let mut out = vec![0xee];
        let n = encode_measure_into(3, 9, &fields, &mut out).unwrap();
        assert_eq!(n, 40);
        let owned = Measure {
            sid: 3,
            program_uid: 9,
            fields: fields.to_vec(),
        }
        .encode()
        .unwrap();
        assert_eq!(&out[1..], &owned[..]);
        let mut stack = [0u8; 64];
        let n = encode_measure_to_slice(3, 9, &fields, &mut stack).unwrap();
        assert_eq!(&stack[..n], &owned[..]);
        // A reused buffer is never reallocated.
        let mut out = Vec::with_capacity(16 + 8 * MAX_REPORT_FIELDS);
        let (ptr, cap) = (out.as_ptr(), out.capacity());
        for n in 0..=MAX_REPORT_FIELDS {
            out.clear();
            encode_measure_into(1, 2, &vec![5; n], &mut out).unwrap();
            assert_eq!(out.len(), 16 + 8 * n);
        }
        assert_eq!((out.as_ptr(), out.capacity()), (ptr, cap));
    }

    #[test]
    fn limits_and_lengths() {
        let m = Measure {
            sid: 1,
            program_uid: 1,
            fields: vec![0; 111],
        };
        assert_eq!(
            m.encode(),
            Err(EncodeError::TooManyFields {
                count: 111,
                max: 110
            })
        );
        // num_fields 111 is rejected before any size arithmetic.
        let mut b = CLOSE.to_vec();
        b[12] = 111;
        assert_eq!(
            Measure::parse(&b),
            Err(ParseError::TooManyFields {
                count: 111,
                max: 110
            })
        );
        // Byte length not 16 + 8n: a trailing partial field.
        let mut b = REPORT.to_vec();
        b.push(0);
        b[2] = 25;
        assert!(matches!(
            Measure::parse(&b),
            Err(ParseError::LenMismatch { expected: 24, .. })
        ));
        // Count says 2 fields, bytes hold 1.
        let mut b = REPORT.to_vec();
        b[12] = 2;
        assert!(matches!(
            Measure::parse(&b),
            Err(ParseError::Truncated { needed: 32, .. })
        ));
        // Fewer than the fixed 16 bytes.
        let mut b = CLOSE.to_vec();
        b[2] = 12;
        assert!(matches!(
            Measure::parse(&b),
            Err(ParseError::Truncated { needed: 16, .. })
        ));
    }
}
