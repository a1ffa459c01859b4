//! Real-clock benchmark: Mpps and p95 delay for Null, Max and ProjGradient on the simple
//! pipeline, L2L3 (16 next hops) and the 16-leaf tree. Prints a table (not a test).
//!
//! `cargo bench -p batchy --bench pipelines` (env BATCHY_BENCH_ROUNDS, BATCHY_BENCH_PERIOD,
//! BATCHY_BENCH_REPS, BATCHY_BENCH_CASES = comma-separated row-name substrings).

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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let env = |k: &str| std::env::var(k).ok();
    let rounds: usize = env("BATCHY_BENCH_ROUNDS")
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let period: f64 = env("BATCHY_BENCH_PERIOD")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.1);
    let reps: usize = env("BATCHY_BENCH_REPS")
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let simple = include_str!("../../../configs/batchy/simple_pipeline.toml").to_string();
    let tree = "[pipeline]\nkind = \"tree\"\nleaves = 16\ncontrolled = true\ndelay_slo = 5000000\n"
        .to_string();
    let l2l3_base = "[pipeline]\nkind = \"l2l3\"\nnext_hops = 16\n".to_string();
    // SLO = 2x the Null p95 measured first on this machine (as SYS-3), and the SLO the
    // NSDI scripts used for this point (79 121 ns).
    let null_p95 = median(
        (0..reps)
            .map(|_| run(&l2l3_base, "null", rounds, period).1)
            .collect(),
    );
    let l2l3_2x = format!(
        "{l2l3_base}delay_slo = {:.0}\n",
        (2.0 * null_p95).max(1000.0)
    );
    let l2l3_nsdi = format!("{l2l3_base}delay_slo = 79121\n");
    println!(
        "\nBatchy real-clock benchmark: {rounds} rounds x {period} s, mean of the last half, median of {reps} interleaved repetitions; loadavg {}",
        load.trim()
    );
    println!(
        "{:<24} {:<9} {:>8} {:>13} {:>10} {:>7} {:>9}",
        "pipeline", "ctrl", "Mpps", "p95 max [us]", "SLO [us]", "SLO ok", "vs null"
    );
    let cases = [
        ("simple (55/100us)", &simple),
        ("l2l3-16 (2x null p95)", &l2l3_2x),
        ("l2l3-16 (79.1us, NSDI)", &l2l3_nsdi),
        ("tree-16 (5ms)", &tree),
    ];
    // BATCHY_BENCH_CASES: comma-separated substrings selecting rows (default: all).
    let filter: Vec<String> = env("BATCHY_BENCH_CASES")
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    for (name, text) in cases {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let ctrls = ["null", "max", "projgrad"];
        let mut res: Vec<Vec<(f64, f64, f64, bool)>> = vec![Vec::new(); 3];
        for _ in 0..reps {
            for (i, c) in ctrls.iter().enumerate() {
                res[i].push(run(text, c, rounds, period));
            }
        }
        let mut null_rate = 0.0;
        for (i, c) in ctrls.iter().enumerate() {
            let mpps = median(res[i].iter().map(|r| r.0).collect());
            let p95 = median(res[i].iter().map(|r| r.1).collect());
            let slo = res[i].first().map_or(f64::INFINITY, |r| r.2);
            let ok = res[i].iter().filter(|r| r.3).count();
            if i == 0 {
                null_rate = mpps;
            }
            let slo_s = if slo < 1e10 {
                format!("{:.1}", slo / 1e3)
            } else {
                "-".into()
            };
            println!(
                "{name:<24} {c:<9} {mpps:>8.3} {:>13.1} {slo_s:>10} {:>7} {:>8.2}x",
                p95 / 1e3,
                format!("{ok}/{reps}"),
                if null_rate > 0.0 {
                    mpps / null_rate
                } else {
                    0.0
                }
            );
        }
    }
}
