//! Property tests: one page, one answer. On generated pages of random markup
//! (nesting, entities, NULs, CRs, broken and misnested tags, the elements the
//! HTML standard treats specially) the streaming engine either answers as the
//! tree does or leaves the page to the tree; on generated well-formed pages it
//! answers itself. Neither engine panics on any of them.

use proptest::prelude::*;
use url::Url;

use super::tests::extractor_for as extractor;
use super::{Extracted, Extractor};
use crate::message::DEFAULT_TAG_SELECTOR;

/// Markup pieces, hostile ones among them.
const MARKUP: &[&str] = &[
    "<a class=post-tag>",
    "<a class=\"s-tag post-tag\" href=/questions/tagged/x>",
    "</a>",
    "<a href=/questions/1/a>",
    "<a href='/questions/2/b?x=1&amp;y=2'>",
    "<a href=\"&#47;questions/3\">",
    "<a href=/questions/4/&ampx>",
    "<a href=\"/questions/5\0/\r\nz\">",
    "<A CLASS=post-tag>",
    "<a class=Post-Tag>",
    "<a class=\"post&#45;tag\">",
    "<a class=post-tag/>",
    "<span class=post-tag>",
    "<span>",
    "</span>",
    "<b>",
    "</b>",
    "<i>",
    "</i>",
    "<p>",
    "</p>",
    "<div>",
    "</div>",
    "<ul>",
    "</ul>",
    "<li>",
    "</li>",
    "<dd>",
    "<dt>",
    "</dl>",
    "<h1>",
    "</h1>",
    "<h2>",
    "</h2>",
    "<table>",
    "<tr>",
    "<td>",
    "</td>",
    "</table>",
    "<title>",
    "</title>",
    "<svg>",
    "</svg>",
    "<svg><title>",
    "<foreignObject>",
    "<math>",
    "<mi>",
    "<script>",
    "</script>",
    "<style>",
    "</style>",
    "<textarea>",
    "</textarea>",
    "<pre>",
    "</pre>",
    "<select>",
    "</select>",
    "<option>",
    "<template>",
    "</template>",
    "<noscript>",
    "</noscript>",
    "<!-- c -->",
    "<!--",
    "-->",
    "<br>",
    "</br>",
    "<img>",
    "<form>",
    "</form>",
    "<button>",
    "</button>",
    "<html>",
    "<head>",
    "</head>",
    "<body>",
    "</body>",
    "</html>",
    "<!DOCTYPE html>",
    "<nobr>",
    "<plaintext>",
    "<xmp>",
    "<![CDATA[x]]>",
    "<",
    "</",
    ">",
    "<frameset>",
    "<object>",
    "<font color=red>",
    "<image>",
    "<code>",
    "</code>",
    "<em>",
    "</em>",
    "<strong>",
    "</strong>",
    "<blockquote>",
];

/// Text pieces: character references the standard decodes in odd ways, and raw controls.
const TEXT: &[&str] = &[
    "x",
    "py",
    "c#",
    " ",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "\0",
    "&amp;",
    "&amp",
    "&ampx",
    "&#0;",
    "&#x80;",
    "&#128;",
    "&nbsp",
    "&nGt;",
    "&notit;",
    "&#xD800;",
    "&#x110000;",
    "&lt;",
    "&",
    "&#",
    "&#x;",
    "é",
    "\u{a0}",
    "&#13;",
    "&#65",
    "&am",
    "p;",
    "&#0000000000065;",
    "=",
];

fn piece() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        3 => proptest::sample::select(MARKUP),
        2 => proptest::sample::select(TEXT),
    ]
}

fn soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(piece(), 0..48).prop_map(|pieces| pieces.concat())
}

/// Phrasing content without links: text, emphasis, code; properly nested.
fn phrasing() -> impl Strategy<Value = String> {
    let text = proptest::collection::vec(proptest::sample::select(TEXT), 1..4)
        .prop_map(|t| t.concat().replace(['\0', '<'], ""));
    text.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}{b}")),
            inner.clone().prop_map(|t| format!("<b>{t}</b>")),
            inner
                .clone()
                .prop_map(|t| format!("<span class=x>{t}</span>")),
            inner.prop_map(|t| format!("<code>{t}</code><br>")),
        ]
    })
}

/// Inline content: phrasing, tags and links (an `<a>` never inside another).
fn inline() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        phrasing(),
        phrasing()
            .prop_map(|t| format!("<a class=\"post-tag\" href=\"/questions/tagged/t\">{t}</a>")),
        (0..50u32, phrasing()).prop_map(|(n, t)| format!("<a href=\"/questions/{n}/q\">{t}</a>")),
        // Stack Overflow's own: a link directly inside a link.
        (0..50u32, phrasing()).prop_map(|(n, t)| {
            format!("<a href=\"/questions/{n}/r\">{t}<br><a href=\"/users/{n}\">{t}</a> </a>")
        }),
    ];
    proptest::collection::vec(piece, 1..4).prop_map(|pieces| pieces.concat())
}

/// A well-formed page: a head with a title, blocks of inline content.
fn page() -> impl Strategy<Value = String> {
    let block = prop_oneof![
        inline().prop_map(|t| format!("<div>{t}</div>")),
        inline().prop_map(|t| format!("<p>{t}</p>")),
        proptest::collection::vec(inline(), 1..4).prop_map(|items| {
            let items: String = items.iter().map(|i| format!("<li>{i}</li>")).collect();
            format!("<ul>{items}</ul>")
        }),
        inline().prop_map(|t| format!("<div class=post-taglist><div>{t}</div></div>")),
        Just("<svg viewBox=\"0 0 1 1\"><path d=\"M0\"/><title>icon</title></svg>".to_owned()),
        (inline(), inline()).prop_map(|(a, b)| format!(
            "<table><thead><tr><th>{a}</th></tr></thead><tbody><tr><td>{b}</td></tr></tbody></table>"
        )),
        inline().prop_map(|t| format!("<table><tr><td><p>{t}</p></td></tr></table>")),
        Just("<select><option value=1>one</option><option>two</option></select>".to_owned()),
        Just("<table><colgroup><col><col></colgroup><tr><td>c</td></tr></table>".to_owned()),
    ];
    (inline(), proptest::collection::vec(block, 0..6)).prop_map(|(title, blocks)| {
        let title = title.replace(['<', '>'], "");
        format!(
            "<!DOCTYPE html><html><head><title>{title}</title></head><body>{}</body></html>",
            blocks.concat()
        )
    })
}

fn engines(extractor: &Extractor, html: &str) -> (Option<Extracted>, Extracted) {
    let base = Url::parse("https://stackoverflow.com/questions/1/q").unwrap();
    let tree = extractor.extract_tree(html, &base).unwrap();
    (extractor.extract_stream(html, &base), tree)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn the_streaming_engine_answers_as_the_tree_or_not_at_all(html in soup()) {
        for selector in [DEFAULT_TAG_SELECTOR, "span.post-tag, a.post-tag"] {
            let (stream, tree) = engines(&extractor(selector), &html);
            if let Some(stream) = stream {
                prop_assert_eq!(stream, tree, "selector {}", selector);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn the_streaming_engine_reads_well_formed_pages_alone(html in page()) {
        let (stream, tree) = engines(&extractor(DEFAULT_TAG_SELECTOR), &html);
        prop_assert_eq!(stream, Some(tree));
    }
}
