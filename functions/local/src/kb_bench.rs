//! Knowledge-base search quality and speed on the embedded (tantivy) index.
//!
//! - `helpdesk eval-kb`: index a directory of Markdown FAQ articles (title = first heading) and
//!   run a JSON-lines file of `{"query", "expected_article"}`: recall@1, recall@5, MRR@10 and
//!   the latency distribution.
//! - `helpdesk bench-kb`: N generated articles (Zipf-distributed vocabulary, several locales,
//!   audiences and topics) into an on-disk index, then M generated queries (some with typos).

use helpdesk_adapters::local::TantivyKbIndex;
use helpdesk_app::ports::{KbDocument, KbIndex, KbQuery};
use helpdesk_domain::Audience;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::{Duration, Instant};

/// One FAQ article read from Markdown.
#[derive(Debug, Clone)]
pub struct Article {
    pub id: String,
    pub title: String,
    pub body: String,
}

/// Title = the first heading (or first non-empty line); body = the rest as plain text, with
/// horizontal rules and heading markers dropped.
pub fn parse_markdown(id: &str, text: &str) -> Article {
    let mut title = None;
    let mut body = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.chars().all(|c| c == '-' || c == '*' || c == '_') {
            continue;
        }
        let plain = t.trim_start_matches('#').trim();
        if title.is_none() {
            title = Some(plain.to_string());
        } else {
            body.push(plain.to_string());
        }
    }
    Article {
        id: id.to_string(),
        title: title.unwrap_or_default(),
        body: body.join("\n"),
    }
}

pub fn read_articles(dir: &Path) -> anyhow::Result<Vec<Article>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let id = p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        out.push(parse_markdown(&id, &std::fs::read_to_string(&p)?));
    }
    Ok(out)
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct EvalQuery {
    pub query: String,
    pub expected_article: String,
}

