//! INSTALL_EXPR (type 2): agent → datapath, 20 + 16·(E+I) bytes (spec §2.7).

use ccp_lang::bytecode::{Bin, EVENT_LEN, Event, INSTR_LEN, Instr, MAX_EVENTS, MAX_INSTRS};

use crate::bytes::{Records, u32_at};
use crate::encode::{Encode, emit_slice};
use crate::error::{EncodeError, ParseError};
use crate::header::{HEADER_LEN, HeaderView, MsgType, ParseOptions, check_header, region};

/// Size of the fixed part (header, uid, event count, instruction count).
pub const INSTALL_FIXED_LEN: usize = HEADER_LEN + 12;

/// INSTALL: one compiled program, sent to the datapath (portus: sid 0; libccp ignores
/// the sid). A uid of 1 makes libccp wipe its program table first (spec §3.14).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Install {
    /// Header socket id (0 from portus; ignored by the datapath).
    pub sid: u32,
    /// Program uid.
    pub program_uid: u32,
    /// Events and instructions.
    pub bin: Bin,
}

impl Install {
    /// Parse with [`ParseOptions::STRICT`].
    pub fn parse(buf: &[u8]) -> Result<Install, ParseError> {
        Install::parse_with(buf, &ParseOptions::STRICT)
    }

    /// Parse with the given options.
    pub fn parse_with(buf: &[u8], opts: &ParseOptions) -> Result<Install, ParseError> {
        Ok(InstallView::parse(buf, opts)?.to_install())
    }

    fn check(&self) -> Result<usize, EncodeError> {
        self.bin.validate()?;
        if let Some((index, i)) = self
            .bin
            .instrs
            .iter()
            .enumerate()
            .find(|(_, i)| !i.result.kind.is_writable())
        {
            return Err(EncodeError::ResultNotWritable {
                index,
                kind: i.result.kind,
            });
        }
        Ok(INSTALL_FIXED_LEN + 16 * (self.bin.events.len() + self.bin.instrs.len()))
    }
}

impl Encode for Install {
    fn encoded_len(&self) -> Result<usize, EncodeError> {
        self.check()
    }

    fn encode_to_slice(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let len = self.check()?;
        emit_slice(out, MsgType::Install, len, self.sid, |w| {
            w.u32(self.program_uid);
            w.u32(self.bin.events.len() as u32);
            w.u32(self.bin.instrs.len() as u32);
            for e in &self.bin.events {
                w.put(&e.encode());
            }
            for i in &self.bin.instrs {
                w.put(&i.encode());
            }
        })
    }
}

fn decode_event(c: &[u8]) -> Option<Event> {
    c.first_chunk::<EVENT_LEN>().map(Event::decode)
}

/// Checked view of an INSTALL message. Construction checks the counts against the
/// limits (≤ 256 events, ≤ 255 instructions), the bytes against the counts, decodes
/// every instruction ([`Instr::decode`]: opcode and operand types) and checks that every
/// event range lies inside the instruction array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstallView<'a> {
    sid: u32,
    program_uid: u32,
    events: &'a [u8],
    instrs: &'a [u8],
}

