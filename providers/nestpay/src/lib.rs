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
//! | [`outcome`] | what an answer means: the proof rules |
//! | [`codes`] | the documented codes, literally (not counted in the line budget) |
//! | [`reconcile`] | settling an unresolved operation from the order history |
//! | [`sim`] | the simulator |

#![warn(missing_docs)]

pub mod codes;
pub mod documents;
pub mod outcome;
pub mod reconcile;
pub mod sim;
pub mod wire;

use payops_core::returning::{business_day, end_of_business_day, end_of_day, untouched};
use payops_core::{
    About, Attempt, Call, Choice, Error, OperationKind, Provider, QueryDetails, Reason,
    ReconcileInput, Resolution, Return, Simulator,
};
use serde_json::json;

use crate::documents::{Account, CancelDoc, QueryDoc, RefundDoc, ReturnDoc};
use crate::outcome::{money_details_schema, money_outcome, query_outcome};
use crate::wire::{Kind, request};

/// The provider id.
pub const ID: &str = "nestpay";

/// The NestPay provider.
#[derive(Debug, Default, Clone, Copy)]
pub struct NestPay;

impl Provider for NestPay {
    type Account = Account;

    fn about(&self) -> About {
        About::new(ID, "NestPay (EST V3)", env!("CARGO_PKG_VERSION"))
            .merchant_identity(&["client_id"])
    }

    fn simulator(&self) -> Box<dyn Simulator> {
        Box::new(sim::NestPaySim::demo())
    }

    fn reconcile(&self, _: &Call, _: &Account, i: &ReconcileInput) -> Result<Resolution, Error> {
        Ok(reconcile::reconcile(i))
    }
}

// Each operation is one request; the document it sent is all its answer
// is read against.
payops_core::one_request!(
    NestPay,
    Refund,
    RefundDoc,
    RefundDoc,
    money_details_schema(),
    |_, a, d| (
        request(a, &d.order_ref, Kind::Credit(d.amount, d.currency)),
        d
    ),
    |_, _, d, answer| money_outcome(answer, &d.order_ref, Some(d.amount))
);

payops_core::one_request!(
    NestPay,
    Cancel,
    CancelDoc,
    CancelDoc,
    money_details_schema(),
    |_, a, d| (request(a, &d.order_ref, Kind::Void), d),
    |_, _, d, answer| money_outcome(answer, &d.order_ref, None)
);

payops_core::one_request!(
    NestPay,
    Query,
    QueryDoc,
    QueryDoc,
    payops_core::details::schema_of::<payops_core::QueryDetails>(),
    |_, a, d| (request(a, &d.order_ref, Kind::History), d),
    |_, _, d, answer| query_outcome(answer, &d.order_ref, d.currency)
);

impl Return for NestPay {
    type Document = ReturnDoc;

    fn rule(&self) -> &'static str {
        "NestPay's rule, on the order history and the bank's end of day (the account's `end_of_day`, Turkish time, default midnight): a payment of the current business day, returned whole with no earlier return, is voided (`Void`); a payment of an earlier business day is refunded (`Credit`, the amount given or all that remains); a partial return, or one after an earlier return, of a payment of the current business day is refused until the end of day (NestPay refunds only settled orders, CORE-2508). Fallback: a whole first return refunded as of an earlier day and declined with CORE-2508 (the bank's day is not closed yet) is voided instead. A void is never followed by a refund: no void decline is documented as \"day closed\", and CORE-2008 may mean the order is voided already."
    }

    fn payment_query(&self, doc: &ReturnDoc) -> serde_json::Value {
        json!({"order_ref": doc.order_ref, "currency": doc.currency})
    }

    fn choose(
        &self,
        call: &Call,
        a: &Account,
        doc: &ReturnDoc,
        payment: &QueryDetails,
    ) -> Result<Choice, Error> {
        let eod = end_of_day(a.end_of_day.as_deref())?;
        let order = &doc.order_ref;
        let (Some(paid), Some(paid_at)) = (payment.amount, payment.payment_date) else {
            let why = format!("the order history of {order} shows no sale to return");
            return Ok(Choice::refuse(Reason::NotFound, why));
        };
        let whole = doc.amount.is_none_or(|x| x == paid);
        let first = untouched(payment, call.earlier_returns);
        let today = business_day(paid_at, eod) == business_day(call.now, eod);
        let void = Attempt::new(OperationKind::Cancel, json!({"order_ref": order}));
        let eod_text = eod.format("%H:%M");
        if today && whole && first {
            let why = format!(
                "paid {paid_at} in the bank's current business day (end of day {eod_text}), returned whole, no earlier return: a void"
            );
            return Ok(Choice::run(void, why));
        }
        if today {
            let why = format!(
                "order {order}: a partial return, or one after an earlier return, of a payment of today is possible after the bank's end of day, {} (NestPay refunds only settled orders; a void returns the whole order)",
                end_of_business_day(call.now, eod)
            );
            return Ok(Choice::refuse(Reason::NotAllowedToday, why));
        }
        let remaining = paid - payment.refunded_amount.unwrap_or(0);
        let amount = doc.amount.unwrap_or(remaining);
        if amount <= 0 {
            let why = format!("order {order}: nothing remains to return");
            return Ok(Choice::refuse(Reason::AmountExceedsRemaining, why));
        }
        let refund = json!({"order_ref": order, "amount": amount, "currency": doc.currency});
        Ok(Choice::Run {
            first: Attempt::new(OperationKind::Refund, refund),
            fallback: (whole && first).then_some(void),
            fallback_codes: vec!["CORE-2508".into()],
            why: format!(
                "paid {paid_at}, before the bank's current business day (end of day {eod_text}): a refund"
            ),
        })
    }
}

payops_core::export_provider!(NestPay);
