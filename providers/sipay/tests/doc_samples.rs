//! Sipay's pages read as payops reads them: the `hash_key` formula
//! (checked against OpenSSL's own AES), the token answer, the refund
//! request's fields, and the status check's totals as the ledger's facts.

use payops_core::ledger::ReturnsListed;
use payops_core::{Currency, HttpResponse, PaymentStatus, QueryDetails, Secret, Status};
use payops_sipay::documents::{Account, RefundDoc};
use payops_sipay::outcome::{query_outcome, token};
use payops_sipay::wire::{self, hash_key, open_hash_key};
use serde_json::{Value, json};

/// PayBull's refund page: the app_secret and merchant_key of its sample
/// request, the amount and invoice of its sample.
const SECRET: &str = "217071ea9f3f2e9b695d8f0039024e64";
const MERCHANT_KEY: &str = "$2y$10$w/ODdbTmfubcbUCUq/ia3OoJFMUmkM1UVNBiIQIuLfUlPmaLUT1he";

/// The pages' PHP (`sha1`, `hash('sha256')`, `openssl_encrypt`) redone
/// with the OpenSSL command line (not payops's code):
///
/// ```sh
/// S=$(printf %s 'op_test-seed' | sha1sum | cut -c1-40); IV=${S:0:16}; SALT=${S:16:4}
/// PW=$(printf %s "$SECRET" | sha1sum | cut -c1-40)
/// K=$(printf %s "$PW$SALT" | sha256sum | cut -c1-32)
/// printf %s "$DATA" | openssl enc -aes-256-cbc -K $(printf %s $K | xxd -p -c 256) \
///   -iv $(printf %s $IV | xxd -p -c 256) -base64 -A   # then / → __
/// ```
const OPENSSL_HASH_KEY: &str = "692bc613416da397:6a04:pT8wH9yksOIpQkVewWVJqFywnoqnmXhVl1ECCu0hVPUzBV+VMEQBq6UPOn1qf3JO+Do+BG+ORyEKPKbqezetcx82bXkUjzOswyqtpyFs5sVdvljU1Bf0RJ5ekXKhEUDUiL0jXmilqCMCZ245vY32bg==";

#[test]
fn the_hash_key_is_what_openssl_makes_of_the_pages_formula() {
    let data = [
        "10.00",
        "c9fa2586-89f5-4898-a6b6-34554fbe1c89",
        MERCHANT_KEY,
    ];
    assert_eq!(hash_key(&data, SECRET, "op_test-seed"), OPENSSL_HASH_KEY);
    assert_eq!(
        open_hash_key(OPENSSL_HASH_KEY, SECRET).as_deref(),
        Some(data.join("|").as_str())
    );
    // Another secret does not open it.
    assert_eq!(open_hash_key(OPENSSL_HASH_KEY, "another-secret"), None);
}

/// omnipay-sipay's tests/Mock/TokenResponseSuccess.txt body, literally.
#[test]
fn the_token_answer_gives_the_bearer_token() {
    let body = r#"{"status_code":100,"status_description":"Success","data":{"token":"test_bearer_token_abc123","is_3d":1,"expires_at":"2023-12-31 23:59:59"}}"#;
    let t = token(Ok(HttpResponse::new(
        200,
        "application/json",
        body.to_owned(),
    )));
    assert_eq!(t.unwrap(), "test_bearer_token_abc123");
    let refused = r#"{"status_code":30,"status_description":"Invalid Credentials"}"#;
    let o = token(Ok(HttpResponse::new(
        401,
        "application/json",
        refused.to_owned(),
    )))
    .unwrap_err();
    assert_eq!(o.status, Status::Failed);
    assert_eq!(o.provider_code.as_deref(), Some("30"));
}

/// Sipay's refund table: `invoice_id`, `amount`, `app_id`, `app_secret`,
/// `merchant_key`, `hash_key`, `refund_transaction_id` (mandatory), and
/// `refund_web_hook_key` (optional); a bearer token.
#[test]
fn the_refund_request_has_the_tables_fields() {
    let a: Account = serde_json::from_value(json!({
        "app_id": "c3d81ae3cc3011ef10dcefa31a458d65", "app_secret": SECRET,
        "merchant_key": MERCHANT_KEY, "refund_web_hook_key": "refunds"
    }))
    .unwrap();
    let _: &Secret = &a.app_secret;
    let amount = payops_core::kit::wire::point_amount(1000, Currency::TRY);
    assert_eq!(amount, "10.00");
    let refund = RefundDoc {
        order_ref: "c9fa2586-89f5-4898-a6b6-34554fbe1c89".into(),
        amount: 1000,
        currency: Currency::TRY,
    };
    let r = wire::refund(&a, "TOKEN", &refund, "op_1", "seed");
    assert_eq!(r.url, "https://app.sipay.com.tr/ccpayment/api/refund");
    assert_eq!(r.header("Authorization"), Some("Bearer TOKEN"));
    assert_eq!(r.header("Accept"), Some("application/json"));
    assert!(!r.safe, "a refund moves money");
    let b: Value = serde_json::from_slice(&r.body).unwrap();
    let mut keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "amount",
            "app_id",
            "app_secret",
            "hash_key",
            "invoice_id",
            "merchant_key",
            "refund_transaction_id",
            "refund_web_hook_key"
        ]
    );
    assert_eq!(
        open_hash_key(b["hash_key"].as_str().unwrap(), SECRET).unwrap(),
        format!("10.00|c9fa2586-89f5-4898-a6b6-34554fbe1c89|{MERCHANT_KEY}")
    );
    assert!(wire::token(&a).safe, "the token request changes nothing");
}

