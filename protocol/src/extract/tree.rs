//! The reference engine: the page parsed into a tree as the HTML standard
//! says (html5ever, through scraper), with its parse work bounded.
//!
//! Some markup makes the standard's tree construction quadratic: each of
//! 100,000 `<div>`s nested under one unclosed `<a>` walks the whole stack of
//! open elements (43 s of CPU on a 500 KB page), as do 40,000 `<b id=N>` (96 s).
//! Those walks go through the tree sink (`elem_name`, `same_node`), so the
//! sink counts them, the page is fed in small pieces, and the parse stops with
//! [`TooComplex`] once the count passes [`MAX_PARSE_STEPS`]: a bound that is
//! the same on every machine, so one page always gets one answer. One walk
//! does not pass through the sink (each new formatting element is compared
//! with the whole list of active ones: 40,000 unclosed `<b id=N>` took 114 s),
//! so a parse also stops after [`PARSE_DEADLINE`] of its thread's CPU time
//! (not the wall clock: a loaded machine does not fail more pages), a last
//! resort that only such pages reach.

use std::borrow::Cow;
use std::cell::Cell;
use std::time::Duration;

use cpu_time::ThreadTime;

use ego_tree::iter::Edge;
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::tree_builder::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::{Attribute, QualName};
use scraper::{ElementRef, Html, HtmlTreeSink, Node};
use url::Url;

use super::page::{self, Links, Matched};
use super::{Extracted, Extractor};

/// Most steps tree construction may take walking its stacks and lists for
/// one page. An ordinary page takes well under a hundredth of it (a 200 KB
/// Stack Overflow question: about 150,000); the quadratic ones reach it
/// within about a second of CPU.
pub const MAX_PARSE_STEPS: u64 = 20_000_000;

/// Most CPU time a parse may take (its thread's), whatever its step count.
pub const PARSE_DEADLINE: Duration = Duration::from_millis(1500);

/// Bytes fed to the parser between two looks at its step count and clock.
const PIECE_BYTES: usize = 2048;

/// A page whose tree would take more than [`MAX_PARSE_STEPS`] to build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "page too complex to parse: its markup made the HTML parser {why} by {at} bytes \
     (nesting too deep or too many open formatting elements)"
)]
pub struct TooComplex {
    /// How far into the page the parse stopped, in bytes.
    pub at: usize,
    /// Which bound it met.
    pub why: &'static str,
}

/// Parses `html`, stopping once tree construction has taken [`MAX_PARSE_STEPS`].
pub(super) fn parse(html: &str) -> Result<Html, TooComplex> {
    let mut parser = html5ever::driver::parse_document(
        Counting {
            inner: HtmlTreeSink::new(Html::new_document()),
            steps: Cell::new(0),
        },
        Default::default(),
    );
    let started = ThreadTime::try_now().ok();
    let mut at = 0;
    while at < html.len() {
        let mut end = (at + PIECE_BYTES).min(html.len());
        while !html.is_char_boundary(end) {
            end += 1;
        }
        parser.process(StrTendril::from_slice(&html[at..end]));
        at = end;
        if parser.tokenizer.sink.sink.steps.get() > MAX_PARSE_STEPS {
            return Err(TooComplex {
                at,
                why: "take over 20,000,000 steps",
            });
        }
        if started.is_some_and(|started| started.elapsed() > PARSE_DEADLINE) {
            return Err(TooComplex {
                at,
                why: "run over 1.5 s of CPU",
            });
        }
    }
    Ok(parser.finish())
}

impl Extractor {
    /// The reference engine: parses `html` into a tree and walks it once, in
    /// document order.
    pub fn extract_tree(&self, html: &str, base: &Url) -> Result<Extracted, TooComplex> {
        let document = parse(html)?;
        let mut title = None;
        let mut matched = Matched::default();
        let mut open_matches = Vec::new();
        let mut links = Links::default();
        for edge in document.tree.root().traverse() {
            match edge {
                Edge::Open(node) => match node.value() {
                    Node::Text(text) => matched.text(text),
                    // HTML elements only, as `document.title` and `document.links`
                    // count them: a `<title>` or `<a>` inside SVG or MathML is another element.
                    Node::Element(element) if element.name.ns == html5ever::ns!(html) => {
                        let Some(element_ref) = ElementRef::wrap(node) else {
                            continue;
                        };
                        if title.is_none() && self.tree.title.matches(&element_ref) {
                            title = Some(page::title(&element_ref.text().collect::<String>()));
                        }
                        if self.tree.tags.matches(&element_ref) {
                            matched.open();
                            open_matches.push(node.id());
                        }
                        if let Some(href) = element.attr("href")
                            && self.tree.anchors.matches(&element_ref)
                            && let Some(url) = self.rule.follow(base, href)
                        {
                            links.add(url.into());
                        }
                    }
                    _ => {}
                },
                Edge::Close(node) => {
                    if open_matches.last() == Some(&node.id()) {
                        open_matches.pop();
                        matched.close();
                    }
                }
            }
        }
        Ok(Extracted {
            title: title.flatten(),
            tags: matched.tags.kept.into_iter().collect(),
            tags_dropped: matched.tags.dropped,
            links: links.kept.into_iter().collect(),
            links_dropped: links.dropped,
        })
    }
}

