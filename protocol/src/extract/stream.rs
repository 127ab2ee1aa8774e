//! The streaming engine: lol_html matches the selectors while tokenizing and
//! builds no tree (with the checks below, about two thirds of the cost of a
//! full parse; without them it was a third, and not always right).
//!
//! It answers only where it is sure to give the tree's answer, and says
//! "unsure" (`None`) otherwise, so the tree decides. Sure means: the tag
//! selector is a list of plain compounds (type, class, id, attributes: no
//! combinator or pseudo-class, whose match would depend on tree shape), and
//! lol_html's stack of open elements is the tree's all along. lol_html keeps
//! its stack simply (an end tag pops up to the nearest element of its name;
//! nothing closes implicitly), while the standard closes and reopens elements
//! by many rules. [`Walk`] mirrors lol_html's stack and stops at the first
//! place the rules could part the two:
//!
//! - an element closed by an end tag that is not its own;
//! - a start tag the standard treats specially here: one that closes an open
//!   `<p>`, list item, heading or `<a>` (but an `<a>` directly in an `<a>`);
//!   anything but table parts in a table outside its cells (the tree moves it
//!   out); in a `<select>`, anything but options; forms in forms,
//!   `<template>`, frames; markup in `<head>` that ends it; HTML inside SVG
//!   or MathML, and SVG or MathML before the first title;
//! - inside a matched element, anything but plain inline markup, or any
//!   token lol_html does not report (the reported ones must cover every byte:
//!   a stray `</h3>` in an `<h2>`, unseen by lol_html, closes both in the tree);
//! - a matched element, the first title or a link inside SVG or MathML;
//! - a class, id or attribute the tag selector reads holding a character
//!   reference, NUL or CR (the tree matches the decoded value, lol_html the raw);
//! - a text node too long to hold (64 KiB), elements nested deeper than
//!   1,024, or a matched element or title open at the end.
//!
//! Text is decoded as the tokenizer does: newlines normalised, character
//! references by the standard's rules (htmlize), NUL dropped from text and
//! replaced in RCDATA, raw text and attributes.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ops::Range;
use std::rc::Rc;

use lol_html::html_content::{Comment, Element, EndTag, TextChunk, TextType};
use lol_html::{ElementContentHandlers, HandlerResult, HtmlRewriter, Settings};
use url::Url;

use super::page::{self, Links, Matched};
use super::{Extracted, Extractor};

/// Deepest nesting the streaming engine follows: lol_html's end tag
/// handlers cost in proportion to the depth (200,000 nested `<div>`s took 28 s).
const MAX_DEPTH: usize = 1024;

/// Longest raw text node (or title) the streaming engine holds; past it the tree decides.
const MAX_RAW_TEXT: usize = 64 * 1024;

/// The compiled selectors of the streaming engine.
#[derive(Debug, Clone)]
pub(super) struct StreamSelectors {
    any: lol_html::Selector,
    title: lol_html::Selector,
    tags: lol_html::Selector,
    /// What the tag selector reads.
    reads: Reads,
}

/// What a tag selector of plain compounds reads: attributes, and element
/// names (`None` when a compound matches any name).
#[derive(Debug, Clone, Default)]
struct Reads {
    attributes: Vec<String>,
    names: Option<Vec<String>>,
}

impl StreamSelectors {
    /// The streaming selectors for `tag_selector`, when streaming can be exact for it.
    pub(super) fn new(tag_selector: &str) -> Option<Self> {
        let reads = compound_reads(tag_selector)?;
        Some(Self {
            any: "*".parse().ok()?,
            title: "title".parse().ok()?,
            tags: tag_selector.parse().ok()?,
            reads,
        })
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
        Pass {
            extractor: self,
            selectors,
            base,
            html,
            walk: Rc::default(),
        }
        .run()
    }
}

/// One streaming pass over a page: lol_html's handlers, each a thin call
/// into the shared [`Walk`] (lol_html's handlers are closures that must
/// share it, hence the `Rc<RefCell<..>>`).
struct Pass<'a> {
    extractor: &'a Extractor,
    selectors: &'a StreamSelectors,
    base: &'a Url,
    /// The page: element names are read from it, not copied out of lol_html.
    html: &'a str,
    walk: Rc<RefCell<Walk>>,
}

