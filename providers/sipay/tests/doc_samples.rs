//! Sipay's pages read as payops reads them: the `hash_key` formula
//! (checked against OpenSSL's own AES), the token answer, the refund
//! request's fields, and the status check's totals as the ledger's facts.

use payops_core::ledger::ReturnsListed;
use payops_core::{Currency, HttpResponse, PaymentStatus, QueryDetails, Secret, Status};
use payops_sipay::documents::{Account, RefundSent};
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
    let amount = wire::amount(1000, Currency::TRY);
    assert_eq!(amount, "10.00");
    let refund = RefundSent {
        order_ref: "c9fa2586-89f5-4898-a6b6-34554fbe1c89".into(),
        amount: 1000,
        currency: Currency::TRY,
        reference: "op_1".into(),
    };
    let r = wire::refund(&a, "TOKEN", &refund, "seed");
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
