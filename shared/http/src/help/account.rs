//! Help centre: signing in by e-mailed link, and "my requests" (see `help/mod.rs`).
//!
//! - `/help/signin`: the address form; the answer is the same page whether or not we know the
//!   address. `/help/signin/{token}`: a page with a button that POSTs, so mail scanners that
//!   fetch links do not use up the single-use token; the POST signs in.
//! - `/help/tickets`, `/help/tickets/{number}`: the customer's own requests, public thread only,
//!   reply (with files) and reopen. Another customer's ticket, an unknown number and a malformed
//!   one all get the same 404 page.
//!
//! Every POST checks the visitor's CSRF token first and changes nothing without it.

use super::layout::{message, page, respond, Meta, Section};
use super::session::{
    cookie_header, seal_customer, HelpCtx, HelpCustomer, CUSTOMER_COOKIE, CUSTOMER_SESSION_SECONDS,
};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use helpdesk_app::attachments::NewAttachment;
use helpdesk_app::helpcentre::{token_shape_ok, SignInError};
use helpdesk_app::listing::{SortOrder, TicketFilter};
use helpdesk_app::ratelimit::key_hash;
use helpdesk_app::tickets::{NewMessage, TicketView};
use helpdesk_app::AppError;
use helpdesk_domain::{DomainError, EmailAddress, Message, MessageKind, Status, Ticket};
use maud::{html, Markup};

/// Requests per page of "My requests".
const PAGE_SIZE: usize = 20;
/// A reply with its files, at most (the app checks each file's own limits).
const REPLY_BODY_MAX: usize = 12 * 1024 * 1024;
const REPLY_FILES_MAX: usize = helpdesk_app::attachments::UPLOADS_MAX;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/help/signin", get(signin_form).post(signin_request))
        .route("/help/signin/{token}", get(link_page).post(link_use))
        .route("/help/signout", post(signout))
        .route("/help/tickets", get(tickets))
        .route("/help/tickets/{number}", get(ticket))
        .route(
            "/help/tickets/{number}/reply",
            post(reply).layer(axum::extract::DefaultBodyLimit::max(REPLY_BODY_MAX)),
        )
        .route("/help/tickets/{number}/reopen", post(reopen))
        .route(
            "/help/tickets/{number}/messages/{message}/attachments/{index}",
            get(download),
        )
}

fn meta(title: &str) -> Meta<'_> {
    Meta::new(title, Section::Tickets)
}

fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn with_cookie(mut r: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// Fields of an urlencoded form; anything unparsable is no fields.
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn forbidden(ctx: &HelpCtx) -> Response {
    message(
        ctx,
        StatusCode::FORBIDDEN,
        "This form has expired",
        "For your security the form could not be accepted. Go back, reload the page and try again.",
    )
}

fn not_found(ctx: &HelpCtx) -> Response {
    message(
        ctx,
        StatusCode::NOT_FOUND,
        "Request not found",
        "We could not find this request among yours. Check the number, or see all your requests under My requests.",
    )
}

fn unavailable(ctx: &HelpCtx, e: &AppError) -> Response {
    tracing::error!(error = %e, "help centre: account page failed");
    message(
        ctx,
        StatusCode::SERVICE_UNAVAILABLE,
        "Something went wrong",
        "We could not do that just now. Please try again in a moment.",
    )
}

// ---------------------------------------------------------------------------------------------
// Signing in.

fn signin_page(ctx: &HelpCtx, email: &str, error: Option<&str>) -> Markup {
    page(
        ctx,
        &meta("Sign in"),
        html! {
            h1 { "Sign in to follow your requests" }
            div.card {
                p { "Enter the e-mail address you contacted us from. We will e-mail you a link that signs you in; it works once, within 20 minutes." }
                form method="post" action="/help/signin" novalidate {
                    input type="hidden" name="_csrf" value=(ctx.csrf);
                    label for="signin-email" { "E-mail address" }
                    @if let Some(e) = error {
                        p.error #signin-email-error { (e) }
                        input #signin-email type="email" name="email" value=(email) autocomplete="email" required aria-invalid="true" aria-describedby="signin-email-error";
                    } @else {
                        input #signin-email type="email" name="email" value=(email) autocomplete="email" required;
                    }
                    p { button type="submit" { "E-mail me a sign-in link" } }
                }
            }
            p.muted { "No account is needed: if we have your requests, the link shows them." }
        },
    )
}

async fn signin_form(ctx: HelpCtx) -> Response {
    if ctx.customer.is_some() {
        return see_other("/help/tickets");
    }
    respond(StatusCode::OK, signin_page(&ctx, "", None))
}

async fn signin_request(State(s): State<AppState>, ctx: HelpCtx, body: Bytes) -> Response {
    let fields = form_fields(&body);
    if !ctx.csrf_ok(field(&fields, "_csrf")) {
        return forbidden(&ctx);
    }
    let raw = field(&fields, "email").trim().to_string();
    let Ok(email) = EmailAddress::parse(&raw) else {
        return respond(
            StatusCode::UNPROCESSABLE_ENTITY,
            signin_page(
                &ctx,
                &raw,
                Some("Enter your e-mail address, like name@example.com."),
            ),
        );
    };
    match s.helpdesk.request_sign_in(&email, ctx.ip).await {
        Ok(()) => respond(
            StatusCode::OK,
            page(
                &ctx,
                &meta("Check your e-mail"),
                html! {
                    h1 { "Check your e-mail" }
                    div.card {
                        p { "If we have requests from " strong { (email.as_str()) } ", we have just sent a sign-in link there. It works once, within 20 minutes." }
                        p.muted { "Nothing arrived after a few minutes? Check your spam folder, or " a href="/help/signin" { "ask for a new link" } "." }
                    }
                },
            ),
        ),
        Err(AppError::RateLimited(_)) => message(
            &ctx,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in links",
            "Too many sign-in links were asked for. Please try again in an hour.",
        ),
        Err(e) => unavailable(&ctx, &e),
    }
}

fn link_problem(ctx: &HelpCtx, status: StatusCode, title: &str, text: &str) -> Response {
    respond(
        status,
        page(
            ctx,
            &meta(title),
            html! {
                h1 { (title) }
                div.card {
                    p { (text) }
                    p { a.button href="/help/signin" { "Get a new sign-in link" } }
                }
            },
        ),
    )
}

fn invalid_link(ctx: &HelpCtx) -> Response {
    link_problem(
        ctx,
        StatusCode::BAD_REQUEST,
        "This sign-in link is not valid",
        "The link may be incomplete: e-mail programs sometimes cut long links. Ask for a new one.",
    )
}

fn link_error(ctx: &HelpCtx, e: SignInError) -> Response {
    match e {
        SignInError::Invalid => invalid_link(ctx),
        SignInError::Used => link_problem(
            ctx,
            StatusCode::GONE,
            "This sign-in link was already used",
            "Each link works once. Ask for a new one to sign in again.",
        ),
        SignInError::Expired => link_problem(
            ctx,
            StatusCode::GONE,
            "This sign-in link has expired",
            "Links work for 20 minutes. Ask for a new one.",
        ),
        SignInError::Unavailable(e) => unavailable(ctx, &e),
    }
}

async fn link_page(State(s): State<AppState>, ctx: HelpCtx, Path(token): Path<String>) -> Response {
    if !token_shape_ok(&token) {
        return invalid_link(&ctx);
    }
    // A look, no change: only the button's POST uses the link.
    if let Err(e) = s.helpdesk.check_sign_in(&token).await {
        return link_error(&ctx, e);
    }
    respond(
        StatusCode::OK,
        page(
            &ctx,
            &meta("Sign in"),
            html! {
                h1 { "Sign in to the help centre" }
                div.card {
                    p { "Continue to see your requests." }
                    form method="post" action={ "/help/signin/" (token) } {
                        input type="hidden" name="_csrf" value=(ctx.csrf);
                        button type="submit" { "Sign in" }
                    }
                }
            },
        ),
    )
}

async fn link_use(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let fields = form_fields(&body);
    if !ctx.csrf_ok(field(&fields, "_csrf")) {
        return forbidden(&ctx);
    }
    if let Some(ip) = ctx.ip {
        // Guessing a 256-bit token is hopeless; this only keeps the attempts cheap (so a
        // storage hiccup here does not stop a customer from signing in).
        let who = key_hash(&ip.to_string());
        if let Err(AppError::RateLimited(_)) = s
            .helpdesk
            .rate_limit("signin-use", &who, 60, 3600, "too many sign-in attempts")
            .await
        {
            return message(
                &ctx,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "Too many sign-in attempts from your network. Try again in an hour.",
            );
        }
    }
    let signed_in = match s
        .helpdesk
        .consume_sign_in(&token, CUSTOMER_SESSION_SECONDS)
        .await
    {
        Ok(v) => v,
        Err(e) => return link_error(&ctx, e),
    };
    // A previous sign-in on this browser ends: one person, one session here.
    if let Some(old) = &ctx.customer {
        if let Err(e) = s.helpdesk.end_help_session(&old.session_id).await {
            tracing::warn!(error = %e, "could not end the previous help-centre session");
        }
    }
    let customer = HelpCustomer {
        email: signed_in.email,
        expires: signed_in.expires,
        session_id: signed_in.session_id,
    };
    match seal_customer(&s.helpdesk, &customer) {
        Ok(sealed) => with_cookie(
            see_other("/help/tickets"),
            &cookie_header(CUSTOMER_COOKIE, &sealed, CUSTOMER_SESSION_SECONDS),
        ),
        Err(e) => unavailable(&ctx, &e),
    }
}

async fn signout(State(s): State<AppState>, ctx: HelpCtx, body: Bytes) -> Response {
    let fields = form_fields(&body);
    if !ctx.csrf_ok(field(&fields, "_csrf")) {
        return forbidden(&ctx);
    }
    if let Some(c) = &ctx.customer {
        if let Err(e) = s.helpdesk.end_help_session(&c.session_id).await {
            return unavailable(&ctx, &e);
        }
    }
    let signed_out = HelpCtx {
        customer: None,
        ..ctx
    };
    with_cookie(
        message(
            &signed_out,
            StatusCode::OK,
            "You are signed out",
            "Your sign-in on this device has ended.",
        ),
        &cookie_header(CUSTOMER_COOKIE, "", 0),
    )
}

// ---------------------------------------------------------------------------------------------
// My requests.

/// A ticket's status in the customer's words.
fn status_words(s: Status) -> &'static str {
    match s {
        Status::New => "Received",
        Status::Assigned | Status::InProgress => "In progress",
        Status::Resolved => "Resolved",
        Status::Closed => "Closed",
    }
}

