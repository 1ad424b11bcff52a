//! # payops-turkpos
//!
//! The TurkPos (Param) provider for payops: marketplace `refund` and `cancel`
//! through `Pazaryeri_TP_Iptal_Iade` (`Durum` `IADE` / `IPTAL`) and `query`
//! through Param's public `TP_Islem_Sorgulama4`, SOAP 1.1 over HTTPS, built
//! with quick-xml; plus a stateful [`sim::TurkPosSimulator`]. TurkPos has no
//! sub-merchant adjustment of its own: the capability is absent and the host
//! answers `unsupported_operation`.
//!
//! Sans-IO like every payops provider; built as a cdylib and an rlib.
//! Mapping tables and result semantics: `docs/providers/turkpos.md`.

#![warn(missing_docs)]

pub mod docs;
/// The wire fields that carry credentials.
pub const CREDENTIAL_FIELDS: &[&str] = &["CLIENT_PASSWORD", "GUID"];

pub mod reconcile;
pub mod sim;
pub mod xml;

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use payops_core::details::{envelope_schema, input_schema_of as input_schema, schema_of as schema};
use payops_core::money::{DecimalStyle, format_minor, parse_minor};
use payops_core::outcome::Reason;
use payops_core::{
    Call, Currency, Error, HttpRequest, HttpResponse, OperationKind, OperationSchemas, Outcome,
    PaymentStatus, Plugin, ProviderInfo, QueryDetails, Simulator, Status, Step, TransportError,
};
use serde_json::{Map, Value, json};

use crate::docs::{Account, OrderType, QueryDoc, ReturnDoc};
use crate::xml::{Field, envelope};

/// The provider id used in config.
pub const ID: &str = "turkpos";
/// Default per-request timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// The marketplace cancel/refund method.
pub const RETURN_METHOD: &str = "Pazaryeri_TP_Iptal_Iade";
/// The transaction inquiry method.
pub const QUERY_METHOD: &str = "TP_Islem_Sorgulama4";
/// Param's cancel/refund for standard (non-marketplace) orders. Param's
/// integration pages document this one (`TP_Islem_Iptal_Iade_Kismi2`); the
/// WSDL also has `TP_Islem_Iptal_Iade_Kismi4` (adding receipt ids to the
/// result) with no page of its own, so payops uses the documented method.
pub const STANDARD_RETURN_METHOD: &str = "TP_Islem_Iptal_Iade_Kismi2";

/// The TurkPos provider.
#[derive(Debug, Default, Clone, Copy)]
pub struct TurkPos;

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
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d);
    }
    [
        "%d.%m.%Y %H:%M:%S",
        "%d.%m.%Y %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .and_then(|n| {
        payops_core::turkey_offset()
            .from_local_datetime(&n)
            .single()
    })
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn parse_doc<T: serde::de::DeserializeOwned>(request: &Value) -> Result<T, Error> {
    payops_core::plugin::parse_document(request)
}

fn account(call: &Call) -> Result<(Account, String, String), Error> {
    let a: Account = serde_json::from_value(Value::Object(call.account.clone()))
        .map_err(|e| Error::invalid_field("/account", format!("TurkPos account: {e}")))?;
    if a.environment.is_none() && a.base_url.is_none() {
        return Err(Error::invalid_field(
            "/account/environment",
            "TurkPos account has no environment (test or production) and no base_url",
        ));
    }
    let password = a
        .client_password
        .as_ref()
        .map(|s| s.expose().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Error::invalid_field(
                "/account/client_password",
                "TurkPos account has no client_password",
            )
        })?;
    let guid = a
        .guid
        .as_ref()
        .map(|s| s.expose().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid_field("/account/guid", "TurkPos account has no guid"))?;
    Ok((a, password, guid))
}

fn soap_request(a: &Account, method: &str, body: String) -> HttpRequest {
    let mut r = HttpRequest::post(a.url(), "text/xml; charset=utf-8", body);
    r.headers.push((
        "SOAPAction".into(),
        format!("\"https://turkpos.com.tr/{method}\""),
    ));
    r.timeout_ms = Some(a.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS));
    r
}

