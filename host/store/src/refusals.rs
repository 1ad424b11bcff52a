//! Refusals: requests refused before anything was sent to the provider.
//! They are not operations (no idempotency key is bound by them, no list of
//! operations shows them); they are kept for the audit, the newest
//! `keep` of them (see [`Store::prune_refusals`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::Store;
use crate::model::*;

/// A refusal to record.
#[derive(Debug, Clone)]
pub struct NewRefusal {
    /// Its id (`rf_…`; for a request refused after its intent was
    /// recorded, the intent's id with `rf_` for `op_`).
    pub id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Account.
    pub account: String,
    /// Provider.
    pub provider: String,
    /// Operation (`refund`…).
    pub operation: String,
    /// The caller's idempotency key (not bound by the refusal).
    pub idempotency_key: Option<String>,
    /// Who asked (token name, `cli:USER`).
    pub actor: Option<String>,
    /// Why: a reason of the closed set (`invalid_request`, `conflict`,
    /// `limit`, `unreachable`…).
    pub reason: String,
    /// The error the caller got (the contract's `error` object).
    pub error: Value,
    /// The request document as received.
    pub request: Value,
}

/// A recorded refusal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRefusal {
    /// Its id (`rf_…`).
    pub refusal_id: String,
    /// When (written at +03:00, like every date payops shows).
    #[serde(serialize_with = "turkish_time")]
    pub at: DateTime<Utc>,
    /// Account.
    pub account: String,
    /// Provider.
    pub provider: String,
    /// Operation (`refund`…).
    pub operation: String,
    /// The caller's idempotency key (not bound by the refusal).
    pub idempotency_key: Option<String>,
    /// The request's `order_ref`.
    pub order_ref: Option<String>,
    /// Who asked (token name, `cli:USER`).
    pub actor: Option<String>,
    /// Why.
    pub reason: String,
    /// The error the caller got (`code`, `message`, `details`, `reason`).
    pub error: Value,
    /// The request document as received.
    pub request: Value,
}

impl StoredRefusal {
    /// The cursor after this refusal in the newest-first listing.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: ts(&self.at),
            id: self.refusal_id.clone(),
        }
    }
}

/// Filters for [`Store::list_refusals`].
#[derive(Debug, Clone, Default)]
pub struct RefusalFilter {
    /// Only this account.
    pub account: Option<String>,
    /// Only these reasons.
    pub reasons: Vec<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
    /// At most this many (newest first; default 100, at most 10,000).
    pub limit: Option<i64>,
    /// Only these accounts (`None`: any). A token's scope.
    pub accounts: Option<Vec<String>>,
    /// Only these operation kinds (`None`: any). A token's scope.
    pub operations: Option<Vec<String>>,
    /// Only refusals listed after this one (its `at` and id).
    pub after: Option<Cursor>,
}

const REFUSAL_COLUMNS: &str = "id, at, account, provider, operation, idempotency_key, order_ref, actor, reason, error, request";

fn refusal_row(r: &AnyRow) -> Result<StoredRefusal, StoreError> {
    let id: String = r.try_get("id")?;
    let json = |c: &str| -> Result<Value, StoreError> {
        let text: String = r.try_get(c)?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            id: id.clone(),
            reason: format!("{c}: {e}"),
        })
    };
    Ok(StoredRefusal {
        at: parse_ts(&id, &r.try_get::<String, _>("at")?)?,
        account: r.try_get("account")?,
        provider: r.try_get("provider")?,
        operation: r.try_get("operation")?,
        idempotency_key: r.try_get("idempotency_key")?,
        order_ref: r.try_get("order_ref")?,
        actor: r.try_get("actor")?,
        reason: r.try_get("reason")?,
        error: json("error")?,
        request: json("request")?,
        refusal_id: id,
    })
}

/// The id of the refusal of the intent `operation_id` (`op_…` → `rf_…`).
pub fn refusal_id_of(operation_id: &str) -> String {
    match operation_id.strip_prefix("op_") {
        Some(rest) => format!("rf_{rest}"),
        None => format!("rf_{operation_id}"),
    }
}

