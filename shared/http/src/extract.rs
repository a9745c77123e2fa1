//! Extractors whose rejections are problem documents naming the field.

use crate::problem::Problem;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;

/// JSON body. Syntax errors are 400; a missing, mistyped or invalid field is 422 with its path
/// (e.g. `customer.email`).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let ct = ct
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                ct == "application/json"
                    || (ct.starts_with("application/") && ct.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            let mut p = Problem::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the body as application/json",
            );
            p.field = Some("Content-Type".into());
            return Err(p);
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| Problem::bad_request("body", format!("could not read the body: {e}")))?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => {
                Problem::bad_request("body", format!("malformed JSON: {inner}"))
            }
            serde_json::error::Category::Data => {
                let msg = strip_position(&inner.to_string());
                // A missing field is reported by serde on the parent; name the field itself.
                let field = missing_field(&msg)
                    .map(|f| {
                        if path == "." {
                            f.to_string()
                        } else {
                            format!("{path}.{f}")
                        }
                    })
                    .unwrap_or_else(|| {
                        if path == "." {
                            "body".into()
                        } else {
                            path.clone()
                        }
                    });
                Problem::validation(field, msg)
            }
        }
    })
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn missing_field(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// `If-Match: "v3"`, `"3"` or `3` → 3. Absent → None; anything else is a 400 naming the header.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = raw
        .to_str()
        .unwrap_or("")
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"');
    let s = s.strip_prefix('v').unwrap_or(s);
    s.parse::<u64>().map(Some).map_err(|_| {
        Problem::bad_request("If-Match", "must be the ETag of the resource, like \"v3\"")
    })
}

pub fn etag(version: u64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"v{version}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        subject: String,
        customer: Inner,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        email: helpdesk_domain::EmailAddress,
    }

    #[test]
    fn names_the_field() {
        let p = parse_json::<Body>(br#"{"subject":"x","customer":{"email":"nope"}}"#)
            .expect_err("invalid");
        assert_eq!(p.status, 422);
        assert_eq!(p.field.as_deref(), Some("customer.email"));
        let p = parse_json::<Body>(br#"{"customer":{"email":"a@b.co"}}"#).expect_err("missing");
        assert_eq!(p.field.as_deref(), Some("subject"));
        let p =
            parse_json::<Body>(br#"{"subject":"x","customer":{}}"#).expect_err("missing nested");
        assert_eq!(p.field.as_deref(), Some("customer.email"));
        let p = parse_json::<Body>(b"{not json").expect_err("syntax");
        assert_eq!(p.status, 400);
    }

    #[test]
    fn if_match_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(if_match(&h).expect("ok"), None);
        for (v, want) in [("\"v3\"", 3), ("3", 3), ("W/\"v12\"", 12)] {
            h.insert(header::IF_MATCH, v.parse().expect("hv"));
            assert_eq!(if_match(&h).expect("ok"), Some(want));
        }
        h.insert(header::IF_MATCH, "*".parse().expect("hv"));
        assert!(if_match(&h).is_err());
    }
}
