//! What a running service tells its operators: Prometheus metrics and health
//! probes on `--metrics-addr` ([`serve`]), one info line every
//! `--activity-every` while busy ([`log_activity`]), and the counts its
//! heartbeat carries ([`Activity`]).
//!
//! Every event is recorded once, through the functions below, which feed
//! both the `metrics` recorder (rendered by `metrics-exporter-prometheus`)
//! and the process's [`Activity`] counters. Without a listener the recorder
//! is never installed and the `metrics` calls cost next to nothing.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `crawlq_pages_total` | counter | `outcome` (done, failed), `status_class` (2xx..5xx, none) |
//! | `crawlq_fetch_duration_seconds` | histogram | |
//! | `crawlq_fetch_body_bytes` | histogram | |
//! | `crawlq_fetches_in_flight` | gauge | |
//! | `crawlq_retries_total` | counter | `reason` (timeout, connect, http_5xx, http_429, store, other) |
//! | `crawlq_host_waits_total` | counter | `kind` (later, parked) |
//! | `crawlq_completions_applied_total` | counter | `outcome`, `first` (true, false: a redelivery) |
//! | `crawlq_apply_duration_seconds` | histogram | |
//! | `crawlq_dead_lettered_total` | counter | `queue` |
//! | `crawlq_reconnects_total` | counter | `system` (rabbitmq, redis) |

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use clap::Args;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::message::Outcome;

/// Flags of the services' observability.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Observability")]
pub struct ObserveArgs {
    /// Serve /metrics (Prometheus), /healthz and /readyz on this address,
    /// e.g. 127.0.0.1:9100 (default: no listener).
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// How often a busy service logs its progress at info level (nothing
    /// is logged while it is idle): 10 (seconds), 10s, 1m, ...
    #[arg(long, env = "ACTIVITY_EVERY", default_value = "10s", value_parser = parse_every)]
    pub activity_every: Duration,
}

fn parse_every(text: &str) -> Result<Duration, String> {
    let every = crate::cli::parse_duration(text)?;
    if every < Duration::from_millis(100) {
        return Err("must be at least 100ms".into());
    }
    Ok(every)
}

/// The process's running totals: what its log lines and heartbeat say.
#[derive(Debug, Default)]
pub struct Activity {
    /// Pages stored as done.
    pub done: AtomicU64,
    /// Pages stored as failed.
    pub failed: AtomicU64,
    /// Fetches to be retried later.
    pub retries: AtomicU64,
    /// Tasks being fetched or parsed now ([`InFlight`]).
    pub in_flight: AtomicU64,
    /// Completions applied (first time only).
    pub applied: AtomicU64,
}

/// A copy of [`Activity`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Pages stored as done.
    pub done: u64,
    /// Pages stored as failed.
    pub failed: u64,
    /// Fetches to be retried later.
    pub retries: u64,
    /// Fetches in flight.
    pub in_flight: u64,
    /// Completions applied.
    pub applied: u64,
}

impl Activity {
    /// The totals now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            done: self.done.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            applied: self.applied.load(Ordering::Relaxed),
        }
    }
}

impl Snapshot {
    /// Pages stored, done or failed.
    pub fn pages(&self) -> u64 {
        self.done + self.failed
    }

    /// Whether anything happened between `earlier` and this, or is happening.
    pub fn busy_since(&self, earlier: &Snapshot) -> bool {
        self.in_flight > 0
            || Snapshot {
                in_flight: 0,
                ..*self
            } != Snapshot {
                in_flight: 0,
                ..*earlier
            }
    }
}

/// How many per second a count went up from `from` to `to` over `elapsed`
/// (0 over no time).
pub fn per_sec(from: u64, to: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        to.saturating_sub(from) as f64 / secs
    } else {
        0.0
    }
}

/// This process's totals.
pub fn activity() -> &'static Activity {
    static ACTIVITY: OnceLock<Activity> = OnceLock::new();
    ACTIVITY.get_or_init(Activity::default)
}

