//! The order guard's reservations: per account and order, one row says what
//! the provider last said was paid and how much of it is returned or held,
//! so that a refund or cancel is checked against one row whatever the
//! order's history (see the `order_money` migration).
//!
//! - [`Store::set_order_money`] writes the row from the order's ledger
//!   (after a query of the order: the only step that reads its history).
//! - [`Store::reserve`] lets a refund or cancel hold its amount only if
//!   `base + held + amount <= paid`, in one transaction with the row locked.
//! - An operation that ends `failed` (its answer, reconciliation, an
//!   operator) or is withdrawn (refused before sending) gives its
//!   reservation back, exactly once (the operation's `reserved` is cleared
//!   in the same transaction). `pending`, `unknown` and `succeeded` keep it.
//!
//! Every transaction here takes its locks in one order, the operation rows
//! first and the order's row after, and starts with a write (SQLite then
//! holds its write lock from the first statement).

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use sqlx::{AssertSqlSafe, Row};

use crate::model::*;
use crate::sql::COLUMNS;
use crate::writer::Done;
use crate::{Store, Writes};

const MONEY_COLUMNS: &str = "currency, paid, paid_read_ms, paid_by, base, held";

/// SQLite's side: the same statements on the writer's and readers'
/// connections (rusqlite), so a reservation shares the group commit of
/// the intents and answers around it instead of a commit of its own.
mod sqlite {
    use super::*;

    pub(super) fn order_money(
        c: &Connection,
        account: &str,
        order_ref: &str,
    ) -> Result<Option<OrderMoney>, StoreError> {
        Ok(c.prepare_cached(&format!(
            "SELECT {MONEY_COLUMNS} FROM order_money WHERE account = ?1 AND order_ref = ?2"
        ))?
        .query_row(params![account, order_ref], |r| {
            Ok(OrderMoney {
                currency: r.get(0)?,
                paid: r.get(1)?,
                paid_read_ms: r.get(2)?,
                paid_by: r.get(3)?,
                base: r.get(4)?,
                held: r.get(5)?,
            })
        })
        .optional()?)
    }

    pub(super) fn reserve(
        c: &Connection,
        account: &str,
        order_ref: &str,
        id: &str,
        amount: Option<i64>,
    ) -> Result<Reserve, StoreError> {
        // The writer holds SQLite's write lock: nothing moves meanwhile.
        let Some(row) = order_money(c, account, order_ref)? else {
            return Ok(Reserve::NoRow);
        };
        let Some(amount) = fits(&row, amount) else {
            return Ok(Reserve::Exceeds(row));
        };
        let mine = c
            .prepare_cached(
                "UPDATE operations SET reserved = ?2 WHERE id = ?1 AND state = 'in_flight'",
            )?
            .execute(params![id, amount])?;
        if mine != 1 {
            return Ok(Reserve::NotInFlight);
        }
        c.prepare_cached(
            "UPDATE order_money SET held = held + ?3 WHERE account = ?1 AND order_ref = ?2",
        )?
        .execute(params![account, order_ref, amount])?;
        Ok(Reserve::Held(amount))
    }

    pub(super) fn set(
        c: &Connection,
        account: &str,
        order_ref: &str,
        paid: &PaidFacts,
        base: i64,
    ) -> Result<OrderMoney, StoreError> {
        c.prepare_cached(
            "UPDATE operations SET reserved = NULL WHERE order_ref = ?2 AND account = ?1 AND state = 'failed' AND reserved IS NOT NULL",
        )?
        .execute(params![account, order_ref])?;
        let held: i64 = c
            .prepare_cached(
                "SELECT COALESCE(SUM(reserved), 0) FROM operations \
                 WHERE order_ref = ?2 AND account = ?1 AND reserved IS NOT NULL AND state <> 'failed'",
            )?
            .query_row(params![account, order_ref], |r| r.get(0))?;
        c.prepare_cached(
            "INSERT INTO order_money (account, order_ref, currency, paid, paid_read_ms, paid_by, base, held) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (account, order_ref) DO UPDATE SET currency = excluded.currency, paid = excluded.paid, \
             paid_read_ms = excluded.paid_read_ms, paid_by = excluded.paid_by, base = excluded.base, held = excluded.held",
        )?
        .execute(params![
            account, order_ref, paid.currency, paid.paid, paid.read_ms, paid.by, base, held
        ])?;
        Ok(OrderMoney {
            currency: paid.currency.clone(),
            paid: paid.paid,
            paid_read_ms: paid.read_ms,
            paid_by: paid.by.clone(),
            base,
            held,
        })
    }
}

/// The amount a request holds if it fits the row: `amount`, or for a
/// whole-order request (`None`) what remains; `None` if it does not fit.
fn fits(row: &OrderMoney, amount: Option<i64>) -> Option<i64> {
    let remaining = row.remaining();
    let amount = amount.unwrap_or(remaining);
    (amount <= remaining && (amount > 0 || remaining > 0)).then_some(amount)
}

