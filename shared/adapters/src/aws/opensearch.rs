//! The knowledge-base index on OpenSearch (Amazon OpenSearch Service in production).
//!
//! Plain REST over reqwest, signed with SigV4 (service `es`) when credentials are given: the
//! adapter needs four endpoints (create index, bulk, search, delete-by-query), and the `opensearch`
//! crate (2.4) would bring a second reqwest major version and a large generated API for them.
//!
//! One index; per-language text fields (`title_en`, `body_de`, … — the same language groups as
//! the embedded index) analysed with OpenSearch's language analysers, English searched through
//! the shared synonym list. Versions are OpenSearch external versions (`external_gte`), so a
//! stale indexing event is refused by the cluster itself (a 409 item, ignored here).

use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use helpdesk_app::ports::{KbDocument, KbHit, KbIndex, KbIndexError, KbQuery};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

/// Language groups: locale primary subtag → OpenSearch language analyser (the embedded index
/// uses the same groups). Everything else goes to `simple`.
const LANGUAGES: &[(&str, &str)] = &[
    ("en", "english"),
    ("de", "german"),
    ("fr", "french"),
    ("es", "spanish"),
    ("it", "italian"),
    ("pt", "portuguese"),
    ("nl", "dutch"),
    ("sv", "swedish"),
    ("da", "danish"),
    ("no", "norwegian"),
    ("fi", "finnish"),
    ("ru", "russian"),
    ("hu", "hungarian"),
    ("ro", "romanian"),
    ("tr", "turkish"),
    ("ar", "arabic"),
    ("el", "greek"),
];
const SIMPLE: &str = "simple";
const SEP: char = '\u{1f}';
const MAX_LIMIT: usize = 100;
const SYNONYMS: &str = include_str!("../local/kb_synonyms.txt");

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

fn groups() -> impl Iterator<Item = &'static str> {
    LANGUAGES
        .iter()
        .map(|(c, _)| *c)
        .chain(std::iter::once(SIMPLE))
}

/// Settings and mappings of the index (`PUT /{index}`).
pub fn index_definition() -> Value {
    let synonyms: Vec<&str> = SYNONYMS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut properties = json!({
        "article_id": { "type": "keyword" },
        "locale": { "type": "keyword" },
        "locale_key": { "type": "keyword" },
        "version": { "type": "long" },
        "audiences": { "type": "keyword" },
        "topic": { "type": "keyword" },
        "updated_at": { "type": "date" },
    });
    for g in groups() {
        let analyzer = match LANGUAGES.iter().find(|(c, _)| *c == g) {
            Some((_, a)) => *a,
            None => "kb_simple",
        };
        let mut field = json!({ "type": "text", "analyzer": analyzer });
        if g == "en" {
            field["search_analyzer"] = json!("kb_english_search");
        }
        for name in ["title", "summary", "tags", "body"] {
            properties[format!("{name}_{g}")] = field.clone();
        }
    }
    json!({
        "settings": {
            "index": { "number_of_shards": 1 },
            "analysis": {
                "filter": {
                    "kb_synonyms": { "type": "synonym_graph", "synonyms": synonyms },
                    "kb_english_stop": { "type": "stop", "stopwords": "_english_" },
                    "kb_english_stemmer": { "type": "stemmer", "language": "english" },
                    "kb_english_possessive": { "type": "stemmer", "language": "possessive_english" }
                },
                "analyzer": {
                    // The built-in `english` analyser, rebuilt with synonyms (search side only).
                    "kb_english_search": {
                        "type": "custom",
                        "tokenizer": "standard",
                        "filter": ["kb_english_possessive", "lowercase", "kb_synonyms", "kb_english_stop", "kb_english_stemmer"]
                    },
                    "kb_simple": {
                        "type": "custom",
                        "tokenizer": "standard",
                        "filter": ["lowercase", "asciifolding"]
                    }
                }
            }
        },
        "mappings": { "dynamic": "strict", "properties": properties }
    })
}

fn doc_id(article_id: &str, locale: &str) -> String {
    format!("{article_id}:{}", locale.to_ascii_lowercase())
}

fn topic_key(path: &[String]) -> String {
    path.join(&SEP.to_string())
}

