//! Simulator speed: simulated packets per wall-clock second and speed-up over real time for
//! the `fixed` scenario (96 Mbit/s, 10 ms, 160 packets) with 1 and 10 native CUBIC flows.
//!
//! `cargo bench -p ccp-sim --bench speed [-- --secs 60 --reps 3]`
//!
//! Prints a table; each configuration runs `reps` times and the median wall time is used.
//! This is a measurement, not a test: nothing is asserted.

use std::time::Instant;

use ccp_sim::{Registry, Scenario, Simulation};

struct Row {
    label: String,
    sim_secs: f64,
    wall_secs: f64,
    packets: u64,
    events: u64,
    utilization: f64,
}

fn run(flows: u32, secs: f64, reps: usize) -> Row {
    let scenario = Scenario::builtin("fixed")
        .expect("built-in scenario")
        .with_duration(secs)
        .with_flow_count(flows);
    let mut walls = Vec::with_capacity(reps);
    let mut last = None;
    for _ in 0..reps.max(1) {
        let mut registry = Registry::with_native();
        let sim = Simulation::new(&scenario, &mut registry).expect("valid scenario");
        let t0 = Instant::now();
        let results = sim.run();
        walls.push(t0.elapsed().as_secs_f64());
        last = Some(results.summary);
    }
    walls.sort_by(f64::total_cmp);
    let summary = last.expect("at least one run");
    Row {
        label: format!(
            "fixed, {flows} cubic flow{}",
            if flows == 1 { "" } else { "s" }
        ),
        sim_secs: summary.duration_s,
        wall_secs: walls[walls.len() / 2],
        packets: summary.packets_sent,
        events: summary.events,
        utilization: summary.utilization,
    }
}

fn main() {
    let mut secs = 60.0;
    let mut reps = 3;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--secs" => secs = args.next().and_then(|v| v.parse().ok()).unwrap_or(secs),
            "--reps" => reps = args.next().and_then(|v| v.parse().ok()).unwrap_or(reps),
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    let rows = [run(1, secs, reps), run(10, secs, reps)];
    println!(
        "| {:<22} | {:>9} | {:>9} | {:>10} | {:>10} | {:>14} | {:>13} | {:>6} |",
        "configuration",
        "sim s",
        "wall s",
        "packets",
        "events",
        "packets/wall s",
        "× real time",
        "util"
    );
    println!(
        "|{:-<24}|{:->11}|{:->11}|{:->12}|{:->12}|{:->16}|{:->15}|{:->8}|",
        "", "", "", "", "", "", "", ""
    );
    for r in &rows {
        println!(
            "| {:<22} | {:>9.1} | {:>9.3} | {:>10} | {:>10} | {:>14.0} | {:>13.0} | {:>5.1}% |",
            r.label,
            r.sim_secs,
            r.wall_secs,
            r.packets,
            r.events,
            r.packets as f64 / r.wall_secs,
            r.sim_secs / r.wall_secs,
            r.utilization * 100.0
        );
    }
}
