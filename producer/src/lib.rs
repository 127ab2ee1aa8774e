//! The crawlq producer: the command line. It submits crawls and URL lists
//! (claiming their seeds in the store and publishing their tasks), and reads
//! status, one task's future, reports and deletions from the store.
//!
//! With `--local`, the same crawl runs in this process: the worker's and the
//! aggregator's code on the in-memory transport and store ([`local`]).
//!
//! # Layout
//! - [`submit`]: turning `crawl` and `submit` arguments into a crawl spec and its seed tasks.
//! - [`local`]: local mode, the whole stack in one process.
//! - [`wait`]: following a crawl to its end with progress on stderr, then the report.
//! - this file: the command-line interface and [`run`].

mod dashboard;
pub mod local;
pub mod out;
pub mod submit;
pub mod wait;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use crawlq_core::amqp::{Amqp, redact};
use crawlq_core::cli::{ConnectArgs, LogArgs};
use crawlq_core::display::printable;
use crawlq_core::export::{self, Format};
use crawlq_core::links::DEFAULT_LINK_PATTERN;
use crawlq_core::message::{DEFAULT_HOST_CONCURRENCY, DEFAULT_TAG_SELECTOR, Politeness};
use crawlq_core::politeness::Hosts as _;
use crawlq_core::redis::RedisStore;
use crawlq_core::report::{CrawlStatus, TaskState, TaskView};
use crawlq_core::store::Store;
use crawlq_services::worker::WorkerConfig;
use uuid::Uuid;

/// Input the user must fix: reported on one line with exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// The producer's exit codes (also in `--help` and the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command did what was asked; a crawl finished with at least one page done.
    Ok = 0,
    /// RabbitMQ, Redis or another part of the system failed.
    Infra = 1,
    /// Bad input: a flag, a URL, an id, a file.
    BadInput = 2,
    /// The crawl finished, but no page succeeded.
    NoSuccess = 3,
    /// `--wait-timeout` passed; a distributed crawl goes on.
    Timeout = 124,
    /// Interrupted (Ctrl-C).
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// The exit codes of a crawl, as `crawl --help` and `submit --help` end.
macro_rules! crawl_exit_codes {
    () => {
        "Exit codes: 0 finished with a page done, 1 system failure, 2 bad input,
3 finished with no page done, 124 --wait-timeout passed, 130 interrupted."
    };
}

