//! S3: raw messages and attachments ([`S3BlobStore`]).
//!
//! One bucket holds both what SES's receipt rule stores (`inbound/{messageId}`, read by the
//! `inbound-email` function) and the help desk's own copies (`raw/…`, written by
//! [`helpdesk_app::Helpdesk::ingest_email`]). The bucket's default encryption applies; keys are
//! used as given (the app builds them), under an optional prefix.

use async_trait::async_trait;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use base64::Engine;
use helpdesk_app::inbound::{
    BlobDigest, BlobError, BlobStore, PresignGet, PresignPut, PresignedPut,
};
use sha2::{Digest, Sha256};

/// An S3 client for a local emulator (moto): fixed region, test credentials, path-style
/// addressing (`{endpoint}/{bucket}/{key}`: no per-bucket DNS names on a loopback port).
pub fn connect_local(endpoint_url: &str) -> Client {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "helpdesk-local",
        ))
        .endpoint_url(endpoint_url)
        .force_path_style(true)
        .build();
    Client::from_conf(config)
}

/// A client from the standard AWS environment (credentials chain, region, `AWS_ENDPOINT_URL`).
pub fn client_from(config: &aws_config::SdkConfig) -> Client {
    Client::new(config)
}

/// Creates a bucket (us-east-1, no location constraint). For setup and tests.
pub async fn create_bucket(client: &Client, bucket: &str) -> Result<(), String> {
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("S3 CreateBucket {bucket}: {}", DisplayErrorContext(&e)))
}

/// `prefix` + `key`, with exactly one `/` between them when a prefix is given.
pub fn object_key(prefix: &str, key: &str) -> String {
    let key = key.trim_start_matches('/');
    let prefix = prefix.trim_start_matches('/');
    if prefix.is_empty() {
        key.to_string()
    } else if prefix.ends_with('/') {
        format!("{prefix}{key}")
    } else {
        format!("{prefix}/{key}")
    }
}

/// [`BlobStore`] on one S3 bucket. A missing key reads as `Ok(None)`; every other failure
/// (permissions, throttling, the network) is an error, never "missing".
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
    prefix: String,
}