/// A page's result was stored and its completion confirmed.
pub fn page_stored(outcome: Outcome, status: Option<u16>) {
    let class = match status {
        Some(code @ 100..=599) => ["1xx", "2xx", "3xx", "4xx", "5xx"][usize::from(code / 100 - 1)],
        _ => "none",
    };
    let outcome = match outcome {
        Outcome::Done => {
            activity().done.fetch_add(1, Ordering::Relaxed);
            "done"
        }
        Outcome::Failed => {
            activity().failed.fetch_add(1, Ordering::Relaxed);
            "failed"
        }
    };
    counter!("crawlq_pages_total", "outcome" => outcome, "status_class" => class).increment(1);
}

/// A fetch answered: how long it took and, when a body was read, its size.
pub fn fetched(elapsed: Duration, body_bytes: Option<usize>) {
    histogram!("crawlq_fetch_duration_seconds").record(elapsed.as_secs_f64());
    if let Some(bytes) = body_bytes {
        histogram!("crawlq_fetch_body_bytes").record(bytes as f64);
    }
}

/// Counts a task as in flight (being fetched or parsed) while it lives: the
/// `crawlq_fetches_in_flight` gauge, the progress lines, and the worker's
/// completion batches, which linger only while some task is.
#[must_use]
pub struct InFlight(());

impl InFlight {
    /// A fetch starts.
    pub fn start() -> Self {
        activity().in_flight.fetch_add(1, Ordering::Relaxed);
        gauge!("crawlq_fetches_in_flight").increment(1.0);
        Self(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        activity().in_flight.fetch_sub(1, Ordering::Relaxed);
        gauge!("crawlq_fetches_in_flight").decrement(1.0);
    }
}

/// A fetch failed transiently and will be tried again later; `reason` is a
/// word from a small fixed set (see the module docs).
pub fn retried(reason: &'static str) {
    activity().retries.fetch_add(1, Ordering::Relaxed);
    counter!("crawlq_retries_total", "reason" => reason).increment(1);
}

/// A request waited for its host: `later` (a lane reserved ahead) or
/// `parked` (queued behind the host in the store).
pub fn host_wait(kind: &'static str) {
    counter!("crawlq_host_waits_total", "kind" => kind).increment(1);
}

/// A completion was applied (`first`: counted now; otherwise a redelivery
/// that changed nothing), taking `elapsed`.
pub fn applied(outcome: Outcome, first: bool, elapsed: Duration) {
    if first {
        activity().applied.fetch_add(1, Ordering::Relaxed);
    }
    let outcome = match outcome {
        Outcome::Done => "done",
        Outcome::Failed => "failed",
    };
    let first = if first { "true" } else { "false" };
    counter!("crawlq_completions_applied_total", "outcome" => outcome, "first" => first)
        .increment(1);
    histogram!("crawlq_apply_duration_seconds").record(elapsed.as_secs_f64());
}

/// A message was dead-lettered from `queue`.
pub fn dead_lettered(queue: &str) {
    counter!("crawlq_dead_lettered_total", "queue" => queue.to_owned()).increment(1);
}

/// A connection to `system` (`rabbitmq` or `redis`) was lost and is being
/// made again.
pub fn reconnect(system: &'static str) {
    counter!("crawlq_reconnects_total", "system" => system).increment(1);
}

/// Installs the process-wide Prometheus recorder (once) and describes the
/// metrics; later calls return the same handle.
pub fn recorder() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let seconds = [
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ];
    let bytes = [
        1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
    ];
    let buckets = |builder: PrometheusBuilder, name: &str, edges: &[f64]| {
        builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), edges)
    };
    let builder = PrometheusBuilder::new();
    let builder = buckets(builder, "crawlq_fetch_duration_seconds", &seconds)?;
    let builder = buckets(builder, "crawlq_apply_duration_seconds", &seconds)?;
    let builder = buckets(builder, "crawlq_fetch_body_bytes", &bytes)?;
    let handle = builder
        .install_recorder()
        .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))?;
    describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

