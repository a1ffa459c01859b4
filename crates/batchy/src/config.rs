//! TOML pipeline descriptions (the Rust counterpart of `*.batchy` scripts).
//!
//! ```toml
//! [run]
//! rounds = 20
//! period = 0.1
//! clock = "virtual"
//!
//! [pipeline]            # optional built-in generator (create_pipeline)
//! kind = "tree"
//! leaves = 8
//!
//! [[worker]]
//! name = "w0"
//! [[task]]
//! name = "task0"
//! worker = "w0"
//! controller = "projgrad"
//! [[module]]
//! name = "split"
//! task = "task0"
//! type = "RandomSplit"
//! gates = 2
//! [[edge]]
//! from = "split:0"
//! to = "nf1"
//! [[flow]]
//! name = "flow1"
//! path = ["split", "nf1"]
//! delay_slo = 55000
//! ```

use serde::Deserialize;

use crate::batchy::{Batchy, BatchyError, FlowSpec, ModuleOpts, RateSlo, Settings, SourceParams};
use crate::controller::Compat;
use crate::engine::ClockMode;
use crate::modules::ModuleKind;
use crate::pipelines::{self, PipelineSpec};

/// Errors of loading a config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {msg}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        msg: String,
    },
    /// TOML syntax or schema error.
    #[error("{place}: {msg}")]
    Parse {
        /// Where (file, table).
        place: String,
        /// Cause (with line/column when known).
        msg: String,
    },
    /// The described pipeline is invalid.
    #[error("{place}: {source}")]
    Build {
        /// Where.
        place: String,
        /// Cause.
        source: BatchyError,
    },
}

/// The `[run]` table.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RunSection {
    /// Control rounds.
    pub rounds: usize,
    /// Control period [s].
    pub period: f64,
    /// Clock.
    pub clock: ClockMode,
    /// Seed.
    pub seed: u64,
    /// Warm-up [s].
    pub warmup: f64,
    /// TSC GHz.
    pub tsc_ghz: f64,
    /// Reproduce the reference's controller quirks (spec §7 items 1, 2, 12).
    pub reference_compat: bool,
    /// Virtual per-invocation overhead [ns].
    pub task_overhead_ns: f64,
    /// Task queue size.
    pub queue_size: usize,
    /// Backpressure.
    pub backpressure: bool,
    /// Source burst size.
    pub burst_size: usize,
    /// Override every task's controller.
    pub controller: Option<String>,
}

