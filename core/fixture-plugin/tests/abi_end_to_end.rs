//! Loads the fixture provider as a cdylib through the core loader and runs a
//! refund over a loopback server through the host's transport.

use std::path::PathBuf;
use std::sync::Arc;

use payops_core::abi::{self, PluginProvider};
use payops_core::serde_json::{self, json};
use payops_core::{
    AccountConfig, AccountName, OperationContext, OperationId, OperationKind, Provider, Status,
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
