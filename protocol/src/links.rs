//! URL canonicalisation and the link rule: which links a crawl follows.
//!
//! The rule, documented in the README so crawls are reproducible: resolve each
//! `a[href]` against the page URL; drop the fragment and the query; lower-case
//! scheme and host; keep http(s) links whose origin is allowed (a seed's, or an
//! `--allow-host`'s) and whose path matches the link pattern (default
//! [`DEFAULT_LINK_PATTERN`]). Each canonical URL is fetched at most once per
//! crawl.
//!
//! A host is an origin: scheme, host and port, as browsers and robots.txt
//! (RFC 9309) count it. An allowed host is kept in one of two forms: an origin
//! (`http://127.0.0.1:8080`) matches exactly that scheme, host and port; a bare
//! host (`stackoverflow.com`) matches that host on its scheme's default port
//! (http on 80, https on 443) and nothing else.

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
    /// No host where one must be (`http:///x`), or port 0.
    #[error("'{0}' names no host and port to fetch from: give http(s)://HOST[:PORT]/...")]
    NoHost(String),
    /// Longer than [`MAX_URL_BYTES`].
    #[error("'{0}' is longer than {MAX_URL_BYTES} bytes: crawlq does not fetch such URLs")]
    TooLong(String),
}

/// The longest URL crawlq fetches or follows, in bytes; a longer link is
/// dropped, a longer seed refused.
pub const MAX_URL_BYTES: usize = 4096;

/// Text cut to 100 characters for a message (`...` marks the cut).
pub fn shorten(text: &str) -> String {
    const KEEP: usize = 100;
    match text.char_indices().nth(KEEP) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

/// Makes a parsed http(s) URL one crawlq fetches, or says why not: a host
/// (the `url` crate reads `http:///x` as host `x`: refused by looking at the
/// text), a port other than 0, at most [`MAX_URL_BYTES`]; userinfo dropped,
/// since crawlq sends no credentials, and `a:b@host` is the page at `host`.
fn fetchable(url: &mut Url, text: &str) -> Result<(), SeedError> {
    let empty_authority = text
        .trim()
        .split_once("://")
        .is_some_and(|(scheme, rest)| !scheme.contains(['/', '?', '#']) && rest.starts_with('/'));
    if url.host_str().is_none_or(str::is_empty) || empty_authority || url.port() == Some(0) {
        return Err(SeedError::NoHost(shorten(text)));
    }
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
    if url.as_str().len() > MAX_URL_BYTES {
        return Err(SeedError::TooLong(shorten(text)));
    }
    Ok(())
}

/// Why an `--allow-host` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "'{0}' is not a host or origin: give a host (stackoverflow.com), host:port (127.0.0.1:8080) or origin (http://127.0.0.1:8080)"
)]
pub struct AllowHostError(pub String);

/// The origin of a URL as text: `scheme://host[:port]`, the port shown only
/// when it is not the scheme's default (`https://stackoverflow.com`,
/// `http://127.0.0.1:8080`). Politeness, robots.txt and the link rule key on it.
pub fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// The allowed-host entries a seed contributes: its origin when it names a
/// port, else its bare host (so a seed on a default port may be redirected
/// from http to https, the common case, and stay in the crawl).
pub fn seed_host_entry(seed: &Url) -> Option<String> {
    let host = seed.host_str()?;
    Some(match seed.port() {
        Some(_) => origin(seed),
        None => host.to_owned(),
    })
}

/// Parses an `--allow-host` into allowed-host entries: a bare host stays a
/// host (default ports); `host:port` means that port under http and https; an
/// origin (`http://host:port`) is taken as it is.
pub fn allow_host_entries(text: &str) -> Result<Vec<String>, AllowHostError> {
    let text = text.trim();
    let refuse = || AllowHostError(text.to_owned());
    if text.contains("://") {
        let url = Url::parse(text).map_err(|_| refuse())?;
        let bare = matches!(url.path(), "" | "/") && url.query().is_none();
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() || !bare {
            return Err(refuse());
        }
        return Ok(vec![origin(&url)]);
    }
    let url = Url::parse(&format!("http://{text}")).map_err(|_| refuse())?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(refuse)?;
    if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
        return Err(refuse());
    }
    let explicit_port = url.port().is_some() || text.ends_with(":80");
    if !explicit_port {
        return Ok(vec![host.to_owned()]);
    }
    let port = url.port_or_known_default().unwrap_or(80);
    Ok(["http", "https"]
        .iter()
        .filter_map(|scheme| {
            let mut at = Url::parse(&format!("{scheme}://{host}/")).ok()?;
            at.set_port(Some(port)).ok()?;
            Some(origin(&at))
        })
        .collect())
}

