//! The NestPay account config and request documents, with their JSON
//! Schemas.

use payops_core::{Currency, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Default per-request timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// The bank whose NestPay (EST) virtual POS an account is on: each bank
/// has a host of its own, the API is the same.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Bank {
    /// Asseco's integration (test) host, `entegrasyon.asseco-see.com.tr`.
    Test,
    /// Akbank, `www.sanalakpos.com`.
    Akbank,
    /// İşbank, `sanalpos.isbank.com.tr`.
    Isbank,
    /// Halkbank, `sanalpos.halkbank.com.tr`.
    Halkbank,
    /// Ziraat Bankası, `sanalpos2.ziraatbank.com.tr`.
    Ziraat,
    /// TEB, `sanalpos.teb.com.tr`.
    Teb,
    /// Şekerbank, `sanalpos.sekerbank.com.tr`.
    Sekerbank,
    /// QNB Finansbank, `www.fbwebpos.com`.
    Finansbank,
}

/// A NestPay account (`[accounts.<name>]`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [
    {"bank": "akbank", "client_id": "100100000", "name": "APIUSER", "password": "YOUR-API-PASSWORD"}
]))]
#[schemars(title = "NestPay account")]
pub struct Account {
    /// Bank
    ///
    /// Whose virtual POS: `test`, `akbank`, `isbank`, `halkbank`, `ziraat`, `teb`, `sekerbank` or `finansbank` (each its own host, path `/fim/api`). Required unless `base_url` is given.
    #[serde(default)]
    pub bank: Option<Bank>,
    /// API URL override
    ///
    /// Replaces the bank's API URL (e.g. a simulator on loopback): the full URL requests are posted to.
    #[serde(default)]
    #[schemars(extend("format" = "uri"))]
    pub base_url: Option<String>,
    /// Client id
    ///
    /// Wire `ClientId`: the merchant (store) number the bank gave. Identifies the merchant; not a secret.
    #[schemars(length(min = 1, max = 32))]
    pub client_id: String,
    /// API user
    ///
    /// Wire `Name`: the API user created in the bank's merchant panel.
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    /// API password
    ///
    /// Wire `Password`: the API user's password. Never logged or shown.
    pub password: Secret,
    /// End of day
    ///
    /// The bank's daily cutoff (`HH:MM`, Turkish time; default `00:00`, midnight): a payment can be voided until it, refunded only after it. Banks differ; `return` chooses by it.
    #[serde(default)]
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub end_of_day: Option<String>,
    /// Timeout (ms)
    ///
    /// Per-request timeout in milliseconds (default 30000).
    #[serde(default)]
    #[schemars(range(min = 100, max = 600000))]
    pub timeout_ms: Option<u64>,
}

/// A refund (`Type` `Credit`) of part or all of a settled order.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [{"order_ref": "20221030B3FF", "amount": 1050}]))]
#[schemars(title = "NestPay refund")]
pub struct RefundDoc {
    /// Order reference
    ///
    /// Wire `OrderId`: the order as it was paid.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub order_ref: String,
    /// Amount (minor units)
    ///
    /// Wire `Total` (a decimal): the amount to refund, in minor units (1050 = 10.50). At most what remains; the bank refunds only orders past end of day (before it, cancel).
    #[schemars(range(min = 1))]
    pub amount: i64,
    /// Currency
    ///
    /// Wire `Currency` (ISO 4217 numeric, 949 for TRY): the payment's currency.
    #[serde(default)]
    pub currency: Currency,
}

/// A cancel (`Type` `Void`) of a whole order, on the day it was paid.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [{"order_ref": "20221030B3FF"}]))]
#[schemars(title = "NestPay cancel")]
pub struct CancelDoc {
    /// Order reference
    ///
    /// Wire `OrderId`: the order to void (before end of day; after it, refund).
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub order_ref: String,
}

/// The order's history (`Extra` `ORDERHISTORY` `QUERY`).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [{"order_ref": "20221030B3FF"}]))]
#[schemars(title = "NestPay query")]
pub struct QueryDoc {
    /// Order reference
    ///
    /// Wire `OrderId`: the order to read.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub order_ref: String,
    /// Currency
    ///
    /// The payment's currency (the history does not say it; default TRY).
    #[serde(default)]
    pub currency: Currency,
}

/// Money back, as a void or a refund: `return` chooses by NestPay's rule
/// (see the request schema's description).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [{"order_ref": "20221030B3FF"}, {"order_ref": "20221030B3FF", "amount": 1050}]))]
#[schemars(title = "NestPay return")]
pub struct ReturnDoc {
    /// Order reference
    ///
    /// Wire `OrderId`: the order as it was paid.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub order_ref: String,
    /// Amount (minor units)
    ///
    /// The amount to return (1050 = 10.50); absent: all that remains.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub amount: Option<i64>,
    /// Currency
    ///
    /// The payment's currency (default TRY).
    #[serde(default)]
    pub currency: Currency,
}