/// The `G` (`ST_WS_Security`) object every method takes.
fn credentials<'a>(a: &'a Account, password: &'a str) -> Field<'a> {
    Field::Group(vec![
        ("CLIENT_CODE", Field::Text(&a.client_code)),
        ("CLIENT_USERNAME", Field::Text(&a.client_username)),
        ("CLIENT_PASSWORD", Field::Text(password)),
    ])
}

/// An outcome from a result's `Sonuc` (> 0 succeeded, otherwise failed, not
/// a number: unknown) and `Sonuc_Str`.
fn sonuc_outcome(result: &xml::Element, http_status: u16) -> Outcome {
    let all: Vec<&str> = result
        .children
        .iter()
        .filter(|c| c.name == "Sonuc")
        .map(|c| c.text.as_str())
        .collect();
    // An integer as .NET writes one: digits, perhaps a leading minus.
    let integer = |t: &str| {
        let t = t.trim();
        let digits = t.strip_prefix('-').unwrap_or(t);
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<i64>().ok())
            .flatten()
    };
    let sonuc = match all.as_slice() {
        [one] => integer(one),
        _ => None,
    };
    let ok_http = (200..300).contains(&http_status);
    let (status, reason) = match sonuc {
        // A success needs a 2xx: a 5xx says nothing about what happened.
        Some(n) if n > 0 && ok_http => (Status::Succeeded, None),
        // Param documents no causes for Sonuc <= 0: "otherwise, unsuccessful".
        Some(n) if n <= 0 && (ok_http || (400..500).contains(&http_status)) => {
            (Status::Failed, Some(Reason::Refused))
        }
        _ => (Status::Unknown, Some(Reason::ProviderError)),
    };
    let mut o = Outcome::new(status).with(status, reason);
    o.provider_code = all.first().map(|s| (*s).to_owned());
    o.provider_message = match (sonuc, all.len()) {
        (_, n) if n > 1 => Some(format!(
            "response has {n} Sonuc values ({}): not attributable",
            all.join(", ")
        )),
        (Some(_), _) if o.status == Status::Unknown => Some(format!(
            "HTTP {http_status} with Sonuc {}: TurkPos may have acted",
            all.join("")
        )),
        (Some(_), _) => result.child_text("Sonuc_Str").map(str::to_owned),
        (None, _) => Some("response has no numeric Sonuc".into()),
    };
    o
}

/// Builds the `Pazaryeri_TP_Iptal_Iade` envelope (fields in the sample's order).
pub fn return_envelope(
    a: &Account,
    password: &str,
    guid: &str,
    durum: &str,
    doc: &ReturnDoc,
) -> String {
    // `whole_order` (checked before) is the only way to send SiparisTutar 0.
    let siparis = amount_to_wire(if doc.whole_order {
        0
    } else {
        doc.amount.unwrap_or(0)
    });
    let odenecek = amount_to_wire(doc.seller_payout_amount.unwrap_or(0));
    envelope(
        RETURN_METHOD,
        &[
            ("G", credentials(a, password)),
            (
                "PYSiparis_GUID",
                Field::Text(doc.marketplace_order_guid.as_deref().unwrap_or_default()),
            ),
            ("GUID", Field::Text(guid)),
            ("Durum", Field::Text(durum)),
            ("Siparis_ID", Field::Text(&doc.order_ref)),
            ("SiparisTutar", Field::Text(&siparis)),
            ("OdenecekTutar", Field::Text(&odenecek)),
        ],
    )
}

/// Builds the `TP_Islem_Sorgulama4` envelope for an order id.
pub fn query_envelope(a: &Account, password: &str, guid: &str, order_ref: &str) -> String {
    envelope(
        QUERY_METHOD,
        &[
            ("G", credentials(a, password)),
            ("GUID", Field::Text(guid)),
            ("Dekont_ID", Field::Text("")),
            ("Siparis_ID", Field::Text(order_ref)),
            ("Islem_ID", Field::Text("")),
        ],
    )
}

