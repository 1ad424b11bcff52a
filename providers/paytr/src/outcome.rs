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
use payops_core::kit::json::json_answer;
use payops_core::ledger::{OrderFacts, ReturnKind, ReturnState};
use payops_core::money::{DecimalStyle, parse_json_minor};
use payops_core::outcome::Reason;
use payops_core::{
    Answer, Currency, Outcome, PaymentStatus, QueryDetails, Status, Transaction, TransactionStatus,
};
use serde_json::{Value, json};

use crate::codes::ERR_NO;

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A refusal (`error` or `failed`), or `None` for another answer.
fn refused(body: &Value, http: u16) -> Option<Outcome> {
    let (status, reason) = match body["status"].as_str()? {
        "failed" => (Status::Failed, Reason::NotFound),
        "error" => {
            let no = text(&body["err_no"]).unwrap_or_default();
            let r = ERR_NO
                .iter()
                .find(|(c, ..)| *c == no)
                .map_or(Reason::Refused, |(_, r, _)| *r);
            (Status::Failed, r)
        }
        _ => return None,
    };
    if !(200..500).contains(&http) {
        return None;
    }
    let mut o = Outcome::new(status).with(status, Some(reason));
    o.provider_code = text(&body["err_no"]).or(Some(body["status"].as_str()?.to_owned()));
    o.provider_message = text(&body["err_msg"]);
    Some(o)
}

/// The outcome of a refund of `amount` (minor units) of `order` sent with
/// `reference`.
pub fn refund_outcome(
    answer: Answer,
    order: &str,
    amount: i64,
    currency: Currency,
    reference: &str,
) -> Outcome {
    let (http, body) = match json_answer(answer) {
        Ok(x) => x,
        Err(o) => return *o,
    };
    let mut o = if let Some(o) = refused(&body, http) {
        o
    } else if body["status"] == "success" && (200..300).contains(&http) {
        let paid = parse_json_minor(
            &body["return_amount"],
            currency.exponent(),
            DecimalStyle::Point,
        )
        .ok();
        let echoed = text(&body["reference_no"]);
        if text(&body["merchant_oid"]).as_deref() != Some(order)
            || echoed.as_deref().is_some_and(|r| r != reference)
        {
            Outcome::new(Status::Unknown).with(Status::Unknown, Some(Reason::OrderMismatch))
        } else if paid != Some(amount) {
            Outcome::new(Status::Unknown).with(Status::Unknown, Some(Reason::ProviderError))
        } else {
            let mut o = Outcome::new(Status::Succeeded);
            o.provider_reference = Some(reference.to_owned());
            o
        }
    } else {
        Outcome::new(Status::Unknown).with(Status::Unknown, Some(Reason::ProviderError))
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

/// `details` of the status query (the JSON Schema).
pub fn query_details_schema() -> Value {
    payops_core::details::schema_of::<QueryDetails>()
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
    if let Some(mut o) = refused(&body, http) {
        // `004`: no successful payment for the order.
        o.raw = body;
        return o;
    }
    if body["status"] != "success" || !(200..300).contains(&http) {
        let mut o =
            Outcome::new(Status::Unknown).with(Status::Unknown, Some(Reason::ProviderError));
        o.raw = body;
        return o;
    }
    let currency = match body["currency"].as_str() {
        Some("TL") | None => Ok(Currency::TRY),
        Some(c) => Currency::from_code(c),
    };
    let Ok(currency) = currency else {
        let mut o =
            Outcome::new(Status::Unknown).with(Status::Unknown, Some(Reason::ProviderError));
        o.provider_message = Some(format!("currency {} is not known", body["currency"]));
        o.raw = body;
        return o;
    };
    let paid = parse_json_minor(
        &body["payment_amount"],
        currency.exponent(),
        DecimalStyle::Auto,
    )
    .ok();
    // A return without `date_completed` is not done yet (inferred).
    let transactions: Vec<Transaction> = body["returns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| Transaction {
            transaction_id: text(&r["reference_no"]).or_else(|| text(&r["return_ref_num"])),
            status_id: None,
            status: if date(&r["date_completed"]).is_some() {
                TransactionStatus::RefundSucceeded
            } else {
                TransactionStatus::Pending
            },
            status_name: text(&r["return_type"]),
            amount: parse_json_minor(&r["return_amount"], currency.exponent(), DecimalStyle::Auto)
                .ok(),
            date: date(&r["return_date"]),
            merchant_transfer: None,
            sub_merchants: Vec::new(),
        })
        .collect();
    let refunded: i64 = transactions
        .iter()
        .filter(|t| t.status == TransactionStatus::RefundSucceeded)
        .filter_map(|t| t.amount)
        .sum();
    let mut d = QueryDetails {
        payment_status: match paid {
            Some(p) if refunded >= p => PaymentStatus::Refunded,
            _ if refunded > 0 => PaymentStatus::PartiallyRefunded,
            _ => PaymentStatus::Succeeded,
        },
        provider_payment_status: None,
        amount: paid,
        currency,
        installment: text(&body["taksit"]).and_then(|t| t.parse().ok()),
        payment_date: date(&body["payment_date"]),
        refunded_amount: Some(refunded),
        order_ref: Some(order.to_owned()),
        transactions,
        extra: Default::default(),
        ledger: None,
    };
    d.ledger = Some(OrderFacts::listing(&d, |_, t| {
        Some((
            ReturnKind::Refund,
            if t.status == TransactionStatus::RefundSucceeded {
                ReturnState::Succeeded
            } else {
                ReturnState::Pending
            },
        ))
    }));
    let mut o = Outcome::new(Status::Succeeded);
    o.details = serde_json::to_value(&d).unwrap_or(Value::Null);
    o.raw = body;
    o
}
