//! iyzico's documented facts as literal fixtures: the IYZWSv2 header, the
//! exact price form, and the simulator's refusals.

use payops_core::protocol::Step;
use payops_core::{Call, HttpResponse, OperationKind, Simulator};
use payops_iyzico::{sim::IyzicoSim, wire};
use serde_json::{Value, json};

fn iyzico() -> &'static payops_core::guest::Exported<payops_iyzico::Iyzico> {
    payops_iyzico::payops_plugin::provider()
}

#[test]
fn signature_is_hmac_sha256_hex_of_random_key_path_and_body() {
    // The published HMAC-SHA256 test vector (key "key", the fox sentence),
    // split into iyzico's three parts.
    assert_eq!(
        wire::signature("key", "The quick ", "brown fox ", "jumps over the lazy dog"),
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    );
}

#[test]
fn the_docs_sample_header_has_the_form_we_write() {
    // The "HMACSHA256 Auth" page's sample header.
    let sample = "IYZWSv2 YXBpS2V5OnNhbmRib3gtbDlNZDFHajNJWWNtdTROZGFXeGFTVW9Db1g3REM1UkEmcmFuZG9tS2V5OjEyMzQ1Njc4OSZzaWduYXR1cmU6MDc5ZGY0YjI0MjZmYzdmNDIwOGQ4ZjIyZmJjMDM0OTc5NDAxOWY4Y2UyYjA3MTFkZTc4MDhiNDg3NGY0ZTc5Ng==";
    let (api, rnd, sig) = wire::parse_authorization(sample).unwrap();
    assert_eq!(api, "sandbox-l9Md1Gj3IYcmu4NdaWxaSUoCoX7DC5RA");
    assert_eq!(rnd, "123456789");
    assert_eq!(
        sig,
        "079df4b2426fc7f4208d8f22fbc0349794019f8ce2b0711de7808b4874f4e796"
    );
    let ours = wire::authorization(&api, "secret", &rnd, "/payment/bin/check", "{}");
    let (a, r, s) = wire::parse_authorization(&ours).unwrap();
    assert_eq!((a.as_str(), r.as_str()), (api.as_str(), "123456789"));
    assert_eq!(
        s,
        wire::signature("secret", "123456789", "/payment/bin/check", "{}")
    );
    assert_eq!(s.len(), 64);
}

#[test]
fn prices_are_exact_decimals() {
    assert_eq!(wire::price(1250, 2).get(), "12.50");
    assert_eq!(wire::price(1, 2).get(), "0.01");
    assert_eq!(wire::price(123456789012345, 2).get(), "1234567890123.45");
}

fn call(op: OperationKind) -> Call {
    serde_json::from_value(json!({
        "operation": op, "operation_id": "op_1", "now": "2026-01-05T10:00:00+03:00",
        "nonce": "0123456789abcdef0123456789abcdef",
        "account": {"base_url": "http://sim.invalid/", "api_key": "k1", "secret_key": "s3cr3t-value"}
    }))
    .unwrap()
}

#[test]
fn the_refund_request_is_signed_and_carries_the_documented_fields() {
    let c = call(OperationKind::Refund);
    let doc = json!({"order_ref": "P1", "payment_transaction_id": "T1", "amount": 1250, "currency": "EUR", "ip": "85.34.78.112"});
    let Step::Send { request, .. } = iyzico().start(&c, &doc).unwrap() else {
        panic!()
    };
    assert_eq!(request.url, "http://sim.invalid/payment/refund");
    let body = std::str::from_utf8(&request.body).unwrap();
    assert_eq!(
        body,
        r#"{"locale":"tr","conversationId":"op_1","paymentTransactionId":"T1","price":12.50,"currency":"EUR","ip":"85.34.78.112"}"#
    );
    assert_eq!(request.header("x-iyzi-rnd"), Some(c.nonce.as_str()));
    let (api, rnd, sig) =
        wire::parse_authorization(request.header("Authorization").unwrap()).unwrap();
    assert_eq!((api.as_str(), rnd.as_str()), ("k1", c.nonce.as_str()));
    assert_eq!(
        sig,
        wire::signature("s3cr3t-value", &c.nonce, "/payment/refund", body)
    );
    assert!(!String::from_utf8_lossy(&request.body).contains("s3cr3t"));
}

