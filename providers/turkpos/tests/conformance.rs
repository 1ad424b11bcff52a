//! TurkPos runs the kit's behavior suite against its own simulator, linked
//! statically and loaded as a cdylib through the real loader.

use payops_conformance::suite::{ReturnExpect as E, Sample, Suite};
use payops_core::OperationKind::*;
use payops_core::driver::PluginProvider;
use payops_core::loader;
use payops_core::{HttpResponse, Reason as R, Status as S};
use serde_json::json;

// Random-looking: the suite also looks for 6-character pieces of them.
const PASS: &str = "Xr7Kq2Wm9Z";
const GUID: &str = "7C3E9A1F-B42D-4E8A-9F61-D05B8C2A7E34";
const G1: &str = "5E8B2D71-9C4A-4F36-A1E0-3B7D6C9F2A18";
const G2: &str = "A2C94E17-6B3F-4D85-8E20-F71D3A5C9B46";

fn at(s: &str) -> payops_core::chrono::DateTime<payops_core::chrono::FixedOffset> {
    payops_core::chrono::DateTime::parse_from_rfc3339(s).unwrap()
}

fn r1() -> serde_json::Value {
    json!({"orders": [
        {"order_ref": "R1", "marketplace_order_guid": G1, "amount": 5000, "seller_payout_amount": 4000, "date": "2024-05-01T10:00:00+03:00"},
        {"order_ref": "S1", "amount": 5000, "date": "2024-05-01T10:00:00+03:00"}
    ]})
}

fn suite(p: PluginProvider) -> Suite {
    Suite::new(
        p,
        json!({"environment": "test", "base_url": "http://sim.invalid", "client_code": "555",
               "client_username": "u", "client_password": PASS, "guid": GUID, "timeout_ms": 5000}),
    )
    .seed(json!({
        "clients": [{"client_code": "555", "client_username": "u", "client_password": PASS, "guid": GUID}],
        "orders": [
            // Refunds are for earlier days; the same day takes a cancel.
            {"order_ref": "T-OLD", "marketplace_order_guid": G1, "amount": 5000,
             "seller_payout_amount": 4000, "date": "2020-01-02T10:00:00+03:00"},
            {"order_ref": "T-NEW", "marketplace_order_guid": G2, "amount": 3000, "seller_payout_amount": 2500}
        ]
    }))
    .example(
        Refund,
        json!({"order_ref": "T-OLD", "marketplace_order_guid": G1, "amount": 1000, "seller_payout_amount": 3000}),
    )
    .example(
        Cancel,
        json!({"order_ref": "T-NEW", "marketplace_order_guid": G2, "whole_order": true, "seller_payout_amount": 0}),
    )
    .example(Query, json!({"order_ref": "T-OLD"}))
    .example(
        Return,
        json!({"order_ref": "T-OLD", "marketplace_order_guid": G1, "amount": 1000, "seller_payout_amount": 3000}),
    )
    // Param's rule on the simulator's clock: R1 paid 2024-05-01 10:00.
    .return_case("on the payment's day: IPTAL", at("2024-05-01T23:59:00+03:00"), r1(), json!({"order_ref": "R1", "marketplace_order_guid": G1, "amount": 1000, "seller_payout_amount": 3000}), E::Became(Cancel))
    .return_case("the next day: IADE", at("2024-05-02T00:00:00+03:00"), r1(), json!({"order_ref": "R1", "marketplace_order_guid": G1, "amount": 1000, "seller_payout_amount": 3000}), E::Became(Refund))
    .return_case("a standard order's partial return on its day: not yet", at("2024-05-01T12:00:00+03:00"), r1(), json!({"order_ref": "S1", "order_type": "standard", "amount": 1000}), E::Refused(R::NotAllowedToday))
    .return_case("a standard order's whole return on its day: IPTAL", at("2024-05-01T12:00:00+03:00"), r1(), json!({"order_ref": "S1", "order_type": "standard", "amount": 5000}), E::Became(Cancel))
    .documented(Refund, "the doc's Pazaryeri_TP_Iptal_Iade answer (Sonuc 1)", answer(200, &sample("1")), S::Succeeded, None)
    .documented(Refund, "Sonuc 0", answer(200, &sample("0")), S::Failed, Some(R::Refused))
    .documented(Refund, "Sonuc -1", answer(200, &sample("-1")), S::Failed, Some(R::Refused))
    .documented(Refund, "Sonuc 1 on HTTP 500", answer(500, &sample("1")), S::Unknown, Some(R::ProviderError))
    .documented(Refund, "soap:Client fault", answer(500, &fault("soap:Client")), S::Failed, Some(R::InvalidRequest))
    .documented(Refund, "soap:Server fault", answer(500, &fault("soap:Server")), S::Unknown, Some(R::ProviderError))
    // TurkPos answers an over-return with a negative Sonuc (the docs give
    // no cause): a refusal.
    .over_refund(
        json!({"order_ref": "T-OLD", "marketplace_order_guid": G1, "amount": 4500, "seller_payout_amount": 0}),
        R::Refused,
    )
    // Param's sample of its standard return, with the sample's own client.
    .request_sample(
        Refund,
        "TP_Islem_Iptal_Iade_Kismi2",
        json!({"environment": "test", "client_code": "10738", "client_username": "Test",
               "client_password": "Test", "guid": "0c13d406-873b-403b-9c09-a5766840d98c"}),
        json!({"order_type": "standard", "order_ref": "3000159380", "amount": 100}),
        Sample::Xml(include_str!("fixtures/kismi2.request.xml").into()),
    )
}

