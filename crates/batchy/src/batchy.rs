//! The Batchy driver: the scripting API (workers, tasks, modules, flows, sources,
//! controllers), the engine build and the control loop (spec §2.1, §4).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::info;

use crate::controller::{
    self, CBR_RATIO, Compat, DEFAULT_DELAY_BOUND, FlowState, ModState, TaskController, TaskState,
    batchiness,
};
use crate::engine::{ClockMode, Engine, Node, Resource, Worker};
use crate::fbuf::{FractionalBuffer, Trigger};
use crate::modules::{
    Measure, ModuleKind, QueueIn, QueueOut, QueueShared, Sink, Source, SourceFlow, Timestamp,
};
use crate::packet::Template;
use crate::stats::{FlowStats, GateCounter, GateSnapshot};

/// Errors of building or running a Batchy pipeline.
#[derive(Debug, thiserror::Error)]
pub enum BatchyError {
    /// A name is used twice.
    #[error("duplicate {kind} name {name:?}")]
    Duplicate {
        /// What kind of object.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A name refers to nothing.
    #[error("unknown {kind} {name:?}")]
    Unknown {
        /// What kind of object.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A module's parameters are invalid.
    #[error("module {module:?}: {msg}")]
    Module {
        /// Module name.
        module: String,
        /// Problem.
        msg: String,
    },
    /// The module graph of a task has a cycle.
    #[error("cyclic graph in task {task:?}: {cycle}")]
    Cycle {
        /// Task name.
        task: String,
        /// The modules on the cycle, "a -> b -> a".
        cycle: String,
    },
    /// Other invalid pipeline structure.
    #[error("{0}")]
    Invalid(String),
    /// Controller resolution failed.
    #[error("task {task:?}: {source}")]
    Controller {
        /// Task name.
        task: String,
        /// Cause.
        source: controller::ResolveError,
    },
    /// I/O while writing results or reading a pcap.
    #[error("{path}: {msg}")]
    Io {
        /// File.
        path: String,
        /// Problem.
        msg: String,
    },
}

/// Engine-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Clock mode.
    pub clock: ClockMode,
    /// TSC GHz for Bypass cycles (`BYPASS_RATIO`).
    pub tsc_ghz: f64,
    /// Seed of all random choices.
    pub seed: u64,
    /// Warm-up before the first round [s].
    pub warmup: f64,
    /// Reference-compat switches (spec §7).
    pub compat: Compat,
    /// Virtual cost of one task invocation [ns] (scheduler overhead).
    pub task_overhead_ns: f64,
    /// Task ingress queue size.
    pub queue_size: usize,
    /// Backpressure on task ingress queues.
    pub backpressure: bool,
    /// Default source burst size.
    pub burst_size: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            clock: ClockMode::Virtual,
            tsc_ghz: crate::modules::BYPASS_RATIO,
            seed: 1,
            warmup: 0.2,
            compat: Compat::default(),
            task_overhead_ns: 20.0,
            queue_size: 64,
            backpressure: true,
            burst_size: 32,
        }
    }
}

/// A rate SLO.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSlo {
    /// Packets per second.
    pub packet: Option<f64>,
    /// Bits per second.
    pub bit: Option<f64>,
}

/// Traffic-source parameters of a flow (`source_params`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceParams {
    /// Packet templates (at least one).
    pub templates: Vec<TemplateSpec>,
    /// Relative weight in a multi-flow source.
    pub weight: u32,
    /// Consecutive repeats (burstiness).
    pub burst: u32,
    /// Source rate limit [pps] (`limit`; `rate_limit` accepted as an alias, §7 item 9).
    #[serde(alias = "rate_limit")]
    pub limit: Option<f64>,
}

impl Default for SourceParams {
    fn default() -> Self {
        SourceParams {
            templates: Vec::new(),
            weight: 1,
            burst: 1,
            limit: None,
        }
    }
}

/// A packet template in configs (strings for addresses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplateSpec {
    /// Destination MAC.
    pub dst_mac: String,
    /// Source MAC.
    pub src_mac: String,
    /// VLAN id.
    pub vlan: Option<u16>,
    /// Source IPv4.
    pub src_ip: String,
    /// Destination IPv4.
    pub dst_ip: String,
    /// UDP source port.
    pub sport: u16,
    /// UDP destination port.
    pub dport: u16,
    /// Frame size.
    pub size: usize,
}

impl Default for TemplateSpec {
    fn default() -> Self {
        TemplateSpec {
            dst_mac: "02:00:00:00:00:01".into(),
            src_mac: "02:00:00:00:00:02".into(),
            vlan: None,
            src_ip: "10.0.0.1".into(),
            dst_ip: "10.0.1.1".into(),
            sport: 1000,
            dport: 2000,
            size: 60,
        }
    }
}

impl TemplateSpec {
    /// Frame bytes.
    pub fn build(&self) -> Result<Vec<u8>, String> {
        let t = Template {
            dst_mac: crate::packet::parse_mac(&self.dst_mac)
                .ok_or_else(|| format!("bad MAC {:?}", self.dst_mac))?,
            src_mac: crate::packet::parse_mac(&self.src_mac)
                .ok_or_else(|| format!("bad MAC {:?}", self.src_mac))?,
            vlan: self.vlan,
            src_ip: crate::packet::parse_ipv4(&self.src_ip)
                .ok_or_else(|| format!("bad IPv4 {:?}", self.src_ip))?,
            dst_ip: crate::packet::parse_ipv4(&self.dst_ip)
                .ok_or_else(|| format!("bad IPv4 {:?}", self.dst_ip))?,
            sport: self.sport,
            dport: self.dport,
            size: self.size,
        };
        Ok(t.build())
    }
}

/// A flow definition.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowSpec {
    /// Name.
    pub name: String,
    /// Modules from the task ingress to the egress (possibly across tasks).
    pub path: Vec<ModuleId>,
    /// Delay SLO [ns].
    pub delay_slo: Option<f64>,
    /// Rate SLO.
    pub rate_slo: Option<RateSlo>,
    /// Source parameters.
    pub source: SourceParams,
}

