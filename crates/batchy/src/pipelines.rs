//! Built-in pipeline generators (`batchy.create_pipeline(...)` of the original) and the
//! profiler's per-module setups.

use serde::Deserialize;

use crate::batchy::{
    Batchy, BatchyError, FlowSpec, ModuleId, ModuleOpts, SourceParams, TaskId, TemplateSpec,
};
use crate::modules::{
    AclRuleSpec, BYPASS_RATIO, EmRule, FieldSpec, MetaAttr, ModuleKind, NatPairSpec, RouteSpec,
    UpdateField,
};
use crate::packet::off;

/// A generated pipeline, as written in a config's `[pipeline]` table.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum PipelineSpec {
    /// README simple pipeline: RandomSplit → 2× Bypass(1000/100 cycles, T 1000/100 ns).
    Simple {
        /// flow1 delay SLO [ns].
        #[serde(default = "d_55k")]
        delay_slo1: f64,
        /// flow2 delay SLO [ns].
        #[serde(default = "d_100k")]
        delay_slo2: f64,
        /// Task controller.
        #[serde(default = "d_ctrl")]
        controller: String,
    },
    /// simpletree: WeightedRandomSplit → `leaves` × Bypass(c0, c1 cycles).
    Tree {
        /// Number of leaves.
        leaves: usize,
        /// Cycles per batch of each leaf.
        #[serde(default = "d_1000")]
        cycles_per_batch: f64,
        /// Cycles per packet of each leaf.
        #[serde(default = "d_100")]
        cycles_per_packet: f64,
        /// Delay SLO of every flow [ns].
        #[serde(default = "d_5ms")]
        delay_slo: f64,
        /// Force leaves controlled (true) / uncontrolled (false) / by batchiness (absent).
        #[serde(default)]
        controlled: Option<bool>,
        /// Task controller.
        #[serde(default = "d_ctrl")]
        controller: String,
    },
    /// L2L3 router: type/MAC exact match → per-branch IPLookup → per next hop
    /// [ACL → NAT] → UpdateTTL → Update → IPChecksum.
    L2l3 {
        /// Next hops per branch.
        next_hops: usize,
        /// Branches (MAC-selected).
        #[serde(default = "d_1")]
        branches: usize,
        /// Insert ACL + StaticNAT per next hop.
        #[serde(default)]
        acl_nat: bool,
        /// Delay SLO of every flow [ns] (none if absent).
        delay_slo: Option<f64>,
        /// Task controller.
        #[serde(default = "d_ctrl")]
        controller: String,
    },
    /// Mobile gateway (downlink): direction → bearer → user → per-(user,bearer)
    /// Bypass(2000/100) → SetMetadata → VXLAN/IP/Ether encap → UpdateTTL → IPChecksum →
    /// Split(flow) → per-flow egress. Bearer k gets SLO (k+1)·delay_slo, the last is bulk.
    Mgw {
        /// Users.
        #[serde(default = "d_4")]
        users: usize,
        /// Bearers.
        #[serde(default = "d_2")]
        bearers: usize,
        /// Base delay SLO [ns].
        #[serde(default = "d_100k")]
        delay_slo: f64,
        /// Task controller.
        #[serde(default = "d_ctrl")]
        controller: String,
    },
    /// Robot control (rc-static): WeightedRandomSplit → leaf 0 Bypass(1,1) control flow
    /// with a tight SLO; other leaves Bypass(10 000 cycles/batch) bulk flows (100 ms).
    Rc {
        /// Leaves (1 control + leaves−1 bulk).
        #[serde(default = "d_16")]
        leaves: usize,
        /// Control-flow SLO [ns].
        #[serde(default = "d_35k")]
        delay_slo: f64,
        /// Task controller.
        #[serde(default = "d_ctrl")]
        controller: String,
    },
}

fn d_55k() -> f64 {
    55_000.0
}
fn d_100k() -> f64 {
    100_000.0
}
fn d_35k() -> f64 {
    35_000.0
}
fn d_5ms() -> f64 {
    5_000_000.0
}
fn d_1000() -> f64 {
    1000.0
}
fn d_100() -> f64 {
    100.0
}
fn d_1() -> usize {
    1
}
fn d_2() -> usize {
    2
}
fn d_4() -> usize {
    4
}
fn d_16() -> usize {
    16
}
fn d_ctrl() -> String {
    "projgrad".into()
}

fn opts(t: Option<(f64, f64)>, controlled: Option<bool>) -> ModuleOpts {
    ModuleOpts {
        t0: t.map(|t| t.0),
        t1: t.map(|t| t.1),
        controlled,
        ingress: false,
    }
}

