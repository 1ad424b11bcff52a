//! The behavior suite every provider runs against its own simulator, gated
//! on the capabilities the provider declares.
//!
//! ```no_run
//! # async fn demo(provider: payops_core::driver::PluginProvider) {
//! use payops_conformance::suite::Suite;
//! use payops_core::{OperationKind, serde_json::json};
//! let report = Suite::new(provider, json!({"key": "Hq4Zt8Ww2Pm6"}))
//!     .seed(json!({"payments": [{"order_ref": "P-1", "amount": 1000}]}))
//!     .example(OperationKind::Refund, json!({"order_ref": "P-1", "amount": 500}))
//!     .run()
//!     .await;
//! report.assert_passed();
//! # }
//! ```
//!
//! What it checks:
//!
//! - **info**: every declared capability has a request and a response
//!   schema, both JSON objects, and nothing is described that is not
//!   declared; the account schema is an object;
//! - **request schema**: accepts each example, and refuses the classic bad
//!   documents made from it (a fractional, textual, zero or negative
//!   amount, a missing or empty `order_ref`, an unknown field, an array);
//! - **happy path**: each capability's example, on a fresh simulator,
//!   ends `succeeded`;
//! - **response schema**: every outcome the suite sees, wrapped in the
//!   envelope the host would send, validates against the operation's
//!   exported response schema;
//! - **no credential in output**: no credential value (the account schema's
//!   `writeOnly` properties) appears in any outcome, whole or as any
//!   6-character piece (so give the suite's account random-looking
//!   credentials, not words that occur in outcomes);
//! - **fault matrix** (operations that move money): the operation's last
//!   request — the one that acts — meets each [`Fault`]. A refused
//!   connection (nothing sent) may be `failed`; every other fault must be
//!   `unknown` (never `failed`, never `succeeded`), and latency changes
//!   nothing. The faults: latency, refused, timeout before and after the
//!   provider acts, a dropped connection, a 502 HTML page, a 503 HTML page,
//!   a truncated body, a 500 with a JSON body, a body that stalls past the
//!   read timeout, and — where the acting answer names the example's
//!   `order_ref` — the same answer naming another order;
//! - **documented answers** ([`Suite::documented`]): each literal answer
//!   copied from the provider's docs, returned to the acting request, must
//!   end in the status (and reason) the author expects from those docs;
//! - **partial then over-refund** ([`Suite::over_refund`]): the refund
//!   example succeeds, then a refund for more than remains must be `failed`
//!   with the provider's reason.
//!
//! [`Suite::run_all`] adds the reconcile checks for providers behind the
//! plugin protocol: after a lost answer and a lost request, and on scripted
//! query answers ([`Suite::reconcile_case`]).
//!
//! Not checked by the suite (a provider's own tests cover them): every
//! endpoint of a provider with several endpoints per operation (the suite
//! drives one example per operation), and reconciliation with siblings and
//! claims (which need the host's store; `host/tests` covers the host side).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use payops_core::driver::PluginProvider;
use payops_core::reconcile::Verdict;
use payops_core::serde_json::Value;
use payops_core::{
    HttpRequest, HttpResponse, HttpTransport, OperationKind, Outcome, Reason, Status,
    TransportError,
};

use crate::SimTransport;
use crate::fault::{Fault, FaultTransport};

/// A provider, an account and one valid request per capability.
pub struct Suite {
    provider: PluginProvider,
    account: Value,
    seed: Option<Value>,
    examples: BTreeMap<OperationKind, Value>,
    documented: Vec<Documented>,
    over_refund: Option<(Value, Reason)>,
    reconcile_cases: Vec<ReconcileCase>,
    request_samples: Vec<RequestSample>,
    return_cases: Vec<ReturnCase>,
}

/// A request document and the literal request body the provider's docs
/// print for it.
struct RequestSample {
    op: OperationKind,
    label: String,
    account: Value,
    document: Value,
    sample: Sample,
}

/// A request body from a provider's docs, and how it is compared with the
/// body the provider builds.
#[derive(Debug, Clone)]
pub enum Sample {
    /// JSON: the same value (key order and spacing aside).
    Json(String),
    /// XML: the same tree of elements and texts (namespace prefixes,
    /// spacing between elements, comments and the declaration aside).
    Xml(String),
    /// A form body: the same pairs in the same order.
    Form(String),
    /// The same bytes.
    Exact(Vec<u8>),
}

/// A literal answer from the provider's docs and what it must become.
struct Documented {
    op: OperationKind,
    label: String,
    answer: HttpResponse,
    status: Status,
    reason: Option<Reason>,
}

/// What a `return` must become on a simulator at a given time.
#[derive(Debug, Clone, PartialEq)]
pub enum ReturnExpect {
    /// It runs this operation (`cancel` or `refund`) alone and succeeds.
    Became(OperationKind),
    /// Its first attempt (`.0`) is declined with a documented code and the
    /// fallback (`.1`) succeeds: two attempts.
    FellBack(OperationKind, OperationKind),
    /// It runs this operation alone, which the provider declines (`failed`
    /// with this reason) with no fallback.
    Declined(OperationKind, Reason),
    /// It is refused before anything that moves money is sent, with this
    /// reason.
    Refused(Reason),
}

