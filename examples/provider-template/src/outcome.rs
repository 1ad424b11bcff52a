//! What an Acme Pay answer means: a 2xx is proof only about the payment
//! that was sent, a 4xx by the code table in README.md, anything else
//! unknown (the kit's [`json_answer`](payops_core::kit::json::json_answer)
//! has already made 5xx and unreadable bodies `unknown`).

use payops_core::ledger::{OrderFacts, ReturnKind, ReturnState};
use payops_core::serde_json::{Value, json};
use payops_core::{
    Currency, OperationKind, Outcome, PaymentStatus, QueryDetails, Reason, Status, Transaction,
    TransactionStatus,
};

/// `details` of a refund or cancel outcome (the JSON Schema).
pub fn money_details() -> Value {
    json!({"type": "object", "title": "Details", "properties": {
        "payment_id": {"type": ["string", "null"], "title": "Payment id", "description": "Wire `payment_id` of the answer."},
        "amount": {"type": ["integer", "null"], "title": "Amount (minor units)", "description": "Wire `amount` of the answer."}
    }})
}

/// A 2xx answer. It is proof only about the order that was sent.
pub fn success(op: OperationKind, order_ref: &str, body: &Value) -> Outcome {
    let named = if op == OperationKind::Query {
        &body["id"]
    } else {
        &body["payment_id"]
    };
    if named.as_str() != Some(order_ref) {
        let mut o =
            Outcome::new(Status::Unknown).with(Status::Unknown, Some(Reason::OrderMismatch));
        o.provider_message = Some(format!("the answer is about payment {named}"));
        return o;
    }
    if op == OperationKind::Query {
        return match query_details(body) {
            Some(details) => Outcome {
                details,
                ..Outcome::new(Status::Succeeded)
            },
            None => Outcome::unparseable(200, "undocumented payment", body.to_string().as_bytes()),
        };
    }
    let status = match body["status"].as_str() {
        Some("succeeded") => Status::Succeeded,
        Some("pending") => Status::Pending,
        _ => Status::Unknown,
    };
    let mut o = Outcome::new(status).with(status, Some(Reason::ProviderError));
    o.provider_reference = body["id"].as_str().map(str::to_owned);
    o.provider_code = body["status"].as_str().map(str::to_owned);
    o.details = json!({"payment_id": body["payment_id"], "amount": body["amount"]});
    o
}

/// A 4xx answer, by the code table in README.md. Only codes documented as
/// "nothing was done" are `failed`; the rest may have acted.
pub fn error(body: &Value) -> Outcome {
    let code = body["error"]["code"].as_str().unwrap_or_default();
    let (status, reason) = match code {
        "unauthorized" => (Status::Failed, Reason::Authentication),
        "payment_not_found" => (Status::Failed, Reason::NotFound),
        "invalid_request" => (Status::Failed, Reason::InvalidRequest),
        "amount_exceeds_refundable" => (Status::Failed, Reason::AmountExceedsRemaining),
        "payment_not_cancellable" => (Status::Failed, Reason::AlreadyCancelled),
        "rate_limited" => (Status::Failed, Reason::Limit),
        "idempotency_key_in_use" => (Status::Unknown, Reason::Conflict),
        _ => (Status::Unknown, Reason::ProviderError),
    };
    let mut o = Outcome::new(status).with(status, Some(reason));
    o.provider_code = Some(code.to_owned()).filter(|c| !c.is_empty());
    o.provider_message = body["error"]["message"].as_str().map(str::to_owned);
    o
}

fn query_details(body: &Value) -> Option<Value> {
    let payment_status = match body["status"].as_str()? {
        "captured" => PaymentStatus::Succeeded,
        "partially_refunded" => PaymentStatus::PartiallyRefunded,
        "refunded" => PaymentStatus::Refunded,
        "cancelled" => PaymentStatus::Cancelled,
        _ => PaymentStatus::Unknown,
    };
    let transactions = body["refunds"].as_array()?.iter().map(|r| Transaction {
        transaction_id: r["id"].as_str().map(str::to_owned),
        status_id: None,
        status: match r["status"].as_str() {
            Some("succeeded") => TransactionStatus::RefundSucceeded,
            Some("failed") => TransactionStatus::RefundFailed,
            Some("pending") => TransactionStatus::Pending,
            _ => TransactionStatus::Unknown,
        },
        status_name: r["status"].as_str().map(str::to_owned),
        amount: r["amount"].as_i64(),
        date: r["created_at"].as_str().and_then(|d| d.parse().ok()),
        merchant_transfer: None,
        sub_merchants: Vec::new(),
    });
    let mut details = QueryDetails {
        payment_status,
        provider_payment_status: body["status"].as_str().map(str::to_owned),
        amount: body["amount"].as_i64(),
        currency: Currency::from_code(body["currency"].as_str()?).ok()?,
        installment: None,
        payment_date: body["created_at"].as_str().and_then(|d| d.parse().ok()),
        refunded_amount: body["amount_refunded"].as_i64(),
        order_ref: body["id"].as_str().map(str::to_owned),
        transactions: transactions.collect(),
        extra: Default::default(),
        ledger: None,
    };
    // Every row of `refunds` is a refund: its state by AcmePay's status.
    details.ledger = Some(OrderFacts::listing(&details, |_, t| {
        let state = match t.status {
            TransactionStatus::RefundSucceeded => ReturnState::Succeeded,
            TransactionStatus::RefundFailed => ReturnState::Failed,
            TransactionStatus::Pending => ReturnState::Pending,
            _ => ReturnState::Unknown,
        };
        Some((ReturnKind::Refund, state))
    }));
    payops_core::serde_json::to_value(details).ok()
}

/// `details` of a query outcome (the JSON Schema).
pub fn query_details_schema() -> Value {
    payops_core::details::schema_of::<QueryDetails>()
}
