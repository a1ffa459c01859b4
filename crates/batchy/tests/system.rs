//! SYS-1/2/3 on the virtual clock, config errors and the CLI.

use batchy::config::{ConfigError, load_str};
use batchy::{Batchy, RoundRecord};

const SIMPLE: &str = include_str!("../../../configs/batchy/simple_pipeline.toml");

fn load(text: &str, controller: Option<&str>) -> Batchy {
    let mut l = load_str(text, "test.toml").unwrap();
    if let Some(c) = controller {
        let t = l.batchy.task_id("task0").unwrap();
        l.batchy.set_controller(t, c).unwrap();
    }
    l.batchy
}

fn mean_rate(h: &[RoundRecord]) -> f64 {
    h.iter().map(|r| r.round_fpps).sum::<f64>() / h.len() as f64
}

fn generated(kind: &str, extra: &str, controller: &str) -> String {
    format!(
        "[run]\nperiod = 0.02\nwarmup = 0.05\n[pipeline]\nkind = \"{kind}\"\ncontroller = \"{controller}\"\n{extra}\n"
    )
}

#[test]
fn sys1_simple_pipeline_converges_and_meets_slo() {
    let mut b = load(SIMPLE, None);
    let h = b.run(25, 0.02).unwrap().to_vec();
    let settle = h
        .iter()
        .position(|r| !r.changed)
        .expect("no no-change round");
    assert!(settle < 5, "first no-change round: {settle}");
    let after = &h[settle..];
    let ok = after
        .iter()
        .filter(|r| r.flows.iter().all(|f| f.delay <= 1.05 * f.delay_slo))
        .count();
    assert!(
        ok * 100 >= 95 * after.len(),
        "{ok}/{} rounds within SLO",
        after.len()
    );
    let mut null = load(SIMPLE, Some("null"));
    let hn = null.run(25, 0.02).unwrap().to_vec();
    let (pg, nl) = (mean_rate(after), mean_rate(&hn[settle..]));
    assert!(pg >= nl, "projgrad {pg} < null {nl}");
    println!(
        "SYS-1: settled at round {settle}; projgrad {:.3} Mpps vs null {:.3} Mpps",
        pg / 1e6,
        nl / 1e6
    );
}

fn tree_gain(leaves: usize) -> (f64, f64) {
    let extra = format!(
        "leaves = {leaves}\ncycles_per_batch = 1000\ncycles_per_packet = 100\ndelay_slo = 5000000\ncontrolled = true"
    );
    let mut pg = load(&generated("tree", &extra, "projgrad"), None);
    let mut nl = load(&generated("tree", &extra, "null"), None);
    let hp = pg.run(12, 0.02).unwrap().to_vec();
    let hn = nl.run(12, 0.02).unwrap().to_vec();
    let p = mean_rate(&hp[6..]);
    let n = mean_rate(&hn[6..]);
    let l = leaves as f64;
    let e = l * (1.0 - (1.0 - 1.0 / l).powi(32));
    // c = per-packet cost outside the leaves, measured from the Null run.
    let c = 1e9 / n - (400.0 * e / 32.0 + 40.0);
    let predicted = (400.0 * e / 32.0 + 40.0 + c) / (400.0 / 32.0 + 40.0 + c);
    println!(
        "SYS-2 L={leaves}: projgrad {:.3} Mpps, null {:.3} Mpps, gain {:.2}, model {:.2} (c = {c:.1} ns)",
        p / 1e6,
        n / 1e6,
        p / n,
        predicted
    );
    (p / n, predicted)
}

#[test]
fn sys2_tree_gain_matches_model() {
    for leaves in [8, 16] {
        let (gain, predicted) = tree_gain(leaves);
        assert!(
            gain >= 0.8 * predicted,
            "L={leaves}: gain {gain:.2} < 0.8 x {predicted:.2}"
        );
    }
}

#[test]
fn sys3_l2l3_16_slo_awareness() {
    let base = "next_hops = 16";
    let mut null = load(&generated("l2l3", base, "null"), None);
    let hn = null.run(10, 0.02).unwrap().to_vec();
    let null_p95 = hn[2..]
        .iter()
        .flat_map(|r| r.flows.iter().map(|f| f.delay))
        .fold(0.0, f64::max);
    let slo = 2.0 * null_p95;
    let with_slo = format!("{base}\ndelay_slo = {slo}");
    let mut max = load(&generated("l2l3", &with_slo, "max"), None);
    let hm = max.run(10, 0.02).unwrap().to_vec();
    let max_viol = hm[2..]
        .iter()
        .filter(|r| r.flows.iter().any(|f| f.delay > slo))
        .count();
    assert!(
        max_viol * 2 > hm.len() - 2,
        "Max violates in only {max_viol} rounds"
    );
    let mut pg = load(&generated("l2l3", &with_slo, "projgrad"), None);
    let hp = pg.run(25, 0.02).unwrap().to_vec();
    let tail = &hp[5..];
    let ok = tail
        .iter()
        .filter(|r| r.flows.iter().all(|f| f.delay <= 1.05 * slo))
        .count();
    assert!(
        ok * 100 >= 90 * tail.len(),
        "projgrad within SLO in {ok}/{} rounds",
        tail.len()
    );
    let (p, n) = (mean_rate(tail), mean_rate(&hn[2..]));
    assert!(p > n, "projgrad {p} <= null {n}");
    println!(
        "SYS-3: SLO {slo:.0} ns; Max violates {max_viol}/{} rounds; projgrad {:.3} Mpps (within SLO {ok}/{}), null {:.3} Mpps",
        hm.len() - 2,
        p / 1e6,
        tail.len(),
        n / 1e6
    );
}

