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
//! elements by many rules. [`Walk`] keeps the stack and stops at the first
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

use std::borrow::Cow;
use std::collections::BTreeSet;

use html5gum::{Emitter, State, Tokenizer};
use scraper::selector::{CssLocalName, CssString, NonTSPseudoClass, PseudoElement, Simple};
use selectors::attr::{AttrSelectorOperation, CaseSensitivity, NamespaceConstraint};
use selectors::parser::{ParseRelative, SelectorList};
use selectors::{OpaqueElement, matching};
use url::Url;

use super::page::{self, Links, Matched};
use super::{Extracted, Extractor};
use crate::links::LinkRule;

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

/// The page as html5gum reads it: as its own string reader does, but each
/// search for the next byte that ends a run (`<`, `&`, a quote...) is done
/// by `memchr`, three bytes at a time, where html5gum's own sets up an
/// SSE 4.2 search per call (most runs are a few bytes long).
struct Input<'a>(&'a [u8]);

impl html5gum::Reader for Input<'_> {
    type Error = std::convert::Infallible;

    #[inline(always)]
    fn read_byte(&mut self) -> Result<Option<u8>, Self::Error> {
        let Some((&byte, rest)) = self.0.split_first() else {
            return Ok(None);
        };
        self.0 = rest;
        Ok(Some(byte))
    }

    #[inline(always)]
    fn try_read_string(&mut self, s: &[u8], case_sensitive: bool) -> Result<bool, Self::Error> {
        let Some(next) = self.0.get(..s.len()) else {
            return Ok(false);
        };
        // The first and last bytes rule out most tries (the named character
        // references are matched by trying many names) without a call.
        let same = |a: Option<&u8>, b: Option<&u8>| match (a, b) {
            (Some(a), Some(b)) => a == b || (!case_sensitive && a.eq_ignore_ascii_case(b)),
            _ => true,
        };
        let found = same(next.first(), s.first())
            && same(next.last(), s.last())
            && (next == s || (!case_sensitive && next.eq_ignore_ascii_case(s)));
        if found {
            self.0 = &self.0[s.len()..];
        }
        Ok(found)
    }

    #[inline(always)]
    fn read_until<'b>(
        &'b mut self,
        needle: &[u8],
        _: &'b mut [u8; 4],
    ) -> Result<Option<&'b [u8]>, Self::Error> {
        if self.0.is_empty() {
            return Ok(None);
        }
        // The first of any needle byte: byte by byte at first (most runs are
        // a few bytes), then in windows that grow (a search for rare bytes
        // must not read the whole page), each search within one only before
        // the best so far.
        let mask = needle.iter().fold(0u128, |mask, &b| {
            mask | 1u128.checked_shl(u32::from(b)).unwrap_or(0)
        });
        let wide = needle.iter().any(|&b| b >= 128);
        let near = self.0.len().min(16);
        let mut end = self.0[..near]
            .iter()
            .position(|&b| (b < 128 && mask >> b & 1 != 0) || (wide && needle.contains(&b)));
        let mut window = 1024;
        let mut from = near;
        while end.is_none() && from < self.0.len() {
            let to = self.0.len().min(from + window);
            let mut best = to;
            for bytes in needle.chunks(3) {
                let within = &self.0[from..best];
                let at = match *bytes {
                    [a] => memchr::memchr(a, within),
                    [a, b] => memchr::memchr2(a, b, within),
                    [a, b, c] => memchr::memchr3(a, b, c, within),
                    _ => None,
                };
                if let Some(at) = at {
                    best = from + at;
                    end = Some(best);
                }
            }
            from = to;
            window *= 4;
        }
        let end = end.unwrap_or(self.0.len());
        // A needle byte on its own, else the run before it (or the rest).
        let (run, rest) = self.0.split_at(end.max(1));
        self.0 = rest;
        Ok(Some(run))
    }
}

/// The streaming engine cannot be sure of the tree's answer, and why.
#[derive(Debug)]
struct Unsure(&'static str);

type Sure<T> = Result<T, Unsure>;

fn unsure<T>(why: &'static str) -> Sure<T> {
    Err(Unsure(why))
}

/// One pass over a page: html5gum's emitter, which gathers each token's
/// parts and hands whole tags and text runs to the [`Walk`]. Its one token
/// is the outcome, at the end or at the first place it is unsure.
struct Pass<'a> {
    selectors: &'a StreamSelectors,
    rule: &'a LinkRule,
    base: &'a Url,
    walk: Walk,
    /// The tag being read: its name, whether it is an end tag, self-closing.
    name: Vec<u8>,
    end: bool,
    self_closing: bool,
    /// The attributes asked about (the first of each name): `href` on `<a>`,
    /// and those the tag selector reads on elements it may match.
    attributes: Vec<(String, String)>,
    /// The attribute being read.
    attribute_name: Vec<u8>,
    attribute_value: Vec<u8>,
    /// Whether this tag's attributes are read: `None` until its first one.
    wanted: Option<bool>,
    /// The selector engine's caches, kept for the page.
    caches: matching::SelectorCaches,
    /// The last start tag's name, for the tokenizer's end of raw text.
    last_start: Vec<u8>,
    /// The text run being read, kept only inside a match or the title.
    text: Vec<u8>,
    outcome: Option<Sure<Extracted>>,
    over: bool,
}