impl FlowSpec {
    /// The flow's rate limit in packets/s: the source `limit`, else the rate SLO
    /// (a `bit` SLO is converted with the first template's frame size).
    pub fn pps_limit(&self) -> Option<f64> {
        let size = self.source.templates.first().map_or(60, |t| t.size.max(60)) as f64;
        self.source.limit.or(self
            .rate_slo
            .and_then(|r| r.packet.or(r.bit.map(|b| b / (8.0 * size)))))
    }
}

/// Largest number of gates per module.
pub const MAX_GATES: usize = 4096;

/// Handle of a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkerId(pub usize);
/// Handle of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskId(pub usize);
/// Handle of a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModuleId(pub usize);
/// Handle of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowId(pub usize);

/// Per-module options of [`Batchy::add_module`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleOpts {
    /// Per-batch service time [ns].
    pub t0: Option<f64>,
    /// Per-packet service time [ns].
    pub t1: Option<f64>,
    /// Force (un)controlled.
    pub controlled: Option<bool>,
    /// The task's ingress module (default: the task's first module).
    pub ingress: bool,
}

struct TaskDef {
    name: String,
    worker: usize,
    controller: String,
}

struct ModuleDef {
    name: String,
    task: usize,
    kind: ModuleKind,
    opts: ModuleOpts,
}

struct SourceDef {
    flows: Vec<usize>,
    worker: Option<usize>,
    burst_size: usize,
    pcap: Option<String>,
}

/// One module's row of a round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModRow {
    /// Module name.
    pub name: String,
    /// Trigger in effect during the round.
    pub control: u32,
    /// Batches/s.
    pub x_v: f64,
    /// Packets/s.
    pub r_v: f64,
    /// Executed batch size.
    pub b_v: f64,
    /// Arriving batch size.
    pub b_in: f64,
}

/// One flow's row of a round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowRow {
    /// Flow name.
    pub name: String,
    /// Measured p95 delay [ns].
    pub delay: f64,
    /// Model estimate [ns] (§2.9).
    pub delay_estimate: f64,
    /// Delay SLO [ns].
    pub delay_slo: f64,
    /// Packets/s at the egress.
    pub pps: f64,
}

/// One task's row of a round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRow {
    /// Task name.
    pub name: String,
    /// Ingress packets/s.
    pub task_pps: f64,
    /// Turnaround t_0 [ns].
    pub t_0: f64,
    /// Model turnaround [ns].
    pub t_0_estimate: f64,
    /// Ingress batch size.
    pub b_0: f64,
    /// CPU cycles per packet.
    pub cyc_per_packet: f64,
}

/// Everything recorded for one control round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundRecord {
    /// Round index (0-based).
    pub t: usize,
    /// Controlled modules.
    pub modules: Vec<ModRow>,
    /// Flows.
    pub flows: Vec<FlowRow>,
    /// Controlled tasks.
    pub tasks: Vec<TaskRow>,
    /// Sum of flow rates of the previous round (as logged before the round).
    pub sum_fpps: f64,
    /// Sum of flow rates measured in this round.
    pub round_fpps: f64,
    /// Wall time of stats collection + control [s].
    pub ctrlr_deadtime: f64,
    /// True if some controller changed a trigger this round.
    pub changed: bool,
}

struct ModPlane {
    def: usize,
    name: String,
    t0: f64,
    t1: f64,
    trigger: Option<Arc<Trigger>>,
    counters: Arc<[GateCounter]>,
    buf_counters: Option<Arc<[GateCounter]>>,
    prev: GateSnapshot,
    prev_buf: GateSnapshot,
}

struct TaskPlane {
    name: String,
    mods: Vec<ModPlane>,
    children: Vec<Vec<usize>>,
    ingress: Arc<GateCounter>,
    prev_ingress: GateSnapshot,
    busy: Arc<std::sync::atomic::AtomicU64>,
    prev_busy: u64,
    controller: Box<dyn TaskController>,
    flows: Vec<(usize, Vec<usize>)>,
}

struct Built {
    engine: Option<Engine>,
    tasks: Vec<TaskPlane>,
    flow_stats: Vec<Arc<FlowStats>>,
    flow_prev: Vec<(u64, u64)>,
    warmed_up: bool,
    last_fpps: f64,
}

/// The Batchy scripting API (mirrors the original's `batchy` object).
pub struct Batchy {
    /// Settings (may be changed before the first `run`).
    pub settings: Settings,
    workers: Vec<String>,
    tasks: Vec<TaskDef>,
    modules: Vec<ModuleDef>,
    edges: Vec<(usize, usize, usize, usize)>,
    flows: Vec<FlowSpec>,
    sources: Vec<SourceDef>,
    profile: HashMap<String, (f64, f64)>,
    built: Option<Built>,
    history: Vec<RoundRecord>,
}

