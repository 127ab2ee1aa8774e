//! The worker's side of fleet-wide politeness ([`crawlq_core::politeness`]):
//! before a page is fetched, its host grants a lane (or queues the task in the
//! store, and the worker lets go of it); robots.txt is fetched once per host
//! per crawl and obeyed; leases are renewed while held; queued tasks handed
//! out by a release or a sweep run here, at their start time.
//!
//! A task admitted from a broker message keeps that message as its durable
//! copy, so its lane is given back as soon as the response is in. A task the
//! store handed out lives only in memory here, so the store keeps a copy of
//! it under its lease until its completion is stored and confirmed; if this
//! worker dies, the lease expires and the task goes back to its host's queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crawlq_core::consume::Disposition;
use crawlq_core::links::origin;
use crawlq_core::message::Task;
use crawlq_core::politeness::{self, Acquire, Dispatched, Grant, Pace, RENEW_EVERY, SWEEP_EVERY};
use crawlq_core::report::now_ms;
use crawlq_core::robots::{self, Robots, RobotsRecord};
use crawlq_core::store::{Start, StoreError};
use tracing::{debug, warn};
use url::Url;
use uuid::Uuid;

use crate::worker::Tasks;
use crate::worker::http::FetchError;

/// A lane held at a host.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    origin: String,
    id: String,
    /// The store keeps the task under this lease (see the module doc).
    pub(crate) durable: bool,
}

/// What became of a task at its host's gate.
pub(crate) enum Admission {
    /// Fetch it now (under a lease unless the crawl sets no limits).
    Go(Option<Lease>),
    /// A lane is reserved: run it after the wait; the store holds a copy.
    Later(Lease, Duration),
    /// Queued in the store, or gone (an expired reservation's other copy
    /// runs): nothing left to do here.
    Handed,
    /// robots.txt disallows it (the reason: [`Robots::refusal`]): recorded
    /// without a fetch; the lane held (if any) is given back once that record
    /// is confirmed.
    Blocked(Option<Lease>, &'static str),
}

/// What follows a granted lane once robots.txt is known.
enum AfterGo {
    /// Fetch the page with it.
    Fetch,
    /// robots.txt disallows the page, for this reason.
    Blocked(&'static str),
    /// The lane went to robots.txt: ask again with it for the page.
    Again,
}

/// Parsed robots.txt records kept per process before the cache is cleared.
const ROBOTS_CACHE: usize = 4096;

/// The worker's politeness state: the leases it holds and the robots.txt
/// rules it has read.
#[derive(Default)]
pub(crate) struct Gate {
    held: Mutex<HashMap<String, String>>,
    robots: Mutex<HashMap<(Uuid, String), Arc<Robots>>>,
}

impl Gate {
    fn hold(&self, lease: &Lease) {
        if let Ok(mut held) = self.held.lock() {
            held.insert(lease.id.clone(), lease.origin.clone());
        }
    }

    pub(crate) fn forget(&self, lease: &Lease) {
        if let Ok(mut held) = self.held.lock() {
            held.remove(&lease.id);
        }
    }

    fn held(&self) -> Vec<(String, String)> {
        self.held.lock().map_or_else(
            |_| Vec::new(),
            |held| {
                held.iter()
                    .map(|(id, origin)| (origin.clone(), id.clone()))
                    .collect()
            },
        )
    }

    fn cached_robots(&self, crawl_id: Uuid, origin: &str) -> Option<Arc<Robots>> {
        let cache = self.robots.lock().ok()?;
        cache.get(&(crawl_id, origin.to_owned())).cloned()
    }

