//! Read-only views of the ledger for the console, the metrics and the alert
//! watcher: the grid's latest attempts, reruns of a run, runs finished since
//! an instant, and aggregate counts. Each query is bounded and indexed
//! (migration 20261201000040) so a book of 10,000+ runs answers in
//! milliseconds.

use chrono::{DateTime, NaiveDate, Utc};

use super::records::RunRow;
use super::runs::RUN_COLUMNS;
use super::{JobName, Ledger, LedgerError, RunId, RunRecord, RunStatus};
use crate::on_db;

/// The latest attempt of one job and business date (a grid cell).
#[derive(Debug, Clone, PartialEq)]
pub struct CellRun {
    pub run_id: RunId,
    pub job: JobName,
    pub business_date: NaiveDate,
    pub attempt: i64,
    pub status: RunStatus,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct CellRow {
    run_id: RunId,
    job: JobName,
    business_date: NaiveDate,
    attempt: i64,
    status: String,
    heartbeat_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

/// A finished run or shard for duration histograms.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TimedRow {
    pub job: String,
    pub status: String,
    pub attempts: i64,
    /// Start to finish, computed by the database (no per-row time parsing).
    pub seconds: Option<f64>,
}

/// `finished_at - started_at` in seconds, in each backend's dialect.
fn seconds_sql(db: &crate::db::Db, start: &str, end: &str) -> String {
    match db {
        crate::db::Db::Sqlite(_) => format!("(julianday({end}) - julianday({start})) * 86400.0"),
        crate::db::Db::Postgres(_) => {
            format!("CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS DOUBLE PRECISION)")
        }
    }
}

/// Aggregates over the whole ledger, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LedgerStats {
    /// (job, status, runs).
    pub runs: Vec<(String, String, i64)>,
    /// Finished runs with both times.
    pub run_times: Vec<TimedRow>,
    /// Finished shards with both times (carried shards excluded).
    pub shard_times: Vec<TimedRow>,
    /// (job, latest succeeded business date, latest succeeded finish).
    pub last_success: Vec<(String, NaiveDate, Option<DateTime<Utc>>)>,
}

impl Ledger {
    /// The latest attempt of each job and business date in `from..=to`.
    pub async fn latest_attempts(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CellRun>, LedgerError> {
        let rows: Vec<CellRow> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT run_id, job, business_date, attempt, status, heartbeat_at, created_at, finished_at \
                 FROM runs r WHERE business_date >= $1 AND business_date <= $2 \
                 AND attempt = (SELECT MAX(attempt) FROM runs m WHERE m.job = r.job AND m.business_date = r.business_date)",
            )
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|row| {
                Ok(CellRun {
                    status: row.status.parse().map_err(LedgerError::Corrupt)?,
                    run_id: row.run_id,
                    job: row.job,
                    business_date: row.business_date,
                    attempt: row.attempt,
                    heartbeat_at: row.heartbeat_at,
                    created_at: row.created_at,
                    finished_at: row.finished_at,
                })
            })
            .collect()
    }

    /// The newest business date that has any run, if any.
    pub async fn latest_business_date(&self) -> Result<Option<NaiveDate>, LedgerError> {
        let date: Option<NaiveDate> = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT MAX(business_date) FROM runs").fetch_one(pool).await?
        });
        Ok(date)
    }

    /// Runs created as reruns of `run_id`, oldest first.
    pub async fn reruns_of(&self, run_id: &super::RunId) -> Result<Vec<RunRecord>, LedgerError> {
        let rows: Vec<RunRow> = on_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE parent_run = $1 ORDER BY attempt"
            )))
            .bind(run_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(RunRecord::try_from).collect()
    }

    /// Runs that finished after `after`, oldest first, at most `limit`.
    pub async fn finished_since(
        &self,
        after: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<RunRecord>, LedgerError> {
        let rows: Vec<RunRow> = on_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE finished_at > $1 ORDER BY finished_at, run_id LIMIT $2"
            )))
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(RunRecord::try_from).collect()
    }

    /// Aggregates for `/metrics`.
    pub async fn stats(&self) -> Result<LedgerStats, LedgerError> {
        let runs: Vec<(String, String, i64)> = on_db!(&self.db, pool => {
            sqlx::query_as("SELECT job, status, COUNT(*) FROM runs GROUP BY job, status ORDER BY job, status")
                .fetch_all(pool)
                .await?
        });
        let run_sql = format!(
            "SELECT job, status, attempt AS attempts, {} AS seconds FROM runs \
             WHERE started_at IS NOT NULL AND finished_at IS NOT NULL",
            seconds_sql(&self.db, "started_at", "finished_at")
        );
        let run_times: Vec<TimedRow> = on_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(run_sql.as_str())).fetch_all(pool).await?
        });
        let shard_sql = format!(
            "SELECT r.job, s.status, s.attempts, {} AS seconds \
             FROM shard_runs s JOIN runs r ON r.run_id = s.run_id WHERE s.carried_from IS NULL",
            seconds_sql(&self.db, "s.started_at", "s.finished_at")
        );
        let shard_times: Vec<TimedRow> = on_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(shard_sql.as_str())).fetch_all(pool).await?
        });
        let last_success: Vec<(String, NaiveDate, Option<DateTime<Utc>>)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT job, MAX(business_date), MAX(finished_at) FROM runs WHERE status = 'succeeded' \
                 GROUP BY job ORDER BY job",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(LedgerStats {
            runs,
            run_times,
            shard_times,
            last_success,
        })
    }
}
