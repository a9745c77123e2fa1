//! HTML from e-mail: sanitising for display (ammonia) and turning it into plain text.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// Tags whose whole content goes, not only the tag.
const DROP_WITH_CONTENT: &[&str] = &[
    "script", "style", "title", "iframe", "frame", "frameset", "object", "embed", "applet",
    "noscript", "noembed", "template", "svg", "math", "head",
];

/// CSS properties kept in `style` attributes: layout and colour only, none that takes a URL
/// (no `background`, `background-image`, `list-style`, `border-image`, `content`, `cursor`)
/// and none that can lay our page out over the console (`position`, `z-index`).
const STYLE_PROPERTIES: &[&str] = &[
    "color",
    "background-color",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "text-align",
    "text-decoration",
    "text-indent",
    "text-transform",
    "line-height",
    "letter-spacing",
    "white-space",
    "vertical-align",
    "width",
    "max-width",
    "min-width",
    "height",
    "margin",
    "margin-top",
    "margin-right",
    "margin-bottom",
    "margin-left",
    "padding",
    "padding-top",
    "padding-right",
    "padding-bottom",
    "padding-left",
    "border",
    "border-top",
    "border-right",
    "border-bottom",
    "border-left",
    "border-color",
    "border-style",
    "border-width",
    "border-collapse",
    "border-spacing",
    "border-radius",
];

/// Classes kept on `div`, `blockquote` and `span` (Gmail, Thunderbird, Apple Mail, Outlook).
const QUOTE_CLASSES: [&str; 7] = [
    "gmail_quote",
    "gmail_attr",
    "gmail_signature",
    "moz-cite-prefix",
    "moz-signature",
    "apple-mail-quote",
    "x_gmail_quote",
];

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.add_tags(["font"])
        .clean_content_tags(DROP_WITH_CONTENT.iter().copied().collect())
        .add_generic_attributes(["style", "dir"])
        .filter_style_properties(STYLE_PROPERTIES.iter().copied().collect())
        .add_tag_attributes("font", ["color", "face", "size"])
        .add_tag_attributes(
            "table",
            ["width", "border", "cellpadding", "cellspacing", "bgcolor"],
        )
        .add_tag_attributes("tr", ["align", "valign", "bgcolor"])
        .add_tag_attributes(
            "td",
            ["width", "align", "valign", "bgcolor", "colspan", "rowspan"],
        )
        .add_tag_attributes(
            "th",
            ["width", "align", "valign", "bgcolor", "colspan", "rowspan"],
        )
        .add_tag_attributes("div", ["align"])
        .add_tag_attributes("p", ["align"])
        // `cid:` keeps inline images (they are our own attachments); anything else that could
        // make the viewer fetch or run something is dropped.
        .url_schemes(HashSet::from(["http", "https", "mailto", "tel", "cid"]))
        // Classes mail clients put on quotes and signatures, so the console can fold them.
        .allowed_classes(HashMap::from([
            ("div", HashSet::from(QUOTE_CLASSES)),
            ("blockquote", HashSet::from(QUOTE_CLASSES)),
            ("span", HashSet::from(QUOTE_CLASSES)),
        ]))
        // A style that hides something from the property filter (CSS escapes, comments) or
        // reaches for old IE's expression() goes whole; the filter sees only plain CSS.
        .attribute_filter(|_element, attribute, value| {
            let suspicious = attribute == "style" && {
                let lower = value.to_ascii_lowercase();
                lower.contains('\\') || lower.contains("/*") || lower.contains("expression")
            };
            (!suspicious).then(|| value.into())
        })
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .set_tag_attribute_value("a", "target", "_blank");
    b
});

