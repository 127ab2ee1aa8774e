//! Bad input and unreachable services: one line on stderr naming the problem
//! and what to do, a non-zero exit, no panic.

use std::time::Duration;

use crawlq_tests::{Output, TestEnv};

const LIMIT: Duration = Duration::from_secs(60);

fn assert_one_line_error(out: &Output, code: i32, needle: &str) {
    assert_eq!(out.code, Some(code), "exit code; stderr: {}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {}", out.stderr);
    assert!(lines[0].starts_with("producer: error: "), "{}", lines[0]);
    assert!(
        lines[0].contains(needle),
        "{:?} should mention {needle:?}",
        lines[0]
    );
    assert!(!out.stderr.contains("panicked"));
}

/// A local port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn seeds_must_be_http_urls() {
    let env = TestEnv::new("badseed");
    let out = env
        .producer(&["crawl", "stackoverflow.com/questions"], LIMIT)
        .await;
    assert_one_line_error(&out, 2, "is not a URL");
    let out = env.producer(&["crawl", "ftp://example.com/x"], LIMIT).await;
    assert_one_line_error(&out, 2, "is not an http(s) URL");
}

#[tokio::test]
async fn invalid_rules_are_refused_before_anything_is_queued() {
    let env = TestEnv::new("badrules");
    let out = env
        .producer(
            &["crawl", "http://127.0.0.1/", "--tag-selector", "a..b"],
            LIMIT,
        )
        .await;
    assert_one_line_error(&out, 2, "tag selector 'a..b' is not valid CSS");
    let out = env
        .producer(
            &["crawl", "http://127.0.0.1/", "--link-pattern", "("],
            LIMIT,
        )
        .await;
    assert_one_line_error(&out, 2, "link pattern is not a valid regex");
    let out = env
        .producer(
            &["crawl", "http://127.0.0.1/", "--allow-host", "x.com/path"],
            LIMIT,
        )
        .await;
    assert_one_line_error(
        &out,
        2,
        "--allow-host: 'x.com/path' is not a host or origin",
    );
    let out = env
        .producer(&["submit", "--urls", "/nonexistent/urls.txt"], LIMIT)
        .await;
    assert_one_line_error(&out, 2, "cannot read URL file '/nonexistent/urls.txt'");
}

#[tokio::test]
async fn unreachable_rabbitmq_and_redis_are_named() {
    let env = TestEnv::new("unreachable");
    let amqp = format!("amqp://guest:guest@127.0.0.1:{}/%2f", closed_port());
    let mut command = env.command("producer");
    command
        .args(["crawl", "http://127.0.0.1/"])
        .env("AMQP_URL", &amqp);
    let out = crawlq_tests::run(&mut command, LIMIT).await;
    assert_one_line_error(
        &out,
        1,
        "cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:",
    );
    let redis = format!("redis://127.0.0.1:{}/", closed_port());
    let mut command = env.command("producer");
    command
        .args(["crawl", "http://127.0.0.1/"])
        .env("REDIS_URL", &redis);
    let out = crawlq_tests::run(&mut command, LIMIT).await;
    assert_one_line_error(&out, 1, "cannot reach Redis at redis://127.0.0.1:");
}

#[tokio::test]
async fn unknown_and_malformed_ids() {
    let env = TestEnv::new("ids");
    let id = uuid::Uuid::new_v4().to_string();
    for command in ["status", "report", "delete"] {
        let out = env.producer(&[command, &id], LIMIT).await;
        assert_one_line_error(&out, 2, &format!("no crawl {id}"));
    }
    let out = env.producer(&["result", &id], LIMIT).await;
    assert_one_line_error(&out, 2, &format!("no task {id}"));
    let out = env.producer(&["status", "not-an-id"], LIMIT).await;
    assert_one_line_error(&out, 2, "'not-an-id' is not a crawl id");
}

#[tokio::test]
async fn services_refuse_bad_flags_in_one_line() {
    let env = TestEnv::new("svcflags");
    for (name, args, needle) in [
        ("worker", &["--concurrency", "0"][..], "--concurrency"),
        ("worker", &["--metrics-addr", "nope"][..], "--metrics-addr"),
        (
            "aggregator",
            &["--activity-every", "1ms"][..],
            "at least 100ms",
        ),
        ("aggregator", &["--bogus"][..], "'--bogus'"),
    ] {
        let out = crawlq_tests::run(env.command(name).args(args), LIMIT).await;
        assert_eq!(out.code, Some(2), "{name} {args:?}: {}", out.stderr);
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr: {}", out.stderr);
        assert!(
            lines[0].starts_with(&format!("{name}: error: ")) && lines[0].contains(needle),
            "{name} {args:?}: {}",
            lines[0]
        );
    }
}
