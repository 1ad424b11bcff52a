//! The values through which providers reach the network, the host's
//! [`HttpTransport`], and the sans-IO [`Simulator`].
//!
//! Providers never open sockets: they describe an [`HttpRequest`] and get an
//! [`HttpResponse`] (or a [`TransportError`]) back from the host.

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An HTTP header (name, value). Names compare case-insensitively.
pub type Header = (String, String);

/// A request a provider wants sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Headers in order.
    #[serde(default)]
    pub headers: Vec<Header>,
    /// Body bytes (UTF-8 text on the JSON boundary when possible, else base64).
    #[serde(default, with = "body")]
    #[schemars(with = "body::Schema")]
    pub body: Vec<u8>,
    /// Per-request timeout in milliseconds (the account's `timeout_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl HttpRequest {
    /// A `POST` of `body` with the given content type.
    pub fn post(
        url: impl Into<String>,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> HttpRequest {
        HttpRequest {
            method: "POST".into(),
            url: url.into(),
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            timeout_ms: None,
        }
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The URL's path (`/api/services/OrderReturn`), without query.
    pub fn path(&self) -> &str {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        let path = rest.find('/').map_or("/", |i| &rest[i..]);
        path.split(['?', '#']).next().unwrap_or("/")
    }
}

/// A response the host received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Headers in order.
    #[serde(default)]
    pub headers: Vec<Header>,
    /// Body bytes.
    #[serde(default, with = "body")]
    #[schemars(with = "body::Schema")]
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with a body and content type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> HttpResponse {
        HttpResponse::new(status, "application/json; charset=utf-8", value.to_string())
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// True for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn find_header<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Bodies cross the JSON boundary as a string when they are UTF-8, otherwise
/// as `{"base64": "..."}`.
mod body {
    use super::*;

    /// The schema of a body: text, or `{"base64": "..."}`.
    #[derive(schemars::JsonSchema)]
    #[serde(untagged)]
    #[allow(dead_code)]
    pub enum Schema {
        Text(String),
        B64 { base64: String },
    }

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(bytes) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                let mut map = serde_json::Map::new();
                map.insert(
                    "base64".into(),
                    base64::engine::general_purpose::STANDARD
                        .encode(bytes)
                        .into(),
                );
                map.serialize(s)
            }
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            B64 { base64: String },
        }
        match Repr::deserialize(d)? {
            Repr::Text(t) => Ok(t.into_bytes()),
            Repr::B64 { base64 } => base64::engine::general_purpose::STANDARD
                .decode(base64)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// How a request failed in transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransportErrorKind {
    /// The connection could not be made (refused, DNS, TLS handshake): the
    /// request surely did not reach the provider.
    Connect,
    /// No complete response within the timeout after the request was sent:
    /// the provider may have acted.
    Timeout,
    /// The connection broke after the request was (possibly) sent, or the
    /// response could not be read.
    Io,
    /// The request itself was unusable (bad URL, bad header); nothing was sent.
    InvalidRequest,
}

/// A transport failure.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error, schemars::JsonSchema,
)]
#[error("{kind:?}: {message}")]
pub struct TransportError {
    /// What went wrong.
    pub kind: TransportErrorKind,
    /// Details for logs and outcomes (never contains credentials).
    pub message: String,
}

impl TransportError {
    /// A transport error of `kind`.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> TransportError {
        TransportError {
            kind,
            message: message.into(),
        }
    }

    /// True when the request may have reached the provider, so the operation's
    /// outcome is `unknown` rather than `failed` (the contract's rule).
    pub fn maybe_sent(&self) -> bool {
        matches!(
            self.kind,
            TransportErrorKind::Timeout | TransportErrorKind::Io
        )
    }
}

/// The host's way to the network. The host implements it (reqwest, rustls,
/// pooling, timeouts); tests implement it with loopback servers or fault
/// injection.
#[async_trait::async_trait]
pub trait HttpTransport: Send + Sync {
    /// Sends one request and returns the complete response.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// A provider's simulator: the provider's HTTP API over in-memory state,
/// sans-IO. The host serves it on loopback for `payops sandbox` and tests.
pub trait Simulator: Send {
    /// Answers one request as the provider would, at time `now`.
    fn handle(
        &mut self,
        request: &HttpRequest,
        now: chrono::DateTime<chrono::FixedOffset>,
    ) -> HttpResponse;

    /// Adds test data (payments, orders, accounts) described by a
    /// provider-specific JSON document.
    fn seed(&mut self, document: &serde_json::Value) -> Result<(), String>;

    /// The simulator's whole state as JSON (ledger of every operation), for
    /// tests and the sandbox.
    fn state(&self) -> serde_json::Value;

    /// Demo accounts (account config without `provider`, `base_url` filled in
    /// by the host) that work against this simulator, by name.
    fn demo_accounts(&self) -> serde_json::Value;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_cross_as_text_or_base64() {
        let mut r = HttpRequest::post(
            "http://h:1/api/services/OrderReturn?x=1",
            "application/json",
            "{\"a\":1}",
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["body"], "{\"a\":1}");
        assert_eq!(serde_json::from_value::<HttpRequest>(v).unwrap(), r);
        r.body = vec![0xff, 0x00, 0x41];
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["body"]["base64"], "/wBB");
        assert_eq!(serde_json::from_value::<HttpRequest>(v).unwrap(), r);
        assert_eq!(r.path(), "/api/services/OrderReturn");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }

    #[test]
    fn failed_vs_unknown_rule() {
        assert!(!TransportError::new(TransportErrorKind::Connect, "refused").maybe_sent());
        assert!(!TransportError::new(TransportErrorKind::InvalidRequest, "bad url").maybe_sent());
        assert!(TransportError::new(TransportErrorKind::Timeout, "30s").maybe_sent());
        assert!(TransportError::new(TransportErrorKind::Io, "reset").maybe_sent());
    }
}
