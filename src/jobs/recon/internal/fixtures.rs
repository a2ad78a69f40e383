//! Loads the internal-reconciliation fixtures (`fixtures/recon/internal/`)
//! for `reckon demo` and the tests. Idempotent: every row is upserted by its key.
//!
//! - `business_orders.csv`: order_no, merchant_id, currency, amount, status,
//!   created_at, paid_at — the order system's orders. It covers the payment
//!   orders of `fixtures/settlement/` too, so the demo (which loads both)
//!   matches them three ways.
//! - The extra payment records and journal entries of the demo, in the
//!   business-ledger layout of `fixtures/settlement/` (`orders.csv` =
//!   payment_orders, `journal.csv`; `merchants.csv`, `accounts.csv` and
//!   `refunds.csv` are header-only), loaded by
//!   [`crate::jobs::business::fixtures::load`]. Every journal entry
//!   balances and posts to settlement's chart of accounts, so the demo's
//!   trial balance still balances.
//!
//! Instants are RFC 3339 with an offset and stored as UTC; amounts have at
//! most 2 decimals.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::db::{Db, DbTx};
use crate::jobs::business::fixtures::FixtureError;
use crate::money::{CENTS, Money, parse_amount};
use crate::on_tx;
use crate::runtime::JobError;

/// Header of `business_orders.csv`.
pub const BUSINESS_ORDERS_HEADER: &[&str] = &[
    "order_no",
    "merchant_id",
    "currency",
    "amount",
    "status",
    "created_at",
    "paid_at",
];

/// Order statuses the order system uses.
const STATUSES: &[&str] = &["created", "paid", "closed", "refunded"];

/// A validated row of `business_orders.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessOrder {
    pub order_no: String,
    pub merchant_id: String,
    pub currency: String,
    pub amount: Decimal,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

/// Loads `dir`'s files; returns what was loaded.
pub async fn load(db: &Db, dir: &Path, business_date: NaiveDate) -> Result<String, JobError> {
    let ledger = crate::jobs::business::fixtures::load(db, dir, business_date).await?;
    let orders = read_business_orders(&dir.join("business_orders.csv"))?;
    let mut tx = db.begin().await.map_err(FixtureError::from)?;
    for order in &orders {
        upsert_business_order(&mut tx, order).await?;
    }
    tx.commit().await.map_err(FixtureError::from)?;
    Ok(format!(
        "internal recon for {business_date}: {} business orders, plus {ledger}",
        orders.len()
    ))
}

/// Reads and validates `business_orders.csv`.
pub fn read_business_orders(file: &Path) -> Result<Vec<BusinessOrder>, FixtureError> {
    let read_err = |source| FixtureError::Read {
        file: file.to_path_buf(),
        source,
    };
    let mut reader = csv::Reader::from_path(file).map_err(read_err)?;
    let header: Vec<String> = reader
        .headers()
        .map_err(read_err)?
        .iter()
        .map(str::to_string)
        .collect();
    if header != BUSINESS_ORDERS_HEADER {
        return Err(FixtureError::Row {
            file: file.to_path_buf(),
            line: 1,
            reason: format!("header must be `{}`", BUSINESS_ORDERS_HEADER.join(",")),
        });
    }
    let mut orders = Vec::new();
    for record in reader.records() {
        let record = record.map_err(read_err)?;
        let line = record.position().map_or(0, |p| p.line());
        let fail = |reason: String| FixtureError::Row {
            file: file.to_path_buf(),
            line,
            reason,
        };
        orders.push(business_order(&record).map_err(fail)?);
    }
    Ok(orders)
}

/// One row; the error names the column.
fn business_order(record: &csv::StringRecord) -> Result<BusinessOrder, String> {
    let field = |index: usize| record.get(index).unwrap_or("").trim();
    let text = |index: usize| match field(index) {
        "" => Err(format!("{}: is empty", BUSINESS_ORDERS_HEADER[index])),
        value => Ok(value.to_string()),
    };
    let instant = |index: usize| {
        DateTime::parse_from_rfc3339(field(index))
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                format!(
                    "{}: `{}` is not an RFC 3339 instant",
                    BUSINESS_ORDERS_HEADER[index],
                    field(index)
                )
            })
    };
    let amount = parse_amount(field(3)).map_err(|e| format!("amount: {e}"))?;
    if amount.scale() > CENTS || amount <= Decimal::ZERO {
        return Err(format!(
            "amount: `{amount}` must be positive with at most {CENTS} decimals"
        ));
    }
    let status = text(4)?;
    if !STATUSES.contains(&status.as_str()) {
        return Err(format!(
            "status: `{status}` is not one of {}",
            STATUSES.join(", ")
        ));
    }
    let paid_at = if field(6).is_empty() {
        None
    } else {
        Some(instant(6)?)
    };
    if matches!(status.as_str(), "paid" | "refunded") && paid_at.is_none() {
        return Err("paid_at: a paid or refunded order needs its payment time".to_string());
    }
    Ok(BusinessOrder {
        order_no: text(0)?,
        merchant_id: text(1)?,
        currency: text(2)?,
        amount,
        status,
        created_at: instant(5)?,
        paid_at,
    })
}

/// Inserts or replaces one business order (used by the loader and the tests).
pub async fn upsert_business_order(
    tx: &mut DbTx,
    order: &BusinessOrder,
) -> Result<(), FixtureError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO business_orders (order_no, merchant_id, currency, amount, status, \
             created_at, paid_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (order_no) DO UPDATE SET merchant_id = excluded.merchant_id, \
             currency = excluded.currency, amount = excluded.amount, status = excluded.status, \
             created_at = excluded.created_at, paid_at = excluded.paid_at",
        )
        .bind(&order.order_no)
        .bind(&order.merchant_id)
        .bind(&order.currency)
        .bind(Money(order.amount))
        .bind(&order.status)
        .bind(order.created_at)
        .bind(order.paid_at)
        .execute(&mut **conn)
        .await?;
    });
    Ok(())
}
