//! iyzico's wire: the IYZWSv2 authorization header, request bodies, prices.

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde::Serialize;
use serde_json::value::RawValue;

use payops_core::{Call, Error, HttpRequest};

use crate::documents::{Account, DEFAULT_TIMEOUT_MS};

/// The hex HMAC-SHA256 of `random_key + uri_path + body` under `secret_key`
/// (iyzico's "HMACSHA256 Auth" page: the signature).
pub fn signature(secret_key: &str, random_key: &str, uri_path: &str, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret_key.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(random_key.as_bytes());
    mac.update(uri_path.as_bytes());
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `IYZWSv2 base64("apiKey:{apiKey}&randomKey:{randomKey}&signature:{signature}")`.
pub fn authorization(
    api_key: &str,
    secret_key: &str,
    random_key: &str,
    uri_path: &str,
    body: &str,
) -> String {
    let sig = signature(secret_key, random_key, uri_path, body);
    let plain = format!("apiKey:{api_key}&randomKey:{random_key}&signature:{sig}");
    format!(
        "IYZWSv2 {}",
        base64::engine::general_purpose::STANDARD.encode(plain)
    )
}

/// The parts of an IYZWSv2 header: api key, random key, signature.
pub fn parse_authorization(header: &str) -> Option<(String, String, String)> {
    let b64 = header.strip_prefix("IYZWSv2 ")?;
    let plain = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let plain = String::from_utf8(plain).ok()?;
    let rest = plain.strip_prefix("apiKey:")?;
    let (api, rest) = rest.split_once("&randomKey:")?;
    let (rnd, sig) = rest.split_once("&signature:")?;
    Some((api.to_owned(), rnd.to_owned(), sig.to_owned()))
}

/// A price in iyzico's decimal form (`12.5` for 1250 minor units of a
/// two-decimal currency), as an exact JSON number: never through a float.
pub fn price(minor: i64, exponent: u32) -> Box<RawValue> {
    let text = payops_core::money::format_minor(minor, exponent, '.');
    RawValue::from_string(text).expect("a formatted decimal is a JSON number")
}

/// `POST /payment/refund`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundBody<'a> {
    /// Wire `locale` (`tr`).
    pub locale: &'a str,
    /// Wire `conversationId`: the payops operation id, echoed back.
    pub conversation_id: &'a str,
    /// Wire `paymentTransactionId`.
    pub payment_transaction_id: &'a str,
    /// Wire `price`, an exact decimal.
    pub price: Box<RawValue>,
    /// Wire `currency`.
    pub currency: &'a str,
    /// Wire `ip`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<&'a str>,
}

/// `POST /payment/cancel`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelBody<'a> {
    /// Wire `locale` (`tr`).
    pub locale: &'a str,
    /// Wire `conversationId`: the payops operation id, echoed back.
    pub conversation_id: &'a str,
    /// Wire `paymentId`.
    pub payment_id: &'a str,
    /// Wire `ip`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<&'a str>,
}

/// `POST /payment/detail`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailBody<'a> {
    /// Wire `locale` (`tr`).
    pub locale: &'a str,
    /// Wire `conversationId`: the payops operation id, echoed back.
    pub conversation_id: &'a str,
    /// Wire `paymentId`.
    pub payment_id: &'a str,
}

/// The language of iyzico's messages payops asks for.
pub const LOCALE: &str = "tr";

/// A signed JSON POST of `body` to `path` of the account's API. The host's
/// nonce is the random key (the host owns randomness).
pub fn post<T: Serialize>(
    a: &Account,
    call: &Call,
    path: &str,
    body: &T,
) -> Result<HttpRequest, Error> {
    let base = a.base()?;
    let body = serde_json::to_string(body).map_err(|e| Error::invalid_field("", e.to_string()))?;
    let auth = authorization(&a.api_key, a.secret_key.expose(), &call.nonce, path, &body);
    let mut http = HttpRequest::post(format!("{base}{path}"), "application/json", body)
        .with_header("Authorization", auth)
        .with_header("x-iyzi-rnd", &call.nonce)
        .with_header("Accept", "application/json");
    http.timeout_ms = Some(a.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS));
    payops_core::tracing::debug!(operation = %call.operation, path, "iyzico request");
    Ok(http)
}
