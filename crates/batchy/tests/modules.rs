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
