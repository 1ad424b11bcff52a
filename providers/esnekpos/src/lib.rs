//! # payops-esnekpos
//!
//! The EsnekPOS provider for payops: `refund` and `cancel` (`OrderReturn`,
//! `OrderReturnPhysical`), `query` (`ProcessQuery`) and `sub_merchant_adjust`
//! (`AddSubMerchantAmount`), JSON over HTTPS, wire-exact to EsnekPOS's
//! documentation, plus a stateful [`sim::EsnekSimulator`].
//!
//! The crate implements the card's operation traits as sans-IO step
//! machines: it builds requests and reads answers; the host sends them. It
//! is built as a cdylib (loaded by `payops`) and as an rlib. Where things
//! are, as in every payops provider:
//!
//! | file | what it holds |
//! |---|---|
//! | `lib.rs` | the trait impls: which request each phase sends, what ends it |
//! | [`documents`] | the account config and request documents, and their checks |
//! | [`wire`] | endpoints, typed request bodies, amounts and dates on the wire |
//! | [`outcome`] | what each endpoint's answer means |
//! | [`codes`] | the documented codes, literally (not counted in the line budget) |
//! | [`reconcile`] | settling an unresolved operation from a fresh query |
//! | [`sim`] | the simulator |
//!
//! Mapping tables and amount rules: `docs/providers/esnekpos.md`.

#![warn(missing_docs)]

pub mod codes;
pub mod documents;
pub mod outcome;
pub mod reconcile;
pub mod sim;
pub mod wire;

use payops_core::{
    About, Answer, Call, CallbackSpec, Cancel, Error, Next, OperationKind, Outcome, Provider,
    Query, QueryDetails, ReconcileInput, Refund, Resolution, Simulator, Status, SubMerchantAdjust,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::documents::{
    Account, AdjustDoc, CancelDoc, Channel, DEFAULT_TIMEOUT_MS, MAX_ORDER_REF_PHYSICAL, QueryDoc,
    RefundDoc, ReturnDoc, order_ref, order_ref_within, refund_split,
};
use crate::outcome::{money_details_schema, money_outcome, query_outcome, remaining};
use crate::wire::Endpoint;

/// The provider id used in config.
pub const ID: &str = "esnekpos";

/// The EsnekPOS provider.
#[derive(Debug, Default, Clone, Copy)]
pub struct EsnekPos;

/// Where an EsnekPOS operation stands between two requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// `OrderReturn` sent (a refund, or a cancel of an amount).
    OrderReturn {
        /// The order.
        order_ref: String,
        /// `AMOUNT` sent, in kuruş.
        amount: i64,
        /// `SYNC_WITH_POS` sent.
        sync: bool,
    },
    /// `OrderReturnPhysical` sent (an Android POS cancel).
    Physical {
        /// The order.
        order_ref: String,
    },
    /// `AddSubMerchantAmount` sent.
    Adjust {
        /// The order.
        order_ref: String,
        /// `AMOUNT` sent (signed for the account's convention), in kuruş.
        amount: i64,
    },
    /// `ProcessQuery` sent for a query.
    Query {
        /// The order.
        order_ref: String,
    },
    /// `ProcessQuery` sent to learn what a whole cancel must return.
    CancelQuery {
        /// The order.
        order_ref: String,
        /// `SYNC_WITH_POS` for the `OrderReturn` that follows.
        sync: bool,
    },
}

impl Provider for EsnekPos {
    type Account = Account;

    fn about(&self) -> About {
        About::new(ID, "EsnekPOS", env!("CARGO_PKG_VERSION"))
            .merchant_identity(&["merchant"])
            // OrderReturnPhysical: the device's result is posted to BACK_URL.
            .callback(CallbackSpec {
                operation: OperationKind::Cancel,
                field: "back_url".into(),
                when: Some(json!({
                    "properties": {"channel": {"const": "android_pos"}},
                    "required": ["channel"]
                })),
            })
    }

    fn account(&self, call: &Call) -> Result<Account, Error> {
        documents::account(call)
    }

    fn simulator(&self) -> Box<dyn Simulator> {
        Box::new(sim::EsnekSimulator::demo())
    }

    fn reconcile(
        &self,
        _: &Call,
        a: &Account,
        input: &ReconcileInput,
    ) -> Result<Resolution, Error> {
        Ok(reconcile::reconcile(
            input,
            a.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        ))
    }
}

