//! What an EsnekPOS answer means, per endpoint: the documented code
//! table, the rules that make an answer `succeeded`, `failed`, `pending` or
//! `unknown`, and `ProcessQuery` answers normalized into [`QueryDetails`].

use payops_core::ledger::{OrderFacts, ReturnKind, ReturnState};
use payops_core::outcome::Reason;
use payops_core::{
    Currency, HttpResponse, MerchantTransfer, Outcome, PaymentStatus, QueryDetails, Status,
    SubMerchantSplit, Transaction, TransactionStatus, TransportError,
};
use serde_json::{Map, Value, json};

use crate::codes::CODES;
use crate::wire::{CREDENTIAL_FIELDS, Endpoint, amount, int, parse_date, text};

/// `RETURN_CODE` normalized: `"00"`, `0`, `"0"` are all `"0"`.
pub fn return_code(v: &Value) -> Option<String> {
    // Only the documented key: an answer spelling it otherwise is not one
    // the docs describe, and proves nothing.
    let raw = text(v, &["RETURN_CODE"])?;
    let t = raw.trim();
    // Digits only are a number ("00" is 0); anything else ("+0", "-0",
    // "0.0") is kept as written and matches no documented code.
    Some(if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let n = t.trim_start_matches('0');
        if n.is_empty() {
            "0".to_owned()
        } else {
            n.to_owned()
        }
    } else {
        t.to_owned()
    })
}

/// Codes that prove the endpoint did not move money: the request was refused
/// before anything happened (credentials, fields, limits, a payment that
/// cannot be returned). Codes that can come after the provider acted (`100
/// ERROR`, `105 INSERT_ERROR`, `999 UNKNOWN_ERROR`) and every undocumented
/// code are not here: they leave the operation `unknown`.
pub fn not_acted_codes(endpoint: Endpoint) -> &'static [&'static str] {
    match endpoint {
        // OrderReturn documents no table of its own; these are the codes of
        // EsnekPOS's common table that refuse a request before it is carried out.
        Endpoint::OrderReturn => &["101", "102", "103", "104", "106", "201", "34", "300"],
        // OrderReturnPhysical's own table: 0, 100, 102, 105, 300, 999.
        Endpoint::OrderReturnPhysical => &["102", "300"],
        Endpoint::AddSubMerchantAmount => &["101", "102", "103", "34"],
        Endpoint::ProcessQuery => &[
            "100", "101", "102", "103", "104", "105", "106", "201", "34", "999",
        ],
    }
}

/// The normalized reason of a documented code on one endpoint (the tables
/// in docs/providers/esnekpos.md).
pub fn reason_for(endpoint: Endpoint, code: &str) -> Reason {
    match (endpoint, code) {
        (_, "101") => Reason::InvalidRequest,
        (_, "102") => Reason::Authentication,
        (_, "103") => Reason::Limit,
        (_, "104") => Reason::Refused,
        (_, "106" | "201" | "34") => Reason::Declined,
        // ProcessQuery and OrderReturn: ORDER_CANCEL names a cancelled payment.
        (Endpoint::OrderReturn, "300") => Reason::AlreadyCancelled,
        // OrderReturnPhysical: "returned for errors of the payment cancel service".
        (Endpoint::OrderReturnPhysical, "300") => Reason::Refused,
        // The simulator, and EsnekPOS for an order it does not know, answer ERROR.
        (Endpoint::ProcessQuery, "100") => Reason::NotFound,
        (_, "100" | "105") => Reason::ProviderError,
        _ => Reason::Unknown,
    }
}

/// The documented `STATUS` name of `code`.
pub fn status_name(code: &str) -> Option<&'static str> {
    CODES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// What an answer means on one endpoint: the outcome status and, when it
