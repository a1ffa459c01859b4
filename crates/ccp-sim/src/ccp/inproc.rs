//! The in-process agent: the real `ccp-agent` core as a control-plane component, on
//! virtual time.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use ccp_agent::{Agent, AgentBuilder, BoxedAlg, CongAlg, Datapath, DatapathInfo, Flow, Programs};
use tracing::error;

use crate::ccp::stats::RunStats;
use crate::control::{ComponentId, ControlPlane, CtrlContext, CtrlEvent, Endpoint};
use crate::time::SimTime;

/// An algorithm under another name: flows of the same algorithm with different
/// parameters are distinct algorithms of the agent, picked by the name in CREATE.
pub(crate) struct Named {
    pub(crate) name: String,
    pub(crate) inner: BoxedAlg,
}

impl CongAlg for Named {
    type Flow = Box<dyn Flow>;

    fn name(&self) -> &str {
        &self.name
    }

    fn datapath_programs(&self) -> Programs {
        self.inner.datapath_programs()
    }

    fn new_flow(&self, datapath: Datapath, info: DatapathInfo) -> Box<dyn Flow> {
        self.inner.new_flow(datapath, info)
    }
}

/// The algorithms the simulation's flows asked for, registered with the agent when the
/// simulation starts.
#[derive(Default)]
pub(crate) struct AlgTable {
    pub(crate) entries: Vec<Named>,
}

impl AlgTable {
    /// Build the agent: the first algorithm is the default.
    pub(crate) fn build_agent(&mut self) -> Option<Result<Agent<()>, ccp_agent::StartError>> {
        let mut algs = std::mem::take(&mut self.entries).into_iter();
        let first = algs.next()?;
        let mut b = AgentBuilder::new()
            .default_alg(first)
            .impl_name("ccp-sim in-process agent");
        for a in algs {
            b = b.additional_alg(a);
        }
        Some(b.build())
    }
}

/// The agent component: MEASURE/CREATE/READY in, INSTALL/CHANGE_PROG/UPDATE_FIELDS out,
/// both through the event queue with the scenario's IPC delay.
pub(crate) struct AgentComponent {
    pub(crate) table: Rc<RefCell<AlgTable>>,
    pub(crate) agent: Option<Agent<()>>,
    pub(crate) datapath: ComponentId,
    pub(crate) stats: Rc<RefCell<RunStats>>,
}

fn agent_time(t: SimTime) -> Duration {
    Duration::from_nanos(t.as_nanos())
}

impl ControlPlane for AgentComponent {
    fn name(&self) -> &str {
        "ccp-agent"
    }

    fn on_start(&mut self, _ctx: &mut CtrlContext<'_>) {
        match self.table.borrow_mut().build_agent() {
            Some(Ok(a)) => self.agent = Some(a),
            Some(Err(e)) => error!(error = %e, "the in-process agent could not start"),
            None => {}
        }
    }

    fn on_event(&mut self, event: CtrlEvent, ctx: &mut CtrlContext<'_>) {
        let CtrlEvent::Message { payload, .. } = event else {
            return;
        };
        let Some(agent) = self.agent.as_mut() else {
            return;
        };
        agent.handle(agent_time(ctx.now()), &(), &payload);
        let to = Endpoint::Component(self.datapath);
        agent.drain(|_, bytes| ctx.send_ipc(to, bytes.to_vec()));
    }

    fn on_finish(&mut self, _now: SimTime) {
        if let Some(agent) = self.agent.as_mut() {
            agent.close_all();
            self.stats.borrow_mut().agent = Some(agent.stats().clone());
        }
    }
}
