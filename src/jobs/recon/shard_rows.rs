//! The rows a reconciliation shard hands to its run's finalize step (diff
//! rows, rejects, tallies), kept in `recon_shard_rows` as JSON in order.
//!
//! A shard replaces its rows of `(job, business_date, item, row_type)` inside
//! its fenced transaction, so a retried or failed-over shard never leaves
//! two copies; finalize reads the rows of the current shard count only. This
//! module is the one place that encodes and decodes them.

use chrono::NaiveDate;

use crate::batch::{RowBatch, Value};
use crate::db::{Db, DbTx};
use crate::runtime::JobError;
use crate::{on_db, on_tx};

/// Why shard rows could not be stored or read back.
#[derive(Debug, thiserror::Error)]
pub enum ShardRowsError {
    #[error("cannot encode a shard row: {0}")]
    Encode(serde_json::Error),
    /// A stored row that does not decode (written by another version?).
    #[error("shard row of {job} {date} ({row_type}) cannot be read back: {reason}")]
    Decode {
        job: String,
        date: NaiveDate,
        row_type: String,
        reason: String,
    },
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl From<ShardRowsError> for JobError {
    fn from(error: ShardRowsError) -> JobError {
        match error {
            ShardRowsError::Database(e) => JobError::Database(e),
            other => JobError::Failed(other.to_string()),
        }
    }
}

/// Where a set of rows belongs.
#[derive(Debug, Clone, Copy)]
pub struct RowsKey<'a> {
    pub job: &'a str,
    pub business_date: NaiveDate,
    pub item: u32,
    pub run_id: &'a str,
}

/// Replaces the shard's rows of `row_type` with `rows`, in order.
pub async fn replace<T: serde::Serialize>(
    tx: &mut DbTx,
    key: RowsKey<'_>,
    row_type: &str,
    rows: &[T],
) -> Result<(), ShardRowsError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "DELETE FROM recon_shard_rows WHERE job = $1 AND business_date = $2 AND item = $3 \
             AND row_type = $4",
        )
        .bind(key.job)
        .bind(key.business_date)
        .bind(i64::from(key.item))
        .bind(row_type)
        .execute(&mut **conn)
        .await?;
    });
    let mut batch = RowBatch::new(
        "recon_shard_rows",
        &[
            "job",
            "business_date",
            "item",
            "row_type",
            "seq",
            "record",
            "run_id",
        ],
    );
    for (seq, row) in rows.iter().enumerate() {
        let record = serde_json::to_string(row).map_err(ShardRowsError::Encode)?;
        batch.push(vec![
            Value::Text(key.job.to_string()),
            Value::Date(key.business_date),
            Value::Int(i64::from(key.item)),
            Value::Text(row_type.to_string()),
            Value::Int(seq as i64),
            Value::Text(record),
            Value::Text(key.run_id.to_string()),
        ]);
    }
    batch.flush(tx).await?;
    Ok(())
}

/// The rows of `row_type` of every shard below `items`, by item then order.
pub async fn read<T: serde::de::DeserializeOwned>(
    db: &Db,
    job: &str,
    business_date: NaiveDate,
    items: u32,
    row_type: &str,
) -> Result<Vec<T>, ShardRowsError> {
    let rows: Vec<(String,)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT record FROM recon_shard_rows WHERE job = $1 AND business_date = $2 \
             AND row_type = $3 AND item < $4 ORDER BY item, seq",
        )
        .bind(job)
        .bind(business_date)
        .bind(row_type)
        .bind(i64::from(items))
        .fetch_all(pool)
        .await?
    });
    rows.iter()
        .map(|(record,)| {
            serde_json::from_str(record).map_err(|e| ShardRowsError::Decode {
                job: job.to_string(),
                date: business_date,
                row_type: row_type.to_string(),
                reason: e.to_string(),
            })
        })
        .collect()
}
