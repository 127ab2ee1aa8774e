//! `bench`: crawlq's performance table, one command for all of it.
//!
//! For each fixture-site latency it crawls the same 2,000-page site with:
//! distributed crawlq (2 worker processes + 1 aggregator, on the local RabbitMQ
//! and Redis), local crawlq (`--local`), the raw ceiling (one process fetching
//! and parsing with crawlq's own fetch and extraction code, no queue, no
//! store), and, from `bench/.venv` (which `bench/run` creates), an idiomatic
//! Scrapy spider and the tutorial's Dask futures crawl. It prints pages/s,
//! CPU seconds per page, RabbitMQ and Redis CPU per page, peak RSS, and
//! whether each tally equals the site's truth.
//!
//! usage: bench [--pages N] [--latencies 0,100] [--dask-pages N] [--no-python]
//!              [--crawlq-only] [--page-kb K] [--worker-concurrency N] [--rounds N]
//!              [--polite] [--hosts N]
//!        bench raw SEED_URL [--concurrency N] [--tree]
//!        bench engines [--pages N]
//!
//! `--page-kb K` serves question pages of K KB (1: bare pages, to expose
//! per-task overhead); `--crawlq-only` runs the distributed crawl alone.
//! `--rounds N` runs the Rust systems N times, interleaved, and reports each
//! one's median round (the Python baselines run once): on a shared machine
//! whose speed drifts, interleaved medians compare like with like.
//! crawlq runs with its per-host limits off (`--host-concurrency 0`), to
//! compare raw speed with the other systems; `--polite` keeps crawlq's
//! defaults (4 requests in flight per host, robots.txt). `--hosts N` serves
//! the site on N loopback addresses (127.0.0.1 to 127.0.0.N, each a host of
//! its own) and seeds the crawl on each: crawlq alone, distributed and local.
//! `raw --tree` extracts with the tree engine alone (the code before the
//! streaming engine, for profiles before and after); `engines` times both
//! extraction engines on the fixture site's pages, in memory, one core.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use crawlq_core::extract::Extractor;
use crawlq_core::links::DEFAULT_LINK_PATTERN;
use crawlq_core::message::{DEFAULT_TAG_SELECTOR, Rules};
use crawlq_core::report::Report;
use crawlq_services::worker::http::{Fetcher, Limits};
use crawlq_tests::{Site, TestEnv, bin};
use fixture_site::hostile::Expect;
use serde::Deserialize;
use tokio::process::Command;

/// crawlq's benchmark (bench/README.md): the distributed and local crawl
/// against the Python baselines, or one of the focused measures.
#[derive(Parser)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    #[command(flatten)]
    crawl: CrawlBench,
}

#[derive(Subcommand)]
enum Mode {
    /// The raw ceiling: fetch and parse every page of a crawl in one process.
    Raw {
        /// The seed URL.
        seed: String,
        /// Fetches in flight.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Parse with the tree engine only.
        #[arg(long)]
        tree: bool,
    },
    /// Every hostile page: CPU per page, then a crawl of them all (RSS, CPU).
    Hostile,
    /// Both extraction engines over the fixture's question pages.
    Engines {
        /// Pages to extract.
        #[arg(long, default_value_t = 500)]
        pages: usize,
    },
}

/// The crawl benchmark's settings.
#[derive(Args)]
struct CrawlBench {
    /// Pages of the fixture site.
    #[arg(long, default_value_t = 2000)]
    pages: usize,
    /// Pages for the Dask baselines (they are slow), default all.
    #[arg(long)]
    dask_pages: Option<usize>,
    /// Only crawlq, no Python baselines.
    #[arg(long)]
    crawlq_only: bool,
    /// No Python baselines.
    #[arg(long)]
    no_python: bool,
    /// Every page this many KB.
    #[arg(long)]
    page_kb: Option<usize>,
    /// Interleaved rounds; medians are reported.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    rounds: u64,
    /// `--concurrency` of each worker.
    #[arg(long)]
    worker_concurrency: Option<usize>,
    /// Serve the site as this many hosts (127.0.0.1, 127.0.0.2, ...).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=250))]
    hosts: u64,
    /// Keep crawlq's default politeness (by default it runs with --host-concurrency 0).
    #[arg(long)]
    polite: bool,
    /// Site latencies to run at, in ms.
    #[arg(long, value_delimiter = ',', default_value = "0,100")]
    latencies: Vec<u64>,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    match cli.mode {
        Some(Mode::Raw {
            seed,
            concurrency,
            tree,
        }) => raw_ceiling(&seed, concurrency, tree).await,
        Some(Mode::Hostile) => hostile().await,
        Some(Mode::Engines { pages }) => engines(pages),
        None => crawl_bench(cli.crawl).await,
    }
}

