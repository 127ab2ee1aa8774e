//! The Redis adapter: [`RedisStore`] implements the store seam
//! ([`crate::store::Store`]) and, through it, the fleet's host book
//! ([`crate::politeness::Hosts`]). Every change to a crawl is one Lua script
//! (`lua/`), so it is atomic and a process killed between two calls leaves
//! nothing half done.

mod hosts;
mod store;

pub use store::RedisStore;
