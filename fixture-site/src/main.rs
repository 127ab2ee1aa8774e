//! `fixture-site`: serves the fixture site and prints its address.

use std::io::Write as _;
use std::time::Duration;

use clap::Parser;
use fixture_site::{Site, SiteConfig};

/// A deterministic Stack-Overflow-like site on 127.0.0.1, with `/__truth` and `/__stats`.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Number of question pages.
    #[arg(long, default_value_t = 2000)]
    pages: usize,
    /// Seed of the site's content.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Delay before every page response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Address to listen on (0.0.0.0 inside a container).
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Smallest question page, in KB.
    #[arg(long, default_value_t = 100)]
    min_kb: usize,
    /// Every N-th question answers its first request with 503 or 429 (Retry-After: 1), then works.
    #[arg(long, default_value_t = 0)]
    flaky_every: usize,
    /// Every N-th question always answers 503 (reported as failed in the truth).
    #[arg(long, default_value_t = 0)]
    broken_every: usize,
    /// Largest question page, in KB.
    #[arg(long, default_value_t = 250)]
    max_kb: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(
        cli.min_kb <= cli.max_kb,
        "--min-kb must not exceed --max-kb"
    );
    let site = Site::new(SiteConfig {
        pages: cli.pages,
        seed: cli.seed,
        min_bytes: cli.min_kb * 1024,
        max_bytes: cli.max_kb * 1024,
        flaky_every: cli.flaky_every,
        broken_every: cli.broken_every,
    });
    let (addr, server) = fixture_site::server::serve(
        site,
        cli.bind,
        cli.port,
        Duration::from_millis(cli.latency_ms),
    )
    .await?;
    println!("listening on http://{addr}");
    std::io::stdout().flush()?;
    server.await?;
    Ok(())
}
