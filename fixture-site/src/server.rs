//! Serving the site with axum, on one or more loopback addresses (each a
//! host of its own to a crawler): pages (after an optional latency), the
//! known truth at `/__truth?seeds=PATH,PATH`, request counts per path and
//! query at `/__stats`, and every request's host, start and end at `/__log`,
//! so tests can prove each page was fetched once and measure politeness.
//!
//! Routes for politeness and safety tests: `/robots.txt` (the model's, or 404;
//! 503 for the first `robots_down` after start), `/__redirect?to=URL` (a 302
//! to anywhere), `/__page?links=URL,URL` (a page linking to them), `/__ansi`
//! (a page whose text carries terminal escapes), `/__png`, `/__br` and
//! `/__sjis` (pages that lie about what they are), the hostile pages under
//! `/__hostile` (see [`crate::hostile`]), and a
//! throttled listener whose first page request answers
//! 429 with a Retry-After.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Json, Response};
use serde::{Deserialize, Serialize};

use crate::html;
use crate::model::{PagePath, Site};

/// How the site behaves beyond its pages.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Delay before every page response.
    pub latency: Duration,
    /// robots.txt answers 503 until this long after start.
    pub robots_down: Duration,
    /// Addresses whose first page request answers 429 with this Retry-After (seconds).
    pub throttle: Vec<(IpAddr, u64)>,
}

/// One request as the site saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The listener's address (`127.0.0.2:PORT`): the host a crawler sees.
    pub host: String,
    /// Path and query.
    pub path: String,
    /// Status answered; 0 when the client went away first.
    pub status: u16,
    /// Microseconds since the site started, when the request arrived.
    pub start_us: u64,
    /// Microseconds since the site started, when the response was ready or
    /// the client went away; 0 while the request is in flight.
    pub end_us: u64,
}

/// Ends a request's log entry when its handler ends, answered or dropped
/// (a client that dies mid-request closes its connection and the handler
/// is dropped): its end is when the site stopped working on it.
struct Logged<'a> {
    shared: &'a Shared,
    index: usize,
    status: u16,
}

impl Drop for Logged<'_> {
    fn drop(&mut self) {
        let end_us = self.shared.started.elapsed().as_micros() as u64;
        if let Ok(mut log) = self.shared.log.lock()
            && let Some(entry) = log.get_mut(self.index)
        {
            entry.end_us = end_us;
            entry.status = self.status;
        }
    }
}

struct Shared {
    site: Site,
    behaviour: Behaviour,
    started: Instant,
    counts: Mutex<BTreeMap<String, u64>>,
    log: Mutex<Vec<Request>>,
}

struct Listener {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// Retry-After of the first page request's 429, until it is answered.
    throttle: Option<u64>,
    throttled: AtomicBool,
}

/// Binds each of `ips` on `port` (0: a free port each) and serves `site` on
/// all of them until the process ends; returns the addresses bound.
/// Absolute links use the request's `Host`, so the site works under any name.
pub async fn serve(
    site: Site,
    ips: &[IpAddr],
    port: u16,
    behaviour: Behaviour,
) -> anyhow::Result<(Vec<SocketAddr>, tokio::task::JoinSet<()>)> {
    let shared = Arc::new(Shared {
        site,
        behaviour,
        started: Instant::now(),
        counts: Mutex::new(BTreeMap::new()),
        log: Mutex::new(Vec::new()),
    });
    let mut addrs = Vec::new();
    let mut servers = tokio::task::JoinSet::new();
    for ip in ips {
        let listener = tokio::net::TcpListener::bind((*ip, port)).await?;
        let addr = listener.local_addr()?;
        let throttle = shared
            .behaviour
            .throttle
            .iter()
            .find(|(at, _)| at == ip)
            .map(|(_, secs)| *secs);
        let state = Arc::new(Listener {
            shared: shared.clone(),
            addr,
            throttle,
            throttled: AtomicBool::new(false),
        });
        let app = Router::new().fallback(handle).with_state(state);
        servers.spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "fixture site stopped");
            }
        });
        addrs.push(addr);
    }
    Ok((addrs, servers))
}

async fn handle(State(listener): State<Arc<Listener>>, headers: HeaderMap, uri: Uri) -> Response {
    let shared = &listener.shared;
    let path = uri.path();
    match path {
        "/__truth" => {
            let base = base_of(&headers, listener.addr);
            let seeds: Vec<String> = query_value(&uri, "seeds")
                .map(|v| v.split(',').map(str::to_owned).collect())
                .unwrap_or_default();
            return Json(shared.site.truth(&base, &seeds)).into_response();
        }
        "/__stats" => {
            let counts = shared.counts.lock().map(|c| c.clone()).unwrap_or_default();
            return Json(counts).into_response();
        }
        "/__log" => {
            let log = shared.log.lock().map(|l| l.clone()).unwrap_or_default();
            return Json(log).into_response();
        }
        _ => {}
    }
    let start_us = shared.started.elapsed().as_micros() as u64;
    let key = uri
        .path_and_query()
        .map_or(path, |pq| pq.as_str())
        .to_owned();
    let seen = match shared.counts.lock() {
        Ok(mut counts) => {
            let count = counts.entry(key.clone()).or_insert(0);
            *count += 1;
            *count
        }
        Err(_) => 1,
    };
    let index = match shared.log.lock() {
        Ok(mut log) => {
            log.push(Request {
                host: listener.addr.to_string(),
                path: key,
                status: 0,
                start_us,
                end_us: 0,
            });
            log.len() - 1
        }
        Err(_) => usize::MAX,
    };
    let mut logged = Logged {
        shared,
        index,
        status: 0,
    };
    let response = respond(&listener, &headers, &uri, seen).await;
    logged.status = response.status().as_u16();
    response
}

