//! Run a scenario with the native controllers and print the summary table.
//!
//! `cargo run --release -p ccp-sim --example run -- [SCENARIO|FILE.toml] [ALG]... [--secs S]
//! [--seed N] [--out DIR] [--json]`

use std::path::PathBuf;

use ccp_sim::{Registry, Scenario, Simulation};

fn main() {
    let mut scenario_name = "fixed".to_string();
    let mut algs: Vec<String> = Vec::new();
    let mut secs: Option<f64> = None;
    let mut seed: Option<u64> = None;
    let mut out: Option<PathBuf> = None;
    let mut json = false;
    let mut args = std::env::args().skip(1);
    let mut first = true;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--secs" => secs = args.next().and_then(|v| v.parse().ok()),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()),
            "--out" => out = args.next().map(PathBuf::from),
            "--json" => json = true,
            _ if first => scenario_name = a,
            _ => algs.push(a),
        }
        first = false;
    }
    let mut scenario = match Scenario::load(&scenario_name) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    if !algs.is_empty() {
        scenario = scenario.with_algorithms(&algs);
    }
    if let Some(s) = secs {
        scenario = scenario.with_duration(s);
    }
    if let Some(s) = seed {
        scenario = scenario.with_seed(s);
    }
    let mut registry = Registry::with_native();
    let sim = match Simulation::new(&scenario, &mut registry) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let started = std::time::Instant::now();
    let results = sim.run();
    let wall = started.elapsed().as_secs_f64();
    if json {
        println!("{}", results.summary.to_json());
    } else {
        print!("{}", results.summary);
        println!(
            "{} events in {:.2} s wall clock ({:.0}x real time)",
            results.summary.events,
            wall,
            results.summary.duration_s / wall
        );
    }
    if let Some(dir) = out {
        let written = results.write_csv(&dir).and_then(|mut v| {
            results.write_plots(&dir).map(|p| {
                v.extend(p);
                v
            })
        });
        match written {
            Ok(paths) => {
                for p in paths {
                    eprintln!("wrote {}", p.display());
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
}
