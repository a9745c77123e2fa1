//! Knowledge base: the team writes and approves articles; anyone (signed in or not) reads the
//! published ones meant for them, searches, votes and records views and deflections.

use crate::auth::{Caller, VerifiedClaims};
use crate::extract::{bad_param, etag, if_match, in_query, ApiJson, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use helpdesk_app::kb::{
    ArticleDiff, ArticleFilter, ArticleInput, ArticlePage, ArticleSummary, ArticleView,
    CommentInput, DeflectionInput, FeedbackInput, FeedbackSummary, KbSearchHit, KbSearchResults,
    KbStats, LinkInput, LinkOutcome, PublishedArticle, ReindexReport, StepInput, VersionSummary,
};
use helpdesk_domain::kb::{
    parse_topic_path, Article, ArticleId, ArticleStatus, ArticleVersion, Feedback, KbAction,
    ReviewComment,
};
use helpdesk_domain::{Actor, Audience};
use serde::{Deserialize, Serialize};

/// The caller if they sent credentials, `None` for anonymous visitors. Credentials that do not
/// verify are still a 401: a broken token never silently becomes "anonymous".
pub struct MaybeCaller(pub Option<Actor>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
            || parts.extensions.get::<VerifiedClaims>().is_some();
        if !presented {
            return Ok(MaybeCaller(None));
        }
        Caller::from_request_parts(parts, state)
            .await
            .map(|Caller(a)| MaybeCaller(Some(a)))
    }
}

pub(crate) fn fail(e: impl Into<Problem>) -> Response {
    e.into().into_response()
}

pub(crate) fn article_id(raw: &str) -> Result<ArticleId, Response> {
    ArticleId::parse(raw).map_err(|_| fail(Problem::not_found("article not found")))
}

pub(crate) fn versioned(status: StatusCode, a: &Article) -> Response {
    (status, [etag(a.version)], Json(a)).into_response()
}

/// The `topic` query parameter: empty (or blank) is none; a control character anywhere, or a
/// level over the limits, is a 400 (its pattern in the document says the same).
pub(crate) fn topic_param(raw: Option<String>) -> Result<Option<Vec<String>>, Problem> {
    let Some(raw) = raw.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if raw.chars().any(char::is_control) {
        return Err(bad_param("topic", "must not contain control characters"));
    }
    if raw.trim().is_empty() {
        return Ok(None);
    }
    parse_topic_path(&raw)
        .map(Some)
        .map_err(|e| in_query(helpdesk_app::AppError::from(e), &["topic"]))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// draft, in_review, published, archived (empty: all)
    #[param(pattern = "^(draft|in_review|published|archived)?$")]
    status: Option<String>,
    /// internal, customers, business_owners (empty: all)
    #[param(pattern = "^(internal|customers|business_owners)?$")]
    audience: Option<String>,
    /// A topic path prefix, `Billing/Refunds`.
    #[param(pattern = r"^([^/\x00-\x1f\x7f-\x9f]{0,60}(/[^/\x00-\x1f\x7f-\x9f]{0,60}){0,4})?$")]
    topic: Option<String>,
    /// A language tag (`en`, `pt-BR`); empty: any.
    #[param(pattern = "^([A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*)?$")]
    locale: Option<String>,
    /// 1-200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
    /// `next_cursor` from the previous page; any other value is a 400.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/kb/articles", tag = "kb", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = ArticlePage), (status = 403, body = Problem), (status = 400, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<ArticlePage>, Response> {
    let nonempty = |o: Option<String>| o.filter(|v| !v.trim().is_empty());
    let status = nonempty(p.status)
        .map(|v| ArticleStatus::parse(&v).map_err(|e| fail(bad_param("status", e.message))))
        .transpose()?;
    let audience = nonempty(p.audience)
        .map(|v| {
            Audience::parse(v.trim()).ok_or_else(|| {
                fail(bad_param(
                    "audience",
                    "must be internal, customers or business_owners",
                ))
            })
        })
        .transpose()?;
    let topic = topic_param(p.topic).map_err(fail)?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(fail(bad_param("limit", "must be 1-200")));
    }
    s.helpdesk
        .list_articles(
            &actor,
            ArticleFilter {
                status,
                audience,
                topic,
                locale: nonempty(p.locale),
                limit,
                cursor: nonempty(p.cursor),
            },
        )
        .await
        .map(Json)
        .map_err(|e| fail(in_query(e, &["locale", "limit", "cursor"])))
}