/// The crawl benchmark: the table of bench/README.md.
async fn crawl_bench(options: CrawlBench) {
    let CrawlBench {
        pages,
        dask_pages,
        crawlq_only,
        no_python,
        page_kb,
        rounds,
        worker_concurrency,
        hosts,
        polite,
        latencies,
    } = options;
    let python = !crawlq_only && !no_python;
    let rounds = rounds as usize;
    let hosts = hosts as usize;
    let crawlq_only = crawlq_only || hosts > 1;
    let python = python && hosts == 1;
    let politeness: &[&str] = if polite {
        &[]
    } else {
        &["--host-concurrency", "0"]
    };
    println!(
        "| system | latency | pages | seconds | pages/s | CPU s/page | pages/CPU-s | RabbitMQ CPU ms/page | Redis CPU ms/page | site CPU ms/page | peak RSS MB | tally = truth |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for latency in latencies {
        let mut site_args = vec![
            "--pages".to_owned(),
            pages.to_string(),
            "--latency-ms".to_owned(),
            latency.to_string(),
        ];
        if let Some(kb) = page_kb {
            site_args.extend([
                "--min-kb".to_owned(),
                kb.to_string(),
                "--max-kb".to_owned(),
                kb.to_string(),
            ]);
        }
        for host in 1..=hosts {
            site_args.extend(["--bind".to_owned(), format!("127.0.0.{host}")]);
        }
        let site_args: Vec<&str> = site_args.iter().map(String::as_str).collect();
        let site = Site::start(&site_args).await;
        let mut truth = site.truth(&["/questions/tagged/python"]).await;
        for base in site.bases.iter().skip(1) {
            let more = site.truth_at(base, &["/questions/tagged/python"]).await;
            for (tag, n) in more.tag_counts {
                *truth.tag_counts.entry(tag).or_insert(0) += n;
            }
        }
        let seeds: Vec<String> = site
            .bases
            .iter()
            .map(|base| format!("{base}/questions/tagged/python"))
            .collect();
        let seed = seeds[0].clone();
        let mut crawl_args: Vec<&str> = seeds.iter().map(String::as_str).collect();
        crawl_args.extend_from_slice(politeness);
        let site_pid = site.pid();
        let mut runs = Vec::new();
        for round in 0..rounds {
            let mut rows = vec![
                with_site_cpu(
                    site_pid,
                    distributed(&crawl_args, &truth.tag_counts, latency, worker_concurrency),
                )
                .await,
            ];
            // Several hosts: crawlq only, in both of its modes.
            if hosts > 1 || !crawlq_only {
                rows.push(
                    with_site_cpu(site_pid, local(&crawl_args, &truth.tag_counts, latency)).await,
                );
            }
            if !crawlq_only {
                rows.push(
                    with_site_cpu(
                        site_pid,
                        external(
                            "raw ceiling (1 process)",
                            &bin("bench"),
                            &["raw", &seed],
                            &truth.tag_counts,
                            latency,
                            None,
                        ),
                    )
                    .await,
                );
            }
            if python && round == 0 {
                let venv = PathBuf::from("bench/.venv/bin/python");
                rows.push(
                    with_site_cpu(
                        site_pid,
                        external(
                            "Scrapy 64 concurrent",
                            &venv,
                            &["bench/baselines/scrapy_crawl.py", &seed],
                            &truth.tag_counts,
                            latency,
                            None,
                        ),
                    )
                    .await,
                );
                for (name, delay) in [
                    ("Dask futures (tutorial's code, no delay)", None),
                    (
                        "Dask futures (tutorial's code, delay=0.25)",
                        Some("--delay=0.25"),
                    ),
                ] {
                    let mut dask_args =
                        vec!["bench/baselines/dask_crawl.py".to_owned(), seed.clone()];
                    if let Some(n) = dask_pages {
                        dask_args.push(format!("--max-pages={n}"));
                    }
                    dask_args.extend(delay.map(str::to_owned));
                    let dask_args: Vec<&str> = dask_args.iter().map(String::as_str).collect();
                    rows.push(
                        with_site_cpu(
                            site_pid,
                            external(
                                name,
                                &venv,
                                &dask_args,
                                &truth.tag_counts,
                                latency,
                                dask_pages,
                            ),
                        )
                        .await,
                    );
                }
            }
            runs.push(rows);
        }
        let rows = medians(runs, latency);
        for row in &rows {
            println!("{}", row.markdown());
        }
        let base = rows
            .iter()
            .find(|r| r.system.contains("no delay"))
            .map(|r| r.rate());
        let scrapy = rows
            .iter()
            .find(|r| r.system.starts_with("Scrapy"))
            .map(|r| r.rate());
        let raw = rows
            .iter()
            .find(|r| r.system.starts_with("raw"))
            .map(|r| r.rate());
        for row in rows.iter().filter(|r| r.system.starts_with("crawlq")) {
            let ratio = |other: Option<f64>| {
                other.map_or("n/a".to_owned(), |o| format!("{:.1}x", row.rate() / o))
            };
            let share = raw.map_or("n/a".to_owned(), |r| {
                format!("{:.0}%", 100.0 * row.rate() / r)
            });
            let tutorial = rows
                .iter()
                .find(|r| r.system.contains("delay=0.25"))
                .map(|r| r.rate());
            eprintln!(
                "latency {latency} ms: {}: {} Dask (no delay), {} Dask (tutorial's delay), {} Scrapy, {share} of the raw ceiling",
                row.system,
                ratio(base),
                ratio(tutorial),
                ratio(scrapy)
            );
        }
    }
}