pub fn read_queries(path: &Path) -> anyhow::Result<Vec<EvalQuery>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalReport {
    pub articles: usize,
    pub queries: usize,
    pub recall_at_1: f64,
    pub recall_at_5: f64,
    pub mrr_at_10: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn faq_doc(a: &Article) -> KbDocument {
    KbDocument {
        article_id: a.id.clone(),
        locale: "en".into(),
        version: 1,
        title: a.title.clone(),
        summary: String::new(),
        body: a.body.clone(),
        tags: Vec::new(),
        topic: Vec::new(),
        audiences: vec![Audience::Customers],
        updated_at: chrono::Utc::now(),
    }
}

/// Indexes the articles in a RAM index and runs every query (customer audience, top 10).
pub async fn evaluate(articles: &[Article], queries: &[EvalQuery]) -> anyhow::Result<EvalReport> {
    let index = TantivyKbIndex::in_memory()?;
    index.upsert(articles.iter().map(faq_doc).collect()).await?;
    let mut hits_at_1 = 0usize;
    let mut hits_at_5 = 0usize;
    let mut rr = 0f64;
    let mut latencies = Vec::with_capacity(queries.len());
    for q in queries {
        let query = KbQuery {
            text: q.query.clone(),
            audiences: vec![Audience::Customers],
            locale: None,
            topic: None,
            limit: 10,
        };
        let started = Instant::now();
        let hits = index.search(&query).await?;
        latencies.push(started.elapsed());
        if let Some(rank) = hits.iter().position(|h| h.article_id == q.expected_article) {
            if rank == 0 {
                hits_at_1 += 1;
            }
            if rank < 5 {
                hits_at_5 += 1;
            }
            rr += 1.0 / (rank as f64 + 1.0);
        }
    }
    latencies.sort();
    let n = queries.len().max(1) as f64;
    Ok(EvalReport {
        articles: articles.len(),
        queries: queries.len(),
        recall_at_1: hits_at_1 as f64 / n,
        recall_at_5: hits_at_5 as f64 / n,
        mrr_at_10: rr / n,
        latency_p50_ms: percentile(&latencies, 0.50),
        latency_p99_ms: percentile(&latencies, 0.99),
    })
}

/// `helpdesk eval-kb`.
pub async fn eval(articles_dir: &Path, queries_file: &Path) -> anyhow::Result<EvalReport> {
    let articles = read_articles(articles_dir)?;
    if articles.is_empty() {
        anyhow::bail!("no .md articles in {}", articles_dir.display());
    }
    let queries = read_queries(queries_file)?;
    let r = evaluate(&articles, &queries).await?;
    println!(
        "eval-kb: {} articles, {} queries (embedded index, BM25 + boosts + stemming + synonyms + typo tolerance)",
        r.articles, r.queries
    );
    println!(
        "  recall@1 {:.3}   recall@5 {:.3}   MRR@10 {:.3}",
        r.recall_at_1, r.recall_at_5, r.mrr_at_10
    );
    println!(
        "  latency p50 {:.2} ms   p99 {:.2} ms",
        r.latency_p50_ms, r.latency_p99_ms
    );
    Ok(r)
}

/// A deterministic vocabulary of pronounceable words; rank 0 is the most frequent.
fn vocabulary(rng: &mut StdRng, size: usize) -> Vec<String> {
    const ONSETS: &[&str] = &[
        "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br",
        "cl", "dr", "pl", "st", "tr", "sh", "ch", "gr",
    ];
    const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ea", "io", "ou"];
    const CODAS: &[&str] = &["", "", "n", "r", "s", "t", "l", "ng", "ck", "x"];
    // Real support words first (the frequent ones), then generated ones.
    let mut words: Vec<String> = [
        "account",
        "password",
        "login",
        "invoice",
        "payment",
        "refund",
        "order",
        "shipping",
        "email",
        "settings",
        "profile",
        "error",
        "update",
        "install",
        "download",
        "subscription",
        "cancel",
        "delete",
        "reset",
        "phone",
        "app",
        "browser",
        "card",
        "address",
        "delivery",
        "return",
        "warranty",
        "printer",
        "network",
        "wifi",
        "sync",
        "backup",
        "export",
        "import",
        "report",
        "team",
        "user",
        "admin",
        "permission",
        "billing",
        "plan",
        "trial",
        "upgrade",
        "notification",
        "message",
        "calendar",
        "file",
        "upload",
        "share",
        "link",
        "security",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    while words.len() < size {
        let syllables = rng.gen_range(2..=4);
        let mut w = String::new();
        for _ in 0..syllables {
            w.push_str(ONSETS[rng.gen_range(0..ONSETS.len())]);
            w.push_str(VOWELS[rng.gen_range(0..VOWELS.len())]);
        }
        w.push_str(CODAS[rng.gen_range(0..CODAS.len())]);
        words.push(w);
    }
    words
}

/// Zipf(s≈1) sampler over `n` ranks by inverse CDF on precomputed weights.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut acc = 0.0;
        let cdf = (1..=n)
            .map(|k| {
                acc += 1.0 / (k as f64).powf(s);
                acc
            })
            .collect::<Vec<_>>();
        let total = acc;
        Self {
            cdf: cdf.into_iter().map(|c| c / total).collect(),
        }
    }

    fn sample(&self, rng: &mut StdRng) -> usize {
        let u: f64 = rng.gen();
        self.cdf.partition_point(|c| *c < u).min(self.cdf.len() - 1)
    }
}

