//! The store in memory, for local mode: the same semantics as the Redis
//! scripts in `lua/` (count once per task id, tally, claim within the page
//! budget, re-publish a redelivered parent's unfinished children, detect the
//! end), under one mutex. The store contract tests run both implementations.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use uuid::Uuid;

use crate::memory::MemoryHosts;
use crate::message::{Outcome, PageResult};
use crate::politeness::Hosts;
use crate::report::{
    ClaimRecord, Counters, CrawlStatus, PageRecord, Report, Retry, TaskCode, TaskState, TaskView,
    now_ms,
};
use crate::store::{Applied, Claim, CrawlSpec, Start, Store, StoreError};

struct Crawl {
    spec: CrawlSpec,
    counters: Counters,
    finished_ms: Option<u64>,
    tasks: HashMap<Uuid, ClaimRecord>,
    state: HashMap<Uuid, TaskCode>,
    results: HashMap<Uuid, PageResult>,
    tally: BTreeMap<String, u64>,
    expanded: HashSet<Uuid>,
    /// Page reached by redirect → the task that keeps it (see `lua/final.lua`).
    finals: HashMap<Uuid, Uuid>,
}

impl Crawl {
    /// Every claimed page with its state and result, sorted by URL.
    fn records(&self) -> Vec<PageRecord> {
        let mut pages: Vec<PageRecord> = self
            .tasks
            .iter()
            .map(|(task_id, claim)| {
                PageRecord::new(
                    *task_id,
                    claim.clone(),
                    self.state.get(task_id).copied(),
                    self.results.get(task_id).cloned(),
                )
            })
            .collect();
        pages.sort_by(|a, b| a.url.cmp(&b.url));
        crate::report::settle_depths(&mut pages);
        pages
    }

    /// Claims children and detects the end (see `lua/apply.lua`); `parent` is
    /// nil for seeds. Returns the children to publish and whether this finished the crawl.
    fn claim(&mut self, parent: Uuid, fresh: bool, children: &[Claim]) -> (Vec<usize>, bool) {
        let budget = self.spec.max_pages.unwrap_or(u64::MAX);
        let mut publish = Vec::new();
        for (i, child) in children.iter().enumerate() {
            match self.tasks.get(&child.task_id) {
                // Already in the crawl as the page a redirect led to.
                None if self.finals.contains_key(&child.task_id) => {}
                None if self.counters.created < budget => {
                    let record = ClaimRecord {
                        parent,
                        depth: child.depth,
                        url: child.url.clone(),
                    };
                    self.tasks.insert(child.task_id, record);
                    self.counters.created += 1;
                    publish.push(i);
                }
                Some(existing)
                    if !fresh
                        && !parent.is_nil()
                        && existing.parent == parent
                        && !self.expanded.contains(&parent)
                        && !self.state.get(&child.task_id).is_some_and(|c| c.ended()) =>
                {
                    publish.push(i);
                }
                _ => {}
            }
        }
        let ended = self.counters.done + self.counters.failed;
        let mut finished = false;
        if ended >= self.counters.created && self.finished_ms.is_none() {
            self.finished_ms = Some(now_ms());
            finished = true;
        }
        (publish, finished)
    }
}