impl<'a> Pass<'a> {
    fn new(selectors: &'a StreamSelectors, rule: &'a LinkRule, base: &'a Url) -> Self {
        Self {
            selectors,
            rule,
            base,
            walk: Walk::default(),
            name: Vec::new(),
            end: false,
            self_closing: false,
            attributes: Vec::new(),
            attribute_name: Vec::new(),
            attribute_value: Vec::new(),
            wanted: None,
            caches: matching::SelectorCaches::default(),
            last_start: Vec::new(),
            text: Vec::new(),
            outcome: None,
            over: false,
        }
    }

    /// Ends the pass with `outcome`: the tokenizer's next token.
    fn conclude(&mut self, outcome: Sure<Extracted>) {
        if !self.over {
            self.over = true;
            self.outcome = Some(outcome);
        }
    }

    /// The text run ends (a tag, comment or doctype starts, or the page ends).
    fn flush_text(&mut self) {
        if self.text.is_empty() || self.over {
            return;
        }
        let read = std::str::from_utf8(&self.text)
            .map_err(|_| Unsure("text that is not UTF-8"))
            .and_then(|text| self.walk.text(text));
        self.text.clear();
        if let Err(unsure) = read {
            self.conclude(Err(unsure));
        }
    }

    /// A new tag starts.
    fn init_tag(&mut self, end: bool) {
        self.flush_text();
        self.name.clear();
        self.end = end;
        self.self_closing = false;
        self.attributes.clear();
        self.attribute_name.clear();
        self.attribute_value.clear();
        self.wanted = None;
    }

    /// The attribute being read is complete: kept when it is asked about
    /// and its name did not come before.
    fn finish_attribute(&mut self) {
        if self.attribute_name.is_empty() {
            return;
        }
        let asked = (self.name == b"a" && self.attribute_name == b"href")
            || self
                .selectors
                .reads
                .attributes
                .iter()
                .any(|name| name.as_bytes() == self.attribute_name);
        let seen = || {
            self.attributes
                .iter()
                .any(|(name, _)| name.as_bytes() == self.attribute_name)
        };
        if asked && !seen() {
            match (
                std::str::from_utf8(&self.attribute_name),
                std::str::from_utf8(&self.attribute_value),
            ) {
                (Ok(name), Ok(value)) => self.attributes.push((name.to_owned(), value.to_owned())),
                _ => self.conclude(Err(Unsure("an attribute that is not UTF-8"))),
            }
        }
        self.attribute_name.clear();
        self.attribute_value.clear();
    }

    /// A whole tag: to the walk; the tokenizer's next state.
    fn tag(&mut self) -> Sure<Option<State>> {
        self.finish_attribute();
        let name =
            std::str::from_utf8(&self.name).map_err(|_| Unsure("a tag name that is not UTF-8"))?;
        if self.end {
            self.walk.end_tag(name)?;
            return Ok(None);
        }
        let state = self.walk.start(
            name,
            self.self_closing,
            &self.attributes,
            (self.selectors, &mut self.caches),
            self.rule,
            self.base,
        )?;
        self.last_start.clone_from(&self.name);
        Ok(state)
    }
}

impl Emitter for Pass<'_> {
    type Token = Sure<Extracted>;

    fn set_last_start_tag(&mut self, last_start_tag: Option<&[u8]>) {
        self.last_start.clear();
        self.last_start
            .extend_from_slice(last_start_tag.unwrap_or_default());
    }

    fn emit_eof(&mut self) {
        self.flush_text();
        let walk = std::mem::take(&mut self.walk);
        self.conclude(walk.finish());
    }

    fn emit_error(&mut self, _: html5gum::Error) {}

    fn should_emit_errors(&mut self) -> bool {
        false
    }

    fn pop_token(&mut self) -> Option<Self::Token> {
        self.outcome.take()
    }

    fn emit_string(&mut self, text: &[u8]) {
        if self.over || !self.walk.reads_text() {
            return;
        }
        self.text.extend_from_slice(text);
        if self.text.len() > MAX_RAW_TEXT {
            self.conclude(Err(Unsure(
                "a text run longer than 64 KiB in a matched element or the title",
            )));
        }
    }

    fn init_start_tag(&mut self) {
        self.init_tag(false);
    }

    fn init_end_tag(&mut self) {
        self.init_tag(true);
    }

    fn init_comment(&mut self) {
        self.flush_text();
    }

    fn emit_current_tag(&mut self) -> Option<State> {
        if self.over {
            return None;
        }
        match self.tag() {
            Ok(state) => state,
            Err(unsure) => {
                self.conclude(Err(unsure));
                None
            }
        }
    }

    fn emit_current_comment(&mut self) {}

    fn emit_current_doctype(&mut self) {}

    fn set_self_closing(&mut self) {
        self.self_closing = true;
    }

    fn set_force_quirks(&mut self) {}

    fn push_tag_name(&mut self, name: &[u8]) {
        self.name.extend_from_slice(name);
    }

    fn push_comment(&mut self, _: &[u8]) {}

    fn push_doctype_name(&mut self, _: &[u8]) {}

    fn init_doctype(&mut self) {
        self.flush_text();
    }

    fn init_attribute(&mut self) {
        self.finish_attribute();
        let (end, name, reads) = (self.end, &self.name, &self.selectors.reads);
        let wanted = *self.wanted.get_or_insert_with(|| {
            !end && (name == b"a"
                || std::str::from_utf8(name).is_ok_and(|name| reads.may_match(name)))
        });
        if !wanted {
            self.attribute_name.clear();
        }
    }

    fn push_attribute_name(&mut self, name: &[u8]) {
        if self.wanted == Some(true) {
            self.attribute_name.extend_from_slice(name);
        }
    }

    fn push_attribute_value(&mut self, value: &[u8]) {
        if self.wanted == Some(true) {
            self.attribute_value.extend_from_slice(value);
        }
    }

    fn set_doctype_public_identifier(&mut self, _: &[u8]) {}

    fn set_doctype_system_identifier(&mut self, _: &[u8]) {}

    fn push_doctype_public_identifier(&mut self, _: &[u8]) {}

    fn push_doctype_system_identifier(&mut self, _: &[u8]) {}

    fn current_is_appropriate_end_tag_token(&mut self) -> bool {
        self.end && self.name == self.last_start
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&mut self) -> bool {
        self.walk.foreign > 0
    }
}