/// Sanitises an e-mail's HTML for display in the console.
///
/// No script, style sheets, frames, forms or event handlers survive; links open in a new tab
/// without a referrer; `style` attributes keep only harmless properties. Remote images are not
/// loaded: an `<img>` whose `src` is not a `cid:` reference gets it moved to `data-blocked-src`
/// (the console can offer "show images"), keeping `alt`. `cid:` images stay as they are.
///
/// Some HTML costs the HTML parser (html5ever) time that grows with the square of its size:
/// elements nested hundreds deep, or thousands of `&` references in one text or attribute
/// value. HTML shaped like that (over 256 open elements deep, over 10,000 `&`) or larger than
/// any real mail's (over 2 MiB) is not parsed: it is shown as its text in a `<pre>` instead.
pub fn sanitize_html(html: &str) -> String {
    if too_costly(html) {
        let text = mail_parser::decoders::html::html_to_text(html);
        return format!("<pre>{}</pre>", escape_text(text.trim()));
    }
    block_remote_images(SANITIZER.clean(html).to_string().trim())
}

/// Deeper than this, HTML is not parsed (see [`sanitize_html`]). Real mail nests tens deep.
const MAX_NESTING: usize = 256;
/// More `&` than this, HTML is not parsed: one run of 10,000 took the parser 1.6 s in a debug
/// build here, and real mail (`&nbsp;`, `&amp;` in links) has hundreds.
const MAX_AMPERSANDS: usize = 10_000;
/// Larger than this, HTML is not parsed: Gmail clips messages at about 100 KB, and the parser's
/// time grows with (nesting depth × size), so depth and size together bound it.
const MAX_HTML_BYTES: usize = 2 * 1024 * 1024;

fn too_costly(html: &str) -> bool {
    html.len() > MAX_HTML_BYTES
        || html.bytes().filter(|&b| b == b'&').count() > MAX_AMPERSANDS
        || nesting_estimate(html) > MAX_NESTING
}

/// Elements that never hold content or that the parser closes by itself: not counted by
/// [`nesting_estimate`], so sloppy HTML (`<p>` and `<li>` never closed) is not flagged.
const NOT_COUNTED: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "option",
    "optgroup", "colgroup", "rb", "rt", "rp",
];

/// How deep the parser's stack of open elements may get, read from the tags alone in linear
/// time: a start tag pushes its name, an end tag pops down to the nearest open element of its
/// name and is ignored when there is none (as the parser ignores it). Formatting elements
/// (`<b>`, `<font>`) count too: deep runs of them are as costly for the parser.
fn nesting_estimate(html: &str) -> usize {
    let mut stack: Vec<String> = Vec::new();
    let mut open: HashMap<String, usize> = HashMap::new();
    let mut max = 0usize;
    let bytes = html.as_bytes();
    let mut i = 0;
    while let Some(off) = bytes
        .get(i..)
        .and_then(|b| b.iter().position(|&c| c == b'<'))
    {
        i += off + 1;
        let closing = bytes.get(i) == Some(&b'/');
        let start = if closing { i + 1 } else { i };
        let len = bytes
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take(16)
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        if len == 0 {
            continue;
        }
        let name = html
            .get(start..start + len)
            .unwrap_or_default()
            .to_ascii_lowercase();
        if NOT_COUNTED.contains(&name.as_str()) {
            continue;
        }
        if !closing {
            *open.entry(name.clone()).or_default() += 1;
            stack.push(name);
            max = max.max(stack.len());
            if max > MAX_NESTING {
                break;
            }
        } else if open.get(&name).is_some_and(|&n| n > 0) {
            while let Some(top) = stack.pop() {
                if let Some(n) = open.get_mut(&top) {
                    *n -= 1;
                }
                if top == name {
                    break;
                }
            }
        }
    }
    max
}

fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Plain text from HTML: tags stripped, block structure kept as line breaks, list items as
/// `- `, `<blockquote>` as `> ` lines, and each link's URL after its text as `text <url>`.
pub fn html_to_text(html: &str) -> String {
    text_from_sanitized(&sanitize_html(html))
}

