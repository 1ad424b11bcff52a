//! The provider author's API: [`Provider`] says who a provider is, and the
//! card's four operation traits, [`Refund`], [`Cancel`], [`Query`] and
//! [`SubMerchantAdjust`], are what it can do. A provider implements those it
//! supports, as sans-IO step machines over its typed request document and a
//! typed phase (a serde enum of the operation's steps); its capabilities are
//! exactly the traits it implements, and
//! [`export_provider!`](crate::export_provider) makes it a plugin.
//!
//! ```
//! use payops_core::provider::{About, Answer, Next, Provider, Refund};
//! use payops_core::{Call, Error, HttpRequest, Outcome, Simulator, Status};
//! # use payops_core::{HttpResponse, schemars, serde_json::{self, Value, json}};
//! # struct NoSim;
//! # impl Simulator for NoSim {
//! #     fn handle(&mut self, _: &HttpRequest, _: payops_core::chrono::DateTime<payops_core::chrono::FixedOffset>) -> HttpResponse { HttpResponse::new(404, "text/plain", "") }
//! #     fn seed(&mut self, _: &Value) -> Result<(), String> { Ok(()) }
//! #     fn state(&self) -> Value { Value::Null }
//! #     fn demo_accounts(&self) -> Value { json!({}) }
//! # }
//! #[derive(Default)]
//! struct Acme;
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Account { base_url: String }
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct RefundDoc { order_ref: String, amount: i64 }
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! enum Phase { Refunding { amount: i64 } }
//!
//! impl Provider for Acme {
//!     type Account = Account;
//!     fn about(&self) -> About { About::new("acme", "Acme", env!("CARGO_PKG_VERSION")) }
//!     fn simulator(&self) -> Box<dyn Simulator> { Box::new(NoSim) }
//! }
//!
//! impl Refund for Acme {
//!     type Document = RefundDoc;
//!     type Phase = Phase;
//!     fn details_schema(&self) -> Value { json!({"type": "object"}) }
//!     fn start(&self, _: &Call, a: &Account, doc: RefundDoc) -> Result<Next<Phase>, Error> {
//!         let body = format!("{{\"order\":{:?},\"amount\":{}}}", doc.order_ref, doc.amount);
//!         let request = HttpRequest::post(format!("{}/refunds", a.base_url), "application/json", body);
//!         Ok(Next::Send { request, phase: Phase::Refunding { amount: doc.amount } })
//!     }
//!     fn resume(&self, _: &Call, _: &Account, _: Phase, answer: Answer) -> Result<Next<Phase>, Error> {
//!         Ok(Next::Done(match answer {
//!             Ok(r) if r.status == 201 => Outcome::new(Status::Succeeded),
//!             Ok(_) => Outcome::new(Status::Unknown),
//!             Err(e) => Outcome::from_transport_error(&e),
//!         }))
//!     }
//! }
//!
//! let ops = payops_core::operations_of!(Acme);
//! let info = ops.info(&Acme);
//! assert_eq!(info.capabilities, vec![payops_core::OperationKind::Refund]);
//! ```

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::details::{envelope_schema, input_schema_of};
use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse, Simulator, TransportError};
use crate::outcome::Outcome;
use crate::protocol::{Call, Step, StepInput};
use crate::reconcile::{ReconcileInput, Resolution};
use crate::types::OperationKind;

/// The JSON Schemas of one operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OperationSchemas {
    /// The request document.
    pub request: Value,
    /// The outcome envelope with this operation's `details`.
    pub response: Value,
}

/// What a provider is and can do, as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProviderInfo {
    /// Stable id used in config (`esnekpos`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The provider crate's version.
    pub version: String,
    /// The operations it supports.
    pub capabilities: Vec<OperationKind>,
    /// JSON Schema of its account config (secrets marked `writeOnly`).
    pub account_schema: Value,
    /// Schemas per supported operation.
    pub operations: BTreeMap<OperationKind, OperationSchemas>,
    /// The account config keys that identify the merchant at the provider
    /// (not secrets). Two accounts with the same values are the same
    /// merchant: a provider transaction proves at most one operation among
    /// them.
    #[serde(default)]
    pub merchant_identity: Vec<String>,
    /// Operations whose result the provider also posts later, to a URL the
    /// request document gives it (see [`CallbackSpec`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub callbacks: Vec<CallbackSpec>,
    /// Operations whose results the provider posts to one URL per
    /// merchant, set once in its panel (see [`AccountCallbackSpec`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub account_callbacks: Vec<AccountCallbackSpec>,
}

