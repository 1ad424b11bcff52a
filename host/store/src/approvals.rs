//! Approvals: requests over an approval threshold, waiting with nothing
//! sent until a second person decides (see the migration
//! `20261207000014_approvals.sql`).
//!
//! Every change of an approval's state is one statement guarded by the
//! state it leaves (a compare-and-set), in a transaction that also writes
//! its webhook events: of two people deciding at once, one decides; of two
//! senders, one claims. The times that matter across daemons (expiry,
//! claims, retries) are on the store's clock.

use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Row};

use crate::Store;
use crate::deliveries::{OutboxRow, insert_sql};
use crate::model::*;

/// An approval's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// Waiting for a decision; nothing sent.
    AwaitingApproval,
    /// Approved; a sender sends it (or tries again after a refusal).
    Approved,
    /// Rejected: final, nothing sent.
    Rejected,
    /// Not decided (or, approved, not sendable) in time: final, nothing sent.
    Expired,
    /// Sent as the operation `operation_id` (its outcome is the operation's).
    Sent,
}

impl ApprovalState {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::AwaitingApproval => "awaiting_approval",
            ApprovalState::Approved => "approved",
            ApprovalState::Rejected => "rejected",
            ApprovalState::Expired => "expired",
            ApprovalState::Sent => "sent",
        }
    }

    /// From its name.
    pub fn parse(s: &str) -> Option<ApprovalState> {
        [
            ApprovalState::AwaitingApproval,
            ApprovalState::Approved,
            ApprovalState::Rejected,
            ApprovalState::Expired,
            ApprovalState::Sent,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// A stored approval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Approval {
    /// `ap_` + a UUID v7.
    pub approval_id: String,
    /// The account.
    pub account: String,
    /// Its provider.
    pub provider: String,
    /// The operation asked for (`refund`, `cancel`, `return`, …).
    pub operation: String,
    /// The key it binds (the caller's, or its own id when none was given).
    pub idempotency_key: String,
    /// The request document.
    pub request: Value,
    /// The order, if the document names one.
    pub order_ref: Option<String>,
    /// The amount, if the document gives one.
    pub amount: Option<i64>,
    /// The unresolved operation the request goes past, if it does.
    pub override_open: Option<String>,
    /// Who asked.
    pub requested_by: String,
    /// When (RFC 3339).
    pub requested_at: String,
    /// Which threshold it crossed, in words.
    pub why: String,
    /// Its state.
    pub status: ApprovalState,
    /// Who approved or rejected it.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<String>,
    /// The decider's note.
    pub note: Option<String>,
    /// When it expires (RFC 3339).
    pub expires_at: String,
    /// The operation it was sent as.
    pub operation_id: Option<String>,
    /// Send attempts refused so far.
    pub attempts: i64,
    /// The last refusal at send time.
    pub last_refusal: Option<String>,
    #[serde(skip)]
    pub(crate) request_sha256: String,
}

/// A new approval request.
#[derive(Debug, Clone)]
pub struct NewApproval {
    /// Its id (`ap_…`).
    pub approval_id: String,
    /// The account.
    pub account: String,
    /// Its provider.
    pub provider: String,
    /// The operation.
    pub operation: String,
    /// The key (the caller's, or the approval's id).
    pub idempotency_key: String,
    /// The document.
    pub request: Value,
    /// The unresolved operation it goes past, if any.
    pub override_open: Option<String>,
    /// Who asks.
    pub requested_by: String,
    /// Which threshold, in words.
    pub why: String,
    /// How long it may wait for a decision (and, approved, to be sent).
    pub ttl_ms: i64,
}

/// What recording an approval request found.
#[derive(Debug)]
pub enum ApprovalBegin {
    /// Recorded.
    Created(Box<Approval>),
    /// The same request was recorded before under its key: joined.
    Existing(Box<Approval>),
    /// Another document holds the key.
    Conflict(Box<Approval>),
}

/// What a decision did.
#[derive(Debug)]
pub enum Decided {
    /// Decided now.
    Now(Box<Approval>),
    /// Not waiting any more (decided before, expired, sent): as it is.
    NotWaiting(Box<Approval>),
}

const COLUMNS: &str = "approval_id, account, provider, operation, idempotency_key, request_sha256, request, order_ref, amount, override_open, requested_by, requested_at, why, state, decided_by, decided_at, note, expires_ms, operation_id, attempts, last_refusal";

fn approval(r: &sqlx::any::AnyRow) -> Result<Approval, StoreError> {
    let id: String = r.try_get("approval_id")?;
    let corrupt = |reason: String| StoreError::Corrupt {
        id: id.clone(),
        reason,
    };
    let state: String = r.try_get("state")?;
    let request: String = r.try_get("request")?;
    let expires_ms: i64 = r.try_get("expires_ms")?;
    Ok(Approval {
        account: r.try_get("account")?,
        provider: r.try_get("provider")?,
        operation: r.try_get("operation")?,
        idempotency_key: r.try_get("idempotency_key")?,
        request_sha256: r.try_get("request_sha256")?,
        request: serde_json::from_str(&request).map_err(|e| corrupt(format!("request: {e}")))?,
        order_ref: r.try_get("order_ref")?,
        amount: r.try_get("amount")?,
        override_open: r.try_get("override_open")?,
        requested_by: r.try_get("requested_by")?,
        requested_at: r.try_get("requested_at")?,
        why: r.try_get("why")?,
        status: ApprovalState::parse(&state).ok_or_else(|| corrupt(format!("state {state:?}")))?,
        decided_by: r.try_get("decided_by")?,
        decided_at: r.try_get("decided_at")?,
        note: r.try_get("note")?,
        expires_at: chrono::DateTime::from_timestamp_millis(expires_ms)
            .map(|t| ts(&t))
            .unwrap_or_default(),
        operation_id: r.try_get("operation_id")?,
        attempts: r.try_get("attempts")?,
        last_refusal: r.try_get("last_refusal")?,
        approval_id: id,
    })
}

/// Inserts approval `n` inside `tx` (none when its key is held): the rows
/// written.
async fn insert_approval(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    n: &NewApproval,
    now: &str,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO approvals (approval_id, account, provider, operation, idempotency_key, request_sha256, request, order_ref, amount, override_open, requested_by, requested_at, why, state, expires_ms, created_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'awaiting_approval', {now} + $14, {now})
         ON CONFLICT (account, idempotency_key) DO NOTHING"
    )))
    .bind(&n.approval_id)
    .bind(&n.account)
    .bind(&n.provider)
    .bind(&n.operation)
    .bind(&n.idempotency_key)
    .bind(request_hash(&n.request))
    .bind(n.request.to_string())
    .bind(n.request.get("order_ref").and_then(Value::as_str))
    .bind(n.request.get("amount").and_then(Value::as_i64))
    .bind(n.override_open.as_deref())
    .bind(&n.requested_by)
    .bind(ts(&Utc::now()))
    .bind(&n.why)
    .bind(n.ttl_ms)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// Which approvals to list.
