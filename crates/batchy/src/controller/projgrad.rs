//! ProjGradient: the Batchy controller (spec §2.3).
#![allow(clippy::needless_range_loop)]

use super::linalg::{Mat, identity, matmul, pinv_sym, transpose};
use super::{
    BATCH_SIZE, Compat, Decision, MAX_PROJGRAD_ITERATIONS, PUSH_RATIO, TOLERANCE, TaskController,
    TaskState, by_delay, derive,
};

/// Projected-gradient controller with push, recovery and pull phases.
#[derive(Debug, Clone)]
pub struct ProjGradient {
    compat: Compat,
    calls: u64,
}

impl ProjGradient {
    /// A fresh controller.
    pub fn new(compat: Compat) -> Self {
        ProjGradient { compat, calls: 0 }
    }
}

const B: f64 = BATCH_SIZE as f64;

impl TaskController for ProjGradient {
    fn name(&self) -> String {
        "projgrad".into()
    }

    fn control(&mut self, st: &TaskState) -> Decision {
        self.calls += 1;
        let mult = if self.compat.accumulate_descs {
            self.calls as f64
        } else {
            1.0
        };
        let mut dec = Decision::keep(st);
        let d = derive(st, mult);
        dec.t0_used.clone_from(&d.t0);
        let cm = st.controlled();
        let nf = st.flows.len();
        let (over, sum_error, dist) = st.violations();
        let _ = over;
        dec.log.push(format!(
            "CONTROL: {}: error={sum_error:.3}, dist={dist:.3}",
            st.name
        ));
        let mut q: Vec<u32> = st.modules.iter().map(|m| m.q).collect();
        let b_in: Vec<f64> = st.modules.iter().map(|m| m.b_in).collect();
        let mut budget: Vec<f64> = st.flows.iter().map(|f| f.delay_bound - f.delay).collect();
        let mut fxm = vec![false; st.modules.len()];
        let mut fxf = vec![false; nf];
        let on = |f: usize, v: usize| st.flows[f].path.contains(&v);
        let name = |v: usize| st.modules[v].name.as_str();

        // PUSH
        for &v in &cm {
            if q[v] > 0 && b_in[v] >= PUSH_RATIO * B {
                dec.log.push(format!(
                    "\tmodule {}: PUSH: input batch rate b[v]={:.3} >= {PUSH_RATIO:.2} * BATCH_SIZE: setting q[v]: {} -> 0",
                    name(v),
                    b_in[v],
                    q[v]
                ));
                fxm[v] = true;
                q[v] = 0;
            }
        }

        // FEASIBILITY RECOVERY
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
                    let need = (budget[f].abs() / d.dt[v]) as i64 + 1;
                    let qv = i64::from(q[v]);
                    let q_new = if need < qv - i64::from(d.qmin[v]) {
                        (qv - need) as u32
                    } else {
                        0
                    };
                    let diff = f64::from(q[v] - q_new) * d.dt[v];
                    for (g, b) in budget.iter_mut().enumerate() {
                        if on(g, v) {
                            *b += diff;
                        }
                    }
                    dec.log.push(format!(
                        "\tmodule {}: RECOVERY for taskflow {}: setting: q[v]: {} -> {}",
                        name(v),
                        st.flows[f].name,
                        q[v],
                        q_new
                    ));
                    fxm[v] = true;
                    q[v] = q_new;
                    if budget[f] >= 0.0 {
                        break;
                    }
                }
            }
        }

        // PULL
        for &v in &cm {
            if fxm[v] || q[v] > 0 || d.r[v] <= 1e-9 || b_in[v] >= PUSH_RATIO * B {
                continue;
            }
            let via: Vec<usize> = (0..nf).filter(|&f| on(f, v)).collect();
            if via.iter().any(|&f| fxf[f]) {
                continue;
            }
            let max_delay = via.iter().map(|&f| budget[f]).fold(f64::INFINITY, f64::min);
            let diff = f64::from(d.qmin[v]) * d.dt[v];
            if diff < max_delay {
                for &f in &via {
                    budget[f] -= diff;
                }
                dec.log.push(format!(
                    "\tmodule {}: PULLING: q_v: {} to {}, delay_diff = {diff:.3} < max_delay={max_delay:.3}",
                    name(v),
                    q[v],
                    d.qmin[v]
                ));
                fxm[v] = true;
                q[v] = d.qmin[v];
            }
        }

        // PROJECTED GRADIENT
        let free: Vec<usize> = cm
            .iter()
            .copied()
            .filter(|&v| !fxm[v] && q[v] > 0)
            .collect();
        let n = free.len();
        if n == 0 || fxf.iter().all(|&x| x) {
            dec.q = q;
            return dec;
        }
        let mut rows: Mat = Vec::new();
        for f in 0..nf {
            if fxf[f] {
                continue;
            }
            let fl = &st.flows[f];
            let lower = fl.delay_bound * (1.0 - TOLERANCE);
            let close = fl
                .path
                .iter()
                .filter(|&&v| st.modules[v].controlled)
                .any(|&v| fl.delay + d.dt[v] >= lower);
            if !close && fl.delay < lower {
                continue;
            }
            for (i, &v) in free.iter().enumerate() {
                if on(f, v) && f64::from(q[v]) < B {
                    let mut row = vec![0.0; n];
                    row[i] = d.dt[v];
                    rows.push(row);
                }
            }
        }
        let cdesc: Vec<Vec<usize>> = free.iter().map(|&u| st.controlled_descs(u)).collect();
        for (i, &u) in free.iter().enumerate() {
            if sum_error > 0.0 && f64::from(q[u]) <= f64::from(d.qmin[u]) * (1.0 + TOLERANCE) {
                let mut row = vec![0.0; n];
                row[i] = -1.0;
                rows.push(row);
            }
            if q[u] == BATCH_SIZE {
                let mut row = vec![0.0; n];
                row[i] = 1.0;
                rows.push(row);
            }
            for (j, &v) in free.iter().enumerate() {
                if i == j || !cdesc[i].contains(&v) {
                    continue;
                }
                if d.r[v] > d.r[u] * (1.0 + TOLERANCE) || d.r[v] <= 0.0 {
                    continue;
                }
                let ratio = d.r[u] / d.r[v];
                let tight = if self.compat.ordering_always {
                    // reference: the bound is a boolean, so any q[u] ≥ 1 passes
                    q[u] >= 1
                } else {
                    f64::from(q[u]) >= ratio * f64::from(q[v]) * (1.0 - TOLERANCE)
                };
                if tight {
                    let mut row = vec![0.0; n];
                    row[i] = 1.0;
                    row[j] = -ratio;
                    rows.push(row);
                }
            }
        }
        let df: Mat = free
            .iter()
            .map(|&v| vec![-(d.x[v] * d.t0[v]) / f64::from(q[v])])
            .collect();
        let mut dir: Vec<f64> = df.iter().map(|r| -r[0]).collect();
        let mut iter = 0;
        while !rows.is_empty() {
            iter += 1;
            if iter > MAX_PROJGRAD_ITERATIONS {
                break;
            }
            let mt = transpose(&rows);
            let mp = pinv_sym(&matmul(&rows, &mt));
            let tm = matmul(&matmul(&mt, &mp), &rows);
            let eye = identity(n);
            let p: Mat = (0..n)
                .map(|r| (0..n).map(|c| eye[r][c] - tm[r][c]).collect())
                .collect();
            let pd = matmul(&p, &df);
            dir = pd.iter().map(|r| -r[0]).collect();
            if dir.iter().any(|&x| x > 1e-8) {
                break;
            }
            let neg_mp: Mat = mp.iter().map(|r| r.iter().map(|x| -x).collect()).collect();
            let w = matmul(&matmul(&neg_mp, &rows), &df);
            let ug: Vec<f64> = w.iter().take(n).map(|r| r[0]).collect();
            if ug.iter().all(|&x| x >= 0.0) {
                dec.log
                    .push("GRADIENT PROJECTION: obtained a KKT point, doing nothing".into());
                dec.q = q;
                return dec;
            }
            if let Some(i) = ug.iter().position(|&x| x < 0.0) {
                rows.remove(i);
            }
        }
        let minval = dir
            .iter()
            .filter(|x| **x != 0.0)
            .map(|x| x.abs())
            .fold(f64::INFINITY, f64::min);
        if !minval.is_finite() {
            dec.log
                .push("GRADIENT PROJECTION: all elements of d are zero.".into());
            dec.q = q;
            return dec;
        }
        let delta: Vec<f64> = dir.iter().map(|x| x / minval).collect();

        // line search
        let mut lambda: f64 = 1e6;
        for f in 0..nf {
            let s: f64 = free
                .iter()
                .enumerate()
                .filter(|(_, v)| on(f, **v))
                .map(|(i, &v)| d.dt[v] * delta[i])
                .sum();
            if s > 0.0 {
                lambda = lambda.min(budget[f] / s);
            }
        }
        for (i, &u) in free.iter().enumerate() {
            let mut max_q = 0.0;
            if delta[i] > 0.0 {
                max_q = (B - f64::from(q[u])) / delta[i];
            } else if delta[i] < 0.0 {
                max_q = (f64::from(q[u]) - f64::from(d.qmin[u])) / delta[i];
            }
            if max_q > 0.0 {
                lambda = lambda.min(max_q);
            }
        }
        for (i, &u) in free.iter().enumerate() {
            for (j, &v) in free.iter().enumerate() {
                if i == j || !cdesc[i].contains(&v) {
                    continue;
                }
                if delta[i] == 0.0 && delta[j] == 0.0 {
                    continue;
                }
                if d.r[u] <= 0.0 || d.r[v] <= 0.0 {
                    continue;
                }
                let diff = delta[i] / d.r[u] - delta[j] / d.r[v];
                if diff == 0.0 || d.r[v] > d.r[u] * (1.0 + TOLERANCE) {
                    continue;
                }
                let m = (f64::from(q[v]) / d.r[v] - f64::from(q[u]) / d.r[u]) / diff;
                if m < 0.0 {
                    continue;
                }
                lambda = lambda.min(m);
            }
        }

        for (i, &v) in free.iter().enumerate() {
            let mut dq = (delta[i] * lambda) as i64 + 1;
            for f in 0..nf {
                if fxf[f] || !on(f, v) {
                    continue;
                }
                let fl = &st.flows[f];
                if fl.delay + d.dt[v] * dq as f64 > fl.delay_bound * (1.0 - TOLERANCE) {
                    dq -= 1;
                    break;
                }
            }
            let q_new = (i64::from(q[v]) + dq).clamp(0, i64::from(BATCH_SIZE)) as u32;
            dec.log.push(format!(
                "\tmodule {}: GRADIENT PROJECTION: setting: q[v]: {} -> {}",
                name(v),
                q[v],
                q_new
            ));
            q[v] = q_new;
        }
        dec.q = q;
        dec
    }
}
