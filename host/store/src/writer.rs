//! SQLite's hot path: intents, answers, an order's turn, the order guard's
//! reads and reservation, on connections of their own driven directly
//! (rusqlite), with group commit.
//!
//! sqlx runs each SQLite connection on a thread of its own: every statement
//! is a hand-off to that thread and back, and on the project's 2-core
//! machine the wake-ups cost more than the statements (a third of a
//! refund's samples were in the scheduler). Here a write needs no other
//! thread: the task that queues it runs it, together with every write queued
//! meanwhile (up to [`MAX_BATCH`]), in one transaction, and answers each
//! caller only after the `COMMIT`: an intent is durable before its provider
//! is called, an answer before its client hears it, exactly as with a commit
//! per write. While one task commits, others queue; the committing task
//! takes what queued before it lets go (leader and followers), so
//! concurrent writes share one fsync. The commit's fsync blocks the runtime
//! thread it runs on (one at a time: one task holds the writer); the other
//! runtime threads keep serving, as they did while sqlx's thread committed.
//! A store on a slow disk makes that thread slow to come back to its other
//! tasks (work stealing moves what it can).
//!
//! Each write of a shared transaction runs in its own savepoint: one write's
//! failure (an idempotency key already taken) rolls back that write alone. A
//! write alone in its transaction takes no savepoint.
//!
//! Everything else (lists, recovery, settlement, migrations, the CLI) stays
//! on sqlx; both open the same file, in WAL mode with `synchronous=FULL`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};
use tokio::sync::oneshot;

use crate::deliveries::OutboxRow;
use crate::model::{AnswerValues, IntentValues, StoreError, StoredOperation};

/// The most writes one commit carries.
pub const MAX_BATCH: usize = 64;

/// Batches a task commits for others before it hands the rest to a task
/// of its own (its own caller is answered after its first).
const LEAD_ROUNDS: usize = 2;

/// Read connections kept open for the order guard.
const READERS: usize = 4;

/// What a write did.
#[derive(Debug)]
pub(crate) enum Done {
    /// The intent is recorded.
    Created,
    /// The idempotency key is taken (nothing written).
    KeyTaken,
    /// The answer: applied (`true`) or late (`false`).
    Finished(bool),
    /// A write of SQLite's own ([`Sqlite::run`]) did what it says.
    Ran(crate::model::Ran),
}

/// A write of SQLite's writer of its own (the order guard's reservations),
/// run in the shared transaction like the others.
pub(crate) type SqliteFn = Box<dyn FnOnce(&Connection) -> Result<Done, StoreError> + Send>;

/// What SQLite's writer queues: a write shared with PostgreSQL's batcher,
/// or one of its own.
pub(crate) enum SqliteJob {
    Write(Box<Job>),
    Run(SqliteFn),
}

impl std::fmt::Debug for SqliteJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SqliteJob::Write(j) => j.fmt(f),
            SqliteJob::Run(_) => f.write_str("Run(..)"),
        }
    }
}

/// A write (SQLite's writer and PostgreSQL's batcher), with every value
/// computed before it is queued (nothing but SQL runs while a batch is
/// written): an intent, or an answer with the webhook deliveries to write if
/// it applies.
#[derive(Debug)]
pub(crate) enum Job {
    Begin(IntentValues),
    Finish(AnswerValues, Vec<OutboxRow>),
}

/// Where a write's outcome goes once its commit is done (or failed).
pub(crate) type Reply = oneshot::Sender<Result<Done, StoreError>>;

/// The writes waiting for a commit, with where each one's outcome goes
/// (SQLite's writer and PostgreSQL's batcher).
#[derive(Debug)]
pub(crate) struct Queue<J>(Mutex<Vec<(J, Reply)>>);

impl<J> Default for Queue<J> {
    fn default() -> Self {
        Queue(Mutex::new(Vec::new()))
    }
}

impl<J> Queue<J> {
    /// Queues a write; the receiver hears its outcome.
    pub(crate) fn push(&self, job: J) -> oneshot::Receiver<Result<Done, StoreError>> {
        let (reply, answer) = oneshot::channel();
        lock(&self.0).push((job, reply));
        answer
    }

    /// The outcome of a queued write (an error if the store went away
    /// first).
    pub(crate) async fn wait(
        answer: oneshot::Receiver<Result<Done, StoreError>>,
    ) -> Result<Done, StoreError> {
        answer
            .await
            .map_err(|_| StoreError::Db(sqlx::Error::PoolClosed))?
    }

    /// Up to `max` writes, oldest first.
    pub(crate) fn take(&self, max: usize) -> Vec<(J, Reply)> {
        let mut q = lock(&self.0);
        let n = q.len().min(max);
        q.drain(..n).collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.0).is_empty()
    }
}

/// Commits of a group-commit writer so far, and the writes they recorded.
#[derive(Debug, Default)]
pub(crate) struct Commits {
    commits: AtomicU64,
    writes: AtomicU64,
}

