//! A CLI scripts can trust: one JSON document per `--json` command, exit
//! codes that say how a crawl ended, flags refused where they would be
//! ignored, lower-case states, `list` and `--ttl`, a dead-letter requeue that
//! moves each message once, a closed pipe that ends quietly.

use std::time::Duration;

use crawlq_core::report::Report;
use crawlq_tests::{Output, Site, TestEnv};

/// Every producer subcommand, as `--help` and the README's table list them.
const PRODUCER_COMMANDS: [&str; 11] = [
    "crawl",
    "submit",
    "status",
    "list",
    "report",
    "export",
    "result",
    "dlq",
    "resume",
    "delete",
    "dashboard",
];

const LIMIT: Duration = Duration::from_secs(120);
const SEED: &str = "/questions/tagged/python";

/// `jq -e .` accepts stdout: exactly one JSON document (jq would print two
/// for two documents; `serde_json` refuses trailing data).
fn assert_one_json_document(what: &str, out: &Output) -> serde_json::Value {
    let value: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: one JSON document on stdout: {e}\n{}", out.stdout));
    let mut jq = std::process::Command::new("jq")
        .args(["-e", "."])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn();
    if let Ok(jq) = jq.as_mut() {
        use std::io::Write as _;
        jq.stdin
            .take()
            .unwrap()
            .write_all(out.stdout.as_bytes())
            .unwrap();
        assert!(jq.wait().unwrap().success(), "{what}: jq -e . refused it");
    } else {
        eprintln!("jq is not installed: checked with serde_json only");
    }
    value
}

fn assert_code(what: &str, out: &Output, code: i32) {
    assert_eq!(
        out.code,
        Some(code),
        "{what}: exit code\nstdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{what}: {}", out.stderr);
}

#[tokio::test]
async fn every_command_prints_one_json_document_with_json() {
    let site = Site::start(&["--pages", "30", "--seed", "5"]).await;
    let seed = format!("{}{SEED}", site.base);
    let mut env = TestEnv::new("onejson");
    let local = env
        .producer(&["crawl", "--local", &seed, "--json", "-q"], LIMIT)
        .await;
    assert_code("crawl --local", &local, 0);
    let report = assert_one_json_document("crawl --local --json", &local);
    assert_eq!(report["state"], "finished");
    assert!(
        report["crawl_id"].is_string(),
        "the report carries its crawl id"
    );

    env.start_stack(1, 1);
    let started = env.producer(&["crawl", &seed, "--json"], LIMIT).await;
    assert_code("crawl --json", &started, 0);
    let started = assert_one_json_document("crawl --json", &started);
    let crawl_id = started["crawl_id"].as_str().unwrap().to_owned();
    let report = env.wait_report(&crawl_id).await;
    let task_id = report.pages[0].task_id.to_string();
    for args in [
        vec!["status", &crawl_id],
        vec!["report", &crawl_id],
        vec!["result", &task_id],
        vec!["list"],
        vec!["dlq"],
        vec!["dlq", &crawl_id],
    ] {
        let mut args = args.clone();
        args.push("--json");
        let out = env.producer(&args, LIMIT).await;
        assert_code(args[0], &out, 0);
        let value = assert_one_json_document(args[0], &out);
        match args[0] {
            "status" | "report" => assert_eq!(value["state"], "finished"),
            "result" => assert_eq!(value["state"], "done"),
            "list" => assert_eq!(value["crawls"][0]["crawl_id"], crawl_id.as_str()),
            _ => assert_eq!(value["dead_letters"], serde_json::json!([])),
        }
    }
    let waited = env
        .producer(&["crawl", &seed, "--wait", "--json", "-q"], LIMIT)
        .await;
    assert_code("crawl --wait --json", &waited, 0);
    let (id, waited): (String, Report) = waited.id_and_json();
    assert_eq!(id, waited.status.crawl_id.to_string());
    assert_eq!(waited.tag_counts, report.tag_counts);
}

