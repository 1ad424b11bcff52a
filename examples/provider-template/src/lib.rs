//! # payops-acmepay: the provider template
//!
//! A complete payops provider for *Acme Pay*, a made-up REST JSON gateway
//! whose API is documented in this crate's `README.md`: refund (partial,
//! with an idempotency key), cancel, payment query, bearer-token auth, and a
//! simulator. Copy the folder, rename `acmepay`, and replace the documents,
//! wire types, code table and simulator with your provider's. The
//! walk-through is payops's `docs/provider-guide.md`.
//!
//! A provider implements [`Provider`] (who it is) and the card's operation
//! traits it supports ([`Refund`], [`Cancel`], [`Query`];
//! `SubMerchantAdjust` is absent here, so the capability is too). Each
//! operation is a sans-IO step machine: `start` gets the request document,
//! already validated against the schema derived from its type, with the
//! account config (credentials resolved) and the call (the operation id,
//! one per intent: the provider-side idempotency key; the host's clock and
//! nonce); it answers with the HTTP request to send and the phase to resume
//! in, and `resume` turns the answer into the [`Outcome`]. It does no IO
//! of its own.
//!
//! The same files in every payops provider:
//!
//! | file | what it holds |
//! |---|---|
//! | `lib.rs` | the trait impls: which request each phase sends, what ends it |
//! | [`documents`] | the account config and request documents |
//! | [`wire`] | endpoints, typed request bodies, how a request is built |
//! | [`outcome`] | what an answer means (the code table) |
//! | [`reconcile`] | settling an unresolved operation from a fresh query |
//! | [`sim`] | the simulator |

#![warn(missing_docs)]

pub mod documents;
pub mod outcome;
pub mod reconcile;
pub mod sim;
pub mod wire;

use payops_core::kit::json::json_answer;
use payops_core::serde_json::Value;
use payops_core::{
    About, Answer, Call, Cancel, Error, Next, OperationKind, Outcome, Provider, Query,
    ReconcileInput, Refund, Resolution, Simulator,
};
use serde::{Deserialize, Serialize};

use crate::documents::{Account, PaymentDoc, RefundDoc};
use crate::outcome::{error, money_details, query_details_schema, success};

pub use sim::AcmeSim;

/// The provider.
#[derive(Debug, Default)]
pub struct AcmePay;

/// What an operation carries from its request to the answer: the payment
/// it is about (the answer is proof only about that one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sent {
    /// The payment's id at Acme Pay.
    pub order_ref: String,
}

impl Provider for AcmePay {
    type Account = Account;

    fn about(&self) -> About {
        About::new("acmepay", "Acme Pay", env!("CARGO_PKG_VERSION"))
            .merchant_identity(&["base_url"])
    }

    fn simulator(&self) -> Box<dyn Simulator> {
        Box::new(AcmeSim::demo())
    }

    fn reconcile(
        &self,
        _: &Call,
        _: &Account,
        input: &ReconcileInput,
    ) -> Result<Resolution, Error> {
        Ok(reconcile::reconcile(input))
    }
}

/// The answer as JSON, then what it means for `op`.
fn answered(op: OperationKind, sent: &Sent, answer: Answer) -> Result<Next<Sent>, Error> {
    let (http_status, body) = match json_answer(answer) {
        Ok(answer) => answer,
        Err(outcome) => return Ok(Next::Done(*outcome)),
    };
    let mut outcome: Outcome = if (200..300).contains(&http_status) {
        success(op, &sent.order_ref, &body)
    } else {
        error(&body)
    };
    outcome.raw = body;
    Ok(Next::Done(outcome))
}

impl Refund for AcmePay {
    type Document = RefundDoc;
    type Phase = Sent;

    fn details_schema(&self) -> Value {
        money_details()
    }

    fn start(&self, call: &Call, a: &Account, doc: RefundDoc) -> Result<Next<Sent>, Error> {
        let body = wire::RefundBody::new(doc.amount, &doc.currency);
        Ok(Next::Send {
            request: wire::post(a, call, &doc.order_ref, "/refunds", &body)?,
            phase: Sent {
                order_ref: doc.order_ref,
            },
        })
    }

    fn resume(
        &self,
        _: &Call,
        _: &Account,
        sent: Sent,
        answer: Answer,
    ) -> Result<Next<Sent>, Error> {
        answered(OperationKind::Refund, &sent, answer)
    }
}

impl Cancel for AcmePay {
    type Document = PaymentDoc;
    type Phase = Sent;

    fn details_schema(&self) -> Value {
        money_details()
    }

    fn start(&self, call: &Call, a: &Account, doc: PaymentDoc) -> Result<Next<Sent>, Error> {
        Ok(Next::Send {
            request: wire::post(a, call, &doc.order_ref, "/cancel", &wire::CancelBody {})?,
            phase: Sent {
                order_ref: doc.order_ref,
            },
        })
    }

    fn resume(
        &self,
        _: &Call,
        _: &Account,
        sent: Sent,
        answer: Answer,
    ) -> Result<Next<Sent>, Error> {
        answered(OperationKind::Cancel, &sent, answer)
    }
}

impl Query for AcmePay {
    type Document = PaymentDoc;
    type Phase = Sent;

    fn details_schema(&self) -> Value {
        query_details_schema()
    }

    fn start(&self, _: &Call, a: &Account, doc: PaymentDoc) -> Result<Next<Sent>, Error> {
        Ok(Next::Send {
            request: wire::get_payment(a, &doc.order_ref),
            phase: Sent {
                order_ref: doc.order_ref,
            },
        })
    }

    fn resume(
        &self,
        _: &Call,
        _: &Account,
        sent: Sent,
        answer: Answer,
    ) -> Result<Next<Sent>, Error> {
        answered(OperationKind::Query, &sent, answer)
    }
}

payops_core::export_provider!(AcmePay);