/// The `…Result` element of a response, or the final outcome when there is
/// none (transport error, fault, HTML, truncated XML).
fn result_element(
    response: Result<HttpResponse, TransportError>,
    method: &str,
) -> Result<(xml::Element, Value, u16), Box<Outcome>> {
    let response = response.map_err(|e| Box::new(Outcome::from_transport_error(&e)))?;
    let text = String::from_utf8_lossy(&response.body).into_owned();
    let root = xml::parse(&text).map_err(|e| {
        Box::new(Outcome::unparseable(
            response.status,
            format!("unreadable SOAP response: {e}"),
            &response.body,
        ))
    })?;
    let (body, fault) = xml::body(&root)
        .map_err(|e| Box::new(Outcome::unparseable(response.status, e, &response.body)))?;
    if let Some(f) = fault {
        // A Client fault: the server refused the message before acting on it.
        // A Server (or other) fault may have happened while acting: unknown.
        let mut o = if f.is_client() {
            Outcome::new(Status::Failed).with(Status::Failed, Some(Reason::InvalidRequest))
        } else {
            Outcome::new(Status::Unknown).with(Status::Unknown, Some(Reason::ProviderError))
        };
        o.provider_code = Some(f.code.clone());
        o.provider_message = Some(f.message.clone());
        o.raw = json!({"http_status": response.status, "fault": {"faultcode": f.code, "faultstring": f.message}});
        return Err(Box::new(o));
    }
    let name = format!("{method}Result");
    // Exactly `Body/{method}Response/{method}Result`, as the samples show;
    // a `Result` elsewhere (without its `Response` wrapper) is not an answer.
    let wrapper = format!("{method}Response");
    let responses: Vec<&xml::Element> =
        body.children.iter().filter(|c| c.name == wrapper).collect();
    let results: Vec<&xml::Element> = match responses.as_slice() {
        [r] => r.children.iter().filter(|c| c.name == name).collect(),
        _ => Vec::new(),
    };
    let [result] = results.as_slice() else {
        return Err(Box::new(Outcome::unparseable(
            response.status,
            format!("SOAP response has no single {wrapper}/{name}"),
            &response.body,
        )));
    };
    let mut raw = Map::new();
    for (k, v) in result.leaves() {
        raw.entry(k.to_owned())
            .or_insert_with(|| Value::String(v.to_owned()));
    }
    // The request's credentials (G's CLIENT_PASSWORD, the merchant GUID)
    // never stay in `raw`, should an answer echo them.
    let mut raw = Value::Object(raw);
    payops_core::outcome::blank_fields(&mut raw, CREDENTIAL_FIELDS);
    let Value::Object(raw) = raw else {
        unreachable!("an object stays an object")
    };
    Ok((
        (*result).clone(),
        json!({ "http_status": response.status, name: Value::Object(raw) }),
        response.status,
    ))
}

/// The outcome of a `Pazaryeri_TP_Iptal_Iade` response.
pub fn return_outcome(
    response: Result<HttpResponse, TransportError>,
    durum: &str,
    amount: Option<i64>,
) -> Outcome {
    let (result, raw, http_status) = match result_element(response, RETURN_METHOD) {
        Ok(x) => x,
        Err(o) => return *o,
    };
    let mut o = sonuc_outcome(&result, http_status);
    o.details = json!({
        "method": RETURN_METHOD,
        "durum_sent": durum,
        "amount": amount,
        "durum": result.child_text("Durum"),
        "durum_str": result.child_text("Durum_Str"),
    });
    o.raw = raw;
    o
}

/// Builds the `TP_Islem_Iptal_Iade_Kismi2` envelope (fields in the order of
/// Param's sample: `G`, `GUID`, `Durum`, `Siparis_ID`, `Tutar`).
pub fn standard_return_envelope(
    a: &Account,
    password: &str,
    guid: &str,
    durum: &str,
    order_ref: &str,
    amount: i64,
) -> String {
    let tutar = amount_to_wire(amount);
    envelope(
        STANDARD_RETURN_METHOD,
        &[
            ("G", credentials(a, password)),
            ("GUID", Field::Text(guid)),
            ("Durum", Field::Text(durum)),
            ("Siparis_ID", Field::Text(order_ref)),
            ("Tutar", Field::Text(&tutar)),
        ],
    )
}

