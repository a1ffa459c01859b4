//! Packets, packet metadata and batches.

/// Maximum number of packets in one batch (BESS `kMaxBurst`).
pub const MAX_BURST: usize = 32;

/// Number of free-form metadata slots per packet (`SetMetadata` / `Split`).
pub const META_SLOTS: usize = 4;

/// Per-packet metadata carried alongside the bytes (BESS metadata attributes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Meta {
    /// Ingress timestamp [ns] written by `Timestamp`, read by `Measure`.
    pub ts: u64,
    /// Index of the flow this packet belongs to (set by the traffic source).
    pub flow: u32,
    /// Free-form attributes written by `SetMetadata`/`VXLANDecap`, read by `Split`/encaps.
    pub attr: [u64; META_SLOTS],
}

/// The storage behind a [`Packet`] handle: bytes (starting at the Ethernet header) and
/// metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacketData {
    data: Vec<u8>,
    /// Metadata attached to the packet.
    pub meta: Meta,
}

/// One packet: a handle (one pointer) to its bytes and metadata.
///
/// Batches hold handles, so moving a packet between batches, gates and queues moves
/// 8 bytes; the storage is recycled through the worker's packet pool
/// ([`crate::module::Out::new_packet`]) instead of being freed and reallocated. Fields
/// of [`PacketData`] (`p.meta`) are reached through `Deref`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packet(Box<PacketData>);

impl std::ops::Deref for Packet {
    type Target = PacketData;
    fn deref(&self) -> &PacketData {
        &self.0
    }
}

impl std::ops::DerefMut for Packet {
    fn deref_mut(&mut self) -> &mut PacketData {
        &mut self.0
    }
}

impl Packet {
    /// A packet holding a copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut data = Vec::with_capacity(bytes.len() + 64);
        data.extend_from_slice(bytes);
        Packet(Box::new(PacketData {
            data,
            meta: Meta::default(),
        }))
    }

    /// Replace the bytes (keeps the allocation) and reset the metadata.
    pub fn set_bytes(&mut self, bytes: &[u8]) {
        let d = &mut *self.0;
        d.data.clear();
        d.data.extend_from_slice(bytes);
        d.meta = Meta::default();
    }
}

impl PacketData {
    /// The packet bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// The packet bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Packet length in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True for a zero-length packet.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Prepend `hdr` in front of the current bytes (encapsulation).
    pub fn prepend(&mut self, hdr: &[u8]) {
        self.data.splice(0..0, hdr.iter().copied());
    }

    /// Strip `n` bytes from the front (decapsulation). Returns false (and leaves the
    /// packet untouched) when the packet is shorter than `n`.
    pub fn strip(&mut self, n: usize) -> bool {
        if self.data.len() < n {
            return false;
        }
        self.data.drain(0..n);
        true
    }

    /// Remove `n` bytes at offset `at` (e.g. a VLAN tag). False if out of range.
    pub fn remove(&mut self, at: usize, n: usize) -> bool {
        if self.data.len() < at + n {
            return false;
        }
        self.data.drain(at..at + n);
        true
    }

    /// Read a big-endian unsigned field of `size` ≤ 8 bytes at `off`, if in range.
    #[inline]
    pub fn read_be(&self, off: usize, size: usize) -> Option<u64> {
        if size > 8 || size == 0 {
            return (size == 0 && off <= self.data.len()).then_some(0);
        }
        let end = off.checked_add(size)?;
        if end > self.data.len() {
            return None;
        }
        // Fast path: one 8-byte load ending at `end` (or starting at `off`), no memcpy
        // call for the variable size.
        if end >= 8 {
            let mut w = [0u8; 8];
            w.copy_from_slice(&self.data[end - 8..end]);
            let v = u64::from_be_bytes(w);
            Some(if size == 8 {
                v
            } else {
                v & ((1u64 << (8 * size)) - 1)
            })
        } else {
            Some(
                self.data[off..end]
                    .iter()
                    .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
            )
        }
    }

    /// Write a big-endian unsigned field of `size` ≤ 8 bytes at `off`; false if out of range.
    #[inline]
    pub fn write_be(&mut self, off: usize, size: usize, value: u64) -> bool {
        if size > 8 {
            return false;
        }
        let Some(end) = off.checked_add(size) else {
            return false;
        };
        if end > self.data.len() {
            return false;
        }
        if end >= 8 && size > 0 {
            // Read-modify-write of the 8 bytes ending at `end`.
            let mut w = [0u8; 8];
            w.copy_from_slice(&self.data[end - 8..end]);
            let old = u64::from_be_bytes(w);
            let m = if size == 8 {
                u64::MAX
            } else {
                (1u64 << (8 * size)) - 1
            };
            let new = (old & !m) | (value & m);
            self.data[end - 8..end].copy_from_slice(&new.to_be_bytes());
        } else {
            for (i, b) in self.data[off..end].iter_mut().enumerate() {
                *b = (value >> (8 * (size - 1 - i))) as u8;
            }
        }
        true
    }
}

/// A batch of packets (at most [`MAX_BURST`] when produced by the engine).
pub type Batch = Vec<Packet>;

/// Offsets of header fields in an untagged Ethernet/IPv4/UDP frame.
pub mod off {
    /// Destination MAC.
    pub const ETH_DST: usize = 0;
    /// Source MAC.
    pub const ETH_SRC: usize = 6;
    /// Ethertype.
    pub const ETH_TYPE: usize = 12;
    /// Start of the IPv4 header.
    pub const IP: usize = 14;
    /// IPv4 TTL.
    pub const IP_TTL: usize = IP + 8;
    /// IPv4 protocol.
    pub const IP_PROTO: usize = IP + 9;
    /// IPv4 header checksum.
    pub const IP_CSUM: usize = IP + 10;
    /// IPv4 source address.
    pub const IP_SRC: usize = IP + 12;
    /// IPv4 destination address.
    pub const IP_DST: usize = IP + 16;
    /// UDP/TCP source port.
    pub const L4_SPORT: usize = IP + 20;
    /// UDP/TCP destination port.
    pub const L4_DPORT: usize = IP + 22;
}

