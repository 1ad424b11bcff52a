//! A property test of EsnekPOS reconciliation over random interleavings:
//! orders with several refunds and cancels, rows that are theirs or
//! nobody's (refunds made in EsnekPOS's panel), declines, queued returns,
//! random listing order, provider clock skew, and passes run in random
//! operation order with exclusive claims as the store enforces them.
//!
//! Properties:
//! - an operation whose own successful row is listed is never `failed`;
//! - no transaction is ever credited to two operations (the provider never
//!   names a transaction another operation claimed);
//! - a verdict that names a transaction names a row of the answer whose
//!   status agrees with the verdict;
//! - unambiguous cases resolve: a lone operation with its own row (any
//!   listing order, any skew) gets that row's verdict, and a lone
//!   synchronous operation with no row, once the provider's clock is past
//!   its start + timeout + margin, is `failed`.

use payops_core::chrono::{DateTime, Duration, FixedOffset, TimeZone};
use payops_core::{Claim, OperationKind, Outcome, ReconcileInput, Sibling, Status, Verdict};
use payops_esnekpos::reconcile::reconcile;
use serde_json::{Value, json};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Truth {
    Succeeded,
    Declined,
    Queued,
    NotActed,
}

#[derive(Clone, Debug)]
struct Op {
    id: String,
    amount: i64,
    sync: bool,
    start: DateTime<FixedOffset>,
    truth: Truth,
    tx: Option<i64>,
    /// The transaction id its own answer carried (a synchronous success).
    answered_tx: Option<i64>,
    state: &'static str,
}

fn turkish() -> FixedOffset {
    FixedOffset::east_opt(3 * 3600).unwrap()
}

fn fmt(d: DateTime<FixedOffset>) -> String {
    d.format("%d.%m.%Y %H:%M:%S").to_string()
}

const TIMEOUT_MS: u64 = 30_000;

