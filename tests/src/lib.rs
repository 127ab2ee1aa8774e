//! The test harness: starts crawlq's real binaries and the fixture site as
//! processes, gives each test its own queue names and key prefix, waits with
//! generous bounds, and removes what a test left in RabbitMQ and Redis when
//! its [`TestEnv`] is dropped (even when the test fails).
//!
//! - [`services`]: a test's own RabbitMQ node and Redis server, for tests that restart them.
//! - [`chaos`]: the chaos driver (kills and restarts while a crawl runs), shared by the
//!   chaos test and the chaos benchmark.

pub mod chaos;
pub mod services;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

/// The RabbitMQ the tests use: `AMQP_URL`, or the local default.
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// The Redis the tests use: `REDIS_URL`, or the local default.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

/// Path of one of the workspace's binaries, built by `cargo build --workspace --bins`
/// into the same target directory as this test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // A test runs as target/<profile>/deps/suite-HASH, a harness binary as
    // target/<profile>/NAME: the binaries are in target/<profile>.
    let here = exe.parent().unwrap_or(Path::new("."));
    let dir = if here.ends_with("deps") {
        here.parent().unwrap_or(here)
    } else {
        here
    };
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`, which scripts/test does)",
        path.display()
    );
    path
}

/// Longest a test waits for one producer command, a crawl's included.
pub const CRAWL_LIMIT: Duration = Duration::from_secs(600);

/// One test's own namespace in RabbitMQ and Redis, and its processes.
/// Dropping it kills the processes and deletes the queues and keys.
pub struct TestEnv {
    /// Queue and key prefix, unique to this test.
    pub prefix: String,
    /// Where the processes' logs go.
    pub log_dir: PathBuf,
    /// The RabbitMQ the processes use.
    pub amqp_url: String,
    /// The Redis the processes use.
    pub redis_url: String,
    /// `WORKER_ALLOW_PRIVATE` for the processes: `all` by default, since the
    /// fixture site is on loopback, which the SSRF guard refuses; `None`
    /// leaves the guard closed.
    pub allow_private: Option<String>,
    children: Vec<(String, Vec<String>, Child)>,
    spawned: usize,
}

impl TestEnv {
    /// A fresh namespace named after the test, on the shared RabbitMQ and Redis.
    pub fn new(test: &str) -> Self {
        Self::on(test, amqp_url(), redis_url())
    }

    /// A fresh namespace on the given RabbitMQ and Redis.
    pub fn on(test: &str, amqp_url: String, redis_url: String) -> Self {
        let prefix = format!("t-{test}-{}", &Uuid::new_v4().simple().to_string()[..8]);
        let log_dir = std::env::temp_dir().join("crawlq-test-logs").join(&prefix);
        let _ = std::fs::create_dir_all(&log_dir);
        Self {
            prefix,
            log_dir,
            amqp_url,
            redis_url,
            allow_private: Some("all".into()),
            children: Vec::new(),
            spawned: 0,
        }
    }

    /// A command for one of crawlq's binaries, pointed at this test's namespace.
    pub fn command(&self, name: &str) -> Command {
        let mut command = Command::new(bin(name));
        command
            .env("AMQP_URL", &self.amqp_url)
            .env("REDIS_URL", &self.redis_url)
            .env("CRAWLQ_QUEUE_PREFIX", &self.prefix)
            .env("CRAWLQ_KEY_PREFIX", &self.prefix)
            .env("RUST_LOG", "info")
            .env_remove("WORKER_ALLOW_PRIVATE")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(allow) = &self.allow_private {
            command.env("WORKER_ALLOW_PRIVATE", allow);
        }
        command
    }

    /// Starts a long-running binary (worker, aggregator) with its log in
    /// `log_dir`; returns its index for [`TestEnv::kill`] and [`TestEnv::signal`].
    pub fn spawn(&mut self, name: &str, args: &[&str]) -> usize {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let child = self.start_child(name, &args);
        self.children.push((name.to_owned(), args, child));
        self.children.len() - 1
    }

    fn start_child(&mut self, name: &str, args: &[String]) -> Child {
        let log = self.log_dir.join(format!("{name}-{}.log", self.spawned));
        self.spawned += 1;
        let file =
            std::fs::File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let err = file.try_clone().unwrap_or_else(|e| panic!("log file: {e}"));
        self.command(name)
            .args(args)
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"))
    }

    /// The OS process id of process `index`, while it runs.
    pub fn pid(&self, index: usize) -> Option<u32> {
        self.children[index].2.id()
    }

    /// How many processes were started.
    pub fn processes(&self) -> usize {
        self.children.len()
    }

    /// SIGKILLs process `index` and waits for it to be gone.
    pub async fn kill(&mut self, index: usize) {
        let child = &mut self.children[index].2;
        let _ = child.start_kill();
        let _ = child.wait().await;
    }

    /// Starts process `index` again with the same arguments.
    pub fn restart(&mut self, index: usize) {
        let (name, args) = (
            self.children[index].0.clone(),
            self.children[index].1.clone(),
        );
        let child = self.start_child(&name, &args);
        self.children[index].2 = child;
    }

    /// Sends a signal (e.g. "TERM") to process `index`; returns its exit code
    /// if it exits within `limit`.
    pub async fn signal(&mut self, index: usize, signal: &str, limit: Duration) -> Option<i32> {
        let child = &mut self.children[index].2;
        let pid = child.id()?.to_string();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
        let status = tokio::time::timeout(limit, child.wait()).await.ok()?.ok()?;
        status.code()
    }

    /// Starts `workers` workers and `aggregators` aggregators.
    pub fn start_stack(&mut self, workers: usize, aggregators: usize) {
        for _ in 0..workers {
            self.spawn("worker", &["--concurrency", "16"]);
        }
        for _ in 0..aggregators {
            self.spawn("aggregator", &[]);
        }
    }

    /// Runs the producer to completion (at most `limit`).
    pub async fn producer(&self, args: &[&str], limit: Duration) -> Output {
        run(self.command("producer").args(args), limit).await
    }

    /// Publishes raw message bodies on this environment's queue `queue`
    /// (`tasks`, `completions`), confirmed, as a stranger could.
    pub async fn publish_raw(&self, queue: &str, bodies: &[&[u8]]) {
        let connection =
            lapin::Connection::connect(&self.amqp_url, lapin::ConnectionProperties::default())
                .await
                .unwrap_or_else(|e| panic!("connect to RabbitMQ: {e}"));
        let channel = connection
            .create_channel()
            .await
            .unwrap_or_else(|e| panic!("channel: {e}"));
        // Confirms, so that each message is on the queue before the
        // connection closes (without them a close can lose the last one).
        channel
            .confirm_select(lapin::options::ConfirmSelectOptions::default())
            .await
            .unwrap_or_else(|e| panic!("confirm mode: {e}"));
        let queue = format!("{}.{queue}", self.prefix);
        for body in bodies {
            let confirmation = channel
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    lapin::options::BasicPublishOptions::default(),
                    body,
                    lapin::BasicProperties::default(),
                )
                .await
                .unwrap_or_else(|e| panic!("publish: {e}"))
                .await
                .unwrap_or_else(|e| panic!("confirm: {e}"));
            assert!(confirmation.is_ack(), "RabbitMQ took the message");
        }
        let _ = connection.close(200, "bye".into()).await;
    }

    /// Writes `urls`, one a line, to a file in `log_dir` for `submit --urls`;
    /// returns its path.
    pub fn url_list<U: std::fmt::Display>(&self, urls: impl IntoIterator<Item = U>) -> String {
        let list = self.log_dir.join("urls.txt");
        let text: String = urls.into_iter().map(|url| format!("{url}\n")).collect();
        std::fs::write(&list, text).unwrap_or_else(|e| panic!("write {}: {e}", list.display()));
        list.to_string_lossy().into_owned()
    }

    /// Starts a crawl (`crawl ...` or `submit ...`) without waiting; returns its id.
    pub async fn start_crawl(&self, args: &[&str]) -> String {
        let out = self.producer(args, CRAWL_LIMIT).await;
        out.assert_success().stdout.trim().to_owned()
    }

    /// Waits for a crawl to finish (polling `status`) and returns its report.
    pub async fn wait_report(&self, crawl_id: &str) -> crawlq_core::report::Report {
        loop {
            let out = self
                .producer(&["status", crawl_id, "--json"], CRAWL_LIMIT)
                .await;
            let status: serde_json::Value = serde_json::from_str(&out.assert_success().stdout)
                .unwrap_or_else(|e| panic!("status --json: {e}"));
            if status["state"] == "finished" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let out = self
            .producer(&["report", crawl_id, "--json"], CRAWL_LIMIT)
            .await;
        serde_json::from_str(&out.assert_success().stdout)
            .unwrap_or_else(|e| panic!("report --json: {e}"))
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        for (_, _, child) in &mut self.children {
            let _ = child.start_kill();
        }
        // Gone before the keys are deleted, so that no late write (a
        // heartbeat, a result) outlives the cleanup.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        for (_, _, child) in &mut self.children {
            while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let (prefix, amqp, redis) = (
            self.prefix.clone(),
            self.amqp_url.clone(),
            self.redis_url.clone(),
        );
        // Drop cannot await: clean up on a thread with its own runtime.
        let cleaned = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(20), cleanup(&prefix, &amqp, &redis))
                    .await?
            })
        })
        .join();
        if let Ok(Err(error)) = cleaned {
            eprintln!("cleanup of {} failed: {error}", self.prefix);
        }
    }
}

/// Deletes every Redis key under `prefix:` and every queue named `prefix.*`.
pub async fn cleanup(prefix: &str, amqp_url: &str, redis_url: &str) -> anyhow::Result<()> {
    let client = redis::Client::open(redis_url)?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut connection)
        .await?;
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut connection)
            .await?;
    }
    let amqp = lapin::Connection::connect(amqp_url, lapin::ConnectionProperties::default()).await?;
    let channel = amqp.create_channel().await?;
    let names = crawlq_core::names::QueueNames::new(prefix);
    let mut queues = vec![names.tasks, names.completions, names.dead];
    queues.extend(names.delays.into_iter().map(|(_, name)| name));
    for name in queues {
        let _ = channel
            .queue_delete(
                name.as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await;
    }
    let _ = amqp.close(200, "bye".into()).await;
    Ok(())
}

/// What a finished process printed.
#[derive(Debug)]
pub struct Output {
    /// Exit code (None if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Panics with both streams unless the exit code is 0.
    pub fn assert_success(&self) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "exit code {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// The crawl id and the one JSON document `--json` printed (a report, or
    /// `{"crawl_id": ...}` for a crawl not waited for).
    pub fn id_and_json<T: DeserializeOwned>(&self) -> (String, T) {
        let value: serde_json::Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("one JSON document on stdout: {e}\n{}", self.stdout));
        let id = value["crawl_id"].as_str().unwrap_or_default().to_owned();
        let json = serde_json::from_value(value)
            .unwrap_or_else(|e| panic!("report JSON: {e}\n{}", self.stdout));
        (id, json)
    }
}

/// Starts a command, sends it SIGINT (Ctrl-C) after `after`, and returns
/// what it printed once it ended (within `limit`).
pub async fn interrupt_after(command: &mut Command, after: Duration, limit: Duration) -> Output {
    let child = spawn_piped(command);
    tokio::time::sleep(after).await;
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
    }
    collect(child, limit).await
}

/// Starts a command with its output captured (killed if dropped).
fn spawn_piped(command: &mut Command) -> tokio::process::Child {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start command: {e}"))
}

/// Waits (at most `limit`) for a started command and returns what it printed.
async fn collect(child: tokio::process::Child, limit: Duration) -> Output {
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("command still running after {limit:?}"))
        .unwrap_or_else(|e| panic!("wait for command: {e}"));
    Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs a command to completion within `limit`.
pub async fn run(command: &mut Command, limit: Duration) -> Output {
    let child = spawn_piped(command);
    collect(child, limit).await
}

/// The fixture site running as a process.
pub struct Site {
    /// `http://127.0.0.1:PORT`: the first address it listens on.
    pub base: String,
    /// Every address it listens on (`--bind` repeated), `base` first.
    pub bases: Vec<String>,
    child: Child,
}

