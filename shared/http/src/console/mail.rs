//! The e-mail side of the console: a message's new text with its quoted history and signature
//! folded away, the formatted (sanitised) e-mail with inline images, attachments, why a message
//! was threaded where it is (and moving it), and the mail quarantine for admins.

use super::pages::{app_error_page, check_csrf, field, page, render, FormData};
use super::session::ConsoleUser;
use super::view::{csrf_field, flash, layout};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use helpdesk_app::rethread::MoveMessage;
use helpdesk_app::AppError;
use helpdesk_domain::{Message, MessageKind, Ticket};
use maud::{html, Markup, PreEscaped};

fn attachment_url(t: &Ticket, m: &Message, index: usize) -> String {
    format!(
        "/app/tickets/{}/messages/{}/attachments/{index}",
        t.number, m.id
    )
}

/// The stored HTML is sanitised at ingest (remote images blocked); only `cid:` references to the
/// message's own inline parts are pointed at their download URL here.
fn with_inline_images(t: &Ticket, m: &Message, html: &str) -> String {
    let mut out = html.to_string();
    for (i, a) in m.attachments.iter().enumerate() {
        if let (Some(cid), Some(_)) = (&a.content_id, &a.blob_key) {
            let escaped = maud::html! { (cid) }.into_string();
            out = out.replace(
                &format!("src=\"cid:{escaped}\""),
                &format!("src=\"{}\"", attachment_url(t, m, i)),
            );
        }
    }
    out
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1024 * 1024 => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
        b if b >= 1024 => format!("{} kB", b.div_ceil(1024)),
        b => format!("{b} bytes"),
    }
}

/// One message's body as agents read it.
pub(crate) fn message_body(t: &Ticket, m: &Message, csrf: &str, staff: bool) -> Markup {
    let parts = helpdesk_mail::split_reply(&m.body_text);
    // Fold only what the customer quoted or signed; an all-quote message shows in full.
    let fold = m.kind == MessageKind::CustomerMessage
        && !parts.new_text.trim().is_empty()
        && (parts.quoted.is_some() || parts.signature.is_some());
    let listed: Vec<(usize, &helpdesk_domain::AttachmentMeta)> = m
        .attachments
        .iter()
        .enumerate()
        .filter(|(_, a)| !(a.inline && a.content_id.is_some() && m.body_html.is_some()))
        .collect();
    html! {
        @if fold {
            div.body { (parts.new_text.trim_end()) }
            details.quoted {
                summary { "Show quoted text" @if parts.signature.is_some() { " and signature" } }
                @if let Some(sig) = &parts.signature { div.body.signature { (sig) } }
                @if let Some(q) = &parts.quoted { div.body.quote { (q) } }
            }
        } @else {
            div.body { (m.body_text) }
        }
        @if let Some(h) = &m.body_html {
            details.formatted {
                summary { "Show the formatted e-mail" }
                div.email-html { (PreEscaped(with_inline_images(t, m, h))) }
            }
        }
        @if !listed.is_empty() {
            ul.attachments aria-label="Attachments" {
                @for (i, a) in listed {
                    li {
                        @if a.blob_key.is_some() {
                            a href=(attachment_url(t, m, i)) { (a.safe_filename()) }
                        } @else {
                            span { (a.safe_filename()) }
                        }
                        " " span.muted { (a.content_type) ", " (size(a.size)) }
                        @if let Some(why) = &a.omitted { " " span.badge.mail-failed title=(why) { "not kept" } }
                    }
                }
            }
        }
        @if staff {
            @if let Some(reason) = &m.thread_reason {
                p.thread-reason.muted { "Threaded here: " (reason) }
            }
            @if m.kind == MessageKind::CustomerMessage {
                details.move-message {
                    summary { "Wrong ticket? Move this message" }
                    form.stack method="post" action={"/app/tickets/" (t.number) "/messages/" (m.id) "/move"} {
                        (csrf_field(csrf))
                        label for={"mv-" (m.id)} { "Move to ticket number" }
                        input id={"mv-" (m.id)} type="text" name="to" placeholder="HD-12" required;
                        label for={"mvn-" (m.id)} { "Why (for the history)" }
                        input id={"mvn-" (m.id)} type="text" name="note";
                        button type="submit" { "Move message" }
                    }
                }
            }
        }
    }
}

