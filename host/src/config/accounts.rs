//! Accounts: each checked against its provider's account schema (with the
//! derived `NAME_file` alternatives), credentials read from files, errors
//! that name the key and never echo a credential.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use figment::Figment;
use payops_core::{AccountConfig, OperationKind};
use serde_json::{Map, Value};

use super::*;
use crate::plugins::Registry;

/// Validates `instance` against `schema`, returning (JSON pointer, message) pairs.
pub fn schema_errors(schema: &Value, instance: &Value) -> Vec<(String, String)> {
    // Formats too (`uri`, `uuid`…): the schemas promise them.
    match jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
    {
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

/// Environment values are parsed like TOML (`007` becomes the number 7);
/// for account keys whose schema type is a string, put back the text as
/// written in `PAYOPS_ACCOUNTS__{NAME}__{KEY}`.
pub(crate) fn restore_env_strings(account: &str, map: &mut Map<String, Value>, schema: &Value) {
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
        let order_freshness_secs = match map.get("order_freshness_secs") {
            None => DEFAULT_ORDER_FRESHNESS_SECS,
            Some(v) if v.as_u64().is_some() => v.as_u64().unwrap_or_default(),
            Some(v) => {
                errors.push(err(
                    "order_freshness_secs",
                    format!("{v} is not a number of seconds"),
                ));
                DEFAULT_ORDER_FRESHNESS_SECS
            }
        };
        let order_query = match map.get("order_query") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                errors.push(err("order_query", format!("{v} is not true or false")));
                true
            }
        };
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
                    order_freshness_secs,
                    order_query,
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