    /// Keeps a record's rules, unless it says robots.txt is unreachable (that
    /// is no answer: it is fetched again).
    fn keep_robots(
        &self,
        crawl_id: Uuid,
        origin: &str,
        record: &RobotsRecord,
    ) -> Option<Arc<Robots>> {
        if matches!(record, RobotsRecord::Unreachable { .. }) {
            return None;
        }
        let robots = Arc::new(Robots::new(record));
        if let Ok(mut cache) = self.robots.lock() {
            if cache.len() >= ROBOTS_CACHE {
                cache.clear();
            }
            cache.insert((crawl_id, origin.to_owned()), robots.clone());
        }
        Some(robots)
    }
}

/// How a fetch's outcome paces its host.
pub(crate) fn pace_of(error: &FetchError) -> Pace {
    match error {
        FetchError::RateLimited(None) => Pace::BackOff,
        error => error.retry_after().map_or(Pace::Normal, Pace::PauseFor),
    }
}

/// What a host's grant decided.
enum Granted {
    Decided(Admission),
    /// The lane fetched robots.txt: ask again, with this lease as reserved.
    AskAgain(Lease),
}

impl Tasks {
    /// Asks the task's host for a lane (`reserved`: the lease it was handed
    /// out with), fetching robots.txt first when it is this crawl's turn.
    pub(crate) async fn admit(
        &self,
        task: &Task,
        mut reserved: Option<Lease>,
    ) -> Result<Admission, StoreError> {
        let limits = task.rules.politeness;
        let Ok(url) = Url::parse(&task.url) else {
            // The fetch reports it.
            return Ok(Admission::Go(reserved));
        };
        let origin = origin(&url);
        let durable = reserved.as_ref().is_some_and(|lease| lease.durable);
        // The task as the store would keep it: made once, when first asked for.
        let mut entry = None;
        loop {
            let robots = limits
                .robots
                .then(|| self.gate.cached_robots(task.crawl_id, &origin))
                .flatten();
            if let Some(robots) = robots.as_ref().filter(|robots| !robots.allows(&url)) {
                return Ok(Admission::Blocked(reserved.take(), robots.refusal()));
            }
            let free = limits.host_concurrency == 0 && limits.host_delay_ms == 0;
            if free && reserved.is_none() && (!limits.robots || robots.is_some()) {
                return Ok(Admission::Go(None));
            }
            let lease = Lease {
                origin: origin.clone(),
                id: Uuid::new_v4().simple().to_string(),
                durable,
            };
            // The store takes the reserved lease, or it expires: either way
            // this worker no longer renews it.
            let old = reserved.take();
            if let Some(old) = &old {
                self.gate.forget(old);
            }
            let entry: &str = entry.get_or_insert_with(|| {
                politeness::entry(
                    limits,
                    &task.task_id.to_string(),
                    &serde_json::to_string(task).unwrap_or_default(),
                )
            });
            let ask = Acquire {
                origin: &origin,
                crawl_id: task.crawl_id,
                lease: &lease.id,
                reserved: old.as_ref().map(|lease| lease.id.as_str()),
                limits,
                entry,
                durable,
            };
            let grant = self.store.hosts().acquire(&ask).await?;
            let known = !limits.robots || robots.is_some();
            match self.granted(grant, lease, task, &url, known).await? {
                Granted::Decided(admission) => return Ok(admission),
                Granted::AskAgain(lease) => reserved = Some(lease),
            }
        }
    }

    /// What the host's answer to an ask with `lease` means for the task: go,
    /// later, handed to the host's queue, blocked by robots.txt, or (the lane
    /// fetched robots.txt) ask again with the lease as reserved.
    async fn granted(
        &self,
        grant: Grant,
        lease: Lease,
        task: &Task,
        url: &Url,
        robots_known: bool,
    ) -> Result<Granted, StoreError> {
        match grant {
            Grant::Go { fetch_robots } => {
                self.gate.hold(&lease);
                match self.after_go(task, url, fetch_robots, robots_known).await {
                    Ok(AfterGo::Fetch) => Ok(Granted::Decided(Admission::Go(Some(lease)))),
                    Ok(AfterGo::Blocked(why)) => {
                        Ok(Granted::Decided(Admission::Blocked(Some(lease), why)))
                    }
                    Ok(AfterGo::Again) => Ok(Granted::AskAgain(lease)),
                    Err(error) => {
                        // The lease expires, and a durable task goes back to its host.
                        self.gate.forget(&lease);
                        Err(error)
                    }
                }
            }
            Grant::Later(wait) => {
                crawlq_core::telemetry::host_wait("later");
                self.gate.hold(&lease);
                let lease = Lease {
                    durable: true,
                    ..lease
                };
                Ok(Granted::Decided(Admission::Later(lease, wait)))
            }
            Grant::Parked => {
                crawlq_core::telemetry::host_wait("parked");
                Ok(Granted::Decided(Admission::Handed))
            }
            Grant::Gone => Ok(Granted::Decided(Admission::Handed)),
        }
    }

