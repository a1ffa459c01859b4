//! Writing results: CSV time series and PNG plots.
//!
//! CSV layout (one file per kind, header row first, `.`-decimal, no quoting needed):
//!
//! * `flows.csv`: `time_s,flow,alg,cwnd_bytes,pacing_rate_bytes_per_s,throughput_mbps,
//!   goodput_mbps,rtt_ms,srtt_ms,inflight_bytes,retransmits,losses` — one row per running
//!   flow per sampling interval; throughput and goodput are over the interval that ends at
//!   `time_s`; `retransmits`/`losses` are cumulative.
//! * `link.csv`: `time_s,queue_packets,queue_bytes,queue_delay_ms,utilization,drops` — one row
//!   per interval; queue sizes at `time_s`; `queue_delay_ms` is the mean over packets that
//!   arrived in the interval (empty when none did); `utilization` is the fraction of the
//!   interval's capacity used; `drops` is cumulative.
//!
//! Numbers are printed with fixed precision, so the same run gives byte-identical files.
//!
//! Plots (`cwnd.png`, `throughput.png`, `queue_delay.png`) are drawn with `plotters`' bitmap
//! backend and a bundled DejaVu Sans Mono font (`assets/`, Bitstream Vera license), so
//! rendering needs no system font or library.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;
use thiserror::Error;

use crate::sim::Results;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSansMono.ttf");
const FONT_FAMILY: &str = "sans-serif";

/// Why results could not be written.
#[derive(Debug, Error)]
pub enum OutputError {
    /// A file or directory could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A plot could not be drawn.
    #[error("cannot draw {path}: {reason}")]
    Plot {
        /// The path.
        path: String,
        /// What failed.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Results {
    /// `flows.csv` contents.
    pub fn flows_csv(&self) -> String {
        let mut s = String::with_capacity(self.flow_samples.len() * 80 + 128);
        s.push_str("time_s,flow,alg,cwnd_bytes,pacing_rate_bytes_per_s,throughput_mbps,goodput_mbps,rtt_ms,srtt_ms,inflight_bytes,retransmits,losses\n");
        for r in &self.flow_samples {
            let alg = self
                .summary
                .flows
                .get(r.flow as usize)
                .map_or("", |f| f.alg.as_str());
            let _ = writeln!(
                s,
                "{:.6},{},{},{},{},{:.6},{:.6},{:.3},{:.3},{},{},{}",
                r.t.as_secs_f64(),
                r.flow,
                alg,
                r.cwnd_bytes,
                r.pacing_rate,
                r.throughput_bps / 1e6,
                r.goodput_bps / 1e6,
                r.rtt_us as f64 / 1e3,
                r.srtt_us as f64 / 1e3,
                r.inflight_bytes,
                r.retransmits,
                r.losses
            );
        }
        s
    }

    /// `link.csv` contents.
    pub fn link_csv(&self) -> String {
        let mut s = String::with_capacity(self.link_samples.len() * 48 + 64);
        s.push_str("time_s,queue_packets,queue_bytes,queue_delay_ms,utilization,drops\n");
        for r in &self.link_samples {
            let qd = r
                .queue_delay_us
                .map(|us| format!("{:.4}", us / 1e3))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "{:.6},{},{},{},{:.6},{}",
                r.t.as_secs_f64(),
                r.queue_packets,
                r.queue_bytes,
                qd,
                r.utilization,
                r.drops
            );
        }
        s
    }