fn flow(
    b: &mut Batchy,
    name: String,
    path: Vec<ModuleId>,
    slo: Option<f64>,
    tmpl: TemplateSpec,
    weight: u32,
) -> Result<(), BatchyError> {
    b.add_flow(FlowSpec {
        name,
        path,
        delay_slo: slo,
        rate_slo: None,
        source: SourceParams {
            templates: vec![tmpl],
            weight,
            ..SourceParams::default()
        },
    })
    .map(|_| ())
}

/// (name, cycles/batch, cycles/packet, delay SLO, controlled) of a tree leaf.
type Leaf = (String, f64, f64, Option<f64>, Option<bool>);

fn tree_like(b: &mut Batchy, task: TaskId, leaves: &[Leaf]) -> Result<(), BatchyError> {
    let split = b.add_module(
        task,
        "split",
        ModuleKind::WeightedRandomSplit {
            weights: vec![1.0; leaves.len()],
        },
        opts(None, Some(false)),
    )?;
    for (i, (name, c0, c1, slo, ctl)) in leaves.iter().enumerate() {
        let m = b.add_module(
            task,
            name,
            ModuleKind::Bypass {
                cycles_per_batch: *c0,
                cycles_per_packet: *c1,
            },
            opts(Some((c0 / BYPASS_RATIO, c1 / BYPASS_RATIO)), *ctl),
        )?;
        b.connect(split, i, m, 0)?;
        let t = TemplateSpec {
            dst_ip: format!("10.1.{}.{}", i / 250, i % 250 + 1),
            ..TemplateSpec::default()
        };
        flow(b, format!("flow{i}"), vec![split, m], *slo, t, 1)?;
    }
    Ok(())
}

/// Add the generated pipeline to `b` (one worker `w0`, one task `task0`).
pub fn create(b: &mut Batchy, spec: &PipelineSpec) -> Result<(), BatchyError> {
    let w = b.add_worker("w0")?;
    match spec {
        PipelineSpec::Simple {
            delay_slo1,
            delay_slo2,
            controller,
        } => {
            let t = b.add_task(w, "task0", controller)?;
            let split = b.add_module(
                t,
                "splitter",
                ModuleKind::RandomSplit { gates: 2 },
                opts(None, None),
            )?;
            for (i, slo) in [(1, *delay_slo1), (2, *delay_slo2)] {
                let m = b.add_module(
                    t,
                    &format!("bypass{i}"),
                    ModuleKind::Bypass {
                        cycles_per_batch: 1000.0,
                        cycles_per_packet: 100.0,
                    },
                    opts(Some((1000.0, 100.0)), None),
                )?;
                b.connect(split, i - 1, m, 0)?;
                let tm = TemplateSpec {
                    dst_ip: format!("10.0.{i}.1"),
                    ..TemplateSpec::default()
                };
                flow(b, format!("flow{i}"), vec![split, m], Some(slo), tm, 1)?;
            }
        }
        PipelineSpec::Tree {
            leaves,
            cycles_per_batch,
            cycles_per_packet,
            delay_slo,
            controlled,
            controller,
        } => {
            if *leaves == 0 {
                return Err(BatchyError::Invalid("tree needs leaves >= 1".into()));
            }
            let t = b.add_task(w, "task0", controller)?;
            let ls: Vec<_> = (0..*leaves)
                .map(|i| {
                    (
                        format!("leaf{i}"),
                        *cycles_per_batch,
                        *cycles_per_packet,
                        Some(*delay_slo),
                        *controlled,
                    )
                })
                .collect();
            tree_like(b, t, &ls)?;
        }
        PipelineSpec::Rc {
            leaves,
            delay_slo,
            controller,
        } => {
            if *leaves < 2 {
                return Err(BatchyError::Invalid("rc needs leaves >= 2".into()));
            }
            let t = b.add_task(w, "task0", controller)?;
            let mut ls = vec![(
                "control".to_string(),
                1.0,
                1.0,
                Some(*delay_slo),
                Some(true),
            )];
            for i in 1..*leaves {
                ls.push((
                    format!("bulk{i}"),
                    10_000.0,
                    0.0,
                    Some(100_000_000.0),
                    Some(true),
                ));
            }
            tree_like(b, t, &ls)?;
        }
        PipelineSpec::L2l3 {
            next_hops,
            branches,
            acl_nat,
            delay_slo,
            controller,
        } => l2l3(
            b, w, *next_hops, *branches, *acl_nat, *delay_slo, controller,
        )?,
        PipelineSpec::Mgw {
            users,
            bearers,
            delay_slo,
            controller,
        } => mgw(b, w, *users, *bearers, *delay_slo, controller)?,
    }
    Ok(())
}

