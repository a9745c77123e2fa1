//! Console: community moderation. The reports queue, every topic (hidden ones included), and a
//! topic page with hide/lock/pin per topic and hide per reply, resolving reports, a staff reply
//! and "Turn into ticket". Admins add categories here too. Forms post without JavaScript.

use super::pages::{app_error_page, check_csrf, field, page, render, FormData};
use super::session::{urlencode, ConsoleUser};
use super::view::{self, csrf_field, flash, layout};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use helpdesk_app::forums::{AcceptInput, CategoryInput, Moderation, NewPost, PostView, TopicView};
use helpdesk_app::AppError;
use helpdesk_domain::forum::{ModAction, Target};
use helpdesk_domain::{PostId, TopicId};
use maud::{html, Markup, PreEscaped};

#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
}

pub async fn home(
    State(s): State<AppState>,
    user: ConsoleUser,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let cursor = q.ok().and_then(|Query(q)| q.cursor);
    home_page(&s, &user, cursor, None, StatusCode::OK).await
}

async fn home_page(
    s: &AppState,
    user: &ConsoleUser,
    cursor: Option<String>,
    banner: Option<Markup>,
    status: StatusCode,
) -> Response {
    let reports = match s.helpdesk.list_reports(&user.actor, None, Some(50)).await {
        Ok(r) => r,
        Err(e) => return app_error_page(user, e),
    };
    let topics = match s
        .helpdesk
        .list_all_topics(&user.actor, cursor, Some(25))
        .await
    {
        Ok(t) => t,
        Err(e) => return app_error_page(user, e),
    };
    let cats = s.helpdesk.forum_categories().await.unwrap_or_default();
    let admin = helpdesk_domain::forum::can_manage_categories(Some(&user.actor));
    let email = user.email();
    let body = html! {
        h1 { "Community" }
        @if let Some(b) = banner { (b) }
        section aria-labelledby="reports-h" {
            h2 #reports-h { "Reports to review (" (reports.items.len()) ")" }
            @if reports.items.is_empty() {
                p.muted { "Nothing reported." }
            } @else {
                ul.reports {
                    @for r in &reports.items {
                        li.card {
                            p {
                                a href={"/app/community/topics/" (r.case.topic_id)} { (r.topic_title) }
                                @if r.case.post_id.is_some() { " · a reply" } @else { " · the topic" }
                                " · " strong { (r.case.count) } @if r.case.count == 1 { " report" } @else { " reports" }
                                @if r.hidden { " " span.badge { "Hidden" } }
                            }
                            blockquote { (r.excerpt) }
                            ul.muted {
                                @for e in &r.case.reasons {
                                    li { (view::label(e.reason.as_str())) @if let Some(d) = &e.details { ": " (d) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="topics-h" {
            h2 #topics-h { "Topics" }
            @if topics.items.is_empty() {
                p.muted { "No topics yet." }
            } @else {
                div.community-scroll { table.tickets {
                    thead { tr { th scope="col" { "Topic" } th scope="col" { "Author" } th scope="col" { "Replies" } th scope="col" { "State" } th scope="col" { "Last activity" } } }
                    tbody {
                        @for t in &topics.items {
                            tr {
                                td { a href={"/app/community/topics/" (t.id)} { (t.title) } }
                                td { (t.author.display_name) @if let Some(e) = &t.author.email { br; span.muted { (e.as_str()) } } }
                                td { (t.reply_count) }
                                td { (states(t.pinned, t.locked, t.hidden, t.answered, t.continued_privately)) }
                                td { (view::time(&t.last_activity_at)) }
                            }
                        }
                    }
                } }
                @if let Some(next) = &topics.next_cursor {
                    p { a href={"/app/community?cursor=" (urlencode(next))} { "Older topics" } }
                }
            }
        }
        section aria-labelledby="cats-h" {
            h2 #cats-h { "Categories" }
            ul {
                @for c in &cats {
                    li { a href={"/help/community/" (c.slug)} { (c.name) } " " span.muted { "(" (c.slug) ", order " (c.order) ")" } }
                }
            }
            @if admin {
                details {
                    summary { "Add a category" }
                    form.stack method="post" action="/app/community/categories" {
                        (csrf_field(&user.csrf))
                        label for="cat-slug" { "Slug (URL name)" }
                        input #cat-slug type="text" name="slug" required pattern="[a-z0-9-]{2,40}";
                        label for="cat-name" { "Name" }
                        input #cat-name type="text" name="name" required;
                        label for="cat-desc" { "Description" }
                        input #cat-desc type="text" name="description";
                        label for="cat-order" { "Order" }
                        input #cat-order type="number" name="order" min="0" value="0";
                        button type="submit" { "Add category" }
                    }
                }
            }
        }
    };
    render(
        status,
        layout(&page(user, &email, "Community", "community"), body),
    )
}

fn states(pinned: bool, locked: bool, hidden: bool, answered: bool, ticket: bool) -> Markup {
    html! {
        @if pinned { span.badge { "Pinned" } " " }
        @if locked { span.badge { "Locked" } " " }
        @if hidden { span.badge.status-closed { "Hidden" } " " }
        @if answered { span.badge.status-resolved { "Answered" } " " }
        @if ticket { span.badge { "Ticket" } }
    }
}

pub async fn create_category(
    State(s): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&s, &user, &form, &headers) {
        return r;
    }
    let order = match field(&form, "order")
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        Some(o) => match o.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                let b = flash("error", "order: must be a whole number, 0 or more");
                return home_page(&s, &user, None, Some(b), StatusCode::UNPROCESSABLE_ENTITY).await;
            }
        },
        None => None,
    };
    let input = CategoryInput {
        slug: field(&form, "slug").map(str::to_string),
        name: field(&form, "name").unwrap_or("").to_string(),
        description: field(&form, "description").map(str::to_string),
        order,
        version: None,
    };
    match s.helpdesk.create_forum_category(&user.actor, input).await {
        Ok(_) => Redirect::to("/app/community").into_response(),
        Err(e @ AppError::Validation { .. }) => {
            let b = flash("error", &e.to_string());
            home_page(&s, &user, None, Some(b), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => app_error_page(&user, e),
    }
}

fn topic_id(user: &ConsoleUser, raw: &str) -> Result<TopicId, Response> {
    TopicId::parse(raw).map_err(|_| app_error_page(user, AppError::NotFound { what: "topic" }))
}

fn mod_button(
    csrf: &str,
    id: &TopicId,
    post: Option<&PostId>,
    action: ModAction,
    text: &str,
) -> Markup {
    html! {
        form.inline method="post" action={"/app/community/topics/" (id) "/moderate"} {
            (csrf_field(csrf))
            input type="hidden" name="action" value=(action.as_str());
            @if let Some(p) = post { input type="hidden" name="post" value=(p); }
            button.secondary type="submit" { (text) }
        }
    }
}

fn post_block(user: &ConsoleUser, v: &TopicView, p: &PostView) -> Markup {
    let id = &v.topic.id;
    html! {
        article.card id={"post-" (p.id)} {
            p {
                strong { (p.author.display_name) }
                @if p.author.staff { " " span.badge { "Staff" } }
                @if let Some(e) = &p.author.email { " " span.muted { (e.as_str()) } }
                " · " (view::time(&p.created_at))
                " · " (p.votes) " votes"
                @if p.accepted { " " span.badge.status-resolved { "Accepted answer" } }
                @if p.hidden { " " span.badge.status-closed { "Hidden" } }
            }
            div.rendered { (PreEscaped(&p.html)) }
            div.actions {
                @if p.hidden {
                    (mod_button(&user.csrf, id, Some(&p.id), ModAction::Unhide, "Unhide reply"))
                } @else {
                    (mod_button(&user.csrf, id, Some(&p.id), ModAction::Hide, "Hide reply"))
                    @if !p.accepted {
                        form.inline method="post" action={"/app/community/topics/" (id) "/accept"} {
                            (csrf_field(&user.csrf))
                            input type="hidden" name="post" value=(p.id);
                            button.secondary type="submit" { "Accept as answer" }
                        }
                    }
                }
                @if v.reports.iter().any(|r| r.open && r.post_id == Some(p.id)) {
                    form.inline method="post" action={"/app/community/topics/" (id) "/resolve"} {
                        (csrf_field(&user.csrf))
                        input type="hidden" name="post" value=(p.id);
                        button.secondary type="submit" { "Resolve reports" }
                    }
                }
            }
        }
    }
}

async fn topic_page(
    s: &AppState,
    user: &ConsoleUser,
    id: &TopicId,
    banner: Option<Markup>,
    status: StatusCode,
) -> Response {
    let v = match s.helpdesk.topic_view(Some(&user.actor), id, None).await {
        Ok(v) => v,
        Err(e) => return app_error_page(user, e),
    };
    let t = &v.topic;
    let email = user.email();
    let topic_reports = v.reports.iter().find(|r| r.post_id.is_none() && r.open);
    let body = html! {
        p { a href="/app/community" { "← Community" } " · " a href={"/help/community/topics/" (t.id)} { "Public page" } }
        h1 { (t.title) }
        @if let Some(b) = banner { (b) }
        p {
            (states(t.pinned, t.locked, t.hidden, t.answered, t.continued_privately))
            " by " strong { (t.author.display_name) }
            @if let Some(e) = &t.author.email { " " span.muted { (e.as_str()) } }
            " · " (view::time(&t.created_at)) " · " (t.votes) " votes"
        }
        div.card { div.rendered { (PreEscaped(&v.html)) } }
        div.actions {
            @if t.hidden { (mod_button(&user.csrf, &t.id, None, ModAction::Unhide, "Unhide topic")) } @else { (mod_button(&user.csrf, &t.id, None, ModAction::Hide, "Hide topic")) }
            @if t.locked { (mod_button(&user.csrf, &t.id, None, ModAction::Unlock, "Unlock")) } @else { (mod_button(&user.csrf, &t.id, None, ModAction::Lock, "Lock")) }
            @if t.pinned { (mod_button(&user.csrf, &t.id, None, ModAction::Unpin, "Unpin")) } @else { (mod_button(&user.csrf, &t.id, None, ModAction::Pin, "Pin")) }
            @if topic_reports.is_some() {
                form.inline method="post" action={"/app/community/topics/" (t.id) "/resolve"} {
                    (csrf_field(&user.csrf))
                    button.secondary type="submit" { "Resolve topic reports" }
                }
            }
            @match &v.ticket {
                Some(n) => { a.button href={"/app/tickets/" (n)} { "Open ticket " (n) } }
                None => {
                    @if !t.author.staff {
                        form.inline method="post" action={"/app/community/topics/" (t.id) "/ticket"} {
                            (csrf_field(&user.csrf))
                            button type="submit" { "Turn into ticket" }
                        }
                    }
                }
            }
        }
        @if !v.reports.is_empty() {
            h2 { "Reports" }
            ul {
                @for r in &v.reports {
                    li {
                        @if r.post_id.is_some() { "Reply" } @else { "Topic" }
                        ": " (r.count) " · " @if r.open { strong { "open" } } @else { "resolved" }
                        @for e in &r.reasons { " · " (view::label(e.reason.as_str())) }
                    }
                }
            }
        }
        h2 { (v.posts.len()) " replies" }
        @for p in &v.posts { (post_block(user, &v, p)) }
        section aria-labelledby="staff-reply-h" {
            h2 #staff-reply-h { "Reply as staff" }
            form.stack method="post" action={"/app/community/topics/" (t.id) "/reply"} {
                (csrf_field(&user.csrf))
                label for="staff-reply" { "Reply (public, shown with a staff badge)" }
                textarea #staff-reply name="body" rows="4" required {}
                button type="submit" { "Post reply" }
            }
        }
        @if !v.events.is_empty() {
            h2 { "Moderation history" }
            ol {
                @for e in &v.events {
                    li {
                        (view::label(&e.action)) @if e.post_id.is_some() { " (reply)" }
                        " by " (e.actor.id) " · " (view::time(&e.at))
                        @if let Some(n) = &e.note { " — " (n) }
                    }
                }
            }
        }
    };
    render(
        status,
        layout(&page(user, &email, &t.title, "community"), body),
    )
}

pub async fn topic(
    State(s): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
) -> Response {
    let id = match topic_id(&user, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    topic_page(&s, &user, &id, None, StatusCode::OK).await
}

async fn after(
    s: &AppState,
    user: &ConsoleUser,
    id: &TopicId,
    result: Result<(), AppError>,
) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/app/community/topics/{id}")).into_response(),
        Err(e @ (AppError::Validation { .. } | AppError::Rule(_) | AppError::Conflict { .. })) => {
            let status = if matches!(e, AppError::Conflict { .. }) {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            topic_page(s, user, id, Some(flash("error", &e.to_string())), status).await
        }
        Err(e) => app_error_page(user, e),
    }
}

fn post_field(form: &FormData) -> Result<Option<PostId>, AppError> {
    field(form, "post")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| PostId::parse(p).map_err(|e| AppError::validation("post", e.message)))
        .transpose()
}

pub async fn moderate(
    State(s): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&s, &user, &form, &headers) {
        return r;
    }
    let id = match topic_id(&user, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let result = async {
        let action = ModAction::parse(field(&form, "action").unwrap_or(""))
            .map_err(|e| AppError::validation("action", e.message))?;
        let input = Moderation {
            action,
            post: post_field(&form)?,
            note: field(&form, "note")
                .map(str::to_string)
                .filter(|n| !n.trim().is_empty()),
            version: None,
        };
        s.helpdesk
            .moderate(&user.actor, &id, input)
            .await
            .map(|_| ())
    }
    .await;
    after(&s, &user, &id, result).await
}

pub async fn resolve(
    State(s): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&s, &user, &form, &headers) {
        return r;
    }
    let id = match topic_id(&user, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let result = async {
        let target = post_field(&form)?
            .map(Target::Post)
            .unwrap_or(Target::Topic);
        s.helpdesk
            .resolve_reports(&user.actor, &id, target, field(&form, "note"))
            .await
            .map(|_| ())
    }
    .await;
    after(&s, &user, &id, result).await
}

pub async fn accept(
    State(s): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&s, &user, &form, &headers) {
        return r;
    }
    let id = match topic_id(&user, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let result = async {
        let input = AcceptInput {
            post: post_field(&form)?,
            version: None,
        };
        s.helpdesk
            .accept_answer(&user.actor, &id, input)
            .await
            .map(|_| ())
    }
    .await;
    after(&s, &user, &id, result).await
}

pub async fn reply(
    State(s): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&s, &user, &form, &headers) {
        return r;
    }
    let id = match topic_id(&user, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let input = NewPost {
        body: field(&form, "body").unwrap_or("").to_string(),
        display_name: None,
    };
    let result = s
        .helpdesk
        .reply_to_topic(&user.actor, &id, input)
        .await
        .map(|_| ());
    after(&s, &user, &id, result).await
}

pub async fn to_ticket(
    State(s): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&s, &user, &form, &headers) {
        return r;
    }
    let id = match topic_id(&user, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    match s
        .helpdesk
        .topic_to_ticket(&user.actor, &id, &crate::routes::forums::topic_link(&id))
        .await
    {
        Ok(t) => Redirect::to(&format!("/app/tickets/{}", t.number)).into_response(),
        Err(e) => after(&s, &user, &id, Err(e)).await,
    }
}
