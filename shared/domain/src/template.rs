//! Response templates: plain text with personalisation tokens (`{{customer.first_name}}`,
//! `{{ticket.number}}`, …), parsed once when an admin saves them and rendered for each mail.
//!
//! - [`Template::parse`] accepts only the known [`Token`]s and balanced `{{ … }}`; anything else
//!   is an error that says where. A parsed template therefore cannot hold an unknown token, and
//!   rendering cannot fail.
//! - Templates are plain text. [`Template::render_text`] fills in the values as they are (for the
//!   `text/plain` part); [`Template::render_html`] escapes everything — the template's own text
//!   and every value — and keeps line breaks (for the `text/html` part). No HTML from a template
//!   or a customer's name ever reaches a mail unescaped.
//!
//! Single braces are ordinary text (`{` and `}` alone); `{{` always opens a token and `}}`
//! always closes one.

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The personalisation tokens a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Token {
    CustomerFirstName,
    CustomerName,
    TicketNumber,
    TicketSubject,
    AgentName,
    AgentFirstName,
}

impl Token {
    pub const ALL: [Token; 6] = [
        Token::CustomerFirstName,
        Token::CustomerName,
        Token::TicketNumber,
        Token::TicketSubject,
        Token::AgentName,
        Token::AgentFirstName,
    ];

    /// The token's name between the braces.
    pub fn name(&self) -> &'static str {
        match self {
            Token::CustomerFirstName => "customer.first_name",
            Token::CustomerName => "customer.name",
            Token::TicketNumber => "ticket.number",
            Token::TicketSubject => "ticket.subject",
            Token::AgentName => "agent.name",
            Token::AgentFirstName => "agent.first_name",
        }
    }

    pub fn from_name(name: &str) -> Option<Token> {
        Token::ALL.into_iter().find(|t| t.name() == name)
    }

    /// `{{a}}, {{b}}, …`: for error messages and docs.
    pub fn known_list() -> String {
        Token::ALL
            .iter()
            .map(|t| format!("{{{{{}}}}}", t.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{{{}}}}}", self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Token(Token),
}

/// Why a template does not parse; `position` is the character offset of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {position})")]
pub struct TemplateError {
    pub position: usize,
    pub message: String,
}

/// A parsed template: text and known tokens only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

/// The values tokens stand for. Missing names fall back sensibly (see [`TemplateValues::new`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemplateValues {
    pub customer_name: String,
    pub customer_first_name: String,
    pub ticket_number: String,
    pub ticket_subject: String,
    pub agent_name: String,
    pub agent_first_name: String,
}

impl TemplateValues {
    /// Values for one mail. A customer without a name is addressed by their e-mail's local
    /// part; first names are the first word of the name.
    pub fn new(
        customer_name: Option<&str>,
        customer_email: &str,
        ticket_number: &str,
        ticket_subject: &str,
        agent_name: &str,
    ) -> Self {
        let customer_name = customer_name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| {
                customer_email
                    .split('@')
                    .next()
                    .unwrap_or(customer_email)
                    .to_string()
            });
        let first = |name: &str| name.split_whitespace().next().unwrap_or("").to_string();
        Self {
            customer_first_name: first(&customer_name),
            customer_name,
            ticket_number: ticket_number.to_string(),
            ticket_subject: ticket_subject.to_string(),
            agent_first_name: first(agent_name),
            agent_name: agent_name.trim().to_string(),
        }
    }

    fn get(&self, token: Token) -> &str {
        match token {
            Token::CustomerFirstName => &self.customer_first_name,
            Token::CustomerName => &self.customer_name,
            Token::TicketNumber => &self.ticket_number,
            Token::TicketSubject => &self.ticket_subject,
            Token::AgentName => &self.agent_name,
            Token::AgentFirstName => &self.agent_first_name,
        }
    }
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut text = String::new();
        let chars: Vec<char> = source.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let pair =
                |at: usize, c: char| chars.get(at) == Some(&c) && chars.get(at + 1) == Some(&c);
            if pair(i, '}') {
                return Err(TemplateError {
                    position: i,
                    message: "`}}` without an opening `{{`".into(),
                });
            }
            if !pair(i, '{') {
                text.push(chars[i]);
                i += 1;
                continue;
            }
            let start = i;
            let mut j = i + 2;
            let mut name = String::new();
            loop {
                match chars.get(j) {
                    None => {
                        return Err(TemplateError {
                            position: start,
                            message: "`{{` is never closed with `}}`".into(),
                        })
                    }
                    Some('}') if pair(j, '}') => break,
                    Some('{') | Some('}') => {
                        return Err(TemplateError {
                            position: j,
                            message: "a brace inside `{{ … }}`".into(),
                        })
                    }
                    Some(c) => name.push(*c),
                }
                j += 1;
            }
            let name = name.trim();
            let Some(token) = Token::from_name(name) else {
                let shown: String = name.chars().take(40).collect();
                return Err(TemplateError {
                    position: start,
                    message: format!(
                        "unknown token `{{{{{shown}}}}}`; known tokens: {}",
                        Token::known_list()
                    ),
                });
            };
            if !text.is_empty() {
                segments.push(Segment::Text(std::mem::take(&mut text)));
            }
            segments.push(Segment::Token(token));
            i = j + 2;
        }
        if !text.is_empty() {
            segments.push(Segment::Text(text));
        }
        Ok(Template { segments })
    }

    /// Parses a template field for the API: a failure is a validation error naming `field`.
    pub fn parse_field(field: &'static str, source: &str) -> Result<Template, DomainError> {
        Template::parse(source).map_err(|e| DomainError::Invalid {
            field,
            message: e.to_string(),
        })
    }

    /// The tokens the template uses, in order.
    pub fn tokens(&self) -> impl Iterator<Item = Token> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Token(t) => Some(*t),
            Segment::Text(_) => None,
        })
    }

    /// The values as they are: for `text/plain` and header fields.
    pub fn render_text(&self, values: &TemplateValues) -> String {
        let mut out = String::new();
        for s in &self.segments {
            match s {
                Segment::Text(t) => out.push_str(t),
                Segment::Token(t) => out.push_str(values.get(*t)),
            }
        }
        out
    }

    /// Everything escaped, line breaks kept: for `text/html`.
    pub fn render_html(&self, values: &TemplateValues) -> String {
        text_to_html(&self.render_text(values))
    }
}

