//! `ccp sim` as a user runs it: the binary, its output files, its errors, and an external
//! agent process (`ccp agent`) over unix sockets.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

fn ccp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ccp"))
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    ccp()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("ccp runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

#[test]
fn default_run_prints_the_table_and_where_the_plots_went() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(dir.path(), &["sim", "--duration", "5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("scenario fixed"), "{out}");
    assert!(
        out.contains("cubic") && out.contains("utilization"),
        "{out}"
    );
    assert!(out.contains("plots in ccp-sim-out/"), "{out}");
    for f in [
        "cwnd.png",
        "throughput.png",
        "queue_delay.png",
        "flows.csv",
        "link.csv",
    ] {
        let p = dir.path().join("ccp-sim-out").join(f);
        assert!(out.contains(&format!("ccp-sim-out/{f}")), "{f} not listed");
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(len > 100, "{} missing or empty", p.display());
    }
    // Not a terminal: no progress bar on stderr.
    assert!(!stderr(&o).contains("simulating"), "{}", stderr(&o));
}

#[test]
fn json_prints_only_the_summary_and_writes_files_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(
        dir.path(),
        &[
            "sim",
            "--json",
            "--alg",
            "reno",
            "--alg",
            "native-reno",
            "--duration",
            "5",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    let u = v["utilization"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&u) && u > 0.5, "{u}");
    let flows = v["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0]["alg"], "reno");
    assert_eq!(flows[1]["alg"], "native-reno");
    assert!(!dir.path().join("ccp-sim-out").exists());
    let o = run_in(
        dir.path(),
        &["sim", "--json", "--duration", "2", "--out", "here"],
    );
    assert!(o.status.success());
    json(&o);
    assert!(dir.path().join("here/cwnd.png").exists());
}

#[test]
fn bad_input_is_one_error_line_and_exit_status_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "duration_s = \n[link]\n").unwrap();
    std::fs::write(
        dir.path().join("link.toml"),
        "[link]\nrate_mbps = -5\ndelay_ms = 10\nqueue_packets = 100\n[[flow]]\nalg = \"reno\"\n",
    )
    .unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["sim", "--alg", "nope"], "\"nope\""),
        (&["sim", "--scenario", "bad.toml"], "TOML"),
        (&["sim", "--scenario", "link.toml"], "link.rate_mbps"),
        (&["sim", "--scenario", "nowhere"], "unknown scenario"),
        (&["sim", "--duration", "-1"], "duration_s"),
        (
            &["sim", "--alg", "reno", "--alg", "cubic", "--flows", "3"],
            "--flows 3",
        ),
        (&["sim", "--agent", "tcp"], "--agent"),
    ];
    for (args, needle) in cases {
        let o = run_in(dir.path(), args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(needle),
            "{args:?}: {err}"
        );
        assert!(stdout(&o).is_empty());
        assert!(!err.contains("panicked"));
    }
    // The unknown-algorithm error lists what exists, agent-steered and native.
    let o = run_in(dir.path(), &["sim", "--alg", "nope"]);
    for n in ["cubic", "bbr", "native-cubic"] {
        assert!(stderr(&o).contains(n));
    }
}

/// An agent process, stopped with SIGTERM when dropped.
struct Agent {
    child: Option<Child>,
    path: PathBuf,
}

impl Agent {
    fn start(alg: &str) -> Agent {
        // Unique per test: tests run in parallel in one process.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("h8-sim-test-{}-{n}", std::process::id());
        let path = PathBuf::from("/tmp/ccp").join(&name);
        let _ = std::fs::remove_file(&path);
        let child = ccp()
            .args(["agent", "--alg", alg, "--name", &name])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("agent starts");
        // Wait (bounded) until the agent has bound its socket.
        let t0 = Instant::now();
        while !path.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "agent never bound {path:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Agent {
            child: Some(child),
            path,
        }
    }

    fn stop(mut self) -> (bool, String) {
        let child = self.child.take().expect("running");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal");
        let out = child.wait_with_output().expect("agent exits");
        let removed = !self.path.exists();
        (
            out.status.success() && removed,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // A failed test: do not leave the agent running.
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn external_agent_over_unix_sockets_gives_the_in_process_results() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start("reno");
    let spec = format!("unix:{}", agent.path.display());
    let o = run_in(
        dir.path(),
        &[
            "sim",
            "--agent",
            &spec,
            "--alg",
            "reno",
            "--json",
            "--duration",
            "60",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (clean, agent_log) = agent.stop();
    assert!(clean, "agent did not stop cleanly: {agent_log}");
    assert!(agent_log.contains("1 flows created"), "{agent_log}");
    let ext = json(&o);
    let inproc = json(&run_in(
        dir.path(),
        &["sim", "--alg", "reno", "--json", "--duration", "60"],
    ));
    let close = |what: &str, a: f64, b: f64| {
        eprintln!("{what}: unix {a:.4}, in-process {b:.4}");
        assert!((a / b - 1.0).abs() <= 0.05, "{what}: {a} vs {b}");
    };
    close(
        "throughput",
        ext["flows"][0]["throughput_bps"].as_f64().unwrap(),
        inproc["flows"][0]["throughput_bps"].as_f64().unwrap(),
    );
    close(
        "utilization",
        ext["utilization"].as_f64().unwrap(),
        inproc["utilization"].as_f64().unwrap(),
    );
    close(
        "mean queueing delay",
        ext["queue_delay_mean_ms"].as_f64().unwrap(),
        inproc["queue_delay_mean_ms"].as_f64().unwrap(),
    );
    assert!(ext["utilization"].as_f64().unwrap() >= 0.95);
}

#[test]
fn external_agent_in_real_time_gives_the_in_process_results() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start("cubic");
    let spec = format!("unix:{}", agent.path.display());
    let args = ["sim", "--alg", "cubic", "--json", "--duration", "3"];
    let mut with_agent = args.to_vec();
    with_agent.extend(["--agent", &spec, "--realtime"]);
    let o = run_in(dir.path(), &with_agent);
    assert!(o.status.success(), "{}", stderr(&o));
    let (clean, log) = agent.stop();
    assert!(clean, "{log}");
    let ext = json(&o);
    let inproc = json(&run_in(dir.path(), &args));
    let (a, b) = (
        ext["flows"][0]["throughput_bps"].as_f64().unwrap(),
        inproc["flows"][0]["throughput_bps"].as_f64().unwrap(),
    );
    assert!((a / b - 1.0).abs() <= 0.05, "{a} vs {b}");
    // --realtime is for external agents only.
    let o = run_in(dir.path(), &["sim", "--realtime"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn unix_agent_missing_is_reported_not_hung() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(
        dir.path(),
        &[
            "sim",
            "--agent",
            "unix:/tmp/ccp/h8-nobody-listens",
            "--duration",
            "1",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no agent at /tmp/ccp/h8-nobody-listens"));
}
