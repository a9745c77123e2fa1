//! Uploaded files of articles: documents, images and video tutorials.
//!
//! The bytes go to the blob store content-addressed, under the same keys as ticket attachments
//! (`att/{sha256[..2]}/{sha256}`, [`attachment_blob_key`]): the same file is stored once however
//! many articles, versions or tickets carry it, and blobs are never deleted (old versions keep
//! pointing at them, so restore works). The article records the file
//! ([`AttachmentRef`]) on a **new version** — uploading or removing a file is a save like any
//! other: it makes a draft, shows in the diff, and a restore brings the old files back. Readers
//! see a file once the version carrying it is published.
//!
//! Limits ([`helpdesk_domain::kb`]): documents and images up to `KB_FILE_MAX` (4 MiB, what
//! fits through the API Lambda's 6 MB payload), videos (`video/mp4`, `video/webm`) up to
//! `KB_VIDEO_MAX` (100 MiB), [`KB_FILES_MAX`] files per version. Self-hosted, every file
//! uploads directly. On AWS a video larger than the Lambda payload goes straight to S3: ask for
//! a presigned upload ([`Helpdesk::article_file_upload_url`]), `PUT` the bytes, then record it
//! ([`Helpdesk::add_uploaded_article_file`]).
//!
//! Downloads: the team reads any version's files ([`Helpdesk::article_version_file`]); everyone
//! else only the files of the **published** version of an article whose audience they may read
//! ([`Helpdesk::published_article_file`] — the function the help centre calls too). On AWS a
//! video over 4 MiB comes back as a presigned S3 link ([`FileDelivery::Redirect`]): a Lambda
//! response carries 6 MB at most.

use super::{render, stale};
use crate::attachments::{attachment_blob_key, sha256_hex, valid_content_type, AttachmentDownload};
use crate::directory::require;
use crate::inbound::{BlobStore, PresignGet, PresignPut, PresignedPut};
use crate::{AppError, Helpdesk};
use helpdesk_domain::kb::{
    self, can_author, can_read_drafts, content_matches, Article, ArticleId, AttachmentRef,
    KbFileKind, KB_FILES_MAX, KB_FILE_MAX,
};
use helpdesk_domain::{Actor, AttachmentMeta};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How long a presigned upload URL stays valid.
pub const UPLOAD_URL_TTL_SECS: u64 = 15 * 60;

/// How long a presigned download link stays valid.
pub const DOWNLOAD_URL_TTL_SECS: u64 = 15 * 60;

/// A download: the bytes (sent with the safe download headers), or — for a video larger than
/// what one Lambda response carries (6 MB) when the store presigns — a link to fetch it from
/// the store directly (S3, 15 minutes, served as the video type, inline).
#[derive(Debug)]
pub enum FileDelivery {
    Bytes(AttachmentDownload),
    Redirect { url: String, meta: AttachmentMeta },
}

/// A file as it arrives in an upload (multipart from the API or the console).
#[derive(Debug, Clone)]
pub struct FileUpload {
    /// The client's file name (a path is reduced to its last part).
    pub name: String,
    /// As declared by the client; parameters (`; charset=…`) are dropped.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A file too large for the API function, described before its bytes go straight to the blob
/// store (or after, to record it).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadIntent {
    pub name: String,
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of the file, lower-case hex (64 characters). The store refuses other bytes.
    pub sha256: String,
    /// For recording: the article's `version` as read (or `If-Match`). Stale → 409.
    #[serde(default)]
    pub version: Option<u64>,
}

/// Where to upload a large file, and what to send afterwards to record it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UploadUrl {
    pub upload: PresignedPut,
    /// `POST` this (the same intent) to `…/files/uploaded` once the upload succeeded.
    pub record_at: String,
}

/// An uploaded file as a reader sees it listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FileLink {
    pub name: String,
    pub content_type: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<KbFileKind>,
    /// Where this reader downloads it.
    pub url: String,
}

/// The files with their download URLs (`url(index, file)`).
pub fn file_links(
    files: &[AttachmentRef],
    url: &dyn Fn(usize, &AttachmentRef) -> String,
) -> Vec<FileLink> {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| FileLink {
            name: f.name.clone(),
            content_type: f.content_type.clone(),
            size: f.size,
            kind: KbFileKind::of(&f.content_type),
            url: url(i, f),
        })
        .collect()
}

/// The download path of a file of one version, for the team (API).
pub fn version_file_url(id: &ArticleId, number: u64, index: usize) -> String {
    format!("/api/v1/kb/articles/{id}/versions/{number}/files/{index}")
}

/// Where readers download the published version's files: the token API, or the help centre's
/// anonymous API (outside the JWT authorizer on AWS, signed-in customers by their cookie).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileBase {
    Api,
    HelpCentre,
}

