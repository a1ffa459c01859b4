//! Task controllers (spec §2): Null, Max, FixN, OnOff, FeasDir and ProjGradient.
//!
//! Controllers see a [`TaskState`] snapshot (the per-period measurements of §1.4) and
//! return new triggers; they never touch the data plane, so they are unit-testable with
//! synthetic measurements (the golden vectors of spec §6.3).

mod feasdir;
pub mod linalg;
mod onoff;
mod projgrad;

pub use feasdir::FeasDir;
pub use onoff::OnOff;
pub use projgrad::ProjGradient;

/// Maximum trigger / batch size (`BATCH_SIZE`).
pub const BATCH_SIZE: u32 = 32;
/// `DEFAULT_TOLERANCE`.
pub const TOLERANCE: f64 = 0.05;
/// `DEFAULT_BUFFER_PULL`: q_min = ⌊b_in⌋ + 4.
pub const BUFFER_PULL: u32 = 4;
/// `DEFAULT_PUSH_RATIO`: push to 0 when b_in ≥ 0.7·B.
pub const PUSH_RATIO: f64 = 0.7;
/// `MAX_PROJGRAD_ITERATIONS`.
pub const MAX_PROJGRAD_ITERATIONS: usize = 3;
/// `DEFAULT_DELAY_BOUND` [ns] for flows without a delay SLO.
pub const DEFAULT_DELAY_BOUND: f64 = 1e11;
/// `OVERDELAY_BOUND` (FeasDir).
pub const OVERDELAY_BOUND: f64 = 1.05;
/// `DELTA_TRIGGER_MAX` (FeasDir).
pub const DELTA_TRIGGER_MAX: i64 = 32;
/// `CONTROLLABLE_BOUND` on batchiness.
pub const CONTROLLABLE_BOUND: f64 = 0.5;
/// `CBR_RATIO`.
pub const CBR_RATIO: f64 = 1.025;

/// Batchiness β = T1 / (T0 + T1) (1.0 when both are 0).
pub fn batchiness(t0: f64, t1: f64) -> f64 {
    if t0 + t1 <= 0.0 { 1.0 } else { t1 / (t0 + t1) }
}

/// Measurements of one module for one period (spec §1.4).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModState {
    /// Module name.
    pub name: String,
    /// Per-batch service time [ns].
    pub t0: f64,
    /// Per-packet service time [ns].
    pub t1: f64,
    /// Has a fractional buffer.
    pub controlled: bool,
    /// Current trigger (0 = bypass; always 0 when uncontrolled).
    pub q: u32,
    /// Executed batches per second.
    pub x: f64,
    /// Packets per second.
    pub rate: f64,
    /// Mean executed batch size.
    pub b: f64,
    /// Mean size of batches arriving at the buffer (or the module).
    pub b_in: f64,
    /// Share of the task's ingress packets reaching this module.
    pub r: f64,
}

/// One flow as seen by one task (its segment in the task).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowState {
    /// Flow name.
    pub name: String,
    /// Modules of the task on the flow's path (indices into [`TaskState::modules`]).
    pub path: Vec<usize>,
    /// Measured 95th-percentile delay [ns].
    pub delay: f64,
    /// Delay SLO [ns] ([`DEFAULT_DELAY_BOUND`] when none).
    pub delay_bound: f64,
    /// Measured packets per second.
    pub pps: f64,
    /// Flow is rate limited at its source (CBR).
    pub cbr: bool,
}

/// Everything a task controller sees in one period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskState {
    /// Task name.
    pub name: String,
    /// Modules of the task in topological (pre-)order.
    pub modules: Vec<ModState>,
    /// Module graph (downstream neighbours, by index).
    pub children: Vec<Vec<usize>>,
    /// Flows crossing the task.
    pub flows: Vec<FlowState>,
    /// Ingress batch size b_0.
    pub b_in: f64,
    /// Ingress turnaround t_0 [ns].
    pub t_in: f64,
}

impl TaskState {
    /// Indices of controlled modules (in module order).
    pub fn controlled(&self) -> Vec<usize> {
        (0..self.modules.len())
            .filter(|&i| self.modules[i].controlled)
            .collect()
    }

