//! PostgreSQL's batched writes: the intents and answers waiting at the
//! same time are written by one statement and one commit, [`IN_FLIGHT`]
//! statement at a time.
//!
//! Each statement commits on its own before its callers hear of it, so an
//! intent is still durable before its provider is called and an answer
//! before its client hears it (an answer's webhook deliveries are written in
//! its statement, for the answers that applied). A taken idempotency key
//! skips its row (`ON CONFLICT DO NOTHING`) without failing the others; any
//! other failure of a batch sends its writes again one by one, so one bad
//! write fails alone. Intents are written in (account, key) order and
//! answers in id order, so two statements never wait on each other's keys
//! in opposite orders.
//!
//! The values travel as arrays (`unnest`), so every batch, whatever its mix
//! of intents and answers, is the same statement, prepared and planned once
//! per connection, on connections of its own (see [`PLANNER`] for why its
//! plans do not depend on the table's statistics).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Executor, Row};

use crate::deliveries::OutboxRow;
use crate::model::StoreError;
use crate::writer::{Commits, Done, Job, Queue, Reply};

/// The most writes a statement carries.
pub const MAX_BATCH: usize = 64;

/// Statements written at the same time. One: the fewer statements, the
/// larger each batch and the less the server spends per write (measured
/// with `wrk` at 16 connections, docs/performance.md step 14: one 3,315–3,575
/// req/s, two 2,830–2,990, three 2,480).
const IN_FLIGHT: usize = 1;

/// The batcher's connections plan each statement once (a generic plan) and
/// can only plan it one way, whatever the table's statistics say: nested
/// loops probing an index by the batch's values. Without this, a plan made
/// while the table was small and never analyzed (a server without
/// autovacuum) could read the whole table, or an account's every
/// operation, for each batch for as long as the connection lives; and
/// planning every batch anew cost the server about 40 % of its time. No
/// JIT either: on a large table without statistics the estimated cost of a
/// guard read passes `jit_above_cost`, and compiling it took 4–5 ms, a
/// hundred times the read.
const PLANNER: &str = "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_bitmapscan = off; SET enable_memoize = off; SET jit = off";

/// The batcher (one per store).
#[derive(Debug)]
pub(crate) struct Pg {
    queue: Queue<Job>,
    running: AtomicUsize,
    /// Statements that wrote, and the writes they recorded.
    pub(crate) commits: Commits,
    /// The batches' own connections.
    pool: PgPool,
}

/// [`batch_sql`], built once.
static BATCH_SQL: LazyLock<Arc<str>> = LazyLock::new(|| batch_sql().into());

