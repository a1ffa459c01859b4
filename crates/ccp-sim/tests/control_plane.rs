//! The plug-in hook a CCP datapath/agent pair will use: a toy agent component and a toy
//! controller exchange timed messages and timers through the simulator's event loop.

use std::cell::RefCell;
use std::rc::Rc;

use ccp_sim::{
    ComponentId, CongestionController, Control, ControlPlane, CtrlContext, CtrlEvent, Endpoint,
    FlowId, FlowInfo, Measurement, Registry, Results, Scenario, SimTime, Simulation,
};

#[derive(Default, Debug, PartialEq)]
struct ToyLog {
    agent_ticks: Vec<SimTime>,
    /// (arrival time, the sender's timestamp carried in the payload, from)
    agent_inbox: Vec<(SimTime, u64, Endpoint)>,
    /// (arrival time, the agent's timestamp carried in the payload, cwnd segments)
    flow_inbox: Vec<(SimTime, u64, u32)>,
    flow_timers: Vec<(SimTime, u64)>,
    hellos: Vec<(SimTime, FlowId)>,
}

const HELLO: u8 = 1;
const REPORT: u8 = 2;

fn encode(kind: u8, t: SimTime, value: u32) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend_from_slice(&t.0.to_le_bytes());
    v.extend_from_slice(&value.to_le_bytes());
    v
}

fn decode(p: &[u8]) -> (u8, u64, u32) {
    let t = u64::from_le_bytes(p[1..9].try_into().unwrap());
    let v = u32::from_le_bytes(p[9..13].try_into().unwrap());
    (p[0], t, v)
}

/// Answers every report with a window: 50 segments before 500 ms, 30 after. At the 5th tick
/// (500 ms) it also sets the window of flow 0 directly through the context.
struct ToyAgent {
    log: Rc<RefCell<ToyLog>>,
    ticks: u64,
}

impl ControlPlane for ToyAgent {
    fn name(&self) -> &str {
        "toy-agent"
    }
    fn on_start(&mut self, ctx: &mut CtrlContext<'_>) {
        ctx.schedule(SimTime::from_millis(100), 0);
    }
    fn on_event(&mut self, event: CtrlEvent, ctx: &mut CtrlContext<'_>) {
        let mut log = self.log.borrow_mut();
        match event {
            CtrlEvent::Timer { token } => {
                assert_eq!(token, self.ticks);
                self.ticks += 1;
                log.agent_ticks.push(ctx.now());
                if self.ticks == 5 {
                    assert!(ctx.set_cwnd(FlowId(0), 30 * 1460));
                    assert!(!ctx.set_cwnd(FlowId(77), 1), "unknown flow");
                }
                ctx.schedule(SimTime::from_millis(100), self.ticks);
            }
            CtrlEvent::Message { from, payload } => {
                let (kind, t, _) = decode(&payload);
                log.agent_inbox.push((ctx.now(), t, from));
                if kind == HELLO {
                    if let Endpoint::Flow(f) = from {
                        log.hellos.push((ctx.now(), f));
                    }
                    return;
                }
                let segs = if self.ticks >= 5 { 30 } else { 50 };
                ctx.send_ipc(from, encode(REPORT, ctx.now(), segs));
            }
        }
    }
}

/// Reports to the agent every 10 ACKs and applies the window it answers with.
struct ToyController {
    log: Rc<RefCell<ToyLog>>,
    agent: ComponentId,
    acks: u64,
}

impl CongestionController for ToyController {
    fn name(&self) -> &str {
        "toy"
    }
    fn on_start(&mut self, _info: &FlowInfo, ctl: &mut Control<'_>) {
        ctl.send_ipc(Endpoint::Component(self.agent), encode(HELLO, ctl.now(), 0));
        ctl.schedule(SimTime::from_millis(1), 7);
        // a message to a component that does not exist is dropped, not a crash
        ctl.send_ipc(Endpoint::Component(ComponentId(99)), vec![0]);
    }
    fn on_ack(&mut self, _m: &Measurement, ctl: &mut Control<'_>) {
        self.acks += 1;
        if self.acks % 10 == 0 {
            ctl.send_ipc(
                Endpoint::Component(self.agent),
                encode(REPORT, ctl.now(), 0),
            );
        }
    }
    fn on_event(&mut self, event: CtrlEvent, ctl: &mut Control<'_>) {
        let mut log = self.log.borrow_mut();
        match event {
            CtrlEvent::Timer { token } => log.flow_timers.push((ctl.now(), token)),
            CtrlEvent::Message { payload, .. } => {
                let (_, t, segs) = decode(&payload);
                log.flow_inbox.push((ctl.now(), t, segs));
                ctl.set_cwnd(segs * ctl.mss());
            }
        }
    }
}

fn toy_registry(log: &Rc<RefCell<ToyLog>>) -> Registry {
    let mut reg = Registry::new();
    let agent: Rc<RefCell<Option<ComponentId>>> = Rc::new(RefCell::new(None));
    let log = log.clone();
    reg.register(
        "toy",
        "toy controller talking to a toy agent",
        move |_info, setup| {
            // the first flow creates the shared agent component; later flows reuse it
            let id = *agent.borrow_mut().get_or_insert_with(|| {
                setup.add_component(Box::new(ToyAgent {
                    log: log.clone(),
                    ticks: 0,
                }))
            });
            Ok(Box::new(ToyController {
                log: log.clone(),
                agent: id,
                acks: 0,
            }))
        },
    );
    reg
}

