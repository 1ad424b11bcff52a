//! Settling a return from a query that gives totals only (no list of
//! returns): the **whole-order rule**, shared by the providers whose
//! status answer says how much of a payment was returned but not by which
//! request (TurkPos's `TP_Islem_Sorgulama4`, Sipay's `checkstatus`).
//!
//! A return of the order's whole amount has happened when the payment is
//! fully returned (`refunded_amount` equal to `amount`, the payment
//! `refunded` or `cancelled`) and no other return of the order that has
//! not failed could explain it. The claim is on the order's whole return
//! (`whole-return:<order>`), so no second operation can be credited with
//! it. Nothing else is provable from totals: a partial return, or a
//! return's absence, cannot be attributed to one request.

use crate::{OperationKind, PaymentStatus, QueryDetails, ReconcileInput, Resolution, Verdict};

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