/// is not a clean documented answer, why.
///
/// Money-moving endpoints:
/// - `succeeded` only for HTTP 2xx with `RETURN_CODE` 0 (or `00`) and
///   `STATUS` `SUCCESS`, as every EsnekPOS page defines success (`pending`
///   instead when the request asked `SYNC_WITH_POS=false`, and always for
///   `OrderReturnPhysical`, whose result the device posts to `BACK_URL`
///   later);
/// - `failed` only for a code of [`not_acted_codes`] whose `STATUS`, when
///   present, is that code's documented name, on a 2xx or 4xx answer;
/// - everything else is `unknown` (5xx, codes that can follow an action,
///   undocumented codes or combinations such as code 0 with another
///   `STATUS`): the provider may have acted; reconcile, never retry.
///
/// `ProcessQuery`: `0`/`SUCCESS` and `300`/`ORDER_CANCEL` on a 2xx are
/// successful inquiries (the latter of a cancelled payment); a documented
/// error code is a failed inquiry; anything else is `unknown`.
pub fn status_for(
    endpoint: Endpoint,
    http_status: u16,
    code: &str,
    status: Option<&str>,
    sync: bool,
) -> (Status, Option<Reason>, Option<String>) {
    let ok_http = (200..300).contains(&http_status);
    if http_status >= 500 {
        return (
            Status::Unknown,
            Some(Reason::ProviderError),
            Some(format!(
                "HTTP {http_status}: a server error says nothing about whether EsnekPOS acted"
            )),
        );
    }
    let is = |expected: &str| status.is_some_and(|s| s.trim() == expected);
    let documented_success = match endpoint {
        Endpoint::ProcessQuery => {
            (code == "0" && is("SUCCESS")) || (code == "300" && is("ORDER_CANCEL"))
        }
        _ => code == "0" && is("SUCCESS"),
    };
    if ok_http && documented_success {
        // An Android POS cancel's `SUCCESS` acknowledges the request: the
        // device's result comes later, posted to BACK_URL ("the address to
        // which the system returns the result").
        let done = if endpoint == Endpoint::OrderReturnPhysical {
            Status::Pending
        } else if sync || endpoint == Endpoint::ProcessQuery {
            Status::Succeeded
        } else {
            Status::Pending
        };
        return (done, None, None);
    }
    // A refusal code counts with its documented STATUS (or none), on a 2xx
    // or a 4xx.
    let refusal = not_acted_codes(endpoint).contains(&code)
        && status_name(code).is_some_and(|n| status.is_none_or(|s| s.trim() == n))
        && (ok_http || (400..500).contains(&http_status));
    if refusal {
        return (Status::Failed, Some(reason_for(endpoint, code)), None);
    }
    // In the provider's words, not Rust's (`Some("ERROR")`).
    let status = status.map_or_else(|| "absent".to_owned(), |s| format!("\"{s}\""));
    let why = if endpoint == Endpoint::ProcessQuery {
        format!(
            "undocumented inquiry answer: HTTP {http_status}, RETURN_CODE \"{code}\", STATUS {status}"
        )
    } else {
        format!(
            "not a documented success or refusal (HTTP {http_status}, RETURN_CODE \"{code}\", STATUS {status}): EsnekPOS may have acted"
        )
    };
    (Status::Unknown, Some(reason_for(endpoint, code)), Some(why))
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
    let json: Value = match payops_core::kit::json::from_slice_exact(&response.body) {
        Ok(mut v @ Value::Object(_)) => {
            // EsnekPOS's request carries MERCHANT_KEY: an answer that echoes
            // it never keeps it, whatever happens to `raw` later.
            payops_core::kit::redact::blank_json_fields(&mut v, CREDENTIAL_FIELDS);
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
    if answered.trim() != sent.trim() {
        *o = std::mem::replace(o, Outcome::new(Status::Unknown)).order_mismatch(sent, &answered);
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
        "endpoint": endpoint.name(),
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
        match normalize(&json, &code) {
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

/// `details` of a money-moving outcome (the JSON Schema).
pub fn money_details_schema() -> Value {
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

/// Keys of the top level that [`normalize`] maps to typed fields; every other
/// key is kept in `extra`.
const TYPED: &[&str] = &[
    "AMOUNT",
    "INSTALLMENT",
    "PAYMENT_DATE",
    "TRANSACTIONS",
    "RETURN_CODE",
    "RETURN_MESSAGE",
    "ORDER_REF_NUMBER",
    "ORDER_REF_NO",
];

/// `STATUS_ID` -> normalized status (1 and 2 from EsnekPOS's payment pages,
/// 3-8 from the ProcessQuery table).
pub fn transaction_status(id: Option<i64>) -> TransactionStatus {
    match id {
        Some(1) => TransactionStatus::Pending,
        Some(2) => TransactionStatus::Awaiting3ds,
        Some(3) => TransactionStatus::PaymentSucceeded,
        Some(4) => TransactionStatus::PaymentFailed,
        Some(5) => TransactionStatus::CancelSucceeded,
        Some(6) => TransactionStatus::CancelFailed,
        Some(7) => TransactionStatus::RefundSucceeded,
        Some(8) => TransactionStatus::RefundFailed,
        _ => TransactionStatus::Unknown,
    }
}

fn transfer(v: &Value) -> Result<Option<MerchantTransfer>, String> {
    if !v.is_object() {
        return Ok(None);
    }
    Ok(Some(MerchantTransfer {
        extract_id: text(v, &["EXTRACT_ID"]),
        amount: amount(v, "SENDED_AMOUNT")?,
        date: text(v, &["SENDED_DATE"]).and_then(|d| parse_date(&d)),
    }))
}

fn transaction(v: &Value) -> Result<Transaction, String> {
    let status_id = int(v, &["STATUS_ID"]);
    let mut splits = Vec::new();
    if let Some(list) = v.get("SUB_MERCHANT_DETAILS").and_then(Value::as_array) {
        for s in list {
            splits.push(SubMerchantSplit {
                sub_merchant_id: text(s, &["EXTERNAL_ID"]),
                amount: amount(s, "AMOUNT")?,
                date: text(s, &["DATE"]).and_then(|d| parse_date(&d)),
                transfer: transfer(
                    s.get("SUB_MERCHANT_AMOUNT_TRANSFER_DETAIL")
                        .unwrap_or(&Value::Null),
                )?,
            });
        }
    }
    Ok(Transaction {
        transaction_id: text(v, &["TRANSACTION_ID"]),
        status_id,
        status: transaction_status(status_id),
        status_name: text(v, &["STATUS_NAME"]),
        amount: amount(v, "AMOUNT")?,
        date: text(v, &["DATE"]).and_then(|d| parse_date(&d)),
        merchant_transfer: transfer(
            v.get("MERCHANT_AMOUNT_TRANSFER_DETAIL")
                .unwrap_or(&Value::Null),
        )?,
        sub_merchants: splits,
    })
}

/// Normalizes a successful inquiry (`code` 0 or 300).
pub fn normalize(v: &Value, code: &str) -> Result<QueryDetails, String> {
    let mut transactions = Vec::new();
    if let Some(list) = v.get("TRANSACTIONS").and_then(Value::as_array) {
        for t in list {
            transactions.push(transaction(t)?);
        }
    }
    let total = amount(v, "AMOUNT")?;
    let returned = returned_amount(&transactions)
        .ok_or("the returned amounts overflow: the rows cannot be summed exactly")?;
    let cancelled = code == "300" || text(v, &["STATUS"]).as_deref() == Some("ORDER_CANCEL");
    let payment_status = if cancelled {
        PaymentStatus::Cancelled
    } else {
        match transactions.first().map(|t| t.status) {
            Some(TransactionStatus::PaymentFailed) => PaymentStatus::Failed,
            Some(TransactionStatus::Pending | TransactionStatus::Awaiting3ds) => {
                PaymentStatus::Pending
            }
            Some(TransactionStatus::Unknown) => PaymentStatus::Unknown,
            _ => {
                let done: i64 =
                    settled_returns(&transactions).ok_or("the returned amounts overflow")?;
                let any_refund = transactions
                    .iter()
                    .any(|t| t.status == TransactionStatus::RefundSucceeded);
                match total {
                    Some(t) if done >= t && done > 0 => {
                        if any_refund {
                            PaymentStatus::Refunded
                        } else {
                            PaymentStatus::Cancelled
                        }
                    }
                    _ if done > 0 => PaymentStatus::PartiallyRefunded,
                    _ => PaymentStatus::Succeeded,
                }
            }
        }
    };
    let mut extra = Map::new();
    if let Some(obj) = v.as_object() {
        for (k, val) in obj {
            if !TYPED.contains(&k.as_str()) {
                extra.insert(k.clone(), val.clone());
            }
        }
    }
    if let Some(d) = text(v, &["DATE"]).and_then(|d| parse_date(&d)) {
        extra.insert("query_date".into(), Value::String(d.to_rfc3339()));
    }
    let mut details = QueryDetails {
        payment_status,
        provider_payment_status: text(v, &["STATUS"]),
        amount: total,
        currency: Currency::TRY,
        installment: int(v, &["INSTALLMENT"]).and_then(|i| u32::try_from(i).ok()),
        payment_date: text(v, &["PAYMENT_DATE"]).and_then(|d| parse_date(&d)),
        refunded_amount: Some(returned),
        order_ref: text(v, &["ORDER_REF_NUMBER", "ORDER_REF_NO"]),
        transactions,
        extra,
        ledger: None,
    };
    details.ledger = Some(OrderFacts::listing(&details, return_row));
    Ok(details)
}

/// Which `TRANSACTIONS` rows are returns, and their state (the
/// `STATUS_ID` table): 5/6 a cancel succeeded/failed, 7/8 a refund
/// succeeded/failed; after the first row (the payment itself), 1 waiting
/// is a return queued for EsnekPOS's operations (`SYNC_WITH_POS` false;
/// inferred to be a refund: the docs do not say which) and a status the
/// table does not have may be a return, so it is at risk.
fn return_row(index: usize, t: &Transaction) -> Option<(ReturnKind, ReturnState)> {
    match t.status {
        TransactionStatus::CancelSucceeded => Some((ReturnKind::Cancel, ReturnState::Succeeded)),
        TransactionStatus::CancelFailed => Some((ReturnKind::Cancel, ReturnState::Failed)),
        TransactionStatus::RefundSucceeded => Some((ReturnKind::Refund, ReturnState::Succeeded)),
        TransactionStatus::RefundFailed => Some((ReturnKind::Refund, ReturnState::Failed)),
        TransactionStatus::Pending if index > 0 => Some((ReturnKind::Refund, ReturnState::Pending)),
        TransactionStatus::Unknown if index > 0 => Some((ReturnKind::Refund, ReturnState::Unknown)),
        _ => None,
    }
}

/// Successful cancels and refunds (status 5 and 7); `None` when the sum
/// overflows.
fn settled_returns(ts: &[Transaction]) -> Option<i64> {
    ts.iter()
        .filter(|t| {
            matches!(
                t.status,
                TransactionStatus::CancelSucceeded | TransactionStatus::RefundSucceeded
            )
        })
        .filter_map(|t| t.amount)
        .try_fold(0i64, |acc, a| acc.checked_add(a))
}

/// Everything returned or on its way back: successful cancels and refunds
/// and, after the first transaction (the payment itself), pending ones
/// (`SYNC_WITH_POS=false` returns waiting for EsnekPOS operations). `None`
/// when the sum overflows.
pub fn returned_amount(ts: &[Transaction]) -> Option<i64> {
    let pending = ts
        .iter()
        .skip(1)
        .filter(|t| t.status == TransactionStatus::Pending)
        .filter_map(|t| t.amount)
        .try_fold(0i64, |acc, a| acc.checked_add(a))?;
    settled_returns(ts)?.checked_add(pending)
}

/// What can still be returned: the payment amount minus everything
/// returned or pending. `None` when the payment is not a completed one or
/// the figures cannot be computed exactly.
pub fn remaining(d: &QueryDetails) -> Option<i64> {
    match d.payment_status {
        PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded => {
            d.amount?.checked_sub(returned_amount(&d.transactions)?)
        }
        _ => None,
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// An undocumented answer is described in EsnekPOS's words, never
    /// Rust's (`STATUS Some("ERROR")`, before).
    #[test]
    fn undocumented_answers_are_described_without_rust_internals() {
        for (status, shown) in [(Some("ERROR"), "STATUS \"ERROR\""), (None, "STATUS absent")] {
            let (s, _, why) = status_for(Endpoint::OrderReturn, 200, "77", status, true);
            assert_eq!(s, Status::Unknown);
            let why = why.unwrap();
            assert!(
                why.contains("RETURN_CODE \"77\"") && why.contains(shown),
                "{why}"
            );
            assert!(!why.contains("Some(") && !why.contains("None"), "{why}");
        }
    }

    /// The documented codes (EsnekPOS's table, the OrderReturnPhysical
    /// table and the ProcessQuery text), written out here from the docs.
    #[test]
    fn every_documented_code_per_endpoint() {
        use Endpoint::*;
        let st =
            |ep, http, code, status: Option<&str>, sync| status_for(ep, http, code, status, sync).0;
        // Success is SUCCESS with 0 (or "00", normalized by return_code) on a 2xx.
        for ep in [OrderReturn, OrderReturnPhysical, AddSubMerchantAmount] {
            // OrderReturnPhysical's SUCCESS acknowledges the request; the
            // device's result is posted to BACK_URL later.
            let done = if ep == OrderReturnPhysical {
                Status::Pending
            } else {
                Status::Succeeded
            };
            assert_eq!(st(ep, 200, "0", Some("SUCCESS"), true), done, "{ep:?}");
            // Undocumented combinations are not success.
            assert_eq!(st(ep, 200, "0", None, true), Status::Unknown, "{ep:?}");
            assert_eq!(
                st(ep, 200, "0", Some("ORDER_CANCEL"), true),
                Status::Unknown,
                "{ep:?}"
            );
            assert_eq!(
                st(ep, 200, "0", Some("WEIRD"), true),
                Status::Unknown,
                "{ep:?}"
            );
            // A 5xx is never final, whatever the body says.
            assert_eq!(
                st(ep, 500, "0", Some("SUCCESS"), true),
                Status::Unknown,
                "{ep:?}"
            );
            assert_eq!(
                st(ep, 503, "102", Some("AUTHENTICATION_ERROR"), true),
                Status::Unknown
            );
            assert_eq!(st(ep, 302, "0", Some("SUCCESS"), true), Status::Unknown);
            // Codes that can follow an action.
            for (code, name) in [
                ("100", "ERROR"),
                ("105", "INSERT_ERROR"),
                ("999", "UNKNOWN_ERROR"),
            ] {
                assert_eq!(
                    st(ep, 200, code, Some(name), true),
                    Status::Unknown,
                    "{ep:?} {code}"
                );
            }
            // Authentication refused: nothing happened.
            assert_eq!(
                st(ep, 200, "102", Some("AUTHENTICATION_ERROR"), true),
                Status::Failed
            );
            assert_eq!(
                st(ep, 401, "102", Some("AUTHENTICATION_ERROR"), true),
                Status::Failed
            );
            // A refusal code with a contradicting STATUS is not proof.
            assert_eq!(st(ep, 200, "102", Some("SUCCESS"), true), Status::Unknown);
            assert_eq!(st(ep, 200, "777", None, true), Status::Unknown);
        }
        assert_eq!(
            st(OrderReturn, 200, "0", Some("SUCCESS"), false),
            Status::Pending
        );
        for (code, name) in [
            ("101", "FIELD_ERROR"),
            ("103", "LIMIT_ERROR"),
            ("104", "COMMISSION_ERROR"),
            ("106", "BRAND_ERROR"),
            ("201", "PAYMENT_ERROR"),
            ("34", "BLOCKED_ERROR"),
            ("300", "ORDER_CANCEL"),
        ] {
            assert_eq!(
                st(OrderReturn, 200, code, Some(name), true),
                Status::Failed,
                "{code}"
            );
        }
        // ORDER_CANCEL is an error of the Android POS cancel service.
        assert_eq!(
            st(OrderReturnPhysical, 200, "300", Some("ORDER_CANCEL"), true),
            Status::Failed
        );
        // ProcessQuery: 0/SUCCESS and 300/ORDER_CANCEL are successful inquiries.
        assert_eq!(
            st(ProcessQuery, 200, "0", Some("SUCCESS"), true),
            Status::Succeeded
        );
        assert_eq!(
            st(ProcessQuery, 200, "300", Some("ORDER_CANCEL"), true),
            Status::Succeeded
        );
        assert_eq!(
            st(ProcessQuery, 200, "300", Some("FAIL"), true),
            Status::Unknown
        );
        assert_eq!(
            st(ProcessQuery, 200, "0", Some("FAIL"), true),
            Status::Unknown
        );
        assert_eq!(
            st(ProcessQuery, 500, "0", Some("SUCCESS"), true),
            Status::Unknown
        );
        for (code, name) in CODES.iter().filter(|(c, _)| !["0", "300"].contains(c)) {
            assert_eq!(
                st(ProcessQuery, 200, code, Some(name), true),
                Status::Failed,
                "{code}"
            );
        }
        assert_eq!(
            return_code(&json!({"RETURN_CODE": "00"})).as_deref(),
            Some("0")
        );
        assert_eq!(
            return_code(&json!({"RETURN_CODE": 0})).as_deref(),
            Some("0")
        );
    }
}
