//! Layered configuration: built-in defaults < `payops.toml` in the working
//! directory < each `--config FILE` in order < `PAYOPS_*` environment
//! (`__` for nesting) < command-line flags.

use std::collections::BTreeMap;
use std::path::PathBuf;

use payops_core::AccountConfig;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod accounts;
mod approvals;
mod auth;
mod load;
mod redact;
mod secrets;
mod store;

pub use accounts::{resolve, schema_errors};
pub use approvals::{ApprovalRule, ApprovalsConfig, Asker, check_approvals};
pub use auth::{AuthConfig, OidcConfig, OidcRoleConfig, resolve_auth};
pub use load::{extract, figment, source_of};
pub use redact::{redact_url, redacted};
pub use secrets::{resolve_callbacks, resolve_webhooks};
pub use store::check_store;

/// `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the daemon listens on.
    pub listen: String,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// How long shutdown waits for in-flight operations, in seconds.
    pub shutdown_timeout_secs: u64,
    /// How long a connection may take to send a request's headers, and may
    /// stay idle between requests, in seconds (both listeners).
    pub header_read_timeout_secs: u64,
    /// How long a request's body may take to arrive, in seconds (both
    /// listeners).
    pub body_read_timeout_secs: u64,
    /// Connections open at once, per listener; past it a new connection is
    /// closed at once.
    pub max_connections: usize,
    /// When set, `/metrics` (which names accounts) answers only requests
    /// bearing the token with this SHA-256 hex; unset, it is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_token_sha256: Option<String>,
    /// Origins (e.g. `https://console.example.com`) whose pages may read
    /// `/v1/schemas/…` and `/v1/openapi.json` (CORS); empty: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cors_origins: Vec<String>,
    /// How providers reach this daemon's callback endpoint (e.g.
    /// `https://payops.example.com`). Set, payops gives providers that post
    /// results later a callback URL of its own, one per operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// A separate address for the callback endpoint alone (expose it, keep
    /// the API private); unset, callbacks are served on `listen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_listen: Option<String>,
    /// The secret that signs callback URLs (or `callback_secret_file`);
    /// required with `public_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_secret: Option<String>,
    /// A file holding the callback secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_secret_file: Option<PathBuf>,
    /// During a rotation, the previous callback secret (or `_file`): URLs
    /// signed with it are still accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_callback_secret: Option<String>,
    /// A file holding the previous callback secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_callback_secret_file: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            body_limit_bytes: 64 * 1024,
            shutdown_timeout_secs: 60,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            max_connections: 1024,
            metrics_token_sha256: None,
            cors_origins: Vec::new(),
            public_url: None,
            callback_listen: None,
            callback_secret: None,
            callback_secret_file: None,
            previous_callback_secret: None,
            previous_callback_secret_file: None,
        }
    }
}

/// What to do with a plugin that cannot be loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnPluginError {
    /// Report it and go on without it.
    #[default]
    Skip,
    /// Refuse to start (exit 3).
    Fail,
}

/// `[plugins]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Directories searched after the executable's own directory.
    pub dirs: Vec<PathBuf>,
    /// `skip` (default) or `fail`.
    pub on_error: OnPluginError,
}

/// `[store]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://PATH` (default `sqlite://payops.db`) or `postgres://…`.
    pub url: String,
    /// An instance silent for this long is dead: its in-flight operations become `unknown`.
    pub instance_timeout_secs: u64,
    /// The longest the daemon waits before looking again at an `unknown` or
    /// `pending` operation its query could not settle (0: no periodic
    /// reconciliation).
    pub reconcile_interval_secs: u64,
    /// The first such wait; it doubles per look, up to
    /// `reconcile_interval_secs`.
    pub reconcile_first_secs: u64,
    /// Only operations at least this old are reconciled.
    pub reconcile_min_age_secs: u64,
    /// How long a duplicate request waits for the in-flight original.
    pub wait_secs: u64,
    /// How long an operation may stay in flight (store clock) before it is
    /// declared `unknown`, even while its daemon lives. Must exceed the
    /// longest operation: steps (at most 8) x the account's `timeout_ms`.
    pub in_flight_deadline_secs: u64,
    /// How many refusals (requests refused before anything was sent) the
    /// store keeps for the audit: the newest; older ones are deleted.
    pub refusals_kept: u64,
    /// How long a refund or cancel waits for its order's turn (another
    /// refund or cancel of the order in flight) before it is refused.
    pub order_wait_secs: u64,
}

