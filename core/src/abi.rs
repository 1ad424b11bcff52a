//! The plugin ABI: a `repr(C)` declaration, four `extern "C"` functions and
//! JSON byte buffers. See the crate documentation for why.
//!
//! Guest side: [`export_provider!`](crate::export_provider) and the
//! [`guest`] functions it calls. Host side: [`load`], [`check_declaration`],
//! [`PluginProvider`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, ErrorInfo};
use crate::http::{HttpRequest, HttpResponse, Simulator, TransportError};
use crate::outcome::{Outcome, Status, scrub_outcome, scrub_string};
use crate::plugin::{Call, LogEvent, Plugin, Step};
use crate::provider::{
    Cancel, OperationContext, Provider, ProviderInfo, Query, Refund, SubMerchantAdjust,
};
use crate::types::{
    CancelRequest, OperationKind, QueryRequest, RefundRequest, SubMerchantAdjustRequest,
};

/// The first bytes of every declaration: refuses foreign symbols early.
pub const MAGIC: [u8; 8] = *b"PAYOPS\0\0";
/// The plugin protocol version: the layout of [`PluginDeclaration`] and
/// [`PluginApi`], and the shape of the JSON messages. The messages' JSON
/// Schemas are committed in `core/protocol/protocol.json`; a test fails when
/// a shape changes while this number stays the same.
pub const ABI_VERSION: u32 = 4;
/// The rustc that compiled this copy of payops-core (diagnostics only: the
/// boundary is C functions and JSON, so plugins built by another rustc load).
pub const RUSTC_VERSION: &str = env!("PAYOPS_RUSTC_VERSION");
/// This payops-core's version.
pub const CORE_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The exported symbol's name.
pub const DECLARATION_SYMBOL: &str = "PAYOPS_PLUGIN_DECLARATION";
/// The most steps (HTTP round trips) one operation may take.
pub const MAX_STEPS: usize = 8;

/// A borrowed static string across the boundary.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct StrRef {
    /// Start of the UTF-8 bytes.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl StrRef {
    /// Points at a static string.
    pub const fn new(s: &'static str) -> StrRef {
        StrRef {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }
}

/// Bytes owned by the plugin; the host copies them and gives them back with
/// [`PluginApi::free`].
#[repr(C)]
pub struct Buffer {
    /// Start of the bytes.
    pub ptr: *mut u8,
    /// Length.
    pub len: usize,
    /// Capacity of the plugin's allocation.
    pub cap: usize,
}

impl Buffer {
    /// Hands a vector over (guest side).
    pub fn from_vec(v: Vec<u8>) -> Buffer {
        let mut v = std::mem::ManuallyDrop::new(v);
        Buffer {
            ptr: v.as_mut_ptr(),
            len: v.len(),
            cap: v.capacity(),
        }
    }

    /// Takes a vector back (guest side, in `free`).
    ///
    /// # Safety
    /// `self` must come from [`Buffer::from_vec`] in the same library.
    pub unsafe fn into_vec(self) -> Vec<u8> {
        // SAFETY: the caller guarantees the parts came from `from_vec`.
        unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) }
    }
}

/// The functions a plugin exports.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PluginApi {
    /// The provider's [`ProviderInfo`] as JSON (`{"ok": ...}` or `{"err": ...}`).
    pub info: extern "C" fn() -> Buffer,
    /// One step: JSON in (a [`StepInput`]), JSON out (a [`StepReply`]).
    pub step: extern "C" fn(*const u8, usize) -> Buffer,
    /// Simulator calls: JSON in ([`SimCall`]), JSON out.
    pub simulate: extern "C" fn(*const u8, usize) -> Buffer,
    /// Frees a buffer this plugin returned.
    pub free: extern "C" fn(Buffer),
}

/// The exported declaration, checked field by field before anything is called.
#[repr(C)]
pub struct PluginDeclaration {
    /// Must equal [`MAGIC`].
    pub magic: [u8; 8],
    /// Must equal the host's [`ABI_VERSION`].
    pub abi_version: u32,
    /// The rustc that built the plugin (diagnostics only, not checked).
    pub rustc_version: StrRef,
    /// The payops-core version the plugin was built with.
    pub core_version: StrRef,
    /// Returns the function table.
    pub register: extern "C" fn() -> PluginApi,
}

// SAFETY: the declaration only holds pointers to static strings and functions.
unsafe impl Sync for PluginDeclaration {}