    /// Modules reachable downstream of `v` (excluding `v`) for which `pass` allows
    /// continuing, collected when `take` says so. Depth-first, each module once.
    fn walk(
        &self,
        v: usize,
        pass: impl Fn(usize) -> bool,
        take: impl Fn(usize) -> bool,
    ) -> Vec<usize> {
        let mut seen = vec![false; self.modules.len()];
        let mut out = Vec::new();
        let mut stack: Vec<usize> = self.children.get(v).cloned().unwrap_or_default();
        stack.reverse();
        while let Some(u) = stack.pop() {
            if u >= seen.len() || seen[u] {
                continue;
            }
            seen[u] = true;
            if take(u) {
                out.push(u);
            }
            if pass(u) {
                for &c in self.children[u].iter().rev() {
                    stack.push(c);
                }
            }
        }
        out
    }

    /// U(v): `v` plus the uncontrolled descendants reachable without crossing another
    /// controlled module.
    pub fn uncontrolled_descs(&self, v: usize) -> Vec<usize> {
        let mut u = vec![v];
        u.extend(self.walk(
            v,
            |x| !self.modules[x].controlled,
            |x| !self.modules[x].controlled,
        ));
        u
    }

    /// All controlled descendants of `v`.
    pub fn controlled_descs(&self, v: usize) -> Vec<usize> {
        self.walk(v, |_| true, |x| self.modules[x].controlled)
    }

    /// `v` plus descendants reachable without crossing an active buffer (q > 0).
    pub fn unbuffered_descs(&self, v: usize) -> Vec<usize> {
        let active = |x: usize| self.modules[x].controlled && self.modules[x].q > 0;
        let mut u = vec![v];
        u.extend(self.walk(v, |x| !active(x), |x| !active(x)));
        u
    }

    /// Aggregated (T0, T1) over `set` relative to module `v` (§1.6), each repeated `mult`
    /// times (mult > 1 reproduces the reference's accumulating descendant lists).
    pub fn sum_delay(&self, v: usize, set: &[usize], mult: f64) -> (f64, f64) {
        let rv = self.modules[v].r;
        let mut t0 = 0.0;
        let mut t1 = 0.0;
        for &u in set {
            let m = &self.modules[u];
            t0 += m.t0;
            let ratio = if u == v {
                1.0
            } else if rv > 0.0 {
                m.r / rv
            } else {
                0.0
            };
            t1 += ratio * m.t1;
        }
        (t0 * mult, t1 * mult)
    }

    /// (delay, bound, indices of violating flows, sum of violations, min distance).
    pub fn violations(&self) -> (Vec<usize>, f64, f64) {
        let mut over = Vec::new();
        let mut err = 0.0;
        let mut dist: f64 = self.flows.iter().map(|f| f.delay_bound).sum();
        for (i, f) in self.flows.iter().enumerate() {
            let e = f.delay - f.delay_bound;
            if e > 0.0 {
                err += e;
                over.push(i);
            } else {
                dist = dist.min(-e);
            }
        }
        (over, err, dist)
    }
}

/// Switches reproducing quirks of the reference controllers (spec §7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Compat {
    /// §7 item 1: descendant lists accumulate, so T0[v]/T1[v] grow by one copy per round.
    pub accumulate_descs: bool,
    /// §7 item 2: ordering rows are added for every controlled ancestor/descendant pair.
    pub ordering_always: bool,
    /// §7 item 12: FeasDir's max trigger ignores controlled descendants (always 32).
    pub feasdir_no_cdesc: bool,
}

impl Compat {
    /// Everything as the reference does it.
    pub fn reference() -> Self {
        Compat {
            accumulate_descs: true,
            ordering_always: true,
            feasdir_no_cdesc: true,
        }
    }
}

/// Outcome of one control call.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// New trigger per module (index as in [`TaskState::modules`]; uncontrolled: 0).
    pub q: Vec<u32>,
    /// Log lines (README style) describing what was done.
    pub log: Vec<String>,
    /// The aggregated T0[v] used this call per module (0 when not computed), for tests.
    pub t0_used: Vec<f64>,
}

impl Decision {
    fn keep(st: &TaskState) -> Self {
        Decision {
            q: st.modules.iter().map(|m| m.q).collect(),
            log: Vec::new(),
            t0_used: vec![0.0; st.modules.len()],
        }
    }
}

