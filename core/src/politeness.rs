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
//! Redis does this in one Lua script ([`crate::redis`]); local mode in
//! [`crate::memory::MemoryHosts`], which keeps the script's semantics.

use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

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
pub(crate) fn entry_id(entry: &str) -> &str {
    parse_entry(entry).map_or("", |(_, id, _)| id)
}

/// The pause after `strikes` 429s in a row without Retry-After.
pub fn backoff(strikes: u32) -> Duration {
    BACKOFF_BASE
        .saturating_mul(1 << strikes.saturating_sub(1).min(16))
        .min(BACKOFF_MAX)
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
