//! The order ledger through the real binary, on SQLite and PostgreSQL:
//! `GET /v1/accounts/{account}/orders/{order_ref}` and `payops orders
//! show` give what was paid (as the provider's query read it), what payops
//! returned, the returns made outside payops that the provider lists, and
//! what remains.

mod common;

use common::*;
use payops_core::Simulator;
use serde_json::{Value, json};

const TOKEN: &str = "orders-token-0123456789";
const KEY: &str = "hostsecret-esnek-key-4242";

async fn call(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    use payops_core::{HttpRequest, HttpTransport};
    let t = payops_transport::ReqwestTransport::new().unwrap();
    let resp = t
        .send(HttpRequest {
            method: method.into(),
            url: url.into(),
            headers: vec![
                ("Content-Type".to_owned(), "application/json".to_owned()),
                ("Authorization".to_owned(), format!("Bearer {TOKEN}")),
            ],
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
            timeout_ms: Some(30_000),
            safe: false,
        })
        .await
        .unwrap();
    (
        resp.status,
        serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
    )
}

fn account(url: &str, merchant: &str) -> Value {
    json!({"provider": "esnekpos", "environment": "test", "base_url": url, "timeout_ms": 5000,
           "merchant": merchant, "merchant_key": KEY})
}

/// A refund made in the provider's panel: the provider's own API, called
/// by a plugin outside payops (nothing of it is in payops's store).
async fn refund_outside_payops(url: &str, merchant: &str, order_ref: &str, amount: i64) {
    let p = payops_core::driver::PluginProvider::from_static(payops_esnekpos::payops_plugin::api())
        .unwrap();
    let mut values = account(url, merchant);
    values.as_object_mut().unwrap().remove("provider");
    let ctx = payops_conformance::context(
        &p,
        values,
        std::sync::Arc::new(payops_transport::ReqwestTransport::new().unwrap()),
    );
    let o = p
        .execute(
            payops_core::OperationKind::Refund,
            &ctx,
            json!({"order_ref": order_ref, "amount": amount}),
        )
        .await
        .unwrap();
    assert_eq!(o.status, payops_core::Status::Succeeded, "{o:?}");
}