impl<'a> InstallView<'a> {
    /// Check `buf` and build the view.
    pub fn parse(buf: &'a [u8], opts: &ParseOptions) -> Result<InstallView<'a>, ParseError> {
        let (hv, _) = check_header(buf, opts, Some(MsgType::Install))?;
        InstallView::from_header(&hv, opts)
    }

    pub(crate) fn from_header(
        hv: &HeaderView<'a>,
        opts: &ParseOptions,
    ) -> Result<InstallView<'a>, ParseError> {
        let fixed = region(
            hv,
            opts,
            MsgType::Install,
            "program_uid/num_events/num_instrs",
            INSTALL_FIXED_LEN,
            false,
        )?;
        let program_uid = u32_at(fixed, 8);
        let ne = u32_at(fixed, 12);
        let ni = u32_at(fixed, 16);
        if ne as usize > MAX_EVENTS {
            return Err(ParseError::TooManyEvents {
                count: ne,
                max: MAX_EVENTS,
            });
        }
        if ni as usize > MAX_INSTRS {
            return Err(ParseError::TooManyInstrs {
                count: ni,
                max: MAX_INSTRS,
            });
        }
        let (ne, ni) = (ne as usize, ni as usize);
        let ev_end = INSTALL_FIXED_LEN + EVENT_LEN * ne;
        let total = ev_end + INSTR_LEN * ni;
        let bytes = region(
            hv,
            opts,
            MsgType::Install,
            "events/instructions",
            total,
            true,
        )?;
        let events = bytes.get(INSTALL_FIXED_LEN..ev_end).unwrap_or(&[]);
        let instrs = bytes.get(ev_end..).unwrap_or(&[]);
        for (index, c) in instrs.chunks_exact(INSTR_LEN).enumerate() {
            if let Some(b) = c.first_chunk::<INSTR_LEN>() {
                Instr::decode(b).map_err(|source| ParseError::BadInstr { index, source })?;
            }
        }
        for (event, c) in events.chunks_exact(EVENT_LEN).enumerate() {
            let Some(ev) = decode_event(c) else { continue };
            for (start, len) in [(ev.cond_start, ev.cond_len), (ev.body_start, ev.body_len)] {
                if start as u64 + len as u64 > ni as u64 {
                    return Err(ParseError::EventOutOfRange {
                        event,
                        start,
                        len,
                        num_instrs: ni,
                    });
                }
            }
        }
        Ok(InstallView {
            sid: hv.sid(),
            program_uid,
            events,
            instrs,
        })
    }

    /// Header socket id.
    pub fn sid(&self) -> u32 {
        self.sid
    }

    /// Program uid.
    pub fn program_uid(&self) -> u32 {
        self.program_uid
    }

    /// Number of events.
    pub fn num_events(&self) -> usize {
        self.events.len() / EVENT_LEN
    }

    /// Number of instructions.
    pub fn num_instrs(&self) -> usize {
        self.instrs.len() / INSTR_LEN
    }

