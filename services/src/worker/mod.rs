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
//!   parse slots, busy), in one doc comment.
//! - this file: configuration, the per-task handler and [`run`].

pub mod batch;
pub mod guard;
pub mod http;
mod polite;
mod slots;

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clap::Args;
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

/// The worker's settings (flags, or the env names docker-compose.yml sets).
#[derive(Debug, Clone, Args)]
pub struct WorkerConfig {
    /// Fetches in flight in this process (default: 32 per core).
    #[arg(long, env = "WORKER_CONCURRENCY", value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: Option<u16>,
    /// Task messages (each up to 16 tasks) held unacknowledged at once: those
    /// being worked on, those waiting for their completions' confirms, and a
    /// few ready to start (default: half the concurrency, at least 8).
    #[arg(long, env = "WORKER_PREFETCH", value_parser = clap::value_parser!(u16).range(1..))]
    pub prefetch: Option<u16>,
    /// Threads parsing pages at once (default: the number of cores).
    #[arg(long, env = "WORKER_PARSE_THREADS")]
    pub parse_threads: Option<usize>,
    /// Total time for one fetch, in seconds.
    #[arg(long, env = "WORKER_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout_secs: u64,
    /// Redirects followed before a fetch fails.
    #[arg(long, env = "WORKER_MAX_REDIRECTS", default_value_t = 5)]
    pub max_redirects: usize,
    /// Largest page body read, in bytes.
    #[arg(long, env = "WORKER_MAX_BODY_BYTES", default_value_t = 5 * 1024 * 1024, value_parser = parse_body_bytes)]
    pub max_body_bytes: usize,
    /// Retries of a transient fetch failure (timeout, connection error, 5xx, 429)
    /// before it is recorded as failed.
    #[arg(long, env = "WORKER_MAX_RETRIES", default_value_t = 3)]
    pub max_retries: u32,
    /// First retry delay in milliseconds; doubles each retry, plus jitter
    /// (a 429's Retry-After wins).
    #[arg(long, env = "WORKER_RETRY_BASE_MS", default_value_t = 1000)]
    pub retry_base_ms: u64,
    /// The User-Agent header sent with every fetch.
    #[arg(long, env = "WORKER_USER_AGENT", default_value = concat!("crawlq/", env!("CARGO_PKG_VERSION"), " (+https://github.com/crawlq/crawlq)"))]
    pub user_agent: String,
    /// Longest wait, in milliseconds, for a completion to share a broker
    /// message with others (only while other tasks are being fetched or
    /// parsed; 0: no wait).
    #[arg(long, env = "WORKER_BATCH_LINGER_MS", default_value_t = 20)]
    pub batch_linger_ms: u64,
    /// Let fetches reach private, loopback and other non-public addresses:
    /// with no value, all of them; with HOST:PORT (repeatable), that target
    /// only. Off by default: the SSRF guard refuses them.
    #[arg(
        long,
        env = "WORKER_ALLOW_PRIVATE",
        value_name = "HOST:PORT",
        num_args = 0..=1,
        default_missing_value = "all",
        value_delimiter = ','
    )]
    pub allow_private: Vec<String>,
}

impl WorkerConfig {
    /// Fetches in flight: as configured, or 32 per core.
    pub fn concurrency(&self) -> usize {
        self.concurrency.map_or_else(|| 32 * cores(), usize::from)
    }

    /// Task messages held unacknowledged: as configured, or half the
    /// concurrency (at least 8).
    pub fn prefetch(&self) -> usize {
        self.prefetch
            .map_or_else(|| (self.concurrency() / 2).max(8), usize::from)
    }
}

/// The machine's cores (2 when unknown).
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

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

impl Tasks {
    /// The compiled extractor for a crawl's rules, compiled once per process.
    fn extractor(&self, rules: &Rules) -> Result<Arc<Extractor>, String> {
        let key = (
            rules.tag_selector.clone(),
            rules.link_pattern.clone(),
            rules.allow_hosts.clone(),
        );
        let mut cache = self
            .extractors
            .lock()
            .map_err(|_| "extractor cache poisoned".to_owned())?;
        if let Some(extractor) = cache.get(&key) {
            return Ok(extractor.clone());
        }
        let extractor = Arc::new(Extractor::new(rules).map_err(|e| e.to_string())?);
        if cache.len() >= EXTRACTOR_CACHE {
            cache.clear();
        }
        cache.insert(key, extractor.clone());
        Ok(extractor)
    }