#[derive(Debug, Clone, Default)]
pub struct ApprovalFilter {
    /// Only these states (empty: all).
    pub states: Vec<ApprovalState>,
    /// Only these accounts (`None`: all).
    pub accounts: Option<Vec<String>>,
    /// At most this many, newest first.
    pub limit: i64,
}

impl Store {
    /// The webhook rows of an approval event (none without webhooks).
    fn approval_rows(&self, event: &str, a: &Approval) -> Vec<OutboxRow> {
        let routes: Vec<_> = self
            .webhooks
            .iter()
            .filter(|w| w.wants(&a.account, &[event]))
            .collect();
        if routes.is_empty() {
            return Vec::new();
        }
        let event_id = format!("evt_{}", uuid::Uuid::now_v7().simple());
        let payload = json!({
            "id": event_id,
            "type": event,
            "created_at": ts(&Utc::now()),
            "data": a,
        })
        .to_string();
        routes
            .into_iter()
            .map(|w| OutboxRow {
                event_id: event_id.clone(),
                webhook: w.name.clone(),
                operation_id: a.approval_id.clone(),
                account: a.account.clone(),
                event_type: event.to_owned(),
                payload: payload.clone(),
                traceparent: self.trace_context.and_then(|f| f()),
            })
            .collect()
    }

