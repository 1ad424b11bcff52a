//! # payops-iyzico
//!
//! The iyzico provider: refund (full or partial, per payment transaction),
//! cancel (a whole payment, the same day) and payment detail as the query,
//! over iyzico's REST JSON API with the IYZWSv2 (HMAC-SHA256) authorization
//! header, and a simulator of those endpoints. Written only against
//! `payops-core`'s public API and the provider guide, as a proof of the
//! provider kit. The mapping tables are in `docs/providers/iyzico.md`.
//!
//! Money-safety rules specific to iyzico:
//! - `succeeded` only for `status: "success"` on HTTP 2xx whose
//!   `conversationId` is this operation's id and whose payment (and, for a
//!   refund, payment transaction and price) are the ones sent;
//! - `failed` only for a `status: "failure"` whose `errorCode` is one the
//!   docs define as a refusal ([`wire::ERROR_CODES`], bank codes 10000–10999);
//!   any other code is `unknown`;
//! - the payment detail does not list refunds, so reconciliation cannot
//!   prove a refund or cancel either way: such operations stay for an
//!   operator (the default reconcile step).

#![warn(missing_docs)]

pub mod sim;
pub mod wire;

use payops_core::details::{input_schema_of, operation_schemas, schema_of};
use payops_core::money::{DecimalStyle, parse_json_minor};
use payops_core::plugin::{json_answer, parse_document};
use payops_core::{
    Call, Error, HttpRequest, HttpResponse, OperationKind, Outcome, PaymentStatus, Plugin,
    ProviderInfo, QueryDetails, Reason, Simulator, Status, Step, Transaction, TransactionStatus,
    TransportError,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// The provider id.
pub const ID: &str = "iyzico";

/// The iyzico provider.
#[derive(Debug, Default)]
pub struct Iyzico;

/// Which iyzico API an account uses.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// `https://sandbox-api.iyzipay.com`.
    Sandbox,
    /// `https://api.iyzipay.com`.
    Production,
}

/// An iyzico account (`[accounts.<name>]`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [
    {"environment": "sandbox", "api_key": "YOUR-SANDBOX-API-KEY", "secret_key": "YOUR-SANDBOX-SECRET-KEY"}
]))]
#[schemars(title = "iyzico account")]
pub struct Account {
    /// Environment
    ///
    /// `sandbox` (https://sandbox-api.iyzipay.com) or `production` (https://api.iyzipay.com). Required unless `base_url` is given.
    #[serde(default)]
    pub environment: Option<Environment>,
    /// Base URL override
    ///
    /// Replaces the environment's base URL (e.g. a simulator on loopback).
    #[serde(default)]
    #[schemars(extend("format" = "uri"))]
    pub base_url: Option<String>,
    /// API key
    ///
    /// The merchant's API key (`apiKey` in the IYZWSv2 header), e.g. `sandbox-...`. Identifies the merchant; not a secret.
    #[schemars(length(min = 1, max = 128))]
    pub api_key: String,
    /// Secret key
    ///
    /// The merchant's secret key: signs every request (HMAC-SHA256), never sent. Never logged or shown.
    #[schemars(extend("writeOnly" = true), length(min = 1))]
    pub secret_key: String,
    /// Timeout (ms)
    ///
    /// Per-request timeout in milliseconds (default 30000).
    #[serde(default)]
    #[schemars(range(min = 100, max = 600000))]
    pub timeout_ms: Option<u64>,
}

/// The currencies iyzico takes (each with two decimals).
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
pub enum IyzicoCurrency {
    /// Turkish lira.
    #[default]
    #[serde(rename = "TRY")]
    Try,
    /// Euro.
    #[serde(rename = "EUR")]
    Eur,
    /// US dollar.
    #[serde(rename = "USD")]
    Usd,
    /// Pound sterling.
    #[serde(rename = "GBP")]
    Gbp,
    /// Norwegian krone.
    #[serde(rename = "NOK")]
    Nok,
    /// Swiss franc.
    #[serde(rename = "CHF")]
    Chf,
}