/// Makes a provider crate a plugin: `payops_core::export_provider!(MyProvider);`
/// (the type implements [`Plugin`] and `Default`) or
/// `export_provider!(MyProvider, MyProvider::new())`.
///
/// It exports the `PAYOPS_PLUGIN_DECLARATION` symbol and a Rust function
/// `payops_plugin::api()` for linking the same provider statically. Only one
/// provider may be exported per library, and two provider crates linked
/// statically into one binary clash on that symbol; load them as cdylibs.
#[macro_export]
macro_rules! export_provider {
    ($ty:ty) => {
        $crate::export_provider!($ty, <$ty as ::core::default::Default>::default());
    };
    ($ty:ty, $ctor:expr) => {
        /// The plugin entry points generated by `payops_core::export_provider!`.
        pub mod payops_plugin {
            #[allow(unused_imports)]
            use super::*;
            use $crate::abi::{Buffer, PluginApi, PluginDeclaration, StrRef};

            fn instance() -> &'static $ty {
                static INSTANCE: ::std::sync::OnceLock<$ty> = ::std::sync::OnceLock::new();
                INSTANCE.get_or_init(|| $ctor)
            }
            extern "C" fn info() -> Buffer {
                Buffer::from_vec($crate::abi::guest::info(instance))
            }
            extern "C" fn step(ptr: *const u8, len: usize) -> Buffer {
                // SAFETY: the host passes a valid buffer for the call's duration.
                let input = unsafe { $crate::abi::guest::bytes(ptr, len) };
                Buffer::from_vec($crate::abi::guest::step(instance, input))
            }
            extern "C" fn simulate(ptr: *const u8, len: usize) -> Buffer {
                // SAFETY: as above.
                let input = unsafe { $crate::abi::guest::bytes(ptr, len) };
                Buffer::from_vec($crate::abi::guest::simulate(instance, input))
            }
            extern "C" fn free(buffer: Buffer) {
                // SAFETY: the host only returns buffers this library made.
                drop(unsafe { buffer.into_vec() });
            }
            extern "C" fn register() -> PluginApi {
                api()
            }
            /// The function table, for linking this provider statically.
            pub fn api() -> PluginApi {
                PluginApi {
                    info,
                    step,
                    simulate,
                    free,
                }
            }
            /// The declaration the host checks before calling anything.
            /// (Not exported in fuzzing builds, which link several providers
            /// statically into one binary and never load a cdylib.)
            #[cfg_attr(not(fuzzing), unsafe(no_mangle))]
            pub static PAYOPS_PLUGIN_DECLARATION: PluginDeclaration = PluginDeclaration {
                magic: $crate::abi::MAGIC,
                abi_version: $crate::abi::ABI_VERSION,
                rustc_version: StrRef::new($crate::abi::RUSTC_VERSION),
                core_version: StrRef::new($crate::abi::CORE_VERSION),
                register,
            };
        }
    };
}

/// The input of a step call.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepInput {
    /// Start an operation.
    Start {
        /// The call.
        call: Call,
        /// The request document.
        request: Value,
    },
    /// Continue after a [`Step::Send`].
    Resume {
        /// The call.
        call: Call,
        /// The state the plugin returned.
        state: Value,
        /// What the transport produced.
        response: Result<HttpResponse, TransportError>,
    },
    /// Settle an unresolved operation (answered with [`Step::Reconciled`]).
    Reconcile {
        /// The call (the operation is the one being settled).
        call: Call,
        /// The operation, its siblings, claims and a fresh query.
        input: Box<crate::reconcile::ReconcileInput>,
    },
}

/// The output of a step call.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepReply {
    /// The step, or the error.
    pub result: Result<Step, ErrorInfo>,
    /// Tracing events the plugin emitted during the call.
    #[serde(default)]
    pub logs: Vec<LogEvent>,
}

/// A simulator call.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum SimCall {
    /// Create a simulator; answers `{"id": n}`.
    Create,
    /// Handle a request; answers the [`HttpResponse`].
    Handle {
        /// Simulator id.
        id: u64,
        /// The request.
        request: HttpRequest,
        /// The host's clock.
        now: chrono::DateTime<chrono::FixedOffset>,
    },
    /// Seed data; answers `null`.
    Seed {
        /// Simulator id.
        id: u64,
        /// Provider-specific seed document.
        document: Value,
    },
    /// The simulator's state.
    State {
        /// Simulator id.
        id: u64,
    },
    /// Time passes; answers the requests the simulator would post now.
    Tick {
        /// Simulator id.
        id: u64,
        /// The host's clock.
        now: chrono::DateTime<chrono::FixedOffset>,
    },
    /// Demo accounts.
    DemoAccounts {
        /// Simulator id.
        id: u64,
    },
    /// Drop the simulator.
    Drop {
        /// Simulator id.
        id: u64,
    },
}

/// Guest-side implementations of the exported functions. Every entry point
/// catches panics and turns them into an `internal` error.
pub mod guest {
    use super::*;

