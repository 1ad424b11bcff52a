//! What a PayTR answer means (JSON, read without rounding by the kit):
//! the refund's `status` (`success`, `error` with `err_no`, `failed`), the
//! status query's order and its `returns` normalized into
//! [`QueryDetails`] with the ledger's facts.
//!
//! The rules: `succeeded` only for `status` `success` on HTTP 2xx naming
//! the order, the amount and the `reference_no` sent; `failed` for
//! `status` `error` (PayTR: the request has an error or a gap, so nothing
//! was done; `006` the amount exceeds what was paid) and `failed` (no such
//! order); anything else is `unknown`.

use chrono::{DateTime, FixedOffset};
use payops_core::kit::json::{json_answer, text};
use payops_core::ledger::{ReturnKind, ReturnState};
use payops_core::money::{DecimalStyle, parse_json_minor};
use payops_core::outcome::Reason;
use payops_core::{
    Answer, Currency, Outcome, PaymentStatus, QueryDetails, Status, Transaction, TransactionStatus,
};
use serde_json::{Value, json};

use crate::codes::ERR_NO;
use crate::documents::RefundDoc;

/// A refusal (`error` or `failed`), or `None` for another answer.
fn refused(body: &Value, http: u16) -> Option<Outcome> {
    let reason = match body["status"].as_str()? {
        "failed" => Reason::NotFound,
        "error" => {
            let no = text(&body["err_no"]).unwrap_or_default();
            ERR_NO
                .iter()
                .find(|(c, ..)| *c == no)
                .map_or(Reason::Refused, |(_, r, _)| *r)
        }
        _ => return None,
    };
    if !(200..500).contains(&http) {
        return None;
    }
    let mut o = Outcome::of(Status::Failed, reason);
    o.provider_code = text(&body["err_no"]).or(Some(body["status"].as_str()?.to_owned()));
    o.provider_message = text(&body["err_msg"]);
    Some(o)
}

/// The outcome of the refund `d` sent with `reference`.
pub fn refund_outcome(answer: Answer, d: &RefundDoc, reference: &str) -> Outcome {
    let (order, amount, currency) = (d.order_ref.as_str(), d.amount, d.currency);
    let (http, body) = match json_answer(answer) {
        Ok(x) => x,
        Err(o) => return *o,
    };
    let paid = parse_json_minor(
        &body["return_amount"],
        currency.exponent(),
        DecimalStyle::Point,
    );
    let echoed = text(&body["reference_no"]);
    let mut o = if let Some(o) = refused(&body, http) {
        o
    } else if body["status"] != "success" || !(200..300).contains(&http) {
        Outcome::of(Status::Unknown, Reason::ProviderError)
    } else if text(&body["merchant_oid"]).as_deref() != Some(order)
        || echoed.as_deref().is_some_and(|r| r != reference)
    {
        Outcome::of(Status::Unknown, Reason::OrderMismatch)
    } else if paid.ok() != Some(amount) {
        Outcome::of(Status::Unknown, Reason::ProviderError)
    } else {
        let mut o = Outcome::new(Status::Succeeded);
        o.provider_reference = Some(reference.to_owned());
        o
    };
    o.details = json!({"order_ref": order, "amount": amount, "reference_no": reference, "is_test": text(&body["is_test"])});
    o.raw = body;
    o
}

/// `details` of a refund (the JSON Schema).
pub fn refund_details_schema() -> Value {
    let s = |t: &str, d: &str| json!({"type": ["string", "null"], "title": t, "description": d});
    json!({"type": "object", "title": "Details", "description": "What PayTR answered.", "properties": {
        "order_ref": s("Order reference", "Wire `merchant_oid` sent."),
        "amount": {"type": ["integer", "null"], "title": "Amount (minor units)", "description": "Wire `return_amount` sent."},
        "reference_no": s("Reference", "Wire `reference_no` sent: the operation id's alphanumerics; the status query lists the refund with it."),
        "is_test": s("Test", "Wire `is_test`: 1 for a test order.")
    }})
}

/// A PayTR date (`2021-03-25 23:45:22`, or a day alone), as Turkish time.
pub fn date(v: &Value) -> Option<DateTime<FixedOffset>> {
    let s = v.as_str()?.trim();
    let format = ["%Y-%m-%d %H:%M:%S"];
    payops_core::turkish_time(s, &format)
        .or_else(|| payops_core::turkish_time(&format!("{s} 00:00:00"), &format))
}

/// The outcome of the status query of `order`.
pub fn query_outcome(answer: Answer, order: &str) -> Outcome {
    let (http, body) = match json_answer(answer) {
        Ok(x) => x,
        Err(o) => return *o,
    };
    // `004`: no successful payment for the order.
    let currency = match body["currency"].as_str() {
        Some("TL") | None => Ok(Currency::TRY),
        Some(c) => Currency::from_code(c),
    };
    let mut o = match (refused(&body, http), currency) {
        (Some(o), _) => o,
        _ if body["status"] != "success" || !(200..300).contains(&http) => {
            Outcome::of(Status::Unknown, Reason::ProviderError)
        }
        (None, Ok(currency)) => {
            let mut o = Outcome::new(Status::Succeeded);
            o.details = serde_json::to_value(details(&body, order, currency)).unwrap_or_default();
            o
        }
        (None, Err(_)) => {
            let mut o = Outcome::of(Status::Unknown, Reason::ProviderError);
            o.provider_message = Some(format!("currency {} is not known", body["currency"]));
            o
        }
    };
    o.raw = body;
    o
}

/// The status query's order: its `returns` listed, one row each (a return
/// without `date_completed` is not done yet: inferred).
fn details(body: &Value, order: &str, currency: Currency) -> QueryDetails {
    let minor = |v: &Value| parse_json_minor(v, currency.exponent(), DecimalStyle::Auto).ok();
    let rows = (body["returns"].as_array().into_iter().flatten()).map(|r| Transaction {
        transaction_id: text(&r["reference_no"]).or_else(|| text(&r["return_ref_num"])),
        status_id: None,
        status: if date(&r["date_completed"]).is_some() {
            TransactionStatus::RefundSucceeded
        } else {
            TransactionStatus::Pending
        },
        status_name: text(&r["return_type"]),
        amount: minor(&r["return_amount"]),
        date: date(&r["return_date"]),
        merchant_transfer: None,
        sub_merchants: Vec::new(),
    });
    let mut d = QueryDetails::new(order, currency);
    d.payment_status = PaymentStatus::Succeeded;
    d.amount = minor(&body["payment_amount"]);
    d.installment = text(&body["taksit"]).and_then(|t| t.parse().ok());
    d.payment_date = date(&body["payment_date"]);
    d.listing(rows.collect(), |_, t| {
        let done = t.status == TransactionStatus::RefundSucceeded;
        Some((
            ReturnKind::Refund,
            if done {
                ReturnState::Succeeded
            } else {
                ReturnState::Pending
            },
        ))
    })
}
