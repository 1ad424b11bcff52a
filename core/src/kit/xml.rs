//! XML for providers that speak it (SOAP services such as TurkPos, plain
//! XML APIs such as NestPay): a small namespace-agnostic tree read with
//! quick-xml within bounds (size, depth, element count; no DOCTYPE, no
//! entities beyond XML's five and character references), documents and
//! SOAP 1.1 envelopes written with every value escaped, and SOAP fault
//! detection.
//!
//! ```
//! use payops_core::kit::xml::{Field, document, parse};
//! let body = document("CC5Request", &[("Name", Field::Text("api<user>")), ("Total", Field::Text("10.00"))]);
//! assert!(body.contains("<Name>api&lt;user&gt;</Name>"));
//! let root = parse(&body).unwrap();
//! assert_eq!(root.child_text("Name"), Some("api<user>"));
//! ```

use quick_xml::Reader;
use quick_xml::events::Event;

/// An element: local name (prefix dropped), text, children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Local name (`Envelope` for `soap:Envelope`).
    pub name: String,
    /// Concatenated text directly inside the element, trimmed.
    pub text: String,
    /// Child elements in order.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child called `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The first descendant (depth-first, self included) called `name`.
    pub fn find(&self, name: &str) -> Option<&Element> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }

    /// The text of the first child called `name`.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// Every leaf below this element as (name, text), depth-first.
    pub fn leaves(&self) -> Vec<(&str, &str)> {
        let mut out = Vec::new();
        fn walk<'a>(e: &'a Element, out: &mut Vec<(&'a str, &'a str)>) {
            for c in &e.children {
                if c.children.is_empty() {
                    out.push((c.name.as_str(), c.text.as_str()));
                } else {
                    walk(c, out);
                }
            }
        }
        walk(self, &mut out);
        out
    }

    /// The element as JSON: a leaf is its text, an element with children
    /// an object of them (a name met twice an array of its elements, in
    /// order). What a provider keeps as an answer's `raw`.
    ///
    /// ```
    /// let e = payops_core::kit::xml::parse("<R><A>1</A><B><C>x</C><C>y</C></B></R>").unwrap();
    /// assert_eq!(e.to_json(), serde_json::json!({"A": "1", "B": {"C": ["x", "y"]}}));
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        if self.children.is_empty() {
            return Value::String(self.text.clone());
        }
        let mut at = std::collections::HashMap::new();
        let mut groups: Vec<(&str, Vec<Value>)> = Vec::new();
        for c in &self.children {
            let i = *at.entry(c.name.as_str()).or_insert_with(|| {
                groups.push((c.name.as_str(), Vec::new()));
                groups.len() - 1
            });
            groups[i].1.push(c.to_json());
        }
        let one = |mut v: Vec<Value>| {
            if v.len() == 1 {
                v.remove(0)
            } else {
                Value::Array(v)
            }
        };
        Value::Object(
            groups
                .into_iter()
                .map(|(n, v)| (n.to_owned(), one(v)))
                .collect(),
        )
    }

    /// The element without its descendants called one of `names` (the
    /// request's credential fields an answer may echo).
    pub fn without(mut self, names: &[&str]) -> Element {
        self.children.retain(|c| !names.contains(&c.name.as_str()));
        self.children = self
            .children
            .into_iter()
            .map(|c| c.without(names))
            .collect();
        self
    }
}

