//! # payops-esnekpos
//!
//! The EsnekPOS provider for payops: `refund` and `cancel` (`OrderReturn`,
//! `OrderReturnPhysical`), `query` (`ProcessQuery`) and `sub_merchant_adjust`
//! (`AddSubMerchantAmount`), JSON over HTTPS, wire-exact to EsnekPOS's
//! documentation, plus a stateful [`sim::EsnekSimulator`].
//!
//! The crate is a sans-IO [`Plugin`]: it builds requests and reads responses;
//! the host sends them. It is built as a cdylib (loaded by `payops`) and as an
//! rlib. Mapping tables and amount rules: `docs/providers/esnekpos.md`.

#![warn(missing_docs)]

pub mod docs;
pub mod query;
pub mod reconcile;
pub mod sim;
pub mod wire;

use payops_core::details::{
    input_schema_of as input_schema, operation_schemas, schema_of as schema,
};
use payops_core::{
    Call, Error, HttpRequest, HttpResponse, OperationKind, Outcome, Plugin, ProviderInfo,
    QueryDetails, ReconcileInput, Resolution, Simulator, Status, Step, TransportError,
};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::docs::{Account, AdjustDoc, CancelDoc, Channel, QueryDoc, RefundDoc};
use crate::wire::{Endpoint, amount_to_wire, return_code, status_for, text};

/// The provider id used in config.
pub const ID: &str = "esnekpos";

/// The wire fields that carry credentials.
pub const CREDENTIAL_FIELDS: &[&str] = &["MERCHANT_KEY"];

/// Default per-request timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// The EsnekPOS provider.
#[derive(Debug, Default, Clone, Copy)]
pub struct EsnekPos;

#[derive(Serialize)]
struct Split {
    #[serde(rename = "EXTERNAL_ID")]
    external_id: String,
    #[serde(rename = "AMOUNT")]
    amount: Box<RawValue>,
}

#[derive(Serialize)]
struct OrderReturnBody<'a> {
    #[serde(rename = "MERCHANT")]
    merchant: &'a str,
    #[serde(rename = "MERCHANT_KEY")]
    merchant_key: &'a str,
    #[serde(rename = "ORDER_REF_NUMBER")]
    order_ref: &'a str,
    #[serde(rename = "AMOUNT")]
    amount: Box<RawValue>,
    #[serde(rename = "SYNC_WITH_POS")]
    sync_with_pos: bool,
    #[serde(rename = "SubMerchantDetails", skip_serializing_if = "Option::is_none")]
    sub_merchants: Option<Vec<Split>>,
}

#[derive(Serialize)]
struct PhysicalBody<'a> {
    #[serde(rename = "MERCHANT")]
    merchant: &'a str,
    #[serde(rename = "MERCHANT_KEY")]
    merchant_key: &'a str,
    #[serde(rename = "BACK_URL")]
    back_url: &'a str,
    #[serde(rename = "ORDER_REF_NUMBER")]
    order_ref: &'a str,
}

#[derive(Serialize)]
struct QueryBody<'a> {
    #[serde(rename = "MERCHANT")]
    merchant: &'a str,
    #[serde(rename = "MERCHANT_KEY")]
    merchant_key: &'a str,
    #[serde(rename = "ORDER_REF_NUMBER")]
    order_ref: &'a str,
}

#[derive(Serialize)]
struct AdjustBody<'a> {
    #[serde(rename = "MERCHANT")]
    merchant: &'a str,
    #[serde(rename = "MERCHANT_KEY")]
    merchant_key: &'a str,
    #[serde(rename = "ORDER_REF_NUMBER")]
    order_ref: &'a str,
    #[serde(rename = "EXTERNAL_ID")]
    external_id: &'a str,
    #[serde(rename = "AMOUNT")]
    amount: Box<RawValue>,
}

fn parse_doc<T: serde::de::DeserializeOwned>(request: &Value) -> Result<T, Error> {
    payops_core::plugin::parse_document(request)
}

