//! Business-ledger rows for settlement tests: orders, journal lines, and
//! the late order of 2026-11-21 that several tests add after D ran.

use chrono::{DateTime, Utc};
use reckon::db::Db;
use reckon::money::Money;
use reckon::on_db;
use rust_decimal::Decimal;

fn dec(text: &str) -> Decimal {
    text.parse().expect("test decimal")
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test instant")
        .with_timezone(&Utc)
}

/// A succeeded CNY wechat order of `merchant`, completed at `completed` (RFC 3339).
pub async fn insert_order(
    db: &Db,
    order_no: &str,
    merchant: &str,
    amount: &str,
    fee: &str,
    completed: &str,
) {
    on_db!(db, pool => {
        sqlx::query(
            "INSERT INTO payment_orders (order_no, merchant_id, channel, channel_order_no, currency, \
             amount, fee, status, created_at, completed_at) \
             VALUES ($1, $2, 'wechat', NULL, 'CNY', $3, $4, 'succeeded', $5, $5)",
        )
        .bind(order_no)
        .bind(merchant)
        .bind(Money(dec(amount)))
        .bind(Money(dec(fee)))
        .bind(instant(completed))
        .execute(pool)
        .await
        .expect("insert order");
    });
}

/// A succeeded CNY wechat refund of merchant M1, completed at `completed` (RFC 3339).
pub async fn insert_refund(
    db: &Db,
    refund_no: &str,
    order_no: &str,
    amount: &str,
    fee: &str,
    completed: &str,
) {
    on_db!(db, pool => {
        sqlx::query(
            "INSERT INTO refunds (refund_no, order_no, merchant_id, channel, channel_refund_no, \
             currency, amount, fee, status, created_at, completed_at) \
             VALUES ($1, $2, 'M1', 'wechat', NULL, 'CNY', $3, $4, 'succeeded', $5, $5)",
        )
        .bind(refund_no)
        .bind(order_no)
        .bind(Money(dec(amount)))
        .bind(Money(dec(fee)))
        .bind(instant(completed))
        .execute(pool)
        .await
        .expect("insert refund");
    });
}

/// One CNY journal line posted at `posted` (RFC 3339).
pub async fn insert_posting(
    db: &Db,
    entry: &str,
    line: i64,
    account: &str,
    direction: &str,
    amount: &str,
    posted: &str,
) {
    on_db!(db, pool => {
        sqlx::query(
            "INSERT INTO journal_postings (entry_no, line_no, account_code, direction, amount, \
             currency, posted_at, order_no, refund_no, memo) \
             VALUES ($1, $2, $3, $4, $5, 'CNY', $6, NULL, NULL, 'test')",
        )
        .bind(entry)
        .bind(line)
        .bind(account)
        .bind(direction)
        .bind(Money(dec(amount)))
        .bind(instant(posted))
        .execute(pool)
        .await
        .expect("insert posting");
    });
}

// The late order P20261121010 (M1003, 500.00, fee 3.00, completed 22:00 on D) arrives
// after D ran, with its journal entry (Dr 112201 500.00 / Cr 220201 497.00 / Cr 600101 3.00).
pub async fn add_late_order(db: &Db) {
    let at = "2026-11-21T22:00:00+08:00";
    insert_order(db, "P20261121010", "M1003", "500.00", "3.00", at).await;
    insert_posting(db, "JP20261121010", 1, "112201", "debit", "500.00", at).await;
    insert_posting(db, "JP20261121010", 2, "220201", "credit", "497.00", at).await;
    insert_posting(db, "JP20261121010", 3, "600101", "credit", "3.00", at).await;
}
