//! SQL of the refund linkage: the refunds earlier dates counted
//! (`recon_refund_links`), the payments of the refunded orders (our
//! `payment_orders`, and the channel's one-sided payments in the register),
//! and replacing a date's links in the run's register transaction.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;

use super::{Identity, NewLink, Payment, PriorLink};
use crate::batch::{RowBatch, Value};
use crate::db::{Db, DbTx};
use crate::jobs::recon::engine::{Category, DiffRecord, cents_to_decimal, decimal_to_cents};
use crate::jobs::recon::formats::{LedgerStatus, RecordKind};
use crate::money::Money;
use crate::{on_db, on_tx};

/// Keys bound per `IN (…)` list.
const KEYS_PER_QUERY: usize = 500;

/// Why the linkage's data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LinkStoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A stored value that does not decode.
    #[error("{what} cannot be read back: {reason}")]
    Decode { what: String, reason: String },
}

impl From<LinkStoreError> for crate::runtime::JobError {
    fn from(error: LinkStoreError) -> Self {
        match error {
            LinkStoreError::Database(e) => crate::runtime::JobError::Database(e),
            other => crate::runtime::JobError::Failed(other.to_string()),
        }
    }
}

fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn cents(amount: Money, what: &str) -> Result<i64, LinkStoreError> {
    decimal_to_cents(amount.0).ok_or_else(|| LinkStoreError::Decode {
        what: what.to_string(),
        reason: format!("{} is not an amount in cents", amount.0),
    })
}

/// The refunds of `orders` that dates before `date` counted, by date and order counted.
pub async fn prior_links(
    db: &Db,
    job: &str,
    date: NaiveDate,
    orders: &[String],
) -> Result<Vec<PriorLink>, LinkStoreError> {
    type Row = (NaiveDate, i64, String, String, String, Money);
    let mut rows: Vec<Row> = Vec::new();
    for chunk in orders.chunks(KEYS_PER_QUERY) {
        let sql = format!(
            "SELECT business_date, seq, order_no, ledger_key, statement_key, amount \
             FROM recon_refund_links WHERE job = $1 AND business_date < $2 AND order_no IN ({})",
            placeholders(3, chunk.len())
        );
        let part: Vec<Row> = on_db!(db, pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(job).bind(date);
            for order in chunk {
                query = query.bind(order);
            }
            query.fetch_all(pool).await?
        });
        rows.extend(part);
    }
    rows.sort_by_key(|row| (row.0, row.1));
    let key = |text: String| (!text.is_empty()).then_some(text);
    rows.into_iter()
        .map(
            |(business_date, seq, order_no, ledger_key, statement_key, amount)| {
                let amount = cents(amount, &format!("refund link {job} {business_date} #{seq}"))?;
                Ok(PriorLink {
                    business_date,
                    identity: Identity {
                        order_no,
                        ledger_key: key(ledger_key),
                        statement_key: key(statement_key),
                        amount,
                    },
                })
            },
        )
        .collect()
}

/// The business date of a local time with the day's `cut_off` (`00:00` = calendar day).
fn business_date_of(local: NaiveDateTime, cut_off: NaiveTime) -> NaiveDate {
    if cut_off != NaiveTime::MIN && local.time() >= cut_off {
        (local + Duration::days(1)).date()
    } else {
        local.date()
    }
}