impl IyzicoCurrency {
    fn code(self) -> &'static str {
        match self {
            IyzicoCurrency::Try => "TRY",
            IyzicoCurrency::Eur => "EUR",
            IyzicoCurrency::Usd => "USD",
            IyzicoCurrency::Gbp => "GBP",
            IyzicoCurrency::Nok => "NOK",
            IyzicoCurrency::Chf => "CHF",
        }
    }
}

/// A refund of (part of) one payment transaction.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [
    {"order_ref": "11223344", "payment_transaction_id": "55667788", "amount": 1250}
]))]
#[schemars(title = "iyzico refund")]
pub struct RefundDoc {
    /// Order reference
    ///
    /// The payment's `paymentId` at iyzico (checked against the answer).
    #[schemars(length(min = 1, max = 64))]
    pub order_ref: String,
    /// Payment transaction id
    ///
    /// Wire `paymentTransactionId`: the basket item (payment breakdown) to refund.
    #[schemars(length(min = 1, max = 64))]
    pub payment_transaction_id: String,
    /// Amount (minor units)
    ///
    /// Wire `price` (a decimal): the amount to refund, in minor units (1250 = 12.50). At most what remains of the item's `paidPrice`.
    #[schemars(range(min = 1))]
    pub amount: i64,
    /// Currency
    ///
    /// Wire `currency`: the payment's currency.
    #[serde(default)]
    pub currency: IyzicoCurrency,
    /// Client IP
    ///
    /// Wire `ip`: the IP address the request is made for (optional).
    #[serde(default)]
    #[schemars(length(min = 1, max = 45))]
    pub ip: Option<String>,
}

/// A cancel (void) of a whole payment, normally the same day.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [{"order_ref": "11223344"}]))]
#[schemars(title = "iyzico cancel")]
pub struct CancelDoc {
    /// Order reference
    ///
    /// Wire `paymentId`: the payment to cancel.
    #[schemars(length(min = 1, max = 64))]
    pub order_ref: String,
    /// Client IP
    ///
    /// Wire `ip`: the IP address the request is made for (optional).
    #[serde(default)]
    #[schemars(length(min = 1, max = 45))]
    pub ip: Option<String>,
}

/// A payment detail inquiry.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [{"order_ref": "11223344"}]))]
#[schemars(title = "iyzico payment detail")]
pub struct QueryDoc {
    /// Order reference
    ///
    /// Wire `paymentId`: the payment to look up.
    #[schemars(length(min = 1, max = 64))]
    pub order_ref: String,
}

