//! Help centre: the community forums under `/help/community` (see `help/mod.rs`).
//!
//! Anyone reads; customers signed in through the e-mailed link post, reply, vote and accept an
//! answer on their own topics; anyone (even anonymous, by visitor id) reports. Every form posts
//! `_csrf`; a missing or foreign token is a 403 and nothing is stored. Forms work without
//! JavaScript; errors come back on the same form with the message by the field.

use super::layout::{message, page, respond, Meta, Section};
use super::session::HelpCtx;
use crate::console::session::urlencode;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use helpdesk_app::forums::{
    NewPost, NewTopic, PostView, ReportInput, Reporter, TopicSummary, TopicView,
};
use helpdesk_app::AppError;
use helpdesk_domain::forum::{Category, ReportReason, Target};
use helpdesk_domain::{PostId, TopicId};
use maud::{html, Markup, PreEscaped};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/help/community", get(home))
        .route(
            "/help/community/profile",
            get(profile_form).post(save_profile),
        )
        .route("/help/community/{slug}", get(category))
        .route(
            "/help/community/{slug}/new",
            get(new_topic).post(create_topic),
        )
        .route("/help/community/topics/{id}", get(topic))
        .route(
            "/help/community/topics/{id}/reply",
            axum::routing::post(reply),
        )
        .route(
            "/help/community/topics/{id}/vote",
            axum::routing::post(vote),
        )
        .route(
            "/help/community/topics/{id}/accept",
            axum::routing::post(accept),
        )
        .route(
            "/help/community/topics/{id}/report",
            get(report_form).post(report),
        )
}

type FormData = Vec<(String, String)>;

fn field<'a>(form: &'a FormData, name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[derive(Debug, serde::Deserialize)]
pub struct PageQuery {
    cursor: Option<String>,
    post: Option<String>,
}

fn query(q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>) -> PageQuery {
    q.map(|Query(p)| p).unwrap_or(PageQuery {
        cursor: None,
        post: None,
    })
}

/// Field errors of a form: (field, message).
type Errors = Vec<(String, String)>;

fn error_for(errors: &Errors, name: &str) -> Option<String> {
    errors
        .iter()
        .find(|(f, _)| f == name)
        .map(|(_, m)| m.clone())
}

/// A labelled input with its error (linked by `aria-describedby`) and the value kept.
fn text_field(
    id: &str,
    name: &str,
    label: &str,
    value: &str,
    errors: &Errors,
    multiline: bool,
    hint: Option<&str>,
) -> Markup {
    let err = error_for(errors, name);
    let err_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described = match (&err, hint) {
        (Some(_), Some(_)) => Some(format!("{err_id} {hint_id}")),
        (Some(_), None) => Some(err_id.clone()),
        (None, Some(_)) => Some(hint_id.clone()),
        (None, None) => None,
    };
    html! {
        label for=(id) { (label) }
        @if let Some(h) = hint { p.hint id=(hint_id) { (h) } }
        @if let Some(e) = &err { p.error id=(err_id) { (e) } }
        @if multiline {
            textarea id=(id) name=(name) required aria-invalid=[err.as_ref().map(|_| "true")] aria-describedby=[described.as_deref()] { (value) }
        } @else {
            input id=(id) type="text" name=(name) value=(value) required aria-invalid=[err.as_ref().map(|_| "true")] aria-describedby=[described.as_deref()];
        }
    }
}

fn csrf(ctx: &HelpCtx) -> Markup {
    html! { input type="hidden" name="_csrf" value=(ctx.csrf); }
}

fn forbidden(ctx: &HelpCtx) -> Response {
    message(
        ctx,
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form is no longer valid. Go back, reload the page and try again.",
    )
}

