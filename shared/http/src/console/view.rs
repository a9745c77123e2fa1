//! Markup of the console (maud): one layout, small components, no client-side rendering.

use chrono::Utc;
use helpdesk_domain::{Agent, Priority, Status, Ticket, Timestamp};
use maud::{html, Markup, PreEscaped, DOCTYPE};

pub struct Page<'a> {
    pub title: &'a str,
    pub user: Option<&'a str>,
    pub csrf: &'a str,
    pub active: &'a str,
}

pub fn layout(p: &Page<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf-token" content=(p.csrf);
                meta name="htmx-config" content=r#"{"responseHandling":[{"code":"204","swap":false},{"code":"...","swap":true}]}"#;
                title { (p.title) " · helpdesk" }
                link rel="stylesheet" href="/app/static/app.css";
                script src="/app/static/htmx.min.js" defer {}
                script src="/app/static/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                @if let Some(user) = p.user {
                    header.top {
                        a.brand href="/app" { "helpdesk" }
                        nav aria-label="Main" {
                            (nav_link("/app", "Dashboard", p.active == "dashboard"))
                            (nav_link("/app/tickets", "Tickets", p.active == "tickets"))
                            (nav_link("/app/board", "Board", p.active == "board"))
                            (nav_link("/app/automations", "Automations", p.active == "automations"))
                            (nav_link("/app/kb", "Knowledge base", p.active == "kb"))
                            (nav_link("/app/community", "Community", p.active == "community"))
                        }
                        div.who {
                            span.sr-only { "Signed in as " }
                            span { (user) }
                            form method="post" action="/app/logout" {
                                input type="hidden" name="_csrf" value=(p.csrf);
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
                div #live role="status" aria-live="polite" class="sr-only" {}
            }
        }
    }
}

fn nav_link(href: &str, label: &str, current: bool) -> Markup {
    html! {
        @if current { a href=(href) aria-current="page" { (label) } } @else { a href=(href) { (label) } }
    }
}

pub fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="_csrf" value=(csrf); }
}

pub fn priority_badge(p: Priority) -> Markup {
    let icon = match p {
        Priority::Urgent => "‼",
        Priority::High => "↑",
        Priority::Medium => "•",
        Priority::Low => "↓",
    };
    html! { span class={"badge prio-" (p.as_str())} { span aria-hidden="true" { (icon) " " } (label(p.as_str())) } }
}

pub fn status_badge(s: Status) -> Markup {
    html! { span class={"badge status-" (s.as_str())} { (label(s.as_str())) } }
}

pub fn label(raw: &str) -> String {
    let s = raw.replace('_', " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

pub fn initials(name: Option<&str>, email: &str) -> String {
    let source = name.filter(|n| !n.trim().is_empty()).unwrap_or(email);
    let parts: Vec<&str> = source
        .split(|c: char| c.is_whitespace() || c == '.' || c == '@' || c == '_')
        .filter(|p| !p.is_empty())
        .collect();
    let mut out: String = parts
        .iter()
        .take(2)
        .filter_map(|p| p.chars().next())
        .collect();
    if out.is_empty() {
        out.push('?');
    }
    out.to_uppercase()
}

pub fn relative(t: &Timestamp) -> String {
    let secs = (Utc::now() - *t).num_seconds().max(0);
    match secs {
        0..=59 => "just now".into(),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// A future instant as a time element ("in 2h 5m"); past ones read like `time`.
pub fn time_until(t: &Timestamp) -> Markup {
    let secs = (*t - Utc::now()).num_seconds();
    if secs <= 0 {
        return time(t);
    }
    html! { time datetime=(t.to_rfc3339()) title=(t.format("%Y-%m-%d %H:%M UTC").to_string()) { "in " (duration(secs as f64)) } }
}

pub fn time(t: &Timestamp) -> Markup {
    html! { time datetime=(t.to_rfc3339()) title=(t.format("%Y-%m-%d %H:%M UTC").to_string()) { (relative(t)) } }
}

pub fn duration(secs: f64) -> String {
    let s = secs.round() as i64;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 86_400 {
        format!("{}h {}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d {}h", s / 86_400, (s % 86_400) / 3600)
    }
}

pub fn customer_cell(t: &Ticket) -> Markup {
    html! {
        span.customer {
            span.avatar aria-hidden="true" { (initials(t.customer.name.as_deref(), t.customer.email.as_str())) }
            span {
                @if let Some(n) = &t.customer.name { span.cname { (n) } }
                span.cemail { (t.customer.email.as_str()) }
            }
        }
    }
}

pub fn flash(kind: &str, text: &str) -> Markup {
    html! { div class={"flash flash-" (kind)} role=(if kind == "error" { "alert" } else { "status" }) { (text) } }
}

pub fn select_options<'a>(
    name: &str,
    id: &str,
    text: &str,
    options: impl IntoIterator<Item = (&'a str, String)>,
    selected: &str,
) -> Markup {
    html! {
        label for=(id) { (text) }
        select name=(name) id=(id) {
            @for (value, shown) in options {
                @if value == selected { option value=(value) selected { (shown) } } @else { option value=(value) { (shown) } }
            }
        }
    }
}

pub fn agent_options(agents: &[Agent]) -> Vec<(&str, String)> {
    agents
        .iter()
        .map(|a| (a.email.as_str(), format!("{} ({})", a.name, a.email)))
        .collect()
}

pub fn error_page(p: &Page<'_>, heading: &str, text: &str) -> Markup {
    layout(
        p,
        html! {
            section.empty {
                h1 { (heading) }
                p { (text) }
                p { a href="/app" { "Back to the dashboard" } }
            }
        },
    )
}

pub fn raw(s: &str) -> PreEscaped<String> {
    PreEscaped(s.to_string())
}
