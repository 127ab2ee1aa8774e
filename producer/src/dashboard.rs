//! `producer dashboard`: a live page of the deployment, and the JSON API it
//! reads. Everything comes from Redis (crawls, tallies, heartbeats) and
//! RabbitMQ (queue depths) on each request; the server keeps only views: the
//! last two minutes of each running crawl's progress (sampled every second,
//! for the pages/s chart) and each crawl's failures, read again from its
//! pages whenever its count of failed pages changes. The page is one HTML file with its CSS and
//! JavaScript inline, served from the binary: no build step, no CDN.
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | the page |
//! | `GET /api/crawls` | `{"crawls": [status, ...]}`, newest first (as `producer list --json`) |
//! | `GET /api/crawls/{id}` | `{"status", "rate": [[ms, pages/s], ...], "top_tags": [{"tag","count"}], "failures": {reason: n}, "recent_failures": [{"url", "status", "reason", "at_ms"}], "queues", "workers"}` |
//! | `GET /api/workers` | `{"workers": [heartbeat, ...]}`: the services heard from in the last 15 s |

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use crawlq_core::amqp::Amqp;
use crawlq_core::message::PageResult;
use crawlq_core::redis::RedisStore;
use crawlq_core::report::{self, CrawlState, PageRecord, TaskState};
use crawlq_core::store::Store;
use crawlq_core::telemetry;
use serde_json::{Value, json};
use uuid::Uuid;

/// The page, served as is.
const PAGE: &str = include_str!("dashboard.html");

/// Tags listed per crawl.
const TOP_TAGS: usize = 15;

/// How long a heartbeat counts a service as alive.
const ALIVE: Duration = Duration::from_secs(15);

/// How often the running crawls' progress is sampled for the pages/s chart.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Samples kept per crawl: two minutes.
const SAMPLES: usize = 121;

/// Running crawls' progress: (ms since the epoch, pages done or failed), oldest first.
type Samples = Arc<Mutex<HashMap<Uuid, VecDeque<(u64, u64)>>>>;

/// Failures listed as the most recent.
const RECENT_FAILURES: usize = 10;

/// A crawl's failures: pages by reason, and the latest few.
#[derive(Clone)]
struct Failures {
    by_reason: BTreeMap<String, u64>,
    recent: Vec<Value>,
}

/// Failures per crawl, with the crawl's count of failed pages when they were
/// read: while that count stands, they are the same.
type FailureCache = Arc<Mutex<HashMap<Uuid, (u64, Failures)>>>;

#[derive(Clone)]
struct Dashboard {
    store: Arc<RedisStore>,
    amqp: Arc<Amqp>,
    failures: FailureCache,
    samples: Samples,
}

/// Serves the dashboard on `addr` until Ctrl-C; says where on stderr (and
/// with `json`, as `{"url": ...}` on stdout, once it listens).
pub async fn serve(
    store: Arc<RedisStore>,
    amqp: Arc<Amqp>,
    addr: SocketAddr,
    json: bool,
) -> anyhow::Result<()> {
    let state = Dashboard {
        store,
        amqp,
        failures: Arc::default(),
        samples: Arc::default(),
    };
    tokio::spawn(sample(state.store.clone(), state.samples.clone()));
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/crawls", get(crawls))
        .route("/api/crawls/{id}", get(crawl))
        .route("/api/workers", get(workers))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        crate::BadInput(format!(
            "cannot listen on {addr}: {e}: choose another --addr"
        ))
    })?;
    let bound = listener.local_addr()?;
    let url = format!("http://{bound}/");
    if json {
        crate::out::json(&json!({ "url": url }))?;
    }
    eprintln!("dashboard on {url} (Ctrl-C stops it)");
    axum::serve(listener, app)
        .with_graceful_shutdown(crawlq_core::cli::shutdown_signal())
        .await?;
    Ok(())
}

/// An API error: a status and a one-line reason, as JSON.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<crawlq_core::store::StoreError> for ApiError {
    fn from(error: crawlq_core::store::StoreError) -> Self {
        Self(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
    }
}

fn fresh_json(value: Value) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(value)).into_response()
}

async fn crawls(State(dash): State<Dashboard>) -> Result<Response, ApiError> {
    let crawls = dash.store.list().await?;
    Ok(fresh_json(json!({ "crawls": crawls })))
}

