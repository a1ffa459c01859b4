//! The agent's run loop for Python: receive with the GIL released, handle a whole batch
//! of datagrams (and so run the Python callbacks) with it held, check for signals between
//! rounds.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ccp_agent::{AgentBuilder, AgentTransport, IpcTransport, StartError, UnixTransport};
use ccp_ipc::netlink::NetlinkSocket;
use ccp_ipc::unix::UnixSocket;
use ccp_ipc::{IpcError, Mode};
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::alg::{AlgKind, Ctx, PyAlg};
use super::{AgentStopped, CompileError, set_debug_logging};
use crate::dynamic::{DynPrograms, PLACEHOLDER_PROGRAM, PLACEHOLDER_SOURCE};
use crate::host::Host;

/// A flag another thread sets to stop a running agent (`portus.spawn` uses it).
#[pyclass(module = "portus._native", frozen)]
#[derive(Debug, Default)]
pub struct StopFlag(Arc<AtomicBool>);

#[pymethods]
impl StopFlag {
    #[new]
    fn new() -> StopFlag {
        StopFlag::default()
    }

    /// Ask the agent to stop (it notices within 100 ms).
    fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Datagrams received in one round, copied out of the transport's buffers.
struct Batch<A> {
    bytes: Vec<u8>,
    items: Vec<(A, usize, usize)>,
}

impl<A: Clone> Batch<A> {
    fn push(&mut self, from: &A, b: &[u8]) {
        let s = self.bytes.len();
        self.bytes.extend_from_slice(b);
        self.items.push((from.clone(), s, self.bytes.len()));
    }
    fn clear(&mut self) {
        self.bytes.clear();
        self.items.clear();
    }
}

/// Counters returned by `run_agent`.
#[derive(Debug, Default)]
struct Outcome {
    send_errors: u64,
    recv_errors: u64,
    rounds: u64,
}

/// Build the agent: the algorithm's programs (or the placeholder when it has none).
fn build_host<A: ccp_agent::Addr>(
    alg: PyAlg,
    dynamic: DynPrograms,
    debug: bool,
) -> PyResult<Host<A>> {
    let agent = AgentBuilder::new()
        .impl_name("portus-python")
        .log_messages(debug)
        .default_alg(alg)
        .build::<A>()
        .map_err(|e| match e {
            StartError::Compile { program, error, .. } => {
                CompileError::new_err(format!("datapath program `{program}`: {error}"))
            }
            other => PyValueError::new_err(other.to_string()),
        })?;
    Ok(Host::new(agent, dynamic))
}

/// One round: receive (GIL released), handle every datagram (callbacks run), send.
/// Returns the number of datagrams.
fn round<T: AgentTransport>(
    py: Python<'_>,
    host: &mut Host<T::Addr>,
    transport: &mut T,
    batch: &mut Batch<T::Addr>,
    out: &mut Outcome,
    start: Instant,
) -> Result<usize, IpcError> {
    let got = py.detach(|| transport.recv_batch(&mut |from, b| batch.push(from, b)));
    let n = match got {
        Ok(n) => n,
        Err(IpcError::Disconnected) => return Err(IpcError::Disconnected),
        Err(e) => {
            out.recv_errors += 1;
            if out.recv_errors.is_power_of_two() {
                tracing::warn!(error = %e, count = out.recv_errors, "receive failed");
            }
            0
        }
    };
    out.rounds += 1;
    let mut send_errors = 0u64;
    for (from, s, e) in &batch.items {
        let bytes = batch.bytes.get(*s..*e).unwrap_or(&[]);
        host.handle(start.elapsed(), from, bytes, &mut |to, b| {
            if transport.send(to, b).is_err() {
                send_errors += 1;
            }
        });
    }
    batch.clear();
    send_errors += py.detach(|| transport.flush());
    if send_errors > 0 {
        let before = out.send_errors;
        out.send_errors += send_errors;
        if before == 0 || (before + 1).is_power_of_two() {
            tracing::warn!(count = out.send_errors, "messages could not be sent");
        }
    }
    Ok(n)
}

/// Rounds after a stop request, to handle what had already arrived (a close sent just
/// before the stop still reaches its flow).
const FINAL_ROUNDS: usize = 64;

/// Run the loop until stopped. Returns `Err` only for errors to re-raise after the clean
/// stop.
fn serve<T: AgentTransport>(
    py: Python<'_>,
    host: &mut Host<T::Addr>,
    transport: &mut T,
    stop: &AtomicBool,
    ctx: &Ctx,
) -> (Outcome, PyResult<()>) {
    let start = Instant::now();
    let mut out = Outcome::default();
    let mut batch = Batch::<T::Addr> {
        bytes: Vec::with_capacity(64 * 1024),
        items: Vec::with_capacity(UnixTransport::BATCH),
    };
    let result = loop {
        if stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        if let Err(e) = py.check_signals() {
            break Err(e);
        }
        if let Some(e) = ctx.take_stop() {
            break Err(e);
        }
        if let Err(IpcError::Disconnected) = round(py, host, transport, &mut batch, &mut out, start)
        {
            break Ok(());
        }
    };
    let clean = match &result {
        Ok(()) => true,
        Err(e) => is_clean_stop(py, e),
    };
    if clean {
        for _ in 0..FINAL_ROUNDS {
            match round(py, host, transport, &mut batch, &mut out, start) {
                Ok(n) if n > 0 => continue,
                _ => break,
            }
        }
    }
    (out, result)
}

/// Whether `e` is a request to stop cleanly (Ctrl-C, SIGTERM through portus's handler).
fn is_clean_stop(py: Python<'_>, e: &PyErr) -> bool {
    e.is_instance_of::<PyKeyboardInterrupt>(py) || e.is_instance_of::<AgentStopped>(py)
}

fn summary<'py, A: ccp_agent::Addr>(
    py: Python<'py>,
    host: &Host<A>,
    out: &Outcome,
    ctx: &Ctx,
    how: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let (s, d) = host.stats();
    let dict = PyDict::new(py);
    dict.set_item("stopped_by", how)?;
    dict.set_item("datagrams", s.datagrams)?;
    dict.set_item("flows_created", s.creates)?;
    dict.set_item("flows_closed", s.closes)?;
    dict.set_item("reports", s.reports + d.reports)?;
    dict.set_item("messages_sent", s.sent)?;
    dict.set_item("dropped", s.dropped() + d.stale_reports)?;
    dict.set_item("programs_installed", d.compiled)?;
    dict.set_item("callback_errors", ctx.error_count())?;
    dict.set_item("send_errors", out.send_errors)?;
    dict.set_item("recv_errors", out.recv_errors)?;
    Ok(dict)
}

