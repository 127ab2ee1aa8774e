//! What a crawl was asked to do: its spec, stored when it is created and
//! read by status, reports and `resume`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::message::Rules;

/// Whether a crawl follows links or fetches a fixed list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrawlKind {
    /// `producer crawl`: seeds, then the links the rule follows.
    Crawl,
    /// `producer submit`: a fixed list of URLs, no link following.
    Submit,
}

/// What a crawl was asked to do, as stored when it is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrawlSpec {
    /// The crawl's id.
    pub crawl_id: Uuid,
    /// Crawl or fixed list.
    pub kind: CrawlKind,
    /// Canonical seed URLs.
    pub seeds: Vec<String>,
    /// Rules every task carries.
    pub rules: Rules,
    /// Most pages to fetch, seeds included; `None` is unlimited.
    pub max_pages: Option<u64>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Seconds a finished crawl's keys are kept in Redis before they expire;
    /// `None` keeps them until `producer delete`.
    #[serde(default)]
    pub ttl_s: Option<u64>,
}