/// Every save is a new version; the article starts as a draft.
#[utoipa::path(post, path = "/api/v1/kb/articles", tag = "kb", security(("bearer" = [])), request_body = ArticleInput,
    responses((status = 201, body = Article), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(s): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<ArticleInput>,
) -> Result<Response, ApiError> {
    let a = s.helpdesk.create_article(&actor, input).await?;
    Ok(versioned(StatusCode::CREATED, &a))
}

/// The team's view: newest version rendered, allowed workflow steps, review comments, history.
/// Anyone else gets 404 (read published articles at `/published`).
#[utoipa::path(get, path = "/api/v1/kb/articles/{id}", tag = "kb", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ArticleView), (status = 404, body = Problem)))]
pub async fn get_one(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let id = article_id(&id)?;
    let v = s.helpdesk.get_article(&actor, &id).await.map_err(fail)?;
    Ok(([etag(v.article.version)], Json(v)).into_response())
}

/// Saves new content as a new version (a draft; a published version stays live until the new
/// one is published). Send the `version` read, or `If-Match`: a stale one is a 409.
#[utoipa::path(put, path = "/api/v1/kb/articles/{id}", tag = "kb", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = ArticleInput,
    responses((status = 200, body = Article), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<ArticleInput>,
) -> Result<Response, Response> {
    let id = article_id(&id)?;
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    let a = s
        .helpdesk
        .update_article(&actor, &id, input, expected)
        .await
        .map_err(fail)?;
    Ok(versioned(StatusCode::OK, &a))
}

/// Only never-published drafts are deleted (by their author or a supervisor); anything that
/// was live is archived instead.
#[utoipa::path(delete, path = "/api/v1/kb/articles/{id}", tag = "kb", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn delete(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Response> {
    let id = article_id(&id)?;
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    s.helpdesk
        .delete_article(&actor, &id, expected)
        .await
        .map_err(fail)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The live version, for anyone allowed to read it: the team everything; customers the
/// customer articles (and business-owner ones when flagged); anonymous visitors the customer
/// articles. Drafts, archived and other audiences' articles are 404.
#[utoipa::path(get, path = "/api/v1/kb/articles/{id}/published", tag = "kb", security((), ("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = PublishedArticle), (status = 404, body = Problem)))]
pub async fn published(
    State(s): State<AppState>,
    MaybeCaller(actor): MaybeCaller,
    Path(id): Path<String>,
) -> Result<Json<PublishedArticle>, Response> {
    let id = article_id(&id)?;
    s.helpdesk
        .get_published_article(actor.as_ref(), &id)
        .await
        .map(Json)
        .map_err(fail)
}

#[utoipa::path(get, path = "/api/v1/kb/articles/{id}/versions", tag = "kb", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Vec<VersionSummary>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn versions(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<VersionSummary>>, Response> {
    let id = article_id(&id)?;
    s.helpdesk
        .list_article_versions(&actor, &id)
        .await
        .map(Json)
        .map_err(fail)
}

