//! What an operator watches, read in a few aggregate queries: unresolved
//! operations and approvals by account with their oldest, and orders whose
//! reservations exceed what was paid. The daemon turns them into gauges.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::Store;
use crate::model::{StoreError, parse_ts};

/// A count and the oldest creation time of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backlog {
    /// The account.
    pub account: String,
    /// The state (`unknown`, `pending`, `awaiting_approval`).
    pub state: String,
    /// How many.
    pub count: i64,
    /// The oldest one's creation (or request) time.
    pub oldest: Option<DateTime<Utc>>,
}

/// The figures of [`Store::watch`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watch {
    /// `unknown` and `pending` operations by account and state.
    pub unresolved: Vec<Backlog>,
    /// Approvals waiting for a decision, by account.
    pub approvals: Vec<Backlog>,
    /// Orders whose returned, at-risk and reserved money exceeds what the
    /// provider said was paid (remaining below zero), by account.
    pub overdrawn: Vec<(String, i64)>,
}

impl Store {
    /// The figures an operator watches (three aggregate reads).
    pub async fn watch(&self) -> Result<Watch, StoreError> {
        let backlog = |r: &sqlx::any::AnyRow| -> Result<Backlog, StoreError> {
            let account: String = r.try_get("account")?;
            // An unreadable time is an error, never an age of 0 (which
            // would keep an old operation's alert quiet).
            let oldest = r
                .try_get::<Option<String>, _>("oldest")?
                .map(|t| parse_ts(&account, &t))
                .transpose()?;
            Ok(Backlog {
                account,
                state: r.try_get("state")?,
                count: r.try_get("n")?,
                oldest,
            })
        };
        let unresolved = sqlx::query(
            "SELECT account, state, COUNT(*) AS n, MIN(created_at) AS oldest FROM operations \
             WHERE state IN ('unknown', 'pending') GROUP BY account, state ORDER BY account, state",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(backlog)
        .collect::<Result<_, _>>()?;
        let approvals = sqlx::query(
            "SELECT account, state, COUNT(*) AS n, MIN(requested_at) AS oldest FROM approvals \
             WHERE state = 'awaiting_approval' GROUP BY account, state ORDER BY account",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(backlog)
        .collect::<Result<_, _>>()?;
        // Counted here, not by `GROUP BY`: SQLite would walk the primary
        // key to group (about 4x the time of a plain scan on a million
        // orders), and the rows found are the overdrawn ones, normally none.
        let mut overdrawn: Vec<(String, i64)> = Vec::new();
        for r in sqlx::query("SELECT account FROM order_money WHERE base + held > paid")
            .fetch_all(&self.pool)
            .await?
        {
            let account: String = r.try_get("account")?;
            match overdrawn.iter_mut().find(|(a, _)| *a == account) {
                Some((_, n)) => *n += 1,
                None => overdrawn.push((account, 1)),
            }
        }
        overdrawn.sort();
        Ok(Watch {
            unresolved,
            approvals,
            overdrawn,
        })
    }
}
