//! Python algorithms as `ccp_agent::CongAlg`s, Python flow objects as `ccp_agent::Flow`s.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use ccp_agent::{CongAlg, Datapath, DatapathInfo, Flow, Programs, Report};
use pyo3::exceptions::PyException;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::objects::{ProgRef, PyDatapath, PyDatapathInfo, PyReport};
use crate::dynamic::{DynHandle, DynPrograms, DynReport, DynSink};

/// Tracebacks logged per second at most (the rest are counted and summarised).
const TRACEBACKS_PER_SEC: u32 = 5;

#[derive(Debug)]
struct Limiter {
    window: Instant,
    count: u32,
    suppressed: u64,
}

/// What the algorithm's callbacks share with the run loop: the dynamic-program table,
/// where errors are logged, and a pending stop request (a `KeyboardInterrupt` or
/// `SystemExit` raised inside a callback).
pub(crate) struct Ctx {
    pub(crate) dynamic: DynPrograms,
    /// Whether `datapath.install` works here (the socket agent: yes; the simulator's
    /// in-process agent: no).
    pub(crate) dynamic_ok: bool,
    logger: Py<PyAny>,
    limiter: Mutex<Limiter>,
    stop: Mutex<Option<PyErr>>,
    /// Exceptions raised by callbacks (logged or not).
    errors: Mutex<u64>,
}

impl Ctx {
    pub(crate) fn new(
        py: Python<'_>,
        dynamic: DynPrograms,
        dynamic_ok: bool,
    ) -> PyResult<Arc<Ctx>> {
        let logger = py
            .import("logging")?
            .call_method1("getLogger", ("portus",))?
            .unbind();
        Ok(Arc::new(Ctx {
            dynamic,
            dynamic_ok,
            logger,
            limiter: Mutex::new(Limiter {
                window: Instant::now(),
                count: 0,
                suppressed: 0,
            }),
            stop: Mutex::new(None),
            errors: Mutex::new(0),
        }))
    }

