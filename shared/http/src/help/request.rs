//! Help centre: the request form (web-form channel), its confirmation page, suggested
//! articles while typing (`/help/suggest`) and the deflection beacon.
//!
//! Spam protection without third parties: a honeypot field (a filled one gets the usual
//! confirmation and creates nothing), per-address and per-e-mail limits (the use case), the
//! body size limit, CSRF. The confirmation shows the ticket number only to the browser that
//! sent the request: its link carries a value sealed for that visitor.

use super::kb::{article_href, not_found, visitor_key};
use super::layout::{message, page, respond, Meta, Section};
use super::session::HelpCtx;
use crate::console::session::random_token;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use helpdesk_app::attachments::{UPLOADS_MAX, UPLOAD_TOTAL_MAX};
use helpdesk_app::help_requests::{check_web_request, FieldError, Upload, WebRequest, FILE_MAX};
use helpdesk_app::AppError;
use helpdesk_domain::kb::ArticleId;
use helpdesk_domain::EmailAddress;
use maud::{html, Markup};
use serde::{Deserialize, Serialize};

/// The whole form, at most: every file plus room for the text fields and multipart framing.
pub const REQUEST_BODY_MAX: usize = UPLOAD_TOTAL_MAX + 1024 * 1024;
/// One text field, at most (the description's own limit is 100,000 bytes).
const TEXT_FIELD_MAX: usize = 110_000;
const SENT_PURPOSE: &str = "help-request-sent-v1";
/// How long the confirmation link works.
const SENT_SECONDS: i64 = 24 * 3600;
const SUGGESTS_PER_MINUTE: i64 = 120;
const DEFLECTIONS_PER_HOUR: i64 = 60;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/help/requests/new",
            get(new_form)
                .post(submit)
                .layer(DefaultBodyLimit::max(REQUEST_BODY_MAX)),
        )
        .route("/help/requests/sent", get(sent))
        .route("/help/requests/deflections", post(deflections))
        .route("/help/suggest", get(suggest))
}

/// The form's fields as typed (files are never echoed back: a browser cannot refill them).
#[derive(Debug, Default, Clone)]
struct Draft {
    name: String,
    email: String,
    category: String,
    subject: String,
    description: String,
    form_id: String,
}

struct FormView<'a> {
    draft: &'a Draft,
    categories: &'a [String],
    errors: &'a [FieldError],
    /// A problem with the whole request (rate limit, expired form).
    alert: Option<String>,
    signed_in: Option<&'a EmailAddress>,
}

fn error_for<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors
        .iter()
        .find(|e| e.field == field)
        .map(|e| e.message.as_str())
}

fn field_error(errors: &[FieldError], field: &str) -> Markup {
    html! {
        @if let Some(m) = error_for(errors, field) {
            p.error id=(format!("{field}-error")) { (m) }
        }
    }
}

fn described_by(errors: &[FieldError], field: &str, hint: Option<&str>) -> Option<String> {
    let mut ids = Vec::new();
    if let Some(h) = hint {
        ids.push(h.to_string());
    }
    if error_for(errors, field).is_some() {
        ids.push(format!("{field}-error"));
    }
    (!ids.is_empty()).then(|| ids.join(" "))
}

fn label_of(field: &str) -> &'static str {
    match field {
        "name" => "Your name",
        "email" => "E-mail address",
        "category" => "Category",
        "subject" => "Subject",
        "description" => "Description",
        _ => "Attachments",
    }
}

