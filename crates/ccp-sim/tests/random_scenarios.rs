//! Random scenarios: the simulator never panics and its results stay within physical
//! bounds. A few cases run in CI; the long run is `--ignored`.

use ccp_sim::{FlowSpec, LinkSpec, Registry, Scenario, Simulation};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn flow_strategy() -> impl Strategy<Value = FlowSpec> {
    (
        prop::sample::select(vec![
            "reno",
            "cubic",
            "const-cwnd",
            "const-rate",
            "native-cubic",
        ]),
        0.0f64..1.0,
        prop::option::of(0.2f64..3.0),
        1u32..3,
        1u32..60,
        0.0f64..30.0,
        1.0f64..200.0,
    )
        .prop_map(|(alg, start, len, count, init, extra, param)| {
            let mut f = FlowSpec::new(alg);
            f.start_s = start;
            f.stop_s = len.map(|l| start + l);
            f.count = count;
            f.init_cwnd_packets = init;
            f.extra_delay_ms = extra;
            if alg == "const-rate" {
                f.params.insert("rate_mbps".into(), param);
            } else if alg == "const-cwnd" {
                f.params.insert("cwnd_packets".into(), param);
            }
            f
        })
}

fn scenario_strategy() -> impl Strategy<Value = Scenario> {
    (
        0.5f64..200.0,
        0.0f64..40.0,
        prop_oneof![(1u32..400).prop_map(Some), Just(None)],
        1500u64..600_000,
        prop_oneof![Just(0.0), 0.0f64..0.2],
        prop_oneof![Just(0.0), 0.0f64..5.0],
        any::<bool>(),
        prop::option::of(1u32..50),
        prop::collection::vec(flow_strategy(), 1..4),
        (1.0f64..4.0, any::<u64>(), any::<bool>()),
    )
        .prop_map(
            |(rate, delay, qp, qb, loss, jitter, reorder, ecn, flows, (dur, seed, cell))| {
                let link = LinkSpec {
                    rate_mbps: if cell { None } else { Some(rate) },
                    trace: if cell {
                        Some("Verizon-LTE-short.down".into())
                    } else {
                        None
                    },
                    delay_ms: delay,
                    queue_packets: qp,
                    queue_bytes: if qp.is_none() { Some(qb) } else { None },
                    loss,
                    jitter_ms: jitter,
                    reorder,
                    ecn_threshold_packets: ecn,
                    ack_delay_ms: None,
                };
                let mut s = Scenario::new("random", link);
                s.duration_s = dur;
                s.seed = seed;
                s.flows = flows
                    .into_iter()
                    .map(|mut f| {
                        f.start_s = f.start_s.min(dur * 0.9);
                        f
                    })
                    .collect();
                s
            },
        )
}

fn check(s: &Scenario) -> Result<(), TestCaseError> {
    let mut reg = Registry::with_native();
    let r = Simulation::new(s, &mut reg)
        .map_err(|e| TestCaseError::fail(format!("rejected: {e}")))?
        .run();
    let sum = &r.summary;
    prop_assert!(
        (0.0..=1.0).contains(&sum.utilization),
        "utilization {}",
        sum.utilization
    );
    let n = sum.flows.len() as f64;
    prop_assert!(sum.jain_index <= 1.0 + 1e-9 && sum.jain_index >= 1.0 / n - 1e-9);
    for f in &sum.flows {
        prop_assert!(f.goodput_bps <= f.throughput_bps + 1e-6);
        prop_assert!(f.share >= 0.0 && f.share <= 1.02, "share {}", f.share);
        prop_assert!(f.rtt_p50_ms <= f.rtt_p95_ms + 1e-9);
        prop_assert!(f.queue_delay_median_ms <= f.queue_delay_p95_ms + 1e-9);
    }
    let mut prev = 0u64;
    for l in &r.link_samples {
        // serialization times are whole nanoseconds: a packet may finish up to 1 ns early
        let dt = (l.t.as_nanos() - prev) as f64;
        prev = l.t.as_nanos();
        prop_assert!(
            l.utilization <= 1.0 + 2.0 / dt + 1e-9,
            "interval utilization {} over {dt} ns",
            l.utilization
        );
    }
    // the flows together never get more than the link carried
    let total_share: f64 = sum
        .flows
        .iter()
        .map(|f| f.throughput_bps * (f.end_s - f.start_s))
        .sum::<f64>();
    let first_start = sum.flows.iter().map(|f| f.start_s).fold(f64::MAX, f64::min);
    let capacity_bits = sum.link_capacity_bps * (sum.duration_s - first_start);
    prop_assert!(
        total_share <= capacity_bits * 1.02 + 1e5,
        "{total_share} > {capacity_bits}"
    );
    Ok(())
}

#[test]
fn random_scenarios_stay_physical() {
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    runner
        .run(&scenario_strategy(), |s| check(&s))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
#[ignore = "stress: run with --ignored"]
fn random_scenarios_stress() {
    let cases: u32 = std::env::var("CCP_SIM_STRESS_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    runner
        .run(&scenario_strategy(), |s| check(&s))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{cases} random scenarios passed");
}
