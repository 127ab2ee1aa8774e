//! Fleet-wide politeness: how many requests are in flight to one host
//! (origin) and how far apart they start, decided in the store so that every
//! worker of a deployment keeps one limit together.
//!
//! Each request to a host first asks the store for a *lane* (one of the
//! host's `host_concurrency` requests in flight) with one atomic call,
//! [`Hosts::acquire`]. The answer is one of:
//! - [`Grant::Go`]: start now; the lane is held under a lease that the
//!   worker renews while it fetches and gives back with [`Hosts::release`].
//!   A killed worker's leases expire within [`LEASE`], so its lanes come back.
//! - [`Grant::Later`]: a lane is reserved for a start within [`HORIZON`] (the
//!   host delay or a pause is not over); the store keeps the task, the worker
//!   sleeps and then asks again with the lease it was given.
//! - [`Grant::Parked`]: every lane is taken, or the wait is longer than the
//!   horizon: the store queues the task behind the host. The worker holds
//!   nothing for it (no fetch slot, no prefetched message).
//!
//! A release, or the periodic [`Hosts::sweep`] for hosts whose leases expired
//! or whose wait draws near, hands queued tasks their lanes in order, as
//! [`Dispatched`] tasks with the delay until their start; the worker that made
//! the call runs them. A dispatched task's copy stays in the store until its
//! lease is released, so a worker that dies holding one loses nothing: when
//! the lease expires the task goes back to the front of its host's queue.
//!
//! robots.txt (RFC 9309) rides on the same lanes: the first request to a host
//! in a crawl that obeys robots.txt is told to fetch it ([`Grant::Go`] with
//! `fetch_robots`), and the others of that crawl queue behind it until its
//! record is stored.
//!
//! Redis does this in one Lua script ([`crate::redis_store`]); local mode in
//! [`MemoryHosts`], which keeps the script's semantics.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::clock::now_ms;
use crate::message::Politeness;
use crate::robots::RobotsRecord;
use crate::store_error::StoreError;

/// How long a lane is held without renewal: a killed worker's lanes come back
/// this long after its last renewal.
pub const LEASE: Duration = Duration::from_secs(5);

/// How often a worker renews the leases it holds.
pub const RENEW_EVERY: Duration = Duration::from_millis(1500);

/// The furthest ahead a lane is reserved; a longer wait queues the task in
/// the store instead of holding it in a worker.
pub const HORIZON: Duration = Duration::from_secs(2);

/// How often each worker sweeps hosts whose queued tasks may now have lanes.
pub const SWEEP_EVERY: Duration = Duration::from_millis(500);

/// Most tasks handed out by one release or sweep (the rest wait for the next).
pub const DISPATCH_MAX: usize = 64;

/// First pause of a host after a 429 without Retry-After; it doubles with
/// each further one in a row, up to [`BACKOFF_MAX`].
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);

/// Longest pause of a host after repeated 429s without Retry-After.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Most margin added to a host delay ([`delay_margin`]).
pub const DELAY_MARGIN_MAX: Duration = Duration::from_millis(50);

/// The margin added to a host delay of `delay_ms`: a fifth of it, at most
/// [`DELAY_MARGIN_MAX`]. Starts are granted in the store; the requests reach
/// the host a little later, each after its own few milliseconds of network
/// and scheduling, so grants are spaced by a little more than the delay for
/// the arrivals to keep it. (`lua/host.lua` adds the same.)
pub fn delay_margin(delay_ms: u64) -> u64 {
    (delay_ms / 5).min(DELAY_MARGIN_MAX.as_millis() as u64)
}

/// One request's ask for a lane.
#[derive(Debug, Clone)]
pub struct Acquire<'a> {
    /// The host: `scheme://host[:port]` ([`crate::links::origin`]).
    pub origin: &'a str,
    /// The crawl the task belongs to (its robots.txt record is per crawl).
    pub crawl_id: Uuid,
    /// A new lease id for the lane, unique to this ask.
    pub lease: &'a str,
    /// The lease a dispatched task was given, when it comes back for its start.
    pub reserved: Option<&'a str>,
    /// The crawl's limits.
    pub limits: Politeness,
    /// The task as the store keeps it while it waits ([`entry`]).
    pub entry: &'a str,
    /// Whether the store must also keep the task while its lane is held: true
    /// for a task the worker holds only in memory (one dispatched or
    /// reserved), false for one whose broker message is still unacknowledged.
    pub durable: bool,
}

