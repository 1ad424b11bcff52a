//! The fixture provider loaded as a cdylib: a refund through the host's
//! transport, and the plugin's tracing event in the host's subscriber.

use std::sync::{Arc, Mutex};

use payops_core::driver::PluginProvider;
use payops_core::loader;
use payops_core::serde_json::{Value, json};
use payops_core::{OperationKind, Status};
use payops_transport::SimServer;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn loaded_plugin_refunds_through_host_transport_and_logs_to_host() {
    let logs = Buf::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The only test in this binary, so the global subscriber sees every event
    // (a scoped subscriber races with tests on other threads over tracing's
    // per-callsite interest cache).
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let provider: PluginProvider = loader::load(&payops_conformance::built_cdylib("abi_fixture"))
        .expect("fixture plugin loads");
    assert_eq!(provider.info().id, "fixture");
    assert_eq!(provider.info().capabilities, vec![OperationKind::Refund]);
    assert!(provider.file().is_some());

    // The loopback server is the plugin's own simulator, reached over HTTP.
    let server = SimServer::start(
        provider.simulator().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let secret = "fixture-super-secret-key";
    let ctx = payops_conformance::context(
        &provider,
        json!({"base_url": &server.url(), "key": secret}),
        http(),
    );

    let outcome = provider
        .execute(
            OperationKind::Refund,
            &ctx,
            json!({"order_ref": "ORD-1", "amount": 1250}),
        )
        .await
        .unwrap();
    assert_eq!(outcome.status, Status::Succeeded, "{outcome:?}");
    assert_eq!(outcome.provider_reference.as_deref(), Some("R1"));
    // The simulator echoed the key; the host scrubbed it from `raw`.
    assert_eq!(outcome.raw["echo_key"], json!("[REDACTED]"));
    let state: Value = server.with_sim(|s| s.state());
    assert_eq!(
        state["refunds"],
        json!([{"order_ref": "ORD-1", "amount": 1250, "idempotency_key": "op_test",
                 "caller_key": null, "nonce": "0123456789abcdef0123456789abcdef"}])
    );

    // The plugin's tracing event reached the host's subscriber, scrubbed.
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("fixture refund sent with key [REDACTED]"),
        "{text}"
    );
    assert!(text.contains("payops::plugin"), "{text}");
    assert!(text.contains("ORD-1"), "{text}");
    assert!(!text.contains(secret), "{text}");

    // Unsupported operations are typed errors.
    let e = provider
        .execute(OperationKind::Query, &ctx, json!({"order_ref": "ORD-1"}))
        .await
        .unwrap_err();
    assert_eq!(e.code().as_str(), "unsupported_operation");
}

/// The host's HTTP transport (the simulator is served over loopback).
fn http() -> std::sync::Arc<dyn payops_core::HttpTransport> {
    std::sync::Arc::new(payops_transport::ReqwestTransport::new().expect("HTTP client"))
}
