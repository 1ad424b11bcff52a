//! Settling an unresolved NestPay refund or void from the order history
//! (`ORDERHISTORY`), which lists every request on the order with its
//! `TransId`, declined ones too. The rules, in order:
//!
//! 1. The operation's own `TransId` (from its answer) decides when the
//!    history has it: approved `succeeded`, otherwise `failed`.
//! 2. Otherwise, for a refund, the candidates are the refund rows not
//!    claimed by another operation, of its amount, dated no earlier than its
//!    start less [`START_TOLERANCE_SECS`]; for a void, the voided sale row.
//!    One approved candidate that no other unresolved operation of the same
//!    kind and amount could own: `succeeded`. One declined candidate and
//!    nothing else: `failed`.
//! 3. No candidate proves nothing (the history carries no clock to say
//!    the bank is done): undetermined, as is anything else.

use chrono::Duration;
use payops_core::{
    OperationKind, ReconcileInput, Resolution, Transaction, TransactionStatus, Verdict,
};
use serde_json::Value;

/// Rows dated up to this long before the operation's start still count:
/// the history's dates are the bank's clock, read as Turkish time, with
/// nothing in the answer to measure the offset (inferred margin).
pub const START_TOLERANCE_SECS: i64 = 300;

fn verdict_of(t: &Transaction) -> Verdict {
    match t.status {
        TransactionStatus::RefundSucceeded | TransactionStatus::CancelSucceeded => {
            Verdict::Succeeded
        }
        TransactionStatus::RefundFailed => Verdict::Failed,
        _ => Verdict::Undetermined,
    }
}

fn resolution(verdict: Verdict, t: &Transaction, why: &str) -> Resolution {
    Resolution {
        verdict,
        transaction_id: t.transaction_id.clone(),
        evidence: format!(
            "{why}: TransId {} ({}, amount {})",
            t.transaction_id.as_deref().unwrap_or("?"),
            t.status_name.as_deref().unwrap_or("?"),
            t.amount.map_or("?".into(), |a| a.to_string())
        ),
        candidates: Vec::new(),
    }
}

/// Settles `input` (see the module documentation).
pub fn reconcile(input: &ReconcileInput) -> Resolution {
    let d = match input.query_details() {
        Ok(d) => d,
        Err(undetermined) => return undetermined,
    };
    let mine = input
        .outcome
        .as_ref()
        .and_then(|o| o.details.get("transaction_id"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    if let Some(t) = d
        .transactions
        .iter()
        .find(|t| mine.is_some() && t.transaction_id.as_deref() == mine)
    {
        return resolution(
            verdict_of(t),
            t,
            "the order history lists this operation's own row",
        );
    }
    let amount = input.request.get("amount").and_then(Value::as_i64);
    let earliest = input.started_at - Duration::seconds(START_TOLERANCE_SECS);
    let theirs = |t: &Transaction| {
        input.claimed.iter().any(|c| {
            Some(&c.transaction_id) == t.transaction_id.as_ref()
                && c.operation_id != input.operation_id
        })
    };
    let candidates: Vec<&Transaction> = d
        .transactions
        .iter()
        .filter(|t| !theirs(t))
        .filter(|t| match input.operation {
            OperationKind::Refund => {
                matches!(
                    t.status,
                    TransactionStatus::RefundSucceeded | TransactionStatus::RefundFailed
                ) && t.amount == amount
                    && t.date.is_none_or(|d| d >= earliest)
            }
            OperationKind::Cancel => t.status == TransactionStatus::CancelSucceeded,
            _ => false,
        })
        .collect();
    let rivals = input
        .siblings
        .iter()
        .filter(|s| s.operation_id != input.operation_id && s.operation == input.operation)
        .filter(|s| matches!(s.state.as_str(), "unknown" | "pending" | "in_flight"))
        .filter(|s| s.request.get("amount").and_then(Value::as_i64) == amount)
        .count();
    let ok: Vec<_> = candidates
        .iter()
        .filter(|t| verdict_of(t) == Verdict::Succeeded)
        .collect();
    match (ok.as_slice(), candidates.len(), rivals) {
        ([t], 1.., 0) => resolution(
            Verdict::Succeeded,
            t,
            "the only approved row that can be this operation's",
        ),
        ([], 1, 0) => resolution(
            Verdict::Failed,
            candidates[0],
            "the only row that can be this operation's was declined",
        ),
        (_, 0, _) => Resolution::undetermined(
            "the order history lists no row of this operation: absence proves nothing (it carries no clock)",
        ),
        _ => Resolution {
            candidates: candidates
                .iter()
                .filter_map(|t| t.transaction_id.clone())
                .collect(),
            ..Resolution::undetermined(format!(
                "{} rows could be this operation's, {rivals} other unresolved operation(s) could own them: an operator must decide",
                candidates.len()
            ))
        },
    }
}