/// A start tag as the tag selector sees it: the element the tree makes of
/// it, without the tree (plain compounds ask nothing of parents or siblings).
#[derive(Debug, Clone, Copy)]
struct Tag<'t> {
    name: &'t str,
    attributes: &'t [(String, String)],
}

impl Tag<'_> {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// As scraper's elements answer, for an element with no parent or siblings.
impl selectors::Element for Tag<'_> {
    type Impl = Simple;

    fn opaque(&self) -> OpaqueElement {
        OpaqueElement::new(self)
    }

    fn parent_element(&self) -> Option<Self> {
        None
    }

    fn parent_node_is_shadow_root(&self) -> bool {
        false
    }

    fn containing_shadow_host(&self) -> Option<Self> {
        None
    }

    fn is_pseudo_element(&self) -> bool {
        false
    }

    fn is_part(&self, _: &CssLocalName) -> bool {
        false
    }

    fn is_same_type(&self, other: &Self) -> bool {
        self.name == other.name
    }

    fn imported_part(&self, _: &CssLocalName) -> Option<CssLocalName> {
        None
    }

    fn prev_sibling_element(&self) -> Option<Self> {
        None
    }

    fn next_sibling_element(&self) -> Option<Self> {
        None
    }

    fn first_element_child(&self) -> Option<Self> {
        None
    }

    fn is_html_element_in_html_document(&self) -> bool {
        true
    }

    fn has_local_name(&self, name: &CssLocalName) -> bool {
        *self.name == *name.0
    }

    fn has_namespace(&self, namespace: &html5ever::Namespace) -> bool {
        *namespace == html5ever::ns!(html)
    }

    fn attr_matches(
        &self,
        ns: &NamespaceConstraint<&html5ever::Namespace>,
        local_name: &CssLocalName,
        operation: &AttrSelectorOperation<&CssString>,
    ) -> bool {
        let no_namespace = match ns {
            NamespaceConstraint::Specific(url) => **url == html5ever::ns!(),
            NamespaceConstraint::Any => true,
        };
        no_namespace
            && self
                .attribute(&local_name.0)
                .is_some_and(|value| operation.eval_str(value))
    }

    fn match_non_ts_pseudo_class(
        &self,
        _: &NonTSPseudoClass,
        _: &mut matching::MatchingContext<'_, Self::Impl>,
    ) -> bool {
        false
    }

    fn match_pseudo_element(
        &self,
        _: &PseudoElement,
        _: &mut matching::MatchingContext<Self::Impl>,
    ) -> bool {
        false
    }

    fn is_link(&self) -> bool {
        self.name == "link"
    }

    fn is_html_slot_element(&self) -> bool {
        true
    }

    fn has_id(&self, id: &CssLocalName, case_sensitivity: CaseSensitivity) -> bool {
        self.attribute("id")
            .is_some_and(|value| case_sensitivity.eq(id.0.as_bytes(), value.as_bytes()))
    }

    fn has_class(&self, name: &CssLocalName, case_sensitivity: CaseSensitivity) -> bool {
        self.attribute("class").is_some_and(|classes| {
            classes
                .split_ascii_whitespace()
                .any(|class| case_sensitivity.eq(class.as_bytes(), name.0.as_bytes()))
        })
    }

    fn has_custom_state(&self, _: &CssLocalName) -> bool {
        false
    }

    fn is_empty(&self) -> bool {
        false
    }

    fn is_root(&self) -> bool {
        false
    }

    fn apply_selector_flags(&self, _: matching::ElementSelectorFlags) {}

    fn add_element_unique_hashes(&self, _: &mut selectors::bloom::BloomFilter) -> bool {
        false
    }
}

/// An element the simple stack holds open.
#[derive(Debug)]
struct Open {
    /// Its name: the rules' own copy when they know it ([`kind_of`]).
    name: Cow<'static, str>,
    /// What the rules know of the name ([`kind_of`]).
    kind: u32,
    /// It matched the tag selector.
    matched: bool,
    /// It is an `<svg>` or `<math>` opening foreign content.
    foreign_root: bool,
}

/// The first title.
#[derive(Debug, Default)]
enum Title {
    #[default]
    Unseen,
    /// Its text so far.
    Reading(String),
    Read(Option<String>),
}