fn run_toy() -> (Results, ToyLog) {
    let log = Rc::new(RefCell::new(ToyLog::default()));
    let mut reg = toy_registry(&log);
    let mut s = Scenario::builtin("fixed")
        .unwrap()
        .with_duration(1.0)
        .with_algorithms(&["toy".into(), "toy".into()]);
    s.ipc_delay_us = 50.0;
    s.flows[1].start_s = 0.2;
    let r = Simulation::new(&s, &mut reg).unwrap().run();
    drop(reg);
    let log = Rc::try_unwrap(log).ok().unwrap().into_inner();
    (r, log)
}

#[test]
fn messages_arrive_after_exactly_the_ipc_delay() {
    let (_, log) = run_toy();
    let ipc = SimTime::from_micros(50);
    assert_eq!(
        log.hellos,
        vec![
            (ipc, FlowId(0)),
            (SimTime::from_millis(200) + ipc, FlowId(1))
        ]
    );
    let reports: Vec<_> = log.agent_inbox.iter().filter(|m| m.0 > ipc).collect();
    assert!(reports.len() > 50, "{}", reports.len());
    for (arrived, sent, _) in &log.agent_inbox {
        assert_eq!(arrived.0, sent + ipc.0);
    }
    assert!(!log.flow_inbox.is_empty());
    for (arrived, sent, _) in &log.flow_inbox {
        assert_eq!(arrived.0, sent + ipc.0);
    }
    // both flows talk to the one shared agent
    assert!(
        log.agent_inbox
            .iter()
            .any(|m| m.2 == Endpoint::Flow(FlowId(1)))
    );
}

#[test]
fn timers_fire_on_time() {
    let (_, log) = run_toy();
    let expected: Vec<SimTime> = (1..=10).map(|i| SimTime::from_millis(100 * i)).collect();
    assert_eq!(log.agent_ticks, expected);
    assert_eq!(
        log.flow_timers,
        vec![(SimTime::from_millis(1), 7), (SimTime::from_millis(201), 7)]
    );
}

#[test]
fn the_agent_steers_the_window() {
    let (r, log) = run_toy();
    let first_reply = log.flow_inbox.first().unwrap().0;
    let cwnd_at = |flow: u32, lo: f64, hi: f64| -> Vec<u32> {
        r.flow_samples
            .iter()
            .filter(|x| x.flow == flow && x.t.as_secs_f64() > lo && x.t.as_secs_f64() < hi)
            .map(|x| x.cwnd_bytes)
            .collect()
    };
    let early = cwnd_at(0, first_reply.as_secs_f64() + 0.001, 0.499);
    assert!(!early.is_empty());
    assert!(early.iter().all(|c| *c == 50 * 1460), "{early:?}");
    let late = cwnd_at(0, 0.51, 1.0);
    assert!(late.iter().all(|c| *c == 30 * 1460), "{late:?}");
    // the direct set at 500 ms shows in the 500 ms sample (the tick runs first: it was
    // scheduled earlier than the sample event for the same instant)
    let at_500 = cwnd_at(0, 0.4999, 0.5001);
    assert_eq!(at_500, vec![30 * 1460]);
    // a 30-segment window over a ~20 ms RTT caps throughput near 30·1500·8/0.02 = 18 Mbit/s
    let tput: Vec<f64> = r
        .flow_samples
        .iter()
        .filter(|x| x.flow == 0 && x.t.as_secs_f64() > 0.6)
        .map(|x| x.throughput_bps)
        .collect();
    let mean = tput.iter().sum::<f64>() / tput.len() as f64;
    assert!(mean > 14e6 && mean < 19e6, "{mean}");
}

#[test]
fn runs_with_a_control_plane_are_deterministic() {
    let (a, la) = run_toy();
    let (b, lb) = run_toy();
    assert_eq!(la, lb);
    assert_eq!(a.flows_csv(), b.flows_csv());
}

#[test]
fn components_can_be_added_directly() {
    struct Counter(Rc<RefCell<u32>>);
    impl ControlPlane for Counter {
        fn on_start(&mut self, ctx: &mut CtrlContext<'_>) {
            assert_eq!(ctx.flow_count(), 1);
            ctx.schedule(SimTime::from_millis(250), 1);
        }
        fn on_event(&mut self, _event: CtrlEvent, ctx: &mut CtrlContext<'_>) {
            *self.0.borrow_mut() += 1;
            ctx.schedule(SimTime::from_millis(250), 1);
        }
    }
    let hits = Rc::new(RefCell::new(0));
    let s = Scenario::builtin("fixed").unwrap().with_duration(1.0);
    let mut sim = Simulation::new(&s, &mut Registry::with_native()).unwrap();
    let id = sim.add_component(Box::new(Counter(hits.clone())));
    assert_eq!(id, ComponentId(0));
    sim.run();
    assert_eq!(*hits.borrow(), 4);
}
