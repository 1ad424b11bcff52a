//! The batch runner that `payops batch` and the console's batches share:
//! rows read from CSV or JSON lines, each with an idempotency key that
//! never comes from its content, checked all before any is sent, grouped by
//! order, then run with bounded concurrency (rows of one order take turns in
//! the engine), each row's outcome reported as it ends.

use std::collections::BTreeMap;
use std::sync::Arc;

use payops_core::{Error, OperationKind};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::engine::{Engine, Options, Ran};

/// One row: its number (1-based, data rows), key and document.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The row's number in its file (data rows from 1; a JSON-lines file's
    /// line number).
    pub number: usize,
    /// Its idempotency key.
    pub key: String,
    /// Its request document.
    pub document: Value,
}

/// A CSV cell as JSON: integers stay numbers, `true`/`false` booleans,
/// JSON arrays and objects parsed, empty cells left out, the rest text.
fn cell(text: &str) -> Option<Value> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    // Digits with a leading zero (`007`) stay text.
    if let Ok(n) = t.parse::<i64>()
        && !(t.len() > 1 && t.starts_with('0'))
    {
        return Some(Value::from(n));
    }
    match t {
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    if (t.starts_with('[') || t.starts_with('{'))
        && let Ok(v) = payops_core::kit::json::from_slice_exact(t.as_bytes())
    {
        return Some(v);
    }
    Some(Value::String(t.to_owned()))
}

/// The rows of a file's bytes: CSV when `csv` (a header row names the
/// document fields), else JSON lines (one request document per line). A
/// row's key is its `key_column` value, or `batch-BATCH_ID-row-N`. `name`
/// prefixes errors.
pub fn read_rows(
    name: &str,
    bytes: &[u8],
    csv: bool,
    key_column: Option<&str>,
    batch_id: &str,
) -> Result<Vec<Row>, String> {
    let mut docs: Vec<(usize, Map<String, Value>)> = Vec::new();
    if csv {
        let mut r = csv::Reader::from_reader(bytes);
        let headers = r.headers().map_err(|e| format!("{name}: {e}"))?.clone();
        for (i, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| format!("{name}: row {}: {e}", i + 1))?;
            let mut m = Map::new();
            for (h, v) in headers.iter().zip(rec.iter()) {
                if let Some(v) = cell(v) {
                    m.insert(h.trim().to_owned(), v);
                }
            }
            docs.push((i + 1, m));
        }
    } else {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("{name}: {e}"))?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            match payops_core::kit::json::from_slice_exact(line.as_bytes()) {
                Ok(Value::Object(m)) => docs.push((i + 1, m)),
                Ok(_) => return Err(format!("{name}: line {}: not a JSON object", i + 1)),
                Err(e) => return Err(format!("{name}: line {}: {e}", i + 1)),
            }
        }
    }
    let mut rows = Vec::new();
    for (number, mut m) in docs {
        let key = match key_column {
            Some(col) => match m.remove(col) {
                Some(Value::String(s)) if !s.is_empty() => s,
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(format!("row {number}: no {col:?}")),
            },
            None => format!("batch-{batch_id}-row-{number}"),
        };
        rows.push(Row {
            number,
            key,
            document: Value::Object(m),
        });
    }
    Ok(rows)
}

/// Every row the provider's schema refuses: (row number, why).
pub fn invalid_rows(
    engine: &Engine,
    provider: &str,
    op: OperationKind,
    rows: &[Row],
) -> Vec<(usize, String)> {
    rows.iter()
        .filter_map(|r| {
            engine
                .validate(provider, op, &r.document)
                .err()
                .map(|e| (r.number, e.to_string()))
        })
        .collect()
}

/// The rows of each order, in file order: (order_ref, row numbers, the sum
/// of their amounts in minor units, rows with no amount).
pub fn by_order(rows: &[Row]) -> Vec<OrderRows> {
    let mut out: Vec<OrderRows> = Vec::new();
    for r in rows {
        let order = r
            .document
            .get("order_ref")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let i = match out.iter().position(|o| o.order_ref == order) {
            Some(i) => i,
            None => {
                out.push(OrderRows {
                    order_ref: order,
                    rows: Vec::new(),
                    amount: 0,
                    whole: 0,
                });
                out.len() - 1
            }
        };
        let o = &mut out[i];
        o.rows.push(r.number);
        match r.document.get("amount").and_then(Value::as_i64) {
            Some(a) => o.amount = o.amount.saturating_add(a),
            None => o.whole += 1,
        }
    }
    out
}

/// One order's rows in a batch.
#[derive(Debug, Clone, Serialize)]
pub struct OrderRows {
    /// The order (empty for rows that name none).
    pub order_ref: String,
    /// Its rows' numbers.
    pub rows: Vec<usize>,
    /// The sum of their amounts (minor units).
    pub amount: i64,
    /// How many of its rows name no amount (a whole order).
    pub whole: usize,
}

