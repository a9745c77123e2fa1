//! Files of knowledge-base articles: upload (multipart), remove, presigned upload for large
//! videos on AWS, and downloads — the team any version's files, readers the published
//! version's. Downloads use the same safe headers as ticket attachments.

use super::attachments::file_response;
use super::kb::{article_id, fail, versioned, MaybeCaller};
use crate::auth::Caller;
use crate::extract::{if_match, ApiJson};
use crate::problem::Problem;
use crate::AppState;
use axum::extract::multipart::MultipartError;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use helpdesk_app::kb::files::{FileDelivery, FileUpload, UploadIntent, UploadUrl};
use helpdesk_domain::kb::Article;

/// The response for a KB file: the bytes with the ticket attachments' safe headers, or a
/// `303 See Other` to a presigned store URL for a large video (AWS).
pub(crate) fn delivery_response(d: FileDelivery) -> Response {
    match d {
        FileDelivery::Bytes(f) => file_response(f),
        FileDelivery::Redirect { url, .. } => {
            let mut res = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                res.headers_mut().insert(header::LOCATION, v);
            }
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
    }
}

/// Body limit of the upload routes: the largest file (a video) plus room for the multipart
/// framing. On AWS the Lambda payload (6 MB) is the real limit: larger videos use a presigned
/// upload.
pub const UPLOAD_BODY_MAX: usize = helpdesk_domain::kb::KB_VIDEO_MAX as usize + 1024 * 1024;

fn multipart_problem(e: MultipartError) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let mut p = Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Too large",
            format!(
                "the upload is over {} MiB",
                helpdesk_domain::kb::KB_VIDEO_MAX / (1024 * 1024)
            ),
        );
        p.field = Some("file".into());
        p
    } else {
        Problem::bad_request(
            "file",
            format!("could not read the upload: {}", e.body_text()),
        )
    }
}

/// A multipart upload: the `file` part and the plain text fields beside it (`version`,
/// `_csrf` from the console).
pub(crate) struct UploadForm {
    pub file: Option<FileUpload>,
    pub fields: Vec<(String, String)>,
}

impl UploadForm {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }
}

pub(crate) async fn read_upload(mut multipart: Multipart) -> Result<UploadForm, Problem> {
    let mut form = UploadForm {
        file: None,
        fields: Vec::new(),
    };
    while let Some(field) = multipart.next_field().await.map_err(multipart_problem)? {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            let file_name = field.file_name().unwrap_or("").to_string();
            let content_type = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_string();
            let bytes = field.bytes().await.map_err(multipart_problem)?;
            // A file input left empty still sends a part, with no name and no bytes.
            if file_name.is_empty() && bytes.is_empty() {
                continue;
            }
            if form.file.is_some() {
                return Err(Problem::validation("file", "send one file per upload"));
            }
            form.file = Some(FileUpload {
                name: file_name,
                content_type,
                bytes: bytes.to_vec(),
            });
        } else if form.fields.len() < 20 {
            let text = field.text().await.map_err(multipart_problem)?;
            if text.len() <= 1_000 {
                form.fields.push((name, text));
            }
        }
    }
    Ok(form)
}

fn version_field(form: &UploadForm) -> Result<Option<u64>, Problem> {
    form.field("version")
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| Problem::validation("version", "is not a number"))
        })
        .transpose()
}

/// The multipart form of an upload (for the OpenAPI document; the handler reads the parts).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct UploadParts {
    /// The file, with its file name and content type.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// The article's version as read (or send `If-Match`).
    version: Option<u64>,
}

