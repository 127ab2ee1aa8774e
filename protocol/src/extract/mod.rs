//! Parsing one page, once: title, tags and the links the crawl follows.
//!
//! Pure and synchronous: `&str` and base URL in, owned data out, no `.await`;
//! the worker runs [`Extractor::extract`] on a blocking thread.
//!
//! One page has one answer: the HTML standard's, which the tree engine
//! (html5ever through scraper, [`Extractor::extract_tree`]) computes. The
//! streaming engine (html5gum's tokenizer, [`Extractor::extract_stream`])
//! builds no tree, about a third of the cost, and answers only where it is
//! sure to give the tree's answer; elsewhere the tree decides. Both feed the same bounded
//! collectors (`page`) in document order, so caps cut both alike. A page
//! whose tree would take too long to build fails with [`TooComplex`].
#[cfg(test)]
mod agree;
mod page;
mod stream;
mod tree;

use scraper::Selector;
use url::Url;

pub use page::{MAX_LINKS_PER_PAGE, MAX_TAG_BYTES, MAX_TAGS_PER_PAGE, MAX_TITLE_BYTES};
use stream::StreamSelectors;
pub use tree::{MAX_PARSE_STEPS, PARSE_DEADLINE, TooComplex};

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
    /// Sorted unique trimmed texts of the tag selector's elements: the first
    /// [`MAX_TAGS_PER_PAGE`] distinct ones, each at most [`MAX_TAG_BYTES`] long.
    pub tags: Vec<String>,
    /// Matched elements whose text was not kept as a tag (too long, or past the cap).
    pub tags_dropped: u64,
    /// Sorted unique canonical URLs of the `a[href]`s the link rule follows:
    /// the first [`MAX_LINKS_PER_PAGE`] distinct ones in document order.
    pub links: Vec<String>,
    /// Followed links past the cap, not kept (each occurrence counted).
    pub links_dropped: u64,
}

/// A crawl's rules, compiled once and reused for every page.
#[derive(Debug, Clone)]
pub struct Extractor {
    tree: TreeSelectors,
    /// `None` when the tag selector is not a list of plain compounds.
    stream: Option<StreamSelectors>,
    rule: LinkRule,
}

#[derive(Debug, Clone)]
struct TreeSelectors {
    title: Selector,
    anchors: Selector,
    tags: Selector,
}

impl Extractor {
    /// Compiles `rules`, failing with a message that names the bad part.
    pub fn new(rules: &Rules) -> Result<Self, RuleError> {
        let tags = Selector::parse(&rules.tag_selector).map_err(|e| RuleError::Selector {
            selector: rules.tag_selector.clone(),
            reason: selector_reason(&e),
        })?;
        let stream = StreamSelectors::new(&rules.tag_selector);
        Ok(Self {
            tree: TreeSelectors {
                title: fixed(&Selector::parse("title")),
                anchors: fixed(&Selector::parse("a[href]")),
                tags,
            },
            stream,
            rule: LinkRule::new(&rules.allow_hosts, &rules.link_pattern)?,
        })
    }

    /// The hosts the crawl may reach (links followed, redirects allowed).
    pub fn hosts(&self) -> &crate::links::HostSet {
        self.rule.hosts()
    }

    /// Whether pages are extracted by the streaming engine (else always by the tree).
    pub fn streams(&self) -> bool {
        self.stream.is_some()
    }

    /// Extracts title, tags and followed links from `html`, resolving links
    /// against `base`: by the streaming engine where it is sure, else by the tree.
    pub fn extract(&self, html: &str, base: &Url) -> Result<Extracted, TooComplex> {
        match self.extract_stream(html, base) {
            Some(extracted) => Ok(extracted),
            None => self.extract_tree(html, base),
        }
    }
}

/// What is wrong with a selector, in words: scraper's own message for the
/// selector grammar's errors is a multi-line debug dump asking to report a bug.
fn selector_reason(error: &scraper::error::SelectorErrorKind) -> String {
    use scraper::error::SelectorErrorKind;
    use selectors::parser::SelectorParseErrorKind as Kind;
    let kind = match error {
        SelectorErrorKind::UnexpectedSelectorParseError(kind) => kind,
        SelectorErrorKind::EndOfLine => return "it ends too early".into(),
        SelectorErrorKind::UnexpectedToken => {
            return "it has an unexpected character or token".into();
        }
        other => return other.to_string(),
    };
    match kind {
        Kind::ClassNeedsIdent => "'.' must be followed by a class name".into(),
        Kind::EmptySelector => "it, or a selector in its list, is empty".into(),
        Kind::DanglingCombinator => "a combinator has nothing after it".into(),
        Kind::NoIdentForPseudo => "':' must be followed by a pseudo-class name".into(),
        Kind::UnsupportedPseudoClassOrElement => "it uses an unsupported pseudo-class".into(),
        Kind::UnexpectedIdent => "a name is where none was expected".into(),
        Kind::NoQualifiedNameInAttributeSelector
        | Kind::UnexpectedTokenInAttributeSelector
        | Kind::ExpectedBarInAttr
        | Kind::BadValueInAttr
        | Kind::InvalidQualNameInAttr => {
            "malformed attribute selector (write [name] or [name=\"value\"])".into()
        }
        other => format!("{other:?}"),
    }
}

