//! Outbound: what `compose_reply` writes is valid MIME that parses back to the same message.

use chrono::{TimeZone, Utc};
use helpdesk_mail::{
    compose_reply, parse, AutoKind, InboundEmail, Limits, Mailbox, OutboundAttachment,
    OutboundEmail, ParsedEmail, ThreadSigner,
};

fn signer() -> ThreadSigner {
    ThreadSigner::new(b"compose-test-secret-0123456789abcdef", "help.example.com")
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR fake image bytes \xff\x00\x01";

fn reply() -> OutboundEmail {
    let s = signer();
    let text = "Olá Ana Lúcia,\n\n\
        A sua palavra-passe foi reposta. Este parágrafo é deliberadamente muito comprido para que a linha passe dos setenta e oito caracteres e tenha de ser codificada.\n\
        From here on, a line that starts with From.\n\
        .\n\
        Cumprimentos,\nEquipa de Suporte — ヘルプデスク";
    OutboundEmail {
        from: Mailbox::new("support@help.example.com", Some("Suporte Exemplo")),
        to: vec![Mailbox::new("ana.lima@example.com", Some("Ana Lúcia Lima"))],
        cc: vec![
            Mailbox::new("bruno@example.com", None),
            Mailbox::new("carla@example.com", Some("Lima, Carla")),
        ],
        reply_to: Some(Mailbox::new(
            s.reply_address("support", "HD-1042"),
            Some("Suporte Exemplo"),
        )),
        subject: "Re: [#HD-1042] Não consigo entrar — ログインできません".into(),
        text: text.into(),
        html: Some(
            "<p>Olá Ana Lúcia,</p><p>A sua palavra-passe foi reposta.</p>\
             <p><img src=\"cid:logo@help.example.com\" alt=\"logo\"></p>"
                .into(),
        ),
        message_id: s.message_id_for("HD-1042", "01HQ9F6G7H"),
        in_reply_to: Some("<CAJx5f7Vq=3aB1cK9mZ@mail.gmail.com>".into()),
        references: vec![
            s.message_id_for("HD-1042", "01HQ3Z7K8M"),
            "CAJx5f7Vq=3aB1cK9mZ@mail.gmail.com".into(),
        ],
        date: Utc
            .with_ymd_and_hms(2024, 2, 1, 10, 0, 0)
            .single()
            .expect("valid date"),
        auto_submitted: false,
        attachments: vec![
            OutboundAttachment {
                filename: "Fatura de março (2024).pdf".into(),
                content_type: "application/pdf".into(),
                bytes: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n%%EOF\n".to_vec(),
                content_id: None,
            },
            OutboundAttachment {
                filename: "logo.png".into(),
                content_type: "image/png".into(),
                bytes: PNG.to_vec(),
                content_id: Some("<logo@help.example.com>".into()),
            },
        ],
    }
}

fn parse_back(raw: &[u8]) -> InboundEmail {
    match parse(raw, &Limits::default()) {
        ParsedEmail::Parsed(email) => *email,
        ParsedEmail::Rejected { reason } => panic!("composed mail rejected: {reason}"),
    }
}

fn header_lines(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
    head.split("\r\n").map(str::to_owned).collect()
}

#[test]
fn reply_round_trips() {
    let out = reply();
    let raw = compose_reply(&out);
    let email = parse_back(&raw);

    assert_eq!(
        email.message_id,
        out.message_id.trim_matches(['<', '>']),
        "message-id"
    );
    assert_eq!(
        email.in_reply_to,
        vec!["CAJx5f7Vq=3aB1cK9mZ@mail.gmail.com"]
    );
    assert_eq!(
        email.references,
        vec![
            out.references[0].trim_matches(['<', '>']).to_owned(),
            "CAJx5f7Vq=3aB1cK9mZ@mail.gmail.com".to_owned()
        ]
    );
    assert_eq!(email.subject, out.subject);
    assert_eq!(email.text, out.text);
    assert_eq!(email.date, Some(out.date));
    assert_eq!(email.from, out.from);
    assert_eq!(email.to, out.to);
    assert_eq!(email.cc, out.cc);
    assert_eq!(email.auto, AutoKind::None);

    // Our own keys verify on the way back in.
    let s = signer();
    assert_eq!(
        s.verify_message_id(&email.message_id).as_deref(),
        Some("HD-1042")
    );
    assert_eq!(
        email
            .reply_to
            .first()
            .and_then(|m| s.verify_reply_address(&m.address))
            .as_deref(),
        Some("hd-1042"),
        "addresses are lower-cased on the way in; the key still verifies"
    );

    let html = email.html.expect("html part");
    assert!(
        html.contains(r#"<img src="cid:logo@help.example.com" alt="logo">"#),
        "{html}"
    );
    let names: Vec<_> = email
        .attachments
        .iter()
        .map(|a| (a.filename.as_deref(), a.content_type.as_str(), a.inline))
        .collect();
    assert!(
        names.contains(&(Some("logo.png"), "image/png", true)),
        "{names:?}"
    );
    assert!(
        names.contains(&(Some("Fatura de março (2024).pdf"), "application/pdf", false)),
        "{names:?}"
    );
    for a in &email.attachments {
        let sent = out
            .attachments
            .iter()
            .find(|s| Some(s.filename.as_str()) == a.filename.as_deref())
            .expect("sent attachment");
        assert_eq!(a.bytes, sent.bytes, "{:?}", a.filename);
    }
    let logo = email
        .attachments
        .iter()
        .find(|a| a.inline)
        .expect("inline part");
    assert_eq!(logo.content_id.as_deref(), Some("logo@help.example.com"));
}

#[test]
fn output_is_seven_bit_mime_with_crlf_and_short_lines() {
    let raw = compose_reply(&reply());
    assert!(raw.is_ascii(), "non-ASCII bytes must be encoded");
    let text = String::from_utf8(raw).expect("ascii");
    assert!(!text.replace("\r\n", "").contains('\n'), "bare LF");
    assert!(!text.replace("\r\n", "").contains('\r'), "bare CR");
    for line in text.split("\r\n") {
        assert!(line.len() <= 998, "line too long: {line}");
    }
    let headers = header_lines(text.as_bytes());
    for name in [
        "From: ",
        "To: ",
        "Cc: ",
        "Reply-To: ",
        "Subject: ",
        "Date: ",
        "Message-ID: ",
    ] {
        assert!(
            headers.iter().any(|h| h.starts_with(name)),
            "{name} missing in {headers:?}"
        );
    }
    assert!(headers
        .iter()
        .any(|h| h == "Date: Thu, 1 Feb 2024 10:00:00 +0000"));
    assert!(headers.iter().any(|h| h == "MIME-Version: 1.0"));
    assert!(text.contains("multipart/mixed"));
    assert!(text.contains("multipart/related"));
    assert!(text.contains("multipart/alternative"));
}

#[test]
fn text_only_reply_is_a_single_part() {
    let mut out = reply();
    out.html = None;
    out.attachments.clear();
    let raw = compose_reply(&out);
    let text = String::from_utf8(raw.clone()).expect("ascii");
    assert!(!text.contains("multipart/"), "{text}");
    let email = parse_back(&raw);
    assert_eq!(email.text, out.text);
    assert_eq!(email.html, None);
    assert!(email.attachments.is_empty());
}

#[test]
fn automatic_mail_is_marked_and_recognised() {
    let mut out = reply();
    out.auto_submitted = true;
    let raw = compose_reply(&out);
    let headers = header_lines(&raw);
    assert!(headers.iter().any(|h| h == "Auto-Submitted: auto-replied"));
    assert!(headers.iter().any(|h| h == "X-Auto-Response-Suppress: All"));
    assert_eq!(parse_back(&raw).auto, AutoKind::AutoReply);
}

#[test]
fn header_values_cannot_inject_headers() {
    let mut out = reply();
    out.subject = "Hello\r\nBcc: victim@evil.example\r\n".into();
    out.to = vec![Mailbox::new(
        "ana@example.com\r\nBcc: victim@evil.example",
        Some("Ana\r\nBcc: victim@evil.example"),
    )];
    out.message_id = "<id@x>\r\nBcc: victim@evil.example".into();
    let raw = compose_reply(&out);
    let headers = header_lines(&raw);
    assert!(
        !headers
            .iter()
            .any(|h| h.to_ascii_lowercase().starts_with("bcc:")),
        "{headers:?}"
    );
    // Whatever the address became, it is one recipient, not two.
    let email = parse_back(&raw);
    assert!(email.to.len() <= 1, "{:?}", email.to);
    assert!(email.cc.iter().all(|m| !m.address.contains("victim")));
}
