//! `ccp sim`: run congestion-control algorithms on a simulated link.
//!
//! Every `ccp-algs` algorithm runs agent-steered — the real datapath library invoked per
//! ACK, the real agent (in-process by default, or an external one with `--agent unix`) —
//! and the in-datapath references (`native-reno`, …) run inside the simulated sender.
//! A progress bar on stderr while it runs (not with `--json`, nor when stderr is not a
//! terminal), then the summary table, CSV time series and PNG plots.
//!
//! Bad input (unknown scenario or algorithm, malformed TOML, impossible link parameters,
//! inconsistent flags) prints one `error: …` line and exits with status 2.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::LazyLock;
use std::time::Duration;

use ccp_sim::ccp::{AgentMode, CcpFactory, UnixOptions};
use ccp_sim::{FlowSpec, Scenario, Simulation};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where plots and CSV go when `--out` is not given (and `--json` is not set).
pub const DEFAULT_OUT: &str = "ccp-sim-out";

static ALGORITHMS_HELP: LazyLock<String> = LazyLock::new(|| {
    let mut s = String::from("Algorithms (--alg):\n");
    for (name, desc) in CcpFactory::new(AgentMode::InProcess).describe() {
        s.push_str(&format!("  {name:<18} {desc}\n"));
    }
    s.push_str(
        "\nScenarios (--scenario): fixed (96 Mbit/s, 10 ms, 160-packet queue), cell (Verizon LTE \
         trace, 100 packets), drop (fixed + 0.01 % loss), bbr-demo (48 Mbit/s, 10 ms, 160 \
         packets), or a TOML file (see docs/sim.md).",
    );
    s
});

/// The algorithm and scenario list shown after `ccp sim --help`.
pub fn algorithms_help() -> &'static str {
    ALGORITHMS_HELP.as_str()
}

/// Arguments of `ccp sim`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario: fixed, cell, drop, bbr-demo, or a TOML file.
    #[arg(long, default_value = "fixed", value_name = "NAME|FILE.toml")]
    pub scenario: String,
    /// Algorithm: once for all flows, or once per flow (repeatable). Default: the
    /// scenario's (cubic for the built-in ones).
    #[arg(long = "alg", value_name = "NAME")]
    pub algs: Vec<String>,
    /// Number of flows (for a scenario file with several flow entries and no `--alg`: of
    /// each entry).
    #[arg(long)]
    pub flows: Option<u32>,
    /// Simulated seconds.
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    pub duration: Option<f64>,
    /// Random seed (link loss and jitter).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where the agent runs: `inproc` (the ccp-agent core inside the simulation, on virtual
    /// time) or `unix[:PATH]` (an external agent process, default `/tmp/ccp/portus`).
    #[arg(long, default_value = "inproc", value_name = "inproc|unix[:PATH]")]
    pub agent: String,
    /// With `--agent unix`: also keep simulated time from running ahead of the wall clock
    /// (for agents whose algorithms use their own clock; a 60 s run takes 60 s).
    #[arg(long)]
    pub realtime: bool,
    /// Write CSV time series and PNG plots (cwnd, throughput, queueing delay) here
    /// (default without `--json`: ./ccp-sim-out).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print only the JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
    /// Run an algorithm written in Python: FILE.py defines it (docs/python.md). It is the
    /// algorithm `python`, the default of every flow (`--alg` may mix it with built-in
    /// ones). Runs through `$PYTHON -m portus` (default `python3`; needs the `portus`
    /// module: `pip install ./crates/ccp-python`); in-process agent only.
    #[arg(long, value_name = "FILE.py")]
    pub python: Option<PathBuf>,
}

/// A bad-input error: one line, exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(String);

/// Parse `--agent`.
pub fn parse_agent(spec: &str, realtime: bool) -> Result<AgentMode, BadInput> {
    match spec {
        "inproc" if !realtime => Ok(AgentMode::InProcess),
        "inproc" => Err(BadInput(
            "--realtime applies to --agent unix only (the in-process agent runs on simulated time)"
                .into(),
        )),
        "unix" => Ok(AgentMode::Unix(UnixOptions {
            realtime,
            ..UnixOptions::default()
        })),
        s => match s.strip_prefix("unix:") {
            Some(p) if !p.is_empty() => Ok(AgentMode::Unix(UnixOptions {
                realtime,
                ..UnixOptions::agent_at(p)
            })),
            _ => Err(BadInput(format!(
                "--agent {s:?}: expected inproc, unix or unix:PATH"
            ))),
        },
    }
}

