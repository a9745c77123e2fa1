//! Routing in the console: the routing queue's dead letters for admins (events that failed too
//! often or could not be read), each with its ticket, last error, attempts and time, and a
//! Requeue button. The same use cases as `GET /api/v1/routing/dead-letters` and
//! `POST /api/v1/routing/dead-letters/{id}/requeue` (admins only; agents get 403).

use super::pages::{app_error_page, check_csrf, page, render, FormData};
use super::session::ConsoleUser;
use super::view::{csrf_field, flash, layout};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use helpdesk_app::AppError;
use maud::{html, Markup};

/// Dead letters listed, at most (the API's page size).
const LIMIT: usize = 100;

/// `GET /app/routing/dead-letters`
pub async fn dead_letters(State(state): State<AppState>, user: ConsoleUser) -> Response {
    dead_letters_page(&state, &user, None).await
}

async fn dead_letters_page(
    state: &AppState,
    user: &ConsoleUser,
    banner: Option<Markup>,
) -> Response {
    let items = match state
        .helpdesk
        .routing_dead_letters(&user.actor, LIMIT)
        .await
    {
        Ok(items) => items,
        Err(e) => return app_error_page(user, e),
    };
    let email = user.email();
    let p = page(user, &email, "Routing dead letters", "");
    render(
        StatusCode::OK,
        layout(
            &p,
            html! {
                div.pagehead {
                    div {
                        p.crumb { a href="/app" { "Dashboard" } " / Routing dead letters" }
                        h1 { "Routing dead letters" }
                        p.meta { "Routing events that failed too often, or could not be read. Fix the cause, then requeue: routing is idempotent, so a ticket routed meanwhile is not changed again." }
                    }
                }
                @if let Some(b) = banner { (b) }
                @if items.is_empty() {
                    p.empty { "No dead letters." }
                } @else {
                    table.list {
                        thead { tr { th { "Ticket" } th { "Error" } th { "Attempts" } th { "Dead since" } th { span.sr-only { "Actions" } } } }
                        tbody {
                            @for d in &items {
                                tr {
                                    td {
                                        @if let Some(id) = &d.ticket_id {
                                            a href={"/app/tickets/" (id)} { (id) }
                                        } @else {
                                            span.muted { "not a routing event" }
                                        }
                                    }
                                    td { (d.last_error.as_deref().unwrap_or("—")) }
                                    td { (d.attempts) }
                                    td {
                                        @if let Some(at) = d.dead_at.as_ref().or(d.enqueued_at.as_ref()) {
                                            (super::view::time(at))
                                        } @else { "—" }
                                    }
                                    td {
                                        form method="post" action={"/app/routing/dead-letters/" (d.id) "/requeue"} {
                                            (csrf_field(&user.csrf))
                                            button type="submit" { "Requeue" }
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

/// `POST /app/routing/dead-letters/{id}/requeue`
pub async fn requeue(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let banner = match state.helpdesk.requeue_dead_letter(&user.actor, &id).await {
        Ok(()) => flash("info", "Requeued: the routing worker takes it from here."),
        Err(AppError::NotFound { .. }) => {
            flash("error", "That dead letter is gone (requeued already?).")
        }
        Err(e) => return app_error_page(&user, e),
    };
    dead_letters_page(&state, &user, Some(banner)).await
}