#[utoipa::path(get, path = "/api/v1/kb/articles/{id}/versions/{number}", tag = "kb", security(("bearer" = [])),
    params(("id" = String, Path), ("number" = u64, Path)),
    responses((status = 200, body = ArticleVersion), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn version(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path((id, number)): Path<(String, String)>,
) -> Result<Json<ArticleVersion>, Response> {
    let id = article_id(&id)?;
    let n = number
        .parse::<u64>()
        .map_err(|_| fail(Problem::not_found("version not found")))?;
    s.helpdesk
        .get_article_version(&actor, &id, n)
        .await
        .map(Json)
        .map_err(fail)
}

/// Makes an old version's content the newest version, as a draft.
#[utoipa::path(post, path = "/api/v1/kb/articles/{id}/versions/{number}/restore", tag = "kb", security(("bearer" = [])),
    params(("id" = String, Path), ("number" = u64, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = Article), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn restore(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path((id, number)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let id = article_id(&id)?;
    let n = number
        .parse::<u64>()
        .map_err(|_| fail(Problem::not_found("version not found")))?;
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    let a = s
        .helpdesk
        .restore_article_version(&actor, &id, n, expected)
        .await
        .map_err(fail)?;
    Ok(versioned(StatusCode::OK, &a))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffParams {
    from: u64,
    to: u64,
}

/// Field changes and a line diff of the body between two versions.
#[utoipa::path(get, path = "/api/v1/kb/articles/{id}/diff", tag = "kb", security(("bearer" = [])),
    params(("id" = String, Path), DiffParams),
    responses((status = 200, body = ArticleDiff), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn diff(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<DiffParams>,
) -> Result<Json<ArticleDiff>, Response> {
    let id = article_id(&id)?;
    s.helpdesk
        .diff_article_versions(&actor, &id, p.from, p.to)
        .await
        .map(Json)
        .map_err(|e| fail(in_query(e, &["from", "to"])))
}

async fn step(
    s: AppState,
    actor: Actor,
    id: String,
    action: KbAction,
    headers: HeaderMap,
    input: Option<StepInput>,
) -> Result<Response, Response> {
    let id = article_id(&id)?;
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    let a = s
        .helpdesk
        .article_step(&actor, &id, action, input.unwrap_or_default(), expected)
        .await
        .map_err(fail)?;
    Ok(versioned(StatusCode::OK, &a))
}

/// An optional JSON body (workflow steps may be posted empty, or with `null`).
pub struct MaybeJson<T>(pub Option<T>);

impl<S, T> axum::extract::FromRequest<S> for MaybeJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let has_body = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v != "0")
            || req
                .headers()
                .contains_key(axum::http::header::TRANSFER_ENCODING);
        if !has_body {
            return Ok(MaybeJson(None));
        }
        ApiJson::<Option<T>>::from_request(req, state)
            .await
            .map(|ApiJson(v)| MaybeJson(v))
    }
}

macro_rules! step_route {
    ($name:ident, $action:expr, $path:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "kb", security(("bearer" = [])),
            params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body(content = Option<StepInput>),
            responses((status = 200, body = Article), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
        pub async fn $name(
            State(s): State<AppState>,
            Caller(actor): Caller,
            Path(id): Path<String>,
            headers: HeaderMap,
            MaybeJson(input): MaybeJson<StepInput>,
        ) -> Result<Response, Response> {
            step(s, actor, id, $action, headers, input).await
        }
    };
}

step_route!(
    submit,
    KbAction::Submit,
    "/api/v1/kb/articles/{id}/submit",
    "Draft → in review (any team member)."
);
step_route!(
    approve,
    KbAction::Approve,
    "/api/v1/kb/articles/{id}/approve",
    "In review → published (supervisors and admins); the search index is updated."
);
step_route!(
    request_changes,
    KbAction::RequestChanges,
    "/api/v1/kb/articles/{id}/request-changes",
    "In review → draft with a comment for the author (supervisors and admins)."
);
step_route!(
    publish,
    KbAction::Publish,
    "/api/v1/kb/articles/{id}/publish",
    "Draft or in review → published (supervisors and admins); the newest version goes live."
);
step_route!(
    archive,
    KbAction::Archive,
    "/api/v1/kb/articles/{id}/archive",
    "Takes the article down and out of search (supervisors and admins)."
);

#[utoipa::path(post, path = "/api/v1/kb/articles/{id}/comments", tag = "kb", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = CommentInput,
    responses((status = 201, body = ReviewComment), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn comment(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<CommentInput>,
) -> Result<(StatusCode, Json<ReviewComment>), Response> {
    let id = article_id(&id)?;
    s.helpdesk
        .comment_on_article(&actor, &id, input)
        .await
        .map(|c| (StatusCode::CREATED, Json(c)))
        .map_err(fail)
}

/// "Was this helpful?" with an optional 1-5 rating and comment, one per viewer (anonymous
/// visitors send their `visitor_id`); a second vote is a 409; abuse is rate-limited (429).
#[utoipa::path(post, path = "/api/v1/kb/articles/{id}/feedback", tag = "kb", security((), ("bearer" = [])),
    params(("id" = String, Path)), request_body = FeedbackInput,
    responses((status = 201, body = Feedback), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn feedback(
    State(s): State<AppState>,
    MaybeCaller(actor): MaybeCaller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<FeedbackInput>,
) -> Result<(StatusCode, Json<Feedback>), Response> {
    let id = article_id(&id)?;
    s.helpdesk
        .article_feedback(actor.as_ref(), &id, input)
        .await
        .map(|f| (StatusCode::CREATED, Json(f)))
        .map_err(fail)
}

/// One article's numbers and readers' comments (the team).
#[utoipa::path(get, path = "/api/v1/kb/articles/{id}/feedback", tag = "kb", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = FeedbackSummary), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn feedback_summary(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<FeedbackSummary>, Response> {
    let id = article_id(&id)?;
    s.helpdesk
        .article_feedback_summary(&actor, &id)
        .await
        .map(Json)
        .map_err(fail)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ViewCount {
    pub views: i64,
}

/// Counts a view of a published article the caller may read.
#[utoipa::path(post, path = "/api/v1/kb/articles/{id}/views", tag = "kb", security((), ("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ViewCount), (status = 404, body = Problem)))]
pub async fn view(
    State(s): State<AppState>,
    MaybeCaller(actor): MaybeCaller,
    Path(id): Path<String>,
) -> Result<Json<ViewCount>, Response> {
    let id = article_id(&id)?;
    s.helpdesk
        .record_article_view(actor.as_ref(), &id)
        .await
        .map(|views| Json(ViewCount { views }))
        .map_err(fail)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    q: String,
    /// A language tag (`en`, `pt-BR`); empty: any.
    #[param(pattern = "^([A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*)?$")]
    locale: Option<String>,
    /// A topic path prefix, `Billing/Refunds`.
    #[param(pattern = r"^([^/\x00-\x1f\x7f-\x9f]{0,60}(/[^/\x00-\x1f\x7f-\x9f]{0,60}){0,4})?$")]
    topic: Option<String>,
    /// 1-50, default 10.
    #[param(minimum = 1, maximum = 50)]
    limit: Option<usize>,
}

/// Full-text search of the published articles the caller may read (agents: internal and
/// public; customers and anonymous visitors: customer articles, plus business-owner ones for
/// flagged customers). Searches that find nothing are counted for the authors.
#[utoipa::path(get, path = "/api/v1/kb/search", tag = "kb", security((), ("bearer" = [])), params(SearchParams),
    responses((status = 200, body = KbSearchResults), (status = 400, body = Problem)))]
pub async fn search(
    State(s): State<AppState>,
    MaybeCaller(actor): MaybeCaller,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> Result<Json<KbSearchResults>, Response> {
    let limit = p.limit.unwrap_or(10);
    if !(1..=50).contains(&limit) {
        return Err(fail(bad_param("limit", "must be 1-50")));
    }
    let topic = topic_param(p.topic).map_err(fail)?;
    s.helpdesk
        .search_kb(
            actor.as_ref(),
            &p.q,
            p.locale.as_deref().filter(|l| !l.is_empty()),
            topic,
            limit,
        )
        .await
        .map(Json)
        .map_err(|e| fail(in_query(e, &["q", "locale", "limit"])))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestParams {
    text: String,
    /// A language tag (`en`, `pt-BR`); empty: any.
    #[param(pattern = "^([A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*)?$")]
    locale: Option<String>,
    /// Default 5; a value outside 1-10 counts as the nearest bound (never an error).
    limit: Option<usize>,
}

/// Suggest-while-typing for the customer request form: public articles only.
#[utoipa::path(get, path = "/api/v1/kb/suggest", tag = "kb", security((), ("bearer" = [])), params(SuggestParams),
    responses((status = 200, body = Vec<KbSearchHit>), (status = 400, body = Problem)))]
pub async fn suggest(
    State(s): State<AppState>,
    MaybeCaller(actor): MaybeCaller,
    ApiQuery(p): ApiQuery<SuggestParams>,
) -> Result<Json<Vec<KbSearchHit>>, Response> {
    s.helpdesk
        .suggest_articles(
            actor.as_ref(),
            &p.text,
            p.locale.as_deref().filter(|l| !l.is_empty()),
            p.limit.unwrap_or(5),
        )
        .await
        .map(Json)
        .map_err(|e| fail(in_query(e, &["text", "locale", "limit"])))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeflectionRecorded {
    /// False when this session's deflection by this article was already counted.
    pub counted: bool,
}

/// The customer opened a suggested article and left the request form without submitting.
#[utoipa::path(post, path = "/api/v1/kb/deflections", tag = "kb", security((), ("bearer" = [])), request_body = DeflectionInput,
    responses((status = 200, body = DeflectionRecorded), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn deflection(
    State(s): State<AppState>,
    MaybeCaller(actor): MaybeCaller,
    ApiJson(input): ApiJson<DeflectionInput>,
) -> Result<Json<DeflectionRecorded>, ApiError> {
    let counted = s.helpdesk.record_deflection(actor.as_ref(), input).await?;
    Ok(Json(DeflectionRecorded { counted }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    /// Markdown.
    pub body: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewOutput {
    /// Sanitised HTML, as readers will see it.
    pub html: String,
}

#[utoipa::path(post, path = "/api/v1/kb/preview", tag = "kb", security(("bearer" = [])), request_body = PreviewInput,
    responses((status = 200, body = PreviewOutput), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn preview(
    State(s): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<PreviewInput>,
) -> Result<Json<PreviewOutput>, ApiError> {
    let html = s.helpdesk.preview_markdown(&actor, &input.body)?;
    Ok(Json(PreviewOutput { html }))
}

/// Views, helpful %, average rating, zero-result searches, links from resolved tickets and
/// deflections.
#[utoipa::path(get, path = "/api/v1/kb/stats", tag = "kb", security(("bearer" = [])),
    responses((status = 200, body = KbStats), (status = 403, body = Problem)))]
pub async fn stats(
    State(s): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<KbStats>, ApiError> {
    Ok(Json(s.helpdesk.kb_stats(&actor).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestedParams {
    /// Default 5; a value outside 1-20 counts as the nearest bound (never an error).
    limit: Option<usize>,
}

/// The articles most likely to answer this ticket (subject and first message), with scores.
#[utoipa::path(get, path = "/api/v1/tickets/{ticket}/suggested-articles", tag = "kb", security(("bearer" = [])),
    params(("ticket" = String, Path), SuggestedParams),
    responses((status = 200, body = Vec<KbSearchHit>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn suggested_for_ticket(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(ticket): Path<String>,
    ApiQuery(p): ApiQuery<SuggestedParams>,
) -> Result<Json<Vec<KbSearchHit>>, Response> {
    s.helpdesk
        .suggested_articles_for_ticket(&actor, &ticket, p.limit.unwrap_or(5))
        .await
        .map(Json)
        .map_err(|e| fail(in_query(e, &["limit"])))
}

/// Links an article to a ticket (idempotent); on a resolved or closed ticket it counts for the
/// article's effectiveness.
#[utoipa::path(post, path = "/api/v1/tickets/{ticket}/articles", tag = "kb", security(("bearer" = [])),
    params(("ticket" = String, Path)), request_body = LinkInput,
    responses((status = 200, body = LinkOutcome), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn link(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(ticket): Path<String>,
    ApiJson(input): ApiJson<LinkInput>,
) -> Result<Json<LinkOutcome>, ApiError> {
    Ok(Json(
        s.helpdesk
            .link_article_to_ticket(&actor, &ticket, &input.article_id)
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/tickets/{ticket}/articles", tag = "kb", security(("bearer" = [])),
    params(("ticket" = String, Path)),
    responses((status = 200, body = Vec<ArticleSummary>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn links(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(ticket): Path<String>,
) -> Result<Json<Vec<ArticleSummary>>, ApiError> {
    Ok(Json(
        s.helpdesk.ticket_article_links(&actor, &ticket).await?,
    ))
}

/// Rebuilds the search index from storage (admins): every published version; clears the
/// "needs reindex" flags left by failed index updates.
#[utoipa::path(post, path = "/api/v1/kb/reindex", tag = "kb", security(("bearer" = [])),
    responses((status = 200, body = ReindexReport), (status = 403, body = Problem)))]
pub async fn reindex(
    State(s): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<ReindexReport>, ApiError> {
    Ok(Json(s.helpdesk.reindex_kb_as(&actor).await?))
}
