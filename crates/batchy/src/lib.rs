//! Batchy: a run-to-completion packet-pipeline engine with fractional buffers, a
//! profiler and SLO-aware batch controllers (a Rust re-implementation of Lévai et al.,
//! "Batchy", NSDI 2020; see `docs/batchy.md`).
//!
//! * [`engine`]: modules, tasks, workers, the RTC executor, real and virtual clocks;
//! * [`fbuf`]: the fractional buffer;
//! * [`modules`]: the module library;
//! * [`controller`]: Null, Max, FixN, OnOff, FeasDir, ProjGradient;
//! * [`Batchy`]: the scripting API (`add_worker`, `add_task`, `add_module`, `add_flow`,
//!   `run`, `plot`, `dump`), also driven by TOML configs ([`config`]);
//! * [`profiler`]: batch sweeps and T0/T1 regression;
//! * [`cli`]: the `batchy run` / `batchy profile` commands.
#![forbid(unsafe_code)]

pub mod batchy;
pub mod cli;
pub mod config;
pub mod controller;
pub mod engine;
pub mod fbuf;
pub mod module;
pub mod modules;
pub mod output;
pub mod packet;
pub mod pipelines;
pub mod profiler;
pub mod stats;

pub use batchy::{Batchy, BatchyError, FlowSpec, RoundRecord, Settings};
pub use engine::ClockMode;
