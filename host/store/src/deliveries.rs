//! The outbox's rows: webhook routes, the event types, deliveries and
//! their attempts (the `impl Store` that writes and reads them is
//! `outbox.rs`).

use payops_core::Status;
use serde::Serialize;
use serde_json::Value;
use sqlx::{Any, Row};

use crate::model::{State, StoreError};

/// Where events go: a webhook's name and the events and accounts it wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRoute {
    /// The webhook's name (`[[webhooks]] name`).
    pub name: String,
    /// Event types (`operation.succeeded`, …, `operation.settled`) or `*`.
    pub events: Vec<String>,
    /// Account names, or `*` (an empty list means every account).
    pub accounts: Vec<String>,
}

impl WebhookRoute {
    pub(crate) fn wants(&self, account: &str, types: &[&str]) -> bool {
        let account_ok =
            self.accounts.is_empty() || self.accounts.iter().any(|a| a == "*" || a == account);
        account_ok
            && self
                .events
                .iter()
                .any(|e| e == "*" || types.contains(&e.as_str()))
    }
}

/// The event types one status change matches: `operation.<status>`, and
/// `operation.settled` when it settles an `unknown` or `pending` operation
/// with a final status.
pub fn event_types(status: Status, from: Option<State>) -> Vec<&'static str> {
    let mut t = vec![match status {
        Status::Succeeded => "operation.succeeded",
        Status::Failed => "operation.failed",
        Status::Pending => "operation.pending",
        Status::Unknown => "operation.unknown",
    }];
    if status.is_final() && matches!(from, Some(State::Unknown | State::Pending)) {
        t.push("operation.settled");
    }
    t
}

/// Every event type a webhook may subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "operation.succeeded",
    "operation.failed",
    "operation.pending",
    "operation.unknown",
    "operation.settled",
    "approval.requested",
    "approval.approved",
    "approval.rejected",
    "approval.expired",
];

/// The state of one event's delivery to one webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet; tried again at `next_attempt_ms`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up after the webhook's maximum age.
    Failed,
}

impl DeliveryState {
    /// As stored.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
    /// Parses a stored or typed state.
    pub fn parse(s: &str) -> Option<DeliveryState> {
        match s {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// One event's delivery to one webhook.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// The event id (`evt_…`): the same for every webhook, for receivers to
    /// deduplicate on.
    pub event_id: String,
    /// The webhook's name.
    pub webhook: String,
    /// The operation the event is about.
    pub operation_id: String,
    /// Its account.
    pub account: String,
    /// `operation.succeeded`, …
    pub event_type: String,
    /// The body sent: `{id, type, created_at, settled, data: envelope}`.
    pub payload: Value,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: i64,
    /// When the event was written (ms since the epoch, store clock).
    pub created_ms: i64,
    /// When it is due next (ms, store clock).
    pub next_attempt_ms: i64,
    /// The last answer's HTTP status.
    pub last_status: Option<i64>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was delivered (ms).
    pub delivered_ms: Option<i64>,
    /// The W3C `traceparent` of the change it reports, when traces were on.
    #[serde(skip)]
    pub traceparent: Option<String>,
}

/// One attempt at a delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// 1, 2, …
    pub attempt: i64,
    /// When (ms since the epoch, store clock).
    pub at_ms: i64,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i64>,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum AttemptResult {
    /// 2xx.
    Delivered(u16),
    /// Another status or a transport error; try again at this store time
    /// (ms), or give up when `None`.
    Retry {
        /// The HTTP status, if the receiver answered.
        status: Option<u16>,
        /// What went wrong.
        error: String,
        /// When to try again; `None` gives up (`failed`).
        next_attempt_ms: Option<i64>,
    },
}

pub(crate) const DELIVERY_COLUMNS: &str = "event_id, webhook, operation_id, account, event_type, payload, state, attempts, created_ms, next_attempt_ms, last_status, last_error, delivered_ms, traceparent";

pub(crate) fn delivery_row(r: &sqlx::any::AnyRow) -> Result<Delivery, StoreError> {
    let event_id: String = r.try_get("event_id")?;
    let corrupt = |reason: String| StoreError::Corrupt {
        id: event_id.clone(),
        reason,
    };
    let payload: String = r.try_get("payload")?;
    let state: String = r.try_get("state")?;
    Ok(Delivery {
        webhook: r.try_get("webhook")?,
        operation_id: r.try_get("operation_id")?,
        account: r.try_get("account")?,
        event_type: r.try_get("event_type")?,
        payload: serde_json::from_str(&payload).map_err(|e| corrupt(format!("payload: {e}")))?,
        state: DeliveryState::parse(&state).ok_or_else(|| corrupt(format!("state {state:?}")))?,
        attempts: r.try_get("attempts")?,
        created_ms: r.try_get("created_ms")?,
        next_attempt_ms: r.try_get("next_attempt_ms")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
        delivered_ms: r.try_get("delivered_ms")?,
        traceparent: r.try_get("traceparent")?,
        event_id,
    })
}

/// One webhook delivery to write with a status change.
#[derive(Debug)]
pub(crate) struct OutboxRow {
    pub(crate) event_id: String,
    pub(crate) webhook: String,
    pub(crate) operation_id: String,
    pub(crate) account: String,
    pub(crate) event_type: String,
    pub(crate) payload: String,
    pub(crate) traceparent: Option<String>,
}

impl OutboxRow {
    /// Binds the seven values in field order.
    pub(crate) fn bind<'q>(
        &self,
        q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
        q.bind(self.event_id.clone())
            .bind(self.webhook.clone())
            .bind(self.operation_id.clone())
            .bind(self.account.clone())
            .bind(self.event_type.clone())
            .bind(self.payload.clone())
            .bind(self.traceparent.clone())
    }
}

/// The insert of an [`OutboxRow`] (parameters 1–7 in its field order), with
/// `now` the store's SQL for "now" in milliseconds.
pub(crate) fn insert_sql(now: &str) -> String {
    format!(
        "INSERT INTO webhook_deliveries (event_id, webhook, operation_id, account, event_type, payload, traceparent, state, attempts, created_ms, next_attempt_ms, lease_until_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, {now}, {now}, 0)"
    )
}