/// `GET /app/tickets/{ticket}/messages/{message}/attachments/{index}`
pub async fn attachment(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((ticket, message, index)): Path<(String, String, String)>,
) -> Response {
    let Ok(index) = index.parse::<usize>() else {
        return app_error_page(&user, AppError::NotFound { what: "attachment" });
    };
    match state
        .helpdesk
        .attachment(&user.actor, &ticket, &message, index)
        .await
    {
        Ok(file) => crate::routes::attachments::file_response(file),
        Err(e) => app_error_page(&user, e),
    }
}

/// `POST /app/tickets/{ticket}/messages/{message}/move`
pub async fn move_message(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((ticket, message)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let input = MoveMessage {
        to: field(&form, "to").unwrap_or("").trim().to_string(),
        note: field(&form, "note").map(str::to_string),
    };
    match state
        .helpdesk
        .move_message(&user.actor, &ticket, &message, input)
        .await
    {
        // Follow the message to where it is now.
        Ok((_, target)) => Redirect::to(&format!("/app/tickets/{}", target.number)).into_response(),
        Err(e @ (AppError::Validation { .. } | AppError::Conflict { .. })) => {
            let banner = flash("error", &e.to_string());
            super::pages::detail_page(
                &state,
                &user,
                &ticket,
                Some(banner),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => app_error_page(&user, e),
    }
}

/// `GET /app/quarantine`: inbound mail that could not become tickets, for admins.
pub async fn quarantine(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(params): Query<FormData>,
) -> Response {
    quarantine_page(
        &state,
        &user,
        field(&params, "cursor"),
        None,
        StatusCode::OK,
    )
    .await
}

async fn quarantine_page(
    state: &AppState,
    user: &ConsoleUser,
    cursor: Option<&str>,
    banner: Option<Markup>,
    status: StatusCode,
) -> Response {
    let list = match state
        .helpdesk
        .list_quarantine(
            &user.actor,
            50,
            cursor.filter(|c| !c.is_empty()).map(str::to_string),
        )
        .await
    {
        Ok(l) => l,
        Err(e) => return app_error_page(user, e),
    };
    let email = user.email();
    let p = page(user, &email, "Mail quarantine", "");
    render(
        status,
        layout(
            &p,
            html! {
                div.pagehead {
                    div {
                        p.crumb { a href="/app" { "Dashboard" } " / Mail quarantine" }
                        h1 { "Mail quarantine" }
                        p.meta { "Messages that could not become tickets. The raw message is kept; reprocess one after fixing the cause (a limit, a parser update)." }
                    }
                }
                @if let Some(b) = banner { (b) }
                @if list.items.is_empty() {
                    p.empty { "Nothing in quarantine." }
                } @else {
                    table.list {
                        thead { tr { th { "Received" } th { "Reason" } th { "Size" } th { span.sr-only { "Actions" } } } }
                        tbody {
                            @for q in &list.items {
                                tr {
                                    td { (super::view::time(&q.received_at)) }
                                    td { (q.reason) br; span.muted { (q.raw) } }
                                    td { (size(q.size as u64)) }
                                    td {
                                        form method="post" action={"/app/quarantine/" (q.id) "/reprocess"} {
                                            (csrf_field(&user.csrf))
                                            button type="submit" { "Reprocess" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if let Some(next) = &list.next_cursor {
                        p { a.button href={"/app/quarantine?cursor=" (next)} { "Older" } }
                    }
                }
            },
        ),
    )
}

/// `POST /app/quarantine/{id}/reprocess`
pub async fn reprocess(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    match state.helpdesk.reprocess(&user.actor, &id).await {
        Ok(outcome) => {
            let what = match (&outcome.ticket, outcome.outcome) {
                (Some(n), helpdesk_app::inbound::Outcome::Created) => format!("Created {n}."),
                (Some(n), helpdesk_app::inbound::Outcome::Appended) => format!("Added to {n}."),
                _ => String::new(),
            };
            let kind = if outcome.outcome == helpdesk_app::inbound::Outcome::Rejected {
                "error"
            } else {
                "info"
            };
            let banner = flash(kind, format!("{what} {}", outcome.reason).trim());
            quarantine_page(&state, &user, None, Some(banner), StatusCode::OK).await
        }
        Err(e @ AppError::Validation { .. }) => {
            let banner = flash("error", &e.to_string());
            quarantine_page(
                &state,
                &user,
                None,
                Some(banner),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => app_error_page(&user, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(size(10), "10 bytes");
        assert_eq!(size(1500), "2 kB");
        assert_eq!(size(3 * 1024 * 1024), "3.0 MB");
    }
}
