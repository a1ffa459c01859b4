//! Plug-in hooks: the messages and timers that congestion controllers and *control-plane
//! components* (an agent, a datapath library, a toy) exchange through the event loop.
//!
//! A component implements [`ControlPlane`]; it is added to the simulation (directly with
//! `Simulation::add_component`, or by a controller factory through
//! [`Setup::add_component`](crate::registry::Setup::add_component)) and receives
//! [`CtrlEvent`]s: timers it scheduled itself and messages other endpoints sent it. Sending
//! a message takes a delay (the IPC delay, see [`CtrlContext::ipc_delay`]); all deliveries
//! go through the simulator's event queue, so they are ordered deterministically with the
//! packet events.

use serde::Serialize;

use crate::time::SimTime;

/// Index of a flow in the scenario (0-based, in the order flows are listed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FlowId(pub u32);

/// Index of a control-plane component (0-based, in the order they were added).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ComponentId(pub u32);

/// Who a control event is for (or from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// A flow's congestion controller.
    Flow(FlowId),
    /// A control-plane component.
    Component(ComponentId),
}

/// An event delivered to a controller or component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtrlEvent {
    /// A timer the receiver scheduled for itself came due.
    Timer {
        /// The token given when scheduling.
        token: u64,
    },
    /// A message arrived.
    Message {
        /// The sender.
        from: Endpoint,
        /// The bytes sent.
        payload: Vec<u8>,
    },
}

/// One pending delivery produced by a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Absolute delivery time.
    pub at: SimTime,
    /// Recipient.
    pub to: Endpoint,
    /// What is delivered.
    pub event: CtrlEvent,
}

/// Deliveries queued by callbacks; the simulator moves them into its event queue after each
/// callback returns.
#[derive(Debug, Default)]
pub struct Outbox {
    items: Vec<Outgoing>,
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Outbox::default()
    }
    /// Queue a delivery.
    pub fn push(&mut self, item: Outgoing) {
        self.items.push(item);
    }
    /// Take every queued delivery, in the order queued.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Outgoing> {
        self.items.drain(..)
    }
    /// Number of queued deliveries.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// The queued deliveries.
    pub fn items(&self) -> &[Outgoing] {
        &self.items
    }
}

/// The two values a congestion controller steers for its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FlowKnobs {
    /// Congestion window in (payload) bytes; the sender keeps at most
    /// `max(1, cwnd / mss)` segments in flight.
    pub cwnd: u32,
    /// Pacing rate in (wire) bytes per second; 0 means no pacing.
    pub pacing_rate: u64,
}

/// What a component may do while handling an event.
pub struct CtrlContext<'a> {
    now: SimTime,
    me: ComponentId,
    ipc_delay: SimTime,
    knobs: &'a mut [FlowKnobs],
    mss: &'a [u32],
    touched: &'a mut Vec<FlowId>,
    outbox: &'a mut Outbox,
}

impl<'a> CtrlContext<'a> {
    /// Build a context (the simulator does this; public so components can be unit-tested
    /// outside a simulation).
    pub fn new(
        now: SimTime,
        me: ComponentId,
        ipc_delay: SimTime,
        knobs: &'a mut [FlowKnobs],
        mss: &'a [u32],
        touched: &'a mut Vec<FlowId>,
        outbox: &'a mut Outbox,
    ) -> Self {
        CtrlContext {
            now,
            me,
            ipc_delay,
            knobs,
            mss,
            touched,
            outbox,
        }
    }

    /// Current virtual time.
    pub fn now(&self) -> SimTime {
        self.now
    }
    /// This component's id.
    pub fn id(&self) -> ComponentId {
        self.me
    }
    /// The scenario's configured IPC delay.
    pub fn ipc_delay(&self) -> SimTime {
        self.ipc_delay
    }
    /// Number of flows in the simulation.
    pub fn flow_count(&self) -> usize {
        self.knobs.len()
    }
    /// Call this component back with `CtrlEvent::Timer { token }` after `delay`.
    pub fn schedule(&mut self, delay: SimTime, token: u64) {
        self.outbox.push(Outgoing {
            at: self.now + delay,
            to: Endpoint::Component(self.me),
            event: CtrlEvent::Timer { token },
        });
    }
    /// Deliver `payload` to `to` after `delay`.
    pub fn send(&mut self, to: Endpoint, delay: SimTime, payload: Vec<u8>) {
        self.outbox.push(Outgoing {
            at: self.now + delay,
            to,
            event: CtrlEvent::Message {
                from: Endpoint::Component(self.me),
                payload,
            },
        });
    }
    /// Deliver `payload` to `to` after the configured IPC delay.
    pub fn send_ipc(&mut self, to: Endpoint, payload: Vec<u8>) {
        self.send(to, self.ipc_delay, payload);
    }
    /// A flow's current knobs (`None` for an unknown flow).
    pub fn knobs(&self, flow: FlowId) -> Option<FlowKnobs> {
        self.knobs.get(flow.0 as usize).copied()
    }
    /// Set a flow's cwnd in bytes (raised to at least one MSS). Returns false for an
    /// unknown flow.
    pub fn set_cwnd(&mut self, flow: FlowId, bytes: u32) -> bool {
        let i = flow.0 as usize;
        match (self.knobs.get_mut(i), self.mss.get(i)) {
            (Some(k), Some(mss)) => {
                k.cwnd = bytes.max(*mss);
                self.touched.push(flow);
                true
            }
            _ => false,
        }
    }
    /// Set a flow's pacing rate in bytes/s (0 = none). Returns false for an unknown flow.
    pub fn set_pacing_rate(&mut self, flow: FlowId, bytes_per_sec: u64) -> bool {
        match self.knobs.get_mut(flow.0 as usize) {
            Some(k) => {
                k.pacing_rate = bytes_per_sec;
                self.touched.push(flow);
                true
            }
            None => false,
        }
    }
}

/// A control-plane component living inside the simulation (e.g. an in-process agent, or
/// the shared datapath library that flows' controllers talk through).
pub trait ControlPlane {
    /// A short name for logs.
    fn name(&self) -> &str {
        "component"
    }
    /// Called once at time zero, before any flow starts (in the order components were added).
    fn on_start(&mut self, _ctx: &mut CtrlContext<'_>) {}
    /// A timer or message for this component came due.
    fn on_event(&mut self, event: CtrlEvent, ctx: &mut CtrlContext<'_>);
    /// Called once when the simulation ends.
    fn on_finish(&mut self, _now: SimTime) {}
}
