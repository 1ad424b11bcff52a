//! # payops-sipay
//!
//! The Sipay provider (the same API serves PayBull and IQmoney): refund
//! (full or partial; Sipay itself makes it a cancel on the payment's day
//! when nothing was returned before, a refund otherwise) with payops's
//! operation id as `refund_transaction_id`, and the status check, each
//! after a bearer token request, JSON both ways, every request signed
//! with an AES `hash_key`. A refund Sipay's operations team must complete
//! (`101`) is `pending`. Sipay has no cancel of its own in this API and no
//! sub-merchant adjustment: those capabilities are absent
//! (`unsupported_operation`). Sans-IO like every payops provider. Mapping
//! tables, sources and inferred facts: `docs/providers/sipay.md`.
//!
//! | file | what it holds |
//! |---|---|
//! | `lib.rs` | the trait impls: which request each phase sends, what ends it |
//! | [`documents`] | the account config and request documents |
//! | [`wire`] | URLs, the token request, JSON bodies, amounts, the `hash_key`, the reference |
//! | [`outcome`] | what an answer means |
//! | [`codes`] | the documented codes, literally (not counted in the line budget) |
//! | [`reconcile`] | settling an unresolved or pending refund from the status check |
//! | [`sim`] | the simulator |

#![warn(missing_docs)]

pub mod codes;
pub mod documents;
pub mod outcome;
pub mod reconcile;
pub mod sim;
pub mod wire;

use payops_core::{
    About, Answer, Call, Error, Next, OperationKind, Provider, ReconcileInput, Resolution,
    Simulator,
};
use serde::{Deserialize, Serialize};

use crate::documents::{Account, QueryDoc, RefundDoc, ReturnDoc};
use crate::outcome::{query_outcome, refund_details_schema, refund_outcome};

/// The provider id.
pub const ID: &str = "sipay";

/// The Sipay provider.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sipay;

/// The request an operation is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Then {
    /// `/ccpayment/api/refund` of the document.
    Refund(RefundDoc),
    /// `/ccpayment/api/checkstatus` of the invoice.
    Status(String),
}

/// What was sent, kept until the answer: whether the operation's own
/// request is sent (after the token's, `false`), and which it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase(pub bool, pub Then);

fn start(a: &Account, then: Then) -> Next<Phase> {
    let phase = Phase(false, then);
    Next::Send {
        request: wire::token(a),
        phase,
    }
}

fn resume(call: &Call, a: &Account, mut phase: Phase, answer: Answer) -> Next<Phase> {
    let id = wire::reference(&call.operation_id);
    if phase.0 {
        return Next::Done(match &phase.1 {
            Then::Refund(d) => refund_outcome(answer, d, &id),
            Then::Status(invoice) => query_outcome(answer, invoice),
        });
    }
    let bearer = match outcome::token(answer) {
        Ok(t) => t,
        Err(o) => return Next::Done(*o),
    };
    // The hash_key's IV and salt: fresh for every execution.
    let seed = format!("{}:{}", call.nonce, call.operation_id);
    let request = match &phase.1 {
        Then::Refund(d) => wire::refund(a, &bearer, d, &id, &seed),
        Then::Status(invoice) => wire::status(a, &bearer, invoice, &seed),
    };
    phase.0 = true;
    Next::Send { request, phase }
}

impl Provider for Sipay {
    type Account = Account;

    fn about(&self) -> About {
        About::new(ID, "Sipay", env!("CARGO_PKG_VERSION"))
            .merchant_identity(&["app_id"])
            .account_callback(OperationKind::Refund, "invoice_id")
    }

    fn simulator(&self) -> Box<dyn Simulator> {
        Box::new(sim::SipaySim::demo())
    }

    fn reconcile(&self, _: &Call, a: &Account, i: &ReconcileInput) -> Result<Resolution, Error> {
        Ok(reconcile::reconcile(i, a.app_secret.expose()))
    }
}

payops_core::operation!(
    Sipay,
    Refund,
    RefundDoc,
    Phase,
    refund_details_schema(),
    |_, a, d| start(a, Then::Refund(d)),
    |call, a, phase, answer| resume(call, a, phase, answer)
);

payops_core::operation!(
    Sipay,
    Query,
    QueryDoc,
    Phase,
    payops_core::details::schema_of::<payops_core::QueryDetails>(),
    |_, a, d| start(a, Then::Status(d.order_ref)),
    |call, a, phase, answer| resume(call, a, phase, answer)
);

payops_core::refund_only_return!(
    Sipay,
    ReturnDoc,
    "Sipay's refund is its own cancel-or-refund (PayBull's page: on the payment's day with no earlier partial refund Sipay cancels, otherwise it refunds): a return is a refund of the amount given or all that remains (the status check's amount less total_refunded_amount). No fallback.",
    "Sipay's refund cancels or refunds by itself: a refund",
    |doc| serde_json::json!({"order_ref": doc.order_ref, "currency": doc.currency})
);

payops_core::export_provider!(Sipay);
