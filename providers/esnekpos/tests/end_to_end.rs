//! The provider driven end to end through the host transport against its
//! simulator served on loopback, linked statically and loaded as a cdylib.

use payops_core::driver::PluginProvider;
use payops_core::loader;
use payops_core::{
    OperationContext, OperationKind, Outcome, PaymentStatus, QueryDetails, Simulator, Status,
};
use payops_esnekpos::sim::EsnekSimulator;
use payops_transport::{ReqwestTransport, SimServer};
use serde_json::{Value, json};

const KEY: &str = "e2e-merchant-key-123";

fn account(base_url: &str, key: &str) -> Value {
    json!({"environment": "test", "base_url": base_url, "merchant": "M1", "merchant_key": key, "timeout_ms": 5000, "sub_merchant_sign": "reduce_is_negative"})
}

async fn server() -> SimServer {
    let mut sim = EsnekSimulator::empty();
    sim.seed(&json!({
        "merchants": [{"merchant": "M1", "merchant_key": KEY}],
        "payments": [
            {"order_ref": "P-OLD", "amount": 125000, "date": "2020-04-19T18:34:35+03:00",
             "sub_merchants": [{"sub_merchant_id": "S1", "amount": 107300}]},
            {"order_ref": "P-TODAY", "amount": 20000},
            {"order_ref": "P-POS", "amount": 15000, "channel": "android_pos"}
        ]
    }))
    .unwrap();
    SimServer::start(Box::new(sim), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn run(p: &PluginProvider, c: &OperationContext, op: OperationKind, doc: Value) -> Outcome {
    p.execute(op, c, doc).await.unwrap()
}

async fn scenario(p: PluginProvider) {
    assert_eq!(p.info().id, "esnekpos");
    assert_eq!(p.info().capabilities.len(), 5);
    let srv = server().await;
    let c = payops_conformance::context(&p, account(&srv.url(), KEY), http());
    use OperationKind::*;

    let o = run(&p, &c, Refund, json!({"order_ref": "P-OLD", "amount": 500})).await;
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    assert!(o.provider_reference.is_some());
    assert_eq!(o.details["amount"], json!(500));

    let o = run(
        &p,
        &c,
        Refund,
        json!({"order_ref": "P-OLD", "amount": 200000}),
    )
    .await;
    assert_eq!(
        (o.status, o.provider_code.as_deref()),
        (Status::Failed, Some("300")),
        "{o:?}"
    );

    let o = run(&p, &c, Refund, json!({"order_ref": "P-OLD", "amount": 150, "sub_merchants": [{"sub_merchant_id": "S1", "amount": 150}]})).await;
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    assert_eq!(o.raw["STATUS"], json!("SUCCESS"));

    let o = run(
        &p,
        &c,
        Refund,
        json!({"order_ref": "P-OLD", "amount": 100, "sync_with_pos": false}),
    )
    .await;
    assert_eq!(o.status, Status::Pending, "{o:?}");

    let o = run(&p, &c, Query, json!({"order_ref": "P-OLD"})).await;
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    let d: QueryDetails = serde_json::from_value(o.details.clone()).unwrap();
    assert_eq!(d.payment_status, PaymentStatus::PartiallyRefunded);
    assert_eq!(d.amount, Some(125000));
    assert_eq!(d.refunded_amount, Some(750));
    let ids: Vec<_> = d
        .transactions
        .iter()
        .map(|t| t.status_id.unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![3, 7, 7, 1],
        "old payment: returns are refunds; the unsynced one is pending"
    );
    assert_eq!(d.transactions[2].sub_merchants[0].amount, Some(150));

    let o = run(
        &p,
        &c,
        SubMerchantAdjust,
        json!({"order_ref": "P-OLD", "sub_merchant_id": "S1", "direction": "reduce", "amount": 500}),
    )
    .await;
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    let o = run(
        &p,
        &c,
        SubMerchantAdjust,
        json!({"order_ref": "P-OLD", "sub_merchant_id": "NOPE", "direction": "increase", "amount": 100}),
    )
    .await;
    assert_eq!(
        (o.status, o.provider_code.as_deref()),
        (Status::Failed, Some("101"))
    );

    // Same-day whole cancel: inquiry first, then the remaining amount.
    let o = run(&p, &c, Cancel, json!({"order_ref": "P-TODAY"})).await;
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    assert_eq!(o.details["amount"], json!(20000));
    let o = run(&p, &c, Query, json!({"order_ref": "P-TODAY"})).await;
    assert_eq!(
        (o.status, o.provider_code.as_deref()),
        (Status::Succeeded, Some("300"))
    );
    assert_eq!(o.details["payment_status"], json!("cancelled"));
    assert_eq!(o.details["transactions"][1]["status_id"], json!(5));
    let o = run(&p, &c, Cancel, json!({"order_ref": "P-TODAY"})).await;
    assert_eq!(o.status, Status::Failed, "nothing left: {o:?}");

    // An Android POS cancel: SUCCESS acknowledges it; the device's result
    // comes later, to BACK_URL, so the operation is pending until then.
    let pos = json!({"order_ref": "P-POS", "channel": "android_pos", "back_url": "https://shop.example/back"});
    let o = run(&p, &c, Cancel, pos.clone()).await;
    assert_eq!((o.status, o.reason), (Status::Pending, None), "{o:?}");
    let o = run(&p, &c, Cancel, pos.clone()).await;
    assert_eq!(
        (o.status, o.provider_code.as_deref()),
        (Status::Failed, Some("300")),
        "a second cancel while the device works"
    );
    let q = run(&p, &c, Query, json!({"order_ref": "P-POS"})).await;
    assert_ne!(q.details["payment_status"], json!("cancelled"), "not yet");
    let now = payops_conformance::turkey_now();
    assert!(
        srv.with_sim(|s| s.tick(now)).is_empty(),
        "the device takes its time"
    );
    let later = now
        + payops_core::chrono::Duration::milliseconds(payops_esnekpos::sim::DEVICE_DELAY_MS + 1);
    let posted = srv.with_sim(|s| s.tick(later));
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].url, "https://shop.example/back");
    assert_eq!(
        posted[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form = String::from_utf8_lossy(&posted[0].body).into_owned();
    assert!(
        form.contains("ORDER_REF_NUMBER=P-POS") && form.contains("STATUS=SUCCESS"),
        "{form}"
    );
    let q = run(&p, &c, Query, json!({"order_ref": "P-POS"})).await;
    assert_eq!(q.details["payment_status"], json!("cancelled"), "{q:?}");
    let o = run(&p, &c, Cancel, pos).await;
    assert_eq!(
        (o.status, o.provider_code.as_deref()),
        (Status::Failed, Some("300"))
    );

    let o = run(&p, &c, Query, json!({"order_ref": "NOPE"})).await;
    assert_eq!(
        (o.status, o.provider_code.as_deref()),
        (Status::Failed, Some("100"))
    );

    let bad = payops_conformance::context(&p, account(&srv.url(), "wrong-key-000"), http());
    let o = run(&p, &bad, Refund, json!({"order_ref": "P-OLD", "amount": 1})).await;
    assert_eq!(
        (o.status, o.provider_code.as_deref()),
        (Status::Failed, Some("102"))
    );
    assert!(!serde_json::to_string(&o).unwrap().contains("wrong-key-000"));

    // The ledger: exactly the accepted money movements, once each.
    let state = srv.with_sim(|s| s.state());
    let ledger = state["ledger"].as_array().unwrap();
    let kinds: Vec<_> = ledger
        .iter()
        .map(|e| {
            (
                e["endpoint"].as_str().unwrap(),
                e["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("OrderReturn", 500),
            ("OrderReturn", 150),
            ("OrderReturn", 100),
            ("AddSubMerchantAmount", -500),
            ("OrderReturn", 20000),
            ("OrderReturnPhysical", 15000)
        ]
    );
    assert_eq!(
        state["payments"]["P-OLD"]["sub_merchants"]["S1"],
        json!(107300 - 150 - 500)
    );
    assert_eq!(state["payments"]["P-OLD"]["remaining"], json!(125000 - 750));

    // Transport failures: a connection refused before anything was sent is
    // a refusal (503, reason unreachable), not an outcome.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = payops_conformance::context(
        &p,
        account(&format!("http://127.0.0.1:{port}"), KEY),
        http(),
    );
    let e = p
        .execute(Refund, &dead, json!({"order_ref": "P-OLD", "amount": 1}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), payops_core::ErrorCode::Unavailable, "{e:?}");
    assert_eq!(
        e.refusal_reason(),
        Some(payops_core::outcome::Reason::Unreachable)
    );
}

#[tokio::test]
async fn statically_linked() {
    scenario(PluginProvider::from_static(payops_esnekpos::payops_plugin::api()).unwrap()).await;
}

#[tokio::test]
async fn loaded_as_cdylib() {
    let p = loader::load(&payops_conformance::built_cdylib("payops_esnekpos")).unwrap();
    assert!(p.file().is_some());
    scenario(p).await;
}

#[tokio::test]
async fn demo_simulator_answers_doc_samples() {
    // The documentation's own request samples, sent as-is to the simulator.
    let p = PluginProvider::from_static(payops_esnekpos::payops_plugin::api()).unwrap();
    let srv = SimServer::start(p.simulator().unwrap(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = ReqwestTransport::new().unwrap();
    use payops_core::{HttpRequest, HttpTransport};
    for (path, file, code) in [
        ("ProcessQuery", "process-query.request.json", "0"),
        (
            "AddSubMerchantAmount",
            "add-sub-merchant-amount.request.json",
            "00",
        ),
        (
            "OrderReturnPhysical",
            "order-return-physical.request.json",
            "0",
        ),
    ] {
        let body = std::fs::read(format!(
            "{}/tests/fixtures/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let r = client
            .send(HttpRequest::post(
                format!("{}/api/services/{path}", srv.url()),
                "application/json",
                body,
            ))
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["RETURN_CODE"], json!(code), "{path}: {v}");
        if path == "AddSubMerchantAmount" {
            assert_eq!(
                v["RETURN_MESSAGE"],
                json!("5,00 ₺ alt mağaza alacağına eklenmiştir.")
            );
            assert_eq!(v["ORDER_REF_NUMBER"], json!(412));
        }
    }
}

/// The host's HTTP transport (the simulator is served over loopback).
fn http() -> std::sync::Arc<dyn payops_core::HttpTransport> {
    std::sync::Arc::new(payops_transport::ReqwestTransport::new().expect("HTTP client"))
}

/// The ProcessQuery sample's own reference has 25 characters: payops
/// queries and refunds it; only the Android POS cancel keeps the
/// documented 24-character limit.
async fn long_reference(p: PluginProvider) {
    const SAMPLE_REF: &str = "9.54251311 1595848596|999";
    assert_eq!(SAMPLE_REF.chars().count(), 25);
    let mut sim = EsnekSimulator::empty();
    sim.seed(&json!({
        "merchants": [{"merchant": "M1", "merchant_key": KEY}],
        "payments": [
            {"order_ref": SAMPLE_REF, "amount": 125000, "date": "2020-04-19T18:34:35+03:00"},
            {"order_ref": "POS-LONG-REFERENCE-0000001", "amount": 1000, "channel": "android_pos"}
        ]
    }))
    .unwrap();
    let srv = SimServer::start(Box::new(sim), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let c = payops_conformance::context(&p, account(&srv.url(), KEY), http());
    let q = run(
        &p,
        &c,
        OperationKind::Query,
        json!({"order_ref": SAMPLE_REF}),
    )
    .await;
    assert_eq!(q.status, Status::Succeeded, "{q:?}");
    let d: QueryDetails = serde_json::from_value(q.details).unwrap();
    assert_eq!(d.order_ref.as_deref(), Some(SAMPLE_REF));
    let r = run(
        &p,
        &c,
        OperationKind::Refund,
        json!({"order_ref": SAMPLE_REF, "amount": 500}),
    )
    .await;
    assert_eq!(r.status, Status::Succeeded, "{r:?}");
    let e = p
        .execute(
            OperationKind::Cancel,
            &c,
            json!({"order_ref": "POS-LONG-REFERENCE-0000001", "channel": "android_pos", "back_url": "https://example.invalid/cb"}),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("24"), "{e}");
}

#[tokio::test]
async fn a_25_character_reference_statically_linked() {
    long_reference(PluginProvider::from_static(payops_esnekpos::payops_plugin::api()).unwrap())
        .await;
}

#[tokio::test]
async fn a_25_character_reference_loaded_as_cdylib() {
    long_reference(loader::load(&payops_conformance::built_cdylib("payops_esnekpos")).unwrap())
        .await;
}

/// The tables type `AMOUNT` as `int`; payops sends kuruş as two decimals.
/// An endpoint that takes the table literally refuses the decimal: the
/// refund is a clear `failed` (nothing moved), never a truncated refund.
#[tokio::test]
async fn an_endpoint_that_refuses_decimal_amounts() {
    let mut sim = EsnekSimulator::empty();
    sim.seed(&json!({
        "merchants": [{"merchant": "M1", "merchant_key": KEY, "integer_amounts": true}],
        "payments": [{"order_ref": "INT-1", "amount": 10000, "date": "2020-04-19T18:34:35+03:00"}]
    }))
    .unwrap();
    let srv = SimServer::start(Box::new(sim), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let p = PluginProvider::from_static(payops_esnekpos::payops_plugin::api()).unwrap();
    let c = payops_conformance::context(&p, account(&srv.url(), KEY), http());
    let o = run(
        &p,
        &c,
        OperationKind::Refund,
        json!({"order_ref": "INT-1", "amount": 2999}),
    )
    .await;
    assert_eq!(
        (o.status, o.provider_code.as_deref()),
        (Status::Failed, Some("101")),
        "{o:?}"
    );
    assert_eq!(
        o.provider_message.as_deref(),
        Some("AMOUNT tam sayı olmalıdır.")
    );
    let ledger = srv.with_sim(|s| s.state())["ledger"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(ledger, 0, "nothing refunded, not even 29 lira");
    let o = run(
        &p,
        &c,
        OperationKind::Refund,
        json!({"order_ref": "INT-1", "amount": 3000}),
    )
    .await;
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    let ledger = srv.with_sim(|s| s.state())["ledger"].clone();
    assert_eq!(ledger[0]["amount"], json!(3000));
}
