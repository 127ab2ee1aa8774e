//! crawlq-protocol: what every crawlq process agrees on, with no I/O.
//!
//! - [`message`]: the wire messages (tasks, completions, results) and their encoding.
//! - [`spec`]: what a crawl was asked to do.
//! - [`names`]: queue names and the Redis key scheme.
//! - [`links`]: URL canonicalisation and the link rule.
//! - [`extract`]: parsing a page once (two engines, one answer).
//! - [`robots`]: robots.txt records and matching.
//! - [`report`]: the views (status, one task's future, the report) and the task-state code.
//! - [`export`]: JSON Lines and CSV.
//! - [`display`]: page text made safe for terminals.
//! - [`clock`]: the wall clock records use.

pub mod clock;
pub mod display;
pub mod export;
pub mod extract;
pub mod links;
pub mod message;
pub mod names;
pub mod report;
pub mod robots;
pub mod spec;