fn account(call: &Call) -> Result<Account, Error> {
    let a: Account = serde_json::from_value(Value::Object(call.account.clone()))
        .map_err(|e| Error::invalid_field("/account", format!("EsnekPOS account: {e}")))?;
    if a.environment.is_none() && a.base_url.is_none() {
        return Err(Error::invalid_field(
            "/account/environment",
            "EsnekPOS account has no environment (test or production) and no base_url",
        ));
    }
    if a.merchant_key.as_ref().is_none_or(|k| k.is_empty()) {
        return Err(Error::invalid_field(
            "/account/merchant_key",
            "EsnekPOS account has no merchant_key (set merchant_key or merchant_key_file)",
        ));
    }
    Ok(a)
}

/// The longest order reference payops sends: generous, since EsnekPOS's
/// own references run past 24 characters (the ProcessQuery sample's
/// `9.54251311 1595848596|999` has 25).
pub const MAX_ORDER_REF: usize = 64;

/// OrderReturnPhysical documents `ORDER_REF_NUMBER` as "Maksimum 24 karakter".
pub const MAX_ORDER_REF_PHYSICAL: usize = 24;

fn order_ref_within(r: &str, max: usize, what: &str) -> Result<(), Error> {
    if r.is_empty() || r.chars().count() > max {
        return Err(Error::invalid_field(
            "/order_ref",
            format!("ORDER_REF_NUMBER must be 1 to {max} characters{what}"),
        ));
    }
    Ok(())
}

fn order_ref(r: &str) -> Result<(), Error> {
    order_ref_within(r, MAX_ORDER_REF, "")
}

fn post<T: Serialize>(
    account: &Account,
    endpoint: Endpoint,
    body: &T,
) -> Result<HttpRequest, Error> {
    let body = serde_json::to_vec(body).map_err(|e| Error::Internal(e.to_string()))?;
    let mut r = HttpRequest::post(
        format!("{}{}", account.base(), endpoint.path()),
        "application/json",
        body,
    );
    r.headers.push(("Accept".into(), "application/json".into()));
    r.timeout_ms = Some(account.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS));
    Ok(r)
}

fn endpoint_name(e: Endpoint) -> &'static str {
    match e {
        Endpoint::OrderReturn => "OrderReturn",
        Endpoint::OrderReturnPhysical => "OrderReturnPhysical",
        Endpoint::ProcessQuery => "ProcessQuery",
        Endpoint::AddSubMerchantAmount => "AddSubMerchantAmount",
    }
}

/// An EsnekPOS answer that could be read: the JSON object, its normalized
/// `RETURN_CODE` and the HTTP status it came with.
pub struct Answer {
    /// The body.
    pub json: Value,
    /// `RETURN_CODE`, normalized (`"00"` -> `"0"`).
    pub code: String,
    /// The HTTP status.
    pub http_status: u16,
}

/// Reads a response into JSON, or the final outcome when it cannot be read
/// (transport error, non-JSON body, no `RETURN_CODE`).
pub fn read_response(
    response: Result<HttpResponse, TransportError>,
) -> Result<Answer, Box<Outcome>> {
    let response = response.map_err(|e| Box::new(Outcome::from_transport_error(&e)))?;
    let json: Value = match payops_core::json::from_slice_exact(&response.body) {
        Ok(mut v @ Value::Object(_)) => {
            // EsnekPOS's request carries MERCHANT_KEY: an answer that echoes
            // it never keeps it, whatever happens to `raw` later.
            payops_core::outcome::blank_fields(&mut v, CREDENTIAL_FIELDS);
            v
        }
        _ => {
            let why = if response.is_success() {
                "response is not a JSON object".to_owned()
            } else {
                format!("HTTP {} without a JSON result", response.status)
            };
            return Err(Box::new(Outcome::unparseable(
                response.status,
                why,
                &response.body,
            )));
        }
    };
    match return_code(&json) {
        Some(code) => Ok(Answer {
            json,
            code,
            http_status: response.status,
        }),
        None => {
            let mut o = Outcome::unparseable(
                response.status,
                "response has no RETURN_CODE",
                &response.body,
            );
            o.raw = json;
            Err(Box::new(o))
        }
    }
}

/// The order reference an answer names (`ORDER_REF_NUMBER`, or
/// `ORDER_REF_NO` as the ProcessQuery sample writes it), as text.
pub fn answered_order_ref(json: &Value) -> Option<String> {
    text(json, &["ORDER_REF_NUMBER", "ORDER_REF_NO"])
}

