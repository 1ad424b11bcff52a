//! The daemon's metrics, kept and exposed with `prometheus-client`
//! (OpenMetrics text): operations by account, operation and status;
//! latency histograms; provider errors; HTTP responses; operations in
//! flight, overdue, store write retries; build info.

use std::sync::atomic::AtomicI64;
use std::time::Duration;

use payops_core::OperationKind;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// Latency buckets, seconds.
const BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    account: String,
    operation: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    account: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    account: String,
    operation: String,
    reason: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    webhook: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApprovalLabels {
    account: String,
    event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BacklogLabels {
    account: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabels {
    account: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProblemLabels {
    account: String,
    operation: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

/// The daemon's metrics.
pub struct Metrics {
    registry: Registry,
    operations: Family<OpLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    refusals: Family<RefusalLabels, Counter>,
    http: Family<HttpLabels, Counter>,
    /// Operations running now.
    pub in_flight: Gauge<i64, AtomicI64>,
    /// Operations declared `unknown` because they stayed in flight past
    /// their deadline or their daemon died.
    pub overdue: Counter,
    /// Store writes of an answer that failed and were retried.
    pub store_retries: Counter,
    webhook_deliveries: Family<WebhookLabels, Counter>,
    /// Webhook deliveries not made yet.
    pub webhook_queue: Gauge<i64, AtomicI64>,
    /// Age in seconds of the oldest undelivered webhook event.
    pub webhook_oldest_age: Gauge<i64, AtomicI64>,
    approvals: Family<ApprovalLabels, Counter>,
    unresolved: Family<BacklogLabels, Gauge>,
    unresolved_age: Family<BacklogLabels, Gauge>,
    approvals_waiting: Family<AccountLabels, Gauge>,
    approvals_waiting_age: Family<AccountLabels, Gauge>,
    overdrawn: Family<AccountLabels, Gauge>,
    problems: Family<ProblemLabels, Counter>,
    reconciled: Family<ResultLabels, Counter>,
    /// 1 while the store answers the watch's reads, 0 when it failed.
    pub store_up: Gauge<i64, AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let operations = Family::<OpLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(BUCKETS)) as fn() -> Histogram,
        );
        let refusals = Family::<RefusalLabels, Counter>::default();
        let http = Family::<HttpLabels, Counter>::default();
        let in_flight = Gauge::<i64, AtomicI64>::default();
        let overdue = Counter::default();
        let store_retries = Counter::default();
        let webhook_deliveries = Family::<WebhookLabels, Counter>::default();
        let webhook_queue = Gauge::<i64, AtomicI64>::default();
        let webhook_oldest_age = Gauge::<i64, AtomicI64>::default();
        let approvals = Family::<ApprovalLabels, Counter>::default();
        let unresolved = Family::<BacklogLabels, Gauge>::default();
        let unresolved_age = Family::<BacklogLabels, Gauge>::default();
        let approvals_waiting = Family::<AccountLabels, Gauge>::default();
        let approvals_waiting_age = Family::<AccountLabels, Gauge>::default();
        let overdrawn = Family::<AccountLabels, Gauge>::default();
        let problems = Family::<ProblemLabels, Counter>::default();
        let reconciled = Family::<ResultLabels, Counter>::default();
        let store_up = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "payops_unresolved_operations",
            "Operations unknown or pending now, by account and state (read from the store every 15 s)",
            unresolved.clone(),
        );
        registry.register(
            "payops_unresolved_oldest_age_seconds",
            "Age of the oldest unknown or pending operation, by account and state",
            unresolved_age.clone(),
        );
        registry.register(
            "payops_approvals_waiting",
            "Approvals waiting for a decision, by account",
            approvals_waiting.clone(),
        );
        registry.register(
            "payops_approvals_waiting_oldest_age_seconds",
            "Age of the oldest approval waiting for a decision, by account",
            approvals_waiting_age.clone(),
        );
        registry.register(
            "payops_orders_overdrawn",
            "Orders whose returned, at-risk and reserved money exceeds what was paid (remaining below zero), by account",
            overdrawn.clone(),
        );
        registry.register(
            "payops_provider_problems",
            "Outcomes that name the provider's trouble (timeout, connection_lost, unreachable, provider_error), by account, operation and reason",
            problems.clone(),
        );
        registry.register(
            "payops_reconcile_attempts",
            "Reconciliations of an unresolved operation by result (settled, unchanged, error)",
            reconciled.clone(),
        );
        registry.register(
            "payops_store_up",
            "1 while the store answers the daemon's periodic reads, 0 after one failed",
            store_up.clone(),
        );
        registry.register(
            "payops_approvals",
            "Approval events by account and event (requested, approved, rejected, expired, sent, refused at send time)",
            approvals.clone(),
        );
        registry.register(
            "payops_webhook_deliveries",
            "Webhook delivery attempts by webhook and result (delivered, retry, failed)",
            webhook_deliveries.clone(),
        );
        registry.register(
            "payops_webhook_queue_depth",
            "Webhook deliveries not made yet",
            webhook_queue.clone(),
        );
        registry.register(
            "payops_webhook_oldest_pending_age_seconds",
            "Age of the oldest undelivered webhook event",
            webhook_oldest_age.clone(),
        );
        registry.register(
            "payops_operations",
            "Operations finished, by account, operation and status",
            operations.clone(),
        );
        registry.register(
            "payops_operation_duration_seconds",
            "Operation latency",
            latency.clone(),
        );
        registry.register(
            "payops_refusals",
            "Requests refused before anything was sent to the provider (not operations), by account, operation, reason and error code",
            refusals.clone(),
        );
        registry.register(
            "payops_http_responses",
            "HTTP responses by status",
            http.clone(),
        );
        registry.register(
            "payops_operations_in_flight",
            "Operations running now",
            in_flight.clone(),
        );
        registry.register(
            "payops_operations_overdue",
            "Operations marked unknown because they stayed in flight past their deadline or their daemon stopped",
            overdue.clone(),
        );
        registry.register(
            "payops_store_write_retries",
            "Writes of a provider answer to the store that failed and were retried",
            store_retries.clone(),
        );
        registry.register(
            "payops_build",
            "The payops build serving these metrics",
            Info::new(vec![
                ("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
                (
                    "plugin_protocol".to_owned(),
                    payops_core::protocol::ABI_VERSION.to_string(),
                ),
            ]),
        );
        Metrics {
            registry,
            operations,
            latency,
            refusals,
            http,
            in_flight,
            overdue,
            store_retries,
            webhook_deliveries,
            webhook_queue,
            webhook_oldest_age,
            approvals,
            unresolved,
            unresolved_age,
            approvals_waiting,
            approvals_waiting_age,
            overdrawn,
            problems,
            reconciled,
            store_up,
        }
    }
}

impl Metrics {
    /// One finished operation.
    pub fn record(&self, account: &str, op: OperationKind, status: &str, elapsed: Duration) {
        self.operations
            .get_or_create(&OpLabels {
                account: account.into(),
                operation: op.as_str().into(),
                status: status.into(),
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                account: account.into(),
                operation: op.as_str().into(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// A request refused before anything was sent, with its reason and
    /// error code.
    pub fn refusal(&self, account: &str, op: OperationKind, reason: &str, code: &str) {
        self.refusals
            .get_or_create(&RefusalLabels {
                account: account.into(),
                operation: op.as_str().into(),
                reason: reason.into(),
                code: code.into(),
            })
            .inc();
    }

    /// One webhook delivery attempt: `delivered`, `retry` or `failed`.
    pub fn webhook(&self, webhook: &str, result: &str) {
        self.webhook_deliveries
            .get_or_create(&WebhookLabels {
                webhook: webhook.into(),
                result: result.into(),
            })
            .inc();
    }

    /// One approval event.
    pub fn approval(&self, account: &str, event: &str) {
        self.approvals
            .get_or_create(&ApprovalLabels {
                account: account.to_owned(),
                event: event.to_owned(),
            })
            .inc();
    }

    /// An outcome's reason: counted when it names the provider's trouble.
    pub fn outcome_reason(&self, account: &str, op: OperationKind, reason: payops_core::Reason) {
        use payops_core::Reason;
        if matches!(
            reason,
            Reason::Timeout | Reason::ConnectionLost | Reason::Unreachable | Reason::ProviderError
        ) {
            self.problems
                .get_or_create(&ProblemLabels {
                    account: account.into(),
                    operation: op.as_str().into(),
                    reason: reason.as_str().into(),
                })
                .inc();
        }
    }

    /// One reconciliation: `settled`, `unchanged` or `error`.
    pub fn reconciled(&self, result: &str) {
        self.reconciled
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
    }

    /// The store's figures now (replacing the last ones).
    pub fn watch(&self, w: &payops_store::Watch, now: chrono::DateTime<chrono::Utc>) {
        let age = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map_or(0, |t| (now - t).num_seconds().max(0))
        };
        self.unresolved.clear();
        self.unresolved_age.clear();
        for b in &w.unresolved {
            let l = BacklogLabels {
                account: b.account.clone(),
                state: b.state.clone(),
            };
            self.unresolved.get_or_create(&l).set(b.count);
            self.unresolved_age.get_or_create(&l).set(age(b.oldest));
        }
        self.approvals_waiting.clear();
        self.approvals_waiting_age.clear();
        for b in &w.approvals {
            let l = AccountLabels {
                account: b.account.clone(),
            };
            self.approvals_waiting.get_or_create(&l).set(b.count);
            self.approvals_waiting_age
                .get_or_create(&l)
                .set(age(b.oldest));
        }
        self.overdrawn.clear();
        for (account, n) in &w.overdrawn {
            self.overdrawn
                .get_or_create(&AccountLabels {
                    account: account.clone(),
                })
                .set(*n);
        }
        self.store_up.set(1);
    }

    /// One HTTP response.
    pub fn http(&self, status: u16) {
        self.http.get_or_create(&HttpLabels { status }).inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut s, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        s
    }
}

/// The content type of [`Metrics::render`].
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
