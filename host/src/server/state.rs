//! What every route shares: the daemon's state, the contract error as a
//! response, the route table's entries, and the listing parameters' checks.
//! The route modules import this one; it imports none of them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use payops_core::Error;

use crate::config::{AuthConfig, Limits, TokenConfig};
use crate::engine::Engine;
use crate::people::oidc::Oidc;
use crate::people::password::Limiter;

/// Shared state of the daemon.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Arc<Engine>,
    /// Bearer tokens.
    pub tokens: Arc<Vec<TokenConfig>>,
    /// How people sign in, and their sessions.
    pub people: Arc<PeopleState>,
    /// Batches uploaded through the API (the console's).
    pub batches: Arc<crate::batching::Registry>,
    /// Set once shutdown begins.
    pub draining: Arc<AtomicBool>,
    /// The schema tree.
    pub schemas: Arc<BTreeMap<String, String>>,
    /// SHA-256 hex of the token `/metrics` requires, if any.
    pub metrics_token_sha256: Option<Arc<String>>,
    /// Origins allowed to read the schemas and the OpenAPI document.
    pub cors_origins: Arc<Vec<String>>,
    /// The readiness write probe's last result.
    pub ready: Arc<tokio::sync::Mutex<Option<ReadyProbe>>>,
}

/// When the readiness probe last wrote, and why the daemon was not ready.
pub type ReadyProbe = (std::time::Instant, Result<(), String>);

/// How long a readiness probe's result is reused: the probe writes to the
/// store, at most this often however often `/readyz` is asked.
pub const READY_PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// How long the probe's write may take before the store counts as unable
/// to take writes.
pub const READY_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The window of the sign-in limiter.
const SIGN_IN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// How people sign in, and their sessions' settings.
#[derive(Debug)]
pub struct PeopleState {
    /// Local users may sign in.
    pub local: bool,
    /// How long a session lasts.
    pub session_for: Duration,
    /// The cookie's `Secure` attribute.
    pub cookie_secure: bool,
    /// Each person's amount limits.
    pub limits: Limits,
    /// Failed local sign-ins.
    pub limiter: Limiter,
    /// The OpenID client, if configured.
    pub oidc: Option<Oidc>,
}

impl PeopleState {
    /// From `[auth]` and the resolved OpenID client.
    pub fn new(auth: &AuthConfig, oidc: Option<Oidc>) -> PeopleState {
        if auth.local {
            crate::people::password::warm_up();
        }
        PeopleState {
            local: auth.local,
            session_for: Duration::from_secs(auth.session_hours.saturating_mul(3600)),
            cookie_secure: auth.cookie_secure,
            limits: auth.limits(),
            limiter: Limiter::new(SIGN_IN_WINDOW, auth.max_failed_sign_ins, 100),
            oidc,
        }
    }

    pub(crate) fn cookie(
        &self,
        name: &str,
        value: &str,
        path: &str,
        max_age: Duration,
    ) -> HeaderValue {
        let secure = if self.cookie_secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
            max_age.as_secs()
        ))
        .expect("cookie values are hex")
    }
}

/// A contract error as an HTTP response.
pub struct ApiError(pub Error, pub Option<StatusCode>);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e, None)
    }
}

impl From<payops_store::StoreError> for ApiError {
    fn from(e: payops_store::StoreError) -> Self {
        ApiError(e.into(), None)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.1.unwrap_or_else(|| {
            StatusCode::from_u16(self.0.code().http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        });
        (status, axum::Json(self.0.to_body())).into_response()
    }
}

/// The `limit` of a listing: `default` when absent, else 1 to `max`.
pub(crate) fn page_limit(given: Option<i64>, default: i64, max: i64) -> Result<i64, Error> {
    let limit = given.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(Error::invalid_field(
            "limit",
            format!("{limit} is not between 1 and {max}"),
        ));
    }
    Ok(limit)
}

/// A query string the route does not take: which parameter, in words (not
/// the deserializer's "Failed to deserialize query string").
pub(crate) fn query_error(e: axum::extract::rejection::QueryRejection) -> Error {
    let text = e.body_text();
    let said = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&text)
        .replace("unknown field", "unknown parameter")
        .replace("expected one of", "this route takes");
    Error::invalid_field("?", format!("query string: {said}"))
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A caller signed in: a known bearer token or a live console session
    /// (the [`Caller`] extractor, also a route layer).
    SignedIn,
    /// Anyone, and why.
    Public(&'static str),
}

/// One route of the API, as the router is built from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path pattern (`/v1/operations/{id}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

/// The `cursor` of a list's query string (`shape` names its form in the
/// error): none when absent or empty.
pub(crate) fn query_cursor(
    cursor: Option<&str>,
    shape: &str,
) -> Result<Option<payops_store::Cursor>, Error> {
    cursor
        .filter(|c| !c.is_empty())
        .map(|c| {
            payops_store::Cursor::decode(c).ok_or_else(|| {
                Error::invalid_field(
                    "cursor",
                    format!("not a cursor ({shape}, as next_cursor gives it)"),
                )
            })
        })
        .transpose()
}

/// An RFC 3339 time of the query string.
pub(crate) fn query_time(
    name: &str,
    v: Option<&str>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, Error> {
    v.map(|t| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| d.with_timezone(&chrono::Utc))
            .map_err(|e| Error::invalid_field(name, format!("{t:?} is not an RFC 3339 time ({e})")))
    })
    .transpose()
}