fn mac_of(branch: usize) -> String {
    format!("02:00:00:00:{:02x}:{:02x}", branch / 256, branch % 256)
}

fn l2l3(
    b: &mut Batchy,
    w: crate::batchy::WorkerId,
    next_hops: usize,
    branches: usize,
    acl_nat: bool,
    slo: Option<f64>,
    controller: &str,
) -> Result<(), BatchyError> {
    if next_hops == 0 || branches == 0 || branches > 200 || next_hops > 200 {
        return Err(BatchyError::Invalid(
            "l2l3 needs 1..=200 branches and next hops".into(),
        ));
    }
    let t = b.add_task(w, "task0", controller)?;
    let em_type = b.add_module(
        t,
        "type_check",
        ModuleKind::ExactMatch {
            fields: vec![FieldSpec {
                offset: off::ETH_TYPE,
                size: 2,
            }],
            rules: vec![EmRule {
                values: vec![0x0800],
                gate: 0,
            }],
            default_gate: None,
        },
        opts(None, None),
    )?;
    let em_mac = b.add_module(
        t,
        "mac_table",
        ModuleKind::ExactMatch {
            fields: vec![FieldSpec {
                offset: off::ETH_DST,
                size: 6,
            }],
            rules: (0..branches)
                .map(|br| EmRule {
                    values: vec![0x0200_0000_0000 + br as u64],
                    gate: br,
                })
                .collect(),
            default_gate: None,
        },
        opts(None, None),
    )?;
    b.connect(em_type, 0, em_mac, 0)?;
    for br in 0..branches {
        // FIB: 500 /24 prefixes spread over the next hops.
        let routes: Vec<RouteSpec> = (0..500)
            .map(|p| RouteSpec {
                prefix: format!("{}.{}.{}.0/24", 11 + br, p / 256, p % 256),
                gate: p % next_hops,
            })
            .collect();
        let lpm = b.add_module(
            t,
            &format!("ip_lookup{br}"),
            ModuleKind::IPLookup {
                routes,
                default_gate: None,
            },
            opts(Some((68.5, 27.5)), None),
        )?;
        b.connect(em_mac, br, lpm, 0)?;
        for nh in 0..next_hops {
            let sfx = format!("{br}_{nh}");
            let mut chain: Vec<ModuleId> = Vec::new();
            if acl_nat {
                let mut rules: Vec<AclRuleSpec> = (0..99)
                    .map(|k| AclRuleSpec {
                        src_ip: Some(format!("192.168.{}.0/24", k)),
                        drop: true,
                        ..AclRuleSpec::default()
                    })
                    .collect();
                rules.push(AclRuleSpec::default());
                chain.push(b.add_module(
                    t,
                    &format!("acl{sfx}"),
                    ModuleKind::ACL { rules },
                    opts(Some((122.3, 30.4)), None),
                )?);
                chain.push(
                    b.add_module(
                        t,
                        &format!("nat{sfx}"),
                        ModuleKind::StaticNAT {
                            pairs: (0..10)
                                .map(|k| NatPairSpec {
                                    internal: format!("10.0.{k}.0/24"),
                                    external: format!("100.64.{k}.0/24"),
                                })
                                .collect(),
                        },
                        opts(Some((43.5, 21.0)), None),
                    )?,
                );
            }
            chain.push(b.add_module(
                t,
                &format!("ttl{sfx}"),
                ModuleKind::UpdateTTL {},
                opts((!acl_nat).then_some((1.0, 1.0)), None),
            )?);
            chain.push(b.add_module(
                t,
                &format!("update{sfx}"),
                ModuleKind::Update {
                    fields: vec![
                        UpdateField {
                            offset: off::ETH_DST,
                            size: 6,
                            value: 0x0200_0000_1000 + nh as u64,
                        },
                        UpdateField {
                            offset: off::ETH_SRC,
                            size: 6,
                            value: 0x0200_0000_2000 + br as u64,
                        },
                    ],
                },
                opts(None, None),
            )?);
            chain.push(b.add_module(
                t,
                &format!("csum{sfx}"),
                ModuleKind::IPChecksum {},
                opts(None, None),
            )?);
            b.connect(lpm, nh, chain[0], 0)?;
            for k in 1..chain.len() {
                b.connect(chain[k - 1], 0, chain[k], 0)?;
            }
            let mut path = vec![em_type, em_mac, lpm];
            path.extend(&chain);
            let tm = TemplateSpec {
                dst_mac: mac_of(br),
                dst_ip: format!("{}.{}.{}.7", 11 + br, nh / 256, nh % 256),
                src_ip: format!("10.0.{}.{}", nh % 10, 1 + br),
                ..TemplateSpec::default()
            };
            flow(b, format!("flow{sfx}"), path, slo, tm, 1)?;
        }
    }
    Ok(())
}

