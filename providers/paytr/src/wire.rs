//! PayTR on the wire: the services' URLs, the `paytr_token` (base64 of
//! HMAC-SHA256 under `merchant_key` of the fields and `merchant_salt`, in
//! the order PayTR's samples concatenate them), form bodies (the kit's),
//! amounts, and the refund reference payops sends.

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use payops_core::HttpRequest;
use payops_core::kit::{form, wire};

use crate::documents::{Account, DEFAULT_TIMEOUT_MS, RefundDoc};

/// PayTR's API root.
pub const DEFAULT_BASE_URL: &str = "https://www.paytr.com";
/// The refund service.
pub const REFUND_PATH: &str = "/odeme/iade";
/// The status query service.
pub const STATUS_PATH: &str = "/odeme/durum-sorgu";

/// `base64(HMAC-SHA256(merchant_key, parts… + merchant_salt))`.
pub fn token(key: &str, salt: &str, parts: &[&str]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes())
        .expect("HMAC takes a key of any length");
    for p in parts.iter().chain([&salt]) {
        mac.update(p.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The `reference_no` payops sends with a refund: its operation id with
/// what is not alphanumeric left out (PayTR takes up to 64 alphanumerics).
pub fn reference(operation_id: &str) -> String {
    wire::reference(operation_id, "", 64)
}

fn post(a: &Account, path: &str, pairs: &[(&str, &str)]) -> HttpRequest {
    let url = wire::url(a.base_url.as_deref(), DEFAULT_BASE_URL, path);
    wire::timed(
        form::post(url, pairs.iter().copied()),
        a.timeout_ms,
        DEFAULT_TIMEOUT_MS,
    )
}

/// The refund `d`, its `reference_no` being `reference` ([`reference`]).
pub fn refund(a: &Account, d: &RefundDoc, reference: &str) -> HttpRequest {
    // `return_amount`: a decimal with a point (`11.97`).
    let (order, amount) = (
        d.order_ref.as_str(),
        &wire::point_amount(d.amount, d.currency),
    );
    let (key, salt) = (a.merchant_key.expose(), a.merchant_salt.expose());
    let t = token(key, salt, &[&a.merchant_id, order, amount]);
    let pairs = [
        ("merchant_id", a.merchant_id.as_str()),
        ("merchant_oid", order),
        ("return_amount", amount),
        ("paytr_token", &t),
        ("reference_no", reference),
    ];
    post(a, REFUND_PATH, &pairs)
}

/// The status query of `order`.
pub fn status(a: &Account, order: &str) -> HttpRequest {
    let t = token(
        a.merchant_key.expose(),
        a.merchant_salt.expose(),
        &[&a.merchant_id, order],
    );
    post(
        a,
        STATUS_PATH,
        &[
            ("merchant_id", a.merchant_id.as_str()),
            ("merchant_oid", order),
            ("paytr_token", &t),
        ],
    )
}
