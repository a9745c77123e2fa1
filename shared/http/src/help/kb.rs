//! Help centre: the public knowledge base. Home (search, topics, user types, popular
//! articles), search, topic pages, article pages with videos, related articles, translations
//! and "Was this helpful?", and the anonymous KB JSON API under `/help/api/kb` (`api.rs`).
//!
//! What a visitor reads is what the KB use cases let them read: anonymous visitors and
//! customers the `customers` articles, signed-in business owners also `business_owners` ones;
//! internal articles never, and an unknown, unpublished or internal article is the same 404.

pub(crate) mod api;

use super::layout::{message, page, respond, Meta, Section};
use super::locale::{clean_tag, pick, LANG_COOKIE};
use super::session::{cookie_header, HelpCtx};
use crate::AppState;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use helpdesk_app::kb::files::FileBase;
use helpdesk_app::kb::{FeedbackInput, LiveArticle, PublishedArticle};
use helpdesk_app::ratelimit::key_hash;
use helpdesk_app::AppError;
use helpdesk_domain::kb::{ArticleId, VideoHost};
use helpdesk_domain::Audience;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/help", get(home))
        .route("/help/", get(|| async { Redirect::permanent("/help") }))
        .route("/help/search", get(search))
        .route("/help/topics/{*topic}", get(topic))
        .route("/help/articles/{id}", get(article))
        .route("/help/articles/{id}/feedback", post(feedback))
        .merge(api::router())
}

/// Searches per visitor (network address, else visitor id) and minute.
const SEARCHES_PER_MINUTE: i64 = 60;
/// Results per search page; the KB returns at most 50 hits.
const PAGE_SIZE: usize = 10;
const SEARCH_HITS: usize = 50;

// ---------------------------------------------------------------------------------------------
// Small pure helpers.

/// The player URL for a stored video, rebuilt from its host and id; `None` unless the id is
/// exactly what YouTube (11 of `A-Z a-z 0-9 _ -`) or Vimeo (digits) uses, so nothing else can
/// ever reach an `<iframe src>`.
pub(crate) fn embed_src(host: VideoHost, id: &str) -> Option<String> {
    match host {
        VideoHost::Youtube => (id.len() == 11
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| format!("https://www.youtube-nocookie.com/embed/{id}")),
        VideoHost::Vimeo => ((1..=12).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("https://player.vimeo.com/video/{id}?dnt=1")),
    }
}

/// A link's video (YouTube or Vimeo page URL) as its player URL, `None` for anything else.
#[cfg(test)]
pub(crate) fn embed_url_for_link(link: &str) -> Option<String> {
    let v = helpdesk_domain::kb::Video::parse(link).ok()?;
    embed_src(v.host, &v.id)
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
pub(crate) fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn topic_href(path: &[String]) -> String {
    let parts: Vec<String> = path.iter().map(|p| path_segment(p)).collect();
    format!("/help/topics/{}", parts.join("/"))
}

pub(crate) fn article_href(id: &ArticleId, lang: Option<&str>) -> String {
    match lang {
        Some(l) => format!("/help/articles/{id}?lang={}", path_segment(l)),
        None => format!("/help/articles/{id}"),
    }
}

/// A language's own name for the picker; the tag itself for ones not listed.
pub(crate) fn language_name(tag: &str) -> String {
    let lower = tag.to_ascii_lowercase();
    let name = match lower.as_str() {
        "en" => "English",
        "en-gb" => "English (UK)",
        "en-us" => "English (US)",
        "de" => "Deutsch",
        "fr" => "Français",
        "es" => "Español",
        "it" => "Italiano",
        "pt" => "Português",
        "pt-br" => "Português (Brasil)",
        "pt-pt" => "Português (Portugal)",
        "nl" => "Nederlands",
        "sv" => "Svenska",
        "da" => "Dansk",
        "nb" | "no" => "Norsk",
        "fi" => "Suomi",
        "pl" => "Polski",
        "cs" => "Čeština",
        "tr" => "Türkçe",
        "ru" => "Русский",
        "uk" => "Українська",
        "ja" => "日本語",
        "zh" => "中文",
        "ko" => "한국어",
        "ar" => "العربية",
        "he" => "עברית",
        "hi" => "हिन्दी",
        _ => return tag.to_string(),
    };
    name.to_string()
}

/// The entries of a list in the visitor's language: one per translation group, the first of
/// `languages` the group has (any translation when none fits), in the list's order.
pub(crate) fn localise(list: &[LiveArticle], languages: &[String]) -> Vec<LiveArticle> {
    let mut groups: Vec<ArticleId> = Vec::new();
    let mut members: BTreeMap<ArticleId, Vec<&LiveArticle>> = BTreeMap::new();
    for a in list {
        if !members.contains_key(&a.group) {
            groups.push(a.group);
        }
        members.entry(a.group).or_default().push(a);
    }
    groups
        .iter()
        .filter_map(|g| {
            let m = members.get(g)?;
            let locales: Vec<String> = m.iter().map(|a| a.locale.clone()).collect();
            let chosen = pick(languages, &locales)
                .and_then(|l| m.iter().find(|a| a.locale == l))
                .or_else(|| m.first())?;
            Some((*chosen).clone())
        })
        .collect()
}

/// Who a visitor is for per-visitor limits: their network address when known (hashed, it
/// lands in a key), else their visitor id.
pub(crate) fn visitor_key(ctx: &HelpCtx) -> String {
    let raw = match ctx.ip {
        Some(ip) => format!("ip:{ip}"),
        None => format!("v:{}", ctx.visitor),
    };
    key_hash(&raw)
}

pub(crate) fn parse_audience(raw: Option<&str>) -> Option<Audience> {
    match raw.map(str::trim) {
        Some("customers") => Some(Audience::Customers),
        Some("business_owners") => Some(Audience::BusinessOwners),
        _ => None,
    }
}

fn audience_label(a: Audience) -> &'static str {
    match a {
        Audience::BusinessOwners => "Business owners",
        _ => "Customers",
    }
}

