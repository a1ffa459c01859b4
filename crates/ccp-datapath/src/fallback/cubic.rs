//! RFC 9438 CUBIC, per invocation.

use ccp_lang::vm::Primitives;

use super::{Controller, DEFAULT_RTT_US, MAX_CWND, effective_mss, smooth_rtt};

/// CUBIC's multiplicative decrease factor β.
pub const BETA: f64 = 0.7;
/// CUBIC's scaling constant C (segments / s³).
pub const C: f64 = 0.4;

/// CUBIC (RFC 9438) driven by per-ACK primitives; windows are kept in segments internally.
///
/// * slow start below `ssthresh` as in Reno;
/// * congestion avoidance: `W_cubic(t) = C·(t − K)³ + W_max` with
///   `K = ∛((W_max − cwnd_epoch) / C)`; per ACK the window moves towards
///   `W_cubic(t + RTT)` (clamped to `[cwnd, 1.5·cwnd]`), by `(target − cwnd)/cwnd` per
///   acknowledged segment; in the Reno-friendly region (`W_cubic(t) < W_est`, with
///   `W_est` growing by `3(1−β)/(1+β)` segments per window) the window follows `W_est`;
/// * loss: fast convergence (`W_max = cwnd·(1+β)/2` if below the previous `W_max`),
///   `cwnd = max(β·cwnd, 2 MSS)`, new epoch at the next ACK; one decrease per RTT;
/// * timeout: `cwnd = 1 MSS`, `ssthresh = max(β·cwnd, 2 MSS)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cubic {
    /// Window, segments.
    cwnd: f64,
    ssthresh: f64,
    w_max: f64,
    k: f64,
    w_est: f64,
    epoch_us: Option<u64>,
    mss: u64,
    srtt_us: u64,
    recovery_until_us: Option<u64>,
}

impl Cubic {
    /// Start in congestion avoidance at `cwnd` bytes with `W_max = cwnd` (so growth starts
    /// in CUBIC's convex region). `mss` 0 means 1460.
    pub fn new(cwnd: u64, mss: u64) -> Cubic {
        let mss = effective_mss(mss);
        let w = (cwnd.clamp(mss, MAX_CWND) as f64) / mss as f64;
        Cubic {
            cwnd: w,
            ssthresh: w,
            w_max: w,
            k: 0.0,
            w_est: w,
            epoch_us: None,
            mss,
            srtt_us: 0,
            recovery_until_us: None,
        }
    }

    /// Override the slow-start threshold (bytes).
    pub fn with_ssthresh(mut self, ssthresh: u64) -> Cubic {
        self.ssthresh = ssthresh as f64 / self.mss as f64;
        self
    }

    /// `W_max` in bytes.
    pub fn w_max(&self) -> u64 {
        (self.w_max * self.mss as f64).round() as u64
    }

    /// `K` in seconds (time from the epoch start to reach `W_max`).
    pub fn k_secs(&self) -> f64 {
        self.k
    }

    /// Slow-start threshold, bytes.
    pub fn ssthresh(&self) -> u64 {
        (self.ssthresh * self.mss as f64).round() as u64
    }

    /// `W_cubic(t)` in segments, `t` seconds after the epoch start.
    pub fn w_cubic(&self, t: f64) -> f64 {
        C * (t - self.k).powi(3) + self.w_max
    }

    fn rtt(&self) -> u64 {
        if self.srtt_us == 0 {
            DEFAULT_RTT_US
        } else {
            self.srtt_us
        }
    }

    fn bytes(&self) -> u64 {
        ((self.cwnd * self.mss as f64).round() as u64).clamp(self.mss, MAX_CWND)
    }
}

impl Controller for Cubic {
    fn on_ack(&mut self, p: &Primitives, now_us: u64) -> u64 {
        self.srtt_us = smooth_rtt(self.srtt_us, p.rtt_sample_us);
        if p.was_timeout {
            self.w_max = self.cwnd;
            self.ssthresh = (self.cwnd * BETA).max(2.0);
            self.cwnd = 1.0;
            self.epoch_us = None;
            self.recovery_until_us = None;
            return self.bytes();
        }
        let in_recovery = self.recovery_until_us.is_some_and(|t| now_us < t);
        if p.lost_pkts_sample > 0 && !in_recovery {
            self.w_max = if self.cwnd < self.w_max {
                self.cwnd * (1.0 + BETA) / 2.0
            } else {
                self.cwnd
            };
            self.cwnd = (self.cwnd * BETA).max(2.0);
            self.ssthresh = self.cwnd;
            self.epoch_us = None;
            self.recovery_until_us = Some(now_us.saturating_add(self.rtt()));
            return self.bytes();
        }
        if in_recovery {
            return self.bytes();
        }
        let acked = f64::from(p.bytes_acked) / self.mss as f64;
        if acked <= 0.0 {
            return self.bytes();
        }
        if self.cwnd < self.ssthresh {
            self.cwnd += acked;
            return self.bytes();
        }
        let epoch = match self.epoch_us {
            Some(e) => e,
            None => {
                // A new congestion-avoidance epoch starts at this ACK.
                self.epoch_us = Some(now_us);
                self.w_est = self.cwnd;
                if self.w_max <= self.cwnd {
                    self.w_max = self.cwnd;
                    self.k = 0.0;
                } else {
                    self.k = ((self.w_max - self.cwnd) / C).cbrt();
                }
                now_us
            }
        };
        let t = now_us.saturating_sub(epoch) as f64 / 1e6;
        let rtt = self.rtt() as f64 / 1e6;
        let target = self.w_cubic(t + rtt).clamp(self.cwnd, 1.5 * self.cwnd);
        let alpha = 3.0 * (1.0 - BETA) / (1.0 + BETA);
        self.w_est += alpha * acked / self.cwnd;
        if self.w_cubic(t) < self.w_est {
            self.cwnd = self.cwnd.max(self.w_est);
        } else {
            self.cwnd += (target - self.cwnd) / self.cwnd * acked;
        }
        self.cwnd = self.cwnd.min(MAX_CWND as f64 / self.mss as f64);
        self.bytes()
    }

