//! The rows a reconciliation shard hands to its run's finalize step (diff
//! rows, rejects), kept in `recon_shard_rows` as JSON in report order.
//!
//! A shard replaces its rows of `(job, business_date, item, row_type)` inside
//! its fenced transaction, so a retried or failed-over shard never leaves
//! two copies; finalize reads the rows of the current shard count only.

use chrono::NaiveDate;

use crate::db::{Db, DbTx};
use crate::{on_db, on_tx};

/// Rows per multi-row INSERT (7 parameters each; SQLite allows 32,766).
const INSERT_CHUNK: usize = 500;

/// Where a set of rows belongs.
#[derive(Debug, Clone, Copy)]
pub struct RowsKey<'a> {
    pub job: &'a str,
    pub business_date: NaiveDate,
    pub item: u32,
    pub run_id: &'a str,
}

/// Replaces the shard's rows of `row_type` with `records` (JSON texts, in order).
pub async fn replace(
    tx: &mut DbTx,
    key: RowsKey<'_>,
    row_type: &str,
    records: &[String],
) -> Result<(), sqlx::Error> {
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
    for (chunk_index, chunk) in records.chunks(INSERT_CHUNK).enumerate() {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p = i * 7;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6,
                    p + 7
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO recon_shard_rows (job, business_date, item, row_type, seq, record, run_id) \
             VALUES {}",
            values.join(", ")
        );
        on_tx!(tx, conn => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            for (i, record) in chunk.iter().enumerate() {
                let seq = (chunk_index * INSERT_CHUNK + i) as i64;
                query = query
                    .bind(key.job)
                    .bind(key.business_date)
                    .bind(i64::from(key.item))
                    .bind(row_type)
                    .bind(seq)
                    .bind(record.as_str())
                    .bind(key.run_id);
            }
            query.execute(&mut **conn).await?;
        });
    }
    Ok(())
}

/// The rows of `row_type` of every shard below `items`, by item then order.
pub async fn read(
    db: &Db,
    job: &str,
    business_date: NaiveDate,
    items: u32,
    row_type: &str,
) -> Result<Vec<String>, sqlx::Error> {
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
    Ok(rows.into_iter().map(|(record,)| record).collect())
}
