//! The account config and request documents of EsnekPOS, with their JSON
//! Schemas (each field's description names its wire key), and the checks
//! on them that a schema cannot express.

use payops_core::{Call, Error, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Default per-request timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// EsnekPOS environments and their documented base URLs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// `https://posservicetest.esnekpos.com`
    #[default]
    Test,
    /// `https://posservice.esnekpos.com`
    Production,
}

impl Environment {
    /// The documented base URL.
    pub fn base_url(&self) -> &'static str {
        match self {
            Environment::Test => "https://posservicetest.esnekpos.com",
            Environment::Production => "https://posservice.esnekpos.com",
        }
    }
}

/// EsnekPOS account
///
/// One merchant's EsnekPOS credentials and endpoint.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend(
    "if" = {"not": {"required": ["base_url"]}},
    "then" = {"required": ["environment"]},
    "examples" = [
        {"environment": "test", "merchant": "TEST1234", "merchant_key_file": "/run/credentials/payops.service/esnekpos-key", "sub_merchant_sign": "reduce_is_negative"}
    ]
))]
#[schemars(title = "EsnekPOS account")]
pub struct Account {
    /// Environment
    ///
    /// `test` (https://posservicetest.esnekpos.com) or `production` (https://posservice.esnekpos.com). Required unless `base_url` is given: an account never falls back to the test endpoint by omission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Base URL override
    ///
    /// Replaces the environment's base URL (e.g. a simulator on loopback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "uri"))]
    pub base_url: Option<String>,
    /// Timeout (ms)
    ///
    /// Per-request timeout in milliseconds (default 30000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 600000))]
    pub timeout_ms: Option<u64>,
    /// Merchant
    ///
    /// Wire `MERCHANT`: the merchant's unique credential, e.g. `TEST1234`.
    #[schemars(length(min = 1, max = 64))]
    pub merchant: String,
    /// Merchant key
    ///
    /// Wire `MERCHANT_KEY`: the merchant's secret key. Never logged or shown.
    pub merchant_key: Secret,
    /// Sub-merchant AMOUNT sign
    ///
    /// Which wire sign of AddSubMerchantAmount's `AMOUNT` reduces a store's credit on this account. EsnekPOS's page reads both ways (its title and table say `AMOUNT` is the amount to be reduced; its sample sends `-5` and answers "5,00 ₺ alt mağaza alacağına eklenmiştir", added to the store's receivable): confirm against EsnekPOS's test environment. Required for `sub_merchant_adjust`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_merchant_sign: Option<SignConvention>,
}

/// Sub-merchant AMOUNT sign
///
/// Which wire sign of AddSubMerchantAmount's `AMOUNT` reduces a store's credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignConvention {
    /// A positive AMOUNT reduces the store's credit, a negative one increases it: the page's title and table ("the amount to be reduced"), and its sample read literally (`-5` answered "5,00 ₺ ... eklenmiştir", added).
    ReduceIsPositive,
    /// A negative AMOUNT reduces the store's credit, a positive one increases it: the sample's `-5` read as a reduction (the answer's wording taken as generic).
    ReduceIsNegative,
}

/// Sub-merchant adjustment direction
///
/// What happens to the store's credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Reduce the store's credit by `amount`.
    Reduce,
    /// Increase the store's credit by `amount`.
    Increase,
}

/// The one place that maps a direction to `AMOUNT`'s wire sign (kuruş).
pub fn wire_amount(direction: Direction, amount: i64, convention: SignConvention) -> i64 {
    let reduce_sign = match convention {
        SignConvention::ReduceIsPositive => 1,
        SignConvention::ReduceIsNegative => -1,
    };
    match direction {
        Direction::Reduce => reduce_sign * amount,
        Direction::Increase => -reduce_sign * amount,
    }
}

/// Reads the call's account and refuses one that cannot work: no
/// environment nor base URL, no merchant key.
pub fn account(call: &Call) -> Result<Account, Error> {
    let a: Account = serde_json::from_value(Value::Object(call.account.clone()))
        .map_err(|e| Error::invalid_field("/account", format!("EsnekPOS account: {e}")))?;
    if a.environment.is_none() && a.base_url.is_none() {
        return Err(Error::invalid_field(
            "/account/environment",
            "EsnekPOS account has no environment (test or production) and no base_url",
        ));
    }
    if a.merchant_key.is_empty() {
        return Err(Error::invalid_field(
            "/account/merchant_key",
            "EsnekPOS account has an empty merchant_key",
        ));
    }
    Ok(a)
}

/// The longest order reference payops sends: generous, since EsnekPOS's
/// own references run past 24 characters (the ProcessQuery sample's
/// `9.54251311 1595848596|999` has 25).
pub const MAX_ORDER_REF: usize = 64;

/// OrderReturnPhysical documents `ORDER_REF_NUMBER` as "Maksimum 24 karakter".
pub const MAX_ORDER_REF_PHYSICAL: usize = 24;

