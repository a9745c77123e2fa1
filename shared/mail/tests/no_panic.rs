//! Property tests: no input makes the crate panic (and `parse` never has to catch one).

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use helpdesk_mail::{
    html_to_text, parse, sanitize_html, split_reply, subject_token, Limits, ParsedEmail,
    RejectReason, ThreadSigner,
};
use proptest::prelude::*;

/// Every fixture (hand-made and corpus), as seeds for mutation.
static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("fixtures folder") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "eml") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
        &mut files,
    );
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).expect("read fixture"))
        .collect()
});

static SIGNER: LazyLock<ThreadSigner> =
    LazyLock::new(|| ThreadSigner::new(b"property-test-secret", "help.example.com"));

fn small_limits() -> Limits {
    Limits {
        max_message_bytes: 1 << 20,
        max_attachment_bytes: 64,
        max_total_attachment_bytes: 128,
    }
}

/// Parses and checks the promises that hold for any input.
fn check_parse(raw: &[u8]) {
    for limits in [Limits::default(), small_limits()] {
        match parse(raw, &limits) {
            ParsedEmail::Parsed(email) => {
                assert!(!email.message_id.is_empty());
                assert!(email.from.address.contains('@'));
                assert_eq!(email.raw_size, raw.len());
                let kept: usize = email
                    .attachments
                    .iter()
                    .filter(|a| a.omitted.is_none())
                    .map(|a| a.bytes.len())
                    .sum();
                assert!(kept <= limits.max_total_attachment_bytes);
                let parts = email.reply_parts();
                assert_eq!(
                    parts.new_text.trim().is_empty(),
                    email.text.trim().is_empty()
                );
            }
            ParsedEmail::Rejected { reason } => {
                assert_ne!(reason, RejectReason::ParserFault, "a parser panicked");
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let fragments = prop_oneof![
        Just(b"\r\n".to_vec()),
        Just(b"\r\n\r\n".to_vec()),
        Just(b"--".to_vec()),
        Just(b"=?utf-8?B?".to_vec()),
        Just(b"=?iso-2022-jp?q?=1B$B".to_vec()),
        Just(b"Content-Type: multipart/mixed; boundary=\"".to_vec()),
        Just(b"Content-Transfer-Encoding: base64\r\n".to_vec()),
        Just(b"<blockquote><div><script>".to_vec()),
        Just(b"\xff\xfe\x00\x1b$B".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..16),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), fragments).prop_map(|(i, f)| Mutation::Insert(i, f)),
        (any::<usize>(), 0usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for m in mutations {
        let len = data.len().max(1);
        match m {
            Mutation::Flip(i, b) => {
                if let Some(byte) = data.get_mut(i % len) {
                    *byte ^= b;
                }
            }
            Mutation::Insert(i, bytes) => {
                let at = (i % (data.len() + 1)).min(data.len());
                data.splice(at..at, bytes.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let at = (i % len).min(data.len());
                let end = (at + n).min(data.len());
                data.drain(at..end);
            }
            Mutation::Truncate(i) => data.truncate(i % len),
        }
    }
    data
}

/// (tag, attribute, value) for every attribute of sanitised (canonically serialised) HTML:
/// values are double-quoted there and `<` in text is escaped.
fn attributes(html: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt + 1..];
        let name_len = rest
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(rest.len());
        let tag = rest[..name_len].to_owned();
        rest = &rest[name_len..];
        loop {
            rest = rest.trim_start();
            if rest.is_empty() || rest.starts_with('>') || rest.starts_with('/') {
                break;
            }
            let eq = rest.find(['=', '>', ' ']).unwrap_or(rest.len());
            let name = rest[..eq].to_owned();
            rest = &rest[eq..];
            let mut value = String::new();
            if let Some(after) = rest.strip_prefix("=\"") {
                let end = after.find('"').unwrap_or(after.len());
                value = after[..end].to_owned();
                rest = after.get(end + 1..).unwrap_or_default();
            }
            out.push((tag.clone(), name, value));
        }
    }
    out
}

/// Text shaped like mail bodies, so the quote and signature rules actually fire.
fn mail_like_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just(String::new()),
        Just("-- ".to_owned()),
        Just("--".to_owned()),
        Just("Sent from my iPhone".to_owned()),
        Just("-----Original Message-----".to_owned()),
        Just("________________________________".to_owned()),
        Just("From: Support <s@example.com>".to_owned()),
        Just("Sent: Monday".to_owned()),
        Just("Subject: hi".to_owned()),
        Just("On Mon, 1 Jan 2024 at 10:00, A <a@example.com> wrote:".to_owned()),
        Just("Am 01.01.2024 um 10:00 schrieb A <a@example.com>:".to_owned()),
        Just("Le 1 janv. 2024 à 10:00, A a écrit :".to_owned()),
        "> ?[^\n]{0,20}",
        "[^\n]{0,30}",
        "[a-zé ]{0,30}:",
    ];
    proptest::collection::vec(line, 0..30).prop_map(|lines| lines.join("\n"))
}

