//! Provider callbacks in: the endpoint that takes the posts of providers
//! that post their results later, at the URLs [`crate::signing::Callbacks`]
//! makes (a provider declares which operations, in its info). A
//! callback is never trusted alone: it is recorded verbatim (credentials
//! blanked) on the operation's audit trail and triggers a reconciliation
//! of that operation by the provider's query, the same proof rules as
//! `payops reconcile`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::engine::Engine;

/// Largest callback body taken.
pub(crate) const BODY_LIMIT: usize = 16 * 1024;

/// The callback listener's one route: public, each URL signed for one
/// operation ([`crate::signing::Callbacks`]).
pub const ROUTE: super::state::RouteInfo = super::state::RouteInfo {
    method: "POST",
    path: "/v1/callbacks/{provider}/{operation_id}/{token}",
    access: super::state::Access::Public("its own signed URL, one per operation"),
};

/// `POST /v1/callbacks/{provider}/{operation_id}/{token}`.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route(ROUTE.path, post(take))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(engine)
}

fn answer(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

#[tracing::instrument(target = "payops::trace", name = "callback", skip_all, fields(otel.kind = "server", provider = %provider, operation_id = %operation_id))]
async fn take(
    State(engine): State<Arc<Engine>>,
    Path((provider, operation_id, given)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let Some(cb) = &engine.settings.callbacks else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"error": {"code": "not_found", "message": "callbacks are off (no server.public_url)"}}),
        );
    };
    let op = match engine.store.get(&operation_id).await {
        Ok(Some(op)) if op.provider == provider => op,
        Ok(_) => {
            tracing::warn!(%provider, %operation_id, "callback for an unknown operation: ignored");
            return answer(
                StatusCode::NOT_FOUND,
                json!({"error": {"code": "not_found", "message": "no such operation"}}),
            );
        }
        Err(e) => {
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": {"code": "unavailable", "message": format!("operation store: {}", e.public())}}),
            );
        }
    };
    // What the provider posted, as text, without the account's credentials.
    let mut text: String = String::from_utf8_lossy(&body).chars().take(4000).collect();
    if let Some(acct) = engine.accounts.get(&op.account) {
        payops_core::outcome::scrub_string(&mut text, &acct.config.secret_values());
    }
    if !cb.verify(&provider, &operation_id, &given) {
        // Anyone who knows an operation id can post: record the first few on
        // the audit trail, then only count (bounded storage).
        let n = {
            let mut seen = engine
                .refused_callbacks
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if seen.len() >= 10_000 && !seen.contains_key(&operation_id) {
                seen.clear();
            }
            let n = seen.entry(operation_id.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let recorded = crate::engine::REFUSED_CALLBACKS_RECORDED;
        if n <= recorded || n.is_power_of_two() {
            tracing::warn!(%provider, %operation_id, refused = n, "callback with a wrong token: ignored");
        }
        let detail = if n <= recorded {
            let text: String = text.chars().take(500).collect();
            Some(format!(
                "a callback with a wrong token was ignored ({content_type}): {text}"
            ))
        } else if n == recorded + 1 {
            Some(format!(
                "more callbacks with a wrong token: not recorded here after {recorded} (the daemon's log counts them)"
            ))
        } else {
            None
        };
        if let Some(detail) = detail {
            let _ = engine
                .store
                .record_event(&operation_id, "callback_refused", &detail)
                .await;
        }
        return answer(
            StatusCode::FORBIDDEN,
            json!({"error": {"code": "forbidden", "message": "wrong callback token"}}),
        );
    }
    let _ = engine
        .store
        .record_event(
            &operation_id,
            "callback",
            &format!("provider callback ({content_type}): {text}"),
        )
        .await;
    if op.state.is_final() {
        tracing::info!(%operation_id, state = op.state.as_str(), "callback for a settled operation: recorded, nothing to do");
        return answer(
            StatusCode::OK,
            json!({"accepted": false, "reason": format!("the operation is already {}", op.state.as_str())}),
        );
    }
    // Never trusted alone: the provider's query decides.
    let e = engine.clone();
    let id = operation_id.clone();
    engine.tasks.spawn(async move {
        match crate::reconcile::one_by_id(&e, &id).await {
            Ok(r) => {
                tracing::info!(operation_id = %id, to = ?r.to, how = %r.how, "reconciled after a provider callback")
            }
            Err(err) => {
                tracing::warn!(operation_id = %id, error = %err, "reconciliation after a callback failed")
            }
        }
    });
    tracing::info!(%provider, %operation_id, "provider callback recorded; reconciling by query");
    answer(StatusCode::ACCEPTED, json!({"accepted": true}))
}
