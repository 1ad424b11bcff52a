//! People on the API: sign-in (local users, OpenID Connect), sign-out, the
//! caller's own view (`GET /v1/me`), and the admin's list of people with
//! disable/enable.
//!
//! The session is a cookie (`payops_session`: HttpOnly, SameSite=Lax,
//! Secure unless `auth.cookie_secure = false`) holding 32 random bytes; the
//! store keeps only its SHA-256. Its CSRF token is derived from it and
//! given by `GET /v1/me`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use payops_core::Error;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Caller, SESSION_COOKIE, Who};
use super::state::{ApiError, AppState};
use crate::people::{Grant, Role};

/// The cookie that binds an OpenID sign-in to the browser that began it.
const OIDC_STATE_COOKIE: &str = "payops_oidc_state";
/// How long an OpenID sign-in may take.
const OIDC_LOGIN_FOR: Duration = Duration::from_secs(600);
/// What every failed local sign-in says.
const WRONG: &str = "wrong user name or password";

/// `GET /v1/auth/methods`: how one may sign in here, and whether the
/// request's session cookie (which the page cannot read) is a live session.
pub(crate) async fn methods(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut parts = axum::http::Request::new(()).into_parts().0;
    parts.headers = headers;
    let signed_in = match super::auth::cookie(&parts, SESSION_COOKIE) {
        Some(c) => state
            .engine
            .store
            .live_session(&crate::signing::sha256_hex(&c))
            .await?
            .is_some(),
        None => false,
    };
    Ok(Json(json!({
        "local": state.people.local,
        "oidc": state.people.oidc.as_ref().map(|o| json!({"label": o.settings().label})),
        "signed_in": signed_in,
    }))
    .into_response())
}

/// A local sign-in's body.
#[derive(Deserialize)]
pub(crate) struct SignIn {
    username: String,
    password: String,
}

/// Starts a session for `actor` with `grants`: the response's cookie.
async fn start_session(
    state: &AppState,
    actor: &str,
    grants: &[Grant],
) -> Result<HeaderValue, ApiError> {
    let secret = crate::people::random_secret();
    let ttl = i64::try_from(state.people.session_for.as_millis()).unwrap_or(i64::MAX / 4);
    state
        .engine
        .store
        .start_session(
            &crate::signing::sha256_hex(&secret),
            actor,
            &serde_json::to_string(grants).expect("grants serialize"),
            ttl,
        )
        .await?;
    Ok(state
        .people
        .cookie(SESSION_COOKIE, &secret, "/", state.people.session_for))
}

/// `POST /v1/auth/login`: a local user signs in.
pub(crate) async fn login(
    State(state): State<AppState>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    body: Result<Json<SignIn>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    if !state.people.local {
        return Err(
            Error::Forbidden("local sign-in is off here (auth.local = false)".into()).into(),
        );
    }
    let Json(body) = body.map_err(|e| {
        Error::invalid_field("", format!("give {{\"username\", \"password\"}}: {e}"))
    })?;
    let ip = peer.map(|axum::Extension(ConnectInfo(a))| a.ip());
    let name = body.username.trim().to_lowercase();
    if let Some(wait) = state.people.limiter.wait(&name, ip) {
        tracing::warn!(username = %name, "sign-in held: too many failures");
        let mut r = ApiError(
            Error::Forbidden(format!(
                "too many failed sign-ins: try again in {} minutes",
                wait.as_secs().div_ceil(60)
            )),
            Some(StatusCode::TOO_MANY_REQUESTS),
        )
        .into_response();
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(wait.as_secs().max(1)),
        );
        return Ok(r);
    }
    let actor = format!("user:{name}");
    let person = state.engine.store.person(&actor).await?;
    let usable = person.as_ref().filter(|p| p.kind == "local" && !p.disabled);
    let hash = usable.and_then(|p| p.password_hash.clone());
    let password = body.password;
    // The same work whoever it is: a name nobody has is checked against a
    // hash of the same cost.
    let ok = tokio::task::spawn_blocking(move || {
        crate::people::password::verify(&password, hash.as_deref())
    })
    .await
    .map_err(|e| Error::Internal(format!("the password check: {e}")))?;
    let (true, Some(p)) = (ok, usable) else {
        state.people.limiter.failed(&name, ip);
        tracing::info!(username = %name, "local sign-in refused");
        return Err(Error::Unauthorized(WRONG.into()).into());
    };
    state.people.limiter.succeeded(&name);
    let role: Role = p
        .role
        .as_deref()
        .unwrap_or("viewer")
        .parse()
        .map_err(Error::Internal)?;
    let grants = vec![Grant {
        role,
        accounts: p.accounts.clone(),
    }];
    let cookie = start_session(&state, &actor, &grants).await?;
    tracing::info!(%actor, %role, "signed in (local)");
    let mut r = Json(json!({"actor": actor, "display_name": p.display_name})).into_response();
    r.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(r)
}

