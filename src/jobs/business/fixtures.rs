//! Loads the business-ledger fixtures (`fixtures/settlement/*.csv`) into the
//! shared business tables for `reckon demo` and the tests (settlement and
//! the reconciliations read them). Loading is idempotent: each row
//! is upserted by its key, so loading twice leaves the same rows.
//!
//! Files and columns (header row required, in this order):
//! - `merchants.csv`: merchant_id, name
//! - `accounts.csv`: account_code, name, account_type, currency, opening_balance
//! - `orders.csv`: order_no, merchant_id, channel, channel_order_no, currency,
//!   amount, fee, status, created_at, completed_at
//! - `refunds.csv`: refund_no, order_no, merchant_id, channel,
//!   channel_refund_no, currency, amount, fee, status, created_at, completed_at
//! - `journal.csv`: entry_no, line_no, account_code, direction, amount,
//!   currency, posted_at, order_no, refund_no, memo
//!
//! Instants are RFC 3339 with an offset (`2026-11-21T23:59:58+08:00`) and are
//! stored as UTC; amounts are plain decimals with at most 2 places.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::accounts::{AccountType, Direction};
use crate::db::{Db, DbTx};
use crate::money::{CENTS, Money, parse_amount};
use crate::on_tx;
use crate::runtime::JobError;

/// A fixture file that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("{}, line {line}: {reason}", file.display())]
    Row {
        file: PathBuf,
        line: u64,
        reason: String,
    },
    #[error("cannot read {}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("database error while loading fixtures")]
    Database(#[from] sqlx::Error),
}

impl From<FixtureError> for JobError {
    fn from(err: FixtureError) -> JobError {
        match err {
            FixtureError::Database(e) => JobError::Database(e),
            other => JobError::Input(other.to_string()),
        }
    }
}

/// One CSV file being read: its rows with their line numbers.
struct Sheet {
    file: PathBuf,
    rows: Vec<(u64, csv::StringRecord)>,
}

impl Sheet {
    fn open(dir: &Path, name: &str, header: &[&str]) -> Result<Sheet, FixtureError> {
        let file = dir.join(name);
        let read_err = |source| FixtureError::Read {
            file: file.clone(),
            source,
        };
        let mut reader = csv::Reader::from_path(&file).map_err(read_err)?;
        let found: Vec<String> = reader
            .headers()
            .map_err(read_err)?
            .iter()
            .map(str::to_string)
            .collect();
        if found != header {
            return Err(FixtureError::Row {
                file,
                line: 1,
                reason: format!("header must be `{}`", header.join(",")),
            });
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(read_err)?;
            let line = record.position().map_or(0, |p| p.line());
            rows.push((line, record));
        }
        Ok(Sheet { file, rows })
    }

    fn error(&self, line: u64, reason: String) -> FixtureError {
        FixtureError::Row {
            file: self.file.clone(),
            line,
            reason,
        }
    }
}

/// Typed access to the fields of one row, with errors naming file and line.
struct Row<'a> {
    sheet: &'a Sheet,
    line: u64,
    record: &'a csv::StringRecord,
    header: &'a [&'a str],
}

impl Row<'_> {
    fn field(&self, index: usize) -> &str {
        self.record.get(index).unwrap_or("").trim()
    }

    fn fail(&self, index: usize, reason: impl std::fmt::Display) -> FixtureError {
        let column = self.header.get(index).copied().unwrap_or("?");
        self.sheet.error(self.line, format!("{column}: {reason}"))
    }

    fn text(&self, index: usize) -> Result<String, FixtureError> {
        match self.field(index) {
            "" => Err(self.fail(index, "is empty")),
            value => Ok(value.to_string()),
        }
    }

    fn opt_text(&self, index: usize) -> Option<String> {
        Some(self.field(index))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    fn amount(&self, index: usize) -> Result<Decimal, FixtureError> {
        let amount = parse_amount(self.field(index)).map_err(|e| self.fail(index, e))?;
        if amount.scale() > CENTS {
            return Err(self.fail(index, format!("`{amount}` has more than {CENTS} decimals")));
        }
        Ok(amount)
    }

    fn instant(&self, index: usize) -> Result<DateTime<Utc>, FixtureError> {
        let text = self.field(index);
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| self.fail(index, format!("`{text}` is not an RFC 3339 instant")))
    }

    fn opt_instant(&self, index: usize) -> Result<Option<DateTime<Utc>>, FixtureError> {
        if self.field(index).is_empty() {
            Ok(None)
        } else {
            self.instant(index).map(Some)
        }
    }

    fn one_of(&self, index: usize, allowed: &[&str]) -> Result<String, FixtureError> {
        let value = self.field(index);
        if allowed.contains(&value) {
            Ok(value.to_string())
        } else {
            Err(self.fail(
                index,
                format!("`{value}` is not one of {}", allowed.join(", ")),
            ))
        }
    }
}

