//! Settling a return from a query, by the two rules providers share.
//!
//! **The listed-row rule** ([`listed_return`]), for queries that list each
//! return (NestPay's order history, PayTR's status query):
//!
//! 1. The operation's own row (its id as the provider's reference, or the
//!    transaction id its answer gave) decides when the query lists it:
//!    succeeded, failed or pending as the row is.
//! 2. Otherwise the candidates are the rows the provider says can be this
//!    operation's kind, not claimed by another operation, of its amount
//!    (when the request has one), dated no earlier than its start less
//!    [`START_TOLERANCE_SECS`] (a refund's; a cancel's row may be the
//!    payment's own, dated when it was paid). One succeeded candidate that no other
//!    unresolved operation of the same kind and amount could own:
//!    succeeded. One failed candidate and nothing else: failed.
//! 3. No candidate proves nothing (a listing carries no clock to say the
//!    provider is done): undetermined, as is anything else, with the
//!    candidates named for an operator.
//!
//! **The whole-order rule** ([`whole_return`]), for queries that give
//! totals only (no list of returns): the providers whose status answer
//! says how much of a payment was returned but not by which request
//! (TurkPos's `TP_Islem_Sorgulama4`, Sipay's `checkstatus`).
//!
//! A return of the order's whole amount has happened when the payment is
//! fully returned (`refunded_amount` equal to `amount`, the payment
//! `refunded` or `cancelled`) and no other return of the order that has
//! not failed could explain it. The claim is on the order's whole return
//! (`whole-return:<order>`), so no second operation can be credited with
//! it. Nothing else is provable from totals: a partial return, or a
//! return's absence, cannot be attributed to one request.

use chrono::Duration;
use serde_json::Value;

use crate::{
    OperationKind, PaymentStatus, QueryDetails, ReconcileInput, Resolution, Transaction,
    TransactionStatus, Verdict,
};

/// Rows dated up to this long before the operation's start still count:
/// listings carry the provider's clock, read as Turkish time, with nothing
/// in the answer to measure the offset (an inferred margin).
pub const START_TOLERANCE_SECS: i64 = 300;

/// What a listed row proves about the return it records.
pub fn verdict_of(t: &Transaction) -> Verdict {
    match t.status {
        TransactionStatus::RefundSucceeded | TransactionStatus::CancelSucceeded => {
            Verdict::Succeeded
        }
        TransactionStatus::RefundFailed | TransactionStatus::CancelFailed => Verdict::Failed,
        TransactionStatus::Pending => Verdict::Pending,
        _ => Verdict::Undetermined,
    }
}

fn settled(verdict: Verdict, t: &Transaction, source: &str, why: &str) -> Resolution {
    let amount = t.amount.map_or("?".into(), |a| a.to_string());
    Resolution {
        verdict,
        transaction_id: t.transaction_id.clone(),
        evidence: format!(
            "{source} lists {why}: {} ({}, amount {amount})",
            t.transaction_id.as_deref().unwrap_or("?"),
            t.status_name.as_deref().unwrap_or("?"),
        ),
        candidates: Vec::new(),
    }
}

/// The listed-row rule (see the module documentation) for the return
/// `input` settles, on the query's details `d` named `source` in the
/// evidence: `own` is the row id that is this operation's for certain
/// (its reference, or the transaction id its answer gave), `fits` says
/// which rows can record a return of this operation's kind.
pub fn listed_return(
    input: &ReconcileInput,
    d: &QueryDetails,
    source: &str,
    own: Option<&str>,
    fits: impl Fn(&Transaction) -> bool,
) -> Resolution {
    let own = own.filter(|o| !o.is_empty());
    if let Some(t) = d
        .transactions
        .iter()
        .find(|t| own.is_some() && t.transaction_id.as_deref() == own)
    {
        return settled(verdict_of(t), t, source, "this operation's own row");
    }
    let amount = input.request.get("amount").and_then(Value::as_i64);
    let earliest = input.started_at - Duration::seconds(START_TOLERANCE_SECS);
    let theirs = |t: &Transaction| {
        input.claimed.iter().any(|c| {
            Some(&c.transaction_id) == t.transaction_id.as_ref()
                && c.operation_id != input.operation_id
        })
    };
    let candidates: Vec<&Transaction> = (d.transactions.iter())
        .filter(|t| fits(t) && !theirs(t))
        .filter(|t| amount.is_none() || t.amount == amount)
        .filter(|t| {
            input.operation == OperationKind::Cancel || t.date.is_none_or(|d| d >= earliest)
        })
        .collect();
    let rivals = (input.siblings.iter())
        .filter(|s| s.operation_id != input.operation_id && s.operation == input.operation)
        .filter(|s| matches!(s.state.as_str(), "unknown" | "pending" | "in_flight"))
        .filter(|s| s.request.get("amount").and_then(Value::as_i64) == amount)
        .count();
    let ok: Vec<_> = (candidates.iter())
        .filter(|t| verdict_of(t) == Verdict::Succeeded)
        .collect();
    match (ok.as_slice(), candidates.as_slice(), rivals) {
        ([t], _, 0) => settled(
            Verdict::Succeeded,
            t,
            source,
            "the only succeeded row that can be this operation's",
        ),
        ([], [t], 0) if verdict_of(t) == Verdict::Failed => settled(
            Verdict::Failed,
            t,
            source,
            "the only row that can be this operation's, failed",
        ),
        (_, [], _) => Resolution::undetermined(format!(
            "{source} lists no row of this operation: absence proves nothing (a listing carries no clock)"
        )),
        _ => Resolution {
            candidates: candidates
                .iter()
                .filter_map(|t| t.transaction_id.clone())
                .collect(),
            ..Resolution::undetermined(format!(
                "{} rows of {source} could be this operation's, {rivals} other unresolved operation(s) could own them: an operator must decide",
                candidates.len()
            ))
        },
    }
}