/// The answer to a counted request (`seen`: how many times its path was asked for).
async fn respond(listener: &Listener, headers: &HeaderMap, uri: &Uri, seen: u64) -> Response {
    let shared = &listener.shared;
    let path = uri.path();
    if path == "/robots.txt" {
        if shared.started.elapsed() < shared.behaviour.robots_down {
            return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
        }
        return match shared.site.robots_txt() {
            Some(body) => {
                (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
            }
            None => (StatusCode::NOT_FOUND, "no robots.txt").into_response(),
        };
    }
    if path == "/__ansi" {
        // A page whose title and tags carry terminal escapes, a carriage
        // return and a bidirectional override.
        let body = "<!doctype html><title>\u{1b}[31mred\r\nline\u{202e}</title>\n\
            <a class=\"post-tag\">\u{1b}[2Jwipe</a><a class=\"post-tag\">csi\u{9b}31m</a>";
        return (StatusCode::OK, [(header::CONTENT_TYPE, "text/html")], body).into_response();
    }
    if let Some(response) = hostile(path) {
        return response;
    }
    if let Some(response) = crate::hostile::respond(path, &base_of(headers, listener.addr)).await {
        return response;
    }
    if path == "/__page" {
        // A bare page whose links are the given URLs.
        let links: String = query_value(uri, "links")
            .unwrap_or_default()
            .split(',')
            .filter(|link| !link.is_empty())
            .map(|link| {
                format!(
                    "<a href=\"{}\">link</a>\n",
                    html_escape::encode_double_quoted_attribute(link)
                )
            })
            .collect();
        let body = format!("<!doctype html><title>links</title>\n{links}");
        return (StatusCode::OK, [(header::CONTENT_TYPE, "text/html")], body).into_response();
    }
    if path == "/__redirect" {
        let to = query_value(uri, "to").unwrap_or_default();
        return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
    }
    if !shared.behaviour.latency.is_zero() {
        tokio::time::sleep(shared.behaviour.latency).await;
    }
    if let Some(secs) = listener.throttle
        && !listener.throttled.swap(true, Ordering::SeqCst)
    {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs.to_string())],
            "slow down",
        )
            .into_response();
    }
    let base = base_of(headers, listener.addr);
    let site = &shared.site;
    let (status, body) = match site.route(path) {
        PagePath::Question(i) if site.is_broken(i) => {
            (StatusCode::SERVICE_UNAVAILABLE, html::not_found())
        }
        PagePath::Question(i) if site.is_flaky(i) && seen == 1 => {
            // Alternate 503 and 429 (with Retry-After) among the flaky pages.
            if (i / site.config.flaky_every).is_multiple_of(2) {
                (StatusCode::SERVICE_UNAVAILABLE, html::not_found())
            } else {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, "1")],
                    "slow down",
                )
                    .into_response();
            }
        }
        PagePath::Question(i) => (StatusCode::OK, html::question(site, i, &base)),
        PagePath::Tagged(tag) => (StatusCode::OK, html::listing(site, &tag)),
        PagePath::Missing => (StatusCode::NOT_FOUND, html::not_found()),
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Pages that lie about what they are: PNG bytes served as HTML, a body in
/// a content-encoding nobody asked for, a charset named only in `<meta>`.
fn hostile(path: &str) -> Option<Response> {
    let html = [(header::CONTENT_TYPE, "text/html")];
    Some(match path {
        "/__png" => {
            let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01".to_vec();
            (StatusCode::OK, html, png).into_response()
        }
        "/__br" => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/html"),
                (header::CONTENT_ENCODING, "br"),
            ],
            b"\x1b\x03\x00\xf8\x8d\x94\x6e".to_vec(),
        )
            .into_response(),
        "/__sjis" => {
            // 日本語 in Shift_JIS, as title and tag.
            let word = b"\x93\xfa\x96\x7b\x8c\xea";
            let page = [
                b"<html><head><meta charset=\"Shift_JIS\"><title>".as_slice(),
                word,
                b"</title></head><body><a class=\"post-tag\">".as_slice(),
                word,
                b"</a></body></html>".as_slice(),
            ]
            .concat();
            (StatusCode::OK, html, page).into_response()
        }
        _ => return None,
    })
}

/// `http://HOST` as the request names it (its `Host` header), else the listener's address.
fn base_of(headers: &HeaderMap, addr: SocketAddr) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| format!("http://{addr}"), |host| format!("http://{host}"))
}

fn query_value(uri: &Uri, key: &str) -> Option<String> {
    uri.query()
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == key))
        .map(|(_, v)| v.into_owned())
}
