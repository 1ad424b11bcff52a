//! Webhooks out: the deliverer that takes due events from the store's
//! outbox, signs them and posts them to the platform's receivers, at least
//! once, with exponential backoff and jitter, for up to each webhook's
//! maximum age.
//!
//! Each delivery is a `POST` of the event (`{id, type, settled,
//! created_at, data: envelope}`) with:
//! - `Payops-Event-Id`: the event id, the same for every attempt and every
//!   webhook: receivers deduplicate on it;
//! - `Payops-Event-Type`: e.g. `operation.succeeded`;
//! - `Payops-Signature: t=<unix seconds>,v1=<hex>`: HMAC-SHA256 under the
//!   webhook's secret of `"<t>.<body>"`; during a rotation a second `v1=`
//!   signs with the previous secret.

use std::sync::Arc;
use std::time::Duration;

use payops_core::{HttpRequest, HttpTransport};
use payops_store::{AttemptResult, Delivery, Store};
use tracing::Instrument;

use crate::config::Webhook;
use crate::metrics::Metrics;

/// The `Payops-Signature` value for `body` sent at unix time `t`.
pub(crate) fn signature_header(secrets: &[String], t: i64, body: &str) -> String {
    let mut parts = vec![format!("t={t}")];
    for s in secrets {
        let v1 = crate::signing::hmac_sha256_hex(s, &format!("{t}.{body}"));
        parts.push(format!("v1={v1}"));
    }
    parts.join(",")
}

/// The delay before attempt `attempts + 1`: `initial * 2^attempts`, at most
/// `max`, times a jitter factor in 0.8..1.2 drawn from `random`.
pub(crate) fn backoff(initial_ms: u64, max_ms: u64, attempts: i64, random: u128) -> i64 {
    let shift = u32::try_from(attempts.clamp(0, 40)).unwrap_or(40);
    let base = initial_ms.saturating_mul(1u64 << shift.min(40)).min(max_ms);
    // 0..=400 per mille, from the random bits: 800..=1200 ‰.
    let jitter = 800 + (random % 401) as u64;
    i64::try_from(base.saturating_mul(jitter) / 1000).unwrap_or(i64::MAX)
}

