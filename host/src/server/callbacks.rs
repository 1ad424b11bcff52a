//! Provider callbacks in: the endpoint that takes the posts of providers
//! that post their results later, at the URLs [`crate::signing::Callbacks`]
//! makes (a provider declares which operations, in its info). A
//! callback is never trusted alone: it is recorded verbatim (credentials
//! blanked) on the operation's audit trail and triggers a reconciliation
//! of that operation by the provider's query, the same proof rules as
//! `payops reconcile`.
//!
//! A provider that posts to one URL per merchant (set once in its panel:
//! Sipay's refund webhook) gets one per account instead; a post names an
//! order, and reconciles that order's unresolved operations of the kind
//! the provider declares, each with the post for the provider to weigh
//! (its own proof, such as a signature, is the provider's to check).

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

/// The callback listener's route for providers that post to one URL per
/// merchant: public, each URL signed for one account
/// ([`crate::signing::Callbacks::account_url`]).
pub const ACCOUNT_ROUTE: super::state::RouteInfo = super::state::RouteInfo {
    method: "POST",
    path: "/v1/callbacks/{provider}/accounts/{account}/{token}",
    access: super::state::Access::Public("its own signed URL, one per account"),
};

/// `POST /v1/callbacks/{provider}/{operation_id}/{token}` and
/// `POST /v1/callbacks/{provider}/accounts/{account}/{token}`.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route(ROUTE.path, post(take))
        .route(ACCOUNT_ROUTE.path, post(take_account))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(engine)
}

fn answer(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

fn store_unavailable(e: payops_store::StoreError) -> Response {
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"error": {"code": "unavailable", "message": format!("operation store: {}", e.public())}}),
    )
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// What the provider posted, as text (its first 4,000 characters),
/// without `account`'s credentials.
fn posted_text(engine: &Engine, account: &str, body: &[u8]) -> String {
    let mut text: String = String::from_utf8_lossy(body).chars().take(4000).collect();
    if let Some(acct) = engine.accounts.get(account) {
        payops_core::outcome::scrub_string(&mut text, &acct.config.secret_values());
    }
    text
}

/// Counts one more post with a wrong token to the URL of `key` (an
/// operation, or `account:<name>`), in bounded memory: the how-many-th it
/// is. Anyone who knows an id can post, so the log says only the first few
/// and then every power of two.
fn refused(engine: &Engine, key: &str) -> u64 {
    let mut seen = engine
        .refused_callbacks
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if seen.len() >= 10_000 && !seen.contains_key(key) {
        seen.clear();
    }
    let n = seen.entry(key.to_owned()).or_insert(0);
    *n += 1;
    *n
}

/// Is the `n`-th refused post to one URL worth a log line?
fn worth_logging(n: u64) -> bool {
    n <= crate::engine::REFUSED_CALLBACKS_RECORDED || n.is_power_of_two()
}