fn describe() {
    describe_counter!(
        "crawlq_pages_total",
        "Pages whose result was stored, by outcome and HTTP status class."
    );
    describe_histogram!(
        "crawlq_fetch_duration_seconds",
        metrics::Unit::Seconds,
        "Time from request to parsed page."
    );
    describe_histogram!(
        "crawlq_fetch_body_bytes",
        metrics::Unit::Bytes,
        "Size of the page bodies read."
    );
    describe_gauge!(
        "crawlq_fetches_in_flight",
        "Pages being fetched or parsed in this process."
    );
    describe_counter!(
        "crawlq_retries_total",
        "Fetches that failed transiently and were scheduled again, by reason."
    );
    describe_counter!(
        "crawlq_host_waits_total",
        "Requests that waited for their host (politeness), by kind."
    );
    describe_counter!(
        "crawlq_completions_applied_total",
        "Completions applied, by outcome; first=false is a redelivery that changed nothing."
    );
    describe_histogram!(
        "crawlq_apply_duration_seconds",
        metrics::Unit::Seconds,
        "Time to apply one completion in the store."
    );
    describe_counter!(
        "crawlq_dead_lettered_total",
        "Messages dead-lettered, by the queue they came from."
    );
    describe_counter!(
        "crawlq_reconnects_total",
        "Connections lost and made again, by system."
    );
}

/// What `/readyz` asks: whether the service's dependencies answer now.
#[async_trait::async_trait]
pub trait Readiness: Send + Sync {
    /// `Ok` when ready; otherwise what is not.
    async fn check(&self) -> Result<(), String>;
}

/// The listener's shared state.
#[derive(Clone)]
struct Probe {
    handle: PrometheusHandle,
    ready: Arc<dyn Readiness>,
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `addr` until `shutdown`;
/// returns the address bound (useful with port 0) once it listens.
pub async fn serve(
    addr: SocketAddr,
    ready: Arc<dyn Readiness>,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let handle = recorder()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on --metrics-addr {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(Probe { handle, ready });
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "metrics listener stopped");
        }
    });
    info!(addr = %bound, "serving /metrics, /healthz and /readyz");
    Ok(bound)
}

async fn metrics_text(State(probe): State<Probe>) -> String {
    probe.handle.render()
}

async fn readyz(State(probe): State<Probe>) -> (StatusCode, String) {
    match tokio::time::timeout(Duration::from_secs(2), probe.ready.check()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n".into()),
        Ok(Err(why)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no answer from RabbitMQ and Redis in 2s\n".into(),
        ),
    }
}

/// Logs one info line every `every` while the process is busy (pages in
/// flight or anything counted since the last line), nothing while idle,
/// until `shutdown`.
pub async fn log_activity(role: &'static str, every: Duration, shutdown: CancellationToken) {
    let mut last = activity().snapshot();
    let mut since = Instant::now();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let now = activity().snapshot();
        if now.busy_since(&last) {
            let elapsed = since.elapsed();
            let pages = per_sec(last.pages(), now.pages(), elapsed);
            let applied = per_sec(last.applied, now.applied, elapsed);
            info!(
                role,
                pages_per_sec = %format_args!("{pages:.1}"),
                applied_per_sec = %format_args!("{applied:.1}"),
                done = now.done - last.done,
                failed = now.failed - last.failed,
                retries = now.retries - last.retries,
                in_flight = now.in_flight,
                "busy"
            );
        }
        last = now;
        since = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_every_takes_seconds_like_every_duration_flag() {
        assert_eq!(parse_every("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_every(" 250ms "), Ok(Duration::from_millis(250)));
        assert_eq!(parse_every("50ms"), Err("must be at least 100ms".into()));
        let bad = parse_every("soon").unwrap_err();
        assert!(
            bad.contains("give a duration such as 90 (seconds)"),
            "{bad}"
        );
    }

    #[test]
    fn busy_means_something_counted_or_in_flight() {
        let idle = Snapshot::default();
        assert!(!idle.busy_since(&idle));
        let fetching = Snapshot {
            in_flight: 1,
            ..idle
        };
        assert!(fetching.busy_since(&idle));
        let counted = Snapshot { done: 3, ..idle };
        assert!(counted.busy_since(&idle));
        assert!(!counted.busy_since(&counted));
    }

    #[test]
    fn per_sec_is_the_rise_over_the_time_and_nothing_over_no_time() {
        assert_eq!(per_sec(10, 40, Duration::from_secs(2)), 15.0);
        assert_eq!(per_sec(40, 10, Duration::from_secs(2)), 0.0);
        assert_eq!(per_sec(0, 5, Duration::ZERO), 0.0);
    }

    #[test]
    fn the_activity_interval_is_a_duration_of_at_least_100ms() {
        assert_eq!(parse_every("10s"), Ok(Duration::from_secs(10)));
        assert!(parse_every("10ms").is_err());
        assert!(parse_every("soon").is_err());
    }
}
