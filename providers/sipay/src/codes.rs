//! Sipay's documented status codes, literally, with what payops makes of
//! each on a refund. Sources: `docs/providers/sipay.md`.

use payops_core::{Reason, Status};

/// What payops makes of a code: `Some` status and reason, or `None` for
/// `unknown`.
pub type Decided = Option<(Status, Reason)>;

/// Sipay's documented application status codes that concern a refund or
/// a status check, with what payops makes of each on a refund: `Some`
/// status (and reason) it decides, or `None` for `unknown`. Codes Sipay
/// documents for payments, cards and recurring plans alone are not here:
/// on a refund they are undocumented, so `unknown`.
pub const CODES: &[(i64, &str, Decided)] = &[
    (
        100,
        "Successful",
        Some((Status::Succeeded, Reason::Unknown)),
    ),
    (
        101,
        "Your refund request has been successfully created. Our team will complete the return process",
        Some((Status::Pending, Reason::Unknown)),
    ),
    (
        1,
        "Basic validation",
        Some((Status::Failed, Reason::InvalidRequest)),
    ),
    (
        14,
        "Merchant not found!",
        Some((Status::Failed, Reason::Authentication)),
    ),
    (
        30,
        "Invalid Credentials",
        Some((Status::Failed, Reason::Authentication)),
    ),
    (
        31,
        "Transaction not found",
        Some((Status::Failed, Reason::NotFound)),
    ),
    (
        32,
        "Invalid invoice ID, order not completed",
        Some((Status::Failed, Reason::NotFound)),
    ),
    (
        41,
        "Order failed / Payment failed",
        Some((Status::Failed, Reason::Declined)),
    ),
    (
        49,
        "Refund Failed. The total refund amount must not exceed the net amount. No Sales Transaction Found. Insufficient Balance. Non-refundable transaction status. Please wait at least 30 seconds for another refund. Maximum transaction limit per transaction violated",
        Some((Status::Failed, Reason::Refused)),
    ),
    (
        68,
        "Total amount mismatch with hash key. Currency mismatch with hash key. Hash key and merchant key mismatch. Installment number mismatch with hash key. Hash key and pos ID mismatch. Invoice ID mismatch with hash key",
        Some((Status::Failed, Reason::InvalidRequest)),
    ),
    (
        69,
        "Order not yet processed",
        Some((Status::Failed, Reason::Refused)),
    ),
    (
        90,
        "Invalid Hash key",
        Some((Status::Failed, Reason::InvalidRequest)),
    ),
    (
        91,
        "Hash key that does not match the Merchant key",
        Some((Status::Failed, Reason::InvalidRequest)),
    ),
    (
        105,
        "The transaction has not been approved",
        Some((Status::Failed, Reason::Declined)),
    ),
    (
        110,
        "Partial returns are not allowed for this transaction.",
        Some((Status::Failed, Reason::Declined)),
    ),
    (
        3,
        "Invoice ID already processed. Order with this invoice ID process continues, Please wait or create order with new invoice id",
        None,
    ),
    (99, "Unknown Error", None),
    (104, "Return transaction ID must be unique", None),
    (112, "Partially successful", None),
    (117, "The invoice id already processed", None),
];
