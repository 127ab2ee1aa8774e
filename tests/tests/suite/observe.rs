//! Watching a deployment run: each service's `/metrics` counts what the
//! report counts, `/readyz` follows Redis, a busy service logs its progress
//! and an idle one does not, and the dashboard, opened in a real headless
//! Chromium during a crawl, shows the crawl's numbers growing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crawlq_core::report::{CrawlState, Report};
use crawlq_tests::services::{OwnRedis, free_port};
use crawlq_tests::{Site, TestEnv, amqp_url};
use serde_json::Value;

const SEED: &str = "/questions/tagged/python";
const CRAWL_LIMIT: Duration = Duration::from_secs(600);

/// The sum of a metric's samples whose labels include all of `labels`.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut sum = 0.0;
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (series_name, series_labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if series_name != name {
            continue;
        }
        let have: BTreeMap<&str, &str> = series_labels
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect();
        if labels.iter().all(|(k, v)| have.get(k) == Some(v)) {
            sum += value.parse::<f64>().unwrap();
        }
    }
    sum
}

async fn get(url: &str) -> (u16, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    match client.get(url).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(error) => (0, error.to_string()),
    }
}

/// Polls `url` until it answers `want`; returns the last body.
async fn wait_status(url: &str, want: u16, limit: Duration) -> String {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let (status, body) = get(url).await;
        if status == want {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} never answered {want} in {limit:?}; last: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn log_lines(env: &TestEnv, file: &str, needle: &str) -> usize {
    std::fs::read_to_string(env.log_dir.join(file))
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains(needle))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_what_the_report_counts_and_busy_services_log_progress() {
    let site = Site::start(&[
        "--pages",
        "300",
        "--seed",
        "61",
        "--min-kb",
        "2",
        "--max-kb",
        "6",
        "--broken-every",
        "7",
        "--latency-ms",
        "20",
    ])
    .await;
    let mut env = TestEnv::new("metrics");
    let ports = [free_port(), free_port(), free_port()];
    let addr = |i: usize| format!("127.0.0.1:{}", ports[i]);
    for i in 0..2 {
        let metrics = addr(i);
        let args = [
            "--concurrency",
            "16",
            "--metrics-addr",
            &metrics,
            "--activity-every",
            "1s",
        ];
        env.spawn("worker", &args);
    }
    env.spawn(
        "aggregator",
        &["--metrics-addr", &addr(2), "--activity-every", "1s"],
    );
    for i in 0..3 {
        assert_eq!(
            wait_status(
                &format!("http://{}/healthz", addr(i)),
                200,
                Duration::from_secs(30)
            )
            .await,
            "ok\n"
        );
        wait_status(
            &format!("http://{}/readyz", addr(i)),
            200,
            Duration::from_secs(30),
        )
        .await;
    }

    let seed = format!("{}{SEED}", site.base);
    let out = env
        .producer(
            &["crawl", &seed, "--wait", "--json", "--quiet"],
            CRAWL_LIMIT,
        )
        .await;
    let (_, report): (String, Report) = out.assert_success().id_and_json();
    assert!(
        report.status.done > 200 && report.status.failed > 10,
        "{:?}",
        report.status
    );

    let mut pages = BTreeMap::new();
    let mut texts = Vec::new();
    for i in 0..2 {
        let (status, text) = get(&format!("http://{}/metrics", addr(i))).await;
        assert_eq!(status, 200);
        for outcome in ["done", "failed"] {
            *pages.entry(outcome).or_insert(0.0) +=
                metric(&text, "crawlq_pages_total", &[("outcome", outcome)]);
        }
        assert_eq!(metric(&text, "crawlq_fetches_in_flight", &[]), 0.0);
        texts.push(text);
    }
    // A worker that happened to fetch nothing has no samples to show.
    for (name, kind) in [
        ("crawlq_fetch_duration_seconds", "histogram"),
        ("crawlq_fetch_body_bytes", "histogram"),
        ("crawlq_fetches_in_flight", "gauge"),
        ("crawlq_retries_total", "counter"),
    ] {
        let line = format!("# TYPE {name} {kind}");
        assert!(
            texts.iter().any(|text| text.contains(&line)),
            "{line} in\n{}",
            texts.join("\n")
        );
    }
    let fetches: f64 = texts
        .iter()
        .map(|text| metric(text, "crawlq_fetch_duration_seconds_count", &[]))
        .sum();
    assert!(
        fetches >= (report.status.done + report.status.failed) as f64,
        "every page was fetched at least once: {fetches}"
    );
    assert_eq!(pages["done"], report.status.done as f64, "pages done");
    assert_eq!(pages["failed"], report.status.failed as f64, "pages failed");
    let broken = report
        .pages
        .iter()
        .filter(|page| matches!(page.status, Some(500..=599)))
        .count();
    assert!(broken > 10, "the site's broken pages answer 503");
    let five = |t: &String| metric(t, "crawlq_pages_total", &[("status_class", "5xx")]);
    assert_eq!(
        texts.iter().map(five).sum::<f64>(),
        broken as f64,
        "5xx pages"
    );

    let (_, text) = get(&format!("http://{}/metrics", addr(2))).await;
    let applied = |outcome| {
        metric(
            &text,
            "crawlq_completions_applied_total",
            &[("outcome", outcome), ("first", "true")],
        )
    };
    assert_eq!(applied("done"), report.status.done as f64);
    assert_eq!(applied("failed"), report.status.failed as f64);
    assert!(text.contains("# TYPE crawlq_apply_duration_seconds histogram"));

    // Busy: at least one progress line each; idle: no more of them.
    let busy = |env: &TestEnv| {
        (0..3)
            .map(|i| {
                let file = if i < 2 {
                    format!("worker-{i}.log")
                } else {
                    "aggregator-2.log".into()
                };
                log_lines(env, &file, "busy")
            })
            .collect::<Vec<_>>()
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = busy(&env);
    // Both workers almost always share the crawl, but one may fetch nothing.
    assert!(
        before[0] + before[1] >= 1 && before[2] >= 1,
        "progress lines of the workers and the aggregator: {before:?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(busy(&env), before, "an idle service logs nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_turns_unready_while_redis_is_down_and_ready_when_it_is_back() {
    let mut redis = OwnRedis::start().await;
    let mut env = TestEnv::on("readyz", amqp_url(), redis.url());
    let port = free_port();
    let metrics = format!("127.0.0.1:{port}");
    env.spawn("worker", &["--metrics-addr", &metrics]);
    let readyz = format!("http://{metrics}/readyz");
    assert_eq!(
        wait_status(&readyz, 200, Duration::from_secs(30)).await,
        "ready\n"
    );

    redis.stop().await;
    let body = wait_status(&readyz, 503, Duration::from_secs(30)).await;
    assert!(body.starts_with("not ready: "), "{body}");
    assert_eq!(
        get(&format!("http://{metrics}/healthz")).await.0,
        200,
        "the process still runs"
    );

    redis.start_again().await;
    wait_status(&readyz, 200, Duration::from_secs(60)).await;
}

/// Chromium, or the reason it cannot run (the test command installs it).
fn chromium() -> PathBuf {
    for path in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if std::path::Path::new(path).exists() {
            return path.into();
        }
    }
    panic!(
        "no chromium: install Debian's chromium (scripts/test does: apt-get install -y chromium)"
    );
}

/// Loads `url` in headless Chromium, lets its scripts run for a few seconds of
/// virtual time, and returns the DOM, or with `screenshot` saves a PNG.
async fn chromium_at(url: &str, screenshot: Option<&std::path::Path>) -> String {
    let profile = tempdir("crawlq-chromium");
    let mut command = tokio::process::Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--window-size=1280,900",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .kill_on_drop(true);
    match screenshot {
        Some(path) => command.arg(format!("--screenshot={}", path.display())),
        None => command.arg("--dump-dom"),
    };
    let out = tokio::time::timeout(Duration::from_secs(60), command.arg(url).output())
        .await
        .unwrap_or_else(|_| panic!("chromium took over 60 s"))
        .unwrap_or_else(|e| panic!("start chromium: {e}"));
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "{name}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The text of the element with `id` in a dumped DOM.
fn text_of(dom: &str, id: &str) -> String {
    let open = format!("id=\"{id}\"");
    let at = dom
        .find(&open)
        .unwrap_or_else(|| panic!("no #{id} in the page:\n{dom}"));
    let rest = &dom[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest[start..].find('<').unwrap() + start;
    rest[start..end].to_owned()
}

fn number_of(dom: &str, id: &str) -> u64 {
    let text = text_of(dom, id);
    text.parse()
        .unwrap_or_else(|_| panic!("#{id} is '{text}', not a number"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_in_a_browser_shows_a_crawl_growing() {
    let site = Site::start(&[
        "--pages",
        "600",
        "--seed",
        "62",
        "--min-kb",
        "2",
        "--max-kb",
        "6",
        "--latency-ms",
        "100",
    ])
    .await;
    let mut env = TestEnv::new("dashboard");
    env.spawn("worker", &["--concurrency", "4"]);
    env.spawn("aggregator", &[]);
    let addr = format!("127.0.0.1:{}", free_port());
    env.spawn("producer", &["dashboard", "--addr", &addr, "--json"]);
    let base = format!("http://{addr}");
    wait_status(&format!("{base}/api/crawls"), 200, Duration::from_secs(30)).await;
    assert_eq!(
        log_lines(&env, "producer-2.log", &format!("{{\"url\":\"{base}/\"}}")),
        1,
        "with --json, one document says where it listens"
    );

    let seed = format!("{}{SEED}", site.base);
    let crawl_id = env.start_crawl(&["crawl", &seed]).await;
    let api = format!("{base}/api/crawls/{crawl_id}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let detail: Value =
            serde_json::from_str(&wait_status(&api, 200, CRAWL_LIMIT).await).unwrap();
        if detail["status"]["done"].as_u64().unwrap() >= 5 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no page done in 60 s: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The page, twice, a few seconds apart: the same crawl, its numbers growing.
    let page = format!("{base}/?crawl={crawl_id}");
    let first = chromium_at(&page, None).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = chromium_at(&page, None).await;
    for dom in [&first, &second] {
        assert_eq!(
            text_of(dom, "crawl-id"),
            crawl_id,
            "the page shows the crawl"
        );
        assert_eq!(text_of(dom, "error"), "", "the page shows no error");
        assert!(dom.contains(&crawl_id[..8]), "the crawl is listed");
        assert!(dom.contains("data-updates=\""), "the page updated itself");
        assert!(
            !dom.contains("data-updates=\"0\""),
            "the page updated itself"
        );
    }
    let (done1, done2) = (number_of(&first, "done"), number_of(&second, "done"));
    assert!(
        done1 >= 5 && done2 > done1,
        "done grew: {done1} then {done2}"
    );
    assert!(second.contains("class=\"bar\""), "top tags are drawn");
    assert!(
        second.contains(">worker<"),
        "the worker is listed from its heartbeat"
    );

    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/dashboard.png");
    let _ = std::fs::remove_file(&shot);
    chromium_at(&page, Some(&shot)).await;
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a screenshot"
    );

    // When the crawl is over, the API says what the report says.
    let report = env.wait_report(&crawl_id).await;
    let detail: Value = serde_json::from_str(&wait_status(&api, 200, CRAWL_LIMIT).await).unwrap();
    assert_eq!(report.status.state, CrawlState::Finished);
    assert_eq!(detail["status"]["done"].as_u64(), Some(report.status.done));
    assert_eq!(detail["failures"], serde_json::json!(report.failures));
    let recent = detail["recent_failures"].as_array().unwrap();
    assert_eq!(recent.len() as u64, report.status.failed.min(10));
    assert!(report.status.failed > 0, "the site has pages that fail");
    let mut tally: Vec<(&String, &u64)> = report.tag_counts.iter().collect();
    tally.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let top = &detail["top_tags"][0];
    assert_eq!(top["tag"].as_str(), Some(tally[0].0.as_str()));
    assert_eq!(top["count"].as_u64(), Some(*tally[0].1));
    let (status, body) = get(&format!("{base}/api/crawls/not-an-id")).await;
    assert_eq!(status, 400, "{body}");
}