    /// Borrows the host's input bytes.
    ///
    /// # Safety
    /// `ptr` must be valid for `len` bytes for the returned lifetime.
    pub unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
        if ptr.is_null() || len == 0 {
            &[]
        } else {
            // SAFETY: guaranteed by the caller.
            unsafe { std::slice::from_raw_parts(ptr, len) }
        }
    }

    fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
        p.downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic".into())
    }

    fn guard(f: impl FnOnce() -> Result<Value, Error>) -> Vec<u8> {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
            Err(Error::Internal(format!(
                "plugin panicked: {}",
                panic_message(p)
            )))
        });
        let v = match r {
            Ok(v) => json!({ "ok": v }),
            Err(e) => json!({ "err": e.to_body().error }),
        };
        serde_json::to_vec(&v).unwrap_or_else(|_| {
            b"{\"err\":{\"code\":\"internal\",\"message\":\"unserializable reply\"}}".to_vec()
        })
    }

    /// `info`.
    pub fn info<P: Plugin>(instance: fn() -> &'static P) -> Vec<u8> {
        guard(|| {
            serde_json::to_value(instance().info()).map_err(|e| Error::Internal(e.to_string()))
        })
    }

    /// `step`.
    pub fn step<P: Plugin>(instance: fn() -> &'static P, input: &[u8]) -> Vec<u8> {
        let mut logs = Vec::new();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let input: StepInput = serde_json::from_slice(input)
                .map_err(|e| Error::Internal(format!("bad step input: {e}")))?;
            let p = instance();
            let (r, l) = crate::plugin::capture_logs(|| match input {
                StepInput::Start { call, request } => p.start(&call, &request),
                StepInput::Resume {
                    call,
                    state,
                    response,
                } => p.resume(&call, state, response),
                StepInput::Reconcile { call, input } => {
                    p.reconcile(&call, &input).map(Step::Reconciled)
                }
            });
            logs = l;
            r
        }))
        .unwrap_or_else(|p| {
            Err(Error::Internal(format!(
                "plugin panicked: {}",
                panic_message(p)
            )))
        });
        let reply = StepReply {
            result: result.map_err(|e| e.to_body().error),
            logs,
        };
        serde_json::to_vec(&reply).unwrap_or_else(|e| {
            serde_json::to_vec(&StepReply {
                result: Err(Error::Internal(format!("unserializable reply: {e}"))
                    .to_body()
                    .error),
                logs: Vec::new(),
            })
            .unwrap_or_default()
        })
    }

    type Sims = Mutex<HashMap<u64, Box<dyn Simulator>>>;
    type SimFn<'a> = &'a mut dyn FnMut(&mut Box<dyn Simulator>) -> Result<Value, Error>;

    fn sims() -> &'static Sims {
        static SIMS: OnceLock<Sims> = OnceLock::new();
        SIMS.get_or_init(Default::default)
    }

    /// `simulate`.
    pub fn simulate<P: Plugin>(instance: fn() -> &'static P, input: &[u8]) -> Vec<u8> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        guard(|| {
            let call: SimCall = serde_json::from_slice(input)
                .map_err(|e| Error::Internal(format!("bad simulator call: {e}")))?;
            let with = |id: u64, f: SimFn<'_>| {
                let mut map = sims().lock().unwrap_or_else(|p| p.into_inner());
                let sim = map
                    .get_mut(&id)
                    .ok_or_else(|| Error::NotFound(format!("simulator {id}")))?;
                f(sim)
            };
            match call {
                SimCall::Create => {
                    let sim = instance().simulator();
                    let id = NEXT.fetch_add(1, Ordering::Relaxed);
                    sims()
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(id, sim);
                    Ok(json!({ "id": id }))
                }
                SimCall::Handle { id, request, now } => with(id, &mut |s| {
                    serde_json::to_value(s.handle(&request, now))
                        .map_err(|e| Error::Internal(e.to_string()))
                }),
                SimCall::Seed { id, document } => with(id, &mut |s| {
                    s.seed(&document)
                        .map(|_| Value::Null)
                        .map_err(|e| Error::invalid_field("", e))
                }),
                SimCall::State { id } => with(id, &mut |s| Ok(s.state())),
                SimCall::Tick { id, now } => with(id, &mut |s| {
                    serde_json::to_value(s.tick(now)).map_err(|e| Error::Internal(e.to_string()))
                }),
                SimCall::DemoAccounts { id } => with(id, &mut |s| Ok(s.demo_accounts())),
                SimCall::Drop { id } => {
                    sims().lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                    Ok(Value::Null)
                }
            }
        })
    }
}

