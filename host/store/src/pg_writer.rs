//! PostgreSQL's batched writes: the intents waiting at the same time are
//! written by one statement, the answers by another, with up to
//! [`IN_FLIGHT`] batches at once (measured with `wrk` at 16 connections:
//! 1 batch at a time 2,925 req/s, 2 about 2,950–3,075, 4 2,609: smaller
//! batches cost the server more per write).
//!
//! Each statement commits on its own before its callers hear of it, so an
//! intent is still durable before its provider is called and an answer
//! before its client hears it. A taken idempotency key skips its row (`ON
//! CONFLICT DO NOTHING`) without failing the others; any other failure of a
//! batch sends its writes again one by one, so one bad write fails alone.
//! Rows are written in (account, key) order, so two batches never wait on
//! each other's keys in opposite orders.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sqlx::{AssertSqlSafe, Row};
use tokio::sync::oneshot;

use crate::writer::Done;
use crate::{AnswerValues, IntentValues, Store, StoreError};

/// The most writes a statement carries.
pub const MAX_BATCH: usize = 32;

/// Batches written at the same time (PostgreSQL commits them in parallel).
const IN_FLIGHT: usize = 2;

/// A write for the batcher.
#[derive(Debug)]
pub(crate) enum PgJob {
    Begin(IntentValues),
    Finish(AnswerValues),
}

type Reply = oneshot::Sender<Result<Done, StoreError>>;

/// The batcher (one per store).
#[derive(Debug, Default)]
pub(crate) struct Pg {
    queue: Mutex<Vec<(PgJob, Reply)>>,
    running: AtomicUsize,
    /// Statements that wrote, and the writes they recorded.
    statements: AtomicU64,
    writes: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pg {
    /// Statements that wrote so far, and the writes they recorded.
    pub(crate) fn commits(&self) -> (u64, u64) {
        (
            self.statements.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }

    fn count(&self, written: usize) {
        if written > 0 {
            self.statements.fetch_add(1, Ordering::Relaxed);
            self.writes.fetch_add(written as u64, Ordering::Relaxed);
        }
    }

    /// Queues a write and waits for its commit.
    pub(crate) async fn write(
        self: &Arc<Self>,
        store: &Store,
        job: PgJob,
    ) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        lock(&self.queue).push((job, reply));
        if self.take_slot() {
            // A task of its own: a batch taken from the queue is written
            // and answered even if this caller goes away.
            let (me, store) = (Arc::clone(self), store.clone());
            tokio::spawn(async move { me.drain(&store).await });
        }
        answer
            .await
            .map_err(|_| StoreError::Db(sqlx::Error::PoolClosed))?
    }

    fn take_slot(&self) -> bool {
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < IN_FLIGHT).then_some(n + 1)
            })
            .is_ok()
    }

    /// Writes batches until the queue is empty. A write queued while every
    /// slot was taken is seen here: the queue is looked at again after the
    /// slot is given back.
    async fn drain(&self, store: &Store) {
        loop {
            let batch: Vec<(PgJob, Reply)> = {
                let mut q = lock(&self.queue);
                let n = q.len().min(MAX_BATCH);
                q.drain(..n).collect()
            };
            if batch.is_empty() {
                self.running.fetch_sub(1, Ordering::AcqRel);
                if lock(&self.queue).is_empty() || !self.take_slot() {
                    return;
                }
                continue;
            }
            write_batch(self, store, batch).await;
        }
    }
}

