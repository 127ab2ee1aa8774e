//! robots.txt (RFC 9309): what a fetch of it leaves in the store, and the
//! rules a crawl obeys. Parsing and matching (longest match, Allow winning a
//! tie, crawlq's product token or else `*`) are the `texting_robots` crate's.
//!
//! How a fetch's outcome becomes a record (RFC 9309 §2.3.1):
//! - 2xx: the rules in the body (the first [`ROBOTS_MAX_BYTES`] of it);
//! - 4xx ("unavailable"): everything allowed;
//! - 5xx, or no answer ("unreachable"): everything disallowed for now; the
//!   host is paused and robots.txt fetched again at the retry time.

use std::time::Duration;

use url::Url;

/// The product token crawlq's robots.txt groups are matched on.
pub const ROBOTS_AGENT: &str = "crawlq";

/// Most of a robots.txt body kept (the RFC asks parsers to read at least 500 KiB).
pub const ROBOTS_MAX_BYTES: usize = 512 * 1024;

/// Longest `Crawl-delay` obeyed; a larger one is taken as this.
pub const MAX_CRAWL_DELAY: Duration = Duration::from_secs(60);

/// The reason recorded for a page robots.txt disallows.
pub const BLOCKED_BY_ROBOTS: &str = "blocked by robots.txt";

/// What is known of a host's robots.txt in one crawl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RobotsRecord {
    /// A 2xx: these rules apply.
    Rules(String),
    /// A 4xx: no rules; everything is allowed.
    AllowAll,
    /// A 5xx or no answer: nothing is allowed until it is fetched again,
    /// from this time on (milliseconds since the Unix epoch).
    Unreachable {
        /// When to fetch it again.
        retry_at_ms: u64,
        /// Fetches that found it unreachable so far.
        tries: u32,
    },
    /// Unreachable [`ROBOTS_TRIES`] times: the crawl gives up on the host,
    /// whose pages fail unfetched (RFC 9309 takes an unreachable robots.txt
    /// as disallowing everything), so the crawl can finish.
    GaveUp,
}

/// Fetches of an unreachable robots.txt before the crawl gives up on its host.
pub const ROBOTS_TRIES: u32 = 4;

/// Why a page of a host whose robots.txt stayed unreachable was not fetched.
pub const ROBOTS_UNREACHABLE: &str =
    "robots.txt unreachable after 4 tries: its host's pages are not fetched (RFC 9309)";

impl RobotsRecord {
    /// The record's form in the store: `allow`, `retry MS TRIES`, `gaveup`,
    /// or `rules\n` and the body.
    pub fn encode(&self) -> String {
        match self {
            Self::Rules(body) => format!("rules\n{body}"),
            Self::AllowAll => "allow".into(),
            Self::Unreachable { retry_at_ms, tries } => format!("retry {retry_at_ms} {tries}"),
            Self::GaveUp => "gaveup".into(),
        }
    }

    /// Reads [`RobotsRecord::encode`]'s form; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        if let Some(body) = text.strip_prefix("rules\n") {
            return Some(Self::Rules(body.to_owned()));
        }
        match text {
            "allow" => return Some(Self::AllowAll),
            "gaveup" => return Some(Self::GaveUp),
            _ => {}
        }
        let mut parts = text.strip_prefix("retry ")?.split(' ');
        let retry_at_ms = parts.next()?.parse().ok()?;
        let tries = parts.next().map_or(Some(1), |n| n.parse().ok())?;
        Some(Self::Unreachable { retry_at_ms, tries })
    }
}

/// The robots.txt URL of a page's host.
pub fn robots_url(page: &Url) -> Option<Url> {
    let mut url = page.join("/robots.txt").ok()?;
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(url)
}

/// A record, parsed for matching.
#[derive(Debug)]
pub enum Robots {
    /// Rules for crawlq's token (or `*`).
    Rules(Box<texting_robots::Robot>),
    /// Everything allowed.
    AllowAll,
    /// Nothing allowed for now.
    DisallowAll,
    /// Nothing allowed: robots.txt stayed unreachable.
    GaveUp,
}

impl Robots {
    /// Parses a record; rules that cannot be parsed at all allow everything
    /// (the RFC asks crawlers to use what they can parse).
    pub fn new(record: &RobotsRecord) -> Self {
        match record {
            RobotsRecord::Rules(body) => {
                match texting_robots::Robot::new(ROBOTS_AGENT, body.as_bytes()) {
                    Ok(robot) => Self::Rules(Box::new(robot)),
                    Err(_) => Self::AllowAll,
                }
            }
            RobotsRecord::AllowAll => Self::AllowAll,
            RobotsRecord::Unreachable { .. } => Self::DisallowAll,
            RobotsRecord::GaveUp => Self::GaveUp,
        }
    }

    /// Whether a URL may be fetched.
    pub fn allows(&self, url: &Url) -> bool {
        match self {
            Self::Rules(robot) => robot.allowed(url.as_str()),
            Self::AllowAll => true,
            Self::DisallowAll | Self::GaveUp => false,
        }
    }