/// Apply `--alg` and `--flows` to the scenario's flows.
///
/// * no `--alg`: `--flows N` sets the count of every flow entry (the built-in scenarios
///   have one);
/// * one `--alg`: every flow runs it; with `--flows N`, N flows of it (a scenario with one
///   flow entry keeps its start time and parameters);
/// * several `--alg`: one flow each (`--flows`, if given, must equal their number); a
///   scenario with exactly that many flow entries keeps their timing and parameters.
pub fn apply_flows(
    mut s: Scenario,
    algs: &[String],
    flows: Option<u32>,
) -> Result<Scenario, BadInput> {
    if flows == Some(0) {
        return Err(BadInput("--flows must be at least 1".into()));
    }
    match (algs.len(), flows) {
        (0, None) => Ok(s),
        (0, Some(n)) => Ok(s.with_flow_count(n)),
        (1, n) => {
            let alg = &algs[0];
            if s.flows.is_empty() {
                s.flows.push(FlowSpec::new(alg));
            }
            match n {
                None => {
                    for f in &mut s.flows {
                        f.alg = alg.clone();
                    }
                    Ok(s)
                }
                Some(n) if s.flows.len() == 1 => {
                    s.flows[0].alg = alg.clone();
                    Ok(s.with_flow_count(n))
                }
                Some(n) => Ok(s.with_algorithms(&vec![alg.clone(); n as usize])),
            }
        }
        (k, Some(n)) if k != n as usize => Err(BadInput(format!(
            "--alg given {k} times but --flows {n}: give one --alg for all flows or one per flow"
        ))),
        (k, _) => {
            let count: u32 = s.flows.iter().map(|f| f.count).sum();
            if s.flows.len() == k && count as usize == k {
                for (f, a) in s.flows.iter_mut().zip(algs) {
                    f.alg = a.clone();
                }
                Ok(s)
            } else {
                Ok(s.with_algorithms(algs))
            }
        }
    }
}

/// A multi-line message (toml's errors carry the source line and a caret) as one line.
pub fn one_line(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with('|')
                && !l.split_once('|').is_some_and(|(n, _)| {
                    !n.is_empty() && n.trim().chars().all(|c| c.is_ascii_digit())
                })
        })
        .collect::<Vec<_>>()
        .join(": ")
}

/// Build the scenario and the factory from the arguments.
pub fn prepare(args: &Args) -> Result<(Scenario, CcpFactory), BadInput> {
    let mode = parse_agent(&args.agent, args.realtime)?;
    let mut s = Scenario::load(&args.scenario).map_err(|e| BadInput(one_line(&e.to_string())))?;
    s = apply_flows(s, &args.algs, args.flows)?;
    if let Some(d) = args.duration {
        s = s.with_duration(d);
    }
    if let Some(seed) = args.seed {
        s = s.with_seed(seed);
    }
    Ok((s, CcpFactory::new(mode)))
}

fn progress_bar(json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} simulating [{bar:40}] {percent:>3}% {msg} ({elapsed})",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

fn write_outputs(results: &ccp_sim::Results, dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut paths = results
        .write_csv(dir)
        .map_err(|e| format!("cannot write CSV to {}: {e}", dir.display()))?;
    paths.extend(
        results
            .write_plots(dir)
            .map_err(|e| format!("cannot write plots to {}: {e}", dir.display()))?,
    );
    Ok(paths)
}