/// A return on a simulator at a given time.
struct ReturnCase {
    label: String,
    now: payops_core::chrono::DateTime<payops_core::chrono::FixedOffset>,
    seed: Value,
    document: Value,
    expect: ReturnExpect,
}

/// A scripted query answer and the verdict the reconcile step must reach.
struct ReconcileCase {
    op: OperationKind,
    label: String,
    query_answer: HttpResponse,
    verdict: Verdict,
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    /// Checks that passed, by name.
    pub passed: Vec<String>,
    /// Checks that failed: name and what was seen.
    pub failed: Vec<(String, String)>,
}

impl Report {
    /// Panics with every failure listed, when there is one.
    pub fn assert_passed(&self) {
        if !self.failed.is_empty() {
            let lines: Vec<String> = self
                .failed
                .iter()
                .map(|(name, why)| format!("  {name}: {why}"))
                .collect();
            panic!(
                "{} of {} conformance checks failed:\n{}",
                self.failed.len(),
                self.failed.len() + self.passed.len(),
                lines.join("\n")
            );
        }
    }

    fn check(&mut self, name: String, result: Result<(), String>) {
        match result {
            Ok(()) => self.passed.push(name),
            Err(why) => self.failed.push((name, why)),
        }
    }
}

/// What one run of an operation gave: its result, how many requests it
/// sent, how many safe ones came first, the last answer's body.
type Counted = (Result<Outcome, payops_core::Error>, usize, usize, Vec<u8>);

/// Counts requests on their way to the inner transport.
struct Counting<T> {
    inner: T,
    sent: AtomicUsize,
    /// Safe requests (a token, a read: they change nothing at the
    /// provider) among the first ones, before any request that is not.
    safe_first: AtomicUsize,
    last_body: std::sync::Mutex<Vec<u8>>,
}

#[async_trait::async_trait]
impl<T: HttpTransport> HttpTransport for Counting<T> {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let n = self.sent.fetch_add(1, Ordering::SeqCst);
        if request.safe && self.safe_first.load(Ordering::SeqCst) == n {
            self.safe_first.fetch_add(1, Ordering::SeqCst);
        }
        let r = self.inner.send(request).await;
        if let Ok(r) = &r {
            *self.last_body.lock().unwrap_or_else(|p| p.into_inner()) = r.body.clone();
        }
        r
    }
}

impl Suite {
    /// The suite for `provider` with `account` (its provider-specific
    /// config; the simulator answers whatever the URL's host).
    pub fn new(provider: PluginProvider, account: Value) -> Suite {
        Suite {
            provider,
            account,
            seed: None,
            examples: BTreeMap::new(),
            documented: Vec::new(),
            over_refund: None,
            reconcile_cases: Vec::new(),
            request_samples: Vec::new(),
            return_cases: Vec::new(),
        }
    }

    /// A request sample from the provider's docs: `document` for `op` on
    /// `account` (the docs' own credentials, so the sample's bytes can
    /// match) must produce the request body `sample`. Copy the body from
    /// the docs; never build it from the provider's own code.
    pub fn request_sample(
        mut self,
        op: OperationKind,
        label: &str,
        account: Value,
        document: Value,
        sample: Sample,
    ) -> Suite {
        self.request_samples.push(RequestSample {
            op,
            label: label.to_owned(),
            account,
            document,
            sample,
        });
        self
    }

    /// A `return` case: on a fresh simulator seeded with the suite's seed
    /// and then `seed`, with the host's and the simulator's clocks at
    /// `now`, the return `document` must end as `expect` (the provider's
    /// rule before and after its cutoff).
    pub fn return_case(
        mut self,
        label: &str,
        now: payops_core::chrono::DateTime<payops_core::chrono::FixedOffset>,
        seed: Value,
        document: Value,
        expect: ReturnExpect,
    ) -> Suite {
        self.return_cases.push(ReturnCase {
            label: label.to_owned(),
            now,
            seed,
            document,
            expect,
        });
        self
    }

