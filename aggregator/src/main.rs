//! `aggregator`: applies completions, tallies tags and expands crawls. See
//! `crawlq_services::aggregator`.

use std::process::ExitCode;

use crawlq_services::aggregator::{self, AggregatorConfig};

#[tokio::main]
async fn main() -> ExitCode {
    crawlq_core::cli::service_main::<AggregatorConfig, _, _>(
        "aggregator",
        "crawlq aggregator: consumes completions as they arrive, tallies tags, \
         claims new links and publishes their tasks, and marks crawls finished.",
        |config, transport, store, shutdown| async move {
            aggregator::run(&config, transport, store, shutdown).await
        },
    )
    .await
}