/// The default store URL.
pub(crate) const DEFAULT_STORE_URL: &str = "sqlite://payops.db";

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: DEFAULT_STORE_URL.into(),
            instance_timeout_secs: 30,
            reconcile_interval_secs: 300,
            reconcile_first_secs: 10,
            reconcile_min_age_secs: 60,
            wait_secs: 120,
            in_flight_deadline_secs: 600,
            refusals_kept: 10_000,
            order_wait_secs: 60,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// An `EnvFilter` directive, e.g. `info` or `payops=debug`.
    pub level: String,
    /// JSON lines carry every enclosing span (`spans`: the request's, then
    /// the operation's), not only the innermost (`span`).
    #[serde(default)]
    pub span_list: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "text".into(),
            level: "info".into(),
            span_list: false,
        }
    }
}

/// `[traces]`: OpenTelemetry traces over OTLP/HTTP (protobuf). The
/// standard `OTEL_*` variables configure what this leaves out (headers,
/// timeout, sampler, resource attributes, batch sizes) and may turn traces
/// on (`OTEL_TRACES_EXPORTER=otlp`) or off (`OTEL_TRACES_EXPORTER=none`,
/// `OTEL_SDK_DISABLED=true`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracesConfig {
    /// Export traces (default false).
    pub enabled: bool,
    /// The OTLP/HTTP traces URL, e.g. `http://collector:4318/v1/traces`.
    /// Unset: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, else
    /// `http://localhost:4318/v1/traces`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// `service.name` of the spans (`OTEL_SERVICE_NAME` wins); default
    /// `payops`.
    pub service_name: String,
}

impl Default for TracesConfig {
    fn default() -> Self {
        TracesConfig {
            enabled: false,
            endpoint: None,
            service_name: "payops".into(),
        }
    }
}

/// One `[[tokens]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// A name for logs and metrics.
    pub name: String,
    /// Hex SHA-256 of the bearer token.
    pub token_sha256: String,
    /// Account names, or `"*"`.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Operation ids, or `"*"`.
    #[serde(default)]
    pub operations: Vec<String>,
    /// Its role on its accounts (`viewer`, `operator`, `approver`,
    /// `admin`); absent: `operator`, as every token was before roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<crate::people::Role>,
    /// May this token record an operator's resolution of an unresolved
    /// operation (`POST /v1/operations/{id}/resolve`)?
    #[serde(default)]
    pub resolve: bool,
    /// May this token start a refund or cancel on an order that has an
    /// unresolved money operation (naming it in `X-Payops-Override-Open`)?
    #[serde(default)]
    pub override_open: bool,
    /// The largest `amount` of one refund or cancel by this token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount_per_operation: Option<i64>,
    /// The most this token refunds and cancels per day (Turkish time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount_per_day: Option<i64>,
}

impl TokenConfig {
    /// The token's amount limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_amount_per_operation: self.max_amount_per_operation,
            max_amount_per_day: self.max_amount_per_day,
        }
    }
}

/// The whole config.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`.
    pub server: ServerConfig,
    /// `[plugins]`.
    pub plugins: PluginsConfig,
    /// `[store]`.
    pub store: StoreConfig,
    /// `[log]`.
    pub log: LogConfig,
    /// `[traces]`: OpenTelemetry traces over OTLP (off by default).
    pub traces: TracesConfig,
    /// `[auth]`: people (local users, OpenID Connect).
    pub auth: AuthConfig,
    /// `[approvals]`: four eyes above thresholds.
    pub approvals: ApprovalsConfig,
    /// `[[tokens]]`.
    pub tokens: Vec<TokenConfig>,
    /// `[accounts.NAME]`: `provider` plus the provider's keys.
    pub accounts: BTreeMap<String, Map<String, Value>>,
    /// `[[webhooks]]`: where status changes are posted.
    pub webhooks: Vec<WebhookConfig>,
}