/// Reads a plain-XML answer whose root is `root`, in the charset its
/// `Content-Type` (or XML declaration) gives, with the elements `blank`
/// names (credentials an answer may echo) left out: `(HTTP status, root,
/// raw)`, `raw` being `{"http_status": …, "<root>": root as JSON}`. The
/// outcome that ends the operation instead: a transport error by the
/// contract's rule, an unreadable body or another root `unknown`
/// (`provider_error`, the body kept with `blank` elements blanked), any
/// HTTP status but 2xx `unknown` (`provider_error`, the provider may have
/// acted: plain XML APIs answer their refusals with 200).
pub fn xml_answer(
    answer: crate::Answer,
    root: &str,
    blank: &[&str],
) -> Result<(u16, Element, serde_json::Value), Box<crate::Outcome>> {
    use crate::{Outcome, Reason, Status};
    let r = answer.map_err(|e| Box::new(Outcome::from_transport_error(&e)))?;
    let text = super::charset::decode(&r.body, r.header("Content-Type"));
    let Some(doc) = parse(&text).ok().filter(|d| d.name == root) else {
        let kept = super::redact::blank_xml_elements(&text, blank);
        let why = format!("no {root} document");
        return Err(Box::new(Outcome::unparseable(
            r.status,
            why,
            kept.as_bytes(),
        )));
    };
    let doc = doc.without(blank);
    let raw = serde_json::json!({"http_status": r.status, root: doc.to_json()});
    if !(200..300).contains(&r.status) {
        let mut o = Outcome::of(Status::Unknown, Reason::ProviderError);
        o.provider_message = Some(format!("HTTP {}: the provider may have acted", r.status));
        o.raw = raw;
        return Err(Box::new(o));
    }
    Ok((r.status, doc, raw))
}

fn local(name: &str) -> String {
    match name.rsplit_once(':') {
        Some((_, l)) => l.to_owned(),
        None => name.to_owned(),
    }
}

fn resolve_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

/// A start tag's attributes must be `name="value"` pairs: quick-xml reads
/// them lazily, so a malformed tag (`<Sonuc x>`) would otherwise pass.
fn well_formed_attributes(tag: &quick_xml::events::BytesStart<'_>) -> Result<(), String> {
    for a in tag.attributes() {
        a.map_err(|e| format!("malformed attribute in <{}>: {e}", local(tag.name().0)))?;
    }
    Ok(())
}

/// The deepest nesting [`parse`] accepts. A SOAP answer is about eight
/// levels deep; the bound keeps every recursive walk (and the tree's drop)
/// far from the stack's end, whatever a server sends.
pub const MAX_DEPTH: usize = 64;

/// The most elements [`parse`] accepts in one document.
pub const MAX_ELEMENTS: usize = 100_000;

/// The largest document [`parse`] accepts, in bytes (a provider's answer
/// is a few kilobytes; a transaction history a few hundred).
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

/// Parses a whole document into its root element. Truncated documents,
/// mismatched tags, text outside the root, a DOCTYPE (and so any entity
/// declaration), an entity other than XML's five, nesting deeper than
/// [`MAX_DEPTH`], more than [`MAX_ELEMENTS`] elements and more than
/// [`MAX_BYTES`] bytes are errors.
pub fn parse(text: &str) -> Result<Element, String> {
    if text.len() > MAX_BYTES {
        return Err(format!(
            "document of {} bytes is larger than {MAX_BYTES}",
            text.len()
        ));
    }
    // XML 1.0 has no place for control characters other than tab, line
    // feed and carriage return (a NUL is never part of a real answer).
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(format!(
            "control character U+{:04X} in the document",
            c as u32
        ));
    }
    let mut elements = 0usize;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("XML error at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(s) => {
                well_formed_attributes(&s)?;
                elements += 1;
                if stack.len() >= MAX_DEPTH || elements > MAX_ELEMENTS {
                    return Err(format!(
                        "document nests deeper than {MAX_DEPTH} levels or has more than {MAX_ELEMENTS} elements"
                    ));
                }
                stack.push(Element {
                    name: local(s.name().0),
                    ..Default::default()
                })
            }
            Event::Empty(s) => {
                well_formed_attributes(&s)?;
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(format!("document has more than {MAX_ELEMENTS} elements"));
                }
                let e = Element {
                    name: local(s.name().0),
                    ..Default::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(e),
                    None if root.is_none() => root = Some(e),
                    None => return Err("more than one root element".into()),
                }
            }
            Event::End(_) => {
                let mut done = stack.pop().ok_or("unbalanced end tag")?;
                done.text = done.text.trim().to_owned();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None if root.is_none() => root = Some(done),
                    None => return Err("more than one root element".into()),
                }
            }
            Event::Text(t) => {
                let s = (*t).to_owned();
                match stack.last_mut() {
                    Some(e) => e.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err("text outside the root element".into()),
                }
            }
            Event::CData(t) => {
                if let Some(e) = stack.last_mut() {
                    e.text.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                let name = (*r).to_owned();
                let c = resolve_entity(&name).ok_or_else(|| format!("unknown entity &{name};"))?;
                match stack.last_mut() {
                    Some(e) => e.text.push(c),
                    None => return Err("entity outside the root element".into()),
                }
            }
            // No DTD: entity declarations (and their expansion bombs) and
            // external references never get a chance.
            Event::DocType(_) => return Err("a DOCTYPE is not accepted".into()),
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(format!(
            "document ends inside <{}> (truncated)",
            stack.last().map(|e| e.name.as_str()).unwrap_or("")
        ));
    }
    root.ok_or_else(|| "no root element".to_owned())
}

