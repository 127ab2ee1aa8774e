//! scratch
use std::time::Instant;
#[tokio::main]
async fn main() {
    let ex = crawlq_core::extract::Extractor::new(&crawlq_core::message::Rules {
        tag_selector: "a.post-tag".into(),
        link_pattern: crawlq_core::links::DEFAULT_LINK_PATTERN.into(),
        allow_hosts: vec!["http://127.0.0.1:9".into()],
        max_depth: None,
        politeness: Default::default(),
    })
    .unwrap();
    let base = url::Url::parse("http://127.0.0.1:9/").unwrap();
    for case in fixture_site::hostile::cases() {
        if !case.path.starts_with("/__hostile/")
            || case.path.contains("bomb")
            || case.path.contains("endless")
            || case.path.contains("trickle")
            || case.path.contains("silent")
            || case.path.contains("noise")
            || case.path.contains("to-")
            || case.path.contains("loop")
        {
            continue;
        }
        let resp = fixture_site::hostile::respond(case.path, "http://127.0.0.1:9")
            .await
            .unwrap();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let html = String::from_utf8_lossy(&body).into_owned();
        let t = Instant::now();
        let s = ex.stream_or_why(&html, &base).err();
        let ts = t.elapsed();
        let t = Instant::now();
        let r = ex.extract(&html, &base);
        println!(
            "{}: {} bytes, stream {:?} ({:?}), extract {:?}: {:?}",
            case.path,
            html.len(),
            ts,
            s.map(|s| s.chars().take(80).collect::<String>()),
            t.elapsed(),
            r.map(|e| (e.tags.len(), e.links.len(), e.links_dropped, e.tags_dropped))
        );
    }
}
