//! `worker`: fetches and scrapes pages from the task queue. See the library docs.

use std::process::ExitCode;

use clap::Parser;
use crawlq_core::cli::{self, ConnectArgs};
use worker::WorkerConfig;

/// crawlq worker: takes download tasks, fetches and parses each page once,
/// stores the result in Redis and publishes a completion.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    worker: WorkerConfig,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_tracing("info");
    cli::serve_until_signal("worker", |shutdown| async move {
        let Some((store, amqp)) = cli::connect_patiently(&cli.connect, &shutdown).await? else {
            return Ok(());
        };
        let outcome = worker::run(&cli.worker, amqp.clone(), store, shutdown).await;
        amqp.close().await;
        outcome
    })
    .await
}