/// When an answer names another order than the one asked about, the outcome
/// cannot be attributed: `unknown`, with both references in `details`.
fn check_echo(o: &mut Outcome, sent: Option<&str>) {
    let (Some(sent), Some(answered)) = (sent, answered_order_ref(&o.raw)) else {
        return;
    };
    if answered.trim() == sent.trim() {
        return;
    }
    let was = o.status;
    o.status = Status::Unknown;
    o.reason = Some(payops_core::outcome::Reason::OrderMismatch);
    if let Value::Object(m) = &mut o.details {
        m.insert(
            "order_ref_mismatch".into(),
            json!({"sent": sent, "answered": answered, "answer_status": was}),
        );
    } else {
        o.details = json!({"order_ref_mismatch": {"sent": sent, "answered": answered, "answer_status": was}});
    }
}

/// The outcome of a money-moving endpoint's answer to a request about
/// `order_ref`.
pub fn money_outcome(
    endpoint: Endpoint,
    response: Result<HttpResponse, TransportError>,
    sync: bool,
    amount: Option<i64>,
    order_ref: Option<&str>,
) -> Outcome {
    let Answer {
        json,
        code,
        http_status,
    } = match read_response(response) {
        Ok(x) => x,
        Err(o) => return *o,
    };
    let status_text = text(&json, &["STATUS"]);
    let (status, reason, why) =
        status_for(endpoint, http_status, &code, status_text.as_deref(), sync);
    let mut o = Outcome::new(status).with(status, reason);
    o.provider_code = text(&json, &["RETURN_CODE"]).or(Some(code));
    o.provider_message = text(&json, &["RETURN_MESSAGE"]).or(status_text.clone());
    o.provider_reference = text(&json, &["REFNO"]);
    o.details = json!({
        "endpoint": endpoint_name(endpoint),
        "provider_status": status_text,
        "transaction_id": text(&json, &["TRANSACTION_ID"]),
        "amount": amount,
        "sync_with_pos": sync,
        "http_status": http_status,
    });
    if let (Some(why), Value::Object(m)) = (why, &mut o.details) {
        m.insert("unresolved_because".into(), Value::String(why));
    }
    o.raw = json;
    check_echo(&mut o, order_ref);
    o
}

/// The outcome of a `ProcessQuery` answer about `order_ref`, with
/// normalized details.
pub fn query_outcome(
    response: Result<HttpResponse, TransportError>,
    order_ref: Option<&str>,
) -> Outcome {
    let Answer {
        json,
        code,
        http_status,
    } = match read_response(response) {
        Ok(x) => x,
        Err(o) => return *o,
    };
    let status_text = text(&json, &["STATUS"]);
    let (status, reason, why) = status_for(
        Endpoint::ProcessQuery,
        http_status,
        &code,
        status_text.as_deref(),
        true,
    );
    let mut o = Outcome::new(status).with(status, reason);
    o.provider_code = text(&json, &["RETURN_CODE"]).or(Some(code.clone()));
    o.provider_message = text(&json, &["RETURN_MESSAGE"]).or(status_text);
    o.provider_reference = text(&json, &["REFNO"]);
    if o.status == Status::Succeeded {
        match query::normalize(&json, &code) {
            Ok(d) => o.details = serde_json::to_value(d).unwrap_or(Value::Null),
            Err(e) => {
                o = o.with(
                    Status::Unknown,
                    Some(payops_core::outcome::Reason::ProviderError),
                );
                o.provider_message = Some(format!("cannot read ProcessQuery answer: {e}"));
            }
        }
    } else if let Some(why) = why {
        o.details = json!({"unresolved_because": why, "http_status": http_status});
    }
    o.raw = json;
    check_echo(&mut o, order_ref);
    o
}

