//! crawlq-core: the seams and their adapters, and the plumbing every
//! process shares. The protocol and the pure rules live in
//! [`crawlq_protocol`], re-exported here under their old paths.
//!
//! # Layout
//! The seams (traits), each with the tests of its contract in the suite:
//! - [`transport`]: tasks and completions between processes.
//! - [`store`]: the crawl state (errors in [`store_error`]).
//! - [`politeness`]: the fleet-wide per-host limits ([`politeness::Hosts`],
//!   reached through the store): lanes, leases, pauses, queued tasks.
//!
//! Their adapters, one module per system they speak to:
//! - [`amqp`]: RabbitMQ (the transport).
//! - [`redis`]: Redis (the store and the host book; Lua scripts in `redis/lua/`).
//! - [`memory`]: in-process (all three, for local mode and the in-process tests).
//!
//! The plumbing every process shares:
//! - [`consume`]: the consumer loop: bounded concurrency, ack / retry /
//!   dead-letter decided in one place, graceful stop.
//! - [`retry`]: the one retry policy.
//! - [`telemetry`]: metrics, health probes, activity lines.
//! - [`cli`]: what every binary's `main` shares: connection flags, logging, signals.

pub use crawlq_protocol::{
    clock, display, export, extract, links, message, names, report, robots, spec,
};

pub mod amqp;
pub mod cli;
pub mod consume;
pub mod memory;
pub mod politeness;
pub mod redis;
pub mod retry;
pub mod store;
pub mod store_error;
pub mod telemetry;
pub mod transport;
