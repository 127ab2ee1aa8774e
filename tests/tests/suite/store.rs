//! The store contract, run on both implementations: Redis (through the Lua
//! scripts, on the real server) and memory (local mode). Applying a
//! completion counts once per task id, claims children within the page
//! budget, re-publishes a redelivered parent's unfinished children, and
//! finishes the crawl exactly once.

use std::sync::Arc;
use std::time::Duration;

use crawlq_core::memory::MemoryStore;
use crawlq_core::message::{DEFAULT_TAG_SELECTOR, Outcome, PageResult, Politeness, Rules, task_id};
use crawlq_core::politeness::{self, Acquire, Grant, LEASE, Pace};
use crawlq_core::redis::RedisStore;
use crawlq_core::report::{CrawlState, TaskState};
use crawlq_core::robots::RobotsRecord;
use crawlq_core::store::{Claim, CrawlKind, CrawlSpec, Start, Store};
use crawlq_tests::TestEnv;
use uuid::Uuid;

fn spec(max_pages: Option<u64>) -> CrawlSpec {
    CrawlSpec {
        crawl_id: Uuid::new_v4(),
        kind: CrawlKind::Crawl,
        seeds: vec!["http://s/seed".into()],
        rules: Rules {
            tag_selector: DEFAULT_TAG_SELECTOR.into(),
            link_pattern: ".".into(),
            allow_hosts: vec!["s".into()],
            max_depth: None,
            politeness: Default::default(),
        },
        max_pages,
        created_ms: 1,
        ttl_s: None,
    }
}

fn claim(crawl: Uuid, url: &str, depth: u32) -> Claim {
    Claim {
        task_id: task_id(crawl, url),
        url: url.into(),
        depth,
    }
}

fn result(crawl: Uuid, claim: &Claim, tags: &[&str]) -> PageResult {
    PageResult {
        crawl_id: crawl,
        task_id: claim.task_id,
        url: claim.url.clone(),
        final_url: None,
        depth: claim.depth,
        outcome: Outcome::Done,
        status: Some(200),
        title: Some(format!("title of {}", claim.url)),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        links: vec![],
        links_dropped: 0,
        tags_dropped: 0,
        error: None,
        fetched_at_ms: 5,
        elapsed_ms: 1,
        attempts: 1,
    }
}

