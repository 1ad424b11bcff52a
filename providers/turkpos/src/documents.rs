//! TurkPos account config and request documents, with their JSON Schemas,
//! and the checks on them that a schema cannot express.

use payops_core::{Call, Error, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Default per-request timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// TurkPos environments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// `https://test-dmz.param.com.tr/turkpos.ws/service_turkpos_test.asmx` (publishes the marketplace methods).
    #[default]
    Test,
    /// `https://posws.param.com.tr/turkpos.ws/service_turkpos_prod.asmx`.
    Production,
}

impl Environment {
    /// The service URL.
    pub fn url(&self) -> &'static str {
        match self {
            Environment::Test => {
                "https://test-dmz.param.com.tr/turkpos.ws/service_turkpos_test.asmx"
            }
            Environment::Production => {
                "https://posws.param.com.tr/turkpos.ws/service_turkpos_prod.asmx"
            }
        }
    }
}

/// TurkPos account
///
/// One merchant's TurkPos / Param credentials and endpoint.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("allOf" = [
    {"if": {"not": {"required": ["base_url"]}}, "then": {"required": ["environment"]}}
]))]
#[schemars(extend("examples" = [
    {"environment": "test", "client_code": "10738", "client_username": "Test", "client_password_file": "/run/credentials/payops.service/turkpos-password", "guid_file": "/run/credentials/payops.service/turkpos-guid"}
]))]
#[schemars(title = "TurkPos account")]
pub struct Account {
    /// Environment
    ///
    /// `test` (https://test-dmz.param.com.tr/turkpos.ws/service_turkpos_test.asmx) or `production` (https://posws.param.com.tr/turkpos.ws/service_turkpos_prod.asmx). Required unless `base_url` is given: an account never falls back to the test endpoint by omission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Service URL override
    ///
    /// Replaces the environment's service URL (e.g. a simulator on loopback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "uri"))]
    pub base_url: Option<String>,
    /// Timeout (ms)
    ///
    /// Per-request timeout in milliseconds (default 30000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 600000))]
    pub timeout_ms: Option<u64>,
    /// Client code
    ///
    /// Wire `G/CLIENT_CODE`: the terminal id (up to 5 digits), e.g. `10738`.
    #[schemars(regex(pattern = r"^[0-9]{1,5}$"))]
    pub client_code: String,
    /// Client username
    ///
    /// Wire `G/CLIENT_USERNAME` (at most 16 characters).
    #[schemars(length(min = 1, max = 16))]
    pub client_username: String,
    /// Client password
    ///
    /// Wire `G/CLIENT_PASSWORD` (at most 11 characters, as Param documents). Secret.
    #[schemars(length(min = 1, max = 11))]
    pub client_password: Secret,
    /// Merchant GUID
    ///
    /// Wire `GUID`: the merchant key, a GUID of 36 characters (e.g. `0c13d406-873b-403b-9c09-a5766840d98c`). Secret.
    #[schemars(
        length(min = 36, max = 36),
        regex(
            pattern = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
        )
    )]
    pub guid: Secret,
    /// Default order type
    ///
    /// `marketplace` (`Pazaryeri_TP_Iptal_Iade`, the default, as in payops 0.1.0) or `standard` (`TP_Islem_Iptal_Iade_Kismi2`, Param's cancel and refund for merchants that are not marketplaces): used when a refund or cancel document has no `order_type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_order_type: Option<OrderType>,
}

/// Order type
///
/// Which of Param's cancel/refund methods an order goes through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    /// A marketplace order
    ///
    /// Sent as Param's `Pazaryeri_TP_Iptal_Iade`; needs `marketplace_order_guid` and `seller_payout_amount`.
    #[default]
    Marketplace,
    /// A standard (non-marketplace) order
    ///
    /// Sent as Param's `TP_Islem_Iptal_Iade_Kismi2` (`Siparis_ID` and `Tutar` only).
    Standard,
}

/// Reads the call's account and refuses one that cannot work: no
/// environment nor service URL, no password, no GUID.
pub fn account(call: &Call) -> Result<Account, Error> {
    let a: Account = serde_json::from_value(Value::Object(call.account.clone()))
        .map_err(|e| Error::invalid_field("/account", format!("TurkPos account: {e}")))?;
    if a.environment.is_none() && a.base_url.is_none() {
        return Err(Error::invalid_field(
            "/account/environment",
            "TurkPos account has no environment (test or production) and no base_url",
        ));
    }
    if a.client_password.is_empty() {
        return Err(Error::invalid_field(
            "/account/client_password",
            "TurkPos account has an empty client_password",
        ));
    }
    if a.guid.is_empty() {
        return Err(Error::invalid_field(
            "/account/guid",
            "TurkPos account has an empty guid",
        ));
    }
    Ok(a)
}

