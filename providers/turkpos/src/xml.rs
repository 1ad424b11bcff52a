//! A small namespace-agnostic XML tree over quick-xml, SOAP 1.1 envelope
//! building with escaping, and fault detection.

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

/// Parses a whole document into its root element. Truncated documents,
/// mismatched tags, text outside the root, nesting deeper than
/// [`MAX_DEPTH`] and more than [`MAX_ELEMENTS`] elements are errors.
pub fn parse(text: &str) -> Result<Element, String> {
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
/// TurkPos's service namespace.
pub const TURKPOS_NS: &str = "https://turkpos.com.tr/";

/// A SOAP 1.1 envelope around `<method xmlns="https://turkpos.com.tr/">` with
/// `fields` in order; each field is `(name, Field)`. Every value is escaped.
pub fn envelope(method: &str, fields: &[(&str, Field<'_>)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<soap:Envelope xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">\n<soap:Body>\n",
    );
    s.push_str(&format!("<{method} xmlns=\"{TURKPOS_NS}\">\n"));
    for (name, f) in fields {
        write_field(&mut s, name, f);
    }
    s.push_str(&format!("</{method}>\n</soap:Body>\n</soap:Envelope>\n"));
    s
}

/// A value in an envelope.
pub enum Field<'a> {
    /// Escaped text.
    Text(&'a str),
    /// Nested elements.
    Group(Vec<(&'a str, Field<'a>)>),
}

fn write_field(s: &mut String, name: &str, f: &Field<'_>) {
    match f {
        Field::Text(t) => s.push_str(&format!("<{name}>{}</{name}>\n", escape(t))),
        Field::Group(items) => {
            s.push_str(&format!("<{name}>\n"));
            for (n, f) in items {
                write_field(s, n, f);
            }
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

/// The `Body` of an envelope, and its fault if it holds one.
pub fn body(root: &Element) -> Result<(&Element, Option<Fault>), String> {
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

/// A SOAP 1.1 fault document.
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

    #[test]
    fn prefixes_and_default_namespaces_parse_alike() {
        for doc in [
            "<soap:Envelope xmlns:soap='x'><soap:Body><R xmlns='t'><Sonuc>1</Sonuc></R></soap:Body></soap:Envelope>",
            "<s:Envelope xmlns:s='x'><s:Body><R><Sonuc>1</Sonuc></R></s:Body></s:Envelope>",
            "<SOAP-ENV:Envelope xmlns:SOAP-ENV='x'><SOAP-ENV:Body><ns1:R xmlns:ns1='t'><ns1:Sonuc>1</ns1:Sonuc></ns1:R></SOAP-ENV:Body></SOAP-ENV:Envelope>",
            "<Envelope xmlns='x'><Body><R><Sonuc>1</Sonuc></R></Body></Envelope>",
        ] {
            let root = parse(doc).unwrap();
            let (body, fault) = body(&root).unwrap();
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
}