    async fn return_check(&self, case: &ReturnCase) -> Result<(), String> {
        let sim = self.fresh_simulator()?;
        sim.with_sim(|s| s.seed(&case.seed))
            .map_err(|e| format!("seed: {e}"))?;
        let now = case.now;
        sim.set_clock(move || now);
        let sim = Arc::new(sim);
        let mut ctx = crate::context(&self.provider, self.account.clone(), sim);
        ctx.now = now;
        let result = self
            .provider
            .execute(OperationKind::Return, &ctx, case.document.clone())
            .await;
        let attempts = |o: &Outcome| -> Vec<(OperationKind, Status)> {
            serde_json::from_value::<payops_core::ReturnDetails>(o.details.clone())
                .map(|d| d.attempts.iter().map(|a| (a.operation, a.status)).collect())
                .unwrap_or_default()
        };
        match (&case.expect, result) {
            (ReturnExpect::Refused(reason), Err(e)) if e.refusal_reason() == Some(*reason) => {
                Ok(())
            }
            (ReturnExpect::Became(op), Ok(o))
                if o.status == Status::Succeeded && attempts(&o) == [(*op, Status::Succeeded)] =>
            {
                Ok(())
            }
            (ReturnExpect::Declined(op, reason), Ok(o))
                if o.status == Status::Failed
                    && o.reason == Some(*reason)
                    && attempts(&o) == [(*op, Status::Failed)] =>
            {
                Ok(())
            }
            (ReturnExpect::FellBack(first, then), Ok(o))
                if o.status == Status::Succeeded
                    && attempts(&o) == [(*first, Status::Failed), (*then, Status::Succeeded)] =>
            {
                Ok(())
            }
            (expect, Ok(o)) => Err(format!(
                "expected {expect:?}; ended {} {:?} ({:?}), attempts {:?}",
                o.status,
                o.reason,
                o.provider_message,
                attempts(&o)
            )),
            (expect, Err(e)) => Err(format!(
                "expected {expect:?}; error {} (reason {:?}): {}",
                e.code().as_str(),
                e.refusal_reason(),
                e.message()
            )),
        }
    }

    /// Seeds every fresh simulator with this document.
    pub fn seed(mut self, document: Value) -> Suite {
        self.seed = Some(document);
        self
    }

    /// A request document for `op` that succeeds on a freshly seeded
    /// simulator. Every declared capability needs one.
    pub fn example(mut self, op: OperationKind, document: Value) -> Suite {
        self.examples.insert(op, document);
        self
    }

    /// A documented answer: `answer` (copied literally from the provider's
    /// docs, never built from the provider's own constants) comes back to
    /// `op`'s acting request, and the outcome must have `status` (and
    /// `reason`, when given). Add one per documented code.
    pub fn documented(
        mut self,
        op: OperationKind,
        label: &str,
        answer: HttpResponse,
        status: Status,
        reason: Option<Reason>,
    ) -> Suite {
        self.documented.push(Documented {
            op,
            label: label.to_owned(),
            answer,
            status,
            reason,
        });
        self
    }

    /// A refund for more than remains after the refund example (which must
    /// be partial): on one simulator the example succeeds, then this
    /// document must end `failed` with `reason` (the provider's documented
    /// answer to it, `amount_exceeds_remaining` where it has one).
    pub fn over_refund(mut self, document: Value, reason: Reason) -> Suite {
        self.over_refund = Some((document, reason));
        self
    }

    /// A reconcile case ([`Suite::run_all`]): `op`'s example is left
    /// `unknown`, the order's query gets `query_answer` (a literal; the text
    /// `{operation_id}` in its body becomes the operation's id) and the
    /// reconcile step must answer `verdict`.
    pub fn reconcile_case(
        mut self,
        op: OperationKind,
        label: &str,
        query_answer: HttpResponse,
        verdict: Verdict,
    ) -> Suite {
        self.reconcile_cases.push(ReconcileCase {
            op,
            label: label.to_owned(),
            query_answer,
            verdict,
        });
        self
    }

