//! The distributed crawl end to end: the fixture site, worker and aggregator
//! processes, and `producer` against the real RabbitMQ and Redis. Every
//! assertion is exact: the report equals the site's truth, and every page is
//! requested exactly once.

use std::collections::BTreeMap;
use std::time::Duration;

use crawlq_core::report::{Report, TaskState};
use crawlq_tests::{Site, TestEnv};
use fixture_site::Truth;
use fixture_site::hostile::Expect;
use serde_json::json;

/// Generous bound for one crawl of a few thousand pages on a 2-core machine.
const CRAWL_LIMIT: Duration = Duration::from_secs(600);
const SEED: &str = "/questions/tagged/python";

/// Asserts the report holds exactly the truth's pages and tally.
fn assert_matches_truth(report: &Report, truth: &Truth) {
    let pages: BTreeMap<&str, _> = report.pages.iter().map(|p| (p.url.as_str(), p)).collect();
    let missing: Vec<_> = truth
        .pages
        .keys()
        .filter(|u| !pages.contains_key(u.as_str()))
        .collect();
    let extra: Vec<_> = pages
        .keys()
        .filter(|u| !truth.pages.contains_key(**u))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}\nextra {extra:?}"
    );
    for (url, want) in &truth.pages {
        let got = pages[url.as_str()];
        assert_eq!(
            (got.status, &got.title, &got.tags, got.depth),
            (Some(want.status), &want.title, &want.tags, want.depth),
            "page {url}"
        );
        let state = if want.status == 200 {
            TaskState::Done
        } else {
            TaskState::Failed
        };
        assert_eq!(got.state, state, "state of {url}");
    }
    assert_eq!(report.tag_counts, truth.tag_counts, "tag tally");
    let failed = truth.pages.values().filter(|p| p.status != 200).count() as u64;
    assert_eq!(report.status.failed, failed);
    assert_eq!(report.status.done, truth.pages.len() as u64 - failed);
}

/// A page's url, status, title, tags, error and depth.
type PageFacts = (
    String,
    Option<u16>,
    Option<String>,
    Vec<String>,
    Option<String>,
    u32,
);