#[tokio::test]
async fn exit_codes_say_how_a_crawl_ended() {
    let site = Site::start(&["--pages", "10", "--seed", "6"]).await;
    let env = TestEnv::new("exits");
    let good = format!("{}{SEED}", site.base);
    let out = env
        .producer(&["crawl", "--local", &good, "-q"], LIMIT)
        .await;
    assert_code("a crawl with pages done", &out, 0);

    // Every page failed (a 404): finished, but no page succeeded.
    let missing = format!("{}/no/such/page", site.base);
    let out = env
        .producer(&["crawl", "--local", &missing, "--json", "-q"], LIMIT)
        .await;
    assert_code("a crawl whose every page failed", &out, 3);
    let report = assert_one_json_document("all failed", &out);
    assert_eq!(
        (report["done"].as_u64(), report["failed"].as_u64()),
        (Some(0), Some(1))
    );
    let out = env
        .producer(&["crawl", "--local", &missing, "-q"], LIMIT)
        .await;
    assert_code("the same, as text", &out, 3);
    assert!(out.stdout.contains("\nno tags: "), "{}", out.stdout);
    assert!(out.stderr.contains("no page succeeded"), "{}", out.stderr);

    // No worker runs: --wait-timeout passes, the crawl goes on, and the message says how to follow it.
    let out = env
        .producer(
            &["crawl", &good, "--wait", "--wait-timeout", "1s", "--json"],
            LIMIT,
        )
        .await;
    assert_code("--wait-timeout", &out, 124);
    let report = assert_one_json_document("timed out", &out);
    assert_eq!(report["state"], "running");
    let id = report["crawl_id"].as_str().unwrap();
    assert!(
        out.stderr.contains("goes on") && out.stderr.contains(&format!("producer status {id}")),
        "{}",
        out.stderr
    );

    // Ctrl-C while waiting for a distributed crawl: 130, and the crawl goes on.
    let mut producer = env.command("producer");
    producer.args(["crawl", &good, "--wait"]);
    let out =
        crawlq_tests::interrupt_after(&mut producer, Duration::from_millis(1500), LIMIT).await;
    assert_code("Ctrl-C while waiting", &out, 130);
    assert!(out.stderr.contains("the crawl goes on"), "{}", out.stderr);

    let out = env.producer(&["crawl", &good, "--bogus"], LIMIT).await;
    assert_code("an unknown flag", &out, 2);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[tokio::test]
async fn flags_that_need_wait_or_local_are_refused_without_them() {
    let env = TestEnv::new("needwait");
    let seed = "http://127.0.0.1:9/";
    for (args, needle) in [
        (
            vec![
                "crawl",
                seed,
                "--max-pages",
                "20",
                "--output",
                "x.jsonl",
                "--top",
                "3",
            ],
            "--wait|--local",
        ),
        (vec!["crawl", seed, "--wait-timeout", "5"], "--wait|--local"),
        (vec!["crawl", seed, "--quiet"], "--wait|--local"),
        (
            vec!["crawl", seed, "--concurrency", "3"],
            "--concurrency only applies with --local",
        ),
        (
            vec!["crawl", seed, "--local", "--timeout-secs", "0"],
            "--timeout-secs",
        ),
        (
            vec!["crawl", seed, "--local", "--max-body-bytes", "0"],
            "--max-body-bytes",
        ),
        (
            vec!["crawl", seed, "--wait", "--wait-timeout", "0"],
            "positive duration",
        ),
        (vec!["crawl", seed, "--ttl", "forever"], "--ttl"),
    ] {
        let out = env.producer(&args, LIMIT).await;
        assert_code(&args.join(" "), &out, 2);
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line: {}", out.stderr);
        assert!(lines[0].contains(needle), "{args:?}: {}", lines[0]);
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
    // Ids: a long one is not echoed whole; a task id's message says where task ids are.
    let long = "a".repeat(100_000);
    let out = env.producer(&["result", &long], LIMIT).await;
    assert_code("a 100 KB id", &out, 2);
    assert!(
        out.stderr.len() < 400,
        "{} bytes of error",
        out.stderr.len()
    );
    assert!(
        out.stderr.contains("is not a task id") && out.stderr.contains("task_id"),
        "{}",
        out.stderr
    );
    // Nothing was created.
    let out = env.producer(&["list", "--json"], LIMIT).await;
    assert_eq!(
        assert_one_json_document("list", &out)["crawls"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn connection_flags_are_global_and_listed_in_every_help() {
    let env = TestEnv::new("global");
    // The env's prefix is given after the subcommand (the harness sets it by
    // environment variable too; a wrong flag value must win over it).
    let out = env
        .producer(&["list", "--json", "--key-prefix", "someone-else"], LIMIT)
        .await;
    assert_code("list --key-prefix after the subcommand", &out, 0);
    let id = uuid::Uuid::new_v4().to_string();
    let out = env
        .producer(&["status", &id, "--key-prefix", "ux"], LIMIT)
        .await;
    assert_code("status --key-prefix after the subcommand", &out, 2);
    assert!(
        out.stderr.contains("under key prefix 'ux'"),
        "{}",
        out.stderr
    );
    for command in PRODUCER_COMMANDS {
        let out = env.producer(&[command, "--help"], LIMIT).await;
        assert_code(command, &out, 0);
        for flag in [
            "--amqp-url",
            "--redis-url",
            "--key-prefix",
            "--queue-prefix",
            "--json",
            "Example",
        ] {
            assert!(out.stdout.contains(flag), "{command} --help lists {flag}");
        }
    }
}

#[tokio::test]
async fn states_are_lower_case_words_in_text() {
    let site = Site::start(&["--pages", "10", "--seed", "7"]).await;
    let mut env = TestEnv::new("words");
    env.start_stack(1, 1);
    let crawl_id = env
        .start_crawl(&["crawl", &format!("{}{SEED}", site.base)])
        .await;
    let report = env.wait_report(&crawl_id).await;
    let done = report.pages.iter().find(|p| p.title.is_some()).unwrap();
    let status = env.producer(&["status", &crawl_id], LIMIT).await;
    assert!(status.stdout.starts_with("finished: "), "{}", status.stdout);
    let text = env.producer(&["report", &crawl_id], LIMIT).await;
    assert!(
        text.stdout
            .starts_with(&format!("crawl {crawl_id}: finished\n")),
        "{}",
        text.stdout
    );
    let task = done.task_id.to_string();
    let result = env.producer(&["result", &task], LIMIT).await;
    assert!(
        result.stdout.contains("\nstate  done\n"),
        "{}",
        result.stdout
    );
    // The services' logs too: `queue=tasks`, not a Rust debug name.
    let logs: String = std::fs::read_dir(&env.log_dir)
        .unwrap()
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
        .collect();
    assert!(
        logs.contains("queue=tasks") && logs.contains("queue=completions"),
        "{logs}"
    );
    for debug_name in ["queue=Tasks", "Some(", "Ack", "Done"] {
        assert!(!logs.contains(debug_name), "{debug_name} in the logs");
    }
    for out in [&status, &text, &result] {
        for debug_name in ["Finished", "Running", "Done", "Some("] {
            assert!(
                !out.stdout.contains(debug_name),
                "{debug_name} in {}",
                out.stdout
            );
        }
    }
}

#[tokio::test]
async fn dlq_requeue_moves_each_message_once() {
    let mut env = TestEnv::new("requeue");
    env.start_stack(1, 0);
    let site = Site::start(&["--pages", "5", "--seed", "8"]).await;
    // The worker declares the queues once it is up; a crawl shows it is.
    let crawl_id = env
        .start_crawl(&[
            "submit",
            "--urls",
            &env.url_list([format!("{}{SEED}", site.base)]),
        ])
        .await;
    assert!(!crawl_id.is_empty());
    env.publish_raw("tasks", &[b"not json at all", b"\x00\x01binary"])
        .await;
    wait_for_dead_letters(&env, 2).await;
    let out = env.producer(&["dlq", "--requeue", "--json"], LIMIT).await;
    assert_code("dlq --requeue", &out, 0);
    let value = assert_one_json_document("dlq --requeue", &out);
    assert_eq!(value["requeued"], 2, "each listed message moved once");
    assert_eq!(value["dead_letters"].as_array().map(Vec::len), Some(2));
    // The worker refuses them again: back on the dead-letter queue, two of them.
    wait_for_dead_letters(&env, 2).await;
    let out = env.producer(&["dlq"], LIMIT).await;
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
    assert!(out.stderr.contains("2 dead letter(s)"), "{}", out.stderr);
}

#[tokio::test]
async fn list_shows_crawls_and_ttl_expires_finished_ones() {
    let site = Site::start(&["--pages", "10", "--seed", "9"]).await;
    let mut env = TestEnv::new("ttl");
    env.start_stack(1, 1);
    let seed = format!("{}{SEED}", site.base);
    let kept = env
        .producer(
            &["crawl", &seed, "--wait", "--json", "-q", "--ttl", "0"],
            LIMIT,
        )
        .await;
    let (kept, _): (String, Report) = kept.id_and_json();
    let brief = env
        .producer(
            &["crawl", &seed, "--wait", "--json", "-q", "--ttl", "2s"],
            LIMIT,
        )
        .await;
    let (brief, report): (String, Report) = brief.id_and_json();
    assert_eq!(report.status.ttl_s, Some(2));
    let out = env.producer(&["list"], LIMIT).await;
    assert_code("list", &out, 0);
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
    assert!(
        out.stdout.lines().all(|l| l.contains(" finished ")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(&seed), "{}", out.stdout);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let out = env.producer(&["status", &brief], LIMIT).await;
    assert_code("status of an expired crawl", &out, 2);
    let client = redis::Client::open(env.redis_url.as_str()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:crawl:{brief}*", env.prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(
        left,
        Vec::<String>::new(),
        "every key of the expired crawl is gone"
    );
    let out = env.producer(&["list", "--json"], LIMIT).await;
    let crawls = assert_one_json_document("list", &out)["crawls"].clone();
    assert_eq!(crawls.as_array().map(Vec::len), Some(1), "{crawls}");
    assert_eq!(crawls[0]["crawl_id"], kept.as_str());
}

#[tokio::test]
async fn export_to_a_csv_file_writes_csv_and_a_closed_pipe_ends_quietly() {
    let site = Site::start(&["--pages", "10", "--seed", "10"]).await;
    let env = TestEnv::new("csvpipe");
    let out = env
        .producer(
            &["crawl", "--local", &format!("{}{SEED}", site.base), "-q"],
            LIMIT,
        )
        .await;
    assert_code("crawl --local", &out, 0);
    // Local crawls end with the process; export a distributed one.
    let mut env = env;
    env.start_stack(1, 1);
    let crawl_id = env
        .start_crawl(&["crawl", &format!("{}{SEED}", site.base)])
        .await;
    env.wait_report(&crawl_id).await;
    let path = std::env::temp_dir().join(format!("{}.csv", env.prefix));
    let path_text = path.to_string_lossy().into_owned();
    let out = env
        .producer(&["export", &crawl_id, "--output", &path_text], LIMIT)
        .await;
    assert_code("export --output x.csv", &out, 0);
    let csv = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        csv.starts_with("url,task_id,state,"),
        "{}",
        &csv[..csv.len().min(200)]
    );

    // The reader is gone before the producer writes: no panic, exit 0.
    let producer = crawlq_tests::bin("producer");
    for command in ["report", "export", "status"] {
        let mut shell = tokio::process::Command::new("bash");
        shell
            .env("REDIS_URL", &env.redis_url)
            .env("CRAWLQ_KEY_PREFIX", &env.prefix)
            .env_remove("RUST_LOG");
        shell.args([
            "-c",
            &format!(
                "{} {command} {crawl_id} | true; echo \"producer exit ${{PIPESTATUS[0]}}\"",
                producer.display()
            ),
        ]);
        let out = crawlq_tests::run(&mut shell, LIMIT).await;
        assert_eq!(
            out.stdout.trim(),
            "producer exit 0",
            "{command}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("panicked"),
            "{command}: {}",
            out.stderr
        );
    }
}

#[tokio::test]
async fn ctrl_c_on_a_local_crawl_gives_one_consistent_snapshot() {
    let site = Site::start(&["--pages", "300", "--seed", "11", "--latency-ms", "40"]).await;
    let env = TestEnv::new("ctrlc");
    let output = std::env::temp_dir().join(format!("{}.jsonl", env.prefix));
    let output_text = output.to_string_lossy().into_owned();
    let mut producer = env.command("producer");
    producer
        .args(["crawl", "--local", &format!("{}{SEED}", site.base)])
        .args([
            "--json",
            "--quiet",
            "--output",
            &output_text,
            "--concurrency",
            "4",
        ]);
    let out =
        crawlq_tests::interrupt_after(&mut producer, Duration::from_millis(2500), LIMIT).await;
    assert_code("Ctrl-C", &out, 130);
    let (_, report): (String, Report) = out.id_and_json();
    assert_eq!(report.status.state.to_string(), "interrupted");
    let lines = std::fs::read_to_string(&output).unwrap();
    let _ = std::fs::remove_file(&output);
    let rows: Vec<serde_json::Value> = lines
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(
        rows.iter()
            .all(|row| row["state"] == "done" || row["state"] == "failed"),
        "only finished pages in --output"
    );
    assert_eq!(
        rows.len() as u64,
        report.status.done + report.status.failed,
        "the file and the report are one snapshot"
    );
    assert!(
        report.status.discovered > rows.len() as u64,
        "it was interrupted mid-crawl"
    );
    assert!(out.stderr.contains("interrupted"), "{}", out.stderr);
}

#[tokio::test]
async fn logs_have_no_colours_off_a_terminal_and_can_be_json() {
    let env = TestEnv::new("logs");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for format in ["text", "json"] {
        let mut worker = env.command("worker");
        worker
            .env(
                "AMQP_URL",
                format!("amqp://guest:guest@127.0.0.1:{closed}/%2f"),
            )
            .args(["--log-format", format])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = worker.spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let _ = child.start_kill();
        let out = child.wait_with_output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !stderr.is_empty(),
            "{format}: the worker logged its retries"
        );
        assert!(
            !stderr.contains('\u{1b}'),
            "{format}: no ANSI escapes: {stderr}"
        );
        if format == "json" {
            for line in stderr.lines() {
                let value: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("a JSON log line: {e}: {line}"));
                assert!(value["level"].is_string(), "{line}");
            }
        }
    }
    // A wrong RabbitMQ password: one line, saying to check the credentials.
    let mut producer = env.command("producer");
    let amqp = env.amqp_url.replace("guest:guest", "guest:wrong");
    // RUST_LOG unset, as a user's shell has it (the harness sets info).
    producer
        .env("AMQP_URL", amqp)
        .env_remove("RUST_LOG")
        .args(["dlq"]);
    let out = crawlq_tests::run(&mut producer, LIMIT).await;
    assert_code("a wrong password", &out, 1);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("check the user and password"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains('\u{1b}'), "{}", out.stderr);
}

/// Waits until `dlq --json` lists `count` messages (never more).
async fn wait_for_dead_letters(env: &TestEnv, count: usize) {
    for _ in 0..200 {
        let out = env.producer(&["dlq", "--json"], LIMIT).await;
        let listed = assert_one_json_document("dlq", &out)["dead_letters"]
            .as_array()
            .map_or(0, Vec::len);
        if listed == count {
            return;
        }
        assert!(listed < count, "{}", out.stdout);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{count} poison messages never reached the dead-letter queue");
}

/// The long flags in `text` (`--max-pages`, ...), but the global ones every
/// command takes (documented once, under Configuration).
fn long_flags(text: &str) -> std::collections::BTreeSet<String> {
    const GLOBAL: [&str; 8] = [
        "--amqp-url",
        "--redis-url",
        "--queue-prefix",
        "--key-prefix",
        "--log-format",
        "--json",
        "--help",
        "--version",
    ];
    let mut flags = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("--") {
        rest = &rest[at + 2..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        let flag = format!("--{name}");
        if name.len() > 1 && !GLOBAL.contains(&flag.as_str()) {
            flags.insert(flag);
        }
    }
    flags
}

#[tokio::test]
async fn the_readme_command_table_lists_every_flag_clap_knows() {
    let env = TestEnv::new("readme");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let table = &readme[readme.find("| command | its flags |").unwrap()..];
    for command in PRODUCER_COMMANDS {
        let row = table
            .lines()
            .find(|line| line.starts_with(&format!("| `producer {command}")))
            .unwrap_or_else(|| panic!("README has no row for producer {command}"));
        // The row's second cell lists the flags.
        let cell = row.split(" | ").nth(1).unwrap_or_default();
        let help = env.producer(&[command, "--help"], LIMIT).await;
        assert_code(command, &help, 0);
        // Flags of the help's option lines, not of its examples.
        let options: String = help
            .stdout
            .lines()
            .filter(|line| {
                let line = line.trim_start();
                line.starts_with("--") || line.starts_with("-q, --")
            })
            .map(|line| {
                line.split_whitespace()
                    .find(|w| w.starts_with("--"))
                    .unwrap_or("")
            })
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            long_flags(cell),
            long_flags(&options),
            "producer {command}: the README's flags (left) and --help's (right)"
        );
    }
}

#[tokio::test]
async fn a_retrying_page_shows_its_next_try_and_ends_with_its_attempt_count() {
    let site = Site::start(&["--pages", "30", "--seed", "12", "--broken-every", "3"]).await;
    let truth = site.truth(&[SEED]).await;
    let broken = truth
        .pages
        .iter()
        .find(|(_, page)| page.status == 503)
        .map(|(url, _)| url.clone())
        .unwrap();
    let mut env = TestEnv::new("retrying");
    env.spawn("aggregator", &[]);
    env.spawn("worker", &["--max-retries", "1", "--retry-base-ms", "3000"]);
    let list = env.url_list([broken]);
    let crawl_id = env.start_crawl(&["submit", "--urls", &list]).await;
    // Its first try fails (503): it waits about 3 s for the second.
    let mut seen = None;
    for _ in 0..100 {
        let out = env.producer(&["status", &crawl_id, "--json"], LIMIT).await;
        let status = assert_one_json_document("status", &out);
        if status["retrying"] == 1 {
            assert_eq!(status["in_flight"], 0, "a retrying task is not in flight");
            let text = env.producer(&["status", &crawl_id], LIMIT).await;
            assert!(text.stdout.contains("1 retrying"), "{}", text.stdout);
            let report = env.producer(&["report", &crawl_id, "--json"], LIMIT).await;
            let report = assert_one_json_document("report", &report);
            let task_id = report["pages"][0]["task_id"].as_str().unwrap().to_owned();
            assert_eq!(report["pages"][0]["state"], "retrying");
            let result = env.producer(&["result", &task_id, "--json"], LIMIT).await;
            seen = Some((task_id, assert_one_json_document("result", &result)));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (task_id, view) = seen.expect("the task was seen retrying");
    assert_eq!(view["state"], "retrying");
    assert_eq!(view["retry"]["attempt"], 2, "{view}");
    let next = view["retry"]["next_try_ms"].as_u64().unwrap();
    assert!(
        next > crawlq_core::report::now_ms(),
        "its next try is ahead: {view}"
    );
    let text = env.producer(&["result", &task_id], LIMIT).await;
    assert!(
        text.stdout
            .contains("state  retrying\nretry  attempt 2 in "),
        "{}",
        text.stdout
    );

    let report = env.wait_report(&crawl_id).await;
    assert_eq!((report.status.failed, report.status.retrying), (1, 0));
    let result = env.producer(&["result", &task_id, "--json"], LIMIT).await;
    let view = assert_one_json_document("result", &result);
    assert_eq!(view["state"], "failed");
    assert_eq!(view["result"]["attempts"], 2, "{view}");
    assert!(view.get("retry").is_none(), "{view}");
    let export = env.producer(&["export", &crawl_id], LIMIT).await;
    let line = assert_one_json_document("export", &export);
    assert_eq!(line["attempts"], 2);
}
