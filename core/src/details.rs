//! Typed `details` shared by every provider's query outcome (contract.md:
//! `payment_status`, `amount`, `currency`, `installment`, `payment_date`,
//! `transactions[]`), plus the envelope's JSON Schema.

use chrono::{DateTime, FixedOffset};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::money::Currency;

/// The state of a payment as a query found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Paid and not (fully) returned.
    Succeeded,
    /// Paid, then partly refunded.
    PartiallyRefunded,
    /// Fully refunded.
    Refunded,
    /// Cancelled (voided).
    Cancelled,
    /// Not completed yet (e.g. awaiting 3-D Secure).
    Pending,
    /// The payment failed.
    Failed,
    /// The provider reported a state payops does not know.
    Unknown,
}

/// `details` of a `query` outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QueryDetails {
    /// Normalized state of the payment.
    pub payment_status: PaymentStatus,
    /// The provider's own status text for the payment, as sent.
    pub provider_payment_status: Option<String>,
    /// Payment amount in minor units.
    pub amount: Option<i64>,
    /// Currency of every amount here.
    pub currency: Currency,
    /// Number of installments.
    pub installment: Option<u32>,
    /// When the payment was made (+03:00).
    pub payment_date: Option<DateTime<FixedOffset>>,
    /// Total returned so far, in minor units, where the provider reports it.
    pub refunded_amount: Option<i64>,
    /// The order reference the provider's answer names (each provider's
    /// documentation names the field it comes from).
    #[serde(default)]
    pub order_ref: Option<String>,
    /// The payment's transactions (sale, cancel, refund...).
    pub transactions: Vec<Transaction>,
    /// Provider-specific fields that have no common meaning.
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// What this answer tells the order ledger: paid, and the returns as
    /// the provider lists them (each one, only their total, or nothing).
    /// `None` in answers stored by versions before the ledger.
    #[serde(default)]
    pub ledger: Option<OrderFacts>,
}

impl QueryDetails {
    /// The details of a query of `order_ref` in `currency` that says
    /// nothing yet: status `unknown`, every amount, date and list empty.
    pub fn new(order_ref: &str, currency: Currency) -> QueryDetails {
        QueryDetails {
            payment_status: PaymentStatus::Unknown,
            provider_payment_status: None,
            amount: None,
            currency,
            installment: None,
            payment_date: None,
            refunded_amount: None,
            order_ref: Some(order_ref.to_owned()),
            transactions: Vec::new(),
            extra: Default::default(),
            ledger: None,
        }
    }

    /// Sets `transactions`, which list each return, `classify` saying which
    /// rows are returns (see [`OrderFacts::listing`]; [`returns_by_status`]
    /// reads the rows' statuses): `refunded_amount` becomes the sum of the
    /// succeeded refunds, the ledger's facts the listing, and a payment
    /// whose status is `succeeded` becomes `cancelled` when a cancel
    /// succeeded, `refunded` when the refunds reach `amount`, or
    /// `partially_refunded`.
    pub fn listing(
        mut self,
        transactions: Vec<Transaction>,
        classify: impl Fn(usize, &Transaction) -> Option<(ReturnKind, ReturnState)>,
    ) -> QueryDetails {
        self.transactions = transactions;
        let mut facts = OrderFacts::listing(&self, classify);
        let done = |k| {
            facts
                .returns
                .iter()
                .filter(move |r| r.kind == k && r.state == ReturnState::Succeeded)
        };
        let refunded: i64 = done(ReturnKind::Refund).filter_map(|r| r.amount).sum();
        let cancelled = done(ReturnKind::Cancel).next().is_some();
        self.refunded_amount = Some(refunded);
        if self.payment_status == PaymentStatus::Succeeded {
            self.payment_status = match self.amount {
                _ if cancelled => PaymentStatus::Cancelled,
                Some(p) if refunded >= p => PaymentStatus::Refunded,
                _ if refunded > 0 => PaymentStatus::PartiallyRefunded,
                _ => PaymentStatus::Succeeded,
            };
        }
        facts.payment_status = self.payment_status;
        facts.returned_total = self.refunded_amount;
        self.ledger = Some(facts);
        self
    }
}