/// crawlq: a distributed crawl-and-scrape job system.
#[derive(Debug, Parser)]
#[command(
    version,
    propagate_version = true,
    after_help = concat!("\
Examples:
  producer crawl --local https://stackoverflow.com/questions/tagged/python --max-pages 50
  producer crawl SEED --max-pages 1000          # on the workers; prints the crawl id
  producer status ID; producer report ID --top 20
  producer list --json | jq '.crawls[].crawl_id'

", "Exit codes:
  0    done (a crawl finished with at least one page done)
  1    RabbitMQ, Redis or another part of the system failed
  2    bad input (a flag, URL, id or file): the message says what to fix
  3    the crawl finished, but no page succeeded
  124  --wait-timeout passed (a distributed crawl goes on)
  130  interrupted (Ctrl-C)")
)]
pub struct Cli {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    log: LogArgs,
    /// Print exactly one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// The logging flags.
    pub fn log(&self) -> &LogArgs {
        &self.log
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Crawl from seed URLs, following links by the link rule; prints the crawl id.
    #[command(after_help = concat!("\
Examples:
  producer crawl --local https://stackoverflow.com/questions/tagged/python --max-pages 50
  producer crawl https://example.org/ --max-pages 500 --wait --wait-timeout 10m --output pages.jsonl
  producer crawl https://example.org/ --host-delay 1s --ttl 1d      # prints the id and returns

", crawl_exit_codes!()))]
    Crawl(CrawlArgs),
    /// Fetch and scrape a fixed list of URLs (no link following); prints the crawl id.
    #[command(after_help = concat!("\
Examples:
  producer submit --urls urls.txt --wait --output pages.jsonl
  grep stackoverflow links.txt | producer submit --urls - --local --json

", crawl_exit_codes!()))]
    Submit(SubmitArgs),
    /// A crawl's state and counters: queued, in flight, done, failed, pages/s, hosts.
    #[command(
        after_help = "Example:\n  producer status 0b5c7f1e-8a57-4d3c-9f3a-2a4f1d2e6c11 --json | jq .done"
    )]
    Status {
        /// The crawl id `crawl` or `submit` printed (`producer list` shows them all).
        crawl_id: String,
    },
    /// Every crawl under the key prefix: state, counts, age and seeds, newest first.
    #[command(
        after_help = "Example:\n  producer list\n  producer list --json | jq -r '.crawls[] | select(.state == \"running\") | .crawl_id'"
    )]
    List,
    /// A crawl's report: top tags, totals, failures; or everything as JSON.
    #[command(
        after_help = "Example:\n  producer report ID --top 20\n  producer report ID --json | jq '.tag_counts'"
    )]
    Report {
        /// The crawl id.
        crawl_id: String,
        /// How many of the most common tags to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// Write every page of a crawl as JSON Lines or CSV.
    #[command(
        after_help = "Example:\n  producer export ID --output pages.csv      # CSV, from the file name\n  producer export ID --format csv > pages.csv"
    )]
    Export {
        /// The crawl id.
        crawl_id: String,
        /// Output format [default: from --output's extension (.csv), else jsonl].
        #[arg(long, value_enum)]
        format: Option<ExportFormat>,
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// One task's future: its state, URL, title, tags, links or error.
    #[command(
        after_help = "Example:\n  producer export ID | head -1 | jq -r .task_id | xargs producer result"
    )]
    Result {
        /// The task id: each page's `task_id` in `export`, `--output` or `report --json`.
        task_id: String,
    },
    /// List the dead-letter queue (a crawl's messages, or all), with reasons;
    /// --requeue moves each listed message back to its queue once.
    #[command(after_help = "Example:\n  producer dlq\n  producer dlq ID --requeue --json")]
    Dlq {
        /// Only messages of this crawl (undecodable messages belong to none).
        crawl_id: Option<String>,
        /// Move each listed message back to the queue it came from, once.
        #[arg(long)]
        requeue: bool,
    },
    /// Publish a crawl's unfinished tasks again (after a queue was lost or purged,
    /// or a producer died before publishing its seeds); copies are harmless.
    #[command(after_help = "Example:\n  producer resume ID")]
    Resume {
        /// The crawl id.
        crawl_id: String,
    },
    /// Serve a live dashboard of every crawl, the queues and the services, and
    /// its JSON API (/api/crawls, /api/crawls/ID, /api/workers), until Ctrl-C.
    #[command(
        after_help = "Example:\n  producer dashboard                       # then open http://127.0.0.1:8686/\n  producer dashboard --addr 0.0.0.0:8686   # in a container"
    )]
    Dashboard {
        /// Address to serve on.
        #[arg(long, env = "DASHBOARD_ADDR", default_value = "127.0.0.1:8686")]
        addr: std::net::SocketAddr,
    },
    /// Delete a crawl's data from Redis (queued tasks of it are then dropped by workers).
    #[command(after_help = "Example:\n  producer delete ID")]
    Delete {
        /// The crawl id.
        crawl_id: String,
    },
}

