//! `portus.batchy`'s native core: the Rust [`batchy::Batchy`] builder behind a small,
//! id-based Python class. The pure-Python module `portus/batchy.py` wraps it in the
//! original Batchy's scripting style (`add_worker`, `add_task`, `add_module`,
//! `add_flow`, `run`, `plot`, `dump`); nothing of the engine is re-implemented there.
//!
//! Structured arguments (module parameters, rate SLOs, source parameters, settings)
//! cross the boundary as JSON text and are decoded by the same serde types the TOML
//! configs use, so the error messages are the CLI's.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use batchy::batchy::{
    FlowId, FlowSpec, ModuleId, ModuleOpts, RateSlo, Settings, SourceParams, TaskId, WorkerId,
};
use batchy::controller::{self, Compat};
use batchy::modules::ModuleKind;
use batchy::{Batchy, BatchyError as RsError};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

pyo3::create_exception!(
    portus.batchy,
    BatchyError,
    PyValueError,
    "An invalid Batchy pipeline or argument (bad module type or parameters, unknown \
     gate, cyclic graph, unknown controller, ...). The message is the `ccp batchy run` \
     CLI's."
);

fn err(e: impl std::fmt::Display) -> PyErr {
    BatchyError::new_err(e.to_string())
}

/// serde_json's message without its " at line L column C" tail (the JSON text is ours,
/// not the user's, so the position means nothing to them).
fn json_msg(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// The pipeline under construction plus a "running" flag that is only set while the
/// engine runs without the GIL.
#[pyclass(module = "portus.batchy", name = "_Core")]
pub(crate) struct Core {
    inner: Mutex<Batchy>,
    running: AtomicBool,
}

impl Core {
    fn from_batchy(b: Batchy) -> Self {
        Core {
            inner: Mutex::new(b),
            running: AtomicBool::new(false),
        }
    }

    /// The builder, or an error while `run` holds it in another thread.
    fn lock(&self) -> PyResult<MutexGuard<'_, Batchy>> {
        match self.inner.try_lock() {
            Ok(g) => Ok(g),
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
            Err(TryLockError::WouldBlock) => Err(err(
                "this Batchy pipeline is running in another thread; wait for run() to return",
            )),
        }
    }
}

