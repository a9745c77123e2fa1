//! Blobs (raw messages, attachments) as files under `DATA/blobs/`, written atomically.

use async_trait::async_trait;
use helpdesk_app::inbound::{BlobError, BlobStore};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

pub struct FileBlobStore {
    root: PathBuf,
}

impl FileBlobStore {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("blobs"),
        }
    }

    /// Keys are relative paths of plain segments; anything that could escape the root is refused.
    fn path(&self, key: &str) -> Result<PathBuf, BlobError> {
        let rel = Path::new(key);
        let plain = !key.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !plain {
            return Err(BlobError(format!("invalid blob key {key:?}")));
        }
        Ok(self.root.join(rel))
    }
}

#[async_trait]
impl BlobStore for FileBlobStore {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BlobError> {
        let path = self.path(key)?;
        let bytes = bytes.to_vec();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            // Write to a temporary name and rename: a crash never leaves half a message.
            let tmp = path.with_extension(format!(
                "tmp{}-{:016x}",
                std::process::id(),
                rand::random::<u64>()
            ));
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })
        .await
        .map_err(|e| BlobError(e.to_string()))?
        .map_err(|e| BlobError(e.to_string()))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let path = self.path(key)?;
        let read = tokio::task::spawn_blocking(move || std::fs::read(&path))
            .await
            .map_err(|e| BlobError(e.to_string()))?;
        match read {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BlobError(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_and_refuses_escapes() {
        let dir = std::env::temp_dir().join(format!("hd-blobs-{}", std::process::id()));
        let store = FileBlobStore::new(&dir);
        store.put("raw/ab/abc.eml", b"hello").await.expect("put");
        assert_eq!(
            store.get("raw/ab/abc.eml").await.expect("get").as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(store.get("raw/ab/missing.eml").await.expect("get"), None);
        for bad in ["../x", "/etc/passwd", "", "a/../../b"] {
            assert!(store.put(bad, b"x").await.is_err(), "{bad}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
