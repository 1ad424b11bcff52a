//! # payops-fuzz
//!
//! The fuzz targets' bodies: each `check_*` function takes arbitrary bytes,
//! runs one parser that reads untrusted input (provider answers, money,
//! dates, request documents, the plugin entry point) and checks properties
//! with an oracle written apart from the code under test (it never calls
//! the classifier to decide what the classifier should have said):
//!
//! - nothing panics (and so the process never aborts: deep nesting is
//!   bounded, sums are checked);
//! - an answer that is not a clean documented success on a 2xx never
//!   decodes to `succeeded` (nor `pending`);
//! - an amount never rounds or wraps: what is read has exactly the
//!   significant digits that were written.
//!
//! `fuzz/libfuzzer/` holds the cargo-fuzz targets that call these;
//! `fuzz/corpus/<target>/` the minimized corpus, replayed by this crate's
//! tests in every `cargo test`. How to run: `docs/fuzzing.md`.

#![warn(missing_docs)]

use payops_core::money::{DecimalStyle, format_minor, parse_minor};
use payops_core::protocol::Step;
use payops_core::{Call, HttpResponse, OperationKind, Status};
use serde_json::{Value, json};

/// The documented HTTP statuses a fuzzed answer comes with.
const STATUSES: [u16; 8] = [200, 201, 204, 302, 400, 401, 500, 503];

fn split(data: &[u8]) -> (u16, u8, &[u8]) {
    match data {
        [a, b, rest @ ..] => (STATUSES[usize::from(*a) % STATUSES.len()], *b, rest),
        _ => (200, 0, data),
    }
}

fn call(op: OperationKind, account: Value) -> Call {
    Call {
        operation: op,
        operation_id: "op_fuzz".into(),
        account: account.as_object().cloned().unwrap_or_default(),
        now: payops_core::chrono::DateTime::parse_from_rfc3339("2020-09-24T17:08:10+03:00")
            .expect("a date"),
        idempotency_key: None,
        nonce: String::new(),
        earlier_returns: 0,
    }
}

/// Is `v` (a JSON value from the answer) the integer zero, written as a
/// number or as digits?
fn is_zero_code(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Number(n)) => n.as_i64() == Some(0) || n.as_u64() == Some(0),
        Some(Value::String(s)) => {
            let t = s.trim();
            !t.is_empty() && t.bytes().all(|b| b == b'0')
        }
        _ => false,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// EsnekPOS answers (OrderReturn, OrderReturnPhysical, AddSubMerchantAmount,
/// ProcessQuery): a success needs a 2xx, `RETURN_CODE` 0, `STATUS`
/// `SUCCESS` (or, for an inquiry, 300 with `ORDER_CANCEL`) and no other
/// order named.
pub fn check_esnekpos_answer(data: &[u8]) {
    use payops_esnekpos::wire::Endpoint;
    let (status, pick, body) = split(data);
    let response = HttpResponse::new(status, "application/json", body.to_vec());
    let sent = "ORDER-1";
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let obj = parsed.as_ref().filter(|v| v.is_object());
    let get = |k: &str| obj.and_then(|o| o.get(k));
    let other_order = ["ORDER_REF_NUMBER", "ORDER_REF_NO"]
        .iter()
        .any(|k| text(get(k)).is_some_and(|t| t != sent));
    let clean = (200..300).contains(&status)
        && obj.is_some()
        && !other_order
        && text(get("STATUS")).as_deref() == Some("SUCCESS")
        && is_zero_code(get("RETURN_CODE"));
    if pick % 5 == 4 {
        let o = payops_esnekpos::outcome::query_outcome(Ok(response), Some(sent));
        let cancelled = (200..300).contains(&status)
            && obj.is_some()
            && !other_order
            && text(get("STATUS")).as_deref() == Some("ORDER_CANCEL")
            // Digits with leading zeros are the same code (the docs write 0 as "00").
            && text(get("RETURN_CODE")).is_some_and(|c| {
                c.bytes().all(|b| b.is_ascii_digit()) && c.trim_start_matches('0') == "300"
            });
        if o.status == Status::Succeeded {
            assert!(clean || cancelled, "inquiry succeeded on {status} {body:?}");
            check_query_sums(&o.details);
        }
        return;
    }
    let endpoint = [
        Endpoint::OrderReturn,
        Endpoint::OrderReturnPhysical,
        Endpoint::AddSubMerchantAmount,
        Endpoint::OrderReturn,
    ][usize::from(pick % 4)];
    let sync = pick & 0x80 == 0;
    let o = payops_esnekpos::outcome::money_outcome(
        endpoint,
        Ok(response),
        sync,
        Some(500),
        Some(sent),
    );
    match o.status {
        Status::Succeeded => assert!(clean && sync, "succeeded on {status} {body:?}"),
        Status::Pending => assert!(clean && !sync, "pending on {status} {body:?}"),
        _ => {}
    }
}

