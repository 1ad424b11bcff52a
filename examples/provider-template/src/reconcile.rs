//! Settling an operation left `unknown`, from a fresh payment query.

use payops_core::{OperationKind, ReconcileInput, Resolution, Verdict};

/// Acme Pay records the `Idempotency-Key` of every refund and cancel, so a
/// record carrying this operation's id is this operation's and no other's.
/// Its absence proves nothing (the request may still be on its way).
pub fn reconcile(input: &ReconcileInput) -> Resolution {
    let raw = &input.query.raw;
    let record = match input.operation {
        OperationKind::Refund => raw["refunds"].as_array().and_then(|refunds| {
            refunds
                .iter()
                .find(|r| r["idempotency_key"] == input.operation_id.as_str())
        }),
        OperationKind::Cancel => Some(&raw["cancellation"])
            .filter(|c| c["idempotency_key"] == input.operation_id.as_str()),
        _ => None,
    };
    let Some(record) = record else {
        return Resolution::undetermined(
            "Acme Pay lists no record with this operation's idempotency key",
        );
    };
    let verdict = match record["status"].as_str() {
        Some("succeeded") => Verdict::Succeeded,
        Some("failed") => Verdict::Failed,
        Some("pending") => Verdict::Pending,
        _ => Verdict::Undetermined,
    };
    Resolution {
        verdict,
        transaction_id: record["id"].as_str().map(str::to_owned),
        evidence: format!(
            "Acme Pay record {} carries this operation's idempotency key",
            record["id"]
        ),
        candidates: Vec::new(),
    }
}
