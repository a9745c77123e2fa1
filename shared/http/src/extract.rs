//! Extractors whose rejections are problem documents naming the field.

use crate::problem::Problem;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
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
            .map_err(body_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A body that could not be read: over the route's size limit is a 413 `too-large` (the same
/// problem the use cases raise for oversized content), anything else a 400.
pub fn body_rejection(e: axum::extract::rejection::BytesRejection) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let mut p = Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Too large",
            "the body is larger than this request accepts",
        );
        p.field = Some("body".into());
        return p;
    }
    Problem::bad_request("body", format!("could not read the body: {e}"))
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Problem::bad_request("body", format!("malformed JSON: {e}")))?;
    integral_numbers(&mut value);
    // serde reads a struct from an array of its fields in order; no body here is an array, and
    // `[]` must not pass for an object of defaults.
    if value.is_array() {
        return Err(Problem::validation("body", "must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
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

/// JSON has one number type: `3.0` is the integer 3 (as JSON Schema's `integer` says), so a
/// float with no fraction is read as an integer wherever one is expected.
fn integral_numbers(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64() {
                // Exact up to 2^53; beyond that a float is not a trustworthy integer.
                if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 {
                    *v = if f < 0.0 {
                        Value::from(f as i64)
                    } else {
                        Value::from(f as u64)
                    };
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(fields) => fields.values_mut().for_each(integral_numbers),
        _ => {}
    }
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

/// Query string. Every problem with a query parameter — it does not parse, or its value is out
/// of range — is a 400 `bad-request` naming the parameter; 422 is kept for JSON bodies.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(q)| ApiQuery(q))
            .map_err(query_rejection)
    }
}

/// `Failed to deserialize query string: limit: invalid digit found in string` → 400 naming
/// `limit`.
fn query_rejection(e: QueryRejection) -> Problem {
    let text = e.body_text();
    let detail = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&text);
    match detail.split_once(": ") {
        Some((field, why))
            if !field.is_empty()
                && field
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
        {
            Problem::bad_request(field, why)
        }
        _ => Problem::bad_request("query", detail),
    }
}

/// A query parameter's value is wrong (out of range, not one of the choices…): 400 naming it.
pub fn bad_param(field: &str, detail: impl Into<String>) -> Problem {
    Problem::bad_request(field, detail)
}

/// A use case refused one of `params`, the request's query parameters (a stale `cursor`, a
/// `limit` out of range): the same 400 as any other query problem. Other problems pass as they
/// are.
pub fn in_query(p: impl Into<Problem>, params: &[&str]) -> Problem {
    let mut p = p.into();
    let named = p.field.as_deref().is_some_and(|f| params.contains(&f));
    if named && p.status == 422 && p.kind.ends_with("/validation") {
        let field = p.field.take().unwrap_or_default();
        p = Problem::bad_request(field, std::mem::take(&mut p.detail));
    }
    p
}

/// `If-Match: "v3"`, `"3"`, `v3`, `3` or weak `W/"v3"` → 3: exactly the pattern the OpenAPI
/// document gives the header. Absent → None; anything else (`*`, `""v3""`, `+3`) is a 400
/// naming the header.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = raw.to_str().unwrap_or("").trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    let s = s.strip_prefix('"').unwrap_or(s);
    let s = s.strip_suffix('"').unwrap_or(s);
    let s = s.strip_prefix('v').unwrap_or(s);
    let digits = !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| s.parse::<u64>().ok())
        .flatten()
        .map(Some)
        .ok_or_else(|| {
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
        let p = parse_json::<Body>(br#"["x", {"email": "a@b.co"}]"#).expect_err("an array");
        assert_eq!((p.status, p.field.as_deref()), (422, Some("body")));
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
        for bad in ["*", "\"\"v3\"\"", "+3", "v", "12345678901234567890"] {
            h.insert(header::IF_MATCH, bad.parse().expect("hv"));
            assert!(if_match(&h).is_err(), "{bad}");
        }
    }
}
