//! Prometheus text metrics: operations by account, operation and status;
//! latency histograms; provider errors; in-flight operations.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use payops_core::OperationKind;

const BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; 10],
    sum: f64,
    count: u64,
}

/// The daemon's metrics.
#[derive(Default)]
pub struct Metrics {
    operations: Mutex<BTreeMap<(String, String, String), u64>>,
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
    errors: Mutex<BTreeMap<(String, String, String), u64>>,
    http: Mutex<BTreeMap<u16, u64>>,
    /// Operations running now.
    pub in_flight: AtomicI64,
    /// Operations declared `unknown` because they stayed in flight past
    /// their deadline or their daemon died.
    pub overdue: AtomicI64,
    /// Store writes of an answer that failed and were retried.
    pub store_retries: AtomicI64,
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// One finished operation.
    pub fn record(&self, account: &str, op: OperationKind, status: &str, elapsed: Duration) {
        *self
            .operations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((account.into(), op.as_str().into(), status.into()))
            .or_default() += 1;
        let mut lat = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let h = lat.entry((account.into(), op.as_str().into())).or_default();
        let secs = elapsed.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// An operation refused with an error code.
    pub fn provider_error(&self, account: &str, op: OperationKind, code: &str) {
        *self
            .errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((account.into(), op.as_str().into(), code.into()))
            .or_default() += 1;
    }

    /// One HTTP response.
    pub fn http(&self, status: u16) {
        *self
            .http
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(status)
            .or_default() += 1;
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP payops_build_info The payops build serving these metrics.\n# TYPE payops_build_info gauge\npayops_build_info{{version=\"{}\",plugin_protocol=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            payops_core::abi::ABI_VERSION
        );
        let _ = writeln!(
            s,
            "# HELP payops_operations_overdue_total Operations marked unknown because they stayed in flight past their deadline or their daemon stopped.\n# TYPE payops_operations_overdue_total counter\npayops_operations_overdue_total {}",
            self.overdue.load(std::sync::atomic::Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP payops_store_write_retries_total Writes of a provider answer to the store that failed and were retried.\n# TYPE payops_store_write_retries_total counter\npayops_store_write_retries_total {}",
            self.store_retries
                .load(std::sync::atomic::Ordering::Relaxed)
        );
        s.push_str("# HELP payops_operations_total Operations finished, by account, operation and status.\n# TYPE payops_operations_total counter\n");
        for ((a, o, st), n) in self
            .operations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                s,
                "payops_operations_total{{account=\"{}\",operation=\"{o}\",status=\"{st}\"}} {n}",
                esc(a)
            );
        }
        s.push_str("# HELP payops_operation_duration_seconds Operation latency.\n# TYPE payops_operation_duration_seconds histogram\n");
        for ((a, o), h) in self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let a = esc(a);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "payops_operation_duration_seconds_bucket{{account=\"{a}\",operation=\"{o}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                s,
                "payops_operation_duration_seconds_bucket{{account=\"{a}\",operation=\"{o}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                s,
                "payops_operation_duration_seconds_sum{{account=\"{a}\",operation=\"{o}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                s,
                "payops_operation_duration_seconds_count{{account=\"{a}\",operation=\"{o}\"}} {}",
                h.count
            );
        }
        s.push_str("# HELP payops_provider_errors_total Operations refused with an error, by code.\n# TYPE payops_provider_errors_total counter\n");
        for ((a, o, c), n) in self.errors.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                s,
                "payops_provider_errors_total{{account=\"{}\",operation=\"{o}\",code=\"{c}\"}} {n}",
                esc(a)
            );
        }
        s.push_str("# HELP payops_http_responses_total HTTP responses by status.\n# TYPE payops_http_responses_total counter\n");
        for (st, n) in self.http.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(s, "payops_http_responses_total{{status=\"{st}\"}} {n}");
        }
        s.push_str("# HELP payops_operations_in_flight Operations running now.\n# TYPE payops_operations_in_flight gauge\n");
        let _ = writeln!(
            s,
            "payops_operations_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        s
    }
}