/// The store's answer to [`Hosts::acquire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Start now, under the lease asked with; with `fetch_robots`, fetch the
    /// host's robots.txt first (this request is its crawl's only one doing so).
    Go {
        /// Fetch robots.txt with this lane, before the page.
        fetch_robots: bool,
    },
    /// A lane is reserved under the lease asked with: ask again with it as
    /// `reserved` after this wait. The store holds the task meanwhile.
    Later(Duration),
    /// Queued behind the host in the store; a release or sweep will dispatch it.
    Parked,
    /// The reserved lease had expired and the task went back to the queue:
    /// drop this copy.
    Gone,
}

/// How a request ended, for the host's pacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// An answer that asks nothing of the host's pace (a 200, a 404, ...):
    /// a row of 429s ends.
    Normal,
    /// No request was made with the lane (the task turned out to need none).
    Unused,
    /// 429 or 503 with Retry-After: pause the host for the whole fleet.
    PauseFor(Duration),
    /// 429 without Retry-After: pause the host, exponentially longer with each in a row.
    BackOff,
}

/// A queued task handed a lane by a release or a sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatched {
    /// Its host.
    pub origin: String,
    /// The lease reserving its lane: ask with it as `reserved`.
    pub lease: String,
    /// When to ask: the wait from now.
    pub after: Duration,
    /// The task, as it was queued ([`entry`]).
    pub entry: String,
}

pub use crawlq_protocol::report::HostView;

/// The store's side of politeness (see the module doc).
#[async_trait]
pub trait Hosts: Send + Sync {
    /// Asks for a lane for one request.
    async fn acquire(&self, ask: &Acquire<'_>) -> Result<Grant, StoreError>;

    /// Gives a lane back (its request ended as `pace` says) and hands queued
    /// tasks of the host the lanes now free.
    async fn release(
        &self,
        origin: &str,
        lease: &str,
        pace: Pace,
    ) -> Result<Vec<Dispatched>, StoreError>;

    /// Dispatches queued tasks of hosts whose leases expired or whose wait
    /// ends within the horizon.
    async fn sweep(&self) -> Result<Vec<Dispatched>, StoreError>;

    /// Extends the leases held by a live worker (`(origin, lease)` pairs).
    async fn renew(&self, leases: &[(String, String)]) -> Result<(), StoreError>;

    /// A crawl's robots.txt record for a host, if one is stored.
    async fn robots(
        &self,
        crawl_id: Uuid,
        origin: &str,
    ) -> Result<Option<RobotsRecord>, StoreError>;

    /// Stores a crawl's robots.txt record for a host, fetched under a lane
    /// that stays held; its `Crawl-delay` (in milliseconds, already capped)
    /// paces the host for crawls obeying robots.txt, and `pace` is how the
    /// fetch of it ended. Hands out the tasks that waited for the record.
    async fn put_robots(
        &self,
        crawl_id: Uuid,
        origin: &str,
        record: &RobotsRecord,
        crawl_delay_ms: u64,
        pace: Pace,
    ) -> Result<Vec<Dispatched>, StoreError>;

    /// What `status` shows of these hosts.
    async fn host_views(&self, origins: &[String]) -> Result<Vec<HostView>, StoreError>;
}

/// The form a waiting task takes in the store: `C|D|R|ID|` then the task
/// message, where C is the host concurrency, D the host delay in ms, R 1
/// when the crawl obeys robots.txt and ID the task id, so the store can pace
/// it, and keep one copy of it, without decoding it.
pub fn entry(limits: Politeness, task_id: &str, task_json: &str) -> String {
    format!(
        "{}|{}|{}|{task_id}|{task_json}",
        limits.host_concurrency,
        limits.host_delay_ms,
        u8::from(limits.robots)
    )
}

/// Splits an [`entry`] into its limits, task id and task message.
pub fn parse_entry(entry: &str) -> Option<(Politeness, &str, &str)> {
    let mut parts = entry.splitn(5, '|');
    let host_concurrency = parts.next()?.parse().ok()?;
    let host_delay_ms = parts.next()?.parse().ok()?;
    let robots = parts.next()? == "1";
    let task_id = parts.next()?;
    let task = parts.next()?;
    Some((
        Politeness {
            host_concurrency,
            host_delay_ms,
            robots,
        },
        task_id,
        task,
    ))
}

/// The task id of an [`entry`] ("" when it has none).
fn entry_id(entry: &str) -> &str {
    parse_entry(entry).map_or("", |(_, id, _)| id)
}

/// The pause after `strikes` 429s in a row without Retry-After.
pub fn backoff(strikes: u32) -> Duration {
    BACKOFF_BASE
        .saturating_mul(1 << strikes.saturating_sub(1).min(16))
        .min(BACKOFF_MAX)
}

/// Local mode's [`Hosts`]: the Lua script's semantics on one mutex.
#[derive(Debug, Default)]
pub struct MemoryHosts {
    state: Mutex<Book>,
}

#[derive(Debug, Default)]
struct Book {
    hosts: HashMap<String, Host>,
    /// Crawl → host → robots.txt record.
    robots: HashMap<Uuid, HashMap<String, RobotsRecord>>,
    /// Crawl → host → the lease of the request fetching robots.txt.
    robots_holders: HashMap<Uuid, HashMap<String, String>>,
    /// Host → when a sweep should look at it.
    wake: BTreeMap<String, u64>,
    seq: u64,
}

#[derive(Debug, Default)]
struct Host {
    /// Earliest start for a new request (last start + delay).
    next: u64,
    /// Earliest start handed to a reservation not yet made (last reservation + delay).
    tail: u64,
    pause: u64,
    strikes: u32,
    crawl_delay: u64,
    /// Lease → expiry.
    leases: HashMap<String, u64>,
    queue: VecDeque<String>,
    /// Lease → the dispatched or reserved task it holds.
    dispatched: HashMap<String, String>,
    /// Ids of the tasks the store holds for this host (queued or under a
    /// lease): one copy of each, whatever the broker delivers again.
    members: std::collections::HashSet<String>,
}

impl Host {
    fn purge(&mut self, now: u64) {
        let mut expired: Vec<(String, u64)> = self
            .leases
            .iter()
            .filter(|(_, expiry)| **expiry <= now)
            .map(|(lease, expiry)| (lease.clone(), *expiry))
            .collect();
        // The latest expiry goes to the front last, so the earliest ends up first.
        expired.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        for (lease, _) in expired {
            self.leases.remove(&lease);
            if let Some(entry) = self.dispatched.remove(&lease) {
                self.queue.push_front(entry);
            }
        }
    }

