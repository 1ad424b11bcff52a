//! iyzico's documented error codes, literally. Sources:
//! `docs/providers/iyzico.md`.

/// The documented `errorCode`s payops maps, and what each means. Every
/// other code of a `failure` answer is `unknown`: iyzico's full list is not
/// given per endpoint, and a code we cannot place may follow an action.
pub const ERROR_CODES: &[(&str, &str)] = &[
    ("11", "Geçersiz istek (invalid request)"),
    ("1000", "Geçersiz imza (invalid signature)"),
    ("1001", "Api bilgileri bulunamadı (API key not found)"),
    (
        "1004",
        "Random string gönderilmesi zorunludur (x-iyzi-rnd missing)",
    ),
    ("10051", "NOT_SUFFICIENT_FUNDS (a bank error, 10000 range)"),
];