/// Adds the language cookie when the visitor picked a language (`?lang=`), so the next page
/// keeps it.
pub(crate) fn remember_language(mut resp: Response, picked: Option<&str>) -> Response {
    if let Some(tag) = picked.and_then(clean_tag) {
        if let Ok(v) = HeaderValue::from_str(&cookie_header(LANG_COOKIE, &tag, 365 * 24 * 3600)) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

fn error_page(ctx: &HelpCtx, e: &AppError) -> Response {
    match e {
        AppError::NotFound { .. } => not_found(ctx),
        AppError::RateLimited(why) => message(
            ctx,
            StatusCode::TOO_MANY_REQUESTS,
            "Please slow down",
            &format!("{why}."),
        ),
        AppError::Validation { message: m, .. } => {
            message(ctx, StatusCode::UNPROCESSABLE_ENTITY, "Check your input", m)
        }
        other => {
            tracing::error!(error = %other, "help centre page failed");
            message(
                ctx,
                StatusCode::SERVICE_UNAVAILABLE,
                "Something went wrong",
                "The help centre could not answer just now. Please try again in a moment.",
            )
        }
    }
}

/// The one answer for unknown, unpublished and internal articles alike.
pub(crate) fn not_found(ctx: &HelpCtx) -> Response {
    respond(
        StatusCode::NOT_FOUND,
        page(
            ctx,
            &Meta::new("Page not found", Section::Articles),
            html! {
                h1 { "Page not found" }
                p { "We could not find that page. It may have moved, or the link may be mistyped." }
                (search_form("", "q-404"))
                p { a href="/help" { "Back to the help centre" } }
            },
        ),
    )
}

fn search_form(q: &str, id: &str) -> Markup {
    html! {
        form.search role="search" method="get" action="/help/search" {
            label for=(id) { "Search the help centre" }
            div.search-row {
                input type="search" id=(id) name="q" value=(q) maxlength="200" autocomplete="off";
                button type="submit" { "Search" }
            }
        }
    }
}

fn article_list(items: &[LiveArticle]) -> Markup {
    html! {
        ul.plain.articles {
            @for a in items {
                li {
                    a href=(article_href(&a.id, None)) lang=(a.locale) { (a.title) }
                    @if !a.summary.is_empty() { p.hint { (a.summary) } }
                }
            }
        }
    }
}

/// The live articles this visitor may read (at most the KB's listing bound).
async fn readable(s: &AppState, ctx: &HelpCtx) -> Result<Vec<LiveArticle>, AppError> {
    s.helpdesk
        .readable_live_articles(ctx.actor().as_ref())
        .await
}

fn locales_of(list: &[LiveArticle]) -> Vec<(String, String)> {
    let mut tags: Vec<String> = list.iter().map(|a| a.locale.clone()).collect();
    tags.sort();
    tags.dedup();
    tags.into_iter()
        .map(|t| {
            let name = language_name(&t);
            (t, name)
        })
        .collect()
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct LangQuery {
    lang: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Pages.

async fn home(
    State(s): State<AppState>,
    ctx: HelpCtx,
    q: Result<Query<LangQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let picked = q.ok().and_then(|Query(q)| q.lang);
    let all = match readable(&s, &ctx).await {
        Ok(a) => a,
        Err(e) => return error_page(&ctx, &e),
    };
    let list = localise(&all, &ctx.languages);
    let mut topics: BTreeMap<String, usize> = BTreeMap::new();
    for a in &list {
        if let Some(t) = a.topic.first() {
            *topics.entry(t.clone()).or_default() += 1;
        }
    }
    let mut popular: Vec<LiveArticle> = list.iter().filter(|a| a.views > 0).cloned().collect();
    popular.sort_by_key(|a| std::cmp::Reverse(a.views));
    popular.truncate(5);
    let recent: Vec<LiveArticle> = list.iter().take(5).cloned().collect();
    let languages = locales_of(&all);
    let lang = pick(
        &ctx.languages,
        &languages.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(),
    )
    .unwrap_or_else(|| "en".into());
    let mut meta = Meta::new("Help centre", Section::Articles);
    meta.languages = &languages;
    meta.lang = &lang;
    meta.description = Some("Answers to common questions, guides and video tutorials.");
    let body = html! {
        section.hero {
            h1 { "How can we help?" }
            (search_form("", "q-home"))
        }
        section aria-labelledby="topics-h" {
            h2 #topics-h { "Browse by topic" }
            @if topics.is_empty() {
                p.muted { "There are no articles yet." }
            } @else {
                ul.tiles {
                    @for (t, n) in &topics {
                        li { a.tile href=(topic_href(std::slice::from_ref(t))) { span.tile-title { (t) } span.hint { (n) @if *n == 1 { " article" } @else { " articles" } } } }
                    }
                }
            }
        }
        section aria-labelledby="types-h" {
            h2 #types-h { "Browse by user type" }
            ul.tiles {
                li { a.tile href="/help/search?audience=customers" { span.tile-title { "Customers" } span.hint { "Using our service" } } }
                li { a.tile href="/help/search?audience=business_owners" { span.tile-title { "Business owners" } span.hint { "Running your business with us" } } }
            }
        }
        @if !popular.is_empty() {
            section aria-labelledby="popular-h" {
                h2 #popular-h { "Popular articles" }
                (article_list(&popular))
            }
        }
        @if !recent.is_empty() {
            section aria-labelledby="recent-h" {
                h2 #recent-h { "Recently published" }
                (article_list(&recent))
            }
        }
        section.card.contact {
            h2 { "Still need help?" }
            p { "Send us a request and we will answer by e-mail." }
            a.button href="/help/requests/new" { "Contact us" }
        }
    };
    remember_language(
        respond(StatusCode::OK, page(&ctx, &meta, body)),
        picked.as_deref(),
    )
}

#[derive(Debug, Deserialize, Default)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    topic: Option<String>,
    audience: Option<String>,
    page: Option<String>,
}

fn search_href(q: &str, topic: Option<&str>, audience: Option<Audience>, page: usize) -> String {
    let mut params: Vec<(&str, String)> = Vec::new();
    if !q.is_empty() {
        params.push(("q", q.to_string()));
    }
    if let Some(t) = topic {
        params.push(("topic", t.to_string()));
    }
    if let Some(a) = audience {
        params.push(("audience", a.as_str().to_string()));
    }
    if page > 1 {
        params.push(("page", page.to_string()));
    }
    format!(
        "/help/search?{}",
        serde_urlencoded::to_string(&params).unwrap_or_default()
    )
}

/// One result row: an article and, for a text search, its highlighted snippet.
struct Row {
    id: ArticleId,
    title: String,
    locale: String,
    summary: String,
    snippet: Option<String>,
}

async fn search(
    State(s): State<AppState>,
    ctx: HelpCtx,
    q: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let p = q.map(|Query(p)| p).unwrap_or_default();
    let text = p.q.trim().to_string();
    if text.chars().count() > 200 {
        return message(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Search is too long",
            "Please search with at most 200 characters.",
        );
    }
    let topic_raw = p.topic.filter(|t| !t.trim().is_empty());
    let topic = match topic_raw
        .as_deref()
        .map(helpdesk_domain::kb::parse_topic_path)
        .transpose()
    {
        Ok(t) => t.filter(|t| !t.is_empty()),
        Err(_) => None,
    };
    let audience = parse_audience(p.audience.as_deref());
    let page_no = p
        .page
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, SEARCH_HITS / PAGE_SIZE);
    if let Err(e) = s
        .helpdesk
        .rate_limit(
            "help-search",
            &visitor_key(&ctx),
            SEARCHES_PER_MINUTE,
            60,
            "too many searches from here; please wait a minute",
        )
        .await
    {
        return error_page(&ctx, &e);
    }
    let all = match readable(&s, &ctx).await {
        Ok(a) => a,
        Err(e) => return error_page(&ctx, &e),
    };
    let by_id: BTreeMap<ArticleId, &LiveArticle> = all.iter().map(|a| (a.id, a)).collect();
    let fits = |a: &LiveArticle| {
        audience.is_none_or(|au| a.audiences.contains(&au))
            && topic.as_ref().is_none_or(|t| a.topic.starts_with(t))
    };
    let rows: Vec<Row> = if text.is_empty() {
        localise(&all, &ctx.languages)
            .into_iter()
            .filter(|a| fits(a))
            .map(|a| Row {
                id: a.id,
                title: a.title,
                locale: a.locale,
                summary: a.summary,
                snippet: None,
            })
            .collect()
    } else {
        let results = match s
            .helpdesk
            .search_kb(
                ctx.actor().as_ref(),
                &text,
                None,
                topic.clone(),
                SEARCH_HITS,
            )
            .await
        {
            Ok(r) => r,
            Err(e) => return error_page(&ctx, &e),
        };
        // One row per translation group, in the visitor's language when there is a choice.
        let mut seen: BTreeMap<ArticleId, usize> = BTreeMap::new();
        let mut rows: Vec<(ArticleId, Row)> = Vec::new();
        for h in results.hits {
            let Some(live) = by_id.get(&h.article_id) else {
                continue;
            };
            if !fits(live) {
                continue;
            }
            let row = Row {
                id: h.article_id,
                title: h.title,
                locale: h.locale,
                summary: h.summary,
                snippet: Some(h.snippet),
            };
            match seen.get(&live.group) {
                Some(&i) => {
                    let current = rows[i].1.locale.clone();
                    let better = pick(&ctx.languages, &[current.clone(), row.locale.clone()]);
                    if better.as_deref() == Some(row.locale.as_str()) && row.locale != current {
                        rows[i].1 = row;
                    }
                }
                None => {
                    seen.insert(live.group, rows.len());
                    rows.push((live.group, row));
                }
            }
        }
        rows.into_iter().map(|(_, r)| r).collect()
    };
    let total = rows.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page_no = page_no.min(pages);
    let shown: Vec<&Row> = rows
        .iter()
        .skip((page_no - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    let owner_hint = audience == Some(Audience::BusinessOwners)
        && !s
            .helpdesk
            .kb_reader_audiences(ctx.actor().as_ref())
            .await
            .map(|a| a.contains(&Audience::BusinessOwners))
            .unwrap_or(false);
    let title = if !text.is_empty() {
        format!("Search results for “{text}”")
    } else if let Some(a) = audience {
        format!("Articles for {}", audience_label(a).to_lowercase())
    } else if let Some(t) = &topic {
        t.join(" › ")
    } else {
        "All articles".to_string()
    };
    let meta = Meta::new(&title, Section::Articles);
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" { a href="/help" { "Help centre" } " › " span { "Search" } }
        (search_form(&text, "q-search"))
        h1 { (title) }
        @if owner_hint {
            p.notice {
                "Guides for business owners are shown to customers signed in with a business-owner account. "
                a href="/help/signin" { "Sign in" }
            }
        }
        @if total == 0 {
            div.card.empty {
                @if text.is_empty() {
                    p { "There are no articles here yet." }
                } @else {
                    p { "No articles match “" (text) "”." }
                    p.hint { "Try fewer or different words, or check the spelling." }
                }
                p { "Can't find what you need? " a href=(format!("/help/requests/new?subject={}", path_segment(&text))) { "Contact us" } "." }
            }
        } @else {
            p.muted role="status" {
                (total) @if total == 1 { " article" } @else { " articles" }
                @if pages > 1 { ", page " (page_no) " of " (pages) }
            }
            ol.plain.results {
                @for r in &shown {
                    li {
                        a href=(article_href(&r.id, Some(&r.locale))) lang=(r.locale) { (r.title) }
                        @if let Some(snip) = &r.snippet {
                            @if !snip.is_empty() { p.snippet { (PreEscaped(snip)) } }
                            @else if !r.summary.is_empty() { p.hint { (r.summary) } }
                        } @else if !r.summary.is_empty() {
                            p.hint { (r.summary) }
                        }
                    }
                }
            }
            @if pages > 1 {
                nav.pager aria-label="Result pages" {
                    @if page_no > 1 { a rel="prev" href=(search_href(&text, topic_raw.as_deref(), audience, page_no - 1)) { "← Previous" } }
                    @if page_no < pages { a rel="next" href=(search_href(&text, topic_raw.as_deref(), audience, page_no + 1)) { "Next →" } }
                }
            }
        }
    };
    respond(StatusCode::OK, page(&ctx, &meta, body))
}

async fn topic(State(s): State<AppState>, ctx: HelpCtx, Path(raw): Path<String>) -> Response {
    let Ok(path) = helpdesk_domain::kb::parse_topic_path(&raw) else {
        return not_found(&ctx);
    };
    if path.is_empty() {
        return Redirect::to("/help").into_response();
    }
    let all = match readable(&s, &ctx).await {
        Ok(a) => a,
        Err(e) => return error_page(&ctx, &e),
    };
    let list: Vec<LiveArticle> = localise(&all, &ctx.languages)
        .into_iter()
        .filter(|a| a.topic.starts_with(&path))
        .collect();
    if list.is_empty() {
        return not_found(&ctx);
    }
    let here: Vec<LiveArticle> = list
        .iter()
        .filter(|a| a.topic.len() == path.len())
        .cloned()
        .collect();
    let mut subtopics: BTreeMap<String, usize> = BTreeMap::new();
    for a in &list {
        if let Some(sub) = a.topic.get(path.len()) {
            *subtopics.entry(sub.clone()).or_default() += 1;
        }
    }
    let title = path.last().cloned().unwrap_or_default();
    let meta = Meta::new(&title, Section::Articles);
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/help" { "Help centre" }
            @for i in 0..path.len() - 1 {
                " › " a href=(topic_href(&path[..=i])) { (path[i]) }
            }
            " › " span aria-current="page" { (title) }
        }
        h1 { (title) }
        @if !subtopics.is_empty() {
            h2 { "Sub-topics" }
            ul.tiles {
                @for (sub, n) in &subtopics {
                    @let href = topic_href(&[path.as_slice(), std::slice::from_ref(sub)].concat());
                    li { a.tile href=(href) { span.tile-title { (sub) } span.hint { (n) @if *n == 1 { " article" } @else { " articles" } } } }
                }
            }
        }
        @if !here.is_empty() {
            h2 { "Articles" }
            (article_list(&here))
        }
        p { a href=(search_href("", Some(&path.join("/")), None, 1)) { "Search within " (title) } }
    };
    respond(StatusCode::OK, page(&ctx, &meta, body))
}

#[derive(Debug, Deserialize, Default)]
struct ArticleQuery {
    lang: Option<String>,
    voted: Option<String>,
}

/// The feedback form's state when it is shown again.
#[derive(Debug, Default)]
struct FeedbackState {
    rating: Option<String>,
    comment: String,
    error: Option<(String, String)>,
    notice: Option<String>,
}

/// The article to show for `id` in the visitor's language: the article itself, or its live
/// translation that fits the visitor's languages better.
async fn localised_article(
    s: &AppState,
    ctx: &HelpCtx,
    id: &ArticleId,
) -> Result<PublishedArticle, AppError> {
    let actor = ctx.actor();
    let a = s
        .helpdesk
        .get_published_article_at(actor.as_ref(), id, FileBase::HelpCentre)
        .await?;
    if a.audiences.iter().all(|x| *x == Audience::Internal) {
        return Err(AppError::NotFound { what: "article" });
    }
    let mut locales = vec![a.locale.clone()];
    locales.extend(a.translations.iter().map(|t| t.locale.clone()));
    let chosen = pick(&ctx.languages, &locales);
    match chosen {
        Some(l) if l != a.locale => {
            match a.translations.iter().find(|t| t.locale == l) {
                Some(t) => match s
                    .helpdesk
                    .get_published_article_at(actor.as_ref(), &t.article_id, FileBase::HelpCentre)
                    .await
                {
                    Ok(tr) => Ok(tr),
                    // Gone meanwhile: the one asked for still reads.
                    Err(AppError::NotFound { .. }) => Ok(a),
                    Err(e) => Err(e),
                },
                None => Ok(a),
            }
        }
        _ => Ok(a),
    }
}

async fn article(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path(id): Path<String>,
    q: Result<Query<ArticleQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let Ok(id) = ArticleId::parse(&id) else {
        return not_found(&ctx);
    };
    let a = match localised_article(&s, &ctx, &id).await {
        Ok(a) => a,
        Err(e) => return error_page(&ctx, &e),
    };
    if let Err(e) = s
        .helpdesk
        .record_article_view(ctx.actor().as_ref(), &a.id)
        .await
    {
        tracing::warn!(error = %e, article = %a.id, "counting a help centre view failed");
    }
    let state = FeedbackState {
        notice: q
            .voted
            .as_deref()
            .map(|_| "Thank you for your feedback! It helps us improve our articles.".to_string()),
        ..FeedbackState::default()
    };
    let resp = render_article(&s, &ctx, &a, state, StatusCode::OK).await;
    remember_language(resp, q.lang.as_deref())
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1024 * 1024 => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
        b if b >= 1024 => format!("{} KB", b.div_ceil(1024)),
        b => format!("{b} bytes"),
    }
}

