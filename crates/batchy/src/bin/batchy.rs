//! Stand-alone `batchy` binary (the same commands as `ccp batchy …`).
#![forbid(unsafe_code)]

use clap::Parser;

/// Batchy: run pipelines with SLO-aware batch controllers, or profile modules.
#[derive(Debug, Parser)]
#[command(name = "batchy", version)]
struct Args {
    #[command(subcommand)]
    cmd: batchy::cli::BatchyCmd,
}

fn main() -> std::process::ExitCode {
    batchy::cli::main(Args::parse().cmd)
}
