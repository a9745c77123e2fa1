//! The embedded knowledge-base index (tantivy), for the self-hosted binary and the Lambda's
//! `KbSearch=embedded` mode.
//!
//! Per-language analysis: every supported language has its own group of text fields
//! (`title_en`, `body_en`, …) with a snowball stemmer and stop words; a document's text goes into
//! the group of its locale, unknown languages into a `simple` group (lowercase, ASCII folding).
//! BM25 per field with title/summary/tag boosts, query-side synonyms, fuzzy expansion for words
//! the index does not contain (typos), audience/locale/topic as required filter clauses.
//! One `IndexWriter` behind a mutex, taken lazily on the first write so CLI commands can open the
//! same data directory as a running server; all tantivy work runs on the blocking pool.

use async_trait::async_trait;
use helpdesk_app::ports::{KbDocument, KbHit, KbIndex, KbIndexError, KbQuery};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer, TokenStream,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// Language groups: the locale's primary subtag → stemmer. `simple` takes everything else.
const LANGUAGES: &[(&str, Language)] = &[
    ("en", Language::English),
    ("de", Language::German),
    ("fr", Language::French),
    ("es", Language::Spanish),
    ("it", Language::Italian),
    ("pt", Language::Portuguese),
    ("nl", Language::Dutch),
    ("sv", Language::Swedish),
    ("da", Language::Danish),
    ("no", Language::Norwegian),
    ("fi", Language::Finnish),
    ("ru", Language::Russian),
    ("hu", Language::Hungarian),
    ("ro", Language::Romanian),
    ("tr", Language::Turkish),
    ("ar", Language::Arabic),
    ("el", Language::Greek),
    ("ta", Language::Tamil),
];
const SIMPLE: &str = "simple";

/// Field weights (BM25 per field, summed): a title match outranks a body match.
const TITLE_BOOST: f32 = 3.0;
const SUMMARY_BOOST: f32 = 1.5;
const TAGS_BOOST: f32 = 2.0;
const BODY_BOOST: f32 = 1.0;
/// Synonym alternatives count less than the words the user typed.
const SYNONYM_WEIGHT: f32 = 0.5;
/// Constant score of a fuzzy (typo) match, well below a typical exact BM25 term score.
const FUZZY_SCORE: f32 = 0.6;
const SNIPPET_CHARS: usize = 200;
const MAX_LIMIT: usize = 100;
const SEP: char = '\u{1f}';

/// The language group of a locale (`pt-BR` → `pt`, `nb` → `no`, `ja` → `simple`).
pub fn language_group(locale: &str) -> &'static str {
    let primary = locale
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let primary = match primary.as_str() {
        "nb" | "nn" => "no",
        p => p,
    };
    LANGUAGES
        .iter()
        .find(|(code, _)| *code == primary)
        .map(|(code, _)| *code)
        .unwrap_or(SIMPLE)
}

fn analyzer(group: &str) -> TextAnalyzer {
    let base = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .dynamic();
    match LANGUAGES.iter().find(|(code, _)| *code == group) {
        Some((_, lang)) => {
            let b = match StopWordFilter::new(*lang) {
                Some(stop) => base.filter_dynamic(stop),
                None => base,
            };
            // Folding after stemming: the stemmers expect the accents.
            b.filter_dynamic(Stemmer::new(*lang))
                .filter_dynamic(AsciiFoldingFilter)
                .build()
        }
        None => base.filter_dynamic(AsciiFoldingFilter).build(),
    }
}

fn tokenizer_name(group: &str) -> String {
    format!("kb_{group}")
}

fn groups() -> impl Iterator<Item = &'static str> {
    LANGUAGES
        .iter()
        .map(|(c, _)| *c)
        .chain(std::iter::once(SIMPLE))
}

#[derive(Clone, Copy)]
struct GroupFields {
    title: Field,
    summary: Field,
    tags: Field,
    body: Field,
}

struct Fields {
    key: Field,
    article_id: Field,
    locale: Field,
    locale_key: Field,
    version: Field,
    audience: Field,
    topic: Field,
    title_raw: Field,
    summary_raw: Field,
    body_raw: Field,
    groups: HashMap<&'static str, GroupFields>,
}

fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let key = b.add_text_field("key", STRING);
    let article_id = b.add_text_field("article_id", STORED);
    let locale = b.add_text_field("locale", STORED);
    let locale_key = b.add_text_field("locale_key", STRING);
    let version = b.add_u64_field("version", STORED);
    let audience = b.add_text_field("audience", STRING);
    let topic = b.add_text_field("topic", STRING);
    let title_raw = b.add_text_field("title_raw", STORED);
    let summary_raw = b.add_text_field("summary_raw", STORED);
    let body_raw = b.add_text_field("body_raw", STORED);
    let mut groups_map = HashMap::new();
    for g in groups() {
        let opts = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(&tokenizer_name(g))
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let gf = GroupFields {
            title: b.add_text_field(&format!("title_{g}"), opts.clone()),
            summary: b.add_text_field(&format!("summary_{g}"), opts.clone()),
            tags: b.add_text_field(&format!("tags_{g}"), opts.clone()),
            body: b.add_text_field(&format!("body_{g}"), opts),
        };
        groups_map.insert(g, gf);
    }
    let fields = Fields {
        key,
        article_id,
        locale,
        locale_key,
        version,
        audience,
        topic,
        title_raw,
        summary_raw,
        body_raw,
        groups: groups_map,
    };
    (b.build(), fields)
}

/// General synonym groups, lowercased word sequences.
struct Synonyms {
    groups: Vec<Vec<Vec<String>>>,
}

impl Synonyms {
    fn parse(text: &str) -> Self {
        let groups = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                l.split(',')
                    .map(words)
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
            })
            .filter(|g| g.len() > 1)
            .collect();
        Self { groups }
    }

    /// The alternatives of every phrase found in `words` (the found phrase itself excluded).
    fn expansions(&self, words: &[String]) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for group in &self.groups {
            for (i, phrase) in group.iter().enumerate() {
                if words.windows(phrase.len()).any(|w| w == phrase.as_slice()) {
                    out.extend(
                        group
                            .iter()
                            .enumerate()
                            .filter(|(j, _)| *j != i)
                            .map(|(_, p)| p.clone()),
                    );
                    break;
                }
            }
        }
        out
    }
}

pub const SYNONYMS: &str = include_str!("kb_synonyms.txt");

/// Lowercased words as the tokenizer splits them (no stemming, no stop words).
fn words(text: &str) -> Vec<String> {
    let mut a = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(LowerCaser)
        .build();
    let mut s = a.token_stream(text);
    let mut out = Vec::new();
    while s.advance() {
        out.push(s.token().text.clone());
    }
    out
}

fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut s = analyzer.token_stream(text);
    let mut out = Vec::new();
    while s.advance() {
        out.push(s.token().text.clone());
    }
    out
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> KbIndexError {
    KbIndexError::Unavailable(Box::new(e))
}

fn key_of(article_id: &str, locale: &str) -> String {
    format!("{article_id}{SEP}{}", locale.to_ascii_lowercase())
}

/// HTML-escapes text for a snippet built without highlights.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// A language group's text query and its analysed terms (for the snippet).
type GroupQuery = (Box<dyn Query>, Vec<String>);

struct Inner {
    index: Index,
    reader: IndexReader,
    /// Taken on the first write (a second process may hold the directory's lock until then).
    writer: Mutex<Option<IndexWriter>>,
    fields: Fields,
    synonyms: Synonyms,
}

/// The tantivy-backed `KbIndex`. Cheap to clone.
#[derive(Clone)]
pub struct TantivyKbIndex {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TantivyKbIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TantivyKbIndex").finish_non_exhaustive()
    }
}

