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
use payops_core::OperationKind;
use serde_json::{Value, json};

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
    let bytes = std::fs::read(&a.file)
        .map_err(|e| fail(EXIT_USAGE, format!("{}: {e}", a.file.display())))?;
    let is_csv = a
        .file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let rows = crate::batching::read_rows(
        &a.file.display().to_string(),
        &bytes,
        is_csv,
        a.key_column.as_deref(),
        &batch_id,
    )
    .map_err(|e| fail(EXIT_USAGE, e))?;
    // Every row is checked before anything is sent.
    let bad = crate::batching::invalid_rows(&engine, &acct.provider, op, &rows);
    for (number, e) in &bad {
        eprintln!("payops: row {number}: {e}");
    }
    let invalid = bad.len();
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
    let gate = Arc::new(tokio::sync::Semaphore::new(a.concurrency));
    // Ctrl-C: no new row is started; the rows in flight finish.
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (gate, interrupted, bar) = (gate.clone(), interrupted.clone(), bar.clone());
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
                gate.close();
                bar.set_message("interrupted: finishing the rows in flight");
                eprintln!("payops: interrupted: no new row is started; the rows in flight finish");
            }
        })
    };
    let results = crate::batching::run(
        engine.clone(),
        &a.account,
        op,
        rows,
        gate,
        crate::engine::Options {
            actor: Some(super::cli_actor()),
            asker: Some(crate::config::Asker::default()),
            ..Default::default()
        },
        |_, _, _| bar.inc(1),
    )
    .await;
    watcher.abort();
    let interrupted = interrupted.load(std::sync::atomic::Ordering::SeqCst);
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
    for (number, (key, o)) in &results {
        match o.status.as_str() {
            "not_started" => not_started += 1,
            "refused" | "error" => errors += 1,
            _ if o.sent => sent += 1,
            _ => {}
        }
        let (id, status, reason, replayed, error) =
            (&o.id, &o.status, &o.reason, o.replayed, &o.error);
        *counts.entry(status.clone()).or_default() += 1;
        text.push_str(&format!(
            "{number},{},{id},{status},{reason},{replayed},{}\n",
            csv_field(key),
            csv_field(error)
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
