//! What the rules know of an element name: one table, one lookup.

use html5gum::State;

/// Elements the tree never holds open (its void elements).
pub(super) const VOIDS: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img",
    "input", "keygen", "link", "meta", "param", "source", "track", "wbr",
];

/// The tokenizer state after an HTML start tag of `kind`, where the tree switches it.
pub(super) fn text_state(kind: u32) -> Option<State> {
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
/// and the [`super::marks::Marks`] that keep it (`MARK_*`).
pub(super) const INSIDE: u32 = 1;
pub(super) const UNFOLLOWED: u32 = 1 << 1;
pub(super) const IN_HEAD: u32 = 1 << 2;
pub(super) const CLOSING_P: u32 = 1 << 3;
pub(super) const SPECIAL_KIND: u32 = 1 << 4;
pub(super) const BREAKS_OUT: u32 = 1 << 5;
pub(super) const INTEGRATION_POINT: u32 = 1 << 6;
pub(super) const HEADING: u32 = 1 << 7;
pub(super) const MARK_HEAD: u32 = 1 << 8;
pub(super) const MARK_SELECT: u32 = 1 << 9;
pub(super) const MARK_NOBR: u32 = 1 << 10;
pub(super) const MARK_BUTTON: u32 = 1 << 11;
pub(super) const MARK_FORM: u32 = 1 << 12;
pub(super) const MARK_A: u32 = 1 << 13;
pub(super) const MARK_TABLE: u32 = 1 << 14;
pub(super) const MARK_P_SCOPE: u32 = 1 << 15;
pub(super) const MARK_LI_SCOPE: u32 = 1 << 16;
pub(super) const MARK_DD_SCOPE: u32 = 1 << 17;
/// Void elements: never held open.
pub(super) const VOID: u32 = 1 << 18;
/// `<svg>` and `<math>`.
pub(super) const FOREIGN_ROOT: u32 = 1 << 19;
/// The tokenizer state after the start tag, in HTML content.
pub(super) const RCDATA: u32 = 1 << 20;
pub(super) const RAWTEXT: u32 = 1 << 21;
pub(super) const SCRIPT_DATA: u32 = 1 << 22;
pub(super) const PLAINTEXT: u32 = 1 << 23;
/// Table parts `check_table` places (outside a table, only these ask it).
pub(super) const TABLE_PART: u32 = 1 << 24;
/// `<html>`, `<head>`, `<body>`.
pub(super) const DOCUMENT: u32 = 1 << 25;
/// Elements an open one of their own kind changes: `li`, `dd`, `dt`, `a`,
/// `nobr`, `button`, `form`.
pub(super) const NESTS_SPECIALLY: u32 = 1 << 26;
/// Every mark's bit.
pub(super) const MARKS: u32 = MARK_HEAD
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
pub(super) fn kind_of(name: &str) -> (&'static str, u32) {
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
/// its name ([`super::walk::Open::name`]) only when [`kind_of`]'s table holds it.
pub(super) const NAMED: &[&str] = &[
    "a", "body", "button", "col", "colgroup", "dd", "dt", "form", "head", "html", "li", "listing",
    "math", "nobr", "optgroup", "option", "p", "pre", "script", "style", "svg", "table", "tbody",
    "td", "textarea", "tfoot", "th", "thead", "title", "tr",
];

/// What may start inside a matched element: inline markup the tree never
/// closes or moves on its own when it is properly nested.
pub(super) const INSIDE_MATCH: &[&str] = &[
    "abbr", "b", "bdi", "bdo", "br", "cite", "code", "data", "del", "dfn", "em", "i", "img", "ins",
    "kbd", "mark", "q", "s", "samp", "script", "small", "span", "strong", "style", "sub", "sup",
    "time", "u", "var", "wbr",
];

/// Start tags that end SVG or MathML content in the tree.
pub(super) const BREAKOUT: &[&str] = &[
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
pub(super) const INTEGRATION_POINTS: &[&str] = &[
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
pub(super) const NEVER: &[&str] = &[
    "applet", "caption", "frame", "frameset", "image", "isindex", "keygen", "marquee", "menuitem",
    "object", "rb", "rp", "rt", "rtc", "template",
];

/// Elements the tree keeps in `<head>`.
pub(super) const HEAD: &[&str] = &[
    "base", "basefont", "bgsound", "link", "meta", "noframes", "noscript", "script", "style",
    "template", "title",
];

/// Start tags that close an open `<p>` in button scope.
pub(super) const CLOSES_P: &[&str] = &[
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
pub(super) const SPECIAL: &[&str] = &[
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
    fn names_the_rules_know_are_kept_as_theirs() {
        assert_eq!(kind_of("li").0, "li");
        assert_eq!(kind_of("my-el"), ("", 0));
        assert!(kind_of("br").1 & VOID != 0 && kind_of("div").1 & VOID == 0);
        assert!(matches!(
            text_state(kind_of("title").1),
            Some(State::RcData)
        ));
    }
}
