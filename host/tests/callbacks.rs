//! Provider callbacks in, through the real binary: an Android POS cancel is
//! `pending`; payops gives EsnekPOS a callback URL of its own; a forged
//! callback (wrong token, or a SUCCESS the query does not confirm) changes
//! nothing and is recorded; the device's real result settles the operation
//! through the query, without anyone running reconcile.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use payops_core::Simulator;
use serde_json::{Value, json};

const TOKEN: &str = "callbacks-token-0123456789";
const CALLBACK_SECRET: &str = "cbsec_7Rw2Kq9Zt4Lm8Vx";

fn config(dir: &Path, esnek: &str, callback_port: u16) -> String {
    TestConfig::new(dir)
        .with(|c| {
            c.server.public_url = Some(format!("http://127.0.0.1:{callback_port}"));
            c.server.callback_listen = Some(format!("127.0.0.1:{callback_port}"));
            c.server.callback_secret = Some(CALLBACK_SECRET.into());
        })
        .store(&format!("sqlite://{}", dir.join("payops.db").display()))
        .token("ops", TOKEN, &["*"], &["*"])
        .account(
            "esnek",
            json!({"provider": "esnekpos", "base_url": esnek, "timeout_ms": 5000, "merchant": "M1",
                   "merchant_key": SECRETS[0], "sub_merchant_sign": "reduce_is_negative"}),
        )
        .write(&dir.join("callbacks.toml"))
        .display()
        .to_string()
}

async fn post_form(url: &str, body: &str) -> u16 {
    use payops_core::{HttpRequest, HttpTransport};
    let t = payops_transport::ReqwestTransport::new().unwrap();
    let mut r = HttpRequest::post(url, "application/x-www-form-urlencoded", body.to_owned());
    r.timeout_ms = Some(10_000);
    t.send(r).await.unwrap().status
}

async fn operation(url: &str, id: &str) -> Value {
    http(
        "GET",
        &format!("{url}/v1/operations/{id}"),
        Some(TOKEN),
        None,
    )
    .await
    .1
}

