//! The CCP agent runtime, with the shape of portus 0.9's API (spec §6).
//!
//! An algorithm implements [`CongAlg`] (its name, its datapath programs, and a factory of
//! per-connection [`Flow`]s). Each flow gets a [`Datapath`] handle to switch programs
//! (CHANGE_PROG) and update registers (UPDATE_FIELDS), and receives [`Report`]s (MEASURE)
//! decoded by name through its program's scope.
//!
//! The runtime is split in two:
//!
//! * a **sans-IO core**, [`Agent`]: [`Agent::handle`]`(now, from, bytes)` dispatches one
//!   received datagram, [`Agent::drain`] hands out the queued outgoing messages. It never
//!   panics or gives up on input: malformed, unexpected (INSTALL, UPDATE_FIELDS,
//!   CHANGE_PROG received), unknown-type and out-of-order messages (MEASURE for an unknown
//!   flow) are logged at `warn`/`debug` (at most 10 lines per kind per second), counted in
//!   [`Stats`] and dropped. A simulator drives it directly with virtual time;
//! * a **thin run loop** ([`RunBuilder`], [`run_loop`]) over a `ccp-ipc` transport.
//!
//! # Dispatch
//!
//! | received from address A | action |
//! |---|---|
//! | READY | close A's flows (`close()` is called), send every INSTALL (uid order), then our HELLO |
//! | CREATE | if A never got the INSTALLs: INSTALLs + HELLO first; an existing flow with that sid is closed and replaced; the algorithm is the one registered under the requested name, else the default; `new_flow` |
//! | MEASURE, 0 fields | close the flow (`close()`) |
//! | MEASURE | if its uid is the flow's current program: `on_report`; else dropped (`stale_reports`) |
//! | HELLO (datapath role) | store the negotiated capabilities; send our HELLO if not sent since A's last READY |
//! | anything else | logged, counted, dropped |
//!
//! Program uids are 1, 2, … in a fixed order (default algorithm first, then additional
//! ones in registration order; within an algorithm by program name), so the first INSTALL
//! always carries uid 1, the "new agent" signal libccp uses to wipe stale programs.
//!
//! # Adaptations from portus 0.9
//!
//! * `CongAlg::name(&self) -> &str` (portus: `fn name() -> &'static str`, no `self`) and
//!   `datapath_programs(&self) -> BTreeMap<String, String>` (portus: `&'static str`
//!   names), so algorithms defined at run time (Python) work. `CongAlg` and `Datapath` are
//!   not generic over the transport.
//! * Programs are per algorithm: `set_program(name)` looks `name` up among the flow's own
//!   algorithm's programs (portus merges all algorithms' maps, a later one overwriting).
//! * `set_program(&mut self, name: &str, fields: Option<&[(&str, u64)]>)` returns `()`;
//!   the handle remembers the program, so `update_field(name, value)` and
//!   `update_fields(&[(name, value)])` need no `Scope` (portus's scope-taking form exists as
//!   [`Datapath::update_fields_with_scope`]). Values are `u64` (portus: `u32`). `Cwnd` and
//!   `Rate` may be updated before any program is set.
//! * [`Report`] borrows the agent's buffers (no allocation per report), knows its program,
//!   and `get_field(name)` takes names with or without `Report.`. `Cwnd`/`Rate` can be
//!   read when the datapath appends them (HELLO capability [`REPORT_CWND_RATE`]); with a
//!   legacy libccp they return [`ReportError::CwndNotReported`] (portus cannot read them at
//!   all).
//! * **Reports whose program uid is not the flow's current program are dropped** (as
//!   pyportus does; portus passes them on and its `get_field` then fails with a stale-scope
//!   error): after `set_program`, reports of the previous program still in flight would
//!   otherwise be decoded with the wrong names.
//! * **READY closes the datapath's flows by calling `close()`** (portus drops them
//!   silently), and so does a CREATE reusing a live sid and the runtime's shutdown: every
//!   flow sees exactly one `close()`.
//! * `Flow: Send` and `CongAlg: Send` (the PyO3 layer and `spawn_thread` need it).
//! * Malformed input never stops the runtime (portus panics on INSTALL/UPDATE_FIELDS and
//!   exits its loop on a MEASURE with a partial field or a CREATE with a non-UTF-8 name).
//! * [`RunBuilder::spawn_thread`] compiles before spawning and returns the
//!   [`AgentHandle`] at once (portus: `.spawn_thread().run()`); `wait()` returns a
//!   [`RunSummary`] with the counters.
//! * HELLO handshake (issue-3 design): the agent answers READY with INSTALLs then HELLO,
//!   and records what each datapath supports.
//!
//! # Example
//!
//! ```
//! use ccp_agent::{Agent, AgentBuilder, CongAlg, Datapath, DatapathInfo, Flow, Programs, Report};
//!
//! struct Const;
//! struct ConstFlow(Datapath);
//!
//! impl CongAlg for Const {
//!     type Flow = ConstFlow;
//!     fn name(&self) -> &str { "const" }
//!     fn datapath_programs(&self) -> Programs {
//!         [("main".to_string(),
//!           "(def (Report (volatile acked 0))) (when true (:= Report.acked (+ Report.acked Ack.bytes_acked)) (report))".to_string())]
//!             .into_iter().collect()
//!     }
//!     fn new_flow(&self, mut dp: Datapath, info: DatapathInfo) -> ConstFlow {
//!         dp.set_program("main", Some(&[("Cwnd", 10 * u64::from(info.mss))])).expect("program exists");
//!         ConstFlow(dp)
//!     }
//! }
//!
//! impl Flow for ConstFlow {
//!     fn on_report(&mut self, _sid: u32, r: Report<'_>) {
//!         let _acked = r.get_field("acked").unwrap_or(0);
//!     }
//! }
//!
//! let mut agent: Agent<()> = AgentBuilder::new().default_alg(Const).build()?;
//! let ready = ccp_wire::Ready { id: 1 }.to_bytes();
//! agent.handle(std::time::Duration::ZERO, &(), &ready);
//! let out = agent.take_transmits();
//! assert_eq!(out.len(), 2); // INSTALL uid 1, HELLO
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod agent;
mod alg;
mod datapath;
mod programs;
mod report;
mod run;

pub use agent::{Addr, Agent, AgentBuilder, REPORT_CWND_RATE, Stats};
pub use alg::{BoxedAlg, CongAlg, DatapathInfo, Flow, Programs};
pub use datapath::{Datapath, SetProgramError, UpdateError};
pub use programs::{Program, StartError};
pub use report::{OwnedReport, Report, ReportError};
pub use run::{
    AgentHandle, AgentTransport, IntoTransport, IpcTransport, RunBuilder, RunError, RunSummary,
    UnixTransport, run_loop,
};

#[cfg(test)]
mod tests;