    /// Runs every check and reports; never panics on a provider's failure.
    pub async fn run(&self) -> Report {
        let mut report = Report::default();
        let info = self.provider.info().clone();
        report.check("info: schemas".into(), check_info(&info));
        let secrets: Vec<String> = info
            .secret_keys()
            .iter()
            .filter_map(|k| self.account.get(k).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        for op in info.capabilities.clone() {
            let Some(example) = self.examples.get(&op) else {
                report.check(
                    format!("{op}: example"),
                    Err("a declared capability has no example request".into()),
                );
                continue;
            };
            report.check(
                format!("{op}: the request schema accepts the example"),
                schema_errors(&info.operations[&op].request, example),
            );
            for (what, bad) in classic_bad_documents(example) {
                report.check(
                    format!("{op}: the request schema refuses {what}"),
                    match schema_errors(&info.operations[&op].request, &bad) {
                        Ok(()) => Err(format!("accepted {bad}")),
                        Err(_) => Ok(()),
                    },
                );
            }
            let counted = self.once_counted(op, example, &[]).await;
            let happy_safe_first = counted.as_ref().map_or(0, |c| c.2);
            let happy = counted.and_then(|(outcome, sent, _, body)| {
                outcome
                    .map(|o| (o, sent, body))
                    .map_err(|e| format!("error {}: {}", e.code().as_str(), e.message()))
            });
            let sent = happy.as_ref().map(|(_, n, _)| *n).unwrap_or(0);
            report.check(
                format!("{op}: happy path succeeds"),
                match &happy {
                    Ok((o, ..)) if o.status == Status::Succeeded => Ok(()),
                    Ok((o, ..)) => Err(format!("status {} ({:?})", o.status, o.provider_message)),
                    Err(e) => Err(e.clone()),
                },
            );
            if let Ok((o, ..)) = &happy {
                report.check(
                    format!("{op}: no credential in the outcome"),
                    no_secret(o, &secrets),
                );
                report.check(
                    format!("{op}: the outcome matches the response schema"),
                    matches_response_schema(&info, op, o),
                );
            }
            if !secrets.is_empty() {
                report.check(
                    format!("{op}: wrong credentials are refused"),
                    self.wrong_credentials(op, example, &secrets).await,
                );
            }
            if sent == 0 {
                continue;
            }
            let mut matrix = if op.moves_money() {
                fault_matrix()
            } else {
                query_fault_matrix()
            };
            // An answer about another order: only where the acting request's
            // answer names the example's order at all.
            let order = example.get("order_ref").and_then(Value::as_str);
            let body = happy.as_ref().map(|(_, _, b)| b.as_slice()).unwrap_or(&[]);
            if let Some(order) =
                order.filter(|o| o.len() >= 3 && String::from_utf8_lossy(body).contains(*o))
            {
                let other = format!("{order}X");
                // A query may call it failed (nothing moves on a query);
                // never succeeded.
                let allowed = if op.moves_money() {
                    vec![Status::Unknown]
                } else {
                    vec![Status::Unknown, Status::Failed]
                };
                matrix.push((Fault::RewriteAfterSend(order.to_owned(), other), allowed));
            }
            for (fault, allowed) in matrix {
                let mut faults = vec![Fault::None; sent - 1];
                faults.push(fault.clone());
                let name = format!("{op}: {fault:?} on the acting request");
                // A connection refused on the first request that is not
                // safe (after safe ones alone: a token): nothing that could
                // move money left for the provider, so the host gets a
                // refusal (503, reason unreachable), not an outcome.
                let refusal_expected = fault == Fault::Refused
                    && if op.moves_money() {
                        happy_safe_first >= sent - 1
                    } else {
                        sent == 1
                    };
                let result = match self.once_result(op, example, &faults).await {
                    Ok((Err(e), ..)) if refusal_expected => {
                        if e.refusal_reason() == Some(Reason::Unreachable)
                            && e.code() == payops_core::ErrorCode::Unavailable
                        {
                            no_secret_in(e.message(), &secrets)
                        } else {
                            Err(format!(
                                "error {} (reason {:?}), not a refusal for unreachable",
                                e.code(),
                                e.refusal_reason()
                            ))
                        }
                    }
                    Ok((Ok(o), ..)) if refusal_expected => Err(format!(
                        "status {} of a request that never left: a refusal (unreachable) was expected",
                        o.status
                    )),
                    Ok((Ok(o), ..)) if allowed.contains(&o.status) => no_secret(&o, &secrets)
                        .and_then(|()| matches_response_schema(&info, op, &o)),
                    Ok((Ok(o), ..)) => Err(format!(
                        "status {} (allowed: {allowed:?}; reason {:?})",
                        o.status, o.reason
                    )),
                    Ok((Err(e), ..)) => {
                        Err(format!("error {}: {}", e.code().as_str(), e.message()))
                    }
                    Err(e) => Err(e),
                };
                report.check(name, result);
            }
        }
        self.run_documented(&info, &secrets, &mut report).await;
        if info.capabilities.contains(&OperationKind::Return) {
            report.check(
                "return: the rule has cases on simulator clocks".into(),
                if self.return_cases.is_empty() {
                    Err(
                        "a provider with return declares its rule's cases (Suite::return_case)"
                            .into(),
                    )
                } else {
                    Ok(())
                },
            );
        }
        for case in &self.return_cases {
            report.check(
                format!("return: {}", case.label),
                self.return_check(case).await,
            );
        }
        for sample in &self.request_samples {
            report.check(
                format!("{}: request sample {}", sample.op, sample.label),
                self.request_matches(sample).await,
            );
        }
        report
    }

    /// The example on a seeded simulator with every credential of the
    /// account changed (one character each, in its own class so the
    /// schema's patterns still hold): the provider's refusal must end
    /// `failed`, nothing having moved.
    async fn wrong_credentials(
        &self,
        op: OperationKind,
        example: &Value,
        secrets: &[String],
    ) -> Result<(), String> {
        let mut account = self.account.clone();
        let info = self.provider.info().clone();
        for key in info.secret_keys() {
            if let Some(Value::String(v)) = account.get_mut(&key) {
                *v = changed(v);
            }
        }
        let sim = Arc::new(self.fresh_simulator()?);
        let ctx = crate::context(&self.provider, account, sim);
        let outcome = match self.provider.execute(op, &ctx, example.clone()).await {
            Ok(o) => o,
            // Credentials refused on a safe request (a token, a return's
            // read of the payment) before any request that could move
            // money: a refusal.
            Err(e) if e.refusal_reason().is_some() => {
                return no_secret_in(e.message(), secrets);
            }
            Err(e) => return Err(format!("error {}: {}", e.code().as_str(), e.message())),
        };
        if outcome.status != Status::Failed {
            return Err(format!(
                "status {} ({:?}: {:?})",
                outcome.status, outcome.reason, outcome.provider_message
            ));
        }
        no_secret(&outcome, secrets)
    }

    /// The first request the provider builds for `sample.document`,
    /// compared with the docs' body.
    async fn request_matches(&self, sample: &RequestSample) -> Result<(), String> {
        let recorder = Arc::new(Recorder::default());
        let ctx = crate::context(&self.provider, sample.account.clone(), recorder.clone());
        // The recorder refuses the connection: a refusal (unreachable)
        // once it has the request.
        match self
            .provider
            .execute(sample.op, &ctx, sample.document.clone())
            .await
        {
            Err(e) if e.refusal_reason() != Some(Reason::Unreachable) => {
                return Err(format!("error {}: {}", e.code().as_str(), e.message()));
            }
            _ => {}
        }
        let sent = recorder
            .first
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or("the provider sent no request")?;
        let ours = String::from_utf8_lossy(&sent.body).into_owned();
        let same = match &sample.sample {
            Sample::Json(doc) => {
                let theirs = payops_core::serde_json::from_str::<Value>(doc)
                    .map_err(|e| format!("the sample is not JSON: {e}"))?;
                let ours = payops_core::serde_json::from_str::<Value>(&ours)
                    .map_err(|e| format!("the request is not JSON: {e}"))?;
                ours == theirs
            }
            Sample::Xml(doc) => {
                use payops_core::kit::xml::parse;
                let theirs = parse(doc).map_err(|e| format!("the sample is not XML: {e}"))?;
                let ours = parse(&ours).map_err(|e| format!("the request is not XML: {e}"))?;
                ours == theirs
            }
            Sample::Form(doc) => {
                use payops_core::kit::form::decode;
                decode(ours.as_bytes()) == decode(doc.as_bytes())
            }
            Sample::Exact(bytes) => sent.body == *bytes,
        };
        if same {
            Ok(())
        } else {
            Err(format!("the request body differs from the sample: {ours}"))
        }
    }

    async fn run_documented(
        &self,
        info: &payops_core::ProviderInfo,
        secrets: &[String],
        report: &mut Report,
    ) {
        for d in &self.documented {
            let name = format!("{}: documented answer {}", d.op, d.label);
            let Some(example) = self.examples.get(&d.op) else {
                report.check(name, Err("no example for this operation".into()));
                continue;
            };
            let result = match self.once(d.op, example, &[]).await {
                Ok((_, sent, _)) if sent > 0 => {
                    let mut faults = vec![Fault::None; sent - 1];
                    faults.push(Fault::Answer(d.answer.clone()));
                    self.once(d.op, example, &faults).await
                }
                Ok(_) => Err("the example sent nothing".into()),
                Err(e) => Err(e),
            };
            report.check(
                name,
                result.and_then(|(o, ..)| {
                    if o.status != d.status || d.reason.is_some_and(|r| o.reason != Some(r)) {
                        return Err(format!(
                            "status {} reason {:?} (expected {} {:?})",
                            o.status, o.reason, d.status, d.reason
                        ));
                    }
                    no_secret(&o, secrets).and_then(|()| matches_response_schema(info, d.op, &o))
                }),
            );
        }
        if let (Some((over, reason)), Some(example)) =
            (&self.over_refund, self.examples.get(&OperationKind::Refund))
        {
            report.check(
                "refund: a partial refund, then more than remains".into(),
                self.over_refund_check(example, over, *reason).await,
            );
        }
    }

    async fn over_refund_check(
        &self,
        partial: &Value,
        over: &Value,
        reason: Reason,
    ) -> Result<(), String> {
        let sim = Arc::new(self.fresh_simulator()?);
        let ctx = crate::context(&self.provider, self.account.clone(), sim);
        // Two intents, two operation ids (a provider may key on it).
        let mut ctx2 = ctx.clone();
        ctx2.operation_id = payops_core::OperationId::new("op_test_over").expect("valid id");
        let refund = OperationKind::Refund;
        let first = self.provider.execute(refund, &ctx, partial.clone());
        let first = first.await.map_err(|e| e.to_string())?;
        if first.status != Status::Succeeded {
            return Err(format!("the partial refund ended {}", first.status));
        }
        let second = self.provider.execute(refund, &ctx2, over.clone());
        let second = second.await.map_err(|e| e.to_string())?;
        if second.status != Status::Failed || second.reason != Some(reason) {
            return Err(format!(
                "more than remains ended {} {:?}, not failed {}",
                second.status,
                second.reason,
                reason.as_str()
            ));
        }
        Ok(())
    }

    /// A new simulator of the provider, seeded, as an in-memory transport.
    fn fresh_simulator(&self) -> Result<SimTransport, String> {
        let sim = SimTransport::new(
            self.provider
                .simulator()
                .map_err(|e| format!("simulator: {e}"))?,
        );
        if let Some(seed) = &self.seed {
            sim.with_sim(|s| s.seed(seed))
                .map_err(|e| format!("seed: {e}"))?;
        }
        Ok(sim)
    }

    /// One operation on a fresh simulator, with `faults` applied to the
    /// first requests in order; returns the outcome and the request count.
    async fn once(
        &self,
        op: OperationKind,
        document: &Value,
        faults: &[Fault],
    ) -> Result<(Outcome, usize, Vec<u8>), String> {
        let (outcome, sent, body) = self.once_result(op, document, faults).await?;
        let outcome =
            outcome.map_err(|e| format!("error {}: {}", e.code().as_str(), e.message()))?;
        Ok((outcome, sent, body))
    }

    /// [`Suite::once`], with the provider's error as it came.
    async fn once_result(
        &self,
        op: OperationKind,
        document: &Value,
        faults: &[Fault],
    ) -> Result<(Result<Outcome, payops_core::Error>, usize, Vec<u8>), String> {
        let (outcome, sent, _, body) = self.once_counted(op, document, faults).await?;
        Ok((outcome, sent, body))
    }

    /// [`Suite::once_result`], with how many safe requests came first.
    async fn once_counted(
        &self,
        op: OperationKind,
        document: &Value,
        faults: &[Fault],
    ) -> Result<Counted, String> {
        let faulty = FaultTransport::new(self.fresh_simulator()?);
        for f in faults {
            faulty.push(f.clone());
        }
        let counting = Arc::new(Counting {
            inner: faulty,
            sent: AtomicUsize::new(0),
            safe_first: AtomicUsize::new(0),
            last_body: std::sync::Mutex::new(Vec::new()),
        });
        let ctx = crate::context(&self.provider, self.account.clone(), counting.clone());
        let outcome = self.provider.execute(op, &ctx, document.clone()).await;
        let body =
            std::mem::take(&mut *counting.last_body.lock().unwrap_or_else(|p| p.into_inner()));
        Ok((
            outcome,
            counting.sent.load(Ordering::SeqCst),
            counting.safe_first.load(Ordering::SeqCst),
            body,
        ))
    }
}

impl Suite {
    /// [`run`](Suite::run) plus the reconcile checks, for a provider behind
    /// the plugin protocol (static or loaded) that declares `query`: for
    /// each money-moving example, the answer of the acting request is lost
    /// (the provider acted) or the request never arrived (it did not); the
    /// host's query of the order runs on the same simulator, and the
    /// provider's reconcile step must never call the first `failed` nor the
    /// second `succeeded`, and a `succeeded` must name the transaction it
    /// rests on.
    pub async fn run_all(&self) -> Report {
        let mut report = self.run().await;
        let info = self.provider.info().clone();
        let Some(query_example) = self.examples.get(&OperationKind::Query) else {
            return report;
        };
        if !info.capabilities.contains(&OperationKind::Query) {
            return report;
        }
        for op in info.capabilities.iter().filter(|op| op.moves_money()) {
            let Some(example) = self.examples.get(op) else {
                continue;
            };
            let Some(order) = example.get("order_ref").cloned() else {
                continue;
            };
            let mut query = query_example.clone();
            query["order_ref"] = order;
            for (fault, acted) in [
                (Fault::TimeoutAfterSend, true),
                (Fault::TimeoutBeforeSend, false),
            ] {
                let name = format!("{op}: reconcile after {fault:?}");
                let result = self
                    .settle(*op, example, &query, fault)
                    .await
                    .and_then(|r| {
                        use payops_core::reconcile::Verdict;
                        match (acted, r.verdict) {
                            (true, Verdict::Failed) => Err(format!(
                                "the provider acted, yet reconcile said failed: {}",
                                r.evidence
                            )),
                            (false, Verdict::Succeeded) => Err(format!(
                                "nothing reached the provider, yet reconcile said succeeded: {}",
                                r.evidence
                            )),
                            (_, Verdict::Succeeded) if r.transaction_id.is_none() => {
                                Err("succeeded without the transaction it rests on".into())
                            }
                            _ => Ok(()),
                        }
                    });
                report.check(name, result);
            }
        }
        for case in &self.reconcile_cases {
            let name = format!("{}: reconcile {}", case.op, case.label);
            let result = self.scripted(case, query_example).await.and_then(|r| {
                if r.verdict == case.verdict {
                    Ok(())
                } else {
                    Err(format!("verdict {:?} ({})", r.verdict, r.evidence))
                }
            });
            report.check(name, result);
        }
        report
    }

