//! `ccp sim --python FILE.py`: a congestion-control algorithm written in Python on the
//! simulator.
//!
//! The scenario is built exactly as for `ccp sim` (`--scenario`, `--alg`, `--flows`,
//! `--duration`, `--seed`), with `python` — the file's algorithm — as the default
//! algorithm of every flow; it is then handed, as TOML, to `python -m portus sim`, which
//! runs the same simulator in-process with the algorithm registered next to the built-in
//! ones and prints the same table or JSON and writes the same CSV/plots. The Python
//! interpreter is `$PYTHON` (default `python3`) and needs the `portus` module
//! (`pip install ./crates/ccp-python`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use crate::sim::{Args, DEFAULT_OUT, apply_flows, one_line};
use ccp_sim::Scenario;

/// The Python interpreter to run.
fn python() -> String {
    std::env::var("PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".to_owned())
}

/// The scenario `ccp sim` would run, with `python` as the default algorithm; the error
/// is one line (exit status 2).
pub fn scenario(args: &Args) -> Result<Scenario, String> {
    if args.agent != "inproc" || args.realtime {
        return Err(
            "--python runs the algorithm with the in-process agent: drop --agent/--realtime".into(),
        );
    }
    let algs = if args.algs.is_empty() {
        vec!["python".to_owned()]
    } else {
        args.algs.clone()
    };
    let mut s = Scenario::load(&args.scenario).map_err(|e| one_line(&e.to_string()))?;
    s = apply_flows(s, &algs, args.flows).map_err(|e| e.to_string())?;
    if let Some(d) = args.duration {
        s = s.with_duration(d);
    }
    if let Some(seed) = args.seed {
        s = s.with_seed(seed);
    }
    Ok(s)
}

/// Run `ccp sim --python FILE`.
pub fn run(args: &Args, file: &Path) -> ExitCode {
    run_with(args, file, &python())
}

/// [`run`] with the interpreter given.
fn run_with(args: &Args, file: &Path, py: &str) -> ExitCode {
    let s = match scenario(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if !file.is_file() {
        eprintln!("error: --python {}: no such file", file.display());
        return ExitCode::from(2);
    }
    match Command::new(py)
        .args(["-c", "import portus"])
        .stdout(Stdio::null())
        .output()
    {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr);
            eprintln!(
                "error: `{py}` cannot import the portus module ({}); install it with \
                 `pip install ./crates/ccp-python` or set PYTHON to an interpreter that has it",
                why.lines().last().unwrap_or("").trim()
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("error: cannot run `{py}` ({e}); set PYTHON to a Python interpreter");
            return ExitCode::FAILURE;
        }
    }
    let toml = match s.to_toml() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tmp = std::env::temp_dir().join(format!("ccp-sim-python-{}.toml", std::process::id()));
    if let Err(e) = std::fs::write(&tmp, toml) {
        eprintln!("error: cannot write {}: {e}", tmp.display());
        return ExitCode::FAILURE;
    }
    let mut cmd = Command::new(py);
    cmd.args(["-m", "portus", "sim"])
        .arg(file)
        .arg("--scenario")
        .arg(&tmp)
        .arg("--keep-algorithms");
    let out: Option<PathBuf> = match (&args.out, args.json) {
        (Some(d), _) => Some(d.clone()),
        (None, false) => Some(PathBuf::from(DEFAULT_OUT)),
        (None, true) => None,
    };
    if let Some(d) = &out {
        cmd.arg("--out").arg(d);
    }
    if args.json {
        cmd.arg("--json");
    }
    let status = cmd.status();
    let _ = std::fs::remove_file(&tmp);
    match status {
        Ok(st) => match st.code() {
            Some(0) => ExitCode::SUCCESS,
            Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
            None => ExitCode::FAILURE,
        },
        Err(e) => {
            eprintln!("error: cannot run `{py}`: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(v: &[&str]) -> Args {
        let mut all = vec!["sim"];
        all.extend_from_slice(v);
        Cli::try_parse_from(all).unwrap().args
    }

    #[test]
    fn python_is_the_default_algorithm_and_the_scenario_options_apply() {
        let a = args(&["--python", "x.py", "--duration", "5", "--seed", "9"]);
        assert_eq!(a.python.as_deref(), Some(Path::new("x.py")));
        let s = scenario(&a).unwrap();
        assert_eq!((s.name.as_str(), s.duration_s, s.seed), ("fixed", 5.0, 9));
        assert_eq!(s.flows.len(), 1);
        assert_eq!(s.flows[0].alg, "python");
        let s = scenario(&args(&[
            "--python", "x.py", "--alg", "python", "--alg", "cubic",
        ]))
        .unwrap();
        let algs: Vec<_> = s.flows.iter().map(|f| f.alg.as_str()).collect();
        assert_eq!(algs, ["python", "cubic"]);
        // The TOML handed to Python reads back the same.
        let back = Scenario::from_toml(&s.to_toml().unwrap()).unwrap();
        assert_eq!(back.flows.len(), 2);
        assert_eq!(back.flows[1].alg, "cubic");
    }

    #[test]
    fn bad_input_is_refused_before_python_runs() {
        let e = scenario(&args(&["--python", "x.py", "--agent", "unix"])).unwrap_err();
        assert!(e.contains("in-process agent"), "{e}");
        let e = scenario(&args(&["--python", "x.py", "--scenario", "nope"])).unwrap_err();
        assert_eq!(e.lines().count(), 1, "{e}");
        let a = args(&["--python", "/nonexistent/alg.py"]);
        assert_eq!(
            run_with(&a, Path::new("/nonexistent/alg.py"), "python3"),
            ExitCode::from(2)
        );
    }

    #[test]
    fn a_missing_interpreter_is_an_error_not_a_panic() {
        let dir = std::env::temp_dir();
        let file = dir.join(format!("ccp-sim-python-test-{}.py", std::process::id()));
        std::fs::write(&file, "").unwrap();
        let a = args(&["--python", file.to_str().unwrap(), "--json"]);
        let code = run_with(&a, &file, "/nonexistent/python3");
        std::fs::remove_file(&file).unwrap();
        assert_eq!(code, ExitCode::FAILURE);
    }
}