/// Run `ccp sim`.
pub fn run(args: &Args) -> ExitCode {
    if let Some(file) = &args.python {
        return crate::sim_python::run(args, file);
    }
    let (scenario, mut factory) = match prepare(args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let AgentMode::Unix(o) = factory.mode()
        && !o.agent.exists()
    {
        eprintln!(
            "error: no agent at {} (start one first, e.g. `ccp agent --alg reno`)",
            o.agent.display()
        );
        return ExitCode::FAILURE;
    }
    let sim = match Simulation::new(&scenario, &mut factory) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", one_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    let pb = progress_bar(args.json);
    let wall = std::time::Instant::now();
    let results = sim.run_with_progress(&mut |p| {
        pb.set_position((p.fraction() * 1000.0) as u64);
        pb.set_message(format!("{:.1} s", p.now.as_secs_f64()));
    });
    pb.finish_and_clear();
    let wall = wall.elapsed();
    let out = match (&args.out, args.json) {
        (Some(d), _) => Some(d.clone()),
        (None, false) => Some(PathBuf::from(DEFAULT_OUT)),
        (None, true) => None,
    };
    let written = match out.as_deref().map(|d| write_outputs(&results, d)) {
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        Some(Ok(p)) => p,
        None => Vec::new(),
    };
    if args.json {
        println!("{}", results.summary.to_json());
        return ExitCode::SUCCESS;
    }
    print!("{}", results.summary);
    println!(
        "simulated {:.1} s in {:.2} s ({:.0}× real time)",
        results.summary.duration_s,
        wall.as_secs_f64(),
        results.summary.duration_s / wall.as_secs_f64().max(1e-9)
    );
    if let Some(run) = factory.last_run()
        && let Some(u) = run.unix
    {
        println!(
            "external agent: {} messages sent, {} received, {} of {} waits unanswered, {} send errors",
            u.sent, u.received, u.unanswered, u.waits, u.send_errors
        );
    }
    let (plots, csv): (Vec<_>, Vec<_>) = written
        .iter()
        .partition(|p| p.extension().is_some_and(|e| e == "png"));
    if let Some(dir) = out {
        println!("plots in {}/:", dir.display());
        for p in plots {
            println!("  {}", p.display());
        }
        for p in csv {
            println!("  {}", p.display());
        }
    }
    ExitCode::SUCCESS
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
    fn defaults_are_fixed_with_cubic_and_the_in_process_agent() {
        let a = args(&[]);
        let (s, f) = prepare(&a).unwrap();
        assert_eq!(s.name, "fixed");
        assert_eq!(s.flows.len(), 1);
        assert_eq!(s.flows[0].alg, "cubic");
        assert_eq!(f.mode(), &AgentMode::InProcess);
        assert!(!a.json && a.out.is_none());
    }

    #[test]
    fn agent_specs() {
        assert_eq!(parse_agent("inproc", false).unwrap(), AgentMode::InProcess);
        match parse_agent("unix", false).unwrap() {
            AgentMode::Unix(o) => assert_eq!(o.agent, PathBuf::from("/tmp/ccp/portus")),
            m => panic!("{m:?}"),
        }
        match parse_agent("unix:/tmp/ccp/x", true).unwrap() {
            AgentMode::Unix(o) => {
                assert_eq!(o.agent, PathBuf::from("/tmp/ccp/x"));
                assert!(o.realtime);
            }
            m => panic!("{m:?}"),
        }
        assert!(parse_agent("unix:", false).is_err());
        assert!(parse_agent("tcp", false).is_err());
        assert!(parse_agent("inproc", true).is_err());
    }

    #[test]
    fn algs_and_flows() {
        let fixed = || Scenario::builtin("fixed").unwrap();
        let s = apply_flows(fixed(), &["bbr".into()], None).unwrap();
        assert_eq!(s.flows.len(), 1);
        assert_eq!(s.flows[0].alg, "bbr");
        let s = apply_flows(fixed(), &["bbr".into()], Some(3)).unwrap();
        assert_eq!((s.flows.len(), s.flows[0].count), (1, 3));
        let s = apply_flows(fixed(), &[], Some(2)).unwrap();
        assert_eq!((s.flows[0].alg.as_str(), s.flows[0].count), ("cubic", 2));
        let two = vec!["reno".to_string(), "native-reno".to_string()];
        let s = apply_flows(fixed(), &two, None).unwrap();
        assert_eq!(s.flows.len(), 2);
        assert_eq!(s.flows[1].alg, "native-reno");
        assert!(apply_flows(fixed(), &two, Some(2)).is_ok());
        let e = apply_flows(fixed(), &two, Some(3)).unwrap_err();
        assert!(e.to_string().contains("--flows 3"), "{e}");
        assert!(apply_flows(fixed(), &[], Some(0)).is_err());
        // A two-flow scenario keeps its timing when given two algorithms.
        let mut sc = fixed();
        sc.flows.push(FlowSpec {
            start_s: 5.0,
            ..FlowSpec::new("cubic")
        });
        let s = apply_flows(sc, &two, None).unwrap();
        assert_eq!(
            (s.flows[1].alg.as_str(), s.flows[1].start_s),
            ("native-reno", 5.0)
        );
    }

    #[test]
    fn toml_errors_become_one_line() {
        let e = Scenario::from_toml("duration_s = \n[link]\n").unwrap_err();
        let l = one_line(&e.to_string());
        assert!(!l.contains('\n'));
        assert!(l.contains("line 1"), "{l}");
        assert_eq!(
            one_line("a\n  |\n3 | x = \n  |   ^\nexpected b"),
            "a: expected b"
        );
    }

    #[test]
    fn help_lists_agent_steered_and_native_algorithms() {
        let h = algorithms_help();
        for n in [
            "reno",
            "cubic",
            "bbr",
            "copa",
            "vegas",
            "native-reno",
            "native-cubic",
        ] {
            assert!(h.contains(&format!("  {n} ")), "{n} missing:\n{h}");
        }
    }
}