    /// Fetches and parses; returns the result, for a transient failure how
    /// long the server asked to wait (if it said), and how the host is paced.
    /// A lane held for the fetch alone (`lease`, not durable) is given back
    /// as soon as the response is in.
    async fn scrape(
        &self,
        task: &Task,
        lease: Option<&Lease>,
    ) -> (PageResult, Option<Retry>, Pace) {
        let _busy = self.completions.busy();
        let _in_flight = telemetry::InFlight::start();
        let started = Instant::now();
        let fetched = self.fetch(task).await;
        telemetry::fetched(
            started.elapsed(),
            fetched.as_ref().ok().map(|(_, page)| page.html.len()),
        );
        let pace = fetched
            .as_ref()
            .err()
            .map_or(Pace::Normal, |failure| failure.pace);
        if let Some(lease) = lease.filter(|lease| !lease.durable) {
            self.release(lease.clone(), pace).await;
        }
        let outcome = match fetched {
            Ok((extractor, page)) => match self.keeps_page(task, &page.final_url).await {
                Ok(()) => self.extract(extractor, page).await,
                Err(failure) => Err(failure),
            },
            Err(failure) => Err(failure),
        };
        let mut retry = None;
        let mut result = PageResult {
            elapsed_ms: started.elapsed().as_millis() as u64,
            ..failed_result(task, String::new())
        };
        match outcome {
            Ok((final_url, page)) => {
                result.outcome = Outcome::Done;
                result.status = Some(200);
                result.error = None;
                result.final_url = (final_url.as_str() != task.url).then(|| final_url.into());
                result.title = page.title;
                result.tags = page.tags;
                result.links = page.links;
                result.links_dropped = page.links_dropped;
                result.tags_dropped = page.tags_dropped;
                if page.links_dropped > 0 {
                    warn!(url = %task.url, dropped = page.links_dropped, "links past the per-page cap not followed");
                }
                if page.tags_dropped > 0 {
                    warn!(url = %task.url, dropped = page.tags_dropped, "tag elements too long or past the per-page cap not counted");
                }
            }
            Err(failure) => {
                result.status = failure.status;
                result.error = Some(failure.reason);
                retry = failure.retry;
            }
        }
        (result, retry, pace)
    }

    /// When a transient failure is worth another try: the delay before it
    /// (exponential from `--retry-base-ms`, with jitter, or the server's
    /// Retry-After), or `None` once `--max-retries` are spent.
    fn retry_delay(&self, task: &Task, retry: Option<Retry>) -> Option<Duration> {
        let Retry { after, .. } = retry?;
        if task.attempt >= self.max_retries {
            return None;
        }
        let backoff = self.retry_base.saturating_mul(1 << task.attempt.min(16));
        let jitter = backoff.mul_f64(rand::random::<f64>() * 0.5);
        Some(after.unwrap_or(backoff + jitter).min(MAX_RETRY_DELAY))
    }

    /// Fetches the page with the crawl's extractor's hosts as the redirect bound.
    async fn fetch(&self, task: &Task) -> Result<(Arc<Extractor>, Page), Failure> {
        let extractor = self
            .extractor(&task.rules)
            .map_err(Failure::without_status)?;
        let page = self
            .fetcher
            .fetch(&task.url, extractor.hosts())
            .await
            .map_err(Failure::from)?;
        Ok((extractor, page))
    }

