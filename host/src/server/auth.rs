//! The authenticated caller, as an extractor: a handler that takes a
//! [`Caller`] cannot run for a request without a known bearer token, and
//! every route of the API's bearer table also carries it as a route layer
//! (see [`super::route_table`]), so a new route there that forgets the
//! extractor is still closed.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use payops_core::Error;

use super::{ApiError, AppState};
use crate::config::TokenConfig;

/// The caller a request's `Authorization: Bearer` token names.
#[derive(Debug, Clone)]
pub struct Caller(pub TokenConfig);

impl std::ops::Deref for Caller {
    type Target = TokenConfig;
    fn deref(&self) -> &TokenConfig {
        &self.0
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        // Authenticated once per request: the route layer's answer is kept
        // for the handler's extractor.
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::from(Error::Unauthorized("missing bearer token".into())))?;
        let hash = crate::signing::sha256_hex(token);
        let caller = state
            .tokens
            .iter()
            .find(|t| t.token_sha256.eq_ignore_ascii_case(&hash))
            .map(|t| Caller(t.clone()))
            .ok_or_else(|| ApiError::from(Error::Unauthorized("unknown bearer token".into())))?;
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}
