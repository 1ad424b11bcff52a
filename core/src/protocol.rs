//! The plugin protocol: what crosses between the host and a provider, and
//! nothing else. A `repr(C)` [`PluginDeclaration`] checked first, a table of
//! four `extern "C"` functions ([`PluginApi`]) and JSON messages in byte
//! [`Buffer`]s: [`StepInput`] in, [`StepReply`] out, [`SimCall`] for the
//! simulator.
//!
//! Both sides use this module: the guest side ([`crate::guest`]) answers the
//! messages, the host side (`driver`, behind the `host` feature) sends them.
//! The messages' JSON Schemas are committed in `core/protocol/protocol.json`;
//! a test fails when a shape changes while [`ABI_VERSION`] stays the same.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ErrorInfo;
use crate::http::{HttpRequest, HttpResponse, TransportError};
use crate::outcome::Outcome;
use crate::reconcile::{ReconcileInput, Resolution};
use crate::types::OperationKind;

/// The first bytes of every declaration: refuses foreign symbols early.
pub const MAGIC: [u8; 8] = *b"PAYOPS\0\0";
/// The plugin protocol version: the layout of [`PluginDeclaration`] and
/// [`PluginApi`], and the shape of the JSON messages. The messages' JSON
/// Schemas are committed in `core/protocol/protocol.json`; a test fails when
/// a shape changes while this number stays the same.
pub const ABI_VERSION: u32 = 6;
/// The oldest protocol version a host still loads. Version 4's messages
/// are version 5's without `HttpRequest.safe` (absent reads as `false`,
/// "not safe"); version 5's are version 6's without
/// `ProviderInfo.account_callbacks` (absent: none) and
/// `ReconcileInput.callback` (sent only to providers that declare account
/// callbacks). So their plugins work unchanged.
pub const MIN_ABI_VERSION: u32 = 4;
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
    /// The provider's [`ProviderInfo`](crate::ProviderInfo) as JSON
    /// (`{"ok": ...}` or `{"err": ...}`).
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

/// What a provider knows about the current call.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Call {
    /// The operation.
    pub operation: OperationKind,
    /// The host's operation id.
    pub operation_id: String,
    /// The account's provider-specific config, credentials included.
    pub account: serde_json::Map<String, Value>,
    /// The host's clock when the operation started.
    pub now: DateTime<FixedOffset>,
    /// The caller's idempotency key, when one was given (the operation id is
    /// always there, one per intent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// A host-made random value, fresh for every execution.
    #[serde(default)]
    pub nonce: String,
    /// How many earlier refunds, cancels and returns of the same order
    /// payops has that did not fail (a `return` cancels only when there is
    /// none: some providers' cancel reverses the whole payment). 0 for
    /// other operations and from hosts before protocol 5.
    #[serde(default)]
    pub earlier_returns: u32,
}

/// The next step of an operation, as it crosses the boundary (the phase
/// state as JSON; providers write [`Next`](crate::provider::Next) with a
/// typed phase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Send `request`; resume with the result and `state`.
    Send {
        /// The request to send.
        request: HttpRequest,
        /// Whatever the provider needs to continue (returned unchanged).
        state: Value,
    },
    /// The operation is over.
    Done(Outcome),
    /// The answer to a reconcile call.
    Reconciled(Resolution),
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
        /// The state the provider returned.
        state: Value,
        /// What the transport produced.
        response: Result<HttpResponse, TransportError>,
    },
    /// Settle an unresolved operation (answered with [`Step::Reconciled`]).
    Reconcile {
        /// The call (the operation is the one being settled).
        call: Call,
        /// The operation, its siblings, claims and a fresh query.
        input: Box<ReconcileInput>,
    },
}

/// One tracing event captured inside a plugin, re-emitted by the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LogEvent {
    /// `TRACE`, `DEBUG`, `INFO`, `WARN` or `ERROR`.
    pub level: String,
    /// The event's target (module path in the plugin).
    pub target: String,
    /// The `message` field.
    pub message: String,
    /// Other fields, formatted with `Debug`.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
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
        now: DateTime<FixedOffset>,
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
        now: DateTime<FixedOffset>,
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
