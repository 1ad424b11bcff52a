//! What a NestPay answer means: the `CC5Response` read (in its declared
//! charset, often ISO-8859-9), the code tables, the proof rules of refund
//! and void, and the order history normalized into [`QueryDetails`] with
//! the ledger's facts.
//!
//! The rules: `succeeded` only for `Response` `Approved` with
//! `ProcReturnCode` `00` on HTTP 2xx and the order sent echoed back;
//! `failed` only for a `Declined` answer (the bank's refusal) or an `Error`
//! whose code says nothing was done ([`ERROR_CODES`]); any other answer,
//! and an `Error` whose code can mean "already done", is `unknown`.

use std::collections::BTreeMap;

use payops_core::kit::{charset, xml};
use payops_core::ledger::{OrderFacts, ReturnKind, ReturnState};
use payops_core::outcome::Reason;
use payops_core::{
    Answer, Currency, Outcome, PaymentStatus, QueryDetails, Status, Transaction, TransactionStatus,
};
use serde_json::{Map, Value, json};

use crate::wire::{CREDENTIAL_FIELDS, trx};

/// `ProcReturnCode` values and what they say (public clients' code
/// tables; `00` alone is approval).
pub const PROC_RETURN_CODES: &[(&str, &str)] = &[
    ("00", "approved"),
    ("01", "refer to the card issuer"),
    ("02", "refer to the card issuer"),
    ("05", "rejected"),
    ("09", "try again"),
    ("12", "invalid transaction"),
    ("28", "rejected"),
    ("51", "insufficient balance"),
    ("54", "expired card"),
    ("57", "not allowed to the card holder"),
    ("62", "restricted card"),
    ("77", "request rejected"),
    ("99", "general error"),
];

/// `Extra/ERRORCODE` values of an `Error` answer payops knows, with the
/// status and reason each gets. Any other `Error` is `unknown`.
pub const ERROR_CODES: &[(&str, Status, Reason, &str)] = &[
    (
        "CORE-2508",
        Status::Failed,
        Reason::NotAllowedToday,
        "no refund before end of day: cancel instead",
    ),
    (
        "CORE-2008",
        Status::Unknown,
        Reason::AlreadyCancelled,
        "no sale fit to cancel: the order may be voided already",
    ),
    (
        "215021",
        Status::Unknown,
        Reason::AmountExceedsRemaining,
        "net amount 0: the order may be refunded in full already",
    ),
];

/// A `CC5Response`: its fields and its `Extra` fields.
#[derive(Debug, Default)]
pub struct Cc5 {
    /// Top-level fields (`Response`, `ProcReturnCode`, `OrderId`, `TransId`...).
    pub fields: BTreeMap<String, String>,
    /// `Extra` fields (`ERRORCODE`, `TRXCOUNT`, `TRX1`...).
    pub extra: BTreeMap<String, String>,
}

impl Cc5 {
    fn get(&self, k: &str) -> &str {
        self.fields.get(k).map_or("", String::as_str).trim()
    }
    fn approved(&self) -> bool {
        self.get("Response") == "Approved" && self.get("ProcReturnCode") == "00"
    }
}

/// The `CC5Response` of an answer (in its charset) and its `raw` (the
/// password blanked), or the final outcome when there is none.
fn read(answer: Answer) -> Result<(Cc5, Value), Box<Outcome>> {
    let r = answer.map_err(|e| Box::new(Outcome::from_transport_error(&e)))?;
    let text = charset::decode(&r.body, r.header("Content-Type"));
    let root = xml::parse(&text)
        .ok()
        .filter(|root| root.name == "CC5Response")
        .ok_or_else(|| Box::new(Outcome::unparseable(r.status, "no CC5Response", &r.body)))?;
    let mut cc5 = Cc5::default();
    for c in &root.children {
        match c.name.as_str() {
            "Extra" => cc5
                .extra
                .extend(c.children.iter().map(|e| (e.name.clone(), e.text.clone()))),
            _ => drop(cc5.fields.insert(c.name.clone(), c.text.clone())),
        }
    }
    for k in CREDENTIAL_FIELDS {
        cc5.fields.remove(*k);
        cc5.extra.remove(*k);
    }
    let mut body: Map<String, Value> = cc5
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    body.insert("Extra".into(), json!(cc5.extra));
    let raw = json!({"http_status": r.status, "CC5Response": body});
    if !(200..300).contains(&r.status) {
        let mut o =
            Outcome::new(Status::Unknown).with(Status::Unknown, Some(Reason::ProviderError));
        o.provider_message = Some(format!("HTTP {}: the bank may have acted", r.status));
        o.raw = raw;
        return Err(Box::new(o));
    }
    Ok((cc5, raw))
}

