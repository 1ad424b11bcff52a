//! A refusal is not a failure, through the real binary, on SQLite and on
//! PostgreSQL: a request refused before anything was sent (the provider's
//! own checks, the order guard, the provider unreachable) is a 4xx or 503
//! with its reason and an audit record, never a `failed` operation, sends
//! no `operation.failed` webhook, and leaves its `Idempotency-Key` free.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use payops_core::Simulator;
use serde_json::{Value, json};

const TOKEN: &str = "refusals-token-0123456789";
const ESNEK_KEY: &str = "hostsecret-esnek-key-4242";
const TURK_PASS: &str = "Tp8Kq2Wm9Z";
const TURK_GUID: &str = "11111111-2222-3333-4444-555555555555";
const G1: &str = "aaaaaaaa-0000-0000-0000-000000000001";

/// An answer of the API: status, body, and whether it was a replay.
struct Answer {
    status: u16,
    body: Value,
    text: String,
    replayed: bool,
}

async fn call(method: &str, url: &str, key: Option<&str>, body: Option<&Value>) -> Answer {
    use payops_core::{HttpRequest, HttpTransport};
    let t = payops_transport::ReqwestTransport::new().unwrap();
    let mut headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("Authorization".to_owned(), format!("Bearer {TOKEN}")),
    ];
    if let Some(k) = key {
        headers.push(("Idempotency-Key".to_owned(), k.to_owned()));
    }
    let r = HttpRequest {
        method: method.into(),
        url: url.into(),
        headers,
        body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        timeout_ms: Some(30_000),
        safe: false,
    };
    let resp = t.send(r).await.unwrap();
    Answer {
        status: resp.status,
        replayed: resp
            .header("idempotent-replayed")
            .is_some_and(|v| v == "true"),
        body: serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
        text: String::from_utf8_lossy(&resp.body).into_owned(),
    }
}

/// `GET path` on the daemon, expecting 200.
async fn get(d: &Daemon, path: &str) -> Value {
    let a = call("GET", &format!("{}{path}", d.url), None, None).await;
    assert_eq!(a.status, 200, "GET {path}: {}", a.body);
    a.body
}

/// `POST` an operation.
async fn post(d: &Daemon, account: &str, op: &str, key: &str, doc: &Value) -> Answer {
    call(
        "POST",
        &format!("{}/v1/accounts/{account}/operations/{op}", d.url),
        Some(key),
        Some(doc),
    )
    .await
}