#[tracing::instrument(target = "payops::trace", name = "callback", skip_all, fields(otel.kind = "server", provider = %provider, operation_id = %operation_id))]
async fn take(
    State(engine): State<Arc<Engine>>,
    Path((provider, operation_id, given)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = content_type(&headers);
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
        Err(e) => return store_unavailable(e),
    };
    let text = posted_text(&engine, &op.account, &body);
    if !cb.verify(&provider, &operation_id, &given) {
        // Anyone who knows an operation id can post: record the first few on
        // the audit trail, then only count (bounded storage).
        let n = refused(&engine, &operation_id);
        let recorded = crate::engine::REFUSED_CALLBACKS_RECORDED;
        if worth_logging(n) {
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
        match crate::reconcile::one_by_id(&e, &id, None).await {
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

/// A post's body as JSON: a JSON object as sent, a form body as an object
/// of its fields; `None` for anything else.
fn body_json(content_type: &str, body: &[u8]) -> Option<Value> {
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let pairs = payops_core::kit::form::decode(body);
        return Some(Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        ));
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
}

#[tracing::instrument(target = "payops::trace", name = "callback", skip_all, fields(otel.kind = "server", provider = %provider, account = %account))]
async fn take_account(
    State(engine): State<Arc<Engine>>,
    Path((provider, account, given)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let not_found = |message: &str| {
        answer(
            StatusCode::NOT_FOUND,
            json!({"error": {"code": "not_found", "message": message}}),
        )
    };
    let Some(cb) = &engine.settings.callbacks else {
        return not_found("callbacks are off (no server.public_url)");
    };
    let acct = engine
        .accounts
        .get(&account)
        .filter(|a| a.provider == provider);
    let specs = engine
        .providers
        .get(&provider)
        .map(|p| p.info().account_callbacks.clone())
        .filter(|s| !s.is_empty());
    let (Some(acct), Some(specs)) = (acct, specs) else {
        tracing::warn!(%provider, %account, "account callback for no such account or provider: ignored");
        return not_found("no such account callback");
    };
    if !cb.verify_account(&provider, &account, &given) {
        let n = refused(&engine, &format!("account:{account}"));
        if worth_logging(n) {
            tracing::warn!(%provider, %account, refused = n, "account callback with a wrong token: ignored");
        }
        return answer(
            StatusCode::FORBIDDEN,
            json!({"error": {"code": "forbidden", "message": "wrong callback token"}}),
        );
    }
    let content_type = content_type(&headers);
    let bad = |message: String| {
        answer(
            StatusCode::BAD_REQUEST,
            json!({"error": {"code": "invalid_request", "message": message}}),
        )
    };
    let Some(post) = body_json(&content_type, &body) else {
        return bad("the post is neither a JSON object nor a form".into());
    };
    // The order the post names, by the field of each kind the provider
    // posts about.
    let named: Vec<(payops_core::OperationKind, String)> = specs
        .iter()
        .filter_map(|spec| match &post[&spec.order_field] {
            Value::String(s) if !s.trim().is_empty() => Some((spec.operation, s.trim().to_owned())),
            Value::Number(n) => Some((spec.operation, n.to_string())),
            _ => None,
        })
        .collect();
    let Some((_, order)) = named.first().cloned() else {
        let fields: Vec<&str> = specs.iter().map(|s| s.order_field.as_str()).collect();
        return bad(format!("the post names no order ({})", fields.join(", ")));
    };
    // Its unresolved operations of those kinds (a return as the operation
    // it became).
    let ops = match engine.store.on_order(&account, &order).await {
        Ok(ops) => ops,
        Err(e) => return store_unavailable(e),
    };
    let ids: Vec<String> = ops
        .into_iter()
        .filter(|op| {
            matches!(
                op.state,
                payops_store::State::Unknown | payops_store::State::Pending
            )
        })
        .filter(|op| {
            crate::ledger::as_became(op)
                .is_some_and(|(kind, ..)| named.iter().any(|(k, o)| *k == kind && *o == order))
        })
        .map(|op| op.id)
        .collect();
    let kinds: Vec<&str> = named.iter().map(|(k, _)| k.as_str()).collect();
    let text = posted_text(&engine, &acct.name, &body);
    if ids.is_empty() {
        tracing::info!(%provider, %account, %order, "account callback: no unresolved operation of the order");
        return answer(
            StatusCode::OK,
            json!({"accepted": false, "reason": format!("no unresolved {} of order {order}", kinds.join(" or "))}),
        );
    }
    for id in &ids {
        let _ = engine
            .store
            .record_event(
                id,
                "callback",
                &format!("provider callback to the account's URL ({content_type}): {text}"),
            )
            .await;
    }
    // One after another: the first to claim what the post shows keeps it.
    let e = engine.clone();
    let settling = ids.clone();
    engine.tasks.spawn(async move {
        for id in settling {
            match crate::reconcile::one_by_id(&e, &id, Some(&post)).await {
                Ok(r) => {
                    tracing::info!(operation_id = %id, to = ?r.to, how = %r.how, "reconciled after an account callback")
                }
                Err(err) => {
                    tracing::warn!(operation_id = %id, error = %err, "reconciliation after an account callback failed")
                }
            }
        }
    });
    tracing::info!(%provider, %account, %order, operations = ids.len(), "account callback recorded; reconciling");
    answer(
        StatusCode::ACCEPTED,
        json!({"accepted": true, "operations": ids}),
    )
}