impl EsnekPos {
    fn refund(&self, a: &Account, request: &Value) -> Result<Step, Error> {
        let doc: RefundDoc = parse_doc(request)?;
        order_ref(&doc.order_ref)?;
        if doc.amount <= 0 {
            return Err(Error::invalid_field("/amount", "must be greater than 0"));
        }
        let splits = match &doc.sub_merchants {
            // An empty split is no split (forms start lists empty).
            None => None,
            Some(list) if list.is_empty() => None,
            Some(list) => {
                let mut total: i64 = 0;
                let mut out = Vec::new();
                for (i, s) in list.iter().enumerate() {
                    if s.amount <= 0 {
                        return Err(Error::invalid_field(
                            format!("/sub_merchants/{i}/amount"),
                            "must be greater than 0",
                        ));
                    }
                    total = total.checked_add(s.amount).ok_or_else(|| {
                        Error::invalid_field("/sub_merchants", "amounts overflow")
                    })?;
                    out.push(Split {
                        external_id: s.sub_merchant_id.clone(),
                        amount: amount_to_wire(s.amount),
                    });
                }
                if total > doc.amount {
                    return Err(Error::invalid_field(
                        "/sub_merchants",
                        format!(
                            "the split ({total}) exceeds the refund amount ({})",
                            doc.amount
                        ),
                    ));
                }
                Some(out)
            }
        };
        order_return(
            a,
            &doc.order_ref,
            doc.amount,
            doc.sync_with_pos,
            splits,
            "refund",
        )
    }

    fn cancel(&self, a: &Account, request: &Value) -> Result<Step, Error> {
        let doc: CancelDoc = parse_doc(request)?;
        order_ref(&doc.order_ref)?;
        let key = a.key();
        match doc.channel {
            Channel::AndroidPos => {
                order_ref_within(
                    &doc.order_ref,
                    MAX_ORDER_REF_PHYSICAL,
                    " for an Android POS cancel (OrderReturnPhysical)",
                )?;
                if doc.amount.is_some() {
                    return Err(Error::invalid_field(
                        "/amount",
                        "an Android POS cancel is always for the whole payment; omit amount",
                    ));
                }
                let back_url = doc
                    .back_url
                    .as_deref()
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| {
                        Error::invalid_field("/back_url", "required when channel is android_pos")
                    })?;
                let body = PhysicalBody {
                    merchant: &a.merchant,
                    merchant_key: key,
                    back_url,
                    order_ref: &doc.order_ref,
                };
                tracing::info!(order_ref = %doc.order_ref, "EsnekPOS OrderReturnPhysical (Android POS cancel)");
                Ok(Step::Send {
                    request: post(a, Endpoint::OrderReturnPhysical, &body)?,
                    state: json!({"phase": "physical", "order_ref": doc.order_ref}),
                })
            }
            Channel::Online => match doc.amount {
                Some(amount) => {
                    if amount <= 0 {
                        return Err(Error::invalid_field("/amount", "must be greater than 0"));
                    }
                    order_return(a, &doc.order_ref, amount, doc.sync_with_pos, None, "cancel")
                }
                None => {
                    tracing::info!(order_ref = %doc.order_ref, "EsnekPOS ProcessQuery before a whole cancel");
                    let state = json!({"phase": "cancel_query", "order_ref": doc.order_ref, "sync": doc.sync_with_pos});
                    process_query(a, &doc.order_ref, state)
                }
            },
        }
    }

    fn after_cancel_query(
        &self,
        a: &Account,
        state: &Value,
        response: Result<HttpResponse, TransportError>,
    ) -> Result<Step, Error> {
        // Nothing has moved money yet: every failure here is `failed`.
        let order_ref = state["order_ref"].as_str().unwrap_or_default().to_owned();
        let q = query_outcome(response, Some(&order_ref));
        if q.status != Status::Succeeded {
            // The inquiry's own reason (not_found, authentication...) says why.
            let reason = q.reason;
            let mut o = q.with(Status::Failed, reason);
            o.provider_message = Some(format!(
                "inquiry before cancel failed, nothing was cancelled: {}",
                o.provider_message.as_deref().unwrap_or("no message")
            ));
            return Ok(Step::Done(o));
        }
        let details: QueryDetails = serde_json::from_value(q.details.clone())
            .map_err(|e| Error::Internal(format!("query details: {e}")))?;
        let remaining = query::remaining(&details);
        let sync = state["sync"].as_bool().unwrap_or(true);
        // What is sent must be positive and at most what was paid, whatever
        // odd rows the inquiry listed.
        let paid = details.amount.unwrap_or(0);
        let Some(remaining) = remaining.filter(|r| *r > 0 && *r <= paid) else {
            let mut o = Outcome::new(Status::Failed).with(
                Status::Failed,
                Some(payops_core::outcome::Reason::AlreadyCancelled),
            );
            o.provider_code = q.provider_code;
            o.provider_message = Some(format!(
                "nothing left to cancel (payment status {:?})",
                details.payment_status
            ));
            o.details = json!({"endpoint": "ProcessQuery", "query": q.details});
            o.raw = q.raw;
            return Ok(Step::Done(o));
        };
        order_return(
            a,
            &order_ref,
            remaining,
            sync,
            None,
            "cancel of the remaining amount",
        )
    }
}

