//! Loads the fixture provider as a cdylib through the core loader and runs a
//! refund over a loopback server through the host's transport.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use payops_core::abi::{self, PluginProvider};
use payops_core::serde_json::{self, Value, json};
use payops_core::{
    AccountConfig, AccountName, OperationContext, OperationId, OperationKind, Provider,
    RefundRequest, Status,
};
use payops_transport::{ReqwestTransport, SimServer};

/// The cdylib cargo built next to this test binary.
fn cdylib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let name = format!(
        "{}abi_fixture{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let deps = exe.parent().unwrap();
    for dir in [deps, deps.parent().unwrap()] {
        let p = dir.join(&name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} not found near {}", exe.display());
}

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

fn context(base_url: &str, key: &str) -> OperationContext {
    let provider_secret_keys = vec!["key".to_string()];
    let mut values = serde_json::Map::new();
    values.insert("base_url".into(), json!(base_url));
    values.insert("key".into(), json!(key));
    OperationContext {
        operation_id: OperationId::new("op_test1").unwrap(),
        account_name: AccountName::new("fixture-test").unwrap(),
        account: AccountConfig::new(values, provider_secret_keys),
        transport: Arc::new(ReqwestTransport::new().unwrap()),
        now: payops_transport::turkey_now(),
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
    let _guard = tracing::subscriber::set_default(subscriber);

    let provider: PluginProvider = abi::load(&cdylib()).expect("fixture plugin loads");
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
    let ctx = context(&server.url(), secret);

    let request: RefundRequest =
        serde_json::from_value(json!({"order_ref": "ORD-1", "amount": 1250})).unwrap();
    let refund = provider.refund().expect("refund supported");
    let outcome = refund.refund(&ctx, request).await.unwrap();
    assert_eq!(outcome.status, Status::Succeeded, "{outcome:?}");
    assert_eq!(outcome.provider_reference.as_deref(), Some("R1"));
    // The simulator echoed the key; the host scrubbed it from `raw`.
    assert_eq!(outcome.raw["echo_key"], json!("[REDACTED]"));
    let state: Value = server.with_sim(|s| s.state());
    assert_eq!(
        state["refunds"],
        json!([{"order_ref": "ORD-1", "amount": 1250}])
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

#[tokio::test]
async fn plugin_panic_is_caught_at_the_boundary() {
    let provider = abi::load(&cdylib()).unwrap();
    let ctx = context("http://127.0.0.1:9", "k-123456");
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
    let provider = abi::load(&cdylib()).unwrap();
    let ctx = context(&format!("http://127.0.0.1:{port}"), "k-123456");
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
    let ctx = context(&server.url(), "static-key-1");
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