/// A selector and its handlers, as lol_html's settings take them.
type Handlers<'a> = (Cow<'a, lol_html::Selector>, ElementContentHandlers<'a>);

impl<'a> Pass<'a> {
    fn run(self) -> Result<Extracted, String> {
        let html = self.html;
        let settings = Settings {
            element_content_handlers: vec![self.every(), self.title(), self.tags()],
            strict: true,
            ..Settings::new()
        };
        let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
        rewriter
            .write(html.as_bytes())
            .and_then(|()| rewriter.end())
            .map_err(|e| e.to_string())?;
        let walk =
            Rc::try_unwrap(self.walk).map_err(|_| "handlers outlived the rewriter".to_owned())?;
        walk.into_inner()
            .finish(html)
            .map_err(|Unsure(why)| why.into())
    }

    /// Every element: the stack of open elements and the rules, with an
    /// end-tag handler for each element lol_html holds open; and `a[href]`,
    /// the links the crawl's rule follows.
    fn every(&self) -> Handlers<'a> {
        let walk = Rc::clone(&self.walk);
        let (reads, html) = (&self.selectors.reads, self.html);
        let (rule, base) = (&self.extractor.rule, self.base);
        let on_start = move |el: &mut Element| {
            let tag = el.source_location().bytes();
            let lowered;
            let name = match plain_name(html, &tag, "<") {
                Some(name) => name,
                None => {
                    lowered = el.tag_name();
                    &lowered
                }
            };
            let anchor = name == "a";
            let opened = walk.borrow_mut().start(el, name, &tag, reads)?;
            if let (Some(at), Some(handlers)) = (opened, el.end_tag_handlers()) {
                let walk = Rc::clone(&walk);
                handlers.push(Box::new(move |end: &mut EndTag| {
                    walk.borrow_mut().end(at, end.source_location().bytes())
                }));
            }
            if anchor && let Some(href) = el.get_attribute("href") {
                let mut walk = walk.borrow_mut();
                if walk.foreign > 0 {
                    return unsure("a link inside SVG or MathML");
                }
                if let Some(url) = rule.follow(base, &attribute(&href)) {
                    walk.links.add(url.into());
                }
            }
            Ok(())
        };
        (
            Cow::Borrowed(&self.selectors.any),
            ElementContentHandlers::default().element(on_start),
        )
    }

    /// The first `<title>` and its text.
    fn title(&self) -> Handlers<'a> {
        let walk = Rc::clone(&self.walk);
        let on_start = move |el: &mut Element| {
            if !walk.borrow_mut().title_starts()? {
                return Ok(());
            }
            let Some(handlers) = el.end_tag_handlers() else {
                return unsure("a title that cannot have content");
            };
            let walk = Rc::clone(&walk);
            handlers.push(Box::new(move |_: &mut EndTag| {
                walk.borrow_mut().title_ends()
            }));
            Ok(())
        };
        let walk = Rc::clone(&self.walk);
        let on_text = move |chunk: &mut TextChunk<'_>| walk.borrow_mut().title_text(chunk);
        (
            Cow::Borrowed(&self.selectors.title),
            ElementContentHandlers::default()
                .element(on_start)
                .text(on_text),
        )
    }

    /// Elements the tag selector matches: their text, and every token in them.
    fn tags(&self) -> Handlers<'a> {
        let walk = Rc::clone(&self.walk);
        let on_start = move |el: &mut Element| walk.borrow_mut().matched(position(el));
        let walk = Rc::clone(&self.walk);
        let on_text = move |chunk: &mut TextChunk<'_>| walk.borrow_mut().matched_text(chunk);
        let walk = Rc::clone(&self.walk);
        let on_comment = move |comment: &mut Comment<'_>| {
            walk.borrow_mut()
                .matched_comment(&comment.source_location().bytes())
        };
        (
            Cow::Borrowed(&self.selectors.tags),
            ElementContentHandlers::default()
                .element(on_start)
                .text(on_text)
                .comments(on_comment),
        )
    }
}

/// Where an element's start tag begins: its identity within one page.
fn position(el: &Element) -> usize {
    el.source_location().bytes().start
}

/// The streaming engine cannot be sure of the tree's answer.
#[derive(Debug)]
struct Unsure(&'static str);

impl std::fmt::Display for Unsure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the streaming engine cannot be sure of the tree's answer: {}",
            self.0
        )
    }
}