/// Moves the `src` of every `<img>` that is not `cid:` to `data-blocked-src`.
///
/// Works on ammonia's output, which html5ever serialises canonically: lower-case names, every
/// attribute value in double quotes with `"` escaped, and `<` escaped in text, so a `<` outside
/// quotes always starts a tag.
fn block_remote_images(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + 32);
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        rest = &rest[lt..];
        let tag_len = tag_length(rest);
        let tag = &rest[..tag_len];
        if is_tag_named(tag, "img") {
            out.push_str(&rewrite_img(tag));
        } else {
            out.push_str(tag);
        }
        rest = &rest[tag_len..];
    }
    out.push_str(rest);
    out
}

/// Length of the tag at the start of `s` (which starts with `<`), up to and including its `>`
/// outside quotes; the whole of `s` when it never closes.
fn tag_length(s: &str) -> usize {
    let mut in_quotes = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '>' if !in_quotes => return i + 1,
            _ => {}
        }
    }
    s.len()
}

fn is_tag_named(tag: &str, name: &str) -> bool {
    let Some(after) = tag.strip_prefix('<') else {
        return false;
    };
    after.len() >= name.len()
        && after.is_char_boundary(name.len())
        && after[..name.len()].eq_ignore_ascii_case(name)
        && after[name.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_whitespace() || c == '>' || c == '/')
}

/// The attributes of a canonical start tag: (name, raw value) pairs.
fn attributes(tag: &str) -> Vec<(&str, &str)> {
    let inner = tag
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim_end_matches('/');
    let mut attrs = Vec::new();
    // Skip the tag name.
    let mut rest = inner.trim_start_matches(|c: char| !c.is_whitespace());
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let name_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        rest = &rest[name_end..];
        if let Some(after_eq) = rest.strip_prefix('=') {
            if let Some(quoted) = after_eq.strip_prefix('"') {
                let end = quoted.find('"').unwrap_or(quoted.len());
                attrs.push((name, &quoted[..end]));
                rest = quoted.get(end + 1..).unwrap_or_default();
            } else {
                let end = after_eq.find(char::is_whitespace).unwrap_or(after_eq.len());
                attrs.push((name, &after_eq[..end]));
                rest = &after_eq[end..];
            }
        } else {
            attrs.push((name, ""));
        }
    }
    attrs
}

fn rewrite_img(tag: &str) -> String {
    let mut out = String::from("<img");
    for (name, value) in attributes(tag) {
        let blocked = name.eq_ignore_ascii_case("src")
            && !decode_entities(value)
                .trim_start()
                .get(..4)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("cid:"));
        out.push(' ');
        out.push_str(if blocked { "data-blocked-src" } else { name });
        out.push_str("=\"");
        out.push_str(value);
        out.push('"');
    }
    out.push('>');
    out
}

/// The entities html5ever's serialiser writes, plus numeric ones.
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // Entities are short: look for the ';' nearby only (linear time on "&&&&…").
        let entity_end = rest.bytes().take(12).position(|b| b == b';');
        let decoded = entity_end.and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

const BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "aside",
    "center",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "header",
    "hgroup",
    "nav",
    "section",
    "summary",
    "tr",
    "caption",
    "hr",
    "thead",
    "tbody",
];
const PARAGRAPH_TAGS: &[&str] = &[
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre",
];

/// Plain text from HTML that went through [`sanitize_html`] (see [`html_to_text`]).
pub(crate) fn text_from_sanitized(html: &str) -> String {
    let mut w = TextWriter::default();
    let mut rest = html;
    while !rest.is_empty() {
        match rest.find('<') {
            Some(0) => {
                let len = tag_length(rest);
                w.tag(&rest[..len]);
                rest = &rest[len..];
            }
            Some(lt) => {
                w.text(&decode_entities(&rest[..lt]));
                rest = &rest[lt..];
            }
            None => {
                w.text(&decode_entities(rest));
                rest = "";
            }
        }
    }
    w.finish()
}

#[derive(Default)]
struct TextWriter {
    out: String,
    /// Line breaks owed before the next content (2 = a blank line).
    pending_newlines: usize,
    /// The shallowest quote depth since the line breaks were owed: blank lines get its prefix.
    blank_depth: usize,
    pending_space: bool,
    at_line_start: bool,
    quote_depth: usize,
    pre_depth: usize,
    /// One entry per open list: `Some(next number)` for `<ol>`, `None` for `<ul>`.
    lists: Vec<Option<u32>>,
    /// Open links: (href, where the link text starts in `out`).
    links: Vec<(String, usize)>,
}

