//! The store contract, run on both implementations: Redis (through the Lua
//! scripts, on the real server) and memory (local mode). Applying a
//! completion counts once per task id, claims children within the page
//! budget, re-publishes a redelivered parent's unfinished children, and
//! finishes the crawl exactly once.

use std::sync::Arc;

use crawlq_core::memory_store::MemoryStore;
use crawlq_core::message::{DEFAULT_TAG_SELECTOR, Outcome, PageResult, Rules, task_id};
use crawlq_core::redis_store::RedisStore;
use crawlq_core::report::{CrawlState, TaskState};
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
        error: None,
        fetched_at_ms: 5,
        elapsed_ms: 1,
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
    let status = store.status(id).await.unwrap().unwrap();
    assert_eq!((status.queued, status.in_flight), (0, 1));
    assert_eq!(
        store.task(seed.task_id).await.unwrap().unwrap().state,
        TaskState::Running
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
    let applied = store.apply(&seed_result, children).await.unwrap();
    assert!(applied.known && applied.fresh && !applied.finished);
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

#[tokio::test]
async fn memory_store_keeps_the_contract() {
    contract(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn redis_store_keeps_the_contract() {
    let env = TestEnv::new("store");
    let store = RedisStore::connect(&crawlq_tests::redis_url(), &env.prefix)
        .await
        .unwrap();
    contract(Arc::new(store)).await;
}
