//! The business ledger as the settlement job sees it: orders, refunds,
//! accounts and journal postings, and what one business date produces from
//! them (settlement lines, balance snapshots).

use rust_decimal::Decimal;

pub use crate::jobs::business::accounts::{AccountType, Direction};

/// A successful payment order completed inside the business day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub order_no: String,
    pub merchant_id: String,
    pub currency: String,
    pub amount: Decimal,
    pub fee: Decimal,
}

/// A successful refund completed inside the business day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub refund_no: String,
    pub merchant_id: String,
    pub currency: String,
    pub amount: Decimal,
    /// The part of the original fee given back to the merchant.
    pub fee: Decimal,
}

/// An account of the chart of accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub code: String,
    pub name: String,
    pub account_type: AccountType,
    pub currency: String,
    /// The balance before the first business date settled for this account.
    pub opening_balance: Decimal,
}

/// One line of a journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub entry_no: String,
    pub line_no: i64,
    pub account_code: String,
    pub direction: Direction,
    pub amount: Decimal,
    pub currency: String,
}

/// One merchant's settlement in one currency for one business date.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MerchantLine {
    pub merchant_id: String,
    pub currency: String,
    pub payment_count: i64,
    /// Gross successful payments (交易金额).
    pub payment_amount: Decimal,
    pub refund_count: i64,
    pub refund_amount: Decimal,
    /// Order fees less fees given back on refunds (手续费).
    pub fee_amount: Decimal,
    /// `payment_amount − refund_amount − fee_amount` (结算金额).
    pub net_amount: Decimal,
}

/// One account's balance snapshot for one business date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub account_code: String,
    pub account_type: AccountType,
    pub currency: String,
    /// 期初余额
    pub opening: Decimal,
    /// 借方发生额
    pub debit_amount: Decimal,
    /// 贷方发生额
    pub credit_amount: Decimal,
    pub debit_count: i64,
    pub credit_count: i64,
    /// 期末余额
    pub closing: Decimal,
}