/// The return a row records, read from its status alone: a succeeded or
/// failed cancel or refund; any other row is not a return.
pub fn returns_by_status(_: usize, t: &Transaction) -> Option<(ReturnKind, ReturnState)> {
    match t.status {
        TransactionStatus::CancelSucceeded => Some((ReturnKind::Cancel, ReturnState::Succeeded)),
        TransactionStatus::CancelFailed => Some((ReturnKind::Cancel, ReturnState::Failed)),
        TransactionStatus::RefundSucceeded => Some((ReturnKind::Refund, ReturnState::Succeeded)),
        TransactionStatus::RefundFailed => Some((ReturnKind::Refund, ReturnState::Failed)),
        _ => None,
    }
}

/// One transaction of a payment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Transaction {
    /// The provider's transaction id.
    pub transaction_id: Option<String>,
    /// The provider's numeric status id, where it has one.
    pub status_id: Option<i64>,
    /// Normalized meaning of the status id.
    pub status: TransactionStatus,
    /// The provider's status name as sent.
    pub status_name: Option<String>,
    /// Amount in minor units.
    pub amount: Option<i64>,
    /// When it happened (+03:00).
    pub date: Option<DateTime<FixedOffset>>,
    /// The payout of this transaction to the merchant.
    pub merchant_transfer: Option<MerchantTransfer>,
    /// Marketplace splits of this transaction.
    #[serde(default)]
    pub sub_merchants: Vec<SubMerchantSplit>,
}

/// Normalized transaction kinds / states (each provider's documentation maps
/// its own statuses onto these).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransactionStatus {
    /// Waiting.
    Pending,
    /// Waiting for 3-D Secure.
    Awaiting3ds,
    /// A payment that succeeded.
    PaymentSucceeded,
    /// A payment that failed.
    PaymentFailed,
    /// A cancel that succeeded.
    CancelSucceeded,
    /// A cancel that failed.
    CancelFailed,
    /// A refund that succeeded.
    RefundSucceeded,
    /// A refund that failed.
    RefundFailed,
    /// A status payops does not know.
    #[default]
    Unknown,
}

/// A payout to the merchant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MerchantTransfer {
    /// The provider's statement / transfer id.
    pub extract_id: Option<String>,
    /// Amount in minor units.
    pub amount: Option<i64>,
    /// When it was (or will be) paid out.
    pub date: Option<DateTime<FixedOffset>>,
}

/// One sub-merchant's share of a transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubMerchantSplit {
    /// The sub-merchant (store) id.
    pub sub_merchant_id: Option<String>,
    /// Amount in minor units.
    pub amount: Option<i64>,
    /// Date of the split.
    pub date: Option<DateTime<FixedOffset>>,
    /// Its payout, if any.
    pub transfer: Option<MerchantTransfer>,
}

// The order ledger's facts (re-exported as `payops_core::ledger`: see
// that module's documentation).
/// How a provider's query lists an order's returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnsListed {
    /// Every return, one row each (with its transaction id where the
    /// provider gives one, amount, date and state).
    EachReturn,
    /// Only the total returned: a floor for what is refunded, nothing to
    /// attribute to an operation.
    TotalOnly,
    /// Nothing about returns (the query is about the payment only).
    #[default]
    NotListed,
}

/// A cancel (void) or a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnKind {
    /// A cancel (void): the payment reversed, usually the same day.
    Cancel,
    /// A refund.
    Refund,
}

/// The state of a listed return, by the provider's status table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnState {
    /// Done: the money went back.
    Succeeded,
    /// Accepted, not done yet (queued, under review): money at risk.
    Pending,
    /// Declined: no money moved.
    Failed,
    /// A row after the sale whose status payops does not know: it may be a
    /// return that moved money, so it counts as at risk.
    Unknown,
}

/// One return the provider lists for the order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListedReturn {
    /// The provider's transaction id of the return, where it gives one.
    pub transaction_id: Option<String>,
    /// Cancel or refund.
    pub kind: ReturnKind,
    /// Its state.
    pub state: ReturnState,
    /// Amount in minor units (of the order's currency).
    pub amount: Option<i64>,
    /// When it happened, by the provider's clock (+03:00).
    pub date: Option<DateTime<FixedOffset>>,
}

/// What a query says about an order, for the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderFacts {
    /// The order the answer names.
    pub order_ref: Option<String>,
    /// The payment's state.
    pub payment_status: PaymentStatus,
    /// What was paid, in minor units; `None` when the answer does not say.
    pub paid: Option<i64>,
    /// The currency of every amount here.
    pub currency: Currency,
    /// How the returns are listed.
    pub listed: ReturnsListed,
    /// The returns, one row each ([`ReturnsListed::EachReturn`]).
    #[serde(default)]
    pub returns: Vec<ListedReturn>,
    /// The provider's own total of what was returned, where it gives one:
    /// what is refunded is at least this.
    pub returned_total: Option<i64>,
}