impl Commits {
    /// A commit that recorded `writes` writes (one that recorded none is
    /// not counted).
    pub(crate) fn record(&self, writes: u64) {
        if writes > 0 {
            self.commits.fetch_add(1, Ordering::Relaxed);
            self.writes.fetch_add(writes, Ordering::Relaxed);
        }
    }

    /// Commits so far, and the writes they recorded.
    pub(crate) fn get(&self) -> (u64, u64) {
        (
            self.commits.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }
}

/// SQLite's hot path (one per store).
#[derive(Debug)]
pub(crate) struct Sqlite {
    path: PathBuf,
    writer: Mutex<Connection>,
    queue: Queue<SqliteJob>,
    readers: Mutex<Vec<Connection>>,
    /// Transactions committed, and the writes they recorded.
    pub(crate) commits: Commits,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a batch leaves the connection as SQLite left it (the
    // transaction is rolled back when its guard drops): still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens a connection with the store's settings: WAL, `synchronous=FULL`,
/// a 10 s busy timeout (another process may hold the write lock).
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

impl Sqlite {
    /// Opens the writer's connection on the store's file (created by the
    /// pool; the writer runs no statement before the first write, after the
    /// migrations).
    pub(crate) fn open(path: &Path) -> Result<Sqlite, StoreError> {
        Ok(Sqlite {
            path: path.to_path_buf(),
            writer: Mutex::new(connect(path)?),
            queue: Queue::default(),
            readers: Mutex::new(Vec::new()),
            commits: Commits::default(),
        })
    }

    /// `journal_mode` and `synchronous` as the writer's connection sees them.
    pub(crate) fn durability(&self) -> Result<(String, i64), StoreError> {
        let conn = lock(&self.writer);
        let j: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
        let s: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0))?;
        Ok((j, s))
    }

    /// Queues a write and waits for its commit.
    pub(crate) async fn write(self: &Arc<Self>, job: Job) -> Result<Done, StoreError> {
        self.queued(SqliteJob::Write(Box::new(job))).await
    }

    /// Queues a write of SQLite's own and waits for its commit.
    pub(crate) async fn run(self: &Arc<Self>, f: SqliteFn) -> Result<Done, StoreError> {
        self.queued(SqliteJob::Run(f)).await
    }

    async fn queued(self: &Arc<Self>, job: SqliteJob) -> Result<Done, StoreError> {
        let answer = self.queue.push(job);
        self.lead(LEAD_ROUNDS);
        Queue::<SqliteJob>::wait(answer).await
    }

    /// Commits what is queued unless another task is committing (that one
    /// looks at the queue again after it lets go of the writer, so nothing
    /// queued is left behind). After `rounds` batches the rest goes to a task
    /// of its own.
    fn lead(self: &Arc<Self>, rounds: usize) {
        for _ in 0..rounds {
            let mut conn = match self.writer.try_lock() {
                Ok(c) => c,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return,
            };
            let batch = self.queue.take(MAX_BATCH);
            if batch.is_empty() {
                return;
            }
            if let Some(n) = commit_batch(&mut conn, batch) {
                self.commits.record(n);
            }
            drop(conn);
            if self.queue.is_empty() {
                return;
            }
        }
        let me = Arc::clone(self);
        tokio::spawn(async move { me.lead(usize::MAX) });
    }

    /// Runs `f` on a read connection of the pool (opened on first need).
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = match lock(&self.readers).pop() {
            Some(c) => c,
            None => connect(&self.path)?,
        };
        let r = f(&conn);
        let mut pool = lock(&self.readers);
        if pool.len() < READERS {
            pool.push(conn);
        }
        r
    }
}

/// One transaction for the batch: each write in a savepoint of its own
/// (none when it is alone), one `COMMIT`, then the replies. When it
/// committed: how many writes it recorded (a taken key records nothing).
fn commit_batch(conn: &mut Connection, batch: Vec<(SqliteJob, Reply)>) -> Option<u64> {
    let alone = batch.len() == 1;
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let text = e.to_string();
            for (_, reply) in batch {
                let _ = reply.send(Err(StoreError::Write(text.clone())));
            }
            return None;
        }
    };
    let mut results = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    for (job, reply) in batch {
        let r = if alone {
            one(&tx, job)
        } else {
            match tx.savepoint() {
                Ok(mut sp) => match one(&sp, job) {
                    Ok(done) => {
                        let undo = if matches!(done, Done::KeyTaken) {
                            sp.rollback()
                        } else {
                            Ok(())
                        };
                        undo.and_then(|()| sp.commit())
                            .map(|()| done)
                            .map_err(StoreError::from)
                    }
                    // Dropping the savepoint rolls back to it and releases it.
                    Err(e) => Err(e),
                },
                Err(e) => Err(e.into()),
            }
        };
        results.push(r);
        replies.push(reply);
    }
    if alone
        && !matches!(
            results[0],
            Ok(Done::Created | Done::Finished(_) | Done::Ran(_))
        )
    {
        // Nothing of a failed write alone stays: the transaction is rolled
        // back (dropping it does).
        drop(tx);
        let _ = replies
            .pop()
            .expect("one")
            .send(results.pop().expect("one"));
        return None;
    }
    match tx.commit() {
        Ok(()) => {
            let recorded = results
                .iter()
                .filter(|r| matches!(r, Ok(Done::Created | Done::Finished(_))))
                .count() as u64;
            for (reply, r) in replies.into_iter().zip(results) {
                let _ = reply.send(r);
            }
            Some(recorded)
        }
        Err(e) => {
            let text = format!("group commit failed: {e}");
            for reply in replies {
                let _ = reply.send(Err(StoreError::Write(text.clone())));
            }
            None
        }
    }
}

