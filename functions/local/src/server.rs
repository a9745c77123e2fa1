//! The self-hosted HTTP server: hyper's HTTP/1 connections (upgrades allowed) under limits a
//! slow or hostile client cannot stretch:
//!
//! - the request head must arrive within `header_read_timeout` of the server starting to wait
//!   for it. It is hyper's own deadline for the whole head, not reset by each byte (a slowloris
//!   trickling one byte a second is cut), and hyper starts it again when a keep-alive connection
//!   goes idle, so it is the idle timeout too;
//! - a request body must arrive within `body_timeout` of its head, plus one second per
//!   `body_min_rate` bytes received (a large upload on a slow link goes through, a trickle does
//!   not). A body cut short is answered `408` and the connection closed. tower-http's
//!   `RequestBodyTimeoutLayer` restarts its timer at every chunk, so a trickle would never
//!   trip it: hence the small [`DeadlineBody`] here;
//! - at most `max_connections` connections at once (a semaphore); one more is answered `503`
//!   with `Connection: close` and closed, without reading its request.
//!
//! hyper's `http1::Builder` is used directly rather than hyper-util's `auto::Builder`: with
//! upgrades, the latter first sniffs for an HTTP/2 preface with no timer running, so a client
//! that connects and sends nothing would be held forever.

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// The HTTP server's limits (see the module documentation and README, configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// The whole request head must arrive within this time; also the keep-alive idle timeout.
    pub header_read_timeout: Duration,
    /// A request body must arrive within this time of its head (plus the allowance below).
    pub body_timeout: Duration,
    /// Bytes per second a body must keep up: each `body_min_rate` bytes received extend its
    /// deadline by one second.
    pub body_min_rate: u64,
    /// Connections served at once; more are refused with `503`.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            body_min_rate: 16 * 1024,
            max_connections: 1024,
        }
    }
}

/// Refused connections being answered at once; beyond that they are closed without a word.
const REFUSALS_IN_FLIGHT: usize = 64;
/// How long a refused connection gets to read its `503` before it is closed.
const REFUSAL_LINGER: Duration = Duration::from_secs(2);

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets
/// in-flight requests finish, closes idle connections and returns once every connection is
/// closed. Requests carry `ConnectInfo<SocketAddr>` (the TCP peer).
pub(crate) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The semaphore bounds the connections and, at shutdown, tells when they are all closed.
    let max =
        u32::try_from(limits.max_connections.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
    let connections = Arc::new(Semaphore::new(max as usize));
    let refusals = Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT));
    let (stop, stopping) = watch::channel(());
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut saturated = false;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            if !saturated {
                tracing::warn!(
                    max_connections = max,
                    "HTTP connection limit reached; refusing new connections with 503"
                );
                saturated = true;
            }
            refuse(stream, &refusals);
            continue;
        };
        saturated = false;
        let service = connection_service(router.clone(), peer, limits);
        let conn = http1
            .serve_connection(
                TokioIo::new(crate::parse_errors::ProblemIo::new(stream)),
                service,
            )
            .with_upgrades();
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = stopping.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "HTTP connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(());
    // Every connection task holds a permit until its connection is closed.
    let _ = connections.acquire_many(max).await;
    Ok(())
}

/// The per-connection service: the peer as `ConnectInfo`, the body under its deadline, and a
/// `408` when that deadline passed.
fn connection_service(
    router: axum::Router,
    peer: SocketAddr,
    limits: HttpLimits,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |request: Request<Incoming>| {
        let router = router.clone();
        async move {
            let (mut parts, body) = request.into_parts();
            parts.extensions.insert(ConnectInfo(peer));
            let expired = Arc::new(AtomicBool::new(false));
            let body = if body.is_end_stream() {
                axum::body::Body::new(body)
            } else {
                axum::body::Body::new(DeadlineBody::new(body, limits, expired.clone()))
            };
            let response = match router.oneshot(Request::from_parts(parts, body)).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            if expired.load(Ordering::Relaxed) {
                return Ok(body_timeout_response());
            }
            Ok(response)
        }
    })
}

fn body_timeout_response() -> Response {
    let mut response = helpdesk_http::Problem::new(
        StatusCode::REQUEST_TIMEOUT,
        "request-timeout",
        "Request timeout",
        "The request body did not arrive in time.",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Accept errors: a connection that failed before it was accepted is nobody's concern; others
/// (e.g. out of file descriptors) are logged and waited out, as `axum::serve` does.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting an HTTP connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The answer to a connection over the limit (a problem+json like every other error).
static REFUSAL: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    let body = r#"{"type":"https://helpdesk.dev/problems/overloaded","title":"Too many connections","status":503,"detail":"The server is at its connection limit; try again shortly."}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

/// Answers a connection over the limit with `503`, then reads (and drops) what the client sent
/// until it closes, so that closing does not reset the connection before the client has read
/// the answer. Bounded in time and in number; past that the connection is just closed.
fn refuse(mut stream: TcpStream, in_flight: &Arc<Semaphore>) {
    let Ok(permit) = in_flight.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(REFUSAL_LINGER, async {
            stream.write_all(&REFUSAL).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 1024];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<_, std::io::Error>(())
        })
        .await;
    });
}

/// A request body that must arrive by a deadline: `body_timeout` after the head, plus one
/// second per `body_min_rate` bytes received. Past it, reading fails and `expired` is set.
struct DeadlineBody {
    inner: Incoming,
    start: Instant,
    limits: HttpLimits,
    received: u64,
    /// Seconds the deadline has been extended by so far.
    extension: u64,
    deadline: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
}

impl DeadlineBody {
    fn new(inner: Incoming, limits: HttpLimits, expired: Arc<AtomicBool>) -> Self {
        let start = Instant::now();
        Self {
            inner,
            start,
            limits,
            received: 0,
            extension: 0,
            deadline: Box::pin(tokio::time::sleep_until(start + limits.body_timeout)),
            expired,
        }
    }

    fn on_data(&mut self, bytes: usize) {
        self.received = self
            .received
            .saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
        let extension = self.received / self.limits.body_min_rate.max(1);
        if extension == self.extension {
            return;
        }
        self.extension = extension;
        if let Some(deadline) = self
            .start
            .checked_add(self.limits.body_timeout)
            .and_then(|d| d.checked_add(Duration::from_secs(extension)))
        {
            self.deadline.as_mut().reset(deadline);
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimeout;

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.on_data(data.len());
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_ready() {
                    this.expired.store(true, Ordering::Relaxed);
                    return Poll::Ready(Some(Err(BodyTimeout.into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
