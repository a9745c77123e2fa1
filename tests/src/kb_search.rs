//! The `KbIndex` port conformance suite: one set of search behaviours every index must have.
//!
//! Run by `tests/kb_search_tantivy.rs` (always) and `tests/kb_search_opensearch.rs` (against a
//! real OpenSearch endpoint when `OPENSEARCH_URL` is set). Each check gets a fresh, empty index.

use helpdesk_app::ports::{KbDocument, KbHit, KbIndex, KbQuery};
use helpdesk_domain::Audience;
use std::sync::Arc;

/// A customer-facing English document; adjust fields with struct update syntax.
pub fn doc(id: &str, title: &str, body: &str) -> KbDocument {
    KbDocument {
        article_id: id.into(),
        locale: "en".into(),
        version: 1,
        title: title.into(),
        summary: String::new(),
        body: body.into(),
        tags: Vec::new(),
        topic: Vec::new(),
        audiences: vec![Audience::Customers],
        updated_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
    }
}

pub fn query(text: &str, audiences: &[Audience]) -> KbQuery {
    KbQuery {
        text: text.into(),
        audiences: audiences.to_vec(),
        locale: None,
        topic: None,
        limit: 10,
    }
}

async fn search(index: &Arc<dyn KbIndex>, q: &KbQuery) -> Vec<KbHit> {
    index.search(q).await.expect("search")
}

fn ids(hits: &[KbHit]) -> Vec<String> {
    hits.iter()
        .map(|h| format!("{}/{}", h.article_id, h.locale))
        .collect()
}

pub async fn audience_filtering(index: Arc<dyn KbIndex>) {
    index
        .upsert(vec![
            KbDocument {
                audiences: vec![Audience::Internal],
                ..doc(
                    "internal-refund",
                    "Refund override procedure",
                    "Agents may override a refund limit after approval.",
                )
            },
            doc(
                "public-refund",
                "Refund policy",
                "You can ask for a refund within 30 days.",
            ),
            KbDocument {
                audiences: vec![Audience::Internal, Audience::BusinessOwners],
                ..doc(
                    "owners-refund",
                    "Refunds for business accounts",
                    "Business owners get refunds to the company card.",
                )
            },
        ])
        .await
        .expect("upsert");
    let customers = search(&index, &query("refund", &[Audience::Customers])).await;
    assert_eq!(
        ids(&customers),
        vec!["public-refund/en"],
        "customers see public articles only"
    );
    let owners = search(
        &index,
        &query("refund", &[Audience::Customers, Audience::BusinessOwners]),
    )
    .await;
    let mut got = ids(&owners);
    got.sort();
    assert_eq!(got, vec!["owners-refund/en", "public-refund/en"]);
    let agents = search(&index, &query("refund", &Audience::ALL)).await;
    assert_eq!(agents.len(), 3);
    assert!(
        search(&index, &query("refund", &[])).await.is_empty(),
        "no audience matches nothing"
    );
    let internal_words = search(
        &index,
        &query("override procedure approval", &[Audience::Customers]),
    )
    .await;
    assert!(
        internal_words
            .iter()
            .all(|h| h.article_id != "internal-refund"),
        "an internal article never appears for customers, even on its own words"
    );
}