/// What the streaming engine has seen so far, and whether the tree could differ.
#[derive(Debug, Default)]
struct Walk {
    open: Vec<Open>,
    /// Open `<svg>`/`<math>` elements.
    foreign: usize,
    /// Where the open elements the rules ask about are.
    marks: Marks,
    seen_element: bool,
    seen_head: bool,
    seen_body_content: bool,
    seen_body: bool,
    matched: Matched,
    title: Title,
    links: Links,
}

impl Walk {
    /// A start tag: the element it opens (unless void), the title, a match, a
    /// link; the tokenizer's next state.
    fn start(
        &mut self,
        name: &str,
        self_closing: bool,
        attributes: &[(String, String)],
        (selectors, caches): (&StreamSelectors, &mut matching::SelectorCaches),
        rule: &LinkRule,
        base: &Url,
    ) -> Sure<Option<State>> {
        let (known, kind) = kind_of(name);
        self.check(name, kind, &selectors.reads)?;
        let foreign_root = self.foreign == 0 && kind & FOREIGN_ROOT != 0;
        let foreign = self.foreign > 0 || foreign_root;
        // Void elements, and self-closing ones in SVG or MathML, hold nothing.
        let void = if foreign {
            self_closing
        } else {
            kind & VOID != 0
        };
        if !void {
            if self.open.len() >= MAX_DEPTH {
                return unsure("elements nested deeper than 1,024");
            }
            // The first title must come before any SVG or MathML.
            if foreign_root && matches!(self.title, Title::Unseen) {
                return unsure("SVG or MathML before the first title");
            }
            self.foreign += usize::from(foreign_root);
            self.marks.push(self.open.len(), kind);
            self.open.push(Open {
                name: if known.is_empty() {
                    Cow::Owned(name.to_owned())
                } else {
                    Cow::Borrowed(known)
                },
                kind,
                matched: false,
                foreign_root,
            });
            if known == "title" {
                self.title_starts()?;
            }
            if selectors.reads.may_match(name) && selectors.matches(name, attributes, caches) {
                self.open_match()?;
            }
        }
        if known == "a" {
            let tag = Tag { name, attributes };
            if let Some(href) = tag.attribute("href") {
                if self.foreign > 0 {
                    return unsure("a link inside SVG or MathML");
                }
                if let Some(url) = rule.follow(base, href) {
                    self.links.add(url.into());
                }
            }
        }
        Ok(if foreign || void {
            None
        } else {
            text_state(kind)
        })
    }

    /// Whether the tree treats a start tag `name` here as the simple stack does.
    fn check(&mut self, name: &str, kind: u32, reads: &Reads) -> Sure<()> {
        if self.foreign > 0 {
            return self.check_foreign(name, kind, reads);
        }
        if self.matched.any_open() && !kind & INSIDE != 0 {
            return unsure("markup other than plain inline markup inside a matched element");
        }
        let first = !self.seen_element;
        self.seen_element = true;
        let in_head = !self.marks.head.0.is_empty();
        // Most elements are none of the names below: their bits say so
        // without comparing names.
        if kind & TABLE_PART != 0 || !self.marks.table.0.is_empty() {
            self.check_table(name)?;
        }
        self.check_select(name)?;
        match name {
            _ if kind & DOCUMENT == 0 => {
                if kind & UNFOLLOWED != 0 {
                    return unsure(
                        "an element whose tree construction is not followed (template, frames, ruby)",
                    );
                }
                if kind & IN_HEAD == 0 {
                    if in_head {
                        return unsure("an element that ends <head> implicitly");
                    }
                    self.seen_body_content = true;
                }
            }
            "html" if first => return Ok(()),
            "head" if !self.seen_head && !self.seen_body_content => {
                self.seen_head = true;
                return Ok(());
            }
            "body" if !self.seen_body => {
                self.seen_body = true;
                return Ok(());
            }
            _ => {
                return unsure("a second <html>, <head> or <body>, or one out of place");
            }
        }
        if kind & CLOSING_P != 0 && self.p_in_button_scope() {
            return unsure("a start tag that closes an open <p>");
        }
        if kind & HEADING != 0
            && self
                .open
                .last()
                .is_some_and(|open| open.kind & HEADING != 0)
        {
            return unsure("a heading inside a heading");
        }
        if kind & NESTS_SPECIALLY == 0 {
            return Ok(());
        }
        match name {
            "li" if self.closes_item(&["li"]) => unsure("an <li> that closes an open one"),
            "dd" | "dt" if self.closes_item(&["dd", "dt"]) => {
                unsure("a <dd> or <dt> that closes an open one")
            }
            "a" => self.a_in_a(),
            "nobr" if !self.marks.nobr.0.is_empty() => {
                unsure("a <nobr>, <button> or <form> inside another")
            }
            "button" if !self.marks.button.0.is_empty() => {
                unsure("a <nobr>, <button> or <form> inside another")
            }
            "form" if !self.marks.form.0.is_empty() => {
                unsure("a <nobr>, <button> or <form> inside another")
            }
            _ => Ok(()),
        }
    }