/// Runs the deliverer on `tasks` until `stop` is cancelled.
pub fn spawn(
    tasks: &tokio_util::task::TaskTracker,
    stop: tokio_util::sync::CancellationToken,
    store: Store,
    hooks: Vec<Webhook>,
    transport: Arc<dyn HttpTransport>,
    metrics: Arc<Metrics>,
) {
    if hooks.is_empty() {
        return;
    }
    let hooks = Arc::new(hooks);
    tasks.spawn(async move {
        loop {
            // Shutdown does not wait for a round: deliveries it had leased
            // are retried once their lease ends (at least once, as always).
            let result = tokio::select! {
                () = stop.cancelled() => break,
                result = round(&store, &hooks, &transport, &metrics) => result,
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "webhook delivery round failed");
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    });
}

/// One round: claim what is due, deliver it concurrently, record it.
async fn round(
    store: &Store,
    hooks: &Arc<Vec<Webhook>>,
    transport: &Arc<dyn HttpTransport>,
    metrics: &Arc<Metrics>,
) -> Result<(), payops_store::StoreError> {
    let lease = hooks
        .iter()
        .map(|h| h.config.timeout_ms)
        .max()
        .unwrap_or(10_000)
        .saturating_mul(3)
        .max(30_000);
    let due = store
        .claim_deliveries(64, i64::try_from(lease).unwrap_or(i64::MAX / 4))
        .await?;
    let mut tasks = tokio::task::JoinSet::new();
    for d in due {
        let Some(hook) = hooks.iter().find(|h| h.config.name == d.webhook).cloned() else {
            // A webhook removed from config: its events wait (visible in
            // `payops webhooks list`) until it comes back or is redelivered.
            continue;
        };
        let (store, transport, metrics) = (store.clone(), transport.clone(), metrics.clone());
        tasks.spawn(async move { deliver(&store, &hook, &d, &transport, &metrics).await });
    }
    while let Some(r) = tasks.join_next().await {
        if let Ok(Err(e)) = r {
            tracing::warn!(error = %e, "recording a webhook attempt failed");
        }
    }
    let (queue, age_ms) = store.delivery_backlog().await?;
    metrics.webhook_queue.set(queue);
    metrics.webhook_oldest_age.set(age_ms / 1000);
    Ok(())
}

async fn deliver(
    store: &Store,
    hook: &Webhook,
    d: &Delivery,
    transport: &Arc<dyn HttpTransport>,
    metrics: &Metrics,
) -> Result<(), payops_store::StoreError> {
    let body = d.payload.to_string();
    let t = chrono::Utc::now().timestamp();
    let mut request = HttpRequest::post(&hook.config.url, "application/json", body.clone())
        .with_header("Payops-Event-Id", &d.event_id)
        .with_header("Payops-Event-Type", &d.event_type)
        .with_header(
            "Payops-Signature",
            signature_header(&hook.secrets, t, &body),
        )
        .with_header("User-Agent", concat!("payops/", env!("CARGO_PKG_VERSION")));
    request.timeout_ms = Some(hook.config.timeout_ms);
    // A child of the change it reports (its stored traceparent), sending
    // its own context to the receiver.
    let span = tracing::info_span!(
        target: crate::telemetry::TARGET,
        "webhook.delivery",
        otel.kind = "client",
        webhook = %hook.config.name,
        event_id = %d.event_id,
        event_type = %d.event_type,
        operation_id = %d.operation_id,
        attempt = d.attempts + 1,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        "error.type" = tracing::field::Empty,
    );
    crate::telemetry::follow_stored(d.traceparent.as_deref(), &span);
    if let Some(tp) = span.in_scope(crate::telemetry::traceparent) {
        request = request.with_header("traceparent", tp);
    }
    let answer = transport.send(request).instrument(span.clone()).await;
    crate::telemetry::record_answer(&span, &answer);
    let (status, error) = match &answer {
        Ok(r) if r.is_success() => (Some(r.status), None),
        Ok(r) => (Some(r.status), Some(format!("HTTP {}", r.status))),
        Err(e) => (None, Some(e.to_string())),
    };
    let result = match error {
        None => AttemptResult::Delivered(status.unwrap_or(200)),
        Some(error) => {
            let now = store.now_ms().await?;
            let age_ms = now - d.created_ms;
            let max_age_ms =
                i64::try_from(hook.config.max_age_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            let delay = backoff(
                hook.config.retry_initial_ms,
                hook.config.retry_max_ms,
                d.attempts,
                uuid::Uuid::new_v4().as_u128(),
            );
            AttemptResult::Retry {
                status,
                error,
                next_attempt_ms: (age_ms + delay < max_age_ms).then_some(now + delay),
            }
        }
    };
    let label = match &result {
        AttemptResult::Delivered(_) => "delivered",
        AttemptResult::Retry {
            next_attempt_ms: Some(_),
            ..
        } => "retry",
        AttemptResult::Retry { .. } => "failed",
    };
    metrics.webhook(&hook.config.name, label);
    tracing::info!(
        webhook = %hook.config.name,
        event_id = %d.event_id,
        event_type = %d.event_type,
        operation_id = %d.operation_id,
        attempt = d.attempts + 1,
        status = ?status,
        result = label,
        "webhook delivery"
    );
    store.record_attempt(d, &result).await
}

/// Milliseconds since the epoch (store clock) as RFC 3339 in Turkish time.
fn at(ms: i64) -> serde_json::Value {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            serde_json::Value::String(
                t.with_timezone(&payops_core::turkey_offset())
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
            )
        })
        .unwrap_or(serde_json::Value::Null)
}

/// A delivery as `payops webhooks` and `GET /v1/webhook-deliveries` show
/// it (the event body itself only with `payload`).
pub(crate) fn view(d: &Delivery, payload: bool) -> serde_json::Value {
    let mut v = serde_json::json!({
        "event_id": d.event_id,
        "webhook": d.webhook,
        "event_type": d.event_type,
        "operation_id": d.operation_id,
        "account": d.account,
        "state": d.state,
        "attempts": d.attempts,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "created_at": at(d.created_ms),
        "next_attempt_at": if d.state == payops_store::DeliveryState::Pending { at(d.next_attempt_ms) } else { serde_json::Value::Null },
        "delivered_at": d.delivered_ms.map(at),
    });
    if payload {
        v["payload"] = d.payload.clone();
    }
    v
}

/// An attempt as shown.
pub(crate) fn attempt_view(a: &payops_store::Attempt) -> serde_json::Value {
    serde_json::json!({"attempt": a.attempt, "at": at(a.at_ms), "status": a.status, "error": a.error})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' |
        // openssl dgst -sha256 -hmac 'whsec_0123456789abcdef'
        let h = signature_header(
            &["whsec_0123456789abcdef".into()],
            1_700_000_000,
            r#"{"a":1}"#,
        );
        assert_eq!(
            h,
            "t=1700000000,v1=9f5e37cdc7ea587c7c02062d93283cad000d66a831b2a1676418696db47ed6c2"
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_a_ceiling() {
        assert_eq!(backoff(1000, 3_600_000, 0, 200), 1000);
        assert_eq!(backoff(1000, 3_600_000, 3, 200), 8000);
        assert_eq!(backoff(1000, 3_600_000, 0, 0), 800);
        assert_eq!(backoff(1000, 3_600_000, 0, 400), 1200);
        assert_eq!(backoff(1000, 3_600_000, 30, 200), 3_600_000);
        assert_eq!(backoff(1000, 3_600_000, i64::MAX, 200), 3_600_000);
    }
}
