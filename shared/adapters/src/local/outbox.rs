//! The local outbox: what AWS would send (SNS, SES) is appended to files in the data
//! directory, one JSON object per line, so it can be read, tailed and tested.

use async_trait::async_trait;
use helpdesk_app::sla::{AlertSink, DeliveryError, SlaAlert};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct OutboxAlertSink {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl OutboxAlertSink {
    /// Alerts go to `DATA/outbox/alerts.jsonl`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("outbox").join("alerts.jsonl"),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl AlertSink for OutboxAlertSink {
    async fn deliver(&self, alert: &SlaAlert) -> Result<(), DeliveryError> {
        let line = serde_json::to_string(alert).map_err(|e| DeliveryError(e.to_string()))?;
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            f.write_all(line.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_data()
        })
        .await
        .map_err(|e| DeliveryError(e.to_string()))?
        .map_err(|e| DeliveryError(e.to_string()))
    }
}