/// The indexed form of a document.
pub fn source(d: &KbDocument) -> Value {
    let g = language_group(&d.locale);
    let topics: Vec<String> = (1..=d.topic.len())
        .map(|i| topic_key(&d.topic[..i]))
        .collect();
    let mut v = json!({
        "article_id": d.article_id,
        "locale": d.locale,
        "locale_key": d.locale.to_ascii_lowercase(),
        "version": d.version,
        "audiences": d.audiences.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "topic": topics,
        "updated_at": d.updated_at.to_rfc3339(),
    });
    v[format!("title_{g}")] = json!(d.title);
    v[format!("summary_{g}")] = json!(d.summary);
    v[format!("tags_{g}")] = json!(d.tags);
    v[format!("body_{g}")] = json!(d.body);
    v
}

/// The search request body: BM25 over weighted fields, a fuzzy variant at a fraction of the
/// weight (typos rank below exact matches), filters that never score, `<mark>` highlights.
pub fn search_body(q: &KbQuery, limit: usize) -> Value {
    let g = q.locale.as_deref().map(language_group).unwrap_or("*");
    let f = |name: &str, boost: &str| format!("{name}_{g}{boost}");
    let mut filter = vec![
        json!({ "terms": { "audiences": q.audiences.iter().map(|a| a.as_str()).collect::<Vec<_>>() } }),
    ];
    if let Some(l) = &q.locale {
        filter.push(json!({ "term": { "locale_key": l.to_ascii_lowercase() } }));
    }
    if let Some(topic) = q.topic.as_ref().filter(|t| !t.is_empty()) {
        filter.push(json!({ "term": { "topic": topic_key(topic) } }));
    }
    json!({
        "size": limit,
        "_source": ["article_id", "locale", "version", format!("title_{g}")],
        "query": {
            "bool": {
                "must": [{
                    "bool": {
                        "should": [
                            {
                                "multi_match": {
                                    "query": q.text,
                                    "type": "most_fields",
                                    "fields": [f("title", "^3"), f("summary", "^1.5"), f("tags", "^2"), f("body", "")]
                                }
                            },
                            {
                                "multi_match": {
                                    "query": q.text,
                                    "type": "most_fields",
                                    "fields": [f("title", ""), f("body", "^0.5")],
                                    "fuzziness": "AUTO",
                                    "prefix_length": 1,
                                    "boost": 0.2
                                }
                            }
                        ],
                        "minimum_should_match": 1
                    }
                }],
                "filter": filter
            }
        },
        "highlight": {
            "pre_tags": ["<mark>"],
            "post_tags": ["</mark>"],
            "encoder": "html",
            "fields": {
                f("body", ""): { "fragment_size": 200, "number_of_fragments": 1, "no_match_size": 200 },
                f("summary", ""): { "fragment_size": 200, "number_of_fragments": 1 }
            }
        }
    })
}

/// SigV4 credentials for Amazon OpenSearch Service.
#[derive(Clone, Debug)]
pub struct SigV4 {
    pub credentials: SharedCredentialsProvider,
    pub region: String,
}

/// The OpenSearch-backed `KbIndex`.
#[derive(Clone, Debug)]
pub struct OpenSearchKbIndex {
    http: reqwest::Client,
    endpoint: String,
    index: String,
    signer: Option<SigV4>,
    /// User and password from the endpoint URL (`https://user:pass@host:9200`), for a
    /// self-managed cluster with basic authentication.
    basic: Option<(String, String)>,
    ready: std::sync::Arc<tokio::sync::OnceCell<()>>,
}

fn unavailable(msg: impl Into<String>) -> KbIndexError {
    KbIndexError::Unavailable(msg.into().into())
}