/// Why a library could not be loaded as a plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be opened as a shared library.
    #[error("{file}: cannot open as a shared library: {reason}")]
    Open {
        /// The file.
        file: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// No declaration symbol: not a payops plugin.
    #[error("{file}: not a payops plugin (no {DECLARATION_SYMBOL} symbol)")]
    NotAPlugin {
        /// The file.
        file: PathBuf,
    },
    /// The declaration does not start with the magic bytes.
    #[error("{file}: {DECLARATION_SYMBOL} is not a payops declaration (bad magic)")]
    BadMagic {
        /// The file.
        file: PathBuf,
    },
    /// A version check failed.
    #[error("{file}: {what} mismatch: expected {expected:?}, found {found:?}")]
    Mismatch {
        /// The file.
        file: PathBuf,
        /// The plugin protocol version or the payops-core version.
        what: &'static str,
        /// What the host was built with.
        expected: String,
        /// What the plugin declares.
        found: String,
    },
    /// The plugin answered `info` with an error or garbage.
    #[error("{file}: plugin info failed: {reason}")]
    Info {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl LoadError {
    /// The file concerned.
    pub fn file(&self) -> &Path {
        match self {
            LoadError::Open { file, .. }
            | LoadError::NotAPlugin { file }
            | LoadError::BadMagic { file }
            | LoadError::Mismatch { file, .. }
            | LoadError::Info { file, .. } => file,
        }
    }
}

/// Reads a [`StrRef`] defensively.
///
/// # Safety
/// `s` must point at `len` readable bytes.
unsafe fn read_str(s: &StrRef) -> String {
    if s.ptr.is_null() || s.len > 4096 {
        return "<invalid>".into();
    }
    // SAFETY: guaranteed by the caller.
    let bytes = unsafe { std::slice::from_raw_parts(s.ptr, s.len) };
    String::from_utf8_lossy(bytes).into_owned()
}

/// Checks a declaration against this host: magic, then the protocol (ABI)
/// version (exact), then the payops-core version (semver-compatible, see
/// [`core_compatible`]). The rustc version is not checked: only `extern "C"`
/// functions, `repr(C)` structs and JSON bytes cross the boundary.
///
/// # Safety
/// `decl` must point at readable memory at least as large as the magic and
/// ABI version; the strings are only read once the ABI version matches.
pub unsafe fn check_declaration(
    file: &Path,
    decl: *const PluginDeclaration,
) -> Result<(), LoadError> {
    let file = file.to_path_buf();
    // SAFETY: the caller guarantees the header fields are readable.
    let (magic, abi) = unsafe {
        (
            std::ptr::read_unaligned(std::ptr::addr_of!((*decl).magic)),
            std::ptr::read_unaligned(std::ptr::addr_of!((*decl).abi_version)),
        )
    };
    if magic != MAGIC {
        return Err(LoadError::BadMagic { file });
    }
    if abi != ABI_VERSION {
        return Err(LoadError::Mismatch {
            file,
            what: "plugin protocol version (rebuild the plugin against a payops-core that speaks this payops's protocol; `payops --version` prints it)",
            expected: ABI_VERSION.to_string(),
            found: abi.to_string(),
        });
    }
    // SAFETY: same protocol version, so the layout is ours.
    let decl = unsafe { &*decl };
    // Only C functions and JSON cross the boundary: the compiler that built
    // the plugin does not matter (its version is kept for diagnostics).
    let core = unsafe { read_str(&decl.core_version) };
    if !core_compatible(&core, CORE_VERSION) {
        return Err(LoadError::Mismatch {
            file,
            what: "payops-core version (semver-compatible: same major, and same minor for 0.x)",
            expected: format!("{} (a compatible release)", CORE_VERSION),
            found: core,
        });
    }
    Ok(())
}

/// Semver compatibility of a plugin's payops-core with the host's: the
/// same major version, and for 0.x the same minor (as cargo reads `^`).
/// A newer patch of a compatible release loads.
pub fn core_compatible(plugin: &str, host: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64)> {
        let mut it = v.split(['.', '-', '+']);
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    };
    match (parse(plugin), parse(host)) {
        (Some((pm, pn)), Some((hm, hn))) => pm == hm && (hm > 0 || pn == hn),
        _ => false,
    }
}

/// Loads a provider plugin from a shared library.
///
/// The library is opened, its declaration checked, and only then is
/// `register` called. The library is never unloaded (plugins may leave
/// thread-locals and statics behind); every object made from it also holds
/// it alive.
pub fn load(path: &Path) -> Result<PluginProvider, LoadError> {
    // SAFETY: loading a library runs its initializers; payops plugins have
    // none beyond Rust's, and foreign files are refused before any call.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| {
        // libloading's message is "dlopen failed"; the loader's own words
        // (e.g. "invalid ELF header") are in the error's source.
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            reason.push_str(&format!(": {s}"));
            source = s.source();
        }
        LoadError::Open {
            file: path.to_path_buf(),
            reason,
        }
    })?;
    let decl: *const PluginDeclaration = unsafe {
        match lib.get::<*const PluginDeclaration>(DECLARATION_SYMBOL.as_bytes()) {
            // The symbol's address is the static itself.
            Ok(sym) => sym.try_as_raw_ptr().map(|p| p as *const PluginDeclaration),
            Err(_) => None,
        }
    }
    .filter(|p| !p.is_null())
    .ok_or_else(|| LoadError::NotAPlugin {
        file: path.to_path_buf(),
    })?;
    // SAFETY: a symbol of this name is at least as large as the header or the
    // magic check fails on garbage that happens to be readable.
    unsafe { check_declaration(path, decl)? };
    let api = unsafe { ((*decl).register)() };
    let lib = Arc::new(lib);
    keep_loaded(lib.clone());
    PluginProvider::new(api, Some(lib), Some(path.to_path_buf()))
}