/// Canonicalises a seed as typed by the user: it must be an absolute http(s)
/// URL with a host. The fragment is dropped; the query is kept, since the user
/// chose it (`/questions/tagged/dask?tab=newest` is a different listing).
pub fn canonical_seed(text: &str) -> Result<Url, SeedError> {
    let mut url = Url::parse(text.trim()).map_err(|_| SeedError::NotAUrl(shorten(text)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SeedError::NotHttp(shorten(text)));
    }
    url.set_fragment(None);
    fetchable(&mut url, text)?;
    Ok(url)
}

/// Resolves `href` against `base` and canonicalises it: fragment and query
/// dropped, scheme and host lower-cased (the `url` crate does that for http(s)).
/// Returns `None` for hrefs that do not resolve or are not http(s).
pub fn canonical_link(base: &Url, href: &str) -> Option<Url> {
    if href.len() > MAX_URL_BYTES {
        return None;
    }
    // Another scheme (`javascript:`, `mailto:`) is not followed: no need to
    // parse the rest. (Where the parser would drop characters before the
    // colon, the whole reference is parsed.)
    let trimmed = href.trim_start_matches(|c: char| c <= ' ');
    if let Some((scheme, _)) = trimmed.split_once(':')
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !scheme.eq_ignore_ascii_case("http")
        && !scheme.eq_ignore_ascii_case("https")
    {
        return None;
    }
    // Query and fragment are dropped: cut them before resolving (the first
    // `?` or `#` starts them wherever it is, as the URL parser reads it), so
    // they are not parsed and percent-encoded only to be thrown away.
    let reference = href.find(['?', '#']).map_or(href, |at| &href[..at]);
    let mut url = base.join(reference).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    if url.fragment().is_some() {
        url.set_fragment(None);
    }
    // An empty reference resolves to the base, with its query.
    if url.query().is_some() {
        url.set_query(None);
    }
    fetchable(&mut url, href).ok()?;
    Some(url)
}

/// The hosts a crawl may reach: its allowed-host entries (origins and bare
/// hosts, see the module doc). Redirects are held to them as links are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSet {
    entries: Vec<HostEntry>,
}

/// One allowed host, parsed once: every link of every page is checked
/// against it, so a check allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostEntry {
    /// Exactly this scheme, host and port.
    Origin {
        scheme: String,
        host: String,
        port: u16,
    },
    /// This host on its scheme's default port.
    Host(String),
}

impl HostSet {
    /// The set of these entries (compared lower-case); an origin that does
    /// not parse matches nothing.
    pub fn new(entries: &[String]) -> Self {
        let entries = entries
            .iter()
            .map(|entry| entry.to_ascii_lowercase())
            .filter_map(|entry| {
                if !entry.contains("://") {
                    return Some(HostEntry::Host(entry));
                }
                let url = Url::parse(&entry).ok()?;
                Some(HostEntry::Origin {
                    scheme: url.scheme().to_owned(),
                    host: url.host_str()?.to_owned(),
                    port: url.port_or_known_default()?,
                })
            })
            .collect();
        Self { entries }
    }

    /// Whether `url`'s origin is one of the crawl's hosts.
    pub fn allows(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        self.entries.iter().any(|entry| match entry {
            HostEntry::Origin {
                scheme,
                host: allowed,
                port,
            } => {
                allowed == host
                    && scheme == url.scheme()
                    && Some(*port) == url.port_or_known_default()
            }
            HostEntry::Host(allowed) => allowed == host && url.port().is_none(),
        })
    }
}

/// The compiled link rule of one crawl.
#[derive(Debug, Clone)]
pub struct LinkRule {
    hosts: HostSet,
    pattern: Regex,
}

impl LinkRule {
    /// Builds a rule from allowed-host entries (see [`HostSet`]) and a path regex.
    pub fn new(hosts: &[String], pattern: &str) -> Result<Self, regex::Error> {
        Ok(Self {
            hosts: HostSet::new(hosts),
            pattern: Regex::new(pattern)?,
        })
    }

    /// The hosts the rule allows.
    pub fn hosts(&self) -> &HostSet {
        &self.hosts
    }

