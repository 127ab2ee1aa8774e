//! HTTP: fetching one page with reqwest, within a total timeout, a redirect
//! limit and a body-size cap, as crawlq's User-Agent. Decides what counts as a
//! page (status 200, an HTML body) and classifies every other outcome.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use url::Url;

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
    /// A 200 whose body is not HTML.
    #[error("not HTML: content-type {0}")]
    NotHtml(String),
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
            Self::NotHtml(_) | Self::TooLarge(_) => Some(200),
            _ => None,
        }
    }

    /// How long the server asked to wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited(wait) => *wait,
            _ => None,
        }
    }

    /// Whether trying again later may succeed (timeouts, connection errors,
    /// 5xx, 429) or not (404, non-HTML, too large).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout | Self::Connect(_) | Self::RateLimited(_) => true,
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
}

/// An HTTP client shared by all fetches of a process (one connection pool).
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_body_bytes: usize,
}

impl Fetcher {
    /// Builds the client.
    pub fn new(limits: &Limits) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(limits.timeout)
            .connect_timeout(limits.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::limited(limits.max_redirects))
            .user_agent(&limits.user_agent)
            .pool_max_idle_per_host(256)
            .build()?;
        Ok(Self {
            client,
            max_body_bytes: limits.max_body_bytes,
        })
    }

    /// Fetches `url`: a page only for status 200 with an HTML body under the cap.
    pub async fn fetch(&self, url: &str) -> Result<Page, FetchError> {
        let mut response = self.client.get(url).send().await.map_err(classify)?;
        let status = response.status().as_u16();
        if status == 429 {
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(FetchError::RateLimited(wait));
        }
        if status != 200 {
            return Err(FetchError::Status(status));
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
        if response
            .content_length()
            .is_some_and(|len| len > self.max_body_bytes as u64)
        {
            return Err(FetchError::TooLarge(self.max_body_bytes));
        }
        let final_url = response.url().clone();
        let mut body = Vec::with_capacity(response.content_length().unwrap_or(64 * 1024) as usize);
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(FetchError::TooLarge(self.max_body_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Page {
            final_url,
            html: decode(&content_type, body),
        })
    }
}

/// Decodes a body by the content-type's charset (UTF-8 when absent or unknown; a BOM wins).
fn decode(content_type: &str, body: Vec<u8>) -> String {
    let encoding = content_type
        .split(';')
        .filter_map(|param| param.trim().strip_prefix("charset="))
        .find_map(|label| encoding_rs::Encoding::for_label(label.trim_matches('"').as_bytes()))
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
    if error.is_timeout() {
        FetchError::Timeout
    } else if error.is_redirect() {
        FetchError::Redirects
    } else if error.is_connect() || error.is_request() || error.is_body() {
        FetchError::Connect(root_cause(&error))
    } else {
        FetchError::Other(root_cause(&error))
    }
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
    fn transient_or_permanent() {
        assert!(FetchError::Timeout.is_transient());
        assert!(FetchError::Status(503).is_transient());
        assert!(FetchError::RateLimited(None).is_transient());
        assert_eq!(FetchError::RateLimited(None).status(), Some(429));
        assert!(!FetchError::Status(404).is_transient());
        assert!(!FetchError::NotHtml("image/png".into()).is_transient());
        assert_eq!(FetchError::NotHtml("image/png".into()).status(), Some(200));
        assert_eq!(FetchError::Connect("refused".into()).status(), None);
    }
}