    /// A start tag inside SVG or MathML: these names break out of it, and
    /// inside an integration point the tree reads HTML again.
    fn check_foreign(&self, name: &str, kind: u32, reads: &Reads) -> Sure<()> {
        let parent = self.open.last().map_or(0, |open| open.kind);
        if kind & BREAKS_OUT != 0 || parent & INTEGRATION_POINT != 0 {
            return unsure("HTML inside SVG or MathML");
        }
        // The tree's selectors match SVG and MathML elements by name too: not followed here.
        if reads.may_match(name)
            || name == "a"
            || (name == "title" && matches!(self.title, Title::Unseen))
        {
            return unsure("an SVG or MathML element the selectors may match");
        }
        Ok(())
    }

    /// Tables: the tree implies `<tbody>` and `<tr>` (harmless here) and moves
    /// whatever is not a table part out of the table (foster parenting), and a
    /// table part outside its place closes a cell or is ignored.
    fn check_table(&self, name: &str) -> Sure<()> {
        let context = self.marks.table.last(&self.open);
        let in_table = matches!(context, Some("table" | "thead" | "tbody" | "tfoot" | "tr"));
        let top = self.open.last().map_or("", |open| &*open.name);
        if top == "colgroup" && name != "col" {
            return unsure("markup that ends a <colgroup> implicitly");
        }
        let fits = match name {
            "colgroup" => context == Some("table"),
            "col" => context == Some("table") || top == "colgroup",
            "script" | "style" => true,
            "td" | "th" => in_table,
            "tr" => in_table && context != Some("tr"),
            "thead" | "tbody" | "tfoot" => context == Some("table"),
            "table" => !in_table,
            _ => !in_table,
        };
        if fits {
            Ok(())
        } else if in_table {
            unsure("markup the tree moves out of a table, or a table part out of its place")
        } else {
            unsure("a table part outside a table, or one that closes a cell")
        }
    }

    /// `<select>`: the tree keeps only options, option groups and scripts in
    /// it, and an option ends an open one.
    fn check_select(&self, name: &str) -> Sure<()> {
        if self.marks.select.0.is_empty() {
            return Ok(());
        }
        let top = self.open.last().map_or("", |open| &*open.name);
        match name {
            "option" if top != "option" => Ok(()),
            "optgroup" if !matches!(top, "option" | "optgroup") => Ok(()),
            "script" => Ok(()),
            _ => unsure("markup the tree drops or closes inside a <select>"),
        }
    }

    /// An `<a>` inside an open `<a>`: the tree closes the open one first. When
    /// it is the innermost element and not a match, that is all the tree does,
    /// and so does the stack here (its own `</a>` later closes nothing, and
    /// both ignore it); otherwise the tree rebuilds what lies between.
    fn a_in_a(&mut self) -> Sure<()> {
        let Some(&i) = self.marks.a.0.last() else {
            return Ok(());
        };
        if i + 1 != self.open.len() || self.open[i].matched {
            return unsure("an <a> inside another <a> with markup between, or inside a match");
        }
        self.close_innermost();
        Ok(())
    }

    /// Whether a `<p>` is open in button scope (a start tag like `<div>` closes it).
    fn p_in_button_scope(&self) -> bool {
        self.marks.p_scope.last(&self.open) == Some("p")
    }

    /// Whether a new list item (`<li>`, or `<dd>`/`<dt>`) closes an open one.
    fn closes_item(&self, items: &[&str]) -> bool {
        let scope = if items.contains(&"li") {
            &self.marks.li_scope
        } else {
            &self.marks.dd_scope
        };
        scope
            .last(&self.open)
            .is_some_and(|name| items.contains(&name))
    }

    /// The innermost open element matched: its text is gathered from here.
    fn open_match(&mut self) -> Sure<()> {
        let Some(open) = self.open.last_mut() else {
            return unsure("a match with no open element");
        };
        // Foreign content, and the elements whose first newline the tree
        // drops, are not followed.
        if self.foreign > 0 {
            return unsure("a matched element inside SVG or MathML");
        }
        if matches!(&*open.name, "pre" | "listing" | "textarea") {
            return unsure("a matched element whose first newline the tree drops");
        }
        open.matched = true;
        self.matched.open();
        Ok(())
    }

    /// An end tag named `name`: it closes the innermost open element when
    /// that is of its name; one that names no open element is ignored (so
    /// does the tree, or it adds and closes an empty `<p>` or `<br>`), but
    /// not inside a match or the title.
    fn end_tag(&mut self, name: &str) -> Sure<()> {
        if self.open.last().is_some_and(|open| open.name == name) {
            self.close_innermost();
            return Ok(());
        }
        // Only so far out is searched, so stray end tags deep in a page cost
        // little each (past it, the tree decides).
        let searched = self.open.len().min(MAX_END_TAG_SEARCH);
        let open_further_out = self.open[self.open.len() - searched..]
            .iter()
            .any(|open| open.name == name);
        if open_further_out {
            unsure("an element closed by an end tag not its own")
        } else if searched < self.open.len() {
            unsure("an end tag that closes nothing among the 256 innermost elements")
        } else if self.reads_text() {
            unsure("an end tag that closes nothing inside a match or the title")
        } else {
            Ok(())
        }
    }

