//! HTTP: fetching one page with reqwest, within a total timeout, a redirect
//! limit and a body-size cap, as crawlq's User-Agent. Redirects are followed
//! here, hop by hop, so that each hop is held to the crawl's hosts and passes
//! the SSRF guard ([`crate::worker::guard`]). Decides what counts as a page (status
//! 200, an HTML body) and classifies every other outcome.

use std::time::{Duration, SystemTime};

use crawlq_core::links::HostSet;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, LOCATION, RETRY_AFTER};
use url::Url;

use crate::worker::guard::{self, AllowPrivate};

/// Why a page could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No complete response within the total timeout.
    #[error("timed out")]
    Timeout,
    /// The connection could not be made or broke.
    #[error("connection failed: {0}")]
    Connect(String),
    /// A response other than 200.
    #[error("HTTP {0}")]
    Status(u16),
    /// 429 Too Many Requests, with how long the server asks to wait.
    #[error("HTTP 429 (rate limited)")]
    RateLimited(Option<Duration>),
    /// 503 Service Unavailable with a Retry-After: the host asks for a pause.
    #[error("HTTP 503 (unavailable, Retry-After {}s)", .0.as_secs())]
    Unavailable(Duration),
    /// The SSRF guard refused an address (see [`crate::worker::guard`]).
    #[error("{0}")]
    Blocked(String),
    /// A redirect to a host the crawl does not follow.
    #[error("redirect off the crawl's hosts: {0}")]
    OffHosts(String),
    /// A redirect whose target is not an http(s) URL.
    #[error("redirect to a non-http(s) URL: {0}")]
    BadRedirect(String),
    /// A 200 whose body is not HTML.
    #[error("not HTML: content-type {0}")]
    NotHtml(String),
    /// A 200 whose body is binary (an image, an archive, random bytes),
    /// whatever its content-type says.
    #[error("not HTML: a binary body ({0})")]
    Binary(&'static str),
    /// A body in a content-encoding crawlq did not ask for and cannot decode.
    #[error("content-encoding {0} was not asked for and is not decoded")]
    Encoding(String),
    /// A 200 whose body is over the cap.
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    /// More redirects than the limit.
    #[error("too many redirects")]
    Redirects,
    /// Anything else reqwest reports.
    #[error("request failed: {0}")]
    Other(String),
}

impl FetchError {
    /// The HTTP status of the response, when one came.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status(code) => Some(*code),
            Self::RateLimited(_) => Some(429),
            Self::Unavailable(_) => Some(503),
            Self::NotHtml(_) | Self::TooLarge(_) | Self::Binary(_) | Self::Encoding(_) => Some(200),
            _ => None,
        }
    }

    /// How long the server asked to wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited(wait) => *wait,
            Self::Unavailable(wait) => Some(*wait),
            _ => None,
        }
    }

    /// A word for the failure, as the retries metric labels it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect(_) => "connect",
            Self::RateLimited(_) => "http_429",
            Self::Unavailable(_) => "http_5xx",
            Self::Status(429) => "http_429",
            Self::Status(500..) => "http_5xx",
            _ => "other",
        }
    }

    /// Whether trying again later may succeed (timeouts, connection errors,
    /// 5xx, 429) or not (404, non-HTML, too large).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout | Self::Connect(_) | Self::RateLimited(_) | Self::Unavailable(_) => true,
            Self::Status(code) => *code == 429 || *code >= 500,
            _ => false,
        }
    }
}

/// A fetched HTML page.
#[derive(Debug)]
pub struct Page {
    /// Where redirects ended.
    pub final_url: Url,
    /// The body, decoded to text.
    pub html: String,
}

/// Fetch limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Total time for one fetch, body included.
    pub timeout: Duration,
    /// Redirects followed before giving up.
    pub max_redirects: usize,
    /// Largest body read.
    pub max_body_bytes: usize,
    /// The User-Agent header.
    pub user_agent: String,
    /// Private targets the operator opened (the SSRF guard's exceptions).
    pub allow_private: AllowPrivate,
}

/// Longest pause a Retry-After may ask for; longer ones are taken as this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// An HTTP client shared by all fetches of a process (one connection pool).
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// Connects only to public addresses.
    guarded: reqwest::Client,
    /// Connects anywhere: used only for the targets the operator opened.
    open: reqwest::Client,
    allow_private: AllowPrivate,
    timeout: Duration,
    max_redirects: usize,
    max_body_bytes: usize,
}

/// A response that is the end of a fetch (not a redirect to follow).
struct Landed {
    url: Url,
    response: reqwest::Response,
}

