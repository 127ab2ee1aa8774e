//! The store on Redis. Every state change is one Lua script, so it is atomic
//! and idempotent per task id; the key scheme is in [`crate::names::Keys`].

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use uuid::Uuid;

use crate::message::{Outcome, PageResult};
use crate::names::Keys;
use crate::report::{
    ClaimRecord, Counters, CrawlStatus, Heartbeat, PageRecord, Report, Retry, TaskCode, TaskState,
    TaskView, now_ms,
};
use crate::store::{Applied, Claim, CrawlKind, CrawlSpec, Start, Store, StoreError};

/// How long to wait for Redis to accept a connection or answer a command.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A [`Store`] on Redis, through a reconnecting connection manager.
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) connection: ConnectionManager,
    pub(crate) keys: Keys,
    apply: Script,
    start: Script,
    retry: Script,
    put_results: Script,
    expanded: Script,
    pub(crate) host: Script,
    final_page: Script,
}

impl RedisStore {
    /// Connects to `url` and checks that Redis answers.
    pub async fn connect(url: &str, key_prefix: &str) -> Result<Self, StoreError> {
        let unreachable = |reason: String| {
            StoreError::Unavailable(format!(
                "cannot reach Redis at {}: {reason}",
                crate::amqp::redact(url)
            ))
        };
        let client = redis::Client::open(url).map_err(|e| unreachable(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(2);
        let mut connection =
            tokio::time::timeout(TIMEOUT, client.get_connection_manager_with_config(config))
                .await
                .map_err(|_| unreachable(format!("no answer in {}s", TIMEOUT.as_secs())))?
                .map_err(|e| unreachable(e.to_string()))?;
        let _: () = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(Self {
            connection,
            keys: Keys::new(key_prefix),
            apply: Script::new(include_str!("lua/apply.lua")),
            start: Script::new(include_str!("lua/start.lua")),
            retry: Script::new(include_str!("lua/retry.lua")),
            put_results: Script::new(include_str!("lua/put_results.lua")),
            expanded: Script::new(include_str!("lua/expanded.lua")),
            host: Script::new(include_str!("lua/host.lua")),
            final_page: Script::new(include_str!("lua/final.lua")),
        })
    }

    async fn run_apply(
        &self,
        crawl_id: Uuid,
        task_id: Option<Uuid>,
        outcome: Outcome,
        tags: &[String],
        children: &[Claim],
        parent: Uuid,
    ) -> Result<Applied, StoreError> {
        let mut invocation = self.apply.prepare_invoke();
        invocation
            .key(self.keys.meta(crawl_id))
            .key(self.keys.tasks(crawl_id))
            .key(self.keys.state(crawl_id))
            .key(self.keys.tally(crawl_id))
            .key(self.keys.expanded(crawl_id))
            .key(self.keys.finals(crawl_id))
            .key(self.keys.results(crawl_id))
            .key(self.keys.robots(crawl_id))
            .arg(task_id.map(|t| t.to_string()).unwrap_or_default())
            .arg(match outcome {
                Outcome::Done => "d",
                Outcome::Failed => "f",
            })
            .arg(now_ms())
            .arg(tags.len())
            .arg(tags)
            .arg(children.len());
        for child in children {
            invocation
                .arg(child.task_id.to_string())
                .arg(ClaimRecord::encode(parent, child.depth, &child.url));
        }
        let (known, fresh, finished, publish): (i64, i64, i64, Vec<usize>) = invocation
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(StoreError::redis)?;
        Ok(Applied {
            known: known == 1,
            fresh: fresh == 1,
            publish,
            finished: finished == 1,
        })
    }

    /// A crawl's status from its meta hash alone.
    async fn read_status(&self, crawl_id: Uuid) -> Result<Option<CrawlStatus>, StoreError> {
        let meta: HashMap<String, String> = self
            .connection
            .clone()
            .hgetall(self.keys.meta(crawl_id))
            .await
            .map_err(StoreError::redis)?;
        status_from_meta(&meta)
    }

    /// Whether Redis answers a PING now (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let _: () = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(StoreError::redis)?;
        Ok(())
    }

    /// Records a service's heartbeat.
    pub async fn beat(&self, beat: &Heartbeat) -> Result<(), StoreError> {
        let json = serde_json::to_string(beat)
            .map_err(|e| StoreError::Corrupt(format!("a heartbeat: {e}")))?;
        let mut connection = self.connection.clone();
        let _: () = connection
            .hset(self.keys.heartbeats(), &beat.id, json)
            .await
            .map_err(StoreError::redis)?;
        Ok(())
    }

    /// The services heard from within `within`, by role and id; older
    /// heartbeats (stopped or killed processes) are removed.
    pub async fn beats(&self, within: Duration) -> Result<Vec<Heartbeat>, StoreError> {
        let mut connection = self.connection.clone();
        let all: HashMap<String, String> = connection
            .hgetall(self.keys.heartbeats())
            .await
            .map_err(StoreError::redis)?;
        let oldest = now_ms().saturating_sub(within.as_millis() as u64);
        let mut live = Vec::new();
        let mut gone = Vec::new();
        for (id, json) in all {
            match serde_json::from_str::<Heartbeat>(&json) {
                Ok(beat) if beat.seen_ms >= oldest => live.push(beat),
                _ => gone.push(id),
            }
        }
        if !gone.is_empty() {
            let _: () = connection
                .hdel(self.keys.heartbeats(), gone)
                .await
                .map_err(StoreError::redis)?;
        }
        live.sort_by(|a, b| (&a.role, &a.id).cmp(&(&b.role, &b.id)));
        Ok(live)
    }

    /// Every crawl under this key prefix, newest first. Crawls whose keys
    /// expired (`--ttl`) are dropped from the set of crawls as they are found.
    pub async fn list(&self) -> Result<Vec<CrawlStatus>, StoreError> {
        let mut connection = self.connection.clone();
        let ids: Vec<String> = connection
            .smembers(self.keys.crawls())
            .await
            .map_err(StoreError::redis)?;
        let ids: Vec<Uuid> = ids.iter().filter_map(|id| id.parse().ok()).collect();
        let mut read = redis::pipe();
        for id in &ids {
            read.hgetall(self.keys.meta(*id));
        }
        let metas: Vec<HashMap<String, String>> = if ids.is_empty() {
            Vec::new()
        } else {
            read.query_async(&mut connection)
                .await
                .map_err(StoreError::redis)?
        };
        let mut crawls = Vec::new();
        let mut gone = Vec::new();
        for (id, meta) in ids.iter().zip(&metas) {
            match status_from_meta(meta)? {
                Some(status) => crawls.push(status),
                None => gone.push(id.to_string()),
            }
        }
        if !gone.is_empty() {
            let _: () = connection
                .srem(self.keys.crawls(), gone)
                .await
                .map_err(StoreError::redis)?;
        }
        crawls.sort_by(|a, b| {
            b.created_ms
                .cmp(&a.created_ms)
                .then(a.crawl_id.cmp(&b.crawl_id))
        });
        Ok(crawls)
    }

    /// Everything about a crawl, read in one MULTI/EXEC so the parts agree.
    async fn snapshot(&self, crawl_id: Uuid) -> Result<Option<Snapshot>, StoreError> {
        let (meta, tally, claims, mut states, mut results): RawCrawl = redis::pipe()
            .atomic()
            .hgetall(self.keys.meta(crawl_id))
            .hgetall(self.keys.tally(crawl_id))
            .hgetall(self.keys.tasks(crawl_id))
            .hgetall(self.keys.state(crawl_id))
            .hgetall(self.keys.results(crawl_id))
            .query_async(&mut self.connection.clone())
            .await
            .map_err(StoreError::redis)?;
        let Some(status) = status_from_meta(&meta)? else {
            return Ok(None);
        };
        let corrupt = |what: &str, value: &str| StoreError::Corrupt(format!("{what} {value:?}"));
        let mut pages = claims
            .into_iter()
            .map(|(tid, claim)| {
                let task_id = tid.parse::<Uuid>().map_err(|_| corrupt("task id", &tid))?;
                let record = ClaimRecord::decode(&claim).ok_or_else(|| corrupt("claim", &claim))?;
                let result = results
                    .remove(&tid)
                    .map(|json| serde_json::from_str::<PageResult>(&json))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(PageRecord::new(
                    task_id,
                    record,
                    states.remove(&tid).as_deref().and_then(TaskCode::decode),
                    result,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        pages.sort_by(|a, b| a.url.cmp(&b.url));
        crate::report::settle_depths(&mut pages);
        Ok(Some(Snapshot {
            status,
            tally,
            pages,
        }))
    }
}

/// A crawl's hashes as read: meta, tally, tasks, state, results.
type RawCrawl = (
    HashMap<String, String>,
    BTreeMap<String, u64>,
    HashMap<String, String>,
    HashMap<String, String>,
    HashMap<String, String>,
);

/// A crawl read at one instant.
struct Snapshot {
    status: CrawlStatus,
    tally: BTreeMap<String, u64>,
    pages: Vec<PageRecord>,
}

/// The status from a meta hash; `None` when the crawl does not exist.
fn status_from_meta(meta: &HashMap<String, String>) -> Result<Option<CrawlStatus>, StoreError> {
    let Some(spec) = meta.get("spec") else {
        return Ok(None);
    };
    let spec: CrawlSpec =
        serde_json::from_str(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let field = |name: &str| meta.get(name).and_then(|v| v.parse::<u64>().ok());
    let counters = Counters {
        created: field("created").unwrap_or(0),
        started: field("started").unwrap_or(0),
        done: field("done").unwrap_or(0),
        failed: field("failed").unwrap_or(0),
        unclaimed: field("unclaimed").unwrap_or(0),
        retrying: field("retrying").unwrap_or(0),
    };
    Ok(Some(CrawlStatus::new(
        &spec,
        counters,
        field("finished_ms"),
        now_ms(),
    )))
}

#[async_trait]
impl Store for RedisStore {
    fn hosts(&self) -> &dyn crate::politeness::Hosts {
        self
    }

    async fn create_crawl(
        &self,
        spec: &CrawlSpec,
        seeds: &[Claim],
    ) -> Result<Vec<usize>, StoreError> {
        let spec_json =
            serde_json::to_string(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let kind = match spec.kind {
            CrawlKind::Crawl => "crawl",
            CrawlKind::Submit => "submit",
        };
        let _: () = redis::pipe()
            .atomic()
            .hset_multiple(
                self.keys.meta(spec.crawl_id),
                &[
                    ("spec", spec_json.as_str()),
                    ("kind", kind),
                    ("max_pages", &spec.max_pages.unwrap_or(0).to_string()),
                    ("created_ms", &spec.created_ms.to_string()),
                    ("ttl_s", &spec.ttl_s.unwrap_or(0).to_string()),
                ],
            )
            .ignore()
            .sadd(self.keys.crawls(), spec.crawl_id.to_string())
            .ignore()
            .query_async(&mut self.connection.clone())
            .await
            .map_err(StoreError::redis)?;
        let applied = self
            .run_apply(spec.crawl_id, None, Outcome::Done, &[], seeds, Uuid::nil())
            .await?;
        Ok(applied.publish)
    }

    async fn start_tasks(
        &self,
        crawl_id: Uuid,
        task_ids: &[Uuid],
    ) -> Result<Option<Vec<Start>>, StoreError> {
        let mut invocation = self.start.prepare_invoke();
        invocation
            .key(self.keys.meta(crawl_id))
            .key(self.keys.state(crawl_id))
            .key(self.keys.results(crawl_id))
            .key(self.keys.tasks(crawl_id));
        for task_id in task_ids {
            invocation.arg(task_id.to_string());
        }
        let (known, what): (i64, Vec<redis::Value>) = invocation
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(StoreError::redis)?;
        if known == 0 {
            return Ok(None);
        }
        if what.len() != task_ids.len() {
            return Err(StoreError::Corrupt(format!(
                "start.lua answered for {} of {} tasks",
                what.len(),
                task_ids.len()
            )));
        }
        what.into_iter()
            .map(start_of)
            .collect::<Result<_, _>>()
            .map(Some)
    }

    async fn mark_retrying(
        &self,
        crawl_id: Uuid,
        task_id: Uuid,
        retry: Retry,
    ) -> Result<(), StoreError> {
        let _: i64 = self
            .retry
            .key(self.keys.meta(crawl_id))
            .key(self.keys.state(crawl_id))
            .arg(task_id.to_string())
            .arg(TaskCode::Retrying(retry).encode().as_ref())
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(StoreError::redis)?;
        Ok(())
    }

    async fn put_results(
        &self,
        crawl_id: Uuid,
        results: &[&PageResult],
    ) -> Result<bool, StoreError> {
        let mut invocation = self.put_results.prepare_invoke();
        invocation
            .key(self.keys.meta(crawl_id))
            .key(self.keys.results(crawl_id));
        for result in results {
            let json =
                serde_json::to_string(result).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            invocation.arg(result.task_id.to_string()).arg(json);
        }
        let known: i64 = invocation
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(StoreError::redis)?;
        Ok(known == 1)
    }

    async fn apply(&self, result: &PageResult, children: &[Claim]) -> Result<Applied, StoreError> {
        self.run_apply(
            result.crawl_id,
            Some(result.task_id),
            result.outcome,
            &result.tags,
            children,
            result.task_id,
        )
        .await
    }

    async fn mark_expanded(&self, crawl_id: Uuid, task_ids: &[Uuid]) -> Result<(), StoreError> {
        if task_ids.is_empty() {
            return Ok(());
        }
        let mut invocation = self.expanded.prepare_invoke();
        invocation
            .key(self.keys.meta(crawl_id))
            .key(self.keys.expanded(crawl_id));
        for task_id in task_ids {
            invocation.arg(task_id.to_string());
        }
        let _: i64 = invocation
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(StoreError::redis)?;
        Ok(())
    }

    async fn spec(&self, crawl_id: Uuid) -> Result<Option<CrawlSpec>, StoreError> {
        let spec: Option<String> = self
            .connection
            .clone()
            .hget(self.keys.meta(crawl_id), "spec")
            .await
            .map_err(StoreError::redis)?;
        spec.map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn status(&self, crawl_id: Uuid) -> Result<Option<CrawlStatus>, StoreError> {
        self.read_status(crawl_id).await
    }

    async fn task(&self, task_id: Uuid) -> Result<Option<TaskView>, StoreError> {
        let mut connection = self.connection.clone();
        let crawls: Vec<String> = connection
            .smembers(self.keys.crawls())
            .await
            .map_err(StoreError::redis)?;
        let crawls: Vec<Uuid> = crawls.iter().filter_map(|c| c.parse().ok()).collect();
        if crawls.is_empty() {
            return Ok(None);
        }
        let mut lookup = redis::pipe();
        for crawl in &crawls {
            lookup.hget(self.keys.tasks(*crawl), task_id.to_string());
        }
        let claims: Vec<Option<String>> = lookup
            .query_async(&mut connection)
            .await
            .map_err(StoreError::redis)?;
        let Some((crawl_id, claim)) = crawls
            .into_iter()
            .zip(claims)
            .find_map(|(crawl, claim)| claim.map(|c| (crawl, c)))
        else {
            return Ok(None);
        };
        let claim = ClaimRecord::decode(&claim)
            .ok_or_else(|| StoreError::Corrupt(format!("task record {claim:?}")))?;
        let (state, result): (Option<String>, Option<String>) = redis::pipe()
            .hget(self.keys.state(crawl_id), task_id.to_string())
            .hget(self.keys.results(crawl_id), task_id.to_string())
            .query_async(&mut connection)
            .await
            .map_err(StoreError::redis)?;
        let result: Option<PageResult> = result
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let code = state.as_deref().and_then(TaskCode::decode);
        Ok(Some(TaskView {
            crawl_id,
            task_id,
            url: claim.url,
            depth: claim.depth,
            state: TaskState::of(code, result.is_some()),
            retry: code.and_then(TaskCode::retry),
            result,
        }))
    }

    async fn tally(&self, crawl_id: Uuid) -> Result<BTreeMap<String, u64>, StoreError> {
        self.connection
            .clone()
            .hgetall(self.keys.tally(crawl_id))
            .await
            .map_err(StoreError::redis)
    }

    async fn pages(&self, crawl_id: Uuid) -> Result<Vec<PageRecord>, StoreError> {
        Ok(self
            .snapshot(crawl_id)
            .await?
            .map(|s| s.pages)
            .unwrap_or_default())
    }

    async fn report(&self, crawl_id: Uuid) -> Result<Option<Report>, StoreError> {
        Ok(self
            .snapshot(crawl_id)
            .await?
            .map(|s| Report::build(s.status, s.tally, &s.pages)))
    }

    async fn claim_final(
        &self,
        crawl_id: Uuid,
        final_id: Uuid,
        task_id: Uuid,
    ) -> Result<Option<Uuid>, StoreError> {
        let keeper: Option<String> = self
            .final_page
            .key(self.keys.meta(crawl_id))
            .key(self.keys.tasks(crawl_id))
            .key(self.keys.finals(crawl_id))
            .arg(final_id.to_string())
            .arg(task_id.to_string())
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(StoreError::redis)?;
        keeper
            .map(|id| {
                id.parse()
                    .map_err(|_| StoreError::Corrupt(format!("a finals entry {id:?}")))
            })
            .transpose()
    }

    async fn delete(&self, crawl_id: Uuid) -> Result<bool, StoreError> {
        let (deleted, _): (u64, u64) = redis::pipe()
            .atomic()
            .del(self.keys.all_of(crawl_id).to_vec())
            .srem(self.keys.crawls(), crawl_id.to_string())
            .query_async(&mut self.connection.clone())
            .await
            .map_err(StoreError::redis)?;
        Ok(deleted > 0)
    }
}

/// One task's answer from start.lua: 0 (fetch), 1 (applied), 2 (unclaimed) or its stored result.
fn start_of(what: redis::Value) -> Result<Start, StoreError> {
    match what {
        redis::Value::Int(0) => Ok(Start::Fetch),
        redis::Value::Int(1) => Ok(Start::Applied),
        redis::Value::Int(2) => Ok(Start::Unclaimed),
        redis::Value::BulkString(json) => serde_json::from_slice(&json)
            .map(|result| Start::Stored(Box::new(result)))
            .map_err(|e| StoreError::Corrupt(format!("a stored result: {e}"))),
        other => Err(StoreError::Corrupt(format!("start.lua answered {other:?}"))),
    }
}
