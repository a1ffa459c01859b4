//! Acceptance figures of issue 4 for the agent-steered algorithms: the real datapath
//! library per ACK and the real agent in-process (`ccp sim --json` through the library).
//! Each simulation is 60 s unless stated (the `cell` runs are 150 s so that the 140 s trace
//! loops). Run in release (CI does).

use ccp_sim::ccp::{AgentMode, CcpFactory};
use ccp_sim::{Results, Scenario, Simulation, Summary};

fn run(scenario: &Scenario) -> Results {
    let mut f = CcpFactory::new(AgentMode::InProcess);
    let r = Simulation::new(scenario, &mut f)
        .expect("valid scenario")
        .run();
    // Every agent-steered run really went through the agent.
    if let Some(stats) = f.last_run() {
        let agent = stats.agent.expect("in-process agent");
        assert!(agent.reports > 0, "no report reached the agent");
        assert_eq!(agent.dropped(), 0, "{agent:?}");
        assert_eq!(stats.read_errors, 0);
        assert_eq!(stats.invoke_errors, 0);
    }
    r
}

fn scenario(name: &str, algs: &[&str], secs: f64) -> Scenario {
    let algs: Vec<String> = algs.iter().map(|s| s.to_string()).collect();
    Scenario::builtin(name)
        .expect("built in")
        .with_algorithms(&algs)
        .with_duration(secs)
}

fn summary(name: &str, alg: &str, secs: f64) -> Summary {
    run(&scenario(name, &[alg], secs)).summary
}

/// Agent-steered vs in-datapath reference: throughput within 5 %, mean queueing delay
/// within 10 %.
fn assert_fidelity(name: &str, alg: &str, reference: &str, secs: f64) -> (Summary, Summary) {
    let a = summary(name, alg, secs);
    let r = summary(name, reference, secs);
    let (fa, fr) = (&a.flows[0], &r.flows[0]);
    let dt = (fa.throughput_bps / fr.throughput_bps - 1.0).abs();
    let dq = (a.queue_delay_mean_ms / r.queue_delay_mean_ms - 1.0).abs();
    eprintln!(
        "{name} {alg}: throughput {:.2} vs {:.2} Mbit/s ({:+.1} %), queueing delay {:.2} vs {:.2} ms ({:+.1} %)",
        fa.throughput_bps / 1e6,
        fr.throughput_bps / 1e6,
        (fa.throughput_bps / fr.throughput_bps - 1.0) * 100.0,
        a.queue_delay_mean_ms,
        r.queue_delay_mean_ms,
        (a.queue_delay_mean_ms / r.queue_delay_mean_ms - 1.0) * 100.0
    );
    assert!(
        dt <= 0.05,
        "{name} {alg}: throughput differs by {:.1} %",
        dt * 100.0
    );
    assert!(
        dq <= 0.10,
        "{name} {alg}: mean queueing delay differs by {:.1} %",
        dq * 100.0
    );
    (a, r)
}

#[test]
fn fixed_reno_and_cubic_fill_the_link_and_match_the_references() {
    for (alg, reference) in [("reno", "native-reno"), ("cubic", "native-cubic")] {
        let (a, _) = assert_fidelity("fixed", alg, reference, 60.0);
        assert!(
            a.utilization >= 0.95,
            "{alg}: utilization {}",
            a.utilization
        );
        assert_eq!(a.flows[0].alg, alg);
    }
}

#[test]
fn drop_reno_and_cubic_match_the_references() {
    for (alg, reference) in [("reno", "native-reno"), ("cubic", "native-cubic")] {
        let (a, r) = assert_fidelity("drop", alg, reference, 60.0);
        assert!(a.random_drops > 0 && r.random_drops > 0);
        assert_eq!(a.duration_s, 60.0);
    }
}

#[test]
fn cell_reno_and_cubic_match_the_references_with_the_trace_looping() {
    // The Verizon trace is 140 s long: 150 s runs past its end.
    for (alg, reference) in [("reno", "native-reno"), ("cubic", "native-cubic")] {
        let s = scenario("cell", &[alg], 150.0);
        let res = run(&s);
        let after_loop: Vec<_> = res
            .link_samples
            .iter()
            .filter(|l| l.t.as_secs_f64() > 141.0)
            .collect();
        assert!(!after_loop.is_empty());
        let used = after_loop.iter().map(|l| l.utilization).sum::<f64>() / after_loop.len() as f64;
        assert!(
            used > 0.5,
            "{alg}: link idle after the trace looped: {used}"
        );
        assert_eq!(res.summary.duration_s, 150.0);
        assert_fidelity("cell", alg, reference, 150.0);
    }
}

