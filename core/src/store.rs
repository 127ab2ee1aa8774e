//! The store seam: where a crawl's state lives so that no process holds any a
//! crash would lose. Redis ([`crate::redis`]) in a deployment; memory in
//! local mode. Every method that changes state is atomic and idempotent per
//! task id, so redelivered messages change nothing.

use async_trait::async_trait;
use uuid::Uuid;

use crate::message::{PageResult, Rules};
pub use crate::spec::{CrawlKind, CrawlSpec};
pub use crate::store_error::StoreError;
use std::collections::BTreeMap;

use crate::report::{CrawlStatus, PageRecord, Report, TaskView};

/// A URL to claim for a crawl: it becomes a task unless already claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Derived from crawl id and URL by [`crate::message::task_id`].
    pub task_id: Uuid,
    /// Canonical URL.
    pub url: String,
    /// Its depth.
    pub depth: u32,
}

impl Claim {
    /// The claim of `url` at `depth` in `crawl_id`, with its derived task id.
    pub fn new(crawl_id: Uuid, url: &str, depth: u32) -> Self {
        Self {
            task_id: crate::message::task_id(crawl_id, url),
            url: url.to_owned(),
            depth,
        }
    }

    /// The task message that fetches this claim.
    pub fn task(&self, crawl_id: Uuid, rules: &Rules) -> crate::message::Task {
        crate::message::Task {
            v: crate::message::MESSAGE_VERSION,
            crawl_id,
            task_id: self.task_id,
            url: self.url.clone(),
            depth: self.depth,
            rules: rules.clone(),
            attempt: 0,
        }
    }
}

/// What applying a completion did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// False when the crawl does not exist (deleted): the completion is dropped.
    pub known: bool,
    /// True the first time this task's completion is applied; false on redelivery.
    pub fresh: bool,
    /// Indices into the children that must be published: newly claimed ones,
    /// and, when the completion was applied before but its children were never
    /// marked published ([`Store::mark_expanded`]), the unfinished ones it claimed.
    pub publish: Vec<usize>,
    /// True exactly once per crawl: this completion finished it.
    pub finished: bool,
}

/// Where a task stands when a worker takes it: a redelivered task (its worker
/// died, or a copy was published again) is fetched again only when no result
/// of it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// No result yet: fetch it.
    Fetch,
    /// Its result is stored but not yet applied (a worker stored it and died
    /// before its task was acked): send the completion again, without a fetch.
    Stored(Box<PageResult>),
    /// Already applied: nothing is left to do.
    Applied,
    /// The crawl never claimed this task (a forged or stale message): it is
    /// dropped without a fetch, and counted, so it cannot reopen the crawl.
    Unclaimed,
}

/// Crawl state, shared by every process of a deployment, and the fleet-wide
/// per-host politeness that lives beside it ([`Store::hosts`]).
#[async_trait]
pub trait Store: Send + Sync {
    /// The per-host politeness kept in the same place ([`crate::politeness`]).
    fn hosts(&self) -> &dyn crate::politeness::Hosts;

    /// Records a new crawl and claims its seeds; returns the indices of the seeds to publish.
    async fn create_crawl(
        &self,
        spec: &CrawlSpec,
        seeds: &[Claim],
    ) -> Result<Vec<usize>, StoreError>;

    /// Marks tasks of one crawl as started (in flight) and says, for each, in
    /// order, what is left to do ([`Start`]); `None` when the crawl is unknown
    /// (deleted).
    async fn start_tasks(
        &self,
        crawl_id: Uuid,
        task_ids: &[Uuid],
    ) -> Result<Option<Vec<Start>>, StoreError>;

    /// Stores results of one crawl, each under its task id. Returns false when
    /// the crawl is unknown.
    async fn put_results(
        &self,
        crawl_id: Uuid,
        results: &[&PageResult],
    ) -> Result<bool, StoreError>;

    /// Marks a started task as waiting for its next try (`retry`), unless it
    /// has ended; counted in the crawl's `retrying` until the try starts or
    /// its completion is applied.
    async fn mark_retrying(
        &self,
        crawl_id: Uuid,
        task_id: Uuid,
        retry: crate::report::Retry,
    ) -> Result<(), StoreError>;

    /// Applies a completion once: counts it, adds its tags to the tally, claims
    /// its children within the page budget and detects the end of the crawl.
    async fn apply(&self, result: &PageResult, children: &[Claim]) -> Result<Applied, StoreError>;

    /// Records that the children these completions (of one crawl, by task id)
    /// claimed are published, so a later delivery of the same completions
    /// publishes nothing again.
    async fn mark_expanded(&self, crawl_id: Uuid, task_ids: &[Uuid]) -> Result<(), StoreError>;

    /// What a crawl was asked to do, or `None` for an unknown crawl.
    async fn spec(&self, crawl_id: Uuid) -> Result<Option<CrawlSpec>, StoreError>;

    /// A crawl's counters, or `None` for an unknown crawl.
    async fn status(&self, crawl_id: Uuid) -> Result<Option<CrawlStatus>, StoreError>;

    /// One task's future: its state and, once finished, its result.
    async fn task(&self, task_id: Uuid) -> Result<Option<TaskView>, StoreError>;

    /// A crawl's tag tally (empty for an unknown crawl).
    async fn tally(&self, crawl_id: Uuid) -> Result<BTreeMap<String, u64>, StoreError>;

    /// Every claimed page of a crawl with its state and result, sorted by URL.
    async fn pages(&self, crawl_id: Uuid) -> Result<Vec<PageRecord>, StoreError>;

    /// The full report of a crawl, read at one instant, or `None` for an unknown crawl.
    async fn report(&self, crawl_id: Uuid) -> Result<Option<Report>, StoreError>;

    /// Claims the page a task's redirects led to (`final_id`: the task id of
    /// its URL): returns the task that keeps it, which is the page's own task
    /// when the crawl has one, else the first task to land on it; `None` for
    /// an unknown crawl. A page kept so is never claimed again as a link.
    async fn claim_final(
        &self,
        crawl_id: Uuid,
        final_id: Uuid,
        task_id: Uuid,
    ) -> Result<Option<Uuid>, StoreError>;

    /// Deletes every key of a crawl. Returns false when it did not exist.
    async fn delete(&self, crawl_id: Uuid) -> Result<bool, StoreError>;
}