fn app_error(ctx: &HelpCtx, e: AppError) -> Response {
    match e {
        AppError::NotFound { what } => message(
            ctx,
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("That {what} does not exist, or it is no longer public."),
        ),
        AppError::Forbidden(why) => message(ctx, StatusCode::FORBIDDEN, "Not allowed", why),
        AppError::RateLimited(why) => {
            message(ctx, StatusCode::TOO_MANY_REQUESTS, "Please slow down", why)
        }
        AppError::Internal { .. } => {
            let _ = crate::problem::Problem::from(e); // logs the cause chain
            message(
                ctx,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "It has been logged. Try again in a moment.",
            )
        }
        other => message(
            ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            "That did not work",
            &other.to_string(),
        ),
    }
}

/// Validation errors go next to their field; rate limits show at the top of the form.
fn form_errors(e: &AppError) -> Option<(StatusCode, Errors)> {
    match e {
        AppError::Validation { field, message } => Some((
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![(field.clone(), message.clone())],
        )),
        AppError::RateLimited(why) => Some((
            StatusCode::TOO_MANY_REQUESTS,
            vec![("form".into(), (*why).to_string())],
        )),
        _ => None,
    }
}

fn signin_prompt(next: &str, what: &str) -> Markup {
    html! {
        p.notice {
            a href={"/help/signin?next=" (urlencode(next))} { "Sign in" } " " (what)
            " We e-mail you a link; no password needed."
        }
    }
}

fn author_line(
    a: &helpdesk_app::forums::PublicAuthor,
    at: &chrono::DateTime<chrono::Utc>,
) -> Markup {
    html! {
        p.byline {
            span.author { (a.display_name) }
            @if a.staff { " " span.badge.staff { "Staff" } }
            " · " time datetime=(at.to_rfc3339()) { (at.format("%-d %b %Y").to_string()) }
        }
    }
}

