//! Link-capacity traces in mahimahi's packet-delivery-opportunity format.
//!
//! One integer per line: a time in milliseconds from the start of the trace. Each line is one
//! opportunity for [`OPPORTUNITY_BYTES`] bytes to leave the bottleneck queue; repeated
//! timestamps give several opportunities in the same millisecond. Timestamps never decrease.
//! When the trace ends it repeats, offset by its last timestamp (the *period*).

use std::path::Path;
use std::sync::Arc;

use thiserror::Error;

use crate::time::{NANOS_PER_MILLI, SimTime};

/// Bytes that one delivery opportunity lets through (mahimahi's fixed packet size).
pub const OPPORTUNITY_BYTES: u32 = 1500;

/// Traces compiled into the library, by file name.
pub const BUILTIN_TRACES: &[(&str, &str)] = &[(
    "Verizon-LTE-short.down",
    include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../traces/Verizon-LTE-short.down"
    )),
)];

/// Why a trace could not be loaded.
#[derive(Debug, Error)]
pub enum TraceError {
    /// The file could not be read.
    #[error("cannot read trace {path}: {source}")]
    Io {
        /// The path tried.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a non-negative integer.
    #[error("trace line {line}: {text:?} is not a millisecond timestamp")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// The offending text (truncated).
        text: String,
    },
    /// A timestamp is smaller than the one before it.
    #[error("trace line {line}: timestamp {value} is smaller than the previous one ({previous})")]
    Decreasing {
        /// 1-based line number.
        line: usize,
        /// The timestamp on that line.
        value: u64,
        /// The timestamp before it.
        previous: u64,
    },
    /// No timestamps at all.
    #[error("trace has no delivery opportunities")]
    Empty,
    /// The last timestamp is 0, so the trace cannot repeat.
    #[error("trace's last timestamp is 0 ms: the trace cannot loop (period 0)")]
    ZeroPeriod,
}

/// A parsed, validated trace. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Trace {
    inner: Arc<TraceInner>,
}

#[derive(Debug)]
struct TraceInner {
    name: String,
    ts_ms: Vec<u64>,
    period_ms: u64,
}

