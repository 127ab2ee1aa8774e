//! Serving the site on 127.0.0.1 with axum: pages (after an optional
//! latency), the known truth at `/__truth?seeds=PATH,PATH`, and request
//! counts per path and query at `/__stats`, so tests can prove each page was
//! fetched once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Json, Response};

use crate::html;
use crate::model::{PagePath, Site};

struct AppState {
    site: Site,
    base: String,
    latency: Duration,
    counts: Mutex<BTreeMap<String, u64>>,
}

/// Binds `ip`:`port` (port 0 picks a free one) and serves `site` until the process ends.
/// Absolute links use the request's `Host`, so the site works under any name.
pub async fn serve(
    site: Site,
    ip: std::net::IpAddr,
    port: u16,
    latency: Duration,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind((ip, port)).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(AppState {
        site,
        base: format!("http://{addr}"),
        latency,
        counts: Mutex::new(BTreeMap::new()),
    });
    let app = Router::new().fallback(handle).with_state(state);
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "fixture site stopped");
        }
    });
    Ok((addr, task))
}

async fn handle(State(state): State<Arc<AppState>>, headers: HeaderMap, uri: Uri) -> Response {
    let path = uri.path();
    let base = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| state.base.clone(), |host| format!("http://{host}"));
    match path {
        "/__truth" => {
            let seeds: Vec<String> = uri
                .query()
                .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "seeds"))
                .map(|(_, v)| v.split(',').map(str::to_owned).collect())
                .unwrap_or_default();
            return Json(state.site.truth(&base, &seeds)).into_response();
        }
        "/__stats" => {
            let counts = state.counts.lock().map(|c| c.clone()).unwrap_or_default();
            return Json(counts).into_response();
        }
        _ => {}
    }
    let key = uri
        .path_and_query()
        .map_or(path, |pq| pq.as_str())
        .to_owned();
    let seen = match state.counts.lock() {
        Ok(mut counts) => {
            let count = counts.entry(key).or_insert(0);
            *count += 1;
            *count
        }
        Err(_) => 1,
    };
    if !state.latency.is_zero() {
        tokio::time::sleep(state.latency).await;
    }
    let (status, body) = match state.site.route(path) {
        PagePath::Question(i) if state.site.is_broken(i) => {
            (StatusCode::SERVICE_UNAVAILABLE, html::not_found())
        }
        PagePath::Question(i) if state.site.is_flaky(i) && seen == 1 => {
            // Alternate 503 and 429 (with Retry-After) among the flaky pages.
            if (i / state.site.config.flaky_every) % 2 == 0 {
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
        PagePath::Question(i) => (StatusCode::OK, html::question(&state.site, i, &base)),
        PagePath::Tagged(tag) => (StatusCode::OK, html::listing(&state.site, &tag)),
        PagePath::Missing => (StatusCode::NOT_FOUND, html::not_found()),
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}
