//! The config as `payops config show` prints it: every credential
//! redacted, store URLs without passwords.

use serde_json::Value;

use super::*;
use crate::plugins::Registry;

use super::accounts::restore_env_strings;

fn looks_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["key", "password", "secret", "token", "guid"]
        .iter()
        .any(|s| k.contains(s))
        && !k.ends_with("_file")
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
    if let Some(val) = v.pointer_mut("/auth/oidc/client_secret")
        && !val.is_null()
    {
        *val = Value::String(payops_core::secret::REDACTED.into());
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
