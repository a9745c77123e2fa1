//! Console pages. Each handler: check the session (and CSRF on posts), call one use case, render.

use super::session::{self, ConsoleUser};
use super::view::{self, csrf_field, flash, layout, priority_badge, status_badge, Page};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use helpdesk_app::listing::TicketFilter;
use helpdesk_app::tickets::{
    BulkAction, BulkRequest, CustomerRef, Merge, NewMessage, NewTicket, Transfer, UpdateTicket,
};
use helpdesk_app::AppError;
use helpdesk_domain::{
    Actor, Agent, AgentStatus, Channel, Department, DepartmentId, EmailAddress, MessageKind,
    Priority, Status, Ticket,
};
use maud::{html, Markup};

pub(crate) type FormData = Vec<(String, String)>;

pub(crate) fn field<'a>(form: &'a FormData, name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// An optional form field parsed into a domain type; a bad value is a validation error naming it.
fn parsed<T>(
    form: &FormData,
    name: &str,
    parse: impl Fn(&str) -> Result<T, helpdesk_domain::ParseError>,
) -> Result<Option<T>, AppError> {
    non_empty(form, name)
        .map(parse)
        .transpose()
        .map_err(|e| AppError::validation(name, e.message))
}

pub(super) fn non_empty<'a>(form: &'a FormData, name: &str) -> Option<&'a str> {
    field(form, name).map(str::trim).filter(|v| !v.is_empty())
}

/// Every console page goes out with headers that keep it from being framed or sniffed.
pub(crate) fn render(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        markup.into_string(),
    )
        .into_response()
}

pub(crate) fn page<'a>(
    user: &'a ConsoleUser,
    email: &'a str,
    title: &'a str,
    active: &'a str,
) -> Page<'a> {
    Page {
        title,
        user: Some(email),
        csrf: &user.csrf,
        active,
    }
}

pub(crate) fn check_csrf(
    state: &AppState,
    user: &ConsoleUser,
    form: &FormData,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let presented = field(form, "_csrf")
        .or_else(|| headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))
        .unwrap_or("");
    if session::csrf_ok(&state.auth, &user.session, presented) {
        Ok(())
    } else {
        let email = user.email();
        Err(render(
            StatusCode::FORBIDDEN,
            view::error_page(
                &page(user, &email, "Expired form", ""),
                "This form has expired",
                "Reload the page and try again (the security token did not match).",
            ),
        ))
    }
}

pub(crate) fn app_error_page(user: &ConsoleUser, e: AppError) -> Response {
    let email = user.email();
    let p = page(user, &email, "Error", "");
    match e {
        AppError::NotFound { what } => render(
            StatusCode::NOT_FOUND,
            view::error_page(&p, "Not found", &format!("That {what} does not exist.")),
        ),
        AppError::Forbidden(why) => render(
            StatusCode::FORBIDDEN,
            view::error_page(&p, "Not allowed", why),
        ),
        AppError::Internal { .. } => {
            let _ = crate::problem::Problem::from(e); // logs the cause chain
            render(
                StatusCode::INTERNAL_SERVER_ERROR,
                view::error_page(
                    &p,
                    "Something went wrong",
                    "It has been logged. Try again in a moment.",
                ),
            )
        }
        other => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            view::error_page(&p, "That did not work", &other.to_string()),
        ),
    }
}

// ---------- sign-in ----------

#[derive(serde::Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