fn answer(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(status, "text/xml; charset=utf-8", body.to_owned())
}

/// TurkPos's documented Pazaryeri_TP_Iptal_Iade response, with `Sonuc` set.
fn sample(sonuc: &str) -> String {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/iptal-iade.response.xml"
    ))
    .unwrap();
    doc.replace("<Sonuc>1</Sonuc>", &format!("<Sonuc>{sonuc}</Sonuc>"))
}

fn fault(code: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>{code}</faultcode><faultstring>x</faultstring></soap:Fault></soap:Body></soap:Envelope>"#
    )
}

#[tokio::test]
async fn statically_linked_passes_the_suite() {
    let p = PluginProvider::from_static(payops_turkpos::payops_plugin::api()).unwrap();
    let report = suite(p).run_all().await;
    report.assert_passed();
    // Three capabilities: info; per capability the happy path, credentials
    // and response schema; 9 faults on each of the 2 money-moving operations
    // (TurkPos answers do not name the order, so the other-order case does
    // not apply); per operation the request schema accepts the example and
    // refuses 8 bad documents (4 without an amount); two reconcile checks
    // (answer lost, request lost) per money-moving operation; 6 documented
    // answers and the over-refund; per capability the refusal of wrong
    // credentials; the 10 faults on the query and, since its answer names
    // the order, the other-order case; the request sample. The return:
    // happy path, credentials in the outcome, response schema, 10 faults
    // on its acting request, its request schema (9), wrong credentials,
    // two reconcile checks, that its rule has cases, and the 4 cases on
    // simulator clocks.
    assert_eq!(
        report.passed.len(),
        1 + 3 * 3
            + 10 * 2
            + (9 + 5 + 5)
            + 2 * 2
            + 6
            + 1
            + 3
            + 11
            + 1
            + (3 + 10 + 9 + 1 + 2)
            + 1
            + 4,
        "{:?}",
        report.passed
    );
}

#[tokio::test]
async fn loaded_as_cdylib_passes_the_suite() {
    let p = loader::load(&payops_conformance::built_cdylib("payops_turkpos")).unwrap();
    suite(p).run_all().await.assert_passed();
}
