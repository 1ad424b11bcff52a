//! Running operations: validation against the exported schemas, the
//! provider call through the host transport, the envelope, metrics, logs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use payops_core::driver::PluginProvider;
use payops_core::{
    AccountName, Envelope, EnvelopeMeta, Error, ErrorCode, FieldError, HttpTransport,
    OperationContext, OperationId, OperationKind, Outcome, Status,
};
use payops_store::{Begin, NewOperation, State, Store, StoredOperation};
use serde_json::{Value, json};
use tracing::Instrument;

use crate::config::Account;
use crate::ids::{new_operation_id, now};
use crate::metrics::Metrics;

/// Everything needed to run operations.
pub struct Engine {
    /// Providers by id.
    pub providers: BTreeMap<String, Arc<PluginProvider>>,
    /// Accounts by name.
    pub accounts: BTreeMap<String, Account>,
    /// The host transport.
    pub transport: Arc<dyn HttpTransport>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The operation store.
    pub store: Store,
    /// This process's instance id (owner of the operations it records).
    pub instance: String,
    /// Its settings, fixed at construction.
    pub(crate) settings: EngineSettings,
    /// The tasks operations run on (detached from their callers): a daemon
    /// waits for them at shutdown.
    pub(crate) tasks: tokio_util::task::TaskTracker,
    /// Set once this instance has a heartbeat in the store.
    heartbeat_recorded: std::sync::atomic::AtomicBool,
    /// Refusals this engine recorded (every [`PRUNE_EVERY`]th prunes).
    refusals_recorded: std::sync::atomic::AtomicU64,
    validators: HashMap<(String, OperationKind), jsonschema::Validator>,
    /// Each provider callback's `when` schema, compiled once.
    callback_when: HashMap<(String, OperationKind), jsonschema::Validator>,
    /// Callbacks with a wrong token this engine refused, per operation: the
    /// first few are recorded on the operation's audit trail, the rest only
    /// counted (an unauthenticated post must not grow storage without
    /// bound).
    pub(crate) refused_callbacks: std::sync::Mutex<HashMap<String, u64>>,
}

/// How many callbacks with a wrong token are recorded on one operation's
/// audit trail (per daemon run); the rest are counted in the log.
pub const REFUSED_CALLBACKS_RECORDED: u64 = 3;

/// What an [`Engine`] is built with, besides its providers, accounts,
/// transport and store.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// How long a duplicate waits for the in-flight original.
    pub wait: Duration,
    /// How long an operation may stay in flight before it is `unknown`.
    pub in_flight_deadline: Duration,
    /// The configured webhooks (the store writes their events; a daemon
    /// delivers them).
    pub webhooks: Vec<crate::config::Webhook>,
    /// The daemon's own callback URLs for providers that post results
    /// later (`server.public_url`); `None`: callers give their own.
    pub callbacks: Option<crate::signing::Callbacks>,
    /// How many refusals the store keeps for the audit (the newest).
    pub refusals_kept: u64,
    /// How long a refund or cancel waits for its order's turn.
    pub order_wait: Duration,
    /// `[approvals]`: the thresholds above which a request waits.
    pub approvals: crate::config::ApprovalsConfig,
}

impl Default for EngineSettings {
    fn default() -> EngineSettings {
        EngineSettings {
            wait: Duration::from_secs(120),
            in_flight_deadline: Duration::from_secs(600),
            webhooks: Vec::new(),
            callbacks: None,
            refusals_kept: 10_000,
            order_wait: Duration::from_secs(60),
            approvals: Default::default(),
        }
    }
}

/// The start of today in Turkish time, in UTC.
fn turkish_day_start() -> chrono::DateTime<chrono::Utc> {
    let midnight = now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists");
    chrono::TimeZone::from_local_datetime(&payops_core::turkey_offset(), &midnight)
        .single()
        .map(|d| d.with_timezone(&chrono::Utc))
        .unwrap_or_else(chrono::Utc::now)
}

/// Numbers written with a zero fraction (`1000.0`, `1e3`) as the integers
/// they are, as JSON Schema reads them, when exact (at most 2^53 - 1).
pub fn integral_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f)
                if f.fract() == 0.0 && f.abs() <= payops_core::details::MAX_SAFE_INTEGER as f64 =>
            {
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(integral_numbers).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, integral_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The reason of a refusal (anything refused before a request left for the
/// provider), by its error: its own reason when it has one.
fn reason_of(e: &Error) -> payops_core::outcome::Reason {
    use payops_core::outcome::Reason;
    if let Some(r) = e.refusal_reason() {
        return r;
    }
    match e.code() {
        ErrorCode::OperationConflict | ErrorCode::IdempotencyConflict => Reason::Conflict,
        ErrorCode::Unauthorized | ErrorCode::Forbidden => Reason::Authentication,
        ErrorCode::NotFound => Reason::NotFound,
        ErrorCode::InvalidRequest | ErrorCode::UnsupportedOperation => Reason::InvalidRequest,
        // The provider unreachable comes as a refusal of its own (the
        // driver's, reason `unreachable`); a bare `unavailable` is the
        // store or the daemon, not the provider.
        ErrorCode::Unavailable => Reason::Unknown,
        ErrorCode::Internal => Reason::Unknown,
    }
}

/// Every this many refusals recorded by one engine, the oldest beyond
/// [`EngineSettings::refusals_kept`] are deleted: the refusals kept stay
/// within the bound plus this many per process.
const PRUNE_EVERY: u64 = 64;

/// Whose request a refusal refuses.
struct RefusalOf<'a> {
    account: &'a str,
    provider: &'a str,
    op: OperationKind,
    idempotency_key: Option<&'a str>,
    actor: Option<&'a str>,
}

/// An operation's answer.
#[derive(Debug, Clone)]
pub(crate) struct Executed {
    /// The envelope.
    pub envelope: Envelope,
    /// True when this is the stored answer of an earlier request with the
    /// same idempotency key (the provider was not called again).
    pub replayed: bool,
}

/// What running an operation gave: its answer, or a request waiting for
/// approval (nothing sent).
#[derive(Debug, Clone)]
// One per request, moved once: the envelope stays inline.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Ran {
    /// Run (or replayed).
    Done(Executed),
    /// Over an approval threshold: recorded, waiting, nothing sent.
    Awaiting {
        /// The approval.
        approval: Box<payops_store::Approval>,
        /// True when an earlier request with the same key recorded it.
        replayed: bool,
    },
}

/// How a caller asks for an operation, besides the document.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The caller's idempotency key.
    pub idempotency_key: Option<String>,
    /// Who asks: a token name, or `cli:USER`.
    pub actor: Option<String>,
    /// The id of an unresolved operation on the same order that the caller
    /// knowingly goes past (the order guard refuses otherwise). Only for
    /// callers allowed to.
    pub override_open: Option<String>,
    /// The caller's amount limits (a token's), on top of the account's.
    pub limits: crate::config::Limits,
    /// Who asks, as the approval rules see it: `None` for payops's own
    /// requests (the guard's queries, reconciliation), which never wait.
    pub asker: Option<crate::config::Asker>,
    /// The approval this request is the approved send of (its thresholds
    /// were decided by a second person).
    pub approved: Option<String>,
}

