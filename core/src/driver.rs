//! The host side's driver: a provider behind the plugin protocol (a loaded
//! cdylib, or the same provider linked statically through its
//! `payops_plugin::api()`) run as operations. [`PluginProvider::execute`]
//! loops over the provider's steps, sending each request with the
//! [`OperationContext`]'s [`HttpTransport`], re-emits the provider's tracing
//! events in the host's subscriber and removes credentials from everything
//! the provider returns. Behind the `host` feature.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, ErrorInfo};
use crate::http::{HttpRequest, HttpResponse, Simulator, TransportError};
use crate::outcome::{Outcome, Status, scrub_outcome, scrub_string};
use crate::protocol::{
    Buffer, Call, LogEvent, MAX_STEPS, PluginApi, SimCall, Step, StepInput, StepReply,
};
use crate::provider::ProviderInfo;
use crate::secret::REDACTED;
use crate::types::{AccountName, OperationId, OperationKind};

/// The host's way to the network. The host implements it (reqwest, rustls,
/// pooling, timeouts); tests implement it with loopback servers or fault
/// injection.
#[async_trait::async_trait]
pub trait HttpTransport: Send + Sync {
    /// Sends one request and returns the complete response.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// An account's provider-specific config with credentials resolved.
///
/// `Debug` redacts the keys listed as secret; [`AccountConfig::secret_values`]
/// gives the host what to scrub from everything a provider returns.
#[derive(Clone, PartialEq)]
pub struct AccountConfig {
    values: serde_json::Map<String, Value>,
    secret_keys: Vec<String>,
}

impl AccountConfig {
    /// Wraps config values; `secret_keys` are the credential keys.
    pub fn new(values: serde_json::Map<String, Value>, secret_keys: Vec<String>) -> AccountConfig {
        AccountConfig {
            values,
            secret_keys,
        }
    }

    /// The values, credentials included. Only for handing to the provider.
    pub fn expose(&self) -> &serde_json::Map<String, Value> {
        &self.values
    }

    /// The names of the config keys that hold credentials.
    pub fn secret_key_names(&self) -> Vec<String> {
        self.secret_keys
            .iter()
            .filter(|k| self.values.contains_key(*k))
            .cloned()
            .collect()
    }

    /// The credential under `key`, if the config has it.
    pub fn secret_value(&self, key: &str) -> Option<String> {
        self.secret_keys
            .iter()
            .any(|k| k == key)
            .then(|| {
                self.values
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .flatten()
    }

    /// The credential values (strings), for scrubbing.
    pub fn secret_values(&self) -> Vec<String> {
        self.secret_keys
            .iter()
            .filter_map(|k| self.values.get(k))
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    }

    /// The values with every credential replaced by `[REDACTED]`.
    pub fn redacted(&self) -> serde_json::Map<String, Value> {
        let mut m = self.values.clone();
        for k in &self.secret_keys {
            if let Some(v) = m.get_mut(k) {
                *v = Value::String(REDACTED.into());
            }
        }
        m
    }
}

impl fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AccountConfig")
            .field(&self.redacted())
            .finish()
    }
}

/// Everything the host hands to one operation.
#[derive(Clone)]
pub struct OperationContext {
    /// The operation's id.
    pub operation_id: OperationId,
    /// The account's name.
    pub account_name: AccountName,
    /// The account's config, credentials resolved.
    pub account: AccountConfig,
    /// The host's transport.
    pub transport: Arc<dyn HttpTransport>,
    /// The host's clock reading when the operation started (+03:00 is typical).
    pub now: DateTime<FixedOffset>,
    /// The caller's idempotency key, when one was given. The operation id is
    /// always there and is one per intent: prefer it as the provider-side
    /// idempotency key.
    pub idempotency_key: Option<String>,
    /// A host-made random value (32 hex digits), fresh for every execution:
    /// for providers that want a nonce per request (the host owns
    /// randomness, as it owns the clock).
    pub nonce: String,
    /// Earlier refunds, cancels and returns of the order that did not fail
    /// ([`Call::earlier_returns`](crate::protocol::Call::earlier_returns)).
    pub earlier_returns: u32,
}

impl fmt::Debug for OperationContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationContext")
            .field("operation_id", &self.operation_id)
            .field("account_name", &self.account_name)
            .field("account", &self.account)
            .field("now", &self.now)
            .field("idempotency_key", &self.idempotency_key)
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

/// A provider behind the plugin protocol, dynamically loaded or statically
/// linked, as the host runs it.
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
    /// Wraps a function table (the loader's, or a statically linked
    /// provider's `payops_plugin::api()`); fails when the provider's
    /// `info` answers an error or garbage.
    pub fn new(
        api: PluginApi,
        lib: Option<Arc<libloading::Library>>,
        file: Option<PathBuf>,
    ) -> Result<PluginProvider, Error> {
        let bytes = take(&api, (api.info)());
        let info = decode_reply(&bytes).and_then(|v| {
            serde_json::from_value::<ProviderInfo>(v).map_err(|e| Error::Internal(e.to_string()))
        })?;
        Ok(PluginProvider {
            api,
            info,
            file,
            _lib: lib,
        })
    }