impl OpenSearchKbIndex {
    /// `endpoint` like `https://search-kb-abc.eu-west-1.es.amazonaws.com` (no trailing path);
    /// `signer` is `None` for an unauthenticated (local) cluster.
    pub fn new(endpoint: &str, index: &str, signer: Option<SigV4>) -> Result<Self, KbIndexError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| KbIndexError::Unavailable(Box::new(e)))?;
        let mut url = reqwest::Url::parse(endpoint)
            .map_err(|e| unavailable(format!("OpenSearch endpoint {endpoint:?}: {e}")))?;
        let basic = (!url.username().is_empty()).then(|| {
            (
                url.username().to_string(),
                url.password().unwrap_or_default().to_string(),
            )
        });
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Ok(Self {
            http,
            endpoint: url.as_str().trim_end_matches('/').to_string(),
            index: index.to_string(),
            signer,
            basic,
            ready: Default::default(),
        })
    }

    /// Signed with the SDK configuration's credentials and region.
    pub fn from_sdk_config(
        endpoint: &str,
        index: &str,
        config: &aws_config::SdkConfig,
    ) -> Result<Self, KbIndexError> {
        let credentials = config
            .credentials_provider()
            .ok_or_else(|| unavailable("no AWS credentials for OpenSearch"))?;
        let region = config
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| unavailable("no AWS region for OpenSearch"))?;
        Self::new(
            endpoint,
            index,
            Some(SigV4 {
                credentials,
                region,
            }),
        )
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<(Vec<u8>, &'static str)>,
    ) -> Result<(u16, Value), KbIndexError> {
        let url = format!("{}{}", self.endpoint, path_and_query);
        let (bytes, content_type) = body.unwrap_or((Vec::new(), "application/json"));
        let mut req = self
            .http
            .request(method.clone(), &url)
            .header("content-type", content_type);
        if let Some((user, password)) = &self.basic {
            req = req.basic_auth(user, Some(password));
        }
        if let Some(signer) = &self.signer {
            for (name, value) in self
                .sign(signer, method.as_str(), &url, content_type, &bytes)
                .await?
            {
                req = req.header(name, value);
            }
        }
        let resp = req
            .body(bytes)
            .send()
            .await
            .map_err(|e| KbIndexError::Unavailable(Box::new(e)))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| KbIndexError::Unavailable(Box::new(e)))?;
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok((status, value))
    }

    async fn sign(
        &self,
        signer: &SigV4,
        method: &str,
        url: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, KbIndexError> {
        use aws_sigv4::http_request::{
            sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
        };
        let credentials = signer
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| KbIndexError::Unavailable(Box::new(e)))?;
        let identity = credentials.into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&signer.region)
            .name("es")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| KbIndexError::Unavailable(Box::new(e)))?
            .into();
        let host = reqwest::Url::parse(url)
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_string(),
                })
            })
            .ok_or_else(|| unavailable("OpenSearch endpoint has no host"))?;
        let headers = [("host", host.as_str()), ("content-type", content_type)];
        let signable =
            SignableRequest::new(method, url, headers.into_iter(), SignableBody::Bytes(body))
                .map_err(|e| KbIndexError::Unavailable(Box::new(e)))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| KbIndexError::Unavailable(Box::new(e)))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    /// Creates the index with its mapping once per process (an existing index is fine).
    async fn ensure_index(&self) -> Result<(), KbIndexError> {
        self.ready
            .get_or_try_init(|| async {
                let body = serde_json::to_vec(&index_definition())
                    .map_err(|e| KbIndexError::Unavailable(Box::new(e)))?;
                let (status, resp) = self
                    .send(
                        reqwest::Method::PUT,
                        &format!("/{}", self.index),
                        Some((body, "application/json")),
                    )
                    .await?;
                let exists = resp["error"]["type"] == "resource_already_exists_exception";
                if (200..300).contains(&status) || exists {
                    Ok(())
                } else {
                    Err(unavailable(format!(
                        "creating index {}: HTTP {status}: {}",
                        self.index, resp["error"]
                    )))
                }
            })
            .await
            .map(|_| ())
    }
}

fn check(status: u16, resp: &Value, what: &str) -> Result<(), KbIndexError> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(unavailable(format!(
            "{what}: HTTP {status}: {}",
            resp["error"]
        )))
    }
}

#[async_trait]
impl KbIndex for OpenSearchKbIndex {
    async fn upsert(&self, docs: Vec<KbDocument>) -> Result<(), KbIndexError> {
        if docs.is_empty() {
            return Ok(());
        }
        self.ensure_index().await?;
        let mut ndjson = String::new();
        for d in &docs {
            let action = json!({ "index": {
                "_id": doc_id(&d.article_id, &d.locale),
                "version": d.version,
                "version_type": "external_gte"
            }});
            ndjson.push_str(&action.to_string());
            ndjson.push('\n');
            ndjson.push_str(&source(d).to_string());
            ndjson.push('\n');
        }
        let (status, resp) = self
            .send(
                reqwest::Method::POST,
                &format!("/{}/_bulk?refresh=true", self.index),
                Some((ndjson.into_bytes(), "application/x-ndjson")),
            )
            .await?;
        check(status, &resp, "bulk indexing")?;
        if resp["errors"] == true {
            let empty = Vec::new();
            for item in resp["items"].as_array().unwrap_or(&empty) {
                let r = &item["index"];
                // 409: a newer version is already indexed — a stale event, by design a no-op.
                if r["error"].is_object() && r["status"] != 409 {
                    return Err(unavailable(format!(
                        "bulk item {}: {}",
                        r["_id"], r["error"]
                    )));
                }
            }
        }
        Ok(())
    }