/// Arguments of `crawl`.
#[derive(Debug, Args)]
pub struct CrawlArgs {
    /// Seed URLs (absolute http or https).
    #[arg(required = true, value_name = "SEED")]
    pub seeds: Vec<String>,
    /// Most pages to fetch, seeds included.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pages: Option<u64>,
    /// Deepest link depth to follow (seeds are depth 0).
    #[arg(long)]
    pub max_depth: Option<u32>,
    /// Follow only links whose path matches this regex.
    #[arg(long, default_value = DEFAULT_LINK_PATTERN)]
    pub link_pattern: String,
    /// CSS selector of a page's tags.
    #[arg(long, default_value = DEFAULT_TAG_SELECTOR)]
    pub tag_selector: String,
    /// Also follow links (and redirects) to this host (repeatable): a host
    /// (its default ports), HOST:PORT or an origin (http://HOST:PORT); the
    /// seeds' hosts always are.
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,
    /// How gently to treat each host.
    #[command(flatten)]
    pub politeness: PolitenessArgs,
    /// Where the crawl runs, waiting and output.
    #[command(flatten)]
    pub run: RunArgs,
}

/// A crawl's manners towards each host (origin), held across every worker.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Politeness (per host, across all workers)")]
pub struct PolitenessArgs {
    /// Requests in flight to one host at once (0: unlimited).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HOST_CONCURRENCY)]
    pub host_concurrency: u32,
    /// Least time between two request starts to one host, e.g. 250ms or 1s
    /// (0: none); a robots.txt Crawl-delay may raise it.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_host_delay)]
    pub host_delay: std::time::Duration,
    /// Do not read robots.txt, and fetch pages it disallows.
    #[arg(long)]
    pub ignore_robots: bool,
}

impl PolitenessArgs {
    /// The politeness the crawl stores and every task carries.
    pub fn politeness(&self) -> Politeness {
        Politeness {
            host_concurrency: self.host_concurrency,
            host_delay_ms: self.host_delay.as_millis() as u64,
            robots: !self.ignore_robots,
        }
    }
}

/// Longest `--host-delay` taken.
const MAX_HOST_DELAY: std::time::Duration = std::time::Duration::from_secs(3600);

fn parse_host_delay(text: &str) -> Result<std::time::Duration, String> {
    let delay = parse_duration(text)?;
    if delay > MAX_HOST_DELAY {
        return Err("at most 1h".into());
    }
    Ok(delay)
}

/// Arguments of `submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// File with one URL per line (`#` comments and blank lines skipped), or `-` for stdin.
    #[arg(long, value_name = "FILE|-")]
    pub urls: String,
    /// CSS selector of a page's tags.
    #[arg(long, default_value = DEFAULT_TAG_SELECTOR)]
    pub tag_selector: String,
    /// How gently to treat each host.
    #[command(flatten)]
    pub politeness: PolitenessArgs,
    /// Where the crawl runs, waiting and output.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Where a crawl runs.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("waiting").args(["wait", "local"]).multiple(true)))]
pub struct RunArgs {
    /// Run the whole crawl in this process on in-memory queues, no RabbitMQ or
    /// Redis needed (implies --wait).
    #[arg(long)]
    pub local: bool,
    /// Keep a finished crawl's data in Redis this long, then let it expire
    /// (e.g. 12h, 7d; 0: until producer delete).
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_ttl)]
    pub ttl: Duration,
    /// Fetching in this process (--local only).
    #[command(flatten, next_help_heading = "Local mode (with --local only)")]
    pub fetch: WorkerConfig,
    /// Waiting and output.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Waiting for a crawl and printing its report.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Waiting (with --wait or --local)")]
pub struct WaitArgs {
    /// Show progress until the crawl is finished, then print the report.
    #[arg(long)]
    pub wait: bool,
    /// Stop waiting after this long (e.g. 90, 30s, 10m) with exit code 124;
    /// a distributed crawl goes on.
    #[arg(long, value_name = "DURATION", requires = "waiting", value_parser = parse_wait_timeout)]
    pub wait_timeout: Option<Duration>,
    /// When it ends, also write every finished page to this file as JSON Lines.
    #[arg(long, value_name = "FILE.jsonl", requires = "waiting")]
    pub output: Option<std::path::PathBuf>,
    /// No progress on stderr.
    #[arg(long, short, requires = "waiting")]
    pub quiet: bool,
    /// How many of the most common tags the report lists.
    #[arg(long, default_value_t = 10, requires = "waiting")]
    pub top: usize,
}

