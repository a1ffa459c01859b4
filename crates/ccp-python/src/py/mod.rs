//! The PyO3 extension module `portus._native`.
//!
//! The pure-Python package `portus` (in `python/portus/`) wraps it: signature checks,
//! signal handling and the thread helper live there; this side holds everything that runs
//! per message or per report.

use std::sync::OnceLock;

use pyo3::exceptions::{PyBaseException, PyException};
use pyo3::prelude::*;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

mod alg;
mod bench;
mod mock;
mod objects;
mod pybatchy;
mod run;
mod sim;
mod values;

pyo3::create_exception!(
    portus,
    PortusError,
    PyException,
    "Base class of the errors this module raises."
);
pyo3::create_exception!(
    portus,
    CompileError,
    PortusError,
    "A datapath program does not compile; the message starts with `LINE:COL: message`."
);
pyo3::create_exception!(
    portus,
    DatapathError,
    PortusError,
    "A datapath command failed (unknown program or variable, flow closed, ...)."
);
pyo3::create_exception!(
    portus,
    AgentStopped,
    PyBaseException,
    "Raised by portus's SIGTERM handler to stop a running agent cleanly."
);

type ReloadHandle = tracing_subscriber::reload::Handle<EnvFilter, tracing_subscriber::Registry>;

/// The log filter's reload handle, when this module installed the subscriber.
static LOG_RELOAD: OnceLock<Option<ReloadHandle>> = OnceLock::new();

/// Filter from `PORTUS_LOG` (or `RUST_LOG`), else `default`.
fn env_filter(default: &str) -> EnvFilter {
    for var in ["PORTUS_LOG", "RUST_LOG"] {
        if let Ok(v) = std::env::var(var)
            && let Ok(f) = EnvFilter::try_new(v)
        {
            return f;
        }
    }
    EnvFilter::new(default)
}

/// Route the Rust side's `tracing` events to stderr (level `warn` unless `PORTUS_LOG` /
/// `RUST_LOG` say otherwise).
fn init_logging() {
    LOG_RELOAD.get_or_init(|| {
        let (filter, handle) = tracing_subscriber::reload::Layer::new(env_filter("warn"));
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false);
        tracing_subscriber::registry()
            .with(filter)
            .with(fmt)
            .try_init()
            .ok()
            .map(|()| handle)
    });
}

/// `debug=True`: show the agent's `info` events (every message when message logging is
/// on), unless the environment chose a filter.
pub(crate) fn set_debug_logging(on: bool) {
    if std::env::var_os("PORTUS_LOG").is_some() || std::env::var_os("RUST_LOG").is_some() {
        return;
    }
    if let Some(Some(h)) = LOG_RELOAD.get() {
        let _ = h.reload(EnvFilter::new(if on { "info" } else { "warn" }));
    }
}

/// Compile `src`: `""` if it compiles, else the error (`LINE:COL: message`, source line,
/// caret) — pyportus's `try_compile`.
#[pyfunction]
fn try_compile(src: &str) -> String {
    match ccp_lang::compile(src, 1) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

/// Compile `src` and return the short names of its report variables in field order;
/// raises `CompileError` if it does not compile.
#[pyfunction]
fn report_fields(src: &str) -> PyResult<Vec<String>> {
    let p = ccp_lang::compile(src, 1).map_err(|e| CompileError::new_err(e.to_string()))?;
    let mut vars: Vec<(u32, String)> = p
        .scope
        .reports()
        .iter()
        .map(|v| (v.index, v.short_name().to_owned()))
        .collect();
    vars.sort();
    Ok(vars.into_iter().map(|(_, n)| n).collect())
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    init_logging();
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("PortusError", py.get_type::<PortusError>())?;
    m.add("CompileError", py.get_type::<CompileError>())?;
    m.add("DatapathError", py.get_type::<DatapathError>())?;
    m.add("AgentStopped", py.get_type::<AgentStopped>())?;
    m.add_class::<objects::PyDatapath>()?;
    m.add_class::<objects::PyDatapathInfo>()?;
    m.add_class::<objects::PyReport>()?;
    m.add_class::<run::StopFlag>()?;
    m.add_class::<mock::MockDatapath>()?;
    pybatchy::register(m)?;
    m.add_function(wrap_pyfunction!(try_compile, m)?)?;
    m.add_function(wrap_pyfunction!(report_fields, m)?)?;
    m.add_function(wrap_pyfunction!(run::run_agent, m)?)?;
    m.add_function(wrap_pyfunction!(sim::simulate, m)?)?;
    m.add_function(wrap_pyfunction!(bench::bench_reports, m)?)?;
    Ok(())
}