impl Trace {
    /// Parse trace text. Blank lines are ignored.
    pub fn parse(name: &str, text: &str) -> Result<Trace, TraceError> {
        let mut ts_ms = Vec::with_capacity(text.len() / 4);
        let mut previous = 0u64;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let value: u64 = line.parse().map_err(|_| TraceError::BadLine {
                line: i + 1,
                text: line.chars().take(40).collect(),
            })?;
            if value < previous {
                return Err(TraceError::Decreasing {
                    line: i + 1,
                    value,
                    previous,
                });
            }
            previous = value;
            ts_ms.push(value);
        }
        let period_ms = *ts_ms.last().ok_or(TraceError::Empty)?;
        if period_ms == 0 {
            return Err(TraceError::ZeroPeriod);
        }
        Ok(Trace {
            inner: Arc::new(TraceInner {
                name: name.to_string(),
                ts_ms,
                period_ms,
            }),
        })
    }

    /// A trace compiled into the library (see [`BUILTIN_TRACES`]).
    pub fn builtin(name: &str) -> Option<Trace> {
        BUILTIN_TRACES
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(n, text)| Trace::parse(n, text).ok())
    }

    /// Load a trace: a built-in name, or else a file path.
    pub fn load(name_or_path: &str, base_dir: Option<&Path>) -> Result<Trace, TraceError> {
        if let Some(t) = Trace::builtin(name_or_path) {
            return Ok(t);
        }
        let p = Path::new(name_or_path);
        let path = match base_dir {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        };
        let text = std::fs::read_to_string(&path).map_err(|source| TraceError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Trace::parse(name_or_path, &text)
    }

    /// The name it was loaded under.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Number of opportunities in one period.
    pub fn len(&self) -> usize {
        self.inner.ts_ms.len()
    }

    /// Always false: an empty trace is rejected at parse time.
    pub fn is_empty(&self) -> bool {
        self.inner.ts_ms.is_empty()
    }

    /// Loop period in milliseconds (the last timestamp).
    pub fn period_ms(&self) -> u64 {
        self.inner.period_ms
    }

    /// Time of opportunity number `k` (counting across loops), in milliseconds.
    pub fn opportunity_ms(&self, k: u64) -> u64 {
        let n = self.inner.ts_ms.len() as u64;
        let lap = k / n;
        let idx = (k % n) as usize;
        lap.saturating_mul(self.inner.period_ms)
            .saturating_add(self.inner.ts_ms[idx])
    }

    /// Time of opportunity number `k` as a [`SimTime`].
    pub fn opportunity_time(&self, k: u64) -> SimTime {
        SimTime(self.opportunity_ms(k).saturating_mul(NANOS_PER_MILLI))
    }

    /// Number of opportunities strictly before `t`; equivalently the index of the first
    /// opportunity at or after `t`.
    pub fn count_before(&self, t: SimTime) -> u64 {
        // opportunity time (ms) * 1e6 < t  ⇔  ms < T with T = ceil(t / 1e6).
        // Lap L holds times L·P + ts[i] with ts[i] in [0, P]: laps below T/P − 1 count
        // whole, lap T/P − 1 counts entries below P + (T mod P), lap T/P entries below
        // T mod P, later laps nothing.
        let t_ms = t.0.div_ceil(NANOS_PER_MILLI);
        let ts = &self.inner.ts_ms;
        let n = ts.len() as u64;
        let period = self.inner.period_ms;
        let lap = t_ms / period;
        let rem = t_ms % period;
        let below = |x: u64| ts.partition_point(|&v| v < x) as u64;
        let mut count = below(rem);
        if lap >= 1 {
            count += (lap - 1) * n + below(period + rem);
        }
        count
    }

    /// Mean capacity over one period, in bit/s.
    pub fn mean_rate_bps(&self) -> f64 {
        self.len() as f64 * f64::from(OPPORTUNITY_BYTES) * 8.0 * 1000.0 / self.period_ms() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_loops() {
        let t = Trace::parse("t", "0\n0\n1\n3\n").unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(t.period_ms(), 3);
        let times: Vec<u64> = (0..9).map(|k| t.opportunity_ms(k)).collect();
        assert_eq!(times, vec![0, 0, 1, 3, 3, 3, 4, 6, 6]);
        // count_before agrees with a brute-force count over the looped sequence
        for t_ns in (0..12_000_000u64).step_by(250_000) {
            let brute = (0..100).filter(|&k| t.opportunity_time(k).0 < t_ns).count() as u64;
            assert_eq!(t.count_before(SimTime(t_ns)), brute, "t={t_ns}");
        }
    }

    #[test]
    fn single_line_one_is_twelve_mbit() {
        let t = Trace::parse("one", "1\n").unwrap();
        assert!((t.mean_rate_bps() - 12e6).abs() < 1.0);
        assert_eq!(t.opportunity_ms(0), 1);
        assert_eq!(t.opportunity_ms(5), 6);
    }

    #[test]
    fn rejects_bad_traces() {
        assert!(matches!(Trace::parse("x", ""), Err(TraceError::Empty)));
        assert!(matches!(
            Trace::parse("x", "0\n0\n"),
            Err(TraceError::ZeroPeriod)
        ));
        assert!(matches!(
            Trace::parse("x", "1\n5\n4\n"),
            Err(TraceError::Decreasing { line: 3, .. })
        ));
        assert!(matches!(
            Trace::parse("x", "1\nabc\n"),
            Err(TraceError::BadLine { line: 2, .. })
        ));
        assert!(matches!(
            Trace::parse("x", "-1\n"),
            Err(TraceError::BadLine { line: 1, .. })
        ));
        assert!(matches!(
            Trace::load("/nonexistent/trace", None),
            Err(TraceError::Io { .. })
        ));
    }

    #[test]
    fn builtin_verizon_is_embedded() {
        let t = Trace::builtin("Verizon-LTE-short.down").unwrap();
        assert_eq!(t.len(), 58_655);
        assert!(t.period_ms() > 1000);
        let rate = t.mean_rate_bps();
        assert!(rate > 1e6 && rate < 100e6, "rate {rate}");
    }
}
