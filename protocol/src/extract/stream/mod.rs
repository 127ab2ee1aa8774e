//! The streaming engine: html5gum tokenizes the page (the HTML standard's
//! tokenizer, character references decoded as the tree's are), and a stack
//! of open elements is kept by the simplest rule (an end tag closes the
//! innermost open element of its name; nothing closes implicitly), with the
//! tag selector matched on each start tag. No tree is built: about a third
//! of the tree's cost.
//!
//! It answers only where it is sure to give the tree's answer, and says
//! "unsure" otherwise, so the tree decides. Sure means: the tag selector is a
//! list of plain compounds (type, class, id, attributes: no combinator or
//! pseudo-class, whose match would depend on tree shape), and the simple
//! stack is the tree's all along, while the standard closes and reopens
//! elements by many rules. [`walk::Walk`] keeps the stack and stops at the first
//! place the rules could part the two:
//!
//! - an end tag that is not the innermost open element's, but names an
//!   element open further out (one that names none is ignored, as the tree
//!   ignores it, except inside a match or the title);
//! - a start tag the standard treats specially here: one that closes an open
//!   `<p>`, list item, heading or `<a>` (but an `<a>` directly in an `<a>`,
//!   which both close); anything but table parts in a table outside its
//!   cells (the tree moves it out); in a `<select>`, anything but options;
//!   forms in forms, `<template>`, frames; markup in `<head>` that ends it;
//!   HTML inside SVG or MathML, and SVG or MathML before the first title;
//! - inside a matched element, anything but plain inline markup;
//! - a matched element, the first title or a link inside SVG or MathML;
//! - a text run too long to hold (64 KiB) in a match or the title, elements
//!   nested deeper than 1,024, or a matched element or title open at the end.
//!
//! The tokenizer is switched into RCDATA, RAWTEXT, script data and PLAINTEXT
//! where the tree switches it, in HTML content. Text is taken as the tree
//! takes it: a NUL in body text is dropped (the tokenizer already replaces
//! one in RCDATA, raw text and attributes).
//!
//! The parts: [`input`] feeds html5gum the page, [`pass`] is html5gum's
//! emitter, [`walk`] keeps the stack and the rules ([`marks`] where the
//! elements they ask about are on it), [`names`] what the rules
//! know of each element name, [`tag`] a start tag as the selector engine
//! sees it.

mod input;
mod marks;
mod names;
mod pass;
mod tag;
mod walk;

use std::collections::BTreeSet;

use html5gum::Tokenizer;
use scraper::selector::Simple;
use selectors::matching;
use selectors::parser::{ParseRelative, SelectorList};
use url::Url;

use super::{Extracted, Extractor};
use input::Input;
use pass::Pass;
use tag::Tag;

/// Deepest nesting the streaming engine follows (deeper pages are rare and
/// are the tree's, which bounds its own work).
const MAX_DEPTH: usize = 1024;

/// How many open elements, innermost first, an end tag that does not close
/// the innermost is looked for among.
const MAX_END_TAG_SEARCH: usize = 256;

/// Longest text run (or title) the streaming engine holds; past it the tree decides.
const MAX_RAW_TEXT: usize = 64 * 1024;

/// The compiled selectors of the streaming engine.
#[derive(Debug, Clone)]
pub(super) struct StreamSelectors {
    /// The tag selector, matched on each start tag's name and attributes.
    tags: SelectorList<Simple>,
    /// What the tag selector reads.
    reads: Reads,
}

/// What a tag selector of plain compounds reads: attributes, and the
/// element names it may match (`None` when a compound matches any name).
#[derive(Debug, Clone, Default)]
struct Reads {
    attributes: Vec<String>,
    names: Option<Vec<String>>,
}

impl StreamSelectors {
    /// The streaming selectors for `tag_selector`, when streaming can be exact for it.
    pub(super) fn new(tag_selector: &str) -> Option<Self> {
        let reads = compound_reads(tag_selector)?;
        let mut parser = cssparser::Parser::new(tag_selector);
        let tags =
            SelectorList::parse(&scraper::selector::Parser, &mut parser, ParseRelative::No).ok()?;
        Some(Self { tags, reads })
    }

