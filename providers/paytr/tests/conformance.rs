//! PayTR runs the kit's behavior suite against its own simulator, linked
//! statically and loaded as a cdylib through the real loader. The
//! documented answers are PayTR's own pages' (dev.paytr.com: "İade API
//! Entegrasyonu", "Durum Sorgu API Entegrasyonu"): their sample error
//! answers literally, their success answers in the fields and sample
//! values of their tables.

use payops_conformance::suite::Suite;
use payops_core::OperationKind::*;
use payops_core::driver::PluginProvider;
use payops_core::loader;
use payops_core::{HttpResponse, Reason as R, Status as S, Verdict};
use serde_json::json;

// Random-looking: the suite also looks for 6-character pieces of them.
const KEY: &str = "Kq8Wz3Tn7Rv2Lm9X";
const SALT: &str = "Hs4Pd6Yc1Gb5Nf8J";

fn suite(p: PluginProvider) -> Suite {
    Suite::new(
        p,
        json!({"base_url": "http://sim.invalid", "merchant_id": "123456", "merchant_key": KEY, "merchant_salt": SALT, "timeout_ms": 5000}),
    )
    .seed(json!({
        "merchants": [{"merchant_id": "123456", "merchant_key": KEY, "merchant_salt": SALT}],
        "orders": [{"order_ref": "SIP20240001", "amount": 10000}]
    }))
    // 11.97: the refund page's sample amount.
    .example(Refund, json!({"order_ref": "SIP20240001", "amount": 1197}))
    .example(Query, json!({"order_ref": "SIP20240001"}))
    .example(Return, json!({"order_ref": "SIP20240001", "amount": 1197}))
    .return_case("no cancel: a refund of what remains", payops_conformance::turkey_now(), json!({}), json!({"order_ref": "SIP20240001"}), payops_conformance::suite::ReturnExpect::Became(Refund))
    .over_refund(json!({"order_ref": "SIP20240001", "amount": 8804}), R::AmountExceedsRemaining)
    // The suite's operation id is `op_test`: its reference_no is `optest`.
    .documented(Refund, "success", answer(REFUND_OK), S::Succeeded, None)
    .documented(Refund, "success for another order", answer(&REFUND_OK.replace("SIP20240001", "SIP20240002")), S::Unknown, Some(R::OrderMismatch))
    .documented(Refund, "success for another amount", answer(&REFUND_OK.replace("11.97", "11.90")), S::Unknown, Some(R::ProviderError))
    .documented(Refund, "error 006", answer(ERROR_006), S::Failed, Some(R::AmountExceedsRemaining))
    .documented(Refund, "failed: no such order", answer(r#"{"status":"failed"}"#), S::Failed, Some(R::NotFound))
    .documented(Query, "success", answer(STATUS_OK), S::Succeeded, None)
    .documented(Query, "error 004", answer(ERROR_004), S::Failed, Some(R::NotFound))
    .reconcile_case(Refund, "its reference_no listed, completed", answer(&STATUS_OK.replace("111111111111111", "optest")), Verdict::Succeeded)
    .reconcile_case(Refund, "its reference_no listed, not completed", answer(&STATUS_OK.replace("111111111111111", "optest").replace("\"2021-03-25 23:46:02\"", "\"\"")), Verdict::Pending)
    .reconcile_case(Refund, "another refund listed", answer(STATUS_OK), Verdict::Undetermined)
}

/// The refund page's result table (`status`, `is_test`, `merchant_oid`,
/// `return_amount`, `reference_no`) with its sample values.
const REFUND_OK: &str = r#"{"status":"success","is_test":"1","merchant_oid":"SIP20240001","return_amount":"11.97","reference_no":"optest"}"#;
/// The refund page's sample error, literally.
const ERROR_006: &str = r#"{"status":"error","err_no":"006","err_msg":"Toplam iade tutarı odeme tutarindan fazla olamaz"}"#;
/// The status page's error sample values (`err_no` 004).
const ERROR_004: &str =
    r#"{"status":"error","err_no":"004","err_msg":"merchant_oid ile basarili odeme bulunamadi"}"#;
/// The status page's table with its sample values, and the `returns` item
/// its marketplace sample prints.
pub const STATUS_OK: &str = r#"{"status":"success","net_tutar":"9.76","kesinti_tutari":"0.24","payment_amount":"10,8","payment_total":"10,8","payment_date":"2021-01-01","currency":"TL","taksit":"0","kart_marka":"WORD","masked_pan":"455359AAA6747","odeme_tipi":"KART","test_mode":"0","returns":[{"return_amount":"1","return_date":"2021-03-25 23:45:22","return_type":"","date_completed":"2021-03-25 23:46:02","return_auth_code":"","return_ref_num":"","reference_no":"111111111111111","return_source":""}]}"#;

fn answer(body: &str) -> HttpResponse {
    HttpResponse::new(200, "application/json", body.to_owned())
}

#[tokio::test]
async fn statically_linked_passes_the_suite() {
    let p = PluginProvider::from_static(payops_paytr::payops_plugin::api()).unwrap();
    let report = suite(p).run_all().await;
    report.assert_passed();
    assert!(report.passed.len() > 40, "{:?}", report.passed);
}

#[tokio::test]
async fn loaded_as_cdylib_passes_the_suite() {
    let p = loader::load(&payops_conformance::built_cdylib("payops_paytr")).unwrap();
    suite(p).run_all().await.assert_passed();
}
