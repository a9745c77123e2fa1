//! Markdown → sanitised HTML, and the plain text the search index reads.

use helpdesk_domain::kb::{AttachmentRef, KbFileKind};
use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};

/// Renders an article's Markdown. Raw HTML in the source passes through the same sanitiser as
/// e-mail HTML (no script, frames, forms or event handlers; remote images are held back), so
/// an author cannot put anything on a reader's page that an e-mail could not.
pub fn markdown_to_html(markdown: &str) -> String {
    markdown_with_files(markdown, &[], &|_, _| String::new())
}

const OPTIONS: Options = Options::ENABLE_TABLES
    .union(Options::ENABLE_STRIKETHROUGH)
    .union(Options::ENABLE_TASKLISTS)
    .union(Options::ENABLE_FOOTNOTES);

/// Marks where trusted markup goes after sanitising; stripped from the author's text first, so
/// only this renderer can place one.
const MARK_OPEN: char = '\u{E000}';
const MARK_CLOSE: char = '\u{E001}';

/// The uploaded file a `file:` reference names: its position (`file:0`) or its name
/// (`file:guide.pdf`, percent-encoding allowed).
pub fn find_file<'a>(files: &'a [AttachmentRef], key: &str) -> Option<(usize, &'a AttachmentRef)> {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_digit()) {
        let i: usize = key.parse().ok()?;
        return files.get(i).map(|f| (i, f));
    }
    let decoded = percent_decode(key);
    files.iter().enumerate().find(|(_, f)| f.name == decoded)
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An image reference being read: where it points and the alt text gathered so far.
struct PendingImage {
    target: Option<(usize, AttachmentRef)>,
    alt: String,
}

/// Renders an article's Markdown with its uploaded files. `![Caption](file:demo.mp4)` shows an
/// uploaded video as `<video controls>`, an uploaded image as `<img>`, and a document as a
/// download link; `[the manual](file:manual.pdf)` links a file. `url(index, file)` says where
/// this reader downloads a file (the API, the console and the help centre each have their own
/// route). A reference to no file renders as its text. The author's Markdown is sanitised as
/// in [`markdown_to_html`]; only the file markup generated here is added after sanitising.
pub fn markdown_with_files(
    markdown: &str,
    files: &[AttachmentRef],
    url: &dyn Fn(usize, &AttachmentRef) -> String,
) -> String {
    let clean: String = markdown
        .chars()
        .filter(|c| *c != MARK_OPEN && *c != MARK_CLOSE)
        .collect();
    let mut trusted: Vec<String> = Vec::new();
    let mut events: Vec<Event<'_>> = Vec::new();
    let mut image: Option<PendingImage> = None;
    // Inside a `[text](file:…)` link: whether it resolved (and so needs its `</a>`).
    let mut file_link: Option<bool> = None;
    let mark = |trusted: &mut Vec<String>, html: String| -> Event<'static> {
        trusted.push(html);
        Event::Text(CowStr::from(format!(
            "{MARK_OPEN}{}{MARK_CLOSE}",
            trusted.len() - 1
        )))
    };
    for ev in Parser::new_ext(&clean, OPTIONS) {
        if let Some(img) = image.as_mut() {
            match ev {
                Event::End(TagEnd::Image) => {
                    let img = image.take();
                    let Some(PendingImage { target, alt }) = img else {
                        continue;
                    };
                    let html = match target {
                        Some((i, f)) => file_markup(&url(i, &f), &f, &alt),
                        None => escape_attr(&alt),
                    };
                    events.push(mark(&mut trusted, html));
                }
                Event::Text(t) | Event::Code(t) => img.alt.push_str(&t),
                _ => {}
            }
            continue;
        }
        match ev {
            Event::Start(Tag::Image { ref dest_url, .. }) if dest_url.starts_with("file:") => {
                image = Some(PendingImage {
                    target: find_file(files, &dest_url["file:".len()..])
                        .map(|(i, f)| (i, f.clone())),
                    alt: String::new(),
                });
            }
            Event::Start(Tag::Link { ref dest_url, .. }) if dest_url.starts_with("file:") => {
                match find_file(files, &dest_url["file:".len()..]) {
                    Some((i, f)) => {
                        let html = format!("<a href=\"{}\">", escape_attr(&url(i, f)));
                        events.push(mark(&mut trusted, html));
                        file_link = Some(true);
                    }
                    None => file_link = Some(false),
                }
            }
            Event::End(TagEnd::Link) if file_link.is_some() => {
                if file_link.take() == Some(true) {
                    events.push(mark(&mut trusted, "</a>".into()));
                }
            }
            other => events.push(other),
        }
    }
    let mut out = String::with_capacity(clean.len() * 3 / 2);
    html::push_html(&mut out, events.into_iter());
    let safe = helpdesk_mail::sanitize_html(&out);
    if trusted.is_empty() {
        return safe;
    }
    // Put the generated markup where its marks survived sanitising.
    let mut result =
        String::with_capacity(safe.len() + trusted.iter().map(String::len).sum::<usize>());
    let mut rest = safe.as_str();
    while let Some(start) = rest.find(MARK_OPEN) {
        result.push_str(&rest[..start]);
        let after = &rest[start + MARK_OPEN.len_utf8()..];
        let Some(end) = after.find(MARK_CLOSE) else {
            rest = after;
            continue;
        };
        if let Some(html) = after[..end]
            .parse::<usize>()
            .ok()
            .and_then(|n| trusted.get(n))
        {
            result.push_str(html);
        }
        rest = &after[end + MARK_CLOSE.len_utf8()..];
    }
    result.push_str(rest);
    result
}

