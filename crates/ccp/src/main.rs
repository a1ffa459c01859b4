//! The `ccp` command-line tool.
//!
//! Each subcommand lives in its own module and exposes an `Args` struct (clap derive)
//! and a `run(&Args) -> ExitCode` function; `main` only dispatches.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

mod compile;

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
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match &cli.command {
        Command::Compile(args) => compile::run(args),
    }
}
