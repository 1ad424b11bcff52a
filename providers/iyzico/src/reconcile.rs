//! Settling an unresolved iyzico operation: iyzico's payment detail (the
//! query) lists the payment and its basket items' paid prices, not the
//! refunds or cancels made on them, so it proves neither that a refund
//! happened nor that it did not. Every refund or cancel left `unknown` is
//! undetermined, for an operator to settle in iyzico's merchant panel.

use payops_core::{ReconcileInput, Resolution};

/// Settles `input` (see the module documentation): always undetermined.
pub fn reconcile(input: &ReconcileInput) -> Resolution {
    Resolution::undetermined(format!(
        "iyzico's payment detail does not list refunds or cancels: this {} is left for an operator (check iyzico's merchant panel)",
        input.operation
    ))
}
