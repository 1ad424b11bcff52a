//! Money as integer minor units with an ISO 4217 currency, and exact decimal
//! conversion for the wire formats providers use.
//!
//! No floating point is used anywhere: amounts are `i64` minor units, decimal
//! strings are parsed and printed digit by digit, and an amount that cannot be
//! represented exactly is an error, never a rounding.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Errors from money arithmetic and decimal conversion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Two amounts in different currencies were combined.
    #[error("currency mismatch: {left} and {right}")]
    CurrencyMismatch {
        /// The currency of the left operand.
        left: Currency,
        /// The currency of the right operand.
        right: Currency,
    },
    /// The result does not fit in 64-bit minor units.
    #[error("amount overflow")]
    Overflow,
    /// A decimal has more fractional digits than the currency's minor unit allows.
    #[error("{input:?} has more than {exponent} decimal places; refusing to round")]
    Precision {
        /// The text that was parsed.
        input: String,
        /// The currency's number of decimal places.
        exponent: u32,
    },
    /// The text is not a decimal number in the expected form.
    #[error("{input:?} is not a decimal amount ({reason})")]
    Syntax {
        /// The text that was parsed.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The currency code is not a known ISO 4217 code.
    #[error("unknown currency {0:?} (expected an ISO 4217 code such as \"TRY\")")]
    UnknownCurrency(String),
}

/// An ISO 4217 currency code with a known minor-unit exponent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    exponent: u32,
}

impl Currency {
    /// Turkish lira, the default currency of documents.
    pub const TRY: Currency = Currency {
        code: *b"TRY",
        exponent: 2,
    };

    /// Looks a currency up by its ISO 4217 alphabetic code (upper case):
    /// every active code with a minor unit (the `iso_currency` crate's
    /// table). Codes without a minor unit (gold `XAU`, SDRs `XDR`, ...) are
    /// not money payops moves and are refused.
    pub fn from_code(code: &str) -> Result<Currency, MoneyError> {
        let unknown = || MoneyError::UnknownCurrency(code.to_owned());
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(unknown());
        }
        let iso = iso_currency::Currency::from_code(code).ok_or_else(unknown)?;
        let exponent = iso.exponent().ok_or_else(unknown)?;
        let b = code.as_bytes();
        Ok(Currency {
            code: [b[0], b[1], b[2]],
            exponent: u32::from(exponent),
        })
    }

    /// The alphabetic code, e.g. `"TRY"`.
    pub fn code(&self) -> &str {
        // The code is always three ASCII letters taken from the table.
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// Number of decimal places of the minor unit (2 for TRY: 1 lira = 100 kuruş).
    pub fn exponent(&self) -> u32 {
        self.exponent
    }

    /// The ISO 4217 numeric code, as banks' APIs write currencies (NestPay's
    /// `Currency` is `949` for TRY).
    pub fn numeric(&self) -> u16 {
        iso_currency::Currency::from_code(self.code())
            .map(|c| c.numeric())
            .unwrap_or(0)
    }

    /// Looks a currency up by its ISO 4217 numeric code (`949` is TRY);
    /// the same currencies as [`Currency::from_code`].
    pub fn from_numeric(numeric: u16) -> Result<Currency, MoneyError> {
        let iso = iso_currency::Currency::from_numeric(numeric)
            .ok_or_else(|| MoneyError::UnknownCurrency(format!("{numeric:03}")))?;
        Currency::from_code(iso.code())
    }

    /// [`Currency::from_numeric`] from text as it stands on the wire
    /// (`"949"`, `"0949"` is not a code: exactly three digits).
    pub fn from_numeric_str(text: &str) -> Result<Currency, MoneyError> {
        let t = text.trim();
        if t.len() != 3 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MoneyError::UnknownCurrency(t.to_owned()));
        }
        Currency::from_numeric(
            t.parse()
                .map_err(|_| MoneyError::UnknownCurrency(t.to_owned()))?,
        )
    }
}

impl Default for Currency {
    fn default() -> Self {
        Currency::TRY
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::from_code(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::from_code(&s).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Currency {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Currency".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "title": "Currency",
            "description": "ISO 4217 alphabetic currency code with a minor unit (each provider's request schema says which it accepts).",
            "pattern": "^[A-Z]{3}$",
            "default": "TRY"
        })
    }
}