/// The `OrderReturn` step for a refund or cancel of `amount` kuruş.
fn order_return(
    a: &Account,
    order_ref: &str,
    amount: i64,
    sync: bool,
    sub_merchants: Option<Vec<Split>>,
    purpose: &str,
) -> Result<Step, Error> {
    let body = OrderReturnBody {
        merchant: &a.merchant,
        merchant_key: a.key(),
        order_ref,
        amount: amount_to_wire(amount),
        sync_with_pos: sync,
        sub_merchants,
    };
    tracing::info!(
        order_ref,
        amount,
        sync_with_pos = sync,
        "EsnekPOS OrderReturn ({purpose})"
    );
    Ok(Step::Send {
        request: post(a, Endpoint::OrderReturn, &body)?,
        state: json!({"phase": "order_return", "sync": sync, "amount": amount, "order_ref": order_ref}),
    })
}

/// A `ProcessQuery` step; `state` says what the answer is for.
fn process_query(a: &Account, order_ref: &str, state: Value) -> Result<Step, Error> {
    let body = QueryBody {
        merchant: &a.merchant,
        merchant_key: a.key(),
        order_ref,
    };
    Ok(Step::Send {
        request: post(a, Endpoint::ProcessQuery, &body)?,
        state,
    })
}

/// `details` of a money-moving outcome.
fn money_details_schema() -> Value {
    json!({
        "type": "object",
        "title": "Details",
        "description": "What EsnekPOS answered.",
        "properties": {
            "endpoint": {"type": "string", "enum": ["OrderReturn", "OrderReturnPhysical", "AddSubMerchantAmount"], "title": "Endpoint", "description": "The EsnekPOS service called."},
            "provider_status": {"type": ["string", "null"], "title": "Status", "description": "Wire `STATUS` (SUCCESS, ORDER_CANCEL, ...)."},
            "transaction_id": {"type": ["string", "null"], "title": "Transaction id", "description": "Wire `TRANSACTION_ID` of the sub-transaction EsnekPOS recorded."},
            "amount": {"type": ["integer", "null"], "title": "Amount (kuruş)", "description": "The amount sent as `AMOUNT`, in minor units."},
            "sync_with_pos": {"type": "boolean", "title": "Sync with POS", "description": "Wire `SYNC_WITH_POS` as sent."}
        }
    })
}

impl Plugin for EsnekPos {
    fn info(&self) -> ProviderInfo {
        let ops: [(OperationKind, Value, Value); 4] = [
            (
                OperationKind::Refund,
                input_schema::<RefundDoc>(),
                money_details_schema(),
            ),
            (
                OperationKind::Cancel,
                input_schema::<CancelDoc>(),
                money_details_schema(),
            ),
            (OperationKind::Query, input_schema::<QueryDoc>(), {
                let mut s = schema::<QueryDetails>();
                if let Some(m) = s.as_object_mut() {
                    m.remove("$schema");
                    m.insert(
                        "description".into(),
                        json!("ProcessQuery normalized: amounts in kuruş, dates at +03:00."),
                    );
                }
                s
            }),
            (
                OperationKind::SubMerchantAdjust,
                input_schema::<AdjustDoc>(),
                money_details_schema(),
            ),
        ];
        let operations = operation_schemas("EsnekPOS", ops);
        ProviderInfo {
            id: ID.into(),
            name: "EsnekPOS".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities: OperationKind::ALL.to_vec(),
            account_schema: input_schema::<Account>(),
            operations,
            merchant_identity: vec!["merchant".into()],
            // OrderReturnPhysical: the device's result is posted to BACK_URL.
            callbacks: vec![payops_core::CallbackSpec {
                operation: OperationKind::Cancel,
                field: "back_url".into(),
                when: Some(json!({
                    "properties": {"channel": {"const": "android_pos"}},
                    "required": ["channel"]
                })),
            }],
        }
    }

