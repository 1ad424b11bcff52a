//! Loads the fixture provider as a cdylib through the core loader and runs a
//! refund over a loopback server through the host's transport.

use payops_core::driver::PluginProvider;
use payops_core::loader;
use payops_core::serde_json::json;
use payops_core::{OperationKind, Status};
use payops_transport::SimServer;

#[tokio::test]
async fn plugin_panic_is_caught_at_the_boundary() {
    let provider = loader::load(&payops_conformance::built_cdylib("abi_fixture")).unwrap();
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
async fn connection_refused_is_a_refusal_not_unknown() {
    // Bind then drop a listener so the port is (almost certainly) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let provider = loader::load(&payops_conformance::built_cdylib("abi_fixture")).unwrap();
    let ctx = payops_conformance::context(
        &provider,
        json!({"base_url": &format!("http://127.0.0.1:{port}"), "key": "k-123456"}),
        http(),
    );
    // Nothing left for the provider: not an outcome (`failed` would claim
    // the provider declined) but a refusal, unreachable, 503.
    let e = provider
        .execute(
            OperationKind::Refund,
            &ctx,
            json!({"order_ref": "A", "amount": 1}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), payops_core::ErrorCode::Unavailable, "{e:?}");
    assert_eq!(
        e.refusal_reason(),
        Some(payops_core::outcome::Reason::Unreachable)
    );
    assert!(e.message().contains("nothing was sent"), "{e}");
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

#[tokio::test]
async fn operation_id_caller_key_and_nonce_reach_the_provider() {
    let provider = loader::load(&payops_conformance::built_cdylib("abi_fixture")).unwrap();
    let server = SimServer::start(
        provider.simulator().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let mut ctx = payops_conformance::context(
        &provider,
        json!({"base_url": &server.url(), "key": "k-7654321"}),
        http(),
    );
    ctx.idempotency_key = Some("caller-key-1".into());
    ctx.nonce = "5f0c8a1e9d2b4c6e8f0a1b2c3d4e5f60".into();
    let o = provider
        .execute(
            OperationKind::Refund,
            &ctx,
            json!({"order_ref": "N-1", "amount": 5}),
        )
        .await
        .unwrap();
    assert_eq!(o.status, Status::Succeeded);
    ctx.idempotency_key = None;
    provider
        .execute(
            OperationKind::Refund,
            &ctx,
            json!({"order_ref": "N-2", "amount": 5}),
        )
        .await
        .unwrap();
    let state = server.with_sim(|s| s.state());
    assert_eq!(
        state["refunds"],
        json!([
            {"order_ref": "N-1", "amount": 5, "idempotency_key": "op_test",
             "caller_key": "caller-key-1", "nonce": "5f0c8a1e9d2b4c6e8f0a1b2c3d4e5f60"},
            {"order_ref": "N-2", "amount": 5, "idempotency_key": "op_test",
             "caller_key": null, "nonce": "5f0c8a1e9d2b4c6e8f0a1b2c3d4e5f60"},
        ])
    );
}

/// The host's HTTP transport (the simulator is served over loopback).
fn http() -> std::sync::Arc<dyn payops_core::HttpTransport> {
    std::sync::Arc::new(payops_transport::ReqwestTransport::new().expect("HTTP client"))
}
