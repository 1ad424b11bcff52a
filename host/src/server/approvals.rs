//! Approvals on the API: the queue (`GET /v1/approvals`), one approval,
//! and the decision (`POST /v1/approvals/{id}/approve|reject`), which, once
//! durable, sends an approved request at once (the daemons' workers are
//! the backstop).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use payops_core::{Error, OperationKind};
use payops_store::{Approval, ApprovalFilter, ApprovalState};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::state::{ApiError, AppState, page_limit, query_error};

/// The answer to a request that waits: 202 while it waits or is approved
/// and not yet sent; 200 once final (rejected, expired: nothing sent).
pub(crate) fn waiting_response(a: &Approval) -> Response {
    let code = match a.status {
        ApprovalState::Rejected | ApprovalState::Expired => StatusCode::OK,
        _ => StatusCode::ACCEPTED,
    };
    (
        code,
        Json(json!({
            "status": a.status,
            "operation_id": a.operation_id,
            "approval": a,
        })),
    )
        .into_response()
}

/// May the caller read `a` (its account, its kind)?
fn readable(caller: &Caller, a: &Approval) -> bool {
    caller.may_read(&a.account)
        && (a.operation == crate::approving::RESOLVE
            || a.operation
                .parse::<OperationKind>()
                .is_ok_and(|k| caller.allows_operation(k)))
}

/// `?status=&account=&limit=` of `GET /v1/approvals`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// One state or several separated by commas (default: awaiting_approval,approved).
    status: Option<String>,
    account: Option<String>,
    limit: Option<i64>,
}

/// `GET /v1/approvals`: approvals of the accounts the caller may read,
/// newest first (by default the ones not final yet).
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    let mut states = Vec::new();
    for s in q
        .status
        .as_deref()
        .unwrap_or("awaiting_approval,approved")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        states.push(ApprovalState::parse(s).ok_or_else(|| {
            Error::invalid_field(
                "status",
                format!("{s:?} is not awaiting_approval, approved, rejected, expired or sent"),
            )
        })?);
    }
    let limit = page_limit(q.limit, 100, 1000)?;
    let accounts = match &q.account {
        Some(a) => {
            if !caller.may_read(a) {
                return Err(
                    Error::NotFound(format!("no account {a:?} that {caller} may read")).into(),
                );
            }
            Some(vec![a.clone()])
        }
        None => caller.account_scope(),
    };
    let list: Vec<Value> = state
        .engine
        .store
        .approvals(&ApprovalFilter {
            states,
            accounts,
            limit,
        })
        .await?
        .into_iter()
        .filter(|a| readable(&caller, a))
        .map(|a| {
            let mine = a.requested_by == caller.actor;
            let may = !mine
                && caller.may_approve(&a.account)
                && a.status == ApprovalState::AwaitingApproval;
            let mut v = json!(a);
            v["may_decide"] = json!(may);
            v
        })
        .collect();
    Ok(Json(json!({"approvals": list})).into_response())
}

/// `GET /v1/approvals/{id}`.
pub(crate) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let a = state
        .engine
        .store
        .approval(&id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no approval {id:?}")))?;
    if !readable(&caller, &a) {
        return Err(caller.forbidden(format!("read approvals of account {:?}", a.account)));
    }
    Ok(Json(json!({"approval": a})).into_response())
}

/// `POST /v1/approvals/{id}/approve|reject` with an optional
/// `{"note": "…"}`.
pub(crate) async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, decision)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let approve = match decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => {
            return Err(
                Error::NotFound(format!("no decision {decision:?} (approve, reject)")).into(),
            );
        }
    };
    let body = body.map_err(|e| Error::invalid_field("", format!("cannot read the body: {e}")))?;
    let note = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| Error::invalid_field("", format!("the body is not JSON: {e}")))?;
        match v.get("note") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(Error::invalid_field("/note", "a string").into()),
        }
    };
    let decided = crate::approving::decide(
        &state.engine,
        &id,
        approve,
        &caller.actor,
        |account| caller.may_approve(account),
        note.as_deref(),
    )
    .await?;
    // Approved: send it now (a worker would within seconds); the answer
    // says what it became.
    let a = if approve {
        let engine = state.engine.clone();
        let id2 = id.clone();
        let sent = state
            .engine
            .tasks
            .spawn(async move { crate::approving::send_one(&engine, Some(&id2)).await })
            .await
            .map_err(|e| Error::Internal(format!("the send task failed: {e}")))?;
        match sent {
            Ok(Some(a)) => a,
            Ok(None) => state.engine.store.approval(&id).await?.unwrap_or(decided),
            Err(e) => {
                tracing::warn!(approval_id = %id, error = %e, "an approved request could not be sent now; the workers try again");
                state.engine.store.approval(&id).await?.unwrap_or(decided)
            }
        }
    } else {
        decided
    };
    Ok(Json(json!({"approval": a})).into_response())
}
