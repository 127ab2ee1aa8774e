//! The views the producer prints: a crawl's status, one task's future, and
//! the full report (tag tally and every page). Built from raw store data by
//! pure functions shared by both store implementations, so local and
//! distributed crawls report alike.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::clock::now_ms;
use crate::display::printable;
use crate::message::{PageResult, Politeness};
use crate::spec::{CrawlKind, CrawlSpec};

/// What `status` shows of one host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostView {
    /// The host (origin).
    pub origin: String,
    /// Lanes held or reserved.
    pub in_flight: u64,
    /// Tasks queued behind the host.
    pub queued: u64,
    /// Milliseconds until the host's pause ends (429, 503, robots.txt down); 0 when not paused.
    pub paused_ms: u64,
}

/// Whether a crawl still has work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrawlState {
    /// Tasks are queued or in flight.
    Running,
    /// Every claimed task is done or failed.
    Finished,
    /// A local crawl stopped by Ctrl-C before it finished (only the
    /// producer's report of it says so; stores hold running or finished).
    Interrupted,
}

impl std::fmt::Display for CrawlState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Interrupted => "interrupted",
        })
    }
}

/// A crawl's counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrawlStatus {
    /// The crawl's id.
    pub crawl_id: Uuid,
    /// Crawl or fixed list.
    pub kind: CrawlKind,
    /// Running or finished.
    pub state: CrawlState,
    /// Canonical seed URLs.
    pub seeds: Vec<String>,
    /// Tasks claimed so far: every distinct URL the crawl will fetch.
    pub discovered: u64,
    /// Claimed, not yet taken by a worker.
    pub queued: u64,
    /// Taken by a worker (fetching, or waiting for a fetch slot or for its
    /// host), completion not yet applied; retrying tasks not included.
    pub in_flight: u64,
    /// Waiting for their next try after a transient failure.
    #[serde(default)]
    pub retrying: u64,
    /// Fetched and parsed.
    pub done: u64,
    /// Finished with an error.
    pub failed: u64,
    /// Task messages for URLs the crawl never claimed (forged or stale),
    /// dropped without a fetch.
    #[serde(default)]
    pub unclaimed: u64,
    /// Seconds from creation to now, or to the end.
    pub elapsed_s: f64,
    /// Finished tasks per second over `elapsed_s`.
    pub pages_per_s: f64,
    /// The crawl's per-host limits.
    #[serde(default)]
    pub politeness: Politeness,
    /// When it was created, milliseconds since the Unix epoch.
    #[serde(default)]
    pub created_ms: u64,
    /// Seconds its keys are kept once it is finished (`None`: until deleted).
    #[serde(default)]
    pub ttl_s: Option<u64>,
    /// Its hosts' lanes, queues and pauses, when asked for (`producer status`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostView>,
}

/// Raw counters as a store keeps them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Tasks claimed.
    pub created: u64,
    /// Tasks a worker started (each counted once).
    pub started: u64,
    /// Tasks applied as done.
    pub done: u64,
    /// Tasks applied as failed.
    pub failed: u64,
    /// Task messages the crawl never claimed (forged or stale), dropped.
    pub unclaimed: u64,
    /// Started tasks waiting for their next try.
    pub retrying: u64,
}

impl CrawlStatus {
    /// Derives the status from the spec, the counters and the end time (if finished).
    pub fn new(
        spec: &CrawlSpec,
        counters: Counters,
        finished_ms: Option<u64>,
        now_ms: u64,
    ) -> Self {
        let Counters {
            created,
            started,
            done,
            failed,
            unclaimed,
            retrying,
        } = counters;
        let end = finished_ms.unwrap_or(now_ms);
        let elapsed_s = end.saturating_sub(spec.created_ms) as f64 / 1000.0;
        Self {
            crawl_id: spec.crawl_id,
            kind: spec.kind,
            state: if finished_ms.is_some() {
                CrawlState::Finished
            } else {
                CrawlState::Running
            },
            seeds: spec.seeds.clone(),
            discovered: created,
            queued: created.saturating_sub(started),
            in_flight: started.saturating_sub(done + failed + retrying),
            retrying,
            done,
            failed,
            unclaimed,
            elapsed_s,
            pages_per_s: if elapsed_s > 0.0 {
                (done + failed) as f64 / elapsed_s
            } else {
                0.0
            },
            politeness: spec.rules.politeness,
            created_ms: spec.created_ms,
            ttl_s: spec.ttl_s,
            hosts: Vec::new(),
        }
    }

