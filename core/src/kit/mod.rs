//! The provider kit: what two providers share, written once. Every Turkish
//! wire style payops meets is here, each helper tested on the providers'
//! published samples:
//!
//! - [`json`]: JSON answers read without rounding a number;
//! - [`xml`]: bounded XML reading (depth and size limits, no DOCTYPE, no
//!   entities) and writing with escaping, on quick-xml (SOAP and plain XML
//!   APIs such as TurkPos and NestPay);
//! - [`form`]: `application/x-www-form-urlencoded` bodies, both ways;
//! - [`charset`]: answers in ISO-8859-9 / windows-1254 decoded to text;
//! - [`redact`]: credentials that travel in a request body (JSON, form or
//!   XML) blanked before a request or answer is stored or logged;
//! - [`returns`]: settling a return from a query: the whole-order rule
//!   (totals only) and the listed-row rule (each return listed);
//! - [`wire`]: URLs under an account's override, timeouts, point-decimal
//!   amounts, the operation id as the provider's reference;
//! - [`one_request!`](crate::one_request) and
//!   [`operation!`](crate::operation): an operation trait's impl from its
//!   request and its answer's reading.
//!
//! Money has its own module ([`crate::money`]): ISO 4217 alphabetic and
//! numeric codes, each currency's minor-unit exponent, and exact
//! major-unit decimal formatting and parsing.

pub mod charset;
pub mod form;
pub mod json;
pub mod redact;
pub mod returns;
pub mod wire;
pub mod xml;
