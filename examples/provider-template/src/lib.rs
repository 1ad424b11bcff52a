//! # payops-acmepay: the provider template
//!
//! A complete payops provider for *Acme Pay*, a made-up REST JSON gateway
//! whose API is documented in this crate's `README.md`: refund (partial,
//! with an idempotency key), cancel, payment query, bearer-token auth, and a
//! simulator. Copy the folder, rename `acmepay`, and replace the wire types,
//! the code table and the simulator with your provider's. The walk-through
//! is payops's `docs/provider-guide.md`.
//!
//! What the host gives (see `payops_core::plugin`): the request document,
//! already validated against the schema [`info`](Plugin::info) exports; the
//! account config with credentials resolved; the operation id (one per
//! intent: the provider-side idempotency key); the host's clock and nonce.
//! What the provider gives back: the HTTP request to send, then the
//! [`Outcome`]. It does no IO of its own.

#![warn(missing_docs)]

mod sim;

use payops_core::details::{input_schema_of, operation_schemas, schema_of};
use payops_core::http::path_segment;
use payops_core::plugin::{json_answer, parse_document};
use payops_core::serde_json::{Value, json};
use payops_core::{
    Call, Currency, Error, HttpRequest, HttpResponse, OperationKind, Outcome, PaymentStatus,
    Plugin, ProviderInfo, QueryDetails, Reason, ReconcileInput, Resolution, Simulator, Status,
    Step, Transaction, TransactionStatus, TransportError, Verdict,
};
use schemars::JsonSchema;
use serde::Deserialize;

pub use sim::AcmeSim;

/// The provider.
#[derive(Debug, Default)]
pub struct AcmePay;

/// The account config (`[accounts.<name>]` in payops.toml).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Acme Pay account")]
pub struct Account {
    /// Base URL
    ///
    /// The API root, e.g. `https://api.acmepay.example`.
    #[schemars(extend("format" = "uri"))]
    pub base_url: String,
    /// API key
    ///
    /// The secret key, sent as `Authorization: Bearer`. Never logged or shown.
    #[schemars(extend("writeOnly" = true), length(min = 1))]
    pub api_key: String,
    /// Timeout (ms)
    ///
    /// Per-request timeout in milliseconds (default 30000).
    #[serde(default)]
    #[schemars(range(min = 100, max = 600000))]
    pub timeout_ms: Option<u64>,
}

/// A refund: part or all of a captured payment.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Acme Pay refund")]
pub struct RefundDoc {
    /// Order reference
    ///
    /// The payment's id at Acme Pay.
    #[schemars(length(min = 1, max = 64))]
    pub order_ref: String,
    /// Amount (minor units)
    ///
    /// The amount to refund, in minor units (1250 = 12.50).
    #[schemars(range(min = 1))]
    pub amount: i64,
    /// Currency
    ///
    /// The payment's currency.
    #[serde(default)]
    pub currency: Currency,
}

/// A cancel (void) of a whole payment, or a query of one.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Acme Pay payment")]
pub struct PaymentDoc {
    /// Order reference
    ///
    /// The payment's id at Acme Pay.
    #[schemars(length(min = 1, max = 64))]
    pub order_ref: String,
}

fn money_details() -> Value {
    json!({"type": "object", "title": "Details", "properties": {
        "payment_id": {"type": ["string", "null"], "title": "Payment id", "description": "Wire `payment_id` of the answer."},
        "amount": {"type": ["integer", "null"], "title": "Amount (minor units)", "description": "Wire `amount` of the answer."}
    }})
}

impl Plugin for AcmePay {
    fn info(&self) -> ProviderInfo {
        let operations = operation_schemas(
            "Acme Pay",
            [
                (
                    OperationKind::Refund,
                    input_schema_of::<RefundDoc>(),
                    money_details(),
                ),
                (
                    OperationKind::Cancel,
                    input_schema_of::<PaymentDoc>(),
                    money_details(),
                ),
                (
                    OperationKind::Query,
                    input_schema_of::<PaymentDoc>(),
                    schema_of::<QueryDetails>(),
                ),
            ],
        );
        ProviderInfo {
            id: "acmepay".into(),
            name: "Acme Pay".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities: operations.keys().copied().collect(),
            account_schema: input_schema_of::<Account>(),
            operations,
            merchant_identity: vec!["base_url".into()],
            callbacks: Vec::new(),
        }
    }

