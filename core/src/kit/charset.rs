//! Answers in the character sets Turkish banks still use. NestPay (EST)
//! answers declare `encoding="ISO-8859-9"` and some bank gateways send
//! windows-1254 without saying so in the `Content-Type`; reading those
//! bytes as UTF-8 turns `İ`, `ş`, `ğ`, `ı` into replacement characters.
//!
//! [`decode`] picks the charset from the `Content-Type` header's
//! `charset`, else from an XML declaration's `encoding`, else UTF-8, and
//! decodes with `encoding_rs`. ISO-8859-9 is read as windows-1254, its
//! superset, as browsers do (the WHATWG Encoding Standard maps the label
//! so); the two differ only in 0x80–0x9F, control codes in ISO-8859-9.

use std::borrow::Cow;

use encoding_rs::Encoding;

/// The text of `body`, decoded by the charset `content_type` names, or
/// the one an XML declaration at the start of `body` names, or UTF-8.
/// Malformed sequences become U+FFFD (reported by [`decode_strict`]).
///
/// ```
/// use payops_core::kit::charset::decode;
/// let body = b"<?xml version=\"1.0\" encoding=\"ISO-8859-9\"?><a>\xDDade</a>";
/// assert_eq!(decode(body, Some("text/xml")), "<?xml version=\"1.0\" encoding=\"ISO-8859-9\"?><a>İade</a>");
/// ```
pub fn decode<'a>(body: &'a [u8], content_type: Option<&str>) -> Cow<'a, str> {
    let (text, _) = decode_strict(body, content_type);
    text
}

/// [`decode`], and whether a byte sequence was not valid in the charset.
pub fn decode_strict<'a>(body: &'a [u8], content_type: Option<&str>) -> (Cow<'a, str>, bool) {
    let encoding = content_type
        .and_then(charset_param)
        .or_else(|| xml_declared(body))
        .and_then(|label| Encoding::for_label(label.trim().as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    // A byte-order mark, when present, wins (as the Encoding Standard says).
    let (text, _, malformed) = encoding.decode(body);
    (text, malformed)
}

/// The `charset` parameter of a `Content-Type` value.
pub fn charset_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"'))
    })
}

/// The `encoding` of an XML declaration at the very start of `body`.
fn xml_declared(body: &[u8]) -> Option<&str> {
    let head = body.strip_prefix(b"<?xml")?;
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?;
    let rest = rest.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    value.find(quote).map(|e| &value[..e])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NestPay `CC5Response` as published (Payten's guide, and the answers
    /// public client libraries keep as fixtures), with its `ISO-8859-9`
    /// declaration and the issuer `ZİRAAT BANKASI` in that charset: `İ` is
    /// the byte 0xDD. (The published text writes `İ` as `&#x130;`; the
    /// raw byte is what an ISO-8859-9 answer carries: inferred from the
    /// declared charset, not copied from a capture.)
    const NESTPAY: &[u8] = b"<?xml version=\"1.0\" encoding=\"ISO-8859-9\"?>\n<CC5Response>\n  <OrderId>20230910AF6A</OrderId>\n  <GroupId>20230910AF6A</GroupId>\n  <Response>Approved</Response>\n  <AuthCode>P18552</AuthCode>\n  <HostRefNum>325300733333</HostRefNum>\n  <ProcReturnCode>00</ProcReturnCode>\n  <TransId>23253WkfD10806</TransId>\n  <ErrMsg></ErrMsg>\n  <Extra>\n    <CARDISSUER>Z\xDDRAAT BANKASI</CARDISSUER>\n    <NUMCODE>00</NUMCODE>\n  </Extra>\n</CC5Response>";

    #[test]
    fn nestpay_answers_decode_by_their_declaration() {
        let text = decode(NESTPAY, Some("text/xml"));
        let root = crate::kit::xml::parse(&text).unwrap();
        assert_eq!(
            root.child("Extra").and_then(|e| e.child_text("CARDISSUER")),
            Some("ZİRAAT BANKASI")
        );
        // Read as UTF-8 the byte is lost.
        assert!(String::from_utf8_lossy(NESTPAY).contains('\u{FFFD}'));
    }

    #[test]
    fn the_header_wins_over_the_declaration() {
        // windows-1254: ş 0xFE, ğ 0xF0, ı 0xFD, İ 0xDD, Ş 0xDE.
        let body = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><m>\xDDade i\xFElemi ba\xFEar\xFDs\xFDz, de\xF0er</m>";
        let (text, malformed) = decode_strict(body, Some("text/xml; charset=windows-1254"));
        assert_eq!(
            text,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><m>İade işlemi başarısız, değer</m>"
        );
        assert!(!malformed);
        let (_, malformed) = decode_strict(body, Some("text/xml; charset=\"UTF-8\""));
        assert!(malformed, "the same bytes are not UTF-8");
        assert_eq!(decode("düz".as_bytes(), None), "düz");
        assert_eq!(
            charset_param("text/html;Charset=ISO-8859-9"),
            Some("ISO-8859-9")
        );
        assert_eq!(charset_param("text/html"), None);
        // An unknown label falls back to UTF-8.
        assert_eq!(
            decode("ş".as_bytes(), Some("text/plain; charset=x-nope")),
            "ş"
        );
    }
}