impl OrderFacts {
    /// The facts of a provider that lists every return: `classify` says,
    /// for each transaction (with its index in the answer), whether it is
    /// a return and in which state (`None`: not a return, e.g. the sale).
    pub fn listing(
        details: &QueryDetails,
        classify: impl Fn(usize, &Transaction) -> Option<(ReturnKind, ReturnState)>,
    ) -> OrderFacts {
        let returns = details
            .transactions
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                classify(i, t).map(|(kind, state)| ListedReturn {
                    transaction_id: t.transaction_id.clone(),
                    kind,
                    state,
                    amount: t.amount,
                    date: t.date,
                })
            })
            .collect();
        OrderFacts {
            listed: ReturnsListed::EachReturn,
            returns,
            ..OrderFacts::not_listed(details)
        }
    }

    /// The facts of a provider that gives only the total returned
    /// ([`QueryDetails::refunded_amount`]).
    pub fn totals(details: &QueryDetails) -> OrderFacts {
        OrderFacts {
            listed: ReturnsListed::TotalOnly,
            ..OrderFacts::not_listed(details)
        }
    }

    /// The facts of a provider whose query says nothing about returns:
    /// only what was paid.
    pub fn not_listed(details: &QueryDetails) -> OrderFacts {
        OrderFacts {
            order_ref: details.order_ref.clone(),
            payment_status: details.payment_status,
            paid: details.amount,
            currency: details.currency,
            listed: ReturnsListed::NotListed,
            returns: Vec::new(),
            returned_total: details.refunded_amount,
        }
    }

    /// The total of the listed returns in `state` (`None` when an amount
    /// is missing or the sum overflows: it cannot be counted exactly).
    pub fn listed_total(&self, state: ReturnState) -> Option<i64> {
        self.returns
            .iter()
            .filter(|r| r.state == state)
            .try_fold(0i64, |acc, r| acc.checked_add(r.amount?))
    }
}

/// The JSON Schema of the outcome envelope with the given `details` schema,
/// which binds when the status is `succeeded` (`if`/`then`); other statuses
/// carry whatever object the provider or transport gave.
///
/// The `details` schema's `$defs` move to the envelope's root, where its
/// `#/$defs/...` references point once it is nested under `properties`.
pub fn envelope_schema(title: &str, mut details: serde_json::Value) -> serde_json::Value {
    use serde_json::json;
    let defs = details
        .as_object_mut()
        .and_then(|d| {
            d.remove("$schema");
            d.remove("$defs")
        })
        .unwrap_or_else(|| json!({}));
    let nullable = |title: &str, desc: &str| json!({"type": ["string", "null"], "title": title, "description": desc});
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "description": "The outcome envelope of one operation (contract.md).",
        "$defs": defs,
        "type": "object",
        "required": ["operation_id", "account", "provider", "operation", "status",
                     "provider_reference", "provider_code", "provider_message", "reason",
                     "idempotency_key", "started_at", "finished_at", "details", "raw"],
        "properties": {
            "operation_id": {"type": "string", "title": "Operation id", "description": "Generated by payops (op_...)."},
            "account": {"type": "string", "title": "Account", "description": "The account the operation used."},
            "provider": {"type": "string", "title": "Provider", "description": "The provider id."},
            "operation": {"type": "string", "title": "Operation", "enum": ["refund", "cancel", "query", "sub_merchant_adjust", "return"], "description": "The operation."},
            "status": {"type": "string", "title": "Status", "enum": ["succeeded", "pending", "failed", "unknown"],
                       "description": "succeeded: done; pending: accepted, not complete; failed: not done; unknown: may have been done, reconcile before retrying."},
            "provider_reference": nullable("Provider reference", "The provider's reference for the operation (its transaction, receipt or refund id; each provider's documentation names the field)."),
            "provider_code": nullable("Provider code", "The provider's result or error code as text, as the provider sent it."),
            "provider_message": nullable("Provider message", "The provider's message, as the provider sent it."),
            "reason": {"type": ["string", "null"], "title": "Reason",
                       "enum": [null, "authentication", "not_found", "invalid_request", "amount_exceeds_remaining", "already_cancelled", "not_allowed_today", "limit", "declined", "refused", "conflict", "unreachable", "timeout", "connection_lost", "provider_error", "order_mismatch", "interrupted", "not_processed", "operator", "unknown"],
                       "description": "Why the operation is not succeeded, from one closed set shared by every provider (set for failed and unknown, null otherwise); provider_code and provider_message keep what the provider said."},
            "idempotency_key": nullable("Idempotency key", "The caller's Idempotency-Key."),
            "started_at": {"type": "string", "format": "date-time", "title": "Started at", "description": "RFC 3339."},
            "finished_at": {"type": "string", "format": "date-time", "title": "Finished at", "description": "RFC 3339."},
            "details": {"type": "object", "title": "Details",
                        "description": "Operation-specific fields: for a succeeded operation as described under `then`; for any other status what the provider (or the transport) said, with no fixed shape."},
            "raw": {"title": "Raw response", "description": "The provider's response as received, credentials removed."}
        },
        // Only a succeeded outcome promises the operation's details shape: a
        // refused inquiry or a lost answer has none of its fields.
        "if": {"properties": {"status": {"const": "succeeded"}}},
        "then": {"properties": {"details": details}}
    })
}

