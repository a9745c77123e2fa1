//! A minimal SMTP client: enough to speak to the self-hosted listener in tests.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;

/// Sends one message and returns every reply line (the last line of multi-line replies).
/// DATA is sent only when the recipient was accepted, as a real client would.
pub fn send(addr: SocketAddr, from: &str, rcpt: &str, data: &str) -> Vec<String> {
    let stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    let mut replies = Vec::new();
    let mut read = |replies: &mut Vec<String>| {
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).expect("read");
            // Multi-line replies have a '-' after the code; the last has a space.
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                break;
            }
        }
        replies.push(line.trim_end().to_string());
    };
    read(&mut replies);
    for cmd in [
        "EHLO client.example.com".to_string(),
        format!("MAIL FROM:<{from}>"),
        format!("RCPT TO:<{rcpt}>"),
    ] {
        writeln!(writer, "{cmd}\r").expect("write");
        read(&mut replies);
    }
    if replies.last().is_some_and(|r| r.starts_with("250")) {
        writer.write_all(b"DATA\r\n").expect("write");
        read(&mut replies);
        writer
            .write_all(data.replace('\n', "\r\n").as_bytes())
            .expect("write");
        writer.write_all(b"\r\n.\r\n").expect("write");
        read(&mut replies);
    }
    writer.write_all(b"QUIT\r\n").expect("write");
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