/// The check-status answer in sipay-node's `PaymentStatusResponse`
/// fields: the total refunded, no list (the ledger's `total_only`).
#[test]
fn the_status_answer_gives_the_ledger_its_totals() {
    let body = r#"{"status_code":100,"status_description":"Successful","transaction_status":"Completed","order_id":"162435924998223","transaction_id":"T1","invoice_id":"INV1","total_refunded_amount":25.50,"transaction_amount":100.00,"product_price":"100.00","installment":1}"#;
    let o = query_outcome(
        Ok(HttpResponse::new(200, "application/json", body.to_owned())),
        "INV1",
    );
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    let d: QueryDetails = serde_json::from_value(o.details).unwrap();
    assert_eq!((d.amount, d.refunded_amount), (Some(10000), Some(2550)));
    assert_eq!(d.payment_status, PaymentStatus::PartiallyRefunded);
    let facts = d.ledger.unwrap();
    assert_eq!(facts.listed, ReturnsListed::TotalOnly);
    // PayBull's failure sample: the payment failed, read.
    let failed = r#"{"status_code":41,"status_description":"Oder Failed","transaction_status":"Failed","order_id":"162435924998223"}"#;
    let o = query_outcome(
        Ok(HttpResponse::new(
            200,
            "application/json",
            failed.to_owned(),
        )),
        "INV1",
    );
    let d: QueryDetails = serde_json::from_value(o.details).unwrap();
    assert_eq!(d.payment_status, PaymentStatus::Failed);
}

/// Sipay's refund webhook (its pages: `invoice_id`, `order_id`, `amount`,
/// `status` `Completed`, and a `hash_key` of `status|amount|invoice_id|
/// order_id` under `app_secret`). The hash_keys were made with the OpenSSL
/// command line as above, for app_secret `sandbox-demo-secret`, IV
/// `0123456789abcdef`, salt `ab12`, of `Completed|10.00|DEMO3001|SIM10000`
/// and of `…|SIM10001`.
const WEBHOOK_SECRET: &str = "sandbox-demo-secret";
const SIGNED_SIM10000: &str =
    "0123456789abcdef:ab12:Y2okD____A1QJDslr+X3tYgVmfYT2XJCKEzAqKCVYqFB37NnWN745y+2Xt2wZ1cD__t";
const SIGNED_SIM10001: &str =
    "0123456789abcdef:ab12:Y2okD____A1QJDslr+X3tYgVmfYT2XJCKEzAqKCVYqFB1gTrLvAKhHTtb9DJZIoAsH";

fn webhook_post(hash_key: &str, status: &str) -> Value {
    json!({"invoice_id": "DEMO3001", "order_id": "SIM10000", "amount": "10.00",
           "status": status, "hash_key": hash_key})
}

#[test]
fn a_refund_webhook_proves_a_refund_only_when_its_hash_key_opens_to_its_own_fields() {
    use payops_core::TransactionStatus;
    use payops_sipay::reconcile::webhook;
    let row = webhook(
        &webhook_post(SIGNED_SIM10000, "Completed"),
        WEBHOOK_SECRET,
        "DEMO3001",
        2,
    )
    .expect("Sipay's own post");
    assert_eq!(row.status, TransactionStatus::RefundSucceeded);
    assert_eq!(row.amount, Some(1000));
    assert_eq!(
        row.transaction_id.as_deref(),
        Some("refund-webhook:DEMO3001:SIM10000:10.00")
    );
    for (post, secret, invoice) in [
        // Signed for another order id.
        (
            webhook_post(SIGNED_SIM10001, "Completed"),
            WEBHOOK_SECRET,
            "DEMO3001",
        ),
        // Another app's secret.
        (
            webhook_post(SIGNED_SIM10000, "Completed"),
            SECRET,
            "DEMO3001",
        ),
        // Not `Completed` (the signature no longer matches either).
        (
            webhook_post(SIGNED_SIM10000, "Failed"),
            WEBHOOK_SECRET,
            "DEMO3001",
        ),
        // Another operation's invoice.
        (
            webhook_post(SIGNED_SIM10000, "Completed"),
            WEBHOOK_SECRET,
            "DEMO3002",
        ),
        // No hash_key at all.
        (
            json!({"invoice_id": "DEMO3001", "amount": "10.00", "status": "Completed"}),
            WEBHOOK_SECRET,
            "DEMO3001",
        ),
    ] {
        assert!(webhook(&post, secret, invoice, 2).is_none(), "{post}");
    }
}