fn keep_loaded(lib: Arc<libloading::Library>) {
    static LOADED: OnceLock<Mutex<Vec<Arc<libloading::Library>>>> = OnceLock::new();
    LOADED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(lib);
}

/// A plugin (dynamically loaded or statically linked) seen as a [`Provider`].
///
/// It drives the plugin's step machine with the context's transport and
/// re-emits the plugin's tracing events in the host's subscriber.
pub struct PluginProvider {
    api: PluginApi,
    info: ProviderInfo,
    file: Option<PathBuf>,
    _lib: Option<Arc<libloading::Library>>,
}

impl std::fmt::Debug for PluginProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginProvider")
            .field("id", &self.info.id)
            .field("file", &self.file)
            .finish()
    }
}

fn call_api(
    api: &PluginApi,
    f: extern "C" fn(*const u8, usize) -> Buffer,
    input: &[u8],
) -> Vec<u8> {
    let buf = f(input.as_ptr(), input.len());
    take(api, buf)
}

fn take(api: &PluginApi, buf: Buffer) -> Vec<u8> {
    let out = if buf.ptr.is_null() {
        Vec::new()
    } else {
        // SAFETY: the plugin returned `len` valid bytes.
        unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) }.to_vec()
    };
    (api.free)(buf);
    out
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reply {
    Ok(Value),
    Err(ErrorInfo),
}

fn decode_reply(bytes: &[u8]) -> Result<Value, Error> {
    match serde_json::from_slice::<Reply>(bytes) {
        Ok(Reply::Ok(v)) => Ok(v),
        Ok(Reply::Err(e)) => Err(Error::from_info(e)),
        Err(e) => Err(Error::Internal(format!("malformed plugin reply: {e}"))),
    }
}

impl PluginProvider {
    /// Wraps a function table (from [`load`] or a statically linked
    /// provider's `payops_plugin::api()`).
    pub fn new(
        api: PluginApi,
        lib: Option<Arc<libloading::Library>>,
        file: Option<PathBuf>,
    ) -> Result<PluginProvider, LoadError> {
        let file_for_err = file.clone().unwrap_or_else(|| PathBuf::from("<static>"));
        let bytes = take(&api, (api.info)());
        let info = decode_reply(&bytes)
            .and_then(|v| {
                serde_json::from_value::<ProviderInfo>(v)
                    .map_err(|e| Error::Internal(e.to_string()))
            })
            .map_err(|e| LoadError::Info {
                file: file_for_err,
                reason: e.to_string(),
            })?;
        Ok(PluginProvider {
            api,
            info,
            file,
            _lib: lib,
        })
    }

    /// A statically linked provider.
    pub fn from_static(api: PluginApi) -> Result<PluginProvider, LoadError> {
        PluginProvider::new(api, None, None)
    }

