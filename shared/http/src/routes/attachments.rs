//! Attachment downloads and message re-threading.

use crate::auth::Caller;
use crate::extract::ApiJson;
use crate::problem::{ApiError, Problem};
use crate::routes::tickets::with_etag;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use helpdesk_app::attachments::AttachmentDownload;
use helpdesk_app::rethread::MoveMessage;
use helpdesk_domain::{Message, Ticket};

/// Types a browser may show in place: raster images (not SVG, which can carry script), plain
/// text, and MP4/WebM video (played by a `<video>` element; no script either). Everything else
/// downloads as an opaque file.
fn shown_inline(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png"
            | "image/jpeg"
            | "image/gif"
            | "image/webp"
            | "text/plain"
            | "video/mp4"
            | "video/webm"
    )
}

/// The response for a file from a customer: never sniffed, never scripted, and only shown in
/// place for a short list of safe types.
pub(crate) fn file_response(download: AttachmentDownload) -> Response {
    let meta = &download.meta;
    let inline = shown_inline(&meta.content_type);
    let content_type = if inline {
        if meta.content_type == "text/plain" {
            "text/plain; charset=utf-8".to_string()
        } else {
            meta.content_type.clone()
        }
    } else {
        "application/octet-stream".to_string()
    };
    let name = meta.safe_filename();
    // RFC 6266: an ASCII fallback plus the exact name, percent-encoded (RFC 8187).
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let disposition = format!(
        "{}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}",
        if inline { "inline" } else { "attachment" }
    );
    let mut res = (StatusCode::OK, download.bytes).into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox",
        ),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    res
}

/// One attachment of a message. Customers reach only the public messages of their own tickets.
/// Raster images and plain text are served inline; anything else (HTML, SVG, PDF…) as a download.
#[utoipa::path(
    get, path = "/api/v1/tickets/{ticket}/messages/{message}/attachments/{index}", tag = "tickets",
    security(("bearer" = [])),
    params(("ticket" = String, Path), ("message" = String, Path), ("index" = usize, Path, description = "Position in the message's `attachments`, from 0"), ("On-Behalf-Of" = Option<String>, Header, description = "Platform only: the customer (e-mail) the request is for; required to read or answer a ticket, which must be theirs")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"), (status = 404, body = Problem))
)]
pub async fn download(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path((ticket, message, index)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let index: usize = index
        .parse()
        .map_err(|_| helpdesk_app::AppError::validation("index", "must be a number"))?;
    let file = s
        .helpdesk
        .attachment(&actor, &ticket, &message, index)
        .await?;
    Ok(file_response(file))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MessageMoved {
    pub message: Message,
    /// The ticket the message is on now.
    pub ticket: Ticket,
}

/// Re-threads a customer message that landed on the wrong ticket: moves it (and the e-mail
/// thread it belongs to) to another ticket. Audited on both tickets. Not for the message that
/// opened a ticket (merge instead).
#[utoipa::path(
    post, path = "/api/v1/tickets/{ticket}/messages/{message}/move", tag = "tickets",
    security(("bearer" = [])),
    params(("ticket" = String, Path), ("message" = String, Path)),
    request_body = MoveMessage,
    responses((status = 200, body = MessageMoved), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem))
)]
pub async fn move_message(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path((ticket, message)): Path<(String, String)>,
    ApiJson(input): ApiJson<MoveMessage>,
) -> Result<Response, ApiError> {
    let (message, ticket) = s
        .helpdesk
        .move_message(&actor, &ticket, &message, input)
        .await?;
    let version = ticket.version;
    Ok(with_etag(
        StatusCode::OK,
        version,
        &MessageMoved { message, ticket },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use helpdesk_domain::AttachmentMeta;

    fn dl(name: &str, ct: &str) -> Response {
        file_response(AttachmentDownload {
            meta: AttachmentMeta {
                filename: name.into(),
                content_type: ct.into(),
                size: 3,
                blob_key: Some("att/x".into()),
                content_id: None,
                inline: false,
                omitted: None,
            },
            bytes: b"abc".to_vec(),
        })
    }

    fn header(r: &Response, h: header::HeaderName) -> &str {
        r.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[test]
    fn risky_types_download_as_opaque_files() {
        for ct in [
            "text/html",
            "image/svg+xml",
            "application/javascript",
            "application/x-msdownload",
        ] {
            let r = dl("x", ct);
            assert_eq!(
                header(&r, header::CONTENT_TYPE),
                "application/octet-stream",
                "{ct}"
            );
            assert!(
                header(&r, header::CONTENT_DISPOSITION).starts_with("attachment;"),
                "{ct}"
            );
            assert_eq!(header(&r, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
            assert!(header(&r, header::CONTENT_SECURITY_POLICY).contains("sandbox"));
        }
        let r = dl("photo.png", "image/png");
        assert_eq!(header(&r, header::CONTENT_TYPE), "image/png");
        assert!(header(&r, header::CONTENT_DISPOSITION).starts_with("inline;"));
    }

    #[test]
    fn file_names_are_quoted_safely() {
        let r = dl("Résumé \"final\".pdf", "application/pdf");
        let d = header(&r, header::CONTENT_DISPOSITION);
        assert!(d.contains("filename=\"R_sum_ final.pdf\""), "{d}");
        assert!(
            d.contains("filename*=UTF-8''R%C3%A9sum%C3%A9%20final.pdf"),
            "{d}"
        );
    }
}