/// The download path of a file of the published version (API).
pub fn published_file_url(id: &ArticleId, index: usize) -> String {
    published_file_url_at(FileBase::Api, id, index)
}

pub fn published_file_url_at(base: FileBase, id: &ArticleId, index: usize) -> String {
    match base {
        FileBase::Api => format!("/api/v1/kb/articles/{id}/files/{index}"),
        FileBase::HelpCentre => format!("/help/api/kb/articles/{id}/files/{index}"),
    }
}

/// Where a presigned upload lands before it is checked: `kbup/{sha256}`. Only after its digest
/// matches is it copied to the content address ([`attachment_blob_key`]), so an upload can
/// never replace the bytes of a file already stored (a ticket attachment shares the key
/// space). Staged objects are left behind; on AWS a lifecycle rule on `kbup/` may expire them.
pub fn staging_key(sha256: &str) -> String {
    format!("kbup/{}", sha256.trim().to_ascii_lowercase())
}

fn too_large(field: &str, kind: KbFileKind) -> AppError {
    let what = match kind {
        KbFileKind::Video => "videos",
        KbFileKind::Document | KbFileKind::Image => "documents and images",
    };
    AppError::TooLarge {
        field: field.to_string(),
        message: format!(
            "{what} may be at most {} MiB",
            kind.max_bytes() / (1024 * 1024)
        ),
    }
}

/// The declared type, normalised and checked against what articles accept.
fn accepted_type(raw: &str) -> Result<(String, KbFileKind), AppError> {
    let ct = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !valid_content_type(&ct) {
        return Err(AppError::validation(
            "content_type",
            "must be a MIME type like application/pdf",
        ));
    }
    let kind = KbFileKind::of(&ct).ok_or_else(|| {
        AppError::validation(
            "content_type",
            format!("{ct} is not accepted: upload documents (PDF, office, text), PNG/JPEG/GIF/WebP images or MP4/WebM videos"),
        )
    })?;
    Ok((ct, kind))
}

fn file_index(files: &[AttachmentRef], key: &str) -> Result<usize, AppError> {
    render::find_file(files, key)
        .map(|(i, _)| i)
        .ok_or(AppError::NotFound { what: "file" })
}

fn download_meta(f: &AttachmentRef) -> AttachmentMeta {
    AttachmentMeta {
        filename: f.name.clone(),
        content_type: f.content_type.clone(),
        size: f.size,
        blob_key: Some(f.blob.clone()),
        content_id: None,
        inline: false,
        omitted: None,
    }
}

/// A file's new list on the next version: the same name replaces the file in its place,
/// otherwise it is appended (within the per-version count).
fn with_file(files: &[AttachmentRef], file: AttachmentRef) -> Result<Vec<AttachmentRef>, AppError> {
    let mut next = files.to_vec();
    match next.iter_mut().find(|f| f.name == file.name) {
        Some(slot) => *slot = file,
        None => {
            if next.len() >= KB_FILES_MAX {
                return Err(AppError::validation(
                    "file",
                    format!("an article carries at most {KB_FILES_MAX} files; remove one first"),
                ));
            }
            next.push(file);
        }
    }
    Ok(kb::check_attachments(next)?)
}

impl Helpdesk {
    fn kb_blobs(&self) -> Result<Arc<dyn BlobStore>, AppError> {
        self.blobs
            .clone()
            .ok_or_else(|| AppError::validation("file", "file storage is not enabled here"))
    }

    async fn author_head(
        &self,
        actor: &Actor,
        id: &ArticleId,
        expected: Option<u64>,
    ) -> Result<Article, AppError> {
        require(can_author(actor), "only the support team writes articles")?;
        let head = self.article_or_404(id).await?;
        if let Some(v) = expected {
            if v != head.version {
                return Err(stale("article", head.version, v));
            }
        }
        Ok(head)
    }

    /// Stores an uploaded file and records it on a new draft version of the article (the live
    /// version, if any, stays live). A file with the same name is replaced. Size over the
    /// limit → 413 naming `file`; a refused type → 422 naming `content_type`.
    pub async fn add_article_file(
        &self,
        actor: &Actor,
        id: &ArticleId,
        upload: FileUpload,
        expected: Option<u64>,
    ) -> Result<Article, AppError> {
        let head = self.author_head(actor, id, expected).await?;
        let name = kb::parse_file_name(&upload.name)?;
        let (content_type, kind) = accepted_type(&upload.content_type)?;
        if upload.bytes.is_empty() {
            return Err(AppError::validation("file", "is empty"));
        }
        if upload.bytes.len() as u64 > kind.max_bytes() {
            return Err(too_large("file", kind));
        }
        if !content_matches(&content_type, &upload.bytes) {
            return Err(AppError::validation(
                "file",
                format!("the content is not {content_type}"),
            ));
        }
        let file = AttachmentRef {
            name,
            blob: attachment_blob_key(&sha256_hex(&upload.bytes)),
            content_type,
            size: upload.bytes.len() as u64,
        };
        let files = with_file(&head.content.attachments, file.clone())?;
        self.kb_blobs()?
            .put(&file.blob, &upload.bytes)
            .await
            .map_err(|e| AppError::internal("storing an article file", e))?;
        let mut content = head.content.clone();
        content.attachments = files;
        let note = format!("{} ({}, {} bytes)", file.name, file.content_type, file.size);
        self.save_content_as(
            actor,
            head,
            content,
            expected,
            None,
            Some(("file_added", note)),
        )
        .await
    }