/// An operation whose outcome the provider posts later to a URL named in
/// the request document (e.g. EsnekPOS's `BACK_URL` for an Android POS
/// cancel). When the caller leaves the field out and the daemon has a
/// public URL, the host fills in a callback URL of its own, one per
/// operation; a callback it receives triggers a reconciliation by query
/// (it is never trusted alone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CallbackSpec {
    /// The operation.
    pub operation: OperationKind,
    /// The request document's field that carries the URL (e.g. `back_url`).
    pub field: String,
    /// A JSON Schema the document must match for the provider to post a
    /// result (e.g. only `channel: android_pos`); absent: always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Value>,
}

/// An operation whose results the provider posts to one URL per merchant,
/// set once in its panel rather than given per request (Sipay's refund
/// webhook): the post names the order, not the operation. The host gives
/// each account of such a provider a callback URL of its own
/// (`/v1/callbacks/{provider}/accounts/{account}/{token}`); a post to it
/// reconciles the order's unresolved operations of this kind one by one,
/// each with the post in [`ReconcileInput::callback`](crate::ReconcileInput::callback):
/// the provider checks the post's own proof (its signature) and decides,
/// as for any reconciliation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccountCallbackSpec {
    /// The operation whose results are posted.
    pub operation: OperationKind,
    /// The post's field that names the order (a JSON or form field, e.g.
    /// `invoice_id`).
    pub order_field: String,
}

impl ProviderInfo {
    /// The per-merchant callback of `op`, if the provider posts one.
    pub fn account_callback(&self, op: OperationKind) -> Option<&AccountCallbackSpec> {
        self.account_callbacks.iter().find(|c| c.operation == op)
    }

    /// The callback of `op`, if the provider posts one.
    pub fn callback(&self, op: OperationKind) -> Option<&CallbackSpec> {
        self.callbacks.iter().find(|c| c.operation == op)
    }

    /// True when the provider supports `op`.
    pub fn supports(&self, op: OperationKind) -> bool {
        self.capabilities.contains(&op)
    }

    /// The account config keys the account schema marks as credentials
    /// (`writeOnly: true`). Their `*_file` alternatives are paths, not secrets.
    pub fn secret_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        if let Some(props) = self
            .account_schema
            .get("properties")
            .and_then(Value::as_object)
        {
            for (k, v) in props {
                if v.get("writeOnly") == Some(&Value::Bool(true)) {
                    keys.push(k.clone());
                }
            }
        }
        keys
    }
}

/// Who a provider is, as data: what [`Provider::about`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct About {
    /// Stable id used in config (`esnekpos`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The name response schemas are titled with ("`{name}` refund
    /// outcome"); the display name when unset.
    pub schema_name: Option<String>,
    /// The provider crate's version (`env!("CARGO_PKG_VERSION")`).
    pub version: String,
    /// See [`ProviderInfo::merchant_identity`].
    pub merchant_identity: Vec<String>,
    /// See [`ProviderInfo::callbacks`].
    pub callbacks: Vec<CallbackSpec>,
    /// See [`ProviderInfo::account_callbacks`].
    pub account_callbacks: Vec<AccountCallbackSpec>,
}

impl About {
    /// A provider with no merchant identity keys and no callbacks.
    pub fn new(id: &str, name: &str, version: &str) -> About {
        About {
            id: id.into(),
            name: name.into(),
            schema_name: None,
            version: version.into(),
            merchant_identity: Vec::new(),
            callbacks: Vec::new(),
            account_callbacks: Vec::new(),
        }
    }

    /// Titles the response schemas with `name` instead of the display name.
    pub fn schema_name(mut self, name: &str) -> About {
        self.schema_name = Some(name.into());
        self
    }

    /// The account config keys that identify the merchant at the provider.
    pub fn merchant_identity(mut self, keys: &[&str]) -> About {
        self.merchant_identity = keys.iter().map(|k| (*k).to_owned()).collect();
        self
    }

    /// An operation whose result the provider also posts later.
    pub fn callback(mut self, spec: CallbackSpec) -> About {
        self.callbacks.push(spec);
        self
    }

