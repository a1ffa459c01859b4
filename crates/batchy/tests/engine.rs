//! FB-1, FB-2 (fractional buffer), RTC-1 (fragmentation and merging), PROF-1.

use std::sync::Arc;

use batchy::engine::{ClockMode, Engine, Node, Worker};
use batchy::fbuf::{FractionalBuffer, Trigger};
use batchy::modules::{EmRule, FieldSpec, ModuleKind, Sink, Source, SourceFlow};
use batchy::packet::{Batch, Packet, Template, off};
use proptest::prelude::*;

fn pkts(range: std::ops::Range<u64>) -> Batch {
    range
        .map(|i| {
            let mut p = Packet::from_bytes(&[0u8; 60]);
            p.meta.ts = i;
            p
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// FB-1: every emitted batch has exactly q packets, FIFO order, occupancy < q,
    /// packets in = packets out + occupancy.
    #[test]
    fn fb1_exact_batches_fifo_conservation(q in 1u32..=32, sizes in prop::collection::vec(1usize..=32, 1..60)) {
        let trig = Arc::new(Trigger::default());
        trig.set(q).unwrap();
        let mut fb = FractionalBuffer::new(trig);
        let mut next_in = 0u64;
        let mut next_out = 0u64;
        for n in sizes {
            let batch = pkts(next_in..next_in + n as u64);
            next_in += n as u64;
            let mut emitted = Vec::new();
            fb.push_batch(batch, |b| emitted.push(b));
            for b in emitted {
                prop_assert_eq!(b.len(), q as usize);
                for p in b {
                    prop_assert_eq!(p.meta.ts, next_out);
                    next_out += 1;
                }
            }
            prop_assert!(fb.occupancy() < q as usize);
            prop_assert_eq!(next_in, next_out + fb.occupancy() as u64);
        }
    }
}

#[test]
fn fb2_flush_on_zero_and_on_shrink() {
    let trig = Arc::new(Trigger::default());
    trig.set(20).unwrap();
    let mut fb = FractionalBuffer::new(trig.clone());
    let mut out = Vec::new();
    fb.push_batch(pkts(0..12), |b| out.push(b));
    assert!(out.is_empty());
    assert_eq!(fb.occupancy(), 12);
    // q -> 0 with residue: residue first, then the incoming batch unchanged.
    trig.set(0).unwrap();
    fb.push_batch(pkts(12..17), |b| out.push(b));
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[0].iter().map(|p| p.meta.ts).collect::<Vec<_>>(),
        (0..12).collect::<Vec<_>>()
    );
    assert_eq!(
        out[1].iter().map(|p| p.meta.ts).collect::<Vec<_>>(),
        (12..17).collect::<Vec<_>>()
    );
    assert_eq!(fb.occupancy(), 0);
    // q lowered below occupancy: old content as one batch, then re-batch with new q.
    out.clear();
    trig.set(30).unwrap();
    fb.push_batch(pkts(100..125), |b| out.push(b));
    assert!(out.is_empty());
    trig.set(10).unwrap();
    fb.push_batch(pkts(125..147), |b| out.push(b));
    let sizes: Vec<usize> = out.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![25, 10, 10]);
    assert_eq!(fb.occupancy(), 2);
    assert_eq!(out[0][0].meta.ts, 100);
    assert_eq!(out[1][0].meta.ts, 125);
    assert!(trig.set(33).is_err());
}