    /// Write `flows.csv` and `link.csv` into `dir` (created if missing); returns the paths.
    pub fn write_csv(&self, dir: &Path) -> Result<Vec<PathBuf>, OutputError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut out = Vec::new();
        for (name, text) in [
            ("flows.csv", self.flows_csv()),
            ("link.csv", self.link_csv()),
        ] {
            let p = dir.join(name);
            std::fs::write(&p, text).map_err(io_err(&p))?;
            out.push(p);
        }
        Ok(out)
    }

    /// Draw `cwnd.png`, `throughput.png` and `queue_delay.png` into `dir`; returns the paths.
    pub fn write_plots(&self, dir: &Path) -> Result<Vec<PathBuf>, OutputError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        register_font()?;
        let n_flows = self.summary.flows.len();
        let mut per_flow_cwnd: Vec<Vec<(f64, f64)>> = vec![Vec::new(); n_flows];
        let mut per_flow_tput: Vec<Vec<(f64, f64)>> = vec![Vec::new(); n_flows];
        for r in &self.flow_samples {
            let i = r.flow as usize;
            if i < n_flows {
                let mss = f64::from(self.mss.max(1));
                per_flow_cwnd[i].push((r.t.as_secs_f64(), f64::from(r.cwnd_bytes) / mss));
                per_flow_tput[i].push((r.t.as_secs_f64(), r.throughput_bps / 1e6));
            }
        }
        let per_flow_tput: Vec<Vec<(f64, f64)>> =
            per_flow_tput.into_iter().map(|s| smooth(&s, 400)).collect();
        let names: Vec<String> = self
            .summary
            .flows
            .iter()
            .map(|f| format!("flow {} ({})", f.flow, f.alg))
            .collect();
        let qdelay: Vec<(f64, f64)> = self
            .link_samples
            .iter()
            .map(|r| (r.t.as_secs_f64(), r.queue_delay_us.unwrap_or(0.0) / 1e3))
            .collect();
        let title = |what: &str| format!("{} — {}", self.summary.scenario, what);
        let mut out = Vec::new();
        let p = dir.join("cwnd.png");
        let cwnd_label = format!("cwnd (segments of {} B)", self.mss);
        line_plot(
            &p,
            &title("congestion window"),
            &cwnd_label,
            &per_flow_cwnd,
            &names,
        )?;
        out.push(p);
        let p = dir.join("throughput.png");
        line_plot(&p, &title("throughput"), "Mbit/s", &per_flow_tput, &names)?;
        out.push(p);
        let p = dir.join("queue_delay.png");
        line_plot(
            &p,
            &title("bottleneck queueing delay"),
            "ms",
            &[qdelay],
            &["mean queueing delay".to_string()],
        )?;
        out.push(p);
        Ok(out)
    }
}

/// Moving average down to at most `max_points` points.
fn smooth(series: &[(f64, f64)], max_points: usize) -> Vec<(f64, f64)> {
    let w = series.len().div_ceil(max_points.max(1)).max(1);
    series
        .chunks(w)
        .map(|c| {
            let n = c.len() as f64;
            let t = c.last().map_or(0.0, |p| p.0);
            (t, c.iter().map(|p| p.1).sum::<f64>() / n)
        })
        .collect()
}

fn register_font() -> Result<(), OutputError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(OutputError::Plot {
            path: "assets/DejaVuSansMono.ttf".into(),
            reason: "bundled font could not be loaded".into(),
        })
    }
}

fn line_plot(
    path: &Path,
    title: &str,
    y_label: &str,
    series: &[Vec<(f64, f64)>],
    names: &[String],
) -> Result<(), OutputError> {
    let plot_err = |e: &dyn std::fmt::Display| OutputError::Plot {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let x_max = series
        .iter()
        .flat_map(|s| s.iter().map(|p| p.0))
        .fold(0.0f64, f64::max)
        .max(1e-3);
    let y_max = series
        .iter()
        .flat_map(|s| s.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.08;
    let root = BitMapBackend::new(path, (1200, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT_FAMILY, 22))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| plot_err(&e))?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc(y_label)
        .label_style((FONT_FAMILY, 14))
        .draw()
        .map_err(|e| plot_err(&e))?;
    let legend = series.len() <= 12;
    for (i, s) in series.iter().enumerate() {
        if s.is_empty() {
            continue;
        }
        let color = Palette99::pick(i).to_rgba();
        let drawn = chart
            .draw_series(LineSeries::new(s.iter().copied(), color.stroke_width(1)))
            .map_err(|e| plot_err(&e))?;
        if legend {
            let name = names.get(i).cloned().unwrap_or_default();
            drawn.label(name).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
        }
    }
    if legend {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT_FAMILY, 14))
            .draw()
            .map_err(|e| plot_err(&e))?;
    }
    root.present().map_err(|e| plot_err(&e))?;
    Ok(())
}
