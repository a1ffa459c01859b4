//! `ccp-sim`: a deterministic discrete-event network simulator for congestion control.
//!
//! * Virtual clock in nanoseconds ([`SimTime`]), one event queue ordered by time then
//!   insertion ([`event::EventQueue`]), seeded ChaCha8 random streams ([`rng::SimRng`]); no
//!   threads and no wall clock, so the same scenario and seed always give the same bytes.
//! * A dumbbell: N TCP-like senders ([`sender::Sender`], SACK, RFC 6675 loss detection,
//!   RFC 6298 RTO, cwnd and pacing enforcement) share one bottleneck [`link::Link`] (fixed
//!   rate or mahimahi trace, propagation delay, drop-tail queue, random loss, jitter, ECN);
//!   receivers ACK every segment over an uncongested path.
//! * Each flow is steered by a [`CongestionController`] that sees libccp's per-ACK
//!   [`Primitives`] and sets cwnd and pacing rate; native Reno and CUBIC references live in
//!   [`controllers`]. Controllers are created by name through a [`ControllerFactory`]
//!   ([`Registry`]), and may talk to [`ControlPlane`] components (an agent, a shared
//!   datapath library) through timed messages and timers scheduled on the same event loop.
//! * A run yields a [`Summary`] (table via `Display`, JSON via serde) and time series
//!   written as CSV and PNG ([`output`]).
//!
//! ```
//! use ccp_sim::{Registry, Scenario, Simulation};
//! let scenario = Scenario::builtin("fixed").unwrap().with_duration(2.0);
//! let mut registry = Registry::with_native();
//! let results = Simulation::new(&scenario, &mut registry).unwrap().run();
//! assert!(results.summary.utilization > 0.5);
//! println!("{}", results.summary);
//! ```

#![forbid(unsafe_code)]

pub mod cc;
pub mod ccp;
pub mod control;
pub mod controllers;
pub mod event;
pub mod link;
pub mod metrics;
pub mod output;
pub mod registry;
pub mod rng;
pub mod scenario;
pub mod sender;
pub mod sim;
pub mod time;
pub mod trace;

pub use cc::{CongestionController, Control, FlowInfo, Measurement, Primitives, SenderState};
pub use control::{
    ComponentId, ControlPlane, CtrlContext, CtrlEvent, Endpoint, FlowId, FlowKnobs, Outbox,
    Outgoing,
};
pub use metrics::{FlowSample, FlowSummary, LinkSample, Summary, jain_index};
pub use output::OutputError;
pub use registry::{ControllerFactory, CreateError, Registry, Setup};
pub use scenario::{BUILTIN_SCENARIOS, FlowSpec, LinkSpec, Scenario, ScenarioError};
pub use sim::{Progress, Results, SimError, Simulation};
pub use time::SimTime;