/// The outcome of the answer to the request `phase` sent; a whole cancel's
/// inquiry leads on to its `OrderReturn`.
fn answered(a: &Account, phase: Phase, answer: Answer) -> Result<Next<Phase>, Error> {
    let outcome = match phase {
        Phase::OrderReturn {
            order_ref,
            amount,
            sync,
        } => money_outcome(
            Endpoint::OrderReturn,
            answer,
            sync,
            Some(amount),
            Some(&order_ref),
        ),
        Phase::Physical { order_ref } => money_outcome(
            Endpoint::OrderReturnPhysical,
            answer,
            true,
            None,
            Some(&order_ref),
        ),
        Phase::Adjust { order_ref, amount } => money_outcome(
            Endpoint::AddSubMerchantAmount,
            answer,
            true,
            Some(amount),
            Some(&order_ref),
        ),
        Phase::Query { order_ref } => query_outcome(answer, Some(&order_ref)),
        Phase::CancelQuery { order_ref, sync } => {
            return after_cancel_query(a, order_ref, sync, answer);
        }
    };
    tracing::debug!(status = %outcome.status, code = ?outcome.provider_code, "EsnekPOS answered");
    Ok(Next::Done(outcome))
}

/// A whole cancel: the inquiry said what was paid and returned; cancel
/// what remains, or end without sending anything.
fn after_cancel_query(
    a: &Account,
    order_ref: String,
    sync: bool,
    answer: Answer,
) -> Result<Next<Phase>, Error> {
    // Nothing has moved money yet: every failure here is `failed`.
    let q = query_outcome(answer, Some(&order_ref));
    if q.status != Status::Succeeded {
        // The inquiry's own reason (not_found, authentication...) says why.
        let reason = q.reason;
        let mut o = q.with(Status::Failed, reason);
        o.provider_message = Some(format!(
            "inquiry before cancel failed, nothing was cancelled: {}",
            o.provider_message.as_deref().unwrap_or("no message")
        ));
        return Ok(Next::Done(o));
    }
    let details: QueryDetails = serde_json::from_value(q.details.clone())
        .map_err(|e| Error::Internal(format!("query details: {e}")))?;
    // What is sent must be positive and at most what was paid, whatever
    // odd rows the inquiry listed.
    let paid = details.amount.unwrap_or(0);
    let Some(amount) = remaining(&details).filter(|r| *r > 0 && *r <= paid) else {
        let mut o = Outcome::new(Status::Failed).with(
            Status::Failed,
            Some(payops_core::outcome::Reason::AlreadyCancelled),
        );
        o.provider_code = q.provider_code;
        o.provider_message = Some(format!(
            "nothing left to cancel (payment status {:?})",
            details.payment_status
        ));
        o.details = json!({"endpoint": "ProcessQuery", "query": q.details});
        o.raw = q.raw;
        return Ok(Next::Done(o));
    };
    let request = wire::order_return(
        a,
        &order_ref,
        amount,
        sync,
        None,
        "cancel of the remaining amount",
    )?;
    Ok(Next::Send {
        request,
        phase: Phase::OrderReturn {
            order_ref,
            amount,
            sync,
        },
    })
}

impl Refund for EsnekPos {
    type Document = RefundDoc;
    type Phase = Phase;

    fn details_schema(&self) -> Value {
        money_details_schema()
    }

    fn start(&self, _: &Call, a: &Account, doc: RefundDoc) -> Result<Next<Phase>, Error> {
        order_ref(&doc.order_ref)?;
        if doc.amount <= 0 {
            return Err(Error::invalid_field("/amount", "must be greater than 0"));
        }
        let split = refund_split(&doc)?;
        let request = wire::order_return(
            a,
            &doc.order_ref,
            doc.amount,
            doc.sync_with_pos,
            split,
            "refund",
        )?;
        Ok(Next::Send {
            request,
            phase: Phase::OrderReturn {
                order_ref: doc.order_ref,
                amount: doc.amount,
                sync: doc.sync_with_pos,
            },
        })
    }

    fn resume(
        &self,
        _: &Call,
        a: &Account,
        phase: Phase,
        answer: Answer,
    ) -> Result<Next<Phase>, Error> {
        answered(a, phase, answer)
    }
}

impl Cancel for EsnekPos {
    type Document = CancelDoc;
    type Phase = Phase;

    fn details_schema(&self) -> Value {
        money_details_schema()
    }

    fn start(&self, _: &Call, a: &Account, doc: CancelDoc) -> Result<Next<Phase>, Error> {
        order_ref(&doc.order_ref)?;
        match doc.channel {
            Channel::AndroidPos => {
                order_ref_within(
                    &doc.order_ref,
                    MAX_ORDER_REF_PHYSICAL,
                    " for an Android POS cancel (OrderReturnPhysical)",
                )?;
                if doc.amount.is_some() {
                    return Err(Error::invalid_field(
                        "/amount",
                        "an Android POS cancel is always for the whole payment; omit amount",
                    ));
                }
                let back_url = doc
                    .back_url
                    .as_deref()
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| {
                        Error::invalid_field("/back_url", "required when channel is android_pos")
                    })?;
                Ok(Next::Send {
                    request: wire::order_return_physical(a, &doc.order_ref, back_url)?,
                    phase: Phase::Physical {
                        order_ref: doc.order_ref,
                    },
                })
            }
            Channel::Online => match doc.amount {
                Some(amount) => {
                    if amount <= 0 {
                        return Err(Error::invalid_field("/amount", "must be greater than 0"));
                    }
                    let request = wire::order_return(
                        a,
                        &doc.order_ref,
                        amount,
                        doc.sync_with_pos,
                        None,
                        "cancel",
                    )?;
                    Ok(Next::Send {
                        request,
                        phase: Phase::OrderReturn {
                            order_ref: doc.order_ref,
                            amount,
                            sync: doc.sync_with_pos,
                        },
                    })
                }
                None => {
                    tracing::debug!(order_ref = %doc.order_ref, "EsnekPOS ProcessQuery before a whole cancel");
                    Ok(Next::Send {
                        request: wire::process_query(a, &doc.order_ref)?,
                        phase: Phase::CancelQuery {
                            order_ref: doc.order_ref,
                            sync: doc.sync_with_pos,
                        },
                    })
                }
            },
        }
    }

    fn resume(
        &self,
        _: &Call,
        a: &Account,
        phase: Phase,
        answer: Answer,
    ) -> Result<Next<Phase>, Error> {
        answered(a, phase, answer)
    }
}