fn sentence(rng: &mut StdRng, zipf: &Zipf, vocab: &[String], len: usize) -> String {
    (0..len)
        .map(|_| vocab[zipf.sample(rng)].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn typo(rng: &mut StdRng, word: &str) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    if chars.len() >= 5 {
        let i = rng.gen_range(1..chars.len() - 1);
        chars.swap(i, i + 1);
    }
    chars.into_iter().collect()
}

/// `helpdesk bench-kb`.
pub async fn bench(articles: usize, queries: usize) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(8);
    let vocab = vocabulary(&mut rng, 30_000);
    let zipf = Zipf::new(vocab.len(), 1.05);
    // Titles draw from the head of the vocabulary, bodies from all of it.
    let title_zipf = Zipf::new(5_000, 0.9);
    let topics: Vec<Vec<String>> = (0..40)
        .map(|i| vec![format!("Area {}", i / 8), format!("Topic {i}")])
        .collect();
    let docs: Vec<KbDocument> = (0..articles)
        .map(|i| {
            let locale = match i % 10 {
                0 => "de",
                1 => "fr",
                _ => "en",
            };
            let audiences = match i % 5 {
                0 => vec![Audience::Internal],
                1 => vec![Audience::Customers, Audience::BusinessOwners],
                _ => vec![Audience::Customers],
            };
            let title_len = rng.gen_range(4..10);
            let body_len = rng.gen_range(80..400);
            KbDocument {
                article_id: format!("bench-{i:06}"),
                locale: locale.into(),
                version: 1,
                title: sentence(&mut rng, &title_zipf, &vocab, title_len),
                summary: sentence(&mut rng, &zipf, &vocab, 15),
                body: sentence(&mut rng, &zipf, &vocab, body_len),
                tags: (0..rng.gen_range(1..4))
                    .map(|_| vocab[title_zipf.sample(&mut rng)].clone())
                    .collect(),
                topic: topics[rng.gen_range(0..topics.len())].clone(),
                audiences,
                updated_at: chrono::Utc::now(),
            }
        })
        .collect();
    let qs: Vec<KbQuery> = (0..queries)
        .map(|_| {
            let d = &docs[rng.gen_range(0..docs.len())];
            let words: Vec<&str> = d
                .title
                .split(' ')
                .chain(d.body.split(' ').take(40))
                .collect();
            let n = rng.gen_range(2..=5);
            let text = (0..n)
                .map(|_| {
                    let w = words[rng.gen_range(0..words.len())];
                    if rng.gen_bool(0.1) {
                        typo(&mut rng, w)
                    } else {
                        w.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            KbQuery {
                text,
                audiences: if rng.gen_bool(0.5) {
                    vec![Audience::Customers]
                } else {
                    Audience::ALL.to_vec()
                },
                locale: if rng.gen_bool(0.7) {
                    Some(d.locale.clone())
                } else {
                    None
                },
                topic: None,
                limit: 10,
            }
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("helpdesk-bench-kb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let index = TantivyKbIndex::open(&dir)?;
    let started = Instant::now();
    let mut batch = Vec::with_capacity(1000);
    for d in docs {
        batch.push(d);
        if batch.len() == 1000 {
            index.upsert(std::mem::take(&mut batch)).await?;
        }
    }
    index.upsert(batch).await?;
    let build = started.elapsed();
    let size: u64 = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let mut latencies = Vec::with_capacity(qs.len());
    let mut empty = 0usize;
    let started = Instant::now();
    for q in &qs {
        let t = Instant::now();
        let hits = index.search(q).await?;
        latencies.push(t.elapsed());
        if hits.is_empty() {
            empty += 1;
        }
    }
    let total = started.elapsed();
    latencies.sort();
    println!(
        "bench-kb: {articles} generated articles (en/de/fr, 3 audiences, 40 topics, Zipf vocabulary of {} words), {queries} queries (2-5 words, 10% with a typo)",
        vocab.len()
    );
    println!(
        "  index build {:.2} s ({:.0} articles/s, batches of 1,000, one commit each), {:.1} MB on disk",
        build.as_secs_f64(),
        articles as f64 / build.as_secs_f64().max(1e-9),
        size as f64 / 1e6
    );
    println!(
        "  search p50 {:.2} ms   p99 {:.2} ms   ({:.0} queries/s sequential, {} with no hit)",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        qs.len() as f64 / total.as_secs_f64().max(1e-9),
        empty
    );
    drop(index);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_title_is_the_first_heading() {
        let a = parse_markdown(
            "faq-1",
            "\n# How do I reset it?\n\nHold the button.\n\n---\n\nOr ask.\n",
        );
        assert_eq!(a.title, "How do I reset it?");
        assert_eq!(a.body, "Hold the button.\nOr ask.");
        let none = parse_markdown("x", "");
        assert_eq!((none.title.as_str(), none.body.as_str()), ("", ""));
    }

    #[test]
    fn zipf_favours_low_ranks() {
        let mut rng = StdRng::seed_from_u64(1);
        let z = Zipf::new(1000, 1.0);
        let low = (0..1000).filter(|_| z.sample(&mut rng) < 10).count();
        assert!(low > 300, "{low}");
    }
}
