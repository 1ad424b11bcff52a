//! # payops-store
//!
//! Every operation payops runs, durably: the intent is recorded *before* the
//! provider is called, the envelope when it answers. One [`Store`] over
//! sqlx's `Any` driver runs the same migrations and queries on SQLite (the
//! embedded default, WAL) and PostgreSQL (several daemons sharing the work).
//! On SQLite the hot path (intents, answers and the order guard's read) runs
//! on connections of its own through rusqlite, with group commit (see
//! `writer.rs`): sqlx hands every SQLite statement to a thread of its own.
//! On PostgreSQL the intents waiting at the same time are one statement, the
//! answers another (`pg_writer.rs`).
//!
//! Idempotency rests on a unique index on `(account, idempotency_key)`: of
//! any number of concurrent inserts with one key exactly one wins; the others
//! read the winner's row. Nothing is check-then-insert.

#![warn(missing_docs)]

mod outbox;
mod pg_writer;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use payops_core::{Envelope, Status};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, AssertSqlSafe, Executor, Row};

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
    /// The URL is not `sqlite://…` or `postgres://…`.
    #[error("store: unsupported url {0:?} (use sqlite://PATH or postgres://…)")]
    Url(String),
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
    /// When (RFC 3339, UTC).
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
fn turkish_time<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(
        &t.with_timezone(&payops_core::turkey_offset())
            .to_rfc3339_opts(SecondsFormat::Micros, false),
    )
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

fn ts(t: &DateTime<Utc>) -> String {
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
    /// Read the operations on its order after its commit (PostgreSQL).
    pub(crate) read_order: bool,
}

impl IntentValues {
    fn of(op: &NewOperation) -> IntentValues {
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
            read_order: false,
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
    fn of(id: &str, envelope: &Envelope) -> Result<AnswerValues, StoreError> {
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

/// PostgreSQL's SQL for "now" in milliseconds since the epoch.
pub(crate) const PG_NOW_MS: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";

/// SQLite's SQL for "now" in milliseconds since the epoch.
pub(crate) const SQLITE_NOW_MS: &str =
    "CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS BIGINT)";

/// A stored operation from its row's [`COLUMNS`], each read (as text or
/// NULL) by `get`, whichever driver the row comes from.
pub(crate) fn stored_operation(
    get: impl Fn(&str) -> Result<Option<String>, StoreError>,
) -> Result<StoredOperation, StoreError> {
    let text = |c: &str| -> Result<String, StoreError> {
        get(c)?.ok_or_else(|| StoreError::Corrupt {
            id: get("id").ok().flatten().unwrap_or_default(),
            reason: format!("{c} is NULL"),
        })
    };
    let id = text("id")?;
    let state = text("state")?;
    let corrupt = |reason: String| StoreError::Corrupt {
        id: id.clone(),
        reason,
    };
    Ok(StoredOperation {
        account: text("account")?,
        provider: text("provider")?,
        operation: text("operation")?,
        idempotency_key: get("idempotency_key")?,
        request_sha256: text("request_sha256")?,
        request: serde_json::from_str(&text("request")?)
            .map_err(|e| corrupt(format!("request: {e}")))?,
        state: State::parse(&state).ok_or_else(|| corrupt(format!("state {state:?}")))?,
        envelope: get("envelope")?
            .map(|e| serde_json::from_str(&e))
            .transpose()
            .map_err(|e| corrupt(format!("envelope: {e}")))?,
        owner: text("owner")?,
        created_at: parse_ts(&id, &text("created_at")?)?,
        updated_at: parse_ts(&id, &text("updated_at")?)?,
        resolution: get("resolution")?,
        order_ref: get("order_ref")?,
        actor: get("actor")?,
        id,
    })
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

fn parse_ts(id: &str, s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            id: id.into(),
            reason: format!("timestamp {s:?}: {e}"),
        })
}

/// The schema migrations in `host/store/migrations/`, embedded at build
/// time; the same files run on SQLite and PostgreSQL.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The operation store.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// Where status-change events go (empty: none are written).
    webhooks: Arc<Vec<WebhookRoute>>,
    /// Who writes intents and answers.
    writes: Writes,
}

/// Who writes intents and answers (with group commit), by database.
#[derive(Clone, Debug)]
enum Writes {
    /// SQLite's hot path: the writer of intents and answers, and the order
    /// guard's read, on connections of its own (writer.rs).
    Sqlite(Arc<writer::Sqlite>),
    /// PostgreSQL's batcher on the pool (pg_writer.rs).
    Pg(Arc<pg_writer::Pg>),
}

pub use outbox::{
    Attempt, AttemptResult, Delivery, DeliveryState, EVENT_TYPES, WebhookRoute, event_types,
};

/// A pooled connection idle at least this long is pinged before it is
/// handed out (one idle less long is used as it is).
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(10);

/// The options of every pool of the store: `max` connections, 30 s to get
/// one, and a ping only for a connection idle [`PING_IF_IDLE_FOR`] or more
/// (sqlx pings before every statement by default).
pub(crate) fn pool_options<DB: sqlx::Database>(max: u32) -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::<DB>::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

const COLUMNS: &str = "id, account, provider, operation, idempotency_key, request_sha256, request, state, envelope, owner, created_at, updated_at, resolution, order_ref, actor";

impl Store {
    /// Opens a store that must already exist (for commands that only read
    /// it): a missing SQLite file is an error naming the path, never a new
    /// empty database.
    pub async fn open_existing(url: &str) -> Result<Store, StoreError> {
        if let Some(path) = sqlite_file(url)?
            && !std::path::Path::new(path).exists()
        {
            return Err(StoreError::Missing(path.to_owned()));
        }
        Store::open(url).await
    }