fn ended(status: Status, reason: Option<Reason>, cc5: &Cc5, raw: Value) -> Outcome {
    let mut o = Outcome::new(status).with(status, reason);
    let code = cc5
        .extra
        .get("ERRORCODE")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    o.provider_code = code
        .map(str::to_owned)
        .or(Some(cc5.get("ProcReturnCode").to_owned()));
    o.provider_message = Some(cc5.get("ErrMsg").to_owned()).filter(|m| !m.is_empty());
    o.raw = raw;
    o
}

/// The outcome of a refund (`Credit`) or void of `order_ref` (`amount`: the
/// refund's, in minor units).
pub fn money_outcome(answer: Answer, order_ref: &str, amount: Option<i64>) -> Outcome {
    let (cc5, raw) = match read(answer) {
        Ok(x) => x,
        Err(o) => return *o,
    };
    if cc5.approved() {
        let echoed = cc5.get("OrderId");
        if echoed != order_ref {
            let mut o = ended(Status::Unknown, Some(Reason::OrderMismatch), &cc5, raw);
            o.provider_message = Some(format!("approved for order {echoed:?}, not {order_ref:?}"));
            return o;
        }
        let mut o = ended(Status::Succeeded, None, &cc5, raw);
        o.provider_reference = Some(cc5.get("TransId").to_owned()).filter(|t| !t.is_empty());
        o.details = json!({"order_ref": order_ref, "transaction_id": o.provider_reference,
            "amount": amount, "host_reference": cc5.get("HostRefNum"), "auth_code": cc5.get("AuthCode")});
        return o;
    }
    let (status, reason) = match cc5.get("Response") {
        "Declined" => (Status::Failed, Some(Reason::Declined)),
        "Error" => {
            let code = cc5.extra.get("ERRORCODE").map_or("", |c| c.trim());
            ERROR_CODES.iter().find(|(c, ..)| *c == code).map_or(
                (Status::Unknown, Some(Reason::ProviderError)),
                |(_, s, r, _)| (*s, Some(*r)),
            )
        }
        _ => (Status::Unknown, Some(Reason::ProviderError)),
    };
    let mut o = ended(status, reason, &cc5, raw);
    // A declined or failed request still gets a TransId: its row in the
    // order history.
    o.details =
        json!({"order_ref": order_ref, "transaction_id": cc5.get("TransId"), "amount": amount});
    o
}

/// `details` of a refund or void (the JSON Schema).
pub fn money_details_schema() -> Value {
    let s = |t: &str, d: &str| json!({"type": ["string", "null"], "title": t, "description": d});
    json!({"type": "object", "title": "Details", "description": "What the bank answered.", "properties": {
        "order_ref": s("Order reference", "Wire `OrderId` sent."),
        "transaction_id": s("Transaction id", "Wire `TransId`: this request's row in the order history (declined ones too)."),
        "amount": {"type": ["integer", "null"], "title": "Amount (minor units)", "description": "The refund's `Total` sent."},
        "host_reference": s("Host reference", "Wire `HostRefNum`."),
        "auth_code": s("Auth code", "Wire `AuthCode`.")
    }})
}

/// `details` of the order history (the JSON Schema).
pub fn query_details_schema() -> Value {
    payops_core::details::schema_of::<QueryDetails>()
}

