//! Random scenarios with agent-steered algorithms: the datapath library, the in-process
//! agent and every `ccp-algs` program run without a single rejected message, failed
//! invocation or dropped report; results stay physical and are reproducible. A few cases
//! run in CI; the long run is `--ignored`.

use ccp_sim::ccp::{AgentMode, CcpFactory};
use ccp_sim::{FlowSpec, LinkSpec, Scenario, Simulation};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const ALGS: &[&str] = &[
    "reno",
    "cubic",
    "aimd",
    "bbr",
    "copa",
    "vegas",
    "const-rate",
    "const-cwnd",
    "native-cubic",
];

fn flow_strategy() -> impl Strategy<Value = FlowSpec> {
    (
        prop::sample::select(ALGS.to_vec()),
        0.0f64..1.0,
        prop::option::of(0.2f64..3.0),
        1u32..3,
        1u32..60,
        0.0f64..30.0,
        0.05f64..0.95,
        any::<bool>(),
    )
        .prop_map(|(alg, start, len, count, init, extra, x, with_params)| {
            let mut f = FlowSpec::new(alg);
            f.start_s = start;
            f.stop_s = len.map(|l| start + l);
            f.count = count;
            f.init_cwnd_packets = init;
            f.extra_delay_ms = extra;
            if with_params {
                let p = match alg {
                    "cubic" => Some(("beta", x)),
                    "aimd" => Some(("decrease", x)),
                    "copa" => Some(("delta", x)),
                    "vegas" => Some(("gamma", x * 4.0)),
                    "bbr" => Some(("cwnd_gain", 1.0 + 2.0 * x)),
                    "const-rate" => Some(("rate_mbps", 1.0 + 100.0 * x)),
                    "const-cwnd" => Some(("cwnd_packets", (1.0 + 300.0 * x).round())),
                    _ => None,
                };
                if let Some((k, v)) = p {
                    f.params.insert(k.into(), v);
                }
            }
            f
        })
}

fn scenario_strategy() -> impl Strategy<Value = Scenario> {
    (
        0.5f64..200.0,
        0.0f64..40.0,
        1u32..400,
        prop_oneof![Just(0.0), 0.0f64..0.05],
        prop_oneof![Just(0.0), 0.0f64..5.0],
        any::<bool>(),
        prop::collection::vec(flow_strategy(), 1..4),
        (1.0f64..4.0, any::<u64>(), any::<bool>(), 0.0f64..200.0),
    )
        .prop_map(
            |(rate, delay, queue, loss, jitter, reorder, flows, (dur, seed, cell, ipc))| {
                let link = LinkSpec {
                    rate_mbps: if cell { None } else { Some(rate) },
                    trace: cell.then(|| "Verizon-LTE-short.down".into()),
                    delay_ms: delay,
                    queue_packets: Some(queue),
                    loss,
                    jitter_ms: jitter,
                    reorder,
                    ..LinkSpec::default()
                };
                let mut s = Scenario::new("random-ccp", link);
                s.duration_s = dur;
                s.seed = seed;
                s.ipc_delay_us = ipc;
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
    let run = || {
        let mut f = CcpFactory::new(AgentMode::InProcess);
        let r = Simulation::new(s, &mut f)
            .map_err(|e| TestCaseError::fail(format!("rejected: {e}")))?
            .run();
        Ok::<_, TestCaseError>((r, f.last_run()))
    };
    let (r, stats) = run()?;
    let sum = &r.summary;
    prop_assert!(
        (0.0..=1.0).contains(&sum.utilization),
        "{}",
        sum.utilization
    );
    for f in &sum.flows {
        prop_assert!(f.goodput_bps <= f.throughput_bps + 1e-6);
        prop_assert!(f.share >= 0.0 && f.share <= 1.02, "share {}", f.share);
    }
    let ccp_flows = s
        .flows
        .iter()
        .filter(|f| !f.alg.starts_with("native-"))
        .count();
    if ccp_flows > 0 {
        let stats = stats.ok_or_else(|| TestCaseError::fail("no control-plane stats"))?;
        let agent = stats
            .agent
            .ok_or_else(|| TestCaseError::fail("no agent stats"))?;
        prop_assert_eq!(agent.dropped(), 0, "agent dropped messages: {:?}", agent);
        prop_assert_eq!(stats.invoke_errors, 0, "a datapath program failed");
        let dp = stats
            .datapath
            .ok_or_else(|| TestCaseError::fail("no datapath stats"))?;
        prop_assert_eq!(dp.program_errors, 0);
        // The only message the library may reject: the agent's answer to a flow's last
        // report, arriving after the flow stopped (its connection is gone).
        prop_assert_eq!(stats.read_errors, dp.unknown_connection, "{:?}", dp);
        let stopped = s.flows.iter().any(|f| f.stop_s.is_some());
        prop_assert!(stopped || dp.unknown_connection == 0, "{:?}", dp);
    }
    // The same scenario again: the same bytes.
    let (again, _) = run()?;
    prop_assert_eq!(r.flows_csv(), again.flows_csv());
    prop_assert_eq!(r.link_csv(), again.link_csv());
    Ok(())
}

#[test]
fn random_ccp_scenarios_run_cleanly_and_reproducibly() {
    let mut runner = TestRunner::new(Config {
        cases: 16,
        ..Config::default()
    });
    runner
        .run(&scenario_strategy(), |s| check(&s))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
#[ignore = "stress: run with --ignored"]
fn random_ccp_scenarios_stress() {
    let cases: u32 = std::env::var("CCP_SIM_STRESS_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    runner
        .run(&scenario_strategy(), |s| check(&s))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{cases} random CCP scenarios passed");
}
