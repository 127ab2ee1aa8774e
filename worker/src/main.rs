//! `worker`: fetches and scrapes pages from the task queue. See `crawlq_services::worker`.

use std::process::ExitCode;

use crawlq_services::worker::{self, WorkerConfig};

#[tokio::main]
async fn main() -> ExitCode {
    crawlq_core::cli::service_main::<WorkerConfig, _, _>(
        "worker",
        "crawlq worker: takes download tasks, fetches and parses each page once, \
         stores the result in Redis and publishes a completion.",
        |config, transport, store, shutdown| async move {
            worker::run(&config, transport, store, shutdown).await
        },
    )
    .await
}
