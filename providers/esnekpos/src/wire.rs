//! EsnekPOS wire format: amounts, dates, tolerant field access, and the
//! per-endpoint meaning of `RETURN_CODE` / `STATUS`.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use payops_core::money::{DecimalStyle, format_minor, parse_json_minor};
use payops_core::outcome::Reason;
use payops_core::{MoneyError, Status};
use serde_json::Value;
use serde_json::value::RawValue;

/// The endpoints payops calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `api/services/OrderReturn`: online refund / cancel.
    OrderReturn,
    /// `api/services/OrderReturnPhysical`: Android POS cancel.
    OrderReturnPhysical,
    /// `api/services/ProcessQuery`: transaction inquiry.
    ProcessQuery,
    /// `api/services/AddSubMerchantAmount`: sub-merchant balance.
    AddSubMerchantAmount,
}

impl Endpoint {
    /// The URL path below the base URL.
    pub fn path(&self) -> &'static str {
        match self {
            Endpoint::OrderReturn => "/api/services/OrderReturn",
            Endpoint::OrderReturnPhysical => "/api/services/OrderReturnPhysical",
            Endpoint::ProcessQuery => "/api/services/ProcessQuery",
            Endpoint::AddSubMerchantAmount => "/api/services/AddSubMerchantAmount",
        }
    }
}

/// `AMOUNT` on the wire for `minor` kuruş: a JSON integer of lira when whole
/// (`500` -> `5`), otherwise a JSON number with exactly two decimals
/// (`2999` -> `29.99`, `-250` -> `-2.50`), written from the digits, never
/// through a float.
pub fn amount_to_wire(minor: i64) -> Box<RawValue> {
    let text = if minor % 100 == 0 {
        (minor / 100).to_string()
    } else {
        format_minor(minor, 2, '.')
    };
    RawValue::from_string(text).expect("a decimal literal is valid JSON")
}

/// Parses an amount in lira as EsnekPOS writes it: `"1250,00"`, `"1.250,00"`,
/// `"148,88"`, `"29.99"`, `5`, `29.99`, into kuruş, exactly.
pub fn amount_from_wire(v: &Value) -> Result<i64, MoneyError> {
    parse_json_minor(v, 2, DecimalStyle::Auto)
}

/// Parses `24.09.2020 17:08:10` or `4.05.2020 11:58:11` (Turkish local time)
/// into a date-time at +03:00. Also accepts RFC 3339.
pub fn parse_date(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d);
    }
    for fmt in [
        "%d.%m.%Y %H:%M:%S",
        "%d.%m.%Y %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return payops_core::turkey_offset()
                .from_local_datetime(&n)
                .single();
        }
    }
    None
}

/// Writes a date as EsnekPOS does (`19.04.2020 18:34:35`, +03:00).
pub fn format_date(d: &DateTime<FixedOffset>) -> String {
    d.with_timezone(&payops_core::turkey_offset())
        .format("%d.%m.%Y %H:%M:%S")
        .to_string()
}

/// The first of `keys` present and non-null, as text (numbers accepted).
pub fn text(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match v.get(*k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    })
}

/// The first of `keys` as an integer (strings of digits accepted).
pub fn int(v: &Value, keys: &[&str]) -> Option<i64> {
    text(v, keys).and_then(|s| s.trim().parse().ok())
}

/// An amount field, `None` when absent or null.
pub fn amount(v: &Value, key: &str) -> Result<Option<i64>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => amount_from_wire(x)
            .map(Some)
            .map_err(|e| format!("{key}: {e}")),
    }
}

/// A documented `RETURN_CODE` with its `STATUS` name.
pub const CODES: &[(&str, &str)] = &[
    ("0", "SUCCESS"),
    ("100", "ERROR"),
    ("101", "FIELD_ERROR"),
    ("102", "AUTHENTICATION_ERROR"),
    ("103", "LIMIT_ERROR"),
    ("104", "COMMISSION_ERROR"),
    ("105", "INSERT_ERROR"),
    ("106", "BRAND_ERROR"),
    ("201", "PAYMENT_ERROR"),
    ("34", "BLOCKED_ERROR"),
    ("300", "ORDER_CANCEL"),
    ("999", "UNKNOWN_ERROR"),
];

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
    let why = if endpoint == Endpoint::ProcessQuery {
        format!(
            "undocumented inquiry answer: HTTP {http_status}, RETURN_CODE {code:?}, STATUS {status:?}"
        )
    } else {
        format!(
            "not a documented success or refusal (HTTP {http_status}, RETURN_CODE {code:?}, STATUS {status:?}): EsnekPOS may have acted"
        )
    };
    (Status::Unknown, Some(reason_for(endpoint, code)), Some(why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_to_wire_exactly() {
        assert_eq!(amount_to_wire(500).get(), "5");
        assert_eq!(amount_to_wire(-500).get(), "-5");
        assert_eq!(amount_to_wire(2999).get(), "29.99");
        assert_eq!(amount_to_wire(-250).get(), "-2.50");
        assert_eq!(amount_to_wire(1).get(), "0.01");
        assert_eq!(amount_to_wire(125000).get(), "1250");
        assert_eq!(amount_to_wire(i64::MAX).get(), "92233720368547758.07");
        assert_eq!(amount_to_wire(-99).get(), "-0.99");
    }

    #[test]
    fn amounts_from_wire_exactly() {
        for (v, m) in [
            (json!("1250,00"), 125000),
            (json!("1.250,00"), 125000),
            (json!("148,88"), 14888),
            (json!("1073,00"), 107300),
            (json!("29.99"), 2999),
            (json!("5.00"), 500),
            (json!(5), 500),
            (json!(-5), -500),
            (json!(29.99), 2999),
            (json!("5,00 ₺"), 500),
            (json!("1.250.000,50"), 125000050),
        ] {
            assert_eq!(amount_from_wire(&v), Ok(m), "{v}");
        }
        assert!(
            amount_from_wire(&json!("1,234")).is_err(),
            "three decimals is not kuruş"
        );
        assert!(amount_from_wire(&json!(0.001)).is_err());
        assert!(amount_from_wire(&json!("abc")).is_err());
        assert!(amount_from_wire(&json!(true)).is_err());
    }

    #[test]
    fn dates_with_unpadded_days() {
        let d = parse_date("4.05.2020 11:58:11").unwrap();
        assert_eq!(d.to_rfc3339(), "2020-05-04T11:58:11+03:00");
        let d = parse_date("24.09.2020 17:08:10").unwrap();
        assert_eq!(d.to_rfc3339(), "2020-09-24T17:08:10+03:00");
        assert_eq!(format_date(&d), "24.09.2020 17:08:10");
        assert!(parse_date("yesterday").is_none());
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
