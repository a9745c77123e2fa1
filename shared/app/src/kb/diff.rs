//! What changed between two versions of an article: field changes and a line diff of the body.

use helpdesk_domain::kb::ArticleContent;
use serde::Serialize;
use similar::{ChangeTag, TextDiff};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ArticleDiff {
    pub from: u64,
    pub to: u64,
    /// Fields other than the body whose value differs.
    pub fields: Vec<helpdesk_domain::FieldChange>,
    /// The body, line by line: equal lines are kept for context.
    pub body: Vec<DiffLine>,
    pub lines_added: usize,
    pub lines_removed: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineChange {
    Equal,
    Added,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DiffLine {
    pub change: LineChange,
    pub text: String,
}

pub fn diff(from: u64, old: &ArticleContent, to: u64, new: &ArticleContent) -> ArticleDiff {
    let mut fields = Vec::new();
    let mut field = |name: &str, a: serde_json::Value, b: serde_json::Value| {
        if a != b {
            fields.push(helpdesk_domain::FieldChange {
                field: name.to_string(),
                before: a,
                after: b,
            });
        }
    };
    // Serialising these plain field types cannot fail.
    fn j<T: Serialize>(v: &T) -> serde_json::Value {
        serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
    }
    field("title", j(&old.title), j(&new.title));
    field("summary", j(&old.summary), j(&new.summary));
    field("topic", j(&old.topic), j(&new.topic));
    field("tags", j(&old.tags), j(&new.tags));
    field("audiences", j(&old.audiences), j(&new.audiences));
    field("locale", j(&old.locale), j(&new.locale));
    field(
        "translation_of",
        j(&old.translation_of),
        j(&new.translation_of),
    );
    field("videos", j(&old.videos), j(&new.videos));
    field("attachments", j(&old.attachments), j(&new.attachments));
    field("related", j(&old.related), j(&new.related));
    let text = TextDiff::from_lines(old.body.as_str(), new.body.as_str());
    let mut body = Vec::new();
    let (mut added, mut removed) = (0, 0);
    for change in text.iter_all_changes() {
        let kind = match change.tag() {
            ChangeTag::Equal => LineChange::Equal,
            ChangeTag::Insert => {
                added += 1;
                LineChange::Added
            }
            ChangeTag::Delete => {
                removed += 1;
                LineChange::Removed
            }
        };
        body.push(DiffLine {
            change: kind,
            text: change.value().trim_end_matches('\n').to_string(),
        });
    }
    ArticleDiff {
        from,
        to,
        fields,
        body,
        lines_added: added,
        lines_removed: removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use helpdesk_domain::Audience;
    use std::collections::BTreeSet;

    fn content(title: &str, body: &str) -> ArticleContent {
        ArticleContent {
            title: title.into(),
            summary: String::new(),
            body: body.into(),
            topic: vec![],
            tags: BTreeSet::new(),
            audiences: BTreeSet::from([Audience::Internal]),
            locale: "en".into(),
            translation_of: None,
            videos: vec![],
            attachments: vec![],
            related: BTreeSet::new(),
        }
    }

    #[test]
    fn fields_and_lines() {
        let d = diff(
            1,
            &content("A", "one\ntwo\nthree\n"),
            2,
            &content("B", "one\n2\nthree\nfour\n"),
        );
        assert_eq!(d.fields.len(), 1);
        assert_eq!(d.fields[0].field, "title");
        assert_eq!((d.lines_added, d.lines_removed), (2, 1));
        assert!(d
            .body
            .iter()
            .any(|l| l.change == LineChange::Removed && l.text == "two"));
        let same = diff(1, &content("A", "x"), 1, &content("A", "x"));
        assert!(same.fields.is_empty() && same.lines_added == 0 && same.lines_removed == 0);
    }
}
