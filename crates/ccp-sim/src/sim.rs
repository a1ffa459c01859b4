//! The simulation: a dumbbell (N senders → one bottleneck → receivers, ACKs back over an
//! uncongested path) driven by the discrete-event loop.

use std::collections::VecDeque;

use thiserror::Error;
use tracing::{debug, warn};

use crate::cc::{CongestionController, Control, FlowInfo};
use crate::control::{
    ComponentId, ControlPlane, CtrlContext, CtrlEvent, Endpoint, FlowId, FlowKnobs, Outbox,
};
use crate::event::EventQueue;
use crate::link::{Admission, DropReason, Link};
use crate::metrics::{FlowSample, FlowSummary, LatencyHist, LinkSample, Summary, jain_index};
use crate::registry::{ControllerFactory, CreateError, Setup};
use crate::scenario::{Resolved, Scenario, ScenarioError};
use crate::sender::{Ack, Receiver, Sender, SenderConfig};
use crate::time::SimTime;

/// Why a simulation could not be set up.
#[derive(Debug, Error)]
pub enum SimError {
    /// The scenario is invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A controller could not be created.
    #[error("flow {flow}: {source}")]
    Controller {
        /// Flow index.
        flow: u32,
        /// The factory's error.
        #[source]
        source: CreateError,
    },
}

/// Progress report handed to the progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Current virtual time.
    pub now: SimTime,
    /// End of the run.
    pub end: SimTime,
    /// Events processed so far.
    pub events: u64,
}

impl Progress {
    /// Fraction done, 0–1.
    pub fn fraction(&self) -> f64 {
        if self.end.0 == 0 {
            1.0
        } else {
            (self.now.0 as f64 / self.end.0 as f64).min(1.0)
        }
    }
}

