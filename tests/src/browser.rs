//! A cookie-keeping HTTP client for the console's handlers: signs in through the real login
//! form (double-submit cookie), keeps the session cookie, reads the CSRF token from a page.

use crate::TestApp;
use reqwest::{redirect::Policy, StatusCode};

pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    pub session: Option<String>,
}

pub fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = html.find(start)? + start.len();
    let j = html[i..].find(end)? + i;
    Some(&html[i..j])
}

pub fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.to_string())
}

/// A `multipart/form-data` body (content type, bytes) with plain fields and at most one file
/// part named `file`: `(file name, content type, bytes)`.
pub fn multipart_body(
    file: Option<(&str, &str, &[u8])>,
    fields: &[(&str, &str)],
) -> (String, Vec<u8>) {
    let boundary = "----helpdesk-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, ct, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {ct}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl Browser {
    /// Posts a multipart form (a file upload) with the session cookie.
    pub async fn post_multipart(
        &self,
        path: &str,
        file: Option<(&str, &str, &[u8])>,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let (content_type, body) = multipart_body(file, fields);
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(s) = &self.session {
            req = req.header("cookie", format!("hd_session={s}"));
        }
        req.send().await.expect("send")
    }

    pub fn new(app: &TestApp) -> Self {
        Browser {
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            base: app.base.clone(),
            session: None,
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String, reqwest::header::HeaderMap) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(s) = &self.session {
            req = req.header("cookie", format!("hd_session={s}"));
        }
        let resp = req.send().await.expect("send");
        let status = resp.status();
        let headers = resp.headers().clone();
        (status, resp.text().await.unwrap_or_default(), headers)
    }

    pub async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        extra_headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.client.post(format!("{}{path}", self.base)).form(form);
        if let Some(s) = &self.session {
            req = req.header("cookie", format!("hd_session={s}"));
        }
        for (k, v) in extra_headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("send")
    }

    /// Signs in through the real form (double-submit cookie) and keeps the session cookie.
    pub async fn sign_in(&mut self, token: &str) -> reqwest::Response {
        let resp = self
            .client
            .get(format!("{}/app/login?next=/app/tickets", self.base))
            .send()
            .await
            .expect("send");
        let cookie = set_cookie(&resp, "hd_login").expect("login cookie");
        let value = between(&cookie, "hd_login=", ";")
            .expect("value")
            .to_string();
        let html = resp.text().await.expect("html");
        let field = between(&html, "name=\"_login\" value=\"", "\"")
            .expect("login field")
            .to_string();
        assert_eq!(field, value);
        let resp = self
            .client
            .post(format!("{}/app/login", self.base))
            .header("cookie", format!("hd_login={value}"))
            .form(&[
                ("_login", field.as_str()),
                ("token", token),
                ("next", "/app/tickets"),
            ])
            .send()
            .await
            .expect("send");
        if let Some(c) = set_cookie(&resp, "hd_session") {
            self.session = between(&c, "hd_session=", ";").map(str::to_string);
        }
        resp
    }

    pub async fn csrf(&self) -> String {
        let (_, html, _) = self.get("/app").await;
        between(&html, "name=\"csrf-token\" content=\"", "\"")
            .expect("csrf meta")
            .to_string()
    }
}
