//! Simulator speed with CCP: simulated packets per wall-clock second and the speed-up over
//! real time for `fixed` (96 Mbit/s, 10 ms, 160 packets) with 1 and 10 CUBIC flows,
//! agent-steered (real datapath library per ACK + in-process agent) and the in-datapath
//! reference, in one run so the ratios compare on the same (noisy, shared) machine.
//!
//! `cargo bench -p ccp-sim --bench ccp_speed [-- --secs 60 --reps 3]`
//!
//! Each configuration runs `reps` times; the median wall time is used. A measurement, not a
//! test: nothing is asserted.

use std::time::Instant;

use ccp_sim::ccp::{AgentMode, CcpFactory};
use ccp_sim::{Scenario, Simulation};

struct Row {
    label: String,
    sim_secs: f64,
    wall_secs: f64,
    packets: u64,
    events: u64,
    reports: u64,
    utilization: f64,
}

fn run(alg: &str, flows: u32, secs: f64, reps: usize) -> Row {
    let scenario = Scenario::builtin("fixed")
        .expect("built-in scenario")
        .with_algorithms(&[alg.to_owned()])
        .with_flow_count(flows)
        .with_duration(secs);
    let mut walls = Vec::with_capacity(reps);
    let mut last = None;
    let mut reports = 0;
    for _ in 0..reps.max(1) {
        let mut factory = CcpFactory::new(AgentMode::InProcess);
        let sim = Simulation::new(&scenario, &mut factory).expect("valid scenario");
        let t0 = Instant::now();
        let results = sim.run();
        walls.push(t0.elapsed().as_secs_f64());
        reports = factory
            .last_run()
            .and_then(|r| r.agent)
            .map_or(0, |a| a.reports);
        last = Some(results.summary);
    }
    walls.sort_by(f64::total_cmp);
    let summary = last.expect("at least one run");
    Row {
        label: format!("{alg} × {flows}"),
        sim_secs: summary.duration_s,
        wall_secs: walls[walls.len() / 2],
        packets: summary.packets_sent,
        events: summary.events,
        reports,
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
    let rows = [
        run("cubic", 1, secs, reps),
        run("native-cubic", 1, secs, reps),
        run("cubic", 10, secs, reps),
        run("native-cubic", 10, secs, reps),
    ];
    println!(
        "| {:<20} | {:>6} | {:>7} | {:>10} | {:>10} | {:>8} | {:>14} | {:>11} | {:>6} |",
        "fixed, 60 s",
        "sim s",
        "wall s",
        "packets",
        "events",
        "reports",
        "packets/wall s",
        "× real time",
        "util"
    );
    println!(
        "|{:-<22}|{:->8}|{:->9}|{:->12}|{:->12}|{:->10}|{:->16}|{:->13}|{:->8}|",
        "", "", "", "", "", "", "", "", ""
    );
    for r in &rows {
        println!(
            "| {:<20} | {:>6.1} | {:>7.3} | {:>10} | {:>10} | {:>8} | {:>14.0} | {:>11.0} | {:>5.1}% |",
            r.label,
            r.sim_secs,
            r.wall_secs,
            r.packets,
            r.events,
            r.reports,
            r.packets as f64 / r.wall_secs,
            r.sim_secs / r.wall_secs,
            r.utilization * 100.0
        );
    }
}