/// Unwraps a selector written in this file; they are constants and known valid.
fn fixed<T: Clone, E: std::fmt::Debug>(parsed: &Result<T, E>) -> T {
    match parsed {
        Ok(selector) => selector.clone(),
        Err(e) => unreachable!("a built-in selector is invalid: {e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::DEFAULT_LINK_PATTERN;
    use crate::message::DEFAULT_TAG_SELECTOR;

    fn extractor() -> Extractor {
        extractor_for(DEFAULT_TAG_SELECTOR)
    }

    /// An extractor for `tag_selector`, following Stack Overflow's links.
    pub(super) fn extractor_for(tag_selector: &str) -> Extractor {
        Extractor::new(&Rules {
            tag_selector: tag_selector.into(),
            link_pattern: DEFAULT_LINK_PATTERN.into(),
            allow_hosts: vec!["stackoverflow.com".into()],
            max_depth: None,
            politeness: Default::default(),
        })
        .unwrap()
    }

    #[test]
    fn links_past_the_cap_are_counted_not_kept_by_both_engines() {
        let anchors: String = (0..MAX_LINKS_PER_PAGE + 500)
            .rev()
            .map(|i| {
                format!(
                    "<a href=\"/questions/{i}/q\">q</a><a href=\"/questions/{i}/q#x\">again</a>"
                )
            })
            .collect();
        let html = format!("<html><title>many</title><body>{anchors}</body></html>");
        let base = Url::parse("https://stackoverflow.com/").unwrap();
        let tree = extractor().extract_tree(&html, &base).unwrap();
        let stream = extractor().extract_stream(&html, &base).unwrap();
        assert_eq!(tree, stream);
        assert_eq!(tree.links.len(), MAX_LINKS_PER_PAGE);
        assert_eq!(
            tree.links_dropped, 1000,
            "500 URLs past the cap, each twice"
        );
        // The first ones in document order are kept: the highest ids here.
        assert!(tree.links.contains(&format!(
            "https://stackoverflow.com/questions/{}/q",
            MAX_LINKS_PER_PAGE + 499
        )));
        assert!(
            !tree
                .links
                .contains(&"https://stackoverflow.com/questions/0/q".to_owned())
        );
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
        let page = both(html);
        assert_eq!(
            page.title.as_deref(),
            Some("c# - Parse <div> & more - Stack Overflow")
        );
        assert_eq!(page.tags, ["c#", "c++", "html"]);
        assert_eq!(page.links, ["https://stackoverflow.com/questions/7/x"]);
    }

    /// Both engines on `html`: the streaming one must be used and agree with the tree.
    fn both(html: &str) -> Extracted {
        let base = Url::parse("https://stackoverflow.com/questions/1/q").unwrap();
        let tree = extractor().extract_tree(html, &base).unwrap();
        let stream = extractor().extract_stream(html, &base);
        assert_eq!(stream.as_ref(), Some(&tree), "engines differ on {html}");
        tree
    }

    #[test]
    fn the_engines_agree_on_tricky_markup() {
        // Nested markup inside a tag, comments, entities split across text nodes' chunks,
        // CRLF, NBSP, a title with markup-like text, attributes with entities and no quotes.
        let page = both(
            "<title>a &lt;b&gt; &amp;&nbsp;c</title><a class=post-tag href=/questions/tagged/x>py<b>th</b><!-- c -->on</a>\r\n\
             <a class='s-tag post-tag'>\r\n  c&#x2b;&#43;\u{a0}</a><a href=\"/questions/9/a&amp;b?x=1&amp;y=2\">q</a>\
             <a href=/questions/10/ten#x>t</a><A HREF='/questions/11'>u</A><a href='&#47;questions/12'>v</a>",
        );
        assert_eq!(page.title.as_deref(), Some("a <b> &\u{a0}c"));
        assert_eq!(page.tags, ["c++", "python"]);
        assert_eq!(
            page.links,
            [
                "https://stackoverflow.com/questions/10/ten",
                "https://stackoverflow.com/questions/11",
                "https://stackoverflow.com/questions/12",
                "https://stackoverflow.com/questions/9/a&b",
            ]
        );
        // Script and style text is raw; a title only counts once; an empty tag is dropped.
        let page = both(
            "<title>one</title><title>two</title><a class=post-tag><script>a &amp; b</script></a>\
             <a class=post-tag> </a><svg><title>svg</title></svg>",
        );
        assert_eq!(page.title.as_deref(), Some("one"));
        assert_eq!(page.tags, ["a &amp; b"]);
        assert_eq!(both("<p>no title, no tags</p>"), Extracted::default());
    }

    #[test]
    fn names_in_any_case_and_unknown_names_stream() {
        // Upper and mixed case names, custom elements, end tags in any case.
        let page = both(
            "<TITLE>t</Title><DIV><P>a <A CLASS=post-tag HREF=/questions/3/x>Py</A></p></Div>\
             <my-el><Span>s</SPAN></my-el><x-Y\t><a class=post-tag>go</a></X-y ><svg><foreignObject>\
             </foreignObject></svg>",
        );
        assert_eq!(page.tags, ["Py", "go"]);
        assert_eq!(page.links, ["https://stackoverflow.com/questions/3/x"]);
        // An element closed by another's end tag: the tree decides.
        let base = Url::parse("https://stackoverflow.com/").unwrap();
        let html = "<div><b><span>x</b><a class=post-tag>t</a></div>";
        assert_eq!(extractor().extract_stream(html, &base), None);
        assert_eq!(extractor().extract(html, &base).unwrap().tags, ["t"]);
    }

    #[test]
    fn the_tree_takes_over_where_streaming_cannot_be_sure() {
        let base = Url::parse("https://stackoverflow.com/").unwrap();
        // An <a> closed by the next <a> (no end tag of its own): the tree decides.
        let html = "<a class=post-tag>one<a class=post-tag>two</a>";
        assert_eq!(extractor().extract_stream(html, &base), None);
        assert_eq!(
            extractor().extract(html, &base).unwrap().tags,
            ["one", "two"]
        );
        // A selector the streaming engine does not follow still works, through the tree.
        let rules = Rules {
            tag_selector: "b + a.post-tag".into(),
            link_pattern: DEFAULT_LINK_PATTERN.into(),
            allow_hosts: vec![],
            max_depth: None,
            politeness: Default::default(),
        };
        let sibling = Extractor::new(&rules).unwrap();
        assert!(!sibling.streams());
        let html = "<b>x</b><a class=post-tag>yes</a><a class=post-tag>no</a>";
        assert_eq!(sibling.extract(html, &base).unwrap().tags, ["yes"]);
    }

    #[test]
    fn empty_and_broken_documents_give_empty_results() {
        let base = Url::parse("https://stackoverflow.com/").unwrap();
        assert_eq!(
            extractor().extract("", &base).unwrap(),
            Extracted::default()
        );
        let page = extractor()
            .extract("<title>  </title><a href='/questions/1'", &base)
            .unwrap();
        assert_eq!(page.title, None);
    }

    #[test]
    fn invalid_rules_name_the_bad_part() {
        let mut rules = Rules {
            tag_selector: "a..b".into(),
            link_pattern: DEFAULT_LINK_PATTERN.into(),
            allow_hosts: vec![],
            max_depth: None,
            politeness: Default::default(),
        };
        let err = Extractor::new(&rules).unwrap_err().to_string();
        assert_eq!(
            err,
            "tag selector 'a..b' is not valid CSS: '.' must be followed by a class name"
        );
        for (selector, reason) in [
            ("a[=x]", "malformed attribute selector"),
            ("a:nosuch", "unsupported pseudo-class"),
            ("a >", "a combinator has nothing after it"),
            ("a,", "is empty"),
            ("a.", "ends too early"),
        ] {
            rules.tag_selector = selector.into();
            let err = Extractor::new(&rules).unwrap_err().to_string();
            assert!(
                err.contains(reason) && !err.contains('\n') && !err.contains("report"),
                "{selector}: {err}"
            );
        }
        rules.tag_selector = "a".into();
        rules.link_pattern = "(".into();
        let err = Extractor::new(&rules).unwrap_err().to_string();
        assert!(
            err.starts_with("link pattern is not a valid regex"),
            "{err}"
        );
    }
}
