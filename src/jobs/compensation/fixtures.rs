//! Demo and test data, loaded idempotently (rows already there are kept):
//! `messages.csv` — transactional messages
//! (`id,txn_type,business_key,payload,prepared_at,state,check_count`,
//! `prepared_at` in RFC 3339) — and `business_orders.csv` — the business
//! table `compensation_demo_orders (order_no, status)` that the demo job's
//! SQL checker reads (`PAID` committed, `CANCELLED` rolled back, else unknown).

use std::path::Path;

use chrono::{DateTime, NaiveDate};

use super::state::State;
use super::store::{bucket_of, payload_amount};
use crate::db::Db;
use crate::money::Money;
use crate::on_db;
use crate::runtime::JobError;

/// The business table of the demo (a stand-in for the order system's database).
pub const DEMO_ORDERS_TABLE: &str = "CREATE TABLE IF NOT EXISTS compensation_demo_orders \
     (order_no TEXT PRIMARY KEY, status TEXT NOT NULL)";

#[derive(Debug, serde::Deserialize)]
struct MessageLine {
    id: String,
    txn_type: String,
    business_key: String,
    payload: String,
    prepared_at: String,
    state: String,
    check_count: i64,
}

#[derive(Debug, serde::Deserialize)]
struct OrderLine {
    order_no: String,
    status: String,
}

/// Loads `dir/messages.csv` and `dir/business_orders.csv`; returns a
/// one-line description. Missing directory: nothing loaded.
pub async fn load(db: &Db, dir: &Path, _business_date: NaiveDate) -> Result<String, JobError> {
    if !dir.exists() {
        return Ok("no compensation fixtures".into());
    }
    let orders: Vec<(usize, OrderLine)> = read(&dir.join("business_orders.csv"))?;
    on_db!(db, pool => { sqlx::query(DEMO_ORDERS_TABLE).execute(pool).await?; });
    for (_, order) in &orders {
        on_db!(db, pool => {
            sqlx::query("INSERT INTO compensation_demo_orders (order_no, status) VALUES ($1, $2) ON CONFLICT (order_no) DO NOTHING")
                .bind(&order.order_no)
                .bind(&order.status)
                .execute(pool)
                .await?;
        });
    }
    let path = dir.join("messages.csv");
    let messages: Vec<(usize, MessageLine)> = read(&path)?;
    for (line, m) in &messages {
        let bad =
            |reason: String| JobError::Input(format!("{} line {line}: {reason}", path.display()));
        let at = DateTime::parse_from_rfc3339(&m.prepared_at)
            .map_err(|e| bad(format!("prepared_at `{}`: {e}", m.prepared_at)))?
            .timestamp_millis();
        let state =
            State::parse(&m.state).ok_or_else(|| bad(format!("unknown state `{}`", m.state)))?;
        let amount = payload_amount(&m.id, &m.payload)
            .map_err(|e| bad(e.to_string()))?
            .map(Money);
        on_db!(db, pool => {
            sqlx::query(
                "INSERT INTO txn_messages (id, txn_type, business_key, payload, amount, state, bucket, \
                 check_count, next_attempt_at_ms, created_at_ms, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&m.id)
            .bind(&m.txn_type)
            .bind(&m.business_key)
            .bind(&m.payload)
            .bind(amount)
            .bind(state.as_str())
            .bind(bucket_of(&m.id))
            .bind(m.check_count)
            .bind(at)
            .execute(pool)
            .await?;
        });
    }
    Ok(format!(
        "{} transactional messages, {} business orders",
        messages.len(),
        orders.len()
    ))
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<(usize, T)>, JobError> {
    let mut reader = csv::Reader::from_path(path)
        .map_err(|e| JobError::Input(format!("cannot read {}: {e}", path.display())))?;
    let mut rows = Vec::new();
    for (index, record) in reader.deserialize().enumerate() {
        let line = index + 2;
        let row =
            record.map_err(|e| JobError::Input(format!("{} line {line}: {e}", path.display())))?;
        rows.push((line, row));
    }
    Ok(rows)
}