impl Query for EsnekPos {
    type Document = QueryDoc;
    type Phase = Phase;

    fn details_schema(&self) -> Value {
        let mut s = payops_core::details::schema_of::<QueryDetails>();
        if let Some(m) = s.as_object_mut() {
            m.remove("$schema");
            m.insert(
                "description".into(),
                json!("ProcessQuery normalized: amounts in kuruş, dates at +03:00."),
            );
        }
        s
    }

    fn start(&self, _: &Call, a: &Account, doc: QueryDoc) -> Result<Next<Phase>, Error> {
        order_ref(&doc.order_ref)?;
        tracing::debug!(order_ref = %doc.order_ref, "EsnekPOS ProcessQuery");
        Ok(Next::Send {
            request: wire::process_query(a, &doc.order_ref)?,
            phase: Phase::Query {
                order_ref: doc.order_ref,
            },
        })
    }

    fn resume(
        &self,
        _: &Call,
        a: &Account,
        phase: Phase,
        answer: Answer,
    ) -> Result<Next<Phase>, Error> {
        answered(a, phase, answer)
    }
}

impl SubMerchantAdjust for EsnekPos {
    type Document = AdjustDoc;
    type Phase = Phase;

    fn details_schema(&self) -> Value {
        money_details_schema()
    }

    fn document(&self, request: &Value) -> Result<AdjustDoc, Error> {
        if request.get("direction").is_none()
            && request
                .get("amount")
                .and_then(Value::as_i64)
                .is_some_and(|a| a < 0)
        {
            return Err(Error::invalid_field(
                "/direction",
                "a signed amount no longer says what happens: give direction (reduce | increase) and a positive amount",
            ));
        }
        payops_core::provider::parse_document(request)
    }

    fn start(&self, _: &Call, a: &Account, doc: AdjustDoc) -> Result<Next<Phase>, Error> {
        order_ref(&doc.order_ref)?;
        if doc.amount <= 0 {
            return Err(Error::invalid_field(
                "/amount",
                "must be greater than 0 (direction says reduce or increase)",
            ));
        }
        if doc.sub_merchant_id.is_empty() {
            return Err(Error::invalid_field(
                "/sub_merchant_id",
                "must not be empty",
            ));
        }
        let Some(convention) = a.sub_merchant_sign else {
            return Err(Error::invalid_field(
                "/account/sub_merchant_sign",
                "this account does not say which AMOUNT sign reduces a store's credit: set sub_merchant_sign (reduce_is_positive | reduce_is_negative) after checking with EsnekPOS's test environment",
            ));
        };
        let amount = documents::wire_amount(doc.direction, doc.amount, convention);
        tracing::debug!(order_ref = %doc.order_ref, sub_merchant_id = %doc.sub_merchant_id, direction = ?doc.direction, amount = doc.amount, wire_amount = amount, "EsnekPOS AddSubMerchantAmount");
        Ok(Next::Send {
            request: wire::add_sub_merchant_amount(
                a,
                &doc.order_ref,
                &doc.sub_merchant_id,
                amount,
            )?,
            phase: Phase::Adjust {
                order_ref: doc.order_ref,
                amount,
            },
        })
    }

    fn resume(
        &self,
        _: &Call,
        a: &Account,
        phase: Phase,
        answer: Answer,
    ) -> Result<Next<Phase>, Error> {
        answered(a, phase, answer)
    }
}

payops_core::refund_only_return!(
    EsnekPos,
    ReturnDoc,
    "EsnekPOS's OrderReturn is its return/cancellation service and chooses by itself: a return is sent as a refund (OrderReturn) of the amount given or all that remains (ProcessQuery's amount less its refunds). An Android POS cancel stays its own operation (cancel, channel android_pos). No fallback.",
    "EsnekPOS's OrderReturn cancels or refunds by itself: a refund",
    |doc| serde_json::json!({"order_ref": doc.order_ref, "sync_with_pos": doc.sync_with_pos})
);

payops_core::export_provider!(EsnekPos);
