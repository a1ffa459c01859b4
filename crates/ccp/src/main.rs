//! The `ccp` command-line tool.
//!
//! Each subcommand lives in its own module and exposes an `Args` struct (clap derive)
//! and a `run(&Args) -> ExitCode` function; `main` only dispatches.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

mod agent;
mod compile;
mod sim;
mod sim_python;

/// Command-line interface of the CCP tools.
#[derive(Debug, Parser)]
#[command(name = "ccp", version, about = "Congestion Control Plane tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Compile a datapath program and print its listing or its INSTALL message.
    Compile(compile::Args),
    /// Run the CCP agent with a built-in algorithm (Ctrl-C stops it).
    Agent(agent::Args),
    /// Simulate algorithms on a link: summary table, CSV and plots (default: fixed, cubic).
    #[command(after_help = sim::algorithms_help())]
    Sim(sim::Args),
    /// Batchy: run packet pipelines under SLO-aware batch controllers, or profile modules.
    #[command(subcommand)]
    Batchy(batchy::cli::BatchyCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Compile(args) => {
            init_logging();
            compile::run(&args)
        }
        Command::Agent(args) => {
            init_logging();
            agent::run(&args)
        }
        Command::Sim(args) => {
            init_logging();
            sim::run(&args)
        }
        // Batchy logs each control round at `info` by default and sets up its own logging.
        Command::Batchy(cmd) => batchy::cli::main(cmd),
    }
}

/// Logs go to stderr, filtered by `RUST_LOG`.
fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["ccp", "compile", "x.ccp", "--uid", "9", "--format", "hex"])
            .unwrap();
        match cli.command {
            Command::Compile(a) => {
                assert_eq!((a.uid, a.format), (9, compile::Format::Hex));
            }
            other => panic!("expected compile, got {other:?}"),
        }
        assert!(Cli::try_parse_from(["ccp", "compile", "x.ccp", "--format", "json"]).is_err());
    }
}