/// `POST /v1/auth/logout`: ends the caller's session.
pub(crate) async fn logout(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    if let Who::Person { session_sha256, .. } = &caller.who {
        state.engine.store.end_session(session_sha256).await?;
        tracing::info!(actor = %caller.actor, "signed out");
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        state.people.cookie(SESSION_COOKIE, "", "/", Duration::ZERO),
    );
    Ok(r)
}

/// `GET /v1/me`: who the caller is and what it may do.
pub(crate) async fn me(caller: Caller) -> Response {
    let (kind, display_name, csrf) = match &caller.who {
        Who::Token(name) => ("token", name.clone(), None),
        Who::Person {
            display_name, csrf, ..
        } => ("person", display_name.clone(), Some(csrf.clone())),
    };
    Json(json!({
        "actor": caller.actor,
        "kind": kind,
        "display_name": display_name,
        "role": crate::people::highest(&caller.grants),
        "grants": caller.grants,
        "operations": caller.operations,
        "admin": caller.is_admin(),
        "csrf_token": csrf,
    }))
    .into_response()
}

/// `?return_to=` of the OpenID start.
#[derive(Deserialize)]
pub(crate) struct Start {
    return_to: Option<String>,
}

/// `GET /v1/auth/oidc/start`: sends the browser to the identity provider.
pub(crate) async fn oidc_start(
    State(state): State<AppState>,
    Query(q): Query<Start>,
) -> Result<Response, ApiError> {
    let oidc = state.people.oidc.as_ref().ok_or_else(|| {
        Error::NotFound("no OpenID Connect sign-in here ([auth.oidc] is not set)".into())
    })?;
    // Only a path of this console: never a redirect elsewhere.
    let return_to = q
        .return_to
        .filter(|r| r.starts_with("/ui") && !r.contains("//") && !r.contains('\\'))
        .unwrap_or_else(|| "/ui/".into());
    let (url, st, login) = oidc
        .begin(&return_to)
        .await
        .map_err(|e| Error::Unavailable(e.0))?;
    let ttl = i64::try_from(OIDC_LOGIN_FOR.as_millis()).unwrap_or(600_000);
    state
        .engine
        .store
        .put_pending_login(&crate::signing::sha256_hex(&st), &login, ttl)
        .await?;
    let mut r = Redirect::to(&url).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        state
            .people
            .cookie(OIDC_STATE_COOKIE, &st, "/v1/auth/oidc", OIDC_LOGIN_FOR),
    );
    Ok(r)
}

