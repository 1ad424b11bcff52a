//! Intents and answers: an operation recorded before the provider is
//! called, its answer after, its audit events.

use chrono::Utc;
use payops_core::Envelope;

use crate::model::*;
use crate::{Store, Writes, writer};

impl Store {
    pub(crate) async fn event(&self, id: &str, kind: &str, detail: &str) -> Result<(), StoreError> {
        self.event_by(id, kind, detail, None).await
    }

    /// Adds an entry to an operation's audit trail (e.g. a provider's
    /// callback, verbatim).
    pub async fn record_event(&self, id: &str, kind: &str, detail: &str) -> Result<(), StoreError> {
        self.event(id, kind, detail).await
    }

    /// Adds an entry by `actor` to an operation's audit trail (an
    /// approval's decision, on the operation it was sent as).
    pub async fn record_event_by(
        &self,
        id: &str,
        kind: &str,
        detail: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        self.event_by(id, kind, detail, Some(actor)).await
    }

    pub(crate) async fn event_by(
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

    /// Records the intent. With an idempotency key, a second intent for the
    /// same account and key does not insert: it is [`Begin::Existing`] (same
    /// document) or [`Begin::Conflict`].
    pub async fn begin(&self, op: &NewOperation) -> Result<Begin, StoreError> {
        self.begin_job(IntentValues::of(op), op).await
    }

    pub(crate) async fn begin_job(
        &self,
        values: IntentValues,
        op: &NewOperation,
    ) -> Result<Begin, StoreError> {
        // Committed (with its event) before this returns: on SQLite group
        // commit shares the commit with concurrent writes, never skips it.
        // A key taken by an intent that was then refused (which frees its
        // key) between the insert and the read: the insert is tried again.
        let mut values = Some(values);
        for _ in 0..3 {
            let job = match values.take() {
                Some(v) => writer::Job::Begin(v),
                None => writer::Job::Begin(IntentValues::of(op)),
            };
            let done = match &self.writes {
                Writes::Sqlite(w) => w.write(job).await?,
                Writes::Pg(p) => p.write(job).await?,
            };
            match done {
                writer::Done::KeyTaken => {
                    let hash = request_hash(&op.request);
                    let key = op.idempotency_key.as_deref().unwrap_or_default();
                    let Some(existing) = self.find_by_key(&op.account, key).await? else {
                        continue;
                    };
                    return if existing.request_sha256 == hash && existing.operation == op.operation
                    {
                        Ok(Begin::Existing(Box::new(existing)))
                    } else {
                        Ok(Begin::Conflict(Box::new(existing)))
                    };
                }
                writer::Done::Created => return Ok(Begin::Created),
                writer::Done::Finished(_) | writer::Done::Ran(_) => {
                    return Err(StoreError::Corrupt {
                        id: op.id.clone(),
                        reason: "an intent's write answered as an answer's".into(),
                    });
                }
            }
        }
        Err(StoreError::Write(format!(
            "idempotency key of {} taken and freed three times in a row",
            op.id
        )))
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
        let applied = matches!(done, writer::Done::Finished(true));
        if applied && envelope.status == payops_core::Status::Failed {
            // Its reservation goes back (a failure here leaves it held:
            // the safe way, until the order's row is written again).
            if let Err(e) = self.release(id).await {
                tracing::warn!(operation_id = id, error = %e, "cannot give back the reservation of a failed operation");
            }
        }
        Ok(applied)
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
}
