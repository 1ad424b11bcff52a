//! Settling an unresolved TurkPos return from `TP_Islem_Sorgulama4`.
//!
//! The inquiry has no list of returns: only the payment's state (`Durum`,
//! `Odeme_Sonuc`) and totals (`Toplam_Tutar`, `Toplam_Iade_Tutar`). What it
//! can prove:
//!
//! - a **whole-order** return (marketplace `whole_order`, `SiparisTutar` 0;
//!   or a standard order's return of its whole amount) that no
//!   other operation of the order could explain has succeeded when the
//!   payment is fully returned (cancelled or refunded, `Toplam_Iade_Tutar`
//!   equal to `Toplam_Tutar`). The claim is on the order's whole return,
//!   so no second operation can be credited with it.
//!
//! Everything else (partial returns, several candidate operations, a
//! payment not fully returned) is undetermined: nothing in the answer
//! attributes a partial return, or its absence, to one request.

use payops_core::{OperationKind, ReconcileInput, Resolution};
use serde_json::Value;

/// Settles `input` (see the module documentation).
pub fn reconcile(input: &ReconcileInput) -> Resolution {
    if !matches!(
        input.operation,
        OperationKind::Refund | OperationKind::Cancel
    ) {
        return Resolution::undetermined(format!(
            "TP_Islem_Sorgulama4 cannot settle a {}: left for an operator",
            input.operation
        ));
    }
    let d = match input.query_details() {
        Ok(d) => d,
        Err(undetermined) => return undetermined,
    };
    // `whole_order: true`; documents stored before that flag existed meant
    // the whole order by omitting `amount`.
    let whole_marketplace = input.request.get("whole_order").and_then(Value::as_bool) == Some(true)
        || (input.request.get("whole_order").is_none()
            && input.request.get("amount").is_none_or(Value::is_null));
    // A standard order (no marketplace GUID) returned in full: its amount is
    // the order's whole amount.
    let whole_standard = input.request.get("marketplace_order_guid").is_none()
        && input
            .request
            .get("amount")
            .and_then(Value::as_i64)
            .is_some()
        && input.request.get("amount").and_then(Value::as_i64) == d.amount;
    let whole = whole_marketplace || whole_standard;
    if !whole {
        return Resolution::undetermined(
            "TP_Islem_Sorgulama4 lists no returns: a partial return cannot be attributed; check Param's panel",
        );
    }
    if let Some(r) = payops_core::kit::returns::whole_return(input, &d, "TP_Islem_Sorgulama4") {
        return r;
    }
    Resolution::undetermined(format!(
        "the payment is not fully returned (Durum {:?}, returned {:?} of {:?}): TP_Islem_Sorgulama4 cannot prove the return failed; check Param's panel",
        d.provider_payment_status.as_deref().unwrap_or(""),
        d.refunded_amount,
        d.amount
    ))
}
