//! The `return` operation: money back, as a cancel or a refund, chosen by
//! the provider's own rule.
//!
//! Every Turkish provider draws a line between a cancel (a void: on the
//! payment's day, before the provider's end of day, usually of the whole
//! amount) and a refund (a later day, or a partial amount). A provider
//! that implements [`Return`] states its rule; the operation, written once
//! here, runs it:
//!
//! 1. it reads the payment with the provider's own query (marked
//!    [`safe`](crate::HttpRequest::safe): nothing has moved yet, so a
//!    payment that cannot be read is a refusal, not a failure);
//! 2. the provider [chooses](Return::choose) from the payment, the
//!    provider's clock (`call.now`) and the order's earlier returns
//!    (`call.earlier_returns`): a cancel, a refund, or a refusal saying
//!    when a return will be possible;
//! 3. it runs the chosen operation's own steps (the provider's
//!    [`Cancel`](crate::Cancel) or [`Refund`](crate::Refund));
//! 4. **fallback only on proof**: when that attempt ends `failed` with one
//!    of the codes the choice names (a documented "day closed" or "day not
//!    closed" decline, in the attempt's own synchronous answer), the other
//!    operation runs under the same operation id, and both attempts are in
//!    the outcome's `details.attempts`. Never after `unknown`, never from a
//!    reconcile pass (reconciliation settles the operation the return
//!    became, [`ReturnDetails::became`]).
//!
//! The outcome is the last attempt's, its `details` a [`ReturnDetails`]
//! around the attempt's own.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::details::input_schema_of;
use crate::error::Error;
use crate::outcome::{Outcome, Reason, Status};
use crate::protocol::{Call, Step};
use crate::provider::{Answer, Entries, Entry, Provider, parse_document};
use crate::{OperationKind, QueryDetails};

/// One operation a return runs: `cancel` or `refund`, with the request
/// document of the provider's own operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// `cancel` or `refund`.
    pub operation: OperationKind,
    /// Its request document (the provider's cancel or refund document).
    pub document: Value,
}

/// What a provider's rule makes of a return.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "choice", rename_all = "snake_case")]
pub enum Choice {
    /// Run `first`; if it ends `failed` with one of `fallback_codes` (its
    /// `provider_code`), run `fallback`.
    Run {
        /// The operation the rule chose.
        first: Attempt,
        /// The other operation, when a documented decline of `first`
        /// allows it.
        fallback: Option<Attempt>,
        /// The provider codes of `first`'s declines that allow `fallback`.
        fallback_codes: Vec<String>,
        /// Why (the rule as it applied: the payment's date, the provider's
        /// clock, the amount, the earlier returns).
        why: String,
    },
    /// Neither is possible yet (or at all): refused before anything is
    /// sent, with `reason` and a message saying when it will be possible.
    Refuse {
        /// The refusal's reason (`not_allowed_today` for "not yet").
        reason: Reason,
        /// What the caller reads.
        message: String,
    },
}

/// The `return` operation of a provider (see the module documentation).
pub trait Return: Provider {
    /// The return's request document.
    type Document: DeserializeOwned + schemars::JsonSchema;

    /// The rule in words: which fields and clocks decide, which codes
    /// allow the fallback. It is the request schema's description.
    fn rule(&self) -> &'static str;

    /// The query document that reads the payment.
    fn payment_query(&self, document: &Self::Document) -> Value;

    /// Chooses from the payment as the provider's query read it, the
    /// provider's clock (`call.now`) and `call.earlier_returns`.
    fn choose(
        &self,
        call: &Call,
        account: &Self::Account,
        document: &Self::Document,
        payment: &QueryDetails,
    ) -> Result<Choice, Error>;
}

impl Attempt {
    /// An attempt of `operation` with `document`.
    pub fn new(operation: OperationKind, document: Value) -> Attempt {
        Attempt {
            operation,
            document,
        }
    }
}

impl Choice {
    /// Runs `first` alone (no fallback), for the reason `why`.
    pub fn run(first: Attempt, why: impl Into<String>) -> Choice {
        Choice::Run {
            first,
            fallback: None,
            fallback_codes: Vec::new(),
            why: why.into(),
        }
    }

    /// Refuses the return before anything is sent.
    pub fn refuse(reason: Reason, message: impl Into<String>) -> Choice {
        Choice::Refuse {
            reason,
            message: message.into(),
        }
    }
}

/// One finished attempt, as `details.attempts` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AttemptRecord {
    /// `cancel` or `refund`.
    pub operation: OperationKind,
    /// Its outcome's status.
    pub status: Status,
    /// Its outcome's reason.
    pub reason: Option<Reason>,
    /// The provider's code.
    pub provider_code: Option<String>,
    /// The provider's message.
    pub provider_message: Option<String>,
    /// The provider's reference.
    pub provider_reference: Option<String>,
    /// The document it sent.
    pub document: Value,
}

