//! `payops batch`: one operation over every row of a CSV or JSON-lines
//! file, with bounded concurrency, a progress bar, a result file and a
//! summary; resumable without sending any row twice.
//!
//! Every row's idempotency key comes from a named column (`--key-column`),
//! or else from the batch journal (`FILE.payops-batch.json`: a batch id
//! made at the first run, with the file's SHA-256) and the row number:
//! never from the row's content, so a corrected file cannot refund a row
//! twice (the same key with another document is an idempotency conflict).
//! Every row is validated before anything is sent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use payops_core::{Error, OperationKind};
use serde_json::{Map, Value, json};

use super::{EXIT_CONFIG, EXIT_USAGE, Global, accounts, build_engine, fail, setup};

/// Arguments of `payops batch`.
#[derive(Args, Debug)]
pub struct BatchArgs {
    /// The account every row uses.
    #[arg(long)]
    pub account: String,
    /// The operation: refund, cancel, return, query, sub_merchant_adjust.
    #[arg(long)]
    pub operation: String,
    /// Rows to run: `.csv` (a header row names the document fields) or
    /// `.jsonl` (one request document per line).
    pub file: PathBuf,
    /// A column (CSV) or field (JSON lines) holding each row's idempotency
    /// key; without it the key is the batch journal's id and the row number.
    #[arg(long)]
    pub key_column: Option<String>,
    /// How many operations run at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Where to write the results (CSV: row, key, operation_id, status,
    /// reason, error; a refused row's operation_id is its refusal id); default FILE.results.csv.
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// No progress bar (logs and CI).
    #[arg(long)]
    pub no_progress: bool,
    /// Continue this batch (its id, as `payops` names it) when the journal
    /// file beside FILE is lost.
    #[arg(long, value_name = "ID", conflicts_with = "new_batch")]
    pub batch_id: Option<String>,
    /// Start a new batch of FILE although the store records one of this
    /// file (its journal lost): only for a new file at the same path.
    #[arg(long)]
    pub new_batch: bool,
}

/// One row: its number (1-based, data rows), key and document.
struct Row {
    number: usize,
    key: String,
    document: Value,
}

fn sha256_file(path: &Path) -> Result<String, String> {
    use sha2::Digest;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(hex::encode(sha2::Sha256::digest(&bytes)))
}

/// The journal file of `file`.
fn journal_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".payops-batch.json");
    PathBuf::from(name)
}

/// The batch id of the journal beside `file` and the file's SHA-256 it
/// recorded, if there is a journal.
fn read_journal(file: &Path) -> Result<Option<(String, Option<String>)>, String> {
    let path = journal_path(file);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let j: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let id = j["batch_id"]
        .as_str()
        .ok_or_else(|| format!("{}: no batch_id", path.display()))?;
    Ok(Some((
        id.to_owned(),
        j["sha256"].as_str().map(str::to_owned),
    )))
}

