//! crawlq-core: the seams and their adapters, and the plumbing every
//! process shares. The protocol and the pure rules live in
//! [`crawlq_protocol`], re-exported here under their old paths.
//!
//! # Layout
//! - [`politeness`]: the fleet-wide per-host limits seam ([`politeness::Hosts`]):
//!   lanes, leases, pauses, queued tasks; Redis implements it in
//!   [`redis_hosts`] (`lua/host.lua`), local mode in [`politeness::MemoryHosts`].
//! - [`transport`]: the task/completion transport seam; [`amqp`] is its RabbitMQ
//!   implementation, [`memory`] its in-process one (local mode).
//! - [`store`]: the crawl-state seam; [`redis_store`] is its Redis implementation,
//!   [`memory_store`] its in-process one (local mode).
//! - [`consume`]: the consumer loop every long-running process shares: bounded
//!   concurrency, ack / retry / dead-letter decided in one place, graceful stop.
//! - [`retry`]: the one retry policy.
//! - [`cli`]: what every binary's `main` shares: connection flags, logging, signals.

pub use crawlq_protocol::{
    clock, display, export, extract, links, message, names, report, robots, spec,
};

pub mod amqp;
pub mod cli;
pub mod consume;
pub mod memory;
pub mod memory_store;
pub mod politeness;
pub mod redis_hosts;
pub mod redis_store;
pub mod retry;
pub mod store;
pub mod store_error;
pub mod transport;
