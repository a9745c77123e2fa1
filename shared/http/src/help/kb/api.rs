//! The knowledge base's reader API for anonymous clients: `/help/api/kb/*`.
//!
//! On AWS every `/api/v1/*` route sits behind the Cognito JWT authorizer, so a visitor without
//! a token never reaches `/api/v1/kb/search` and friends. These routes reach the function
//! through the API's `$default` route (no authorizer) and answer exactly like their
//! `/api/v1/kb` twins, for the public audience: the caller is anonymous, or the help centre's
//! signed-in customer (`hd_customer` cookie). Same JSON shapes, same problem errors.

use super::visitor_key;
use crate::extract::{bad_param, in_query, ApiJson, ApiQuery};
use crate::help::session::HelpCtx;
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use helpdesk_app::kb::files::FileBase;
use helpdesk_app::kb::{
    DeflectionInput, FeedbackInput, KbSearchHit, KbSearchResults, PublishedArticle,
};
use helpdesk_domain::kb::{ArticleId, Feedback};
use helpdesk_domain::Audience;
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/help/api/kb/search", get(search))
        .route("/help/api/kb/suggest", get(suggest))
        .route("/help/api/kb/articles/{id}/published", get(published))
        .route("/help/api/kb/articles/{id}/feedback", post(feedback))
        .route("/help/api/kb/articles/{id}/views", post(view))
        .route("/help/api/kb/deflections", post(deflection))
        .route("/help/api/kb/articles/{id}/files/{file}", get(file))
}

/// A file of the live version of a public article (as `/api/v1/kb/articles/{id}/files/{file}`
/// for an anonymous caller or the signed-in customer): the help centre's article pages link
/// here, so files and uploaded videos work on AWS without a token.
#[utoipa::path(get, path = "/help/api/kb/articles/{id}/files/{file}", tag = "kb-public",
    params(("id" = String, Path), ("file" = String, Path, description = "Position in the published `attachments` (from 0) or the file name")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"), (status = 303, description = "A large video: fetch it from the presigned store URL in `Location`"), (status = 404, body = Problem), (status = 429, body = Problem)))]
pub async fn file(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, Response> {
    let id = article_id(&id)?;
    limited(&s, &ctx, "help-api-read").await?;
    let f = s
        .helpdesk
        .published_article_file(ctx.actor().as_ref(), &id, &file)
        .await
        .map_err(fail)?;
    Ok(crate::routes::kb_files::delivery_response(f))
}

/// Reads per caller (network address) and minute on the public API.
const READS_PER_MINUTE: i64 = 120;

fn fail(e: impl Into<Problem>) -> Response {
    e.into().into_response()
}

fn article_id(raw: &str) -> Result<ArticleId, Response> {
    ArticleId::parse(raw).map_err(|_| fail(Problem::not_found("article not found")))
}

async fn limited(s: &AppState, ctx: &HelpCtx, bucket: &str) -> Result<(), Response> {
    s.helpdesk
        .rate_limit(
            bucket,
            &visitor_key(ctx),
            READS_PER_MINUTE,
            60,
            "too many requests from here; please wait a minute",
        )
        .await
        .map_err(fail)
}

/// Even a team member's token means nothing here: internal articles are not served under
/// `/help`. The published article must be meant for the public.
fn public_only(a: PublishedArticle) -> Result<PublishedArticle, Response> {
    if a.audiences.iter().all(|x| *x == Audience::Internal) {
        return Err(fail(Problem::not_found("article not found")));
    }
    Ok(a)
}

/// The live version of an article for the public (or the signed-in customer): customer
/// articles, and business-owner ones for a signed-in business owner. Anything else is 404.
#[utoipa::path(get, path = "/help/api/kb/articles/{id}/published", tag = "kb-public", params(("id" = String, Path)),
    responses((status = 200, body = PublishedArticle), (status = 404, body = Problem), (status = 429, body = Problem)))]
pub async fn published(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path(id): Path<String>,
) -> Result<Json<PublishedArticle>, Response> {
    let id = article_id(&id)?;
    limited(&s, &ctx, "help-api-read").await?;
    s.helpdesk
        .get_published_article_at(ctx.actor().as_ref(), &id, FileBase::HelpCentre)
        .await
        .map_err(fail)
        .and_then(public_only)
        .map(Json)
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

/// Full-text search of the public articles (as `/api/v1/kb/search` for an anonymous caller).
/// Searches that find nothing are counted for the authors.
#[utoipa::path(get, path = "/help/api/kb/search", tag = "kb-public", params(SearchParams),
    responses((status = 200, body = KbSearchResults), (status = 400, body = Problem), (status = 429, body = Problem)))]
