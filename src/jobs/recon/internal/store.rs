//! Reading the three sides of business date D's window, and the shard rows
//! handed to finalize. SQL is written once for both backends (`$N`
//! placeholders); money goes through [`Money`], instants as `DateTime<Utc>`.
//!
//! Which records belong to D (each side by its own time):
//! - business orders by `paid_at`, or `created_at` when never paid;
//! - payment records by `completed_at`, or `created_at` when not completed;
//! - journal lines by `posted_at`, only lines with an order number and no
//!   refund number (a refund's entry is not a payment's).

use chrono::{DateTime, Utc};

use super::compute::{JournalLine, Order, Payment};
use crate::db::Db;
use crate::jobs::business::window::Window;
use crate::money::Money;
use crate::on_db;

/// A record with its time and order number (see `membership.rs`).
pub type Timed<T> = (DateTime<Utc>, String, T);

/// Business orders of `window`, by order number.
pub async fn orders(db: &Db, window: &Window) -> Result<Vec<Timed<Order>>, sqlx::Error> {
    let rows: Vec<(String, String, String, Money, String, DateTime<Utc>)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT order_no, merchant_id, currency, amount, status, COALESCE(paid_at, created_at) \
             FROM business_orders \
             WHERE COALESCE(paid_at, created_at) >= $1 AND COALESCE(paid_at, created_at) < $2 \
             ORDER BY order_no",
        )
        .bind(window.start)
        .bind(window.end)
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|(order_no, merchant_id, currency, amount, status, at)| {
            (
                at,
                order_no.clone(),
                Order {
                    order_no,
                    merchant_id,
                    currency,
                    amount: amount.0,
                    status,
                },
            )
        })
        .collect())
}

/// Payment records of `window`, by order number.
pub async fn payments(db: &Db, window: &Window) -> Result<Vec<Timed<Payment>>, sqlx::Error> {
    let rows: Vec<(String, String, String, Money, String, DateTime<Utc>)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT order_no, merchant_id, currency, amount, status, \
             COALESCE(completed_at, created_at) FROM payment_orders \
             WHERE COALESCE(completed_at, created_at) >= $1 \
             AND COALESCE(completed_at, created_at) < $2 ORDER BY order_no",
        )
        .bind(window.start)
        .bind(window.end)
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|(order_no, merchant_id, currency, amount, status, at)| {
            (
                at,
                order_no.clone(),
                Payment {
                    order_no,
                    merchant_id,
                    currency,
                    amount: amount.0,
                    status,
                },
            )
        })
        .collect())
}

/// Journal lines of payment entries posted in `window`, by entry and line.
pub async fn journal_lines(
    db: &Db,
    window: &Window,
) -> Result<Vec<Timed<JournalLine>>, sqlx::Error> {
    let rows: Vec<(String, String, String, Money, String, DateTime<Utc>)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT entry_no, order_no, direction, amount, currency, posted_at FROM journal_postings \
             WHERE order_no IS NOT NULL AND order_no <> '' AND refund_no IS NULL \
             AND posted_at >= $1 AND posted_at < $2 ORDER BY entry_no, line_no",
        )
        .bind(window.start)
        .bind(window.end)
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|(entry_no, order_no, direction, amount, currency, at)| {
            (
                at,
                order_no.clone(),
                JournalLine {
                    entry_no,
                    order_no,
                    direction,
                    amount: amount.0,
                    currency,
                },
            )
        })
        .collect())
}

/// Row types this kind keeps in `recon_shard_rows`.
pub const FINDING_ROWS: &str = "internal_finding";
/// One row per shard: its [`super::compute::Tally`] as JSON.
pub const TALLY_ROWS: &str = "internal_tally";