    /// The hosts (origins) `status` shows: the seeds' and those `--allow-host` named by origin.
    pub fn origins(spec: &CrawlSpec) -> Vec<String> {
        let mut origins: Vec<String> = spec
            .seeds
            .iter()
            .filter_map(|seed| url::Url::parse(seed).ok())
            .map(|seed| crate::links::origin(&seed))
            .chain(
                spec.rules
                    .allow_hosts
                    .iter()
                    .filter(|entry| entry.contains("://"))
                    .cloned(),
            )
            .collect();
        origins.sort();
        origins.dedup();
        origins
    }

    /// The politeness lines under `producer status`: the limits, then each
    /// host with anything in flight, queued or paused.
    pub fn host_lines(&self) -> String {
        let Politeness {
            host_concurrency,
            host_delay_ms,
            robots,
        } = self.politeness;
        let lanes = match host_concurrency {
            0 => "unlimited requests".to_owned(),
            n => format!("at most {n} requests"),
        };
        let mut out = format!(
            "per host: {lanes} in flight, {}ms between starts, robots.txt {}\n",
            host_delay_ms,
            if robots { "obeyed" } else { "ignored" }
        );
        for host in &self.hosts {
            if host.in_flight == 0 && host.queued == 0 && host.paused_ms == 0 {
                continue;
            }
            let _ = write!(
                out,
                "  {}: {} in flight, {} waiting",
                host.origin, host.in_flight, host.queued
            );
            if host.paused_ms > 0 {
                let _ = write!(
                    out,
                    ", throttled for {:.1}s more",
                    host.paused_ms as f64 / 1000.0
                );
            }
            out.push('\n');
        }
        out
    }

    /// One line for progress output and `producer status`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{}/{} pages ({} done, {} failed, {} queued, {} taken by workers, {} retrying), {:.1} pages/s, {:.1}s elapsed",
            self.done + self.failed,
            self.discovered,
            self.done,
            self.failed,
            self.queued,
            self.in_flight,
            self.retrying,
            self.pages_per_s,
            self.elapsed_s
        );
        if self.unclaimed > 0 {
            let _ = write!(
                line,
                ", {} unclaimed task(s) dropped unfetched",
                self.unclaimed
            );
        }
        line
    }
}

/// The state of one task's future.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Claimed and published, not yet taken by a worker.
    Queued,
    /// A worker is on it, or its completion is not yet applied.
    Running,
    /// A transient failure: it waits for its next try.
    Retrying,
    /// Fetched and parsed.
    Done,
    /// Finished with an error.
    Failed,
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Retrying => "retrying",
            Self::Done => "done",
            Self::Failed => "failed",
        })
    }
}

impl TaskState {
    /// The state of a task whose store keeps `code` (none: not started) and
    /// has, or has not, a result for it.
    pub fn of(code: Option<TaskCode>, has_result: bool) -> Self {
        match code {
            Some(TaskCode::Done) => Self::Done,
            Some(TaskCode::Failed) => Self::Failed,
            Some(TaskCode::Retrying(_)) => Self::Retrying,
            Some(TaskCode::Started) => Self::Running,
            None if has_result => Self::Running,
            None => Self::Queued,
        }
    }
}

/// A task's state as both stores keep it: one type, one encoding (`s`,
/// `r ATTEMPT NEXT_MS`, `d`, `f`), which the Redis scripts write and read
/// too (`lua/start.lua`, `lua/retry.lua`, `lua/apply.lua`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskCode {
    /// Taken by a worker.
    Started,
    /// Waiting for its next try.
    Retrying(Retry),
    /// Applied as done.
    Done,
    /// Applied as failed.
    Failed,
}

