//! Console parts of the automations: a ticket's survey answers and scheduled follow-ups (with a
//! form to add one), and the admins' automation settings page.

use super::pages::{after_write, app_error_page, check_csrf, field, page, render, FormData};
use super::session::ConsoleUser;
use super::view::{self, csrf_field, flash, layout};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use helpdesk_app::automations::{
    rating_label, AutomationSettings, JobState, NewFollowUp, ScheduledJob,
};
use helpdesk_app::tickets::TicketView;
use helpdesk_app::AppError;
use helpdesk_domain::Status;
use maud::{html, Markup};

/// The ticket's jobs for the detail page; none when they cannot be read (the page still shows).
pub(super) async fn ticket_jobs(
    state: &AppState,
    user: &ConsoleUser,
    reference: &str,
) -> Vec<ScheduledJob> {
    state
        .helpdesk
        .list_follow_ups(&user.actor, reference)
        .await
        .unwrap_or_default()
}

fn job_label(job: &ScheduledJob) -> &'static str {
    match job.kind {
        helpdesk_app::automations::JobKind::CsatSurvey => "Satisfaction survey",
        helpdesk_app::automations::JobKind::FollowUp => "\"Did this solve it?\" e-mail",
        helpdesk_app::automations::JobKind::AutoClose => "Auto-close",
        helpdesk_app::automations::JobKind::Reminder => "Follow-up",
    }
}

pub(super) fn ticket_panel(
    view_data: &TicketView,
    jobs: &[ScheduledJob],
    base: &str,
    csrf: &str,
) -> Markup {
    html! {
        @if !view_data.csat.is_empty() {
            section.csat aria-labelledby="csat-h" {
                h2 #csat-h { "Customer satisfaction" }
                ul {
                    @for r in &view_data.csat {
                        li {
                            strong { (r.rating) "/5" } " " (rating_label(r.rating))
                            " · " (view::time(&r.answered_at))
                            @if let Some(c) = &r.comment { blockquote { (c) } }
                        }
                    }
                }
            }
        }
        section.followups aria-labelledby="fu-h" {
            h2 #fu-h { "Follow-ups" }
            @if jobs.is_empty() {
                p.muted { "Nothing scheduled." }
            } @else {
                ul {
                    @for j in jobs {
                        li {
                            (job_label(j)) " · " (view::time(&j.due_at)) " "
                            span class={"badge job-" (format!("{:?}", j.state).to_lowercase())} {
                                (format!("{:?}", j.state).to_lowercase())
                            }
                            @if let Some(n) = &j.note { " — " (n) }
                            @if let Some(o) = &j.outcome { " (" (o) ")" }
                            @if j.state == JobState::Pending {
                                form.inline method="post" action={(base) "/follow-ups/" (j.id) "/cancel"} {
                                    (csrf_field(csrf))
                                    button.link type="submit" { "Cancel" }
                                }
                            }
                        }
                    }
                }
            }
            @if view_data.ticket.status != Status::Closed {
                details {
                    summary { "Schedule a follow-up" }
                    form.stack method="post" action={(base) "/follow-ups"} {
                        (csrf_field(csrf))
                        label for="fu-at" { "When (UTC)" }
                        input #fu-at type="datetime-local" name="at" required;
                        label for="fu-note" { "Note for the reminder" }
                        textarea #fu-note name="note" rows="2" {}
                        label for="fu-template" { "E-mail the customer this template (optional)" }
                        input #fu-template type="text" name="email_template" placeholder="template name";
                        button type="submit" { "Schedule" }
                    }
                }
            }
        }
    }
}

/// `datetime-local` (no zone, read as UTC) or RFC 3339.
fn parse_at(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, AppError> {
    let raw = raw.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(raw, fmt) {
            return Ok(t.and_utc());
        }
    }
    Err(AppError::validation("at", "must be a date and time"))
}

