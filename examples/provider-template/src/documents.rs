//! The account config and request documents: what an operator writes in
//! payops.toml and what a caller sends. Their JSON Schemas (derived here)
//! are what payops validates and exports; every credential is a
//! [`Secret`] (the schema marks it `writeOnly`, and payops derives a
//! `NAME_file` alternative for it).

use payops_core::{Currency, Secret};
use schemars::JsonSchema;
use serde::Deserialize;

/// Default per-request timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// The account config (`[accounts.<name>]` in payops.toml).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Acme Pay account")]
pub struct Account {
    /// Base URL
    ///
    /// The API root, e.g. `https://api.acmepay.example`.
    #[schemars(extend("format" = "uri"))]
    pub base_url: String,
    /// API key
    ///
    /// The secret key, sent as `Authorization: Bearer`. Never logged or shown.
    pub api_key: Secret,
    /// Timeout (ms)
    ///
    /// Per-request timeout in milliseconds (default 30000).
    #[serde(default)]
    #[schemars(range(min = 100, max = 600000))]
    pub timeout_ms: Option<u64>,
}

/// A refund: part or all of a captured payment.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Acme Pay refund")]
pub struct RefundDoc {
    /// Order reference
    ///
    /// The payment's id at Acme Pay.
    #[schemars(length(min = 1, max = 64))]
    pub order_ref: String,
    /// Amount (minor units)
    ///
    /// The amount to refund, in minor units (1250 = 12.50).
    #[schemars(range(min = 1))]
    pub amount: i64,
    /// Currency
    ///
    /// The payment's currency.
    #[serde(default)]
    pub currency: Currency,
}

/// A cancel (void) of a whole payment, or a query of one.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Acme Pay payment")]
pub struct PaymentDoc {
    /// Order reference
    ///
    /// The payment's id at Acme Pay.
    #[schemars(length(min = 1, max = 64))]
    pub order_ref: String,
}
