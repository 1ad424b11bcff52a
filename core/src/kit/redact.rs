//! Credentials that travel in a request body, blanked by structure. A
//! provider knows which of its fields carry credentials (EsnekPOS's
//! `MERCHANT_KEY`, TurkPos's `CLIENT_PASSWORD` and `GUID`, NestPay's
//! `Password`, PayTR's `paytr_token`); these remove their values from a
//! JSON document, a form body or an XML text before anything is cut,
//! logged or stored, whatever the value looks like. (The host also
//! scrubs every credential value it knows from everything a provider
//! returns; structure catches what a value search cannot, such as a
//! credential the provider echoes in another form.)

use serde_json::Value;

use crate::secret::REDACTED;

/// Blanks the values of every object key in `keys` (any letter case, at
/// any depth).
///
/// ```
/// use payops_core::kit::redact::blank_json_fields;
/// let mut v = payops_core::serde_json::json!({"MERCHANT": "M1", "merchant_key": "k3y"});
/// blank_json_fields(&mut v, &["MERCHANT_KEY"]);
/// assert_eq!(v["merchant_key"], "[REDACTED]");
/// ```
pub fn blank_json_fields(value: &mut Value, keys: &[&str]) {
    match value {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if keys.iter().any(|c| c.eq_ignore_ascii_case(k)) {
                    *v = Value::String(REDACTED.into());
                } else {
                    blank_json_fields(v, keys);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|v| blank_json_fields(v, keys)),
        _ => {}
    }
}

/// A form body with the values of `keys` (any letter case) blanked; the
/// other pairs keep their order and values.
pub fn blank_form_fields(body: &[u8], keys: &[&str]) -> String {
    let pairs = crate::kit::form::decode(body);
    crate::kit::form::encode(pairs.iter().map(|(k, v)| {
        if keys.iter().any(|c| c.eq_ignore_ascii_case(k)) {
            (k.as_str(), REDACTED)
        } else {
            (k.as_str(), v.as_str())
        }
    }))
}

/// An XML text with the content of every element whose local name is in
/// `names` (any prefix, exact case, as XML names are) replaced by
/// [`REDACTED`]; everything else is kept byte for byte. An element left
/// open to the end of the text (a cut body) loses everything after its
/// start tag.
pub fn blank_xml_elements(text: &str, names: &[&str]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        rest = &rest[lt..];
        let Some(gt) = rest.find('>') else {
            out.push_str(rest);
            return out;
        };
        let tag = &rest[..=gt];
        out.push_str(tag);
        rest = &rest[gt + 1..];
        let Some(name) = start_tag_name(tag) else {
            continue;
        };
        let local = name.rsplit(':').next().unwrap_or(name);
        if !names.contains(&local) {
            continue;
        }
        let close = format!("</{name}");
        match rest.find(&close) {
            Some(end) => {
                out.push_str(REDACTED);
                rest = &rest[end..];
            }
            None => {
                out.push_str(REDACTED);
                return out;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The name of a start tag that has content (`<a>`, `<p:a x="1">`; not
/// `<a/>`, `</a>`, `<?…?>` or `<!…>`).
fn start_tag_name(tag: &str) -> Option<&str> {
    let inner = tag.strip_prefix('<')?.strip_suffix('>')?;
    if inner.starts_with(['/', '?', '!']) || inner.ends_with('/') {
        return None;
    }
    let end = inner
        .find(|c: char| c.is_whitespace())
        .unwrap_or(inner.len());
    Some(&inner[..end]).filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TurkPos's `Pazaryeri_TP_Iptal_Iade` request sample
    /// (shared/provider-docs/turkpos-pazaryeri-tp-iptal-iade.txt): the
    /// password inside `G` and the merchant `GUID` go, the rest stays.
    #[test]
    fn turkpos_soap_request_loses_its_credentials() {
        let sample = "<?xml version=\"1.0\" encoding=\"utf-8\"?> <soap:Envelope xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">\n<soap:Body>\n<Pazaryeri_TP_Iptal_Iade xmlns=\"https://turkpos.com.tr/\">\n<G>\n<CLIENT_CODE>10738</CLIENT_CODE>\n<CLIENT_USERNAME>Test</CLIENT_USERNAME>\n<CLIENT_PASSWORD>Test</CLIENT_PASSWORD>\n</G>\n<PYSiparis_GUID>A4683F02-3259-4C94-8BF8-47D33A5626D8</PYSiparis_GUID>\n<GUID>0c13d406-873b-403b-9c09-a5766840d98c</GUID>\n<Durum>IADE</Durum >\n<Siparis_ID>siparis54</Siparis_ID>\n<SiparisTutar>30.00</SiparisTutar> <!--İade edilecek tutar-- >\n<OdenecekTutar>10.00</OdenecekTutar> <!--Son durumda altüyeye aktarılacak tutar-->\n</Pazaryeri_TP_Iptal_Iade>\n</soap:Body>\n</soap:Envelope>\n";
        let out = blank_xml_elements(sample, &["CLIENT_PASSWORD", "GUID"]);
        assert!(
            out.contains("<CLIENT_PASSWORD>[REDACTED]</CLIENT_PASSWORD>"),
            "{out}"
        );
        assert!(out.contains("<GUID>[REDACTED]</GUID>"), "{out}");
        assert!(!out.contains("0c13d406"), "{out}");
        // PYSiparis_GUID is not GUID: names match whole.
        assert!(
            out.contains("A4683F02-3259-4C94-8BF8-47D33A5626D8"),
            "{out}"
        );
        assert!(out.contains("<CLIENT_CODE>10738</CLIENT_CODE>"), "{out}");
        assert!(out.contains("<SiparisTutar>30.00</SiparisTutar>"), "{out}");
    }

    /// NestPay's `CC5Request`: `Password` goes, with a prefix or without;
    /// a body cut inside the element keeps nothing after the tag.
    #[test]
    fn nestpay_request_and_cut_bodies() {
        let req = "<?xml version=\"1.0\" encoding=\"ISO-8859-9\"?>\n<CC5Request><Name>ISBANKAPI</Name><Password>ISBANK07</Password><ClientId>700655000200</ClientId><Type>Credit</Type></CC5Request>";
        let out = blank_xml_elements(req, &["Password"]);
        assert_eq!(
            out,
            "<?xml version=\"1.0\" encoding=\"ISO-8859-9\"?>\n<CC5Request><Name>ISBANKAPI</Name><Password>[REDACTED]</Password><ClientId>700655000200</ClientId><Type>Credit</Type></CC5Request>"
        );
        assert_eq!(
            blank_xml_elements("<a><x:Password a=\"1\">sec", &["Password"]),
            "<a><x:Password a=\"1\">[REDACTED]"
        );
        assert_eq!(
            blank_xml_elements("<Password/><b>1</b>", &["Password"]),
            "<Password/><b>1</b>"
        );
    }

    #[test]
    fn form_and_json_fields() {
        let body = b"merchant_id=123456&merchant_oid=SIP1&return_amount=11.97&paytr_token=bXlUb2tlbj0%2FKw%3D%3D";
        assert_eq!(
            blank_form_fields(body, &["paytr_token"]),
            "merchant_id=123456&merchant_oid=SIP1&return_amount=11.97&paytr_token=%5BREDACTED%5D"
        );
        let mut v = serde_json::json!({"a": [{"Merchant_Key": "k"}], "MERCHANT": "M"});
        blank_json_fields(&mut v, &["MERCHANT_KEY"]);
        assert_eq!(
            v,
            serde_json::json!({"a": [{"Merchant_Key": REDACTED}], "MERCHANT": "M"})
        );
    }
}