/// An amount of money: integer minor units of one currency.
///
/// Arithmetic is checked: overflow and mixing currencies are errors.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Amount in minor units (kuruş for TRY); may be negative.
    pub amount: i64,
    /// The currency of the amount.
    #[serde(default)]
    pub currency: Currency,
}

impl Money {
    /// An amount of `minor` minor units of `currency`.
    pub const fn new(minor: i64, currency: Currency) -> Money {
        Money {
            amount: minor,
            currency,
        }
    }

    /// An amount in Turkish lira, given in kuruş.
    pub const fn try_minor(minor: i64) -> Money {
        Money::new(minor, Currency::TRY)
    }

    /// The amount in minor units.
    pub fn minor(&self) -> i64 {
        self.amount
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    /// `self + other`, refusing overflow and mixed currencies.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// `self - other`, refusing overflow and mixed currencies.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// `-self`, refusing overflow (`i64::MIN`).
    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        let amount = self.amount.checked_neg().ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// `self * n` (e.g. a quantity), refusing overflow.
    pub fn checked_mul(self, n: i64) -> Result<Money, MoneyError> {
        let amount = self.amount.checked_mul(n).ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// True when the amount is above zero.
    pub fn is_positive(&self) -> bool {
        self.amount > 0
    }

    /// True when the amount is below zero.
    pub fn is_negative(&self) -> bool {
        self.amount < 0
    }

    /// True when the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.amount == 0
    }

    /// The amount in major units with a `.` decimal point and exactly the
    /// currency's decimals: `1234` kuruş is `"12.34"`.
    pub fn to_decimal_string(&self) -> String {
        format_minor(self.amount, self.currency.exponent, '.')
    }

    /// Parses a major-unit decimal in the given style, exactly.
    pub fn parse_decimal(
        input: &str,
        currency: Currency,
        style: DecimalStyle,
    ) -> Result<Money, MoneyError> {
        parse_minor(input, currency.exponent, style).map(|m| Money::new(m, currency))
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

/// How a decimal amount is written on a wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalStyle {
    /// `1250.00`: a `.` decimal point, no grouping.
    Point,
    /// `1.250,00` or `1250,00`: a `,` decimal separator, optional `.` thousands grouping.
    Comma,
    /// Either of the above, decided per value: a `,` means [`DecimalStyle::Comma`];
    /// otherwise a `.` followed by groups of exactly three digits (`1.250`,
    /// `1.250.000`) is thousands grouping; otherwise a `.` is the decimal point.
    Auto,
}

/// Formats `minor` units as a decimal with `exponent` decimals and the given separator.
pub fn format_minor(minor: i64, exponent: u32, separator: char) -> String {
    let negative = minor < 0;
    let digits = minor.unsigned_abs().to_string();
    let exp = exponent as usize;
    let mut out = String::with_capacity(digits.len() + 3);
    if negative {
        out.push('-');
    }
    if exp == 0 {
        out.push_str(&digits);
        return out;
    }
    let padded = if digits.len() <= exp {
        format!("{}{}", "0".repeat(exp + 1 - digits.len()), digits)
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - exp);
    out.push_str(int);
    out.push(separator);
    out.push_str(frac);
    out
}

fn syntax(input: &str, reason: &'static str) -> MoneyError {
    MoneyError::Syntax {
        input: input.to_owned(),
        reason,
    }
}

fn is_thousands_grouped(s: &str, sep: char) -> bool {
    let mut parts = s.split(sep);
    let first = parts.next().unwrap_or("");
    if first.is_empty() || first.len() > 3 || !first.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let mut any = false;
    for p in parts {
        any = true;
        if p.len() != 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    any
}

/// Parses a major-unit decimal into minor units, exactly.
///
/// Accepts an optional sign, surrounding white space and a trailing `₺` or
/// `TL`. More decimals than `exponent` are accepted only when the extra
/// digits are zeros (`"12,500"` with exponent 2 is 1250); otherwise the value
/// is refused rather than rounded.
pub fn parse_minor(input: &str, exponent: u32, style: DecimalStyle) -> Result<i64, MoneyError> {
    let mut s = input.trim();
    for suffix in ["₺", "TL", "TRY"] {
        if let Some(rest) = s.strip_suffix(suffix) {
            s = rest.trim_end();
        }
    }
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if s.is_empty() {
        return Err(syntax(input, "no digits"));
    }
    let style = match style {
        DecimalStyle::Auto if s.contains(',') => DecimalStyle::Comma,
        DecimalStyle::Auto if is_thousands_grouped(s, '.') => DecimalStyle::Comma,
        DecimalStyle::Auto => DecimalStyle::Point,
        other => other,
    };
    let (int_part, frac_part) = match style {
        DecimalStyle::Point => match s.split_once('.') {
            Some((i, f)) => (i.to_owned(), Some(f)),
            None => (s.to_owned(), None),
        },
        _ => {
            let (i, f) = match s.split_once(',') {
                Some((i, f)) => (i, Some(f)),
                None => (s, None),
            };
            if i.contains('.') {
                if !is_thousands_grouped(i, '.') {
                    return Err(syntax(input, "misplaced thousands separator"));
                }
                (i.replace('.', ""), f)
            } else {
                (i.to_owned(), f)
            }
        }
    };
    if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax(
            input,
            "expected digits before the decimal separator",
        ));
    }
    let frac = frac_part.unwrap_or("");
    if frac_part.is_some() && frac.is_empty() {
        return Err(syntax(input, "expected digits after the decimal separator"));
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax(input, "unexpected character"));
    }
    let exp = exponent as usize;
    let (kept, extra) = if frac.len() > exp {
        frac.split_at(exp)
    } else {
        (frac, "")
    };
    if extra.bytes().any(|b| b != b'0') {
        return Err(MoneyError::Precision {
            input: input.to_owned(),
            exponent,
        });
    }
    let scale = 10i64.checked_pow(exponent).ok_or(MoneyError::Overflow)?;
    let int: i64 = int_part
        .trim_start_matches('0')
        .parse::<i64>()
        .or_else(|_| {
            if int_part.bytes().all(|b| b == b'0') {
                Ok(0)
            } else {
                Err(MoneyError::Overflow)
            }
        })?;
    let mut frac_value: i64 = 0;
    for (i, b) in kept.bytes().enumerate() {
        let digit = i64::from(b - b'0');
        frac_value += digit * 10i64.pow((exp - 1 - i) as u32);
    }
    let magnitude = int
        .checked_mul(scale)
        .and_then(|v| v.checked_add(frac_value))
        .ok_or(MoneyError::Overflow)?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// Parses a JSON value that is either a decimal string (in `style`) or a JSON
/// number into minor units, exactly.
///
/// JSON numbers are taken from their shortest decimal representation, which
/// reproduces the literal the sender wrote for any amount up to 15 significant
/// digits; a number beyond that is refused rather than guessed.
pub fn parse_json_minor(
    value: &serde_json::Value,
    exponent: u32,
    style: DecimalStyle,
) -> Result<i64, MoneyError> {
    match value {
        serde_json::Value::String(s) => parse_minor(s, exponent, style),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let scale = 10i64.checked_pow(exponent).ok_or(MoneyError::Overflow)?;
                return i.checked_mul(scale).ok_or(MoneyError::Overflow);
            }
            let f = n
                .as_f64()
                .ok_or_else(|| syntax(&n.to_string(), "not a number"))?;
            if !f.is_finite() || f.abs() >= 1e13 {
                return Err(MoneyError::Overflow);
            }
            // serde_json prints the shortest representation that round-trips.
            let text = n.to_string();
            if text.contains(['e', 'E']) {
                return Err(syntax(&text, "exponent notation is not an exact amount"));
            }
            parse_minor(&text, exponent, DecimalStyle::Point)
        }
        _ => Err(syntax(&value.to_string(), "expected a string or a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_pads_and_signs() {
        assert_eq!(format_minor(0, 2, '.'), "0.00");
        assert_eq!(format_minor(5, 2, '.'), "0.05");
        assert_eq!(format_minor(-5, 2, ','), "-0,05");
        assert_eq!(format_minor(3000, 2, '.'), "30.00");
        assert_eq!(format_minor(125000, 2, ','), "1250,00");
        assert_eq!(format_minor(-1234, 0, '.'), "-1234");
        assert_eq!(format_minor(i64::MIN, 2, '.'), "-92233720368547758.08");
        assert_eq!(format_minor(1, 3, '.'), "0.001");
    }

    #[test]
    fn parse_comma_forms() {
        let p = |s| parse_minor(s, 2, DecimalStyle::Comma);
        assert_eq!(p("1250,00"), Ok(125000));
        assert_eq!(p("148,88"), Ok(14888));
        assert_eq!(p("1.250,00"), Ok(125000));
        assert_eq!(p("1.250.000,5"), Ok(125000050));
        assert_eq!(p("5,00 ₺"), Ok(500));
        assert_eq!(p("-5,00"), Ok(-500));
        assert_eq!(p("0,01"), Ok(1));
        assert_eq!(p("12"), Ok(1200));
        assert!(matches!(p("1.25,00"), Err(MoneyError::Syntax { .. })));
        assert!(matches!(p("12,345"), Err(MoneyError::Precision { .. })));
        assert_eq!(p("12,340"), Ok(1234));
        assert!(matches!(p(","), Err(MoneyError::Syntax { .. })));
        assert!(matches!(p("12,"), Err(MoneyError::Syntax { .. })));
        assert!(matches!(p("abc"), Err(MoneyError::Syntax { .. })));
        assert!(matches!(p(""), Err(MoneyError::Syntax { .. })));
    }

    #[test]
    fn parse_point_and_auto() {
        assert_eq!(parse_minor("30.00", 2, DecimalStyle::Point), Ok(3000));
        assert_eq!(parse_minor("10.01", 2, DecimalStyle::Point), Ok(1001));
        assert_eq!(parse_minor("29.99", 2, DecimalStyle::Auto), Ok(2999));
        assert_eq!(parse_minor("1250,00", 2, DecimalStyle::Auto), Ok(125000));
        assert_eq!(parse_minor("1.250", 2, DecimalStyle::Auto), Ok(125000));
        assert_eq!(parse_minor("1.25", 2, DecimalStyle::Auto), Ok(125));
        assert_eq!(parse_minor("1250", 2, DecimalStyle::Auto), Ok(125000));
        assert!(matches!(
            parse_minor("1.2.3", 2, DecimalStyle::Point),
            Err(MoneyError::Syntax { .. })
        ));
        assert_eq!(
            parse_minor("99999999999999999999", 2, DecimalStyle::Point),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            parse_minor("92233720368547758.07", 2, DecimalStyle::Point),
            Ok(i64::MAX)
        );
        assert_eq!(
            parse_minor("92233720368547758.08", 2, DecimalStyle::Point),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn parse_json_numbers_exactly() {
        use serde_json::json;
        let p = |v| parse_json_minor(&v, 2, DecimalStyle::Auto);
        assert_eq!(p(json!(-5)), Ok(-500));
        assert_eq!(p(json!(29.99)), Ok(2999));
        assert_eq!(p(json!(0.1)), Ok(10));
        assert_eq!(p(json!(1073.0)), Ok(107300));
        assert_eq!(p(json!("5.00")), Ok(500));
        assert_eq!(p(json!(343666)), Ok(34366600));
        assert!(matches!(p(json!(0.005)), Err(MoneyError::Precision { .. })));
        assert!(p(json!(1e20)).is_err());
        assert!(p(json!(null)).is_err());
        assert_eq!(p(json!(i64::MAX)), Err(MoneyError::Overflow));
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Money::try_minor(1000);
        let b = Money::try_minor(250);
        assert_eq!(a.checked_add(b), Ok(Money::try_minor(1250)));
        assert_eq!(b.checked_sub(a), Ok(Money::try_minor(-750)));
        assert!(b.checked_sub(a).unwrap().is_negative());
        assert_eq!(
            Money::try_minor(i64::MAX).checked_add(Money::try_minor(1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::try_minor(i64::MIN).checked_sub(Money::try_minor(1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::try_minor(i64::MIN).checked_neg(),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::try_minor(i64::MAX).checked_mul(2),
            Err(MoneyError::Overflow)
        );
        let usd = Money::new(1, Currency::from_code("USD").unwrap());
        assert_eq!(
            a.checked_add(usd),
            Err(MoneyError::CurrencyMismatch {
                left: Currency::TRY,
                right: usd.currency
            })
        );
        assert!(a.checked_sub(usd).is_err());
    }

    #[test]
    fn currency_codes_and_exponents() {
        assert_eq!(Currency::from_code("TRY").unwrap().exponent(), 2);
        assert_eq!(Currency::from_code("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::from_code("KWD").unwrap().exponent(), 3);
        assert!(matches!(
            Currency::from_code("try"),
            Err(MoneyError::UnknownCurrency(_))
        ));
        assert_eq!(Currency::default(), Currency::TRY);
        // ISO 4217 minor units (List One), beyond the first providers' needs.
        for (code, exponent) in [
            ("NOK", 2),
            ("HUF", 2),
            ("BHD", 3),
            ("ISK", 0),
            ("CLF", 4),
            ("UYW", 4),
        ] {
            assert_eq!(
                Currency::from_code(code).unwrap().exponent(),
                exponent,
                "{code}"
            );
            assert_eq!(Currency::from_code(code).unwrap().code(), code);
        }
        // No minor unit (gold, SDR), not a code, not three upper-case letters.
        for code in ["XAU", "XDR", "ZZZ", "TR", "TRYY", "", "T\u{130}Y"] {
            assert!(
                matches!(
                    Currency::from_code(code),
                    Err(MoneyError::UnknownCurrency(_))
                ),
                "{code}"
            );
        }
        let jpy = Money::parse_decimal(
            "1200",
            Currency::from_code("JPY").unwrap(),
            DecimalStyle::Point,
        );
        assert_eq!(jpy.unwrap().minor(), 1200);
        assert!(
            Money::parse_decimal(
                "12.5",
                Currency::from_code("JPY").unwrap(),
                DecimalStyle::Point
            )
            .is_err()
        );
    }

    #[test]
    fn money_serde_and_display() {
        let m = Money::try_minor(-1234);
        assert_eq!(m.to_string(), "-12.34 TRY");
        let v = serde_json::to_value(m).unwrap();
        assert_eq!(v, serde_json::json!({"amount": -1234, "currency": "TRY"}));
        let back: Money = serde_json::from_value(serde_json::json!({"amount": 5})).unwrap();
        assert_eq!(back, Money::try_minor(5));
        assert!(serde_json::from_value::<Money>(serde_json::json!({"amount": 1.5})).is_err());
        assert!(
            serde_json::from_value::<Money>(serde_json::json!({"amount": 1, "currency": "XXX"}))
                .is_err()
        );
    }

    #[test]
    fn round_trip_every_small_amount() {
        for minor in -10_000i64..=10_000 {
            let s = format_minor(minor, 2, ',');
            assert_eq!(parse_minor(&s, 2, DecimalStyle::Comma), Ok(minor), "{s}");
            let s = format_minor(minor, 2, '.');
            assert_eq!(parse_minor(&s, 2, DecimalStyle::Point), Ok(minor), "{s}");
        }
    }

    /// ISO 4217's own table (the standard's list, as NestPay's guide
    /// writes currencies): TRY 949, USD 840, EUR 978, JPY 392 with no
    /// minor unit, KWD 414 with three.
    #[test]
    fn numeric_codes_and_exponents() {
        for (alpha, numeric, exponent) in [
            ("TRY", 949, 2),
            ("USD", 840, 2),
            ("EUR", 978, 2),
            ("GBP", 826, 2),
            ("JPY", 392, 0),
            ("KWD", 414, 3),
        ] {
            let c = Currency::from_code(alpha).unwrap();
            assert_eq!((c.numeric(), c.exponent()), (numeric, exponent), "{alpha}");
            assert_eq!(Currency::from_numeric(numeric).unwrap(), c);
            assert_eq!(
                Currency::from_numeric_str(&format!("{numeric}")).unwrap(),
                c
            );
        }
        assert!(
            Currency::from_numeric(999).is_err(),
            "XXX has no minor unit"
        );
        assert!(Currency::from_numeric(1).is_err());
        assert!(Currency::from_numeric_str("0949").is_err());
        assert!(Currency::from_numeric_str("94a").is_err());
        // Exact decimal formatting by exponent, in one place.
        let kwd = Currency::from_code("KWD").unwrap();
        assert_eq!(format_minor(12345, kwd.exponent(), '.'), "12.345");
        assert_eq!(format_minor(1250, Currency::TRY.exponent(), ','), "12,50");
        assert_eq!(
            parse_minor("12.345", kwd.exponent(), DecimalStyle::Point).unwrap(),
            12345
        );
        assert!(parse_minor("12.3456", kwd.exponent(), DecimalStyle::Point).is_err());
    }
}
