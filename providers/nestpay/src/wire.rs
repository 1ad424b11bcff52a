//! NestPay on the wire: the banks' API URLs, the `CC5Request` document
//! (the kit's XML), amounts and currencies as the API writes them.

use payops_core::kit::wire;
use payops_core::kit::xml::{Field, document};
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

/// The URL requests of `a` go to: its `base_url`, else its bank's (else
/// the test host).
pub fn url(a: &Account) -> String {
    (a.base_url.clone()).unwrap_or_else(|| bank_url(a.bank.unwrap_or(Bank::Test)).to_owned())
}

/// What a request is.
pub enum Kind {
    /// `Type` `Credit`: a refund of an amount (`Total` and `Currency`).
    Credit(i64, Currency),
    /// `Type` `Void`: a cancel of the whole order.
    Void,
    /// `<Extra><ORDERHISTORY>QUERY</ORDERHISTORY></Extra>`: the order history.
    History,
}

/// The `CC5Request` for `order_ref`, posted to the account's URL.
pub fn request(a: &Account, order_ref: &str, kind: Kind) -> HttpRequest {
    let mut fields = vec![
        ("Name", Field::Text(&a.name)),
        ("Password", Field::Text(a.password.expose())),
        ("ClientId", Field::Text(&a.client_id)),
        ("OrderId", Field::Text(order_ref)),
    ];
    let (total, numeric);
    match kind {
        Kind::Credit(minor, currency) => {
            (total, numeric) = (
                wire::point_amount(minor, currency),
                currency.numeric().to_string(),
            );
            fields.push(("Type", Field::Text("Credit")));
            fields.push(("Total", Field::Text(&total)));
            fields.push(("Currency", Field::Text(&numeric)));
        }
        Kind::Void => fields.push(("Type", Field::Text("Void"))),
        Kind::History => {
            let query = vec![("ORDERHISTORY", Field::Text("QUERY"))];
            fields.push(("Extra", Field::Group(query)));
        }
    }
    let body = document("CC5Request", &fields);
    let r = HttpRequest::post(url(a), "application/xml; charset=utf-8", body);
    wire::timed(r, a.timeout_ms, DEFAULT_TIMEOUT_MS)
}