    /// Applies how a request ended to the host's pace.
    fn pace(&mut self, pace: Pace, now: u64) {
        match pace {
            Pace::Normal => self.strikes = 0,
            Pace::Unused => {}
            Pace::PauseFor(wait) => {
                self.pause = self.pause.max(now + wait.as_millis() as u64);
            }
            Pace::BackOff => {
                self.strikes += 1;
                self.pause = self
                    .pause
                    .max(now + backoff(self.strikes).as_millis() as u64);
            }
        }
    }

    fn delay(&self, limits: Politeness) -> u64 {
        let delay = if limits.robots {
            limits.host_delay_ms.max(self.crawl_delay)
        } else {
            limits.host_delay_ms
        };
        delay + delay_margin(delay)
    }

    fn lanes_free(&self, limits: Politeness) -> bool {
        limits.host_concurrency == 0
            || (self.leases.len() as u64) < u64::from(limits.host_concurrency)
    }
}

impl Book {
    fn host(&mut self, origin: &str) -> &mut Host {
        self.hosts.entry(origin.to_owned()).or_default()
    }

    /// Gives expired leases' lanes back and hands the freed lanes out
    /// (`settle` in `lua/host.lua`).
    fn settle(&mut self, origin: &str, now: u64, out: &mut Vec<Dispatched>) {
        self.host(origin).purge(now);
        self.dispatch(origin, now, out);
    }

    /// Hands queued tasks lanes, in order, and sets when a sweep should look again.
    fn dispatch(&mut self, origin: &str, now: u64, out: &mut Vec<Dispatched>) {
        let horizon = HORIZON.as_millis() as u64;
        let mut wake = None;
        let mut seq = self.seq;
        let host = self.hosts.entry(origin.to_owned()).or_default();
        while let Some(entry) = host.queue.front() {
            let limits = parse_entry(entry).map_or(Politeness::default(), |(limits, ..)| limits);
            if !host.lanes_free(limits) {
                wake = host.leases.values().min().copied();
                break;
            }
            let at = now.max(host.next).max(host.tail).max(host.pause);
            if at > now + horizon || out.len() >= DISPATCH_MAX {
                wake = Some(at.saturating_sub(horizon).max(now));
                break;
            }
            let Some(entry) = host.queue.pop_front() else {
                break;
            };
            seq += 1;
            let lease = format!("d{seq}");
            host.leases
                .insert(lease.clone(), at + LEASE.as_millis() as u64);
            host.dispatched.insert(lease.clone(), entry.clone());
            host.tail = at + host.delay(limits);
            out.push(Dispatched {
                origin: origin.to_owned(),
                lease,
                after: Duration::from_millis(at - now),
                entry,
            });
        }
        self.seq = seq;
        match wake {
            Some(at) if !host.queue.is_empty() => {
                self.wake.insert(origin.to_owned(), at);
            }
            // Tasks held under leases: look again when the first may expire.
            _ if !host.dispatched.is_empty() => {
                let first = host.leases.values().min().copied().unwrap_or(now);
                self.wake.insert(origin.to_owned(), first);
            }
            _ => {
                self.wake.remove(origin);
            }
        }
    }