async fn workers(State(dash): State<Dashboard>) -> Result<Response, ApiError> {
    let workers = dash.store.beats(ALIVE).await?;
    Ok(fresh_json(json!({ "workers": workers })))
}

async fn crawl(
    State(dash): State<Dashboard>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let crawl_id = Uuid::parse_str(&id).map_err(|_| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "not a crawl id: give one from /api/crawls".into(),
        )
    })?;
    let status = dash
        .store
        .status(crawl_id)
        .await?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no crawl {crawl_id}")))?;
    let tally = dash.store.tally(crawl_id).await?;
    let top_tags: Vec<Value> = report::top_tags(&tally, TOP_TAGS)
        .into_iter()
        .map(|(tag, count)| json!({ "tag": tag, "count": count }))
        .collect();
    let failures = dash.failures(crawl_id, status.failed).await?;
    // The queues are the deployment's, shared by its crawls; RabbitMQ may be away.
    let queues = match dash.amqp.depths().await {
        Ok(depths) => json!(depths),
        Err(_) => Value::Null,
    };
    let workers = dash.store.beats(ALIVE).await?;
    Ok(fresh_json(json!({
        "status": status,
        "rate": dash.rate(crawl_id),
        "top_tags": top_tags,
        "failures": failures.by_reason,
        "recent_failures": failures.recent,
        "queues": queues,
        "workers": workers,
    })))
}

/// Samples every running crawl's progress each [`SAMPLE_EVERY`], so that the
/// chart shows the last two minutes as soon as the page opens.
async fn sample(store: Arc<RedisStore>, samples: Samples) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tick.tick().await;
        let Ok(crawls) = store.list().await else {
            continue;
        };
        let now = crawlq_core::report::now_ms();
        let Ok(mut samples) = samples.lock() else {
            return;
        };
        samples.retain(|id, _| crawls.iter().any(|crawl| crawl.crawl_id == *id));
        for crawl in crawls.iter().filter(|c| c.state == CrawlState::Running) {
            let series = samples.entry(crawl.crawl_id).or_default();
            series.push_back((now, crawl.done + crawl.failed));
            if series.len() > SAMPLES {
                series.pop_front();
            }
        }
    }
}

impl Dashboard {
    /// Pages per second between successive samples: `[[ms, rate], ...]`.
    fn rate(&self, crawl_id: Uuid) -> Vec<(u64, f64)> {
        let Ok(samples) = self.samples.lock() else {
            return Vec::new();
        };
        let Some(series) = samples.get(&crawl_id) else {
            return Vec::new();
        };
        series
            .iter()
            .zip(series.iter().skip(1))
            .map(|(&(t0, p0), &(t1, p1))| {
                let elapsed = Duration::from_millis(t1.saturating_sub(t0));
                (t1, telemetry::per_sec(p0, p1, elapsed))
            })
            .collect()
    }

    /// A crawl's failures, read from its pages (its largest data) only when
    /// its count of failed pages (`failed`) changed since the last read.
    async fn failures(&self, crawl_id: Uuid, failed: u64) -> Result<Failures, ApiError> {
        if let Ok(cache) = self.failures.lock()
            && let Some((counted, failures)) = cache.get(&crawl_id)
            && *counted == failed
        {
            return Ok(failures.clone());
        }
        let pages = self.store.pages(crawl_id).await?;
        let failures = failures_of(&pages);
        let counted: u64 = failures.by_reason.values().sum();
        if let Ok(mut cache) = self.failures.lock() {
            if cache.len() > 64 {
                cache.clear();
            }
            cache.insert(crawl_id, (counted, failures.clone()));
        }
        Ok(failures)
    }
}

/// Failed pages by reason (as the report counts them), and the latest few.
fn failures_of(pages: &[PageRecord]) -> Failures {
    let mut failed: Vec<(&PageRecord, &PageResult)> = pages
        .iter()
        .filter(|page| page.state == TaskState::Failed)
        .filter_map(|page| Some((page, page.result.as_ref()?)))
        .collect();
    failed.sort_by_key(|(_, result)| std::cmp::Reverse(result.fetched_at_ms));
    let recent = failed
        .into_iter()
        .take(RECENT_FAILURES)
        .map(|(page, result)| {
            json!({
                "url": page.url,
                "status": result.status,
                "reason": result.error,
                "at_ms": result.fetched_at_ms,
            })
        })
        .collect();
    Failures {
        by_reason: report::failures_by_reason(pages),
        recent,
    }
}
