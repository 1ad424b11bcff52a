//! SQL shared by the store's writers and readers: the operation columns,
//! each database's "now", the order guard's query, how a row becomes a
//! [`StoredOperation`](crate::StoredOperation), and the pool options.

use std::time::Duration;

use crate::model::*;

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

pub(crate) const COLUMNS: &str = "id, account, provider, operation, idempotency_key, request_sha256, request, state, envelope, owner, created_at, updated_at, resolution, order_ref, actor";

/// The SQL of the order guard's read: every operation of an account on
/// one order, oldest first.
pub fn on_order_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM operations WHERE account = $1 AND order_ref = $2 ORDER BY created_at, id"
    )
}

/// The end of a newest-first keyset listing on `(time, id)`: after the
/// cursor (older, or as old with a smaller id), ordered, at most `limit`
/// (default 100, at most 10,000). Values are bound, never spliced.
pub(crate) fn keyset_page(
    sql: &mut String,
    args: &mut Vec<String>,
    time: &str,
    after: Option<&Cursor>,
    limit: Option<i64>,
) {
    if let Some(c) = after {
        args.push(c.created_at.clone());
        let at = args.len();
        args.push(c.id.clone());
        sql.push_str(&format!(
            " AND ({time} < ${at} OR ({time} = ${at} AND id < ${}))",
            args.len()
        ));
    }
    sql.push_str(&format!(
        " ORDER BY {time} DESC, id DESC LIMIT {}",
        limit.unwrap_or(100).clamp(1, 10_000)
    ));
}