    fn start(&self, call: &Call, request: &Value) -> Result<Step, Error> {
        let account: Account = parse_document(&Value::Object(call.account.clone()))?;
        let (path, body) = match call.operation {
            OperationKind::Refund => {
                let doc: RefundDoc = parse_document(request)?;
                let body = json!({"amount": doc.amount, "currency": doc.currency.code()});
                (
                    format!("{}/refunds", path_segment(&doc.order_ref)),
                    Some(body),
                )
            }
            OperationKind::Cancel => {
                let doc: PaymentDoc = parse_document(request)?;
                (
                    format!("{}/cancel", path_segment(&doc.order_ref)),
                    Some(json!({})),
                )
            }
            OperationKind::Query => {
                let doc: PaymentDoc = parse_document(request)?;
                (path_segment(&doc.order_ref), None)
            }
            op => return Err(Error::UnsupportedOperation(format!("acmepay: {op}"))),
        };
        let url = format!(
            "{}/v1/payments/{path}",
            account.base_url.trim_end_matches('/')
        );
        let mut http = match body {
            // Money moves only with an idempotency key: a repeat is harmless.
            Some(b) => HttpRequest::post(url, "application/json", b.to_string())
                .with_header("Idempotency-Key", &call.operation_id),
            None => HttpRequest::get(url),
        };
        http = http.with_header("Authorization", format!("Bearer {}", account.api_key));
        http.timeout_ms = Some(account.timeout_ms.unwrap_or(30_000));
        payops_core::tracing::debug!(operation = %call.operation, "Acme Pay request");
        let state = json!({"order_ref": request["order_ref"]});
        Ok(Step::Send {
            request: http,
            state,
        })
    }

    fn resume(
        &self,
        call: &Call,
        state: Value,
        response: Result<HttpResponse, TransportError>,
    ) -> Result<Step, Error> {
        let (http_status, body) = match json_answer(response) {
            Ok(answer) => answer,
            Err(outcome) => return Ok(Step::Done(*outcome)),
        };
        let mut outcome = if (200..300).contains(&http_status) {
            success(call.operation, &state, &body)
        } else {
            error(&body)
        };
        outcome.raw = body;
        Ok(Step::Done(outcome))
    }

    fn simulator(&self) -> Box<dyn Simulator> {
        Box::new(AcmeSim::demo())
    }

    fn reconcile(&self, _call: &Call, input: &ReconcileInput) -> Result<Resolution, Error> {
        Ok(reconcile(input))
    }
}

/// A 2xx answer. It is proof only about the order that was sent.
fn success(op: OperationKind, state: &Value, body: &Value) -> Outcome {
    let named = if op == OperationKind::Query {
        &body["id"]
    } else {
        &body["payment_id"]
    };
    if named != &state["order_ref"] {
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
fn error(body: &Value) -> Outcome {
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
    let details = QueryDetails {
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
    };
    payops_core::serde_json::to_value(details).ok()
}

/// Acme Pay records the `Idempotency-Key` of every refund and cancel, so a
/// record carrying this operation's id is this operation's and no other's.
/// Its absence proves nothing (the request may still be on its way).
fn reconcile(input: &ReconcileInput) -> Resolution {
    let raw = &input.query.raw;
    let record = match input.operation {
        OperationKind::Refund => raw["refunds"].as_array().and_then(|refunds| {
            refunds
                .iter()
                .find(|r| r["idempotency_key"] == input.operation_id.as_str())
        }),
        OperationKind::Cancel => Some(&raw["cancellation"])
            .filter(|c| c["idempotency_key"] == input.operation_id.as_str()),
        _ => None,
    };
    let Some(record) = record else {
        return Resolution::undetermined(
            "Acme Pay lists no record with this operation's idempotency key",
        );
    };
    let verdict = match record["status"].as_str() {
        Some("succeeded") => Verdict::Succeeded,
        Some("failed") => Verdict::Failed,
        Some("pending") => Verdict::Pending,
        _ => Verdict::Undetermined,
    };
    Resolution {
        verdict,
        transaction_id: record["id"].as_str().map(str::to_owned),
        evidence: format!(
            "Acme Pay record {} carries this operation's idempotency key",
            record["id"]
        ),
        candidates: Vec::new(),
    }
}

payops_core::export_provider!(AcmePay);
