//! TurkPos (Param) on the wire: the SOAP methods payops calls, their
//! envelopes (fields in the order of Param's samples), the `G` credentials
//! object, amounts as TurkPos writes them and its dates. What an answer
//! means is in [`crate::outcome`]; the XML itself is the kit's
//! ([`payops_core::kit::xml`]).

use chrono::{DateTime, FixedOffset};
use payops_core::HttpRequest;
use payops_core::kit::xml::{Field, soap_envelope};
use payops_core::money::{DecimalStyle, format_minor, parse_minor};

use crate::documents::{Account, DEFAULT_TIMEOUT_MS, ReturnDoc};

/// The wire fields that carry credentials.
pub const CREDENTIAL_FIELDS: &[&str] = &["CLIENT_PASSWORD", "GUID"];
/// TurkPos's service namespace.
pub const TURKPOS_NS: &str = "https://turkpos.com.tr/";
/// The marketplace cancel/refund method.
pub const RETURN_METHOD: &str = "Pazaryeri_TP_Iptal_Iade";
/// The transaction inquiry method.
pub const QUERY_METHOD: &str = "TP_Islem_Sorgulama4";
/// Param's cancel/refund for standard (non-marketplace) orders. Param's
/// integration pages document this one (`TP_Islem_Iptal_Iade_Kismi2`); the
/// WSDL also has `TP_Islem_Iptal_Iade_Kismi4` (adding receipt ids to the
/// result) with no page of its own, so payops uses the documented method.
pub const STANDARD_RETURN_METHOD: &str = "TP_Islem_Iptal_Iade_Kismi2";

/// A lira amount as TurkPos writes it: `3000` kuruş → `30.00`.
pub fn amount_to_wire(minor: i64) -> String {
    format_minor(minor, 2, '.')
}

/// Parses `"10.01"` or `"30"` (a dot decimal point, as TurkPos writes) into
/// kuruş, exactly; `"10.015"` is refused, never rounded or read as grouping.
pub fn amount_from_wire(s: &str) -> Result<i64, String> {
    parse_minor(s.trim(), 2, DecimalStyle::Point).map_err(|e| e.to_string())
}

/// Parses `dd.MM.yyyy HH:mm:ss` (Turkish local time) to +03:00.
pub fn parse_date(s: &str) -> Option<DateTime<FixedOffset>> {
    payops_core::turkish_time(
        s,
        &[
            "%d.%m.%Y %H:%M:%S",
            "%d.%m.%Y %H:%M",
            "%Y-%m-%dT%H:%M:%S%.f",
        ],
    )
}

/// True for a UUID written as Param writes them (36 characters, hex and
/// dashes).
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A SOAP 1.1 POST of `body` for `method` to the account's service URL.
pub fn soap_request(a: &Account, method: &str, body: String) -> HttpRequest {
    let mut r = HttpRequest::post(a.url(), "text/xml; charset=utf-8", body);
    r.headers.push((
        "SOAPAction".into(),
        format!("\"https://turkpos.com.tr/{method}\""),
    ));
    r.timeout_ms = Some(a.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS));
    r
}

/// The `G` (`ST_WS_Security`) object every method takes.
pub fn credentials(a: &Account) -> Field<'_> {
    Field::Group(vec![
        ("CLIENT_CODE", Field::Text(&a.client_code)),
        ("CLIENT_USERNAME", Field::Text(&a.client_username)),
        ("CLIENT_PASSWORD", Field::Text(a.password())),
    ])
}

/// Builds the `Pazaryeri_TP_Iptal_Iade` envelope (fields in the sample's order).
pub fn return_envelope(a: &Account, durum: &str, doc: &ReturnDoc) -> String {
    // `whole_order` (checked before) is the only way to send SiparisTutar 0.
    let siparis = amount_to_wire(if doc.whole_order {
        0
    } else {
        doc.amount.unwrap_or(0)
    });
    let odenecek = amount_to_wire(doc.seller_payout_amount.unwrap_or(0));
    soap_envelope(
        RETURN_METHOD,
        TURKPOS_NS,
        &[
            ("G", credentials(a)),
            (
                "PYSiparis_GUID",
                Field::Text(doc.marketplace_order_guid.as_deref().unwrap_or_default()),
            ),
            ("GUID", Field::Text(a.guid())),
            ("Durum", Field::Text(durum)),
            ("Siparis_ID", Field::Text(&doc.order_ref)),
            ("SiparisTutar", Field::Text(&siparis)),
            ("OdenecekTutar", Field::Text(&odenecek)),
        ],
    )
}

/// Builds the `TP_Islem_Sorgulama4` envelope for an order id.
pub fn query_envelope(a: &Account, order_ref: &str) -> String {
    soap_envelope(
        QUERY_METHOD,
        TURKPOS_NS,
        &[
            ("G", credentials(a)),
            ("GUID", Field::Text(a.guid())),
            ("Dekont_ID", Field::Text("")),
            ("Siparis_ID", Field::Text(order_ref)),
            ("Islem_ID", Field::Text("")),
        ],
    )
}

/// Builds the `TP_Islem_Iptal_Iade_Kismi2` envelope (fields in the order of
/// Param's sample: `G`, `GUID`, `Durum`, `Siparis_ID`, `Tutar`).
pub fn standard_return_envelope(a: &Account, durum: &str, order_ref: &str, amount: i64) -> String {
    let tutar = amount_to_wire(amount);
    soap_envelope(
        STANDARD_RETURN_METHOD,
        TURKPOS_NS,
        &[
            ("G", credentials(a)),
            ("GUID", Field::Text(a.guid())),
            ("Durum", Field::Text(durum)),
            ("Siparis_ID", Field::Text(order_ref)),
            ("Tutar", Field::Text(&tutar)),
        ],
    )
}
