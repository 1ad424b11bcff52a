//! EsnekPOS wire format: amounts, dates, tolerant field access, and the
//! per-endpoint meaning of `RETURN_CODE` / `STATUS`.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use payops_core::money::{DecimalStyle, format_minor, parse_json_minor};
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
    let raw = text(v, &["RETURN_CODE", "ReturnCode", "return_code"])?;
    let t = raw.trim();
    Some(match t.parse::<i64>() {
        Ok(n) => n.to_string(),
        Err(_) => t.to_owned(),
    })
}

/// What a `RETURN_CODE`/`STATUS` pair means on one endpoint.
///
/// - money-moving endpoints: `0` succeeded (`pending` when the request asked
///   `SYNC_WITH_POS=false`), documented error codes failed, `999
///   UNKNOWN_ERROR` and any undocumented code unknown (the provider may have
///   acted: reconcile, do not retry);
/// - `ProcessQuery`: `0`/`SUCCESS` and `300`/`ORDER_CANCEL` are successful
///   inquiries (the latter of a cancelled payment); every other code failed.
pub fn status_for(endpoint: Endpoint, code: &str, status: Option<&str>, sync: bool) -> Status {
    let documented = CODES.iter().any(|(c, _)| *c == code);
    match endpoint {
        Endpoint::ProcessQuery => match code {
            "0" | "300" => Status::Succeeded,
            _ if documented => Status::Failed,
            _ => Status::Unknown,
        },
        _ => match code {
            // A marketplace refund answers ORDER_CANCEL with code 0.
            "0" if matches!(status, None | Some("SUCCESS") | Some("ORDER_CANCEL")) => {
                if sync {
                    Status::Succeeded
                } else {
                    Status::Pending
                }
            }
            "0" => Status::Unknown,
            "999" => Status::Unknown,
            _ if documented => Status::Failed,
            _ => Status::Unknown,
        },
    }
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

    #[test]
    fn every_documented_code_per_endpoint() {
        use Endpoint::*;
        for (code, name) in CODES {
            let money = status_for(OrderReturn, code, Some(name), true);
            let query = status_for(ProcessQuery, code, Some(name), true);
            match *code {
                "0" => {
                    assert_eq!(money, Status::Succeeded);
                    assert_eq!(query, Status::Succeeded);
                    assert_eq!(
                        status_for(OrderReturn, code, Some(name), false),
                        Status::Pending
                    );
                }
                "300" => {
                    assert_eq!(
                        money,
                        Status::Failed,
                        "ORDER_CANCEL is an error of the cancel service"
                    );
                    assert_eq!(
                        query,
                        Status::Succeeded,
                        "ORDER_CANCEL is a successful inquiry"
                    );
                }
                "999" => {
                    assert_eq!(money, Status::Unknown);
                    assert_eq!(query, Status::Failed);
                }
                _ => {
                    assert_eq!(money, Status::Failed, "{code}");
                    assert_eq!(query, Status::Failed, "{code}");
                }
            }
            for ep in [OrderReturnPhysical, AddSubMerchantAmount] {
                assert_eq!(
                    status_for(ep, code, Some(name), true),
                    money,
                    "{ep:?} {code}"
                );
            }
        }
        assert_eq!(
            status_for(OrderReturn, "0", Some("ORDER_CANCEL"), true),
            Status::Succeeded
        );
        assert_eq!(
            status_for(OrderReturn, "0", Some("WEIRD"), true),
            Status::Unknown
        );
        assert_eq!(status_for(OrderReturn, "777", None, true), Status::Unknown);
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
