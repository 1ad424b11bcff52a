//! EsnekPOS's documented codes, literally: `RETURN_CODE` with its `STATUS`
//! name (the docs' common table). Sources: `docs/providers/esnekpos.md`.

/// A documented `RETURN_CODE` with its `STATUS` name.
pub const CODES: &[(&str, &str)] = &[
    ("0", "SUCCESS"),
    ("100", "ERROR"),
    ("101", "FIELD_ERROR"),
    ("102", "AUTHENTICATION_ERROR"),
    ("103", "LIMIT_ERROR"),
    ("104", "COMMISSION_ERROR"),
    ("105", "INSERT_ERROR"),
    ("106", "BRAND_ERROR"),
    ("201", "PAYMENT_ERROR"),
    ("34", "BLOCKED_ERROR"),
    ("300", "ORDER_CANCEL"),
    ("999", "UNKNOWN_ERROR"),
];