fn form_page(ctx: &HelpCtx, v: FormView<'_>, status: StatusCode) -> Response {
    let d = v.draft;
    let e = v.errors;
    let invalid = |f: &str| error_for(e, f).is_some().then_some("true");
    let body = html! {
        h1 { "Contact us" }
        p { "Tell us what you need and we will answer by e-mail. Fields marked * are required." }
        @if let Some(a) = &v.alert {
            div.error-summary role="alert" { p { (a) } }
        }
        @if !e.is_empty() {
            div.error-summary role="alert" tabindex="-1" {
                h2 { "Please check the form" }
                ul {
                    @for err in e {
                        li { a href=(format!("#{}", err.field)) { (label_of(err.field)) ": " (err.message) } }
                    }
                }
            }
        }
        form #request-form method="post" action="/help/requests/new" enctype="multipart/form-data" data-suggest="/help/suggest" {
            input type="hidden" name="_csrf" value=(ctx.csrf);
            input type="hidden" name="form_id" value=(d.form_id);
            div.field {
                label for="name" { "Your name *" }
                (field_error(e, "name"))
                input #name type="text" name="name" value=(d.name) autocomplete="name" maxlength="120" required
                    aria-invalid=[invalid("name")] aria-describedby=[described_by(e, "name", None)];
            }
            div.field {
                label for="email" { "E-mail address *" }
                @if let Some(me) = v.signed_in {
                    p.hint #email-hint { "You are signed in: we answer at this address." }
                    input #email type="email" name="email" value=(me.as_str()) readonly aria-describedby="email-hint";
                } @else {
                    p.hint #email-hint { "We send our answer here." }
                    (field_error(e, "email"))
                    input #email type="email" name="email" value=(d.email) autocomplete="email" maxlength="254" required
                        aria-invalid=[invalid("email")] aria-describedby=[described_by(e, "email", Some("email-hint"))];
                }
            }
            @if !v.categories.is_empty() {
                div.field {
                    label for="category" { "Category" }
                    (field_error(e, "category"))
                    select #category name="category" aria-invalid=[invalid("category")] aria-describedby=[described_by(e, "category", None)] {
                        option value="" selected[d.category.is_empty()] { "Not sure" }
                        @for c in v.categories {
                            option value=(c) selected[d.category == *c] { (c) }
                        }
                    }
                }
            }
            div.field {
                label for="subject" { "Subject *" }
                (field_error(e, "subject"))
                input #subject type="text" name="subject" value=(d.subject) maxlength="300" required autocomplete="off"
                    aria-invalid=[invalid("subject")] aria-describedby=[described_by(e, "subject", None)];
            }
            div.field {
                label for="description" { "Description *" }
                p.hint #description-hint { "What happened, what you expected, and any error message." }
                (field_error(e, "description"))
                textarea #description name="description" rows="7" required
                    aria-invalid=[invalid("description")] aria-describedby=[described_by(e, "description", Some("description-hint"))] { (d.description) }
            }
            div #suggestions .suggestions aria-live="polite" {}
            div.field {
                label for="attachments" { "Attachments" }
                p.hint #attachments-hint {
                    "Optional: up to " (UPLOADS_MAX) " files, " (FILE_MAX / (1024 * 1024)) " MB each, "
                    (UPLOAD_TOTAL_MAX / (1024 * 1024)) " MB in all."
                    @if !e.is_empty() || v.alert.is_some() { " Please choose your files again." }
                }
                (field_error(e, "attachments"))
                input #attachments type="file" name="attachments" multiple
                    aria-invalid=[invalid("attachments")] aria-describedby=[described_by(e, "attachments", Some("attachments-hint"))];
            }
            // Honeypot: people never see or reach it; a form that fills it is a robot's.
            div.hp aria-hidden="true" {
                label for="website" { "Leave this field empty" }
                input #website type="text" name="website" tabindex="-1" autocomplete="off" value="";
            }
            div.actions { button type="submit" { "Send request" } }
        }
    };
    respond(
        status,
        page(ctx, &Meta::new("Contact us", Section::Request), body),
    )
}

#[derive(Debug, Deserialize, Default)]
struct NewQuery {
    subject: Option<String>,
}

