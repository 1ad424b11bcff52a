//! # payops-paytr
//!
//! The PayTR provider: refund (İade API, full or partial, with payops's
//! operation id as `reference_no`) and the status query (Durum Sorgu,
//! which lists the order's refunds with their `reference_no`), form posts
//! signed with a `paytr_token` (HMAC-SHA256), JSON answers; plus a
//! simulator. PayTR has no cancel and no sub-merchant adjustment of these
//! services: those capabilities are absent (`unsupported_operation`).
//! Sans-IO like every payops provider. Mapping tables, sources and
//! inferred facts: `docs/providers/paytr.md`.
//!
//! | file | what it holds |
//! |---|---|
//! | `lib.rs` | the trait impls: which request each phase sends, what ends it |
//! | [`documents`] | the account config and request documents |
//! | [`wire`] | URLs, the `paytr_token`, form bodies, amounts, the reference |
//! | [`outcome`] | what an answer means |
//! | [`codes`] | the documented codes, literally (not counted in the line budget) |
//! | [`reconcile`] | settling an unresolved refund from the status query |
//! | [`sim`] | the simulator |

#![warn(missing_docs)]

pub mod codes;
pub mod documents;
pub mod outcome;
pub mod reconcile;
pub mod sim;
pub mod wire;

use payops_core::{About, Call, Error, Provider, ReconcileInput, Resolution, Simulator};

use crate::documents::{Account, QueryDoc, RefundDoc, ReturnDoc};
use crate::outcome::{query_outcome, refund_details_schema, refund_outcome};

/// The provider id.
pub const ID: &str = "paytr";

/// The PayTR provider.
#[derive(Debug, Default, Clone, Copy)]
pub struct PayTr;

impl Provider for PayTr {
    type Account = Account;

    fn about(&self) -> About {
        About::new(ID, "PayTR", env!("CARGO_PKG_VERSION")).merchant_identity(&["merchant_id"])
    }

    fn simulator(&self) -> Box<dyn Simulator> {
        Box::new(sim::PayTrSim::demo())
    }

    fn reconcile(&self, _: &Call, _: &Account, i: &ReconcileInput) -> Result<Resolution, Error> {
        Ok(reconcile::reconcile(i))
    }
}

// Each operation is one request; the document it sent (and the
// operation id, its `reference_no`) is all its answer is read against.
payops_core::one_request!(
    PayTr,
    Refund,
    RefundDoc,
    RefundDoc,
    refund_details_schema(),
    |call, a, d| (wire::refund(a, &d, &wire::reference(&call.operation_id)), d),
    |call, _, d, answer| refund_outcome(answer, &d, &wire::reference(&call.operation_id))
);

payops_core::one_request!(
    PayTr,
    Query,
    QueryDoc,
    QueryDoc,
    payops_core::details::schema_of::<payops_core::QueryDetails>(),
    |_, a, d| (wire::status(a, &d.order_ref), d),
    |_, _, d, answer| query_outcome(answer, &d.order_ref)
);

payops_core::refund_only_return!(
    PayTr,
    ReturnDoc,
    "PayTR has no cancel: a return is always a refund (İade API), of the amount given or all that remains (the status query's payment_amount less its completed returns). No fallback.",
    "PayTR has no cancel: a refund",
    |doc| serde_json::json!({"order_ref": doc.order_ref, "currency": doc.currency})
);

payops_core::export_provider!(PayTr);