/// RTC-1: a 32-packet batch through a k-way split gives k batches at the next stage;
/// the k branches merging into one igate are merged into one batch (sum ≤ 32).
#[test]
fn rtc1_fragmentation_and_merge() {
    for k in [2usize, 4, 8] {
        let templates: Vec<Vec<u8>> = (0..k)
            .map(|i| {
                Template {
                    dst_ip: [10, 0, 0, i as u8],
                    ..Template::default()
                }
                .build()
            })
            .collect();
        let src = Source::new(
            &[SourceFlow {
                flow: 0,
                templates,
                weight: 1,
                burst: 4,
            }],
            32,
            1,
        )
        .unwrap();
        let em = ModuleKind::ExactMatch {
            fields: vec![FieldSpec {
                offset: off::IP_DST,
                size: 4,
            }],
            rules: (0..k)
                .map(|i| EmRule {
                    values: vec![0x0a00_0000 + i as u64],
                    gate: i,
                })
                .collect(),
            default_gate: None,
        };
        let mut w = Worker::new("w".into(), 1, 2.5, 0.0);
        w.nodes
            .push(Node::new("src".into(), Box::new(src), 1, (0.0, 0.0)));
        w.nodes.push(Node::new(
            "em".into(),
            em.instantiate().unwrap(),
            1,
            (0.0, 0.0),
        ));
        for i in 0..k {
            let nf = ModuleKind::Bypass {
                cycles_per_batch: 0.0,
                cycles_per_packet: 0.0,
            };
            w.nodes.push(Node::new(
                format!("nf{i}"),
                nf.instantiate().unwrap(),
                1,
                (0.0, 0.0),
            ));
        }
        let merge = k + 2;
        w.nodes.push(Node::new(
            "merge".into(),
            ModuleKind::Merge {}.instantiate().unwrap(),
            1,
            (0.0, 0.0),
        ));
        w.nodes
            .push(Node::new("sink".into(), Box::new(Sink), 1, (0.0, 0.0)));
        w.nodes[0].ogates = vec![Some((1, 0))];
        w.nodes[1].indeg[0] = 1;
        w.nodes[1].ogates = (0..k).map(|i| Some((2 + i, 0))).collect();
        for i in 0..k {
            w.nodes[2 + i].indeg[0] = 1;
            w.nodes[2 + i].ogates = vec![Some((merge, 0))];
        }
        w.nodes[merge].indeg[0] = k as u32;
        w.nodes[merge].ogates = vec![Some((merge + 1, 0))];
        w.nodes[merge + 1].indeg[0] = 1;
        for (i, n) in w.nodes.iter_mut().enumerate() {
            n.prio = i as u32;
        }
        w.add_task("t".into(), 0, None, Vec::new());
        let mut e = Engine::new(vec![w], ClockMode::Virtual);
        assert_eq!(e.workers[0].step(None), Some(32));
        let snap = |e: &Engine, n: usize| e.workers[0].nodes[n].counters[0].snapshot();
        assert_eq!(snap(&e, 1).batches, 1);
        let mut total = 0;
        for i in 0..k {
            let s = snap(&e, 2 + i);
            assert_eq!(s.batches, 1, "k={k}: branch {i} got {} batches", s.batches);
            total += s.packets;
        }
        assert_eq!(total, 32);
        let m = snap(&e, merge);
        assert_eq!((m.batches, m.packets), (1, 32), "k={k}: merge");
        e.advance_virtual(1000);
    }
}

/// PROF-1: profiling Bypass(c0, c1) recovers T0 ≈ c0/f, T1 ≈ c1/f (virtual clock).
#[test]
fn prof1_bypass_regression() {
    let e = batchy::profiler::profile_class("Bypass", ClockMode::Virtual, 2.5, 10).unwrap();
    assert!((e.t0 - 400.0).abs() <= 40.0, "T0 = {}", e.t0);
    assert!((e.t1 - 40.0).abs() <= 4.0, "T1 = {}", e.t1);
    assert!(e.r2 >= 0.98);
    assert_eq!(e.points.len(), 32);
    let all = batchy::profiler::profile(&[], ClockMode::Virtual, 2.5, 10).unwrap();
    assert_eq!(all.len(), batchy::pipelines::PROFILE_CLASSES.len());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("prof.json");
    batchy::profiler::write_json(&all, &p).unwrap();
    let back = batchy::profiler::read_json(&p).unwrap();
    assert_eq!(back.len(), all.len(), "every module kept in the JSON");
    assert_eq!(back["IPLookup"], (68.5, 27.5));
    assert!(batchy::profiler::profile_class("Nope", ClockMode::Virtual, 2.5, 1).is_err());
}

/// FB-1 stress: a million random arrivals with random trigger changes; conservation and
/// FIFO order always hold, and between changes every batch has exactly q packets.
#[test]
#[ignore = "stress: run with --ignored"]
fn fb_stress_million_arrivals() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let trig = Arc::new(Trigger::default());
    let mut fb = FractionalBuffer::new(trig.clone());
    let (mut next_in, mut next_out) = (0u64, 0u64);
    let mut q = 0u32;
    let mut changed = true;
    for _ in 0..1_000_000 {
        if rng.random_range(0..100) == 0 {
            q = rng.random_range(0..=32);
            trig.set(q).unwrap();
            changed = true;
        }
        let n = rng.random_range(1..=32u64);
        let mut emitted = Vec::new();
        fb.push_batch(pkts(next_in..next_in + n), |b| emitted.push(b));
        next_in += n;
        for (i, b) in emitted.iter().enumerate() {
            if q > 0 && !(changed && i == 0) {
                assert_eq!(b.len(), q as usize);
            }
            for p in b {
                assert_eq!(p.meta.ts, next_out);
                next_out += 1;
            }
        }
        changed = false;
        assert_eq!(next_in, next_out + fb.occupancy() as u64);
    }
}
