//! Reconciliation: `unknown` and `pending` operations are settled with the
//! provider's query, never by re-sending.
//!
//! This is the generic part only. For each unresolved operation the host
//! runs the provider's query of the order, gathers the operation's siblings
//! (every operation of the same account and order, through the indexed
//! `order_ref`, with no cap on how far back) and the provider transactions
//! already claimed, and hands all of it to the provider's reconcile step.
//! What the answer means (which row is whose) is the provider's call. The
//! host records the resolution, and a transaction that proves an operation
//! is claimed in the store in the same transaction as the new status, so no
//! provider row is ever credited to two operations, whatever number of
//! reconcilers run. Undetermined operations keep their state, with the
//! evidence and candidates recorded for an operator
//! (`payops operations resolve`).

use std::time::Duration;

use payops_core::{Claim, Envelope, Error, OperationKind, QueryDetails, Status, Verdict};
use payops_store::{Settle, State, StoredOperation};
use serde_json::{Value, json};

use crate::engine::Engine;
use crate::ids::now;

/// What happened to one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Operation id.
    pub id: String,
    /// Its state before.
    pub from: String,
    /// The new status, if it changed.
    pub to: Option<Status>,
    /// Why.
    pub how: String,
}

/// The periodic pass's backoff: an operation the query could not settle is
/// looked at again after `first`, then twice as long each time, at most
/// `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The first delay.
    pub first: Duration,
    /// The longest delay.
    pub max: Duration,
}

/// What a reconciliation pass did.
#[derive(Debug, Default)]
pub struct Pass {
    /// One resolution per operation examined.
    pub examined: Vec<Resolution>,
    /// Unresolved operations left alone for being younger than the
    /// minimum age (an answer may still be on its way).
    pub too_young: usize,
}

/// Reconciles `unknown` and `pending` operations at least `min_age` old;
/// with a `backoff` (the daemon's periodic pass) only those due, putting
/// off those it cannot settle.
pub async fn run(
    engine: &Engine,
    account: Option<&str>,
    min_age: Duration,
    backoff: Option<Backoff>,
) -> Result<Pass, Error> {
    let ops = match backoff {
        Some(_) => engine.store.due_for_reconcile(account).await,
        None => engine.store.unresolved(account).await,
    }?;
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(min_age).unwrap_or_default();
    let (old, young): (Vec<_>, Vec<_>) = ops.into_iter().partition(|o| o.created_at <= cutoff);
    let mut out = Vec::new();
    for op in old {
        let r = one(engine, &op, None).await?;
        if r.to.is_none()
            && let Err(e) = engine
                .store
                .note(&op.id, &format!("undetermined: {}", r.how))
                .await
        {
            tracing::warn!(operation_id = %op.id, error = %e, "cannot record the reconciliation note");
        }
        if let (None, Some(b)) = (&r.to, backoff) {
            let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4);
            if let Err(e) = engine
                .store
                .back_off_reconcile(&op.id, ms(b.first), ms(b.max))
                .await
            {
                tracing::warn!(operation_id = %op.id, error = %e, "cannot record the reconciliation backoff");
            }
        }
        out.push(r);
    }
    Ok(Pass {
        examined: out,
        too_young: young.len(),
    })
}

