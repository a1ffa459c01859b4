//! Scenarios: what to simulate, as a Rust value or a TOML file.
//!
//! ```toml
//! name = "my-link"          # optional
//! duration_s = 60.0         # simulated seconds (default 60)
//! seed = 1                  # RNG seed (default 1)
//! sample_interval_ms = 10.0 # time-series sampling period (default 10)
//! fairness_window_s = 40.0  # Jain index over the last N seconds (default 40)
//! mss = 1460                # payload bytes per segment (default 1460)
//! header_bytes = 40         # per-packet header bytes: wire size = mss + header (default 40)
//! ipc_delay_us = 20.0       # delay of control-plane messages (default 20 µs)
//! min_rto_ms = 200.0        # RTO lower bound (default 200 ms, as Linux)
//!
//! [link]
//! rate_mbps = 96.0          # or: trace = "Verizon-LTE-short.down" (built in) or a file path
//! delay_ms = 10.0           # one-way propagation delay
//! queue_packets = 160       # or: queue_bytes = 240000
//! loss = 0.0001             # random loss probability in [0, 1) (default 0)
//! jitter_ms = 0.0           # uniform extra delay in [0, jitter] (default 0)
//! reorder = false           # let jitter reorder packets (default false)
//! ecn_threshold_packets = 20  # CE-mark when this many packets wait (default: no ECN)
//! ack_delay_ms = 10.0       # ACK path delay (default: delay_ms)
//!
//! [[flow]]
//! alg = "cubic"
//! start_s = 0.0             # default 0
//! stop_s = 30.0             # default: runs to the end
//! count = 1                 # identical copies of this flow (default 1)
//! init_cwnd_packets = 10    # default 10
//! extra_delay_ms = 0.0      # added to this flow's ACK path (longer RTT)
//! params = { cwnd_packets = 100 }  # controller parameters
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::link::{Capacity, LinkParams, QueueLimit};
use crate::registry::ControllerFactory;
use crate::time::SimTime;
use crate::trace::{Trace, TraceError};

/// Names of the built-in scenarios.
pub const BUILTIN_SCENARIOS: &[&str] = &["fixed", "cell", "drop", "bbr-demo"];

