//! Provider callbacks in: the URLs payops gives providers that post their
//! results later (a provider declares which operations, in its info), and
//! the endpoint that takes those posts.
//!
//! A callback URL is `{server.public_url}/v1/callbacks/{provider}/{operation_id}/{token}`,
//! where `token` is the hex HMAC-SHA256 of `{provider}/{operation_id}`
//! under the callback secret: unguessable, bound to one operation. A
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
use hmac::{KeyInit, Mac};
use payops_core::OperationKind;
use serde_json::{Value, json};

use crate::engine::Engine;

/// Largest callback body taken.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The daemon's callback URLs and the secrets that sign them (the current
/// first; a previous one is accepted during a rotation).
#[derive(Clone)]
pub struct Callbacks {
    /// How providers reach the callback listener (`server.public_url`).
    pub public_url: String,
    /// Signing secrets, current first.
    pub secrets: Vec<String>,
}

impl std::fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callbacks")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

fn token(secret: &str, provider: &str, operation_id: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(format!("{provider}/{operation_id}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Callbacks {
    /// The callback URL of one operation.
    pub fn url(&self, provider: &str, operation_id: &str) -> String {
        format!(
            "{}/v1/callbacks/{provider}/{operation_id}/{}",
            self.public_url.trim_end_matches('/'),
            token(&self.secrets[0], provider, operation_id)
        )
    }

    /// Is `given` the token of this operation under any secret?
    pub fn verify(&self, provider: &str, operation_id: &str, given: &str) -> bool {
        self.secrets.iter().any(|s| {
            let want = token(s, provider, operation_id);
            // Constant time over the hex text.
            want.len() == given.len()
                && want
                    .bytes()
                    .zip(given.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
    }
}

/// The document the provider gets: the caller's, with the daemon's
/// callback URL in the provider's callback field when the provider posts a
/// result for this operation, the caller gave no URL of its own, and the
/// daemon has a public URL. Otherwise the caller's document unchanged (a
/// provider that needs a URL then refuses the request, naming the field).
pub fn with_callback_url(
    engine: &Engine,
    provider: &str,
    op: OperationKind,
    operation_id: &str,
    mut document: Value,
) -> Value {
    let (Some(cb), Some(p)) = (&engine.callbacks, engine.providers.get(provider)) else {
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
        && engine.callback_applies(provider, op, &document)
        && let Some(m) = document.as_object_mut()
    {
        m.insert(
            spec.field.clone(),
            Value::String(cb.url(provider, operation_id)),
        );
    }
    document
}

/// `POST /v1/callbacks/{provider}/{operation_id}/{token}`.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route(
            "/v1/callbacks/{provider}/{operation_id}/{token}",
            post(take),
        )
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(engine)
}

fn answer(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

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
    let Some(cb) = &engine.callbacks else {
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
                json!({"error": {"code": "unavailable", "message": format!("operation store: {e}")}}),
            );
        }
    };
    // What the provider posted, as text, without the account's credentials.
    let mut text: String = String::from_utf8_lossy(&body).chars().take(4000).collect();
    if let Some(acct) = engine.accounts.get(&op.account) {
        payops_core::outcome::scrub_string(&mut text, &acct.config.secret_values());
    }
    if !cb.verify(&provider, &operation_id, &given) {
        tracing::warn!(%provider, %operation_id, "callback with a wrong token: ignored");
        let _ = engine
            .store
            .record_event(
                &operation_id,
                "callback_refused",
                &format!("a callback with a wrong token was ignored ({content_type}): {text}"),
            )
            .await;
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
    tokio::spawn(async move {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_bound_to_one_operation_and_rotation_keeps_old_ones_valid() {
        let old = Callbacks {
            public_url: "https://payops.example/".into(),
            secrets: vec!["old-secret-0123456789".into()],
        };
        let url = old.url("esnekpos", "op_1");
        assert!(
            url.starts_with("https://payops.example/v1/callbacks/esnekpos/op_1/"),
            "{url}"
        );
        let tok = url.rsplit('/').next().unwrap().to_owned();
        assert_eq!(tok.len(), 64);
        assert!(old.verify("esnekpos", "op_1", &tok));
        assert!(
            !old.verify("esnekpos", "op_2", &tok),
            "bound to its operation"
        );
        assert!(!old.verify("turkpos", "op_1", &tok), "and to its provider");
        // Rotated: new URLs use the new secret; the old ones still verify.
        let rotated = Callbacks {
            public_url: old.public_url.clone(),
            secrets: vec![
                "new-secret-0123456789".into(),
                "old-secret-0123456789".into(),
            ],
        };
        assert!(rotated.verify("esnekpos", "op_1", &tok));
        assert_ne!(rotated.url("esnekpos", "op_1"), url);
        let after = Callbacks {
            public_url: old.public_url.clone(),
            secrets: vec!["new-secret-0123456789".into()],
        };
        assert!(
            !after.verify("esnekpos", "op_1", &tok),
            "once the old secret is removed"
        );
        // The token is HMAC-SHA256("{provider}/{operation_id}") in hex:
        // printf 'esnekpos/op_1' | openssl dgst -sha256 -hmac old-secret-0123456789
        assert_eq!(
            tok,
            "cd616a47922b70daf8e18b3f33c4f69c7c92da2e67f4f8fcfbf298ab3799de62"
        );
    }
}