/// The operation `id` (read with `token`) once `done` holds for it, or as
/// it stands after `secs`.
async fn polled(
    url: &str,
    token: &str,
    id: &str,
    secs: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let (_, o) = http(
            "GET",
            &format!("{url}/v1/operations/{id}"),
            Some(token),
            None,
        )
        .await;
        if done(&o) || started.elapsed() > Duration::from_secs(secs) {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn succeeded(o: &Value) -> bool {
    o["operation"]["state"] == "succeeded"
}

#[tokio::test(flavor = "multi_thread")]
async fn an_android_pos_cancel_settles_from_its_callback_and_forgeries_change_nothing() {
    let mut e = payops_esnekpos::sim::EsnekSimulator::empty();
    e.seed(&json!({"merchants": [{"merchant": "M1", "merchant_key": SECRETS[0]}],
                    "payments": [{"order_ref": "P-POS", "amount": 15000, "channel": "android_pos"}]}))
        .unwrap();
    let sim = payops_transport::SimServer::start(Box::new(e), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = temp_dir("callbacks");
    let port = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = config(&dir, &sim.url(), port);
    let (code, out, _) = run(&["--config", &cfg, "config", "show"], &dir);
    assert_eq!(code, 0);
    assert!(!out.contains(CALLBACK_SECRET), "{out}");
    let (c, d) = (cfg.clone(), dir.clone());
    let daemon = tokio::task::spawn_blocking(move || {
        Daemon::start(
            "callbacks",
            &["--config", &c, "serve", "--listen", "127.0.0.1:0"],
            &d,
        )
    })
    .await
    .unwrap();

    // A back_url that is not a URL is refused before anything is sent
    // (the schema says `format: uri`; before, it was accepted and sent).
    let (s, v) = http(
        "POST",
        &format!("{}/v1/accounts/esnek/operations/cancel", daemon.url),
        Some(TOKEN),
        Some(r#"{"order_ref":"P-POS","channel":"android_pos","back_url":"not a url"}"#),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["details"][0]["path"], "/back_url", "{v}");
    assert!(
        sim.with_sim(|s| s.state())["devices"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "nothing reached EsnekPOS"
    );

    // No back_url: payops gives its own.
    let (s, v) = http(
        "POST",
        &format!("{}/v1/accounts/esnek/operations/cancel", daemon.url),
        Some(TOKEN),
        Some(r#"{"order_ref":"P-POS","channel":"android_pos"}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("pending")), "{v}");
    let id = v["operation_id"].as_str().unwrap().to_owned();
    let state = sim.with_sim(|s| s.state());
    let back_url = state["devices"][0]["back_url"].as_str().unwrap().to_owned();
    let prefix = format!("http://127.0.0.1:{port}/v1/callbacks/esnekpos/{id}/");
    assert!(back_url.starts_with(&prefix), "{back_url}");
    // The stored request is the caller's: no URL, no token in it.
    let op = operation(&daemon.url, &id).await;
    assert!(op["operation"]["request"].get("back_url").is_none(), "{op}");

    // Forged: a wrong token. Refused, recorded, nothing changes; 300 of
    // them leave 4 events on the operation (3 and a note), not 300 (before:
    // one 4 KB event each).
    let wrong = format!("{prefix}{}", "0".repeat(64));
    let padding = "x".repeat(3000);
    for _ in 0..300 {
        assert_eq!(
            post_form(&wrong, &format!("RETURN_CODE=0&STATUS=SUCCESS&P={padding}")).await,
            403
        );
    }
    let refused = operation(&daemon.url, &id).await["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "callback_refused")
        .count();
    assert_eq!(refused, 4, "bounded");
    // Forged: the right URL, a SUCCESS the provider's query does not confirm.
    assert_eq!(
        post_form(
            &back_url,
            "RETURN_CODE=0&STATUS=SUCCESS&ORDER_REF_NUMBER=P-POS"
        )
        .await,
        202
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let op = operation(&daemon.url, &id).await;
    assert_eq!(
        op["operation"]["state"], "pending",
        "a callback is never trusted alone: {op}"
    );
    let kinds: Vec<&str> = op["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"callback_refused") && kinds.contains(&"callback"),
        "{kinds:?}"
    );

    // The device carries the cancel out; the host delivers its post.
    let later = payops_core::chrono::Utc::now().with_timezone(&payops_core::turkey_offset())
        + payops_core::chrono::Duration::seconds(5);
    sim.set_clock(move || later);
    let posts = sim.tick();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].url, back_url);
    let body = String::from_utf8_lossy(&posts[0].body).into_owned();
    assert_eq!(post_form(&back_url, &body).await, 202);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut op = operation(&daemon.url, &id).await;
    while op["operation"]["state"] != "succeeded" && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        op = operation(&daemon.url, &id).await;
    }
    assert_eq!(
        op["operation"]["state"], "succeeded",
        "settled by the query after the callback: {op}"
    );
    assert_eq!(op["operation"]["envelope"]["status"], "succeeded");
    // A callback for a settled operation: recorded, no effect.
    assert_eq!(post_form(&back_url, &body).await, 200);
    // Too large a body is refused before anything is read into the store.
    assert_eq!(post_form(&back_url, &"x".repeat(20_000)).await, 413);
    // An unknown operation.
    let unknown = format!(
        "http://127.0.0.1:{port}/v1/callbacks/esnekpos/op_nope/{}",
        "0".repeat(64)
    );
    assert_eq!(post_form(&unknown, "x=1").await, 404);
    // The callback listener serves callbacks only.
    let (s, _) = http(
        "GET",
        &format!("http://127.0.0.1:{port}/v1/accounts"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(s, 404);
    let logs = daemon.stderr.lock().unwrap().clone();
    assert!(
        !logs.contains(back_url.rsplit('/').next().unwrap()),
        "the token is never logged"
    );
    drop(daemon);
}

/// A refund recorded with `SYNC_WITH_POS=false` is `pending`; when the
/// provider completes it (the simulator's operations desk), the daemon's
/// periodic pass settles it through the same reconciliation, without
/// anyone running reconcile. Undetermined looks back off per operation.
#[tokio::test(flavor = "multi_thread")]
async fn a_pending_refund_settles_when_the_provider_completes_it() {
    let dir = temp_dir("pending-settles");
    let cfg = dir.join("sandbox.toml");
    let plugins = plugin_dir(&dir);
    std::fs::write(
        &cfg,
        format!("[plugins]\ndirs = [{plugins:?}]\n[store]\nreconcile_min_age_secs = 0\nreconcile_first_secs = 1\nreconcile_interval_secs = 4\n"),
    )
    .unwrap();
    let (daemon, token) = start_sandbox("pending", &dir, &cfg.display().to_string(), &[]).await;
    let (s, v) = http(
        "POST",
        &format!("{}/v1/accounts/esnek-demo/operations/refund", daemon.url),
        Some(&token),
        Some(r#"{"order_ref":"DEMO-1002","amount":700,"sync_with_pos":false}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("pending")), "{v}");
    let id = v["operation_id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let op = polled(&daemon.url, &token, &id, 15, succeeded).await;
    assert_eq!(op["operation"]["state"], "succeeded", "{op}");
    let kinds: Vec<&str> = op["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"reconciled"), "{kinds:?}");
    eprintln!("pending refund settled after {:?}", started.elapsed());
    drop(daemon);
}

/// Sipay posts a refund's approval to one URL per merchant (set in its
/// panel): payops gives each Sipay account one (`GET /v1/accounts`). A
/// refund under Sipay's manual review (`101`) is `pending`; a post whose
/// `hash_key` does not open to its own fields, or to a URL with a wrong
/// token, changes nothing; Sipay's real post (the simulator's, to the URL
/// the sandbox gave it) settles it `succeeded`, and the same post made
/// with the OpenSSL command line settles nothing twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_pending_sipay_refund_settles_from_its_verified_webhook_and_forgeries_change_nothing() {
    let dir = temp_dir("sipay-webhook");
    let cfg = dir.join("sandbox.toml");
    let plugins = plugin_dir(&dir);
    std::fs::write(&cfg, format!("[plugins]\ndirs = [{plugins:?}]\n")).unwrap();
    let c = cfg.display().to_string();
    let (daemon, token) = start_sandbox("sipay-webhook", &dir, &c, &[]).await;
    let (_, accounts) = http(
        "GET",
        &format!("{}/v1/accounts", daemon.url),
        Some(&token),
        None,
    )
    .await;
    let sipay = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "sipay-demo")
        .expect("the sandbox serves sipay-demo");
    let hook = sipay["callback_url"]
        .as_str()
        .expect("a callback URL")
        .to_owned();
    assert!(
        hook.starts_with(&format!(
            "{}/v1/callbacks/sipay/accounts/sipay-demo/",
            daemon.url
        )),
        "{hook}"
    );
    let others = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"] != "sipay-demo");
    assert!(
        others.clone().all(|a| a.get("callback_url").is_none()),
        "{accounts}"
    );

    // DEMO3001 is under manual review for 10 s: the refund is pending and
    // the status check does not count it yet.
    let (s, v) = http(
        "POST",
        &format!("{}/v1/accounts/sipay-demo/operations/refund", daemon.url),
        Some(&token),
        Some(r#"{"order_ref":"DEMO3001","amount":1000}"#),
    )
    .await;
    assert_eq!(
        (s, v["status"].as_str(), v["provider_code"].as_str()),
        (200, Some("pending"), Some("101")),
        "{v}"
    );
    let id = v["operation_id"].as_str().unwrap().to_owned();
    // A return of the same invoice: Sipay's refund, under review too.
    let (s, v) = http(
        "POST",
        &format!("{}/v1/accounts/sipay-demo/operations/return", daemon.url),
        Some(&token),
        Some(r#"{"order_ref":"DEMO3001","amount":500}"#),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("pending")), "{v}");
    let returned = v["operation_id"].as_str().unwrap().to_owned();

    // The hash_keys below were made with the OpenSSL command line, not
    // payops's code, for app_secret `sandbox-demo-secret` (the sandbox's
    // demo app), IV `0123456789abcdef`, salt `ab12`: PHP's
    // `openssl_encrypt('Completed|10.00|DEMO3001|SIM1000x', 'aes-256-cbc',
    // substr(hash('sha256', sha1($secret) . $salt), 0, 32), 0, $iv)`,
    // `/` written `__`.
    const SIGNED_SIM10000: &str =
        "0123456789abcdef:ab12:Y2okD____A1QJDslr+X3tYgVmfYT2XJCKEzAqKCVYqFB37NnWN745y+2Xt2wZ1cD__t";
    const SIGNED_SIM10001: &str =
        "0123456789abcdef:ab12:Y2okD____A1QJDslr+X3tYgVmfYT2XJCKEzAqKCVYqFB1gTrLvAKhHTtb9DJZIoAsH";
    let post = |hash_key: &str| {
        json!({"invoice_id": "DEMO3001", "order_id": "SIM10000", "amount": "10.00",
               "status": "Completed", "hash_key": hash_key})
        .to_string()
    };

    // A wrong token: refused, nothing recorded.
    let (wrong, _) = hook.rsplit_once('/').unwrap();
    let (s, _) = http(
        "POST",
        &format!("{wrong}/0000"),
        None,
        Some(&post(SIGNED_SIM10000)),
    )
    .await;
    assert_eq!(s, 403);
    // Signed for other fields (another order id): taken, reconciled, and
    // it proves nothing.
    let (s, v) = http("POST", &hook, None, Some(&post(SIGNED_SIM10001))).await;
    assert_eq!(
        (s, v["operations"][0].as_str()),
        (202, Some(id.as_str())),
        "{v}"
    );
    let undetermined = |o: &Value| {
        let events = o["events"].as_array();
        events.is_some_and(|e| e.iter().any(|e| e["kind"] == "undetermined"))
    };
    let o = polled(&daemon.url, &token, &id, 10, undetermined).await;
    assert_eq!(o["operation"]["state"], "pending", "{o}");
    let kinds: Vec<&str> = o["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"callback"), "{kinds:?}");
    // Not JSON, or no invoice: refused as a bad request.
    let (s, _) = http("POST", &hook, None, Some(r#"{"status":"Completed"}"#)).await;
    assert_eq!(s, 400);

    // Sipay's own post (the simulator's, when its review is over, 10 s
    // after the refund; the sandbox gave it the account's URL): the refund
    // succeeded.
    let started = Instant::now();
    let o = polled(&daemon.url, &token, &id, 30, succeeded).await;
    assert_eq!(o["operation"]["state"], "succeeded", "{o}");
    let rec = &o["operation"]["envelope"]["details"]["reconciliation"];
    assert_eq!(
        rec["transaction_id"], "refund-webhook:DEMO3001:SIM10000:10.00",
        "{o}"
    );
    // The return's own post settles it, as the refund it became.
    let r = polled(&daemon.url, &token, &returned, 30, succeeded).await;
    assert_eq!(r["operation"]["state"], "succeeded", "{r}");
    let rec = &r["operation"]["envelope"]["details"]["reconciliation"];
    assert_eq!(
        rec["transaction_id"], "refund-webhook:DEMO3001:SIM10000:5.00",
        "{r}"
    );
    assert!(
        rec["evidence"].as_str().unwrap().contains("refund webhook"),
        "{rec}"
    );
    eprintln!(
        "settled by the simulator's webhook after {:?}",
        started.elapsed()
    );
    // The same post again: nothing left to settle.
    let (s, v) = http("POST", &hook, None, Some(&post(SIGNED_SIM10000))).await;
    assert_eq!((s, v["accepted"].as_bool()), (200, Some(false)), "{v}");
    drop(daemon);
}