fn topic_badges(t: &TopicSummary) -> Markup {
    html! {
        @if t.pinned { span.badge.pinned { "Pinned" } " " }
        @if t.answered { span.badge.answered { "Answered" } " " }
        @if t.locked { span.badge { "Locked" } " " }
        @if t.hidden { span.badge.hidden { "Hidden" } " " }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading.

pub async fn home(State(s): State<AppState>, ctx: HelpCtx) -> Response {
    let cats = match s.helpdesk.forum_categories().await {
        Ok(c) => c,
        Err(e) => return app_error(&ctx, e),
    };
    let body = html! {
        h1 { "Community" }
        p.muted { "Ask other customers and our team, share tips, and find answers that worked." }
        @if cats.is_empty() {
            p { "The community has no categories yet." }
        } @else {
            ul.plain.categories {
                @for c in &cats {
                    li {
                        a.cat href={"/help/community/" (c.slug)} { (c.name) }
                        @if !c.description.is_empty() { p.muted { (c.description) } }
                    }
                }
            }
        }
        @if ctx.customer.is_some() { p { a href="/help/community/profile" { "Your community name" } } }
    };
    respond(
        StatusCode::OK,
        page(&ctx, &Meta::new("Community", Section::Community), body),
    )
}

pub async fn category(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path(slug): Path<String>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query(q);
    let actor = ctx.actor();
    let list = match s
        .helpdesk
        .list_topics(actor.as_ref(), &slug, q.cursor, Some(25))
        .await
    {
        Ok(l) => l,
        Err(AppError::Validation { .. }) => {
            return Redirect::to(&format!("/help/community/{}", urlencode(&slug))).into_response()
        }
        Err(e) => return app_error(&ctx, e),
    };
    let c = &list.category;
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" { a href="/help/community" { "Community" } }
        h1 { (c.name) }
        @if !c.description.is_empty() { p.muted { (c.description) } }
        p { a.button href={"/help/community/" (c.slug) "/new"} { "Start a topic" } }
        @if list.items.is_empty() {
            p { "No topics yet. Be the first to ask." }
        } @else {
            ul.plain.topics {
                @for t in &list.items {
                    li {
                        a.topic-link href={"/help/community/topics/" (t.id)} { (t.title) }
                        " " (topic_badges(t))
                        p.meta.muted {
                            (t.author.display_name) @if t.author.staff { " (staff)" }
                            " · " (t.reply_count) @if t.reply_count == 1 { " reply" } @else { " replies" }
                            " · " (t.votes) @if t.votes == 1 { " vote" } @else { " votes" }
                        }
                    }
                }
            }
        }
        @if let Some(next) = &list.next_cursor {
            p { a href={"/help/community/" (c.slug) "?cursor=" (urlencode(next))} { "Older topics" } }
        }
    };
    respond(
        StatusCode::OK,
        page(&ctx, &Meta::new(&c.name, Section::Community), body),
    )
}

fn vote_form(
    ctx: &HelpCtx,
    topic: &TopicId,
    target: Target,
    voted: bool,
    votes: i64,
    enabled: bool,
) -> Markup {
    let label = if votes == 1 { "vote" } else { "votes" };
    html! {
        @if enabled {
            form.vote method="post" action={"/help/community/topics/" (topic) "/vote"} {
                (csrf(ctx))
                input type="hidden" name="target" value=(target.key());
                button.secondary type="submit" aria-pressed=(if voted { "true" } else { "false" }) {
                    span aria-hidden="true" { "▲ " }
                    (if voted { "Voted" } else { "Helpful" })
                    span.count { " · " (votes) " " (label) }
                }
            }
        } @else {
            p.votes.muted { (votes) " " (label) }
        }
    }
}

fn post_card(ctx: &HelpCtx, v: &TopicView, p: &PostView) -> Markup {
    let signed_in = ctx.customer.is_some();
    html! {
        article.card.post id={"post-" (p.id)} aria-labelledby={"by-" (p.id)} {
            @if p.accepted { p.accepted-badge { span aria-hidden="true" { "✔ " } "Accepted answer" } }
            @if p.hidden { p.notice { "Hidden by a moderator: only you can see this reply." } }
            div id={"by-" (p.id)} { (author_line(&p.author, &p.created_at)) }
            div.content { (PreEscaped(&p.html)) }
            div.actions {
                (vote_form(ctx, &v.topic.id, Target::Post(p.id), p.voted, p.votes, signed_in && !p.yours && !p.hidden))
                @if v.can_accept && !p.hidden {
                    form.inline method="post" action={"/help/community/topics/" (v.topic.id) "/accept"} {
                        (csrf(ctx))
                        @if p.accepted {
                            input type="hidden" name="post" value="";
                            button.secondary type="submit" { "Unmark as answer" }
                        } @else {
                            input type="hidden" name="post" value=(p.id);
                            button.secondary type="submit" { "Accept as answer" }
                        }
                    }
                }
                a.report href={"/help/community/topics/" (v.topic.id) "/report?post=" (p.id)} { "Report" span.sr-only { " reply by " (p.author.display_name) } }
            }
        }
    }
}

async fn needs_display_name(s: &AppState, ctx: &HelpCtx) -> bool {
    match &ctx.customer {
        Some(c) => matches!(s.helpdesk.forum_profile(&c.email).await, Ok(None)),
        None => false,
    }
}

fn display_name_field(errors: &Errors, value: &str) -> Markup {
    text_field(
        "display_name",
        "display_name",
        "Your public name",
        value,
        errors,
        false,
        Some("Shown with your posts instead of your e-mail address, which stays private."),
    )
}

/// What the reply form shows again after a refused reply.
#[derive(Default)]
struct ReplyForm<'a> {
    body: &'a str,
    display_name: &'a str,
    errors: Errors,
}

