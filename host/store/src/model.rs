//! What the store holds: operations, their states and events, the values
//! an intent and an answer write, list filters and cursors, and the
//! store's errors. No SQL runs here.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use payops_core::{Envelope, Status};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("store: {0}")]
    Db(#[from] sqlx::Error),
    /// SQLite failed on the hot path (intents, answers, the order guard).
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A group commit failed: none of its writes is recorded.
    #[error("store: {0}")]
    Write(String),
    /// A stored value could not be read.
    #[error("store: corrupt row {id}: {reason}")]
    Corrupt {
        /// Operation id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// A schema migration failed.
    #[error("store: migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A store that must exist does not (path).
    #[error("store: no store at {0} (nothing has been recorded there; check store.url)")]
    Missing(String),
    /// The store has migrations this build does not know: a newer payops
    /// migrated it.
    #[error(
        "store: migrated by a newer payops (migrations {0:?} are unknown to this build): run that version, or restore a backup taken before it"
    )]
    Newer(Vec<i64>),
    /// The URL is not `sqlite://…` or `postgres://…`.
    #[error("store: unsupported url {0:?} (use sqlite://PATH or postgres://…)")]
    Url(String),
}

impl StoreError {
    /// What a client may read of the failure: its kind, never the
    /// database's own text (statement positions, values, `at line 948`),
    /// which goes to the log.
    pub fn public(&self) -> String {
        match self {
            StoreError::Db(sqlx::Error::Database(d)) => match d.code() {
                Some(c) => format!("the database refused a statement (SQLSTATE {c})"),
                None => "the database refused a statement".into(),
            },
            StoreError::Db(
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_),
            ) => "the database cannot be reached".into(),
            StoreError::Db(_) => "the database failed".into(),
            StoreError::Sqlite(e) => match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DiskFull) => "SQLite: the disk is full".into(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    "SQLite: the database is busy".into()
                }
                Some(rusqlite::ErrorCode::ReadOnly) => "SQLite: the database is read-only".into(),
                Some(rusqlite::ErrorCode::CannotOpen) => {
                    "SQLite: the database cannot be opened".into()
                }
                _ => "SQLite failed".into(),
            },
            StoreError::Write(_) => "a write failed (none of its rows was recorded)".into(),
            StoreError::Corrupt { id, .. } => {
                format!("a stored row cannot be read (operation {id})")
            }
            StoreError::Migrate(_) => "the store's migrations failed".into(),
            other @ (StoreError::Missing(_) | StoreError::Newer(_) | StoreError::Url(_)) => {
                other.to_string()
            }
        }
    }
}

/// A store failure as the contract's error: `unavailable` (503), "operation
/// store: …" with the failure's kind (its full text is logged), so a caller
/// may try again.
impl From<StoreError> for payops_core::Error {
    fn from(e: StoreError) -> payops_core::Error {
        tracing::error!(error = %e, "operation store");
        payops_core::Error::Unavailable(format!("operation store: {}", e.public()))
    }
}

#[cfg(test)]
mod public_tests {
    use super::*;

    /// A client reads the failure's kind, never the database's words.
    #[test]
    fn a_store_error_shows_its_kind_not_the_databases_text() {
        let full = StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full at line 948 of INSERT INTO operations".into()),
        ));
        let e: payops_core::Error = full.into();
        let said = e.to_string();
        assert!(said.contains("the disk is full"), "{said}");
        assert!(
            !said.contains("line 948") && !said.contains("INSERT"),
            "{said}"
        );
        let w = StoreError::Write("rusqlite: near \"x\": syntax error at line 12".into());
        assert!(!w.public().contains("line 12"));
    }
}

/// The state of a stored operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Recorded, provider call in progress.
    InFlight,
    /// Finished with this status.
    Succeeded,
    /// Accepted, not complete.
    Pending,
    /// Not done.
    Failed,
    /// May have been done.
    Unknown,
}

