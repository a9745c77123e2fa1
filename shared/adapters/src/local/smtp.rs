//! The self-hosted SMTP listener: mailin's protocol engine (the SMTP state machine under
//! mailin-embedded) on an accept loop of our own, blocking IO, one thread per session.
//! mailin-embedded's server reads with a fixed five-minute timeout that every byte resets and
//! queues connections beyond its thread pool without a word; here, as [`SmtpLimits`] says:
//!
//! - at most `max_sessions` sessions at once; one more is answered `421` and closed;
//! - each command line must arrive whole within `command_timeout` of the server waiting for it
//!   (an idle session and a command trickled a byte at a time alike), else `421` and closed;
//! - a message must arrive whole within `data_timeout` of the `354`, else `421` and closed;
//! - a line longer than 64 KiB (RFC 5321 allows 1000 bytes) is answered `500` and closed.
//!
//! Each accepted message goes through the same ingest use case as `helpdesk ingest-email` and
//! SES; the answer to DATA tells the sender the truth: 250 once the raw message is stored, 451
//! (try again) if it could not be, 552 when it is too large.

use crate::local::blobs::FileBlobStore;
use helpdesk_app::inbound::InboundConfig;
use helpdesk_app::Helpdesk;
use mailin::response::{self, Response};
use mailin::{Action, Handler, SessionBuilder};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The SMTP listener's limits (see the module documentation and README, configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmtpLimits {
    /// How long the server waits for a whole command line (RFC 5321 suggests 5 minutes; a
    /// minute is plenty for a mail server and ties up a session five times shorter).
    pub command_timeout: Duration,
    /// How long a whole message may take to arrive, from the `354` to the final dot.
    pub data_timeout: Duration,
    /// Sessions served at once; one more is answered `421`.
    pub max_sessions: usize,
}

impl Default for SmtpLimits {
    fn default() -> Self {
        Self {
            command_timeout: Duration::from_secs(60),
            data_timeout: Duration::from_secs(300),
            max_sessions: 100,
        }
    }
}

/// The longest line read: RFC 5321 allows 1000 bytes with the CRLF; a little slack for
/// careless senders, and a bound on what one session can make the server hold.
const MAX_LINE: usize = 64 * 1024;

struct Shared {
    helpdesk: Helpdesk,
    blobs: FileBlobStore,
    config: InboundConfig,
    runtime: tokio::runtime::Handle,
    domain: String,
}

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

/// Serves SMTP on `listener` from a background thread (for the life of the process), each
/// session on a thread of its own, within `limits`.
pub fn spawn(
    listener: TcpListener,
    helpdesk: Helpdesk,
    data_dir: &std::path::Path,
    config: InboundConfig,
    limits: SmtpLimits,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let domain = config.signer.domain().to_ascii_lowercase();
    let shared = Arc::new(Shared {
        helpdesk,
        blobs: FileBlobStore::new(data_dir),
        config,
        runtime: tokio::runtime::Handle::current(),
        domain: domain.clone(),
    });
    let builder = SessionBuilder::new(domain);
    let sessions = Arc::new(Semaphore::new(
        limits.max_sessions.clamp(1, Semaphore::MAX_PERMITS),
    ));
    std::thread::Builder::new()
        .name("smtp".into())
        .spawn(move || accept_loop(listener, builder, shared, sessions, limits))
}

