//! `chaos`: the chaos benchmark. Runs the chaos driver N times and prints a
//! Markdown table for bench/chaos.md.
//!
//! `cargo build --release --workspace --bins && target/release/chaos --runs 3`

use std::time::Duration;

use clap::Parser;
use crawlq_tests::chaos::{self, ChaosOptions};

/// The chaos benchmark: crawls under kills and restarts, a table row per run.
#[derive(Parser)]
struct Cli {
    /// How many runs (each with its own seed, 1..=N).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
}

#[tokio::main]
async fn main() {
    let runs = Cli::parse().runs;
    println!(
        "| run | pages | kills | RabbitMQ restarts | Redis restarts | pages lost | tags double-counted | tags missing | extra fetches | RabbitMQ down (s) | resume after RabbitMQ up (s) | crawl (s) | exact |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for run in 1..=runs {
        let options = ChaosOptions {
            seed: run,
            limit: Duration::from_secs(900),
            ..ChaosOptions::default()
        };
        let r = chaos::run(&options).await;
        println!(
            "| {run} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.2} | {:.1} | {} |",
            r.pages,
            r.kills,
            r.rabbit_restarts,
            r.redis_restarts,
            r.pages_lost,
            r.tags_double_counted,
            r.tags_missing,
            r.extra_fetches,
            r.rabbit_down_s,
            r.resume_after_rabbit_s,
            r.seconds,
            if r.exact { "yes" } else { "NO" }
        );
        for problem in &r.problems {
            eprintln!("run {run}: {problem}");
        }
    }
}
