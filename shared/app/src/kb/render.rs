//! Markdown → sanitised HTML, and the plain text the search index reads.

use pulldown_cmark::{html, Options, Parser};

/// Renders an article's Markdown. Raw HTML in the source passes through the same sanitiser as
/// e-mail HTML (no script, frames, forms or event handlers; remote images are held back), so
/// an author cannot put anything on a reader's page that an e-mail could not.
pub fn markdown_to_html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES;
    let parser = Parser::new_ext(markdown, options);
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, parser);
    helpdesk_mail::sanitize_html(&out)
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

    #[test]
    fn words_only() {
        assert_eq!(
            search_words("title:(foo OR \"bar\")^3 -baz*"),
            "title foo OR bar 3 baz"
        );
        assert_eq!(search_words("?!"), "");
    }
}