/// One `[[webhooks]]` entry: a receiver of the platform's own, told of
/// every status change it subscribes to (signed, at least once).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// A name for logs, metrics and `payops webhooks` (unique).
    pub name: String,
    /// Where events are POSTed (`https://…`; `http://` too, for loopback).
    pub url: String,
    /// Event types (`operation.succeeded`, `operation.failed`,
    /// `operation.pending`, `operation.unknown`, `operation.settled`) or `*`.
    #[serde(default = "all")]
    pub events: Vec<String>,
    /// Account names, or `*` (the default).
    #[serde(default = "all")]
    pub accounts: Vec<String>,
    /// The signing secret (or `secret_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// A file holding the signing secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// During a rotation, the old secret (or `previous_secret_file`): each
    /// delivery is signed with both until it is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<String>,
    /// A file holding the previous secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_file: Option<PathBuf>,
    /// Give up on an event this long after it was written (default 3 days).
    #[serde(default = "three_days")]
    pub max_age_secs: u64,
    /// Per-delivery timeout in milliseconds (default 10000).
    #[serde(default = "ten_seconds_ms")]
    pub timeout_ms: u64,
    /// The first retry's delay in milliseconds (default 1000); it doubles
    /// per attempt, with ±20 % jitter, up to `retry_max_ms`.
    #[serde(default = "one_second_ms")]
    pub retry_initial_ms: u64,
    /// The longest delay between attempts in milliseconds (default 1 hour).
    #[serde(default = "one_hour_ms")]
    pub retry_max_ms: u64,
}

fn all() -> Vec<String> {
    vec!["*".into()]
}
fn three_days() -> u64 {
    3 * 24 * 3600
}
fn ten_seconds_ms() -> u64 {
    10_000
}
fn one_second_ms() -> u64 {
    1_000
}
fn one_hour_ms() -> u64 {
    3_600_000
}

/// A webhook ready to deliver to: its config with secrets read.
#[derive(Clone)]
pub struct Webhook {
    /// The config.
    pub config: WebhookConfig,
    /// Signing secrets, the current first.
    pub secrets: Vec<String>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("name", &self.config.name)
            .field("url", &self.config.url)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// What the store needs to write events for it.
    pub fn route(&self) -> payops_store::WebhookRoute {
        payops_store::WebhookRoute {
            name: self.config.name.clone(),
            events: self.config.events.clone(),
            accounts: self.config.accounts.clone(),
        }
    }
}

/// A config problem, naming where it came from.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{origin}: {key}: {message}")]
pub struct ConfigError {
    /// File or environment that set the value.
    pub origin: String,
    /// Dotted key.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// An account ready to use.
#[derive(Debug, Clone)]
pub struct Account {
    /// Name.
    pub name: String,
    /// Provider id.
    pub provider: String,
    /// Provider-specific config with credentials (from `*_file` too) resolved.
    pub config: AccountConfig,
    /// Amount limits of the account (host keys, not the provider's).
    pub limits: Limits,
    /// How old what the provider said was paid on an order may be before
    /// the order guard queries the order again (host key
    /// `order_freshness_secs`, default [`DEFAULT_ORDER_FRESHNESS_SECS`]).
    pub order_freshness_secs: u64,
    /// Whether the order guard may query the provider for what was paid
    /// (host key `order_query`, default true). False: it uses a stored
    /// query's answer only, and where there is none, refuses a refund or
    /// cancel while another of the order is unresolved (for a provider
    /// whose queries are rate-limited or billed).
    pub order_query: bool,
}

/// The default of an account's `order_freshness_secs`.
pub const DEFAULT_ORDER_FRESHNESS_SECS: u64 = 300;

/// Amount limits (minor units) for refunds and cancels, of a token or an
/// account. Unset: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The largest `amount` of one refund or cancel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount_per_operation: Option<i64>,
    /// The most refunded and cancelled per day (Turkish time), counting
    /// every operation not `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount_per_day: Option<i64>,
}

impl Limits {
    /// True when any limit is set.
    pub fn any(&self) -> bool {
        self.max_amount_per_operation.is_some() || self.max_amount_per_day.is_some()
    }
}

/// Account keys the host reads itself; the provider's schema never sees them.
pub(crate) const HOST_ACCOUNT_KEYS: &[&str] = &[
    "provider",
    "max_amount_per_operation",
    "max_amount_per_day",
    "order_freshness_secs",
    "order_query",
];