async fn render_article(
    s: &AppState,
    ctx: &HelpCtx,
    a: &PublishedArticle,
    fb: FeedbackState,
    status: StatusCode,
) -> Response {
    let actor = ctx.actor();
    let mut related = Vec::new();
    for r in a.related.iter().take(8) {
        if let Ok(ra) = s
            .helpdesk
            .get_published_article_at(actor.as_ref(), r, FileBase::HelpCentre)
            .await
        {
            related.push(ra);
        }
    }
    let mut languages: Vec<(String, String)> = vec![(a.locale.clone(), language_name(&a.locale))];
    for t in &a.translations {
        if !languages.iter().any(|(l, _)| *l == t.locale) {
            languages.push((t.locale.clone(), language_name(&t.locale)));
        }
    }
    let mut meta = Meta::new(&a.title, Section::Articles);
    meta.lang = &a.locale;
    meta.languages = &languages;
    if !a.summary.is_empty() {
        meta.description = Some(&a.summary);
    }
    let action = format!("/help/articles/{}/feedback", a.id);
    let rating_err = fb.error.as_ref().filter(|(f, _)| f == "rating");
    let comment_err = fb.error.as_ref().filter(|(f, _)| f == "comment");
    let general_err = fb
        .error
        .as_ref()
        .filter(|(f, _)| f != "rating" && f != "comment");
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/help" { "Help centre" }
            @for i in 0..a.topic.len() {
                " › " a href=(topic_href(&a.topic[..=i])) { (a.topic[i]) }
            }
        }
        article.kb {
            h1 { (a.title) }
            @if !a.summary.is_empty() { p.lead { (a.summary) } }
            @if !a.translations.is_empty() {
                p.translations {
                    "Also available in: "
                    @for (i, t) in a.translations.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href=(article_href(&t.article_id, Some(&t.locale))) lang=(t.locale) hreflang=(t.locale) { (language_name(&t.locale)) }
                    }
                }
            }
            div.body { (PreEscaped(&a.body_html)) }
            @if !a.files.is_empty() {
                section.files aria-labelledby="files-h" {
                    h2 #files-h { "Files" }
                    ul.plain {
                        @for f in &a.files {
                            li { a href=(f.url) { (f.name) } " " span.hint { (f.content_type) ", " (human_size(f.size)) } }
                        }
                    }
                }
            }
            @for (i, v) in a.videos.iter().enumerate() {
                @if let Some(src) = embed_src(v.host, &v.id) {
                    figure.video-wrap {
                        div.video {
                            iframe src=(src) title=(format!("Video tutorial {}: {}", i + 1, a.title))
                                loading="lazy" allow="fullscreen; picture-in-picture; encrypted-media"
                                allowfullscreen referrerpolicy="strict-origin-when-cross-origin" {}
                        }
                        figcaption.hint { a href=(v.watch_url) rel="noopener" { "Watch video " (i + 1) " on " @match v.host { VideoHost::Youtube => "YouTube", VideoHost::Vimeo => "Vimeo" } } }
                    }
                }
            }
        }
        @if !related.is_empty() {
            section.related aria-labelledby="related-h" {
                h2 #related-h { "Related articles" }
                ul.plain {
                    @for r in &related { li { a href=(article_href(&r.id, None)) lang=(r.locale) { (r.title) } } }
                }
            }
        }
        section.card.feedback #feedback aria-labelledby="feedback-h" {
            @if let Some(n) = &fb.notice {
                h2 #feedback-h { "Thank you" }
                p role="status" { (n) }
            } @else {
                h2 #feedback-h { "Was this helpful?" }
                @if let Some((_, m)) = general_err { p.error role="alert" { (m) } }
                form method="post" action=(action) {
                    input type="hidden" name="_csrf" value=(ctx.csrf);
                    fieldset.rating {
                        legend { "Rate this article (optional)" }
                        @if let Some((_, m)) = rating_err { p.error #rating-error { (m) } }
                        div.stars {
                            @for n in 1..=5u8 {
                                @let v = n.to_string();
                                @let checked = fb.rating.as_deref() == Some(v.as_str());
                                label.star {
                                    input type="radio" name="rating" value=(v) checked[checked];
                                    span { (n) }
                                    span.sr-only { @if n == 1 { " star" } @else { " stars" } }
                                }
                            }
                        }
                    }
                    label for="fb-comment" { "Comment (optional)" }
                    @if let Some((_, m)) = comment_err { p.error #comment-error { (m) } }
                    textarea #fb-comment name="comment" maxlength="4000" rows="3"
                        aria-describedby=[comment_err.map(|_| "comment-error")] { (fb.comment) }
                    div.actions {
                        button type="submit" name="helpful" value="yes" { "Yes, it helped" }
                        button.secondary type="submit" name="helpful" value="no" { "No" }
                    }
                }
            }
        }
        p { "Still stuck? " a href="/help/requests/new" { "Contact us" } "." }
    };
    respond(status, page(ctx, &meta, body))
}