impl State {
    /// `succeeded` or `failed`: settled, nothing more to learn.
    pub fn is_final(&self) -> bool {
        matches!(self, State::Succeeded | State::Failed)
    }
    /// Text form.
    pub fn as_str(&self) -> &'static str {
        match self {
            State::InFlight => "in_flight",
            State::Succeeded => "succeeded",
            State::Pending => "pending",
            State::Failed => "failed",
            State::Unknown => "unknown",
        }
    }
    /// The state written as [`State::as_str`] writes it.
    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "in_flight" => State::InFlight,
            "succeeded" => State::Succeeded,
            "pending" => State::Pending,
            "failed" => State::Failed,
            "unknown" => State::Unknown,
            _ => return None,
        })
    }
    /// The state for a finished status.
    pub fn of(status: Status) -> State {
        match status {
            Status::Succeeded => State::Succeeded,
            Status::Pending => State::Pending,
            Status::Failed => State::Failed,
            Status::Unknown => State::Unknown,
        }
    }
}

/// What is recorded before the provider is called.
#[derive(Debug, Clone)]
pub struct NewOperation {
    /// Operation id.
    pub id: String,
    /// Account name.
    pub account: String,
    /// Provider id.
    pub provider: String,
    /// Operation id (`refund`…).
    pub operation: String,
    /// Caller's idempotency key.
    pub idempotency_key: Option<String>,
    /// The request document (no credentials).
    pub request: Value,
    /// The daemon instance recording it.
    pub owner: String,
    /// When.
    pub started_at: DateTime<Utc>,
    /// Who asked: a token name, or `cli:USER`.
    pub actor: Option<String>,
    /// How long the operation may stay in flight, measured on the store's
    /// clock, before it is declared `unknown` even while its daemon lives.
    pub deadline: Duration,
}

impl StoredOperation {
    /// As the API and the CLI show it: every field, plus `operation_id`
    /// and `status`, the envelope's names of `id` and `state` (one
    /// vocabulary; `id` and `state` stay, deprecated, for a release).
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.insert("operation_id".into(), Value::String(self.id.clone()));
            o.insert(
                "status".into(),
                Value::String(self.state.as_str().to_owned()),
            );
        }
        v
    }
}

/// One stored operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredOperation {
    /// Operation id.
    pub id: String,
    /// Account.
    pub account: String,
    /// Provider.
    pub provider: String,
    /// Operation.
    pub operation: String,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// Hex SHA-256 of the canonical request document.
    pub request_sha256: String,
    /// The request document.
    pub request: Value,
    /// State.
    pub state: State,
    /// The envelope once finished.
    pub envelope: Option<Envelope>,
    /// Owning instance.
    pub owner: String,
    /// Created (written at +03:00, like every date payops shows).
    #[serde(serialize_with = "turkish_time")]
    pub created_at: DateTime<Utc>,
    /// Last change (written at +03:00).
    #[serde(serialize_with = "turkish_time")]
    pub updated_at: DateTime<Utc>,
    /// How an unknown/pending outcome was resolved, if it was.
    pub resolution: Option<String>,
    /// The request's `order_ref`.
    #[serde(default)]
    pub order_ref: Option<String>,
    /// Who asked for it (token name or `cli:USER`).
    #[serde(default)]
    pub actor: Option<String>,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When (RFC 3339; stored in UTC, written at +03:00 like every date
    /// payops shows).
    #[serde(serialize_with = "turkish_text")]
    pub at: String,
    /// What: `recorded`, `finished`, `reconciled`, `resolved`, ...
    pub kind: String,
    /// Details.
    pub detail: String,
    /// Who (token name, `cli:USER`, or the instance for automatic steps).
    pub actor: Option<String>,
}

/// A new status for an unresolved operation (see [`Store::settle`]).
#[derive(Debug, Clone, Copy)]
pub struct Settlement<'a> {
    /// The state it must still be in.
    pub from: State,
    /// Its new envelope.
    pub envelope: &'a Envelope,
    /// Why, in words (stored as its resolution).
    pub how: &'a str,
    /// The provider transaction that proves it: (scope, transaction id).
    pub claim: Option<(&'a str, &'a str)>,
    /// The audit event's kind (`reconciled`, `resolved`).
    pub kind: &'a str,
    /// Who (instance, token name, `cli:USER`).
    pub actor: Option<&'a str>,
}

/// The outcome of [`Store::settle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Applied.
    Done,
    /// The operation was no longer in the expected state.
    Stale,
    /// The provider transaction is already claimed by this other operation.
    Claimed(String),
}