/// Why a scenario is unusable.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// The TOML text does not parse or has unknown/mistyped keys.
    #[error("scenario TOML: {0}")]
    Toml(String),
    /// A field has an impossible value.
    #[error("scenario field {field}: {reason}")]
    Invalid {
        /// Dotted path of the field, e.g. `link.rate_mbps` or `flow[1].start_s`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The link trace could not be loaded.
    #[error("scenario field {field}: {source}")]
    Trace {
        /// The field naming the trace.
        field: String,
        /// The trace error.
        #[source]
        source: TraceError,
    },
    /// The scenario file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Io {
        /// The path tried.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Neither a built-in scenario nor a `.toml` file.
    #[error("unknown scenario {name:?} (built in: {known}; or give a .toml file)")]
    UnknownScenario {
        /// What was asked for.
        name: String,
        /// The built-in names.
        known: String,
    },
    /// A flow names a controller the factory does not know.
    #[error("scenario field flow[{flow}].alg: unknown controller {name:?} (known: {known})")]
    UnknownController {
        /// Index of the flow spec.
        flow: usize,
        /// The name.
        name: String,
        /// Known names, comma-separated.
        known: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

fn d_name() -> String {
    "custom".into()
}
fn d_duration() -> f64 {
    60.0
}
fn d_seed() -> u64 {
    1
}
fn d_sample() -> f64 {
    10.0
}
fn d_window() -> f64 {
    40.0
}
fn d_mss() -> u32 {
    1460
}
fn d_header() -> u32 {
    40
}
fn d_ipc() -> f64 {
    20.0
}
fn d_min_rto() -> f64 {
    200.0
}
fn d_one() -> u32 {
    1
}
fn d_init_cwnd() -> u32 {
    10
}

/// A whole simulation setup. See the module documentation for the TOML form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A label for reports.
    #[serde(default = "d_name")]
    pub name: String,
    /// Simulated seconds.
    #[serde(default = "d_duration")]
    pub duration_s: f64,
    /// Seed of every random stream.
    #[serde(default = "d_seed")]
    pub seed: u64,
    /// Time-series sampling period, ms.
    #[serde(default = "d_sample")]
    pub sample_interval_ms: f64,
    /// Jain fairness is computed over the last this many seconds (clipped to the run).
    #[serde(default = "d_window")]
    pub fairness_window_s: f64,
    /// Payload bytes per segment.
    #[serde(default = "d_mss")]
    pub mss: u32,
    /// Header bytes per packet (wire size = mss + header_bytes).
    #[serde(default = "d_header")]
    pub header_bytes: u32,
    /// Delay of control-plane messages, µs.
    #[serde(default = "d_ipc")]
    pub ipc_delay_us: f64,
    /// RTO lower bound, ms.
    #[serde(default = "d_min_rto")]
    pub min_rto_ms: f64,
    /// The bottleneck link.
    pub link: LinkSpec,
    /// The flows (TOML: `[[flow]]`).
    #[serde(default, rename = "flow")]
    pub flows: Vec<FlowSpec>,
    /// Directory relative trace paths are resolved against (the scenario file's).
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

/// The bottleneck link of a dumbbell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Constant rate, Mbit/s (exclusive with `trace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_mbps: Option<f64>,
    /// Trace: a built-in name or a file path (exclusive with `rate_mbps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// One-way propagation delay, ms.
    #[serde(default)]
    pub delay_ms: f64,
    /// Drop-tail limit in packets (exclusive with `queue_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_packets: Option<u32>,
    /// Drop-tail limit in bytes (exclusive with `queue_packets`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_bytes: Option<u64>,
    /// Random loss probability in `[0, 1)`.
    #[serde(default)]
    pub loss: f64,
    /// Uniform jitter bound, ms.
    #[serde(default)]
    pub jitter_ms: f64,
    /// Whether jitter may reorder packets.
    #[serde(default)]
    pub reorder: bool,
    /// ECN CE-marking threshold in waiting packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecn_threshold_packets: Option<u32>,
    /// ACK path delay, ms (default: `delay_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_delay_ms: Option<f64>,
}

/// One flow (or `count` identical flows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    /// Controller name, resolved by the factory.
    pub alg: String,
    /// Start time, s.
    #[serde(default)]
    pub start_s: f64,
    /// Stop time, s (default: the end of the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_s: Option<f64>,
    /// Number of identical flows.
    #[serde(default = "d_one")]
    pub count: u32,
    /// Initial window, segments.
    #[serde(default = "d_init_cwnd")]
    pub init_cwnd_packets: u32,
    /// Extra one-way delay on this flow's ACK path, ms.
    #[serde(default)]
    pub extra_delay_ms: f64,
    /// Controller parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, f64>,
}

impl FlowSpec {
    /// One flow of `alg` starting at 0 and running to the end.
    pub fn new(alg: &str) -> FlowSpec {
        FlowSpec {
            alg: alg.to_string(),
            start_s: 0.0,
            stop_s: None,
            count: 1,
            init_cwnd_packets: 10,
            extra_delay_ms: 0.0,
            params: BTreeMap::new(),
        }
    }
}

/// One flow after expanding `count`, with times resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedFlow {
    /// Index of the [`FlowSpec`] it came from.
    pub spec_index: usize,
    /// Controller name.
    pub alg: String,
    /// Start.
    pub start: SimTime,
    /// Stop (`None` = end of run).
    pub stop: Option<SimTime>,
    /// Initial window, segments.
    pub init_cwnd_packets: u32,
    /// ACK path delay for this flow (link ACK delay + extra).
    pub ack_delay: SimTime,
    /// Controller parameters.
    pub params: BTreeMap<String, f64>,
}

