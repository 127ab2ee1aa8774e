//! Fit for the open web, measured at the fixture site: per-host limits held
//! across a fleet of workers (and through a SIGKILL), a throttled host that
//! does not slow another, robots.txt obeyed (and waited for while it is
//! down), and the SSRF guard: closed by default, opened by the operator for
//! one target only.

use std::collections::BTreeMap;
use std::time::Duration;

use crawlq_core::report::Report;
use crawlq_tests::{Site, TestEnv};
use fixture_site::server::Request;

const LIMIT: Duration = Duration::from_secs(600);
const SEED: &str = "/questions/tagged/python";

/// Asserts a report equals the truth: every page, its status and tags, the tally.
fn assert_exact(report: &Report, truth: &fixture_site::Truth) {
    crawlq_tests::assert_pages_in_truth(report, truth);
    assert_eq!(report.pages.len(), truth.pages.len(), "every page once");
    assert_eq!(report.tag_counts, truth.tag_counts);
}

/// Requests to one host (`127.0.0.1:PORT`), by start.
fn of_host<'a>(log: &'a [Request], base: &str) -> Vec<&'a Request> {
    let host = base.trim_start_matches("http://");
    let mut requests: Vec<&Request> = log.iter().filter(|r| r.host == host).collect();
    requests.sort_by_key(|r| r.start_us);
    requests
}

/// The most requests the site had in flight at once.
fn max_in_flight(requests: &[&Request]) -> usize {
    let mut events: Vec<(u64, i32)> = Vec::new();
    for r in requests {
        events.push((r.start_us, 1));
        events.push((r.end_us, -1));
    }
    // Ends before starts at the same instant.
    events.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in events {
        now += delta;
        most = most.max(now);
    }
    most as usize
}

/// The shortest time between two request starts, in microseconds.
fn min_gap_us(requests: &[&Request]) -> u64 {
    requests
        .windows(2)
        .map(|w| w[1].start_us - w[0].start_us)
        .min()
        .unwrap_or(u64::MAX)
}