/// A return's `details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReturnDetails {
    /// The operation the return became: the last attempt's (`cancel` or
    /// `refund`). The ledger, the order guard and reconciliation count the
    /// return as this operation.
    pub became: OperationKind,
    /// Why the rule chose the first attempt.
    pub why: String,
    /// Every attempt, in order; the last is the outcome.
    pub attempts: Vec<AttemptRecord>,
    /// The last attempt's own `details` (its operation's details schema).
    pub details: Value,
}

/// A return's state between two requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    /// The operation whose steps run now (`query` first).
    stage: OperationKind,
    /// Its own state.
    inner: Value,
    /// The return's request document.
    document: Value,
    /// The choice, once made.
    choice: Option<Choice>,
    /// The document of the attempt running now.
    sending: Value,
    /// Finished attempts.
    attempts: Vec<AttemptRecord>,
}

fn inner_call(call: &Call, op: OperationKind) -> Call {
    Call {
        operation: op,
        ..call.clone()
    }
}

/// Starts a return (the entry of [`Return`]).
pub(crate) fn start<P: Return>(
    p: &P,
    ops: &Entries<P>,
    call: &Call,
    request: &Value,
) -> Result<Step, Error> {
    p.account(call)?;
    let doc: P::Document = parse_document(request)?;
    let query = p.payment_query(&doc);
    let step = ops.start(
        p,
        OperationKind::Query,
        &inner_call(call, OperationKind::Query),
        &query,
    )?;
    let state = State {
        stage: OperationKind::Query,
        inner: Value::Null,
        document: request.clone(),
        choice: None,
        sending: query,
        attempts: Vec::new(),
    };
    advance(p, ops, call, state, step)
}

/// Continues a return.
pub(crate) fn resume<P: Return>(
    p: &P,
    ops: &Entries<P>,
    call: &Call,
    state: Value,
    answer: Answer,
) -> Result<Step, Error> {
    let mut state: State = serde_json::from_value(state)
        .map_err(|e| Error::Internal(format!("return: unknown state: {e}")))?;
    let inner = std::mem::take(&mut state.inner);
    let step = ops.resume(
        p,
        state.stage,
        &inner_call(call, state.stage),
        inner,
        answer,
    )?;
    advance(p, ops, call, state, step)
}

fn advance<P: Return>(
    p: &P,
    ops: &Entries<P>,
    call: &Call,
    mut state: State,
    step: Step,
) -> Result<Step, Error> {
    let outcome = match step {
        Step::Send {
            mut request,
            state: inner,
        } => {
            // Reading the payment moves nothing.
            request.safe |= state.stage == OperationKind::Query;
            state.inner = inner;
            let state = serde_json::to_value(&state)
                .map_err(|e| Error::Internal(format!("return: state: {e}")))?;
            return Ok(Step::Send { request, state });
        }
        Step::Done(outcome) => outcome,
        Step::Reconciled(_) => {
            return Err(Error::Internal(
                "return: an operation answered with a reconciliation".into(),
            ));
        }
    };
    if state.stage == OperationKind::Query {
        return chosen(p, ops, call, state, outcome);
    }
    let Some(Choice::Run {
        fallback: Some(fallback),
        fallback_codes,
        ..
    }) = &state.choice
    else {
        return Ok(Step::Done(finish(state, outcome)));
    };
    let proven_decline = state.attempts.is_empty()
        && outcome.status == Status::Failed
        && outcome
            .provider_code
            .as_ref()
            .is_some_and(|c| fallback_codes.contains(c));
    if !proven_decline {
        return Ok(Step::Done(finish(state, outcome)));
    }
    let next = fallback.clone();
    state
        .attempts
        .push(record(state.stage, &outcome, &state.sending));
    attempt(p, ops, call, state, next)
}

