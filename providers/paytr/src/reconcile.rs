//! Settling an unresolved PayTR refund from a fresh status query: its
//! `returns` list each refund with the `reference_no` it was sent with,
//! and payops sends its operation id there, so a row is attributable to
//! exactly one operation. The rules:
//!
//! 1. The row with this operation's `reference_no`: completed
//!    (`date_completed`) `succeeded`, otherwise `pending`.
//! 2. No such row proves nothing (the answer carries no clock to say PayTR
//!    is done): undetermined.

use payops_core::{ReconcileInput, Resolution, TransactionStatus, Verdict};

use crate::wire::reference;

/// Settles `input` (see the module documentation).
pub fn reconcile(input: &ReconcileInput) -> Resolution {
    let d = match input.query_details() {
        Ok(d) => d,
        Err(undetermined) => return undetermined,
    };
    let mine = reference(&input.operation_id);
    match d
        .transactions
        .iter()
        .find(|t| t.transaction_id.as_deref() == Some(mine.as_str()))
    {
        Some(t) => Resolution {
            verdict: if t.status == TransactionStatus::RefundSucceeded {
                Verdict::Succeeded
            } else {
                Verdict::Pending
            },
            transaction_id: Some(mine.clone()),
            evidence: format!(
                "PayTR lists the refund with reference_no {mine} (return_amount {}, {})",
                t.amount.map_or("?".into(), |a| a.to_string()),
                if t.status == TransactionStatus::RefundSucceeded {
                    "completed"
                } else {
                    "not completed yet"
                }
            ),
            candidates: Vec::new(),
        },
        None => Resolution::undetermined(format!(
            "PayTR lists no refund with reference_no {mine}: absence proves nothing (the answer carries no clock)"
        )),
    }
}
