//! Recovery: operations in flight past their deadline become `unknown`,
//! a daemon's heartbeat, and what a restart finds.

use std::time::Duration;

use chrono::Utc;
use payops_core::Envelope;

use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::Store;
use crate::model::*;
use crate::sql::*;

impl Store {
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
    pub(crate) async fn mark_unknown(
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
}