async fn order_view(store: &str) {
    let dir = temp_dir(&unique("orders"));
    let name = unique("esnek");
    let merchant = unique("M");
    let mut e = payops_esnekpos::sim::EsnekSimulator::empty();
    e.seed(&json!({"merchants": [{"merchant": merchant, "merchant_key": KEY}],
                    "payments": [{"order_ref": "O-1", "amount": 10000, "date": "2020-01-01T10:00:00+03:00"}]}))
        .unwrap();
    let sim = payops_transport::SimServer::start(Box::new(e), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let cfg = TestConfig::new(&dir)
        .store(store)
        .token("ops", TOKEN, &["*"], &["*"])
        .account(&name, account(&sim.url(), &merchant))
        .write(&dir.join("payops.toml"));
    let cfg_path = cfg.to_str().unwrap().to_owned();
    let d = Daemon::start(
        "orders",
        &["--config", &cfg_path, "serve", "--listen", "127.0.0.1:0"],
        &dir,
    );
    let order_url = |fresh: bool| {
        format!(
            "{}/v1/accounts/{name}/orders/O-1{}",
            d.url,
            if fresh { "?fresh=true" } else { "" }
        )
    };
    // Nothing known yet.
    let (s, v) = call("GET", &order_url(false), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["order"]["paid"], Value::Null);
    assert_eq!(v["order"]["totals"]["remaining"], Value::Null);

    // A refund through payops, one outside it.
    let (s, v) = call(
        "POST",
        &format!("{}/v1/accounts/{name}/operations/refund", d.url),
        Some(&json!({"order_ref": "O-1", "amount": 1500})),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    let refund_id = v["operation_id"].as_str().unwrap().to_owned();
    refund_outside_payops(&sim.url(), &merchant, "O-1", 2500).await;

    // A fresh look: the provider's query, recorded, read into the ledger.
    let (s, v) = call("GET", &order_url(true), None).await;
    assert_eq!(s, 200, "{v}");
    let o = &v["order"];
    assert_eq!(o["paid"]["amount"], 10000);
    assert_eq!(o["paid"]["currency"], "TRY");
    assert_eq!(o["paid"]["returns_listed"], "each_return");
    assert_eq!(o["totals"]["succeeded"], 1500 + 2500);
    assert_eq!(o["totals"]["pending"], 0);
    assert_eq!(o["totals"]["unknown"], 0);
    assert_eq!(o["totals"]["remaining"], 10000 - 1500 - 2500);
    let ext = o["external_returns"].as_array().unwrap();
    assert_eq!(ext.len(), 1, "{o:#}");
    assert_eq!(ext[0]["amount"], 2500);
    assert_eq!(ext[0]["kind"], "refund");
    assert_eq!(ext[0]["state"], "succeeded");
    let ops: Vec<&str> = o["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["operation"].as_str().unwrap())
        .collect();
    // The refund, the order guard's query before it, the fresh look's.
    assert_eq!(ops, ["refund", "query", "query"]);
    assert_eq!(o["operations"][0]["operation_id"], json!(refund_id));

    // The guard counts the external return: 60.00 remain, not a kuruş more.
    let refund = |amount: i64| {
        let url = format!("{}/v1/accounts/{name}/operations/refund", d.url);
        async move {
            call(
                "POST",
                &url,
                Some(&json!({"order_ref": "O-1", "amount": amount})),
            )
            .await
        }
    };
    let (s, v) = refund(6001).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["reason"], "conflict");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("remaining 6000"),
        "{v}"
    );

    // The CLI says the same.
    let (code, out, err) = run(
        &[
            "--config",
            &cfg_path,
            "orders",
            "show",
            "--account",
            &name,
            "O-1",
            "--output",
            "json",
        ],
        &dir,
    );
    assert_eq!(code, 0, "{err}");
    let cli: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(cli["totals"], o["totals"]);
    let (code, out, _) = run(
        &[
            "--config",
            &cfg_path,
            "orders",
            "show",
            "--account",
            &name,
            "O-1",
        ],
        &dir,
    );
    assert_eq!(code, 0);
    assert!(out.contains("paid:         100.00 TRY"), "{out}");
    assert!(out.contains("remaining:    60.00"), "{out}");
    assert!(out.contains("external"), "{out}");
    let (s, v) = refund(6000).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    let (s, v) = refund(1).await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("more than remains"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_order_view_sqlite() {
    let dir = temp_dir(&unique("orders-db"));
    order_view(&sqlite_url(&dir)).await;
}

#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_order_view_postgres() {
    match pg_url() {
        Some(url) => order_view(&url).await,
        None => eprintln!("SKIPPED: PostgreSQL (set PAYOPS_TEST_POSTGRES_URL)"),
    }
}

/// Money at risk, across daemons: an order paid 100.00, 60 concurrent
/// refunds of 5.00 split between `daemons` daemons sharing the store:
/// exactly 20 succeed, 40 are refused before sending, the provider
/// receives 20. Then on another order, with one 5.00 refund left
/// `unknown`, a refund that fits paid minus what is at risk is accepted,
/// one more is refused.
async fn money_at_risk(store: &str, daemons: usize) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = temp_dir(&unique("at-risk"));
    let name = unique("esnek");
    let merchant = unique("M");
    let mut e = payops_esnekpos::sim::EsnekSimulator::empty();
    e.seed(&json!({"merchants": [{"merchant": merchant, "merchant_key": KEY}],
                    "payments": [{"order_ref": "R-1", "amount": 10000, "date": "2020-01-01T10:00:00+03:00"},
                                 {"order_ref": "R-2", "amount": 10000, "date": "2020-01-01T10:00:00+03:00"}]}))
        .unwrap();
    let sim = payops_transport::SimServer::start(Box::new(e), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // A front that can hold the provider's answer (mode 2).
    let mode = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicUsize::new(0));
    let front = proxy(sim.url(), mode.clone(), seen.clone()).await;
    let mut acct = account(&front, &merchant);
    acct["timeout_ms"] = json!(1500);
    let cfg = TestConfig::new(&dir)
        .store(store)
        .token("ops", TOKEN, &["*"], &["*"])
        .account(&name, acct)
        .write(&dir.join("payops.toml"));
    let cfg_path = cfg.to_str().unwrap().to_owned();
    let started: Vec<Daemon> = (0..daemons)
        .map(|i| {
            Daemon::start(
                &format!("risk-{i}"),
                &["--config", &cfg_path, "serve", "--listen", "127.0.0.1:0"],
                &dir,
            )
        })
        .collect();
    let refunds = |order: &'static str, amount: i64, n: usize| {
        let urls: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    "{}/v1/accounts/{name}/operations/refund",
                    started[i % started.len()].url
                )
            })
            .collect();
        async move {
            let tasks: Vec<_> = urls
                .into_iter()
                .map(|url| {
                    tokio::spawn(async move {
                        call(
                            "POST",
                            &url,
                            Some(&json!({"order_ref": order, "amount": amount})),
                        )
                        .await
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        }
    };
    let answers = refunds("R-1", 500, 60).await;
    let ok = answers
        .iter()
        .filter(|(s, v)| *s == 200 && v["status"] == "succeeded")
        .count();
    let refused = answers
        .iter()
        .filter(|(s, v)| *s == 409 && v["error"]["reason"] == "conflict")
        .count();
    assert_eq!((ok, refused), (20, 40), "{answers:?}");
    let sent = ledger(&sim)
        .iter()
        .filter(|r| r["order_ref"] == "R-1" && r["endpoint"] == "OrderReturn")
        .count();
    assert_eq!(sent, 20, "the provider received 20");
    let (s, v) = call(
        "GET",
        &format!("{}/v1/accounts/{name}/orders/R-1", started[0].url),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["order"]["totals"]["succeeded"], 10000);
    assert_eq!(v["order"]["totals"]["remaining"], 0);

    // 88.00 returned, then 5.00 whose answer never comes: unknown.
    let one = |amount: i64| {
        let url = format!("{}/v1/accounts/{name}/operations/refund", started[0].url);
        async move {
            call(
                "POST",
                &url,
                Some(&json!({"order_ref": "R-2", "amount": amount})),
            )
            .await
        }
    };
    let (s, v) = one(8800).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    mode.store(2, Ordering::SeqCst);
    let (s, v) = one(500).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("unknown")), "{v}");
    mode.store(0, Ordering::SeqCst);
    let unknown_id = v["operation_id"].as_str().unwrap().to_owned();
    // A fresh look lists the provider's row of that refund (the provider
    // did it): it stays with the unknown operation, which counts it at
    // risk; it is not an external return, and the operation stays unknown
    // (never made failed by the import).
    let (s, view) = call(
        "GET",
        &format!(
            "{}/v1/accounts/{name}/orders/R-2?fresh=true",
            started[0].url
        ),
        None,
    )
    .await;
    assert_eq!(s, 200, "{view}");
    let o = &view["order"];
    assert_eq!(o["external_returns"], json!([]), "{o:#}");
    assert_eq!(o["totals"]["unknown"], 500);
    assert_eq!(o["totals"]["succeeded"], 8800);
    let state = o["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["operation_id"] == json!(unknown_id))
        .map(|x| x["state"].clone());
    assert_eq!(state, Some(json!("unknown")));
    // Remaining: 100.00 - 88.00 - 5.00 at risk = 7.00.
    let (s, v) = one(701).await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at risk 500"),
        "{v}"
    );

    // Both on one order: 3.00 refunded in the provider's panel beside the
    // unknown 5.00. A fresh look imports it as external (the provider's
    // reconciliation says it cannot be the 5.00's: another amount), while
    // the 5.00's own row stays with it.
    refund_outside_payops(&sim.url(), &merchant, "R-2", 300).await;
    let (s, view) = call(
        "GET",
        &format!(
            "{}/v1/accounts/{name}/orders/R-2?fresh=true",
            started[0].url
        ),
        None,
    )
    .await;
    assert_eq!(s, 200, "{view}");
    let o = &view["order"];
    let ext = o["external_returns"].as_array().unwrap();
    assert_eq!(ext.len(), 1, "{o:#}");
    assert_eq!(ext[0]["amount"], 300);
    assert_eq!(o["totals"]["succeeded"], 8800 + 300);
    assert_eq!(o["totals"]["unknown"], 500);
    assert_eq!(o["totals"]["remaining"], 400);
    // The over-refund the external return would allow is refused.
    let (s, v) = one(401).await;
    assert_eq!(s, 409, "{v}");
    // Reconciling the unknown 5.00: its row proves it succeeded (the
    // external row never stood as its absence).
    let (s, v) = call(
        "POST",
        &format!("{}/v1/operations/{unknown_id}/reconcile", started[0].url),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = call(
        "GET",
        &format!("{}/v1/operations/{unknown_id}", started[0].url),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["operation"]["state"], "succeeded", "{v:#}");
    let (s, v) = one(400).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    let (s, v) = one(1).await;
    assert_eq!(s, 409, "{v}");
    let sent = ledger(&sim)
        .iter()
        .filter(|r| r["order_ref"] == "R-2" && r["endpoint"] == "OrderReturn")
        .count();
    assert_eq!(
        sent, 4,
        "8.80, 5.00, 4.00 and the 3.00 made outside payops: refusals sent nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn money_at_risk_sqlite() {
    let dir = temp_dir(&unique("risk-db"));
    money_at_risk(&sqlite_url(&dir), 1).await;
}

#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn money_at_risk_two_daemons_postgres() {
    match pg_url() {
        Some(url) => money_at_risk(&url, 2).await,
        None => eprintln!("SKIPPED: PostgreSQL (set PAYOPS_TEST_POSTGRES_URL)"),
    }
}