fn rows<'a>(sheet: &'a Sheet, header: &'a [&'a str]) -> impl Iterator<Item = Row<'a>> {
    sheet.rows.iter().map(move |(line, record)| Row {
        sheet,
        line: *line,
        record,
        header,
    })
}

const MERCHANTS: &[&str] = &["merchant_id", "name"];
const ACCOUNTS: &[&str] = &[
    "account_code",
    "name",
    "account_type",
    "currency",
    "opening_balance",
];
const ORDERS: &[&str] = &[
    "order_no",
    "merchant_id",
    "channel",
    "channel_order_no",
    "currency",
    "amount",
    "fee",
    "status",
    "created_at",
    "completed_at",
];
const REFUNDS: &[&str] = &[
    "refund_no",
    "order_no",
    "merchant_id",
    "channel",
    "channel_refund_no",
    "currency",
    "amount",
    "fee",
    "status",
    "created_at",
    "completed_at",
];
const JOURNAL: &[&str] = &[
    "entry_no",
    "line_no",
    "account_code",
    "direction",
    "amount",
    "currency",
    "posted_at",
    "order_no",
    "refund_no",
    "memo",
];

/// Loads every fixture file of `dir` in one transaction; returns what was loaded.
/// The fixtures carry absolute instants, so `business_date` is only reported.
pub async fn load(db: &Db, dir: &Path, business_date: NaiveDate) -> Result<String, JobError> {
    let sheets = [
        Sheet::open(dir, "merchants.csv", MERCHANTS)?,
        Sheet::open(dir, "accounts.csv", ACCOUNTS)?,
        Sheet::open(dir, "orders.csv", ORDERS)?,
        Sheet::open(dir, "refunds.csv", REFUNDS)?,
        Sheet::open(dir, "journal.csv", JOURNAL)?,
    ];
    let mut tx = db.begin().await.map_err(FixtureError::from)?;
    load_merchants(&mut tx, &sheets[0]).await?;
    load_accounts(&mut tx, &sheets[1]).await?;
    load_orders(&mut tx, &sheets[2]).await?;
    load_refunds(&mut tx, &sheets[3]).await?;
    load_journal(&mut tx, &sheets[4]).await?;
    tx.commit().await.map_err(FixtureError::from)?;
    Ok(format!(
        "settlement ledger for {business_date}: {} merchants, {} accounts, {} orders, {} refunds, {} journal lines",
        sheets[0].rows.len(),
        sheets[1].rows.len(),
        sheets[2].rows.len(),
        sheets[3].rows.len(),
        sheets[4].rows.len()
    ))
}

async fn load_merchants(tx: &mut DbTx, sheet: &Sheet) -> Result<(), FixtureError> {
    for row in rows(sheet, MERCHANTS) {
        let (id, name) = (row.text(0)?, row.text(1)?);
        on_tx!(tx, conn => {
            sqlx::query(
                "INSERT INTO merchants (merchant_id, name) VALUES ($1, $2) \
                 ON CONFLICT (merchant_id) DO UPDATE SET name = excluded.name",
            )
            .bind(id)
            .bind(name)
            .execute(&mut **conn)
            .await?;
        });
    }
    Ok(())
}

async fn load_accounts(tx: &mut DbTx, sheet: &Sheet) -> Result<(), FixtureError> {
    for row in rows(sheet, ACCOUNTS) {
        let code = row.text(0)?;
        let name = row.text(1)?;
        let kind = row.text(2)?;
        if AccountType::parse(&kind).is_none() {
            return Err(row.fail(
                2,
                format!("`{kind}` is not asset, liability, equity, income or expense"),
            ));
        }
        let currency = row.text(3)?;
        let opening = row.amount(4)?;
        on_tx!(tx, conn => {
            sqlx::query(
                "INSERT INTO accounts (account_code, name, account_type, currency, opening_balance) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_code) DO UPDATE SET \
                 name = excluded.name, account_type = excluded.account_type, \
                 currency = excluded.currency, opening_balance = excluded.opening_balance",
            )
            .bind(code)
            .bind(name)
            .bind(kind)
            .bind(currency)
            .bind(Money(opening))
            .execute(&mut **conn)
            .await?;
        });
    }
    Ok(())
}

