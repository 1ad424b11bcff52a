//! Loading the layered config: built-in defaults < config files <
//! `PAYOPS_*` environment < command-line flags, and where a key came from.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::{Figment, Source};
use serde_json::Value;

use super::*;

/// The environment variable holding the log filter, without its `PAYOPS_`
/// prefix; never read as config.
const LOG_FILTER_KEY: &str = "log";

const TOP_LEVEL: &[&str] = &[
    "server",
    "plugins",
    "store",
    "log",
    "traces",
    "auth",
    "approvals",
    "tokens",
    "accounts",
    "webhooks",
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
