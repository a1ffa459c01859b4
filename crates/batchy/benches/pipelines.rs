//! Real-clock benchmark: Mpps and p95 delay for Null, Max and ProjGradient on the simple
//! pipeline, L2L3 (16 next hops) and the 16-leaf tree. Prints a table (not a test).
//!
//! `cargo bench -p batchy --bench pipelines` (env BATCHY_BENCH_ROUNDS, BATCHY_BENCH_PERIOD).

use batchy::config::load_str;
use batchy::engine::ClockMode;

fn run(text: &str, controller: &str, rounds: usize, period: f64) -> (f64, f64, f64, bool) {
    let mut l = match load_str(text, "bench") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("config error: {e}");
            return (0.0, 0.0, 0.0, false);
        }
    };
    l.batchy.settings.clock = ClockMode::Real;
    l.batchy.settings.warmup = 0.5;
    if let Some(t) = l.batchy.task_id("task0") {
        let _ = l.batchy.set_controller(t, controller);
    }
    let h = match l.batchy.run(rounds, period) {
        Ok(h) => h.to_vec(),
        Err(e) => {
            eprintln!("run error: {e}");
            return (0.0, 0.0, 0.0, false);
        }
    };
    let tail = &h[h.len() / 2..];
    let mpps = tail.iter().map(|r| r.round_fpps).sum::<f64>() / tail.len() as f64 / 1e6;
    let p95 = tail
        .iter()
        .map(|r| r.flows.iter().map(|f| f.delay).fold(0.0, f64::max))
        .sum::<f64>()
        / tail.len() as f64;
    let slo = tail
        .first()
        .map(|r| {
            r.flows
                .iter()
                .map(|f| f.delay_slo)
                .fold(f64::INFINITY, f64::min)
        })
        .unwrap_or(f64::INFINITY);
    let ok = tail
        .iter()
        .filter(|r| r.flows.iter().all(|f| f.delay <= 1.05 * f.delay_slo))
        .count();
    (mpps, p95, slo, ok * 100 >= 90 * tail.len())
}

fn main() {
    let rounds: usize = std::env::var("BATCHY_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let period: f64 = std::env::var("BATCHY_BENCH_PERIOD")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.1);
    let simple = include_str!("../../../configs/batchy/simple_pipeline.toml").to_string();
    let tree = "[pipeline]\nkind = \"tree\"\nleaves = 16\ncontrolled = true\ndelay_slo = 5000000\n"
        .to_string();
    // L2L3-16: SLO = 2x the Null p95 measured first on this machine.
    let l2l3_base = "[pipeline]\nkind = \"l2l3\"\nnext_hops = 16\n".to_string();
    let (_, null_p95, _, _) = run(&l2l3_base, "null", rounds, period);
    let l2l3 = format!(
        "{l2l3_base}delay_slo = {:.0}\n",
        (2.0 * null_p95).max(1000.0)
    );
    println!("\nBatchy real-clock benchmark ({rounds} rounds x {period} s, mean of the last half)");
    println!(
        "{:<22} {:<9} {:>8} {:>13} {:>12} {:>7} {:>9}",
        "pipeline", "ctrl", "Mpps", "p95 max [us]", "SLO [us]", "SLO ok", "vs null"
    );
    for (name, text) in [
        ("simple (55/100us)", &simple),
        ("l2l3-16 (2x null p95)", &l2l3),
        ("tree-16 (5ms)", &tree),
    ] {
        let mut null_rate = 0.0;
        for c in ["null", "max", "projgrad"] {
            let (mpps, p95, slo, ok) = run(text, c, rounds, period);
            if c == "null" {
                null_rate = mpps;
            }
            let slo_s = if slo < 1e10 {
                format!("{:.1}", slo / 1e3)
            } else {
                "-".into()
            };
            println!(
                "{name:<22} {c:<9} {mpps:>8.3} {:>13.1} {slo_s:>12} {:>7} {:>8.2}x",
                p95 / 1e3,
                if ok { "yes" } else { "NO" },
                if null_rate > 0.0 {
                    mpps / null_rate
                } else {
                    0.0
                }
            );
        }
    }
}
