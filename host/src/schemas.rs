//! The exported schema tree (`schemas/`): `index.json`, `outcome.json`,
//! `error.json`, and per provider `account.json`,
//! `{operation}.request.json`, `{operation}.response.json`.

use std::collections::BTreeMap;
use std::path::Path;

use payops_core::driver::PluginProvider;
use serde_json::{Value, json};

const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";

fn with_meta(v: Value, title: &str) -> Value {
    let mut v = payops_core::details::titled(v);
    if let Some(m) = v.as_object_mut() {
        m.insert("$schema".into(), json!(DRAFT));
        m.entry("title").or_insert(json!(title));
    }
    v
}

/// A provider's account schema as operators write accounts: for every
/// credential (a `writeOnly` property `NAME`) a `NAME_file` alternative, a
/// path the host reads at start, derived here for every provider alike. A
/// required credential becomes "`NAME` or `NAME_file`" (one of them, each
/// a titled alternative a form generator renders); an optional one may be
/// given either way, not both. A provider that declares `NAME_file` itself
/// keeps its own. The provider never sees `NAME_file`: the host replaces it
/// with the file's content.
pub(crate) fn account_schema(info: &payops_core::ProviderInfo) -> Value {
    let mut schema = info.account_schema.clone();
    let Some(root) = schema.as_object_mut() else {
        return schema;
    };
    let secrets: Vec<String> = info
        .secret_keys()
        .into_iter()
        .filter(|k| {
            root.get("properties")
                .and_then(|p| p.get(format!("{k}_file")))
                .is_none()
        })
        .collect();
    if secrets.is_empty() {
        return schema;
    }
    let mut constraints = Vec::new();
    for key in &secrets {
        let file_key = format!("{key}_file");
        let title = root
            .get("properties")
            .and_then(|p| p.get(key))
            .and_then(|p| p.get("title"))
            .and_then(Value::as_str)
            .unwrap_or(key)
            .to_owned();
        if let Some(props) = root.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert(
                file_key.clone(),
                json!({
                    "type": "string",
                    "minLength": 1,
                    "title": format!("{title} file"),
                    "description": format!("A file holding `{key}` ({title}), read by payops at start, instead of `{key}`."),
                }),
            );
        }
        let required = root
            .get_mut("required")
            .and_then(Value::as_array_mut)
            .map(|r| {
                let before = r.len();
                r.retain(|v| v.as_str() != Some(key));
                before != r.len()
            })
            .unwrap_or(false);
        let given = |k: &str, title: String| json!({"title": title, "required": [k], "properties": {k: true}});
        if required {
            constraints.push(json!({"oneOf": [
                given(key, format!("{title} in the config")),
                given(&file_key, format!("{title} from a file")),
            ]}));
        } else {
            constraints.push(json!({
                "not": {"required": [key, file_key], "properties": {key: true, file_key: true}}
            }));
        }
    }
    if root
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(|r| r.is_empty())
    {
        root.remove("required");
    }
    match root.get_mut("allOf").and_then(Value::as_array_mut) {
        Some(all) => all.extend(constraints),
        None => {
            root.insert("allOf".into(), Value::Array(constraints));
        }
    }
    schema
}

/// Every file of the tree: relative path -> JSON text (pretty, newline-terminated).
pub fn tree<'a>(
    providers: impl IntoIterator<Item = &'a PluginProvider>,
) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, Value> = BTreeMap::new();
    let mut index = serde_json::Map::new();
    let mut put = |path: String, v: &Value| {
        let mut v = payops_core::details::portable(payops_core::details::titled(v.clone()));
        if path != "index.json"
            && let Some(m) = v.as_object_mut()
        {
            // An identity of its own: its `#/$defs/…` resolve inside it
            // wherever it is embedded (the OpenAPI document embeds it).
            m.insert("$id".into(), json!(schema_id(&path)));
        }
        values.insert(path, v);
    };
    put(
        "outcome.json".into(),
        &payops_core::details::envelope_schema(
            "Outcome envelope",
            json!({"type": "object", "title": "Details", "description": "Operation-specific fields; see each provider's {operation}.response.json."}),
        ),
    );
    let error = serde_json::to_value(payops_core::schemars::schema_for!(
        payops_core::error::ErrorBody
    ))
    .unwrap_or(Value::Null);
    put("error.json".into(), &with_meta(error, "Error body"));
    for p in providers {
        let info = p.info();
        let id = &info.id;
        put(
            format!("{id}/account.json"),
            &with_meta(account_schema(info), &format!("{} account", info.name)),
        );
        let mut ops = serde_json::Map::new();
        for (op, s) in &info.operations {
            put(
                format!("{id}/{op}.request.json"),
                &with_meta(s.request.clone(), &format!("{} {op} request", info.name)),
            );
            put(
                format!("{id}/{op}.response.json"),
                &with_meta(s.response.clone(), &format!("{} {op} outcome", info.name)),
            );
            ops.insert(
                op.as_str().into(),
                json!({"request": format!("{id}/{op}.request.json"), "response": format!("{id}/{op}.response.json")}),
            );
        }
        index.insert(
            id.clone(),
            json!({"name": info.name, "version": info.version, "capabilities": info.capabilities, "account": format!("{id}/account.json"), "operations": ops}),
        );
    }
    put(
        "index.json".into(),
        &json!({"$comment": "Generated by `payops schemas --out schemas`; do not edit.", "outcome": "outcome.json", "error": "error.json", "openapi": "openapi.json", "providers": index}),
    );
    let api = openapi(&values);
    values.insert("openapi.json".into(), api);
    let mut files = BTreeMap::new();
    for (path, v) in values {
        let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
        text.push('\n');
        files.insert(path, text);
    }
    files
}

