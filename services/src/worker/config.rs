//! The worker's settings: flags, or the env names docker-compose.yml sets.

use clap::Args;

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
