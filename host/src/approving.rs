//! Four eyes: deciding approvals, and sending the approved ones once.
//!
//! A request over a threshold waits (the engine's gate records it with
//! nothing sent). Someone other than its requester, with the approver role
//! on its account, approves or rejects it; the decision is durable before
//! anything else happens. A sender (every daemon's worker, the approving
//! request itself, `payops approvals approve`) claims the approved request
//! in the store, one at a time, and runs it as an operation under its
//! original idempotency key: whoever sends, and however often a crash makes
//! one try again, the provider receives it once. A refusal at send time
//! (the order guard, the order's turn) leaves it approved and tried again
//! after `approvals.retry_secs`, until it expires.

use std::sync::Arc;
use std::time::Duration;

use payops_core::{Error, OperationKind};
use payops_store::{Approval, ApprovalState, Decided};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::{Engine, Options, Ran};

/// How long a sender holds its claim (longer than an operation may take
/// to be recorded: past it another sender may try, and the key makes that
/// try a replay).
const CLAIM_MS: i64 = 120_000;

/// Approves (`approve`) or rejects approval `id` as `by`. `may_decide`
/// says whether `by` has the approver role on an account. The requester is
/// refused whatever their role.
pub async fn decide(
    engine: &Engine,
    id: &str,
    approve: bool,
    by: &str,
    may_decide: impl Fn(&str) -> bool,
    note: Option<&str>,
) -> Result<Approval, Error> {
    let store_error = |e: payops_store::StoreError| Error::from(e);
    let a = engine
        .store
        .approval(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| Error::NotFound(format!("no approval {id:?}")))?;
    if !may_decide(&a.account) {
        return Err(Error::Forbidden(format!(
            "{by} may not decide approvals of account {:?} (the approver role on it)",
            a.account
        )));
    }
    if a.requested_by == by {
        return Err(Error::Forbidden(format!(
            "{by} asked for {id}: someone else decides it (four eyes)"
        )));
    }
    match engine
        .store
        .decide_approval(id, approve, by, note)
        .await
        .map_err(store_error)?
    {
        Some(Decided::Now(a)) => {
            let event = if approve { "approved" } else { "rejected" };
            engine.metrics.approval(&a.account, event);
            tracing::info!(approval_id = %a.approval_id, %by, requested_by = %a.requested_by, event, "approval decided");
            Ok(*a)
        }
        Some(Decided::NotWaiting(a)) => Err(Error::Conflict(format!(
            "{id} is not waiting for a decision: it is {}{}",
            a.status.as_str(),
            a.decided_by
                .as_deref()
                .map(|b| format!(" (by {b})"))
                .unwrap_or_default()
        ))),
        None => Err(Error::NotFound(format!("no approval {id:?}"))),
    }
}

/// Claims one approved request (`id`, or any due) and sends it; the
/// approval as it then is, or `None` when there was nothing to claim.
pub async fn send_one(engine: &Arc<Engine>, id: Option<&str>) -> Result<Option<Approval>, Error> {
    let Some(a) = engine
        .store
        .claim_approved(id, &engine.instance, CLAIM_MS)
        .await?
    else {
        return Ok(None);
    };
    let op: OperationKind = a.operation.parse().map_err(|_| {
        Error::Internal(format!(
            "approval {}: operation {:?}",
            a.approval_id, a.operation
        ))
    })?;
    let ran = engine
        .execute_marked(
            &a.account,
            op,
            a.request.clone(),
            Options {
                idempotency_key: Some(a.idempotency_key.clone()),
                actor: Some(a.requested_by.clone()),
                override_open: a.override_open.clone(),
                limits: Default::default(),
                asker: None,
                approved: Some(a.approval_id.clone()),
            },
        )
        .await;
    let retry_ms =
        i64::try_from(engine.settings.approvals.retry_secs.saturating_mul(1000)).unwrap_or(30_000);
    match ran {
        Ok(Ran::Done(done)) => {
            let operation_id = done.envelope.operation_id.as_str().to_owned();
            engine
                .store
                .approval_sent(&a.approval_id, &operation_id)
                .await?;
            if !done.replayed {
                let by = a.decided_by.as_deref().unwrap_or("-");
                let _ = engine
                    .store
                    .record_event_by(
                        &operation_id,
                        "approved",
                        &format!("{} approved by {by}: {}", a.approval_id, a.why),
                        by,
                    )
                    .await;
            }
            engine.metrics.approval(&a.account, "sent");
            tracing::info!(approval_id = %a.approval_id, %operation_id, status = %done.envelope.status, replayed = done.replayed, "approved request sent");
        }
        Ok(Ran::Awaiting { .. }) => {
            // The gate does not run for an approved send.
            return Err(Error::Internal(format!(
                "approval {} was gated again",
                a.approval_id
            )));
        }
        Err(e) => {
            // Refused before anything was sent (or the key taken): the
            // approval stands; tried again later.
            engine.metrics.approval(&a.account, "refused");
            tracing::warn!(approval_id = %a.approval_id, error = %e, "an approved request was refused at send time; it stays approved and is tried again");
            engine
                .store
                .approval_refused(&a.approval_id, &e.to_string(), retry_ms)
                .await?;
        }
    }
    Ok(engine.store.approval(&a.approval_id).await?)
}

/// Expires overdue approvals (counted), then sends every approved one due.
pub async fn pass(engine: &Arc<Engine>) {
    match engine.store.expire_approvals().await {
        Ok(expired) => {
            for a in expired {
                engine.metrics.approval(&a.account, "expired");
                tracing::info!(approval_id = %a.approval_id, "approval expired: nothing was sent");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot expire approvals"),
    }
    loop {
        match send_one(engine, None).await {
            Ok(Some(a))
                if a.status == ApprovalState::Sent || a.status == ApprovalState::Approved => {}
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(error = %e, "cannot send approved requests");
                break;
            }
        }
    }
}

/// The approvals worker of a daemon: a pass every `every` until `stop`.
pub fn spawn_worker(
    tasks: &TaskTracker,
    stop: CancellationToken,
    engine: Arc<Engine>,
    every: Duration,
) {
    tasks.spawn(async move {
        loop {
            pass(&engine).await;
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
        }
    });
}
