//! Batches through the API (the console's): `POST /v1/batches` reads and
//! checks an uploaded file (nothing sent), `POST /v1/batches/{id}/start`
//! runs it in the daemon with the runner `payops batch` uses,
//! `GET /v1/batches/{id}` follows it, `POST /v1/batches/{id}/stop` stops
//! starting rows. A batch's rows keep keys made from its id and their row
//! numbers; uploading the same file name again (same account and
//! operation) continues that batch, so no row is ever sent twice.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use payops_core::{Error, OperationKind};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::state::{ApiError, AppState, query_error};
use crate::batching::{BatchState, Uploaded};

/// The most rows one uploaded batch may have.
pub const MAX_ROWS: usize = 10_000;
/// The largest file a batch upload may send.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;

/// `?account=&operation=&name=&key_column=&new_batch=` of the upload.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UploadQuery {
    account: String,
    operation: String,
    /// The file's name (a batch is continued by its name).
    name: String,
    key_column: Option<String>,
    /// Start a new batch although one of this name exists.
    #[serde(default)]
    new_batch: bool,
}

/// `POST /v1/batches`: reads and checks the file; nothing is sent.
pub(crate) async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    query: Result<Query<UploadQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    let op: OperationKind = q
        .operation
        .parse()
        .map_err(|e: payops_core::IdError| Error::invalid_field("operation", e.to_string()))?;
    if !caller.may_run(&q.account, op) {
        return Err(caller.forbidden(format!("run {op} on account {:?}", q.account)));
    }
    let acct = state.engine.account(&q.account)?.clone();
    let name = q.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(Error::invalid_field("name", "the file's name: 1 to 200 characters").into());
    }
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let csv = match kind.as_str() {
        "text/csv" => true,
        "application/x-ndjson" | "application/jsonl" => false,
        other => {
            return Err(ApiError(
                Error::invalid_field(
                    "Content-Type",
                    format!("{other:?}: send text/csv or application/x-ndjson"),
                ),
                Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            ));
        }
    };
    // The batch of this name, account and operation continues (its rows
    // keep their keys); else a new one.
    let file = format!("console:{name}");
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&body))
    };
    let earlier = state
        .engine
        .store
        .batches_of_file(&file, &q.account, op.as_str())
        .await?;
    let (batch_id, continued) = match earlier.first().filter(|_| !q.new_batch) {
        Some(b) => (b.batch_id.clone(), Some(b.sha256 != sha)),
        None => (uuid::Uuid::now_v7().simple().to_string(), None),
    };
    // What cannot be read is shown as the check's finding (row 0: the
    // file), like an invalid row: the batch cannot start.
    let mut invalid = Vec::new();
    let rows =
        match crate::batching::read_rows(name, &body, csv, q.key_column.as_deref(), &batch_id) {
            Ok(rows) if rows.is_empty() => {
                invalid.push((0, "the file has no rows".to_owned()));
                rows
            }
            Ok(rows) if rows.len() > MAX_ROWS => {
                invalid.push((
                    0,
                    format!(
                        "{} rows: at most {MAX_ROWS} in one upload (payops batch takes more)",
                        rows.len()
                    ),
                ));
                Vec::new()
            }
            Ok(rows) => rows,
            Err(e) => {
                invalid.push((0, e));
                Vec::new()
            }
        };
    let running = state
        .batches
        .get(&batch_id)
        .is_some_and(|b| b.lock().is_ok_and(|b| b.state == BatchState::Running));
    if running {
        return Err(Error::Conflict(format!(
            "batch {batch_id} of {name:?} is running: wait for it, or stop it first"
        ))
        .into());
    }
    state
        .engine
        .store
        .record_batch(&payops_store::BatchRecord {
            batch_id: batch_id.clone(),
            account: q.account.clone(),
            operation: op.as_str().to_owned(),
            file,
            sha256: earlier
                .first()
                .filter(|_| continued.is_some())
                .map_or(sha, |b| b.sha256.clone()),
            created_at: payops_store::batch_time(&chrono::Utc::now()),
        })
        .await?;
    invalid.extend(crate::batching::invalid_rows(
        &state.engine,
        &acct.provider,
        op,
        &rows,
    ));
    let orders = crate::batching::by_order(&rows);
    let b = state.batches.put(Uploaded {
        batch_id,
        account: q.account.clone(),
        operation: op,
        name: name.to_owned(),
        uploaded_by: caller.actor.clone(),
        rows,
        invalid,
        orders,
        state: BatchState::Checked,
        results: Default::default(),
        started: None,
        gate: None,
    });
    let mut view = b.lock().map_err(|_| internal())?.view();
    view["continued"] = json!(continued.is_some());
    view["changed"] = json!(continued == Some(true));
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

