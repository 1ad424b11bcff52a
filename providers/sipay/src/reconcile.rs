//! Settling an unresolved or pending Sipay refund from a fresh status
//! check. `checkstatus` gives the invoice's `total_refunded_amount`, not
//! its refunds one by one (Sipay's pages document no shape for the
//! `refund_info` list), so the kit's whole-order rule is all it can prove:
//!
//! - a refund of the invoice's whole amount, with no other return of the
//!   invoice that could explain it, has succeeded when the invoice is
//!   fully refunded;
//! - everything else (a partial refund, a refund not yet counted: 101's
//!   manual review, several candidate refunds) is undetermined.

use payops_core::kit::returns::whole_return;
use payops_core::{ReconcileInput, Resolution};
use serde_json::Value;

/// Settles `input` (see the module documentation).
pub fn reconcile(input: &ReconcileInput) -> Resolution {
    let d = match input.query_details() {
        Ok(d) => d,
        Err(undetermined) => return undetermined,
    };
    let (paid, refunded) = (d.amount, d.refunded_amount);
    let whole = paid.is_some() && input.request.get("amount").and_then(Value::as_i64) == paid;
    if whole && let Some(r) = whole_return(input, &d, "checkstatus") {
        return r;
    }
    let state = d
        .provider_payment_status
        .unwrap_or("no transaction_status".into());
    let kind = if whole { "whole" } else { "partial" };
    Resolution::undetermined(format!(
        "checkstatus counts {refunded:?} refunded of {paid:?} ({state}): a total cannot be attributed to one {kind} refund; Sipay's merchant panel lists each"
    ))
}
