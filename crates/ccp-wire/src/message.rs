//! Any-message parsing ([`Message`], [`MessageView`]) and the [`Splitter`] for buffers
//! that carry several concatenated messages.

use tracing::debug;

use crate::create::{Create, CreateView};
use crate::encode::Encode;
use crate::error::{EncodeError, ParseError};
use crate::header::{HeaderView, MsgType, ParseOptions, check_header};
use crate::hello::{Hello, HelloView};
use crate::install::{Install, InstallView};
use crate::measure::{Measure, MeasureView};
use crate::ready::{Ready, ReadyView};
use crate::update::{ChangeProg, ChangeProgView, UpdateFields, UpdateFieldsView};

/// Any CCP message, owned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// READY (5).
    Ready(Ready),
    /// CREATE (0).
    Create(Create),
    /// MEASURE (1), including close.
    Measure(Measure),
    /// INSTALL (2).
    Install(Install),
    /// UPDATE_FIELDS (3).
    UpdateFields(UpdateFields),
    /// CHANGE_PROG (4).
    ChangeProg(ChangeProg),
    /// HELLO (0x48).
    Hello(Hello),
}

impl Message {
    /// Parse one message with [`ParseOptions::STRICT`].
    pub fn parse(buf: &[u8]) -> Result<Message, ParseError> {
        Message::parse_with(buf, &ParseOptions::STRICT)
    }

    /// Parse one message with the given options.
    pub fn parse_with(buf: &[u8], opts: &ParseOptions) -> Result<Message, ParseError> {
        Ok(MessageView::parse(buf, opts)?.to_message())
    }

    /// The message type.
    pub fn msg_type(&self) -> MsgType {
        match self {
            Message::Ready(_) => MsgType::Ready,
            Message::Create(_) => MsgType::Create,
            Message::Measure(_) => MsgType::Measure,
            Message::Install(_) => MsgType::Install,
            Message::UpdateFields(_) => MsgType::UpdateFields,
            Message::ChangeProg(_) => MsgType::ChangeProg,
            Message::Hello(_) => MsgType::Hello,
        }
    }

    /// The header socket id the message is encoded with.
    pub fn sid(&self) -> u32 {
        match self {
            Message::Ready(_) | Message::Hello(_) => 0,
            Message::Create(m) => m.sid,
            Message::Measure(m) => m.sid,
            Message::Install(m) => m.sid,
            Message::UpdateFields(m) => m.sid,
            Message::ChangeProg(m) => m.sid,
        }
    }

    fn as_encode(&self) -> &dyn Encode {
        match self {
            Message::Ready(m) => m,
            Message::Create(m) => m,
            Message::Measure(m) => m,
            Message::Install(m) => m,
            Message::UpdateFields(m) => m,
            Message::ChangeProg(m) => m,
            Message::Hello(m) => m,
        }
    }
}

impl Encode for Message {
    fn encoded_len(&self) -> Result<usize, EncodeError> {
        self.as_encode().encoded_len()
    }

    fn encode_to_slice(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        self.as_encode().encode_to_slice(out)
    }
}

macro_rules! from_msg {
    ($($v:ident),*) => {$(
        impl From<$v> for Message {
            fn from(m: $v) -> Message {
                Message::$v(m)
            }
        }
    )*};
}
from_msg!(
    Ready,
    Create,
    Measure,
    Install,
    UpdateFields,
    ChangeProg,
    Hello
);

