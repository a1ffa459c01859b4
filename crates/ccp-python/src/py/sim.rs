//! `portus.simulate`: a Python algorithm on the `ccp-sim` simulator, in-process — the
//! simulator's CCP adapter (the datapath library per ACK and the agent core on virtual
//! time) with the Python algorithm registered as an agent algorithm.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ccp_agent::BoxedAlg;
use ccp_sim::ccp::{AgentMode, AlgMaker, CcpFactory};
use ccp_sim::{Scenario, Simulation};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

use super::alg::{AlgKind, Ctx, PyAlg};
use crate::dynamic::DynPrograms;

/// The scenario: a built-in name or a TOML file.
fn load_scenario(scenario: &str) -> PyResult<Scenario> {
    if let Some(s) = Scenario::builtin(scenario) {
        return Ok(s);
    }
    let path = Path::new(scenario);
    if path.exists() {
        return Scenario::from_file(path).map_err(|e| PyValueError::new_err(e.to_string()));
    }
    Err(PyValueError::new_err(format!(
        "unknown scenario {scenario:?}: a built-in name ({}) or a TOML file",
        ccp_sim::BUILTIN_SCENARIOS.join(", ")
    )))
}

/// A constructor of the Python algorithm for the simulator's factory.
fn maker(
    ctx: Arc<Ctx>,
    name: String,
    programs: BTreeMap<String, String>,
    obj: Py<PyAny>,
    label: String,
) -> AlgMaker {
    Box::new(move |_params| {
        let obj = Python::attach(|py| obj.clone_ref(py));
        Ok(BoxedAlg::new(PyAlg {
            name: name.clone(),
            programs: programs.clone(),
            kind: AlgKind::Current(obj),
            ctx: ctx.clone(),
            label: label.clone(),
        }))
    })
}

/// What `simulate` hands back: the summary as JSON (`ccp sim --json`'s text) and as the
/// terminal table, the files written to `out`, and the wall-clock seconds.
type SimOutput = (String, String, Vec<String>, f64);

/// Run `alg` (an algorithm instance of the current API) on a scenario.
///
/// Flows: with `algorithms=None` every flow of the scenario runs `alg` (unless
/// `keep_algorithms`: then the scenario's own algorithm names stand); otherwise one flow
/// per entry. In either list `alg_name` and `"python"` name this algorithm, anything else
/// a built-in controller (`reno`, `cubic`, `native-reno`, …). `flows` repeats each entry.
/// `duration`/`seed` override the scenario's when given. With `out`, the CSV time series
/// and PNG plots are written there.
#[pyfunction]
#[pyo3(signature = (alg, programs, *, alg_name="python", scenario="fixed", duration=None, seed=None, algorithms=None, flows=None, keep_algorithms=false, out=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn simulate(
    py: Python<'_>,
    alg: Bound<'_, PyAny>,
    programs: BTreeMap<String, String>,
    alg_name: &str,
    scenario: &str,
    duration: Option<f64>,
    seed: Option<u64>,
    algorithms: Option<Vec<String>>,
    flows: Option<u32>,
    keep_algorithms: bool,
    out: Option<PathBuf>,
) -> PyResult<SimOutput> {
    let mut sc = load_scenario(scenario)?;
    if let Some(d) = duration {
        if !(d.is_finite() && d > 0.0) {
            return Err(PyValueError::new_err(format!(
                "duration must be a positive number of seconds, got {d}"
            )));
        }
        sc = sc.with_duration(d);
    }
    if let Some(s) = seed {
        sc = sc.with_seed(s);
    }
    match algorithms {
        Some(list) if !list.is_empty() => sc = sc.with_algorithms(&list),
        Some(_) => return Err(PyValueError::new_err("algorithms: empty list")),
        None if keep_algorithms => {}
        None => {
            for f in &mut sc.flows {
                f.alg = alg_name.to_owned();
            }
        }
    }
    if let Some(n) = flows {
        if n == 0 {
            return Err(PyValueError::new_err("flows must be at least 1"));
        }
        sc = sc.with_flow_count(n);
    }
    let label = alg
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "algorithm".into());
    // Installing programs at run time needs the Python host, not the simulator's agent.
    let ctx = Ctx::new(py, DynPrograms::new(), false)?;
    let alg_obj = alg.unbind();
    let mut factory = CcpFactory::new(AgentMode::InProcess);
    // Under its own name and as "python" (what `ccp sim --python` uses by default).
    for registered in [alg_name, "python"] {
        let make = maker(
            ctx.clone(),
            alg_name.to_owned(),
            programs.clone(),
            alg_obj.clone_ref(py),
            label.clone(),
        );
        factory.register_alg(registered, "Python algorithm", make);
    }
    let sim =
        Simulation::new(&sc, &mut factory).map_err(|e| PyValueError::new_err(e.to_string()))?;
    // Ctrl-C: the run cannot be cut short, but the signal is checked as it goes and the
    // KeyboardInterrupt raised when it ends.
    let interrupted = AtomicBool::new(false);
    let mut pending: Option<PyErr> = None;
    let wall = std::time::Instant::now();
    let results = sim.run_with_progress(&mut |_p| {
        if !interrupted.load(Ordering::Relaxed)
            && let Err(e) = py.check_signals()
        {
            interrupted.store(true, Ordering::Relaxed);
            pending = Some(e);
        }
    });
    if let Some(e) = pending.or_else(|| ctx.take_stop()) {
        return Err(e);
    }
    let wall = wall.elapsed().as_secs_f64();
    let mut written = Vec::new();
    if let Some(dir) = out {
        let io = |e: ccp_sim::OutputError| {
            PyOSError::new_err(format!("cannot write to {}: {e}", dir.display()))
        };
        written.extend(results.write_csv(&dir).map_err(io)?);
        written.extend(results.write_plots(&dir).map_err(io)?);
    }
    Ok((
        results.summary.to_json(),
        results.summary.to_string(),
        written.iter().map(|p| p.display().to_string()).collect(),
        wall,
    ))
}