impl std::error::Error for Unsure {}

/// An element lol_html holds open.
#[derive(Debug)]
struct Open {
    /// Its name when the rules know it ([`kind_of`]), else "".
    name: &'static str,
    /// What the rules know of the name ([`kind_of`]).
    kind: u32,
    /// Where its start tag begins.
    at: usize,
    /// Where its start tag ends.
    tag_end: usize,
    /// It matched the tag selector.
    matched: bool,
    /// It is an `<svg>` or `<math>` opening foreign content.
    foreign_root: bool,
    /// An `<a>` the tree closed when another `<a>` started in it.
    ghost: bool,
}

/// The first title.
#[derive(Debug, Default)]
enum Title {
    #[default]
    Unseen,
    /// Its raw text so far.
    Reading(String),
    Read(Option<String>),
}

/// What the streaming engine has seen so far, and whether the tree could differ.
#[derive(Debug, Default)]
struct Walk {
    open: Vec<Open>,
    /// Each element's start and the span of the end tag that closed it, for
    /// [`Self::finish`] to check their names match (handlers at an end cannot
    /// borrow the page, so it is read once the pass is over).
    ends: Vec<(usize, Range<usize>)>,
    /// A tag-selector match reported before its element's start (handler order).
    pending_match: Option<usize>,
    /// Open `<svg>`/`<math>` elements.
    foreign: usize,
    /// Where the open elements the rules ask about are.
    marks: Marks,
    /// While matched elements are open: where the last token reported in them ends.
    covered: Option<usize>,
    seen_element: bool,
    seen_head: bool,
    seen_body_content: bool,
    seen_body: bool,
    matched: Matched,
    /// The raw text node being read inside matched elements.
    raw: String,
    title: Title,
    links: Links,
}

type Sure<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn unsure<T>(why: &'static str) -> Sure<T> {
    Err(Unsure(why).into())
}

impl Walk {
    /// An element `name` starts, its tag spanning `tag`: `Some(position)` when
    /// lol_html holds it open (its end is to be reported to [`Self::end`]).
    fn start(
        &mut self,
        el: &mut Element,
        name: &str,
        tag: &Range<usize>,
        reads: &Reads,
    ) -> Sure<Option<usize>> {
        if reads.may_match(name) {
            for attribute in &reads.attributes {
                if el
                    .get_attribute(attribute)
                    .is_some_and(|value| value.contains(['&', '\0', '\r']))
                {
                    return unsure(
                        "a value the tag selector reads holds a character reference, NUL or CR",
                    );
                }
            }
        }
        let (name, kind) = kind_of(name);
        self.check(name, kind, reads)?;
        self.cover(tag)?;
        if !el.can_have_content() || el.end_tag_handlers().is_none() {
            return Ok(None);
        }
        let at = tag.start;
        if self.open.len() >= MAX_DEPTH {
            return unsure("elements nested deeper than 1,024");
        }
        let foreign_root = self.foreign == 0 && matches!(name, "svg" | "math");
        // lol_html's reading of SVG and MathML can lose elements after them
        // (a later `<title>`): the first title must come before any.
        if foreign_root && matches!(self.title, Title::Unseen) {
            return unsure("SVG or MathML before the first title");
        }
        self.foreign += usize::from(foreign_root);
        self.marks.push(self.open.len(), kind);
        self.open.push(Open {
            name,
            kind,
            at,
            tag_end: tag.end,
            matched: false,
            foreign_root,
            ghost: false,
        });
        if self.pending_match.take() == Some(at) {
            self.open_match()?;
        }
        Ok(Some(at))
    }

    /// Whether the tree treats a start tag `name` here as lol_html does.
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
        self.check_table(name)?;
        self.check_select(name)?;
        match name {
            "html" if first => return Ok(()),
            "head" if !self.seen_head && !self.seen_body_content => {
                self.seen_head = true;
                return Ok(());
            }
            "body" if !self.seen_body => {
                self.seen_body = true;
                return Ok(());
            }
            "html" | "head" | "body" => {
                return unsure("a second <html>, <head> or <body>, or one out of place");
            }
            _ if kind & UNFOLLOWED != 0 => {
                return unsure(
                    "an element whose tree construction is not followed (template, frames, ruby)",
                );
            }
            _ if kind & IN_HEAD != 0 => {}
            _ if in_head => return unsure("an element that ends <head> implicitly"),
            _ => self.seen_body_content = true,
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
        // The tree's selectors match SVG and MathML elements by name, lol_html's do not.
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
        let top = self.open.last().map_or("", |open| open.name);
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
        let top = self.open.last().map_or("", |open| open.name);
        match name {
            "option" if top != "option" => Ok(()),
            "optgroup" if !matches!(top, "option" | "optgroup") => Ok(()),
            "script" => Ok(()),
            _ => unsure("markup the tree drops or closes inside a <select>"),
        }
    }

