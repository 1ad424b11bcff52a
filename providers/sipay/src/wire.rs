//! Sipay on the wire: the services' URLs, the bearer token request, JSON
//! bodies, amounts, the refund's `refund_transaction_id`, and the
//! `hash_key` every refund and status check carries.
//!
//! The `hash_key`, as Sipay's pages define it (PHP's `openssl_encrypt`):
//! the fields joined with `|`, encrypted with AES-256-CBC (PKCS#7
//! padding) under the first 32 characters of
//! `sha256_hex(sha1_hex(app_secret) + salt)` with a 16-character IV, as
//! `iv:salt:base64(ciphertext)` with every `/` written `__`. Sipay's
//! samples draw the IV and the 4-character salt from `sha1(mt_rand())`;
//! payops draws them from the host's fresh nonce of the execution
//! (providers own no randomness).

use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use base64::Engine as _;
use payops_core::HttpRequest;
use payops_core::kit::wire;
use serde_json::{Value, json};
use sha1::Digest;

use crate::documents::{Account, DEFAULT_TIMEOUT_MS, RefundDoc};

/// Sipay's API root.
pub const DEFAULT_BASE_URL: &str = "https://app.sipay.com.tr";
/// The token service.
pub const TOKEN_PATH: &str = "/ccpayment/api/token";
/// The refund service.
pub const REFUND_PATH: &str = "/ccpayment/api/refund";
/// The status check service.
pub const STATUS_PATH: &str = "/ccpayment/api/checkstatus";

fn key(app_secret: &str, salt: &str) -> [u8; 32] {
    let password = hex::encode(sha1::Sha1::digest(app_secret.as_bytes()));
    let k = hex::encode(sha2::Sha256::digest(format!("{password}{salt}").as_bytes()));
    k.as_bytes()[..32].try_into().expect("64 hex digits")
}

/// The `hash_key` of `parts` under `app_secret`, with the IV and salt
/// drawn from `seed` (any text; `seed`'s SHA-1 gives 16 + 4 hex digits).
pub fn hash_key(parts: &[&str], app_secret: &str, seed: &str) -> String {
    let s = hex::encode(sha1::Sha1::digest(seed.as_bytes()));
    let (iv, salt) = (&s[..16], &s[16..20]);
    let iv_bytes: [u8; 16] = iv.as_bytes().try_into().expect("16 hex digits");
    let enc = cbc::Encryptor::<aes::Aes256>::new(&key(app_secret, salt).into(), &iv_bytes.into())
        .encrypt_padded_vec::<Pkcs7>(parts.join("|").as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(enc);
    format!("{iv}:{salt}:{b64}").replace('/', "__")
}

/// What a `hash_key` holds (the fields joined with `|`), or `None` when it
/// does not open under `app_secret`.
pub fn open_hash_key(hash_key: &str, app_secret: &str) -> Option<String> {
    let h = hash_key.replace("__", "/");
    let mut it = h.splitn(3, ':');
    let (iv, salt, b64) = (it.next()?, it.next()?, it.next()?);
    let iv: [u8; 16] = iv.as_bytes().try_into().ok()?;
    let data = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let plain = cbc::Decryptor::<aes::Aes256>::new(&key(app_secret, salt).into(), &iv.into())
        .decrypt_padded_vec::<Pkcs7>(&data)
        .ok()?;
    String::from_utf8(plain).ok()
}

/// The `refund_transaction_id` payops sends: its operation id, with what
/// is not alphanumeric, `-` or `_` left out (inferred: Sipay documents no
/// alphabet; it requires the id to be unique).
pub fn reference(operation_id: &str) -> String {
    wire::reference(operation_id, "-_", 64)
}

fn post(a: &Account, path: &str, body: &Value, bearer: Option<&str>) -> HttpRequest {
    let url = wire::url(a.base_url.as_deref(), DEFAULT_BASE_URL, path);
    let mut r = HttpRequest::post(url, "application/json", body.to_string())
        .with_header("Accept", "application/json");
    if let Some(t) = bearer {
        r = r.with_header("Authorization", format!("Bearer {t}"));
    }
    wire::timed(r, a.timeout_ms, DEFAULT_TIMEOUT_MS)
}

/// The token request (safe: it changes nothing at Sipay).
pub fn token(a: &Account) -> HttpRequest {
    let body = json!({"app_id": a.app_id, "app_secret": a.app_secret.expose()});
    post(a, TOKEN_PATH, &body, None).safe()
}

/// The refund `d`, its `refund_transaction_id` being `id` ([`reference`]).
pub fn refund(a: &Account, bearer: &str, d: &RefundDoc, id: &str, seed: &str) -> HttpRequest {
    // `amount`: a decimal with a point and the currency's decimals (`10.50`).
    let (amount, invoice) = (
        &wire::point_amount(d.amount, d.currency),
        d.order_ref.as_str(),
    );
    let (secret, key) = (a.app_secret.expose(), a.merchant_key.expose());
    let mut body = json!({
        "invoice_id": invoice,
        "amount": amount,
        "app_id": a.app_id,
        "app_secret": secret,
        "merchant_key": key,
        "hash_key": hash_key(&[amount, invoice, key], secret, seed),
        "refund_transaction_id": id,
    });
    if let Some(k) = &a.refund_web_hook_key {
        body["refund_web_hook_key"] = json!(k);
    }
    post(a, REFUND_PATH, &body, Some(bearer))
}

/// The status check of `invoice`, pending states included.
pub fn status(a: &Account, bearer: &str, invoice: &str, seed: &str) -> HttpRequest {
    let key = a.merchant_key.expose();
    let body = json!({
        "merchant_key": key,
        "invoice_id": invoice,
        "include_pending_status": true,
        "hash_key": hash_key(&[invoice, key], a.app_secret.expose(), seed),
    });
    post(a, STATUS_PATH, &body, Some(bearer)).safe()
}