/// Writes the journal beside `file`.
fn write_journal(file: &Path, id: &str, sha: &str) -> Result<(), String> {
    let path = journal_path(file);
    let j = json!({"batch_id": id, "file": file.display().to_string(), "sha256": sha,
                   "note": "payops batch journal: keep it; rerunning the file reuses these keys (the store keeps the batch too)"});
    std::fs::write(&path, serde_json::to_string_pretty(&j).unwrap_or_default())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The batch of `file` to run: the journal's; else `--batch-id`; else a new
/// one, unless the store records a batch of this file (a lost journal:
/// starting anew would send its rows again), which is an error naming it.
/// The batch is recorded in the store; returns its id and whether the file
/// changed since it started.
async fn decide_batch(
    a: &BatchArgs,
    store: &payops_store::Store,
) -> Result<(String, bool), String> {
    let file = std::fs::canonicalize(&a.file)
        .map_err(|e| format!("{}: {e}", a.file.display()))?
        .display()
        .to_string();
    let sha = sha256_file(&a.file)?;
    let (id, started) = match (read_journal(&a.file)?, &a.batch_id) {
        (Some((j, _)), Some(given)) if j != *given => {
            return Err(format!(
                "--batch-id {given}, but the journal of {} names batch {j}",
                a.file.display()
            ));
        }
        (Some((j, journal_sha)), _) => {
            let started = store
                .batch(&j)
                .await
                .map_err(|e| e.to_string())?
                .map(|b| b.sha256)
                .or(journal_sha);
            (j, started)
        }
        (None, Some(given)) => {
            let b = store
                .batch(given)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("--batch-id {given}: the store records no such batch"))?;
            if b.account != a.account || b.operation != a.operation {
                return Err(format!(
                    "--batch-id {given} was a batch of {} on account {}",
                    b.operation, b.account
                ));
            }
            (b.batch_id, Some(b.sha256))
        }
        (None, None) => {
            let earlier = store
                .batches_of_file(&file, &a.account, &a.operation)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(b) = earlier.first().filter(|_| !a.new_batch) {
                return Err(format!(
                    "the store records batch {} of {file} ({} on account {}, started {}) but its journal {} is gone: run again with --batch-id {} to finish that batch (rows already done are not sent again), or with --new-batch if this is a new file; nothing was sent",
                    b.batch_id,
                    b.operation,
                    b.account,
                    b.created_at,
                    journal_path(&a.file).display(),
                    b.batch_id
                ));
            }
            (uuid::Uuid::now_v7().simple().to_string(), None)
        }
    };
    store
        .record_batch(&payops_store::BatchRecord {
            batch_id: id.clone(),
            account: a.account.clone(),
            operation: a.operation.clone(),
            file,
            sha256: started.clone().unwrap_or_else(|| sha.clone()),
            created_at: payops_store::batch_time(&chrono::Utc::now()),
        })
        .await
        .map_err(|e| e.to_string())?;
    if read_journal(&a.file)?.is_none() {
        write_journal(&a.file, &id, started.as_deref().unwrap_or(&sha))?;
    }
    let changed = started.is_some_and(|s| s != sha);
    Ok((id, changed))
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

fn read_rows(file: &Path, key_column: Option<&str>, batch_id: &str) -> Result<Vec<Row>, String> {
    let is_csv = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let mut docs: Vec<(usize, Map<String, Value>)> = Vec::new();
    if is_csv {
        let mut r = csv::Reader::from_path(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let headers = r
            .headers()
            .map_err(|e| format!("{}: {e}", file.display()))?
            .clone();
        for (i, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| format!("{}: row {}: {e}", file.display(), i + 1))?;
            let mut m = Map::new();
            for (h, v) in headers.iter().zip(rec.iter()) {
                if let Some(v) = cell(v) {
                    m.insert(h.trim().to_owned(), v);
                }
            }
            docs.push((i + 1, m));
        }
    } else {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            match payops_core::kit::json::from_slice_exact(line.as_bytes()) {
                Ok(Value::Object(m)) => docs.push((i + 1, m)),
                Ok(_) => {
                    return Err(format!(
                        "{}: line {}: not a JSON object",
                        file.display(),
                        i + 1
                    ));
                }
                Err(e) => return Err(format!("{}: line {}: {e}", file.display(), i + 1)),
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

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Runs `payops batch`.
pub async fn run(g: &Global, a: &BatchArgs) -> Result<ExitCode, ExitCode> {
    let op: OperationKind = a
        .operation
        .parse()
        .map_err(|e| fail(EXIT_USAGE, format!("--operation: {e}")))?;
    if a.concurrency == 0 || a.concurrency > 64 {
        return Err(fail(EXIT_USAGE, "--concurrency must be 1 to 64"));
    }
    let s = setup(g, None, "warn")?;
    let accts = accounts(&s)?;
    let engine = build_engine(&s, accts, &s.cfg.store.url).await?;
    let acct = engine
        .account(&a.account)
        .map_err(|e| fail(EXIT_USAGE, e))?
        .clone();
    let (batch_id, changed) = decide_batch(a, &engine.store)
        .await
        .map_err(|e| fail(EXIT_USAGE, e))?;
    if changed {
        eprintln!(
            "payops: {} changed since this batch started: rows keep their keys (row numbers), so a changed row is an idempotency conflict, never a second operation",
            a.file.display()
        );
    }
    let rows =
        read_rows(&a.file, a.key_column.as_deref(), &batch_id).map_err(|e| fail(EXIT_USAGE, e))?;
    // Every row is checked before anything is sent.
    let mut invalid = 0;
    for r in &rows {
        if let Err(e) = engine.validate(&acct.provider, op, &r.document) {
            invalid += 1;
            eprintln!("payops: row {}: {e}", r.number);
        }
    }
    if invalid > 0 {
        return Err(fail(
            EXIT_USAGE,
            format!(
                "{invalid} of {} rows are invalid; nothing was sent",
                rows.len()
            ),
        ));
    }
    // Operations a previous, interrupted run left in flight: unknown, never re-sent.
    engine
        .recover(Duration::from_secs(
            s.cfg.store.instance_timeout_secs.max(1),
        ))
        .await
        .map_err(|e| fail(EXIT_CONFIG, e))?;
    // The orders the rows name, in file order (for their totals at the end).
    let mut orders: Vec<String> = Vec::new();
    for r in &rows {
        if let Some(o) = r.document.get("order_ref").and_then(Value::as_str)
            && !orders.iter().any(|x| x == o)
        {
            orders.push(o.to_owned());
        }
    }
    let engine = Arc::new(engine);
    let total = rows.len() as u64;
    let bar = if a.no_progress {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} rows, {per_sec}, eta {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    };
    let started = Instant::now();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(a.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let actor = super::cli_actor();
    for r in rows {
        let semaphore = semaphore.clone();
        let engine = engine.clone();
        let (account, actor) = (a.account.clone(), actor.clone());
        tasks.spawn(async move {
            // A closed semaphore (interrupted) means: not started.
            let Ok(_permit) = semaphore.acquire_owned().await else {
                return (r.number, r.key, None);
            };
            let result = engine
                .execute_marked(
                    &account,
                    op,
                    r.document,
                    crate::engine::Options {
                        idempotency_key: Some(r.key.clone()),
                        actor: Some(actor),
                        asker: Some(crate::config::Asker::default()),
                        ..Default::default()
                    },
                )
                .await;
            (r.number, r.key, Some(result))
        });
    }
    type Done = (String, Option<Result<crate::engine::Ran, Error>>);
    let mut results: BTreeMap<usize, Done> = BTreeMap::new();
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            done = tasks.join_next() => {
                let Some(done) = done else { break };
                let (number, key, result) = done.map_err(|e| fail(EXIT_CONFIG, e))?;
                results.insert(number, (key, result));
                bar.inc(1);
            }
            _ = &mut ctrl_c, if !interrupted => {
                interrupted = true;
                semaphore.close();
                bar.set_message("interrupted: finishing the rows in flight");
                eprintln!("payops: interrupted: no new row is started; the rows in flight finish");
            }
        }
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    // The result file and the summary.
    let out = a.results.clone().unwrap_or_else(|| {
        let mut n = a.file.as_os_str().to_owned();
        n.push(".results.csv");
        PathBuf::from(n)
    });
    let mut text = String::from("row,key,operation_id,status,reason,replayed,error\n");
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut errors = 0usize;
    let mut not_started = 0usize;
    let mut sent = 0usize;
    for (number, (key, result)) in &results {
        let (id, status, reason, replayed, error) = match result {
            None => {
                not_started += 1;
                (
                    String::new(),
                    "not_started".to_owned(),
                    String::new(),
                    false,
                    String::new(),
                )
            }
            // Over an approval threshold: waiting, nothing sent; running the
            // file again joins it by its key (and, once sent, replays it).
            Some(Ok(crate::engine::Ran::Awaiting { approval, replayed })) => (
                approval.approval_id.clone(),
                approval.status.as_str().to_owned(),
                String::new(),
                *replayed,
                approval.why.clone(),
            ),
            Some(Ok(crate::engine::Ran::Done(e))) => {
                if !e.replayed {
                    sent += 1;
                }
                (
                    e.envelope.operation_id.clone(),
                    e.envelope.status.to_string(),
                    e.envelope
                        .reason
                        .map(|r| r.as_str().to_owned())
                        .unwrap_or_default(),
                    e.replayed,
                    String::new(),
                )
            }
            // Refused before anything was sent: the row's key is free, so
            // running the same file again runs it.
            Some(Err(err)) if err.refusal_reason().is_some() => {
                errors += 1;
                (
                    err.refusal_id().unwrap_or_default().to_owned(),
                    "refused".to_owned(),
                    err.refusal_reason()
                        .map(|r| r.as_str().to_owned())
                        .unwrap_or_default(),
                    false,
                    err.to_string(),
                )
            }
            Some(Err(err)) => {
                errors += 1;
                (
                    String::new(),
                    "error".to_owned(),
                    err.code().as_str().to_owned(),
                    false,
                    err.to_string(),
                )
            }
        };
        *counts.entry(status.clone()).or_default() += 1;
        text.push_str(&format!(
            "{number},{},{id},{status},{reason},{replayed},{}\n",
            csv_field(key),
            csv_field(&error)
        ));
    }
    std::fs::write(&out, text).map_err(|e| fail(EXIT_CONFIG, format!("{}: {e}", out.display())))?;
    let rate = results.len() as f64 / elapsed.as_secs_f64().max(0.001);
    println!(
        "batch {}: {} rows in {:.1} s ({rate:.0} rows/s), {sent} sent now, results in {}",
        a.file.display(),
        results.len(),
        elapsed.as_secs_f64(),
        out.display()
    );
    for (status, n) in &counts {
        println!("  {status:<12} {n}");
    }
    // Each order's totals, from its ledger (what the store holds now).
    if !orders.is_empty() && op.returns_money() {
        let mut text =
            String::from("order_ref,paid,currency,succeeded,pending,unknown,remaining\n");
        for (i, o) in orders.iter().enumerate() {
            let Ok(l) = engine.order_ledger(&a.account, o, false, None).await else {
                continue;
            };
            let t = &l.totals;
            let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
            text.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                csv_field(o),
                opt(l.paid.as_ref().map(|p| p.amount)),
                l.paid.as_ref().map(|p| p.currency.code()).unwrap_or(""),
                t.succeeded,
                t.pending,
                t.unknown,
                opt(t.remaining)
            ));
            if i < 20 {
                println!(
                    "  order {o}: succeeded {}, pending {}, at risk {}, remaining {}",
                    t.succeeded,
                    t.pending,
                    t.unknown,
                    t.remaining
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "not known".into())
                );
            }
        }
        let mut name = out.as_os_str().to_owned();
        name.push(".orders.csv");
        let orders_file = PathBuf::from(name);
        std::fs::write(&orders_file, text)
            .map_err(|e| fail(EXIT_CONFIG, format!("{}: {e}", orders_file.display())))?;
        println!(
            "  each order's totals (minor units): {}{}",
            orders_file.display(),
            if orders.len() > 20 {
                " (the first 20 above)"
            } else {
                ""
            }
        );
    }
    if interrupted {
        println!(
            "interrupted: run the same command again to finish; rows already done are not sent again"
        );
        return Ok(ExitCode::from(130));
    }
    if errors > 0 || not_started > 0 {
        if counts.contains_key("refused") {
            println!(
                "refused rows sent nothing and keep their keys free: run the same command again to run them"
            );
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