    /// The innermost open element closes.
    fn close_innermost(&mut self) {
        let Some(open) = self.open.pop() else {
            return;
        };
        self.marks.pop(self.open.len(), open.kind);
        self.foreign -= usize::from(open.foreign_root);
        if open.matched {
            self.matched.close();
        }
        if open.name == "title"
            && let Title::Reading(text) = &self.title
        {
            self.title = Title::Read(page::title(text));
        }
    }

    /// Whether text is read here: inside a match or the first title.
    fn reads_text(&self) -> bool {
        self.matched.any_open() || matches!(self.title, Title::Reading(_))
    }

    /// A text run (decoded by the tokenizer) inside a match or the title.
    fn text(&mut self, text: &str) -> Sure<()> {
        if let Title::Reading(title) = &mut self.title {
            title.push_str(text);
            if title.len() > MAX_RAW_TEXT {
                return unsure("a title longer than 64 KiB");
            }
        } else if self.matched.any_open() {
            // The tree drops a NUL in body text (the tokenizer replaces it elsewhere).
            if text.contains('\0') {
                self.matched.text(&text.replace('\0', ""));
            } else {
                self.matched.text(text);
            }
        }
        Ok(())
    }

    /// A `<title>` starts: the first is read.
    fn title_starts(&mut self) -> Sure<()> {
        if !matches!(self.title, Title::Unseen) {
            return Ok(());
        }
        if self.foreign > 0 {
            return unsure("a first title inside SVG or MathML");
        }
        self.title = Title::Reading(String::new());
        Ok(())
    }

    /// The answer, when every element that matters was closed.
    fn finish(self) -> Sure<Extracted> {
        if self.reads_text() {
            return unsure("an element that matters was open at the end");
        }
        Ok(Extracted {
            title: match self.title {
                Title::Read(title) => title,
                _ => None,
            },
            tags: self.matched.tags.kept.into_iter().collect(),
            tags_dropped: self.matched.tags.dropped,
            links: self.links.kept.into_iter().collect(),
            links_dropped: self.links.dropped,
        })
    }
}

/// Indices into the stack of open elements, innermost last.
#[derive(Debug, Default)]
struct Mark(Vec<usize>);

impl Mark {
    fn last<'a>(&self, open: &'a [Open]) -> Option<&'a str> {
        self.0
            .last()
            .and_then(|&i| open.get(i))
            .map(|open| &*open.name)
    }
}

/// The open elements the rules ask about, each kept as it opens and closes,
/// so no rule walks the stack (200,000 nested `<div>`s cost no more than
/// 200,000 siblings). Which marks keep an element is in its kind ([`kind_of`]).
#[derive(Debug, Default)]
struct Marks {
    head: Mark,
    select: Mark,
    nobr: Mark,
    button: Mark,
    form: Mark,
    /// Open `<a>`s the tree has open too (not ghosts).
    a: Mark,
    /// Table parts: the innermost is the table context.
    table: Mark,
    /// `<p>`s and what ends button scope.
    p_scope: Mark,
    /// `<li>`s and the special elements that end the search for one.
    li_scope: Mark,
    /// `<dd>`/`<dt>`s and the special elements that end the search for one.
    dd_scope: Mark,
}

impl Marks {
    /// Each mark with the kind bit of the elements it keeps.
    fn each(&mut self) -> [(&mut Mark, u32); 10] {
        [
            (&mut self.head, MARK_HEAD),
            (&mut self.select, MARK_SELECT),
            (&mut self.nobr, MARK_NOBR),
            (&mut self.button, MARK_BUTTON),
            (&mut self.form, MARK_FORM),
            (&mut self.a, MARK_A),
            (&mut self.table, MARK_TABLE),
            (&mut self.p_scope, MARK_P_SCOPE),
            (&mut self.li_scope, MARK_LI_SCOPE),
            (&mut self.dd_scope, MARK_DD_SCOPE),
        ]
    }

    /// An element of `kind` opens at index `i`.
    fn push(&mut self, i: usize, kind: u32) {
        if kind & MARKS == 0 {
            return;
        }
        for (mark, bit) in self.each() {
            if kind & bit != 0 {
                mark.0.push(i);
            }
        }
    }

    /// The element at index `i`, of `kind`, closes.
    fn pop(&mut self, i: usize, kind: u32) {
        if kind & MARKS == 0 {
            return;
        }
        for (mark, bit) in self.each() {
            if kind & bit != 0 && mark.0.last() == Some(&i) {
                mark.0.pop();
            }
        }
    }
}

/// Elements the tree never holds open (its void elements).
const VOIDS: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img",
    "input", "keygen", "link", "meta", "param", "source", "track", "wbr",
];

/// The tokenizer state after an HTML start tag of `kind`, where the tree switches it.
fn text_state(kind: u32) -> Option<State> {
    if kind & RCDATA != 0 {
        Some(State::RcData)
    } else if kind & RAWTEXT != 0 {
        Some(State::RawText)
    } else if kind & SCRIPT_DATA != 0 {
        Some(State::ScriptData)
    } else if kind & PLAINTEXT != 0 {
        Some(State::PlainText)
    } else {
        None
    }
}

