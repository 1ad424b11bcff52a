//! What every provider's `wire` module writes the same way: the URL under
//! an account's `base_url` override, the request's timeout from the
//! account, amounts as decimals with a point, and payops's operation id
//! sent as the provider's own reference for a return.

use crate::{Currency, HttpRequest};

/// `path` under `base_url` (an account's override, e.g. a simulator on
/// loopback) or else under `default`, a trailing `/` of the base dropped.
///
/// ```
/// use payops_core::kit::wire::url;
/// assert_eq!(url(None, "https://x.example", "/a"), "https://x.example/a");
/// assert_eq!(url(Some("http://127.0.0.1:9/"), "https://x.example", "/a"), "http://127.0.0.1:9/a");
/// ```
pub fn url(base_url: Option<&str>, default: &str, path: &str) -> String {
    format!(
        "{}{path}",
        base_url.unwrap_or(default).trim_end_matches('/')
    )
}

/// `request` with the account's timeout (`timeout_ms`) or else `default_ms`.
pub fn timed(mut request: HttpRequest, timeout_ms: Option<u64>, default_ms: u64) -> HttpRequest {
    request.timeout_ms = Some(timeout_ms.unwrap_or(default_ms));
    request
}

/// `minor` units of `currency` as a decimal with a point and the
/// currency's decimals, as most Turkish APIs take an amount.
///
/// ```
/// use payops_core::{Currency, kit::wire::point_amount};
/// assert_eq!(point_amount(1050, Currency::TRY), "10.50");
/// assert_eq!(point_amount(7, Currency::from_code("JPY").unwrap()), "7");
/// ```
pub fn point_amount(minor: i64, currency: Currency) -> String {
    crate::money::format_minor(minor, currency.exponent(), '.')
}

/// The operation id as a provider's reference for a return (PayTR's
/// `reference_no`, Sipay's `refund_transaction_id`), so that a listed
/// return can be tied to the operation that made it: the id's ASCII
/// alphanumerics and the characters of `also`, at most `max`. payops's
/// operation ids are ASCII, well under 64 characters.
///
/// ```
/// use payops_core::kit::wire::reference;
/// assert_eq!(reference("op_01J-X.Y", "", 64), "op01JXY");
/// assert_eq!(reference("op_01J-X.Y", "-_", 64), "op_01J-XY");
/// ```
pub fn reference(operation_id: &str, also: &str, max: usize) -> String {
    operation_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || also.contains(*c))
        .take(max)
        .collect()
}
