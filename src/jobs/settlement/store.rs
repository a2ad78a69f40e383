//! Reading the business ledger and writing/reading the settlement outputs.
//! SQL is written once for both backends (`$N` placeholders); money goes
//! through [`Money`], instants as `DateTime<Utc>`, business dates as `NaiveDate`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::SettlementError;
use super::model::{
    Account, AccountType, Balance, Direction, MerchantLine, Payment, Posting, Refund,
};
use super::trial_balance::JournalLine;
use super::window::Window;
use crate::db::{Db, DbTx};
use crate::money::Money;
use crate::{on_db, on_tx};

/// Successful payment orders completed in `window`, by order number.
pub async fn payments(db: &Db, window: &Window) -> Result<Vec<Payment>, SettlementError> {
    let rows: Vec<(String, String, String, Money, Money)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT order_no, merchant_id, currency, amount, fee FROM payment_orders \
             WHERE status = 'succeeded' AND completed_at >= $1 AND completed_at < $2 \
             ORDER BY order_no",
        )
        .bind(window.start)
        .bind(window.end)
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|(order_no, merchant_id, currency, amount, fee)| Payment {
            order_no,
            merchant_id,
            currency,
            amount: amount.0,
            fee: fee.0,
        })
        .collect())
}

/// Successful refunds completed in `window`, by refund number.
pub async fn refunds(db: &Db, window: &Window) -> Result<Vec<Refund>, SettlementError> {
    let rows: Vec<(String, String, String, Money, Money)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT refund_no, merchant_id, currency, amount, fee FROM refunds \
             WHERE status = 'succeeded' AND completed_at >= $1 AND completed_at < $2 \
             ORDER BY refund_no",
        )
        .bind(window.start)
        .bind(window.end)
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|(refund_no, merchant_id, currency, amount, fee)| Refund {
            refund_no,
            merchant_id,
            currency,
            amount: amount.0,
            fee: fee.0,
        })
        .collect())
}

/// The chart of accounts, by code.
pub async fn accounts(db: &Db) -> Result<Vec<Account>, SettlementError> {
    let rows: Vec<(String, String, String, String, Money)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT account_code, name, account_type, currency, opening_balance FROM accounts \
             ORDER BY account_code",
        )
        .fetch_all(pool)
        .await?
    });
    rows.into_iter()
        .map(|(code, name, account_type, currency, opening)| {
            let account_type =
                AccountType::parse(&account_type).ok_or_else(|| SettlementError::BadRow {
                    table: "account",
                    key: code.clone(),
                    reason: format!("account type `{account_type}` is unknown"),
                })?;
            Ok(Account {
                code,
                name,
                account_type,
                currency,
                opening_balance: opening.0,
            })
        })
        .collect()
}

/// Journal posting lines posted in `window`, by entry and line.
pub async fn postings(db: &Db, window: &Window) -> Result<Vec<Posting>, SettlementError> {
    let rows: Vec<(String, i64, String, String, Money, String)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT entry_no, line_no, account_code, direction, amount, currency \
             FROM journal_postings WHERE posted_at >= $1 AND posted_at < $2 \
             ORDER BY entry_no, line_no",
        )
        .bind(window.start)
        .bind(window.end)
        .fetch_all(pool)
        .await?
    });
    rows.into_iter()
        .map(
            |(entry_no, line_no, account_code, direction, amount, currency)| {
                let direction =
                    Direction::parse(&direction).ok_or_else(|| SettlementError::BadRow {
                        table: "journal posting",
                        key: format!("{entry_no} line {line_no}"),
                        reason: format!("direction `{direction}` is neither debit nor credit"),
                    })?;
                Ok(Posting {
                    entry_no,
                    line_no,
                    account_code,
                    direction,
                    amount: amount.0,
                    currency,
                })
            },
        )
        .collect()
}

