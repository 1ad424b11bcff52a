//! Layered configuration: built-in defaults < `payops.toml` in the working
//! directory < each `--config FILE` in order < `PAYOPS_*` environment
//! (`__` for nesting) < command-line flags.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::{Figment, Source};
use payops_core::{AccountConfig, OperationKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::plugins::Registry;

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
}

/// The default store URL.
pub const DEFAULT_STORE_URL: &str = "sqlite://payops.db";

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
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "text".into(),
            level: "info".into(),
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
    /// May this token use `account`?
    pub fn allows_account(&self, account: &str) -> bool {
        self.accounts.iter().any(|a| a == "*" || a == account)
    }
    /// May this token run `op`?
    pub fn allows_operation(&self, op: OperationKind) -> bool {
        self.operations.iter().any(|o| o == "*" || o == op.as_str())
    }
    /// The accounts this token may use as a store filter: `None` for all
    /// (`"*"`), the same rule as [`TokenConfig::allows_account`].
    pub fn account_scope(&self) -> Option<Vec<String>> {
        (!self.accounts.iter().any(|a| a == "*")).then(|| self.accounts.clone())
    }
    /// The operation kinds this token may run as a store filter: `None` for
    /// all (`"*"`), the same rule as [`TokenConfig::allows_operation`].
    pub fn operation_scope(&self) -> Option<Vec<String>> {
        (!self.operations.iter().any(|o| o == "*")).then(|| self.operations.clone())
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

/// A secret given as a value or a file (trailing newline dropped).
fn read_secret(
    value: &Option<String>,
    file: &Option<PathBuf>,
    key: &str,
) -> Result<Option<String>, String> {
    match (value, file) {
        (Some(_), Some(_)) => Err(format!("give {key} or {key}_file, not both")),
        (Some(v), None) => Ok(Some(v.clone())),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|t| Some(t.trim_end_matches(['\n', '\r']).to_owned()))
            .map_err(|e| format!("{key}_file: cannot read {}: {e}", path.display())),
        (None, None) => Ok(None),
    }
}

/// The callback settings of `[server]`: `None` without `public_url`.
pub fn resolve_callbacks(
    f: &Figment,
    cfg: &Config,
) -> Result<Option<crate::signing::Callbacks>, Vec<ConfigError>> {
    let sv = &cfg.server;
    let mut errors = Vec::new();
    let mut err = |k: &str, message: String| {
        errors.push(ConfigError {
            origin: source_of(f, &format!("server.{k}")),
            key: format!("server.{k}"),
            message,
        })
    };
    if let Some(l) = &sv.callback_listen
        && l.parse::<SocketAddr>().is_err()
    {
        err(
            "callback_listen",
            format!("{l:?} is not an address like 0.0.0.0:8081"),
        );
    }
    let Some(url) = &sv.public_url else {
        if sv.callback_listen.is_some() {
            err(
                "public_url",
                "required with callback_listen (how providers reach it)".into(),
            );
        }
        return if errors.is_empty() {
            Ok(None)
        } else {
            Err(errors)
        };
    };
    match url.parse::<axum::http::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("https" | "http")) && u.authority().is_some() => {}
        _ => err(
            "public_url",
            format!("{url:?} is not an http(s) URL with a host"),
        ),
    }
    let mut secrets = Vec::new();
    for (key, v, file) in [
        (
            "callback_secret",
            &sv.callback_secret,
            &sv.callback_secret_file,
        ),
        (
            "previous_callback_secret",
            &sv.previous_callback_secret,
            &sv.previous_callback_secret_file,
        ),
    ] {
        match read_secret(v, file, key) {
            Ok(Some(s)) if s.len() >= 16 => secrets.push(s),
            Ok(Some(_)) => err(key, "must be at least 16 characters".into()),
            Ok(None) if key == "callback_secret" => err(
                key,
                "missing: required with public_url (it signs the callback URLs payops gives providers)".into(),
            ),
            Ok(None) => {}
            Err(e) => err(key, e),
        }
    }
    if errors.is_empty() {
        Ok(Some(crate::signing::Callbacks {
            public_url: url.trim_end_matches('/').to_owned(),
            secrets,
        }))
    } else {
        Err(errors)
    }
}