    /// Removes a file (by position or name) from the article: a new draft version without it.
    /// Older versions keep it; the published one keeps serving it until the next publish.
    pub async fn remove_article_file(
        &self,
        actor: &Actor,
        id: &ArticleId,
        file: &str,
        expected: Option<u64>,
    ) -> Result<Article, AppError> {
        let head = self.author_head(actor, id, expected).await?;
        let i = file_index(&head.content.attachments, file)?;
        let mut content = head.content.clone();
        let gone = content.attachments.remove(i);
        self.save_content_as(
            actor,
            head,
            content,
            expected,
            None,
            Some(("file_removed", gone.name)),
        )
        .await
    }

    /// A presigned upload for a file too large to pass through the API function (on AWS:
    /// videos over the Lambda payload). Checked like a direct upload, before any byte moves.
    pub async fn article_file_upload_url(
        &self,
        actor: &Actor,
        id: &ArticleId,
        intent: UploadIntent,
    ) -> Result<UploadUrl, AppError> {
        let head = self.author_head(actor, id, None).await?;
        let (file, _) = self.intent_file(&intent)?;
        with_file(&head.content.attachments, file.clone())?;
        let upload = self
            .kb_blobs()?
            .presign_put(&PresignPut {
                key: staging_key(&intent.sha256),
                content_type: file.content_type.clone(),
                size: file.size,
                sha256_hex: intent.sha256.to_ascii_lowercase(),
                expires_in: std::time::Duration::from_secs(UPLOAD_URL_TTL_SECS),
            })
            .await
            .map_err(|e| AppError::internal("presigning an upload", e))?
            .ok_or_else(|| {
                AppError::validation(
                    "upload",
                    "this installation takes files directly: POST them as multipart to /api/v1/kb/articles/{id}/files",
                )
            })?;
        Ok(UploadUrl {
            upload,
            record_at: format!("/api/v1/kb/articles/{id}/files/uploaded"),
        })
    }

    /// Records a file uploaded with a presigned URL: the staged bytes must have the announced
    /// size, SHA-256 and type signature; they are then copied to their content address and
    /// recorded as by [`Helpdesk::add_article_file`].
    pub async fn add_uploaded_article_file(
        &self,
        actor: &Actor,
        id: &ArticleId,
        intent: UploadIntent,
        if_match: Option<u64>,
    ) -> Result<Article, AppError> {
        let expected = if_match.or(intent.version);
        let head = self.author_head(actor, id, expected).await?;
        let (file, _) = self.intent_file(&intent)?;
        let blobs = self.kb_blobs()?;
        let staged = staging_key(&intent.sha256);
        // Checked here, not only by the store: the bytes must be exactly the announced file
        // before they go under its content address.
        let digest = blobs
            .digest(&staged)
            .await
            .map_err(|e| AppError::internal("checking an uploaded file", e))?
            .ok_or_else(|| {
                AppError::validation(
                    "sha256",
                    "no file with this checksum was uploaded (or the upload has not finished)",
                )
            })?;
        if digest.size != file.size {
            return Err(AppError::validation(
                "size",
                format!(
                    "the uploaded file has {} bytes, not {}",
                    digest.size, file.size
                ),
            ));
        }
        if !digest.sha256_hex.eq_ignore_ascii_case(intent.sha256.trim()) {
            return Err(AppError::validation(
                "sha256",
                "the uploaded bytes do not have this checksum",
            ));
        }
        if !content_matches(&file.content_type, &digest.head) {
            return Err(AppError::validation(
                "file",
                format!("the content is not {}", file.content_type),
            ));
        }
        let files = with_file(&head.content.attachments, file.clone())?;
        blobs
            .copy(&staged, &file.blob)
            .await
            .map_err(|e| AppError::internal("storing an uploaded file", e))?;
        let mut content = head.content.clone();
        content.attachments = files;
        let note = format!(
            "{} ({}, {} bytes, uploaded directly to the store)",
            file.name, file.content_type, file.size
        );
        self.save_content_as(
            actor,
            head,
            content,
            expected,
            None,
            Some(("file_added", note)),
        )
        .await
    }

