//! Four eyes through the real binary, on SQLite and on PostgreSQL: a
//! request above a threshold waits (`awaiting_approval`, nothing sent, its
//! key bound); the requester may not decide it whatever their role, nor may
//! an operator; another approver approves and the provider receives it
//! once; a rejection and an expiry are final and replayed to the key;
//! split refunds crossing the per-order threshold wait; a refusal at send
//! time leaves the approval standing and it is sent once the provider is
//! back; the CLI's refund waits like any other; webhooks tell each step.
//! On PostgreSQL, two daemons approving one request at once send it once;
//! a daemon killed between the approval and the send sends it once after a
//! restart.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use payops_core::Simulator;
use serde_json::{Value, json};

const KEY: &str = "approvals-esnek-key-5150";

fn sim_state(order_refs: &[&str]) -> Value {
    json!({"merchants": [{"merchant": "FOUR", "merchant_key": KEY}],
           "payments": order_refs.iter().map(|o| json!({"order_ref": o, "amount": 500000, "date": "2020-01-01T10:00:00+03:00"})).collect::<Vec<_>>()})
}

async fn esnek_sim(addr: &str, orders: &[&str]) -> payops_transport::SimServer {
    let mut e = payops_esnekpos::sim::EsnekSimulator::empty();
    e.seed(&sim_state(orders)).unwrap();
    payops_transport::SimServer::start(Box::new(e), addr.parse().unwrap())
        .await
        .unwrap()
}

fn account(url: &str) -> Value {
    json!({"provider": "esnekpos", "environment": "test", "base_url": url,
           "timeout_ms": 15000, "merchant": "FOUR", "merchant_key": KEY})
}

/// Refunds the provider received.
fn refunds(sim: &payops_transport::SimServer) -> Vec<Value> {
    ledger(sim)
}

fn rule(above: Option<i64>, per_order: Option<i64>) -> payops_host::config::ApprovalRule {
    payops_host::config::ApprovalRule {
        accounts: vec!["*".into()],
        operations: vec!["refund".into(), "cancel".into(), "return".into()],
        roles: Vec::new(),
        tokens: Vec::new(),
        above,
        per_order_above: per_order,
        per_day_above: None,
    }
}

/// A config: accounts, tokens of each role, the rules, a webhook.
fn config(dir: &Path, store: &str, accounts: &[(&str, Value)], hook: &str, expire: u64) -> PathBuf {
    let mut cfg = TestConfig::new(dir).store(store).with(|c| {
        c.auth.cookie_secure = false;
        c.approvals.rules = vec![rule(Some(50_000), Some(80_000))];
        c.approvals.retry_secs = 1;
        c.approvals.expire_after_secs = expire;
        c.webhooks.push(payops_host::config::WebhookConfig {
            name: "ops".into(),
            url: hook.into(),
            events: vec!["*".into()],
            accounts: Vec::new(),
            secret: Some("approvals-webhook-secret-000".into()),
            secret_file: None,
            previous_secret: None,
            previous_secret_file: None,
            max_age_secs: 3600,
            timeout_ms: 2000,
            retry_initial_ms: 200,
            retry_max_ms: 1000,
        });
    });
    for (name, a) in accounts {
        cfg = cfg.account(name, a.clone());
    }
    for (name, role) in [
        ("clerk", "operator"),
        ("lead", "approver"),
        ("lead2", "approver"),
    ] {
        cfg = cfg.token_with(
            name,
            &format!("{name}-approvals-token-0123"),
            &["*"],
            &["*"],
            |t| t.role = Some(role.parse().unwrap()),
        );
    }
    cfg.write(&dir.join("payops.toml"))
}

fn tok(name: &str) -> Auth {
    bearer(&format!("{name}-approvals-token-0123"))
}

async fn refund(
    d: &Daemon,
    auth: &Auth,
    account: &str,
    key: &str,
    doc: Value,
) -> (u16, Value, bool) {
    use payops_core::{HttpRequest, HttpTransport};
    let t = payops_transport::ReqwestTransport::new().unwrap();
    let mut headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("Idempotency-Key".to_owned(), key.to_owned()),
    ];
    if let Some(b) = &auth.bearer {
        headers.push(("Authorization".into(), format!("Bearer {b}")));
    }
    if let Some(c) = &auth.cookie {
        headers.push(("Cookie".into(), format!("payops_session={c}")));
        headers.push(("X-CSRF-Token".into(), auth.csrf.clone().unwrap_or_default()));
    }
    let r = t
        .send(HttpRequest {
            method: "POST".into(),
            url: format!("{}/v1/accounts/{account}/operations/refund", d.url),
            headers,
            body: doc.to_string().into_bytes(),
            timeout_ms: Some(30_000),
            safe: false,
        })
        .await
        .unwrap();
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        r.header("idempotent-replayed").is_some_and(|v| v == "true"),
    )
}

