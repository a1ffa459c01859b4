//! Network functions operating on packet bytes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use rand::Rng;

use super::{AclRuleSpec, EmRule, FieldSpec, MetaAttr, NatPairSpec, RouteSpec, UpdateField};
use crate::module::{Ctx, Module, Out};
use crate::packet::{Batch, ipv4_checksum, off, parse_ipv4, parse_mac};

/// Multiply-xor hasher for small integer keys (the std SipHash is too slow per packet;
/// keys here are packet fields, not attacker-controlled map sizes).
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u128(&mut self, v: u128) {
        self.write_u64(v as u64);
        self.write_u64((v >> 64) as u64);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// Parse "a.b.c.d/len" into (network as u32, prefix length).
pub fn parse_cidr(s: &str) -> Result<(u32, u8), String> {
    let (ip, len) = match s.split_once('/') {
        Some((ip, len)) => (
            ip,
            len.trim()
                .parse::<u8>()
                .map_err(|_| format!("bad prefix length in {s:?}"))?,
        ),
        None => (s, 32),
    };
    if len > 32 {
        return Err(format!("prefix length > 32 in {s:?}"));
    }
    let a = parse_ipv4(ip).ok_or_else(|| format!("bad IPv4 address in {s:?}"))?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Ok((u32::from_be_bytes(a) & mask, len))
}

fn mask(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len) }
}

/// Synthetic NF that busy-waits `c0 + c1·b` cycles (real clock) per call.
pub struct Bypass {
    c0: f64,
    c1: f64,
}

impl Bypass {
    /// Cycles per batch and per packet.
    pub fn new(c0: f64, c1: f64) -> Self {
        Bypass {
            c0: c0.max(0.0),
            c1: c1.max(0.0),
        }
    }
}

impl Module for Bypass {
    fn class(&self) -> &'static str {
        "Bypass"
    }
    fn process(&mut self, ctx: &mut Ctx<'_>, _ig: usize, batch: Batch, out: &mut Out) {
        if ctx.is_real() {
            let ns = (self.c0 + self.c1 * batch.len() as f64) / ctx.tsc_ghz.max(0.001);
            if ns > 0.0 {
                let start = Instant::now();
                let dur = Duration::from_nanos(ns as u64);
                while start.elapsed() < dur {
                    std::hint::spin_loop();
                }
            }
        }
        out.emit(0, batch);
    }
    fn virtual_cost(&self, ghz: f64) -> (f64, f64) {
        let g = ghz.max(0.001);
        (self.c0 / g, self.c1 / g)
    }
}

/// Uniformly random output gate.
pub struct RandomSplit {
    gates: usize,
}

impl RandomSplit {
    /// `gates` ≥ 1.
    pub fn new(gates: usize) -> Result<Self, String> {
        if gates == 0 {
            return Err("RandomSplit needs gates >= 1".into());
        }
        Ok(RandomSplit { gates })
    }
}

impl Module for RandomSplit {
    fn class(&self) -> &'static str {
        "RandomSplit"
    }
    fn process(&mut self, ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        for p in batch.drain(..) {
            let g = ctx.rng.random_range(0..self.gates);
            out.push(g, p);
        }
        out.recycle(batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (10.0, 3.0)
    }
}

/// Random output gate chosen by weight.
pub struct WeightedRandomSplit {
    cum: Vec<f64>,
}

impl WeightedRandomSplit {
    /// Non-negative weights with a positive sum.
    pub fn new(weights: &[f64]) -> Result<Self, String> {
        let total: f64 = weights.iter().sum();
        if weights.is_empty()
            || weights.iter().any(|w| w.is_nan() || *w < 0.0)
            || total.is_nan()
            || total <= 0.0
        {
            return Err(
                "WeightedRandomSplit needs non-negative weights with a positive sum".into(),
            );
        }
        let mut acc = 0.0;
        let cum = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Ok(WeightedRandomSplit { cum })
    }
}

impl Module for WeightedRandomSplit {
    fn class(&self) -> &'static str {
        "WeightedRandomSplit"
    }
    fn process(&mut self, ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        let last = self.cum.len() - 1;
        for p in batch.drain(..) {
            let u: f64 = ctx.rng.random();
            let g = self.cum.iter().position(|&c| u < c).unwrap_or(last);
            out.push(g, p);
        }
        out.recycle(batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (10.0, 4.0)
    }
}

