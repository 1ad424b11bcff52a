//! The normalized outcome of an operation and the envelope around it.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::TransportError;
use crate::types::OperationKind;

/// The four outcomes of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The provider did it.
    Succeeded,
    /// The provider accepted it but has not completed it yet.
    Pending,
    /// The provider did not do it (or it was never sent).
    Failed,
    /// We cannot know whether the provider acted; never re-sent automatically.
    Unknown,
}

impl Status {
    /// `succeeded`, `pending`, `failed` or `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Succeeded => "succeeded",
            Status::Pending => "pending",
            Status::Failed => "failed",
            Status::Unknown => "unknown",
        }
    }

    /// The CLI exit code of the contract: 0, 10, 11, 12.
    pub fn exit_code(&self) -> i32 {
        match self {
            Status::Succeeded => 0,
            Status::Pending => 10,
            Status::Failed => 11,
            Status::Unknown => 12,
        }
    }

    /// True for `succeeded` and `failed`: the provider's answer is known.
    pub fn is_final(&self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Status, String> {
        match s {
            "succeeded" => Ok(Status::Succeeded),
            "pending" => Ok(Status::Pending),
            "failed" => Ok(Status::Failed),
            "unknown" => Ok(Status::Unknown),
            _ => Err(format!(
                "{s:?} is not one of succeeded, pending, failed, unknown"
            )),
        }
    }
}

/// Why an operation is not `succeeded`: one closed vocabulary shared by
/// every provider, mapped per endpoint and per code in each provider (its
/// doc has the table). `provider_code` and `provider_message` keep what the
/// provider said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The provider refused the credentials.
    Authentication,
    /// The provider does not know the order (or store) named.
    NotFound,
    /// The request was not valid for the provider (a field error), or was
    /// refused before anything was sent.
    InvalidRequest,
    /// The amount is more than what remains to return.
    AmountExceedsRemaining,
    /// The payment is already cancelled or returned.
    AlreadyCancelled,
    /// Not allowed on this day (a same-day cancel or a later-day refund).
    NotAllowedToday,
    /// A limit of the merchant, store or provider was reached.
    Limit,
    /// The bank or the provider declined it (card, brand, block, a declined
    /// return row).
    Declined,
    /// The provider refused it without a documented cause.
    Refused,
    /// Another operation of the order is unresolved, or the amount would
    /// exceed what was paid (payops's order guard).
    Conflict,
    /// The provider could not be reached; nothing was sent.
    Unreachable,
    /// No answer in time after the request was sent.
    Timeout,
    /// The connection broke after the request was sent.
    ConnectionLost,
    /// The provider answered with a server error or an answer that cannot be
    /// read (5xx, HTML, truncated, undocumented).
    ProviderError,
    /// The answer names another order than the one sent.
    OrderMismatch,
    /// The daemon stopped, or the operation overran its deadline, while it
    /// was in flight.
    Interrupted,
    /// Reconciliation found that the provider did not carry it out.
    NotProcessed,
    /// An operator recorded the outcome.
    Operator,
    /// Nothing more specific is known.
    Unknown,
}

impl Reason {
    /// The reason as written in envelopes, e.g. `not_found`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::Authentication => "authentication",
            Reason::NotFound => "not_found",
            Reason::InvalidRequest => "invalid_request",
            Reason::AmountExceedsRemaining => "amount_exceeds_remaining",
            Reason::AlreadyCancelled => "already_cancelled",
            Reason::NotAllowedToday => "not_allowed_today",
            Reason::Limit => "limit",
            Reason::Declined => "declined",
            Reason::Refused => "refused",
            Reason::Conflict => "conflict",
            Reason::Unreachable => "unreachable",
            Reason::Timeout => "timeout",
            Reason::ConnectionLost => "connection_lost",
            Reason::ProviderError => "provider_error",
            Reason::OrderMismatch => "order_mismatch",
            Reason::Interrupted => "interrupted",
            Reason::NotProcessed => "not_processed",
            Reason::Operator => "operator",
            Reason::Unknown => "unknown",
        }
    }

    /// Every reason, in declaration order.
    pub const ALL: [Reason; 19] = [
        Reason::Authentication,
        Reason::NotFound,
        Reason::InvalidRequest,
        Reason::AmountExceedsRemaining,
        Reason::AlreadyCancelled,
        Reason::NotAllowedToday,
        Reason::Limit,
        Reason::Declined,
        Reason::Refused,
        Reason::Conflict,
        Reason::Unreachable,
        Reason::Timeout,
        Reason::ConnectionLost,
        Reason::ProviderError,
        Reason::OrderMismatch,
        Reason::Interrupted,
        Reason::NotProcessed,
        Reason::Operator,
        Reason::Unknown,
    ];
}

