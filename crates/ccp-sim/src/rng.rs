//! Seeded, stable random numbers.
//!
//! Every random decision of the simulator draws from a [`SimRng`]: ChaCha8 (a stable,
//! documented algorithm from `rand_chacha`), keyed by the scenario seed and a *stream*
//! number, so each component (a link's loss process, its jitter, …) has its own independent
//! sequence and adding draws in one component never shifts another's. The 256-bit key is
//! derived from `(seed, stream)` with SplitMix64 here, not with a library default, so the
//! mapping from seed to numbers cannot change under a dependency upgrade.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Well-known stream numbers used by the simulator itself. Plug-in components should use
/// streams ≥ [`streams::USER_BASE`].
pub mod streams {
    /// Random loss on the bottleneck link.
    pub const LINK_LOSS: u64 = 1;
    /// Jitter on the bottleneck link.
    pub const LINK_JITTER: u64 = 2;
    /// First stream number free for plug-in components and controllers.
    pub const USER_BASE: u64 = 1 << 32;
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic random number generator (ChaCha8) for one stream of one seed.
#[derive(Clone, Debug)]
pub struct SimRng {
    inner: ChaCha8Rng,
}

impl SimRng {
    /// The generator for `stream` under `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut state = seed ^ stream.rotate_left(32) ^ 0x5EED_CC95_0000_0000;
        let mut key = [0u8; 32];
        for chunk in key.chunks_exact_mut(8) {
            chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        let mut inner = ChaCha8Rng::from_seed(key);
        inner.set_stream(stream);
        SimRng { inner }
    }

    /// A uniformly distributed `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.inner.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p` (`p ≤ 0` never, `p ≥ 1` always). Draws exactly one number
    /// whenever `0 < p < 1`, none otherwise.
    pub fn bernoulli(&mut self, p: f64) -> bool {
        if p <= 0.0 || p.is_nan() {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.next_f64() < p
        }
    }

    /// A uniform integer in `[0, n]` (inclusive); `n = 0` gives 0 without drawing.
    pub fn uniform_inclusive(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        if n == u64::MAX {
            return self.next_u64();
        }
        // Lemire's multiply-shift with rejection: unbiased.
        let range = n + 1;
        let threshold = range.wrapping_neg() % range;
        loop {
            let x = self.next_u64();
            let m = (x as u128) * (range as u128);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_is_reproducible() {
        let mut a = SimRng::new(42, 1);
        let mut b = SimRng::new(42, 1);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn streams_and_seeds_differ() {
        let first = |seed, stream| SimRng::new(seed, stream).next_u64();
        assert_ne!(first(42, 1), first(42, 2));
        assert_ne!(first(42, 1), first(43, 1));
    }

    #[test]
    fn known_first_values_do_not_drift() {
        // Pins the seed → numbers mapping: if this changes, recorded runs are no longer
        // reproducible, which must be a deliberate decision.
        let mut r = SimRng::new(1, streams::LINK_LOSS);
        let v: Vec<u64> = (0..2).map(|_| r.next_u64()).collect();
        let mut again = SimRng::new(1, streams::LINK_LOSS);
        assert_eq!(v, vec![again.next_u64(), again.next_u64()]);
        assert_eq!(v, KNOWN);
    }
    const KNOWN: [u64; 2] = [12279869155683734566, 17571029086236806308];

    #[test]
    fn bernoulli_frequency_matches_p() {
        let mut r = SimRng::new(7, 9);
        let n = 200_000;
        let hits = (0..n).filter(|_| r.bernoulli(0.1)).count();
        let freq = hits as f64 / n as f64;
        assert!((freq - 0.1).abs() < 0.005, "freq {freq}");
        assert!(!r.bernoulli(0.0));
        assert!(r.bernoulli(1.0));
    }

    #[test]
    fn uniform_inclusive_covers_range() {
        let mut r = SimRng::new(3, 3);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = r.uniform_inclusive(4);
            assert!(v <= 4);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(r.uniform_inclusive(0), 0);
    }
}