    /// Take the stop request, if a callback raised one.
    pub(crate) fn take_stop(&self) -> Option<PyErr> {
        self.stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Number of exceptions callbacks raised.
    pub(crate) fn error_count(&self) -> u64 {
        *self.errors.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A callback raised `err`: a non-`Exception` (`KeyboardInterrupt`, `SystemExit`, …)
    /// asks the agent to stop; anything else is logged with its traceback (rate-limited)
    /// and the flow goes on.
    pub(crate) fn callback_error(&self, py: Python<'_>, what: &str, err: PyErr) {
        if !err.is_instance_of::<PyException>(py) {
            self.request_stop(err);
            return;
        }
        *self.errors.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        let suppressed = {
            let mut l = self.limiter.lock().unwrap_or_else(PoisonError::into_inner);
            if l.window.elapsed() >= Duration::from_secs(1) {
                l.window = Instant::now();
                l.count = 0;
            }
            l.count += 1;
            if l.count > TRACEBACKS_PER_SEC {
                l.suppressed += 1;
                return;
            }
            std::mem::take(&mut l.suppressed)
        };
        let mut msg = what.to_owned();
        if suppressed > 0 {
            msg.push_str(&format!(
                "; {suppressed} more exceptions in callbacks were not shown"
            ));
        }
        let logged = (|| -> PyResult<()> {
            let value = err.value(py);
            if let Some(tb) = err.traceback(py) {
                value.setattr("__traceback__", tb)?;
            }
            let kwargs = PyDict::new(py);
            kwargs.set_item("exc_info", value)?;
            self.logger
                .call_method(py, "error", (msg.clone(),), Some(&kwargs))?;
            Ok(())
        })();
        if let Err(log_err) = logged {
            if log_err.is_instance_of::<PyException>(py) {
                // Logging itself failed (e.g. a broken handler): fall back to stderr.
                eprintln!("portus: {msg}");
                err.print(py);
            } else {
                // A signal handler raised (Ctrl-C, SIGTERM) while the logging code ran:
                // that is a stop request, not to be lost.
                self.request_stop(log_err);
            }
        }
    }

    fn request_stop(&self, err: PyErr) {
        let mut s = self.stop.lock().unwrap_or_else(PoisonError::into_inner);
        if s.is_none() {
            *s = Some(err);
        }
    }
}

/// How the Python side defines the algorithm.
pub(crate) enum AlgKind {
    /// Current API: an `AlgBase` instance with `new_flow(datapath, datapath_info)`.
    Current(Py<PyAny>),
    /// Older API: a class instantiated once per flow as `cls(datapath, datapath_info)`,
    /// then `on_create()` if it has one.
    Legacy(Py<PyAny>),
}

/// A Python algorithm.
pub(crate) struct PyAlg {
    pub(crate) name: String,
    pub(crate) programs: Programs,
    pub(crate) kind: AlgKind,
    pub(crate) ctx: Arc<Ctx>,
    /// Class name, for logs.
    pub(crate) label: String,
}

/// Shared between the agent-owned flow and the dynamic-program table.
pub(crate) struct FlowCell {
    sid: u32,
    label: String,
    obj: OnceLock<Py<PyAny>>,
    ctx: Arc<Ctx>,
}

impl FlowCell {
    fn deliver(&self, prog: ProgRef, fields: &[u64], cwnd_rate: Option<(u64, u64)>, t: Duration) {
        let Some(obj) = self.obj.get() else {
            return;
        };
        Python::attach(|py| {
            let r = PyReport::new(prog, fields, cwnd_rate, t.as_secs_f64());
            // Looked up per report, so a flow may replace its on_report.
            let res = Py::new(py, r)
                .and_then(|r| obj.bind(py).call_method1(intern!(py, "on_report"), (r,)));
            if let Err(e) = res {
                self.ctx.callback_error(
                    py,
                    &format!(
                        "{}.on_report (flow {}) raised an exception (the flow keeps running)",
                        self.label, self.sid
                    ),
                    e,
                );
            }
        });
    }
}

impl DynSink for FlowCell {
    fn on_report(&self, _sid: u32, r: DynReport<'_>) {
        self.deliver(
            ProgRef::Dynamic(r.program.clone()),
            r.fields,
            r.cwnd_rate,
            r.received_at,
        );
    }
}

/// A Python flow object as an agent flow.
pub(crate) struct PyFlow {
    cell: Arc<FlowCell>,
    dp: Datapath,
    dynh: DynHandle,
}

impl Flow for PyFlow {
    fn on_report(&mut self, _sock_id: u32, report: Report<'_>) {
        // The agent only delivers reports of the flow's current program.
        let Some(p) = self
            .dp
            .program()
            .filter(|p| p.uid() == report.program_uid())
        else {
            return;
        };
        let cwnd_rate = report.cwnd().ok().zip(report.rate().ok());
        self.cell.deliver(
            ProgRef::Static(p.clone()),
            report.fields(),
            cwnd_rate,
            report.received_at(),
        );
    }

    fn close(&mut self) {
        self.dynh.detach();
        let Some(obj) = self.cell.obj.get() else {
            return;
        };
        Python::attach(|py| {
            let o = obj.bind(py);
            let res = match o.getattr_opt("close") {
                Ok(Some(c)) if c.is_callable() => c.call0().map(drop),
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = res {
                self.cell.ctx.callback_error(
                    py,
                    &format!(
                        "{}.close (flow {}) raised an exception",
                        self.cell.label, self.cell.sid
                    ),
                    e,
                );
            }
        });
    }
}

impl PyAlg {
    fn make_flow(
        &self,
        py: Python<'_>,
        cell: &FlowCell,
        dp: Py<PyDatapath>,
        info: Py<PyDatapathInfo>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let obj = match &self.kind {
            AlgKind::Current(alg) => alg.call_method1(py, "new_flow", (dp, info))?,
            AlgKind::Legacy(cls) => {
                let o = cls.call1(py, (dp, info))?;
                let created = match o.bind(py).getattr_opt("on_create") {
                    Ok(Some(c)) if c.is_callable() => c.call0().map(drop),
                    Ok(_) => Ok(()),
                    Err(e) => Err(e),
                };
                if let Err(e) = created {
                    // The object exists: it still gets its reports.
                    self.ctx.callback_error(
                        py,
                        &format!(
                            "{}.on_create (flow {}) raised an exception (the flow keeps running)",
                            self.label, cell.sid
                        ),
                        e,
                    );
                }
                o
            }
        };
        match obj.bind(py).getattr_opt("on_report")? {
            Some(m) if m.is_callable() => Ok(Some(obj)),
            _ => {
                let what = obj
                    .bind(py)
                    .repr()
                    .map(|r| r.to_string())
                    .unwrap_or_default();
                Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "the flow object {what} has no on_report(self, r) method"
                )))
            }
        }
    }
}

impl CongAlg for PyAlg {
    type Flow = PyFlow;

    fn name(&self) -> &str {
        &self.name
    }

    fn datapath_programs(&self) -> Programs {
        self.programs.clone()
    }

    fn new_flow(&self, dp: Datapath, info: DatapathInfo) -> PyFlow {
        let cell = Arc::new(FlowCell {
            sid: info.sock_id,
            label: self.label.clone(),
            obj: OnceLock::new(),
            ctx: self.ctx.clone(),
        });
        let dynh = self.ctx.dynamic.register_flow(info.sock_id, cell.clone());
        Python::attach(|py| {
            let made = Py::new(
                py,
                PyDatapath::new(dp.clone(), dynh.clone(), self.ctx.dynamic_ok),
            )
            .and_then(|pdp| Ok((pdp, Py::new(py, PyDatapathInfo::from(&info))?)))
            .and_then(|(pdp, pinfo)| self.make_flow(py, &cell, pdp, pinfo));
            match made {
                Ok(Some(obj)) => {
                    let _ = cell.obj.set(obj);
                }
                Ok(None) => {}
                Err(e) => {
                    let what = match self.kind {
                        AlgKind::Current(_) => "new_flow",
                        AlgKind::Legacy(_) => "__init__/on_create",
                    };
                    self.ctx.callback_error(
                        py,
                        &format!(
                            "{}.{what} (flow {}) raised an exception: the flow gets no callbacks",
                            self.label, info.sock_id
                        ),
                        e,
                    );
                }
            }
        });
        PyFlow { cell, dp, dynh }
    }
}
