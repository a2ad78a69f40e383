//! The scheduler's memory: the last fire time handled per job, so a node that
//! starts after downtime can tell which fire times were missed.

use chrono::{DateTime, Utc};

use super::{Ledger, LedgerError};
use crate::on_db;

impl Ledger {
    /// The last fire time handled for a job, if the scheduler ever ran it.
    pub async fn last_fire(&self, job: &str) -> Result<Option<DateTime<Utc>>, LedgerError> {
        let row: Option<(DateTime<Utc>,)> = on_db!(&self.db, pool => {
            sqlx::query_as("SELECT last_fire_at FROM scheduler_state WHERE job = $1")
                .bind(job)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(t,)| t))
    }

    /// Records `fire_at` as handled; never moves the mark backwards.
    pub async fn mark_fire_handled(
        &self,
        job: &str,
        fire_at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        on_db!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO scheduler_state (job, last_fire_at) VALUES ($1, $2) \
                 ON CONFLICT (job) DO UPDATE SET last_fire_at = excluded.last_fire_at \
                 WHERE scheduler_state.last_fire_at < excluded.last_fire_at",
            )
            .bind(job)
            .bind(fire_at)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }
}