/// What the rules know of an element name: `INSIDE | SPECIAL_KIND | ...`,
/// and the [`Marks`] that keep it (`MARK_*`).
const INSIDE: u32 = 1;
const UNFOLLOWED: u32 = 1 << 1;
const IN_HEAD: u32 = 1 << 2;
const CLOSING_P: u32 = 1 << 3;
const SPECIAL_KIND: u32 = 1 << 4;
const BREAKS_OUT: u32 = 1 << 5;
const INTEGRATION_POINT: u32 = 1 << 6;
const HEADING: u32 = 1 << 7;
const MARK_HEAD: u32 = 1 << 8;
const MARK_SELECT: u32 = 1 << 9;
const MARK_NOBR: u32 = 1 << 10;
const MARK_BUTTON: u32 = 1 << 11;
const MARK_FORM: u32 = 1 << 12;
const MARK_A: u32 = 1 << 13;
const MARK_TABLE: u32 = 1 << 14;
const MARK_P_SCOPE: u32 = 1 << 15;
const MARK_LI_SCOPE: u32 = 1 << 16;
const MARK_DD_SCOPE: u32 = 1 << 17;
/// Void elements: never held open.
const VOID: u32 = 1 << 18;
/// `<svg>` and `<math>`.
const FOREIGN_ROOT: u32 = 1 << 19;
/// The tokenizer state after the start tag, in HTML content.
const RCDATA: u32 = 1 << 20;
const RAWTEXT: u32 = 1 << 21;
const SCRIPT_DATA: u32 = 1 << 22;
const PLAINTEXT: u32 = 1 << 23;
/// Table parts `check_table` places (outside a table, only these ask it).
const TABLE_PART: u32 = 1 << 24;
/// `<html>`, `<head>`, `<body>`.
const DOCUMENT: u32 = 1 << 25;
/// Elements an open one of their own kind changes: `li`, `dd`, `dt`, `a`,
/// `nobr`, `button`, `form`.
const NESTS_SPECIALLY: u32 = 1 << 26;
/// Every mark's bit.
const MARKS: u32 = MARK_HEAD
    | MARK_SELECT
    | MARK_NOBR
    | MARK_BUTTON
    | MARK_FORM
    | MARK_A
    | MARK_TABLE
    | MARK_P_SCOPE
    | MARK_LI_SCOPE
    | MARK_DD_SCOPE;

/// `name` as the rules know it ("" when they do not), and every kind it is
/// of: one hash lookup per element (FxHash: the names are short and the
/// table fixed), not a scan of each list (the rules ask several questions of
/// every element).
fn kind_of(name: &str) -> (&'static str, u32) {
    static KINDS: std::sync::LazyLock<rustc_hash::FxHashMap<&'static str, u32>> =
        std::sync::LazyLock::new(|| {
            let mut kinds = rustc_hash::FxHashMap::default();
            let mut add = |names: &[&'static str], kind: u32| {
                for name in names {
                    *kinds.entry(*name).or_insert(0) |= kind;
                }
            };
            // The special elements but `<address>`, `<div>` and `<p>` end the
            // search for an open list item.
            let stops_items: Vec<&'static str> = SPECIAL
                .iter()
                .copied()
                .filter(|name| !matches!(*name, "address" | "div" | "p"))
                .collect();
            for (list, kind) in [
                (NAMED, 0),
                (INSIDE_MATCH, INSIDE),
                (NEVER, UNFOLLOWED),
                (HEAD, IN_HEAD),
                (CLOSES_P, CLOSING_P),
                (SPECIAL, SPECIAL_KIND),
                (BREAKOUT, BREAKS_OUT),
                (INTEGRATION_POINTS, INTEGRATION_POINT),
                (&["h1", "h2", "h3", "h4", "h5", "h6"], HEADING),
                (&["head"], MARK_HEAD),
                (&["select"], MARK_SELECT),
                (&["nobr"], MARK_NOBR),
                (&["button"], MARK_BUTTON),
                (&["form"], MARK_FORM),
                (&["a"], MARK_A),
                (
                    &[
                        "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption",
                    ],
                    MARK_TABLE,
                ),
                (
                    &[
                        "p", "applet", "caption", "html", "table", "td", "th", "marquee", "object",
                        "template", "button",
                    ],
                    MARK_P_SCOPE,
                ),
                (&["li"], MARK_LI_SCOPE),
                (&["dd", "dt"], MARK_DD_SCOPE),
                (VOIDS, VOID),
                (&["svg", "math"], FOREIGN_ROOT),
                (&["title", "textarea"], RCDATA),
                (
                    &["style", "xmp", "iframe", "noembed", "noframes", "noscript"],
                    RAWTEXT,
                ),
                (&["script"], SCRIPT_DATA),
                (&["plaintext"], PLAINTEXT),
                (
                    &[
                        "colgroup", "col", "td", "th", "tr", "thead", "tbody", "tfoot",
                    ],
                    TABLE_PART,
                ),
                (&["html", "head", "body"], DOCUMENT),
                (
                    &["li", "dd", "dt", "a", "nobr", "button", "form"],
                    NESTS_SPECIALLY,
                ),
                (&stops_items, MARK_LI_SCOPE | MARK_DD_SCOPE),
            ] {
                add(list, kind);
            }
            kinds
        });
    KINDS
        .get_key_value(name)
        .map_or(("", 0), |(name, kind)| (name, *kind))
}

/// Every name the rules compare an element's name with: an element keeps
/// its name ([`Open::name`]) only when [`kind_of`]'s table holds it.
const NAMED: &[&str] = &[
    "a", "body", "button", "col", "colgroup", "dd", "dt", "form", "head", "html", "li", "listing",
    "math", "nobr", "optgroup", "option", "p", "pre", "script", "style", "svg", "table", "tbody",
    "td", "textarea", "tfoot", "th", "thead", "title", "tr",
];

