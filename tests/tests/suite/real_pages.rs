//! Extraction on real Stack Overflow pages saved by others (`../shared/real-pages`,
//! beside this checkout) must equal their `expected.json` exactly. A fresh clone
//! without that folder skips this file and says so; the fixture site's pages
//! cover the same markup patterns in the end-to-end tests.

use std::path::PathBuf;

use crawlq_core::extract::Extractor;
use crawlq_core::links::DEFAULT_LINK_PATTERN;
use crawlq_core::message::{DEFAULT_TAG_SELECTOR, Rules};
use serde::Deserialize;
use url::Url;

#[derive(Deserialize)]
struct Expected {
    url: String,
    title: String,
    tags: Vec<String>,
    links: Vec<String>,
}

fn real_pages() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/real-pages");
    dir.join("expected.json").exists().then_some(dir)
}

#[test]
fn extraction_matches_expected_json_on_real_pages() {
    let Some(dir) = real_pages() else {
        eprintln!(
            "SKIPPED: ../shared/real-pages is not beside this checkout; real-page extraction not checked"
        );
        return;
    };
    let expected: std::collections::BTreeMap<String, Expected> =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    assert_eq!(expected.len(), 6, "expected.json should describe six pages");
    for (file, want) in expected {
        let html = std::fs::read_to_string(dir.join(&file)).unwrap();
        let base = Url::parse(&want.url).unwrap();
        let extractor = Extractor::new(&Rules {
            tag_selector: DEFAULT_TAG_SELECTOR.into(),
            link_pattern: DEFAULT_LINK_PATTERN.into(),
            allow_hosts: vec![base.host_str().unwrap().to_owned()],
            max_depth: None,
            politeness: Default::default(),
        })
        .unwrap();
        let got = extractor.extract(&html, &base).unwrap();
        let streamed = extractor.stream_or_why(&html, &base);
        assert_eq!(
            streamed.as_ref(),
            Ok(&got),
            "the streaming engine should read {file} alone, and the same"
        );
        assert_eq!(
            extractor.extract_tree(&html, &base).unwrap(),
            got,
            "tree on {file}"
        );
        assert_eq!(
            got.title.as_deref(),
            Some(want.title.as_str()),
            "title of {file}"
        );
        assert_eq!(got.tags, want.tags, "tags of {file}");
        assert_eq!(got.links, want.links, "links of {file}");
    }
}
