//! [`Host`]: the agent core (`ccp_agent::Agent`) plus the table of programs installed at
//! run time ([`DynPrograms`]), behind one sans-IO entry point.
//!
//! Reports (MEASURE) of flows running a dynamic program are decoded here and handed to
//! the flow's [`DynSink`](crate::dynamic::DynSink); everything else goes to the agent. After
//! each message the agent's queued messages are sent first, then the dynamic table's.

use std::collections::HashMap;
use std::time::Duration;

use ccp_agent::{Addr, Agent, REPORT_CWND_RATE, Stats};
use ccp_wire::{HeaderView, MeasureView, MsgType, ParseOptions};

use crate::dynamic::{DynPrograms, DynReport, DynStats, Intercept};

/// The agent and the dynamic-program table, fed datagrams by a driver (a socket loop or
/// a simulator).
pub struct Host<A: Addr> {
    agent: Agent<A>,
    dynamic: DynPrograms,
    keys: HashMap<A, u32>,
    addrs: Vec<A>,
    scratch: Vec<u64>,
}

impl<A: Addr> std::fmt::Debug for Host<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("agent", &self.agent)
            .field("dynamic", &self.dynamic)
            .finish()
    }
}

impl<A: Addr> Host<A> {
    /// Wrap a built agent; `dynamic` is the table its algorithms' flows were given.
    /// Dynamic uids start after the agent's programs.
    pub fn new(agent: Agent<A>, dynamic: DynPrograms) -> Host<A> {
        let statics = agent.programs().count();
        dynamic.set_base_uid(u32::try_from(statics + 1).unwrap_or(u32::MAX));
        Host {
            agent,
            dynamic,
            keys: HashMap::new(),
            addrs: Vec::new(),
            scratch: Vec::with_capacity(ccp_wire::MAX_REPORT_FIELDS),
        }
    }

    /// The agent.
    pub fn agent(&self) -> &Agent<A> {
        &self.agent
    }

    /// The dynamic-program table.
    pub fn dynamic(&self) -> &DynPrograms {
        &self.dynamic
    }

    /// The agent's counters and the dynamic table's.
    pub fn stats(&self) -> (Stats, DynStats) {
        (self.agent.stats().clone(), self.dynamic.stats())
    }

    fn key(&mut self, from: &A) -> u32 {
        if let Some(&k) = self.keys.get(from) {
            return k;
        }
        let k = self.addrs.len() as u32;
        self.addrs.push(from.clone());
        self.keys.insert(from.clone(), k);
        k
    }

    /// Handle one datagram from `from` (it may carry several messages), then hand what
    /// must be sent to `send`, in order.
    pub fn handle(
        &mut self,
        now: Duration,
        from: &A,
        bytes: &[u8],
        send: &mut dyn FnMut(&A, &[u8]),
    ) {
        let key = self.key(from);
        self.dynamic.set_current_datapath(key);
        if self.dynamic.has_installed(key) && has_ready(bytes) {
            // The datapath restarted: its program table is empty.
            self.dynamic.datapath_reset(key);
        }
        if self.dynamic.active() == 0 {
            self.agent.handle(now, from, bytes);
        } else {
            let mut rest = bytes;
            while !rest.is_empty() {
                let frame = match HeaderView::new(rest) {
                    Ok(hv) => hv.frame(),
                    Err(_) => {
                        // Unframeable: the agent counts and logs it.
                        self.agent.handle(now, from, rest);
                        break;
                    }
                };
                rest = rest.get(frame.len()..).unwrap_or(&[]);
                if !self.try_dynamic_report(now, key, from, frame) {
                    self.agent.handle(now, from, frame);
                }
                self.flush(send);
            }
        }
        self.flush(send);
    }

    /// Deliver `frame` if it is a report of a flow running a dynamic program (or drop it
    /// if it is a stale one); false if the agent should handle it.
    fn try_dynamic_report(&mut self, now: Duration, key: u32, from: &A, frame: &[u8]) -> bool {
        let Ok(hv) = HeaderView::new(frame) else {
            return false;
        };
        if hv.msg_type() != Some(MsgType::Measure) {
            return false;
        }
        let Ok(m) = MeasureView::parse(frame, &ParseOptions::AGENT) else {
            return false;
        };
        if m.is_close() {
            return false;
        }
        match self.dynamic.intercept(key, m.sid(), m.program_uid()) {
            Intercept::NotDynamic => false,
            Intercept::Stale => true,
            Intercept::Deliver(program, sink) => {
                m.fields_into(&mut self.scratch);
                let n = program.num_reports();
                let with_cr = self
                    .agent
                    .negotiated(from)
                    .is_some_and(|neg| neg.capabilities.contains(REPORT_CWND_RATE))
                    && self.scratch.len() == n + 2;
                let (fields, cwnd_rate) =
                    match (with_cr, self.scratch.get(n), self.scratch.get(n + 1)) {
                        (true, Some(&c), Some(&r)) => (&self.scratch[..n], Some((c, r))),
                        _ => (&self.scratch[..], None),
                    };
                sink.on_report(
                    m.sid(),
                    DynReport {
                        program: &program,
                        fields,
                        cwnd_rate,
                        received_at: now,
                    },
                );
                true
            }
        }
    }

    /// Send what the agent queued, then what the dynamic table queued.
    pub fn flush(&mut self, send: &mut dyn FnMut(&A, &[u8])) {
        self.agent.drain(|to, b| send(to, b));
        let addrs = &self.addrs;
        self.dynamic.drain(|key, b| {
            if let Some(to) = addrs.get(key as usize) {
                send(to, b);
            }
        });
    }

    /// Close every flow (their `close()` runs), e.g. at shutdown.
    pub fn close_all(&mut self) {
        self.agent.close_all();
    }
}

/// Whether a datagram holds a READY (header walk only).
fn has_ready(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while let Ok(hv) = HeaderView::new(rest) {
        if hv.msg_type() == Some(MsgType::Ready) {
            return true;
        }
        rest = rest.get(hv.frame().len()..).unwrap_or(&[]);
    }
    false
}