pub async fn locale_filter(index: Arc<dyn KbIndex>) {
    index
        .upsert(vec![
            doc(
                "zephyr",
                "Zephyr router reset",
                "Hold the reset button of the Zephyr for ten seconds.",
            ),
            KbDocument {
                locale: "de".into(),
                ..doc(
                    "zephyr",
                    "Zephyr Router zurücksetzen",
                    "Halten Sie die Reset-Taste des Zephyr zehn Sekunden lang gedrückt.",
                )
            },
            KbDocument {
                locale: "pt-BR".into(),
                ..doc(
                    "zephyr",
                    "Redefinir o roteador Zephyr",
                    "Segure o botão de redefinição do Zephyr por dez segundos.",
                )
            },
        ])
        .await
        .expect("upsert");
    let mut all = ids(&search(&index, &query("zephyr", &[Audience::Customers])).await);
    all.sort();
    assert_eq!(
        all,
        vec!["zephyr/de", "zephyr/en", "zephyr/pt-BR"],
        "no locale: every translation"
    );
    let de = search(
        &index,
        &KbQuery {
            locale: Some("de".into()),
            ..query("zephyr", &[Audience::Customers])
        },
    )
    .await;
    assert_eq!(ids(&de), vec!["zephyr/de"]);
    let pt = search(
        &index,
        &KbQuery {
            locale: Some("pt-BR".into()),
            ..query("roteador", &[Audience::Customers])
        },
    )
    .await;
    assert_eq!(ids(&pt), vec!["zephyr/pt-BR"]);
    let fr = search(
        &index,
        &KbQuery {
            locale: Some("fr".into()),
            ..query("zephyr", &[Audience::Customers])
        },
    )
    .await;
    assert!(fr.is_empty(), "no French translation");
}

pub async fn topic_filter(index: Arc<dyn KbIndex>) {
    let with_topic = |id: &str, topic: &[&str]| KbDocument {
        topic: topic.iter().map(|s| s.to_string()).collect(),
        ..doc(
            id,
            "Card payments",
            "Paying by card, declined cards and receipts.",
        )
    };
    index
        .upsert(vec![
            with_topic("refunds", &["Billing", "Refunds"]),
            with_topic("billing", &["Billing"]),
            with_topic("account", &["Account"]),
            with_topic("billing-like", &["Bill"]),
        ])
        .await
        .expect("upsert");
    let under = |topic: &[&str]| KbQuery {
        topic: Some(topic.iter().map(|s| s.to_string()).collect()),
        ..query("card", &[Audience::Customers])
    };
    let mut billing = ids(&search(&index, &under(&["Billing"])).await);
    billing.sort();
    assert_eq!(
        billing,
        vec!["billing/en", "refunds/en"],
        "a topic includes its sub-topics"
    );
    assert_eq!(
        ids(&search(&index, &under(&["Billing", "Refunds"])).await),
        vec!["refunds/en"]
    );
    assert_eq!(
        ids(&search(&index, &under(&["Bill"])).await),
        vec!["billing-like/en"],
        "topics match by whole names"
    );
    assert!(search(&index, &under(&["Shipping"])).await.is_empty());
}

pub async fn upsert_replaces(index: Arc<dyn KbIndex>) {
    index
        .upsert(vec![doc("a1", "Alpha quadrant guide", "First text.")])
        .await
        .expect("v1");
    index
        .upsert(vec![KbDocument {
            version: 2,
            ..doc("a1", "Bravo sector guide", "Second text.")
        }])
        .await
        .expect("v2");
    // Delivered twice (at-least-once events): still one document.
    index
        .upsert(vec![KbDocument {
            version: 2,
            ..doc("a1", "Bravo sector guide", "Second text.")
        }])
        .await
        .expect("v2 again");
    assert!(
        search(&index, &query("alpha quadrant", &[Audience::Customers]))
            .await
            .is_empty()
    );
    let hits = search(&index, &query("guide", &[Audience::Customers])).await;
    assert_eq!(hits.len(), 1, "one document per article and locale");
    assert_eq!(hits[0].version, 2);
    assert_eq!(hits[0].title, "Bravo sector guide");
}

pub async fn stale_version_ignored(index: Arc<dyn KbIndex>) {
    index
        .upsert(vec![KbDocument {
            version: 3,
            ..doc("s1", "Current shipping rates", "Rates from March.")
        }])
        .await
        .expect("v3");
    index
        .upsert(vec![KbDocument {
            version: 2,
            ..doc("s1", "Old shipping rates", "Rates from January.")
        }])
        .await
        .expect("stale v2 is not an error");
    let hits = search(&index, &query("shipping rates", &[Audience::Customers])).await;
    assert_eq!(hits.len(), 1);
    assert_eq!(
        (hits[0].version, hits[0].title.as_str()),
        (3, "Current shipping rates")
    );
    // Within one batch the newest version wins whatever the order.
    index
        .upsert(vec![
            KbDocument {
                version: 5,
                ..doc("s2", "Newest warranty terms", "Five.")
            },
            KbDocument {
                version: 4,
                ..doc("s2", "Older warranty terms", "Four.")
            },
        ])
        .await
        .expect("batch");
    let hits = search(&index, &query("warranty", &[Audience::Customers])).await;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].version, 5);
}