/// Any CCP message as a checked, zero-copy view over the received bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageView<'a> {
    /// READY.
    Ready(ReadyView<'a>),
    /// CREATE.
    Create(CreateView<'a>),
    /// MEASURE.
    Measure(MeasureView<'a>),
    /// INSTALL.
    Install(InstallView<'a>),
    /// UPDATE_FIELDS.
    UpdateFields(UpdateFieldsView<'a>),
    /// CHANGE_PROG.
    ChangeProg(ChangeProgView<'a>),
    /// HELLO.
    Hello(HelloView<'a>),
}

impl<'a> MessageView<'a> {
    /// Check and view the message at the start of `buf`.
    ///
    /// The header is checked in libccp's order (type → `len` vs buffer → `len` vs
    /// maximum), then the body by its counts. No allocation.
    pub fn parse(buf: &'a [u8], opts: &ParseOptions) -> Result<MessageView<'a>, ParseError> {
        let (hv, t) = check_header(buf, opts, None)?;
        MessageView::from_header(&hv, t, opts)
    }

    fn from_header(
        hv: &HeaderView<'a>,
        t: MsgType,
        opts: &ParseOptions,
    ) -> Result<MessageView<'a>, ParseError> {
        Ok(match t {
            MsgType::Ready => MessageView::Ready(ReadyView::from_header(hv, opts)?),
            MsgType::Create => MessageView::Create(CreateView::from_header(hv, opts)?),
            MsgType::Measure => MessageView::Measure(MeasureView::from_header(hv, opts)?),
            MsgType::Install => MessageView::Install(InstallView::from_header(hv, opts)?),
            MsgType::UpdateFields => {
                MessageView::UpdateFields(UpdateFieldsView::from_header(hv, opts)?)
            }
            MsgType::ChangeProg => MessageView::ChangeProg(ChangeProgView::from_header(hv, opts)?),
            MsgType::Hello => MessageView::Hello(HelloView::from_header(hv, opts)?),
        })
    }

    /// The message type.
    pub fn msg_type(&self) -> MsgType {
        match self {
            MessageView::Ready(_) => MsgType::Ready,
            MessageView::Create(_) => MsgType::Create,
            MessageView::Measure(_) => MsgType::Measure,
            MessageView::Install(_) => MsgType::Install,
            MessageView::UpdateFields(_) => MsgType::UpdateFields,
            MessageView::ChangeProg(_) => MsgType::ChangeProg,
            MessageView::Hello(_) => MsgType::Hello,
        }
    }

    /// The owned message.
    pub fn to_message(&self) -> Message {
        match self {
            MessageView::Ready(v) => Message::Ready(v.to_ready()),
            MessageView::Create(v) => Message::Create(v.to_create()),
            MessageView::Measure(v) => Message::Measure(v.to_measure()),
            MessageView::Install(v) => Message::Install(v.to_install()),
            MessageView::UpdateFields(v) => Message::UpdateFields(v.to_update_fields()),
            MessageView::ChangeProg(v) => Message::ChangeProg(v.to_change_prog()),
            MessageView::Hello(v) => Message::Hello(v.to_hello()),
        }
    }
}

/// Iterates over several messages concatenated in one buffer (the character-device
/// transport packs whole messages into one read), delimiting each by its header `len`.
///
/// Each item is the result of parsing one frame (`len` bytes) with the given options, so
/// a bad message (unknown type, inconsistent counts, …) yields an `Err` and the splitter
/// moves on to the next frame. A bad *header* (fewer than 8 bytes left, `len` < 8 or
/// `len` beyond the remaining bytes) makes framing impossible: the splitter yields that
/// error once and stops; [`Splitter::remainder`] then returns the unconsumed bytes.
#[derive(Clone, Debug)]
pub struct Splitter<'a> {
    rest: &'a [u8],
    opts: ParseOptions,
    stopped: bool,
}

impl<'a> Splitter<'a> {
    /// Split `buf`, parsing each frame with `opts`.
    pub fn new(buf: &'a [u8], opts: ParseOptions) -> Splitter<'a> {
        Splitter {
            rest: buf,
            opts,
            stopped: false,
        }
    }

    /// Bytes not consumed yet (after a bad header: the bytes from that header on).
    pub fn remainder(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for Splitter<'a> {
    type Item = Result<MessageView<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.stopped || self.rest.is_empty() {
            return None;
        }
        let hv = match HeaderView::new(self.rest) {
            Ok(hv) => hv,
            Err(e) => {
                debug!(error = %e, remaining = self.rest.len(), "splitter: bad header, stopping");
                self.stopped = true;
                return Some(Err(e));
            }
        };
        let frame = hv.frame();
        self.rest = self.rest.get(frame.len()..).unwrap_or(&[]);
        Some(MessageView::parse(frame, &self.opts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::UpdateField;

    fn samples() -> Vec<Message> {
        vec![
            Ready { id: 7 }.into(),
            Create {
                sid: 2,
                init_cwnd: 14600,
                mss: 1460,
                cong_alg: Some("reno".into()),
                ..Create::default()
            }
            .into(),
            Measure {
                sid: 2,
                program_uid: 3,
                fields: vec![1, 2, 3],
            }
            .into(),
            Measure::close(2).into(),
            UpdateFields {
                sid: 2,
                updates: vec![UpdateField::cwnd(100), UpdateField::rate(5)],
            }
            .into(),
            ChangeProg {
                sid: 2,
                program_uid: 4,
                updates: vec![],
            }
            .into(),
            Hello::new(
                crate::hello::Role::Agent,
                "x",
                crate::hello::ImplVersion::default(),
            )
            .into(),
        ]
    }

    #[test]
    fn dispatch_roundtrip() {
        for m in samples() {
            let b = m.encode().unwrap();
            assert_eq!(Message::parse(&b), Ok(m.clone()));
            assert_eq!(
                MessageView::parse(&b, &ParseOptions::LENIENT)
                    .unwrap()
                    .msg_type(),
                m.msg_type()
            );
        }
    }

    #[test]
    fn accept_policies() {
        let create = samples()[1].encode().unwrap();
        let e = Message::parse_with(&create, &ParseOptions::DATAPATH).unwrap_err();
        assert_eq!(e.libccp_code(), -32);
        assert!(Message::parse_with(&create, &ParseOptions::AGENT).is_ok());
        let upd = samples()[4].encode().unwrap();
        assert!(Message::parse_with(&upd, &ParseOptions::AGENT).is_err());
        assert!(Message::parse_with(&upd, &ParseOptions::DATAPATH).is_ok());
        let hello = samples()[6].encode().unwrap();
        assert!(Message::parse_with(&hello, &ParseOptions::AGENT).is_ok());
        assert!(Message::parse_with(&hello, &ParseOptions::DATAPATH).is_ok());
    }

    #[test]
    fn check_order_matches_libccp() {
        // Unknown type is reported before a len problem (libccp: −32 before −22).
        let b = [9, 0, 200, 0, 0, 0, 0, 0];
        assert_eq!(
            Message::parse(&b),
            Err(ParseError::UnknownType { msg_type: 9 })
        );
        // len > buffer (−22) before len > max (−23).
        let mut b = vec![2u8, 0, 0xff, 0x7f, 0, 0, 0, 0];
        assert_eq!(
            Message::parse_with(&b, &ParseOptions::DATAPATH)
                .unwrap_err()
                .libccp_code(),
            -22
        );
        b.resize(0x7fff, 0);
        assert_eq!(
            Message::parse_with(&b, &ParseOptions::DATAPATH)
                .unwrap_err()
                .libccp_code(),
            -23
        );
        // A 0x0102 type is unknown to us (portus would truncate it to 2).
        let b = [2, 1, 8, 0, 0, 0, 0, 0];
        assert_eq!(
            Message::parse(&b),
            Err(ParseError::UnknownType { msg_type: 0x0102 })
        );
    }

    #[test]
    fn splitter_walks_and_stops_cleanly() {
        let ms = samples();
        let mut buf = Vec::new();
        for m in &ms {
            m.encode_into(&mut buf).unwrap();
        }
        // An unknown-type frame in the middle is reported and skipped.
        buf.extend_from_slice(&[0x99, 0, 10, 0, 0, 0, 0, 0, 1, 2]);
        Ready { id: 8 }.encode_into(&mut buf).unwrap();
        // A trailing partial message: bad header, stop.
        buf.extend_from_slice(&[1, 0, 24, 0, 1, 0]);
        let mut it = Splitter::new(&buf, ParseOptions::STRICT);
        for m in &ms {
            assert_eq!(it.next().unwrap().unwrap().to_message(), *m);
        }
        assert_eq!(
            it.next(),
            Some(Err(ParseError::UnknownType { msg_type: 0x99 }))
        );
        assert_eq!(
            it.next().unwrap().unwrap().to_message(),
            Message::Ready(Ready { id: 8 })
        );
        assert_eq!(it.next(), Some(Err(ParseError::ShortHeader { actual: 6 })));
        assert_eq!(it.next(), None);
        assert_eq!(it.remainder(), &[1, 0, 24, 0, 1, 0]);
    }

    #[test]
    fn splitter_does_not_let_counts_cross_frames() {
        // A MEASURE whose count claims 2 fields but whose len covers 1, followed by
        // another message: lenient parsing stays within the frame.
        let mut buf = Measure {
            sid: 1,
            program_uid: 1,
            fields: vec![5],
        }
        .encode()
        .unwrap();
        buf[12] = 2;
        Ready { id: 1 }.encode_into(&mut buf).unwrap();
        let items: Vec<_> = Splitter::new(&buf, ParseOptions::LENIENT).collect();
        assert_eq!(items.len(), 2);
        assert!(matches!(items[0], Err(ParseError::Truncated { .. })));
        assert!(items[1].is_ok());
    }
}
