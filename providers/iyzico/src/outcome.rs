//! What an iyzico answer means: `status` `success` or `failure`, the
//! documented refusal codes, the answer's echo of what was sent, and the
//! payment detail normalized into [`QueryDetails`].

use payops_core::money::{DecimalStyle, parse_json_minor};
use payops_core::{
    Outcome, PaymentStatus, QueryDetails, Reason, Status, Transaction, TransactionStatus,
};
use serde_json::{Value, json};

/// What a request was about, to hold its answer against.
#[derive(Debug, Clone, Copy)]
pub struct Sent<'a> {
    /// The payment (`paymentId`).
    pub order_ref: &'a str,
    /// The payment transaction, for a refund.
    pub payment_transaction_id: Option<&'a str>,
    /// The amount refunded, in minor units.
    pub amount: Option<i64>,
}

/// `details` of a refund or cancel outcome (the JSON Schema).
pub fn money_details() -> Value {
    let s = |t: &str, d: &str| json!({"type": ["string", "null"], "title": t, "description": d});
    json!({"type": "object", "title": "Details", "description": "What iyzico answered.", "properties": {
        "payment_id": s("Payment id", "Wire `paymentId` of the answer."),
        "payment_transaction_id": s("Payment transaction id", "Wire `paymentTransactionId` of the answer (refunds)."),
        "conversation_id": s("Conversation id", "Wire `conversationId`: the payops operation id, echoed."),
        "host_reference": s("Host reference", "Wire `hostReference`: the bank's reference, when given."),
        "amount": {"type": ["integer", "null"], "title": "Amount (minor units)", "description": "Wire `price` of the answer, in minor units."},
        "error_group": s("Error group", "Wire `errorGroup` of a failure.")
    }})
}