/// What the payments of `orders` are, and when they were made: our
/// `payment_orders` of `channel` that succeeded before `end` first; else the
/// channel's payment among today's one-sided `records` (business date
/// `date`); else a payment the channel reported on an earlier date and our
/// ledger does not hold as paid (the register's records of it: missing in
/// our ledger, or closed on our side).
#[allow(clippy::too_many_arguments)]
pub async fn payments(
    db: &Db,
    job: &str,
    channel: &str,
    date: NaiveDate,
    end: DateTime<Utc>,
    zone: Tz,
    cut_off: NaiveTime,
    orders: &[String],
    records: &[DiffRecord],
) -> Result<HashMap<String, Payment>, LinkStoreError> {
    let mut found: HashMap<String, Payment> = HashMap::new();
    for chunk in orders.chunks(KEYS_PER_QUERY) {
        let sql = format!(
            "SELECT order_no, amount, completed_at FROM payment_orders \
             WHERE channel = $1 AND status = 'succeeded' AND completed_at < $2 AND order_no IN ({})",
            placeholders(3, chunk.len())
        );
        let rows: Vec<(String, Money, DateTime<Utc>)> = on_db!(db, pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(channel).bind(end);
            for order in chunk {
                query = query.bind(order);
            }
            query.fetch_all(pool).await?
        });
        for (order_no, amount, completed_at) in rows {
            let amount = cents(amount, &format!("payment_orders {order_no}"))?;
            let local = completed_at.with_timezone(&zone).naive_local();
            found.insert(
                order_no,
                Payment {
                    date: business_date_of(local, cut_off),
                    amount,
                },
            );
        }
    }
    let wanted: std::collections::HashSet<&str> = orders.iter().map(String::as_str).collect();
    let channel_payment = |record: &DiffRecord| {
        let statement = record.statement.as_ref()?;
        // A payment we hold as paid is in payment_orders; one we do not
        // (missing, or closed on our side) is the channel's.
        let ours_paid = record
            .ledger
            .as_ref()
            .is_some_and(|l| l.status == LedgerStatus::Success);
        (record.kind == RecordKind::Payment
            && !ours_paid
            && statement.status == LedgerStatus::Success)
            .then_some(statement.amount)
    };
    for record in records {
        if wanted.contains(record.key.as_str())
            && !found.contains_key(&record.key)
            && let Some(amount) = channel_payment(record)
        {
            found.insert(record.key.clone(), Payment { date, amount });
        }
    }
    let missing: Vec<&String> = orders.iter().filter(|o| !found.contains_key(*o)).collect();
    let engine: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
    for chunk in missing.chunks(KEYS_PER_QUERY) {
        let sql = format!(
            "SELECT business_date, id, found_as, payload FROM recon_breaks \
             WHERE job = $1 AND business_date < $2 AND kind = 'payment' AND break_key IN ({})",
            placeholders(3, chunk.len())
        );
        let mut rows: Vec<(NaiveDate, i64, String, String)> = on_db!(db, pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(job).bind(date);
            for order in chunk {
                query = query.bind(order.as_str());
            }
            query.fetch_all(pool).await?
        });
        rows.sort_by_key(|row| (row.0, row.1));
        for (business_date, id, found_as, payload) in rows {
            if !engine.contains(&found_as.as_str()) {
                continue;
            }
            let record: DiffRecord =
                serde_json::from_str(&payload).map_err(|e| LinkStoreError::Decode {
                    what: format!("break {id} of {business_date}"),
                    reason: e.to_string(),
                })?;
            if !found.contains_key(&record.key)
                && let Some(amount) = channel_payment(&record)
            {
                found.insert(
                    record.key.clone(),
                    Payment {
                        date: business_date,
                        amount,
                    },
                );
            }
        }
    }
    Ok(found)
}

/// Replaces the refunds `date` counted (a rerun of the date writes the same rows).
pub async fn replace_links(
    tx: &mut DbTx,
    job: &str,
    date: NaiveDate,
    run_id: &str,
    links: &[NewLink],
) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => {
        sqlx::query("DELETE FROM recon_refund_links WHERE job = $1 AND business_date = $2")
            .bind(job)
            .bind(date)
            .execute(&mut **conn)
            .await?;
    });
    let mut batch = RowBatch::new(
        "recon_refund_links",
        &[
            "job",
            "business_date",
            "seq",
            "order_no",
            "ledger_key",
            "statement_key",
            "amount",
            "refunded_total",
            "paid_amount",
            "payment_date",
            "refund_time",
            "category",
            "run_id",
        ],
    );
    for (seq, link) in links.iter().enumerate() {
        let identity = &link.identity;
        batch.push(vec![
            Value::Text(job.to_string()),
            Value::Date(date),
            Value::Int(seq as i64),
            Value::Text(identity.order_no.clone()),
            Value::Text(identity.ledger_key.clone().unwrap_or_default()),
            Value::Text(identity.statement_key.clone().unwrap_or_default()),
            Value::Money(cents_to_decimal(identity.amount)),
            Value::Money(cents_to_decimal(link.refunded_total)),
            Value::OptionalMoney(link.payment.map(|p| cents_to_decimal(p.amount))),
            Value::Text(link.payment.map(|p| p.date.to_string()).unwrap_or_default()),
            Value::Text(link.time.format("%Y-%m-%d %H:%M:%S").to_string()),
            Value::Text(link.category.to_string()),
            Value::Text(run_id.to_string()),
        ]);
    }
    batch.flush(tx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_date_follows_the_cut_off() {
        let at = |t: &str| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").unwrap();
        let day = |t: &str| t.parse::<NaiveDate>().unwrap();
        assert_eq!(
            business_date_of(at("2026-11-21 23:30:00"), NaiveTime::MIN),
            day("2026-11-21")
        );
        let eleven = NaiveTime::from_hms_opt(23, 0, 0).unwrap();
        assert_eq!(
            business_date_of(at("2026-11-21 23:30:00"), eleven),
            day("2026-11-22")
        );
        assert_eq!(
            business_date_of(at("2026-11-21 22:59:59"), eleven),
            day("2026-11-21")
        );
    }
}