/// The JSON Schema (2020-12) of `T`, with [`titled`] and [`portable`]
/// applied: what every provider exports for its account config and request
/// documents.
pub fn schema_of<T: JsonSchema>() -> serde_json::Value {
    portable(titled(
        serde_json::to_value(schemars::schema_for!(T)).unwrap_or(serde_json::Value::Null),
    ))
}

/// [`schema_of`] for a request document or an account config: an optional
/// field is left out to say nothing, never `null` (serde would read `null`
/// as absent and skip the schema's rules for a present field), so `null` is
/// removed from the types of properties that are not required.
pub fn input_schema_of<T: JsonSchema>() -> serde_json::Value {
    let mut schema = schema_of::<T>();
    each_object(&mut schema, &mut |map| {
        let required = required_of(map);
        let Some(props) = map.get_mut("properties").and_then(|p| p.as_object_mut()) else {
            return;
        };
        for (name, prop) in props.iter_mut() {
            if required.contains(name) {
                continue;
            }
            if let Some(types) = prop.get_mut("type").and_then(|t| t.as_array_mut()) {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types[0].clone();
                    prop["type"] = only;
                }
            }
            // `#[serde(default)]` on an Option: `default: null`, which a
            // form would fill in and the type refuses.
            if prop.get("default") == Some(&serde_json::Value::Null)
                && let Some(m) = prop.as_object_mut()
            {
                m.remove("default");
            }
            // `Option<Enum>`: `anyOf: [{$ref}, {type: null}]`.
            if let Some(any) = prop.get_mut("anyOf").and_then(|a| a.as_array_mut()) {
                any.retain(|b| b.get("type") != Some(&serde_json::json!("null")));
                // One branch left, a `$ref`: the reference itself, beside
                // the property's title and description (an `anyOf` of one
                // is drawn by form generators as a choice, its title twice).
                if let [only] = any.as_slice()
                    && let Some(r) = only.get("$ref").cloned()
                    && only.as_object().is_some_and(|o| o.len() == 1)
                    && let Some(m) = prop.as_object_mut()
                {
                    m.remove("anyOf");
                    m.insert("$ref".into(), r);
                }
            }
        }
    });
    schema
}

