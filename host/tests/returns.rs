//! `return` through the real binary, against providers' simulators on
//! loopback whose clock is the wall clock: a payment of today and one of
//! an earlier day, the provider's rule choosing cancel or refund; a
//! partial return of today refused with when it becomes possible; the
//! documented decline that falls back (NestPay `CORE-2508` → void); an
//! attempt whose answer is lost (`unknown`) never followed by the other
//! operation; the order's ledger counting a return as what it became.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use payops_core::Simulator;
use serde_json::{Value, json};

const TOKEN: &str = "returns-token-0123456789";
const NP_PASS: &str = "Rt5Wq8Zk2Xv7Nm3P";
const TP_PASS: &str = "Tp8Kq2Wm9Z";
const TP_GUID: &str = "11111111-2222-3333-4444-555555555555";
const G1: &str = "aaaaaaaa-0000-0000-0000-000000000001";
const G2: &str = "aaaaaaaa-0000-0000-0000-000000000002";

fn today() -> String {
    payops_conformance::turkey_now().to_rfc3339()
}

fn days_ago(n: i64) -> String {
    (payops_conformance::turkey_now() - chrono::Duration::days(n)).to_rfc3339()
}

fn daemon(name: &str, dir: &Path, cfg: TestConfig) -> Daemon {
    let path = cfg
        .token_with("ops", TOKEN, &["*"], &["*"], |_| {})
        .write(&dir.join("payops.toml"));
    Daemon::serve(name, &path, dir)
}

async fn ret(d: &Daemon, account: &str, doc: Value) -> (u16, Value) {
    http(
        "POST",
        &format!("{}/v1/accounts/{account}/operations/return", d.url),
        Some(TOKEN),
        Some(&doc.to_string()),
    )
    .await
}

