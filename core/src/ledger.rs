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

use chrono::{DateTime, FixedOffset};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::details::{PaymentStatus, QueryDetails, Transaction};
use crate::money::Currency;

/// How a provider's query lists an order's returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnsListed {
    /// Every return, one row each (with its transaction id where the
    /// provider gives one, amount, date and state).
    EachReturn,
    /// Only the total returned: a floor for what is refunded, nothing to
    /// attribute to an operation.
    TotalOnly,
    /// Nothing about returns (the query is about the payment only).
    #[default]
    NotListed,
}

/// A cancel (void) or a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnKind {
    /// A cancel (void): the payment reversed, usually the same day.
    Cancel,
    /// A refund.
    Refund,
}

/// The state of a listed return, by the provider's status table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnState {
    /// Done: the money went back.
    Succeeded,
    /// Accepted, not done yet (queued, under review): money at risk.
    Pending,
    /// Declined: no money moved.
    Failed,
    /// A row after the sale whose status payops does not know: it may be a
    /// return that moved money, so it counts as at risk.
    Unknown,
}

/// One return the provider lists for the order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListedReturn {
    /// The provider's transaction id of the return, where it gives one.
    pub transaction_id: Option<String>,
    /// Cancel or refund.
    pub kind: ReturnKind,
    /// Its state.
    pub state: ReturnState,
    /// Amount in minor units (of the order's currency).
    pub amount: Option<i64>,
    /// When it happened, by the provider's clock (+03:00).
    pub date: Option<DateTime<FixedOffset>>,
}

/// What a query says about an order, for the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderFacts {
    /// The order the answer names.
    pub order_ref: Option<String>,
    /// The payment's state.
    pub payment_status: PaymentStatus,
    /// What was paid, in minor units; `None` when the answer does not say.
    pub paid: Option<i64>,
    /// The currency of every amount here.
    pub currency: Currency,
    /// How the returns are listed.
    pub listed: ReturnsListed,
    /// The returns, one row each ([`ReturnsListed::EachReturn`]).
    #[serde(default)]
    pub returns: Vec<ListedReturn>,
    /// The provider's own total of what was returned, where it gives one:
    /// what is refunded is at least this.
    pub returned_total: Option<i64>,
}

impl OrderFacts {
    /// The facts of a provider that lists every return: `classify` says,
    /// for each transaction (with its index in the answer), whether it is
    /// a return and in which state (`None`: not a return, e.g. the sale).
    pub fn listing(
        details: &QueryDetails,
        classify: impl Fn(usize, &Transaction) -> Option<(ReturnKind, ReturnState)>,
    ) -> OrderFacts {
        let returns = details
            .transactions
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                classify(i, t).map(|(kind, state)| ListedReturn {
                    transaction_id: t.transaction_id.clone(),
                    kind,
                    state,
                    amount: t.amount,
                    date: t.date,
                })
            })
            .collect();
        OrderFacts {
            listed: ReturnsListed::EachReturn,
            returns,
            ..OrderFacts::not_listed(details)
        }
    }

    /// The facts of a provider that gives only the total returned
    /// ([`QueryDetails::refunded_amount`]).
    pub fn totals(details: &QueryDetails) -> OrderFacts {
        OrderFacts {
            listed: ReturnsListed::TotalOnly,
            ..OrderFacts::not_listed(details)
        }
    }

    /// The facts of a provider whose query says nothing about returns:
    /// only what was paid.
    pub fn not_listed(details: &QueryDetails) -> OrderFacts {
        OrderFacts {
            order_ref: details.order_ref.clone(),
            payment_status: details.payment_status,
            paid: details.amount,
            currency: details.currency,
            listed: ReturnsListed::NotListed,
            returns: Vec::new(),
            returned_total: details.refunded_amount,
        }
    }

    /// The total of the listed returns in `state` (`None` when an amount
    /// is missing or the sum overflows: it cannot be counted exactly).
    pub fn listed_total(&self, state: ReturnState) -> Option<i64> {
        self.returns
            .iter()
            .filter(|r| r.state == state)
            .try_fold(0i64, |acc, r| acc.checked_add(r.amount?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::details::TransactionStatus;

    fn details(transactions: Vec<Transaction>, refunded: Option<i64>) -> QueryDetails {
        QueryDetails {
            payment_status: PaymentStatus::PartiallyRefunded,
            provider_payment_status: None,
            amount: Some(10_000),
            currency: Currency::TRY,
            installment: None,
            payment_date: None,
            refunded_amount: refunded,
            order_ref: Some("A-1".into()),
            transactions,
            extra: Default::default(),
            ledger: None,
        }
    }

    fn row(id: &str, status: TransactionStatus, amount: Option<i64>) -> Transaction {
        Transaction {
            transaction_id: Some(id.into()),
            status_id: None,
            status,
            status_name: None,
            amount,
            date: None,
            merchant_transfer: None,
            sub_merchants: Vec::new(),
        }
    }

    #[test]
    fn listing_keeps_what_the_provider_classifies_as_returns() {
        let d = details(
            vec![
                row("S", TransactionStatus::PaymentSucceeded, Some(10_000)),
                row("R1", TransactionStatus::RefundSucceeded, Some(1_000)),
                row("R2", TransactionStatus::Pending, Some(500)),
                row("R3", TransactionStatus::RefundFailed, Some(700)),
            ],
            None,
        );
        let f = OrderFacts::listing(&d, |i, t| match t.status {
            TransactionStatus::RefundSucceeded => {
                Some((ReturnKind::Refund, ReturnState::Succeeded))
            }
            TransactionStatus::RefundFailed => Some((ReturnKind::Refund, ReturnState::Failed)),
            TransactionStatus::Pending if i > 0 => Some((ReturnKind::Refund, ReturnState::Pending)),
            _ => None,
        });
        let ids: Vec<_> = f
            .returns
            .iter()
            .map(|r| r.transaction_id.as_deref().unwrap())
            .collect();
        assert_eq!(ids, ["R1", "R2", "R3"]);
        assert_eq!(f.listed_total(ReturnState::Succeeded), Some(1_000));
        assert_eq!(f.listed_total(ReturnState::Pending), Some(500));
        assert_eq!(f.paid, Some(10_000));
        // An amount missing: the total cannot be counted.
        let d = details(
            vec![row("R", TransactionStatus::RefundSucceeded, None)],
            None,
        );
        let f = OrderFacts::listing(&d, |_, _| {
            Some((ReturnKind::Refund, ReturnState::Succeeded))
        });
        assert_eq!(f.listed_total(ReturnState::Succeeded), None);
    }

    #[test]
    fn totals_and_nothing_listed() {
        let d = details(Vec::new(), Some(2_500));
        let t = OrderFacts::totals(&d);
        assert_eq!(
            (t.listed, t.returned_total),
            (ReturnsListed::TotalOnly, Some(2_500))
        );
        assert!(t.returns.is_empty());
        let n = OrderFacts::not_listed(&d);
        assert_eq!(n.listed, ReturnsListed::NotListed);
        // Written and read back as the envelope carries it.
        let back: OrderFacts = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
        assert_eq!(back, t);
        assert_eq!(serde_json::to_value(&t).unwrap()["listed"], "total_only");
    }
}
