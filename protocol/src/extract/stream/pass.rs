//! html5gum's emitter: a page's tokens, gathered and handed to the walk.

use html5gum::{Emitter, State};
use selectors::matching;
use url::Url;

use super::walk::Walk;
use super::{MAX_RAW_TEXT, StreamSelectors, Sure, Unsure};
use crate::extract::Extracted;
use crate::links::LinkRule;

/// One pass over a page: html5gum's emitter, which gathers each token's
/// parts and hands whole tags and text runs to the [`Walk`]. Its one token
/// is the outcome, at the end or at the first place it is unsure.
pub(super) struct Pass<'a> {
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
    pub(super) fn new(selectors: &'a StreamSelectors, rule: &'a LinkRule, base: &'a Url) -> Self {
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
        if self.wanted == Some(true) {
            self.finish_attribute();
        }
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
        // Only raw text (after such a start tag) asks for the last one.
        if state.is_some() {
            self.last_start.clone_from(&self.name);
        }
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
        if self.wanted == Some(true) {
            self.finish_attribute();
        }
        let (end, name, reads) = (self.end, &self.name, &self.selectors.reads);
        self.wanted.get_or_insert_with(|| {
            !end && (name == b"a"
                || std::str::from_utf8(name).is_ok_and(|name| reads.may_match(name)))
        });
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