/// A payment order or refund row, validated.
struct Movement {
    key: String,
    order_no: Option<String>,
    merchant_id: String,
    channel: String,
    channel_no: Option<String>,
    currency: String,
    amount: Decimal,
    fee: Decimal,
    status: String,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

/// Reads an order (`refund = false`) or refund row; a succeeded row needs `completed_at`.
fn movement(row: &Row<'_>, refund: bool, statuses: &[&str]) -> Result<Movement, FixtureError> {
    let shift = usize::from(refund);
    let movement = Movement {
        key: row.text(0)?,
        order_no: if refund { Some(row.text(1)?) } else { None },
        merchant_id: row.text(1 + shift)?,
        channel: row.text(2 + shift)?,
        channel_no: row.opt_text(3 + shift),
        currency: row.text(4 + shift)?,
        amount: row.amount(5 + shift)?,
        fee: row.amount(6 + shift)?,
        status: row.one_of(7 + shift, statuses)?,
        created_at: row.instant(8 + shift)?,
        completed_at: row.opt_instant(9 + shift)?,
    };
    if movement.status == "succeeded" && movement.completed_at.is_none() {
        return Err(row.fail(9 + shift, "a succeeded row needs its completion time"));
    }
    Ok(movement)
}

async fn load_orders(tx: &mut DbTx, sheet: &Sheet) -> Result<(), FixtureError> {
    for row in rows(sheet, ORDERS) {
        let m = movement(&row, false, &["pending", "succeeded", "failed", "closed"])?;
        on_tx!(tx, conn => {
            sqlx::query(
                "INSERT INTO payment_orders (order_no, merchant_id, channel, channel_order_no, \
                 currency, amount, fee, status, created_at, completed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (order_no) DO UPDATE SET \
                 merchant_id = excluded.merchant_id, channel = excluded.channel, \
                 channel_order_no = excluded.channel_order_no, currency = excluded.currency, \
                 amount = excluded.amount, fee = excluded.fee, status = excluded.status, \
                 created_at = excluded.created_at, completed_at = excluded.completed_at",
            )
            .bind(m.key)
            .bind(m.merchant_id)
            .bind(m.channel)
            .bind(m.channel_no)
            .bind(m.currency)
            .bind(Money(m.amount))
            .bind(Money(m.fee))
            .bind(m.status)
            .bind(m.created_at)
            .bind(m.completed_at)
            .execute(&mut **conn)
            .await?;
        });
    }
    Ok(())
}

async fn load_refunds(tx: &mut DbTx, sheet: &Sheet) -> Result<(), FixtureError> {
    for row in rows(sheet, REFUNDS) {
        let m = movement(&row, true, &["pending", "succeeded", "failed"])?;
        on_tx!(tx, conn => {
            sqlx::query(
                "INSERT INTO refunds (refund_no, order_no, merchant_id, channel, channel_refund_no, \
                 currency, amount, fee, status, created_at, completed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (refund_no) DO UPDATE SET \
                 order_no = excluded.order_no, merchant_id = excluded.merchant_id, \
                 channel = excluded.channel, channel_refund_no = excluded.channel_refund_no, \
                 currency = excluded.currency, amount = excluded.amount, fee = excluded.fee, \
                 status = excluded.status, created_at = excluded.created_at, \
                 completed_at = excluded.completed_at",
            )
            .bind(m.key)
            .bind(m.order_no)
            .bind(m.merchant_id)
            .bind(m.channel)
            .bind(m.channel_no)
            .bind(m.currency)
            .bind(Money(m.amount))
            .bind(Money(m.fee))
            .bind(m.status)
            .bind(m.created_at)
            .bind(m.completed_at)
            .execute(&mut **conn)
            .await?;
        });
    }
    Ok(())
}

async fn load_journal(tx: &mut DbTx, sheet: &Sheet) -> Result<(), FixtureError> {
    for row in rows(sheet, JOURNAL) {
        let entry_no = row.text(0)?;
        let line_no: i64 = row
            .field(1)
            .parse()
            .map_err(|_| row.fail(1, "is not a whole number"))?;
        let account = row.text(2)?;
        let direction = row.one_of(3, &["debit", "credit"])?;
        debug_assert!(Direction::parse(&direction).is_some());
        let amount = row.amount(4)?;
        if amount <= Decimal::ZERO {
            return Err(row.fail(4, "must be positive (the direction gives the side)"));
        }
        let currency = row.text(5)?;
        let posted_at = row.instant(6)?;
        on_tx!(tx, conn => {
            sqlx::query(
                "INSERT INTO journal_postings (entry_no, line_no, account_code, direction, amount, \
                 currency, posted_at, order_no, refund_no, memo) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (entry_no, line_no) DO UPDATE SET account_code = excluded.account_code, \
                 direction = excluded.direction, amount = excluded.amount, currency = excluded.currency, \
                 posted_at = excluded.posted_at, order_no = excluded.order_no, \
                 refund_no = excluded.refund_no, memo = excluded.memo",
            )
            .bind(entry_no)
            .bind(line_no)
            .bind(account)
            .bind(direction)
            .bind(Money(amount))
            .bind(currency)
            .bind(posted_at)
            .bind(row.opt_text(7))
            .bind(row.opt_text(8))
            .bind(row.field(9).to_string())
            .execute(&mut **conn)
            .await?;
        });
    }
    Ok(())
}