/// Calls `f` on every schema object of `v`, parents before children.
fn each_object(
    v: &mut serde_json::Value,
    f: &mut dyn FnMut(&mut serde_json::Map<String, serde_json::Value>),
) {
    match v {
        serde_json::Value::Object(map) => {
            f(map);
            for (key, child) in map.iter_mut() {
                // Instances, not schemas.
                if !matches!(key.as_str(), "examples" | "const" | "default" | "enum") {
                    each_object(child, f);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|c| each_object(c, f)),
        _ => {}
    }
}

/// The names a schema object's `required` lists.
fn required_of(map: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    map.get("required")
        .and_then(|r| r.as_array())
        .map(|r| {
            r.iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The largest integer a JSON number carries exactly in every consumer
/// (2^53 - 1; a browser rounds above it).
pub const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

/// Makes a schema mean the same to every 2020-12 validator and drawable by
/// form generators, recursively:
/// - the non-standard formats schemars emits for Rust integers (`int64`,
///   `uint32`, …) become bounds (`minimum: 0` for unsigned, and at most
///   ±(2^53 - 1), so no integer a browser would round is valid);
/// - `format: password` goes (not a JSON Schema format; `writeOnly` marks a
///   credential);
/// - an enum written as `oneOf` constants gets their shared `type` at its
///   own level (form generators cannot tell what field to draw otherwise);
/// - a conditional branch's `required` properties are defined in that
///   branch (as `true`), as strict validators (Ajv's strictRequired) ask.
pub fn portable(mut schema: serde_json::Value) -> serde_json::Value {
    each_object(&mut schema, &mut |map| {
        let format = map
            .get("format")
            .and_then(|f| f.as_str())
            .map(str::to_owned);
        if let Some(f) = format {
            let int = [
                "int8", "int16", "int32", "int64", "int", "uint8", "uint16", "uint32", "uint64",
                "uint",
            ];
            if int.contains(&f.as_str()) {
                map.remove("format");
                let low = if f.starts_with('u') {
                    0
                } else {
                    -MAX_SAFE_INTEGER
                };
                let min = map
                    .get("minimum")
                    .and_then(|m| m.as_i64())
                    .map_or(low, |m| m.max(low));
                let max = map
                    .get("maximum")
                    .and_then(|m| m.as_i64())
                    .map_or(MAX_SAFE_INTEGER, |m| m.min(MAX_SAFE_INTEGER));
                map.insert("minimum".into(), min.into());
                map.insert("maximum".into(), max.into());
            } else if f == "password" {
                map.remove("format");
            }
        }
        if !map.contains_key("type") {
            let branches = map
                .get("oneOf")
                .or_else(|| map.get("anyOf"))
                .and_then(|b| b.as_array());
            if let Some(bs) = branches {
                let types: Vec<&serde_json::Value> = bs
                    .iter()
                    .filter(|b| b.get("const").is_some())
                    .filter_map(|b| b.get("type"))
                    .collect();
                if !bs.is_empty() && types.len() == bs.len() && types.iter().all(|t| *t == types[0])
                {
                    let t = types[0].clone();
                    map.insert("type".into(), t);
                }
            }
        }
        let required = required_of(map);
        if !required.is_empty() {
            let props = map
                .entry("properties")
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            if let Some(props) = props.as_object_mut() {
                for k in required {
                    props.entry(k).or_insert(serde_json::Value::Bool(true));
                }
            }
        }
    });
    schema
}

/// Gives every schema object with a `description` a `title`, the way form
/// generators expect: a description written as "Title\n\nText" is split into
/// `title` "Title" and `description` "Text"; a one-paragraph description
/// also becomes the title. Applied recursively (properties, `$defs`, items).
pub fn titled(mut schema: serde_json::Value) -> serde_json::Value {
    each_object(&mut schema, &mut |map| {
        if let Some(serde_json::Value::String(desc)) = map.get("description").cloned() {
            match (
                map.get("title").and_then(|t| t.as_str()),
                desc.split_once("\n\n"),
            ) {
                // A title given apart, and the description repeating it.
                (Some(title), Some((first, rest))) if first.trim() == title => {
                    map.insert("description".into(), rest.trim().into());
                }
                (Some(_), _) => {}
                (None, Some((title, rest))) => {
                    map.insert("title".into(), title.trim().into());
                    map.insert("description".into(), rest.trim().into());
                }
                (None, None) => {
                    let title = desc.trim().trim_end_matches('.').to_owned();
                    map.insert("title".into(), title.into());
                }
            }
        }
        // Titles are plain text (a form shows them as labels): no Markdown
        // code marks.
        if let Some(serde_json::Value::String(t)) = map.get_mut("title")
            && t.contains('`')
        {
            *t = t.replace('`', "");
        }
    });
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `#/...` reference in `v`, resolved against `root`.
    fn dangling(root: &serde_json::Value, v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x.as_str()) {
                        ("$ref", Some(r)) if r.starts_with("#/") => {
                            if root.pointer(&r[1..]).is_none() {
                                out.push(r.to_owned());
                            }
                        }
                        _ => dangling(root, x, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| dangling(root, x, out)),
            _ => {}
        }
    }

    #[test]
    fn envelope_references_resolve() {
        let e = envelope_schema("Query outcome", schema_of::<QueryDetails>());
        let mut out = Vec::new();
        dangling(&e, &e, &mut out);
        assert!(out.is_empty(), "{out:?}");
        for name in [
            "Currency",
            "Transaction",
            "TransactionStatus",
            "PaymentStatus",
        ] {
            assert!(e["$defs"].get(name).is_some(), "{name}");
        }
        assert!(e["properties"]["details"].get("$defs").is_none());
    }

    #[test]
    fn titles_come_from_the_first_paragraph() {
        let s = titled(serde_json::json!({
            "description": "Refund\n\nRefunds a payment.",
            "properties": {"a": {"description": "Amount"}, "b": {"title": "B", "description": "x\n\ny"}}
        }));
        assert_eq!(s["title"], "Refund");
        assert_eq!(s["description"], "Refunds a payment.");
        assert_eq!(s["properties"]["a"]["title"], "Amount");
        assert_eq!(s["properties"]["b"]["title"], "B");
        assert_eq!(s["properties"]["b"]["description"], "x\n\ny");
        let s = titled(serde_json::json!({
            "title": "EsnekPOS refund",
            "description": "EsnekPOS refund\n\nRefunds `OrderReturn`.",
            "oneOf": [{"const": "test", "description": "`https://test.example` (test)."}]
        }));
        assert_eq!(s["description"], "Refunds `OrderReturn`.", "not repeated");
        assert_eq!(s["oneOf"][0]["title"], "https://test.example (test)");
    }
}

#[cfg(test)]
mod ledger_tests {
    use super::*;

    fn details(transactions: Vec<Transaction>, refunded: Option<i64>) -> QueryDetails {
        QueryDetails {
            payment_status: PaymentStatus::PartiallyRefunded,
            provider_payment_status: None,
            amount: Some(10_000),
            currency: Currency::TRY,
            installment: None,
            payment_date: None,
            refunded_amount: refunded,
            order_ref: Some("A-1".into()),
            transactions,
            extra: Default::default(),
            ledger: None,
        }
    }

    fn row(id: &str, status: TransactionStatus, amount: Option<i64>) -> Transaction {
        Transaction {
            transaction_id: Some(id.into()),
            status_id: None,
            status,
            status_name: None,
            amount,
            date: None,
            merchant_transfer: None,
            sub_merchants: Vec::new(),
        }
    }

    #[test]
    fn listing_keeps_what_the_provider_classifies_as_returns() {
        let d = details(
            vec![
                row("S", TransactionStatus::PaymentSucceeded, Some(10_000)),
                row("R1", TransactionStatus::RefundSucceeded, Some(1_000)),
                row("R2", TransactionStatus::Pending, Some(500)),
                row("R3", TransactionStatus::RefundFailed, Some(700)),
            ],
            None,
        );
        let f = OrderFacts::listing(&d, |i, t| match t.status {
            TransactionStatus::RefundSucceeded => {
                Some((ReturnKind::Refund, ReturnState::Succeeded))
            }
            TransactionStatus::RefundFailed => Some((ReturnKind::Refund, ReturnState::Failed)),
            TransactionStatus::Pending if i > 0 => Some((ReturnKind::Refund, ReturnState::Pending)),
            _ => None,
        });
        let ids: Vec<_> = f
            .returns
            .iter()
            .map(|r| r.transaction_id.as_deref().unwrap())
            .collect();
        assert_eq!(ids, ["R1", "R2", "R3"]);
        assert_eq!(f.listed_total(ReturnState::Succeeded), Some(1_000));
        assert_eq!(f.listed_total(ReturnState::Pending), Some(500));
        assert_eq!(f.paid, Some(10_000));
        // An amount missing: the total cannot be counted.
        let d = details(
            vec![row("R", TransactionStatus::RefundSucceeded, None)],
            None,
        );
        let f = OrderFacts::listing(&d, |_, _| {
            Some((ReturnKind::Refund, ReturnState::Succeeded))
        });
        assert_eq!(f.listed_total(ReturnState::Succeeded), None);
    }

    #[test]
    fn totals_and_nothing_listed() {
        let d = details(Vec::new(), Some(2_500));
        let t = OrderFacts::totals(&d);
        assert_eq!(
            (t.listed, t.returned_total),
            (ReturnsListed::TotalOnly, Some(2_500))
        );
        assert!(t.returns.is_empty());
        let n = OrderFacts::not_listed(&d);
        assert_eq!(n.listed, ReturnsListed::NotListed);
        // Written and read back as the envelope carries it.
        let back: OrderFacts = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
        assert_eq!(back, t);
        assert_eq!(serde_json::to_value(&t).unwrap()["listed"], "total_only");
    }
}
