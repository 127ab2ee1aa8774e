//! `chaos`: the chaos benchmark. Runs the chaos driver N times and prints a
//! Markdown table for bench/chaos.md.
//!
//! `cargo build --release --workspace --bins && target/release/chaos --runs 3`

use std::time::Duration;

use crawlq_tests::chaos::{self, ChaosOptions};

#[tokio::main]
async fn main() {
    let mut runs = 3;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().and_then(|v| v.parse().ok())) {
            ("--runs", Some(n)) => runs = n,
            _ => {
                eprintln!("usage: chaos [--runs N]");
                std::process::exit(2);
            }
        }
    }
    println!(
        "| run | pages | kills | RabbitMQ restarts | Redis restarts | pages lost | tags double-counted | tags missing | extra fetches | RabbitMQ down (s) | resume after RabbitMQ up (s) | crawl (s) | exact |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for run in 1..=runs {
        let options = ChaosOptions {
            seed: run as u64,
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
