//! The module library used by the pipelines (spec §6.1 item 6), over real packet bytes.

mod infra;
mod net;

pub use infra::{Measure, QueueIn, QueueOut, QueueShared, Sink, Source, SourceFlow, Timestamp};
pub use net::*;

use serde::Deserialize;

use crate::module::Module;

/// Default TSC frequency [GHz] used to turn Bypass cycles into ns (`BYPASS_RATIO`).
pub const BYPASS_RATIO: f64 = 2.5;

/// A field of an exact-match key.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Byte offset in the packet.
    pub offset: usize,
    /// Field size in bytes (1..=8).
    pub size: usize,
}

/// One exact-match rule: field values → output gate.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmRule {
    /// One value per field.
    pub values: Vec<u64>,
    /// Output gate.
    pub gate: usize,
}

/// An IPv4 route "a.b.c.d/len" → gate.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Prefix in CIDR notation.
    pub prefix: String,
    /// Output gate.
    pub gate: usize,
}

/// An ACL rule (first match wins; no match drops).
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct AclRuleSpec {
    /// Source prefix (CIDR), any if absent.
    pub src_ip: Option<String>,
    /// Destination prefix (CIDR), any if absent.
    pub dst_ip: Option<String>,
    /// Inclusive source-port range.
    pub sport: Option<[u16; 2]>,
    /// Inclusive destination-port range.
    pub dport: Option<[u16; 2]>,
    /// Drop on match (otherwise pass to gate 0).
    #[serde(default)]
    pub drop: bool,
}

/// A static NAT range pair.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NatPairSpec {
    /// Internal prefix (CIDR).
    pub internal: String,
    /// External prefix (CIDR), same length.
    pub external: String,
}

/// A field write of `Update`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpdateField {
    /// Byte offset.
    pub offset: usize,
    /// Size (1..=8 bytes).
    pub size: usize,
    /// Value (big-endian).
    pub value: u64,
}

/// A metadata write of `SetMetadata`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetaAttr {
    /// Slot 0..4.
    pub slot: usize,
    /// Value.
    pub value: u64,
}

fn d_vxlan_port() -> u16 {
    4789
}

/// Module type and parameters, as written in a config (`type = "…"` plus fields).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ModuleKind {
    /// Synthetic NF burning `cycles_per_batch + cycles_per_packet·b` cycles.
    Bypass {
        /// Cycles per call.
        #[serde(default)]
        cycles_per_batch: f64,
        /// Cycles per packet.
        #[serde(default)]
        cycles_per_packet: f64,
    },
    /// Uniformly random output gate per packet.
    RandomSplit {
        /// Number of output gates.
        gates: usize,
    },
    /// Random output gate by weight.
    WeightedRandomSplit {
        /// One weight per gate.
        weights: Vec<f64>,
    },
    /// Exact match on packet fields.
    ExactMatch {
        /// Key fields.
        fields: Vec<FieldSpec>,
        /// Rules.
        #[serde(default)]
        rules: Vec<EmRule>,
        /// Gate for misses (drop if absent).
        default_gate: Option<usize>,
    },
    /// Longest-prefix match on the IPv4 destination.
    IPLookup {
        /// Routes.
        routes: Vec<RouteSpec>,
        /// Gate for misses (drop if absent).
        default_gate: Option<usize>,
    },
    /// First-match ACL on IPv4/UDP fields.
    ACL {
        /// Rules; unmatched packets are dropped.
        rules: Vec<AclRuleSpec>,
    },
    /// Static source NAT.
    StaticNAT {
        /// Range pairs.
        pairs: Vec<NatPairSpec>,
    },
    /// Decrement the IPv4 TTL, drop at 0.
    UpdateTTL {},
    /// Write fixed values into packet fields.
    Update {
        /// Field writes.
        fields: Vec<UpdateField>,
    },
    /// Recompute the IPv4 header checksum.
    IPChecksum {},
    /// Split by 802.1Q VLAN id (untagged → gate 0).
    VLANSplit {
        /// Number of gates (VIDs ≥ gates are dropped).
        gates: usize,
    },
    /// Remove the 802.1Q tag.
    VLANPop {},
    /// Insert an 802.1Q tag.
    VLANPush {
        /// VLAN id.
        vid: u16,
    },
    /// Prepend UDP + VXLAN headers (VNI from metadata slot 0).
    VXLANEncap {
        /// UDP destination port.
        #[serde(default = "d_vxlan_port")]
        dst_port: u16,
    },
    /// Strip outer Ethernet/IPv4/UDP/VXLAN; VNI → metadata slot 0.
    VXLANDecap {},
    /// Prepend an IPv4 header.
    IPEncap {
        /// Outer source address.
        src_ip: String,
        /// Outer destination address.
        dst_ip: String,
    },
    /// Prepend an Ethernet header.
    EtherEncap {
        /// Destination MAC.
        dst_mac: String,
        /// Source MAC.
        src_mac: String,
    },
    /// Write metadata attributes.
    SetMetadata {
        /// Writes.
        attrs: Vec<MetaAttr>,
    },
    /// Output gate = metadata slot value.
    Split {
        /// Slot read.
        slot: usize,
        /// Number of gates (larger values are dropped).
        gates: usize,
    },
    /// Merge all input gates to gate 0.
    Merge {},
    /// Write the ingress timestamp.
    Timestamp {},
    /// Discard packets.
    Sink {},
    /// Enqueue into another task's ingress queue.
    Queue {
        /// Destination task.
        #[serde(rename = "to_task")]
        task: String,
    },
}

