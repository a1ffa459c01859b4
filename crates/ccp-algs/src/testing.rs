//! Drive an algorithm through the real agent core with synthetic reports, without I/O or
//! a datapath: the tool for unit tests of a control law.
//!
//! [`Harness::new`] builds a [`ccp_agent::Agent`] with the algorithm, sends it READY and a
//! CREATE for one flow, and records what the flow answers. [`Harness::report`] encodes a
//! MEASURE from field names (of the flow's current program; fields not given take their
//! program default) and hands it to the agent at a chosen time; the UPDATE_FIELDS and
//! CHANGE_PROG messages the agent sends back are decoded into names and values
//! ([`Harness::cwnd`], [`Harness::rate`], [`Harness::control`]).
//!
//! ```
//! use std::time::Duration;
//! use ccp_algs::testing::Harness;
//!
//! let mut h = Harness::new(ccp_algs::aimd::Aimd::default(), 1460, 10 * 1460)?;
//! assert_eq!(h.program(), Some("window"));
//! // A loss episode starts: AIMD halves the window it was at (carried in the report).
//! h.report(Duration::from_millis(30), &[("episode", 1), ("cwnd", 100 * 1460), ("rtt", 20_000)])?;
//! assert_eq!(h.cwnd(), Some(50 * 1460));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use ccp_agent::{Agent, AgentBuilder, CongAlg, StartError};
use ccp_lang::bytecode::{Operand, RegKind, implicit};
use ccp_wire::{Create, Encode, Measure, Message, ParseOptions, Ready, UpdateField};
use thiserror::Error;

/// A report the harness cannot build.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum HarnessError {
    /// The flow has not set a program yet.
    #[error("the flow has no program yet")]
    NoProgram,
    /// The current program has no such report variable.
    #[error("program `{program}` has no report field `{name}`")]
    UnknownField {
        /// The current program.
        program: String,
        /// The name given.
        name: String,
    },
}

/// Socket id of the harness's flow.
pub const SID: u32 = 1;

/// A one-flow agent driven by hand. See the [module docs](self).
pub struct Harness {
    agent: Agent<()>,
    uid: u32,
    /// Last value set per register name (`Cwnd`, `Rate`, control variables).
    values: BTreeMap<String, u64>,
    /// Everything set by the last call, in message order.
    last: Vec<(String, u64)>,
    messages: usize,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("uid", &self.uid)
            .field("values", &self.values)
            .finish()
    }
}

impl Harness {
    /// An agent running `alg` with one flow created with this MSS and initial window
    /// (bytes); the flow's `new_flow` has run (its `set_program` is recorded).
    pub fn new(alg: impl CongAlg, mss: u32, init_cwnd: u32) -> Result<Harness, StartError> {
        let name = alg.name().to_owned();
        let agent = AgentBuilder::new().default_alg(alg).build::<()>()?;
        let mut h = Harness {
            agent,
            uid: 0,
            values: BTreeMap::new(),
            last: Vec::new(),
            messages: 0,
        };
        h.agent
            .handle(Duration::ZERO, &(), &Ready { id: 1 }.to_bytes());
        let create = Create {
            sid: SID,
            init_cwnd,
            mss,
            cong_alg: Some(name),
            ..Create::default()
        };
        if let Ok(bytes) = create.encode() {
            h.agent.handle(Duration::ZERO, &(), &bytes);
        }
        h.collect();
        Ok(h)
    }

    /// The agent (e.g. for its statistics).
    pub fn agent(&self) -> &Agent<()> {
        &self.agent
    }

    /// Name of the flow's current program (`None` before any `set_program`).
    pub fn program(&self) -> Option<&str> {
        self.agent
            .programs()
            .find(|p| p.uid() == self.uid)
            .map(|p| p.name())
    }

    /// Report-variable names of the current program, in field order (short names).
    pub fn report_fields(&self) -> Vec<String> {
        self.agent
            .programs()
            .find(|p| p.uid() == self.uid)
            .map(|p| {
                p.scope()
                    .reports()
                    .iter()
                    .map(|v| v.short_name().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Hand the agent a report of the current program at time `at`: `fields` by short
    /// name (`"acked"`) or full name (`"Report.acked"`); the others take their program
    /// default (or 0). Returns what the flow set in answer, in order.
    pub fn report(
        &mut self,
        at: Duration,
        fields: &[(&str, u64)],
    ) -> Result<&[(String, u64)], HarnessError> {
        let program = self
            .agent
            .programs()
            .find(|p| p.uid() == self.uid)
            .ok_or(HarnessError::NoProgram)?;
        let vars = program.scope().reports();
        let mut values: Vec<u64> = vars
            .iter()
            .map(|v| v.datapath_default().unwrap_or(0))
            .collect();
        for (name, value) in fields {
            let slot = program
                .report_field_index(name)
                .and_then(|i| values.get_mut(i))
                .ok_or_else(|| HarnessError::UnknownField {
                    program: program.name().to_owned(),
                    name: (*name).to_owned(),
                })?;
            *slot = *value;
        }
        let bytes = Measure {
            sid: SID,
            program_uid: self.uid,
            fields: values,
        }
        .encode()
        .unwrap_or_default();
        self.agent.handle(at, &(), &bytes);
        self.collect();
        Ok(&self.last)
    }

    /// What the last [`report`](Self::report) (or the flow creation) set, in order.
    pub fn last(&self) -> &[(String, u64)] {
        &self.last
    }

    /// The last `Cwnd` the flow set (bytes).
    pub fn cwnd(&self) -> Option<u64> {
        self.values.get("Cwnd").copied()
    }

    /// The last `Rate` the flow set (bytes/s).
    pub fn rate(&self) -> Option<u64> {
        self.values.get("Rate").copied()
    }

    /// The last value the flow set for a control variable (or `Cwnd`/`Rate`).
    pub fn control(&self, name: &str) -> Option<u64> {
        self.values.get(name).copied()
    }

    /// Messages the agent sent so far (INSTALLs, HELLO, CHANGE_PROG, UPDATE_FIELDS).
    pub fn messages_sent(&self) -> usize {
        self.messages
    }

    fn collect(&mut self) {
        self.last.clear();
        for (_, bytes) in self.agent.take_transmits() {
            self.messages += 1;
            let Ok(msg) = Message::parse_with(&bytes, &ParseOptions::DATAPATH) else {
                continue;
            };
            let updates = match msg {
                Message::ChangeProg(c) => {
                    self.uid = c.program_uid;
                    c.updates
                }
                Message::UpdateFields(u) => u.updates,
                _ => continue,
            };
            for u in updates {
                let name = self.name_of(&u);
                self.values.insert(name.clone(), u.value);
                self.last.push((name, u.value));
            }
        }
    }

    fn name_of(&self, u: &UpdateField) -> String {
        if u.kind == RegKind::Implicit {
            return implicit::name(u.index).unwrap_or("?").to_owned();
        }
        self.agent
            .programs()
            .find(|p| p.uid() == self.uid)
            .and_then(|p| {
                p.scope()
                    .name_of(Operand::new(u.kind, u.index))
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| format!("{:?}[{}]", u.kind, u.index))
    }
}