impl TantivyKbIndex {
    /// Opens (or creates) the index in `dir`. An index with another schema (an older release) is
    /// derived data: it is emptied and recreated, and `helpdesk reindex` fills it again.
    pub fn open(dir: &Path) -> Result<Self, KbIndexError> {
        std::fs::create_dir_all(dir).map_err(unavailable)?;
        let (schema, fields) = build_schema();
        let existing = match Index::open_in_dir(dir) {
            Ok(index) if index.schema() == schema => Some(index),
            Ok(_) | Err(tantivy::TantivyError::IncompatibleIndex(_)) => {
                tracing::warn!(dir = %dir.display(), "knowledge-base index has another schema: recreating it (run `helpdesk reindex`)");
                for entry in std::fs::read_dir(dir).map_err(unavailable)? {
                    let path = entry.map_err(unavailable)?.path();
                    if path.is_dir() {
                        std::fs::remove_dir_all(&path).map_err(unavailable)?;
                    } else {
                        std::fs::remove_file(&path).map_err(unavailable)?;
                    }
                }
                None
            }
            Err(_) => None,
        };
        let index = match existing {
            Some(index) => index,
            None => Index::create_in_dir(dir, schema).map_err(unavailable)?,
        };
        // Another process (`helpdesk reindex` beside `serve`) may commit: watch meta.json.
        Self::with_index(index, fields, ReloadPolicy::OnCommitWithDelay)
    }

    /// A RAM index (tests, benchmarks, evaluation).
    pub fn in_memory() -> Result<Self, KbIndexError> {
        let (schema, fields) = build_schema();
        Self::with_index(Index::create_in_ram(schema), fields, ReloadPolicy::Manual)
    }

    fn with_index(
        index: Index,
        fields: Fields,
        policy: ReloadPolicy,
    ) -> Result<Self, KbIndexError> {
        for g in groups() {
            index.tokenizers().register(&tokenizer_name(g), analyzer(g));
        }
        let reader = index
            .reader_builder()
            .reload_policy(policy)
            .try_into()
            .map_err(unavailable)?;
        Ok(Self {
            inner: Arc::new(Inner {
                index,
                reader,
                writer: Mutex::new(None),
                fields,
                synonyms: Synonyms::parse(SYNONYMS),
            }),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, KbIndexError> + Send + 'static,
    ) -> Result<T, KbIndexError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(unavailable)?
    }
}

impl Inner {
    /// Runs `f` with the writer (taken now if not yet), then commits and makes it visible.
    fn write(
        &self,
        f: impl FnOnce(&IndexWriter) -> Result<bool, KbIndexError>,
    ) -> Result<(), KbIndexError> {
        let mut guard = self
            .writer
            .lock()
            .map_err(|_| KbIndexError::Unavailable("index writer poisoned".into()))?;
        if guard.is_none() {
            // One indexing thread: the machine's other core serves requests.
            let w = self
                .index
                .writer_with_num_threads(1, 50_000_000)
                .map_err(unavailable)?;
            *guard = Some(w);
        }
        let Some(writer) = guard.as_mut() else {
            return Err(KbIndexError::Unavailable("no index writer".into()));
        };
        if f(writer)? {
            if let Err(e) = writer.commit() {
                // A failed commit leaves pending operations: drop them with the writer.
                *guard = None;
                return Err(unavailable(e));
            }
            self.reader.reload().map_err(unavailable)?;
        }
        Ok(())
    }

    fn indexed_version(&self, key: &str) -> Result<Option<u64>, KbIndexError> {
        let searcher = self.reader.searcher();
        let q = TermQuery::new(
            Term::from_field_text(self.fields.key, key),
            IndexRecordOption::Basic,
        );
        let top = searcher
            .search(&q, &TopDocs::with_limit(1).order_by_score())
            .map_err(unavailable)?;
        match top.first() {
            None => Ok(None),
            Some((_, addr)) => {
                let doc: TantivyDocument = searcher.doc(*addr).map_err(unavailable)?;
                Ok(doc.get_first(self.fields.version).and_then(|v| v.as_u64()))
            }
        }
    }