fn err(text: &str) -> String {
    match load_str(text, "bad.toml") {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn config_errors_name_the_place() {
    let e = err("[run\nrounds = 3");
    assert!(e.starts_with("bad.toml"), "{e}");
    assert!(e.contains("line"), "{e}");
    let unknown = SIMPLE.replace("type = \"RandomSplit\"", "type = \"Frobnicate\"");
    let e = err(&unknown);
    assert!(
        e.contains("module #1 (\"splitter\")") && e.contains("Frobnicate"),
        "{e}"
    );
    let cyclic = format!("{SIMPLE}\n[[edge]]\nfrom = \"bypass1:0\"\nto = \"splitter\"\n");
    let mut l = load_str(&cyclic, "cyc.toml").unwrap();
    let e = l.batchy.run(1, 0.01).unwrap_err().to_string();
    assert!(e.contains("cyclic graph in task \"task0\""), "{e}");
    assert!(e.contains("splitter -> bypass1 -> splitter"), "{e}");
    let e = err(&SIMPLE.replace("gates = 2", "gates = \"two\""));
    assert!(e.contains("splitter"), "{e}");
    let e = err(&SIMPLE.replace("controller = \"projgrad\"", "controller = \"magic\""));
    assert!(e.contains("task #1") && e.contains("magic"), "{e}");
    assert!(matches!(
        load_str("[bogus]\n", "x.toml"),
        Err(ConfigError::Parse { .. })
    ));
}

#[test]
fn cli_run_writes_dump_and_plot_and_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("simple.toml");
    std::fs::write(&cfg, SIMPLE).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_batchy"))
        .args([
            "run",
            cfg.to_str().unwrap(),
            "--rounds",
            "3",
            "--period",
            "0.01",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("*** CONTROL ROUND: 1..., cumulative flow rate: 0 pps"),
        "{log}"
    );
    assert!(log.contains("PULLING"), "{log}");
    let csv = std::fs::read_to_string(dir.path().join("simple_stats.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    for col in [
        "bypass1:control",
        "flow1:delay",
        "flow1:delay_estimate",
        "flow2:pps",
        "task0:t_0",
        "sum_fpps",
        "ctrlr_deadtime",
    ] {
        assert!(
            header.split(',').any(|c| c == col),
            "missing {col} in {header}"
        );
    }
    assert_eq!(csv.lines().count(), 4);
    let png = std::fs::read(dir.path().join("simple_stats.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[module]]\nname = 3").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_batchy"))
        .args(["run", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("batchy: error:") && err.contains("bad.toml"),
        "{err}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_batchy"))
        .args(["run", "/nonexistent/x.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn pcap_source_replays_in_a_loop() {
    use pcap_file::pcap::{PcapPacket, PcapWriter};
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("t.pcap");
    {
        let f = std::fs::File::create(&pcap).unwrap();
        let mut w = PcapWriter::new(f).unwrap();
        for i in 0..5u8 {
            let frame = batchy::packet::Template {
                dst_ip: [10, 0, 1, i],
                ..batchy::packet::Template::default()
            }
            .build();
            w.write_packet(&PcapPacket::new(
                std::time::Duration::from_micros(u64::from(i)),
                frame.len() as u32,
                &frame,
            ))
            .unwrap();
        }
    }
    let text = format!(
        "{SIMPLE}\n[[source]]\nflows = [\"flow1\"]\npcap = {:?}\n",
        pcap.to_str().unwrap()
    );
    let mut l = load_str(&text, "pcap.toml").unwrap();
    let h = l.batchy.run(2, 0.01).unwrap().to_vec();
    // Only the pcap source feeds the pipeline: all packets are attributed by egress.
    let total: f64 = h[1].flows.iter().map(|f| f.pps).sum();
    assert!(total > 1e6, "pcap replay rate {total}");
    let bad = format!("{SIMPLE}\n[[source]]\nflows = [\"flow1\"]\npcap = \"/nonexistent.pcap\"\n");
    let mut l = load_str(&bad, "pcap.toml").unwrap();
    let e = l.batchy.run(1, 0.01).unwrap_err().to_string();
    assert!(e.contains("/nonexistent.pcap"), "{e}");
}

#[test]
fn onoff_and_feasdir_drive_the_engine() {
    for (ctrl, want) in [
        ("onoff", 32),
        ("feasdir", 32),
        ("fix7", 7),
        ("max", 32),
        ("null", 0),
    ] {
        let mut b = load(SIMPLE, Some(ctrl));
        let h = b.run(8, 0.02).unwrap().to_vec();
        let last = h.last().unwrap();
        let q: Vec<u32> = last.modules.iter().map(|m| m.control).collect();
        assert!(q.iter().all(|&x| x == want), "{ctrl}: {q:?}");
        assert!(
            last.flows.iter().all(|f| f.delay <= f.delay_slo),
            "{ctrl}: SLO violated"
        );
        if want > 0 {
            // buffered modules execute batches of exactly q packets
            assert!(
                last.modules
                    .iter()
                    .all(|m| (m.b_v - f64::from(want)).abs() < 0.5),
                "{ctrl}"
            );
        }
    }
}

#[test]
fn two_tasks_on_two_workers_through_a_queue() {
    let text = r#"
[run]
period = 0.02
[[worker]]
name = "w0"
[[worker]]
name = "w1"
[[task]]
name = "task0"
worker = "w0"
controller = "projgrad"
[[task]]
name = "task1"
worker = "w1"
controller = "max"
[[module]]
name = "split"
task = "task0"
type = "RandomSplit"
gates = 2
[[module]]
name = "nf1"
task = "task0"
type = "Bypass"
T_0 = 500
T_1 = 20
[[module]]
name = "q1"
task = "task0"
type = "Queue"
to_task = "task1"
[[module]]
name = "nf2"
task = "task0"
type = "Bypass"
T_0 = 500
T_1 = 20
[[module]]
name = "nf3"
task = "task1"
type = "Bypass"
T_0 = 300
T_1 = 10
[[edge]]
from = "split:0"
to = "nf1"
[[edge]]
from = "split:1"
to = "nf2"
[[edge]]
from = "nf1"
to = "q1"
[[flow]]
name = "far"
path = ["split", "nf1", "q1", "nf3"]
delay_slo = 200000
[[flow]]
name = "near"
path = ["split", "nf2"]
delay_slo = 100000
"#;
    let mut l = load_str(text, "two.toml").unwrap();
    let h = l.batchy.run(6, 0.02).unwrap().to_vec();
    let last = h.last().unwrap();
    let far = last.flows.iter().find(|f| f.name == "far").unwrap();
    let near = last.flows.iter().find(|f| f.name == "near").unwrap();
    assert!(
        far.pps > 1e5 && near.pps > 1e5,
        "far {} near {}",
        far.pps,
        near.pps
    );
    assert!(far.delay > 0.0 && far.delay <= 200_000.0);
    let nf3 = last.modules.iter().find(|m| m.name == "nf3").unwrap();
    assert_eq!(nf3.control, 32, "task1 runs Max");
}

#[test]
fn rate_slo_limits_the_source() {
    let text = SIMPLE
        .replace(
            "delay_slo = 55000\n",
            "delay_slo = 55000\nrate_slo = { packet = 500000 }\n",
        )
        .replace(
            "delay_slo = 100000\n",
            "delay_slo = 100000\nrate_slo = { bit = 240000000 }\n",
        );
    let mut l = load_str(&text, "rate.toml").unwrap();
    let h = l.batchy.run(6, 0.02).unwrap().to_vec();
    // one source for both flows, limited to 0.5 M + 240 Mbit/s / 480 bit = 1 Mpps total
    let total = h.last().unwrap().round_fpps;
    assert!((total - 1.0e6).abs() < 0.05e6, "total {total}");
}

#[test]
fn bad_sources_and_gates_are_errors_not_panics() {
    let mut l = load_str(&format!("{SIMPLE}\n[[source]]\nflows = []\n"), "s.toml").unwrap();
    let e = l.batchy.run(1, 0.01).unwrap_err().to_string();
    assert!(e.contains("source #0"), "{e}");
    let e = err(&format!(
        "{SIMPLE}\n[[edge]]\nfrom = \"bypass1:99999\"\nto = \"bypass2\"\n"
    ));
    assert!(
        e.contains("edge #3") && e.contains("gate index out of range"),
        "{e}"
    );
    let e = err(&format!(
        "{SIMPLE}\n[[edge]]\nfrom = \"bypass1:x\"\nto = \"bypass2\"\n"
    ));
    assert!(e.contains("edge #3"), "{e}");
    let e = err(&format!(
        "{SIMPLE}\n[[flow]]\nname = \"f3\"\npath = [\"nope\"]\n"
    ));
    assert!(e.contains("flow #3") && e.contains("nope"), "{e}");
}

mod mutated_configs {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Deleting or garbling config lines gives an error or a working pipeline, never a
        /// panic.
        #[test]
        fn never_panics(drop_line in 0usize..80, garble in 0usize..80, junk in "[a-z=\\[\\]\"0-9:. ]{0,12}") {
            let text: String = SIMPLE
                .lines()
                .enumerate()
                .filter(|(i, _)| *i != drop_line)
                .map(|(i, l)| if i == garble { junk.clone() } else { l.to_string() })
                .collect::<Vec<_>>()
                .join("\n");
            if let Ok(mut l) = load_str(&text, "m.toml") {
                l.batchy.settings.warmup = 0.0;
                let _ = l.batchy.run(1, 0.001);
            }
        }
    }
}
