//! Parser/compiler robustness: arbitrary input never panics, errors always carry a
//! valid position, and whatever compiles is a well-formed program.

use ccp_lang::bytecode::{Op, RegKind};
use ccp_lang::{CompiledProgram, compile};
use proptest::prelude::*;

const SEED_PROGRAM: &str =
    "(def (Report (volatile acked 0) (volatile t false) (m +infinity)) (ctl 3))
# every ACK
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.m (if (< Flow.rtt_sample_us Report.m) Flow.rtt_sample_us))
    (:= Report.t (|| Report.t Flow.was_timeout))
    (:= ctl (ewma 2 Flow.rate_outgoing))
    (:= loc (max Ack.now 1))
    (fallthrough)
)
(when (&& (> Micros ctl) (== 1 1))
    (:= Micros 0)
    (report)
)
";

/// Structural invariants of any program the compiler accepts.
fn check_program(p: &CompiledProgram) {
    assert!(p.bin.validate().is_ok());
    assert!(p.bin.instrs.len() <= 255);
    let ndefs = p.bin.instrs.iter().take_while(|i| i.op == Op::Def).count();
    assert!(p.bin.instrs[ndefs..].iter().all(|i| i.op != Op::Def));
    for e in &p.bin.events {
        assert!(e.cond_len >= 1);
        assert!(e.cond_start as usize >= ndefs);
        assert_eq!(e.body_start, e.cond_start + e.cond_len);
    }
    for i in &p.bin.instrs {
        assert!(i.result.kind.is_writable());
        for o in [i.result, i.left, i.right] {
            match o.kind {
                RegKind::Tmp => assert!(o.value < 8),
                RegKind::Local => assert!(o.value < 6),
                RegKind::Report
                | RegKind::VolatileReport
                | RegKind::Control
                | RegKind::VolatileControl => assert!(o.value < 16),
                RegKind::Implicit => assert!(o.value < 6),
                RegKind::Primitive => assert!(o.value < 15),
                RegKind::Immediate => assert!(o.value < 1 << 31 || o.value == u32::MAX),
            }
        }
        // Encoding round-trips.
        assert_eq!(ccp_lang::bytecode::Instr::decode(&i.encode()), Ok(*i));
    }
}

fn run(src: &str) {
    match compile(src, 1) {
        Ok(p) => {
            check_program(&p);
            let again = compile(src, 1).expect("deterministic");
            assert_eq!(again, p);
            let _ = ccp_lang::listing::listing(&p);
        }
        Err(e) => {
            assert!(e.line >= 1 && e.col >= 1);
            assert!(e.span.start <= src.len());
            let shown = e.to_string();
            assert!(shown.starts_with(&format!("{}:{}: ", e.line, e.col)));
            assert!(shown.contains('^'));
        }
    }
}

const VOCAB: &[&str] = &[
    "(",
    ")",
    "(",
    ")",
    "def",
    "when",
    "Report",
    "volatile",
    "true",
    "false",
    "+infinity",
    "0",
    "7",
    "2147483648",
    "99999999999999999999",
    "x",
    "y",
    "Report.x",
    "Report.y",
    "Cwnd",
    "Rate",
    "Micros",
    "Flow.was_timeout",
    "Ack.bytes_acked",
    "__x",
    ":=",
    "bind",
    "+",
    "-",
    "*",
    "/",
    "&&",
    "||",
    "==",
    ">",
    "<",
    "if",
    "!if",
    "ewma",
    "max",
    "min",
    "wrapped_max",
    "report",
    "fallthrough",
    "reset",
    "# c\n",
    "\n",
    "1x",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,200}") {
        run(&s);
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        run(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn token_soup_never_panics(words in proptest::collection::vec(0..VOCAB.len(), 0..80)) {
        let src: Vec<&str> = words.iter().map(|&i| VOCAB[i]).collect();
        run(&src.join(" "));
    }

    #[test]
    fn mutated_programs_never_panic(
        edits in proptest::collection::vec((0..SEED_PROGRAM.len(), 0..VOCAB.len(), 0..3u8), 1..6)
    ) {
        let mut src = SEED_PROGRAM.to_string();
        for (pos, word, kind) in edits {
            let mut pos = pos.min(src.len());
            while !src.is_char_boundary(pos) {
                pos -= 1;
            }
            match kind {
                0 => src.insert_str(pos, VOCAB[word]),
                1 => {
                    let end = (pos + 3).min(src.len());
                    if src.is_char_boundary(end) {
                        src.replace_range(pos..end, "");
                    }
                }
                _ => {
                    let end = (pos + 1).min(src.len());
                    if src.is_char_boundary(end) {
                        src.replace_range(pos..end, VOCAB[word]);
                    }
                }
            }
        }
        run(&src);
    }
}

#[test]
fn seed_program_compiles() {
    let p = compile(SEED_PROGRAM, 1).unwrap();
    check_program(&p);
    assert_eq!(p.bin.events.len(), 2);
}

/// splitmix64, for the deterministic stress run.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
#[ignore = "stress: run with --ignored"]
fn stress_one_million_inputs() {
    let mut state = 42u64;
    let (mut ok, mut rejected) = (0u64, 0u64);
    for i in 0..1_000_000u64 {
        let src = if i % 2 == 0 {
            let n = next(&mut state) % 80;
            (0..n)
                .map(|_| VOCAB[(next(&mut state) % VOCAB.len() as u64) as usize])
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            let mut src = SEED_PROGRAM.to_string();
            for _ in 0..1 + next(&mut state) % 4 {
                let mut pos = (next(&mut state) % (src.len() as u64 + 1)) as usize;
                while !src.is_char_boundary(pos) {
                    pos -= 1;
                }
                let word = VOCAB[(next(&mut state) % VOCAB.len() as u64) as usize];
                if next(&mut state) % 2 == 0 {
                    src.insert_str(pos, word);
                } else {
                    let end = (pos + 2).min(src.len());
                    if src.is_char_boundary(end) {
                        src.replace_range(pos..end, "");
                    }
                }
            }
            src
        };
        run(&src);
        if compile(&src, 1).is_ok() {
            ok += 1;
        } else {
            rejected += 1;
        }
    }
    println!(
        "stress: {} inputs, {ok} compiled, {rejected} rejected",
        ok + rejected
    );
    assert_eq!(ok + rejected, 1_000_000);
}