/// Validates `[[webhooks]]` and reads their secrets. Returns every problem.
pub fn resolve_webhooks(f: &Figment, cfg: &Config) -> Result<Vec<Webhook>, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for (i, w) in cfg.webhooks.iter().enumerate() {
        let key = |k: &str| format!("webhooks[{i}].{k}");
        let mut err = |k: &str, message: String| {
            errors.push(ConfigError {
                origin: source_of(f, "webhooks"),
                key: key(k),
                message,
            })
        };
        if w.name.trim().is_empty() {
            err("name", "must not be empty".into());
        } else if !names.insert(w.name.clone()) {
            err("name", format!("{:?} is used by another webhook", w.name));
        }
        match w.url.parse::<axum::http::Uri>() {
            Ok(u)
                if matches!(u.scheme_str(), Some("https" | "http")) && u.authority().is_some() => {}
            Ok(_) => err("url", format!("{:?}: only http(s) URLs with a host", w.url)),
            Err(e) => err("url", format!("{:?} is not a URL ({e})", w.url)),
        }
        for e in &w.events {
            if e != "*" && !payops_store::EVENT_TYPES.contains(&e.as_str()) {
                err(
                    "events",
                    format!(
                        "{e:?} is not one of *, {}",
                        payops_store::EVENT_TYPES.join(", ")
                    ),
                );
            }
        }
        if w.events.is_empty() {
            err(
                "events",
                "must name at least one event type (or \"*\")".into(),
            );
        }
        for a in &w.accounts {
            if a != "*" && !cfg.accounts.contains_key(a) {
                err("accounts", format!("{a:?} is not a configured account"));
            }
        }
        if w.timeout_ms == 0 || w.retry_initial_ms == 0 || w.retry_max_ms < w.retry_initial_ms {
            err("retry_initial_ms", "timeout_ms and retry_initial_ms must be positive and retry_max_ms at least retry_initial_ms".into());
        }
        let mut secrets = Vec::new();
        for (name, value, file) in [
            ("secret", &w.secret, &w.secret_file),
            (
                "previous_secret",
                &w.previous_secret,
                &w.previous_secret_file,
            ),
        ] {
            let read = match (value, file) {
                (Some(_), Some(_)) => {
                    err(name, format!("give {name} or {name}_file, not both"));
                    None
                }
                (Some(v), None) => Some(v.clone()),
                (None, Some(path)) => match std::fs::read_to_string(path) {
                    Ok(t) => Some(t.trim_end_matches(['\n', '\r']).to_owned()),
                    Err(e) => {
                        err(
                            &format!("{name}_file"),
                            format!("cannot read {}: {e}", path.display()),
                        );
                        None
                    }
                },
                (None, None) => {
                    if name == "secret" {
                        err("secret", "missing: give secret or secret_file (receivers verify signatures with it)".into());
                    }
                    None
                }
            };
            if let Some(v) = read {
                if v.len() < 16 {
                    err(
                        name,
                        "must be at least 16 characters (make one with `payops token new`)".into(),
                    );
                } else {
                    secrets.push(v);
                }
            }
        }
        if !secrets.is_empty() && w.secret.is_some() | w.secret_file.is_some() {
            out.push(Webhook {
                config: w.clone(),
                secrets,
            });
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
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

/// The environment variable holding the log filter, without its `PAYOPS_`
/// prefix; never read as config.
const LOG_FILTER_KEY: &str = "log";

const TOP_LEVEL: &[&str] = &[
    "server", "plugins", "store", "log", "tokens", "accounts", "webhooks",
];

/// Builds the layered figment. Missing `--config` files are errors;
/// a missing `payops.toml` is not.
pub fn figment(files: &[PathBuf], overrides: &[(&str, Value)]) -> Result<Figment, ConfigError> {
    let mut f = Figment::from(Serialized::defaults(Config::default()));
    if Path::new("payops.toml").exists() {
        f = f.merge(Toml::file_exact("payops.toml"));
    }
    for file in files {
        if !file.is_file() {
            return Err(ConfigError {
                origin: file.display().to_string(),
                key: "--config".into(),
                message: "no such file".into(),
            });
        }
        f = f.merge(Toml::file_exact(file));
    }
    // Account names from the files: `PAYOPS_ACCOUNTS__ESNEK_PROD__…` sets
    // the account `esnek-prod` when the files name it (a shell variable
    // cannot hold `-`).
    let known: Vec<String> = f
        .find_value("accounts")
        .ok()
        .and_then(|v| v.into_dict())
        .map(|d| d.into_keys().collect())
        .unwrap_or_default();
    f = f.merge(
        Env::prefixed("PAYOPS_")
            .split("__")
            .map(move |k| {
                let key = k.as_str();
                let mut parts: Vec<String> = key.split('.').map(str::to_owned).collect();
                if parts.len() > 2
                    && parts[0].eq_ignore_ascii_case("accounts")
                    && let Some(name) = known
                        .iter()
                        .find(|n| n.replace('-', "_").eq_ignore_ascii_case(&parts[1]))
                {
                    parts[1] = name.clone();
                }
                parts.join(".").into()
            })
            .filter(|k| {
                // `PAYOPS_LOG` is the log filter (an `EnvFilter` directive, read by
                // the logger), not the `[log]` table: the table is set key by key
                // (`PAYOPS_LOG__LEVEL`, `PAYOPS_LOG__FORMAT`).
                if k.as_str().eq_ignore_ascii_case(LOG_FILTER_KEY) {
                    return false;
                }
                let first = k.as_str().split('.').next().unwrap_or("");
                TOP_LEVEL.iter().any(|t| first.eq_ignore_ascii_case(t))
            }),
    );
    for (key, value) in overrides {
        f = f.merge(Serialized::default(key, value.clone()));
    }
    Ok(f)
}

/// Where the value at `key` came from.
pub fn source_of(f: &Figment, key: &str) -> String {
    match f.find_metadata(key) {
        Some(m) => match &m.source {
            Some(Source::File(p)) => p.display().to_string(),
            Some(other) => other.to_string(),
            None => m.name.to_string(),
        },
        None => "config".into(),
    }
}

/// Extracts the typed config.
pub fn extract(f: &Figment) -> Result<Config, ConfigError> {
    f.extract::<Config>().map_err(|e| {
        let key = e.path.join(".");
        let source = e
            .metadata
            .as_ref()
            .and_then(|m| {
                m.source
                    .as_ref()
                    .map(|s| s.to_string())
                    .or(Some(m.name.to_string()))
            })
            .unwrap_or_else(|| "config".into());
        ConfigError {
            origin: source,
            key: if key.is_empty() { "(root)".into() } else { key },
            message: e.kind.to_string(),
        }
    })
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
}

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
pub const HOST_ACCOUNT_KEYS: &[&str] =
    &["provider", "max_amount_per_operation", "max_amount_per_day"];

fn looks_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["key", "password", "secret", "token", "guid"]
        .iter()
        .any(|s| k.contains(s))
        && !k.ends_with("_file")
}

/// Validates `instance` against `schema`, returning (JSON pointer, message) pairs.
pub fn schema_errors(schema: &Value, instance: &Value) -> Vec<(String, String)> {
    match jsonschema::validator_for(schema) {
        Ok(v) => v
            .iter_errors(instance)
            .map(|e| {
                let path = e.instance_path().to_string();
                let message = alternatives(schema, &e.schema_path().to_string())
                    .unwrap_or_else(|| e.to_string());
                (path, message)
            })
            .collect(),
        Err(e) => vec![(String::new(), format!("invalid schema: {e}"))],
    }
}

/// For an `anyOf` whose branches each only require keys (e.g. `merchant_key`
/// or `merchant_key_file`), a message naming them instead of the
/// validator's "not valid under any of the schemas".
fn alternatives(schema: &Value, schema_path: &str) -> Option<String> {
    let (path, keyword) = match schema_path.strip_suffix("/anyOf") {
        Some(p) => (p, "anyOf"),
        None => (schema_path.strip_suffix("/oneOf")?, "oneOf"),
    };
    let node = if path.is_empty() {
        Some(schema)
    } else {
        schema.pointer(path)
    }?;
    let branches = node.get(keyword)?.as_array()?;
    let mut names = Vec::new();
    for b in branches {
        let req = b.get("required")?.as_array()?;
        // Only `required` (and the `properties: {key: true}` that portable
        // schemas add for strict validators).
        let only_required = b.as_object()?.iter().all(|(k, v)| {
            k == "required"
                || k == "title"
                || (k == "properties"
                    && v.as_object()
                        .is_some_and(|p| p.values().all(|x| x == &Value::Bool(true))))
        });
        if !only_required {
            return None;
        }
        let keys: Vec<&str> = req.iter().filter_map(Value::as_str).collect();
        names.push(keys.join(" and "));
    }
    if keyword == "oneOf" {
        return Some(format!("set exactly one of {}", names.join(", ")));
    }
    Some(format!("missing: set one of {}", names.join(", ")))
}

/// Checks `store.url` the way the store will use it, without creating
/// anything: the scheme, and for SQLite that the file or its directory is
/// there and writable, for PostgreSQL that it answers.
pub async fn check_store(url: &str) -> Result<(), String> {
    if let Some(path) = payops_store::sqlite_file(url).map_err(|e| e.to_string())? {
        let path = std::path::Path::new(path);
        let probe = if path.exists() {
            path.to_path_buf()
        } else {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            if !dir.is_dir() {
                return Err(format!(
                    "{}: the directory {} does not exist",
                    path.display(),
                    dir.display()
                ));
            }
            dir.to_path_buf()
        };
        let meta = std::fs::metadata(&probe).map_err(|e| format!("{}: {e}", probe.display()))?;
        if meta.permissions().readonly() {
            return Err(format!("{}: not writable", probe.display()));
        }
        #[cfg(unix)]
        {
            // Permission bits do not tell for this user: try.
            if probe.is_dir() {
                let test = probe.join(format!(".payops-check-{}", std::process::id()));
                std::fs::write(&test, b"")
                    .map_err(|e| format!("{}: cannot create files there ({e})", probe.display()))?;
                let _ = std::fs::remove_file(&test);
            } else {
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&probe)
                    .map_err(|e| format!("{}: cannot write ({e})", probe.display()))?;
            }
        }
        return Ok(());
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return match tokio::time::timeout(
            std::time::Duration::from_secs(5),
            payops_store::Store::open(url),
        )
        .await
        {
            Ok(Ok(s)) => {
                s.close().await;
                Ok(())
            }
            Ok(Err(e)) => Err(format!("{e} ({})", redact_url(url))),
            Err(_) => Err(format!("no answer within 5 s ({})", redact_url(url))),
        };
    }
    Err(format!(
        "{:?} is not a store URL: use sqlite://PATH or postgres://…",
        redact_url(url)
    ))
}

