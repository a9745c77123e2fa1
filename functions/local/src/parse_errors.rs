//! Requests that hyper cannot parse never reach the router: hyper answers them itself, with an
//! empty body — 400 (bad request line or header), 414 (a URL over 65,534 bytes, the `http`
//! crate's limit) or 431 (headers over the read buffer). The API's rule is that every error is a
//! problem document naming what was wrong, so `server::serve` wraps each connection in a
//! [`ProblemIo`], which rewrites exactly those automatic answers into `application/problem+json`
//! ones.
//!
//! How they are recognised: hyper's automatic answer is the only response that has one of these
//! statuses, `content-length: 0` and no `content-type` (every error the router sends is a
//! problem document, with a body and a content type). Nothing else is touched; after such an
//! answer hyper closes the connection, so the rewrite is the last thing written on it.

use axum::http::StatusCode;
use helpdesk_http::Problem;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection that rewrites hyper's automatic error answers (see the module docs).
pub struct ProblemIo<S> {
    inner: S,
    /// A rewritten answer still to be written, and how much of it has been.
    pending: Vec<u8>,
    sent: usize,
}

impl<S> ProblemIo<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            sent: 0,
        }
    }
}

impl<S: AsyncWrite + Unpin> ProblemIo<S> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Queues the rewrite of `head`, if it is one of hyper's answers; reports all of it written.
    fn take_rewrite(&mut self, cx: &mut Context<'_>, head: &[u8]) -> Option<io::Result<usize>> {
        let rewritten = rewrite(head)?;
        self.pending = rewritten;
        self.sent = 0;
        // Start writing now; whatever is left goes out on the next write, flush or shutdown.
        match self.poll_drain(cx) {
            Poll::Ready(Err(e)) => Some(Err(e)),
            _ => Some(Ok(head.len())),
        }
    }
}

/// The problem document for one of hyper's automatic answers, or None for any other response.
fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let headers_end = text.find("\r\n\r\n")?;
    if headers_end + 4 != text.len() {
        return None; // it has a body: the router's
    }
    let mut lines = text[..headers_end].split("\r\n");
    let status_line = lines.next()?;
    let code = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))?
        .get(..3)?;
    let (status, kind, title, detail, field) = match code {
        "400" => (
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            "the request line or a header is not valid HTTP/1.1",
            "request",
        ),
        "414" => (
            StatusCode::URI_TOO_LONG,
            "uri-too-long",
            "URI too long",
            "the URL is longer than the 65,534 bytes the server reads; send long input in a body",
            "url",
        ),
        "431" => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            "Request headers too large",
            "the request's headers are larger than the server reads",
            "headers",
        ),
        _ => return None,
    };
    let mut kept = Vec::new();
    let mut empty = false;
    for line in lines {
        let name = line.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("content-type") {
            return None; // the router's, not hyper's
        }
        if name.eq_ignore_ascii_case("content-length") {
            empty = line[name.len()..].trim_start_matches(':').trim() == "0";
            continue;
        }
        if name.eq_ignore_ascii_case("connection") {
            continue;
        }
        kept.push(line);
    }
    if !empty {
        return None;
    }
    let mut problem = Problem::new(status, kind, title, detail);
    problem.field = Some(field.into());
    let body = serde_json::to_vec(&problem).ok()?;
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(status_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    for line in kept {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"content-type: application/problem+json\r\n");
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out.extend_from_slice(&body);
    Some(out)
}

impl<S: AsyncRead + Unpin> AsyncRead for ProblemIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ProblemIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if let Some(done) = this.take_rewrite(cx, buf) {
            return Poll::Ready(done);
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        // hyper's answer has no body: all of it is one slice (the head).
        let mut non_empty = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (non_empty.next(), non_empty.next()) {
            if let Some(done) = this.take_rewrite(cx, only) {
                return Poll::Ready(done);
            }
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_hypers_empty_answers() {
        let hyper = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Mon, 01 Jan 2029 00:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite(hyper).expect("rewritten")).expect("utf8");
        assert!(out.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{out}");
        assert!(out.contains("content-type: application/problem+json\r\n"));
        assert!(out.contains("date: Mon, 01 Jan 2029"));
        let (head, body) = out.split_once("\r\n\r\n").expect("head and body");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let p: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(p["status"], 414);
        assert_eq!(p["field"], "url");

        // The router's answers (a body, or a content type) and other statuses are left alone.
        for other in [
            &b"HTTP/1.1 414 URI Too Long\r\ncontent-type: application/problem+json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n",
        ] {
            assert!(rewrite(other).is_none(), "{}", String::from_utf8_lossy(other));
        }
    }
}
