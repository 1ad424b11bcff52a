//! PayTR's documented codes, literally: the refund's `err_no` values.
//! Sources: `docs/providers/paytr.md`.

use payops_core::Reason;

/// `err_no` values PayTR documents, with the reason each gets (any other
/// `error` is `failed` / `refused`).
pub const ERR_NO: &[(&str, Reason, &str)] = &[
    (
        "006",
        Reason::AmountExceedsRemaining,
        "Toplam iade tutarı odeme tutarindan fazla olamaz",
    ),
    (
        "004",
        Reason::NotFound,
        "merchant_oid ile basarili odeme bulunamadi",
    ),
];