/// The outcome of a `TP_Islem_Iptal_Iade_Kismi2` response: `Sonuc` as for
/// every method, the bank's fields in `details`, `Bank_HostRefNum` (the
/// bank's reference) as `provider_reference`.
pub fn standard_return_outcome(
    response: Result<HttpResponse, TransportError>,
    durum: &str,
    amount: i64,
) -> Outcome {
    let (result, raw, http_status) = match result_element(response, STANDARD_RETURN_METHOD) {
        Ok(x) => x,
        Err(o) => return *o,
    };
    let mut o = sonuc_outcome(&result, http_status);
    let text = |k: &str| result.child_text(k).filter(|v| !v.is_empty());
    o.provider_reference = text("Bank_HostRefNum").map(str::to_owned);
    o.details = json!({
        "method": STANDARD_RETURN_METHOD,
        "durum_sent": durum,
        "amount": amount,
        "banka_sonuc_kod": text("Banka_Sonuc_Kod"),
        "bank_auth_code": text("Bank_AuthCode"),
        "bank_trans_id": text("Bank_Trans_ID"),
        "bank_extra": text("Bank_Extra"),
        "bank_host_ref_num": text("Bank_HostRefNum"),
    });
    o.raw = raw;
    o
}

/// `payment_status` from `DT_Bilgi`: `Durum` decides when present, else
/// `Odeme_Sonuc` (1 success, 12 cancelled, 13 refunded).
pub fn payment_status(durum: Option<&str>, odeme_sonuc: Option<&str>) -> PaymentStatus {
    match durum.map(|d| d.trim().to_ascii_uppercase()).as_deref() {
        Some("SUCCESS") => PaymentStatus::Succeeded,
        Some("PARTIAL_REFUND") => PaymentStatus::PartiallyRefunded,
        Some("REFUND") => PaymentStatus::Refunded,
        Some("CANCEL") => PaymentStatus::Cancelled,
        Some("FAIL") | Some("BANK_FAIL") => PaymentStatus::Failed,
        _ => match odeme_sonuc.map(str::trim) {
            Some("1") => PaymentStatus::Succeeded,
            Some("12") => PaymentStatus::Cancelled,
            Some("13") => PaymentStatus::Refunded,
            _ => PaymentStatus::Unknown,
        },
    }
}

/// The outcome of a `TP_Islem_Sorgulama4` response.
pub fn query_outcome(response: Result<HttpResponse, TransportError>) -> Outcome {
    let (result, raw, http_status) = match result_element(response, QUERY_METHOD) {
        Ok(x) => x,
        Err(o) => return *o,
    };
    let mut o = sonuc_outcome(&result, http_status);
    o.raw = raw;
    if o.status != Status::Succeeded {
        return o;
    }
    let Some(info) = result.find("DT_Bilgi") else {
        o = o.with(Status::Unknown, Some(Reason::ProviderError));
        o.provider_message = Some("TP_Islem_Sorgulama4 succeeded without DT_Bilgi".into());
        return o;
    };
    let leaves: BTreeMap<&str, &str> = info.leaves().into_iter().rev().collect();
    let get = |k: &str| leaves.get(k).copied().filter(|v| !v.is_empty());
    let amount = |k: &str| get(k).map(amount_from_wire).transpose();
    let (total, refunded) = match (amount("Toplam_Tutar"), amount("Toplam_Iade_Tutar")) {
        (Ok(t), Ok(r)) => (t, r),
        (Err(e), _) | (_, Err(e)) => {
            o = o.with(Status::Unknown, Some(Reason::ProviderError));
            o.provider_message = Some(format!("cannot read an amount of DT_Bilgi: {e}"));
            return o;
        }
    };
    let mut extra = Map::new();
    for (k, v) in &leaves {
        extra.insert((*k).to_owned(), Value::String((*v).to_owned()));
    }
    let details = QueryDetails {
        payment_status: payment_status(get("Durum"), get("Odeme_Sonuc")),
        provider_payment_status: get("Durum").map(str::to_owned),
        amount: total,
        currency: Currency::TRY,
        installment: get("Taksit").and_then(|t| t.trim().parse().ok()),
        payment_date: get("Tarih").and_then(parse_date),
        refunded_amount: refunded,
        order_ref: get("Siparis_ID").map(str::to_owned),
        transactions: Vec::new(),
        extra,
    };
    o.provider_reference = get("Dekont_ID").map(str::to_owned);
    o.details = serde_json::to_value(details).unwrap_or(Value::Null);
    o
}