/// Writes an instant at +03:00 (RFC 3339), as envelopes do.
pub(crate) fn turkish_time<S: serde::Serializer>(
    t: &DateTime<Utc>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(
        &t.with_timezone(&payops_core::turkey_offset())
            .to_rfc3339_opts(SecondsFormat::Micros, false),
    )
}

/// Writes an RFC 3339 instant kept as text at +03:00 (as it is, should it
/// not parse).
fn turkish_text<S: serde::Serializer>(t: &str, s: S) -> Result<S::Ok, S::Error> {
    match DateTime::parse_from_rfc3339(t) {
        Ok(t) => turkish_time(&t.with_timezone(&Utc), s),
        Err(_) => s.serialize_str(t),
    }
}

/// The result of recording an intent.
#[derive(Debug, Clone)]
pub enum Begin {
    /// Recorded: call the provider.
    Created,
    /// The same key with the same document exists: do not call the provider.
    Existing(Box<StoredOperation>),
    /// The same key with another document: 409.
    Conflict(Box<StoredOperation>),
}

/// Filters for [`Store::list`].
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this account.
    pub account: Option<String>,
    /// Only these states.
    pub states: Vec<State>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    /// At most this many (newest first).
    pub limit: Option<i64>,
    /// Only these accounts (`None`: any). A token's scope.
    pub accounts: Option<Vec<String>>,
    /// Only these operation kinds (`None`: any). A token's scope.
    pub operations: Option<Vec<String>>,
    /// Only operations listed after this one (keyset pagination: older, or
    /// as old with a smaller id).
    pub after: Option<Cursor>,
    /// Only those of this order.
    pub order_ref: Option<String>,
    /// Only those whose answer names this provider reference.
    pub provider_reference: Option<String>,
    /// Only those whose id, order or provider reference is this text.
    pub search: Option<String>,
}

/// A place in the newest-first listing of operations: the last operation of
/// a page. Its text form is `CREATED_AT~ID` (the stored creation time, then
/// the id); HTTP clients pass it back as they got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// `created_at` of that operation, as stored (RFC 3339, UTC).
    pub created_at: String,
    /// Its id.
    pub id: String,
}

impl Cursor {
    /// The cursor after `op`.
    pub fn after(op: &StoredOperation) -> Cursor {
        Cursor {
            created_at: ts(&op.created_at),
            id: op.id.clone(),
        }
    }

    /// The text form.
    pub fn encode(&self) -> String {
        format!("{}~{}", self.created_at, self.id)
    }

    /// Reads the text form: any text before the first `~` and a non-empty
    /// id after it (the listing compares them as text, so no cursor of that
    /// shape is an error; one this API did not give just lists from there).
    pub fn decode(text: &str) -> Option<Cursor> {
        let (at, id) = text.split_once('~')?;
        (!id.is_empty()).then(|| Cursor {
            created_at: at.to_owned(),
            id: id.to_owned(),
        })
    }
}

/// Hex SHA-256 of a document's canonical JSON (object keys sorted).
pub fn request_hash(doc: &Value) -> String {
    // serde_json's Map is ordered (BTreeMap), so this text is canonical.
    let text = serde_json::to_string(doc).unwrap_or_default();
    hex::encode(Sha256::digest(text.as_bytes()))
}

pub(crate) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The values of an intent's row and its `recorded` event, computed once
/// for either store.
#[derive(Debug)]
pub(crate) struct IntentValues {
    pub(crate) id: String,
    pub(crate) account: String,
    pub(crate) provider: String,
    pub(crate) operation: String,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) request_sha256: String,
    pub(crate) request: String,
    pub(crate) owner: String,
    pub(crate) started_at: String,
    pub(crate) order_ref: Option<String>,
    pub(crate) deadline_ms: i64,
    pub(crate) actor: Option<String>,
    pub(crate) now: String,
    pub(crate) detail: String,
}