fn run_with<'py, T: AgentTransport>(
    py: Python<'py>,
    mut host: Host<T::Addr>,
    mut transport: T,
    stop: &AtomicBool,
    ctx: &Ctx,
    on_ready: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    if let Some(cb) = on_ready {
        cb.call0()?;
    }
    let (out, result) = serve(py, &mut host, &mut transport, stop, ctx);
    // Clean stop: every flow's close() runs; dropping the transport removes the socket.
    host.close_all();
    drop(transport);
    match result {
        Ok(()) => summary(py, &host, &out, ctx, "stop"),
        Err(e) if is_clean_stop(py, &e) => {
            let how = if e.is_instance_of::<PyKeyboardInterrupt>(py) {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            tracing::info!("agent stopped ({how})");
            summary(py, &host, &out, ctx, how)
        }
        Err(e) => Err(e),
    }
}

/// Run the agent on `ipc` (`"unix"` or `"netlink"`) until stopped (Ctrl-C, SIGTERM
/// through portus's handler, `stop.set()`, or `sys.exit()` from a callback), then close
/// every flow and return counters. `alg` is an algorithm instance (`legacy=False`) or a
/// per-flow class (`legacy=True`); `programs` are its compiled-at-start programs.
#[pyfunction]
#[pyo3(signature = (ipc, alg, programs, *, legacy, alg_name="python", name="portus", debug=false, stop=None, on_ready=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_agent<'py>(
    py: Python<'py>,
    ipc: &str,
    alg: Bound<'py, PyAny>,
    programs: BTreeMap<String, String>,
    legacy: bool,
    alg_name: &str,
    name: &str,
    debug: bool,
    stop: Option<PyRef<'py, StopFlag>>,
    on_ready: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    set_debug_logging(debug);
    let dynamic = DynPrograms::new();
    let ctx = Ctx::new(py, dynamic.clone(), true)?;
    let label = if legacy {
        alg.getattr("__name__")
            .and_then(|n| n.extract::<String>())
            .unwrap_or_else(|_| "algorithm".into())
    } else {
        alg.get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "algorithm".into())
    };
    let mut programs = programs;
    if programs.is_empty() {
        programs.insert(PLACEHOLDER_PROGRAM.into(), PLACEHOLDER_SOURCE.into());
    }
    let make_alg = |programs: BTreeMap<String, String>| PyAlg {
        name: alg_name.to_owned(),
        programs,
        kind: if legacy {
            AlgKind::Legacy(alg.clone().unbind())
        } else {
            AlgKind::Current(alg.clone().unbind())
        },
        ctx: ctx.clone(),
        label: label.clone(),
    };
    let flag = stop
        .as_ref()
        .map(|s| s.0.clone())
        .unwrap_or_else(|| Arc::new(AtomicBool::new(false)));
    match ipc {
        "unix" => {
            let host = build_host::<PathBuf>(make_alg(programs), dynamic, debug)?;
            let sock = if name.contains('/') {
                UnixSocket::bind(name, Mode::Nonblocking)
            } else {
                UnixSocket::agent(name, Mode::Nonblocking)
            }
            .map_err(|e| PyOSError::new_err(e.to_string()))?;
            tracing::info!(path = %sock.path().display(), "agent listening");
            let mut transport = UnixTransport::new(sock, Duration::ZERO);
            transport.set_poll_interval(Duration::from_millis(50));
            run_with(py, host, transport, &flag, &ctx, on_ready)
        }
        "netlink" => {
            let host = build_host::<()>(make_alg(programs), dynamic, debug)?;
            let sock = NetlinkSocket::agent(Mode::Blocking(Duration::from_millis(50)))
                .map_err(|e| PyOSError::new_err(e.to_string()))?;
            run_with(py, host, IpcTransport::new(sock), &flag, &ctx, on_ready)
        }
        "char" => Err(PyValueError::new_err(
            "ipc \"char\" (the kernel character device) is not supported: use \"netlink\" or \"unix\"",
        )),
        other => Err(PyValueError::new_err(format!(
            "unknown ipc {other:?}: expected \"unix\" or \"netlink\""
        ))),
    }
}