async fn new_form(
    State(s): State<AppState>,
    ctx: HelpCtx,
    q: Result<Query<NewQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let categories = match s.helpdesk.request_categories().await {
        Ok(c) => c,
        Err(e) => return failure(&ctx, &e),
    };
    let mut draft = Draft {
        subject: q
            .subject
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect(),
        form_id: random_token(),
        ..Draft::default()
    };
    if let Some(c) = &ctx.customer {
        draft.email = c.email.to_string();
        if let Ok(profile) = s.helpdesk.get_customer(&c.actor(), &c.email).await {
            draft.name = profile.name.unwrap_or_default();
        }
    }
    form_page(
        &ctx,
        FormView {
            draft: &draft,
            categories: &categories,
            errors: &[],
            alert: None,
            signed_in: ctx.customer.as_ref().map(|c| &c.email),
        },
        StatusCode::OK,
    )
}

fn failure(ctx: &HelpCtx, e: &AppError) -> Response {
    tracing::error!(error = %e, "help centre request form failed");
    message(
        ctx,
        StatusCode::SERVICE_UNAVAILABLE,
        "Something went wrong",
        "We could not take your request just now. Please try again in a moment.",
    )
}

/// The posted form: text fields, files, and whether the body broke a limit on the way.
#[derive(Default)]
struct Posted {
    csrf: String,
    honeypot: String,
    draft: Draft,
    files: Vec<Upload>,
    /// A file or the whole body went over a limit; the message says which.
    too_large: Option<String>,
    unreadable: bool,
}

async fn read_text(field: &mut axum::extract::multipart::Field<'_>) -> Option<String> {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = field.chunk().await {
        if buf.len() + chunk.len() > TEXT_FIELD_MAX {
            return None;
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).ok()
}

async fn read_form(mut mp: Multipart) -> Posted {
    let mut p = Posted::default();
    loop {
        let mut field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    p.too_large = Some(format!(
                        "the files add up to more than {} MB",
                        UPLOAD_TOTAL_MAX / (1024 * 1024)
                    ));
                } else {
                    p.unreadable = true;
                }
                break;
            }
        };
        let name = field.name().unwrap_or("").to_string();
        if name == "attachments" {
            let filename = field.file_name().unwrap_or("").to_string();
            let content_type = field.content_type().map(str::to_string);
            let mut bytes = Vec::new();
            let mut size = 0usize;
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        size += chunk.len();
                        // Past the per-file limit the bytes are counted, not kept.
                        if size <= FILE_MAX + 1 {
                            bytes.extend_from_slice(&chunk);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                            p.too_large = Some(format!(
                                "the files add up to more than {} MB",
                                UPLOAD_TOTAL_MAX / (1024 * 1024)
                            ));
                        } else {
                            p.unreadable = true;
                        }
                        return p;
                    }
                }
            }
            // A file input left empty still sends an empty part.
            if filename.is_empty() && size == 0 {
                continue;
            }
            if size > FILE_MAX {
                p.too_large = Some(format!(
                    "{} is larger than {} MB; send a smaller file",
                    filename.trim(),
                    FILE_MAX / (1024 * 1024)
                ));
            }
            p.files.push(Upload {
                filename,
                content_type,
                bytes,
            });
            continue;
        }
        let Some(value) = read_text(&mut field).await else {
            p.unreadable = true;
            continue;
        };
        match name.as_str() {
            "_csrf" => p.csrf = value,
            "website" => p.honeypot = value,
            "name" => p.draft.name = value,
            "email" => p.draft.email = value,
            "category" => p.draft.category = value,
            "subject" => p.draft.subject = value,
            "description" => p.draft.description = value,
            "form_id" => p.draft.form_id = value,
            _ => {}
        }
    }
    p
}

fn valid_form_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn sent_link(s: &AppState, ctx: &HelpCtx, number: &str) -> Result<String, AppError> {
    let expires = s.helpdesk.now().timestamp() + SENT_SECONDS;
    let token = s.helpdesk.seal(
        SENT_PURPOSE,
        &format!("{}\n{number}\n{expires}", ctx.visitor),
    )?;
    Ok(format!("/help/requests/sent?t={token}"))
}

