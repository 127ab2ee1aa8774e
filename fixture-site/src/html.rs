//! Rendering the site's pages as Stack-Overflow-like HTML: the markup real
//! pages use for titles, tags (2015 and 2025 styles) and links in every form,
//! with the traps real pages hold (links to other hosts and users, answer
//! fragments, queries, elements that look like tags but are not).

use std::fmt::Write as _;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use crate::model::{LinkForm, Markup, Question, Site, Target};

const PARAGRAPHS: &[&str] = &[
    "I have been trying to get this to work for a while now, and the documentation does not say what happens when the input is empty. The closest thing I found was an answer from 2014 that no longer applies.",
    "This happens because the iterator is consumed the first time you loop over it. Collect it into a list first, or create a new one for each pass; both are cheap compared to the network calls.",
    "You can avoid the copy entirely: pass a reference and let the caller decide when to clone. The borrow checker will complain if the lifetimes do not line up, which is what you want here.",
    "Note that this is not thread-safe. If several workers share the connection you need a pool, or one connection per task, otherwise replies will be read by the wrong caller.",
    "The regex works for simple cases, but HTML is not a regular language: nested elements, comments and attributes containing > will break it. Use a real parser such as html5ever or BeautifulSoup.",
    "Setting the timeout on the client rather than on each request fixed it for me. The default is no timeout at all, so a single slow server can stall the whole crawl.",
];

const CODE: &str = "for url in urls:\n    page = download(url)\n    if page is not None and len(page) > 0 and '<html' in page:\n        results.append(scrape(page))\n";

/// The 404 page.
pub fn not_found() -> String {
    "<!DOCTYPE html><html><head><title>Page not found - Stack Overflow</title></head>\
     <body><h1>Page not found</h1><p>This question was removed.</p><a href=\"/questions\">Questions</a></body></html>"
        .to_owned()
}

