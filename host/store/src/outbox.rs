//! The webhook outbox: every change of an operation's status writes one
//! event per matching webhook in the same transaction as the change, so no
//! event is lost across a crash and none is written for a change that did
//! not commit. Deliverers claim due rows with a lease (a compare-and-set on
//! `lease_until_ms`, on the store's clock), so daemons sharing a store
//! deliver each event once per attempt round.

use std::sync::Arc;

use chrono::Utc;
use payops_core::Envelope;
use serde_json::json;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use crate::Store;
use crate::deliveries::*;
use crate::model::{State, StoreError, ts};

impl Store {
    /// The webhooks events are written for (from config). A store without
    /// routes writes no events.
    pub fn with_webhooks(mut self, routes: Vec<WebhookRoute>) -> Store {
        self.webhooks = Arc::new(routes);
        self
    }

    /// The delivery rows of a status change: one per webhook that wants it
    /// (none without webhooks).
    pub(crate) fn outbox_rows(&self, envelope: &Envelope, from: Option<State>) -> Vec<OutboxRow> {
        if self.webhooks.is_empty() {
            return Vec::new();
        }
        let types = event_types(envelope.status, from);
        let routes: Vec<&WebhookRoute> = self
            .webhooks
            .iter()
            .filter(|w| w.wants(&envelope.account, &types))
            .collect();
        if routes.is_empty() {
            return Vec::new();
        }
        let event_id = format!("evt_{}", uuid::Uuid::now_v7().simple());
        let payload = json!({
            "id": event_id,
            "type": types[0],
            "settled": types.contains(&"operation.settled"),
            "created_at": ts(&Utc::now()),
            "data": envelope,
        })
        .to_string();
        routes
            .into_iter()
            .map(|w| OutboxRow {
                event_id: event_id.clone(),
                webhook: w.name.clone(),
                operation_id: envelope.operation_id.as_str().to_owned(),
                account: envelope.account.clone(),
                event_type: types[0].to_owned(),
                payload: payload.clone(),
                traceparent: self.trace_context.and_then(|f| f()),
            })
            .collect()
    }