/// Is this the insert's unique-constraint violation?
fn unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == ErrorCode::ConstraintViolation
            && matches!(f.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY))
}

/// One write, inside whatever transaction or savepoint `conn` is in.
fn one(conn: &Connection, job: SqliteJob) -> Result<Done, StoreError> {
    let job = match job {
        SqliteJob::Write(job) => *job,
        SqliteJob::Run(f) => return f(conn),
    };
    match &job {
        Job::Begin(v) => {
            let r = conn
                .prepare_cached(&format!(
                    "INSERT INTO operations (id, account, provider, operation, idempotency_key, request_sha256, request, state, envelope, owner, created_at, updated_at, resolution, order_ref, deadline_ms, actor)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'in_flight', NULL, ?8, ?9, ?9, NULL, ?10, {} + ?11, ?12)",
                    crate::sql::SQLITE_NOW_MS
                ))?
                .execute(params![
                    v.id, v.account, v.provider, v.operation, v.idempotency_key,
                    v.request_sha256, v.request, v.owner, v.started_at, v.order_ref,
                    v.deadline_ms, v.actor
                ]);
            match r {
                Ok(_) => {}
                Err(e) if unique_violation(&e) && v.idempotency_key.is_some() => {
                    return Ok(Done::KeyTaken);
                }
                Err(e) => return Err(e.into()),
            }
            conn.prepare_cached(
                "INSERT INTO operation_events (operation_id, at, kind, detail, actor) VALUES (?1, ?2, 'recorded', ?3, ?4)",
            )?
            .execute(params![v.id, v.now, v.detail, v.actor])?;
            Ok(Done::Created)
        }
        Job::Finish(v, outbox) => {
            let applied = conn
                .prepare_cached(
                    "UPDATE operations SET state = ?1, envelope = ?2, updated_at = ?3 WHERE id = ?4 AND state = 'in_flight'",
                )?
                .execute(params![v.state, v.envelope, v.now, v.id])?
                == 1;
            // The same answer written again (its first write's commit was
            // reported failed though it happened): applied, no second event.
            if !applied
                && conn
                    .prepare_cached("SELECT envelope = ?2 FROM operations WHERE id = ?1")?
                    .query_row(params![v.id, v.envelope], |r| r.get::<_, Option<bool>>(0))
                    .optional()?
                    .flatten()
                    == Some(true)
            {
                return Ok(Done::Finished(true));
            }
            if applied {
                for row in outbox {
                    conn.prepare_cached(&crate::deliveries::insert_sql(crate::sql::SQLITE_NOW_MS))?
                        .execute(params![
                            row.event_id,
                            row.webhook,
                            row.operation_id,
                            row.account,
                            row.event_type,
                            row.payload,
                            row.traceparent
                        ])?;
                }
            }
            conn.prepare_cached(
                "INSERT INTO operation_events (operation_id, at, kind, detail, actor) VALUES (?1, ?2, 'finished', ?3, NULL)",
            )?
            .execute(params![
                v.id,
                v.now,
                if applied { &v.detail } else { &v.detail_late }
            ])?;
            Ok(Done::Finished(applied))
        }
    }
}

/// Every operation of `account` about `order_ref`, oldest first.
pub(crate) fn on_order(
    conn: &Connection,
    account: &str,
    order_ref: &str,
) -> Result<Vec<StoredOperation>, StoreError> {
    operations(conn, &crate::sql::on_order_sql(), account, order_ref)
}

/// The operations `sql` selects ([`crate::sql::COLUMNS`]) with `account`
/// and `order_ref` as its parameters.
pub(crate) fn operations(
    conn: &Connection,
    sql: &str,
    account: &str,
    order_ref: &str,
) -> Result<Vec<StoredOperation>, StoreError> {
    let mut st = conn.prepare_cached(sql)?;
    let mut rows = st.query(params![account, order_ref])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(crate::sql::stored_operation(|c| {
            r.get::<_, Option<String>>(c).map_err(StoreError::from)
        })?);
    }
    Ok(out)
}
