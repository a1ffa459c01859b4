//! Module library behaviour over real packet bytes.

use batchy::module::{Ctx, Now, Out};
use batchy::modules::{AclRuleSpec, ModuleKind, NatPairSpec, RouteSpec, UpdateField};
use batchy::packet::{Batch, Packet, Template, ipv4_checksum, off};
use rand::SeedableRng;

fn run(kind: &ModuleKind, batch: Batch) -> Vec<(usize, Batch)> {
    let mut m = kind.instantiate().unwrap();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let mut ctx = Ctx {
        now: Now::Virtual(1000),
        rng: &mut rng,
        tsc_ghz: 2.5,
    };
    let mut out = Out::new();
    m.process(&mut ctx, 0, batch, &mut out);
    let mut v = Vec::new();
    out.drain(|g, b| v.push((g, b)));
    v
}

fn pkt(t: Template) -> Packet {
    Packet::from_bytes(&t.build())
}

fn csum_ok(p: &Packet, ip: usize) -> bool {
    let h = &p.bytes()[ip..ip + 20];
    u16::from_be_bytes([h[10], h[11]]) == ipv4_checksum(h)
}

#[test]
fn ttl_update_checksum() {
    let mut low = pkt(Template::default());
    low.write_be(off::IP_TTL, 1, 1);
    let out = run(
        &ModuleKind::UpdateTTL {},
        vec![pkt(Template::default()), low],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.len(), 1, "TTL 1 is dropped");
    let p = &out[0].1[0];
    assert_eq!(p.read_be(off::IP_TTL, 1), Some(63));
    assert!(!csum_ok(p, off::IP));
    let out = run(
        &ModuleKind::Update {
            fields: vec![UpdateField {
                offset: 0,
                size: 6,
                value: 0xaabb_ccdd_eeff,
            }],
        },
        out[0].1.clone(),
    );
    assert_eq!(out[0].1[0].read_be(0, 6), Some(0xaabb_ccdd_eeff));
    let out = run(&ModuleKind::IPChecksum {}, out[0].1.clone());
    assert!(csum_ok(&out[0].1[0], off::IP));
}

#[test]
fn lpm_takes_longest_prefix_and_acl_first_match() {
    let kind = ModuleKind::IPLookup {
        routes: vec![
            RouteSpec {
                prefix: "10.0.0.0/8".into(),
                gate: 0,
            },
            RouteSpec {
                prefix: "10.0.1.0/24".into(),
                gate: 1,
            },
            RouteSpec {
                prefix: "10.0.1.7/32".into(),
                gate: 2,
            },
        ],
        default_gate: None,
    };
    let mk = |d: [u8; 4]| {
        pkt(Template {
            dst_ip: d,
            ..Template::default()
        })
    };
    let out = run(
        &kind,
        vec![
            mk([10, 9, 9, 9]),
            mk([10, 0, 1, 1]),
            mk([10, 0, 1, 7]),
            mk([11, 0, 0, 1]),
        ],
    );
    let gates: Vec<(usize, usize)> = out.iter().map(|(g, b)| (*g, b.len())).collect();
    assert_eq!(
        gates,
        vec![(0, 1), (1, 1), (2, 1)],
        "miss without default is dropped"
    );
    let acl = ModuleKind::ACL {
        rules: vec![
            AclRuleSpec {
                src_ip: Some("10.0.0.1/32".into()),
                dport: Some([2000, 2000]),
                drop: true,
                ..Default::default()
            },
            AclRuleSpec {
                dst_ip: Some("10.0.0.0/8".into()),
                ..Default::default()
            },
        ],
    };
    let out = run(
        &acl,
        vec![
            mk([10, 0, 1, 1]),
            pkt(Template {
                src_ip: [10, 0, 0, 2],
                ..Template::default()
            }),
        ],
    );
    assert_eq!(out.iter().map(|(_, b)| b.len()).sum::<usize>(), 1);
    assert_eq!(out[0].1[0].read_be(off::IP_SRC, 4), Some(0x0a00_0002));
}

#[test]
fn nat_rewrites_source_in_range() {
    let kind = ModuleKind::StaticNAT {
        pairs: vec![NatPairSpec {
            internal: "10.0.0.0/24".into(),
            external: "100.64.0.0/24".into(),
        }],
    };
    let out = run(
        &kind,
        vec![
            pkt(Template::default()),
            pkt(Template {
                src_ip: [10, 1, 0, 1],
                ..Template::default()
            }),
        ],
    );
    let b = &out[0].1;
    assert_eq!(b[0].read_be(off::IP_SRC, 4), Some(0x6440_0001));
    assert_eq!(b[1].read_be(off::IP_SRC, 4), Some(0x0a01_0001));
}