    async fn remove(&self, article_id: &str, locale: &str) -> Result<(), KbIndexError> {
        self.ensure_index().await?;
        let id = doc_id(article_id, locale);
        let ndjson = format!("{}\n", json!({ "delete": { "_id": id } }));
        let (status, resp) = self
            .send(
                reqwest::Method::POST,
                &format!("/{}/_bulk?refresh=true", self.index),
                Some((ndjson.into_bytes(), "application/x-ndjson")),
            )
            .await?;
        check(status, &resp, "removing a document")?;
        let item = &resp["items"][0]["delete"];
        // 404 `not_found`: already absent.
        if item["error"].is_object() && item["status"] != 404 {
            return Err(unavailable(format!("removing {id}: {}", item["error"])));
        }
        Ok(())
    }

    async fn search(&self, query: &KbQuery) -> Result<Vec<KbHit>, KbIndexError> {
        let limit = query.limit.min(MAX_LIMIT);
        if limit == 0 || query.audiences.is_empty() || query.text.trim().is_empty() {
            return Ok(Vec::new());
        }
        if query.text.chars().count() > 1000 {
            return Err(KbIndexError::BadQuery(
                "query text is longer than 1000 characters".into(),
            ));
        }
        self.ensure_index().await?;
        let body = serde_json::to_vec(&search_body(query, limit))
            .map_err(|e| KbIndexError::Unavailable(Box::new(e)))?;
        let (status, resp) = self
            .send(
                reqwest::Method::POST,
                &format!("/{}/_search", self.index),
                Some((body, "application/json")),
            )
            .await?;
        check(status, &resp, "search")?;
        Ok(parse_hits(&resp))
    }

    async fn clear(&self) -> Result<(), KbIndexError> {
        self.ensure_index().await?;
        let body = serde_json::to_vec(&json!({ "query": { "match_all": {} } }))
            .map_err(|e| KbIndexError::Unavailable(Box::new(e)))?;
        let (status, resp) = self
            .send(
                reqwest::Method::POST,
                &format!(
                    "/{}/_delete_by_query?refresh=true&conflicts=proceed",
                    self.index
                ),
                Some((body, "application/json")),
            )
            .await?;
        check(status, &resp, "clearing the index")
    }
}

/// Hits of a search response; the snippet is OpenSearch's HTML-encoded highlight.
pub fn parse_hits(resp: &Value) -> Vec<KbHit> {
    let empty = Vec::new();
    resp["hits"]["hits"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .filter_map(|h| {
            let src = &h["_source"];
            let locale = src["locale"].as_str()?.to_string();
            let g = language_group(&locale);
            let highlight = |field: String| h["highlight"][field][0].as_str().map(str::to_string);
            let snippet = highlight(format!("body_{g}"))
                .or_else(|| highlight(format!("summary_{g}")))
                .unwrap_or_default();
            Some(KbHit {
                article_id: src["article_id"].as_str()?.to_string(),
                version: src["version"].as_u64().unwrap_or_default(),
                title: src[format!("title_{g}")]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                score: h["_score"].as_f64().unwrap_or_default() as f32,
                snippet,
                locale,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_definition_has_every_language_group() {
        let def = index_definition();
        let props = &def["mappings"]["properties"];
        assert_eq!(props["title_de"]["analyzer"], "german");
        assert_eq!(props["body_simple"]["analyzer"], "kb_simple");
        assert_eq!(props["title_en"]["search_analyzer"], "kb_english_search");
        let syn = def["settings"]["analysis"]["filter"]["kb_synonyms"]["synonyms"]
            .as_array()
            .map(Vec::len)
            .unwrap_or_default();
        assert!(syn > 20);
    }
}
