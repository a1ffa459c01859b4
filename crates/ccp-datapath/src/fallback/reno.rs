//! RFC 5681 Reno, per invocation.

use ccp_lang::vm::Primitives;

use super::{Controller, DEFAULT_RTT_US, MAX_CWND, effective_mss, smooth_rtt};

/// Reno (RFC 5681) driven by per-ACK primitives.
///
/// * slow start (`cwnd < ssthresh`): `cwnd += bytes_acked` (appropriate byte counting,
///   RFC 3465, without the per-ACK limit since one invocation may cover many ACKs);
/// * congestion avoidance: +1 MSS per window of acknowledged bytes;
/// * loss (`lost_pkts_sample > 0`): `ssthresh = max(flight / 2, 2 MSS)`, `cwnd =
///   ssthresh`, then no growth and no further decrease for one smoothed RTT (recovery);
/// * timeout (`was_timeout`): `ssthresh = max(flight / 2, 2 MSS)`, `cwnd = 1 MSS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reno {
    cwnd: u64,
    ssthresh: u64,
    mss: u64,
    ca_acked: u64,
    srtt_us: u64,
    recovery_until_us: Option<u64>,
}

impl Reno {
    /// Start in congestion avoidance at `cwnd` bytes (`ssthresh = cwnd`), as a flow taken
    /// over from the agent does. `mss` 0 means 1460.
    pub fn new(cwnd: u64, mss: u64) -> Reno {
        let mss = effective_mss(mss);
        let cwnd = cwnd.clamp(mss, MAX_CWND);
        Reno {
            cwnd,
            ssthresh: cwnd,
            mss,
            ca_acked: 0,
            srtt_us: 0,
            recovery_until_us: None,
        }
    }

    /// Override the slow-start threshold (bytes), e.g. `u64::MAX` to start in slow start.
    pub fn with_ssthresh(mut self, ssthresh: u64) -> Reno {
        self.ssthresh = ssthresh;
        self
    }

    /// Slow-start threshold, bytes.
    pub fn ssthresh(&self) -> u64 {
        self.ssthresh
    }

    /// Smoothed RTT in µs (0 before the first sample).
    pub fn srtt_us(&self) -> u64 {
        self.srtt_us
    }

    fn decrease(&mut self, flight: u64) {
        self.ssthresh = (flight / 2).max(2 * self.mss);
        self.ca_acked = 0;
    }

    fn rtt(&self) -> u64 {
        if self.srtt_us == 0 {
            DEFAULT_RTT_US
        } else {
            self.srtt_us
        }
    }
}

impl Controller for Reno {
    fn on_ack(&mut self, p: &Primitives, now_us: u64) -> u64 {
        self.srtt_us = smooth_rtt(self.srtt_us, p.rtt_sample_us);
        let flight = if p.bytes_in_flight > 0 {
            u64::from(p.bytes_in_flight)
        } else {
            self.cwnd
        };
        if p.was_timeout {
            self.decrease(flight);
            self.cwnd = self.mss;
            self.recovery_until_us = None;
            return self.cwnd;
        }
        let in_recovery = self.recovery_until_us.is_some_and(|t| now_us < t);
        if p.lost_pkts_sample > 0 && !in_recovery {
            self.decrease(flight);
            self.cwnd = self.ssthresh;
            self.recovery_until_us = Some(now_us.saturating_add(self.rtt()));
            return self.cwnd;
        }
        if in_recovery {
            return self.cwnd;
        }
        let acked = u64::from(p.bytes_acked);
        if self.cwnd < self.ssthresh {
            self.cwnd = self.cwnd.saturating_add(acked);
        } else {
            self.ca_acked = self.ca_acked.saturating_add(acked);
            while self.ca_acked >= self.cwnd && self.cwnd < MAX_CWND {
                self.ca_acked -= self.cwnd;
                self.cwnd += self.mss;
            }
        }
        self.cwnd = self.cwnd.clamp(self.mss, MAX_CWND);
        self.cwnd
    }

