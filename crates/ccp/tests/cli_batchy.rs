//! `ccp batchy …` through the real binary: wiring, outputs, and bad-input handling.

use std::process::Command;

fn ccp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ccp"))
}

fn repo_file(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

#[test]
fn batchy_run_writes_the_per_round_dump_with_the_originals_column_names() {
    let out = tempfile::tempdir().unwrap();
    let res = ccp()
        .args(["batchy", "run"])
        .arg(repo_file("configs/batchy/simple_pipeline.toml"))
        .args(["--rounds", "3", "--clock", "virtual", "--no-plot", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "ccp batchy run failed: {stderr}");
    assert!(
        stderr.contains("CONTROL ROUND"),
        "per-round log missing: {stderr}"
    );
    let csv = std::fs::read_to_string(out.path().join("simple_pipeline_stats.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    for col in [
        "flow1:delay",
        "flow2:delay",
        "bypass1:control",
        "flow1:delay_slo",
    ] {
        assert!(header.split(',').any(|c| c == col), "{col} not in {header}");
    }
    // One row per round.
    assert_eq!(csv.lines().count(), 1 + 3);
}

#[test]
fn batchy_malformed_config_is_one_clear_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[workers]\nname = 1\n").unwrap();
    let res = ccp().args(["batchy", "run"]).arg(&bad).output().unwrap();
    assert_eq!(res.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("bad.toml"), "{stderr}");
}
