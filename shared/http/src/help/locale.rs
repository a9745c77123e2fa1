//! Which language a help-centre visitor reads: `?lang=` (the picker, remembered in a cookie),
//! then the cookie, then `Accept-Language` (RFC 9110 quality values), then English.

use axum::http::{header, HeaderMap};

pub const LANG_COOKIE: &str = "hd_lang";

/// A language tag we accept from a visitor: `en`, `pt-br`, … lower-cased, at most 2 subtags.
pub fn clean_tag(tag: &str) -> Option<String> {
    let tag = tag.trim().to_ascii_lowercase().replace('_', "-");
    let mut parts = tag.split('-');
    let primary = parts.next()?;
    if !(2..=3).contains(&primary.len()) || !primary.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let region = parts.next();
    if parts.next().is_some() {
        return Some(primary.to_string());
    }
    match region {
        Some(r) if (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Some(format!("{primary}-{r}"))
        }
        Some(_) => Some(primary.to_string()),
        None => Some(primary.to_string()),
    }
}

/// The visitor's languages, most preferred first, without duplicates. Never empty: `en` is
/// always the last resort.
pub fn preferred(query_lang: Option<&str>, headers: &HeaderMap) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |t: String| {
        if !out.contains(&t) {
            out.push(t);
        }
    };
    if let Some(t) = query_lang.and_then(clean_tag) {
        push(t);
    }
    if let Some(t) =
        crate::console::session::cookie(headers, LANG_COOKIE).and_then(|c| clean_tag(&c))
    {
        push(t);
    }
    let mut weighted: Vec<(u16, usize, String)> = headers
        .get_all(header::ACCEPT_LANGUAGE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .take(20)
        .enumerate()
        .filter_map(|(i, part)| {
            let mut it = part.split(';');
            let tag = clean_tag(it.next()?)?;
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .map(|q| q.trim().parse::<f32>().unwrap_or(0.0))
                .unwrap_or(1.0);
            let q = (q.clamp(0.0, 1.0) * 1000.0) as u16;
            (q > 0).then_some((q, i, tag))
        })
        .collect();
    weighted.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, _, t) in weighted {
        // "pt-br" also accepts "pt" articles, after the exact match.
        let primary = t.split('-').next().map(str::to_string);
        push(t);
        if let Some(p) = primary {
            push(p);
        }
    }
    push("en".to_string());
    out
}

/// The first of `preferred` that `available` has (matching a region tag to its language too).
pub fn pick(preferred: &[String], available: &[String]) -> Option<String> {
    preferred.iter().find_map(|want| {
        available
            .iter()
            .find(|a| a.eq_ignore_ascii_case(want))
            .or_else(|| {
                let primary = want.split('-').next()?;
                available.iter().find(|a| a.eq_ignore_ascii_case(primary))
            })
            .cloned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(accept: &str, cookie: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_str(accept).expect("ascii"),
        );
        if let Some(c) = cookie {
            h.insert(header::COOKIE, HeaderValue::from_str(c).expect("ascii"));
        }
        h
    }

    #[test]
    fn quality_values_order_the_languages() {
        let p = preferred(None, &headers("fr;q=0.5, de-AT, en;q=0.1", None));
        assert_eq!(p, ["de-at", "de", "fr", "en"]);
    }

    #[test]
    fn the_picker_and_cookie_win_over_the_header() {
        let p = preferred(Some("es"), &headers("de", Some("hd_lang=pt-BR")));
        assert_eq!(p[..3], ["es", "pt-br", "de"]);
    }

    #[test]
    fn junk_is_ignored_and_english_is_the_fallback() {
        let p = preferred(Some("<script>"), &headers("*, x;q=abc, 12", None));
        assert_eq!(p, ["en"]);
        assert_eq!(pick(&p, &["de".into(), "en".into()]).as_deref(), Some("en"));
        let p = preferred(None, &headers("pt-BR", None));
        assert_eq!(pick(&p, &["pt".into()]).as_deref(), Some("pt"));
    }
}
