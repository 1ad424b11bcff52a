//! # payops-iyzico
//!
//! The iyzico provider: refund (full or partial, per payment transaction),
//! cancel (a whole payment, the same day) and payment detail as the query,
//! over iyzico's REST JSON API with the IYZWSv2 (HMAC-SHA256) authorization
//! header, and a simulator of those endpoints. Written only against
//! `payops-core`'s public API and the provider guide, as a proof of the
//! provider kit. The mapping tables are in `docs/providers/iyzico.md`.
//!
//! Money-safety rules specific to iyzico:
//! - `succeeded` only for `status: "success"` on HTTP 2xx whose
//!   `conversationId` is this operation's id and whose payment (and, for a
//!   refund, payment transaction and price) are the ones sent;
//! - `failed` only for a `status: "failure"` whose `errorCode` is one the
//!   docs define as a refusal ([`codes::ERROR_CODES`], bank codes 10000–10999);
//!   any other code is `unknown`;
//! - the payment detail does not list refunds, so reconciliation cannot
//!   prove a refund or cancel either way: such operations stay for an
//!   operator ([`reconcile`]).
//!
//! Where things are, as in every payops provider:
//!
//! | file | what it holds |
//! |---|---|
//! | `lib.rs` | the trait impls: which request each phase sends, what ends it |
//! | [`documents`] | the account config and request documents |
//! | [`wire`] | the IYZWSv2 header, request bodies and prices on the wire |
//! | [`outcome`] | what an answer means |
//! | [`codes`] | the documented codes, literally (not counted in the line budget) |
//! | [`reconcile`] | why an unresolved operation stays for an operator |
//! | [`sim`] | the simulator |

#![warn(missing_docs)]

pub mod codes;
pub mod documents;
pub mod outcome;
pub mod reconcile;
pub mod sim;
pub mod wire;

use payops_core::kit::json::json_answer;
use payops_core::{
    About, Answer, Attempt, Call, Cancel, Choice, Error, Next, OperationKind, Provider, Query,
    QueryDetails, Reason, ReconcileInput, Refund, Resolution, Return, Simulator,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::documents::{Account, CancelDoc, QueryDoc, RefundDoc, ReturnDoc};
use crate::outcome::{Sent, money_details, money_outcome, query_details_schema, query_outcome};

/// The provider id.
pub const ID: &str = "iyzico";

/// The iyzico provider.
#[derive(Debug, Default)]
pub struct Iyzico;

/// Where an iyzico operation stands between its request and the answer
/// (as JSON: what was sent, `{"order_ref", "ptid", "amount"}` for a
/// refund, `{"order_ref"}` otherwise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Phase {
    /// `/payment/refund` sent.
    Refund {
        /// The payment.
        order_ref: String,
        /// The payment transaction refunded.
        ptid: String,
        /// The amount, in minor units.
        amount: i64,
    },
    /// `/payment/cancel` or `/payment/detail` sent.
    Payment {
        /// The payment.
        order_ref: String,
    },
}

impl Phase {
    fn sent(&self) -> Sent<'_> {
        match self {
            Phase::Refund {
                order_ref,
                ptid,
                amount,
            } => Sent {
                order_ref,
                payment_transaction_id: Some(ptid),
                amount: Some(*amount),
            },
            Phase::Payment { order_ref } => Sent {
                order_ref,
                payment_transaction_id: None,
                amount: None,
            },
        }
    }
}

impl Provider for Iyzico {
    type Account = Account;

    fn about(&self) -> About {
        About::new(ID, "iyzico", env!("CARGO_PKG_VERSION")).merchant_identity(&["api_key"])
    }