/// Journal lines of `window` for the trial balance.
pub async fn journal_lines(db: &Db, window: &Window) -> Result<Vec<JournalLine>, SettlementError> {
    Ok(postings(db, window)
        .await?
        .into_iter()
        .map(|p| JournalLine {
            entry_no: p.entry_no,
            account_code: p.account_code,
            direction: p.direction,
            amount: p.amount,
            currency: p.currency,
        })
        .collect())
}

/// Closing balances of `job`'s snapshots for `date`: account → closing.
pub async fn closings(
    db: &Db,
    job: &str,
    date: NaiveDate,
) -> Result<BTreeMap<String, Decimal>, SettlementError> {
    let rows: Vec<(String, Money)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT account_code, closing_balance FROM account_balances \
             WHERE job = $1 AND business_date = $2",
        )
        .bind(job)
        .bind(date)
        .fetch_all(pool)
        .await?
    });
    Ok(rows.into_iter().map(|(code, m)| (code, m.0)).collect())
}

/// Accounts with a snapshot of `job` before `date`: account → latest such date.
pub async fn snapshots_before(
    db: &Db,
    job: &str,
    date: NaiveDate,
) -> Result<BTreeMap<String, NaiveDate>, SettlementError> {
    let rows: Vec<(String, NaiveDate)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT account_code, MAX(business_date) FROM account_balances \
             WHERE job = $1 AND business_date < $2 GROUP BY account_code",
        )
        .bind(job)
        .bind(date)
        .fetch_all(pool)
        .await?
    });
    Ok(rows.into_iter().collect())
}

/// Merchant names by id.
pub async fn merchant_names(db: &Db) -> Result<BTreeMap<String, String>, SettlementError> {
    let rows: Vec<(String, String)> = on_db!(db, pool => {
        sqlx::query_as("SELECT merchant_id, name FROM merchants")
            .fetch_all(pool)
            .await?
    });
    Ok(rows.into_iter().collect())
}

/// Which `(job, business_date, item)` a shard's outputs belong to.
#[derive(Debug, Clone, Copy)]
pub struct OutputKey<'a> {
    pub job: &'a str,
    pub business_date: NaiveDate,
    pub item: u32,
    pub run_id: &'a str,
}

/// Replaces the shard's settlement lines: deletes the item's rows, then
/// writes each line (replacing a row of the same merchant and currency that
/// another item wrote under an earlier shard count).
pub async fn replace_lines(
    tx: &mut DbTx,
    key: OutputKey<'_>,
    lines: &[MerchantLine],
) -> Result<(), SettlementError> {
    on_tx!(tx, conn => {
        sqlx::query("DELETE FROM settlement_lines WHERE job = $1 AND business_date = $2 AND item = $3")
            .bind(key.job)
            .bind(key.business_date)
            .bind(i64::from(key.item))
            .execute(&mut **conn)
            .await?;
        for line in lines {
            sqlx::query(
                "INSERT INTO settlement_lines (job, business_date, merchant_id, currency, item, \
                 payment_count, payment_amount, refund_count, refund_amount, fee_amount, net_amount, run_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (job, business_date, merchant_id, currency) DO UPDATE SET \
                 item = excluded.item, payment_count = excluded.payment_count, \
                 payment_amount = excluded.payment_amount, refund_count = excluded.refund_count, \
                 refund_amount = excluded.refund_amount, fee_amount = excluded.fee_amount, \
                 net_amount = excluded.net_amount, run_id = excluded.run_id",
            )
            .bind(key.job)
            .bind(key.business_date)
            .bind(&line.merchant_id)
            .bind(&line.currency)
            .bind(i64::from(key.item))
            .bind(line.payment_count)
            .bind(Money(line.payment_amount))
            .bind(line.refund_count)
            .bind(Money(line.refund_amount))
            .bind(Money(line.fee_amount))
            .bind(Money(line.net_amount))
            .bind(key.run_id)
            .execute(&mut **conn)
            .await?;
        }
    });
    Ok(())
}