/// Environment values are parsed like TOML (`007` becomes the number 7);
/// for account keys whose schema type is a string, put back the text as
/// written in `PAYOPS_ACCOUNTS__{NAME}__{KEY}`.
fn restore_env_strings(account: &str, map: &mut Map<String, Value>, schema: &Value) {
    let wanted = account.replace('-', "_");
    for (var, raw) in std::env::vars() {
        let Some(rest) = var.strip_prefix("PAYOPS_ACCOUNTS__") else {
            continue;
        };
        let Some((name, key)) = rest.split_once("__") else {
            continue;
        };
        if !name.eq_ignore_ascii_case(&wanted) || key.contains("__") {
            continue;
        }
        let key = key.to_ascii_lowercase();
        let is_string = schema
            .pointer(&format!("/properties/{key}/type"))
            .is_some_and(|t| match t {
                Value::String(s) => s == "string",
                Value::Array(a) => {
                    a.contains(&Value::from("string")) && !a.contains(&Value::from("integer"))
                }
                _ => false,
            });
        if is_string && map.get(&key).is_some_and(|v| !v.is_string()) {
            map.insert(key, Value::String(raw));
        }
    }
}

/// Validates accounts and tokens against the loaded providers and reads
/// `*_file` secrets. Returns every problem, not just the first.
pub fn resolve(
    f: &Figment,
    cfg: &Config,
    reg: &Registry,
) -> Result<BTreeMap<String, Account>, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut accounts = BTreeMap::new();
    if let Err(e) = cfg.server.listen.parse::<SocketAddr>() {
        errors.push(ConfigError {
            origin: source_of(f, "server.listen"),
            key: "server.listen".into(),
            message: format!(
                "{:?} is not an address like 127.0.0.1:8080 ({e})",
                cfg.server.listen
            ),
        });
    }
    for (name, values) in &cfg.accounts {
        let key = |k: &str| format!("accounts.{name}.{k}");
        let err = |k: &str, message: String| ConfigError {
            origin: source_of(f, &key(k)),
            key: key(k),
            message,
        };
        if let Err(e) = payops_core::AccountName::new(name.clone()) {
            errors.push(err("", e.to_string()));
            continue;
        }
        let Some(provider_id) = values.get("provider").and_then(Value::as_str) else {
            errors.push(err(
                "provider",
                "missing: every account names its provider (e.g. \"esnekpos\")".into(),
            ));
            continue;
        };
        let Some(provider) = reg.providers.get(provider_id) else {
            let known: Vec<_> = reg.providers.keys().cloned().collect();
            errors.push(err(
                "provider",
                format!(
                    "{provider_id:?} is not a loaded provider (loaded: {})",
                    known.join(", ")
                ),
            ));
            continue;
        };
        let mut map = values.clone();
        let mut limits = Limits::default();
        for (k, slot) in [
            (
                "max_amount_per_operation",
                &mut limits.max_amount_per_operation,
            ),
            ("max_amount_per_day", &mut limits.max_amount_per_day),
        ] {
            match map.get(k) {
                None => {}
                Some(v) if v.as_i64().is_some_and(|n| n > 0) => *slot = v.as_i64(),
                Some(v) => errors.push(err(
                    k,
                    format!("{v} is not a positive amount in minor units (kuruş)"),
                )),
            }
        }
        for k in HOST_ACCOUNT_KEYS {
            map.remove(*k);
        }
        // As operators write accounts: every credential may come from a file.
        let written = crate::schemas::account_schema(provider.info());
        let schema = &provider.info().account_schema;
        restore_env_strings(name, &mut map, &written);
        let secrets = provider.info().secret_keys();
        let problems = schema_errors(&written, &Value::Object(map.clone()));
        let schema_ok = problems.is_empty();
        if !schema_ok {
            for (path, msg) in problems {
                let k = path.trim_start_matches('/').replace('/', ".");
                // Never echo a credential's value in an error.
                let msg = redact_message(&msg, &map, &secrets);
                errors.push(err(
                    &k,
                    format!("{msg} (expected by the {provider_id} account schema)"),
                ));
            }
        }
        // Credential files are read and checked even when other keys are
        // wrong, so one `config check` lists every problem.
        let mut ok = schema_ok;
        for s in &secrets {
            let file_key = format!("{s}_file");
            if let Some(path) = map
                .get(&file_key)
                .and_then(Value::as_str)
                .map(str::to_owned)
            {
                match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        let value = text.trim_end_matches(['\n', '\r']).to_owned();
                        if value.is_empty() {
                            errors.push(err(&file_key, format!("{path} is empty")));
                            ok = false;
                        }
                        map.insert(s.clone(), Value::String(value));
                        map.remove(&file_key);
                    }
                    Err(e) => {
                        errors.push(err(&file_key, format!("cannot read {path}: {e}")));
                        ok = false;
                    }
                }
            }
        }
        // What the files held must meet the schema too (e.g. TurkPos's
        // CLIENT_PASSWORD of at most 11 characters); other keys were
        // reported above.
        for (path, msg) in schema_errors(schema, &Value::Object(map.clone())) {
            let k = path.trim_start_matches('/').replace('/', ".");
            if !(secrets.contains(&k) && values.contains_key(&format!("{k}_file"))) {
                continue;
            }
            let msg = redact_message(&msg, &map, &secrets);
            errors.push(err(
                &format!("{k}_file"),
                format!("the file's content: {msg} (expected by the {provider_id} account schema)"),
            ));
            ok = false;
        }
        if ok {
            accounts.insert(
                name.clone(),
                Account {
                    name: name.clone(),
                    provider: provider_id.to_owned(),
                    config: AccountConfig::new(map, secrets),
                    limits,
                },
            );
        }
    }
    for (i, t) in cfg.tokens.iter().enumerate() {
        let k = format!("tokens[{i}]");
        let src = source_of(f, "tokens");
        if t.token_sha256.len() != 64 || !t.token_sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            errors.push(ConfigError {
                origin: src.clone(),
                key: format!("{k}.token_sha256"),
                message: "must be 64 hex digits (sha256 of the token)".into(),
            });
        }
        for op in &t.operations {
            if op != "*" && op.parse::<OperationKind>().is_err() {
                errors.push(ConfigError {
                    origin: src.clone(),
                    key: format!("{k}.operations"),
                    message: format!("{op:?} is not an operation or \"*\""),
                });
            }
        }
        for a in &t.accounts {
            if a != "*" && !cfg.accounts.contains_key(a) {
                errors.push(ConfigError {
                    origin: src.clone(),
                    key: format!("{k}.accounts"),
                    message: format!("unknown account {a:?}"),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(accounts)
    } else {
        Err(errors)
    }
}

fn redact_message(msg: &str, map: &Map<String, Value>, secrets: &[String]) -> String {
    let mut out = msg.to_owned();
    for k in secrets {
        if let Some(v) = map.get(k) {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if text.len() >= 2 {
                out = out.replace(&text, payops_core::secret::REDACTED);
            }
        }
    }
    out
}

/// The effective config with every credential replaced by `[REDACTED]`.
pub fn redacted(cfg: &Config, reg: &Registry) -> Value {
    let mut v = serde_json::to_value(cfg).unwrap_or(Value::Null);
    if let Some(url) = v.pointer_mut("/store/url")
        && let Some(text) = url.as_str()
    {
        *url = Value::String(redact_url(text));
    }
    for k in ["callback_secret", "previous_callback_secret"] {
        if let Some(val) = v.pointer_mut(&format!("/server/{k}")) {
            *val = Value::String(payops_core::secret::REDACTED.into());
        }
    }
    if let Some(hooks) = v.get_mut("webhooks").and_then(Value::as_array_mut) {
        for h in hooks.iter_mut().filter_map(Value::as_object_mut) {
            for k in ["secret", "previous_secret"] {
                if let Some(val) = h.get_mut(k) {
                    *val = Value::String(payops_core::secret::REDACTED.into());
                }
            }
        }
    }
    if let Some(accounts) = v.get_mut("accounts").and_then(Value::as_object_mut) {
        for (name, acct) in accounts.iter_mut() {
            let Some(map) = acct.as_object_mut() else {
                continue;
            };
            let provider = map
                .get("provider")
                .and_then(Value::as_str)
                .and_then(|p| reg.providers.get(p));
            if let Some(p) = provider {
                restore_env_strings(name, map, &crate::schemas::account_schema(p.info()));
            }
            let secrets = provider.map(|p| p.info().secret_keys()).unwrap_or_default();
            for (k, val) in map.iter_mut() {
                if secrets.contains(k) || looks_secret(k) {
                    *val = Value::String(payops_core::secret::REDACTED.into());
                }
            }
        }
    }
    v
}

/// A database URL with its password replaced by `[REDACTED]`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!(
                    "{}{user}:{}{}",
                    &url[..scheme + 3],
                    payops_core::secret::REDACTED,
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
