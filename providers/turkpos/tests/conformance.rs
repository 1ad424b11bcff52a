//! TurkPos runs the kit's behavior suite against its own simulator, linked
//! statically and loaded as a cdylib through the real loader.

use payops_conformance::suite::Suite;
use payops_core::OperationKind::*;
use payops_core::abi::{self, PluginProvider};
use serde_json::json;

// Random-looking: the suite also looks for 6-character pieces of them.
const PASS: &str = "Xr7Kq2Wm9Z";
const GUID: &str = "7C3E9A1F-B42D-4E8A-9F61-D05B8C2A7E34";
const G1: &str = "5E8B2D71-9C4A-4F36-A1E0-3B7D6C9F2A18";
const G2: &str = "A2C94E17-6B3F-4D85-8E20-F71D3A5C9B46";

fn suite<P: payops_core::Provider>(p: P) -> Suite<P> {
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
    // (answer lost, request lost) per money-moving operation.
    assert_eq!(
        report.passed.len(),
        1 + 3 * 3 + 9 * 2 + (9 + 5 + 5) + 2 * 2,
        "{:?}",
        report.passed
    );
}

#[tokio::test]
async fn loaded_as_cdylib_passes_the_suite() {
    let p = abi::load(&payops_conformance::built_cdylib("payops_turkpos")).unwrap();
    suite(p).run_all().await.assert_passed();
}
