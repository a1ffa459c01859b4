//! CUBIC (RFC 9438) steered from the agent.
//!
//! The datapath runs the shared [`window`](crate::window) program (per-ACK slow start,
//! per-RTT reports, immediate loss/timeout reports); the agent computes the cubic growth:
//!
//! * `W_cubic(t) = C·(t − K)³ + W_max`, `K = ∛((W_max − cwnd_epoch)/C)`, `t` from the start
//!   of the congestion-avoidance epoch (the first report after a reduction);
//! * per report with `n` packets acked: `cwnd += (target − cwnd)·n/cwnd` (at most up to
//!   `target`), `target = W_cubic(t + RTT)` clamped to `[cwnd, 1.5·cwnd]`;
//! * Reno-friendly region: `W_est += α·n/cwnd`, `α = 3(1−β)/(1+β)` until `W_est` reaches
//!   the window before the reduction, then 1; `cwnd = W_est` when `W_cubic(t) < W_est`;
//! * loss: fast convergence (`W_max = cwnd·(1+β)/2` if the window did not reach the previous
//!   `W_max`), `cwnd = ssthresh = max(β·cwnd, 2)`; timeout: the same `W_max`/ssthresh update
//!   (the datapath already dropped the window to one segment).

use std::time::Duration;

use ccp_agent::{CongAlg, Datapath, DatapathInfo, Programs};

use crate::params::{ParamError, ParamReader, Params, Tunable};
use crate::window::{PROGRAM, PROGRAM_SRC, WindowFlow, WindowLaw};

/// Registry name.
pub const NAME: &str = "cubic";

/// CUBIC's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cubic {
    /// C, segments/s³ (RFC 9438: 0.4).
    pub c: f64,
    /// Multiplicative decrease β (RFC 9438: 0.7).
    pub beta: f64,
    /// Fast convergence (RFC 9438 §4.7).
    pub fast_convergence: bool,
    /// Initial window in bytes; `None`: the datapath's.
    pub init_cwnd: Option<u64>,
}

impl Default for Cubic {
    fn default() -> Self {
        Cubic {
            c: 0.4,
            beta: 0.7,
            fast_convergence: true,
            init_cwnd: None,
        }
    }
}

/// CUBIC's tunables.
pub const TUNABLES: &[Tunable] = &[
    Tunable {
        name: "c",
        default: 0.4,
        description: "cubic scaling constant C, segments/s³",
    },
    Tunable {
        name: "beta",
        default: 0.7,
        description: "multiplicative decrease factor β (0–1)",
    },
    Tunable {
        name: "fast_convergence",
        default: 1.0,
        description: "fast convergence on (1) or off (0)",
    },
    Tunable {
        name: "init_cwnd",
        default: 0.0,
        description: "initial window in bytes (0: the datapath's)",
    },
];

impl Cubic {
    /// Build from tunables.
    pub fn from_params(p: &Params) -> Result<Cubic, ParamError> {
        let r = ParamReader::new(NAME, TUNABLES, p)?;
        Ok(Cubic {
            c: r.above("c", 0.0, 100.0)?,
            beta: r.above("beta", 0.0, 0.999)?,
            fast_convergence: r.flag("fast_convergence")?,
            init_cwnd: r.optional_integer("init_cwnd", 1, u64::from(u32::MAX))?,
        })
    }

    /// Set C.
    pub fn with_c(mut self, c: f64) -> Cubic {
        self.c = c;
        self
    }

    /// Set β.
    pub fn with_beta(mut self, beta: f64) -> Cubic {
        self.beta = beta;
        self
    }

    /// Turn fast convergence on or off.
    pub fn with_fast_convergence(mut self, on: bool) -> Cubic {
        self.fast_convergence = on;
        self
    }
}

impl CongAlg for Cubic {
    type Flow = WindowFlow<CubicLaw>;

    fn name(&self) -> &str {
        NAME
    }

    fn datapath_programs(&self) -> Programs {
        crate::common::one_program(PROGRAM, PROGRAM_SRC)
    }

