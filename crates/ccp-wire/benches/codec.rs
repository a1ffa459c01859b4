//! Hot-path costs of the codec: agent MEASURE parse (view vs owned), datapath MEASURE
//! emit, agent UPDATE_FIELDS emit, datapath INSTALL / UPDATE_FIELDS parse.
//!
//! Run: `cargo bench -p ccp-wire --bench codec`.

// `criterion_group!` generates undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;

use ccp_wire::{
    Bin, Encode, Event, Install, Instr, Measure, MeasureView, Message, MessageView, Op, Operand,
    ParseOptions, RegKind, UpdateField, encode_measure_into, encode_update_fields_into,
};
use criterion::{Criterion, criterion_group, criterion_main};

fn program(n: u32) -> Install {
    let r = |i| Operand::new(RegKind::VolatileReport, i);
    let mut instrs: Vec<Instr> = (0..n)
        .map(|i| Instr {
            op: Op::Def,
            result: r(i),
            left: r(i),
            right: Operand::imm(0),
        })
        .collect();
    instrs.extend((0..n).map(|i| Instr {
        op: Op::Add,
        result: r(i),
        left: r(i),
        right: Operand::new(RegKind::Primitive, i % 15),
    }));
    Install {
        sid: 0,
        program_uid: 3,
        bin: Bin {
            events: vec![Event {
                cond_start: n,
                cond_len: 0,
                body_start: n,
                body_len: n,
            }],
            instrs,
        },
    }
}

fn bench(c: &mut Criterion) {
    for n in [6usize, 16] {
        let fields: Vec<u64> = (0..n as u64).map(|i| i * 1000 + 7).collect();
        let bytes = Measure {
            sid: 1,
            program_uid: 2,
            fields: fields.clone(),
        }
        .encode()
        .expect("encodable");
        c.bench_function(
            &format!("agent: MEASURE {n} fields, view parse + sum"),
            |b| {
                b.iter(|| {
                    let v =
                        MeasureView::parse(black_box(&bytes), &ParseOptions::AGENT).expect("valid");
                    black_box(v.fields().sum::<u64>())
                })
            },
        );
        c.bench_function(&format!("agent: MEASURE {n} fields, owned parse"), |b| {
            b.iter(|| black_box(Message::parse_with(black_box(&bytes), &ParseOptions::AGENT)))
        });
        let mut out = Vec::with_capacity(1024);
        c.bench_function(
            &format!("datapath: MEASURE {n} fields, emit into Vec"),
            |b| {
                b.iter(|| {
                    out.clear();
                    black_box(encode_measure_into(1, 2, black_box(&fields), &mut out))
                })
            },
        );
    }
    let updates = [UpdateField::cwnd(14_600), UpdateField::rate(1_250_000)];
    let mut out = Vec::with_capacity(64);
    c.bench_function("agent: UPDATE_FIELDS 2 records, emit into Vec", |b| {
        b.iter(|| {
            out.clear();
            black_box(encode_update_fields_into(1, black_box(&updates), &mut out))
        })
    });
    let upd = out.clone();
    c.bench_function("datapath: UPDATE_FIELDS 2 records, view parse", |b| {
        b.iter(
            || match MessageView::parse(black_box(&upd), &ParseOptions::DATAPATH) {
                Ok(MessageView::UpdateFields(v)) => black_box(v.updates().count()),
                _ => 0,
            },
        )
    });
    let install = program(40).encode().expect("encodable");
    c.bench_function("datapath: INSTALL 80 instructions, view parse", |b| {
        b.iter(|| {
            black_box(MessageView::parse(
                black_box(&install),
                &ParseOptions::DATAPATH,
            ))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