    /// A statically linked provider.
    pub fn from_static(api: PluginApi) -> Result<PluginProvider, Error> {
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

    /// What the provider is and can do.
    pub fn info(&self) -> &ProviderInfo {
        &self.info
    }

    /// A fresh simulator of this provider with its demo data.
    pub fn simulator(&self) -> Result<Box<dyn Simulator>, Error> {
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

    /// Runs `op` through the provider's operation trait, untyped:
    /// validates nothing itself (the host validated `document` against the
    /// schema), loops over the provider's steps with the context's
    /// transport, and scrubs credentials from the outcome.
    pub async fn execute(
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
            earlier_returns: ctx.earlier_returns,
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
                    if !sent && outcome.status == Status::Failed {
                        return Err(refusal_of_unsent(outcome));
                    }
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
                    tracing::debug!(target: "payops::plugin", provider = %self.info.id, method = %request.method, path = %request.path(), safe = request.safe, "sending provider request");
                    // A safe request (a token, a read) changes nothing at
                    // the provider: it does not count as sent for an
                    // operation that moves money.
                    let safe = request.safe && op.moves_money();
                    let response = ctx.transport.send(request).await;
                    if let Err(e) = &response {
                        tracing::debug!(target: "payops::plugin", provider = %self.info.id, kind = ?e.kind, "transport error");
                    }
                    sent = sent
                        || (!safe
                            && (response.is_ok()
                                || response.as_ref().is_err_and(TransportError::maybe_sent)));
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
            earlier_returns: ctx.earlier_returns,
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
    let mut info = e.to_info();
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

/// A `failed` outcome of an operation of which nothing left for the
/// provider (the connection could not be made, the request could not be
/// built, or only safe requests such as a token were sent): not the
/// provider's word on the operation, so not a `failed` operation but a
/// refusal. Unreachable is `unavailable` (503); anything else
/// `invalid_request`; the outcome's reason and message are kept.
fn refusal_of_unsent(outcome: Outcome) -> Error {
    let reason = outcome.reason.unwrap_or(crate::outcome::Reason::Unknown);
    let said = outcome
        .provider_message
        .unwrap_or_else(|| "no request was sent".into());
    use crate::outcome::Reason as R;
    let e = match reason {
        R::Unreachable => Error::Unavailable(format!(
            "the provider could not be reached; nothing was sent ({said})"
        )),
        // A safe request (a token, a return's read of the payment) whose
        // answer was lost or unreadable: the provider's trouble, not the
        // caller's document.
        R::Timeout | R::ConnectionLost | R::ProviderError => Error::Unavailable(format!(
            "the provider did not answer readably; nothing that could move money was sent ({said})"
        )),
        _ => Error::invalid_field(
            "",
            format!("nothing that could move money was sent: {said}"),
        ),
    };
    e.refused(reason, None)
}