fn login_page(next: &str, error: Option<&str>, login_csrf: &str) -> Markup {
    let p = Page {
        title: "Sign in",
        user: None,
        csrf: "",
        active: "",
    };
    layout(
        &p,
        html! {
            section.login {
                h1 { "Sign in to helpdesk" }
                @if let Some(e) = error { (flash("error", e)) }
                form method="post" action="/app/login" {
                    input type="hidden" name="_login" value=(login_csrf);
                    input type="hidden" name="next" value=(next);
                    label for="token" { "Access token" }
                    textarea #token name="token" rows="4" required autocomplete="off" spellcheck="false" aria-describedby="token-help" {}
                    p #token-help .help { "Print one with " code { "helpdesk token --role agent --agent you@example.com" } "." }
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    )
}

pub async fn login_form(State(state): State<AppState>, Query(q): Query<NextParam>) -> Response {
    let next = session::safe_next(q.next.as_deref());
    match state.auth.as_ref() {
        crate::auth::AuthConfig::LocalJwt { .. } => {
            let token = session::random_token();
            let mut resp = render(StatusCode::OK, login_page(&next, None, &token));
            if let Ok(v) = session::set_cookie(session::LOGIN_COOKIE, &token, 3600).parse() {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        crate::auth::AuthConfig::GatewayVerified { console: Some(sso) } => {
            // Hosted UI: authorization code + PKCE. The state and verifier wait in a cookie
            // scoped to the callback; the provider never sees the verifier until the exchange.
            let state_value = session::random_token();
            let (verifier, challenge) = session::pkce_pair();
            let url = sso
                .provider
                .authorize_url(&state_value, &challenge, &sso.redirect_uri);
            let cookie_value = format!(
                "{state_value}.{verifier}.{}",
                session::urlencode(&next).replace('.', "%2E")
            );
            let mut resp = Redirect::to(&url).into_response();
            if let Ok(v) = session::set_oauth_cookie(&cookie_value, 600).parse() {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        crate::auth::AuthConfig::GatewayVerified { console: None } => {
            let p = Page {
                title: "Sign in",
                user: None,
                csrf: "",
                active: "",
            };
            render(
                StatusCode::SERVICE_UNAVAILABLE,
                view::error_page(&p, "Console sign-in is not configured", "Set the Cognito hosted-UI settings of this deployment (see docs/operations.md)."),
            )
        }
    }
}

#[derive(serde::Deserialize)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The identity provider's redirect back: check the state, exchange the code with the PKCE
/// verifier, verify the ID token, and start a session for team members only.
pub async fn auth_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackParams>,
) -> Response {
    let p = Page {
        title: "Sign in",
        user: None,
        csrf: "",
        active: "",
    };
    let fail = |status: StatusCode, text: &str| {
        let mut resp = render(status, view::error_page(&p, "Sign-in failed", text));
        if let Ok(v) = session::set_oauth_cookie("", 0).parse() {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
        resp
    };
    let crate::auth::AuthConfig::GatewayVerified { console: Some(sso) } = state.auth.as_ref()
    else {
        return fail(
            StatusCode::NOT_FOUND,
            "This installation signs in with a token.",
        );
    };
    if let Some(e) = q.error {
        return fail(
            StatusCode::UNAUTHORIZED,
            &format!("The identity provider said: {e}."),
        );
    }
    let cookie = session::cookie(&headers, session::OAUTH_COOKIE).unwrap_or_default();
    let mut parts = cookie.splitn(3, '.');
    let (Some(expected_state), Some(verifier), Some(next)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return fail(
            StatusCode::BAD_REQUEST,
            "The sign-in took too long or started elsewhere. Try again.",
        );
    };
    let (Some(code), Some(got_state)) = (q.code, q.state) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "The identity provider sent no code.",
        );
    };
    if !session::same(expected_state, &got_state) {
        return fail(
            StatusCode::BAD_REQUEST,
            "The sign-in state does not match. Try again.",
        );
    }
    let token = match sso
        .provider
        .exchange_code(&code, verifier, &sso.redirect_uri)
        .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "console sign-in: code exchange failed");
            return fail(
                StatusCode::UNAUTHORIZED,
                "The sign-in code was not accepted. Try again.",
            );
        }
    };
    match session::session_actor(&state.auth, &token).await {
        Some(actor) if actor.is_staff() => {
            let decoded: Option<String> =
                serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("n={next}"))
                    .ok()
                    .and_then(|v| v.into_iter().next())
                    .map(|(_, v)| v);
            let next = session::safe_next(decoded.as_deref());
            // A page, not a redirect: the session cookie is SameSite=Strict, and a redirect
            // chain that began at the provider would not carry it to the first page.
            let mut resp = render(
                StatusCode::OK,
                layout(
                    &p,
                    html! {
                        meta http-equiv="refresh" content={"0;url=" (next)};
                        section.login { h1 { "Signed in" } p { a href=(next) { "Continue to the console" } } }
                    },
                ),
            );
            for c in [
                session::set_cookie(session::SESSION_COOKIE, &token, session::SESSION_SECONDS),
                session::set_oauth_cookie("", 0),
            ] {
                if let Ok(v) = c.parse() {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            resp
        }
        Some(_) => fail(
            StatusCode::FORBIDDEN,
            "The console is for the support team (Cognito groups agent, supervisor or admin).",
        ),
        None => fail(
            StatusCode::UNAUTHORIZED,
            "The identity token could not be verified.",
        ),
    }
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    let next = session::safe_next(field(&form, "next"));
    let fresh = session::random_token();
    let fail = |msg: &str| {
        let mut resp = render(
            StatusCode::UNAUTHORIZED,
            login_page(&next, Some(msg), &fresh),
        );
        if let Ok(v) = session::set_cookie(session::LOGIN_COOKIE, &fresh, 3600).parse() {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
        resp
    };
    // Double-submit check: the form's value must match the cookie set with the form.
    let cookie = session::cookie(&headers, session::LOGIN_COOKIE).unwrap_or_default();
    if cookie.is_empty() || field(&form, "_login") != Some(cookie.as_str()) {
        return fail("The sign-in form expired. Please try again.");
    }
    let token = field(&form, "token").unwrap_or("").trim().to_string();
    match state.auth.verify_token(&token) {
        Ok(actor) if actor.is_staff() => {
            let mut resp = Redirect::to(&next).into_response();
            for c in [
                session::set_cookie(session::SESSION_COOKIE, &token, session::SESSION_SECONDS),
                session::set_cookie(session::LOGIN_COOKIE, "", 0),
            ] {
                if let Ok(v) = c.parse() {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            resp
        }
        Ok(_) => fail("The console is for the support team. Customers use the help centre."),
        Err(_) => fail("That token is not valid (expired, or from another installation)."),
    }
}

pub async fn logout(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let mut resp = Redirect::to("/app/login").into_response();
    if let Ok(v) = session::set_cookie(session::SESSION_COOKIE, "", 0).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

// ---------- dashboard ----------

fn change(
    current: Option<f64>,
    previous: Option<f64>,
    lower_is_better: bool,
    points: bool,
) -> Markup {
    match (current, previous) {
        (Some(c), Some(p)) if p != 0.0 || points => {
            let delta = if points {
                (c - p) * 100.0
            } else {
                (c - p) / p * 100.0
            };
            let better = if lower_is_better {
                delta < 0.0
            } else {
                delta > 0.0
            };
            let arrow = if delta > 0.0 {
                "▲"
            } else if delta < 0.0 {
                "▼"
            } else {
                "■"
            };
            let unit = if points { " pts" } else { "%" };
            let verdict = if delta == 0.0 {
                "no change"
            } else if better {
                "better"
            } else {
                "worse"
            };
            html! { span class={"change " (if better { "good" } else if delta == 0.0 { "flat" } else { "bad" })} { span aria-hidden="true" { (arrow) " " } (format!("{:+.0}{unit}", delta)) " vs previous period (" (verdict) ")" } }
        }
        _ => html! { span.change.flat { "No earlier data to compare" } },
    }
}

pub async fn dashboard(State(state): State<AppState>, user: ConsoleUser) -> Response {
    let email = user.email();
    let stats = match state.helpdesk.dashboard(&user.actor, 7).await {
        Ok(s) => s,
        Err(e) => return app_error_page(&user, e),
    };
    let me = match EmailAddress::parse(&email) {
        Ok(e) => state.helpdesk.get_agent(&user.actor, &e).await.ok(),
        Err(_) => None,
    };
    let mut mine = TicketFilter {
        limit: 5,
        ..Default::default()
    };
    mine.statuses = Status::ALL
        .iter()
        .copied()
        .filter(|s| s.is_open())
        .collect();
    mine.assignee = Some(helpdesk_app::listing::AssigneeFilter::Me);
    let my_queue = state
        .helpdesk
        .list_tickets(&user.actor, mine)
        .await
        .map(|p| p.items)
        .unwrap_or_default();
    let urgent = stats.open_by_priority.get("urgent").copied().unwrap_or(0);
    let p = page(&user, &email, "Dashboard", "dashboard");
    render(
        StatusCode::OK,
        layout(
            &p,
            html! {
                div.pagehead {
                    h1 { "Dashboard" }
                    div.actions {
                        a.button.primary href="/app/tickets/new" { "Create ticket" }
                        @if user.actor.can_manage_directory() { a.button href="/app/quarantine" { "Mail quarantine" } }
                        @if user.actor.can_manage_directory() { a.button href="/app/routing/dead-letters" { "Routing dead letters" } }
                        (status_toggle(me.as_ref(), &user.csrf))
                    }
                }
                section.cards aria-label="Key figures, last 7 days" {
                    article.card class=(if urgent > 0 { "card urgent" } else { "card" }) {
                        h2 { "Open tickets" }
                        p.figure { (stats.open_total) }
                        p { @if urgent > 0 { strong { (urgent) " urgent" } } @else { "None urgent" } }
                    }
                    article.card {
                        h2 { "Avg first response" }
                        p.figure { (stats.first_response_secs.current.map(view::duration).unwrap_or_else(|| "—".into())) }
                        (change(stats.first_response_secs.current, stats.first_response_secs.previous, true, false))
                    }
                    article.card {
                        h2 { "Resolution rate" }
                        p.figure { (stats.resolution_rate.current.map(|r| format!("{:.0}%", r * 100.0)).unwrap_or_else(|| "—".into())) }
                        (change(stats.resolution_rate.current, stats.resolution_rate.previous, false, true))
                    }
                    article.card {
                        h2 { "Customer satisfaction" }
                        p.figure { (stats.csat.map(|c| format!("{c:.1}/5")).unwrap_or_else(|| "—".into())) }
                        p.change.flat { "No survey responses yet" }
                    }
                }
                nav.tabs aria-label="Workspaces" {
                    a href="/app/tickets?status=open" aria-current="page" { "Tickets " span.count { (stats.open_total) } }
                    span.tab-off { "Live chat " span.count { "not built yet" } }
                    span.tab-off { "Knowledge base " span.count { "not built yet" } }
                    span.tab-off { "Analytics " span.count { "not built yet" } }
                }
                section aria-labelledby="myq" {
                    h2 #myq { "My open tickets" }
                    @if my_queue.is_empty() {
                        p.empty { "Nothing assigned to you. " a href="/app/tickets?assignee=unassigned&status=open" { "Pick up an unassigned ticket" } "." }
                    } @else {
                        ul.mini { @for t in &my_queue { li { a href={"/app/tickets/" (t.number)} { (t.number) " · " (t.subject) } " " (priority_badge(t.priority)) } } }
                    }
                }
            },
        ),
    )
}

fn status_toggle(me: Option<&Agent>, csrf: &str) -> Markup {
    html! {
        @if let Some(agent) = me {
            form.toggle method="post" action="/app/me/status" aria-label="My availability" {
                (csrf_field(csrf))
                @for s in AgentStatus::ALL {
                    button type="submit" name="status" value=(s.as_str()) aria-pressed=(if *s == agent.status { "true" } else { "false" }) { (view::label(s.as_str())) }
                }
            }
        } @else {
            span.help { "No agent profile: ask an admin to add you to the team." }
        }
    }
}

pub async fn set_my_status(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let Some(status) = field(&form, "status").and_then(|s| AgentStatus::parse(s).ok()) else {
        return app_error_page(
            &user,
            AppError::validation("status", "choose available, busy or offline"),
        );
    };
    let result = match EmailAddress::parse(&user.email()) {
        Ok(me) => {
            state
                .helpdesk
                .set_agent_status(&user.actor, &me, status)
                .await
        }
        Err(_) => Err(AppError::NotFound { what: "agent" }),
    };
    match result {
        Ok(_) => Redirect::to("/app").into_response(),
        Err(e) => app_error_page(&user, e),
    }
}

// ---------- ticket list ----------

async fn directory(state: &AppState, actor: &Actor) -> (Vec<Agent>, Vec<Department>) {
    let agents = state
        .helpdesk
        .list_agents(actor, 200, None)
        .await
        .map(|p| p.items)
        .unwrap_or_default();
    let departments = state
        .helpdesk
        .list_departments(actor, 200, None)
        .await
        .map(|p| p.items)
        .unwrap_or_default();
    (agents, departments)
}

fn list_query(params: &FormData, cursor: Option<&str>) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, v)| k != "cursor" && !v.is_empty())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Some(c) = cursor {
        pairs.push(("cursor", c));
    }
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

pub async fn ticket_list(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(params): Query<FormData>,
) -> Response {
    list_page(&state, &user, params, None).await
}

async fn list_page(
    state: &AppState,
    user: &ConsoleUser,
    params: FormData,
    outcome: Option<Markup>,
) -> Response {
    let email = user.email();
    let filter = match crate::routes::tickets::filter_from(
        params
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .cloned()
            .collect(),
    ) {
        Ok(f) => f,
        Err(problem) => {
            let p = page(user, &email, "Tickets", "tickets");
            return render(
                StatusCode::UNPROCESSABLE_ENTITY,
                view::error_page(
                    &p,
                    "Those filters do not work",
                    &format!("{}: {}", problem.field.unwrap_or_default(), problem.detail),
                ),
            );
        }
    };
    let (tickets, next) = match state.helpdesk.list_tickets(&user.actor, filter).await {
        Ok(page) => (page.items, page.next_cursor),
        Err(e) => return app_error_page(user, e),
    };
    let (agents, departments) = directory(state, &user.actor).await;
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let back = list_query(&params, None);
    let p = page(user, &email, "Tickets", "tickets");
    let status_opts: Vec<(&str, String)> = [("", "All".to_string()), ("open", "Open".to_string())]
        .into_iter()
        .chain(
            Status::ALL
                .iter()
                .map(|s| (s.as_str(), view::label(s.as_str()))),
        )
        .collect();
    let prio_opts: Vec<(&str, String)> = std::iter::once(("", "Any".to_string()))
        .chain(
            Priority::ALL
                .iter()
                .rev()
                .map(|p| (p.as_str(), view::label(p.as_str()))),
        )
        .collect();
    let assignee_opts: Vec<(&str, String)> = [
        ("", "Anyone".to_string()),
        ("me", "Me".to_string()),
        ("unassigned", "Unassigned".to_string()),
    ]
    .into_iter()
    .chain(view::agent_options(&agents))
    .collect();
    let dept_opts: Vec<(&str, String)> = std::iter::once(("", "Any".to_string()))
        .chain(departments.iter().map(|d| (d.id.as_str(), d.name.clone())))
        .collect();
    render(
        StatusCode::OK,
        layout(
            &p,
            html! {
                div.pagehead {
                    h1 { "Tickets" }
                    div.actions { a.button.primary href="/app/tickets/new" { "Create ticket" } a.button href="/app/board" { "Board view" } }
                }
                @if let Some(o) = outcome { (o) }
                form.filters method="get" action="/app/tickets" role="search" aria-label="Filter tickets" {
                    div.f-search {
                        label for="q" { "Search" }
                        input #q type="search" name="q" value=(get("q")) placeholder="HD-12, customer@…, words of the subject";
                    }
                    div { (view::select_options("status", "f-status", "Status", status_opts, get("status"))) }
                    div { (view::select_options("priority", "f-priority", "Priority", prio_opts, get("priority"))) }
                    div { (view::select_options("assignee", "f-assignee", "Assignee", assignee_opts, get("assignee"))) }
                    div { (view::select_options("department", "f-department", "Department", dept_opts, get("department"))) }
                    div.f-go { button type="submit" { "Apply filters" } a href="/app/tickets" { "Reset" } }
                }
                @if tickets.is_empty() {
                    section.empty {
                        h2 { "No tickets match" }
                        p { "Try other filters, or " a href="/app/tickets" { "show all tickets" } "." }
                    }
                } @else {
                    form #bulk method="post" action="/app/tickets/bulk" {
                        (csrf_field(&user.csrf))
                        input type="hidden" name="back" value=(back);
                        div.bulkbar #bulkbar role="region" aria-label="Bulk actions" {
                            span #selcount aria-live="polite" { "0 selected" }
                            div.bulk-controls {
                                label for="b-assignee" { "Assign to" }
                                select #b-assignee name="assignee" { option value="" { "Unassigned" } @for (v, t) in view::agent_options(&agents) { option value=(v) { (t) } } }
                                button type="submit" name="action" value="assign" { "Assign" }
                                label for="b-status" { "New status" }
                                select #b-status name="status" { @for s in Status::ALL { option value=(s.as_str()) { (view::label(s.as_str())) } } }
                                button type="submit" name="action" value="set_status" { "Set status" }
                                label for="b-priority" { "New priority" }
                                select #b-priority name="priority" { @for pr in Priority::ALL.iter().rev() { option value=(pr.as_str()) { (view::label(pr.as_str())) } } }
                                button type="submit" name="action" value="set_priority" { "Set priority" }
                                button type="submit" name="action" value="close" { "Close" }
                                button type="reset" { "Clear" }
                            }
                        }
                        table.tickets {
                            caption.sr-only { "Tickets" }
                            thead { tr {
                                th scope="col" { input #selectall type="checkbox" aria-label="Select all tickets on this page"; }
                                th scope="col" { "Ticket" } th scope="col" { "Customer" } th scope="col" { "Priority" }
                                th scope="col" { "Status" } th scope="col" { "Assignee" } th scope="col" { "Created" } th scope="col" { span.sr-only { "Actions" } }
                            } }
                            tbody {
                                @for t in &tickets { (ticket_row(t)) }
                            }
                        }
                    }
                    @if let Some(c) = &next {
                        nav.pager aria-label="Pages" { a href={"/app/tickets?" (list_query(&params, Some(c)))} rel="next" { "Next page" } }
                    }
                }
            },
        ),
    )
}

fn ticket_row(t: &Ticket) -> Markup {
    html! {
        tr data-id=(t.id) {
            td.sel { input.rowsel type="checkbox" name="ids" value=(t.id) aria-label={"Select " (t.number)}; }
            td.subject { a href={"/app/tickets/" (t.number)} { span.num { (t.number) } " " (t.subject) } }
            td data-label="Customer" { (view::customer_cell(t)) }
            td data-label="Priority" { (priority_badge(t.priority)) }
            td data-label="Status" { (status_badge(t.status)) }
            td data-label="Assignee" { @if let Some(a) = &t.assignee { (a.as_str()) } @else { span.muted { "Unassigned" } } }
            td data-label="Created" { (view::time(&t.created_at)) }
            td.rowactions {
                a.button.small href={"/app/tickets/" (t.number)} { "Open" span.sr-only { " " (t.number) } }
                button.small type="submit" name="quick" value={"assign_me:" (t.id)} { "Take" span.sr-only { " " (t.number) " (assign to me)" } }
            }
        }
    }
}

pub async fn bulk(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let back: FormData = field(&form, "back")
        .and_then(|b| serde_urlencoded::from_str(b).ok())
        .unwrap_or_default();
    let (ids, action) = if let Some(quick) = field(&form, "quick") {
        let id = quick.strip_prefix("assign_me:").unwrap_or("").to_string();
        (vec![id], "assign_me")
    } else {
        (
            form.iter()
                .filter(|(k, _)| k == "ids")
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>(),
            field(&form, "action").unwrap_or(""),
        )
    };
    if ids.is_empty() {
        return list_page(
            &state,
            &user,
            back,
            Some(flash("error", "Select at least one ticket first.")),
        )
        .await;
    }
    let parse_email = |v: Option<&str>| {
        v.filter(|s| !s.is_empty())
            .map(EmailAddress::parse)
            .transpose()
    };
    let request = match action {
        "assign" => match parse_email(field(&form, "assignee")) {
            Ok(a) => BulkRequest {
                ticket_ids: ids,
                action: BulkAction::Assign,
                assignee: Some(a),
                status: None,
                priority: None,
            },
            Err(_) => {
                return list_page(
                    &state,
                    &user,
                    back,
                    Some(flash("error", "Pick an agent to assign to.")),
                )
                .await
            }
        },
        "assign_me" => BulkRequest {
            ticket_ids: ids,
            action: BulkAction::Assign,
            assignee: Some(EmailAddress::parse(&user.email()).ok()),
            status: None,
            priority: None,
        },
        "set_status" => BulkRequest {
            ticket_ids: ids,
            action: BulkAction::SetStatus,
            assignee: None,
            status: field(&form, "status").and_then(|s| Status::parse(s).ok()),
            priority: None,
        },
        "set_priority" => BulkRequest {
            ticket_ids: ids,
            action: BulkAction::SetPriority,
            assignee: None,
            status: None,
            priority: field(&form, "priority").and_then(|s| Priority::parse(s).ok()),
        },
        "close" => BulkRequest {
            ticket_ids: ids,
            action: BulkAction::Close,
            assignee: None,
            status: None,
            priority: None,
        },
        _ => {
            return list_page(
                &state,
                &user,
                back,
                Some(flash("error", "Choose an action.")),
            )
            .await
        }
    };
    let outcome = match state.helpdesk.bulk(&user.actor, request).await {
        Ok(result) => {
            let failed: Vec<_> = result.results.iter().filter(|r| !r.ok).collect();
            html! {
                div class={"flash " (if failed.is_empty() { "flash-ok" } else { "flash-error" })} role=(if failed.is_empty() { "status" } else { "alert" }) #bulk-outcome {
                    p { strong { (result.succeeded) " updated" } @if !failed.is_empty() { ", " strong { (failed.len()) " failed" } } "." }
                    @if !failed.is_empty() {
                        ul { @for f in &failed { li { (ticket_label(&state, &f.ticket_id).await) ": " (f.error.clone().unwrap_or_default()) } } }
                    }
                }
            }
        }
        Err(e) => flash("error", &e.to_string()),
    };
    list_page(&state, &user, back, Some(outcome)).await
}

async fn ticket_label(state: &AppState, id: &str) -> String {
    match state.helpdesk.resolve_ticket_ref(id).await {
        Ok(Some(t)) => t.number.to_string(),
        _ => id.to_string(),
    }
}

// ---------- create ----------

fn new_ticket_page(
    user: &ConsoleUser,
    agents: &[Agent],
    departments: &[Department],
    form: &FormData,
    error: Option<(String, String)>,
) -> Markup {
    let email = user.email();
    let p = page(user, &email, "Create ticket", "tickets");
    let get = |k: &str| field(form, k).unwrap_or("").to_string();
    let chosen_priority = field(form, "priority")
        .filter(|p| !p.is_empty())
        .unwrap_or("medium")
        .to_string();
    let invalid = |name: &str| {
        error
            .as_ref()
            .is_some_and(|(f, _)| f == name || f.starts_with(&format!("{name}.")))
    };
    layout(
        &p,
        html! {
            h1 { "Create ticket" }
            @if let Some((f, m)) = &error { (flash("error", &format!("{}: {m}", view::label(f)))) }
            form.stack method="post" action="/app/tickets" {
                (csrf_field(&user.csrf))
                label for="t-email" { "Customer e-mail" }
                input #t-email type="email" name="customer_email" required value=(get("customer_email")) aria-invalid=(invalid("customer"));
                label for="t-name" { "Customer name (optional)" }
                input #t-name type="text" name="customer_name" value=(get("customer_name"));
                label for="t-subject" { "Subject" }
                input #t-subject type="text" name="subject" required maxlength="300" value=(get("subject")) aria-invalid=(invalid("subject"));
                label for="t-body" { "Description" }
                textarea #t-body name="body" rows="6" required aria-invalid=(invalid("body")) { (get("body")) }
                div.row {
                    div { (view::select_options("channel", "t-channel", "Channel", Channel::ALL.iter().map(|c| (c.as_str(), view::label(c.as_str()))), &get("channel"))) }
                    div { (view::select_options("priority", "t-priority", "Priority", Priority::ALL.iter().map(|p| (p.as_str(), view::label(p.as_str()))), &chosen_priority)) }
                }
                div.row {
                    div { (view::select_options("assignee", "t-assignee", "Assignee", std::iter::once(("", "Unassigned".to_string())).chain(view::agent_options(agents)), &get("assignee"))) }
                    div { (view::select_options("department", "t-department", "Department", std::iter::once(("", "None".to_string())).chain(departments.iter().map(|d| (d.id.as_str(), d.name.clone()))), &get("department"))) }
                }
                button.primary type="submit" { "Create ticket" }
            }
        },
    )
}

pub async fn new_ticket(State(state): State<AppState>, user: ConsoleUser) -> Response {
    let (agents, departments) = directory(&state, &user.actor).await;
    render(
        StatusCode::OK,
        new_ticket_page(&user, &agents, &departments, &Vec::new(), None),
    )
}

pub async fn create_ticket(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let input = (|| -> Result<NewTicket, AppError> {
        let email = EmailAddress::parse(field(&form, "customer_email").unwrap_or(""))
            .map_err(|e| AppError::validation("customer", e.message))?;
        Ok(NewTicket {
            subject: field(&form, "subject").unwrap_or("").to_string(),
            body: field(&form, "body").unwrap_or("").to_string(),
            channel: parsed(&form, "channel", Channel::parse)?,
            priority: parsed(&form, "priority", Priority::parse)?,
            category: None,
            customer: Some(CustomerRef {
                email,
                name: non_empty(&form, "customer_name").map(str::to_string),
                platform_user_id: None,
                locale: None,
            }),
            department: parsed(&form, "department", DepartmentId::parse)?,
            assignee: parsed(&form, "assignee", EmailAddress::parse)?,
            tags: Vec::new(),
        })
    })();
    let result = match input {
        Ok(input) => state.helpdesk.create_ticket(&user.actor, input, None).await,
        Err(e) => Err(e),
    };
    match result {
        Ok((t, _)) => Redirect::to(&format!("/app/tickets/{}", t.number)).into_response(),
        Err(AppError::Validation { field: f, message }) => {
            let (agents, departments) = directory(&state, &user.actor).await;
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                new_ticket_page(&user, &agents, &departments, &form, Some((f, message))),
            )
        }
        Err(e) => app_error_page(&user, e),
    }
}

// ---------- detail ----------

pub(crate) async fn detail_page(
    state: &AppState,
    user: &ConsoleUser,
    reference: &str,
    banner: Option<Markup>,
    status: StatusCode,
) -> Response {
    let view_data = match state.helpdesk.get_ticket(&user.actor, reference).await {
        Ok(v) => v,
        Err(e) => return app_error_page(user, e),
    };
    let (agents, departments) = directory(state, &user.actor).await;
    let jobs = super::automations::ticket_jobs(state, user, reference).await;
    let t = &view_data.ticket;
    let email = user.email();
    let title = format!("{} {}", t.number, t.subject);
    let p = page(user, &email, &title, "tickets");
    let base = format!("/app/tickets/{}", t.number);
    let mut statuses = vec![t.status];
    statuses.extend(t.status.allowed_next());
    let tags = t.tags.iter().cloned().collect::<Vec<_>>().join(", ");
    render(
        status,
        layout(
            &p,
            html! {
                div.pagehead {
                    div {
                        p.crumb { a href="/app/tickets" { "Tickets" } " / " (t.number) }
                        h1 { (t.subject) }
                        p.meta { (status_badge(t.status)) " " (priority_badge(t.priority)) " · via " (view::label(t.channel.as_str())) " · opened " (view::time(&t.created_at)) }
                    }
                }
                @if let Some(b) = banner { (b) }
                @if let Some(into) = t.merged_into { (flash("info", &format!("Merged into {into}; this ticket is closed."))) }
                div.detail {
                    section.thread aria-label="Conversation" {
                        @for m in &view_data.messages {
                            @let cls = match m.kind { MessageKind::CustomerMessage => "msg msg-customer", MessageKind::PublicReply => "msg msg-reply", MessageKind::InternalNote => "msg msg-note" };
                            article class=(cls) {
                                header {
                                    strong { (m.author_name.clone().unwrap_or_else(|| m.author.id.clone())) }
                                    " "
                                    span.kind { (match m.kind { MessageKind::CustomerMessage => "Customer", MessageKind::PublicReply => "Public reply", MessageKind::InternalNote => "Internal note — only the team sees this" }) }
                                    " · " (view::time(&m.created_at))
                                    @if m.merged_from.is_some() { " · " span.muted { "from a merged ticket" } }
                                    @if let Some(d) = &m.delivery {
                                        " · " span class={"badge mail-" (d.state.as_str())} title=[d.last_error.as_deref()] {
                                            "E-mail " (d.state.as_str())
                                            @if d.state != helpdesk_domain::DeliveryState::Sent && d.attempts > 0 { " (" (d.attempts) " tries)" }
                                        }
                                        @if d.state == helpdesk_domain::DeliveryState::Failed {
                                            @if let Some(err) = &d.last_error { " " span.muted { (err) } }
                                        }
                                    }
                                }
                                (super::mail::message_body(t, m, &user.csrf, user.actor.sees_internal()))
                            }
                        }
                        @if t.status != Status::Closed {
                            form.reply method="post" action={(base) "/reply"} {
                                (csrf_field(&user.csrf))
                                label for="reply-body" { "Reply" }
                                textarea #reply-body name="body" rows="5" required {}
                                div.row {
                                    label.check { input type="checkbox" name="internal" value="1"; " Internal note (the customer does not see it)" }
                                    button.primary type="submit" { "Send" }
                                }
                            }
                        }
                    }
                    aside.props aria-label="Ticket properties" {
                        (super::kb::ticket_panel(state, user, &t.number.to_string()).await)
                        section.customer-card {
                            h2 { "Customer" }
                            (view::customer_cell(t))
                            @if view_data.customer_bouncing { p { span.badge.mail-failed { "E-mail to this address bounces" } } }
                            @if let Some(r) = &t.reply_to { p.muted { "Replies go to " (r) " (their Reply-To)" } }
                            @if !t.participants.is_empty() {
                                p.muted { "Copied on replies: " (t.participants.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")) }
                            }
                            p { span class={"badge tier-" (t.customer.tier.as_str())} { (view::label(t.customer.tier.as_str())) " tier" }
                                @if t.customer.business_owner { " " span.badge.owner { "Business owner" } } }
                        }
                        @if !view_data.outbound_mail.is_empty() {
                            section.mail aria-labelledby="mail-h" {
                                h2 #mail-h { "E-mail to the customer" }
                                ul {
                                    @for o in &view_data.outbound_mail {
                                        li {
                                            (o.kind.label())
                                            " · " (view::time(&o.created_at)) " "
                                            span class={"badge mail-" (o.delivery.state.as_str())} title=[o.delivery.last_error.as_deref()] { (o.delivery.state.as_str()) }
                                        }
                                    }
                                }
                            }
                        }
                        (routing_panel(t, &user.csrf, &base))
                        @if let Some(sla) = &view_data.sla {
                            section.sla aria-labelledby="sla-h" {
                                h2 #sla-h { "Service level" }
                                ul {
                                    @for c in sla.clocks() {
                                        li {
                                            (view::label(c.kind.as_str())) ": "
                                            span class={"badge sla-" (c.state.as_str())} { (view::label(c.state.as_str())) }
                                            @if c.state == helpdesk_domain::sla::ClockState::Running {
                                                " " (view::duration(c.remaining.num_seconds().max(0) as f64)) " left"
                                                @if let Some(at) = c.target_at { " (due " (view::time_until(&at)) ")" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        (super::automations::ticket_panel(&view_data, &jobs, &base, &user.csrf))
                        form.stack method="post" action={(base) "/update"} {
                            h2 { "Properties" }
                            (csrf_field(&user.csrf))
                            input type="hidden" name="version" value=(t.version);
                            (view::select_options("status", "p-status", "Status", statuses.iter().map(|s| (s.as_str(), view::label(s.as_str()))), t.status.as_str()))
                            (view::select_options("priority", "p-priority", "Priority", Priority::ALL.iter().map(|p| (p.as_str(), view::label(p.as_str()))), t.priority.as_str()))
                            label for="p-category" { "Category" }
                            input #p-category type="text" name="category" value=(t.category.clone().unwrap_or_default());
                            (view::select_options("assignee", "p-assignee", "Assignee", std::iter::once(("", "Unassigned".to_string())).chain(view::agent_options(&agents)), t.assignee.as_ref().map(|a| a.as_str()).unwrap_or("")))
                            (view::select_options("department", "p-department", "Department", std::iter::once(("", "None".to_string())).chain(departments.iter().map(|d| (d.id.as_str(), d.name.clone()))), t.department.as_ref().map(|d| d.as_str()).unwrap_or("")))
                            label for="p-tags" { "Tags (comma-separated)" }
                            input #p-tags type="text" name="tags" value=(tags);
                            button.primary type="submit" disabled[t.status == Status::Closed] { "Save changes" }
                        }
                        details {
                            summary { "Transfer" }
                            form.stack method="post" action={(base) "/transfer"} {
                                (csrf_field(&user.csrf))
                                (view::select_options("to_agent", "x-agent", "To agent", std::iter::once(("", "—".to_string())).chain(view::agent_options(&agents)), ""))
                                (view::select_options("to_department", "x-dept", "To department", std::iter::once(("", "—".to_string())).chain(departments.iter().map(|d| (d.id.as_str(), d.name.clone()))), ""))
                                label for="x-note" { "Note for the receiver" }
                                textarea #x-note name="note" rows="2" {}
                                button type="submit" { "Transfer" }
                            }
                        }
                        details {
                            summary { "Merge into another ticket" }
                            form.stack method="post" action={(base) "/merge"} {
                                (csrf_field(&user.csrf))
                                label for="m-into" { "Target ticket number" }
                                input #m-into type="text" name="into" placeholder="HD-12" required;
                                button type="submit" { "Merge" }
                            }
                        }
                        section.audit {
                            h2 { "History" }
                            ol {
                                @for a in view_data.audit.iter().rev() {
                                    li {
                                        strong { (a.actor.id) } " " (a.action) " · " (view::time(&a.at))
                                        @if !a.changes.is_empty() {
                                            ul { @for c in &a.changes { li { (view::label(&c.field)) ": " (show(&c.before)) " → " (show(&c.after)) } } }
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

/// What routing decided, for agents: triage and escalation flags, the priority rules that fired,
/// the detected language, and a possible duplicate with a one-click merge.
fn routing_panel(t: &helpdesk_domain::Ticket, csrf: &str, base: &str) -> Markup {
    let r = &t.routing;
    if r.routed_at.is_none() && !r.needs_triage && r.possible_duplicate.is_none() {
        return html! {};
    }
    html! {
        section.routing aria-labelledby="routing-h" {
            h2 #routing-h { "Routing" }
            p {
                @if r.needs_triage { span.badge.mail-failed { "Needs triage" } " " }
                @if r.escalated { span.badge.prio-urgent { "Escalated" } " " }
                @if let Some(lang) = &r.language { span.muted { "Language: " (lang) } }
            }
            @if !r.priority_rules.is_empty() {
                p.muted { "Priority from: " (r.priority_rules.join(", ")) }
            }
            @if !r.escalation_rules.is_empty() {
                p.muted { "Escalation rules: " (r.escalation_rules.join(", ")) }
            }
            @if let Some(d) = &r.possible_duplicate {
                @if t.merged_into.is_none() && t.status != Status::Closed {
                    div.duplicate {
                        p {
                            "Possible duplicate of "
                            a href={"/app/tickets/" (d.number)} { (d.number) }
                            " (" (format!("{:.0}", d.score * 100.0)) "% similar)"
                        }
                        form method="post" action={(base) "/merge"} {
                            (csrf_field(csrf))
                            input type="hidden" name="into" value=(d.number);
                            button type="submit" { "Merge into " (d.number) }
                        }
                    }
                }
            }
        }
    }
}

fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "—".into(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) if a.is_empty() => "—".into(),
        serde_json::Value::Array(a) => a.iter().map(show).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

pub async fn ticket_detail(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(reference): Path<String>,
) -> Response {
    detail_page(&state, &user, &reference, None, StatusCode::OK).await
}

/// After a write, either go back to the ticket (PRG) or show why it failed on the same page.
pub(super) async fn after_write(
    state: &AppState,
    user: &ConsoleUser,
    reference: &str,
    result: Result<String, AppError>,
) -> Response {
    match result {
        Ok(number) => Redirect::to(&format!("/app/tickets/{number}")).into_response(),
        Err(AppError::Conflict {
            current_version, ..
        }) => {
            let banner = html! {
                div.flash.flash-error role="alert" #conflict {
                    p { strong { "Someone else changed this ticket" } @if let Some(v) = current_version { " (it is now at version " (v) ")" } ". Your change was not saved." }
                    p { a.button href={"/app/tickets/" (reference)} { "Reload the ticket" } }
                }
            };
            detail_page(state, user, reference, Some(banner), StatusCode::CONFLICT).await
        }
        Err(e @ (AppError::Validation { .. } | AppError::Rule(_))) => {
            let msg = e.to_string();
            detail_page(
                state,
                user,
                reference,
                Some(flash("error", &msg)),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => app_error_page(user, e),
    }
}

pub async fn update_ticket(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(reference): Path<String>,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let input = (|| -> Result<UpdateTicket, AppError> {
        Ok(UpdateTicket {
            status: parsed(&form, "status", Status::parse)?,
            priority: parsed(&form, "priority", Priority::parse)?,
            category: field(&form, "category")
                .map(|c| Some(c.trim().to_string()).filter(|c| !c.is_empty())),
            assignee: field(&form, "assignee")
                .map(|a| {
                    if a.is_empty() {
                        Ok(None)
                    } else {
                        EmailAddress::parse(a).map(Some)
                    }
                })
                .transpose()
                .map_err(|e| AppError::validation("assignee", e.message))?,
            department: field(&form, "department")
                .map(|d| {
                    if d.is_empty() {
                        Ok(None)
                    } else {
                        DepartmentId::parse(d).map(Some)
                    }
                })
                .transpose()
                .map_err(|e| AppError::validation("department", e.message))?,
            tags: field(&form, "tags").map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect()
            }),
            version: non_empty(&form, "version")
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|_| AppError::validation("version", "is not a number"))
                })
                .transpose()?,
        })
    })();
    let result = match input {
        Ok(input) => state
            .helpdesk
            .update_ticket(&user.actor, &reference, input, None)
            .await
            .map(|t| t.number.to_string()),
        Err(e) => Err(e),
    };
    after_write(&state, &user, &reference, result).await
}

pub async fn reply(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(reference): Path<String>,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let kind = if field(&form, "internal").is_some() {
        MessageKind::InternalNote
    } else {
        MessageKind::PublicReply
    };
    let input = NewMessage {
        kind: Some(kind),
        body: field(&form, "body").unwrap_or("").to_string(),
        template: None,
        version: None,
        attachments: Vec::new(),
    };
    let result = state
        .helpdesk
        .add_message(&user.actor, &reference, input)
        .await
        .map(|(_, t)| t.number.to_string());
    after_write(&state, &user, &reference, result).await
}

pub async fn transfer(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(reference): Path<String>,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let input = (|| -> Result<Transfer, AppError> {
        Ok(Transfer {
            to_agent: parsed(&form, "to_agent", EmailAddress::parse)?,
            to_department: parsed(&form, "to_department", DepartmentId::parse)?,
            note: non_empty(&form, "note").map(str::to_string),
            version: None,
        })
    })();
    let result = match input {
        Ok(i) => state
            .helpdesk
            .transfer(&user.actor, &reference, i)
            .await
            .map(|t| t.number.to_string()),
        Err(e) => Err(e),
    };
    after_write(&state, &user, &reference, result).await
}

pub async fn merge(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(reference): Path<String>,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let input = Merge {
        into: field(&form, "into").unwrap_or("").trim().to_string(),
        note: None,
    };
    let result = state
        .helpdesk
        .merge(&user.actor, &reference, input)
        .await
        .map(|t| t.number.to_string());
    after_write(&state, &user, &reference, result).await
}

// ---------- board ----------

const BOARD_COLUMNS: [Status; 4] = [
    Status::New,
    Status::Assigned,
    Status::InProgress,
    Status::Resolved,
];

pub async fn board(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(params): Query<FormData>,
) -> Response {
    board_page(
        &state,
        &user,
        params
            .iter()
            .find(|(k, _)| k == "moved")
            .map(|(_, v)| flash("ok", &format!("Moved {v}."))),
        StatusCode::OK,
    )
    .await
}

async fn board_page(
    state: &AppState,
    user: &ConsoleUser,
    banner: Option<Markup>,
    status: StatusCode,
) -> Response {
    let mut columns = Vec::new();
    for s in BOARD_COLUMNS {
        let filter = TicketFilter {
            statuses: vec![s],
            limit: 50,
            ..Default::default()
        };
        match state.helpdesk.list_tickets(&user.actor, filter).await {
            Ok(p) => columns.push((s, p.items, p.next_cursor.is_some())),
            Err(e) => return app_error_page(user, e),
        }
    }
    let email = user.email();
    let p = page(user, &email, "Board", "board");
    render(
        status,
        layout(
            &p,
            html! {
                div.pagehead { h1 { "Board" } div.actions { a.button href="/app/tickets" { "List view" } } }
                p.help { "Drag a card to another column, or use its “Move to” control. Closed tickets are in the list." }
                div #board-msg aria-live="assertive" {}
                @if let Some(b) = banner { (b) }
                div.board {
                    @for (s, tickets, more) in &columns {
                        section.column data-status=(s.as_str()) aria-labelledby={"col-" (s.as_str())} {
                            h2 #{"col-" (s.as_str())} { (view::label(s.as_str())) " " span.count { (tickets.len()) @if *more { "+" } } }
                            div.cards {
                                @if tickets.is_empty() { p.empty-col { "No tickets" } }
                                @for t in tickets {
                                    article.bcard draggable="true" data-id=(t.id) data-number=(t.number) {
                                        a href={"/app/tickets/" (t.number)} { span.num { (t.number) } " " (t.subject) }
                                        p { (priority_badge(t.priority)) " " span.muted { (t.assignee.as_ref().map(|a| a.as_str()).unwrap_or("Unassigned")) } }
                                        form.move method="post" action={"/app/tickets/" (t.id) "/move"} {
                                            (csrf_field(&user.csrf))
                                            label for={"mv-" (t.id)} class="sr-only" { "Move " (t.number) " to" }
                                            select id={"mv-" (t.id)} name="status" {
                                                @for target in Status::ALL.iter().filter(|x| **x != t.status) { option value=(target.as_str()) { (view::label(target.as_str())) } }
                                            }
                                            button.small type="submit" { "Move" }
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

/// Moves a card: the same workflow rules as everywhere. JSON for the script, a page otherwise.
pub async fn move_card(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(reference): Path<String>,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        if wants_json {
            return (
                StatusCode::FORBIDDEN,
                axum::Json(
                    serde_json::json!({ "ok": false, "message": "The page expired; reload it." }),
                ),
            )
                .into_response();
        }
        return r;
    }
    let target = match field(&form, "status").map(Status::parse) {
        Some(Ok(s)) => s,
        _ => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(serde_json::json!({ "ok": false, "message": "Unknown status" })),
            )
                .into_response()
        }
    };
    let result = state
        .helpdesk
        .update_ticket(
            &user.actor,
            &reference,
            UpdateTicket {
                status: Some(target),
                ..Default::default()
            },
            None,
        )
        .await;
    match (result, wants_json) {
        (Ok(t), true) => axum::Json(serde_json::json!({ "ok": true, "status": t.status, "message": format!("{} moved to {}", t.number, view::label(t.status.as_str())) })).into_response(),
        (Ok(t), false) => Redirect::to(&format!("/app/board?moved={}", t.number)).into_response(),
        (Err(e), true) => {
            let status = StatusCode::from_u16(e.status_hint()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            (status, axum::Json(serde_json::json!({ "ok": false, "message": format!("Not moved: {e}") }))).into_response()
        }
        (Err(e), false) => {
            let code = StatusCode::from_u16(e.status_hint()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            board_page(&state, &user, Some(flash("error", &format!("Not moved: {e}"))), code).await
        }
    }
}