impl TaskCode {
    /// The stored form.
    pub fn encode(self) -> std::borrow::Cow<'static, str> {
        match self {
            Self::Started => "s".into(),
            Self::Retrying(retry) => format!("r {} {}", retry.attempt, retry.next_try_ms).into(),
            Self::Done => "d".into(),
            Self::Failed => "f".into(),
        }
    }

    /// Reads [`TaskCode::encode`]'s form; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        match text {
            "s" => Some(Self::Started),
            "d" => Some(Self::Done),
            "f" => Some(Self::Failed),
            _ => {
                let mut parts = text.strip_prefix("r ")?.split(' ');
                Some(Self::Retrying(Retry {
                    attempt: parts.next()?.parse().ok()?,
                    next_try_ms: parts.next()?.parse().ok()?,
                }))
            }
        }
    }

    /// Whether its completion was applied.
    pub fn ended(self) -> bool {
        matches!(self, Self::Done | Self::Failed)
    }

    /// Its next try, while retrying.
    pub fn retry(self) -> Option<Retry> {
        match self {
            Self::Retrying(retry) => Some(retry),
            _ => None,
        }
    }
}

/// A task waiting for its next try after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retry {
    /// The try it waits for (2 is the first retry).
    pub attempt: u32,
    /// When it is due, milliseconds since the Unix epoch.
    pub next_try_ms: u64,
}

/// One task's future, for `producer result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    /// The crawl it belongs to.
    pub crawl_id: Uuid,
    /// Its id.
    pub task_id: Uuid,
    /// Its URL.
    pub url: String,
    /// Its depth.
    pub depth: u32,
    /// Where it stands.
    pub state: TaskState,
    /// Its next try, while it is retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// Its result, once a worker stored one.
    pub result: Option<PageResult>,
}

/// One page in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageEntry {
    /// The page's URL.
    pub url: String,
    /// Its task id.
    pub task_id: Uuid,
    /// Its shortest link distance from a seed among crawled pages.
    pub depth: u32,
    /// Where its task stands.
    pub state: TaskState,
    /// HTTP status; null when no response came (or none yet).
    pub status: Option<u16>,
    /// Its title.
    pub title: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// What a running worker or aggregator says of itself every few seconds,
/// for the dashboard: who it is and its totals since it started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// A process id unique across the fleet.
    pub id: String,
    /// `worker` or `aggregator`.
    pub role: String,
    /// The host (container) it runs on.
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
    /// When it started, ms since the epoch.
    pub started_ms: u64,
    /// When it said this, ms since the epoch.
    pub seen_ms: u64,
    /// Pages stored as done.
    pub done: u64,
    /// Pages stored as failed.
    pub failed: u64,
    /// Fetches scheduled again.
    pub retries: u64,
    /// Fetches in flight now.
    pub in_flight: u64,
    /// Completions applied.
    pub applied: u64,
    /// Pages (worker) or completions (aggregator) per second since its last heartbeat.
    pub per_sec: f64,
}

/// A crawl's report: status, tag tally, failures and every page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Counters and timing.
    #[serde(flatten)]
    pub status: CrawlStatus,
    /// Tag → number of pages carrying it.
    pub tag_counts: BTreeMap<String, u64>,
    /// Failure reason → number of pages.
    pub failures: BTreeMap<String, u64>,
    /// Every claimed page, sorted by URL.
    pub pages: Vec<PageEntry>,
}

/// A claimed task as a store records it: `parent|depth|url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRecord {
    /// The task that claimed it (nil for seeds).
    pub parent: Uuid,
    /// Its depth.
    pub depth: u32,
    /// Its URL.
    pub url: String,
}

impl ClaimRecord {
    /// Encodes as `parent|depth|url`, the form the Redis scripts read.
    pub fn encode(parent: Uuid, depth: u32, url: &str) -> String {
        format!("{parent}|{depth}|{url}")
    }

    /// Decodes `parent|depth|url`.
    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, '|');
        let parent = parts.next()?.parse().ok()?;
        let depth = parts.next()?.parse().ok()?;
        let url = parts.next()?.to_owned();
        Some(Self { parent, depth, url })
    }
}

