//! Page text made safe for a terminal: titles, tags, URLs, reasons and
//! message bodies come from strangers, and a control character (an ANSI
//! escape, a carriage return, a bidirectional override) printed raw can
//! recolour, rewrite or reorder what the user sees. Every human output runs
//! its foreign text through [`printable`]; JSON output needs nothing (JSON
//! escapes control characters itself).

use std::borrow::Cow;

/// `text` with every control character (C0, DEL, C1) and every Unicode
/// bidirectional control escaped as `\u{..}`; other text as it is.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// An HTTP status for logs and text: the number, or `none` when no response came.
pub fn status(status: Option<u16>) -> String {
    status.map_or_else(|| "none".to_owned(), |s| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(printable("plain café ✓"), "plain café ✓");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        assert_eq!(printable("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(printable("a\r\nb\tc\u{7f}"), "a\\u{d}\\u{a}b\\u{9}c\\u{7f}");
        assert_eq!(printable("x\u{9b}31m"), "x\\u{9b}31m");
        assert_eq!(printable("abc\u{202e}txt.exe"), "abc\\u{202e}txt.exe");
        assert_eq!(printable("\0"), "\\u{0}");
    }
}