/// Writes the tree under `dir`, removing stale `.json` files of the tree.
pub fn write(dir: &Path, files: &BTreeMap<String, String>) -> std::io::Result<()> {
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    for extra in existing(dir)? {
        if !files.contains_key(&extra) {
            std::fs::remove_file(dir.join(&extra))?;
        }
    }
    Ok(())
}

fn existing(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().and_then(|e| e.to_str()) == Some("json")
                && let Ok(rel) = p.strip_prefix(dir)
            {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Differences between `dir` and the tree: (path, what).
pub fn check(
    dir: &Path,
    files: &BTreeMap<String, String>,
) -> std::io::Result<Vec<(String, &'static str)>> {
    let mut diffs = Vec::new();
    for (rel, text) in files {
        match std::fs::read_to_string(dir.join(rel)) {
            Ok(t) if &t == text => {}
            Ok(_) => diffs.push((rel.clone(), "differs")),
            Err(_) => diffs.push((rel.clone(), "missing")),
        }
    }
    for extra in existing(dir)? {
        if !files.contains_key(&extra) {
            diffs.push((extra, "not exported (stale)"));
        }
    }
    Ok(diffs)
}

/// `#/$defs/X` references become `{prefix}X`.
fn rewrite_refs(v: &mut Value, prefix: &str) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref")
                && let Some(def) = r.strip_prefix("#/$defs/")
            {
                *r = format!("{prefix}{def}");
            }
            for (_, c) in m.iter_mut() {
                rewrite_refs(c, prefix);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| rewrite_refs(c, prefix)),
        _ => {}
    }
}

/// The `$id` of an exported schema file.
pub(crate) fn schema_id(path: &str) -> String {
    format!("urn:payops:schemas:{path}")
}

