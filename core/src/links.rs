//! URL canonicalisation and the link rule: which links a crawl follows.
//!
//! The rule, documented in the README so crawls are reproducible: resolve each
//! `a[href]` against the page URL; drop the fragment and the query; lower-case
//! scheme and host; keep http(s) links whose host is allowed (a seed's host or
//! an `--allow-host`) and whose path matches the link pattern
//! (default [`DEFAULT_LINK_PATTERN`]). Each canonical URL is fetched at most
//! once per crawl.

use regex::Regex;
use url::Url;

/// The default link pattern, matched against the path of a canonical URL.
pub const DEFAULT_LINK_PATTERN: &str = r"^/questions/\d+";

/// Why a seed URL was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeedError {
    /// The text does not parse as an absolute URL.
    #[error(
        "'{0}' is not a URL: give an absolute http(s) URL such as https://stackoverflow.com/questions/tagged/dask"
    )]
    NotAUrl(String),
    /// The URL parses but is not http or https.
    #[error("'{0}' is not an http(s) URL: crawlq fetches only http:// and https:// pages")]
    NotHttp(String),
}

/// Canonicalises a seed as typed by the user: it must be an absolute http(s)
/// URL with a host. The fragment is dropped; the query is kept, since the user
/// chose it (`/questions/tagged/dask?tab=newest` is a different listing).
pub fn canonical_seed(text: &str) -> Result<Url, SeedError> {
    let mut url = Url::parse(text.trim()).map_err(|_| SeedError::NotAUrl(text.to_owned()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(SeedError::NotHttp(text.to_owned()));
    }
    url.set_fragment(None);
    Ok(url)
}

/// Resolves `href` against `base` and canonicalises it: fragment and query
/// dropped, scheme and host lower-cased (the `url` crate does that for http(s)).
/// Returns `None` for hrefs that do not resolve or are not http(s).
pub fn canonical_link(base: &Url, href: &str) -> Option<Url> {
    let mut url = base.join(href).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.host_str()?;
    url.set_fragment(None);
    url.set_query(None);
    Some(url)
}

/// The compiled link rule of one crawl.
#[derive(Debug, Clone)]
pub struct LinkRule {
    hosts: Vec<String>,
    pattern: Regex,
}

impl LinkRule {
    /// Builds a rule from allowed hosts (compared lower-case, without port) and a path regex.
    pub fn new(hosts: &[String], pattern: &str) -> Result<Self, regex::Error> {
        Ok(Self {
            hosts: hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            pattern: Regex::new(pattern)?,
        })
    }

    /// Whether the crawl follows this canonical URL.
    pub fn follows(&self, url: &Url) -> bool {
        url.host_str()
            .is_some_and(|h| self.hosts.iter().any(|allowed| allowed == h))
            && self.pattern.is_match(url.path())
    }

    /// Resolves and canonicalises `href`, returning it only if the crawl follows it.
    pub fn follow(&self, base: &Url, href: &str) -> Option<Url> {
        canonical_link(base, href).filter(|url| self.follows(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://stackoverflow.com/questions/1732348/regex-match").unwrap()
    }

    fn rule() -> LinkRule {
        LinkRule::new(&["stackoverflow.com".into()], DEFAULT_LINK_PATTERN).unwrap()
    }

    fn follow(href: &str) -> Option<String> {
        rule().follow(&base(), href).map(String::from)
    }

    #[test]
    fn relative_and_absolute_forms_resolve_to_one_canonical_url() {
        let want = Some("https://stackoverflow.com/questions/42/the-answer".to_owned());
        for href in [
            "/questions/42/the-answer",
            "https://stackoverflow.com/questions/42/the-answer",
            "HTTPS://StackOverflow.COM/questions/42/the-answer",
            "/questions/42/the-answer?noredirect=1",
            "/questions/42/the-answer#answer-7",
            "/questions/42/the-answer?answertab=votes#tab-top",
            "//stackoverflow.com/questions/42/the-answer",
            "../42/the-answer",
            "  /questions/42/the-answer  ",
        ] {
            assert_eq!(follow(href), want, "href {href:?}");
        }
    }

    #[test]
    fn links_outside_the_rule_are_dropped() {
        for href in [
            "/users/22656/jon-skeet",
            "/questions/tagged/python",
            "/questions/ask",
            "/a/1732395",
            "https://meta.stackexchange.com/questions/1234/other-site",
            "https://superuser.com/questions/99",
            "mailto:someone@example.com",
            "javascript:void(0)",
            "ftp://stackoverflow.com/questions/42",
            "/Questions/42/upper-case-path",
            "http://[::1/broken",
        ] {
            assert_eq!(follow(href), None, "href {href:?}");
        }
    }

    #[test]
    fn fragment_only_and_empty_hrefs_point_back_at_the_page() {
        assert_eq!(follow("#comments").as_deref(), Some(base().as_str()));
        assert_eq!(follow("").as_deref(), Some(base().as_str()));
    }

    #[test]
    fn host_match_ignores_port_and_case() {
        let rule = LinkRule::new(&["127.0.0.1".into()], DEFAULT_LINK_PATTERN).unwrap();
        let base = Url::parse("http://127.0.0.1:8080/questions/1/a").unwrap();
        assert!(rule.follow(&base, "/questions/2/b").is_some());
        assert!(
            rule.follow(&base, "http://localhost:8080/questions/2/b")
                .is_none()
        );
    }

    #[test]
    fn custom_pattern_applies_to_the_path_only() {
        let rule = LinkRule::new(&["example.com".into()], r"^/docs/").unwrap();
        let base = Url::parse("https://example.com/").unwrap();
        assert!(rule.follow(&base, "/docs/a?x=/questions/1").is_some());
        assert!(rule.follow(&base, "/questions/1?x=/docs/").is_none());
    }

    #[test]
    fn seeds_must_be_absolute_http_urls() {
        assert!(canonical_seed("https://stackoverflow.com/questions/tagged/dask").is_ok());
        assert_eq!(
            canonical_seed("stackoverflow.com/questions"),
            Err(SeedError::NotAUrl("stackoverflow.com/questions".into()))
        );
        assert_eq!(
            canonical_seed("ftp://example.com/"),
            Err(SeedError::NotHttp("ftp://example.com/".into()))
        );
        let seed = canonical_seed("https://EXAMPLE.com/tagged?tab=new#top").unwrap();
        assert_eq!(seed.as_str(), "https://example.com/tagged?tab=new");
    }
}