/// A batch's statement: intents (parameters 1–14, a column each), answers
/// (15–20) and the answers' webhook deliveries (21–26), every one an array.
/// The answers' `state` test is wrapped (`IS TRUE`, the same for a column
/// that is never NULL) so that no index on `state` can serve it: the update
/// finds its rows by primary key alone. An answer whose operation already
/// holds exactly its envelope (the same answer written again after a
/// failure that came after the server's commit) counts as applied and
/// records no second event.
fn batch_sql() -> String {
    format!(
        "WITH iv AS (
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int8[], $12::text[], $13::text[], $14::text[])
             AS t (id, account, provider, operation, idempotency_key, request_sha256, request, owner, created_at, order_ref, deadline_ms, actor, at, detail)),
         op AS (
           INSERT INTO operations (id, account, provider, operation, idempotency_key, request_sha256, request, state, envelope, owner, created_at, updated_at, resolution, order_ref, deadline_ms, actor)
           SELECT id, account, provider, operation, idempotency_key, request_sha256, request, 'in_flight', NULL, owner, created_at, created_at, NULL, order_ref, {now} + deadline_ms, actor FROM iv
           ON CONFLICT DO NOTHING
           RETURNING id),
         iev AS (
           INSERT INTO operation_events (operation_id, at, kind, detail, actor)
           SELECT iv.id, iv.at, 'recorded', iv.detail, iv.actor FROM iv JOIN op ON op.id = iv.id),
         av AS (
           SELECT * FROM unnest($15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[])
             AS t (state, envelope, at, id, detail, detail_late)),
         u AS (
           UPDATE operations o SET state = av.state, envelope = av.envelope, updated_at = av.at
           FROM av WHERE o.id = av.id AND (o.state = 'in_flight') IS TRUE
           RETURNING o.id),
         same AS (
           SELECT o.id FROM av JOIN operations o ON o.id = av.id
           WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.id = av.id)
             AND (o.envelope = av.envelope) IS TRUE),
         aev AS (
           INSERT INTO operation_events (operation_id, at, kind, detail, actor)
           SELECT av.id, av.at, 'finished', CASE WHEN u.id IS NULL THEN av.detail_late ELSE av.detail END, NULL
           FROM av LEFT JOIN u ON u.id = av.id
           WHERE NOT EXISTS (SELECT 1 FROM same WHERE same.id = av.id)),
         ov AS (
           SELECT * FROM unnest($21::text[], $22::text[], $23::text[], $24::text[], $25::text[], $26::text[], $27::text[])
             AS t (event_id, webhook, operation_id, account, event_type, payload, traceparent)),
         od AS (
           INSERT INTO webhook_deliveries (event_id, webhook, operation_id, account, event_type, payload, traceparent, state, attempts, created_ms, next_attempt_ms, lease_until_ms)
           SELECT ov.event_id, ov.webhook, ov.operation_id, ov.account, ov.event_type, ov.payload, ov.traceparent, 'pending', 0, {now}, {now}, 0
           FROM ov JOIN u ON u.id = ov.operation_id)
         SELECT id FROM op UNION ALL SELECT id FROM u UNION ALL SELECT id FROM same",
        now = crate::sql::PG_NOW_MS
    )
}

impl Pg {
    /// A batcher on its own connections to `url` (opened when first used).
    pub(crate) fn connect(url: &str) -> Result<Pg, StoreError> {
        let pool = crate::sql::pool_options::<sqlx::Postgres>(IN_FLIGHT as u32 + 1)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(PLANNER).await?;
                    Ok(())
                })
            })
            .connect_lazy(url)?;
        Ok(Pg {
            queue: Queue::default(),
            running: AtomicUsize::new(0),
            commits: Commits::default(),
            pool,
        })
    }

    /// Queues a write and waits for its commit.
    pub(crate) async fn write(self: &Arc<Self>, job: Job) -> Result<Done, StoreError> {
        let answer = self.queue.push(job);
        if self.take_slot() {
            // A task of its own: a batch taken from the queue is written
            // and answered even if this caller goes away.
            let me = Arc::clone(self);
            tokio::spawn(async move { me.drain().await });
        }
        Queue::<Job>::wait(answer).await
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
    async fn drain(self: &Arc<Self>) {
        loop {
            let batch = self.queue.take(MAX_BATCH);
            if batch.is_empty() {
                self.running.fetch_sub(1, Ordering::AcqRel);
                if self.queue.is_empty() || !self.take_slot() {
                    return;
                }
                continue;
            }
            write_batch(self, batch).await;
        }
    }

    /// One statement: `jobs`' writes, one commit; the ids it wrote (intents
    /// recorded, answers applied to an operation still in flight or already
    /// holding that very answer).
    async fn statement(&self, jobs: &[&Job]) -> Result<HashSet<String>, StoreError> {
        let intents: Vec<&crate::model::IntentValues> = jobs
            .iter()
            .filter_map(|j| match j {
                Job::Begin(v) => Some(v),
                Job::Finish(..) => None,
            })
            .collect();
        let answers: Vec<&crate::model::AnswerValues> = jobs
            .iter()
            .filter_map(|j| match j {
                Job::Finish(v, _) => Some(v),
                Job::Begin(_) => None,
            })
            .collect();
        let outbox: Vec<&OutboxRow> = jobs
            .iter()
            .flat_map(|j| match j {
                Job::Finish(_, rows) => rows.iter().collect(),
                Job::Begin(_) => Vec::new(),
            })
            .collect();
        fn col<T, U>(rows: &[&T], f: impl Fn(&T) -> U) -> Vec<U> {
            rows.iter().map(|r| f(r)).collect()
        }
        let q = sqlx::query(AssertSqlSafe(Arc::clone(&BATCH_SQL)))
            .bind(col(&intents, |v| v.id.clone()))
            .bind(col(&intents, |v| v.account.clone()))
            .bind(col(&intents, |v| v.provider.clone()))
            .bind(col(&intents, |v| v.operation.clone()))
            .bind(col(&intents, |v| v.idempotency_key.clone()))
            .bind(col(&intents, |v| v.request_sha256.clone()))
            .bind(col(&intents, |v| v.request.clone()))
            .bind(col(&intents, |v| v.owner.clone()))
            .bind(col(&intents, |v| v.started_at.clone()))
            .bind(col(&intents, |v| v.order_ref.clone()))
            .bind(col(&intents, |v| v.deadline_ms))
            .bind(col(&intents, |v| v.actor.clone()))
            .bind(col(&intents, |v| v.now.clone()))
            .bind(col(&intents, |v| v.detail.clone()))
            .bind(col(&answers, |v| v.state.to_owned()))
            .bind(col(&answers, |v| v.envelope.clone()))
            .bind(col(&answers, |v| v.now.clone()))
            .bind(col(&answers, |v| v.id.clone()))
            .bind(col(&answers, |v| v.detail.clone()))
            .bind(col(&answers, |v| v.detail_late.clone()))
            .bind(col(&outbox, |o| o.event_id.clone()))
            .bind(col(&outbox, |o| o.webhook.clone()))
            .bind(col(&outbox, |o| o.operation_id.clone()))
            .bind(col(&outbox, |o| o.account.clone()))
            .bind(col(&outbox, |o| o.event_type.clone()))
            .bind(col(&outbox, |o| o.payload.clone()))
            .bind(col(&outbox, |o| o.traceparent.clone()));
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
            .collect()
    }
}