/// How one row ended.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The operation's id, the approval's, or the refusal's.
    pub id: String,
    /// The operation's status, `awaiting_approval` (or the approval's
    /// state), `refused`, `error` or `not_started`.
    pub status: String,
    /// The outcome's or refusal's reason, or the error's code.
    pub reason: String,
    /// An earlier run's answer (nothing sent now).
    pub replayed: bool,
    /// What went wrong or why it waits, in words.
    pub error: String,
    /// Sent to the provider in this run.
    #[serde(skip)]
    pub sent: bool,
}

impl Outcome {
    /// A row that was not started (the batch was stopped first).
    pub fn not_started() -> Outcome {
        Outcome {
            id: String::new(),
            status: "not_started".into(),
            reason: String::new(),
            replayed: false,
            error: String::new(),
            sent: false,
        }
    }

    fn of(result: Result<Ran, Error>) -> Outcome {
        match result {
            // Over an approval threshold: waiting, nothing sent; running the
            // batch again joins it by its key (and, once sent, replays it).
            Ok(Ran::Awaiting { approval, replayed }) => Outcome {
                id: approval.approval_id.clone(),
                status: approval.status.as_str().to_owned(),
                reason: String::new(),
                replayed,
                error: approval.why.clone(),
                sent: false,
            },
            Ok(Ran::Done(e)) => Outcome {
                id: e.envelope.operation_id.clone(),
                status: e.envelope.status.to_string(),
                reason: e
                    .envelope
                    .reason
                    .map(|r| r.as_str().to_owned())
                    .unwrap_or_default(),
                replayed: e.replayed,
                error: String::new(),
                sent: !e.replayed,
            },
            // Refused before anything was sent: the row's key is free, so
            // running the batch again runs it.
            Err(err) if err.refusal_reason().is_some() => Outcome {
                id: err.refusal_id().unwrap_or_default().to_owned(),
                status: "refused".into(),
                reason: err
                    .refusal_reason()
                    .map(|r| r.as_str().to_owned())
                    .unwrap_or_default(),
                replayed: false,
                error: err.to_string(),
                sent: false,
            },
            Err(err) => Outcome {
                id: String::new(),
                status: "error".into(),
                reason: err.code().as_str().to_owned(),
                replayed: false,
                error: err.to_string(),
                sent: false,
            },
        }
    }

    /// Whether the row needs the batch run again (refused, an error, not
    /// started).
    pub fn unfinished(&self) -> bool {
        matches!(self.status.as_str(), "refused" | "error" | "not_started")
    }
}

/// Runs `rows` on `account`, at most `concurrency` at once; `options` gives
/// each row's (its key is set here). Closing `gate` stops new rows (they
/// end `not_started`); rows in flight finish. `done` hears each row as it
/// ends. Returns every row's outcome by number.
pub async fn run(
    engine: Arc<Engine>,
    account: &str,
    op: OperationKind,
    rows: Vec<Row>,
    gate: Arc<tokio::sync::Semaphore>,
    options: Options,
    mut done: impl FnMut(usize, &str, &Outcome),
) -> BTreeMap<usize, (String, Outcome)> {
    let mut tasks = tokio::task::JoinSet::new();
    for r in rows {
        let (gate, engine, account) = (gate.clone(), engine.clone(), account.to_owned());
        let options = Options {
            idempotency_key: Some(r.key.clone()),
            ..options.clone()
        };
        tasks.spawn(async move {
            // A closed gate (stopped) means: not started.
            let Ok(_permit) = gate.acquire_owned().await else {
                return (r.number, r.key, Outcome::not_started());
            };
            let result = engine
                .execute_marked(&account, op, r.document, options)
                .await;
            (r.number, r.key, Outcome::of(result))
        });
    }
    let mut results = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (number, key, outcome) = match joined {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "a batch row's task ended abnormally");
                continue;
            }
        };
        done(number, &key, &outcome);
        results.insert(number, (key, outcome));
    }
    results
}

/// Where a console batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Read and checked; nothing sent.
    Checked,
    /// Its rows are running.
    Running,
    /// Every row ended (some may need the batch run again).
    Finished,
}

