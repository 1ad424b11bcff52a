//! # payops-store
//!
//! Every operation payops runs, durably: the intent is recorded *before* the
//! provider is called, the envelope when it answers. One [`Store`] over
//! sqlx's `Any` driver runs the same migrations and queries on SQLite (the
//! embedded default, WAL) and PostgreSQL (several daemons sharing the work).
//! On SQLite the hot path (intents, answers, an order's turn, the order
//! guard's reads and its reservation) runs on connections of its own
//! through rusqlite, its writes with group commit (see `writer.rs`): sqlx
//! hands every SQLite statement to a thread of its own.
//! On PostgreSQL the intents waiting at the same time are one statement, the
//! answers another (`pg_writer.rs`).
//!
//! Idempotency rests on a unique index on `(account, idempotency_key)`: of
//! any number of concurrent inserts with one key exactly one wins; the others
//! read the winner's row. Nothing is check-then-insert.

#![warn(missing_docs)]

mod approvals;
mod batches;
mod deliveries;
mod intents;
mod listing;
mod model;
mod money;
mod open;
mod outbox;
mod people;
mod pg_writer;
mod recovery;
mod refusals;
mod settle;
mod sql;
mod turns;
mod watch;
mod writer;

use std::sync::Arc;

use sqlx::AnyPool;

pub use approvals::{Approval, ApprovalBegin, ApprovalFilter, ApprovalState, Decided, NewApproval};
pub use batches::{BatchRecord, batch_time};
pub use deliveries::{
    Attempt, AttemptResult, Delivery, DeliveryState, EVENT_TYPES, WebhookRoute, event_types,
};
pub use model::{
    Begin, Cursor, Event, ListFilter, NewOperation, OrderMoney, PaidFacts, Reserve, Settle,
    Settlement, State, StoreError, StoredOperation, Turn, request_hash, sqlite_file,
};
pub use open::MIGRATOR;
pub use people::{LiveSession, PendingLogin, Person};
pub use refusals::{NewRefusal, RefusalFilter, StoredRefusal, refusal_id_of};
pub use watch::{Backlog, Watch};

/// The operation store.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: AnyPool,
    /// Where status-change events go (empty: none are written).
    pub(crate) webhooks: Arc<Vec<WebhookRoute>>,
    /// Who writes intents and answers.
    pub(crate) writes: Writes,
    /// The W3C `traceparent` of the caller's current span, stored with
    /// each webhook event (the host's traces; `None`: none stored).
    pub(crate) trace_context: Option<fn() -> Option<String>>,
}

/// Who writes intents and answers (with group commit), by database.
#[derive(Clone, Debug)]
pub(crate) enum Writes {
    /// SQLite's hot path: the writer of intents and answers, and the order
    /// guard's read, on connections of its own (writer.rs).
    Sqlite(Arc<writer::Sqlite>),
    /// PostgreSQL's batcher on the pool (pg_writer.rs).
    Pg(Arc<pg_writer::Pg>),
}