/// Longest `--ttl` taken.
const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)?;
    if ttl > MAX_TTL {
        return Err("at most 365d".into());
    }
    Ok(ttl)
}

fn parse_wait_timeout(text: &str) -> Result<Duration, String> {
    let limit = parse_duration(text)?;
    if limit.is_zero() {
        return Err("give a positive duration such as 90, 30s or 10m".into());
    }
    Ok(limit)
}

/// A duration: plain seconds (`90`) or humantime (`250ms`, `30s`, `10m`, `7d`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{e}: give a duration such as 90 (seconds), 30s, 10m or 7d"))
}

/// `export --format`: the export formats, as flags name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header; tags and links space-separated.
    Csv,
}

impl From<ExportFormat> for Format {
    fn from(format: ExportFormat) -> Self {
        match format {
            ExportFormat::Jsonl => Format::Jsonl,
            ExportFormat::Csv => Format::Csv,
        }
    }
}

/// Runs one command; its result is the exit code.
pub async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let Cli {
        connect,
        json,
        command,
        ..
    } = cli;
    match command {
        Command::Crawl(args) => {
            let plan = submit::plan_crawl(&args)?;
            launch(&connect, plan, &args.run, json).await
        }
        Command::Submit(args) => {
            let plan = submit::plan_submit(&args)?;
            launch(&connect, plan, &args.run, json).await
        }
        Command::Status { crawl_id } => status(&connect, &crawl_id, json).await,
        Command::List => list(&connect, json).await,
        Command::Report { crawl_id, top } => report(&connect, &crawl_id, top, json).await,
        Command::Export {
            crawl_id,
            format,
            output,
        } => {
            export(
                &connect,
                &crawl_id,
                format.map(Format::from),
                output.as_deref(),
            )
            .await
        }
        Command::Result { task_id } => result(&connect, &task_id, json).await,
        Command::Dlq { crawl_id, requeue } => {
            dlq(&connect, crawl_id.as_deref(), requeue, json).await
        }
        Command::Resume { crawl_id } => resume(&connect, &crawl_id, json).await,
        Command::Delete { crawl_id } => delete(&connect, &crawl_id, json).await,
        Command::Dashboard { addr } => {
            let (store, amqp) = self::connect(&connect).await?;
            dashboard::serve(store, amqp, addr, json).await?;
            Ok(Exit::Ok)
        }
    }
}

/// Starts a crawl: in this process with `--local`, else on the deployment.
async fn launch(
    connect: &ConnectArgs,
    plan: submit::Plan,
    run: &RunArgs,
    json: bool,
) -> anyhow::Result<Exit> {
    if run.local {
        local::run(plan, run, json).await
    } else {
        submit::launch(connect, plan, &run.wait, json).await
    }
}

/// `producer status`: state and counters, each host's lanes, tasks retrying.
async fn status(connect: &ConnectArgs, crawl_id: &str, json: bool) -> anyhow::Result<Exit> {
    let crawl_id = parse_id("crawl", crawl_id)?;
    let store = open_store(connect).await?;
    let mut status = store
        .status(crawl_id)
        .await?
        .ok_or_else(|| unknown("crawl", crawl_id, connect))?;
    if let Some(spec) = store.spec(crawl_id).await? {
        let origins = CrawlStatus::origins(&spec);
        status.hosts = store.host_views(&origins).await?;
    }
    if json {
        out::json(&status)?;
    } else {
        out::text(&format!(
            "{}: {}\n{}",
            status.state,
            status.line(),
            status.host_lines()
        ))?;
    }
    Ok(Exit::Ok)
}

