//! Reconciliation: `unknown` and `pending` operations are resolved with the
//! provider's query where it has one, never by re-sending.
//!
//! The rule (provider-independent, on the normalized [`QueryDetails`]): a
//! refund or cancel is matched to a later transaction of the payment — a
//! cancel or refund (successful, failed or pending) recorded no earlier than
//! two minutes before the operation started, with the operation's amount
//! when it had one, and not already claimed by another operation of the
//! same order. Found: its status decides. Not found: the provider did not
//! act (`failed`). A provider whose query lists no transactions (TurkPos) or
//! a sub-merchant adjustment (no per-adjustment record) stays `unknown` for an
//! operator.

use std::collections::HashSet;
use std::time::Duration;

use payops_core::{
    AccountName, Envelope, Error, OperationContext, OperationId, OperationKind, Provider,
    QueryDetails, Status, TransactionStatus,
};
use payops_store::{ListFilter, State, StoredOperation};
use serde_json::{Value, json};

use crate::engine::{Engine, new_operation_id, now};

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

fn claimed(others: &[StoredOperation], me: &str) -> HashSet<String> {
    let mut set = HashSet::new();
    for o in others.iter().filter(|o| o.id != me) {
        let Some(env) = &o.envelope else { continue };
        if env.status != Status::Succeeded && env.status != Status::Pending {
            continue;
        }
        for ptr in ["/transaction_id", "/reconciliation/transaction_id"] {
            if let Some(t) = env.details.pointer(ptr).and_then(Value::as_str) {
                set.insert(t.to_owned());
            }
        }
    }
    set
}

/// Decides an operation against a query's details: (status, how, matched transaction).
pub fn decide(
    op: &StoredOperation,
    d: &QueryDetails,
    claimed: &HashSet<String>,
) -> Option<(Status, String, Option<String>)> {
    let kind: OperationKind = op.operation.parse().ok()?;
    if !matches!(kind, OperationKind::Refund | OperationKind::Cancel) {
        return None;
    }
    if d.transactions.is_empty() {
        return None;
    }
    let amount = op.request.get("amount").and_then(Value::as_i64);
    let earliest = op.created_at - chrono::Duration::minutes(2);
    let found = d.transactions.iter().skip(1).find(|t| {
        let returns = matches!(
            t.status,
            TransactionStatus::RefundSucceeded
                | TransactionStatus::CancelSucceeded
                | TransactionStatus::RefundFailed
                | TransactionStatus::CancelFailed
                | TransactionStatus::Pending
        );
        let when = t
            .date
            .is_some_and(|dt| dt.with_timezone(&chrono::Utc) >= earliest);
        let amount_ok = amount.is_none() || t.amount == amount;
        let free = t
            .transaction_id
            .as_ref()
            .is_none_or(|id| !claimed.contains(id));
        returns && when && amount_ok && free
    });
    Some(match found {
        Some(t) => {
            let id = t.transaction_id.clone();
            let status = match t.status {
                TransactionStatus::RefundSucceeded | TransactionStatus::CancelSucceeded => {
                    Status::Succeeded
                }
                TransactionStatus::Pending => Status::Pending,
                _ => Status::Failed,
            };
            (
                status,
                format!(
                    "matched transaction {} ({:?}, status {:?})",
                    id.as_deref().unwrap_or("?"),
                    t.status_name,
                    t.status_id
                ),
                id,
            )
        }
        None => (
            Status::Failed,
            format!(
                "no {kind} transaction{} since {} in the provider's inquiry: it did not act",
                amount.map(|a| format!(" of {a}")).unwrap_or_default(),
                op.created_at.to_rfc3339()
            ),
            None,
        ),
    })
}

/// Reconciles `unknown` and `pending` operations at least `min_age` old.
pub async fn run(
    engine: &Engine,
    account: Option<&str>,
    min_age: Duration,
) -> Result<Vec<Resolution>, Error> {
    let store_err = |e: payops_store::StoreError| Error::Unavailable(e.to_string());
    let ops = engine
        .store
        .list(&ListFilter {
            account: account.map(str::to_owned),
            states: vec![State::Unknown, State::Pending],
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .map_err(store_err)?;
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(min_age).unwrap_or_default();
    let mut out = Vec::new();
    for op in ops.into_iter().filter(|o| o.created_at <= cutoff) {
        let from = op.state.as_str().to_owned();
        let skip = |how: String| Resolution {
            id: op.id.clone(),
            from: from.clone(),
            to: None,
            how,
        };
        let Some(acct) = engine.accounts.get(&op.account) else {
            out.push(skip(format!(
                "account {} is no longer configured",
                op.account
            )));
            continue;
        };
        let Some(provider) = engine.providers.get(&op.provider) else {
            out.push(skip(format!("provider {} is not loaded", op.provider)));
            continue;
        };
        if !provider.info().supports(OperationKind::Query) {
            out.push(skip(
                "the provider has no query: left for an operator".into(),
            ));
            continue;
        }
        let Some(order_ref) = op.request.get("order_ref").cloned() else {
            out.push(skip("no order_ref in the request".into()));
            continue;
        };
        let ctx = OperationContext {
            operation_id: OperationId::new(new_operation_id())
                .map_err(|e| Error::Internal(e.to_string()))?,
            account_name: AccountName::new(acct.name.clone())
                .map_err(|e| Error::Internal(e.to_string()))?,
            account: acct.config.clone(),
            transport: engine.transport.clone(),
            now: now(),
        };
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
                out.push(skip(format!(
                    "inquiry {}: {}",
                    q.status,
                    q.provider_message.unwrap_or_default()
                )));
                continue;
            }
            Err(e) => {
                out.push(skip(format!("inquiry refused: {e}")));
                continue;
            }
        };
        let Ok(details) = serde_json::from_value::<QueryDetails>(q.details.clone()) else {
            out.push(skip("inquiry details not understood".into()));
            continue;
        };
        let siblings = engine
            .store
            .list(&ListFilter {
                account: Some(op.account.clone()),
                limit: Some(10_000),
                ..Default::default()
            })
            .await
            .map_err(store_err)?
            .into_iter()
            .filter(|o| o.request.get("order_ref") == op.request.get("order_ref"))
            .collect::<Vec<_>>();
        let Some((status, how, tx)) = decide(&op, &details, &claimed(&siblings, &op.id)) else {
            out.push(skip(
                "the provider's inquiry cannot attribute this operation: left for an operator"
                    .into(),
            ));
            continue;
        };
        if status == Status::Pending && op.state == State::Pending {
            out.push(skip(format!("still pending: {how}")));
            continue;
        }
        let Some(mut env): Option<Envelope> = op.envelope.clone() else {
            out.push(skip("no envelope".into()));
            continue;
        };
        env.status = status;
        env.provider_message = Some(format!("reconciled: {how}"));
        if let Value::Object(m) = &mut env.details {
            m.insert("reconciliation".into(), json!({"from": from, "how": how, "transaction_id": tx, "at": now(), "query": q.details}));
        } else {
            env.details = json!({"reconciliation": {"from": from, "how": how, "transaction_id": tx, "at": now()}});
        }
        env.finished_at = now();
        if engine
            .store
            .resolve(&op.id, op.state, &env, &how)
            .await
            .map_err(store_err)?
        {
            tracing::info!(operation_id = %op.id, from = %from, to = %status, how = %how, "reconciled");
            out.push(Resolution {
                id: op.id.clone(),
                from,
                to: Some(status),
                how,
            });
        }
    }
    Ok(out)
}
