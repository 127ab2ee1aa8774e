//! Nothing lost, nothing counted twice: the chaos run, a worker killed
//! mid-fetch, a worker stopped with SIGTERM, and poison messages.

use std::time::Duration;

use crawlq_core::report::Report;
use crawlq_tests::chaos::{self, ChaosOptions};
use crawlq_tests::{Site, TestEnv};
use fixture_site::Truth;
use lapin::{Connection, ConnectionProperties};

const LIMIT: Duration = Duration::from_secs(600);
const SEED: &str = "/questions/tagged/python";

#[tokio::test(flavor = "multi_thread")]
async fn chaos_kills_and_restarts_lose_nothing_and_count_nothing_twice() {
    let report = chaos::run(&ChaosOptions::default()).await;
    eprintln!("chaos: {report:?}");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(
        report.kills >= 20,
        "at least 20 kills, got {}",
        report.kills
    );
    assert_eq!((report.rabbit_restarts, report.redis_restarts), (1, 1));
    assert_eq!(report.pages_lost, 0);
    assert_eq!(report.tags_double_counted, 0);
    assert_eq!(report.tags_missing, 0);
    assert!(report.exact, "the report equals the site's truth");
}

/// Submits the first `n` pages of the site that answer 200, as one list
/// (so one task message); returns the crawl id.
async fn submit_pages(env: &TestEnv, truth: &Truth, n: usize, politeness: &[&str]) -> String {
    let list = env.url_list(
        truth
            .pages
            .iter()
            .filter(|(_, p)| p.status == 200)
            .take(n)
            .map(|(u, _)| u),
    );
    let mut args = vec!["submit", "--urls", list.as_str()];
    args.extend_from_slice(politeness);
    env.start_crawl(&args).await
}