impl IntentValues {
    pub(crate) fn of(op: &NewOperation) -> IntentValues {
        IntentValues {
            id: op.id.clone(),
            account: op.account.clone(),
            provider: op.provider.clone(),
            operation: op.operation.clone(),
            idempotency_key: op.idempotency_key.clone(),
            request_sha256: request_hash(&op.request),
            request: op.request.to_string(),
            owner: op.owner.clone(),
            started_at: ts(&op.started_at),
            order_ref: op
                .request
                .get("order_ref")
                .and_then(Value::as_str)
                .map(str::to_owned),
            deadline_ms: i64::try_from(op.deadline.as_millis()).unwrap_or(i64::MAX / 4),
            actor: op.actor.clone(),
            now: ts(&Utc::now()),
            detail: format!("intent recorded by {}", op.owner),
        }
    }
}

/// The values of an answer's update and its `finished` event.
#[derive(Debug)]
pub(crate) struct AnswerValues {
    pub(crate) state: &'static str,
    pub(crate) envelope: String,
    pub(crate) now: String,
    pub(crate) id: String,
    /// The event's detail when the answer applied…
    pub(crate) detail: String,
    /// …and when it came late (the operation had left `in_flight`).
    pub(crate) detail_late: String,
}

impl AnswerValues {
    pub(crate) fn of(id: &str, envelope: &Envelope) -> Result<AnswerValues, StoreError> {
        let text = serde_json::to_string(envelope).map_err(|e| StoreError::Corrupt {
            id: id.into(),
            reason: e.to_string(),
        })?;
        let status = format!("status {}", envelope.status);
        Ok(AnswerValues {
            state: State::of(envelope.status).as_str(),
            envelope: text,
            now: ts(&Utc::now()),
            id: id.to_owned(),
            detail_late: format!("{status} (late: not applied)"),
            detail: status,
        })
    }
}

/// The file of a `sqlite:` URL (`None` for another scheme). An in-memory
/// or unnamed SQLite store is refused: it would lose every intent with the
/// process (and the hot path's own connections could not reach it).
pub fn sqlite_file(url: &str) -> Result<Option<&str>, StoreError> {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Ok(None);
    };
    let path = rest.trim_start_matches("//");
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path.contains(":memory:") {
        return Err(StoreError::Url(format!(
            "{url} (an in-memory or unnamed SQLite store keeps nothing: name a file)"
        )));
    }
    Ok(Some(path))
}

pub(crate) fn parse_ts(id: &str, s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            id: id.into(),
            reason: format!("timestamp {s:?}: {e}"),
        })
}

/// An order's row: what was paid and what is held against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderMoney {
    /// The payment's currency (ISO 4217 letters).
    pub currency: String,
    /// What the provider said was paid, in minor units.
    pub paid: i64,
    /// When that was read, in ms since the epoch.
    pub paid_read_ms: i64,
    /// The query operation that read it.
    pub paid_by: String,
    /// Returned or at risk and held by no reservation (external returns,
    /// returns of earlier versions, the provider's total where it is a
    /// floor), as the ledger counted it when the row was written.
    pub base: i64,
    /// The reservations of the order's refunds and cancels not `failed`.
    pub held: i64,
}

impl OrderMoney {
    /// What may still be returned: paid - base - held (0 at least).
    pub fn remaining(&self) -> i64 {
        self.paid
            .saturating_sub(self.base)
            .saturating_sub(self.held)
            .max(0)
    }
}

/// What the provider said was paid, for [`Store::set_order_money`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidFacts {
    /// The payment's currency (ISO 4217 letters).
    pub currency: String,
    /// The amount, in minor units.
    pub paid: i64,
    /// When it was read, in ms since the epoch.
    pub read_ms: i64,
    /// The query operation that read it.
    pub by: String,
}

/// What [`Store::reserve`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserve {
    /// The operation holds this amount.
    Held(i64),
    /// It would exceed what remains (the row as it stood): nothing held.
    Exceeds(OrderMoney),
    /// The order has no row (what was paid is not known): nothing held.
    NoRow,
    /// The operation is no longer in flight (declared unknown meanwhile):
    /// nothing held.
    NotInFlight,
}

/// What a write of SQLite's writer here did.
#[derive(Debug)]
pub(crate) enum Ran {
    Reserved(Reserve),
    Set(OrderMoney),
    Turn(Turn),
    Held,
}

/// Whether an operation got its order's turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// It holds the turn.
    Taken,
    /// It waits: for this operation (the holder, or an older one waiting).
    After(String),
}