#[test]
fn reconciliation_properties_over_random_interleavings() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut resolved = 0usize;
    let mut lone_checked = 0usize;
    for case in 0..3000 {
        let base = turkish().with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
            + Duration::seconds(rng.below(86_400) as i64);
        let n = 1 + rng.below(4) as usize;
        let skew = Duration::seconds(rng.below(1200) as i64 - 600);
        let mut next_tx = 100i64;
        let mut ops = Vec::new();
        let mut rows: Vec<Value> = vec![
            json!({"TRANSACTION_ID": 1, "STATUS_ID": 3, "AMOUNT": "1000,00",
            "DATE": fmt(base - Duration::days(2) + skew)}),
        ];
        let mut t = base;
        for i in 0..n {
            t += Duration::seconds(rng.below(300) as i64);
            let amount = [100, 200, 100][rng.below(3) as usize];
            let sync = rng.chance(75);
            let truth = match rng.below(10) {
                0..=4 => Truth::Succeeded,
                5 | 6 => Truth::Declined,
                _ => Truth::NotActed,
            };
            let truth = if !sync && truth == Truth::Succeeded && rng.chance(60) {
                Truth::Queued
            } else {
                truth
            };
            let mut op = Op {
                id: format!("op{case}-{i}"),
                amount,
                sync,
                start: t,
                truth,
                tx: None,
                answered_tx: None,
                state: if truth == Truth::Queued {
                    "pending"
                } else {
                    "unknown"
                },
            };
            if truth != Truth::NotActed {
                next_tx += 1;
                op.tx = Some(next_tx);
                let status = match truth {
                    Truth::Succeeded => 7,
                    Truth::Declined => 8,
                    _ => 1,
                };
                let at = t + Duration::seconds(rng.below(20) as i64) + skew;
                rows.push(json!({"TRANSACTION_ID": next_tx, "STATUS_ID": status, "AMOUNT": format!("{},00", amount / 100),
                    "DATE": fmt(at)}));
                // Some successes answered before the connection broke.
                if truth == Truth::Succeeded && rng.chance(20) {
                    op.answered_tx = Some(next_tx);
                }
            }
            ops.push(op);
        }
        // Refunds made outside payops (EsnekPOS panel), sometimes.
        if rng.chance(25) {
            next_tx += 1;
            let at = base + Duration::seconds(rng.below(600) as i64) + skew;
            rows.push(json!({"TRANSACTION_ID": next_tx, "STATUS_ID": 7, "AMOUNT": "1,00", "DATE": fmt(at)}));
        }
        // Any listing order.
        for i in (1..rows.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            rows.swap(i, j);
        }
        let elapsed = Duration::seconds(rng.below(900) as i64);
        let host_now = t + elapsed;
        let provider_now = host_now + skew;
        let query = payops_esnekpos::outcome::query_outcome(
            Ok(payops_core::HttpResponse::new(
                200,
                "application/json",
                json!({"STATUS": "SUCCESS", "RETURN_CODE": "0", "RETURN_MESSAGE": "SUCCESS",
                       "DATE": fmt(provider_now), "AMOUNT": "1000,00", "ORDER_REF_NUMBER": "O",
                       "TRANSACTIONS": rows.clone()})
                .to_string(),
            )),
            Some("O"),
        );
        assert_eq!(query.status, Status::Succeeded, "{query:?}");
        let row_status = |tx: &str| {
            rows.iter()
                .find(|r| r["TRANSACTION_ID"].to_string().as_str() == tx)
                .map(|r| r["STATUS_ID"].as_i64().unwrap())
        };
        // A pass in random operation order, claims exclusive as in the store.
        let mut claims: Vec<Claim> = Vec::new();
        let mut order: Vec<usize> = (0..ops.len()).collect();
        for i in (1..order.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        let siblings: Vec<Sibling> = ops
            .iter()
            .map(|o| Sibling {
                operation_id: o.id.clone(),
                operation: OperationKind::Refund,
                request: json!({"order_ref": "O", "amount": o.amount, "sync_with_pos": o.sync}),
                state: o.state.into(),
                started_at: o.start,
                details: json!({"transaction_id": o.answered_tx.map(|t| t.to_string())}),
            })
            .collect();
        for &k in &order {
            let op = &ops[k];
            let mut outcome = Outcome::new(if op.state == "pending" {
                Status::Pending
            } else {
                Status::Unknown
            });
            outcome.details = json!({"transaction_id": op.answered_tx.map(|t| t.to_string()), "amount": op.amount});
            let input = ReconcileInput {
                operation_id: op.id.clone(),
                operation: OperationKind::Refund,
                request: json!({"order_ref": "O", "amount": op.amount, "sync_with_pos": op.sync}),
                state: op.state.into(),
                outcome: Some(outcome),
                started_at: op.start,
                siblings: siblings.clone(),
                claimed: claims.clone(),
                claim_scope: "esnekpos:M".into(),
                query: query.clone(),
                query_received_at: host_now,
                callback: None,
            };
            let r = reconcile(&input, TIMEOUT_MS);
            let own = op.tx.map(|t| t.to_string());
            // Never failed while its own successful row is listed.
            if op.truth == Truth::Succeeded {
                assert_ne!(
                    r.verdict,
                    Verdict::Failed,
                    "case {case}: {op:?} {r:?} rows {rows:?}"
                );
            }
            // Never failed while any unclaimed successful row of its amount,
            // dated (provider time) after its start, could be its own.
            if r.verdict == Verdict::Failed {
                let start_provider = op.start + skew;
                let could_be_mine = rows.iter().any(|row| {
                    let id = row["TRANSACTION_ID"].to_string();
                    matches!(row["STATUS_ID"].as_i64(), Some(5 | 7))
                        && row["AMOUNT"] == json!(format!("{},00", op.amount / 100))
                        && !claims.iter().any(|c| c.transaction_id == id)
                        && payops_esnekpos::wire::parse_date(row["DATE"].as_str().unwrap())
                            .is_some_and(|d| d >= start_provider)
                });
                assert!(
                    !could_be_mine,
                    "case {case}: failed with a candidate success row: {op:?} {rows:?}"
                );
            }
            if let Some(tx) = &r.transaction_id {
                assert!(
                    !claims.iter().any(|c| &c.transaction_id == tx),
                    "case {case}: {tx} credited twice: {r:?} {claims:?}"
                );
                let st = row_status(tx).unwrap_or_else(|| panic!("case {case}: {tx} is not a row"));
                let agrees = match r.verdict {
                    Verdict::Succeeded => matches!(st, 5 | 7),
                    Verdict::Failed => matches!(st, 6 | 8),
                    Verdict::Pending => st == 1,
                    Verdict::Undetermined => false,
                };
                assert!(agrees, "case {case}: {r:?} row status {st}");
                claims.push(Claim {
                    transaction_id: tx.clone(),
                    operation_id: op.id.clone(),
                });
            }
            if r.verdict != Verdict::Undetermined {
                resolved += 1;
            }
            // Unambiguous: one operation, no outside refund of its amount.
            let lone = ops.len() == 1 && rows.len() == 1 + usize::from(op.tx.is_some())
                || (ops.len() == 1
                    && !rows.iter().any(|r| {
                        r["AMOUNT"] == json!(format!("{},00", op.amount / 100))
                            && Some(r["TRANSACTION_ID"].to_string()) != own
                            && r["STATUS_ID"] != json!(3)
                    }));
            if lone {
                lone_checked += 1;
                let expected = match op.truth {
                    Truth::Succeeded => Some(Verdict::Succeeded),
                    Truth::Declined => Some(Verdict::Failed),
                    Truth::Queued => Some(Verdict::Pending),
                    // Failed once the provider's clock is past start +
                    // timeout (30 s) + the documented 120 s margin; the
                    // provider's DATE has whole seconds, so a few seconds
                    // around the boundary may go either way.
                    Truth::NotActed if op.sync && elapsed > Duration::seconds(30 + 120 + 3) => {
                        Some(Verdict::Failed)
                    }
                    Truth::NotActed if !op.sync || elapsed < Duration::seconds(30 + 120 - 3) => {
                        Some(Verdict::Undetermined)
                    }
                    Truth::NotActed => None,
                };
                if let Some(v) = expected {
                    assert_eq!(
                        r.verdict, v,
                        "case {case}: lone {op:?} elapsed {elapsed} {r:?}"
                    );
                }
                if matches!(op.truth, Truth::Succeeded | Truth::Declined | Truth::Queued) {
                    assert_eq!(r.transaction_id, own, "case {case}");
                }
            }
        }
    }
    assert!(resolved > 2000, "the search resolves cases: {resolved}");
    assert!(
        lone_checked > 500,
        "unambiguous cases checked: {lone_checked}"
    );
}
