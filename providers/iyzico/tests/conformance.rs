//! iyzico runs the kit's behavior suite against its own simulator, linked
//! statically and loaded as a cdylib through the real loader.

use payops_conformance::suite::{ReturnExpect as E, Suite};
use payops_core::OperationKind::*;
use payops_core::driver::PluginProvider;
use payops_core::loader;
use payops_core::{HttpResponse, Reason as R, Status as S};
use serde_json::json;

// Random-looking: the suite also looks for 6-character pieces of it.
const SECRET: &str = "sandbox-Wq4Rz8Tn2Kv6Lp9X";
const API_KEY: &str = "sandbox-afXhZPW0MQlE4dCUUlHcEopnMBgXnAZI";

fn suite(p: PluginProvider) -> Suite {
    Suite::new(
        p,
        json!({"base_url": "http://sim.invalid", "api_key": API_KEY, "secret_key": SECRET, "timeout_ms": 5000}),
    )
    .seed(json!({
        "merchants": [{"api_key": API_KEY, "secret_key": SECRET}],
        "payments": [
            {"payment_id": "11223344", "items": [{"payment_transaction_id": "55667788", "paid": 5000}]},
            {"payment_id": "22334455", "items": [{"payment_transaction_id": "66778899", "paid": 3000}]}
        ]
    }))
    .example(Refund, json!({"order_ref": "11223344", "payment_transaction_id": "55667788", "amount": 1250}))
    .example(Cancel, json!({"order_ref": "22334455"}))
    .example(Query, json!({"order_ref": "11223344"}))
    .example(Return, json!({"order_ref": "11223344", "amount": 1250}))
    .return_case("no date in the payment detail: a refund of its only item", payops_conformance::turkey_now(), json!({}), json!({"order_ref": "22334455"}), E::Became(Refund))
    // iyzico's public docs give no code for it; the simulator answers 11.
    .over_refund(
        json!({"order_ref": "11223344", "payment_transaction_id": "55667788", "amount": 3751}),
        R::InvalidRequest,
    )
    .documented(Refund, "success", answer(REFUND_OK), S::Succeeded, None)
    .documented(Refund, "11 invalid request", answer(&failure("11", "Geçersiz istek")), S::Failed, Some(R::InvalidRequest))
    .documented(Refund, "1000 invalid signature", answer(&failure("1000", "Geçersiz imza")), S::Failed, Some(R::Authentication))
    .documented(Refund, "1001 api key not found", answer(&failure("1001", "Api bilgileri bulunamadı")), S::Failed, Some(R::Authentication))
    .documented(Refund, "1004 random string missing", answer(&failure("1004", "Random string gönderilmesi zorunludur")), S::Failed, Some(R::InvalidRequest))
    .documented(Refund, "10051 bank: not sufficient funds", answer(&failure("10051", "Kart limiti yetersiz, yetersiz bakiye")), S::Failed, Some(R::Declined))
    .documented(Refund, "100001 system error", answer(&failure("100001", "Sistem hatası")), S::Unknown, Some(R::ProviderError))
    .documented(Refund, "success for another amount", answer(&REFUND_OK.replace("12.5", "125.0")), S::Unknown, Some(R::ProviderError))
    .documented(Refund, "success for another transaction", answer(&REFUND_OK.replace("55667788", "55667789")), S::Unknown, Some(R::OrderMismatch))
    .documented(Cancel, "1000 invalid signature", answer(&failure("1000", "Geçersiz imza")), S::Failed, Some(R::Authentication))
    .documented(Query, "11 invalid request", answer(&failure("11", "Geçersiz istek")), S::Failed, Some(R::InvalidRequest))
}

/// A refund answer in the form of iyzico's reference (status, locale,
/// systemTime, conversationId, paymentId, paymentTransactionId, price,
/// currency); the conversation id is the suite's operation id.
const REFUND_OK: &str = r#"{"status":"success","locale":"tr","systemTime":1458545234852,"conversationId":"op_test","paymentId":"11223344","paymentTransactionId":"55667788","price":12.5,"currency":"TRY"}"#;

/// iyzico's documented failure form: status, errorCode, errorMessage,
/// errorGroup, locale, systemTime, conversationId.
fn failure(code: &str, message: &str) -> String {
    format!(
        r#"{{"status":"failure","errorCode":"{code}","errorMessage":"{message}","locale":"tr","systemTime":1458545234852,"conversationId":"op_test"}}"#
    )
}

fn answer(body: &str) -> HttpResponse {
    HttpResponse::new(200, "application/json", body.to_owned())
}

#[tokio::test]
async fn statically_linked_passes_the_suite() {
    let p = PluginProvider::from_static(payops_iyzico::payops_plugin::api()).unwrap();
    let report = suite(p).run_all().await;
    report.assert_passed();
    // info; per capability happy path, credentials, response schema; 11
    // faults (with the other-order answer) on each of refund and cancel;
    // request schemas (refund 9, cancel 5, query 5); the over-refund; 11
    // documented answers; two reconcile checks per money-moving operation;
    // per capability the refusal of wrong credentials; the 11 faults on the
    // query.
    assert_eq!(
        report.passed.len(),
        // The return: happy path, credentials in the outcome, response
        // schema, 11 faults, its request schema (9), wrong credentials,
        // two reconcile checks, that its rule has cases, one rule case.
        1 + 3 * 3 + 11 * 2 + (9 + 5 + 5) + 1 + 11 + 2 * 2 + 3 + 11 + (3 + 11 + 9 + 1 + 2) + 1 + 1,
        "{:?}",
        report.passed
    );
}

#[tokio::test]
async fn loaded_as_cdylib_passes_the_suite() {
    let p = loader::load(&payops_conformance::built_cdylib("payops_iyzico")).unwrap();
    suite(p).run_all().await.assert_passed();
}