fn mgw(
    b: &mut Batchy,
    w: crate::batchy::WorkerId,
    users: usize,
    bearers: usize,
    slo: f64,
    controller: &str,
) -> Result<(), BatchyError> {
    if users == 0 || bearers == 0 || users > 200 || bearers > 32 {
        return Err(BatchyError::Invalid(
            "mgw needs 1..=200 users and 1..=32 bearers".into(),
        ));
    }
    let t = b.add_task(w, "task0", controller)?;
    let dir = b.add_module(
        t,
        "dir_selector",
        ModuleKind::ExactMatch {
            fields: vec![FieldSpec {
                offset: off::L4_DPORT,
                size: 2,
            }],
            rules: vec![EmRule {
                values: vec![4789],
                gate: 1,
            }],
            default_gate: Some(0),
        },
        opts(None, Some(false)),
    )?;
    let bearer = b.add_module(
        t,
        "dl_bearer",
        ModuleKind::ExactMatch {
            fields: vec![FieldSpec {
                offset: off::L4_SPORT,
                size: 2,
            }],
            rules: (0..bearers)
                .map(|k| EmRule {
                    values: vec![5000 + k as u64],
                    gate: k,
                })
                .collect(),
            default_gate: None,
        },
        opts(None, Some(false)),
    )?;
    b.connect(dir, 0, bearer, 0)?;
    let vx = b.add_module(
        t,
        "vxlan_encap",
        ModuleKind::VXLANEncap { dst_port: 4789 },
        opts(None, Some(false)),
    )?;
    let ipe = b.add_module(
        t,
        "ip_encap",
        ModuleKind::IPEncap {
            src_ip: "192.0.2.1".into(),
            dst_ip: "192.0.2.2".into(),
        },
        opts(None, Some(false)),
    )?;
    let ete = b.add_module(
        t,
        "ether_encap",
        ModuleKind::EtherEncap {
            dst_mac: "02:00:00:00:aa:01".into(),
            src_mac: "02:00:00:00:aa:02".into(),
        },
        opts(None, Some(false)),
    )?;
    let ttl = b.add_module(t, "ttl", ModuleKind::UpdateTTL {}, opts(None, Some(false)))?;
    let n_flows = users * bearers;
    let fsplit = b.add_module(
        t,
        "flow_split",
        ModuleKind::Split {
            slot: 1,
            gates: n_flows,
        },
        opts(None, Some(false)),
    )?;
    b.connect(vx, 0, ipe, 0)?;
    b.connect(ipe, 0, ete, 0)?;
    b.connect(ete, 0, ttl, 0)?;
    b.connect(ttl, 0, fsplit, 0)?;
    for k in 0..bearers {
        let users_em = b.add_module(
            t,
            &format!("dl_users{k}"),
            ModuleKind::ExactMatch {
                fields: vec![FieldSpec {
                    offset: off::IP_DST,
                    size: 4,
                }],
                rules: (0..users)
                    .map(|u| EmRule {
                        values: vec![u64::from(u32::from_be_bytes([10, 10, 0, u as u8 + 1]))],
                        gate: u,
                    })
                    .collect(),
                default_gate: None,
            },
            opts(None, Some(false)),
        )?;
        b.connect(bearer, k, users_em, 0)?;
        for u in 0..users {
            let fi = k * users + u;
            let bp = b.add_module(
                t,
                &format!("bp_u{u}_b{k}"),
                ModuleKind::Bypass {
                    cycles_per_batch: 2000.0,
                    cycles_per_packet: 100.0,
                },
                opts(
                    Some((2000.0 / BYPASS_RATIO, 100.0 / BYPASS_RATIO)),
                    Some(true),
                ),
            )?;
            let meta = b.add_module(
                t,
                &format!("meta_u{u}_b{k}"),
                ModuleKind::SetMetadata {
                    attrs: vec![
                        MetaAttr {
                            slot: 0,
                            value: 100 + fi as u64,
                        },
                        MetaAttr {
                            slot: 1,
                            value: fi as u64,
                        },
                    ],
                },
                opts(None, Some(false)),
            )?;
            let egress = b.add_module(
                t,
                &format!("out_u{u}_b{k}"),
                ModuleKind::Bypass {
                    cycles_per_batch: 0.0,
                    cycles_per_packet: 0.0,
                },
                opts(Some((0.0, 0.0)), Some(false)),
            )?;
            b.connect(users_em, u, bp, 0)?;
            b.connect(bp, 0, meta, 0)?;
            b.connect(meta, 0, vx, 0)?;
            b.connect(fsplit, fi, egress, 0)?;
            let last = k + 1 == bearers && bearers > 1 || bearers == 1;
            let fslo = (!last).then_some((k as f64 + 1.0) * slo);
            let weight = if last { 4 } else { (k as u32 + 1).min(4) };
            let tm = TemplateSpec {
                dst_ip: format!("10.10.0.{}", u + 1),
                sport: 5000 + k as u16,
                dport: 2152,
                ..TemplateSpec::default()
            };
            flow(
                b,
                format!("flow_u{u}_b{k}"),
                vec![
                    dir, bearer, users_em, bp, meta, vx, ipe, ete, ttl, fsplit, egress,
                ],
                fslo,
                tm,
                weight,
            )?;
        }
    }
    Ok(())
}

