//! The in-process tier: the worker's and the aggregator's own code on the
//! memory transport and store, driven directly (no subprocess, no broker, no
//! Redis), against the fixture site served in this process. Covers a crawl
//! that equals the site's truth, a redelivered task and completion that
//! change nothing, and poison messages that are dead-lettered with a reason.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use crawlq_core::memory::MemoryStore;
use crawlq_core::memory::MemoryTransport;
use crawlq_core::message::{self, Completion, MESSAGE_VERSION};
use crawlq_core::report::{CrawlState, Report};
use crawlq_core::store::Store;
use crawlq_core::transport::{Queue, Transport};
use crawlq_services::aggregator::AggregatorConfig;
use crawlq_services::local::LocalCluster;
use fixture_site::server::{Behaviour, serve};
use fixture_site::{Site, SiteConfig};

const SEED: &str = "/questions/tagged/python";

/// The worker's flags, as its command line takes them.
#[derive(Parser)]
struct WorkerFlags {
    #[command(flatten)]
    config: crawlq_services::worker::WorkerConfig,
}

/// `producer crawl`'s arguments, as its command line takes them.
#[derive(Parser)]
struct CrawlFlags {
    #[command(flatten)]
    args: producer::CrawlArgs,
}

fn config() -> SiteConfig {
    SiteConfig {
        pages: 120,
        seed: 31,
        min_bytes: 2 * 1024,
        max_bytes: 6 * 1024,
        flaky_every: 0,
        broken_every: 9,
        robots_every: 0,
    }
}

/// Everything one crawl needs, in this process.
struct Stack {
    /// The worker and the aggregator: they stop when the stack is dropped.
    _cluster: LocalCluster,
    store: Arc<MemoryStore>,
    transport: Arc<MemoryTransport>,
    base: String,
    /// The site's servers: they stop when the stack is dropped.
    _site: tokio::task::JoinSet<()>,
}

impl Stack {
    async fn start() -> Self {
        let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (addrs, servers) = serve(Site::new(config()), &[localhost], 0, Behaviour::default())
            .await
            .unwrap();
        let flags = WorkerFlags::try_parse_from(["worker", "--allow-private", "all"]).unwrap();
        let cluster = LocalCluster::start(&flags.config, &AggregatorConfig::default());
        Self {
            store: cluster.store().clone(),
            transport: cluster.transport().clone(),
            _cluster: cluster,
            base: format!("http://{}", addrs[0]),
            _site: servers,
        }
    }

    async fn report(&self, crawl_id: uuid::Uuid) -> Report {
        for _ in 0..600 {
            let status = self.store.status(crawl_id).await.unwrap().unwrap();
            if status.state == CrawlState::Finished {
                return self.store.report(crawl_id).await.unwrap().unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the crawl did not finish in 30 s");
    }

    /// Waits until `count` messages are dead-lettered.
    async fn dead_letters(&self, count: usize) -> Vec<crawlq_core::transport::DeadLetter> {
        for _ in 0..200 {
            let dead = self.transport.dead_letters();
            if dead.len() >= count {
                return dead;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{count} dead letters never came");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_in_process_equals_the_truth_and_redeliveries_change_nothing() {
    let stack = Stack::start().await;
    let truth = Site::new(config()).truth(&stack.base, &[SEED.to_owned()]);
    let args = CrawlFlags::try_parse_from(["crawl", &format!("{}{SEED}", stack.base)])
        .unwrap()
        .args;
    let plan = producer::submit::plan_crawl(&args).unwrap();
    let crawl_id = plan.spec.crawl_id;
    producer::submit::start(&*stack.store, &*stack.transport, &plan.spec)
        .await
        .unwrap();
    let report = stack.report(crawl_id).await;
    assert_eq!(
        report.tag_counts, truth.tag_counts,
        "the tally is the truth"
    );
    assert_eq!(report.pages.len(), truth.pages.len(), "every page once");
    assert!(report.status.failed > 0, "the broken pages are recorded");

    // The seed's task and its completion, delivered again: nothing changes.
    let seed = report.pages.iter().find(|page| page.depth == 0).unwrap();
    let view = stack.store.task(seed.task_id).await.unwrap().unwrap();
    let spec = stack.store.spec(crawl_id).await.unwrap().unwrap();
    let task = crawlq_core::store::Claim::new(crawl_id, &view.url, 0).task(crawl_id, &spec.rules);
    let completion = Completion {
        v: MESSAGE_VERSION,
        rules: spec.rules.clone(),
        result: view.result.clone().unwrap(),
    };
    let batch = message::CompletionBatch {
        v: MESSAGE_VERSION,
        crawl_id,
        completions: vec![completion],
    };
    crawlq_core::transport::publish_tasks(&*stack.transport, &[task])
        .await
        .unwrap();
    stack
        .transport
        .publish(Queue::Completions, vec![message::encode(&batch)])
        .await
        .unwrap();
    // Poison after them, on both queues: once both are dead-lettered, the
    // copies ahead of them were taken.
    stack
        .transport
        .publish(Queue::Tasks, vec![b"not a task".to_vec()])
        .await
        .unwrap();
    stack
        .transport
        .publish(Queue::Completions, vec![b"{\"v\":1}".to_vec()])
        .await
        .unwrap();
    let dead = stack.dead_letters(2).await;
    let mut reasons: Vec<&str> = dead.iter().map(|d| d.reason.as_str()).collect();
    reasons.sort_unstable();
    assert!(
        reasons[0].starts_with("undecodable completion"),
        "{reasons:?}"
    );
    assert!(reasons[1].starts_with("undecodable task"), "{reasons:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = stack.store.report(crawl_id).await.unwrap().unwrap();
    assert_eq!(again.tag_counts, report.tag_counts, "counted once");
    assert_eq!(
        (
            again.status.done,
            again.status.failed,
            again.status.discovered
        ),
        (
            report.status.done,
            report.status.failed,
            report.status.discovered
        )
    );
    assert_eq!(again.status.state, CrawlState::Finished);
}
