//! Running operations: validation against the exported schemas, the
//! provider call through the host transport, the envelope, metrics, logs.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Instant;

use payops_core::abi::PluginProvider;
use payops_core::{
    AccountName, Envelope, EnvelopeMeta, Error, FieldError, HttpTransport, OperationContext,
    OperationId, OperationKind, Provider,
};
use serde_json::Value;
use tracing::Instrument;

use crate::config::Account;
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
    validators: HashMap<(String, OperationKind), jsonschema::Validator>,
}

/// A fresh operation id: `op_` + milliseconds + randomness, hex.
pub fn new_operation_id() -> String {
    let millis = chrono::Utc::now().timestamp_millis() as u64;
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(millis);
    format!("op_{millis:012x}{:016x}", h.finish())
}

/// Turkish time now.
pub fn now() -> chrono::DateTime<chrono::FixedOffset> {
    payops_transport::turkey_now()
}

impl Engine {
    /// Compiles the request schema of every provider operation.
    pub fn new(
        providers: BTreeMap<String, Arc<PluginProvider>>,
        accounts: BTreeMap<String, Account>,
        transport: Arc<dyn HttpTransport>,
    ) -> Result<Engine, String> {
        let mut validators = HashMap::new();
        for (id, p) in &providers {
            for (op, s) in &p.info().operations {
                let v = jsonschema::validator_for(&s.request)
                    .map_err(|e| format!("provider {id}: {op} request schema: {e}"))?;
                validators.insert((id.clone(), *op), v);
            }
        }
        Ok(Engine {
            providers,
            accounts,
            transport,
            metrics: Arc::new(Metrics::default()),
            validators,
        })
    }

    /// The account, or `not_found`.
    pub fn account(&self, name: &str) -> Result<&Account, Error> {
        self.accounts
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("no account {name:?}")))
    }

    /// Checks a request document against the provider's exported schema.
    pub fn validate(
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

    /// Runs one operation: validate, call, wrap. Errors mean nothing was sent.
    pub async fn execute(
        &self,
        account: &str,
        op: OperationKind,
        document: Value,
        idempotency_key: Option<String>,
    ) -> Result<Envelope, Error> {
        let acct = self.account(account)?;
        self.validate(&acct.provider, op, &document)?;
        let provider = self.providers[&acct.provider].clone();
        let operation_id = new_operation_id();
        let started_at = now();
        let span = tracing::info_span!("operation", account = %acct.name, provider = %acct.provider, operation = %op, operation_id = %operation_id);
        let ctx = OperationContext {
            operation_id: OperationId::new(operation_id.clone())
                .map_err(|e| Error::Internal(e.to_string()))?,
            account_name: AccountName::new(acct.name.clone())
                .map_err(|e| Error::Internal(e.to_string()))?,
            account: acct.config.clone(),
            transport: self.transport.clone(),
            now: started_at,
        };
        let timer = Instant::now();
        let result = async {
            tracing::info!("operation started");
            let r = provider.execute(op, &ctx, document).await;
            match &r {
                Ok(o) => tracing::info!(status = %o.status, provider_code = ?o.provider_code, provider_reference = ?o.provider_reference, elapsed_ms = timer.elapsed().as_millis() as u64, "operation finished"),
                Err(e) => tracing::warn!(error = %e, "operation refused"),
            }
            r
        }
        .instrument(span)
        .await;
        let elapsed = timer.elapsed();
        match result {
            Ok(outcome) => {
                self.metrics
                    .record(&acct.name, op, outcome.status.as_str(), elapsed);
                Ok(Envelope::new(
                    EnvelopeMeta {
                        operation_id,
                        account: acct.name.clone(),
                        provider: acct.provider.clone(),
                        operation: op,
                        idempotency_key,
                        started_at,
                    },
                    outcome,
                    now(),
                ))
            }
            Err(e) => {
                self.metrics
                    .provider_error(&acct.name, op, e.code().as_str());
                Err(e)
            }
        }
    }
}
