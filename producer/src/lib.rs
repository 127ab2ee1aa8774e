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

pub mod local;
pub mod submit;
pub mod wait;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use crawlq_core::cli::ConnectArgs;
use crawlq_core::display::printable;
use crawlq_core::export::{self, Format};
use crawlq_core::links::DEFAULT_LINK_PATTERN;
use crawlq_core::message::{DEFAULT_HOST_CONCURRENCY, DEFAULT_TAG_SELECTOR, Politeness};
use crawlq_core::politeness::Hosts as _;
use crawlq_core::redis_store::RedisStore;
use crawlq_core::report::{TaskState, TaskView};
use crawlq_core::store::Store;
use uuid::Uuid;
use worker::WorkerConfig;

/// Input the user must fix: reported on one line with exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// crawlq: a distributed crawl-and-scrape job system.
#[derive(Debug, Parser)]
#[command(version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Crawl from seed URLs, following links by the link rule; prints the crawl id.
    Crawl(CrawlArgs),
    /// Fetch and scrape a fixed list of URLs (no link following); prints the crawl id.
    Submit(SubmitArgs),
    /// A crawl's counters: queued, in flight, done, failed, pages/s.
    Status {
        /// The crawl id `crawl` or `submit` printed.
        crawl_id: String,
        /// Print JSON instead of a line.
        #[arg(long)]
        json: bool,
    },
    /// A crawl's report: top tags, totals, failures; or everything as JSON.
    Report {
        /// The crawl id.
        crawl_id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Write every page of a crawl as JSON Lines or CSV.
    Export {
        /// The crawl id.
        crawl_id: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: Format,
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// One task's future: its state, URL, title, tags, links or error.
    Result {
        /// The task id.
        task_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the dead-letter queue (a crawl's messages, or all), with reasons;
    /// --requeue moves the listed messages back to their queues.
    Dlq {
        /// Only messages of this crawl (undecodable messages belong to none).
        crawl_id: Option<String>,
        /// Move the listed messages back to the queue they came from.
        #[arg(long)]
        requeue: bool,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Publish a crawl's unfinished tasks again (after a queue was lost or purged,
    /// or a producer died before publishing its seeds); copies are harmless.
    Resume {
        /// The crawl id.
        crawl_id: String,
    },
    /// Delete a crawl's data from Redis (queued tasks of it are then dropped by workers).
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
    let delay = match text.trim() {
        "0" => std::time::Duration::ZERO,
        text => humantime::parse_duration(text)
            .map_err(|e| format!("{e}: give a duration such as 250ms, 1s or 2m"))?,
    };
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
pub struct RunArgs {
    /// Run the whole crawl in this process on in-memory queues, no RabbitMQ or
    /// Redis needed (implies --wait).
    #[arg(long)]
    pub local: bool,
    /// Fetching in this process (--local).
    #[command(flatten, next_help_heading = "Local mode")]
    pub fetch: WorkerConfig,
    /// Waiting and output.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Waiting for a crawl and printing its report.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Show progress until the crawl is finished, then print the report.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (a distributed crawl goes on).
    #[arg(long, value_name = "SECS")]
    pub wait_timeout: Option<u64>,
    /// When finished, also write every page to this file as JSON Lines.
    #[arg(long, value_name = "FILE.jsonl")]
    pub output: Option<std::path::PathBuf>,
    /// With --wait: no progress on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Report format.
    #[command(flatten)]
    pub report: OutputArgs,
}

/// How to print a report.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// How many of the most common tags to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Crawl(args) => {
            let plan = submit::plan_crawl(&args)?;
            launch(&cli.connect, plan, &args.run).await
        }
        Command::Submit(args) => {
            let plan = submit::plan_submit(&args)?;
            launch(&cli.connect, plan, &args.run).await
        }
        Command::Status { crawl_id, json } => {
            let crawl_id = parse_id("crawl", &crawl_id)?;
            let store = open_store(&cli.connect).await?;
            let mut status = store
                .status(crawl_id)
                .await?
                .ok_or_else(|| unknown("crawl", crawl_id, &cli.connect))?;
            if let Some(spec) = store.spec(crawl_id).await? {
                let origins = crawlq_core::report::CrawlStatus::origins(&spec);
                status.hosts = store.host_views(&origins).await?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                println!("{:?}: {}", status.state, status.line());
                print!("{}", status.host_lines());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { crawl_id, output } => {
            let crawl_id = parse_id("crawl", &crawl_id)?;
            let store = open_store(&cli.connect).await?;
            let report = store
                .report(crawl_id)
                .await?
                .ok_or_else(|| unknown("crawl", crawl_id, &cli.connect))?;
            wait::print_report(&report, &output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            crawl_id,
            format,
            output,
        } => {
            let crawl_id = parse_id("crawl", &crawl_id)?;
            let store = open_store(&cli.connect).await?;
            if store.status(crawl_id).await?.is_none() {
                return Err(unknown("crawl", crawl_id, &cli.connect).into());
            }
            write_pages(&store.pages(crawl_id).await?, format, output.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Result { task_id, json } => {
            let task_id = parse_id("task", &task_id)?;
            let store = open_store(&cli.connect).await?;
            let view = store
                .task(task_id)
                .await?
                .ok_or_else(|| unknown("task", task_id, &cli.connect))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                print!("{}", render_task(&view));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Dlq {
            crawl_id,
            requeue,
            json,
        } => {
            let crawl_id = crawl_id.map(|id| parse_id("crawl", &id)).transpose()?;
            let names = crawlq_core::names::QueueNames::new(&cli.connect.queue_prefix);
            let amqp = crawlq_core::amqp::Amqp::connect(&cli.connect.amqp_url, names).await?;
            let letters = amqp.dead_letters(crawl_id, requeue).await;
            amqp.close().await;
            let letters = letters?;
            for letter in &letters {
                if json {
                    println!("{}", serde_json::to_string(letter)?);
                } else {
                    let queue = letter
                        .queue
                        .map_or("?".to_owned(), |q| format!("{q:?}").to_lowercase());
                    let crawl = letter.crawl_id.map_or("-".to_owned(), |c| c.to_string());
                    let body: String = letter.body.chars().take(120).collect();
                    println!(
                        "{queue}\t{crawl}\t{}\t{}",
                        printable(&letter.reason),
                        printable(&body)
                    );
                }
            }
            if !json {
                let verb = if requeue { "requeued" } else { "dead letters" };
                eprintln!("{} {verb}", letters.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Resume { crawl_id } => {
            let crawl_id = parse_id("crawl", &crawl_id)?;
            let (store, amqp) = crawlq_core::cli::connect(&cli.connect).await?;
            let spec = store
                .spec(crawl_id)
                .await?
                .ok_or_else(|| unknown("crawl", crawl_id, &cli.connect))?;
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
            println!(
                "published {} unfinished tasks of crawl {crawl_id} again",
                tasks.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Delete { crawl_id } => {
            let crawl_id = parse_id("crawl", &crawl_id)?;
            let store = open_store(&cli.connect).await?;
            if !store.delete(crawl_id).await? {
                return Err(unknown("crawl", crawl_id, &cli.connect).into());
            }
            println!("deleted crawl {crawl_id}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Starts a crawl: in this process with `--local`, else on the deployment.
async fn launch(
    connect: &ConnectArgs,
    plan: submit::Plan,
    run: &RunArgs,
) -> anyhow::Result<ExitCode> {
    if run.local {
        local::run(plan, run).await
    } else {
        submit::launch(connect, plan, &run.wait).await
    }
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
    Ok(RedisStore::connect(&connect.redis_url, &connect.key_prefix).await?)
}

fn parse_id(what: &str, text: &str) -> Result<Uuid, BadInput> {
    text.trim().parse().map_err(|_| {
        BadInput(format!(
            "'{text}' is not a {what} id: give the UUID that crawl or submit printed (e.g. 0b5c7f1e-8a57-4d3c-9f3a-2a4f1d2e6c11)"
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
        "task   {}\ncrawl  {}\nurl    {}\ndepth  {}\nstate  {:?}\n",
        view.task_id,
        view.crawl_id,
        printable(&view.url),
        view.depth,
        view.state
    );
    if let Some(r) = &view.result {
        let status = r.status.map_or("none".to_owned(), |s| s.to_string());
        out.push_str(&format!("status {status}\n"));
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
