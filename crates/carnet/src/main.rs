//! `carnet`: the whole CRM in one binary — web UI, API and the administration CLI.

mod cli;
mod commands;
mod config;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: allocation was a quarter of the CPU of an import and
/// of a list page (bench/results/import.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let config = match config::Config::load(&cli.global) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("carnet: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.log);
    match commands::run(cli.command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("carnet: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
