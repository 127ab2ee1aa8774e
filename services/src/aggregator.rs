//! The crawlq aggregator: consumes completions in arrival order (the
//! tutorial's `as_completed`) and, for each, atomically and once per task id:
//! adds the page's tags to the crawl's tally, claims its links through the
//! crawl's seen-set within `--max-pages` and `--max-depth`, publishes the new
//! tasks, and marks the crawl finished when nothing is queued or in flight.
//! All of that state is in the store, so any number of aggregators can run
//! side by side and a restart loses nothing.

use std::sync::Arc;

use async_trait::async_trait;
use clap::Args;
use crawlq_core::consume::{self, Capacity, Disposition, Handler, Slot};
use crawlq_core::message::{self, Completion, Outcome, Task};
use crawlq_core::retry::{self, Policy};
use crawlq_core::store::{Claim, Store};
use crawlq_core::telemetry;
use crawlq_core::transport::{self, Queue, Transport};
use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};
use uuid::Uuid;

/// Completions processed at once by default.
pub const DEFAULT_CONCURRENCY: u16 = 64;

/// The aggregator's settings.
#[derive(Debug, Clone, Args)]
pub struct AggregatorConfig {
    /// Completions processed at once (also the RabbitMQ prefetch).
    #[arg(long, env = "AGGREGATOR_CONCURRENCY", default_value_t = DEFAULT_CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// Consumes completions until `shutdown`.
pub async fn run(
    config: &AggregatorConfig,
    transport: Arc<dyn Transport>,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let handler = Arc::new(Aggregator {
        transport: transport.clone(),
        store,
    });
    info!(
        concurrency = config.concurrency,
        "aggregator consuming completions"
    );
    consume::serve(
        transport,
        Queue::Completions,
        Capacity {
            concurrency: usize::from(config.concurrency),
            prefetch: usize::from(config.concurrency),
        },
        handler,
        shutdown,
    )
    .await;
    info!("aggregator stopped");
    Ok(())
}

/// Applies completions and expands crawls.
pub struct Aggregator {
    transport: Arc<dyn Transport>,
    store: Arc<dyn Store>,
}

/// The links of a completed page that are within the crawl's depth, as claims.
pub fn children(completion: &Completion) -> Vec<Claim> {
    let result = &completion.result;
    if result.outcome != Outcome::Done || !completion.rules.expands(result.depth) {
        return Vec::new();
    }
    result
        .links
        .iter()
        .map(|url| Claim::new(result.crawl_id, url, result.depth + 1))
        .collect()
}

#[async_trait]
impl Handler for Aggregator {
    /// A message holds one completion or a batch of them. Each is applied as
    /// if it came alone, concurrently (the store calls pipeline); then the new
    /// tasks of all of them are published together, and the message is acked
    /// once they are confirmed, or given back if anything failed.
    async fn handle(&self, data: &[u8], redelivered: bool, _slot: Slot) -> Disposition {
        let completions =
            match consume::decode_with(data, "completion", message::decode_completions) {
                Ok(completions) => completions,
                Err(poison) => return poison,
            };
        debug!(
            completions = completions.len(),
            redelivered, "completion message"
        );
        let applied = join_all(completions.iter().map(|completion| self.apply(completion))).await;
        let mut tasks = Vec::new();
        let mut parents = Vec::new();
        for (completion, applied) in completions.iter().zip(applied) {
            let Some(new_tasks) = applied else {
                return Disposition::Retry;
            };
            if !new_tasks.is_empty() {
                parents.push(&completion.result);
                tasks.extend(new_tasks);
            }
        }
        let published = retry::retry(Policy::HOLD, "publish tasks", || {
            transport::publish_tasks(&*self.transport, &tasks)
        });
        if let Err(error) = published.await {
            // The claims are recorded with their completions as parents: the
            // redelivered message publishes them again.
            warn!(%error, "new tasks not confirmed: completions go back to the queue");
            return Disposition::Retry;
        }
        // Children confirmed published: a later copy of these completions must not publish them again.
        for (crawl_id, parents) in message::by_crawl(parents, |result| result.crawl_id) {
            let task_ids: Vec<Uuid> = parents.iter().map(|result| result.task_id).collect();
            let marked = retry::retry(Policy::HOLD, "mark expanded", || {
                self.store.mark_expanded(crawl_id, &task_ids)
            });
            if let Err(error) = marked.await {
                warn!(%error, "could not record the children as published; a redelivery may publish them twice");
            }
        }
        debug!(new_tasks = tasks.len(), "completion message applied");
        Disposition::Ack
    }
}

impl Aggregator {
    /// Applies one completion: counts it once and claims its children.
    /// Returns the child tasks to publish, or `None` when the store stayed
    /// unavailable (the completion must come back).
    #[instrument(skip_all, fields(task_id = %completion.result.task_id))]
    async fn apply(&self, completion: &Completion) -> Option<Vec<Task>> {
        let result = &completion.result;
        let children = children(completion);
        let started = std::time::Instant::now();
        let applied = match retry::retry(Policy::HOLD, "apply", || {
            self.store.apply(result, &children)
        })
        .await
        {
            Ok(applied) => applied,
            Err(error) => {
                warn!(%error, "store unavailable: completion goes back to the queue");
                return None;
            }
        };
        if !applied.known {
            debug!(crawl_id = %result.crawl_id, "completion of an unknown (deleted) crawl: dropped");
            return Some(Vec::new());
        }
        telemetry::applied(result.outcome, applied.fresh, started.elapsed());
        if applied.finished {
            info!(crawl_id = %result.crawl_id, "crawl finished");
        }
        debug!(
            fresh = applied.fresh,
            new_tasks = applied.publish.len(),
            "applied"
        );
        Some(
            applied
                .publish
                .iter()
                .filter_map(|&i| children.get(i))
                .map(|claim| claim.task(result.crawl_id, &completion.rules))
                .collect(),
        )
    }
}