/// Escapes the five HTML-significant characters.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
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

/// Plain text as HTML: escaped, blank lines separate `<p>` paragraphs, single line breaks are
/// `<br>`. The only markup in the result is `<p>`, `</p>` and `<br>`.
pub fn text_to_html(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::new();
    for paragraph in text.split("\n\n") {
        let paragraph = paragraph.trim_matches('\n');
        if paragraph.trim().is_empty() {
            continue;
        }
        out.push_str("<p>");
        let lines: Vec<String> = paragraph.split('\n').map(escape_html).collect();
        out.push_str(&lines.join("<br>\n"));
        out.push_str("</p>\n");
    }
    out
}

pub const TEMPLATE_NAME_MAX: usize = 64;
pub const TEMPLATE_SUBJECT_MAX: usize = 200;
pub const TEMPLATE_BODY_MAX: usize = 20_000;

/// A template's name: 1-64 of `a-z 0-9 _ -` (`auto_ack`, `refund-approved`).
pub fn parse_template_name(raw: &str) -> Result<String, DomainError> {
    let s = raw.trim();
    if s.is_empty()
        || s.len() > TEMPLATE_NAME_MAX
        || !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(DomainError::Invalid {
            field: "name",
            message: format!(
                "must be 1-{TEMPLATE_NAME_MAX} characters of a-z, 0-9, _ and - (e.g. auto_ack)"
            ),
        });
    }
    Ok(s.to_string())
}

/// The name of the template used for automatic acknowledgements of new e-mail tickets.
pub const AUTO_ACK_TEMPLATE: &str = "auto_ack";

/// A response template as stored: one per name and locale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResponseTemplate {
    /// `a-z 0-9 _ -`; `auto_ack` is the acknowledgement of new e-mail tickets.
    pub name: String,
    /// BCP 47 tag (`en`, `pt-BR`). Lookups fall back from `pt-BR` to `pt` to `en`.
    pub locale: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Subject for mail that starts from this template (acknowledgements); replies keep
    /// `Re: {ticket subject} [#HD-n]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Plain text with tokens.
    pub body: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub version: u64,
}