    /// Why a page it disallows is not fetched, as its result records it.
    pub fn refusal(&self) -> &'static str {
        match self {
            Self::GaveUp => ROBOTS_UNREACHABLE,
            _ => BLOCKED_BY_ROBOTS,
        }
    }

    /// The `Crawl-delay` for crawlq, capped at [`MAX_CRAWL_DELAY`].
    pub fn crawl_delay(&self) -> Duration {
        match self {
            Self::Rules(robot) => robot
                .delay
                .filter(|secs| secs.is_finite() && *secs > 0.0)
                .map_or(Duration::ZERO, |secs| {
                    Duration::from_secs_f32(secs.min(MAX_CRAWL_DELAY.as_secs_f32()))
                }),
            _ => Duration::ZERO,
        }
    }
}

/// The record a robots.txt fetch leaves: by status (`None`: no answer), with
/// the body of a 2xx, and the retry time of an unreachable one (found
/// unreachable `tries` times in all, this one included).
pub fn record_of(status: Option<u16>, body: &[u8], retry_at_ms: u64, tries: u32) -> RobotsRecord {
    match status {
        Some(200..=299) => {
            let body = &body[..body.len().min(ROBOTS_MAX_BYTES)];
            RobotsRecord::Rules(String::from_utf8_lossy(body).into_owned())
        }
        Some(400..=499) => RobotsRecord::AllowAll,
        _ if tries >= ROBOTS_TRIES => RobotsRecord::GaveUp,
        _ => RobotsRecord::Unreachable { retry_at_ms, tries },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(path: &str) -> Url {
        Url::parse(&format!("http://127.0.0.1:8080{path}")).unwrap()
    }

    #[test]
    fn records_round_trip() {
        for record in [
            RobotsRecord::Rules("User-agent: *\nDisallow: /x\n".into()),
            RobotsRecord::Rules(String::new()),
            RobotsRecord::AllowAll,
            RobotsRecord::Unreachable {
                retry_at_ms: 42,
                tries: 3,
            },
            RobotsRecord::GaveUp,
        ] {
            assert_eq!(RobotsRecord::decode(&record.encode()), Some(record));
        }
        assert_eq!(RobotsRecord::decode("nonsense"), None);
        assert_eq!(
            RobotsRecord::decode("retry 42"),
            Some(RobotsRecord::Unreachable {
                retry_at_ms: 42,
                tries: 1
            })
        );
    }

    #[test]
    fn statuses_become_records_as_rfc_9309_says() {
        assert_eq!(
            record_of(Some(200), b"Disallow: /", 0, 1),
            RobotsRecord::Rules("Disallow: /".into())
        );
        assert_eq!(record_of(Some(404), b"", 0, 1), RobotsRecord::AllowAll);
        assert_eq!(record_of(Some(403), b"", 0, 1), RobotsRecord::AllowAll);
        assert_eq!(
            record_of(Some(503), b"", 9, 1),
            RobotsRecord::Unreachable {
                retry_at_ms: 9,
                tries: 1
            }
        );
        assert_eq!(
            record_of(None, b"", 9, ROBOTS_TRIES - 1),
            RobotsRecord::Unreachable {
                retry_at_ms: 9,
                tries: ROBOTS_TRIES - 1
            }
        );
        // Unreachable every time: the crawl gives up on the host, and can finish.
        assert_eq!(record_of(None, b"", 9, ROBOTS_TRIES), RobotsRecord::GaveUp);
        assert!(ROBOTS_UNREACHABLE.contains(&format!("after {ROBOTS_TRIES} tries")));
        assert!(!Robots::new(&RobotsRecord::GaveUp).allows(&url("/")));
    }

    #[test]
    fn longest_match_for_our_token_or_star() {
        let body = "User-agent: *\nDisallow: /\n\nUser-agent: crawlq\nDisallow: /questions/\nAllow: /questions/7\nCrawl-delay: 2.5\n";
        let robots = Robots::new(&RobotsRecord::Rules(body.into()));
        assert!(!robots.allows(&url("/questions/1/a")));
        assert!(robots.allows(&url("/questions/7/seven")));
        assert!(!robots.allows(&url("/questions/tagged/python")));
        assert!(robots.allows(&url("/users/1")));
        assert!(robots.allows(&url("/robots.txt")));
        assert_eq!(robots.crawl_delay(), Duration::from_millis(2500));

        let star = Robots::new(&RobotsRecord::Rules(
            "User-agent: *\nDisallow: /private\nCrawl-delay: 999".into(),
        ));
        assert!(!star.allows(&url("/private/x")));
        assert!(star.allows(&url("/public")));
        assert_eq!(star.crawl_delay(), MAX_CRAWL_DELAY);
    }

    #[test]
    fn unreachable_disallows_and_unavailable_allows() {
        let down = Robots::new(&RobotsRecord::Unreachable {
            retry_at_ms: 1,
            tries: 1,
        });
        assert!(!down.allows(&url("/questions/1")));
        assert!(Robots::new(&RobotsRecord::AllowAll).allows(&url("/questions/1")));
    }

    #[test]
    fn robots_url_is_at_the_root_of_the_origin() {
        assert_eq!(
            robots_url(&url("/questions/1/a?b=c#d")).unwrap().as_str(),
            "http://127.0.0.1:8080/robots.txt"
        );
    }
}
