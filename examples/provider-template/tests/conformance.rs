//! The payops conformance suite against the Acme Pay simulator, linked
//! statically and loaded as a cdylib through the host's loader.

use payops_conformance::suite::Suite;
use payops_core::OperationKind::*;
use payops_core::abi::{self, PluginProvider};
use payops_core::serde_json::json;

fn suite<P: payops_core::Provider>(p: P) -> Suite<P> {
    // Random-looking: the suite looks for 6-character pieces of credentials.
    Suite::new(p, json!({"base_url": "http://sim.invalid", "api_key": "Qv8Lw3Zr6Kp1"}))
        .seed(json!({"api_key": "Qv8Lw3Zr6Kp1", "payments": [
            {"order_ref": "P-1", "amount": 5000}, {"order_ref": "P-2", "amount": 3000}]}))
        .example(Refund, json!({"order_ref": "P-1", "amount": 1200}))
        .example(Cancel, json!({"order_ref": "P-2"}))
        .example(Query, json!({"order_ref": "P-1"}))
}

#[tokio::test]
async fn statically_linked_passes_the_suite() {
    let p = PluginProvider::from_static(payops_acmepay::payops_plugin::api()).unwrap();
    suite(p).run_all().await.assert_passed();
}

#[tokio::test]
async fn loaded_as_cdylib_passes_the_suite() {
    let p = abi::load(&payops_conformance::built_cdylib("payops_acmepay")).unwrap();
    suite(p).run_all().await.assert_passed();
}