    /// Leaves `case.op`'s example `unknown` (answer lost), then queries the
    /// order with the scripted answer and runs the reconcile step.
    async fn scripted(
        &self,
        case: &ReconcileCase,
        query_example: &Value,
    ) -> Result<payops_core::reconcile::Resolution, String> {
        let example = self
            .examples
            .get(&case.op)
            .ok_or("no example for this operation")?;
        let faulty = Arc::new(FaultTransport::new(self.fresh_simulator()?));
        let ctx = crate::context(&self.provider, self.account.clone(), faulty.clone());
        let mut answer = case.query_answer.clone();
        answer.body = String::from_utf8_lossy(&answer.body)
            .replace("{operation_id}", ctx.operation_id.as_str())
            .into_bytes();
        let mut query = query_example.clone();
        query["order_ref"] = example.get("order_ref").cloned().unwrap_or(Value::Null);
        let outcome = self
            .provider
            .execute(case.op, &ctx, example.clone())
            .await
            .map_err(|e| format!("error {}: {}", e.code().as_str(), e.message()))?;
        // The answer goes to the query's acting (last) request: a provider
        // may ask for a token first.
        let (_, query_sent, _) = self.once(OperationKind::Query, &query, &[]).await?;
        for _ in 1..query_sent {
            faulty.push(Fault::None);
        }
        faulty.push(Fault::Answer(answer));
        let q = self
            .provider
            .execute(OperationKind::Query, &ctx, query)
            .await
            .map_err(|e| format!("query error {}: {}", e.code().as_str(), e.message()))?;
        if q.status != Status::Succeeded {
            return Err(format!("the scripted query gave {}", q.status));
        }
        let lost = outcome.with(Status::Unknown, Some(Reason::Timeout));
        self.reconcile_alone(&ctx, case.op, example, lost, q)
    }

