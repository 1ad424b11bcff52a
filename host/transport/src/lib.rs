//! # payops-transport
//!
//! The host side of the IO that providers never do themselves:
//!
//! - [`ReqwestTransport`]: the production [`HttpTransport`] (reqwest, rustls
//!   with the *ring* provider, connection pooling, per-request timeouts) which
//!   classifies failures by the contract's rule: a connect error is
//!   `Connect` (nothing was sent, the operation is `failed`), a timeout or a
//!   broken connection after sending is `Timeout`/`Io` (`unknown`).
//! - [`SimServer`]: serves any provider [`Simulator`] over loopback HTTP, for
//!   `payops sandbox` and for tests.

#![warn(missing_docs)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset};
use payops_core::{
    HttpRequest, HttpResponse, HttpTransport, Simulator, TransportError, TransportErrorKind,
};

/// Default timeout for a request without `timeout_ms` (30 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed to establish a connection (TCP + TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest response body read (1 MiB); larger answers are an `Io` error.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The production transport.
#[derive(Clone, Debug)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    default_timeout: Duration,
    max_body: usize,
}

impl ReqwestTransport {
    /// A transport with pooled connections and the default timeouts.
    pub fn new() -> Result<ReqwestTransport, String> {
        // reqwest is built without a bundled crypto provider; use ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("payops/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        Ok(ReqwestTransport {
            client,
            default_timeout: DEFAULT_TIMEOUT,
            max_body: MAX_RESPONSE_BYTES,
        })
    }

    /// Sets the largest response body read, in bytes.
    pub fn with_max_body(mut self, bytes: usize) -> ReqwestTransport {
        self.max_body = bytes;
        self
    }

    /// Sets the timeout used when a request has no `timeout_ms`.
    pub fn with_default_timeout(mut self, timeout: Duration) -> ReqwestTransport {
        self.default_timeout = timeout;
        self
    }
}

fn classify(e: &reqwest::Error) -> TransportErrorKind {
    if e.is_builder() || e.is_request() && !e.is_timeout() && !e.is_connect() && e.url().is_none() {
        TransportErrorKind::InvalidRequest
    } else if e.is_connect() {
        TransportErrorKind::Connect
    } else if e.is_timeout() {
        TransportErrorKind::Timeout
    } else {
        TransportErrorKind::Io
    }
}

fn describe(e: &reqwest::Error) -> String {
    // The URL is the provider endpoint (no credentials: they travel in bodies).
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[async_trait::async_trait]
impl HttpTransport for ReqwestTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|e| {
            TransportError::new(
                TransportErrorKind::InvalidRequest,
                format!("bad method: {e}"),
            )
        })?;
        let timeout = request
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(self.default_timeout);
        let mut builder = self.client.request(method, &request.url).timeout(timeout);
        for (k, v) in &request.headers {
            builder = builder.header(k, v);
        }
        let response = builder
            .body(request.body)
            .send()
            .await
            .map_err(|e| TransportError::new(classify(&e), describe(&e)))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let read_error = |e: reqwest::Error| {
            let kind = if e.is_timeout() {
                TransportErrorKind::Timeout
            } else {
                TransportErrorKind::Io
            };
            TransportError::new(kind, format!("reading the response body: {}", describe(&e)))
        };
        // Read at most `max_body` bytes: a provider answer is a few KiB, and
        // a server that streams without end must not exhaust memory. Past
        // the limit the request was sent, so the error is `Io` (`unknown`).
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(read_error)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(TransportError::new(
                    TransportErrorKind::Io,
                    format!(
                        "the response body exceeds {} bytes; not read",
                        self.max_body
                    ),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

type Clock = Arc<dyn Fn() -> DateTime<FixedOffset> + Send + Sync>;

#[derive(Clone)]
struct SimState {
    sim: Arc<Mutex<Box<dyn Simulator>>>,
    clock: Arc<Mutex<Clock>>,
}

/// The wall clock in Turkish time (+03:00).
pub fn turkey_now() -> DateTime<FixedOffset> {
    chrono::Utc::now().with_timezone(&payops_core::turkey_offset())
}

/// A simulator served over loopback HTTP. Dropping it stops the server.
pub struct SimServer {
    addr: SocketAddr,
    state: SimState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl SimServer {
    /// Serves `sim` on `addr` (use `127.0.0.1:0` for any free port).
    pub async fn start(sim: Box<dyn Simulator>, addr: SocketAddr) -> std::io::Result<SimServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = SimState {
            sim: Arc::new(Mutex::new(sim)),
            clock: Arc::new(Mutex::new(Arc::new(turkey_now) as Clock)),
        };
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(SimServer {
            addr,
            state,
            shutdown: Some(tx),
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs `f` with the simulator (to seed data or read its state).
    pub fn with_sim<T>(&self, f: impl FnOnce(&mut dyn Simulator) -> T) -> T {
        let mut guard = self.state.sim.lock().unwrap_or_else(|p| p.into_inner());
        f(guard.as_mut())
    }

    /// Time passes at the simulator's clock: the requests it would post now
    /// (callbacks), for the host to send.
    pub fn tick(&self) -> Vec<payops_core::HttpRequest> {
        let now = (self
            .state
            .clock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone())();
        self.with_sim(|s| s.tick(now))
    }

    /// Replaces the simulator's clock (tests use it to move to another day).
    pub fn set_clock(&self, clock: impl Fn() -> DateTime<FixedOffset> + Send + Sync + 'static) {
        *self.state.clock.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(clock);
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn handle(
    State(state): State<SimState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let request = HttpRequest {
        method: method.to_string(),
        url: format!("http://{host}{uri}"),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        timeout_ms: None,
        safe: false,
    };
    let now = {
        let clock = state
            .clock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        clock()
    };
    let response = {
        let mut sim = state.sim.lock().unwrap_or_else(|p| p.into_inner());
        sim.handle(&request, now)
    };
    let mut out = Response::builder()
        .status(StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    for (k, v) in &response.headers {
        out = out.header(k, v);
    }
    out.body(axum::body::Body::from(response.body))
        .unwrap_or_else(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
}

/// Retries a request only when the provider surely did not act: the
/// connection could not be made (`Connect`), so nothing was sent. Timeouts,
/// cut connections and every answer are returned as they are, never retried.
pub struct RetryConnect<T> {
    inner: T,
    attempts: u32,
    backoff: Duration,
}

impl<T> RetryConnect<T> {
    /// Up to `attempts` tries in all, waiting `backoff`, 2×`backoff`, … between them.
    pub fn new(inner: T, attempts: u32, backoff: Duration) -> RetryConnect<T> {
        RetryConnect {
            inner,
            attempts: attempts.max(1),
            backoff,
        }
    }
}

#[async_trait::async_trait]
impl<T: HttpTransport> HttpTransport for RetryConnect<T> {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut wait = self.backoff;
        for attempt in 1..=self.attempts {
            match self.inner.send(request.clone()).await {
                Err(e) if e.kind == TransportErrorKind::Connect && attempt < self.attempts => {
                    tracing::warn!(attempt, error = %e.message, "provider unreachable (nothing sent); retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                other => return other,
            }
        }
        unreachable!("the loop returns on the last attempt")
    }
}