impl TextWriter {
    fn tag(&mut self, tag: &str) {
        let closing = tag.starts_with("</");
        let name: String = tag
            .trim_start_matches('<')
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        let name = name.as_str();
        match (name, closing) {
            ("br", _) if !self.out.is_empty() => {
                self.owe_newlines((self.pending_newlines + 1).min(2));
            }
            ("li", false) => {
                self.block(1);
                self.flush();
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let marker = format!("{n}. ");
                        *n += 1;
                        marker
                    }
                    _ => "- ".to_owned(),
                };
                self.out.push_str(&marker);
            }
            ("li", true) => self.block(1),
            ("ul", false) => {
                self.block(if self.lists.is_empty() { 2 } else { 1 });
                self.lists.push(None);
            }
            ("ol", false) => {
                self.block(if self.lists.is_empty() { 2 } else { 1 });
                self.lists.push(Some(1));
            }
            ("ul" | "ol", true) => {
                self.lists.pop();
                self.block(if self.lists.is_empty() { 2 } else { 1 });
            }
            ("blockquote", false) => {
                self.block(2);
                self.quote_depth += 1;
            }
            ("blockquote", true) => {
                self.block(2);
                self.quote_depth = self.quote_depth.saturating_sub(1);
            }
            ("pre", false) => {
                self.block(2);
                self.pre_depth += 1;
            }
            ("pre", true) => {
                self.pre_depth = self.pre_depth.saturating_sub(1);
                self.block(2);
            }
            ("td" | "th", false) if !self.at_line_start && !self.out.is_empty() => {
                self.pending_space = true;
            }
            ("a", false) => {
                let href = attributes(tag)
                    .into_iter()
                    .find(|(n, _)| *n == "href")
                    .map(|(_, v)| decode_entities(v))
                    .unwrap_or_default();
                self.links.push((href, self.out.len()));
            }
            ("a", true) => {
                if let Some((href, start)) = self.links.pop() {
                    self.end_link(&href, start);
                }
            }
            (name, _) if PARAGRAPH_TAGS.contains(&name) => self.block(2),
            (name, _) if BLOCK_TAGS.contains(&name) => self.block(1),
            _ => {}
        }
    }

    fn end_link(&mut self, href: &str, start: usize) {
        let href = href.trim();
        if href.is_empty() {
            return;
        }
        let label = self.out.get(start..).unwrap_or_default().trim().to_owned();
        let shown = href.strip_prefix("mailto:").unwrap_or(href);
        let same = label == href
            || label == shown
            || label.trim_end_matches('/') == href.trim_end_matches('/')
            || href
                .split_once("://")
                .is_some_and(|(_, rest)| rest.trim_end_matches('/') == label.trim_end_matches('/'));
        if same {
            return;
        }
        if label.is_empty() {
            self.text(shown);
        } else {
            self.pending_space = true;
            self.text(&format!("<{shown}>"));
        }
    }

    fn block(&mut self, newlines: usize) {
        if !self.out.is_empty() {
            self.owe_newlines(newlines);
        }
    }

    fn owe_newlines(&mut self, newlines: usize) {
        self.blank_depth = if self.pending_newlines == 0 {
            self.quote_depth
        } else {
            self.blank_depth.min(self.quote_depth)
        };
        self.pending_newlines = self.pending_newlines.max(newlines);
    }

    /// Writes owed line breaks, the quote prefix at the start of a line, or an owed space.
    fn flush(&mut self) {
        if self.pending_newlines > 0 && !self.out.is_empty() {
            self.out.push('\n');
            let blank_depth = self.blank_depth.min(self.quote_depth);
            for _ in 1..self.pending_newlines {
                self.out.push_str(&">".repeat(blank_depth));
                self.out.push('\n');
            }
            self.at_line_start = true;
            self.pending_space = false;
        }
        self.pending_newlines = 0;
        if self.at_line_start || self.out.is_empty() {
            if self.quote_depth > 0 {
                self.out.push_str(&">".repeat(self.quote_depth));
                self.out.push(' ');
            }
            self.at_line_start = false;
            self.pending_space = false;
        } else if self.pending_space {
            self.out.push(' ');
            self.pending_space = false;
        }
    }

    fn text(&mut self, text: &str) {
        if self.pre_depth > 0 {
            for (i, line) in text.split('\n').enumerate() {
                if i > 0 {
                    self.owe_newlines(self.pending_newlines + 1);
                }
                if !line.is_empty() {
                    self.flush();
                    self.out.push_str(&line.replace('\u{a0}', " "));
                }
            }
            return;
        }
        let starts_with_space = text.starts_with(|c: char| c.is_whitespace());
        let ends_with_space = text.ends_with(|c: char| c.is_whitespace());
        let mut words = text
            .split(|c: char| c.is_whitespace())
            .filter(|w| !w.is_empty());
        let Some(first) = words.next() else {
            if !text.is_empty() {
                self.pending_space = true;
            }
            return;
        };
        if starts_with_space {
            self.pending_space = true;
        }
        self.flush();
        self.out.push_str(first);
        for word in words {
            self.out.push(' ');
            self.out.push_str(word);
        }
        self.pending_space = ends_with_space;
    }

    fn finish(self) -> String {
        let mut out = String::with_capacity(self.out.len());
        let mut blank_run = 0;
        for line in self.out.split('\n') {
            let line = line.trim_end();
            if line.is_empty() {
                blank_run += 1;
                if blank_run > 1 {
                    continue;
                }
            } else {
                blank_run = 0;
            }
            out.push_str(line);
            out.push('\n');
        }
        out.trim_matches('\n').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_javascript_urls_are_removed() {
        let html = r#"<p onclick="steal()">Hi<script>alert(1)</script></p>
            <img src="x" onerror="alert(2)"><a href="javascript:alert(3)">click</a>
            <iframe src="https://evil.example/"></iframe><form action="https://evil.example/"><input name=q></form>
            <style>body{display:none}</style>"#;
        let clean = sanitize_html(html);
        for bad in [
            "script",
            "alert",
            "onclick",
            "onerror",
            "javascript",
            "iframe",
            "form",
            "input",
            "style",
            "evil",
        ] {
            assert!(!clean.contains(bad), "{bad} survived in {clean}");
        }
        assert!(clean.contains("Hi"));
        assert!(clean.contains("click"));
    }

    #[test]
    fn remote_images_are_blocked_and_cid_images_kept() {
        let clean = sanitize_html(
            r#"<img src="https://tracker.example/p.gif?u=1&amp;v=2" alt="logo" width="1"><img src="cid:part1@example.com" alt="chart">"#,
        );
        assert!(!clean.contains(" src=\"https"), "{clean}");
        assert!(
            clean.contains(r#"data-blocked-src="https://tracker.example/p.gif?u=1&amp;v=2""#),
            "{clean}"
        );
        assert!(clean.contains(r#"alt="logo""#));
        assert!(clean.contains(r#"src="cid:part1@example.com""#), "{clean}");
    }

    #[test]
    fn attribute_text_that_looks_like_a_tag_does_not_confuse_the_blocker() {
        let clean = sanitize_html(
            r#"<a href="https://a.example/" title="<img src=x>">x</a><img alt='"><img' src="http://t.example/i.png">"#,
        );
        assert!(!clean.contains(" src=\"http"), "{clean}");
        assert!(
            clean.contains("data-blocked-src=\"http://t.example/i.png\""),
            "{clean}"
        );
    }

    #[test]
    fn style_tricks_drop_the_whole_style() {
        for style in [
            "color:red;width:expression(alert(1))",
            "color:red;background:u\\72l(https://t.example/x.png)",
            "color:red;x:expr/**/ession(alert(1))",
        ] {
            let clean = sanitize_html(&format!("<p style=\"{style}\">x</p>"));
            assert_eq!(clean, "<p>x</p>", "{style}");
        }
    }

    #[test]
    fn style_urls_and_positioning_are_dropped() {
        let clean = sanitize_html(
            r#"<p style="background:url(https://t.example/x.png);color:red;position:fixed">x</p>"#,
        );
        assert!(clean.contains("color:red"), "{clean}");
        assert!(!clean.contains("url("), "{clean}");
        assert!(!clean.contains("position"), "{clean}");
    }

    #[test]
    fn links_open_safely() {
        let clean = sanitize_html(r#"<a href="https://example.com/">site</a>"#);
        assert!(
            clean.contains(r#"rel="noopener noreferrer nofollow""#),
            "{clean}"
        );
        assert!(clean.contains(r#"target="_blank""#), "{clean}");
    }

    #[test]
    fn text_keeps_structure_and_links() {
        let html = "<html><head><title>T</title><style>p{}</style></head><body>\
            <p>Hello&nbsp;Ana,</p><p>Your order is <b>ready</b>.<br>Track it \
            <a href=\"https://shop.example/track?id=1&amp;x=2\">here</a>.</p>\
            <ul><li>one</li><li>two</li></ul><ol><li>first</li><li>second</li></ol>\
            <div>Mail <a href=\"mailto:help@shop.example\">help@shop.example</a></div>\
            <blockquote><p>old</p><p>older</p></blockquote><p>after</p></body></html>";
        assert_eq!(
            html_to_text(html),
            "Hello Ana,\n\nYour order is ready.\nTrack it here <https://shop.example/track?id=1&x=2>.\n\n\
             - one\n- two\n\n1. first\n2. second\n\nMail help@shop.example\n\n> old\n>\n> older\n\nafter"
        );
    }

    #[test]
    fn pre_keeps_whitespace() {
        assert_eq!(
            html_to_text("<p>x</p><pre>a  b\n  c</pre>"),
            "x\n\na  b\n  c"
        );
    }

    #[test]
    fn deep_nesting_is_shown_as_text() {
        let html = "<div>".repeat(50_000) + "deep &amp; <b>bold</b>" + &"</div>".repeat(50_000);
        let clean = sanitize_html(&html);
        assert_eq!(clean, "<pre>deep &amp; bold</pre>");
        assert_eq!(html_to_text(&html), "deep & bold");
        let quotes = "<blockquote>".repeat(5_000) + "<script>x</script>q";
        assert!(!sanitize_html(&quotes).contains("script"));
    }

    #[test]
    fn thousands_of_references_are_shown_as_text() {
        let html = format!("<p title=\"{}\">a &lt; b</p>", "x&amp;".repeat(20_000));
        assert_eq!(sanitize_html(&html), "<pre>a &lt; b</pre>");
        let ordinary = "<p>a&nbsp;b &amp; c</p>".repeat(500);
        assert!(sanitize_html(&ordinary).starts_with("<p>a&nbsp;b &amp; c</p>"));
    }

    #[test]
    fn stray_end_tags_do_not_hide_depth() {
        let html = "<div></span>".repeat(2_000) + "x";
        assert_eq!(sanitize_html(&html), "<pre>x</pre>");
        let formatting = "<b><i><u><font><em>".repeat(60) + "x";
        assert_eq!(sanitize_html(&formatting), "<pre>x</pre>");
    }

    #[test]
    fn huge_html_is_shown_as_text() {
        let html = "<p>word</p>".repeat(MAX_HTML_BYTES / 10);
        let clean = sanitize_html(&html);
        assert!(clean.starts_with("<pre>word"), "{}", &clean[..20]);
    }

    #[test]
    fn ordinary_nesting_is_sanitised() {
        let html = "<div>".repeat(200) + "<p>x<p>y" + &"<td>".repeat(5_000) + "<b>z";
        assert!(sanitize_html(&html).starts_with("<div><div>"));
    }
}
