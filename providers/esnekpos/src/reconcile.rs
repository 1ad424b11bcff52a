//! Settling an unresolved EsnekPOS refund or cancel from a fresh
//! `ProcessQuery` (the reconcile step of the plugin protocol).
//!
//! ProcessQuery lists the payment's sub-transactions with `TRANSACTION_ID`,
//! `STATUS_ID` (5/6 cancel ok/declined, 7/8 refund ok/declined, 1 waiting),
//! `AMOUNT` and `DATE` (provider time). The rules, in order:
//!
//! 1. The operation's own `TRANSACTION_ID` (from its answer) decides when
//!    the list has it.
//! 2. Otherwise the candidates are the return rows not claimed by another
//!    operation, of the operation's amount, dated no earlier than the
//!    operation's start *in the provider's time* (the host start moved by
//!    the offset between the answer's `DATE` and the host clock when the
//!    answer arrived). A row without a readable date cannot be excluded.
//!    The listing order is never used.
//! 3. One successful candidate that no other unresolved operation of the
//!    order could also own: `succeeded`. A waiting one: `pending`. One
//!    declined candidate and nothing else: `failed`.
//! 4. No candidate at all proves `failed` only for a synchronous request
//!    (`SYNC_WITH_POS` true, online channel, not acknowledged as pending),
//!    when the provider's own clock is past the start plus the request's
//!    timeout plus [`SETTLE_MARGIN_SECS`]: the provider cannot still be
//!    working on it. A queued (`pending`) return is never failed by absence.
//! 5. Anything else is undetermined, with the candidates listed.

use chrono::{DateTime, Duration, FixedOffset};
use payops_core::{
    OperationKind, QueryDetails, ReconcileInput, Resolution, Transaction, TransactionStatus,
    Verdict,
};
use serde_json::Value;

use crate::wire::parse_date;

/// Rows dated up to this long before the operation's start (provider time)
/// still count: the provider's `DATE` has whole seconds and its clock reading
/// and ours are taken a moment apart.
pub const START_TOLERANCE_SECS: i64 = 5;

/// How far past the request's timeout the provider's clock must be before
/// the absence of a return row proves that a synchronous request failed.
pub const SETTLE_MARGIN_SECS: i64 = 120;

fn is_return(s: TransactionStatus) -> bool {
    matches!(
        s,
        TransactionStatus::CancelSucceeded
            | TransactionStatus::CancelFailed
            | TransactionStatus::RefundSucceeded
            | TransactionStatus::RefundFailed
            | TransactionStatus::Pending
    )
}

fn verdict_of(s: TransactionStatus) -> Verdict {
    match s {
        TransactionStatus::CancelSucceeded | TransactionStatus::RefundSucceeded => {
            Verdict::Succeeded
        }
        TransactionStatus::CancelFailed | TransactionStatus::RefundFailed => Verdict::Failed,
        TransactionStatus::Pending => Verdict::Pending,
        _ => Verdict::Undetermined,
    }
}

fn describe(t: &Transaction) -> String {
    format!(
        "TRANSACTION_ID {} (STATUS_ID {}, AMOUNT {}, DATE {})",
        t.transaction_id.as_deref().unwrap_or("?"),
        t.status_id
            .map(|i| i.to_string())
            .unwrap_or_else(|| "?".into()),
        t.amount
            .map(|a| a.to_string())
            .unwrap_or_else(|| "?".into()),
        t.date
            .map(|d| d.to_rfc3339())
            .unwrap_or_else(|| "unreadable".into()),
    )
}

/// The rows that are returns of this payment: cancel and refund rows, and
/// waiting rows when the payment itself completed (a waiting row is then a
/// queued return, not the payment).
fn return_rows(d: &QueryDetails) -> Vec<&Transaction> {
    let payment_done = d
        .transactions
        .iter()
        .any(|t| t.status == TransactionStatus::PaymentSucceeded);
    d.transactions
        .iter()
        .filter(|t| is_return(t.status))
        .filter(|t| t.status != TransactionStatus::Pending || payment_done)
        .collect()
}

/// The amount an operation asked for (`None`: the whole remaining amount,
/// known only from its answer's `details.amount`).
fn amount_of(request: &Value, details: Option<&Value>) -> Option<i64> {
    request
        .get("amount")
        .and_then(Value::as_i64)
        .or_else(|| details?.get("amount")?.as_i64())
}

