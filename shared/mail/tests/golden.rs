//! Golden tests: every `tests/fixtures/*.eml` is parsed and compared with the `.json` beside it.
//!
//! The JSON names only the fields that matter for that message; known keys are listed in
//! `KNOWN_KEYS` so a typo fails instead of silently checking nothing.

use std::path::{Path, PathBuf};

use helpdesk_mail::{parse, subject_token, InboundEmail, Limits, ParsedEmail, ThreadSigner};
use serde_json::{json, Value};

/// The secret the fixtures' `t.HD-…` Message-IDs and reply addresses were signed with.
const FIXTURE_SECRET: &[u8] = b"golden-fixture-secret";
const FIXTURE_DOMAIN: &str = "help.example.com";

const KNOWN_KEYS: &[&str] = &[
    "limits",
    "rejected",
    "message_id",
    "message_id_synthesized",
    "from",
    "to",
    "cc",
    "subject",
    "subject_token",
    "date",
    "auto",
    "in_reply_to",
    "references",
    "thread_ticket_from_ids",
    "thread_ticket_from_to",
    "new_text",
    "quoted",
    "quoted_starts_with",
    "signature",
    "html",
    "html_contains",
    "html_not_contains",
    "text_contains",
    "attachments",
    "attachment_details",
];

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixtures folder")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_fixture_matches_its_json() {
    let files = eml_files(&fixtures_dir());
    assert!(files.len() >= 15, "fixtures missing: {files:?}");
    let mut failures = Vec::new();
    for eml in &files {
        let raw = std::fs::read(eml).expect("read .eml");
        let json_path = eml.with_extension("json");
        let text = std::fs::read_to_string(&json_path)
            .unwrap_or_else(|_| panic!("{} has no .json beside it", eml.display()));
        let expected: Value = serde_json::from_str(&text).expect("valid JSON");
        let errors = check(&raw, &expected);
        if !errors.is_empty() {
            let name = eml.file_name().and_then(|n| n.to_str()).unwrap_or("?");
            failures.push(format!("{name}:\n  {}", errors.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn limits(expected: &Value) -> Limits {
    let mut limits = Limits::default();
    let get = |key: &str| {
        expected["limits"][key]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
    };
    if let Some(n) = get("max_message_bytes") {
        limits.max_message_bytes = n;
    }
    if let Some(n) = get("max_attachment_bytes") {
        limits.max_attachment_bytes = n;
    }
    if let Some(n) = get("max_total_attachment_bytes") {
        limits.max_total_attachment_bytes = n;
    }
    limits
}

fn check(raw: &[u8], expected: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(object) = expected.as_object() else {
        return vec!["expected JSON is not an object".into()];
    };
    for key in object.keys() {
        if !KNOWN_KEYS.contains(&key.as_str()) {
            errors.push(format!("unknown key {key:?} in the expected JSON"));
        }
    }
    match (parse(raw, &limits(expected)), expected.get("rejected")) {
        (ParsedEmail::Rejected { reason }, Some(want)) => {
            compare(&mut errors, "rejected", json!(reason), want);
        }
        (ParsedEmail::Rejected { reason }, None) => {
            errors.push(format!("rejected ({reason}) but expected to parse"));
        }
        (ParsedEmail::Parsed(email), Some(_)) => {
            errors.push(format!(
                "parsed ({}) but expected a rejection",
                email.message_id
            ));
        }
        (ParsedEmail::Parsed(email), None) => check_email(&mut errors, &email, expected),
    }
    errors
}

fn compare(errors: &mut Vec<String>, field: &str, actual: Value, expected: &Value) {
    if &actual != expected {
        errors.push(format!("{field}: got {actual}, expected {expected}"));
    }
}

fn check_email(errors: &mut Vec<String>, email: &InboundEmail, expected: &Value) {
    let reply = email.reply_parts();
    let signer = ThreadSigner::new(FIXTURE_SECRET, FIXTURE_DOMAIN);
    let actual_fields: Vec<(&str, Value)> = vec![
        ("message_id", json!(email.message_id)),
        (
            "message_id_synthesized",
            json!(email.message_id_synthesized),
        ),
        ("from", json!(email.from)),
        ("to", json!(email.to)),
        ("cc", json!(email.cc)),
        ("subject", json!(email.subject)),
        ("subject_token", json!(subject_token(&email.subject))),
        ("date", json!(email.date)),
        ("auto", json!(email.auto)),
        ("in_reply_to", json!(email.in_reply_to)),
        ("references", json!(email.references)),
        (
            "thread_ticket_from_ids",
            json!(email
                .in_reply_to
                .iter()
                .chain(&email.references)
                .find_map(|id| signer.verify_message_id(id))),
        ),
        (
            "thread_ticket_from_to",
            json!(email
                .to
                .iter()
                .find_map(|m| signer.verify_reply_address(&m.address))),
        ),
        ("new_text", json!(reply.new_text)),
        ("quoted", json!(reply.quoted)),
        ("signature", json!(reply.signature)),
        ("html", json!(email.html)),
        (
            "attachments",
            json!(email
                .attachments
                .iter()
                .map(|a| a.filename.clone())
                .collect::<Vec<_>>()),
        ),
        ("attachment_details", json!(email.attachments)),
    ];
    for (field, actual) in actual_fields {
        if let Some(want) = expected.get(field) {
            compare(errors, field, actual, want);
        }
    }

    if let Some(prefix) = expected["quoted_starts_with"].as_str() {
        let quoted = reply.quoted.as_deref().unwrap_or_default();
        if !quoted.starts_with(prefix) {
            errors.push(format!("quoted {quoted:?} does not start with {prefix:?}"));
        }
    }
    let html = email.html.as_deref().unwrap_or_default();
    for (key, haystack, want) in [
        ("text_contains", email.text.as_str(), true),
        ("html_contains", html, true),
        ("html_not_contains", html, false),
    ] {
        for needle in expected[key].as_array().into_iter().flatten() {
            let needle = needle.as_str().unwrap_or_default();
            if haystack.contains(needle) != want {
                errors.push(format!(
                    "{key}: {needle:?} {} in {haystack:?}",
                    if want { "missing" } else { "present" }
                ));
            }
        }
    }

    // Whatever the fixture, the parts of the split come from the body.
    for part in [
        Some(&reply.new_text),
        reply.quoted.as_ref(),
        reply.signature.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        for line in part.lines() {
            if !email.text.contains(line.trim()) {
                errors.push(format!("split line {line:?} is not in the body"));
            }
        }
    }
    // Kept attachments carry their bytes; omitted ones none.
    for a in &email.attachments {
        let want = if a.omitted.is_some() { 0 } else { a.size };
        if a.bytes.len() != want {
            errors.push(format!(
                "attachment {:?}: {} bytes kept, expected {want}",
                a.filename,
                a.bytes.len()
            ));
        }
    }
}