impl Engine {
    /// Compiles the request schema of every provider operation.
    pub fn new(
        providers: BTreeMap<String, Arc<PluginProvider>>,
        accounts: BTreeMap<String, Account>,
        transport: Arc<dyn HttpTransport>,
        store: Store,
        settings: EngineSettings,
    ) -> Result<Engine, String> {
        let mut validators = HashMap::new();
        let mut callback_when = HashMap::new();
        for (id, p) in &providers {
            for (op, s) in &p.info().operations {
                // Formats too (`uri`, `uuid`…): the schemas promise them.
                let v = jsonschema::options()
                    .should_validate_formats(true)
                    .build(&s.request)
                    .map_err(|e| format!("provider {id}: {op} request schema: {e}"))?;
                validators.insert((id.clone(), *op), v);
            }
            for c in &p.info().callbacks {
                if let Some(when) = &c.when {
                    let v = jsonschema::validator_for(when).map_err(|e| {
                        format!("provider {id}: {} callback `when` schema: {e}", c.operation)
                    })?;
                    callback_when.insert((id.clone(), c.operation), v);
                }
            }
        }
        Ok(Engine {
            providers,
            accounts,
            transport,
            metrics: Arc::new(Metrics::default()),
            store,
            instance: new_operation_id().replacen("op_", "inst_", 1),
            settings,
            tasks: tokio_util::task::TaskTracker::new(),
            refused_callbacks: Default::default(),
            heartbeat_recorded: std::sync::atomic::AtomicBool::new(false),
            refusals_recorded: std::sync::atomic::AtomicU64::new(0),
            validators,
            callback_when,
        })
    }

