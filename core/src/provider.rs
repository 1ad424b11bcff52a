//! The host-facing interface: [`Provider`], the operation traits and the
//! [`OperationContext`] the host hands to every operation.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::http::{HttpTransport, Simulator};
use crate::outcome::Outcome;
use crate::secret::REDACTED;
use crate::types::{
    AccountName, CancelRequest, OperationId, OperationKind, QueryRequest, RefundRequest,
    SubMerchantAdjustRequest,
};

/// The JSON Schemas of one operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OperationSchemas {
    /// The request document.
    pub request: Value,
    /// The outcome envelope with this operation's `details`.
    pub response: Value,
}

/// What a provider is and can do, as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProviderInfo {
    /// Stable id used in config (`esnekpos`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The provider crate's version.
    pub version: String,
    /// The operations it supports.
    pub capabilities: Vec<OperationKind>,
    /// JSON Schema of its account config (secrets marked `writeOnly`).
    pub account_schema: Value,
    /// Schemas per supported operation.
    pub operations: BTreeMap<OperationKind, OperationSchemas>,
    /// The account config keys that identify the merchant at the provider
    /// (not secrets). Two accounts with the same values are the same
    /// merchant: a provider transaction proves at most one operation among
    /// them.
    #[serde(default)]
    pub merchant_identity: Vec<String>,
    /// Operations whose result the provider also posts later, to a URL the
    /// request document gives it (see [`CallbackSpec`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub callbacks: Vec<CallbackSpec>,
}

/// An operation whose outcome the provider posts later to a URL named in
/// the request document (e.g. EsnekPOS's `BACK_URL` for an Android POS
/// cancel). When the caller leaves the field out and the daemon has a
/// public URL, the host fills in a callback URL of its own, one per
/// operation; a callback it receives triggers a reconciliation by query
/// (it is never trusted alone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CallbackSpec {
    /// The operation.
    pub operation: OperationKind,
    /// The request document's field that carries the URL (e.g. `back_url`).
    pub field: String,
    /// A JSON Schema the document must match for the provider to post a
    /// result (e.g. only `channel: android_pos`); absent: always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Value>,
}

impl ProviderInfo {
    /// The callback of `op`, if the provider posts one.
    pub fn callback(&self, op: OperationKind) -> Option<&CallbackSpec> {
        self.callbacks.iter().find(|c| c.operation == op)
    }

    /// True when the provider supports `op`.
    pub fn supports(&self, op: OperationKind) -> bool {
        self.capabilities.contains(&op)
    }

    /// The account config keys the account schema marks as credentials
    /// (`writeOnly: true`). Their `*_file` alternatives are paths, not secrets.
    pub fn secret_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        if let Some(props) = self
            .account_schema
            .get("properties")
            .and_then(Value::as_object)
        {
            for (k, v) in props {
                if v.get("writeOnly") == Some(&Value::Bool(true)) {
                    keys.push(k.clone());
                }
            }
        }
        keys
    }
}

/// An account's provider-specific config with credentials resolved.
///
/// `Debug` redacts the keys listed as secret; [`AccountConfig::secret_values`]
/// gives the host what to scrub from everything a provider returns.
#[derive(Clone, PartialEq)]
pub struct AccountConfig {
    values: serde_json::Map<String, Value>,
    secret_keys: Vec<String>,
}

impl AccountConfig {
    /// Wraps config values; `secret_keys` are the credential keys.
    pub fn new(values: serde_json::Map<String, Value>, secret_keys: Vec<String>) -> AccountConfig {
        AccountConfig {
            values,
            secret_keys,
        }
    }

    /// The values, credentials included. Only for handing to the provider.
    pub fn expose(&self) -> &serde_json::Map<String, Value> {
        &self.values
    }

    /// The credential values (strings), for scrubbing.
    pub fn secret_values(&self) -> Vec<String> {
        self.secret_keys
            .iter()
            .filter_map(|k| self.values.get(k))
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    }

    /// The values with every credential replaced by `[REDACTED]`.
    pub fn redacted(&self) -> serde_json::Map<String, Value> {
        let mut m = self.values.clone();
        for k in &self.secret_keys {
            if let Some(v) = m.get_mut(k) {
                *v = Value::String(REDACTED.into());
            }
        }
        m
    }
}

impl fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AccountConfig")
            .field(&self.redacted())
            .finish()
    }
}