    async fn read_approval<'e, E>(&self, ex: E, id: &str) -> Result<Option<Approval>, StoreError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM approvals WHERE approval_id = $1"
        )))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(approval)
        .transpose()
    }

    /// Records a request waiting for approval, or finds the one its key
    /// already holds; writes `approval.requested` with it.
    pub async fn request_approval(&self, n: &NewApproval) -> Result<ApprovalBegin, StoreError> {
        let now = self.now_ms_sql();
        let sha = request_hash(&n.request);
        let mut tx = self.pool.begin().await?;
        let inserted = insert_approval(&mut tx, n, now).await? == 1;
        if inserted {
            let a = self
                .read_approval(&mut *tx, &n.approval_id)
                .await?
                .ok_or_else(|| StoreError::Write("an approval just written is missing".into()))?;
            for row in self.approval_rows("approval.requested", &a) {
                row.bind(sqlx::query(AssertSqlSafe(insert_sql(now))))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            return Ok(ApprovalBegin::Created(Box::new(a)));
        }
        tx.rollback().await?;
        let a = self
            .approval_by_key(&n.account, &n.idempotency_key)
            .await?
            .ok_or_else(|| StoreError::Write("an approval's key is held by nothing".into()))?;
        Ok(if a.request_sha256 == sha && a.operation == n.operation {
            ApprovalBegin::Existing(Box::new(a))
        } else {
            ApprovalBegin::Conflict(Box::new(a))
        })
    }

    /// Turns the in-flight intent `operation_id` (nothing sent: it holds
    /// its order's turn and has passed the order guard) into a request
    /// waiting for approval, in one transaction: the intent, its events and
    /// what it reserved on its order go; the approval takes its key. `None`
    /// when the intent is no longer in flight.
    pub async fn intent_to_approval(
        &self,
        operation_id: &str,
        n: &NewApproval,
    ) -> Result<Option<Approval>, StoreError> {
        let now = self.now_ms_sql();
        let mut tx = self.pool.begin().await?;
        if !crate::refusals::withdraw_intent(&mut tx, operation_id).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        // The key is this request's; a duplicate of it that became an
        // approval first keeps it (the same request, joined).
        let created = insert_approval(&mut tx, n, now).await? == 1;
        let a = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM approvals WHERE account = $1 AND idempotency_key = $2"
        )))
        .bind(&n.account)
        .bind(&n.idempotency_key)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(approval)
        .transpose()?
        .ok_or_else(|| StoreError::Write("an approval just written is missing".into()))?;
        if !created {
            tx.commit().await?;
            return Ok(Some(a));
        }
        for row in self.approval_rows("approval.requested", &a) {
            row.bind(sqlx::query(AssertSqlSafe(insert_sql(now))))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(a))
    }

    /// One approval.
    pub async fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        self.read_approval(&self.pool, id).await
    }

    /// The approval that holds `key` on `account`, if one does.
    pub async fn approval_by_key(
        &self,
        account: &str,
        key: &str,
    ) -> Result<Option<Approval>, StoreError> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM approvals WHERE account = $1 AND idempotency_key = $2"
        )))
        .bind(account)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(approval)
        .transpose()
    }

    /// Approvals, newest first.
    pub async fn approvals(&self, f: &ApprovalFilter) -> Result<Vec<Approval>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM approvals WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        if !f.states.is_empty() {
            let marks: Vec<String> = f
                .states
                .iter()
                .map(|s| {
                    binds.push(s.as_str().to_owned());
                    format!("${}", binds.len())
                })
                .collect();
            sql.push_str(&format!(" AND state IN ({})", marks.join(", ")));
        }
        if let Some(accounts) = &f.accounts {
            if accounts.is_empty() {
                return Ok(Vec::new());
            }
            let marks: Vec<String> = accounts
                .iter()
                .map(|a| {
                    binds.push(a.clone());
                    format!("${}", binds.len())
                })
                .collect();
            sql.push_str(&format!(" AND account IN ({})", marks.join(", ")));
        }
        sql.push_str(&format!(
            " ORDER BY created_ms DESC, approval_id DESC LIMIT {}",
            f.limit.clamp(1, 1000)
        ));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in &binds {
            q = q.bind(b);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(approval)
            .collect()
    }

    /// Approves or rejects a waiting approval (not past its expiry):
    /// one decision wins; writes `approval.approved` or
    /// `approval.rejected` with it.
    pub async fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        note: Option<&str>,
    ) -> Result<Option<Decided>, StoreError> {
        let now = self.now_ms_sql();
        let to = if approve {
            ApprovalState::Approved
        } else {
            ApprovalState::Rejected
        };
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(AssertSqlSafe(format!(
            "UPDATE approvals SET state = $1, decided_by = $2, decided_at = $3, note = $4, next_try_ms = {now}
             WHERE approval_id = $5 AND state = 'awaiting_approval' AND expires_ms > {now}"
        )))
        .bind(to.as_str())
        .bind(by)
        .bind(ts(&Utc::now()))
        .bind(note)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let Some(a) = self.read_approval(&mut *tx, id).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        if !changed {
            tx.rollback().await?;
            return Ok(Some(Decided::NotWaiting(Box::new(a))));
        }
        let event = if approve {
            "approval.approved"
        } else {
            "approval.rejected"
        };
        for row in self.approval_rows(event, &a) {
            row.bind(sqlx::query(AssertSqlSafe(insert_sql(now))))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(Decided::Now(Box::new(a))))
    }

    /// Expires the approvals past their time that were not sent (waiting,
    /// or approved but refused at every try); writes `approval.expired`
    /// for each. The expired ones.
    pub async fn expire_approvals(&self) -> Result<Vec<Approval>, StoreError> {
        let now = self.now_ms_sql();
        let due: Vec<String> = sqlx::query(AssertSqlSafe(format!(
            "SELECT approval_id FROM approvals WHERE state IN ('awaiting_approval', 'approved') AND expires_ms <= {now} AND claimed_until_ms < {now}"
        )))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get("approval_id"))
        .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for id in due {
            let mut tx = self.pool.begin().await?;
            let changed = sqlx::query(AssertSqlSafe(format!(
                "UPDATE approvals SET state = 'expired' WHERE approval_id = $1 AND state IN ('awaiting_approval', 'approved') AND expires_ms <= {now} AND claimed_until_ms < {now}"
            )))
            .bind(&id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !changed {
                tx.rollback().await?;
                continue;
            }
            if let Some(a) = self.read_approval(&mut *tx, &id).await? {
                for row in self.approval_rows("approval.expired", &a) {
                    row.bind(sqlx::query(AssertSqlSafe(insert_sql(now))))
                        .execute(&mut *tx)
                        .await?;
                }
                out.push(a);
            }
            tx.commit().await?;
        }
        Ok(out)
    }

    /// Claims one approved approval due to be sent, for `lease_ms` (on the
    /// store's clock): only one sender holds it at a time. `id`: that one,
    /// else any due.
    pub async fn claim_approved(
        &self,
        id: Option<&str>,
        sender: &str,
        lease_ms: i64,
    ) -> Result<Option<Approval>, StoreError> {
        let now = self.now_ms_sql();
        let candidates: Vec<String> = match id {
            Some(id) => vec![id.to_owned()],
            None => sqlx::query(AssertSqlSafe(format!(
                "SELECT approval_id FROM approvals WHERE state = 'approved' AND next_try_ms <= {now} AND claimed_until_ms < {now} AND expires_ms > {now} ORDER BY next_try_ms LIMIT 8"
            )))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get("approval_id"))
            .collect::<Result<_, _>>()?,
        };
        for c in candidates {
            let won = sqlx::query(AssertSqlSafe(format!(
                "UPDATE approvals SET claimed_by = $1, claimed_until_ms = {now} + $2
                 WHERE approval_id = $3 AND state = 'approved' AND claimed_until_ms < {now} AND expires_ms > {now}"
            )))
            .bind(sender)
            .bind(lease_ms)
            .bind(&c)
            .execute(&self.pool)
            .await?
            .rows_affected()
                == 1;
            if won {
                return self.approval(&c).await;
            }
        }
        Ok(None)
    }

    /// Records that a claimed approval was sent as `operation_id`.
    pub async fn approval_sent(&self, id: &str, operation_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE approvals SET state = 'sent', operation_id = $1, claimed_until_ms = 0 WHERE approval_id = $2 AND state = 'approved'",
        )
        .bind(operation_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a refusal at send time: the approval stands, tried again in
    /// `retry_ms`.
    pub async fn approval_refused(
        &self,
        id: &str,
        refusal: &str,
        retry_ms: i64,
    ) -> Result<(), StoreError> {
        let now = self.now_ms_sql();
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE approvals SET claimed_until_ms = 0, attempts = attempts + 1, last_refusal = $1, next_try_ms = {now} + $2 WHERE approval_id = $3 AND state = 'approved'"
        )))
        .bind(refusal)
        .bind(retry_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The amounts of approvals not yet sent, rejected or expired on
    /// `account` (and `order_ref`, or since `since_ms` on the store's
    /// clock): money that may still move, for the thresholds' sums.
    pub async fn waiting_amounts(
        &self,
        account: &str,
        order_ref: Option<&str>,
        since: Option<chrono::DateTime<Utc>>,
    ) -> Result<Vec<(String, Option<i64>)>, StoreError> {
        let mut sql = String::from(
            "SELECT approval_id, amount FROM approvals WHERE account = $1 AND state IN ('awaiting_approval', 'approved')",
        );
        if order_ref.is_some() {
            sql.push_str(" AND order_ref = $2");
        } else if since.is_some() {
            sql.push_str(" AND created_ms >= $2");
        }
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(account);
        if let Some(o) = order_ref {
            q = q.bind(o);
        } else if let Some(s) = since {
            q = q.bind(s.timestamp_millis());
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("approval_id")?, r.try_get("amount")?)))
            .collect()
    }
}