/// Reconciles the operation `id` now, if it is `unknown` or `pending`
/// (after a provider's callback; `callback`: the post to an account's
/// callback URL, for the provider to weigh).
pub(crate) async fn one_by_id(
    engine: &Engine,
    id: &str,
    callback: Option<&Value>,
) -> Result<Resolution, Error> {
    let op = engine
        .store
        .get(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no operation {id:?}")))?;
    if !matches!(
        op.state,
        payops_store::State::Unknown | payops_store::State::Pending
    ) {
        return Ok(Resolution {
            id: op.id.clone(),
            from: op.state.as_str().to_owned(),
            to: None,
            how: "not unresolved".into(),
        });
    }
    let r = one(engine, &op, callback).await?;
    if r.to.is_none() {
        let _ = engine
            .store
            .note(&op.id, &format!("undetermined: {}", r.how))
            .await;
    }
    Ok(r)
}

/// Reconciles one operation.
#[tracing::instrument(target = "payops::trace", name = "reconcile", skip_all, fields(operation_id = %op.id, from = op.state.as_str()))]
async fn one(
    engine: &Engine,
    op: &StoredOperation,
    callback: Option<&Value>,
) -> Result<Resolution, Error> {
    let r = settle_one(engine, op, callback).await;
    engine.metrics.reconciled(match &r {
        Ok(r) if r.to.is_some() => "settled",
        Ok(_) => "unchanged",
        Err(_) => "error",
    });
    r
}

/// Reconciles one operation (what [`one`] counts).
async fn settle_one(
    engine: &Engine,
    op: &StoredOperation,
    callback: Option<&Value>,
) -> Result<Resolution, Error> {
    let from = op.state.as_str().to_owned();
    let skip = |how: String| Resolution {
        id: op.id.clone(),
        from: from.clone(),
        to: None,
        how,
    };
    let Some(acct) = engine.accounts.get(&op.account) else {
        return Ok(skip(format!(
            "account {} is no longer configured",
            op.account
        )));
    };
    let Some(provider) = engine.providers.get(&op.provider) else {
        return Ok(skip(format!("provider {} is not loaded", op.provider)));
    };
    let Ok(kind) = op.operation.parse::<OperationKind>() else {
        return Ok(skip(format!("unknown operation {:?}", op.operation)));
    };
    if !provider.info().supports(OperationKind::Query) {
        return Ok(skip(
            "the provider has no query: left for an operator".into(),
        ));
    }
    let Some(order_ref) = op.request.get("order_ref").and_then(Value::as_str) else {
        return Ok(skip(
            "no order_ref in the request: left for an operator".into(),
        ));
    };
    let ctx = engine.sans_io_context(acct)?;
    let q = match provider
        .execute(
            OperationKind::Query,
            &ctx,
            json!({ "order_ref": order_ref }),
        )
        .await
    {
        Ok(q) if q.status == Status::Succeeded => q,
        Ok(q) => {
            // The provider's own words, from the query and from the
            // operation's answer: an inquiry that fails proves nothing by
            // itself (a provider whose docs prove an order's absence says
            // so in its own answer's classification).
            let words = |code: Option<&String>, message: Option<&String>| match (code, message) {
                (Some(c), Some(m)) => format!("{c} {m:?}"),
                (Some(c), None) => c.clone(),
                (None, Some(m)) => format!("{m:?}"),
                (None, None) => "nothing".into(),
            };
            let answered = op.envelope.as_ref().map_or_else(
                || "no answer recorded".to_owned(),
                |e| words(e.provider_code.as_ref(), e.provider_message.as_ref()),
            );
            return Ok(skip(format!(
                "inquiry {}: the provider said {}; the {} itself was answered {answered}. Neither proves what happened to the money: left for an operator",
                q.status,
                words(q.provider_code.as_ref(), q.provider_message.as_ref()),
                op.operation,
            )));
        }
        Err(e) => return Ok(skip(format!("inquiry refused: {e}"))),
    };
    let query_received_at = now();
    let siblings = engine.store.on_order(&op.account, order_ref).await?;
    let scope = engine.claim_scope(&op.account, &op.provider);
    let tx_ids: Vec<String> = serde_json::from_value::<QueryDetails>(q.details.clone())
        .map(|d| {
            d.transactions
                .into_iter()
                .filter_map(|t| t.transaction_id)
                .collect()
        })
        .unwrap_or_default();
    let claimed = engine
        .store
        .claims(&scope, &tx_ids)
        .await?
        .into_iter()
        .map(|(transaction_id, operation_id)| Claim {
            transaction_id,
            operation_id,
        })
        .collect();
    let mut input = crate::matching::input_of(
        op,
        kind,
        &siblings,
        claimed,
        &scope,
        q.clone(),
        query_received_at,
    );
    input.callback = callback.cloned();
    let res = match provider.reconcile(&ctx, input) {
        Ok(r) => r,
        Err(e) => return Ok(skip(format!("the provider's reconcile step failed: {e}"))),
    };
    let status = match res.verdict {
        Verdict::Succeeded => Status::Succeeded,
        Verdict::Failed => Status::Failed,
        Verdict::Pending if op.state == State::Pending => {
            return Ok(skip(format!("still pending: {}", res.evidence)));
        }
        Verdict::Pending => Status::Pending,
        Verdict::Undetermined => {
            let mut how = res.evidence.clone();
            if !res.candidates.is_empty() {
                how.push_str(&format!(" [candidates: {}]", res.candidates.join(", ")));
            }
            return Ok(skip(how));
        }
    };
    let Some(mut env): Option<Envelope> = op.envelope.clone() else {
        return Ok(skip("no envelope".into()));
    };
    env.status = status;
    env.reason = match status {
        // A declined row is the provider's own refusal; no row at all means
        // it never carried the request out.
        Status::Failed if res.transaction_id.is_some() => {
            Some(payops_core::outcome::Reason::Declined)
        }
        Status::Failed => Some(payops_core::outcome::Reason::NotProcessed),
        _ => None,
    };
    env.provider_message = Some(format!("reconciled: {}", res.evidence));
    let record = json!({
        "from": from,
        "verdict": res.verdict,
        "transaction_id": res.transaction_id,
        "evidence": res.evidence,
        "claim_scope": scope,
        "at": now(),
        "query": q.details,
    });
    match &mut env.details {
        Value::Object(m) => {
            m.insert("reconciliation".into(), record);
        }
        other => *other = json!({ "reconciliation": record }),
    }
    env.finished_at = now();
    let claim = res.transaction_id.as_deref().map(|t| (scope.as_str(), t));
    match engine
        .store
        .settle(
            &op.id,
            &payops_store::Settlement {
                from: op.state,
                envelope: &env,
                how: &res.evidence,
                claim,
                kind: "reconciled",
                actor: Some(&engine.instance),
            },
        )
        .await?
    {
        Settle::Done => {
            tracing::info!(operation_id = %op.id, from = %from, to = %status, evidence = %res.evidence, "reconciled");
            Ok(Resolution {
                id: op.id.clone(),
                from,
                to: Some(status),
                how: res.evidence,
            })
        }
        Settle::Claimed(owner) => Ok(skip(format!(
            "transaction {} is already claimed by {owner}: not credited twice; left for an operator",
            res.transaction_id.unwrap_or_default()
        ))),
        Settle::Stale => Ok(skip(
            "changed meanwhile (another reconciler settled it)".into(),
        )),
    }
}