/// The payment is read: the provider chooses.
fn chosen<P: Return>(
    p: &P,
    ops: &Entries<P>,
    call: &Call,
    mut state: State,
    read: Outcome,
) -> Result<Step, Error> {
    let payment = (read.status == Status::Succeeded)
        .then(|| serde_json::from_value::<QueryDetails>(read.details.clone()).ok())
        .flatten();
    let Some(payment) = payment else {
        // Nothing left but a read: a refusal (the driver's), with the
        // read's reason.
        // A failed read keeps its reason (not found, authentication, a
        // transport failure); an unknown one keeps a transport reason, else
        // it is the provider's error.
        let reason = match read.reason {
            Some(r) if read.status == Status::Failed => r,
            Some(r @ (Reason::Timeout | Reason::ConnectionLost)) => r,
            _ => Reason::ProviderError,
        };
        let mut o = Outcome::new(Status::Failed).with(Status::Failed, Some(reason));
        o.provider_code = read.provider_code;
        o.provider_message = Some(format!(
            "the payment could not be read to choose cancel or refund ({}): {}",
            read.status,
            read.provider_message.unwrap_or_default()
        ));
        return Ok(Step::Done(o));
    };
    let account = p.account(call)?;
    let doc: P::Document = parse_document(&state.document)?;
    let choice = p.choose(call, &account, &doc, &payment)?;
    state.choice = Some(choice.clone());
    match choice {
        Choice::Refuse { reason, message } => {
            let mut o = Outcome::new(Status::Failed).with(Status::Failed, Some(reason));
            o.provider_message = Some(message);
            Ok(Step::Done(o))
        }
        Choice::Run { first, .. } => attempt(p, ops, call, state, first),
    }
}

fn attempt<P: Return>(
    p: &P,
    ops: &Entries<P>,
    call: &Call,
    mut state: State,
    attempt: Attempt,
) -> Result<Step, Error> {
    let step = ops.start(
        p,
        attempt.operation,
        &inner_call(call, attempt.operation),
        &attempt.document,
    )?;
    state.stage = attempt.operation;
    state.sending = attempt.document;
    advance(p, ops, call, state, step)
}

fn record(op: OperationKind, o: &Outcome, document: &Value) -> AttemptRecord {
    AttemptRecord {
        operation: op,
        status: o.status,
        reason: o.reason,
        provider_code: o.provider_code.clone(),
        provider_message: o.provider_message.clone(),
        provider_reference: o.provider_reference.clone(),
        document: document.clone(),
    }
}

fn finish(mut state: State, mut last: Outcome) -> Outcome {
    state
        .attempts
        .push(record(state.stage, &last, &state.sending));
    let why = match &state.choice {
        Some(Choice::Run { why, .. }) => why.clone(),
        _ => String::new(),
    };
    let details = ReturnDetails {
        became: state.stage,
        why,
        attempts: state.attempts,
        details: std::mem::take(&mut last.details),
    };
    last.details = serde_json::to_value(details).unwrap_or(Value::Null);
    last
}

/// The JSON Schema of a return's `details` around the cancel's and the
/// refund's own.
pub(crate) fn details_schema(cancel: Option<Value>, refund: Option<Value>) -> Value {
    let mut s = crate::details::schema_of::<ReturnDetails>();
    let inner: Vec<Value> = [cancel, refund].into_iter().flatten().collect();
    if let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert(
            "details".into(),
            json!({"title": "Details", "description": "The last attempt's own details.", "anyOf": inner}),
        );
    }
    s
}

/// The provider's business day of `t`: its date in Turkish time, or the
/// next day's for a time at or after `end_of_day` (the provider's or
/// bank's daily cutoff, Turkish time; midnight: the calendar day).
///
/// ```
/// use payops_core::chrono::{DateTime, NaiveTime};
/// use payops_core::returning::business_day;
/// let eod = NaiveTime::from_hms_opt(22, 0, 0).unwrap();
/// let t = |s| DateTime::parse_from_rfc3339(s).unwrap();
/// assert_eq!(business_day(t("2024-05-01T21:59:59+03:00"), eod).to_string(), "2024-05-01");
/// assert_eq!(business_day(t("2024-05-01T22:00:00+03:00"), eod).to_string(), "2024-05-02");
/// // 20:30 UTC is 23:30 in Turkey.
/// assert_eq!(business_day(t("2024-05-01T20:30:00+00:00"), eod).to_string(), "2024-05-02");
/// ```
pub fn business_day(
    t: chrono::DateTime<chrono::FixedOffset>,
    end_of_day: chrono::NaiveTime,
) -> chrono::NaiveDate {
    let local = t.with_timezone(&crate::turkey_offset());
    if end_of_day != chrono::NaiveTime::MIN && local.time() >= end_of_day {
        local.date_naive() + chrono::Days::new(1)
    } else {
        local.date_naive()
    }
}

/// The end of the business day `now` is in (Turkish time): when a
/// return refused "not yet" becomes possible.
pub fn end_of_business_day(
    now: chrono::DateTime<chrono::FixedOffset>,
    end_of_day: chrono::NaiveTime,
) -> chrono::DateTime<chrono::FixedOffset> {
    let day = business_day(now, end_of_day);
    let date = if end_of_day == chrono::NaiveTime::MIN {
        day + chrono::Days::new(1)
    } else {
        day
    };
    date.and_time(end_of_day)
        .and_local_timezone(crate::turkey_offset())
        .single()
        .expect("a fixed offset has one local time")
}