/// A validated scenario in simulator units.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Link parameters.
    pub link: LinkParams,
    /// Flows, expanded.
    pub flows: Vec<ResolvedFlow>,
    /// Run length.
    pub duration: SimTime,
    /// Sampling period.
    pub sample_interval: SimTime,
    /// Fairness window length.
    pub fairness_window: SimTime,
    /// IPC delay.
    pub ipc_delay: SimTime,
    /// RTO lower bound.
    pub min_rto: SimTime,
}

fn check_range(field: &str, v: f64, lo: f64, hi: f64, unit: &str) -> Result<(), ScenarioError> {
    if !v.is_finite() || v < lo || v > hi {
        return Err(invalid(
            field,
            format!("must be between {lo} and {hi} {unit}, got {v}"),
        ));
    }
    Ok(())
}

/// Most flows one simulation accepts (after expanding `count`).
pub const MAX_FLOWS: usize = 1000;
/// Most time-series rows (samples × (flows + 1)) a run may record (about 1 GB).
pub const MAX_SAMPLE_ROWS: f64 = 12e6;

/// Largest delay accepted anywhere (10 s one way): anything above is taken as a unit mistake.
pub const MAX_DELAY_MS: f64 = 10_000.0;

impl Scenario {
    /// A scenario with one link, no flows, and defaults everywhere else.
    pub fn new(name: &str, link: LinkSpec) -> Scenario {
        Scenario {
            name: name.to_string(),
            duration_s: d_duration(),
            seed: d_seed(),
            sample_interval_ms: d_sample(),
            fairness_window_s: d_window(),
            mss: d_mss(),
            header_bytes: d_header(),
            ipc_delay_us: d_ipc(),
            min_rto_ms: d_min_rto(),
            link,
            flows: vec![],
            base_dir: None,
        }
    }

    /// A built-in scenario (one native `cubic` flow, 60 s, seed 1):
    /// `fixed` (96 Mbit/s, 10 ms one way, 160-packet drop-tail), `cell` (Verizon LTE short
    /// downlink trace, 10 ms, 100 packets), `drop` (`fixed` + 0.01 % random loss),
    /// `bbr-demo` (48 Mbit/s, 10 ms, 160 packets).
    pub fn builtin(name: &str) -> Option<Scenario> {
        let fixed = LinkSpec {
            rate_mbps: Some(96.0),
            delay_ms: 10.0,
            queue_packets: Some(160),
            ..LinkSpec::default()
        };
        let link = match name {
            "fixed" => fixed,
            "cell" => LinkSpec {
                rate_mbps: None,
                trace: Some("Verizon-LTE-short.down".into()),
                queue_packets: Some(100),
                ..fixed
            },
            "drop" => LinkSpec {
                loss: 0.0001,
                ..fixed
            },
            "bbr-demo" => LinkSpec {
                rate_mbps: Some(48.0),
                ..fixed
            },
            _ => return None,
        };
        let mut s = Scenario::new(name, link);
        s.flows.push(FlowSpec::new("cubic"));
        Some(s)
    }

