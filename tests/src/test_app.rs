//! `TestApp`: the real self-hosted application on port 0 against a fresh data directory, driven
//! over HTTP. Tests read like use cases: `app.create_ticket(&agent, json!({...}))`.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub struct TestApp {
    pub base: String,
    /// The HTTP listener's address (`base` without the scheme).
    pub addr: std::net::SocketAddr,
    /// The SMTP listener's address, when the configuration asked for one.
    pub smtp: Option<std::net::SocketAddr>,
    pub client: reqwest::Client,
    pub data: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// A response: status, headers and parsed JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// [`TestApp::sign_in_requests_processed`] for the server on the data directory `data`.
pub async fn sign_in_requests_processed(data: &std::path::Path) {
    use helpdesk_adapters::local::queue::{QueueSettings, SqliteQueue, SIGN_IN};
    let queue = SqliteQueue::open(
        helpdesk::database_path(data),
        SIGN_IN,
        QueueSettings::default(),
    )
    .expect("sign-in queue");
    for _ in 0..2000 {
        if queue.pending().await.expect("pending") == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("sign-in requests still queued after 20 s");
}

impl TestApp {
    /// The app without its routing worker: tickets stay as their test made them (routing is
    /// still available on demand, `POST /api/v1/routing/tickets/{id}`).
    pub async fn spawn() -> TestApp {
        Self::spawn_with(false).await
    }

    /// The app as `serve` runs it, routing worker included.
    pub async fn spawn_with_routing() -> TestApp {
        Self::spawn_with(true).await
    }

    async fn spawn_with(routing_worker: bool) -> TestApp {
        Self::spawn_configured(|config| config.routing_worker = routing_worker).await
    }

    /// The app with its configuration adjusted by `configure` (e.g. short timeouts, an SMTP
    /// listener); starts from the defaults of [`TestApp::spawn`] (no routing worker).
    pub async fn spawn_configured(configure: impl FnOnce(&mut helpdesk::Config)) -> TestApp {
        let data = tempfile::tempdir().expect("tempdir");
        let mut config =
            helpdesk::Config::new(data.path().to_path_buf(), ([127, 0, 0, 1], 0).into());
        config.routing_worker = false;
        configure(&mut config);
        let app = helpdesk::Application::build(&config)
            .await
            .expect("build app");
        let addr = app.local_addr().expect("addr");
        let smtp = app.smtp_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        TestApp {
            base: format!("http://{addr}"),
            addr,
            smtp,
            client: reqwest::Client::new(),
            data,
            stop: Some(tx),
            server: Some(server),
        }
    }

    /// Asks the server to stop (as SIGTERM does) and waits until `run_until_stopped` returns.
    pub async fn shut_down(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(server) => server.await.expect("server task"),
            None => Ok(()),
        }
    }

    /// Waits until the server's worker has processed every queued help-centre sign-in request
    /// (`/help/signin` answers before the lookup and the mail; once the queue is empty the
    /// links are in the outbox). Panics after 20 s.
    pub async fn sign_in_requests_processed(&self) {
        sign_in_requests_processed(self.data.path()).await
    }

    pub fn token(&self, role: &str, email: Option<&str>) -> String {
        helpdesk::issue_token(self.data.path(), role, email, 3600).expect("token")
    }

    pub fn admin(&self) -> String {
        self.token("admin", Some("admin@example.com"))
    }

    pub fn agent(&self, email: &str) -> String {
        self.token("agent", Some(email))
    }

    pub fn customer(&self, email: &str) -> String {
        self.token("customer", Some(email))
    }

    /// The value of a help-centre `hd_customer` cookie for `email`, sealed with this app's link
    /// secret exactly as the e-mailed sign-in link would (tests skip the e-mail round trip).
    pub async fn customer_cookie(&self, email: &str) -> String {
        let (helpdesk, _, _) = helpdesk::open_helpdesk(self.data.path()).expect("open");
        let helpdesk = helpdesk.with_automation(
            helpdesk::automation_config(self.data.path(), &self.base).expect("links"),
        );
        let email = helpdesk_domain::EmailAddress::parse(email).expect("email");
        // A stored session, as the e-mailed link opens (the help centre checks it on each page).
        let signed = helpdesk
            .start_help_session(&email, 3600)
            .await
            .expect("session");
        let customer = helpdesk_http::help::session::HelpCustomer {
            email,
            expires: signed.expires,
            session_id: signed.session_id,
        };
        helpdesk_http::help::session::seal_customer(&helpdesk, &customer).expect("seal")
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Some(token), None, &[])
            .await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(token), Some(body), &[])
            .await
    }

    pub async fn patch(
        &self,
        path: &str,
        token: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> Reply {
        let headers: Vec<(&str, &str)> =
            if_match.map(|v| vec![("If-Match", v)]).unwrap_or_default();
        self.request(Method::PATCH, path, Some(token), Some(body), &headers)
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::PUT, path, Some(token), Some(body), &[])
            .await
    }

    /// Creates a ticket and returns its JSON (asserting 201).
    pub async fn create_ticket(&self, token: &str, body: Value) -> Value {
        let r = self.post("/api/v1/tickets", token, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "create ticket: {:?}", r.body);
        r.body
    }

    /// A ticket for `customer` with a subject, created by an agent.
    pub async fn ticket_for(&self, token: &str, customer: &str, subject: &str) -> Value {
        self.create_ticket(token, json!({ "subject": subject, "body": "Details of the problem.", "channel": "email", "customer": { "email": customer } })).await
    }

    pub async fn create_agent(&self, email: &str, role: &str) -> Value {
        let r = self.post("/api/v1/agents", &self.admin(), json!({ "email": email, "name": email.split('@').next().unwrap_or("agent"), "role": role, "status": "available" })).await;
        assert_eq!(r.status, StatusCode::CREATED, "create agent: {:?}", r.body);
        r.body
    }

    pub async fn create_department(&self, id: &str) -> Value {
        let r = self
            .post(
                "/api/v1/departments",
                &self.admin(),
                json!({ "id": id, "name": id }),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "create department: {:?}",
            r.body
        );
        r.body
    }

    /// Delivers a raw e-mail the way `helpdesk ingest-email` does, into this app's data
    /// directory (SMTP would do the same; this skips the socket).
    pub async fn ingest_email(&self, name: &str, raw: &[u8]) {
        let file = self.data.path().join(format!("{name}.eml"));
        std::fs::write(&file, raw).expect("write");
        let ok = helpdesk::ingest_paths(
            &helpdesk_compose::Settings::local(self.data.path()),
            &[file],
        )
        .await
        .expect("ingest");
        assert!(ok, "ingest {name}");
    }

    /// Lists tickets with a query string and returns the ticket numbers in order.
    pub async fn list_numbers(&self, token: &str, query: &str) -> Vec<String> {
        let r = self.get(&format!("/api/v1/tickets?{query}"), token).await;
        assert_eq!(r.status, StatusCode::OK, "list {query}: {:?}", r.body);
        r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|t| t["number"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A mail fixture from `tests/fixtures/mail` (see its README).
pub fn mail_fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/mail")
        .join(name);
    std::fs::read(p).expect("fixture")
}