/// A batch uploaded to the daemon (the console's): its rows, what the
/// check found, and its rows' outcomes once started.
#[derive(Debug)]
pub struct Uploaded {
    /// The batch id (the root of its rows' keys; kept in the store).
    pub batch_id: String,
    /// The account.
    pub account: String,
    /// The operation.
    pub operation: OperationKind,
    /// The uploaded file's name.
    pub name: String,
    /// Who uploaded it (the actor).
    pub uploaded_by: String,
    /// Its rows.
    pub rows: Vec<Row>,
    /// The rows the schema refuses: (row, why).
    pub invalid: Vec<(usize, String)>,
    /// Its rows by order.
    pub orders: Vec<OrderRows>,
    /// Where it is.
    pub state: BatchState,
    /// Each ended row: (key, outcome).
    pub results: BTreeMap<usize, (String, Outcome)>,
    /// Who started it, and when (RFC 3339).
    pub started: Option<(String, String)>,
    /// Closing it stops the batch.
    pub gate: Option<Arc<tokio::sync::Semaphore>>,
}

impl Uploaded {
    /// What the API shows of it.
    pub fn view(&self) -> Value {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, o) in self.results.values() {
            *counts.entry(o.status.as_str()).or_default() += 1;
        }
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                let mut v = serde_json::json!({
                    "row": r.number,
                    "key": r.key,
                    "order_ref": r.document.get("order_ref"),
                    "amount": r.document.get("amount"),
                });
                if let Some((_, o)) = self.results.get(&r.number) {
                    v["outcome"] = serde_json::to_value(o).unwrap_or(Value::Null);
                }
                v
            })
            .collect();
        serde_json::json!({
            "batch_id": self.batch_id,
            "account": self.account,
            "operation": self.operation.as_str(),
            "name": self.name,
            "uploaded_by": self.uploaded_by,
            "state": self.state,
            "total": self.rows.len(),
            "done": self.results.len(),
            "counts": counts,
            "invalid": self.invalid.iter().map(|(row, error)| serde_json::json!({"row": row, "error": error})).collect::<Vec<_>>(),
            "orders": self.orders,
            "started_by": self.started.as_ref().map(|s| &s.0),
            "started_at": self.started.as_ref().map(|s| &s.1),
            "rows": rows,
        })
    }
}

/// The daemon's uploaded batches, newest last (at most [`Registry::KEEP`]:
/// the oldest that is not running goes first).
#[derive(Debug, Default)]
pub struct Registry {
    batches: std::sync::Mutex<Vec<Arc<std::sync::Mutex<Uploaded>>>>,
}

impl Registry {
    /// How many uploaded batches the daemon keeps in memory.
    pub const KEEP: usize = 50;

    /// Adds (or replaces, by id) a batch.
    pub fn put(&self, b: Uploaded) -> Arc<std::sync::Mutex<Uploaded>> {
        let mut all = self.batches.lock().expect("batch registry");
        all.retain(|x| x.lock().map(|x| x.batch_id != b.batch_id).unwrap_or(false));
        while all.len() >= Self::KEEP {
            match all.iter().position(|x| {
                x.lock()
                    .map(|x| x.state != BatchState::Running)
                    .unwrap_or(true)
            }) {
                Some(i) => {
                    all.remove(i);
                }
                None => break,
            }
        }
        let b = Arc::new(std::sync::Mutex::new(b));
        all.push(b.clone());
        b
    }

    /// The batch `id`.
    pub fn get(&self, id: &str) -> Option<Arc<std::sync::Mutex<Uploaded>>> {
        self.batches
            .lock()
            .expect("batch registry")
            .iter()
            .find(|x| x.lock().map(|x| x.batch_id == id).unwrap_or(false))
            .cloned()
    }

    /// Every batch, newest first.
    pub fn all(&self) -> Vec<Arc<std::sync::Mutex<Uploaded>>> {
        let mut v = self.batches.lock().expect("batch registry").clone();
        v.reverse();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_file_keys_and_group_by_order() {
        let csv = b"order_ref,amount,key\nA1,100,k1\nA2,,k2\nA1,250,k3\n";
        let rows = read_rows("f.csv", csv, true, Some("key"), "B").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].key, "k2");
        assert_eq!(
            rows[0].document,
            serde_json::json!({"order_ref": "A1", "amount": 100})
        );
        let g = by_order(&rows);
        assert_eq!(g.len(), 2);
        assert_eq!(
            (
                g[0].order_ref.as_str(),
                g[0].rows.clone(),
                g[0].amount,
                g[0].whole
            ),
            ("A1", vec![1, 3], 350, 0)
        );
        assert_eq!((g[1].amount, g[1].whole), (0, 1));
        let rows = read_rows("f.csv", csv, true, None, "B").unwrap();
        assert_eq!(rows[2].key, "batch-B-row-3");
        let lines = b"{\"order_ref\":\"A\"}\n\n[1]\n";
        assert_eq!(
            read_rows("f.jsonl", lines, false, None, "B").unwrap_err(),
            "f.jsonl: line 3: not a JSON object"
        );
        assert_eq!(cell("007"), Some(Value::String("007".into())));
        assert_eq!(cell(" 12 "), Some(Value::from(12)));
    }
}
