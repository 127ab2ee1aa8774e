//! Writing a crawl's pages out: JSON Lines (one object per page) and CSV,
//! for `--output FILE.jsonl` and `producer export`. Both modes write the same
//! lines from the same [`PageRecord`]s.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;
use uuid::Uuid;

use crate::report::{PageRecord, TaskState};

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header; tags and links space-separated.
    Csv,
}

/// One page as exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportLine {
    /// The page's URL.
    pub url: String,
    /// Its task id.
    pub task_id: Uuid,
    /// Where its task stands.
    pub state: TaskState,
    /// HTTP status, null when no response came.
    pub status: Option<u16>,
    /// Its title.
    pub title: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Links the crawl's rule keeps.
    pub links: Vec<String>,
    /// Followed links past the per-page cap, not kept.
    pub links_dropped: u64,
    /// Matched tag elements not counted (too long, or past the per-page cap).
    pub tags_dropped: u64,
    /// Shortest link distance from a seed among crawled pages.
    pub depth: u32,
    /// When it was fetched (RFC 3339, UTC).
    pub fetched_at: Option<String>,
    /// Time to fetch and parse, in milliseconds.
    pub elapsed_ms: Option<u64>,
    /// Fetches its result took (more than 1 after retries); null before it has one.
    pub attempts: Option<u32>,
    /// Why it failed.
    pub error: Option<String>,
}

impl From<&PageRecord> for ExportLine {
    fn from(record: &PageRecord) -> Self {
        let result = record.result.as_ref();
        Self {
            url: record.url.clone(),
            task_id: record.task_id,
            state: record.state,
            status: result.and_then(|r| r.status),
            title: result.and_then(|r| r.title.clone()),
            tags: result.map(|r| r.tags.clone()).unwrap_or_default(),
            links: result.map(|r| r.links.clone()).unwrap_or_default(),
            links_dropped: result.map_or(0, |r| r.links_dropped),
            tags_dropped: result.map_or(0, |r| r.tags_dropped),
            depth: record.depth,
            fetched_at: result.map(|r| {
                let at = UNIX_EPOCH + Duration::from_millis(r.fetched_at_ms);
                humantime::format_rfc3339_millis(at).to_string()
            }),
            elapsed_ms: result.map(|r| r.elapsed_ms),
            attempts: result.map(|r| r.attempts),
            error: result.and_then(|r| r.error.clone()),
        }
    }
}

/// Writes `pages` in `format`.
pub fn write(pages: &[PageRecord], format: Format, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        Format::Jsonl => {
            for page in pages {
                serde_json::to_writer(&mut *out, &ExportLine::from(page))?;
                out.write_all(b"\n")?;
            }
        }
        Format::Csv => {
            let mut csv = csv::Writer::from_writer(&mut *out);
            csv.write_record([
                "url",
                "task_id",
                "state",
                "status",
                "title",
                "tags",
                "links",
                "links_dropped",
                "tags_dropped",
                "depth",
                "fetched_at",
                "elapsed_ms",
                "error",
                "attempts",
            ])?;
            for page in pages {
                let line = ExportLine::from(page);
                let state = serde_json::to_value(line.state)?;
                // CSV is read in terminals and spreadsheets: page text goes
                // in with its control characters escaped (JSON Lines keeps it
                // exact, escaped by JSON itself).
                let text = |value: String| crate::display::printable(&value).into_owned();
                csv.write_record([
                    text(line.url),
                    line.task_id.to_string(),
                    state.as_str().unwrap_or_default().to_owned(),
                    line.status.map(|s| s.to_string()).unwrap_or_default(),
                    text(line.title.unwrap_or_default()),
                    text(line.tags.join(" ")),
                    text(line.links.join(" ")),
                    line.links_dropped.to_string(),
                    line.tags_dropped.to_string(),
                    line.depth.to_string(),
                    line.fetched_at.unwrap_or_default(),
                    line.elapsed_ms.map(|e| e.to_string()).unwrap_or_default(),
                    text(line.error.unwrap_or_default()),
                    line.attempts.map(|a| a.to_string()).unwrap_or_default(),
                ])?;
            }
            csv.flush()?;
        }
    }
    Ok(())
}