pub async fn search(
    State(s): State<AppState>,
    ctx: HelpCtx,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> Result<Json<KbSearchResults>, Response> {
    let limit = p.limit.unwrap_or(10);
    if !(1..=50).contains(&limit) {
        return Err(fail(bad_param("limit", "must be 1-50")));
    }
    let topic = crate::routes::kb::topic_param(p.topic).map_err(fail)?;
    limited(&s, &ctx, "help-api-read").await?;
    s.helpdesk
        .search_kb(
            ctx.actor().as_ref(),
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

/// Suggest-while-typing for a request form: public articles only.
#[utoipa::path(get, path = "/help/api/kb/suggest", tag = "kb-public", params(SuggestParams),
    responses((status = 200, body = Vec<KbSearchHit>), (status = 400, body = Problem), (status = 429, body = Problem)))]
pub async fn suggest(
    State(s): State<AppState>,
    ctx: HelpCtx,
    ApiQuery(p): ApiQuery<SuggestParams>,
) -> Result<Json<Vec<KbSearchHit>>, Response> {
    limited(&s, &ctx, "help-api-read").await?;
    s.helpdesk
        .suggest_articles(
            ctx.actor().as_ref(),
            &p.text,
            p.locale.as_deref().filter(|l| !l.is_empty()),
            p.limit.unwrap_or(5),
        )
        .await
        .map(Json)
        .map_err(|e| fail(in_query(e, &["text", "locale", "limit"])))
}

/// "Was this helpful?" with an optional 1-5 rating and comment: one vote per viewer. Without
/// `visitor_id` the help centre's visitor cookie names the viewer; a second vote is a 409;
/// abuse is rate-limited (429).
#[utoipa::path(post, path = "/help/api/kb/articles/{id}/feedback", tag = "kb-public",
    params(("id" = String, Path)), request_body = FeedbackInput,
    responses((status = 201, body = Feedback), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn feedback(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path(id): Path<String>,
    ApiJson(mut input): ApiJson<FeedbackInput>,
) -> Result<(StatusCode, Json<Feedback>), Response> {
    let id = article_id(&id)?;
    let actor = ctx.actor();
    if actor.is_none() && input.visitor_id.is_none() {
        input.visitor_id = Some(ctx.visitor.clone());
    }
    s.helpdesk
        .article_feedback(actor.as_ref(), &id, input)
        .await
        .map(|f| (StatusCode::CREATED, Json(f)))
        .map_err(fail)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicViewCount {
    pub views: i64,
}

/// Counts a view of a public article.
#[utoipa::path(post, path = "/help/api/kb/articles/{id}/views", tag = "kb-public", params(("id" = String, Path)),
    responses((status = 200, body = PublicViewCount), (status = 404, body = Problem), (status = 429, body = Problem)))]
pub async fn view(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path(id): Path<String>,
) -> Result<Json<PublicViewCount>, Response> {
    let id = article_id(&id)?;
    limited(&s, &ctx, "help-api-view").await?;
    s.helpdesk
        .record_article_view(ctx.actor().as_ref(), &id)
        .await
        .map(|views| Json(PublicViewCount { views }))
        .map_err(fail)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicDeflection {
    /// False when this session's deflection by this article was already counted.
    pub counted: bool,
}

/// The visitor opened a suggested article and left the request form without submitting:
/// counted once per form session and article.
#[utoipa::path(post, path = "/help/api/kb/deflections", tag = "kb-public", request_body = DeflectionInput,
    responses((status = 200, body = PublicDeflection), (status = 404, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn deflection(
    State(s): State<AppState>,
    ctx: HelpCtx,
    ApiJson(input): ApiJson<DeflectionInput>,
) -> Result<Json<PublicDeflection>, ApiError> {
    s.helpdesk
        .rate_limit(
            "help-api-defl",
            &visitor_key(&ctx),
            READS_PER_MINUTE,
            60,
            "too many requests from here; please wait a minute",
        )
        .await?;
    let counted = s
        .helpdesk
        .record_deflection(ctx.actor().as_ref(), input)
        .await?;
    Ok(Json(PublicDeflection { counted }))
}
