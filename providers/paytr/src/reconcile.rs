//! Settling an unresolved PayTR refund from a fresh status query: its
//! `returns` list each refund with the `reference_no` it was sent with,
//! and payops sends its operation id there, so a row is attributable to
//! exactly one operation: the kit's listed-row rule
//! ([`payops_core::kit::returns::listed_return`]) on its own row alone.
//!
//! 1. The row with this operation's `reference_no`: completed
//!    (`date_completed`) `succeeded`, otherwise `pending`.
//! 2. No such row proves nothing (the answer carries no clock to say PayTR
//!    is done): undetermined. No other row can be this operation's: every
//!    refund payops sends carries its own `reference_no`.

use payops_core::kit::returns::listed_return;
use payops_core::{ReconcileInput, Resolution};

use crate::wire::reference;

/// Settles `input` (see the module documentation).
pub fn reconcile(input: &ReconcileInput) -> Resolution {
    match input.query_details() {
        Ok(d) => listed_return(
            input,
            &d,
            "PayTR's status query",
            Some(&reference(&input.operation_id)),
            |_| false,
        ),
        Err(undetermined) => undetermined,
    }
}
