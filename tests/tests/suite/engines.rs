//! The two extraction engines agree on every page the fixture site serves, and
//! the streaming one reads each of them alone (no fallback to the tree), so the
//! end-to-end tests' exact tallies are the streaming engine's.

use crawlq_core::extract::Extractor;
use crawlq_core::links::DEFAULT_LINK_PATTERN;
use crawlq_core::message::{DEFAULT_TAG_SELECTOR, Rules};
use fixture_site::html;
use fixture_site::model::{Site, SiteConfig};
use url::Url;

#[test]
fn streaming_equals_the_tree_on_every_fixture_page() {
    let site = Site::new(SiteConfig {
        pages: 400,
        seed: 7,
        min_bytes: 1024,
        max_bytes: 200 * 1024,
        flaky_every: 0,
        broken_every: 0,
        robots_every: 0,
    });
    let base = "http://127.0.0.1:8080";
    let extractor = Extractor::new(&Rules {
        tag_selector: DEFAULT_TAG_SELECTOR.into(),
        link_pattern: DEFAULT_LINK_PATTERN.into(),
        allow_hosts: vec!["http://127.0.0.1:8080".into()],
        max_depth: None,
        politeness: Default::default(),
    })
    .unwrap();
    let mut pages: Vec<(String, String)> = (0..site.questions.len())
        .map(|i| {
            let path = site.question_path(i);
            (path, html::question(&site, i, base))
        })
        .collect();
    for tag in ["python", "rust", "c++"] {
        let path = format!("/questions/tagged/{tag}");
        pages.push((path, html::listing(&site, tag)));
    }
    pages.push(("/questions/0/gone".into(), html::not_found()));
    let mut with_tags = 0;
    for (path, page) in &pages {
        let url = Url::parse(&format!("{base}{path}")).unwrap();
        let tree = extractor.extract_tree(page, &url).unwrap();
        let stream = extractor.extract_stream(page, &url);
        assert_eq!(stream.as_ref(), Some(&tree), "engines differ on {path}");
        with_tags += usize::from(!tree.tags.is_empty());
    }
    // Not vacuous: the pages carry tags and links.
    assert!(with_tags > 390, "only {with_tags} pages had tags");
}