/// `producer list`: every crawl under the key prefix, newest first.
async fn list(connect: &ConnectArgs, json: bool) -> anyhow::Result<Exit> {
    let store = open_store(connect).await?;
    let crawls = store.list().await?;
    if json {
        out::json(&serde_json::json!({ "crawls": crawls }))?;
        return Ok(Exit::Ok);
    }
    let now = crawlq_core::report::now_ms();
    let mut text = String::new();
    for crawl in &crawls {
        let age = Duration::from_secs(now.saturating_sub(crawl.created_ms) / 1000);
        let seeds = crawl
            .seeds
            .iter()
            .map(|seed| printable(seed).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        text.push_str(&format!(
            "{}  {:<8}  {:>6} done  {:>6} failed  {:>6} to go  {:>8} ago  {}\n",
            crawl.crawl_id,
            crawl.state,
            crawl.done,
            crawl.failed,
            crawl.queued + crawl.in_flight + crawl.retrying,
            humantime::format_duration(age).to_string(),
            seeds
        ));
    }
    out::text(&text)?;
    eprintln!(
        "{} crawl(s) under key prefix '{}'",
        crawls.len(),
        connect.key_prefix
    );
    Ok(Exit::Ok)
}

/// `producer report`.
async fn report(
    connect: &ConnectArgs,
    crawl_id: &str,
    top: usize,
    json: bool,
) -> anyhow::Result<Exit> {
    let crawl_id = parse_id("crawl", crawl_id)?;
    let store = open_store(connect).await?;
    let report = store
        .report(crawl_id)
        .await?
        .ok_or_else(|| unknown("crawl", crawl_id, connect))?;
    wait::print_report(&report, top, json)?;
    Ok(Exit::Ok)
}

/// `producer export`: the format is `--format`, else the output file's
/// extension (`.csv`), else JSON Lines.
async fn export(
    connect: &ConnectArgs,
    crawl_id: &str,
    format: Option<Format>,
    output: Option<&std::path::Path>,
) -> anyhow::Result<Exit> {
    let crawl_id = parse_id("crawl", crawl_id)?;
    let format = format.unwrap_or_else(|| {
        match output
            .and_then(|path| path.extension())
            .and_then(|ext| ext.to_str())
        {
            Some(ext) if ext.eq_ignore_ascii_case("csv") => Format::Csv,
            _ => Format::Jsonl,
        }
    });
    let store = open_store(connect).await?;
    if store.status(crawl_id).await?.is_none() {
        return Err(unknown("crawl", crawl_id, connect).into());
    }
    write_pages(&store.pages(crawl_id).await?, format, output)?;
    Ok(Exit::Ok)
}

/// `producer result`: one task's future.
async fn result(connect: &ConnectArgs, task_id: &str, json: bool) -> anyhow::Result<Exit> {
    let task_id = parse_id("task", task_id)?;
    let store = open_store(connect).await?;
    let view = store
        .task(task_id)
        .await?
        .ok_or_else(|| unknown("task", task_id, connect))?;
    if json {
        out::json(&view)?;
    } else {
        out::text(&render_task(&view))?;
    }
    Ok(Exit::Ok)
}

/// `producer dlq`: the dead-letter queue, listed once; with `--requeue`,
/// each listed message moved back once.
async fn dlq(
    connect: &ConnectArgs,
    crawl_id: Option<&str>,
    requeue: bool,
    json: bool,
) -> anyhow::Result<Exit> {
    let crawl_id = crawl_id.map(|id| parse_id("crawl", id)).transpose()?;
    let names = crawlq_core::names::QueueNames::new(&connect.queue_prefix);
    let amqp = Amqp::connect(&connect.amqp_url, names)
        .await
        .map_err(|e| unreachable(connect, e.into()))?;
    let letters = amqp.dead_letters(crawl_id, requeue).await;
    amqp.close().await;
    let letters = letters?;
    let requeued = letters.iter().filter(|letter| letter.requeued).count();
    if json {
        out::json(&serde_json::json!({
            "dead_letters": letters,
            "requeued": requeued,
        }))?;
        return Ok(Exit::Ok);
    }
    let mut text = String::new();
    for letter in &letters {
        let queue = letter.queue.map_or("?", |q| q.as_str());
        let crawl = letter.crawl_id.map_or("-".to_owned(), |c| c.to_string());
        let body: String = letter.body.chars().take(120).collect();
        text.push_str(&format!(
            "{queue}\t{crawl}\t{}\t{}\n",
            printable(&letter.reason),
            printable(&body)
        ));
    }
    out::text(&text)?;
    if requeue {
        eprintln!(
            "{} dead letter(s), {requeued} requeued once (one that fails again comes back here)",
            letters.len()
        );
    } else {
        eprintln!("{} dead letter(s)", letters.len());
    }
    Ok(Exit::Ok)
}

/// `producer resume`: publishes a crawl's unfinished tasks again.
async fn resume(connect: &ConnectArgs, crawl_id: &str, json: bool) -> anyhow::Result<Exit> {
    let crawl_id = parse_id("crawl", crawl_id)?;
    let (store, amqp) = self::connect(connect).await?;
    let spec = store
        .spec(crawl_id)
        .await?
        .ok_or_else(|| unknown("crawl", crawl_id, connect))?;
    let tasks: Vec<crawlq_core::message::Task> = store
        .pages(crawl_id)
        .await?
        .into_iter()
        .filter(|page| matches!(page.state, TaskState::Queued | TaskState::Running))
        .map(|page| {
            crawlq_core::store::Claim::new(crawl_id, &page.url, page.depth)
                .task(crawl_id, &spec.rules)
        })
        .collect();
    crawlq_core::transport::publish_tasks(&*amqp, &tasks).await?;
    amqp.close().await;
    if json {
        out::json(&serde_json::json!({ "crawl_id": crawl_id, "published": tasks.len() }))?;
    } else {
        out::text(&format!(
            "published {} unfinished tasks of crawl {crawl_id} again\n",
            tasks.len()
        ))?;
    }
    Ok(Exit::Ok)
}

/// `producer delete`.
async fn delete(connect: &ConnectArgs, crawl_id: &str, json: bool) -> anyhow::Result<Exit> {
    let crawl_id = parse_id("crawl", crawl_id)?;
    let store = open_store(connect).await?;
    if !store.delete(crawl_id).await? {
        return Err(unknown("crawl", crawl_id, connect).into());
    }
    if json {
        out::json(&serde_json::json!({ "crawl_id": crawl_id, "deleted": true }))?;
    } else {
        out::text(&format!("deleted crawl {crawl_id}\n"))?;
    }
    Ok(Exit::Ok)
}

/// Writes a crawl's pages in `format` to the file at `path`, or to stdout.
pub fn write_pages(
    pages: &[crawlq_core::report::PageRecord],
    format: Format,
    path: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    match path {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| BadInput(format!("cannot write '{}': {e}", path.display())))?;
            let mut file = std::io::BufWriter::new(file);
            export::write(pages, format, &mut file)?;
            std::io::Write::flush(&mut file)?;
        }
        None => export::write(pages, format, &mut std::io::stdout().lock())?,
    }
    Ok(())
}