    /// Parse TOML text (relative trace paths resolve against the current directory).
    pub fn from_toml(text: &str) -> Result<Scenario, ScenarioError> {
        let s: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Toml(e.to_string()))?;
        s.validate()?;
        Ok(s)
    }

    /// Read and parse a TOML file (relative trace paths resolve against its directory).
    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut s: Scenario = toml::from_str(&text)
            .map_err(|e| ScenarioError::Toml(format!("{}: {}", path.display(), e)))?;
        s.base_dir = path.parent().map(Path::to_path_buf);
        s.validate()?;
        Ok(s)
    }

    /// A built-in name, or a path to a `.toml` file.
    pub fn load(name_or_path: &str) -> Result<Scenario, ScenarioError> {
        if let Some(s) = Scenario::builtin(name_or_path) {
            return Ok(s);
        }
        let p = Path::new(name_or_path);
        if p.extension().is_some_and(|e| e == "toml") || p.exists() {
            return Scenario::from_file(p);
        }
        Err(ScenarioError::UnknownScenario {
            name: name_or_path.to_string(),
            known: BUILTIN_SCENARIOS.join(", "),
        })
    }

    /// The scenario as TOML (fails only for values TOML cannot hold, such as NaN).
    pub fn to_toml(&self) -> Result<String, ScenarioError> {
        toml::to_string_pretty(self).map_err(|e| ScenarioError::Toml(e.to_string()))
    }

    /// Replace the flows by one flow per name (all starting at 0).
    pub fn with_algorithms(mut self, algs: &[String]) -> Scenario {
        self.flows = algs.iter().map(|a| FlowSpec::new(a)).collect();
        self
    }

    /// Set `count` of every flow spec to `n`.
    pub fn with_flow_count(mut self, n: u32) -> Scenario {
        for f in &mut self.flows {
            f.count = n;
        }
        self
    }

    /// Set the duration in seconds.
    pub fn with_duration(mut self, secs: f64) -> Scenario {
        self.duration_s = secs;
        self
    }

    /// Set the seed.
    pub fn with_seed(mut self, seed: u64) -> Scenario {
        self.seed = seed;
        self
    }

    /// Check every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        self.resolve().map(|_| ())
    }

    /// Check every controller name against `factory`.
    pub fn validate_controllers(
        &self,
        factory: &dyn ControllerFactory,
    ) -> Result<(), ScenarioError> {
        for (i, f) in self.flows.iter().enumerate() {
            if !factory.contains(&f.alg) {
                return Err(ScenarioError::UnknownController {
                    flow: i,
                    name: f.alg.clone(),
                    known: factory.names().join(", "),
                });
            }
        }
        Ok(())
    }

    /// Validate and convert to simulator units (loads the trace).
    pub fn resolve(&self) -> Result<Resolved, ScenarioError> {
        check_range("duration_s", self.duration_s, 0.001, 86_400.0, "s")?;
        check_range(
            "sample_interval_ms",
            self.sample_interval_ms,
            0.1,
            self.duration_s * 1000.0,
            "ms (at most the duration)",
        )?;
        if !(self.fairness_window_s.is_finite() && self.fairness_window_s > 0.0) {
            return Err(invalid(
                "fairness_window_s",
                format!(
                    "must be a positive number of seconds, got {}",
                    self.fairness_window_s
                ),
            ));
        }
        if !(64..=65_000).contains(&self.mss) {
            return Err(invalid(
                "mss",
                format!("must be between 64 and 65000 bytes, got {}", self.mss),
            ));
        }
        if self.header_bytes > 1000 {
            return Err(invalid(
                "header_bytes",
                format!("must be at most 1000 bytes, got {}", self.header_bytes),
            ));
        }
        check_range("ipc_delay_us", self.ipc_delay_us, 0.0, 1e6, "µs")?;
        check_range("min_rto_ms", self.min_rto_ms, 1.0, 60_000.0, "ms")?;
        let l = &self.link;
        let capacity = match (&l.rate_mbps, &l.trace) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "link.trace",
                    "give either rate_mbps or trace, not both",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    "link.rate_mbps",
                    "missing: give rate_mbps or trace",
                ));
            }
            (Some(r), None) => {
                if !r.is_finite() || *r <= 0.0 {
                    return Err(invalid(
                        "link.rate_mbps",
                        format!("must be a positive rate, got {r}"),
                    ));
                }
                check_range("link.rate_mbps", *r, 0.001, 1e6, "Mbit/s")?;
                Capacity::Rate {
                    bps: (r * 1e6).round() as u64,
                }
            }
            (None, Some(t)) => {
                Capacity::Trace(Trace::load(t, self.base_dir.as_deref()).map_err(|source| {
                    ScenarioError::Trace {
                        field: "link.trace".into(),
                        source,
                    }
                })?)
            }
        };
        check_range("link.delay_ms", l.delay_ms, 0.0, MAX_DELAY_MS, "ms")?;
        check_range("link.jitter_ms", l.jitter_ms, 0.0, MAX_DELAY_MS, "ms")?;
        let ack_delay_ms = l.ack_delay_ms.unwrap_or(l.delay_ms);
        check_range("link.ack_delay_ms", ack_delay_ms, 0.0, MAX_DELAY_MS, "ms")?;
        if !(l.loss.is_finite() && (0.0..1.0).contains(&l.loss)) {
            return Err(invalid(
                "link.loss",
                format!("must be a probability in [0, 1), got {}", l.loss),
            ));
        }
        let limit = match (l.queue_packets, l.queue_bytes) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "link.queue_bytes",
                    "give either queue_packets or queue_bytes, not both",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    "link.queue_packets",
                    "missing: give queue_packets or queue_bytes",
                ));
            }
            (Some(0), None) => {
                return Err(invalid(
                    "link.queue_packets",
                    "must be at least 1 packet, got 0",
                ));
            }
            (Some(p), None) => QueueLimit::Packets(p),
            (None, Some(b)) => {
                let wire = u64::from(self.mss + self.header_bytes);
                if b < wire {
                    return Err(invalid(
                        "link.queue_bytes",
                        format!("must hold at least one packet ({wire} bytes), got {b}"),
                    ));
                }
                QueueLimit::Bytes(b)
            }
        };
        if l.ecn_threshold_packets == Some(0) {
            return Err(invalid("link.ecn_threshold_packets", "must be at least 1"));
        }
        if self.flows.is_empty() {
            return Err(invalid("flow", "at least one [[flow]] is required"));
        }
        let duration = SimTime::from_secs_f64(self.duration_s);
        let ack_delay = SimTime::from_secs_f64(ack_delay_ms / 1e3);
        let mut flows = Vec::new();
        for (i, f) in self.flows.iter().enumerate() {
            let field = |name: &str| format!("flow[{i}].{name}");
            if f.alg.trim().is_empty() {
                return Err(invalid(field("alg"), "must name a controller"));
            }
            check_range(
                &field("start_s"),
                f.start_s,
                0.0,
                self.duration_s,
                "s (within the run)",
            )?;
            if f.start_s >= self.duration_s {
                return Err(invalid(
                    field("start_s"),
                    "must be before the end of the run",
                ));
            }
            if let Some(stop) = f.stop_s
                && (!stop.is_finite() || stop <= f.start_s)
            {
                return Err(invalid(
                    field("stop_s"),
                    format!("must be after start_s ({}), got {stop}", f.start_s),
                ));
            }
            if !(1..=MAX_FLOWS as u32).contains(&f.count) {
                return Err(invalid(
                    field("count"),
                    format!("must be 1..={MAX_FLOWS}, got {}", f.count),
                ));
            }
            if !(1..=1_000_000).contains(&f.init_cwnd_packets) {
                return Err(invalid(
                    field("init_cwnd_packets"),
                    format!("must be 1..=1000000, got {}", f.init_cwnd_packets),
                ));
            }
            check_range(
                &field("extra_delay_ms"),
                f.extra_delay_ms,
                0.0,
                MAX_DELAY_MS,
                "ms",
            )?;
            for (k, v) in &f.params {
                if !v.is_finite() {
                    return Err(invalid(
                        format!("flow[{i}].params.{k}"),
                        "must be a finite number",
                    ));
                }
            }
            for _ in 0..f.count {
                flows.push(ResolvedFlow {
                    spec_index: i,
                    alg: f.alg.clone(),
                    start: SimTime::from_secs_f64(f.start_s),
                    stop: f
                        .stop_s
                        .map(SimTime::from_secs_f64)
                        .filter(|s| *s < duration),
                    init_cwnd_packets: f.init_cwnd_packets,
                    ack_delay: ack_delay + SimTime::from_secs_f64(f.extra_delay_ms / 1e3),
                    params: f.params.clone(),
                });
            }
        }
        if flows.len() > MAX_FLOWS {
            return Err(invalid(
                "flow",
                format!("at most {MAX_FLOWS} flows in total, got {}", flows.len()),
            ));
        }
        let rows =
            (self.duration_s * 1000.0 / self.sample_interval_ms) * (flows.len() as f64 + 1.0);
        if rows > MAX_SAMPLE_ROWS {
            return Err(invalid(
                "sample_interval_ms",
                format!(
                    "{} ms over {} s for {} flows gives {rows:.0} time-series rows (at most {MAX_SAMPLE_ROWS:.0}); raise the interval",
                    self.sample_interval_ms,
                    self.duration_s,
                    flows.len()
                ),
            ));
        }
        Ok(Resolved {
            link: LinkParams {
                capacity,
                prop_delay: SimTime::from_secs_f64(l.delay_ms / 1e3),
                limit,
                loss: l.loss,
                jitter: SimTime::from_secs_f64(l.jitter_ms / 1e3),
                reorder: l.reorder,
                ecn_threshold: l.ecn_threshold_packets,
            },
            flows,
            duration,
            sample_interval: SimTime::from_secs_f64(self.sample_interval_ms / 1e3).max(SimTime(1)),
            fairness_window: SimTime::from_secs_f64(self.fairness_window_s),
            ipc_delay: SimTime::from_secs_f64(self.ipc_delay_us / 1e6),
            min_rto: SimTime::from_secs_f64(self.min_rto_ms / 1e3),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn field_of(e: ScenarioError) -> String {
        match e {
            ScenarioError::Invalid { field, .. } => field,
            ScenarioError::Trace { field, .. } => field,
            ScenarioError::UnknownController { flow, .. } => format!("flow[{flow}].alg"),
            other => panic!("unexpected error {other}"),
        }
    }

    const BASE: &str = r#"
duration_s = 5
[link]
rate_mbps = 10
delay_ms = 5
queue_packets = 50
[[flow]]
alg = "reno"
"#;

    #[test]
    fn builtins_are_valid() {
        for name in BUILTIN_SCENARIOS {
            let s = Scenario::builtin(name).unwrap();
            let r = s.resolve().unwrap();
            assert_eq!(r.flows.len(), 1);
            assert_eq!(r.duration, SimTime::from_secs(60));
        }
        let cell = Scenario::builtin("cell").unwrap().resolve().unwrap();
        assert!(matches!(cell.link.capacity, Capacity::Trace(_)));
        assert_eq!(cell.link.limit, QueueLimit::Packets(100));
        let drop = Scenario::builtin("drop").unwrap().resolve().unwrap();
        assert_eq!(drop.link.loss, 0.0001);
        assert!(Scenario::builtin("nope").is_none());
    }

    #[test]
    fn toml_round_trip() {
        let s = Scenario::from_toml(BASE).unwrap();
        assert_eq!(s.flows[0].alg, "reno");
        assert_eq!(s.duration_s, 5.0);
        let again = Scenario::from_toml(&s.to_toml().unwrap()).unwrap();
        assert_eq!(s, again);
        let fixed = Scenario::builtin("fixed").unwrap();
        assert_eq!(
            Scenario::from_toml(&fixed.to_toml().unwrap()).unwrap(),
            fixed
        );
    }

    #[test]
    fn impossible_values_name_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            ("rate_mbps = 10", "rate_mbps = 0", "link.rate_mbps"),
            ("rate_mbps = 10", "rate_mbps = -5", "link.rate_mbps"),
            ("delay_ms = 5", "delay_ms = -1", "link.delay_ms"),
            ("delay_ms = 5", "delay_ms = 1e9", "link.delay_ms"),
            (
                "queue_packets = 50",
                "queue_packets = 0",
                "link.queue_packets",
            ),
            ("queue_packets = 50", "queue_bytes = 10", "link.queue_bytes"),
            ("queue_packets = 50", "", "link.queue_packets"),
            ("delay_ms = 5", "delay_ms = 5\nloss = 1.0", "link.loss"),
            ("delay_ms = 5", "delay_ms = 5\nloss = -0.1", "link.loss"),
            ("rate_mbps = 10", "", "link.rate_mbps"),
            (
                "rate_mbps = 10",
                "rate_mbps = 10\ntrace = \"x\"",
                "link.trace",
            ),
            ("rate_mbps = 10", "trace = \"/no/such/trace\"", "link.trace"),
            ("duration_s = 5", "duration_s = 0", "duration_s"),
            (
                "alg = \"reno\"",
                "alg = \"reno\"\nstart_s = 9",
                "flow[0].start_s",
            ),
            (
                "alg = \"reno\"",
                "alg = \"reno\"\nstart_s = 2\nstop_s = 1",
                "flow[0].stop_s",
            ),
            (
                "alg = \"reno\"",
                "alg = \"reno\"\ncount = 0",
                "flow[0].count",
            ),
            (
                "alg = \"reno\"",
                "alg = \"reno\"\ncount = 600\n[[flow]]\nalg = \"reno\"\ncount = 600",
                "flow",
            ),
            (
                "duration_s = 5",
                "duration_s = 86400\nsample_interval_ms = 0.1",
                "sample_interval_ms",
            ),
        ];
        for (from, to, field) in cases {
            let text = BASE.replace(from, to);
            let err = Scenario::from_toml(&text).expect_err(&text);
            let msg = err.to_string();
            assert_eq!(field_of(err), *field, "for {to:?}: {msg}");
            assert!(msg.contains(field), "{msg}");
        }
    }

    #[test]
    fn malformed_toml_is_a_typed_error() {
        for text in [
            "this is not toml [",
            "[link]\nrate_mbps = \"fast\"\n",
            &BASE.replace("delay_ms", "delay"),
            &format!("{BASE}\nbogus = 1\n"),
        ] {
            let err = Scenario::from_toml(text).unwrap_err();
            assert!(matches!(err, ScenarioError::Toml(_)), "{err}");
        }
        let err = Scenario::from_toml(&BASE.replace("delay_ms = 5", "delay = 5")).unwrap_err();
        assert!(err.to_string().contains("delay"), "{err}");
    }

    #[test]
    fn unknown_controller_is_reported_with_its_flow() {
        let s = Scenario::from_toml(&format!("{BASE}\n[[flow]]\nalg = \"warp\"\n")).unwrap();
        let reg = Registry::with_native();
        let err = s.validate_controllers(&reg).unwrap_err();
        assert!(err.to_string().contains("warp"));
        assert_eq!(field_of(err), "flow[1].alg");
    }

    #[test]
    fn count_expands_flows() {
        let s = Scenario::builtin("fixed")
            .unwrap()
            .with_algorithms(&["reno".into(), "cubic".into()])
            .with_flow_count(3);
        let r = s.resolve().unwrap();
        assert_eq!(r.flows.len(), 6);
        assert_eq!(r.flows[3].alg, "cubic");
        assert_eq!(r.flows[0].ack_delay, SimTime::from_millis(10));
    }

    #[test]
    fn load_distinguishes_names_and_files() {
        assert!(matches!(
            Scenario::load("nope"),
            Err(ScenarioError::UnknownScenario { .. })
        ));
        assert!(matches!(
            Scenario::load("/no/such/file.toml"),
            Err(ScenarioError::Io { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.trace"), "1\n2\n").unwrap();
        let text = BASE.replace("rate_mbps = 10", "trace = \"t.trace\"");
        let path = dir.path().join("s.toml");
        std::fs::write(&path, text).unwrap();
        let s = Scenario::load(path.to_str().unwrap()).unwrap();
        let r = s.resolve().unwrap();
        match r.link.capacity {
            Capacity::Trace(t) => assert_eq!(t.len(), 2),
            _ => panic!("expected a trace link"),
        }
    }
}