    /// Decides what a granted lane is for: the page, when robots.txt is
    /// `known` here or stored and allows it; else robots.txt itself.
    async fn after_go(
        &self,
        task: &Task,
        url: &Url,
        fetch_robots: bool,
        known: bool,
    ) -> Result<AfterGo, StoreError> {
        if known {
            // robots.txt was checked before asking.
            return Ok(AfterGo::Fetch);
        }
        let origin = origin(url);
        if !fetch_robots
            && let Some(record) = self.store.hosts().robots(task.crawl_id, &origin).await?
            && let Some(rules) = self.gate.keep_robots(task.crawl_id, &origin, &record)
        {
            return Ok(if rules.allows(url) {
                AfterGo::Fetch
            } else {
                AfterGo::Blocked(rules.refusal())
            });
        }
        // This request fetches robots.txt: its crawl's turn, or the record
        // is missing or unreachable. The rules are checked when it asks again.
        let record = self.fetch_robots(task.crawl_id, url, &origin).await?;
        self.gate.keep_robots(task.crawl_id, &origin, &record);
        Ok(AfterGo::Again)
    }

    /// Records a page robots.txt disallows (`why`), then gives back the lane it held.
    pub(crate) async fn finish_blocked(
        &self,
        task: &Task,
        lease: Option<Lease>,
        why: &str,
    ) -> Disposition {
        let result = crate::worker::failed_result(task, why.to_owned());
        let disposition = self.complete(task.rules.clone(), result).await;
        if let Some(lease) = lease {
            self.settle(lease, &disposition, Pace::Unused).await;
        }
        disposition
    }

    /// Ends a lane held while a task's effects were made durable: given back
    /// once they are (`Ack`), else only no longer renewed, so that the
    /// store's copy of the task goes back to its host's queue when the lease
    /// expires.
    pub(crate) async fn settle(&self, lease: Lease, disposition: &Disposition, pace: Pace) {
        if *disposition == Disposition::Ack {
            self.release(lease, pace).await;
        } else {
            self.gate.forget(&lease);
        }
    }

    /// Fetches a host's robots.txt under the lane held, stores what it says
    /// (which also lets the crawl's tasks that waited for it go) and returns it.
    async fn fetch_robots(
        &self,
        crawl_id: Uuid,
        page: &Url,
        origin: &str,
    ) -> Result<RobotsRecord, StoreError> {
        let Some(url) = robots::robots_url(page) else {
            return Ok(RobotsRecord::AllowAll);
        };
        // Counted across the fleet, so that a host whose robots.txt never
        // answers fails its pages in the end instead of holding the crawl open.
        let tries = match self.store.hosts().robots(crawl_id, origin).await? {
            Some(RobotsRecord::Unreachable { tries, .. }) => tries + 1,
            _ => 1,
        };
        let fetched = self.fetcher.fetch_robots(&url).await;
        let (record, pace) = match &fetched {
            // 429 is taken as the server asking for less, like a 5xx.
            Ok((status, body)) if *status != 429 && *status < 500 => (
                robots::record_of(Some(*status), body, 0, tries),
                Pace::Normal,
            ),
            Ok(_) => (robots::record_of(None, &[], now_ms(), tries), Pace::BackOff),
            // The page's own fetch will be refused and say why.
            Err(FetchError::Blocked(_)) => (RobotsRecord::AllowAll, Pace::Unused),
            Err(error) => (
                robots::record_of(None, &[], now_ms(), tries),
                error.retry_after().map_or(Pace::BackOff, Pace::PauseFor),
            ),
        };
        debug!(%url, status = %crawlq_core::display::status(fetched.as_ref().ok().map(|f| f.0)), "robots.txt fetched");
        let crawl_delay = Robots::new(&record).crawl_delay().as_millis() as u64;
        let dispatched = self
            .store
            .hosts()
            .put_robots(crawl_id, origin, &record, crawl_delay, pace)
            .await?;
        self.run_dispatched(dispatched);
        Ok(record)
    }

    /// Gives a lane back and runs what its host hands out.
    pub(crate) async fn release(&self, lease: Lease, pace: Pace) {
        self.gate.forget(&lease);
        match self
            .store
            .hosts()
            .release(&lease.origin, &lease.id, pace)
            .await
        {
            Ok(dispatched) => self.run_dispatched(dispatched),
            // The lease expires by itself and the host's queue moves on.
            Err(error) => warn!(%error, origin = %lease.origin, "lane not given back"),
        }
    }

