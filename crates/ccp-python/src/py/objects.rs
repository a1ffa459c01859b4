//! The objects a Python algorithm sees: `Datapath` (per-flow commands), `DatapathInfo`
//! (the connection) and `Report` (one measurement).

use std::sync::Arc;

use ccp_agent::{DatapathInfo, Program, SetProgramError, UpdateError};
use pyo3::exceptions::{PyAttributeError, PyReferenceError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::values::{as_refs, to_fields, to_u64};
use super::{CompileError, DatapathError};
use crate::dynamic::{DynHandle, DynProgram, DynUpdateError, InstallError, resolve_all};

/// What a flow's datapath announced when the connection started (read-only).
#[pyclass(module = "portus", name = "DatapathInfo", frozen)]
#[derive(Clone, Debug)]
pub struct PyDatapathInfo {
    /// The connection's socket id on its datapath.
    #[pyo3(get)]
    sock_id: u32,
    /// Initial congestion window, bytes.
    #[pyo3(get)]
    init_cwnd: u32,
    /// Maximum segment size, bytes.
    #[pyo3(get)]
    mss: u32,
    /// Source address (Linux: IPv4 in network byte order).
    #[pyo3(get)]
    src_ip: u32,
    /// Source port.
    #[pyo3(get)]
    src_port: u32,
    /// Destination address.
    #[pyo3(get)]
    dst_ip: u32,
    /// Destination port.
    #[pyo3(get)]
    dst_port: u32,
    /// The algorithm name the datapath asked for, if any.
    #[pyo3(get)]
    requested_alg: Option<String>,
}

impl From<&DatapathInfo> for PyDatapathInfo {
    fn from(i: &DatapathInfo) -> Self {
        PyDatapathInfo {
            sock_id: i.sock_id,
            init_cwnd: i.init_cwnd,
            mss: i.mss,
            src_ip: i.src_ip,
            src_port: i.src_port,
            dst_ip: i.dst_ip,
            dst_port: i.dst_port,
            requested_alg: i.requested_alg.clone(),
        }
    }
}

#[pymethods]
impl PyDatapathInfo {
    fn __repr__(&self) -> String {
        format!(
            "DatapathInfo(sock_id={}, init_cwnd={}, mss={}, src_ip={}, src_port={}, dst_ip={}, dst_port={})",
            self.sock_id,
            self.init_cwnd,
            self.mss,
            self.src_ip,
            self.src_port,
            self.dst_ip,
            self.dst_port
        )
    }
}

/// The program a report came from.
#[derive(Clone, Debug)]
pub(crate) enum ProgRef {
    /// Declared by `datapath_programs`, compiled at start.
    Static(Arc<Program>),
    /// Installed at run time with `datapath.install`.
    Dynamic(Arc<DynProgram>),
}

impl ProgRef {
    fn index(&self, name: &str) -> Option<usize> {
        match self {
            ProgRef::Static(p) => p.report_field_index(name),
            ProgRef::Dynamic(p) => p.report_field_index(name),
        }
    }

    fn name(&self) -> Option<&str> {
        match self {
            ProgRef::Static(p) => Some(p.name()),
            ProgRef::Dynamic(_) => None,
        }
    }

    fn uid(&self) -> u32 {
        match self {
            ProgRef::Static(p) => p.uid(),
            ProgRef::Dynamic(p) => p.uid(),
        }
    }

    fn names(&self) -> Vec<String> {
        match self {
            ProgRef::Static(p) => {
                let mut v: Vec<(u32, String)> = p
                    .scope()
                    .reports()
                    .iter()
                    .map(|v| (v.index, v.short_name().to_owned()))
                    .collect();
                v.sort();
                v.into_iter().map(|(_, n)| n).collect()
            }
            ProgRef::Dynamic(p) => p.report_names().to_vec(),
        }
    }
}

/// One report (MEASURE) of a flow: its program's report variables as attributes
/// (`r.acked` for `Report.acked`), plus `r.Cwnd` and `r.Rate` when the datapath sends
/// them.
#[pyclass(module = "portus", name = "Report", frozen)]
pub struct PyReport {
    prog: ProgRef,
    fields: Vec<u64>,
    cwnd_rate: Option<(u64, u64)>,
    time: f64,
}

impl PyReport {
    pub(crate) fn new(
        prog: ProgRef,
        fields: &[u64],
        cwnd_rate: Option<(u64, u64)>,
        time: f64,
    ) -> PyReport {
        PyReport {
            prog,
            fields: fields.to_vec(),
            cwnd_rate,
            time,
        }
    }

    fn lookup(&self, name: &str) -> Result<u64, String> {
        if let Some(i) = self.prog.index(name) {
            return self.fields.get(i).copied().ok_or_else(|| {
                format!(
                    "report has {} fields, `{name}` is field {i} (truncated report)",
                    self.fields.len()
                )
            });
        }
        match (name, self.cwnd_rate) {
            ("Cwnd", Some((c, _))) => Ok(c),
            ("Rate", Some((_, r))) => Ok(r),
            ("Cwnd" | "Rate", None) => Err(format!(
                "`{name}` is not available: this datapath does not append Cwnd/Rate to its reports \
                 (a legacy libccp datapath, or the REPORT_CWND_RATE capability was not negotiated); \
                 copy it into a report variable instead, e.g. (:= Report.cwnd Cwnd)"
            )),
            _ => Err(format!(
                "report has no field `{name}` (fields of program {}: {})",
                self.prog
                    .name()
                    .map(|n| format!("`{n}`"))
                    .unwrap_or_else(|| format!("uid {}", self.prog.uid())),
                self.prog.names().join(", ")
            )),
        }
    }
}

#[pymethods]
impl PyReport {
    fn __getattr__(&self, name: &str) -> PyResult<u64> {
        self.lookup(name).map_err(PyAttributeError::new_err)
    }

    /// A field by name (`"acked"`, `"Report.acked"`, `"Cwnd"`, `"Rate"`), or `default`.
    #[pyo3(signature = (name, default=None))]
    fn get(&self, py: Python<'_>, name: &str, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        match self.lookup(name) {
            Ok(v) => Ok(v.into_pyobject(py)?.into_any().unbind()),
            Err(_) => Ok(default.unwrap_or_else(|| py.None())),
        }
    }

    /// The report variables (short names) and, when present, `Cwnd` and `Rate`.
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for n in self.prog.names() {
            if let Ok(v) = self.lookup(&n) {
                d.set_item(n, v)?;
            }
        }
        if let Some((c, r)) = self.cwnd_rate {
            d.set_item("Cwnd", c)?;
            d.set_item("Rate", r)?;
        }
        Ok(d)
    }

    /// Name of the program that produced the report (`None` for an installed program).
    #[getter]
    fn program_name(&self) -> Option<String> {
        self.prog.name().map(str::to_owned)
    }

    /// uid of the program that produced the report.
    #[getter]
    fn program_uid(&self) -> u32 {
        self.prog.uid()
    }

    /// When the agent received it, in seconds since the agent started (virtual time on
    /// the simulator).
    #[getter]
    fn time(&self) -> f64 {
        self.time
    }

    fn __contains__(&self, name: &str) -> bool {
        self.lookup(name).is_ok()
    }

    fn __repr__(&self) -> String {
        let mut parts: Vec<String> = self
            .prog
            .names()
            .into_iter()
            .filter_map(|n| self.lookup(&n).ok().map(|v| format!("{n}={v}")))
            .collect();
        if let Some((c, r)) = self.cwnd_rate {
            parts.push(format!("Cwnd={c}"));
            parts.push(format!("Rate={r}"));
        }
        format!("Report({})", parts.join(", "))
    }
}