async fn topic_page(
    s: &AppState,
    ctx: &HelpCtx,
    id: &TopicId,
    cursor: Option<String>,
    form: ReplyForm<'_>,
    status: StatusCode,
) -> Response {
    let ReplyForm {
        body: reply_body,
        display_name,
        errors,
    } = form;
    let errors = &errors;
    let actor = ctx.actor();
    let v = match s.helpdesk.topic_view(actor.as_ref(), id, cursor).await {
        Ok(v) => v,
        Err(e) => return app_error(ctx, e),
    };
    let cat = s.helpdesk.forum_category(&v.topic.category).await.ok();
    let ask_name = needs_display_name(s, ctx).await;
    let here = format!("/help/community/topics/{id}");
    let t = &v.topic;
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/help/community" { "Community" }
            @if let Some(c) = &cat { " › " a href={"/help/community/" (c.slug)} { (c.name) } }
        }
        article.card.topic {
            h1 { (t.title) }
            p { (topic_badges(t)) }
            @if t.hidden { p.notice { "Hidden by a moderator: only you can see this topic." } }
            @if t.continued_privately { p.notice { "This conversation continued privately with our support team." } }
            @if t.locked { p.notice { "This topic is locked: it takes no new replies." } }
            (author_line(&t.author, &t.created_at))
            div.content { (PreEscaped(&v.html)) }
            div.actions {
                (vote_form(ctx, &t.id, Target::Topic, v.voted, t.votes, ctx.customer.is_some() && !v.yours && !t.hidden))
                a.report href={(here) "/report"} { "Report" span.sr-only { " this topic" } }
            }
        }
        h2 { (v.posts.len()) @if v.posts.len() == 1 { " reply" } @else { " replies" } }
        @for p in &v.posts { (post_card(ctx, &v, p)) }
        @if let Some(next) = &v.next_cursor {
            p { a href={(here) "?cursor=" (urlencode(next))} { "More replies" } }
        }
        section.reply aria-labelledby="reply-h" {
            h2 #reply-h { "Your reply" }
            @if ctx.customer.is_none() {
                (signin_prompt(&here, "to reply."))
            } @else if !v.can_reply {
                p.muted { "Replies are closed." }
            } @else {
                form.stack method="post" action={(here) "/reply"} novalidate {
                    (csrf(ctx))
                    @if let Some(e) = error_for(errors, "form") { p.error role="alert" { (e) } }
                    @if ask_name || error_for(errors, "display_name").is_some() { (display_name_field(errors, display_name)) }
                    (text_field("reply-body", "body", "Reply", reply_body, errors, true, Some("Markdown works: **bold**, lists, links.")))
                    button type="submit" { "Post reply" }
                }
            }
        }
    };
    respond(
        status,
        page(ctx, &Meta::new(&t.title, Section::Community), body),
    )
}

