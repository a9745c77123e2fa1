//! S3: raw messages and attachments ([`S3BlobStore`]).
//!
//! One bucket holds both what SES's receipt rule stores (`inbound/{messageId}`, read by the
//! `inbound-email` function) and the help desk's own copies (`raw/…`, written by
//! [`helpdesk_app::Helpdesk::ingest_email`]). The bucket's default encryption applies; keys are
//! used as given (the app builds them), under an optional prefix.

use async_trait::async_trait;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use helpdesk_app::inbound::{BlobError, BlobStore};

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