/// What a provider reports for one operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Outcome {
    /// The normalized status.
    pub status: Status,
    /// The provider's reference for the operation (its transaction,
    /// receipt or refund id).
    pub provider_reference: Option<String>,
    /// The provider's result code, as text (e.g. `"0"`, `"102"`).
    pub provider_code: Option<String>,
    /// The provider's message.
    pub provider_message: Option<String>,
    /// Why it is not `succeeded` (set for `failed` and `unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Operation-specific typed fields.
    #[serde(default)]
    pub details: Value,
    /// The provider's response as received, credentials removed.
    #[serde(default)]
    pub raw: Value,
}

impl Outcome {
    /// An outcome with only a status.
    pub fn new(status: Status) -> Outcome {
        Outcome {
            status,
            provider_reference: None,
            provider_code: None,
            provider_message: None,
            reason: match status {
                Status::Failed | Status::Unknown => Some(Reason::Unknown),
                _ => None,
            },
            details: Value::Object(Default::default()),
            raw: Value::Object(Default::default()),
        }
    }

    /// An outcome with a status and its reason (`reason` is dropped for
    /// `succeeded` and `pending`, which carry none).
    ///
    /// ```
    /// use payops_core::{Outcome, Reason, Status};
    /// let o = Outcome::of(Status::Unknown, Reason::ProviderError);
    /// assert_eq!(o.reason, Some(Reason::ProviderError));
    /// assert_eq!(Outcome::of(Status::Pending, Reason::Unknown).reason, None);
    /// ```
    pub fn of(status: Status, reason: Reason) -> Outcome {
        Outcome::new(status).with(status, Some(reason))
    }

    /// Sets the status and its reason together.
    pub fn with(mut self, status: Status, reason: Option<Reason>) -> Outcome {
        self.status = status;
        self.reason = match status {
            Status::Failed | Status::Unknown => Some(reason.unwrap_or(Reason::Unknown)),
            _ => None,
        };
        self
    }

    /// The outcome of a transport failure, by the contract's rule: nothing sent
    /// is `failed`; possibly sent is `unknown`.
    pub fn from_transport_error(err: &TransportError) -> Outcome {
        let status = if err.maybe_sent() {
            Status::Unknown
        } else {
            Status::Failed
        };
        let mut o = Outcome::new(status);
        o.reason = Some(match err.kind {
            crate::http::TransportErrorKind::Connect => Reason::Unreachable,
            crate::http::TransportErrorKind::Timeout => Reason::Timeout,
            crate::http::TransportErrorKind::InvalidRequest => Reason::InvalidRequest,
            _ if err.maybe_sent() => Reason::ConnectionLost,
            _ => Reason::Unreachable,
        });
        o.provider_message = Some(format!("transport: {}", err.message));
        o.details = serde_json::json!({ "transport_error": err.kind });
        o
    }

    /// The answer names another order than the one `sent`: it proves
    /// nothing about this one. The outcome becomes `unknown` (reason
    /// `order_mismatch`), keeping what the answer said in
    /// `details.order_ref_mismatch` (`sent`, `answered`, `answer_status`)
    /// beside the other details. Every provider whose answers name the
    /// order applies it the same way.
    ///
    /// ```
    /// use payops_core::{Outcome, Status};
    /// let o = Outcome::new(Status::Succeeded).order_mismatch("A-1", "A-2");
    /// assert_eq!(o.status, Status::Unknown);
    /// assert_eq!(o.details["order_ref_mismatch"]["answer_status"], "succeeded");
    /// ```
    pub fn order_mismatch(mut self, sent: &str, answered: &str) -> Outcome {
        let was = self.status;
        self.status = Status::Unknown;
        self.reason = Some(Reason::OrderMismatch);
        let mismatch =
            serde_json::json!({"sent": sent, "answered": answered, "answer_status": was});
        match &mut self.details {
            Value::Object(m) => {
                m.insert("order_ref_mismatch".into(), mismatch);
            }
            other => *other = serde_json::json!({ "order_ref_mismatch": mismatch }),
        }
        self
    }

