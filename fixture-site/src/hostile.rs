//! Hostile pages, generated on request (nothing stored), each with the result
//! a crawler should record for it: the end-to-end tests crawl every one of
//! them in both modes and compare. `/__hostile` links to all of them.
//!
//! They stand for what the open web serves: markup that makes a parser
//! quadratic, pages of countless links, text with NULs and odd character
//! references, URLs no one should follow, bodies that lie about what they
//! are, bodies without end, servers that never answer, redirects that go
//! nowhere or to `file:`.

use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream;

/// The result a crawler should record for a hostile page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Parsed: its title, tags, how many links kept and how many dropped.
    Done {
        /// The title.
        title: Option<&'static str>,
        /// The tags, sorted.
        tags: &'static [&'static str],
        /// Links kept.
        links: usize,
        /// Links past the per-page cap.
        links_dropped: u64,
        /// Tag elements not counted.
        tags_dropped: u64,
    },
    /// Recorded as failed, with this HTTP status and an error starting so.
    Failed {
        /// The status recorded (`None`: no response).
        status: Option<u16>,
        /// How the recorded error starts.
        error: &'static str,
    },
}

/// One hostile page.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its path on the site.
    pub path: &'static str,
    /// What it does.
    pub what: &'static str,
    /// What the crawler should record.
    pub expect: Expect,
}

/// Tags nested 20,000 deep (460 KB): an `<a>` in an `<a>` closes the first.
const NESTED_TAGS: usize = 20_000;
/// `<div>`s opened under one unclosed tag (500 KB).
const UNCLOSED_DIVS: usize = 100_000;
/// Formatting elements never closed, each unlike the last (470 KB).
const OPEN_FORMATTING: usize = 40_000;
/// Closed `<div>`s nested (1.2 MB).
const DEEP_DIVS: usize = 200_000;
/// Distinct links on one page (4 MB).
const MANY_LINKS: usize = 150_000;
/// Bytes of one href (100 KB).
const LONG_HREF: usize = 100 * 1024;

impl Case {
    /// The start of the error it should record (empty when it should be done).
    pub fn expect_error(&self) -> &'static str {
        match self.expect {
            Expect::Failed { error, .. } => error,
            Expect::Done { .. } => "",
        }
    }
}

/// Every hostile page and what a crawler with default limits (5 MB bodies,
/// 2,000 links and 500 tags a page) should record for it; the timeouts
/// expect a total fetch timeout of a few seconds and no retries.
pub fn cases() -> Vec<Case> {
    let done = |title, tags, links, links_dropped, tags_dropped| Expect::Done {
        title,
        tags,
        links,
        links_dropped,
        tags_dropped,
    };
    let failed = |status, error| Expect::Failed { status, error };
    let too_complex = "page too complex to parse";
    vec![
        Case {
            path: "/__hostile/nested-tags",
            what: "20,000 nested <a class=post-tag>",
            expect: done(Some("nested tags"), &["x"], 0, 0, 0),
        },
        Case {
            path: "/__hostile/unclosed-tag",
            what: "100,000 <div>s under one unclosed tag",
            expect: failed(Some(200), too_complex),
        },
        Case {
            path: "/__hostile/open-formatting",
            what: "40,000 unclosed <b>s, each with its own id",
            expect: failed(Some(200), too_complex),
        },
        Case {
            path: "/__hostile/deep-divs",
            what: "200,000 nested closed <div>s",
            expect: failed(Some(200), too_complex),
        },
        Case {
            path: "/__hostile/many-links",
            what: "150,000 distinct question links",
            expect: done(Some("many links"), &[], 2000, (MANY_LINKS - 2000) as u64, 0),
        },
        Case {
            path: "/__hostile/bad-urls",
            what: "a 100 KB href, port 0, an empty host, user:pass@",
            expect: done(Some("bad urls"), &[], 1, 0, 0),
        },
        Case {
            path: "/__hostile/entities",
            what: "CR LF, &#0;, &#x80;, &amp without ;, a 300-byte tag",
            expect: done(Some("a\u{fffd}b\u{20ac}c& d\ne"), &["x&y", "z"], 0, 0, 1),
        },
        Case {
            path: "/__hostile/noise",
            what: "random bytes served as text/html",
            expect: failed(Some(200), "not HTML: a binary body"),
        },
        Case {
            path: "/__png",
            what: "a PNG served as text/html",
            expect: failed(Some(200), "not HTML: a binary body (PNG image)"),
        },
        Case {
            path: "/__br",
            what: "a br body never asked for",
            expect: failed(
                Some(200),
                "content-encoding br was not asked for and is not decoded",
            ),
        },
        Case {
            path: "/__sjis",
            what: "Shift_JIS named only in <meta>",
            expect: done(Some("日本語"), &["日本語"], 0, 0, 0),
        },
        Case {
            path: "/__hostile/gzip-bomb",
            what: "20 KB of gzip that inflates to 20 MB",
            expect: failed(Some(200), "body larger than"),
        },
        Case {
            path: "/__hostile/endless",
            what: "a 200 MB body, its length unannounced",
            expect: failed(Some(200), "body larger than"),
        },
        Case {
            path: "/__hostile/trickle",
            what: "a byte every half second, forever",
            expect: failed(None, "timed out"),
        },
        Case {
            path: "/__hostile/silent",
            what: "a server that never answers",
            expect: failed(None, "timed out"),
        },
        Case {
            path: "/__hostile/loop",
            what: "a redirect to itself",
            expect: failed(None, "too many redirects"),
        },
        Case {
            path: "/__hostile/to-file",
            what: "a redirect to file:///etc/passwd",
            expect: failed(None, "redirect to a non-http(s) URL"),
        },
        Case {
            path: "/__hostile/to-ftp",
            what: "a redirect to ftp:",
            expect: failed(None, "redirect to a non-http(s) URL"),
        },
    ]
}