/// Uploads a file to the article (`multipart/form-data`: the `file` part with its file name
/// and content type, optionally `version`). It is stored content-addressed and recorded on a
/// new draft version; a file with the same name is replaced. Documents and images up to 4 MiB,
/// MP4/WebM videos up to 100 MiB (on AWS the Lambda payload caps a direct upload near 4 MiB:
/// larger videos use `…/files/upload-url`), 20 files per article. Too large → 413, a refused
/// type or too many files → 422, each naming the field.
#[utoipa::path(post, path = "/api/v1/kb/articles/{id}/files", tag = "kb", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body(content = UploadParts, content_type = "multipart/form-data", description = "`file`: the file (with its file name and content type); `version`: optional, the article's version as read"),
    responses((status = 201, body = Article), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn upload(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, Response> {
    let id = article_id(&id)?;
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    let multipart = multipart.map_err(|e| {
        let mut p = Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            format!("send the file as multipart/form-data: {}", e.body_text()),
        );
        p.field = Some("Content-Type".into());
        fail(p)
    })?;
    let form = read_upload(multipart).await.map_err(fail)?;
    let expected = match expected {
        Some(v) => Some(v),
        None => version_field(&form).map_err(fail)?,
    };
    let file = form.file.ok_or_else(|| {
        fail(Problem::validation(
            "file",
            "attach a file in the `file` part",
        ))
    })?;
    let a = s
        .helpdesk
        .add_article_file(&actor, &id, file, expected)
        .await
        .map_err(fail)?;
    Ok(versioned(StatusCode::CREATED, &a))
}

/// Removes a file (by position or name) from the article: a new draft version without it.
/// Older versions, and the published one until the next publish, keep it.
#[utoipa::path(delete, path = "/api/v1/kb/articles/{id}/files/{file}", tag = "kb", security(("bearer" = [])),
    params(("id" = String, Path), ("file" = String, Path, description = "Position in `attachments` (from 0) or the file name"), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = Article), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn remove(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path((id, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let id = article_id(&id)?;
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    let a = s
        .helpdesk
        .remove_article_file(&actor, &id, &file, expected)
        .await
        .map_err(fail)?;
    Ok(versioned(StatusCode::OK, &a))
}

/// A file of the published version of an article the caller may read (anonymous visitors:
/// customer articles). Files of drafts or newer unpublished versions, of archived articles and
/// of other audiences' articles are 404. Raster images and plain text are shown in place (and
/// MP4/WebM videos play); anything else downloads as an opaque file (`nosniff`, sandbox CSP).
/// On AWS a video over 4 MiB is a `303` to a presigned S3 URL (a Lambda response carries 6 MB).
#[utoipa::path(get, path = "/api/v1/kb/articles/{id}/files/{file}", tag = "kb", security((), ("bearer" = [])),
    params(("id" = String, Path), ("file" = String, Path, description = "Position in the published `attachments` (from 0) or the file name")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"), (status = 303, description = "A large video: fetch it from the presigned store URL in `Location`"), (status = 404, body = Problem)))]
pub async fn published_file(
    State(s): State<AppState>,
    MaybeCaller(actor): MaybeCaller,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, Response> {
    let id = article_id(&id)?;
    let f = s
        .helpdesk
        .published_article_file(actor.as_ref(), &id, &file)
        .await
        .map_err(fail)?;
    Ok(delivery_response(f))
}

/// A file of any version, for the team (drafts included).
#[utoipa::path(get, path = "/api/v1/kb/articles/{id}/versions/{number}/files/{file}", tag = "kb", security(("bearer" = [])),
    params(("id" = String, Path), ("number" = u64, Path), ("file" = String, Path, description = "Position (from 0) or file name")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"), (status = 404, body = Problem)))]
pub async fn version_file(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path((id, number, file)): Path<(String, String, String)>,
) -> Result<Response, Response> {
    let id = article_id(&id)?;
    let n = number
        .parse::<u64>()
        .map_err(|_| fail(Problem::not_found("version not found")))?;
    let f = s
        .helpdesk
        .article_version_file(&actor, &id, n, &file)
        .await
        .map_err(fail)?;
    Ok(delivery_response(f))
}

/// For a file too large for the API function (on AWS: a video over the Lambda payload): a
/// presigned `PUT` straight to the file store, valid 15 minutes, that accepts only the bytes
/// with the announced SHA-256. Then `POST …/files/uploaded` with the same description.
/// Self-hosted there is no such URL (422 naming `upload`): upload directly.
#[utoipa::path(post, path = "/api/v1/kb/articles/{id}/files/upload-url", tag = "kb", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UploadIntent,
    responses((status = 200, body = UploadUrl), (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn upload_url(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(intent): ApiJson<UploadIntent>,
) -> Result<Json<UploadUrl>, Response> {
    let id = article_id(&id)?;
    s.helpdesk
        .article_file_upload_url(&actor, &id, intent)
        .await
        .map(Json)
        .map_err(fail)
}

/// Records a file uploaded through `…/files/upload-url`: it must be in the store with the
/// announced size. Recorded on a new draft version, like a direct upload.
#[utoipa::path(post, path = "/api/v1/kb/articles/{id}/files/uploaded", tag = "kb", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = UploadIntent,
    responses((status = 201, body = Article), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn uploaded(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(intent): ApiJson<UploadIntent>,
) -> Result<Response, Response> {
    let id = article_id(&id)?;
    let expected = if_match(&headers).map_err(IntoResponse::into_response)?;
    let a = s
        .helpdesk
        .add_uploaded_article_file(&actor, &id, intent, expected)
        .await
        .map_err(fail)?;
    Ok(versioned(StatusCode::CREATED, &a))
}
