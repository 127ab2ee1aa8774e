//! `fixture-site`: serves the fixture site and prints its address.

use std::io::Write as _;
use std::time::Duration;

use clap::Parser;
use fixture_site::server::Behaviour;
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
    /// Address to listen on (0.0.0.0 inside a container); repeat it to serve
    /// the same site on several addresses, each a host of its own to a
    /// crawler (127.0.0.2, 127.0.0.3, ...).
    #[arg(long, default_value = "127.0.0.1")]
    bind: Vec<std::net::IpAddr>,
    /// Port (0 picks a free one for each address).
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
    /// Every N-th question is disallowed by robots.txt (0: no robots.txt, a 404).
    #[arg(long, default_value_t = 0)]
    robots_every: usize,
    /// robots.txt answers 503 for this many seconds after start.
    #[arg(long, default_value_t = 0)]
    robots_down_secs: u64,
    /// ADDRESS=SECS: the first page request to this address answers 429
    /// with Retry-After SECS (repeatable).
    #[arg(long, value_parser = parse_throttle)]
    throttle: Vec<(std::net::IpAddr, u64)>,
}

fn parse_throttle(text: &str) -> Result<(std::net::IpAddr, u64), String> {
    let (ip, secs) = text
        .split_once('=')
        .ok_or("give ADDRESS=SECS, e.g. 127.0.0.2=30")?;
    Ok((
        ip.parse().map_err(|e| format!("{ip}: {e}"))?,
        secs.parse().map_err(|e| format!("{secs}: {e}"))?,
    ))
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
        robots_every: cli.robots_every,
    });
    let behaviour = Behaviour {
        latency: Duration::from_millis(cli.latency_ms),
        robots_down: Duration::from_secs(cli.robots_down_secs),
        throttle: cli.throttle,
    };
    let (addrs, mut servers) =
        fixture_site::server::serve(site, &cli.bind, cli.port, behaviour).await?;
    let bases: Vec<String> = addrs.iter().map(|addr| format!("http://{addr}")).collect();
    println!("listening on {}", bases.join(" "));
    std::io::stdout().flush()?;
    servers.join_next().await;
    Ok(())
}
