//! Reading operations: by id, by idempotency key, filtered pages, events,
//! the order guard's read, claims, money moved per day.

use chrono::{DateTime, Utc};
use serde_json::Value;

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::model::*;
use crate::sql::*;
use crate::{Store, Writes, writer};

impl Store {
    pub(crate) fn row(r: &AnyRow) -> Result<StoredOperation, StoreError> {
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
        if let Some(o) = &f.order_ref {
            args.push(o.clone());
            sql.push_str(&format!(" AND order_ref = ${}", args.len()));
        }
        // The provider's reference is in the stored answer (JSON text as
        // serde writes it: no spaces), matched literally.
        let reference = |r: &str| {
            let quoted = serde_json::to_string(r).unwrap_or_default();
            let escaped = quoted
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%\"provider_reference\":{escaped}%")
        };
        if let Some(r) = &f.provider_reference {
            args.push(reference(r));
            sql.push_str(&format!(" AND envelope LIKE ${} ESCAPE '\\'", args.len()));
        }
        if let Some(q) = &f.search {
            args.push(q.clone());
            let id = args.len();
            args.push(q.clone());
            let order = args.len();
            args.push(reference(q));
            sql.push_str(&format!(
                " AND (id = ${id} OR order_ref = ${order} OR envelope LIKE ${} ESCAPE '\\')",
                args.len()
            ));
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
        keyset_page(&mut sql, &mut args, "created_at", f.after.as_ref(), f.limit);
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
            "SELECT id, request, envelope FROM operations WHERE {column} = $1 AND created_at >= $2 AND operation IN ('refund', 'cancel', 'return') AND state <> 'failed'"
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
        on_order_sql()
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
}
