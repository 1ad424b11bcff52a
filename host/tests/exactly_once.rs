//! The exactly-once promise: one provider call per intent, no lost outcome,
//! on SQLite always and on PostgreSQL when `PAYOPS_TEST_POSTGRES_URL` is set.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use payops_conformance::fault::{Fault, FaultTransport};
use payops_core::loader;
use payops_core::{AccountConfig, HttpRequest, HttpTransport, OperationKind, Simulator, Status};
use payops_host::config::Account;
use payops_host::engine::Engine;
use payops_transport::{ReqwestTransport, SimServer};
use serde_json::{Value, json};

const KEY: &str = "hostsecret-esnek-key-4242";

/// A simulator with merchant `merchant` (unique per test: claims of provider
/// transactions are per merchant, and simulators reuse transaction ids).
async fn esnek_sim(merchant: &str) -> SimServer {
    let mut s = payops_esnekpos::sim::EsnekSimulator::empty();
    s.seed(&json!({"merchants": [{"merchant": merchant, "merchant_key": KEY}],
                    "payments": [{"order_ref": "P1", "amount": 1000000, "date": "2020-01-01T10:00:00+03:00"}]}))
        .unwrap();
    // One payment per injected fault: the order guard refuses a new refund on
    // an order whose last refund is still unknown.
    for i in 0..16 {
        s.seed(&json!({"payments": [{"order_ref": format!("F{i}"), "amount": 1000000, "date": "2020-01-01T10:00:00+03:00"}]}))
            .unwrap();
    }
    SimServer::start(Box::new(s), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn config(dir: &Path, base_url: &str, store_url: &str, account: &str, merchant: &str) -> PathBuf {
    TestConfig::new(dir)
        .store(store_url)
        .with(|c| {
            c.store.instance_timeout_secs = 1;
            c.store.reconcile_interval_secs = 0;
        })
        .token("ops", "ops-token-1", &["*"], &["*"])
        .account(
            account,
            // The proxy holds requests by the test's count: the order guard
            // does not query the order first.
            json!({"provider": "esnekpos", "base_url": base_url, "timeout_ms": 3000,
                   "merchant": merchant, "merchant_key": KEY, "order_query": false}),
        )
        .write(&dir.join("exactly-once.toml"))
}

async fn post(url: &str, key: &str, body: &str) -> (u16, Value) {
    post_to(url, "esnek", key, body).await
}

async fn post_to(url: &str, account: &str, key: &str, body: &str) -> (u16, Value) {
    let t = ReqwestTransport::new().unwrap();
    let r = HttpRequest {
        method: "POST".into(),
        url: format!("{url}/v1/accounts/{account}/operations/refund"),
        headers: vec![
            ("Authorization".into(), "Bearer ops-token-1".into()),
            ("Idempotency-Key".into(), key.into()),
            ("Content-Type".into(), "application/json".into()),
        ],
        body: body.as_bytes().to_vec(),
        timeout_ms: Some(60_000),
        safe: false,
    };
    match t.send(r).await {
        Ok(resp) => (
            resp.status,
            serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
        ),
        Err(e) => (0, json!({"transport_error": e.message})),
    }
}

async fn concurrent_duplicates(store_url: &str, daemons: usize) {
    let merchant = unique("M");
    let sim = esnek_sim(&merchant).await;
    let dir = temp_dir(&unique("dup"));
    let cfg = config(&dir, &sim.url(), store_url, "esnek", &merchant);
    let mut running = Vec::new();
    for i in 0..daemons {
        let (c, d) = (cfg.clone(), dir.clone());
        running.push(
            tokio::task::spawn_blocking(move || {
                Daemon::start(
                    &format!("dup{i}"),
                    &[
                        "--config",
                        c.to_str().unwrap(),
                        "serve",
                        "--listen",
                        "127.0.0.1:0",
                    ],
                    &d,
                )
            })
            .await
            .unwrap(),
        );
    }
    let urls: Vec<String> = running.iter().map(|d| d.url.clone()).collect();
    let key = unique("K");
    let body = r#"{"order_ref":"P1","amount":777}"#;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (u, k) = (urls[i % urls.len()].clone(), key.clone());
        tasks.push(tokio::spawn(async move { post(&u, &k, body).await }));
    }
    let mut envelopes = Vec::new();
    for t in tasks {
        let (status, v) = t.await.unwrap();
        assert_eq!(status, 200, "{v}");
        envelopes.push(v);
    }
    assert!(
        envelopes.iter().all(|e| e == &envelopes[0]),
        "200 identical envelopes"
    );
    assert_eq!(envelopes[0]["status"], "succeeded");
    assert_eq!(envelopes[0]["idempotency_key"], json!(key));
    let calls: Vec<_> = ledger(&sim)
        .into_iter()
        .filter(|e| e["amount"] == json!(777))
        .collect();
    assert_eq!(calls.len(), 1, "exactly one provider call: {calls:?}");
    // The same key with another document is a conflict, and calls nothing.
    let (status, v) = post(&urls[0], &key, r#"{"order_ref":"P1","amount":778}"#).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("idempotency_conflict")),
        "{v}"
    );
    assert_eq!(ledger(&sim).len(), 1);
    // The audit record.
    let id = envelopes[0]["operation_id"].as_str().unwrap();
    let (s, rec) = common::http(
        "GET",
        &format!("{}/v1/operations/{id}", urls[0]),
        Some("ops-token-1"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(rec["operation"]["envelope"], envelopes[0]);
    assert_eq!(rec["operation"]["state"], "succeeded");
    let text = rec.to_string();
    assert!(!text.contains(KEY), "no credential in the audit record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_sqlite() {
    let dir = temp_dir(&unique("dupdb"));
    concurrent_duplicates(&format!("sqlite://{}", dir.join("ops.db").display()), 1).await;
}

#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_postgres_two_daemons() {
    match pg_url() {
        Some(url) => concurrent_duplicates(&url, 2).await,
        None => eprintln!("SKIPPED: PostgreSQL (set PAYOPS_TEST_POSTGRES_URL)"),
    }
}

async fn wait_for(seen: &AtomicUsize, n: usize) {
    for _ in 0..200 {
        if seen.load(Ordering::SeqCst) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the provider front never saw request {n}");
}

async fn sigkill(db: Option<String>) {
    let merchant = unique("M");
    let sim = esnek_sim(&merchant).await;
    let mode = Arc::new(AtomicUsize::new(1));
    let seen = Arc::new(AtomicUsize::new(0));
    let front = proxy(sim.url(), mode.clone(), seen.clone()).await;
    let dir = temp_dir(&unique("kill"));
    let db = db.unwrap_or_else(|| format!("sqlite://{}", dir.join("ops.db").display()));
    // A fresh account and keys per run: a shared PostgreSQL keeps earlier runs.
    let acct = unique("killacct").replace('-', "_");
    let k = |name: &str| format!("{acct}-{name}");
    let cfg = config(&dir, &front, &db, &acct, &merchant);
    let c = cfg.to_str().unwrap().to_owned();
    let d = dir.clone();
    let mut daemon = tokio::task::spawn_blocking(move || {
        Daemon::start(
            "kill1",
            &["--config", &c, "serve", "--listen", "127.0.0.1:0"],
            &d,
        )
    })
    .await
    .unwrap();
    let url = daemon.url.clone();

    // A finished operation first: it must survive the crash intact.
    mode.store(0, Ordering::SeqCst);
    let (s, done) = post_to(
        &url,
        &acct,
        &k("k-done"),
        r#"{"order_ref":"P1","amount":100}"#,
    )
    .await;
    assert_eq!(
        (s, done["status"].as_str()),
        (200, Some("succeeded")),
        "{done}"
    );
    // Killed before the provider acted, and after it acted.
    mode.store(1, Ordering::SeqCst);
    let (u1, a1, k1) = (url.clone(), acct.clone(), k("k-before"));
    tokio::spawn(async move { post_to(&u1, &a1, &k1, r#"{"order_ref":"F0","amount":200}"#).await });
    wait_for(&seen, 2).await;
    mode.store(2, Ordering::SeqCst);
    let (u2, a2, k2) = (url.clone(), acct.clone(), k("k-after"));
    tokio::spawn(async move { post_to(&u2, &a2, &k2, r#"{"order_ref":"F1","amount":300}"#).await });
    wait_for(&seen, 3).await;
    for _ in 0..100 {
        if ledger(&sim).len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        ledger(&sim).len(),
        2,
        "the 'after' refund reached the provider"
    );
    std::process::Command::new("kill")
        .arg("-KILL")
        .arg(daemon.child.id().to_string())
        .status()
        .unwrap();
    daemon.wait();
    drop(daemon);

    // Restart once the dead instance's heartbeat is stale.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    mode.store(0, Ordering::SeqCst);
    let (c, d) = (cfg.to_str().unwrap().to_owned(), dir.clone());
    let daemon = tokio::task::spawn_blocking(move || {
        Daemon::start(
            "kill2",
            &["--config", &c, "serve", "--listen", "127.0.0.1:0"],
            &d,
        )
    })
    .await
    .unwrap();
    let list = |d: PathBuf, c: String, a: String| {
        let (code, out, err) = run(
            &[
                "--config",
                &c,
                "operations",
                "list",
                "--account",
                &a,
                "--output",
                "json",
            ],
            &d,
        );
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Vec<Value>>(&out).unwrap()
    };
    let (c, d, a) = (cfg.to_str().unwrap().to_owned(), dir.clone(), acct.clone());
    let ops = tokio::task::spawn_blocking(move || list(d, c, a))
        .await
        .unwrap();
    let by_key = |ops: &[Value], k: &str| {
        ops.iter()
            .find(|o| o["idempotency_key"] == json!(k))
            .cloned()
            .unwrap()
    };
    assert_eq!(by_key(&ops, &k("k-before"))["state"], "unknown");
    assert_eq!(by_key(&ops, &k("k-after"))["state"], "unknown");
    assert_eq!(
        by_key(&ops, &k("k-done"))["envelope"],
        done,
        "the finished envelope survived intact"
    );
    // Replaying the keys does not re-send: the stored unknown comes back.
    let (s, v) = post_to(
        &daemon.url,
        &acct,
        &k("k-after"),
        r#"{"order_ref":"F1","amount":300}"#,
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("unknown")), "{v}");
    let (s, v) = post_to(
        &daemon.url,
        &acct,
        &k("k-before"),
        r#"{"order_ref":"F0","amount":200}"#,
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("unknown")), "{v}");
    assert_eq!(ledger(&sim).len(), 2, "nothing was re-sent");
    // What an operator watches, read from the store as the daemon started:
    // the two unknown operations under their account.
    let (_, m) = http("GET", &format!("{}/metrics", daemon.url), None, None).await;
    let m = m.as_str().unwrap();
    assert!(
        m.contains(&format!(
            "payops_unresolved_operations{{account=\"{acct}\",state=\"unknown\"}} 2"
        )),
        "{m}"
    );
    assert!(m.contains("payops_store_up 1"), "{m}");

    // Reconciliation finds the truth with the provider's query. Absence of
    // a row proves the 'before' refund failed only once the provider's clock
    // is well past its start: let it have started 10 minutes ago.
    let before_id = by_key(&ops, &k("k-before"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    backdate(&db, &before_id, 10).await;
    let (c, d) = (cfg.to_str().unwrap().to_owned(), dir.clone());
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run(
            &[
                "--config",
                &c,
                "reconcile",
                "--min-age-secs",
                "0",
                "--output",
                "json",
            ],
            &d,
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let res: Vec<Value> = serde_json::from_str(&out).unwrap();
    let to = |id: &Value| {
        res.iter()
            .find(|r| r["operation_id"] == *id)
            .map(|r| r["to"].clone())
            .unwrap_or(Value::Null)
    };
    let (c, d, a) = (cfg.to_str().unwrap().to_owned(), dir.clone(), acct.clone());
    let ops = tokio::task::spawn_blocking(move || list(d, c, a))
        .await
        .unwrap();
    let before = by_key(&ops, &k("k-before"));
    let after = by_key(&ops, &k("k-after"));
    assert_eq!(to(&before["id"]), json!("failed"), "{out}");
    assert_eq!(to(&after["id"]), json!("succeeded"), "{out}");
    assert_eq!(before["state"], "failed");
    assert_eq!(after["state"], "succeeded");
    assert!(
        after["resolution"]
            .as_str()
            .unwrap()
            .contains("the only successful return row"),
        "{after}"
    );
    assert_eq!(after["envelope"]["status"], "succeeded");
    assert_eq!(ledger(&sim).len(), 2);
    let (s, v) = common::http(
        "GET",
        &format!(
            "{}/v1/operations/{}",
            daemon.url,
            after["id"].as_str().unwrap()
        ),
        Some("ops-token-1"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let kinds: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"recovered") && kinds.contains(&"reconciled"),
        "{kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_operation_sqlite() {
    sigkill(None).await;
}

#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_operation_postgres() {
    match pg_url() {
        Some(url) => sigkill(Some(url)).await,
        None => eprintln!("SKIPPED: PostgreSQL (set PAYOPS_TEST_POSTGRES_URL)"),
    }
}

async fn faults(store_url: &str) {
    let merchant = unique("M");
    let sim = esnek_sim(&merchant).await;
    let provider = loader::load(&payops_conformance::built_cdylib("payops_esnekpos")).unwrap();
    let store = payops_store::Store::open(store_url).await.unwrap();
    let faulty = Arc::new(FaultTransport::new(ReqwestTransport::new().unwrap()));
    let mut providers = BTreeMap::new();
    providers.insert("esnekpos".to_owned(), Arc::new(provider));
    let account = unique("esnek");
    let values = json!({"base_url": sim.url(), "merchant": merchant, "merchant_key": KEY, "timeout_ms": 3000});
    let mut accounts = BTreeMap::new();
    accounts.insert(
        account.clone(),
        Account {
            name: account.clone(),
            provider: "esnekpos".into(),
            config: AccountConfig::new(
                values.as_object().unwrap().clone(),
                vec!["merchant_key".into()],
            ),
            limits: Default::default(),
            order_freshness_secs: payops_host::config::DEFAULT_ORDER_FRESHNESS_SECS,
            // The faults below are for the refund's own request: the
            // order guard does not query the order first.
            order_query: false,
        },
    );
    let engine = Engine::new(
        providers,
        accounts,
        faulty.clone(),
        store,
        payops_host::engine::EngineSettings::default(),
    )
    .unwrap();

    let cases = [
        (Fault::None, Status::Succeeded, true),
        (
            Fault::Latency(Duration::from_millis(200)),
            Status::Succeeded,
            true,
        ),
        (Fault::TimeoutBeforeSend, Status::Unknown, false),
        (Fault::TimeoutAfterSend, Status::Unknown, true),
        (Fault::DropAfterSend, Status::Unknown, true),
        (Fault::HtmlAfterSend, Status::Unknown, true),
        (Fault::Html503BeforeSend, Status::Unknown, false),
        (Fault::TruncatedAfterSend, Status::Unknown, true),
    ];
    // A refused connection: nothing left for the provider, so a refusal
    // (unreachable), and the key stays free: the same request with the
    // same key runs once the provider answers.
    let refused = || {
        engine.execute(
            &account,
            OperationKind::Refund,
            json!({"order_ref": "F15", "amount": 999}),
            payops_host::engine::Options {
                idempotency_key: Some("fault-refused".into()),
                ..Default::default()
            },
        )
    };
    faulty.push(Fault::Refused);
    let e = refused().await.unwrap_err();
    assert_eq!(e.code(), payops_core::ErrorCode::Unavailable, "{e:?}");
    assert_eq!(
        e.refusal_reason(),
        Some(payops_core::outcome::Reason::Unreachable)
    );
    let sent = |sim: &payops_transport::SimServer| {
        ledger(sim)
            .iter()
            .filter(|e| e["amount"] == json!(999))
            .count()
    };
    assert_eq!(sent(&sim), 0);
    let env = refused().await.unwrap();
    assert_eq!(env.status, Status::Succeeded, "{env:?}");
    assert_eq!(sent(&sim), 1);

    let mut envelopes = Vec::new();
    for (i, (fault, expected, acted)) in cases.iter().enumerate() {
        faulty.push(fault.clone());
        let amount = 1000 + i as i64;
        let key = format!("fault-{i}");
        let env = engine
            .execute(
                &account,
                OperationKind::Refund,
                json!({"order_ref": format!("F{i}"), "amount": amount}),
                payops_host::engine::Options {
                    idempotency_key: Some(key.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(env.status, *expected, "{fault:?}: {env:?}");
        let n = ledger(&sim)
            .iter()
            .filter(|e| e["amount"] == json!(amount))
            .count();
        assert_eq!(n, usize::from(*acted), "{fault:?}");
        // A replay with the key never calls the provider again.
        let again = engine
            .execute(
                &account,
                OperationKind::Refund,
                json!({"order_ref": format!("F{i}"), "amount": amount}),
                payops_host::engine::Options {
                    idempotency_key: Some(key),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(again, env);
        assert_eq!(
            ledger(&sim)
                .iter()
                .filter(|e| e["amount"] == json!(amount))
                .count(),
            usize::from(*acted)
        );
        envelopes.push(env);
    }
    let before = ledger(&sim).len();
    // Absence of a return row proves a synchronous refund failed only once
    // the provider's own clock is past the request's timeout and a margin.
    let early = payops_host::reconcile::run(&engine, Some(&account), Duration::ZERO, None)
        .await
        .unwrap()
        .examined;
    for (i, (fault, expected, acted)) in cases.iter().enumerate() {
        if *expected == Status::Unknown && !*acted {
            let r = early
                .iter()
                .find(|r| r.id == envelopes[i].operation_id)
                .unwrap();
            assert_eq!(r.to, None, "{fault:?}: too early to call it failed: {r:?}");
        }
    }
    for (i, (_, expected, acted)) in cases.iter().enumerate() {
        if *expected == Status::Unknown && !*acted {
            backdate(store_url, &envelopes[i].operation_id, 10).await;
        }
    }
    let resolved = payops_host::reconcile::run(&engine, Some(&account), Duration::ZERO, None)
        .await
        .unwrap()
        .examined;
    for (i, (fault, expected, acted)) in cases.iter().enumerate() {
        if *expected != Status::Unknown {
            continue;
        }
        let r = resolved
            .iter()
            .chain(early.iter())
            .find(|r| r.id == envelopes[i].operation_id && r.to.is_some())
            .unwrap_or_else(|| panic!("{fault:?} not reconciled: {resolved:?}"));
        let truth = if *acted {
            Status::Succeeded
        } else {
            Status::Failed
        };
        assert_eq!(r.to, Some(truth), "{fault:?}: {r:?}");
    }
    assert_eq!(ledger(&sim).len(), before, "reconciliation only queries");
    let amounts: Vec<i64> = ledger(&sim)
        .iter()
        .map(|e| e["amount"].as_i64().unwrap())
        .collect();
    let mut dedup = amounts.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(
        dedup.len(),
        amounts.len(),
        "no duplicate refund in the ledger: {amounts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn injected_faults_sqlite() {
    let dir = temp_dir(&unique("faultdb"));
    faults(&format!("sqlite://{}", dir.join("ops.db").display())).await;
}

#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn injected_faults_postgres() {
    match pg_url() {
        Some(url) => faults(&url).await,
        None => eprintln!("SKIPPED: PostgreSQL (set PAYOPS_TEST_POSTGRES_URL)"),
    }
}

/// SIGKILL at a group-commit boundary: many intents in flight at once
/// (some batched and committed, some not yet, some sent), the daemon killed
/// mid-burst. After a restart, every refund the provider carried out has its
/// committed intent, no order was refunded twice, and sending every request
/// again with its key sends nothing a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_the_batch_boundary_sends_nothing_twice_or_unrecorded() {
    let dir = temp_dir(&unique("batchkill"));
    batch_kill(&dir, &format!("sqlite://{}", dir.join("ops.db").display())).await;
}

/// The same on PostgreSQL, whose intents are batched into one statement.
#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_the_batch_boundary_postgres() {
    match pg_url() {
        Some(url) => batch_kill(&temp_dir(&unique("batchkill-pg")), &url).await,
        None => eprintln!("SKIPPED: PostgreSQL (set PAYOPS_TEST_POSTGRES_URL)"),
    }
}

async fn batch_kill(dir: &Path, db: &str) {
    let merchant = unique("M");
    let mut s = payops_esnekpos::sim::EsnekSimulator::empty();
    s.seed(&json!({"merchants": [{"merchant": merchant, "merchant_key": KEY}]}))
        .unwrap();
    const N: usize = 120;
    for i in 0..N {
        s.seed(&json!({"payments": [{"order_ref": format!("G{i}"), "amount": 100000, "date": "2020-01-01T10:00:00+03:00"}]}))
            .unwrap();
    }
    let sim = SimServer::start(Box::new(s), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let acct = unique("batchacct").replace('-', "_");
    let cfg = config(dir, &sim.url(), db, &acct, &merchant);
    let start = |name: &'static str| {
        let (c, d) = (cfg.to_str().unwrap().to_owned(), dir.to_path_buf());
        tokio::task::spawn_blocking(move || {
            Daemon::start(
                name,
                &["--config", &c, "serve", "--listen", "127.0.0.1:0"],
                &d,
            )
        })
    };
    let mut daemon = start("batch1").await.unwrap();
    let url = daemon.url.clone();
    let send_all = |url: String| {
        let acct = acct.clone();
        (0..N)
            .map(|i| {
                let (u, a) = (url.clone(), acct.clone());
                tokio::spawn(async move {
                    post_to(
                        &u,
                        &a,
                        &format!("{a}-g{i}"),
                        &format!(r#"{{"order_ref":"G{i}","amount":100}}"#),
                    )
                    .await
                })
            })
            .collect::<Vec<_>>()
    };
    let burst = send_all(url.clone());
    // Kill in the middle of the burst: some refunds done, some not begun.
    for _ in 0..400 {
        if ledger(&sim).len() >= N / 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    std::process::Command::new("kill")
        .arg("-KILL")
        .arg(daemon.child.id().to_string())
        .status()
        .unwrap();
    daemon.wait();
    drop(daemon);
    for b in burst {
        let _ = b.await;
    }
    let sent_before: Vec<String> = ledger(&sim)
        .iter()
        .map(|e| e["order_ref"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !sent_before.is_empty() && sent_before.len() < N,
        "killed mid-burst: {}",
        sent_before.len()
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let daemon = start("batch2").await.unwrap();
    let (c, d, a) = (
        cfg.to_str().unwrap().to_owned(),
        dir.to_path_buf(),
        acct.clone(),
    );
    let ops = tokio::task::spawn_blocking(move || {
        let (code, out, err) = run(
            &[
                "--config",
                &c,
                "operations",
                "list",
                "--account",
                &a,
                "--limit",
                "1000",
                "--output",
                "json",
            ],
            &d,
        );
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Vec<Value>>(&out).unwrap()
    })
    .await
    .unwrap();
    let recorded: std::collections::BTreeSet<String> = ops
        .iter()
        .filter_map(|o| o["request"]["order_ref"].as_str().map(str::to_owned))
        .collect();
    for order in &sent_before {
        assert!(
            recorded.contains(order),
            "{order} was sent without a committed intent"
        );
    }
    // Everything again, same keys: nothing is sent a second time.
    for r in send_all(daemon.url.clone()) {
        let _ = r.await;
    }
    let all: Vec<String> = ledger(&sim)
        .iter()
        .map(|e| e["order_ref"].as_str().unwrap().to_owned())
        .collect();
    let unique_orders: std::collections::BTreeSet<&String> = all.iter().collect();
    assert_eq!(
        unique_orders.len(),
        all.len(),
        "an order was refunded twice: {all:?}"
    );
    for order in &sent_before {
        assert_eq!(all.iter().filter(|o| *o == order).count(), 1);
    }
    drop(daemon);
}