/// One claimed page as a store holds it: claim, state and (once finished) result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRecord {
    /// Its task id.
    pub task_id: Uuid,
    /// Its URL.
    pub url: String,
    /// Its shortest link distance from a seed among crawled pages (see [`settle_depths`]).
    pub depth: u32,
    /// Where its task stands.
    pub state: TaskState,
    /// Its result, once finished.
    pub result: Option<PageResult>,
}

impl PageRecord {
    /// Builds a record from a store's raw claim, state code and result;
    /// a result is shown only once its completion is applied.
    pub fn new(
        task_id: Uuid,
        claim: ClaimRecord,
        code: Option<TaskCode>,
        result: Option<PageResult>,
    ) -> Self {
        let state = TaskState::of(code, result.is_some());
        let result = result.filter(|_| matches!(state, TaskState::Done | TaskState::Failed));
        Self {
            task_id,
            url: claim.url,
            depth: claim.depth,
            state,
            result,
        }
    }
}

/// Sets each page's depth to its shortest link distance from a seed over the
/// links of the pages crawled, so depths do not depend on which parent's
/// completion happened to arrive first. Seeds are the pages claimed at depth 0;
/// pages the known links do not reach keep the depth they were claimed at.
pub fn settle_depths(pages: &mut [PageRecord]) {
    let index: HashMap<String, usize> = pages
        .iter()
        .enumerate()
        .map(|(i, p)| (p.url.clone(), i))
        .collect();
    let mut settled: Vec<Option<u32>> = pages.iter().map(|p| (p.depth == 0).then_some(0)).collect();
    let mut queue: VecDeque<usize> = (0..pages.len()).filter(|&i| pages[i].depth == 0).collect();
    while let Some(i) = queue.pop_front() {
        let depth = settled[i].unwrap_or(0) + 1;
        let Some(result) = &pages[i].result else {
            continue;
        };
        for link in &result.links {
            if let Some(&j) = index.get(link)
                && settled[j].is_none()
            {
                settled[j] = Some(depth);
                queue.push_back(j);
            }
        }
    }
    for (page, depth) in pages.iter_mut().zip(settled) {
        if let Some(depth) = depth {
            page.depth = depth;
        }
    }
}

/// The `n` most common tags of a tally, most common first, ties by name.
pub fn top_tags(tally: &BTreeMap<String, u64>, n: usize) -> Vec<(&str, u64)> {
    let mut tags: Vec<(&str, u64)> = tally
        .iter()
        .map(|(tag, count)| (tag.as_str(), *count))
        .collect();
    tags.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    tags.truncate(n);
    tags
}

/// Failed pages by their reason (`unknown` when none was recorded).
pub fn failures_by_reason(records: &[PageRecord]) -> BTreeMap<String, u64> {
    let mut failures = BTreeMap::new();
    for record in records.iter().filter(|r| r.state == TaskState::Failed) {
        let reason = record.result.as_ref().and_then(|r| r.error.clone());
        *failures
            .entry(reason.unwrap_or_else(|| "unknown".into()))
            .or_insert(0) += 1;
    }
    failures
}

impl Report {
    /// Assembles a report from a crawl's status, tally and pages.
    pub fn build(
        status: CrawlStatus,
        tag_counts: BTreeMap<String, u64>,
        records: &[PageRecord],
    ) -> Self {
        let pages = records
            .iter()
            .map(|record| {
                let (status, title, tags, error) = match &record.result {
                    Some(r) => (r.status, r.title.clone(), r.tags.clone(), r.error.clone()),
                    None => (None, None, Vec::new(), None),
                };
                PageEntry {
                    url: record.url.clone(),
                    task_id: record.task_id,
                    depth: record.depth,
                    state: record.state,
                    status,
                    title,
                    tags,
                    error,
                }
            })
            .collect();
        Self {
            status,
            tag_counts,
            failures: failures_by_reason(records),
            pages,
        }
    }

    /// The `n` most common tags, most common first, ties by name.
    pub fn top_tags(&self, n: usize) -> Vec<(&str, u64)> {
        top_tags(&self.tag_counts, n)
    }