    fn to_tantivy(&self, d: &KbDocument) -> TantivyDocument {
        let f = &self.fields;
        let g = f.groups[language_group(&d.locale)];
        let mut doc = TantivyDocument::new();
        doc.add_text(f.key, key_of(&d.article_id, &d.locale));
        doc.add_text(f.article_id, &d.article_id);
        doc.add_text(f.locale, &d.locale);
        doc.add_text(f.locale_key, d.locale.to_ascii_lowercase());
        doc.add_u64(f.version, d.version);
        for a in &d.audiences {
            doc.add_text(f.audience, a.as_str());
        }
        for i in 1..=d.topic.len() {
            doc.add_text(f.topic, topic_key(&d.topic[..i]));
        }
        doc.add_text(f.title_raw, &d.title);
        doc.add_text(f.summary_raw, &d.summary);
        doc.add_text(f.body_raw, &d.body);
        doc.add_text(g.title, &d.title);
        doc.add_text(g.summary, &d.summary);
        doc.add_text(g.body, &d.body);
        for t in &d.tags {
            doc.add_text(g.tags, t);
        }
        doc
    }

    fn upsert(&self, docs: Vec<KbDocument>) -> Result<(), KbIndexError> {
        // Within one batch the newest version of each translation wins.
        let mut latest: BTreeMap<String, KbDocument> = BTreeMap::new();
        for d in docs {
            let key = key_of(&d.article_id, &d.locale);
            match latest.get(&key) {
                Some(have) if have.version > d.version => {}
                _ => {
                    latest.insert(key, d);
                }
            }
        }
        self.write(|writer| {
            let mut changed = false;
            for (key, d) in &latest {
                if matches!(self.indexed_version(key)?, Some(v) if v > d.version) {
                    continue; // a stale event: a newer version is already indexed
                }
                writer.delete_term(Term::from_field_text(self.fields.key, key));
                writer
                    .add_document(self.to_tantivy(d))
                    .map_err(unavailable)?;
                changed = true;
            }
            Ok(changed)
        })
    }

    fn remove(&self, article_id: &str, locale: &str) -> Result<(), KbIndexError> {
        let key = key_of(article_id, locale);
        self.write(|writer| {
            writer.delete_term(Term::from_field_text(self.fields.key, &key));
            Ok(true)
        })
    }

    fn clear(&self) -> Result<(), KbIndexError> {
        self.write(|writer| {
            writer.delete_all_documents().map_err(unavailable)?;
            Ok(true)
        })
    }