/// A flow's handle on its datapath: switch programs, set variables.
#[pyclass(module = "portus", name = "Datapath")]
pub struct PyDatapath {
    inner: ccp_agent::Datapath,
    dynh: DynHandle,
    dynamic_ok: bool,
}

impl PyDatapath {
    pub(crate) fn new(inner: ccp_agent::Datapath, dynh: DynHandle, dynamic_ok: bool) -> PyDatapath {
        PyDatapath {
            inner,
            dynh,
            dynamic_ok,
        }
    }
}

fn set_program_err(e: SetProgramError) -> PyErr {
    DatapathError::new_err(e.to_string())
}

fn update_err(e: UpdateError) -> PyErr {
    match e {
        UpdateError::NoProgram(_) => PyReferenceError::new_err(e.to_string()),
        e => DatapathError::new_err(e.to_string()),
    }
}

fn dyn_update_err(e: DynUpdateError) -> PyErr {
    DatapathError::new_err(e.to_string())
}

#[pymethods]
impl PyDatapath {
    /// The connection's socket id.
    #[getter]
    fn sock_id(&self) -> u32 {
        self.inner.sock_id()
    }

    /// Whether the flow still exists (commands on a closed flow raise `DatapathError`).
    #[getter]
    fn attached(&self) -> bool {
        self.inner.is_attached() && self.dynh.is_attached()
    }

