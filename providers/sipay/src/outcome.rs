//! What a Sipay answer means (JSON, read without rounding by the kit):
//! the token's, the refund's `status_code` and the status check's invoice
//! normalized into [`QueryDetails`] with the ledger's facts.
//!
//! The rules for a refund: `succeeded` only for `status_code` 100 on HTTP
//! 2xx (naming the invoice sent, when it names one); `pending` for 101
//! (Sipay's "refund request created; our team will complete it": awaiting
//! its operations team); `failed` only for the codes below that say the
//! refund was not made; anything else (104 "return transaction id must be
//! unique" may mean an earlier one went through, 99, 112, an undocumented
//! code, an unreadable answer) is `unknown`.

use payops_core::kit::json::json_answer;
use payops_core::ledger::OrderFacts;
use payops_core::money::{DecimalStyle, parse_json_minor};
use payops_core::outcome::Reason;
use payops_core::{Answer, Currency, Outcome, PaymentStatus, QueryDetails, Status};
use serde_json::{Value, json};

use crate::codes::CODES;

fn code(body: &Value) -> Option<i64> {
    match &body["status_code"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn said(mut o: Outcome, body: Value) -> Outcome {
    o.provider_code = code(&body).map(|c| c.to_string());
    o.provider_message = text(&body["status_description"]).or_else(|| text(&body["message"]));
    o.raw = body;
    o
}

/// The token answer: the bearer token, or the outcome that ends the
/// operation. Only a safe request was sent, so a `failed` outcome here is
/// a refusal: a transport failure or an unreadable answer keeps its reason
/// (the host answers 503), an answer without a token is Sipay's refusal of
/// the credentials.
pub fn token(answer: Answer) -> Result<String, Box<Outcome>> {
    let (http, body) = match json_answer(answer) {
        Ok(x) => x,
        Err(mut o) => {
            o.status = Status::Failed;
            return Err(o);
        }
    };
    match body["data"]["token"].as_str() {
        Some(t) if !t.is_empty() && code(&body) == Some(100) && (200..300).contains(&http) => {
            Ok(t.to_owned())
        }
        _ => {
            let o = Outcome::new(Status::Failed).with(Status::Failed, Some(Reason::Authentication));
            Err(Box::new(said(o, body)))
        }
    }
}

/// The outcome of a refund of `amount` (minor units) of `invoice` sent as
/// `reference`.
pub fn refund_outcome(
    answer: Answer,
    invoice: &str,
    amount: i64,
    currency: Currency,
    reference: &str,
) -> Outcome {
    let (http, body) = match json_answer(answer) {
        Ok(x) => x,
        Err(o) => return *o,
    };
    let decided = code(&body)
        .and_then(|c| CODES.iter().find(|(k, ..)| *k == c))
        .and_then(|(_, _, d)| *d);
    let echoed = text(&body["invoice_id"]).or_else(|| text(&body["data"]["invoice_id"]));
    let echoed_amount = [&body["refund_amount"], &body["data"]["refund_amount"]]
        .into_iter()
        .find(|v| !v.is_null())
        .map(|v| parse_json_minor(v, currency.exponent(), DecimalStyle::Point).ok());
    let mut o = match decided {
        _ if !(200..500).contains(&http) => {
            Outcome::new(Status::Unknown).with(Status::Unknown, Some(Reason::ProviderError))
        }
        Some((s @ (Status::Succeeded | Status::Pending), _)) if (200..300).contains(&http) => {
            if echoed.as_deref().is_some_and(|e| e != invoice) {
                Outcome::new(Status::Unknown).with(Status::Unknown, Some(Reason::OrderMismatch))
            } else if echoed_amount.is_some_and(|a| a != Some(amount)) {
                Outcome::new(Status::Unknown).with(Status::Unknown, Some(Reason::ProviderError))
            } else {
                let mut o = Outcome::new(s);
                o.provider_reference = Some(reference.to_owned());
                o
            }
        }
        Some((Status::Failed, r)) => Outcome::new(Status::Failed).with(Status::Failed, Some(r)),
        _ => Outcome::new(Status::Unknown).with(Status::Unknown, Some(Reason::ProviderError)),
    };
    o.details = json!({
        "order_ref": invoice, "amount": amount, "refund_transaction_id": reference,
        "order_no": text(&body["order_no"]), "ref_no": text(&body["ref_no"]).or_else(|| text(&body["ref_number"]))
    });
    said(o, body)
}

/// `details` of a refund (the JSON Schema).
pub fn refund_details_schema() -> Value {
    let s = |t: &str, d: &str| json!({"type": ["string", "null"], "title": t, "description": d});
    json!({"type": "object", "title": "Details", "description": "What Sipay answered.", "properties": {
        "order_ref": s("Order reference", "Wire `invoice_id` sent."),
        "amount": {"type": ["integer", "null"], "title": "Amount (minor units)", "description": "Wire `amount` sent."},
        "refund_transaction_id": s("Refund transaction id", "Wire `refund_transaction_id` sent: the operation id."),
        "order_no": s("Order number", "Wire `order_no`: Sipay's order number, when the answer has one."),
        "ref_no": s("Reference number", "Wire `ref_no` (or `ref_number`): the bank's reference, when the answer has one.")
    }})
}

/// `details` of the status check (the JSON Schema).
pub fn query_details_schema() -> Value {
    payops_core::details::schema_of::<QueryDetails>()
}

/// The outcome of the status check of `invoice`.
pub fn query_outcome(answer: Answer, invoice: &str) -> Outcome {
    let (http, body) = match json_answer(answer) {
        Ok(x) => x,
        Err(o) => return *o,
    };
    let unknown = |body: Value| {
        said(
            Outcome::new(Status::Unknown).with(Status::Unknown, Some(Reason::ProviderError)),
            body,
        )
    };
    let c = code(&body);
    if matches!(c, Some(31 | 32)) && (200..500).contains(&http) {
        // No such invoice.
        return said(
            Outcome::new(Status::Failed).with(Status::Failed, Some(Reason::NotFound)),
            body,
        );
    }
    // 100: the invoice read; 41 (its sample): read, the payment failed;
    // 69: read, not processed yet.
    if !matches!(c, Some(100 | 41 | 69)) || !(200..300).contains(&http) {
        return unknown(body);
    }
    if text(&body["invoice_id"]).is_some_and(|e| e != invoice) {
        return said(
            Outcome::new(Status::Unknown).with(Status::Unknown, Some(Reason::OrderMismatch)),
            body,
        );
    }
    // The answer names no currency in Sipay's pages: `currency_code` when
    // present, otherwise TRY (inferred).
    let Ok(currency) = body["currency_code"]
        .as_str()
        .map_or(Ok(Currency::TRY), Currency::from_code)
    else {
        return unknown(body);
    };
    let paid = [&body["transaction_amount"], &body["product_price"]]
        .into_iter()
        .find_map(|v| parse_json_minor(v, currency.exponent(), DecimalStyle::Point).ok());
    let refunded = parse_json_minor(
        &body["total_refunded_amount"],
        currency.exponent(),
        DecimalStyle::Point,
    )
    .ok();
    let state = text(&body["transaction_status"]);
    let payment_status = match (c, state.as_deref(), paid, refunded) {
        (Some(41), ..) | (_, Some("Failed"), ..) => PaymentStatus::Failed,
        (Some(69), ..) | (_, Some("Pending"), ..) => PaymentStatus::Pending,
        (_, _, Some(p), Some(r)) if r >= p && r > 0 => PaymentStatus::Refunded,
        (_, _, _, Some(r)) if r > 0 => PaymentStatus::PartiallyRefunded,
        (_, Some("Completed"), ..) => PaymentStatus::Succeeded,
        _ => PaymentStatus::Unknown,
    };
    let mut d = QueryDetails {
        payment_status,
        provider_payment_status: state,
        amount: paid,
        currency,
        installment: text(&body["installment"]).and_then(|t| t.parse().ok()),
        payment_date: None,
        refunded_amount: refunded,
        order_ref: Some(invoice.to_owned()),
        transactions: Vec::new(),
        extra: Default::default(),
        ledger: None,
    };
    for k in ["order_id", "transaction_id"] {
        if let Some(v) = text(&body[k]) {
            d.extra.insert(k.into(), Value::String(v));
        }
    }
    d.ledger = Some(OrderFacts::totals(&d));
    let mut o = Outcome::new(Status::Succeeded);
    o.details = serde_json::to_value(&d).unwrap_or(Value::Null);
    said(o, body)
}
