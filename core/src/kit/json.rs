//! Reading JSON from providers without losing money to floating point.
//!
//! `serde_json` turns a number with a fraction into an `f64`, so a literal
//! such as `29.999999999999999` becomes `30.0` before anyone can see it. An
//! amount must never be rounded, so [`from_slice_exact`] refuses a document
//! holding any number literal whose value an `f64` (or `i64`/`u64`) does not
//! carry exactly; every number it lets through prints back (`Number`'s
//! `Display`) as the same decimal value it was written with. Nesting is
//! bounded by `serde_json`'s recursion limit (128), so no document can
//! exhaust the stack.

use serde_json::Value;

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not JSON (or nested too deeply).
    #[error("not JSON: {0}")]
    Syntax(String),
    /// A number that would be rounded.
    #[error("the number {0} cannot be read exactly")]
    Inexact(String),
}

/// A decimal number as sign, significant digits and a power of ten.
fn normalize(literal: &str) -> Option<(bool, String, i64)> {
    let (neg, rest) = match literal.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, literal),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, ""),
    };
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let exp = exp.checked_sub(i64::try_from(frac.len()).ok()?)?;
    let trimmed_start = digits.trim_start_matches('0');
    let trailing = trimmed_start.len() - trimmed_start.trim_end_matches('0').len();
    let sig = trimmed_start.trim_end_matches('0').to_owned();
    if sig.is_empty() {
        return Some((false, String::new(), 0));
    }
    Some((neg, sig, exp.checked_add(i64::try_from(trailing).ok()?)?))
}

/// Checks every number literal of `text` (outside strings).
fn check_numbers(text: &[u8]) -> Result<(), JsonError> {
    let mut i = 0;
    let mut in_string = false;
    while i < text.len() {
        let b = text[i];
        if in_string {
            match b {
                b'\\' => i += 2,
                b'"' => {
                    in_string = false;
                    i += 1;
                }
                _ => i += 1,
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < text.len()
                    && matches!(text[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let literal = std::str::from_utf8(&text[start..i]).unwrap_or("");
                let Ok(Value::Number(n)) = serde_json::from_str::<Value>(literal) else {
                    // Not a valid number: the parser will say so.
                    continue;
                };
                if normalize(literal) != normalize(&n.to_string()) {
                    return Err(JsonError::Inexact(literal.to_owned()));
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Parses `bytes` as JSON, refusing numbers that would be rounded.
pub fn from_slice_exact(bytes: &[u8]) -> Result<Value, JsonError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| JsonError::Syntax(e.to_string()))?;
    check_numbers(bytes)?;
    Ok(v)
}

/// Reads a JSON answer by the contract's rule, for JSON providers' `resume`:
/// a transport error becomes [`Outcome::from_transport_error`](crate::Outcome::from_transport_error) (`failed`
/// only when nothing was sent), and a 5xx or a body that is not one JSON
/// value (HTML, truncated, two values, a number that would be rounded) becomes
/// [`Outcome::unparseable`](crate::Outcome::unparseable) (`unknown`), boxed. Any other status comes back with
/// its document: what a 2xx or 4xx means is the provider's to say.
///
/// ```
/// use payops_core::kit::json::json_answer;
/// use payops_core::{HttpResponse, Status};
/// let ok = json_answer(Ok(HttpResponse::new(404, "application/json", r#"{"code":"x"}"#)));
/// assert_eq!(ok.unwrap().0, 404);
/// let html = json_answer(Ok(HttpResponse::new(200, "text/html", "<html>")));
/// assert_eq!(html.unwrap_err().status, Status::Unknown);
/// let five = json_answer(Ok(HttpResponse::new(503, "application/json", "{}")));
/// assert_eq!(five.unwrap_err().status, Status::Unknown);
/// ```
pub fn json_answer(
    response: Result<crate::HttpResponse, crate::TransportError>,
) -> Result<(u16, Value), Box<crate::Outcome>> {
    let response = response.map_err(|e| Box::new(crate::Outcome::from_transport_error(&e)))?;
    if response.status >= 500 {
        return Err(Box::new(crate::Outcome::unparseable(
            response.status,
            format!("HTTP {} from the provider", response.status),
            &response.body,
        )));
    }
    match from_slice_exact(&response.body) {
        Ok(v) => Ok((response.status, v)),
        Err(e) => Err(Box::new(crate::Outcome::unparseable(
            response.status,
            format!("the answer is not one JSON document: {e}"),
            &response.body,
        ))),
    }
}

/// A JSON value as text: a non-empty string, or a number as written
/// (`"006"` and `6` are both answers' codes). Anything else is `None`.
///
/// ```
/// use payops_core::kit::json::text;
/// assert_eq!(text(&serde_json::json!(6)).as_deref(), Some("6"));
/// assert_eq!(text(&serde_json::json!("")), None);
/// ```
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_numbers_pass_and_rounded_ones_are_refused() {
        for ok in [
            r#"{"AMOUNT": 29.99}"#,
            r#"{"AMOUNT": 5}"#,
            r#"{"AMOUNT": 5.00}"#,
            r#"{"AMOUNT": -2.50, "X": [1, 2.5e2, 0.1]}"#,
            r#"{"AMOUNT": "29.999999999999999"}"#,
            r#"{"AMOUNT": 18446744073709551615}"#,
            r#"{"AMOUNT": -9223372036854775808}"#,
            r#"{"S": "a \" 29.999999999999999 \\", "AMOUNT": 1.5}"#,
        ] {
            assert!(from_slice_exact(ok.as_bytes()).is_ok(), "{ok}");
        }
        for bad in [
            r#"{"AMOUNT": 29.999999999999999}"#,
            r#"{"AMOUNT": 0.30000000000000001}"#,
            r#"{"AMOUNT": 18446744073709551616}"#,
            r#"{"AMOUNT": 1.00000000000000000001}"#,
            r#"[1e400]"#,
        ] {
            assert!(from_slice_exact(bad.as_bytes()).is_err(), "{bad}");
        }
        // Deep nesting is refused, never a stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            from_slice_exact(deep.as_bytes()),
            Err(JsonError::Syntax(_))
        ));
    }
}