    /// Name of the program set with `set_program` (`None` before, or while an installed
    /// program runs).
    #[getter]
    fn program(&self) -> Option<String> {
        if self.dynh.current().is_some() {
            return None;
        }
        self.inner.program().map(|p| p.name().to_owned())
    }

    /// Switch the flow to program `name` (one of `datapath_programs()`), with initial
    /// values `fields`: a list of `(name, value)` pairs or a dict (control variables,
    /// `Cwnd`, `Rate`).
    #[pyo3(signature = (name, fields=None))]
    fn set_program(&mut self, name: &str, fields: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let fields = to_fields(fields)?;
        let refs = as_refs(&fields);
        let pending = self.dynh.pending_this_round();
        self.inner
            .set_program(name, Some(&refs))
            .map_err(set_program_err)?;
        self.dynh.clear_current();
        if pending {
            // An installed program's messages of this round go out after the agent's:
            // repeat the switch behind them so the datapath ends on this program.
            if let Some(p) = self.inner.program() {
                let ups = resolve_all(p.scope(), &refs)
                    .map_err(|e| DatapathError::new_err(e.to_string()))?;
                self.dynh
                    .push_resolved(Some(p.uid()), &ups)
                    .map_err(dyn_update_err)?;
            }
        }
        Ok(())
    }

    /// Set one variable of the current program (a control variable, `Cwnd` in bytes or
    /// `Rate` in bytes/s). Before any program is set only `Cwnd` and `Rate` can be set
    /// (`ReferenceError` otherwise).
    fn update_field(&self, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = to_u64(value, name)?;
        self.update(&[(name, v)])
    }

    /// Set several variables in one message: a list of `(name, value)` pairs or a dict.
    fn update_fields(&self, fields: &Bound<'_, PyAny>) -> PyResult<()> {
        let fields = to_fields(Some(fields))?;
        self.update(&as_refs(&fields))
    }

    /// Compile `program` (cached by text), send it to the datapath if needed and switch
    /// the flow to it — the older pyportus API. Raises `CompileError` with
    /// `LINE:COL: message` if it does not compile.
    #[pyo3(signature = (program, fields=None))]
    fn install(&self, program: &str, fields: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        if !self.dynamic_ok {
            return Err(DatapathError::new_err(
                "install() is not available on the simulator: declare the program in \
                 datapath_programs() and switch to it with set_program()",
            ));
        }
        let fields = to_fields(fields)?;
        match self.dynh.install(program, &as_refs(&fields)) {
            Ok(_) => Ok(()),
            Err(InstallError::Compile(e)) => Err(CompileError::new_err(e.to_string())),
            Err(e) => Err(DatapathError::new_err(e.to_string())),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Datapath(sock_id={}, program={:?})",
            self.inner.sock_id(),
            self.program()
        )
    }
}

impl PyDatapath {
    fn update(&self, fields: &[(&str, u64)]) -> PyResult<()> {
        if self.dynh.update_fields(fields).map_err(dyn_update_err)? {
            return Ok(());
        }
        if self.dynh.pending_this_round() {
            // Keep the order behind this round's installed-program messages.
            let ups = match self.inner.program() {
                Some(p) => resolve_all(p.scope(), fields)
                    .map_err(|e| DatapathError::new_err(e.to_string()))?,
                None => {
                    if let Some((n, _)) =
                        fields.iter().find(|(n, _)| !matches!(*n, "Cwnd" | "Rate"))
                    {
                        return Err(update_err(UpdateError::NoProgram((*n).to_owned())));
                    }
                    fields
                        .iter()
                        .map(|&(n, v)| {
                            if n == "Cwnd" {
                                ccp_wire::UpdateField::cwnd(v)
                            } else {
                                ccp_wire::UpdateField::rate(v)
                            }
                        })
                        .collect()
                }
            };
            return self.dynh.push_resolved(None, &ups).map_err(dyn_update_err);
        }
        self.inner.update_fields(fields).map_err(update_err)
    }
}