    fn simulator(&self) -> Box<dyn Simulator> {
        Box::new(sim::IyzicoSim::demo())
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

/// The answer as JSON, then what it means for the operation.
fn answered(
    call: &Call,
    phase: Phase,
    answer: Answer,
    read: fn(u16, &Value, Sent<'_>, &str) -> payops_core::Outcome,
) -> Result<Next<Phase>, Error> {
    let (http_status, body) = match json_answer(answer) {
        Ok(answer) => answer,
        Err(outcome) => return Ok(Next::Done(*outcome)),
    };
    let mut outcome = read(http_status, &body, phase.sent(), &call.operation_id);
    outcome.raw = body;
    Ok(Next::Done(outcome))
}

impl Refund for Iyzico {
    type Document = RefundDoc;
    type Phase = Phase;

    fn details_schema(&self) -> Value {
        money_details()
    }

    fn start(&self, call: &Call, a: &Account, doc: RefundDoc) -> Result<Next<Phase>, Error> {
        let body = wire::RefundBody {
            locale: wire::LOCALE,
            conversation_id: &call.operation_id,
            payment_transaction_id: &doc.payment_transaction_id,
            price: wire::price(doc.amount, 2),
            currency: doc.currency.code(),
            ip: doc.ip.as_deref(),
        };
        Ok(Next::Send {
            request: wire::post(a, call, "/payment/refund", &body)?,
            phase: Phase::Refund {
                order_ref: doc.order_ref,
                ptid: doc.payment_transaction_id,
                amount: doc.amount,
            },
        })
    }

    fn resume(
        &self,
        call: &Call,
        _: &Account,
        phase: Phase,
        answer: Answer,
    ) -> Result<Next<Phase>, Error> {
        answered(call, phase, answer, money_outcome)
    }
}

impl Cancel for Iyzico {
    type Document = CancelDoc;
    type Phase = Phase;

    fn details_schema(&self) -> Value {
        money_details()
    }

    fn start(&self, call: &Call, a: &Account, doc: CancelDoc) -> Result<Next<Phase>, Error> {
        let body = wire::CancelBody {
            locale: wire::LOCALE,
            conversation_id: &call.operation_id,
            payment_id: &doc.order_ref,
            ip: doc.ip.as_deref(),
        };
        Ok(Next::Send {
            request: wire::post(a, call, "/payment/cancel", &body)?,
            phase: Phase::Payment {
                order_ref: doc.order_ref,
            },
        })
    }

    fn resume(
        &self,
        call: &Call,
        _: &Account,
        phase: Phase,
        answer: Answer,
    ) -> Result<Next<Phase>, Error> {
        answered(call, phase, answer, money_outcome)
    }
}

impl Query for Iyzico {
    type Document = QueryDoc;
    type Phase = Phase;

    fn details_schema(&self) -> Value {
        query_details_schema()
    }

    fn start(&self, call: &Call, a: &Account, doc: QueryDoc) -> Result<Next<Phase>, Error> {
        let body = wire::DetailBody {
            locale: wire::LOCALE,
            conversation_id: &call.operation_id,
            payment_id: &doc.order_ref,
        };
        Ok(Next::Send {
            request: wire::post(a, call, "/payment/detail", &body)?,
            phase: Phase::Payment {
                order_ref: doc.order_ref,
            },
        })
    }

    fn resume(
        &self,
        call: &Call,
        _: &Account,
        phase: Phase,
        answer: Answer,
    ) -> Result<Next<Phase>, Error> {
        answered(call, phase, answer, query_outcome)
    }
}

impl Return for Iyzico {
    type Document = ReturnDoc;

    fn rule(&self) -> &'static str {
        "iyzico cancels only on the payment's day (its page: \"aynı gün içinde, gün sonu yapılmadan\"), but its payment detail carries no date, so payops cannot prove the day: a return is always a refund (allowed any day for 365 days) of one payment transaction, the one given or the payment's only one, of the amount given or the item's paidPrice. Cancel stays its own operation for callers who know the day. No fallback."
    }

    fn payment_query(&self, doc: &ReturnDoc) -> Value {
        serde_json::json!({"order_ref": doc.order_ref})
    }

    fn choose(
        &self,
        _: &Call,
        _: &Account,
        doc: &ReturnDoc,
        payment: &QueryDetails,
    ) -> Result<Choice, Error> {
        let item = match &doc.payment_transaction_id {
            Some(id) => payment
                .transactions
                .iter()
                .find(|t| t.transaction_id.as_ref() == Some(id)),
            None if payment.transactions.len() == 1 => payment.transactions.first(),
            None => {
                return Err(Error::invalid_field(
                    "/payment_transaction_id",
                    format!(
                        "payment {} has {} items: name the one to refund",
                        doc.order_ref,
                        payment.transactions.len()
                    ),
                ));
            }
        };
        let Some((Some(id), paid)) = item.map(|t| (t.transaction_id.clone(), t.amount)) else {
            return Ok(Choice::Refuse {
                reason: Reason::NotFound,
                message: format!("payment {} lists no such item", doc.order_ref),
            });
        };
        let Some(amount) = doc.amount.or(paid) else {
            return Err(Error::invalid_field(
                "/amount",
                "the item's paidPrice is not known: give the amount",
            ));
        };
        let mut document = serde_json::json!({"order_ref": doc.order_ref, "payment_transaction_id": id, "amount": amount});
        document["currency"] =
            serde_json::to_value(doc.currency).map_err(|e| Error::Internal(e.to_string()))?;
        if let Some(ip) = &doc.ip {
            document["ip"] = serde_json::json!(ip);
        }
        Ok(Choice::Run {
            first: Attempt {
                operation: OperationKind::Refund,
                document,
            },
            fallback: None,
            fallback_codes: Vec::new(),
            why: "iyzico's payment detail gives no date: a refund".into(),
        })
    }
}

payops_core::export_provider!(Iyzico);