    /// A task is held under a lease until `expiry`: a sweep looks then at the latest.
    fn watch(&mut self, origin: &str, expiry: u64) {
        let wake = self.wake.entry(origin.to_owned()).or_insert(expiry);
        *wake = (*wake).min(expiry);
    }

    /// Queues a task behind the host (at the front when it had a lane
    /// reserved: it keeps its place), unless the store holds it already.
    fn park(&mut self, origin: &str, entry: &str, now: u64, front: bool) -> Grant {
        let host = self.host(origin);
        if !front && !host.members.insert(entry_id(entry).to_owned()) {
            return Grant::Parked;
        }
        if front {
            host.queue.push_front(entry.to_owned());
        } else {
            host.queue.push_back(entry.to_owned());
        }
        // The next release or an expiry dispatches it; a sweep looks now in
        // case neither is coming (a pause with no request in flight).
        self.watch(origin, now);
        Grant::Parked
    }

    fn acquire(&mut self, ask: &Acquire<'_>, now: u64) -> Grant {
        let limits = ask.limits;
        let horizon = HORIZON.as_millis() as u64;
        let host = self.host(ask.origin);
        host.purge(now);
        if let Some(reserved) = ask.reserved {
            if host.leases.remove(reserved).is_none() {
                return Grant::Gone;
            }
            host.dispatched.remove(reserved);
        } else if host.members.contains(entry_id(ask.entry)) {
            // A copy of a task the store holds (its message came again): the
            // held one runs.
            return Grant::Parked;
        }
        let mut fetch_robots = false;
        if limits.robots && !self.robots_known(ask.crawl_id, ask.origin, now) {
            let holder = self
                .robots_holders
                .get(&ask.crawl_id)
                .and_then(|holders| holders.get(ask.origin))
                .cloned();
            let host = self.host(ask.origin);
            if holder.is_some_and(|lease| host.leases.contains_key(&lease)) {
                return self.park(ask.origin, ask.entry, now, ask.reserved.is_some());
            }
            fetch_robots = true;
        }
        let host = self.host(ask.origin);
        let gate = host.next.max(host.pause);
        let at = if ask.reserved.is_some() {
            now.max(gate)
        } else {
            now.max(gate).max(host.tail)
        };
        let blocked = if ask.reserved.is_some() {
            // A pause that came meanwhile may push its start past the horizon.
            at > now + horizon
        } else {
            !host.queue.is_empty() || !host.lanes_free(limits) || at > now + horizon
        };
        if blocked {
            return self.park(ask.origin, ask.entry, now, ask.reserved.is_some());
        }
        self.grant(ask, at, now, fetch_robots)
    }

    /// Grants a lane starting at `at` (now: go; later: a reservation) and
    /// records the lease, the task the store keeps and the host's pace.
    fn grant(&mut self, ask: &Acquire<'_>, at: u64, now: u64, fetch_robots: bool) -> Grant {
        let (limits, lease_ms) = (ask.limits, LEASE.as_millis() as u64);
        let host = self.host(ask.origin);
        if at > now {
            host.leases.insert(ask.lease.to_owned(), at + lease_ms);
            host.dispatched
                .insert(ask.lease.to_owned(), ask.entry.to_owned());
            host.members.insert(entry_id(ask.entry).to_owned());
            host.tail = host.tail.max(at + host.delay(limits));
            return Grant::Later(Duration::from_millis(at - now));
        }
        host.leases.insert(ask.lease.to_owned(), now + lease_ms);
        if ask.durable {
            host.dispatched
                .insert(ask.lease.to_owned(), ask.entry.to_owned());
            host.members.insert(entry_id(ask.entry).to_owned());
        }
        host.next = now + host.delay(limits);
        host.tail = host.tail.max(host.next);
        if ask.durable {
            self.watch(ask.origin, now + lease_ms);
        }
        if fetch_robots {
            self.robots_holders
                .entry(ask.crawl_id)
                .or_default()
                .insert(ask.origin.to_owned(), ask.lease.to_owned());
        }
        Grant::Go { fetch_robots }
    }