    /// An `unknown` outcome for a response that could not be understood
    /// (5xx, HTML, truncated or malformed body): the provider may have acted.
    pub fn unparseable(status: u16, reason: impl Into<String>, body: &[u8]) -> Outcome {
        let mut o = Outcome::new(Status::Unknown);
        o.reason = Some(Reason::ProviderError);
        o.provider_message = Some(reason.into());
        let text = String::from_utf8_lossy(body);
        let mut cut: String = text.chars().take(2000).collect();
        if cut.len() < text.len() {
            cut.push('…');
        }
        o.raw = serde_json::json!({ "http_status": status, "body": cut });
        o
    }
}

/// The outcome envelope of the contract, as returned by the API and CLI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Envelope {
    /// The operation id (`op_...`).
    pub operation_id: String,
    /// The account name.
    pub account: String,
    /// The provider id.
    pub provider: String,
    /// The operation.
    pub operation: OperationKind,
    /// The normalized status.
    pub status: Status,
    /// The provider's reference.
    pub provider_reference: Option<String>,
    /// The provider's result code.
    pub provider_code: Option<String>,
    /// The provider's message.
    pub provider_message: Option<String>,
    /// Why it is not `succeeded`: set for `failed` and `unknown`, null
    /// otherwise (absent in envelopes stored by 0.1.0).
    #[serde(default)]
    pub reason: Option<Reason>,
    /// The idempotency key given by the caller.
    pub idempotency_key: Option<String>,
    /// When the operation started (RFC 3339).
    pub started_at: DateTime<FixedOffset>,
    /// When the operation finished (RFC 3339).
    pub finished_at: DateTime<FixedOffset>,
    /// Operation-specific fields.
    pub details: Value,
    /// The provider's response, credentials removed.
    pub raw: Value,
}

/// Who did what, for building an [`Envelope`].
#[derive(Debug, Clone)]
pub struct EnvelopeMeta {
    /// The operation id.
    pub operation_id: String,
    /// The account name.
    pub account: String,
    /// The provider id.
    pub provider: String,
    /// The operation.
    pub operation: OperationKind,
    /// The caller's idempotency key.
    pub idempotency_key: Option<String>,
    /// Start time.
    pub started_at: DateTime<FixedOffset>,
}

impl Envelope {
    /// Wraps an outcome.
    pub fn new(
        meta: EnvelopeMeta,
        outcome: Outcome,
        finished_at: DateTime<FixedOffset>,
    ) -> Envelope {
        Envelope {
            operation_id: meta.operation_id,
            account: meta.account,
            provider: meta.provider,
            operation: meta.operation,
            status: outcome.status,
            provider_reference: outcome.provider_reference,
            provider_code: outcome.provider_code,
            provider_message: outcome.provider_message,
            reason: match outcome.status {
                Status::Failed | Status::Unknown => Some(outcome.reason.unwrap_or(Reason::Unknown)),
                _ => None,
            },
            idempotency_key: meta.idempotency_key,
            started_at: meta.started_at,
            finished_at,
            details: outcome.details,
            raw: outcome.raw,
        }
    }
}

/// Replaces every occurrence of any of `secrets`, and every piece of 8
/// characters or more of one, in every string (and object key) of `value`
/// with [`REDACTED`](crate::secret::REDACTED): for free-form values such
/// as a provider's raw answer (see [`scrub_string`]).
pub fn scrub_value(value: &mut Value, secrets: &[String]) {
    let needles = cached(secrets);
    if !needles.whole.is_empty() {
        scrub_value_with(value, &needles);
    }
}

/// Replaces every whole occurrence of any of `secrets` in `value`, but not
/// pieces of them: for typed fields that carry proof (transaction ids,
/// references, amounts, dates), which a coincidental 8-character piece must
/// never alter.
pub fn scrub_typed_value(value: &mut Value, secrets: &[String]) {
    let needles = Needles::of(secrets, false);
    if !needles.whole.is_empty() {
        scrub_value_with(value, &needles);
    }
}

fn scrub_value_with(value: &mut Value, needles: &Needles) {
    match value {
        Value::String(s) => needles.scrub(s),
        Value::Array(items) => items.iter_mut().for_each(|v| scrub_value_with(v, needles)),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (mut k, mut v) in entries {
                needles.scrub(&mut k);
                scrub_value_with(&mut v, needles);
                map.insert(k, v);
            }
        }
        _ => {}
    }
}

