//! Group commit (SQLite): intents and answers written by concurrent operations
//! share one transaction and one commit (one fsync on SQLite).
//!
//! One writer task takes what is waiting (up to [`MAX_BATCH`] writes), runs
//! each inside its own savepoint of one transaction, commits, and only then
//! answers each caller: an intent is durable before its provider is called,
//! an answer before its client hears it, exactly as with a commit per
//! write. One write's failure (an idempotency key already taken) rolls back
//! to its savepoint and fails that write alone.

use std::sync::Arc;

use payops_core::Envelope;
use sqlx::{Any, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::{NewOperation, Store, StoreError};

/// The most writes one commit carries.
pub const MAX_BATCH: usize = 64;

/// What a write did.
pub(crate) enum Done {
    /// The intent is recorded.
    Created,
    /// The idempotency key is taken (nothing written).
    KeyTaken,
    /// The answer: applied (`true`) or late (`false`).
    Finished(bool),
}

pub(crate) enum Job {
    Begin(Box<NewOperation>),
    Finish(String, Box<Envelope>),
}

type Reply = oneshot::Sender<Result<Done, StoreError>>;

/// The writer's queue.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    tx: mpsc::UnboundedSender<(Store, Job, Reply)>,
}

impl Writer {
    /// Starts the writer task (inside a Tokio runtime).
    pub(crate) fn start() -> Writer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(rx));
        Writer { tx }
    }

    /// Queues a write and waits for its commit.
    pub(crate) async fn write(&self, store: &Store, job: Job) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((store.clone(), job, reply))
            .map_err(|_| StoreError::Db(sqlx::Error::PoolClosed))?;
        answer
            .await
            .map_err(|_| StoreError::Db(sqlx::Error::PoolClosed))?
    }
}

async fn run(mut rx: mpsc::UnboundedReceiver<(Store, Job, Reply)>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        commit_batch(batch).await;
    }
}

/// What an intent's insert did: the row, or (a unique violation on an
/// intent with an idempotency key) the key taken by an earlier intent.
pub(crate) fn intent_done(
    r: Result<(), StoreError>,
    op: &NewOperation,
) -> Result<Done, StoreError> {
    match r {
        Ok(()) => Ok(Done::Created),
        Err(StoreError::Db(e))
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation())
                && op.idempotency_key.is_some() =>
        {
            Ok(Done::KeyTaken)
        }
        Err(e) => Err(e),
    }
}

/// The statements around a write's own: a transaction of its own when it
/// is alone in its batch (`BEGIN IMMEDIATE` … `COMMIT` in the same call; no
/// savepoint, which would make SQLite journal every page it touches), a
/// savepoint inside a shared one.
pub(crate) fn wrap(alone: bool) -> (&'static str, &'static str) {
    if alone {
        ("BEGIN IMMEDIATE;", "COMMIT")
    } else {
        ("SAVEPOINT w;", "RELEASE SAVEPOINT w")
    }
}

async fn commit_batch(mut batch: Vec<(Store, Job, Reply)>) {
    let pool = batch[0].0.pool.clone();
    // A write alone (the common case below full load) is one call: its
    // transaction, row, event and commit together.
    let alone = batch.len() == 1
        && match &batch[0].1 {
            Job::Begin(_) => true,
            Job::Finish(_, env) => !batch[0].0.has_webhook_routes(env),
        };
    if alone {
        let (s, job, reply) = batch.pop().expect("one write");
        let _ = reply.send(write_alone(&pool, &s, job).await);
        return;
    }
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            let e = Arc::new(e.to_string());
            for (_, _, reply) in batch {
                let _ = reply.send(Err(StoreError::Db(sqlx::Error::Protocol(e.to_string()))));
            }
            return;
        }
    };
    let mut results = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    for (s, job, reply) in batch {
        let r = one(&s, &mut tx, job).await;
        results.push(r);
        replies.push(reply);
    }
    match tx.commit().await {
        Ok(()) => {
            for (reply, r) in replies.into_iter().zip(results) {
                let _ = reply.send(r);
            }
        }
        Err(e) => {
            let text = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(StoreError::Db(sqlx::Error::Protocol(format!(
                    "group commit failed: {text}"
                )))));
            }
        }
    }
}

/// One write in a transaction of its own, sent as one call. If the call
/// stopped before its `COMMIT`, whatever it began is rolled back (and a
/// connection that cannot roll back is closed, never reused mid-transaction).
async fn write_alone(pool: &sqlx::AnyPool, s: &Store, job: Job) -> Result<Done, StoreError> {
    let mut conn = pool.acquire().await?;
    let r = match job {
        // Anything but a new row (a taken key too) leaves the call's
        // transaction to roll back.
        Job::Begin(op) => {
            match intent_done(s.insert_intent_sqlite(&mut conn, &op, true).await, &op) {
                Ok(Done::Created) => Ok(Done::Created),
                other => Err(other),
            }
        }
        Job::Finish(id, envelope) => s
            .write_answer_sqlite(&mut conn, &id, &envelope, true)
            .await
            .map(Done::Finished)
            .map_err(Err),
    };
    match r {
        Ok(done) => Ok(done),
        Err(outcome) => {
            if let Err(e) = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await {
                // "no transaction is active": the call failed at its BEGIN.
                if !e.to_string().contains("no transaction") {
                    let _ = conn.close().await;
                }
            }
            outcome
        }
    }
}

/// One write in its own savepoint, sent to SQLite as one multi-statement
/// call (savepoint, the row, its event, release): one trip to sqlx's
/// SQLite worker thread instead of five. `$N` parameters name the same
/// argument in every statement of the call.
async fn one(s: &Store, tx: &mut Transaction<'static, Any>, job: Job) -> Result<Done, StoreError> {
    let r = match job {
        Job::Begin(op) => intent_done(s.insert_intent_sqlite(tx, &op, false).await, &op),
        Job::Finish(id, envelope) if !s.has_webhook_routes(&envelope) => s
            .write_answer_sqlite(tx, &id, &envelope, false)
            .await
            .map(Done::Finished),
        // With webhook events to queue: statement by statement.
        Job::Finish(id, envelope) => {
            sqlx::query("SAVEPOINT w").execute(&mut **tx).await?;
            let r = s.write_answer(tx, &id, &envelope).await;
            if r.is_ok() {
                sqlx::query("RELEASE SAVEPOINT w")
                    .execute(&mut **tx)
                    .await?;
            }
            r.map(Done::Finished)
        }
    };
    if !matches!(r, Ok(Done::Created | Done::Finished(_))) {
        // The failed call stopped inside its savepoint: undo just it.
        sqlx::raw_sql("ROLLBACK TO SAVEPOINT w; RELEASE SAVEPOINT w")
            .execute(&mut **tx)
            .await?;
    }
    r
}