#[derive(Debug)]
enum Event {
    Deliver { flow: u32, seq: u64, ce: bool },
    Ack { flow: u32 },
    Rto { flow: u32 },
    Pace { flow: u32 },
    Start { flow: u32 },
    Stop { flow: u32 },
    Sample,
    WindowMark,
    Ctrl { to: Endpoint, event: CtrlEvent },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlowState {
    Waiting,
    Running,
    Stopped,
}

struct FlowStats {
    rx_bytes: u64,
    goodput_bytes: u64,
    queue_drops: u64,
    random_drops: u64,
    rtt: LatencyHist,
    qdelay: LatencyHist,
    // values at the previous sample / at the fairness-window start
    prev_rx: u64,
    prev_goodput: u64,
    window_rx: Option<u64>,
}

struct Flow {
    info: FlowInfo,
    ack_delay: SimTime,
    sender: Sender,
    receiver: Receiver,
    cc: Box<dyn CongestionController>,
    acks: VecDeque<Ack>,
    state: FlowState,
    rto_timer_at: Option<SimTime>,
    pace_timer_at: Option<SimTime>,
    stopped_at: Option<SimTime>,
    stats: FlowStats,
}

/// Everything a finished run produced.
pub struct Results {
    /// The summary (table / JSON).
    pub summary: Summary,
    /// Per-flow time series, in time order then flow order.
    pub flow_samples: Vec<FlowSample>,
    /// Link time series.
    pub link_samples: Vec<LinkSample>,
    /// The scenario's MSS (to convert cwnd bytes to segments).
    pub mss: u32,
}

/// A configured simulation, ready to [`run`](Simulation::run).
pub struct Simulation {
    name: String,
    seed: u64,
    r: Resolved,
    now: SimTime,
    queue: EventQueue<Event>,
    link: Link,
    flows: Vec<Flow>,
    knobs: Vec<FlowKnobs>,
    mss: Vec<u32>,
    components: Vec<Option<Box<dyn ControlPlane>>>,
    outbox: Outbox,
    touched: Vec<FlowId>,
    events: u64,
    // link sampling state
    prev_sample_t: SimTime,
    prev_served: f64,
    interval_qdelay_sum: u128,
    interval_qdelay_n: u64,
    link_qdelay: LatencyHist,
    window_start: SimTime,
    flow_samples: Vec<FlowSample>,
    link_samples: Vec<LinkSample>,
    progress_step: SimTime,
    next_progress: SimTime,
}

impl Simulation {
    /// Validate `scenario` and create every flow's controller through `factory`.
    pub fn new(
        scenario: &Scenario,
        factory: &mut dyn ControllerFactory,
    ) -> Result<Simulation, SimError> {
        let r = scenario.resolve()?;
        scenario.validate_controllers(&*factory)?;
        let packet_size = scenario.mss + scenario.header_bytes;
        let sender_cfg = SenderConfig {
            mss: scenario.mss,
            packet_size,
            min_rto: r.min_rto,
            ..SenderConfig::default()
        };
        let mut components: Vec<Box<dyn ControlPlane>> = Vec::new();
        let mut flows = Vec::with_capacity(r.flows.len());
        for (i, rf) in r.flows.iter().enumerate() {
            let info = FlowInfo {
                flow: FlowId(i as u32),
                alg: rf.alg.clone(),
                params: rf.params.clone(),
                mss: scenario.mss,
                packet_size,
                init_cwnd: rf.init_cwnd_packets.saturating_mul(scenario.mss),
                start: rf.start,
                stop: rf.stop,
                ipc_delay: r.ipc_delay,
                seed: scenario.seed,
            };
            let mut setup = Setup::new(&mut components, scenario.seed, r.ipc_delay);
            let cc = factory
                .create(&info, &mut setup)
                .map_err(|source| SimError::Controller {
                    flow: i as u32,
                    source,
                })?;
            flows.push(Flow {
                ack_delay: rf.ack_delay,
                sender: Sender::new(sender_cfg),
                receiver: Receiver::new(),
                cc,
                acks: VecDeque::with_capacity(256),
                state: FlowState::Waiting,
                rto_timer_at: None,
                pace_timer_at: None,
                stopped_at: None,
                stats: FlowStats {
                    rx_bytes: 0,
                    goodput_bytes: 0,
                    queue_drops: 0,
                    random_drops: 0,
                    rtt: LatencyHist::new(),
                    qdelay: LatencyHist::new(),
                    prev_rx: 0,
                    prev_goodput: 0,
                    window_rx: None,
                },
                info,
            });
        }
        let knobs = flows
            .iter()
            .map(|f| FlowKnobs {
                cwnd: f.info.init_cwnd.max(f.info.mss),
                pacing_rate: 0,
            })
            .collect();
        let mss = flows.iter().map(|f| f.info.mss).collect();
        let first_start = r
            .flows
            .iter()
            .map(|f| f.start)
            .min()
            .unwrap_or(SimTime::ZERO);
        let window_start = r
            .duration
            .saturating_sub(r.fairness_window)
            .max(first_start);
        let progress_step = SimTime((r.duration.0 / 200).max(1));
        Ok(Simulation {
            name: scenario.name.clone(),
            seed: scenario.seed,
            link: Link::new(r.link.clone(), scenario.seed),
            now: SimTime::ZERO,
            queue: EventQueue::new(),
            flows,
            knobs,
            mss,
            components: components.into_iter().map(Some).collect(),
            outbox: Outbox::new(),
            touched: Vec::new(),
            events: 0,
            prev_sample_t: SimTime::ZERO,
            prev_served: 0.0,
            interval_qdelay_sum: 0,
            interval_qdelay_n: 0,
            link_qdelay: LatencyHist::new(),
            window_start,
            flow_samples: Vec::new(),
            link_samples: Vec::new(),
            progress_step,
            next_progress: SimTime::ZERO,
            r,
        })
    }

    /// Add a control-plane component before running; it gets `on_start` at time zero.
    pub fn add_component(&mut self, component: Box<dyn ControlPlane>) -> ComponentId {
        self.components.push(Some(component));
        ComponentId((self.components.len() - 1) as u32)
    }

    /// Number of flows.
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// Run to the end without progress reports.
    pub fn run(self) -> Results {
        self.run_with_progress(&mut |_| {})
    }