    /// The library file, for dynamically loaded plugins.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    fn step(&self, input: &StepInput, secrets: &[String]) -> Result<Step, Error> {
        let bytes = serde_json::to_vec(input).map_err(|e| Error::Internal(e.to_string()))?;
        let out = call_api(&self.api, self.api.step, &bytes);
        let reply: StepReply = serde_json::from_slice(&out)
            .map_err(|e| Error::Internal(format!("malformed plugin step reply: {e}")))?;
        for event in reply.logs {
            emit(&self.info.id, event, secrets);
        }
        reply.result.map_err(Error::from_info)
    }

    /// Runs `op` on the plugin, untyped: validates nothing itself (the host
    /// validated `document` against the schema), loops over the plugin's
    /// steps with the context's transport, and scrubs credentials from the
    /// outcome.
    pub async fn run(
        &self,
        op: OperationKind,
        ctx: &OperationContext,
        document: Value,
    ) -> Result<Outcome, Error> {
        if !self.info.supports(op) {
            return Err(Error::UnsupportedOperation(format!(
                "{} does not support {op}",
                self.info.id
            )));
        }
        let secrets = ctx.account.secret_values();
        let call = Call {
            operation: op,
            operation_id: ctx.operation_id.to_string(),
            account: ctx.account.expose().clone(),
            now: ctx.now,
            idempotency_key: ctx.idempotency_key.clone(),
            nonce: ctx.nonce.clone(),
        };
        let mut input = StepInput::Start {
            call: call.clone(),
            request: document,
        };
        let mut sent = false;
        for _ in 0..MAX_STEPS {
            let step = match self.step(&input, &secrets) {
                Ok(s) => s,
                // After something was sent, a plugin failure must not hide
                // that the provider may have acted.
                Err(e) if sent && op.moves_money() => {
                    let mut o = Outcome::new(Status::Unknown)
                        .with(Status::Unknown, Some(crate::outcome::Reason::ProviderError));
                    o.provider_message = Some(format!("plugin failed after sending: {e}"));
                    scrub_outcome(&mut o, &secrets);
                    return Ok(o);
                }
                Err(e) => return Err(scrub_error(e, &secrets)),
            };
            match step {
                Step::Done(mut outcome) => {
                    scrub_outcome(&mut outcome, &secrets);
                    return Ok(outcome);
                }
                Step::Reconciled(_) if sent && op.moves_money() => {
                    let mut o = Outcome::new(Status::Unknown);
                    o.provider_message =
                        Some("plugin answered an operation with a reconciliation".into());
                    return Ok(o);
                }
                Step::Reconciled(_) => {
                    return Err(Error::Internal(
                        "plugin answered an operation with a reconciliation".into(),
                    ));
                }
                Step::Send { request, state } => {
                    tracing::debug!(target: "payops::plugin", provider = %self.info.id, method = %request.method, path = %request.path(), "sending provider request");
                    let response = ctx.transport.send(request).await;
                    if let Err(e) = &response {
                        tracing::debug!(target: "payops::plugin", provider = %self.info.id, kind = ?e.kind, "transport error");
                    }
                    sent = sent
                        || response.is_ok()
                        || response.as_ref().is_err_and(TransportError::maybe_sent);
                    input = StepInput::Resume {
                        call: call.clone(),
                        state,
                        response,
                    };
                }
            }
        }
        if sent {
            let mut o = Outcome::new(Status::Unknown);
            o.provider_message = Some(format!("plugin took more than {MAX_STEPS} steps"));
            Ok(o)
        } else {
            Err(Error::Internal(format!(
                "plugin took more than {MAX_STEPS} steps"
            )))
        }
    }

    /// Asks the plugin to settle an unresolved operation (no IO: the host
    /// ran the query already). Credentials are scrubbed from the evidence.
    pub fn reconcile(
        &self,
        ctx: &OperationContext,
        input: crate::reconcile::ReconcileInput,
    ) -> Result<crate::reconcile::Resolution, Error> {
        let secrets = ctx.account.secret_values();
        let call = Call {
            operation: input.operation,
            operation_id: ctx.operation_id.to_string(),
            account: ctx.account.expose().clone(),
            now: ctx.now,
            idempotency_key: ctx.idempotency_key.clone(),
            nonce: ctx.nonce.clone(),
        };
        let step = self
            .step(
                &StepInput::Reconcile {
                    call,
                    input: Box::new(input),
                },
                &secrets,
            )
            .map_err(|e| scrub_error(e, &secrets))?;
        match step {
            Step::Reconciled(mut r) => {
                scrub_string(&mut r.evidence, &secrets);
                Ok(r)
            }
            other => Err(Error::Internal(format!(
                "plugin answered a reconcile call with {other:?}"
            ))),
        }
    }

    fn sim_call(&self, call: &SimCall) -> Result<Value, Error> {
        let bytes = serde_json::to_vec(call).map_err(|e| Error::Internal(e.to_string()))?;
        decode_reply(&call_api(&self.api, self.api.simulate, &bytes))
    }
}

fn scrub_error(e: Error, secrets: &[String]) -> Error {
    let mut info = e.to_body().error;
    scrub_string(&mut info.message, secrets);
    for d in &mut info.details {
        scrub_string(&mut d.message, secrets);
    }
    Error::from_info(info)
}

/// Re-emits a plugin's event under the target `payops::plugin`, credentials
/// scrubbed. The plugin's own fields travel as one JSON object,
/// `plugin_fields` (the host's JSON log format unfolds it into an object).
fn emit(provider: &str, event: LogEvent, secrets: &[String]) {
    let mut message = event.message;
    scrub_string(&mut message, secrets);
    let fields: serde_json::Map<String, Value> = event
        .fields
        .into_iter()
        .map(|(k, mut v)| {
            scrub_string(&mut v, secrets);
            (k, Value::String(v))
        })
        .collect();
    let fields = Value::Object(fields).to_string();
    let t = event.target.as_str();
    macro_rules! ev {
        ($lvl:expr) => {
            tracing::event!(target: "payops::plugin", $lvl, provider = provider, plugin_target = t, plugin_fields = %fields, "{message}")
        };
    }
    match event.level.as_str() {
        "ERROR" => ev!(tracing::Level::ERROR),
        "WARN" => ev!(tracing::Level::WARN),
        "INFO" => ev!(tracing::Level::INFO),
        "DEBUG" => ev!(tracing::Level::DEBUG),
        _ => ev!(tracing::Level::TRACE),
    }
}

