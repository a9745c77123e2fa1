//! Knowledge-base pages of the console: list with filters, editor with a server-rendered
//! Markdown preview (htmx), article page with workflow buttons by role, review comments and
//! feedback, version history with diff, internal search, and the ticket page's suggestions.

use super::pages::{app_error_page, check_csrf, field, non_empty, page, render, FormData};
use super::session::ConsoleUser;
use super::view::{self, csrf_field, flash, layout};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use helpdesk_app::kb::{ArticleFilter, ArticleInput, KbSearchHit, StepInput};
use helpdesk_app::AppError;
use helpdesk_domain::kb::{parse_topic_path, ArticleContent, ArticleId, ArticleStatus, KbAction};
use helpdesk_domain::Audience;
use maud::{html, Markup, PreEscaped};

fn get<'a>(params: &'a FormData, name: &str) -> &'a str {
    field(params, name).unwrap_or("")
}

fn status_badge(s: ArticleStatus) -> Markup {
    html! { span class={"badge kb-" (s.as_str())} { (view::label(s.as_str())) } }
}

fn parse_id(user: &ConsoleUser, raw: &str) -> Result<ArticleId, Response> {
    ArticleId::parse(raw).map_err(|_| app_error_page(user, AppError::NotFound { what: "article" }))
}

// ---------- list ----------

