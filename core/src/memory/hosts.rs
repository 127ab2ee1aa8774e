//! Local mode's [`Hosts`]: the semantics of `lua/host.lua` (see
//! [`crate::politeness`]) on one mutex.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::clock::now_ms;
use crate::message::Politeness;
use crate::politeness::{
    Acquire, DISPATCH_MAX, Dispatched, Grant, HORIZON, HostView, Hosts, LEASE, Pace, backoff,
    delay_margin, entry_id, parse_entry,
};
use crate::robots::RobotsRecord;
use crate::store_error::StoreError;

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