fn return_details_schema() -> Value {
    json!({
        "type": "object",
        "title": "Details",
        "description": "What Pazaryeri_TP_Iptal_Iade answered.",
        "properties": {
            "method": {"type": "string", "title": "Method", "description": "The SOAP method called."},
            "durum_sent": {"type": "string", "enum": ["IADE", "IPTAL"], "title": "Durum sent", "description": "Wire `Durum` of the request."},
            "amount": {"type": ["integer", "null"], "title": "Amount (kuruş)", "description": "`SiparisTutar` in minor units; null for the whole order (0)."},
            "durum": {"type": ["string", "null"], "title": "Durum", "description": "Wire `Durum` of the result (status code, e.g. 12)."},
            "durum_str": {"type": ["string", "null"], "title": "Durum_Str", "description": "Wire `Durum_Str` (status description)."}
        }
    })
}

impl TurkPos {
    fn start_standard_return(
        &self,
        a: &Account,
        password: &str,
        guid: &str,
        durum: &str,
        doc: &ReturnDoc,
    ) -> Result<Step, Error> {
        for (present, field) in [
            (
                doc.marketplace_order_guid.is_some(),
                "/marketplace_order_guid",
            ),
            (doc.whole_order, "/whole_order"),
            (doc.seller_payout_amount.is_some(), "/seller_payout_amount"),
        ] {
            if present {
                return Err(Error::invalid_field(
                    field,
                    "marketplace orders only: a standard order (TP_Islem_Iptal_Iade_Kismi2) takes order_ref and amount",
                ));
            }
        }
        let amount = match doc.amount {
            Some(a) if a > 0 => a,
            _ => {
                return Err(Error::invalid_field(
                    "/amount",
                    "required and greater than 0 (Tutar; a cancel names the whole amount)",
                ));
            }
        };
        tracing::info!(order_ref = %doc.order_ref, durum, amount, "TurkPos TP_Islem_Iptal_Iade_Kismi2");
        Ok(Step::Send {
            request: soap_request(
                a,
                STANDARD_RETURN_METHOD,
                standard_return_envelope(a, password, guid, durum, &doc.order_ref, amount),
            ),
            state: json!({"phase": "standard_return", "durum": durum, "amount": amount}),
        })
    }

    fn start_return(
        &self,
        a: &Account,
        password: &str,
        guid: &str,
        durum: &str,
        request: &Value,
    ) -> Result<Step, Error> {
        let doc: ReturnDoc = parse_doc(request)?;
        if doc.order_ref.is_empty() || doc.order_ref.chars().count() > 50 {
            return Err(Error::invalid_field(
                "/order_ref",
                "Siparis_ID must be 1 to 50 characters",
            ));
        }
        let order_type = doc
            .order_type
            .or(a.default_order_type)
            .unwrap_or(OrderType::Marketplace);
        if order_type == OrderType::Standard {
            return self.start_standard_return(a, password, guid, durum, &doc);
        }
        if !doc.marketplace_order_guid.as_deref().is_some_and(is_uuid) {
            return Err(Error::invalid_field(
                "/marketplace_order_guid",
                "PYSiparis_GUID must be a UUID (36 characters); required for a marketplace order (order_type standard for other orders)",
            ));
        }
        match (doc.whole_order, doc.amount) {
            (true, Some(_)) => {
                return Err(Error::invalid_field(
                    "/amount",
                    "not with whole_order: a whole-order return sends SiparisTutar 0",
                ));
            }
            (false, None) => {
                return Err(Error::invalid_field(
                    "/amount",
                    "required: give the amount to return, or whole_order: true to return the whole marketplace order (every connected vendor's part)",
                ));
            }
            (false, Some(a)) if a <= 0 => {
                return Err(Error::invalid_field("/amount", "must be greater than 0"));
            }
            _ => {}
        }
        match (doc.whole_order, doc.seller_payout_amount) {
            (_, Some(p)) if p < 0 => {
                return Err(Error::invalid_field(
                    "/seller_payout_amount",
                    "must not be negative",
                ));
            }
            (true, Some(p)) if p != 0 => {
                return Err(Error::invalid_field(
                    "/seller_payout_amount",
                    "with whole_order nothing is left to pay the seller: 0 or omitted",
                ));
            }
            (false, None) => {
                return Err(Error::invalid_field(
                    "/seller_payout_amount",
                    "required with amount: what the seller is paid after this return",
                ));
            }
            _ => {}
        }
        tracing::info!(order_ref = %doc.order_ref, durum, amount = ?doc.amount, seller_payout = ?doc.seller_payout_amount, whole_order = doc.whole_order, "TurkPos Pazaryeri_TP_Iptal_Iade");
        Ok(Step::Send {
            request: soap_request(
                a,
                RETURN_METHOD,
                return_envelope(a, password, guid, durum, &doc),
            ),
            state: json!({"phase": "return", "durum": durum, "amount": doc.amount}),
        })
    }
}

