//! Property tests: emit → parse identity for every message type, prefix rejection,
//! lenient-mode buffer bounds, and robustness against random and mutated input.

mod common;

use ccp_wire::{
    ChangeProg, Create, Encode, HEADER_LEN, Hello, Install, LenMode, MAX_UPDATES, Measure, Message,
    MessageView, ParseOptions, Ready, Splitter, UpdateFields,
};
use common::*;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{TestCaseError, TestRunner};

fn typed_parse(m: &Message, b: &[u8], opts: &ParseOptions) -> Result<bool, TestCaseError> {
    Ok(match m {
        Message::Ready(x) => Ready::parse_with(b, opts).as_ref() == Ok(x),
        Message::Create(x) => Create::parse_with(b, opts).as_ref() == Ok(x),
        Message::Measure(x) => Measure::parse_with(b, opts).as_ref() == Ok(x),
        Message::Install(x) => Install::parse_with(b, opts).as_ref() == Ok(x),
        Message::UpdateFields(x) => UpdateFields::parse_with(b, opts).as_ref() == Ok(x),
        Message::ChangeProg(x) => ChangeProg::parse_with(b, opts).as_ref() == Ok(x),
        Message::Hello(x) => Hello::parse_with(b, opts).as_ref() == Ok(x),
    })
}

/// Everything the parsers may do with hostile bytes: return errors with a libccp code,
/// or views whose accessors work; never panic. Strict successes of the messages that
/// have a canonical encoding must re-encode to exactly the parsed frame.
fn check_hostile(b: &[u8]) -> Result<(), TestCaseError> {
    for opts in ALL_OPTS {
        match MessageView::parse(b, &opts) {
            Ok(v) => {
                let msg = v.to_message();
                let len = u16::from_le_bytes([b[2], b[3]]) as usize;
                prop_assert!(len >= HEADER_LEN && len <= b.len());
                prop_assert!(opts.accept.allows(msg.msg_type()));
                if opts.len_mode == LenMode::Strict {
                    let canonical = match &msg {
                        Message::Measure(_) | Message::Install(_) | Message::UpdateFields(_) => {
                            true
                        }
                        Message::ChangeProg(c) => c.updates.len() <= MAX_UPDATES,
                        _ => false,
                    };
                    if canonical {
                        let again = msg.encode().ok();
                        prop_assert_eq!(again.as_deref(), Some(&b[..len]));
                    }
                }
                // Typed parsers agree with the dispatcher.
                prop_assert!(typed_parse(&msg, b, &opts)?);
            }
            Err(e) => {
                let code = e.libccp_code();
                prop_assert!((-101..0).contains(&code), "code {code} for {e}");
                prop_assert!(!e.to_string().is_empty());
            }
        }
        // The splitter makes progress (every frame is ≥ 8 bytes) and never panics.
        let mut frames = 0usize;
        for item in Splitter::new(b, opts) {
            frames += 1;
            prop_assert!(frames <= b.len() / HEADER_LEN + 1);
            match item {
                Ok(v) => prop_assert!(opts.accept.allows(v.to_message().msg_type())),
                Err(e) => prop_assert!(e.libccp_code() < 0),
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(400, 0x00c0_ffee_0001))]

    #[test]
    fn emit_then_parse_is_identity(m in arb_message()) {
        let b = m.encode().unwrap();
        prop_assert_eq!(b.len(), m.encoded_len().unwrap());
        prop_assert_eq!(u16::from_le_bytes([b[0], b[1]]), m.msg_type().id());
        prop_assert_eq!(u16::from_le_bytes([b[2], b[3]]) as usize, b.len());
        for opts in [ParseOptions::STRICT, ParseOptions::LENIENT] {
            prop_assert_eq!(&Message::parse_with(&b, &opts).unwrap(), &m);
            prop_assert!(typed_parse(&m, &b, &opts)?);
        }
        // Each side accepts exactly the types it receives.
        let t = m.msg_type();
        prop_assert_eq!(Message::parse_with(&b, &ParseOptions::AGENT).is_ok(), t.is_agent_bound());
        prop_assert_eq!(
            Message::parse_with(&b, &ParseOptions::DATAPATH).is_ok(),
            t.is_datapath_bound()
        );
        // The three encoders agree.
        let mut big = vec![0xaa; b.len() + 7];
        let n = m.encode_to_slice(&mut big).unwrap();
        prop_assert_eq!(&big[..n], &b[..]);
        let mut v = vec![1, 2, 3];
        prop_assert_eq!(m.encode_into(&mut v).unwrap(), b.len());
        prop_assert_eq!(&v[3..], &b[..]);
        let mut small = vec![0; b.len() - 1];
        prop_assert!(m.encode_to_slice(&mut small).is_err());
    }

    #[test]
    fn every_proper_prefix_is_rejected(m in arb_message()) {
        let b = m.encode().unwrap();
        for k in 0..b.len() {
            for opts in ALL_OPTS {
                prop_assert!(MessageView::parse(&b[..k], &opts).is_err(), "prefix {}", k);
            }
        }
    }

    #[test]
    fn lenient_parses_by_counts_but_never_past_the_buffer(
        m in arb_message(),
        cut in any::<Index>(),
        len in any::<Index>(),
    ) {
        let mut b = m.encode().unwrap();
        // A header len anywhere in 8..=k, with the buffer cut at k < full size.
        let k = HEADER_LEN + cut.index(b.len() - HEADER_LEN);
        let l = HEADER_LEN + len.index(k - HEADER_LEN + 1);
        b[2..4].copy_from_slice(&(l as u16).to_le_bytes());
        prop_assert!(MessageView::parse(&b[..k], &ParseOptions::LENIENT).is_err());
        // With the whole buffer the counts are satisfied: lenient parses the original
        // message, strict refuses the inconsistent len.
        prop_assert_eq!(Message::parse_with(&b, &ParseOptions::LENIENT).unwrap(), m);
        prop_assert!(Message::parse(&b).is_err());
    }

    #[test]
    fn concatenated_messages_split_back(ms in prop::collection::vec(arb_message(), 0..6)) {
        let mut buf = Vec::new();
        for m in &ms {
            m.encode_into(&mut buf).unwrap();
        }
        let back: Vec<Message> = Splitter::new(&buf, ParseOptions::STRICT)
            .map(|r| r.map(|v| v.to_message()))
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert_eq!(back, ms);
    }

    #[test]
    fn hostile_input_never_panics(b in arb_hostile_input()) {
        check_hostile(&b)?;
    }
}

/// ≥ 1,000,000 random and mutated inputs through every parser and option set.
#[test]
#[ignore = "stress: run with --ignored (about 20 s in release)"]
fn stress_hostile_input_million() {
    const CASES: u32 = 1_000_000;
    let start = std::time::Instant::now();
    let mut runner = TestRunner::new(config(CASES, 0x5747_e550));
    let count = std::sync::atomic::AtomicU64::new(0);
    let result = runner.run(&arb_hostile_input(), |b| {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        check_hostile(&b)
    });
    let count = count.into_inner();
    println!(
        "stress: {count} hostile inputs × {} option sets in {:.1?}",
        ALL_OPTS.len(),
        start.elapsed()
    );
    result.unwrap();
    assert!(count >= CASES as u64);
}
