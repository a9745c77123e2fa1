//! The help centre's one page shell (maud): skip link, header with the four sections, the
//! language picker when there is a choice, main landmark, footer. Mobile-first CSS in
//! `static/help.css`; no inline style or script (the CSP forbids both).

use super::session::HelpCtx;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Articles,
    Community,
    Request,
    Tickets,
    None,
}

pub struct Meta<'a> {
    pub title: &'a str,
    pub section: Section,
    /// `lang` of the page's content (an article's locale); English otherwise.
    pub lang: &'a str,
    /// Languages the visitor may switch to here (tag, name); no picker when fewer than two.
    pub languages: &'a [(String, String)],
    /// A short description for search engines and link previews.
    pub description: Option<&'a str>,
}

impl<'a> Meta<'a> {
    pub fn new(title: &'a str, section: Section) -> Self {
        Meta {
            title,
            section,
            lang: "en",
            languages: &[],
            description: None,
        }
    }
}

fn nav_link(href: &str, label: &str, current: bool) -> Markup {
    html! {
        @if current { a href=(href) aria-current="page" { (label) } } @else { a href=(href) { (label) } }
    }
}

pub fn page(ctx: &HelpCtx, meta: &Meta<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(meta.lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(d) = meta.description { meta name="description" content=(d); }
                title { (meta.title) " · Help centre" }
                link rel="stylesheet" href="/help/static/help.css";
                script src="/help/static/help.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/help" { "Help centre" }
                    nav aria-label="Help centre" {
                        (nav_link("/help", "Articles", meta.section == Section::Articles))
                        (nav_link("/help/community", "Community", meta.section == Section::Community))
                        (nav_link("/help/requests/new", "Contact us", meta.section == Section::Request))
                        @if ctx.customer.is_some() {
                            (nav_link("/help/tickets", "My requests", meta.section == Section::Tickets))
                        } @else {
                            (nav_link("/help/signin", "Sign in", meta.section == Section::Tickets))
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
                footer.foot {
                    @if meta.languages.len() > 1 {
                        form.lang method="get" {
                            label for="lang-picker" { "Language" }
                            select #lang-picker name="lang" {
                                @for (tag, name) in meta.languages {
                                    @if tag == meta.lang { option value=(tag) selected { (name) } }
                                    @else { option value=(tag) { (name) } }
                                }
                            }
                            button type="submit" { "Change" }
                        }
                    }
                    @if let Some(c) = &ctx.customer {
                        form.signout method="post" action="/help/signout" {
                            input type="hidden" name="_csrf" value=(ctx.csrf);
                            span { "Signed in as " (c.email.as_str()) }
                            " "
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
            }
        }
    }
}

/// A rendered page as a response.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// A page with just a heading and a sentence (errors, confirmations).
pub fn message(ctx: &HelpCtx, status: StatusCode, title: &str, text: &str) -> Response {
    respond(
        status,
        page(
            ctx,
            &Meta::new(title, Section::None),
            html! { h1 { (title) } p { (text) } p { a href="/help" { "Back to the help centre" } } },
        ),
    )
}