async fn decide(d: &Daemon, auth: &Auth, id: &str, decision: &str) -> (u16, Value) {
    let a = call(
        "POST",
        &format!("{}/v1/approvals/{id}/{decision}", d.url),
        auth,
        Some(&json!({"note": "checked the order"})),
    )
    .await;
    (a.status, a.body)
}

async fn approval(d: &Daemon, id: &str) -> Value {
    let a = call(
        "GET",
        &format!("{}/v1/approvals/{id}", d.url),
        &tok("lead"),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["approval"].clone()
}

/// Waits until approval `id` is in `state`.
async fn until_state(d: &Daemon, id: &str, state: &str) -> Value {
    let start = Instant::now();
    loop {
        let a = approval(d, id).await;
        if a["status"] == state {
            return a;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{id} stays {a:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn daemon(name: &str, cfg: &Path, dir: &Path) -> Daemon {
    Daemon::serve(name, cfg, dir)
}

async fn four_eyes(name: &str, store: &str) {
    let dir = temp_dir(name);
    let sim = esnek_sim(
        "127.0.0.1:0",
        &["ORD-A", "ORD-B", "ORD-C", "ORD-D", "ORD-E", "ORD-P"],
    )
    .await;
    // A second account whose provider is not there yet.
    let later_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let later_url = format!("http://127.0.0.1:{later_port}");
    let (hook, events) = webhook_receiver().await;
    // Accounts of their own: a PostgreSQL store is shared by the tests.
    let tag = unique("a").replace('-', "");
    let (shop, later_name) = (format!("shop{tag}"), format!("later{tag}"));
    let cfg = config(
        &dir,
        store,
        &[
            (&shop, account(&sim.url())),
            (&later_name, account(&later_url)),
        ],
        &hook,
        3600,
    );
    for who in ["aylin", "burak"] {
        let (code, out, err) = users(
            &cfg,
            &dir,
            &[
                "add",
                &format!("{who}{tag}"),
                "--role",
                "approver",
                "--accounts",
                "*",
            ],
            &format!("{PASSWORD}\n"),
        );
        assert_eq!(code, 0, "{out}{err}");
    }
    let (c, dd) = (cfg.clone(), dir.clone());
    let label = name.to_owned();
    let d = tokio::task::spawn_blocking(move || daemon(&label, &c, &dd))
        .await
        .unwrap();
    let k1 = unique("k1");

    // Over the threshold: waits, nothing sent, 202.
    let (status, body, replayed) = refund(
        &d,
        &tok("clerk"),
        &shop,
        &k1,
        json!({"order_ref": "ORD-B", "amount": 60000}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert!(!replayed);
    assert_eq!(body["status"], "awaiting_approval", "{body}");
    assert!(body["operation_id"].is_null(), "{body}");
    let ap1 = body["approval"]["approval_id"].as_str().unwrap().to_owned();
    assert!(
        body["approval"]["why"]
            .as_str()
            .unwrap()
            .contains("above 50000"),
        "{body}"
    );
    assert!(refunds(&sim).is_empty(), "nothing was sent");
    // The key is bound: a repeat joins it; another document is a conflict.
    let (status, body, replayed) = refund(
        &d,
        &tok("clerk"),
        &shop,
        &k1,
        json!({"order_ref": "ORD-B", "amount": 60000}),
    )
    .await;
    assert_eq!((status, replayed), (202, true), "{body}");
    assert_eq!(body["approval"]["approval_id"], ap1.as_str());
    let (status, body, _) = refund(
        &d,
        &tok("clerk"),
        &shop,
        &k1,
        json!({"order_ref": "ORD-B", "amount": 61000}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "idempotency_conflict", "{body}");
    // It is not an operation: the list of operations does not hold it.
    let ops = call(
        "GET",
        &format!("{}/v1/operations?account={shop}&limit=500", d.url),
        &tok("lead"),
        None,
    )
    .await;
    assert!(
        ops.body["operations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["idempotency_key"] != k1.as_str()),
        "{}",
        ops.body
    );
    // The queue: the approver may decide it, the clerk may not.
    let q = call(
        "GET",
        &format!("{}/v1/approvals", d.url),
        &tok("lead"),
        None,
    )
    .await;
    assert_eq!(q.status, 200, "{}", q.body);
    let row = q.body["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["approval_id"] == ap1.as_str())
        .cloned()
        .unwrap();
    assert_eq!(row["may_decide"], true);
    assert_eq!(row["requested_by"], "clerk");
    let q = call(
        "GET",
        &format!("{}/v1/approvals", d.url),
        &tok("clerk"),
        None,
    )
    .await;
    let row = q.body["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["approval_id"] == ap1.as_str())
        .cloned()
        .unwrap();
    assert_eq!(row["may_decide"], false);
    let (status, body) = decide(&d, &tok("clerk"), &ap1, "approve").await;
    assert_eq!(status, 403, "an operator does not approve: {body}");

    // A person with the approver role asks: they may not decide their own
    // request; another approver approves it and it is sent once.
    let aylin = sign_in(&d, &format!("aylin{tag}")).await;
    let burak = sign_in(&d, &format!("burak{tag}")).await;
    let (status, body, _) = refund(
        &d,
        &aylin,
        &shop,
        &unique("k2"),
        json!({"order_ref": "ORD-A", "amount": 70000}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let ap2 = body["approval"]["approval_id"].as_str().unwrap().to_owned();
    let (status, body) = decide(&d, &aylin, &ap2, "approve").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("four eyes"),
        "{body}"
    );
    let (status, body) = decide(&d, &burak, &ap2, "approve").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["approval"]["status"], "sent", "{body}");
    assert_eq!(body["approval"]["decided_by"], format!("user:burak{tag}"));
    let op2 = body["approval"]["operation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(refunds(&sim).len(), 1);
    // The operation names its requester; its audit trail the approver.
    let op = call(
        "GET",
        &format!("{}/v1/operations/{op2}", d.url),
        &tok("lead"),
        None,
    )
    .await;
    assert_eq!(
        op.body["operation"]["actor"],
        format!("user:aylin{tag}"),
        "{}",
        op.body
    );
    assert_eq!(op.body["operation"]["status"], "succeeded", "{}", op.body);
    let events_of: Vec<&Value> = op.body["events"].as_array().unwrap().iter().collect();
    assert!(
        events_of
            .iter()
            .any(|e| e["kind"] == "approved" && e["actor"] == format!("user:burak{tag}").as_str()),
        "{}",
        op.body
    );
    // A second decision finds it decided.
    let (status, body) = decide(&d, &tok("lead"), &ap2, "reject").await;
    assert_eq!(status, 409, "{body}");

    // The clerk's: approved by a token; its key now replays the operation.
    let (status, body) = decide(&d, &tok("lead"), &ap1, "approve").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["approval"]["status"], "sent", "{body}");
    let op1 = body["approval"]["operation_id"].clone();
    assert_eq!(refunds(&sim).len(), 2);
    let (status, body, replayed) = refund(
        &d,
        &tok("clerk"),
        &shop,
        &k1,
        json!({"order_ref": "ORD-B", "amount": 60000}),
    )
    .await;
    assert_eq!((status, replayed), (200, true), "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["operation_id"], op1, "the approved operation's answer");
    assert_eq!(refunds(&sim).len(), 2, "replayed, not sent again");

    // A rejection is final and replayed to its key; nothing is sent.
    let k3 = unique("k3");
    let (_, body, _) = refund(
        &d,
        &tok("clerk"),
        &shop,
        &k3,
        json!({"order_ref": "ORD-C", "amount": 55000}),
    )
    .await;
    let ap3 = body["approval"]["approval_id"].as_str().unwrap().to_owned();
    let (status, body) = decide(&d, &tok("lead"), &ap3, "reject").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["approval"]["status"], "rejected");
    let (status, body, replayed) = refund(
        &d,
        &tok("clerk"),
        &shop,
        &k3,
        json!({"order_ref": "ORD-C", "amount": 55000}),
    )
    .await;
    assert_eq!((status, replayed), (200, true), "{body}");
    assert_eq!(body["status"], "rejected", "{body}");
    assert_eq!(refunds(&sim).len(), 2);

    // Split refunds: 40000 passes; 45000 more on the same order crosses
    // 80000 per order and waits.
    let (status, body, _) = refund(
        &d,
        &tok("clerk"),
        &shop,
        &unique("k4"),
        json!({"order_ref": "ORD-D", "amount": 40000}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded");
    let (status, body, _) = refund(
        &d,
        &tok("clerk"),
        &shop,
        &unique("k5"),
        json!({"order_ref": "ORD-D", "amount": 45000}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert!(
        body["approval"]["why"]
            .as_str()
            .unwrap()
            .contains("per order"),
        "{body}"
    );
    assert_eq!(refunds(&sim).len(), 3);

    // Split refunds sent at the same moment: each passes the gate alone,
    // but they are counted again one after another in the order's turn:
    // two pass (60000), the two that would cross 80000 wait.
    let clerk = tok("clerk");
    let split = |n: usize| {
        let (d, clerk, shop) = (&d, &clerk, &shop);
        async move {
            refund(
                d,
                clerk,
                shop,
                &unique(&format!("kp{n}")),
                json!({"order_ref": "ORD-P", "amount": 30000}),
            )
            .await
        }
    };
    let (a, b, c, e) = tokio::join!(split(1), split(2), split(3), split(4));
    let mut codes: Vec<u16> = [&a, &b, &c, &e].iter().map(|r| r.0).collect();
    codes.sort();
    assert_eq!(
        codes,
        [200, 200, 202, 202],
        "{:#}\n{:#}\n{:#}\n{:#}\n{:#}",
        a.1,
        b.1,
        c.1,
        e.1,
        sim.with_sim(|s| s.state())
    );
    assert_eq!(refunds(&sim).len(), 5);

    // A refusal at send time (the provider not there: nothing sent) leaves
    // the approval standing; once the provider is up it is sent, once.
    let (_, body, _) = refund(
        &d,
        &tok("clerk"),
        &later_name,
        &unique("k6"),
        json!({"order_ref": "ORD-E", "amount": 51000}),
    )
    .await;
    let ap6 = body["approval"]["approval_id"].as_str().unwrap().to_owned();
    let (status, body) = decide(&d, &tok("lead"), &ap6, "approve").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["approval"]["status"], "approved", "{body}");
    assert!(
        body["approval"]["last_refusal"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{body}"
    );
    let later = esnek_sim(&format!("127.0.0.1:{later_port}"), &["ORD-E"]).await;
    let a = until_state(&d, &ap6, "sent").await;
    assert!(a["attempts"].as_i64().unwrap() >= 1, "{a:#}");
    assert_eq!(refunds(&later).len(), 1);

    // The CLI asks as its OS user and waits like any other; another OS
    // user approves it from the CLI, which sends it.
    let cli = |user: &str, args: &[&str]| {
        run_env(
            &[&["--config", cfg.to_str().unwrap()], args].concat(),
            &dir,
            &[("USER".into(), user.into())],
        )
    };
    let (code, out, err) = cli(
        "deniz",
        &[
            "refund",
            "--account",
            &shop,
            "--json",
            r#"{"order_ref": "ORD-C", "amount": 52000}"#,
            "--idempotency-key",
            &unique("k7"),
        ],
    );
    assert_eq!(code, 13, "{out}{err}");
    assert!(err.contains("waiting for approval"), "{err}");
    let ap7 = out
        .lines()
        .find_map(|l| l.strip_prefix("approval_id:"))
        .map(|s| s.trim().to_owned())
        .expect("the approval id is printed");
    let (code, out, err) = cli("deniz", &["approvals", "approve", &ap7]);
    assert_eq!(
        code, 2,
        "the requester may not approve from the CLI either: {out}{err}"
    );
    assert!(err.contains("four eyes"), "{err}");
    let (code, out, err) = cli("deniz", &["approvals", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&ap7), "{out}");
    let (code, out, err) = cli("ece", &["approvals", "approve", &ap7, "--note", "ok"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("sent as op_") && out.contains("succeeded"),
        "{out}"
    );
    let got = refunds(&sim);
    assert_eq!(got.len(), 6, "{got:#?}");

    // A batch waits row by row like any other caller: its rows above the
    // threshold are awaiting_approval in the results, nothing sent.
    std::fs::write(
        dir.join("rows.csv"),
        "order_ref,amount\nORD-E,53000\nORD-E,1000\n",
    )
    .unwrap();
    let (code, out, err) = cli(
        "deniz",
        &[
            "batch",
            "--account",
            &shop,
            "--operation",
            "refund",
            "rows.csv",
            "--no-progress",
        ],
    );
    assert!(code == 0 || code == 1, "{out}{err}");
    let results = std::fs::read_to_string(dir.join("rows.csv.results.csv")).unwrap();
    let rows: Vec<&str> = results.lines().skip(1).collect();
    assert!(rows[0].contains(",awaiting_approval,"), "{results}");
    assert!(rows[1].contains(",succeeded,"), "{results}");
    assert_eq!(refunds(&sim).len(), 7, "the small row only");

    // Webhooks told every step.
    let start = Instant::now();
    loop {
        let types: Vec<String> = events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| {
                e["data"]["approval_id"] == ap3.as_str() || e["data"]["approval_id"] == ap1.as_str()
            })
            .map(|e| e["type"].as_str().unwrap_or("").to_owned())
            .collect();
        if [
            "approval.requested",
            "approval.approved",
            "approval.rejected",
        ]
        .iter()
        .all(|t| types.iter().any(|x| x == t))
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{types:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(d);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn four_eyes_on_sqlite() {
    let dir = temp_dir("approvals-sqlite-store");
    four_eyes("approvals-sqlite", &sqlite_url(&dir)).await;
}

#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test(flavor = "multi_thread")]
async fn four_eyes_on_postgres() {
    four_eyes("approvals-pg", &pg_url().expect("PAYOPS_TEST_POSTGRES_URL")).await;
}

/// Not decided in time: expired, final, replayed to its key, told by a
/// webhook; nothing sent.
#[tokio::test(flavor = "multi_thread")]
async fn an_undecided_request_expires() {
    let dir = temp_dir("approvals-expiry");
    let sim = esnek_sim("127.0.0.1:0", &["ORD-X"]).await;
    let (hook, events) = webhook_receiver().await;
    let cfg = config(
        &dir,
        &sqlite_url(&dir),
        &[("shop", account(&sim.url()))],
        &hook,
        2,
    );
    let (c, dd) = (cfg.clone(), dir.clone());
    let d = tokio::task::spawn_blocking(move || daemon("approvals-expiry", &c, &dd))
        .await
        .unwrap();
    let key = unique("kx");
    let (status, body, _) = refund(
        &d,
        &tok("clerk"),
        "shop",
        &key,
        json!({"order_ref": "ORD-X", "amount": 90000}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = body["approval"]["approval_id"].as_str().unwrap().to_owned();
    until_state(&d, &id, "expired").await;
    let (status, body) = decide(&d, &tok("lead"), &id, "approve").await;
    assert_eq!(status, 409, "too late: {body}");
    let (status, body, replayed) = refund(
        &d,
        &tok("clerk"),
        "shop",
        &key,
        json!({"order_ref": "ORD-X", "amount": 90000}),
    )
    .await;
    assert_eq!((status, replayed), (200, true), "{body}");
    assert_eq!(body["status"], "expired");
    assert!(refunds(&sim).is_empty());
    let start = Instant::now();
    while !events
        .lock()
        .unwrap()
        .iter()
        .any(|e| e["type"] == "approval.expired")
    {
        assert!(start.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(d);
    std::fs::remove_dir_all(&dir).ok();
}

/// Two daemons on one PostgreSQL store, two approvers approving the same
/// request at the same moment: one decision, one send.
#[cfg_attr(
    not(payops_postgres),
    ignore = "PostgreSQL: set PAYOPS_TEST_POSTGRES_URL (at build time too) to run"
)]
#[tokio::test(flavor = "multi_thread")]
async fn two_daemons_approving_at_once_send_once() {
    let url = pg_url().expect("PAYOPS_TEST_POSTGRES_URL");
    let dir = temp_dir("approvals-two");
    let sim = esnek_sim("127.0.0.1:0", &["ORD-T1", "ORD-T2", "ORD-T3"]).await;
    let (hook, _events) = webhook_receiver().await;
    let shop = format!("shop{}", unique("t").replace('-', ""));
    let cfg = config(&dir, &url, &[(&shop, account(&sim.url()))], &hook, 3600);
    let (c, dd) = (cfg.clone(), dir.clone());
    let (d1, d2) = tokio::task::spawn_blocking(move || {
        (
            daemon("approvals-d1", &c, &dd),
            daemon("approvals-d2", &c, &dd),
        )
    })
    .await
    .unwrap();
    for order in ["ORD-T1", "ORD-T2", "ORD-T3"] {
        let (status, body, _) = refund(
            &d1,
            &tok("clerk"),
            &shop,
            &unique("kt"),
            json!({"order_ref": order, "amount": 60000}),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        let id = body["approval"]["approval_id"].as_str().unwrap().to_owned();
        let (lead, lead2) = (tok("lead"), tok("lead2"));
        let (a, b) = tokio::join!(
            decide(&d1, &lead, &id, "approve"),
            decide(&d2, &lead2, &id, "approve")
        );
        let mut codes = [a.0, b.0];
        codes.sort();
        assert_eq!(codes, [200, 409], "{a:?} {b:?}");
        until_state(&d1, &id, "sent").await;
    }
    // Give the workers of both daemons a pass more.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let got = refunds(&sim);
    assert_eq!(got.len(), 3, "one send each: {got:#?}");
    drop((d1, d2));
    std::fs::remove_dir_all(&dir).ok();
}

/// A daemon killed (SIGKILL) after the request waits; the approval is
/// recorded while no daemon runs (`--no-send`); the daemon started again
/// sends it, once.
#[tokio::test(flavor = "multi_thread")]
async fn killed_between_approval_and_send_sends_once_after_restart() {
    let dir = temp_dir("approvals-kill");
    let sim = esnek_sim("127.0.0.1:0", &["ORD-K"]).await;
    let (hook, _events) = webhook_receiver().await;
    let cfg = config(
        &dir,
        &sqlite_url(&dir),
        &[("shop", account(&sim.url()))],
        &hook,
        3600,
    );
    let (c, dd) = (cfg.clone(), dir.clone());
    let d = tokio::task::spawn_blocking(move || daemon("approvals-kill-1", &c, &dd))
        .await
        .unwrap();
    let (status, body, _) = refund(
        &d,
        &tok("clerk"),
        "shop",
        &unique("kk"),
        json!({"order_ref": "ORD-K", "amount": 60000}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = body["approval"]["approval_id"].as_str().unwrap().to_owned();
    drop(d); // SIGKILL
    let (code, out, err) = run_env(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "approvals",
            "approve",
            &id,
            "--no-send",
        ],
        &dir,
        &[("USER".into(), "ece".into())],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(refunds(&sim).is_empty(), "recorded, not sent");
    let (c, dd) = (cfg.clone(), dir.clone());
    let d = tokio::task::spawn_blocking(move || daemon("approvals-kill-2", &c, &dd))
        .await
        .unwrap();
    until_state(&d, &id, "sent").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(refunds(&sim).len(), 1);
    drop(d);
    std::fs::remove_dir_all(&dir).ok();
}

/// Resolving an `unknown` refund above the threshold as `failed` frees
/// money: it waits for a second approver like the refund did; the asker
/// may not approve it; approved, the operation is `failed` with the
/// approver on its audit trail. A resolution to `succeeded` frees nothing
/// and does not wait.
#[tokio::test(flavor = "multi_thread")]
async fn a_resolution_to_failed_above_the_threshold_waits() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    let dir = temp_dir("approvals-resolve");
    let sim = esnek_sim("127.0.0.1:0", &["ORD-R", "ORD-S"]).await;
    // The provider acts, the caller never hears: the refund is unknown.
    let mode = Arc::new(AtomicUsize::new(2));
    let front = proxy(sim.url(), mode.clone(), Arc::new(AtomicUsize::new(0))).await;
    let mut acct = account(&front);
    acct["order_query"] = json!(false);
    acct["timeout_ms"] = json!(1000);
    let (hook, _events) = webhook_receiver().await;
    let cfg = config(&dir, &sqlite_url(&dir), &[("slow", acct)], &hook, 3600);
    let (c, dd) = (cfg.clone(), dir.clone());
    let d = tokio::task::spawn_blocking(move || daemon("approvals-resolve", &c, &dd))
        .await
        .unwrap();
    let mut unknown = Vec::new();
    for order in ["ORD-R", "ORD-S"] {
        let (status, body, _) = refund(
            &d,
            &tok("clerk"),
            "slow",
            &unique("kr"),
            json!({"order_ref": order, "amount": 60000}),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        let id = body["approval"]["approval_id"].as_str().unwrap().to_owned();
        let (status, body) = decide(&d, &tok("lead2"), &id, "approve").await;
        assert_eq!(status, 200, "{body}");
        let op = body["approval"]["operation_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let o = call(
            "GET",
            &format!("{}/v1/operations/{op}", d.url),
            &tok("lead"),
            None,
        )
        .await;
        assert_eq!(o.body["operation"]["status"], "unknown", "{}", o.body);
        unknown.push(op);
    }
    let resolve = |id: &str, status: &str| {
        let (url, id) = (d.url.clone(), id.to_owned());
        let body =
            json!({"status": status, "evidence": "the provider's panel shows no such refund"});
        async move {
            call(
                "POST",
                &format!("{url}/v1/operations/{id}/resolve"),
                &tok("lead"),
                Some(&body),
            )
            .await
        }
    };
    // To failed: waits.
    let a = resolve(&unknown[0], "failed").await;
    assert_eq!(a.status, 202, "{}", a.body);
    let ap = a.body["approval"]["approval_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(a.body["approval"]["operation"], "resolve");
    let o = call(
        "GET",
        &format!("{}/v1/operations/{}", d.url, unknown[0]),
        &tok("lead"),
        None,
    )
    .await;
    assert_eq!(
        o.body["operation"]["status"], "unknown",
        "still unknown while it waits"
    );
    // Asked again: the same approval.
    let again = resolve(&unknown[0], "failed").await;
    assert_eq!(again.body["approval"]["approval_id"], ap.as_str());
    let (status, body) = decide(&d, &tok("lead"), &ap, "approve").await;
    assert_eq!(status, 403, "the asker does not approve: {body}");
    let (status, body) = decide(&d, &tok("lead2"), &ap, "approve").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["approval"]["status"], "sent", "{body}");
    let o = call(
        "GET",
        &format!("{}/v1/operations/{}", d.url, unknown[0]),
        &tok("lead"),
        None,
    )
    .await;
    assert_eq!(o.body["operation"]["status"], "failed", "{}", o.body);
    assert_eq!(
        o.body["operation"]["envelope"]["reason"], "operator",
        "{}",
        o.body
    );
    assert!(
        o.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "approved" && e["actor"] == "lead2"),
        "{}",
        o.body
    );
    // To succeeded: frees nothing, resolved at once.
    let a = resolve(&unknown[1], "succeeded").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["status"], "succeeded", "{}", a.body);
    drop(d);
    std::fs::remove_dir_all(&dir).ok();
}

/// The `[approvals]` example of operators.md passes `config check` (with
/// the token it names); rules that cannot apply are config errors naming
/// the key.
#[test]
fn the_documented_approvals_config_checks_and_mistakes_are_named() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/operators.md")).unwrap();
    let block = doc
        .split("<!-- approvals-example -->\n```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("operators.md has the approvals example");
    let dir = temp_dir("approvals-doc");
    let plugins = plugin_dir(&dir);
    let store = sqlite_url(&dir);
    let head = format!(
        "[plugins]\ndirs = [{plugins:?}]\n[store]\nurl = {store:?}\n[[tokens]]\nname = \"billing\"\ntoken_sha256 = \"{}\"\naccounts = [\"*\"]\noperations = [\"*\"]\n",
        "0".repeat(64)
    );
    std::fs::write(dir.join("good.toml"), format!("{head}{block}\n")).unwrap();
    let (code, out, err) = run(&["--config", "good.toml", "config", "check"], &dir);
    assert_eq!(code, 0, "{out}{err}");
    std::fs::write(
        dir.join("bad.toml"),
        format!(
            "{head}[approvals]\nretry_secs = 0\n[[approvals.rules]]\naccounts = [\"*\"]\n[[approvals.rules]]\ntokens = [\"nobody\"]\noperations = [\"query\"]\nabove = 1\n"
        ),
    )
    .unwrap();
    let (code, _, err) = run(&["--config", "bad.toml", "config", "check"], &dir);
    assert_eq!(code, 3, "{err}");
    for key in [
        "approvals.retry_secs",
        "approvals.rules[0].above",
        "approvals.rules[1].tokens",
        "approvals.rules[1].operations",
    ] {
        assert!(err.contains(key), "{key}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