/// Replaces the shard's balance snapshots, like [`replace_lines`].
pub async fn replace_balances(
    tx: &mut DbTx,
    key: OutputKey<'_>,
    balances: &[Balance],
) -> Result<(), SettlementError> {
    on_tx!(tx, conn => {
        sqlx::query("DELETE FROM account_balances WHERE job = $1 AND business_date = $2 AND item = $3")
            .bind(key.job)
            .bind(key.business_date)
            .bind(i64::from(key.item))
            .execute(&mut **conn)
            .await?;
        for balance in balances {
            sqlx::query(
                "INSERT INTO account_balances (job, business_date, account_code, item, account_type, \
                 currency, opening_balance, debit_amount, credit_amount, debit_count, credit_count, \
                 closing_balance, run_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (job, business_date, account_code) DO UPDATE SET \
                 item = excluded.item, account_type = excluded.account_type, \
                 currency = excluded.currency, opening_balance = excluded.opening_balance, \
                 debit_amount = excluded.debit_amount, credit_amount = excluded.credit_amount, \
                 debit_count = excluded.debit_count, credit_count = excluded.credit_count, \
                 closing_balance = excluded.closing_balance, run_id = excluded.run_id",
            )
            .bind(key.job)
            .bind(key.business_date)
            .bind(&balance.account_code)
            .bind(i64::from(key.item))
            .bind(balance.account_type.as_str())
            .bind(&balance.currency)
            .bind(Money(balance.opening))
            .bind(Money(balance.debit_amount))
            .bind(Money(balance.credit_amount))
            .bind(balance.debit_count)
            .bind(balance.credit_count)
            .bind(Money(balance.closing))
            .bind(key.run_id)
            .execute(&mut **conn)
            .await?;
        }
    });
    Ok(())
}

/// All shards' settlement lines of `(job, date)` written under the current
/// shard count (`item < items`), by merchant and currency.
pub async fn lines(
    db: &Db,
    job: &str,
    date: NaiveDate,
    items: u32,
) -> Result<Vec<MerchantLine>, SettlementError> {
    type Row = (String, String, i64, Money, i64, Money, Money, Money);
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT merchant_id, currency, payment_count, payment_amount, refund_count, \
             refund_amount, fee_amount, net_amount FROM settlement_lines \
             WHERE job = $1 AND business_date = $2 AND item < $3 ORDER BY merchant_id, currency",
        )
        .bind(job)
        .bind(date)
        .bind(i64::from(items))
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(
            |(merchant_id, currency, payment_count, payment, refund_count, refund, fee, net)| {
                MerchantLine {
                    merchant_id,
                    currency,
                    payment_count,
                    payment_amount: payment.0,
                    refund_count,
                    refund_amount: refund.0,
                    fee_amount: fee.0,
                    net_amount: net.0,
                }
            },
        )
        .collect())
}

/// All shards' balance snapshots of `(job, date)` (`item < items`), by account code.
pub async fn balances(
    db: &Db,
    job: &str,
    date: NaiveDate,
    items: u32,
) -> Result<Vec<Balance>, SettlementError> {
    type Row = (String, String, String, Money, Money, Money, i64, i64, Money);
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT account_code, account_type, currency, opening_balance, debit_amount, \
             credit_amount, debit_count, credit_count, closing_balance FROM account_balances \
             WHERE job = $1 AND business_date = $2 AND item < $3 ORDER BY account_code",
        )
        .bind(job)
        .bind(date)
        .bind(i64::from(items))
        .fetch_all(pool)
        .await?
    });
    rows.into_iter()
        .map(
            |(code, kind, currency, opening, debit, credit, debit_count, credit_count, closing)| {
                let account_type =
                    AccountType::parse(&kind).ok_or_else(|| SettlementError::BadRow {
                        table: "account balance",
                        key: code.clone(),
                        reason: format!("account type `{kind}` is unknown"),
                    })?;
                Ok(Balance {
                    account_code: code,
                    account_type,
                    currency,
                    opening: opening.0,
                    debit_amount: debit.0,
                    credit_amount: credit.0,
                    debit_count,
                    credit_count,
                    closing: closing.0,
                })
            },
        )
        .collect()
}
