//! The iyzico account config and request documents, with their JSON
//! Schemas.

use payops_core::{Error, Secret};
use schemars::JsonSchema;
use serde::Deserialize;

/// Default per-request timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

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
    pub secret_key: Secret,
    /// Timeout (ms)
    ///
    /// Per-request timeout in milliseconds (default 30000).
    #[serde(default)]
    #[schemars(range(min = 100, max = 600000))]
    pub timeout_ms: Option<u64>,
}

/// The currencies iyzico takes (each with two decimals).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, Deserialize, JsonSchema)]
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
    /// The ISO 4217 code iyzico takes.
    pub fn code(self) -> &'static str {
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

impl Account {
    /// The API's base URL without a trailing slash.
    pub fn base(&self) -> Result<String, Error> {
        match (&self.base_url, self.environment) {
            (Some(url), _) => Ok(url.trim_end_matches('/').to_owned()),
            (None, Some(Environment::Sandbox)) => Ok("https://sandbox-api.iyzipay.com".into()),
            (None, Some(Environment::Production)) => Ok("https://api.iyzipay.com".into()),
            (None, None) => Err(Error::invalid_field(
                "/environment",
                "give environment (sandbox | production) or base_url",
            )),
        }
    }
}

/// Money back: iyzico's payment detail carries no date, so payops cannot
/// tell the payment's day from it: a `return` is a refund of one payment
/// transaction (allowed any day).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [{"order_ref": "11223344"}, {"order_ref": "11223344", "payment_transaction_id": "55667788", "amount": 1250}]))]
#[schemars(title = "iyzico return")]
pub struct ReturnDoc {
    /// Order reference
    ///
    /// The payment's `paymentId` at iyzico.
    #[schemars(length(min = 1, max = 64))]
    pub order_ref: String,
    /// Payment transaction id
    ///
    /// The basket item to refund; absent: the payment's only item (a payment of several items needs it).
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub payment_transaction_id: Option<String>,
    /// Amount (minor units)
    ///
    /// The amount to refund; absent: the item's whole `paidPrice`.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub amount: Option<i64>,
    /// Currency
    ///
    /// The payment's currency.
    #[serde(default)]
    pub currency: IyzicoCurrency,
    /// Client IP
    ///
    /// Wire `ip` (optional).
    #[serde(default)]
    #[schemars(length(min = 1, max = 45))]
    pub ip: Option<String>,
}
