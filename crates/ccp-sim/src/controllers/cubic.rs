//! In-datapath reference CUBIC (RFC 9438).

use crate::cc::{CongestionController, Control, FlowInfo, Measurement};
use crate::time::SimTime;

/// CUBIC's constant C (segments / s³).
pub const CUBIC_C: f64 = 0.4;
/// CUBIC's multiplicative decrease factor β.
pub const CUBIC_BETA: f64 = 0.7;

/// CUBIC per RFC 9438, with the window in fractional segments:
///
/// * slow start below ssthresh (no HyStart);
/// * congestion avoidance: `W_cubic(t) = C·(t − K)³ + W_max`, `K = ∛((W_max − cwnd_epoch)/C)`,
///   `t` measured from the start of the congestion-avoidance epoch (first ACK after a
///   reduction); per ACK `cwnd += (target − cwnd)/cwnd` with `target = W_cubic(t + RTT)`
///   clamped to `[cwnd, 1.5·cwnd]` (RTT = smoothed RTT);
/// * Reno-friendly region: `W_est` starts at `cwnd_epoch` and grows by
///   `α·acked/cwnd` with `α = 3(1−β)/(1+β)` (1 once `W_est ≥ cwnd_prior`); when
///   `W_cubic(t) < W_est`, cwnd = `W_est`;
/// * on a loss episode: fast convergence (`W_max = cwnd·(1+β)/2` if cwnd fell below the
///   previous `W_max`, else `W_max = cwnd`), `ssthresh = cwnd = max(β·cwnd, 2)`;
/// * on a timeout: the same `W_max`/ssthresh update, then cwnd = 1 segment.
#[derive(Debug, Clone)]
pub struct Cubic {
    mss: f64,
    cwnd: f64,
    ssthresh: f64,
    w_max: f64,
    k: f64,
    epoch_start: Option<SimTime>,
    cwnd_epoch: f64,
    cwnd_prior: f64,
    w_est: f64,
    alpha: f64,
    fast_convergence: bool,
}

impl Default for Cubic {
    fn default() -> Self {
        Cubic::new()
    }
}

impl Cubic {
    /// A CUBIC controller with fast convergence on.
    pub fn new() -> Cubic {
        Cubic {
            mss: 1460.0,
            cwnd: 10.0,
            ssthresh: f64::INFINITY,
            w_max: 0.0,
            k: 0.0,
            epoch_start: None,
            cwnd_epoch: 0.0,
            cwnd_prior: 0.0,
            w_est: 0.0,
            alpha: Self::reno_alpha(),
            fast_convergence: true,
        }
    }

    /// Turn fast convergence on or off.
    pub fn with_fast_convergence(mut self, on: bool) -> Cubic {
        self.fast_convergence = on;
        self
    }

    /// `α_cubic = 3(1 − β)/(1 + β)`.
    pub fn reno_alpha() -> f64 {
        3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA)
    }

    /// Window in segments.
    pub fn cwnd_segments(&self) -> f64 {
        self.cwnd
    }
    /// `W_max` in segments.
    pub fn w_max(&self) -> f64 {
        self.w_max
    }
    /// `K` in seconds (valid once an epoch started).
    pub fn k(&self) -> f64 {
        self.k
    }
    /// Start of the current congestion-avoidance epoch.
    pub fn epoch_start(&self) -> Option<SimTime> {
        self.epoch_start
    }

    /// `W_cubic(t)` for the current epoch, `t` in seconds since the epoch start.
    pub fn w_cubic(&self, t: f64) -> f64 {
        CUBIC_C * (t - self.k).powi(3) + self.w_max
    }

    fn apply(&self, ctl: &mut Control<'_>) {
        ctl.set_cwnd((self.cwnd * self.mss).round().min(f64::from(u32::MAX)) as u32);
    }

    fn reduce(&mut self) {
        self.epoch_start = None;
        self.cwnd_prior = self.cwnd;
        if self.fast_convergence && self.cwnd < self.w_max {
            self.w_max = self.cwnd * (1.0 + CUBIC_BETA) / 2.0;
        } else {
            self.w_max = self.cwnd;
        }
        self.ssthresh = (self.cwnd * CUBIC_BETA).max(2.0);
        self.alpha = Self::reno_alpha();
    }

    fn congestion_avoidance(&mut self, now: SimTime, acked: f64, rtt_s: f64) {
        let start = match self.epoch_start {
            Some(s) => s,
            None => {
                self.epoch_start = Some(now);
                if self.cwnd < self.w_max {
                    self.k = ((self.w_max - self.cwnd) / CUBIC_C).cbrt();
                } else {
                    self.k = 0.0;
                    self.w_max = self.cwnd;
                }
                self.cwnd_epoch = self.cwnd;
                self.w_est = self.cwnd;
                now
            }
        };
        let t = now.saturating_sub(start).as_secs_f64();
        self.w_est += self.alpha * acked / self.cwnd;
        if self.w_est >= self.cwnd_prior {
            self.alpha = 1.0;
        }
        if self.w_cubic(t) < self.w_est {
            self.cwnd = self.w_est;
        } else {
            let target = self.w_cubic(t + rtt_s).clamp(self.cwnd, 1.5 * self.cwnd);
            self.cwnd += (target - self.cwnd) / self.cwnd * acked;
        }
    }
}