/// Each system's median row over the rounds (by pages/s), in first-round
/// order; with more than one round, every round's pages/s and the
/// distributed crawl's share of the raw ceiling in each round go to stderr.
fn medians(runs: Vec<Vec<Row>>, latency: u64) -> Vec<Row> {
    let mut by_system: Vec<(String, Vec<Row>)> = Vec::new();
    let mut shares = Vec::new();
    for rows in runs {
        let rate_of = |prefix: &str| {
            rows.iter()
                .find(|r| r.system.starts_with(prefix))
                .map(Row::rate)
        };
        if let (Some(distributed), Some(raw)) = (rate_of("crawlq distributed"), rate_of("raw")) {
            shares.push(format!("{:.0}%", 100.0 * distributed / raw));
        }
        for row in rows {
            match by_system
                .iter_mut()
                .find(|(system, _)| *system == row.system)
            {
                Some((_, same)) => same.push(row),
                None => by_system.push((row.system.clone(), vec![row])),
            }
        }
    }
    let mut medians = Vec::new();
    for (system, mut rows) in by_system {
        rows.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
        if rows.len() > 1 {
            let rates: Vec<String> = rows.iter().map(|r| format!("{:.0}", r.rate())).collect();
            eprintln!(
                "latency {latency} ms: {system}: pages/s over {} rounds, sorted: {}",
                rows.len(),
                rates.join(", ")
            );
        }
        let middle = rows.len() / 2;
        medians.extend(rows.into_iter().nth(middle));
    }
    if shares.len() > 1 {
        eprintln!(
            "latency {latency} ms: distributed share of the raw ceiling, round by round: {}",
            shares.join(", ")
        );
    }
    medians
}

/// One line of the table.
struct Row {
    system: String,
    latency: u64,
    pages: u64,
    seconds: f64,
    cpu_s: f64,
    rabbit_cpu_s: Option<f64>,
    redis_cpu_s: Option<f64>,
    /// The fixture site's CPU while this system crawled it.
    site_cpu_s: Option<f64>,
    rss_mb: String,
    tally: String,
}

impl Row {
    fn rate(&self) -> f64 {
        self.pages as f64 / self.seconds.max(1e-9)
    }

    fn markdown(&self) -> String {
        let per_page = |cpu: Option<f64>| {
            cpu.map_or("-".to_owned(), |c| {
                format!("{:.3}", 1000.0 * c / self.pages.max(1) as f64)
            })
        };
        format!(
            "| {} | {} ms | {} | {:.1} | {:.1} | {:.4} | {:.0} | {} | {} | {} | {} | {} |",
            self.system,
            self.latency,
            self.pages,
            self.seconds,
            self.rate(),
            self.cpu_s / self.pages.max(1) as f64,
            self.pages as f64 / self.cpu_s.max(1e-9),
            per_page(self.rabbit_cpu_s),
            per_page(self.redis_cpu_s),
            per_page(self.site_cpu_s),
            self.rss_mb,
            self.tally
        )
    }
}