#[test]
fn vlan_and_vxlan_round_trips() {
    let orig = pkt(Template::default());
    let tagged = run(&ModuleKind::VLANPush { vid: 5 }, vec![orig.clone()]);
    assert_eq!(tagged[0].1[0].len(), orig.len() + 4);
    let split = run(&ModuleKind::VLANSplit { gates: 8 }, tagged[0].1.clone());
    assert_eq!(split[0].0, 5);
    let popped = run(&ModuleKind::VLANPop {}, split[0].1.clone());
    assert_eq!(popped[0].1[0].bytes(), orig.bytes());

    let mut p = orig.clone();
    p.meta.attr[0] = 0x1234;
    let e = run(&ModuleKind::VXLANEncap { dst_port: 4789 }, vec![p]);
    let e = run(
        &ModuleKind::IPEncap {
            src_ip: "192.0.2.1".into(),
            dst_ip: "192.0.2.2".into(),
        },
        e[0].1.clone(),
    );
    let e = run(
        &ModuleKind::EtherEncap {
            dst_mac: "02:00:00:00:aa:01".into(),
            src_mac: "02:00:00:00:aa:02".into(),
        },
        e[0].1.clone(),
    );
    let enc = &e[0].1[0];
    assert_eq!(enc.len(), orig.len() + 50);
    assert!(csum_ok(enc, 14));
    assert_eq!(enc.read_be(off::L4_DPORT, 2), Some(4789));
    let mut enc = enc.clone();
    enc.meta.attr[0] = 0;
    let d = run(&ModuleKind::VXLANDecap {}, vec![enc]);
    assert_eq!(d[0].1[0].bytes(), orig.bytes());
    assert_eq!(d[0].1[0].meta.attr[0], 0x1234);
}

#[test]
fn metadata_split_and_weighted_split() {
    let set = ModuleKind::SetMetadata {
        attrs: vec![batchy::modules::MetaAttr { slot: 1, value: 3 }],
    };
    let out = run(&set, vec![pkt(Template::default()); 4]);
    let out = run(&ModuleKind::Split { slot: 1, gates: 4 }, out[0].1.clone());
    assert_eq!((out[0].0, out[0].1.len()), (3, 4));
    let w = ModuleKind::WeightedRandomSplit {
        weights: vec![1.0, 0.0, 3.0],
    };
    let out = run(&w, vec![pkt(Template::default()); 32]);
    assert!(out.iter().all(|(g, _)| *g != 1), "zero-weight gate used");
    assert_eq!(out.iter().map(|(_, b)| b.len()).sum::<usize>(), 32);
    assert!(
        ModuleKind::WeightedRandomSplit { weights: vec![0.0] }
            .instantiate()
            .is_err()
    );
}

#[test]
fn measure_records_every_packet_per_flow() {
    use batchy::module::Module;
    use batchy::modules::Measure;
    use batchy::stats::FlowStats;
    use std::sync::Arc;
    let stats: Arc<[Arc<FlowStats>]> =
        vec![Arc::new(FlowStats::new()), Arc::new(FlowStats::new())].into();
    let mut m = Measure::new(stats.clone(), None);
    // (flow, ts): runs of equal timestamps inside and across flows.
    let spec = [
        (0, 10),
        (0, 10),
        (1, 20),
        (0, 30),
        (0, 10),
        (1, 20),
        (1, 25),
    ];
    let batch: Batch = spec
        .iter()
        .map(|&(f, ts)| {
            let mut p = pkt(Template::default());
            p.meta.flow = f;
            p.meta.ts = ts;
            p
        })
        .collect();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let mut ctx = Ctx {
        now: Now::Virtual(100),
        rng: &mut rng,
        tsc_ghz: 2.5,
    };
    let mut out = Out::new();
    m.process(&mut ctx, 0, batch, &mut out);
    let mut passed = 0;
    out.drain(|_, b| passed += b.len());
    assert_eq!(passed, spec.len(), "Measure passes every packet on");
    // Flow 0 delays 90, 90, 70, 90; flow 1 delays 80, 80, 75.
    let f0 = stats[0].take();
    assert_eq!(f0.count, 4);
    assert_eq!(f0.p95, 90.0);
    assert!((f0.mean - 85.0).abs() < 0.5, "mean {}", f0.mean);
    let f1 = stats[1].take();
    assert_eq!(f1.count, 3);
    assert_eq!(f1.p95, 80.0);
    assert!((f1.mean - 235.0 / 3.0).abs() < 0.5, "mean {}", f1.mean);
    assert_eq!(stats[0].totals().0, 4);
    assert_eq!(stats[1].totals().0, 3);
    assert_eq!(stats[0].take().count, 0, "clear on read");
}

#[test]
fn queue_ring_is_fifo_bounded_and_signals_overload() {
    use batchy::module::Module;
    use batchy::modules::{QueueIn, QueueOut, QueueShared};
    use std::sync::Arc;
    let q = Arc::new(QueueShared::new(64, true));
    let mut qin = QueueIn(q.clone());
    let mut qout = QueueOut(q.clone());
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let mut ctx = Ctx {
        now: Now::Virtual(0),
        rng: &mut rng,
        tsc_ghz: 2.5,
    };
    let mut out = Out::new();
    let mk = |from: u64, n: u64| -> Batch {
        (from..from + n)
            .map(|i| {
                let mut p = pkt(Template::default());
                p.meta.ts = i;
                p
            })
            .collect()
    };
    qin.process(&mut ctx, 0, mk(0, 32), &mut out);
    assert!(!q.overloaded());
    qin.process(&mut ctx, 0, mk(32, 32), &mut out);
    assert_eq!(q.len(), 64);
    assert!(q.overloaded(), "above 90 % of 64");
    qin.process(&mut ctx, 0, mk(64, 5), &mut out);
    assert_eq!(q.drops(), 5, "a full ring drops the excess");
    let mut got = Vec::new();
    for _ in 0..2 {
        qout.process(&mut ctx, 0, Vec::new(), &mut out);
        out.drain(|_, b| got.extend(b.iter().map(|p| p.meta.ts)));
    }
    assert_eq!(got, (0..64).collect::<Vec<_>>(), "FIFO, 32 per dequeue");
    assert!(!q.overloaded(), "cleared below 15 %");
    assert!(q.is_empty());
}