/// What may start inside a matched element: inline markup the tree never
/// closes or moves on its own when it is properly nested.
const INSIDE_MATCH: &[&str] = &[
    "abbr", "b", "bdi", "bdo", "br", "cite", "code", "data", "del", "dfn", "em", "i", "img", "ins",
    "kbd", "mark", "q", "s", "samp", "script", "small", "span", "strong", "style", "sub", "sup",
    "time", "u", "var", "wbr",
];

/// Start tags that end SVG or MathML content in the tree.
const BREAKOUT: &[&str] = &[
    "b",
    "big",
    "blockquote",
    "body",
    "br",
    "center",
    "code",
    "dd",
    "div",
    "dl",
    "dt",
    "em",
    "embed",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "hr",
    "i",
    "img",
    "li",
    "listing",
    "menu",
    "meta",
    "nobr",
    "ol",
    "p",
    "pre",
    "ruby",
    "s",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "tt",
    "u",
    "ul",
    "var",
];

/// SVG and MathML elements whose content the tree reads as HTML.
const INTEGRATION_POINTS: &[&str] = &[
    "foreignobject",
    "desc",
    "title",
    "mi",
    "mo",
    "mn",
    "ms",
    "mtext",
    "annotation-xml",
];

/// Start tags the streaming engine does not follow: table captions,
/// templates, frames, ruby text,
/// and elements the tree renames, ignores or treats as scope markers.
const NEVER: &[&str] = &[
    "applet", "caption", "frame", "frameset", "image", "isindex", "keygen", "marquee", "menuitem",
    "object", "rb", "rp", "rt", "rtc", "template",
];

/// Elements the tree keeps in `<head>`.
const HEAD: &[&str] = &[
    "base", "basefont", "bgsound", "link", "meta", "noframes", "noscript", "script", "style",
    "template", "title",
];

/// Start tags that close an open `<p>` in button scope.
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "dd",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "hr",
    "li",
    "listing",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "plaintext",
    "pre",
    "search",
    "section",
    "summary",
    "table",
    "ul",
    "xmp",
];

/// The standard's special elements (scope boundaries for list items).
const SPECIAL: &[&str] = &[
    "address",
    "applet",
    "area",
    "article",
    "aside",
    "base",
    "basefont",
    "bgsound",
    "blockquote",
    "body",
    "br",
    "button",
    "caption",
    "center",
    "col",
    "colgroup",
    "dd",
    "details",
    "dir",
    "div",
    "dl",
    "dt",
    "embed",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "frame",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hgroup",
    "hr",
    "html",
    "iframe",
    "img",
    "input",
    "keygen",
    "li",
    "link",
    "listing",
    "main",
    "marquee",
    "menu",
    "meta",
    "nav",
    "noembed",
    "noframes",
    "noscript",
    "object",
    "ol",
    "p",
    "param",
    "plaintext",
    "pre",
    "script",
    "search",
    "section",
    "select",
    "source",
    "style",
    "summary",
    "table",
    "tbody",
    "td",
    "template",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "track",
    "ul",
    "wbr",
    "xmp",
];

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn names_the_rules_know_are_kept_as_theirs() {
        assert_eq!(kind_of("li").0, "li");
        assert_eq!(kind_of("my-el"), ("", 0));
        assert!(kind_of("br").1 & VOID != 0 && kind_of("div").1 & VOID == 0);
        assert!(matches!(
            text_state(kind_of("title").1),
            Some(State::RcData)
        ));
    }

    /// Pieces of text with every byte html5gum searches for, short and long runs.
    fn pieces() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                "[a-zA-Z é]{0,20}",
                "[<&\"'=/> \t\n\r\x00\x0c-]",
                "[a-z]{1,3}",
                "x{1000,1100}",
                "(&lt;|&LT|&amp|&notin;|&ltrif;|<!--|-->|]]>)",
            ],
            0..24,
        )
        .prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn the_input_reads_as_html5gums_own_reader(
            text in pieces(),
            needle in proptest::sample::subsequence(
                b"<&\"'=/> \t\n\r\x00\x0c-xa".to_vec(),
                1..10,
            ),
            tries in proptest::collection::vec(("(lt;|lt|LT|x|ltrif;|)", any::<bool>()), 0..4),
        ) {
            use html5gum::{Readable, Reader};
            let mut ours = Input(text.as_bytes());
            let mut theirs = text.as_str().to_reader();
            let (mut a, mut b) = ([0u8; 4], [0u8; 4]);
            loop {
                for (s, case_sensitive) in &tries {
                    prop_assert_eq!(
                        ours.try_read_string(s.as_bytes(), *case_sensitive).ok(),
                        theirs.try_read_string(s.as_bytes(), *case_sensitive).ok()
                    );
                }
                let x = ours.read_until(&needle, &mut a).ok().flatten().map(<[u8]>::to_vec);
                let y = theirs.read_until(&needle, &mut b).ok().flatten().map(<[u8]>::to_vec);
                prop_assert_eq!(&x, &y);
                if x.is_none() {
                    break;
                }
            }
        }
    }

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
