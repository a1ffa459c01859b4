//! OnOff: buffer fully (32) or not at all (spec §2.4).

use super::{
    BATCH_SIZE, Compat, Decision, PUSH_RATIO, TaskController, TaskState, by_delay, derive,
};

/// On/off controller.
#[derive(Debug, Clone)]
pub struct OnOff {
    compat: Compat,
    calls: u64,
}

impl OnOff {
    /// A fresh controller.
    pub fn new(compat: Compat) -> Self {
        OnOff { compat, calls: 0 }
    }
}

impl TaskController for OnOff {
    fn name(&self) -> String {
        "onoff".into()
    }

    fn control(&mut self, st: &TaskState) -> Decision {
        self.calls += 1;
        let mult = if self.compat.accumulate_descs {
            self.calls as f64
        } else {
            1.0
        };
        let b = f64::from(BATCH_SIZE);
        let mut dec = Decision::keep(st);
        let d = derive(st, mult);
        dec.t0_used.clone_from(&d.t0);
        let cm = st.controlled();
        let nf = st.flows.len();
        let (_, sum_error, dist) = st.violations();
        dec.log.push(format!(
            "CONTROL: {}: error={sum_error:.3}, dist={dist:.3}",
            st.name
        ));
        let mut q: Vec<u32> = st.modules.iter().map(|m| m.q).collect();
        let mut budget: Vec<f64> = st.flows.iter().map(|f| f.delay_bound - f.delay).collect();
        let mut fxm = vec![false; st.modules.len()];
        let mut fxf = vec![false; nf];
        let on = |f: usize, v: usize| st.flows[f].path.contains(&v);

        for &v in &cm {
            if q[v] > 0 && st.modules[v].b_in >= PUSH_RATIO * b {
                dec.log.push(format!(
                    "\tmodule {}: PUSH: setting q[v]: {} -> 0",
                    st.modules[v].name, q[v]
                ));
                fxm[v] = true;
                q[v] = 0;
            }
        }
        if sum_error > 0.0 {
            let order = by_delay(st, &d);
            for f in 0..nf {
                if budget[f] >= 0.0 {
                    continue;
                }
                fxf[f] = true;
                for &v in &order {
                    if fxm[v] || q[v] == 0 || d.r[v] == 0.0 || !on(f, v) {
                        continue;
                    }
                    let diff = f64::from(q[v]) * d.dt[v];
                    for (g, bg) in budget.iter_mut().enumerate() {
                        if on(g, v) {
                            *bg += diff;
                        }
                    }
                    dec.log.push(format!(
                        "\tmodule {}: RECOVERY for task flow {}: setting: q[v]: {} -> 0",
                        st.modules[v].name, st.flows[f].name, q[v]
                    ));
                    fxm[v] = true;
                    q[v] = 0;
                }
            }
        }
        for &v in &cm {
            if fxm[v] || q[v] > 0 || d.r[v] <= 1e-9 || st.modules[v].b_in >= PUSH_RATIO * b {
                continue;
            }
            let via: Vec<usize> = (0..nf).filter(|&f| on(f, v)).collect();
            if via.iter().any(|&f| fxf[f]) {
                continue;
            }
            let max_delay = via.iter().map(|&f| budget[f]).fold(f64::INFINITY, f64::min);
            let diff = b * d.dt[v];
            if diff < max_delay {
                for &f in &via {
                    budget[f] -= diff;
                }
                dec.log.push(format!(
                    "\tmodule {}: PULLING: q_v: {}, delay_diff = {diff:.3} < max_delay={max_delay:.3}",
                    st.modules[v].name, q[v]
                ));
                fxm[v] = true;
                q[v] = BATCH_SIZE;
            }
        }
        dec.q = q;
        dec
    }
}
