//! The order ledger: per account and order reference, what the provider
//! last said was paid (and when), every payops operation on the order, the
//! returns the provider lists that no payops operation owns (external
//! returns), and the totals: succeeded, pending, at risk (`unknown` and in
//! flight), and what remains to return.
//!
//! remaining = paid - succeeded - pending - at risk, where succeeded and
//! pending include the external returns, and succeeded is at least the
//! provider's own returned total where it gives one (TurkPos). Everything
//! here is computed from what the store holds (the operations on the order,
//! their reservations and the newest successful query of it) and what the
//! provider's own reconciliation says of that query's rows ([`Known`]);
//! nothing is sent. A refund or cancel in flight counts once it is past the
//! order guard (it holds a reservation): before that it waits for its turn
//! and has sent nothing.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, FixedOffset};
use payops_core::ledger::{ListedReturn, OrderFacts, ReturnState, ReturnsListed};
use payops_core::{Currency, Status};
use payops_store::{State, StoredOperation};
use serde::Serialize;
use serde_json::Value;

/// The kinds of operation that move an order's money back.
pub(crate) fn returns_money(operation: &str) -> bool {
    matches!(operation, "refund" | "cancel" | "return")
}

/// What a stored operation counts as, for the provider's reconciliation
/// and the ledger: a `return` as the operation it became (its last
/// attempt's operation, document and details); a return that chose
/// nothing yet, and every other operation, as itself.
pub(crate) fn as_became(o: &StoredOperation) -> Option<(payops_core::OperationKind, Value, Value)> {
    let kind: payops_core::OperationKind = o.operation.parse().ok()?;
    let details = o
        .envelope
        .as_ref()
        .map(|e| e.details.clone())
        .unwrap_or(Value::Null);
    if kind != payops_core::OperationKind::Return {
        return Some((kind, o.request.clone(), details));
    }
    Some(
        match serde_json::from_value::<payops_core::ReturnDetails>(details) {
            Ok(d) => (
                d.became,
                d.attempts
                    .last()
                    .map_or_else(|| o.request.clone(), |a| a.document.clone()),
                d.details,
            ),
            Err(_) => (kind, o.request.clone(), Value::Null),
        },
    )
}

/// What the provider last said was paid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Paid {
    /// Amount in minor units.
    pub amount: i64,
    /// Its currency.
    pub currency: Currency,
    /// When the provider's answer was read (+03:00).
    pub read_at: DateTime<FixedOffset>,
    /// The query operation that read it.
    pub by_operation: String,
    /// How that answer lists returns.
    pub returns_listed: ReturnsListed,
}

/// One payops operation on the order, as the ledger counts it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderOperation {
    /// Its id.
    pub operation_id: String,
    /// `refund`, `cancel`, `query`...
    pub operation: String,
    /// Its state.
    pub state: State,
    /// The money it returns (minor units): what its answer says, else what
    /// it asked for; `None` for a query, or a whole-order return whose
    /// amount is not known yet.
    pub amount: Option<i64>,
    /// The provider's reference of it.
    pub provider_reference: Option<String>,
    /// When it was asked for (+03:00).
    pub created_at: DateTime<FixedOffset>,
}

/// A return the provider lists that no payops operation owns (made in the
/// provider's panel, or by another system).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExternalReturn {
    /// The provider's transaction id.
    pub transaction_id: Option<String>,
    /// Cancel or refund.
    pub kind: payops_core::ledger::ReturnKind,
    /// Its state.
    pub state: ReturnState,
    /// Amount in minor units.
    pub amount: Option<i64>,
    /// When, by the provider's clock.
    pub date: Option<DateTime<FixedOffset>>,
    /// Unresolved payops operations that could own it by the provider's
    /// matching, when each of them already keeps another listed row it
    /// could own (at most one row is an operation's own: this one counts
    /// in full until reconciliation says whose it is).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub could_be: Vec<String>,
}