impl Fetcher {
    /// Builds the clients.
    pub fn new(limits: &Limits) -> Result<Self, reqwest::Error> {
        let builder = || {
            reqwest::Client::builder()
                .timeout(limits.timeout)
                .connect_timeout(limits.timeout.min(Duration::from_secs(10)))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(&limits.user_agent)
                .pool_max_idle_per_host(256)
        };
        Ok(Self {
            // A proxy would resolve names where the guard cannot see them.
            guarded: builder()
                .no_proxy()
                .dns_resolver(guard::resolver())
                .build()?,
            open: builder().build()?,
            allow_private: limits.allow_private.clone(),
            timeout: limits.timeout,
            max_redirects: limits.max_redirects,
            max_body_bytes: limits.max_body_bytes,
        })
    }

    /// Fetches `url`, following redirects within `hosts`: a page only for
    /// status 200 with an HTML body under the cap. The whole fetch, every hop
    /// and the body included, ends within the timeout.
    pub async fn fetch(&self, url: &str, hosts: &HostSet) -> Result<Page, FetchError> {
        let url = Url::parse(url).map_err(|e| FetchError::Other(format!("bad URL: {e}")))?;
        tokio::time::timeout(self.timeout, async {
            let landed = self
                .follow_within(url, Some(hosts), self.max_redirects)
                .await?;
            self.read(landed).await
        })
        .await
        .map_err(|_| FetchError::Timeout)?
    }

    /// Fetches robots.txt at `url` (RFC 9309: redirects followed up to five
    /// hops, to any http(s) host): its status and, for a 2xx, its body (capped).
    pub async fn fetch_robots(&self, url: &Url) -> Result<(u16, Vec<u8>), FetchError> {
        tokio::time::timeout(self.timeout, async {
            let landed = self
                .follow_within(url.clone(), None, ROBOTS_REDIRECTS)
                .await?;
            let status = landed.response.status().as_u16();
            if !(200..300).contains(&status) {
                return Ok((status, Vec::new()));
            }
            let body = read_capped(landed.response, ROBOTS_MAX_BYTES, true).await?;
            Ok((status, body))
        })
        .await
        .map_err(|_| FetchError::Timeout)?
    }

    /// Sends a GET for `url`, then for each redirect's target in turn, each
    /// hop checked by the guard and (when given) held to `hosts`.
    async fn follow_within(
        &self,
        mut url: Url,
        hosts: Option<&HostSet>,
        max_redirects: usize,
    ) -> Result<Landed, FetchError> {
        let mut hops = 0;
        loop {
            let client = if self.allow_private.opens(&url) {
                &self.open
            } else {
                guard::check_literal(&url).map_err(FetchError::Blocked)?;
                &self.guarded
            };
            let response = client.get(url.clone()).send().await.map_err(classify)?;
            let location = response.headers().get(LOCATION);
            let Some(location) = location.filter(|_| response.status().is_redirection()) else {
                return Ok(Landed { url, response });
            };
            if hops == max_redirects {
                return Err(FetchError::Redirects);
            }
            hops += 1;
            let target = location
                .to_str()
                .ok()
                .and_then(|to| url.join(to.trim()).ok())
                .ok_or_else(|| {
                    FetchError::BadRedirect(String::from_utf8_lossy(location.as_bytes()).into())
                })?;
            if !matches!(target.scheme(), "http" | "https") || target.port() == Some(0) {
                return Err(FetchError::BadRedirect(target.into()));
            }
            if hosts.is_some_and(|hosts| !hosts.allows(&target)) {
                return Err(FetchError::OffHosts(target.into()));
            }
            url = target;
        }
    }

    /// Reads a final response into a page, or says why it is not one.
    async fn read(&self, landed: Landed) -> Result<Page, FetchError> {
        let Landed { url, response } = landed;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers(), SystemTime::now());
        match (status, retry_after) {
            (429, wait) => return Err(FetchError::RateLimited(wait)),
            (503, Some(wait)) => return Err(FetchError::Unavailable(wait)),
            (200, _) => {}
            _ => return Err(FetchError::Status(status)),
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !content_type.is_empty()
            && !content_type.contains("text/html")
            && !content_type.contains("application/xhtml+xml")
        {
            return Err(FetchError::NotHtml(content_type));
        }
        // reqwest asks for gzip and decodes it, removing the header; any
        // encoding left is one the body is still in.
        if let Some(encoding) = response
            .headers()
            .get(CONTENT_ENCODING)
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .trim()
                    .to_ascii_lowercase()
            })
            .filter(|v| !v.is_empty() && v != "identity")
        {
            return Err(FetchError::Encoding(encoding));
        }
        let body = read_capped(response, self.max_body_bytes, false).await?;
        if let Some(kind) = binary_kind(&body) {
            return Err(FetchError::Binary(kind));
        }
        Ok(Page {
            final_url: url,
            html: decode(&content_type, body),
        })
    }
}