/// True when the order has no earlier return of any state but failed:
/// none in payops's store (`call.earlier_returns`), none the provider's
/// query lists or counts.
pub fn untouched(payment: &QueryDetails, earlier_returns: u32) -> bool {
    use crate::TransactionStatus as T;
    earlier_returns == 0
        && payment.refunded_amount.unwrap_or(0) == 0
        && !matches!(
            payment.payment_status,
            crate::PaymentStatus::Refunded
                | crate::PaymentStatus::PartiallyRefunded
                | crate::PaymentStatus::Cancelled
        )
        && !payment
            .transactions
            .iter()
            .any(|t| matches!(t.status, T::RefundSucceeded | T::CancelSucceeded))
}

/// An account's `end_of_day` (`HH:MM`, Turkish time); absent: midnight.
pub fn end_of_day(setting: Option<&str>) -> Result<chrono::NaiveTime, Error> {
    setting.map_or(Ok(chrono::NaiveTime::MIN), |s| {
        chrono::NaiveTime::parse_from_str(s, "%H:%M")
            .map_err(|e| Error::invalid_field("/account/end_of_day", format!("{s:?}: {e}")))
    })
}

/// The rule of a provider whose refund is its only return (it has no
/// cancel, or its refund service cancels or refunds by itself): a refund
/// of `amount`, or of all that remains when it is absent (what the query
/// says was paid less what it counts returned). `document` is the refund
/// document without its `amount`; `why` says whose rule it is.
pub fn refund_only(
    mut document: Value,
    amount: Option<i64>,
    payment: &QueryDetails,
    why: &str,
) -> Choice {
    let remaining = payment
        .amount
        .map(|p| p - payment.refunded_amount.unwrap_or(0));
    let Some(amount) = amount.or(remaining) else {
        return Choice::refuse(
            Reason::InvalidRequest,
            "the provider's query does not say what was paid: give the amount",
        );
    };
    if amount <= 0 {
        return Choice::refuse(Reason::AmountExceedsRemaining, "nothing remains to return");
    }
    document["amount"] = json!(amount);
    Choice::run(Attempt::new(OperationKind::Refund, document), why)
}

fn return_entry<P: Return>() -> Entry<P> {
    fn request_schema<P: Return>(p: &P) -> Value {
        let mut s = input_schema_of::<<P as Return>::Document>();
        if let Some(o) = s.as_object_mut() {
            o.insert("description".into(), Value::String(p.rule().into()));
        }
        s
    }
    fn entry_details_schema<P: Return>(p: &P, ops: &Entries<P>) -> Value {
        details_schema(
            ops.details_schema(p, OperationKind::Cancel),
            ops.details_schema(p, OperationKind::Refund),
        )
    }
    Entry::new(
        request_schema::<P>,
        entry_details_schema::<P>,
        start::<P>,
        resume::<P>,
    )
}

impl<P: Return> crate::provider::probe::HasReturn<P> for crate::provider::probe::Probe<P> {
    fn return_entry(&self) -> Option<(OperationKind, Entry<P>)> {
        Some((OperationKind::Return, return_entry::<P>()))
    }
}
impl<P: Provider> crate::provider::probe::LacksReturn<P> for &crate::provider::probe::Probe<P> {
    fn return_entry(&self) -> Option<(OperationKind, Entry<P>)> {
        None
    }
}

/// The `Return` of a provider whose refund is its only return (no cancel,
/// or a refund service that cancels or refunds by itself): the payment's
/// query by `order_ref`, then [`refund_only`] with the refund document
/// `$refund` builds from the return document `$d` (without its amount).
///
/// ```text
/// payops_core::refund_only_return!(PayTr, ReturnDoc,
///     "PayTR has no cancel: a return is always a refund …",
///     "PayTR has no cancel: a refund",
///     |doc| serde_json::json!({"order_ref": doc.order_ref, "currency": doc.currency}));
/// ```
#[macro_export]
macro_rules! refund_only_return {
    ($provider:ty, $doc:ty, $rule:expr, $why:expr, |$d:ident| $refund:expr) => {
        impl $crate::Return for $provider {
            type Document = $doc;

            fn rule(&self) -> &'static str {
                $rule
            }

            fn payment_query(&self, $d: &$doc) -> $crate::serde_json::Value {
                $crate::serde_json::json!({"order_ref": $d.order_ref})
            }

            fn choose(
                &self,
                _: &$crate::Call,
                _: &<$provider as $crate::Provider>::Account,
                $d: &$doc,
                payment: &$crate::QueryDetails,
            ) -> ::core::result::Result<$crate::Choice, $crate::Error> {
                Ok($crate::returning::refund_only(
                    $refund, $d.amount, payment, $why,
                ))
            }
        }
    };
}
