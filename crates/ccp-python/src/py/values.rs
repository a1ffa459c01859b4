//! Python values → register values.

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

/// A register value: a non-negative `int` (or `bool`), or a finite non-negative `float`
/// (truncated: windows computed as `cwnd * 0.8` just work).
pub(crate) fn to_u64(v: &Bound<'_, PyAny>, what: &str) -> PyResult<u64> {
    if v.is_instance_of::<PyInt>() || v.is_instance_of::<PyBool>() {
        return v.extract::<u64>().map_err(|_| {
            PyOverflowError::new_err(format!(
                "{what}: {} is not a register value (0 ..= 2**64-1)",
                v.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        });
    }
    if v.is_instance_of::<PyFloat>() {
        let f: f64 = v.extract()?;
        if !f.is_finite() || f < 0.0 {
            return Err(PyValueError::new_err(format!(
                "{what}: {f} is not a register value (finite and >= 0)"
            )));
        }
        // Saturating float → int conversion.
        return Ok(f as u64);
    }
    // Anything with __index__ (numpy integers, ...).
    if let Ok(i) = v.call_method0("__index__") {
        return to_u64(&i, what);
    }
    Err(PyTypeError::new_err(format!(
        "{what}: expected an int, got {}",
        v.get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default()
    )))
}

/// `(name, value)` pairs from a list/tuple of pairs or a dict; `None` → empty.
pub(crate) fn to_fields(fields: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, u64)>> {
    let Some(f) = fields.filter(|f| !f.is_none()) else {
        return Ok(Vec::new());
    };
    if let Ok(d) = f.cast::<PyDict>() {
        let mut out = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            let name = field_name(&k)?;
            let value = to_u64(&v, &name)?;
            out.push((name, value));
        }
        return Ok(out);
    }
    if f.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "fields: expected a list of (name, value) pairs or a dict, got a str",
        ));
    }
    let mut out = Vec::new();
    for item in f.try_iter().map_err(|_| {
        PyTypeError::new_err("fields: expected a list of (name, value) pairs or a dict")
    })? {
        let item = item?;
        let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "fields: each item must be a (name, value) pair, got {}",
                item.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        })?;
        let name = field_name(&k)?;
        let value = to_u64(&v, &name)?;
        out.push((name, value));
    }
    Ok(out)
}

fn field_name(k: &Bound<'_, PyAny>) -> PyResult<String> {
    k.extract::<String>().map_err(|_| {
        PyTypeError::new_err(format!(
            "fields: names must be str, got {}",
            k.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    })
}

/// Borrowed view of owned pairs.
pub(crate) fn as_refs(fields: &[(String, u64)]) -> Vec<(&str, u64)> {
    fields.iter().map(|(n, v)| (n.as_str(), *v)).collect()
}