fn accept_loop(
    listener: TcpListener,
    builder: SessionBuilder,
    shared: Arc<Shared>,
    sessions: Arc<Semaphore>,
    limits: SmtpLimits,
) {
    let mut saturated = false;
    for conn in listener.incoming() {
        let stream = match conn {
            Ok(stream) => stream,
            Err(e) => {
                use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
                if !matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted) {
                    // E.g. out of file descriptors: wait rather than spin.
                    tracing::error!(error = %e, "accepting an SMTP connection failed");
                    std::thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
        };
        let Ok(permit) = sessions.clone().try_acquire_owned() else {
            if !saturated {
                tracing::warn!(
                    max_sessions = limits.max_sessions,
                    "SMTP session limit reached; refusing new sessions with 421"
                );
                saturated = true;
            }
            refuse(stream, &shared.domain);
            continue;
        };
        saturated = false;
        let session = Session {
            shared: shared.clone(),
            buf: Vec::new(),
            too_big: false,
        };
        let builder = builder.clone();
        let spawned = std::thread::Builder::new()
            .name("smtp-session".into())
            .spawn(move || {
                serve_session(stream, &builder, session, limits);
                drop(permit);
            });
        if let Err(e) = spawned {
            // The closure, and with it the connection, is dropped: the client sees it closed.
            tracing::error!(error = %e, "cannot start an SMTP session thread");
        }
    }
}

/// `421` to a connection over the session limit. Clients wait for the greeting before they
/// say anything, so closing right after it is clean.
fn refuse(mut stream: TcpStream, domain: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = write!(
        stream,
        "421 4.3.2 {domain} too many connections, try again later\r\n"
    );
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

fn serve_session(
    stream: TcpStream,
    builder: &SessionBuilder,
    handler: Session,
    limits: SmtpLimits,
) {
    let peer = stream
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if let Err(e) = converse(stream, peer, builder, handler, limits) {
        tracing::debug!(%peer, error = %e, "SMTP session ended with an error");
    }
}

/// One SMTP session: the greeting, then a line in, an answer out, until the client quits, a
/// deadline passes or the connection breaks.
fn converse(
    stream: TcpStream,
    peer: IpAddr,
    builder: &SessionBuilder,
    handler: Session,
    limits: SmtpLimits,
) -> std::io::Result<()> {
    // A client that stops reading cannot hold the session either.
    stream.set_write_timeout(Some(limits.command_timeout))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let domain = handler.shared.domain.clone();
    let mut session = builder.build(peer, handler);
    writer.write_all(&session.greeting().buffer()?)?;
    // Set while a message is being received (after the 354).
    let mut data_deadline: Option<Instant> = None;
    let mut line = Vec::with_capacity(1024);
    loop {
        let deadline = data_deadline.unwrap_or_else(|| Instant::now() + limits.command_timeout);
        match read_line(&mut reader, &mut line, deadline)? {
            Line::Complete => {}
            Line::Closed => return Ok(()),
            Line::TimedOut => {
                tracing::info!(%peer, "SMTP session timed out");
                write!(
                    writer,
                    "421 4.4.2 {domain} timeout exceeded, closing connection\r\n"
                )?;
                linger(reader.into_inner());
                return Ok(());
            }
            Line::TooLong => {
                write!(writer, "500 5.5.2 line too long, closing connection\r\n")?;
                linger(reader.into_inner());
                return Ok(());
            }
        }
        let answer = session.process(&line);
        if answer.code == 354 {
            data_deadline = Some(Instant::now() + limits.data_timeout);
        } else if answer.action != Action::NoReply {
            data_deadline = None;
        }
        match answer.action {
            Action::NoReply => {}
            Action::Reply => writer.write_all(&answer.buffer()?)?,
            // STARTTLS is never offered, so an upgrade cannot be asked for; close either way.
            Action::Close | Action::UpgradeTls => return writer.write_all(&answer.buffer()?),
        }
    }
}

/// How long a closing session reads on after its last answer (see [`linger`]).
const LINGER: Duration = Duration::from_secs(1);

/// Closes the connection after a final answer the client may not be waiting for (it may be
/// mid-line): sends FIN, then reads and drops what still comes for at most [`LINGER`], so
/// that closing with unread bytes does not reset the connection and lose the answer.
fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

enum Line {
    /// A line ending in LF is in the buffer.
    Complete,
    /// The client closed the connection.
    Closed,
    /// The deadline passed before the line was complete.
    TimedOut,
    /// [`MAX_LINE`] bytes without a line end.
    TooLong,
}

/// Reads one line into `line` by `deadline`: a deadline for the whole line, checked between
/// reads (each read waits at most until the deadline), so a client trickling bytes cannot
/// stretch it as it would a per-read timeout.
fn read_line(
    reader: &mut BufReader<TcpStream>,
    line: &mut Vec<u8>,
    deadline: Instant,
) -> std::io::Result<Line> {
    use std::io::ErrorKind::{Interrupted, TimedOut, WouldBlock};
    line.clear();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Line::TimedOut);
        }
        reader.get_ref().set_read_timeout(Some(left))?;
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if matches!(e.kind(), WouldBlock | TimedOut | Interrupted) => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(Line::Closed);
        }
        let room = MAX_LINE.saturating_sub(line.len());
        let (used, complete) = match available.iter().position(|&b| b == b'\n') {
            Some(end) if end < room => (end + 1, true),
            _ => (available.len().min(room), false),
        };
        line.extend_from_slice(&available[..used]);
        reader.consume(used);
        if complete {
            return Ok(Line::Complete);
        }
        if line.len() >= MAX_LINE {
            return Ok(Line::TooLong);
        }
    }
}