    /// The events, decoded in place.
    pub fn events(&self) -> Records<'a, Event> {
        Records::new(self.events)
    }

    /// The instructions, decoded in place (all were validated at construction).
    pub fn instrs(&self) -> Records<'a, Instr> {
        Records::new(self.instrs)
    }

    /// The program as a [`Bin`].
    pub fn to_bin(&self) -> Bin {
        Bin {
            events: self.events().collect(),
            instrs: self.instrs().collect(),
        }
    }

    /// The owned message.
    pub fn to_install(&self) -> Install {
        Install {
            sid: self.sid,
            program_uid: self.program_uid,
            bin: self.to_bin(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccp_lang::bytecode::{InstrDecodeError, Op, Operand, RegKind};

    /// Spec §2.7 worked example (portus unit-test vector): uid 7, sid 1.
    #[rustfmt::skip]
    const SPEC: [u8; 84] = [
        0x02, 0x00, 0x54, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x07, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x02, 0x05, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00,
        0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00,
    ];

    fn spec_msg() -> Install {
        let vrep0 = Operand::new(RegKind::VolatileReport, 0);
        let flag = Operand::new(RegKind::Implicit, 0);
        Install {
            sid: 1,
            program_uid: 7,
            bin: Bin {
                events: vec![Event {
                    cond_start: 1,
                    cond_len: 1,
                    body_start: 2,
                    body_len: 1,
                }],
                instrs: vec![
                    Instr {
                        op: Op::Def,
                        result: vrep0,
                        left: vrep0,
                        right: Operand::imm(0),
                    },
                    Instr {
                        op: Op::Bind,
                        result: flag,
                        left: flag,
                        right: Operand::imm(1),
                    },
                    Instr {
                        op: Op::Bind,
                        result: vrep0,
                        left: vrep0,
                        right: Operand::imm(4),
                    },
                ],
            },
        }
    }

    #[test]
    fn spec_vector_both_directions() {
        assert_eq!(spec_msg().encode().unwrap(), SPEC.to_vec());
        assert_eq!(Install::parse(&SPEC), Ok(spec_msg()));
        let v = InstallView::parse(&SPEC, &ParseOptions::DATAPATH).unwrap();
        assert_eq!(v.num_events(), 1);
        assert_eq!(v.num_instrs(), 3);
        assert_eq!(v.instrs().nth(2), Some(spec_msg().bin.instrs[2]));
    }

    /// libccp unittest.c `test_primitives`: len 84 (and libccp is given 88 bytes) but the
    /// counts (1 event, 4 instructions) imply 100 bytes; the C array holds 100.
    #[rustfmt::skip]
    const LIBCCP_PRIMITIVES: [u8; 100] = [
        2, 0, 84, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0,
        1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0,
        2, 5, 0, 0, 0, 0, 5, 0,  0, 0, 0, 1, 255, 255, 255, 255,
        8, 2, 0, 0, 0, 0, 4, 13, 0, 0, 0, 5, 0,   0,   0,   0,
        1, 5, 0, 0, 0, 0, 5, 0,  0, 0, 0, 4, 13,  0,   0,   0,
        1, 2, 2, 0, 0, 0, 2, 2,  0, 0, 0, 1, 1,   0,   0,   0,
    ];

    #[test]
    fn lenient_mode_replays_libccp_vector() {
        let v = Install::parse_with(&LIBCCP_PRIMITIVES, &ParseOptions::DATAPATH).unwrap();
        assert_eq!(v.program_uid, 2);
        assert_eq!(v.bin.instrs.len(), 4);
        assert_eq!(v.bin.instrs[0].right, Operand::imm(0xffff_ffff));
        assert_eq!(v.bin.instrs[1].left, Operand::new(RegKind::Primitive, 13));
        // Strict mode refuses the inconsistent len.
        assert!(matches!(
            Install::parse(&LIBCCP_PRIMITIVES),
            Err(ParseError::Truncated {
                needed: 100,
                available: 84,
                ..
            })
        ));
        // Never past the real buffer: the 88 bytes libccp is given are not enough.
        assert_eq!(
            Install::parse_with(&LIBCCP_PRIMITIVES[..88], &ParseOptions::DATAPATH),
            Err(ParseError::Truncated {
                msg: MsgType::Install,
                field: "events/instructions",
                needed: 100,
                available: 88
            })
        );
    }

    #[test]
    fn validation_errors_and_codes() {
        let mut b = SPEC;
        b[52] = 15; // opcode of instruction 1
        let e = Install::parse(&b).unwrap_err();
        assert_eq!(
            e,
            ParseError::BadInstr {
                index: 1,
                source: InstrDecodeError::InvalidOp(15)
            }
        );
        assert_eq!(e.libccp_code(), -33);
        let mut b = SPEC;
        b[53] = 1; // result of instruction 1 immediate
        assert_eq!(Install::parse(&b).unwrap_err().libccp_code(), -34);
        let mut b = SPEC;
        b[63] = 9; // right type of instruction 1
        assert_eq!(Install::parse(&b).unwrap_err().libccp_code(), -37);
        let mut b = SPEC;
        b[32] = 3; // body_len 3 from index 2 > 3 instructions
        assert_eq!(
            Install::parse(&b),
            Err(ParseError::EventOutOfRange {
                event: 0,
                start: 2,
                len: 3,
                num_instrs: 3
            })
        );
        let mut b = SPEC;
        b[16] = 0;
        b[17] = 1; // 256 instructions
        assert_eq!(
            Install::parse(&b),
            Err(ParseError::TooManyInstrs {
                count: 256,
                max: 255
            })
        );
        let mut b = SPEC;
        b[15] = 0x80; // huge event count
        assert!(matches!(
            Install::parse(&b),
            Err(ParseError::TooManyEvents { .. })
        ));
    }

    #[test]
    fn encoder_validates() {
        let mut m = spec_msg();
        m.bin.events[0].body_len = 5;
        assert!(matches!(m.encode(), Err(EncodeError::InvalidProgram(_))));
        let mut m = spec_msg();
        m.bin.instrs[1].result = Operand::new(RegKind::Primitive, 3);
        assert_eq!(
            m.encode(),
            Err(EncodeError::ResultNotWritable {
                index: 1,
                kind: RegKind::Primitive
            })
        );
    }
}
