//! The profiler (spec §3): batch sweep 1…32 per module class, linear regression of the
//! mean service time → T0 (intercept) and T1 (slope) with R².

use std::collections::BTreeMap;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};

use crate::engine::ClockMode;
use crate::module::{Ctx, Now, Out};
use crate::packet::{Batch, MAX_BURST, Packet, Template};
use crate::pipelines::{PROFILE_CLASSES, profile_setup};

/// Errors of the profiler.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Unknown module class.
    #[error("unknown module type {0:?} (profilable: {1})")]
    UnknownModule(String, String),
    /// Module construction failed.
    #[error("module {0}: {1}")]
    Setup(String, String),
    /// Writing the JSON failed.
    #[error("{0}: {1}")]
    Io(String, String),
}

/// Result for one module class (JSON format of spec §3, plus R² and the raw points).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileEntry {
    /// Intercept [ns per batch].
    #[serde(rename = "T_0")]
    pub t0: f64,
    /// Slope [ns per packet].
    #[serde(rename = "T_1")]
    pub t1: f64,
    /// Statistic regressed.
    pub stat: String,
    /// Coefficient of determination.
    #[serde(rename = "R2")]
    pub r2: f64,
    /// (batch size, mean ns per call).
    #[serde(default)]
    pub points: Vec<(u32, f64)>,
}

/// Least-squares line through `pts`: (intercept, slope, R²).
pub fn regress(pts: &[(f64, f64)]) -> (f64, f64, f64) {
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return (pts.first().map_or(0.0, |p| p.1), 0.0, 0.0);
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = pts.iter().map(|p| (p.1 - my).powi(2)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let icpt = my - slope * mx;
    let r2 = if syy > 0.0 {
        (sxy * sxy) / (sxx * syy)
    } else {
        1.0
    };
    (icpt, slope, r2)
}

fn templates() -> Vec<Vec<u8>> {
    (0..16u8)
        .map(|i| {
            Template {
                dst_ip: [10, 0, i, 7],
                src_ip: [10, 0, i % 10, 1],
                vlan: Some(u16::from(i % 8)),
                ..Template::default()
            }
            .build()
        })
        .collect()
}

/// Profile one module class: `calls` executions per batch size 1…32.
pub fn profile_class(
    class: &str,
    clock: ClockMode,
    tsc_ghz: f64,
    calls: usize,
) -> Result<ProfileEntry, ProfileError> {
    let kind = profile_setup(class)
        .ok_or_else(|| ProfileError::UnknownModule(class.into(), PROFILE_CLASSES.join(", ")))?;
    let mut module = kind
        .instantiate()
        .map_err(|e| ProfileError::Setup(class.into(), e))?;
    let tm = templates();
    let mut rng = SmallRng::seed_from_u64(0);
    let mut out = Out::new();
    let epoch = Instant::now();
    let mut pts = Vec::new();
    for b in 1..=MAX_BURST {
        let ns = match clock {
            ClockMode::Virtual => {
                let (t0, t1) = module.virtual_cost(tsc_ghz);
                t0 + t1 * b as f64
            }
            ClockMode::Real => {
                let batches: Vec<Batch> = (0..calls.max(1))
                    .map(|c| {
                        (0..b)
                            .map(|k| Packet::from_bytes(&tm[(c + k) % tm.len()]))
                            .collect()
                    })
                    .collect();
                let start = Instant::now();
                for batch in batches {
                    let mut ctx = Ctx {
                        now: Now::Real(epoch),
                        rng: &mut rng,
                        tsc_ghz,
                    };
                    module.process(&mut ctx, 0, batch, &mut out);
                    out.drain(|_, b| drop(b));
                }
                start.elapsed().as_nanos() as f64 / calls.max(1) as f64
            }
        };
        pts.push((b as u32, ns));
    }
    let fp: Vec<(f64, f64)> = pts.iter().map(|p| (f64::from(p.0), p.1)).collect();
    let (t0, t1, r2) = regress(&fp);
    Ok(ProfileEntry {
        t0,
        t1,
        stat: "average".into(),
        r2,
        points: pts,
    })
}

/// Profile several classes; all of them end up in the result (the reference kept only
/// the last one, spec §7 item 7).
pub fn profile(
    classes: &[String],
    clock: ClockMode,
    tsc_ghz: f64,
    calls: usize,
) -> Result<BTreeMap<String, ProfileEntry>, ProfileError> {
    let list: Vec<String> = if classes.is_empty() {
        PROFILE_CLASSES.iter().map(|s| s.to_string()).collect()
    } else {
        classes.to_vec()
    };
    let mut res = BTreeMap::new();
    for c in &list {
        let e = profile_class(c, clock, tsc_ghz, calls)?;
        tracing::info!(
            "profile: {c}: T_0 = {:.1} ns, T_1 = {:.2} ns, R2 = {:.4}",
            e.t0,
            e.t1,
            e.r2
        );
        res.insert(c.clone(), e);
    }
    Ok(res)
}

/// Write results as JSON (`{"Class": {"T_0": .., "T_1": .., "stat": "average", ..}}`).
pub fn write_json(
    res: &BTreeMap<String, ProfileEntry>,
    path: &std::path::Path,
) -> Result<(), ProfileError> {
    let io = |e: String| ProfileError::Io(path.display().to_string(), e);
    let text = serde_json::to_string_pretty(res).map_err(|e| io(e.to_string()))?;
    std::fs::write(path, text).map_err(|e| io(e.to_string()))
}

/// Read a profile JSON into class → (T0, T1).
pub fn read_json(path: &std::path::Path) -> Result<BTreeMap<String, (f64, f64)>, ProfileError> {
    let io = |e: String| ProfileError::Io(path.display().to_string(), e);
    let text = std::fs::read_to_string(path).map_err(|e| io(e.to_string()))?;
    let m: BTreeMap<String, ProfileEntry> =
        serde_json::from_str(&text).map_err(|e| io(e.to_string()))?;
    Ok(m.into_iter().map(|(k, v)| (k, (v.t0, v.t1))).collect())
}