/// Escapes text for element content and attribute values (`&`, `<`, `>`,
/// `"`, `'`).
pub fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

/// The SOAP 1.1 namespace.
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// A SOAP 1.1 envelope around `<method xmlns="{namespace}">` with `fields`
/// in order. Every value is escaped.
pub fn soap_envelope(method: &str, namespace: &str, fields: &[(&str, Field<'_>)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<soap:Envelope xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">\n<soap:Body>\n",
    );
    s.push_str(&format!("<{method} xmlns=\"{}\">\n", escape(namespace)));
    write_fields(&mut s, fields);
    s.push_str(&format!("</{method}>\n</soap:Body>\n</soap:Envelope>\n"));
    s
}

/// A plain XML document: `<root>` with `fields` in order, after an XML
/// declaration (UTF-8). Every value is escaped.
pub fn document(root: &str, fields: &[(&str, Field<'_>)]) -> String {
    let mut s = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<{root}>\n");
    write_fields(&mut s, fields);
    s.push_str(&format!("</{root}>\n"));
    s
}

/// A value in a document.
pub enum Field<'a> {
    /// Escaped text.
    Text(&'a str),
    /// Nested elements.
    Group(Vec<(&'a str, Field<'a>)>),
}

/// Writes `fields` in order, one element a line.
pub fn write_fields(s: &mut String, fields: &[(&str, Field<'_>)]) {
    for (name, f) in fields {
        write_field(s, name, f);
    }
}

fn write_field(s: &mut String, name: &str, f: &Field<'_>) {
    match f {
        Field::Text(t) => s.push_str(&format!("<{name}>{}</{name}>\n", escape(t))),
        Field::Group(items) => {
            s.push_str(&format!("<{name}>\n"));
            write_fields(s, items);
            s.push_str(&format!("</{name}>\n"));
        }
    }
}

/// A SOAP 1.1 fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `faultcode`, e.g. `soap:Client`.
    pub code: String,
    /// `faultstring`.
    pub message: String,
}

impl Fault {
    /// True for `Client` faults: the server refused the message as it was
    /// (malformed, invalid), so it did not act on it.
    pub fn is_client(&self) -> bool {
        let local = self.code.rsplit(':').next().unwrap_or(&self.code);
        local.starts_with("Client")
            || local.starts_with("VersionMismatch")
            || local.starts_with("MustUnderstand")
    }
}

/// The `Body` of a SOAP envelope, and its fault if it holds one.
pub fn soap_body(root: &Element) -> Result<(&Element, Option<Fault>), String> {
    if root.name != "Envelope" {
        return Err(format!(
            "root element is <{}>, not a SOAP Envelope",
            root.name
        ));
    }
    let body = root.child("Body").ok_or("SOAP Envelope has no Body")?;
    let fault = body.child("Fault").map(|f| Fault {
        code: f.child_text("faultcode").unwrap_or_default().to_owned(),
        message: f.child_text("faultstring").unwrap_or_default().to_owned(),
    });
    Ok((body, fault))
}

/// A SOAP 1.1 fault document (for simulators).
pub fn fault_document(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<soap:Envelope xmlns:soap=\"{SOAP_NS}\"><soap:Body><soap:Fault><faultcode>{}</faultcode><faultstring>{}</faultstring></soap:Fault></soap:Body></soap:Envelope>",
        escape(code),
        escape(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, content_type: &str, body: &[u8]) -> crate::Answer {
        Ok(crate::HttpResponse::new(
            status,
            content_type,
            body.to_vec(),
        ))
    }

    #[test]
    fn an_xml_answer_leaves_out_echoed_credentials_in_its_root_and_raw() {
        // NestPay echoes what it was sent, in ISO-8859-9 (İ is 0xDD).
        let body = b"<?xml version=\"1.0\" encoding=\"ISO-8859-9\"?><CC5Response><Password>s3cr3t-pass-99</Password><ErrMsg>\xddade</ErrMsg><Extra><Password>s3cr3t-pass-99</Password><TRX1>a</TRX1><TRX1>b</TRX1></Extra></CC5Response>";
        let (status, root, raw) =
            xml_answer(answer(200, "text/xml", body), "CC5Response", &["Password"]).unwrap();
        assert_eq!(status, 200);
        assert_eq!(root.child_text("ErrMsg"), Some("İade"));
        assert!(root.find("Password").is_none());
        assert_eq!(
            raw,
            serde_json::json!({"http_status": 200, "CC5Response": {"ErrMsg": "İade", "Extra": {"TRX1": ["a", "b"]}}})
        );
        assert!(!raw.to_string().contains("s3cr3t"));
    }

    #[test]
    fn an_xml_answer_that_cannot_be_taken_ends_unknown() {
        use crate::{Reason, Status};
        // A 4xx or 5xx document: the provider may have acted.
        let o = *xml_answer(answer(400, "text/xml", b"<R><A>1</A></R>"), "R", &[]).unwrap_err();
        assert_eq!(
            (o.status, o.reason),
            (Status::Unknown, Some(Reason::ProviderError))
        );
        assert_eq!(o.raw["R"]["A"], "1");
        // Another root, or no XML: unparseable, the credential blanked.
        for body in [
            &b"<Other><Password>s3cr3t-pass-99</Password></Other>"[..],
            b"<html>",
        ] {
            let o = *xml_answer(answer(200, "text/xml", body), "R", &["Password"]).unwrap_err();
            assert_eq!(
                (o.status, o.reason),
                (Status::Unknown, Some(Reason::ProviderError))
            );
            assert!(!o.raw.to_string().contains("s3cr3t"), "{}", o.raw);
        }
        // Nothing sent: failed.
        let refused = crate::TransportError::new(crate::TransportErrorKind::Connect, "refused");
        assert_eq!(
            xml_answer(Err(refused), "R", &[]).unwrap_err().status,
            Status::Failed
        );
    }

    #[test]
    fn prefixes_and_default_namespaces_parse_alike() {
        for doc in [
            "<soap:Envelope xmlns:soap='x'><soap:Body><R xmlns='t'><Sonuc>1</Sonuc></R></soap:Body></soap:Envelope>",
            "<s:Envelope xmlns:s='x'><s:Body><R><Sonuc>1</Sonuc></R></s:Body></s:Envelope>",
            "<SOAP-ENV:Envelope xmlns:SOAP-ENV='x'><SOAP-ENV:Body><ns1:R xmlns:ns1='t'><ns1:Sonuc>1</ns1:Sonuc></ns1:R></SOAP-ENV:Body></SOAP-ENV:Envelope>",
            "<Envelope xmlns='x'><Body><R><Sonuc>1</Sonuc></R></Body></Envelope>",
        ] {
            let root = parse(doc).unwrap();
            let (body, fault) = soap_body(&root).unwrap();
            assert!(fault.is_none());
            assert_eq!(body.find("Sonuc").unwrap().text, "1", "{doc}");
        }
    }

    #[test]
    fn truncated_and_broken_documents_are_errors() {
        assert!(parse("<a><b>1</b>").unwrap_err().contains("truncated"));
        assert!(parse("<a><b>1</a>").is_err());
        assert!(parse("").is_err());
        assert!(parse("<html><body>oops").is_err());
    }

    #[test]
    fn entities_round_trip() {
        let hostile = "<x>&\"'</Siparis_ID><Durum>IPTAL</Durum>";
        let doc = format!("<a>{}</a>", escape(hostile));
        assert_eq!(parse(&doc).unwrap().text, hostile);
        assert_eq!(parse("<a>&#x41;&#66;</a>").unwrap().text, "AB");
    }

    #[test]
    fn end_tag_with_space_is_accepted() {
        assert_eq!(
            parse("<a><Durum>IADE</Durum ></a>")
                .unwrap()
                .child_text("Durum"),
            Some("IADE")
        );
    }

    #[test]
    fn doctype_and_entity_bombs_are_refused() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><a>&lol2;</a>"#;
        assert!(parse(bomb).unwrap_err().contains("DOCTYPE"));
        let external = r#"<?xml version="1.0"?><!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>"#;
        assert!(parse(external).unwrap_err().contains("DOCTYPE"));
        assert!(
            parse("<a>&nbsp;</a>")
                .unwrap_err()
                .contains("unknown entity")
        );
    }

    #[test]
    fn size_and_depth_are_bounded() {
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).unwrap_err().contains("deeper"));
        let ok = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
        let big = format!("<a>{}</a>", "x".repeat(MAX_BYTES));
        assert!(parse(&big).unwrap_err().contains("larger than"));
    }

    /// NestPay (EST) API answers as Payten's integration guide prints them
    /// (`CC5Response` with `Extra` fields), and a request written with the
    /// same fields as the guide's `CC5Request` sample.
    #[test]
    fn nestpay_documents_read_and_write() {
        let answer = "<?xml version=\"1.0\" encoding=\"ISO-8859-9\"?>\n<CC5Response>\n<OrderId>ORDER-17131QQFG04026575</OrderId>\n<GroupId>ORDER-17131QQFG04026575</GroupId>\n<Response>Approved</Response>\n<AuthCode>P42215</AuthCode>\n<HostRefNum>713100254466</HostRefNum>\n<ProcReturnCode>00</ProcReturnCode>\n<TransId>17131QQFG04026580</TransId>\n<ErrMsg></ErrMsg>\n<Extra>\n<SETTLEID>1143</SETTLEID>\n<TRXDATE>20170511 16:06:41</TRXDATE>\n<ERRORCODE></ERRORCODE>\n<NUMCODE>00</NUMCODE>\n</Extra>\n</CC5Response>";
        let root = parse(answer).unwrap();
        assert_eq!(root.name, "CC5Response");
        assert_eq!(root.child_text("Response"), Some("Approved"));
        assert_eq!(root.child_text("ProcReturnCode"), Some("00"));
        assert_eq!(root.child_text("ErrMsg"), Some(""));
        assert_eq!(
            root.child("Extra").and_then(|e| e.child_text("TRXDATE")),
            Some("20170511 16:06:41")
        );
        let request = document(
            "CC5Request",
            &[
                ("Name", Field::Text("API_USER")),
                ("Password", Field::Text("p&ss<word>")),
                ("ClientId", Field::Text("100100000")),
                ("Type", Field::Text("Credit")),
                ("OrderId", Field::Text("ORDER-17131QQFG04026575")),
                ("Total", Field::Text("10.00")),
                ("Currency", Field::Text("949")),
            ],
        );
        assert_eq!(
            request,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<CC5Request>\n<Name>API_USER</Name>\n<Password>p&amp;ss&lt;word&gt;</Password>\n<ClientId>100100000</ClientId>\n<Type>Credit</Type>\n<OrderId>ORDER-17131QQFG04026575</OrderId>\n<Total>10.00</Total>\n<Currency>949</Currency>\n</CC5Request>\n"
        );
        let back = parse(&request).unwrap();
        assert_eq!(back.child_text("Password"), Some("p&ss<word>"));
    }
}