    /// The account, or `not_found`.
    pub fn account(&self, name: &str) -> Result<&Account, Error> {
        self.accounts
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("no account {name:?}")))
    }

    /// The document the provider gets: the caller's, with the daemon's
    /// callback URL in the provider's callback field when the provider posts a
    /// result for this operation, the caller gave no URL of its own, and the
    /// daemon has a public URL. Otherwise the caller's document unchanged (a
    /// provider that needs a URL then refuses the request, naming the field).
    pub(crate) fn with_callback_url(
        &self,
        provider: &str,
        op: OperationKind,
        operation_id: &str,
        mut document: Value,
    ) -> Value {
        let (Some(cb), Some(p)) = (&self.settings.callbacks, self.providers.get(provider)) else {
            return document;
        };
        let Some(spec) = p.info().callback(op) else {
            return document;
        };
        let given = document
            .get(&spec.field)
            .and_then(Value::as_str)
            .is_some_and(|u| !u.is_empty());
        if !given
            && self.callback_applies(provider, op, &document)
            && let Some(m) = document.as_object_mut()
        {
            m.insert(
                spec.field.clone(),
                Value::String(cb.url(provider, operation_id)),
            );
        }
        document
    }

    /// Does `document` match the `when` of `provider`'s callback for `op`
    /// (true when the callback has none)?
    pub(crate) fn callback_applies(
        &self,
        provider: &str,
        op: OperationKind,
        document: &Value,
    ) -> bool {
        self.callback_when
            .get(&(provider.to_owned(), op))
            .is_none_or(|v| v.is_valid(document))
    }

    /// Checks a request document against the provider's exported schema.
    pub(crate) fn validate(
        &self,
        provider: &str,
        op: OperationKind,
        document: &Value,
    ) -> Result<(), Error> {
        let p = self
            .providers
            .get(provider)
            .ok_or_else(|| Error::Internal(format!("provider {provider} not loaded")))?;
        if !p.info().supports(op) {
            return Err(Error::UnsupportedOperation(format!(
                "{provider} does not support {op}"
            )));
        }
        let v = self
            .validators
            .get(&(provider.to_owned(), op))
            .ok_or_else(|| {
                Error::UnsupportedOperation(format!("{provider} does not support {op}"))
            })?;
        let details: Vec<FieldError> = v
            .iter_errors(document)
            .map(|e| {
                let path = e.instance_path().to_string();
                FieldError::new(
                    if path.is_empty() {
                        "/".to_owned()
                    } else {
                        path
                    },
                    e.to_string(),
                )
            })
            .collect();
        if details.is_empty() {
            Ok(())
        } else {
            let message = details
                .iter()
                .map(|d| format!("{}: {}", d.path, d.message))
                .collect::<Vec<_>>()
                .join("; ");
            Err(Error::InvalidRequest { message, details })
        }
    }

    /// Runs one operation: validate, record the intent, apply the order
    /// guard, call the provider, store and return the envelope. Errors mean
    /// nothing was sent.
    ///
    /// With an idempotency key already used on this account: the same
    /// document gets the stored envelope (waiting for the original if it is
    /// still in flight) and the provider is not called; another document is
    /// `idempotency_conflict`.
    ///
    /// The caller should run this on a task of its own (see
    /// `Engine::spawn_execute`): once the intent is recorded, the provider
    /// call and the write of its answer must finish whatever happens to the
    /// caller.
    pub async fn execute(
        &self,
        account: &str,
        op: OperationKind,
        document: Value,
        options: Options,
    ) -> Result<Envelope, Error> {
        match self.execute_marked(account, op, document, options).await? {
            Ran::Done(e) => Ok(e.envelope),
            Ran::Awaiting { approval, .. } => Err(Error::Conflict(format!(
                "waiting for approval as {} ({}): nothing was sent",
                approval.approval_id, approval.why
            ))),
        }
    }

    /// [`Engine::execute`], saying whether the answer is a replay of an
    /// earlier request with the same idempotency key.
    pub(crate) async fn execute_marked(
        &self,
        account: &str,
        op: OperationKind,
        document: Value,
        options: Options,
    ) -> Result<Ran, Error> {
        // In traces, one span per operation from the first check to the
        // stored answer (its id and provider recorded once known), the
        // store's writes and the provider's call its children. Logs have
        // their own `operation` span, made once every field is known (a
        // field recorded later costs a JSON log span a re-parse).
        let span = tracing::info_span!(
            target: crate::telemetry::TARGET,
            "operation",
            account = %account,
            provider = tracing::field::Empty,
            operation = %op,
            operation_id = tracing::field::Empty,
        );
        self.execute_in_span(account, op, document, options, &span)
            .instrument(span.clone())
            .await
    }

    /// [`Engine::execute_marked`] inside the operation's trace `span`.
    async fn execute_in_span(
        &self,
        account: &str,
        op: OperationKind,
        document: Value,
        options: Options,
        span: &tracing::Span,
    ) -> Result<Ran, Error> {
        let Options {
            idempotency_key,
            actor,
            override_open,
            limits,
            asker,
            approved,
        } = options;
        let acct = self.account(account)?;
        span.record("provider", acct.provider.as_str());
        let refusal = RefusalOf {
            account: &acct.name,
            provider: &acct.provider,
            op,
            idempotency_key: idempotency_key.as_deref(),
            actor: actor.as_deref(),
        };
        if !document.is_object() {
            let e = Error::invalid_field("/", "a request document must be a JSON object");
            return Err(self.refuse(&refusal, None, &document, e).await);
        }
        // No store keeps a NUL character (PostgreSQL's text cannot hold
        // one): refused alike on every store, before anything is recorded.
        if let Some(path) = nul_at(&document, String::new()) {
            let e = Error::invalid_field(
                &path,
                "contains a NUL character (U+0000), which payops cannot store: remove it",
            );
            let kept = without_nul(document);
            return Err(self.refuse(&refusal, None, &kept, e).await);
        }
        // JSON Schema counts 1000.0 as the integer 1000: so does payops
        // (read exactly by the caller; only integral values up to 2^53-1).
        let document = integral_numbers(document);
        if let Err(e) = self.validate(&acct.provider, op, &document) {
            return Err(self.refuse(&refusal, None, &document, e).await);
        }
        // Above an approval threshold the request waits for a second
        // person, recorded with nothing sent (its key bound to it).
        if let (Some(asker), None) = (&asker, &approved)
            && let Some(waiting) = self
                .approval_gate(
                    acct,
                    op,
                    &document,
                    asker,
                    idempotency_key.as_deref(),
                    actor.as_deref(),
                    override_open.as_deref(),
                )
                .await?
        {
            return Ok(waiting);
        }
        // The instance owning the intent must be known alive before the
        // intent exists, or another daemon's recovery takes it for dead.
        if !self.heartbeat_recorded.load(Ordering::Relaxed) {
            self.store.heartbeat(&self.instance).await.map_err(|e| {
                tracing::error!(error = %e, "cannot record the heartbeat; nothing sent");
                Error::Unavailable(format!(
                    "the operation store is unavailable; nothing was sent ({})",
                    e.public()
                ))
            })?;
            self.heartbeat_recorded.store(true, Ordering::Relaxed);
        }
        let provider = self.providers[&acct.provider].clone();
        let operation_id = new_operation_id();
        let started_at = now();
        let intent = NewOperation {
            id: operation_id.clone(),
            account: acct.name.clone(),
            provider: acct.provider.clone(),
            operation: op.as_str().into(),
            idempotency_key: idempotency_key.clone(),
            request: document.clone(),
            owner: self.instance.clone(),
            started_at: started_at.with_timezone(&chrono::Utc),
            actor: actor.clone(),
            deadline: self.settings.in_flight_deadline,
        };
        span.record("operation_id", operation_id.as_str());
        let write = tracing::info_span!(
            target: crate::telemetry::TARGET,
            "store.intent",
            otel.kind = "client",
            db.system.name = self.store.kind(),
        );
        let begun = self
            .store
            .begin(&intent)
            .instrument(write)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot record the operation; nothing sent");
                Error::Unavailable(format!(
                    "the operation store is unavailable; nothing was sent ({})",
                    e.public()
                ))
            })?;
        match begun {
            Begin::Created => {}
            Begin::Existing(existing) => {
                tracing::info!(operation_id = %existing.id, "idempotent replay: not calling the provider");
                return self.await_existing(*existing).await.map(|envelope| {
                    Ran::Done(Executed {
                        envelope,
                        replayed: true,
                    })
                });
            }
            Begin::Conflict(existing) => {
                return Err(Error::IdempotencyConflict(format!(
                    "Idempotency-Key {:?} was used on account {} for operation {} with another request document",
                    idempotency_key.unwrap_or_default(),
                    acct.name,
                    existing.id
                )));
            }
        }
        let meta = EnvelopeMeta {
            operation_id: operation_id.clone(),
            account: acct.name.clone(),
            provider: acct.provider.clone(),
            operation: op,
            idempotency_key: idempotency_key.clone(),
            started_at,
        };
        // A refund or cancel of an order takes the order's turn (waiting
        // while another of the order is in flight), then the order guard
        // counts what was paid against what is returned or at risk: one at
        // a time per order, across processes, so racing requests never
        // together return more than was paid.
        let order_ref = document
            .get("order_ref")
            .and_then(Value::as_str)
            .filter(|_| op.returns_money());
        let turn = match order_ref {
            Some(order_ref) => {
                self.await_turn(&acct.name, order_ref, &operation_id, &intent.started_at)
                    .await
            }
            None => Ok(()),
        };
        let guard = match match turn {
            Ok(()) => {
                self.order_guard(
                    &operation_id,
                    op,
                    &document,
                    acct,
                    override_open.as_deref(),
                    actor.as_deref(),
                )
                .await
            }
            Err(e) => Err(e),
        } {
            Ok(()) => self
                .limit_guard(
                    &operation_id,
                    op,
                    &document,
                    acct,
                    &limits,
                    actor.as_deref(),
                )
                .await
                .map_err(|e| (e, payops_core::outcome::Reason::Limit)),
            Err(e) => {
                let reason = reason_of(&e);
                Err((e, reason))
            }
        };
        if let Err((e, reason)) = guard {
            let e = e.refused(reason, None);
            return Err(self
                .refuse(&refusal, Some(&operation_id), &document, e)
                .await);
        }
        // The sums again, now that this request holds its order's turn:
        // requests of one order racing past the gate (a batch of split
        // refunds) are counted here one after another, and the one that
        // crosses a per-order or per-day threshold waits instead.
        if let (Some(asker), None, Some(_)) = (&asker, &approved, order_ref) {
            let rules: Vec<&crate::config::ApprovalRule> = self
                .settings
                .approvals
                .rules
                .iter()
                .filter(|r| r.per_order_above.is_some() || r.per_day_above.is_some())
                .filter(|r| r.applies(&acct.name, op, asker))
                .collect();
            if !rules.is_empty() {
                let why = match self
                    .approval_reason(acct, &document, &rules, Some(&operation_id))
                    .await
                {
                    Ok(why) => why,
                    Err(e) => {
                        return Err(self
                            .refuse(&refusal, Some(&operation_id), &document, e)
                            .await);
                    }
                };
                if let Some(why) = why {
                    let approval_id = format!("ap_{}", uuid::Uuid::now_v7().simple());
                    let new = payops_store::NewApproval {
                        approval_id: approval_id.clone(),
                        account: acct.name.clone(),
                        provider: acct.provider.clone(),
                        operation: op.as_str().into(),
                        idempotency_key: idempotency_key.clone().unwrap_or(approval_id),
                        request: document.clone(),
                        override_open: override_open.clone(),
                        requested_by: actor.clone().unwrap_or_else(|| "payops".into()),
                        why,
                        ttl_ms: i64::try_from(
                            self.settings
                                .approvals
                                .expire_after_secs
                                .saturating_mul(1000),
                        )
                        .unwrap_or(i64::MAX / 4),
                    };
                    match self.store.intent_to_approval(&operation_id, &new).await {
                        Ok(Some(a)) => {
                            tracing::info!(approval_id = %a.approval_id, account = %a.account, why = %a.why, "waiting for approval (counted in the order's turn): nothing sent");
                            self.metrics.approval(&a.account, "requested");
                            return Ok(Ran::Awaiting {
                                approval: Box::new(a),
                                replayed: false,
                            });
                        }
                        Ok(None) => {
                            return Err(Error::Internal(format!(
                                "operation {operation_id} left flight before it was sent"
                            )));
                        }
                        Err(e) => {
                            let e = Error::Unavailable(format!(
                                "the operation store is unavailable; nothing was sent ({})",
                                e.public()
                            ));
                            return Err(self
                                .refuse(&refusal, Some(&operation_id), &document, e)
                                .await);
                        }
                    }
                }
            }
        }
        // A return chooses cancel only when the order has no earlier return
        // of any state but failed (past the guard, this one's turn is held).
        let earlier_returns = match order_ref.filter(|_| op == OperationKind::Return) {
            Some(order_ref) => self
                .store
                .on_order(&acct.name, order_ref)
                .await
                .map(|ops| {
                    ops.iter()
                        .filter(|o| o.id != operation_id)
                        .filter(|o| crate::ledger::returns_money(&o.operation))
                        .filter(|o| o.state != payops_store::State::Failed)
                        .count()
                })
                // Unknown: as if there were earlier returns (no cancel).
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot read the order's earlier returns; the return will not cancel");
                    usize::MAX
                }),
            None => 0,
        };
        let log_span = tracing::info_span!("operation", account = %acct.name, provider = %acct.provider, operation = %op, operation_id = %operation_id);
        let call_span = tracing::info_span!(target: crate::telemetry::TARGET, "provider.call", provider = %acct.provider, operation = %op);
        let ctx = OperationContext {
            operation_id: OperationId::new(operation_id.clone())
                .map_err(|e| Error::Internal(e.to_string()))?,
            account_name: AccountName::new(acct.name.clone())
                .map_err(|e| Error::Internal(e.to_string()))?,
            account: acct.config.clone(),
            transport: self.transport.clone(),
            now: started_at,
            idempotency_key: meta.idempotency_key.clone(),
            nonce: uuid::Uuid::new_v4().simple().to_string(),
            earlier_returns: u32::try_from(earlier_returns).unwrap_or(u32::MAX),
        };
        let timer = Instant::now();
        let result = async {
            tracing::debug!("operation started");
            let document =
                self.with_callback_url(&acct.provider, op, &operation_id, document.clone());
            let result = provider
                .execute(op, &ctx, document)
                .instrument(call_span)
                .await;
            match &result {
                Ok(o) => tracing::info!(
                    status = %o.status,
                    reason = o.reason.map(|r| r.as_str()).unwrap_or(""),
                    provider_code = o.provider_code.as_deref().unwrap_or(""),
                    provider_reference = o.provider_reference.as_deref().unwrap_or(""),
                    elapsed_ms = timer.elapsed().as_millis() as u64,
                    "operation finished"
                ),
                Err(e) => tracing::warn!(error = %e, "operation refused"),
            }
            result
        }
        .instrument(log_span)
        .await;
        let elapsed = timer.elapsed();
        match result {
            Ok(outcome) => {
                self.metrics
                    .record(&acct.name, op, outcome.status.as_str(), elapsed);
                if let Some(r) = outcome.reason {
                    self.metrics.outcome_reason(&acct.name, op, r);
                }
                let envelope = Envelope::new(meta, outcome, now());
                self.store_answer(&operation_id, &envelope).await;
                // A fresh look at an order: what was paid, and the returns
                // it lists, go to the order guard's row.
                if op == OperationKind::Query
                    && envelope.status == Status::Succeeded
                    && let Some(order_ref) = document.get("order_ref").and_then(Value::as_str)
                    && let Err(e) = self.refresh_order_money(acct, order_ref).await
                {
                    tracing::warn!(error = %e, order_ref, "cannot write the order's row from its query; the guard reads it again before the next refund");
                }
                Ok(Ran::Done(Executed {
                    envelope,
                    replayed: false,
                }))
            }
            // Refused before anything was sent (the provider's own checks,
            // the provider unreachable): the intent is withdrawn, its key
            // free.
            Err(e) => Err(self
                .refuse(&refusal, Some(&operation_id), &document, e)
                .await),
        }
    }

    /// Which threshold of `rules` the request crosses, in words; `None`
    /// when it crosses none. The sums count the order's (or the account's
    /// of the day) returns not failed, other than `exclude` (the request's
    /// own intent), and the requests waiting for approval.
    async fn approval_reason(
        &self,
        acct: &Account,
        document: &Value,
        rules: &[&crate::config::ApprovalRule],
        exclude: Option<&str>,
    ) -> Result<Option<String>, Error> {
        let unavailable = |e: payops_store::StoreError| {
            tracing::error!(error = %e, "cannot read the approvals; nothing sent");
            Error::Unavailable(format!(
                "the operation store is unavailable; nothing was sent ({})",
                e.public()
            ))
        };
        let amount = document.get("amount").and_then(Value::as_i64);
        let order_ref = document.get("order_ref").and_then(Value::as_str);
        let mut why = None;
        for r in rules {
            if let Some(max) = r.above {
                match amount {
                    Some(a) if a > max => {
                        why = Some(format!(
                            "{a} is above {max}, the most one request may return without approval"
                        ));
                    }
                    None => {
                        why = Some(format!(
                            "no amount (the whole order), and requests above {max} need approval"
                        ));
                    }
                    _ => {}
                }
            }
            if why.is_none()
                && let (Some(max), Some(order_ref)) = (r.per_order_above, order_ref)
            {
                let mut total = amount.unwrap_or(i64::MAX);
                for o in self
                    .store
                    .on_order(&acct.name, order_ref)
                    .await
                    .map_err(unavailable)?
                    .iter()
                    .filter(|o| crate::ledger::returns_money(&o.operation))
                    .filter(|o| o.state != payops_store::State::Failed)
                    // In flight and not sent: queued for the order's turn
                    // (the one holding it is this request), counted once
                    // they are answered.
                    .filter(|o| o.state != payops_store::State::InFlight)
                    .filter(|o| Some(o.id.as_str()) != exclude)
                {
                    total = total.saturating_add(crate::ledger::amount_of(o).unwrap_or(i64::MAX));
                }
                for (_, a) in self
                    .store
                    .waiting_amounts(&acct.name, Some(order_ref), None)
                    .await
                    .map_err(unavailable)?
                {
                    total = total.saturating_add(a.unwrap_or(i64::MAX));
                }
                if total > max {
                    why = Some(format!(
                        "it brings order {order_ref}'s returns to {}, above {max} per order",
                        if total == i64::MAX {
                            "an amount not known (a whole-order request)".to_owned()
                        } else {
                            total.to_string()
                        }
                    ));
                }
            }
            if why.is_none()
                && let Some(max) = r.per_day_above
            {
                let day_start = turkish_day_start();
                let mut total = amount.unwrap_or(i64::MAX);
                for (id, a) in self
                    .store
                    .money_since(Some(&acct.name), None, day_start)
                    .await
                    .map_err(unavailable)?
                {
                    if Some(id.as_str()) != exclude {
                        total = total.saturating_add(a);
                    }
                }
                for (_, a) in self
                    .store
                    .waiting_amounts(&acct.name, None, Some(day_start))
                    .await
                    .map_err(unavailable)?
                {
                    total = total.saturating_add(a.unwrap_or(i64::MAX));
                }
                if total > max {
                    why = Some(format!(
                        "it brings account {}'s returns of the day to {}, above {max} per day",
                        acct.name,
                        if total == i64::MAX {
                            "an amount not known (a whole-order request)".to_owned()
                        } else {
                            total.to_string()
                        }
                    ));
                }
            }
            if why.is_some() {
                break;
            }
        }
        Ok(why)
    }

    /// The approval gate: `Some` when the request waits (recorded now, or
    /// joined under its key), `None` when it goes on. A key that already
    /// names an operation goes on (to its replay); one that names an
    /// approval joins it (or, sent, goes on to the operation's replay).
    #[allow(clippy::too_many_arguments)]
    async fn approval_gate(
        &self,
        acct: &Account,
        op: OperationKind,
        document: &Value,
        asker: &crate::config::Asker,
        key: Option<&str>,
        actor: Option<&str>,
        override_open: Option<&str>,
    ) -> Result<Option<Ran>, Error> {
        let rules: Vec<&crate::config::ApprovalRule> = self
            .settings
            .approvals
            .rules
            .iter()
            .filter(|r| r.applies(&acct.name, op, asker))
            .collect();
        if rules.is_empty() {
            return Ok(None);
        }
        // In traces, the thresholds' reads (only where a rule applies).
        let span = tracing::info_span!(target: crate::telemetry::TARGET, "approval.check");
        self.approval_request(acct, op, document, &rules, key, actor, override_open)
            .instrument(span)
            .await
    }

    /// [`Engine::approval_gate`] past its rules: the key's earlier
    /// approval or operation, else the thresholds `rules` set, else a new
    /// approval request.
    #[allow(clippy::too_many_arguments)]
    async fn approval_request(
        &self,
        acct: &Account,
        op: OperationKind,
        document: &Value,
        rules: &[&crate::config::ApprovalRule],
        key: Option<&str>,
        actor: Option<&str>,
        override_open: Option<&str>,
    ) -> Result<Option<Ran>, Error> {
        let unavailable = |e: payops_store::StoreError| {
            tracing::error!(error = %e, "cannot read the approvals; nothing sent");
            Error::Unavailable(format!(
                "the operation store is unavailable; nothing was sent ({})",
                e.public()
            ))
        };
        if let Some(key) = key {
            if let Some(a) = self
                .store
                .approval_by_key(&acct.name, key)
                .await
                .map_err(unavailable)?
            {
                if a.operation != op.as_str()
                    || payops_store::request_hash(document)
                        != payops_store::request_hash(&a.request)
                {
                    return Err(Error::IdempotencyConflict(format!(
                        "Idempotency-Key {key:?} was used on account {} for approval {} with another request document",
                        acct.name, a.approval_id
                    )));
                }
                if a.status == payops_store::ApprovalState::Sent {
                    return Ok(None);
                }
                return Ok(Some(Ran::Awaiting {
                    approval: Box::new(a),
                    replayed: true,
                }));
            }
            if self
                .store
                .find_by_key(&acct.name, key)
                .await
                .map_err(unavailable)?
                .is_some()
            {
                return Ok(None);
            }
        }
        let Some(why) = self.approval_reason(acct, document, rules, None).await? else {
            return Ok(None);
        };

        let approval_id = format!("ap_{}", uuid::Uuid::now_v7().simple());
        let ttl_ms = i64::try_from(
            self.settings
                .approvals
                .expire_after_secs
                .saturating_mul(1000),
        )
        .unwrap_or(i64::MAX / 4);
        let new = payops_store::NewApproval {
            approval_id: approval_id.clone(),
            account: acct.name.clone(),
            provider: acct.provider.clone(),
            operation: op.as_str().into(),
            idempotency_key: key
                .map(str::to_owned)
                .unwrap_or_else(|| approval_id.clone()),
            request: document.clone(),
            override_open: override_open.map(str::to_owned),
            requested_by: actor.unwrap_or("payops").to_owned(),
            why,
            ttl_ms,
        };
        match self
            .store
            .request_approval(&new)
            .await
            .map_err(unavailable)?
        {
            payops_store::ApprovalBegin::Created(a) => {
                tracing::info!(approval_id = %a.approval_id, account = %a.account, operation = %a.operation, requested_by = %a.requested_by, why = %a.why, "waiting for approval: nothing sent");
                self.metrics.approval(&a.account, "requested");
                Ok(Some(Ran::Awaiting {
                    approval: a,
                    replayed: false,
                }))
            }
            payops_store::ApprovalBegin::Existing(a) => Ok(Some(Ran::Awaiting {
                approval: a,
                replayed: true,
            })),
            payops_store::ApprovalBegin::Conflict(a) => Err(Error::IdempotencyConflict(format!(
                "Idempotency-Key {:?} was used on account {} for approval {} with another request document",
                key.unwrap_or_default(),
                acct.name,
                a.approval_id
            ))),
        }
    }

    /// Records a refusal (`intent`: the intent it withdraws, if one was
    /// recorded), counts it, and returns the caller's error: `e` as a
    /// refusal with its reason and, once recorded, its id. A refusal that
    /// cannot be recorded is logged and still returned (nothing was sent).
    async fn refuse(
        &self,
        of: &RefusalOf<'_>,
        intent: Option<&str>,
        document: &Value,
        e: Error,
    ) -> Error {
        let reason = reason_of(&e);
        // A refusal of its own: not the id of one it passes on (the order
        // guard's query refused, say).
        let e = match e {
            Error::Refused { error, reason, .. } => Error::Refused {
                error,
                reason,
                refusal_id: None,
            },
            e => e,
        };
        let id = match intent {
            Some(op) => payops_store::refusal_id_of(op),
            None => new_operation_id().replacen("op_", "rf_", 1),
        };
        let e = e.refused(reason, None);
        self.metrics
            .refusal(of.account, of.op, reason.as_str(), e.code().as_str());
        let record = payops_store::NewRefusal {
            id: id.clone(),
            at: chrono::Utc::now(),
            account: of.account.to_owned(),
            provider: of.provider.to_owned(),
            operation: of.op.as_str().to_owned(),
            idempotency_key: of.idempotency_key.map(str::to_owned),
            actor: of.actor.map(str::to_owned),
            reason: reason.as_str().to_owned(),
            error: serde_json::to_value(
                e.clone().refused(reason, Some(id.clone())).to_body().error,
            )
            .unwrap_or_default(),
            request: document.clone(),
        };
        let written = match intent {
            Some(op) => self.store.refuse(op, &record).await,
            None => self.store.record_refusal(&record).await.map(|()| true),
        };
        tracing::info!(refusal_id = %id, account = %of.account, operation = %of.op, reason = reason.as_str(), error = %e, "refused before sending");
        match written {
            Ok(true) => {
                // Bounded: every so often, the oldest beyond the bound go.
                if self
                    .refusals_recorded
                    .fetch_add(1, Ordering::Relaxed)
                    .is_multiple_of(PRUNE_EVERY)
                {
                    match self.store.prune_refusals(self.settings.refusals_kept).await {
                        Ok(n) if n > 0 => tracing::debug!(deleted = n, "oldest refusals pruned"),
                        Ok(_) => {}
                        Err(err) => tracing::warn!(error = %err, "cannot prune refusals"),
                    }
                }
                e.refused(reason, Some(id))
            }
            Ok(false) => {
                // Recovery took the intent for interrupted meanwhile: it
                // stays what recovery made it (`unknown`).
                tracing::warn!(
                    operation_id = intent.unwrap_or_default(),
                    "the refused intent was no longer in flight; kept as recovery left it"
                );
                e
            }
            Err(err) => {
                tracing::error!(refusal_id = %id, error = %err, "cannot record the refusal (nothing was sent)");
                e
            }
        }
    }

    /// Runs [`Engine::execute`] on a task of its own: the caller may go away
    /// (a client that disconnects) without cancelling the provider call or
    /// the write of its answer.
    pub(crate) fn spawn_execute(
        self: &Arc<Engine>,
        account: String,
        op: OperationKind,
        document: Value,
        options: Options,
    ) -> tokio::task::JoinHandle<Result<Ran, Error>> {
        let engine = self.clone();
        let span = tracing::Span::current();
        self.tasks.spawn(
            async move {
                engine.metrics.in_flight.inc();
                let r = engine.execute_marked(&account, op, document, options).await;
                engine.metrics.in_flight.dec();
                r
            }
            .instrument(span),
        )
    }

    /// Writes an operation's answer, retrying a failed write (the provider
    /// has answered: losing that answer is what must not happen). If every
    /// attempt fails, the operation stays in flight and its deadline turns
    /// it `unknown`.
    async fn store_answer(&self, operation_id: &str, envelope: &Envelope) {
        let mut pause = Duration::from_millis(100);
        for attempt in 1..=8u32 {
            let write = tracing::info_span!(
                target: crate::telemetry::TARGET,
                "store.answer",
                otel.kind = "client",
                db.system.name = self.store.kind(),
                attempt,
            );
            match self
                .store
                .finish(operation_id, envelope)
                .instrument(write)
                .await
            {
                Ok(true) => return,
                Ok(false) => {
                    tracing::warn!(%operation_id, "the stored operation was no longer in flight (marked unknown by recovery); kept as is");
                    return;
                }
                Err(e) => {
                    self.metrics.store_retries.inc();
                    tracing::error!(%operation_id, attempt, error = %e, "cannot store the provider's answer; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
        tracing::error!(%operation_id, status = %envelope.status, "the provider's answer could not be stored; the operation stays in flight and becomes unknown at its deadline");
    }

    /// Refuses a refund or cancel above the account's or the caller's amount
    /// limits (per operation, and per day in Turkish time counting every
    /// refund and cancel not `failed`, this one included).
    async fn limit_guard(
        &self,
        me: &str,
        op: OperationKind,
        document: &Value,
        account: &Account,
        caller: &crate::config::Limits,
        actor: Option<&str>,
    ) -> Result<(), Error> {
        if !op.returns_money() || !(account.limits.any() || caller.any()) {
            return Ok(());
        }
        let Some(amount) = document.get("amount").and_then(Value::as_i64) else {
            return Err(Error::Forbidden(
                "amount limits apply: give the amount (a whole-order return cannot be checked before it is sent)".into(),
            ));
        };
        let day_start = turkish_day_start();
        let scopes = [
            (
                format!("account {}", account.name),
                account.limits,
                Some(account.name.as_str()),
                None,
            ),
            (
                format!("token {}", actor.unwrap_or("?")),
                *caller,
                None,
                actor,
            ),
        ];
        for (whose, limits, by_account, by_actor) in scopes {
            if let Some(max) = limits.max_amount_per_operation
                && amount > max
            {
                return Err(Error::Forbidden(format!(
                    "{amount} is above the {max} per operation allowed to {whose}"
                )));
            }
            let Some(max) = limits.max_amount_per_day else {
                continue;
            };
            if by_account.is_none() && by_actor.is_none() {
                continue;
            }
            let today = self
                .store
                .money_since(by_account, by_actor, day_start)
                .await?;
            let total = today
                .iter()
                .filter(|(id, _)| id != me)
                .fold(amount, |t, (_, a)| t.saturating_add(*a));
            if total > max {
                return Err(Error::Forbidden(format!(
                    "{amount} would bring today's refunds and cancels of {whose} to {total}, above the {max} allowed per day"
                )));
            }
        }
        Ok(())
    }

    /// Waits for the turn of `order_ref` (oldest first), polling the store,
    /// up to `order_wait`; then a refusal naming what it waited for.
    async fn await_turn(
        &self,
        account: &str,
        order_ref: &str,
        me: &str,
        created_at: &chrono::DateTime<chrono::Utc>,
    ) -> Result<(), Error> {
        // The turn outlasts its holder's in-flight deadline: it passes on
        // once the holder is answered or declared unknown.
        let lease_ms = i64::try_from(self.settings.in_flight_deadline.as_millis())
            .unwrap_or(i64::MAX / 4)
            .saturating_add(60_000);
        let deadline = Instant::now() + self.settings.order_wait;
        let mut pause = Duration::from_millis(5);
        loop {
            match self
                .store
                .take_turn(account, order_ref, me, created_at, lease_ms)
                .await?
            {
                payops_store::Turn::Taken => return Ok(()),
                payops_store::Turn::After(other) => {
                    if Instant::now() >= deadline {
                        return Err(Error::Conflict(format!(
                            "order {order_ref:?} on account {account}: waited {} s for its turn behind {other} (a refund or cancel of the order in flight); nothing was sent: send it again later (store.order_wait_secs)",
                            self.settings.order_wait.as_secs()
                        )));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
            }
        }
    }

    /// The order guard, run by the holder of the order's turn: a refund or
    /// cancel may return at most what remains, paid - returned - pending -
    /// at risk, and it holds its amount against the order before it is
    /// sent (a reservation in the order's row, checked and raised in one
    /// transaction: one row read whatever the order's history). What was
    /// paid is the provider's word: when the row has none, or one older
    /// than the account's `order_freshness_secs`, the provider's query runs
    /// first (its refusal or failure refuses this request) and the row is
    /// written anew from the order's ledger. A whole-order request holds
    /// what remains; another currency than the payment's is refused. Where
    /// the provider cannot attribute a return to the request that made it,
    /// a request of the same amount as an unresolved one is refused
    /// (reconciliation could not tell them apart), unless `override_open`
    /// names that one; for an order whose payment is not known (a provider
    /// without a query), any unresolved refund or cancel of the order
    /// refuses a new one, unless `override_open` names it.
    async fn order_guard(
        &self,
        me: &str,
        op: OperationKind,
        document: &Value,
        acct: &Account,
        override_open: Option<&str>,
        actor: Option<&str>,
    ) -> Result<(), Error> {
        if !op.returns_money() {
            return Ok(());
        }
        let Some(order_ref) = document.get("order_ref").and_then(Value::as_str) else {
            return Ok(());
        };
        let can_query = acct.order_query
            && self.providers[&acct.provider]
                .info()
                .supports(OperationKind::Query);
        let freshness_ms = i64::try_from(acct.order_freshness_secs)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        let mut money = self.store.order_money(&acct.name, order_ref).await?;
        let stale = money
            .as_ref()
            .is_none_or(|m| chrono::Utc::now().timestamp_millis() - m.paid_read_ms >= freshness_ms);
        if can_query && stale {
            // (Boxed: a query runs through `execute` too, which guards
            // nothing for a query; a successful one writes the order's row.)
            let q = Box::pin(self.execute(
                &acct.name,
                OperationKind::Query,
                json!({ "order_ref": order_ref }),
                Options {
                    actor: actor.map(str::to_owned),
                    ..Default::default()
                },
            ))
            .await?;
            // The provider does not know the order (its documented "not
            // found"): nothing to count against; the request goes on under
            // the rule for an order whose payment is not known, and the
            // provider says what it makes of it.
            let not_found = q.status == Status::Failed
                && q.reason == Some(payops_core::outcome::Reason::NotFound);
            if q.status != Status::Succeeded && !not_found {
                return Err(Error::Conflict(format!(
                    "order {order_ref:?}: the provider's query ({}) answered {} ({}): what was paid cannot be read, so nothing was sent",
                    q.operation_id,
                    q.status,
                    q.provider_message.as_deref().unwrap_or("-")
                )));
            }
            money = self.store.order_money(&acct.name, order_ref).await?;
            if !not_found && money.as_ref().is_none_or(|m| m.paid_by != q.operation_id) {
                // The query said what was paid (or says the payment has no
                // amount) but its row was not written: read it again.
                money = self.refresh_order_money(acct, order_ref).await?;
            }
        }
        let unresolved: Vec<StoredOperation> = self
            .store
            .unresolved_on_order(&acct.name, order_ref)
            .await?
            .into_iter()
            .filter(|o| override_open != Some(o.id.as_str()))
            .collect();
        let names = |ops: &[&StoredOperation]| {
            ops.iter()
                .map(|o| format!("{} ({} {})", o.id, o.operation, o.state.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let requested = document.get("amount").and_then(Value::as_i64);
        let Some(money) = money else {
            // No query, or none that says what was paid: the blunt rule.
            if !unresolved.is_empty() {
                return Err(Error::Conflict(format!(
                    "order {order_ref:?} on account {}: what was paid is not known, and it has an unresolved money operation: {}. Settle it first (payops reconcile, or payops operations resolve), or, if you are sure, repeat the request naming it in X-Payops-Override-Open (--override-open)",
                    acct.name,
                    names(&unresolved.iter().collect::<Vec<_>>())
                )));
            }
            // Past the guard: a row written later counts it.
            self.store
                .hold_unguarded(me, requested.unwrap_or(0))
                .await?;
            return Ok(());
        };
        if let Some(c) = document.get("currency").and_then(Value::as_str)
            && c != money.currency
        {
            return Err(Error::invalid_field(
                "/currency",
                format!(
                    "{c} is not the currency of the payment of order {order_ref:?} ({})",
                    money.currency
                ),
            ));
        }
        // Look-alikes: an unresolved request of the same amount whose
        // answer named no provider transaction.
        if let Some(r) = requested {
            let alike: Vec<&StoredOperation> = unresolved
                .iter()
                .filter(|o| {
                    crate::ledger::amount_of(o) == Some(r)
                        && o.envelope
                            .as_ref()
                            .is_none_or(|e| e.provider_reference.is_none())
                })
                .collect();
            if !alike.is_empty() {
                return Err(Error::Conflict(format!(
                    "order {order_ref:?} has an unresolved operation of the same amount ({r}) that the provider's answer did not name: {}. Reconciliation could not tell the two apart: settle it first, or, if you are sure, repeat the request naming it in X-Payops-Override-Open (--override-open)",
                    names(&alike)
                )));
            }
        }
        let row = match self
            .store
            .reserve(&acct.name, order_ref, me, requested)
            .await?
        {
            payops_store::Reserve::Held(_) => return Ok(()),
            payops_store::Reserve::Exceeds(row) => row,
            // (Rows are never deleted: only a store edited by hand.)
            payops_store::Reserve::NoRow => {
                return Err(Error::Unavailable(format!(
                    "order {order_ref:?}: its row of what was paid is gone from the store; nothing was sent, send it again"
                )));
            }
            payops_store::Reserve::NotInFlight => {
                return Err(Error::Unavailable(format!(
                    "operation {me} was declared unknown while it waited for the order guard; nothing was sent"
                )));
            }
        };
        // Refused: the order's ledger says why, in full.
        let ledger = Box::pin(self.order_ledger(&acct.name, order_ref, false, None)).await;
        let counted = match &ledger {
            Ok(l) => {
                let t = &l.totals;
                format!(
                    "paid {} (read {} by {}), succeeded {}, pending {}, at risk {}{}",
                    row.paid,
                    chrono::DateTime::from_timestamp_millis(row.paid_read_ms)
                        .unwrap_or_default()
                        .with_timezone(&payops_core::turkey_offset())
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                    row.paid_by,
                    t.succeeded,
                    t.pending,
                    t.unknown,
                    if l.not_counted.is_empty() {
                        String::new()
                    } else {
                        format!(" (not counted: {})", l.not_counted.join("; "))
                    }
                )
            }
            Err(_) => format!(
                "paid {}, returned or held {}",
                row.paid,
                row.base + row.held
            ),
        };
        let remaining = row.remaining();
        let counted = if unresolved.is_empty() {
            counted
        } else {
            format!(
                "{counted}; unresolved: {}",
                names(&unresolved.iter().collect::<Vec<_>>())
            )
        };
        Err(Error::Conflict(match requested {
            Some(r) => format!(
                "order {order_ref:?}: {r} requested is more than remains to return: {counted}, remaining {remaining}"
            ),
            None => format!(
                "order {order_ref:?}: nothing remains to return: {counted}, remaining {remaining}"
            ),
        }))
    }

    /// Writes the order guard's row of `order_ref` from its ledger (the
    /// newest successful query of it and every operation on it): what was
    /// paid, and what is returned or at risk beyond the operations'
    /// reservations. `None` when no query says what was paid.
    pub(crate) async fn refresh_order_money(
        &self,
        acct: &Account,
        order_ref: &str,
    ) -> Result<Option<payops_store::OrderMoney>, Error> {
        // Reservations first, then the operations (see
        // `Store::set_order_money`).
        let reserved = self.store.reservations(&acct.name, order_ref).await?;
        let ops = self.store.on_order(&acct.name, order_ref).await?;
        let ledger = self
            .ledger_from(acct, order_ref, &ops, reserved.clone())
            .await?;
        let Some(paid) = &ledger.paid else {
            return Ok(None);
        };
        let t = &ledger.totals;
        let committed = if ledger.not_counted.is_empty() {
            t.succeeded
                .checked_add(t.pending)
                .and_then(|x| x.checked_add(t.unknown))
                .unwrap_or(paid.amount)
        } else {
            paid.amount
        };
        // The reservations of the operations the ledger counted.
        let held: i64 = ledger
            .operations
            .iter()
            .filter(|o| crate::ledger::returns_money(&o.operation))
            .filter(|o| o.state != State::Failed)
            .filter_map(|o| reserved.get(&o.operation_id))
            .fold(0i64, |a, r| a.saturating_add(*r));
        let facts = payops_store::PaidFacts {
            currency: paid.currency.code().to_owned(),
            paid: paid.amount,
            read_ms: paid.read_at.timestamp_millis(),
            by: paid.by_operation.clone(),
        };
        let row = self
            .store
            .set_order_money(
                &acct.name,
                order_ref,
                &facts,
                committed.saturating_sub(held),
            )
            .await?;
        Ok(Some(row))
    }

    /// A context for the provider's sans-IO steps of `acct` (reconcile:
    /// no operation of its own is recorded).
    pub(crate) fn sans_io_context(&self, acct: &Account) -> Result<OperationContext, Error> {
        Ok(OperationContext {
            operation_id: OperationId::new(new_operation_id())
                .map_err(|e| Error::Internal(e.to_string()))?,
            account_name: AccountName::new(acct.name.clone())
                .map_err(|e| Error::Internal(e.to_string()))?,
            account: acct.config.clone(),
            transport: self.transport.clone(),
            now: now(),
            idempotency_key: None,
            nonce: uuid::Uuid::new_v4().simple().to_string(),
            earlier_returns: 0,
        })
    }

    /// The claim scope of an account: the provider and the values of the
    /// keys that identify the merchant there (a provider transaction
    /// proves at most one operation in its scope).
    pub(crate) fn claim_scope(&self, account: &str, provider: &str) -> String {
        let Some(acct) = self.accounts.get(account) else {
            return format!("{provider}:account:{account}");
        };
        let keys = self
            .providers
            .get(provider)
            .map(|p| p.info().merchant_identity.clone())
            .unwrap_or_default();
        if keys.is_empty() {
            return format!("{provider}:account:{account}");
        }
        let values: Vec<String> = keys
            .iter()
            .map(|k| match acct.config.expose().get(k) {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            })
            .collect();
        format!("{provider}:{}", values.join(":"))
    }

    /// The ledger of `order_ref` on `account` from what the store holds;
    /// with `fresh`, after a query of the order now (recorded as a `query`
    /// operation by `actor`; its refusal is the caller's error).
    pub async fn order_ledger(
        &self,
        account: &str,
        order_ref: &str,
        fresh: bool,
        actor: Option<String>,
    ) -> Result<crate::ledger::OrderLedger, Error> {
        let acct = self.account(account)?;
        if fresh {
            self.execute(
                account,
                OperationKind::Query,
                json!({ "order_ref": order_ref }),
                Options {
                    actor,
                    ..Default::default()
                },
            )
            .await?;
        }
        let reserved = self.store.reservations(&acct.name, order_ref).await?;
        let ops = self.store.on_order(&acct.name, order_ref).await?;
        self.ledger_from(acct, order_ref, &ops, reserved).await
    }

    /// The ledger of `order_ref` from `ops` (the operations on it, oldest
    /// first), their reservations, the claims of the transactions its
    /// newest query lists, and which of those the provider's
    /// reconciliation says an unresolved operation could own.
    async fn ledger_from(
        &self,
        acct: &Account,
        order_ref: &str,
        ops: &[StoredOperation],
        reserved: std::collections::HashMap<String, i64>,
    ) -> Result<crate::ledger::OrderLedger, Error> {
        let newest_query = ops
            .iter()
            .rev()
            .filter(|o| o.operation == "query" && o.state == State::Succeeded)
            .find_map(|o| o.envelope.as_ref());
        let ids: Vec<String> = newest_query
            .map(|e| {
                e.details["ledger"]["returns"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["transaction_id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let scope = self.claim_scope(&acct.name, &acct.provider);
        let claimed = self.store.claims(&scope, &ids).await?;
        let could_own = match newest_query {
            Some(q) if !ids.is_empty() => {
                let ctx = self.sans_io_context(acct)?;
                self.providers.get(&acct.provider).and_then(|p| {
                    crate::matching::could_own(p, &ctx, &scope, ops, q, &reserved, &claimed)
                })
            }
            _ => None,
        };
        let known = crate::ledger::Known {
            claimed,
            reserved,
            could_own,
        };
        Ok(crate::ledger::OrderLedger::of(
            &acct.name, order_ref, ops, &known,
        ))
    }

    /// The stored answer of an earlier request with the same key, waiting
    /// while it is in flight.
    async fn await_existing(&self, mut op: StoredOperation) -> Result<Envelope, Error> {
        let deadline = Instant::now() + self.settings.wait;
        let mut pause = Duration::from_millis(10);
        loop {
            if op.state != State::InFlight {
                let env = op.envelope.ok_or_else(|| {
                    Error::Internal(format!("operation {} has no envelope", op.id))
                })?;
                return Ok(env);
            }
            if Instant::now() >= deadline {
                return Err(Error::Unavailable(format!(
                    "operation {} with this Idempotency-Key is still in flight; retry later",
                    op.id
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
            op = match self.store.get(&op.id).await? {
                Some(op) => op,
                // Withdrawn: it was refused before sending, and this caller
                // gets the same refusal.
                None => {
                    let id = payops_store::refusal_id_of(&op.id);
                    let refusal = self.store.refusal(&id).await?.ok_or_else(|| {
                        Error::Unavailable(format!(
                            "operation {} with this Idempotency-Key was withdrawn; send the request again",
                            op.id
                        ))
                    })?;
                    return Err(
                        serde_json::from_value::<payops_core::ErrorObject>(refusal.error)
                            .map(Error::from_object)
                            .unwrap_or_else(|e| Error::Internal(format!("refusal {id}: {e}"))),
                    );
                }
            };
        }
    }

    /// The envelope recorded for an operation a dead process left in flight.
    pub(crate) fn recovered_envelope(op: &StoredOperation) -> Envelope {
        let mut o = Outcome::new(Status::Unknown).with(
            Status::Unknown,
            Some(payops_core::outcome::Reason::Interrupted),
        );
        o.provider_message = Some(
            "the daemon stopped while this operation was in flight; it was not re-sent: reconcile it (payops reconcile) or check with the provider".into(),
        );
        let started = op.created_at.with_timezone(&payops_core::turkey_offset());
        Envelope::new(
            EnvelopeMeta {
                operation_id: op.id.clone(),
                account: op.account.clone(),
                provider: op.provider.clone(),
                operation: op.operation.parse().unwrap_or(OperationKind::Query),
                idempotency_key: op.idempotency_key.clone(),
                started_at: started,
            },
            o,
            now(),
        )
    }

    /// An operator's resolution of an `unknown` or `pending` operation:
    /// the new status with the evidence, recorded with who did it.
    pub(crate) async fn resolve_by_operator(
        &self,
        id: &str,
        status: Status,
        evidence: &str,
        actor: &str,
    ) -> Result<Envelope, Error> {
        if !matches!(status, Status::Succeeded | Status::Failed) {
            return Err(Error::invalid_field(
                "/status",
                "an operator resolves to succeeded or failed",
            ));
        }
        if evidence.trim().is_empty() {
            return Err(Error::invalid_field(
                "/evidence",
                "say what proves it (e.g. the provider panel's transaction id)",
            ));
        }
        let op = self
            .store
            .get(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no operation {id:?}")))?;
        if !matches!(op.state, State::Unknown | State::Pending) {
            return Err(Error::Conflict(format!(
                "operation {id} is {}: only unknown or pending operations are resolved",
                op.state.as_str()
            )));
        }
        let mut env = op
            .envelope
            .clone()
            .unwrap_or_else(|| Engine::recovered_envelope(&op));
        env.status = status;
        env.reason = (status == Status::Failed).then_some(payops_core::outcome::Reason::Operator);
        env.provider_message = Some(format!("resolved by {actor}: {evidence}"));
        let record = json!({"from": op.state.as_str(), "verdict": status, "evidence": evidence, "by": actor, "at": now()});
        match &mut env.details {
            Value::Object(m) => {
                m.insert("resolution".into(), record);
            }
            other => *other = json!({ "resolution": record }),
        }
        env.finished_at = now();
        let how = format!("resolved by {actor}: {evidence}");
        match self
            .store
            .settle(
                id,
                &payops_store::Settlement {
                    from: op.state,
                    envelope: &env,
                    how: &how,
                    claim: None,
                    kind: "resolved",
                    actor: Some(actor),
                },
            )
            .await?
        {
            payops_store::Settle::Done => {
                tracing::info!(operation_id = %id, to = %status, %actor, "resolved by an operator");
                Ok(env)
            }
            _ => Err(Error::Conflict(format!(
                "operation {id} changed meanwhile; look again"
            ))),
        }
    }

    /// Marks operations in flight past their deadline `unknown` (whoever
    /// owns them); returns their ids.
    pub(crate) async fn expire_overdue(&self) -> Result<Vec<String>, Error> {
        let ids = self
            .store
            .expire_overdue(|op| {
                let mut env = Engine::recovered_envelope(op);
                env.provider_message = Some("still in flight past its deadline: the provider may have acted; it was not re-sent: reconcile it (payops reconcile) or check with the provider".into());
                env
            })
            .await
            ?;
        for id in &ids {
            self.metrics.overdue.inc();
            tracing::warn!(operation_id = %id, "operation in flight past its deadline is now unknown (not re-sent)");
        }
        Ok(ids)
    }

    /// Marks operations of dead instances `unknown`; returns their ids.
    pub(crate) async fn recover(&self, instance_timeout: Duration) -> Result<Vec<String>, Error> {
        self.store.heartbeat(&self.instance).await?;
        let ids = self
            .store
            .recover(&self.instance, instance_timeout, Engine::recovered_envelope)
            .await?;
        for id in &ids {
            self.metrics.overdue.inc();
            tracing::warn!(operation_id = %id, "operation left in flight by a stopped daemon is now unknown (not re-sent)");
        }
        Ok(ids)
    }
}

/// The JSON Pointer of the first string or key of `v` holding a NUL
/// character (`\u0000` written for one in a key), if any.
fn nul_at(v: &Value, at: String) -> Option<String> {
    let step = |k: &str| {
        format!(
            "{at}/{}",
            k.replace('~', "~0")
                .replace('/', "~1")
                .replace('\0', "\\u0000")
        )
    };
    match v {
        Value::String(s) if s.contains('\0') => Some(if at.is_empty() { "/".into() } else { at }),
        Value::Object(m) => m.iter().find_map(|(k, x)| {
            if k.contains('\0') {
                Some(step(k))
            } else {
                nul_at(x, step(k))
            }
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| nul_at(x, format!("{at}/{i}"))),
        _ => None,
    }
}

/// `v` with every NUL character replaced by U+FFFD (what the refusal's
/// audit record keeps of such a document).
fn without_nul(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace('\0', "\u{FFFD}")),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, x)| (k.replace('\0', "\u{FFFD}"), without_nul(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_nul).collect()),
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use crate::ids::new_operation_id;

    #[test]
    fn operation_ids_are_unique_time_ordered_and_valid() {
        let ids: Vec<String> = (0..2000).map(|_| new_operation_id()).collect();
        for id in &ids {
            assert_eq!(id.len(), 3 + 32, "{id}");
            assert!(id.starts_with("op_"), "{id}");
            assert!(
                id[3..]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{id}"
            );
            payops_core::OperationId::new(id.clone()).expect("a valid OperationId");
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids, "ids sort in creation order");
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "no duplicates");
        // An id of the previous release is still a valid id.
        payops_core::OperationId::new("op_01a21356728def4c0e962e95c802").expect("old id");
    }
}