/// Checks an order reference's length (1 to `max` characters); `what`
/// says which request it is for.
pub fn order_ref_within(r: &str, max: usize, what: &str) -> Result<(), Error> {
    if r.is_empty() || r.chars().count() > max {
        return Err(Error::invalid_field(
            "/order_ref",
            format!("ORDER_REF_NUMBER must be 1 to {max} characters{what}"),
        ));
    }
    Ok(())
}

/// Checks an order reference against [`MAX_ORDER_REF`].
pub fn order_ref(r: &str) -> Result<(), Error> {
    order_ref_within(r, MAX_ORDER_REF, "")
}

/// The refund's sub-merchant split as (id, kuruş) pairs, checked: every
/// share positive, their sum at most the refund. An empty list is no split
/// (forms start lists empty).
pub fn refund_split(doc: &RefundDoc) -> Result<Option<Vec<(String, i64)>>, Error> {
    let list = match &doc.sub_merchants {
        None => return Ok(None),
        Some(list) if list.is_empty() => return Ok(None),
        Some(list) => list,
    };
    let mut total: i64 = 0;
    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        if s.amount <= 0 {
            return Err(Error::invalid_field(
                format!("/sub_merchants/{i}/amount"),
                "must be greater than 0",
            ));
        }
        total = total
            .checked_add(s.amount)
            .ok_or_else(|| Error::invalid_field("/sub_merchants", "amounts overflow"))?;
        out.push((s.sub_merchant_id.clone(), s.amount));
    }
    if total > doc.amount {
        return Err(Error::invalid_field(
            "/sub_merchants",
            format!(
                "the split ({total}) exceeds the refund amount ({})",
                doc.amount
            ),
        ));
    }
    Ok(Some(out))
}

impl Account {
    /// `MERCHANT_KEY` as it goes on the wire.
    pub fn key(&self) -> &str {
        self.merchant_key.expose()
    }

    /// The base URL without a trailing slash.
    pub fn base(&self) -> String {
        self.base_url
            .as_deref()
            .unwrap_or(self.environment.unwrap_or_default().base_url())
            .trim_end_matches('/')
            .to_owned()
    }
}

/// Currency
///
/// EsnekPOS amounts are Turkish lira; only `TRY` is accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Lira {
    /// Turkish lira.
    #[default]
    TRY,
}

/// A store's share of a marketplace refund.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubMerchantShare {
    /// Sub-merchant id
    ///
    /// Wire `SubMerchantDetails[].EXTERNAL_ID`: the store's id in the marketplace's system.
    #[schemars(length(min = 1, max = 64))]
    pub sub_merchant_id: String,
    /// Amount (kuruş)
    ///
    /// Wire `SubMerchantDetails[].AMOUNT` (in lira): the store's part of the refund, in minor units.
    #[schemars(range(min = 1))]
    pub amount: i64,
}

/// EsnekPOS refund
///
/// Refunds a payment fully or partly: `POST api/services/OrderReturn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [
    {"order_ref": "0.54251300 1595848596|93", "amount": 1250},
    {"order_ref": "0.54251300 1595848596|93", "amount": 1000, "sub_merchants": [{"sub_merchant_id": "EXTERNAL_ID1", "amount": 1000}]}
]))]
#[schemars(title = "EsnekPOS refund")]
pub struct RefundDoc {
    /// Order reference
    ///
    /// Wire `ORDER_REF_NUMBER`: the merchant's reference of the payment, as EsnekPOS issued it (e.g. `9.54251311 1595848596|999`; at most 64 characters).
    #[schemars(length(min = 1, max = 64))]
    pub order_ref: String,
    /// Amount (kuruş)
    ///
    /// Wire `AMOUNT` (in lira): the amount to refund, in minor units (1250 = 12,50 TL).
    #[schemars(range(min = 1))]
    pub amount: i64,
    /// Currency
    ///
    /// Always `TRY`.
    #[serde(default)]
    pub currency: Lira,
    /// Sync with POS
    ///
    /// Wire `SYNC_WITH_POS`: refund synchronously with the bank (default true); `false` records the request for EsnekPOS operations and the outcome is `pending`.
    #[serde(default = "yes")]
    pub sync_with_pos: bool,
    /// Sub-merchant split
    ///
    /// Wire `SubMerchantDetails`: how the refund is split between marketplace stores (an empty list, or none, sends no split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_merchants: Option<Vec<SubMerchantShare>>,
}

fn yes() -> bool {
    true
}

/// Cancel channel
///
/// `online` (OrderReturn) or `android_pos` (OrderReturnPhysical).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// An online payment: `OrderReturn`.
    #[default]
    Online,
    /// A payment taken on an Android POS: `OrderReturnPhysical`.
    AndroidPos,
}

