//! What both engines build a page's answer with: the same bounded
//! collectors, fed in the same order (document order), give the same answer.
//!
//! A page is a stranger's, so every part of the answer is bounded, and the
//! work to compute it with it: links and tags per page, a tag's length, the
//! title's length. An element's text is gathered once for all the matched
//! elements it lies in, and an element stops gathering once it is too long
//! to be a tag, so nested matches cost no more than their bounded texts.

use std::collections::BTreeSet;

/// Most links kept from one page. A page is a stranger's: a 5 MB page of
/// 340,000 links would otherwise become 340,000 claims in one store call.
pub const MAX_LINKS_PER_PAGE: usize = 2000;

/// Most distinct tags kept from one page (each becomes a tally update).
pub const MAX_TAGS_PER_PAGE: usize = 500;

/// Longest text, in bytes before trimming, of an element that can be a tag;
/// a longer one is not a tag (counted in `tags_dropped`).
pub const MAX_TAG_BYTES: usize = 256;

/// Longest title kept, in bytes: a longer one is cut at a character boundary.
pub const MAX_TITLE_BYTES: usize = 512;

/// The first `CAP` distinct items of a page, in the order they come, and a
/// count of the rest.
#[derive(Debug, Default)]
pub(super) struct Capped<const CAP: usize> {
    pub(super) kept: BTreeSet<String>,
    pub(super) dropped: u64,
}

impl<const CAP: usize> Capped<CAP> {
    pub(super) fn add(&mut self, item: String) {
        if self.kept.len() < CAP || self.kept.contains(&item) {
            self.kept.insert(item);
        } else {
            self.dropped += 1;
        }
    }
}

/// A page's followed links: the first [`MAX_LINKS_PER_PAGE`] distinct ones
/// in document order, and a count of the rest.
pub(super) type Links = Capped<MAX_LINKS_PER_PAGE>;

/// A page's tags: the first [`MAX_TAGS_PER_PAGE`] distinct ones in the order
/// their elements end, and a count of matched elements not kept (too long, or
/// past the cap).
pub(super) type Tags = Capped<MAX_TAGS_PER_PAGE>;

/// The texts of the matched elements now open, outermost first.
///
/// Text reaches every open element (an element's text includes its
/// descendants'). An element whose text passes [`MAX_TAG_BYTES`] stops
/// gathering; outer elements hold all the text inner ones do, so those that
/// stopped are a prefix (`live` is where the rest begin) and each piece of text
/// goes only to elements still gathering: each gathers at most
/// [`MAX_TAG_BYTES`] bytes, whatever the nesting.
#[derive(Debug, Default)]
pub(super) struct Matched {
    open: Vec<Option<String>>,
    live: usize,
    pub(super) tags: Tags,
}

impl Matched {
    /// A matched element starts.
    pub(super) fn open(&mut self) {
        self.open.push(Some(String::new()));
    }

    /// Whether a matched element is open.
    pub(super) fn any_open(&self) -> bool {
        !self.open.is_empty()
    }

    /// Text (decoded, as the tree holds it) inside the open matched elements.
    pub(super) fn text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        for gathered in &mut self.open[self.live..] {
            match gathered {
                Some(so_far) if so_far.len() + text.len() <= MAX_TAG_BYTES => so_far.push_str(text),
                _ => *gathered = None,
            }
        }
        while self.open.get(self.live).is_some_and(Option::is_none) {
            self.live += 1;
        }
    }

    /// The innermost open matched element ends.
    pub(super) fn close(&mut self) {
        if let Some(text) = self.open.pop() {
            self.live = self.live.min(self.open.len());
            match text {
                // Longer than a tag can be.
                None => self.tags.dropped += 1,
                Some(text) => {
                    if let Some(tag) = nonempty(&text) {
                        self.tags.add(tag);
                    }
                }
            }
        }
    }
}

/// The title as kept: trimmed, cut to [`MAX_TITLE_BYTES`]; `None` when empty.
pub(super) fn title(text: &str) -> Option<String> {
    let text = text.trim();
    let mut end = text.len().min(MAX_TITLE_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    nonempty(&text[..end])
}

/// `text` trimmed, or `None` when nothing is left.
pub(super) fn nonempty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_matches_each_get_their_text_up_to_the_cap() {
        let mut matched = Matched::default();
        matched.open();
        matched.text(" x");
        matched.open();
        matched.text("y ");
        matched.close();
        matched.close();
        assert_eq!(Vec::from_iter(matched.tags.kept), ["xy", "y"]);
        // Deep nesting: every element gathers at most MAX_TAG_BYTES.
        let mut matched = Matched::default();
        for _ in 0..10_000 {
            matched.open();
            matched.text("z");
        }
        for _ in 0..10_000 {
            matched.close();
        }
        let longest = "z".repeat(MAX_TAG_BYTES);
        assert!(matched.tags.kept.contains(&longest));
        assert_eq!(matched.tags.kept.len(), MAX_TAG_BYTES);
        assert_eq!(matched.tags.dropped, 10_000 - MAX_TAG_BYTES as u64);
    }

    #[test]
    fn titles_are_trimmed_and_cut_on_a_character_boundary() {
        assert_eq!(title("  a b \n"), Some("a b".into()));
        assert_eq!(title(" \t "), None);
        let long = format!("  {}", "é".repeat(MAX_TITLE_BYTES));
        let cut = title(&long).unwrap();
        assert_eq!(cut.len(), MAX_TITLE_BYTES);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