pub async fn add_follow_up(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(reference): Path<String>,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let nonempty = |name: &str| {
        field(&form, name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let result = match parse_at(field(&form, "at").unwrap_or("")) {
        Ok(at) => state
            .helpdesk
            .schedule_follow_up(
                &user.actor,
                &reference,
                NewFollowUp {
                    at,
                    note: nonempty("note"),
                    email_template: nonempty("email_template"),
                },
            )
            .await
            .map(|j| j.number.to_string()),
        Err(e) => Err(e),
    };
    after_write(&state, &user, &reference, result).await
}

pub async fn cancel_follow_up(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((reference, id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let result = state
        .helpdesk
        .cancel_follow_up(&user.actor, &reference, &id)
        .await
        .map(|j| j.number.to_string());
    after_write(&state, &user, &reference, result).await
}

fn settings_form(
    user: &ConsoleUser,
    s: &AutomationSettings,
    version: u64,
    banner: Option<Markup>,
    status: StatusCode,
) -> Response {
    let email = user.email();
    let p = page(user, &email, "Automations", "automations");
    let check = |name: &str, id: &str, label: &str, on: bool| {
        html! {
            label.check for=(id) {
                input #(id) type="checkbox" name=(name) value="on" checked[on];
                " " (label)
            }
        }
    };
    let number = |name: &str, id: &str, label: &str, v: u32| {
        html! {
            label for=(id) { (label) }
            input #(id) type="number" name=(name) value=(v) min="0" required;
        }
    };
    render(
        status,
        layout(
            &p,
            html! {
                div.pagehead { div { h1 { "Automations" } } }
                @if let Some(b) = banner { (b) }
                form.stack method="post" action="/app/automations" {
                    (csrf_field(&user.csrf))
                    input type="hidden" name="version" value=(version);
                    fieldset {
                        legend { "Satisfaction survey (CSAT)" }
                        (check("csat_enabled", "a-csat", "Send a survey after each resolution", s.csat.enabled))
                        (number("csat_delay_minutes", "a-csat-delay", "Minutes after the resolution", s.csat.delay_minutes))
                        (number("csat_link_valid_days", "a-csat-valid", "Links work for (days)", s.csat.link_valid_days))
                    }
                    fieldset {
                        legend { "\"Did this solve it?\"" }
                        (check("follow_up_enabled", "a-fu", "E-mail the customer after a resolution without a reply", s.follow_up.enabled))
                        (number("follow_up_after_days", "a-fu-days", "Days after the resolution", s.follow_up.after_days))
                    }
                    fieldset {
                        legend { "Auto-close" }
                        (check("auto_close_enabled", "a-ac", "Close resolved tickets", s.auto_close.enabled))
                        (number("auto_close_after_days", "a-ac-days", "Days after the resolution", s.auto_close.after_days))
                    }
                    fieldset {
                        legend { "Status-update e-mails" }
                        (check("status_updates_enabled", "a-su", "E-mail the customer when the status changes to:", s.status_updates.enabled))
                        @for st in Status::ALL {
                            (check("status", &format!("a-su-{st}"), &view::label(st.as_str()), s.status_updates.statuses.contains(st)))
                        }
                    }
                    button.primary type="submit" { "Save" }
                }
            },
        ),
    )
}

pub async fn settings_page(State(state): State<AppState>, user: ConsoleUser) -> Response {
    match state.helpdesk.get_automation_settings(&user.actor).await {
        Ok((s, v)) => settings_form(&user, &s, v, None, StatusCode::OK),
        Err(e) => app_error_page(&user, e),
    }
}

pub async fn save_settings(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let on = |name: &str| field(&form, name) == Some("on");
    let num = |name: &str| -> Result<u32, AppError> {
        field(&form, name)
            .unwrap_or("")
            .trim()
            .parse()
            .map_err(|_| AppError::validation(name, "must be a whole number"))
    };
    let parsed = (|| -> Result<(AutomationSettings, Option<u64>), AppError> {
        let mut s = AutomationSettings::default();
        s.csat.enabled = on("csat_enabled");
        s.csat.delay_minutes = num("csat_delay_minutes")?;
        s.csat.link_valid_days = num("csat_link_valid_days")?;
        s.follow_up.enabled = on("follow_up_enabled");
        s.follow_up.after_days = num("follow_up_after_days")?;
        s.auto_close.enabled = on("auto_close_enabled");
        s.auto_close.after_days = num("auto_close_after_days")?;
        s.status_updates.enabled = on("status_updates_enabled");
        s.status_updates.statuses = form
            .iter()
            .filter(|(k, _)| k == "status")
            .filter_map(|(_, v)| v.parse::<Status>().ok())
            .collect();
        let version = field(&form, "version").and_then(|v| v.trim().parse().ok());
        Ok((s, version))
    })();
    let result = match parsed {
        Ok((s, version)) => state
            .helpdesk
            .put_automation_settings(&user.actor, s.clone(), version)
            .await
            .map_err(|e| (e, s)),
        Err(e) => Err((e, AutomationSettings::default())),
    };
    match result {
        Ok(_) => Redirect::to("/app/automations").into_response(),
        Err((e @ (AppError::Validation { .. } | AppError::Conflict { .. }), attempted)) => {
            let status = if matches!(e, AppError::Conflict { .. }) {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let version = state
                .helpdesk
                .get_automation_settings(&user.actor)
                .await
                .map(|(_, v)| v)
                .unwrap_or(0);
            settings_form(
                &user,
                &attempted,
                version,
                Some(flash("error", &e.to_string())),
                status,
            )
        }
        Err((e, _)) => app_error_page(&user, e),
    }
}
