//! Our side of a funds reconciliation: the channel's payment orders and
//! refunds of the business date's window, from the business-ledger tables
//! (migration …002), as records the engine compares.
//!
//! - `payment_orders` `succeeded`, completed in the window → `SUCCESS`, keyed
//!   by order number, at its completion time;
//! - `payment_orders` `closed`/`failed`, created in the window → `CLOSED` (no
//!   money moved: silence on the statement agrees, a channel `SUCCESS` is a
//!   status mismatch);
//! - `refunds` `succeeded`, completed in the window → `REFUND`, keyed by refund
//!   number; its fee (given back to the merchant) counts negative, as on statements.
//!
//! Orders still `pending` (and refunds not succeeded) are not on our side: a
//! channel payment for one shows as `missing_in_ledger` (掉单).

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::db::Db;
use crate::jobs::business::window::Window;
use crate::jobs::recon::engine::{decimal_to_cents, decimal_to_fee_units};
use crate::jobs::recon::formats::{LedgerStatus, Record, RecordKind, Reject, RejectReason};
use crate::money::Money;
use crate::on_db;

/// Table names shown as the ledger "file" in reports (line blank).
pub const ORDERS_TABLE: &str = "payment_orders";
pub const REFUNDS_TABLE: &str = "refunds";

/// Our records of `channel` in `window`, and the rows that cannot be compared
/// (amounts with more than 2 decimals), as rejects naming table and key.
pub async fn read_ledger(
    db: &Db,
    channel: &str,
    window: &Window,
    zone: Tz,
) -> Result<(Vec<Record>, Vec<Reject>), sqlx::Error> {
    type Row = (
        String,
        Money,
        Money,
        String,
        Option<DateTime<Utc>>,
        DateTime<Utc>,
    );
    let orders: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT order_no, amount, fee, status, completed_at, created_at FROM payment_orders \
             WHERE channel = $1 AND ( \
               (status = 'succeeded' AND completed_at >= $2 AND completed_at < $3) \
               OR (status IN ('closed', 'failed') AND created_at >= $2 AND created_at < $3)) \
             ORDER BY order_no",
        )
        .bind(channel)
        .bind(window.start)
        .bind(window.end)
        .fetch_all(pool)
        .await?
    });
    type RefundRow = (String, String, Money, Money, DateTime<Utc>);
    let refunds: Vec<RefundRow> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT refund_no, order_no, amount, fee, completed_at FROM refunds \
             WHERE channel = $1 AND status = 'succeeded' AND completed_at >= $2 AND completed_at < $3 \
             ORDER BY refund_no",
        )
        .bind(channel)
        .bind(window.start)
        .bind(window.end)
        .fetch_all(pool)
        .await?
    });
    let orders_file: Arc<Path> = Arc::from(Path::new(ORDERS_TABLE));
    let refunds_file: Arc<Path> = Arc::from(Path::new(REFUNDS_TABLE));
    let mut records = Vec::with_capacity(orders.len() + refunds.len());
    let mut rejects = Vec::new();
    for (order_no, amount, fee, status, completed_at, created_at) in orders {
        let (status, at) = if status == "succeeded" {
            (LedgerStatus::Success, completed_at.unwrap_or(created_at))
        } else {
            (LedgerStatus::Closed, created_at)
        };
        let record = Record {
            key: order_no.clone(),
            order_no,
            kind: RecordKind::Payment,
            amount: amount.0,
            fee: Some(fee.0),
            status,
            time: at.with_timezone(&zone).naive_local(),
            file: orders_file.clone(),
            line: 0,
        };
        push_checked(record, &mut records, &mut rejects);
    }
    for (refund_no, order_no, amount, fee, completed_at) in refunds {
        let record = Record {
            key: refund_no,
            order_no,
            kind: RecordKind::Refund,
            amount: amount.0,
            fee: Some(-fee.0),
            status: LedgerStatus::Refund,
            time: completed_at.with_timezone(&zone).naive_local(),
            file: refunds_file.clone(),
            line: 0,
        };
        push_checked(record, &mut records, &mut rejects);
    }
    Ok((records, rejects))
}

/// Keeps a record whose amount is whole, non-negative cents (and fee whole 1/100000s);
/// anything finer is a reject naming the table, the key and the value.
fn push_checked(record: Record, records: &mut Vec<Record>, rejects: &mut Vec<Reject>) {
    let bad = if decimal_to_cents(record.amount).is_none() || record.amount < Decimal::ZERO {
        Some(("amount", record.amount))
    } else {
        record
            .fee
            .filter(|&fee| decimal_to_fee_units(fee).is_none())
            .map(|fee| ("fee", fee))
    };
    match bad {
        None => records.push(record),
        Some((column, value)) => rejects.push(Reject {
            raw: format!("{} {} {column}={value}", record.file.display(), record.key),
            file: record.file,
            line: 0,
            reason: RejectReason::Amount {
                column: column.to_string(),
                text: value.to_string(),
            },
        }),
    }
}