fn html(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The hostile page at `path`, served from `base` (`http://HOST:PORT`).
pub async fn respond(path: &str, base: &str) -> Option<Response> {
    let host = base.trim_start_matches("http://");
    Some(match path {
        "/__hostile" => {
            let links: String = cases()
                .iter()
                .map(|case| format!("<a href=\"{}\">{}</a>\n", case.path, case.what))
                .collect();
            html(format!(
                "<!doctype html><title>hostile pages</title>\n{links}"
            ))
        }
        "/__hostile/nested-tags" => html(format!(
            "<title>nested tags</title>{}",
            "<a class=\"post-tag\">x".repeat(NESTED_TAGS)
        )),
        "/__hostile/unclosed-tag" => html(format!(
            "<title>unclosed</title><a class=\"post-tag\">t{}",
            "<div>".repeat(UNCLOSED_DIVS)
        )),
        "/__hostile/open-formatting" => html(format!(
            "<title>formatting</title>{}",
            (0..OPEN_FORMATTING)
                .map(|i| format!("<b id={i}>"))
                .collect::<String>()
        )),
        "/__hostile/deep-divs" => html(format!(
            "<title>deep</title>{}<a class=\"post-tag\">deep</a>{}",
            "<div>".repeat(DEEP_DIVS),
            "</div>".repeat(DEEP_DIVS)
        )),
        "/__hostile/many-links" => html(format!(
            "<title>many links</title>{}",
            (0..MANY_LINKS)
                .map(|i| format!("<a href=/questions/{i}>q</a>"))
                .collect::<String>()
        )),
        "/__hostile/bad-urls" => html(format!(
            "<title>bad urls</title><a href=\"/questions/1/{long}\">long</a>\
             <a href=\"http://{name}:0/questions/2/zero\">port 0</a>\
             <a href=\"http:///questions/3/empty\">empty host</a>\
             <a href=\"http://user:pass@{host}/questions/4/userinfo\">userinfo</a>",
            long = "x".repeat(LONG_HREF),
            name = host.split(':').next().unwrap_or(host),
        )),
        "/__hostile/entities" => html(format!(
            "<title>a&#0;b&#x80;c&amp d\r\ne</title>\
             <a class=\"post-tag\">x&ampy</a><a class=\"post-tag\">z</a>\
             <a class=\"post-tag\">{}</a>",
            "long".repeat(75)
        )),
        "/__hostile/noise" => {
            // A fixed pseudo-random byte sequence (xorshift), 64 KB.
            let mut state: u32 = 0x9e37_79b9;
            let noise: Vec<u8> = (0..64 * 1024)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state.to_le_bytes()[0]
                })
                .collect();
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/html")], noise).into_response()
        }
        "/__hostile/gzip-bomb" => {
            use std::io::Write;
            let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            let zeros = vec![b' '; 1024 * 1024];
            for _ in 0..20 {
                gzip.write_all(&zeros).ok()?;
            }
            let body = gzip.finish().ok()?;
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "text/html"),
                    (header::CONTENT_ENCODING, "gzip"),
                ],
                body,
            )
                .into_response()
        }
        "/__hostile/endless" => {
            let chunk = axum::body::Bytes::from(vec![b'a'; 64 * 1024]);
            let chunks =
                stream::iter(std::iter::repeat_n(chunk, 200 * 16).map(Ok::<_, std::io::Error>));
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html")],
                Body::from_stream(chunks),
            )
                .into_response()
        }
        "/__hostile/trickle" => {
            let drip = stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                Some((
                    Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b" ")),
                    (),
                ))
            });
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html")],
                Body::from_stream(drip),
            )
                .into_response()
        }
        "/__hostile/silent" => {
            // Long past any fetch timeout; the crawler gives up first.
            tokio::time::sleep(Duration::from_secs(600)).await;
            html(String::new())
        }
        "/__hostile/loop" => redirect("/__hostile/loop"),
        "/__hostile/to-file" => redirect("file:///etc/passwd"),
        "/__hostile/to-ftp" => redirect("ftp://127.0.0.1/questions/1"),
        _ => return None,
    })
}

fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to.to_owned())]).into_response()
}
