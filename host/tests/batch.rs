//! `payops batch` against a simulator on loopback: every row once, an
//! interruption and a resume with no row sent twice (the simulator's
//! ledger proves it), rows validated before anything is sent, and a
//! corrected file that cannot refund a row twice.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use payops_core::Simulator;
use serde_json::{Value, json};

const KEY: &str = "hostsecret-esnek-key-4242";

/// Rows in the big run: 10,000, or `PAYOPS_TEST_BATCH_ROWS`.
fn rows() -> usize {
    std::env::var("PAYOPS_TEST_BATCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

async fn sim(n: usize) -> payops_transport::SimServer {
    let mut s = payops_esnekpos::sim::EsnekSimulator::empty();
    let payments: Vec<Value> = (0..n)
        .map(|i| json!({"order_ref": format!("B{i}"), "amount": 10000, "date": "2020-01-01T10:00:00+03:00"}))
        .collect();
    s.seed(&json!({"merchants": [{"merchant": "M1", "merchant_key": KEY}], "payments": payments}))
        .unwrap();
    payops_transport::SimServer::start(Box::new(s), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn config(dir: &Path, url: &str) {
    TestConfig::new(dir)
        .store(&sqlite_url(dir))
        .with(|c| c.store.instance_timeout_secs = 2)
        .account(
            "esnek",
            json!({"provider": "esnekpos", "base_url": url, "merchant": "M1", "merchant_key": KEY}),
        )
        .write(&dir.join("payops.toml"));
}

fn batch(dir: &Path, file: &str) -> std::process::Child {
    std::process::Command::new(exe())
        .args([
            "batch",
            "--account",
            "esnek",
            "--operation",
            "refund",
            file,
            "--no-progress",
            "--concurrency",
            "8",
        ])
        .current_dir(dir)
        .env_remove("PAYOPS_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: std::process::Child) -> (i32, String, String) {
    let out = child.wait_with_output().unwrap();
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_no_secrets("payops batch", &format!("{o}{e}"));
    (out.status.code().unwrap_or(-1), o, e)
}

/// Every refund in the ledger is for a different order: none twice.
fn no_row_twice(ledger: &[Value]) -> usize {
    let orders: BTreeSet<&str> = ledger
        .iter()
        .map(|e| e["order_ref"].as_str().unwrap())
        .collect();
    assert_eq!(orders.len(), ledger.len(), "a row was refunded twice");
    ledger.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_big_batch_interrupted_and_resumed_sends_every_row_once() {
    let n = rows();
    let sim = sim(n).await;
    let dir = temp_dir("batch-big");
    config(&dir, &sim.url());
    let mut text = String::from("order_ref,amount\n");
    for i in 0..n {
        text.push_str(&format!("B{i},100\n"));
    }
    std::fs::write(dir.join("rows.csv"), text).unwrap();

    // Interrupt once a third of the rows went out.
    let child = batch(&dir, "rows.csv");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(600);
    while ledger(&sim).len() < n / 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    let (code, out, err) = tokio::task::spawn_blocking(move || finish(child))
        .await
        .unwrap();
    assert_eq!(code, 130, "{out}{err}");
    assert!(out.contains("not_started"), "{out}");
    let first = no_row_twice(&ledger(&sim));
    assert!(first >= n / 3 && first < n, "{first} of {n}");

    // Resume: the rest goes out, nothing twice.
    let started = Instant::now();
    let (code, out, err) = {
        let d = dir.clone();
        tokio::task::spawn_blocking(move || finish(batch(&d, "rows.csv")))
            .await
            .unwrap()
    };
    let resumed = started.elapsed();
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(no_row_twice(&ledger(&sim)), n, "every row exactly once");
    let results = std::fs::read_to_string(dir.join("rows.csv.results.csv")).unwrap();
    assert_eq!(results.lines().count(), n + 1);
    assert_eq!(
        results
            .lines()
            .filter(|l| l.contains(",succeeded,"))
            .count(),
        n,
        "{out}"
    );
    let replayed = results.lines().filter(|l| l.ends_with(",true,")).count();
    assert_eq!(
        replayed, first,
        "the rows done before the interruption are replays"
    );
    eprintln!(
        "batch: {n} rows; {out}; resume took {:.1} s",
        resumed.as_secs_f64()
    );

    // A third run sends nothing.
    let (code, _, _) = {
        let d = dir.clone();
        tokio::task::spawn_blocking(move || finish(batch(&d, "rows.csv")))
            .await
            .unwrap()
    };
    assert_eq!(code, 0);
    assert_eq!(ledger(&sim).len(), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rows_are_checked_first_and_a_corrected_file_cannot_refund_twice() {
    let sim = sim(3).await;
    let dir = temp_dir("batch-small");
    config(&dir, &sim.url());
    // One invalid row: nothing is sent.
    std::fs::write(
        dir.join("bad.jsonl"),
        "{\"order_ref\": \"B0\", \"amount\": 100}\n{\"order_ref\": \"B1\", \"amount\": -5}\n",
    )
    .unwrap();
    let (code, _, err) = {
        let d = dir.clone();
        tokio::task::spawn_blocking(move || finish(batch(&d, "bad.jsonl")))
            .await
            .unwrap()
    };
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("row 2") && err.contains("nothing was sent"),
        "{err}"
    );
    assert!(ledger(&sim).is_empty());
    // A good file, then the same file corrected: the changed row conflicts.
    std::fs::write(dir.join("ok.csv"), "order_ref,amount\nB0,100\nB1,200\n").unwrap();
    let (code, out, err) = {
        let d = dir.clone();
        tokio::task::spawn_blocking(move || finish(batch(&d, "ok.csv")))
            .await
            .unwrap()
    };
    assert_eq!(code, 0, "{out}{err}");
    std::fs::write(dir.join("ok.csv"), "order_ref,amount\nB0,100\nB1,250\n").unwrap();
    let (code, out, err) = {
        let d = dir.clone();
        tokio::task::spawn_blocking(move || finish(batch(&d, "ok.csv")))
            .await
            .unwrap()
    };
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("changed since this batch started"), "{err}");
    let results = std::fs::read_to_string(dir.join("ok.csv.results.csv")).unwrap();
    assert!(results.contains("idempotency_conflict"), "{results}");
    assert_eq!(no_row_twice(&ledger(&sim)), 2);
}

/// `payops batch` of `turns.csv` with `extra` arguments, run to its end on
/// a blocking thread: (exit code, stdout, stderr).
async fn turns_batch(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let (d, extra): (std::path::PathBuf, Vec<String>) = (
        dir.to_path_buf(),
        extra.iter().map(|a| (*a).to_owned()).collect(),
    );
    tokio::task::spawn_blocking(move || {
        let mut c = std::process::Command::new(exe());
        c.args([
            "batch",
            "--account",
            "esnek",
            "--operation",
            "refund",
            "turns.csv",
            "--no-progress",
        ])
        .args(&extra)
        .current_dir(d)
        .env_remove("PAYOPS_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        finish(c.spawn().unwrap())
    })
    .await
    .unwrap()
}

/// 20 refund rows over 2 orders in one run at the default concurrency:
/// rows of one order take turns instead of refusing each other, so all 20
/// succeed and the provider receives exactly 20; a second run sends
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rows_of_one_order_take_turns() {
    let sim = sim(2).await;
    let dir = temp_dir("batch-turns");
    config(&dir, &sim.url());
    let mut text = String::from("order_ref,amount\n");
    for i in 0..20 {
        text.push_str(&format!("B{},{}\n", i % 2, 100 + i));
    }
    std::fs::write(dir.join("turns.csv"), text).unwrap();
    let (code, out, err) = turns_batch(&dir, &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("succeeded    20"), "{out}");
    // Each order's totals: B0 rows 100, 102, .. 118; B1 rows 101, .. 119.
    assert!(
        out.contains("order B0: succeeded 1090, pending 0, at risk 0, remaining 8910"),
        "{out}"
    );
    let orders = std::fs::read_to_string(dir.join("turns.csv.results.csv.orders.csv")).unwrap();
    assert_eq!(
        orders,
        "order_ref,paid,currency,succeeded,pending,unknown,remaining\nB0,10000,TRY,1090,0,0,8910\nB1,10000,TRY,1100,0,0,8900\n"
    );
    let returns = |sim: &payops_transport::SimServer| {
        ledger(sim)
            .iter()
            .filter(|e| e["endpoint"] == "OrderReturn")
            .count()
    };
    assert_eq!(returns(&sim), 20);
    let (code, out, err) = turns_batch(&dir, &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 sent now"), "{out}");
    assert_eq!(returns(&sim), 20, "the second run sent nothing");

    // The journal lost: the store still knows the batch. Running the file
    // anew is refused (nothing sent), naming the batch; with --batch-id
    // the same rows are replays; --new-batch is for a new file.
    let journal = dir.join("turns.csv.payops-batch.json");
    let id = serde_json::from_str::<Value>(&std::fs::read_to_string(&journal).unwrap())
        .unwrap()["batch_id"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::remove_file(&journal).unwrap();
    let (code, out, err) = turns_batch(&dir, &[]).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!("--batch-id {id}")) && err.contains("nothing was sent"),
        "{err}"
    );
    assert_eq!(returns(&sim), 20);
    let (code, out, err) = turns_batch(&dir, &["--batch-id", &id]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 sent now"), "{out}");
    assert_eq!(returns(&sim), 20, "nothing sent again without the journal");
    assert!(journal.exists(), "the journal is written again");
    // A new file at the same path is a new batch only when asked.
    std::fs::remove_file(&journal).unwrap();
    let (code, out, err) = turns_batch(&dir, &["--new-batch"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("20 sent now"), "{out}");
    assert_eq!(returns(&sim), 40);
}

/// A raw upload: (status, body as JSON).
async fn upload(url: &str, token: &str, content_type: &str, body: &str) -> (u16, Value) {
    use payops_core::{HttpRequest, HttpTransport};
    let t = payops_transport::ReqwestTransport::new().unwrap();
    let r = HttpRequest {
        method: "POST".into(),
        url: url.into(),
        headers: vec![
            ("Content-Type".into(), content_type.into()),
            ("Authorization".into(), format!("Bearer {token}")),
        ],
        body: body.as_bytes().to_vec(),
        timeout_ms: Some(20_000),
        safe: false,
    };
    let resp = t.send(r).await.unwrap();
    (
        resp.status,
        serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
    )
}

/// Starts batch `id` and waits for its end: its last view.
async fn start_and_wait(base: &str, token: &str, id: &str) -> Value {
    let (s, v) = http(
        "POST",
        &format!("{base}/v1/batches/{id}/start"),
        Some(token),
        Some("{}"),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, v) = http("GET", &format!("{base}/v1/batches/{id}"), Some(token), None).await;
        assert_eq!(s, 200, "{v}");
        if v["state"] == "finished" {
            return v;
        }
        assert!(Instant::now() < deadline, "the batch did not finish: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_daemon_checks_groups_and_runs_an_uploaded_batch_once() {
    let sim = sim(3).await;
    let dir = temp_dir("batch-upload");
    TestConfig::new(&dir)
        .store(&sqlite_url(&dir))
        .account(
            "esnek",
            json!({"provider": "esnekpos", "base_url": sim.url(), "merchant": "M1", "merchant_key": KEY}),
        )
        .token("ops", "ops-token-batch", &["esnek"], &["refund", "query"])
        .token_with("viewer", "view-token-batch", &["esnek"], &["refund"], |t| {
            t.role = Some(payops_host::people::Role::Viewer);
        })
        .write(&dir.join("payops.toml"));
    let d = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || {
            Daemon::serve("batch-upload", &dir.join("payops.toml"), &dir)
        })
        .await
        .unwrap()
    };
    let up = |name: &str| {
        format!(
            "{}/v1/batches?account=esnek&operation=refund&name={name}",
            d.url
        )
    };
    // Checked before anything is sent: an invalid row stops the batch.
    let (s, v) = upload(
        &up("bad.csv"),
        "ops-token-batch",
        "text/csv",
        "order_ref,amount\nB0,100\nB1,-5\n",
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["invalid"][0]["row"], 2, "{v}");
    let (s, e) = http(
        "POST",
        &format!(
            "{}/v1/batches/{}/start",
            d.url,
            v["batch_id"].as_str().unwrap()
        ),
        Some("ops-token-batch"),
        Some("{}"),
    )
    .await;
    assert_eq!(s, 409, "{e}");
    assert!(ledger(&sim).is_empty());
    // A file that cannot be read is the check's finding too.
    let (s, v) = upload(
        &up("broken.jsonl"),
        "ops-token-batch",
        "application/x-ndjson",
        "{\"order_ref\": \"B0\"\n",
    )
    .await;
    assert_eq!((s, &v["invalid"][0]["row"]), (201, &json!(0)), "{v}");
    // Past the API's 64 KiB body limit (about 80 KB here): a batch file
    // may be up to 4 MiB.
    let big: String = std::iter::once("order_ref,amount\n".to_owned())
        .chain((1..=9_000).map(|i| format!("B2,{i}\n")))
        .collect();
    assert!(big.len() > 64 * 1024, "{}", big.len());
    let (s, v) = upload(&up("big.csv"), "ops-token-batch", "text/csv", &big).await;
    assert_eq!((s, &v["total"]), (201, &json!(9_000)), "{v}");
    // Not a file payops reads; a viewer may not run it.
    let (s, _) = upload(&up("x.json"), "ops-token-batch", "application/json", "{}").await;
    assert_eq!(s, 415);
    let file = "order_ref,amount\nB0,100\nB0,200\nB1,300\n";
    let (s, v) = upload(&up("refunds.csv"), "view-token-batch", "text/csv", file).await;
    assert_eq!(s, 403, "{v}");
    // Grouped by order; nothing sent until started.
    let (s, v) = upload(&up("refunds.csv"), "ops-token-batch", "text/csv", file).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["state"], "checked");
    assert_eq!(v["total"], 3);
    assert_eq!(v["continued"], false);
    assert_eq!(
        v["orders"],
        json!([{"order_ref": "B0", "rows": [1, 2], "amount": 300, "whole": 0},
               {"order_ref": "B1", "rows": [3], "amount": 300, "whole": 0}])
    );
    assert!(ledger(&sim).is_empty());
    let id = v["batch_id"].as_str().unwrap().to_owned();
    let done = start_and_wait(&d.url, "ops-token-batch", &id).await;
    assert_eq!(done["counts"], json!({"succeeded": 3}), "{done}");
    assert_eq!(done["started_by"], "ops");
    assert_eq!(ledger(&sim).len(), 3);
    // The viewer follows it.
    let (s, _) = http(
        "GET",
        &format!("{}/v1/batches/{id}", d.url),
        Some("view-token-batch"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    // The same name again continues the batch: every row replayed.
    let (_, v) = upload(&up("refunds.csv"), "ops-token-batch", "text/csv", file).await;
    assert_eq!(
        (v["batch_id"].as_str(), &v["continued"], &v["changed"]),
        (Some(id.as_str()), &json!(true), &json!(false))
    );
    let again = start_and_wait(&d.url, "ops-token-batch", &id).await;
    assert!(
        again["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"]["replayed"] == true),
        "{again}"
    );
    assert_eq!(ledger(&sim).len(), 3, "nothing sent twice");
    // Corrected under the same name: the changed row conflicts, never a
    // second refund.
    let (_, v) = upload(
        &up("refunds.csv"),
        "ops-token-batch",
        "text/csv",
        "order_ref,amount\nB0,100\nB0,200\nB1,350\n",
    )
    .await;
    assert_eq!(v["changed"], true, "{v}");
    let corrected = start_and_wait(&d.url, "ops-token-batch", &id).await;
    assert_eq!(
        corrected["rows"][2]["outcome"]["status"], "error",
        "{corrected}"
    );
    assert_eq!(
        corrected["rows"][2]["outcome"]["reason"],
        "idempotency_conflict"
    );
    assert_eq!(ledger(&sim).len(), 3, "nothing sent twice");
    drop(d);
    std::fs::remove_dir_all(&dir).ok();
}