impl Account {
    /// `G/CLIENT_PASSWORD` as it goes on the wire.
    pub fn password(&self) -> &str {
        self.client_password.expose()
    }

    /// The merchant `GUID` as it goes on the wire.
    pub fn guid(&self) -> &str {
        self.guid.expose()
    }

    /// The service URL.
    pub fn url(&self) -> String {
        self.base_url
            .clone()
            .unwrap_or_else(|| self.environment.unwrap_or_default().url().to_owned())
    }
}

/// Currency
///
/// TurkPos marketplace amounts are Turkish lira; only `TRY` is accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Lira {
    /// Turkish lira.
    #[default]
    TRY,
}

/// TurkPos refund or cancel
///
/// A marketplace order (`Pazaryeri_TP_Iptal_Iade`; give `amount` for a partial return, or `whole_order: true` to return the whole marketplace order, every connected vendor's part) or a standard order (`TP_Islem_Iptal_Iade_Kismi2`; `amount` is required, and a cancel must name the whole amount). `Durum` is `IADE` for a refund (orders of earlier days) and `IPTAL` for a cancel (same-day orders).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("allOf" = [
    {"if": {"properties": {"whole_order": {"const": true}}, "required": ["whole_order"]},
     "then": {"not": {"required": ["amount"]}, "properties": {"seller_payout_amount": {"const": 0}}},
     "else": {"required": ["amount"]}},
    {"if": {"properties": {"order_type": {"const": "standard"}}, "required": ["order_type"]},
     "then": {"properties": {"marketplace_order_guid": false, "whole_order": false, "seller_payout_amount": false}}},
    {"if": {"properties": {"order_type": {"const": "marketplace"}}, "required": ["order_type"]},
     "then": {"required": ["marketplace_order_guid"],
              "if": {"required": ["amount"]}, "then": {"required": ["seller_payout_amount"]}}}
]))]
#[schemars(extend("examples" = [
    {"order_ref": "siparis54", "marketplace_order_guid": "A4683F02-3259-4C94-8BF8-47D33A5626D8", "amount": 3000, "seller_payout_amount": 1000},
    {"order_ref": "siparis54", "marketplace_order_guid": "A4683F02-3259-4C94-8BF8-47D33A5626D8", "whole_order": true},
    {"order_ref": "siparis54", "order_type": "standard", "amount": 3000}
]))]
#[schemars(title = "TurkPos return (refund or cancel)")]
pub struct ReturnDoc {
    /// Order id
    ///
    /// Wire `Siparis_ID`: the order id of the payment (from `Pos_Odeme`).
    #[schemars(length(min = 1, max = 50))]
    pub order_ref: String,
    /// Order type
    ///
    /// `marketplace` or `standard`; omitted: the account's `default_order_type` (marketplace unless the account says otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_type: Option<OrderType>,
    /// Marketplace order GUID
    ///
    /// Wire `PYSiparis_GUID`: the marketplace order (from `Pazaryeri_TP_Siparis_Detay_Ekle`), a UUID. Marketplace orders only (required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "uuid"), length(min = 36, max = 36))]
    pub marketplace_order_guid: Option<String>,
    /// Amount (kuruş)
    ///
    /// Marketplace: wire `SiparisTutar` (lira, `30.00`). Standard: wire `Tutar` (lira; for a cancel, the whole amount). The amount to return, in minor units. Required unless `whole_order` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub amount: Option<i64>,
    /// Whole order
    ///
    /// Marketplace orders only. Return the whole marketplace order: sends `SiparisTutar` 0, which per Param cancels or refunds every connected vendor's order. Not with `amount`. The seller payout is then 0 (inferred from the rules: nothing is left to pay any vendor).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub whole_order: bool,
    /// Currency
    ///
    /// Always `TRY`.
    #[serde(default)]
    pub currency: Lira,
    /// Seller payout (kuruş)
    ///
    /// Marketplace orders only. Wire `OdenecekTutar` (lira): what the seller is paid after this operation, in minor units. Not greater than the order amount. Required with `amount`; with `whole_order` it is 0 (may be omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub seller_payout_amount: Option<i64>,
}

/// TurkPos query
///
/// `TP_Islem_Sorgulama4`: Param's transaction inquiry by order id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [{"order_ref": "siparis54"}]))]
#[schemars(title = "TurkPos query")]
pub struct QueryDoc {
    /// Order id
    ///
    /// Wire `Siparis_ID`.
    #[schemars(length(min = 1, max = 50))]
    pub order_ref: String,
}