#[async_trait::async_trait]
impl Provider for PluginProvider {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }
    fn refund(&self) -> Option<&dyn Refund> {
        self.info
            .supports(OperationKind::Refund)
            .then_some(self as &dyn Refund)
    }
    fn cancel(&self) -> Option<&dyn Cancel> {
        self.info
            .supports(OperationKind::Cancel)
            .then_some(self as &dyn Cancel)
    }
    fn query(&self) -> Option<&dyn Query> {
        self.info
            .supports(OperationKind::Query)
            .then_some(self as &dyn Query)
    }
    fn sub_merchant_adjust(&self) -> Option<&dyn SubMerchantAdjust> {
        self.info
            .supports(OperationKind::SubMerchantAdjust)
            .then_some(self as &dyn SubMerchantAdjust)
    }
    fn simulator(&self) -> Result<Box<dyn Simulator>, Error> {
        let v = self.sim_call(&SimCall::Create)?;
        let id = v
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::Internal("simulator create returned no id".into()))?;
        Ok(Box::new(PluginSimulator {
            api: self.api,
            id,
            provider: self.info.id.clone(),
            _lib: self._lib.clone(),
        }))
    }
    async fn execute(
        &self,
        op: OperationKind,
        ctx: &OperationContext,
        document: Value,
    ) -> Result<Outcome, Error> {
        self.run(op, ctx, document).await
    }
}

fn to_doc<T: Serialize>(t: &T) -> Result<Value, Error> {
    serde_json::to_value(t).map_err(|e| Error::Internal(e.to_string()))
}

#[async_trait::async_trait]
impl Refund for PluginProvider {
    async fn refund(
        &self,
        ctx: &OperationContext,
        request: RefundRequest,
    ) -> Result<Outcome, Error> {
        self.run(OperationKind::Refund, ctx, to_doc(&request)?)
            .await
    }
}
#[async_trait::async_trait]
impl Cancel for PluginProvider {
    async fn cancel(
        &self,
        ctx: &OperationContext,
        request: CancelRequest,
    ) -> Result<Outcome, Error> {
        self.run(OperationKind::Cancel, ctx, to_doc(&request)?)
            .await
    }
}
#[async_trait::async_trait]
impl Query for PluginProvider {
    async fn query(&self, ctx: &OperationContext, request: QueryRequest) -> Result<Outcome, Error> {
        self.run(OperationKind::Query, ctx, to_doc(&request)?).await
    }
}
#[async_trait::async_trait]
impl SubMerchantAdjust for PluginProvider {
    async fn sub_merchant_adjust(
        &self,
        ctx: &OperationContext,
        request: SubMerchantAdjustRequest,
    ) -> Result<Outcome, Error> {
        self.run(OperationKind::SubMerchantAdjust, ctx, to_doc(&request)?)
            .await
    }
}

/// A simulator living inside a plugin.
struct PluginSimulator {
    api: PluginApi,
    id: u64,
    provider: String,
    _lib: Option<Arc<libloading::Library>>,
}

impl PluginSimulator {
    fn call(&self, call: &SimCall) -> Result<Value, Error> {
        let bytes = serde_json::to_vec(call).map_err(|e| Error::Internal(e.to_string()))?;
        decode_reply(&call_api(&self.api, self.api.simulate, &bytes))
    }
}

impl Simulator for PluginSimulator {
    fn handle(
        &mut self,
        request: &HttpRequest,
        now: chrono::DateTime<chrono::FixedOffset>,
    ) -> HttpResponse {
        let r = self.call(&SimCall::Handle {
            id: self.id,
            request: request.clone(),
            now,
        });
        match r.and_then(|v| serde_json::from_value(v).map_err(|e| Error::Internal(e.to_string())))
        {
            Ok(resp) => resp,
            Err(e) => HttpResponse::new(
                500,
                "text/plain",
                format!("{} simulator failed: {e}", self.provider),
            ),
        }
    }
    fn seed(&mut self, document: &Value) -> Result<(), String> {
        self.call(&SimCall::Seed {
            id: self.id,
            document: document.clone(),
        })
        .map(|_| ())
        .map_err(|e| e.message().to_owned())
    }
    fn state(&self) -> Value {
        self.call(&SimCall::State { id: self.id })
            .unwrap_or(Value::Null)
    }
    fn demo_accounts(&self) -> Value {
        self.call(&SimCall::DemoAccounts { id: self.id })
            .unwrap_or(Value::Null)
    }
    fn tick(&mut self, now: chrono::DateTime<chrono::FixedOffset>) -> Vec<HttpRequest> {
        match self.call(&SimCall::Tick { id: self.id, now }) {
            Ok(v) => serde_json::from_value(v).unwrap_or_default(),
            Err(e) => {
                tracing::warn!(provider = %self.provider, error = %e, "simulator tick failed");
                Vec::new()
            }
        }
    }
}