/// 3 workers and 2 aggregators crawl with `--host-concurrency 2
/// --host-delay 200ms`; with `kill`, one worker is SIGKILLed mid-crawl.
async fn fleet_politeness(kill: bool) {
    let site = Site::start(&[
        "--pages",
        "60",
        "--seed",
        "31",
        "--latency-ms",
        "450",
        "--min-kb",
        "2",
        "--max-kb",
        "4",
    ])
    .await;
    let truth = site.truth(&[SEED]).await;
    let mut env = TestEnv::new(if kill { "fleetkill" } else { "fleet" });
    env.start_stack(3, 2);
    let seed = format!("{}{SEED}", site.base);
    let args = [
        "crawl",
        &seed,
        "--host-concurrency",
        "2",
        "--host-delay",
        "200ms",
    ];
    let crawl_id = env.start_crawl(&args).await;
    if kill {
        for _ in 0..600 {
            if site.log().await.len() >= 12 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        env.kill(0).await;
    }
    let report = env.wait_report(&crawl_id).await;
    assert_exact(&report, &truth);
    let log = site.log().await;
    let requests = of_host(&log, &site.base);
    assert!(requests.iter().all(|r| r.end_us > 0), "every request ended");
    let (most, gap) = (max_in_flight(&requests), min_gap_us(&requests));
    eprintln!(
        "fleet politeness (kill: {kill}): {} requests, at most {most} in flight, shortest gap {:.1} ms, {:.1} s",
        requests.len(),
        gap as f64 / 1000.0,
        requests.last().map_or(0, |r| r.end_us) as f64 / 1e6
    );
    assert!(most <= 2, "at most 2 requests in flight, saw {most}");
    assert!(
        gap >= 195_000,
        "starts at least 200 ms - 5 ms apart, saw {gap} us"
    );
    assert!(
        requests.iter().any(|r| r.path == "/robots.txt"),
        "robots.txt counts as a request to its host"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fleet_politeness_holds_at_the_site() {
    fleet_politeness(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fleet_politeness_holds_when_a_worker_is_killed_mid_crawl() {
    fleet_politeness(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_host_pauses_for_the_fleet_while_the_other_goes_on() {
    let site = Site::start(&[
        "--pages",
        "200",
        "--seed",
        "32",
        "--min-kb",
        "2",
        "--max-kb",
        "4",
        "--bind",
        "127.0.0.1",
        "--bind",
        "127.0.0.2",
        "--throttle",
        "127.0.0.2=30",
    ])
    .await;
    let (fast, slow) = (site.bases[0].clone(), site.bases[1].clone());
    let mut truth = site.truth_at(&fast, &[SEED]).await;
    let slow_truth = site.truth_at(&slow, &[SEED]).await;
    truth.pages.extend(slow_truth.pages);
    for (tag, n) in slow_truth.tag_counts {
        *truth.tag_counts.entry(tag).or_insert(0) += n;
    }
    let mut env = TestEnv::new("throttled");
    env.start_stack(2, 1);
    let seeds = [format!("{fast}{SEED}"), format!("{slow}{SEED}")];
    let crawl_id = env.start_crawl(&["crawl", &seeds[0], &seeds[1]]).await;
    // `status` shows the throttled host while its pause lasts.
    let mut shown = false;
    for _ in 0..100 {
        let out = env.producer(&["status", &crawl_id, "--json"], LIMIT).await;
        let status: serde_json::Value = serde_json::from_str(&out.assert_success().stdout).unwrap();
        let hosts = status["hosts"].as_array().cloned().unwrap_or_default();
        if hosts
            .iter()
            .any(|h| h["origin"] == slow.as_str() && h["paused_ms"].as_u64() > Some(1000))
        {
            let text = env.producer(&["status", &crawl_id], LIMIT).await;
            let line = format!("{slow}: ");
            assert!(
                text.stdout
                    .lines()
                    .any(|l| l.contains(&line) && l.contains("throttled for")),
                "{}",
                text.stdout
            );
            shown = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(shown, "status showed the throttled host");
    let report = env.wait_report(&crawl_id).await;
    assert_exact(&report, &truth);

    let log = site.log().await;
    let (fast_log, slow_log) = (of_host(&log, &fast), of_host(&log, &slow));
    let throttled = slow_log
        .iter()
        .find(|r| r.status == 429)
        .expect("the slow host answered 429 once");
    let resumed = slow_log
        .iter()
        .find(|r| r.start_us > throttled.start_us)
        .expect("the slow host was crawled after its pause");
    let fast_done = fast_log.last().map_or(0, |r| r.end_us);
    eprintln!(
        "throttled host: 429 at {:.2} s, next request {:.2} s later; the other host's {} requests done at {:.2} s",
        throttled.end_us as f64 / 1e6,
        (resumed.start_us - throttled.end_us) as f64 / 1e6,
        fast_log.len(),
        fast_done as f64 / 1e6
    );
    assert!(
        resumed.start_us >= throttled.end_us + 30_000_000 - 5_000,
        "Retry-After: 30 paused the host for the whole fleet"
    );
    assert!(
        fast_done < resumed.start_us,
        "the other host's pages were all fetched during the pause"
    );
}

/// Pages the truth says robots.txt disallows.
fn disallowed(truth: &fixture_site::Truth, base: &str) -> Vec<String> {
    truth
        .pages
        .iter()
        .filter(|(_, page)| page.status == 0)
        .map(|(url, _)| url.trim_start_matches(base).to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn robots_txt_disallowed_pages_are_never_requested_in_either_mode() {
    let args = [
        "--pages",
        "300",
        "--seed",
        "33",
        "--robots-every",
        "7",
        "--min-kb",
        "2",
        "--max-kb",
        "4",
    ];
    let (site, local_site) = tokio::join!(Site::start(&args), Site::start(&args));
    let truth = site.truth(&[SEED]).await;
    let blocked = disallowed(&truth, &site.base);
    assert!(!blocked.is_empty(), "the crawl meets disallowed pages");
    let mut env = TestEnv::new("robots");
    env.start_stack(2, 1);
    let crawl_id = env
        .start_crawl(&["crawl", &format!("{}{SEED}", site.base)])
        .await;
    let distributed = env.wait_report(&crawl_id).await;

    let out = env
        .producer(
            &[
                "crawl",
                "--local",
                &format!("{}{SEED}", local_site.base),
                "--json",
                "--quiet",
            ],
            LIMIT,
        )
        .await;
    let (_, local): (String, Report) = out.assert_success().id_and_json();
    let local_truth = local_site.truth(&[SEED]).await;

    for (report, truth, site) in [
        (&distributed, &truth, &site),
        (&local, &local_truth, &local_site),
    ] {
        assert_exact(report, truth);
        let stats = site.stats().await;
        for path in &blocked {
            assert!(!stats.contains_key(path), "{path} was requested");
        }
        let failures: BTreeMap<_, _> = report.failures.clone().into_iter().collect();
        assert_eq!(
            failures.get("blocked by robots.txt").copied(),
            Some(blocked.len() as u64),
            "each disallowed page is recorded as blocked"
        );
        assert_eq!(
            site.robots_requests().await,
            1,
            "robots.txt fetched once per host per crawl"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_503_robots_txt_blocks_its_host_until_it_answers() {
    let site = Site::start(&[
        "--pages",
        "60",
        "--seed",
        "34",
        "--robots-every",
        "5",
        "--robots-down-secs",
        "3",
        "--min-kb",
        "2",
        "--max-kb",
        "4",
    ])
    .await;
    let truth = site.truth(&[SEED]).await;
    let mut env = TestEnv::new("robotsdown");
    env.start_stack(2, 1);
    let crawl_id = env
        .start_crawl(&["crawl", &format!("{}{SEED}", site.base)])
        .await;
    let report = env.wait_report(&crawl_id).await;
    assert_exact(&report, &truth);
    let log = site.log().await;
    let answered = log
        .iter()
        .filter(|r| r.path == "/robots.txt" && r.status == 200)
        .map(|r| r.end_us)
        .min()
        .expect("robots.txt answered in the end");
    let refused = log
        .iter()
        .filter(|r| r.path == "/robots.txt" && r.status == 503)
        .count();
    let first_page = log
        .iter()
        .filter(|r| r.path != "/robots.txt")
        .map(|r| r.start_us)
        .min()
        .unwrap_or(u64::MAX);
    eprintln!(
        "robots.txt down: {refused} refused, answered at {:.2} s, first page at {:.2} s",
        answered as f64 / 1e6,
        first_page as f64 / 1e6
    );
    assert!(refused >= 1, "robots.txt was asked for while it was down");
    assert!(first_page >= answered, "no page before robots.txt answered");
}

/// The seed's failure in a one-page report.
fn only_error(report: &Report) -> String {
    assert_eq!(report.pages.len(), 1, "{report:?}");
    report.pages[0].error.clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn without_allow_private_a_loopback_seed_fetches_nothing_and_says_why() {
    let site = Site::start(&[
        "--pages", "20", "--seed", "35", "--min-kb", "2", "--max-kb", "4",
    ])
    .await;
    let mut env = TestEnv::new("ssrf");
    env.allow_private = None;
    env.start_stack(1, 1);
    let seed = format!("{}{SEED}", site.base);
    let crawl_id = env.start_crawl(&["crawl", &seed]).await;
    let distributed = env.wait_report(&crawl_id).await;
    let out = env
        .producer(&["crawl", "--local", &seed, "--json", "--quiet"], LIMIT)
        .await;
    assert_eq!(out.code, Some(3), "no page succeeded: {}", out.stderr);
    let (_, local): (String, Report) = out.id_and_json();
    for report in [&distributed, &local] {
        let error = only_error(report);
        assert!(
            error.starts_with("blocked: loopback address 127.0.0.1") && !error.contains('\n'),
            "{error}"
        );
    }
    assert!(site.requests().await.is_empty(), "nothing reached the site");
}

#[tokio::test(flavor = "multi_thread")]
async fn allow_private_for_one_target_never_reaches_another_port() {
    let (site, other) = tokio::join!(
        Site::start(&[
            "--pages", "40", "--seed", "36", "--min-kb", "2", "--max-kb", "4"
        ]),
        Site::start(&[
            "--pages", "40", "--seed", "36", "--min-kb", "2", "--max-kb", "4"
        ])
    );
    let target = site.base.trim_start_matches("http://").to_owned();
    let other_target = other.base.trim_start_matches("http://").to_owned();
    let truth = site.truth(&[SEED]).await;
    let mut env = TestEnv::new("ssrfone");
    env.allow_private = Some(target.clone());
    env.start_stack(1, 1);
    let to_other = format!("{}{SEED}", other.base);
    let redirect = format!("{}/__redirect?to={to_other}", site.base);
    let seed = format!("{}{SEED}", site.base);
    // A page of the opened target that links to a question on the other port.
    let question = truth
        .pages
        .keys()
        .find(|url| url.contains("/questions/1"))
        .unwrap()
        .trim_start_matches(&site.base);
    let linked = format!("{}{question}", other.base);
    let linking = format!("{}/__page?links={linked}", site.base);

    // The redirect leaves the crawl's hosts: refused by the link rule.
    let list = env.url_list([&redirect]);
    let id = env.start_crawl(&["submit", "--urls", &list]).await;
    let off_hosts = env.wait_report(&id).await;
    assert!(
        only_error(&off_hosts).starts_with("redirect off the crawl's hosts"),
        "{off_hosts:?}"
    );

    // With the other port in the crawl's hosts, the SSRF guard still refuses
    // it: the operator opened one target only. Links and redirects to it and
    // a seed on it alike.
    let args = [
        "crawl",
        &seed,
        &redirect,
        &to_other,
        &linking,
        "--allow-host",
        &other_target,
    ];
    let crawl_id = env.start_crawl(&args).await;
    let distributed = env.wait_report(&crawl_id).await;
    let mut local_args = args.to_vec();
    local_args.extend(["--local", "--json", "--quiet", "--allow-private", &target]);
    let mut command = env.command("producer");
    command.args(&local_args).env_remove("WORKER_ALLOW_PRIVATE");
    let out = crawlq_tests::run(&mut command, LIMIT).await;
    let (_, local): (String, Report) = out.assert_success().id_and_json();
    for report in [&distributed, &local] {
        for page in &report.pages {
            if page.url == redirect || page.url.starts_with(&other.base) {
                let error = page.error.clone().unwrap_or_default();
                assert!(
                    error.starts_with("blocked: loopback address 127.0.0.1"),
                    "{}: {error}",
                    page.url
                );
            } else if page.url == linking {
                assert_eq!(page.status, Some(200));
            } else {
                let want = &truth.pages[&page.url];
                assert_eq!(
                    (page.status, &page.tags),
                    (Some(want.status), &want.tags),
                    "{}",
                    page.url
                );
            }
        }
        // The redirect, the seed on the other port, the linking page and the
        // page it links to, which the crawl followed.
        assert_eq!(report.pages.len(), truth.pages.len() + 4);
        assert!(report.pages.iter().any(|page| page.url == linked));
    }
    assert!(
        other.requests().await.is_empty(),
        "the other port was never reached"
    );
}

#[tokio::test]
async fn help_never_shows_a_password_from_the_environment() {
    let env = TestEnv::new("secrets");
    for (binary, args) in [
        ("producer", &["--help"][..]),
        ("producer", &["crawl", "--help"][..]),
        ("worker", &["--help"][..]),
        ("aggregator", &["--help"][..]),
    ] {
        let mut command = env.command(binary);
        command
            .args(args)
            .env("AMQP_URL", "amqp://crawlq:s3cret-amqp@rabbit:5672/%2f")
            .env("REDIS_URL", "redis://:s3cret-redis@redis:6379/");
        let out = crawlq_tests::run(&mut command, LIMIT).await;
        out.assert_success();
        assert!(
            !out.stdout.contains("s3cret") && !out.stderr.contains("s3cret"),
            "{binary} {args:?} shows a password"
        );
        if args == ["--help"] {
            assert!(
                out.stdout.contains("AMQP_URL"),
                "{binary} {args:?} still names the variable"
            );
        }
    }
}
