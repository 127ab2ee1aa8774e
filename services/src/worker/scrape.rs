//! One task's page: fetched, checked against the crawl's other URLs when
//! redirects led elsewhere, parsed on the bounded pool; a failure classified
//! (recorded, or retried later and after how long).

use super::*;

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
    pub(super) async fn scrape(
        &self,
        task: &Task,
        lease: Option<&Lease>,
    ) -> (PageResult, Option<Retry>, Pace) {
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
    pub(super) fn retry_delay(&self, task: &Task, retry: Option<Retry>) -> Option<Duration> {
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
pub(super) struct Retry {
    after: Option<Duration>,
    /// Why, as the retries metric labels it.
    pub(super) reason: &'static str,
}

/// A failed fetch or parse, as recorded in the result.
pub(super) struct Failure {
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
pub(crate) fn failed_result(task: &Task, reason: String) -> PageResult {
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
