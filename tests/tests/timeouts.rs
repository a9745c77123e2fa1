//! Slow, idle and too many clients cannot take the self-hosted server down: the HTTP server
//! closes a request head or body that does not arrive in time (a trickle included) and idle
//! keep-alive connections, refuses connections over its limit with a 503, and the SMTP listener
//! does the same with 421s. The servers run with 300 ms timeouts; every wait for them to act
//! is bounded by a generous 10 s, so nothing here is a timing race, and on a server without
//! the limits the tests fail at that bound instead of hanging.

use helpdesk_tests::smtp::Conversation;
use helpdesk_tests::TestApp;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The timeouts under test.
const SHORT: Duration = Duration::from_millis(300);
/// How long a test waits for the server to act "after the timeout".
const BOUND: Duration = Duration::from_secs(10);

fn short_http(config: &mut helpdesk::Config) {
    config.http_limits.header_read_timeout = SHORT;
    config.http_limits.body_timeout = SHORT;
}

/// Reads until the server closes the connection: what it sent, or `None` if the connection was
/// still open after [`BOUND`].
async fn read_until_closed(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let closed = tokio::time::timeout(BOUND, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    closed.ok().map(|()| got)
}

/// Reads one response (head and `content-length` body) from a connection that stays open.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(BOUND, stream.read(&mut buf))
            .await
            .expect("a response within the bound")
            .expect("read");
        assert!(n > 0, "closed before a whole response: {got:?}");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

async fn healthz(app: &TestApp) -> u16 {
    app.client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_half_sent_request_is_closed_after_the_header_timeout() {
    let app = TestApp::spawn_configured(short_http).await;
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let got = read_until_closed(&mut stream)
        .await
        .expect("closed after the header timeout");
    assert!(!text(&got).starts_with("HTTP/1.1 200"), "{}", text(&got));
    assert_eq!(healthz(&app).await, 200, "and the server still answers");
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let app = TestApp::spawn_configured(short_http).await;
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    assert!(
        read_until_closed(&mut stream).await.is_some(),
        "still open after {BOUND:?}"
    );
}

/// A slowloris: one more header byte every 100 ms keeps a per-byte timer of 300 ms from ever
/// expiring; the deadline for the whole head does.
#[tokio::test]
async fn a_head_trickled_byte_by_byte_is_cut_by_the_total_header_deadline() {
    let app = TestApp::spawn_configured(short_http).await;
    let stream = TcpStream::connect(app.addr).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    let trickle = tokio::spawn(async move {
        write
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await?;
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            write.write_all(b"a").await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let closed = tokio::time::timeout(BOUND, async {
        let mut buf = [0u8; 1024];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    trickle.abort();
    assert!(closed.is_ok(), "a trickled head kept the connection open");
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_answered_408_after_the_body_timeout() {
    let app = TestApp::spawn_configured(short_http).await;
    let token = app.admin();
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    // A handler that reads the body (creating a ticket), with 10 of its 100 bytes.
    let head = format!(
        "POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"subject\""
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let got = read_until_closed(&mut stream)
        .await
        .expect("answered and closed after the body timeout");
    let got = text(&got);
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(
        got.to_ascii_lowercase().contains("connection: close"),
        "{got}"
    );
}

#[tokio::test]
async fn a_body_trickled_byte_by_byte_is_cut_by_the_body_deadline() {
    let app = TestApp::spawn_configured(short_http).await;
    let token = app.admin();
    let stream = TcpStream::connect(app.addr).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"subject\":\""
    );
    let trickle = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            write.write_all(b"a").await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut got = Vec::new();
    let closed = tokio::time::timeout(BOUND, async {
        let mut buf = [0u8; 1024];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    trickle.abort();
    assert!(closed.is_ok(), "a trickled body kept the connection open");
    assert!(text(&got).starts_with("HTTP/1.1 408"), "{}", text(&got));
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = TestApp::spawn_configured(short_http).await;
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let got = read_until_closed(&mut stream)
        .await
        .expect("closed once idle");
    assert!(text(&got).starts_with("HTTP/1.1 200"), "{}", text(&got));
}

#[tokio::test]
async fn a_connection_over_the_limit_is_refused_with_503_until_others_close() {
    let app = TestApp::spawn_configured(|config| {
        // Long enough that the held connections stay open for the whole test.
        config.http_limits.header_read_timeout = Duration::from_secs(60);
        config.http_limits.max_connections = 2;
    })
    .await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(app.addr).await.expect("connect");
        stream.write_all(request).await.expect("write");
        let response = read_response(&mut stream).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        held.push(stream);
    }
    let mut third = TcpStream::connect(app.addr).await.expect("connect");
    third.write_all(request).await.expect("write");
    let got = read_until_closed(&mut third)
        .await
        .expect("refused and closed");
    let got = text(&got);
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    assert!(
        got.to_ascii_lowercase().contains("connection: close"),
        "{got}"
    );
    // The held connections still work.
    held[0].write_all(request).await.expect("write");
    assert!(read_response(&mut held[0])
        .await
        .starts_with("HTTP/1.1 200"));
    // Once they close, new connections are served again.
    drop(held);
    let served = tokio::time::timeout(BOUND, async {
        while healthz(&app).await != 200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(served.is_ok(), "not served again after the others closed");
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_returns() {
    let app = TestApp::spawn_configured(|config| {
        config.http_limits.header_read_timeout = Duration::from_secs(60);
    })
    .await;
    let mut idle = TcpStream::connect(app.addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    assert!(read_response(&mut idle).await.starts_with("HTTP/1.1 200"));
    let stopped = tokio::time::timeout(BOUND, app.shut_down()).await;
    assert!(
        matches!(stopped, Ok(Ok(()))),
        "run_until_stopped: {stopped:?}"
    );
    assert!(read_until_closed(&mut idle).await.is_some());
}

fn short_smtp(config: &mut helpdesk::Config) {
    config.smtp = Some(([127, 0, 0, 1], 0).into());
    config.settings.mail.domain = Some("support.example.com".parse().expect("domain"));
    config.smtp_limits.command_timeout = SHORT;
    config.smtp_limits.data_timeout = SHORT;
}

/// Runs a blocking SMTP conversation off the runtime (the listener's sessions need it).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("join")
}

fn starts_with(reply: &Option<String>, code: &str) -> bool {
    reply.as_deref().is_some_and(|r| r.starts_with(code))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_smtp_session_after_ehlo_is_closed_with_421() {
    let app = TestApp::spawn_configured(short_smtp).await;
    let smtp = app.smtp.expect("smtp");
    blocking(move || {
        let mut c = Conversation::connect(smtp);
        assert!(starts_with(&c.reply(), "220"));
        assert!(starts_with(&c.command("EHLO client.example.com"), "250"));
        let closing = c.reply();
        assert!(starts_with(&closing, "421"), "{closing:?}");
        assert_eq!(c.reply(), None, "closed after the 421");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_command_trickled_byte_by_byte_is_cut_by_the_command_deadline() {
    let app = TestApp::spawn_configured(short_smtp).await;
    let smtp = app.smtp.expect("smtp");
    blocking(move || {
        let mut c = Conversation::connect(smtp);
        assert!(starts_with(&c.reply(), "220"));
        assert!(starts_with(&c.command("EHLO client.example.com"), "250"));
        let mut writer = c.writer();
        let trickle = std::thread::spawn(move || {
            for b in b"MAIL FROM:<carla@example.com>".iter().cycle().take(200) {
                std::thread::sleep(Duration::from_millis(100));
                if std::io::Write::write_all(&mut writer, &[*b]).is_err() {
                    return;
                }
            }
        });
        let closing = c.reply();
        assert!(starts_with(&closing, "421"), "{closing:?}");
        let _ = trickle.join();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_stalls_is_closed_with_421_after_the_data_timeout() {
    let app = TestApp::spawn_configured(short_smtp).await;
    let smtp = app.smtp.expect("smtp");
    blocking(move || {
        let mut c = Conversation::connect(smtp);
        assert!(starts_with(&c.reply(), "220"));
        assert!(starts_with(&c.command("EHLO client.example.com"), "250"));
        assert!(starts_with(
            &c.command("MAIL FROM:<carla@example.com>"),
            "250"
        ));
        assert!(starts_with(
            &c.command("RCPT TO:<support@support.example.com>"),
            "250"
        ));
        assert!(starts_with(&c.command("DATA"), "354"));
        c.send("Subject: half a message");
        let closing = c.reply();
        assert!(starts_with(&closing, "421"), "{closing:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_session_over_the_limit_is_refused_with_421_until_others_close() {
    let app = TestApp::spawn_configured(|config| {
        short_smtp(config);
        config.smtp_limits.command_timeout = Duration::from_secs(60);
        config.smtp_limits.max_sessions = 2;
    })
    .await;
    let smtp = app.smtp.expect("smtp");
    blocking(move || {
        let mut held: Vec<Conversation> = (0..2).map(|_| Conversation::connect(smtp)).collect();
        for c in &mut held {
            assert!(starts_with(&c.reply(), "220"));
        }
        let mut third = Conversation::connect(smtp);
        let refused = third.reply();
        assert!(starts_with(&refused, "421"), "{refused:?}");
        assert_eq!(third.reply(), None, "closed after the 421");
        // The held sessions still work.
        assert!(starts_with(&held[0].command("NOOP"), "250"));
        // Once one quits, a new session is served.
        assert!(starts_with(&held[0].command("QUIT"), "221"));
        assert_eq!(held[0].reply(), None);
        let started = std::time::Instant::now();
        loop {
            let mut next = Conversation::connect(smtp);
            let greeting = next.reply();
            if starts_with(&greeting, "220") {
                break;
            }
            assert!(
                started.elapsed() < BOUND,
                "not served again after a session closed: {greeting:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await;
}
