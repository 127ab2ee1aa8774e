//! Local mode: the whole crawl in this process, on the cluster
//! `crawlq_services::local` assembles (the worker's and the aggregator's own
//! code on the in-memory transport and store), so extraction, the link rule,
//! limits, report and JSON are those of a distributed crawl. Ctrl-C cancels
//! the fetches in flight, prints the partial report and exits with 130.

use crawlq_core::report::now_ms;
use crawlq_services::aggregator::AggregatorConfig;
use crawlq_services::local::LocalCluster;

use crate::submit::{self, Plan};
use crate::wait::{self, Ended, Mode};
use crate::{Exit, RunArgs};

/// Runs the crawl in this process until it is finished or interrupted.
pub async fn run(mut plan: Plan, args: &RunArgs, json: bool) -> anyhow::Result<Exit> {
    let mut cluster = LocalCluster::start(&args.fetch, &AggregatorConfig::default());
    let store = cluster.store().clone();

    plan.spec.created_ms = now_ms();
    let crawl_id = plan.spec.crawl_id;
    submit::start(&*store, &**cluster.transport(), &plan.spec).await?;
    if !args.wait.quiet {
        eprintln!("crawl {crawl_id} started in this process");
    }

    let ended = tokio::select! {
        ended = wait::follow(&*store, crawl_id, &args.wait) => ended?,
        // Either service ending before the crawl does is an error (e.g. no HTTP client).
        error = cluster.failed() => return Err(error),
    };
    if ended == Ended::Finished {
        cluster.shutdown().await;
    } else {
        // Interrupted or out of time: the store holds still for the one snapshot below.
        cluster.abort().await;
    }
    wait::conclude(&*store, crawl_id, &args.wait, json, ended, Mode::Local).await
}