/// The report without what differs between two runs of the same crawl (ids, timings).
fn stable(report: &Report) -> Vec<PageFacts> {
    report
        .pages
        .iter()
        .map(|p| {
            (
                p.url.clone(),
                p.status,
                p.title.clone(),
                p.tags.clone(),
                p.error.clone(),
                p.depth,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn full_crawl_equals_truth_fetches_each_page_once_and_repeats_identically() {
    let site = Site::start(&["--pages", "2000", "--seed", "1"]).await;
    let mut env = TestEnv::new("full");
    env.start_stack(2, 1);
    let seed = format!("{}{SEED}", site.base);

    let out = env
        .producer(&["crawl", &seed, "--wait", "--json"], CRAWL_LIMIT)
        .await;
    let (crawl_id, report): (String, Report) = out.assert_success().id_and_json();
    assert_eq!(
        crawl_id,
        report.status.crawl_id.to_string(),
        "crawl id printed first"
    );
    let truth = site.truth(&[SEED]).await;
    assert!(
        truth.pages.len() > 1900,
        "the site should reach most of its 2000 pages"
    );
    assert_matches_truth(&report, &truth);

    let stats = site.stats().await;
    let truth_paths: BTreeMap<String, u64> = truth
        .pages
        .keys()
        .map(|url| (url.trim_start_matches(&site.base).to_owned(), 1))
        .collect();
    assert_eq!(
        stats, truth_paths,
        "every reachable page requested exactly once, nothing else"
    );

    // One future, read back by its task id.
    let page = report.pages.iter().find(|p| p.status == Some(200)).unwrap();
    let out = env
        .producer(
            &["result", &page.task_id.to_string(), "--json"],
            CRAWL_LIMIT,
        )
        .await;
    let view: crawlq_core::report::TaskView =
        serde_json::from_str(&out.assert_success().stdout).unwrap();
    let result = view.result.unwrap();
    assert_eq!(
        (view.state, &result.title, &result.tags),
        (TaskState::Done, &page.title, &page.tags)
    );
    assert!(!result.links.is_empty());

    let again = env
        .producer(
            &["crawl", &seed, "--wait", "--json", "--quiet"],
            CRAWL_LIMIT,
        )
        .await;
    let (second_id, second): (String, Report) = again.assert_success().id_and_json();
    assert_ne!(second_id, crawl_id);
    assert_eq!(stable(&second), stable(&report), "same crawl, same report");
    assert_eq!(second.tag_counts, report.tag_counts);
}

#[tokio::test(flavor = "multi_thread")]
async fn max_pages_stops_at_exactly_that_many_pages() {
    let site = Site::start(&["--pages", "2000", "--seed", "2"]).await;
    let mut env = TestEnv::new("maxpages");
    env.start_stack(2, 1);
    let seed = format!("{}{SEED}", site.base);
    let out = env
        .producer(
            &["crawl", &seed, "--max-pages", "100", "--wait", "--json"],
            CRAWL_LIMIT,
        )
        .await;
    let (_, report): (String, Report) = out.assert_success().id_and_json();
    assert_eq!(report.pages.len(), 100);
    assert_eq!(report.status.done + report.status.failed, 100);
    assert_eq!(report.status.discovered, 100);
    let truth = site.truth(&[SEED]).await;
    crawlq_tests::assert_pages_in_truth(&report, &truth);
    let tally = crawlq_tests::tally_of_pages(&report);
    assert_eq!(
        report.tag_counts, tally,
        "the tally counts exactly the crawled pages"
    );
    let requests: u64 = site.stats().await.values().sum();
    assert_eq!(requests, 100, "exactly 100 pages fetched");
}

#[tokio::test(flavor = "multi_thread")]
async fn submit_scrapes_a_fixed_list_without_following_links() {
    let site = Site::start(&["--pages", "300", "--seed", "3"]).await;
    let mut env = TestEnv::new("submit");
    env.start_stack(2, 1);
    let truth = site.truth(&[SEED]).await;
    let mut urls: Vec<&String> = truth
        .pages
        .iter()
        .filter(|(_, p)| p.status == 200)
        .map(|(u, _)| u)
        .take(48)
        .collect();
    let missing = format!("{}/questions/1/not-there", site.base);
    let not_html = format!("{}/__stats", site.base);
    urls.push(&missing);
    urls.push(&not_html);
    let list = env.log_dir.join("urls.txt");
    let text: String = urls.iter().map(|u| format!("{u}\n")).collect();
    std::fs::write(&list, format!("# fifty URLs\n\n{text}")).unwrap();

    let out = env
        .producer(
            &[
                "submit",
                "--urls",
                list.to_str().unwrap(),
                "--wait",
                "--json",
            ],
            CRAWL_LIMIT,
        )
        .await;
    let (_, report): (String, Report) = out.assert_success().id_and_json();
    assert_eq!(report.pages.len(), 50);
    assert_eq!((report.status.done, report.status.failed), (48, 2));
    for page in &report.pages {
        assert_eq!(page.depth, 0);
        if let Some(want) = truth.pages.get(&page.url) {
            assert_eq!(
                (page.status, &page.title, &page.tags),
                (Some(200), &want.title, &want.tags)
            );
        }
    }
    let failure = |url: &str| report.pages.iter().find(|p| p.url == url).unwrap();
    assert_eq!(
        (failure(&missing).status, failure(&missing).error.as_deref()),
        (Some(404), Some("HTTP 404"))
    );
    assert_eq!(failure(&not_html).status, Some(200));
    assert!(
        failure(&not_html)
            .error
            .as_deref()
            .unwrap()
            .starts_with("not HTML"),
        "{:?}",
        failure(&not_html)
    );
    let page_requests: u64 = site
        .stats()
        .await
        .iter()
        .filter(|(p, _)| p.starts_with("/questions"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(page_requests, 49, "48 pages and one 404, no links followed");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_crawls_at_once_on_one_stack_do_not_mix() {
    let (a, b) = tokio::join!(
        Site::start(&["--pages", "600", "--seed", "4"]),
        Site::start(&["--pages", "600", "--seed", "5"])
    );
    let mut env = TestEnv::new("two");
    env.start_stack(2, 1);
    let (seed_a, seed_b) = (
        format!("{}{SEED}", a.base),
        format!("{}/questions/tagged/rust", b.base),
    );
    let args_a = ["crawl", &seed_a, "--wait", "--json", "--quiet"];
    let args_b = ["crawl", &seed_b, "--wait", "--json", "--quiet"];
    let (out_a, out_b) = tokio::join!(
        env.producer(&args_a, CRAWL_LIMIT),
        env.producer(&args_b, CRAWL_LIMIT)
    );
    let (_, report_a): (String, Report) = out_a.assert_success().id_and_json();
    let (_, report_b): (String, Report) = out_b.assert_success().id_and_json();
    assert_matches_truth(&report_a, &a.truth(&[SEED]).await);
    assert_matches_truth(&report_b, &b.truth(&["/questions/tagged/rust"]).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn urls_redirecting_to_one_page_count_it_once_in_either_mode() {
    let site = Site::start(&[
        "--pages", "100", "--seed", "41", "--min-kb", "2", "--max-kb", "4",
    ])
    .await;
    let truth = site.truth(&[SEED]).await;
    let mut questions = truth
        .pages
        .iter()
        .filter(|(url, page)| page.status == 200 && url.contains("/questions/1"));
    let (a, page_a) = questions.next().unwrap();
    let (b, page_b) = questions.next().unwrap();
    let redirect = |to: &str| format!("{}/__redirect?to={to}", site.base);
    // Two URLs land on A, which the crawl has under no URL of its own: the
    // first to land keeps it. One lands on B, which is in the list itself:
    // B's own task keeps it.
    let (to_a, to_a_again, to_b) = (
        redirect(a),
        redirect(&format!("{a}%23answers")),
        redirect(b),
    );
    let mut env = TestEnv::new("redirects");
    env.start_stack(2, 1);
    let file = env.url_list([&to_a, &to_a_again, b, &to_b]);
    let file = file.as_str();
    let mut reports = Vec::new();
    for local in [false, true] {
        let mut args = vec!["submit", "--urls", file, "--json", "--quiet"];
        args.push(if local { "--local" } else { "--wait" });
        let out = env.producer(&args, CRAWL_LIMIT).await;
        let (_, report): (String, Report) = out.assert_success().id_and_json();
        reports.push(report);
    }
    for report in &reports {
        let page = |url: &str| report.pages.iter().find(|p| p.url == url).unwrap();
        let counted = crawlq_services::worker::REDIRECTED_TO_A_COUNTED_PAGE;
        let (first, second) = (page(&to_a), page(&to_a_again));
        let kept: Vec<_> = [first, second]
            .into_iter()
            .filter(|p| p.error.is_none())
            .collect();
        assert_eq!(
            kept.len(),
            1,
            "one of the two keeps A: {first:?} {second:?}"
        );
        assert_eq!(kept[0].tags, page_a.tags);
        assert_eq!(page(b).tags, page_b.tags, "B's own task keeps B");
        assert_eq!(page(&to_b).error.as_deref(), Some(counted));
        assert_eq!(report.failures.get(counted).copied(), Some(2), "{report:?}");
        let mut tally: BTreeMap<String, u64> = BTreeMap::new();
        for tag in page_a.tags.iter().chain(&page_b.tags) {
            *tally.entry(tag.clone()).or_insert(0) += 1;
        }
        assert_eq!(report.tag_counts, tally, "A and B counted once each");
    }
}

/// Whether text printed to a terminal carries a control character other than
/// newline and tab, or a bidirectional override.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| {
            (c.is_control() && !matches!(c, '\n' | '\t'))
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn page_text_reaches_no_terminal_with_its_control_characters() {
    let site = Site::start(&[
        "--pages", "20", "--seed", "42", "--min-kb", "2", "--max-kb", "4",
    ])
    .await;
    let mut env = TestEnv::new("ansi");
    env.start_stack(1, 1);
    let list = env.url_list([format!("{}/__ansi", site.base)]);
    let list = list.as_str();
    let out = env
        .producer(
            &["submit", "--urls", list, "--wait", "--quiet"],
            CRAWL_LIMIT,
        )
        .await;
    let text = out.assert_success().stdout.clone();
    // The text report's first line: "crawl ID: finished".
    let crawl_id = text
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("crawl "))
        .and_then(|line| line.split(':').next())
        .unwrap_or_else(|| panic!("a report heading: {text}"))
        .to_owned();
    let report = env.wait_report(&crawl_id).await;
    let page = &report.pages[0];
    assert!(
        page.tags.iter().any(|t| t.contains('\u{1b}')),
        "the page's tags do carry escapes: {:?}",
        page.tags
    );
    let task_id = page.task_id.to_string();
    let mut outputs = vec![("submit --wait", text)];
    for args in [
        vec!["report", &crawl_id],
        vec!["result", &task_id],
        vec!["status", &crawl_id],
        vec!["export", &crawl_id, "--format", "csv"],
    ] {
        let out = env.producer(&args, CRAWL_LIMIT).await;
        outputs.push((args[0], out.assert_success().stdout.clone()));
    }
    for (command, stdout) in &outputs {
        assert!(
            stdout.contains("\\u{1b}") || *command == "status",
            "{command}: {stdout}"
        );
        assert_eq!(
            raw_controls(stdout),
            Vec::<char>::new(),
            "{command}: {stdout:?}"
        );
    }
    // JSON, for programs, keeps the text exact: JSON escapes control characters.
    let out = env
        .producer(&["result", &task_id, "--json"], CRAWL_LIMIT)
        .await;
    assert!(!out.assert_success().stdout.contains('\u{1b}'));
    assert!(out.stdout.contains("\\u001b"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_hostile_page_ends_as_its_expected_recorded_result_in_either_mode() {
    let site = Site::start(&[
        "--pages", "20", "--seed", "43", "--min-kb", "2", "--max-kb", "4",
    ])
    .await;
    let cases = fixture_site::hostile::cases();
    let mut env = TestEnv::new("hostile");
    // A short total timeout for the servers that trickle or never answer.
    let limits = ["--timeout-secs", "3", "--max-retries", "0"];
    env.spawn("worker", &[&["--concurrency", "16"][..], &limits].concat());
    env.spawn("aggregator", &[]);
    let list = env.url_list(
        cases
            .iter()
            .map(|case| format!("{}{}", site.base, case.path)),
    );
    for mode in ["--wait", "--local"] {
        let output = env.log_dir.join(format!("hostile{mode}.jsonl"));
        let output = output.to_str().unwrap();
        let mut args = vec![
            "submit", "--urls", &list, mode, "--json", "--quiet", "--output", output,
        ];
        if mode == "--local" {
            args.extend(limits);
        }
        env.producer(&args, CRAWL_LIMIT).await.assert_success();
        let pages: BTreeMap<String, serde_json::Value> = std::fs::read_to_string(output)
            .unwrap()
            .lines()
            .map(|line| {
                let page: serde_json::Value = serde_json::from_str(line).unwrap();
                (page["url"].as_str().unwrap().to_owned(), page)
            })
            .collect();
        assert_eq!(pages.len(), cases.len(), "{mode}: one result per page");
        for case in &cases {
            let page = &pages[&format!("{}{}", site.base, case.path)];
            let seen = |key: &str| page[key].clone();
            match &case.expect {
                Expect::Done {
                    title,
                    tags,
                    links,
                    links_dropped,
                    tags_dropped,
                } => {
                    assert_eq!(
                        (
                            seen("state"),
                            seen("status"),
                            seen("title"),
                            seen("tags"),
                            seen("links").as_array().map(Vec::len),
                            seen("links_dropped"),
                            seen("tags_dropped"),
                        ),
                        (
                            json!("done"),
                            json!(200),
                            json!(title),
                            json!(tags),
                            Some(*links),
                            json!(links_dropped),
                            json!(tags_dropped),
                        ),
                        "{mode}: {} ({})",
                        case.path,
                        case.what
                    );
                }
                Expect::Failed { status, error } => {
                    assert_eq!(
                        (seen("state"), seen("status")),
                        (json!("failed"), json!(status)),
                        "{mode}: {} ({}): {page}",
                        case.path,
                        case.what
                    );
                    let recorded = page["error"].as_str().unwrap_or_default();
                    assert!(
                        recorded.starts_with(error),
                        "{mode}: {} ({}): recorded {recorded:?}, expected {error:?}",
                        case.path,
                        case.what
                    );
                }
            }
        }
    }
}