/// The markup for an embedded file: a player for a video, the picture for an image, a link for
/// anything else.
fn file_markup(url: &str, f: &AttachmentRef, caption: &str) -> String {
    let url = escape_attr(url);
    let label = if caption.trim().is_empty() {
        escape_attr(&f.name)
    } else {
        escape_attr(caption.trim())
    };
    match KbFileKind::of(&f.content_type) {
        Some(KbFileKind::Video) => format!(
            "<video controls preload=\"metadata\" src=\"{url}\" title=\"{label}\"><a href=\"{url}\">{label}</a></video>"
        ),
        Some(KbFileKind::Image) => format!("<img src=\"{url}\" alt=\"{label}\">"),
        _ => format!("<a href=\"{url}\">{label}</a>"),
    }
}

/// The words of an article's body without markup, for the search index and snippets.
pub fn markdown_to_text(markdown: &str) -> String {
    helpdesk_mail::html_to_text(&markdown_to_html(markdown))
}

/// Search text reduced to words: punctuation means nothing to either index, and a query
/// language's operators typed by a visitor must not reach it. At most 64 words.
pub fn search_words(raw: &str) -> String {
    raw.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(64)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_sanitises() {
        let html = markdown_to_html("# Title\n\nSome *text* and `code`.\n\n<script>alert(1)</script>\n\n<a href=\"javascript:alert(1)\" onclick=\"x()\">link</a>");
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<em>text</em>"));
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("onclick"), "{html}");
        let text = markdown_to_text("# Reset\n\nClick **Forgot password**.");
        assert!(
            text.contains("Reset") && text.contains("Forgot password"),
            "{text}"
        );
        assert!(!text.contains('*') && !text.contains('<'));
    }

    fn files() -> Vec<AttachmentRef> {
        vec![
            AttachmentRef {
                name: "demo.mp4".into(),
                blob: "att/ab/abc".into(),
                content_type: "video/mp4".into(),
                size: 10,
            },
            AttachmentRef {
                name: "user guide.pdf".into(),
                blob: "att/cd/cde".into(),
                content_type: "application/pdf".into(),
                size: 10,
            },
        ]
    }

    #[test]
    fn uploaded_files_render_as_players_and_links() {
        let url = |i: usize, _: &AttachmentRef| format!("/files/{i}?a=1&b=\"");
        let html = markdown_with_files(
            "Watch:\n\n![The *demo*](file:demo.mp4)\n\nRead [the guide](file:user%20guide.pdf) or [this](file:1).\n\n![gone](file:missing.mp4)\n\n<video src=\"https://evil.example/x.mp4\" autoplay></video>\u{E000}0\u{E001}",
            &files(),
            &url,
        );
        assert!(
            html.contains("<video controls preload=\"metadata\" src=\"/files/0?a=1&amp;b=&quot;\" title=\"The demo\">"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"/files/1?a=1&amp;b=&quot;\">the guide</a>"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"/files/1?a=1&amp;b=&quot;\">this</a>"),
            "{html}"
        );
        assert!(html.contains("gone"), "{html}");
        // The author's own video element and any forged mark are not let through.
        assert_eq!(html.matches("<video").count(), 1, "{html}");
        assert!(!html.contains("evil.example"), "{html}");
        // Without files, references render as text only.
        let plain = markdown_to_html("![demo](file:demo.mp4)");
        assert!(
            !plain.contains("<video") && plain.contains("demo"),
            "{plain}"
        );
    }

    #[test]
    fn words_only() {
        assert_eq!(
            search_words("title:(foo OR \"bar\")^3 -baz*"),
            "title foo OR bar 3 baz"
        );
        assert_eq!(search_words("?!"), "");
    }
}