/// What a job's write did, from the ids its statement wrote.
fn done(job: &Job, written: &HashSet<String>) -> Result<Done, StoreError> {
    match job {
        Job::Finish(v, _) => Ok(Done::Finished(written.contains(&v.id))),
        Job::Begin(v) if written.contains(&v.id) => Ok(Done::Created),
        Job::Begin(v) if v.idempotency_key.is_some() => Ok(Done::KeyTaken),
        Job::Begin(v) => Err(StoreError::Corrupt {
            id: v.id.clone(),
            reason: "intent neither written nor refused for a taken key".into(),
        }),
    }
}

/// How many writes a statement recorded: its intents written, and every
/// answer (a late one records its event).
fn recorded(jobs: &[&Job], written: &HashSet<String>) -> u64 {
    jobs.iter()
        .filter(|j| match j {
            Job::Begin(v) => written.contains(&v.id),
            Job::Finish(..) => true,
        })
        .count() as u64
}

/// The order rows are written in: intents by (account, key), then answers
/// by id.
fn order_key(job: &Job) -> (u8, &str, Option<&str>) {
    match job {
        Job::Begin(v) => (0, &v.account, v.idempotency_key.as_deref()),
        Job::Finish(v, _) => (1, &v.id, None),
    }
}

/// Answers each write of a committed statement.
fn reply_all(batch: Vec<(Job, Reply)>, written: &HashSet<String>) {
    for (job, reply) in batch {
        let _ = reply.send(done(&job, written));
    }
}

