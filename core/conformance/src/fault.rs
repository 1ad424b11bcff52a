//! A fault-injecting [`HttpTransport`] wrapper for tests (any inner transport:
//! [`crate::SimTransport`] in memory, or the host's HTTP transport): latency, timeouts
//! before and after the provider acts, 5xx (HTML or JSON), truncated bodies,
//! dropped connections, refused connections, answers about another order,
//! stalled bodies, and literal answers copied from a provider's docs.

use std::sync::Mutex;
use std::time::Duration;

use payops_core::{HttpRequest, HttpResponse, HttpTransport, TransportError, TransportErrorKind};

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Pass through.
    None,
    /// Wait, then pass through.
    Latency(Duration),
    /// Nothing reaches the provider: connection refused.
    Refused,
    /// The request never reaches the provider, the caller times out.
    TimeoutBeforeSend,
    /// The provider acts, the answer is lost: timeout.
    TimeoutAfterSend,
    /// The provider acts, the connection drops before the answer.
    DropAfterSend,
    /// The provider acts; a proxy answers 502 with an HTML page.
    HtmlAfterSend,
    /// The provider does not act; a gateway answers 503 with an HTML page.
    Html503BeforeSend,
    /// The provider acts; the answer is cut in half.
    TruncatedAfterSend,
    /// The provider acts; a 500 with a JSON error body comes back.
    Json500AfterSend,
    /// The provider acts; its answer names another order: every occurrence
    /// of the first text in the body is replaced by the second.
    RewriteAfterSend(String, String),
    /// The provider acts; the headers arrive, the body stalls until the
    /// host's read timeout fires.
    SlowBodyAfterSend,
    /// The provider acts (the simulator sees the request); this literal
    /// answer comes back instead of the simulator's: a documented code
    /// copied from the provider's docs.
    Answer(HttpResponse),
}

/// Wraps a transport and applies the next queued fault to each request.
pub struct FaultTransport<T> {
    inner: T,
    queue: Mutex<Vec<Fault>>,
}

impl<T> FaultTransport<T> {
    /// No faults queued.
    pub fn new(inner: T) -> FaultTransport<T> {
        FaultTransport {
            inner,
            queue: Mutex::new(Vec::new()),
        }
    }

    /// Queues a fault for the next request.
    pub fn push(&self, f: Fault) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(0, f);
    }
}

#[async_trait::async_trait]
impl<T: HttpTransport> HttpTransport for FaultTransport<T> {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let fault = self
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or(Fault::None);
        match fault {
            Fault::None => self.inner.send(request).await,
            Fault::Latency(d) => {
                tokio::time::sleep(d).await;
                self.inner.send(request).await
            }
            Fault::Refused => Err(TransportError::new(
                TransportErrorKind::Connect,
                "injected: connection refused",
            )),
            Fault::TimeoutBeforeSend => Err(TransportError::new(
                TransportErrorKind::Timeout,
                "injected: timeout before the provider acted",
            )),
            Fault::TimeoutAfterSend => {
                let _ = self.inner.send(request).await;
                Err(TransportError::new(
                    TransportErrorKind::Timeout,
                    "injected: timeout after the provider acted",
                ))
            }
            Fault::DropAfterSend => {
                let _ = self.inner.send(request).await;
                Err(TransportError::new(
                    TransportErrorKind::Io,
                    "injected: connection reset",
                ))
            }
            Fault::HtmlAfterSend => {
                let _ = self.inner.send(request).await;
                Ok(HttpResponse::new(
                    502,
                    "text/html",
                    "<html><body><h1>502 Bad Gateway</h1></body></html>",
                ))
            }
            Fault::Html503BeforeSend => Ok(HttpResponse::new(
                503,
                "text/html",
                "<html><body><h1>503 Service Unavailable</h1></body></html>",
            )),
            Fault::TruncatedAfterSend => {
                let mut r = self.inner.send(request).await?;
                let half = r.body.len() / 2;
                r.body.truncate(half);
                Ok(r)
            }
            Fault::Json500AfterSend => {
                let _ = self.inner.send(request).await;
                Ok(HttpResponse::new(
                    500,
                    "application/json",
                    r#"{"error":"internal server error"}"#,
                ))
            }
            Fault::RewriteAfterSend(from, to) => {
                let mut r = self.inner.send(request).await?;
                if let Ok(text) = std::str::from_utf8(&r.body) {
                    r.body = text.replace(from.as_str(), &to).into_bytes();
                }
                Ok(r)
            }
            Fault::SlowBodyAfterSend => {
                let _ = self.inner.send(request).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
                Err(TransportError::new(
                    TransportErrorKind::Timeout,
                    "injected: the body stalled past the read timeout",
                ))
            }
            Fault::Answer(answer) => {
                let _ = self.inner.send(request).await;
                Ok(answer)
            }
        }
    }
}
