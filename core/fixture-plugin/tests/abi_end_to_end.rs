//! Loads the fixture provider as a cdylib through the core loader and runs a
//! refund over a loopback server through the host's transport.

use payops_core::abi::{self, PluginProvider};
use payops_core::serde_json::json;
use payops_core::{OperationKind, Provider, Status};
use payops_transport::SimServer;

#[tokio::test]
async fn plugin_panic_is_caught_at_the_boundary() {
    let provider = abi::load(&payops_conformance::built_cdylib("abi_fixture")).unwrap();
    let ctx = payops_conformance::context(
        &provider,
        json!({"base_url": "http://127.0.0.1:9", "key": "k-123456"}),
        http(),
    );
    let e = provider
        .execute(
            OperationKind::Refund,
            &ctx,
            json!({"order_ref": "panic", "amount": 1}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code().as_str(), "internal");
    assert!(e.message().contains("fixture asked to panic"), "{e}");
    // The plugin is still usable after a panic.
    assert_eq!(provider.info().id, "fixture");
}

#[tokio::test]
async fn connection_refused_is_failed_not_unknown() {
    // Bind then drop a listener so the port is (almost certainly) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let provider = abi::load(&payops_conformance::built_cdylib("abi_fixture")).unwrap();
    let ctx = payops_conformance::context(
        &provider,
        json!({"base_url": &format!("http://127.0.0.1:{port}"), "key": "k-123456"}),
        http(),
    );
    let o = provider
        .execute(
            OperationKind::Refund,
            &ctx,
            json!({"order_ref": "A", "amount": 1}),
        )
        .await
        .unwrap();
    assert_eq!(o.status, Status::Failed, "{o:?}");
}

#[tokio::test]
async fn statically_linked_plugin_takes_the_same_path() {
    let provider = PluginProvider::from_static(abi_fixture::payops_plugin::api()).unwrap();
    let server = SimServer::start(
        provider.simulator().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let ctx = payops_conformance::context(
        &provider,
        json!({"base_url": &server.url(), "key": "static-key-1"}),
        http(),
    );
    let o = provider
        .execute(
            OperationKind::Refund,
            &ctx,
            json!({"order_ref": "S-1", "amount": 5}),
        )
        .await
        .unwrap();
    assert_eq!(o.status, Status::Succeeded);
}

/// The host's HTTP transport (the simulator is served over loopback).
fn http() -> std::sync::Arc<dyn payops_core::HttpTransport> {
    std::sync::Arc::new(payops_transport::ReqwestTransport::new().expect("HTTP client"))
}