    /// An operation whose results the provider posts to one URL per
    /// merchant (see [`AccountCallbackSpec`]).
    pub fn account_callback(mut self, operation: OperationKind, order_field: &str) -> About {
        let order_field = order_field.to_owned();
        (self.account_callbacks).push(AccountCallbackSpec {
            operation,
            order_field,
        });
        self
    }
}

/// What the transport made of a request: the provider's answer, or why
/// there is none.
pub type Answer = Result<HttpResponse, TransportError>;

/// The next step of an operation, with the provider's typed phase.
#[derive(Debug, Clone, PartialEq)]
pub enum Next<P> {
    /// Send `request`, then resume in `phase` with the answer.
    Send {
        /// The request to send.
        request: HttpRequest,
        /// Where the operation stands (returned unchanged to `resume`).
        phase: P,
    },
    /// The operation is over.
    Done(Outcome),
}

impl<P: Serialize> Next<P> {
    /// The step as it crosses the boundary (the phase as JSON).
    pub fn into_step(self) -> Result<Step, Error> {
        Ok(match self {
            Next::Send { request, phase } => Step::Send {
                request,
                state: serde_json::to_value(phase)
                    .map_err(|e| Error::Internal(format!("phase: {e}")))?,
            },
            Next::Done(outcome) => Step::Done(outcome),
        })
    }
}

/// Who a provider is: identity, account config, simulator and how it
/// settles operations left unresolved. What it can do is the operation
/// traits it implements.
pub trait Provider: Send + Sync + 'static {
    /// The account config (credentials as [`Secret`](crate::Secret)s: the
    /// schema marks them `writeOnly`, and the host derives a `NAME_file`
    /// alternative for each).
    type Account: DeserializeOwned + schemars::JsonSchema;

    /// Id, name, version, merchant identity and callbacks.
    fn about(&self) -> About;

    /// Reads the call's account config. The default decodes it; override
    /// to add checks serde cannot express.
    fn account(&self, call: &Call) -> Result<Self::Account, Error> {
        serde_json::from_value(Value::Object(call.account.clone())).map_err(|e| {
            Error::invalid_field("/account", format!("{} account: {e}", self.about().name))
        })
    }

    /// A simulator of the provider with demo data.
    fn simulator(&self) -> Box<dyn Simulator>;

    /// Settles an unresolved operation from a fresh query (see
    /// [`crate::reconcile`]). The default cannot tell anything.
    fn reconcile(
        &self,
        _call: &Call,
        _account: &Self::Account,
        _input: &ReconcileInput,
    ) -> Result<Resolution, Error> {
        Ok(Resolution::undetermined(
            "this provider has no reconciliation: left for an operator",
        ))
    }
}

/// One operation of a provider, type-erased: what [`Operations`] holds.
pub struct Entry<P> {
    request_schema: fn(&P) -> Value,
    details_schema: fn(&P, &Entries<P>) -> Value,
    start: StartFn<P>,
    resume: ResumeFn<P>,
}

impl<P> Entry<P> {
    /// An entry of a composite operation (made outside this module).
    pub(crate) fn new(
        request_schema: fn(&P) -> Value,
        details_schema: fn(&P, &Entries<P>) -> Value,
        start: StartFn<P>,
        resume: ResumeFn<P>,
    ) -> Entry<P> {
        Entry {
            request_schema,
            details_schema,
            start,
            resume,
        }
    }
}

/// An entry's start: the provider, the others, the call, the document.
type StartFn<P> = fn(&P, &Entries<P>, &Call, &Value) -> Result<Step, Error>;
/// An entry's resume: the provider, the others, the call, the state, the
/// answer.
type ResumeFn<P> = fn(&P, &Entries<P>, &Call, Value, Answer) -> Result<Step, Error>;

/// The operations of a provider, type-erased (a composite operation such
/// as `return` runs the others through it).
pub struct Entries<P>(BTreeMap<OperationKind, Entry<P>>);

impl<P: Provider> Entries<P> {
    fn get(&self, provider: &P, op: OperationKind) -> Result<&Entry<P>, Error> {
        self.0.get(&op).ok_or_else(|| {
            Error::UnsupportedOperation(format!("{} does not support {op}", provider.about().id))
        })
    }

    /// Starts `op` (the call's `operation` is `op`).
    pub(crate) fn start(
        &self,
        provider: &P,
        op: OperationKind,
        call: &Call,
        request: &Value,
    ) -> Result<Step, Error> {
        (self.get(provider, op)?.start)(provider, self, call, request)
    }

