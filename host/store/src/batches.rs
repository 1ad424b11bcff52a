//! The record of each `payops batch` run: its id (the root of its rows'
//! idempotency keys) and the file it read, so that a batch can be found
//! again when the journal file beside the batch file is lost.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::Store;
use crate::model::*;

/// A recorded batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchRecord {
    /// Its id.
    pub batch_id: String,
    /// The account its rows use.
    pub account: String,
    /// The operation of its rows.
    pub operation: String,
    /// The file it read (absolute path).
    pub file: String,
    /// The file's SHA-256 when the batch started.
    pub sha256: String,
    /// When it started (RFC 3339, UTC).
    pub created_at: String,
}

fn record(r: &sqlx::any::AnyRow) -> Result<BatchRecord, StoreError> {
    Ok(BatchRecord {
        batch_id: r.try_get("batch_id")?,
        account: r.try_get("account")?,
        operation: r.try_get("operation")?,
        file: r.try_get("file")?,
        sha256: r.try_get("sha256")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// Records a batch (once: an id already recorded is kept as it was).
    pub async fn record_batch(&self, b: &BatchRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO batches (batch_id, account, operation, file, sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (batch_id) DO NOTHING",
        )
        .bind(&b.batch_id)
        .bind(&b.account)
        .bind(&b.operation)
        .bind(&b.file)
        .bind(&b.sha256)
        .bind(&b.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One batch.
    pub async fn batch(&self, batch_id: &str) -> Result<Option<BatchRecord>, StoreError> {
        sqlx::query("SELECT batch_id, account, operation, file, sha256, created_at FROM batches WHERE batch_id = $1")
            .bind(batch_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(record)
            .transpose()
    }

    /// The batches of `file` for `account` and `operation`, newest first.
    pub async fn batches_of_file(
        &self,
        file: &str,
        account: &str,
        operation: &str,
    ) -> Result<Vec<BatchRecord>, StoreError> {
        sqlx::query("SELECT batch_id, account, operation, file, sha256, created_at FROM batches WHERE file = $1 AND account = $2 AND operation = $3 ORDER BY created_at DESC")
            .bind(file)
            .bind(account)
            .bind(operation)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(record)
            .collect()
    }
}

/// Now, as the store writes times.
pub fn batch_time(t: &DateTime<Utc>) -> String {
    ts(t)
}