/// A batch of writes: one statement, or (if the server refuses it) one
/// statement a write.
async fn write_batch(pg: &Arc<Pg>, mut batch: Vec<(Job, Reply)>) {
    if batch.is_empty() {
        return;
    }
    // Keys in one order in every batch: two batches never wait on each
    // other's keys crosswise.
    batch.sort_by(|a, b| order_key(&a.0).cmp(&order_key(&b.0)));
    let jobs: Vec<&Job> = batch.iter().map(|(j, _)| j).collect();
    match pg.statement(&jobs).await {
        Ok(written) => {
            pg.commits.record(recorded(&jobs, &written));
            reply_all(batch, &written);
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
                if let Job::Begin(v) = &job
                    && pg.stored_as(v).await
                {
                    let _ = reply.send(Ok(Done::Created));
                    continue;
                }
                let r = pg.statement(&[&job]).await;
                match r {
                    Ok(written) => {
                        pg.commits.record(recorded(&[&job], &written));
                        reply_all(vec![(job, reply)], &written);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
        }
    }
}

impl Pg {
    /// Closes the batcher's connections.
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    /// Is this intent's row there as this write made it (same request,
    /// same owner)?
    async fn stored_as(&self, v: &crate::model::IntentValues) -> bool {
        let row = sqlx::query("SELECT request_sha256, owner FROM operations WHERE id = $1")
            .bind(&v.id)
            .fetch_optional(&self.pool)
            .await;
        matches!(row, Ok(Some(r))
            if r.try_get::<String, _>(0).is_ok_and(|h| h == v.request_sha256)
                && r.try_get::<String, _>(1).is_ok_and(|o| o == v.owner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use crate::model::{Begin, IntentValues, NewOperation};
    use tokio::sync::oneshot;

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
        let pg = Arc::new(Pg::connect(&url).unwrap());
        write_batch(
            &pg,
            vec![
                (Job::Begin(IntentValues::of(&stored)), r1),
                (Job::Begin(IntentValues::of(&refused)), r2),
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
    /// A fresh store on a database of its own, dropped afterwards.
    struct FreshDb {
        admin: String,
        name: String,
        url: String,
    }

    impl FreshDb {
        async fn new(tag: &str) -> FreshDb {
            let admin =
                std::env::var("PAYOPS_TEST_POSTGRES_URL").expect("PAYOPS_TEST_POSTGRES_URL");
            let name = format!("payops_{tag}_{}", uuid::Uuid::now_v7().simple());
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                .await
                .unwrap();
            c.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .unwrap();
            let (base, _) = admin.rsplit_once('/').expect("a database in the URL");
            let url = format!("{base}/{name}");
            FreshDb { admin, name, url }
        }

        async fn drop(self) {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&self.admin)
                .await
                .unwrap();
            c.execute(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .await
            .unwrap();
        }
    }

    /// The batcher's statements, planned on an empty table that was never
    /// analyzed (as the batcher's connections plan them: once, generically),
    /// can only probe indexes by the batch's values: the primary key for
    /// the answers; no
    /// table scan, no scan of an account's operations, whatever the table
    /// grows to; and none compiled by JIT. Without [`PLANNER`] the plans on
    /// an empty table are scans.
    #[cfg_attr(
        not(payops_postgres),
        ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
    )]
    #[tokio::test]
    async fn plans_do_not_depend_on_statistics() {
        let db = FreshDb::new("plans").await;
        Store::open(&db.url).await.unwrap();
        let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
            .await
            .unwrap();
        // As if every plan cost enough for JIT (a large table without
        // statistics): the batcher's settings keep it off.
        c.execute("SET jit_above_cost = 0").await.unwrap();
        c.execute(PLANNER).await.unwrap();
        let explain = async |c: &mut sqlx::PgConnection, name: &str, sql: String, args: usize| {
            c.execute(AssertSqlSafe(format!("PREPARE {name} AS {sql}")))
                .await
                .unwrap();
            let nulls = vec!["NULL"; args].join(", ");
            let rows = sqlx::query(AssertSqlSafe(format!("EXPLAIN EXECUTE {name}({nulls})")))
                .fetch_all(&mut *c)
                .await
                .unwrap();
            rows.iter()
                .map(|r| r.get::<String, _>(0))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let batch = explain(&mut c, "batch", batch_sql(), 27).await;
        assert!(
            batch.contains("Index Scan using operations_pkey"),
            "{batch}"
        );
        for bad in ["Seq Scan", "Hash", "Merge", "JIT"] {
            assert!(!batch.contains(bad), "{batch}");
        }
        drop(c);
        db.drop().await;
    }
}
