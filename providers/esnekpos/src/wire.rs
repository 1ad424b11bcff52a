//! EsnekPOS wire format: the endpoints and their typed request bodies, how
//! a request is built, amounts, dates and tolerant field access. What an
//! answer means is in [`crate::outcome`].

use chrono::{DateTime, FixedOffset};
use payops_core::money::{DecimalStyle, format_minor, parse_json_minor};
use payops_core::{Error, HttpRequest, MoneyError};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::documents::{Account, DEFAULT_TIMEOUT_MS};

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
    payops_core::turkish_time(
        s,
        &[
            "%d.%m.%Y %H:%M:%S",
            "%d.%m.%Y %H:%M",
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S",
        ],
    )
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

/// The wire fields that carry credentials.
pub const CREDENTIAL_FIELDS: &[&str] = &["MERCHANT_KEY"];

impl Endpoint {
    /// The service's name, as EsnekPOS's pages title it.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::OrderReturn => "OrderReturn",
            Endpoint::OrderReturnPhysical => "OrderReturnPhysical",
            Endpoint::ProcessQuery => "ProcessQuery",
            Endpoint::AddSubMerchantAmount => "AddSubMerchantAmount",
        }
    }
}

#[derive(Serialize)]
pub(crate) struct Split {
    #[serde(rename = "EXTERNAL_ID")]
    external_id: String,
    #[serde(rename = "AMOUNT")]
    amount: Box<RawValue>,
}

#[derive(Serialize)]
pub(crate) struct OrderReturnBody<'a> {
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
pub(crate) struct PhysicalBody<'a> {
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
pub(crate) struct QueryBody<'a> {
    #[serde(rename = "MERCHANT")]
    merchant: &'a str,
    #[serde(rename = "MERCHANT_KEY")]
    merchant_key: &'a str,
    #[serde(rename = "ORDER_REF_NUMBER")]
    order_ref: &'a str,
}

#[derive(Serialize)]
pub(crate) struct AdjustBody<'a> {
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

/// A JSON POST of `body` to `endpoint` of the account's environment.
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

/// An `OrderReturn` request for a refund or cancel of `amount` kuruş, with
/// the sub-merchant split (id, kuruş) when there is one.
pub fn order_return(
    a: &Account,
    order_ref: &str,
    amount: i64,
    sync: bool,
    sub_merchants: Option<Vec<(String, i64)>>,
    purpose: &str,
) -> Result<HttpRequest, Error> {
    let body = OrderReturnBody {
        merchant: &a.merchant,
        merchant_key: a.key(),
        order_ref,
        amount: amount_to_wire(amount),
        sync_with_pos: sync,
        sub_merchants: sub_merchants.map(|list| {
            list.into_iter()
                .map(|(external_id, amount)| Split {
                    external_id,
                    amount: amount_to_wire(amount),
                })
                .collect()
        }),
    };
    tracing::debug!(
        order_ref,
        amount,
        sync_with_pos = sync,
        "EsnekPOS OrderReturn ({purpose})"
    );
    post(a, Endpoint::OrderReturn, &body)
}

/// An `OrderReturnPhysical` request: an Android POS cancel whose result
/// the device posts to `back_url`.
pub fn order_return_physical(
    a: &Account,
    order_ref: &str,
    back_url: &str,
) -> Result<HttpRequest, Error> {
    let body = PhysicalBody {
        merchant: &a.merchant,
        merchant_key: a.key(),
        back_url,
        order_ref,
    };
    tracing::debug!(
        order_ref,
        "EsnekPOS OrderReturnPhysical (Android POS cancel)"
    );
    post(a, Endpoint::OrderReturnPhysical, &body)
}

/// A `ProcessQuery` request about `order_ref`.
pub fn process_query(a: &Account, order_ref: &str) -> Result<HttpRequest, Error> {
    let body = QueryBody {
        merchant: &a.merchant,
        merchant_key: a.key(),
        order_ref,
    };
    post(a, Endpoint::ProcessQuery, &body)
}

/// An `AddSubMerchantAmount` request with `AMOUNT` already signed for the
/// account's convention.
pub fn add_sub_merchant_amount(
    a: &Account,
    order_ref: &str,
    external_id: &str,
    wire_amount: i64,
) -> Result<HttpRequest, Error> {
    let body = AdjustBody {
        merchant: &a.merchant,
        merchant_key: a.key(),
        order_ref,
        external_id,
        amount: amount_to_wire(wire_amount),
    };
    post(a, Endpoint::AddSubMerchantAmount, &body)
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
}