    /// An `<a>` inside an open `<a>`: the tree closes the open one first. When
    /// it is the innermost element and not a match, that is all the tree does
    /// (lol_html keeps it open, as a ghost, till its own `</a>`, which the
    /// tree ignores); otherwise the tree rebuilds what lies between.
    fn a_in_a(&mut self) -> Sure<()> {
        let Some(&i) = self.marks.a.0.last() else {
            return Ok(());
        };
        if i + 1 != self.open.len() || self.open[i].matched {
            return unsure("an <a> inside another <a> with markup between, or inside a match");
        }
        self.open[i].ghost = true;
        self.marks.a.0.pop();
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

    /// The tag selector matched the element starting at `at`.
    fn matched(&mut self, at: usize) -> HandlerResult {
        match self.open.last() {
            Some(open) if open.at == at => self.open_match(),
            // Not held open (void), or reported before its start.
            _ => {
                self.pending_match = Some(at);
                Ok(())
            }
        }
    }

    /// The innermost open element matched: its text is gathered from here.
    fn open_match(&mut self) -> HandlerResult {
        let Some(open) = self.open.last_mut() else {
            return unsure("a match with no open element");
        };
        // Foreign content, and the elements whose first newline the tree
        // drops, are not followed.
        if self.foreign > 0 {
            return unsure("a matched element inside SVG or MathML");
        }
        if matches!(open.name, "pre" | "listing" | "textarea") {
            return unsure("a matched element whose first newline the tree drops");
        }
        open.matched = true;
        if !self.matched.any_open() {
            self.covered = Some(open.tag_end);
        }
        self.matched.open();
        Ok(())
    }

    /// The element starting at `at` ended, by the end tag `end_name`.
    fn end(&mut self, at: usize, tag: Range<usize>) -> HandlerResult {
        let Some(open) = self.open.pop() else {
            return unsure("an end with no open element");
        };
        self.marks.pop(self.open.len(), open.kind);
        if open.at != at {
            return unsure("an element closed by an end tag not its own");
        }
        self.cover(&tag)?;
        self.ends.push((at, tag));
        self.foreign -= usize::from(open.foreign_root);
        if open.matched {
            if !self.raw.is_empty() {
                return unsure("a text node unfinished at a matched element's end");
            }
            self.matched.close();
            if !self.matched.any_open() {
                self.covered = None;
            }
        }
        Ok(())
    }

    /// A token inside matched elements spans `bytes`: the tokens lol_html
    /// reports there must cover every byte, so none it keeps silent about (a
    /// stray end tag, which the tree may act on) lies inside a match.
    fn cover(&mut self, bytes: &Range<usize>) -> HandlerResult {
        match self.covered {
            Some(to) if bytes.start != to => unsure("markup inside a matched element not reported"),
            Some(_) => {
                self.covered = Some(bytes.end);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// A comment inside a matched element.
    fn matched_comment(&mut self, bytes: &Range<usize>) -> HandlerResult {
        self.cover(bytes)
    }

    /// Text inside a matched element.
    fn matched_text(&mut self, chunk: &TextChunk<'_>) -> HandlerResult {
        self.cover(&chunk.source_location().bytes())?;
        self.raw.push_str(chunk.as_str());
        if self.raw.len() > MAX_RAW_TEXT {
            return unsure("a text node longer than 64 KiB inside a matched element");
        }
        if chunk.last_in_text_node() {
            let text = text(&self.raw, chunk.text_type());
            self.matched.text(&text);
            self.raw.clear();
        }
        Ok(())
    }

    /// A `<title>` starts: whether it is the first, whose text is read.
    fn title_starts(&mut self) -> Sure<bool> {
        if !matches!(self.title, Title::Unseen) {
            return Ok(false);
        }
        if self.foreign > 0 {
            return unsure("a first title inside SVG or MathML");
        }
        self.title = Title::Reading(String::new());
        Ok(true)
    }

    fn title_text(&mut self, chunk: &TextChunk<'_>) -> HandlerResult {
        if let Title::Reading(raw) = &mut self.title {
            raw.push_str(chunk.as_str());
            if raw.len() > MAX_RAW_TEXT || chunk.text_type() != TextType::RCData {
                return unsure("a title longer than 64 KiB, or not plain RCDATA");
            }
        }
        Ok(())
    }

    fn title_ends(&mut self) -> HandlerResult {
        if let Title::Reading(raw) = &self.title {
            self.title = Title::Read(page::title(&text(raw, TextType::RCData)));
        }
        Ok(())
    }

    /// The answer, when every element that matters was closed, each by an
    /// end tag of its own name (in `html`).
    fn finish(self, html: &str) -> Result<Extracted, Unsure> {
        if self.matched.any_open() || matches!(self.title, Title::Reading(_)) {
            return Err(Unsure("an element that matters was open at the end"));
        }
        let own = |(at, end): &(usize, Range<usize>)| {
            let start = raw_name(html, *at, "<");
            start.is_some()
                && start
                    .zip(raw_name(html, end.start, "</"))
                    .is_some_and(|(s, e)| s.eq_ignore_ascii_case(e))
        };
        if !self.ends.iter().all(own) {
            return Err(Unsure("an element closed by an end tag not its own"));
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
            .map(|open| open.name)
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

/// Newlines as the tokenizer's input stream has them: CR LF and lone CR become LF.
fn newlines(raw: &str) -> Cow<'_, str> {
    if raw.contains('\r') {
        Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(raw)
    }
}

/// A text node's characters as the tree holds them.
fn text(raw: &str, kind: TextType) -> String {
    let raw = newlines(raw);
    match kind {
        // Character references decoded; a NUL in body text is dropped.
        TextType::Data => without_nul(htmlize::unescape(raw), ""),
        TextType::RCData => without_nul(htmlize::unescape(raw), "\u{FFFD}"),
        _ => without_nul(raw, "\u{FFFD}"),
    }
}

/// An attribute value as the tree holds it.
fn attribute(raw: &str) -> String {
    without_nul(
        htmlize::unescape_in(newlines(raw), htmlize::Context::Attribute),
        "\u{FFFD}",
    )
}

/// `text` with each NUL replaced by `with`, copied only when it holds one.
fn without_nul(text: Cow<'_, str>, with: &str) -> String {
    if text.contains('\0') {
        text.replace('\0', with)
    } else {
        text.into_owned()
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

/// The name of the tag at `at`, after its `opener` (`<` or `</`), as the
/// source spells it: up to whitespace, `/` or `>`, where the tokenizer ends
/// a tag name.
fn raw_name<'h>(html: &'h str, at: usize, opener: &str) -> Option<&'h str> {
    let source = html.get(at..)?.strip_prefix(opener)?;
    let end = source
        .bytes()
        .position(|b| matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ' | b'/' | b'>'))
        .unwrap_or(source.len());
    source.get(..end)
}

/// The name of the tag spanning `tag`, read in place: `Some` when it is
/// plain lowercase ASCII (letters, digits, `-`), which is then the name the
/// tokenizer gives; `None` for any other, which lol_html's own (allocating,
/// lowercasing) reading gives.
fn plain_name<'h>(html: &'h str, tag: &Range<usize>, opener: &str) -> Option<&'h str> {
    raw_name(html, tag.start, opener).filter(|name| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
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
    use super::*;

    #[test]
    fn names_are_read_where_the_tokenizer_ends_them() {
        let html = "<DIV class=x><my-el/></My-El\n>";
        assert_eq!(raw_name(html, 0, "<"), Some("DIV"));
        assert_eq!(plain_name(html, &(0..13), "<"), None);
        assert_eq!(plain_name(html, &(13..21), "<"), Some("my-el"));
        assert_eq!(raw_name(html, 21, "</"), Some("My-El"));
        assert_eq!(raw_name(html, 21, "<"), Some(""));
        assert_eq!(raw_name(html, 5, "<"), None);
        assert_eq!(kind_of("li").0, "li");
        assert_eq!(kind_of("my-el"), ("", 0));
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
