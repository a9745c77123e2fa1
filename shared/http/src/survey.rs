//! Public pages reached from automated e-mail: the CSAT survey (one-click rating, then an
//! optional comment) and unsubscribe. No sign-in: the signed token in the path is the only
//! authority, and it names exactly one ticket, resolution and rating (or one address).
//!
//! CSRF: the forms post back to the token's own URL. A cross-site page cannot know a token, so
//! it cannot forge a post that does anything; no cookie is read or set. Pages are not cached,
//! not framed and send no Referer (the token must not leak to other sites).

use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use helpdesk_app::automations::{rating_label, CsatResponse, SurveyError, SurveyOutcome};
use maud::{html, Markup, DOCTYPE};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/survey/{token}", get(answer).post(comment))
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe_form).post(unsubscribe),
        )
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:1rem;background:#f6f7f9;color:#1d2330}main{max-width:32rem;margin:2rem auto;background:#fff;border-radius:12px;padding:1.5rem;box-shadow:0 1px 3px #0002}h1{font-size:1.4rem;margin-top:0}textarea{width:100%;box-sizing:border-box;min-height:7rem;font:inherit;padding:.5rem}button{font:inherit;padding:.6rem 1.2rem;border-radius:8px;border:0;background:#2456d6;color:#fff;margin-top:.75rem}.stars{font-size:1.6rem;letter-spacing:.2rem}.muted{color:#5a6272}";

fn page(status: StatusCode, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) }
                style { (STYLE) }
            }
            body { main { (body) } }
        }
    };
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            ),
        ],
        markup.into_string(),
    )
        .into_response()
}

fn error_page(e: SurveyError) -> Response {
    let (status, title, text) = match e {
        SurveyError::Invalid => (
            StatusCode::BAD_REQUEST,
            "This link is not valid",
            "The link may have been cut or changed. Please use the link from the e-mail exactly as it came.",
        ),
        SurveyError::Expired => (
            StatusCode::GONE,
            "This survey has closed",
            "The link has expired. Thank you all the same — you can always reply to our e-mail.",
        ),
        SurveyError::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again later",
            "We could not record your answer just now.",
        ),
    };
    page(status, title, html! { h1 { (title) } p { (text) } })
}

fn stars(rating: u8) -> String {
    let r = usize::from(rating.min(5));
    format!("{}{}", "★".repeat(r), "☆".repeat(5 - r))
}

fn thanks(token: &str, r: &CsatResponse, note: &str, saved_comment: bool) -> Response {
    page(
        StatusCode::OK,
        "Thank you",
        html! {
            h1 { "Thank you for your feedback" }
            p { "Your rating for " strong { (r.number.to_string()) } ":" }
            p.stars aria-label=(format!("{} of 5", r.rating)) { (stars(r.rating)) }
            p { (r.rating) " – " (rating_label(r.rating)) }
            p.muted { (note) }
            @if saved_comment {
                p { strong { "Your comment was saved." } }
            }
            form method="post" action=(format!("/survey/{token}")) {
                label for="comment" { "Anything you would like to add? (optional)" }
                textarea #comment name="comment" maxlength="2000" { (r.comment.clone().unwrap_or_default()) }
                button type="submit" { "Send comment" }
            }
        },
    )
}

/// One click from the e-mail records the rating (once per resolution; another rating from the
/// same survey changes it, the same link again only shows it).
#[utoipa::path(get, path = "/survey/{token}", tag = "automations",
    params(("token" = String, Path, description = "The signed token from the survey e-mail")),
    responses((status = 200, description = "Thanks page (HTML) with the stored rating and a comment form"),
        (status = 400, description = "Forged or damaged link (HTML)"), (status = 410, description = "Expired link (HTML)")))]
pub async fn answer(State(s): State<AppState>, Path(token): Path<String>) -> Response {
    match s.helpdesk.answer_survey(&token).await {
        Ok(outcome) => {
            let note = match &outcome {
                SurveyOutcome::Recorded(_) => "We have recorded your rating.",
                SurveyOutcome::Changed(_) => "We have updated your rating.",
                SurveyOutcome::Unchanged(_) => "You already gave this rating; it is recorded.",
            };
            thanks(&token, outcome.response(), note, false)
        }
        Err(e) => error_page(e),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct CommentForm {
    #[serde(default)]
    comment: String,
}

/// The optional comment, authorised by the same token.
#[utoipa::path(post, path = "/survey/{token}", tag = "automations",
    params(("token" = String, Path)),
    request_body(content_type = "application/x-www-form-urlencoded", description = "comment=…"),
    responses((status = 200, description = "Thanks page (HTML)"), (status = 400, description = "Invalid link (HTML)"), (status = 410, description = "Expired link (HTML)")))]
pub async fn comment(
    State(s): State<AppState>,
    Path(token): Path<String>,
    form: Result<Form<CommentForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(SurveyError::Invalid);
    };
    match s.helpdesk.comment_survey(&token, &form.comment).await {
        Ok(r) => {
            let saved = r.comment.is_some() && !form.comment.trim().is_empty();
            thanks(&token, &r, "Thank you for taking the time.", saved)
        }
        Err(e) => error_page(e),
    }
}

/// A confirmation page: mail scanners follow links, so only the form's post unsubscribes.
#[utoipa::path(get, path = "/unsubscribe/{token}", tag = "automations", params(("token" = String, Path)),
    responses((status = 200, description = "Confirmation form (HTML)")))]
pub async fn unsubscribe_form(Path(token): Path<String>) -> Response {
    page(
        StatusCode::OK,
        "Unsubscribe",
        html! {
            h1 { "Stop automated e-mails?" }
            p { "You will no longer get satisfaction surveys, follow-ups or status updates. Replies from our team still reach you." }
            form method="post" action=(format!("/unsubscribe/{token}")) {
                button type="submit" { "Unsubscribe" }
            }
        },
    )
}

#[utoipa::path(post, path = "/unsubscribe/{token}", tag = "automations", params(("token" = String, Path)),
    responses((status = 200, description = "Done (HTML)"), (status = 400, description = "Invalid link (HTML)")))]
pub async fn unsubscribe(State(s): State<AppState>, Path(token): Path<String>) -> Response {
    match s.helpdesk.unsubscribe(&token).await {
        Ok(_) => page(
            StatusCode::OK,
            "Unsubscribed",
            html! { h1 { "You are unsubscribed" } p { "You will get no more automated e-mails from us." } },
        ),
        Err(e) => error_page(e),
    }
}
