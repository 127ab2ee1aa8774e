//! `worker`: fetches and scrapes pages from the task queue. See the library docs.

use std::process::ExitCode;

use clap::Parser;
use crawlq_core::cli::{self, ConnectArgs, LogArgs};
use crawlq_core::telemetry::ObserveArgs;
use crawlq_services::worker::WorkerConfig;

/// crawlq worker: takes download tasks, fetches and parses each page once,
/// stores the result in Redis and publishes a completion.
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
    worker: WorkerConfig,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_tracing("info", cli.log.log_format);
    let config = cli.worker;
    cli::run_service(
        "worker",
        &cli.connect,
        &cli.observe,
        |transport, store, shutdown| async move {
            crawlq_services::worker::run(&config, transport, store, shutdown).await
        },
    )
    .await
}