/// The OpenAPI 3.1 document of the HTTP API, built from the same exported
/// schemas: every request body references its provider's request schemas,
/// every response the outcome or error schema (embedded under
/// `components/schemas` with their `$id`, so their own `$defs` resolve).
pub fn openapi(files: &BTreeMap<String, Value>) -> Value {
    let mut components = serde_json::Map::new();
    let mut requests = Vec::new();
    for (path, schema) in files {
        if path == "index.json" || path == "openapi.json" {
            continue;
        }
        let name = path.trim_end_matches(".json").replace(['/', '.'], "_");
        let mut s = schema.clone();
        // Its `$defs` become components of their own (`{name}__{def}`) and
        // its `#/$defs/…` references point there: every reference resolves
        // from the document's root, whatever the tool.
        let defs = s.as_object_mut().and_then(|m| {
            m.remove("$schema");
            m.remove("$id");
            m.remove("$defs")
        });
        let rename = |v: &mut Value| rewrite_refs(v, &format!("#/components/schemas/{name}__"));
        rename(&mut s);
        if let Some(Value::Object(defs)) = defs {
            for (def, mut d) in defs {
                rename(&mut d);
                components.insert(format!("{name}__{def}"), d);
            }
        }
        components.insert(name.clone(), s);
        if path.ends_with(".request.json") {
            requests.push(json!({"$ref": format!("#/components/schemas/{name}")}));
        }
    }
    let error = |desc: &str| json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/error"}}}});
    let errors = |codes: &[(&str, &str)]| {
        let mut m = serde_json::Map::new();
        for (code, desc) in codes {
            m.insert((*code).into(), error(desc));
        }
        m
    };
    let json_ok = |desc: &str, schema: Value| json!({"description": desc, "content": {"application/json": {"schema": schema}}});
    let mut run_responses = errors(&[
        (
            "400",
            "invalid_request: the document does not match the schema (fields named)",
        ),
        ("401", "unauthorized"),
        (
            "403",
            "forbidden: the token may not use this account or operation, or (a refusal, reason limit) an amount limit",
        ),
        ("404", "not_found: no such account"),
        (
            "409",
            "operation_conflict (a refusal, reason conflict: the order guard) or idempotency_conflict",
        ),
        ("413", "the body is too large"),
        ("415", "the body is not JSON"),
        (
            "422",
            "invalid_request (a refusal, reason invalid_request: the document does not match the schema, fields named, or the provider's own checks refused it), or unsupported_operation for this account's provider",
        ),
        (
            "503",
            "unavailable: a refusal with reason unreachable (the provider could not be reached; nothing was sent, the Idempotency-Key is free), or shutting down, or the store is unavailable (nothing was sent)",
        ),
    ]);
    // An approval as the API shows it.
    let approval = json!({"type": "object",
        "required": ["approval_id", "account", "provider", "operation", "idempotency_key", "request", "requested_by", "requested_at", "why", "status", "expires_at", "attempts"],
        "properties": {
            "approval_id": {"type": "string"}, "account": {"type": "string"}, "provider": {"type": "string"},
            "operation": {"type": "string"}, "idempotency_key": {"type": "string"}, "request": {"type": "object"},
            "order_ref": {"type": ["string", "null"]}, "amount": {"type": ["integer", "null"]},
            "override_open": {"type": ["string", "null"]},
            "requested_by": {"type": "string"}, "requested_at": {"type": "string"},
            "why": {"type": "string", "description": "Which threshold it crossed"},
            "status": {"type": "string", "enum": ["awaiting_approval", "approved", "rejected", "expired", "sent"]},
            "decided_by": {"type": ["string", "null"]}, "decided_at": {"type": ["string", "null"]}, "note": {"type": ["string", "null"]},
            "expires_at": {"type": "string"}, "operation_id": {"type": ["string", "null"], "description": "The operation it was sent as"},
            "attempts": {"type": "integer", "description": "Sends refused so far (it stays approved and is tried again)"},
            "last_refusal": {"type": ["string", "null"]},
            "may_decide": {"type": "boolean", "description": "In the queue: whether the caller may approve or reject it"}}});
    let waiting = json!({"type": "object", "required": ["status", "operation_id", "approval"], "properties": {
        "status": {"type": "string", "enum": ["awaiting_approval", "approved", "rejected", "expired"]},
        "operation_id": {"type": "null"},
        "approval": approval.clone()}});
    run_responses.insert(
        "200".into(),
        json_ok(
            "The outcome envelope (status succeeded, pending, failed or unknown); or, replayed to its key, a request that waited for approval and was rejected or expired (nothing sent)",
            json!({"anyOf": [{"$ref": "#/components/schemas/outcome"}, waiting.clone()]}),
        ),
    );
    run_responses.insert(
        "202".into(),
        json_ok(
            "Above an approval threshold: recorded as awaiting_approval (or approved, not sent yet); nothing was sent; the key is bound to it",
            waiting,
        ),
    );
    let mut approvals_list = errors(&[
        ("401", "unauthorized"),
        (
            "404",
            "not_found: account= names no account the caller may read",
        ),
        ("422", "invalid_request: a bad query parameter"),
    ]);
    approvals_list.insert("200".into(), json_ok(
        "Approvals of the accounts the caller may read, newest first",
        json!({"type": "object", "required": ["approvals"], "properties": {"approvals": {"type": "array", "items": approval.clone()}}}),
    ));
    let mut approval_one = errors(&[
        ("401", "unauthorized"),
        ("403", "forbidden"),
        ("404", "not_found"),
    ]);
    approval_one.insert("200".into(), json_ok("One approval", json!({"type": "object", "required": ["approval"], "properties": {"approval": approval.clone()}})));
    let mut approval_decide = errors(&[
        ("401", "unauthorized"),
        (
            "403",
            "forbidden: not an approver of the account, the requester (four eyes), or a session's request without its X-CSRF-Token",
        ),
        ("404", "not_found: no such approval or decision"),
        (
            "409",
            "operation_conflict: it is not waiting any more (decided, expired, sent)",
        ),
        ("415", "the body is not JSON"),
        ("422", "invalid_request: the body is not {\"note\"}"),
    ]);
    approval_decide.insert("200".into(), json_ok(
        "The approval as decided; approved, it is sent at once (status sent, with its operation_id), or stays approved after a refusal at send time and is tried again",
        json!({"type": "object", "required": ["approval"], "properties": {"approval": approval}}),
    ));
    let mut get_op = errors(&[
        ("401", "unauthorized"),
        ("403", "forbidden"),
        ("404", "not_found"),
    ]);
    get_op.insert(
        "200".into(),
        json_ok(
            "The stored operation and its audit events; where the actor is a person (user:NAME, oidc:ISSUER#SUBJECT), actor_name beside it is the name the people list shows for them",
            json!({"type": "object", "required": ["operation", "events"], "properties": {"operation": {"type": "object"}, "events": {"type": "array", "items": {"type": "object"}}}}),
        ),
    );
    let mut resolve = errors(&[
        ("415", "the body is not JSON"),
        ("422", "invalid_request"),
        ("401", "unauthorized"),
        ("403", "forbidden: the token may not resolve"),
        ("404", "not_found"),
        ("409", "the operation is not unresolved"),
    ]);
    resolve.insert(
        "200".into(),
        json_ok("The operation as resolved", json!({"type": "object"})),
    );
    resolve.insert(
        "202".into(),
        json_ok(
            "A resolution to failed above an approval threshold: it waits for a second person (an approval of operation resolve)",
            json!({"type": "object", "required": ["status", "approval"], "properties": {"status": {"type": "string"}, "operation_id": {"type": "null"}, "approval": {"type": "object"}}}),
        ),
    );
    let mut deliveries = errors(&[
        ("401", "unauthorized"),
        ("422", "invalid_request: a bad query parameter"),
    ]);
    deliveries.insert(
        "200".into(),
        json_ok(
            "Webhook deliveries, newest first",
            json!({"type": "object", "required": ["deliveries"], "properties": {"deliveries": {"type": "array", "items": {"type": "object"}}}}),
        ),
    );
    let mut list_ops = errors(&[
        ("401", "unauthorized"),
        (
            "404",
            "not_found: account= names no account this token may use",
        ),
        (
            "422",
            "invalid_request: a bad query parameter (status, time, cursor or limit), or one the route does not take",
        ),
    ]);
    list_ops.insert(
        "200".into(),
        json_ok(
            "Operations newest first, only those of the accounts and operation kinds the token may use; next_cursor while more may follow",
            json!({"type": "object", "required": ["operations", "next_cursor"], "properties": {"operations": {"type": "array", "items": {"type": "object"}}, "next_cursor": {"type": ["string", "null"]}}}),
        ),
    );
    let op_filters = vec![
        json!({"name": "account", "in": "query", "required": false, "schema": {"type": "string"}}),
        json!({"name": "order_ref", "in": "query", "required": false, "description": "Only this order's operations", "schema": {"type": "string"}}),
        json!({"name": "provider_reference", "in": "query", "required": false, "description": "Only those whose answer names this provider reference", "schema": {"type": "string"}}),
        json!({"name": "q", "in": "query", "required": false, "description": "Search: an operation id, an order reference or a provider reference (exact)", "schema": {"type": "string"}}),
        json!({"name": "status", "in": "query", "required": false, "description": "One state or several separated by commas: in_flight, succeeded, pending, failed, unknown", "schema": {"type": "string", "pattern": "^((in_flight|succeeded|pending|failed|unknown)(,(in_flight|succeeded|pending|failed|unknown))*)?$"}}),
        json!({"name": "since", "in": "query", "required": false, "description": "Created at or after (RFC 3339)", "schema": {"type": "string", "format": "date-time"}}),
        json!({"name": "until", "in": "query", "required": false, "description": "Created before (RFC 3339)", "schema": {"type": "string", "format": "date-time"}}),
        json!({"name": "min_amount", "in": "query", "required": false, "description": "Amounts at least this, in minor units (operations with no amount are left out)", "schema": {"type": "integer", "minimum": 0, "maximum": payops_core::details::MAX_SAFE_INTEGER}}),
        json!({"name": "max_amount", "in": "query", "required": false, "description": "Amounts at most this, in minor units (operations with no amount are left out)", "schema": {"type": "integer", "minimum": 0, "maximum": payops_core::details::MAX_SAFE_INTEGER}}),
    ];
    let utc_offset = json!({"name": "utc_offset", "in": "query", "required": false, "description": "The zone of the times and days (+HH:MM, -HH:MM or Z); +03:00 when absent", "schema": {"type": "string", "pattern": "^(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])?$"}});
    let with_params = |a: &Vec<Value>, b: &[Value]| -> Value {
        Value::Array(a.iter().chain(b).cloned().collect())
    };
    let mut export_ops = list_ops.clone();
    export_ops.insert(
        "200".into(),
        json!({"description": "A header row, then one row per operation (RFC 4180, CRLF): amounts in minor units and in major units with the currency", "content": {"text/csv": {"schema": {"type": "string"}}}}),
    );
    export_ops.insert(
        "422".into(),
        error("invalid_request: a bad filter, one the route does not take, or more than 100,000 operations match"),
    );
    let mut totals = list_ops.clone();
    totals.insert(
        "200".into(),
        json_ok(
            "Groups of the filtered operations, newest day first",
            json!({"type": "object", "required": ["utc_offset", "operations", "totals"], "properties": {"utc_offset": {"type": "string"}, "operations": {"type": "integer"}, "totals": {"type": "array", "items": {"type": "object", "required": ["account", "day", "operation", "status", "currency", "count", "amount"], "properties": {"account": {"type": "string"}, "day": {"type": "string", "format": "date"}, "operation": {"type": "string"}, "status": {"type": "string"}, "currency": {"type": "string"}, "count": {"type": "integer"}, "amount": {"type": "integer"}}}}}}),
        ),
    );
    totals.insert("422".into(), export_ops["422"].clone());
    // Batches uploaded to the daemon (the console's).
    let batch = json!({"type": "object", "required": ["batch_id", "account", "operation", "name", "state", "total", "done", "counts", "invalid", "orders"], "properties": {
        "batch_id": {"type": "string"}, "account": {"type": "string"}, "operation": {"type": "string"}, "name": {"type": "string"},
        "uploaded_by": {"type": "string"},
        "state": {"type": "string", "enum": ["checked", "running", "finished"]},
        "total": {"type": "integer"}, "done": {"type": "integer"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "invalid": {"type": "array", "items": {"type": "object", "required": ["row", "error"], "properties": {"row": {"type": "integer", "description": "0: the file itself"}, "error": {"type": "string"}}}},
        "orders": {"type": "array", "items": {"type": "object", "required": ["order_ref", "rows", "amount", "whole"], "properties": {"order_ref": {"type": "string"}, "rows": {"type": "array", "items": {"type": "integer"}}, "amount": {"type": "integer"}, "whole": {"type": "integer"}}}},
        "started_by": {"type": ["string", "null"]}, "started_at": {"type": ["string", "null"]},
        "rows": {"type": "array", "items": {"type": "object", "required": ["row", "key"], "properties": {"row": {"type": "integer"}, "key": {"type": "string"}, "outcome": {"type": "object"}}}},
        "continued": {"type": "boolean"}, "changed": {"type": "boolean"}}});
    let mut batch_list = errors(&[("401", "unauthorized")]);
    batch_list.insert("200".into(), json_ok("The batches the caller may read", json!({"type": "object", "required": ["batches"], "properties": {"batches": {"type": "array", "items": batch.clone()}}})));
    let mut batch_upload = errors(&[
        ("401", "unauthorized"),
        (
            "403",
            "forbidden: the caller may not run this operation on this account",
        ),
        ("404", "not_found: no such account"),
        ("409", "operation_conflict: that batch is running"),
        (
            "415",
            "invalid_request: not text/csv or application/x-ndjson",
        ),
        ("422", "invalid_request: a bad query parameter"),
    ]);
    batch_upload.insert("201".into(), json_ok("Checked, nothing sent: the rows the check refused (`invalid`), the rows by order; `continued` when the name continues an earlier batch, `changed` when its file differs", batch.clone()));
    let mut batch_show = errors(&[
        ("401", "unauthorized"),
        ("404", "not_found: no such batch here"),
    ]);
    batch_show.insert("200".into(), json_ok("The batch", batch.clone()));
    let mut batch_start = errors(&[
        ("401", "unauthorized"),
        (
            "403",
            "forbidden: the caller may not run this operation on this account",
        ),
        ("404", "not_found: no such batch here"),
        (
            "409",
            "operation_conflict: running, or its check found problems",
        ),
        ("422", "invalid_request: a bad concurrency"),
    ]);
    batch_start.insert(
        "202".into(),
        json_ok(
            "Started: follow it with GET /v1/batches/{id}",
            batch.clone(),
        ),
    );
    let mut batch_stop = errors(&[
        ("401", "unauthorized"),
        (
            "403",
            "forbidden: the caller may not run this operation on this account",
        ),
        ("404", "not_found: no such batch here"),
    ]);
    batch_stop.insert("200".into(), json_ok("Stopping: no new row starts", batch));
    let mut reconcile = errors(&[
        ("401", "unauthorized"),
        (
            "403",
            "forbidden: the token may not read the operation or run query",
        ),
        ("404", "not_found"),
        (
            "503",
            "unavailable: the store or the provider could not be reached",
        ),
    ]);
    reconcile.insert(
        "200".into(),
        json_ok(
            "What reconciliation found (to is null when the status did not change) and the operation as it is now",
            json!({"type": "object", "required": ["operation_id", "from", "to", "how", "operation"], "properties": {"operation_id": {"type": "string"}, "from": {"type": "string"}, "to": {"type": ["string", "null"]}, "how": {"type": "string"}, "operation": {"type": "object"}}}),
        ),
    );
    let mut list_refusals = errors(&[
        ("401", "unauthorized"),
        (
            "404",
            "not_found: account= names no account this token may use",
        ),
        (
            "422",
            "invalid_request: a bad query parameter (reason, time, cursor or limit), or one the route does not take",
        ),
    ]);
    list_refusals.insert(
        "200".into(),
        json_ok(
            "Refusals newest first, only those of the accounts and operation kinds the token may use; next_cursor while more may follow",
            json!({"type": "object", "required": ["refusals", "next_cursor"], "properties": {"refusals": {"type": "array", "items": {"type": "object"}}, "next_cursor": {"type": ["string", "null"]}}}),
        ),
    );
    let mut get_refusal = errors(&[
        ("401", "unauthorized"),
        (
            "403",
            "forbidden: the token may not read this account's operations of that kind",
        ),
        ("404", "not_found"),
    ]);
    get_refusal.insert(
        "200".into(),
        json_ok(
            "One refusal: who, what, why, when",
            json!({"type": "object", "required": ["refusal"], "properties": {"refusal": {"type": "object"}}}),
        ),
    );
    let mut get_order = errors(&[
        ("401", "unauthorized"),
        (
            "403",
            "forbidden: the token may not use this account, or may not run query (fresh=true)",
        ),
        ("404", "not_found: no such account"),
        (
            "422",
            "invalid_request: a bad query parameter; with fresh=true, the query's own refusal",
        ),
        (
            "503",
            "unavailable: the store, or with fresh=true the provider, could not be reached",
        ),
    ]);
    get_order.insert(
        "200".into(),
        json_ok(
            "The order's ledger: paid (with when it was read), totals (succeeded, pending, unknown: money at risk, remaining), the operations the token may read, the external returns",
            json!({"type": "object", "required": ["order"], "properties": {"order": {
                "type": "object",
                "required": ["account", "order_ref", "paid", "totals", "provider_returned_total", "not_counted", "operations", "external_returns"],
                "properties": {
                    "account": {"type": "string"},
                    "order_ref": {"type": "string"},
                    "paid": {"type": ["object", "null"], "required": ["amount", "currency", "read_at", "by_operation", "returns_listed"], "properties": {
                        "amount": {"type": "integer"}, "currency": {"type": "string"}, "read_at": {"type": "string", "format": "date-time"},
                        "by_operation": {"type": "string"}, "returns_listed": {"type": "string", "enum": ["each_return", "total_only", "not_listed"]}}},
                    "totals": {"type": "object", "required": ["succeeded", "pending", "unknown", "remaining"], "properties": {
                        "succeeded": {"type": "integer"}, "pending": {"type": "integer"}, "unknown": {"type": "integer"}, "remaining": {"type": ["integer", "null"]}}},
                    "provider_returned_total": {"type": ["integer", "null"]},
                    "not_counted": {"type": "array", "items": {"type": "string"}},
                    "operations": {"type": "array", "items": {"type": "object"}},
                    "external_returns": {"type": "array", "items": {"type": "object",
                        "required": ["transaction_id", "kind", "state", "amount", "date"],
                        "properties": {
                            "transaction_id": {"type": ["string", "null"]},
                            "kind": {"type": "string", "enum": ["cancel", "refund"]},
                            "state": {"type": "string", "enum": ["succeeded", "pending", "unknown"]},
                            "amount": {"type": ["integer", "null"]},
                            "date": {"type": ["string", "null"], "format": "date-time"},
                            "could_be": {"type": "array", "items": {"type": "string"}, "description": "Unresolved operations that could own this return by the provider's matching, each already keeping another row it could own: this one counts in full until reconciliation says whose it is"}}}}
                }}}}),
        ),
    );
    let reasons: Vec<&str> = payops_core::outcome::Reason::ALL
        .iter()
        .map(|r| r.as_str())
        .collect();
    let reason_pattern = format!("^(({0})(,({0}))*)?$", reasons.join("|"));
    let mut accounts = errors(&[("401", "unauthorized")]);
    accounts.insert(
        "200".into(),
        json_ok(
            "The accounts this token may use, with their provider and operations",
            json!({"type": "object", "required": ["accounts"], "properties": {"accounts": {"type": "array", "items": {"type": "object", "required": ["name", "provider", "operations", "may_resolve", "may_approve"], "properties": {"name": {"type": "string"}, "provider": {"type": "string"}, "operations": {"type": "array", "items": {"type": "string"}}, "may_resolve": {"type": "boolean", "description": "May resolve this account's unknown and pending operations"}, "may_approve": {"type": "boolean", "description": "May approve or reject others' requests on this account"}, "callback_url": {"type": "string", "description": "For a provider that posts results to one URL per merchant (Sipay's refund webhook), the URL to set in its panel; given to callers who may resolve the account, when the daemon has server.public_url"}}}}}}),
        ),
    );
    let path_param = |name: &str, schema: Value| json!({"name": name, "in": "path", "required": true, "schema": schema});
    // People: sign-in, sessions, the caller's own view, the admin's list.
    let grants = json!({"type": "array", "items": {"type": "object", "required": ["role", "accounts"], "properties": {
        "role": {"type": "string", "enum": ["viewer", "operator", "approver", "admin"]},
        "accounts": {"type": "array", "items": {"type": "string"}}}}});
    let mut me = errors(&[("401", "unauthorized: no token, or the session has ended")]);
    me.insert("200".into(), json_ok(
        "Who the caller is and what it may do; a person's csrf_token goes in X-CSRF-Token on every request that changes something",
        json!({"type": "object", "required": ["actor", "kind", "display_name", "role", "grants", "operations", "admin", "csrf_token"], "properties": {
            "actor": {"type": "string", "description": "What records name: a token's name, user:NAME, or oidc:ISSUER#SUBJECT"},
            "kind": {"type": "string", "enum": ["token", "person"]},
            "display_name": {"type": "string"},
            "role": {"type": ["string", "null"], "enum": ["viewer", "operator", "approver", "admin", null]},
            "grants": grants,
            "operations": {"type": "array", "items": {"type": "string"}},
            "admin": {"type": "boolean"},
            "csrf_token": {"type": ["string", "null"]}}}),
    ));
    let mut methods = serde_json::Map::new();
    methods.insert("200".into(), json_ok(
        "How one may sign in here",
        json!({"type": "object", "required": ["local", "oidc", "signed_in"], "properties": {
            "local": {"type": "boolean"},
            "signed_in": {"type": "boolean", "description": "The request's session cookie is a live session"},
            "oidc": {"type": ["object", "null"], "properties": {"label": {"type": "string"}}}}}),
    ));
    let mut login = errors(&[
        (
            "400",
            "invalid_request: the body is not {username, password}",
        ),
        (
            "401",
            "unauthorized: wrong user name or password (the same for a name nobody has)",
        ),
        (
            "403",
            "forbidden: local sign-in is off (auth.local = false)",
        ),
        ("415", "invalid_request: the body is not JSON"),
        (
            "422",
            "invalid_request: the body is not {username, password}",
        ),
        (
            "429",
            "too many failed sign-ins for this name or address: wait (Retry-After)",
        ),
    ]);
    login.insert("200".into(), json!({
        "description": "Signed in: the session cookie is set (payops_session: HttpOnly, SameSite=Lax, Secure)",
        "headers": {"Set-Cookie": {"schema": {"type": "string"}}},
        "content": {"application/json": {"schema": {"type": "object", "required": ["actor", "display_name"], "properties": {"actor": {"type": "string"}, "display_name": {"type": "string"}}}}}}));
    let mut logout = errors(&[
        ("401", "unauthorized"),
        (
            "403",
            "forbidden: a session's request without its X-CSRF-Token",
        ),
    ]);
    logout.insert(
        "204".into(),
        json!({"description": "Signed out: the session has ended and its cookie is cleared"}),
    );
    let redirect = |desc: &str| json!({"description": desc, "headers": {"Location": {"schema": {"type": "string"}}}});
    let mut oidc_start = errors(&[
        ("404", "not_found: no [auth.oidc] here"),
        (
            "503",
            "unavailable: the identity provider cannot be reached",
        ),
    ]);
    oidc_start.insert(
        "303".into(),
        redirect("To the identity provider (authorization code + PKCE)"),
    );
    let mut oidc_callback = errors(&[("404", "not_found: no [auth.oidc] here")]);
    oidc_callback.insert("303".into(), redirect("To the console: signed in (the session cookie set), or to its sign-in page with ?signin_error="));
    let person = json!({"type": "object", "required": ["actor", "kind", "display_name", "accounts", "disabled", "created_at", "updated_at"], "properties": {
        "actor": {"type": "string"}, "kind": {"type": "string", "enum": ["local", "oidc"]},
        "display_name": {"type": "string"}, "role": {"type": ["string", "null"]},
        "accounts": {"type": "array", "items": {"type": "string"}}, "disabled": {"type": "boolean"},
        "created_at": {"type": "string"}, "updated_at": {"type": "string"}, "last_sign_in_at": {"type": ["string", "null"]}}});
    let mut people = errors(&[
        ("401", "unauthorized"),
        ("403", "forbidden: not an admin over every account"),
    ]);
    people.insert("200".into(), json_ok("Everyone payops knows: local users and the people an OpenID provider signed in", json!({"type": "object", "required": ["people"], "properties": {"people": {"type": "array", "items": person.clone()}}})));
    let mut person_action = errors(&[
        ("401", "unauthorized"),
        (
            "403",
            "forbidden: not an admin over every account, a session's request without its X-CSRF-Token, or an admin disabling themselves",
        ),
        ("404", "not_found: no such person or action"),
    ]);
    person_action.insert(
        "200".into(),
        json_ok(
            "The person as now recorded (disabling ends their sessions)",
            json!({"type": "object", "required": ["person"], "properties": {"person": person}}),
        ),
    );
    let text = |desc: &str| json!({"description": desc, "content": {"text/plain": {"schema": {"type": "string"}}}});
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "payops",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Payment operations (refund, cancel, query, sub-merchant adjustment) across providers. Generated by `payops schemas --out schemas`; do not edit."
        },
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/v1/accounts/{account}/operations/{operation}": {"post": {
                "operationId": "runOperation",
                "summary": "Run an operation on an account",
                "parameters": [
                    path_param("account", json!({"type": "string", "minLength": 1})),
                    path_param("operation", json!({"type": "string", "enum": ["refund", "cancel", "query", "sub_merchant_adjust", "return"]})),
                    {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "minLength": 1, "maxLength": 255}},
                    {"name": "X-Payops-Override-Open", "in": "header", "required": false, "schema": {"type": "string"}}
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"description": "The request document of the account's provider for this operation (each provider's schema).", "anyOf": requests}}}},
                "responses": run_responses
            }},
            "/v1/accounts": {"get": {"operationId": "listAccounts", "summary": "Accounts this token may use", "responses": accounts}},
            "/v1/operations": {"get": {
                "operationId": "listOperations",
                "summary": "Operations, newest first, a page at a time",
                "parameters": with_params(&op_filters, &[
                    json!({"name": "cursor", "in": "query", "required": false, "description": "The next_cursor of the previous page (CREATED_AT~ID); empty or absent: the first page", "schema": {"type": "string", "pattern": "^([^~]*~[\\s\\S]+)?$"}}),
                    json!({"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}})
                ]),
                "responses": list_ops
            }},
            "/v1/operations.csv": {"get": {
                "operationId": "exportOperations",
                "summary": "The filtered operations as CSV (at most 100,000; cells a spreadsheet would take for a formula start with ')",
                "parameters": with_params(&op_filters, std::slice::from_ref(&utc_offset)),
                "responses": export_ops
            }},
            "/v1/batches": {
                "get": {"operationId": "listBatches", "summary": "The batches uploaded to this daemon (newest first, without their rows)", "responses": batch_list},
                "post": {
                    "operationId": "uploadBatch",
                    "summary": "Reads and checks a batch file (CSV with a header row, or JSON lines): every row against the provider's schema, grouped by order; nothing is sent. The same name again continues that batch (its rows keep their keys)",
                    "parameters": [
                        {"name": "account", "in": "query", "required": true, "schema": {"type": "string", "minLength": 1}},
                        {"name": "operation", "in": "query", "required": true, "schema": {"type": "string", "enum": ["refund", "cancel", "return", "query", "sub_merchant_adjust"]}},
                        {"name": "name", "in": "query", "required": true, "description": "The file's name: a batch is continued by its name", "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"}},
                        {"name": "key_column", "in": "query", "required": false, "description": "A column (field) holding each row's idempotency key; without it: the batch id and the row number", "schema": {"type": "string"}},
                        {"name": "new_batch", "in": "query", "required": false, "description": "A new batch although one of this name exists (a new file under an old name)", "schema": {"type": "boolean", "default": false}}
                    ],
                    "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "string"}}, "application/x-ndjson": {"schema": {"type": "string"}}}},
                    "responses": batch_upload
                }
            },
            "/v1/batches/{id}": {"get": {"operationId": "getBatch", "summary": "A batch: where it is, its counts, each row and its outcome", "parameters": [path_param("id", json!({"type": "string"}))], "responses": batch_show}},
            "/v1/batches/{id}/start": {"post": {
                "operationId": "startBatch",
                "summary": "Runs a checked batch in the daemon (rows of one order take turns; rows already done are replayed, never sent again)",
                "parameters": [path_param("id", json!({"type": "string"})), {"name": "concurrency", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 16, "default": 4}}],
                "responses": batch_start
            }},
            "/v1/batches/{id}/stop": {"post": {"operationId": "stopBatch", "summary": "No new row starts; the rows in flight finish (the rest end not_started)", "parameters": [path_param("id", json!({"type": "string"}))], "responses": batch_stop}},
            "/v1/totals": {"get": {
                "operationId": "operationTotals",
                "summary": "The filtered operations counted and summed by account, day, operation, status and currency",
                "parameters": with_params(&op_filters, std::slice::from_ref(&utc_offset)),
                "responses": totals
            }},
            "/v1/operations/{id}/reconcile": {"post": {
                "operationId": "reconcileOperation",
                "summary": "Settle an unknown or pending operation now with the provider's query (never re-sends)",
                "parameters": [path_param("id", json!({"type": "string"}))],
                "responses": reconcile
            }},
            "/v1/operations/{id}": {"get": {"operationId": "getOperation", "summary": "One operation with its audit events", "parameters": [path_param("id", json!({"type": "string"}))], "responses": get_op}},
            "/v1/operations/{id}/resolve": {"post": {
                "operationId": "resolveOperation",
                "summary": "Record an operator's resolution of an unknown or pending operation",
                "parameters": [path_param("id", json!({"type": "string"}))],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["status", "evidence"], "properties": {"status": {"type": "string", "enum": ["succeeded", "failed"]}, "evidence": {"type": "string", "minLength": 1}}}}}},
                "responses": resolve
            }},
            "/v1/accounts/{account}/orders/{order_ref}": {"get": {
                "operationId": "getOrder",
                "summary": "An order's ledger: what was paid, returned, at risk, and what remains",
                "parameters": [
                    path_param("account", json!({"type": "string", "minLength": 1})),
                    path_param("order_ref", json!({"type": "string", "minLength": 1})),
                    {"name": "fresh", "in": "query", "required": false, "description": "Query the provider first (recorded as a query operation)", "schema": {"type": "boolean", "default": false}}
                ],
                "responses": get_order
            }},
            "/v1/refusals": {"get": {
                "operationId": "listRefusals",
                "summary": "Requests refused before anything was sent (not operations), newest first, a page at a time",
                "parameters": [
                    {"name": "account", "in": "query", "required": false, "schema": {"type": "string"}},
                    {"name": "reason", "in": "query", "required": false, "description": "One reason or several separated by commas (invalid_request, conflict, limit, unreachable, ...)", "schema": {"type": "string", "pattern": reason_pattern}},
                    {"name": "since", "in": "query", "required": false, "description": "At or after (RFC 3339)", "schema": {"type": "string", "format": "date-time"}},
                    {"name": "until", "in": "query", "required": false, "description": "Before (RFC 3339)", "schema": {"type": "string", "format": "date-time"}},
                    {"name": "cursor", "in": "query", "required": false, "description": "The next_cursor of the previous page (AT~ID); empty or absent: the first page", "schema": {"type": "string", "pattern": "^([^~]*~[\\s\\S]+)?$"}},
                    {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}}
                ],
                "responses": list_refusals
            }},
            "/v1/refusals/{id}": {"get": {"operationId": "getRefusal", "summary": "One refusal", "parameters": [path_param("id", json!({"type": "string"}))], "responses": get_refusal}},
            "/v1/webhook-deliveries": {"get": {
                "operationId": "listWebhookDeliveries",
                "summary": "Webhook deliveries of the accounts this token may use",
                "parameters": [
                    {"name": "state", "in": "query", "required": false, "schema": {"type": "string", "enum": ["pending", "delivered", "failed"]}},
                    {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}
                ],
                "responses": deliveries
            }},
            "/v1/approvals": {"get": {
                "operationId": "listApprovals",
                "summary": "Requests waiting for a second person (and, asked for, decided ones)",
                "parameters": [
                    {"name": "status", "in": "query", "required": false, "description": "One state or several separated by commas (default awaiting_approval,approved)", "schema": {"type": "string", "pattern": "^((awaiting_approval|approved|rejected|expired|sent)(,(awaiting_approval|approved|rejected|expired|sent))*)?$"}},
                    {"name": "account", "in": "query", "required": false, "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}
                ],
                "responses": approvals_list
            }},
            "/v1/approvals/{id}": {"get": {"operationId": "getApproval", "summary": "One approval", "parameters": [path_param("id", json!({"type": "string"}))], "responses": approval_one}},
            "/v1/approvals/{id}/{decision}": {"post": {
                "operationId": "decideApproval",
                "summary": "Approve (then sent once) or reject a waiting request: an approver of its account, not its requester",
                "parameters": [
                    path_param("id", json!({"type": "string"})),
                    path_param("decision", json!({"type": "string", "enum": ["approve", "reject"]}))
                ],
                "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "properties": {"note": {"type": "string"}}}}}},
                "responses": approval_decide
            }},
            "/v1/me": {"get": {"operationId": "me", "summary": "Who the caller is, its roles, and a session's CSRF token", "responses": me}},
            "/v1/auth/methods": {"get": {"operationId": "signInMethods", "summary": "How one may sign in here", "security": [], "responses": methods}},
            "/v1/auth/login": {"post": {
                "operationId": "signIn",
                "summary": "A local user signs in (rate-limited)",
                "security": [],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["username", "password"], "properties": {"username": {"type": "string"}, "password": {"type": "string", "format": "password"}}}}}},
                "responses": login
            }},
            "/v1/auth/logout": {"post": {"operationId": "signOut", "summary": "Ends the caller's session", "responses": logout}},
            "/v1/auth/oidc/start": {"get": {
                "operationId": "oidcStart",
                "summary": "Sends the browser to the identity provider",
                "security": [],
                "parameters": [{"name": "return_to", "in": "query", "required": false, "description": "A path of the console (/ui...) to come back to", "schema": {"type": "string"}}],
                "responses": oidc_start
            }},
            "/v1/auth/oidc/callback": {"get": {
                "operationId": "oidcCallback",
                "summary": "The identity provider sends the browser back (state, PKCE, ID token checked)",
                "security": [],
                "parameters": [
                    {"name": "code", "in": "query", "required": false, "schema": {"type": "string"}},
                    {"name": "state", "in": "query", "required": false, "schema": {"type": "string"}},
                    {"name": "error", "in": "query", "required": false, "schema": {"type": "string"}},
                    {"name": "error_description", "in": "query", "required": false, "schema": {"type": "string"}}
                ],
                "responses": oidc_callback
            }},
            "/v1/people": {"get": {"operationId": "listPeople", "summary": "Everyone payops knows (admins)", "responses": people}},
            "/v1/people/{actor}/{action}": {"post": {
                "operationId": "setPersonAccess",
                "summary": "Disable (their sessions end) or enable a person (admins)",
                "parameters": [
                    path_param("actor", json!({"type": "string", "minLength": 1})),
                    path_param("action", json!({"type": "string", "enum": ["disable", "enable"]}))
                ],
                "responses": person_action
            }},
            "/v1/schemas/{path}": {"get": {"operationId": "getSchema", "summary": "An exported JSON Schema (index.json lists them)", "security": [], "parameters": [path_param("path", json!({"type": "string"}))], "responses": {"200": {"description": "The schema", "content": {"application/schema+json": {"schema": {}}}}, "404": error("not_found")}}},
            "/v1/openapi.json": {"get": {"operationId": "getOpenApi", "summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/ui/": {"get": {"operationId": "console", "summary": "The operator console (sign in as a local user, through the identity provider, or with a token)", "security": [], "responses": {"200": {"description": "The console's page", "content": {"text/html": {"schema": {"type": "string"}}}}}}},
            "/healthz": {"get": {"operationId": "health", "security": [], "responses": {"200": text("ok")}}},
            "/readyz": {"get": {"operationId": "ready", "security": [], "responses": {"200": text("ready"), "503": error("shutting down, or the store does not take writes")}}},
            "/metrics": {"get": {"operationId": "metrics", "security": [], "responses": {"200": {"description": "OpenMetrics text", "content": {"application/openmetrics-text": {"schema": {"type": "string"}}}}, "401": error("the metrics token is required")}}}
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A token configured in [[tokens]] (payops token new), with its role (viewer, operator, approver, admin) on its accounts."},
                "session": {"type": "apiKey", "in": "cookie", "name": "payops_session", "description": "A console session (POST /v1/auth/login, or OpenID Connect); requests that change something also send X-CSRF-Token (GET /v1/me)."}
            },
            "schemas": Value::Object(components)
        }
    })
}