impl CongestionController for Cubic {
    fn name(&self) -> &str {
        "cubic"
    }

    fn on_start(&mut self, info: &FlowInfo, ctl: &mut Control<'_>) {
        self.mss = f64::from(info.mss.max(1));
        self.cwnd = (f64::from(ctl.cwnd()) / self.mss).max(1.0);
        self.apply(ctl);
    }

    fn on_ack(&mut self, m: &Measurement, ctl: &mut Control<'_>) {
        if m.sender.in_recovery {
            return;
        }
        let mut acked = f64::from(m.prims.packets_acked + m.prims.packets_misordered);
        if acked <= 0.0 {
            return;
        }
        if self.cwnd < self.ssthresh {
            let ss = acked.min((self.ssthresh - self.cwnd).max(0.0));
            self.cwnd += ss;
            acked -= ss;
        }
        if acked > 0.0 {
            let rtt_us = if m.sender.srtt_us > 0 {
                m.sender.srtt_us
            } else {
                m.prims.rtt_sample_us
            };
            self.congestion_avoidance(m.now, acked, rtt_us as f64 / 1e6);
        }
        self.apply(ctl);
    }

    fn on_loss(&mut self, _m: &Measurement, ctl: &mut Control<'_>) {
        self.reduce();
        self.cwnd = self.ssthresh;
        self.apply(ctl);
    }