    fn start(&self, call: &Call, request: &Value) -> Result<Step, Error> {
        let a = account(call)?;
        match call.operation {
            OperationKind::Refund => self.refund(&a, request),
            OperationKind::Cancel => self.cancel(&a, request),
            OperationKind::Query => {
                let doc: QueryDoc = parse_doc(request)?;
                order_ref(&doc.order_ref)?;
                tracing::debug!(order_ref = %doc.order_ref, "EsnekPOS ProcessQuery");
                process_query(
                    &a,
                    &doc.order_ref,
                    json!({"phase": "query", "order_ref": doc.order_ref}),
                )
            }
            OperationKind::SubMerchantAdjust => {
                if request.get("direction").is_none()
                    && request
                        .get("amount")
                        .and_then(Value::as_i64)
                        .is_some_and(|a| a < 0)
                {
                    return Err(Error::invalid_field(
                        "/direction",
                        "a signed amount no longer says what happens: give direction (reduce | increase) and a positive amount",
                    ));
                }
                let doc: AdjustDoc = parse_doc(request)?;
                order_ref(&doc.order_ref)?;
                if doc.amount <= 0 {
                    return Err(Error::invalid_field(
                        "/amount",
                        "must be greater than 0 (direction says reduce or increase)",
                    ));
                }
                if doc.sub_merchant_id.is_empty() {
                    return Err(Error::invalid_field(
                        "/sub_merchant_id",
                        "must not be empty",
                    ));
                }
                let Some(convention) = a.sub_merchant_sign else {
                    return Err(Error::invalid_field(
                        "/account/sub_merchant_sign",
                        "this account does not say which AMOUNT sign reduces a store's credit: set sub_merchant_sign (reduce_is_positive | reduce_is_negative) after checking with EsnekPOS's test environment",
                    ));
                };
                let wire = docs::wire_amount(doc.direction, doc.amount, convention);
                let key = a.key();
                let body = AdjustBody {
                    merchant: &a.merchant,
                    merchant_key: key,
                    order_ref: &doc.order_ref,
                    external_id: &doc.sub_merchant_id,
                    amount: amount_to_wire(wire),
                };
                tracing::info!(order_ref = %doc.order_ref, sub_merchant_id = %doc.sub_merchant_id, direction = ?doc.direction, amount = doc.amount, wire_amount = wire, "EsnekPOS AddSubMerchantAmount");
                Ok(Step::Send {
                    request: post(&a, Endpoint::AddSubMerchantAmount, &body)?,
                    state: json!({"phase": "adjust", "amount": wire, "order_ref": doc.order_ref}),
                })
            }
        }
    }

    fn resume(
        &self,
        call: &Call,
        state: Value,
        response: Result<HttpResponse, TransportError>,
    ) -> Result<Step, Error> {
        let amount = state["amount"].as_i64();
        let sync = state["sync"].as_bool().unwrap_or(true);
        let sent = state["order_ref"].as_str();
        let outcome = match state["phase"].as_str() {
            Some("order_return") => {
                money_outcome(Endpoint::OrderReturn, response, sync, amount, sent)
            }
            Some("physical") => {
                money_outcome(Endpoint::OrderReturnPhysical, response, true, None, sent)
            }
            Some("adjust") => {
                money_outcome(Endpoint::AddSubMerchantAmount, response, true, amount, sent)
            }
            Some("query") => query_outcome(response, sent),
            Some("cancel_query") => {
                return self.after_cancel_query(&account(call)?, &state, response);
            }
            other => return Err(Error::Internal(format!("unknown EsnekPOS step {other:?}"))),
        };
        tracing::info!(status = %outcome.status, code = ?outcome.provider_code, "EsnekPOS answered");
        Ok(Step::Done(outcome))
    }

    fn simulator(&self) -> Box<dyn Simulator> {
        Box::new(sim::EsnekSimulator::demo())
    }

    fn reconcile(&self, call: &Call, input: &ReconcileInput) -> Result<Resolution, Error> {
        let a = account(call)?;
        Ok(reconcile::reconcile(
            input,
            a.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        ))
    }
}

payops_core::export_provider!(EsnekPos);