/// A task controller.
pub trait TaskController: Send {
    /// Name as used in scripts.
    fn name(&self) -> String;
    /// Triggers to apply before the first period.
    fn initial(&self, st: &TaskState) -> Vec<u32> {
        st.modules.iter().map(|m| m.q).collect()
    }
    /// One control period.
    fn control(&mut self, st: &TaskState) -> Decision;
}

/// Static controller: every controlled module at a fixed trigger (Null = 0, Max = 32).
#[derive(Debug, Clone)]
pub struct Fixed {
    /// Trigger.
    pub q: u32,
    label: String,
}

impl Fixed {
    /// Null: plain RTC.
    pub fn null() -> Self {
        Fixed {
            q: 0,
            label: "null".into(),
        }
    }
    /// Max: always 32.
    pub fn max() -> Self {
        Fixed {
            q: BATCH_SIZE,
            label: "max".into(),
        }
    }
    /// FixN.
    pub fn fix(n: u32) -> Self {
        Fixed {
            q: n.min(BATCH_SIZE),
            label: format!("fix{n}"),
        }
    }
}

impl TaskController for Fixed {
    fn name(&self) -> String {
        self.label.clone()
    }
    fn initial(&self, st: &TaskState) -> Vec<u32> {
        st.modules
            .iter()
            .map(|m| if m.controlled { self.q } else { 0 })
            .collect()
    }
    fn control(&mut self, st: &TaskState) -> Decision {
        let mut d = Decision::keep(st);
        d.q = self.initial(st);
        d
    }
}

/// Error of [`resolve`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    /// Unknown controller name.
    #[error(
        "unknown task controller {0:?} (expected null, max, fix1..fix31, onoff, feasdir, projgrad/projgradient)"
    )]
    Unknown(String),
}

/// Resolve a controller by script name (`null`, `max`, `fixN`, `onoff`, `feasdir`,
/// `projgrad`/`projgradient`).
pub fn resolve(name: &str, compat: Compat) -> Result<Box<dyn TaskController>, ResolveError> {
    let n = name.trim().to_ascii_lowercase();
    Ok(match n.as_str() {
        "null" => Box::new(Fixed::null()),
        "max" => Box::new(Fixed::max()),
        "onoff" => Box::new(OnOff::new(compat)),
        "feasdir" => Box::new(FeasDir::new(compat)),
        "projgrad" | "projgradient" => Box::new(ProjGradient::new(compat)),
        _ => match n.strip_prefix("fix").and_then(|k| k.parse::<u32>().ok()) {
            Some(k) if (1..BATCH_SIZE).contains(&k) => Box::new(Fixed::fix(k)),
            _ => return Err(ResolveError::Unknown(name.to_string())),
        },
    })
}

/// Per-module quantities shared by OnOff and ProjGradient (units: ns, per-ns rates).
pub(crate) struct Derived {
    pub t0: Vec<f64>,
    pub t1: Vec<f64>,
    pub x: Vec<f64>,
    pub r: Vec<f64>,
    pub t: Vec<f64>,
    pub dt: Vec<f64>,
    pub qmin: Vec<u32>,
}

pub(crate) fn derive(st: &TaskState, mult: f64) -> Derived {
    let n = st.modules.len();
    let mut d = Derived {
        t0: vec![0.0; n],
        t1: vec![0.0; n],
        x: vec![0.0; n],
        r: vec![0.0; n],
        t: vec![0.0; n],
        dt: vec![0.0; n],
        qmin: vec![0; n],
    };
    for v in st.controlled() {
        let m = &st.modules[v];
        let (t0, t1) = st.sum_delay(v, &st.uncontrolled_descs(v), mult);
        d.t0[v] = t0;
        d.t1[v] = t1;
        d.x[v] = m.x / 1e9;
        d.r[v] = m.rate / 1e9;
        if d.x[v] > 0.0 {
            d.t[v] = 1.0 / d.x[v] + t0 + t1 * f64::from(m.q);
        }
        if d.r[v] > 0.0 {
            d.dt[v] = 1.0 / d.r[v] + t1;
        }
        d.qmin[v] = (m.b_in.max(0.0) as u32) + BUFFER_PULL;
    }
    d
}

/// Controlled modules sorted by t[v] descending (stable).
pub(crate) fn by_delay(st: &TaskState, d: &Derived) -> Vec<usize> {
    let mut v = st.controlled();
    v.sort_by(|a, b| d.t[*b].total_cmp(&d.t[*a]));
    v
}
