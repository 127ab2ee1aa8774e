//! Local mode: the whole crawl in this process, like Dask's `Client()` with a
//! local cluster. The worker's and the aggregator's own code run on the
//! in-memory transport and store, so extraction, the link rule, limits,
//! report and JSON are those of a distributed crawl. Ctrl-C cancels the
//! fetches in flight, prints the partial report and exits with 130.

use std::sync::Arc;

use crawlq_core::memory::MemoryTransport;
use crawlq_core::memory_store::MemoryStore;
use crawlq_core::report::now_ms;
use crawlq_core::store::Store;
use crawlq_core::transport::Transport;
use tokio_util::sync::CancellationToken;

use crate::submit::{self, Plan};
use crate::wait::{self, Ended, Mode};
use crate::{Exit, RunArgs};

/// Runs the crawl in this process until it is finished or interrupted.
pub async fn run(mut plan: Plan, args: &RunArgs, json: bool) -> anyhow::Result<Exit> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let transport: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let stop = CancellationToken::new();
    let (mut worker, mut aggregator) = spawn_services(args, &transport, &store, &stop);

    plan.spec.created_ms = now_ms();
    let crawl_id = plan.spec.crawl_id;
    submit::start(&*store, &*transport, &plan.spec).await?;
    if !args.wait.quiet {
        eprintln!("crawl {crawl_id} started in this process");
    }

    let ended = tokio::select! {
        ended = wait::follow(&*store, crawl_id, &args.wait) => ended,
        // Either service ending before the crawl does is an error (e.g. no HTTP client).
        outcome = &mut worker => return Err(stopped("worker", outcome)),
        outcome = &mut aggregator => return Err(stopped("aggregator", outcome)),
    };
    let ended = match ended {
        Ok(ended) => ended,
        Err(error) => {
            worker.abort();
            aggregator.abort();
            return Err(error);
        }
    };
    if ended == Ended::Finished {
        stop.cancel();
        let _ = tokio::join!(worker, aggregator);
    } else {
        // Aborting the consumer loops drops their in-flight tasks: fetches are
        // cancelled, and the store holds still for the one snapshot below.
        worker.abort();
        aggregator.abort();
        let _ = tokio::join!(worker, aggregator);
    }
    wait::conclude(&*store, crawl_id, &args.wait, json, ended, Mode::Local).await
}

/// The worker and the aggregator on the memory transport and store, until `stop`.
fn spawn_services(
    args: &RunArgs,
    transport: &Arc<dyn Transport>,
    store: &Arc<dyn Store>,
    stop: &CancellationToken,
) -> (Service, Service) {
    let worker = tokio::spawn({
        let (config, transport, store, stop) = (
            args.fetch.clone(),
            transport.clone(),
            store.clone(),
            stop.clone(),
        );
        async move { worker::run(&config, transport, store, stop).await }
    });
    let aggregator = tokio::spawn({
        let (transport, store, stop) = (transport.clone(), store.clone(), stop.clone());
        let config = aggregator::AggregatorConfig::default();
        async move { aggregator::run(&config, transport, store, stop).await }
    });
    (worker, aggregator)
}

/// A service running in this process.
type Service = tokio::task::JoinHandle<anyhow::Result<()>>;

fn stopped(
    name: &str,
    outcome: Result<anyhow::Result<()>, tokio::task::JoinError>,
) -> anyhow::Error {
    match outcome {
        Ok(Err(error)) => error.context(format!("local {name} failed")),
        Ok(Ok(())) => anyhow::anyhow!("local {name} stopped before the crawl finished"),
        Err(error) => anyhow::anyhow!("local {name} crashed: {error}"),
    }
}
