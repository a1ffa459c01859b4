//! What a run measured: time series, the per-run [`Summary`], and Jain's fairness index.

use std::fmt;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::time::SimTime;

/// One row of the per-flow time series (taken every sampling interval while the flow runs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FlowSample {
    /// Sample time.
    pub t: SimTime,
    /// Flow index.
    pub flow: u32,
    /// cwnd, bytes.
    pub cwnd_bytes: u32,
    /// Pacing rate, bytes/s (0 = none).
    pub pacing_rate: u64,
    /// Wire bytes received by the flow's receiver during the interval, as bit/s.
    pub throughput_bps: f64,
    /// Payload bytes delivered in order during the interval, as bit/s.
    pub goodput_bps: f64,
    /// Latest RTT sample, µs.
    pub rtt_us: u64,
    /// Smoothed RTT, µs.
    pub srtt_us: u64,
    /// Bytes in flight.
    pub inflight_bytes: u32,
    /// Retransmissions so far.
    pub retransmits: u64,
    /// Packets of this flow dropped by the link so far.
    pub losses: u64,
}

/// One row of the link time series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LinkSample {
    /// Sample time.
    pub t: SimTime,
    /// Packets waiting at the sample instant.
    pub queue_packets: u32,
    /// Bytes waiting at the sample instant.
    pub queue_bytes: u64,
    /// Mean queueing delay of the packets that arrived during the interval, µs (`None` if
    /// none arrived).
    pub queue_delay_us: Option<f64>,
    /// Fraction of the interval's capacity that was used.
    pub utilization: f64,
    /// Packets dropped by the link so far (drop-tail + random).
    pub drops: u64,
}

/// Per-flow summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowSummary {
    /// Flow index.
    pub flow: u32,
    /// Controller name.
    pub alg: String,
    /// Start, s.
    pub start_s: f64,
    /// End of its active period (stop time or end of run), s.
    pub end_s: f64,
    /// Wire bytes received over the active period, bit/s.
    pub throughput_bps: f64,
    /// In-order payload bytes delivered over the active period, bit/s.
    pub goodput_bps: f64,
    /// Throughput over the fairness window, bit/s (0 if not active in it).
    pub window_throughput_bps: f64,
    /// Fraction of the link's capacity during the active period that this flow received.
    pub share: f64,
    /// Median RTT sample, ms.
    pub rtt_p50_ms: f64,
    /// 95th-percentile RTT sample, ms.
    pub rtt_p95_ms: f64,
    /// Mean queueing delay of its packets, ms.
    pub queue_delay_mean_ms: f64,
    /// Median queueing delay, ms.
    pub queue_delay_median_ms: f64,
    /// 95th-percentile queueing delay, ms.
    pub queue_delay_p95_ms: f64,
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Packets dropped by the link (drop-tail + random).
    pub losses: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Segments transmitted (new and retransmitted).
    pub packets_sent: u64,
}

/// Whole-run summary; serializes to the `--json` output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Simulated seconds.
    pub duration_s: f64,
    /// Mean link capacity over the measured period, bit/s.
    pub link_capacity_bps: f64,
    /// Bytes carried ÷ capacity from the first flow start to the end (0–1).
    pub utilization: f64,
    /// Jain's index of the flows' throughputs over the fairness window.
    pub jain_index: f64,
    /// Fairness window start, s.
    pub jain_window_start_s: f64,
    /// Fairness window end, s.
    pub jain_window_end_s: f64,
    /// Mean queueing delay over all packets, ms.
    pub queue_delay_mean_ms: f64,
    /// Median queueing delay over all packets, ms.
    pub queue_delay_median_ms: f64,
    /// 95th-percentile queueing delay over all packets, ms.
    pub queue_delay_p95_ms: f64,
    /// Drop-tail drops.
    pub queue_drops: u64,
    /// Random losses.
    pub random_drops: u64,
    /// Events processed.
    pub events: u64,
    /// Data packets transmitted by all senders.
    pub packets_sent: u64,
    /// One entry per flow.
    pub flows: Vec<FlowSummary>,
}

/// Jain's fairness index `(Σx)² / (n·Σx²)`: 1 when all equal, 1/n when one takes all.
/// Empty input or all zeros give 1.
pub fn jain_index(xs: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let sum: f64 = xs.iter().sum();
    let sq: f64 = xs.iter().map(|x| x * x).sum();
    if xs.is_empty() || sq <= 0.0 {
        1.0
    } else {
        sum * sum / (n * sq)
    }
}

