//! Parsing one page, once: title, tags and the links the crawl follows.
//!
//! Pure and synchronous: `&str` and base URL in, owned data out, no `.await`.
//! That keeps scraper's `Html` (which is not `Send`) out of async tasks; the
//! worker runs [`Extractor::extract`] on a blocking thread.

use std::collections::BTreeSet;

use scraper::{Html, Selector};
use url::Url;

use crate::links::LinkRule;
use crate::message::Rules;

/// A crawl's rules that do not compile.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The tag selector is not valid CSS.
    #[error("tag selector '{selector}' is not valid CSS: {reason}")]
    Selector {
        /// The selector as given.
        selector: String,
        /// What the CSS parser said.
        reason: String,
    },
    /// The link pattern is not a valid regex.
    #[error("link pattern is not a valid regex: {0}")]
    Pattern(#[from] regex::Error),
}

/// What a page holds, by the crawl's rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// The text of the first `<title>`, trimmed; `None` when absent or empty.
    pub title: Option<String>,
    /// Sorted unique trimmed texts of the tag selector's elements.
    pub tags: Vec<String>,
    /// Sorted unique canonical URLs of the `a[href]`s the link rule follows.
    pub links: Vec<String>,
}

/// A crawl's rules, compiled once and reused for every page.
#[derive(Debug, Clone)]
pub struct Extractor {
    title: Selector,
    anchors: Selector,
    tags: Selector,
    rule: LinkRule,
}

impl Extractor {
    /// Compiles `rules`, failing with a message that names the bad part.
    pub fn new(rules: &Rules) -> Result<Self, RuleError> {
        let tags = Selector::parse(&rules.tag_selector).map_err(|e| RuleError::Selector {
            selector: rules.tag_selector.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            title: fixed_selector("title"),
            anchors: fixed_selector("a[href]"),
            tags,
            rule: LinkRule::new(&rules.allow_hosts, &rules.link_pattern)?,
        })
    }

    /// Parses `html` once and extracts title, tags and followed links, resolving links against `base`.
    pub fn extract(&self, html: &str, base: &Url) -> Extracted {
        let document = Html::parse_document(html);
        let title = document
            .select(&self.title)
            .next()
            .map(|el| el.text().collect::<String>().trim().to_owned())
            .filter(|t| !t.is_empty());
        let tags: BTreeSet<String> = document
            .select(&self.tags)
            .map(|el| el.text().collect::<String>().trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        let links: BTreeSet<String> = document
            .select(&self.anchors)
            .filter_map(|a| a.value().attr("href"))
            .filter_map(|href| self.rule.follow(base, href))
            .map(String::from)
            .collect();
        Extracted {
            title,
            tags: tags.into_iter().collect(),
            links: links.into_iter().collect(),
        }
    }
}

/// Parses a selector written in this file; they are constants and known valid.
fn fixed_selector(css: &'static str) -> Selector {
    match Selector::parse(css) {
        Ok(selector) => selector,
        Err(e) => unreachable!("built-in selector {css:?} is invalid: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::DEFAULT_LINK_PATTERN;
    use crate::message::DEFAULT_TAG_SELECTOR;

    fn extractor() -> Extractor {
        Extractor::new(&Rules {
            tag_selector: DEFAULT_TAG_SELECTOR.into(),
            link_pattern: DEFAULT_LINK_PATTERN.into(),
            allow_hosts: vec!["stackoverflow.com".into()],
            max_depth: None,
        })
        .unwrap()
    }

    #[test]
    fn old_and_new_tag_markup_and_entities() {
        let html = r#"<html><head><title>
            c# - Parse &lt;div&gt; &amp; more - Stack Overflow </title></head><body>
            <div class="post-taglist"><a href="/questions/tagged/c%23" class="post-tag" rel="tag">c#</a>
            <a class="post-tag" href="/questions/tagged/html">html</a></div>
            <ul><li class="js-post-tag-list-item"><a class="s-tag post-tag" href="/questions/tagged/c%2b%2b">c&#43;&#43;</a></li></ul>
            <a class="post-tag">html</a><span class="post-tag">not-an-a</span><a class="post-tag-x">no</a>
            <a href="/questions/7/x#answer-1">a</a><a href="https://stackoverflow.com/questions/7/x?noredirect=1">b</a>
            <a href="https://meta.stackexchange.com/questions/8/y">c</a><a>no href</a>
        </body></html>"#;
        let base = Url::parse("https://stackoverflow.com/questions/1/q").unwrap();
        let page = extractor().extract(html, &base);
        assert_eq!(
            page.title.as_deref(),
            Some("c# - Parse <div> & more - Stack Overflow")
        );
        assert_eq!(page.tags, ["c#", "c++", "html"]);
        assert_eq!(page.links, ["https://stackoverflow.com/questions/7/x"]);
    }

    #[test]
    fn empty_and_broken_documents_give_empty_results() {
        let base = Url::parse("https://stackoverflow.com/").unwrap();
        assert_eq!(extractor().extract("", &base), Extracted::default());
        let page = extractor().extract("<title>  </title><a href='/questions/1'", &base);
        assert_eq!(page.title, None);
    }

    #[test]
    fn invalid_rules_name_the_bad_part() {
        let mut rules = Rules {
            tag_selector: "a..b".into(),
            link_pattern: DEFAULT_LINK_PATTERN.into(),
            allow_hosts: vec![],
            max_depth: None,
        };
        let err = Extractor::new(&rules).unwrap_err().to_string();
        assert!(
            err.starts_with("tag selector 'a..b' is not valid CSS"),
            "{err}"
        );
        rules.tag_selector = "a".into();
        rules.link_pattern = "(".into();
        let err = Extractor::new(&rules).unwrap_err().to_string();
        assert!(
            err.starts_with("link pattern is not a valid regex"),
            "{err}"
        );
    }
}