    /// Run to the end; `progress` is called about 200 times, in virtual-time order, and once
    /// at the end.
    pub fn run_with_progress(mut self, progress: &mut dyn FnMut(Progress)) -> Results {
        let end = self.r.duration;
        for i in 0..self.components.len() {
            self.dispatch_component(i, None);
        }
        for (i, rf) in self.r.flows.iter().enumerate() {
            self.queue.push(rf.start, Event::Start { flow: i as u32 });
            if let Some(stop) = rf.stop {
                self.queue.push(stop, Event::Stop { flow: i as u32 });
            }
        }
        self.queue.push(self.window_start, Event::WindowMark);
        self.queue
            .push(self.r.sample_interval.min(end), Event::Sample);
        while let Some(t) = self.queue.peek_time() {
            if t > end {
                break;
            }
            let Some((t, ev)) = self.queue.pop() else {
                break;
            };
            self.now = t;
            self.events += 1;
            self.handle(ev, end, progress);
        }
        self.now = end;
        self.finish(progress)
    }

    fn handle(&mut self, ev: Event, end: SimTime, progress: &mut dyn FnMut(Progress)) {
        match ev {
            Event::Deliver { flow, seq, ce } => self.on_deliver(flow as usize, seq, ce),
            Event::Ack { flow } => self.on_ack(flow as usize),
            Event::Rto { flow } => self.on_rto_event(flow as usize),
            Event::Pace { flow } => {
                let f = &mut self.flows[flow as usize];
                if f.pace_timer_at == Some(self.now) {
                    f.pace_timer_at = None;
                    self.try_send(flow as usize);
                }
            }
            Event::Start { flow } => self.on_start(flow as usize),
            Event::Stop { flow } => self.on_stop(flow as usize),
            Event::Sample => {
                self.sample();
                if self.now >= self.next_progress {
                    progress(Progress {
                        now: self.now,
                        end,
                        events: self.events,
                    });
                    self.next_progress = self.now + self.progress_step;
                }
                if self.now < end {
                    let next = (self.now + self.r.sample_interval).min(end);
                    self.queue.push(next, Event::Sample);
                }
            }
            Event::WindowMark => {
                for f in &mut self.flows {
                    f.stats.window_rx = Some(f.stats.rx_bytes);
                }
            }
            Event::Ctrl { to, event } => match to {
                Endpoint::Flow(id) => self.dispatch_flow_event(id.0 as usize, event),
                Endpoint::Component(id) => self.dispatch_component(id.0 as usize, Some(event)),
            },
        }
    }

    fn drain_outbox(&mut self) {
        let now = self.now;
        let n_flows = self.flows.len();
        let n_comp = self.components.len();
        for item in self.outbox.drain() {
            let ok = match item.to {
                Endpoint::Flow(f) => (f.0 as usize) < n_flows,
                Endpoint::Component(c) => (c.0 as usize) < n_comp,
            };
            if !ok {
                warn!(to = ?item.to, "control event for an unknown endpoint dropped");
                continue;
            }
            self.queue.push(
                item.at.max(now),
                Event::Ctrl {
                    to: item.to,
                    event: item.event,
                },
            );
        }
    }

    fn dispatch_component(&mut self, i: usize, event: Option<CtrlEvent>) {
        let Some(slot) = self.components.get_mut(i) else {
            return;
        };
        let Some(mut c) = slot.take() else {
            return;
        };
        {
            let mut ctx = CtrlContext::new(
                self.now,
                ComponentId(i as u32),
                self.r.ipc_delay,
                &mut self.knobs,
                &self.mss,
                &mut self.touched,
                &mut self.outbox,
            );
            match event {
                None => c.on_start(&mut ctx),
                Some(ev) => c.on_event(ev, &mut ctx),
            }
        }
        self.components[i] = Some(c);
        self.drain_outbox();
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for f in touched.drain(..) {
            self.try_send(f.0 as usize);
        }
        self.touched = touched;
    }

