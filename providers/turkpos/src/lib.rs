//! # payops-turkpos
//!
//! The TurkPos (Param) provider for payops: marketplace `refund` and `cancel`
//! through `Pazaryeri_TP_Iptal_Iade` (`Durum` `IADE` / `IPTAL`), standard
//! orders through `TP_Islem_Iptal_Iade_Kismi2`, and `query` through Param's
//! public `TP_Islem_Sorgulama4`, SOAP 1.1 over HTTPS with the kit's XML;
//! plus a stateful [`sim::TurkPosSimulator`]. TurkPos has no sub-merchant
//! adjustment of its own: it does not implement `SubMerchantAdjust`, so the
//! capability is absent and the host answers `unsupported_operation`.
//!
//! Sans-IO like every payops provider; built as a cdylib and an rlib.
//! Where things are, as in every payops provider:
//!
//! | file | what it holds |
//! |---|---|
//! | `lib.rs` | the trait impls: which request each phase sends, what ends it |
//! | [`documents`] | the account config and request documents, and their checks |
//! | [`wire`] | SOAP methods, envelopes, amounts and dates on the wire |
//! | [`outcome`] | what each method's answer means |
//! | [`reconcile`] | settling an unresolved operation from a fresh query |
//! | [`sim`] | the simulator |
//!
//! Mapping tables and result semantics: `docs/providers/turkpos.md`.

#![warn(missing_docs)]

pub mod documents;
pub mod outcome;
pub mod reconcile;
pub mod sim;
pub mod wire;

use payops_core::returning::{business_day, end_of_business_day, untouched};
use payops_core::{
    About, Answer, Attempt, Call, Cancel, Choice, Error, Next, OperationKind, Provider, Query,
    QueryDetails, Reason, ReconcileInput, Refund, Resolution, Return, Simulator,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::documents::{Account, OrderType, QueryDoc, ReturnDoc};
use crate::outcome::{
    query_details_schema, query_outcome_for, return_details_schema, return_outcome,
    standard_return_outcome,
};
use crate::wire::{
    QUERY_METHOD, RETURN_METHOD, STANDARD_RETURN_METHOD, is_uuid, query_envelope, return_envelope,
    soap_request, standard_return_envelope,
};

/// The provider id used in config.
pub const ID: &str = "turkpos";

/// The TurkPos provider.
#[derive(Debug, Default, Clone, Copy)]
pub struct TurkPos;

/// Where a TurkPos operation stands between its request and the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// `Pazaryeri_TP_Iptal_Iade` sent.
    Return {
        /// `Durum` sent: `IADE` or `IPTAL`.
        durum: String,
        /// `SiparisTutar` in kuruş; none for the whole order.
        amount: Option<i64>,
    },
    /// `TP_Islem_Iptal_Iade_Kismi2` sent.
    StandardReturn {
        /// `Durum` sent.
        durum: String,
        /// `Tutar` in kuruş.
        amount: i64,
    },
    /// `TP_Islem_Sorgulama4` sent.
    Query {
        /// `Siparis_ID` asked about.
        order_ref: String,
    },
}

impl Provider for TurkPos {
    type Account = Account;

    fn about(&self) -> About {
        About::new(ID, "TurkPos (Param)", env!("CARGO_PKG_VERSION"))
            .schema_name("TurkPos")
            .merchant_identity(&["client_code"])
    }

    fn account(&self, call: &Call) -> Result<Account, Error> {
        documents::account(call)
    }

