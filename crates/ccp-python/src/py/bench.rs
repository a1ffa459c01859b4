//! `_native.bench_reports`: the agent's per-report cost, Python algorithm vs Rust, on the
//! sans-IO core (no sockets): CREATE `flows` flows, then hand the host `reports` MEASUREs
//! round-robin and time it. Used by `benches/reports.py`.

use std::collections::BTreeMap;
use std::time::Instant;

use ccp_agent::{AgentBuilder, BoxedAlg};
use ccp_wire::{Create, Encode, Measure};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use super::alg::{AlgKind, Ctx, PyAlg};
use crate::dynamic::DynPrograms;
use crate::host::Host;

/// Time `reports` reports over `flows` flows. `alg=None`: the built-in Rust algorithm
/// `rust_alg` (a `ccp-algs` name); else the Python algorithm instance with `programs`.
/// `fields` gives each report's values by report-variable name (missing names: 0).
/// Returns `(seconds, messages_sent, callback_errors)`.
#[pyfunction]
#[pyo3(signature = (alg, programs, *, flows, reports, fields, rust_alg="reno"))]
pub(crate) fn bench_reports(
    py: Python<'_>,
    alg: Option<Bound<'_, PyAny>>,
    programs: BTreeMap<String, String>,
    flows: u32,
    reports: u64,
    fields: BTreeMap<String, u64>,
    rust_alg: &str,
) -> PyResult<(f64, u64, u64)> {
    if flows == 0 {
        return Err(PyValueError::new_err("flows must be at least 1"));
    }
    let dynamic = DynPrograms::new();
    let ctx = Ctx::new(py, dynamic.clone(), true)?;
    let boxed = match &alg {
        None => ccp_algs::by_name(rust_alg)
            .ok_or_else(|| PyValueError::new_err(format!("no Rust algorithm {rust_alg:?}")))?
            .build(),
        Some(a) => BoxedAlg::new(PyAlg {
            name: "python".into(),
            programs,
            kind: AlgKind::Current(a.clone().unbind()),
            ctx: ctx.clone(),
            label: a
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default(),
        }),
    };
    let agent = AgentBuilder::new()
        .default_alg(boxed)
        .build::<u32>()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let mut host = Host::new(agent, dynamic);
    let program = host
        .agent()
        .programs()
        .next()
        .cloned()
        .ok_or_else(|| PyRuntimeError::new_err("the algorithm has no program"))?;
    let mut values = vec![0u64; program.num_reports()];
    for (name, v) in &fields {
        if let Some(i) = program.report_field_index(name) {
            values[i] = *v;
        }
    }
    let sent = std::cell::Cell::new(0u64);
    let mut count = |_: &u32, _: &[u8]| sent.set(sent.get() + 1);
    for sid in 1..=flows {
        let create = Create {
            sid,
            init_cwnd: 14_600,
            mss: 1460,
            ..Create::default()
        }
        .encode()
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        host.handle(std::time::Duration::ZERO, &0, &create, &mut count);
    }
    let msgs: Vec<Vec<u8>> = (1..=flows)
        .map(|sid| {
            Measure {
                sid,
                program_uid: program.uid(),
                fields: values.clone(),
            }
            .encode()
        })
        .collect::<Result<_, _>>()
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let setup_sent = sent.get();
    let start = Instant::now();
    for i in 0..reports {
        let m = &msgs[(i % u64::from(flows)) as usize];
        host.handle(start.elapsed(), &0, m, &mut count);
    }
    let secs = start.elapsed().as_secs_f64();
    let (stats, _) = host.stats();
    if stats.reports < reports {
        return Err(PyRuntimeError::new_err(format!(
            "only {} of {reports} reports reached the flows",
            stats.reports
        )));
    }
    Ok((secs, sent.get() - setup_sent, ctx.error_count()))
}