    fn new_flow(&self, datapath: Datapath, info: DatapathInfo) -> Self::Flow {
        WindowFlow::start(NAME, datapath, &info, CubicLaw::new(*self), self.init_cwnd)
    }
}

/// CUBIC's control law (windows in packets).
#[derive(Clone, Debug, PartialEq)]
pub struct CubicLaw {
    c: f64,
    beta: f64,
    fast_convergence: bool,
    /// `W_max`, packets.
    pub w_max: f64,
    /// `K`, seconds.
    pub k: f64,
    /// Start of the congestion-avoidance epoch.
    pub epoch_start: Option<Duration>,
    /// Window at the epoch start.
    pub cwnd_epoch: f64,
    /// Window before the last reduction.
    pub cwnd_prior: f64,
    /// Reno-friendly estimate.
    pub w_est: f64,
    alpha: f64,
}

impl CubicLaw {
    /// A law with `cfg`'s constants and no history.
    pub fn new(cfg: Cubic) -> CubicLaw {
        CubicLaw {
            c: cfg.c,
            beta: cfg.beta,
            fast_convergence: cfg.fast_convergence,
            w_max: 0.0,
            k: 0.0,
            epoch_start: None,
            cwnd_epoch: 0.0,
            cwnd_prior: 0.0,
            w_est: 0.0,
            alpha: Self::reno_alpha(cfg.beta),
        }
    }

    /// `α = 3(1 − β)/(1 + β)`.
    pub fn reno_alpha(beta: f64) -> f64 {
        3.0 * (1.0 - beta) / (1.0 + beta)
    }

    /// `W_cubic(t)`, `t` in seconds since the epoch start.
    pub fn w_cubic(&self, t: f64) -> f64 {
        self.c * (t - self.k).powi(3) + self.w_max
    }

    fn reduce(&mut self, cwnd: f64) -> f64 {
        self.epoch_start = None;
        self.cwnd_prior = cwnd;
        self.w_max = if self.fast_convergence && cwnd < self.w_max {
            cwnd * (1.0 + self.beta) / 2.0
        } else {
            cwnd
        };
        self.alpha = Self::reno_alpha(self.beta);
        (cwnd * self.beta).max(crate::window::MIN_WINDOW)
    }
}

impl WindowLaw for CubicLaw {
    fn on_ack(&mut self, cwnd: f64, acked: f64, now: Duration, rtt: Duration) -> f64 {
        let start = match self.epoch_start {
            Some(s) => s,
            None => {
                self.epoch_start = Some(now);
                if cwnd < self.w_max {
                    self.k = ((self.w_max - cwnd) / self.c).cbrt();
                } else {
                    self.k = 0.0;
                    self.w_max = cwnd;
                }
                self.cwnd_epoch = cwnd;
                self.w_est = cwnd;
                now
            }
        };
        let t = now.saturating_sub(start).as_secs_f64();
        self.w_est += self.alpha * acked / cwnd;
        if self.w_est >= self.cwnd_prior {
            self.alpha = 1.0;
        }
        if self.w_cubic(t) < self.w_est {
            return self.w_est;
        }
        let target = self.w_cubic(t + rtt.as_secs_f64()).clamp(cwnd, 1.5 * cwnd);
        (cwnd + (target - cwnd) * acked / cwnd).min(target)
    }

    fn on_loss(&mut self, cwnd: f64, _now: Duration) -> (f64, f64) {
        let s = self.reduce(cwnd);
        (s, s)
    }