/// The totals of an order, in minor units of its currency.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Returned for good: payops's succeeded returns and the external
    /// succeeded ones (at least the provider's own returned total).
    pub succeeded: i64,
    /// Accepted, not done yet (payops's and external).
    pub pending: i64,
    /// Money at risk: `unknown` and in-flight returns (they may have moved
    /// money).
    pub unknown: i64,
    /// paid - succeeded - pending - unknown; `None` while what was paid is
    /// not known.
    pub remaining: Option<i64>,
}

/// An order's ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderLedger {
    /// The account.
    pub account: String,
    /// The order reference.
    pub order_ref: String,
    /// What was paid, as the newest successful query of the order read it;
    /// `None` when no query of it is stored.
    pub paid: Option<Paid>,
    /// The totals.
    pub totals: Totals,
    /// The provider's own returned total, where its query gives one; where
    /// the provider lists nothing but this total, what is returned is at
    /// least this.
    pub provider_returned_total: Option<i64>,
    /// Why a total could not be counted exactly (an amount missing or too
    /// large): `remaining` is then 0, so nothing more is allowed.
    pub not_counted: Vec<String>,
    /// Every payops operation on the order, oldest first.
    pub operations: Vec<OrderOperation>,
    /// Returns the provider lists that no payops operation owns.
    pub external_returns: Vec<ExternalReturn>,
}

/// The amount an operation returns: its answer's `details.amount`, else
/// the request's `amount`.
pub(crate) fn amount_of(o: &StoredOperation) -> Option<i64> {
    // A return counts as what it became: that attempt's details and
    // document.
    if let Some((_, request, details)) = as_became(o).filter(|_| o.operation == "return") {
        return details
            .get("amount")
            .and_then(Value::as_i64)
            .or_else(|| request.get("amount").and_then(Value::as_i64))
            .or_else(|| o.request.get("amount").and_then(Value::as_i64));
    }
    o.envelope
        .as_ref()
        .and_then(|e| e.details.get("amount").and_then(Value::as_i64))
        .or_else(|| o.request.get("amount").and_then(Value::as_i64))
}

/// The facts of a succeeded query's answer: its `ledger`, or for answers
/// of versions before it, what was paid (`amount`, `currency`).
fn facts_of(o: &StoredOperation) -> Option<OrderFacts> {
    let e = o.envelope.as_ref()?;
    if let Some(f) = e
        .details
        .get("ledger")
        .filter(|l| !l.is_null())
        .and_then(|l| serde_json::from_value::<OrderFacts>(l.clone()).ok())
    {
        return Some(f);
    }
    let d: payops_core::QueryDetails = serde_json::from_value(e.details.clone()).ok()?;
    Some(OrderFacts::not_listed(&d))
}

/// What the store and the provider know beside the operations on an order.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Provider transactions already claimed (transaction id, operation id).
    pub claimed: Vec<(String, String)>,
    /// The order guard's reservations (operation id, amount): an operation
    /// in flight counts only with one (it is past the guard), and one whose
    /// amount is not known otherwise (a whole-order return) counts its
    /// reservation.
    pub reserved: HashMap<String, i64>,
    /// Per unresolved refund or cancel of the order, the listed
    /// transactions it could own by its provider's reconciliation (its
    /// proof or its candidates); `None` when the provider was not asked
    /// (then a listed return of an operation's amount is one it could own).
    pub could_own: Option<HashMap<String, HashSet<String>>>,
}

impl Known {
    /// The amount operation `id` holds, when it holds a known amount (a
    /// request past the guard of an order whose payment was not known
    /// holds 0: its amount is not known).
    fn held(&self, id: &str) -> Option<i64> {
        self.reserved.get(id).copied().filter(|r| *r > 0)
    }
}

