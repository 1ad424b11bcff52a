//! Settling an unresolved or pending Sipay refund, from Sipay's refund
//! webhook when it posted one, else from a fresh status check.
//!
//! **The refund webhook** (posted to the account's callback URL, set in
//! Sipay's merchant panel): it proves a refund only when its `hash_key`
//! opens under the account's `app_secret` to its own
//! `status|amount|invoice_id|order_id`, `status` is `Completed` and it
//! names the operation's invoice. It names no `refund_transaction_id`, so
//! it is one listed refund for the kit's listed-row rule
//! ([`payops_core::kit::returns::listed_return`]): the operation of its
//! amount, when no other unresolved refund of the invoice has that
//! amount, has succeeded (claim `refund-webhook:<invoice>:<order>:<amount>`,
//! so one post settles at most one refund). A post that does not verify
//! proves nothing.
//!
//! **The status check** gives the invoice's `total_refunded_amount`, not
//! its refunds one by one (Sipay's pages document no shape for the
//! `refund_info` list), so the kit's whole-order rule is all it can prove:
//!
//! - a refund of the invoice's whole amount, with no other return of the
//!   invoice that could explain it, has succeeded when the invoice is
//!   fully refunded;
//! - everything else (a partial refund, a refund not yet counted: 101's
//!   manual review, several candidate refunds) is undetermined.

use payops_core::kit::json::text;
use payops_core::kit::returns::{listed_return, whole_return};
use payops_core::money::{DecimalStyle, parse_minor};
use payops_core::{ReconcileInput, Resolution, Transaction, TransactionStatus as T};
use serde_json::Value;

use crate::wire::open_hash_key;

/// Sipay's refund webhook `post` as a listed refund of `invoice`, when it
/// proves one (see the module documentation).
pub fn webhook(post: &Value, secret: &str, invoice: &str, exp: u32) -> Option<Transaction> {
    let f = |k: &str| text(&post[k]).unwrap_or_default();
    let (status, amount, order) = (f("status"), f("amount"), f("order_id"));
    let signed = format!("{status}|{amount}|{invoice}|{order}");
    let opened = open_hash_key(&f("hash_key"), secret);
    if status != "Completed" || f("invoice_id") != invoice || opened? != signed {
        return None;
    }
    Some(Transaction {
        transaction_id: Some(format!("refund-webhook:{invoice}:{order}:{amount}")),
        status: T::RefundSucceeded,
        status_name: Some("Completed (refund webhook)".into()),
        amount: parse_minor(&amount, exp, DecimalStyle::Point).ok(),
        ..Transaction::default()
    })
}

/// Settles `input` (see the module documentation).
pub fn reconcile(input: &ReconcileInput, app_secret: &str) -> Resolution {
    let mut d = match input.query_details() {
        Ok(d) => d,
        Err(undetermined) => return undetermined,
    };
    let invoice = input.request["order_ref"].as_str().unwrap_or_default();
    let post = input.callback.as_ref();
    let exp = d.currency.exponent();
    if let Some(row) = post.and_then(|p| webhook(p, app_secret, invoice, exp)) {
        d.transactions.push(row);
        let source = "Sipay's refund webhook";
        return listed_return(input, &d, source, None, |t| t.status == T::RefundSucceeded);
    }
    let (paid, refunded) = (d.amount, d.refunded_amount);
    let whole = paid.is_some() && input.request.get("amount").and_then(Value::as_i64) == paid;
    if whole && let Some(r) = whole_return(input, &d, "checkstatus") {
        return r;
    }
    let (state, kind) = (
        d.provider_payment_status,
        if whole { "whole" } else { "partial" },
    );
    Resolution::undetermined(format!(
        "checkstatus counts {refunded:?} refunded of {paid:?} (transaction_status {state:?}): a total cannot be attributed to one {kind} refund; Sipay's merchant panel lists each"
    ))
}
