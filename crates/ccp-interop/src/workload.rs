//! Deterministic workloads shared by the differential tests and the benchmarks.

use ccp_lang::vm::Primitives;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A Reno-style report-per-RTT datapath program (the shape of generic-cong-avoid's
/// `DatapathIntervalRTTProg`): accumulate acked/sacked bytes, remember loss, timeout,
/// RTT and in-flight; report at once on loss or timeout, otherwise once per RTT
/// (`Micros > rtt`). Kept in the subset of the language portus accepts.
pub const RENO_PROGRAM: &str = "\
(def (Report
    (volatile acked 0)
    (volatile sacked 0)
    (volatile loss 0)
    (volatile timeout false)
    (volatile rtt 0)
    (volatile inflight 0)
))
(when true
    (:= Report.inflight Flow.packets_in_flight)
    (:= Report.rtt Flow.rtt_sample_us)
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.sacked (+ Report.sacked Ack.packets_misordered))
    (:= Report.loss Ack.lost_pkts_sample)
    (:= Report.timeout Flow.was_timeout)
    (fallthrough)
)
(when (|| Report.timeout (> Report.loss 0))
    (report)
    (:= Micros 0)
)
(when (> Micros Report.rtt)
    (report)
    (:= Micros 0)
)
";

/// A plausible per-ACK primitive stream of one bulk TCP flow: MSS-sized ACKs every
/// few tens of µs, RTT around 20 ms with jitter, a loss about every 2,000 ACKs and a
/// timeout about every 50,000. Deterministic for a given seed.
#[derive(Debug, Clone)]
pub struct AckStream {
    rng: ChaCha8Rng,
    now_us: u64,
    cwnd: u32,
    in_flight: u32,
}

/// Maximum segment size used by [`AckStream`].
pub const MSS: u32 = 1448;

impl AckStream {
    /// A stream starting at time 0 with a 10-segment window.
    pub fn new(seed: u64) -> AckStream {
        AckStream {
            rng: ChaCha8Rng::seed_from_u64(seed),
            now_us: 0,
            cwnd: 10 * MSS,
            in_flight: 10,
        }
    }

    /// The next ACK: its primitives and the time (µs since the stream started).
    pub fn next_ack(&mut self) -> (Primitives, u64) {
        let r = &mut self.rng;
        self.now_us += r.random_range(5..60);
        let segs = if r.random_bool(0.5) { 1 } else { 2 };
        let lost = u32::from(r.random_ratio(1, 2_000));
        let timeout = r.random_ratio(1, 50_000);
        if lost > 0 || timeout {
            self.cwnd = (self.cwnd / 2).max(2 * MSS);
        } else {
            self.cwnd = self.cwnd.saturating_add(MSS * segs / 10).min(1 << 26);
        }
        self.in_flight = (self.cwnd / MSS).max(1);
        let p = Primitives {
            bytes_acked: segs * MSS,
            packets_acked: segs,
            bytes_misordered: 0,
            packets_misordered: if r.random_ratio(1, 200) { 1 } else { 0 },
            ecn_bytes: 0,
            ecn_packets: 0,
            lost_pkts_sample: lost,
            was_timeout: timeout,
            rtt_sample_us: 20_000 + r.random_range(0..2_000),
            rate_outgoing: 100_000_000 + r.random_range(0..1_000_000),
            rate_incoming: 99_000_000 + r.random_range(0..1_000_000),
            bytes_in_flight: self.in_flight * MSS,
            packets_in_flight: self.in_flight,
            snd_cwnd: self.cwnd,
            snd_rate: 0,
            bytes_pending: 1 << 20,
        };
        (p, self.now_us)
    }

    /// `n` ACKs collected into a vector.
    pub fn take_acks(&mut self, n: usize) -> Vec<(Primitives, u64)> {
        (0..n).map(|_| self.next_ack()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_deterministic_and_plausible() {
        let a = AckStream::new(7).take_acks(5_000);
        let b = AckStream::new(7).take_acks(5_000);
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[1].1 > w[0].1), "time advances");
        assert!(a.iter().all(|(p, _)| p.snd_cwnd >= 2 * MSS));
        assert!(a.iter().any(|(p, _)| p.lost_pkts_sample > 0));
        assert_ne!(a, AckStream::new(8).take_acks(5_000));
    }
}
