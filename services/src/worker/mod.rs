//! The crawlq worker: stateless, scaled horizontally. It takes task messages
//! (one task or a batch of them) from the task queue, fetches each page
//! ([`http`]), parses it once on a bounded blocking pool
//! ([`crawlq_core::extract`]), stores the result under its task id
//! ([`crawlq_core::store`]), publishes a completion with publisher confirms,
//! and acks the message only after all that for every task in it. A task
//! whose result is already stored (its message came back after a worker
//! died) is not fetched again.
//!
//! # Layout
//! - [`http`]: HTTP, limits, and what counts as a page.
//! - [`batch`]: completions published in batches, each confirmed.
//! - [`guard`]: the SSRF guard (no private, loopback or link-local targets).
//! - `polite`: fleet-wide per-host lanes, robots.txt, queued tasks run at their time.
//! - `slots`: the concurrency model (messages starting, prefetch, fetch and
//!   parse slots, in flight), in one doc comment.
//! - `config`: the worker's flags ([`WorkerConfig`]).
//! - `scrape`: one task's page: fetch, redirect check, parse, failure classes.
//! - this file: the per-task handler, retries and completions, and [`run`].

pub mod batch;
mod config;
pub mod guard;
pub mod http;
mod polite;
mod scrape;
mod slots;

pub use config::WorkerConfig;
pub(crate) use config::cores;
pub use scrape::REDIRECTED_TO_A_COUNTED_PAGE;
use scrape::Retry;
pub(crate) use scrape::failed_result;

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use crawlq_core::consume::{self, Disposition, Handler, Slot};
use crawlq_core::extract::{Extracted, Extractor};
use crawlq_core::message::{self, Completion, MESSAGE_VERSION, Outcome, PageResult, Rules, Task};
use crawlq_core::report::now_ms;
use crawlq_core::retry::{self, Policy};
use crawlq_core::store::Start;
use crawlq_core::store::Store;
use crawlq_core::telemetry;
use crawlq_core::transport::{Queue, Transport};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, instrument, warn};
use url::Url;

use crate::worker::batch::CompletionSender;
use crate::worker::guard::AllowPrivate;
use crate::worker::http::{FetchError, Fetcher, Limits, Page};
use crate::worker::polite::{Admission, Gate, Lease};
use crate::worker::slots::Slots;
use crawlq_core::politeness::Pace;

/// Consumes tasks until `shutdown`, then lets in-flight tasks finish and ack.
pub async fn run(
    config: &WorkerConfig,
    transport: Arc<dyn Transport>,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let handler = Arc::new(Worker::new(
        config,
        transport.clone(),
        store,
        shutdown.clone(),
    )?);
    tokio::spawn(handler.tasks.clone().keep_hosts());
    let (concurrency, prefetch) = (config.concurrency(), config.prefetch());
    info!(concurrency, prefetch, "worker consuming tasks");
    // How much the worker takes on at once: see `slots.rs`.
    let capacity = Slots::consumer(config);
    let detached = handler.tasks.detached.clone();
    consume::serve(transport, Queue::Tasks, capacity, handler, shutdown).await;
    // Tasks the hosts handed out ran beside the consumer's drain; the ones
    // still fetching get a little longer (the others' leases expire and their
    // tasks go back to their hosts' queues).
    detached.close();
    let _ = tokio::time::timeout(consume::GRACE / 4, detached.wait()).await;
    info!("worker stopped");
    Ok(())
}

/// Handles one task message: starts each of its tasks as a fetch slot frees up.
pub struct Worker {
    tasks: Arc<Tasks>,
}

/// Runs one task: admission at its host, fetch, parse, store, publish the completion.
struct Tasks {
    fetcher: Fetcher,
    /// Fetch and parse slots (see `slots.rs`).
    slots: Slots,
    extractors: Mutex<HashMap<RulesKey, Arc<Extractor>>>,
    transport: Arc<dyn Transport>,
    store: Arc<dyn Store>,
    completions: CompletionSender,
    max_retries: u32,
    retry_base: Duration,
    gate: Gate,
    /// Tasks run outside any message: handed out by a host, or reserved.
    detached: TaskTracker,
    shutdown: CancellationToken,
    /// This value itself, for the tasks it spawns.
    me: Weak<Tasks>,
}

/// What an extractor depends on: tag selector, link pattern, allowed hosts.
type RulesKey = (String, String, Vec<String>);

/// Extractors kept per distinct set of crawl rules before the cache is cleared.
const EXTRACTOR_CACHE: usize = 64;