/// The provider's answer on the callback.
#[derive(Deserialize)]
pub(crate) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Back to the console's sign-in page with `message`.
fn to_signin(message: &str) -> Response {
    let q: String = url_encode(message);
    Redirect::to(&format!("/ui/?signin_error={q}")).into_response()
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /v1/auth/oidc/callback`: the identity provider sends the browser
/// back; the code is exchanged, the person recorded, the session started.
pub(crate) async fn oidc_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Result<Response, ApiError> {
    let Some(oidc) = state.people.oidc.as_ref() else {
        return Err(Error::NotFound(
            "no OpenID Connect sign-in here ([auth.oidc] is not set)".into(),
        )
        .into());
    };
    let clear = state
        .people
        .cookie(OIDC_STATE_COOKIE, "", "/v1/auth/oidc", Duration::ZERO);
    let finish = |mut r: Response| {
        r.headers_mut().append(header::SET_COOKIE, clear.clone());
        Ok(r)
    };
    if let Some(e) = q.error {
        let d = q.error_description.unwrap_or_default();
        tracing::info!(error = %e, description = %d, "the identity provider ended the sign-in");
        return finish(to_signin(&format!("the identity provider said {e}: {d}")));
    }
    let (Some(code), Some(st)) = (q.code, q.state) else {
        return finish(to_signin("the identity provider sent no code"));
    };
    // The state must be the one this browser was given (no sign-in of
    // someone else's session slipped in), and still under way.
    let mut parts = axum::http::Request::new(()).into_parts().0;
    parts.headers = headers;
    let bound = super::auth::cookie(&parts, OIDC_STATE_COOKIE);
    if !bound.is_some_and(|b| crate::signing::constant_time_eq(b.as_bytes(), st.as_bytes())) {
        return finish(to_signin(
            "this sign-in was not started in this browser: start it again",
        ));
    }
    let Some(login) = state
        .engine
        .store
        .take_pending_login(&crate::signing::sha256_hex(&st))
        .await?
    else {
        return finish(to_signin(
            "this sign-in has expired or was already used: start it again",
        ));
    };
    let id = match oidc.finish(&code, &login).await {
        Ok(id) => id,
        Err(e) => return finish(to_signin(&e.0)),
    };
    if id.grants.is_empty() {
        tracing::warn!(actor = %id.actor, groups = ?id.groups, "signed in, but no group maps to a role");
        return finish(to_signin(&format!(
            "{} signed in, but none of their groups ({}) is given a role here ([[auth.oidc.roles]])",
            id.display_name,
            id.groups.join(", ")
        )));
    }
    let person = state
        .engine
        .store
        .record_oidc_person(&id.actor, &id.display_name)
        .await?;
    if person.disabled {
        tracing::warn!(actor = %id.actor, "a disabled person tried to sign in");
        return finish(to_signin(&format!(
            "{} is disabled here: ask an admin",
            id.display_name
        )));
    }
    let cookie = start_session(&state, &id.actor, &id.grants).await?;
    tracing::info!(actor = %id.actor, role = ?crate::people::highest(&id.grants), "signed in (OpenID Connect)");
    let mut r = Redirect::to(&login.return_to).into_response();
    r.headers_mut().append(header::SET_COOKIE, cookie);
    finish(r)
}

/// `GET /v1/people`: everyone payops knows (an admin's).
pub(crate) async fn list_people(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    if !caller.is_admin() {
        return Err(caller.forbidden("list people (the admin role over every account)"));
    }
    let people: Vec<Value> = state
        .engine
        .store
        .people()
        .await?
        .into_iter()
        .map(|p| json!(p))
        .collect();
    Ok(Json(json!({"people": people})).into_response())
}

/// `POST /v1/people/{actor}/disable|enable` (an admin's).
pub(crate) async fn set_disabled(
    State(state): State<AppState>,
    caller: Caller,
    Path((actor, verb)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let disabled = match verb.as_str() {
        "disable" => true,
        "enable" => false,
        _ => return Err(Error::NotFound(format!("no action {verb:?} (disable, enable)")).into()),
    };
    if !caller.is_admin() {
        return Err(caller.forbidden(format!("{verb} people (the admin role over every account)")));
    }
    if disabled && actor == caller.actor {
        return Err(
            Error::Forbidden("you cannot disable yourself: another admin can".into()).into(),
        );
    }
    if !state.engine.store.set_disabled(&actor, disabled).await? {
        return Err(Error::NotFound(format!("no person {actor:?}")).into());
    }
    tracing::info!(%actor, by = %caller.actor, disabled, "a person's access changed");
    let p = state.engine.store.person(&actor).await?;
    Ok(Json(json!({"person": p})).into_response())
}