    /// Whether the crawl has a usable robots.txt record for the host (one
    /// whose retry time has come counts as none).
    fn robots_known(&self, crawl_id: Uuid, origin: &str, now: u64) -> bool {
        match self.robots.get(&crawl_id).and_then(|r| r.get(origin)) {
            None => false,
            Some(RobotsRecord::Unreachable { retry_at_ms, .. }) => *retry_at_ms > now,
            Some(_) => true,
        }
    }
}

#[async_trait]
impl Hosts for MemoryHosts {
    async fn acquire(&self, ask: &Acquire<'_>) -> Result<Grant, StoreError> {
        let mut book = self.lock()?;
        Ok(book.acquire(ask, now_ms()))
    }

    async fn release(
        &self,
        origin: &str,
        lease: &str,
        pace: Pace,
    ) -> Result<Vec<Dispatched>, StoreError> {
        let now = now_ms();
        let mut book = self.lock()?;
        let host = book.host(origin);
        host.leases.remove(lease);
        if let Some(entry) = host.dispatched.remove(lease) {
            host.members.remove(entry_id(&entry));
        }
        host.pace(pace, now);
        let mut out = Vec::new();
        book.settle(origin, now, &mut out);
        Ok(out)
    }

    async fn sweep(&self) -> Result<Vec<Dispatched>, StoreError> {
        let now = now_ms();
        let mut book = self.lock()?;
        let due: Vec<String> = book
            .wake
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(origin, _)| origin.clone())
            .collect();
        let mut out = Vec::new();
        for origin in due {
            book.settle(&origin, now, &mut out);
        }
        Ok(out)
    }

    async fn renew(&self, leases: &[(String, String)]) -> Result<(), StoreError> {
        let until = now_ms() + LEASE.as_millis() as u64;
        let mut book = self.lock()?;
        for (origin, lease) in leases {
            if let Some(expiry) = book.host(origin).leases.get_mut(lease) {
                *expiry = (*expiry).max(until);
            }
        }
        Ok(())
    }

    async fn robots(
        &self,
        crawl_id: Uuid,
        origin: &str,
    ) -> Result<Option<RobotsRecord>, StoreError> {
        let book = self.lock()?;
        Ok(book
            .robots
            .get(&crawl_id)
            .and_then(|r| r.get(origin))
            .cloned())
    }

    async fn put_robots(
        &self,
        crawl_id: Uuid,
        origin: &str,
        record: &RobotsRecord,
        crawl_delay_ms: u64,
        pace: Pace,
    ) -> Result<Vec<Dispatched>, StoreError> {
        let now = now_ms();
        let mut book = self.lock()?;
        book.robots
            .entry(crawl_id)
            .or_default()
            .insert(origin.to_owned(), record.clone());
        if let Some(holders) = book.robots_holders.get_mut(&crawl_id) {
            holders.remove(origin);
        }
        let host = book.host(origin);
        host.crawl_delay = host.crawl_delay.max(crawl_delay_ms);
        host.pace(pace, now);
        let mut out = Vec::new();
        book.settle(origin, now, &mut out);
        Ok(out)
    }

    async fn host_views(&self, origins: &[String]) -> Result<Vec<HostView>, StoreError> {
        let now = now_ms();
        let book = self.lock()?;
        Ok(origins
            .iter()
            .map(|origin| {
                let host = book.hosts.get(origin);
                HostView {
                    origin: origin.clone(),
                    in_flight: host.map_or(0, |h| h.leases.len() as u64),
                    queued: host.map_or(0, |h| h.queue.len() as u64),
                    paused_ms: host.map_or(0, |h| h.pause.saturating_sub(now)),
                }
            })
            .collect())
    }
}

impl MemoryHosts {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Book>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Unavailable("host book poisoned".into()))
    }

    /// Forgets a deleted crawl's robots.txt records.
    pub fn forget(&self, crawl_id: Uuid) {
        if let Ok(mut book) = self.state.lock() {
            book.robots.remove(&crawl_id);
            book.robots_holders.remove(&crawl_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_carry_their_limits() {
        let limits = Politeness {
            host_concurrency: 2,
            host_delay_ms: 250,
            robots: true,
        };
        let entry = entry(limits, "id", r#"{"url":"http://a|b"}"#);
        assert_eq!(entry, r#"2|250|1|id|{"url":"http://a|b"}"#);
        assert_eq!(
            parse_entry(&entry),
            Some((limits, "id", r#"{"url":"http://a|b"}"#))
        );
        assert_eq!(parse_entry("x|1|1|id|{}"), None);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(40), BACKOFF_MAX);
    }
}
