//! Acme Pay on the wire: its endpoints, the typed request bodies, and how
//! a request is built (bearer auth, the operation id as `Idempotency-Key`).
//! What an answer means is in [`crate::outcome`].

use payops_core::http::path_segment;
use payops_core::{Call, Currency, Error, HttpRequest};
use serde::Serialize;

use crate::documents::{Account, DEFAULT_TIMEOUT_MS};

/// `POST /v1/payments/{id}/refunds`.
#[derive(Debug, Serialize)]
pub struct RefundBody<'a> {
    /// The amount in minor units.
    pub amount: i64,
    /// The ISO 4217 code.
    pub currency: &'a str,
}

impl RefundBody<'_> {
    /// A refund of `amount` in `currency`.
    pub fn new(amount: i64, currency: &Currency) -> RefundBody<'_> {
        RefundBody {
            amount,
            currency: currency.code(),
        }
    }
}

/// `POST /v1/payments/{id}/cancel` takes an empty object.
#[derive(Debug, Serialize)]
pub struct CancelBody {}

fn url(a: &Account, payment: &str, tail: &str) -> String {
    format!(
        "{}/v1/payments/{}{tail}",
        a.base_url.trim_end_matches('/'),
        path_segment(payment)
    )
}

fn authorized(a: &Account, mut http: HttpRequest) -> HttpRequest {
    http = http.with_header("Authorization", format!("Bearer {}", a.api_key.expose()));
    http.timeout_ms = Some(a.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS));
    http
}

/// A POST that moves money: always with the operation id as the
/// `Idempotency-Key`, so a repeat is harmless.
pub fn post<T: Serialize>(
    a: &Account,
    call: &Call,
    payment: &str,
    tail: &str,
    body: &T,
) -> Result<HttpRequest, Error> {
    let body =
        payops_core::serde_json::to_string(body).map_err(|e| Error::Internal(e.to_string()))?;
    let http = HttpRequest::post(url(a, payment, tail), "application/json", body)
        .with_header("Idempotency-Key", &call.operation_id);
    payops_core::tracing::debug!(operation = %call.operation, "Acme Pay request");
    Ok(authorized(a, http))
}

/// `GET /v1/payments/{id}`.
pub fn get_payment(a: &Account, payment: &str) -> HttpRequest {
    authorized(a, HttpRequest::get(url(a, payment, "")))
}