/// The smallest piece of a credential that is blanked wherever it appears
/// in a provider's text.
pub const PIECE_CHARS: usize = 8;

/// The lower-case forms of every credential worth looking for (4
/// characters or more) and, when asked, an automaton over every
/// [`PIECE_CHARS`]-character window of each form: computed once per scrub
/// of a whole outcome.
struct Needles {
    whole: Vec<String>,
    pieces: Option<aho_corasick::AhoCorasick>,
}

/// The automatons already built, by the credentials they look for: an
/// account's set is built once, not on every outcome (the build is what
/// costs; scanning is linear). Bounded: cleared past 1,024 sets.
fn cached(secrets: &[String]) -> std::sync::Arc<Needles> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<Vec<String>, Arc<Needles>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(n) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(secrets) {
        return n.clone();
    }
    let n = Arc::new(Needles::of(secrets, true));
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    if c.len() >= 1024 {
        c.clear();
    }
    c.insert(secrets.to_vec(), n.clone());
    n
}

impl Needles {
    fn of(secrets: &[String], pieces: bool) -> Needles {
        let mut whole = Vec::new();
        let mut windows = Vec::new();
        for s in secrets {
            // Very short values would redact unrelated text; credentials are longer.
            if s.chars().count() < 4 {
                continue;
            }
            for v in variants(s) {
                if v.is_empty() {
                    continue;
                }
                if pieces {
                    let at: Vec<usize> =
                        v.char_indices().map(|(i, _)| i).chain([v.len()]).collect();
                    for w in at.windows(PIECE_CHARS + 1) {
                        windows.push(v[w[0]..w[PIECE_CHARS]].to_owned());
                    }
                }
                whole.push(v.to_ascii_lowercase());
            }
        }
        windows.sort();
        windows.dedup();
        let pieces = (!windows.is_empty())
            .then(|| {
                aho_corasick::AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA))
                    .build(&windows)
                    .ok()
            })
            .flatten();
        Needles { whole, pieces }
    }

    fn scrub(&self, text: &mut String) {
        // Nothing of 4 characters or more fits in a shorter text.
        if self.whole.is_empty() || text.len() < 4 {
            return;
        }
        let lower = text.to_ascii_lowercase();
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        if let Some(ac) = &self.pieces {
            ranges.extend(
                ac.find_overlapping_iter(text.as_str())
                    .map(|m| (m.start(), m.end())),
            );
        }
        for needle in &self.whole {
            let mut from = 0;
            while let Some(i) = lower[from..].find(needle.as_str()) {
                ranges.push((from + i, from + i + needle.len()));
                from += i + 1;
                while !lower.is_char_boundary(from) {
                    from += 1;
                }
            }
            // A cut text ending in a prefix of the credential.
            if let Some(body) = lower.strip_suffix('…') {
                for (i, _) in needle.char_indices().skip(4) {
                    if body.ends_with(&needle[..i]) {
                        ranges.push((body.len() - i, body.len()));
                        break;
                    }
                }
            }
        }
        if ranges.is_empty() {
            return;
        }
        ranges.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (a, b) in ranges {
            if b <= at {
                continue;
            }
            let a = a.max(at);
            out.push_str(&text[at..a]);
            if !out.ends_with(crate::secret::REDACTED) {
                out.push_str(crate::secret::REDACTED);
            }
            at = b;
        }
        out.push_str(&text[at..]);
        *text = out;
    }
}

/// The forms a credential can take in a provider's answer or an error
/// text: as is, XML-escaped, JSON-escaped and percent-encoded.
fn variants(secret: &str) -> Vec<String> {
    let xml = secret
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;");
    let json = secret
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('/', "\\/");
    let percent: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let mut v = vec![secret.to_owned(), xml, json, percent];
    v.sort();
    v.dedup();
    v
}

/// Replaces every occurrence of any of `secrets` in `text`, in any letter
/// case and in its escaped forms; every piece of one of
/// [`PIECE_CHARS`] characters or more (a provider that echoes part of a
/// key mid-text); and the start of one (4 characters or more) that ends a
/// cut text (`…`): no part of 8 characters or more of a credential
/// survives.
///
/// A human-chosen credential may share 8 letters with ordinary text
/// (`merchant…`): that text is blanked too (`payops config check` warns
/// about such credentials). Providers blank the fields that carry
/// credentials structurally before anything else happens.
pub fn scrub_string(text: &mut String, secrets: &[String]) {
    cached(secrets).scrub(text);
}