impl Worker {
    /// Builds the HTTP client, the parse pool and the completion publisher
    /// (which runs on the current tokio runtime). Once `shutdown` is
    /// cancelled, no more tasks start.
    pub fn new(
        config: &WorkerConfig,
        transport: Arc<dyn Transport>,
        store: Arc<dyn Store>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let fetcher = Fetcher::new(&Limits {
            timeout: Duration::from_secs(config.timeout_secs),
            max_redirects: config.max_redirects,
            max_body_bytes: config.max_body_bytes,
            user_agent: config.user_agent.clone(),
            allow_private: AllowPrivate::parse(&config.allow_private)
                .map_err(anyhow::Error::msg)?,
        })?;
        let completions = CompletionSender::start(
            transport.clone(),
            store.clone(),
            Duration::from_millis(config.batch_linger_ms),
        )?;
        let tasks = Arc::new_cyclic(|me| Tasks {
            fetcher,
            slots: Slots::new(config),
            extractors: Mutex::new(HashMap::new()),
            completions,
            transport,
            store,
            max_retries: config.max_retries,
            retry_base: Duration::from_millis(config.retry_base_ms),
            gate: Gate::default(),
            detached: TaskTracker::new(),
            shutdown,
            me: me.clone(),
        });
        Ok(Self { tasks })
    }
}

#[async_trait]
impl Handler for Worker {
    #[instrument(skip_all)]
    async fn handle(&self, data: &[u8], redelivered: bool, slot: Slot) -> Disposition {
        let tasks = match consume::decode_with(data, "task", message::decode_tasks) {
            Ok(tasks) => tasks,
            Err(poison) => return poison,
        };
        let mut running = JoinSet::new();
        let mut stopped = false;
        for (crawl_id, tasks) in message::by_crawl(tasks, |task| task.crawl_id) {
            let started = self
                .start_all(crawl_id, tasks, redelivered, &mut running)
                .await;
            if started.is_break() {
                stopped = true;
                break;
            }
        }
        // Every task has started: the next message may start its own.
        drop(slot);
        settle_all(running, stopped).await
    }
}