/// Fields of a synthetic UDP/IPv4 packet template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// Optional 802.1Q VLAN id.
    pub vlan: Option<u16>,
    /// IPv4 source.
    pub src_ip: [u8; 4],
    /// IPv4 destination.
    pub dst_ip: [u8; 4],
    /// UDP source port.
    pub sport: u16,
    /// UDP destination port.
    pub dport: u16,
    /// Total frame size in bytes (≥ 60).
    pub size: usize,
}

impl Default for Template {
    fn default() -> Self {
        Template {
            dst_mac: [0x02, 0, 0, 0, 0, 1],
            src_mac: [0x02, 0, 0, 0, 0, 2],
            vlan: None,
            src_ip: [10, 0, 0, 1],
            dst_ip: [10, 0, 1, 1],
            sport: 1000,
            dport: 2000,
            size: 60,
        }
    }
}

impl Template {
    /// Build the frame bytes (valid IPv4 checksum, UDP checksum 0).
    pub fn build(&self) -> Vec<u8> {
        let l2 = if self.vlan.is_some() { 18 } else { 14 };
        let size = self.size.max(l2 + 28);
        let mut b = vec![0u8; size];
        b[0..6].copy_from_slice(&self.dst_mac);
        b[6..12].copy_from_slice(&self.src_mac);
        if let Some(vid) = self.vlan {
            b[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
            b[14..16].copy_from_slice(&(vid & 0x0fff).to_be_bytes());
            b[16..18].copy_from_slice(&0x0800u16.to_be_bytes());
        } else {
            b[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        }
        let ip = l2;
        let ip_len = (size - l2) as u16;
        b[ip] = 0x45;
        b[ip + 2..ip + 4].copy_from_slice(&ip_len.to_be_bytes());
        b[ip + 8] = 64;
        b[ip + 9] = 17;
        b[ip + 12..ip + 16].copy_from_slice(&self.src_ip);
        b[ip + 16..ip + 20].copy_from_slice(&self.dst_ip);
        let csum = ipv4_checksum(&b[ip..ip + 20]);
        b[ip + 10..ip + 12].copy_from_slice(&csum.to_be_bytes());
        let u = ip + 20;
        b[u..u + 2].copy_from_slice(&self.sport.to_be_bytes());
        b[u + 2..u + 4].copy_from_slice(&self.dport.to_be_bytes());
        b[u + 4..u + 6].copy_from_slice(&((size - u) as u16).to_be_bytes());
        b
    }
}

/// RFC 1071 checksum of an IPv4 header whose checksum field is treated as zero.
pub fn ipv4_checksum(hdr: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut words = hdr.chunks_exact(2);
    for (i, pair) in words.by_ref().enumerate() {
        if i != 5 {
            // word 5 is the checksum field
            sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
        }
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Parse "a.b.c.d" into 4 bytes.
pub fn parse_ipv4(s: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = s.trim().split('.');
    for o in &mut out {
        *o = parts.next()?.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(out)
}

/// Parse "aa:bb:cc:dd:ee:ff" into 6 bytes.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.trim().split(':');
    for o in &mut out {
        *o = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_has_valid_checksum_and_fields() {
        let t = Template::default();
        let p = Packet::from_bytes(&t.build());
        assert_eq!(p.len(), 60);
        assert_eq!(p.read_be(off::ETH_TYPE, 2), Some(0x0800));
        assert_eq!(p.read_be(off::IP_DST, 4), Some(0x0a00_0101));
        let hdr = &p.bytes()[14..34];
        assert_eq!(u16::from_be_bytes([hdr[10], hdr[11]]), ipv4_checksum(hdr));
    }

    fn naive_read(d: &[u8], off: usize, size: usize) -> Option<u64> {
        let s = d.get(off..off.checked_add(size)?)?;
        (size <= 8).then(|| s.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b)))
    }

    proptest::proptest! {
        /// The word-at-a-time field accessors agree with a byte loop everywhere,
        /// including short packets and out-of-range fields.
        #[test]
        fn read_write_be_match_byte_loop(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24),
            off in 0usize..28,
            size in 0usize..10,
            value in proptest::prelude::any::<u64>(),
        ) {
            let mut p = Packet::from_bytes(&bytes);
            proptest::prop_assert_eq!(p.read_be(off, size), naive_read(&bytes, off, size));
            let mut want = bytes.clone();
            let ok = size <= 8 && off + size <= want.len();
            if ok {
                for i in 0..size {
                    want[off + i] = (value >> (8 * (size - 1 - i))) as u8;
                }
            }
            proptest::prop_assert_eq!(p.write_be(off, size, value), ok);
            proptest::prop_assert_eq!(p.bytes(), &want[..]);
        }
    }

    #[test]
    fn parse_helpers() {
        assert_eq!(parse_ipv4("10.1.2.3"), Some([10, 1, 2, 3]));
        assert_eq!(parse_ipv4("10.1.2"), None);
        assert_eq!(parse_mac("02:00:00:00:00:ff"), Some([2, 0, 0, 0, 0, 255]));
        assert_eq!(parse_mac("zz:00:00:00:00:ff"), None);
    }
}