/// The inquiry's totals are the exact sums of its rows (no wrap).
fn check_query_sums(details: &Value) {
    let Some(rows) = details.get("transactions").and_then(Value::as_array) else {
        return;
    };
    let mut sum: i128 = 0;
    for (i, r) in rows.iter().enumerate() {
        let status = r.get("status").and_then(Value::as_str).unwrap_or("");
        let amount = i128::from(r.get("amount").and_then(Value::as_i64).unwrap_or(0));
        if matches!(status, "cancel_succeeded" | "refund_succeeded")
            || (i > 0 && status == "pending")
        {
            sum += amount;
        }
    }
    if let Some(refunded) = details.get("refunded_amount").and_then(Value::as_i64) {
        assert_eq!(
            i128::from(refunded),
            sum,
            "refunded_amount is the exact sum: {details}"
        );
    }
}

/// EsnekPOS request documents: never a panic; a request is only built
/// from an object, and the `AMOUNT` sent is exactly the document's amount.
pub fn check_esnekpos_document(data: &[u8]) {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let account = json!({"environment": "test", "merchant": "M", "merchant_key": "K-fuzz-key-1",
        "sub_merchant_sign": "reduce_is_positive"});
    for op in OperationKind::ALL {
        let step = esnek().start(&call(op, account.clone()), &doc);
        if let Ok(Step::Send { request, .. }) = step {
            assert!(doc.is_object(), "{op} built a request from {doc}");
            if op == OperationKind::Refund {
                // Read the literal as sent (a `Value` would pass it through f64).
                let body = String::from_utf8(request.body.clone()).expect("UTF-8 body");
                let at = body.find("\"AMOUNT\":").expect("an AMOUNT") + "\"AMOUNT\":".len();
                let wire: String = body[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || matches!(c, '-' | '.'))
                    .collect();
                let minor = doc["amount"].as_i64().expect("an amount");
                assert_eq!(
                    lira_text_to_minor(&wire),
                    Some(i128::from(minor)),
                    "AMOUNT {wire} for {minor}"
                );
            }
        }
    }
}

/// `29.99` -> 2999, `5` -> 500, by digits (the oracle's own reading).
fn lira_text_to_minor(s: &str) -> Option<i128> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 2 || int.is_empty() {
        return None;
    }
    let v: i128 = format!("{int}{frac:0<2}").parse().ok()?;
    Some(if neg { -v } else { v })
}

/// TurkPos answers: a success needs a 2xx and a positive `Sonuc` in the
/// method's Response/Result.
pub fn check_turkpos_answer(data: &[u8]) {
    let (status, pick, body) = split(data);
    let response = HttpResponse::new(status, "text/xml", body.to_vec());
    let text = String::from_utf8_lossy(body);
    let (o, method) = match pick % 3 {
        0 => (
            payops_turkpos::outcome::return_outcome(Ok(response), "IADE", Some(100)),
            "Pazaryeri_TP_Iptal_Iade",
        ),
        1 => (
            payops_turkpos::outcome::query_outcome(Ok(response)),
            "TP_Islem_Sorgulama4",
        ),
        _ => (
            payops_turkpos::outcome::standard_return_outcome(Ok(response), "IADE", 100),
            "TP_Islem_Iptal_Iade_Kismi2",
        ),
    };
    if o.status == Status::Succeeded {
        assert!((200..300).contains(&status), "succeeded on HTTP {status}");
        assert!(
            text.contains(&format!("{method}Response"))
                && text.contains(&format!("{method}Result")),
            "succeeded without {method}Response/Result: {text:?}"
        );
        // A start tag `<Sonuc>` (any prefix; XML allows whitespace before
        // the `>`) whose text is a positive integer.
        let positive = text.match_indices("Sonuc").any(|(i, m)| {
            let before = text[..i].chars().next_back();
            if !matches!(before, Some('<') | Some(':')) {
                return false;
            }
            let rest = text[i + m.len()..].trim_start();
            let Some(rest) = rest.strip_prefix('>') else {
                return false;
            };
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            !digits.trim_start_matches('0').is_empty()
        });
        assert!(positive, "succeeded without a positive Sonuc: {text:?}");
    }
}