    fn cwnd(&self) -> u64 {
        self.cwnd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u64 = 1000;

    fn ack(bytes: u32) -> Primitives {
        Primitives {
            bytes_acked: bytes,
            rtt_sample_us: 10_000,
            ..Primitives::default()
        }
    }

    #[test]
    fn slow_start_doubles_per_window() {
        let mut r = Reno::new(10 * MSS, MSS).with_ssthresh(u64::MAX);
        // Acknowledge one full window, one segment per ACK.
        for _ in 0..10 {
            r.on_ack(&ack(MSS as u32), 0);
        }
        assert_eq!(r.cwnd(), 20 * MSS);
    }

    #[test]
    fn congestion_avoidance_adds_one_mss_per_window() {
        let mut r = Reno::new(10 * MSS, MSS);
        for _ in 0..9 {
            r.on_ack(&ack(MSS as u32), 0);
        }
        assert_eq!(r.cwnd(), 10 * MSS, "less than a window acked");
        r.on_ack(&ack(MSS as u32), 0);
        assert_eq!(r.cwnd(), 11 * MSS);
        // The next increase needs a window of 11 segments.
        for _ in 0..10 {
            r.on_ack(&ack(MSS as u32), 0);
        }
        assert_eq!(r.cwnd(), 11 * MSS);
        r.on_ack(&ack(MSS as u32), 0);
        assert_eq!(r.cwnd(), 12 * MSS);
    }

    #[test]
    fn loss_halves_flight_once_per_rtt() {
        let mut r = Reno::new(40 * MSS, MSS);
        let loss = Primitives {
            lost_pkts_sample: 3,
            bytes_in_flight: (40 * MSS) as u32,
            rtt_sample_us: 10_000,
            ..Primitives::default()
        };
        r.on_ack(&loss, 1_000_000);
        assert_eq!(r.cwnd(), 20 * MSS);
        assert_eq!(r.ssthresh(), 20 * MSS);
        // Same loss episode, within one RTT: no second decrease, no growth.
        r.on_ack(&loss, 1_005_000);
        r.on_ack(&ack(5 * MSS as u32), 1_006_000);
        assert_eq!(r.cwnd(), 20 * MSS);
        // One RTT later a new loss cuts again (flight now 20 segments).
        let loss2 = Primitives {
            bytes_in_flight: (20 * MSS) as u32,
            ..loss
        };
        r.on_ack(&loss2, 1_011_000);
        assert_eq!(r.cwnd(), 10 * MSS);
    }

    #[test]
    fn timeout_goes_to_one_mss_and_floors_hold() {
        let mut r = Reno::new(40 * MSS, MSS);
        let to = Primitives {
            was_timeout: true,
            bytes_in_flight: (40 * MSS) as u32,
            ..Primitives::default()
        };
        assert_eq!(r.on_ack(&to, 0), MSS);
        assert_eq!(r.ssthresh(), 20 * MSS);
        // Repeated timeouts and losses never go below the floors.
        for i in 0..50u64 {
            let p = Primitives {
                was_timeout: i % 2 == 0,
                lost_pkts_sample: 10,
                bytes_in_flight: 1,
                ..Primitives::default()
            };
            let c = r.on_ack(&p, i * 1_000_000);
            assert!(c >= MSS, "cwnd {c} below 1 MSS");
            if i % 2 == 1 {
                assert!(c >= 2 * MSS, "cwnd {c} below 2 MSS after a loss");
            }
        }
        // After the timeout, slow start up to ssthresh.
        let mut r = Reno::new(40 * MSS, MSS);
        r.on_ack(&to, 0);
        r.on_ack(&ack(MSS as u32), 1);
        assert_eq!(r.cwnd(), 2 * MSS);
    }

    #[test]
    fn zero_mss_and_tiny_start_are_sane() {
        let r = Reno::new(0, 0);
        assert_eq!(r.cwnd(), 1460);
    }
}