pub async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(params): Query<FormData>,
) -> Response {
    let email = user.email();
    let filter = (|| -> Result<ArticleFilter, AppError> {
        Ok(ArticleFilter {
            status: non_empty(&params, "status")
                .map(ArticleStatus::parse)
                .transpose()
                .map_err(|e| AppError::validation("status", e.message))?,
            audience: non_empty(&params, "audience").and_then(Audience::parse),
            topic: non_empty(&params, "topic")
                .map(parse_topic_path)
                .transpose()?,
            locale: non_empty(&params, "locale").map(str::to_string),
            limit: 50,
            cursor: non_empty(&params, "cursor").map(str::to_string),
        })
    })();
    let result = match filter {
        Ok(f) => state.helpdesk.list_articles(&user.actor, f).await,
        Err(e) => Err(e),
    };
    let articles = match result {
        Ok(p) => p,
        Err(e) => return app_error_page(&user, e),
    };
    let p = page(&user, &email, "Knowledge base", "kb");
    let status_opts: Vec<(&str, String)> = std::iter::once(("", "Any".to_string()))
        .chain(
            ArticleStatus::ALL
                .iter()
                .map(|s| (s.as_str(), view::label(s.as_str()))),
        )
        .collect();
    let audience_opts: Vec<(&str, String)> = std::iter::once(("", "Any".to_string()))
        .chain(
            Audience::ALL
                .iter()
                .map(|a| (a.as_str(), view::label(a.as_str()))),
        )
        .collect();
    let next = articles.next_cursor.as_ref().map(|c| {
        let mut q: Vec<(String, String)> = params
            .iter()
            .filter(|(k, v)| k != "cursor" && !v.is_empty())
            .cloned()
            .collect();
        q.push(("cursor".into(), c.clone()));
        serde_urlencoded::to_string(q).unwrap_or_default()
    });
    render(
        StatusCode::OK,
        layout(
            &p,
            html! {
                div.pagehead {
                    h1 { "Knowledge base" }
                    div.actions { a.button.primary href="/app/kb/new" { "Write an article" } }
                }
                (search_box("", None))
                form.filters method="get" action="/app/kb" aria-label="Filter articles" {
                    div { (view::select_options("status", "k-status", "Status", status_opts, get(&params, "status"))) }
                    div { (view::select_options("audience", "k-audience", "Audience", audience_opts, get(&params, "audience"))) }
                    div { label for="k-topic" { "Topic" } input #k-topic type="text" name="topic" value=(get(&params, "topic")) placeholder="Billing / Refunds"; }
                    div { label for="k-locale" { "Language" } input #k-locale type="text" name="locale" value=(get(&params, "locale")) placeholder="en"; }
                    div.f-go { button type="submit" { "Apply filters" } a href="/app/kb" { "Reset" } }
                }
                @if articles.items.is_empty() {
                    section.empty { h2 { "No articles match" } p { a href="/app/kb/new" { "Write the first one" } "." } }
                } @else {
                    table.tickets.kb-list {
                        caption.sr-only { "Articles" }
                        thead { tr { th scope="col" { "Title" } th scope="col" { "Status" } th scope="col" { "Audience" } th scope="col" { "Topic" } th scope="col" { "Language" } th scope="col" { "Updated" } } }
                        tbody {
                            @for a in &articles.items {
                                tr {
                                    td.subject data-label="Title" { a href={"/app/kb/" (a.id)} { (a.title) } @if a.published_version.is_some() && a.status != ArticleStatus::Published { " " span.badge.kb-published { "live v" (a.published_version.unwrap_or(0)) } } }
                                    td data-label="Status" { (status_badge(a.status)) }
                                    td data-label="Audience" { (a.audiences.iter().map(|x| view::label(x.as_str())).collect::<Vec<_>>().join(", ")) }
                                    td data-label="Topic" { (a.topic.join(" / ")) }
                                    td data-label="Language" { (a.locale) }
                                    td data-label="Updated" { (view::time(&a.updated_at)) }
                                }
                            }
                        }
                    }
                    @if let Some(q) = next { nav.pager aria-label="Pages" { a href={"/app/kb?" (q)} rel="next" { "Next page" } } }
                }
            },
        ),
    )
}

fn search_box(q: &str, ticket: Option<&str>) -> Markup {
    html! {
        form.kb-search method="get" action="/app/kb/search" role="search" aria-label="Search the knowledge base" {
            label for="kb-q" { "Search the knowledge base" }
            div.row {
                input #kb-q type="search" name="q" value=(q) placeholder="printer error E42" required;
                @if let Some(t) = ticket { input type="hidden" name="ticket" value=(t); }
                button type="submit" { "Search" }
            }
        }
    }
}

fn hit_list(hits: &[KbSearchHit], link_to: Option<(&str, &str)>) -> Markup {
    html! {
        ol.kb-hits {
            @for h in hits {
                li {
                    a href={"/app/kb/" (h.article_id)} { strong { (h.title) } }
                    " " span.muted { "score " (format!("{:.2}", h.score)) " · " (h.locale) }
                    // The snippet is escaped text with <mark> around matches, sanitised again.
                    p.snippet { (PreEscaped(&h.snippet)) }
                    @if let Some((ticket, csrf)) = link_to {
                        form method="post" action={"/app/tickets/" (ticket) "/kb-link"} {
                            (csrf_field(csrf))
                            input type="hidden" name="article_id" value=(h.article_id);
                            button.link type="submit" { "Link to " (ticket) }
                        }
                    }
                }
            }
        }
    }
}

// ---------- search ----------

pub async fn search(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(params): Query<FormData>,
) -> Response {
    let email = user.email();
    let q = get(&params, "q").trim().to_string();
    let ticket = non_empty(&params, "ticket");
    let result = if q.is_empty() {
        Ok(None)
    } else {
        state
            .helpdesk
            .search_kb(Some(&user.actor), &q, None, None, 20)
            .await
            .map(Some)
    };
    let results = match result {
        Ok(r) => r,
        Err(e) => return app_error_page(&user, e),
    };
    let p = page(&user, &email, "Knowledge base search", "kb");
    render(
        StatusCode::OK,
        layout(
            &p,
            html! {
                div.pagehead {
                    div {
                        p.crumb { a href="/app/kb" { "Knowledge base" } @if let Some(t) = ticket { " · for " a href={"/app/tickets/" (t)} { (t) } } }
                        h1 { "Search" }
                    }
                }
                (search_box(&q, ticket))
                @if let Some(r) = results {
                    @if r.hits.is_empty() {
                        section.empty { h2 { "Nothing found" } p { "The search was noted for the authors." } }
                    } @else {
                        (hit_list(&r.hits, ticket.map(|t| (t, user.csrf.as_str()))))
                    }
                }
            },
        ),
    )
}

/// The ticket page's knowledge-base panel: suggested articles and a search box. A failing
/// search index must not take the ticket page down, so errors become a note.
pub async fn ticket_panel(state: &AppState, user: &ConsoleUser, number: &str) -> Markup {
    let suggestions = state
        .helpdesk
        .suggested_articles_for_ticket(&user.actor, number, 5)
        .await;
    html! {
        section.kb-panel aria-labelledby="kb-h" {
            h2 #kb-h { "Knowledge base" }
            (search_box("", Some(number)))
            h3 { "Suggested articles" }
            @match &suggestions {
                Ok(hits) if hits.is_empty() => { p.muted { "No article matches this ticket yet." } }
                Ok(hits) => { (hit_list(hits, Some((number, user.csrf.as_str())))) }
                Err(_) => { p.muted { "Suggestions are unavailable right now." } }
            }
        }
    }
}

pub async fn link(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(ticket): Path<String>,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let id = match parse_id(&user, get(&form, "article_id")) {
        Ok(id) => id,
        Err(r) => return r,
    };
    match state
        .helpdesk
        .link_article_to_ticket(&user.actor, &ticket, &id)
        .await
    {
        Ok(_) => Redirect::to(&format!("/app/tickets/{ticket}")).into_response(),
        Err(e) => app_error_page(&user, e),
    }
}

// ---------- editor ----------

fn editor(
    user: &ConsoleUser,
    action: &str,
    content: Option<&ArticleContent>,
    version: Option<u64>,
    form: Option<&FormData>,
    error: Option<Markup>,
) -> Markup {
    // Values: what was just posted (after an error), else the stored content.
    let val = |name: &str, stored: String| -> String {
        form.and_then(|f| field(f, name))
            .map(str::to_string)
            .unwrap_or(stored)
    };
    let c = content;
    let title = val("title", c.map(|c| c.title.clone()).unwrap_or_default());
    let summary = val("summary", c.map(|c| c.summary.clone()).unwrap_or_default());
    let body = val("body", c.map(|c| c.body.clone()).unwrap_or_default());
    let topic = val("topic", c.map(|c| c.topic.join(" / ")).unwrap_or_default());
    let tags = val(
        "tags",
        c.map(|c| c.tags.iter().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default(),
    );
    let locale = val("locale", c.map(|c| c.locale.clone()).unwrap_or("en".into()));
    let videos = val(
        "videos",
        c.map(|c| {
            c.videos
                .iter()
                .map(|v| v.watch_url.clone())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default(),
    );
    let translation_of = val(
        "translation_of",
        c.and_then(|c| c.translation_of.map(|t| t.to_string()))
            .unwrap_or_default(),
    );
    let audience_on = |a: Audience| -> bool {
        match form {
            Some(f) => f.iter().any(|(k, v)| k == "audience" && v == a.as_str()),
            None => c.is_some_and(|c| c.audiences.contains(&a)),
        }
    };
    html! {
        @if let Some(e) = error { (e) }
        form.stack.kb-editor method="post" action=(action) {
            (csrf_field(&user.csrf))
            @if let Some(v) = version { input type="hidden" name="version" value=(v); }
            // Lets the preview resolve the article's uploaded files.
            @if let Some(id) = action.strip_prefix("/app/kb/").and_then(|r| r.strip_suffix("/edit")) { input type="hidden" name="article" value=(id); }
            label for="kb-title" { "Title" }
            input #kb-title type="text" name="title" value=(title) required maxlength="200";
            label for="kb-summary" { "Summary" }
            input #kb-summary type="text" name="summary" value=(summary) maxlength="500";
            fieldset {
                legend { "Audience" }
                @for a in Audience::ALL {
                    label.check { input type="checkbox" name="audience" value=(a.as_str()) checked[audience_on(a)]; " " (view::label(a.as_str())) }
                }
            }
            div.row {
                div { label for="kb-topic" { "Topic" } input #kb-topic type="text" name="topic" value=(topic) placeholder="Billing / Refunds"; }
                div { label for="kb-tags" { "Tags (comma-separated)" } input #kb-tags type="text" name="tags" value=(tags); }
                div { label for="kb-locale" { "Language" } input #kb-locale type="text" name="locale" value=(locale) required; }
            }
            label for="kb-translation" { "Translation of (article id, optional)" }
            input #kb-translation type="text" name="translation_of" value=(translation_of) placeholder="kb_…";
            label for="kb-body" { "Body (Markdown)" }
            textarea #kb-body name="body" rows="16" required
                hx-post="/app/kb/preview" hx-trigger="keyup changed delay:600ms, load" hx-target="#kb-preview" hx-include="[name=_csrf], [name=article]" { (body) }
            label for="kb-videos" { "Videos (YouTube or Vimeo links, one per line)" }
            textarea #kb-videos name="videos" rows="2" { (videos) }
            div.row {
                button.primary type="submit" { "Save as new version" }
                button type="button" hx-post="/app/kb/preview" hx-include="#kb-body, [name=_csrf], [name=article]" hx-target="#kb-preview" { "Preview" }
            }
        }
        section.kb-preview aria-labelledby="pv-h" {
            h2 #pv-h { "Preview" }
            div #kb-preview aria-live="polite" { p.muted { "The preview appears here as you type." } }
        }
    }
}

fn input_from_form(form: &FormData) -> Result<ArticleInput, AppError> {
    let list = |name: &str, sep: char| -> Vec<String> {
        get(form, name)
            .split(sep)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let audiences = form
        .iter()
        .filter(|(k, _)| k == "audience")
        .map(|(_, v)| {
            Audience::parse(v).ok_or_else(|| AppError::validation("audiences", "unknown audience"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ArticleInput {
        title: get(form, "title").to_string(),
        summary: get(form, "summary").to_string(),
        body: get(form, "body").to_string(),
        topic: list("topic", '/'),
        tags: list("tags", ','),
        audiences,
        locale: non_empty(form, "locale").map(str::to_string),
        translation_of: non_empty(form, "translation_of")
            .map(ArticleId::parse)
            .transpose()
            .map_err(|e| AppError::validation("translation_of", e.message))?,
        videos: list("videos", '\n'),
        // Files are managed beside the form (upload / remove); a save keeps them.
        attachments: None,
        related: Vec::new(),
        version: non_empty(form, "version")
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| AppError::validation("version", "is not a number"))
            })
            .transpose()?,
    })
}

pub async fn new_article(State(_state): State<AppState>, user: ConsoleUser) -> Response {
    let email = user.email();
    let p = page(&user, &email, "New article", "kb");
    render(
        StatusCode::OK,
        layout(
            &p,
            html! {
                p.crumb { a href="/app/kb" { "Knowledge base" } " / new" }
                h1 { "Write an article" }
                (editor(&user, "/app/kb", None, None, None, None))
            },
        ),
    )
}

pub async fn create(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let result = match input_from_form(&form) {
        Ok(input) => state.helpdesk.create_article(&user.actor, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(a) => Redirect::to(&format!("/app/kb/{}", a.id)).into_response(),
        Err(e @ (AppError::Validation { .. } | AppError::Rule(_))) => {
            let email = user.email();
            let p = page(&user, &email, "New article", "kb");
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                layout(
                    &p,
                    html! {
                        h1 { "Write an article" }
                        (editor(&user, "/app/kb", None, None, Some(&form), Some(flash("error", &e.to_string()))))
                    },
                ),
            )
        }
        Err(e) => app_error_page(&user, e),
    }
}

pub async fn edit(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
) -> Response {
    let id = match parse_id(&user, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    edit_page(&state, &user, &id, None, None, StatusCode::OK).await
}

pub(super) async fn edit_page(
    state: &AppState,
    user: &ConsoleUser,
    id: &ArticleId,
    form: Option<&FormData>,
    error: Option<Markup>,
    status: StatusCode,
) -> Response {
    let v = match state.helpdesk.get_article(&user.actor, id).await {
        Ok(v) => v,
        Err(e) => return app_error_page(user, e),
    };
    let email = user.email();
    let title = format!("Edit {}", v.article.content.title);
    let p = page(user, &email, &title, "kb");
    render(
        status,
        layout(
            &p,
            html! {
                p.crumb { a href="/app/kb" { "Knowledge base" } " / " a href={"/app/kb/" (id)} { (v.article.content.title) } " / edit" }
                h1 { "Edit article" }
                p.meta { (status_badge(v.article.status)) " · version " (v.article.latest_version)
                    @if let Some(live) = v.article.published_version { " · version " (live) " is live and stays live until you publish again" } }
                (editor(user, &format!("/app/kb/{id}/edit"), Some(&v.article.content), Some(v.article.version), form, error))
                (super::kb_files::files_section(user, id, v.article.latest_version, v.article.version, &v.article.content.attachments))
            },
        ),
    )
}

pub async fn save(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let id = match parse_id(&user, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let result = match input_from_form(&form) {
        Ok(input) => {
            state
                .helpdesk
                .update_article(&user.actor, &id, input, None)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/app/kb/{id}")).into_response(),
        Err(AppError::Conflict {
            current_version, ..
        }) => {
            let banner = html! {
                div.flash.flash-error role="alert" #conflict {
                    p { strong { "Someone else saved this article" } @if let Some(v) = current_version { " (it is now at version " (v) ")" } ". Your text is below, not saved; copy what you need and reload." }
                    p { a.button href={"/app/kb/" (id) "/edit"} { "Reload the article" } }
                }
            };
            edit_page(
                &state,
                &user,
                &id,
                Some(&form),
                Some(banner),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(e @ (AppError::Validation { .. } | AppError::Rule(_))) => {
            let msg = flash("error", &e.to_string());
            edit_page(
                &state,
                &user,
                &id,
                Some(&form),
                Some(msg),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => app_error_page(&user, e),
    }
}

/// htmx: the Markdown as readers will see it.
pub async fn preview(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    // In the edit page the preview knows the article, so its files show as they will.
    let article = match non_empty(&form, "article").map(ArticleId::parse) {
        Some(Ok(id)) => match state.helpdesk.get_article(&user.actor, &id).await {
            Ok(v) => Some((id, v.article)),
            Err(e) => return app_error_page(&user, e),
        },
        _ => None,
    };
    let result = match &article {
        Some((id, a)) => state.helpdesk.preview_markdown_with_files(
            &user.actor,
            get(&form, "body"),
            &a.content.attachments,
            &|i, _| super::kb_files::console_file_url(id, a.latest_version, i),
        ),
        None => state
            .helpdesk
            .preview_markdown(&user.actor, get(&form, "body")),
    };
    match result {
        // Sanitised by the use case (pulldown-cmark, then the shared HTML sanitiser).
        Ok(html) => render(StatusCode::OK, html! { div.kb-body { (PreEscaped(html)) } }),
        Err(e) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            flash("error", &e.to_string()),
        ),
    }
}

// ---------- article page ----------

pub async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
) -> Response {
    let id = match parse_id(&user, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    show_page(&state, &user, &id, None, StatusCode::OK).await
}

async fn show_page(
    state: &AppState,
    user: &ConsoleUser,
    id: &ArticleId,
    banner: Option<Markup>,
    status: StatusCode,
) -> Response {
    let v = match state.helpdesk.get_article(&user.actor, id).await {
        Ok(v) => v,
        Err(e) => return app_error_page(user, e),
    };
    // Feedback numbers are a side panel: a storage hiccup there should not hide the article.
    let fb = state
        .helpdesk
        .article_feedback_summary(&user.actor, id)
        .await
        .ok();
    let a = &v.article;
    let email = user.email();
    let p = page(user, &email, &a.content.title, "kb");
    let base = format!("/app/kb/{id}");
    // The body again, with the files pointing at the console's downloads.
    let body_html = helpdesk_app::kb::render::markdown_with_files(
        &a.content.body,
        &a.content.attachments,
        &|i, _| super::kb_files::console_file_url(id, a.latest_version, i),
    );
    render(
        status,
        layout(
            &p,
            html! {
                div.pagehead {
                    div {
                        p.crumb { a href="/app/kb" { "Knowledge base" } " / " (a.content.topic.join(" / ")) }
                        h1 { (a.content.title) }
                        p.meta {
                            (status_badge(a.status)) " · version " (a.latest_version)
                            @if let Some(live) = a.published_version { " · " span.badge.kb-published { "live: version " (live) } }
                            " · " (a.content.locale) " · for " (a.content.audiences.iter().map(|x| view::label(x.as_str())).collect::<Vec<_>>().join(", "))
                            " · updated " (view::time(&a.updated_at))
                            @if a.needs_reindex { " · " span.badge.mail-failed { "search index behind — run helpdesk reindex" } }
                        }
                    }
                    div.actions { a.button href={(base) "/edit"} { "Edit" } a.button href={(base) "/history"} { "History" } }
                }
                @if let Some(b) = banner { (b) }
                div.detail {
                    section.kb-article aria-label="Article" {
                        @if !a.content.summary.is_empty() { p.lead { (a.content.summary) } }
                        // Rendered from Markdown and sanitised by the use case.
                        div.kb-body { (PreEscaped(&body_html)) }
                        @if !a.content.attachments.is_empty() {
                            h2 { "Files" }
                            (super::kb_files::file_list(user, id, a.latest_version, &a.content.attachments, None))
                        }
                        @if !a.content.videos.is_empty() {
                            h2 { "Videos" }
                            ul { @for vid in &a.content.videos { li { a href=(vid.watch_url) rel="noopener noreferrer" target="_blank" { (vid.watch_url) } " (embedded as " code { (vid.embed_url) } ")" } } }
                        }
                        @if !v.translations.is_empty() {
                            h2 { "Translations" }
                            ul { @for t in &v.translations { li { a href={"/app/kb/" (t.article_id)} { (t.locale) ": " (t.title) } } } }
                        }
                    }
                    aside.props aria-label="Workflow" {
                        @if !v.allowed_actions.is_empty() {
                            form.stack method="post" action={(base) "/step"} {
                                h2 { "Workflow" }
                                (csrf_field(&user.csrf))
                                input type="hidden" name="version" value=(a.version);
                                label for="st-comment" { "Comment (required to request changes)" }
                                textarea #st-comment name="comment" rows="2" {}
                                div.row {
                                    @for act in &v.allowed_actions {
                                        button type="submit" name="action" value=(act.as_str()) class=[(*act == KbAction::Publish || *act == KbAction::Approve).then_some("primary")] { (view::label(act.as_str())) }
                                    }
                                }
                            }
                        }
                        section aria-labelledby="fb-h" {
                            h2 #fb-h { "Feedback" }
                            @if let Some(fb) = &fb {
                                ul.mini {
                                    li { (fb.stats.views) " views" }
                                    li { "Helpful: " (fb.stats.helpful_yes) " yes, " (fb.stats.helpful_no) " no"
                                        @if let Some(pct) = fb.stats.helpful_pct { " (" (pct) "%)" } }
                                    li { "Rating: " @if let Some(r) = fb.stats.avg_rating { (r) " / 5 from " (fb.stats.ratings) } @else { "none yet" } }
                                    li { (fb.stats.resolved_ticket_links) " resolved tickets link it" }
                                    li { (fb.stats.deflections) " deflections" }
                                }
                                @for c in &fb.comments {
                                    blockquote.fb { (c.comment.clone().unwrap_or_default()) footer { @if c.helpful { "helpful" } @else { "not helpful" } " · " (view::time(&c.at)) } }
                                }
                            } @else { p.muted { "Unavailable right now." } }
                        }
                        section aria-labelledby="rc-h" {
                            h2 #rc-h { "Review comments" }
                            @if v.comments.is_empty() { p.muted { "None yet." } }
                            ol.mini {
                                @for c in &v.comments {
                                    li { strong { (c.author.id) } @if let Some(act) = c.action { " (" (view::label(act.as_str())) ")" } " on version " (c.version) " · " (view::time(&c.at))
                                        div.body { (c.body) } }
                                }
                            }
                            form.stack method="post" action={(base) "/comment"} {
                                (csrf_field(&user.csrf))
                                label for="rc-body" { "Add a comment" }
                                textarea #rc-body name="body" rows="2" required {}
                                button type="submit" { "Comment" }
                            }
                        }
                        section.audit {
                            h2 { "History" }
                            ol { @for e in &v.audit { li { strong { (e.actor.id) } " " (e.action) @if let Some(n) = e.version { " v" (n) } " · " (view::time(&e.at)) } } }
                        }
                    }
                }
            },
        ),
    )
}

pub async fn step(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let id = match parse_id(&user, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let action = match KbAction::parse(get(&form, "action")) {
        Ok(a) => a,
        Err(e) => return app_error_page(&user, AppError::validation("action", e.message)),
    };
    let version = non_empty(&form, "version").and_then(|v| v.parse::<u64>().ok());
    let input = StepInput {
        comment: non_empty(&form, "comment").map(str::to_string),
        version,
    };
    match state
        .helpdesk
        .article_step(&user.actor, &id, action, input, None)
        .await
    {
        Ok(_) => Redirect::to(&format!("/app/kb/{id}")).into_response(),
        Err(AppError::Conflict { .. }) => {
            let banner = flash(
                "error",
                "Someone else changed this article; nothing was done. Check it and try again.",
            );
            show_page(&state, &user, &id, Some(banner), StatusCode::CONFLICT).await
        }
        Err(e @ (AppError::Validation { .. } | AppError::Rule(_))) => {
            let banner = flash("error", &e.to_string());
            show_page(
                &state,
                &user,
                &id,
                Some(banner),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => app_error_page(&user, e),
    }
}

pub async fn comment(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let id = match parse_id(&user, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let input = helpdesk_app::kb::CommentInput {
        body: get(&form, "body").to_string(),
    };
    match state
        .helpdesk
        .comment_on_article(&user.actor, &id, input)
        .await
    {
        Ok(_) => Redirect::to(&format!("/app/kb/{id}")).into_response(),
        Err(e @ AppError::Validation { .. }) => {
            let banner = flash("error", &e.to_string());
            show_page(
                &state,
                &user,
                &id,
                Some(banner),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => app_error_page(&user, e),
    }
}

// ---------- history ----------

pub async fn history(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    Query(params): Query<FormData>,
) -> Response {
    let id = match parse_id(&user, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let versions = match state.helpdesk.list_article_versions(&user.actor, &id).await {
        Ok(v) => v,
        Err(e) => return app_error_page(&user, e),
    };
    let newest = versions.first().map(|v| v.number).unwrap_or(1);
    let num = |name: &str, default: u64| {
        field(&params, name)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let (from, to) = (
        num("from", newest.saturating_sub(1).max(1)),
        num("to", newest),
    );
    let diff = if from != to {
        match state
            .helpdesk
            .diff_article_versions(&user.actor, &id, from, to)
            .await
        {
            Ok(d) => Some(d),
            Err(e) => return app_error_page(&user, e),
        }
    } else {
        None
    };
    let email = user.email();
    let p = page(&user, &email, "Version history", "kb");
    let opts: Vec<(String, String)> = versions
        .iter()
        .map(|v| {
            (
                v.number.to_string(),
                format!("{}{}", v.number, if v.live { " (live)" } else { "" }),
            )
        })
        .collect();
    let opt_refs = || opts.iter().map(|(a, b)| (a.as_str(), b.clone()));
    render(
        StatusCode::OK,
        layout(
            &p,
            html! {
                p.crumb { a href="/app/kb" { "Knowledge base" } " / " a href={"/app/kb/" (id)} { "article" } " / history" }
                h1 { "Version history" }
                form.filters method="get" action={"/app/kb/" (id) "/history"} aria-label="Compare versions" {
                    div { (view::select_options("from", "h-from", "From version", opt_refs(), &from.to_string())) }
                    div { (view::select_options("to", "h-to", "To version", opt_refs(), &to.to_string())) }
                    div.f-go { button type="submit" { "Compare" } }
                }
                @if let Some(d) = &diff {
                    section.kb-diff aria-label="Differences" {
                        h2 { "Version " (d.from) " → " (d.to) ": +" (d.lines_added) " −" (d.lines_removed) " lines" }
                        @if !d.fields.is_empty() {
                            ul.mini { @for c in &d.fields { li { (view::label(&c.field)) ": " code { (c.before.to_string()) } " → " code { (c.after.to_string()) } } } }
                        }
                        pre.diff {
                            @for l in &d.body {
                                @match l.change {
                                    helpdesk_app::kb::diff::LineChange::Added => { ins { "+ " (l.text) } "\n" }
                                    helpdesk_app::kb::diff::LineChange::Removed => { del { "− " (l.text) } "\n" }
                                    helpdesk_app::kb::diff::LineChange::Equal => { span { "  " (l.text) } "\n" }
                                }
                            }
                        }
                    }
                }
                table.tickets {
                    caption.sr-only { "Versions" }
                    thead { tr { th scope="col" { "Version" } th scope="col" { "Title" } th scope="col" { "By" } th scope="col" { "Saved" } th scope="col" { span.sr-only { "Actions" } } } }
                    tbody {
                        @for v in &versions {
                            tr {
                                td data-label="Version" { (v.number) @if v.live { " " span.badge.kb-published { "live" } } @if let Some(r) = v.restored_from { " " span.muted { "(restores " (r) ")" } } }
                                td data-label="Title" { (v.title) }
                                td data-label="By" { (v.author.id) }
                                td data-label="Saved" { (view::time(&v.created_at)) }
                                td.rowactions {
                                    @if v.number != newest {
                                        form method="post" action={"/app/kb/" (id) "/restore"} {
                                            (csrf_field(&user.csrf))
                                            input type="hidden" name="number" value=(v.number);
                                            button.link type="submit" { "Restore as new draft" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            },
        ),
    )
}

pub async fn restore(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let id = match parse_id(&user, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Some(n) = non_empty(&form, "number").and_then(|v| v.parse::<u64>().ok()) else {
        return app_error_page(&user, AppError::validation("number", "is not a version"));
    };
    match state
        .helpdesk
        .restore_article_version(&user.actor, &id, n, None)
        .await
    {
        Ok(_) => Redirect::to(&format!("/app/kb/{id}")).into_response(),
        Err(e) => app_error_page(&user, e),
    }
}