async fn contract(store: Arc<dyn Store>) {
    let spec = spec(Some(4));
    let id = spec.crawl_id;
    let seed = claim(id, "http://s/seed", 0);
    let seeds = [seed.clone(), seed.clone()];
    assert_eq!(
        store.create_crawl(&spec, &seeds).await.unwrap(),
        vec![0],
        "a duplicate seed is claimed once"
    );

    assert_eq!(
        store.start_tasks(id, &[seed.task_id]).await.unwrap(),
        Some(vec![Start::Fetch])
    );
    assert_eq!(
        store.start_tasks(id, &[seed.task_id]).await.unwrap(),
        Some(vec![Start::Fetch]),
        "started twice counts once; nothing stored yet, so fetch it"
    );
    let never = task_id(id, "http://s/never-claimed");
    assert_eq!(
        store.start_tasks(id, &[never, seed.task_id]).await.unwrap(),
        Some(vec![Start::Unclaimed, Start::Fetch]),
        "a task the crawl never claimed is dropped"
    );
    let status = store.status(id).await.unwrap().unwrap();
    assert_eq!((status.queued, status.in_flight), (0, 1));
    assert_eq!(status.unclaimed, 1, "and counted");
    assert_eq!(
        store.task(seed.task_id).await.unwrap().unwrap().state,
        TaskState::Running
    );

    // A transient failure: retrying (twice marked, counted once), then its next try starts.
    let retry = crawlq_core::report::Retry {
        attempt: 2,
        next_try_ms: 7,
    };
    for _ in 0..2 {
        store.mark_retrying(id, seed.task_id, retry).await.unwrap();
    }
    let status = store.status(id).await.unwrap().unwrap();
    assert_eq!((status.in_flight, status.retrying), (0, 1));
    let view = store.task(seed.task_id).await.unwrap().unwrap();
    assert_eq!((view.state, view.retry), (TaskState::Retrying, Some(retry)));
    assert_eq!(
        store.start_tasks(id, &[seed.task_id]).await.unwrap(),
        Some(vec![Start::Fetch])
    );
    let status = store.status(id).await.unwrap().unwrap();
    assert_eq!(
        (status.in_flight, status.retrying),
        (1, 0),
        "its next try started"
    );

    let seed_result = result(id, &seed, &["a", "b"]);
    assert!(store.put_results(id, &[&seed_result]).await.unwrap());
    assert_eq!(
        store.start_tasks(id, &[seed.task_id]).await.unwrap(),
        Some(vec![Start::Stored(Box::new(seed_result.clone()))]),
        "a task whose result is stored is not fetched again"
    );
    let children: Vec<Claim> = ["x", "y", "z", "w", "seed"]
        .iter()
        .map(|p| claim(id, &format!("http://s/{p}"), 1))
        .collect();
    let children = &children[..];
    // Retrying again, then applied without a restart: it leaves the count.
    store.mark_retrying(id, seed.task_id, retry).await.unwrap();
    let applied = store.apply(&seed_result, children).await.unwrap();
    assert!(applied.known && applied.fresh && !applied.finished);
    let status = store.status(id).await.unwrap().unwrap();
    assert_eq!((status.retrying, status.done), (0, 1));
    store.mark_retrying(id, seed.task_id, retry).await.unwrap();
    assert_eq!(
        store.task(seed.task_id).await.unwrap().unwrap().state,
        TaskState::Done,
        "an ended task is never marked retrying"
    );
    assert_eq!(
        applied.publish,
        vec![0, 1, 2],
        "budget of 4 pages: seed + 3 children; the seed itself is not new"
    );

    // The same completion again before its children were marked published (the
    // aggregator died in between): no double count, the unfinished children again.
    let again = store.apply(&seed_result, children).await.unwrap();
    assert!(again.known && !again.fresh && !again.finished);
    assert_eq!(again.publish, vec![0, 1, 2]);
    // Once marked published, a copy of the completion publishes nothing.
    store.mark_expanded(id, &[seed.task_id]).await.unwrap();
    let copy = store.apply(&seed_result, children).await.unwrap();
    assert!(copy.known && !copy.fresh && copy.publish.is_empty());
    assert_eq!(
        store.tally(id).await.unwrap(),
        [("a".into(), 1), ("b".into(), 1)].into()
    );

    // Children complete; one of them is redelivered after it finished.
    for (i, child) in children[..3].iter().enumerate() {
        let mut r = result(id, child, &["a"]);
        if i == 2 {
            r.outcome = Outcome::Failed;
            r.status = Some(404);
            r.tags.clear();
            r.error = Some("HTTP 404".into());
        }
        store.start_tasks(id, &[child.task_id]).await.unwrap();
        store.put_results(id, &[&r]).await.unwrap();
        let applied = store.apply(&r, &[]).await.unwrap();
        assert_eq!(
            applied.finished,
            i == 2,
            "finished exactly with the last one"
        );
    }
    assert_eq!(
        store
            .start_tasks(id, &[children[0].task_id, children[2].task_id])
            .await
            .unwrap(),
        Some(vec![Start::Applied, Start::Applied]),
        "a task applied (done or failed) is skipped"
    );
    let redelivered_parent = store.apply(&seed_result, children).await.unwrap();
    assert!(
        redelivered_parent.publish.is_empty(),
        "finished children are not published again"
    );
    let x = result(id, &children[0], &["a"]);
    assert!(
        !store.apply(&x, &[]).await.unwrap().finished,
        "finishing is reported once"
    );

    let report = store.report(id).await.unwrap().unwrap();
    assert_eq!(report.status.state, CrawlState::Finished);
    assert_eq!(
        (
            report.status.done,
            report.status.failed,
            report.status.discovered
        ),
        (3, 1, 4)
    );
    assert_eq!(report.tag_counts, [("a".into(), 3), ("b".into(), 1)].into());
    assert_eq!(report.failures, [("HTTP 404".into(), 1)].into());
    assert_eq!(report.pages.len(), 4);
    assert_eq!(store.pages(id).await.unwrap().len(), 4);

    // A completion for a task never claimed is ignored; unknown crawls are reported as such.
    let stranger = result(id, &claim(id, "http://s/never", 1), &["zzz"]);
    let ignored = store.apply(&stranger, &[]).await.unwrap();
    assert!(ignored.known && !ignored.fresh);
    assert!(!store.tally(id).await.unwrap().contains_key("zzz"));
    let view = store.task(children[1].task_id).await.unwrap().unwrap();
    assert_eq!(
        (view.crawl_id, view.state, view.depth),
        (id, TaskState::Done, 1)
    );

    assert!(store.delete(id).await.unwrap());
    assert!(!store.delete(id).await.unwrap());
    assert!(store.status(id).await.unwrap().is_none());
    assert_eq!(store.start_tasks(id, &[seed.task_id]).await.unwrap(), None);
    assert!(!store.put_results(id, &[&seed_result]).await.unwrap());
    assert!(!store.apply(&seed_result, children).await.unwrap().known);
    assert!(store.task(seed.task_id).await.unwrap().is_none());
}

