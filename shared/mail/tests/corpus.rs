//! Real-world messages (a copied subset of the shared corpora, with their licences): every one
//! ends as parsed or rejected with a reason, never as a caught panic, and as `expected.json` says.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use helpdesk_mail::{parse, split_reply, Limits, ParsedEmail, RejectReason};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus")
}

fn eml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("corpus folder") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            eml_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "eml") {
            out.push(path);
        }
    }
}

fn outcome(raw: &[u8]) -> String {
    match parse(raw, &Limits::default()) {
        ParsedEmail::Parsed(email) => {
            // The split must not panic either, and keeps some text when there is any.
            let parts = split_reply(&email.text);
            assert!(
                email.text.trim().is_empty() || !parts.new_text.is_empty(),
                "{}: split lost the text",
                email.message_id
            );
            let kind = serde_json::to_value(&email.auto).expect("serialise");
            format!("parsed/{}", kind["kind"].as_str().unwrap_or("?"))
        }
        ParsedEmail::Rejected { reason } => {
            assert_ne!(reason, RejectReason::ParserFault, "a parser panicked");
            let value = serde_json::to_value(&reason).expect("serialise");
            format!("rejected/{}", value["reason"].as_str().unwrap_or("?"))
        }
    }
}

#[test]
fn every_corpus_message_has_its_expected_outcome() {
    let dir = corpus_dir();
    let mut files = Vec::new();
    eml_files(&dir, &mut files);
    files.sort();
    assert!(files.len() >= 15, "corpus subset missing: {files:?}");

    let expected: BTreeMap<String, String> = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"),
    )
    .expect("valid expected.json");

    let mut actual = BTreeMap::new();
    for file in &files {
        let raw = std::fs::read(file).expect("read .eml");
        let name = file
            .strip_prefix(&dir)
            .expect("inside the corpus")
            .to_string_lossy()
            .replace('\\', "/");
        actual.insert(name, outcome(&raw));
    }
    assert_eq!(actual, expected);
}

#[test]
fn licences_sit_beside_the_copied_messages() {
    let dir = corpus_dir();
    for licence in [
        "dovecot/LICENSE-MIT.txt",
        "dovecot/malformed/COPYING.txt",
        "dovecot/thirdparty/COPYING.txt",
        "ruby-mail/MIT-LICENSE.txt",
    ] {
        let text = std::fs::read_to_string(dir.join(licence)).expect(licence);
        assert!(text.contains("MIT") || text.contains("Permission is hereby granted"));
    }
}