fn money_details() -> Value {
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

const LOCALE: &str = "tr";

impl Plugin for Iyzico {
    fn info(&self) -> ProviderInfo {
        let mut query = schema_of::<QueryDetails>();
        if let Some(m) = query.as_object_mut() {
            m.insert(
                "description".into(),
                json!("Payment detail normalized: amounts in minor units."),
            );
        }
        let operations = operation_schemas(
            "iyzico",
            [
                (
                    OperationKind::Refund,
                    input_schema_of::<RefundDoc>(),
                    money_details(),
                ),
                (
                    OperationKind::Cancel,
                    input_schema_of::<CancelDoc>(),
                    money_details(),
                ),
                (OperationKind::Query, input_schema_of::<QueryDoc>(), query),
            ],
        );
        ProviderInfo {
            id: ID.into(),
            name: "iyzico".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities: operations.keys().copied().collect(),
            account_schema: input_schema_of::<Account>(),
            operations,
            merchant_identity: vec!["api_key".into()],
            callbacks: Vec::new(),
        }
    }

    fn start(&self, call: &Call, request: &Value) -> Result<Step, Error> {
        let account: Account = parse_document(&Value::Object(call.account.clone()))?;
        let base = match (&account.base_url, account.environment) {
            (Some(url), _) => url.trim_end_matches('/').to_owned(),
            (None, Some(Environment::Sandbox)) => "https://sandbox-api.iyzipay.com".into(),
            (None, Some(Environment::Production)) => "https://api.iyzipay.com".into(),
            (None, None) => {
                return Err(Error::invalid_field(
                    "/environment",
                    "give environment (sandbox | production) or base_url",
                ));
            }
        };
        let conversation_id = call.operation_id.as_str();
        let (path, body, state) = match call.operation {
            OperationKind::Refund => {
                let doc: RefundDoc = parse_document(request)?;
                let body = wire::RefundBody {
                    locale: LOCALE,
                    conversation_id,
                    payment_transaction_id: &doc.payment_transaction_id,
                    price: wire::price(doc.amount, 2),
                    currency: doc.currency.code(),
                    ip: doc.ip.as_deref(),
                };
                let state = json!({"order_ref": doc.order_ref, "ptid": doc.payment_transaction_id, "amount": doc.amount});
                ("/payment/refund", to_json(&body)?, state)
            }
            OperationKind::Cancel => {
                let doc: CancelDoc = parse_document(request)?;
                let body = wire::CancelBody {
                    locale: LOCALE,
                    conversation_id,
                    payment_id: &doc.order_ref,
                    ip: doc.ip.as_deref(),
                };
                (
                    "/payment/cancel",
                    to_json(&body)?,
                    json!({"order_ref": doc.order_ref}),
                )
            }
            OperationKind::Query => {
                let doc: QueryDoc = parse_document(request)?;
                let body = wire::DetailBody {
                    locale: LOCALE,
                    conversation_id,
                    payment_id: &doc.order_ref,
                };
                (
                    "/payment/detail",
                    to_json(&body)?,
                    json!({"order_ref": doc.order_ref}),
                )
            }
            op => return Err(Error::UnsupportedOperation(format!("iyzico: {op}"))),
        };
        // The host's nonce is the random key: the host owns randomness.
        let auth = wire::authorization(
            &account.api_key,
            &account.secret_key,
            &call.nonce,
            path,
            &body,
        );
        let mut http = HttpRequest::post(format!("{base}{path}"), "application/json", body)
            .with_header("Authorization", auth)
            .with_header("x-iyzi-rnd", &call.nonce)
            .with_header("Accept", "application/json");
        http.timeout_ms = Some(account.timeout_ms.unwrap_or(30_000));
        payops_core::tracing::debug!(operation = %call.operation, path, "iyzico request");
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
        let mut outcome = if call.operation == OperationKind::Query {
            query_outcome(http_status, &body, &state, &call.operation_id)
        } else {
            money_outcome(http_status, &body, &state, &call.operation_id)
        };
        outcome.raw = body;
        Ok(Step::Done(outcome))
    }

    fn simulator(&self) -> Box<dyn Simulator> {
        Box::new(sim::IyzicoSim::demo())
    }
}

fn to_json<T: serde::Serialize>(body: &T) -> Result<String, Error> {
    serde_json::to_string(body).map_err(|e| Error::invalid_field("", e.to_string()))
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
pub fn money_outcome(http_status: u16, body: &Value, state: &Value, operation_id: &str) -> Outcome {
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
    let sent_order = state["order_ref"].as_str();
    let mismatch = [
        (
            "conversationId",
            Some(operation_id),
            &body["conversationId"],
        ),
        ("paymentId", sent_order, &body["paymentId"]),
        (
            "paymentTransactionId",
            state["ptid"].as_str(),
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
        let mut o = unknown(
            Reason::OrderMismatch,
            format!("the answer's {field} is {got}, not {}", sent.unwrap_or("")),
        );
        o.details = json!({"order_ref_mismatch": {"field": field, "sent": sent, "answered": got}});
        return o;
    }
    let amount = parse_json_minor(&body["price"], 2, DecimalStyle::Point).ok();
    if let Some(sent) = state["amount"].as_i64()
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
pub fn query_outcome(http_status: u16, body: &Value, state: &Value, operation_id: &str) -> Outcome {
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
    if text(&body["paymentId"]).as_deref() != state["order_ref"].as_str()
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
    let details = QueryDetails {
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
    };
    serde_json::to_value(details).ok()
}

payops_core::export_provider!(Iyzico);
