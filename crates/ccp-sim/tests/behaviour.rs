//! End-to-end behaviour of the simulator: determinism, flow lifetimes, cwnd and pacing
//! enforcement, the measurements handed to controllers, outputs, and input errors.

use std::cell::RefCell;
use std::rc::Rc;

use ccp_sim::controllers::Reno;
use ccp_sim::{
    CongestionController, Control, ControllerFactory, CreateError, FlowInfo, FlowSpec, LinkSpec,
    Measurement, Registry, Results, Scenario, ScenarioError, SimError, SimTime, Simulation,
};

fn run_with(scenario: &Scenario, registry: &mut Registry) -> Results {
    Simulation::new(scenario, registry)
        .expect("valid scenario")
        .run()
}

fn run(scenario: &Scenario) -> Results {
    run_with(scenario, &mut Registry::with_native())
}

fn link(rate_mbps: f64, delay_ms: f64, queue: u32) -> LinkSpec {
    LinkSpec {
        rate_mbps: Some(rate_mbps),
        delay_ms,
        queue_packets: Some(queue),
        ..LinkSpec::default()
    }
}

#[test]
fn same_seed_gives_identical_csv_and_another_seed_differs_with_loss() {
    let s = Scenario::builtin("drop")
        .unwrap()
        .with_duration(8.0)
        .with_algorithms(&["cubic".into(), "reno".into()]);
    let a = run(&s);
    let b = run(&s);
    assert_eq!(a.flows_csv(), b.flows_csv());
    assert_eq!(a.link_csv(), b.link_csv());
    assert!(a.summary.random_drops > 0);
    let c = run(&s.clone().with_seed(2));
    assert_ne!(a.flows_csv(), c.flows_csv());
    assert_ne!(a.summary.random_drops, 0);
    // the files written to disk are the same bytes
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    a.write_csv(d1.path()).unwrap();
    b.write_csv(d2.path()).unwrap();
    for name in ["flows.csv", "link.csv"] {
        assert_eq!(
            std::fs::read(d1.path().join(name)).unwrap(),
            std::fs::read(d2.path().join(name)).unwrap()
        );
    }
}

#[test]
fn without_randomness_the_seed_does_not_matter() {
    let s = Scenario::builtin("fixed").unwrap().with_duration(3.0);
    assert_eq!(
        run(&s).flows_csv(),
        run(&s.clone().with_seed(99)).flows_csv()
    );
}

#[test]
fn flows_start_and_stop_on_time() {
    let mut s = Scenario::new("lifetimes", link(48.0, 5.0, 100));
    s.duration_s = 12.0;
    s.flows = vec![
        FlowSpec {
            stop_s: Some(6.0),
            ..FlowSpec::new("cubic")
        },
        FlowSpec {
            start_s: 3.0,
            ..FlowSpec::new("reno")
        },
    ];
    let r = run(&s);
    let times = |flow: u32| -> Vec<f64> {
        r.flow_samples
            .iter()
            .filter(|x| x.flow == flow)
            .map(|x| x.t.as_secs_f64())
            .collect()
    };
    let t0 = times(0);
    let t1 = times(1);
    assert!(
        t0.iter().all(|t| *t <= 6.0 + 1e-9),
        "flow 0 sampled after stopping"
    );
    assert!(t0.iter().any(|t| *t > 5.9));
    assert!(
        t1.iter().all(|t| *t >= 3.0),
        "flow 1 sampled before starting"
    );
    assert_eq!(r.summary.flows[0].end_s, 6.0);
    assert_eq!(r.summary.flows[1].start_s, 3.0);
    // once flow 0 has left, flow 1 takes the whole link
    let late: Vec<f64> = r
        .flow_samples
        .iter()
        .filter(|x| x.flow == 1 && x.t.as_secs_f64() > 9.0)
        .map(|x| x.throughput_bps)
        .collect();
    let mean = late.iter().sum::<f64>() / late.len() as f64;
    assert!(mean > 0.9 * 48e6, "{mean}");
    // the fairness window (last 40 s clipped to the run) covers both flows
    assert_eq!(r.summary.jain_window_start_s, 0.0);
}

#[test]
fn pacing_limits_the_sending_rate() {
    let mut s = Scenario::new("paced", link(96.0, 10.0, 160));
    s.duration_s = 5.0;
    let mut f = FlowSpec::new("const-rate");
    f.params.insert("rate_mbps".into(), 24.0);
    s.flows = vec![f];
    let r = run(&s);
    let fl = &r.summary.flows[0];
    assert!(
        (fl.throughput_bps - 24e6).abs() / 24e6 < 0.02,
        "{}",
        fl.throughput_bps
    );
    // paced below capacity: nothing queues
    assert!(
        r.summary.queue_delay_p95_ms < 0.2,
        "{}",
        r.summary.queue_delay_p95_ms
    );
    assert_eq!(fl.losses, 0);
    assert!(r.flow_samples.iter().all(|x| x.pacing_rate == 3_000_000));
}