    /// Whether the tag selector matches a start tag: as the tree's selectors
    /// match the element it makes (same selector engine, same attributes).
    fn matches(
        &self,
        name: &str,
        attributes: &[(String, String)],
        caches: &mut matching::SelectorCaches,
    ) -> bool {
        let tag = Tag { name, attributes };
        let mut context = matching::MatchingContext::new(
            matching::MatchingMode::Normal,
            None,
            caches,
            matching::QuirksMode::NoQuirks,
            matching::NeedsSelectorFlags::No,
            matching::MatchingForInvalidation::No,
        );
        self.tags
            .slice()
            .iter()
            .any(|selector| matching::matches_selector(selector, 0, None, &tag, &mut context))
    }
}

impl Reads {
    /// Whether an element named `name` may match the tag selector.
    fn may_match(&self, name: &str) -> bool {
        self.names
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == name))
    }
}

/// What a list of plain compound selectors reads (`class` for `.x`, `id`
/// for `#x`, `name` for `[name...]`, and the element names), or `None` when
/// the selector is anything else: a combinator, a pseudo-class, an escape, a
/// namespace.
fn compound_reads(selector: &str) -> Option<Reads> {
    let mut names = BTreeSet::new();
    let mut types = Some(BTreeSet::new());
    for compound in selector.split(',') {
        let compound = compound.trim();
        let name: String = compound
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .collect();
        match types.as_mut() {
            Some(types) if !name.is_empty() => {
                types.insert(name.to_ascii_lowercase());
            }
            _ => types = None,
        }
        let mut chars = compound.chars();
        while let Some(c) = chars.next() {
            match c {
                '.' => {
                    names.insert("class".to_owned());
                }
                '#' => {
                    names.insert("id".to_owned());
                }
                '[' => {
                    let mut inside = String::new();
                    let mut quote = None;
                    loop {
                        let c = chars.next()?;
                        match (quote, c) {
                            (_, '\\') => return None,
                            (None, ']') => break,
                            (None, '"' | '\'') => quote = Some(c),
                            (Some(q), c) if c == q => quote = None,
                            _ => inside.push(c),
                        }
                    }
                    let name = inside
                        .split(['=', '~', '^', '$', '*'])
                        .next()?
                        .trim()
                        .to_ascii_lowercase();
                    if name.is_empty() || name.contains(['|', ' ']) {
                        return None;
                    }
                    names.insert(name);
                }
                c if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*') => {}
                _ => return None,
            }
        }
    }
    Some(Reads {
        attributes: names.into_iter().collect(),
        names: types.map(|types| types.into_iter().collect()),
    })
}

impl Extractor {
    /// The streaming engine alone: `None` where it is not sure to equal
    /// [`Self::extract_tree`], and [`Self::extract`] asks the tree.
    pub fn extract_stream(&self, html: &str, base: &Url) -> Option<Extracted> {
        self.stream_or_why(html, base).ok()
    }

    /// The streaming engine alone, or why it leaves the page to the tree.
    pub fn stream_or_why(&self, html: &str, base: &Url) -> Result<Extracted, String> {
        let Some(selectors) = self.stream.as_ref() else {
            return Err("the tag selector is not a list of plain compounds".into());
        };
        // The tree's tokenizer drops a byte order mark.
        let html = html.strip_prefix('\u{FEFF}').unwrap_or(html);
        let pass = Pass::new(selectors, &self.rule, base);
        // The pass's one token is its outcome, at the end or where it is unsure.
        match Tokenizer::new_with_emitter(Input(html.as_bytes()), pass).next() {
            Some(Ok(Ok(extracted))) => Ok(extracted),
            Some(Ok(Err(Unsure(why)))) => Err(format!(
                "the streaming engine cannot be sure of the tree's answer: {why}"
            )),
            Some(Err(never)) => match never {},
            None => Err("the tokenizer stopped before the end of the page".into()),
        }
    }
}

/// The streaming engine cannot be sure of the tree's answer, and why.
#[derive(Debug)]
struct Unsure(&'static str);

type Sure<T> = Result<T, Unsure>;

fn unsure<T>(why: &'static str) -> Sure<T> {
    Err(Unsure(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_compound_selectors_stream() {
        let reads = compound_reads("a.post-tag, span#x[data-k=\"v w\"]").unwrap();
        assert_eq!(reads.attributes, ["class", "data-k", "id"]);
        assert_eq!(reads.names.unwrap(), ["a", "span"]);
        let reads = compound_reads("A, .x").unwrap();
        assert_eq!(reads.names, None);
        for selector in [
            "div a.post-tag",
            "a > b",
            "a + b",
            "a:first-child",
            "a\\.b",
            "[x|y]",
        ] {
            assert!(compound_reads(selector).is_none(), "{selector}");
        }
    }
}
