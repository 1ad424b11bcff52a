//! The Sipay account config and request documents, with their JSON
//! Schemas. The same API serves Sipay, PayBull and IQmoney: the account's
//! `base_url` says which.

use payops_core::{Currency, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Default per-request timeout (inferred: Sipay's pages name none).
pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;

/// A Sipay account (`[accounts.<name>]`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [
    {"base_url": "https://provisioning.sipay.com.tr", "app_id": "YOUR-APP-ID", "app_secret": "YOUR-APP-SECRET", "merchant_key": "YOUR-MERCHANT-KEY"}
]))]
#[schemars(title = "Sipay account")]
pub struct Account {
    /// Base URL
    ///
    /// The API root (default `https://app.sipay.com.tr`; Sipay's test environment is `https://provisioning.sipay.com.tr`; PayBull and IQmoney serve the same API at their own hosts). The services are under `/ccpayment/api/`.
    #[serde(default)]
    #[schemars(extend("format" = "uri"))]
    pub base_url: Option<String>,
    /// App id
    ///
    /// Wire `app_id`: the application id Sipay gave (merchant panel, API settings). Identifies the merchant; not a secret.
    #[schemars(length(min = 1, max = 64))]
    pub app_id: String,
    /// App secret
    ///
    /// Wire `app_secret`: sent for the token and with every refund, and the key of every `hash_key`. Never logged or shown.
    pub app_secret: Secret,
    /// Merchant key
    ///
    /// Wire `merchant_key`: the merchant's key (merchant panel). Never logged or shown.
    pub merchant_key: Secret,
    /// Refund webhook key
    ///
    /// Wire `refund_web_hook_key`: the name of the refund webhook URL set in Sipay's merchant panel, for Sipay to post the refund's approval to (set there this account's callback URL: `payops config check` shows it). Optional.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub refund_web_hook_key: Option<String>,
    /// Timeout (ms)
    ///
    /// Per-request timeout in milliseconds (default 60000).
    #[serde(default)]
    #[schemars(range(min = 100, max = 600000))]
    pub timeout_ms: Option<u64>,
}

/// A refund of part or all of an order. Sipay itself makes it a cancel
/// (same day, no earlier partial refund) or a refund.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [{"order_ref": "c9fa2586-89f5-4898-a6b6-34554fbe1c89", "amount": 1000}]))]
#[schemars(title = "Sipay refund")]
pub struct RefundDoc {
    /// Order reference
    ///
    /// Wire `invoice_id`: the merchant's id of the paid invoice.
    #[schemars(length(min = 1, max = 100), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub order_ref: String,
    /// Amount (minor units)
    ///
    /// Wire `amount` (a decimal with a point, `1050` → `10.50`): at most what remains of the invoice.
    #[schemars(range(min = 1))]
    pub amount: i64,
    /// Currency
    ///
    /// The payment's currency (not sent: Sipay refunds in the invoice's own; it fixes the decimals).
    #[serde(default)]
    pub currency: Currency,
}

/// The invoice's status (Check Status).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [{"order_ref": "1678796307PAYBULL"}]))]
#[schemars(title = "Sipay query")]
pub struct QueryDoc {
    /// Order reference
    ///
    /// Wire `invoice_id`.
    #[schemars(length(min = 1, max = 100), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub order_ref: String,
}

/// Money back: Sipay's refund service cancels on the payment's day (no
/// earlier partial refund) and refunds otherwise, by itself, so a
/// `return` is a refund (of all that remains when `amount` is absent).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [{"order_ref": "1678796307PAYBULL"}, {"order_ref": "1678796307PAYBULL", "amount": 1000}]))]
#[schemars(title = "Sipay return")]
pub struct ReturnDoc {
    /// Order reference
    ///
    /// Wire `invoice_id`.
    #[schemars(length(min = 1, max = 100), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub order_ref: String,
    /// Amount (minor units)
    ///
    /// The amount to return; absent: all that remains (the status check's amount less its `total_refunded_amount`).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub amount: Option<i64>,
    /// Currency
    ///
    /// The payment's currency (fixes the decimals).
    #[serde(default)]
    pub currency: Currency,
}
