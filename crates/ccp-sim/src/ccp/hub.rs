//! The datapath side: one real `ccp_datapath::Datapath` per simulation, shared by the
//! flows' controllers ([`CcpFlow`]) and a control-plane component ([`DatapathComponent`])
//! that receives the agent's messages.

use std::cell::RefCell;
use std::rc::Rc;

use ccp_datapath::{Callbacks, Datapath, DatapathInfo, InvokeError, SendError, Sid};
use tracing::{debug, warn};

use crate::cc::{CongestionController, Control, FlowInfo, Measurement};
use crate::ccp::stats::RunStats;
use crate::ccp::unix::UnixLink;
use crate::control::{ComponentId, ControlPlane, CtrlContext, CtrlEvent, Endpoint};
use crate::time::SimTime;

/// The datapath library's callbacks inside the simulator: virtual time, queued or
/// socket-sent messages, and the cwnd/rate the library set during the current call.
pub(crate) struct SimCallbacks {
    /// Virtual time, µs (set before every library call).
    pub(crate) now_us: u64,
    /// In-process mode: messages for the agent, delivered through the event queue.
    pub(crate) out: Vec<Vec<u8>>,
    /// Unix mode: the socket (messages go out at once; failures reach the library).
    pub(crate) link: Option<Rc<UnixLink>>,
    /// What `set_cwnd` / `set_rate_abs` asked for during the current call.
    pub(crate) cwnd: Option<u64>,
    pub(crate) rate: Option<u64>,
}

impl Callbacks for SimCallbacks {
    type Conn = ();

    fn set_cwnd(&mut self, _sid: Sid, _conn: &mut (), cwnd_bytes: u64) {
        self.cwnd = Some(cwnd_bytes);
    }

    fn set_rate_abs(&mut self, _sid: Sid, _conn: &mut (), rate_bytes_per_s: u64) {
        self.rate = Some(rate_bytes_per_s);
    }

    fn send_msg(&mut self, msg: &[u8]) -> Result<(), SendError> {
        match &self.link {
            None => {
                self.out.push(msg.to_vec());
                Ok(())
            }
            Some(link) => link.send(msg),
        }
    }

    fn now(&self) -> u64 {
        self.now_us
    }
}

/// What the flows and the datapath component share.
pub(crate) struct Hub {
    pub(crate) dp: Datapath<SimCallbacks>,
    pub(crate) stats: Rc<RefCell<RunStats>>,
}

impl Hub {
    fn set_now(&mut self, now: SimTime) {
        self.dp.callbacks_mut().now_us = now.as_micros();
    }

    /// Messages produced by the last library call, for the event queue (in-process mode);
    /// empty in unix mode (already sent).
    fn take_out(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.dp.callbacks_mut().out)
    }

    fn link(&self) -> Option<Rc<UnixLink>> {
        self.dp.callbacks().link.clone()
    }
}

/// Where a flow sends what its datapath library produced.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Route {
    /// In-process: the agent component; unix: the datapath component (a "collect replies"
    /// request, empty payload).
    pub(crate) to: Endpoint,
}

/// A simulated flow steered through the datapath library: per ACK it copies the sender's
/// measurements into `ccp_primitives`, calls `invoke`, and applies the window and rate the
/// library set.
pub(crate) struct CcpFlow {
    pub(crate) hub: Rc<RefCell<Hub>>,
    pub(crate) route: Route,
    /// The algorithm name sent in CREATE.
    pub(crate) request: String,
    /// Label for reports.
    pub(crate) label: String,
    pub(crate) sid: Option<Sid>,
}

impl CcpFlow {
    fn flush(&self, hub: &mut Hub, ctl: &mut Control<'_>) {
        for msg in hub.take_out() {
            ctl.send_ipc(self.route.to, msg);
        }
        if let Some(link) = hub.link()
            && link.take_collect_request()
        {
            ctl.send_ipc(self.route.to, Vec::new());
        }
    }
}

impl CongestionController for CcpFlow {
    fn name(&self) -> &str {
        &self.label
    }

    fn on_start(&mut self, info: &FlowInfo, ctl: &mut Control<'_>) {
        let hub_rc = self.hub.clone();
        let mut hub = hub_rc.borrow_mut();
        hub.set_now(ctl.now());
        let dinfo = DatapathInfo {
            init_cwnd: info.init_cwnd,
            mss: info.mss,
            src_ip: 0x0a00_0001,
            src_port: 10_000 + info.flow.0,
            dst_ip: 0x0a00_0002,
            dst_port: 5001,
        };
        match hub.dp.connection_start(dinfo, Some(&self.request), ()) {
            Ok(sid) => self.sid = Some(sid),
            Err(e) => warn!(flow = info.flow.0, error = %e, "datapath refused the connection"),
        }
        self.flush(&mut hub, ctl);
    }