/// Waits until the site has received `n` requests.
async fn wait_requests(site: &Site, n: u64) {
    for _ in 0..600 {
        if site.stats().await.values().sum::<u64>() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the site never saw {n} requests");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_fetch_has_its_tasks_completed_by_another() {
    let site = Site::start(&["--pages", "100", "--seed", "21", "--latency-ms", "3000"]).await;
    let truth = site.truth(&[SEED]).await;
    let mut env = TestEnv::new("killmidfetch");
    env.spawn("aggregator", &[]);
    let first = env.spawn("worker", &["--concurrency", "4"]);
    // Politeness on (the defaults): the host's four lanes are the dead
    // worker's until their leases expire.
    let crawl_id = submit_pages(&env, &truth, 4, &[]).await;
    // The first worker has all four fetches in flight (each takes 3 s): kill it.
    wait_requests(&site, 4).await;
    env.kill(first).await;
    env.spawn("worker", &["--concurrency", "4"]);
    let report = env.wait_report(&crawl_id).await;
    assert_eq!(
        report.status.done, 4,
        "every task completed by the second worker"
    );
    for page in &report.pages {
        assert_eq!(page.tags, truth.pages[&page.url].tags);
    }
    let stats = site.stats().await;
    assert!(
        stats.values().all(|n| *n == 2),
        "each page fetched by both workers: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_message_that_comes_back_refetches_only_its_unfinished_tasks() {
    let site = Site::start(&["--pages", "100", "--seed", "24", "--latency-ms", "3000"]).await;
    let truth = site.truth(&[SEED]).await;
    let mut env = TestEnv::new("redelivered");
    env.spawn("aggregator", &[]);
    // Two fetch slots for one message of four tasks: two finish (stored and
    // published) while the other two are still being fetched, then it dies.
    let first = env.spawn("worker", &["--concurrency", "2"]);
    // No per-host lanes or robots.txt: every task stays with its message, so
    // the message comes back to the second worker.
    let crawl_id = submit_pages(
        &env,
        &truth,
        4,
        &["--host-concurrency", "0", "--ignore-robots"],
    )
    .await;
    wait_requests(&site, 4).await;
    // The first two results are stored and confirmed well within a second;
    // the last two fetches take three.
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.kill(first).await;
    env.spawn("worker", &["--concurrency", "4"]);
    let report = env.wait_report(&crawl_id).await;
    assert_eq!(report.status.done, 4, "every task completed");
    for page in &report.pages {
        assert_eq!(page.tags, truth.pages[&page.url].tags);
    }
    let stats = site.stats().await;
    let mut fetches: Vec<u64> = stats.values().copied().collect();
    fetches.sort_unstable();
    assert_eq!(
        fetches,
        [1, 1, 2, 2],
        "the two pages finished before the kill are not fetched again: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_worker_finish_and_ack_its_fetches_then_exit() {
    let site = Site::start(&["--pages", "300", "--seed", "22", "--latency-ms", "1000"]).await;
    let truth = site.truth(&[SEED]).await;
    let mut env = TestEnv::new("sigterm");
    env.spawn("aggregator", &[]);
    let first = env.spawn("worker", &["--concurrency", "8"]);
    let seed = format!("{}{SEED}", site.base);
    // Politeness on, with lanes enough for the 1 s pages to go quickly.
    let crawl_id = env
        .start_crawl(&["crawl", &seed, "--host-concurrency", "16"])
        .await;
    wait_requests(&site, 10).await;
    let code = env.signal(first, "TERM", Duration::from_secs(10)).await;
    assert_eq!(code, Some(0), "the worker exits cleanly within 10 s");
    env.spawn("worker", &["--concurrency", "16"]);
    let report = env.wait_report(&crawl_id).await;
    assert_eq!(report.tag_counts, truth.tag_counts);
    assert_eq!(report.pages.len(), truth.pages.len());
    let stats = site.stats().await;
    assert!(
        stats.values().all(|n| *n == 1),
        "fetches finished before exiting are not repeated: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_messages_go_to_the_dead_letter_queue_with_a_reason() {
    let site = Site::start(&["--pages", "400", "--seed", "23"]).await;
    let truth = site.truth(&[SEED]).await;
    let mut env = TestEnv::new("poison");
    env.start_stack(1, 1);
    // The services declare the queues; inject once they are up.
    let crawl_id = env
        .start_crawl(&["crawl", &format!("{}{SEED}", site.base)])
        .await;
    for (queue, body) in [
        ("tasks", b"this is not json".as_slice()),
        (
            "completions",
            br#"{"v":1,"result":{"crawl_id":42}}"#.as_slice(),
        ),
        (
            "tasks",
            br#"{"v":99,"crawl_id":"00000000-0000-0000-0000-000000000000"}"#.as_slice(),
        ),
        // Binary, with a terminal escape, NUL, BEL and bytes no UTF-8 holds.
        ("tasks", b"\x1b[31mred\x00\x07\xff\xfe\r\x9b2J".as_slice()),
    ] {
        env.publish_raw(queue, &[body]).await;
    }
    let report = env.wait_report(&crawl_id).await;
    assert_eq!(
        report.tag_counts, truth.tag_counts,
        "the crawl completes, exactly"
    );

    let mut letters = Vec::new();
    for _ in 0..100 {
        let out = env.producer(&["dlq", "--json"], LIMIT).await;
        letters = dead_letters(&out);
        if letters.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut reasons: Vec<(String, String)> = letters
        .iter()
        .map(|l| {
            (
                l["queue"].as_str().unwrap_or("?").to_owned(),
                l["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert_eq!(reasons[0].0, "completions");
    assert!(
        reasons[0].1.starts_with("undecodable completion:"),
        "{reasons:?}"
    );
    assert!(
        reasons[1..]
            .iter()
            .all(|(_, r)| r.starts_with("undecodable task:")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(_, r)| r.contains("message version 99 is not supported")),
        "{reasons:?}"
    );
    // Listing leaves them there; a crawl filter shows none of these (they name no crawl).
    let out = env.producer(&["dlq", &crawl_id, "--json"], LIMIT).await;
    assert_eq!(dead_letters(&out).len(), 0);
    let out = env.producer(&["dlq", "--json"], LIMIT).await;
    assert_eq!(dead_letters(&out).len(), 4);
    // The human listing shows every message, the binary one escaped: no
    // control character of a message reaches the terminal (the listing's own
    // tabs and newlines are all there is).
    let out = env.producer(&["dlq"], LIMIT).await;
    let text = &out.assert_success().stdout;
    assert!(
        !text
            .chars()
            .any(|c| !matches!(c, '\n' | '\t') && c.is_control()),
        "{text:?}"
    );
    assert!(text.contains("red"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_failures_are_retried_and_permanent_ones_recorded() {
    // Every 7th question fails its first request (503, or 429 with Retry-After: 1);
    // every 11th always answers 503.
    let site = Site::start(&[
        "--pages",
        "400",
        "--seed",
        "24",
        "--flaky-every",
        "7",
        "--broken-every",
        "11",
    ])
    .await;
    let truth = site.truth(&[SEED]).await;
    let mut env = TestEnv::new("retries");
    env.spawn("aggregator", &[]);
    env.spawn("worker", &["--max-retries", "2", "--retry-base-ms", "100"]);
    let out = env
        .producer(
            &[
                "crawl",
                &format!("{}{SEED}", site.base),
                "--wait",
                "--json",
                "--quiet",
            ],
            LIMIT,
        )
        .await;
    let (_, report): (String, Report) = out.assert_success().id_and_json();
    assert_eq!(report.tag_counts, truth.tag_counts);
    let broken: Vec<&String> = truth
        .pages
        .iter()
        .filter(|(_, p)| p.status == 503)
        .map(|(u, _)| u)
        .collect();
    assert!(!broken.is_empty());
    crawlq_tests::assert_pages_in_truth(&report, &truth);
    assert_eq!(
        report.failures.get("HTTP 503"),
        Some(&(broken.len() as u64)),
        "{:?}",
        report.failures
    );
    let stats = site.stats().await;
    let requests = |url: &String| stats[url.trim_start_matches(&site.base)];
    for url in &broken {
        assert_eq!(
            requests(url),
            3,
            "a permanent 503 is tried 1 + 2 times: {url}"
        );
    }
    let retried = truth
        .pages
        .iter()
        .filter(|(_, p)| p.status == 200)
        .filter(|(u, _)| requests(u) == 2)
        .count();
    assert!(retried > 0, "flaky pages were fetched again");
    assert!(
        truth
            .pages
            .iter()
            .filter(|(_, p)| p.status != 503)
            .all(|(u, _)| requests(u) <= 2)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_republishes_the_unfinished_tasks_of_a_crawl_whose_queue_was_lost() {
    let site = Site::start(&["--pages", "300", "--seed", "25"]).await;
    let truth = site.truth(&[SEED]).await;
    let mut env = TestEnv::new("resume");
    // Record the crawl with nobody consuming, then lose its queued seed task.
    let crawl_id = env
        .start_crawl(&["crawl", &format!("{}{SEED}", site.base)])
        .await;
    let connection = Connection::connect(&env.amqp_url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let tasks = format!("{}.tasks", env.prefix);
    let purged = channel
        .queue_purge(
            tasks.as_str().into(),
            lapin::options::QueuePurgeOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(purged, 1, "the seed task was queued");
    env.start_stack(1, 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let out = env.producer(&["status", &crawl_id, "--json"], LIMIT).await;
    let status: serde_json::Value = serde_json::from_str(&out.assert_success().stdout).unwrap();
    assert_eq!(
        (status["queued"].as_u64(), status["done"].as_u64()),
        (Some(1), Some(0)),
        "stuck without its task"
    );

    let out = env.producer(&["resume", &crawl_id], LIMIT).await;
    assert!(
        out.assert_success()
            .stdout
            .contains("published 1 unfinished tasks"),
        "{}",
        out.stdout
    );
    let report = env.wait_report(&crawl_id).await;
    assert_eq!(report.tag_counts, truth.tag_counts);
    assert_eq!(report.pages.len(), truth.pages.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_task_for_a_finished_crawl_is_dropped_without_a_fetch() {
    let site = Site::start(&[
        "--pages", "60", "--seed", "26", "--min-kb", "2", "--max-kb", "4",
    ])
    .await;
    let truth = site.truth(&[SEED]).await;
    let mut env = TestEnv::new("forged");
    env.start_stack(1, 1);
    let crawl_id = env
        .start_crawl(&["crawl", &format!("{}{SEED}", site.base)])
        .await;
    let report = env.wait_report(&crawl_id).await;
    assert_eq!(report.tag_counts, truth.tag_counts);
    // A well-formed task of that crawl, for a URL it never claimed.
    let crawl: uuid::Uuid = crawl_id.parse().unwrap();
    let url = format!("{}/questions/100001/forged", site.base);
    let task = crawlq_core::message::Task {
        v: crawlq_core::message::MESSAGE_VERSION,
        crawl_id: crawl,
        task_id: crawlq_core::message::task_id(crawl, &url),
        url,
        depth: 1,
        rules: crawlq_core::message::Rules {
            tag_selector: crawlq_core::message::DEFAULT_TAG_SELECTOR.into(),
            link_pattern: crawlq_core::links::DEFAULT_LINK_PATTERN.into(),
            allow_hosts: vec![site.base.clone()],
            max_depth: None,
            politeness: Default::default(),
        },
        attempt: 0,
    };
    env.publish_raw("tasks", &[&crawlq_core::message::encode(&task)])
        .await;
    let mut status = serde_json::Value::Null;
    for _ in 0..200 {
        let out = env.producer(&["status", &crawl_id, "--json"], LIMIT).await;
        status = serde_json::from_str(&out.assert_success().stdout).unwrap();
        if status["unclaimed"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status["unclaimed"], 1,
        "the forged task was counted: {status}"
    );
    assert_eq!(status["state"], "finished", "the crawl stays finished");
    assert_eq!(
        (status["in_flight"].as_u64(), status["queued"].as_u64()),
        (Some(0), Some(0))
    );
    let stats = site.stats().await;
    assert!(
        !stats.keys().any(|path| path.contains("forged")),
        "the forged URL was never fetched: {stats:?}"
    );
}

/// The dead letters `dlq --json` listed (one JSON document).
fn dead_letters(out: &crawlq_tests::Output) -> Vec<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_str(&out.assert_success().stdout)
        .unwrap_or_else(|e| panic!("dlq --json: {e}: {}", out.stdout));
    value["dead_letters"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}
