//! EsnekPOS runs the kit's behavior suite against its own simulator, linked
//! statically and loaded as a cdylib through the real loader.

use payops_conformance::suite::{Sample, Suite};
use payops_core::OperationKind::*;
use payops_core::driver::PluginProvider;
use payops_core::loader;
use serde_json::{Value, json};

// Random-looking: the suite also looks for 6-character pieces of it.
const KEY: &str = "Zq8vT2kW9xR4mN6pL3";

fn suite(p: PluginProvider) -> Suite {
    Suite::new(
        p,
        json!({"environment": "test", "base_url": "http://sim.invalid", "merchant": "M1",
               "merchant_key": KEY, "timeout_ms": 5000, "sub_merchant_sign": "reduce_is_negative"}),
    )
    .seed(seed())
    .example(Refund, json!({"order_ref": "P-OLD", "amount": 500}))
    .example(Cancel, json!({"order_ref": "P-TODAY"}))
    .example(Query, json!({"order_ref": "P-OLD"}))
    .example(Return, json!({"order_ref": "P-OLD", "amount": 500}))
    .return_case("OrderReturn chooses by itself: a refund of what remains", payops_conformance::turkey_now(), json!({}), json!({"order_ref": "P-OLD"}), payops_conformance::suite::ReturnExpect::Became(Refund))
    .example(
        SubMerchantAdjust,
        json!({"order_ref": "P-OLD", "sub_merchant_id": "S1", "direction": "reduce", "amount": 500}),
    )
    // EsnekPOS has no code of its own for it: its simulator answers 300
    // ORDER_CANCEL, which the docs define as a refusal.
    .over_refund(
        json!({"order_ref": "P-OLD", "amount": 124600}),
        payops_core::Reason::AlreadyCancelled,
    )
    .documented_codes()
    // The request samples of EsnekPOS's pages, with the pages' own merchant.
    .request_sample(
        Cancel,
        "OrderReturnPhysical",
        doc_account(),
        json!({"order_ref": "ORDER_REF_NUMBER", "channel": "android_pos",
               "back_url": "https://posservicetest.esnekpos.com/api/home/PhysicalPaymentLog"}),
        Sample::Json(include_str!("fixtures/order-return-physical.request.json").into()),
    )
    .request_sample(
        SubMerchantAdjust,
        "AddSubMerchantAmount",
        doc_account(),
        json!({"order_ref": "412", "sub_merchant_id": "EXTERNAL_ID1", "direction": "reduce", "amount": 500}),
        Sample::Json(include_str!("fixtures/add-sub-merchant-amount.request.json").into()),
    )
}

/// The merchant of EsnekPOS's samples (`TEST1234`, its key as printed).
fn doc_account() -> Value {
    json!({"environment": "test", "merchant": "TEST1234", "merchant_key": "4oK26hK8MOXrIV1bzTRVPA==",
           "sub_merchant_sign": "reduce_is_negative"})
}

/// EsnekPOS's code table (RETURN_CODE, STATUS), copied from its docs, as
/// OrderReturn answers, and what each must become: only a refusal of the
/// request itself proves nothing moved.
trait Codes {
    fn documented_codes(self) -> Self;
}

impl Codes for Suite {
    fn documented_codes(self) -> Self {
        use payops_core::{HttpResponse, Reason as R, Status as S};
        let table = [
            ("0", "SUCCESS", S::Succeeded, None),
            ("100", "ERROR", S::Unknown, Some(R::ProviderError)),
            ("101", "FIELD_ERROR", S::Failed, Some(R::InvalidRequest)),
            (
                "102",
                "AUTHENTICATION_ERROR",
                S::Failed,
                Some(R::Authentication),
            ),
            ("103", "LIMIT_ERROR", S::Failed, Some(R::Limit)),
            ("104", "COMMISSION_ERROR", S::Failed, Some(R::Refused)),
            ("105", "INSERT_ERROR", S::Unknown, Some(R::ProviderError)),
            ("106", "BRAND_ERROR", S::Failed, Some(R::Declined)),
            ("201", "PAYMENT_ERROR", S::Failed, Some(R::Declined)),
            ("34", "BLOCKED_ERROR", S::Failed, Some(R::Declined)),
            ("300", "ORDER_CANCEL", S::Failed, Some(R::AlreadyCancelled)),
            ("999", "UNKNOWN_ERROR", S::Unknown, Some(R::Unknown)),
        ];
        table.into_iter().fold(self, |suite, (code, name, status, reason)| {
            let body = format!(
                r#"{{"RETURN_CODE":"{code}","RETURN_MESSAGE":"{name}","STATUS":"{name}","ORDER_REF_NUMBER":"P-OLD","REFNO":"12345","TRANSACTION_ID":77}}"#
            );
            let answer = HttpResponse::new(200, "application/json", body);
            suite.documented(Refund, &format!("{code} {name}"), answer, status, reason)
        })
    }
}

fn seed() -> Value {
    json!({
        "merchants": [{"merchant": "M1", "merchant_key": KEY}],
        "payments": [
            {"merchant": "M1", "order_ref": "P-OLD", "amount": 125000, "date": "2020-04-19T18:34:35+03:00",
             "sub_merchants": [{"sub_merchant_id": "S1", "amount": 107300}]},
            {"merchant": "M1", "order_ref": "P-TODAY", "amount": 20000}
        ]
    })
}

#[tokio::test]
async fn statically_linked_passes_the_suite() {
    let p = PluginProvider::from_static(payops_esnekpos::payops_plugin::api()).unwrap();
    let report = suite(p).run_all().await;
    report.assert_passed();
    // Four capabilities: info; per capability the happy path, credentials
    // and response schema; 11 faults (with the other-order answer) on each of
    // the 3 money-moving operations; per operation the request schema accepts
    // the example and refuses 8 bad documents (4 without an amount); 12
    // documented codes and the over-refund; two reconcile checks (answer
    // lost, request lost) per money-moving operation; per capability the
    // refusal of wrong credentials; the 11 faults on the query too; the
    // two request samples. The return: happy path, credentials in the
    // outcome, response schema, 11 faults, its request schema (9), wrong
    // credentials, two reconcile checks, that its rule has cases, one rule
    // case.
    assert_eq!(
        report.passed.len(),
        1 + 4 * 3
            + 11 * 3
            + (9 + 5 + 5 + 9)
            + 12
            + 1
            + 2 * 3
            + 4
            + 11
            + 2
            + (3 + 11 + 9 + 1 + 2)
            + 1
            + 1,
        "{:?}",
        report.passed
    );
}

#[tokio::test]
async fn loaded_as_cdylib_passes_the_suite() {
    let p = loader::load(&payops_conformance::built_cdylib("payops_esnekpos")).unwrap();
    suite(p).run_all().await.assert_passed();
}
