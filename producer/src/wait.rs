//! Following a crawl to its end: progress on stderr (a live bar on a
//! terminal, a plain line every few seconds otherwise, nothing with
//! `--quiet`), then the report on stdout and, with `--output`, every page as
//! JSON Lines. Local and distributed crawls are followed by the same code.

use std::future::Future;
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use crawlq_core::export::Format;
use crawlq_core::report::{CrawlState, CrawlStatus, Report};
use crawlq_core::store::Store;
use indicatif::{ProgressBar, ProgressStyle};
use uuid::Uuid;

use crate::{OutputArgs, WaitArgs};

/// How often the store is polled.
const POLL: Duration = Duration::from_millis(200);
/// How often a plain progress line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// How following a crawl ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Every claimed task is done or failed.
    Finished,
    /// `interrupt` fired first (Ctrl-C).
    Interrupted,
}

/// Shows progress until the crawl is finished or `interrupt` resolves.
pub async fn follow(
    store: &dyn Store,
    crawl_id: Uuid,
    wait: &WaitArgs,
    interrupt: impl Future<Output = ()>,
) -> anyhow::Result<Ended> {
    let started = Instant::now();
    let progress = Progress::new(crawl_id, wait.quiet);
    tokio::pin!(interrupt);
    loop {
        let status = match store.status(crawl_id).await {
            Ok(Some(status)) => status,
            Ok(None) => anyhow::bail!("crawl {crawl_id} is gone from the store: was it deleted?"),
            // Redis restarting: the crawl goes on; keep asking (within --wait-timeout).
            Err(error) => {
                tracing::warn!(%error, "store unavailable: retrying");
                if wait
                    .wait_timeout
                    .is_some_and(|limit| started.elapsed() >= Duration::from_secs(limit))
                {
                    return Err(error.into());
                }
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        progress.show(&status);
        if status.state == CrawlState::Finished {
            progress.done(&status, "finished");
            return Ok(Ended::Finished);
        }
        if let Some(limit) = wait.wait_timeout
            && started.elapsed() >= Duration::from_secs(limit)
        {
            progress.done(&status, "still running");
            anyhow::bail!(
                "crawl {crawl_id} not finished after {limit}s ({}): are a worker and an aggregator running? See producer status {crawl_id}",
                status.line()
            );
        }
        tokio::select! {
            () = &mut interrupt => {
                progress.done(&status, "interrupted");
                return Ok(Ended::Interrupted);
            }
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Prints the report and writes `--output`.
pub async fn finish(store: &dyn Store, crawl_id: Uuid, wait: &WaitArgs) -> anyhow::Result<()> {
    let report = store.report(crawl_id).await?.ok_or_else(|| {
        anyhow::anyhow!("crawl {crawl_id} is gone from the store: was it deleted?")
    })?;
    if let Some(path) = &wait.output {
        crate::write_pages(&store.pages(crawl_id).await?, Format::Jsonl, Some(path))?;
    }
    print_report(&report, &wait.report)
}

/// Prints a report as text or one JSON object.
pub fn print_report(report: &Report, output: &OutputArgs) -> anyhow::Result<()> {
    if output.json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        print!("{}", report.render(output.top));
    }
    Ok(())
}

/// Progress on stderr: a bar on a terminal, plain lines otherwise.
struct Progress {
    crawl_id: Uuid,
    quiet: bool,
    bar: Option<ProgressBar>,
    last_line: std::cell::Cell<Instant>,
}

impl Progress {
    fn new(crawl_id: Uuid, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let style = ProgressStyle::with_template(
                "{spinner:.green} [{elapsed_precise}] [{bar:30.cyan/blue}] {pos}/{len} pages · {msg}",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            let bar = ProgressBar::new(0).with_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            crawl_id,
            quiet,
            bar,
            last_line: std::cell::Cell::new(Instant::now()),
        }
    }

    fn show(&self, status: &CrawlStatus) {
        if let Some(bar) = &self.bar {
            bar.set_length(status.discovered);
            bar.set_position(status.done + status.failed);
            bar.set_message(format!(
                "{} failed · {} in flight · {:.0} pages/s",
                status.failed, status.in_flight, status.pages_per_s
            ));
        } else if !self.quiet && self.last_line.get().elapsed() >= PLAIN_EVERY {
            eprintln!("crawl {}: {}", self.crawl_id, status.line());
            self.last_line.set(Instant::now());
        }
    }

    fn done(&self, status: &CrawlStatus, how: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if !self.quiet {
            eprintln!("crawl {} {how}: {}", self.crawl_id, status.line());
        }
    }
}