/// The politeness half of the contract: lanes, queueing in order, dispatch
/// on release, reservations for the host delay, pauses, the robots.txt
/// holder, and lanes of a dead worker coming back when their leases expire.
async fn hosts_contract(store: Arc<dyn Store>) {
    let crawl = Uuid::new_v4();
    let host = |name: &str| format!("http://{name}-{}:8080", crawl.simple());
    let limits = |host_concurrency, host_delay_ms, robots| Politeness {
        host_concurrency,
        host_delay_ms,
        robots,
    };
    let ask =
        |origin: &str, lease: &str, reserved: Option<&str>, limits: Politeness, task: &str| {
            let (origin, lease, reserved, entry) = (
                origin.to_owned(),
                lease.to_owned(),
                reserved.map(str::to_owned),
                politeness::entry(limits, task, task),
            );
            let store = store.clone();
            async move {
                let ask = Acquire {
                    origin: &origin,
                    crawl_id: crawl,
                    lease: &lease,
                    reserved: reserved.as_deref(),
                    limits,
                    entry: &entry,
                    durable: reserved.is_some(),
                };
                store.hosts().acquire(&ask).await.unwrap()
            }
        };
    let go = Grant::Go {
        fetch_robots: false,
    };

    // One lane: the first goes, the next two queue in order; a release hands
    // the first queued its lane, which it then takes with its lease.
    let one = host("one");
    let single = limits(1, 0, false);
    assert_eq!(ask(&one, "a", None, single, "t1").await, go);
    assert_eq!(ask(&one, "b", None, single, "t2").await, Grant::Parked);
    assert_eq!(ask(&one, "c", None, single, "t3").await, Grant::Parked);
    // The broker delivers a queued task again: the store keeps one copy.
    assert_eq!(ask(&one, "b'", None, single, "t2").await, Grant::Parked);
    let views = store
        .hosts()
        .host_views(std::slice::from_ref(&one))
        .await
        .unwrap();
    assert_eq!((views[0].in_flight, views[0].queued), (1, 2));
    let handed = store
        .hosts()
        .release(&one, "a", Pace::Normal)
        .await
        .unwrap();
    assert_eq!(handed.len(), 1, "one lane frees one queued task");
    assert_eq!(handed[0].entry, politeness::entry(single, "t2", "t2"));
    assert!(handed[0].after < Duration::from_millis(5));
    assert_eq!(
        ask(&one, "b2", Some(&handed[0].lease), single, "t2").await,
        go
    );
    assert_eq!(
        ask(&one, "x", Some("no-such-lease"), single, "t9").await,
        Grant::Gone,
        "a lease that is not held is gone"
    );
    // A Retry-After pauses the host: nothing is handed out during the pause.
    let handed = store
        .hosts()
        .release(&one, "b2", Pace::PauseFor(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(handed.is_empty(), "{handed:?}");
    let views = store
        .hosts()
        .host_views(std::slice::from_ref(&one))
        .await
        .unwrap();
    assert_eq!((views[0].in_flight, views[0].queued), (0, 1));
    assert!(views[0].paused_ms > 29_000, "{views:?}");

    // A host delay reserves later starts, each a delay after the last.
    let paced = host("paced");
    let delayed = limits(0, 300, false);
    assert_eq!(ask(&paced, "a", None, delayed, "t1").await, go);
    let Grant::Later(first) = ask(&paced, "b", None, delayed, "t2").await else {
        panic!("a reservation")
    };
    let Grant::Later(second) = ask(&paced, "c", None, delayed, "t3").await else {
        panic!("a reservation")
    };
    // 300 ms and its margin, 50 ms.
    assert!(
        first <= Duration::from_millis(350) && first >= Duration::from_millis(300),
        "{first:?}"
    );
    assert!(
        second >= first + Duration::from_millis(340),
        "{first:?} then {second:?}"
    );

    // robots.txt: the first request of the crawl fetches it, the others wait
    // for its record, which lets them go.
    let polite = host("robots");
    let obeying = limits(2, 0, true);
    assert_eq!(
        ask(&polite, "a", None, obeying, "t1").await,
        Grant::Go { fetch_robots: true }
    );
    assert_eq!(ask(&polite, "b", None, obeying, "t2").await, Grant::Parked);
    let handed = store
        .hosts()
        .put_robots(crawl, &polite, &RobotsRecord::AllowAll, 0, Pace::Normal)
        .await
        .unwrap();
    assert_eq!(handed.len(), 1, "the waiting request may go: {handed:?}");
    assert_eq!(
        store.hosts().robots(crawl, &polite).await.unwrap(),
        Some(RobotsRecord::AllowAll)
    );

    // A Crawl-delay paces the host for the crawls that obey robots.txt.
    let slow = host("crawldelay");
    assert_eq!(
        ask(&slow, "a", None, obeying, "t1").await,
        Grant::Go { fetch_robots: true }
    );
    let record = RobotsRecord::Rules("Crawl-delay: 0.4".into());
    store
        .hosts()
        .put_robots(crawl, &slow, &record, 400, Pace::Normal)
        .await
        .unwrap();
    assert_eq!(
        ask(&slow, "b", Some("a"), obeying, "t1").await,
        go,
        "the page after robots.txt"
    );
    let Grant::Later(wait) = ask(&slow, "c", None, obeying, "t2").await else {
        panic!("a reservation")
    };
    assert!(wait >= Duration::from_millis(400), "{wait:?}");

    // A dead worker's lanes come back when their leases expire, and a task
    // it held (dispatched to it) goes back to the front of the queue.
    let dead = host("dead");
    assert_eq!(ask(&dead, "a", None, single, "t1").await, go);
    assert_eq!(ask(&dead, "b", None, single, "t2").await, Grant::Parked);
    tokio::time::sleep(LEASE + Duration::from_millis(700)).await;
    let handed = store.hosts().sweep().await.unwrap();
    let mine: Vec<_> = handed.iter().filter(|d| d.origin == dead).collect();
    assert_eq!(mine.len(), 1, "{handed:?}");
    assert_eq!(mine[0].entry, politeness::entry(single, "t2", "t2"));
    // That worker dies too: the task comes back once more.
    tokio::time::sleep(LEASE + Duration::from_millis(700)).await;
    let again: Vec<_> = store
        .hosts()
        .sweep()
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.origin == dead)
        .collect();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].entry, politeness::entry(single, "t2", "t2"));
}