/// The in-memory [`Store`].
#[derive(Default)]
pub struct MemoryStore {
    crawls: Mutex<HashMap<Uuid, Crawl>>,
    hosts: MemoryHosts,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, HashMap<Uuid, Crawl>>, StoreError> {
        self.crawls
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store poisoned by a panic".into()))
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn hosts(&self) -> &dyn Hosts {
        &self.hosts
    }

    async fn create_crawl(
        &self,
        spec: &CrawlSpec,
        seeds: &[Claim],
    ) -> Result<Vec<usize>, StoreError> {
        let mut crawls = self.lock()?;
        let crawl = crawls.entry(spec.crawl_id).or_insert_with(|| Crawl {
            spec: spec.clone(),
            counters: Counters::default(),
            finished_ms: None,
            tasks: HashMap::new(),
            state: HashMap::new(),
            results: HashMap::new(),
            tally: BTreeMap::new(),
            expanded: HashSet::new(),
            finals: HashMap::new(),
        });
        Ok(crawl.claim(Uuid::nil(), false, seeds).0)
    }

    async fn start_tasks(
        &self,
        crawl_id: Uuid,
        task_ids: &[Uuid],
    ) -> Result<Option<Vec<Start>>, StoreError> {
        let mut crawls = self.lock()?;
        let Some(crawl) = crawls.get_mut(&crawl_id) else {
            return Ok(None);
        };
        let mut starts = Vec::with_capacity(task_ids.len());
        for task_id in task_ids {
            if !crawl.tasks.contains_key(task_id) {
                crawl.counters.unclaimed += 1;
                starts.push(Start::Unclaimed);
                continue;
            }
            let state = *crawl
                .state
                .entry(*task_id)
                .and_modify(|code| {
                    if let TaskCode::Retrying(_) = code {
                        // Its next try starts.
                        crawl.counters.retrying = crawl.counters.retrying.saturating_sub(1);
                        *code = TaskCode::Started;
                    }
                })
                .or_insert_with(|| {
                    crawl.counters.started += 1;
                    TaskCode::Started
                });
            starts.push(if state.ended() {
                Start::Applied
            } else if let Some(result) = crawl.results.get(task_id) {
                Start::Stored(Box::new(result.clone()))
            } else {
                Start::Fetch
            });
        }
        Ok(Some(starts))
    }

    async fn put_results(
        &self,
        crawl_id: Uuid,
        results: &[&PageResult],
    ) -> Result<bool, StoreError> {
        let mut crawls = self.lock()?;
        let Some(crawl) = crawls.get_mut(&crawl_id) else {
            return Ok(false);
        };
        for result in results {
            crawl.results.insert(result.task_id, (*result).clone());
        }
        Ok(true)
    }

    async fn mark_retrying(
        &self,
        crawl_id: Uuid,
        task_id: Uuid,
        retry: Retry,
    ) -> Result<(), StoreError> {
        let mut crawls = self.lock()?;
        let Some(crawl) = crawls.get_mut(&crawl_id) else {
            return Ok(());
        };
        let previous = crawl.state.get(&task_id).copied();
        match previous {
            Some(code) if code.ended() => return Ok(()),
            Some(TaskCode::Retrying(_)) => {}
            Some(_) => crawl.counters.retrying += 1,
            None => {
                crawl.counters.started += 1;
                crawl.counters.retrying += 1;
            }
        }
        crawl.state.insert(task_id, TaskCode::Retrying(retry));
        Ok(())
    }

    async fn apply(&self, result: &PageResult, children: &[Claim]) -> Result<Applied, StoreError> {
        let mut crawls = self.lock()?;
        let Some(crawl) = crawls.get_mut(&result.crawl_id) else {
            return Ok(Applied::default());
        };
        let tid = result.task_id;
        if !crawl.tasks.contains_key(&tid) {
            // A completion for a task this crawl never claimed: ignore it.
            return Ok(Applied {
                known: true,
                ..Applied::default()
            });
        }
        let previous = crawl.state.get(&tid).copied();
        let fresh = !previous.is_some_and(TaskCode::ended);
        if fresh {
            let code = match result.outcome {
                Outcome::Done => TaskCode::Done,
                Outcome::Failed => TaskCode::Failed,
            };
            crawl.state.insert(tid, code);
            match previous {
                None => crawl.counters.started += 1,
                Some(TaskCode::Retrying(_)) => {
                    crawl.counters.retrying = crawl.counters.retrying.saturating_sub(1);
                }
                Some(_) => {}
            }
            match code {
                TaskCode::Done => crawl.counters.done += 1,
                _ => crawl.counters.failed += 1,
            }
            for tag in &result.tags {
                *crawl.tally.entry(tag.clone()).or_insert(0) += 1;
            }
        }
        let (publish, finished) = crawl.claim(tid, fresh, children);
        Ok(Applied {
            known: true,
            fresh,
            publish,
            finished,
        })
    }

    async fn mark_expanded(&self, crawl_id: Uuid, task_ids: &[Uuid]) -> Result<(), StoreError> {
        if let Some(crawl) = self.lock()?.get_mut(&crawl_id) {
            crawl.expanded.extend(task_ids);
        }
        Ok(())
    }

    async fn spec(&self, crawl_id: Uuid) -> Result<Option<CrawlSpec>, StoreError> {
        Ok(self.lock()?.get(&crawl_id).map(|c| c.spec.clone()))
    }

    async fn status(&self, crawl_id: Uuid) -> Result<Option<CrawlStatus>, StoreError> {
        let crawls = self.lock()?;
        Ok(crawls
            .get(&crawl_id)
            .map(|c| CrawlStatus::new(&c.spec, c.counters, c.finished_ms, now_ms())))
    }

    async fn task(&self, task_id: Uuid) -> Result<Option<TaskView>, StoreError> {
        let crawls = self.lock()?;
        Ok(crawls.iter().find_map(|(crawl_id, crawl)| {
            let claim = crawl.tasks.get(&task_id)?;
            let result = crawl.results.get(&task_id).cloned();
            let code = crawl.state.get(&task_id).copied();
            Some(TaskView {
                crawl_id: *crawl_id,
                task_id,
                url: claim.url.clone(),
                depth: claim.depth,
                state: TaskState::of(code, result.is_some()),
                retry: code.and_then(TaskCode::retry),
                result,
            })
        }))
    }

    async fn tally(&self, crawl_id: Uuid) -> Result<BTreeMap<String, u64>, StoreError> {
        let crawls = self.lock()?;
        Ok(crawls
            .get(&crawl_id)
            .map(|c| c.tally.clone())
            .unwrap_or_default())
    }

    async fn pages(&self, crawl_id: Uuid) -> Result<Vec<PageRecord>, StoreError> {
        let crawls = self.lock()?;
        Ok(crawls
            .get(&crawl_id)
            .map(Crawl::records)
            .unwrap_or_default())
    }

    async fn report(&self, crawl_id: Uuid) -> Result<Option<Report>, StoreError> {
        // One lock: status, tally and pages from the same instant.
        let crawls = self.lock()?;
        let Some(crawl) = crawls.get(&crawl_id) else {
            return Ok(None);
        };
        let status = CrawlStatus::new(&crawl.spec, crawl.counters, crawl.finished_ms, now_ms());
        Ok(Some(Report::build(
            status,
            crawl.tally.clone(),
            &crawl.records(),
        )))
    }

    async fn claim_final(
        &self,
        crawl_id: Uuid,
        final_id: Uuid,
        task_id: Uuid,
    ) -> Result<Option<Uuid>, StoreError> {
        let mut crawls = self.lock()?;
        let Some(crawl) = crawls.get_mut(&crawl_id) else {
            return Ok(None);
        };
        if crawl.tasks.contains_key(&final_id) {
            return Ok(Some(final_id));
        }
        Ok(Some(*crawl.finals.entry(final_id).or_insert(task_id)))
    }

    async fn delete(&self, crawl_id: Uuid) -> Result<bool, StoreError> {
        self.hosts.forget(crawl_id);
        Ok(self.lock()?.remove(&crawl_id).is_some())
    }
}