fn when(t: &chrono::DateTime<chrono::Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339()) { (t.format("%-d %b %Y, %H:%M UTC")) } }
}

#[derive(serde::Deserialize)]
struct ListQuery {
    #[serde(default)]
    cursor: Option<String>,
}

async fn tickets(State(s): State<AppState>, ctx: HelpCtx, Query(q): Query<ListQuery>) -> Response {
    let Some(actor) = ctx.actor() else {
        return see_other("/help/signin");
    };
    let filter = TicketFilter {
        sort: SortOrder::Newest,
        limit: PAGE_SIZE,
        cursor: q.cursor.filter(|c| !c.is_empty() && c.len() <= 2_000),
        ..Default::default()
    };
    let page_of = match s.helpdesk.list_tickets(&actor, filter).await {
        Ok(p) => p,
        Err(AppError::Validation { .. }) => return see_other("/help/tickets"),
        Err(e) => return unavailable(&ctx, &e),
    };
    respond(
        StatusCode::OK,
        page(
            &ctx,
            &meta("My requests"),
            html! {
                h1 { "My requests" }
                @if page_of.items.is_empty() {
                    div.card {
                        p { "You have no requests with us yet." }
                        p { a.button href="/help/requests/new" { "Contact us" } }
                    }
                } @else {
                    ul.plain.requests {
                        @for t in &page_of.items {
                            li {
                                a href={ "/help/tickets/" (t.number) } {
                                    span.num { (t.number) } " " span.subj { (t.subject) }
                                }
                                div.meta {
                                    span.badge { (status_words(t.status)) }
                                    " · last update " (when(&t.updated_at))
                                }
                            }
                        }
                    }
                    @if let Some(c) = &page_of.next_cursor {
                        nav.pager aria-label="More requests" {
                            a href={ "/help/tickets?cursor=" (urlencode(c)) } { "Older requests" }
                        }
                    }
                }
            },
        ),
    )
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// What the reply form shows after a refused post: the message and the kept text.
struct ReplyDraft<'a> {
    error: &'a str,
    body: &'a str,
}

