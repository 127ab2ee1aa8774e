//! The simple stack of open elements and the rules that say where the
//! tree could part from it.

use std::borrow::Cow;

use html5gum::State;
use selectors::matching;
use url::Url;

use super::marks::Marks;
use super::names::*;
use super::tag::Tag;
use super::{MAX_DEPTH, MAX_END_TAG_SEARCH, MAX_RAW_TEXT, Reads, StreamSelectors, Sure, unsure};
use crate::extract::Extracted;
use crate::extract::page::{self, Links, Matched};
use crate::links::LinkRule;

/// An element the simple stack holds open.
#[derive(Debug)]
pub(super) struct Open {
    /// Its name: the rules' own copy when they know it ([`kind_of`]).
    pub(super) name: Cow<'static, str>,
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
pub(super) struct Walk {
    open: Vec<Open>,
    /// Open `<svg>`/`<math>` elements.
    pub(super) foreign: usize,
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
    pub(super) fn start(
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
    pub(super) fn end_tag(&mut self, name: &str) -> Sure<()> {
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
    pub(super) fn reads_text(&self) -> bool {
        self.matched.any_open() || matches!(self.title, Title::Reading(_))
    }

    /// A text run (decoded by the tokenizer) inside a match or the title.
    pub(super) fn text(&mut self, text: &str) -> Sure<()> {
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
    pub(super) fn finish(self) -> Sure<Extracted> {
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