async fn submit(
    State(s): State<AppState>,
    ctx: HelpCtx,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let Ok(mp) = mp else {
        return message(
            &ctx,
            StatusCode::BAD_REQUEST,
            "The form could not be read",
            "Please go back, reload the form and try again.",
        );
    };
    let posted = read_form(mp).await;
    if !ctx.csrf_ok(&posted.csrf) {
        return message(
            &ctx,
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form has expired. Go back, reload the page and send it again.",
        );
    }
    let signed_in = ctx.customer.as_ref().map(|c| &c.email);
    // A robot filled the honeypot: it sees what a person would, and nothing is created.
    if !posted.honeypot.trim().is_empty() {
        return match sent_link(&s, &ctx, "") {
            Ok(link) => Redirect::to(&link).into_response(),
            Err(e) => failure(&ctx, &e),
        };
    }
    let categories = match s.helpdesk.request_categories().await {
        Ok(c) => c,
        Err(e) => return failure(&ctx, &e),
    };
    let mut draft = posted.draft;
    if !valid_form_id(&draft.form_id) {
        draft.form_id = random_token();
    }
    let req = WebRequest {
        name: draft.name.clone(),
        email: draft.email.clone(),
        category: draft.category.clone(),
        subject: draft.subject.clone(),
        description: draft.description.clone(),
        attachments: posted.files,
        locale: ctx.languages.first().cloned(),
        form_id: Some(draft.form_id.clone()),
        ip: ctx.ip,
    };
    let mut errors = check_web_request(&req, &categories, signed_in);
    if let Some(m) = posted.too_large {
        errors.retain(|e| e.field != "attachments");
        errors.push(FieldError {
            field: "attachments",
            message: m,
        });
    }
    let status = if errors.iter().any(|e| e.field == "attachments")
        && errors.iter().all(|e| e.field == "attachments")
    {
        StatusCode::PAYLOAD_TOO_LARGE
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let alert = posted.unreadable.then(|| {
        "Part of the form could not be read; please check it and send it again.".to_string()
    });
    if !errors.is_empty() || alert.is_some() {
        return form_page(
            &ctx,
            FormView {
                draft: &draft,
                categories: &categories,
                errors: &errors,
                alert,
                signed_in,
            },
            if errors.is_empty() {
                StatusCode::BAD_REQUEST
            } else {
                status
            },
        );
    }
    match s.helpdesk.submit_web_request(signed_in, req).await {
        Ok(ticket) => match sent_link(&s, &ctx, &ticket.number.to_string()) {
            Ok(link) => Redirect::to(&link).into_response(),
            Err(e) => failure(&ctx, &e),
        },
        Err(AppError::RateLimited(why)) => form_page(
            &ctx,
            FormView {
                draft: &draft,
                categories: &categories,
                errors: &[],
                alert: Some(format!("Your request was not sent: {why}.")),
                signed_in,
            },
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(AppError::Validation { field, message: m }) => {
            let field = match field.as_str() {
                "name" => "name",
                "email" | "customer.email" => "email",
                "category" => "category",
                "subject" => "subject",
                "description" | "body" => "description",
                _ => "attachments",
            };
            form_page(
                &ctx,
                FormView {
                    draft: &draft,
                    categories: &categories,
                    errors: &[FieldError { field, message: m }],
                    alert: None,
                    signed_in,
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(e) => failure(&ctx, &e),
    }
}

#[derive(Debug, Deserialize, Default)]
struct SentQuery {
    t: Option<String>,
}

async fn sent(
    State(s): State<AppState>,
    ctx: HelpCtx,
    q: Result<Query<SentQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let token = q.ok().and_then(|Query(q)| q.t).unwrap_or_default();
    let Some(payload) = s.helpdesk.open(SENT_PURPOSE, &token) else {
        return not_found(&ctx);
    };
    let mut parts = payload.split('\n');
    let (Some(visitor), Some(number), Some(expires), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return not_found(&ctx);
    };
    let fresh = expires
        .parse::<i64>()
        .is_ok_and(|t| t > s.helpdesk.now().timestamp());
    // Only the browser that sent the request sees its number.
    if visitor != ctx.visitor || !fresh {
        return not_found(&ctx);
    }
    let body = html! {
        div.card.sent data-request-sent="1" {
            h1 { "Request sent" }
            @if !number.is_empty() {
                p.big { "Your request number is " strong { (number) } "." }
            }
            p { "Thank you. We have e-mailed you a confirmation; reply to that e-mail to add anything. A member of our team will answer as soon as possible." }
            p { a href="/help" { "Back to the help centre" } }
        }
    };
    respond(
        StatusCode::OK,
        page(&ctx, &Meta::new("Request sent", Section::Request), body),
    )
}

#[derive(Debug, Deserialize)]
struct SuggestQuery {
    #[serde(default)]
    q: String,
}

/// A suggestion as the request form's script shows it.
#[derive(Debug, Serialize)]
struct Suggestion {
    id: String,
    title: String,
    summary: String,
    url: String,
    locale: String,
}

/// Suggested articles for what the visitor typed (public audience, in their languages).
async fn suggest(
    State(s): State<AppState>,
    ctx: HelpCtx,
    q: Result<Query<SuggestQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let text: String = q
        .map(|Query(q)| q.q)
        .unwrap_or_default()
        .chars()
        .take(2_000)
        .collect();
    if text.trim().chars().count() < 3 {
        return Json(Vec::<Suggestion>::new()).into_response();
    }
    if let Err(e) = s
        .helpdesk
        .rate_limit(
            "help-suggest",
            &visitor_key(&ctx),
            SUGGESTS_PER_MINUTE,
            60,
            "too many suggestions asked from here; please wait a minute",
        )
        .await
    {
        return crate::problem::Problem::from(e).into_response();
    }
    match s
        .helpdesk
        .suggest_articles(ctx.actor().as_ref(), &text, None, 10)
        .await
    {
        Ok(hits) => {
            let mine: Vec<Suggestion> = hits
                .iter()
                .filter(|h| {
                    ctx.languages.iter().any(|l| {
                        h.locale.eq_ignore_ascii_case(l)
                            || h.locale
                                .split('-')
                                .next()
                                .is_some_and(|p| p.eq_ignore_ascii_case(l))
                    })
                })
                .take(5)
                .map(|h| Suggestion {
                    id: h.article_id.to_string(),
                    title: h.title.clone(),
                    summary: h.summary.clone(),
                    url: article_href(&h.article_id, None),
                    locale: h.locale.clone(),
                })
                .collect();
            Json(mine).into_response()
        }
        Err(e) => crate::problem::Problem::from(e).into_response(),
    }
}

/// The request form's script reports, as the visitor leaves without sending, the suggested
/// articles they opened (`navigator.sendBeacon`). The visitor cookie goes with a same-origin
/// beacon, so CSRF is checked like any form; the KB counts each session and article once.
async fn deflections(State(s): State<AppState>, ctx: HelpCtx, body: Bytes) -> StatusCode {
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    if !ctx.csrf_ok(get("_csrf")) {
        return StatusCode::FORBIDDEN;
    }
    let session = get("session").to_string();
    if !valid_form_id(&session) {
        return StatusCode::UNPROCESSABLE_ENTITY;
    }
    if s.helpdesk
        .rate_limit(
            "help-deflect",
            &visitor_key(&ctx),
            DEFLECTIONS_PER_HOUR,
            3_600,
            "too many reports from here",
        )
        .await
        .is_err()
    {
        return StatusCode::TOO_MANY_REQUESTS;
    }
    let actor = ctx.actor();
    for (_, raw) in pairs.iter().filter(|(n, _)| n == "article").take(5) {
        let Ok(article_id) = ArticleId::parse(raw) else {
            continue;
        };
        let input = helpdesk_app::kb::DeflectionInput {
            article_id,
            session_id: session.clone(),
        };
        if let Err(e) = s.helpdesk.record_deflection(actor.as_ref(), input).await {
            tracing::debug!(error = %e, "deflection not recorded");
        }
    }
    StatusCode::NO_CONTENT
}