impl Site {
    /// Starts `fixture-site` with these arguments on a free port and waits for its address.
    pub async fn start(args: &[&str]) -> Self {
        let mut child = Command::new(bin("fixture-site"))
            .args(args)
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start fixture-site: {e}"));
        let stdout = child
            .stdout
            .take()
            .unwrap_or_else(|| panic!("fixture-site stdout"));
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("fixture-site printed no address in 30s"))
            .unwrap_or_else(|e| panic!("fixture-site stdout: {e}"))
            .unwrap_or_else(|| panic!("fixture-site exited before printing its address"));
        let bases: Vec<String> = line
            .trim_start_matches("listening on ")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let base = bases.first().cloned().unwrap_or_default();
        Self { base, bases, child }
    }

    /// The site's process id (for its CPU and memory use).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The site's truth for a crawl from these seed paths.
    pub async fn truth(&self, seeds: &[&str]) -> fixture_site::Truth {
        self.truth_at(&self.base, seeds).await
    }

    /// The truth under another of the site's addresses (`bases`).
    pub async fn truth_at(&self, base: &str, seeds: &[&str]) -> fixture_site::Truth {
        let path = format!("/__truth?seeds={}", seeds.join(","));
        get_json(&format!("{base}{path}")).await
    }

    /// Page requests per path (and query) so far: every request but those
    /// for robots.txt ([`Site::robots_requests`]).
    pub async fn stats(&self) -> std::collections::BTreeMap<String, u64> {
        let mut stats = self.requests().await;
        stats.remove("/robots.txt");
        stats
    }

    /// Every request per path (and query) so far, robots.txt included.
    pub async fn requests(&self) -> std::collections::BTreeMap<String, u64> {
        self.get_json("/__stats").await
    }

    /// How often robots.txt was requested (over all the site's addresses).
    pub async fn robots_requests(&self) -> u64 {
        self.requests()
            .await
            .get("/robots.txt")
            .copied()
            .unwrap_or(0)
    }

    /// Every request the site answered, with its host, start and end.
    pub async fn log(&self) -> Vec<fixture_site::server::Request> {
        self.get_json("/__log").await
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> T {
        get_json(&format!("{}{path}", self.base)).await
    }
}

async fn get_json<T: DeserializeOwned>(url: &str) -> T {
    let response = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    response
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// Asserts every page of `report` is in the truth with the truth's status and tags.
pub fn assert_pages_in_truth(report: &crawlq_core::report::Report, truth: &fixture_site::Truth) {
    for page in &report.pages {
        let want = truth
            .pages
            .get(&page.url)
            .unwrap_or_else(|| panic!("{} is not in the truth", page.url));
        // Status 0: robots.txt disallows the page, and it is never requested.
        let status = (want.status != 0).then_some(want.status);
        assert_eq!(
            (page.status, &page.tags),
            (status, &want.tags),
            "{}",
            page.url
        );
    }
}

/// The tally a report's pages add up to (each page's tags once).
pub fn tally_of_pages(
    report: &crawlq_core::report::Report,
) -> std::collections::BTreeMap<String, u64> {
    let mut tally = std::collections::BTreeMap::new();
    for page in &report.pages {
        for tag in &page.tags {
            *tally.entry(tag.clone()).or_insert(0) += 1;
        }
    }
    tally
}
