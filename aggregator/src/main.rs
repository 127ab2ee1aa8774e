//! `aggregator`: applies completions, tallies tags and expands crawls. See the library docs.

use std::process::ExitCode;

use clap::Parser;
use crawlq_core::cli::{self, ConnectArgs, LogArgs};
use crawlq_core::telemetry::ObserveArgs;
use crawlq_services::aggregator::AggregatorConfig;

/// crawlq aggregator: consumes completions as they arrive, tallies tags,
/// claims new links and publishes their tasks, and marks crawls finished.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    observe: ObserveArgs,
    #[command(flatten)]
    aggregator: AggregatorConfig,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_tracing("info", cli.log.log_format);
    let config = cli.aggregator;
    cli::run_service(
        "aggregator",
        &cli.connect,
        &cli.observe,
        |transport, store, shutdown| async move {
            crawlq_services::aggregator::run(&config, transport, store, shutdown).await
        },
    )
    .await
}