/// EsnekPOS cancel
///
/// Cancels a payment: `OrderReturn` for online payments (without `amount`, the whole remaining amount, found with `ProcessQuery` first), `OrderReturnPhysical` for Android POS payments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend(
    "if" = {"properties": {"channel": {"const": "android_pos"}}, "required": ["channel"]},
    "then" = {"not": {"required": ["amount"]}, "properties": {"order_ref": {"type": "string", "maxLength": 24}}},
    "examples" = [
        {"order_ref": "0.54251300 1595848596|93"},
        {"order_ref": "412", "channel": "android_pos", "back_url": "https://shop.example/payops/back"}
    ]
))]
#[schemars(title = "EsnekPOS cancel")]
pub struct CancelDoc {
    /// Order reference
    ///
    /// Wire `ORDER_REF_NUMBER` (at most 64 characters; at most 24 with `android_pos`, as OrderReturnPhysical documents).
    #[schemars(length(min = 1, max = 64))]
    pub order_ref: String,
    /// Amount (kuruş)
    ///
    /// The amount to cancel, in minor units (1250 = 12,50 TL), sent as wire `AMOUNT` in lira. Omitted: the whole remaining amount. Not allowed with `android_pos`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub amount: Option<i64>,
    /// Currency
    ///
    /// Always `TRY`.
    #[serde(default)]
    pub currency: Lira,
    /// Sync with POS
    ///
    /// Wire `SYNC_WITH_POS` (online only, default true).
    #[serde(default = "yes")]
    pub sync_with_pos: bool,
    /// Channel
    ///
    /// `online` (default, `OrderReturn`) or `android_pos` (`OrderReturnPhysical`).
    #[serde(default)]
    pub channel: Channel,
    /// Back URL
    ///
    /// Wire `BACK_URL`: where EsnekPOS posts the Android POS cancel result. With `android_pos`: give it, or leave it out when the daemon has `server.public_url` (payops then gives EsnekPOS a callback URL of its own); without either the request is refused with `/back_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "uri"), length(min = 1, max = 512))]
    pub back_url: Option<String>,
}

/// EsnekPOS query
///
/// Transaction inquiry: `POST api/services/ProcessQuery`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [{"order_ref": "0.54251300 1595848596|93"}]))]
#[schemars(title = "EsnekPOS query")]
pub struct QueryDoc {
    /// Order reference
    ///
    /// Wire `ORDER_REF_NUMBER`, as EsnekPOS issued it (at most 64 characters).
    #[schemars(length(min = 1, max = 64))]
    pub order_ref: String,
}

/// EsnekPOS sub-merchant adjustment
///
/// Changes a marketplace store's credit on an order: `POST api/services/AddSubMerchantAmount`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [
    {"order_ref": "0.54251300 1595848596|93", "sub_merchant_id": "EXTERNAL_ID1", "direction": "reduce", "amount": 500}
]))]
#[schemars(title = "EsnekPOS sub-merchant adjustment")]
pub struct AdjustDoc {
    /// Order reference
    ///
    /// Wire `ORDER_REF_NUMBER` (at most 64 characters).
    #[schemars(length(min = 1, max = 64))]
    pub order_ref: String,
    /// Sub-merchant id
    ///
    /// Wire `EXTERNAL_ID`: the store's id in the marketplace's system.
    #[schemars(length(min = 1, max = 64))]
    pub sub_merchant_id: String,
    /// Direction
    ///
    /// `reduce` or `increase` the store's credit. The account's `sub_merchant_sign` says which wire sign of `AMOUNT` that is.
    pub direction: Direction,
    /// Amount (kuruş)
    ///
    /// How much the store's credit changes, in minor units, positive (500 = 5 TL). Sent as `AMOUNT` in lira with the sign the account's `sub_merchant_sign` gives `direction`.
    #[schemars(range(min = 1))]
    pub amount: i64,
    /// Currency
    ///
    /// Always `TRY`.
    #[serde(default)]
    pub currency: Lira,
}

/// Money back: EsnekPOS's `OrderReturn` is its return/cancellation
/// service (it cancels or refunds by itself), so a `return` is sent as a
/// refund (of all that remains when `amount` is absent).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = [{"order_ref": "0.54251300 1595848596|93"}, {"order_ref": "0.54251300 1595848596|93", "amount": 1250}]))]
#[schemars(title = "EsnekPOS return")]
pub struct ReturnDoc {
    /// Order reference
    ///
    /// Wire `ORDER_REF_NUMBER` (at most 64 characters).
    #[schemars(length(min = 1, max = 64))]
    pub order_ref: String,
    /// Amount (kuruş)
    ///
    /// The amount to return; absent: all that remains (ProcessQuery's amount less its refunds).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub amount: Option<i64>,
    /// Sync with POS
    ///
    /// Wire `SYNC_WITH_POS` (default true).
    #[serde(default = "yes")]
    pub sync_with_pos: bool,
}