    /// Whether this task keeps the page its redirects led to: a page reached
    /// by several URLs counts once, under its own URL when the crawl has it
    /// as a task, else under the first task that landed on it.
    async fn keeps_page(&self, task: &Task, landed: &Url) -> Result<(), Failure> {
        if landed.fragment().is_none() && landed.as_str() == task.url {
            // No redirect: every page but a few.
            return Ok(());
        }
        let mut landed = landed.clone();
        landed.set_fragment(None);
        if landed.as_str() == task.url {
            return Ok(());
        }
        // Where redirects lead counts as the link rule counts a link: its
        // canonical URL, query and fragment dropped.
        landed.set_query(None);
        let final_id = message::task_id(task.crawl_id, landed.as_str());
        match self
            .store
            .claim_final(task.crawl_id, final_id, task.task_id)
            .await
        {
            Ok(Some(keeper)) if keeper != task.task_id => Err(Failure {
                status: Some(200),
                reason: REDIRECTED_TO_A_COUNTED_PAGE.to_owned(),
                retry: None,
                pace: Pace::Normal,
            }),
            Ok(_) => Ok(()),
            // Not known yet whose page it is: try again later.
            Err(error) => Err(Failure {
                status: None,
                reason: format!("store unavailable: {error}"),
                retry: Some(Retry {
                    after: None,
                    reason: "store",
                }),
                pace: Pace::Normal,
            }),
        }
    }

    /// Parses a fetched page on the bounded blocking pool.
    async fn extract(
        &self,
        extractor: Arc<Extractor>,
        page: Page,
    ) -> Result<(Url, Extracted), Failure> {
        let _slot = self
            .slots
            .parse
            .acquire()
            .await
            .map_err(|_| Failure::without_status("parse pool closed".into()))?;
        let base = page.final_url.clone();
        // html5ever's tree is not Send: parse on a blocking thread, hand back owned data.
        let extracted = tokio::task::spawn_blocking(move || extractor.extract(&page.html, &base))
            .await
            .map_err(|e| Failure::without_status(format!("parser crashed: {e}")))?
            // The same page would fail the same way: not retried.
            .map_err(|e| Failure {
                status: Some(200),
                reason: e.to_string(),
                retry: None,
                pace: Pace::Normal,
            })?;
        Ok((page.final_url, extracted))
    }
}

/// The reason recorded for a task whose redirects led to a page the crawl
/// counts under another task (its own URL's, or the first to land on it).
pub const REDIRECTED_TO_A_COUNTED_PAGE: &str =
    "redirects to a page the crawl counts under another URL";

/// Longest wait before a retry, whatever the server asks.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// A transient failure: worth trying again, after `after` if the server said.
#[derive(Debug, Clone, Copy)]
struct Retry {
    after: Option<Duration>,
    /// Why, as the retries metric labels it.
    reason: &'static str,
}

/// A failed fetch or parse, as recorded in the result.
struct Failure {
    status: Option<u16>,
    reason: String,
    retry: Option<Retry>,
    /// How the failure paces the host.
    pace: Pace,
}

impl Failure {
    fn without_status(reason: String) -> Self {
        Self {
            status: None,
            reason,
            retry: None,
            pace: Pace::Unused,
        }
    }
}

impl From<FetchError> for Failure {
    fn from(error: FetchError) -> Self {
        Self {
            status: error.status(),
            reason: error.to_string(),
            retry: error.is_transient().then(|| Retry {
                after: error.retry_after(),
                reason: error.kind(),
            }),
            pace: polite::pace_of(&error),
        }
    }
}

/// A failed result of `task` for `reason`, with no status, to be filled in.
fn failed_result(task: &Task, reason: String) -> PageResult {
    PageResult {
        crawl_id: task.crawl_id,
        task_id: task.task_id,
        url: task.url.clone(),
        final_url: None,
        depth: task.depth,
        outcome: Outcome::Failed,
        status: None,
        title: None,
        tags: Vec::new(),
        links: Vec::new(),
        links_dropped: 0,
        tags_dropped: 0,
        error: Some(reason),
        fetched_at_ms: now_ms(),
        elapsed_ms: 0,
        attempts: task.attempt + 1,
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

/// `--max-body-bytes`: from 1 KiB (smaller than any page's head) to 1 GiB.
fn parse_body_bytes(text: &str) -> Result<usize, String> {
    let bytes: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number of bytes"))?;
    if !(1024..=1 << 30).contains(&bytes) {
        return Err("give a number of bytes from 1024 to 1073741824".into());
    }
    Ok(bytes)
}