/// The status of a history row.
fn row_status(kind: &str, stat: &str, approved: bool) -> TransactionStatus {
    match (kind, approved) {
        ("S", true) if matches!(stat, "V" | "CNCL") => TransactionStatus::CancelSucceeded,
        ("S", true) => TransactionStatus::PaymentSucceeded,
        ("S", false) => TransactionStatus::PaymentFailed,
        ("C", true) => TransactionStatus::RefundSucceeded,
        ("C", false) => TransactionStatus::RefundFailed,
        _ => TransactionStatus::Unknown,
    }
}

/// The outcome of the order history of `order_ref` in `currency`.
pub fn query_outcome(answer: Answer, order_ref: &str, currency: Currency) -> Outcome {
    let (cc5, raw) = match read(answer) {
        Ok(x) => x,
        Err(o) => return *o,
    };
    let count = cc5.extra.get("TRXCOUNT").map_or("", |c| c.trim());
    // A declined query moved nothing: `failed`, and with no row at all the
    // bank does not know the order.
    if cc5.get("Response") == "Declined" {
        let reason = if count == "0" {
            Reason::NotFound
        } else {
            Reason::Declined
        };
        return ended(Status::Failed, Some(reason), &cc5, raw);
    }
    if !cc5.approved() || cc5.get("OrderId") != order_ref {
        return ended(Status::Unknown, Some(Reason::ProviderError), &cc5, raw);
    }
    let rows: Vec<_> = (1..)
        .map_while(|i| cc5.extra.get(&format!("TRX{i}")))
        .filter_map(|r| trx(r))
        .collect();
    let transactions: Vec<Transaction> = rows
        .iter()
        .map(|r| Transaction {
            transaction_id: r.trans_id.clone(),
            status_id: None,
            status: row_status(&r.kind, &r.stat, r.code == "00"),
            status_name: Some(format!("{} {} {}", r.kind, r.stat, r.code)),
            amount: if r.kind == "S" {
                r.original.or(r.amount)
            } else {
                r.amount
            },
            date: r.date,
            merchant_transfer: None,
            sub_merchants: Vec::new(),
        })
        .collect();
    let sale = transactions.iter().find(|t| {
        matches!(
            t.status,
            TransactionStatus::PaymentSucceeded | TransactionStatus::CancelSucceeded
        )
    });
    let paid = sale.and_then(|t| t.amount);
    let refunded: i64 = transactions
        .iter()
        .filter(|t| t.status == TransactionStatus::RefundSucceeded)
        .filter_map(|t| t.amount)
        .sum();
    let payment_status = match (sale.map(|t| t.status), paid) {
        (Some(TransactionStatus::CancelSucceeded), _) => PaymentStatus::Cancelled,
        (Some(_), Some(p)) if refunded >= p => PaymentStatus::Refunded,
        (Some(_), _) if refunded > 0 => PaymentStatus::PartiallyRefunded,
        (Some(_), _) => PaymentStatus::Succeeded,
        (None, _) => PaymentStatus::Unknown,
    };
    let mut d = QueryDetails {
        payment_status,
        provider_payment_status: sale.and_then(|t| t.status_name.clone()),
        amount: paid,
        currency,
        installment: None,
        payment_date: sale.and_then(|t| t.date),
        refunded_amount: Some(refunded),
        order_ref: Some(order_ref.to_owned()),
        transactions,
        extra: Default::default(),
        ledger: None,
    };
    d.ledger = Some(OrderFacts::listing(&d, |_, t| match t.status {
        TransactionStatus::CancelSucceeded => Some((ReturnKind::Cancel, ReturnState::Succeeded)),
        TransactionStatus::RefundSucceeded => Some((ReturnKind::Refund, ReturnState::Succeeded)),
        TransactionStatus::RefundFailed => Some((ReturnKind::Refund, ReturnState::Failed)),
        _ => None,
    }));
    let mut o = ended(Status::Succeeded, None, &cc5, raw);
    o.provider_code = Some("00".into());
    o.details = serde_json::to_value(&d).unwrap_or(Value::Null);
    o
}
