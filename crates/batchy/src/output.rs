//! Results: the per-round CSV dump and the 3-panel PNG plot.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::batchy::{BatchyError, RoundRecord};

fn io(path: &Path, e: impl ToString) -> BatchyError {
    BatchyError::Io {
        path: path.display().to_string(),
        msg: e.to_string(),
    }
}

/// Header and rows of the dump (spec §4 column names), comma separated.
pub fn csv_text(history: &[RoundRecord]) -> String {
    let mut s = String::new();
    let Some(first) = history.first() else {
        return "t,sum_fpps,ctrlr_deadtime\n".into();
    };
    let mut hdr = vec!["t".to_string()];
    for m in &first.modules {
        for c in ["control", "x_v", "R_v", "b_v", "b_in"] {
            hdr.push(format!("{}:{c}", m.name));
        }
    }
    for f in &first.flows {
        hdr.push(format!("{}:delay", f.name));
        hdr.push(format!("{}:delay_estimate", f.name));
        hdr.push(format!("{}:delay_slo", f.name));
    }
    for f in &first.flows {
        hdr.push(format!("{}:pps", f.name));
    }
    for t in &first.tasks {
        for c in ["task_pps", "t_0", "t_0_estimate", "b_0", "cyc_per_packet"] {
            hdr.push(format!("{}:{c}", t.name));
        }
    }
    hdr.push("sum_fpps".into());
    hdr.push("ctrlr_deadtime".into());
    s.push_str(&hdr.join(","));
    s.push('\n');
    for r in history {
        let mut row = vec![r.t.to_string()];
        for m in &r.modules {
            row.push(m.control.to_string());
            for v in [m.x_v, m.r_v, m.b_v, m.b_in] {
                row.push(format!("{v:.3}"));
            }
        }
        for f in &r.flows {
            for v in [f.delay, f.delay_estimate, f.delay_slo] {
                row.push(format!("{v:.1}"));
            }
        }
        for f in &r.flows {
            row.push(format!("{:.1}", f.pps));
        }
        for t in &r.tasks {
            for v in [t.task_pps, t.t_0, t.t_0_estimate, t.b_0, t.cyc_per_packet] {
                row.push(format!("{v:.3}"));
            }
        }
        row.push(format!("{:.1}", r.sum_fpps));
        row.push(format!("{:.6}", r.ctrlr_deadtime));
        s.push_str(&row.join(","));
        s.push('\n');
    }
    s
}

/// Write the CSV dump.
pub fn write_csv(history: &[RoundRecord], path: &Path) -> Result<(), BatchyError> {
    std::fs::write(path, csv_text(history)).map_err(|e| io(path, e))
}

fn ensure_font() {
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

type Series = Vec<(String, Vec<(f64, f64)>)>;

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    title: &str,
    ylabel: &str,
    series: &Series,
    dashed_from: usize,
    x_max: f64,
) -> Result<(), String> {
    let y_max = series
        .iter()
        .flat_map(|(_, v)| v.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        .max(1.0)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max.max(1.0), 0f64..y_max)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("round")
        .y_desc(ylabel)
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = Palette99::pick(i % dashed_from.max(1)).to_rgba();
        let style = ShapeStyle::from(color).stroke_width(2);
        if i >= dashed_from {
            chart
                .draw_series(DashedLineSeries::new(pts.iter().copied(), 6, 4, style))
                .map_err(|e| e.to_string())?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        } else {
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), style))
                .map_err(|e| e.to_string())?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Plot the 3 stacked panels: control values, per-flow p95 delay vs SLO (dashed), per-flow
/// and total packet rate.
pub fn plot_png(history: &[RoundRecord], path: &Path) -> Result<(), BatchyError> {
    ensure_font();
    let Some(first) = history.first() else {
        return Err(io(path, "nothing to plot (no rounds)"));
    };
    let x = |r: &RoundRecord| r.t as f64;
    let x_max = history.last().map_or(1.0, |r| r.t as f64);
    let controls: Series = first
        .modules
        .iter()
        .enumerate()
        .map(|(i, m)| {
            (
                m.name.clone(),
                history
                    .iter()
                    .map(|r| (x(r), f64::from(r.modules[i].control)))
                    .collect(),
            )
        })
        .collect();
    let nf = first.flows.len();
    let mut delays: Series = first
        .flows
        .iter()
        .enumerate()
        .map(|(i, f)| {
            (
                format!("{} p95", f.name),
                history
                    .iter()
                    .map(|r| (x(r), r.flows[i].delay / 1e3))
                    .collect(),
            )
        })
        .collect();
    for (i, f) in first.flows.iter().enumerate() {
        if f.delay_slo < 1e10 {
            delays.push((
                format!("{} SLO", f.name),
                history
                    .iter()
                    .map(|r| (x(r), r.flows[i].delay_slo / 1e3))
                    .collect(),
            ));
        }
    }
    let mut rates: Series = first
        .flows
        .iter()
        .enumerate()
        .map(|(i, f)| {
            (
                f.name.clone(),
                history
                    .iter()
                    .map(|r| (x(r), r.flows[i].pps / 1e6))
                    .collect(),
            )
        })
        .collect();
    rates.push((
        "total".into(),
        history.iter().map(|r| (x(r), r.round_fpps / 1e6)).collect(),
    ));
    let root = BitMapBackend::new(path, (1000, 1050)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| io(path, e))?;
    let areas = root.split_evenly((3, 1));
    panel(
        &areas[0],
        "control (trigger q_v)",
        "q_v [pkt]",
        &controls,
        usize::MAX,
        x_max,
    )
    .map_err(|e| io(path, e))?;
    panel(
        &areas[1],
        "flow p95 delay vs SLO",
        "delay [us]",
        &delays,
        nf,
        x_max,
    )
    .map_err(|e| io(path, e))?;
    panel(
        &areas[2],
        "flow rates",
        "rate [Mpps]",
        &rates,
        usize::MAX,
        x_max,
    )
    .map_err(|e| io(path, e))?;
    root.present().map_err(|e| io(path, e))?;
    Ok(())
}