#[pymethods]
impl Core {
    /// A new empty pipeline; `settings` is a JSON object of [`Settings`] fields.
    #[new]
    #[pyo3(signature = (settings="{}", reference_compat=false))]
    fn new(settings: &str, reference_compat: bool) -> PyResult<Self> {
        let mut s: Settings = serde_json::from_str(settings)
            .map_err(|e| err(format!("settings: {}", json_msg(&e))))?;
        if reference_compat {
            s.compat = Compat::reference();
        }
        for (name, v) in [
            ("warmup", s.warmup),
            ("tsc_ghz", s.tsc_ghz),
            ("task_overhead_ns", s.task_overhead_ns),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(err(format!("settings: {name} must be >= 0, got {v}")));
            }
        }
        if s.tsc_ghz <= 0.0 {
            return Err(err("settings: tsc_ghz must be > 0"));
        }
        if s.queue_size == 0 || s.burst_size == 0 || s.burst_size > 32 {
            return Err(err(
                "settings: queue_size must be >= 1 and burst_size in 1..=32",
            ));
        }
        Ok(Core::from_batchy(Batchy::new(s)))
    }

    /// Load a TOML pipeline (the `ccp batchy run` format): `(core, rounds, period)`.
    #[staticmethod]
    fn from_toml(path: PathBuf) -> PyResult<(Core, usize, f64)> {
        let l = batchy::config::load_file(&path).map_err(err)?;
        Ok((Core::from_batchy(l.batchy), l.run.rounds, l.run.period))
    }

    /// Settings as a JSON object.
    fn settings(&self) -> PyResult<String> {
        let b = self.lock()?;
        serde_json::to_string(&b.settings).map_err(err)
    }

    /// Validate a task controller name (`null`, `max`, `fixN`, `onoff`, `feasdir`,
    /// `projgrad`/`projgradient`).
    fn check_controller(&self, name: &str) -> PyResult<()> {
        let compat = self.lock()?.settings.compat;
        controller::resolve(name, compat).map(|_| ()).map_err(err)
    }

    /// Use profiler results: module class → `(T_0, T_1)` [ns].
    fn set_profile(&self, profile: HashMap<String, (f64, f64)>) -> PyResult<()> {
        self.lock()?.set_profile(profile);
        Ok(())
    }

    fn add_worker(&self, name: &str) -> PyResult<usize> {
        Ok(self.lock()?.add_worker(name).map_err(err)?.0)
    }

    fn add_task(&self, worker: usize, name: &str, controller: &str) -> PyResult<usize> {
        Ok(self
            .lock()?
            .add_task(WorkerId(worker), name, controller)
            .map_err(err)?
            .0)
    }

    fn set_controller(&self, task: usize, controller: &str) -> PyResult<()> {
        self.lock()?
            .set_controller(TaskId(task), controller)
            .map_err(err)
    }

    /// Add a module; `kind` is a JSON object with `"type"` (the class) and the class's
    /// parameters, as in a TOML `[[module]]` table.
    #[pyo3(signature = (task, name, kind, t0=None, t1=None, controlled=None, ingress=false))]
    #[allow(clippy::too_many_arguments)]
    fn add_module(
        &self,
        task: usize,
        name: &str,
        kind: &str,
        t0: Option<f64>,
        t1: Option<f64>,
        controlled: Option<bool>,
        ingress: bool,
    ) -> PyResult<usize> {
        let kind: ModuleKind = serde_json::from_str(kind)
            .map_err(|e| err(format!("module {name:?}: {}", json_msg(&e))))?;
        for (k, v) in [("T_0", t0), ("T_1", t1)] {
            if let Some(v) = v
                && (!v.is_finite() || v < 0.0)
            {
                return Err(err(format!("module {name:?}: {k} must be >= 0, got {v}")));
            }
        }
        let opts = ModuleOpts {
            t0,
            t1,
            controlled,
            ingress,
        };
        Ok(self
            .lock()?
            .add_module(TaskId(task), name, kind, opts)
            .map_err(err)?
            .0)
    }

    /// Whether the module gets a fractional buffer (explicit `controlled`, else its
    /// batchiness T_1/(T_0+T_1) <= 0.5).
    fn is_controlled(&self, module: usize) -> PyResult<bool> {
        Ok(self.lock()?.is_controlled(ModuleId(module)))
    }

    fn connect(&self, from: usize, ogate: usize, to: usize, igate: usize) -> PyResult<()> {
        self.lock()?
            .connect(ModuleId(from), ogate, ModuleId(to), igate)
            .map_err(err)
    }

    /// Add a flow; `rate_slo` and `source` are JSON objects (`{"packet": pps}` /
    /// `{"bit": bps}`; `{"templates": [...], "weight", "burst", "limit"}`).
    #[pyo3(signature = (name, path, delay_slo=None, rate_slo=None, source=None))]
    fn add_flow(
        &self,
        name: &str,
        path: Vec<usize>,
        delay_slo: Option<f64>,
        rate_slo: Option<&str>,
        source: Option<&str>,
    ) -> PyResult<usize> {
        if let Some(d) = delay_slo
            && !(d.is_finite() && d > 0.0)
        {
            return Err(err(format!(
                "flow {name:?}: delay_slo must be a positive number of ns, got {d}"
            )));
        }
        let rate_slo: Option<RateSlo> = rate_slo
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| err(format!("flow {name:?}: rate_slo: {}", json_msg(&e))))?;
        if let Some(r) = rate_slo {
            if r.packet.is_none() && r.bit.is_none() {
                return Err(err(format!(
                    "flow {name:?}: rate_slo needs 'packet' or 'bit'"
                )));
            }
            if [r.packet, r.bit]
                .into_iter()
                .flatten()
                .any(|v| !(v.is_finite() && v > 0.0))
            {
                return Err(err(format!("flow {name:?}: rate_slo must be > 0")));
            }
        }
        let source: SourceParams = match source {
            Some(s) => serde_json::from_str(s)
                .map_err(|e| err(format!("flow {name:?}: source_params: {}", json_msg(&e))))?,
            None => SourceParams::default(),
        };
        let spec = FlowSpec {
            name: name.to_owned(),
            path: path.into_iter().map(ModuleId).collect(),
            delay_slo,
            rate_slo,
            source,
        };
        Ok(self.lock()?.add_flow(spec).map_err(err)?.0)
    }

    #[pyo3(signature = (flows, worker=None, burst_size=None))]
    fn add_source(
        &self,
        flows: Vec<usize>,
        worker: Option<usize>,
        burst_size: Option<usize>,
    ) -> PyResult<()> {
        if flows.is_empty() {
            return Err(err("add_source: needs one or more flows"));
        }
        if burst_size.is_some_and(|b| b == 0 || b > 32) {
            return Err(err("add_source: burst_size must be in 1..=32"));
        }
        let mut b = self.lock()?;
        let burst = burst_size.unwrap_or(b.settings.burst_size);
        let flows: Vec<FlowId> = flows.into_iter().map(FlowId).collect();
        b.add_source(&flows, worker.map(WorkerId), burst);
        Ok(())
    }

    #[pyo3(signature = (pcap, flow, worker=None))]
    fn add_pcap_source(&self, pcap: &str, flow: usize, worker: Option<usize>) -> PyResult<()> {
        self.lock()?
            .add_pcap_source(pcap, FlowId(flow), worker.map(WorkerId));
        Ok(())
    }

    #[pyo3(signature = (flow, slo))]
    fn set_delay_slo(&self, flow: usize, slo: Option<f64>) -> PyResult<()> {
        if let Some(d) = slo
            && !(d.is_finite() && d > 0.0)
        {
            return Err(err(format!(
                "delay_slo must be a positive number of ns, got {d}"
            )));
        }
        self.lock()?.set_delay_slo(FlowId(flow), slo);
        Ok(())
    }

    fn module_id(&self, name: &str) -> PyResult<Option<usize>> {
        Ok(self.lock()?.module_id(name).map(|i| i.0))
    }
    fn task_id(&self, name: &str) -> PyResult<Option<usize>> {
        Ok(self.lock()?.task_id(name).map(|i| i.0))
    }
    fn worker_id(&self, name: &str) -> PyResult<Option<usize>> {
        Ok(self.lock()?.worker_id(name).map(|i| i.0))
    }
    fn flow_id(&self, name: &str) -> PyResult<Option<usize>> {
        Ok(self.lock()?.flow_id(name).map(|i| i.0))
    }

    /// Build (first call) and run `rounds` control rounds of `period` seconds; returns
    /// the new rounds as a JSON array. The GIL is released while the engine runs.
    #[pyo3(signature = (rounds, period, warmup=true))]
    fn run(&self, py: Python<'_>, rounds: usize, period: f64, warmup: bool) -> PyResult<String> {
        if !(period.is_finite() && period > 0.0) {
            return Err(err(format!(
                "control period must be a positive number of seconds, got {period}"
            )));
        }
        let mut b = self.lock()?;
        if !warmup && b.history().is_empty() {
            b.settings.warmup = 0.0;
        }
        let running = &self.running;
        let guard = &mut *b;
        let out: Result<String, RsError> = py.detach(move || {
            running.store(true, Ordering::SeqCst);
            let r = guard.run(rounds, period).and_then(|recs| {
                serde_json::to_string(recs).map_err(|e| RsError::Invalid(e.to_string()))
            });
            running.store(false, Ordering::SeqCst);
            r
        });
        out.map_err(err)
    }

    /// True while `run` executes the engine (with the GIL released).
    #[getter]
    fn running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// All recorded rounds as a JSON array.
    fn history(&self) -> PyResult<String> {
        serde_json::to_string(self.lock()?.history()).map_err(err)
    }

    /// The per-round dump (the CLI's CSV columns).
    fn dump(&self, path: PathBuf) -> PyResult<()> {
        self.lock()?.dump(&path).map_err(err)
    }

    /// The 3-panel PNG (controls, flow p95 delays, flow rates).
    fn plot(&self, path: PathBuf) -> PyResult<()> {
        self.lock()?.plot(&path).map_err(err)
    }
}

/// `portus.batchy.set_loglevel`: `info` logs every control round, else warnings only
/// (unless `PORTUS_LOG`/`RUST_LOG` chose a filter).
#[pyfunction]
fn _batchy_set_log(on: bool) {
    super::set_debug_logging(on);
}

/// Register the class, the exception and the log switch on the extension module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("BatchyError", m.py().get_type::<BatchyError>())?;
    m.add_class::<Core>()?;
    m.add_function(wrap_pyfunction!(_batchy_set_log, m)?)?;
    Ok(())
}