/// Exact match on up to 16 bytes of packet fields.
pub struct ExactMatch {
    fields: Vec<FieldSpec>,
    table: EmTable,
    default_gate: Option<usize>,
}

/// Keys of at most 8 bytes (the common case: ethertype, MAC, IP) use a `u64` map.
enum EmTable {
    Narrow(FastMap<u64, usize>),
    Wide(FastMap<u128, usize>),
}

impl ExactMatch {
    /// Build the table; each rule needs one value per field.
    pub fn new(
        fields: &[FieldSpec],
        rules: &[EmRule],
        default_gate: Option<usize>,
    ) -> Result<Self, String> {
        let total: usize = fields.iter().map(|f| f.size).sum();
        if fields.is_empty() || total > 16 || fields.iter().any(|f| f.size == 0 || f.size > 8) {
            return Err("ExactMatch needs 1..=8-byte fields totalling at most 16 bytes".into());
        }
        let mut keys = Vec::with_capacity(rules.len());
        for (i, r) in rules.iter().enumerate() {
            if r.values.len() != fields.len() {
                return Err(format!(
                    "ExactMatch rule {i} has {} values for {} fields",
                    r.values.len(),
                    fields.len()
                ));
            }
            let mut key: u128 = 0;
            for (v, f) in r.values.iter().zip(fields) {
                let m = if f.size == 8 {
                    u64::MAX
                } else {
                    (1u64 << (8 * f.size)) - 1
                };
                key = (key << (8 * f.size)) | u128::from(v & m);
            }
            keys.push((key, r.gate));
        }
        let table = if total <= 8 {
            EmTable::Narrow(keys.into_iter().map(|(k, g)| (k as u64, g)).collect())
        } else {
            EmTable::Wide(keys.into_iter().collect())
        };
        Ok(ExactMatch {
            fields: fields.to_vec(),
            table,
            default_gate,
        })
    }

    fn key(&self, p: &crate::packet::Packet) -> Option<u128> {
        let mut key: u128 = 0;
        for f in &self.fields {
            key = (key << (8 * f.size)) | u128::from(p.read_be(f.offset, f.size)?);
        }
        Some(key)
    }

    /// The output gate for a packet (rule, else the default gate).
    fn gate(&self, p: &crate::packet::Packet) -> Option<usize> {
        let hit = match &self.table {
            EmTable::Narrow(t) => {
                let key = match self.fields.as_slice() {
                    [f] => p.read_be(f.offset, f.size),
                    _ => self.key(p).map(|k| k as u64),
                };
                key.and_then(|k| t.get(&k).copied())
            }
            EmTable::Wide(t) => self.key(p).and_then(|k| t.get(&k).copied()),
        };
        hit.or(self.default_gate)
    }
}

impl Module for ExactMatch {
    fn class(&self) -> &'static str {
        "ExactMatch"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        for p in batch.drain(..) {
            match self.gate(&p) {
                Some(g) => out.push(g, p),
                None => out.drop_packet(p),
            }
        }
        out.recycle(batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (40.0, 10.0)
    }
}

/// Longest-prefix match on the IPv4 destination address.
pub struct IpLookup {
    /// One table per prefix length present, longest first.
    tables: Vec<(u8, FastMap<u32, usize>)>,
    default_gate: Option<usize>,
}

impl IpLookup {
    /// Build from CIDR routes.
    pub fn new(routes: &[RouteSpec], default_gate: Option<usize>) -> Result<Self, String> {
        let mut by_len: HashMap<u8, FastMap<u32, usize>> = HashMap::new();
        for r in routes {
            let (net, len) = parse_cidr(&r.prefix)?;
            by_len.entry(len).or_default().insert(net, r.gate);
        }
        let mut tables: Vec<_> = by_len.into_iter().collect();
        tables.sort_by_key(|t| std::cmp::Reverse(t.0));
        Ok(IpLookup {
            tables,
            default_gate,
        })
    }

    /// The gate for a destination address.
    pub fn lookup(&self, dst: u32) -> Option<usize> {
        self.tables
            .iter()
            .find_map(|(len, t)| t.get(&(dst & mask(*len))).copied())
            .or(self.default_gate)
    }
}

