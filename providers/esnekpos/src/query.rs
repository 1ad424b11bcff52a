//! `ProcessQuery` answers normalized into [`QueryDetails`].

use payops_core::{
    Currency, MerchantTransfer, PaymentStatus, QueryDetails, SubMerchantSplit, Transaction,
    TransactionStatus,
};
use serde_json::{Map, Value};

use crate::wire::{amount, int, parse_date, text};

/// Keys of the top level that [`normalize`] maps to typed fields; every other
/// key is kept in `extra`.
const TYPED: &[&str] = &[
    "AMOUNT",
    "INSTALLMENT",
    "PAYMENT_DATE",
    "TRANSACTIONS",
    "RETURN_CODE",
    "RETURN_MESSAGE",
    "ORDER_REF_NUMBER",
    "ORDER_REF_NO",
];

/// `STATUS_ID` -> normalized status (1 and 2 from EsnekPOS's payment pages,
/// 3-8 from the ProcessQuery table).
pub fn transaction_status(id: Option<i64>) -> TransactionStatus {
    match id {
        Some(1) => TransactionStatus::Pending,
        Some(2) => TransactionStatus::Awaiting3ds,
        Some(3) => TransactionStatus::PaymentSucceeded,
        Some(4) => TransactionStatus::PaymentFailed,
        Some(5) => TransactionStatus::CancelSucceeded,
        Some(6) => TransactionStatus::CancelFailed,
        Some(7) => TransactionStatus::RefundSucceeded,
        Some(8) => TransactionStatus::RefundFailed,
        _ => TransactionStatus::Unknown,
    }
}

fn transfer(v: &Value) -> Result<Option<MerchantTransfer>, String> {
    if !v.is_object() {
        return Ok(None);
    }
    Ok(Some(MerchantTransfer {
        extract_id: text(v, &["EXTRACT_ID"]),
        amount: amount(v, "SENDED_AMOUNT")?,
        date: text(v, &["SENDED_DATE"]).and_then(|d| parse_date(&d)),
    }))
}

fn transaction(v: &Value) -> Result<Transaction, String> {
    let status_id = int(v, &["STATUS_ID"]);
    let mut splits = Vec::new();
    if let Some(list) = v.get("SUB_MERCHANT_DETAILS").and_then(Value::as_array) {
        for s in list {
            splits.push(SubMerchantSplit {
                sub_merchant_id: text(s, &["EXTERNAL_ID"]),
                amount: amount(s, "AMOUNT")?,
                date: text(s, &["DATE"]).and_then(|d| parse_date(&d)),
                transfer: transfer(
                    s.get("SUB_MERCHANT_AMOUNT_TRANSFER_DETAIL")
                        .unwrap_or(&Value::Null),
                )?,
            });
        }
    }
    Ok(Transaction {
        transaction_id: text(v, &["TRANSACTION_ID"]),
        status_id,
        status: transaction_status(status_id),
        status_name: text(v, &["STATUS_NAME"]),
        amount: amount(v, "AMOUNT")?,
        date: text(v, &["DATE"]).and_then(|d| parse_date(&d)),
        merchant_transfer: transfer(
            v.get("MERCHANT_AMOUNT_TRANSFER_DETAIL")
                .unwrap_or(&Value::Null),
        )?,
        sub_merchants: splits,
    })
}

/// Normalizes a successful inquiry (`code` 0 or 300).
pub fn normalize(v: &Value, code: &str) -> Result<QueryDetails, String> {
    let mut transactions = Vec::new();
    if let Some(list) = v.get("TRANSACTIONS").and_then(Value::as_array) {
        for t in list {
            transactions.push(transaction(t)?);
        }
    }
    let total = amount(v, "AMOUNT")?;
    let returned = returned_amount(&transactions)
        .ok_or("the returned amounts overflow: the rows cannot be summed exactly")?;
    let cancelled = code == "300" || text(v, &["STATUS"]).as_deref() == Some("ORDER_CANCEL");
    let payment_status = if cancelled {
        PaymentStatus::Cancelled
    } else {
        match transactions.first().map(|t| t.status) {
            Some(TransactionStatus::PaymentFailed) => PaymentStatus::Failed,
            Some(TransactionStatus::Pending | TransactionStatus::Awaiting3ds) => {
                PaymentStatus::Pending
            }
            Some(TransactionStatus::Unknown) => PaymentStatus::Unknown,
            _ => {
                let done: i64 =
                    settled_returns(&transactions).ok_or("the returned amounts overflow")?;
                let any_refund = transactions
                    .iter()
                    .any(|t| t.status == TransactionStatus::RefundSucceeded);
                match total {
                    Some(t) if done >= t && done > 0 => {
                        if any_refund {
                            PaymentStatus::Refunded
                        } else {
                            PaymentStatus::Cancelled
                        }
                    }
                    _ if done > 0 => PaymentStatus::PartiallyRefunded,
                    _ => PaymentStatus::Succeeded,
                }
            }
        }
    };
    let mut extra = Map::new();
    if let Some(obj) = v.as_object() {
        for (k, val) in obj {
            if !TYPED.contains(&k.as_str()) {
                extra.insert(k.clone(), val.clone());
            }
        }
    }
    if let Some(d) = text(v, &["DATE"]).and_then(|d| parse_date(&d)) {
        extra.insert("query_date".into(), Value::String(d.to_rfc3339()));
    }
    Ok(QueryDetails {
        payment_status,
        provider_payment_status: text(v, &["STATUS"]),
        amount: total,
        currency: Currency::TRY,
        installment: int(v, &["INSTALLMENT"]).and_then(|i| u32::try_from(i).ok()),
        payment_date: text(v, &["PAYMENT_DATE"]).and_then(|d| parse_date(&d)),
        refunded_amount: Some(returned),
        order_ref: text(v, &["ORDER_REF_NUMBER", "ORDER_REF_NO"]),
        transactions,
        extra,
    })
}

/// Successful cancels and refunds (status 5 and 7); `None` when the sum
/// overflows.
fn settled_returns(ts: &[Transaction]) -> Option<i64> {
    ts.iter()
        .filter(|t| {
            matches!(
                t.status,
                TransactionStatus::CancelSucceeded | TransactionStatus::RefundSucceeded
            )
        })
        .filter_map(|t| t.amount)
        .try_fold(0i64, |acc, a| acc.checked_add(a))
}

/// Everything returned or on its way back: successful cancels and refunds
/// and, after the first transaction (the payment itself), pending ones
/// (`SYNC_WITH_POS=false` returns waiting for EsnekPOS operations). `None`
/// when the sum overflows.
pub fn returned_amount(ts: &[Transaction]) -> Option<i64> {
    let pending = ts
        .iter()
        .skip(1)
        .filter(|t| t.status == TransactionStatus::Pending)
        .filter_map(|t| t.amount)
        .try_fold(0i64, |acc, a| acc.checked_add(a))?;
    settled_returns(ts)?.checked_add(pending)
}

/// What can still be returned: the payment amount minus everything
/// returned or pending. `None` when the payment is not a completed one or
/// the figures cannot be computed exactly.
pub fn remaining(d: &QueryDetails) -> Option<i64> {
    match d.payment_status {
        PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded => {
            d.amount?.checked_sub(returned_amount(&d.transactions)?)
        }
        _ => None,
    }
}