fn dup<T>(names: impl Iterator<Item = T>, name: &str, kind: &'static str) -> Result<(), BatchyError>
where
    T: AsRef<str>,
{
    let mut names = names;
    if names.any(|n| n.as_ref() == name) {
        return Err(BatchyError::Duplicate {
            kind,
            name: name.into(),
        });
    }
    Ok(())
}

impl Batchy {
    /// An empty pipeline.
    pub fn new(settings: Settings) -> Self {
        Batchy {
            settings,
            workers: Vec::new(),
            tasks: Vec::new(),
            modules: Vec::new(),
            edges: Vec::new(),
            flows: Vec::new(),
            sources: Vec::new(),
            profile: HashMap::new(),
            built: None,
            history: Vec::new(),
        }
    }

    /// Use profiler results (module class → (T0, T1)) for modules without explicit T.
    pub fn set_profile(&mut self, profile: HashMap<String, (f64, f64)>) {
        self.profile = profile;
    }

    /// Add a worker (one core).
    pub fn add_worker(&mut self, name: &str) -> Result<WorkerId, BatchyError> {
        dup(self.workers.iter(), name, "worker")?;
        self.workers.push(name.into());
        Ok(WorkerId(self.workers.len() - 1))
    }

    /// Add an RTC task to a worker with a controller (`null`, `max`, `fixN`, `onoff`,
    /// `feasdir`, `projgrad`).
    pub fn add_task(
        &mut self,
        worker: WorkerId,
        name: &str,
        controller: &str,
    ) -> Result<TaskId, BatchyError> {
        dup(self.tasks.iter().map(|t| &t.name), name, "task")?;
        if worker.0 >= self.workers.len() {
            return Err(BatchyError::Unknown {
                kind: "worker",
                name: format!("#{}", worker.0),
            });
        }
        controller::resolve(controller, self.settings.compat).map_err(|source| {
            BatchyError::Controller {
                task: name.into(),
                source,
            }
        })?;
        self.tasks.push(TaskDef {
            name: name.into(),
            worker: worker.0,
            controller: controller.into(),
        });
        Ok(TaskId(self.tasks.len() - 1))
    }

    /// Replace a task's controller (takes effect at the next `run`).
    pub fn set_controller(&mut self, task: TaskId, controller: &str) -> Result<(), BatchyError> {
        let t = self.tasks.get_mut(task.0).ok_or(BatchyError::Unknown {
            kind: "task",
            name: format!("#{}", task.0),
        })?;
        let c = controller::resolve(controller, self.settings.compat).map_err(|source| {
            BatchyError::Controller {
                task: t.name.clone(),
                source,
            }
        })?;
        t.controller = controller.into();
        if let Some(b) = self.built.as_mut()
            && let Some(tp) = b.tasks.iter_mut().find(|tp| tp.name == t.name)
        {
            tp.controller = c;
        }
        Ok(())
    }

    /// Add a module to a task.
    pub fn add_module(
        &mut self,
        task: TaskId,
        name: &str,
        kind: ModuleKind,
        opts: ModuleOpts,
    ) -> Result<ModuleId, BatchyError> {
        dup(self.modules.iter().map(|m| &m.name), name, "module")?;
        if task.0 >= self.tasks.len() {
            return Err(BatchyError::Unknown {
                kind: "task",
                name: format!("#{}", task.0),
            });
        }
        if let ModuleKind::Queue { task: t } = &kind
            && !self.tasks.iter().any(|d| &d.name == t)
        {
            return Err(BatchyError::Module {
                module: name.into(),
                msg: format!("Queue targets unknown task {t:?}"),
            });
        }
        if !matches!(kind, ModuleKind::Queue { .. }) {
            kind.instantiate().map_err(|msg| BatchyError::Module {
                module: name.into(),
                msg,
            })?;
        }
        self.modules.push(ModuleDef {
            name: name.into(),
            task: task.0,
            kind,
            opts,
        });
        Ok(ModuleId(self.modules.len() - 1))
    }

    /// Connect `from`'s output gate to `to`'s input gate (same task).
    pub fn connect(
        &mut self,
        from: ModuleId,
        ogate: usize,
        to: ModuleId,
        igate: usize,
    ) -> Result<(), BatchyError> {
        let (f, t) = match (self.modules.get(from.0), self.modules.get(to.0)) {
            (Some(f), Some(t)) => (f, t),
            _ => return Err(BatchyError::Invalid("connect: unknown module id".into())),
        };
        if f.task != t.task {
            return Err(BatchyError::Invalid(format!(
                "edge {} -> {} crosses tasks (use a Queue module)",
                f.name, t.name
            )));
        }
        if ogate >= MAX_GATES || igate >= MAX_GATES {
            return Err(BatchyError::Invalid(format!(
                "edge {} -> {}: gate index out of range (max {})",
                f.name,
                t.name,
                MAX_GATES - 1
            )));
        }
        let n_out = f.kind.ogates();
        if ogate >= n_out {
            return Err(BatchyError::Invalid(format!(
                "edge {} -> {}: unknown ogate {ogate} of {:?} ({} has {})",
                f.name,
                t.name,
                f.name,
                f.kind.class(),
                match n_out {
                    0 => "no output gates".to_string(),
                    1 => "1 output gate: 0".to_string(),
                    n => format!("{n} output gates: 0..={}", n - 1),
                }
            )));
        }
        if self.edges.iter().any(|e| e.0 == from.0 && e.1 == ogate) {
            return Err(BatchyError::Invalid(format!(
                "module {:?} ogate {ogate} is connected twice",
                f.name
            )));
        }
        self.edges.push((from.0, ogate, to.0, igate));
        Ok(())
    }

    /// Add a flow.
    pub fn add_flow(&mut self, spec: FlowSpec) -> Result<FlowId, BatchyError> {
        dup(self.flows.iter().map(|f| &f.name), &spec.name, "flow")?;
        if spec.path.is_empty() || spec.path.iter().any(|m| m.0 >= self.modules.len()) {
            return Err(BatchyError::Invalid(format!(
                "flow {:?}: path must list existing modules",
                spec.name
            )));
        }
        for t in &spec.source.templates {
            t.build().map_err(|e| {
                BatchyError::Invalid(format!("flow {:?}: template: {e}", spec.name))
            })?;
        }
        self.flows.push(spec);
        Ok(FlowId(self.flows.len() - 1))
    }

    /// Add a template traffic source for `flows` (on `worker`, or on a new worker).
    pub fn add_source(&mut self, flows: &[FlowId], worker: Option<WorkerId>, burst_size: usize) {
        self.sources.push(SourceDef {
            flows: flows.iter().map(|f| f.0).collect(),
            worker: worker.map(|w| w.0),
            burst_size,
            pcap: None,
        });
    }

    /// Add a pcap replay source (loops the file) attributing packets to `flow`.
    pub fn add_pcap_source(&mut self, pcap: &str, flow: FlowId, worker: Option<WorkerId>) {
        self.sources.push(SourceDef {
            flows: vec![flow.0],
            worker: worker.map(|w| w.0),
            burst_size: self.settings.burst_size,
            pcap: Some(pcap.into()),
        });
    }

    /// Look up a module by name.
    pub fn module_id(&self, name: &str) -> Option<ModuleId> {
        self.modules
            .iter()
            .position(|m| m.name == name)
            .map(ModuleId)
    }
    /// Look up a task by name.
    pub fn task_id(&self, name: &str) -> Option<TaskId> {
        self.tasks.iter().position(|m| m.name == name).map(TaskId)
    }
    /// Name of the i-th task.
    pub fn task_name(&self, i: usize) -> Option<String> {
        self.tasks.get(i).map(|t| t.name.clone())
    }
    /// Look up a worker by name.
    pub fn worker_id(&self, name: &str) -> Option<WorkerId> {
        self.workers.iter().position(|m| m == name).map(WorkerId)
    }
    /// Look up a flow by name.
    pub fn flow_id(&self, name: &str) -> Option<FlowId> {
        self.flows.iter().position(|m| m.name == name).map(FlowId)
    }

    /// Change a flow's delay SLO (between runs, as the vd scripts do).
    pub fn set_delay_slo(&mut self, flow: FlowId, slo: Option<f64>) {
        if let Some(f) = self.flows.get_mut(flow.0) {
            f.delay_slo = slo;
        }
    }

    /// The rounds recorded so far.
    pub fn history(&self) -> &[RoundRecord] {
        &self.history
    }

    /// Model (T0, T1) of a module: explicit, else profiled, else (0, 0).
    fn model_t(&self, m: &ModuleDef) -> (f64, f64) {
        let prof = self.profile.get(m.kind.class()).copied();
        match (m.opts.t0, m.opts.t1, prof) {
            (Some(a), Some(b), _) => (a, b),
            (a, b, Some((p0, p1))) => (a.unwrap_or(p0), b.unwrap_or(p1)),
            (a, b, None) => (a.unwrap_or(0.0), b.unwrap_or(0.0)),
        }
    }

    /// Whether a module gets a fractional buffer.
    pub fn is_controlled(&self, id: ModuleId) -> bool {
        let Some(m) = self.modules.get(id.0) else {
            return false;
        };
        if matches!(m.kind, ModuleKind::Queue { .. }) {
            return false;
        }
        let (t0, t1) = self.model_t(m);
        m.opts
            .controlled
            .unwrap_or(batchiness(t0, t1) <= controller::CONTROLLABLE_BOUND)
    }

    fn check_cycles(&self) -> Result<(), BatchyError> {
        let n = self.modules.len();
        let mut adj = vec![Vec::new(); n];
        for &(f, _, t, _) in &self.edges {
            adj[f].push(t);
        }
        // 0 = new, 1 = on stack, 2 = done
        let mut state = vec![0u8; n];
        for s in 0..n {
            if state[s] != 0 {
                continue;
            }
            let mut stack = vec![(s, 0usize)];
            let mut path = vec![s];
            state[s] = 1;
            while let Some(&mut (v, ref mut i)) = stack.last_mut() {
                if *i < adj[v].len() {
                    let w = adj[v][*i];
                    *i += 1;
                    if state[w] == 1 {
                        let pos = path.iter().position(|&p| p == w).unwrap_or(0);
                        let mut names: Vec<&str> = path[pos..]
                            .iter()
                            .map(|&p| self.modules[p].name.as_str())
                            .collect();
                        names.push(&self.modules[w].name);
                        return Err(BatchyError::Cycle {
                            task: self.tasks[self.modules[w].task].name.clone(),
                            cycle: names.join(" -> "),
                        });
                    }
                    if state[w] == 0 {
                        state[w] = 1;
                        stack.push((w, 0));
                        path.push(w);
                    }
                } else {
                    state[v] = 2;
                    stack.pop();
                    path.pop();
                }
            }
        }
        Ok(())
    }

    fn topo_order(&self, task: usize) -> Vec<usize> {
        let ms: Vec<usize> = (0..self.modules.len())
            .filter(|&m| self.modules[m].task == task)
            .collect();
        let mut indeg: HashMap<usize, usize> = ms.iter().map(|&m| (m, 0)).collect();
        for &(f, _, t, _) in &self.edges {
            if self.modules[f].task == task {
                *indeg.entry(t).or_default() += 1;
            }
        }
        let mut ready: Vec<usize> = ms.iter().copied().filter(|m| indeg[m] == 0).collect();
        ready.reverse();
        let mut out = Vec::new();
        while let Some(v) = ready.pop() {
            out.push(v);
            let mut outs: Vec<(usize, usize)> = self
                .edges
                .iter()
                .filter(|e| e.0 == v)
                .map(|e| (e.1, e.2))
                .collect();
            outs.sort();
            for (_, t) in outs.into_iter().rev() {
                if let Some(d) = indeg.get_mut(&t) {
                    *d -= 1;
                    if *d == 0 {
                        ready.push(t);
                    }
                }
            }
        }
        out
    }

    fn build(&mut self) -> Result<Built, BatchyError> {
        self.check_cycles()?;
        if self.tasks.is_empty() {
            return Err(BatchyError::Invalid("pipeline has no task".into()));
        }
        if self.flows.is_empty() {
            return Err(BatchyError::Invalid("pipeline has no flow".into()));
        }
        let s = self.settings.clone();
        let mut workers: Vec<Worker> = self
            .workers
            .iter()
            .enumerate()
            .map(|(i, n)| {
                Worker::new(
                    n.clone(),
                    s.seed.wrapping_add(i as u64 * 7919),
                    s.tsc_ghz,
                    s.task_overhead_ns,
                )
            })
            .collect();
        // Flow statistics.
        let flow_stats: Vec<Arc<FlowStats>> = self
            .flows
            .iter()
            .map(|_| Arc::new(FlowStats::new()))
            .collect();
        let fs_arc: Arc<[Arc<FlowStats>]> = flow_stats.clone().into();

        // Task ingress queues.
        let queues: Vec<Arc<QueueShared>> = self
            .tasks
            .iter()
            .map(|_| Arc::new(QueueShared::new(s.queue_size, s.backpressure)))
            .collect();

        // Nodes for modules (+ buffers).
        let mut loc: Vec<(usize, usize)> = Vec::new(); // module def -> (worker, node)
        let mut buf: Vec<Option<(usize, Arc<Trigger>)>> = Vec::new();
        for (i, m) in self.modules.iter().enumerate() {
            let w = self.tasks[m.task].worker;
            let module: Box<dyn crate::module::Module> = match &m.kind {
                ModuleKind::Queue { task } => {
                    let t = self.tasks.iter().position(|d| &d.name == task).ok_or(
                        BatchyError::Unknown {
                            kind: "task",
                            name: task.clone(),
                        },
                    )?;
                    Box::new(QueueIn(queues[t].clone()))
                }
                k => k.instantiate().map_err(|msg| BatchyError::Module {
                    module: m.name.clone(),
                    msg,
                })?,
            };
            let intrinsic = module.virtual_cost(s.tsc_ghz);
            let vcost = (
                m.opts.t0.unwrap_or(intrinsic.0),
                m.opts.t1.unwrap_or(intrinsic.1),
            );
            let igates = self
                .edges
                .iter()
                .filter(|e| e.2 == i)
                .map(|e| e.3 + 1)
                .max()
                .unwrap_or(1);
            let mut node = Node::new(m.name.clone(), module, igates, vcost);
            node.ogates = vec![None; m.kind.ogates().max(1)];
            workers[w].nodes.push(node);
            let mi = workers[w].nodes.len() - 1;
            loc.push((w, mi));
            if self.is_controlled(ModuleId(i)) {
                let trig = Arc::new(Trigger::default());
                let bnode = Node::new(
                    format!("{}_fbuf", m.name),
                    Box::new(FractionalBuffer::new(trig.clone())),
                    1,
                    (0.0, 0.0),
                );
                workers[w].nodes.push(bnode);
                let bi = workers[w].nodes.len() - 1;
                workers[w].nodes[bi].ogates = vec![Some((mi, 0))];
                workers[w].nodes[mi].indeg[0] += 1;
                buf.push(Some((bi, trig)));
            } else {
                buf.push(None);
            }
        }
        let entry = |m: usize, ig: usize, buf: &Vec<Option<(usize, Arc<Trigger>)>>| -> usize {
            match (&buf[m], ig) {
                (Some((b, _)), 0) => *b,
                _ => loc[m].1,
            }
        };
        for &(f, og, t, ig) in &self.edges {
            let (w, fnode) = loc[f];
            let dst = entry(t, ig, &buf);
            let dig = if buf[t].is_some() && ig == 0 { 0 } else { ig };
            let nd = &mut workers[w].nodes[fnode];
            if nd.ogates.len() <= og {
                nd.ogates.resize(og + 1, None);
            }
            nd.ogates[og] = Some((dst, dig));
            let d = &mut workers[w].nodes[dst];
            if d.indeg.len() <= dig {
                d.indeg.resize(dig + 1, 0);
            }
            d.indeg[dig] += 1;
        }
        // Task roots.
        let mut task_roots = Vec::new();
        for (ti, t) in self.tasks.iter().enumerate() {
            let w = t.worker;
            let ingress = self
                .modules
                .iter()
                .position(|m| m.task == ti && m.opts.ingress)
                .or_else(|| self.modules.iter().position(|m| m.task == ti))
                .ok_or_else(|| BatchyError::Invalid(format!("task {:?} has no module", t.name)))?;
            let root = Node::new(
                format!("{}_queue", t.name),
                Box::new(QueueOut(queues[ti].clone())),
                1,
                (0.0, 0.0),
            );
            workers[w].nodes.push(root);
            let ri = workers[w].nodes.len() - 1;
            let dst = entry(ingress, 0, &buf);
            workers[w].nodes[ri].ogates = vec![Some((dst, 0))];
            workers[w].nodes[dst].indeg[0] += 1;
            task_roots.push((w, ri));
        }
        // Egress: Measure per egress module, one Sink per task.
        let mut measure_of: HashMap<usize, usize> = HashMap::new();
        let mut sink_of: HashMap<usize, usize> = HashMap::new();
        for f in &self.flows {
            let Some(&last) = f.path.last() else { continue };
            let last = last.0;
            if measure_of.contains_key(&last) {
                continue;
            }
            let (w, node) = loc[last];
            if self.edges.iter().any(|e| e.0 == last && e.1 == 0) {
                return Err(BatchyError::Invalid(format!(
                    "flow {:?}: egress module {:?} has its ogate 0 connected",
                    f.name, self.modules[last].name
                )));
            }
            let task = self.modules[last].task;
            let sink = *sink_of.entry(task).or_insert_with(|| {
                workers[w].nodes.push(Node::new(
                    format!("{}_sink", self.tasks[task].name),
                    Box::new(Sink),
                    1,
                    (0.0, 0.0),
                ));
                workers[w].nodes.len() - 1
            });
            workers[w].nodes.push(Node::new(
                format!("{}_measure", self.modules[last].name),
                Box::new(Measure::new(fs_arc.clone(), {
                    let owners: Vec<usize> = self
                        .flows
                        .iter()
                        .enumerate()
                        .filter(|(_, g)| g.path.last().map(|m| m.0) == Some(last))
                        .map(|(i, _)| i)
                        .collect();
                    (owners.len() == 1).then(|| owners[0] as u32)
                })),
                1,
                (0.0, 0.0),
            ));
            let mi = workers[w].nodes.len() - 1;
            workers[w].nodes[mi].ogates = vec![Some((sink, 0))];
            workers[w].nodes[sink].indeg[0] += 1;
            workers[w].nodes[node].ogates[0] = Some((mi, 0));
            workers[w].nodes[mi].indeg[0] += 1;
            measure_of.insert(last, mi);
        }
        // Pipeline tasks on their workers.
        let mut busy = Vec::new();
        let mut ingress_ctr = Vec::new();
        for (ti, t) in self.tasks.iter().enumerate() {
            let flows: Vec<&FlowSpec> = self
                .flows
                .iter()
                .filter(|f| f.path.iter().any(|m| self.modules[m.0].task == ti))
                .collect();
            let any_slo = flows
                .iter()
                .any(|f| f.delay_slo.is_some() || f.rate_slo.is_some());
            let all_rate: Option<f64> = flows
                .iter()
                .map(|f| f.rate_slo.and_then(|_| f.pps_limit()))
                .sum();
            let rl = any_slo.then(|| (Resource::Packet, all_rate.unwrap_or(1e9)));
            let blocked: Vec<Arc<QueueShared>> = self
                .modules
                .iter()
                .filter(|m| m.task == ti)
                .filter_map(|m| match &m.kind {
                    ModuleKind::Queue { task } => self
                        .tasks
                        .iter()
                        .position(|d| &d.name == task)
                        .map(|q| queues[q].clone()),
                    _ => None,
                })
                .collect();
            let (w, root) = task_roots[ti];
            let id = workers[w].add_task(t.name.clone(), root, rl, blocked);
            busy.push(workers[w].tasks[id].busy_ns.clone());
            ingress_ctr.push(workers[w].tasks[id].ingress.clone());
        }
        // Sources.
        let mut sources: Vec<SourceDef> = std::mem::take(&mut self.sources);
        if sources.is_empty() {
            let mut by_task: Vec<Vec<usize>> = vec![Vec::new(); self.tasks.len()];
            for (fi, f) in self.flows.iter().enumerate() {
                by_task[self.modules[f.path[0].0].task].push(fi);
            }
            for fl in by_task.into_iter().filter(|v| !v.is_empty()) {
                sources.push(SourceDef {
                    flows: fl,
                    worker: None,
                    burst_size: s.burst_size,
                    pcap: None,
                });
            }
        }
        for (si, sd) in sources.iter().enumerate() {
            if sd.flows.is_empty() || sd.flows.iter().any(|&f| f >= self.flows.len()) {
                return Err(BatchyError::Invalid(format!(
                    "source #{si}: needs one or more existing flows"
                )));
            }
            if let Some(w) = sd.worker
                && w >= workers.len()
            {
                return Err(BatchyError::Invalid(format!(
                    "source #{si}: unknown worker"
                )));
            }
            let ingress_task = self.modules[self.flows[sd.flows[0]].path[0].0].task;
            if sd
                .flows
                .iter()
                .any(|&f| self.modules[self.flows[f].path[0].0].task != ingress_task)
            {
                return Err(BatchyError::Invalid(format!(
                    "source #{si}: all flows of one source must share the ingress task"
                )));
            }
            let w = match sd.worker {
                Some(w) => w,
                // Real clock: share the ingress task's core (this machine has 2 cores
                // shared with other work; a spinning source thread starves the pipeline).
                None if s.clock == ClockMode::Real => self.tasks[ingress_task].worker,
                None => {
                    workers.push(Worker::new(
                        format!("src{si}"),
                        s.seed.wrapping_add(1000 + si as u64),
                        s.tsc_ghz,
                        s.task_overhead_ns,
                    ));
                    workers.len() - 1
                }
            };
            let module: Box<dyn crate::module::Module> = match &sd.pcap {
                Some(p) => Box::new(
                    Source::replay(sd.flows[0] as u32, read_pcap(p)?, sd.burst_size)
                        .map_err(BatchyError::Invalid)?,
                ),
                None => {
                    let mut sf = Vec::new();
                    for &f in &sd.flows {
                        let spec = &self.flows[f];
                        let mut templates = Vec::new();
                        let tspecs = if spec.source.templates.is_empty() {
                            vec![TemplateSpec::default()]
                        } else {
                            spec.source.templates.clone()
                        };
                        for t in &tspecs {
                            templates.push(t.build().map_err(|e| {
                                BatchyError::Invalid(format!("flow {:?}: {e}", spec.name))
                            })?);
                        }
                        sf.push(SourceFlow {
                            flow: f as u32,
                            templates,
                            weight: spec.source.weight,
                            burst: spec.source.burst,
                        });
                    }
                    Box::new(
                        Source::new(&sf, sd.burst_size, s.seed.wrapping_add(si as u64))
                            .map_err(BatchyError::Invalid)?,
                    )
                }
            };
            let wk = &mut workers[w];
            wk.nodes
                .push(Node::new(format!("source{si}"), module, 1, (0.0, 0.0)));
            let src = wk.nodes.len() - 1;
            wk.nodes.push(Node::new(
                format!("source{si}_ts"),
                Box::new(Timestamp),
                1,
                (0.0, 0.0),
            ));
            let ts = wk.nodes.len() - 1;
            wk.nodes.push(Node::new(
                format!("source{si}_out"),
                Box::new(QueueIn(queues[ingress_task].clone())),
                1,
                (0.0, 0.0),
            ));
            let qi = wk.nodes.len() - 1;
            wk.nodes[src].ogates = vec![Some((ts, 0))];
            wk.nodes[ts].ogates = vec![Some((qi, 0))];
            wk.nodes[ts].indeg[0] = 1;
            wk.nodes[qi].indeg[0] = 1;
            let limits: Option<f64> = sd.flows.iter().map(|&f| self.flows[f].pps_limit()).sum();
            let rl = limits.map(|l| (Resource::Packet, l));
            wk.add_task(
                format!("source{si}"),
                src,
                rl,
                vec![queues[ingress_task].clone()],
            );
        }
        self.sources = sources;
        // Topological priorities per worker.
        for w in &mut workers {
            let n = w.nodes.len();
            let mut indeg = vec![0usize; n];
            for nd in &w.nodes {
                for &(d, _) in nd.ogates.iter().flatten() {
                    indeg[d] += 1;
                }
            }
            let mut ready: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
            let mut prio = 0u32;
            while let Some(v) = ready.pop() {
                w.nodes[v].prio = prio;
                prio += 1;
                let outs: Vec<usize> = w.nodes[v].ogates.iter().flatten().map(|e| e.0).collect();
                for d in outs {
                    indeg[d] -= 1;
                    if indeg[d] == 0 {
                        ready.push(d);
                    }
                }
            }
        }
        // Control plane.
        let mut tasks = Vec::new();
        for (ti, t) in self.tasks.iter().enumerate() {
            let order = self.topo_order(ti);
            let idx: HashMap<usize, usize> =
                order.iter().enumerate().map(|(i, &m)| (m, i)).collect();
            let mut children = vec![Vec::new(); order.len()];
            let mut edges: Vec<_> = self
                .edges
                .iter()
                .filter(|e| idx.contains_key(&e.0))
                .collect();
            edges.sort_by_key(|e| (e.0, e.1));
            for e in edges {
                if let (Some(&a), Some(&b)) = (idx.get(&e.0), idx.get(&e.2)) {
                    children[a].push(b);
                }
            }
            let mods = order
                .iter()
                .map(|&m| {
                    let (w, node) = loc[m];
                    let (t0, t1) = self.model_t(&self.modules[m]);
                    ModPlane {
                        def: m,
                        name: self.modules[m].name.clone(),
                        t0,
                        t1,
                        trigger: buf[m].as_ref().map(|b| b.1.clone()),
                        counters: workers[w].nodes[node].counters.clone(),
                        buf_counters: buf[m]
                            .as_ref()
                            .map(|b| workers[w].nodes[b.0].counters.clone()),
                        prev: GateSnapshot::default(),
                        prev_buf: GateSnapshot::default(),
                    }
                })
                .collect();
            let flows = self
                .flows
                .iter()
                .enumerate()
                .filter_map(|(fi, f)| {
                    let p: Vec<usize> = f
                        .path
                        .iter()
                        .filter_map(|m| idx.get(&m.0).copied())
                        .collect();
                    (!p.is_empty()).then_some((fi, p))
                })
                .collect();
            let controller = controller::resolve(&t.controller, s.compat).map_err(|source| {
                BatchyError::Controller {
                    task: t.name.clone(),
                    source,
                }
            })?;
            tasks.push(TaskPlane {
                name: t.name.clone(),
                mods,
                children,
                ingress: ingress_ctr[ti].clone(),
                prev_ingress: GateSnapshot::default(),
                busy: busy[ti].clone(),
                prev_busy: 0,
                controller,
                flows,
            });
        }
        let n_flows = self.flows.len();
        Ok(Built {
            engine: Some(Engine::new(workers, s.clock)),
            tasks,
            flow_stats,
            flow_prev: vec![(0, 0); n_flows],
            warmed_up: false,
            last_fpps: 0.0,
        })
    }

    /// Build (first call) and run `rounds` control rounds of `period` seconds each.
    pub fn run(&mut self, rounds: usize, period: f64) -> Result<&[RoundRecord], BatchyError> {
        if period.is_nan() || period <= 0.0 {
            return Err(BatchyError::Invalid("control period must be > 0".into()));
        }
        if self.built.is_none() {
            let b = self.build()?;
            self.built = Some(b);
            self.apply_initial();
        }
        let Some(mut engine) = self.built.as_mut().and_then(|b| b.engine.take()) else {
            return Err(BatchyError::Invalid("engine unavailable".into()));
        };
        let period_ns = (period * 1e9) as u64;
        let warm_ns = (self.settings.warmup.max(0.0) * 1e9) as u64;
        let result = match engine.clock {
            ClockMode::Virtual => {
                let mut wait = |ns: u64, e: &mut Engine| e.advance_virtual(ns);
                let mut rounds_done = Vec::new();
                self.control_loop(
                    rounds,
                    period,
                    period_ns,
                    warm_ns,
                    &mut engine,
                    &mut wait,
                    &mut rounds_done,
                );
                rounds_done
            }
            ClockMode::Real => {
                let mut rounds_done = Vec::new();
                let mut dummy = Engine::new(Vec::new(), ClockMode::Real);
                engine.run_real(|_| {
                    let mut wait =
                        |ns: u64, _e: &mut Engine| std::thread::sleep(Duration::from_nanos(ns));
                    self.control_loop(
                        rounds,
                        period,
                        period_ns,
                        warm_ns,
                        &mut dummy,
                        &mut wait,
                        &mut rounds_done,
                    );
                });
                rounds_done
            }
        };
        if let Some(b) = self.built.as_mut() {
            b.engine = Some(engine);
        }
        let start = self.history.len();
        self.history.extend(result);
        Ok(&self.history[start..])
    }

    fn apply_initial(&mut self) {
        let Some(b) = self.built.as_mut() else { return };
        for tp in &mut b.tasks {
            let st = snapshot_state(tp, &[], &self.flows, 1.0, 0.0, 0.0, true);
            let q = tp.controller.initial(&st);
            for (m, q) in tp.mods.iter().zip(q) {
                if let Some(t) = &m.trigger {
                    let _ = t.set(q);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn control_loop(
        &mut self,
        rounds: usize,
        period: f64,
        period_ns: u64,
        warm_ns: u64,
        engine: &mut Engine,
        wait: &mut dyn FnMut(u64, &mut Engine),
        out: &mut Vec<RoundRecord>,
    ) {
        let flows = self.flows.clone();
        let ghz = self.settings.tsc_ghz;
        let t_base = self.history.len();
        let Some(b) = self.built.as_mut() else { return };
        if !b.warmed_up {
            info!("*** WARMUP... ***");
            if warm_ns > 0 {
                wait(warm_ns, engine);
            }
            b.warmed_up = true;
        }
        for r in 0..rounds {
            info!(
                "*** CONTROL ROUND: {}..., cumulative flow rate: {} pps",
                t_base + r + 1,
                b.last_fpps.round()
            );
            // reset counters (snapshots) and histograms
            for tp in &mut b.tasks {
                for m in &mut tp.mods {
                    m.prev = sum_gates(&m.counters);
                    if let Some(bc) = &m.buf_counters {
                        m.prev_buf = sum_gates(bc);
                    }
                }
                tp.prev_ingress = tp.ingress.snapshot();
                tp.prev_busy = tp.busy.load(std::sync::atomic::Ordering::Relaxed);
            }
            for (i, fs) in b.flow_stats.iter().enumerate() {
                fs.take();
                b.flow_prev[i] = fs.totals();
            }
            let t_start = Instant::now();
            wait(period_ns, engine);
            let elapsed = if engine.clock == ClockMode::Real {
                t_start.elapsed().as_secs_f64()
            } else {
                period
            };
            let ctl_start = Instant::now();
            // flow stats
            let mut frows = Vec::new();
            let mut fsample = Vec::new();
            for (i, fs) in b.flow_stats.iter().enumerate() {
                let smp = fs.take();
                let (p, _) = fs.totals();
                let pps = p.saturating_sub(b.flow_prev[i].0) as f64 / elapsed;
                fsample.push((smp.p95, pps));
                frows.push(FlowRow {
                    name: flows[i].name.clone(),
                    delay: smp.p95,
                    delay_estimate: 0.0,
                    delay_slo: flows[i].delay_slo.unwrap_or(DEFAULT_DELAY_BOUND),
                    pps,
                });
            }
            let mut mrows = Vec::new();
            let mut trows = Vec::new();
            let mut changed = false;
            for tp in &mut b.tasks {
                let st = snapshot_state(tp, &fsample, &flows, elapsed, ghz, 0.0, false);
                let est = estimates(&st);
                for (k, (fi, _)) in tp.flows.iter().enumerate() {
                    if let Some(e) = est.1.get(&k) {
                        frows[*fi].delay_estimate += e;
                    }
                }
                let has_ctrl = st.modules.iter().any(|m| m.controlled);
                if has_ctrl {
                    for m in st.modules.iter().filter(|m| m.controlled) {
                        mrows.push(ModRow {
                            name: m.name.clone(),
                            control: m.q,
                            x_v: m.x,
                            r_v: m.rate,
                            b_v: m.b,
                            b_in: m.b_in,
                        });
                    }
                    let ing = tp.ingress.snapshot().since(tp.prev_ingress);
                    let busy = tp
                        .busy
                        .load(std::sync::atomic::Ordering::Relaxed)
                        .saturating_sub(tp.prev_busy);
                    trows.push(TaskRow {
                        name: tp.name.clone(),
                        task_pps: ing.packets as f64 / elapsed,
                        t_0: st.t_in,
                        t_0_estimate: est.0,
                        b_0: st.b_in,
                        cyc_per_packet: if ing.packets > 0 {
                            busy as f64 * ghz / ing.packets as f64
                        } else {
                            0.0
                        },
                    });
                    let dec = tp.controller.control(&st);
                    for line in &dec.log {
                        info!("{line}");
                    }
                    for (m, q) in tp.mods.iter().zip(&dec.q) {
                        if let Some(t) = &m.trigger
                            && t.get() != *q
                        {
                            changed = true;
                            let _ = t.set(*q);
                        }
                    }
                }
            }
            let round_fpps: f64 = frows.iter().map(|f| f.pps).sum();
            out.push(RoundRecord {
                t: t_base + r,
                modules: mrows,
                flows: frows,
                tasks: trows,
                sum_fpps: b.last_fpps,
                round_fpps,
                ctrlr_deadtime: ctl_start.elapsed().as_secs_f64(),
                changed,
            });
            b.last_fpps = round_fpps;
        }
    }

    /// Write the per-round dump (CSV, §4 columns).
    pub fn dump(&self, path: &Path) -> Result<(), BatchyError> {
        info!(
            "dump: dumping statistics to CSV file: {:?}",
            path.display().to_string()
        );
        crate::output::write_csv(&self.history, path)
    }

    /// Plot the 3-panel PNG (controls, flow p95 delay vs SLO, flow rates).
    pub fn plot(&self, path: &Path) -> Result<(), BatchyError> {
        info!(
            "plot: plotting statistics to file: {:?}",
            path.display().to_string()
        );
        crate::output::plot_png(&self.history, path)
    }
}

fn sum_gates(c: &[GateCounter]) -> GateSnapshot {
    c.iter().fold(GateSnapshot::default(), |a, g| {
        let s = g.snapshot();
        GateSnapshot {
            batches: a.batches + s.batches,
            packets: a.packets + s.packets,
        }
    })
}

/// Build the controller's view of a task from counter deltas.
fn snapshot_state(
    tp: &TaskPlane,
    fsample: &[(f64, f64)],
    flows: &[FlowSpec],
    period: f64,
    _ghz: f64,
    _unused: f64,
    initial: bool,
) -> TaskState {
    let ing = tp.ingress.snapshot().since(tp.prev_ingress);
    let ing_pkts = ing.packets as f64;
    let modules = tp
        .mods
        .iter()
        .map(|m| {
            let d = if initial {
                GateSnapshot::default()
            } else {
                sum_gates(&m.counters).since(m.prev)
            };
            let b = if d.batches > 0 {
                d.packets as f64 / d.batches as f64
            } else {
                0.0
            };
            let b_in = match &m.buf_counters {
                Some(bc) if !initial => {
                    let db = sum_gates(bc).since(m.prev_buf);
                    if db.batches > 0 {
                        db.packets as f64 / db.batches as f64
                    } else {
                        0.0
                    }
                }
                _ => b,
            };
            ModState {
                name: m.name.clone(),
                t0: m.t0,
                t1: m.t1,
                controlled: m.trigger.is_some(),
                q: m.trigger.as_ref().map_or(0, |t| t.get()),
                x: d.batches as f64 / period,
                rate: d.packets as f64 / period,
                b,
                b_in,
                r: if ing_pkts > 0.0 {
                    d.packets as f64 / ing_pkts
                } else {
                    0.0
                },
            }
        })
        .collect();
    let _ = tp.mods.first().map(|m| m.def);
    let flows_st = tp
        .flows
        .iter()
        .map(|(fi, path)| {
            let spec = &flows[*fi];
            let (delay, pps) = fsample.get(*fi).copied().unwrap_or((0.0, 0.0));
            let limit = spec.pps_limit();
            FlowState {
                name: spec.name.clone(),
                path: path.clone(),
                delay,
                delay_bound: spec.delay_slo.unwrap_or(DEFAULT_DELAY_BOUND),
                pps,
                cbr: limit.is_some_and(|l| pps >= CBR_RATIO * l),
            }
        })
        .collect();
    let x0 = ing.batches as f64 / period;
    TaskState {
        name: tp.name.clone(),
        modules,
        children: tp.children.clone(),
        flows: flows_st,
        b_in: if ing.batches > 0 {
            ing.packets as f64 / ing.batches as f64
        } else {
            0.0
        },
        t_in: if x0 > 0.0 { 1e9 / x0 } else { 0.0 },
    }
}

/// (t_0 estimate, per-flow delay estimate keyed by global flow index) for one task.
fn estimates(st: &TaskState) -> (f64, HashMap<usize, f64>) {
    let x0 = if st.t_in > 0.0 { 1e9 / st.t_in } else { 0.0 };
    let cost = |m: &ModState| m.t0 + m.t1 * m.b;
    let full: f64 = st.modules.iter().map(cost).sum();
    let t0_est: f64 = if x0 > 0.0 {
        st.modules.iter().map(|m| m.x / x0 * cost(m)).sum()
    } else {
        0.0
    };
    let mut per = HashMap::new();
    for (i, f) in st.flows.iter().enumerate() {
        let mut e = full;
        for &v in &f.path {
            let m = &st.modules[v];
            e += cost(m);
            if m.controlled && m.q > 0 && m.x > 0.0 {
                e += 1e9 / m.x;
            }
        }
        per.insert(i, e);
    }
    (t0_est, per)
}

/// Read all frames of a pcap file.
pub fn read_pcap(path: &str) -> Result<Vec<Vec<u8>>, BatchyError> {
    let io = |msg: String| BatchyError::Io {
        path: path.into(),
        msg,
    };
    let f = std::fs::File::open(path).map_err(|e| io(e.to_string()))?;
    let mut r = pcap_file::pcap::PcapReader::new(f).map_err(|e| io(e.to_string()))?;
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.map_err(|e| io(e.to_string()))?;
        out.push(p.data.to_vec());
    }
    if out.is_empty() {
        return Err(io("no packets".into()));
    }
    Ok(out)
}
