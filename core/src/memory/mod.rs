//! The in-memory adapters, for local mode and the in-process tests: the
//! transport ([`MemoryTransport`]), the store ([`MemoryStore`]) and the host
//! book ([`MemoryHosts`]), with the same semantics as RabbitMQ and Redis.

mod hosts;
mod store;
mod transport;

pub use hosts::MemoryHosts;
pub use store::MemoryStore;
pub use transport::MemoryTransport;