#[derive(Debug, Deserialize, Default)]
struct FeedbackForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    helpful: String,
    #[serde(default)]
    rating: String,
    #[serde(default)]
    comment: String,
}

async fn feedback(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path(id): Path<String>,
    form: Result<Form<FeedbackForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(id) = ArticleId::parse(&id) else {
        return not_found(&ctx);
    };
    let f = form.map(|Form(f)| f).unwrap_or_default();
    if !ctx.csrf_ok(&f.csrf) {
        return message(
            &ctx,
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form has expired. Go back, reload the page and try again.",
        );
    }
    let actor = ctx.actor();
    let a = match s
        .helpdesk
        .get_published_article_at(actor.as_ref(), &id, FileBase::HelpCentre)
        .await
    {
        Ok(a) => a,
        Err(e) => return error_page(&ctx, &e),
    };
    let mut state = FeedbackState {
        rating: Some(f.rating.trim().to_string()).filter(|r| !r.is_empty()),
        comment: f.comment.clone(),
        ..FeedbackState::default()
    };
    let helpful = match f.helpful.as_str() {
        "yes" => true,
        "no" => false,
        _ => {
            state.error = Some(("helpful".into(), "Choose “Yes” or “No”.".into()));
            return render_article(&s, &ctx, &a, state, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let rating = match state.rating.as_deref().map(str::parse::<u8>) {
        None => None,
        Some(Ok(n)) if (1..=5).contains(&n) => Some(n),
        Some(_) => {
            state.error = Some(("rating".into(), "Choose 1 to 5 stars.".into()));
            return render_article(&s, &ctx, &a, state, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let input = FeedbackInput {
        helpful,
        rating,
        comment: Some(f.comment.clone()).filter(|c| !c.trim().is_empty()),
        visitor_id: actor.is_none().then(|| ctx.visitor.clone()),
    };
    match s
        .helpdesk
        .article_feedback(actor.as_ref(), &id, input)
        .await
    {
        Ok(_) => Redirect::to(&format!("/help/articles/{id}?voted=1#feedback")).into_response(),
        Err(AppError::Conflict { .. }) => {
            state.notice = Some(
                "You have already told us whether this article helped — one vote per visitor. Thank you!"
                    .into(),
            );
            render_article(&s, &ctx, &a, state, StatusCode::CONFLICT).await
        }
        Err(AppError::Validation { field, message: m }) => {
            let field = if field == "comment" || field == "rating" {
                field
            } else {
                "helpful".into()
            };
            state.error = Some((field, m));
            render_article(&s, &ctx, &a, state, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(AppError::RateLimited(why)) => {
            state.error = Some(("helpful".into(), format!("{why}.")));
            render_article(&s, &ctx, &a, state, StatusCode::TOO_MANY_REQUESTS).await
        }
        Err(e) => error_page(&ctx, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_youtube_and_vimeo_ids_become_players() {
        assert_eq!(
            embed_src(VideoHost::Youtube, "dQw4w9WgXcQ").as_deref(),
            Some("https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ")
        );
        assert_eq!(
            embed_src(VideoHost::Vimeo, "76979871").as_deref(),
            Some("https://player.vimeo.com/video/76979871?dnt=1")
        );
        for bad in [
            "",
            "dQw4w9WgXc",
            "dQw4w9WgXcQQ",
            "dQw4w9WgX\"Q",
            "../../evil",
            "a b c d e f",
        ] {
            assert_eq!(embed_src(VideoHost::Youtube, bad), None, "{bad}");
        }
        for bad in ["", "12a", "1234567890123", "1/2", "76979871?x=1"] {
            assert_eq!(embed_src(VideoHost::Vimeo, bad), None, "{bad}");
        }
    }

    #[test]
    fn links_from_other_sites_are_refused() {
        assert_eq!(
            embed_url_for_link("https://www.youtube.com/watch?v=dQw4w9WgXcQ").as_deref(),
            Some("https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ")
        );
        assert_eq!(
            embed_url_for_link("https://vimeo.com/76979871").as_deref(),
            Some("https://player.vimeo.com/video/76979871?dnt=1")
        );
        for bad in [
            "https://evil.example/watch?v=dQw4w9WgXcQ",
            "javascript:alert(1)",
            "https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ",
            "not a url",
        ] {
            assert_eq!(embed_url_for_link(bad), None, "{bad}");
        }
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(path_segment("Billing & refunds"), "Billing%20%26%20refunds");
        assert_eq!(
            topic_href(&["A/B".into(), "ü".into()]),
            "/help/topics/A%2FB/%C3%BC"
        );
    }

    fn live(id: &str, group: &str, locale: &str) -> LiveArticle {
        LiveArticle {
            id: ArticleId::parse(id).expect("id"),
            group: ArticleId::parse(group).expect("id"),
            title: id.into(),
            summary: String::new(),
            topic: Vec::new(),
            audiences: vec![Audience::Customers],
            locale: locale.into(),
            published_at: None,
            views: 0,
        }
    }

    #[test]
    fn one_entry_per_group_in_the_visitors_language() {
        let a = "kb_01HZZZZZZZZZZZZZZZZZZZZZZA";
        let b = "kb_01HZZZZZZZZZZZZZZZZZZZZZZB";
        let c = "kb_01HZZZZZZZZZZZZZZZZZZZZZZC";
        let list = vec![live(a, a, "en"), live(b, a, "de"), live(c, c, "fr")];
        let de: Vec<String> = localise(&list, &["de".into(), "en".into()])
            .iter()
            .map(|x| x.locale.clone())
            .collect();
        assert_eq!(de, ["de", "fr"]);
        let en: Vec<String> = localise(&list, &["en".into()])
            .iter()
            .map(|x| x.locale.clone())
            .collect();
        assert_eq!(en, ["en", "fr"]);
    }
}