fn author(t: &Ticket, m: &Message) -> String {
    let name = m.author_name.clone().filter(|n| !n.trim().is_empty());
    match m.kind {
        // Someone the customer copied on their e-mail: by name, never by address.
        MessageKind::CustomerMessage
            if m.author.kind == "customer" && m.author.id != t.customer.email.as_str() =>
        {
            name.unwrap_or_else(|| "Someone copied on this request".into())
        }
        // The customer's words (also when the platform or an agent logging a call wrote them).
        MessageKind::CustomerMessage => "You".to_string(),
        // An agent by display name only, never their address.
        _ => name.unwrap_or_else(|| "Support team".into()),
    }
}

fn thread_entry(t: &Ticket, m: &Message) -> Markup {
    let ours = m.kind == MessageKind::CustomerMessage;
    html! {
        article.msg.(if ours { "mine" } else { "theirs" }) id={ "m-" (m.id) } {
            header { strong { (author(t, m)) } " · " (when(&m.created_at)) }
            div.body { (m.body_text) }
            @if !m.attachments.is_empty() {
                ul.files aria-label="Attachments" {
                    @for (i, a) in m.attachments.iter().enumerate() {
                        li {
                            @if a.blob_key.is_some() {
                                a href={ "/help/tickets/" (t.number) "/messages/" (m.id) "/attachments/" (i) } { (a.safe_filename()) }
                            } @else {
                                (a.safe_filename()) " " span.muted { "(too large to keep)" }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn ticket_page(ctx: &HelpCtx, view: &TicketView, draft: Option<ReplyDraft<'_>>) -> Markup {
    let t = &view.ticket;
    let title = format!("{} {}", t.number, t.subject);
    page(
        ctx,
        &meta(&title),
        html! {
            p { a href="/help/tickets" { "← My requests" } }
            h1 { span.num { (t.number) } " " (t.subject) }
            p.status { "Status: " span.badge { (status_words(t.status)) } " · opened " (when(&t.created_at)) }
            section.thread aria-label="Conversation" {
                @for m in view.messages.iter().filter(|m| m.kind.is_public()) {
                    (thread_entry(t, m))
                }
            }
            @match t.status {
                Status::Closed => {
                    div.notice {
                        p { "This request is closed, so it cannot take new replies." }
                        p { a href="/help/requests/new" { "Send a new request" } }
                    }
                }
                _ => {
                    @if t.status == Status::Resolved {
                        div.notice {
                            p { "We marked this request resolved. Not solved after all? Reopen it, or simply reply." }
                            form method="post" action={ "/help/tickets/" (t.number) "/reopen" } {
                                input type="hidden" name="_csrf" value=(ctx.csrf);
                                button.secondary type="submit" { "Reopen" }
                            }
                        }
                    }
                    form.card.reply method="post" action={ "/help/tickets/" (t.number) "/reply" } enctype="multipart/form-data" {
                        h2 { "Reply" }
                        input type="hidden" name="_csrf" value=(ctx.csrf);
                        label for="reply-body" { "Your message" }
                        @if let Some(d) = &draft {
                            p.error #reply-error { (d.error) }
                            textarea #reply-body name="body" required aria-invalid="true" aria-describedby="reply-error" { (d.body) }
                        } @else {
                            textarea #reply-body name="body" required {}
                        }
                        label for="reply-files" { "Attach files (optional)" }
                        input #reply-files type="file" name="files" multiple aria-describedby="reply-files-hint";
                        p.hint #reply-files-hint { "Up to 10 files, 10 MB in all." }
                        p { button type="submit" { "Send reply" } }
                    }
                }
            }
        },
    )
}

async fn ticket(State(s): State<AppState>, ctx: HelpCtx, Path(number): Path<String>) -> Response {
    let Some(actor) = ctx.actor() else {
        return see_other("/help/signin");
    };
    match s.helpdesk.get_ticket(&actor, &number).await {
        Ok(view) => respond(StatusCode::OK, ticket_page(&ctx, &view, None)),
        Err(AppError::NotFound { .. } | AppError::Validation { .. }) => not_found(&ctx),
        Err(e) => unavailable(&ctx, &e),
    }
}

/// The reply form's fields: from a multipart body (with files) or an urlencoded one.
struct ReplyForm {
    csrf: String,
    body: String,
    files: Vec<NewAttachment>,
    /// The body could not be read (malformed multipart, too many files).
    unreadable: bool,
}

/// Reads the reply form: urlencoded, or multipart with files (axum's multer-based reader; the
/// body is already in memory and size-limited by the route).
async fn reply_form(headers: &HeaderMap, body: Bytes) -> ReplyForm {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut form = ReplyForm {
        csrf: String::new(),
        body: String::new(),
        files: Vec::new(),
        unreadable: false,
    };
    let multipart = ct
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("multipart/form-data"));
    if !multipart {
        let fields = form_fields(&body);
        form.csrf = field(&fields, "_csrf").to_string();
        form.body = field(&fields, "body").to_string();
        return form;
    }
    let mut req = axum::extract::Request::new(axum::body::Body::from(body));
    *req.headers_mut() = headers.clone();
    let Ok(mut mp) = Multipart::from_request(req, &()).await else {
        form.unreadable = true;
        return form;
    };
    // The fields plus the files, at most.
    let mut parts = 0;
    loop {
        let f = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => {
                form.unreadable = true;
                break;
            }
        };
        parts += 1;
        if parts > REPLY_FILES_MAX + 4 {
            form.unreadable = true;
            break;
        }
        let name = f.name().unwrap_or("").to_string();
        let filename = f.file_name().map(str::to_string);
        let content_type = f.content_type().map(str::to_string);
        let Ok(data) = f.bytes().await else {
            form.unreadable = true;
            break;
        };
        match (name.as_str(), filename) {
            ("_csrf", None) => form.csrf = String::from_utf8_lossy(&data).into_owned(),
            ("body", None) => form.body = String::from_utf8_lossy(&data).into_owned(),
            ("files", Some(name)) if !(name.is_empty() && data.is_empty()) => {
                form.files.push(NewAttachment {
                    filename: name,
                    content_type,
                    content_base64: base64::engine::general_purpose::STANDARD.encode(&data),
                })
            }
            _ => {}
        }
    }
    if form.files.len() > REPLY_FILES_MAX {
        form.unreadable = true;
    }
    form
}

async fn reply(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path(number): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = reply_form(&headers, body).await;
    if !ctx.csrf_ok(&form.csrf) {
        return forbidden(&ctx);
    }
    let Some(actor) = ctx.actor() else {
        return see_other("/help/signin");
    };
    // Read first: another customer's number is the same 404 as an unknown one.
    let view = match s.helpdesk.get_ticket(&actor, &number).await {
        Ok(v) => v,
        Err(AppError::NotFound { .. } | AppError::Validation { .. }) => return not_found(&ctx),
        Err(e) => return unavailable(&ctx, &e),
    };
    let again = |status: StatusCode, error: &str| {
        respond(
            status,
            ticket_page(
                &ctx,
                &view,
                Some(ReplyDraft {
                    error,
                    body: &form.body,
                }),
            ),
        )
    };
    if form.unreadable {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The files could not be read. Attach at most 10 files and try again.",
        );
    }
    // Flood protection per customer; a storage hiccup here does not lose their reply.
    if let Some(c) = &ctx.customer {
        let who = key_hash(c.email.as_str());
        if let Err(AppError::RateLimited(_)) = s
            .helpdesk
            .rate_limit("help-reply", &who, 30, 3600, "too many replies")
            .await
        {
            return again(
                StatusCode::TOO_MANY_REQUESTS,
                "You sent many replies in a short time. Please wait a while and try again.",
            );
        }
    }
    let input = NewMessage {
        kind: None,
        body: form.body.clone(),
        template: None,
        version: None,
        attachments: form.files.clone(),
    };
    match s.helpdesk.add_message(&actor, &number, input).await {
        Ok((m, t)) => see_other(&format!("/help/tickets/{}#m-{}", t.number, m.id)),
        Err(AppError::NotFound { .. }) => not_found(&ctx),
        Err(AppError::Validation { field, message }) => {
            let text = if field == "body" {
                "Write a message before sending.".to_string()
            } else {
                format!("Attachments: {message}.")
            };
            again(StatusCode::UNPROCESSABLE_ENTITY, &text)
        }
        Err(AppError::Rule(DomainError::Closed)) => again(
            StatusCode::CONFLICT,
            "This request was closed meanwhile; send a new request instead.",
        ),
        Err(AppError::Conflict { .. }) => again(
            StatusCode::CONFLICT,
            "The request changed while you wrote. Your text is below: send it again.",
        ),
        Err(e) => unavailable(&ctx, &e),
    }
}

async fn reopen(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path(number): Path<String>,
    body: Bytes,
) -> Response {
    let fields = form_fields(&body);
    if !ctx.csrf_ok(field(&fields, "_csrf")) {
        return forbidden(&ctx);
    }
    let Some(actor) = ctx.actor() else {
        return see_other("/help/signin");
    };
    match s.helpdesk.reopen_as_customer(&actor, &number).await {
        Ok(t) => see_other(&format!("/help/tickets/{}", t.number)),
        Err(AppError::NotFound { .. }) => not_found(&ctx),
        Err(AppError::Validation { .. } | AppError::Rule(_) | AppError::Conflict { .. }) => {
            // Not resolved (any more): show the request as it is now.
            match s.helpdesk.get_ticket(&actor, &number).await {
                Ok(view) => respond(StatusCode::CONFLICT, ticket_page(&ctx, &view, None)),
                Err(_) => not_found(&ctx),
            }
        }
        Err(e) => unavailable(&ctx, &e),
    }
}

async fn download(
    State(s): State<AppState>,
    ctx: HelpCtx,
    Path((number, message_id, index)): Path<(String, String, String)>,
) -> Response {
    let Some(actor) = ctx.actor() else {
        return see_other("/help/signin");
    };
    let Ok(index) = index.parse::<usize>() else {
        return not_found(&ctx);
    };
    match s
        .helpdesk
        .attachment(&actor, &number, &message_id, index)
        .await
    {
        Ok(file) => crate::routes::attachments::file_response(file),
        Err(AppError::NotFound { .. } | AppError::Validation { .. }) => not_found(&ctx),
        Err(e) => unavailable(&ctx, &e),
    }
}
