//! Following a crawl to its end: progress on stderr (a live bar on a
//! terminal, a plain line every few seconds otherwise, nothing with
//! `--quiet`), then one snapshot of the crawl that the summary line, the
//! report on stdout and the `--output` file all come from, and the exit code
//! that says how it ended. Local and distributed crawls are followed by the
//! same code.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use crawlq_core::export::Format;
use crawlq_core::report::{CrawlState, CrawlStatus, Report, TaskState};
use crawlq_core::store::Store;
use indicatif::{ProgressBar, ProgressStyle};
use uuid::Uuid;

use crate::{Exit, WaitArgs, out};

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
    /// `--wait-timeout` passed first.
    TimedOut,
}

/// Shows progress until the crawl is finished, Ctrl-C is pressed or
/// `--wait-timeout` passes.
pub async fn follow(store: &dyn Store, crawl_id: Uuid, wait: &WaitArgs) -> anyhow::Result<Ended> {
    let started = Instant::now();
    let progress = Progress::new(crawl_id, wait.quiet);
    let timed_out = || {
        wait.wait_timeout
            .is_some_and(|limit| started.elapsed() >= limit)
    };
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    loop {
        let status = match store.status(crawl_id).await {
            Ok(Some(status)) => Some(status),
            Ok(None) => anyhow::bail!(
                "crawl {crawl_id} is gone from the store: was it deleted (producer delete) or did its --ttl pass?"
            ),
            // Redis restarting: the crawl goes on; keep asking (within --wait-timeout).
            Err(error) => {
                tracing::warn!(%error, "store unavailable: retrying");
                if timed_out() {
                    return Err(error.into());
                }
                None
            }
        };
        if let Some(status) = &status {
            progress.show(status);
            if status.state == CrawlState::Finished {
                progress.clear();
                return Ok(Ended::Finished);
            }
        }
        if timed_out() {
            progress.clear();
            return Ok(Ended::TimedOut);
        }
        tokio::select! {
            _ = &mut interrupt => {
                progress.clear();
                return Ok(Ended::Interrupted);
            }
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Where the crawl runs, for what is said when following it stops early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// In this process: stopping stops the crawl.
    Local,
    /// On the deployment: the crawl goes on without the producer.
    Distributed,
}

/// Reads the crawl once, then prints from that one snapshot its summary
/// line (stderr), its report (stdout) and, with `--output`, its pages;
/// returns the exit code for how it `ended`.
pub async fn conclude(
    store: &dyn Store,
    crawl_id: Uuid,
    wait: &WaitArgs,
    json: bool,
    ended: Ended,
    mode: Mode,
) -> anyhow::Result<Exit> {
    let mut report = store.report(crawl_id).await?.ok_or_else(|| {
        anyhow::anyhow!("crawl {crawl_id} is gone from the store: was it deleted?")
    })?;
    if ended == Ended::Interrupted && mode == Mode::Local {
        report.status.state = CrawlState::Interrupted;
    }
    let status = &report.status;
    if !wait.quiet {
        eprintln!("crawl {crawl_id} {}: {}", status.state, status.line());
    }
    if let Some(path) = &wait.output {
        let mut pages = store.pages(crawl_id).await?;
        if status.state != CrawlState::Finished {
            // Only finished pages: a running one has no result to write yet.
            let ids: std::collections::HashSet<Uuid> = report
                .pages
                .iter()
                .filter(|page| matches!(page.state, TaskState::Done | TaskState::Failed))
                .map(|page| page.task_id)
                .collect();
            pages.retain(|page| ids.contains(&page.task_id));
        }
        crate::write_pages(&pages, Format::Jsonl, Some(path))?;
    }
    print_report(&report, wait.top, json)?;
    Ok(match ended {
        Ended::Finished if report.status.done == 0 => {
            eprintln!(
                "crawl {crawl_id}: no page succeeded (see the failures above, or producer report {crawl_id})"
            );
            Exit::NoSuccess
        }
        Ended::Finished => Exit::Ok,
        Ended::TimedOut => {
            let limit = wait.wait_timeout.unwrap_or_default();
            eprintln!(
                "crawl {crawl_id} not finished after {}: {}",
                humantime::format_duration(limit),
                goes_on(crawl_id, mode)
            );
            Exit::Timeout
        }
        Ended::Interrupted => {
            eprintln!("interrupted: {}", goes_on(crawl_id, mode));
            Exit::Interrupted
        }
    })
}

/// What happens to a crawl the producer stopped following.
fn goes_on(crawl_id: Uuid, mode: Mode) -> String {
    match mode {
        Mode::Local => {
            "the local crawl stopped with this process; the report holds the pages finished so far"
                .to_owned()
        }
        Mode::Distributed => format!(
            "the crawl goes on in the workers; follow it with producer status {crawl_id}, then producer report {crawl_id}"
        ),
    }
}

/// Prints a report as text (its `top` tags) or one JSON object.
pub fn print_report(report: &Report, top: usize, json: bool) -> anyhow::Result<()> {
    if json {
        out::json(report)
    } else {
        out::text(&report.render(top))
    }
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
                "{} failed · {} taken by workers · {} retrying · {:.0} pages/s",
                status.failed, status.in_flight, status.retrying, status.pages_per_s
            ));
        } else if !self.quiet && self.last_line.get().elapsed() >= PLAIN_EVERY {
            eprintln!(
                "crawl {} {}: {}",
                self.crawl_id,
                status.state,
                status.line()
            );
            self.last_line.set(Instant::now());
        }
    }

    fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
