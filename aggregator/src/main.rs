//! `aggregator`: applies completions, tallies tags and expands crawls. See the library docs.

use std::process::ExitCode;

use aggregator::AggregatorConfig;
use clap::Parser;
use crawlq_core::cli::{self, ConnectArgs};

/// crawlq aggregator: consumes completions as they arrive, tallies tags,
/// claims new links and publishes their tasks, and marks crawls finished.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    aggregator: AggregatorConfig,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_tracing("info");
    cli::serve_until_signal("aggregator", |shutdown| async move {
        let Some((store, amqp)) = cli::connect_patiently(&cli.connect, &shutdown).await? else {
            return Ok(());
        };
        let outcome = aggregator::run(&cli.aggregator, amqp.clone(), store, shutdown).await;
        amqp.close().await;
        outcome
    })
    .await
}
