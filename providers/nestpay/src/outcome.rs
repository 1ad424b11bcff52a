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

use payops_core::kit::xml::{Element, xml_answer};
use payops_core::ledger::returns_by_status;
use payops_core::outcome::Reason;
use payops_core::{
    Answer, Currency, Outcome, PaymentStatus, QueryDetails, Status, Transaction, TransactionStatus,
};
use serde_json::{Value, json};

use crate::codes::ERROR_CODES;
use crate::wire::CREDENTIAL_FIELDS;

/// A top-level field of a `CC5Response`, trimmed (`""` when absent).
fn field<'a>(cc5: &'a Element, name: &str) -> &'a str {
    cc5.child_text(name).unwrap_or_default().trim()
}

/// `Response` `Approved` with `ProcReturnCode` `00`: the only approval.
fn approved(cc5: &Element) -> bool {
    field(cc5, "Response") == "Approved" && field(cc5, "ProcReturnCode") == "00"
}

/// An `Extra` field of a `CC5Response`, trimmed (`""` when absent).
fn extra<'a>(cc5: &'a Element, name: &str) -> &'a str {
    cc5.child("Extra").map_or("", |e| field(e, name))
}

fn ended(status: Status, reason: Reason, cc5: &Element, raw: Value) -> Outcome {
    let mut o = Outcome::of(status, reason);
    let code = Some(extra(cc5, "ERRORCODE")).filter(|s| !s.is_empty());
    o.provider_code = Some(code.unwrap_or(field(cc5, "ProcReturnCode")).to_owned());
    o.provider_message = Some(field(cc5, "ErrMsg").to_owned()).filter(|m| !m.is_empty());
    o.raw = raw;
    o
}

/// The outcome of a refund (`Credit`) or void of `order_ref` (`amount`: the
/// refund's, in minor units): `succeeded` only for `Response` `Approved`
/// with `ProcReturnCode` `00` naming the order sent.
pub fn money_outcome(answer: Answer, order_ref: &str, amount: Option<i64>) -> Outcome {
    let (_, cc5, raw) = match xml_answer(answer, "CC5Response", CREDENTIAL_FIELDS) {
        Ok(x) => x,
        Err(o) => return *o,
    };
    let approved = approved(&cc5);
    let error = ERROR_CODES
        .iter()
        .find(|(c, ..)| *c == extra(&cc5, "ERRORCODE"));
    let (status, reason) = match (field(&cc5, "Response"), error) {
        _ if approved => (Status::Succeeded, Reason::Unknown),
        ("Declined", _) => (Status::Failed, Reason::Declined),
        ("Error", Some((_, s, r, _))) => (*s, *r),
        _ => (Status::Unknown, Reason::ProviderError),
    };
    let mut o = ended(status, reason, &cc5, raw);
    // A declined or failed request still gets a TransId: its row in the
    // order history.
    let tx = field(&cc5, "TransId");
    o.details = json!({"order_ref": order_ref, "transaction_id": tx, "amount": amount});
    if approved && field(&cc5, "OrderId") != order_ref {
        return o.order_mismatch(order_ref, field(&cc5, "OrderId"));
    } else if approved {
        o.provider_reference = Some(tx.to_owned()).filter(|t| !t.is_empty());
        o.details["host_reference"] = json!(field(&cc5, "HostRefNum"));
        o.details["auth_code"] = json!(field(&cc5, "AuthCode"));
    }
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

/// One `TRXn` row of the order history (`type, status, original amount,
/// amount, date, date, settle date, host reference, auth code, return
/// code, transaction id`, tab-separated; the field order read from public
/// clients' captured answers: inferred) as a transaction; `None` with
/// fewer than 11 fields. Type `S` is the sale (`TRANS_STAT` `V` or `CNCL`:
/// voided), `C` a refund; return code `00` approved. Amounts are whole
/// minor units (`101` is 1.01); dates bank time, read as Turkish time.
pub fn history_row(row: &str) -> Option<Transaction> {
    let f: Vec<&str> = row.split('\t').map(str::trim).collect();
    let [kind, stat, original, amount, date, _, _, _, _, code, id, ..] = f[..] else {
        return None;
    };
    let status = match (kind, code == "00") {
        ("S", true) if matches!(stat, "V" | "CNCL") => TransactionStatus::CancelSucceeded,
        ("S", true) => TransactionStatus::PaymentSucceeded,
        ("S", false) => TransactionStatus::PaymentFailed,
        ("C", true) => TransactionStatus::RefundSucceeded,
        ("C", false) => TransactionStatus::RefundFailed,
        _ => TransactionStatus::Unknown,
    };
    let minor = |s: &str| s.parse::<i64>().ok();
    Some(Transaction {
        transaction_id: Some(id.to_owned()).filter(|s| !s.is_empty()),
        status,
        status_name: Some(format!("{kind} {stat} {code}")),
        amount: minor(original).filter(|_| kind == "S").or(minor(amount)),
        date: payops_core::turkish_time(date, &["%Y-%m-%d %H:%M:%S%.f"]),
        ..Transaction::default()
    })
}

/// The outcome of the order history of `order_ref` in `currency`: a
/// declined query moved nothing (`failed`; with no row, `not_found`).
pub fn query_outcome(answer: Answer, order_ref: &str, currency: Currency) -> Outcome {
    let (_, cc5, raw) = match xml_answer(answer, "CC5Response", CREDENTIAL_FIELDS) {
        Ok(x) => x,
        Err(o) => return *o,
    };
    if field(&cc5, "Response") == "Declined" {
        let none = extra(&cc5, "TRXCOUNT") == "0";
        let reason = if none {
            Reason::NotFound
        } else {
            Reason::Declined
        };
        return ended(Status::Failed, reason, &cc5, raw);
    }
    if !approved(&cc5) || field(&cc5, "OrderId") != order_ref {
        return ended(Status::Unknown, Reason::ProviderError, &cc5, raw);
    }
    let rows: Vec<Transaction> = (1..)
        .map_while(|i| cc5.child("Extra")?.child_text(&format!("TRX{i}")))
        .filter_map(history_row)
        .collect();
    let sale = rows.iter().find(|t| {
        matches!(
            t.status,
            TransactionStatus::PaymentSucceeded | TransactionStatus::CancelSucceeded
        )
    });
    let mut d = QueryDetails::new(order_ref, currency);
    if let Some(sale) = sale {
        d.payment_status = PaymentStatus::Succeeded;
        d.provider_payment_status = sale.status_name.clone();
        (d.amount, d.payment_date) = (sale.amount, sale.date);
    }
    let d = d.listing(rows, returns_by_status);
    let mut o = ended(Status::Succeeded, Reason::Unknown, &cc5, raw);
    o.provider_code = Some("00".into());
    o.details = serde_json::to_value(&d).unwrap_or(Value::Null);
    o
}
