//! Money-safe outcomes, black-box: the real `payops` binary against a
//! scripted loopback EsnekPOS whose answers each test crafts. Every test
//! here failed on the build before the money-safe outcomes work.

mod common;

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use payops_core::chrono::{self, FixedOffset, Utc};
use payops_core::{HttpRequest, HttpTransport};
use serde_json::{Value, json};

const KEY: &str = "hostsecret-esnek-key-4242";

/// One scripted answer.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: String,
    delay: Duration,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        body: body.to_string(),
        delay: Duration::ZERO,
    }
}

/// Answers per endpoint (`OrderReturn`, `ProcessQuery`...): queued replies
/// first, then the last one again. Counts the requests it saw.
#[derive(Default)]
struct Script {
    replies: HashMap<String, VecDeque<Reply>>,
    last: HashMap<String, Reply>,
    seen: HashMap<String, usize>,
}

type Shared = Arc<Mutex<Script>>;

fn push(s: &Shared, endpoint: &str, r: Reply) {
    s.lock()
        .unwrap()
        .replies
        .entry(endpoint.into())
        .or_default()
        .push_back(r);
}

fn seen(s: &Shared, endpoint: &str) -> usize {
    s.lock().unwrap().seen.get(endpoint).copied().unwrap_or(0)
}