fn html_like_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        "<[a-zA-Z]{1,10}( [a-z-]{1,10}(=(\"[^\"]{0,12}\"|'[^']{0,12}'|[^ >]{0,8}))?){0,3} ?/?>",
        "</[a-zA-Z]{1,10}>",
        "&[a-z#0-9]{0,8};?",
        "<!--[^>]{0,10}-->",
        "[^<&]{0,20}",
        Just("<img src=\"https://x.example/a.png\">".to_owned()),
        Just("<img src=cid:a@b>".to_owned()),
        Just("<a href=\"https://a.example/?q=1&amp;r=2\">".to_owned()),
        Just("<blockquote>".to_owned()),
        Just("<pre>".to_owned()),
        Just("<li>".to_owned()),
        Just("<ol>".to_owned()),
    ];
    proptest::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

proptest! {
    // 256 cases each by default; PROPTEST_CASES=20000 for a longer run.
    #[test]
    fn parse_never_panics_on_arbitrary_bytes(raw in proptest::collection::vec(any::<u8>(), 0..4096)) {
        check_parse(&raw);
    }

    #[test]
    fn parse_never_panics_on_mutated_fixtures(
        seed in any::<prop::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 1..12),
    ) {
        let seed = &SEEDS[seed.index(SEEDS.len())];
        check_parse(&apply(seed, &mutations));
    }

    #[test]
    fn text_functions_never_panic(s in "\\PC*") {
        let _ = split_reply(&s);
        let _ = subject_token(&s);
        let _ = SIGNER.verify_message_id(&s);
        let _ = SIGNER.verify_reply_address(&s);
        let _ = html_to_text(&s);
    }

    #[test]
    fn split_keeps_some_text(text in mail_like_text()) {
        let parts = split_reply(&text);
        // split_reply normalises line ends and drops byte-order marks first.
        let text = text.replace("\r\n", "\n").replace('\r', "\n").replace('\u{feff}', "");
        prop_assert_eq!(parts.new_text.trim().is_empty(), text.trim().is_empty());
        for part in [Some(&parts.new_text), parts.quoted.as_ref(), parts.signature.as_ref()]
            .into_iter()
            .flatten()
        {
            for line in part.lines() {
                prop_assert!(text.contains(line.trim_end()), "{:?} not in {:?}", line, text);
            }
        }
    }

    #[test]
    fn html_never_keeps_scripts_or_remote_images(html in html_like_text()) {
        let clean = sanitize_html(&html).to_ascii_lowercase();
        prop_assert!(!clean.contains("<script"));
        for (tag, name, value) in attributes(&clean) {
            prop_assert!(!name.starts_with("on"), "{} in {}", name, clean);
            if name == "src" {
                prop_assert!(tag == "img" && value.starts_with("cid:"), "{} in {}", value, clean);
            }
        }
        let _ = html_to_text(&html);
    }

    #[test]
    fn thread_keys_round_trip(ticket in "\\PC{1,24}", unique in "[0-9A-Z]{1,26}") {
        let id = SIGNER.message_id_for(&ticket, &unique);
        prop_assert_eq!(SIGNER.verify_message_id(&id), Some(ticket.clone()));
        let address = SIGNER.reply_address("support", &ticket);
        prop_assert_eq!(SIGNER.verify_reply_address(&address), Some(ticket));
    }

    #[test]
    fn tampered_thread_keys_are_refused(ticket in "HD-[1-9][0-9]{0,6}", at in any::<prop::sample::Index>(), with in "[0-9a-f]") {
        let id = SIGNER.message_id_for(&ticket, "01HQ");
        let local_end = id.find('@').expect("domain");
        let tag_start = id[..local_end].rfind('.').expect("tag") + 1;
        let i = tag_start + at.index(16);
        let original = &id[i..=i];
        prop_assume!(original != with);
        let tampered = format!("{}{}{}", &id[..i], with, &id[i + 1..]);
        prop_assert_eq!(SIGNER.verify_message_id(&tampered), None);
    }
}
