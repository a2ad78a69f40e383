//! The scheduler's memory: the last fire time handled per job, so a node that
//! starts after downtime can tell which fire times were missed.

use chrono::{DateTime, Utc};

use super::{Epoch, Ledger, LedgerError, hold_leader};
use crate::db::DbTx;
use crate::{on_db, on_tx};

/// Records `fire_at` as handled inside a transaction (never backwards).
pub(super) async fn mark_fire_in(
    tx: &mut DbTx,
    job: &str,
    fire_at: DateTime<Utc>,
) -> Result<(), LedgerError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO scheduler_state (job, last_fire_at) VALUES ($1, $2) \
             ON CONFLICT (job) DO UPDATE SET last_fire_at = excluded.last_fire_at \
             WHERE scheduler_state.last_fire_at < excluded.last_fire_at",
        )
        .bind(job)
        .bind(fire_at)
        .execute(&mut **conn)
        .await?
        .rows_affected()
    });
    Ok(())
}

impl Ledger {
    /// The last fire time handled for a job, if the scheduler ever ran it.
    pub async fn last_fire(
        &self,
        job: &super::JobName,
    ) -> Result<Option<DateTime<Utc>>, LedgerError> {
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
        job: &super::JobName,
        fire_at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let mut tx = self.db.begin().await?;
        mark_fire_in(&mut tx, job, fire_at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records `fire_at` as handled by the run `covering` of the same date
    /// (active or already succeeded), with the event `fire_covered` on that
    /// run naming it (`text`), in one leader write: no fire time moves the
    /// mark without being named somewhere.
    pub async fn mark_fire_covered(
        &self,
        job: &super::JobName,
        fire_at: DateTime<Utc>,
        covering: &super::RunId,
        text: &str,
        lead: Option<Epoch>,
    ) -> Result<(), LedgerError> {
        let now = self.clock.now();
        let mut tx = self.db.begin_write().await?;
        hold_leader(&mut tx, lead).await?;
        super::events::append_event_in(&mut tx, covering, None, "fire_covered", text, now).await?;
        mark_fire_in(&mut tx, job, fire_at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records fire times passed over without a run of their own (misfire
    /// `skip`, or older dates collapsed by `fire_once`); idempotent.
    pub async fn record_missed_fires(
        &self,
        job: &super::JobName,
        missed: &[(DateTime<Utc>, chrono::NaiveDate)],
        policy: &str,
    ) -> Result<(), LedgerError> {
        let now = self.clock.now();
        for (fire_at, date) in missed {
            on_db!(&self.db, pool => {
                sqlx::query(
                    "INSERT INTO missed_fires (job, fire_at, business_date, policy, recorded_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job, fire_at) DO NOTHING",
                )
                .bind(job)
                .bind(*fire_at)
                .bind(*date)
                .bind(policy)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
            });
        }
        Ok(())
    }

    /// Business dates of `job` whose fire time was passed over and that no
    /// run (of any status) ever covered, oldest first.
    pub async fn missed_dates(
        &self,
        job: &super::JobName,
    ) -> Result<Vec<chrono::NaiveDate>, LedgerError> {
        let rows: Vec<(chrono::NaiveDate,)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT DISTINCT m.business_date FROM missed_fires m WHERE m.job = $1 \
                 AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.job = m.job AND r.business_date = m.business_date) \
                 ORDER BY m.business_date",
            )
            .bind(job)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }
}