    /// The reconcile step for an operation with no siblings and no claims.
    fn reconcile_alone(
        &self,
        ctx: &payops_core::OperationContext,
        op: OperationKind,
        example: &Value,
        outcome: Outcome,
        query: Outcome,
    ) -> Result<payops_core::reconcile::Resolution, String> {
        let input = payops_core::reconcile::ReconcileInput {
            operation_id: ctx.operation_id.to_string(),
            operation: op,
            request: example.clone(),
            state: "unknown".into(),
            outcome: Some(outcome),
            started_at: ctx.now,
            siblings: Vec::new(),
            claimed: Vec::new(),
            claim_scope: "conformance".into(),
            query,
            query_received_at: crate::turkey_now(),
            callback: None,
        };
        self.provider
            .reconcile(ctx, input)
            .map_err(|e| format!("reconcile error {}: {}", e.code().as_str(), e.message()))
    }

    /// Runs `op` with `fault` on its acting request, then the order's query
    /// on the same simulator, then the reconcile step.
    async fn settle(
        &self,
        op: OperationKind,
        example: &Value,
        query: &Value,
        fault: Fault,
    ) -> Result<payops_core::reconcile::Resolution, String> {
        let (_, sent, _) = self.once(op, example, &[]).await?;
        let faulty = Arc::new(FaultTransport::new(self.fresh_simulator()?));
        for _ in 1..sent {
            faulty.push(Fault::None);
        }
        faulty.push(fault);
        let ctx = crate::context(&self.provider, self.account.clone(), faulty.clone());
        let outcome = self
            .provider
            .execute(op, &ctx, example.clone())
            .await
            .map_err(|e| format!("error {}: {}", e.code().as_str(), e.message()))?;
        if outcome.status != Status::Unknown {
            return Err(format!(
                "the lost answer gave {}, not unknown",
                outcome.status
            ));
        }
        let q = self
            .provider
            .execute(OperationKind::Query, &ctx, query.clone())
            .await
            .map_err(|e| format!("query error {}: {}", e.code().as_str(), e.message()))?;
        if q.status != Status::Succeeded {
            return Err(format!("the order's query gave {}", q.status));
        }
        self.reconcile_alone(&ctx, op, example, outcome, q)
    }
}

/// Records the first request and sends nothing (a refused connection).
#[derive(Default)]
struct Recorder {
    first: std::sync::Mutex<Option<HttpRequest>>,
}

#[async_trait::async_trait]
impl HttpTransport for Recorder {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut first = self.first.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(request);
        }
        Err(TransportError::new(
            payops_core::TransportErrorKind::Connect,
            "the suite only records the request",
        ))
    }
}

