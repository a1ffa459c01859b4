//! The fidelity table: agent-steered algorithms (real datapath library + in-process agent)
//! against the in-datapath references, one flow per run.
//!
//! `cargo run --release -p ccp-sim --example fidelity -- [--secs 60] [--seed 1]
//! [SCENARIO:ALG:REFERENCE]...` (default: fixed, drop and cell with reno and cubic).

use ccp_sim::ccp::{AgentMode, CcpFactory};
use ccp_sim::{Scenario, Simulation, Summary};

fn run(scenario: &str, alg: &str, secs: f64, seed: u64) -> Result<(Summary, f64), String> {
    let s = Scenario::load(scenario)
        .map_err(|e| e.to_string())?
        .with_algorithms(&[alg.to_owned()])
        .with_duration(secs)
        .with_seed(seed);
    let mut f = CcpFactory::new(AgentMode::InProcess);
    let sim = Simulation::new(&s, &mut f).map_err(|e| e.to_string())?;
    let t0 = std::time::Instant::now();
    let r = sim.run();
    Ok((r.summary, t0.elapsed().as_secs_f64()))
}

fn main() {
    let mut secs = 60.0;
    let mut seed = 1;
    let mut cases: Vec<(String, String, String)> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--secs" => secs = args.next().and_then(|v| v.parse().ok()).unwrap_or(secs),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).unwrap_or(seed),
            c => {
                let p: Vec<&str> = c.split(':').collect();
                if let [s, a, r] = p[..] {
                    cases.push((s.into(), a.into(), r.into()));
                } else {
                    eprintln!("expected SCENARIO:ALG:REFERENCE, got {c}");
                    std::process::exit(2);
                }
            }
        }
    }
    if cases.is_empty() {
        for s in ["fixed", "drop", "cell"] {
            for a in ["reno", "cubic"] {
                cases.push((s.into(), a.into(), format!("native-{a}")));
            }
        }
    }
    println!(
        "| scenario | alg | tput Mb/s | ref tput | Δ tput | qdelay mean ms | ref qdelay | Δ qdelay | util | retx | ref retx | wall s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (s, a, r) in cases {
        let (x, wall) = match run(&s, &a, secs, seed) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("{s} {a}: {e}");
                continue;
            }
        };
        let (y, _) = match run(&s, &r, secs, seed) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("{s} {r}: {e}");
                continue;
            }
        };
        let (fx, fy) = (&x.flows[0], &y.flows[0]);
        println!(
            "| {s} | {a} | {:.2} | {:.2} | {:+.1}% | {:.2} | {:.2} | {:+.1}% | {:.1}% | {} | {} | {wall:.2} |",
            fx.throughput_bps / 1e6,
            fy.throughput_bps / 1e6,
            (fx.throughput_bps / fy.throughput_bps - 1.0) * 100.0,
            x.queue_delay_mean_ms,
            y.queue_delay_mean_ms,
            (x.queue_delay_mean_ms / y.queue_delay_mean_ms - 1.0) * 100.0,
            x.utilization * 100.0,
            fx.retransmits,
            fy.retransmits,
        );
    }
}
