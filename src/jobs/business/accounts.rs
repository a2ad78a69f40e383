//! The chart of accounts of the business ledger: account types with their
//! normal side, and the side of a posting line. Shared by the kinds that
//! read the ledger (settlement, recon-internal) and its fixtures.

use rust_decimal::Decimal;

/// The five account types of the chart of accounts; each has a normal side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AccountType {
    /// 资产: debit-normal.
    Asset,
    /// 负债: credit-normal.
    Liability,
    /// 所有者权益: credit-normal.
    Equity,
    /// 收入 (损益): credit-normal.
    Income,
    /// 费用 (损益): debit-normal.
    Expense,
}

impl AccountType {
    /// Parses the stored name (`asset`, `liability`, `equity`, `income`, `expense`).
    pub fn parse(text: &str) -> Option<AccountType> {
        Some(match text {
            "asset" => AccountType::Asset,
            "liability" => AccountType::Liability,
            "equity" => AccountType::Equity,
            "income" => AccountType::Income,
            "expense" => AccountType::Expense,
            _ => return None,
        })
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::Asset => "asset",
            AccountType::Liability => "liability",
            AccountType::Equity => "equity",
            AccountType::Income => "income",
            AccountType::Expense => "expense",
        }
    }

    /// True for accounts whose balance grows with debits (assets, expenses).
    pub fn is_debit_normal(self) -> bool {
        matches!(self, AccountType::Asset | AccountType::Expense)
    }

    /// The closing balance, on the account's normal side:
    /// debit-normal `opening + debits − credits`, credit-normal `opening + credits − debits`.
    pub fn closing(self, opening: Decimal, debits: Decimal, credits: Decimal) -> Decimal {
        if self.is_debit_normal() {
            opening + debits - credits
        } else {
            opening + credits - debits
        }
    }
}

/// The side of a journal posting line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// 借
    Debit,
    /// 贷
    Credit,
}

impl Direction {
    /// Parses `debit` / `credit`.
    pub fn parse(text: &str) -> Option<Direction> {
        match text {
            "debit" => Some(Direction::Debit),
            "credit" => Some(Direction::Credit),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Debit => "debit",
            Direction::Credit => "credit",
        }
    }
}
