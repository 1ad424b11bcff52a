//! NestPay's documented codes, literally: `ProcReturnCode` values and the
//! `Extra/ERRORCODE` values of an `Error` answer payops knows, with what
//! payops makes of each. Sources: `docs/providers/nestpay.md`.

use payops_core::{Reason, Status};

/// `ProcReturnCode` values and what they say (public clients' code
/// tables; `00` alone is approval).
pub const PROC_RETURN_CODES: &[(&str, &str)] = &[
    ("00", "approved"),
    ("01", "refer to the card issuer"),
    ("02", "refer to the card issuer"),
    ("05", "rejected"),
    ("09", "try again"),
    ("12", "invalid transaction"),
    ("28", "rejected"),
    ("51", "insufficient balance"),
    ("54", "expired card"),
    ("57", "not allowed to the card holder"),
    ("62", "restricted card"),
    ("77", "request rejected"),
    ("99", "general error"),
];

/// `Extra/ERRORCODE` values of an `Error` answer payops knows, with the
/// status and reason each gets. Any other `Error` is `unknown`.
pub const ERROR_CODES: &[(&str, Status, Reason, &str)] = &[
    (
        "CORE-2508",
        Status::Failed,
        Reason::NotAllowedToday,
        "no refund before end of day: cancel instead",
    ),
    (
        "CORE-2008",
        Status::Unknown,
        Reason::AlreadyCancelled,
        "no sale fit to cancel: the order may be voided already",
    ),
    (
        "215021",
        Status::Unknown,
        Reason::AmountExceedsRemaining,
        "net amount 0: the order may be refunded in full already",
    ),
];
