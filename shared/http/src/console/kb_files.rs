//! The article editor's files: upload (a plain multipart form with the CSRF token, no script
//! needed), the draft's file list with downloads and remove buttons, and console downloads of
//! any version's files.

use super::pages::{app_error_page, check_csrf, non_empty, FormData};
use super::session::ConsoleUser;
use super::view::{csrf_field, flash};
use crate::routes::kb_files::read_upload;
use crate::AppState;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use helpdesk_app::AppError;
use helpdesk_domain::kb::{ArticleId, AttachmentRef, KB_FILES_MAX, KB_FILE_MAX, KB_VIDEO_MAX};
use maud::{html, Markup};

/// What the file input offers (the server checks the types again).
const ACCEPT: &str = ".pdf,.txt,.csv,.md,.rtf,.zip,.doc,.docx,.xls,.xlsx,.ppt,.pptx,.odt,.ods,.odp,.png,.jpg,.jpeg,.gif,.webp,.mp4,.webm";

/// Where the console downloads a file of one version.
pub(crate) fn console_file_url(id: &ArticleId, number: u64, index: usize) -> String {
    format!("/app/kb/{id}/versions/{number}/files/{index}")
}

fn size_label(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    } else if bytes >= 1024 {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} bytes")
    }
}

/// The list of a version's files, with download links (and remove buttons in the editor).
pub(crate) fn file_list(
    user: &ConsoleUser,
    id: &ArticleId,
    number: u64,
    files: &[AttachmentRef],
    removable_at: Option<u64>,
) -> Markup {
    html! {
        @if files.is_empty() {
            p.muted { "No files yet." }
        } @else {
            ul.kb-files {
                @for (i, f) in files.iter().enumerate() {
                    li {
                        a href=(console_file_url(id, number, i)) { (f.name) }
                        " · " (f.content_type) " · " (size_label(f.size))
                        " · " code { "file:" (f.name) }
                        @if let Some(version) = removable_at {
                            form.inline method="post" action={"/app/kb/" (id) "/files/" (i) "/remove"} {
                                (csrf_field(&user.csrf))
                                input type="hidden" name="version" value=(version);
                                button type="submit" aria-label={"Remove " (f.name)} { "Remove" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The editor's files section: the newest version's files and the upload form.
pub(crate) fn files_section(
    user: &ConsoleUser,
    id: &ArticleId,
    latest: u64,
    version: u64,
    files: &[AttachmentRef],
) -> Markup {
    html! {
        section.kb-files-editor aria-labelledby="files-h" {
            h2 #files-h { "Files" }
            p.muted {
                "Documents and images up to " (KB_FILE_MAX / (1024 * 1024)) " MiB, MP4 or WebM videos up to "
                (KB_VIDEO_MAX / (1024 * 1024)) " MiB, " (KB_FILES_MAX) " files at most. Show a file in the body with "
                code { "![Caption](file:name.mp4)" } " (videos play in place, images show) or link it with "
                code { "[text](file:name.pdf)" } ". Each upload or removal saves a new version; readers see the files once it is published."
            }
            (file_list(user, id, latest, files, Some(version)))
            form.stack method="post" action={"/app/kb/" (id) "/files"} enctype="multipart/form-data" {
                (csrf_field(&user.csrf))
                input type="hidden" name="version" value=(version);
                label for="kb-file" { "Add a file" }
                input #kb-file type="file" name="file" required accept=(ACCEPT);
                div.row { button type="submit" { "Upload" } }
            }
        }
    }
}

fn version_of(form: &FormData) -> Result<Option<u64>, AppError> {
    non_empty(form, "version")
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| AppError::validation("version", "is not a number"))
        })
        .transpose()
}

/// The edit page again with a message, after a refused upload or removal.
async fn back_to_editor(
    state: &AppState,
    user: &ConsoleUser,
    id: &ArticleId,
    e: AppError,
) -> Response {
    let status = match &e {
        AppError::Conflict { .. } => StatusCode::CONFLICT,
        AppError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::Validation { .. } | AppError::Rule(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => return app_error_page(user, e),
    };
    let message = match &e {
        AppError::Conflict { .. } => {
            "Someone else saved this article meanwhile; the page now shows their version. Try again.".to_string()
        }
        other => other.to_string(),
    };
    super::kb::edit_page(
        state,
        user,
        id,
        None,
        Some(flash("error", &message)),
        status,
    )
    .await
}

/// `POST /app/kb/{id}/files` (multipart): uploads one file to the article.
pub async fn upload(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let Ok(id) = ArticleId::parse(&id) else {
        return app_error_page(&user, AppError::NotFound { what: "article" });
    };
    let form = match multipart {
        Ok(m) => match read_upload(m).await {
            Ok(f) => f,
            Err(p) => {
                // The token may sit after the file; without it nothing else is trusted.
                let e = match p.status {
                    413 => AppError::TooLarge {
                        field: "file".into(),
                        message: p.detail,
                    },
                    _ => AppError::validation("file", p.detail),
                };
                return back_to_editor(&state, &user, &id, e).await;
            }
        },
        Err(_) => {
            return back_to_editor(
                &state,
                &user,
                &id,
                AppError::validation("file", "choose a file to upload"),
            )
            .await
        }
    };
    if let Err(r) = check_csrf(&state, &user, &form.fields, &headers) {
        return r;
    }
    let result = match (version_of(&form.fields), form.file) {
        (Err(e), _) => Err(e),
        (Ok(_), None) => Err(AppError::validation("file", "choose a file to upload")),
        (Ok(version), Some(file)) => {
            state
                .helpdesk
                .add_article_file(&user.actor, &id, file, version)
                .await
        }
    };
    match result {
        Ok(_) => Redirect::to(&format!("/app/kb/{id}/edit#files-h")).into_response(),
        Err(e) => back_to_editor(&state, &user, &id, e).await,
    }
}

/// `POST /app/kb/{id}/files/{file}/remove`
pub async fn remove(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((id, file)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(r) = check_csrf(&state, &user, &form, &headers) {
        return r;
    }
    let Ok(id) = ArticleId::parse(&id) else {
        return app_error_page(&user, AppError::NotFound { what: "article" });
    };
    let result = match version_of(&form) {
        Ok(version) => {
            state
                .helpdesk
                .remove_article_file(&user.actor, &id, &file, version)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/app/kb/{id}/edit#files-h")).into_response(),
        Err(e) => back_to_editor(&state, &user, &id, e).await,
    }
}

/// `GET /app/kb/{id}/versions/{number}/files/{file}`: a file of any version, for the team,
/// with the same safe download headers as the API.
pub async fn download(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((id, number, file)): Path<(String, String, String)>,
) -> Response {
    let (Ok(id), Ok(n)) = (ArticleId::parse(&id), number.parse::<u64>()) else {
        return app_error_page(&user, AppError::NotFound { what: "file" });
    };
    match state
        .helpdesk
        .article_version_file(&user.actor, &id, n, &file)
        .await
    {
        Ok(f) => crate::routes::kb_files::delivery_response(f),
        Err(e) => app_error_page(&user, e),
    }
}