    fn simulator(&self) -> Box<dyn Simulator> {
        Box::new(sim::TurkPosSimulator::demo())
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

/// The outcome of the answer to the request `phase` sent.
fn answered(phase: Phase, answer: Answer) -> Result<Next<Phase>, Error> {
    let o = match phase {
        Phase::Return { durum, amount } => return_outcome(answer, &durum, amount),
        Phase::StandardReturn { durum, amount } => standard_return_outcome(answer, &durum, amount),
        Phase::Query { order_ref } => query_outcome_for(answer, &order_ref),
    };
    tracing::debug!(status = %o.status, code = ?o.provider_code, "TurkPos answered");
    Ok(Next::Done(o))
}

fn start_return(a: &Account, durum: &str, doc: ReturnDoc) -> Result<Next<Phase>, Error> {
    if doc.order_ref.is_empty() || doc.order_ref.chars().count() > 50 {
        return Err(Error::invalid_field(
            "/order_ref",
            "Siparis_ID must be 1 to 50 characters",
        ));
    }
    let order_type = doc
        .order_type
        .or(a.default_order_type)
        .unwrap_or(OrderType::Marketplace);
    if order_type == OrderType::Standard {
        return start_standard_return(a, durum, &doc);
    }
    if !doc.marketplace_order_guid.as_deref().is_some_and(is_uuid) {
        return Err(Error::invalid_field(
            "/marketplace_order_guid",
            "PYSiparis_GUID must be a UUID (36 characters); required for a marketplace order (order_type standard for other orders)",
        ));
    }
    match (doc.whole_order, doc.amount) {
        (true, Some(_)) => {
            return Err(Error::invalid_field(
                "/amount",
                "not with whole_order: a whole-order return sends SiparisTutar 0",
            ));
        }
        (false, None) => {
            return Err(Error::invalid_field(
                "/amount",
                "required: give the amount to return, or whole_order: true to return the whole marketplace order (every connected vendor's part)",
            ));
        }
        (false, Some(a)) if a <= 0 => {
            return Err(Error::invalid_field("/amount", "must be greater than 0"));
        }
        _ => {}
    }
    match (doc.whole_order, doc.seller_payout_amount) {
        (_, Some(p)) if p < 0 => {
            return Err(Error::invalid_field(
                "/seller_payout_amount",
                "must not be negative",
            ));
        }
        (true, Some(p)) if p != 0 => {
            return Err(Error::invalid_field(
                "/seller_payout_amount",
                "with whole_order nothing is left to pay the seller: 0 or omitted",
            ));
        }
        (false, None) => {
            return Err(Error::invalid_field(
                "/seller_payout_amount",
                "required with amount: what the seller is paid after this return",
            ));
        }
        _ => {}
    }
    tracing::debug!(order_ref = %doc.order_ref, durum, amount = ?doc.amount, seller_payout = ?doc.seller_payout_amount, whole_order = doc.whole_order, "TurkPos Pazaryeri_TP_Iptal_Iade");
    Ok(Next::Send {
        request: soap_request(a, RETURN_METHOD, return_envelope(a, durum, &doc)),
        phase: Phase::Return {
            durum: durum.to_owned(),
            amount: doc.amount,
        },
    })
}

fn start_standard_return(a: &Account, durum: &str, doc: &ReturnDoc) -> Result<Next<Phase>, Error> {
    for (present, field) in [
        (
            doc.marketplace_order_guid.is_some(),
            "/marketplace_order_guid",
        ),
        (doc.whole_order, "/whole_order"),
        (doc.seller_payout_amount.is_some(), "/seller_payout_amount"),
    ] {
        if present {
            return Err(Error::invalid_field(
                field,
                "marketplace orders only: a standard order (TP_Islem_Iptal_Iade_Kismi2) takes order_ref and amount",
            ));
        }
    }
    let amount = match doc.amount {
        Some(a) if a > 0 => a,
        _ => {
            return Err(Error::invalid_field(
                "/amount",
                "required and greater than 0 (Tutar; a cancel names the whole amount)",
            ));
        }
    };
    tracing::debug!(order_ref = %doc.order_ref, durum, amount, "TurkPos TP_Islem_Iptal_Iade_Kismi2");
    Ok(Next::Send {
        request: soap_request(
            a,
            STANDARD_RETURN_METHOD,
            standard_return_envelope(a, durum, &doc.order_ref, amount),
        ),
        phase: Phase::StandardReturn {
            durum: durum.to_owned(),
            amount,
        },
    })
}

impl Refund for TurkPos {
    type Document = ReturnDoc;
    type Phase = Phase;

    fn details_schema(&self) -> Value {
        return_details_schema()
    }

    fn start(&self, _: &Call, a: &Account, doc: ReturnDoc) -> Result<Next<Phase>, Error> {
        start_return(a, "IADE", doc)
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

impl Cancel for TurkPos {
    type Document = ReturnDoc;
    type Phase = Phase;

    fn details_schema(&self) -> Value {
        return_details_schema()
    }

    fn start(&self, _: &Call, a: &Account, doc: ReturnDoc) -> Result<Next<Phase>, Error> {
        start_return(a, "IPTAL", doc)
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

impl Query for TurkPos {
    type Document = QueryDoc;
    type Phase = Phase;

    fn details_schema(&self) -> Value {
        query_details_schema()
    }

    fn start(&self, _: &Call, a: &Account, doc: QueryDoc) -> Result<Next<Phase>, Error> {
        if doc.order_ref.is_empty() || doc.order_ref.chars().count() > 50 {
            return Err(Error::invalid_field(
                "/order_ref",
                "Siparis_ID must be 1 to 50 characters",
            ));
        }
        Ok(Next::Send {
            request: soap_request(a, QUERY_METHOD, query_envelope(a, &doc.order_ref)),
            phase: Phase::Query {
                order_ref: doc.order_ref,
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

impl Return for TurkPos {
    type Document = ReturnDoc;

    fn rule(&self) -> &'static str {
        "Param's rule (\"cancellation is made for transactions made on the same day and refund is made for transactions made on different days\"), on TP_Islem_Sorgulama4's Tarih in Turkish time, the day ending at midnight (inferred: Param names no cutoff): on the payment's day, with no earlier return of the order, IPTAL (a marketplace order partly or whole; a standard order only whole, as Param requires the whole amount for IPTAL); on a later day IADE. On the payment's day, a standard order's partial return or any return after an earlier one is refused until midnight. No fallback: Param documents no decline code for a closed day."
    }

    fn payment_query(&self, doc: &ReturnDoc) -> Value {
        serde_json::json!({"order_ref": doc.order_ref})
    }

    fn choose(
        &self,
        call: &Call,
        a: &Account,
        doc: &ReturnDoc,
        payment: &QueryDetails,
    ) -> Result<Choice, Error> {
        let Some(paid_at) = payment.payment_date else {
            return Ok(Choice::Refuse {
                reason: Reason::ProviderError,
                message: format!(
                    "TP_Islem_Sorgulama4 gives no date for {}: cancel or refund by hand",
                    doc.order_ref
                ),
            });
        };
        let midnight = payops_core::chrono::NaiveTime::MIN;
        let today = business_day(paid_at, midnight) == business_day(call.now, midnight);
        let standard = doc.order_type.or(a.default_order_type) == Some(OrderType::Standard);
        let whole = doc.whole_order || (doc.amount.is_some() && doc.amount == payment.amount);
        let document = serde_json::to_value(doc).map_err(|e| Error::Internal(e.to_string()))?;
        let run = |operation, why: String| Choice::Run {
            first: Attempt {
                operation,
                document: document.clone(),
            },
            fallback: None,
            fallback_codes: Vec::new(),
            why,
        };
        if today && untouched(payment, call.earlier_returns) && (whole || !standard) {
            return Ok(run(
                OperationKind::Cancel,
                format!("paid {paid_at}, today in Turkish time, no earlier return: IPTAL"),
            ));
        }
        if today {
            return Ok(Choice::Refuse {
                reason: Reason::NotAllowedToday,
                message: format!(
                    "order {}: paid today; {} is possible from {} (Param refunds, IADE, only orders of earlier days)",
                    doc.order_ref,
                    if standard && !whole {
                        "a partial return of a standard order"
                    } else {
                        "a return after an earlier one"
                    },
                    end_of_business_day(call.now, midnight)
                ),
            });
        }
        Ok(run(
            OperationKind::Refund,
            format!("paid {paid_at}, before today in Turkish time: IADE"),
        ))
    }
}

payops_core::export_provider!(TurkPos);
