//! FeasDir: method of feasible directions, one module per period (spec §2.5).

use super::{
    BATCH_SIZE, BUFFER_PULL, Compat, DEFAULT_DELAY_BOUND, DELTA_TRIGGER_MAX, Decision,
    OVERDELAY_BOUND, PUSH_RATIO, TaskController, TaskState,
};

/// Feasible-direction controller.
#[derive(Debug, Clone)]
pub struct FeasDir {
    compat: Compat,
    ptr: usize,
}

impl FeasDir {
    /// A fresh controller (starts at the first controlled module).
    pub fn new(compat: Compat) -> Self {
        FeasDir { compat, ptr: 0 }
    }

    fn min_max(&self, st: &TaskState, u: usize) -> (i64, i64) {
        let mut max_q = i64::from(BATCH_SIZE);
        if !self.compat.feasdir_no_cdesc {
            let ru = st.modules[u].r;
            for v in st.controlled_descs(u) {
                let m = &st.modules[v];
                if m.q == 0 || m.r <= 0.0 {
                    continue;
                }
                max_q = max_q.min((f64::from(m.q) * ru / m.r) as i64);
            }
        }
        (st.modules[u].b_in.max(0.0) as i64, max_q)
    }

    /// (∂t_0/∂q_u, ∂D_f/∂q_u per flow) from the round-based model of §1.6.
    fn gradient(&self, st: &TaskState, u: usize) -> (f64, Vec<f64>) {
        let b0 = st.b_in;
        let t0 = st.t_in;
        let w = 1.0;
        let mu = &st.modules[u];
        let ru = mu.r;
        let qu = f64::from(mu.q);
        let (t0u, t1u) = st.sum_delay(u, &st.unbuffered_descs(u), 1.0);
        let df = if qu > 0.0 {
            -b0 * ru * t0u / (w * qu * qu)
        } else {
            0.0
        };
        let dd = st
            .flows
            .iter()
            .map(|f| {
                let cpath = f.path.iter().filter(|&&v| st.modules[v].controlled);
                let qv_rv: f64 = cpath
                    .clone()
                    .filter(|&&v| st.modules[v].r > 0.0)
                    .map(|&v| f64::from(st.modules[v].q) / st.modules[v].r)
                    .sum();
                let mut g = if qu > 0.0 && !f.cbr {
                    -(ru * t0u * qv_rv) / (w * qu * qu)
                } else {
                    0.0
                };
                if f.path.contains(&u) && ru > 0.0 {
                    g += t0 / (b0 * ru) + t1u;
                }
                g
            })
            .collect();
        (df, dd)
    }
}

impl TaskController for FeasDir {
    fn name(&self) -> String {
        "feasdir".into()
    }

    fn control(&mut self, st: &TaskState) -> Decision {
        let mut dec = Decision::keep(st);
        let cm = st.controlled();
        if cm.is_empty() {
            return dec;
        }
        let u = cm[self.ptr % cm.len()];
        self.ptr = (self.ptr + 1) % cm.len();
        let m = &st.modules[u];
        let qv = i64::from(m.q);
        let bv = m.b_in;
        let (min_q, max_q) = self.min_max(st, u);
        let (over, sum_error, _) = st.violations();
        let xv = m.x;
        let via: Vec<usize> = (0..st.flows.len())
            .filter(|&f| st.flows[f].path.contains(&u))
            .collect();
        let push = PUSH_RATIO * f64::from(BATCH_SIZE);
        let set = |q: i64, why: String, dec: &mut Decision| {
            let q = q.clamp(0, i64::from(BATCH_SIZE)) as u32;
            dec.log.push(format!(
                "CONTROL: {} : module {}: {why}: setting q_v: {} -> {q}",
                st.name, m.name, m.q
            ));
            dec.q[u] = q;
        };

        if qv == 0 && bv < push {
            if xv == 0.0 {
                set(min_q, "not scheduled".into(), &mut dec);
                return dec;
            }
            let tv = 1e9 / xv;
            let budget = via
                .iter()
                .map(|&f| st.flows[f].delay_bound - st.flows[f].delay)
                .fold(DEFAULT_DELAY_BOUND, f64::min);
            let q = max_q.min(min_q + i64::from(BUFFER_PULL));
            if min_q != 0 && budget > (q as f64 / min_q as f64 * tv) {
                set(
                    q,
                    format!("delay_budget={budget:.3} > 1/x_v={tv:.3}"),
                    &mut dec,
                );
                return dec;
            }
            if budget > 0.0 && min_q == 1 {
                set(min_q, "q_v=1 is feasible".into(), &mut dec);
            }
            return dec;
        }
        if bv >= push && qv > 0 && xv > 0.0 {
            set(0, format!("PUSH: b[v]={bv:.3}"), &mut dec);
            return dec;
        }
        if qv == min_q && xv > 0.0 {
            let worst = via
                .iter()
                .map(|&f| {
                    let fl = &st.flows[f];
                    if fl.delay_bound != 0.0 {
                        (fl.delay - fl.delay_bound) / fl.delay_bound
                    } else {
                        0.0
                    }
                })
                .fold(0.0, f64::max);
            if worst > OVERDELAY_BOUND {
                set(0, format!("overdelay {worst:.3}"), &mut dec);
                return dec;
            }
        }
        let (df, dd) = self.gradient(st, u);
        let sum_over: f64 = over.iter().map(|&f| dd[f]).sum();
        let delta: i64 = if sum_error == 0.0 || (sum_over == 0.0 && df < 0.0) {
            let mut delta = (max_q - qv).min(DELTA_TRIGGER_MAX);
            for (f, fl) in st.flows.iter().enumerate() {
                if dd[f] > 0.0 {
                    let diff = (fl.delay_bound - fl.delay) / dd[f];
                    delta = delta.min(diff as i64);
                }
            }
            if df < 0.0 { delta } else { 0 }
        } else if sum_over > 0.0 {
            let mut lim = DELTA_TRIGGER_MAX
                .min(qv - min_q)
                .min((sum_error / sum_over).abs() as i64 + 1);
            for (f, fl) in st.flows.iter().enumerate() {
                let is_over = over.contains(&f);
                let tmp = if dd[f] > 0.0 && is_over {
                    ((fl.delay - fl.delay_bound) / dd[f].abs()) as i64
                } else if dd[f] < 0.0 && !is_over {
                    ((fl.delay_bound - fl.delay) / dd[f].abs()) as i64
                } else {
                    continue;
                };
                lim = lim.min(tmp);
            }
            -lim
        } else {
            let mut lim = DELTA_TRIGGER_MAX.min(max_q - qv);
            for (f, fl) in st.flows.iter().enumerate() {
                let is_over = over.contains(&f);
                let tmp = if dd[f] < 0.0 && is_over {
                    ((fl.delay - fl.delay_bound) / dd[f].abs()) as i64
                } else if dd[f] > 0.0 && !is_over {
                    ((fl.delay_bound - fl.delay) / dd[f].abs()) as i64
                } else {
                    continue;
                };
                lim = lim.min(tmp);
            }
            lim
        };
        set(qv + delta, format!("gradient step {delta:+}"), &mut dec);
        dec
    }
}