/// The locales to try for `locale`, most specific first, ending with `en`:
/// `pt-BR` → `pt-BR`, `pt`, `en`.
pub fn locale_fallbacks(locale: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut tag = locale.trim().to_string();
    while !tag.is_empty() {
        if !out.contains(&tag) {
            out.push(tag.clone());
        }
        match tag.rfind('-') {
            Some(i) => tag.truncate(i),
            None => break,
        }
    }
    if !out.iter().any(|l| l == "en") {
        out.push("en".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn values() -> TemplateValues {
        TemplateValues::new(
            Some("Ana <b>Silva</b>"),
            "ana@example.com",
            "HD-7",
            "Login & \"password\"",
            "Bo Agent",
        )
    }

    #[test]
    fn renders_every_token() {
        let t = Template::parse(
            "Hi {{customer.first_name}} ({{ customer.name }}), {{ticket.number}}: {{ticket.subject}} — {{agent.first_name}} / {{agent.name}}",
        )
        .expect("parses");
        assert_eq!(t.tokens().count(), 6);
        assert_eq!(
            t.render_text(&values()),
            "Hi Ana (Ana <b>Silva</b>), HD-7: Login & \"password\" — Bo / Bo Agent"
        );
    }

    #[test]
    fn html_escapes_values_and_text() {
        let t = Template::parse("<i>Hi</i> {{customer.name}}\nline two\n\n{{ticket.subject}}")
            .expect("parses");
        let html = t.render_html(&values());
        assert_eq!(
            html,
            "<p>&lt;i&gt;Hi&lt;/i&gt; Ana &lt;b&gt;Silva&lt;/b&gt;<br>\nline two</p>\n<p>Login &amp; &quot;password&quot;</p>\n"
        );
    }

    #[test]
    fn errors_say_what_and_where() {
        let e = Template::parse("Hi {{customer.email}}").expect_err("unknown");
        assert_eq!(e.position, 3);
        assert!(
            e.message.contains("unknown token `{{customer.email}}`"),
            "{e}"
        );
        assert!(e.message.contains("{{customer.first_name}}"), "{e}");
        let e = Template::parse("Hi {{customer.name").expect_err("unclosed");
        assert!(e.message.contains("never closed"), "{e}");
        let e = Template::parse("Hi }} there").expect_err("stray");
        assert_eq!(e.position, 3);
        assert!(Template::parse("{{{customer.name}}}").is_err());
        assert!(Template::parse("{{}}").is_err());
        assert!(Template::parse("{{customer.name}").is_err());
        // Single braces are text.
        let t = Template::parse("a { b } c").expect("ok");
        assert_eq!(t.render_text(&values()), "a { b } c");
        let e = Template::parse_field("body", "{{x}}").expect_err("field");
        assert!(matches!(e, DomainError::Invalid { field: "body", .. }));
    }

    #[test]
    fn missing_names_fall_back() {
        let v = TemplateValues::new(None, "carla.m@example.com", "HD-1", "s", "");
        assert_eq!(v.customer_name, "carla.m");
        assert_eq!(v.customer_first_name, "carla.m");
        assert_eq!(v.agent_first_name, "");
    }

    #[test]
    fn locales_fall_back_to_english() {
        assert_eq!(locale_fallbacks("pt-BR"), vec!["pt-BR", "pt", "en"]);
        assert_eq!(locale_fallbacks("en"), vec!["en"]);
        assert_eq!(
            locale_fallbacks("zh-Hant-TW"),
            vec!["zh-Hant-TW", "zh-Hant", "zh", "en"]
        );
    }

    #[test]
    fn names() {
        assert!(parse_template_name("auto_ack").is_ok());
        assert!(parse_template_name("Refund").is_err());
        assert!(parse_template_name("").is_err());
        assert!(parse_template_name(&"a".repeat(65)).is_err());
    }

    fn token_source() -> impl Strategy<Value = String> {
        prop::sample::select(Token::ALL.to_vec()).prop_map(|t| format!("{{{{ {} }}}}", t.name()))
    }

    proptest! {
        #[test]
        fn parsing_and_rendering_never_panic(source in ".{0,200}", name in ".{0,40}", subject in ".{0,80}") {
            if let Ok(t) = Template::parse(&source) {
                let v = TemplateValues::new(Some(&name), "x@example.com", "HD-1", &subject, &name);
                let _ = t.render_text(&v);
                let _ = t.render_html(&v);
            }
        }

        #[test]
        fn known_tokens_parse_and_unknown_ones_never_do(
            parts in prop::collection::vec(prop_oneof!["[^{}]{0,20}", token_source()], 0..8),
            unknown in "[a-z_.]{1,20}",
        ) {
            let source: String = parts.concat();
            let t = Template::parse(&source).expect("text and known tokens always parse");
            let v = TemplateValues::default();
            // With empty values only the text remains: no braces survive rendering.
            prop_assert!(!t.render_text(&v).contains("{{"));
            prop_assume!(Token::from_name(&unknown).is_none());
            let bad = format!("{source}{{{{{unknown}}}}}");
            prop_assert!(Template::parse(&bad).is_err());
        }

        #[test]
        fn html_rendering_only_emits_its_own_markup(source in "[^{}]{0,100}", name in ".{0,60}") {
            let t = Template::parse(&format!("{source}{{{{customer.name}}}}")).expect("parses");
            let v = TemplateValues::new(Some(&name), "x@example.com", "HD-1", "s", "a");
            let html = t.render_html(&v);
            let stripped = html.replace("<p>", "").replace("</p>", "").replace("<br>", "");
            prop_assert!(!stripped.contains('<'), "{}", html);
            prop_assert!(!stripped.contains('>'), "{}", html);
        }
    }
}
