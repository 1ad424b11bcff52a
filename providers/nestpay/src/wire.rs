//! NestPay on the wire: the banks' API URLs, the `CC5Request` document
//! (the kit's XML), amounts and currencies as the API writes them, and the
//! order history's tab-separated `TRXn` rows.

use chrono::{DateTime, FixedOffset};
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

/// One `TRXn` row of the order history: `type, status, original amount,
/// amount, date, date, settle date, host reference, auth code, return
/// code, transaction id`, tab-separated (field order read from public
/// clients' captured answers: inferred).
#[derive(Debug, Clone, PartialEq)]
pub struct Trx {
    /// `S` a sale, `C` a refund (credit).
    pub kind: String,
    /// `TRANS_STAT`: `A`/`C`/`S` done, `V`/`CNCL` voided, `D`/`ERR` failed, `PN` waiting.
    pub stat: String,
    /// The original amount, in minor units.
    pub original: Option<i64>,
    /// The amount, in minor units.
    pub amount: Option<i64>,
    /// When (bank time, read as Turkish time).
    pub date: Option<DateTime<FixedOffset>>,
    /// `ProcReturnCode`: `00` approved.
    pub code: String,
    /// `TransId`.
    pub trans_id: Option<String>,
}

/// Reads a `TRXn` row (`None`: fewer than 11 fields).
pub fn trx(row: &str) -> Option<Trx> {
    let f: Vec<&str> = row.split('\t').collect();
    if f.len() < 11 {
        return None;
    }
    // History amounts are whole minor units ("101" is 1.01).
    let minor = |s: &str| s.trim().parse::<i64>().ok();
    Some(Trx {
        kind: f[0].trim().to_owned(),
        stat: f[1].trim().to_owned(),
        original: minor(f[2]),
        amount: minor(f[3]),
        date: date(f[4]),
        code: f[9].trim().to_owned(),
        trans_id: Some(f[10].trim().to_owned()).filter(|s| !s.is_empty()),
    })
}

/// A history date (`2022-10-30 12:58:42.906`), as Turkish time.
pub fn date(s: &str) -> Option<DateTime<FixedOffset>> {
    payops_core::turkish_time(s, &["%Y-%m-%d %H:%M:%S%.f"])
}