pub async fn remove_and_clear(index: Arc<dyn KbIndex>) {
    index
        .upsert(vec![
            doc("r1", "Invoice download", "Download invoices as PDF."),
            KbDocument {
                locale: "de".into(),
                ..doc(
                    "r1",
                    "Rechnung herunterladen",
                    "Rechnungen als PDF herunterladen (invoice).",
                )
            },
            doc("r2", "Invoice address", "Change the invoice address."),
        ])
        .await
        .expect("upsert");
    index.remove("r1", "en").await.expect("remove");
    index
        .remove("r1", "en")
        .await
        .expect("removing twice is fine");
    index
        .remove("never-indexed", "en")
        .await
        .expect("absent is fine");
    let mut left = ids(&search(&index, &query("invoice", &[Audience::Customers])).await);
    left.sort();
    assert_eq!(
        left,
        vec!["r1/de", "r2/en"],
        "only that translation is removed"
    );
    index.clear().await.expect("clear");
    assert!(search(&index, &query("invoice", &[Audience::Customers]))
        .await
        .is_empty());
    index
        .upsert(vec![doc("r3", "Invoice currency", "Currencies.")])
        .await
        .expect("usable after clear");
    assert_eq!(
        ids(&search(&index, &query("invoice", &[Audience::Customers])).await),
        vec!["r3/en"]
    );
}

pub async fn title_match_beats_body_match(index: Arc<dyn KbIndex>) {
    index
        .upsert(vec![
            doc(
                "body",
                "Getting started with your new office",
                "Unpack the boxes, connect the network cable, switch on the lights, set up the \
                 desks and chairs, then install the printer driver from the vendor's site and \
                 invite your colleagues to the shared calendar.",
            ),
            doc(
                "title",
                "Printer driver installation",
                "Download the package and run it; restart when asked.",
            ),
            doc("none", "Holiday calendar", "Public holidays by country."),
        ])
        .await
        .expect("upsert");
    let hits = search(&index, &query("printer driver", &[Audience::Customers])).await;
    assert_eq!(
        ids(&hits),
        vec!["title/en", "body/en"],
        "title match first, unrelated absent"
    );
    assert!(hits[0].score > hits[1].score);
}

pub async fn stemming(index: Arc<dyn KbIndex>) {
    index
        .upsert(vec![
            doc(
                "en",
                "Configuring recurring invoices",
                "Recurring invoices are generated monthly.",
            ),
            KbDocument {
                locale: "de".into(),
                ..doc(
                    "de",
                    "Rechnungen exportieren",
                    "So exportieren Sie alle Rechnungen eines Jahres.",
                )
            },
            KbDocument {
                locale: "fr".into(),
                ..doc(
                    "fr",
                    "Modifier les factures",
                    "Les factures envoyées peuvent être corrigées.",
                )
            },
        ])
        .await
        .expect("upsert");
    let en = search(
        &index,
        &query("configure an invoice", &[Audience::Customers]),
    )
    .await;
    assert_eq!(
        ids(&en),
        vec!["en/en"],
        "English: configure ~ configuring, invoice ~ invoices"
    );
    let de = search(
        &index,
        &KbQuery {
            locale: Some("de".into()),
            ..query("Rechnung exportiert", &[Audience::Customers])
        },
    )
    .await;
    assert_eq!(ids(&de), vec!["de/de"], "German stemming");
    let fr = search(
        &index,
        &KbQuery {
            locale: Some("fr".into()),
            ..query("facture", &[Audience::Customers])
        },
    )
    .await;
    assert_eq!(ids(&fr), vec!["fr/fr"], "French stemming");
}

