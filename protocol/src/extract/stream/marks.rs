//! Where the open elements the rules ask about are on the stack.

use super::names::{
    MARK_A, MARK_BUTTON, MARK_DD_SCOPE, MARK_FORM, MARK_HEAD, MARK_LI_SCOPE, MARK_NOBR,
    MARK_P_SCOPE, MARK_SELECT, MARK_TABLE, MARKS,
};
use super::walk::Open;

/// Indices into the stack of open elements, innermost last.
#[derive(Debug, Default)]
pub(super) struct Mark(pub(super) Vec<usize>);

impl Mark {
    /// The name of the innermost element this mark keeps.
    pub(super) fn last<'a>(&self, open: &'a [Open]) -> Option<&'a str> {
        self.0
            .last()
            .and_then(|&i| open.get(i))
            .map(|open| &*open.name)
    }
}

/// The open elements the rules ask about, each kept as it opens and closes,
/// so no rule walks the stack (200,000 nested `<div>`s cost no more than
/// 200,000 siblings). Which marks keep an element is in its kind ([`super::names::kind_of`]).
#[derive(Debug, Default)]
pub(super) struct Marks {
    pub(super) head: Mark,
    pub(super) select: Mark,
    pub(super) nobr: Mark,
    pub(super) button: Mark,
    pub(super) form: Mark,
    /// Open `<a>`s the tree has open too (not ghosts).
    pub(super) a: Mark,
    /// Table parts: the innermost is the table context.
    pub(super) table: Mark,
    /// `<p>`s and what ends button scope.
    pub(super) p_scope: Mark,
    /// `<li>`s and the special elements that end the search for one.
    pub(super) li_scope: Mark,
    /// `<dd>`/`<dt>`s and the special elements that end the search for one.
    pub(super) dd_scope: Mark,
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
    pub(super) fn push(&mut self, i: usize, kind: u32) {
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
    pub(super) fn pop(&mut self, i: usize, kind: u32) {
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