/// `value` with its last letter or digit changed to another of its kind
/// (a GUID stays a GUID, a key of digits stays digits).
fn changed(value: &str) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    if let Some(c) = chars.iter_mut().rev().find(|c| c.is_ascii_alphanumeric()) {
        *c = match *c {
            '9' => '0',
            'f' => 'a',
            'F' => 'A',
            'z' => 'a',
            'Z' => 'A',
            d => (d as u8 + 1) as char,
        };
    } else {
        chars.push('x');
    }
    chars.into_iter().collect()
}

/// The faults on a query and the statuses they may end in: nothing moves
/// on a query, so `failed` is allowed; `succeeded` only when the answer
/// came whole.
fn query_fault_matrix() -> Vec<(Fault, Vec<Status>)> {
    fault_matrix()
        .into_iter()
        .map(|(f, allowed)| {
            if allowed == vec![Status::Succeeded] {
                (f, allowed)
            } else {
                (f, vec![Status::Unknown, Status::Failed])
            }
        })
        .collect()
}

/// Each fault and the statuses it may end in.
fn fault_matrix() -> Vec<(Fault, Vec<Status>)> {
    use Status::*;
    vec![
        (Fault::Latency(Duration::from_millis(20)), vec![Succeeded]),
        (Fault::Refused, vec![Failed]),
        (Fault::TimeoutBeforeSend, vec![Unknown]),
        (Fault::TimeoutAfterSend, vec![Unknown]),
        (Fault::DropAfterSend, vec![Unknown]),
        (Fault::HtmlAfterSend, vec![Unknown]),
        (Fault::Html503BeforeSend, vec![Unknown]),
        (Fault::TruncatedAfterSend, vec![Unknown]),
        (Fault::Json500AfterSend, vec![Unknown]),
        (Fault::SlowBodyAfterSend, vec![Unknown]),
    ]
}