    fn on_ack(&mut self, m: &Measurement, ctl: &mut Control<'_>) {
        let Some(sid) = self.sid else {
            return;
        };
        let hub_rc = self.hub.clone();
        let mut hub = hub_rc.borrow_mut();
        hub.set_now(m.now);
        match hub.dp.invoke(sid, &m.prims) {
            Ok(_) => {}
            Err(InvokeError::Program(e)) if e.libccp_code() == ccp_wire::codes::PROG_IS_NULL => {
                // No program yet (the agent's CHANGE_PROG has not arrived): keep the window.
            }
            Err(e) => {
                hub.stats.borrow_mut().invoke_errors += 1;
                debug!(sid, error = %e, code = e.libccp_code(), "invoke failed");
            }
        }
        let cb = hub.dp.callbacks_mut();
        if let Some(c) = cb.cwnd.take() {
            ctl.set_cwnd(u32::try_from(c).unwrap_or(u32::MAX));
        }
        if let Some(r) = cb.rate.take() {
            ctl.set_pacing_rate(r);
        }
        self.flush(&mut hub, ctl);
    }

    fn on_stop(&mut self, ctl: &mut Control<'_>) {
        let Some(sid) = self.sid.take() else {
            return;
        };
        let hub_rc = self.hub.clone();
        let mut hub = hub_rc.borrow_mut();
        hub.set_now(ctl.now());
        hub.dp.connection_free(sid);
        self.flush(&mut hub, ctl);
    }
}

/// Timer token of the unix-mode poll.
const POLL: u64 = 1;

/// Receives the agent's messages for the datapath library (`read_msg`). In unix mode it
/// also owns the socket's receive side: it waits for replies when a flow asks it to
/// (lock-step), and polls the socket periodically for anything else.
pub(crate) struct DatapathComponent {
    pub(crate) hub: Rc<RefCell<Hub>>,
    /// In-process: the agent component (READY/HELLO go there).
    pub(crate) agent: Option<ComponentId>,
    /// Unix mode: how often to poll the socket.
    pub(crate) poll_interval: SimTime,
}

impl DatapathComponent {
    fn flush(&self, hub: &mut Hub, ctx: &mut CtrlContext<'_>) {
        let out = hub.take_out();
        if let Some(agent) = self.agent {
            for msg in out {
                ctx.send_ipc(Endpoint::Component(agent), msg);
            }
        }
    }

    /// Unix mode: if the library sent messages that may get replies, come back after the
    /// IPC delay to collect them.
    fn request_collect(&self, hub: &Hub, ctx: &mut CtrlContext<'_>) {
        if let Some(link) = hub.link()
            && link.take_collect_request()
        {
            ctx.send_ipc(Endpoint::Component(ctx.id()), Vec::new());
        }
    }

    /// Unix mode: hand received messages to ourselves after the IPC delay.
    fn deliver(&self, link: &UnixLink, wait: bool, ctx: &mut CtrlContext<'_>) {
        let me = Endpoint::Component(ctx.id());
        let now = ctx.now();
        for msg in link.receive(wait, now) {
            ctx.send_ipc(me, msg);
        }
    }
}

impl ControlPlane for DatapathComponent {
    fn name(&self) -> &str {
        "ccp-datapath"
    }

    fn on_start(&mut self, ctx: &mut CtrlContext<'_>) {
        let hub_rc = self.hub.clone();
        let mut hub = hub_rc.borrow_mut();
        hub.set_now(ctx.now());
        // In-process: READY and HELLO (queued when the library started) go to the agent.
        self.flush(&mut hub, ctx);
        if let Some(link) = hub.link() {
            link.start_clock();
            ctx.schedule(self.poll_interval, POLL);
        }
        self.request_collect(&hub, ctx);
    }

    fn on_event(&mut self, event: CtrlEvent, ctx: &mut CtrlContext<'_>) {
        let hub_rc = self.hub.clone();
        let mut hub = hub_rc.borrow_mut();
        hub.set_now(ctx.now());
        match event {
            CtrlEvent::Timer { token: POLL } => {
                if let Some(link) = hub.link() {
                    link.pace(ctx.now());
                    self.deliver(&link, false, ctx);
                    // The library's fallback timer and agent probes.
                    hub.dp.tick();
                    ctx.schedule(self.poll_interval, POLL);
                }
            }
            CtrlEvent::Timer { .. } => {}
            CtrlEvent::Message { payload, .. } if payload.is_empty() => {
                // Unix mode: messages that may get replies went out (IPC delay ago): wait
                // for the replies (lock-step).
                if let Some(link) = hub.link() {
                    self.deliver(&link, true, ctx);
                }
            }
            CtrlEvent::Message { payload, .. } => {
                hub.stats.borrow_mut().agent_messages += 1;
                if let Err(e) = hub.dp.read_msg(&payload) {
                    hub.stats.borrow_mut().read_errors += 1;
                    debug!(error = %e, "agent message rejected");
                }
                self.flush(&mut hub, ctx);
            }
        }
        self.request_collect(&hub, ctx);
    }

    fn on_finish(&mut self, _now: SimTime) {
        let hub = self.hub.borrow();
        let mut s = hub.stats.borrow_mut();
        s.datapath = Some(hub.dp.stats());
        if let Some(link) = hub.link() {
            s.unix = Some(link.stats());
        }
    }
}
