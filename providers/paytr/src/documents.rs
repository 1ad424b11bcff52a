//! The PayTR account config and request documents, with their JSON
//! Schemas.

use payops_core::{Currency, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Default per-request timeout (PayTR's samples wait 90 s).
pub const DEFAULT_TIMEOUT_MS: u64 = 90_000;

/// A PayTR account (`[accounts.<name>]`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [
    {"merchant_id": "123456", "merchant_key": "YOUR-MERCHANT-KEY", "merchant_salt": "YOUR-MERCHANT-SALT"}
]))]
#[schemars(title = "PayTR account")]
pub struct Account {
    /// Base URL
    ///
    /// PayTR's API root (default `https://www.paytr.com`; the refund is `/odeme/iade`, the status query `/odeme/durum-sorgu`).
    #[serde(default)]
    #[schemars(extend("format" = "uri"))]
    pub base_url: Option<String>,
    /// Merchant id
    ///
    /// Wire `merchant_id`: the store number PayTR gave. Identifies the merchant; not a secret.
    #[schemars(length(min = 1, max = 16), regex(pattern = r"^[0-9]+$"))]
    pub merchant_id: String,
    /// Merchant key
    ///
    /// The HMAC key of every `paytr_token` (Merchant Panel, integration information). Never sent, logged or shown.
    pub merchant_key: Secret,
    /// Merchant salt
    ///
    /// Appended to what every `paytr_token` signs. Never sent, logged or shown.
    pub merchant_salt: Secret,
    /// Timeout (ms)
    ///
    /// Per-request timeout in milliseconds (default 90000, as PayTR's samples).
    #[serde(default)]
    #[schemars(range(min = 100, max = 600000))]
    pub timeout_ms: Option<u64>,
}

/// A refund of part or all of an order (İade).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [{"order_ref": "SIP20240001", "amount": 1197}]))]
#[schemars(title = "PayTR refund")]
pub struct RefundDoc {
    /// Order reference
    ///
    /// Wire `merchant_oid`: the order as it was paid (alphanumeric, as PayTR takes it).
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9]+$"))]
    pub order_ref: String,
    /// Amount (minor units)
    ///
    /// Wire `return_amount` (a decimal with a point, `1197` → `11.97`): at most what remains of the order.
    #[schemars(range(min = 1))]
    pub amount: i64,
    /// Currency
    ///
    /// The payment's currency (not sent: PayTR refunds in the order's own; it fixes the decimals).
    #[serde(default)]
    pub currency: Currency,
}

/// The order's status (Durum Sorgu).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [{"order_ref": "SIP20240001"}]))]
#[schemars(title = "PayTR query")]
pub struct QueryDoc {
    /// Order reference
    ///
    /// Wire `merchant_oid`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9]+$"))]
    pub order_ref: String,
}

/// Money back: PayTR has no cancel, so a `return` is a refund (of all
/// that remains when `amount` is absent).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [{"order_ref": "SIP20240001"}, {"order_ref": "SIP20240001", "amount": 1197}]))]
#[schemars(title = "PayTR return")]
pub struct ReturnDoc {
    /// Order reference
    ///
    /// Wire `merchant_oid`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9]+$"))]
    pub order_ref: String,
    /// Amount (minor units)
    ///
    /// The amount to refund; absent: all that remains (the status query's `payment_amount` less its completed returns).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub amount: Option<i64>,
    /// Currency
    ///
    /// The payment's currency (fixes the decimals).
    #[serde(default)]
    pub currency: Currency,
}