#[test]
fn an_account_without_environment_or_base_url_is_refused_before_sending() {
    let mut c = call(OperationKind::Query);
    c.account.remove("base_url");
    let e = iyzico().start(&c, &json!({"order_ref": "P1"})).unwrap_err();
    assert!(e.message().contains("environment"), "{e:?}");
    c.account.insert("environment".into(), json!("sandbox"));
    let Step::Send { request, .. } = iyzico().start(&c, &json!({"order_ref": "P1"})).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        request.url,
        "https://sandbox-api.iyzipay.com/payment/detail"
    );
}

fn answer(sim: &mut IyzicoSim, request: &payops_core::HttpRequest) -> Value {
    let r: HttpResponse = sim.handle(
        request,
        payops_core::chrono::DateTime::parse_from_rfc3339("2026-01-05T10:00:00+03:00").unwrap(),
    );
    serde_json::from_slice(&r.body).unwrap()
}

#[test]
fn the_simulator_refuses_a_wrong_signature_a_missing_random_key_and_an_unknown_api_key() {
    let mut sim = IyzicoSim::demo();
    let mut c = call(OperationKind::Query);
    c.account = serde_json::from_value(json!({"base_url": "http://s", "api_key": "sandbox-demo-api-key", "secret_key": "sandbox-demo-secret-key"})).unwrap();
    let Step::Send { request, .. } = iyzico()
        .start(&c, &json!({"order_ref": "DEMO-1001"}))
        .unwrap()
    else {
        panic!()
    };
    let ok = answer(&mut sim, &request);
    assert_eq!(ok["status"], "success", "{ok}");
    assert_eq!(ok["paidPrice"], json!(100.0));
    let mut tampered = request.clone();
    tampered.body = tampered
        .body
        .iter()
        .map(|b| if *b == b'1' { b'2' } else { *b })
        .collect();
    assert_eq!(answer(&mut sim, &tampered)["errorCode"], "1000");
    let mut no_rnd = request.clone();
    no_rnd.headers.retain(|(n, _)| n != "x-iyzi-rnd");
    assert_eq!(answer(&mut sim, &no_rnd)["errorCode"], "1004");
    c.account.insert("api_key".into(), json!("nobody"));
    let Step::Send { request, .. } = iyzico()
        .start(&c, &json!({"order_ref": "DEMO-1001"}))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(answer(&mut sim, &request)["errorCode"], "1001");
}

#[test]
fn a_detail_with_a_price_that_would_be_rounded_is_unknown() {
    let c = call(OperationKind::Query);
    let state = json!({"order_ref": "P1"});
    let body = br#"{"status":"success","conversationId":"op_1","paymentId":"P1","paymentStatus":"SUCCESS","currency":"TRY","paidPrice":29.999999999999999,"itemTransactions":[]}"#;
    let r = iyzico()
        .resume(
            &c,
            state,
            Ok(HttpResponse::new(200, "application/json", body.to_vec())),
        )
        .unwrap();
    let Step::Done(o) = r else { panic!() };
    assert_eq!(o.status, payops_core::Status::Unknown, "{o:?}");
}

/// The payment detail gives the ledger what was paid, not the returns (its
/// `itemTransactions` are the basket's items): `not_listed`.
#[test]
fn a_payment_detail_tells_the_ledger_what_was_paid_only() {
    let c = call(OperationKind::Query);
    let body = br#"{"status":"success","conversationId":"op_1","paymentId":"P1","paymentStatus":"SUCCESS","currency":"TRY","paidPrice":30.0,"itemTransactions":[{"paymentTransactionId":"11","transactionStatus":2,"paidPrice":30.0}]}"#;
    let r = iyzico()
        .resume(
            &c,
            json!({"order_ref": "P1"}),
            Ok(HttpResponse::new(200, "application/json", body.to_vec())),
        )
        .unwrap();
    let Step::Done(o) = r else { panic!() };
    assert_eq!(o.status, payops_core::Status::Succeeded, "{o:?}");
    assert_eq!(o.details["ledger"]["listed"], "not_listed");
    assert_eq!(o.details["ledger"]["paid"], json!(3000));
    assert_eq!(o.details["ledger"]["currency"], "TRY");
    assert_eq!(o.details["ledger"]["returns"], json!([]));
}
