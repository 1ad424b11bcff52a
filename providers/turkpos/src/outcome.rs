//! What a TurkPos answer means: the SOAP envelope read (a fault, a
//! `…Response/…Result`, or nothing readable), `Sonuc` as every Param method
//! writes it, and the inquiry's `DT_Bilgi` normalized into
//! [`QueryDetails`].

use std::collections::BTreeMap;

use payops_core::kit::xml::{self, Element};
use payops_core::outcome::Reason;
use payops_core::{
    Currency, HttpResponse, Outcome, PaymentStatus, QueryDetails, Status, TransportError,
};
use serde_json::{Map, Value, json};

use crate::wire::{
    CREDENTIAL_FIELDS, QUERY_METHOD, RETURN_METHOD, STANDARD_RETURN_METHOD, amount_from_wire,
    parse_date,
};

/// An outcome from a result's `Sonuc` (> 0 succeeded, otherwise failed, not
/// a number: unknown) and `Sonuc_Str`.
fn sonuc_outcome(result: &Element, http_status: u16) -> Outcome {
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

/// The `…Result` element of a response, or the final outcome when there is
/// none (transport error, fault, HTML, truncated XML).
fn result_element(
    response: Result<HttpResponse, TransportError>,
    method: &str,
) -> Result<(Element, Value, u16), Box<Outcome>> {
    let response = response.map_err(|e| Box::new(Outcome::from_transport_error(&e)))?;
    let text = String::from_utf8_lossy(&response.body).into_owned();
    let root = xml::parse(&text).map_err(|e| {
        Box::new(Outcome::unparseable(
            response.status,
            format!("unreadable SOAP response: {e}"),
            &response.body,
        ))
    })?;
    let (body, fault) = xml::soap_body(&root)
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
    let responses: Vec<&Element> = body.children.iter().filter(|c| c.name == wrapper).collect();
    let results: Vec<&Element> = match responses.as_slice() {
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
    payops_core::kit::redact::blank_json_fields(&mut raw, CREDENTIAL_FIELDS);
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
    let mut details = QueryDetails {
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
        ledger: None,
    };
    // `TP_Islem_Sorgulama4` gives the returned total (`Toplam_Iade_Tutar`),
    // not the returns one by one.
    details.ledger = Some(payops_core::ledger::OrderFacts::totals(&details));
    o.provider_reference = get("Dekont_ID").map(str::to_owned);
    o.details = serde_json::to_value(details).unwrap_or(Value::Null);
    o
}

/// [`query_outcome`] for an inquiry about `order_ref`: an answer whose
/// `DT_Bilgi` names another order (`Siparis_ID`) proves nothing about this
/// one and is `unknown` (reason `order_mismatch`), with both references in
/// `details`. An answer that names no order is read as about this one.
pub fn query_outcome_for(
    response: Result<HttpResponse, TransportError>,
    order_ref: &str,
) -> Outcome {
    let o = query_outcome(response);
    if o.status != Status::Succeeded {
        return o;
    }
    let answered = o
        .details
        .get("order_ref")
        .and_then(Value::as_str)
        .map(str::to_owned);
    match answered {
        Some(a) if a.trim() != order_ref.trim() => {
            let mut o = o.order_mismatch(order_ref, &a);
            o.provider_message = Some(format!(
                "TP_Islem_Sorgulama4 answered about order {a:?}, not {order_ref:?}"
            ));
            o
        }
        _ => o,
    }
}

/// `details` of a return outcome (the JSON Schema).
pub fn return_details_schema() -> Value {
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

/// `details` of a query outcome (the JSON Schema).
pub fn query_details_schema() -> Value {
    let mut s = payops_core::details::schema_of::<QueryDetails>();
    if let Some(m) = s.as_object_mut() {
        m.remove("$schema");
        m.insert(
            "description".into(),
            json!("TP_Islem_Sorgulama4 DT_Bilgi normalized: amounts in kuruş, Tarih at +03:00."),
        );
    }
    s
}