/// The refusals counter of `/metrics` for `account` and `reason`.
async fn refusals_metric(d: &Daemon, account: &str, reason: &str) -> f64 {
    let a = call("GET", &format!("{}/metrics", d.url), None, None).await;
    a.text
        .lines()
        .filter(|l| {
            l.starts_with("payops_refusals_total{")
                && l.contains(&format!("account=\"{account}\""))
                && l.contains("operation=\"refund\"")
                && l.contains(&format!("reason=\"{reason}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Every operation the daemon lists (newest first).
async fn operations(d: &Daemon, query: &str) -> Vec<Value> {
    get(d, &format!("/v1/operations?limit=500{query}")).await["operations"]
        .as_array()
        .unwrap()
        .clone()
}

fn esnek_account(url: &str, merchant: &str) -> Value {
    json!({"provider": "esnekpos", "environment": "test", "base_url": url, "timeout_ms": 5000,
           "merchant": merchant, "merchant_key": ESNEK_KEY})
}

async fn esnek_sim(merchant: &str, addr: &str) -> payops_transport::SimServer {
    let mut e = payops_esnekpos::sim::EsnekSimulator::empty();
    e.seed(&json!({"merchants": [{"merchant": merchant, "merchant_key": ESNEK_KEY}],
                    "payments": [{"order_ref": "P1", "amount": 1000000, "date": "2020-01-01T10:00:00+03:00"},
                                 {"order_ref": "P-POS", "amount": 15000, "channel": "android_pos", "date": "2020-01-01T10:00:00+03:00"}]}))
        .unwrap();
    payops_transport::SimServer::start(Box::new(e), addr.parse().unwrap())
        .await
        .unwrap()
}

fn daemon(name: &str, dir: &Path, cfg: TestConfig) -> Daemon {
    let path = cfg
        .token_with(TOKEN_NAME, TOKEN, &["*"], &["*"], |t| t.resolve = true)
        .write(&dir.join("payops.toml"));
    Daemon::serve(name, &path, dir)
}

const TOKEN_NAME: &str = "ops";

/// The TurkPos case: a refund the provider's own checks refuse before
/// sending (a marketplace order without its GUID) is a 422 refusal; the
/// corrected document with the same key runs, and the provider is called
/// once.
async fn provider_check_refusal(store: &str) {
    let dir = temp_dir(&unique("refusal-turk"));
    let account = unique("turk");
    let mut sim = payops_turkpos::sim::TurkPosSimulator::empty();
    sim.seed(&json!({
        "clients": [{"client_code": "555", "client_username": "u", "client_password": TURK_PASS, "guid": TURK_GUID}],
        "orders": [{"order_ref": "T1", "marketplace_order_guid": G1, "amount": 5000, "seller_payout_amount": 4000, "date": "2020-01-02T10:00:00+03:00"}]
    }))
    .unwrap();
    let srv = payops_transport::SimServer::start(Box::new(sim), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let d = daemon(
        "turk",
        &dir,
        TestConfig::new(&dir).store(store).account(
            &account,
            json!({"provider": "turkpos", "environment": "test", "base_url": srv.url(), "timeout_ms": 5000,
                   "client_code": "555", "client_username": "u", "client_password": TURK_PASS, "guid": TURK_GUID}),
        ),
    );
    let key = unique("turk-key");
    let wrong = json!({"order_ref": "T1", "amount": 1000, "seller_payout_amount": 3000});
    let a = post(&d, &account, "refund", &key, &wrong).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "invalid_request");
    assert_eq!(a.body["error"]["reason"], "invalid_request");
    assert_eq!(
        a.body["error"]["details"][0]["path"],
        "/marketplace_order_guid"
    );
    let refusal_id = a.body["error"]["refusal_id"].as_str().unwrap().to_owned();
    assert!(refusal_id.starts_with("rf_"), "{refusal_id}");
    // Not an operation, failed or otherwise; an audit record instead.
    let mine = |ops: Vec<Value>| {
        ops.into_iter()
            .filter(|o| o["account"] == json!(account))
            .collect::<Vec<_>>()
    };
    assert!(mine(operations(&d, "&status=failed").await).is_empty());
    // (The order guard's query of the order is an operation; no refund is.)
    assert!(
        mine(operations(&d, "").await)
            .iter()
            .all(|o| o["operation"] == "query")
    );
    let r = get(&d, &format!("/v1/refusals/{refusal_id}")).await;
    assert_eq!(r["refusal"]["reason"], "invalid_request");
    assert_eq!(r["refusal"]["idempotency_key"], json!(key));
    assert_eq!(r["refusal"]["actor"], TOKEN_NAME);
    assert_eq!(r["refusal"]["request"], wrong);
    let listed = get(&d, &format!("/v1/refusals?account={account}")).await;
    assert_eq!(listed["refusals"].as_array().unwrap().len(), 1);
    assert_eq!(refusals_metric(&d, &account, "invalid_request").await, 1.0);
    assert!(ledger(&srv).is_empty(), "nothing reached the provider");

    // The corrected document, same key: it runs, once.
    let right = json!({"order_ref": "T1", "marketplace_order_guid": G1, "amount": 1000, "seller_payout_amount": 3000});
    let a = post(&d, &account, "refund", &key, &right).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["status"], "succeeded");
    assert!(!a.replayed);
    let again = post(&d, &account, "refund", &key, &right).await;
    assert_eq!(again.status, 200);
    assert!(again.replayed);
    assert_eq!(again.body["operation_id"], a.body["operation_id"]);
    assert_eq!(ledger(&srv).len(), 1, "the provider was called once");
}

/// The order guard: a refund on an order with a pending cancel is a 409
/// refusal, not a `failed` operation, and no `operation.failed` webhook.
/// Two callers racing one key into it both get the refusal; once the order
/// is free, two callers racing the same key get one provider call and the
/// same answer.
async fn guard_refusal(store: &str) {
    let dir = temp_dir(&unique("refusal-guard"));
    let account = unique("esnek");
    let merchant = unique("M");
    let srv = esnek_sim(&merchant, "127.0.0.1:0").await;
    let (hook, events) = webhook_receiver().await;
    let d = daemon(
        "guard",
        &dir,
        TestConfig::new(&dir)
            .store(store)
            .account(&account, esnek_account(&srv.url(), &merchant))
            .with(|c| {
                c.webhooks.push(
                    serde_json::from_value(json!({
                        "name": unique("audit"), "url": hook, "secret": "whsec_refusals_5Kq9Zr2Wv7Lp",
                        "retry_initial_ms": 100, "retry_max_ms": 400, "timeout_ms": 2000
                    }))
                    .unwrap(),
                )
            }),
    );
    // A device cancel: pending until the device reports.
    let cancel = post(
        &d,
        &account,
        "cancel",
        &unique("cancel"),
        &json!({"order_ref": "P-POS", "channel": "android_pos", "back_url": "https://shop.example/back"}),
    )
    .await;
    assert_eq!(cancel.body["status"], "pending", "{}", cancel.body);
    let cancel_id = cancel.body["operation_id"].as_str().unwrap().to_owned();

    let key = unique("guarded");
    let refund = json!({"order_ref": "P-POS", "amount": 500});
    let (a, b) = tokio::join!(
        post(&d, &account, "refund", &key, &refund),
        post(&d, &account, "refund", &key, &refund)
    );
    for x in [&a, &b] {
        assert_eq!(x.status, 409, "{}", x.body);
        assert_eq!(x.body["error"]["code"], "operation_conflict");
        assert_eq!(x.body["error"]["reason"], "conflict");
        assert!(
            x.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&cancel_id)
        );
    }
    let ops: Vec<Value> = operations(&d, &format!("&account={account}"))
        .await
        .into_iter()
        .filter(|o| o["operation"] != "query")
        .collect();
    assert_eq!(
        ops.len(),
        1,
        "only the cancel is a money operation: {ops:?}"
    );
    assert!(
        operations(&d, &format!("&account={account}&status=failed"))
            .await
            .is_empty()
    );
    let refusals = get(
        &d,
        &format!("/v1/refusals?account={account}&reason=conflict"),
    )
    .await;
    let listed = refusals["refusals"].as_array().unwrap();
    assert!(
        !listed.is_empty() && listed.len() <= 2,
        "one or two refusals (a caller that waited on the other's intent gets its refusal): {listed:?}"
    );
    assert!(listed.iter().all(|r| r["idempotency_key"] == json!(key)));
    assert!(refusals_metric(&d, &account, "conflict").await >= 1.0);
    // The cancel's event arrives; no operation.failed does.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !events
        .lock()
        .unwrap()
        .iter()
        .any(|e| e["data"]["operation_id"] == json!(cancel_id))
    {
        assert!(Instant::now() < deadline, "the cancel's event never came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // (This account's events only: a shared PostgreSQL store holds others.)
    let types: Vec<Value> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["account"] == json!(account))
        .map(|e| e["type"].clone())
        .collect();
    assert!(!types.is_empty());
    assert!(
        !types.contains(&json!("operation.failed")),
        "a refusal sends no operation.failed: {types:?}"
    );

    // The device never cancelled: an operator says so; the order is free.
    let resolved = call(
        "POST",
        &format!("{}/v1/operations/{cancel_id}/resolve", d.url),
        None,
        Some(&json!({"status": "failed", "evidence": "the device shows no cancel"})),
    )
    .await;
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    // The same key now runs: two callers racing it, one provider call.
    let before = ledger(&srv).len();
    let (a, b) = tokio::join!(
        post(&d, &account, "refund", &key, &refund),
        post(&d, &account, "refund", &key, &refund)
    );
    for x in [&a, &b] {
        assert_eq!(x.status, 200, "{}", x.body);
        assert_eq!(x.body["status"], "succeeded", "{}", x.body);
    }
    assert_eq!(a.body["operation_id"], b.body["operation_id"]);
    assert_eq!(
        usize::from(a.replayed) + usize::from(b.replayed),
        1,
        "one ran, one was its replay"
    );
    assert_eq!(ledger(&srv).len(), before + 1, "one provider call");
}

/// The provider unreachable: a 503 refusal (reason unreachable), the key
/// free; the CLI exits 6; once the provider is up, the same key runs.
async fn unreachable_refusal(store: &str) {
    let dir = temp_dir(&unique("refusal-down"));
    let account = unique("down");
    let merchant = unique("M");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let cfg = TestConfig::new(&dir)
        .store(store)
        .account(&account, esnek_account(&url, &merchant));
    let cli_config = cfg.write(&dir.join("cli.toml"));
    let d = daemon("down", &dir, cfg);
    let key = unique("down-key");
    let doc = json!({"order_ref": "P1", "amount": 700});
    let a = post(&d, &account, "refund", &key, &doc).await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "unavailable");
    assert_eq!(a.body["error"]["reason"], "unreachable");
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing was sent")
    );
    assert!(
        operations(&d, &format!("&account={account}"))
            .await
            .is_empty()
    );
    assert_eq!(refusals_metric(&d, &account, "unreachable").await, 1.0);
    // The CLI: exit 6, not 11 (failed).
    let (code, _, stderr) = run(
        &[
            "--config",
            cli_config.to_str().unwrap(),
            "refund",
            "--account",
            &account,
            "--json",
            &doc.to_string(),
            "--idempotency-key",
            &key,
        ],
        &dir,
    );
    assert_eq!(code, 6, "{stderr}");
    assert!(
        stderr.contains("refused before sending (unreachable)"),
        "{stderr}"
    );
    // The audit, as operators.md shows it: both refusals, the newest first.
    let cli = cli_config.to_str().unwrap();
    let (code, out, err) = run(
        &[
            "--config",
            cli,
            "refusals",
            "list",
            "--account",
            &account,
            "--reason",
            "unreachable",
        ],
        &dir,
    );
    assert_eq!(code, 0, "{err}");
    // Each refund's, and each of the order guard's queries before it.
    let refunds: Vec<&str> = out.lines().filter(|l| l.contains(" refund ")).collect();
    assert_eq!(refunds.len(), 2, "{out}");
    assert!(
        out.lines()
            .all(|l| l.contains("unreachable") && l.contains("P1")),
        "{out}"
    );
    let first = a.body["error"]["refusal_id"].as_str().unwrap();
    let (code, out, err) = run(&["--config", cli, "refusals", "show", first], &dir);
    assert_eq!(code, 0, "{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["refusal"]["reason"], "unreachable");
    assert_eq!(shown["refusal"]["error"]["code"], "unavailable");
    assert_eq!(shown["refusal"]["idempotency_key"], json!(key));

    // The provider comes up on that port: the same key runs.
    let srv = esnek_sim(&merchant, &format!("127.0.0.1:{port}")).await;
    let a = post(&d, &account, "refund", &key, &doc).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["status"], "succeeded", "{}", a.body);
    assert_eq!(ledger(&srv).len(), 1);
    let refusals = get(&d, &format!("/v1/refusals?account={account}")).await;
    let refunds = refusals["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["operation"] == "refund")
        .count();
    assert_eq!(refunds, 2, "{refusals}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provider_check_refusal_sqlite() {
    let dir = temp_dir(&unique("rf-turk-db"));
    provider_check_refusal(&sqlite_url(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guard_refusal_sqlite() {
    let dir = temp_dir(&unique("rf-guard-db"));
    guard_refusal(&sqlite_url(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unreachable_refusal_sqlite() {
    let dir = temp_dir(&unique("rf-down-db"));
    unreachable_refusal(&sqlite_url(&dir)).await;
}

#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provider_check_refusal_postgres() {
    match pg_url() {
        Some(url) => provider_check_refusal(&url).await,
        None => eprintln!("SKIPPED: PostgreSQL (set PAYOPS_TEST_POSTGRES_URL)"),
    }
}

#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guard_refusal_postgres() {
    match pg_url() {
        Some(url) => guard_refusal(&url).await,
        None => eprintln!("SKIPPED: PostgreSQL (set PAYOPS_TEST_POSTGRES_URL)"),
    }
}

#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unreachable_refusal_postgres() {
    match pg_url() {
        Some(url) => unreachable_refusal(&url).await,
        None => eprintln!("SKIPPED: PostgreSQL (set PAYOPS_TEST_POSTGRES_URL)"),
    }
}

/// A store the release before refusals wrote (its sandbox and CLI, stored
/// as `failed`), served by this build: read as refusals, keys free.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_of_the_release_before_reads_its_refusals_as_refusals() {
    let dir = temp_dir(&unique("rf-before"));
    let db = dir.join("before.db");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/store/tests/fixtures/before-refusals.sqlite3"
        ),
        &db,
    )
    .unwrap();
    let mut sim = payops_turkpos::sim::TurkPosSimulator::empty();
    sim.seed(&json!({
        "clients": [{"client_code": "555", "client_username": "u", "client_password": TURK_PASS, "guid": TURK_GUID}],
        "orders": [{"order_ref": "TP-FX-1", "marketplace_order_guid": G1, "amount": 5000, "seller_payout_amount": 4000, "date": "2020-01-02T10:00:00+03:00"}]
    }))
    .unwrap();
    let srv = payops_transport::SimServer::start(Box::new(sim), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let d = daemon(
        "before",
        &dir,
        TestConfig::new(&dir)
            .store(&format!("sqlite://{}", db.display()))
            .account(
                "turk-demo",
                json!({"provider": "turkpos", "environment": "test", "base_url": srv.url(), "timeout_ms": 5000,
                       "client_code": "555", "client_username": "u", "client_password": TURK_PASS, "guid": TURK_GUID}),
            ),
    );
    assert!(operations(&d, "&status=failed").await.is_empty());
    assert_eq!(operations(&d, "").await.len(), 1, "the succeeded refund");
    let all = get(&d, "/v1/refusals").await;
    assert_eq!(all["refusals"].as_array().unwrap().len(), 10);
    let guard = get(&d, "/v1/refusals?reason=conflict").await;
    assert_eq!(guard["refusals"].as_array().unwrap().len(), 8);
    // The key of the refused TurkPos refund runs the corrected document.
    let a = post(
        &d,
        "turk-demo",
        "refund",
        "fx-turk-1",
        &json!({"order_ref": "TP-FX-1", "marketplace_order_guid": G1, "amount": 100, "seller_payout_amount": 0}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["status"], "succeeded", "{}", a.body);
    assert_eq!(ledger(&srv).len(), 1);
}

/// Refusals are kept within `store.refusals_kept` (plus what one prune
/// interval adds): a flood of refused requests does not grow the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_refusals_stays_bounded() {
    let dir = temp_dir(&unique("rf-flood"));
    let store = sqlite_url(&dir);
    let account = unique("flood");
    let d = daemon(
        "flood",
        &dir,
        TestConfig::new(&dir)
            .store(&store)
            .account(&account, esnek_account("http://127.0.0.1:9", "M1"))
            .with(|c| c.store.refusals_kept = 20),
    );
    // Invalid documents: refused by the schema, each recorded.
    for i in 0..300 {
        let a = post(
            &d,
            &account,
            "refund",
            &format!("flood-{i}"),
            &json!({"order_ref": "P1", "amount": -1}),
        )
        .await;
        assert_eq!(a.status, 422);
        assert_eq!(a.body["error"]["reason"], "invalid_request");
    }
    assert_eq!(
        refusals_metric(&d, &account, "invalid_request").await,
        300.0
    );
    let s = payops_store::Store::open_existing(&store).await.unwrap();
    let kept = s.refusal_count().await.unwrap();
    assert!(
        (20..=20 + 64).contains(&kept),
        "{kept} refusals kept for a bound of 20"
    );
    // The newest are the ones kept.
    let newest = s
        .list_refusals(&payops_store::RefusalFilter {
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(newest[0].idempotency_key.as_deref(), Some("flood-299"));
}

/// A NUL character in a request document (PostgreSQL's text cannot hold
/// one) is a 422 refusal naming the field, alike on both stores, never a
/// 503 carrying the database's words; the refusal is recorded (the NUL
/// kept as U+FFFD) and nothing reaches the provider.
async fn nul_refusal(store: &str) {
    let dir = temp_dir(&unique("refusal-nul"));
    let account = unique("esnek");
    let merchant = unique("M");
    let srv = esnek_sim(&merchant, "127.0.0.1:0").await;
    let d = daemon(
        "nul",
        &dir,
        TestConfig::new(&dir)
            .store(store)
            .account(&account, esnek_account(&srv.url(), &merchant)),
    );
    let key = unique("nul-key");
    let a = post(
        &d,
        &account,
        "refund",
        &key,
        &json!({"order_ref": "P1\u{0}X", "amount": 100}),
    )
    .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "invalid_request");
    assert_eq!(a.body["error"]["details"][0]["path"], "/order_ref");
    let text = a.body.to_string().to_lowercase();
    assert!(
        !text.contains("byte sequence") && !text.contains("utf8"),
        "{text}"
    );
    let id = a.body["error"]["refusal_id"].as_str().unwrap().to_owned();
    let r = get(&d, &format!("/v1/refusals/{id}")).await;
    assert_eq!(r["refusal"]["request"]["order_ref"], "P1\u{FFFD}X");
    assert!(ledger(&srv).is_empty(), "nothing reached the provider");
    // The key is free: the corrected document runs.
    let a = post(
        &d,
        &account,
        "refund",
        &key,
        &json!({"order_ref": "P1", "amount": 100}),
    )
    .await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (200, Some("succeeded")),
        "{}",
        a.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nul_refusal_sqlite() {
    let dir = temp_dir(&unique("rf-nul-db"));
    nul_refusal(&sqlite_url(&dir)).await;
}

#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nul_refusal_postgres() {
    match pg_url() {
        Some(url) => nul_refusal(&url).await,
        None => eprintln!("SKIPPED: PostgreSQL (set PAYOPS_TEST_POSTGRES_URL)"),
    }
}

/// Sipay asks for a bearer token before a refund; the token request
/// changes nothing at Sipay (it is marked safe). Credentials Sipay
/// refuses at the token step are a refusal (422, reason
/// `authentication`), not a `failed` refund: no refund reached Sipay, no
/// operation is recorded, and the key stays free (the same key is refused
/// again, not replayed). Before `HttpRequest::safe` this was a `failed`
/// refund holding the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sipay_token_refused_is_a_refusal() {
    let dir = temp_dir(&unique("rf-sipay"));
    let account = unique("sipay");
    let mut sim = payops_sipay::sim::SipaySim::demo();
    sim.seed(&json!({
        "apps": [{"app_id": "app-rf", "app_secret": "Sp4Xk8Qz2Vm6Wt1R", "merchant_key": "Mk7Lc3Ny9Bd5Hq0J"}],
        "orders": [{"order_ref": "INV-RF-1", "amount": 10000}]
    }))
    .unwrap();
    let srv = payops_transport::SimServer::start(Box::new(sim), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let d = daemon(
        "sipay",
        &dir,
        TestConfig::new(&dir).store(&sqlite_url(&dir)).account(
            &account,
            // No guard query first: the refund's own token step is the subject.
            json!({"provider": "sipay", "base_url": srv.url(), "timeout_ms": 5000, "order_query": false, "app_id": "app-rf",
                   "app_secret": "Sp4Xk8Qz2Vm6Wt1X", "merchant_key": "Mk7Lc3Ny9Bd5Hq0J"}),
        ),
    );
    let key = unique("sipay-key");
    let doc = json!({"order_ref": "INV-RF-1", "amount": 1000});
    for _ in 0..2 {
        let a = post(&d, &account, "refund", &key, &doc).await;
        assert_eq!(a.status, 422, "{}", a.body);
        assert!(!a.replayed);
        assert_eq!(a.body["error"]["code"], "invalid_request", "{}", a.body);
        assert_eq!(a.body["error"]["reason"], "authentication", "{}", a.body);
        assert!(a.text.contains("Invalid Credentials"), "{}", a.text);
        assert!(!a.text.contains("Sp4Xk8Qz"), "no credential: {}", a.text);
    }
    let refunds = operations(&d, &format!("&account={account}"))
        .await
        .into_iter()
        .filter(|o| o["operation"] == "refund")
        .count();
    assert_eq!(refunds, 0, "no refund operation");
    let listed = get(&d, &format!("/v1/refusals?account={account}")).await;
    assert_eq!(listed["refusals"].as_array().unwrap().len(), 2);
    let paths: Vec<String> = srv.with_sim(|s| s.state())["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        !paths.iter().any(|p| p.ends_with("/refund")),
        "no refund reached Sipay: {paths:?}"
    );
}
