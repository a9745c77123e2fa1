//! Community forums over the JSON API: anyone reads; signed-in customers and staff post, vote
//! and report; staff moderate, work the reports queue and turn topics into tickets; admins
//! manage categories. The public pages (`help/forums.rs`) call the same use cases.

use super::kb::MaybeCaller;
use crate::auth::Caller;
use crate::extract::{etag, if_match, in_query, ApiJson, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use helpdesk_app::forums::{
    AcceptInput, AllTopics, CategoryInput, Moderation, NewPost, NewTopic, ReportInput,
    ReportOutcome, ReportQueue, Reporter, TopicList, TopicTicket, TopicView, VoteState,
};
use helpdesk_domain::forum::{Category, Post, Target, Topic};
use helpdesk_domain::{PostId, TopicId};
use serde::Deserialize;

fn fail(e: impl Into<Problem>) -> Response {
    e.into().into_response()
}

pub(crate) fn topic_id(raw: &str) -> Result<TopicId, Response> {
    TopicId::parse(raw).map_err(|_| fail(Problem::not_found("topic not found")))
}

/// The topic's public page, for links in tickets.
pub(crate) fn topic_link(id: &TopicId) -> String {
    format!("/help/community/topics/{id}")
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1-100, default 25.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    /// `next_cursor` from the previous page; any other value is a 400.
    cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopicPageParams {
    /// `next_cursor` from the previous page of replies; any other value is a 400.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/forums/categories", tag = "forums",
    responses((status = 200, body = [Category])))]
pub async fn categories(State(s): State<AppState>) -> Result<Json<Vec<Category>>, ApiError> {
    Ok(Json(s.helpdesk.forum_categories().await?))
}

/// Admins only. `slug` is required and cannot change later.
#[utoipa::path(post, path = "/api/v1/forums/categories", tag = "forums", security(("bearer" = [])), request_body = CategoryInput,
    responses((status = 201, body = Category), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_category(
    State(s): State<AppState>,
    Caller(actor): Caller,
    ApiJson(input): ApiJson<CategoryInput>,
) -> Result<Response, ApiError> {
    let c = s.helpdesk.create_forum_category(&actor, input).await?;
    Ok((StatusCode::CREATED, [etag(c.version)], Json(c)).into_response())
}

#[utoipa::path(put, path = "/api/v1/forums/categories/{slug}", tag = "forums", security(("bearer" = [])),
    params(("slug" = String, Path), ("If-Match" = Option<String>, Header)), request_body = CategoryInput,
    responses((status = 200, body = Category), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_category(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(slug): Path<String>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<CategoryInput>,
) -> Result<Response, Response> {
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    let c = s
        .helpdesk
        .update_forum_category(&actor, &slug, input, expected)
        .await
        .map_err(fail)?;
    Ok(([etag(c.version)], Json(c)).into_response())
}

/// Only categories without topics can be deleted.
#[utoipa::path(delete, path = "/api/v1/forums/categories/{slug}", tag = "forums", security(("bearer" = [])),
    params(("slug" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn delete_category(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Response> {
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    s.helpdesk
        .delete_forum_category(&actor, &slug, expected)
        .await
        .map_err(fail)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A category's visible topics: pinned first, then newest activity first.
#[utoipa::path(get, path = "/api/v1/forums/categories/{slug}/topics", tag = "forums", security((), ("bearer" = [])),
    params(("slug" = String, Path), PageParams),
    responses((status = 200, body = TopicList), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_topics(
    State(s): State<AppState>,
    MaybeCaller(actor): MaybeCaller,
    Path(slug): Path<String>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<TopicList>, Response> {
    s.helpdesk
        .list_topics(
            actor.as_ref(),
            &slug,
            p.cursor.filter(|c| !c.is_empty()),
            p.limit,
        )
        .await
        .map(Json)
        .map_err(|e| fail(in_query(e, &["limit", "cursor"])))
}

/// Customers need a display name on their first post (`display_name`).
#[utoipa::path(post, path = "/api/v1/forums/categories/{slug}/topics", tag = "forums", security(("bearer" = [])),
    params(("slug" = String, Path)), request_body = NewTopic,
    responses((status = 201, body = Topic), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn create_topic(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(slug): Path<String>,
    ApiJson(input): ApiJson<NewTopic>,
) -> Result<Response, ApiError> {
    let t = s.helpdesk.create_topic(&actor, &slug, input).await?;
    Ok((StatusCode::CREATED, [etag(t.version)], Json(t)).into_response())
}

/// Staff: every topic, hidden ones included.
#[utoipa::path(get, path = "/api/v1/forums/topics", tag = "forums", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = AllTopics), (status = 403, body = Problem)))]
pub async fn all_topics(
    State(s): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<AllTopics>, Response> {
    s.helpdesk
        .list_all_topics(&actor, p.cursor.filter(|c| !c.is_empty()), p.limit)
        .await
        .map(Json)
        .map_err(|e| fail(in_query(e, &["limit", "cursor"])))
}

/// A topic with its replies (accepted answer first). Hidden content is 404 except to its
/// author and staff; staff also get the moderation history and report cases.
#[utoipa::path(get, path = "/api/v1/forums/topics/{id}", tag = "forums", security((), ("bearer" = [])),
    params(("id" = String, Path), TopicPageParams),
    responses((status = 200, body = TopicView), (status = 404, body = Problem)))]
pub async fn get_topic(
    State(s): State<AppState>,
    MaybeCaller(actor): MaybeCaller,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<TopicPageParams>,
) -> Result<Response, Response> {
    let id = topic_id(&id)?;
    let v = s
        .helpdesk
        .topic_view(actor.as_ref(), &id, p.cursor.filter(|c| !c.is_empty()))
        .await
        .map_err(|e| fail(in_query(e, &["cursor"])))?;
    Ok(([etag(v.topic.version)], Json(v)).into_response())
}

/// Locked topics refuse replies from customers (422, field `topic`).
#[utoipa::path(post, path = "/api/v1/forums/topics/{id}/posts", tag = "forums", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = NewPost,
    responses((status = 201, body = Post), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn reply(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NewPost>,
) -> Result<Response, Response> {
    let id = topic_id(&id)?;
    let p = s
        .helpdesk
        .reply_to_topic(&actor, &id, input)
        .await
        .map_err(fail)?;
    Ok((StatusCode::CREATED, Json(p)).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteInput {
    /// A reply; the topic itself when absent.
    #[serde(default)]
    pub post: Option<PostId>,
}

/// Toggles the caller's vote (one per person per topic or reply).
#[utoipa::path(post, path = "/api/v1/forums/topics/{id}/votes", tag = "forums", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = VoteInput,
    responses((status = 200, body = VoteState), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn vote(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<VoteInput>,
) -> Result<Json<VoteState>, Response> {
    let id = topic_id(&id)?;
    let target = input.post.map(Target::Post).unwrap_or(Target::Topic);
    s.helpdesk
        .toggle_vote(&actor, &id, target)
        .await
        .map(Json)
        .map_err(fail)
}

/// The topic's author or staff; `post: null` clears the accepted answer.
#[utoipa::path(post, path = "/api/v1/forums/topics/{id}/accept", tag = "forums", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = AcceptInput,
    responses((status = 200, body = Topic), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn accept(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<AcceptInput>,
) -> Result<Response, Response> {
    let id = topic_id(&id)?;
    let t = s
        .helpdesk
        .accept_answer(&actor, &id, input)
        .await
        .map_err(fail)?;
    Ok(([etag(t.version)], Json(t)).into_response())
}

/// Staff: hide/unhide a topic or reply, lock/unlock or pin/unpin a topic. Recorded in the
/// topic's history.
#[utoipa::path(post, path = "/api/v1/forums/topics/{id}/moderation", tag = "forums", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = Moderation,
    responses((status = 200, body = TopicView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn moderate(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<Moderation>,
) -> Result<Json<TopicView>, Response> {
    let id = topic_id(&id)?;
    s.helpdesk
        .moderate(&actor, &id, input)
        .await
        .map(Json)
        .map_err(fail)
}

/// One report per person and topic or reply; it lands in the moderation queue.
#[utoipa::path(post, path = "/api/v1/forums/topics/{id}/reports", tag = "forums", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReportInput,
    responses((status = 200, body = ReportOutcome), (status = 404, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn report(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ReportInput>,
) -> Result<Json<ReportOutcome>, Response> {
    let id = topic_id(&id)?;
    s.helpdesk
        .report(&Reporter::User(actor), &id, input)
        .await
        .map(Json)
        .map_err(fail)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveInput {
    #[serde(default)]
    pub post: Option<PostId>,
    #[serde(default)]
    pub note: Option<String>,
}

/// Staff: closes the report case of the topic or one reply.
#[utoipa::path(post, path = "/api/v1/forums/topics/{id}/reports/resolve", tag = "forums", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ResolveInput,
    responses((status = 200, body = helpdesk_domain::forum::ReportCase), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn resolve(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ResolveInput>,
) -> Result<Response, Response> {
    let id = topic_id(&id)?;
    let target = input.post.map(Target::Post).unwrap_or(Target::Topic);
    s.helpdesk
        .resolve_reports(&actor, &id, target, input.note.as_deref())
        .await
        .map(|c| Json(c).into_response())
        .map_err(fail)
}

/// Staff: the moderation queue, oldest open case first.
#[utoipa::path(get, path = "/api/v1/forums/reports", tag = "forums", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = ReportQueue), (status = 403, body = Problem)))]
pub async fn reports(
    State(s): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<ReportQueue>, Response> {
    s.helpdesk
        .list_reports(&actor, p.cursor.filter(|c| !c.is_empty()), p.limit)
        .await
        .map(Json)
        .map_err(|e| fail(in_query(e, &["limit", "cursor"])))
}

/// Staff: continues the topic privately as a ticket for its author (channel `community`).
/// Idempotent: 201 the first time, 200 with the same ticket afterwards.
#[utoipa::path(post, path = "/api/v1/forums/topics/{id}/ticket", tag = "forums", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 201, body = TopicTicket), (status = 200, body = TopicTicket), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn to_ticket(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let id = topic_id(&id)?;
    let t = s
        .helpdesk
        .topic_to_ticket(&actor, &id, &topic_link(&id))
        .await
        .map_err(fail)?;
    let status = if t.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(t)).into_response())
}
