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
//! - `args`: the command line (clap structs, value parsers, checks) and the exit codes.
//! - `dashboard`: `producer dashboard`, the live page and its JSON API.
//! - this file: [`run`], one function per subcommand.

mod args;
mod dashboard;
pub mod local;
pub mod out;
pub mod submit;
pub mod wait;

use args::Command;
pub use args::{
    BadInput, Cli, CrawlArgs, Exit, PolitenessArgs, RunArgs, SubmitArgs, WaitArgs, check_local_only,
};

use std::sync::Arc;
use std::time::Duration;

use crawlq_core::amqp::{Amqp, redact};
use crawlq_core::cli::ConnectArgs;
use crawlq_core::display::printable;
use crawlq_core::export::{self, Format};
use crawlq_core::politeness::Hosts as _;
use crawlq_core::redis::RedisStore;
use crawlq_core::report::{CrawlStatus, TaskState, TaskView};
use crawlq_core::store::Store;
use uuid::Uuid;

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
