//! # payops-nestpay
//!
//! The NestPay / EST V3 provider (Asseco / Payten's virtual POS behind
//! Akbank, İşbank, Halkbank, Ziraat, TEB, Şekerbank and QNB Finansbank):
//! refund (`Type` `Credit`, full or partial), cancel (`Type` `Void`, the
//! whole order before end of day) and the order history as the query
//! (`Extra` `ORDERHISTORY`), one `CC5Request` XML document posted to the
//! bank's `/fim/api`; plus a simulator. NestPay has no sub-merchant
//! adjustment: the capability is absent. Sans-IO like every payops
//! provider. Mapping tables, sources and inferred facts:
//! `docs/providers/nestpay.md`.
//!
//! | file | what it holds |
//! |---|---|
//! | `lib.rs` | the trait impls: which request each phase sends, what ends it |
//! | [`documents`] | the account config and request documents |
//! | [`wire`] | bank URLs, the `CC5Request`, amounts, history rows |
//! | [`outcome`] | what an answer means: code tables, proof rules |
//! | [`reconcile`] | settling an unresolved operation from the order history |
//! | [`sim`] | the simulator |

#![warn(missing_docs)]

pub mod documents;
pub mod outcome;
pub mod reconcile;
pub mod sim;
pub mod wire;

use payops_core::{
    About, Answer, Call, Cancel, Currency, Error, Next, Provider, Query, ReconcileInput, Refund,
    Resolution, Simulator,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::documents::{Account, CancelDoc, QueryDoc, RefundDoc};
use crate::outcome::{money_details_schema, money_outcome, query_details_schema, query_outcome};
use crate::wire::{Kind, request};

/// The provider id.
pub const ID: &str = "nestpay";

/// The NestPay provider.
#[derive(Debug, Default, Clone, Copy)]
pub struct NestPay;

/// What was sent, kept until the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// A `Credit` (with its amount) or a `Void` (without).
    Money {
        /// `OrderId` sent.
        order_ref: String,
        /// The refund's amount, in minor units.
        amount: Option<i64>,
    },
    /// The order history asked for.
    History {
        /// `OrderId` sent.
        order_ref: String,
        /// The payment's currency, as the query document gave it.
        currency: Currency,
    },
}

impl Provider for NestPay {
    type Account = Account;

    fn about(&self) -> About {
        About::new(ID, "NestPay (EST V3)", env!("CARGO_PKG_VERSION"))
            .merchant_identity(&["client_id"])
    }

    fn simulator(&self) -> Box<dyn Simulator> {
        Box::new(sim::NestPaySim::demo())
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

fn answered(phase: Phase, answer: Answer) -> Result<Next<Phase>, Error> {
    Ok(Next::Done(match phase {
        Phase::Money { order_ref, amount } => money_outcome(answer, &order_ref, amount),
        Phase::History {
            order_ref,
            currency,
        } => query_outcome(answer, &order_ref, currency),
    }))
}

impl Refund for NestPay {
    type Document = RefundDoc;
    type Phase = Phase;

    fn details_schema(&self) -> Value {
        money_details_schema()
    }

    fn start(&self, _: &Call, a: &Account, doc: RefundDoc) -> Result<Next<Phase>, Error> {
        let kind = Kind::Type("Credit", Some((doc.amount, doc.currency)));
        Ok(Next::Send {
            request: request(a, &doc.order_ref, kind),
            phase: Phase::Money {
                order_ref: doc.order_ref,
                amount: Some(doc.amount),
            },
        })
    }

    fn resume(
        &self,
        _: &Call,
        _: &Account,
        phase: Phase,
        answer: Answer,
    ) -> Result<Next<Phase>, Error> {
        answered(phase, answer)
    }
}

impl Cancel for NestPay {
    type Document = CancelDoc;
    type Phase = Phase;

    fn details_schema(&self) -> Value {
        money_details_schema()
    }

    fn start(&self, _: &Call, a: &Account, doc: CancelDoc) -> Result<Next<Phase>, Error> {
        Ok(Next::Send {
            request: request(a, &doc.order_ref, Kind::Type("Void", None)),
            phase: Phase::Money {
                order_ref: doc.order_ref,
                amount: None,
            },
        })
    }

    fn resume(
        &self,
        _: &Call,
        _: &Account,
        phase: Phase,
        answer: Answer,
    ) -> Result<Next<Phase>, Error> {
        answered(phase, answer)
    }
}

impl Query for NestPay {
    type Document = QueryDoc;
    type Phase = Phase;

    fn details_schema(&self) -> Value {
        query_details_schema()
    }

    fn start(&self, _: &Call, a: &Account, doc: QueryDoc) -> Result<Next<Phase>, Error> {
        Ok(Next::Send {
            request: request(a, &doc.order_ref, Kind::Extra("ORDERHISTORY")),
            phase: Phase::History {
                order_ref: doc.order_ref,
                currency: doc.currency,
            },
        })
    }

    fn resume(
        &self,
        _: &Call,
        _: &Account,
        phase: Phase,
        answer: Answer,
    ) -> Result<Next<Phase>, Error> {
        answered(phase, answer)
    }
}

payops_core::export_provider!(NestPay);