/// Pages reached by redirect: the page's own task keeps it when the crawl has
/// one, else the first task to land on it, and such a page is never claimed
/// again as a link.
async fn finals_contract(store: Arc<dyn Store>) {
    let spec = spec(None);
    let id = spec.crawl_id;
    let seed = claim(id, "http://s/seed", 0);
    store
        .create_crawl(&spec, std::slice::from_ref(&seed))
        .await
        .unwrap();
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(
        store.claim_final(id, seed.task_id, first).await.unwrap(),
        Some(seed.task_id),
        "a page with its own task is kept by it"
    );
    let landed = claim(id, "http://s/landed", 1);
    assert_eq!(
        store.claim_final(id, landed.task_id, first).await.unwrap(),
        Some(first)
    );
    assert_eq!(
        store.claim_final(id, landed.task_id, second).await.unwrap(),
        Some(first),
        "the first to land keeps it"
    );
    let other = claim(id, "http://s/other", 1);
    let applied = store
        .apply(&result(id, &seed, &["a"]), &[landed.clone(), other.clone()])
        .await
        .unwrap();
    assert_eq!(
        applied.publish,
        vec![1],
        "the landed page is not claimed as a link"
    );
    assert_eq!(
        store
            .claim_final(Uuid::new_v4(), landed.task_id, first)
            .await
            .unwrap(),
        None
    );
    assert!(store.delete(id).await.unwrap());
}

#[tokio::test]
async fn memory_store_keeps_the_contract() {
    let store = Arc::new(MemoryStore::new());
    contract(store.clone()).await;
    finals_contract(store).await;
}

#[tokio::test]
async fn memory_store_keeps_the_hosts_contract() {
    hosts_contract(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn redis_store_keeps_the_hosts_contract() {
    let env = TestEnv::new("hosts");
    let store = RedisStore::connect(&crawlq_tests::redis_url(), &env.prefix)
        .await
        .unwrap();
    hosts_contract(Arc::new(store)).await;
}

#[tokio::test]
async fn redis_store_keeps_the_contract() {
    let env = TestEnv::new("store");
    let store = RedisStore::connect(&crawlq_tests::redis_url(), &env.prefix)
        .await
        .unwrap();
    let store = Arc::new(store);
    contract(store.clone()).await;
    finals_contract(store).await;
}