    /// Field clauses for one analysed term: BM25 per field, weighted.
    fn term_clause(&self, g: GroupFields, term: &str, weight: f32) -> Box<dyn Query> {
        let clauses: Vec<(Occur, Box<dyn Query>)> = [
            (g.title, TITLE_BOOST),
            (g.summary, SUMMARY_BOOST),
            (g.tags, TAGS_BOOST),
            (g.body, BODY_BOOST),
        ]
        .into_iter()
        .map(|(field, boost)| {
            let q = TermQuery::new(
                Term::from_field_text(field, term),
                IndexRecordOption::WithFreqs,
            );
            (
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(q), boost * weight)) as Box<dyn Query>,
            )
        })
        .collect();
        Box::new(BooleanQuery::new(clauses))
    }

    /// The free-text query over one language group, and the analysed terms (for the snippet).
    fn group_query(
        &self,
        searcher: &tantivy::Searcher,
        group: &'static str,
        text: &str,
    ) -> Result<Option<GroupQuery>, KbIndexError> {
        let g = self.fields.groups[group];
        let mut analyzer = analyzer(group);
        let raw = words(text);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut terms = Vec::new();
        for w in &raw {
            for t in analyze(&mut analyzer, w) {
                if terms.contains(&t) {
                    continue;
                }
                clauses.push((Occur::Should, self.term_clause(g, &t, 1.0)));
                // A word no document contains is probably a typo: match its neighbours within
                // an edit distance, at a constant score below any exact match. Short words are
                // left alone (too many neighbours).
                let len = w.chars().count();
                if len >= 5 {
                    let df: u64 = [g.title, g.body, g.summary]
                        .into_iter()
                        .map(|f| {
                            searcher
                                .doc_freq(&Term::from_field_text(f, &t))
                                .unwrap_or(0)
                        })
                        .sum();
                    if df == 0 {
                        let distance = if len >= 9 { 2 } else { 1 };
                        for (field, share) in [(g.title, 1.0), (g.body, 0.5)] {
                            let fq = FuzzyTermQuery::new(
                                Term::from_field_text(field, &t),
                                distance,
                                true,
                            );
                            clauses.push((
                                Occur::Should,
                                Box::new(ConstScoreQuery::new(Box::new(fq), FUZZY_SCORE * share)),
                            ));
                        }
                    }
                }
                terms.push(t);
            }
        }
        if group == "en" {
            for alt in self.synonyms.expansions(&raw) {
                let alt_terms: Vec<String> =
                    alt.iter().flat_map(|w| analyze(&mut analyzer, w)).collect();
                if alt_terms.is_empty() {
                    continue;
                }
                let all: Vec<(Occur, Box<dyn Query>)> = alt_terms
                    .iter()
                    .map(|t| (Occur::Must, self.term_clause(g, t, SYNONYM_WEIGHT)))
                    .collect();
                clauses.push((Occur::Should, Box::new(BooleanQuery::new(all))));
                terms.extend(alt_terms);
            }
        }
        if clauses.is_empty() {
            return Ok(None);
        }
        Ok(Some((Box::new(BooleanQuery::new(clauses)), terms)))
    }

    fn group_has_docs(&self, searcher: &tantivy::Searcher, group: &str) -> bool {
        let g = self.fields.groups[group];
        searcher.segment_readers().iter().any(|r| {
            r.inverted_index(g.title)
                .map(|i| i.terms().num_terms() > 0)
                .unwrap_or(false)
        })
    }

    fn search(&self, q: &KbQuery) -> Result<Vec<KbHit>, KbIndexError> {
        let limit = q.limit.min(MAX_LIMIT);
        if limit == 0 || q.audiences.is_empty() || q.text.trim().is_empty() {
            return Ok(Vec::new());
        }
        if q.text.chars().count() > 1000 {
            return Err(KbIndexError::BadQuery(
                "query text is longer than 1000 characters".into(),
            ));
        }
        let f = &self.fields;
        let searcher = self.reader.searcher();
        let candidate_groups: Vec<&'static str> = match &q.locale {
            Some(l) => vec![language_group(l)],
            None => groups()
                .filter(|g| self.group_has_docs(&searcher, g))
                .collect(),
        };
        let mut text_clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut group_terms: HashMap<&'static str, Vec<String>> = HashMap::new();
        for g in candidate_groups {
            if let Some((query, terms)) = self.group_query(&searcher, g, &q.text)? {
                text_clauses.push((Occur::Should, query));
                group_terms.insert(g, terms);
            }
        }
        if text_clauses.is_empty() {
            return Ok(Vec::new());
        }
        let filter = |field: Field, values: Vec<String>| -> (Occur, Box<dyn Query>) {
            let any: Vec<(Occur, Box<dyn Query>)> = values
                .into_iter()
                .map(|v| {
                    (
                        Occur::Should,
                        Box::new(TermQuery::new(
                            Term::from_field_text(field, &v),
                            IndexRecordOption::Basic,
                        )) as Box<dyn Query>,
                    )
                })
                .collect();
            // Filters must not move scores.
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(BooleanQuery::new(any)), 0.0)),
            )
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, Box::new(BooleanQuery::new(text_clauses)))];
        clauses.push(filter(
            f.audience,
            q.audiences.iter().map(|a| a.as_str().to_string()).collect(),
        ));
        if let Some(l) = &q.locale {
            clauses.push(filter(f.locale_key, vec![l.to_ascii_lowercase()]));
        }
        if let Some(topic) = q.topic.as_ref().filter(|t| !t.is_empty()) {
            clauses.push(filter(f.topic, vec![topic_key(topic)]));
        }
        let query = BooleanQuery::new(clauses);
        let top = searcher
            .search(&query, &TopDocs::with_limit(limit).order_by_score())
            .map_err(unavailable)?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr).map_err(unavailable)?;
            let text = |field: Field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            };
            let locale = text(f.locale);
            let group = language_group(&locale);
            let terms = group_terms.get(group).cloned().unwrap_or_default();
            let body = text(f.body_raw);
            let summary = text(f.summary_raw);
            hits.push(KbHit {
                article_id: text(f.article_id),
                locale,
                version: doc
                    .get_first(f.version)
                    .and_then(|v| v.as_u64())
                    .unwrap_or_default(),
                title: text(f.title_raw),
                score,
                snippet: snippet(group, f.groups[group].body, &terms, &summary, &body),
            });
        }
        Ok(hits)
    }
}