/// scraper's tree sink, counting the steps tree construction takes through it.
struct Counting {
    inner: HtmlTreeSink,
    steps: Cell<u64>,
}

impl Counting {
    fn step(&self) {
        self.steps.set(self.steps.get() + 1);
    }
}

impl TreeSink for Counting {
    type Handle = <HtmlTreeSink as TreeSink>::Handle;
    type Output = Html;
    type ElemName<'a> = <HtmlTreeSink as TreeSink>::ElemName<'a>;

    fn finish(self) -> Html {
        self.inner.finish()
    }
    fn parse_error(&self, msg: Cow<'static, str>) {
        self.inner.parse_error(msg);
    }
    fn get_document(&self) -> Self::Handle {
        self.inner.get_document()
    }
    fn elem_name<'a>(&'a self, target: &'a Self::Handle) -> Self::ElemName<'a> {
        self.step();
        self.inner.elem_name(target)
    }
    fn create_element(
        &self,
        name: QualName,
        attrs: Vec<Attribute>,
        flags: ElementFlags,
    ) -> Self::Handle {
        self.step();
        self.inner.create_element(name, attrs, flags)
    }
    fn create_comment(&self, text: StrTendril) -> Self::Handle {
        self.inner.create_comment(text)
    }
    fn create_pi(&self, target: StrTendril, data: StrTendril) -> Self::Handle {
        self.inner.create_pi(target, data)
    }
    fn append(&self, parent: &Self::Handle, child: NodeOrText<Self::Handle>) {
        self.inner.append(parent, child);
    }
    fn append_based_on_parent_node(
        &self,
        element: &Self::Handle,
        prev_element: &Self::Handle,
        child: NodeOrText<Self::Handle>,
    ) {
        self.inner
            .append_based_on_parent_node(element, prev_element, child);
    }
    fn append_doctype_to_document(
        &self,
        name: StrTendril,
        public_id: StrTendril,
        system_id: StrTendril,
    ) {
        self.inner
            .append_doctype_to_document(name, public_id, system_id);
    }
    fn mark_script_already_started(&self, node: &Self::Handle) {
        self.inner.mark_script_already_started(node);
    }
    fn pop(&self, node: &Self::Handle) {
        self.inner.pop(node);
    }
    fn get_template_contents(&self, target: &Self::Handle) -> Self::Handle {
        self.inner.get_template_contents(target)
    }
    fn same_node(&self, x: &Self::Handle, y: &Self::Handle) -> bool {
        self.step();
        self.inner.same_node(x, y)
    }
    fn set_quirks_mode(&self, mode: QuirksMode) {
        self.inner.set_quirks_mode(mode);
    }
    fn append_before_sibling(&self, sibling: &Self::Handle, new_node: NodeOrText<Self::Handle>) {
        self.inner.append_before_sibling(sibling, new_node);
    }
    fn add_attrs_if_missing(&self, target: &Self::Handle, attrs: Vec<Attribute>) {
        self.inner.add_attrs_if_missing(target, attrs);
    }
    fn associate_with_form(
        &self,
        target: &Self::Handle,
        form: &Self::Handle,
        nodes: (&Self::Handle, Option<&Self::Handle>),
    ) {
        self.inner.associate_with_form(target, form, nodes);
    }
    fn remove_from_parent(&self, target: &Self::Handle) {
        self.inner.remove_from_parent(target);
    }
    fn reparent_children(&self, node: &Self::Handle, new_parent: &Self::Handle) {
        self.step();
        self.inner.reparent_children(node, new_parent);
    }
    fn is_mathml_annotation_xml_integration_point(&self, handle: &Self::Handle) -> bool {
        self.inner
            .is_mathml_annotation_xml_integration_point(handle)
    }
    fn set_current_line(&self, line_number: u64) {
        self.inner.set_current_line(line_number);
    }
    fn allow_declarative_shadow_roots(&self, intended_parent: &Self::Handle) -> bool {
        self.inner.allow_declarative_shadow_roots(intended_parent)
    }
    fn attach_declarative_shadow(
        &self,
        location: &Self::Handle,
        template: &Self::Handle,
        attrs: &[Attribute],
    ) -> bool {
        self.inner
            .attach_declarative_shadow(location, template, attrs)
    }
    fn maybe_clone_an_option_into_selectedcontent(&self, option: &Self::Handle) {
        self.inner
            .maybe_clone_an_option_into_selectedcontent(option);
    }
}
