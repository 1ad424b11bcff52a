//! The reconcile step of the plugin protocol: the host hands a provider an
//! unresolved operation, its siblings on the same order, the provider
//! transactions already claimed, and a fresh query; the provider answers
//! with a [`Resolution`] backed by evidence, or says it cannot tell.
//!
//! Matching rules are provider semantics, so they live in each provider.
//! The host only picks candidates, runs the query, records the resolution
//! and enforces that a provider transaction proves at most one operation
//! (claims are unique per [`ReconcileInput::claim_scope`]).
//!
//! The rule every provider follows: `succeeded` and `failed` are final
//! claims about money and need proof attributable to this operation alone;
//! `pending` never becomes `failed` because something is absent; anything
//! ambiguous is [`Verdict::Undetermined`], listed for an operator with its
//! candidates.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::outcome::Outcome;
use crate::types::OperationKind;

/// Another operation of the same account and order, as the store has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Sibling {
    /// Its id.
    pub operation_id: String,
    /// What it was.
    pub operation: OperationKind,
    /// Its request document.
    pub request: Value,
    /// Its state: `in_flight`, `succeeded`, `pending`, `failed`, `unknown`.
    pub state: String,
    /// When it started (host clock).
    pub started_at: DateTime<FixedOffset>,
    /// Its outcome's `details`, when it has an outcome.
    #[serde(default)]
    pub details: Value,
}

/// A provider transaction already credited to an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Claim {
    /// The provider's transaction id.
    pub transaction_id: String,
    /// The operation it proves.
    pub operation_id: String,
}

/// Everything a provider needs to settle one operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReconcileInput {
    /// The operation's id.
    pub operation_id: String,
    /// What it was.
    pub operation: OperationKind,
    /// Its request document (as validated and stored).
    pub request: Value,
    /// Its state now: `unknown` or `pending`.
    pub state: String,
    /// Its stored outcome (status, references, `details`), if it has one.
    pub outcome: Option<Outcome>,
    /// When it started, on the host's clock.
    pub started_at: DateTime<FixedOffset>,
    /// Every other operation of the same account on the same order.
    pub siblings: Vec<Sibling>,
    /// Transactions of this order already claimed, and by which operation.
    pub claimed: Vec<Claim>,
    /// The scope claims are unique in (provider and merchant identity).
    pub claim_scope: String,
    /// A fresh, successful query of the order.
    pub query: Outcome,
    /// When the query's answer arrived, on the host's clock: with the
    /// provider's own time in the answer it gives the clock offset.
    pub query_received_at: DateTime<FixedOffset>,
    /// The post that triggered this reconciliation, when the provider
    /// posted to the account's callback URL (see
    /// [`AccountCallbackSpec`](crate::AccountCallbackSpec)): a JSON body
    /// as sent, a form body as an object of its fields. Anyone who knows
    /// the URL can post: it proves something only as far as its own proof
    /// (the provider's signature) goes, which the provider checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<Value>,
}

/// What the evidence shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The provider did it: a successful record attributable to this
    /// operation alone.
    Succeeded,
    /// The provider did not do it: a declined record attributable to this
    /// operation alone, or proof that nothing was recorded.
    Failed,
    /// The provider accepted it and has not completed it.
    Pending,
    /// The evidence does not decide: leave it for later or an operator.
    Undetermined,
}

/// A provider's answer to a [`ReconcileInput`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Resolution {
    /// The verdict.
    pub verdict: Verdict,
    /// The provider transaction that proves it (claimed exclusively).
    pub transaction_id: Option<String>,
    /// Why, in words an operator can check against the provider's panel.
    pub evidence: String,
    /// For an undetermined verdict: the transactions that could be this
    /// operation's, for an operator to look at.
    #[serde(default)]
    pub candidates: Vec<String>,
}

impl ReconcileInput {
    /// The fresh query's normalized `details`, or the undetermined
    /// resolution a provider answers when they cannot be read.
    pub fn query_details(&self) -> Result<crate::details::QueryDetails, Resolution> {
        serde_json::from_value(self.query.details.clone()).map_err(|e| {
            Resolution::undetermined(format!("the inquiry's details are not readable: {e}"))
        })
    }
}

impl Resolution {
    /// An undetermined resolution with `why`.
    pub fn undetermined(why: impl Into<String>) -> Resolution {
        Resolution {
            verdict: Verdict::Undetermined,
            transaction_id: None,
            evidence: why.into(),
            candidates: Vec::new(),
        }
    }
}