/// `($n+1, …, $n+k), ($n+k+1, …)`: `rows` rows of `k` parameters after
/// the first `n`.
fn values(n: usize, rows: usize, k: usize) -> String {
    (0..rows)
        .map(|r| {
            let ps: Vec<String> = (1..=k).map(|i| format!("${}", n + r * k + i)).collect();
            format!("({})", ps.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What one statement wrote: the intents recorded (an intent missing had
/// its key taken) and the answers applied (still in flight).
#[derive(Default)]
struct Written {
    intents: HashSet<String>,
    answers: HashSet<String>,
}

/// The intents and answers of a batch in one statement (one commit), each
/// with its audit event.
async fn statement(
    store: &Store,
    intents: &[&IntentValues],
    answers: &[&AnswerValues],
) -> Result<Written, StoreError> {
    let mut ctes = Vec::new();
    let mut selects = Vec::new();
    if !intents.is_empty() {
        ctes.push(format!(
            "vi (id, account, provider, operation, idempotency_key, request_sha256, request, owner, created_at, order_ref, deadline_ms, actor, at, detail) AS (VALUES {}),
             op AS (
               INSERT INTO operations (id, account, provider, operation, idempotency_key, request_sha256, request, state, envelope, owner, created_at, updated_at, resolution, order_ref, deadline_ms, actor)
               SELECT id, account, provider, operation, idempotency_key, request_sha256, request, 'in_flight', NULL, owner, created_at, created_at, NULL, order_ref, {} + deadline_ms, actor FROM vi
               ON CONFLICT DO NOTHING
               RETURNING id),
             ei AS (
               INSERT INTO operation_events (operation_id, at, kind, detail, actor)
               SELECT vi.id, vi.at, 'recorded', vi.detail, vi.actor FROM vi JOIN op ON op.id = vi.id)",
            values(0, intents.len(), 14),
            store.now_ms_sql()
        ));
        selects.push("SELECT 'i' AS kind, id FROM op");
    }
    if !answers.is_empty() {
        ctes.push(format!(
            "va (state, envelope, at, id, detail, detail_late) AS (VALUES {}),
             u AS (
               UPDATE operations o SET state = va.state, envelope = va.envelope, updated_at = va.at
               FROM va WHERE o.id = va.id AND o.state = 'in_flight'
               RETURNING o.id),
             ea AS (
               INSERT INTO operation_events (operation_id, at, kind, detail, actor)
               SELECT va.id, va.at, 'finished', CASE WHEN u.id IS NULL THEN va.detail_late ELSE va.detail END, NULL
               FROM va LEFT JOIN u ON u.id = va.id)",
            values(intents.len() * 14, answers.len(), 6)
        ));
        selects.push("SELECT 'a' AS kind, id FROM u");
    }
    let sql = format!("WITH {} {}", ctes.join(",\n"), selects.join(" UNION ALL "));
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for v in intents {
        q = v.bind(q);
    }
    for v in answers {
        q = v.bind(q);
    }
    let mut w = Written::default();
    for r in q.fetch_all(&store.pool).await? {
        let kind: String = r.try_get(0)?;
        let id: String = r.try_get(1)?;
        if kind == "i" {
            w.intents.insert(id);
        } else {
            w.answers.insert(id);
        }
    }
    Ok(w)
}

/// What a job's write did, from what its statement wrote.
fn done(job: &PgJob, w: &Written) -> Result<Done, StoreError> {
    match job {
        PgJob::Finish(v) => Ok(Done::Finished(w.answers.contains(&v.id))),
        PgJob::Begin(v) if w.intents.contains(&v.id) => Ok(Done::Created),
        PgJob::Begin(v) if v.idempotency_key.is_some() => Ok(Done::KeyTaken),
        PgJob::Begin(v) => Err(StoreError::Corrupt {
            id: v.id.clone(),
            reason: "intent neither written nor refused for a taken key".into(),
        }),
    }
}

/// How many writes a statement recorded: its intents written and every
/// answer (a late one records its event).
fn recorded(w: &Written, answers: usize) -> usize {
    w.intents.len() + answers
}

/// The intents and the answers of `jobs`.
fn split<'a>(jobs: &[&'a PgJob]) -> (Vec<&'a IntentValues>, Vec<&'a AnswerValues>) {
    let (mut i, mut a) = (Vec::new(), Vec::new());
    for j in jobs {
        match j {
            PgJob::Begin(v) => i.push(v),
            PgJob::Finish(v) => a.push(v),
        }
    }
    (i, a)
}

/// Intents and answers in a statement each (a statement mixing both kinds
/// measured slower: every mix of counts is a statement PostgreSQL prepares
/// anew).
async fn write_batch(pg: &Pg, store: &Store, batch: Vec<(PgJob, Reply)>) {
    let (intents, answers): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .partition(|(job, _)| matches!(job, PgJob::Begin(_)));
    write_group(pg, store, intents).await;
    write_group(pg, store, answers).await;
}

async fn write_group(pg: &Pg, store: &Store, mut batch: Vec<(PgJob, Reply)>) {
    if batch.is_empty() {
        return;
    }
    // Keys in one order in every batch: two batches never wait on each
    // other's keys crosswise.
    batch.sort_by(|a, b| match (&a.0, &b.0) {
        (PgJob::Begin(x), PgJob::Begin(y)) => {
            (&x.account, &x.idempotency_key).cmp(&(&y.account, &y.idempotency_key))
        }
        (PgJob::Finish(x), PgJob::Finish(y)) => x.id.cmp(&y.id),
        (PgJob::Begin(_), PgJob::Finish(_)) => std::cmp::Ordering::Less,
        (PgJob::Finish(_), PgJob::Begin(_)) => std::cmp::Ordering::Greater,
    });
    let jobs: Vec<&PgJob> = batch.iter().map(|(j, _)| j).collect();
    let (intents, answers) = split(&jobs);
    match statement(store, &intents, &answers).await {
        Ok(w) => {
            pg.count(recorded(&w, answers.len()));
            for (job, reply) in batch {
                let _ = reply.send(done(&job, &w));
            }
        }
        Err(e) if batch.len() == 1 => {
            let _ = batch.pop().expect("one").1.send(Err(e));
        }
        // Nothing of the statement is written: each write again on its own,
        // so whatever failed it fails alone.
        Err(e) => {
            tracing::debug!(error = %e, writes = batch.len(), "batched writes failed; writing them one by one");
            for (job, reply) in batch {
                // The failure may have come after the server committed (a
                // connection lost on the way back): an intent whose row is
                // there, as this write made it, was written.
                if let PgJob::Begin(v) = &job
                    && let Ok(Some(row)) = store.get(&v.id).await
                    && row.request_sha256 == v.request_sha256
                    && row.owner == v.owner
                {
                    let _ = reply.send(Ok(Done::Created));
                    continue;
                }
                let (i, a) = split(&[&job]);
                let r = statement(store, &i, &a).await;
                if let Ok(w) = &r {
                    pg.count(recorded(w, a.len()));
                }
                let _ = reply.send(r.and_then(|w| done(&job, &w)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Begin, NewOperation};

    fn op(id: &str, key: &str) -> NewOperation {
        NewOperation {
            id: id.into(),
            account: "fallback".into(),
            provider: "esnekpos".into(),
            operation: "refund".into(),
            idempotency_key: Some(key.into()),
            request: serde_json::json!({"order_ref": "F1", "amount": 100}),
            owner: "inst".into(),
            started_at: chrono::Utc::now(),
            actor: None,
            deadline: std::time::Duration::from_secs(60),
        }
    }

    /// A batch that failed after its commit (simulated: one of its intents
    /// is already stored as this write made it) is written again one write
    /// at a time: the stored intent counts as written, not as a taken key;
    /// the write the server refuses fails alone.
    #[cfg_attr(
        not(payops_postgres),
        ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
    )]
    #[tokio::test]
    async fn a_batch_retried_alone_keeps_what_it_had_written() {
        let url = std::env::var("PAYOPS_TEST_POSTGRES_URL").expect("PAYOPS_TEST_POSTGRES_URL");
        let store = Store::open(&url).await.unwrap();
        let n = uuid::Uuid::now_v7().simple().to_string();
        let stored = op(&format!("op_fb_{n}"), &format!("k-{n}"));
        assert!(matches!(
            store.begin(&stored).await.unwrap(),
            Begin::Created
        ));
        let refused = op(&format!("op_fb2_{n}"), "nul\0key");
        let (r1, a1) = oneshot::channel();
        let (r2, a2) = oneshot::channel();
        let pg = Pg::default();
        write_group(
            &pg,
            &store,
            vec![
                (PgJob::Begin(IntentValues::of(&stored)), r1),
                (PgJob::Begin(IntentValues::of(&refused)), r2),
            ],
        )
        .await;
        assert!(matches!(a1.await.unwrap(), Ok(Done::Created)));
        assert!(a2.await.unwrap().is_err());
        // Another write with the stored one's key is still a taken key.
        let other = op(&format!("op_fb3_{n}"), &format!("k-{n}"));
        assert!(matches!(
            store.begin(&other).await.unwrap(),
            Begin::Existing(_)
        ));
    }
}
