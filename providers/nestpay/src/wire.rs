//! NestPay on the wire: the banks' API URLs, the `CC5Request` document
//! (the kit's XML), amounts and currencies as the API writes them.

use payops_core::kit::xml::{Field, document};
use payops_core::money::format_minor;
use payops_core::{Currency, HttpRequest};

use crate::documents::{Account, Bank, DEFAULT_TIMEOUT_MS};

/// The request fields that carry credentials: blanked wherever an answer
/// echoes them.
pub const CREDENTIAL_FIELDS: &[&str] = &["Password"];

/// The API URL of `bank` (public client libraries' configs; see
/// `docs/providers/nestpay.md`).
pub fn bank_url(bank: Bank) -> &'static str {
    match bank {
        Bank::Test => "https://entegrasyon.asseco-see.com.tr/fim/api",
        Bank::Akbank => "https://www.sanalakpos.com/fim/api",
        Bank::Isbank => "https://sanalpos.isbank.com.tr/fim/api",
        Bank::Halkbank => "https://sanalpos.halkbank.com.tr/fim/api",
        Bank::Ziraat => "https://sanalpos2.ziraatbank.com.tr/fim/api",
        Bank::Teb => "https://sanalpos.teb.com.tr/fim/api",
        Bank::Sekerbank => "https://sanalpos.sekerbank.com.tr/fim/api",
        Bank::Finansbank => "https://www.fbwebpos.com/fim/api",
    }
}

/// The URL requests of `a` go to.
pub fn url(a: &Account) -> String {
    match (&a.base_url, a.bank) {
        (Some(u), _) => u.clone(),
        (None, Some(b)) => bank_url(b).to_owned(),
        (None, None) => bank_url(Bank::Test).to_owned(),
    }
}

/// `Total` as the API takes it: a decimal with a point (`10.50`).
pub fn total(minor: i64, currency: Currency) -> String {
    format_minor(minor, currency.exponent(), '.')
}

/// What a request is: `Type` (`Credit`, `Void`) or an `Extra` query.
pub enum Kind<'a> {
    /// `<Type>` with, for a refund, `Total` and `Currency`.
    Type(&'a str, Option<(i64, Currency)>),
    /// `<Extra><{name}>QUERY</{name}></Extra>` (`ORDERHISTORY`).
    Extra(&'a str),
}

/// The `CC5Request` for `order_ref`, posted to the account's URL.
pub fn request(a: &Account, order_ref: &str, kind: Kind<'_>) -> HttpRequest {
    let amounts = match &kind {
        Kind::Type(_, Some((m, c))) => Some((total(*m, *c), c.numeric().to_string())),
        _ => None,
    };
    let mut fields = vec![
        ("Name", Field::Text(&a.name)),
        ("Password", Field::Text(a.password.expose())),
        ("ClientId", Field::Text(&a.client_id)),
        ("OrderId", Field::Text(order_ref)),
    ];
    match kind {
        Kind::Type(t, _) => fields.push(("Type", Field::Text(t))),
        Kind::Extra(name) => {
            fields.push(("Extra", Field::Group(vec![(name, Field::Text("QUERY"))])))
        }
    }
    if let Some((t, c)) = &amounts {
        fields.push(("Total", Field::Text(t)));
        fields.push(("Currency", Field::Text(c)));
    }
    let mut r = HttpRequest::post(
        url(a),
        "application/xml; charset=utf-8",
        document("CC5Request", &fields),
    );
    r.timeout_ms = Some(a.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS));
    r
}