    fn cwnd(&self) -> u64 {
        self.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u64 = 1000;

    fn ack(segs: u32, rtt: u64) -> Primitives {
        Primitives {
            bytes_acked: segs * MSS as u32,
            rtt_sample_us: rtt,
            ..Primitives::default()
        }
    }

    fn loss() -> Primitives {
        Primitives {
            lost_pkts_sample: 1,
            rtt_sample_us: 10_000,
            ..Primitives::default()
        }
    }

    #[test]
    fn loss_is_multiplicative_with_beta_and_sets_k() {
        let mut c = Cubic::new(100 * MSS, MSS);
        c.on_ack(&loss(), 0);
        assert_eq!(c.cwnd(), 70 * MSS);
        assert_eq!(c.w_max(), 100 * MSS);
        // First CA ack starts the epoch: K = cbrt((100 - 70) / 0.4) ≈ 4.217 s.
        c.on_ack(&ack(1, 10_000), 20_000);
        let k = (30.0f64 / C).cbrt();
        assert!((c.k_secs() - k).abs() < 1e-9, "K {} vs {k}", c.k_secs());
    }

    /// Feed one window of ACKs per RTT and return the window after each RTT.
    fn run(c: &mut Cubic, start_us: u64, rtts: usize, rtt_us: u64) -> Vec<u64> {
        let mut out = Vec::new();
        let mut t = start_us;
        for _ in 0..rtts {
            let segs = (c.cwnd() / MSS).max(1);
            for i in 0..segs {
                c.on_ack(&ack(1, rtt_us), t + i * rtt_us / segs);
            }
            t += rtt_us;
            out.push(c.cwnd());
        }
        out
    }

    #[test]
    fn concave_then_convex_around_w_max() {
        let rtt = 100_000;
        let mut c = Cubic::new(1000 * MSS, MSS);
        c.on_ack(&loss(), 0);
        let w: Vec<u64> = run(&mut c, 200_000, 120, rtt);
        let k_rtts = (c.k_secs() * 1e6 / rtt as f64) as usize;
        assert!(k_rtts > 10 && k_rtts + 20 < w.len(), "K = {} s", c.k_secs());
        // Near K the window is close to W_max (1000 segments).
        let at_k = w[k_rtts] as f64 / MSS as f64;
        assert!((at_k - 1000.0).abs() < 30.0, "window at K: {at_k}");
        // Concave before K: increments shrink; convex after: increments grow.
        let inc = |i: usize| w[i + 1] as i64 - w[i] as i64;
        assert!(
            inc(2) > inc(k_rtts - 3),
            "not concave: {} vs {}",
            inc(2),
            inc(k_rtts - 3)
        );
        assert!(inc(k_rtts + 15) > inc(k_rtts + 3), "not convex");
        // Monotone growth without losses.
        assert!(w.windows(2).all(|p| p[1] >= p[0]));
    }

    #[test]
    fn reno_friendly_region_tracks_w_est() {
        // Short RTT right after taking over (K = 0): C·t³ adds almost nothing in 10 RTTs
        // (0.4 · 0.1³ segments), while the Reno-friendly estimate grows by
        // 3(1−β)/(1+β) ≈ 0.53 segment per RTT, so W_est must drive the window.
        let rtt = 10_000;
        let mut c = Cubic::new(10 * MSS, MSS);
        let w = run(&mut c, 0, 10, rtt);
        let grown = (w[9] - 10 * MSS) as f64 / MSS as f64;
        assert!(grown > 4.0, "grew only {grown} segments in 10 RTTs");
        assert!(grown < 7.0, "grew {grown}: faster than Reno-friendly");
    }

    #[test]
    fn fast_convergence_and_floors() {
        let mut c = Cubic::new(100 * MSS, MSS);
        c.on_ack(&loss(), 0); // W_max 100, cwnd 70
        c.on_ack(&loss(), 1_000_000); // cwnd 70 < W_max → W_max = 70·0.85
        assert_eq!(c.w_max(), 59_500);
        assert_eq!(c.cwnd(), 49 * MSS);
        let to = Primitives {
            was_timeout: true,
            ..Primitives::default()
        };
        assert_eq!(c.on_ack(&to, 2_000_000), MSS);
        for i in 0..20u64 {
            let cw = c.on_ack(&loss(), 3_000_000 + i * 1_000_000);
            assert!(cw >= 2 * MSS);
        }
    }
}
