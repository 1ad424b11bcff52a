//! Reconciliation's side of the store: the operations it picks, their
//! back-off, and settling one with the evidence.

use chrono::Utc;
use sqlx::{AssertSqlSafe, Row};

use crate::Store;
use crate::model::*;
use crate::sql::*;

impl Store {
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

    pub(crate) async fn unresolved_where(
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
        if envelope.status == payops_core::Status::Failed
            && let Err(e) = self.release(id).await
        {
            tracing::warn!(operation_id = id, error = %e, "cannot give back the reservation of a failed operation");
        }
        Ok(Settle::Done)
    }
}
