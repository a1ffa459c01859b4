//! `portus.simulate`: a Python algorithm on the `ccp-sim` simulator, in-process — the
//! simulator's CCP adapter (the datapath library per ACK and the agent core on virtual
//! time) with the Python algorithm registered as an agent algorithm.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use ccp_agent::BoxedAlg;
use ccp_sim::ccp::{AgentMode, AlgMaker, CcpFactory};
use ccp_sim::{Scenario, Simulation};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
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

/// Run `alg` (an algorithm instance of the current API) on a scenario; returns the
/// summary as JSON text and as the terminal table.
///
/// Flows: with `algorithms=None` every flow of the scenario runs `alg`; otherwise one flow
/// per entry, where `alg_name` (default `"python"`) is this algorithm and any other name a
/// built-in controller (`reno`, `cubic`, `native-reno`, …). `flows` repeats each entry.
#[pyfunction]
#[pyo3(signature = (alg, programs, *, alg_name="python", scenario="fixed", duration=60.0, seed=1, algorithms=None, flows=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn simulate(
    py: Python<'_>,
    alg: Bound<'_, PyAny>,
    programs: BTreeMap<String, String>,
    alg_name: &str,
    scenario: &str,
    duration: f64,
    seed: u64,
    algorithms: Option<Vec<String>>,
    flows: Option<u32>,
) -> PyResult<(String, String)> {
    if !(duration.is_finite() && duration > 0.0) {
        return Err(PyValueError::new_err(format!(
            "duration must be a positive number of seconds, got {duration}"
        )));
    }
    let mut sc = load_scenario(scenario)?
        .with_duration(duration)
        .with_seed(seed);
    match algorithms {
        Some(list) if !list.is_empty() => sc = sc.with_algorithms(&list),
        Some(_) => return Err(PyValueError::new_err("algorithms: empty list")),
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
    {
        let ctx = ctx.clone();
        let name = alg_name.to_owned();
        let make: AlgMaker = Box::new(move |_params| {
            let obj = Python::attach(|py| alg_obj.clone_ref(py));
            Ok(BoxedAlg::new(PyAlg {
                name: name.clone(),
                programs: programs.clone(),
                kind: AlgKind::Current(obj),
                ctx: ctx.clone(),
                label: label.clone(),
            }))
        });
        factory.register_alg(alg_name, "Python algorithm", make);
    }
    let sim =
        Simulation::new(&sc, &mut factory).map_err(|e| PyValueError::new_err(e.to_string()))?;
    // Ctrl-C: the run cannot be cut short, but the signal is checked as it goes and the
    // KeyboardInterrupt raised when it ends.
    let interrupted = AtomicBool::new(false);
    let mut pending: Option<PyErr> = None;
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
    let json = serde_json::to_string(&results.summary)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok((json, results.summary.to_string()))
}