impl ModuleKind {
    /// The class name.
    pub fn class(&self) -> &'static str {
        match self {
            ModuleKind::Bypass { .. } => "Bypass",
            ModuleKind::RandomSplit { .. } => "RandomSplit",
            ModuleKind::WeightedRandomSplit { .. } => "WeightedRandomSplit",
            ModuleKind::ExactMatch { .. } => "ExactMatch",
            ModuleKind::IPLookup { .. } => "IPLookup",
            ModuleKind::ACL { .. } => "ACL",
            ModuleKind::StaticNAT { .. } => "StaticNAT",
            ModuleKind::UpdateTTL {} => "UpdateTTL",
            ModuleKind::Update { .. } => "Update",
            ModuleKind::IPChecksum {} => "IPChecksum",
            ModuleKind::VLANSplit { .. } => "VLANSplit",
            ModuleKind::VLANPop {} => "VLANPop",
            ModuleKind::VLANPush { .. } => "VLANPush",
            ModuleKind::VXLANEncap { .. } => "VXLANEncap",
            ModuleKind::VXLANDecap {} => "VXLANDecap",
            ModuleKind::IPEncap { .. } => "IPEncap",
            ModuleKind::EtherEncap { .. } => "EtherEncap",
            ModuleKind::SetMetadata { .. } => "SetMetadata",
            ModuleKind::Split { .. } => "Split",
            ModuleKind::Merge {} => "Merge",
            ModuleKind::Timestamp {} => "Timestamp",
            ModuleKind::Sink {} => "Sink",
            ModuleKind::Queue { .. } => "Queue",
        }
    }

    /// Instantiate the module (Queue is wired by the engine, not here).
    pub fn instantiate(&self) -> Result<Box<dyn Module>, String> {
        Ok(match self {
            ModuleKind::Bypass {
                cycles_per_batch,
                cycles_per_packet,
            } => Box::new(Bypass::new(*cycles_per_batch, *cycles_per_packet)),
            ModuleKind::RandomSplit { gates } => Box::new(RandomSplit::new(*gates)?),
            ModuleKind::WeightedRandomSplit { weights } => {
                Box::new(WeightedRandomSplit::new(weights)?)
            }
            ModuleKind::ExactMatch {
                fields,
                rules,
                default_gate,
            } => Box::new(ExactMatch::new(fields, rules, *default_gate)?),
            ModuleKind::IPLookup {
                routes,
                default_gate,
            } => Box::new(IpLookup::new(routes, *default_gate)?),
            ModuleKind::ACL { rules } => Box::new(Acl::new(rules)?),
            ModuleKind::StaticNAT { pairs } => Box::new(StaticNat::new(pairs)?),
            ModuleKind::UpdateTTL {} => Box::new(UpdateTtl),
            ModuleKind::Update { fields } => Box::new(Update::new(fields)?),
            ModuleKind::IPChecksum {} => Box::new(IpChecksum),
            ModuleKind::VLANSplit { gates } => Box::new(VlanSplit::new(*gates)?),
            ModuleKind::VLANPop {} => Box::new(VlanPop),
            ModuleKind::VLANPush { vid } => Box::new(VlanPush { vid: *vid }),
            ModuleKind::VXLANEncap { dst_port } => Box::new(VxlanEncap {
                dst_port: *dst_port,
            }),
            ModuleKind::VXLANDecap {} => Box::new(VxlanDecap),
            ModuleKind::IPEncap { src_ip, dst_ip } => Box::new(IpEncap::new(src_ip, dst_ip)?),
            ModuleKind::EtherEncap { dst_mac, src_mac } => {
                Box::new(EtherEncap::new(dst_mac, src_mac)?)
            }
            ModuleKind::SetMetadata { attrs } => Box::new(SetMetadata::new(attrs)?),
            ModuleKind::Split { slot, gates } => Box::new(MetaSplit::new(*slot, *gates)?),
            ModuleKind::Merge {} => Box::new(Merge),
            ModuleKind::Timestamp {} => Box::new(Timestamp),
            ModuleKind::Sink {} => Box::new(Sink),
            ModuleKind::Queue { .. } => {
                return Err("Queue modules are wired by the engine".into());
            }
        })
    }

    /// Number of output gates the module may use (for wiring checks).
    pub fn ogates(&self) -> usize {
        match self {
            ModuleKind::RandomSplit { gates }
            | ModuleKind::VLANSplit { gates }
            | ModuleKind::Split { gates, .. } => *gates,
            ModuleKind::WeightedRandomSplit { weights } => weights.len(),
            ModuleKind::ExactMatch {
                rules,
                default_gate,
                ..
            } => rules
                .iter()
                .map(|r| r.gate + 1)
                .chain(default_gate.map(|g| g + 1))
                .max()
                .unwrap_or(1),
            ModuleKind::IPLookup {
                routes,
                default_gate,
            } => routes
                .iter()
                .map(|r| r.gate + 1)
                .chain(default_gate.map(|g| g + 1))
                .max()
                .unwrap_or(1),
            ModuleKind::Sink {} | ModuleKind::Queue { .. } => 0,
            _ => 1,
        }
    }
}

/// All module classes the profiler knows, with a representative configuration.
pub fn profile_setup(class: &str) -> Option<ModuleKind> {
    crate::pipelines::profile_setup(class)
}
