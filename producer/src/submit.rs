//! Turning `crawl` and `submit` arguments into a crawl: validate everything
//! first (so bad input costs nothing), then record the crawl and its seeds in
//! the store and publish the seed tasks, confirmed.

use std::collections::BTreeSet;
use std::io::Read as _;

use crawlq_core::cli::ConnectArgs;
use crawlq_core::extract::Extractor;
use crawlq_core::links::{
    DEFAULT_LINK_PATTERN, allow_host_entries, canonical_seed, seed_host_entry,
};
use crawlq_core::message::{Rules, Task};
use crawlq_core::report::now_ms;
use crawlq_core::store::{Claim, CrawlKind, CrawlSpec, Store};
use crawlq_core::transport::{self, Transport};
use uuid::Uuid;

use crate::wait::{self, Mode};
use crate::{BadInput, CrawlArgs, Exit, SubmitArgs, WaitArgs, out};

/// A validated crawl, ready to launch.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The spec to store.
    pub spec: CrawlSpec,
}

/// Validates `crawl` arguments.
pub fn plan_crawl(args: &CrawlArgs) -> Result<Plan, BadInput> {
    let seeds = args
        .seeds
        .iter()
        .map(|s| canonical_seed(s).map(String::from))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BadInput(e.to_string()))?;
    let rules = Rules {
        tag_selector: args.tag_selector.clone(),
        link_pattern: args.link_pattern.clone(),
        allow_hosts: args.allow_hosts.clone(),
        max_depth: args.max_depth,
        politeness: args.politeness.politeness(),
    };
    plan(CrawlKind::Crawl, seeds, args.max_pages, rules, args.run.ttl)
}

/// Validates `submit` arguments and reads the URL list.
pub fn plan_submit(args: &SubmitArgs) -> Result<Plan, BadInput> {
    let text = if args.urls == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| BadInput(format!("cannot read URLs from stdin: {e}")))?;
        text
    } else {
        std::fs::read_to_string(&args.urls)
            .map_err(|e| BadInput(format!("cannot read URL file '{}': {e}", args.urls)))?
    };
    let mut seeds = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let url = canonical_seed(line)
            .map_err(|e| BadInput(format!("{} line {}: {e}", args.urls, n + 1)))?;
        seeds.push(String::from(url));
    }
    if seeds.is_empty() {
        return Err(BadInput(format!(
            "{} holds no URLs: give one http(s) URL per line",
            args.urls
        )));
    }
    let rules = Rules {
        tag_selector: args.tag_selector.clone(),
        link_pattern: DEFAULT_LINK_PATTERN.to_owned(),
        allow_hosts: Vec::new(),
        max_depth: Some(0),
        politeness: args.politeness.politeness(),
    };
    plan(CrawlKind::Submit, seeds, None, rules, args.run.ttl)
}

/// Completes `rules` (whose `allow_hosts` are the `--allow-host`s as typed)
/// with the seeds' hosts, checks them, and makes the crawl's spec.
fn plan(
    kind: CrawlKind,
    seeds: Vec<String>,
    max_pages: Option<u64>,
    mut rules: Rules,
    ttl: std::time::Duration,
) -> Result<Plan, BadInput> {
    let mut hosts = BTreeSet::new();
    for entry in &rules.allow_hosts {
        hosts
            .extend(allow_host_entries(entry).map_err(|e| BadInput(format!("--allow-host: {e}")))?);
    }
    hosts.extend(
        seeds
            .iter()
            .filter_map(|seed| url::Url::parse(seed).ok())
            .filter_map(|seed| seed_host_entry(&seed)),
    );
    rules.allow_hosts = hosts.into_iter().collect();
    Extractor::new(&rules)
        .map_err(|e| BadInput(format!("{e}: fix --tag-selector or --link-pattern")))?;
    let mut unique = BTreeSet::new();
    let seeds = seeds
        .into_iter()
        .filter(|s| unique.insert(s.clone()))
        .collect();
    Ok(Plan {
        spec: CrawlSpec {
            crawl_id: Uuid::new_v4(),
            kind,
            seeds,
            rules,
            max_pages,
            created_ms: now_ms(),
            ttl_s: (!ttl.is_zero()).then(|| ttl.as_secs().max(1)),
        },
    })
}

/// Records the crawl and claims its seeds in `store`, then publishes the seed tasks.
pub async fn start(
    store: &dyn Store,
    transport: &dyn Transport,
    spec: &CrawlSpec,
) -> anyhow::Result<()> {
    let claims: Vec<Claim> = spec
        .seeds
        .iter()
        .map(|url| Claim::new(spec.crawl_id, url, 0))
        .collect();
    let publish = store.create_crawl(spec, &claims).await?;
    let tasks: Vec<Task> = publish
        .iter()
        .filter_map(|&i| claims.get(i))
        .map(|claim| claim.task(spec.crawl_id, &spec.rules))
        .collect();
    transport::publish_tasks(transport, &tasks).await?;
    Ok(())
}

/// Starts the crawl on RabbitMQ and Redis and prints its id; with `--wait`,
/// follows it to its end.
pub async fn launch(
    connect: &ConnectArgs,
    mut plan: Plan,
    wait: &WaitArgs,
    json: bool,
) -> anyhow::Result<Exit> {
    let (store, amqp) = crate::connect(connect).await?;
    plan.spec.created_ms = now_ms();
    start(&*store, &*amqp, &plan.spec).await?;
    amqp.close().await;
    let crawl_id = plan.spec.crawl_id;
    if !wait.wait {
        if json {
            out::json(&serde_json::json!({ "crawl_id": crawl_id }))?;
        } else {
            out::text(&format!("{crawl_id}\n"))?;
        }
        return Ok(Exit::Ok);
    }
    if !wait.quiet {
        eprintln!("crawl {crawl_id} started");
    }
    let ended = wait::follow(&*store, crawl_id, wait).await?;
    wait::conclude(&*store, crawl_id, wait, json, ended, Mode::Distributed).await
}