#[test]
fn a_verified_webhook_settles_the_one_refund_of_its_amount_and_never_a_rival() {
    use payops_core::{OperationKind, ReconcileInput, Sibling, Verdict};
    let status = r#"{"status_code":100,"status_description":"Successful","transaction_status":"Completed","invoice_id":"DEMO3001","total_refunded_amount":0,"transaction_amount":100.00}"#;
    let query = query_outcome(
        Ok(HttpResponse::new(
            200,
            "application/json",
            status.to_owned(),
        )),
        "DEMO3001",
    );
    let now = payops_core::chrono::Utc::now().with_timezone(&payops_core::turkey_offset());
    let input = |amount: i64, siblings: Vec<Sibling>, post: Option<Value>| ReconcileInput {
        operation_id: "op_1".into(),
        operation: OperationKind::Refund,
        request: json!({"order_ref": "DEMO3001", "amount": amount}),
        state: "pending".into(),
        outcome: None,
        started_at: now,
        siblings,
        claimed: Vec::new(),
        claim_scope: "sipay".into(),
        query: query.clone(),
        query_received_at: now,
        callback: post,
    };
    let settle = |i: &ReconcileInput| payops_sipay::reconcile::reconcile(i, WEBHOOK_SECRET);
    let genuine = Some(webhook_post(SIGNED_SIM10000, "Completed"));
    let r = settle(&input(1000, Vec::new(), genuine.clone()));
    assert_eq!(r.verdict, Verdict::Succeeded, "{r:?}");
    assert_eq!(
        r.transaction_id.as_deref(),
        Some("refund-webhook:DEMO3001:SIM10000:10.00")
    );
    // Another amount: not this refund's post.
    assert_eq!(
        settle(&input(2500, Vec::new(), genuine.clone())).verdict,
        Verdict::Undetermined
    );
    // Another unresolved refund of the same amount could own it.
    let rival = Sibling {
        operation_id: "op_2".into(),
        operation: OperationKind::Refund,
        request: json!({"order_ref": "DEMO3001", "amount": 1000}),
        state: "pending".into(),
        started_at: now,
        details: Value::Null,
    };
    let r = settle(&input(1000, vec![rival], genuine));
    assert_eq!(r.verdict, Verdict::Undetermined, "{r:?}");
    // A forged post, or none: the status check alone, which cannot tell.
    let forged = Some(webhook_post(SIGNED_SIM10001, "Completed"));
    assert_eq!(
        settle(&input(1000, Vec::new(), forged)).verdict,
        Verdict::Undetermined
    );
    assert_eq!(
        settle(&input(1000, Vec::new(), None)).verdict,
        Verdict::Undetermined
    );
}

/// The simulator posts Sipay's refund webhook once, when a reviewed refund
/// completes, to the URL its app was given, signed so that the provider's
/// own rules take it.
#[test]
fn the_simulator_posts_the_webhook_once_when_a_reviewed_refund_completes() {
    use payops_core::Simulator;
    let mut sim = payops_sipay::sim::SipaySim::demo();
    sim.seed(&json!({"account_callbacks": {"sipay-demo": "http://127.0.0.1:9/hook"}}))
        .unwrap();
    let mut config = sim.demo_accounts()["sipay-demo"].clone();
    config["base_url"] = json!("http://127.0.0.1:9");
    let a: Account = serde_json::from_value(config.clone()).unwrap();
    let now = payops_core::chrono::Utc::now().with_timezone(&payops_core::turkey_offset());
    let answer = sim.handle(&wire::token(&a), now);
    let bearer = token(Ok(answer)).unwrap();
    let refund = RefundDoc {
        order_ref: "DEMO3001".into(),
        amount: 1000,
        currency: Currency::TRY,
    };
    let answer = sim.handle(&wire::refund(&a, &bearer, &refund, "op1", "seed"), now);
    let body: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body["status_code"], 101, "{body}");
    assert!(sim.tick(now).is_empty(), "under review: no post yet");
    let later = now + payops_core::chrono::Duration::seconds(11);
    let posts = sim.tick(later);
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].url, "http://127.0.0.1:9/hook");
    let post: Value = serde_json::from_slice(&posts[0].body).unwrap();
    let secret = config["app_secret"].as_str().unwrap();
    let row = payops_sipay::reconcile::webhook(&post, secret, "DEMO3001", 2).expect("verifies");
    assert_eq!(row.amount, Some(1000));
    assert!(sim.tick(later).is_empty(), "posted once");
}
