//! # payops-testkit
//!
//! Helpers the payops test suites share (a dev-dependency only): where cargo
//! put a plugin cdylib, and an [`OperationContext`] for a provider account
//! that uses the real host transport.

#![warn(missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;

use payops_core::{AccountConfig, AccountName, OperationContext, OperationId, Provider};
use payops_transport::ReqwestTransport;

/// The platform file name of a cdylib: `libpayops_esnekpos.so` for
/// `payops_esnekpos` on Linux.
pub fn cdylib_file_name(lib_name: &str) -> String {
    format!(
        "{}{lib_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// The cdylib `lib_name` cargo built for this test run: next to the test
/// binary (`target/debug/deps`) or one level up (`target/debug`).
///
/// # Panics
/// When it was not built (the crate must be a dependency of the test).
pub fn built_cdylib(lib_name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let name = cdylib_file_name(lib_name);
    let deps = exe.parent().expect("test binary directory");
    [Some(deps), deps.parent()]
        .into_iter()
        .flatten()
        .map(|d| d.join(&name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{name} not found near {}", exe.display()))
}

/// A context for one operation on `account` (provider-specific config),
/// with the credentials `provider`'s account schema marks `writeOnly`
/// treated as secrets, and the production reqwest transport.
pub fn context(provider: &dyn Provider, account: serde_json::Value) -> OperationContext {
    let values = match account {
        serde_json::Value::Object(m) => m,
        other => panic!("an account is a JSON object, not {other}"),
    };
    OperationContext {
        operation_id: OperationId::new("op_test").expect("valid id"),
        account_name: AccountName::new(format!("{}-test", provider.info().id)).expect("valid name"),
        account: AccountConfig::new(values, provider.info().secret_keys()),
        transport: Arc::new(ReqwestTransport::new().expect("HTTP client")),
        now: payops_transport::turkey_now(),
    }
}
