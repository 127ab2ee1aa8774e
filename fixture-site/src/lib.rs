//! A deterministic Stack-Overflow-like site on 127.0.0.1 for crawlq's tests
//! and benchmarks, with its known truth: which pages a crawl from given seeds
//! reaches under crawlq's link rule, and the exact tag tally.
//!
//! # Layout
//! - [`model`]: questions, tags and links from a seed; the truth.
//! - [`html`]: pages as real-looking markup with real-page traps.
//! - [`server`]: axum on 127.0.0.1, `/__truth` and `/__stats`.

pub mod hostile;
pub mod html;
pub mod model;
pub mod server;

pub use model::{Site, SiteConfig, Truth, TruthPage};
