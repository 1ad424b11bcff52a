//! Operations as an operator reads them in bulk: the amount and currency of
//! each, a CSV export that spreadsheet programs open safely, and totals by
//! account, day, operation, status and currency. Used by the API
//! (`GET /v1/operations.csv`, `GET /v1/totals`) and the CLI
//! (`payops operations list --output csv`).

use std::collections::BTreeMap;

use chrono::{FixedOffset, SecondsFormat};
use payops_core::money::{Currency, format_minor};
use payops_store::StoredOperation;
use serde::Serialize;
use serde_json::Value;

/// The money an operation moves (or would have moved), in minor units:
/// what the ledger counts ([`crate::ledger::amount_of`]). `None` for a
/// query (the paid amount it read is not money it moved) and for one that
/// names no amount (a whole cancel before its answer).
pub fn amount(op: &StoredOperation) -> Option<i64> {
    if op.operation == "query" {
        return None;
    }
    crate::ledger::amount_of(op)
}

/// The currency an operation names (its document's or its answer's), if
/// any. Many documents name none: the account's only currency is meant.
pub fn currency(op: &StoredOperation) -> Option<String> {
    op.request
        .get("currency")
        .and_then(Value::as_str)
        .or_else(|| {
            op.envelope
                .as_ref()
                .and_then(|e| e.details.get("currency").and_then(Value::as_str))
        })
        .map(str::to_owned)
}

/// `minor` in major units of `currency` (its exponent: 2 for TRY, 0 for
/// JPY), or with two decimals when the currency is not named or not known.
pub fn major(minor: i64, currency: Option<&str>) -> String {
    let exponent = currency
        .and_then(|c| Currency::from_code(c).ok())
        .map_or(2, |c| c.exponent());
    format_minor(minor, exponent, '.')
}

/// Whether `op`'s amount lies within `min..=max` (either bound may be
/// absent; an operation with no amount matches only when both are).
pub fn amount_within(op: &StoredOperation, min: Option<i64>, max: Option<i64>) -> bool {
    if min.is_none() && max.is_none() {
        return true;
    }
    amount(op).is_some_and(|a| min.is_none_or(|m| a >= m) && max.is_none_or(|m| a <= m))
}

/// Up to `want` operations of `filter` (from its `after` on) whose amounts
/// lie within `bounds` (see [`amount_within`]), reading at most `scan`
/// rows; and the cursor after the last row read when more may follow (an
/// amount-bounded page may hold fewer than `want`). The API's list, export
/// and totals and `payops operations list` read through it.
pub async fn find(
    store: &payops_store::Store,
    mut filter: payops_store::ListFilter,
    bounds: (Option<i64>, Option<i64>),
    want: usize,
    scan: usize,
) -> Result<(Vec<StoredOperation>, Option<payops_store::Cursor>), payops_store::StoreError> {
    let (min, max) = bounds;
    if want == 0 {
        return Ok((Vec::new(), None));
    }
    let page = if min.is_some() || max.is_some() {
        500
    } else {
        want.clamp(1, 1000)
    };
    let mut found = Vec::new();
    let mut read = 0usize;
    loop {
        filter.limit = Some(page as i64);
        let rows = store.list(&filter).await?;
        let full = rows.len() == page;
        read += rows.len();
        let mut last = None;
        for op in rows {
            last = Some(payops_store::Cursor::after(&op));
            if amount_within(&op, min, max) {
                found.push(op);
                if found.len() == want {
                    break;
                }
            }
        }
        // A cursor only where the last row read may have more after it.
        if !full && found.len() < want {
            return Ok((found, None));
        }
        if found.len() == want || read >= scan {
            return Ok((found, last));
        }
        filter.after = last;
    }
}

/// A cell a spreadsheet program would take for a formula (`=`, `+`, `-`,
/// `@`, a tab or a carriage return first) gets a leading `'`, which they
/// show as text (OWASP's advice for CSV injection). Amounts are written
/// as plain digits and never need it.
fn cell(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

/// The CSV export's columns, in order.
pub const CSV_COLUMNS: [&str; 16] = [
    "created_at",
    "operation_id",
    "account",
    "provider",
    "operation",
    "order_ref",
    "status",
    "amount_minor",
    "amount",
    "currency",
    "provider_reference",
    "provider_code",
    "provider_message",
    "reason",
    "actor",
    "resolution",
];

/// `ops` as CSV (RFC 4180, a header row, CRLF line ends), times at `zone`.
pub fn csv(ops: &[StoredOperation], zone: FixedOffset) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(CSV_COLUMNS).expect("writes to memory");
    for op in ops {
        let amount = amount(op);
        let currency = currency(op);
        let e = op.envelope.as_ref();
        let text = |v: Option<&str>| cell(v.unwrap_or(""));
        let record = [
            op.created_at
                .with_timezone(&zone)
                .to_rfc3339_opts(SecondsFormat::Secs, false),
            cell(&op.id),
            cell(&op.account),
            cell(&op.provider),
            cell(&op.operation),
            text(op.order_ref.as_deref()),
            op.state.as_str().to_owned(),
            amount.map(|a| a.to_string()).unwrap_or_default(),
            amount
                .map(|a| major(a, currency.as_deref()))
                .unwrap_or_default(),
            text(currency.as_deref()),
            text(e.and_then(|e| e.provider_reference.as_deref())),
            text(e.and_then(|e| e.provider_code.as_deref())),
            text(e.and_then(|e| e.provider_message.as_deref())),
            e.and_then(|e| e.reason)
                .map(|r| r.as_str().to_owned())
                .unwrap_or_default(),
            text(op.actor.as_deref()),
            text(op.resolution.as_deref()),
        ];
        w.write_record(&record).expect("writes to memory");
    }
    String::from_utf8(w.into_inner().expect("writes to memory")).expect("CSV of UTF-8 text")
}