impl Plugin for TurkPos {
    fn info(&self) -> ProviderInfo {
        let mut operations = BTreeMap::new();
        let mut query_details = schema::<QueryDetails>();
        if let Some(m) = query_details.as_object_mut() {
            m.remove("$schema");
            m.insert(
                "description".into(),
                json!(
                    "TP_Islem_Sorgulama4 DT_Bilgi normalized: amounts in kuruş, Tarih at +03:00."
                ),
            );
        }
        let return_schema = input_schema::<ReturnDoc>();
        for (op, request, details) in [
            (
                OperationKind::Refund,
                return_schema.clone(),
                return_details_schema(),
            ),
            (
                OperationKind::Cancel,
                return_schema,
                return_details_schema(),
            ),
            (
                OperationKind::Query,
                input_schema::<QueryDoc>(),
                query_details,
            ),
        ] {
            operations.insert(
                op,
                OperationSchemas {
                    request,
                    response: envelope_schema(&format!("TurkPos {op} outcome"), details),
                },
            );
        }
        ProviderInfo {
            id: ID.into(),
            name: "TurkPos (Param)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities: vec![
                OperationKind::Refund,
                OperationKind::Cancel,
                OperationKind::Query,
            ],
            account_schema: input_schema::<Account>(),
            operations,
            merchant_identity: vec!["client_code".into()],
            callbacks: Vec::new(),
        }
    }

    fn start(&self, call: &Call, request: &Value) -> Result<Step, Error> {
        let (a, password, guid) = account(call)?;
        match call.operation {
            OperationKind::Refund => self.start_return(&a, &password, &guid, "IADE", request),
            OperationKind::Cancel => self.start_return(&a, &password, &guid, "IPTAL", request),
            OperationKind::Query => {
                let doc: QueryDoc = parse_doc(request)?;
                if doc.order_ref.is_empty() || doc.order_ref.chars().count() > 50 {
                    return Err(Error::invalid_field("/order_ref", "Siparis_ID must be 1 to 50 characters"));
                }
                Ok(Step::Send {
                    request: soap_request(&a, QUERY_METHOD, query_envelope(&a, &password, &guid, &doc.order_ref)),
                    state: json!({"phase": "query"}),
                })
            }
            OperationKind::SubMerchantAdjust => Err(Error::UnsupportedOperation(
                "TurkPos has no sub-merchant adjustment outside a refund (use seller_payout_amount)".into(),
            )),
        }
    }

    fn resume(
        &self,
        _call: &Call,
        state: Value,
        response: Result<HttpResponse, TransportError>,
    ) -> Result<Step, Error> {
        let o = match state["phase"].as_str() {
            Some("return") => return_outcome(
                response,
                state["durum"].as_str().unwrap_or(""),
                state["amount"].as_i64(),
            ),
            Some("standard_return") => standard_return_outcome(
                response,
                state["durum"].as_str().unwrap_or(""),
                state["amount"].as_i64().unwrap_or_default(),
            ),
            Some("query") => query_outcome(response),
            other => return Err(Error::Internal(format!("unknown TurkPos step {other:?}"))),
        };
        tracing::info!(status = %o.status, code = ?o.provider_code, "TurkPos answered");
        Ok(Step::Done(o))
    }

    fn reconcile(
        &self,
        _call: &Call,
        input: &payops_core::ReconcileInput,
    ) -> Result<payops_core::Resolution, Error> {
        Ok(reconcile::reconcile(input))
    }

    fn simulator(&self) -> Box<dyn Simulator> {
        Box::new(sim::TurkPosSimulator::demo())
    }
}

payops_core::export_provider!(TurkPos);
