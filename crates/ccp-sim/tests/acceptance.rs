//! Acceptance figures reachable with the native controllers (run in release in CI).

use ccp_sim::{Registry, Results, Scenario, Simulation};

fn run(scenario: &Scenario) -> Results {
    let mut registry = Registry::with_native();
    Simulation::new(scenario, &mut registry)
        .expect("valid scenario")
        .run()
}

fn fixed(algs: &[&str], secs: f64) -> Scenario {
    let algs: Vec<String> = algs.iter().map(|s| s.to_string()).collect();
    Scenario::builtin("fixed")
        .unwrap()
        .with_algorithms(&algs)
        .with_duration(secs)
}

#[test]
fn reno_on_fixed_reaches_95_percent_utilization() {
    let r = run(&fixed(&["reno"], 30.0));
    let s = &r.summary;
    assert!(s.utilization >= 0.95, "utilization {}", s.utilization);
    assert!(s.utilization <= 1.0);
    // the sawtooth: the queue fills (drops happen) and the flow recovers without timeouts
    assert!(s.queue_drops > 0);
    assert_eq!(s.flows[0].timeouts, 0);
    // every drop is repaired, except possibly a few in the last RTTs before the end
    assert!(s.flows[0].retransmits + 5 >= s.flows[0].losses);
    // RTT is between the base RTT (20 ms + 0.125 ms serialization) and base + full queue
    assert!(
        s.flows[0].rtt_p50_ms > 20.0 && s.flows[0].rtt_p95_ms < 41.0,
        "{s:?}"
    );
}

#[test]
fn cubic_on_fixed_reaches_95_percent_utilization() {
    let r = run(&fixed(&["cubic"], 30.0));
    let s = &r.summary;
    assert!(s.utilization >= 0.95, "utilization {}", s.utilization);
    let f = &s.flows[0];
    assert!(
        (f.throughput_bps - 96e6).abs() / 96e6 < 0.05,
        "{}",
        f.throughput_bps
    );
    assert!(f.goodput_bps < f.throughput_bps);
    // share counts bytes received, utilization bytes that left the queue: they differ by
    // the packets still propagating at the end
    assert!((f.share - s.utilization).abs() < 0.01);
}

#[test]
fn two_cubic_flows_share_fairly_over_the_last_40_seconds() {
    let r = run(&fixed(&["cubic", "cubic"], 60.0));
    let s = &r.summary;
    assert_eq!(s.jain_window_start_s, 20.0);
    assert_eq!(s.jain_window_end_s, 60.0);
    assert!(s.jain_index >= 0.95, "Jain {}", s.jain_index);
    assert!(s.utilization >= 0.95, "utilization {}", s.utilization);
    let total: f64 = s.flows.iter().map(|f| f.window_throughput_bps).sum();
    assert!(total > 0.9 * 96e6 && total <= 96e6 * 1.001, "{total}");
}

#[test]
fn cell_trace_loops_and_the_flow_keeps_going() {
    // The Verizon trace is 140 s long: run past its end to exercise the loop.
    let scenario = Scenario::builtin("cell").unwrap().with_duration(150.0);
    let r = run(&scenario);
    let s = &r.summary;
    assert!(s.utilization > 0.8, "utilization {}", s.utilization);
    let after_loop: Vec<_> = r
        .link_samples
        .iter()
        .filter(|l| l.t.as_secs_f64() > 141.0)
        .collect();
    assert!(!after_loop.is_empty());
    let used: f64 = after_loop.iter().map(|l| l.utilization).sum::<f64>() / after_loop.len() as f64;
    assert!(used > 0.5, "link idle after the trace looped: {used}");
    let tput_after: f64 = r
        .flow_samples
        .iter()
        .filter(|f| f.t.as_secs_f64() > 141.0)
        .map(|f| f.throughput_bps)
        .sum();
    assert!(tput_after > 0.0);
    // the trace's mean rate is a few Mbit/s
    assert!(s.link_capacity_bps > 1e6 && s.link_capacity_bps < 20e6);
}

#[test]
fn drop_scenario_loses_packets_and_recovers() {
    let scenario = Scenario::builtin("drop").unwrap().with_duration(20.0);
    let r = run(&scenario);
    let s = &r.summary;
    // 0.01 % of ~160 000 packets
    assert!(
        s.random_drops >= 3 && s.random_drops <= 50,
        "{}",
        s.random_drops
    );
    let f = &s.flows[0];
    assert!(f.retransmits >= s.random_drops);
    assert!(f.losses == s.random_drops + s.queue_drops);
    assert!(s.utilization > 0.5, "{}", s.utilization);
}