impl OrderLedger {
    /// The ledger of `order_ref` from the operations on it (oldest first,
    /// as [`payops_store::Store::on_order`] gives them) and what is
    /// [`Known`] of them.
    pub fn of(
        account: &str,
        order_ref: &str,
        operations: &[StoredOperation],
        known: &Known,
    ) -> OrderLedger {
        let tz = payops_core::turkey_offset();
        let newest_query = operations
            .iter()
            .rev()
            .filter(|o| o.operation == "query" && o.state == State::Succeeded)
            .find_map(|o| facts_of(o).map(|f| (o, f)));
        let mut not_counted = Vec::new();
        let paid = newest_query.as_ref().and_then(|(o, f)| {
            Some(Paid {
                amount: f.paid?,
                currency: f.currency,
                read_at: o
                    .envelope
                    .as_ref()
                    .map_or_else(|| o.updated_at.with_timezone(&tz), |e| e.finished_at),
                by_operation: o.id.clone(),
                returns_listed: f.listed,
            })
        });
        let mut totals = Totals::default();
        let mut add = |total: &mut i64, what: &str, amount: Option<i64>| match amount {
            Some(a) => match total.checked_add(a) {
                Some(t) => *total = t,
                None => not_counted.push(format!("{what}: the sum overflows")),
            },
            None => not_counted.push(format!("{what}: its amount is not known")),
        };
        let mut rows = Vec::new();
        for o in operations {
            let amount = if returns_money(&o.operation) {
                amount_of(o).or_else(|| known.held(&o.id))
            } else {
                None
            };
            if returns_money(&o.operation) {
                let what = format!("{} {} ({})", o.operation, o.id, o.state.as_str());
                match o.state {
                    State::Succeeded => add(&mut totals.succeeded, &what, amount),
                    State::Pending => add(&mut totals.pending, &what, amount),
                    State::Unknown => add(&mut totals.unknown, &what, amount),
                    // Past the guard: it may be moving money now.
                    State::InFlight if known.reserved.contains_key(&o.id) => {
                        add(&mut totals.unknown, &what, amount)
                    }
                    // Waiting for its turn: it has sent nothing.
                    State::InFlight | State::Failed => {}
                }
            }
            rows.push(OrderOperation {
                operation_id: o.id.clone(),
                operation: o.operation.clone(),
                state: o.state,
                amount,
                provider_reference: o
                    .envelope
                    .as_ref()
                    .and_then(|e| e.provider_reference.clone()),
                created_at: o.created_at.with_timezone(&tz),
            });
        }
        // The listed returns no operation owns.
        let mut external_returns = Vec::new();
        let mut provider_returned_total = None;
        if let Some((_, f)) = &newest_query {
            provider_returned_total = f.returned_total;
            for (r, could_be) in unowned(f, operations, known) {
                let what = format!(
                    "external return {}",
                    r.transaction_id.as_deref().unwrap_or("(no id)")
                );
                match r.state {
                    ReturnState::Succeeded => add(&mut totals.succeeded, &what, r.amount),
                    ReturnState::Pending => add(&mut totals.pending, &what, r.amount),
                    ReturnState::Unknown => add(&mut totals.unknown, &what, r.amount),
                    ReturnState::Failed => {}
                }
                external_returns.push(ExternalReturn {
                    transaction_id: r.transaction_id.clone(),
                    kind: r.kind,
                    state: r.state,
                    amount: r.amount,
                    date: r.date,
                    could_be,
                });
            }
        }
        // Where the provider gives only its total, that total is a floor for
        // what is returned (it may include what an unresolved operation
        // did, which then counts twice: the safe way). Where it lists each
        // return, the rows are counted above, each once.
        if let (Some(floor), Some((_, f))) = (provider_returned_total, &newest_query)
            && f.listed == ReturnsListed::TotalOnly
        {
            totals.succeeded = totals.succeeded.max(floor);
        }
        totals.remaining = paid.as_ref().map(|p| {
            if !not_counted.is_empty() {
                return 0;
            }
            [totals.succeeded, totals.pending, totals.unknown]
                .iter()
                .try_fold(p.amount, |left, t| left.checked_sub(*t))
                .unwrap_or(0)
        });
        OrderLedger {
            account: account.to_owned(),
            order_ref: order_ref.to_owned(),
            paid,
            totals,
            provider_returned_total,
            not_counted,
            operations: rows,
            external_returns,
        }
    }
}