/// Question page `i`, with absolute links under `base` (`http://127.0.0.1:PORT`).
pub fn question(site: &Site, i: usize, base: &str) -> String {
    let q = &site.questions[i];
    if q.size <= TINY {
        return tiny_question(site, i, base);
    }
    let path = site.question_path(i);
    let mut out = String::with_capacity(q.size + 4096);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html itemscope itemtype=\"https://schema.org/QAPage\" class=\"html__responsive\">\n<head>\n\
         <title>{} - {} - Stack Overflow</title>\n<link rel=\"canonical\" href=\"{base}{path}\">\n\
         <meta name=\"twitter:title\" content=\"{}\">\n<script>StackExchange.init({{\"locale\":\"en\",\"routeName\":\"Questions/Show\"}});</script>\n</head>\n",
        text(q.tags[0]),
        text(&q.title),
        attr(&q.title),
    );
    let _ = write!(
        out,
        "<body class=\"question-page\">\n<header class=\"s-topbar\"><a href=\"/\" class=\"s-topbar--logo\">Stack Overflow</a> \
         <a href=\"/questions\">Questions</a> <a href=\"/questions/ask\">Ask Question</a> \
         <a href=\"https://stackoverflow.co/\">About</a> <a href=\"javascript:void(0)\" class=\"js-menu\">Menu</a></header>\n\
         <div id=\"question-header\"><h1 itemprop=\"name\"><a href=\"{path}\" class=\"question-hyperlink\">{}</a></h1></div>\n\
         <div id=\"question\" class=\"question\" data-questionid=\"{}\">\n<div class=\"s-prose js-post-body\" itemprop=\"text\">\n",
        text(&q.title),
        q.id
    );
    let (inline, sidebar) = q.links.split_at(q.links.len() / 2);
    for (k, (target, form)) in inline.iter().enumerate() {
        let _ = writeln!(
            out,
            "<p>{} See also <a href=\"{}\">this question</a>.</p>",
            PARAGRAPHS[k % PARAGRAPHS.len()],
            attr(&href(site, *target, *form, base, q.id + k as u64))
        );
    }
    let _ = writeln!(out, "<pre><code>{}</code></pre>\n</div>", text(CODE));
    tag_block(&mut out, q);
    let _ = write!(
        out,
        "<div class=\"post-signature\"><a href=\"/users/{}/asker\">asker</a> <span class=\"post-tag\">not-a-link-tag</span> \
         <a href=\"#comment-{}\">comment</a> <a class=\"post-tag-count\" href=\"/questions/tagged/{}\">×</a></div>\n</div>\n",
        q.id % 9973,
        q.id,
        q.tags[0]
    );
    out.push_str("<div id=\"sidebar\"><div class=\"module sidebar-linked\"><h4>Linked</h4>\n");
    for (k, (target, form)) in sidebar.iter().enumerate() {
        let _ = writeln!(
            out,
            "<div class=\"spacer\"><a href=\"{}\" class=\"question-hyperlink\">Linked question {k}</a></div>",
            attr(&href(site, *target, *form, base, q.id + 100 + k as u64))
        );
    }
    out.push_str("</div>\n<div class=\"module\"><h4>Question tags</h4>");
    tag_block(&mut out, q);
    // The same page under another host name: a different host, not followed.
    let other_host = if base.contains("://localhost") {
        base.replacen("localhost", "127.0.0.1", 1)
    } else {
        match base.rsplit_once(':') {
            Some((_, port)) if !port.contains('/') => format!("http://localhost:{port}"),
            _ => "http://localhost".to_owned(),
        }
    };
    let _ = write!(
        out,
        "</div>\n<div id=\"hot-network-questions\" class=\"module\"><h4>Hot Network Questions</h4><ul>\
         <li><a href=\"https://meta.stackexchange.com/questions/{0}/why-was-this-closed\">Why was this closed?</a></li>\
         <li><a href=\"https://superuser.com/questions/{0}/windows-path\">Windows path</a></li>\
         <li><a href=\"{other_host}{path}\">Same page, other host name</a></li>\
         <li><a href=\"https://stackoverflow.com/questions/{0}/elsewhere\">On the real site</a></li></ul></div></div>\n<div id=\"answers\">\n",
        q.id
    );
    let mut n = 0u64;
    while out.len() + 400 < q.size {
        let answer_id = q.id * 10 + n;
        let _ = writeln!(
            out,
            "<div id=\"answer-{answer_id}\" class=\"answer js-answer\" data-answerid=\"{answer_id}\"><div class=\"s-prose js-post-body\">"
        );
        for k in 0..6 {
            let _ = writeln!(
                out,
                "<p>{}</p>",
                PARAGRAPHS[(n as usize + k) % PARAGRAPHS.len()]
            );
        }
        let _ = write!(
            out,
            "<pre><code>{}</code></pre></div>\n<a href=\"/a/{answer_id}\" class=\"js-share-link\">Share</a> \
             <a href=\"/users/{}/answerer\">answerer</a> <a href=\"mailto:someone@example.com\">mail</a></div>\n",
            text(CODE),
            answer_id % 7919
        );
        n += 1;
    }
    out.push_str("</div>\n<footer><a href=\"/help\">Help</a> <a href=\"/legal/privacy-policy\">Privacy</a></footer>\n</body>\n</html>\n");
    out
}

/// Pages at most this big are rendered bare: title, tags and links only.
const TINY: usize = 2048;

/// A bare question page (about 1 KB): to measure per-task overhead, not parsing.
fn tiny_question(site: &Site, i: usize, base: &str) -> String {
    let q = &site.questions[i];
    let mut out = String::with_capacity(1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html><head><title>{} - {} - Stack Overflow</title></head><body>",
        text(q.tags[0]),
        text(&q.title)
    );
    tag_block(&mut out, q);
    for (k, (target, form)) in q.links.iter().enumerate() {
        let _ = write!(
            out,
            "<a href=\"{}\">q</a>",
            attr(&href(site, *target, *form, base, q.id + k as u64))
        );
    }
    out.push_str("</body></html>");
    out
}