    fn on_timeout(&mut self, _m: &Measurement, ctl: &mut Control<'_>) {
        self.reduce();
        self.cwnd = 1.0;
        self.apply(ctl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::{Primitives, SenderState};
    use crate::control::{FlowId, FlowKnobs, Outbox};

    fn measurement(now: SimTime, acked: u32, rtt_us: u64) -> Measurement {
        Measurement {
            now,
            prims: Primitives {
                packets_acked: acked,
                bytes_acked: acked * 1460,
                rtt_sample_us: rtt_us,
                ..Primitives::default()
            },
            sender: SenderState {
                srtt_us: rtt_us,
                mss: 1460,
                packet_size: 1500,
                ..SenderState::default()
            },
        }
    }

    struct Drive {
        cubic: Cubic,
        knobs: FlowKnobs,
        outbox: Outbox,
    }

    impl Drive {
        fn new(cwnd_segs: f64) -> Drive {
            let mut c = Cubic::new();
            c.cwnd = cwnd_segs;
            c.ssthresh = cwnd_segs; // in congestion avoidance
            Drive {
                cubic: c,
                knobs: FlowKnobs {
                    cwnd: 0,
                    pacing_rate: 0,
                },
                outbox: Outbox::new(),
            }
        }
        fn ack(&mut self, now: SimTime, rtt_us: u64) {
            let mut ctl = Control::new(
                now,
                FlowId(0),
                1460,
                SimTime::ZERO,
                &mut self.knobs,
                &mut self.outbox,
            );
            self.cubic.on_ack(&measurement(now, 1, rtt_us), &mut ctl);
        }
        fn loss(&mut self, now: SimTime) {
            let mut ctl = Control::new(
                now,
                FlowId(0),
                1460,
                SimTime::ZERO,
                &mut self.knobs,
                &mut self.outbox,
            );
            self.cubic.on_loss(&measurement(now, 0, 0), &mut ctl);
        }
        /// One RTT of ACK clocking: cwnd ACKs spread evenly over the RTT.
        fn round(&mut self, start: SimTime, rtt: SimTime) {
            let n = self.cubic.cwnd_segments().floor().max(1.0) as u64;
            for i in 0..n {
                self.ack(SimTime(start.0 + rtt.0 * (i + 1) / n), rtt.as_micros());
            }
        }
    }

    #[test]
    fn window_follows_the_cubic_curve_after_a_loss() {
        let rtt = SimTime::from_millis(100);
        let mut d = Drive::new(1000.0);
        d.cubic.w_max = 1000.0;
        let t_loss = SimTime::from_secs(1);
        d.loss(t_loss);
        assert!((d.cubic.cwnd_segments() - 700.0).abs() < 1e-9);
        assert!((d.cubic.w_max() - 1000.0).abs() < 1e-9);
        let mut now = t_loss;
        let mut checked = 0;
        let mut max_err: f64 = 0.0;
        let mut min_seen = f64::MAX;
        let mut max_seen: f64 = 0.0;
        // about 2K (K ≈ 9.09 s) of ACK clocking
        for _ in 0..180 {
            d.round(now, rtt);
            now += rtt;
            let epoch = d.cubic.epoch_start().expect("epoch started");
            let t = now.saturating_sub(epoch).as_secs_f64();
            let expected = CUBIC_C * (t - d.cubic.k()).powi(3) + 1000.0;
            let got = d.cubic.cwnd_segments();
            let err = (got - expected).abs() / expected;
            max_err = max_err.max(err);
            min_seen = min_seen.min(got);
            max_seen = max_seen.max(got);
            checked += 1;
        }
        assert!((d.cubic.k() - (300.0f64 / 0.4).cbrt()).abs() < 1e-9);
        assert_eq!(checked, 180);
        assert!(max_err < 0.02, "max relative error {max_err}");
        // the window really travelled the curve: concave rise, plateau, convex probe
        assert!(
            min_seen < 720.0 && max_seen > 1250.0,
            "{min_seen} {max_seen}"
        );
    }

    #[test]
    fn fast_convergence_lowers_w_max() {
        let mut d = Drive::new(1000.0);
        d.cubic.w_max = 1200.0; // loss below the previous maximum
        d.loss(SimTime::from_secs(1));
        assert!((d.cubic.w_max() - 1000.0 * 1.7 / 2.0).abs() < 1e-9);
        let mut d = Drive::new(1000.0).cubic.with_fast_convergence(false);
        d.w_max = 1200.0;
        d.reduce();
        assert!((d.w_max() - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn reno_friendly_region_grows_like_aimd() {
        // small window, short RTT: W_est (≈ α segments per RTT) beats the cubic curve
        let rtt = SimTime::from_millis(2);
        let mut d = Drive::new(20.0);
        d.cubic.w_max = 20.0;
        d.loss(SimTime::ZERO);
        let start = d.cubic.cwnd_segments();
        assert!((start - 14.0).abs() < 1e-9);
        let mut now = SimTime::ZERO;
        for _ in 0..10 {
            d.round(now, rtt);
            now += rtt;
        }
        // α = 3(1−β)/(1+β) ≈ 0.53 segments per RTT while W_est < cwnd_prior (20)
        let grown = d.cubic.cwnd_segments() - start;
        assert!(
            grown > 10.0 * 0.45 && grown < 10.0 * 0.6,
            "grew {grown} in 10 RTTs"
        );
        let t = now
            .saturating_sub(d.cubic.epoch_start().unwrap())
            .as_secs_f64();
        assert!(d.cubic.cwnd_segments() > d.cubic.w_cubic(t) + 3.0);
        let mid = d.cubic.cwnd_segments();
        for _ in 0..40 {
            d.round(now, rtt);
            now += rtt;
        }
        // past cwnd_prior α becomes 1: about one segment per RTT
        let grown = d.cubic.cwnd_segments() - mid;
        assert!(grown > 34.0 && grown < 41.0, "grew {grown} in 40 RTTs");
        let t = now
            .saturating_sub(d.cubic.epoch_start().unwrap())
            .as_secs_f64();
        assert!(d.cubic.cwnd_segments() > d.cubic.w_cubic(t));
    }

    #[test]
    fn timeout_sets_one_segment_and_ssthresh_beta() {
        let mut d = Drive::new(100.0);
        let mut ctl = Control::new(
            SimTime::ZERO,
            FlowId(0),
            1460,
            SimTime::ZERO,
            &mut d.knobs,
            &mut d.outbox,
        );
        d.cubic
            .on_timeout(&measurement(SimTime::ZERO, 0, 0), &mut ctl);
        assert_eq!(d.knobs.cwnd, 1460);
        assert!((d.cubic.ssthresh - 70.0).abs() < 1e-9);
    }
}
