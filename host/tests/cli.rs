//! The real `payops` binary: providers, config, one-shot operations, the
//! sandbox over HTTP, graceful shutdown, and no credential in any output.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use payops_core::Simulator;
use serde_json::{Value, json};

/// A config with an EsnekPOS account (key inline), a TurkPos account (GUID
/// from a file) and a support token limited to queries on one account.
fn write_config(dir: &Path, esnek_url: &str, turk_url: &str) -> String {
    std::fs::write(dir.join("guid.txt"), format!("{}\n", SECRETS[2])).unwrap();
    TestConfig::new(dir)
        .token("support", SECRETS[3], &["esnek"], &["query"])
        .token("ops", "ops-token-1", &["*"], &["*"])
        .account(
            "esnek",
            json!({"provider": "esnekpos", "environment": "test", "base_url": esnek_url,
                   "timeout_ms": 5000, "merchant": "M1", "merchant_key": SECRETS[0],
                   "sub_merchant_sign": "reduce_is_positive"}),
        )
        .account(
            "turk",
            json!({"provider": "turkpos", "base_url": turk_url, "client_code": "555",
                   "client_username": "u", "client_password": SECRETS[1],
                   "guid_file": dir.join("guid.txt")}),
        )
        .write(&dir.join("payops-test.toml"))
        .display()
        .to_string()
}

/// `payops sandbox` started in a fresh folder (with `extra` flags): the
/// daemon and the token it printed.
async fn sandbox(name: &'static str, extra: &[&str]) -> (Daemon, String) {
    let dir = temp_dir(name);
    let cfg = write_config(&dir, "http://127.0.0.1:9", "http://127.0.0.1:9");
    start_sandbox(name, &dir, &cfg, extra).await
}

async fn simulators() -> (payops_transport::SimServer, payops_transport::SimServer) {
    let mut e = payops_esnekpos::sim::EsnekSimulator::empty();
    e.seed(&json!({"merchants": [{"merchant": "M1", "merchant_key": SECRETS[0]}],
                    "payments": [{"order_ref": "P1", "amount": 10000, "date": "2020-01-01T10:00:00+03:00"}]}))
        .unwrap();
    let mut t = payops_turkpos::sim::TurkPosSimulator::empty();
    t.seed(&json!({"clients": [{"client_code": "555", "client_username": "u", "client_password": SECRETS[1], "guid": SECRETS[2]}],
                    "orders": [{"order_ref": "T1", "marketplace_order_guid": "aaaaaaaa-0000-0000-0000-000000000001", "amount": 5000, "seller_payout_amount": 4000, "date": "2020-01-01T10:00:00+03:00"}]}))
        .unwrap();
    let a = payops_transport::SimServer::start(Box::new(e), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let b = payops_transport::SimServer::start(Box::new(t), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (a, b)
}

#[test]
fn providers_are_loaded_from_their_cdylibs() {
    let dir = temp_dir("providers");
    let plugins = plugin_dir(&dir);
    std::fs::write(plugins.join("libforeign.so"), b"not a library").unwrap();
    std::fs::write(
        dir.join("p.toml"),
        format!("[plugins]\ndirs = [{plugins:?}]\n"),
    )
    .unwrap();
    let (code, out, _) = run(
        &["--config", "p.toml", "providers", "--output", "json"],
        &dir,
    );
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<_> = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        vec!["esnekpos", "iyzico", "nestpay", "paytr", "sipay", "turkpos"]
    );
    for p in v["providers"].as_array().unwrap() {
        assert!(
            p["file"]
                .as_str()
                .unwrap()
                .ends_with(std::env::consts::DLL_SUFFIX),
            "{p}"
        );
    }
    assert_eq!(
        v["providers"][1]["capabilities"],
        json!(["refund", "cancel", "query", "return"])
    );
    let skipped = v["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["file"].as_str().unwrap().ends_with("libforeign.so")),
        "{v}"
    );
    // `on_error = "fail"` makes the same foreign file fatal (exit 3), never a crash.
    std::fs::write(
        dir.join("f.toml"),
        format!("[plugins]\ndirs = [{plugins:?}]\non_error = \"fail\"\n"),
    )
    .unwrap();
    let (code, _, err) = run(&["--config", "f.toml", "providers"], &dir);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("libforeign.so"), "{err}");
}