/// Scrubs an outcome: its provider message and raw response of every
/// credential and every piece of one ([`scrub_string`]); its typed fields
/// (details, reference, code: proof) of whole credentials only.
pub fn scrub_outcome(outcome: &mut Outcome, secrets: &[String]) {
    let text = cached(secrets);
    let typed = Needles {
        whole: text.whole.clone(),
        pieces: None,
    };
    if text.whole.is_empty() {
        return;
    }
    if let Some(m) = &mut outcome.provider_message {
        text.scrub(m);
    }
    for field in [&mut outcome.provider_reference, &mut outcome.provider_code]
        .into_iter()
        .flatten()
    {
        typed.scrub(field);
    }
    scrub_value_with(&mut outcome.details, &typed);
    scrub_value_with(&mut outcome.raw, &text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::TransportErrorKind;
    use serde_json::json;

    #[test]
    fn no_part_of_a_credential_survives_scrubbing() {
        let key = "4oK26hK8MOXrIV1bzTRVPA==".to_owned();
        let guid = "0c13d406-873b-403b-9c09-a5766840d98c".to_owned();
        let pass = "p<w&\"x'1".to_owned();
        let secrets = [key.clone(), guid.clone(), pass.clone()];
        // A body cut at 2000 characters in the middle of the key.
        let body = format!("{}{}", "x".repeat(1990), key);
        let mut o = Outcome::unparseable(500, "cut", body.as_bytes());
        scrub_outcome(&mut o, &secrets);
        let raw = o.raw.to_string();
        assert!(!raw.contains(&key[..10]), "{raw}");
        assert!(!raw.contains("4oK26h"), "{raw}");
        for text in [
            format!("guid {} here", guid.to_uppercase()),
            "pass p&lt;w&amp;&quot;x&apos;1 end".to_owned(),
            format!("json \"{}\"", pass.replace('"', "\\\"")),
            format!("url {}", "4oK26hK8MOXrIV1bzTRVPA%3D%3D"),
        ] {
            let mut t = text.clone();
            scrub_string(&mut t, &secrets);
            assert!(t.contains(crate::secret::REDACTED), "{text} -> {t}");
            for s in &secrets {
                assert!(!t.to_lowercase().contains(&s.to_lowercase()), "{t}");
            }
        }
        // Unrelated text stays as it was.
        let mut t = "RETURN_CODE 0 SUCCESS".to_owned();
        scrub_string(&mut t, &secrets);
        assert_eq!(t, "RETURN_CODE 0 SUCCESS");
        let mut v = json!({"a": {"Merchant_Key": "abc", "b": [{"MERCHANT_KEY": 1}]}, "c": "keep"});
        crate::kit::redact::blank_json_fields(&mut v, &["MERCHANT_KEY"]);
        assert_eq!(
            v,
            json!({"a": {"Merchant_Key": "[REDACTED]", "b": [{"MERCHANT_KEY": "[REDACTED]"}]}, "c": "keep"})
        );
    }

    #[test]
    fn envelope_serializes_as_contract() {
        let t = DateTime::parse_from_rfc3339("2026-11-24T10:00:00+03:00").unwrap();
        let mut o = Outcome::new(Status::Succeeded);
        o.provider_reference = Some("REF1".into());
        o.provider_code = Some("0".into());
        let env = Envelope::new(
            EnvelopeMeta {
                operation_id: "op_1".into(),
                account: "esnek-test".into(),
                provider: "esnekpos".into(),
                operation: OperationKind::SubMerchantAdjust,
                idempotency_key: None,
                started_at: t,
            },
            o,
            t,
        );
        let v = serde_json::to_value(&env).unwrap();
        assert_eq!(
            v,
            json!({
                "operation_id": "op_1", "account": "esnek-test", "provider": "esnekpos",
                "operation": "sub_merchant_adjust", "status": "succeeded",
                "provider_reference": "REF1", "provider_code": "0", "provider_message": null,
                "reason": null,
                "idempotency_key": null, "started_at": "2026-11-24T10:00:00+03:00",
                "finished_at": "2026-11-24T10:00:00+03:00", "details": {}, "raw": {}
            })
        );
        // Field order follows the contract.
        let text = serde_json::to_string(&env).unwrap();
        assert!(text.starts_with("{\"operation_id\""));
        assert!(text.find("\"status\"").unwrap() < text.find("\"provider_reference\"").unwrap());
        let back: Envelope = serde_json::from_value(v).unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn statuses() {
        for (s, text, code) in [
            (Status::Succeeded, "succeeded", 0),
            (Status::Pending, "pending", 10),
            (Status::Failed, "failed", 11),
            (Status::Unknown, "unknown", 12),
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), json!(text));
            assert_eq!(s.exit_code(), code);
            assert_eq!(text.parse::<Status>().unwrap(), s);
        }
    }

    #[test]
    fn transport_errors_follow_the_rule() {
        let refused = TransportError::new(TransportErrorKind::Connect, "refused");
        assert_eq!(
            Outcome::from_transport_error(&refused).status,
            Status::Failed
        );
        let timeout = TransportError::new(TransportErrorKind::Timeout, "after 30s");
        assert_eq!(
            Outcome::from_transport_error(&timeout).status,
            Status::Unknown
        );
        let cut = TransportError::new(TransportErrorKind::Io, "reset");
        assert_eq!(Outcome::from_transport_error(&cut).status, Status::Unknown);
        assert_eq!(
            Outcome::unparseable(502, "html", b"<html>").status,
            Status::Unknown
        );
    }

    #[test]
    fn scrubbing_removes_secrets_everywhere() {
        let mut o = Outcome::new(Status::Failed);
        o.provider_message = Some("bad key s3cr3t-key".into());
        o.raw = json!({"MERCHANT_KEY": "s3cr3t-key", "list": ["x s3cr3t-key y"], "s3cr3t-key": 1});
        scrub_outcome(&mut o, &["s3cr3t-key".into()]);
        let text = serde_json::to_string(&o).unwrap();
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("[REDACTED]"));
    }
}