    /// Whether the crawl follows this canonical URL.
    pub fn follows(&self, url: &Url) -> bool {
        self.hosts.allows(url) && self.pattern.is_match(url.path())
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
    fn an_origin_matches_its_scheme_host_and_port_only() {
        let rule = LinkRule::new(&["http://127.0.0.1:8080".into()], DEFAULT_LINK_PATTERN).unwrap();
        let base = Url::parse("http://127.0.0.1:8080/questions/1/a").unwrap();
        assert!(rule.follow(&base, "/questions/2/b").is_some());
        assert!(
            rule.follow(&base, "HTTP://127.0.0.1:8080/questions/2/b")
                .is_some()
        );
        for other in [
            "http://127.0.0.1:8081/questions/2/b",
            "http://127.0.0.1/questions/2/b",
            "https://127.0.0.1:8080/questions/2/b",
            "http://localhost:8080/questions/2/b",
        ] {
            assert!(rule.follow(&base, other).is_none(), "{other}");
        }
    }

    #[test]
    fn a_bare_host_matches_its_default_ports_only() {
        let rule = LinkRule::new(&["stackoverflow.com".into()], DEFAULT_LINK_PATTERN).unwrap();
        assert!(
            rule.follow(&base(), "http://stackoverflow.com/questions/2/b")
                .is_some()
        );
        assert!(
            rule.follow(&base(), "https://stackoverflow.com:443/questions/2")
                .is_some()
        );
        assert!(
            rule.follow(&base(), "https://stackoverflow.com:8443/questions/2")
                .is_none()
        );
        assert!(
            rule.follow(&base(), "http://stackoverflow.com:8080/questions/2")
                .is_none()
        );
    }

    #[test]
    fn seeds_contribute_their_origin_or_their_bare_host() {
        let entry = |s: &str| seed_host_entry(&Url::parse(s).unwrap()).unwrap();
        assert_eq!(
            entry("http://127.0.0.1:8080/questions"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            entry("https://stackoverflow.com/questions"),
            "stackoverflow.com"
        );
        assert_eq!(entry("http://stackoverflow.com:80/"), "stackoverflow.com");
    }

    #[test]
    fn allow_hosts_take_hosts_host_ports_and_origins() {
        let ok = |s: &str| allow_host_entries(s).unwrap();
        assert_eq!(ok("Example.COM"), ["example.com"]);
        assert_eq!(
            ok("127.0.0.2:8080"),
            ["http://127.0.0.2:8080", "https://127.0.0.2:8080"]
        );
        assert_eq!(
            ok("example.com:80"),
            ["http://example.com", "https://example.com:80"]
        );
        assert_eq!(
            ok("[::1]:9000"),
            ["http://[::1]:9000", "https://[::1]:9000"]
        );
        assert_eq!(ok("http://127.0.0.2:8080"), ["http://127.0.0.2:8080"]);
        assert_eq!(ok("https://example.com/"), ["https://example.com"]);
        for bad in [
            "",
            "ftp://x.com",
            "x.com/path",
            "http://x.com/path",
            "user@x.com",
            "a b",
        ] {
            assert!(allow_host_entries(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unfetchable_urls_are_refused_and_credentials_dropped() {
        assert_eq!(follow("http://stackoverflow.com:0/questions/1/a"), None);
        assert_eq!(follow("http:///questions/1/a"), None);
        assert!(follow("/questions/3/b?next=http:///x").is_some());
        let long = format!("/questions/1/{}", "a".repeat(MAX_URL_BYTES));
        assert_eq!(follow(&long), None);
        assert_eq!(
            follow("https://user:pass@stackoverflow.com/questions/7/x").as_deref(),
            Some("https://stackoverflow.com/questions/7/x"),
            "userinfo is dropped: the same page as without it"
        );
        assert_eq!(
            canonical_seed("http:///questions/x"),
            Err(SeedError::NoHost("http:///questions/x".into()))
        );
        assert_eq!(
            canonical_seed("http://example.com:0/"),
            Err(SeedError::NoHost("http://example.com:0/".into()))
        );
        let seed = canonical_seed("https://a:b@example.com/x").unwrap();
        assert_eq!(seed.as_str(), "https://example.com/x");
        let huge = format!("https://example.com/{}", "x".repeat(100_000));
        let error = canonical_seed(&huge).unwrap_err().to_string();
        assert!(
            error.len() < 300,
            "the error does not echo 100 KB: {}",
            error.len()
        );
        assert!(error.contains("longer than 4096 bytes"), "{error}");
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