/// The whole-order rule for the return `input` settles, which the caller
/// has established is of the order's whole amount (see the module
/// documentation). `Some` when the totals decide (another return could
/// explain them: undetermined; fully returned: succeeded, with `source`
/// named in the evidence); `None` when the payment is not fully returned,
/// for the caller to say why in its own words.
pub fn whole_return(input: &ReconcileInput, d: &QueryDetails, source: &str) -> Option<Resolution> {
    let others: Vec<&str> = input
        .siblings
        .iter()
        .filter(|s| s.operation_id != input.operation_id)
        .filter(|s| matches!(s.operation, OperationKind::Refund | OperationKind::Cancel))
        .filter(|s| s.state != "failed")
        .map(|s| s.operation_id.as_str())
        .collect();
    if !others.is_empty() {
        return Some(Resolution {
            verdict: Verdict::Undetermined,
            transaction_id: None,
            evidence: format!(
                "other returns of this order ({}) could explain the payment's state",
                others.join(", ")
            ),
            candidates: Vec::new(),
        });
    }
    let fully_returned = matches!(
        d.payment_status,
        PaymentStatus::Refunded | PaymentStatus::Cancelled
    ) && d.amount.is_some()
        && d.refunded_amount == d.amount;
    if !fully_returned {
        return None;
    }
    let order = input
        .request
        .get("order_ref")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    Some(Resolution {
        verdict: Verdict::Succeeded,
        transaction_id: Some(format!("whole-return:{order}")),
        evidence: format!(
            "{source}: state {:?}, returned = paid = {} and no other return of the order: the whole-order return happened",
            d.provider_payment_status.as_deref().unwrap_or(""),
            d.amount.unwrap_or_default()
        ),
        candidates: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, FixedOffset};
    use serde_json::json;

    use super::*;
    use crate::{Claim, Currency, Outcome, Sibling, Status};

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn row(id: &str, status: TransactionStatus, amount: i64, date: &str) -> Transaction {
        Transaction {
            transaction_id: Some(id.into()),
            status,
            amount: Some(amount),
            date: Some(at(date)),
            ..Transaction::default()
        }
    }

    fn input(op: OperationKind, amount: Option<i64>) -> ReconcileInput {
        let started = at("2026-12-07T12:00:00+03:00");
        ReconcileInput {
            operation_id: "op_me".into(),
            operation: op,
            request: json!({"order_ref": "O1", "amount": amount}),
            state: "unknown".into(),
            outcome: None,
            started_at: started,
            siblings: Vec::new(),
            claimed: Vec::new(),
            claim_scope: "p".into(),
            query: Outcome::new(Status::Succeeded),
            query_received_at: started + Duration::seconds(60),
            callback: None,
        }
    }

    fn details(rows: Vec<Transaction>) -> QueryDetails {
        let mut d = QueryDetails::new("O1", Currency::TRY);
        d.transactions = rows;
        d
    }

    fn refunds(t: &Transaction) -> bool {
        matches!(
            t.status,
            TransactionStatus::RefundSucceeded
                | TransactionStatus::RefundFailed
                | TransactionStatus::Pending
        )
    }

    const AFTER: &str = "2026-12-07T12:00:30+03:00";

    #[test]
    fn the_operations_own_row_decides_whatever_else_is_listed() {
        let d = details(vec![
            row("T1", TransactionStatus::RefundSucceeded, 500, AFTER),
            row("MINE", TransactionStatus::Pending, 500, AFTER),
        ]);
        let r = listed_return(
            &input(OperationKind::Refund, Some(500)),
            &d,
            "q",
            Some("MINE"),
            refunds,
        );
        assert_eq!(
            (r.verdict, r.transaction_id.as_deref()),
            (Verdict::Pending, Some("MINE"))
        );
        // An own id the listing does not have: the other rules (one
        // succeeded row of the amount, no rival).
        let i = input(OperationKind::Refund, Some(500));
        let r = listed_return(&i, &d, "q", Some("GONE"), refunds);
        assert_eq!(
            (r.verdict, r.transaction_id.as_deref()),
            (Verdict::Succeeded, Some("T1"))
        );
    }

    #[test]
    fn one_unclaimed_row_of_the_amount_and_no_rival_settles_it() {
        let d = details(vec![
            row("T1", TransactionStatus::RefundSucceeded, 500, AFTER),
            row("T2", TransactionStatus::RefundSucceeded, 700, AFTER),
            // Before the operation started (beyond the tolerance): not it.
            row(
                "OLD",
                TransactionStatus::RefundSucceeded,
                500,
                "2026-12-07T11:50:00+03:00",
            ),
        ]);
        let mut i = input(OperationKind::Refund, Some(500));
        let r = listed_return(&i, &d, "q", None, refunds);
        assert_eq!(
            (r.verdict, r.transaction_id.as_deref()),
            (Verdict::Succeeded, Some("T1"))
        );
        // Claimed by another operation: nothing left that can be this one.
        i.claimed = vec![Claim {
            transaction_id: "T1".into(),
            operation_id: "op_other".into(),
        }];
        assert_eq!(
            listed_return(&i, &d, "q", None, refunds).verdict,
            Verdict::Undetermined
        );
        // A rival unresolved refund of the same amount: an operator decides.
        i.claimed.clear();
        i.siblings = vec![Sibling {
            operation_id: "op_rival".into(),
            operation: OperationKind::Refund,
            request: json!({"order_ref": "O1", "amount": 500}),
            state: "pending".into(),
            started_at: i.started_at,
            details: serde_json::Value::Null,
        }];
        let r = listed_return(&i, &d, "q", None, refunds);
        assert_eq!(
            (r.verdict, r.candidates.clone()),
            (Verdict::Undetermined, vec!["T1".to_owned()])
        );
    }

    #[test]
    fn a_failed_row_alone_fails_it_and_no_row_proves_nothing() {
        let i = input(OperationKind::Refund, Some(500));
        let failed = details(vec![row("T1", TransactionStatus::RefundFailed, 500, AFTER)]);
        let r = listed_return(&i, &failed, "q", None, refunds);
        assert_eq!(
            (r.verdict, r.transaction_id.as_deref()),
            (Verdict::Failed, Some("T1"))
        );
        let r = listed_return(&i, &details(Vec::new()), "q", None, refunds);
        assert_eq!((r.verdict, r.transaction_id), (Verdict::Undetermined, None));
        // A pending row alone is not proof of anything but itself.
        let pending = details(vec![row("T1", TransactionStatus::Pending, 500, AFTER)]);
        assert_eq!(
            listed_return(&i, &pending, "q", None, refunds).verdict,
            Verdict::Undetermined
        );
    }

    #[test]
    fn a_cancels_row_may_be_the_payments_own_dated_when_paid() {
        let d = details(vec![row(
            "SALE",
            TransactionStatus::CancelSucceeded,
            10000,
            "2026-12-07T09:00:00+03:00",
        )]);
        let cancels = |t: &Transaction| t.status == TransactionStatus::CancelSucceeded;
        let r = listed_return(&input(OperationKind::Cancel, None), &d, "q", None, cancels);
        assert_eq!(
            (r.verdict, r.transaction_id.as_deref()),
            (Verdict::Succeeded, Some("SALE"))
        );
    }

    #[test]
    fn a_listing_sets_the_refunded_total_the_payment_status_and_the_ledger() {
        let mut d = QueryDetails::new("O1", Currency::TRY);
        (d.payment_status, d.amount) = (crate::PaymentStatus::Succeeded, Some(1000));
        let rows = vec![
            row("T1", TransactionStatus::RefundSucceeded, 400, AFTER),
            row("T2", TransactionStatus::RefundFailed, 600, AFTER),
        ];
        let d = d.listing(rows.clone(), crate::ledger::returns_by_status);
        assert_eq!(
            (d.refunded_amount, d.payment_status),
            (Some(400), crate::PaymentStatus::PartiallyRefunded)
        );
        let facts = d.ledger.unwrap();
        assert_eq!(facts.returns.len(), 2);
        assert_eq!(
            facts.payment_status,
            crate::PaymentStatus::PartiallyRefunded
        );
        assert_eq!(
            facts.listed_total(crate::ledger::ReturnState::Succeeded),
            Some(400)
        );
        // A payment whose status is not `succeeded` keeps it.
        let d =
            QueryDetails::new("O1", Currency::TRY).listing(rows, crate::ledger::returns_by_status);
        assert_eq!(d.payment_status, crate::PaymentStatus::Unknown);
    }
}