    /// Writes the event of a status change, one row per webhook that wants
    /// it, inside `tx` (the transaction that changes the status).
    pub(crate) async fn enqueue(
        &self,
        tx: &mut Transaction<'_, Any>,
        envelope: &Envelope,
        from: Option<State>,
    ) -> Result<(), StoreError> {
        for row in self.outbox_rows(envelope, from) {
            row.bind(sqlx::query(AssertSqlSafe(insert_sql(self.now_ms_sql()))))
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Claims up to `limit` due deliveries of this store's webhooks for
    /// `lease_ms` (store clock): a row is taken by exactly one claimer until
    /// its lease runs out.
    pub async fn claim_deliveries(
        &self,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let now = self.now_ms_sql();
        if self.webhooks.is_empty() {
            return Ok(Vec::new());
        }
        // Only this store's webhooks: rows of a webhook another daemon (or
        // an older config) knows are left to it.
        let names: Vec<String> = (0..self.webhooks.len())
            .map(|i| format!("${}", i + 2))
            .collect();
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS}, lease_until_ms FROM webhook_deliveries
             WHERE state = 'pending' AND next_attempt_ms <= {now} AND lease_until_ms < {now}
             AND webhook IN ({})
             ORDER BY created_ms LIMIT $1",
            names.join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(limit);
        for w in self.webhooks.iter() {
            q = q.bind(w.name.clone());
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut out = Vec::new();
        for r in &rows {
            let d = delivery_row(r)?;
            let seen: i64 = r.try_get("lease_until_ms")?;
            // Compare-and-set: only the claimer that still sees the lease it
            // read takes the row.
            let took = sqlx::query(AssertSqlSafe(format!(
                "UPDATE webhook_deliveries SET lease_until_ms = {now} + $1
                 WHERE event_id = $2 AND webhook = $3 AND state = 'pending' AND lease_until_ms = $4"
            )))
            .bind(lease_ms)
            .bind(&d.event_id)
            .bind(&d.webhook)
            .bind(seen)
            .execute(&self.pool)
            .await?;
            if took.rows_affected() == 1 {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Records an attempt and its consequence.
    pub async fn record_attempt(
        &self,
        d: &Delivery,
        result: &AttemptResult,
    ) -> Result<(), StoreError> {
        let now = self.now_ms_sql();
        let mut tx = self.pool.begin().await?;
        let (state, status, error, next) = match result {
            AttemptResult::Delivered(s) => (DeliveryState::Delivered, Some(*s), None, None),
            AttemptResult::Retry {
                status,
                error,
                next_attempt_ms,
            } => (
                if next_attempt_ms.is_some() {
                    DeliveryState::Pending
                } else {
                    DeliveryState::Failed
                },
                *status,
                Some(error.clone()),
                *next_attempt_ms,
            ),
        };
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE webhook_deliveries SET state = $1, attempts = attempts + 1, last_status = $2, last_error = $3,
             next_attempt_ms = COALESCE($4, next_attempt_ms), lease_until_ms = 0,
             delivered_ms = CASE WHEN $1 = 'delivered' THEN {now} ELSE delivered_ms END
             WHERE event_id = $5 AND webhook = $6"
        )))
        .bind(state.as_str())
        .bind(status.map(i64::from))
        .bind(error.clone())
        .bind(next)
        .bind(&d.event_id)
        .bind(&d.webhook)
        .execute(&mut *tx)
        .await?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO webhook_attempts (event_id, webhook, attempt, at_ms, status, error)
             VALUES ($1, $2, (SELECT attempts FROM webhook_deliveries WHERE event_id = $1 AND webhook = $2), {now}, $3, $4)"
        )))
        .bind(&d.event_id)
        .bind(&d.webhook)
        .bind(status.map(i64::from))
        .bind(error)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deliveries, newest first, optionally in one state.
    pub async fn deliveries(
        &self,
        state: Option<DeliveryState>,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE ($1 IS NULL OR state = $1)
             ORDER BY created_ms DESC, event_id DESC LIMIT $2"
        )))
        .bind(state.map(|s| s.as_str()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_row).collect()
    }

    /// One event's deliveries (one per webhook) with their attempts.
    pub async fn delivery(
        &self,
        event_id: &str,
    ) -> Result<Vec<(Delivery, Vec<Attempt>)>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE event_id = $1 ORDER BY webhook"
        )))
        .bind(event_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let d = delivery_row(r)?;
            let attempts = sqlx::query(
                "SELECT attempt, at_ms, status, error FROM webhook_attempts WHERE event_id = $1 AND webhook = $2 ORDER BY attempt",
            )
            .bind(&d.event_id)
            .bind(&d.webhook)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|a| {
                Ok(Attempt {
                    attempt: a.try_get("attempt")?,
                    at_ms: a.try_get("at_ms")?,
                    status: a.try_get("status")?,
                    error: a.try_get("error")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
            out.push((d, attempts));
        }
        Ok(out)
    }

    /// Makes an event due again now for every webhook (or one), whatever
    /// its state. Returns how many deliveries were reset.
    pub async fn redeliver(
        &self,
        event_id: &str,
        webhook: Option<&str>,
    ) -> Result<u64, StoreError> {
        let r = sqlx::query(AssertSqlSafe(format!(
            "UPDATE webhook_deliveries SET state = 'pending', next_attempt_ms = {}, lease_until_ms = 0
             WHERE event_id = $1 AND ($2 IS NULL OR webhook = $2)",
            self.now_ms_sql()
        )))
        .bind(event_id)
        .bind(webhook.map(str::to_owned))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// The undelivered queue: how many are pending, and the age (ms, store
    /// clock) of the oldest.
    pub async fn delivery_backlog(&self) -> Result<(i64, i64), StoreError> {
        let r = sqlx::query(AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n, COALESCE({} - MIN(created_ms), 0) AS age FROM webhook_deliveries WHERE state = 'pending'",
            self.now_ms_sql()
        )))
        .fetch_one(&self.pool)
        .await?;
        Ok((r.try_get("n")?, r.try_get("age")?))
    }
}