    /// The human-readable report: top tags, totals, failures by reason.
    pub fn render(&self, top: usize) -> String {
        let s = &self.status;
        let mut out = String::new();
        let _ = writeln!(out, "crawl {}: {}", s.crawl_id, s.state);
        if self.tag_counts.is_empty() {
            let _ = writeln!(out, "\nno tags: no page was scraped, or none had tags");
        } else {
            let _ = writeln!(
                out,
                "\ntop {} tags of {}:",
                top.min(self.tag_counts.len()),
                self.tag_counts.len()
            );
        }
        let top_tags = self.top_tags(top);
        let width = top_tags
            .iter()
            .map(|(t, _)| t.chars().count())
            .max()
            .unwrap_or(3);
        for (tag, count) in top_tags {
            let tag = printable(tag);
            let _ = writeln!(out, "  {tag:<width$}  {count:>6}");
        }
        let _ = writeln!(
            out,
            "\npages: {} done, {} failed, {} discovered in {:.1}s ({:.1} pages/s)",
            s.done, s.failed, s.discovered, s.elapsed_s, s.pages_per_s
        );
        if !self.failures.is_empty() {
            let _ = writeln!(out, "failures by reason:");
            for (reason, count) in &self.failures {
                let _ = writeln!(out, "  {count:>6}  {}", printable(reason));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_records_round_trip_urls_with_pipes() {
        let parent = Uuid::new_v4();
        let text = ClaimRecord::encode(parent, 3, "http://x/questions/1/a|b");
        let claim = ClaimRecord::decode(&text).unwrap();
        assert_eq!(
            (claim.parent, claim.depth, claim.url.as_str()),
            (parent, 3, "http://x/questions/1/a|b")
        );
        assert_eq!(ClaimRecord::decode("garbage"), None);
    }

    fn page(url: &str, depth: u32, links: &[&str]) -> PageRecord {
        let claim = ClaimRecord {
            parent: Uuid::nil(),
            depth,
            url: url.into(),
        };
        let result = PageResult {
            crawl_id: Uuid::nil(),
            task_id: Uuid::nil(),
            url: url.into(),
            final_url: None,
            depth,
            outcome: crate::message::Outcome::Done,
            status: Some(200),
            title: None,
            tags: vec![],
            links: links.iter().map(|l| l.to_string()).collect(),
            links_dropped: 0,
            tags_dropped: 0,
            error: None,
            fetched_at_ms: 0,
            elapsed_ms: 0,
            attempts: 1,
        };
        PageRecord::new(Uuid::nil(), claim, Some(TaskCode::Done), Some(result))
    }

    #[test]
    fn depths_settle_to_the_shortest_path_whatever_the_claim_order() {
        // c was claimed through the long way round (depth 3) but s links it directly.
        let mut pages = vec![
            page("s", 0, &["a", "c"]),
            page("a", 1, &["b"]),
            page("b", 2, &["c"]),
            page("c", 3, &["d"]),
            page("d", 4, &[]),
            page("lost", 7, &[]),
        ];
        settle_depths(&mut pages);
        let depths: Vec<u32> = pages.iter().map(|p| p.depth).collect();
        assert_eq!(depths, [0, 1, 2, 1, 2, 7]);
    }

    #[test]
    fn task_states_from_codes() {
        let state = |code: Option<&str>, has_result| {
            TaskState::of(code.and_then(TaskCode::decode), has_result)
        };
        assert_eq!(state(None, false), TaskState::Queued);
        assert_eq!(state(Some("s"), false), TaskState::Running);
        assert_eq!(state(None, true), TaskState::Running);
        assert_eq!(state(Some("d"), true), TaskState::Done);
        assert_eq!(state(Some("f"), true), TaskState::Failed);
        let retry = Retry {
            attempt: 2,
            next_try_ms: 42,
        };
        let code = TaskCode::Retrying(retry);
        assert_eq!(state(Some(&code.encode()), false), TaskState::Retrying);
        for code in [code, TaskCode::Started, TaskCode::Done, TaskCode::Failed] {
            assert_eq!(TaskCode::decode(&code.encode()), Some(code));
        }
        assert_eq!(TaskCode::decode("x"), None);
    }
}