impl Drop for PluginSimulator {
    fn drop(&mut self) {
        let _ = self.call(&SimCall::Drop { id: self.id });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn register() -> PluginApi {
        unreachable!("never called by a failing check")
    }

    fn decl(
        magic: [u8; 8],
        abi: u32,
        rustc: &'static str,
        core: &'static str,
    ) -> PluginDeclaration {
        PluginDeclaration {
            magic,
            abi_version: abi,
            rustc_version: StrRef::new(rustc),
            core_version: StrRef::new(core),
            register,
        }
    }

    #[test]
    fn matching_declaration_is_accepted() {
        let d = decl(MAGIC, ABI_VERSION, RUSTC_VERSION, CORE_VERSION);
        unsafe { check_declaration(Path::new("libok.so"), &d) }.unwrap();
    }

    #[test]
    fn core_compatibility_follows_cargo_caret() {
        assert!(core_compatible("0.2.0", "0.2.5"));
        assert!(core_compatible("0.2.7", "0.2.5"));
        assert!(!core_compatible("0.3.0", "0.2.5"));
        assert!(!core_compatible("0.1.9", "0.2.5"));
        assert!(core_compatible("1.4.0", "1.9.2"));
        assert!(!core_compatible("2.0.0", "1.9.2"));
        assert!(core_compatible("0.2.0-rc.1", "0.2.0"));
        assert!(!core_compatible("garbage", "0.2.0"));
        assert!(!core_compatible("", "0.2.0"));
    }

    #[test]
    fn mismatches_are_refused_with_file_and_both_versions() {
        let file = Path::new("/plugins/libbad.so");
        let d = decl(MAGIC, ABI_VERSION + 1, RUSTC_VERSION, CORE_VERSION);
        let e = unsafe { check_declaration(file, &d) }
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/plugins/libbad.so") && e.contains("protocol version"),
            "{e}"
        );
        assert!(
            e.contains(&format!("expected \"{ABI_VERSION}\""))
                && e.contains(&format!("found \"{}\"", ABI_VERSION + 1)),
            "{e}"
        );
        assert!(e.contains("rebuild"), "the error says the fix: {e}");

        // Another rustc does not matter: only C functions and JSON cross.
        let d = decl(
            MAGIC,
            ABI_VERSION,
            "rustc 1.0.0 (a28077b28 2015-05-13)",
            CORE_VERSION,
        );
        assert!(unsafe { check_declaration(file, &d) }.is_ok());
        // A compatible newer core patch loads.
        let (major, rest) = CORE_VERSION.split_once('.').unwrap();
        let minor = rest.split('.').next().unwrap();
        let patch = format!("{major}.{minor}.999");
        let d = decl(
            MAGIC,
            ABI_VERSION,
            RUSTC_VERSION,
            Box::leak(patch.into_boxed_str()),
        );
        assert!(unsafe { check_declaration(file, &d) }.is_ok());
        assert!(core_compatible("0.1.7", "0.1.0"));
        assert!(!core_compatible("0.2.0", "0.1.0"));
        assert!(core_compatible("1.4.0", "1.0.2"));
        assert!(!core_compatible("2.0.0", "1.0.2"));
        assert!(!core_compatible("garbage", "0.1.0"));

        let d = decl(MAGIC, ABI_VERSION, RUSTC_VERSION, "0.0.1-other");
        let e = unsafe { check_declaration(file, &d) }
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("libbad.so") && e.contains("payops-core version"),
            "{e}"
        );
        assert!(e.contains(CORE_VERSION) && e.contains("0.0.1-other"), "{e}");

        let d = decl(*b"NOTPAYOP", ABI_VERSION, RUSTC_VERSION, CORE_VERSION);
        let e = unsafe { check_declaration(file, &d) }
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad magic"), "{e}");
    }

    #[test]
    fn foreign_library_is_refused_not_crashed() {
        let dir = std::env::temp_dir().join(format!("payops-abi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("libjunk.so");
        std::fs::write(&junk, b"\x7fELF garbage").unwrap();
        let e = load(&junk).unwrap_err();
        assert!(matches!(e, LoadError::Open { .. }), "{e}");
        assert!(e.to_string().contains("libjunk.so"));
        let missing = load(&dir.join("nope.so")).unwrap_err();
        assert!(missing.to_string().contains("nope.so"));
    }
}