/// The returns `facts` lists that no payops operation on the order owns or
/// could own: owned are those claimed by an operation, or named by an
/// operation's answer (its provider reference or `details.transaction_id`),
/// then, one each, those of the amount of a payops return whose answer
/// named none. A return an unresolved operation could be is left to that
/// operation, which already counts at risk: it is never external, so it
/// never counts twice and never stands as "absent" against the operation.
/// Which rows an unresolved operation could be is its provider's
/// reconciliation's answer ([`Known::could_own`]: by amount, date, claims,
/// whatever the provider's rules are); a row without a transaction id, or
/// any row when the provider was not asked, is left to an unresolved
/// operation of its amount (or of an amount not known).
fn unowned<'f>(
    facts: &'f OrderFacts,
    operations: &[StoredOperation],
    known: &Known,
) -> Vec<(&'f ListedReturn, Vec<String>)> {
    let claimed = &known.claimed;
    if facts.listed != ReturnsListed::EachReturn {
        return Vec::new();
    }
    let named: Vec<String> = operations
        .iter()
        .filter(|o| returns_money(&o.operation))
        .filter_map(|o| o.envelope.as_ref())
        .flat_map(|e| {
            [
                e.provider_reference.clone(),
                e.details
                    .get("transaction_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            ]
        })
        .flatten()
        .chain(claimed.iter().map(|(t, _)| t.clone()))
        .collect();
    let mut rows: Vec<&ListedReturn> = facts
        .returns
        .iter()
        .filter(|r| r.transaction_id.as_ref().is_none_or(|t| !named.contains(t)))
        .collect();
    // Payops returns whose answer named no transaction: each takes one
    // listed row of its amount (succeeded ones a succeeded row, pending
    // ones a pending or succeeded row).
    for o in operations.iter().filter(|o| returns_money(&o.operation)) {
        let Some(env) = &o.envelope else { continue };
        let has_id = env.provider_reference.is_some()
            || env
                .details
                .get("transaction_id")
                .is_some_and(Value::is_string);
        if has_id || !matches!(env.status, Status::Succeeded | Status::Pending) {
            continue;
        }
        let amount = amount_of(o);
        if let Some(i) = rows
            .iter()
            .position(|r| r.amount == amount && r.state != ReturnState::Failed)
        {
            rows.remove(i);
        }
    }
    // What an unresolved operation could be stays with it: one row each
    // (the operation counts it once, at risk). Any further row it could be
    // is a return of someone else's (at most one row is its own): it counts
    // in full, as external, naming who could own it.
    rows.retain(|r| r.state != ReturnState::Failed);
    let mut could_be: Vec<Vec<String>> = vec![Vec::new(); rows.len()];
    let mut kept: Vec<bool> = vec![false; rows.len()];
    for o in operations.iter().filter(|o| returns_money(&o.operation)) {
        let open = o.state == State::Unknown
            || (o.state == State::InFlight && known.reserved.contains_key(&o.id));
        if !open {
            continue;
        }
        let amount = amount_of(o).or_else(|| known.held(&o.id));
        let could = |r: &ListedReturn| match (&known.could_own, &r.transaction_id) {
            (Some(theirs), Some(t)) => theirs.get(&o.id).is_some_and(|s| s.contains(t)),
            _ => amount.is_none() || r.amount == amount,
        };
        let mut mine: Option<usize> = None;
        for (i, r) in rows.iter().enumerate().filter(|(_, r)| could(r)) {
            could_be[i].push(o.id.clone());
            // The smallest it could be stays with it; larger ones count
            // in full.
            let smaller = mine
                .is_none_or(|m| r.amount.unwrap_or(i64::MAX) < rows[m].amount.unwrap_or(i64::MAX));
            if !kept[i] && smaller {
                mine = Some(i);
            }
        }
        if let Some(i) = mine {
            kept[i] = true;
        }
    }
    rows.into_iter()
        .zip(could_be)
        .zip(kept)
        .filter(|(_, kept)| !kept)
        .map(|((r, could_be), _)| (r, could_be))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use payops_core::{Envelope, EnvelopeMeta, OperationKind, Outcome};
    use serde_json::json;

    /// A stored operation: `envelope` is (status, provider reference,
    /// details) once it has an answer.
    fn op(
        id: &str,
        operation: &str,
        state: State,
        request: Value,
        envelope: Option<(Status, Option<&str>, Value)>,
    ) -> StoredOperation {
        let now = Utc::now().with_timezone(&payops_core::turkey_offset());
        StoredOperation {
            id: id.into(),
            account: "a".into(),
            provider: "esnekpos".into(),
            operation: operation.into(),
            idempotency_key: None,
            request_sha256: String::new(),
            request,
            state,
            envelope: envelope.map(|(status, reference, details)| {
                let mut o = Outcome::new(status);
                o.provider_reference = reference.map(str::to_owned);
                o.details = details;
                Envelope::new(
                    EnvelopeMeta {
                        operation_id: id.into(),
                        account: "a".into(),
                        provider: "esnekpos".into(),
                        operation: operation.parse().unwrap_or(OperationKind::Query),
                        idempotency_key: None,
                        started_at: now,
                    },
                    o,
                    now,
                )
            }),
            owner: "inst".into(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            resolution: None,
            order_ref: Some("O".into()),
            actor: None,
        }
    }

    fn query(
        id: &str,
        paid: i64,
        listed: &str,
        returns: Value,
        total: Option<i64>,
    ) -> StoredOperation {
        op(
            id,
            "query",
            State::Succeeded,
            json!({"order_ref": "O"}),
            Some((
                Status::Succeeded,
                None,
                json!({"ledger": {"order_ref": "O", "payment_status": "succeeded", "paid": paid,
                                  "currency": "TRY", "listed": listed, "returns": returns,
                                  "returned_total": total}}),
            )),
        )
    }

    fn refund(id: &str, state: State, amount: i64, reference: Option<&str>) -> StoredOperation {
        let status = match state {
            State::Succeeded => Some(Status::Succeeded),
            State::Pending => Some(Status::Pending),
            State::Failed => Some(Status::Failed),
            State::Unknown => Some(Status::Unknown),
            State::InFlight => None,
        };
        op(
            id,
            "refund",
            state,
            json!({"order_ref": "O", "amount": amount}),
            status.map(|s| (s, reference, json!({"amount": amount}))),
        )
    }

    #[test]
    fn remaining_is_paid_minus_succeeded_pending_and_at_risk() {
        let ops = vec![
            query("q1", 9_000, "not_listed", json!([]), None),
            refund("r1", State::Succeeded, 1_000, Some("T1")),
            refund("r2", State::Pending, 500, Some("T2")),
            refund("r3", State::Unknown, 700, None),
            refund("r4", State::InFlight, 300, None),
            refund("r5", State::Failed, 5_000, None),
            // The newest query wins.
            query("q2", 10_000, "not_listed", json!([]), None),
        ];
        let known = Known {
            reserved: HashMap::from([("r4".to_owned(), 300)]),
            ..Known::default()
        };
        let l = OrderLedger::of("a", "O", &ops, &known);
        let p = l.paid.as_ref().unwrap();
        assert_eq!((p.amount, p.by_operation.as_str()), (10_000, "q2"));
        assert_eq!(
            (l.totals.succeeded, l.totals.pending, l.totals.unknown),
            (1_000, 500, 1_000)
        );
        assert_eq!(l.totals.remaining, Some(10_000 - 1_000 - 500 - 1_000));
        assert_eq!(l.operations.len(), 7);
        assert!(l.external_returns.is_empty());
        // In flight without a reservation: waiting for its turn, it has
        // sent nothing and is not counted.
        let l = OrderLedger::of("a", "O", &ops, &Known::default());
        assert_eq!(l.totals.unknown, 700);
        // Without a query, what remains is not known.
        let l = OrderLedger::of("a", "O", &ops[1..6], &known);
        assert_eq!(l.paid, None);
        assert_eq!(l.totals.remaining, None);
    }

    #[test]
    fn listed_returns_no_operation_owns_are_external_and_counted() {
        let rows = json!([
            {"transaction_id": "T1", "kind": "refund", "state": "succeeded", "amount": 1000, "date": null},
            {"transaction_id": "C9", "kind": "refund", "state": "succeeded", "amount": 1000, "date": null},
            {"transaction_id": "X1", "kind": "refund", "state": "succeeded", "amount": 2500, "date": null},
            {"transaction_id": "X2", "kind": "refund", "state": "pending", "amount": 400, "date": null},
            {"transaction_id": "F1", "kind": "refund", "state": "failed", "amount": 9000, "date": null},
            {"transaction_id": "U1", "kind": "refund", "state": "succeeded", "amount": 700, "date": null},
            {"transaction_id": "N1", "kind": "refund", "state": "succeeded", "amount": 600, "date": null}
        ]);
        let ops = vec![
            query("q", 10_000, "each_return", rows, None),
            // Named by its answer.
            refund("r1", State::Succeeded, 1_000, Some("T1")),
            // Claimed by reconciliation (C9).
            refund("r2", State::Succeeded, 1_000, None),
            // Unknown: U1 (its amount) may be it: it stays with it.
            refund("r3", State::Unknown, 700, None),
            // Succeeded without naming its row: takes one of its amount (N1).
            refund("r4", State::Succeeded, 600, None),
        ];
        let known = Known {
            claimed: vec![("C9".to_owned(), "r2".to_owned())],
            ..Known::default()
        };
        let l = OrderLedger::of("a", "O", &ops, &known);
        let ext: Vec<_> = l
            .external_returns
            .iter()
            .map(|r| r.transaction_id.clone().unwrap())
            .collect();
        assert_eq!(ext, ["X1", "X2"]);
        assert_eq!(l.totals.succeeded, 1_000 + 1_000 + 600 + 2_500);
        assert_eq!(l.totals.pending, 400);
        assert_eq!(l.totals.unknown, 700);
        assert_eq!(
            l.totals.remaining,
            Some(10_000 - (1_000 + 1_000 + 600 + 2_500) - 400 - 700)
        );
    }

    #[test]
    fn which_rows_an_unresolved_operation_could_own_is_the_providers_word() {
        let rows = json!([
            {"transaction_id": "OLD", "kind": "refund", "state": "succeeded", "amount": 700, "date": null},
            {"transaction_id": "NEW", "kind": "refund", "state": "succeeded", "amount": 700, "date": null},
            {"transaction_id": null, "kind": "refund", "state": "succeeded", "amount": 700, "date": null}
        ]);
        let ops = vec![
            query("q", 10_000, "each_return", rows, None),
            refund("r1", State::Unknown, 700, None),
        ];
        // Not asked: by amount, r1 could be any of them; it keeps one, the
        // other two count in full (at most one is its own).
        let l = OrderLedger::of("a", "O", &ops, &Known::default());
        assert_eq!(l.external_returns.len(), 2, "{:?}", l.external_returns);
        assert_eq!((l.totals.succeeded, l.totals.unknown), (1_400, 700));
        // The provider's reconciliation says only NEW could be r1's (OLD is
        // dated before r1 started, say): r1 keeps NEW; OLD is external and
        // nobody's; the row without an id is matched by amount: r1 could
        // be it, but r1 keeps one row only, so it counts too.
        let known = Known {
            could_own: Some(HashMap::from([(
                "r1".to_owned(),
                HashSet::from(["NEW".to_owned()]),
            )])),
            ..Known::default()
        };
        let l = OrderLedger::of("a", "O", &ops, &known);
        let ext: Vec<_> = l
            .external_returns
            .iter()
            .map(|r| (r.transaction_id.clone(), r.could_be.clone()))
            .collect();
        assert_eq!(
            ext,
            [
                (Some("OLD".to_owned()), vec![]),
                (None, vec!["r1".to_owned()])
            ]
        );
        assert_eq!((l.totals.succeeded, l.totals.unknown), (1_400, 700));
        assert_eq!(l.totals.remaining, Some(10_000 - 2_100));
        // r1 never loses its row to the external record: NEW is not
        // external, so nothing stands as absent against r1.
        assert!(!ext.iter().any(|(t, _)| t.as_deref() == Some("NEW")));
    }

    #[test]
    fn an_unresolved_operation_keeps_one_row_it_could_own_the_others_count() {
        // r1 (5.00, unknown) could be A or B (both 5.00, both after it
        // started); at most one is its own, so one counts as external.
        let rows = json!([
            {"transaction_id": "A", "kind": "refund", "state": "succeeded", "amount": 500, "date": null},
            {"transaction_id": "B", "kind": "refund", "state": "succeeded", "amount": 500, "date": null}
        ]);
        let ops = vec![
            query("q", 10_000, "each_return", rows, None),
            refund("r1", State::Unknown, 500, None),
        ];
        let known = Known {
            could_own: Some(HashMap::from([(
                "r1".to_owned(),
                HashSet::from(["A".to_owned(), "B".to_owned()]),
            )])),
            ..Known::default()
        };
        let l = OrderLedger::of("a", "O", &ops, &known);
        assert_eq!(l.external_returns.len(), 1, "{:?}", l.external_returns);
        assert_eq!(l.external_returns[0].could_be, ["r1"]);
        assert_eq!((l.totals.succeeded, l.totals.unknown), (500, 500));
        assert_eq!(l.totals.remaining, Some(9_000));
        // Without the provider's word, by amount: the same.
        let l = OrderLedger::of("a", "O", &ops, &Known::default());
        assert_eq!(l.totals.remaining, Some(9_000));
    }

    #[test]
    fn the_providers_total_is_a_floor_and_what_cannot_be_counted_leaves_nothing() {
        let ops = vec![
            query("q", 10_000, "total_only", json!([]), Some(3_000)),
            refund("r1", State::Succeeded, 1_000, Some("T1")),
        ];
        let l = OrderLedger::of("a", "O", &ops, &Known::default());
        assert_eq!(l.provider_returned_total, Some(3_000));
        assert_eq!(l.totals.succeeded, 3_000);
        assert_eq!(l.totals.remaining, Some(7_000));
        // A whole-order cancel still in flight: its amount is not known.
        let mut whole = op(
            "c1",
            "cancel",
            State::InFlight,
            json!({"order_ref": "O"}),
            None,
        );
        whole.state = State::InFlight;
        let l = OrderLedger::of(
            "a",
            "O",
            &[ops[0].clone(), whole.clone()],
            &Known::default(),
        );
        assert_eq!(l.totals.remaining, Some(7_000), "waiting: not counted");
        // Past the guard, it holds what remained then: that counts.
        let known = Known {
            reserved: HashMap::from([("c1".to_owned(), 7_000)]),
            ..Known::default()
        };
        let l = OrderLedger::of("a", "O", &[ops[0].clone(), whole.clone()], &known);
        assert_eq!(l.totals.unknown, 7_000);
        assert_eq!(l.totals.remaining, Some(0));
        assert!(l.not_counted.is_empty(), "{:?}", l.not_counted);
        // Answered `unknown` without an amount, and no reservation (an
        // earlier version): it cannot be counted, so nothing remains.
        whole.state = State::Unknown;
        let l = OrderLedger::of("a", "O", &[ops[0].clone(), whole], &Known::default());
        assert_eq!(l.totals.remaining, Some(0));
        assert_eq!(l.not_counted.len(), 1, "{:?}", l.not_counted);
    }
}