/// Connects to Redis.
pub async fn open_store(connect: &ConnectArgs) -> anyhow::Result<RedisStore> {
    RedisStore::connect(&connect.redis_url, &connect.key_prefix)
        .await
        .map_err(|e| unreachable(connect, e.into()))
}

/// Connects to Redis and RabbitMQ.
pub async fn connect(connect: &ConnectArgs) -> anyhow::Result<(Arc<RedisStore>, Arc<Amqp>)> {
    crawlq_core::cli::connect(connect)
        .await
        .map_err(|e| unreachable(connect, e))
}

/// A connection error, said once with what to do: a refused login asks for
/// the credentials; anything else for the servers to be started (or --local).
fn unreachable(connect: &ConnectArgs, error: anyhow::Error) -> anyhow::Error {
    let line = crawlq_core::cli::one_line(&error);
    let hint = if line.contains("ACCESS_REFUSED")
        || line.contains("NOAUTH")
        || line.contains("WRONGPASS")
    {
        "check the user and password in AMQP_URL/--amqp-url or REDIS_URL/--redis-url".to_owned()
    } else {
        format!(
            "is it running and reachable? RabbitMQ at {}, Redis at {} (start them, e.g. rabbitmq-server -detached and redis-server --daemonize yes, or crawl without them: --local)",
            redact(&connect.amqp_url),
            redact(&connect.redis_url)
        )
    };
    anyhow::anyhow!("{line}: {hint}")
}

