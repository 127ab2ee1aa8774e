//! Following a crawl to its end: progress on stderr (a live line on a
//! terminal, a plain line every few seconds otherwise, nothing with
//! `--quiet`), then the report on stdout.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crawlq_core::cli::ConnectArgs;
use crawlq_core::report::CrawlState;
use crawlq_core::store::Store;
use indicatif::{ProgressBar, ProgressStyle};
use uuid::Uuid;

use crate::{OutputArgs, WaitArgs};

/// How often the store is polled.
const POLL: Duration = Duration::from_millis(200);
/// How often a plain progress line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// Waits for the crawl to finish, showing progress, then prints its report.
pub async fn follow(
    store: &dyn Store,
    crawl_id: Uuid,
    wait: &WaitArgs,
    connect: &ConnectArgs,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let terminal = std::io::stderr().is_terminal() && !wait.quiet;
    let bar = terminal.then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let mut last_plain = Instant::now();
    loop {
        let status = store
            .status(crawl_id)
            .await?
            .ok_or_else(|| crate::unknown("crawl", crawl_id, connect))?;
        let line = status.line();
        if let Some(bar) = &bar {
            bar.set_message(line.clone());
        } else if !wait.quiet && last_plain.elapsed() >= PLAIN_EVERY {
            eprintln!("crawl {crawl_id}: {line}");
            last_plain = Instant::now();
        }
        if status.state == CrawlState::Finished {
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            if !wait.quiet {
                eprintln!("crawl {crawl_id} finished: {line}");
            }
            break;
        }
        if let Some(limit) = wait.wait_timeout
            && started.elapsed() >= Duration::from_secs(limit)
        {
            if let Some(bar) = &bar {
                bar.abandon();
            }
            anyhow::bail!(
                "crawl {crawl_id} not finished after {limit}s ({line}): are a worker and an aggregator running? It goes on; see producer status {crawl_id}"
            );
        }
        tokio::time::sleep(POLL).await;
    }
    print_report(store, crawl_id, &wait.output, connect).await?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a crawl's report as text or JSON.
pub async fn print_report(
    store: &dyn Store,
    crawl_id: Uuid,
    output: &OutputArgs,
    connect: &ConnectArgs,
) -> anyhow::Result<()> {
    let report = store
        .report(crawl_id)
        .await?
        .ok_or_else(|| crate::unknown("crawl", crawl_id, connect))?;
    if output.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.render(output.top));
    }
    Ok(())
}