#[cfg(test)]
mod piece_tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "Zq8vT2kWm4Rx9Lp3Hs6N";

    fn escaped(piece: &str) -> [String; 3] {
        [
            piece.to_owned(),
            piece.replace('/', "\\/"),
            piece.replace('&', "&amp;"),
        ]
    }

    #[test]
    fn pieces_of_eight_or_more_are_blanked_at_the_start_middle_and_end() {
        let pieces = [&KEY[..12], &KEY[4..16], &KEY[8..]];
        for piece in pieces {
            for form in escaped(piece) {
                for text in [
                    format!("{form} is not valid"),
                    format!("key {form} rejected"),
                    format!("rejected key: {form}"),
                    format!("REJECTED KEY: {}", form.to_ascii_uppercase()),
                ] {
                    let mut t = text.clone();
                    scrub_string(&mut t, &[KEY.to_owned()]);
                    for w in KEY.as_bytes().windows(PIECE_CHARS) {
                        let w = std::str::from_utf8(w).unwrap();
                        assert!(
                            !t.to_ascii_lowercase().contains(&w.to_ascii_lowercase()),
                            "{text} -> {t}"
                        );
                    }
                    assert!(t.contains(crate::secret::REDACTED), "{t}");
                }
            }
        }
        // Seven characters are not a piece: ordinary text stays.
        let mut t = format!("code {}", &KEY[..7]);
        scrub_string(&mut t, &[KEY.to_owned()]);
        assert_eq!(t, format!("code {}", &KEY[..7]));
    }

    #[test]
    fn typed_fields_keep_a_coincidental_piece_but_not_a_whole_credential() {
        // A reference that happens to contain 8 characters of the key.
        let reference = format!("TX-{}-01", &KEY[2..10]);
        let mut o = Outcome::new(Status::Succeeded);
        o.provider_reference = Some(reference.clone());
        o.details = json!({"transaction_id": reference, "amount": 1250, "whole": KEY});
        o.provider_message = Some(format!("echo {}", &KEY[2..14]));
        o.raw = json!({"note": format!("x{}y", &KEY[5..17])});
        scrub_outcome(&mut o, &[KEY.to_owned()]);
        assert_eq!(o.provider_reference.as_deref(), Some(reference.as_str()));
        assert_eq!(o.details["transaction_id"], json!(reference));
        assert_eq!(o.details["amount"], 1250);
        assert_eq!(o.details["whole"], crate::secret::REDACTED);
        let text = serde_json::to_string(&(&o.provider_message, &o.raw)).unwrap();
        assert!(
            !text.contains(&KEY[5..13]) && !text.contains(&KEY[2..10]),
            "{text}"
        );
    }
}
