//! Attachments: files that came in with e-mail, or that a reply carries out. The bytes live in
//! the blob store, content-addressed (`att/{sha256}`); messages record only metadata.
//!
//! Downloads go through the same visibility rules as the thread: a customer reaches only the
//! public messages of their own tickets.

use crate::keys;
use crate::ports::Key;
use crate::{AppError, Helpdesk};
use base64::Engine;
use helpdesk_domain::{Actor, AttachmentMeta, Message, MessageId};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Files on one posted message, at most.
pub const UPLOADS_MAX: usize = 10;
/// Decoded bytes of all files on one posted message, at most (what mail services take
/// comfortably once base64-encoded).
pub const UPLOAD_TOTAL_MAX: usize = 10 * 1024 * 1024;
const FILENAME_MAX: usize = 150;

/// A file posted with a message (JSON: the content base64-encoded).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewAttachment {
    pub filename: String,
    /// `type/subtype`; defaults to `application/octet-stream`.
    #[serde(default)]
    pub content_type: Option<String>,
    /// The file's bytes, standard base64.
    pub content_base64: String,
}

/// An attachment's metadata and bytes, for a download.
#[derive(Debug, Clone)]
pub struct AttachmentDownload {
    pub meta: AttachmentMeta,
    pub bytes: Vec<u8>,
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Content-addressed key: the same bytes are stored once.
pub fn attachment_blob_key(hash: &str) -> String {
    format!("att/{}/{hash}", &hash[..2.min(hash.len())])
}

pub(crate) fn valid_content_type(ct: &str) -> bool {
    let Some((t, sub)) = ct.split_once('/') else {
        return false;
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    token(t) && token(sub)
}

impl Helpdesk {
    /// Checks and stores the files posted with a message; returns their metadata. Nothing is
    /// stored unless every file is acceptable.
    pub(crate) async fn store_uploads(
        &self,
        uploads: &[NewAttachment],
    ) -> Result<Vec<AttachmentMeta>, AppError> {
        if uploads.is_empty() {
            return Ok(Vec::new());
        }
        let Some(blobs) = self.blobs.clone() else {
            return Err(AppError::validation(
                "attachments",
                "attachments are not enabled on this installation",
            ));
        };
        if uploads.len() > UPLOADS_MAX {
            return Err(AppError::validation(
                "attachments",
                format!("at most {UPLOADS_MAX} files per message"),
            ));
        }
        let mut decoded = Vec::with_capacity(uploads.len());
        let mut total = 0usize;
        for (i, u) in uploads.iter().enumerate() {
            let field = |f: &str| format!("attachments[{i}].{f}");
            // Format characters (a right-to-left override hiding the real extension) go.
            let filename = helpdesk_domain::text::strip_format_chars(&u.filename);
            let filename = filename.trim();
            if filename.is_empty()
                || filename.chars().count() > FILENAME_MAX
                || filename
                    .chars()
                    .any(|c| c.is_control() || c == '/' || c == '\\')
            {
                return Err(AppError::validation(
                    field("filename"),
                    format!("must be a plain file name of 1-{FILENAME_MAX} characters"),
                ));
            }
            let content_type = u
                .content_type
                .as_deref()
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "application/octet-stream".into());
            if !valid_content_type(&content_type) {
                return Err(AppError::validation(
                    field("content_type"),
                    "must be a MIME type like application/pdf",
                ));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(u.content_base64.trim())
                .map_err(|_| AppError::validation(field("content_base64"), "is not base64"))?;
            total = total.saturating_add(bytes.len());
            if total > UPLOAD_TOTAL_MAX {
                return Err(AppError::validation(
                    "attachments",
                    format!("files add up to more than {UPLOAD_TOTAL_MAX} bytes"),
                ));
            }
            decoded.push((filename.to_string(), content_type, bytes));
        }
        let mut out = Vec::with_capacity(decoded.len());
        for (filename, content_type, bytes) in decoded {
            let key = attachment_blob_key(&sha256_hex(&bytes));
            blobs
                .put(&key, &bytes)
                .await
                .map_err(|e| AppError::internal("storing an attachment", e))?;
            out.push(AttachmentMeta {
                filename,
                content_type,
                size: bytes.len() as u64,
                blob_key: Some(key),
                content_id: None,
                inline: false,
                omitted: None,
            });
        }
        Ok(out)
    }

    /// One attachment of one message, if the caller may read that message.
    pub async fn attachment(
        &self,
        actor: &Actor,
        ticket_ref: &str,
        message: &str,
        index: usize,
    ) -> Result<AttachmentDownload, AppError> {
        let ticket = self.readable_ticket(actor, ticket_ref).await?;
        let message_id = MessageId::parse(message)
            .map_err(|_| AppError::validation("message", "is not a message id"))?;
        let not_found = AppError::NotFound { what: "message" };
        let item = self
            .table
            .get(&Key::new(
                keys::ticket_pk(&ticket.id),
                format!("M#{}", message_id.ulid()),
            ))
            .await
            .map_err(AppError::storage("reading a message"))?
            .ok_or(not_found)?;
        let m: Message = keys::from_item(&item)?;
        if !(m.kind.is_public() || actor.sees_internal()) {
            // Same answer as for a message that does not exist: internal notes stay unseen.
            return Err(AppError::NotFound { what: "message" });
        }
        let meta = m
            .attachments
            .get(index)
            .cloned()
            .ok_or(AppError::NotFound { what: "attachment" })?;
        let key = meta.blob_key.clone().ok_or(AppError::NotFound {
            what: "attachment content (not kept: over the size limit; the raw message has it)",
        })?;
        let blobs = self.blobs.clone().ok_or(AppError::NotFound {
            what: "attachment content",
        })?;
        let bytes = blobs
            .get(&key)
            .await
            .map_err(|e| AppError::internal("reading an attachment", e))?
            .ok_or(AppError::NotFound {
                what: "attachment content",
            })?;
        Ok(AttachmentDownload { meta, bytes })
    }

    /// The bytes of a message's files, for the e-mail that carries it.
    pub(crate) async fn load_for_mail(
        &self,
        attachments: &[AttachmentMeta],
    ) -> Result<Vec<helpdesk_mail::OutboundAttachment>, AppError> {
        let mut out = Vec::new();
        for a in attachments {
            let Some(key) = &a.blob_key else { continue };
            let blobs = self.blobs.clone().ok_or_else(|| {
                AppError::internal(
                    "attaching files to an e-mail",
                    "no blob store is configured",
                )
            })?;
            let bytes = blobs
                .get(key)
                .await
                .map_err(|e| AppError::internal("reading an attachment", e))?
                .ok_or_else(|| {
                    AppError::internal("attaching files to an e-mail", "attachment bytes missing")
                })?;
            out.push(helpdesk_mail::OutboundAttachment {
                filename: a.safe_filename(),
                content_type: a.content_type.clone(),
                bytes,
                content_id: a.content_id.clone(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_checked() {
        for ok in [
            "application/pdf",
            "image/png",
            "text/plain",
            "application/vnd.ms-excel",
        ] {
            assert!(valid_content_type(ok), "{ok}");
        }
        for bad in [
            "",
            "pdf",
            "text/",
            "/plain",
            "text/plain; charset=x",
            "a/b\r\nX: y",
        ] {
            assert!(!valid_content_type(bad), "{bad}");
        }
    }

    #[test]
    fn blob_keys_are_content_addressed() {
        let h = sha256_hex(b"hello");
        assert_eq!(attachment_blob_key(&h), format!("att/2c/{h}"));
    }
}
