//! What a provider's reconciliation says of an order's stored query, asked
//! sans-IO: the input of its reconcile step for one operation (shared with
//! [`crate::reconcile`], which settles with it), and which listed rows each
//! unresolved operation could own (for the order's ledger).

use std::collections::{HashMap, HashSet};

use payops_core::driver::PluginProvider;
use payops_core::{Claim, Envelope, OperationContext, OperationKind, ReconcileInput, Sibling};
use payops_store::{State, StoredOperation};
use serde_json::Value;

pub(crate) fn sibling(o: &StoredOperation) -> Option<Sibling> {
    let (operation, request, details) = crate::ledger::as_became(o)?;
    Some(Sibling {
        operation_id: o.id.clone(),
        operation,
        request,
        state: o.state.as_str().to_owned(),
        started_at: o.created_at.with_timezone(&payops_core::turkey_offset()),
        details,
    })
}

/// An outcome as the provider's steps see it, from a stored envelope.
pub(crate) fn outcome_of(e: &Envelope) -> payops_core::Outcome {
    let mut o = payops_core::Outcome::new(e.status);
    o.provider_reference = e.provider_reference.clone();
    o.provider_code = e.provider_code.clone();
    o.provider_message = e.provider_message.clone();
    o.details = e.details.clone();
    o.raw = e.raw.clone();
    o
}

/// What the provider's reconcile step gets for `op`.
pub(crate) fn input_of(
    op: &StoredOperation,
    kind: OperationKind,
    siblings: &[StoredOperation],
    claimed: Vec<Claim>,
    scope: &str,
    query: payops_core::Outcome,
    query_received_at: chrono::DateTime<chrono::FixedOffset>,
) -> ReconcileInput {
    // A return is settled as the operation it became.
    let (kind, request, details) = match crate::ledger::as_became(op) {
        Some((became, request, details)) if kind == OperationKind::Return => {
            (became, request, Some(details))
        }
        _ => (kind, op.request.clone(), None),
    };
    ReconcileInput {
        operation_id: op.id.clone(),
        operation: kind,
        request,
        state: op.state.as_str().to_owned(),
        outcome: op.envelope.as_ref().map(|e| {
            let mut o = outcome_of(e);
            o.raw = Value::Null;
            if let Some(d) = &details {
                o.details = d.clone();
            }
            o
        }),
        started_at: op.created_at.with_timezone(&payops_core::turkey_offset()),
        siblings: siblings.iter().filter_map(sibling).collect(),
        claimed,
        claim_scope: scope.to_owned(),
        query,
        query_received_at,
        callback: None,
    }
}

/// Per unresolved refund or cancel of the order of `ops` (`unknown`, or
/// in flight past the guard: `held`), the transactions listed by `query`
/// (a stored successful query of the order) that it could own, by the
/// provider's own reconciliation of it against that query: its proof and
/// its candidates. `None` when a provider step could not be asked (an
/// operation of an unknown kind, a step's error): the ledger then leaves
/// every listed return of an unresolved operation's amount to it. Sans-IO:
/// nothing is sent, nothing is settled.
pub(crate) fn could_own(
    provider: &PluginProvider,
    ctx: &OperationContext,
    scope: &str,
    ops: &[StoredOperation],
    query: &Envelope,
    held: &HashMap<String, i64>,
    claimed: &[(String, String)],
) -> Option<HashMap<String, HashSet<String>>> {
    let mut out = HashMap::new();
    for op in ops
        .iter()
        .filter(|o| crate::ledger::returns_money(&o.operation))
    {
        let open = op.state == State::Unknown
            || (op.state == State::InFlight && held.contains_key(&op.id));
        if !open {
            continue;
        }
        let kind = op.operation.parse::<OperationKind>().ok()?;
        let claims = claimed
            .iter()
            .map(|(t, o)| Claim {
                transaction_id: t.clone(),
                operation_id: o.clone(),
            })
            .collect();
        let input = input_of(
            op,
            kind,
            ops,
            claims,
            scope,
            outcome_of(query),
            query.finished_at,
        );
        let r = provider.reconcile(ctx, input).ok()?;
        let mine: HashSet<String> = r.transaction_id.into_iter().chain(r.candidates).collect();
        out.insert(op.id.clone(), mine);
    }
    Some(out)
}
