//! Secrets the daemon itself holds: the callback URL secret and the
//! webhook signing secrets, inline or from files, with their rotation.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::Figment;

use super::*;

/// A secret given as a value or a file (trailing newline dropped).
pub(super) fn read_secret(
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