impl Worker {
    /// Marks one crawl's tasks of a message started and spawns what each
    /// needs (a fetch, or its stored result's completion sent again, or
    /// nothing); breaks when the store stays unavailable or at shutdown, and
    /// the tasks not started go back with the message.
    async fn start_all(
        &self,
        crawl_id: uuid::Uuid,
        tasks: Vec<Task>,
        redelivered: bool,
        running: &mut JoinSet<Disposition>,
    ) -> ControlFlow<()> {
        let ids: Vec<_> = tasks.iter().map(|task| task.task_id).collect();
        let started = retry::retry(Policy::HOLD, "mark started", || {
            self.tasks.store.start_tasks(crawl_id, &ids)
        });
        let starts = match started.await {
            Ok(Some(starts)) => starts,
            Ok(None) => {
                debug!(%crawl_id, tasks = ids.len(), "tasks of an unknown (deleted) crawl: dropped");
                return ControlFlow::Continue(());
            }
            Err(error) => {
                warn!(%error, "store unavailable: tasks go back to the queue");
                return ControlFlow::Break(());
            }
        };
        for (task, start) in tasks.into_iter().zip(starts) {
            match start {
                Start::Unclaimed => {
                    warn!(%crawl_id, url = %task.url, "a task its crawl never claimed (forged or stale): dropped");
                }
                Start::Applied => {
                    debug!(url = %task.url, "task already applied: skipped");
                }
                Start::Stored(result) => {
                    debug!(url = %task.url, redelivered, "result already stored: its completion is sent again, no fetch");
                    let tasks = self.tasks.clone();
                    running.spawn(async move { tasks.complete(task.rules, *result).await });
                }
                Start::Fetch => {
                    let fetch_slot = tokio::select! {
                        () = self.tasks.shutdown.cancelled() => None,
                        slot = self.tasks.slots.fetch.clone().acquire_owned() => slot.ok(),
                    };
                    // Shutting down: the tasks not started go back with the message.
                    let Some(fetch_slot) = fetch_slot else {
                        return ControlFlow::Break(());
                    };
                    let tasks = self.tasks.clone();
                    running.spawn(tasks.run(task, redelivered, fetch_slot));
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// A message's disposition once all its started tasks are done: acked only
/// when every one was made durable and none was left unstarted.
async fn settle_all(mut running: JoinSet<Disposition>, stopped: bool) -> Disposition {
    let mut disposition = if stopped {
        Disposition::Retry
    } else {
        Disposition::Ack
    };
    while let Some(done) = running.join_next().await {
        match done {
            Ok(Disposition::Ack) => {}
            Ok(_) => disposition = Disposition::Retry,
            Err(error) => {
                warn!(%error, "a task crashed: its message goes back to the queue");
                disposition = Disposition::Retry;
            }
        }
    }
    disposition
}

impl Tasks {
    /// Runs one started task from a message: admission at its host, then
    /// fetch and parse (holding `fetch_slot`), or nothing more here when the
    /// host queued it in the store.
    #[instrument(skip_all, fields(task_id = %task.task_id))]
    async fn run(
        self: Arc<Self>,
        task: Task,
        redelivered: bool,
        fetch_slot: OwnedSemaphorePermit,
    ) -> Disposition {
        match self.admit(&task, None).await {
            Ok(Admission::Go(lease)) => {
                self.fetch_and_finish(task, lease, Some(fetch_slot), redelivered)
                    .await
            }
            Ok(Admission::Later(lease, wait)) => {
                // The store holds the task: the message is done with.
                drop(fetch_slot);
                self.detached
                    .spawn(self.clone().run_reserved(task, lease, wait));
                Disposition::Ack
            }
            Ok(Admission::Handed) => Disposition::Ack,
            Ok(Admission::Blocked(lease, why)) => {
                drop(fetch_slot);
                self.finish_blocked(&task, lease, why).await
            }
            Err(error) => {
                warn!(%error, "store unavailable at the host's gate: task goes back to the queue");
                Disposition::Retry
            }
        }
    }

    /// Fetch and parse (holding `fetch_slot`, if any), then either a delayed
    /// retry or the result stored and its completion published; then a
    /// durable lease is given back. Ack means all of that is durable.
    async fn fetch_and_finish(
        &self,
        task: Task,
        lease: Option<Lease>,
        fetch_slot: Option<OwnedSemaphorePermit>,
        redelivered: bool,
    ) -> Disposition {
        let (result, retry, pace) = self.scrape(&task, lease.as_ref()).await;
        // Fetched and parsed: the next task may start while this one is stored and confirmed.
        drop(fetch_slot);
        debug!(url = %task.url, outcome = %result.outcome, status = %crawlq_core::display::status(result.status), redelivered, "scraped");
        let disposition = self.finish(task, result, retry).await;
        if let Some(lease) = lease.filter(|lease| lease.durable) {
            self.settle(lease, &disposition, pace).await;
        }
        disposition
    }

    /// A delayed retry of a transient failure, or the result stored and its
    /// completion published.
    async fn finish(&self, task: Task, result: PageResult, retry: Option<Retry>) -> Disposition {
        if let Some(delay) = self.retry_delay(&task, retry) {
            // Back onto the task queue after `delay`, through a delay queue: no
            // prefetch slot is held while waiting.
            let again = Task {
                attempt: task.attempt + 1,
                ..task.clone()
            };
            debug!(url = %task.url, attempt = again.attempt, delay_ms = delay.as_millis() as u64, "retrying later");
            // Shown by status and result; best effort: the retry itself does not depend on it.
            let next = crawlq_core::report::Retry {
                attempt: again.attempt + 1,
                next_try_ms: now_ms() + delay.as_millis() as u64,
            };
            if let Err(error) = self
                .store
                .mark_retrying(task.crawl_id, task.task_id, next)
                .await
            {
                warn!(%error, "retrying state not recorded");
            }
            let payload = message::encode(&again);
            let delayed = retry::retry(Policy::HOLD, "publish retry", || {
                self.transport.publish_delayed(payload.clone(), delay)
            });
            return match delayed.await {
                Ok(()) => {
                    telemetry::retried(retry.map_or("other", |retry| retry.reason));
                    Disposition::Ack
                }
                Err(error) => {
                    warn!(%error, "retry not confirmed: task goes back to the queue");
                    Disposition::Retry
                }
            };
        }
        self.complete(task.rules, result).await
    }

    /// Stores a result and publishes its completion, both confirmed.
    async fn complete(&self, rules: Rules, result: PageResult) -> Disposition {
        let (outcome, status) = (result.outcome, result.status);
        let completion = Completion {
            v: MESSAGE_VERSION,
            rules,
            result,
        };
        let published = retry::retry(Policy::HOLD, "store and publish the completion", || {
            self.completions.publish(completion.clone())
        });
        match published.await {
            Ok(()) => {
                telemetry::page_stored(outcome, status);
                Disposition::Ack
            }
            Err(error) => {
                warn!(%error, "completion not stored and confirmed: task goes back to the queue");
                Disposition::Retry
            }
        }
    }
}