    /// Call flow `i`'s controller with a [`Control`] bound to its knobs and the shared outbox.
    fn with_controller<R>(
        &mut self,
        i: usize,
        call: impl FnOnce(&mut Flow, &mut Control<'_>) -> R,
    ) -> R {
        let f = &mut self.flows[i];
        let mut ctl = Control::new(
            self.now,
            FlowId(i as u32),
            f.info.mss,
            self.r.ipc_delay,
            &mut self.knobs[i],
            &mut self.outbox,
        );
        call(f, &mut ctl)
    }

    fn dispatch_flow_event(&mut self, i: usize, event: CtrlEvent) {
        let f = &mut self.flows[i];
        if f.state != FlowState::Running {
            debug!(
                flow = i,
                "control event for a flow that is not running dropped"
            );
            return;
        }
        self.with_controller(i, |f, ctl| f.cc.on_event(event, ctl));
        self.drain_outbox();
        self.try_send(i);
    }

    fn on_start(&mut self, i: usize) {
        let f = &mut self.flows[i];
        if f.state != FlowState::Waiting {
            return;
        }
        f.state = FlowState::Running;
        f.sender.set_active(true);
        self.knobs[i].cwnd = f.info.init_cwnd.max(f.info.mss);
        self.with_controller(i, |f, ctl| f.cc.on_start(&f.info, ctl));
        self.drain_outbox();
        self.try_send(i);
    }

    fn on_stop(&mut self, i: usize) {
        let f = &mut self.flows[i];
        if f.state != FlowState::Running {
            if f.state == FlowState::Waiting {
                f.state = FlowState::Stopped;
                f.stopped_at = Some(self.now);
            }
            return;
        }
        f.state = FlowState::Stopped;
        f.stopped_at = Some(self.now);
        f.sender.set_active(false);
        self.with_controller(i, |f, ctl| f.cc.on_stop(ctl));
        self.drain_outbox();
    }

    fn on_deliver(&mut self, i: usize, seq: u64, ce: bool) {
        let f = &mut self.flows[i];
        if f.state != FlowState::Running {
            return;
        }
        let before = f.receiver.rcv_nxt();
        let ack = f.receiver.on_segment(seq, ce);
        f.stats.rx_bytes += u64::from(f.info.packet_size);
        f.stats.goodput_bytes += (f.receiver.rcv_nxt() - before) * u64::from(f.info.mss);
        f.acks.push_back(ack);
        self.queue
            .push(self.now + f.ack_delay, Event::Ack { flow: i as u32 });
    }

    fn on_ack(&mut self, i: usize) {
        let f = &mut self.flows[i];
        let Some(ack) = f.acks.pop_front() else {
            return;
        };
        if f.state != FlowState::Running {
            return;
        }
        let outcome = f.sender.on_ack(self.now, &ack, &self.knobs[i]);
        if let Some(rtt) = outcome.rtt_sample {
            f.stats.rtt.record_ns(rtt);
        }
        self.with_controller(i, |f, ctl| {
            let mut m = outcome.measurement;
            if outcome.entered_recovery {
                f.cc.on_loss(&m, ctl);
                // on_ack sees the window on_loss chose
                m.prims.snd_cwnd = ctl.cwnd();
                m.prims.snd_rate = ctl.pacing_rate();
            }
            f.cc.on_ack(&m, ctl);
        });
        if !self.outbox.is_empty() {
            self.drain_outbox();
        }
        self.try_send(i);
    }

    fn on_rto_event(&mut self, i: usize) {
        let f = &mut self.flows[i];
        if f.rto_timer_at != Some(self.now) {
            return; // superseded
        }
        f.rto_timer_at = None;
        if f.state != FlowState::Running {
            return;
        }
        match f.sender.rto_deadline() {
            None => {}
            Some(d) if d > self.now => self.arm_rto(i),
            Some(_) => {
                if let Some(m) = f.sender.on_rto(self.now, &self.knobs[i]) {
                    self.with_controller(i, |f, ctl| f.cc.on_timeout(&m, ctl));
                    self.drain_outbox();
                }
                self.try_send(i);
            }
        }
    }

    fn arm_rto(&mut self, i: usize) {
        let f = &mut self.flows[i];
        if let Some(d) = f.sender.rto_deadline()
            && f.rto_timer_at.is_none_or(|p| p > d)
        {
            f.rto_timer_at = Some(d);
            self.queue.push(d, Event::Rto { flow: i as u32 });
        }
    }

    fn try_send(&mut self, i: usize) {
        let now = self.now;
        let f = &mut self.flows[i];
        if f.state != FlowState::Running {
            return;
        }
        let knobs = self.knobs[i];
        while let Some((seq, retransmit)) = f.sender.next_to_send(&knobs) {
            if let Some(at) = f.sender.pacing_wait(now, &knobs) {
                if f.pace_timer_at.is_none_or(|p| p > at) {
                    f.pace_timer_at = Some(at);
                    self.queue.push(at, Event::Pace { flow: i as u32 });
                }
                break;
            }
            f.sender.on_transmit(now, seq, retransmit, &knobs);
            match self.link.enqueue(now, f.info.packet_size) {
                Admission::Sent(t) => {
                    let qd = t.queue_delay.0;
                    f.stats.qdelay.record_ns(qd);
                    self.link_qdelay.record_ns(qd);
                    self.interval_qdelay_sum += u128::from(qd);
                    self.interval_qdelay_n += 1;
                    self.queue.push(
                        t.deliver_at,
                        Event::Deliver {
                            flow: i as u32,
                            seq,
                            ce: t.ce,
                        },
                    );
                }
                Admission::Dropped(DropReason::QueueFull) => f.stats.queue_drops += 1,
                Admission::Dropped(DropReason::RandomLoss) => f.stats.random_drops += 1,
            }
        }
        self.arm_rto(i);
    }

    fn sample(&mut self) {
        let now = self.now;
        let dt = now.saturating_sub(self.prev_sample_t);
        if dt.0 == 0 {
            return;
        }
        let (queue_packets, queue_bytes) = self.link.occupancy(now);
        let served = self.link.served_bytes(now);
        let c = self.link.counters();
        let cap = self.link.capacity_bytes(self.prev_sample_t, now);
        let utilization = if cap > 0.0 {
            (served - self.prev_served) / cap
        } else {
            0.0
        };
        self.link_samples.push(LinkSample {
            t: now,
            queue_packets,
            queue_bytes,
            queue_delay_us: if self.interval_qdelay_n > 0 {
                Some(self.interval_qdelay_sum as f64 / self.interval_qdelay_n as f64 / 1e3)
            } else {
                None
            },
            utilization,
            drops: c.queue_drops + c.random_drops,
        });
        self.prev_served = served;
        self.interval_qdelay_sum = 0;
        self.interval_qdelay_n = 0;
        let secs = dt.as_secs_f64();
        for (i, f) in self.flows.iter_mut().enumerate() {
            let rx = f.stats.rx_bytes - f.stats.prev_rx;
            let gp = f.stats.goodput_bytes - f.stats.prev_goodput;
            f.stats.prev_rx = f.stats.rx_bytes;
            f.stats.prev_goodput = f.stats.goodput_bytes;
            if f.state != FlowState::Running {
                continue;
            }
            let k = self.knobs[i];
            self.flow_samples.push(FlowSample {
                t: now,
                flow: i as u32,
                cwnd_bytes: k.cwnd,
                pacing_rate: k.pacing_rate,
                throughput_bps: rx as f64 * 8.0 / secs,
                goodput_bps: gp as f64 * 8.0 / secs,
                rtt_us: f.sender.last_rtt_us(),
                srtt_us: f.sender.srtt() / 1_000,
                inflight_bytes: f.sender.packets_in_flight().saturating_mul(f.info.mss),
                retransmits: f.sender.stats().retransmits,
                losses: f.stats.queue_drops + f.stats.random_drops,
            });
        }
        self.prev_sample_t = now;
    }

    fn finish(mut self, progress: &mut dyn FnMut(Progress)) -> Results {
        let end = self.now;
        if self.prev_sample_t < end {
            self.sample();
        }
        for i in 0..self.flows.len() {
            if self.flows[i].state == FlowState::Running {
                self.with_controller(i, |f, ctl| f.cc.on_stop(ctl));
            }
        }
        for c in self.components.iter_mut().flatten() {
            c.on_finish(end);
        }
        let served = self.link.served_bytes(end);
        let counters = self.link.counters();
        let first_start = self
            .flows
            .iter()
            .map(|f| f.info.start)
            .min()
            .unwrap_or(SimTime::ZERO);
        let cap_total = self.link.capacity_bytes(first_start, end);
        let utilization = if cap_total > 0.0 {
            (served / cap_total).min(1.0)
        } else {
            0.0
        };
        let measured = end.saturating_sub(first_start).as_secs_f64();
        let link_capacity_bps = if measured > 0.0 {
            cap_total * 8.0 / measured
        } else {
            0.0
        };
        let win_secs = end.saturating_sub(self.window_start).as_secs_f64();
        let mut window_tputs = Vec::new();
        let mut flows = Vec::with_capacity(self.flows.len());
        for (i, f) in self.flows.iter().enumerate() {
            let f_end = f.stopped_at.unwrap_or(end).min(end);
            let active = f_end.saturating_sub(f.info.start).as_secs_f64();
            let per_sec = |bytes: u64| {
                if active > 0.0 {
                    bytes as f64 * 8.0 / active
                } else {
                    0.0
                }
            };
            let in_window = f.info.start < end && f_end > self.window_start;
            let window_tput = match (in_window, f.stats.window_rx) {
                (true, Some(at_start)) if win_secs > 0.0 => {
                    (f.stats.rx_bytes - at_start) as f64 * 8.0 / win_secs
                }
                (true, None) if win_secs > 0.0 => f.stats.rx_bytes as f64 * 8.0 / win_secs,
                _ => 0.0,
            };
            if in_window {
                window_tputs.push(window_tput);
            }
            let cap = self.link.capacity_bytes(f.info.start, f_end);
            let st = f.sender.stats();
            flows.push(FlowSummary {
                flow: i as u32,
                alg: f.info.alg.clone(),
                start_s: f.info.start.as_secs_f64(),
                end_s: f_end.as_secs_f64(),
                throughput_bps: per_sec(f.stats.rx_bytes),
                goodput_bps: per_sec(f.stats.goodput_bytes),
                window_throughput_bps: window_tput,
                share: if cap > 0.0 {
                    f.stats.rx_bytes as f64 / cap
                } else {
                    0.0
                },
                rtt_p50_ms: f.stats.rtt.quantile_ms(0.5),
                rtt_p95_ms: f.stats.rtt.quantile_ms(0.95),
                queue_delay_mean_ms: f.stats.qdelay.mean_ms(),
                queue_delay_median_ms: f.stats.qdelay.quantile_ms(0.5),
                queue_delay_p95_ms: f.stats.qdelay.quantile_ms(0.95),
                retransmits: st.retransmits,
                losses: f.stats.queue_drops + f.stats.random_drops,
                timeouts: st.timeouts,
                packets_sent: st.sent_packets,
            });
        }
        let summary = Summary {
            scenario: self.name.clone(),
            seed: self.seed,
            duration_s: end.as_secs_f64(),
            link_capacity_bps,
            utilization,
            jain_index: jain_index(&window_tputs),
            jain_window_start_s: self.window_start.as_secs_f64(),
            jain_window_end_s: end.as_secs_f64(),
            queue_delay_mean_ms: self.link_qdelay.mean_ms(),
            queue_delay_median_ms: self.link_qdelay.quantile_ms(0.5),
            queue_delay_p95_ms: self.link_qdelay.quantile_ms(0.95),
            queue_drops: counters.queue_drops,
            random_drops: counters.random_drops,
            events: self.events,
            packets_sent: flows.iter().map(|f| f.packets_sent).sum(),
            flows,
        };
        progress(Progress {
            now: end,
            end,
            events: self.events,
        });
        Results {
            summary,
            flow_samples: self.flow_samples,
            link_samples: self.link_samples,
            mss: self.mss.first().copied().unwrap_or(1460),
        }
    }
}