/// Representative configuration of a module class for the profiler.
pub fn profile_setup(class: &str) -> Option<ModuleKind> {
    Some(match class {
        "Bypass" => ModuleKind::Bypass {
            cycles_per_batch: 1000.0,
            cycles_per_packet: 100.0,
        },
        "RandomSplit" => ModuleKind::RandomSplit { gates: 8 },
        "WeightedRandomSplit" => ModuleKind::WeightedRandomSplit {
            weights: vec![1.0; 8],
        },
        "ExactMatch" => ModuleKind::ExactMatch {
            fields: vec![
                FieldSpec {
                    offset: off::IP_DST,
                    size: 4,
                },
                FieldSpec {
                    offset: off::L4_DPORT,
                    size: 2,
                },
            ],
            rules: (0..1000)
                .map(|i| EmRule {
                    values: vec![0x0a00_0000 + i, 2000],
                    gate: (i % 8) as usize,
                })
                .collect(),
            default_gate: Some(0),
        },
        "IPLookup" => ModuleKind::IPLookup {
            routes: (0..5000)
                .map(|i| RouteSpec {
                    prefix: format!("{}.{}.{}.0/24", 10 + i / 65536, (i / 256) % 256, i % 256),
                    gate: (i % 8) as usize,
                })
                .collect(),
            default_gate: Some(0),
        },
        "ACL" => {
            let mut rules: Vec<AclRuleSpec> = (0..99)
                .map(|k| AclRuleSpec {
                    src_ip: Some(format!("192.168.{k}.0/24")),
                    drop: true,
                    ..AclRuleSpec::default()
                })
                .collect();
            rules.push(AclRuleSpec::default());
            ModuleKind::ACL { rules }
        }
        "StaticNAT" => ModuleKind::StaticNAT {
            pairs: (0..10)
                .map(|k| NatPairSpec {
                    internal: format!("10.0.{k}.0/24"),
                    external: format!("100.64.{k}.0/24"),
                })
                .collect(),
        },
        "UpdateTTL" => ModuleKind::UpdateTTL {},
        "Update" => ModuleKind::Update {
            fields: vec![UpdateField {
                offset: 0,
                size: 6,
                value: 0x0200_0000_0001,
            }],
        },
        "IPChecksum" => ModuleKind::IPChecksum {},
        "VLANPop" => ModuleKind::VLANPop {},
        "VLANSplit" => ModuleKind::VLANSplit { gates: 8 },
        "VXLANEncap" => ModuleKind::VXLANEncap { dst_port: 4789 },
        "IPEncap" => ModuleKind::IPEncap {
            src_ip: "192.0.2.1".into(),
            dst_ip: "192.0.2.2".into(),
        },
        "EtherEncap" => ModuleKind::EtherEncap {
            dst_mac: "02:00:00:00:00:01".into(),
            src_mac: "02:00:00:00:00:02".into(),
        },
        "SetMetadata" => ModuleKind::SetMetadata {
            attrs: vec![MetaAttr { slot: 0, value: 1 }],
        },
        "Split" => ModuleKind::Split { slot: 0, gates: 8 },
        "Merge" => ModuleKind::Merge {},
        _ => return None,
    })
}

/// Module classes the profiler sweeps by default.
pub const PROFILE_CLASSES: &[&str] = &[
    "Bypass",
    "RandomSplit",
    "WeightedRandomSplit",
    "ExactMatch",
    "IPLookup",
    "ACL",
    "StaticNAT",
    "UpdateTTL",
    "Update",
    "IPChecksum",
    "VLANPop",
    "VLANSplit",
    "VXLANEncap",
    "IPEncap",
    "EtherEncap",
    "SetMetadata",
    "Split",
    "Merge",
];
