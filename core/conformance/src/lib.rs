//! # payops-conformance
//!
//! The provider kit's test side. It depends on `payops-core` alone, so a
//! provider crate (in this repository or out of tree) can use it as a
//! dev-dependency without pulling in the host:
//!
//! - [`built_cdylib`] / [`cdylib_file_name`]: where cargo put a plugin
//!   cdylib for this test run, to load it through the real ABI;
//! - [`context`]: an [`OperationContext`] for a provider account on any
//!   transport, with the credentials the account schema marks `writeOnly`
//!   treated as secrets;
//! - [`SimTransport`]: an in-memory [`HttpTransport`] that hands each
//!   request to a provider's [`Simulator`], no sockets involved;
//! - [`fault`]: a wrapper that injects the failures a real network and a
//!   real provider produce (timeouts before and after the provider acts,
//!   dropped connections, 5xx pages, truncated bodies);
//! - [`suite::Suite`]: the behavior suite a provider runs against its own
//!   simulator, gated on its declared capabilities (first part: see the
//!   module for what it checks and what it does not yet).

#![warn(missing_docs)]

pub mod fault;
pub mod suite;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset};
use payops_core::{
    AccountConfig, AccountName, HttpRequest, HttpResponse, HttpTransport, OperationContext,
    OperationId, Simulator, TransportError,
};

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

/// The wall clock in Turkish time (+03:00), as the host reads it.
pub fn turkey_now() -> DateTime<FixedOffset> {
    chrono::Utc::now().with_timezone(&payops_core::turkey_offset())
}

/// A context for one operation on `account` (provider-specific config),
/// with the credentials `provider`'s account schema marks `writeOnly`
/// treated as secrets, sending through `transport`.
///
/// # Panics
/// When `account` is not a JSON object.
pub fn context(
    provider: &payops_core::driver::PluginProvider,
    account: serde_json::Value,
    transport: Arc<dyn HttpTransport>,
) -> OperationContext {
    let values = match account {
        serde_json::Value::Object(m) => m,
        other => panic!("an account is a JSON object, not {other}"),
    };
    OperationContext {
        operation_id: OperationId::new("op_test").expect("valid id"),
        account_name: AccountName::new(format!("{}-test", provider.info().id)).expect("valid name"),
        account: AccountConfig::new(values, provider.info().secret_keys()),
        transport,
        now: turkey_now(),
        idempotency_key: None,
        nonce: "0123456789abcdef0123456789abcdef".into(),
        earlier_returns: 0,
    }
}

type Clock = Arc<dyn Fn() -> DateTime<FixedOffset> + Send + Sync>;

/// An in-memory transport: every request goes straight to a provider's
/// [`Simulator`] (whatever the URL's host), answered at the kit's clock.
/// Clones share the simulator.
#[derive(Clone)]
pub struct SimTransport {
    sim: Arc<Mutex<Box<dyn Simulator>>>,
    clock: Arc<Mutex<Clock>>,
}

impl SimTransport {
    /// Serves `sim`, on the wall clock in Turkish time.
    pub fn new(sim: Box<dyn Simulator>) -> SimTransport {
        SimTransport {
            sim: Arc::new(Mutex::new(sim)),
            clock: Arc::new(Mutex::new(Arc::new(turkey_now) as Clock)),
        }
    }

    /// Runs `f` with the simulator (to seed data or read its state).
    pub fn with_sim<T>(&self, f: impl FnOnce(&mut dyn Simulator) -> T) -> T {
        let mut guard = self.sim.lock().unwrap_or_else(|p| p.into_inner());
        f(guard.as_mut())
    }

    /// Replaces the simulator's clock (to move to another day, or to skew
    /// the provider's time against the host's).
    pub fn set_clock(&self, clock: impl Fn() -> DateTime<FixedOffset> + Send + Sync + 'static) {
        *self.clock.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(clock);
    }

    /// Answers `request` synchronously.
    pub fn answer(&self, request: &HttpRequest) -> HttpResponse {
        let now = (self.clock.lock().unwrap_or_else(|p| p.into_inner()).clone())();
        self.with_sim(|sim| sim.handle(request, now))
    }
}

#[async_trait::async_trait]
impl HttpTransport for SimTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        Ok(self.answer(&request))
    }
}
