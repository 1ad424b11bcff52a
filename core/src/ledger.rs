//! What a provider's query says about an order, in the shape the host's
//! order ledger reads: what was paid (amount, currency), and the returns
//! (cancels and refunds) the provider lists, each with its transaction id,
//! amount, date and state, or only their total where that is all the
//! provider gives. Every provider fills [`QueryDetails::ledger`] in its
//! query's answer with one of the constructors here; which rows are
//! returns, and in which state, is the provider's to say (its
//! documentation's status table), the shape is shared.
//!
//! ```
//! use payops_core::ledger::{OrderFacts, ReturnKind, ReturnState, ReturnsListed};
//! use payops_core::{Currency, PaymentStatus, QueryDetails, Transaction, TransactionStatus};
//!
//! let details = QueryDetails {
//!     payment_status: PaymentStatus::PartiallyRefunded,
//!     provider_payment_status: None,
//!     amount: Some(10_000),
//!     currency: Currency::TRY,
//!     installment: None,
//!     payment_date: None,
//!     refunded_amount: Some(2_500),
//!     order_ref: Some("A-1".into()),
//!     transactions: vec![Transaction {
//!         transaction_id: Some("T-9".into()),
//!         status_id: Some(7),
//!         status: TransactionStatus::RefundSucceeded,
//!         status_name: None,
//!         amount: Some(2_500),
//!         date: None,
//!         merchant_transfer: None,
//!         sub_merchants: Vec::new(),
//!     }],
//!     extra: Default::default(),
//!     ledger: None,
//! };
//! let facts = OrderFacts::listing(&details, |_, t| match t.status {
//!     TransactionStatus::RefundSucceeded => Some((ReturnKind::Refund, ReturnState::Succeeded)),
//!     _ => None,
//! });
//! assert_eq!(facts.listed, ReturnsListed::EachReturn);
//! assert_eq!(facts.paid, Some(10_000));
//! assert_eq!(facts.returns[0].transaction_id.as_deref(), Some("T-9"));
//! assert_eq!(facts.returned_total, Some(2_500));
//! ```

pub use crate::details::{
    ListedReturn, OrderFacts, ReturnKind, ReturnState, ReturnsListed, returns_by_status,
};
