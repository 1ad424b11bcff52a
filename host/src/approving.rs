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
#[tracing::instrument(target = "payops::trace", name = "approval.decide", skip_all, fields(approval_id = %id, approve))]
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

/// The approval kind of a resolution to `failed` (it frees the money the
/// operation held, as a refund's approval moves it).
pub const RESOLVE: &str = "resolve";

/// What asking to resolve gave: the operation resolved, or an approval
/// the resolution waits for.
pub enum Resolved {
    /// Resolved now.
    Now(Box<payops_core::Envelope>),
    /// Waiting for a second person.
    Waiting(Box<Approval>),
}

/// Resolves operation `id` to `status` with `evidence` as `actor`,
/// unless it is a resolution to `failed` of an operation whose amount is
/// above an approval rule's `above` for `asker` (or whose amount is not
/// known): then that waits for a second person, bound to the key
/// `resolve:ID` (asking again joins it).
pub async fn resolve(
    engine: &Engine,
    id: &str,
    status: payops_core::Status,
    evidence: &str,
    actor: &str,
    asker: &crate::config::Asker,
) -> Result<Resolved, Error> {
    if status == payops_core::Status::Failed
        && let Some(op) = engine.store.get(id).await?
        && let Ok(kind) = op.operation.parse::<OperationKind>()
        && kind.moves_money()
    {
        let amount = crate::ledger::amount_of(&op);
        let over = engine
            .settings
            .approvals
            .rules
            .iter()
            .filter(|r| r.applies(&op.account, kind, asker))
            .filter_map(|r| r.above)
            .find(|max| amount.is_none_or(|a| a > *max));
        if let Some(max) = over
            && !evidence.trim().is_empty()
            && matches!(
                op.state,
                payops_store::State::Unknown | payops_store::State::Pending
            )
        {
            let approval_id = format!("ap_{}", uuid::Uuid::now_v7().simple());
            let why = match amount {
                Some(a) => format!(
                    "resolving {id} as failed frees {a}, above {max}, the most one person may free without approval"
                ),
                None => format!(
                    "resolving {id} as failed frees an amount not known, and above {max} needs approval"
                ),
            };
            let mut request = serde_json::json!({
                "operation_id": id, "status": "failed", "evidence": evidence,
            });
            if let Some(o) = &op.order_ref {
                request["order_ref"] = serde_json::json!(o);
            }
            if let Some(a) = amount {
                request["amount"] = serde_json::json!(a);
            }
            let new = payops_store::NewApproval {
                approval_id,
                account: op.account.clone(),
                provider: op.provider.clone(),
                operation: RESOLVE.into(),
                idempotency_key: format!("resolve:{id}"),
                request,
                override_open: None,
                requested_by: actor.to_owned(),
                why,
                ttl_ms: i64::try_from(
                    engine
                        .settings
                        .approvals
                        .expire_after_secs
                        .saturating_mul(1000),
                )
                .unwrap_or(i64::MAX / 4),
            };
            return match engine.store.request_approval(&new).await? {
                payops_store::ApprovalBegin::Created(a) => {
                    engine.metrics.approval(&a.account, "requested");
                    tracing::info!(approval_id = %a.approval_id, operation_id = %id, requested_by = %actor, "a resolution to failed waits for approval");
                    Ok(Resolved::Waiting(a))
                }
                // One resolution per operation waits at a time: asking
                // again (with other evidence too) joins it.
                payops_store::ApprovalBegin::Existing(a)
                | payops_store::ApprovalBegin::Conflict(a) => Ok(Resolved::Waiting(a)),
            };
        }
    }
    engine
        .resolve_by_operator(id, status, evidence, actor)
        .await
        .map(|e| Resolved::Now(Box::new(e)))
}

/// Claims one approved request (`id`, or any due) and sends it; the
/// approval as it then is, or `None` when there was nothing to claim.
#[tracing::instrument(target = "payops::trace", name = "approval.send", skip_all, fields(approval_id = id.unwrap_or("")))]
pub async fn send_one(engine: &Arc<Engine>, id: Option<&str>) -> Result<Option<Approval>, Error> {
    let Some(a) = engine
        .store
        .claim_approved(id, &engine.instance, CLAIM_MS)
        .await?
    else {
        return Ok(None);
    };
    if a.operation == RESOLVE {
        return send_resolution(engine, a).await;
    }
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

/// Applies an approved resolution to `failed` (as its requester, the
/// approver on the audit trail). A resolution the operation no longer
/// takes (reconciliation settled it meanwhile) ends the approval as sent,
/// naming the operation, with the reason as its last refusal.
async fn send_resolution(engine: &Arc<Engine>, a: Approval) -> Result<Option<Approval>, Error> {
    let id = a.request["operation_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let evidence = a.request["evidence"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let by = a.decided_by.clone().unwrap_or_else(|| "-".into());
    match engine
        .resolve_by_operator(
            &id,
            payops_core::Status::Failed,
            &format!("{evidence} (approved by {by}, {})", a.approval_id),
            &a.requested_by,
        )
        .await
    {
        Ok(_) => {
            let _ = engine
                .store
                .record_event_by(
                    &id,
                    "approved",
                    &format!("{} approved by {by}: {}", a.approval_id, a.why),
                    &by,
                )
                .await;
            engine.metrics.approval(&a.account, "sent");
        }
        Err(e) => {
            tracing::warn!(approval_id = %a.approval_id, error = %e, "an approved resolution no longer applies");
            engine
                .store
                .approval_refused(&a.approval_id, &e.to_string(), 0)
                .await?;
        }
    }
    engine.store.approval_sent(&a.approval_id, &id).await?;
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
