//! crawlq's one integration test binary.
//!
//! - [`real_pages`]: extraction on real saved Stack Overflow pages.
//! - [`engines`]: the streaming and tree extraction engines agree on the fixture site.
//! - [`e2e`]: the distributed crawl with the real binaries, RabbitMQ, Redis and the fixture site.
//! - [`compose`]: docker-compose.yml, checked by a parser.
//! - [`faults`]: chaos, kills mid-fetch, SIGTERM, poison messages.
//! - [`local`]: local mode, compared with the distributed crawl.
//! - [`observe`]: metrics, health probes, progress lines and the dashboard in a real browser.
//! - [`store`]: the store contract, on Redis and in memory alike (politeness included).
//! - [`polite`]: per-host limits across the fleet, robots.txt and the SSRF guard, measured at the site.
//! - [`cli`]: bad input and unreachable services get one clear line and a non-zero exit.
//! - [`script`]: one JSON document, honest exit codes, no silently ignored flag, `list`, `--ttl`.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used)]

mod cli;
mod compose;
mod e2e;
mod engines;
mod faults;
mod local;
mod observe;
mod polite;
mod real_pages;
mod script;
mod store;