#[test]
fn bbr_fills_the_link_with_less_than_half_of_cubics_queueing_delay() {
    let bbr = summary("bbr-demo", "bbr", 60.0);
    let cubic = summary("bbr-demo", "cubic", 60.0);
    eprintln!(
        "bbr-demo: bbr utilization {:.3}, p95 queueing delay {:.2} ms; cubic {:.2} ms",
        bbr.utilization, bbr.queue_delay_p95_ms, cubic.queue_delay_p95_ms
    );
    assert!(bbr.utilization >= 0.90, "utilization {}", bbr.utilization);
    assert!(
        bbr.queue_delay_p95_ms <= 0.5 * cubic.queue_delay_p95_ms,
        "p95 queueing delay {} vs cubic {}",
        bbr.queue_delay_p95_ms,
        cubic.queue_delay_p95_ms
    );
}

#[test]
fn copa_and_vegas_keep_the_queue_short_and_the_link_busy() {
    let cubic = summary("fixed", "cubic", 60.0);
    for alg in ["copa", "vegas"] {
        let s = summary("fixed", alg, 60.0);
        eprintln!(
            "fixed {alg}: utilization {:.3}, median queueing delay {:.3} ms (cubic {:.3} ms)",
            s.utilization, s.queue_delay_median_ms, cubic.queue_delay_median_ms
        );
        assert!(
            s.utilization >= 0.80,
            "{alg}: utilization {}",
            s.utilization
        );
        assert!(
            s.queue_delay_median_ms <= 0.3 * cubic.queue_delay_median_ms,
            "{alg}: median queueing delay {} vs cubic {}",
            s.queue_delay_median_ms,
            cubic.queue_delay_median_ms
        );
    }
}

#[test]
fn two_cubic_flows_share_fairly_over_the_last_40_seconds() {
    let s = run(&scenario("fixed", &["cubic", "cubic"], 60.0)).summary;
    assert_eq!((s.jain_window_start_s, s.jain_window_end_s), (20.0, 60.0));
    eprintln!("two cubic flows: Jain {:.4}", s.jain_index);
    assert!(s.jain_index >= 0.95, "Jain {}", s.jain_index);
    assert!(s.utilization >= 0.95);
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes_with_loss() {
    let csv = |seed: u64| {
        let s = scenario("drop", &["cubic", "reno"], 20.0).with_seed(seed);
        let r = run(&s);
        (r.flows_csv(), r.link_csv())
    };
    let a = csv(7);
    assert_eq!(a, csv(7), "same seed, different output");
    assert_ne!(
        a.0,
        csv(8).0,
        "a different seed changed nothing although loss > 0"
    );
}

#[test]
fn flows_with_different_parameters_get_separate_agent_algorithms() {
    let mut s = scenario("fixed", &["aimd", "aimd"], 5.0);
    s.flows[1].params.insert("decrease".into(), 0.9);
    let mut f = CcpFactory::new(AgentMode::InProcess);
    let r = Simulation::new(&s, &mut f).unwrap().run();
    // Both steered; the gentler decrease keeps a larger window on average.
    let mean_cwnd = |flow: u32| {
        let v: Vec<f64> = r
            .flow_samples
            .iter()
            .filter(|x| x.flow == flow)
            .map(|x| f64::from(x.cwnd_bytes))
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(
        mean_cwnd(1) > mean_cwnd(0),
        "{} vs {}",
        mean_cwnd(1),
        mean_cwnd(0)
    );
    let stats = f.last_run().unwrap();
    assert_eq!(stats.agent.unwrap().creates, 2);
    // A bad parameter is an error of the scenario, before anything runs.
    s.flows[1].params.insert("decrease".into(), 2.0);
    let e = Simulation::new(&s, &mut CcpFactory::new(AgentMode::InProcess))
        .err()
        .expect("rejected");
    assert!(e.to_string().contains("decrease"), "{e}");
}
