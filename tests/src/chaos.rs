//! The chaos driver: crawls the fixture site with 3 workers and 2
//! aggregators on a RabbitMQ node and an AOF Redis of its own, while it
//! SIGKILLs a random worker or aggregator every so often and starts it
//! again, restarts RabbitMQ once (at 30% of the crawl) and Redis once (at
//! 60%). Then it measures the damage against the site's truth.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crawlq_core::redis::RedisStore;
use crawlq_core::report::{CrawlState, Report, TaskState};
use crawlq_core::store::Store;
use rand::{Rng, SeedableRng};
use tokio::io::AsyncBufReadExt;
use uuid::Uuid;

use crate::services::{OwnRabbit, OwnRedis};
use crate::{Site, TestEnv};

/// What to run.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// Pages of the fixture site.
    pub pages: usize,
    /// Its response latency, to make the crawl last.
    pub latency_ms: u64,
    /// Fetches in flight per worker.
    pub worker_concurrency: u16,
    /// Time between kills.
    pub kill_every: Duration,
    /// Seed of the site and of the driver's choices.
    pub seed: u64,
    /// Give up after this long.
    pub limit: Duration,
}

impl Default for ChaosOptions {
    fn default() -> Self {
        Self {
            pages: 2000,
            latency_ms: 150,
            worker_concurrency: 4,
            kill_every: Duration::from_millis(900),
            seed: 1,
            limit: Duration::from_secs(900),
        }
    }
}

/// What a chaos run did and what it cost.
#[derive(Debug, Clone, Default)]
pub struct ChaosReport {
    /// SIGKILLs of workers and aggregators.
    pub kills: usize,
    /// RabbitMQ restarts.
    pub rabbit_restarts: usize,
    /// Redis restarts.
    pub redis_restarts: usize,
    /// Pages the truth holds.
    pub pages: usize,
    /// Truth pages missing from the report or not finished.
    pub pages_lost: usize,
    /// Tag counts above the truth, summed.
    pub tags_double_counted: u64,
    /// Tag counts below the truth, summed.
    pub tags_missing: u64,
    /// Requests beyond one per truth page.
    pub extra_fetches: u64,
    /// Seconds RabbitMQ was down.
    pub rabbit_down_s: f64,
    /// Seconds from RabbitMQ answering again to the next finished page.
    pub resume_after_rabbit_s: f64,
    /// Seconds the crawl took.
    pub seconds: f64,
    /// Report equals the truth: every page, status, title, tags, and the tally.
    pub exact: bool,
    /// What went wrong, if anything.
    pub problems: Vec<String>,
}