/// A latency histogram: nanosecond inputs recorded in microseconds (1 µs … 1 h, 3
/// significant digits, 32-bit counters: about 100 KB each).
pub(crate) struct LatencyHist {
    h: Histogram<u32>,
}

impl LatencyHist {
    pub(crate) fn new() -> LatencyHist {
        // Constant bounds, valid by construction (low ≥ 1, high ≥ 2·low, sigfig ≤ 5).
        let h = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant histogram bounds");
        LatencyHist { h }
    }

    /// Record a latency given in nanoseconds (rounded to the nearest µs).
    pub(crate) fn record_ns(&mut self, ns: u64) {
        self.h.saturating_record(ns.saturating_add(500) / 1_000);
    }

    /// The `q` quantile in ms (0 when empty).
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        if self.h.is_empty() {
            0.0
        } else {
            self.h.value_at_quantile(q) as f64 / 1e3
        }
    }

    /// The mean in ms (0 when empty).
    pub(crate) fn mean_ms(&self) -> f64 {
        if self.h.is_empty() {
            0.0
        } else {
            self.h.mean() / 1e3
        }
    }
}

fn mbps(bps: f64) -> String {
    format!("{:.2}", bps / 1e6)
}

impl fmt::Display for Summary {
    /// A terminal table: one line per flow, then the totals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "scenario {} · {:.1} s simulated · seed {} · link {} Mbit/s",
            self.scenario,
            self.duration_s,
            self.seed,
            mbps(self.link_capacity_bps)
        )?;
        writeln!(
            f,
            "{:>4}  {:<14} {:>10} {:>7} {:>9} {:>9} {:>10} {:>10} {:>7} {:>7}",
            "flow",
            "alg",
            "tput Mb/s",
            "share",
            "rtt p50",
            "rtt p95",
            "qdelay avg",
            "qdelay p95",
            "retx",
            "losses"
        )?;
        for fl in &self.flows {
            writeln!(
                f,
                "{:>4}  {:<14} {:>10} {:>6.1}% {:>7.2}ms {:>7.2}ms {:>8.2}ms {:>8.2}ms {:>7} {:>7}",
                fl.flow,
                truncate(&fl.alg, 14),
                mbps(fl.throughput_bps),
                fl.share * 100.0,
                fl.rtt_p50_ms,
                fl.rtt_p95_ms,
                fl.queue_delay_mean_ms,
                fl.queue_delay_p95_ms,
                fl.retransmits,
                fl.losses
            )?;
        }
        writeln!(
            f,
            "utilization {:.1}% · Jain index {:.3} (over {:.0}–{:.0} s) · queueing delay mean {:.2} ms, p95 {:.2} ms · drops {} queue + {} random",
            self.utilization * 100.0,
            self.jain_index,
            self.jain_window_start_s,
            self.jain_window_end_s,
            self.queue_delay_mean_ms,
            self.queue_delay_p95_ms,
            self.queue_drops,
            self.random_drops
        )
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(std::iter::once('…')).collect()
    }
}

impl Summary {
    /// The summary as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_extremes() {
        assert!((jain_index(&[5.0, 5.0, 5.0]) - 1.0).abs() < 1e-12);
        assert!((jain_index(&[1.0, 0.0, 0.0, 0.0]) - 0.25).abs() < 1e-12);
        assert!((jain_index(&[3.0, 1.0]) - 0.8).abs() < 1e-12);
        assert_eq!(jain_index(&[]), 1.0);
    }

    #[test]
    fn histogram_quantiles_in_ms() {
        let mut h = LatencyHist::new();
        for v in 1..=100u64 {
            h.record_ns(v * 1_000_000);
        }
        h.record_ns(0);
        let p50 = h.quantile_ms(0.5);
        assert!((p50 - 50.0).abs() < 0.5, "{p50}");
        assert!((h.quantile_ms(0.95) - 95.0).abs() < 1.0);
        assert!((h.mean_ms() - 5050.0 / 101.0).abs() < 0.1);
        assert_eq!(LatencyHist::new().quantile_ms(0.5), 0.0);
    }
}