#[test]
fn pacing_above_capacity_fills_the_queue_and_loses() {
    let mut s = Scenario::new("overpaced", link(24.0, 10.0, 50));
    s.duration_s = 3.0;
    let mut f = FlowSpec::new("const-rate");
    f.params.insert("rate_mbps".into(), 30.0);
    s.flows = vec![f];
    let r = run(&s);
    assert!(r.summary.utilization > 0.97);
    assert!(r.summary.flows[0].losses > 100);
}

#[test]
fn cwnd_limits_bytes_in_flight() {
    // 80 segments per 20 ms RTT = 80 * 1500 * 8 / 0.02 = 48 Mbit/s on a 96 Mbit/s link
    let mut s = Scenario::new("window", link(96.0, 10.0, 160));
    s.duration_s = 5.0;
    let mut f = FlowSpec::new("const-cwnd");
    f.params.insert("cwnd_packets".into(), 80.0);
    s.flows = vec![f];
    let r = run(&s);
    let fl = &r.summary.flows[0];
    let expected = 80.0 * 1500.0 * 8.0 / 0.020125;
    assert!(
        (fl.throughput_bps - expected).abs() / expected < 0.02,
        "{} vs {expected}",
        fl.throughput_bps
    );
    assert!(r.flow_samples.iter().all(|x| x.inflight_bytes <= 80 * 1460));
}

/// Wraps a controller and checks the measurements it receives.
struct Checker {
    inner: Reno,
    log: Rc<RefCell<CheckLog>>,
    mss: u32,
}

#[derive(Default)]
struct CheckLog {
    acks: u64,
    losses_reported: u64,
    loss_calls: u64,
    timeouts: u64,
    misordered: u64,
    ecn: u64,
    max_rate_in: u64,
    min_rtt_us: u64,
    last_now: SimTime,
}

impl CongestionController for Checker {
    fn name(&self) -> &str {
        "checker"
    }
    fn on_start(&mut self, info: &FlowInfo, ctl: &mut Control<'_>) {
        self.mss = info.mss;
        self.inner.on_start(info, ctl);
    }
    fn on_ack(&mut self, m: &Measurement, ctl: &mut Control<'_>) {
        let p = &m.prims;
        let mut log = self.log.borrow_mut();
        assert!(m.now >= log.last_now, "time went backwards");
        log.last_now = m.now;
        log.acks += 1;
        assert_eq!(p.bytes_acked, p.packets_acked * self.mss);
        assert_eq!(p.bytes_misordered, p.packets_misordered * self.mss);
        assert_eq!(p.bytes_in_flight, p.packets_in_flight * self.mss);
        assert_eq!(p.snd_cwnd, ctl.cwnd(), "snd_cwnd must be the current cwnd");
        assert_eq!(p.snd_rate, ctl.pacing_rate());
        assert!(!p.was_timeout, "was_timeout outside a timeout call");
        assert!(p.bytes_pending > 0);
        if p.rtt_sample_us > 0 {
            // never below the base RTT (2 × 10 ms + 125 µs serialization)
            assert!(p.rtt_sample_us >= 20_125, "rtt {}", p.rtt_sample_us);
            log.min_rtt_us = if log.min_rtt_us == 0 {
                p.rtt_sample_us
            } else {
                log.min_rtt_us.min(p.rtt_sample_us)
            };
        }
        log.losses_reported += u64::from(p.lost_pkts_sample);
        log.misordered += u64::from(p.packets_misordered);
        log.ecn += u64::from(p.ecn_packets);
        log.max_rate_in = log.max_rate_in.max(p.rate_incoming);
        drop(log);
        self.inner.on_ack(m, ctl);
    }
    fn on_loss(&mut self, m: &Measurement, ctl: &mut Control<'_>) {
        assert!(m.sender.in_recovery);
        assert!(m.prims.lost_pkts_sample > 0);
        self.log.borrow_mut().loss_calls += 1;
        self.inner.on_loss(m, ctl);
    }
    fn on_timeout(&mut self, m: &Measurement, ctl: &mut Control<'_>) {
        assert!(m.prims.was_timeout);
        self.log.borrow_mut().timeouts += 1;
        self.inner.on_timeout(m, ctl);
    }
}