/// TurkPos request documents: never a panic; only objects make requests.
pub fn check_turkpos_document(data: &[u8]) {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let account = json!({"environment": "test", "client_code": "10738", "client_username": "Test",
        "client_password": "pw-fuzz", "guid": "0c13d406-873b-403b-9c09-a5766840d98c"});
    for op in OperationKind::ALL {
        if let Ok(Step::Send { .. }) = turk().start(&call(op, account.clone()), &doc) {
            assert!(doc.is_object(), "{op} built a request from {doc}");
        }
    }
}

/// Significant digits of a decimal text (no sign, no separators, no
/// leading or trailing zeros).
fn significant(s: &str) -> String {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .to_owned()
}

/// Money: what `parse_minor` reads has the significant digits written, the
/// sign written, and formats back to itself.
pub fn check_money(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for style in [DecimalStyle::Point, DecimalStyle::Comma, DecimalStyle::Auto] {
        if let Ok(m) = parse_minor(s, 2, style) {
            assert_eq!(
                significant(&m.to_string()),
                significant(s),
                "{s:?} read as {m}"
            );
            if m != 0 {
                assert_eq!(m < 0, s.trim_start().starts_with('-'), "{s:?} read as {m}");
            }
            let back = format_minor(m, 2, '.');
            assert_eq!(parse_minor(&back, 2, DecimalStyle::Point), Ok(m), "{back}");
        }
    }
    if let Ok(v) = payops_core::kit::json::from_slice_exact(data)
        && let Ok(m) = payops_core::money::parse_json_minor(&v, 2, DecimalStyle::Auto)
        && v.is_number()
    {
        // The exponent of `8e05` moves the point; the significant digits
        // are the mantissa's.
        let mantissa = s.trim().split(['e', 'E']).next().unwrap_or("");
        assert_eq!(
            significant(&m.to_string()),
            significant(mantissa),
            "{s:?} read as {m}"
        );
    }
}

/// Dates: whatever `parse_date` accepts formats back to the same instant.
pub fn check_dates(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(d) = payops_esnekpos::wire::parse_date(s) {
        let back = payops_esnekpos::wire::format_date(&d);
        let again = payops_esnekpos::wire::parse_date(&back).expect("its own format");
        assert_eq!(again.timestamp(), d.timestamp(), "{s:?} -> {back}");
    }
    let _ = payops_turkpos::wire::parse_date(s);
}

/// EsnekPOS as its plugin entry points see it. Built here, not taken from
/// `payops_plugin`: that module holds the exported declaration, and two
/// providers' declarations cannot be linked into one binary.
fn esnek() -> &'static payops_core::guest::Exported<payops_esnekpos::EsnekPos> {
    static P: std::sync::OnceLock<payops_core::guest::Exported<payops_esnekpos::EsnekPos>> =
        std::sync::OnceLock::new();
    P.get_or_init(|| {
        payops_core::guest::Exported::new(
            payops_esnekpos::EsnekPos,
            payops_core::operations_of!(payops_esnekpos::EsnekPos),
        )
    })
}

/// TurkPos, likewise.
fn turk() -> &'static payops_core::guest::Exported<payops_turkpos::TurkPos> {
    static P: std::sync::OnceLock<payops_core::guest::Exported<payops_turkpos::TurkPos>> =
        std::sync::OnceLock::new();
    P.get_or_init(|| {
        payops_core::guest::Exported::new(
            payops_turkpos::TurkPos,
            payops_core::operations_of!(payops_turkpos::TurkPos),
        )
    })
}

/// The plugin entry point: any bytes into `step` give a JSON reply, never
/// a panic across the boundary.
pub fn check_plugin_step(data: &[u8]) {
    for reply in [
        payops_core::guest::step(esnek(), data),
        payops_core::guest::step(turk(), data),
    ] {
        let v: Value = serde_json::from_slice(&reply).expect("a JSON reply");
        assert!(v.get("result").is_some(), "{v}");
    }
}

/// A target's check.
pub type Check = fn(&[u8]);

/// Every target, by name (the corpus folder names).
pub const TARGETS: &[(&str, Check)] = &[
    ("esnekpos_answer", check_esnekpos_answer),
    ("esnekpos_document", check_esnekpos_document),
    ("turkpos_answer", check_turkpos_answer),
    ("turkpos_document", check_turkpos_document),
    ("money", check_money),
    ("dates", check_dates),
    ("plugin_step", check_plugin_step),
];