pub async fn typo_tolerance(index: Arc<dyn KbIndex>) {
    index
        .upsert(vec![
            doc(
                "pw",
                "Resetting a forgotten password",
                "Use the link on the sign-in page.",
            ),
            doc(
                "colour",
                "Change the colour of the banner",
                "Pick a colour in the theme settings.",
            ),
            doc(
                "color",
                "Change the color of the banner",
                "Pick a color in the theme settings.",
            ),
        ])
        .await
        .expect("upsert");
    let hits = search(&index, &query("forgoten pasword", &[Audience::Customers])).await;
    assert_eq!(
        hits.first().map(|h| h.article_id.as_str()),
        Some("pw"),
        "typos still find the article"
    );
    let hits = search(&index, &query("colour", &[Audience::Customers])).await;
    assert_eq!(
        hits.first().map(|h| h.article_id.as_str()),
        Some("colour"),
        "an exact match ranks above a fuzzy one"
    );
}

pub async fn snippet_is_escaped_and_highlighted(index: Arc<dyn KbIndex>) {
    index
        .upsert(vec![doc(
            "x",
            "Embedding <script> tags",
            "Never paste <script>alert('x')</script> into the editor & never trust \"quotes\"; \
             the sanitiser removes every script element from an article body.",
        )])
        .await
        .expect("upsert");
    let hits = search(&index, &query("script", &[Audience::Customers])).await;
    assert_eq!(hits.len(), 1);
    let s = &hits[0].snippet;
    assert!(s.contains("<mark>"), "matches are marked: {s}");
    let without_marks = s.replace("<mark>", "").replace("</mark>", "");
    assert!(
        !without_marks.contains('<') && !without_marks.contains('>'),
        "no markup but <mark>: {s}"
    );
    assert!(
        s.contains("&lt;") && s.contains("&amp;"),
        "text is escaped: {s}"
    );
    assert_eq!(
        hits[0].title, "Embedding <script> tags",
        "the title is returned as plain text"
    );
}

pub async fn limit_and_empty_queries(index: Arc<dyn KbIndex>) {
    let docs = (0..15)
        .map(|i| {
            doc(
                &format!("m{i:02}"),
                &format!("Modem light number {i}"),
                "What the modem lights mean.",
            )
        })
        .collect();
    index.upsert(docs).await.expect("upsert");
    assert_eq!(
        search(&index, &query("modem", &[Audience::Customers]))
            .await
            .len(),
        10
    );
    let three = search(
        &index,
        &KbQuery {
            limit: 3,
            ..query("modem", &[Audience::Customers])
        },
    )
    .await;
    assert_eq!(three.len(), 3);
    assert!(
        three.windows(2).all(|w| w[0].score >= w[1].score),
        "best first"
    );
    assert!(search(&index, &query("   ", &[Audience::Customers]))
        .await
        .is_empty());
    assert!(search(
        &index,
        &KbQuery {
            limit: 0,
            ..query("modem", &[Audience::Customers])
        }
    )
    .await
    .is_empty());
    // Query syntax is never interpreted: operators and quotes are just text.
    let odd = index
        .search(&query(
            "modem AND (lights OR \"x\" -y) title:* ~2 ^3 \\",
            &[Audience::Customers],
        ))
        .await
        .expect("any text is a valid query");
    assert!(!odd.is_empty());
}

#[macro_export]
macro_rules! kb_search_conformance_tests {
    ($make:expr) => {
        $crate::kb_search_conformance_tests!(@each $make;
            audience_filtering,
            locale_filter,
            topic_filter,
            upsert_replaces,
            stale_version_ignored,
            remove_and_clear,
            title_match_beats_body_match,
            stemming,
            typo_tolerance,
            snippet_is_escaped_and_highlighted,
            limit_and_empty_queries);
    };
    (@each $make:expr; $($name:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            if let Some(index) = $make {
                $crate::kb_search::$name(index).await
            }
        }
    )*};
}
