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