pub async fn topic(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path(id): Path<String>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(id) = TopicId::parse(&id) else {
        return app_error(&ctx, AppError::NotFound { what: "topic" });
    };
    topic_page(
        &s,
        &ctx,
        &id,
        query(q).cursor,
        ReplyForm::default(),
        StatusCode::OK,
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Writing.

fn new_topic_page(
    ctx: &HelpCtx,
    c: &Category,
    form: &FormData,
    ask_name: bool,
    errors: &Errors,
    status: StatusCode,
) -> Response {
    let here = format!("/help/community/{}/new", c.slug);
    let val = |n: &str| field(form, n).unwrap_or("").to_string();
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" { a href="/help/community" { "Community" } " › " a href={"/help/community/" (c.slug)} { (c.name) } }
        h1 { "Start a topic" }
        @if ctx.customer.is_none() {
            (signin_prompt(&here, "to start a topic."))
        } @else {
            form.stack method="post" action=(here) novalidate {
                (csrf(ctx))
                @if let Some(e) = error_for(errors, "form") { p.error role="alert" { (e) } }
                @if ask_name || error_for(errors, "display_name").is_some() { (display_name_field(errors, &val("display_name"))) }
                (text_field("title", "title", "Title", &val("title"), errors, false, Some("A short question or summary, 5-150 characters.")))
                (text_field("body", "body", "Details", &val("body"), errors, true, Some("Markdown works. Do not share passwords or personal data.")))
                button type="submit" { "Post topic" }
            }
        }
    };
    respond(
        status,
        page(ctx, &Meta::new("Start a topic", Section::Community), body),
    )
}

pub async fn new_topic(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path(slug): Path<String>,
) -> Response {
    let c = match s.helpdesk.forum_category(&slug).await {
        Ok(c) => c,
        Err(e) => return app_error(&ctx, e),
    };
    let ask = needs_display_name(&s, &ctx).await;
    new_topic_page(&ctx, &c, &Vec::new(), ask, &Vec::new(), StatusCode::OK)
}

pub async fn create_topic(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path(slug): Path<String>,
    Form(form): Form<FormData>,
) -> Response {
    if !ctx.csrf_ok(field(&form, "_csrf").unwrap_or("")) {
        return forbidden(&ctx);
    }
    let c = match s.helpdesk.forum_category(&slug).await {
        Ok(c) => c,
        Err(e) => return app_error(&ctx, e),
    };
    let Some(actor) = ctx.actor() else {
        return new_topic_page(
            &ctx,
            &c,
            &form,
            false,
            &Vec::new(),
            StatusCode::UNAUTHORIZED,
        );
    };
    let input = NewTopic {
        title: field(&form, "title").unwrap_or("").to_string(),
        body: field(&form, "body").unwrap_or("").to_string(),
        display_name: field(&form, "display_name").map(str::to_string),
    };
    match s.helpdesk.create_topic(&actor, &slug, input).await {
        Ok(t) => Redirect::to(&format!("/help/community/topics/{}", t.id)).into_response(),
        Err(e) => match form_errors(&e) {
            Some((status, errors)) => {
                let ask = needs_display_name(&s, &ctx).await;
                new_topic_page(&ctx, &c, &form, ask, &errors, status)
            }
            None => app_error(&ctx, e),
        },
    }
}

fn topic_from_path(ctx: &HelpCtx, raw: &str) -> Result<TopicId, Response> {
    TopicId::parse(raw).map_err(|_| app_error(ctx, AppError::NotFound { what: "topic" }))
}

pub async fn reply(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path(id): Path<String>,
    Form(form): Form<FormData>,
) -> Response {
    if !ctx.csrf_ok(field(&form, "_csrf").unwrap_or("")) {
        return forbidden(&ctx);
    }
    let id = match topic_from_path(&ctx, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Some(actor) = ctx.actor() else {
        return topic_page(
            &s,
            &ctx,
            &id,
            None,
            ReplyForm::default(),
            StatusCode::UNAUTHORIZED,
        )
        .await;
    };
    let body = field(&form, "body").unwrap_or("").to_string();
    let name = field(&form, "display_name").unwrap_or("").to_string();
    let input = NewPost {
        body: body.clone(),
        display_name: Some(name.clone()).filter(|n| !n.trim().is_empty()),
    };
    match s.helpdesk.reply_to_topic(&actor, &id, input).await {
        Ok(p) => {
            Redirect::to(&format!("/help/community/topics/{id}#post-{}", p.id)).into_response()
        }
        Err(e) => match form_errors(&e) {
            Some((status, mut errors)) => {
                // "topic is locked" is about the form as a whole.
                for (f, _) in errors.iter_mut() {
                    if f == "topic" {
                        *f = "form".into();
                    }
                }
                topic_page(
                    &s,
                    &ctx,
                    &id,
                    None,
                    ReplyForm {
                        body: &body,
                        display_name: &name,
                        errors,
                    },
                    status,
                )
                .await
            }
            None => app_error(&ctx, e),
        },
    }
}

pub async fn vote(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path(id): Path<String>,
    Form(form): Form<FormData>,
) -> Response {
    if !ctx.csrf_ok(field(&form, "_csrf").unwrap_or("")) {
        return forbidden(&ctx);
    }
    let id = match topic_from_path(&ctx, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Some(actor) = ctx.actor() else {
        return message(
            &ctx,
            StatusCode::UNAUTHORIZED,
            "Sign in to vote",
            "Votes are counted once per person, so we need to know who you are.",
        );
    };
    let target = match Target::parse(field(&form, "target").unwrap_or("topic")) {
        Ok(t) => t,
        Err(e) => return app_error(&ctx, e.into()),
    };
    match s.helpdesk.toggle_vote(&actor, &id, target).await {
        Ok(_) => {
            let anchor = target
                .post()
                .map(|p| format!("#post-{p}"))
                .unwrap_or_default();
            Redirect::to(&format!("/help/community/topics/{id}{anchor}")).into_response()
        }
        Err(e) => app_error(&ctx, e),
    }
}

pub async fn accept(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path(id): Path<String>,
    Form(form): Form<FormData>,
) -> Response {
    if !ctx.csrf_ok(field(&form, "_csrf").unwrap_or("")) {
        return forbidden(&ctx);
    }
    let id = match topic_from_path(&ctx, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Some(actor) = ctx.actor() else {
        return app_error(&ctx, AppError::Forbidden("sign in to accept an answer"));
    };
    let post = match field(&form, "post")
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(raw) => match PostId::parse(raw) {
            Ok(p) => Some(p),
            Err(e) => return app_error(&ctx, AppError::validation("post", e.message)),
        },
        None => None,
    };
    let input = helpdesk_app::forums::AcceptInput {
        post,
        version: None,
    };
    match s.helpdesk.accept_answer(&actor, &id, input).await {
        Ok(_) => Redirect::to(&format!("/help/community/topics/{id}")).into_response(),
        Err(e) => app_error(&ctx, e),
    }
}

fn report_page(
    ctx: &HelpCtx,
    id: &TopicId,
    post: Option<&str>,
    form: &FormData,
    errors: &Errors,
    status: StatusCode,
) -> Response {
    let reason = field(form, "reason").unwrap_or("");
    let details = field(form, "details").unwrap_or("");
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" { a href={"/help/community/topics/" (id)} { "Back to the topic" } }
        h1 { @if post.is_some() { "Report a reply" } @else { "Report a topic" } }
        p.muted { "Our team reviews every report. Thank you for keeping the community useful and safe." }
        form.stack method="post" action={"/help/community/topics/" (id) "/report"} novalidate {
            (csrf(ctx))
            @if let Some(e) = error_for(errors, "form") { p.error role="alert" { (e) } }
            @if let Some(p) = post { input type="hidden" name="post" value=(p); }
            fieldset {
                legend { "What is wrong?" }
                @if let Some(e) = error_for(errors, "reason") { p.error id="reason-error" { (e) } }
                @for r in ReportReason::ALL {
                    div.choice {
                        input type="radio" name="reason" id={"reason-" (r.as_str())} value=(r.as_str()) checked[reason == r.as_str()] required;
                        label for={"reason-" (r.as_str())} { (reason_label(*r)) }
                    }
                }
            }
            label for="details" { "Details (optional)" }
            @if let Some(e) = error_for(errors, "details") { p.error id="details-error" { (e) } }
            textarea #details name="details" rows="3" { (details) }
            button type="submit" { "Send report" }
        }
    };
    respond(
        status,
        page(ctx, &Meta::new("Report", Section::Community), body),
    )
}

fn reason_label(r: ReportReason) -> &'static str {
    match r {
        ReportReason::Spam => "Spam or advertising",
        ReportReason::Abuse => "Abusive or offensive",
        ReportReason::OffTopic => "Off topic",
        ReportReason::PersonalData => "Shares personal data",
        ReportReason::Other => "Something else",
    }
}

pub async fn report_form(
    ctx: HelpCtx,
    Path(id): Path<String>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let id = match topic_from_path(&ctx, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let q = query(q);
    report_page(
        &ctx,
        &id,
        q.post.as_deref().filter(|p| !p.is_empty()),
        &Vec::new(),
        &Vec::new(),
        StatusCode::OK,
    )
}

pub async fn report(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path(id): Path<String>,
    Form(form): Form<FormData>,
) -> Response {
    if !ctx.csrf_ok(field(&form, "_csrf").unwrap_or("")) {
        return forbidden(&ctx);
    }
    let id = match topic_from_path(&ctx, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let post_raw = field(&form, "post")
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let again = |errors: Errors, status| report_page(&ctx, &id, post_raw, &form, &errors, status);
    let post = match post_raw.map(PostId::parse).transpose() {
        Ok(p) => p,
        Err(_) => return app_error(&ctx, AppError::NotFound { what: "reply" }),
    };
    let reason = match ReportReason::parse(field(&form, "reason").unwrap_or("")) {
        Ok(r) => r,
        Err(_) => {
            return again(
                vec![("reason".into(), "choose what is wrong".into())],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    };
    // Anonymous reports are also limited per network address, so a script that drops its
    // visitor cookie cannot flood the queue.
    if ctx.customer.is_none() {
        if let Some(ip) = ctx.ip {
            if let Err(e) = s.helpdesk.limit_anonymous_reports(&ip.to_string()).await {
                return again(
                    form_errors(&e).map(|x| x.1).unwrap_or_default(),
                    StatusCode::TOO_MANY_REQUESTS,
                );
            }
        }
    }
    let reporter = match ctx.actor() {
        Some(a) => Reporter::User(a),
        None => Reporter::Visitor(ctx.visitor.clone()),
    };
    let input = ReportInput {
        post,
        reason,
        details: field(&form, "details").map(str::to_string),
    };
    match s.helpdesk.report(&reporter, &id, input).await {
        Ok(outcome) => {
            let text = if outcome.already_reported {
                "You had already reported this; our team has it in the queue."
            } else {
                "Thank you. Our team will review it."
            };
            let body = html! {
                h1 { "Report received" }
                p role="status" { (text) }
                p { a href={"/help/community/topics/" (id)} { "Back to the topic" } }
            };
            respond(
                StatusCode::OK,
                page(
                    &ctx,
                    &Meta::new("Report received", Section::Community),
                    body,
                ),
            )
        }
        Err(e) => match form_errors(&e) {
            Some((status, errors)) => again(errors, status),
            None => app_error(&ctx, e),
        },
    }
}

fn profile_page(
    ctx: &HelpCtx,
    current: Option<&str>,
    value: &str,
    errors: &Errors,
    saved: bool,
    status: StatusCode,
) -> Response {
    let body = html! {
        h1 { "Your community name" }
        @if ctx.customer.is_none() {
            (signin_prompt("/help/community/profile", "to choose the name shown with your posts."))
        } @else {
            @if saved { p.notice role="status" { "Saved." } }
            @if let Some(c) = current { p { "You post as " strong { (c) } "." } }
            p.muted { "Posts you already wrote keep the name they were written under." }
            form.stack method="post" action="/help/community/profile" novalidate {
                (csrf(ctx))
                (display_name_field(errors, value))
                button type="submit" { "Save" }
            }
        }
    };
    respond(
        status,
        page(
            ctx,
            &Meta::new("Your community name", Section::Community),
            body,
        ),
    )
}

pub async fn profile_form(State(s): State<AppState>, ctx: HelpCtx) -> Response {
    let current = match &ctx.customer {
        Some(c) => match s.helpdesk.forum_profile(&c.email).await {
            Ok(p) => p.map(|p| p.display_name),
            Err(e) => return app_error(&ctx, e),
        },
        None => None,
    };
    profile_page(
        &ctx,
        current.as_deref(),
        current.as_deref().unwrap_or(""),
        &Vec::new(),
        false,
        StatusCode::OK,
    )
}

pub async fn save_profile(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Form(form): Form<FormData>,
) -> Response {
    if !ctx.csrf_ok(field(&form, "_csrf").unwrap_or("")) {
        return forbidden(&ctx);
    }
    let Some(actor) = ctx.actor() else {
        return profile_page(&ctx, None, "", &Vec::new(), false, StatusCode::UNAUTHORIZED);
    };
    let value = field(&form, "display_name").unwrap_or("");
    match s.helpdesk.set_display_name(&actor, value).await {
        Ok(p) => profile_page(
            &ctx,
            Some(&p.display_name),
            &p.display_name,
            &Vec::new(),
            true,
            StatusCode::OK,
        ),
        Err(e) => match form_errors(&e) {
            Some((status, errors)) => profile_page(&ctx, None, value, &errors, false, status),
            None => app_error(&ctx, e),
        },
    }
}