async fn scripted() -> (Shared, String) {
    use tokio::io::AsyncWriteExt;
    let script: Shared = Arc::default();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let s2 = script.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            let script = s2.clone();
            tokio::spawn(async move {
                while let Some((path, body)) = read_request(&mut sock).await {
                    let base = path.rsplit('/').next().unwrap_or("").to_owned();
                    let order = serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|v| v["ORDER_REF_NUMBER"].as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let r = {
                        let mut s = script.lock().unwrap();
                        *s.seen.entry(base.clone()).or_default() += 1;
                        // A reply scripted for this order first, then for the endpoint.
                        let keyed = format!("{base}:{order}");
                        let endpoint =
                            if s.replies.contains_key(&keyed) || s.last.contains_key(&keyed) {
                                keyed
                            } else {
                                base.clone()
                            };
                        let next = s.replies.get_mut(&endpoint).and_then(VecDeque::pop_front);
                        match next {
                            Some(r) => {
                                s.last.insert(endpoint.clone(), r.clone());
                                r
                            }
                            None => s.last.get(&endpoint).cloned().unwrap_or(Reply {
                                status: 404,
                                body: "{}".into(),
                                delay: Duration::ZERO,
                            }),
                        }
                    };
                    tokio::time::sleep(r.delay).await;
                    let head = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        r.status,
                        r.body.len()
                    );
                    if sock.write_all(head.as_bytes()).await.is_err()
                        || sock.write_all(r.body.as_bytes()).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (script, format!("http://{addr}"))
}

/// Tokens: `ops-token-1` may do everything (resolve, override); `clerk-1`
/// may refund but neither resolve nor go past the order guard.
fn config(dir: &Path, base_url: &str) -> String {
    let plugins = plugin_dir(dir);
    let text = format!(
        r#"
[plugins]
dirs = [{plugins:?}]
[server]
metrics_token_sha256 = "{metrics}"
[store]
url = "sqlite://{db}"
reconcile_interval_secs = 0
[[tokens]]
name = "ops"
token_sha256 = "{ops}"
accounts = ["*"]
operations = ["*"]
{powers}
[[tokens]]
name = "reader"
token_sha256 = "{reader}"
accounts = ["*"]
operations = ["query"]
[[tokens]]
name = "capped"
token_sha256 = "{capped}"
accounts = ["*"]
operations = ["*"]
max_amount_per_operation = 1000
max_amount_per_day = 1500
[[tokens]]
name = "clerk"
token_sha256 = "{clerk}"
accounts = ["*"]
operations = ["*"]
[[tokens]]
name = "refunder"
token_sha256 = "{refunder}"
accounts = ["esnek"]
operations = ["refund"]
# The scripts answer each request in turn: the order guard does not query
# the provider first (it would take the scripted answers).
[accounts.esnek]
provider = "esnekpos"
base_url = "{base_url}"
timeout_ms = 3000
merchant = "{merchant}"
merchant_key = "{KEY}"
order_query = false
[accounts.esnek-capped]
provider = "esnekpos"
base_url = "{base_url}"
timeout_ms = 3000
merchant = "{merchant}"
merchant_key = "{KEY}"
order_query = false
max_amount_per_operation = 2000
max_amount_per_day = 2500
"#,
        db = dir.join("ops.db").display(),
        ops = sha256_hex("ops-token-1"),
        clerk = sha256_hex("clerk-1"),
        reader = sha256_hex("reader-1"),
        metrics = sha256_hex("metrics-1"),
        capped = sha256_hex("capped-1"),
        refunder = sha256_hex("refunder-1"),
        merchant = unique("M"),
        // A build from before these token keys existed (PAYOPS_TEST_EXE)
        // would refuse them: leave them out to show its behaviour.
        powers = if std::env::var_os("PAYOPS_TEST_EXE").is_some() {
            ""
        } else {
            "resolve = true\noverride_open = true"
        },
    );
    let p = dir.join("money-safe.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

async fn daemon(name: &str) -> (Shared, Daemon, std::path::PathBuf, String) {
    let (script, url) = scripted().await;
    let dir = temp_dir(&unique(name));
    let cfg = config(&dir, &url);
    let (c, d, n) = (cfg.clone(), dir.clone(), name.to_owned());
    let daemon = tokio::task::spawn_blocking(move || {
        Daemon::start(
            &n,
            &["--config", &c, "serve", "--listen", "127.0.0.1:0"],
            &d,
        )
    })
    .await
    .unwrap();
    (script, daemon, dir, cfg)
}

async fn call(
    url: &str,
    token: &str,
    op: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, Value) {
    let t = payops_transport::ReqwestTransport::new().unwrap();
    let mut h = vec![
        ("Authorization".to_owned(), format!("Bearer {token}")),
        ("Content-Type".to_owned(), "application/json".to_owned()),
    ];
    h.extend(
        headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let r = HttpRequest {
        method: "POST".into(),
        url: format!("{url}/v1/accounts/esnek/operations/{op}"),
        headers: h,
        body: body.to_string().into_bytes(),
        timeout_ms: Some(30_000),
        safe: false,
    };
    let resp = t.send(r).await.unwrap();
    (
        resp.status,
        serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
    )
}

fn success(order: &str, tx: Option<i64>) -> Value {
    json!({"RETURN_CODE": "0", "RETURN_MESSAGE": "ok", "STATUS": "SUCCESS",
           "ORDER_REF_NUMBER": order, "REFNO": "R1", "TRANSACTION_ID": tx})
}

fn turkish(t: chrono::DateTime<Utc>) -> String {
    t.with_timezone(&FixedOffset::east_opt(3 * 3600).unwrap())
        .format("%d.%m.%Y %H:%M:%S")
        .to_string()
}

/// A ProcessQuery answer for `order` at provider time `now`, listing the
/// payment and `rows` (id, STATUS_ID, "AMOUNT", DATE text) in that order.
fn inquiry(order: &str, now: &str, rows: &[(i64, i64, &str, String)]) -> Value {
    let mut list = vec![
        json!({"TRANSACTION_ID": 1, "STATUS_NAME": "Payment - Successful", "STATUS_ID": 3,
        "AMOUNT": "100,00", "DATE": "01.01.2020 10:00:00"}),
    ];
    for (id, status, amount, date) in rows {
        list.push(json!({"TRANSACTION_ID": id, "STATUS_ID": status, "STATUS_NAME": "x", "AMOUNT": amount, "DATE": date}));
    }
    json!({"STATUS": "SUCCESS", "RETURN_CODE": "0", "RETURN_MESSAGE": "SUCCESS", "DATE": now,
           "PAYMENT_DATE": "01.01.2020 10:00:00", "REFNO": null, "AMOUNT": "100,00",
           "ORDER_REF_NUMBER": order, "INSTALLMENT": "1", "TRANSACTIONS": list})
}

fn reconcile(dir: &Path, cfg: &str) -> Vec<Value> {
    let (code, out, err) = run(
        &[
            "--config",
            cfg,
            "reconcile",
            "--min-age-secs",
            "0",
            "--output",
            "json",
        ],
        dir,
    );
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn to_of(list: &[Value], id: &Value) -> Value {
    list.iter()
        .find(|r| r["operation_id"] == *id)
        .map(|r| r["to"].clone())
        .unwrap_or_else(|| panic!("{id} not examined: {list:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_errors_and_foreign_answers_are_never_final() {
    let (script, d, _dir, _cfg) = daemon("classify").await;
    // 500 with a success body, 500 with a refusal body, a success about
    // another order, code 0 with STATUS ORDER_CANCEL.
    let cases = [
        (reply(500, success("C1", Some(5))), "C1"),
        (
            reply(
                500,
                json!({"RETURN_CODE": "101", "STATUS": "FIELD_ERROR", "ORDER_REF_NUMBER": "C2"}),
            ),
            "C2",
        ),
        (reply(200, success("SOMEONE-ELSE", Some(6))), "C3"),
        (
            reply(
                200,
                json!({"RETURN_CODE": "0", "STATUS": "ORDER_CANCEL", "ORDER_REF_NUMBER": "C4"}),
            ),
            "C4",
        ),
        (
            reply(200, json!({"RETURN_CODE": "0", "ORDER_REF_NUMBER": "C5"})),
            "C5",
        ),
        (
            reply(
                200,
                json!({"RETURN_CODE": "105", "STATUS": "INSERT_ERROR", "ORDER_REF_NUMBER": "C6"}),
            ),
            "C6",
        ),
    ];
    for (r, order) in cases {
        push(&script, "OrderReturn", r);
        let (s, v) = call(
            &d.url,
            "ops-token-1",
            "refund",
            &[],
            &json!({"order_ref": order, "amount": 500}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["status"], "unknown", "{order}: {v}");
        let reason = v["reason"].as_str().unwrap_or_default();
        assert!(
            ["provider_error", "order_mismatch", "unknown"].contains(&reason),
            "{order}: {v}"
        );
    }
    // The documented refusal on a 200 is a real failure.
    push(
        &script,
        "OrderReturn",
        reply(
            200,
            json!({"RETURN_CODE": "102", "STATUS": "AUTHENTICATION_ERROR", "ORDER_REF_NUMBER": "C7"}),
        ),
    );
    let (_, v) = call(
        &d.url,
        "ops-token-1",
        "refund",
        &[],
        &json!({"order_ref": "C7", "amount": 500}),
    )
    .await;
    assert_eq!(v["status"], "failed", "{v}");
    // The mismatch is recorded, the provider's code kept as received.
    push(
        &script,
        "OrderReturn",
        reply(200, success("OTHER", Some(7))),
    );
    let (_, v) = call(
        &d.url,
        "ops-token-1",
        "refund",
        &[],
        &json!({"order_ref": "C8", "amount": 500}),
    )
    .await;
    assert_eq!(
        v["details"]["order_ref_mismatch"]["answered"], "OTHER",
        "{v}"
    );
    assert_eq!(v["provider_code"], "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_key_given_twice_is_refused() {
    let (script, d, _dir, _cfg) = daemon("twokeys").await;
    push(&script, "OrderReturn", reply(200, success("K1", Some(5))));
    let (s, v) = call(
        &d.url,
        "ops-token-1",
        "refund",
        &[("Idempotency-Key", "a"), ("Idempotency-Key", "b")],
        &json!({"order_ref": "K1", "amount": 500}),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "invalid_request");
    assert_eq!(seen(&script, "OrderReturn"), 0, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn order_guard_and_operator_resolution() {
    let (script, d, _dir, _cfg) = daemon("guard").await;
    push(&script, "OrderReturn", reply(502, json!({"oops": 1})));
    let (_, first) = call(
        &d.url,
        "ops-token-1",
        "refund",
        &[],
        &json!({"order_ref": "G1", "amount": 500}),
    )
    .await;
    assert_eq!(first["status"], "unknown", "{first}");
    let first_id = first["operation_id"].as_str().unwrap().to_owned();
    // A new refund on the same order, with a new key: refused, naming it.
    push(&script, "OrderReturn", reply(200, success("G1", Some(9))));
    let (s, v) = call(
        &d.url,
        "clerk-1",
        "refund",
        &[("Idempotency-Key", "new")],
        &json!({"order_ref": "G1", "amount": 500}),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "operation_conflict");
    assert!(
        v["error"]["message"].as_str().unwrap().contains(&first_id),
        "{v}"
    );
    assert_eq!(
        seen(&script, "OrderReturn"),
        1,
        "the second refund was not sent"
    );
    // The clerk may not override; ops may, naming the open operation.
    let (s, _) = call(
        &d.url,
        "clerk-1",
        "refund",
        &[("X-Payops-Override-Open", &first_id)],
        &json!({"order_ref": "G1", "amount": 500}),
    )
    .await;
    assert_eq!(s, 403);
    let (s, v) = call(
        &d.url,
        "ops-token-1",
        "refund",
        &[("X-Payops-Override-Open", &first_id)],
        &json!({"order_ref": "G1", "amount": 500}),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    // Operators resolve what proof cannot; the clerk may not.
    let resolve = |token: &'static str, body: Value| {
        let url = format!("{}/v1/operations/{first_id}/resolve", d.url);
        async move { http("POST", &url, Some(token), Some(&body.to_string())).await }
    };
    let (s, _) = resolve("clerk-1", json!({"status": "failed", "evidence": "x"})).await;
    assert_eq!(s, 403);
    let (s, _) = resolve("ops-token-1", json!({"status": "failed", "evidence": ""})).await;
    assert_eq!(s, 422);
    let (s, v) = resolve(
        "ops-token-1",
        json!({"status": "failed", "evidence": "EsnekPOS panel: no return on G1"}),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("failed")), "{v}");
    let (s, _) = resolve(
        "ops-token-1",
        json!({"status": "succeeded", "evidence": "again"}),
    )
    .await;
    assert_eq!(s, 409, "a settled operation is not resolved again");
    let (_, op) = http(
        "GET",
        &format!("{}/v1/operations/{first_id}", d.url),
        Some("ops-token-1"),
        None,
    )
    .await;
    let resolved = op["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "resolved")
        .cloned()
        .unwrap();
    assert_eq!(resolved["actor"], "ops", "{op}");
    assert_eq!(op["operation"]["actor"], "ops", "{op}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_goes_away_does_not_strand_its_operation() {
    let (script, d, _dir, _cfg) = daemon("disconnect").await;
    let mut slow = reply(200, success("D1", Some(11)));
    slow.delay = Duration::from_millis(1500);
    push(&script, "OrderReturn", slow);
    let t = payops_transport::ReqwestTransport::new().unwrap();
    let r = HttpRequest {
        method: "POST".into(),
        url: format!("{}/v1/accounts/esnek/operations/refund", d.url),
        headers: vec![
            ("Authorization".into(), "Bearer ops-token-1".into()),
            ("Idempotency-Key".into(), "gone-1".into()),
            ("Content-Type".into(), "application/json".into()),
        ],
        body: json!({"order_ref": "D1", "amount": 500})
            .to_string()
            .into_bytes(),
        timeout_ms: Some(300),
        safe: false,
    };
    assert!(t.send(r).await.is_err(), "the client gave up");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The provider's answer was stored: the replay gets it, nothing is re-sent.
    let (s, v) = call(
        &d.url,
        "ops-token-1",
        "refund",
        &[("Idempotency-Key", "gone-1")],
        &json!({"order_ref": "D1", "amount": 500}),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    assert_eq!(seen(&script, "OrderReturn"), 1);
    let (_, m) = http(
        "GET",
        &format!("{}/metrics", d.url),
        Some("metrics-1"),
        None,
    )
    .await;
    assert!(
        m.as_str()
            .unwrap()
            .contains("payops_operations_in_flight 0"),
        "{m}"
    );
}

/// The reconciliation defects, each on its own order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconciliation_needs_proof() {
    let (script, d, dir, cfg) = daemon("proof").await;
    let refund_over = |order: &'static str, body: Value, r: Reply, over: Option<String>| {
        let (url, script) = (d.url.clone(), script.clone());
        async move {
            push(&script, "OrderReturn", r);
            let mut b = body;
            b["order_ref"] = json!(order);
            let headers: Vec<(&str, &str)> = over
                .as_deref()
                .map(|o| vec![("X-Payops-Override-Open", o)])
                .unwrap_or_default();
            let (_, v) = call(&url, "ops-token-1", "refund", &headers, &b).await;
            v
        }
    };
    let refund = |order: &'static str, body: Value, r: Reply| refund_over(order, body, r, None);
    let cut = || reply(502, json!({"html": true}));
    let now = Utc::now();
    let soon = turkish(now + chrono::Duration::seconds(2));

    // (a) A declined attempt, then a retry that timed out but succeeded.
    let declined = refund(
        "R-A",
        json!({"amount": 500}),
        reply(
            200,
            json!({"RETURN_CODE": "201", "STATUS": "PAYMENT_ERROR", "ORDER_REF_NUMBER": "R-A"}),
        ),
    )
    .await;
    assert_eq!(declined["status"], "failed");
    let retry_a = refund("R-A", json!({"amount": 500}), cut()).await;
    assert_eq!(retry_a["status"], "unknown");
    // (b) The provider's clock 5 minutes behind ours.
    let skewed = refund("R-B", json!({"amount": 500}), cut()).await;
    // (c) A date format the parser does not know.
    let odd_date = refund("R-C", json!({"amount": 500}), cut()).await;
    // (d) A queued refund (SYNC_WITH_POS=false) acknowledged, not listed yet.
    let queued = refund(
        "R-D",
        json!({"amount": 500, "sync_with_pos": false}),
        reply(200, success("R-D", None)),
    )
    .await;
    assert_eq!(queued["status"], "pending", "{queued}");
    // (e) Two refunds of one amount on one order: one pending without a
    // TRANSACTION_ID, one unknown; a single success row.
    let e1 = refund(
        "R-E",
        json!({"amount": 500, "sync_with_pos": false}),
        reply(200, success("R-E", None)),
    )
    .await;
    let e2 = refund_over(
        "R-E",
        json!({"amount": 500}),
        cut(),
        e1["operation_id"].as_str().map(str::to_owned),
    )
    .await;
    assert_eq!(e2["status"], "unknown", "{e2}");
    // (f) Nothing listed for a synchronous refund, the provider's clock well past it.
    let absent = refund("R-F", json!({"amount": 500}), cut()).await;

    let behind = turkish(now - chrono::Duration::minutes(5) + chrono::Duration::seconds(3));
    let queries = [
        // newest first, and the declined row of the first attempt
        inquiry(
            "R-A",
            &soon,
            &[(21, 7, "5,00", soon.clone()), (20, 8, "5,00", turkish(now))],
        ),
        inquiry(
            "R-B",
            &turkish(now - chrono::Duration::minutes(5) + chrono::Duration::seconds(5)),
            &[(30, 7, "5,00", behind)],
        ),
        inquiry("R-C", &soon, &[(40, 7, "5,00", "2020/09/24 17:08".into())]),
        inquiry("R-D", &turkish(now + chrono::Duration::minutes(30)), &[]),
        inquiry("R-E", &soon, &[(50, 7, "5,00", soon.clone())]),
        inquiry("R-F", &soon, &[]),
    ];
    for q in queries {
        let order = q["ORDER_REF_NUMBER"].as_str().unwrap().to_owned();
        push(&script, &format!("ProcessQuery:{order}"), reply(200, q));
    }
    // Time passing, not clock skew, is what makes absence evidence: let the
    // synchronous refund have started 10 minutes ago.
    backdate(
        &sqlite_url(&dir),
        absent["operation_id"].as_str().unwrap(),
        10,
    )
    .await;
    let (c, dd) = (cfg.clone(), dir.clone());
    let list = tokio::task::spawn_blocking(move || reconcile(&dd, &c))
        .await
        .unwrap();
    assert_eq!(
        to_of(&list, &retry_a["operation_id"]),
        json!("succeeded"),
        "(a) {list:?}"
    );
    assert_eq!(
        to_of(&list, &skewed["operation_id"]),
        json!("succeeded"),
        "(b) {list:?}"
    );
    assert_eq!(
        to_of(&list, &odd_date["operation_id"]),
        Value::Null,
        "(c) never failed: {list:?}"
    );
    assert_eq!(
        to_of(&list, &queued["operation_id"]),
        Value::Null,
        "(d) pending stays pending: {list:?}"
    );
    assert_eq!(
        to_of(&list, &e1["operation_id"]),
        Value::Null,
        "(e) ambiguous: {list:?}"
    );
    assert_eq!(
        to_of(&list, &e2["operation_id"]),
        Value::Null,
        "(e) ambiguous: {list:?}"
    );
    assert_eq!(
        to_of(&list, &absent["operation_id"]),
        json!("failed"),
        "(f) {list:?}"
    );
    // The ambiguous ones are listed for an operator with their candidates.
    let (code, out, _) = run(
        &[
            "--config",
            &cfg,
            "operations",
            "list",
            "--status",
            "unknown",
            "--output",
            "json",
        ],
        &dir,
    );
    assert_eq!(code, 0);
    let ops: Vec<Value> = serde_json::from_str(&out).unwrap();
    let e2_row = ops.iter().find(|o| o["id"] == e2["operation_id"]).unwrap();
    assert!(
        e2_row["resolution"]
            .as_str()
            .unwrap()
            .contains("undetermined"),
        "{e2_row}"
    );
    assert!(
        e2_row["resolution"].as_str().unwrap().contains("50"),
        "{e2_row}"
    );
}

/// HTTP conventions: a wrong method gets a JSON error, a body that is not
/// declared JSON is refused, a replay is marked, a token reads only what it
/// may run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_conventions() {
    let (script, d, dir, cfg) = daemon("http").await;
    push(&script, "OrderReturn", reply(200, success("H1", Some(3))));
    let t = payops_transport::ReqwestTransport::new().unwrap();
    let send = |method: &str, content_type: &str, key: Option<&str>| {
        let mut headers = vec![
            ("Authorization".to_owned(), "Bearer ops-token-1".to_owned()),
            ("Content-Type".to_owned(), content_type.to_owned()),
        ];
        if let Some(k) = key {
            headers.push(("Idempotency-Key".to_owned(), k.to_owned()));
        }
        HttpRequest {
            method: method.into(),
            url: format!("{}/v1/accounts/esnek/operations/refund", d.url),
            headers,
            body: json!({"order_ref": "H1", "amount": 500})
                .to_string()
                .into_bytes(),
            timeout_ms: Some(10_000),
            safe: false,
        }
    };
    let r = t.send(send("GET", "application/json", None)).await.unwrap();
    assert_eq!(r.status, 405);
    let body: Value = serde_json::from_slice(&r.body).expect("a JSON error body");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("GET"),
        "{body}"
    );
    let r = t.send(send("POST", "text/plain", None)).await.unwrap();
    assert_eq!(r.status, 415);
    assert_eq!(seen(&script, "OrderReturn"), 0, "nothing sent");
    let first = t
        .send(send("POST", "application/json; charset=utf-8", Some("h-1")))
        .await
        .unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = t
        .send(send("POST", "application/json", Some("h-1")))
        .await
        .unwrap();
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(seen(&script, "OrderReturn"), 1);
    // A query-only token cannot read a refund's envelope.
    let v: Value = serde_json::from_slice(&first.body).unwrap();
    let url = format!(
        "{}/v1/operations/{}",
        d.url,
        v["operation_id"].as_str().unwrap()
    );
    let (s, _) = http("GET", &url, Some("reader-1"), None).await;
    assert_eq!(s, 403);
    let (s, op) = http("GET", &url, Some("ops-token-1"), None).await;
    assert_eq!(s, 200);
    // Every date is written at +03:00, the audit events' too (they were
    // written in UTC).
    let events = op["events"].as_array().unwrap();
    assert!(!events.is_empty(), "{op}");
    for t in [
        &op["operation"]["created_at"],
        &op["operation"]["updated_at"],
        &op["operation"]["envelope"]["started_at"],
    ]
    .into_iter()
    .chain(events.iter().map(|e| &e["at"]))
    {
        assert!(t.as_str().unwrap().ends_with("+03:00"), "{op}");
    }
    // /metrics names accounts: with metrics_token_sha256 it needs the token.
    let (s, _) = http("GET", &format!("{}/metrics", d.url), None, None).await;
    assert_eq!(s, 401);
    let (s, _) = http(
        "GET",
        &format!("{}/metrics", d.url),
        Some("ops-token-1"),
        None,
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = http(
        "GET",
        &format!("{}/metrics", d.url),
        Some("metrics-1"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    // reconcile takes store.reconcile_min_age_secs (60) unless told: a
    // fresh unknown operation is not examined yet.
    push(&script, "OrderReturn", reply(502, json!({})));
    let (_, v) = call(
        &d.url,
        "ops-token-1",
        "refund",
        &[],
        &json!({"order_ref": "H2", "amount": 500}),
    )
    .await;
    assert_eq!(v["status"], "unknown");
    let (c, dd) = (cfg.clone(), dir.clone());
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run(&["--config", &c, "reconcile", "--output", "json"], &dd)
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "[]", "nothing old enough: {out}");
    // It says so, and how many it left (it said "nothing to reconcile").
    assert!(
        err.contains("1 unresolved operation(s) younger than 60 s left for later"),
        "{err}"
    );
    let (c, dd) = (cfg.clone(), dir.clone());
    let (code, out, err) =
        tokio::task::spawn_blocking(move || run(&["--config", &c, "reconcile"], &dd))
            .await
            .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("nothing to reconcile"), "{out}");
    assert!(
        out.contains("1 unresolved operation(s) younger than 60 s left for later")
            && out.contains("--min-age-secs 0"),
        "{out}"
    );
}

/// Amount limits of tokens and accounts, refused before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn amount_limits_per_operation_and_per_day() {
    let (script, d, _dir, _cfg) = daemon("limits").await;
    for i in 0..10 {
        let order = format!("L{i}");
        push(
            &script,
            &format!("OrderReturn:{order}"),
            reply(200, success(&order, Some(100 + i))),
        );
    }
    let post = |token: &'static str, account: &'static str, body: Value| {
        let url = format!(
            "{}/v1/accounts/{account}/operations/{}",
            d.url,
            if body.get("amount").is_some() {
                "refund"
            } else {
                "cancel"
            }
        );
        async move { http("POST", &url, Some(token), Some(&body.to_string())).await }
    };
    // The token: 1000 per operation, 1500 per day.
    let (s, v) = post(
        "capped-1",
        "esnek",
        json!({"order_ref": "L0", "amount": 1001}),
    )
    .await;
    assert_eq!(s, 403, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("per operation"),
        "{v}"
    );
    let (s, v) = post(
        "capped-1",
        "esnek",
        json!({"order_ref": "L0", "amount": 800}),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    let (s, v) = post(
        "capped-1",
        "esnek",
        json!({"order_ref": "L1", "amount": 800}),
    )
    .await;
    assert_eq!(s, 403, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("per day"),
        "{v}"
    );
    // A whole cancel cannot be checked before it is sent: refused.
    let (s, v) = post("capped-1", "esnek", json!({"order_ref": "L2"})).await;
    assert_eq!(s, 403, "{v}");
    // The account: 2000 per operation, 2500 per day, whoever asks.
    let (s, _) = post(
        "ops-token-1",
        "esnek-capped",
        json!({"order_ref": "L3", "amount": 2001}),
    )
    .await;
    assert_eq!(s, 403);
    let (s, v) = post(
        "ops-token-1",
        "esnek-capped",
        json!({"order_ref": "L3", "amount": 1500}),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    let (s, v) = post(
        "ops-token-1",
        "esnek-capped",
        json!({"order_ref": "L4", "amount": 1500}),
    )
    .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(
        seen(&script, "OrderReturn"),
        2,
        "only the two allowed refunds were sent"
    );
}

/// `GET /v1/operations` pages newest first with a cursor, filters by
/// account, status and time, and shows a token only the operations of the
/// accounts and operation kinds it may use; `POST .../reconcile` needs a
/// token that may read the operation and run `query`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operations_are_listed_by_page_within_the_token_scope() {
    let (script, d, _dir, _cfg) = daemon("listing").await;
    let mut refunds = Vec::new();
    for i in 0..5 {
        let order = format!("L{i}");
        push(
            &script,
            "OrderReturn",
            reply(200, success(&order, Some(100 + i))),
        );
        let (s, v) = call(
            &d.url,
            "ops-token-1",
            "refund",
            &[],
            &json!({"order_ref": order, "amount": 500}),
        )
        .await;
        assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
        refunds.push(v["operation_id"].as_str().unwrap().to_owned());
    }
    // An unknown one (5xx) and a query.
    push(&script, "OrderReturn", reply(503, json!({})));
    let (_, v) = call(
        &d.url,
        "ops-token-1",
        "refund",
        &[],
        &json!({"order_ref": "L9", "amount": 500}),
    )
    .await;
    assert_eq!(v["status"], "unknown", "{v}");
    let unknown = v["operation_id"].as_str().unwrap().to_owned();
    push(
        &script,
        "ProcessQuery",
        reply(200, inquiry("L0", &turkish(Utc::now()), &[])),
    );
    let (_, v) = call(
        &d.url,
        "reader-1",
        "query",
        &[],
        &json!({"order_ref": "L0"}),
    )
    .await;
    assert_eq!(v["status"], "succeeded", "{v}");
    let query = v["operation_id"].as_str().unwrap().to_owned();

    let list = |token: &'static str, q: String| {
        let url = format!("{}/v1/operations?{q}", d.url);
        async move { http("GET", &url, Some(token), None).await }
    };
    let ids = |v: &Value| -> Vec<String> {
        v["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // Pages of 2, newest first, each operation once.
    let mut walked = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let (s, v) = list("ops-token-1", format!("limit=2&cursor={cursor}")).await;
        assert_eq!(s, 200, "{v}");
        walked.extend(ids(&v));
        pages += 1;
        match v["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
        assert!(pages < 10, "the cursor does not advance");
    }
    let mut want: Vec<String> = refunds.iter().rev().cloned().collect();
    want.insert(0, unknown.clone());
    want.insert(0, query.clone());
    assert_eq!(walked, want, "every operation once, newest first");
    assert_eq!(pages, 4, "3 full pages of 2, then one of 1");

    // Filters.
    let (_, v) = list("ops-token-1", "status=unknown,pending".into()).await;
    assert_eq!(ids(&v), vec![unknown.clone()]);
    let (_, v) = list(
        "ops-token-1",
        "status=succeeded&account=esnek&limit=500".into(),
    )
    .await;
    assert_eq!(ids(&v).len(), 6, "5 refunds and the query: {v}");
    let (_, v) = list("ops-token-1", "account=esnek-capped".into()).await;
    assert_eq!(ids(&v), Vec::<String>::new());
    let (_, v) = list("ops-token-1", "until=2000-01-01T00:00:00Z".into()).await;
    assert_eq!(ids(&v), Vec::<String>::new());
    let (_, v) = list("ops-token-1", "since=2000-01-01T00:00:00%2B03:00".into()).await;
    assert_eq!(ids(&v).len(), 7, "{v}");
    // One order; one operation by id; a search by order reference.
    let (_, v) = list("ops-token-1", "order_ref=L9".into()).await;
    assert_eq!(ids(&v), vec![unknown.clone()]);
    let (_, v) = list("ops-token-1", "order_ref=L".into()).await;
    assert_eq!(
        ids(&v),
        Vec::<String>::new(),
        "an order reference matches whole"
    );
    let (_, v) = list("ops-token-1", format!("q={unknown}")).await;
    assert_eq!(ids(&v), vec![unknown.clone()]);
    let (_, v) = list("ops-token-1", "q=L0".into()).await;
    assert_eq!(
        ids(&v),
        vec![query.clone(), refunds[0].clone()],
        "the order's query and refund"
    );
    let (s, v) = list("ops-token-1", "search=L0".into()).await;
    assert_eq!(s, 422, "an unknown parameter is named: {v}");
    // Amounts in minor units: the refunds are 500 each; the query has none.
    let (_, v) = list("ops-token-1", "min_amount=500&max_amount=500".into()).await;
    assert_eq!(ids(&v).len(), 6, "5 refunds and the unknown one: {v}");
    let (_, v) = list("ops-token-1", "min_amount=501".into()).await;
    assert_eq!(ids(&v), Vec::<String>::new());
    let (_, v) = list("ops-token-1", "min_amount=500&limit=2".into()).await;
    assert_eq!(ids(&v), vec![unknown.clone(), refunds[4].clone()], "{v}");
    assert!(v["next_cursor"].is_string(), "{v}");
    let (s, v) = list("ops-token-1", "min_amount=9&max_amount=1".into()).await;
    assert_eq!(
        (s, ids(&v)),
        (200, Vec::<String>::new()),
        "an empty range: {v}"
    );
    let (s, v) = list("ops-token-1", "utc_offset=Z".into()).await;
    assert_eq!(s, 422, "the list does not take utc_offset: {v}");

    // The export: a header, one row per operation, amounts in minor and
    // major units; under the same filters.
    let (s, v) = http(
        "GET",
        &format!("{}/v1/operations.csv?min_amount=1", d.url),
        Some("ops-token-1"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let csv = v.as_str().unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(
        lines[0].starts_with("created_at,operation_id,account,"),
        "{csv}"
    );
    assert_eq!(lines.len(), 7, "a header and 6 rows: {csv}");
    assert!(
        lines[1].contains(&unknown) && lines[1].contains(",unknown,500,5.00,"),
        "{csv}"
    );
    assert!(
        lines[1].contains("+03:00,"),
        "times at +03:00 by default: {csv}"
    );
    let (s, v) = http(
        "GET",
        &format!("{}/v1/operations.csv?limit=5", d.url),
        Some("ops-token-1"),
        None,
    )
    .await;
    assert_eq!(s, 422, "{v}");
    // Totals: by account, day, operation, status and currency.
    let (s, v) = http(
        "GET",
        &format!("{}/v1/totals?utc_offset=Z&account=esnek", d.url),
        Some("ops-token-1"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["operations"], 7, "{v}");
    let find = |op: &str, status: &str| {
        v["totals"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["operation"] == op && t["status"] == status)
            .map(|t| (t["count"].as_u64().unwrap(), t["amount"].as_i64().unwrap()))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    };
    assert_eq!(find("refund", "succeeded"), (5, 2500), "{v}");
    assert_eq!(find("refund", "unknown"), (1, 500), "{v}");
    assert_eq!(find("query", "succeeded"), (1, 0), "{v}");
    let (_, v) = http(
        "GET",
        &format!("{}/v1/totals?utc_offset=%2B25:00", d.url),
        Some("ops-token-1"),
        None,
    )
    .await;
    assert_eq!(v["error"]["details"][0]["path"], "utc_offset", "{v}");

    // Scope: a query-only token sees only queries; a refund-only token no query.
    let (_, v) = list("reader-1", String::new()).await;
    assert_eq!(ids(&v), vec![query.clone()]);
    let (_, v) = list("refunder-1", "limit=500".into()).await;
    assert_eq!(ids(&v).len(), 6);
    assert!(!ids(&v).contains(&query));

    // Bad input: the contract's error, naming the parameter.
    for (q, field) in [
        ("status=done", "status"),
        ("cursor=zz", "cursor"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("since=yesterday", "since"),
        ("colour=red", "?"),
    ] {
        let (s, v) = list("ops-token-1", q.into()).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (422, Some("invalid_request")),
            "{q}: {v}"
        );
        assert_eq!(v["error"]["details"][0]["path"], field, "{q}: {v}");
    }
    // One vocabulary with the envelope: every listed operation carries
    // operation_id and status (id and state stay, deprecated, a release).
    let (_, v) = list("ops-token-1", String::new()).await;
    for o in v["operations"].as_array().unwrap() {
        assert_eq!(o["operation_id"], o["id"], "{o}");
        assert_eq!(o["status"], o["state"], "{o}");
    }
    // An unknown parameter is named in words (it was the deserializer's
    // "Failed to deserialize query string"); an account that does not
    // exist is a 404 (it was 200 with an empty page).
    let (_, v) = list("ops-token-1", "colour=red".into()).await;
    let said = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        said.contains("unknown parameter `colour`") && !said.contains("Failed to deserialize"),
        "{v}"
    );
    for route in ["operations", "refusals"] {
        let (s, v) = http(
            "GET",
            &format!("{}/v1/{route}?account=nope", d.url),
            Some("ops-token-1"),
            None,
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{route}: {v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().contains("\"nope\""),
            "{v}"
        );
    }
    let (s, _) = http("GET", &format!("{}/v1/operations", d.url), None, None).await;
    assert_eq!(s, 401);

    // Reconcile from the API: the refund-only token may not (no query), the
    // reader may not read a refund, ops may; nothing is re-sent.
    let reconcile = |token: &'static str, id: String| {
        let url = format!("{}/v1/operations/{id}/reconcile", d.url);
        async move { http("POST", &url, Some(token), None).await }
    };
    let sent = seen(&script, "OrderReturn");
    let (s, v) = reconcile("refunder-1", unknown.clone()).await;
    assert_eq!(s, 403, "{v}");
    let (s, _) = reconcile("reader-1", unknown.clone()).await;
    assert_eq!(s, 403);
    let (s, v) = reconcile("ops-token-1", unknown.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["from"], "unknown", "{v}");
    assert_eq!(v["operation"]["id"], unknown.as_str(), "{v}");
    assert!(v["how"].as_str().is_some_and(|h| !h.is_empty()), "{v}");
    // The inquiry the script answers is about another order: no proof.
    assert_eq!(v["to"], Value::Null, "{v}");
    assert_eq!(v["operation"]["state"], "unknown", "{v}");
    // Now EsnekPOS lists a refund of its amount after it started: proof.
    let soon = turkish(Utc::now() + chrono::Duration::seconds(2));
    push(
        &script,
        "ProcessQuery:L9",
        reply(200, inquiry("L9", &soon, &[(91, 7, "5,00", soon.clone())])),
    );
    let (s, v) = reconcile("ops-token-1", unknown.clone()).await;
    assert_eq!((s, v["to"].as_str()), (200, Some("succeeded")), "{v}");
    assert_eq!(v["operation"]["state"], "succeeded", "{v}");
    assert_eq!(
        seen(&script, "OrderReturn"),
        sent,
        "reconcile never re-sends"
    );
    let (s, v) = reconcile("ops-token-1", refunds[0].clone()).await;
    assert_eq!(
        (s, v["to"].clone()),
        (200, Value::Null),
        "a settled operation stays: {v}"
    );
    let (s, _) = reconcile("ops-token-1", "op_nope".into()).await;
    assert_eq!(s, 404);
}

/// A provider that echoes pieces of the merchant key mid-text (12
/// characters at its start, middle and end): no piece of 8 characters or
/// more reaches the API's answer, the stored operation or `operations
/// list`. (Before: only the whole key was blanked, so the pieces were
/// returned and stored as sent.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pieces_of_a_credential_in_a_providers_text_are_blanked_everywhere() {
    let (script, d, dir, cfg) = daemon("pieces").await;
    let (start, middle, end) = (&KEY[..12], &KEY[6..18], &KEY[KEY.len() - 12..]);
    let mut answer = success("K1", Some(77));
    answer["RETURN_MESSAGE"] = json!(format!("ok ({start}) echo={middle}; tail {end}"));
    answer["EXTRA"] = json!({"note": format!("{middle}/{end}")});
    push(&script, "OrderReturn", reply(200, answer));
    let (s, v) = call(
        &d.url,
        "ops-token-1",
        "refund",
        &[],
        &json!({"order_ref": "K1", "amount": 500}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let id = v["operation_id"].as_str().unwrap().to_owned();
    let (_, stored) = http(
        "GET",
        &format!("{}/v1/operations/{id}", d.url),
        Some("ops-token-1"),
        None,
    )
    .await;
    let (c, dd) = (cfg.clone(), dir.clone());
    let (code, listed, err) = tokio::task::spawn_blocking(move || {
        run(
            &["--config", &c, "operations", "list", "--output", "json"],
            &dd,
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let (c, dd) = (cfg.clone(), dir.clone());
    let (code, csv, err) = tokio::task::spawn_blocking(move || {
        run(
            &["--config", &c, "operations", "list", "--output", "csv"],
            &dd,
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(csv.starts_with("created_at,operation_id,"), "{csv}");
    assert!(csv.contains(&format!(",{id},")), "{csv}");
    for (what, text) in [
        ("answer", v.to_string()),
        ("stored", stored.to_string()),
        ("operations list", listed),
        ("operations list --output csv", csv),
    ] {
        for w in KEY.as_bytes().windows(8) {
            let w = std::str::from_utf8(w).unwrap();
            assert!(!text.contains(w), "{what} holds {w:?}: {text}");
        }
        assert!(text.contains("[REDACTED]"), "{what}: {text}");
    }
    // The proof is untouched: the transaction id and amount.
    assert_eq!(v["status"], "succeeded", "{v}");
}