/// Runs one chaos crawl.
pub async fn run(options: &ChaosOptions) -> ChaosReport {
    let rabbit = OwnRabbit::start().await;
    let mut redis = OwnRedis::start().await;
    let site = Site::start(&[
        "--pages",
        &options.pages.to_string(),
        "--seed",
        &options.seed.to_string(),
        "--latency-ms",
        &options.latency_ms.to_string(),
    ])
    .await;
    let mut env = TestEnv::on("chaos", rabbit.url(), redis.url());
    let concurrency = options.worker_concurrency.to_string();
    for _ in 0..3 {
        env.spawn("worker", &["--concurrency", &concurrency]);
    }
    for _ in 0..2 {
        env.spawn("aggregator", &[]);
    }
    let seed_path = "/questions/tagged/python";
    let truth = site.truth(&[seed_path]).await;
    let seed = format!("{}{seed_path}", site.base);
    // The producer waits for the crawl through every restart; its report is checked too.
    let mut producer = env
        .command("producer")
        .args(["crawl", &seed, "--wait", "--json", "--quiet"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start producer: {e}"));
    let stdout = producer
        .stdout
        .take()
        .unwrap_or_else(|| panic!("producer stdout"));
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    // With --json the producer prints only the report, at the end: the crawl
    // id is read from the store, where this test's key prefix holds only it.
    let store = RedisStore::connect(&env.redis_url, &env.prefix)
        .await
        .unwrap_or_else(|e| panic!("own Redis: {e}"));
    let crawl_id: Uuid = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Ok(crawls) = store.list().await
                && let Some(crawl) = crawls.first()
            {
                return crawl.crawl_id;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the producer started no crawl within 60 s"));

    let mut report = ChaosReport {
        pages: truth.pages.len(),
        ..ChaosReport::default()
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(options.seed);
    let started = Instant::now();
    let mut last_kill = Instant::now();
    let total = truth.pages.len() as f64;
    loop {
        if started.elapsed() > options.limit {
            report
                .problems
                .push(format!("crawl not finished after {:?}", options.limit));
            break;
        }
        let Ok(Some(status)) = store.status(crawl_id).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if status.state == CrawlState::Finished {
            break;
        }
        let progress = (status.done + status.failed) as f64 / total;
        if report.rabbit_restarts == 0 && progress >= 0.3 {
            let down = Instant::now();
            rabbit.stop().await;
            rabbit.start_again().await;
            report.rabbit_down_s = down.elapsed().as_secs_f64();
            let up = Instant::now();
            report.rabbit_restarts += 1;
            // Progress counted from the moment RabbitMQ answers again: pages
            // finishing then went through the new connections.
            let mut before = None;
            loop {
                if let Ok(Some(s)) = store.status(crawl_id).await {
                    let ended = s.done + s.failed;
                    let base = *before.get_or_insert(ended);
                    if ended > base || s.state == CrawlState::Finished {
                        break;
                    }
                }
                if up.elapsed() > Duration::from_secs(300) {
                    report
                        .problems
                        .push("no progress 300 s after RabbitMQ came back".into());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            report.resume_after_rabbit_s = up.elapsed().as_secs_f64();
        } else if report.redis_restarts == 0 && progress >= 0.6 {
            redis.restart().await;
            report.redis_restarts += 1;
        } else if last_kill.elapsed() >= options.kill_every {
            let victim = rng.random_range(0..env.processes());
            env.kill(victim).await;
            env.restart(victim);
            report.kills += 1;
            last_kill = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    report.seconds = started.elapsed().as_secs_f64();

    match tokio::time::timeout(Duration::from_secs(60), async {
        let report = lines.next_line().await;
        (report, producer.wait().await)
    })
    .await
    {
        Ok((Ok(Some(json)), Ok(status))) if status.success() => {
            match serde_json::from_str::<Report>(&json) {
                Ok(r) if r.tag_counts == truth.tag_counts => {}
                Ok(_) => report
                    .problems
                    .push("the producer's report differs from the truth".into()),
                Err(e) => report
                    .problems
                    .push(format!("the producer's report is not JSON: {e}")),
            }
        }
        other => report.problems.push(format!(
            "the waiting producer did not finish cleanly: {other:?}"
        )),
    }
    let final_report = match store.report(crawl_id).await {
        Ok(Some(r)) => r,
        other => {
            report.problems.push(format!("no report: {other:?}"));
            return report;
        }
    };
    measure(
        &mut report,
        &final_report,
        &truth,
        &site.stats().await,
        &site.base,
    );
    report
}

fn measure(
    report: &mut ChaosReport,
    got: &Report,
    truth: &fixture_site::Truth,
    stats: &BTreeMap<String, u64>,
    base: &str,
) {
    let pages: BTreeMap<&str, _> = got.pages.iter().map(|p| (p.url.as_str(), p)).collect();
    let mut exact = got.pages.len() == truth.pages.len();
    for (url, want) in &truth.pages {
        match pages.get(url.as_str()) {
            Some(p) if matches!(p.state, TaskState::Done | TaskState::Failed) => {
                if (p.status, &p.title, &p.tags) != (Some(want.status), &want.title, &want.tags) {
                    exact = false;
                    report.problems.push(format!("page {url} differs"));
                }
            }
            _ => {
                report.pages_lost += 1;
                exact = false;
            }
        }
    }
    for (tag, want) in &truth.tag_counts {
        let have = got.tag_counts.get(tag).copied().unwrap_or(0);
        report.tags_double_counted += have.saturating_sub(*want);
        report.tags_missing += want.saturating_sub(have);
    }
    for (tag, have) in &got.tag_counts {
        if !truth.tag_counts.contains_key(tag) {
            report.tags_double_counted += have;
        }
    }
    exact &= got.tag_counts == truth.tag_counts;
    report.exact = exact;
    let wanted: u64 = truth.pages.len() as u64;
    let made: u64 = stats.values().sum();
    report.extra_fetches = made.saturating_sub(wanted);
    let fetched_truth = truth
        .pages
        .keys()
        .filter(|u| stats.contains_key(u.trim_start_matches(base)))
        .count();
    if fetched_truth != truth.pages.len() {
        report.problems.push(format!(
            "{} truth pages never fetched",
            truth.pages.len() - fetched_truth
        ));
    }
}