    /// Continues `op`.
    pub(crate) fn resume(
        &self,
        provider: &P,
        op: OperationKind,
        call: &Call,
        state: Value,
        answer: Answer,
    ) -> Result<Step, Error> {
        (self.get(provider, op)?.resume)(provider, self, call, state, answer)
    }

    pub(crate) fn details_schema(&self, provider: &P, op: OperationKind) -> Option<Value> {
        self.0.get(&op).map(|e| (e.details_schema)(provider, self))
    }
}

macro_rules! operation_trait {
    ($(#[$doc:meta])* $trait:ident, $kind:expr, $entry:ident, $has:ident, $lacks:ident) => {
        $(#[$doc])*
        ///
        /// A sans-IO step machine: [`start`](Self::start) gets the request
        /// document (the host validated it against the schema of
        /// [`Document`](Self::Document)) and answers with a request to send
        /// or the final outcome; [`resume`](Self::resume) gets the answer.
        /// The provider never sleeps, reads a clock or opens a socket.
        pub trait $trait: Provider {
            /// The request document (its JSON Schema is the operation's
            /// request schema).
            type Document: DeserializeOwned + schemars::JsonSchema;
            /// Where the operation stands between two requests: a serde
            /// enum of its phases.
            type Phase: Serialize + DeserializeOwned;

            /// JSON Schema of the outcome's `details`.
            fn details_schema(&self) -> Value;

            /// Reads the request document. The default decodes a JSON
            /// object (see [`parse_document`]);
            /// override to explain a refused shape better than serde does.
            fn document(&self, request: &Value) -> Result<Self::Document, Error> {
                parse_document(request)
            }

            /// Starts the operation.
            fn start(
                &self,
                call: &Call,
                account: &Self::Account,
                document: Self::Document,
            ) -> Result<Next<Self::Phase>, Error>;

            /// Continues after the host sent the request of a
            /// [`Next::Send`]. What a transport error means is the
            /// provider's to say; the usual answer is
            /// [`Outcome::from_transport_error`] (`failed` only if nothing
            /// was sent, `unknown` otherwise).
            fn resume(
                &self,
                call: &Call,
                account: &Self::Account,
                phase: Self::Phase,
                answer: Answer,
            ) -> Result<Next<Self::Phase>, Error>;
        }

        fn $entry<P: $trait>() -> Entry<P> {
            fn request_schema<P: $trait>(_: &P) -> Value {
                input_schema_of::<<P as $trait>::Document>()
            }
            fn details_schema<P: $trait>(p: &P, _: &Entries<P>) -> Value {
                $trait::details_schema(p)
            }
            fn start<P: $trait>(
                p: &P,
                _: &Entries<P>,
                call: &Call,
                request: &Value,
            ) -> Result<Step, Error> {
                let account = p.account(call)?;
                let document = $trait::document(p, request)?;
                $trait::start(p, call, &account, document)?.into_step()
            }
            fn resume<P: $trait>(
                p: &P,
                _: &Entries<P>,
                call: &Call,
                state: Value,
                answer: Answer,
            ) -> Result<Step, Error> {
                let account = p.account(call)?;
                let phase = serde_json::from_value(state).map_err(|e| {
                    Error::Internal(format!("{} {}: unknown phase: {e}", p.about().id, $kind))
                })?;
                $trait::resume(p, call, &account, phase, answer)?.into_step()
            }
            Entry {
                request_schema: request_schema::<P>,
                details_schema: details_schema::<P>,
                start: start::<P>,
                resume: resume::<P>,
            }
        }

        impl<P: $trait> probe::$has<P> for probe::Probe<P> {
            fn $entry(&self) -> Option<(OperationKind, Entry<P>)> {
                Some(($kind, $entry::<P>()))
            }
        }
        impl<P: Provider> probe::$lacks<P> for &probe::Probe<P> {
            fn $entry(&self) -> Option<(OperationKind, Entry<P>)> {
                None
            }
        }
    };
}

operation_trait!(
    /// Refund a payment, fully or partly.
    Refund,
    OperationKind::Refund,
    refund_entry,
    HasRefund,
    LacksRefund
);
operation_trait!(
    /// Cancel (void) a payment.
    Cancel,
    OperationKind::Cancel,
    cancel_entry,
    HasCancel,
    LacksCancel
);
operation_trait!(
    /// Query a payment: what was paid, what was returned.
    Query,
    OperationKind::Query,
    query_entry,
    HasQuery,
    LacksQuery
);
operation_trait!(
    /// Adjust a marketplace sub-merchant's balance.
    SubMerchantAdjust,
    OperationKind::SubMerchantAdjust,
    sub_merchant_adjust_entry,
    HasSubMerchantAdjust,
    LacksSubMerchantAdjust
);

/// How [`operations_of!`](crate::operations_of) finds the traits a
/// provider implements without a list to keep in step: for a concrete
/// type, method resolution picks `Has*` (on `Probe<P>`, where `P`
/// implements the trait) before `Lacks*` (on `&Probe<P>`, one auto-ref
/// further). Not for direct use.
#[doc(hidden)]
pub mod probe {
    use super::{Entry, OperationKind};

    /// The receiver of the capability probes.
    pub struct Probe<P>(std::marker::PhantomData<P>);

    impl<P> Default for Probe<P> {
        fn default() -> Probe<P> {
            Probe(std::marker::PhantomData)
        }
    }

    macro_rules! probes {
        ($($has:ident $lacks:ident $entry:ident),*) => {$(
            /// Chosen when the provider implements the operation.
            pub trait $has<P> {
                /// The operation's entry.
                fn $entry(&self) -> Option<(OperationKind, Entry<P>)>;
            }
            /// Chosen otherwise.
            pub trait $lacks<P> {
                /// No entry.
                fn $entry(&self) -> Option<(OperationKind, Entry<P>)>;
            }
        )*};
    }
    probes!(
        HasRefund LacksRefund refund_entry,
        HasCancel LacksCancel cancel_entry,
        HasQuery LacksQuery query_entry,
        HasSubMerchantAdjust LacksSubMerchantAdjust sub_merchant_adjust_entry,
        HasReturn LacksReturn return_entry
    );
}

/// The operations of a provider `P`: the card's traits it implements,
/// found by [`operations_of!`](crate::operations_of) and erased to JSON in
/// and out. The guest side answers protocol messages through it.
pub struct Operations<P> {
    entries: Entries<P>,
}

impl<P: Provider> Operations<P> {
    /// Made by [`operations_of!`](crate::operations_of).
    #[doc(hidden)]
    pub fn from_entries(entries: [Option<(OperationKind, Entry<P>)>; 5]) -> Operations<P> {
        Operations {
            entries: Entries(entries.into_iter().flatten().collect()),
        }
    }

    /// The operations `P` supports: its capabilities.
    pub fn capabilities(&self) -> Vec<OperationKind> {
        self.entries.0.keys().copied().collect()
    }

    /// What the provider is and can do, with its schemas.
    pub fn info(&self, provider: &P) -> ProviderInfo {
        let about = provider.about();
        let title = about.schema_name.as_deref().unwrap_or(&about.name);
        let operations = operation_schemas(
            title,
            self.entries.0.iter().map(|(op, e)| {
                (
                    *op,
                    (e.request_schema)(provider),
                    (e.details_schema)(provider, &self.entries),
                )
            }),
        );
        ProviderInfo {
            id: about.id,
            name: about.name,
            version: about.version,
            capabilities: self.capabilities(),
            account_schema: input_schema_of::<P::Account>(),
            operations,
            merchant_identity: about.merchant_identity,
            callbacks: about.callbacks,
            account_callbacks: about.account_callbacks,
        }
    }

    /// Answers one step message.
    pub fn step(&self, provider: &P, input: StepInput) -> Result<Step, Error> {
        match input {
            StepInput::Start { call, request } => {
                self.entries
                    .start(provider, call.operation, &call, &request)
            }
            StepInput::Resume {
                call,
                state,
                response,
            } => self
                .entries
                .resume(provider, call.operation, &call, state, response),
            StepInput::Reconcile { call, input } => {
                let account = provider.account(&call)?;
                provider
                    .reconcile(&call, &account, &input)
                    .map(Step::Reconciled)
            }
        }
    }
}

/// The [`Operations`] of a concrete provider type: one entry per card trait
/// it implements (`payops_core::operations_of!(MyProvider)`).
#[macro_export]
macro_rules! operations_of {
    ($ty:ty) => {{
        #[allow(unused_imports)]
        use $crate::provider::probe::{
            HasCancel as _, HasQuery as _, HasRefund as _, HasReturn as _,
            HasSubMerchantAdjust as _, LacksCancel as _, LacksQuery as _, LacksRefund as _,
            LacksReturn as _, LacksSubMerchantAdjust as _,
        };
        let probe = <$crate::provider::probe::Probe<$ty> as ::core::default::Default>::default();
        $crate::provider::Operations::<$ty>::from_entries([
            (&probe).refund_entry(),
            (&probe).cancel_entry(),
            (&probe).query_entry(),
            (&probe).sub_merchant_adjust_entry(),
            (&probe).return_entry(),
        ])
    }};
}

/// Each operation's request schema and its response schema (the envelope
/// around its `details`, titled "`{provider} {op} outcome`"): what
/// [`ProviderInfo::operations`] holds, and
/// whose keys are the provider's capabilities.
fn operation_schemas(
    provider: &str,
    ops: impl IntoIterator<Item = (OperationKind, serde_json::Value, serde_json::Value)>,
) -> BTreeMap<OperationKind, OperationSchemas> {
    ops.into_iter()
        .map(|(op, request, details)| {
            let response = envelope_schema(&format!("{provider} {op} outcome"), details);
            (op, OperationSchemas { request, response })
        })
        .collect()
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

/// Implements one of the card's operation traits (`Refund`, `Cancel`,
/// `Query`, `SubMerchantAdjust`) for an operation of two or more requests:
/// the details schema, then `start` and `resume` as closures whose bodies
/// give the [`Next`] step (`?` returns an [`Error`]).
///
/// ```text
/// payops_core::operation!(Sipay, Refund, RefundDoc, Phase, refund_details_schema(),
///     |call, a, doc| token_first(a, Then::refund(call, doc)),
///     |call, a, phase, answer| after(call, a, phase, answer));
/// ```
#[macro_export]
macro_rules! operation {
    ($provider:ty, $trait:ident, $doc:ty, $phase:ty, $details:expr,
     |$call:pat_param, $account:pat_param, $document:pat_param| $start:expr,
     |$call2:pat_param, $account2:pat_param, $state:pat_param, $answer:pat_param| $resume:expr $(,)?) => {
        impl $crate::$trait for $provider {
            type Document = $doc;
            type Phase = $phase;

            fn details_schema(&self) -> $crate::serde_json::Value {
                $details
            }

            fn start(
                &self,
                $call: &$crate::Call,
                $account: &<$provider as $crate::Provider>::Account,
                $document: $doc,
            ) -> ::core::result::Result<$crate::Next<$phase>, $crate::Error> {
                Ok($start)
            }

            fn resume(
                &self,
                $call2: &$crate::Call,
                $account2: &<$provider as $crate::Provider>::Account,
                $state: $phase,
                $answer: $crate::Answer,
            ) -> ::core::result::Result<$crate::Next<$phase>, $crate::Error> {
                Ok($resume)
            }
        }
    };
}

/// Implements one of the card's operation traits for an operation that
/// is one request and its answer: the details schema, the request and the
/// phase kept until the answer (a closure of the call, the account and the
/// document giving `(HttpRequest, Phase)`; `?` returns an [`Error`]), and
/// the answer's [`Outcome`] (a closure of the call, the account, the phase
/// and the answer). What every provider wrote three times by hand.
///
/// ```text
/// payops_core::one_request!(NestPay, Cancel, CancelDoc, Phase, money_details_schema(),
///     |_, a, doc| (wire::request(a, &doc.order_ref, Kind::Type("Void", None)), Phase::void(doc)),
///     |_, _, phase, answer| outcome::of(phase, answer));
/// ```
#[macro_export]
macro_rules! one_request {
    ($provider:ty, $trait:ident, $doc:ty, $phase:ty, $details:expr,
     |$call:pat_param, $account:pat_param, $document:pat_param| $send:expr,
     |$call2:pat_param, $account2:pat_param, $state:pat_param, $answer:pat_param| $outcome:expr $(,)?) => {
        $crate::operation!(
            $provider,
            $trait,
            $doc,
            $phase,
            $details,
            |$call, $account, $document| {
                let (request, phase) = $send;
                $crate::Next::Send { request, phase }
            },
            |$call2, $account2, $state, $answer| $crate::Next::Done($outcome),
        );
    };
}