fn checker_registry(log: &Rc<RefCell<CheckLog>>) -> Registry {
    let mut reg = Registry::with_native();
    let log = log.clone();
    reg.register("checker", "Reno with measurement checks", move |_, _| {
        Ok(Box::new(Checker {
            inner: Reno::new(),
            log: log.clone(),
            mss: 0,
        }))
    });
    reg
}

#[test]
fn controllers_receive_consistent_primitives() {
    let log = Rc::new(RefCell::new(CheckLog::default()));
    let mut reg = checker_registry(&log);
    let mut s = Scenario::builtin("drop")
        .unwrap()
        .with_duration(10.0)
        .with_algorithms(&["checker".into()]);
    s.link.ecn_threshold_packets = Some(100);
    let r = run_with(&s, &mut reg);
    let log = log.borrow();
    let f = &r.summary.flows[0];
    assert!(log.acks > 50_000);
    assert!(log.losses_reported > 0);
    assert!(
        log.misordered > 0,
        "SACKed segments are reported as misordered"
    );
    assert!(log.ecn > 0, "CE marks are echoed");
    assert!(log.loss_calls > 0 && log.loss_calls <= f.retransmits);
    assert_eq!(log.timeouts, f.timeouts);
    // delivery rate never beats the bottleneck by more than rounding
    assert!(
        log.max_rate_in <= 12_000_000 * 101 / 100,
        "{}",
        log.max_rate_in
    );
    assert!(log.max_rate_in > 10_000_000);
    assert!(log.min_rtt_us < 21_000);
}

#[test]
fn heavy_loss_causes_timeouts_that_the_controller_sees() {
    let log = Rc::new(RefCell::new(CheckLog::default()));
    let mut reg = checker_registry(&log);
    let mut s = Scenario::new("lossy", link(10.0, 10.0, 100));
    s.link.loss = 0.3;
    s.duration_s = 20.0;
    s.flows = vec![FlowSpec::new("checker")];
    let r = run_with(&s, &mut reg);
    let f = &r.summary.flows[0];
    // with 30 % loss whole windows vanish now and then: only the RTO recovers them
    assert!(log.borrow().timeouts > 0);
    assert_eq!(log.borrow().timeouts, f.timeouts);
    assert!(f.goodput_bps > 0.0);
    assert!(f.retransmits > 0);
}

#[test]
fn jitter_without_reordering_keeps_the_link_busy() {
    let mut s = Scenario::new("jittery", link(48.0, 10.0, 200));
    s.link.jitter_ms = 2.0;
    s.duration_s = 10.0;
    s.flows = vec![FlowSpec::new("cubic")];
    let r = run(&s);
    assert!(r.summary.utilization > 0.9, "{}", r.summary.utilization);
    // jitter shows in the RTT spread
    let f = &r.summary.flows[0];
    assert!(f.rtt_p95_ms > f.rtt_p50_ms);
}

#[test]
fn reordering_triggers_spurious_fast_retransmits() {
    // RFC 6675's fixed DupThresh of 3 takes reordering deeper than 3 packets for loss:
    // segments are retransmitted that were never dropped, and the window suffers.
    let mut s = Scenario::new("reordering", link(48.0, 10.0, 200));
    s.link.jitter_ms = 2.0;
    s.link.reorder = true;
    s.duration_s = 10.0;
    s.flows = vec![FlowSpec::new("cubic")];
    let r = run(&s);
    let f = &r.summary.flows[0];
    assert_eq!(f.losses, 0, "nothing was dropped");
    assert!(f.retransmits > 0, "reordering was taken for loss");
    assert!(f.goodput_bps > 0.0);
}

#[test]
fn bad_inputs_are_typed_errors() {
    let mut reg = Registry::with_native();
    let s = Scenario::builtin("fixed")
        .unwrap()
        .with_algorithms(&["nonesuch".into()]);
    match Simulation::new(&s, &mut reg) {
        Err(SimError::Scenario(ScenarioError::UnknownController { name, .. })) => {
            assert_eq!(name, "nonesuch")
        }
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("accepted an unknown controller"),
    }
    let mut s = Scenario::builtin("fixed").unwrap();
    s.link.rate_mbps = Some(0.0);
    let err = Simulation::new(&s, &mut reg)
        .err()
        .expect("rate 0 rejected");
    assert!(err.to_string().contains("link.rate_mbps"), "{err}");
    let mut s = Scenario::builtin("fixed")
        .unwrap()
        .with_algorithms(&["const-rate".into()]);
    s.flows[0].params.insert("rate_mbps".into(), -3.0);
    match Simulation::new(&s, &mut reg) {
        Err(SimError::Controller {
            flow: 0,
            source: CreateError::BadParameter { param, .. },
        }) => assert_eq!(param, "rate_mbps"),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("accepted a negative rate"),
    }
    assert!(reg.contains("native-cubic"));
}