    /// Opens (creating if needed) and migrates. `sqlite://PATH` (WAL,
    /// created if missing) or `postgres://…`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let file = sqlite_file(url)?;
        let sqlite = file.is_some();
        if !sqlite && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(StoreError::Url(url.into()));
        }
        let mut url = url.to_owned();
        if sqlite && !url.contains("mode=") {
            url.push_str(if url.contains('?') {
                "&mode=rwc"
            } else {
                "?mode=rwc"
            });
        }
        // sqlx pings every connection it hands out (by default): a round
        // trip to the server (PostgreSQL) or to the connection's thread
        // (SQLite) before every statement, a third of a refund's trips.
        // Only a connection idle long enough to have been cut is pinged; one
        // cut while in use fails its statement, as it would after a ping.
        let mut opts = pool_options::<sqlx::Any>(if sqlite { 4 } else { 16 });
        if sqlite {
            opts = opts.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    Ok(())
                })
            });
        }
        let pool = opts.connect(&url).await?;
        // The pool created the SQLite file: the writer opens it (it runs no
        // statement before the first write, after the migrations).
        let writes = match file {
            Some(path) => {
                Writes::Sqlite(Arc::new(writer::Sqlite::open(std::path::Path::new(path))?))
            }
            None => Writes::Pg(Arc::new(pg_writer::Pg::connect(&url)?)),
        };
        let store = Store {
            pool,
            webhooks: Arc::new(Vec::new()),
            writes,
        };
        store.migrate().await?;
        store.backfill_order_refs().await?;
        Ok(store)
    }

    /// Is this store SQLite (rather than PostgreSQL)?
    fn sqlite(&self) -> bool {
        matches!(self.writes, Writes::Sqlite(_))
    }

    /// Is every migration of this build applied, and nothing else? One
    /// query, no lock: a command against a current store does no migration
    /// work (a missing table, a failed or unknown migration, another
    /// checksum: not current, and the migrator does its full checks).
    pub async fn schema_current(&self) -> bool {
        let Ok(rows) = sqlx::query(
            "SELECT version, checksum, CAST(CASE WHEN success THEN 1 ELSE 0 END AS BIGINT) FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await
        else {
            return false;
        };
        let mut applied = Vec::with_capacity(rows.len());
        for r in &rows {
            let row: Result<(i64, Vec<u8>, i64), sqlx::Error> =
                (|| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))();
            match row {
                Ok((v, c, 1)) => applied.push((v, c)),
                _ => return false,
            }
        }
        let wanted: Vec<(i64, Vec<u8>)> = MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| (m.version, m.checksum.to_vec()))
            .collect();
        applied == wanted
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        if self.schema_current().await {
            return Ok(());
        }
        // PostgreSQL: the migrator holds an advisory lock, so daemons that
        // start together apply each migration once. SQLite has no such lock:
        // a daemon that lost the race to another process sees the migration
        // applied when it looks again; any other error is reported.
        match MIGRATOR.run(&self.pool).await {
            Ok(()) => Ok(()),
            Err(first) => {
                tracing::debug!(error = %first, "migration failed; checking whether another process applied it");
                tokio::time::sleep(Duration::from_millis(200)).await;
                MIGRATOR.run(&self.pool).await.map_err(StoreError::from)
            }
        }
    }

    async fn event(&self, id: &str, kind: &str, detail: &str) -> Result<(), StoreError> {
        self.event_by(id, kind, detail, None).await
    }

    /// Adds an entry to an operation's audit trail (e.g. a provider's
    /// callback, verbatim).
    pub async fn record_event(&self, id: &str, kind: &str, detail: &str) -> Result<(), StoreError> {
        self.event(id, kind, detail).await
    }

    async fn event_by(
        &self,
        id: &str,
        kind: &str,
        detail: &str,
        actor: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO operation_events (operation_id, at, kind, detail, actor) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(ts(&Utc::now()))
        .bind(kind)
        .bind(detail)
        .bind(actor.map(str::to_owned))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// SQL for "now" in milliseconds since the epoch on the store's clock:
    /// every daemon sharing a store measures time against the same clock.
    fn now_ms_sql(&self) -> &'static str {
        if self.sqlite() {
            SQLITE_NOW_MS
        } else {
            PG_NOW_MS
        }
    }

    /// Group commit so far: commits of the writer of intents and answers,
    /// and the writes they recorded (a taken key records nothing). On
    /// SQLite a commit is a transaction; on PostgreSQL a statement (one per
    /// batch of intents or of answers).
    pub fn group_commits(&self) -> Option<(u64, u64)> {
        Some(match &self.writes {
            Writes::Sqlite(w) => w.commits.get(),
            Writes::Pg(p) => p.commits.get(),
        })
    }

    /// SQLite's durability settings as a connection of this store sees them
    /// (`journal_mode`, `synchronous`: 2 is FULL); `None` on PostgreSQL.
    pub async fn sqlite_durability(&self) -> Result<Option<(String, i64)>, StoreError> {
        if !self.sqlite() {
            return Ok(None);
        }
        let mut conn = self.pool.acquire().await?;
        let j: String = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        let s: i64 = sqlx::query("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        // The writer's connection (which commits intents and answers) must
        // say the same, or the weaker of the two is reported.
        if let Writes::Sqlite(w) = &self.writes {
            let (wj, ws) = w.durability()?;
            if wj != j || ws < s {
                return Ok(Some((wj, ws)));
            }
        }
        Ok(Some((j, s)))
    }

    /// The store's clock, in milliseconds since the epoch.
    pub async fn now_ms(&self) -> Result<i64, StoreError> {
        let r = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} AS now_ms",
            self.now_ms_sql()
        )))
        .fetch_one(&self.pool)
        .await?;
        Ok(r.try_get::<i64, _>("now_ms")?)
    }

    /// Fills `order_ref` of rows written before it had a column.
    async fn backfill_order_refs(&self) -> Result<(), StoreError> {
        loop {
            let rows = sqlx::query(
                "SELECT id, request FROM operations WHERE order_ref IS NULL AND deadline_ms IS NULL LIMIT 500",
            )
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                return Ok(());
            }
            for r in &rows {
                let id: String = r.try_get("id")?;
                let request: String = r.try_get("request")?;
                let order_ref = serde_json::from_str::<Value>(&request).ok().and_then(|v| {
                    v.get("order_ref")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                });
                // deadline_ms 0 marks the row as backfilled (it is not in flight
                // under a deadline: recovery by heartbeat still applies).
                sqlx::query("UPDATE operations SET order_ref = $1, deadline_ms = 0 WHERE id = $2")
                    .bind(order_ref)
                    .bind(&id)
                    .execute(&self.pool)
                    .await?;
            }
        }
    }

    /// Records the intent. With an idempotency key, a second intent for the
    /// same account and key does not insert: it is [`Begin::Existing`] (same
    /// document) or [`Begin::Conflict`].
    pub async fn begin(&self, op: &NewOperation) -> Result<Begin, StoreError> {
        self.begin_job(IntentValues::of(op), op)
            .await
            .map(|(b, _)| b)
    }

    /// [`Store::begin`], with the operations on the intent's order (see
    /// [`Store::on_order`]) when the store read them after the intent's
    /// commit, together with the other intents of its batch (PostgreSQL,
    /// for a refund or cancel with an `order_ref`); `None` otherwise.
    pub async fn begin_reading_order(
        &self,
        op: &NewOperation,
    ) -> Result<(Begin, Option<Vec<StoredOperation>>), StoreError> {
        let values = IntentValues {
            read_order: true,
            ..IntentValues::of(op)
        };
        self.begin_job(values, op).await
    }

    async fn begin_job(
        &self,
        values: IntentValues,
        op: &NewOperation,
    ) -> Result<(Begin, Option<Vec<StoredOperation>>), StoreError> {
        // Committed (with its event) before this returns: on SQLite group
        // commit shares the commit with concurrent writes, never skips it.
        let job = writer::Job::Begin(values);
        let done = match &self.writes {
            Writes::Sqlite(w) => w.write(job).await?,
            Writes::Pg(p) => p.write(job).await?,
        };
        match done {
            writer::Done::KeyTaken => {
                let hash = request_hash(&op.request);
                let key = op.idempotency_key.as_deref().unwrap_or_default();
                let existing = self.find_by_key(&op.account, key).await?.ok_or_else(|| {
                    StoreError::Corrupt {
                        id: op.id.clone(),
                        reason: "unique violation without a row".into(),
                    }
                })?;
                if existing.request_sha256 == hash && existing.operation == op.operation {
                    Ok((Begin::Existing(Box::new(existing)), None))
                } else {
                    Ok((Begin::Conflict(Box::new(existing)), None))
                }
            }
            writer::Done::Created(siblings) => Ok((Begin::Created, siblings)),
            writer::Done::Finished(_) => Err(StoreError::Corrupt {
                id: op.id.clone(),
                reason: "an intent's write answered as an answer's".into(),
            }),
        }
    }

    /// Stores the envelope of a finished operation (only while in flight:
    /// a recovered `unknown` is never overwritten by a late answer), with
    /// its `finished` event and, when it applied, its webhook events.
    pub async fn finish(&self, id: &str, envelope: &Envelope) -> Result<bool, StoreError> {
        let job = writer::Job::Finish(
            AnswerValues::of(id, envelope)?,
            self.outbox_rows(envelope, Some(State::InFlight)),
        );
        let done = match &self.writes {
            Writes::Sqlite(w) => w.write(job).await?,
            Writes::Pg(p) => p.write(job).await?,
        };
        Ok(matches!(done, writer::Done::Finished(true)))
    }

    /// Replaces the envelope of an `unknown` or `pending` operation after
    /// reconciliation and records how (no transaction claimed).
    pub async fn resolve(
        &self,
        id: &str,
        from: State,
        envelope: &Envelope,
        how: &str,
    ) -> Result<bool, StoreError> {
        let s = Settlement {
            from,
            envelope,
            how,
            claim: None,
            kind: "reconciled",
            actor: None,
        };
        Ok(self.settle(id, &s).await? == Settle::Done)
    }

    fn row(r: &AnyRow) -> Result<StoredOperation, StoreError> {
        stored_operation(|c| r.try_get::<Option<String>, _>(c).map_err(StoreError::from))
    }

    /// One operation.
    pub async fn get(&self, id: &str) -> Result<Option<StoredOperation>, StoreError> {
        let r = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM operations WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(Store::row).transpose()
    }

    /// The operation recorded for an account and idempotency key.
    pub async fn find_by_key(
        &self,
        account: &str,
        key: &str,
    ) -> Result<Option<StoredOperation>, StoreError> {
        let r = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM operations WHERE account = $1 AND idempotency_key = $2"
        )))
        .bind(account)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(Store::row).transpose()
    }

    /// The SQL and arguments of [`Store::list`]; `None` when the filter
    /// allows nothing (an empty scope).
    pub fn list_sql(f: &ListFilter) -> Option<(String, Vec<String>)> {
        let mut sql = format!("SELECT {COLUMNS} FROM operations WHERE 1 = 1");
        let mut args: Vec<String> = Vec::new();
        if let Some(a) = &f.account {
            args.push(a.clone());
            sql.push_str(&format!(" AND account = ${}", args.len()));
        }
        if !f.states.is_empty() {
            let mut ph = Vec::new();
            for s in &f.states {
                args.push(s.as_str().into());
                ph.push(format!("${}", args.len()));
            }
            sql.push_str(&format!(" AND state IN ({})", ph.join(", ")));
        }
        if let Some(t) = &f.since {
            args.push(ts(t));
            sql.push_str(&format!(" AND created_at >= ${}", args.len()));
        }
        if let Some(t) = &f.until {
            args.push(ts(t));
            sql.push_str(&format!(" AND created_at < ${}", args.len()));
        }
        for (column, set) in [("account", &f.accounts), ("operation", &f.operations)] {
            let Some(set) = set else { continue };
            if set.is_empty() {
                return None;
            }
            let mut ph = Vec::new();
            for v in set {
                args.push(v.clone());
                ph.push(format!("${}", args.len()));
            }
            sql.push_str(&format!(" AND {column} IN ({})", ph.join(", ")));
        }
        if let Some(c) = &f.after {
            args.push(c.created_at.clone());
            let at = args.len();
            args.push(c.id.clone());
            sql.push_str(&format!(
                " AND (created_at < ${at} OR (created_at = ${at} AND id < ${}))",
                args.len()
            ));
        }
        sql.push_str(&format!(
            " ORDER BY created_at DESC, id DESC LIMIT {}",
            f.limit.unwrap_or(100).clamp(1, 10_000)
        ));
        Some((sql, args))
    }

    /// Operations, newest first.
    pub async fn list(&self, f: &ListFilter) -> Result<Vec<StoredOperation>, StoreError> {
        let Some((sql, args)) = Store::list_sql(f) else {
            return Ok(Vec::new());
        };
        // Only constants and numbered placeholders are spliced in; values are bound.
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in args {
            q = q.bind(a);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(Store::row)
            .collect()
    }

    /// The audit trail of one operation, oldest first.
    pub async fn events(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query("SELECT at, kind, detail, actor FROM operation_events WHERE operation_id = $1 ORDER BY at, kind")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Event {
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    detail: r.try_get("detail")?,
                    actor: r.try_get("actor")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Every `unknown` or `pending` operation (of `account`, if given), oldest
    /// first, with no cap: reconciliation must see all of them.
    pub async fn unresolved(
        &self,
        account: Option<&str>,
    ) -> Result<Vec<StoredOperation>, StoreError> {
        self.unresolved_where(account, false).await
    }

    /// The `unknown` and `pending` operations due for the periodic
    /// reconciliation (their backoff, on the store's clock, has passed).
    pub async fn due_for_reconcile(
        &self,
        account: Option<&str>,
    ) -> Result<Vec<StoredOperation>, StoreError> {
        self.unresolved_where(account, true).await
    }

    /// Puts off the periodic reconciliation of `id`: the next look is
    /// `first_ms · 2^n` after now (n: the looks so far), at most `max_ms`.
    pub async fn back_off_reconcile(
        &self,
        id: &str,
        first_ms: i64,
        max_ms: i64,
    ) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT reconcile_attempts FROM operations WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let attempts: i64 = match row {
            Some(r) => r.try_get("reconcile_attempts")?,
            None => return Ok(()),
        };
        let shift = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
        let delay = first_ms.saturating_mul(1i64 << shift).min(max_ms);
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE operations SET reconcile_attempts = reconcile_attempts + 1, next_reconcile_ms = {} + $1 WHERE id = $2",
            self.now_ms_sql()
        )))
        .bind(delay)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn unresolved_where(
        &self,
        account: Option<&str>,
        due_only: bool,
    ) -> Result<Vec<StoredOperation>, StoreError> {
        let mut q =
            format!("SELECT {COLUMNS} FROM operations WHERE state IN ('unknown', 'pending')");
        if due_only {
            q.push_str(&format!(" AND next_reconcile_ms <= {}", self.now_ms_sql()));
        }
        if account.is_some() {
            q.push_str(" AND account = $1");
        }
        q.push_str(" ORDER BY created_at, id");
        let mut query = sqlx::query(AssertSqlSafe(q));
        if let Some(a) = account {
            query = query.bind(a.to_owned());
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(Store::row)
            .collect()
    }

    /// Records an undetermined reconciliation (state unchanged) when its
    /// text differs from the last one, so an operator sees why.
    pub async fn note(&self, id: &str, text: &str) -> Result<(), StoreError> {
        let r = sqlx::query(
            "UPDATE operations SET resolution = $1 WHERE id = $2 AND (resolution IS NULL OR resolution <> $1) AND state IN ('unknown', 'pending')",
        )
        .bind(text)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 1 {
            self.event(id, "undetermined", text).await?;
        }
        Ok(())
    }

    /// Amounts of the refunds and cancels not `failed` created since `since`,
    /// of `account` or by `actor` (whichever is given): the request's
    /// `amount`, or for a whole cancel the amount its answer records.
    pub async fn money_since(
        &self,
        account: Option<&str>,
        actor: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let (column, value) = match (account, actor) {
            (Some(a), _) => ("account", a),
            (None, Some(a)) => ("actor", a),
            (None, None) => return Ok(Vec::new()),
        };
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT id, request, envelope FROM operations WHERE {column} = $1 AND created_at >= $2 AND operation IN ('refund', 'cancel') AND state <> 'failed'"
        )))
        .bind(value)
        .bind(ts(&since))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let id: String = r.try_get("id")?;
            let request: String = r.try_get("request")?;
            let envelope: Option<String> = r.try_get("envelope")?;
            let amount = serde_json::from_str::<Value>(&request)
                .ok()
                .and_then(|v| v.get("amount").and_then(Value::as_i64))
                .or_else(|| {
                    envelope
                        .and_then(|e| serde_json::from_str::<Value>(&e).ok())
                        .and_then(|e| e.pointer("/details/amount").and_then(Value::as_i64))
                })
                .unwrap_or(0);
            out.push((id, amount));
        }
        Ok(out)
    }

    /// The SQL of [`Store::on_order`] (for query-plan tests).
    pub fn on_order_sql() -> String {
        format!(
            "SELECT {COLUMNS} FROM operations WHERE account = $1 AND order_ref = $2 ORDER BY created_at, id"
        )
    }

    /// SQLite's query plan for `sql` (its `detail` lines); empty on
    /// PostgreSQL. Parameters are left unbound (NULL).
    pub async fn sqlite_plan(&self, sql: &str) -> Result<Vec<String>, StoreError> {
        if !self.sqlite() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("detail").map_err(StoreError::from))
            .collect()
    }

    /// Every operation of `account` about `order_ref`, oldest first (by the
    /// indexed `order_ref` column; no cap on how far back).
    pub async fn on_order(
        &self,
        account: &str,
        order_ref: &str,
    ) -> Result<Vec<StoredOperation>, StoreError> {
        if let Writes::Sqlite(w) = &self.writes {
            return w.read(|c| writer::on_order(c, account, order_ref));
        }
        sqlx::query(AssertSqlSafe(Store::on_order_sql()))
            .bind(account)
            .bind(order_ref)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(Store::row)
            .collect()
    }

    /// Which of `transaction_ids` are claimed in `scope`, and by which operation.
    pub async fn claims(
        &self,
        scope: &str,
        transaction_ids: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        for chunk in transaction_ids.chunks(200) {
            let ph: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            // Only numbered placeholders are spliced in; values are bound.
            let mut q = sqlx::query(AssertSqlSafe(format!(
                "SELECT transaction_id, operation_id FROM claims WHERE scope = $1 AND transaction_id IN ({})",
                ph.join(", ")
            )))
            .bind(scope);
            for t in chunk {
                q = q.bind(t);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push((r.try_get("transaction_id")?, r.try_get("operation_id")?));
            }
        }
        Ok(out)
    }

    /// Settles an `unknown`/`pending` operation: in one transaction, claims
    /// the provider transaction that proves it (if any: the claim is unique
    /// per scope, so no row is credited twice), then replaces the envelope
    /// while the operation is still in `from`, and records the event.
    pub async fn settle(&self, id: &str, s: &Settlement<'_>) -> Result<Settle, StoreError> {
        let Settlement {
            from,
            envelope,
            how,
            claim,
            kind,
            actor,
        } = *s;
        let text = serde_json::to_string(envelope).map_err(|e| StoreError::Corrupt {
            id: id.into(),
            reason: e.to_string(),
        })?;
        let mut tx = self.pool.begin().await?;
        if let Some((scope, transaction_id)) = claim {
            let r = sqlx::query(
                "INSERT INTO claims (scope, transaction_id, operation_id, claimed_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(scope)
            .bind(transaction_id)
            .bind(id)
            .bind(ts(&Utc::now()))
            .execute(&mut *tx)
            .await;
            if let Err(e) = r {
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation())
                {
                    drop(tx);
                    let owner: Option<String> = sqlx::query(
                        "SELECT operation_id FROM claims WHERE scope = $1 AND transaction_id = $2",
                    )
                    .bind(scope)
                    .bind(transaction_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|r| r.try_get("operation_id"))
                    .transpose()?;
                    let owner = owner.unwrap_or_default();
                    if owner == id {
                        // Already ours (an earlier pass): just settle.
                        let again = Settlement { claim: None, ..*s };
                        return Box::pin(self.settle(id, &again)).await;
                    }
                    return Ok(Settle::Claimed(owner));
                }
                return Err(e.into());
            }
        }
        let r = sqlx::query("UPDATE operations SET state = $1, envelope = $2, updated_at = $3, resolution = $4 WHERE id = $5 AND state = $6")
            .bind(State::of(envelope.status).as_str())
            .bind(text)
            .bind(ts(&Utc::now()))
            .bind(how)
            .bind(id)
            .bind(from.as_str())
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(Settle::Stale);
        }
        sqlx::query(
            "INSERT INTO operation_events (operation_id, at, kind, detail, actor) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(ts(&Utc::now()))
        .bind(kind)
        .bind(format!("{} -> {}: {how}", from.as_str(), envelope.status))
        .bind(actor.map(str::to_owned))
        .execute(&mut *tx)
        .await?;
        self.enqueue(&mut tx, envelope, Some(from)).await?;
        tx.commit().await?;
        Ok(Settle::Done)
    }

    /// Operations still `in_flight` past their deadline on the store's
    /// clock, whoever owns them: they become `unknown` with `envelope_for`'s
    /// envelope (never re-sent). Returns their ids.
    pub async fn expire_overdue(
        &self,
        envelope_for: impl Fn(&StoredOperation) -> Envelope,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM operations WHERE state = 'in_flight' AND deadline_ms > 0 AND deadline_ms < {}",
            self.now_ms_sql()
        )))
        .fetch_all(&self.pool)
        .await?;
        self.mark_unknown(&rows, envelope_for, |_| {
            (
                Some("in flight past its deadline: the provider may have acted".into()),
                "overdue",
                "still in flight past its deadline (store clock); marked unknown, not re-sent"
                    .into(),
            )
        })
        .await
    }

    /// Turns the `in_flight` operations of `rows` `unknown` with
    /// `envelope_for`'s envelope; `why` gives each its resolution text (if
    /// any), the event's kind and its detail. Returns the ids changed.
    async fn mark_unknown(
        &self,
        rows: &[AnyRow],
        envelope_for: impl Fn(&StoredOperation) -> Envelope,
        why: impl Fn(&StoredOperation) -> (Option<String>, &'static str, String),
    ) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for r in rows {
            let op = Store::row(r)?;
            let env = envelope_for(&op);
            let text = serde_json::to_string(&env).map_err(|e| StoreError::Corrupt {
                id: op.id.clone(),
                reason: e.to_string(),
            })?;
            let (resolution, kind, detail) = why(&op);
            let mut tx = self.pool.begin().await?;
            let done = sqlx::query("UPDATE operations SET state = 'unknown', envelope = $1, updated_at = $2, resolution = COALESCE($3, resolution) WHERE id = $4 AND state = 'in_flight'")
                .bind(text)
                .bind(ts(&Utc::now()))
                .bind(resolution)
                .bind(&op.id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 1 {
                self.enqueue(&mut tx, &env, Some(State::InFlight)).await?;
                sqlx::query(
                    "INSERT INTO operation_events (operation_id, at, kind, detail, actor) VALUES ($1, $2, $3, $4, NULL)",
                )
                .bind(&op.id)
                .bind(ts(&Utc::now()))
                .bind(kind)
                .bind(&detail)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            if done.rows_affected() == 1 {
                out.push(op.id);
            }
        }
        Ok(out)
    }

    /// Records that `instance` is alive, on the store's clock.
    pub async fn heartbeat(&self, instance: &str) -> Result<(), StoreError> {
        let now = self.now_ms_sql();
        let r = sqlx::query(AssertSqlSafe(format!(
            "UPDATE instances SET heartbeat_ms = {now} WHERE id = $1"
        )))
        .bind(instance)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO instances (id, heartbeat_ms) VALUES ($1, {now})"
            )))
            .bind(instance)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Operations left in flight by instances silent for longer than
    /// `stale_after` on the store's clock (dead processes) become `unknown`
    /// with `envelope_for`'s envelope. They are never re-sent. Returns their ids.
    pub async fn recover(
        &self,
        this_instance: &str,
        stale_after: Duration,
        envelope_for: impl Fn(&StoredOperation) -> Envelope,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM operations WHERE state = 'in_flight' AND owner <> $1
             AND owner NOT IN (SELECT id FROM instances WHERE heartbeat_ms >= {} - $2)",
            self.now_ms_sql()
        )))
        .bind(this_instance)
        .bind(i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX / 4))
        .fetch_all(&self.pool)
        .await?;
        self.mark_unknown(&rows, envelope_for, |op| {
            (
                None,
                "recovered",
                format!(
                    "owner {} died while the operation was in flight; marked unknown, not re-sent",
                    op.owner
                ),
            )
        })
        .await
    }

    /// Closes the pool (and PostgreSQL's batcher's connections).
    pub async fn close(&self) {
        if let Writes::Pg(p) = &self.writes {
            p.close().await;
        }
        self.pool.close().await;
    }
}