fn topic_key(path: &[String]) -> String {
    path.join(&SEP.to_string())
}

/// An extract of the body (or summary) around the query's terms, HTML-escaped, with `<mark>`.
fn snippet(group: &str, field: Field, terms: &[String], summary: &str, body: &str) -> String {
    let weights: BTreeMap<String, f32> = terms.iter().map(|t| (t.clone(), 1.0)).collect();
    let mut generator = SnippetGenerator::new(weights, analyzer(group), field, SNIPPET_CHARS);
    generator.set_max_num_chars(SNIPPET_CHARS);
    for text in [body, summary] {
        let mut s = generator.snippet(text);
        if !s.highlighted().is_empty() {
            s.set_snippet_prefix_postfix("<mark>", "</mark>");
            return s.to_html();
        }
    }
    let lead = if summary.trim().is_empty() {
        body
    } else {
        summary
    };
    let cut: String = lead.chars().take(SNIPPET_CHARS).collect();
    escape_html(cut.trim())
}

#[async_trait]
impl KbIndex for TantivyKbIndex {
    async fn upsert(&self, docs: Vec<KbDocument>) -> Result<(), KbIndexError> {
        if docs.is_empty() {
            return Ok(());
        }
        self.blocking(move |i| i.upsert(docs)).await
    }

    async fn remove(&self, article_id: &str, locale: &str) -> Result<(), KbIndexError> {
        let (a, l) = (article_id.to_string(), locale.to_string());
        self.blocking(move |i| i.remove(&a, &l)).await
    }

    async fn search(&self, query: &KbQuery) -> Result<Vec<KbHit>, KbIndexError> {
        let q = query.clone();
        self.blocking(move |i| i.search(&q)).await
    }

    async fn clear(&self) -> Result<(), KbIndexError> {
        self.blocking(|i| i.clear()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_map_to_language_groups() {
        assert_eq!(language_group("en"), "en");
        assert_eq!(language_group("pt-BR"), "pt");
        assert_eq!(language_group("DE_at"), "de");
        assert_eq!(language_group("nb"), "no");
        assert_eq!(language_group("ja"), SIMPLE);
        assert_eq!(language_group(""), SIMPLE);
    }

    #[test]
    fn stemming_and_stop_words_by_language() {
        let mut en = analyzer("en");
        assert_eq!(
            analyze(&mut en, "The Running invoices"),
            vec!["run", "invoic"]
        );
        let mut de = analyzer("de");
        assert_eq!(analyze(&mut de, "Rechnungen"), analyze(&mut de, "Rechnung"));
        let mut simple = analyzer(SIMPLE);
        assert_eq!(analyze(&mut simple, "Café Ünï"), vec!["cafe", "uni"]);
    }

    #[test]
    fn synonyms_expand_phrases() {
        let s = Synonyms::parse("# c\nlog in, sign in, login\n\ndelete, remove\n");
        let alts = s.expansions(&words("How do I sign in?"));
        assert!(alts.contains(&vec!["log".to_string(), "in".to_string()]));
        assert!(alts.contains(&vec!["login".to_string()]));
        assert!(s.expansions(&words("signing")).is_empty());
        // The shipped list parses into groups.
        assert!(Synonyms::parse(SYNONYMS).groups.len() > 20);
    }

    #[test]
    fn escapes_fallback_snippets() {
        assert_eq!(
            escape_html("<a href='x'>&</a>"),
            "&lt;a href=&#x27;x&#x27;&gt;&amp;&lt;/a&gt;"
        );
    }
}
