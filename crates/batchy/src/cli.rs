//! `ccp batchy …`: `run FILE.toml` and `profile [MODULES]`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use tracing::info;

use crate::engine::ClockMode;

/// Clock choice on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClockArg {
    /// Real threads, modules really run.
    Real,
    /// Deterministic virtual time.
    Virtual,
}

impl From<ClockArg> for ClockMode {
    fn from(c: ClockArg) -> Self {
        match c {
            ClockArg::Real => ClockMode::Real,
            ClockArg::Virtual => ClockMode::Virtual,
        }
    }
}

/// The batchy subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum BatchyCmd {
    /// Run a pipeline described in a TOML file; log each control round, write the CSV
    /// dump and the PNG plot.
    Run {
        /// Pipeline description (TOML).
        file: PathBuf,
        /// Control rounds (overrides the file).
        #[arg(long)]
        rounds: Option<usize>,
        /// Control period in seconds (overrides the file).
        #[arg(long)]
        period: Option<f64>,
        /// Clock (overrides the file).
        #[arg(long, value_enum)]
        clock: Option<ClockArg>,
        /// Controller for every task (overrides the file).
        #[arg(long)]
        controller: Option<String>,
        /// Output directory for `<name>_stats.csv` and `<name>_stats.png`.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Profiler results (JSON) to use for modules without explicit T_0/T_1.
        #[arg(long)]
        profile: Option<PathBuf>,
        /// Skip the PNG plot.
        #[arg(long)]
        no_plot: bool,
    },
    /// Profile module types (batch sweep 1..32, linear regression) and write JSON.
    Profile {
        /// Module types (default: all profilable ones).
        modules: Vec<String>,
        /// Clock: real measures this machine; virtual reports the built-in model.
        #[arg(long, value_enum, default_value = "real")]
        clock: ClockArg,
        /// Calls per batch size.
        #[arg(long, default_value_t = 20_000)]
        calls: usize,
        /// Output JSON file.
        #[arg(long, default_value = "profiler_results.json")]
        out: PathBuf,
        /// TSC GHz used by Bypass.
        #[arg(long, default_value_t = crate::modules::BYPASS_RATIO)]
        tsc_ghz: f64,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .without_time()
        .with_target(false)
        .with_level(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Outcome classes of the CLI.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    Runtime(String),
}

/// Run a batchy subcommand; errors are printed as one line; exit status 2 on bad input.
pub fn main(cmd: BatchyCmd) -> ExitCode {
    init_logging();
    match run_cmd(cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::BadInput(m)) => {
            eprintln!("batchy: error: {m}");
            ExitCode::from(2)
        }
        Err(CliError::Runtime(m)) => {
            eprintln!("batchy: error: {m}");
            ExitCode::from(1)
        }
    }
}

fn run_cmd(cmd: BatchyCmd) -> Result<(), CliError> {
    match cmd {
        BatchyCmd::Run {
            file,
            rounds,
            period,
            clock,
            controller,
            out,
            profile,
            no_plot,
        } => {
            let mut loaded =
                crate::config::load_file(&file).map_err(|e| CliError::BadInput(e.to_string()))?;
            if let Some(c) = clock {
                loaded.batchy.settings.clock = c.into();
            }
            if let Some(p) = profile {
                let prof = crate::profiler::read_json(&p)
                    .map_err(|e| CliError::BadInput(e.to_string()))?;
                loaded.batchy.set_profile(prof.into_iter().collect());
            }
            if let Some(c) = controller {
                let mut i = 0;
                while let Some(name) = loaded.batchy.task_name(i) {
                    i += 1;
                    if let Some(t) = loaded.batchy.task_id(&name) {
                        loaded
                            .batchy
                            .set_controller(t, &c)
                            .map_err(|e| CliError::BadInput(e.to_string()))?;
                    }
                }
            }
            let rounds = rounds.unwrap_or(loaded.run.rounds);
            let period = period.unwrap_or(loaded.run.period);
            if period.is_nan() || period <= 0.0 {
                return Err(CliError::BadInput("--period must be > 0".into()));
            }
            let recs = loaded
                .batchy
                .run(rounds, period)
                .map_err(|e| CliError::BadInput(e.to_string()))?;
            let total: f64 =
                recs.iter().map(|r| r.round_fpps).sum::<f64>() / recs.len().max(1) as f64;
            info!("mean total flow rate: {:.3} Mpps", total / 1e6);
            std::fs::create_dir_all(&out)
                .map_err(|e| CliError::Runtime(format!("{}: {e}", out.display())))?;
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| "batchy".into());
            loaded
                .batchy
                .dump(&out.join(format!("{stem}_stats.csv")))
                .map_err(|e| CliError::Runtime(e.to_string()))?;
            if !no_plot {
                loaded
                    .batchy
                    .plot(&out.join(format!("{stem}_stats.png")))
                    .map_err(|e| CliError::Runtime(e.to_string()))?;
            }
            info!("Done.");
            Ok(())
        }
        BatchyCmd::Profile {
            modules,
            clock,
            calls,
            out,
            tsc_ghz,
        } => {
            let res =
                crate::profiler::profile(&modules, clock.into(), tsc_ghz, calls).map_err(|e| {
                    match e {
                        crate::profiler::ProfileError::Io(..) => CliError::Runtime(e.to_string()),
                        _ => CliError::BadInput(e.to_string()),
                    }
                })?;
            crate::profiler::write_json(&res, &out)
                .map_err(|e| CliError::Runtime(e.to_string()))?;
            info!(
                "profile: wrote {} module types to {}",
                res.len(),
                out.display()
            );
            Ok(())
        }
    }
}
