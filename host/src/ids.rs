//! Ids and the clock, a leaf: operation ids and the host's time.

/// A fresh operation id: `op_` + a UUID v7 as 32 lowercase hex digits
/// (48 bits of milliseconds, then 74 random bits: ids sort by creation time).
///
/// Ids of earlier releases (`op_` + 28 hex digits) stay valid: nothing
/// parses an id beyond the generic identifier rules.
pub(crate) fn new_operation_id() -> String {
    format!("op_{}", uuid::Uuid::now_v7().simple())
}

/// Turkish time now.
pub fn now() -> chrono::DateTime<chrono::FixedOffset> {
    payops_transport::turkey_now()
}
