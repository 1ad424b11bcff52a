//! Sipay runs the kit's behavior suite against its own simulator, linked
//! statically and loaded as a cdylib through the real loader. The
//! answers: Sipay's status code table (apidocs.sipay.com.tr, "Status
//! Codes"; its descriptions literally, in the `status_code` /
//! `status_description` envelope every Sipay answer has), PayBull's
//! check-status failure sample (developer.paybull.com, same API), and the
//! client library omnipay-sipay's captured fixtures (tests/Mock).

use payops_conformance::suite::Suite;
use payops_core::OperationKind::*;
use payops_core::driver::PluginProvider;
use payops_core::loader;
use payops_core::{HttpResponse, Reason as R, Status as S, Verdict};
use serde_json::json;

// Random-looking: the suite also looks for 6-character pieces of them.
const SECRET: &str = "Qz7Vb2Nx9Kd4Wm1T";
const KEY: &str = "Hp3Ls8Jc6Fr5Yg0E";

fn suite(p: PluginProvider) -> Suite {
    Suite::new(
        p,
        json!({"base_url": "http://sim.invalid", "app_id": "app_id_123", "app_secret": SECRET, "merchant_key": KEY, "timeout_ms": 5000}),
    )
    .seed(json!({
        "apps": [{"app_id": "app_id_123", "app_secret": SECRET, "merchant_key": KEY}],
        "orders": [{"order_ref": "INV-20230101-001", "amount": 10000}]
    }))
    // 50.00: omnipay-sipay's refund fixture (RefundRequest.json).
    .example(Refund, json!({"order_ref": "INV-20230101-001", "amount": 5000}))
    .example(Query, json!({"order_ref": "INV-20230101-001"}))
    .example(Return, json!({"order_ref": "INV-20230101-001", "amount": 5000}))
    .return_case("its refund cancels or refunds by itself: a refund of what remains", payops_conformance::turkey_now(), json!({}), json!({"order_ref": "INV-20230101-001"}), payops_conformance::suite::ReturnExpect::Became(Refund))
    .over_refund(json!({"order_ref": "INV-20230101-001", "amount": 5001}), R::Refused)
    .documented(Refund, "omnipay-sipay RefundResponseSuccess", answer(REFUND_OK), S::Succeeded, None)
    .documented(Refund, "100 for another invoice", answer(&REFUND_OK.replace("INV-20230101-001", "INV-20230101-002")), S::Unknown, Some(R::OrderMismatch))
    .documented(Refund, "100 for another amount", answer(&REFUND_OK.replace("50.00", "40.00")), S::Unknown, Some(R::ProviderError))
    .documented(Refund, "omnipay-sipay RefundResponseApiError (code 0: undocumented)", answer(REFUND_ZERO), S::Unknown, Some(R::ProviderError))
    .documented(Refund, "101 awaiting (manual review)", answer(&code(101, "Your refund request has been successfully created. Our team will complete the return process")), S::Pending, None)
    .documented(Refund, "1", answer(&code(1, "Basic validation")), S::Failed, Some(R::InvalidRequest))
    .documented(Refund, "14", answer(&code(14, "Merchant not found!")), S::Failed, Some(R::Authentication))
    .documented(Refund, "30", answer(&code(30, "Invalid Credentials")), S::Failed, Some(R::Authentication))
    .documented(Refund, "31", answer(&code(31, "Transaction not found")), S::Failed, Some(R::NotFound))
    .documented(Refund, "32", answer(&code(32, "Invalid invoice ID, order not completed")), S::Failed, Some(R::NotFound))
    .documented(Refund, "41", answer(&code(41, "Order failed / Payment failed")), S::Failed, Some(R::Declined))
    .documented(Refund, "49", answer(&code(49, "Refund Failed. The total refund amount must not exceed the net amount. No Sales Transaction Found. Insufficient Balance. Non-refundable transaction status. Please wait at least 30 seconds for another refund. Maximum transaction limit per transaction violated")), S::Failed, Some(R::Refused))
    .documented(Refund, "68", answer(&code(68, "Invoice ID mismatch with hash key")), S::Failed, Some(R::InvalidRequest))
    .documented(Refund, "69", answer(&code(69, "Order not yet processed")), S::Failed, Some(R::Refused))
    .documented(Refund, "90", answer(&code(90, "Invalid Hash key")), S::Failed, Some(R::InvalidRequest))
    .documented(Refund, "91", answer(&code(91, "Hash key that does not match the Merchant key")), S::Failed, Some(R::InvalidRequest))
    .documented(Refund, "105", answer(&code(105, "The transaction has not been approved")), S::Failed, Some(R::Declined))
    .documented(Refund, "110", answer(&code(110, "Partial returns are not allowed for this transaction.")), S::Failed, Some(R::Declined))
    .documented(Refund, "3 (may be in progress)", answer(&code(3, "Invoice ID already processed. Order with this invoice ID process continues, Please wait or create order with new invoice id")), S::Unknown, Some(R::ProviderError))
    .documented(Refund, "99", answer(&code(99, "Unknown Error")), S::Unknown, Some(R::ProviderError))
    .documented(Refund, "104 (may mean already done)", answer(&code(104, "Return transaction ID must be unique")), S::Unknown, Some(R::ProviderError))
    .documented(Refund, "112", answer(&code(112, "Partially successful")), S::Unknown, Some(R::ProviderError))
    .documented(Refund, "117", answer(&code(117, "The invoice id already processed")), S::Unknown, Some(R::ProviderError))
    .documented(Query, "100", answer(STATUS_OK), S::Succeeded, None)
    .documented(Query, "41 (PayBull's sample: the payment failed)", answer(STATUS_41), S::Succeeded, None)
    .documented(Query, "31", answer(&code(31, "Transaction not found")), S::Failed, Some(R::NotFound))
    .reconcile_case(Refund, "a partial refund, a total refunded", answer(STATUS_OK), Verdict::Undetermined)
    .reconcile_case(Refund, "the invoice fully refunded (the example is partial)", answer(&STATUS_OK.replace("\"total_refunded_amount\":50.00", "\"total_refunded_amount\":100.00")), Verdict::Undetermined)
}