/// The listing page of `tag`.
pub fn listing(site: &Site, tag: &str) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><title>Newest &#39;{}&#39; Questions - Stack Overflow</title></head>\n\
         <body><h1>Questions tagged [{}]</h1>\n<div id=\"questions\">\n",
        text(tag),
        text(tag)
    );
    for i in site.listing(tag) {
        let q = &site.questions[i];
        let _ = writeln!(
            out,
            "<div class=\"s-post-summary js-post-summary\" data-post-id=\"{}\"><h3 class=\"s-post-summary--content-title\">\
             <a href=\"{}\" class=\"s-link\">{}</a></h3>",
            q.id,
            site.question_path(i),
            text(&q.title)
        );
        tag_block(&mut out, q);
        let _ = writeln!(
            out,
            "<a href=\"/users/{}/asker\">asker</a></div>",
            q.id % 9973
        );
    }
    out.push_str("</div>\n<div class=\"module js-gps-related-tags\"><h4>Related Tags</h4>\n");
    for related in crate::model::related_tags(tag) {
        let _ = writeln!(
            out,
            "<div><a href=\"/questions/tagged/{}\" class=\"post-tag\" rel=\"tag\">{}</a> <span class=\"item-multiplier-count\">× 42</span></div>",
            encode_tag(related),
            text(related)
        );
    }
    let _ = write!(
        out,
        "</div>\n<div class=\"s-pagination\"><a href=\"/questions/tagged/{}?tab=newest&amp;page=2\">2</a></div></body></html>\n",
        encode_tag(tag)
    );
    out
}

/// The question's tags, in its markup style.
fn tag_block(out: &mut String, q: &Question) {
    match q.markup {
        Markup::Classic => {
            out.push_str("<div class=\"post-taglist\">");
            for tag in &q.tags {
                let _ = write!(
                    out,
                    "<a href=\"/questions/tagged/{}\" class=\"post-tag\" title=\"show questions tagged &#39;{}&#39;\" rel=\"tag\">{}</a> ",
                    encode_tag(tag),
                    attr(tag),
                    text(tag)
                );
            }
            out.push_str("</div>\n");
        }
        Markup::Modern => {
            out.push_str("<ul class=\"ml0 list-ls-none js-post-tag-list-wrapper d-inline\">");
            for tag in &q.tags {
                let _ = write!(
                    out,
                    "<li class=\"d-inline mr4 js-post-tag-list-item\"><a href=\"/questions/tagged/{}\" class=\"s-tag post-tag\" \
                     aria-label=\"show questions tagged &#39;{}&#39;\" rel=\"tag\">{}</a></li>",
                    encode_tag(tag),
                    attr(tag),
                    text(tag)
                );
            }
            out.push_str("</ul>\n");
        }
    }
}

/// A followed link written in `form`; `salt` varies fragments.
fn href(site: &Site, target: Target, form: LinkForm, base: &str, salt: u64) -> String {
    let path = site.target_path(target);
    let host = base.trim_start_matches("http://");
    match form {
        LinkForm::Relative => path,
        LinkForm::Absolute => format!("{base}{path}"),
        LinkForm::Query => format!("{path}?noredirect=1"),
        LinkForm::Fragment => format!("{path}#answer-{salt}"),
        LinkForm::QueryFragment => format!("{path}?answertab=votes#tab-top"),
        LinkForm::ProtocolRelative => format!("//{host}{path}"),
        LinkForm::UpperScheme => format!("HTTP://{host}{path}"),
        LinkForm::DotDot => format!("..{}", path.trim_start_matches("/questions")),
    }
}

fn encode_tag(tag: &str) -> String {
    url::form_urlencoded::byte_serialize(tag.as_bytes()).collect()
}
