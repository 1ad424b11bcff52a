//! The values through which providers reach the network, the
//! `HttpTransport` (the host's, in `driver`), and the sans-IO [`Simulator`].
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
    /// True for a request that changes nothing at the provider (a token
    /// request, a read before the operation's own request). The host
    /// counts only requests that are not safe as "sent" for an operation
    /// that moves money: a `failed` outcome after safe requests alone is a
    /// refusal, never a failed payment. Absent (plugins built before it):
    /// not safe.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub safe: bool,
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
            safe: false,
        }
    }

    /// A `GET` of `url` (no body).
    pub fn get(url: impl Into<String>) -> HttpRequest {
        HttpRequest::bodyless("GET", url)
    }

    /// A `DELETE` of `url` (no body).
    pub fn delete(url: impl Into<String>) -> HttpRequest {
        HttpRequest::bodyless("DELETE", url)
    }

    /// A `PUT` of `body` with the given content type.
    pub fn put(
        url: impl Into<String>,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> HttpRequest {
        HttpRequest {
            method: "PUT".into(),
            ..HttpRequest::post(url, content_type, body)
        }
    }

    fn bodyless(method: &str, url: impl Into<String>) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: None,
            safe: false,
        }
    }

    /// Marks the request safe: it changes nothing at the provider (see
    /// [`HttpRequest::safe`]).
    pub fn safe(mut self) -> HttpRequest {
        self.safe = true;
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> HttpRequest {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Appends query parameters, each name and value percent-encoded (every
    /// byte but RFC 3986's unreserved `A-Z a-z 0-9 - . _ ~`), after any query
    /// the URL already has and before any fragment.
    pub fn with_query<'a>(
        mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> HttpRequest {
        // A fragment stays last.
        let fragment = self.url.find('#').map(|i| self.url.split_off(i));
        for (name, value) in pairs {
            let sep = if self.url.contains('?') { '&' } else { '?' };
            self.url
                .push_str(&format!("{sep}{}={}", encode(name), encode(value)));
        }
        if let Some(f) = fragment {
            self.url.push_str(&f);
        }
        self
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The URL's query parameters, percent-decoded, in order (`+` is a space,
    /// as in forms). Invalid UTF-8 is replaced, never an error.
    pub fn query(&self) -> Vec<(String, String)> {
        let Some((_, query)) = self.url.split('#').next().unwrap_or("").split_once('?') else {
            return Vec::new();
        };
        // The same decoding as form bodies (`crate::kit::form`).
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    /// The first query parameter called `name`, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The headers with every credential header's value replaced by
    /// `[REDACTED]` (see [`is_credential_header`]): what a plugin may put in
    /// an outcome's `raw` or a log.
    pub fn redacted_headers(&self) -> Vec<Header> {
        redact_headers(&self.headers)
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

/// Percent-encodes one URL path segment or query component: every byte but
/// RFC 3986's unreserved characters, so `/`, `?`, `#`, `%` and `&` cannot
/// change the URL's structure. `format!("{base}/payments/{}", path_segment(id))`.
pub fn path_segment(segment: &str) -> String {
    encode(segment)
}

fn encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// The header-credential convention: a header is a credential when its name
/// is `Authorization`, `Proxy-Authorization`, `Cookie` or `Set-Cookie`, or
/// contains `key`, `token`, `secret`, `signature`, `password` or `auth`
/// (case-insensitive), except `Idempotency-Key`. Such headers are blanked by
/// [`HttpRequest::redacted_headers`], as body credential fields are by
/// [`crate::kit::redact`].
pub fn is_credential_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    // A replay key, not a secret, though its name says "key".
    if n == "idempotency-key" {
        return false;
    }
    matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    ) || ["key", "token", "secret", "signature", "password", "auth"]
        .iter()
        .any(|w| n.contains(w))
}

/// `headers` with every credential header's value replaced by `[REDACTED]`.
pub fn redact_headers(headers: &[Header]) -> Vec<Header> {
    headers
        .iter()
        .map(|(n, v)| {
            let v = if is_credential_header(n) {
                crate::secret::REDACTED.to_owned()
            } else {
                v.clone()
            };
            (n.clone(), v)
        })
        .collect()
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

    /// Time passes: the requests the provider would now post on its own
    /// (callbacks with asynchronous results, to the URLs it was given).
    /// The simulator stays sans-IO: the host sends them. The default posts
    /// nothing.
    fn tick(&mut self, _now: chrono::DateTime<chrono::FixedOffset>) -> Vec<HttpRequest> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_put_delete_and_headers() {
        let g = HttpRequest::get("https://api.example/v2/payment/detail")
            .with_header("Accept", "application/json");
        assert_eq!((g.method.as_str(), g.body.len()), ("GET", 0));
        assert_eq!(g.header("accept"), Some("application/json"));
        let d = HttpRequest::delete("https://api.example/x");
        assert_eq!(d.method, "DELETE");
        assert!(d.headers.is_empty());
        let p = HttpRequest::put("https://api.example/x", "application/json", "{}");
        assert_eq!(p.method, "PUT");
        assert_eq!(p.header("content-type"), Some("application/json"));
        assert_eq!(p.body, b"{}");
    }

    #[test]
    fn query_strings_are_encoded_and_decoded() {
        let r = HttpRequest::get("https://api.example/payment/detail")
            .with_query([("paymentId", "12 34"), ("locale", "tr")])
            .with_query([("conversationId", "a&b=c/ç~")]);
        assert_eq!(
            r.url,
            "https://api.example/payment/detail?paymentId=12%2034&locale=tr\
             &conversationId=a%26b%3Dc%2F%C3%A7~"
        );
        assert_eq!(r.path(), "/payment/detail");
        assert_eq!(
            r.query(),
            vec![
                ("paymentId".to_owned(), "12 34".to_owned()),
                ("locale".to_owned(), "tr".to_owned()),
                ("conversationId".to_owned(), "a&b=c/ç~".to_owned()),
            ]
        );
        assert_eq!(r.query_param("locale").as_deref(), Some("tr"));
        assert_eq!(r.query_param("missing"), None);
        // Form-style `+`, a bare name, a fragment and bad escapes.
        let f = HttpRequest::get("http://h/p?a=1+2&flag&b=%ZZ%E2#frag");
        assert_eq!(
            f.query(),
            vec![
                ("a".to_owned(), "1 2".to_owned()),
                ("flag".to_owned(), String::new()),
                ("b".to_owned(), "%ZZ\u{fffd}".to_owned()),
            ]
        );
        assert!(HttpRequest::get("http://h/p").query().is_empty());
        let frag = HttpRequest::get("http://h/p?a=1#top").with_query([("b", "2")]);
        assert_eq!(frag.url, "http://h/p?a=1&b=2#top");
    }

    #[test]
    fn path_segments_cannot_change_the_url_structure() {
        assert_eq!(path_segment("ord-1_2.3~"), "ord-1_2.3~");
        assert_eq!(path_segment("../a/b?c#d%e"), "..%2Fa%2Fb%3Fc%23d%25e");
        assert_eq!(path_segment("şğ ü"), "%C5%9F%C4%9F%20%C3%BC");
    }

    #[test]
    fn credential_headers_are_redacted() {
        let r = HttpRequest::get("https://api.example/x")
            .with_header("Authorization", "IYZWSv2 YXBpS2V5OnNhbmRib3g=")
            .with_header("x-iyzi-rnd", "1700000000000")
            .with_header("X-Api-Key", "k-123")
            .with_header("X-Auth-Token", "t-456")
            .with_header("X-Signature", "sig")
            .with_header("Cookie", "s=1")
            .with_header("Content-Type", "application/json");
        let red = r.redacted_headers();
        let value = |n: &str| find_header(&red, n).unwrap().to_owned();
        for n in [
            "Authorization",
            "X-Api-Key",
            "X-Auth-Token",
            "X-Signature",
            "Cookie",
        ] {
            assert_eq!(value(n), "[REDACTED]", "{n}");
        }
        assert_eq!(value("x-iyzi-rnd"), "1700000000000");
        assert!(!is_credential_header("Idempotency-Key"));
        assert_eq!(value("Content-Type"), "application/json");
        let text = format!("{red:?}");
        for secret in ["YXBpS2V5", "k-123", "t-456", "sig\""] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

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
