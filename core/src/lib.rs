//! crawlq-core: everything that crosses crawlq's process boundaries.
//!
//! The producer, the worker and the aggregator are separate processes that
//! meet only in RabbitMQ and Redis. This crate holds what they must agree on,
//! so no binary depends on another's crate.
//!
//! # Layout
//! - [`message`]: the task and completion messages (versioned JSON) and the
//!   per-crawl [`message::Rules`] every task carries.
//! - [`links`]: URL canonicalisation and the link rule (which links a crawl follows).
//! - [`extract`]: parsing one page, once, into title, tags and links. Pure and synchronous.
//! - [`export`]: a crawl's pages as JSON Lines or CSV.
//! - [`display`]: page text made safe for a terminal (control characters escaped).
//! - [`politeness`]: the fleet-wide per-host limits seam ([`politeness::Hosts`]):
//!   lanes, leases, pauses, queued tasks; Redis implements it in
//!   [`redis_store`] (`lua/host.lua`), local mode in [`politeness::MemoryHosts`].
//! - [`robots`]: robots.txt records and rules (RFC 9309).
//! - [`names`]: queue names and the Redis key scheme.
//! - [`transport`]: the task/completion transport seam; [`amqp`] is its RabbitMQ
//!   implementation, [`memory`] its in-process one (local mode).
//! - [`store`]: the crawl-state seam; [`redis_store`] is its Redis implementation,
//!   [`memory_store`] its in-process one (local mode).
//! - [`consume`]: the consumer loop every long-running process shares: bounded
//!   concurrency, ack / retry / dead-letter decided in one place, graceful stop.
//! - [`report`]: the status, report and per-task views the producer prints.
//! - [`cli`]: what every binary's `main` shares: connection flags, logging, signals.

pub mod amqp;
pub mod cli;
pub mod clock;
pub mod consume;
pub mod display;
pub mod export;
pub mod extract;
pub mod links;
pub mod memory;
pub mod memory_store;
pub mod message;
pub mod names;
pub mod politeness;
pub mod redis_hosts;
pub mod redis_store;
pub mod report;
pub mod retry;
pub mod robots;
pub mod spec;
pub mod store;
pub mod store_error;
pub mod transport;
