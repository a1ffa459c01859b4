//! Python bindings of the CCP agent: the `portus` / `pyportus` module.
//!
//! The wheel (built by maturin from this crate with the `python` feature) contains the
//! extension `portus._native` and two pure-Python packages, `portus` and `pyportus` (the
//! latter re-exports the former), so both `import portus` and `import pyportus` work. See
//! `docs/python.md` for the Python API.
//!
//! This crate's Rust side is split in two:
//!
//! * a pure-Rust core, always built and tested by `cargo test` without a Python
//!   interpreter: [`dynamic`] (programs installed at run time by the older pyportus API,
//!   `datapath.install(src)`) and [`host`] (the `ccp-agent` core plus that table behind one
//!   sans-IO entry point);
//! * the PyO3 layer (feature `python`): algorithm and flow adapters calling Python, the
//!   run loop over unix sockets / netlink that releases the GIL while it waits and checks
//!   for signals, a mock datapath for tests, and the simulator entry point.
#![forbid(unsafe_code)]

pub mod dynamic;
pub mod host;

pub use dynamic::{
    DynHandle, DynProgram, DynPrograms, DynReport, DynSink, DynStats, DynUpdateError, InstallError,
    PLACEHOLDER_PROGRAM, PLACEHOLDER_SOURCE,
};
pub use host::Host;

#[cfg(feature = "python")]
mod py;

#[cfg(test)]
mod tests;