fn internal() -> ApiError {
    Error::Internal("a batch's state was poisoned".into()).into()
}

/// The batch `id` if the caller may read its account.
fn readable(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Arc<std::sync::Mutex<Uploaded>>, ApiError> {
    state
        .batches
        .get(id)
        .filter(|b| b.lock().is_ok_and(|b| caller.may_read(&b.account)))
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no batch {id:?} here (uploaded batches live in the daemon that took them until it stops)"
            ))
            .into()
        })
}

/// `GET /v1/batches`: the uploaded batches the caller may read.
pub(crate) async fn list(State(state): State<AppState>, caller: Caller) -> Response {
    let list: Vec<Value> = state
        .batches
        .all()
        .iter()
        .filter_map(|b| {
            let b = b.lock().ok()?;
            caller.may_read(&b.account).then(|| {
                let mut v = b.view();
                if let Some(o) = v.as_object_mut() {
                    o.remove("rows");
                }
                v
            })
        })
        .collect();
    Json(json!({"batches": list})).into_response()
}

/// `GET /v1/batches/{id}`: where it is, and each row.
pub(crate) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let b = readable(&state, &caller, &id)?;
    let view = b.lock().map_err(|_| internal())?.view();
    Ok(Json(view).into_response())
}

/// `?concurrency=` of the start.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartQuery {
    concurrency: Option<usize>,
}

/// `POST /v1/batches/{id}/start`: runs the checked batch in the daemon
/// (202); rows already done are replayed, never sent again.
pub(crate) async fn start(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<StartQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    let concurrency = q.concurrency.unwrap_or(4);
    if !(1..=16).contains(&concurrency) {
        return Err(Error::invalid_field("concurrency", "1 to 16").into());
    }
    let b = readable(&state, &caller, &id)?;
    let gate = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let (account, op, rows) = {
        let mut u = b.lock().map_err(|_| internal())?;
        if !caller.may_run(&u.account, u.operation) {
            return Err(caller.forbidden(format!("run {} on account {:?}", u.operation, u.account)));
        }
        if !u.invalid.is_empty() {
            return Err(Error::Conflict(format!(
                "the check found {} problem(s) in the file: correct it and upload it again; nothing was sent",
                u.invalid.len()
            ))
            .into());
        }
        if u.state == BatchState::Running {
            return Err(Error::Conflict(format!("batch {id} is running")).into());
        }
        u.state = BatchState::Running;
        u.results.clear();
        u.started = Some((caller.actor.clone(), crate::ids::now().to_rfc3339()));
        u.gate = Some(gate.clone());
        (u.account.clone(), u.operation, u.rows.clone())
    };
    let options = crate::engine::Options {
        actor: Some(caller.actor.clone()),
        asker: Some(caller.asker(&account)),
        ..Default::default()
    };
    tracing::info!(batch = %id, %account, operation = %op, rows = rows.len(), actor = %caller.actor, "batch started");
    let (engine, task_b) = (state.engine.clone(), b.clone());
    tokio::spawn(async move {
        // Each row's outcome is kept as it ends (the page follows it); the
        // map `run` returns holds the same rows.
        crate::batching::run(engine, &account, op, rows, gate, options, |n, key, o| {
            if let Ok(mut u) = task_b.lock() {
                u.results.insert(n, (key.to_owned(), o.clone()));
            }
        })
        .await;
        if let Ok(mut u) = task_b.lock() {
            u.state = BatchState::Finished;
            u.gate = None;
            tracing::info!(batch = %u.batch_id, done = u.results.len(), "batch finished");
        }
    });
    let view = b.lock().map_err(|_| internal())?.view();
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

/// `POST /v1/batches/{id}/stop`: no new row starts; the rows in flight
/// finish (the rest end `not_started`; starting it again runs them).
pub(crate) async fn stop(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let b = readable(&state, &caller, &id)?;
    let u = b.lock().map_err(|_| internal())?;
    if !caller.may_run(&u.account, u.operation) {
        return Err(caller.forbidden(format!("run {} on account {:?}", u.operation, u.account)));
    }
    if let Some(g) = &u.gate {
        g.close();
    }
    Ok(Json(u.view()).into_response())
}