/// One group of [`totals`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Total {
    /// The account.
    pub account: String,
    /// The day of creation at the totals' zone (`YYYY-MM-DD`).
    pub day: String,
    /// The operation kind.
    pub operation: String,
    /// The status.
    pub status: String,
    /// The currency named by the operations ("" when they name none).
    pub currency: String,
    /// How many operations.
    pub count: u64,
    /// The sum of their amounts, in minor units (those with no amount
    /// count as 0).
    pub amount: i64,
}

/// `ops` grouped by account, day (at `zone`), operation, status and
/// currency; ordered by day (newest first), then the rest.
pub fn totals(ops: &[StoredOperation], zone: FixedOffset) -> Vec<Total> {
    // (day, account, operation, status, currency) -> (count, amount)
    type Key = (String, String, String, String, String);
    let mut groups: BTreeMap<Key, (u64, i64)> = BTreeMap::new();
    for op in ops {
        let key = (
            op.created_at
                .with_timezone(&zone)
                .format("%Y-%m-%d")
                .to_string(),
            op.account.clone(),
            op.operation.clone(),
            op.state.as_str().to_owned(),
            currency(op).unwrap_or_default(),
        );
        let g = groups.entry(key).or_default();
        g.0 += 1;
        g.1 = g.1.saturating_add(amount(op).unwrap_or(0));
    }
    let mut out: Vec<Total> = groups
        .into_iter()
        .map(
            |((day, account, operation, status, currency), (count, amount))| Total {
                account,
                day,
                operation,
                status,
                currency,
                count,
                amount,
            },
        )
        .collect();
    out.sort_by(|a, b| b.day.cmp(&a.day));
    out
}

/// A `+HH:MM` / `-HH:MM` / `Z` offset.
pub fn parse_offset(text: &str) -> Option<FixedOffset> {
    if text == "Z" {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn op(id: &str, request: Value, at: (u32, u32)) -> StoredOperation {
        StoredOperation {
            id: id.into(),
            account: "esnek".into(),
            provider: "esnekpos".into(),
            operation: "refund".into(),
            idempotency_key: None,
            request_sha256: String::new(),
            request,
            state: payops_store::State::Succeeded,
            envelope: None,
            owner: "i".into(),
            created_at: Utc.with_ymd_and_hms(2026, 12, at.0, at.1, 30, 0).unwrap(),
            updated_at: Utc::now(),
            resolution: None,
            order_ref: Some("=HYPERLINK(\"x\")".into()),
            actor: Some("-cli:ali".into()),
        }
    }

    #[test]
    fn formulas_become_text_and_amounts_stay_numbers() {
        let text = csv(
            &[op(
                "op_1",
                json!({"amount": 1250, "currency": "TRY"}),
                (6, 22),
            )],
            payops_core::turkey_offset(),
        );
        let mut lines = text.split("\r\n");
        assert_eq!(lines.next().unwrap(), CSV_COLUMNS.join(","));
        let row = lines.next().unwrap();
        // 22:30 UTC on the 6th is 01:30 on the 7th in Turkey.
        assert!(row.starts_with("2026-12-07T01:30:00+03:00,op_1,"), "{row}");
        assert!(row.contains(",\"'=HYPERLINK(\"\"x\"\")\","), "{row}");
        assert!(row.contains(",1250,12.50,TRY,"), "{row}");
        assert!(row.contains(",'-cli:ali,"), "{row}");
        for bad in ["=1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"] {
            assert!(cell(bad).starts_with('\''), "{bad:?}");
        }
        assert_eq!(cell("12.50"), "12.50");
    }

    #[test]
    fn totals_group_by_day_in_the_zone() {
        let ops = [
            op("a", json!({"amount": 100}), (6, 20)),
            op("b", json!({"amount": 250}), (6, 22)),
            op("c", json!({"amount": 5}), (7, 1)),
        ];
        let t = totals(&ops, payops_core::turkey_offset());
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(
            (t[0].day.as_str(), t[0].count, t[0].amount),
            ("2026-12-07", 2, 255)
        );
        assert_eq!(
            (t[1].day.as_str(), t[1].count, t[1].amount),
            ("2026-12-06", 1, 100)
        );
        let utc = totals(&ops, parse_offset("Z").unwrap());
        assert_eq!((utc[1].day.as_str(), utc[1].amount), ("2026-12-06", 350));
    }

    #[test]
    fn offsets_and_amount_bounds() {
        assert_eq!(parse_offset("+03:00"), Some(payops_core::turkey_offset()));
        assert_eq!(parse_offset("-05:30").unwrap().local_minus_utc(), -19800);
        for bad in ["03:00", "+3:00", "+15:00", "+03:60", "", "+0300"] {
            assert_eq!(parse_offset(bad), None, "{bad:?}");
        }
        let o = op("a", json!({"amount": 500}), (6, 1));
        assert!(amount_within(&o, Some(500), Some(500)));
        assert!(!amount_within(&o, Some(501), None));
        assert!(!amount_within(&o, None, Some(499)));
        let q = op("q", json!({}), (6, 1));
        assert!(amount_within(&q, None, None));
        assert!(!amount_within(&q, Some(0), None));
        assert_eq!(major(1250, Some("JPY")), "1250");
        assert_eq!(major(5, None), "0.05");
    }
}