/// `details` of a payment detail outcome (the JSON Schema).
pub fn query_details_schema() -> Value {
    let mut query = payops_core::details::schema_of::<QueryDetails>();
    if let Some(m) = query.as_object_mut() {
        m.insert(
            "description".into(),
            json!("Payment detail normalized: amounts in minor units."),
        );
    }
    query
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn unknown(reason: Reason, why: String) -> Outcome {
    let mut o = Outcome::new(Status::Unknown).with(Status::Unknown, Some(reason));
    o.provider_message = Some(why);
    o
}

/// The reason of a `failure` whose `errorCode` proves nothing was done.
pub fn refusal_reason(code: &str) -> Option<Reason> {
    match code {
        "11" | "1004" => Some(Reason::InvalidRequest),
        "1000" | "1001" => Some(Reason::Authentication),
        c if c.len() == 5 && c.starts_with("10") && c.bytes().all(|b| b.is_ascii_digit()) => {
            Some(Reason::Declined)
        }
        _ => None,
    }
}

/// A `failure` answer (HTTP 2xx or 4xx).
fn failure(body: &Value) -> Outcome {
    let code = text(&body["errorCode"]).unwrap_or_default();
    let mut o = match refusal_reason(&code) {
        Some(reason) => Outcome::new(Status::Failed).with(Status::Failed, Some(reason)),
        None => unknown(Reason::ProviderError, String::new()),
    };
    o.provider_code = Some(code).filter(|c| !c.is_empty());
    o.provider_message = body["errorMessage"].as_str().map(str::to_owned);
    o.details =
        json!({"error_group": body["errorGroup"], "conversation_id": body["conversationId"]});
    o
}

/// What a refund or cancel answer means.
pub fn money_outcome(
    http_status: u16,
    body: &Value,
    sent: Sent<'_>,
    operation_id: &str,
) -> Outcome {
    let ok_http = (200..300).contains(&http_status);
    match body["status"].as_str() {
        Some("failure") if http_status < 500 => return failure(body),
        Some("success") if ok_http => {}
        _ => {
            return unknown(
                Reason::ProviderError,
                format!("undocumented answer (HTTP {http_status})"),
            );
        }
    }
    let sent_order = Some(sent.order_ref);
    let mismatch = [
        (
            "conversationId",
            Some(operation_id),
            &body["conversationId"],
        ),
        ("paymentId", sent_order, &body["paymentId"]),
        (
            "paymentTransactionId",
            sent.payment_transaction_id,
            &body["paymentTransactionId"],
        ),
    ]
    .into_iter()
    .find(|(field, sent, got)| {
        // The cancel answer has no paymentTransactionId: only compare what was sent.
        let applies = *field != "paymentTransactionId" || sent.is_some();
        applies && text(got).as_deref() != *sent
    });
    if let Some((field, sent, got)) = mismatch {
        let answered = text(got).unwrap_or_else(|| got.to_string());
        let mut o = Outcome::new(Status::Succeeded).order_mismatch(sent.unwrap_or(""), &answered);
        o.provider_message = Some(format!(
            "the answer's {field} is {got}, not {}",
            sent.unwrap_or("")
        ));
        o.details["order_ref_mismatch"]["field"] = json!(field);
        return o;
    }
    let amount = parse_json_minor(&body["price"], 2, DecimalStyle::Point).ok();
    if let Some(sent) = sent.amount
        && amount != Some(sent)
    {
        return unknown(
            Reason::ProviderError,
            format!(
                "the answer's price {} is not the {sent} refunded",
                body["price"]
            ),
        );
    }
    let mut o = Outcome::new(Status::Succeeded);
    o.provider_reference = text(&body["hostReference"])
        .or_else(|| text(&body["paymentTransactionId"]))
        .or_else(|| text(&body["paymentId"]));
    o.provider_code = Some("success".into());
    o.details = json!({
        "payment_id": text(&body["paymentId"]),
        "payment_transaction_id": text(&body["paymentTransactionId"]),
        "conversation_id": text(&body["conversationId"]),
        "host_reference": text(&body["hostReference"]),
        "amount": amount,
        "error_group": null,
    });
    o
}

/// What a payment detail answer means.
pub fn query_outcome(
    http_status: u16,
    body: &Value,
    sent: Sent<'_>,
    operation_id: &str,
) -> Outcome {
    match body["status"].as_str() {
        Some("failure") if http_status < 500 => {
            let mut o = failure(body);
            // Nothing moves on an inquiry: a refused one is simply failed.
            if o.status == Status::Unknown {
                o = o.with(Status::Failed, Some(Reason::Refused));
            }
            return o;
        }
        Some("success") if (200..300).contains(&http_status) => {}
        _ => {
            return unknown(
                Reason::ProviderError,
                format!("undocumented answer (HTTP {http_status})"),
            );
        }
    }
    if text(&body["paymentId"]).as_deref() != Some(sent.order_ref)
        || text(&body["conversationId"]).as_deref() != Some(operation_id)
    {
        return unknown(
            Reason::OrderMismatch,
            format!("the answer is about payment {}", body["paymentId"]),
        );
    }
    match query_details(body) {
        Some(details) => {
            let mut o = Outcome::new(Status::Succeeded);
            o.provider_code = Some("success".into());
            o.provider_reference = text(&body["paymentId"]);
            o.details = details;
            o
        }
        None => unknown(
            Reason::ProviderError,
            "a payment detail payops cannot read exactly".into(),
        ),
    }
}

fn query_details(body: &Value) -> Option<Value> {
    let minor = |v: &Value| parse_json_minor(v, 2, DecimalStyle::Point);
    let payment_status = match body["paymentStatus"].as_str()? {
        "SUCCESS" => PaymentStatus::Succeeded,
        "FAILURE" => PaymentStatus::Failed,
        "INIT_THREEDS" | "CALLBACK_THREEDS" => PaymentStatus::Pending,
        _ => PaymentStatus::Unknown,
    };
    let mut transactions = Vec::new();
    for item in body["itemTransactions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        transactions.push(Transaction {
            transaction_id: text(&item["paymentTransactionId"]),
            status_id: item["transactionStatus"].as_i64(),
            status: TransactionStatus::PaymentSucceeded,
            status_name: None,
            amount: Some(minor(&item["paidPrice"]).ok()?),
            date: None,
            merchant_transfer: None,
            sub_merchants: Vec::new(),
        });
    }
    let mut details = QueryDetails {
        payment_status,
        provider_payment_status: body["paymentStatus"].as_str().map(str::to_owned),
        amount: Some(minor(&body["paidPrice"]).ok()?),
        currency: payops_core::Currency::from_code(body["currency"].as_str()?).ok()?,
        installment: body["installment"]
            .as_u64()
            .and_then(|i| u32::try_from(i).ok()),
        payment_date: None,
        refunded_amount: None,
        order_ref: text(&body["paymentId"]),
        transactions,
        extra: [
            ("basket_id", &body["basketId"]),
            ("fraud_status", &body["fraudStatus"]),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect(),
        ledger: None,
    };
    // The payment detail lists the basket's item transactions, not the
    // refunds and cancels made on them: only what was paid.
    details.ledger = Some(payops_core::ledger::OrderFacts::not_listed(&details));
    serde_json::to_value(details).ok()
}