/// Runs one system's crawl and records the fixture site's CPU during it.
async fn with_site_cpu(
    site_pid: Option<u32>,
    crawl: impl std::future::Future<Output = Row>,
) -> Row {
    let before = site_pid.map(cpu_of);
    let mut row = crawl.await;
    row.site_cpu_s = site_pid.map(cpu_of).zip(before).map(|(a, b)| a - b);
    row
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_of(pid: u32) -> f64 {
    cpu_in(&format!("/proc/{pid}/stat"))
}

/// This thread's CPU time, in seconds.
fn thread_cpu_s() -> f64 {
    cpu_in("/proc/thread-self/stat")
}

/// CPU seconds (user + system) in a `/proc/.../stat` file.
fn cpu_in(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory of a process, in MB.
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The process listening on 127.0.0.1:`port` (RabbitMQ's, Redis's), from `ss`.
fn pid_listening(port: u16) -> Option<u32> {
    let out = std::process::Command::new("ss")
        .args(["-ltnpH", &format!("sport = :{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let at = text.find("pid=")? + 4;
    text[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn tally_check(got: &BTreeMap<String, u64>, truth: &BTreeMap<String, u64>) -> String {
    if got == truth {
        "yes".into()
    } else {
        "NO".into()
    }
}

async fn distributed(
    crawl_args: &[&str],
    truth: &BTreeMap<String, u64>,
    latency: u64,
    concurrency: Option<usize>,
) -> Row {
    let mut env = TestEnv::new("bench");
    let concurrency = concurrency.map(|c| c.to_string());
    let worker_args: Vec<&str> = concurrency
        .as_deref()
        .map_or(vec![], |c| vec!["--concurrency", c]);
    let workers = [
        env.spawn("worker", &worker_args),
        env.spawn("worker", &worker_args),
    ];
    let aggregator = env.spawn("aggregator", &[]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rabbit = pid_listening(5672);
    let redis = pid_listening(6379);
    let (rabbit0, redis0) = (rabbit.map(cpu_of), redis.map(cpu_of));
    let memory0 = redis_used_memory().await;
    let (report, producer_cpu, _) = timed(
        env.command("producer")
            .arg("crawl")
            .args(crawl_args)
            .args(["--wait", "--json", "--quiet"]),
    )
    .await;
    let (_, report): (String, Report) = report.id_and_json();
    let redis_bytes = redis_used_memory().await.saturating_sub(memory0);
    let mut cpu = producer_cpu;
    let mut rss = Vec::new();
    let mut split = vec![format!("producer {producer_cpu:.2}")];
    for (name, index) in [
        ("worker", workers[0]),
        ("worker", workers[1]),
        ("aggregator", aggregator),
    ] {
        let pid = env.pid(index).unwrap_or_default();
        cpu += cpu_of(pid);
        split.push(format!("{name} {:.2}", cpu_of(pid)));
        rss.push(format!("{name} {:.0}", peak_rss_mb(pid)));
    }
    eprintln!(
        "latency {latency} ms: distributed crawl's CPU seconds: {}",
        split.join(", ")
    );
    Row {
        system: "crawlq distributed (2 workers + aggregator)".into(),
        latency,
        pages: report.status.done + report.status.failed,
        seconds: report.status.elapsed_s,
        cpu_s: cpu,
        rabbit_cpu_s: rabbit.map(cpu_of).zip(rabbit0).map(|(a, b)| a - b),
        redis_cpu_s: redis.map(cpu_of).zip(redis0).map(|(a, b)| a - b),
        site_cpu_s: None,
        rss_mb: format!(
            "{}; Redis +{} B/page",
            rss.join(", "),
            redis_bytes / (report.status.done + report.status.failed).max(1)
        ),
        tally: tally_check(&report.tag_counts, truth),
    }
}

/// Redis's `used_memory`, in bytes.
async fn redis_used_memory() -> u64 {
    let Ok(client) = redis::Client::open(crawlq_tests::redis_url()) else {
        return 0;
    };
    let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
        return 0;
    };
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut connection)
        .await
        .unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn local(crawl_args: &[&str], truth: &BTreeMap<String, u64>, latency: u64) -> Row {
    let env = TestEnv::new("bench-local");
    let (out, cpu, rss) = timed(
        env.command("producer")
            .args(["crawl", "--local"])
            .args(crawl_args)
            .args(["--json", "--quiet"]),
    )
    .await;
    let (_, report): (String, Report) = out.id_and_json();
    Row {
        system: "crawlq local (1 process)".into(),
        latency,
        pages: report.status.done + report.status.failed,
        seconds: report.status.elapsed_s,
        cpu_s: cpu,
        rabbit_cpu_s: None,
        redis_cpu_s: None,
        site_cpu_s: None,
        rss_mb: format!("{rss:.0}"),
        tally: tally_check(&report.tag_counts, truth),
    }
}

/// What the raw ceiling and the Python baselines write.
#[derive(Deserialize)]
struct Outcome {
    pages: u64,
    seconds: f64,
    tag_counts: BTreeMap<String, u64>,
}

async fn external(
    system: &str,
    program: &std::path::Path,
    args: &[&str],
    truth: &BTreeMap<String, u64>,
    latency: u64,
    capped: Option<usize>,
) -> Row {
    let out_file = std::env::temp_dir().join(format!("crawlq-bench-{}.json", uuid::Uuid::new_v4()));
    let mut command = Command::new(program);
    command.args(args);
    if !system.starts_with("raw") {
        command.arg(&out_file);
    }
    let (out, cpu, rss) = timed(&mut command).await;
    let text = if system.starts_with("raw") {
        out.stdout.clone()
    } else {
        std::fs::read_to_string(&out_file).unwrap_or_default()
    };
    let _ = std::fs::remove_file(&out_file);
    let outcome: Option<Outcome> = serde_json::from_str(&text).ok();
    let Some(outcome) = outcome else {
        eprintln!(
            "{system} failed: {}",
            out.stderr.lines().last().unwrap_or("")
        );
        return Row {
            system: format!("{system} (failed)"),
            latency,
            pages: 0,
            seconds: 1.0,
            cpu_s: cpu,
            rabbit_cpu_s: None,
            redis_cpu_s: None,
            site_cpu_s: None,
            rss_mb: format!("{rss:.0}"),
            tally: "-".into(),
        };
    };
    Row {
        system: match capped {
            Some(n) => format!("{system}, first {n} pages"),
            None => system.to_owned(),
        },
        latency,
        pages: outcome.pages,
        seconds: outcome.seconds,
        cpu_s: cpu,
        rabbit_cpu_s: None,
        redis_cpu_s: None,
        site_cpu_s: None,
        rss_mb: format!("{rss:.0}"),
        tally: if capped.is_some() {
            "n/a (capped)".into()
        } else {
            tally_check(&outcome.tag_counts, truth)
        },
    }
}

/// Runs a command under `/usr/bin/time`: its output, CPU seconds (user +
/// system, its waited-for children included) and peak RSS in MB.
async fn timed(command: &mut Command) -> (crawlq_tests::Output, f64, f64) {
    let std = command.as_std();
    let times = std::env::temp_dir().join(format!("crawlq-bench-time-{}", uuid::Uuid::new_v4()));
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped
        .args(["-f", "%U %S %M", "-o"])
        .arg(&times)
        .arg(std.get_program())
        .args(std.get_args());
    for (key, value) in std.get_envs() {
        if let Some(value) = value {
            wrapped.env(key, value);
        }
    }
    let out = crawlq_tests::run(&mut wrapped, Duration::from_secs(7200)).await;
    let text = std::fs::read_to_string(&times).unwrap_or_default();
    let _ = std::fs::remove_file(&times);
    let nums: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let cpu = nums.first().copied().unwrap_or(0.0) + nums.get(1).copied().unwrap_or(0.0);
    let rss = nums.get(2).copied().unwrap_or(0.0) / 1024.0;
    (out, cpu, rss)
}

/// The raw ceiling: crawlq's fetch and extraction in one process, a plain
/// frontier in memory, no queue, no store. Prints `{pages, seconds, tag_counts}`.
async fn raw_ceiling(seed: &str, concurrency: usize, tree: bool) {
    let host = url::Url::parse(seed)
        .ok()
        .and_then(|u| crawlq_core::links::seed_host_entry(&u))
        .unwrap_or_default();
    let rules = Rules {
        tag_selector: DEFAULT_TAG_SELECTOR.into(),
        link_pattern: DEFAULT_LINK_PATTERN.into(),
        allow_hosts: vec![host],
        max_depth: None,
        politeness: Default::default(),
    };
    let Ok(extractor) = Extractor::new(&rules) else {
        return;
    };
    let extractor = Arc::new(extractor);
    let Ok(fetcher) = Fetcher::new(&Limits {
        timeout: Duration::from_secs(30),
        max_redirects: 5,
        max_body_bytes: 5 << 20,
        user_agent: "crawlq-bench".into(),
        allow_private: crawlq_services::worker::guard::AllowPrivate::Everything,
    }) else {
        return;
    };
    let parse_slots = Arc::new(tokio::sync::Semaphore::new(
        std::thread::available_parallelism().map_or(2, usize::from),
    ));
    let started = Instant::now();
    let mut seen: HashSet<String> = HashSet::from([seed.to_owned()]);
    let mut frontier: VecDeque<String> = VecDeque::from([seed.to_owned()]);
    let mut in_flight = tokio::task::JoinSet::new();
    let mut tally: BTreeMap<String, u64> = BTreeMap::new();
    let mut pages = 0u64;
    loop {
        while in_flight.len() < concurrency {
            let Some(url) = frontier.pop_front() else {
                break;
            };
            let (fetcher, extractor, slots) =
                (fetcher.clone(), extractor.clone(), parse_slots.clone());
            in_flight.spawn(async move {
                let page = fetcher.fetch(&url, extractor.hosts()).await.ok()?;
                let _slot = slots.acquire_owned().await.ok()?;
                tokio::task::spawn_blocking(move || {
                    if tree {
                        extractor.extract_tree(&page.html, &page.final_url).ok()
                    } else {
                        extractor.extract(&page.html, &page.final_url).ok()
                    }
                })
                .await
                .ok()
                .flatten()
            });
        }
        let Some(done) = in_flight.join_next().await else {
            break;
        };
        pages += 1;
        if let Ok(Some(extracted)) = done {
            for tag in extracted.tags {
                *tally.entry(tag).or_insert(0) += 1;
            }
            for link in extracted.links {
                if seen.insert(link.clone()) {
                    frontier.push_back(link);
                }
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"pages": pages, "seconds": seconds, "tag_counts": tally})
    );
}

/// The hostile pages (`fixture_site::hostile`): each page's extraction timed
/// in this process (one core; which engine answered), then one distributed
/// crawl of them all by one worker, its peak RSS and CPU, and whether every
/// page got its expected result.
async fn hostile() {
    let cases = fixture_site::hostile::cases();
    let base = "http://127.0.0.1:9";
    let Some(extractor) = default_extractor(base) else {
        return;
    };
    println!("| page | bytes | streaming | extraction ms (CPU, one thread) | result |");
    println!("|---|---|---|---|---|");
    for case in &cases {
        // Only the pages that are HTML to parse; the rest never reach a parser.
        if !matches!(case.expect, Expect::Done { .. })
            && !case.expect_error().starts_with("page too complex")
        {
            continue;
        }
        let Some(response) = fixture_site::hostile::respond(case.path, base).await else {
            continue;
        };
        let Ok(body) = axum::body::to_bytes(response.into_body(), usize::MAX).await else {
            continue;
        };
        let html = String::from_utf8_lossy(&body);
        let Ok(url) = url::Url::parse(&format!("{base}{}", case.path)) else {
            continue;
        };
        let streamed = extractor.extract_stream(&html, &url).is_some();
        let cpu0 = thread_cpu_s();
        let result = extractor.extract(&html, &url);
        let ms = (thread_cpu_s() - cpu0) * 1000.0;
        let result = match result {
            Ok(page) => format!(
                "{} tags, {} links ({} dropped), {} tags dropped",
                page.tags.len(),
                page.links.len(),
                page.links_dropped,
                page.tags_dropped
            ),
            Err(e) => format!("failed: {e}"),
        };
        println!(
            "| {} | {} | {} | {ms:.0} | {} |",
            case.path,
            body.len(),
            if streamed { "yes" } else { "no, tree" },
            result.replace('|', "/")
        );
    }
    let site = Site::start(&["--pages", "20"]).await;
    let mut env = TestEnv::new("bench-hostile");
    let limits = ["--timeout-secs", "3", "--max-retries", "0"];
    let worker = env.spawn("worker", &limits);
    let aggregator = env.spawn("aggregator", &[]);
    let list = env.url_list(
        cases
            .iter()
            .map(|case| format!("{}{}", site.base, case.path)),
    );
    let started = Instant::now();
    let out = env
        .command("producer")
        .args(["submit", "--urls", &list, "--wait", "--json", "--quiet"])
        .output()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let report: Option<Report> = match out {
        Ok(out) => {
            // `--wait --json` prints one document: the report.
            let report = serde_json::from_slice(&out.stdout);
            if let Err(e) = &report {
                eprintln!(
                    "bench hostile: no report from the producer ({e}; exit {}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            report.ok()
        }
        Err(e) => {
            eprintln!("bench hostile: the producer did not run: {e}");
            None
        }
    };
    let (done, failed) = report
        .as_ref()
        .map_or((0, 0), |r| (r.status.done, r.status.failed));
    let pid = |index| env.pid(index).unwrap_or_default();
    println!(
        "\nOne distributed crawl of all {} hostile pages: {done} done, {failed} failed in {seconds:.1} s; \
         worker peak RSS {:.0} MB, CPU {:.2} s; aggregator peak RSS {:.0} MB, CPU {:.2} s",
        cases.len(),
        peak_rss_mb(pid(worker)),
        cpu_of(pid(worker)),
        peak_rss_mb(pid(aggregator)),
        cpu_of(pid(aggregator)),
    );
}

/// An extractor with the default rules, following links on `base`.
fn default_extractor(base: &str) -> Option<Extractor> {
    Extractor::new(&Rules {
        tag_selector: DEFAULT_TAG_SELECTOR.into(),
        link_pattern: DEFAULT_LINK_PATTERN.into(),
        allow_hosts: vec![base.into()],
        max_depth: None,
        politeness: Default::default(),
    })
    .ok()
}

/// Times both extraction engines over the fixture site's question pages
/// (100-250 KB, rendered in memory) on one core, and checks they agree.
fn engines(pages: usize) {
    use fixture_site::model::{Site as Model, SiteConfig};
    let site = Model::new(SiteConfig {
        pages,
        seed: 1,
        min_bytes: 100 * 1024,
        max_bytes: 250 * 1024,
        flaky_every: 0,
        broken_every: 0,
        robots_every: 0,
    });
    let base = "http://127.0.0.1:8080";
    let Some(extractor) = default_extractor(base) else {
        return;
    };
    let docs: Vec<(url::Url, String)> = (0..site.questions.len())
        .filter_map(|i| {
            let url = url::Url::parse(&format!("{base}{}", site.question_path(i))).ok()?;
            Some((url, fixture_site::html::question(&site, i, base)))
        })
        .collect();
    let bytes: usize = docs.iter().map(|(_, html)| html.len()).sum();
    let n = docs.len().max(1);
    let time = |f: &dyn Fn(&str, &url::Url) -> Option<crawlq_core::extract::Extracted>| {
        let started = Instant::now();
        let mut all = Vec::with_capacity(n);
        for (url, html) in &docs {
            all.push(f(html, url));
        }
        (started.elapsed().as_secs_f64(), all)
    };
    let (tree_s, tree) = time(&|html, url| extractor.extract_tree(html, url).ok());
    let (stream_s, stream) = time(&|html, url| extractor.extract_stream(html, url));
    let agree = tree == stream;
    for (name, seconds) in [
        ("tree (scraper)", tree_s),
        ("streaming (html5gum)", stream_s),
    ] {
        println!(
            "{name}: {n} pages of {:.0} KB on average, {:.0} us/page, {:.0} pages/s, {:.0} MB/s",
            bytes as f64 / n as f64 / 1024.0,
            seconds * 1e6 / n as f64,
            n as f64 / seconds,
            bytes as f64 / seconds / 1e6
        );
    }
    println!(
        "streaming is {:.1}x the tree; the engines agree on every page: {agree}",
        tree_s / stream_s
    );
}
