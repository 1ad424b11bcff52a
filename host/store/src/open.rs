//! Opening the store: the pools, the migrations, the writers, and facts
//! about the database (its clock, SQLite's durability).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use sqlx::{AssertSqlSafe, Executor, Row};

use crate::model::*;
use crate::sql::*;
use crate::{Store, Writes, pg_writer, writer};

/// The schema migrations in `host/store/migrations/`, embedded at build
/// time; the same files run on SQLite and PostgreSQL.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

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
            trace_context: None,
        };
        store.migrate().await?;
        store.backfill_order_refs().await?;
        let moved = store.move_marked_refusals().await?;
        if moved > 0 {
            tracing::info!(
                moved,
                "refusals stored as failed operations by an earlier version are refusals now (their idempotency keys are free)"
            );
        }
        Ok(store)
    }

    /// Is this store SQLite (rather than PostgreSQL)?
    pub(crate) fn sqlite(&self) -> bool {
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

    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        if self.schema_current().await {
            return Ok(());
        }
        // A store a newer payops migrated: a clear error, never a guess
        // (and never the migrator's, which can leave its lock held).
        if let Ok(rows) = sqlx::query("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&self.pool)
            .await
        {
            let known: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
            let newer: Vec<i64> = rows
                .iter()
                .filter_map(|r| r.try_get::<i64, _>(0).ok())
                .filter(|v| !known.contains(v))
                .collect();
            if !newer.is_empty() {
                return Err(StoreError::Newer(newer));
            }
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

    /// SQL for "now" in milliseconds since the epoch on the store's clock:
    /// every daemon sharing a store measures time against the same clock.
    pub(crate) fn now_ms_sql(&self) -> &'static str {
        if self.sqlite() {
            SQLITE_NOW_MS
        } else {
            PG_NOW_MS
        }
    }

    /// `sqlite` or `postgresql` (the OpenTelemetry `db.system.name`).
    pub fn kind(&self) -> &'static str {
        match self.writes {
            Writes::Sqlite(_) => "sqlite",
            Writes::Pg(_) => "postgresql",
        }
    }

    /// Stores `f()`, the caller's W3C `traceparent`, with every webhook
    /// event written from now on (sent as the delivery's `traceparent`).
    pub fn with_trace_context(mut self, f: fn() -> Option<String>) -> Store {
        self.trace_context = Some(f);
        self
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
    pub(crate) async fn backfill_order_refs(&self) -> Result<(), StoreError> {
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

    /// Closes the pool (and PostgreSQL's batcher's connections).
    pub async fn close(&self) {
        if let Writes::Pg(p) = &self.writes {
            p.close().await;
        }
        self.pool.close().await;
    }
}
