//! Settling an unresolved NestPay refund or void from the order history
//! (`ORDERHISTORY`), which lists every request on the order with its
//! `TransId`, declined ones too: the kit's listed-row rule
//! ([`payops_core::kit::returns::listed_return`]), with
//!
//! - the operation's own row: the `TransId` its answer gave (a declined
//!   request gets one too);
//! - the rows that can be a refund's: the refund (`C`) rows, approved or
//!   declined; a void's: the voided sale row.
//!
//! No candidate proves nothing (the history carries no clock to say the
//! bank is done): undetermined.

use payops_core::kit::returns::listed_return;
use payops_core::{OperationKind, ReconcileInput, Resolution, TransactionStatus as T};
use serde_json::Value;

/// Settles `input` (see the module documentation).
pub fn reconcile(input: &ReconcileInput) -> Resolution {
    let d = match input.query_details() {
        Ok(d) => d,
        Err(undetermined) => return undetermined,
    };
    let own = input.outcome.as_ref().map(|o| &o.details["transaction_id"]);
    listed_return(
        input,
        &d,
        "the order history",
        own.and_then(Value::as_str),
        |t| match input.operation {
            OperationKind::Refund => matches!(t.status, T::RefundSucceeded | T::RefundFailed),
            OperationKind::Cancel => t.status == T::CancelSucceeded,
            _ => false,
        },
    )
}