    fn intent_file(&self, intent: &UploadIntent) -> Result<(AttachmentRef, KbFileKind), AppError> {
        let name = kb::parse_file_name(&intent.name)?;
        let (content_type, kind) = accepted_type(&intent.content_type)?;
        let sha = intent.sha256.trim().to_ascii_lowercase();
        if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(AppError::validation(
                "sha256",
                "must be the file's SHA-256 in hex (64 characters)",
            ));
        }
        if intent.size == 0 {
            return Err(AppError::validation("size", "the file is empty"));
        }
        if intent.size > kind.max_bytes() {
            return Err(too_large("size", kind));
        }
        Ok((
            AttachmentRef {
                name,
                blob: attachment_blob_key(&sha),
                content_type,
                size: intent.size,
            },
            kind,
        ))
    }

    /// The bytes, or for a video larger than what a Lambda response carries a presigned link
    /// to the store (where the store makes them).
    async fn deliver(&self, f: &AttachmentRef) -> Result<FileDelivery, AppError> {
        let blobs = self
            .kb_blobs()
            .map_err(|_| AppError::NotFound { what: "file" })?;
        if KbFileKind::of(&f.content_type) == Some(KbFileKind::Video) && f.size > KB_FILE_MAX {
            let name: String = f
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_graphic() && c != '"' && c != '\\' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let url = blobs
                .presign_get(&PresignGet {
                    key: f.blob.clone(),
                    // Videos only: a type the browser plays and never runs.
                    content_type: f.content_type.clone(),
                    content_disposition: format!("inline; filename=\"{name}\""),
                    expires_in: std::time::Duration::from_secs(DOWNLOAD_URL_TTL_SECS),
                })
                .await
                .map_err(|e| AppError::internal("presigning a download", e))?;
            if let Some(url) = url {
                return Ok(FileDelivery::Redirect {
                    url,
                    meta: download_meta(f),
                });
            }
        }
        self.file_bytes(&blobs, f).await.map(FileDelivery::Bytes)
    }

    async fn file_bytes(
        &self,
        blobs: &Arc<dyn BlobStore>,
        f: &AttachmentRef,
    ) -> Result<AttachmentDownload, AppError> {
        let bytes = blobs
            .get(&f.blob)
            .await
            .map_err(|e| AppError::internal("reading an article file", e))?
            .ok_or(AppError::NotFound {
                what: "file content",
            })?;
        Ok(AttachmentDownload {
            meta: download_meta(f),
            bytes,
        })
    }

    /// A file of any version (by position or name), for the team.
    pub async fn article_version_file(
        &self,
        actor: &Actor,
        id: &ArticleId,
        number: u64,
        file: &str,
    ) -> Result<FileDelivery, AppError> {
        if !can_read_drafts(actor) {
            return Err(AppError::NotFound { what: "article" });
        }
        let v = self.version_or_404(id, number).await?;
        let i = file_index(&v.content.attachments, file)?;
        self.deliver(&v.content.attachments[i]).await
    }

    /// A file (by position or name) of the **published** version of an article this reader
    /// may read; drafts, archived articles, files only on a newer draft and other audiences'
    /// articles are all "not found". The help centre serves its downloads with this.
    pub async fn published_article_file(
        &self,
        actor: Option<&Actor>,
        id: &ArticleId,
        file: &str,
    ) -> Result<FileDelivery, AppError> {
        let (_, v, _) = self.readable_live(actor, id).await?;
        let i = file_index(&v.content.attachments, file)?;
        self.deliver(&v.content.attachments[i]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> AttachmentRef {
        AttachmentRef {
            name: name.into(),
            blob: format!("att/00/{name}"),
            content_type: "application/pdf".into(),
            size: 1,
        }
    }

    #[test]
    fn same_name_replaces_in_place_and_the_count_is_capped() {
        let files = vec![f("a.pdf"), f("b.pdf")];
        let mut b2 = f("b.pdf");
        b2.blob = "att/00/other".into();
        let next = with_file(&files, b2.clone()).expect("replace");
        assert_eq!(next, vec![f("a.pdf"), b2]);
        let full: Vec<AttachmentRef> = (0..KB_FILES_MAX).map(|i| f(&format!("{i}.pdf"))).collect();
        assert!(with_file(&full, f("one-more.pdf")).is_err());
        assert!(with_file(&full, f("3.pdf")).is_ok());
    }

    #[test]
    fn types_are_normalised_and_checked() {
        assert_eq!(
            accepted_type("Video/MP4; codecs=avc1").expect("ok"),
            ("video/mp4".to_string(), KbFileKind::Video)
        );
        assert!(matches!(
            accepted_type("text/html"),
            Err(AppError::Validation { field, .. }) if field == "content_type"
        ));
        assert!(matches!(
            too_large("file", KbFileKind::Video),
            AppError::TooLarge { .. }
        ));
    }
}