/// The operations of `details.attempts`, with their statuses.
fn attempts(v: &Value) -> Vec<(String, String)> {
    v["details"]["attempts"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|a| {
            (
                a["operation"].as_str().unwrap_or_default().to_owned(),
                a["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// NestPay's `Type`s the simulator saw for `order`, in order (the history
/// reads are left out).
fn nestpay_types(srv: &payops_transport::SimServer, order: &str) -> Vec<String> {
    srv.with_sim(|s| s.state())["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["order_ref"] == order && e["history"] != true)
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A front for a provider that forwards everything and never answers a
/// request whose body contains `hold` (the provider acts, payops never
/// hears): the answer is lost.
async fn losing_front(target: String, hold: &'static str) -> String {
    use tokio::io::AsyncWriteExt;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                let Some((path, body)) = read_request(&mut s).await else {
                    return;
                };
                use payops_core::HttpTransport;
                let t = payops_transport::ReqwestTransport::new().unwrap();
                let resp = t
                    .send(payops_core::HttpRequest::post(
                        format!("{target}{path}"),
                        "application/xml",
                        body.clone(),
                    ))
                    .await
                    .unwrap();
                if String::from_utf8_lossy(&body).contains(hold) {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                let head = format!(
                    "HTTP/1.1 {} OK\r\nContent-Type: text/xml;charset=ISO-8859-9\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    resp.status,
                    resp.body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&resp.body).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nestpay_returns_void_today_refund_later_and_fall_back_only_on_proof() {
    let dir = temp_dir(&unique("ret-nestpay"));
    let mut sim = payops_nestpay::sim::NestPaySim::demo();
    sim.seed(&json!({
        "merchants": [{"client_id": "700100", "name": "API", "password": NP_PASS}],
        "orders": [
            {"order_ref": "N-TODAY", "amount": 5000, "date": today()},
            {"order_ref": "N-TODAY-2", "amount": 5000, "date": today()},
            {"order_ref": "N-OLD", "amount": 5000, "date": days_ago(3)},
            {"order_ref": "N-OPEN", "amount": 5000, "date": days_ago(1), "settled": false},
            {"order_ref": "N-LOST", "amount": 5000, "date": days_ago(1), "settled": false}
        ]
    }))
    .unwrap();
    let srv = payops_transport::SimServer::start(Box::new(sim), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let front = losing_front(format!("{}/fim/api", srv.url()), "<Type>Credit</Type>").await;
    let account = |url: &str| {
        json!({"provider": "nestpay", "base_url": url, "timeout_ms": 2000,
               "client_id": "700100", "name": "API", "password": NP_PASS})
    };
    let d = daemon(
        "nestpay",
        &dir,
        TestConfig::new(&dir)
            .store(&sqlite_url(&dir))
            .account("np", account(&format!("{}/fim/api", srv.url())))
            .account("np-lossy", account(&front)),
    );

    // Today's payment, whole, nothing returned before: a void.
    let (s, v) = ret(&d, "np", json!({"order_ref": "N-TODAY"})).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    assert_eq!(v["details"]["became"], "cancel", "{v}");
    assert_eq!(attempts(&v), [("cancel".into(), "succeeded".into())]);
    assert_eq!(nestpay_types(&srv, "N-TODAY"), ["Void"]);
    // The ledger counts it as the whole payment returned.
    let (s, l) = http(
        "GET",
        &format!("{}/v1/accounts/np/orders/N-TODAY", d.url),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(l["order"]["totals"]["succeeded"], 5000, "{l}");
    assert_eq!(l["order"]["totals"]["remaining"], 0, "{l}");

    // Today's payment, partly: not before the bank's end of day; nothing
    // sent but the history read.
    let (s, v) = ret(&d, "np", json!({"order_ref": "N-TODAY-2", "amount": 1000})).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["reason"], "not_allowed_today", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("end of day"),
        "{v}"
    );
    assert!(nestpay_types(&srv, "N-TODAY-2").is_empty());

    // An earlier day's payment: a refund, of what is asked.
    let (s, v) = ret(&d, "np", json!({"order_ref": "N-OLD", "amount": 1200})).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    assert_eq!(v["details"]["became"], "refund", "{v}");
    assert_eq!(nestpay_types(&srv, "N-OLD"), ["Credit"]);

    // Yesterday by the account's clock, but the bank has not closed that
    // day: the refund is declined CORE-2508 in its own answer, so the
    // whole return becomes a void under the same operation.
    let (s, v) = ret(&d, "np", json!({"order_ref": "N-OPEN"})).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    assert_eq!(v["details"]["became"], "cancel", "{v}");
    assert_eq!(
        attempts(&v),
        [
            ("refund".into(), "failed".into()),
            ("cancel".into(), "succeeded".into())
        ]
    );
    assert_eq!(v["details"]["attempts"][0]["provider_code"], "CORE-2508");
    assert_eq!(nestpay_types(&srv, "N-OPEN"), ["Credit", "Void"]);

    // The same, but the refund's answer is lost: unknown, and no void
    // follows (a fallback needs the decline in the attempt's own answer).
    let (s, v) = ret(&d, "np-lossy", json!({"order_ref": "N-LOST"})).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("unknown")), "{v}");
    assert_eq!(attempts(&v), [("refund".into(), "unknown".into())]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        nestpay_types(&srv, "N-LOST"),
        ["Credit"],
        "no void after unknown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn turkpos_returns_iptal_today_and_iade_later() {
    let dir = temp_dir(&unique("ret-turkpos"));
    let mut sim = payops_turkpos::sim::TurkPosSimulator::empty();
    sim.seed(&json!({
        "clients": [{"client_code": "555", "client_username": "u", "client_password": TP_PASS, "guid": TP_GUID}],
        "orders": [
            {"order_ref": "T-TODAY", "marketplace_order_guid": G1, "amount": 5000, "seller_payout_amount": 4000, "date": today()},
            {"order_ref": "T-OLD", "marketplace_order_guid": G2, "amount": 5000, "seller_payout_amount": 4000, "date": days_ago(2)},
            {"order_ref": "S-TODAY", "amount": 5000, "date": today()}
        ]
    }))
    .unwrap();
    let srv = payops_transport::SimServer::start(Box::new(sim), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let d = daemon(
        "turkpos",
        &dir,
        TestConfig::new(&dir).store(&sqlite_url(&dir)).account(
            "tp",
            json!({"provider": "turkpos", "environment": "test", "base_url": srv.url(), "timeout_ms": 5000,
                   "client_code": "555", "client_username": "u", "client_password": TP_PASS, "guid": TP_GUID}),
        ),
    );
    let durum = |order: &str| -> Vec<String> {
        srv.with_sim(|s| s.state())["ledger"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["order_ref"] == order)
            .map(|e| e["durum"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let (s, v) = ret(
        &d,
        "tp",
        json!({"order_ref": "T-TODAY", "marketplace_order_guid": G1, "amount": 1000, "seller_payout_amount": 3000}),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    assert_eq!(v["details"]["became"], "cancel", "{v}");
    assert_eq!(durum("T-TODAY"), ["IPTAL"]);
    let (s, v) = ret(
        &d,
        "tp",
        json!({"order_ref": "T-OLD", "marketplace_order_guid": G2, "amount": 1000, "seller_payout_amount": 3000}),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    assert_eq!(v["details"]["became"], "refund", "{v}");
    assert_eq!(durum("T-OLD"), ["IADE"]);
    // A standard order's partial return on its day: not before midnight.
    let (s, v) = ret(
        &d,
        "tp",
        json!({"order_ref": "S-TODAY", "order_type": "standard", "amount": 1000}),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["reason"], "not_allowed_today", "{v}");
    assert!(durum("S-TODAY").is_empty());
}

/// A return whose read of the payment gets an unreadable answer (HTTP 500,
/// HTML) has moved nothing: a 503 refusal with reason `provider_error`, no
/// operation, not a 422 blaming the caller's document (before).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreadable_payment_read_is_a_503_refusal() {
    use tokio::io::AsyncWriteExt;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/fim/api", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                if read_request(&mut s).await.is_some() {
                    let body = "<html>Service Unavailable</html>";
                    let head = format!(
                        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(head.as_bytes()).await;
                    let _ = s.write_all(body.as_bytes()).await;
                }
            });
        }
    });
    let dir = temp_dir(&unique("ret-unreadable"));
    let d = daemon(
        "unreadable",
        &dir,
        TestConfig::new(&dir).store(&sqlite_url(&dir)).account(
            "np",
            json!({"provider": "nestpay", "base_url": url, "timeout_ms": 2000, "order_query": false,
                   "client_id": "700100", "name": "API", "password": NP_PASS}),
        ),
    );
    let (s, v) = ret(&d, "np", json!({"order_ref": "N-ANY"})).await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["error"]["code"], "unavailable", "{v}");
    assert_eq!(v["error"]["reason"], "provider_error", "{v}");
    let (_, list) = http(
        "GET",
        &format!("{}/v1/operations?account=np", d.url),
        Some(TOKEN),
        None,
    )
    .await;
    assert!(
        list["operations"].as_array().is_none_or(Vec::is_empty),
        "no operation: {list}"
    );
}
