//! The self-hosted SMTP listener (mailin-embedded: a well-kept embeddable server, blocking IO
//! on its own thread pool). Each accepted message goes through the same ingest use case as
//! `helpdesk ingest-email` and SES; the answer to DATA tells the sender the truth: 250 once the
//! raw message is stored, 451 (try again) if it could not be, 552 when it is too large.

use crate::local::blobs::FileBlobStore;
use helpdesk_app::inbound::InboundConfig;
use helpdesk_app::Helpdesk;
use mailin_embedded::response::{self, Response};
use mailin_embedded::{Handler, Server, SslConfig};
use std::net::{IpAddr, TcpListener};
use std::sync::Arc;

struct Shared {
    helpdesk: Helpdesk,
    blobs: FileBlobStore,
    config: InboundConfig,
    runtime: tokio::runtime::Handle,
    domain: String,
}

#[derive(Clone)]
struct Session {
    shared: Arc<Shared>,
    buf: Vec<u8>,
    too_big: bool,
}

impl Handler for Session {
    fn rcpt(&mut self, to: &str) -> Response {
        // Only our own domain: this is a mailbox, never a relay.
        let domain = to
            .trim()
            .trim_matches(|c| c == '<' || c == '>')
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase());
        if domain.as_deref() == Some(self.shared.domain.as_str()) {
            response::OK
        } else {
            response::NO_MAILBOX
        }
    }

    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> Response {
        self.buf.clear();
        self.too_big = false;
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if self.buf.len() + buf.len() > self.shared.config.limits.max_message_bytes {
            self.too_big = true;
        } else if !self.too_big {
            self.buf.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if self.too_big {
            return response::NO_STORAGE;
        }
        let raw = std::mem::take(&mut self.buf);
        let shared = self.shared.clone();
        let result = shared.runtime.block_on(async {
            shared
                .helpdesk
                .ingest_email(&raw, &shared.blobs, &shared.config)
                .await
        });
        match result {
            Ok(outcome) => {
                tracing::info!(outcome = ?outcome.outcome, ticket = ?outcome.ticket, reason = %outcome.reason, "smtp message ingested");
                response::OK
            }
            Err(e) => {
                tracing::error!(error = %e, "smtp message not stored; the sender will retry");
                response::INTERNAL_ERROR
            }
        }
    }

    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        response::OK
    }
}

/// Serves SMTP on `listener` from a background thread (for the life of the process).
pub fn spawn(
    listener: TcpListener,
    helpdesk: Helpdesk,
    data_dir: &std::path::Path,
    config: InboundConfig,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let domain = config.signer.domain().to_ascii_lowercase();
    let shared = Arc::new(Shared {
        helpdesk,
        blobs: FileBlobStore::new(data_dir),
        config,
        runtime: tokio::runtime::Handle::current(),
        domain: domain.clone(),
    });
    let mut server = Server::new(Session {
        shared,
        buf: Vec::new(),
        too_big: false,
    });
    server
        .with_name(domain)
        .with_num_threads(4)
        .with_tcp_listener(listener);
    server
        .with_ssl(SslConfig::None)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    std::thread::Builder::new()
        .name("smtp".into())
        .spawn(move || {
            if let Err(e) = server.serve() {
                tracing::error!(error = %e, "smtp listener stopped");
            }
        })
}
