//! The fixture provider loaded as a cdylib: a refund through the host's
//! transport, and the plugin's tracing event in the host's subscriber.

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
    // The only test in this binary, so the global subscriber sees every event
    // (a scoped subscriber races with tests on other threads over tracing's
    // per-callsite interest cache).
    tracing::subscriber::set_global_default(subscriber).unwrap();

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