async fn insert<'e, E>(executor: E, r: &NewRefusal) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO refusals ({REFUSAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING"
    )))
    .bind(&r.id)
    .bind(ts(&r.at))
    .bind(&r.account)
    .bind(&r.provider)
    .bind(&r.operation)
    .bind(r.idempotency_key.clone())
    .bind(
        r.request
            .get("order_ref")
            .and_then(Value::as_str)
            .map(str::to_owned),
    )
    .bind(r.actor.clone())
    .bind(&r.reason)
    .bind(r.error.to_string())
    .bind(r.request.to_string())
    .execute(executor)
    .await?;
    Ok(())
}

impl Store {
    /// Records a refusal of a request that has no intent.
    pub async fn record_refusal(&self, r: &NewRefusal) -> Result<(), StoreError> {
        insert(&self.pool, r).await
    }

    /// Withdraws the in-flight intent `operation_id` (its row and events:
    /// nothing was sent) and records `r` in its place, in one transaction:
    /// its idempotency key is free from then on; a caller that waits on the
    /// intent finds the refusal by [`refusal_id_of`]. False (and nothing
    /// written) when the intent is no longer in flight.
    pub async fn refuse(&self, operation_id: &str, r: &NewRefusal) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        if !withdraw_intent(&mut tx, operation_id).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        insert(&mut *tx, r).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// One refusal.
    pub async fn refusal(&self, id: &str) -> Result<Option<StoredRefusal>, StoreError> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {REFUSAL_COLUMNS} FROM refusals WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(refusal_row)
        .transpose()
    }

    /// Refusals, newest first.
    pub async fn list_refusals(&self, f: &RefusalFilter) -> Result<Vec<StoredRefusal>, StoreError> {
        let mut sql = format!("SELECT {REFUSAL_COLUMNS} FROM refusals WHERE 1 = 1");
        let mut args: Vec<String> = Vec::new();
        let mut set = |sql: &mut String, column: &str, values: &[String]| {
            let mut ph = Vec::new();
            for v in values {
                args.push(v.clone());
                ph.push(format!("${}", args.len()));
            }
            sql.push_str(&format!(" AND {column} IN ({})", ph.join(", ")));
        };
        if let Some(a) = &f.account {
            set(&mut sql, "account", std::slice::from_ref(a));
        }
        if !f.reasons.is_empty() {
            set(&mut sql, "reason", &f.reasons);
        }
        for (column, scope) in [("account", &f.accounts), ("operation", &f.operations)] {
            match scope {
                Some(s) if s.is_empty() => return Ok(Vec::new()),
                Some(s) => set(&mut sql, column, s),
                None => {}
            }
        }
        if let Some(t) = &f.since {
            args.push(ts(t));
            sql.push_str(&format!(" AND at >= ${}", args.len()));
        }
        if let Some(t) = &f.until {
            args.push(ts(t));
            sql.push_str(&format!(" AND at < ${}", args.len()));
        }
        crate::sql::keyset_page(&mut sql, &mut args, "at", f.after.as_ref(), f.limit);
        // Only constants and numbered placeholders are spliced in; values are bound.
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in args {
            q = q.bind(a);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(refusal_row)
            .collect()
    }

    /// Deletes all but the newest `keep` refusals; returns how many went.
    pub async fn prune_refusals(&self, keep: u64) -> Result<u64, StoreError> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        // The `keep`-th newest (at, id): everything older goes. Both
        // databases read it from the (at, id) index.
        let edge =
            sqlx::query("SELECT at, id FROM refusals ORDER BY at DESC, id DESC LIMIT 1 OFFSET $1")
                .bind(keep.saturating_sub(1).max(0))
                .fetch_optional(&self.pool)
                .await?;
        let Some(edge) = edge else {
            return Ok(0);
        };
        let (at, id): (String, String) = (edge.try_get("at")?, edge.try_get("id")?);
        let sql = if keep == 0 {
            "DELETE FROM refusals WHERE at <= $1"
        } else {
            "DELETE FROM refusals WHERE at < $1 OR (at = $1 AND id < $2)"
        };
        Ok(sqlx::query(sql)
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// How many refusals are kept.
    pub async fn refusal_count(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM refusals")
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    /// Moves the rows the migration marked `refused` (refusals that earlier
    /// versions stored as `failed` operations) into `refusals`, which frees
    /// their idempotency keys. Each row in a transaction of its own; run at
    /// every open (the marked rows are found through the state index).
    pub(crate) async fn move_marked_refusals(&self) -> Result<u64, StoreError> {
        let mut moved = 0;
        loop {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {} FROM operations WHERE state = 'refused' LIMIT 200",
                crate::sql::COLUMNS
            )))
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                return Ok(moved);
            }
            for row in &rows {
                let get = |c: &str| {
                    row.try_get::<Option<String>, _>(c)
                        .map_err(StoreError::from)
                };
                let id = get("id")?.unwrap_or_default();
                let text = |c: &str| get(c).map(Option::unwrap_or_default);
                let envelope: Value = serde_json::from_str(&text("envelope")?).unwrap_or_default();
                let request: Value = serde_json::from_str(&text("request")?).unwrap_or_default();
                // A refusal (details.refused), or the provider unreachable.
                let mut error = envelope
                    .pointer("/details/refused/error")
                    .cloned()
                    .unwrap_or_else(|| {
                        let said = envelope
                            .get("provider_message")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        serde_json::json!({
                            "code": "unavailable",
                            "message": format!("the provider could not be reached; nothing was sent ({said})"),
                            "details": [],
                        })
                    });
                let reason = envelope
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_owned();
                let refusal_id = refusal_id_of(&id);
                if let Some(m) = error.as_object_mut() {
                    m.insert("reason".into(), Value::String(reason.clone()));
                    m.insert("refusal_id".into(), Value::String(refusal_id.clone()));
                }
                let r = NewRefusal {
                    id: refusal_id,
                    at: parse_ts(&id, &text("created_at")?)?,
                    account: text("account")?,
                    provider: text("provider")?,
                    operation: text("operation")?,
                    idempotency_key: get("idempotency_key")?,
                    actor: get("actor")?,
                    reason,
                    error,
                    request,
                };
                let mut tx = self.pool.begin().await?;
                let gone =
                    sqlx::query("DELETE FROM operations WHERE id = $1 AND state = 'refused'")
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                if gone == 1 {
                    sqlx::query("DELETE FROM operation_events WHERE operation_id = $1")
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    // Another process may have moved it first: the insert
                    // ignores an id already there.
                    insert(&mut *tx, &r).await?;
                    moved += 1;
                }
                tx.commit().await?;
            }
        }
    }
}

/// Withdraws the in-flight intent `operation_id` inside `tx`: its row, its
/// events, and what it reserved on its order (nothing was sent). False when
/// it is no longer in flight.
pub(crate) async fn withdraw_intent(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    operation_id: &str,
) -> Result<bool, StoreError> {
    let gone = sqlx::query(
        "DELETE FROM operations WHERE id = $1 AND state = 'in_flight' RETURNING account, order_ref, reserved",
    )
    .bind(operation_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(gone) = gone else {
        return Ok(false);
    };
    // What it held against its order goes back with it.
    if let Some(reserved) = gone.try_get::<Option<i64>, _>("reserved")? {
        let account: String = gone.try_get("account")?;
        let order_ref: Option<String> = gone.try_get("order_ref")?;
        crate::money::give_back(tx, &account, order_ref.as_deref(), reserved).await?;
    }
    sqlx::query("DELETE FROM operation_events WHERE operation_id = $1")
        .bind(operation_id)
        .execute(&mut **tx)
        .await?;
    Ok(true)
}