/// Everything the host hands to one operation.
#[derive(Clone)]
pub struct OperationContext {
    /// The operation's id.
    pub operation_id: OperationId,
    /// The account's name.
    pub account_name: AccountName,
    /// The account's config, credentials resolved.
    pub account: AccountConfig,
    /// The host's transport.
    pub transport: Arc<dyn HttpTransport>,
    /// The host's clock reading when the operation started (+03:00 is typical).
    pub now: DateTime<FixedOffset>,
    /// The caller's idempotency key, when one was given. The operation id is
    /// always there and is one per intent: prefer it as the provider-side
    /// idempotency key.
    pub idempotency_key: Option<String>,
    /// A host-made random value (32 hex digits), fresh for every execution:
    /// for providers that want a nonce per request (the host owns
    /// randomness, as it owns the clock).
    pub nonce: String,
}

impl fmt::Debug for OperationContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationContext")
            .field("operation_id", &self.operation_id)
            .field("account_name", &self.account_name)
            .field("account", &self.account)
            .field("now", &self.now)
            .field("idempotency_key", &self.idempotency_key)
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

/// Refund a payment, fully or partly.
#[async_trait::async_trait]
pub trait Refund: Send + Sync {
    /// Performs the refund.
    async fn refund(
        &self,
        ctx: &OperationContext,
        request: RefundRequest,
    ) -> Result<Outcome, Error>;
}

/// Cancel (void) a payment.
#[async_trait::async_trait]
pub trait Cancel: Send + Sync {
    /// Performs the cancel.
    async fn cancel(
        &self,
        ctx: &OperationContext,
        request: CancelRequest,
    ) -> Result<Outcome, Error>;
}

/// Query a payment.
#[async_trait::async_trait]
pub trait Query: Send + Sync {
    /// Performs the inquiry.
    async fn query(&self, ctx: &OperationContext, request: QueryRequest) -> Result<Outcome, Error>;
}

/// Adjust a marketplace sub-merchant's balance.
#[async_trait::async_trait]
pub trait SubMerchantAdjust: Send + Sync {
    /// Performs the adjustment.
    async fn sub_merchant_adjust(
        &self,
        ctx: &OperationContext,
        request: SubMerchantAdjustRequest,
    ) -> Result<Outcome, Error>;
}

fn parse<T: serde::de::DeserializeOwned>(document: Value) -> Result<T, Error> {
    serde_json::from_value(document).map_err(|e| Error::invalid_field("", e.to_string()))
}

/// A payment provider as the host sees it.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// Id, name, version, capabilities and schemas.
    fn info(&self) -> &ProviderInfo;

    /// The refund operation, if supported.
    fn refund(&self) -> Option<&dyn Refund> {
        None
    }
    /// The cancel operation, if supported.
    fn cancel(&self) -> Option<&dyn Cancel> {
        None
    }
    /// The query operation, if supported.
    fn query(&self) -> Option<&dyn Query> {
        None
    }
    /// The sub-merchant adjustment, if supported.
    fn sub_merchant_adjust(&self) -> Option<&dyn SubMerchantAdjust> {
        None
    }

    /// A fresh simulator of this provider with its demo data.
    fn simulator(&self) -> Result<Box<dyn Simulator>, Error>;

    /// Runs `op` with an untyped request document (already schema-validated by
    /// the host) through the typed operation traits.
    async fn execute(
        &self,
        op: OperationKind,
        ctx: &OperationContext,
        document: Value,
    ) -> Result<Outcome, Error> {
        let unsupported =
            || Error::UnsupportedOperation(format!("{} does not support {op}", self.info().id));
        match op {
            OperationKind::Refund => {
                let t = self.refund().ok_or_else(unsupported)?;
                t.refund(ctx, parse(document)?).await
            }
            OperationKind::Cancel => {
                let t = self.cancel().ok_or_else(unsupported)?;
                t.cancel(ctx, parse(document)?).await
            }
            OperationKind::Query => {
                let t = self.query().ok_or_else(unsupported)?;
                t.query(ctx, parse(document)?).await
            }
            OperationKind::SubMerchantAdjust => {
                let t = self.sub_merchant_adjust().ok_or_else(unsupported)?;
                t.sub_merchant_adjust(ctx, parse(document)?).await
            }
        }
    }
}