#[test]
fn progress_reports_are_monotone_and_complete() {
    let s = Scenario::builtin("fixed").unwrap().with_duration(2.0);
    let mut seen = Vec::new();
    let sim = Simulation::new(&s, &mut Registry::with_native()).unwrap();
    sim.run_with_progress(&mut |p| seen.push(p));
    assert!(seen.len() > 100 && seen.len() <= 202, "{}", seen.len());
    assert!(
        seen.windows(2)
            .all(|w| w[0].now <= w[1].now && w[0].events <= w[1].events)
    );
    let last = seen.last().unwrap();
    assert_eq!(last.fraction(), 1.0);
    assert_eq!(last.now, SimTime::from_secs(2));
}

#[test]
fn csv_and_png_outputs_are_written() {
    let s = Scenario::builtin("fixed")
        .unwrap()
        .with_duration(2.0)
        .with_algorithms(&["reno".into(), "cubic".into()]);
    let r = run(&s);
    let dir = tempfile::tempdir().unwrap();
    let csv = r.write_csv(dir.path()).unwrap();
    let png = r.write_plots(dir.path()).unwrap();
    assert_eq!(csv.len(), 2);
    assert_eq!(png.len(), 3);
    for p in &png {
        let bytes = std::fs::read(p).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", p.display());
        assert!(bytes.len() > 5_000, "{} looks empty", p.display());
    }
    let flows = std::fs::read_to_string(dir.path().join("flows.csv")).unwrap();
    let mut lines = flows.lines();
    assert_eq!(
        lines.next().unwrap(),
        "time_s,flow,alg,cwnd_bytes,pacing_rate_bytes_per_s,throughput_mbps,goodput_mbps,rtt_ms,srtt_ms,inflight_bytes,retransmits,losses"
    );
    // 2 s / 10 ms = 200 samples per flow
    assert_eq!(lines.count(), 400);
    let link = std::fs::read_to_string(dir.path().join("link.csv")).unwrap();
    assert_eq!(link.lines().count(), 201);
    assert!(link.lines().nth(1).unwrap().starts_with("0.010000,"));
    // JSON has the documented top-level keys
    let json: serde_json::Value = serde_json::from_str(&r.summary.to_json()).unwrap();
    assert!(json["utilization"].as_f64().unwrap() > 0.0);
    assert_eq!(json["flows"].as_array().unwrap().len(), 2);
    for key in [
        "throughput_bps",
        "share",
        "rtt_p50_ms",
        "rtt_p95_ms",
        "queue_delay_p95_ms",
        "retransmits",
    ] {
        assert!(json["flows"][0].get(key).is_some(), "missing {key}");
    }
    let table = r.summary.to_string();
    assert!(table.contains("reno") && table.contains("Jain"));
    // an unwritable directory is an error, not a panic
    let file = dir.path().join("flows.csv");
    assert!(r.write_csv(&file.join("sub")).is_err());
}

#[test]
fn the_factory_sees_flow_info() {
    struct Spy(Vec<FlowInfo>);
    impl ControllerFactory for Spy {
        fn contains(&self, _name: &str) -> bool {
            true
        }
        fn names(&self) -> Vec<String> {
            vec![]
        }
        fn create(
            &mut self,
            info: &FlowInfo,
            _setup: &mut ccp_sim::Setup<'_>,
        ) -> Result<Box<dyn CongestionController>, CreateError> {
            self.0.push(info.clone());
            Ok(Box::new(Reno::new()))
        }
    }
    let mut s = Scenario::builtin("fixed").unwrap().with_duration(1.0);
    s.ipc_delay_us = 35.0;
    s.flows[0].count = 2;
    s.flows[0].start_s = 0.25;
    let mut spy = Spy(vec![]);
    let r = Simulation::new(&s, &mut spy).unwrap().run();
    assert_eq!(spy.0.len(), 2);
    assert_eq!(spy.0[1].flow.0, 1);
    assert_eq!(spy.0[0].ipc_delay, SimTime::from_micros(35));
    assert_eq!(spy.0[0].start, SimTime::from_millis(250));
    assert_eq!(spy.0[0].packet_size, 1500);
    assert_eq!(spy.0[0].init_cwnd, 14_600);
    assert_eq!(r.summary.flows.len(), 2);
}
