//! The producer's command line: its clap structs, their value parsers and
//! the checks clap cannot express, and its exit codes.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use crawlq_core::cli::{ConnectArgs, LogArgs, parse_duration};
use crawlq_core::export::Format;
use crawlq_core::links::DEFAULT_LINK_PATTERN;
use crawlq_core::message::{DEFAULT_HOST_CONCURRENCY, DEFAULT_TAG_SELECTOR, Politeness};
use crawlq_services::worker::WorkerConfig;

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
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) log: LogArgs,
    /// Print exactly one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

impl Cli {
    /// The logging flags.
    pub fn log(&self) -> &LogArgs {
        &self.log
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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

/// `export --format`: the export formats, as flags name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExportFormat {
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
