//! Turns on an order: one refund or cancel of an order at a time passes the
//! order guard and calls the provider; the others wait, oldest first. The
//! turn is a row in the store (never a transaction held across a provider
//! call), so daemons sharing PostgreSQL and a CLI beside a daemon take
//! turns too; it passes on once its holder is no longer in flight.

use rusqlite::{OptionalExtension, params};
use sqlx::{AssertSqlSafe, Row};

use crate::model::*;
use crate::writer::Done;
use crate::{Store, Writes};

impl Store {
    /// Tries to take the turn of `order_ref` on `account` for the in-flight
    /// operation `id` (created at `created_at`, as stored). It is taken when
    /// no older refund or cancel of the order waits in flight and the turn
    /// is free: never held, or its holder no longer in flight, or past
    /// `until_ms`. A turn taken lasts `lease_ms` on the store's clock at
    /// most (keep it above the in-flight deadline: an operation in flight
    /// keeps its turn until it is answered or declared unknown).
    pub async fn take_turn(
        &self,
        account: &str,
        order_ref: &str,
        id: &str,
        created_at: &chrono::DateTime<chrono::Utc>,
        lease_ms: i64,
    ) -> Result<Turn, StoreError> {
        // SQLite: a job of the group-commit writer (it writes the turn and
        // shares its commit), not a transaction of its own.
        if let Writes::Sqlite(w) = &self.writes {
            let (a, o, i, c) = (
                account.to_owned(),
                order_ref.to_owned(),
                id.to_owned(),
                ts(created_at),
            );
            return match w
                .run(Box::new(move |conn| {
                    sqlite_turn(conn, &a, &o, &i, &c, lease_ms).map(|t| Done::Ran(Ran::Turn(t)))
                }))
                .await?
            {
                Done::Ran(Ran::Turn(t)) => Ok(t),
                other => Err(StoreError::Write(format!(
                    "an order's turn: unexpected answer {other:?}"
                ))),
            };
        }
        let holder: Option<String> =
            sqlx::query("SELECT holder FROM order_turns WHERE account = $1 AND order_ref = $2")
                .bind(account)
                .bind(order_ref)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get("holder"))
                .transpose()?;
        // Oldest first: an older refund or cancel of the order still in
        // flight, other than the holder, goes before this one.
        let older: Option<String> = sqlx::query(
            "SELECT id FROM operations WHERE order_ref = $2 AND account = $1 AND state = 'in_flight' \
             AND operation IN ('refund', 'cancel') AND id <> $3 AND id <> $5 \
             AND (created_at < $4 OR (created_at = $4 AND id < $3)) ORDER BY created_at, id LIMIT 1",
        )
        .bind(account)
        .bind(order_ref)
        .bind(id)
        .bind(ts(created_at))
        .bind(holder.clone().unwrap_or_default())
        .fetch_optional(&self.pool)
        .await?
        .map(|r| r.try_get("id"))
        .transpose()?;
        if let Some(older) = older {
            return Ok(Turn::After(older));
        }
        let now = self.now_ms_sql();
        let taken = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO order_turns (account, order_ref, holder, until_ms) VALUES ($1, $2, $3, {now} + $4) \
             ON CONFLICT (account, order_ref) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms \
             WHERE order_turns.holder = excluded.holder OR order_turns.until_ms < {now} \
             OR NOT EXISTS (SELECT 1 FROM operations WHERE operations.id = order_turns.holder AND operations.state = 'in_flight')"
        )))
        .bind(account)
        .bind(order_ref)
        .bind(id)
        .bind(lease_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(if taken == 1 {
            Turn::Taken
        } else {
            Turn::After(holder.unwrap_or_default())
        })
    }
}

/// [`Store::take_turn`] on SQLite's writer connection (`?N` parameters:
/// rusqlite numbers `$N` by first appearance). The writer holds SQLite's
/// write lock: the three statements see and change one state.
fn sqlite_turn(
    c: &rusqlite::Connection,
    account: &str,
    order_ref: &str,
    id: &str,
    created_at: &str,
    lease_ms: i64,
) -> Result<Turn, StoreError> {
    let holder: Option<String> = c
        .prepare_cached("SELECT holder FROM order_turns WHERE account = ?1 AND order_ref = ?2")?
        .query_row(params![account, order_ref], |r| r.get(0))
        .optional()?;
    let older: Option<String> = c
        .prepare_cached(
            "SELECT id FROM operations WHERE order_ref = ?2 AND account = ?1 AND state = 'in_flight' \
             AND operation IN ('refund', 'cancel') AND id <> ?3 AND id <> ?5 \
             AND (created_at < ?4 OR (created_at = ?4 AND id < ?3)) ORDER BY created_at, id LIMIT 1",
        )?
        .query_row(params![account, order_ref, id, created_at, holder.clone().unwrap_or_default()], |r| r.get(0))
        .optional()?;
    if let Some(older) = older {
        return Ok(Turn::After(older));
    }
    let now = crate::sql::SQLITE_NOW_MS;
    let taken = c
        .prepare_cached(&format!(
            "INSERT INTO order_turns (account, order_ref, holder, until_ms) VALUES (?1, ?2, ?3, {now} + ?4) \
             ON CONFLICT (account, order_ref) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms \
             WHERE order_turns.holder = excluded.holder OR order_turns.until_ms < {now} \
             OR NOT EXISTS (SELECT 1 FROM operations WHERE operations.id = order_turns.holder AND operations.state = 'in_flight')"
        ))?
        .execute(params![account, order_ref, id, lease_ms])?;
    Ok(if taken == 1 {
        Turn::Taken
    } else {
        Turn::After(holder.unwrap_or_default())
    })
}