impl Module for IpLookup {
    fn class(&self) -> &'static str {
        "IPLookup"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        for p in batch.drain(..) {
            let g = p
                .read_be(off::IP_DST, 4)
                .and_then(|d| self.lookup(d as u32));
            match g {
                Some(g) => out.push(g, p),
                None => out.drop_packet(p),
            }
        }
        out.recycle(batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (68.5, 27.5)
    }
}

struct AclRule {
    src: (u32, u32),
    dst: (u32, u32),
    sport: [u16; 2],
    dport: [u16; 2],
    drop: bool,
}

/// First-match ACL; packets matching no rule are dropped.
pub struct Acl {
    rules: Vec<AclRule>,
}

impl Acl {
    /// Build from rule specs.
    pub fn new(rules: &[AclRuleSpec]) -> Result<Self, String> {
        let pfx = |s: &Option<String>| -> Result<(u32, u32), String> {
            match s {
                Some(s) => parse_cidr(s).map(|(n, l)| (n, mask(l))),
                None => Ok((0, 0)),
            }
        };
        let rules = rules
            .iter()
            .map(|r| {
                Ok(AclRule {
                    src: pfx(&r.src_ip)?,
                    dst: pfx(&r.dst_ip)?,
                    sport: r.sport.unwrap_or([0, u16::MAX]),
                    dport: r.dport.unwrap_or([0, u16::MAX]),
                    drop: r.drop,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Acl { rules })
    }
}

impl Module for Acl {
    fn class(&self) -> &'static str {
        "ACL"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        for p in batch.drain(..) {
            let f = (
                p.read_be(off::IP_SRC, 4),
                p.read_be(off::IP_DST, 4),
                p.read_be(off::L4_SPORT, 2),
                p.read_be(off::L4_DPORT, 2),
            );
            let verdict = match f {
                (Some(s), Some(d), Some(sp), Some(dp)) => {
                    let (s, d, sp, dp) = (s as u32, d as u32, sp as u16, dp as u16);
                    self.rules
                        .iter()
                        .find(|r| {
                            s & r.src.1 == r.src.0
                                && d & r.dst.1 == r.dst.0
                                && (r.sport[0]..=r.sport[1]).contains(&sp)
                                && (r.dport[0]..=r.dport[1]).contains(&dp)
                        })
                        .map(|r| !r.drop)
                }
                _ => None,
            };
            if verdict == Some(true) {
                out.push(0, p);
            } else {
                out.drop_packet(p);
            }
        }
        out.recycle(batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (122.3, 30.4)
    }
}

/// Static source NAT between equally sized prefixes.
pub struct StaticNat {
    pairs: Vec<(u32, u32, u32)>,
}

impl StaticNat {
    /// Build from pairs.
    pub fn new(pairs: &[NatPairSpec]) -> Result<Self, String> {
        let pairs = pairs
            .iter()
            .map(|p| {
                let (i, li) = parse_cidr(&p.internal)?;
                let (e, le) = parse_cidr(&p.external)?;
                if li != le {
                    return Err(format!(
                        "StaticNAT pair {} / {} has different prefix lengths",
                        p.internal, p.external
                    ));
                }
                Ok((i, e, mask(li)))
            })
            .collect::<Result<_, String>>()?;
        Ok(StaticNat { pairs })
    }
}

impl Module for StaticNat {
    fn class(&self) -> &'static str {
        "StaticNAT"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        for p in batch.iter_mut() {
            if let Some(s) = p.read_be(off::IP_SRC, 4) {
                let s = s as u32;
                if let Some(&(_, e, m)) = self.pairs.iter().find(|(i, _, m)| s & m == *i) {
                    p.write_be(off::IP_SRC, 4, u64::from(e | (s & !m)));
                }
            }
        }
        out.emit(0, batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (43.5, 21.0)
    }
}

/// Decrement TTL; drop when it would reach 0.
pub struct UpdateTtl;

impl Module for UpdateTtl {
    fn class(&self) -> &'static str {
        "UpdateTTL"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        let before = batch.len();
        batch.retain_mut(|p| match p.read_be(off::IP_TTL, 1) {
            Some(ttl) if ttl > 1 => {
                p.write_be(off::IP_TTL, 1, ttl - 1);
                true
            }
            _ => false,
        });
        out.dropped += (before - batch.len()) as u64;
        out.emit(0, batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (1.0, 1.0)
    }
}

/// Write fixed values into packet fields.
pub struct Update {
    fields: Vec<UpdateField>,
}

impl Update {
    /// Fields of 1..=8 bytes.
    pub fn new(fields: &[UpdateField]) -> Result<Self, String> {
        if fields.iter().any(|f| f.size == 0 || f.size > 8) {
            return Err("Update fields must be 1..=8 bytes".into());
        }
        Ok(Update {
            fields: fields.to_vec(),
        })
    }
}

impl Module for Update {
    fn class(&self) -> &'static str {
        "Update"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        for p in batch.iter_mut() {
            for f in &self.fields {
                p.write_be(f.offset, f.size, f.value);
            }
        }
        out.emit(0, batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (5.0, 3.0)
    }
}

/// Recompute the IPv4 header checksum.
pub struct IpChecksum;

impl Module for IpChecksum {
    fn class(&self) -> &'static str {
        "IPChecksum"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        for p in batch.iter_mut() {
            if p.len() >= off::IP + 20 {
                let c = ipv4_checksum(&p.bytes()[off::IP..off::IP + 20]);
                p.write_be(off::IP_CSUM, 2, u64::from(c));
            }
        }
        out.emit(0, batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (5.0, 6.0)
    }
}

/// Split by VLAN id; untagged packets go to gate 0.
pub struct VlanSplit {
    gates: usize,
}

impl VlanSplit {
    /// `gates` ≥ 1.
    pub fn new(gates: usize) -> Result<Self, String> {
        if gates == 0 {
            return Err("VLANSplit needs gates >= 1".into());
        }
        Ok(VlanSplit { gates })
    }
}

impl Module for VlanSplit {
    fn class(&self) -> &'static str {
        "VLANSplit"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        for p in batch.drain(..) {
            let g = if p.read_be(12, 2) == Some(0x8100) {
                p.read_be(14, 2).map(|t| (t & 0x0fff) as usize).unwrap_or(0)
            } else {
                0
            };
            if g < self.gates {
                out.push(g, p);
            } else {
                out.drop_packet(p);
            }
        }
        out.recycle(batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (10.0, 3.0)
    }
}

/// Remove an 802.1Q tag if present.
pub struct VlanPop;

impl Module for VlanPop {
    fn class(&self) -> &'static str {
        "VLANPop"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        for p in batch.iter_mut() {
            if p.read_be(12, 2) == Some(0x8100) {
                p.remove(12, 4);
            }
        }
        out.emit(0, batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (5.0, 8.0)
    }
}

/// Insert an 802.1Q tag.
pub struct VlanPush {
    /// VLAN id.
    pub vid: u16,
}

impl Module for VlanPush {
    fn class(&self) -> &'static str {
        "VLANPush"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        for p in batch.iter_mut() {
            if p.len() >= 14 {
                let mut hdr = p.bytes()[..12].to_vec();
                hdr.extend_from_slice(&0x8100u16.to_be_bytes());
                hdr.extend_from_slice(&(self.vid & 0x0fff).to_be_bytes());
                p.strip(12);
                p.prepend(&hdr);
            }
        }
        out.emit(0, batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (5.0, 8.0)
    }
}

/// Prepend UDP and VXLAN headers; VNI from metadata slot 0.
pub struct VxlanEncap {
    /// UDP destination port.
    pub dst_port: u16,
}

impl Module for VxlanEncap {
    fn class(&self) -> &'static str {
        "VXLANEncap"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        for p in batch.iter_mut() {
            let vni = (p.meta.attr[0] & 0x00ff_ffff) as u32;
            let len = (p.len() + 16) as u16;
            let mut h = [0u8; 16];
            h[0..2].copy_from_slice(&49152u16.to_be_bytes());
            h[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
            h[4..6].copy_from_slice(&len.to_be_bytes());
            h[8] = 0x08;
            h[12..15].copy_from_slice(&vni.to_be_bytes()[1..4]);
            p.prepend(&h);
        }
        out.emit(0, batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (10.0, 12.0)
    }
}

/// Strip outer Ethernet + IPv4 + UDP + VXLAN (50 bytes); VNI → metadata slot 0.
pub struct VxlanDecap;

impl Module for VxlanDecap {
    fn class(&self) -> &'static str {
        "VXLANDecap"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        for mut p in batch.drain(..) {
            match p.read_be(46, 3) {
                Some(vni) if p.len() >= 50 + 14 => {
                    p.meta.attr[0] = vni;
                    p.strip(50);
                    out.push(0, p);
                }
                _ => out.drop_packet(p),
            }
        }
        out.recycle(batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (10.0, 12.0)
    }
}

/// Prepend an IPv4 header (protocol UDP).
pub struct IpEncap {
    src: [u8; 4],
    dst: [u8; 4],
}

impl IpEncap {
    /// Outer addresses.
    pub fn new(src: &str, dst: &str) -> Result<Self, String> {
        Ok(IpEncap {
            src: parse_ipv4(src).ok_or_else(|| format!("bad IPv4 address {src:?}"))?,
            dst: parse_ipv4(dst).ok_or_else(|| format!("bad IPv4 address {dst:?}"))?,
        })
    }
}

impl Module for IpEncap {
    fn class(&self) -> &'static str {
        "IPEncap"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        for p in batch.iter_mut() {
            let mut h = [0u8; 20];
            h[0] = 0x45;
            h[2..4].copy_from_slice(&((p.len() + 20) as u16).to_be_bytes());
            h[8] = 64;
            h[9] = 17;
            h[12..16].copy_from_slice(&self.src);
            h[16..20].copy_from_slice(&self.dst);
            let c = ipv4_checksum(&h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            p.prepend(&h);
        }
        out.emit(0, batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (10.0, 14.0)
    }
}

/// Prepend an Ethernet header (ethertype IPv4).
pub struct EtherEncap {
    hdr: [u8; 14],
}

impl EtherEncap {
    /// Addresses.
    pub fn new(dst: &str, src: &str) -> Result<Self, String> {
        let d = parse_mac(dst).ok_or_else(|| format!("bad MAC address {dst:?}"))?;
        let s = parse_mac(src).ok_or_else(|| format!("bad MAC address {src:?}"))?;
        let mut hdr = [0u8; 14];
        hdr[0..6].copy_from_slice(&d);
        hdr[6..12].copy_from_slice(&s);
        hdr[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        Ok(EtherEncap { hdr })
    }
}

impl Module for EtherEncap {
    fn class(&self) -> &'static str {
        "EtherEncap"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        for p in batch.iter_mut() {
            p.prepend(&self.hdr);
        }
        out.emit(0, batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (10.0, 10.0)
    }
}

/// Write metadata attributes.
pub struct SetMetadata {
    attrs: Vec<MetaAttr>,
}

impl SetMetadata {
    /// Slots must be < 4.
    pub fn new(attrs: &[MetaAttr]) -> Result<Self, String> {
        if attrs.iter().any(|a| a.slot >= crate::packet::META_SLOTS) {
            return Err("SetMetadata slot must be 0..4".into());
        }
        Ok(SetMetadata {
            attrs: attrs.to_vec(),
        })
    }
}

impl Module for SetMetadata {
    fn class(&self) -> &'static str {
        "SetMetadata"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        for p in &mut batch {
            for a in &self.attrs {
                p.meta.attr[a.slot] = a.value;
            }
        }
        out.emit(0, batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (5.0, 2.0)
    }
}

/// Output gate chosen by a metadata slot.
pub struct MetaSplit {
    slot: usize,
    gates: usize,
}

impl MetaSplit {
    /// Slot < 4, gates ≥ 1.
    pub fn new(slot: usize, gates: usize) -> Result<Self, String> {
        if slot >= crate::packet::META_SLOTS || gates == 0 {
            return Err("Split needs slot 0..4 and gates >= 1".into());
        }
        Ok(MetaSplit { slot, gates })
    }
}

impl Module for MetaSplit {
    fn class(&self) -> &'static str {
        "Split"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, mut batch: Batch, out: &mut Out) {
        for p in batch.drain(..) {
            let g = p.meta.attr[self.slot] as usize;
            if g < self.gates {
                out.push(g, p);
            } else {
                out.drop_packet(p);
            }
        }
        out.recycle(batch);
    }
    fn virtual_cost(&self, _g: f64) -> (f64, f64) {
        (10.0, 3.0)
    }
}

/// Merge every input gate into output gate 0.
pub struct Merge;

impl Module for Merge {
    fn class(&self) -> &'static str {
        "Merge"
    }
    fn process(&mut self, _ctx: &mut Ctx<'_>, _ig: usize, batch: Batch, out: &mut Out) {
        out.emit(0, batch);
    }
}
