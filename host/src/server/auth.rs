//! The authenticated caller, as an extractor: a handler that takes a
//! [`Caller`] cannot run for a request without a known bearer token or a
//! live console session, and every route of the API's authenticated table
//! also carries it as a route layer (see [`super::route_table`]), so a new
//! route there that forgets the extractor is still closed.
//!
//! A caller is a machine (a bearer token of `[[tokens]]`) or a person (the
//! session cookie of a local user or of someone the OpenID provider signed
//! in). Both hold [`Grant`]s, a role over accounts, and are checked by the
//! same rules. A person's request that changes something carries the
//! session's CSRF token in `X-CSRF-Token`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use payops_core::{Error, OperationKind};

use super::state::{ApiError, AppState};
use crate::config::{Limits, TokenConfig};
use crate::people::{Grant, Role};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "payops_session";

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A bearer token (its name).
    Token(String),
    /// A person with a console session.
    Person {
        /// Their display name.
        display_name: String,
        /// The session cookie's SHA-256 (to end it).
        session_sha256: String,
        /// The session's CSRF token.
        csrf: String,
    },
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// What records name: the token's name, `user:NAME`, or
    /// `oidc:ISSUER#SUBJECT`.
    pub actor: String,
    /// A token or a person.
    pub who: Who,
    /// Roles over accounts.
    pub grants: Vec<Grant>,
    /// Operation kinds it may run and read (`"*"`: all).
    pub operations: Vec<String>,
    /// A token's `resolve = true` (an operator token allowed to resolve,
    /// as before roles).
    pub resolve: bool,
    /// A token's `override_open = true`.
    pub override_open: bool,
    /// Amount limits.
    pub limits: Limits,
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.who {
            Who::Token(name) => write!(f, "token {name:?}"),
            Who::Person { .. } => write!(f, "{}", self.actor),
        }
    }
}

impl Caller {
    /// The caller of a bearer token.
    pub fn token(t: &TokenConfig) -> Caller {
        let role = t.role.unwrap_or_default();
        Caller {
            actor: t.name.clone(),
            who: Who::Token(t.name.clone()),
            grants: vec![Grant {
                role,
                accounts: t.accounts.clone(),
            }],
            operations: t.operations.clone(),
            resolve: t.resolve,
            override_open: t.override_open,
            limits: t.limits(),
        }
    }

    /// May it read `account` (its operations, orders, refusals)?
    pub fn may_read(&self, account: &str) -> bool {
        crate::people::allows(&self.grants, Role::Viewer, account)
    }

    /// May it run `op` on `account`?
    pub fn may_run(&self, account: &str, op: OperationKind) -> bool {
        crate::people::allows(&self.grants, Role::Operator, account) && self.allows_operation(op)
    }

    /// May it resolve an unresolved operation of `account`?
    pub fn may_resolve(&self, account: &str) -> bool {
        (self.resolve && crate::people::allows(&self.grants, Role::Operator, account))
            || crate::people::allows(&self.grants, Role::Approver, account)
    }

    /// May it go past the order guard on `account`?
    pub fn may_override(&self, account: &str) -> bool {
        (self.override_open && crate::people::allows(&self.grants, Role::Operator, account))
            || crate::people::allows(&self.grants, Role::Approver, account)
    }

    /// Who asks, as the approval rules see it, on `account`.
    pub fn asker(&self, account: &str) -> crate::config::Asker {
        crate::config::Asker {
            role: self
                .grants
                .iter()
                .filter(|g| g.covers(account))
                .map(|g| g.role)
                .max(),
            token: match &self.who {
                Who::Token(name) => Some(name.clone()),
                Who::Person { .. } => None,
            },
        }
    }

    /// May it decide approvals of `account` (the approver role on it)?
    pub fn may_approve(&self, account: &str) -> bool {
        crate::people::allows(&self.grants, Role::Approver, account)
    }

    /// May it manage people (an admin over every account)?
    pub fn is_admin(&self) -> bool {
        self.grants
            .iter()
            .any(|g| g.role == Role::Admin && g.covers_all())
    }

    /// Is an operation kind among those it may run and read?
    pub(crate) fn allows_operation(&self, op: OperationKind) -> bool {
        self.operations.iter().any(|o| o == "*" || o == op.as_str())
    }

    /// The accounts it may read as a store filter: `None` for all.
    pub(crate) fn account_scope(&self) -> Option<Vec<String>> {
        if self.grants.iter().any(Grant::covers_all) {
            return None;
        }
        let mut all: Vec<String> = self
            .grants
            .iter()
            .flat_map(|g| g.accounts.iter().cloned())
            .collect();
        all.sort();
        all.dedup();
        Some(all)
    }

    /// The operation kinds it may read as a store filter: `None` for all.
    pub(crate) fn operation_scope(&self) -> Option<Vec<String>> {
        (!self.operations.iter().any(|o| o == "*")).then(|| self.operations.clone())
    }

    /// A 403 saying what it may not do.
    pub(crate) fn forbidden(&self, what: impl std::fmt::Display) -> ApiError {
        Error::Forbidden(format!("{self} may not {what}")).into()
    }
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub(crate) fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        // Authenticated once per request: the route layer's answer is kept
        // for the handler's extractor.
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let caller = match (bearer, cookie(parts, SESSION_COOKIE)) {
            (Some(token), _) => {
                let hash = crate::signing::sha256_hex(token);
                state
                    .tokens
                    .iter()
                    .find(|t| t.token_sha256.eq_ignore_ascii_case(&hash))
                    .map(Caller::token)
                    .ok_or_else(|| {
                        ApiError::from(Error::Unauthorized("unknown bearer token".into()))
                    })?
            }
            (None, Some(session)) => {
                let caller = session_caller(state, &session).await?;
                let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
                if !safe {
                    let Who::Person { csrf, .. } = &caller.who else {
                        unreachable!("a session's caller is a person");
                    };
                    let given = parts
                        .headers
                        .get("x-csrf-token")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if !crate::signing::constant_time_eq(given.as_bytes(), csrf.as_bytes()) {
                        return Err(Error::Forbidden(
                            "a request that changes something needs the session's X-CSRF-Token header (from GET /v1/me)".into(),
                        )
                        .into());
                    }
                }
                caller
            }
            (None, None) => {
                return Err(Error::Unauthorized(
                    "sign in: a bearer token, or the console's session".into(),
                )
                .into());
            }
        };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// The caller of the session whose cookie is `session`.
pub(crate) async fn session_caller(state: &AppState, session: &str) -> Result<Caller, ApiError> {
    let sha = crate::signing::sha256_hex(session);
    let live = state
        .engine
        .store
        .live_session(&sha)
        .await?
        .ok_or_else(|| {
            ApiError::from(Error::Unauthorized(
                "the session has ended: sign in again".into(),
            ))
        })?;
    let grants: Vec<Grant> = serde_json::from_str(&live.grants)
        .map_err(|e| Error::Internal(format!("a session's roles: {e}")))?;
    Ok(Caller {
        actor: live.actor,
        who: Who::Person {
            display_name: live.display_name,
            session_sha256: sha,
            csrf: crate::people::csrf_of(session),
        },
        grants,
        operations: vec!["*".into()],
        resolve: false,
        override_open: false,
        limits: state.people.limits,
    })
}