    /// Runs tasks a host handed out, each at its start time.
    pub(crate) fn run_dispatched(&self, dispatched: Vec<Dispatched>) {
        let Some(this) = self.me.upgrade() else {
            return;
        };
        for one in dispatched {
            let Some(task) = politeness::parse_entry(&one.entry)
                .and_then(|(_, _, json)| serde_json::from_str::<Task>(json).ok())
            else {
                warn!(origin = %one.origin, "an undecodable queued task: dropped");
                continue;
            };
            let lease = Lease {
                origin: one.origin,
                id: one.lease,
                durable: true,
            };
            self.gate.hold(&lease);
            self.detached
                .spawn(this.clone().run_reserved(task, lease, one.after));
        }
    }

    /// Runs a task that holds a reserved lane, after `wait` and once one of
    /// this worker's fetch slots is free: the store keeps its copy until its
    /// completion is confirmed. On shutdown before it starts, the lease is
    /// let go and the task goes back to its host's queue when it expires.
    pub(crate) fn run_reserved(
        self: Arc<Self>,
        task: Task,
        lease: Lease,
        wait: Duration,
    ) -> futures_util::future::BoxFuture<'static, ()> {
        // Boxed: a task that must wait again spawns itself.
        Box::pin(self.run_reserved_now(task, lease, wait))
    }

    async fn run_reserved_now(self: Arc<Self>, task: Task, lease: Lease, wait: Duration) {
        let fetch_slot = tokio::select! {
            () = self.shutdown.cancelled() => None,
            slot = async {
                tokio::time::sleep(wait).await;
                self.slots.fetch.clone().acquire_owned().await.ok()
            } => slot,
        };
        let Some(fetch_slot) = fetch_slot else {
            self.gate.forget(&lease);
            return;
        };
        let start = self.store.start_tasks(task.crawl_id, &[task.task_id]).await;
        match start.map(|starts| starts.and_then(|mut s| s.pop())) {
            Ok(Some(Start::Fetch)) => {}
            Ok(Some(Start::Stored(result))) => {
                // Its result came from another copy: send it on, no fetch.
                let disposition = self.complete(task.rules.clone(), *result).await;
                self.settle(lease, &disposition, Pace::Unused).await;
                return;
            }
            Ok(_) => {
                debug!(url = %task.url, "queued task already applied, never claimed, or its crawl deleted");
                self.release(lease, Pace::Unused).await;
                return;
            }
            Err(error) => {
                // The lease expires and the task goes back to its host's queue.
                warn!(%error, "store unavailable: a reserved task waits for its lease to expire");
                self.gate.forget(&lease);
                return;
            }
        }
        let admission = self.admit(&task, Some(lease)).await;
        match admission {
            Ok(Admission::Go(lease)) => {
                self.fetch_and_finish(task, lease, Some(fetch_slot), false)
                    .await;
            }
            Ok(Admission::Later(lease, wait)) => {
                drop(fetch_slot);
                self.detached
                    .spawn(self.clone().run_reserved(task, lease, wait));
            }
            Ok(Admission::Blocked(lease, why)) => {
                drop(fetch_slot);
                self.finish_blocked(&task, lease, why).await;
            }
            Ok(Admission::Handed) => {}
            Err(error) => {
                warn!(%error, "store unavailable: a reserved task waits for its lease to expire")
            }
        }
    }

    /// Sweeps the store for hosts whose queued tasks may go, and renews the
    /// leases held, until shutdown.
    pub(crate) async fn keep_hosts(self: Arc<Self>) {
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        let mut renew = tokio::time::interval(RENEW_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                _ = sweep.tick() => match self.store.hosts().sweep().await {
                    Ok(dispatched) => self.run_dispatched(dispatched),
                    Err(error) => debug!(%error, "host sweep failed"),
                },
                _ = renew.tick() => {
                    let held = self.gate.held();
                    if let Err(error) = self.store.hosts().renew(&held).await {
                        warn!(%error, leases = held.len(), "leases not renewed");
                    }
                }
            }
        }
    }
}
