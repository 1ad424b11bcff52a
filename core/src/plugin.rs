//! The provider author's side of the boundary: implement [`Plugin`] as a
//! sans-IO state machine and call [`export_provider!`](crate::export_provider)
//! once.
//!
//! The host calls [`Plugin::start`] with the request document; the plugin
//! answers with a [`Step`]: an HTTP request to send (plus the state it needs to
//! continue), or the final [`Outcome`]. The host sends the request with its own
//! transport and calls [`Plugin::resume`] with the response or the transport
//! error. The plugin never sleeps, reads a clock or opens a socket.

use std::cell::RefCell;
use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse, Simulator, TransportError};
use crate::outcome::Outcome;
use crate::provider::ProviderInfo;
use crate::types::OperationKind;

/// What a plugin knows about the current call.
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
}

/// The next step of an operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Send `request`; call [`Plugin::resume`] with the result and `state`.
    Send {
        /// The request to send.
        request: HttpRequest,
        /// Whatever the plugin needs to continue (returned unchanged).
        state: Value,
    },
    /// The operation is over.
    Done(Outcome),
    /// The answer to a reconcile call.
    Reconciled(crate::reconcile::Resolution),
}

/// A provider implementation, sans-IO.
pub trait Plugin: Send + Sync + 'static {
    /// Id, name, version, capabilities and schemas.
    fn info(&self) -> ProviderInfo;

    /// Starts `call.operation` with a request document the host validated
    /// against this provider's request schema.
    fn start(&self, call: &Call, request: &Value) -> Result<Step, Error>;

    /// Continues after the host sent the request of a [`Step::Send`].
    ///
    /// The plugin decides what a transport error means; the usual answer is
    /// [`Outcome::from_transport_error`] (`failed` if nothing was sent,
    /// `unknown` otherwise).
    fn resume(
        &self,
        call: &Call,
        state: Value,
        response: Result<HttpResponse, TransportError>,
    ) -> Result<Step, Error>;

    /// A simulator of the provider with demo data.
    fn simulator(&self) -> Box<dyn Simulator>;

    /// Settles an unresolved operation from a fresh query (see
    /// [`crate::reconcile`]). The default cannot tell anything.
    fn reconcile(
        &self,
        _call: &Call,
        _input: &crate::reconcile::ReconcileInput,
    ) -> Result<crate::reconcile::Resolution, Error> {
        Ok(crate::reconcile::Resolution::undetermined(
            "this provider has no reconciliation: left for an operator",
        ))
    }
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

thread_local! {
    static CAPTURED: RefCell<Vec<LogEvent>> = const { RefCell::new(Vec::new()) };
}

/// A `tracing` subscriber that records events of the current thread so they
/// can cross the boundary as data. A plugin's copy of `tracing` has its own
/// global dispatcher which the host cannot see; this is how its events reach
/// the host's subscriber (the same path is used when linked statically).
struct Capture;

struct Visitor<'a>(&'a mut LogEvent);

impl tracing::field::Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.message = format!("{value:?}");
        } else {
            self.0
                .fields
                .insert(field.name().to_owned(), format!("{value:?}"));
        }
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0.message = value.to_owned();
        } else {
            self.0
                .fields
                .insert(field.name().to_owned(), value.to_owned());
        }
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let meta = event.metadata();
        let mut e = LogEvent {
            level: meta.level().to_string(),
            target: meta.target().to_owned(),
            message: String::new(),
            fields: BTreeMap::new(),
        };
        event.record(&mut Visitor(&mut e));
        CAPTURED.with(|c| c.borrow_mut().push(e));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Runs `f` with plugin tracing captured; returns its result and the events.
pub fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, Vec<LogEvent>) {
    static DISPATCH: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    let dispatch = DISPATCH.get_or_init(|| tracing::Dispatch::new(Capture));
    CAPTURED.with(|c| c.borrow_mut().clear());
    let out = tracing::dispatcher::with_default(dispatch, f);
    let logs = CAPTURED.with(|c| std::mem::take(&mut *c.borrow_mut()));
    (out, logs)
}

/// Decodes a request document into a provider's typed document. Only a JSON
/// object is a request document: serde would also accept the positional
/// (array) form of a struct, which no schema describes and which slips past
/// `deny_unknown_fields`.
pub fn parse_document<T: serde::de::DeserializeOwned>(request: &Value) -> Result<T, Error> {
    if !request.is_object() {
        return Err(Error::invalid_field(
            "/",
            "a request document must be a JSON object",
        ));
    }
    serde_json::from_value(request.clone()).map_err(|e| Error::invalid_field("", e.to_string()))
}

/// Reads a JSON answer by the contract's rule, for JSON providers' `resume`:
/// a transport error becomes [`Outcome::from_transport_error`] (`failed`
/// only when nothing was sent), and a 5xx or a body that is not one JSON
/// value (HTML, truncated, two values, a number that would be rounded) becomes
/// [`Outcome::unparseable`] (`unknown`), boxed. Any other status comes back with
/// its document: what a 2xx or 4xx means is the provider's to say.
///
/// ```
/// use payops_core::plugin::json_answer;
/// use payops_core::{HttpResponse, Status};
/// let ok = json_answer(Ok(HttpResponse::new(404, "application/json", r#"{"code":"x"}"#)));
/// assert_eq!(ok.unwrap().0, 404);
/// let html = json_answer(Ok(HttpResponse::new(200, "text/html", "<html>")));
/// assert_eq!(html.unwrap_err().status, Status::Unknown);
/// let five = json_answer(Ok(HttpResponse::new(503, "application/json", "{}")));
/// assert_eq!(five.unwrap_err().status, Status::Unknown);
/// ```
pub fn json_answer(
    response: Result<crate::HttpResponse, crate::TransportError>,
) -> Result<(u16, Value), Box<crate::Outcome>> {
    let response = response.map_err(|e| Box::new(crate::Outcome::from_transport_error(&e)))?;
    if response.status >= 500 {
        return Err(Box::new(crate::Outcome::unparseable(
            response.status,
            format!("HTTP {} from the provider", response.status),
            &response.body,
        )));
    }
    match crate::json::from_slice_exact(&response.body) {
        Ok(v) => Ok((response.status, v)),
        Err(e) => Err(Box::new(crate::Outcome::unparseable(
            response.status,
            format!("the answer is not one JSON document: {e}"),
            &response.body,
        ))),
    }
}