    fn on_timeout(&mut self, cwnd: f64, _now: Duration) -> f64 {
        self.reduce(cwnd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;

    const MSS: u64 = 1000;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    #[test]
    fn window_after_a_loss_follows_the_cubic_function_within_2_percent() {
        let mut h = Harness::new(Cubic::default(), MSS as u32, 10 * MSS as u32).unwrap();
        assert_eq!(h.cwnd(), Some(10 * MSS));
        let rtt_us = 20_000;
        // A loss episode starts at 1000 packets: cwnd = ssthresh = 700, W_max = 1000.
        h.report(
            ms(1000),
            &[
                ("episode", 1),
                ("loss", 3),
                ("cwnd", 1000 * MSS),
                ("rtt", rtt_us),
            ],
        )
        .unwrap();
        assert_eq!(h.cwnd(), Some(700 * MSS));
        assert_eq!(h.control("ssthresh"), Some(700 * MSS));
        let k = (300.0f64 / 0.4).cbrt();
        // Per-RTT reports with an ACK clock: one window acked per RTT, and the datapath
        // reached the target the agent set one report earlier.
        let mut cwnd = 700 * MSS;
        let mut t = 1000;
        let mut epoch: Option<u64> = None;
        let mut cubic_region = 0;
        let alpha = CubicLaw::reno_alpha(0.7);
        let mut w_est = 700.0;
        while t < 1000 + (2.0 * k * 1000.0) as u64 {
            t += 20;
            h.report(ms(t), &[("acked", cwnd), ("cwnd", cwnd), ("rtt", rtt_us)])
                .unwrap();
            let target = h.control("ca_target").unwrap();
            let gain = h.control("ca_gain").unwrap();
            // The growth is spread over the next RTT's ACKs: gain = (target − cwnd)/cwnd.
            let expected = ((target - cwnd) as f64 / cwnd as f64 * 65536.0).round() as u64;
            assert!(gain.abs_diff(expected) <= 1, "{gain} vs {expected}");
            let e = *epoch.get_or_insert(t);
            let ts = (t - e) as f64 / 1000.0;
            // The window at the report follows W(t) (or the Reno-friendly estimate: +α
            // per RTT up to the window before the loss, then +1 per RTT).
            let w = 0.4 * (ts - k).powi(3) + 1000.0;
            let got = cwnd as f64 / MSS as f64;
            if w >= w_est {
                assert!(
                    (got - w).abs() / w <= 0.02,
                    "t = {ts:.2} s: window {got:.1}, W(t) = {w:.1}"
                );
                cubic_region += 1;
            } else {
                assert!(
                    (got - w_est).abs() / w_est <= 0.02,
                    "t = {ts:.2} s: window {got:.1}, W_est = {w_est:.1}"
                );
            }
            w_est += if w_est >= 1000.0 { 1.0 } else { alpha };
            cwnd = target;
        }
        // Most of the epoch (the concave part and the plateau) is in the cubic region.
        assert!(cubic_region > 500, "{cubic_region}");
        // It went through the plateau and beyond W_max.
        assert!(cwnd > 1000 * MSS);
    }

    #[test]
    fn fast_convergence_lowers_w_max_when_the_window_did_not_recover() {
        let mut law = CubicLaw::new(Cubic::default());
        let (c, s) = law.on_loss(100.0, ms(0));
        assert!((c - 70.0).abs() < 1e-9 && (s - 70.0).abs() < 1e-9);
        assert_eq!(law.w_max, 100.0);
        // Next loss below W_max: W_max = cwnd·(1+β)/2.
        law.on_loss(80.0, ms(1000));
        assert!((law.w_max - 80.0 * 0.85).abs() < 1e-9);
        // Without fast convergence W_max is the window at the loss.
        let mut law = CubicLaw::new(Cubic::default().with_fast_convergence(false));
        law.on_loss(100.0, ms(0));
        law.on_loss(80.0, ms(1000));
        assert_eq!(law.w_max, 80.0);
    }

    #[test]
    fn reno_friendly_region_grows_like_aimd_with_cubic_alpha_on_short_rtts() {
        // Small window, short RTT: W_cubic grows slower than Reno-friendly W_est.
        let mut law = CubicLaw::new(Cubic::default());
        law.on_loss(20.0, ms(0));
        let mut cwnd = 14.0;
        let rtt = ms(1);
        let alpha = CubicLaw::reno_alpha(0.7);
        for i in 1..=10u64 {
            let before = cwnd;
            cwnd = law.on_ack(cwnd, cwnd, ms(i), rtt);
            // one window acked: W_est grows by α packets per RTT
            assert!(
                (cwnd - before - alpha).abs() < 1e-9,
                "{i}: {before} -> {cwnd}"
            );
        }
        // Once W_est passes the window before the reduction, α becomes 1.
        for i in 11..=40u64 {
            cwnd = law.on_ack(cwnd, cwnd, ms(i), rtt);
        }
        assert!(cwnd > 20.0);
        let before = cwnd;
        cwnd = law.on_ack(cwnd, cwnd, ms(41), rtt);
        assert!((cwnd - before - 1.0).abs() < 1e-9);
    }

    #[test]
    fn timeout_sets_ssthresh_and_the_datapath_slow_starts() {
        let mut h = Harness::new(Cubic::default(), MSS as u32, 10 * MSS as u32).unwrap();
        let set = h
            .report(
                ms(500),
                &[("timeout", 1), ("cwnd", 200 * MSS), ("rtt", 20_000)],
            )
            .unwrap()
            .to_vec();
        // Only ssthresh: the program already set Cwnd to one MSS.
        assert_eq!(set, vec![("ssthresh".to_owned(), 140 * MSS)]);
        // Reports below ssthresh: the datapath slow-starts; the agent follows (it only
        // repeats the threshold).
        let set = h
            .report(
                ms(600),
                &[("acked", 4 * MSS), ("cwnd", 8 * MSS), ("rtt", 20_000)],
            )
            .unwrap()
            .to_vec();
        assert_eq!(set, vec![("ssthresh".to_owned(), 140 * MSS)]);
        // Past ssthresh: congestion avoidance from the datapath's window.
        h.report(
            ms(700),
            &[("acked", 150 * MSS), ("cwnd", 150 * MSS), ("rtt", 20_000)],
        )
        .unwrap();
        let c = h.control("ca_target").unwrap();
        assert!((150 * MSS..160 * MSS).contains(&c), "{c}");
    }

    #[test]
    fn one_reduction_per_episode_and_no_growth_until_it_ends() {
        let mut h = Harness::new(Cubic::default(), MSS as u32, 10 * MSS as u32).unwrap();
        h.report(
            ms(100),
            &[("acked", 10 * MSS), ("cwnd", 100 * MSS), ("rtt", 20_000)],
        )
        .unwrap();
        // The datapath starts an episode: the agent cuts (window and ssthresh).
        let set = h
            .report(
                ms(120),
                &[
                    ("episode", 1),
                    ("recovering", 1),
                    ("loss", 1),
                    ("cwnd", 100 * MSS),
                ],
            )
            .unwrap()
            .to_vec();
        let cut = vec![
            ("Cwnd".to_owned(), 70 * MSS),
            ("ssthresh".to_owned(), 70 * MSS),
        ];
        assert_eq!(set, cut);
        // More losses and deliveries inside the episode: no second cut, no growth.
        let set = h
            .report(
                ms(170),
                &[
                    ("loss", 2),
                    ("recovering", 1),
                    ("acked", 90 * MSS),
                    ("cwnd", 70 * MSS),
                ],
            )
            .unwrap()
            .to_vec();
        assert_eq!(set, vec![("Cwnd".to_owned(), 70 * MSS)]);
        // The episode is over: growth resumes from the cut window.
        h.report(ms(190), &[("acked", 70 * MSS), ("cwnd", 70 * MSS)])
            .unwrap();
        assert!(h.control("ca_target").unwrap() > 70 * MSS);
        // A new episode cuts again, from the window the datapath had (fast convergence
        // lowers W_max, the window is β·cwnd).
        h.report(ms(200), &[("episode", 1), ("cwnd", 71 * MSS)])
            .unwrap();
        assert_eq!(h.cwnd(), Some(49_700));
    }

    #[test]
    fn params_are_checked() {
        assert_eq!(
            Cubic::from_params(&Params::new()).unwrap(),
            Cubic::default()
        );
        let c = Cubic::from_params(
            &Params::new()
                .with("beta", 0.8)
                .with("fast_convergence", 0.0),
        )
        .unwrap();
        assert_eq!((c.beta, c.fast_convergence), (0.8, false));
        assert!(Cubic::from_params(&Params::new().with("beta", 1.5)).is_err());
        assert!(Cubic::from_params(&Params::new().with("gain", 1.0)).is_err());
    }
}