fn parse_id(what: &str, text: &str) -> Result<Uuid, BadInput> {
    text.trim().parse().map_err(|_| {
        let shown: String = text.chars().take(60).collect();
        let more = if text.chars().count() > 60 { "..." } else { "" };
        let whence = if what == "task" {
            "a page's task_id, from producer export, --output or report --json"
        } else {
            "the id crawl or submit printed, or one from producer list"
        };
        BadInput(format!(
            "'{}{more}' is not a {what} id: give {whence} (a UUID such as 0b5c7f1e-8a57-4d3c-9f3a-2a4f1d2e6c11)",
            printable(&shown)
        ))
    })
}

/// The error for an id the store does not know.
pub fn unknown(what: &str, id: Uuid, connect: &ConnectArgs) -> BadInput {
    BadInput(format!(
        "no {what} {id} in Redis at {} under key prefix '{}': check the id, REDIS_URL and --key-prefix",
        crawlq_core::amqp::redact(&connect.redis_url),
        connect.key_prefix
    ))
}

/// One task's future as text; page text has its control characters escaped.
fn render_task(view: &TaskView) -> String {
    let mut out = format!(
        "task   {}\ncrawl  {}\nurl    {}\ndepth  {}\nstate  {}\n",
        view.task_id,
        view.crawl_id,
        printable(&view.url),
        view.depth,
        view.state
    );
    if let Some(retry) = &view.retry {
        let wait = retry
            .next_try_ms
            .saturating_sub(crawlq_core::report::now_ms());
        out.push_str(&format!(
            "retry  attempt {} in {}\n",
            retry.attempt,
            humantime::format_duration(Duration::from_millis(wait - wait % 100))
        ));
    }
    if let Some(r) = &view.result {
        let status = crawlq_core::display::status(r.status);
        out.push_str(&format!("status {status}\n"));
        if r.attempts > 1 {
            out.push_str(&format!("tries  {}\n", r.attempts));
        }
        if let Some(title) = &r.title {
            out.push_str(&format!("title  {}\n", printable(title)));
        }
        out.push_str(&format!("tags   {}\n", printable(&r.tags.join(", "))));
        if let Some(error) = &r.error {
            out.push_str(&format!("error  {}\n", printable(error)));
        }
        out.push_str(&format!("links  {}\n", r.links.len()));
        for link in &r.links {
            out.push_str(&format!("  {}\n", printable(link)));
        }
    }
    out
}

/// Refuses local-mode fetch flags (`--concurrency`, `--timeout-secs`, ...)
/// given to a crawl that is not `--local`: the workers' own flags govern a
/// distributed crawl, and a flag silently ignored is a lie.
pub fn check_local_only(matches: &clap::ArgMatches) -> Result<(), clap::Error> {
    let Some((_, sub)) = matches.subcommand() else {
        return Ok(());
    };
    if !sub.try_contains_id("local").unwrap_or(false) || sub.get_flag("local") {
        return Ok(());
    }
    let fetch_flags = <WorkerConfig as Args>::augment_args(clap::Command::new("fetch"));
    for arg in fetch_flags.get_arguments() {
        let id = arg.get_id().as_str();
        if sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
            let flag = arg.get_long().unwrap_or(id);
            return Err(<Cli as clap::CommandFactory>::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                format!(
                    "--{flag} only applies with --local (a distributed crawl is fetched by the workers: set it on them)"
                ),
            ));
        }
    }
    Ok(())
}

/// A clap usage error on one line (see [`crawlq_core::cli::usage_line`]).
pub fn usage_line(error: &clap::Error) -> String {
    crawlq_core::cli::usage_line(error)
}
