//! `application/x-www-form-urlencoded` bodies: what PayTR's refund and
//! status services take, and what bank gateways post back. Pairs are
//! written in order with the WHATWG encoding (space as `+`, UTF-8
//! percent-encoding), through the `form_urlencoded` crate.

use crate::http::HttpRequest;

/// The content type of a form body.
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Encodes `pairs` in order.
///
/// ```
/// use payops_core::kit::form::encode;
/// assert_eq!(encode([("merchant_oid", "A 1"), ("amount", "10.50")]), "merchant_oid=A+1&amount=10.50");
/// ```
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Decodes a form body into its pairs, in order.
pub fn decode(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The first value of `name` in a form body.
pub fn value(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A POST of `pairs` as a form body to `url`.
pub fn post<'a>(
    url: impl Into<String>,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> HttpRequest {
    HttpRequest::post(url, CONTENT_TYPE, encode(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PayTR's refund service ("İade") takes `merchant_id`, `merchant_oid`,
    /// `return_amount`, `paytr_token` (and optionally `reference_no`) as a
    /// form POST, the amount in lira with a dot (PayTR's refund page). The
    /// values here are made up; the field names and shapes are PayTR's.
    #[test]
    fn paytr_refund_form_round_trips() {
        let pairs = [
            ("merchant_id", "123456"),
            ("merchant_oid", "SIP-2024 0001"),
            ("return_amount", "11.97"),
            ("paytr_token", "bXlUb2tlbj0/Kw=="),
        ];
        let body = encode(pairs);
        assert_eq!(
            body,
            "merchant_id=123456&merchant_oid=SIP-2024+0001&return_amount=11.97&paytr_token=bXlUb2tlbj0%2FKw%3D%3D"
        );
        let back = decode(body.as_bytes());
        assert_eq!(
            back,
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            value(body.as_bytes(), "return_amount").as_deref(),
            Some("11.97")
        );
        let r = post("https://www.paytr.com/odeme/iade", pairs);
        assert_eq!(r.header("Content-Type"), Some(CONTENT_TYPE));
        assert_eq!(r.body, body.as_bytes());
    }

    #[test]
    fn turkish_text_is_utf8_percent_encoded() {
        assert_eq!(encode([("ad", "İade ş")]), "ad=%C4%B0ade+%C5%9F");
        assert_eq!(
            decode(b"ad=%C4%B0ade+%C5%9F&bos="),
            vec![
                ("ad".into(), "İade ş".into()),
                ("bos".into(), String::new())
            ]
        );
    }
}