/// The outcome of a write of SQLite's writer that answers `Ran`.
fn ran(done: Done) -> Result<Ran, StoreError> {
    match done {
        Done::Ran(r) => Ok(r),
        other => Err(StoreError::Write(format!(
            "the order's row: unexpected answer {other:?}"
        ))),
    }
}

fn money_row(r: &sqlx::any::AnyRow) -> Result<OrderMoney, StoreError> {
    Ok(OrderMoney {
        currency: r.try_get("currency")?,
        paid: r.try_get("paid")?,
        paid_read_ms: r.try_get("paid_read_ms")?,
        paid_by: r.try_get("paid_by")?,
        base: r.try_get("base")?,
        held: r.try_get("held")?,
    })
}

impl Store {
    /// The order's row, if what was paid on it has been read.
    pub async fn order_money(
        &self,
        account: &str,
        order_ref: &str,
    ) -> Result<Option<OrderMoney>, StoreError> {
        if let Writes::Sqlite(w) = &self.writes {
            return w.read(|c| sqlite::order_money(c, account, order_ref));
        }
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {MONEY_COLUMNS} FROM order_money WHERE account = $1 AND order_ref = $2"
        )))
        .bind(account)
        .bind(order_ref)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(money_row)
        .transpose()
    }

    /// The reservations on the order's operations (operation id, amount),
    /// whatever their state. Read it *before* the operations the ledger
    /// counts (see [`Store::set_order_money`]).
    pub async fn reservations(
        &self,
        account: &str,
        order_ref: &str,
    ) -> Result<HashMap<String, i64>, StoreError> {
        if let Writes::Sqlite(w) = &self.writes {
            return w.read(|c| {
                let mut st = c.prepare_cached(
                    "SELECT id, reserved FROM operations WHERE account = ?1 AND order_ref = ?2 AND reserved IS NOT NULL",
                )?;
                let rows = st.query_map(params![account, order_ref], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.map(|r| r.map_err(StoreError::from)).collect()
            });
        }
        sqlx::query(
            "SELECT id, reserved FROM operations WHERE order_ref = $2 AND account = $1 AND reserved IS NOT NULL",
        )
        .bind(account)
        .bind(order_ref)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("reserved")?)))
        .collect()
    }

    /// Writes the order's row from its ledger: `paid`, and `base`, what the
    /// ledger counted as returned or at risk minus the reservations of the
    /// operations it counted (both from a read of [`Store::reservations`]
    /// followed by one of [`Store::on_order`]). `held` is summed anew from
    /// the reservations now, and those of `failed` operations are dropped;
    /// an operation that reserved or gave back between the reads and this
    /// write is then counted once either way.
    pub async fn set_order_money(
        &self,
        account: &str,
        order_ref: &str,
        paid: &PaidFacts,
        base: i64,
    ) -> Result<OrderMoney, StoreError> {
        if let Writes::Sqlite(w) = &self.writes {
            let (account, order_ref, paid) =
                (account.to_owned(), order_ref.to_owned(), paid.clone());
            let done = w
                .run(Box::new(move |c| {
                    sqlite::set(c, &account, &order_ref, &paid, base)
                        .map(|m| Done::Ran(Ran::Set(m)))
                }))
                .await?;
            return match ran(done)? {
                Ran::Set(m) => Ok(m),
                other => Err(StoreError::Write(format!("unexpected {other:?}"))),
            };
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE operations SET reserved = NULL WHERE order_ref = $2 AND account = $1 AND state = 'failed' AND reserved IS NOT NULL",
        )
        .bind(account)
        .bind(order_ref)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO order_money (account, order_ref, currency, paid, paid_read_ms, paid_by, base, held) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0) \
             ON CONFLICT (account, order_ref) DO UPDATE SET currency = excluded.currency, paid = excluded.paid, \
             paid_read_ms = excluded.paid_read_ms, paid_by = excluded.paid_by, base = excluded.base",
        )
        .bind(account)
        .bind(order_ref)
        .bind(&paid.currency)
        .bind(paid.paid)
        .bind(paid.read_ms)
        .bind(&paid.by)
        .bind(base)
        .execute(&mut *tx)
        .await?;
        let held: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(reserved), 0) AS BIGINT) AS held FROM operations \
             WHERE order_ref = $2 AND account = $1 AND reserved IS NOT NULL AND state <> 'failed'",
        )
        .bind(account)
        .bind(order_ref)
        .fetch_one(&mut *tx)
        .await?
        .try_get("held")?;
        sqlx::query("UPDATE order_money SET held = $3 WHERE account = $1 AND order_ref = $2")
            .bind(account)
            .bind(order_ref)
            .bind(held)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(OrderMoney {
            currency: paid.currency.clone(),
            paid: paid.paid,
            paid_read_ms: paid.read_ms,
            paid_by: paid.by.clone(),
            base,
            held,
        })
    }

    /// Lets the in-flight operation `id` hold `amount` of the order (`None`:
    /// everything that remains) if it fits: base + held + amount <= paid.
    /// One transaction with the order's row locked: two operations, from
    /// one daemon or several, never hold more than was paid between them.
    pub async fn reserve(
        &self,
        account: &str,
        order_ref: &str,
        id: &str,
        amount: Option<i64>,
    ) -> Result<Reserve, StoreError> {
        if let Writes::Sqlite(w) = &self.writes {
            let (account, order_ref, id) =
                (account.to_owned(), order_ref.to_owned(), id.to_owned());
            let done = w
                .run(Box::new(move |c| {
                    sqlite::reserve(c, &account, &order_ref, &id, amount)
                        .map(|r| Done::Ran(Ran::Reserved(r)))
                }))
                .await?;
            return match ran(done)? {
                Ran::Reserved(r) => Ok(r),
                other => Err(StoreError::Write(format!("unexpected {other:?}"))),
            };
        }
        let mut tx = self.pool.begin().await?;
        let locked =
            sqlx::query("UPDATE order_money SET held = held WHERE account = $1 AND order_ref = $2")
                .bind(account)
                .bind(order_ref)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if locked != 1 {
            tx.rollback().await?;
            return Ok(Reserve::NoRow);
        }
        let row = money_row(
            &sqlx::query(AssertSqlSafe(format!(
                "SELECT {MONEY_COLUMNS} FROM order_money WHERE account = $1 AND order_ref = $2"
            )))
            .bind(account)
            .bind(order_ref)
            .fetch_one(&mut *tx)
            .await?,
        )?;
        let Some(amount) = fits(&row, amount) else {
            tx.rollback().await?;
            return Ok(Reserve::Exceeds(row));
        };
        let mine = sqlx::query(
            "UPDATE operations SET reserved = $2 WHERE id = $1 AND state = 'in_flight'",
        )
        .bind(id)
        .bind(amount)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if mine != 1 {
            tx.rollback().await?;
            return Ok(Reserve::NotInFlight);
        }
        sqlx::query(
            "UPDATE order_money SET held = held + $3 WHERE account = $1 AND order_ref = $2",
        )
        .bind(account)
        .bind(order_ref)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Reserve::Held(amount))
    }

    /// Marks the in-flight operation `id` as past the guard of an order with
    /// no row (what was paid is not known): it holds `amount` (0 when that
    /// is not known), which a row written later counts.
    pub async fn hold_unguarded(&self, id: &str, amount: i64) -> Result<(), StoreError> {
        const SQL: &str =
            "UPDATE operations SET reserved = ?2 WHERE id = ?1 AND state = 'in_flight'";
        if let Writes::Sqlite(w) = &self.writes {
            let id = id.to_owned();
            w.run(Box::new(move |c| {
                c.prepare_cached(SQL)?.execute(params![id, amount])?;
                Ok(Done::Ran(Ran::Held))
            }))
            .await?;
            return Ok(());
        }
        sqlx::query("UPDATE operations SET reserved = $2 WHERE id = $1 AND state = 'in_flight'")
            .bind(id)
            .bind(amount)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Gives back what the `failed` operation `id` holds (nothing if it
    /// holds nothing, or gave it back already).
    pub(crate) async fn release(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let mine = sqlx::query(
            "UPDATE operations SET reserved = reserved WHERE id = $1 AND state = 'failed' AND reserved IS NOT NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if mine != 1 {
            tx.rollback().await?;
            return Ok(());
        }
        let r = sqlx::query("SELECT account, order_ref, reserved FROM operations WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let (account, order_ref, reserved): (String, Option<String>, i64) = (
            r.try_get("account")?,
            r.try_get("order_ref")?,
            r.try_get("reserved")?,
        );
        sqlx::query("UPDATE operations SET reserved = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        give_back(&mut tx, &account, order_ref.as_deref(), reserved).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The unresolved (`unknown`, `pending`) refunds and cancels of the
    /// order, oldest first: read by the order's state index, whatever the
    /// order's history.
    pub async fn unresolved_on_order(
        &self,
        account: &str,
        order_ref: &str,
    ) -> Result<Vec<StoredOperation>, StoreError> {
        // (`$1` before `$2`: rusqlite numbers `$N` by first appearance.)
        let sql = format!(
            "SELECT {COLUMNS} FROM operations WHERE account = $1 AND order_ref = $2 \
             AND state IN ('unknown', 'pending') AND operation IN ('refund', 'cancel') ORDER BY created_at, id"
        );
        if let Writes::Sqlite(w) = &self.writes {
            return w.read(|c| crate::writer::operations(c, &sql, account, order_ref));
        }
        sqlx::query(AssertSqlSafe(sql))
            .bind(account)
            .bind(order_ref)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(Store::row)
            .collect()
    }
}

/// Lowers the order's `held` by `reserved` (inside the caller's
/// transaction, after it locked the operation's row).
pub(crate) async fn give_back(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    account: &str,
    order_ref: Option<&str>,
    reserved: i64,
) -> Result<(), StoreError> {
    let Some(order_ref) = order_ref else {
        return Ok(());
    };
    sqlx::query("UPDATE order_money SET held = held - $3 WHERE account = $1 AND order_ref = $2")
        .bind(account)
        .bind(order_ref)
        .bind(reserved)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