fn check_info(info: &payops_core::ProviderInfo) -> Result<(), String> {
    if info.id.is_empty() || info.name.is_empty() {
        return Err("empty id or name".into());
    }
    if !info.account_schema.is_object() {
        return Err("the account schema is not a JSON object".into());
    }
    for op in &info.capabilities {
        let Some(s) = info.operations.get(op) else {
            return Err(format!("{op} is declared without schemas"));
        };
        if !s.request.is_object() || !s.response.is_object() {
            return Err(format!("{op}: a schema is not a JSON object"));
        }
    }
    if let Some(op) = info
        .operations
        .keys()
        .find(|op| !info.capabilities.contains(op))
    {
        return Err(format!("{op} has schemas but is not a declared capability"));
    }
    Ok(())
}

/// The classic bad documents, made from a good one: money as a float or a
/// string, zero and negative amounts, a missing or empty `order_ref`, an
/// unknown field, not an object.
fn classic_bad_documents(example: &Value) -> Vec<(&'static str, Value)> {
    let mut out: Vec<(&'static str, Value)> = Vec::new();
    let with = |key: &str, v: Value| {
        let mut d = example.clone();
        d[key] = v;
        d
    };
    if example.get("amount").is_some_and(Value::is_i64) {
        out.push(("a fractional amount", with("amount", 12.5.into())));
        out.push(("an amount as text", with("amount", "12.50".into())));
        out.push(("a zero amount", with("amount", 0.into())));
        out.push(("a negative amount", with("amount", (-1).into())));
    }
    if example.get("order_ref").is_some() {
        let mut d = example.clone();
        d.as_object_mut().map(|m| m.remove("order_ref"));
        out.push(("a missing order_ref", d));
        out.push(("an empty order_ref", with("order_ref", "".into())));
    }
    out.push((
        "an unknown field",
        with("amount_in_lira_typo", Value::Bool(true)),
    ));
    out.push(("an array", Value::Array(vec![example.clone()])));
    out
}

fn schema_errors(schema: &Value, document: &Value) -> Result<(), String> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| format!("the schema does not compile: {e}"))?;
    let errors: Vec<String> = validator
        .iter_errors(document)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// The outcome, in the envelope the host would wrap it in, validates
/// against the operation's exported response schema.
fn matches_response_schema(
    info: &payops_core::ProviderInfo,
    op: OperationKind,
    o: &Outcome,
) -> Result<(), String> {
    let schema = &info
        .operations
        .get(&op)
        .ok_or("no schemas for this operation")?
        .response;
    let now = crate::turkey_now().to_rfc3339();
    let envelope = payops_core::serde_json::json!({
        "operation_id": "op_conformance",
        "account": "conformance",
        "provider": info.id,
        "operation": op,
        "status": o.status,
        "provider_reference": o.provider_reference,
        "provider_code": o.provider_code,
        "provider_message": o.provider_message,
        "reason": o.reason,
        "idempotency_key": null,
        "started_at": now,
        "finished_at": now,
        "details": o.details,
        "raw": o.raw,
    });
    schema_errors(schema, &envelope).map_err(|e| format!("status {}: {e}", o.status))
}

/// No credential, and no 6-character piece of one, in the outcome.
fn no_secret(o: &Outcome, secrets: &[String]) -> Result<(), String> {
    no_secret_in(
        &payops_core::serde_json::to_string(o).unwrap_or_default(),
        secrets,
    )
    .map_err(|_| "a credential (or part of one) is in the outcome".into())
}

/// No credential of `secrets`, nor a 6-character piece of one, in `text`.
fn no_secret_in(text: &str, secrets: &[String]) -> Result<(), String> {
    for s in secrets {
        let chars: Vec<char> = s.chars().collect();
        let pieces: Vec<String> = if chars.len() <= 6 {
            vec![s.clone()]
        } else {
            chars.windows(6).map(|w| w.iter().collect()).collect()
        };
        if pieces.iter().any(|p| text.contains(p.as_str())) {
            return Err("a credential (or part of one) is in the text".into());
        }
    }
    Ok(())
}