#[test]
fn config_show_redacts_and_check_validates() {
    let dir = temp_dir("config");
    let cfg = write_config(&dir, "http://127.0.0.1:9", "http://127.0.0.1:9");
    let (code, out, err) = run(&["--config", &cfg, "config", "show"], &dir);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("[REDACTED]") && out.contains("merchant = \"M1\""),
        "{out}"
    );
    let (code, out, err) = run(&["--config", &cfg, "config", "check"], &dir);
    assert_eq!(code, 0, "{out}{err}");
    // Environment overrides files.
    let out = std::process::Command::new(exe())
        .args(["--config", &cfg, "config", "show"])
        .current_dir(&dir)
        .env("PAYOPS_SERVER__LISTEN", "127.0.0.1:9999")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("127.0.0.1:9999"));
    // A wrong value names the file, the key and what was expected.
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("client_code = \"555\"", "client_code = \"toolong1\""),
    )
    .unwrap();
    let (code, _, err) = run(
        &["--config", bad.to_str().unwrap(), "config", "check"],
        &dir,
    );
    assert_eq!(code, 3);
    assert!(
        err.contains("bad.toml")
            && err.contains("accounts.turk.client_code")
            && err.contains("turkpos account schema"),
        "{err}"
    );
    let unknown = dir.join("unknown.toml");
    std::fs::write(&unknown, "[accounts.x]\nprovider = \"nope\"\n").unwrap();
    let (code, _, err) = run(
        &["--config", unknown.to_str().unwrap(), "config", "check"],
        &dir,
    );
    assert_eq!(code, 3);
    assert!(
        err.contains("unknown.toml") && err.contains("accounts.x.provider"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_shot_commands_and_exit_codes() {
    let (e, t) = simulators().await;
    let dir = temp_dir("oneshot");
    let cfg = write_config(&dir, &e.url(), &t.url());
    let d = dir.clone();
    let cfg2 = cfg.clone();
    let results = tokio::task::spawn_blocking(move || {
        let ok = run(
            &[
                "--config",
                &cfg2,
                "refund",
                "--account",
                "esnek",
                "--json",
                r#"{"order_ref":"P1","amount":500}"#,
                "--output",
                "json",
            ],
            &d,
        );
        // More than was paid: the order guard refuses it (nothing sent).
        let too_much = run(
            &[
                "--config",
                &cfg2,
                "refund",
                "--account",
                "esnek",
                "--json",
                r#"{"order_ref":"P1","amount":99999999}"#,
            ],
            &d,
        );
        // A sub-merchant EsnekPOS does not know: its documented refusal
        // (101 FIELD_ERROR), `failed`.
        let failed = run(
            &[
                "--config",
                &cfg2,
                "sub-merchant-adjust",
                "--account",
                "esnek",
                "--json",
                r#"{"order_ref":"P1","sub_merchant_id":"S9","direction":"reduce","amount":100}"#,
            ],
            &d,
        );
        let invalid = run(
            &[
                "--config",
                &cfg2,
                "refund",
                "--account",
                "esnek",
                "--json",
                r#"{"order_ref":"P1","amount":-5}"#,
            ],
            &d,
        );
        let unsupported = run(
            &[
                "--config",
                &cfg2,
                "sub-merchant-adjust",
                "--account",
                "turk",
                "--json",
                "{}",
            ],
            &d,
        );
        let query = run(
            &[
                "-vv",
                "--config",
                &cfg2,
                "query",
                "--account",
                "turk",
                "--json",
                r#"{"order_ref":"T1"}"#,
            ],
            &d,
        );
        let badcfg = run(
            &[
                "--config",
                "missing.toml",
                "query",
                "--account",
                "turk",
                "--json",
                "{}",
            ],
            &d,
        );
        let json_logs = run(
            &[
                "--config",
                &cfg2,
                "--log-format",
                "json",
                "-vv",
                "query",
                "--account",
                "esnek",
                "--json",
                r#"{"order_ref":"P1"}"#,
            ],
            &d,
        );
        (
            ok,
            too_much,
            failed,
            invalid,
            unsupported,
            query,
            badcfg,
            json_logs,
        )
    })
    .await
    .unwrap();
    let (ok, too_much, failed, invalid, unsupported, query, badcfg, json_logs) = results;
    assert_eq!(ok.0, 0, "{ok:?}");
    let env: Value = serde_json::from_str(&ok.1).unwrap();
    assert_eq!(env["status"], "succeeded");
    assert_eq!(env["account"], "esnek");
    assert_eq!(too_much.0, 4, "{too_much:?}");
    assert!(
        too_much.2.contains("more than remains to return")
            && too_much.2.contains("refused before sending (conflict)"),
        "{too_much:?}"
    );
    assert_eq!(failed.0, 11, "{failed:?}");
    assert_eq!(invalid.0, 2, "{invalid:?}");
    assert!(invalid.2.contains("/amount"), "{invalid:?}");
    assert_eq!(unsupported.0, 2, "{unsupported:?}");
    assert_eq!(query.0, 0, "{query:?}");
    assert!(
        query.2.contains("TRACE") || query.2.contains("DEBUG"),
        "verbose logs were produced"
    );
    assert_eq!(badcfg.0, 3);
    // A plugin's own fields are a JSON object in JSON logs.
    assert_eq!(json_logs.0, 0, "{json_logs:?}");
    let plugin_line: Value = json_logs
        .2
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["target"] == "payops::plugin" && v["fields"]["plugin_fields"].is_object())
        .unwrap_or_else(|| panic!("no plugin event with its fields: {}", json_logs.2));
    assert_eq!(plugin_line["fields"]["plugin_fields"]["order_ref"], "P1");
    assert_eq!(plugin_line["fields"]["provider"], "esnekpos");
    let ledger = e.with_sim(|s| s.state())["ledger"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(ledger, 1, "only the valid refund reached the provider");
}

#[tokio::test(flavor = "multi_thread")]
async fn sandbox_serves_every_provider_with_auth_and_errors() {
    let dir = temp_dir("sandbox");
    let cfg = write_config(&dir, "http://127.0.0.1:9", "http://127.0.0.1:9");
    let d = dir.clone();
    let daemon = tokio::task::spawn_blocking(move || {
        Daemon::start(
            "sandbox",
            &["--config", &cfg, "-v", "sandbox", "--listen", "127.0.0.1:0"],
            &d,
        )
    })
    .await
    .unwrap();
    let banner = daemon.stdout.lock().unwrap().clone();
    let token = banner
        .lines()
        .find_map(|l| l.strip_prefix("sandbox token: "))
        .expect("token printed")
        .trim()
        .to_owned();
    assert!(banner.contains("curl"), "{banner}");
    assert!(banner.contains("console: http://127.0.0.1:"), "{banner}");
    let url = daemon.url.clone();
    let op = |acct: &str, op: &str| format!("{url}/v1/accounts/{acct}/operations/{op}");
    let t = Some(token.as_str());

    let (s, v) = http(
        "POST",
        &op("esnek-demo", "refund"),
        t,
        Some(r#"{"order_ref":"DEMO-1001","amount":500}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    let (s, v) = http(
        "POST",
        &op("esnek-demo", "query"),
        t,
        Some(r#"{"order_ref":"DEMO-1001"}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    assert_eq!(v["details"]["refunded_amount"], json!(500));
    let (s, v) = http(
        "POST",
        &op("esnek-demo", "sub_merchant_adjust"),
        t,
        Some(r#"{"order_ref":"DEMO-1001","sub_merchant_id":"STORE-1","direction":"reduce","amount":500}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    let (s, v) = http("POST", &op("turk-demo", "refund"), t, Some(r#"{"order_ref":"TP-DEMO-1","marketplace_order_guid":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","amount":1001,"seller_payout_amount":8000}"#)).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    let (s, v) = http("POST", &op("turk-demo", "cancel"), t, Some(r#"{"order_ref":"TP-DEMO-TODAY","marketplace_order_guid":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","whole_order":true}"#)).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    // An Android POS cancel is pending until the device's result; the
    // sandbox's simulator posts it to the sandbox's own callback URL and the
    // operation settles through the query, without anyone reconciling.
    let (s, v) = http(
        "POST",
        &op("esnek-demo", "cancel"),
        t,
        Some(r#"{"order_ref":"DEMO-POS","channel":"android_pos"}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("pending")), "{v}");
    let pos_id = v["operation_id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut state = Value::Null;
    while std::time::Instant::now() < deadline {
        let (_, v) = http("GET", &format!("{url}/v1/operations/{pos_id}"), t, None).await;
        state = v["operation"]["state"].clone();
        if state == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, "succeeded", "settled from the simulator's callback");
    // iyzico, next to the other two: a signed refund of one item, the
    // payment's detail, and a cancel of the other payment.
    let (s, v) = http(
        "POST",
        &op("iyzico-demo", "refund"),
        t,
        Some(r#"{"order_ref":"DEMO-1001","payment_transaction_id":"DEMO-1001-1","amount":1250}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    assert_eq!(v["details"]["amount"], json!(1250), "{v}");
    assert_eq!(v["details"]["conversation_id"], v["operation_id"], "{v}");
    let (s, v) = http(
        "POST",
        &op("iyzico-demo", "query"),
        t,
        Some(r#"{"order_ref":"DEMO-1001"}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    assert_eq!(v["details"]["amount"], json!(10000), "{v}");
    let (s, v) = http(
        "POST",
        &op("iyzico-demo", "cancel"),
        t,
        Some(r#"{"order_ref":"DEMO-1002"}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    // NestPay: a partial refund of a settled order, its history (which
    // lists the refund), and a void of an order of today.
    let (s, v) = http(
        "POST",
        &op("nestpay-demo", "refund"),
        t,
        Some(r#"{"order_ref":"DEMO-1001","amount":1250}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    let refund_tx = v["provider_reference"].clone();
    let (s, v) = http(
        "POST",
        &op("nestpay-demo", "query"),
        t,
        Some(r#"{"order_ref":"DEMO-1001"}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    assert_eq!(v["details"]["amount"], json!(10000), "{v}");
    assert_eq!(v["details"]["refunded_amount"], json!(1250), "{v}");
    assert_eq!(
        v["details"]["ledger"]["returns"][0]["transaction_id"], refund_tx,
        "{v}"
    );
    let (s, v) = http(
        "POST",
        &op("nestpay-demo", "cancel"),
        t,
        Some(r#"{"order_ref":"DEMO-1002"}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    // NestPay's return (operators.md): DEMO-1003 was paid on an earlier
    // day the simulated bank has not closed, so the refund the rule tries
    // first is declined CORE-2508 and the whole return becomes a void.
    let (s, v) = http(
        "POST",
        &op("nestpay-demo", "return"),
        t,
        Some(r#"{"order_ref":"DEMO-1003"}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    assert_eq!(v["details"]["became"], "cancel", "{v}");
    assert_eq!(
        v["details"]["attempts"].as_array().map(Vec::len),
        Some(2),
        "{v}"
    );
    // PayTR: a partial refund (payops's reference_no on it), the status
    // query listing it, and no cancel.
    let (s, v) = http(
        "POST",
        &op("paytr-demo", "refund"),
        t,
        Some(r#"{"order_ref":"DEMO1001","amount":1197}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    let reference = v["details"]["reference_no"].clone();
    assert_eq!(
        reference.as_str().unwrap(),
        v["operation_id"].as_str().unwrap().replace('_', ""),
        "{v}"
    );
    let (s, v) = http(
        "POST",
        &op("paytr-demo", "query"),
        t,
        Some(r#"{"order_ref":"DEMO1001"}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    assert_eq!(v["details"]["amount"], json!(10000), "{v}");
    assert_eq!(
        v["details"]["ledger"]["returns"][0]["transaction_id"], reference,
        "{v}"
    );
    let (s, v) = http(
        "POST",
        &op("paytr-demo", "cancel"),
        t,
        Some(r#"{"order_ref":"DEMO1002"}"#),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "unsupported_operation", "{v}");
    // Sipay: a partial refund (a token first, the operation id as
    // refund_transaction_id), a refund of an invoice under manual review
    // (pending), the status check's total, and no cancel.
    let (s, v) = http(
        "POST",
        &op("sipay-demo", "refund"),
        t,
        Some(r#"{"order_ref":"DEMO3002","amount":1050}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    assert_eq!(
        v["details"]["refund_transaction_id"], v["operation_id"],
        "{v}"
    );
    let (s, v) = http(
        "POST",
        &op("sipay-demo", "query"),
        t,
        Some(r#"{"order_ref":"DEMO3002"}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    assert_eq!(
        (&v["details"]["amount"], &v["details"]["refunded_amount"]),
        (&json!(2500), &json!(1050)),
        "{v}"
    );
    assert_eq!(v["details"]["ledger"]["listed"], "total_only", "{v}");
    let (s, v) = http(
        "POST",
        &op("sipay-demo", "refund"),
        t,
        Some(r#"{"order_ref":"DEMO3001","amount":500}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("pending")), "{v}");
    assert_eq!(v["provider_code"], "101", "{v}");
    let (s, v) = http(
        "POST",
        &op("sipay-demo", "cancel"),
        t,
        Some(r#"{"order_ref":"DEMO3002"}"#),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "unsupported_operation", "{v}");

    let (s, v) = http(
        "POST",
        &op("esnek-demo", "query"),
        Some("wrong"),
        Some(r#"{"order_ref":"DEMO-1001"}"#),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (s, _) = http("POST", &op("esnek-demo", "query"), None, Some("{}")).await;
    assert_eq!(s, 401);
    // The config's accounts and tokens are not served by the sandbox.
    let (s, _) = http(
        "POST",
        &op("esnek-demo", "query"),
        Some(SECRETS[3]),
        Some("{}"),
    )
    .await;
    assert_eq!(s, 401, "a config token is not a sandbox token");
    let (s, v) = http(
        "POST",
        &op("esnek", "query"),
        t,
        Some(r#"{"order_ref":"P1"}"#),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{v}"
    );
    let store = banner
        .lines()
        .find_map(|l| l.strip_prefix("sandbox store: "))
        .and_then(|l| l.split(" (").next())
        .expect("the store is printed")
        .to_owned();
    assert!(Path::new(&store).exists(), "{store}");
    assert!(
        !dir.join("payops.db").exists(),
        "the config's store is not used"
    );
    let (s, v) = http("POST", &op("nope", "query"), t, Some("{}")).await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("not_found")));
    let (s, v) = http(
        "POST",
        &op("esnek-demo", "refund"),
        t,
        Some(r#"{"order_ref":"DEMO-1001","amount":"5"}"#),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("invalid_request")),
        "{v}"
    );
    assert_eq!(v["error"]["details"][0]["path"], "/amount", "{v}");
    let (s, v) = http(
        "POST",
        &op("turk-demo", "sub_merchant_adjust"),
        t,
        Some("{}"),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("unsupported_operation")),
        "{v}"
    );
    let (s, v) = http(
        "POST",
        &op("esnek-demo", "refund"),
        t,
        Some(&"x".repeat(100_000)),
    )
    .await;
    assert_eq!(s, 413, "{v}");
    let (s, v) = http("GET", &format!("{url}/v1/accounts"), t, None).await;
    assert_eq!(s, 200);
    assert_eq!(
        v["accounts"].as_array().unwrap().len(),
        6,
        "the demo accounts only: {v}"
    );
    let (s, v) = http(
        "GET",
        &format!("{url}/v1/schemas/esnekpos/refund.request.json"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["properties"]["amount"]["minimum"], json!(1));
    let (s, v) = http("GET", &format!("{url}/metrics"), None, None).await;
    assert_eq!(s, 200);
    let text = v.as_str().unwrap();
    assert!(text.contains("payops_operations_total{account=\"esnek-demo\",operation=\"refund\",status=\"succeeded\"} 1"), "{text}");
    assert!(
        text.contains("payops_operation_duration_seconds_bucket"),
        "{text}"
    );
    let logs = daemon.stderr.lock().unwrap().clone();
    assert!(
        logs.contains("request_id=req_"),
        "request ids in logs: {logs}"
    );
    assert!(logs.contains("are not served"), "{logs}");
    // Stopping the sandbox removes its store.
    daemon.terminate();
    let mut daemon = daemon;
    daemon.wait();
    assert!(!Path::new(&store).exists(), "{store} left behind");
}

/// A provider endpoint that answers an EsnekPOS success after `delay`.
async fn slow_esnek(delay: Duration) -> String {
    use tokio::io::AsyncWriteExt;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                if read_request(&mut s).await.is_none() {
                    return;
                }
                tokio::time::sleep(delay).await;
                let body = r#"{"RETURN_CODE":"0","RETURN_MESSAGE":"ok","STATUS":"SUCCESS","ORDER_REF_NUMBER":"S1","REFNO":"SLOW1","TRANSACTION_ID":1}"#;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_in_flight_operation() {
    let slow = slow_esnek(Duration::from_millis(1500)).await;
    let dir = temp_dir("sigterm");
    let cfg = write_config(&dir, &slow, "http://127.0.0.1:9");
    let d = dir.clone();
    let mut daemon = tokio::task::spawn_blocking(move || {
        Daemon::start(
            "serve",
            &[
                "--config",
                &cfg,
                "--log-format",
                "json",
                "-vv",
                "serve",
                "--listen",
                "127.0.0.1:0",
            ],
            &d,
        )
    })
    .await
    .unwrap();
    let url = format!("{}/v1/accounts/esnek/operations/refund", daemon.url);
    let call = tokio::spawn(async move {
        http(
            "POST",
            &url,
            Some("ops-token-1"),
            Some(r#"{"order_ref":"S1","amount":100}"#),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    daemon.terminate();
    let (status, env) = call.await.unwrap();
    assert_eq!(status, 200, "{env}");
    assert_eq!(env["status"], "succeeded", "{env}");
    assert_eq!(env["provider_reference"], "SLOW1");
    let code = tokio::task::spawn_blocking(move || {
        let c = daemon.wait();
        drop(daemon);
        c
    })
    .await
    .unwrap();
    assert_eq!(code, 0);
}

#[test]
fn schemas_check_passes_on_the_committed_tree() {
    let dir = temp_dir("schemas");
    let plugins = plugin_dir(&dir);
    std::fs::write(
        dir.join("s.toml"),
        format!("[plugins]\ndirs = [{plugins:?}]\n"),
    )
    .unwrap();
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let (code, out, err) = run(
        &[
            "--config",
            "s.toml",
            "schemas",
            "--check",
            committed.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(
        code, 0,
        "schemas/ is stale; run `payops schemas --out schemas`\n{out}{err}"
    );
    // And --check notices a change.
    let copy = dir.join("copy");
    run(
        &[
            "--config",
            "s.toml",
            "schemas",
            "--out",
            copy.to_str().unwrap(),
        ],
        &dir,
    );
    std::fs::write(copy.join("esnekpos/refund.request.json"), "{}").unwrap();
    let (code, _, err) = run(
        &[
            "--config",
            "s.toml",
            "schemas",
            "--check",
            copy.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("esnekpos/refund.request.json: differs"),
        "{err}"
    );
}

#[test]
fn no_credential_in_any_recorded_output() {
    // Every process output of this suite is written here by `assert_no_secrets`
    // (which also checks it on the spot); grep them all together, including
    // earlier runs' files.
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("payops-outputs");
    let _ = std::fs::create_dir_all(&dir);
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for s in SECRETS {
            assert!(!text.contains(s), "{} contains {s:?}", e.path().display());
        }
    }
}

#[test]
fn examples_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (file, schema) in [
        ("esnekpos-refund.json", "esnekpos/refund.request.json"),
        (
            "esnekpos-marketplace-refund.json",
            "esnekpos/refund.request.json",
        ),
        (
            "esnekpos-cancel-android-pos.json",
            "esnekpos/cancel.request.json",
        ),
        (
            "esnekpos-sub-merchant-adjust.json",
            "esnekpos/sub_merchant_adjust.request.json",
        ),
        ("turkpos-refund.json", "turkpos/refund.request.json"),
        ("turkpos-cancel.json", "turkpos/cancel.request.json"),
    ] {
        let doc: Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("examples/requests").join(file)).unwrap(),
        )
        .unwrap();
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("schemas").join(schema)).unwrap(),
        )
        .unwrap();
        let v = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{file}: {errors:?}");
    }
    let dir = temp_dir("examples");
    let plugins = plugin_dir(&dir);
    std::fs::write(
        dir.join("p.toml"),
        format!("[plugins]\ndirs = [{plugins:?}]\n"),
    )
    .unwrap();
    let example = root.join("examples/payops.toml");
    let (code, out, err) = run(
        &[
            "--config",
            example.to_str().unwrap(),
            "--config",
            "p.toml",
            "config",
            "show",
        ],
        &dir,
    );
    // Shown; but its secrets files do not exist here, so it would not run:
    // exit 3, naming them, as `config check` does.
    assert_eq!(code, 3, "{err}");
    assert!(out.contains("esnek-prod"), "{out}");
    assert!(err.contains("merchant_key_file"), "{err}");
    // The secrets files do not exist here: check names the key and the file.
    let (code, _, err) = run(
        &[
            "--config",
            example.to_str().unwrap(),
            "--config",
            "p.toml",
            "config",
            "check",
        ],
        &dir,
    );
    assert_eq!(code, 3);
    assert!(
        err.contains("accounts.esnek-prod.merchant_key_file")
            && err.contains("/run/credentials/payops.service/esnek_merchant_key"),
        "{err}"
    );
}

/// The `Environment=` assignments of the shipped systemd unit.
fn unit_environment() -> Vec<(String, String)> {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/payops.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    let env: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Environment="))
        .flat_map(|v| v.split_whitespace())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.trim_matches('"').to_owned(),
                v.trim_matches('"').to_owned(),
            )
        })
        .collect();
    assert!(
        env.iter().any(|(k, _)| k == "PAYOPS_LOG"),
        "the unit sets PAYOPS_LOG: {env:?}"
    );
    env
}

#[test]
fn the_shipped_unit_environment_breaks_no_command() {
    let env = unit_environment();
    let dir = temp_dir("unit-env");
    let plugins = plugin_dir(&dir);
    std::fs::write(
        dir.join("p.toml"),
        format!(
            "[plugins]\ndirs = [{plugins:?}]\n[accounts.e]\nprovider = \"esnekpos\"\nenvironment = \"test\"\nmerchant = \"M1\"\nmerchant_key = \"{}\"\n",
            SECRETS[0]
        ),
    )
    .unwrap();
    for args in [
        &["--config", "p.toml", "providers"][..],
        &["--config", "p.toml", "config", "check"],
        &["--config", "p.toml", "config", "show"],
    ] {
        let (code, out, err) = run_env(args, &dir, &env);
        assert_eq!(code, 0, "payops {args:?} with {env:?}: {out}{err}");
    }
    // The log filter really reaches the logger: `debug` shows debug lines,
    // and `[log]` keys still come from the environment one by one.
    let mut debug = env.clone();
    debug.retain(|(k, _)| k != "PAYOPS_LOG");
    debug.push(("PAYOPS_LOG".into(), "payops=debug".into()));
    debug.push(("PAYOPS_LOG__FORMAT".into(), "json".into()));
    let (code, out, err) = run_env(&["--config", "p.toml", "config", "show"], &dir, &debug);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("format = \"json\""), "{out}");
    // A value that is not a string for a `[log]` key is still refused, naming it.
    let bad = vec![("PAYOPS_LOG__LEVEL".to_owned(), "[1]".to_owned())];
    let (code, _, err) = run_env(&["--config", "p.toml", "config", "show"], &dir, &bad);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("log.level"), "{err}");
}

#[test]
fn documented_turkpos_credential_limits_are_checked() {
    let dir = temp_dir("turk-limits");
    let plugins = plugin_dir(&dir);
    // 12 characters where Param allows 11; a GUID file that holds no GUID.
    let long_password = "tpw-12-chars";
    std::fs::write(dir.join("guid.txt"), "not-a-guid-at-all\n").unwrap();
    std::fs::write(
        dir.join("t.toml"),
        format!(
            "[plugins]\ndirs = [{plugins:?}]\n[accounts.t]\nprovider = \"turkpos\"\nenvironment = \"test\"\nclient_code = \"007\"\nclient_username = \"u\"\nclient_password = \"{long_password}\"\nguid_file = {:?}\n",
            dir.join("guid.txt")
        ),
    )
    .unwrap();
    let (code, out, err) = run(&["--config", "t.toml", "config", "check"], &dir);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("accounts.t.client_password"), "{err}");
    assert!(
        err.contains("accounts.t.guid_file") && err.contains("the file's content"),
        "{err}"
    );
    assert!(
        !err.contains(long_password) && !err.contains("not-a-guid-at-all"),
        "{err}"
    );
    // Within the limits (and a client code with a leading zero): accepted.
    std::fs::write(dir.join("guid.txt"), format!("{}\n", SECRETS[2])).unwrap();
    let fixed = std::fs::read_to_string(dir.join("t.toml"))
        .unwrap()
        .replace(long_password, "tpw-11chars");
    std::fs::write(dir.join("t.toml"), fixed).unwrap();
    let (code, out, err) = run(&["--config", "t.toml", "config", "check"], &dir);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn read_only_commands_do_not_create_a_store_and_schemas_needs_a_flag() {
    let dir = temp_dir("no-store");
    let (code, _, err) = run(&["operations", "list"], &dir);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no store at payops.db"), "{err}");
    assert!(
        !dir.join("payops.db").exists(),
        "no empty database was created"
    );
    let (code, _, err) = run(&["schemas"], &dir);
    assert_eq!(code, 2);
    assert!(err.contains("--out") && err.contains("--check"), "{err}");
    let (code, _, err) = run(&["schemas", "--check", "/nonexistent-payops"], &dir);
    assert_eq!(code, 2);
    assert!(err.contains("no such directory"), "{err}");
}

#[test]
fn config_check_names_what_is_wrong() {
    let dir = temp_dir("check-names");
    let plugins = plugin_dir(&dir);
    let base = format!(
        "[plugins]\ndirs = [{plugins:?}]\n[accounts.e]\nprovider = \"esnekpos\"\nenvironment = \"test\"\nmerchant = \"M1\"\n"
    );
    let check = |extra: &str| {
        std::fs::write(dir.join("c.toml"), format!("{base}{extra}")).unwrap();
        run(&["--config", "c.toml", "config", "check"], &dir)
    };
    // A missing credential names both ways to give it.
    let (code, _, err) = check("");
    assert_eq!(code, 3);
    assert!(
        err.contains("merchant_key") && err.contains("merchant_key_file"),
        "{err}"
    );
    assert!(!err.contains("anyOf"), "{err}");
    // Both ways at once: refused, not silently one of them.
    std::fs::write(dir.join("key.txt"), "k-87654321\n").unwrap();
    let (code, _, err) = check("merchant_key = \"k-12345678\"\nmerchant_key_file = \"key.txt\"\n");
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("exactly one of merchant_key"), "{err}");
    assert!(
        !err.contains("k-12345678") && !err.contains("k-87654321"),
        "{err}"
    );
    let key = "merchant_key = \"k-12345678\"\n";
    for (store, says) in [
        ("mysql://x", "not a store URL"),
        ("sqlite:///nonexistent-payops-dir/x.db", "does not exist"),
        ("postgres://postgres@127.0.0.1:1/none", "store.url"),
        ("sqlite::memory:", "name a file"),
    ] {
        let (code, _, err) = check(&format!("{key}[store]\nurl = \"{store}\"\n"));
        assert_eq!(code, 3, "{store}: {err}");
        assert!(err.contains(says), "{store}: {err}");
    }
    assert!(!Path::new("/nonexistent-payops-dir").exists());
    // A plugins.dirs entry that is not there fails with on_error = "fail".
    std::fs::write(
        dir.join("c.toml"),
        format!("[plugins]\ndirs = [{plugins:?}, \"/nonexistent-plugins\"]\non_error = \"fail\"\n"),
    )
    .unwrap();
    let (code, _, err) = run(&["--config", "c.toml", "config", "check"], &dir);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("/nonexistent-plugins"), "{err}");
    // The good config passes.
    let (code, out, err) = check(key);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn token_new_prints_a_token_once_and_its_stanza() {
    let dir = temp_dir("token-new");
    let out = std::process::Command::new(exe())
        .args([
            "token",
            "new",
            "--name",
            "billing",
            "--accounts",
            "esnek",
            "--operations",
            "refund",
            "query",
            "--resolve",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .expect("the token line")
        .to_owned();
    assert!(
        token.starts_with("pyo_") && token.len() == 4 + 64,
        "{token}"
    );
    let stanza = &stdout[stdout.find("[[tokens]]").unwrap()..];
    assert!(stanza.contains(&sha256_hex(&token)), "{stanza}");
    assert!(!stanza.contains(&token), "only the hash goes in the config");
    // The stanza is valid config as printed.
    let plugins = plugin_dir(&dir);
    std::fs::write(
        dir.join("t.toml"),
        format!(
            "[plugins]\ndirs = [{plugins:?}]\n[accounts.esnek]\nprovider = \"esnekpos\"\nenvironment = \"test\"\nmerchant = \"M1\"\nmerchant_key = \"{}\"\n{stanza}",
            SECRETS[0]
        ),
    )
    .unwrap();
    let (code, out, err) = run(&["--config", "t.toml", "config", "check"], &dir);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 token(s)"), "{out}");
    // Two runs never give the same token.
    let again = std::process::Command::new(exe())
        .args([
            "token",
            "new",
            "--name",
            "b",
            "--accounts",
            "*",
            "--operations",
            "*",
        ])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&again.stdout).contains(&token));
    let bad = std::process::Command::new(exe())
        .args([
            "token",
            "new",
            "--name",
            "b",
            "--accounts",
            "*",
            "--operations",
            "refnud",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// The shipped systemd unit verifies and is hardened to an exposure of 1.5
/// or better (1.2 measured; `systemd-analyze` works offline, without systemd
/// running); every credential file the example config names has its
/// `LoadCredential` (commented out where the config line is).
#[test]
fn the_shipped_systemd_unit_verifies_and_is_hardened() {
    let Ok(v) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but systemd-analyze is missing"
        );
        eprintln!("SKIPPED: systemd-analyze is not installed");
        return;
    };
    assert!(v.status.success());
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/payops.service"),
    )
    .unwrap();
    assert!(
        unit.contains("StateDirectory=payops"),
        "the store's directory is created"
    );
    assert!(
        unit.contains("LoadCredential="),
        "credentials through systemd"
    );
    let config = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/payops.toml"),
    )
    .unwrap();
    let mut named = 0;
    for line in config.lines() {
        let Some((_, rest)) = line.split_once("\"/run/credentials/payops.service/") else {
            continue;
        };
        let id = rest.trim_end_matches('"');
        let commented = line.trim_start().starts_with('#');
        let wanted = format!(
            "{}LoadCredential={id}:/etc/payops/secrets/{id}",
            if commented { "#" } else { "" }
        );
        assert!(
            unit.lines().any(|l| l == wanted),
            "{line}: the unit needs `{wanted}`"
        );
        named += 1;
    }
    assert!(named >= 5, "{named}");
    assert!(
        unit.contains("exposure 1.2"),
        "the unit's comment says what is measured"
    );
    let dir = temp_dir("unit");
    // verify checks that ExecStart exists: point it at the built binary.
    let local = unit.replace("/usr/local/bin/payops", exe().to_str().unwrap());
    let file = dir.join("payops.service");
    std::fs::write(&file, local).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&file)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("exposure level for payops.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    assert!(level <= 1.5, "exposure {level}: {text}");
}

/// The installed layout (`cargo xtask dist`): `bin/payops` finds its
/// plugins in `lib/payops/`, from any working folder; a binary without
/// plugins says where it looked and exits 3.
#[test]
fn an_installed_tree_finds_its_plugins_and_a_bare_binary_says_where_it_looked() {
    let tree = temp_dir("installed");
    let bin = tree.join("bin");
    let lib = tree.join("lib/payops");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::copy(exe(), bin.join("payops")).unwrap();
    for name in [
        "payops_esnekpos",
        "payops_iyzico",
        "payops_nestpay",
        "payops_paytr",
        "payops_sipay",
        "payops_turkpos",
    ] {
        let file = payops_conformance::cdylib_file_name(name);
        std::fs::copy(payops_conformance::built_cdylib(name), lib.join(&file)).unwrap();
    }
    let elsewhere = temp_dir("installed-cwd");
    let out = std::process::Command::new(bin.join("payops"))
        .args(["providers", "--output", "json"])
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["esnekpos", "iyzico", "nestpay", "paytr", "sipay", "turkpos"]
    );
    // Without lib/payops: exit 3, naming the places it looked.
    std::fs::remove_dir_all(&lib).unwrap();
    let out = std::process::Command::new(bin.join("payops"))
        .arg("providers")
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lib/payops") && err.contains("cargo xtask dist"),
        "{err}"
    );
}

#[test]
fn an_account_never_falls_back_to_the_test_endpoint_by_omission() {
    let dir = temp_dir("env-required");
    let plugins = plugin_dir(&dir);
    std::fs::write(
        dir.join("c.toml"),
        format!(
            "[plugins]\ndirs = [{plugins:?}]\n[accounts.prod]\nprovider = \"esnekpos\"\nmerchant = \"M1\"\nmerchant_key = \"{}\"\n",
            SECRETS[0]
        ),
    )
    .unwrap();
    let (code, _, err) = run(&["--config", "c.toml", "config", "check"], &dir);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("accounts.prod") && err.contains("environment"),
        "{err}"
    );
}

#[test]
fn environment_overrides_keep_text_and_reach_dashed_accounts() {
    let dir = temp_dir("env-text");
    let plugins = plugin_dir(&dir);
    std::fs::write(dir.join("guid.txt"), format!("{}\n", SECRETS[2])).unwrap();
    std::fs::write(
        dir.join("c.toml"),
        format!(
            "[plugins]\ndirs = [{plugins:?}]\n[accounts.turk-prod]\nprovider = \"turkpos\"\nenvironment = \"test\"\nclient_code = \"10738\"\nclient_username = \"u\"\nclient_password = \"{}\"\nguid_file = {:?}\n",
            SECRETS[1],
            dir.join("guid.txt")
        ),
    )
    .unwrap();
    let env = vec![
        (
            "PAYOPS_ACCOUNTS__TURK_PROD__CLIENT_CODE".to_owned(),
            "007".to_owned(),
        ),
        (
            "PAYOPS_ACCOUNTS__TURK_PROD__TIMEOUT_MS".to_owned(),
            "15000".to_owned(),
        ),
    ];
    let (code, out, err) = run_env(&["--config", "c.toml", "config", "check"], &dir, &env);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("1 account(s)"),
        "one account, not a second `turk_prod`: {out}"
    );
    let (code, out, err) = run_env(&["--config", "c.toml", "config", "show"], &dir, &env);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[accounts.turk-prod]"), "{out}");
    assert!(!out.contains("turk_prod"), "{out}");
    assert!(out.contains("timeout_ms = 15000"), "{out}");
    assert!(out.contains("client_code = \"007\""), "{out}");
}

#[test]
fn a_corrupt_plugin_is_named_with_the_loaders_reason_once() {
    let dir = temp_dir("corrupt-so");
    let plugins = plugin_dir(&dir);
    let bad = dir.join("extra");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join(payops_conformance::cdylib_file_name("payops_broken")),
        b"not a library",
    )
    .unwrap();
    std::fs::write(
        dir.join("c.toml"),
        format!("[plugins]\ndirs = [{plugins:?}, {bad:?}]\n"),
    )
    .unwrap();
    let (code, _, err) = run(&["--config", "c.toml", "config", "check"], &dir);
    assert_eq!(code, 0, "skipped, not fatal: {err}");
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("libpayops_broken"))
            .count(),
        1,
        "reported once: {err}"
    );
    assert!(
        err.contains("file too short") || err.contains("invalid ELF"),
        "the loader's reason: {err}"
    );
}

#[test]
fn version_names_the_plugin_protocol_and_core() {
    let dir = temp_dir("version");
    let (code, out, _) = run(&["--version"], &dir);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("payops {}", env!("CARGO_PKG_VERSION")));
    assert_eq!(
        lines[1],
        format!(
            "plugin protocol {} (loads plugins of {} to {})",
            payops_core::protocol::ABI_VERSION,
            payops_core::protocol::MIN_ABI_VERSION,
            payops_core::protocol::ABI_VERSION
        )
    );
    assert_eq!(
        lines[2],
        format!("payops-core {}", payops_core::protocol::CORE_VERSION)
    );
    let (code, out, _) = run(&["-V"], &dir);
    assert_eq!(
        (code, out.trim()),
        (0, format!("payops {}", env!("CARGO_PKG_VERSION")).as_str())
    );
}

/// The container recipe (`examples/container/Dockerfile`) cannot be built
/// here (no container engine), so its runtime stage is replayed on the
/// installed tree: the build stage's `cargo xtask dist` output is what it
/// copies to `/usr/local/`, and its ENTRYPOINT + CMD, with its ENV, run
/// from there: the plugins are found in `../lib/payops` and the daemon
/// listens, with the store where the ENV puts it.
#[test]
fn the_container_recipe_runs_the_installed_tree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let recipe = std::fs::read_to_string(root.join("examples/container/Dockerfile")).unwrap();
    let xtask = std::fs::read_to_string(root.join("xtask/src/main.rs")).unwrap();
    assert!(recipe.contains("RUN cargo xtask dist\n"));
    assert!(xtask.contains(r#"root().join("target/dist/payops")"#));
    assert!(recipe.contains("COPY --from=build /src/target/dist/payops/ /usr/local/\n"));
    let json_line = |key: &str| -> Vec<String> {
        let line = recipe
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("{key} in the recipe"));
        serde_json::from_str(line.trim()).unwrap()
    };
    let entrypoint = json_line("ENTRYPOINT ");
    let cmd = json_line("CMD ");
    let env: Vec<(String, String)> = recipe
        .lines()
        .filter_map(|l| l.strip_prefix("ENV "))
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    assert_eq!(entrypoint, ["/usr/local/bin/payops"]);

    // The image's filesystem, under a temporary root.
    let fs = temp_dir("container");
    let local = fs.join("usr/local");
    std::fs::create_dir_all(local.join("bin")).unwrap();
    std::fs::create_dir_all(local.join("lib/payops")).unwrap();
    std::fs::copy(exe(), local.join("bin/payops")).unwrap();
    for name in [
        "payops_esnekpos",
        "payops_iyzico",
        "payops_nestpay",
        "payops_paytr",
        "payops_sipay",
        "payops_turkpos",
    ] {
        let file = payops_conformance::cdylib_file_name(name);
        std::fs::copy(
            payops_conformance::built_cdylib(name),
            local.join("lib/payops").join(&file),
        )
        .unwrap();
    }
    std::fs::create_dir_all(fs.join("etc/payops")).unwrap();
    std::fs::create_dir_all(fs.join("var/lib/payops")).unwrap();
    std::fs::write(
        fs.join("etc/payops/payops.toml"),
        "[[tokens]]\nname = \"ops\"\ntoken_sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\naccounts = [\"*\"]\noperations = [\"*\"]\n",
    )
    .unwrap();
    let under_root = |arg: &str| -> String {
        if let Some(rel) = arg.strip_prefix('/') {
            fs.join(rel).to_string_lossy().into_owned()
        } else if arg.contains(":///") {
            let (scheme, path) = arg.split_once(":///").unwrap();
            format!("{scheme}://{}", fs.join(path).display())
        } else {
            arg.replace("0.0.0.0:8080", "127.0.0.1:0")
        }
    };
    let program = under_root(&entrypoint[0]);
    let args: Vec<String> = cmd.iter().map(|a| under_root(a)).collect();
    let mut child = std::process::Command::new(&program)
        .args(&args)
        .envs(env.iter().map(|(k, v)| (k.clone(), under_root(v))))
        .env_remove("PAYOPS_LOG")
        // Not the store's folder: the store must be where the ENV says.
        .current_dir(&fs)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    if let Some(Ok(l)) = lines.next() {
        out.push_str(&l);
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        out.starts_with("payops listening on http://127.0.0.1:"),
        "{status}: {out}\n{err}"
    );
    assert!(fs.join("var/lib/payops/payops.db").exists(), "{err}");
    assert!(!fs.join("payops.db").exists());
    // The same tree lists its three plugins from ../lib/payops.
    let p = std::process::Command::new(&program)
        .args(["providers"])
        .current_dir(fs.join("var/lib/payops"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&p.stdout);
    assert!(p.status.success(), "{text}");
    for id in ["esnekpos", "iyzico", "nestpay", "paytr", "sipay", "turkpos"] {
        assert!(text.contains(id), "{text}");
    }
}

/// The OpenAPI document is served as generated, the schemas and it are
/// readable cross-origin from the configured origins only, and the index
/// and the document are JSON, not schemas.
#[tokio::test(flavor = "multi_thread")]
async fn openapi_and_schemas_are_served_with_cors() {
    use payops_core::{HttpRequest, HttpTransport};
    let dir = temp_dir("openapi");
    let plugins = plugin_dir(&dir);
    std::fs::write(
        dir.join("o.toml"),
        format!("[plugins]\ndirs = [{plugins:?}]\n[server]\ncors_origins = [\"https://console.example\"]\n[store]\nurl = \"sqlite://{}\"\n", dir.join("o.db").display()),
    )
    .unwrap();
    let d = dir.clone();
    let daemon = tokio::task::spawn_blocking(move || {
        Daemon::start(
            "openapi",
            &["--config", "o.toml", "serve", "--listen", "127.0.0.1:0"],
            &d,
        )
    })
    .await
    .unwrap();
    let t = payops_transport::ReqwestTransport::new().unwrap();
    let get = |path: &str, origin: &str| {
        HttpRequest::get(format!("{}{path}", daemon.url)).with_header("Origin", origin)
    };
    let r = t
        .send(get("/v1/openapi.json", "https://console.example"))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://console.example")
    );
    let served: Value = serde_json::from_slice(&r.body).unwrap();
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/openapi.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        served, committed,
        "the served document is the committed one"
    );
    assert_eq!(served["openapi"], "3.1.0");
    let r = t
        .send(get(
            "/v1/schemas/esnekpos/refund.request.json",
            "https://elsewhere.example",
        ))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/schema+json"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        None,
        "another origin"
    );
    let r = t
        .send(get("/v1/schemas/index.json", "https://console.example"))
        .await
        .unwrap();
    assert_eq!(r.header("content-type"), Some("application/json"));
    drop(daemon);
}

/// The `NAME_file` alternative is the host's, derived for every credential
/// of every provider: an iyzico account whose `secret_key` comes from a
/// file (iyzico's own schema declares no such field) passes `config check`
/// and signs a refund the simulator accepts.
#[tokio::test(flavor = "multi_thread")]
async fn an_iyzico_secret_key_from_a_file_checks_and_refunds() {
    let api_key = "iyz-file-api-Kq7Wd2";
    let secret = "iyz-file-secret-Zp4Rt8Nm1Vx6";
    let mut sim = payops_iyzico::sim::IyzicoSim::demo();
    sim.seed(&json!({
        "merchants": [{"api_key": api_key, "secret_key": secret}],
        "payments": [{"payment_id": "F-1", "items": [{"payment_transaction_id": "F-1-1", "paid": 5000}]}]
    }))
    .unwrap();
    let server = payops_transport::SimServer::start(Box::new(sim), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = temp_dir("iyzico-file");
    let plugins = plugin_dir(&dir);
    std::fs::write(dir.join("iyzico-secret"), format!("{secret}\n")).unwrap();
    let cfg = format!(
        "[plugins]\ndirs = [{plugins:?}]\n[accounts.iyz]\nprovider = \"iyzico\"\nbase_url = \"{}\"\napi_key = \"{api_key}\"\nsecret_key_file = {:?}\n",
        server.url(),
        dir.join("iyzico-secret")
    );
    std::fs::write(dir.join("c.toml"), cfg).unwrap();
    let d = dir.clone();
    let (check, refund, both) = tokio::task::spawn_blocking(move || {
        let check = run(&["--config", "c.toml", "config", "check"], &d);
        let refund = run(
            &[
                "--config",
                "c.toml",
                "refund",
                "--account",
                "iyz",
                "--json",
                r#"{"order_ref":"F-1","payment_transaction_id":"F-1-1","amount":1250}"#,
                "--output",
                "json",
            ],
            &d,
        );
        // Both ways at once is refused, naming the two keys.
        let mut both_cfg = std::fs::read_to_string(d.join("c.toml")).unwrap();
        both_cfg.push_str(&format!("secret_key = \"{secret}\"\n"));
        std::fs::write(d.join("both.toml"), both_cfg).unwrap();
        let both = run(&["--config", "both.toml", "config", "check"], &d);
        (check, refund, both)
    })
    .await
    .unwrap();
    assert_eq!(check.0, 0, "{}{}", check.1, check.2);
    assert!(check.1.contains("1 account(s)"), "{}", check.1);
    assert_eq!(refund.0, 0, "{}{}", refund.1, refund.2);
    let envelope: Value = serde_json::from_str(&refund.1).unwrap();
    assert_eq!(envelope["status"], "succeeded", "{envelope}");
    assert_eq!(envelope["details"]["amount"], 1250, "{envelope}");
    assert_eq!(both.0, 3, "{}", both.2);
    assert!(
        both.2.contains("secret_key") && both.2.contains("secret_key_file"),
        "{}",
        both.2
    );
    for (_, out, err) in [&check, &refund, &both] {
        for piece in [&secret[..8], &secret[8..16], &secret[16..]] {
            assert!(!out.contains(piece) && !err.contains(piece), "{out}{err}");
        }
    }
}

/// Every route of the API listener, from the table the router is built
/// from: each bearer route refuses a request without a token, or with an
/// unknown one (401); each public one (health, readiness, metrics with its
/// own token, the schemas and OpenAPI document, the console's files) is
/// there without a token. The callback listener's route is public by its
/// signed URL.
#[tokio::test(flavor = "multi_thread")]
async fn every_route_but_the_public_ones_needs_a_token() {
    use payops_host::server::{Access, route_table};
    let dir = temp_dir("routes");
    let cfg = write_config(&dir, "http://127.0.0.1:9", "http://127.0.0.1:9");
    let d = dir.clone();
    let daemon = tokio::task::spawn_blocking(move || {
        Daemon::start(
            "routes",
            &["--config", &cfg, "sandbox", "--listen", "127.0.0.1:0"],
            &d,
        )
    })
    .await
    .unwrap();
    let table = route_table();
    let signed_in = table
        .iter()
        .filter(|r| r.access == Access::SignedIn)
        .count();
    assert_eq!(signed_in, 24, "{table:#?}");
    for route in &table {
        let path = route
            .path
            .replace("{account}", "esnek-demo")
            .replace("{operation}", "refund")
            .replace("{id}", "op_0190000000007000800000000000000a")
            .replace("{actor}", "user:someone")
            .replace("{action}", "disable")
            .replace("{decision}", "approve")
            .replace("{*path}", "index.json");
        let url = format!("{}{path}", daemon.url);
        let body = (route.method == "POST").then_some("{}");
        match route.access {
            Access::SignedIn => {
                for token in [None, Some("not-a-known-token")] {
                    let (status, v) = http(route.method, &url, token, body).await;
                    assert_eq!(status, 401, "{} {path} with {token:?}: {v}", route.method);
                    assert_eq!(v["error"]["code"], "unauthorized", "{v}");
                }
                // A session cookie nobody was given is no session.
                let (status, v) = http_with(
                    route.method,
                    &url,
                    &[("Cookie", "payops_session=0123456789abcdef")],
                    body,
                )
                .await;
                assert_eq!(
                    status, 401,
                    "{} {path} with a made-up session: {v}",
                    route.method
                );
            }
            Access::Public(why) => {
                let (status, v) = http(route.method, &url, None, body).await;
                // (A served route may answer 404 of its own: the OpenID
                // routes without `[auth.oidc]`; the router's is "no such
                // route".)
                assert!(
                    status != 405 && !(status == 404 && v["error"]["message"] == "no such route"),
                    "{} {path} ({why}) is not served: {status} {v}",
                    route.method
                );
            }
        }
    }
    for route in [
        payops_host::server::callbacks::ROUTE,
        payops_host::server::callbacks::ACCOUNT_ROUTE,
    ] {
        assert!(matches!(route.access, Access::Public(_)));
    }
}

/// A one-shot command whose stdout is closed (`payops providers | head -0`)
/// ends quietly: no panic, no "Broken pipe" message, no exit 101. (Before:
/// "failed printing to stdout: Broken pipe", exit 101.)
#[test]
fn a_closed_stdout_ends_a_one_shot_command_quietly() {
    let dir = temp_dir("closed-stdout");
    let plugins = plugin_dir(&dir);
    std::fs::write(
        dir.join("p.toml"),
        format!("[plugins]\ndirs = [{plugins:?}]\n"),
    )
    .unwrap();
    for args in [
        vec!["--config", "p.toml", "providers"],
        vec!["--config", "p.toml", "providers", "--output", "json"],
    ] {
        let mut child = std::process::Command::new(exe())
            .args(&args)
            .current_dir(&dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before the command writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        // Ended by SIGPIPE (as `cat` is), or done before it wrote.
        use std::os::unix::process::ExitStatusExt;
        assert!(
            out.status.signal() == Some(13) || out.status.success(),
            "{args:?}: {:?} {err}",
            out.status
        );
    }
}

/// The `curl` the sandbox prints, run as printed, twice: one refund (the
/// second answer is the first's, replayed), never two. (Before: no
/// `Idempotency-Key` in it, so pasting it twice refunded twice.)
#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_curl_pasted_twice_refunds_once() {
    assert!(
        std::process::Command::new("curl")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "curl is needed to run the sandbox's printed command"
    );
    let (daemon, token) = sandbox("sandbox-curl", &[]).await;
    let banner = daemon.stdout.lock().unwrap().clone();
    let command: String = banner
        .lines()
        .skip_while(|l| !l.starts_with("try"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(command.contains("Idempotency-Key"), "{banner}");
    let run = move || {
        let out = std::process::Command::new("sh")
            .args(["-c", &command])
            .output()
            .unwrap();
        assert!(out.status.success(), "{command}");
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let (first, second) = tokio::task::spawn_blocking(move || (run(), run()))
        .await
        .unwrap();
    assert_eq!(first["status"], "succeeded", "{first}");
    assert_eq!(first["operation_id"], second["operation_id"], "{second}");
    let (s, v) = http(
        "GET",
        &format!("{}/v1/operations?account=esnek-demo", daemon.url),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let refunds = v["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["operation"] == "refund")
        .count();
    assert_eq!(refunds, 1, "{v}");
}

/// Formats in account schemas are checked (`base_url` is a `uri`), and
/// `config show` of a config that would not run exits 3 after printing it.
/// (Before: `base_url = "not a url"` passed `config check`, and `config
/// show` exited 0 on an unknown provider.)
#[test]
fn config_check_validates_formats_and_show_fails_on_an_invalid_config() {
    let dir = temp_dir("config-formats");
    let plugins = plugin_dir(&dir);
    let head = format!("[plugins]\ndirs = [{plugins:?}]\n");
    std::fs::write(
        dir.join("url.toml"),
        format!("{head}[accounts.x]\nprovider = \"esnekpos\"\nmerchant = \"M\"\nmerchant_key = \"k-Tq8Wz3Xn\"\nbase_url = \"not a url\"\n"),
    )
    .unwrap();
    let (code, _, err) = run(&["--config", "url.toml", "config", "check"], &dir);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("accounts.x.base_url") && err.contains("uri"),
        "{err}"
    );
    std::fs::write(
        dir.join("provider.toml"),
        format!("{head}[accounts.x]\nprovider = \"nope\"\n"),
    )
    .unwrap();
    let (code, out, err) = run(&["--config", "provider.toml", "config", "show"], &dir);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("[accounts.x]"), "still printed: {out}");
    assert!(err.contains("\"nope\" is not a loaded provider"), "{err}");
}

/// The actor of a CLI command when neither `$USER` nor `$LOGNAME` is set
/// (a systemd unit, a container, cron) is the process's user's name, not
/// `cli:unknown` (before).
#[test]
fn the_cli_actor_without_user_is_the_uids_name() {
    let dir = temp_dir("cli-actor");
    let cfg = write_config(&dir, "http://127.0.0.1:9", "http://127.0.0.1:9");
    let bare = |args: &[&str]| {
        let out = std::process::Command::new(exe())
            .args(args)
            .current_dir(&dir)
            .env_remove("USER")
            .env_remove("LOGNAME")
            .env_remove("PAYOPS_LOG")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The provider is unreachable: a refusal, recorded with its actor.
    let (code, _, err) = bare(&[
        "--config",
        &cfg,
        "refund",
        "--account",
        "esnek",
        "--json",
        r#"{"order_ref": "A1", "amount": 500}"#,
    ]);
    assert_ne!(code, Some(0), "{err}");
    let (code, out, err) = bare(&["--config", &cfg, "refusals", "list", "--output", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let me = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let me = String::from_utf8_lossy(&me.stdout).trim().to_owned();
    assert!(!me.is_empty());
    assert!(
        out.contains(&format!("\"cli:{me}\"")) && !out.contains("cli:unknown"),
        "{out}"
    );
}

/// `config check` warns about a credential short or regular enough that
/// its blanked pieces may collide with ordinary text or ids (and still
/// passes); a long random one draws no warning.
#[test]
fn config_check_warns_about_weak_credentials() {
    let dir = temp_dir("weak-credentials");
    let plugins = plugin_dir(&dir);
    let head = format!("[plugins]\ndirs = [{plugins:?}]\n");
    for (key, warned) in [
        ("12345678901234", Some("digits only")),
        ("Kq8", Some("3 characters")),
        ("Zq8vT2kWm4Rx9Lp3Hs6N", None),
    ] {
        std::fs::write(
            dir.join("w.toml"),
            format!("{head}[accounts.x]\nprovider = \"esnekpos\"\nenvironment = \"test\"\nmerchant = \"M\"\nmerchant_key = \"{key}\"\n"),
        )
        .unwrap();
        let (code, _, err) = run(&["--config", "w.toml", "config", "check"], &dir);
        assert_eq!(code, 0, "{err}");
        match warned {
            Some(why) => assert!(
                err.contains("accounts.x.merchant_key") && err.contains(why),
                "{err}"
            ),
            None => assert!(!err.contains("warning"), "{err}"),
        }
        assert!(
            !err.contains(key),
            "the value itself is never printed: {err}"
        );
    }
}

/// `config check` gives each account of a provider that posts to one URL
/// per merchant (Sipay) the URL to set in its panel, the one the daemon
/// takes; without `server.public_url` it warns that such posts are not
/// taken. Other accounts get no URL.
#[test]
fn config_check_gives_an_account_callback_url_to_sipay_accounts() {
    let dir = temp_dir("account-callback-url");
    let plugins = plugin_dir(&dir);
    let accounts = "[accounts.sipay-main]\nprovider = \"sipay\"\napp_id = \"app1\"\napp_secret = \"Zq8vT2kWm4Rx9Lp3Hs6N\"\nmerchant_key = \"Kd7vT2kWm4Rx9Lp3Hs6Q\"\n[accounts.nest]\nprovider = \"nestpay\"\nbank = \"test\"\nclient_id = \"100\"\nname = \"API\"\npassword = \"Pw8vT2kWm4Rx9Lp3Hs6N\"\n";
    let server = "[server]\npublic_url = \"https://cb.example.com/\"\ncallback_secret = \"cbsec_0123456789abcdef\"\n";
    std::fs::write(
        dir.join("c.toml"),
        format!("[plugins]\ndirs = [{plugins:?}]\n{server}{accounts}"),
    )
    .unwrap();
    let (code, out, err) = run(&["--config", "c.toml", "config", "check"], &dir);
    assert_eq!(code, 0, "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("accounts.sipay-main: "))
        .unwrap_or_else(|| panic!("{out}"));
    let url = line.rsplit_once(": ").unwrap().1;
    let cb = payops_host::signing::Callbacks {
        public_url: "https://cb.example.com".into(),
        secrets: vec!["cbsec_0123456789abcdef".into()],
    };
    assert_eq!(url, cb.account_url("sipay", "sipay-main"));
    assert!(!out.contains("accounts.nest"), "{out}");
    std::fs::write(
        dir.join("c.toml"),
        format!("[plugins]\ndirs = [{plugins:?}]\n{accounts}"),
    )
    .unwrap();
    let (code, out, err) = run(&["--config", "c.toml", "config", "check"], &dir);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("/v1/callbacks/"), "{out}");
    assert!(
        err.contains("accounts.sipay-main") && err.contains("server.public_url"),
        "{err}"
    );
    // A public URL without the secret that signs the URLs: `serve` refuses
    // it, and so does `config check`. (Before: it passed the check.)
    std::fs::write(
        dir.join("c.toml"),
        format!("[plugins]\ndirs = [{plugins:?}]\n[server]\npublic_url = \"https://cb.example.com/\"\n{accounts}"),
    )
    .unwrap();
    let (code, out, err) = run(&["--config", "c.toml", "config", "check"], &dir);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("callback_secret"), "{err}");
}

/// `--config other.toml` in a folder with a `payops.toml`: both are read
/// (as before: dropping it would change existing setups), but the command
/// now says so, and `config check|show` name every file read. (Before: an
/// error named a key from a file the operator never named, and nothing
/// said it was read.)
#[test]
fn a_payops_toml_read_beside_config_is_named() {
    let dir = temp_dir("config-files");
    let plugins = plugin_dir(&dir);
    std::fs::write(
        dir.join("payops.toml"),
        format!("[plugins]\ndirs = [{plugins:?}]\n[server]\nlisten = \"127.0.0.1:9999\"\n"),
    )
    .unwrap();
    std::fs::write(dir.join("other.toml"), "[store]\nwait_secs = 7\n").unwrap();
    let (code, _, err) = run(&["--config", "other.toml", "config", "check"], &dir);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: also read payops.toml of the working folder, before other.toml"),
        "{err}"
    );
    assert!(
        err.contains("config read from: payops.toml, other.toml"),
        "{err}"
    );
    // Named, or alone: no warning.
    for args in [
        vec![
            "--config",
            "payops.toml",
            "--config",
            "other.toml",
            "config",
            "show",
        ],
        vec!["config", "show"],
    ] {
        let (code, _, err) = run(&args, &dir);
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("warning"), "{args:?}: {err}");
        assert!(err.contains("config read from: payops.toml"), "{err}");
    }
}

/// Every `curl` command of operators.md that names the sandbox's demo
/// accounts (or none), run as written against `payops sandbox` with the
/// docs' `$TOKEN` and `$URL`: each answers, and none with an error. (Before:
/// three of the API section's four POSTs had no `Content-Type` and got 415.)
#[tokio::test(flavor = "multi_thread")]
async fn the_curl_commands_of_operators_md_run_as_written() {
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/operators.md"),
    )
    .unwrap();
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut current = String::new();
    for line in docs.lines() {
        if line.trim_start().starts_with("```") {
            in_sh = line.trim() == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        if current.is_empty() && !line.starts_with("curl ") {
            continue;
        }
        current.push_str(line.trim_end_matches('\\'));
        current.push(' ');
        if !line.ends_with('\\') {
            commands.push(std::mem::take(&mut current));
        }
    }
    // Placeholders (`...`, `…`) and production accounts are not runnable.
    let runnable: Vec<String> = commands
        .into_iter()
        .filter(|c| !c.contains("...") && !c.contains('…') && !c.contains("-prod"))
        .collect();
    assert!(runnable.len() >= 9, "{runnable:?}");
    let (daemon, token) = sandbox("docs-curl", &[]).await;
    let url = daemon.url.clone();
    tokio::task::spawn_blocking(move || {
        for c in &runnable {
            let out = std::process::Command::new("sh")
                .args(["-c", c])
                .env("TOKEN", &token)
                .env("URL", &url)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && !text.trim().is_empty(),
                "{c}: {text}"
            );
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                assert!(v.get("error").is_none(), "{c}: {v}");
                if let Some(s) = v.get("status") {
                    assert_eq!(s, "succeeded", "{c}: {v}");
                }
            }
        }
    })
    .await
    .unwrap();
}

/// `payops sandbox --sim-ports P` puts the simulators on 127.0.0.1:P and the
/// next ports (before: always ports the system picked), and an operation
/// goes through them.
#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_simulators_take_the_ports_asked_for() {
    // Six consecutive free ports.
    let base = (20_000..60_000u16)
        .step_by(7)
        .skip(usize::try_from(std::process::id() % 3000).unwrap())
        .find(|b| (0..6).all(|i| std::net::TcpListener::bind(("127.0.0.1", b + i)).is_ok()))
        .unwrap();
    let (daemon, token) = sandbox("sandbox-ports", &["--sim-ports", &base.to_string()]).await;
    let (s, v) = http(
        "POST",
        &format!("{}/v1/accounts/esnek-demo/operations/query", daemon.url),
        Some(&token),
        Some(r#"{"order_ref":"DEMO-1001"}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    let err = daemon.stderr.lock().unwrap().clone();
    for i in 0..6u16 {
        assert!(
            err.contains(&format!("http://127.0.0.1:{}", base + i)),
            "simulator on port {}: {err}",
            base + i
        );
    }
}

/// A refund of a mistyped order: EsnekPOS documents no answer that proves
/// an order does not exist, so it stays `unknown`; reconciling it says the
/// provider's own words from both the query and the refund's answer (before:
/// "inquiry failed: Sipariş bulunamadı." alone).
#[tokio::test(flavor = "multi_thread")]
async fn reconciling_a_mistyped_order_shows_the_providers_words() {
    let (daemon, token) = sandbox("mistyped", &[]).await;
    let (s, v) = http(
        "POST",
        &format!("{}/v1/accounts/esnek-demo/operations/refund", daemon.url),
        Some(&token),
        Some(r#"{"order_ref":"NOPE-1","amount":100}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("unknown")), "{v}");
    let id = v["operation_id"].as_str().unwrap();
    let (s, r) = http(
        "POST",
        &format!("{}/v1/operations/{id}/reconcile", daemon.url),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert!(r["to"].is_null(), "stays unknown: {r}");
    let how = r["how"].as_str().unwrap();
    assert!(
        how.contains("the provider said 100 \"Sipariş bulunamadı.\"")
            && how.contains("the refund itself was answered 100 \"Sipariş bulunamadı.\""),
        "{how}"
    );
}

/// Every `payops` command of the docs parses as written: each is run by
/// `sh` (its quoting, comments and redirections as a reader's shell would
/// take them) through a `payops` that appends `--help`, so the CLI's parser
/// checks every subcommand, flag and value the docs show without running
/// what needs production accounts (`/etc/payops/…`, `esnek-prod`). A doc
/// naming a flag or a value the CLI does not take fails here.
#[test]
fn every_payops_command_of_the_docs_parses_as_written() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut commands = Vec::new();
    for doc in [
        "README.md",
        "docs/operators.md",
        "docs/reliability.md",
        "docs/performance.md",
    ] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let mut in_sh = false;
        let mut current = String::new();
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_sh = matches!(line.trim(), "```sh" | "```bash");
                continue;
            }
            if !in_sh || (current.is_empty() && !line.starts_with("payops ")) {
                continue;
            }
            current.push_str(line.trim_end_matches('\\'));
            current.push(' ');
            if !line.ends_with('\\') {
                commands.push((doc, std::mem::take(&mut current)));
            }
        }
    }
    assert!(commands.len() >= 30, "{commands:?}");
    let dir = temp_dir("docs-payops");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let wrapper = bin.join("payops");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {:?} \"$@\" --help\n",
            exe().display().to_string()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (doc, c) in &commands {
        let out = std::process::Command::new("sh")
            .args(["-c", c])
            .current_dir(&dir)
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{doc}: `{c}` does not parse: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The wrapper is what ran: a flag the CLI does not take fails.
    let out = std::process::Command::new("sh")
        .args(["-c", "payops operations list --colour red"])
        .current_dir(&dir)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// At `info` in JSON, a refund on an order the guard has not read writes
/// one line per operation outcome (the guard's query, the refund) and one
/// for the request: no `operation started`, no provider wire lines, no
/// span list, codes as text (`"0"`, not `Some("0")`).
#[tokio::test(flavor = "multi_thread")]
async fn info_logs_are_one_line_per_outcome_and_per_request() {
    let (daemon, token) = sandbox("info-logs", &["--log-format", "json"]).await;
    let before = daemon.stderr.lock().unwrap().len();
    let (s, v) = http_with(
        "POST",
        &format!("{}/v1/accounts/esnek-demo/operations/refund", daemon.url),
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Idempotency-Key", "info-logs-1"),
        ],
        Some(r#"{"order_ref": "DEMO-1001", "amount": 100}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("succeeded")), "{v}");
    // The request's own line is written as its response goes out.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let logs = daemon.stderr.lock().unwrap()[before..].to_owned();
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let messages: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "operation finished",
            "operation finished",
            "finished processing request"
        ],
        "{logs}"
    );
    assert!(lines.iter().all(|l| l.get("spans").is_none()), "{logs}");
    assert_eq!(lines[1]["span"]["operation"], "refund", "{logs}");
    assert_eq!(lines[1]["fields"]["provider_code"], "0", "{logs}");
    assert!(lines[2]["span"]["request_id"].is_string(), "{logs}");
}
