//! Local mode: the same crawl in one process on in-memory queues. It must
//! give the report a distributed crawl gives, need no broker, write the same
//! pages to `--output` as `export` does, and stop cleanly on Ctrl-C.

use std::collections::BTreeMap;
use std::time::Duration;

use crawlq_core::report::Report;
use crawlq_tests::{Site, TestEnv};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(600);
const SEED: &str = "/questions/tagged/python";

/// A local port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The JSONL lines with what differs between two sites or two runs removed
/// (the site's address, task ids, timings), keyed by URL path.
fn stable_lines(jsonl: &str, base: &str) -> BTreeMap<String, Value> {
    jsonl
        .lines()
        .map(|line| {
            let mut value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("invalid JSONL line {line:?}: {e}"));
            let object = value.as_object_mut().unwrap();
            for volatile in ["task_id", "fetched_at", "elapsed_ms"] {
                assert!(object.contains_key(volatile), "{volatile} in {line}");
                object.remove(volatile);
            }
            let strip =
                |v: &Value| Value::String(v.as_str().unwrap().trim_start_matches(base).to_owned());
            let url = strip(&object["url"]);
            let links: Vec<Value> = object["links"]
                .as_array()
                .unwrap()
                .iter()
                .map(strip)
                .collect();
            object.insert("url".into(), url.clone());
            object.insert("links".into(), Value::Array(links));
            (url.as_str().unwrap().to_owned(), value)
        })
        .collect()
}

/// A page's path, status, title and tags.
type PageFacts = (String, Option<u16>, Option<String>, Vec<String>);

/// Tally and pages, with the site's address removed from URLs.
fn stable_report(report: &Report, base: &str) -> (BTreeMap<String, u64>, Vec<PageFacts>) {
    let pages = report
        .pages
        .iter()
        .map(|p| {
            (
                p.url.trim_start_matches(base).to_owned(),
                p.status,
                p.title.clone(),
                p.tags.clone(),
            )
        })
        .collect();
    (report.tag_counts.clone(), pages)
}

#[tokio::test(flavor = "multi_thread")]
async fn local_and_distributed_crawls_report_alike_and_fetch_each_page_once() {
    // Two copies of one site (same seed), so each mode's requests are counted apart.
    let (local_site, remote_site) = tokio::join!(
        Site::start(&["--pages", "1500", "--seed", "11"]),
        Site::start(&["--pages", "1500", "--seed", "11"])
    );
    let mut env = TestEnv::new("localvsdist");
    env.start_stack(2, 1);
    let local_out = env.log_dir.join("local.jsonl");
    let remote_out = env.log_dir.join("remote.jsonl");
    let exported = env.log_dir.join("exported.jsonl");

    // Local mode, with RabbitMQ and Redis pointed at closed ports: it needs neither.
    let mut command = env.command("producer");
    command
        .args([
            "crawl",
            "--local",
            &format!("{}{SEED}", local_site.base),
            "--json",
            "--quiet",
        ])
        .args(["--output", local_out.to_str().unwrap()])
        .env(
            "AMQP_URL",
            format!("amqp://guest:guest@127.0.0.1:{}/%2f", closed_port()),
        )
        .env("REDIS_URL", format!("redis://127.0.0.1:{}/", closed_port()));
    let out = crawlq_tests::run(&mut command, LIMIT).await;
    let (_, local): (String, Report) = out.assert_success().id_and_json();

    let out = env
        .producer(
            &[
                "crawl",
                &format!("{}{SEED}", remote_site.base),
                "--wait",
                "--json",
                "--quiet",
                "--output",
                remote_out.to_str().unwrap(),
            ],
            LIMIT,
        )
        .await;
    let (remote_id, remote): (String, Report) = out.assert_success().id_and_json();

    assert_eq!(
        stable_report(&local, &local_site.base),
        stable_report(&remote, &remote_site.base)
    );
    let truth = local_site.truth(&[SEED]).await;
    assert_eq!(local.tag_counts, truth.tag_counts);
    for site in [&local_site, &remote_site] {
        let stats = site.stats().await;
        assert_eq!(
            stats.len(),
            truth.pages.len(),
            "every reachable page requested"
        );
        assert!(stats.values().all(|n| *n == 1), "each exactly once");
    }

    // --output: one valid line per page; `export` of the distributed crawl matches it.
    let local_lines = std::fs::read_to_string(&local_out).unwrap();
    let remote_lines = std::fs::read_to_string(&remote_out).unwrap();
    assert_eq!(local_lines.lines().count(), truth.pages.len());
    let out = env
        .producer(
            &[
                "export",
                &remote_id,
                "--format",
                "jsonl",
                "--output",
                exported.to_str().unwrap(),
            ],
            LIMIT,
        )
        .await;
    out.assert_success();
    assert_eq!(
        std::fs::read_to_string(&exported).unwrap(),
        remote_lines,
        "export equals --output"
    );
    assert_eq!(
        stable_lines(&local_lines, &local_site.base),
        stable_lines(&remote_lines, &remote_site.base)
    );

    let out = env
        .producer(&["export", &remote_id, "--format", "csv"], LIMIT)
        .await;
    let mut csv = csv::Reader::from_reader(out.assert_success().stdout.as_bytes());
    let rows = csv.records().collect::<Result<Vec<_>, _>>().unwrap().len();
    assert_eq!(rows, truth.pages.len());
}