/// omnipay-sipay's tests/Mock/RefundResponseSuccess.txt body, literally.
const REFUND_OK: &str = r#"{"status_code":100,"status_description":"Refund successful.","data":{"invoice_id":"INV-20230101-001","refund_amount":"50.00"}}"#;
/// omnipay-sipay's tests/Mock/RefundResponseApiError.txt body, literally.
const REFUND_ZERO: &str =
    r#"{"status_code":0,"status_description":"Refund failed. Transaction not found."}"#;
/// The check-status answer in the fields of sipay-node's
/// `PaymentStatusResponse` (values ours: Sipay's pages print none).
const STATUS_OK: &str = r#"{"status_code":100,"status_description":"Successful","transaction_status":"Completed","order_id":"162435924998223","transaction_id":"T1","invoice_id":"INV-20230101-001","total_refunded_amount":50.00,"transaction_amount":100.00,"product_price":"100.00","installment":1}"#;
/// PayBull's check-status failure sample, as far as its page shows it.
const STATUS_41: &str = r#"{"status_code":41,"status_description":"Oder Failed","transaction_status":"Failed","order_id":"162435924998223"}"#;

fn code(c: i64, description: &str) -> String {
    json!({"status_code": c, "status_description": description}).to_string()
}

fn answer(body: &str) -> HttpResponse {
    HttpResponse::new(200, "application/json", body.to_owned())
}

#[tokio::test]
async fn statically_linked_passes_the_suite() {
    let p = PluginProvider::from_static(payops_sipay::payops_plugin::api()).unwrap();
    let report = suite(p).run_all().await;
    report.assert_passed();
    assert!(report.passed.len() > 40, "{:?}", report.passed);
}

#[tokio::test]
async fn loaded_as_cdylib_passes_the_suite() {
    let p = loader::load(&payops_conformance::built_cdylib("payops_sipay")).unwrap();
    suite(p).run_all().await.assert_passed();
}