impl Default for RunSection {
    fn default() -> Self {
        let s = Settings::default();
        RunSection {
            rounds: 20,
            period: 0.1,
            clock: s.clock,
            seed: s.seed,
            warmup: s.warmup,
            tsc_ghz: s.tsc_ghz,
            reference_compat: false,
            task_overhead_ns: s.task_overhead_ns,
            queue_size: s.queue_size,
            backpressure: s.backpressure,
            burst_size: s.burst_size,
            controller: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkerEntry {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskEntry {
    name: String,
    worker: String,
    #[serde(default = "d_null")]
    controller: String,
}

fn d_null() -> String {
    "null".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EdgeEntry {
    from: String,
    to: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowEntry {
    name: String,
    path: Vec<String>,
    delay_slo: Option<f64>,
    rate_slo: Option<RateSlo>,
    #[serde(default)]
    source: SourceParams,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceEntry {
    flows: Vec<String>,
    worker: Option<String>,
    burst_size: Option<usize>,
    pcap: Option<String>,
}

/// A loaded config: the pipeline plus the run parameters.
pub struct Loaded {
    /// The pipeline, ready to `run`.
    pub batchy: Batchy,
    /// `[run]`.
    pub run: RunSection,
}

fn parse_err(place: impl Into<String>, e: impl std::fmt::Display) -> ConfigError {
    ConfigError::Parse {
        place: place.into(),
        msg: e.to_string().trim().replace('\n', " "),
    }
}

fn split_gate(s: &str) -> Result<(&str, usize), String> {
    match s.rsplit_once(':') {
        Some((m, g)) => g
            .trim()
            .parse()
            .map(|g| (m.trim(), g))
            .map_err(|_| format!("bad gate in {s:?}")),
        None => Ok((s.trim(), 0)),
    }
}

/// Load a config from a file.
pub fn load_file(path: &std::path::Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        msg: e.to_string(),
    })?;
    load_str(&text, &path.display().to_string())
}

/// Load a config from TOML text (`origin` names the source in errors).
pub fn load_str(text: &str, origin: &str) -> Result<Loaded, ConfigError> {
    let root: toml::Table = toml::from_str(text).map_err(|e| parse_err(origin, e))?;
    let known = [
        "run", "pipeline", "worker", "task", "module", "edge", "flow", "source",
    ];
    if let Some(k) = root.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(parse_err(
            origin,
            format!("unknown top-level table {k:?} (expected one of {known:?})"),
        ));
    }
    let get = |k: &str| root.get(k).cloned();
    let run: RunSection = match get("run") {
        Some(v) => v
            .try_into()
            .map_err(|e| parse_err(format!("{origin}: [run]"), e))?,
        None => RunSection::default(),
    };
    let settings = Settings {
        clock: run.clock,
        tsc_ghz: run.tsc_ghz,
        seed: run.seed,
        warmup: run.warmup,
        compat: if run.reference_compat {
            Compat::reference()
        } else {
            Compat::default()
        },
        task_overhead_ns: run.task_overhead_ns,
        queue_size: run.queue_size,
        backpressure: run.backpressure,
        burst_size: run.burst_size,
    };
    let mut b = Batchy::new(settings);
    let build = |place: String| move |source: BatchyError| ConfigError::Build { place, source };
    if let Some(v) = get("pipeline") {
        let spec: PipelineSpec = v
            .try_into()
            .map_err(|e| parse_err(format!("{origin}: [pipeline]"), e))?;
        pipelines::create(&mut b, &spec).map_err(build(format!("{origin}: [pipeline]")))?;
    }
    let arr = |k: &str| -> Result<Vec<toml::Value>, ConfigError> {
        match root.get(k) {
            None => Ok(Vec::new()),
            Some(toml::Value::Array(a)) => Ok(a.clone()),
            Some(_) => Err(parse_err(
                origin,
                format!("{k:?} must be an array of tables ([[{k}]])"),
            )),
        }
    };
    for (i, v) in arr("worker")?.into_iter().enumerate() {
        let place = format!("{origin}: worker #{}", i + 1);
        let w: WorkerEntry = v.try_into().map_err(|e| parse_err(&place, e))?;
        b.add_worker(&w.name).map_err(build(place))?;
    }
    for (i, v) in arr("task")?.into_iter().enumerate() {
        let place = format!("{origin}: task #{}", i + 1);
        let t: TaskEntry = v.try_into().map_err(|e| parse_err(&place, e))?;
        let w = b.worker_id(&t.worker).ok_or_else(|| ConfigError::Build {
            place: format!("{place} ({:?})", t.name),
            source: BatchyError::Unknown {
                kind: "worker",
                name: t.worker.clone(),
            },
        })?;
        b.add_task(w, &t.name, &t.controller)
            .map_err(build(format!("{place} ({:?})", t.name)))?;
    }
    for (i, v) in arr("module")?.into_iter().enumerate() {
        let mut place = format!("{origin}: module #{}", i + 1);
        let toml::Value::Table(mut t) = v else {
            return Err(parse_err(place, "must be a table"));
        };
        let take_str = |t: &mut toml::Table, k: &str, place: &str| -> Result<String, ConfigError> {
            match t.remove(k) {
                Some(toml::Value::String(s)) => Ok(s),
                Some(_) => Err(parse_err(place, format!("{k:?} must be a string"))),
                None => Err(parse_err(place, format!("missing {k:?}"))),
            }
        };
        let take_f =
            |t: &mut toml::Table, k: &str, place: &str| -> Result<Option<f64>, ConfigError> {
                match t.remove(k) {
                    Some(toml::Value::Float(f)) => Ok(Some(f)),
                    Some(toml::Value::Integer(n)) => Ok(Some(n as f64)),
                    Some(_) => Err(parse_err(place, format!("{k:?} must be a number"))),
                    None => Ok(None),
                }
            };
        let take_b =
            |t: &mut toml::Table, k: &str, place: &str| -> Result<Option<bool>, ConfigError> {
                match t.remove(k) {
                    Some(toml::Value::Boolean(x)) => Ok(Some(x)),
                    Some(_) => Err(parse_err(place, format!("{k:?} must be true or false"))),
                    None => Ok(None),
                }
            };
        let name = take_str(&mut t, "name", &place)?;
        place = format!("{place} ({name:?})");
        let task = take_str(&mut t, "task", &place)?;
        let opts = ModuleOpts {
            t0: take_f(&mut t, "T_0", &place)?,
            t1: take_f(&mut t, "T_1", &place)?,
            controlled: take_b(&mut t, "controlled", &place)?,
            ingress: take_b(&mut t, "ingress", &place)?.unwrap_or(false),
        };
        if !t.contains_key("type") {
            return Err(parse_err(place, "missing \"type\""));
        }
        let kind: ModuleKind = toml::Value::Table(t)
            .try_into()
            .map_err(|e| parse_err(&place, e))?;
        let tid = b.task_id(&task).ok_or_else(|| ConfigError::Build {
            place: place.clone(),
            source: BatchyError::Unknown {
                kind: "task",
                name: task.clone(),
            },
        })?;
        b.add_module(tid, &name, kind, opts).map_err(build(place))?;
    }
    for (i, v) in arr("edge")?.into_iter().enumerate() {
        let place = format!("{origin}: edge #{}", i + 1);
        let e: EdgeEntry = v.try_into().map_err(|e| parse_err(&place, e))?;
        let (fm, fg) = split_gate(&e.from).map_err(|m| parse_err(&place, m))?;
        let (tm, tg) = split_gate(&e.to).map_err(|m| parse_err(&place, m))?;
        let unknown = |n: &str| ConfigError::Build {
            place: place.clone(),
            source: BatchyError::Unknown {
                kind: "module",
                name: n.into(),
            },
        };
        let f = b.module_id(fm).ok_or_else(|| unknown(fm))?;
        let t = b.module_id(tm).ok_or_else(|| unknown(tm))?;
        b.connect(f, fg, t, tg).map_err(build(place.clone()))?;
    }
    for (i, v) in arr("flow")?.into_iter().enumerate() {
        let place = format!("{origin}: flow #{}", i + 1);
        let f: FlowEntry = v.try_into().map_err(|e| parse_err(&place, e))?;
        let mut path = Vec::new();
        for m in &f.path {
            path.push(b.module_id(m).ok_or_else(|| ConfigError::Build {
                place: format!("{place} ({:?})", f.name),
                source: BatchyError::Unknown {
                    kind: "module",
                    name: m.clone(),
                },
            })?);
        }
        b.add_flow(FlowSpec {
            name: f.name.clone(),
            path,
            delay_slo: f.delay_slo,
            rate_slo: f.rate_slo,
            source: f.source,
        })
        .map_err(build(format!("{place} ({:?})", f.name)))?;
    }
    for (i, v) in arr("source")?.into_iter().enumerate() {
        let place = format!("{origin}: source #{}", i + 1);
        let s: SourceEntry = v.try_into().map_err(|e| parse_err(&place, e))?;
        let mut flows = Vec::new();
        for f in &s.flows {
            flows.push(b.flow_id(f).ok_or_else(|| ConfigError::Build {
                place: place.clone(),
                source: BatchyError::Unknown {
                    kind: "flow",
                    name: f.clone(),
                },
            })?);
        }
        let worker = match &s.worker {
            Some(w) => Some(b.worker_id(w).ok_or_else(|| ConfigError::Build {
                place: place.clone(),
                source: BatchyError::Unknown {
                    kind: "worker",
                    name: w.clone(),
                },
            })?),
            None => None,
        };
        match (&s.pcap, flows.as_slice()) {
            (Some(p), [f]) => b.add_pcap_source(p, *f, worker),
            (Some(_), _) => {
                return Err(parse_err(place, "a pcap source feeds exactly one flow"));
            }
            (None, _) => b.add_source(&flows, worker, s.burst_size.unwrap_or(run.burst_size)),
        }
    }
    if let Some(c) = &run.controller {
        let mut i = 0;
        while let Some(name) = b.task_name(i) {
            i += 1;
            let tid = b
                .task_id(&name)
                .ok_or_else(|| parse_err(origin, "task vanished"))?;
            b.set_controller(tid, c)
                .map_err(build(format!("{origin}: [run] controller")))?;
        }
    }
    Ok(Loaded { batchy: b, run })
}
