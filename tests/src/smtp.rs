//! A minimal SMTP client: enough to speak to the self-hosted listener in tests.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;

/// How long a test waits for any one reply: far above the short timeouts tests configure,
/// far below "never".
pub const REPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A raw SMTP connection, one command and reply at a time: for tests that hold sessions open,
/// go quiet or trickle bytes.
pub struct Conversation {
    reader: BufReader<std::net::TcpStream>,
    writer: std::net::TcpStream,
}

impl Conversation {
    pub fn connect(addr: SocketAddr) -> Conversation {
        let stream = std::net::TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(REPLY_WAIT)).expect("timeout");
        Conversation {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            writer: stream,
        }
    }

    /// The next reply (the last line of a multi-line one), `None` when the server closed the
    /// connection. Panics when nothing came within [`REPLY_WAIT`].
    pub fn reply(&mut self) -> Option<String> {
        let mut line = String::new();
        loop {
            line.clear();
            match self.reader.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("no reply within {REPLY_WAIT:?}: {e}"),
            }
            // Multi-line replies have a '-' after the code; the last has a space.
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some(line.trim_end().to_string());
            }
        }
    }

    /// Sends `command` and a CRLF.
    pub fn send(&mut self, command: &str) {
        write!(self.writer, "{command}\r\n").expect("write");
    }

    /// Sends raw bytes (message data, or part of a line).
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Another handle on the connection, to write from another thread (e.g. a trickle).
    pub fn writer(&self) -> std::net::TcpStream {
        self.writer.try_clone().expect("clone")
    }

    /// `send` then `reply`.
    pub fn command(&mut self, command: &str) -> Option<String> {
        self.send(command);
        self.reply()
    }
}

/// Sends one message and returns every reply line (the last line of multi-line replies).
/// DATA is sent only when the recipient was accepted, as a real client would.
pub fn send(addr: SocketAddr, from: &str, rcpt: &str, data: &str) -> Vec<String> {
    let mut smtp = Conversation::connect(addr);
    let mut replies = Vec::new();
    let mut push =
        |reply: Option<String>| replies.push(reply.expect("the server closed the connection"));
    push(smtp.reply());
    for cmd in [
        "EHLO client.example.com".to_string(),
        format!("MAIL FROM:<{from}>"),
        format!("RCPT TO:<{rcpt}>"),
    ] {
        push(smtp.command(&cmd));
    }
    if replies.last().is_some_and(|r| r.starts_with("250")) {
        replies.push(smtp.command("DATA").expect("reply to DATA"));
        smtp.send_raw(data.replace('\n', "\r\n").as_bytes())
            .expect("write");
        replies.push(smtp.command("\r\n.").expect("reply to the message"));
    }
    smtp.send("QUIT");
    replies
}

/// What a [`sink`] received: (envelope recipients, raw message) per accepted message.
pub type Received = std::sync::Arc<std::sync::Mutex<Vec<(Vec<String>, Vec<u8>)>>>;

#[derive(Clone)]
struct Sink {
    received: Received,
    rcpts: Vec<String>,
    buf: Vec<u8>,
}

impl mailin_embedded::Handler for Sink {
    fn rcpt(&mut self, to: &str) -> mailin_embedded::response::Response {
        // A recipient whose local part starts with "reject" is refused for good (550).
        let local = to.trim_matches(|c| c == '<' || c == '>');
        if local.starts_with("reject") {
            mailin_embedded::response::NO_MAILBOX
        } else {
            self.rcpts.push(local.to_string());
            mailin_embedded::response::OK
        }
    }

    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> mailin_embedded::response::Response {
        self.buf.clear();
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.buf.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::response::Response {
        let rcpts = std::mem::take(&mut self.rcpts);
        let raw = std::mem::take(&mut self.buf);
        if let Ok(mut r) = self.received.lock() {
            r.push((rcpts, raw));
        }
        mailin_embedded::response::OK
    }
}

/// A loopback SMTP server that accepts everything (except `reject…@` recipients) and keeps it:
/// the relay a self-hosted install would hand its outbound mail to. Lives as long as the process.
pub fn sink() -> (SocketAddr, Received) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let received: Received = Default::default();
    let mut server = mailin_embedded::Server::new(Sink {
        received: received.clone(),
        rcpts: Vec::new(),
        buf: Vec::new(),
    });
    server
        .with_name("relay.test")
        .with_num_threads(2)
        .with_tcp_listener(listener);
    server
        .with_ssl(mailin_embedded::SslConfig::None)
        .expect("no tls");
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (addr, received)
}