/// Settles `input` (see the module documentation).
pub fn reconcile(input: &ReconcileInput, timeout_ms: u64) -> Resolution {
    if !matches!(
        input.operation,
        OperationKind::Refund | OperationKind::Cancel
    ) {
        return Resolution::undetermined(format!(
            "ProcessQuery lists no record per {}: left for an operator",
            input.operation
        ));
    }
    let d = match input.query_details() {
        Ok(d) => d,
        Err(undetermined) => return undetermined,
    };
    let my_details = input.outcome.as_ref().map(|o| &o.details);
    let my_tx = my_details
        .and_then(|d| d.get("transaction_id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let rows = return_rows(&d);

    // 1. Our own transaction id.
    if let Some(tx) = &my_tx
        && let Some(t) = rows
            .iter()
            .find(|t| t.transaction_id.as_deref() == Some(tx))
    {
        return Resolution {
            verdict: verdict_of(t.status),
            transaction_id: Some(tx.clone()),
            evidence: format!("EsnekPOS lists this operation's own {}", describe(t)),
            candidates: Vec::new(),
        };
    }

    // Provider time: the answer's DATE against the host clock at arrival.
    let provider_now: Option<DateTime<FixedOffset>> = d
        .extra
        .get("query_date")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .or_else(|| {
            input
                .query
                .raw
                .get("DATE")
                .and_then(Value::as_str)
                .and_then(parse_date)
        });
    let offset = provider_now.map(|p| p - input.query_received_at);
    let start_provider = offset.map(|o| input.started_at + o);
    let earliest = start_provider.map(|s| s - Duration::seconds(START_TOLERANCE_SECS));

    let claimed_by_others = |t: &Transaction| {
        t.transaction_id.as_ref().is_some_and(|id| {
            input
                .claimed
                .iter()
                .any(|c| &c.transaction_id == id && c.operation_id != input.operation_id)
        })
    };
    let my_amount = amount_of(&input.request, my_details);
    let fits = |t: &Transaction, amount: Option<i64>, not_before: Option<DateTime<FixedOffset>>| {
        let amount_ok = match (amount, t.amount) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        let date_ok = match (not_before, t.date) {
            (Some(e), Some(d)) => d >= e,
            _ => true,
        };
        amount_ok && date_ok
    };
    // Definite candidates: dated (in provider time) no earlier than the
    // start. Rows whose date cannot be placed (unreadable, or no provider
    // clock in the answer) are only possible: they can be nobody's proof,
    // and while one exists nothing is settled by absence either.
    let placed = |t: &Transaction| t.date.is_some() && earliest.is_some();
    let candidates: Vec<&Transaction> = rows
        .iter()
        .copied()
        .filter(|t| !claimed_by_others(t))
        .filter(|t| placed(t) && fits(t, my_amount, earliest))
        .collect();
    let unplaced: Vec<&Transaction> = rows
        .iter()
        .copied()
        .filter(|t| !claimed_by_others(t))
        .filter(|t| !placed(t) && fits(t, my_amount, None))
        .collect();
    // Other unresolved money operations of the order that could own a row.
    let competitors = |t: &Transaction| -> Vec<String> {
        input
            .siblings
            .iter()
            .filter(|s| s.operation_id != input.operation_id)
            .filter(|s| matches!(s.operation, OperationKind::Refund | OperationKind::Cancel))
            .filter(|s| matches!(s.state.as_str(), "unknown" | "pending" | "in_flight"))
            .filter(|s| {
                let theirs = s.details.get("transaction_id").and_then(Value::as_str);
                if let Some(theirs) = theirs {
                    return t.transaction_id.as_deref() == Some(theirs);
                }
                let their_start =
                    offset.map(|o| s.started_at + o - Duration::seconds(START_TOLERANCE_SECS));
                fits(t, amount_of(&s.request, Some(&s.details)), their_start)
            })
            .map(|s| s.operation_id.clone())
            .collect()
    };
    let ids = |ts: &[&Transaction]| -> Vec<String> {
        ts.iter()
            .map(|t| t.transaction_id.clone().unwrap_or_else(|| describe(t)))
            .collect()
    };
    let by = |v: Verdict| -> Vec<&Transaction> {
        candidates
            .iter()
            .copied()
            .filter(|t| verdict_of(t.status) == v)
            .collect()
    };
    let (ok, waiting, declined) = (
        by(Verdict::Succeeded),
        by(Verdict::Pending),
        by(Verdict::Failed),
    );
    let undetermined = |why: String| Resolution {
        verdict: Verdict::Undetermined,
        transaction_id: None,
        evidence: why,
        candidates: ids(&candidates),
    };
    let alone = |t: &Transaction, verdict: Verdict, what: &str| -> Resolution {
        let others = competitors(t);
        if others.is_empty() && t.transaction_id.is_some() {
            Resolution {
                verdict,
                transaction_id: t.transaction_id.clone(),
                evidence: format!(
                    "the only {what} row that can be this operation's: {}",
                    describe(t)
                ),
                candidates: Vec::new(),
            }
        } else if t.transaction_id.is_none() {
            undetermined(format!(
                "the {what} row {} has no TRANSACTION_ID to claim",
                describe(t)
            ))
        } else {
            undetermined(format!(
                "{} could be this operation's or that of {}: an operator must decide",
                describe(t),
                others.join(", ")
            ))
        }
    };

    if !unplaced.is_empty() {
        return Resolution {
            verdict: Verdict::Undetermined,
            transaction_id: None,
            evidence: format!(
                "{} return row(s) cannot be placed in time (unreadable DATE, or no provider clock in the answer): they could be this operation's",
                unplaced.len()
            ),
            candidates: ids(&[candidates.clone(), unplaced.clone()].concat()),
        };
    }

    // 3. Evidence rows.
    match (ok.as_slice(), waiting.as_slice(), declined.as_slice()) {
        ([t], [], _) => return alone(t, Verdict::Succeeded, "successful return"),
        ([], [t], _) => return alone(t, Verdict::Pending, "waiting return"),
        ([], [], [t]) => return alone(t, Verdict::Failed, "declined return"),
        ([], [], []) => {}
        _ => {
            return undetermined(format!(
                "{} rows could be this operation's ({} successful, {} waiting, {} declined)",
                candidates.len(),
                ok.len(),
                waiting.len(),
                declined.len()
            ));
        }
    }

    // 4. Absence: proof only for a synchronous request, on the provider's clock.
    let sync = input.request.get("sync_with_pos").and_then(Value::as_bool) != Some(false);
    let online = input
        .request
        .get("channel")
        .and_then(Value::as_str)
        .is_none_or(|c| c == "online");
    let acknowledged_pending = input.state == "pending"
        || input
            .outcome
            .as_ref()
            .is_some_and(|o| o.status == payops_core::Status::Pending);
    if !sync || !online || acknowledged_pending {
        return undetermined(
            "no return row yet for a request EsnekPOS queued (or a device will answer): absence proves nothing; still waiting".into(),
        );
    }
    let (Some(now), Some(start)) = (provider_now, start_provider) else {
        return undetermined(
            "the inquiry carries no readable DATE: without the provider's clock, absence proves nothing".into(),
        );
    };
    let settled_after = start
        + Duration::milliseconds(
            i64::try_from(timeout_ms)
                .unwrap_or(i64::MAX / 2)
                .min(86_400_000),
        )
        + Duration::seconds(SETTLE_MARGIN_SECS);
    if now < settled_after {
        return undetermined(format!(
            "no return row yet, but EsnekPOS's clock ({}) is not yet past {} (start + timeout + margin): asking again later",
            now.to_rfc3339(),
            settled_after.to_rfc3339()
        ));
    }
    let mut r = Resolution {
        verdict: Verdict::Failed,
        transaction_id: None,
        evidence: format!(
            "no return row of {} dated after the request's start ({} provider time) while EsnekPOS's clock reads {}: the synchronous request was not carried out",
            my_amount
                .map(|a| a.to_string())
                .unwrap_or_else(|| "any amount".into()),
            start.to_rfc3339(),
            now.to_rfc3339()
        ),
        candidates: Vec::new(),
    };
    // Rows another operation claimed, or older ones, are not this one's: say so.
    let excluded = rows.len();
    if excluded > 0 {
        r.evidence.push_str(&format!(
            " ({excluded} other return row(s) are claimed by other operations, predate it or have another amount)"
        ));
    }
    r
}