/// Most redirects followed for robots.txt (RFC 9309 §2.3.1.2).
const ROBOTS_REDIRECTS: usize = 5;

/// Most of a robots.txt read (RFC 9309 §2.5 asks for at least 500 KiB).
const ROBOTS_MAX_BYTES: usize = 512 * 1024;

/// Reads a body up to `cap` bytes: past it, the fetch fails, or with
/// `truncate` the first `cap` bytes are kept.
async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
    truncate: bool,
) -> Result<Vec<u8>, FetchError> {
    if !truncate
        && response
            .content_length()
            .is_some_and(|len| len > cap as u64)
    {
        return Err(FetchError::TooLarge(cap));
    }
    let expected = response
        .content_length()
        .unwrap_or(64 * 1024)
        .min(cap as u64);
    let mut body = Vec::with_capacity(expected as usize);
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > cap {
            if truncate {
                body.extend_from_slice(&chunk[..cap - body.len()]);
                break;
            }
            return Err(FetchError::TooLarge(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The wait a Retry-After header asks for, in seconds or as an HTTP date
/// (RFC 9110 §10.2.3), capped at [`MAX_RETRY_AFTER`]; a date in the past is
/// no wait.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or_default()
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// What kind of binary a body is, by its first bytes: a known signature, or
/// a byte no text holds (the WHATWG MIME Sniffing standard's "binary data
/// bytes" in the first 1,445 bytes, a UTF-16 BOM excepted); `None` for text.
fn binary_kind(body: &[u8]) -> Option<&'static str> {
    const SIGNATURES: [(&[u8], &str); 9] = [
        (b"\x89PNG\r\n\x1a\n", "PNG image"),
        (b"GIF87a", "GIF image"),
        (b"GIF89a", "GIF image"),
        (b"\xff\xd8\xff", "JPEG image"),
        (b"%PDF-", "PDF document"),
        (b"PK\x03\x04", "ZIP archive"),
        (b"\x1f\x8b\x08", "gzip data"),
        (b"\x7fELF", "executable"),
        (b"\x00\x00\x01\x00", "icon"),
    ];
    if let Some((_, kind)) = SIGNATURES.iter().find(|(magic, _)| body.starts_with(magic)) {
        return Some(kind);
    }
    if body.starts_with(b"\xfe\xff") || body.starts_with(b"\xff\xfe") {
        return None;
    }
    let binary_byte = |b: &u8| matches!(b, 0x00..=0x08 | 0x0b | 0x0e..=0x1a | 0x1c..=0x1f);
    body.iter()
        .take(1445)
        .any(binary_byte)
        .then_some("bytes no text holds")
}

/// A charset named in a `<meta>` within the first 1,024 bytes (the HTML
/// standard's prescan, simplified to its two forms: `<meta charset=...>` and
/// `<meta http-equiv="Content-Type" content="...; charset=...">`).
fn meta_charset(body: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    static META: std::sync::LazyLock<Option<regex::bytes::Regex>> =
        std::sync::LazyLock::new(|| {
            regex::bytes::Regex::new(r#"(?i-u)<meta\b[^>]*?charset\s*=\s*["']?\s*([a-z0-9_\-:.]+)"#)
                .ok()
        });
    let head = &body[..body.len().min(1024)];
    let label = META.as_ref()?.captures(head)?.get(1)?.as_bytes();
    let encoding = encoding_rs::Encoding::for_label(label)?;
    // The standard's overrides: a UTF-16 label in a byte-oriented prescan
    // means UTF-8; x-user-defined means windows-1252.
    Some(
        if encoding == encoding_rs::UTF_16BE || encoding == encoding_rs::UTF_16LE {
            encoding_rs::UTF_8
        } else if encoding == encoding_rs::X_USER_DEFINED {
            encoding_rs::WINDOWS_1252
        } else {
            encoding
        },
    )
}

/// Decodes a body as the HTML standard orders it: a BOM, the content-type's
/// charset, a `<meta>` charset, else UTF-8.
fn decode(content_type: &str, body: Vec<u8>) -> String {
    let encoding = content_type
        .split(';')
        .filter_map(|param| param.trim().strip_prefix("charset="))
        .find_map(|label| encoding_rs::Encoding::for_label(label.trim_matches('"').as_bytes()))
        .or_else(|| meta_charset(&body))
        .unwrap_or(encoding_rs::UTF_8);
    let bom = encoding_rs::Encoding::for_bom(&body).is_some();
    if encoding == encoding_rs::UTF_8 && !bom {
        // The common case: valid UTF-8 becomes the String without a copy.
        return String::from_utf8(body)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    }
    encoding.decode(&body).0.into_owned()
}

fn classify(error: reqwest::Error) -> FetchError {
    if let Some(blocked) = blocked_by_guard(&error) {
        FetchError::Blocked(blocked)
    } else if error.is_timeout() {
        FetchError::Timeout
    } else if error.is_redirect() {
        FetchError::Redirects
    } else if error.is_connect() || error.is_request() || error.is_body() {
        FetchError::Connect(root_cause(&error))
    } else {
        FetchError::Other(root_cause(&error))
    }
}

/// The guard's refusal, when that is why a connection failed.
fn blocked_by_guard(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(blocked) = error.downcast_ref::<guard::Blocked>() {
            return Some(blocked.0.clone());
        }
        cause = error.source();
    }
    None
}

/// The innermost cause's text: "Connection refused (os error 111)", without the URL.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_from_content_type() {
        assert_eq!(
            decode("text/html; charset=iso-8859-1", b"caf\xe9".to_vec()),
            "café"
        );
        assert_eq!(decode("text/html", "café".into()), "café");
        assert_eq!(decode("text/html; charset=\"utf-8\"", "é".into()), "é");
        assert_eq!(decode("text/html", b"caf\xe9".to_vec()), "caf\u{fffd}");
        assert_eq!(decode("text/html", b"\xef\xbb\xbfok".to_vec()), "ok");
    }

    #[test]
    fn charset_from_meta_when_the_header_names_none() {
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("日本語のページ");
        let page = [
            b"<html><head><meta charset=\"Shift_JIS\"><title>".as_slice(),
            &sjis,
            b"</title>",
        ]
        .concat();
        assert!(decode("text/html", page.clone()).contains("日本語のページ"));
        let http_equiv = [
            b"<meta http-equiv='Content-Type' content='text/html; charset=shift_jis'>".as_slice(),
            &sjis,
        ]
        .concat();
        assert!(decode("text/html", http_equiv).contains("日本語のページ"));
        // The header wins over the meta.
        assert!(!decode("text/html; charset=utf-8", page).contains("日本語"));
        assert_eq!(
            decode("text/html", b"<meta charset=utf-16>ok".to_vec()),
            "<meta charset=utf-16>ok"
        );
    }

    #[test]
    fn binary_bodies_are_known_by_their_bytes() {
        assert_eq!(binary_kind(b"\x89PNG\r\n\x1a\n...."), Some("PNG image"));
        assert_eq!(binary_kind(b"\x1f\x8b\x08\x00"), Some("gzip data"));
        assert_eq!(
            binary_kind(b"<html>\x00</html>"),
            Some("bytes no text holds")
        );
        assert_eq!(
            binary_kind(b"<html><title>\x1b[31m</title>"),
            None,
            "ESC is text"
        );
        assert_eq!(binary_kind("<p>café</p>\n\t".as_bytes()), None);
        assert_eq!(
            binary_kind(b"\xff\xfe<\x00h\x00"),
            None,
            "UTF-16 with its BOM"
        );
        let late = [vec![b'a'; 2000], vec![0u8]].concat();
        assert_eq!(
            binary_kind(&late),
            None,
            "only the first 1,445 bytes are read"
        );
    }

    #[test]
    fn transient_or_permanent() {
        assert!(FetchError::Timeout.is_transient());
        assert!(FetchError::Status(503).is_transient());
        assert!(FetchError::RateLimited(None).is_transient());
        assert_eq!(FetchError::RateLimited(None).status(), Some(429));
        assert!(!FetchError::Status(404).is_transient());
        assert!(!FetchError::NotHtml("image/png".into()).is_transient());
        assert_eq!(FetchError::NotHtml("image/png".into()).status(), Some(200));
        assert_eq!(FetchError::Connect("refused".into()).status(), None);
        assert!(!FetchError::Blocked("blocked".into()).is_transient());
        assert!(!FetchError::OffHosts("http://x/".into()).is_transient());
        assert!(FetchError::Unavailable(Duration::from_secs(3)).is_transient());
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date_capped() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let header = |v: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, v.parse().unwrap());
            retry_after(&headers, now)
        };
        assert_eq!(header("30"), Some(Duration::from_secs(30)));
        assert_eq!(header(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(header("999999999"), Some(MAX_RETRY_AFTER));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(header(&later), Some(Duration::from_secs(90)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(header(&past), Some(Duration::ZERO));
        assert_eq!(header("soon"), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }
}