impl S3BlobStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            prefix: String::new(),
        }
    }

    /// Every key is stored under `prefix` (see [`object_key`]).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn key(&self, key: &str) -> Result<String, BlobError> {
        if key.is_empty() || key.split('/').any(|s| s == ".." || s == ".") {
            return Err(BlobError(format!("invalid blob key {key:?}")));
        }
        Ok(object_key(&self.prefix, key))
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BlobError> {
        let key = self.key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(ByteStream::from(bytes.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                BlobError(format!(
                    "S3 PutObject s3://{}/{key}: {}",
                    self.bucket,
                    DisplayErrorContext(&e)
                ))
            })
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let key = self.key(key)?;
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => {
                return Err(BlobError(format!(
                    "S3 GetObject s3://{}/{key}: {}",
                    self.bucket,
                    DisplayErrorContext(&e)
                )))
            }
        };
        let bytes = out.body.collect().await.map_err(|e| {
            BlobError(format!(
                "S3 GetObject s3://{}/{key} (reading the body): {e}",
                self.bucket
            ))
        })?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    /// Streams the object through SHA-256: a 100 MiB video never sits in memory whole.
    async fn digest(&self, key: &str) -> Result<Option<BlobDigest>, BlobError> {
        let key = self.key(key)?;
        let mut out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => {
                return Err(BlobError(format!(
                    "S3 GetObject s3://{}/{key}: {}",
                    self.bucket,
                    DisplayErrorContext(&e)
                )))
            }
        };
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut head = Vec::with_capacity(BlobDigest::HEAD_LEN);
        while let Some(chunk) = out.body.next().await {
            let chunk = chunk.map_err(|e| {
                BlobError(format!(
                    "S3 GetObject s3://{}/{key} (reading the body): {e}",
                    self.bucket
                ))
            })?;
            let room = BlobDigest::HEAD_LEN.saturating_sub(head.len());
            head.extend(chunk.iter().take(room));
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Ok(Some(BlobDigest {
            size,
            sha256_hex: hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            head,
        }))
    }

    /// Server-side CopyObject (no bytes through the function).
    async fn copy(&self, from: &str, to: &str) -> Result<(), BlobError> {
        let (from, to) = (self.key(from)?, self.key(to)?);
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{from}", self.bucket))
            .key(&to)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                BlobError(format!(
                    "S3 CopyObject s3://{}/{from} → {to}: {}",
                    self.bucket,
                    DisplayErrorContext(&e)
                ))
            })
    }

    /// A presigned `PutObject` for exactly this content: type, length and SHA-256 checksum are
    /// signed headers, and S3 refuses a body whose checksum differs, so the content-addressed
    /// key cannot end up holding other bytes. (The app also uploads to a staging key and checks
    /// the digest itself before copying: an emulator or proxy that skips the check changes
    /// nothing.)
    async fn presign_put(&self, upload: &PresignPut) -> Result<Option<PresignedPut>, BlobError> {
        let key = self.key(&upload.key)?;
        let digest = hex_bytes(&upload.sha256_hex)
            .ok_or_else(|| BlobError(format!("{:?} is not a SHA-256", upload.sha256_hex)))?;
        let checksum = base64::engine::general_purpose::STANDARD.encode(digest);
        let length = i64::try_from(upload.size)
            .map_err(|_| BlobError(format!("size {} is out of range", upload.size)))?;
        let config = PresigningConfig::expires_in(upload.expires_in)
            .map_err(|e| BlobError(format!("presigning: {e}")))?;
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(&upload.content_type)
            .content_length(length)
            .checksum_sha256(checksum)
            .presigned(config)
            .await
            .map_err(|e| {
                BlobError(format!(
                    "S3 presign PutObject s3://{}/{key}: {}",
                    self.bucket,
                    DisplayErrorContext(&e)
                ))
            })?;
        let expires_at = chrono::Utc::now()
            + chrono::Duration::from_std(upload.expires_in).unwrap_or(chrono::Duration::zero());
        Ok(Some(PresignedPut {
            method: presigned.method().to_string(),
            url: presigned.uri().to_string(),
            headers: presigned
                .headers()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect(),
            expires_at,
        }))
    }

    /// A presigned `GetObject` whose response has the given type and disposition (S3's
    /// `response-content-type` / `response-content-disposition`, part of the signature).
    async fn presign_get(&self, get: &PresignGet) -> Result<Option<String>, BlobError> {
        let key = self.key(&get.key)?;
        let config = PresigningConfig::expires_in(get.expires_in)
            .map_err(|e| BlobError(format!("presigning: {e}")))?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .response_content_type(&get.content_type)
            .response_content_disposition(&get.content_disposition)
            .presigned(config)
            .await
            .map_err(|e| {
                BlobError(format!(
                    "S3 presign GetObject s3://{}/{key}: {}",
                    self.bucket,
                    DisplayErrorContext(&e)
                ))
            })?;
        Ok(Some(presigned.uri().to_string()))
    }
}

fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_join_prefix_and_key_with_one_slash() {
        assert_eq!(object_key("", "raw/ab/abcd.eml"), "raw/ab/abcd.eml");
        assert_eq!(object_key("inbound/", "m1"), "inbound/m1");
        assert_eq!(object_key("inbound", "m1"), "inbound/m1");
        assert_eq!(object_key("/inbound/", "/m1"), "inbound/m1");
        assert_eq!(object_key("a/b/", "raw/x"), "a/b/raw/x");
    }

    #[test]
    fn keys_that_walk_out_of_the_prefix_are_refused() {
        let store = S3BlobStore::new(connect_local("http://127.0.0.1:9"), "b").with_prefix("p/");
        assert!(store.key("../x").is_err());
        assert!(store.key("raw/../x").is_err());
        assert!(store.key("").is_err());
        assert_eq!(store.key("raw/x").expect("key"), "p/raw/x");
    }
}
