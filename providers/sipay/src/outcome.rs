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

use payops_core::kit::json::{json_answer, text};
use payops_core::ledger::OrderFacts;
use payops_core::money::{DecimalStyle, parse_json_minor};
use payops_core::outcome::Reason;
use payops_core::{Answer, Currency, Outcome, PaymentStatus, QueryDetails, Status};
use serde_json::{Value, json};

use crate::codes::CODES;
use crate::documents::RefundDoc;

fn code(body: &Value) -> Option<i64> {
    text(&body["status_code"])?.trim().parse().ok()
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
    let (http, body) = json_answer(answer).map_err(|mut o| {
        o.status = Status::Failed;
        o
    })?;
    let ok = code(&body) == Some(100) && (200..300).contains(&http);
    let token = body["data"]["token"]
        .as_str()
        .filter(|t| ok && !t.is_empty());
    let refused = Outcome::of(Status::Failed, Reason::Authentication);
    token
        .map(str::to_owned)
        .ok_or_else(|| Box::new(said(refused, body)))
}

/// The outcome of the refund `r` sent as `reference`.
pub fn refund_outcome(answer: Answer, r: &RefundDoc, reference: &str) -> Outcome {
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
        .map(|v| parse_json_minor(v, r.currency.exponent(), DecimalStyle::Point).ok());
    let mut o = match decided {
        _ if !(200..500).contains(&http) => Outcome::of(Status::Unknown, Reason::ProviderError),
        Some((s @ (Status::Succeeded | Status::Pending), _)) if (200..300).contains(&http) => {
            if echoed.as_deref().is_some_and(|e| e != r.order_ref) {
                Outcome::of(Status::Unknown, Reason::OrderMismatch)
            } else if echoed_amount.is_some_and(|a| a != Some(r.amount)) {
                Outcome::of(Status::Unknown, Reason::ProviderError)
            } else {
                let mut o = Outcome::new(s);
                o.provider_reference = Some(reference.to_owned());
                o
            }
        }
        Some((Status::Failed, reason)) => Outcome::of(Status::Failed, reason),
        _ => Outcome::of(Status::Unknown, Reason::ProviderError),
    };
    let ref_no = text(&body["ref_no"]).or_else(|| text(&body["ref_number"]));
    o.details = json!({
        "order_ref": r.order_ref, "amount": r.amount, "refund_transaction_id": reference,
        "order_no": text(&body["order_no"]), "ref_no": ref_no
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

/// The outcome of the status check of `invoice`.
pub fn query_outcome(answer: Answer, invoice: &str) -> Outcome {
    let (http, body) = match json_answer(answer) {
        Ok(x) => x,
        Err(o) => return *o,
    };
    let said_as = |status, reason, body| said(Outcome::of(status, reason), body);
    let c = code(&body);
    if matches!(c, Some(31 | 32)) && (200..500).contains(&http) {
        // No such invoice.
        return said_as(Status::Failed, Reason::NotFound, body);
    }
    // 100: the invoice read; 41 (its sample): read, the payment failed;
    // 69: read, not processed yet.
    if !matches!(c, Some(100 | 41 | 69)) || !(200..300).contains(&http) {
        return said_as(Status::Unknown, Reason::ProviderError, body);
    }
    if text(&body["invoice_id"]).is_some_and(|e| e != invoice) {
        return said_as(Status::Unknown, Reason::OrderMismatch, body);
    }
    // The answer names no currency in Sipay's pages: `currency_code` when
    // present, otherwise TRY (inferred).
    let named = body["currency_code"].as_str();
    let Ok(currency) = named.map_or(Ok(Currency::TRY), Currency::from_code) else {
        return said_as(Status::Unknown, Reason::ProviderError, body);
    };
    let minor = |v: &Value| parse_json_minor(v, currency.exponent(), DecimalStyle::Point).ok();
    let paid = minor(&body["transaction_amount"]).or_else(|| minor(&body["product_price"]));
    let refunded = minor(&body["total_refunded_amount"]);
    let state = text(&body["transaction_status"]);
    let mut d = QueryDetails::new(invoice, currency);
    d.payment_status = match (c, state.as_deref(), paid, refunded) {
        (Some(41), ..) | (_, Some("Failed"), ..) => PaymentStatus::Failed,
        (Some(69), ..) | (_, Some("Pending"), ..) => PaymentStatus::Pending,
        (_, _, Some(p), Some(r)) if r >= p && r > 0 => PaymentStatus::Refunded,
        (_, _, _, Some(r)) if r > 0 => PaymentStatus::PartiallyRefunded,
        (_, Some("Completed"), ..) => PaymentStatus::Succeeded,
        _ => PaymentStatus::Unknown,
    };
    (d.provider_payment_status, d.amount, d.refunded_amount) = (state, paid, refunded);
    d.installment = text(&body["installment"]).and_then(|t| t.parse().ok());
    let ids = ["order_id", "transaction_id"].map(|k| (k.to_owned(), text(&body[k])));
    d.extra = ids
        .into_iter()
        .filter_map(|(k, v)| Some((k, Value::String(v?))))
        .collect();
    d.ledger = Some(OrderFacts::totals(&d));
    let mut o = Outcome::new(Status::Succeeded);
    o.details = serde_json::to_value(&d).unwrap_or(Value::Null);
    said(o, body)
}
