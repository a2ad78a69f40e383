//! Creating, moving and reading runs.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use super::records::RunRow;
use super::{
    Epoch, JobName, Ledger, LedgerError, NewRun, RunFilter, RunId, RunRecord, RunStatus,
    hold_leader,
};
use crate::db::{DbTx, is_unique_violation};
use crate::{on_db, on_tx};

pub(super) const RUN_COLUMNS: &str = "run_id, job, business_date, attempt, trigger, status, requested_by, reason, \
     parent_run, failed_only, params, owner, heartbeat_at, created_at, started_at, finished_at, error, outcome";

impl Ledger {
    /// Creates a pending run with the next attempt number.
    ///
    /// Refused with [`LedgerError::RunActive`] while another run of the same
    /// job and date is pending or running. A run whose heartbeat is older than
    /// `lease` is first marked failed as abandoned (its node died), so a
    /// crashed node can never block a job for ever; when it had committed
    /// shards, the runs of `dependents` for its date are marked stale with it.
    pub async fn create_run(
        &self,
        new: &NewRun,
        lease: Duration,
        dependents: &[JobName],
    ) -> Result<RunRecord, LedgerError> {
        self.create_run_as(new, lease, dependents, None, None).await
    }

    /// [`Ledger::create_run`] as a leader write: the leader epoch `lead` is
    /// checked in the run's transaction, and the cron fire time `fire` that
    /// asked for the run is recorded as handled in the same transaction
    /// (intent and effect commit together: a crash in between loses neither).
    pub async fn create_run_as(
        &self,
        new: &NewRun,
        lease: Duration,
        dependents: &[JobName],
        lead: Option<Epoch>,
        fire: Option<DateTime<Utc>>,
    ) -> Result<RunRecord, LedgerError> {
        self.fail_abandoned_as(&new.job, new.business_date, lease, dependents, lead)
            .await?;
        let run_id = RunId::generate();
        let now = self.clock.now();
        let params = new.params.to_string();
        let mut tx = self.db.begin_write().await?;
        hold_leader(&mut tx, lead).await?;
        let inserted = on_tx!(&mut tx, conn => {
            sqlx::query(
                "INSERT INTO runs (run_id, job, business_date, attempt, trigger, status, requested_by, \
                 reason, parent_run, failed_only, params, created_at) \
                 VALUES ($1, $2, $3, (SELECT COALESCE(MAX(attempt), 0) + 1 FROM runs WHERE job = $2 AND business_date = $3), \
                 $4, 'pending', $5, $6, $7, $8, $9, $10)",
            )
            .bind(&run_id)
            .bind(&new.job)
            .bind(new.business_date)
            .bind(new.trigger.as_str())
            .bind(&new.requested_by)
            .bind(&new.reason)
            .bind(&new.parent_run)
            .bind(new.failed_only)
            .bind(&params)
            .bind(now)
            .execute(&mut **conn)
            .await
            .map(|done| done.rows_affected())
        });
        match inserted {
            Ok(_) => {}
            Err(err) if is_unique_violation(&err) => {
                tx.rollback().await?;
                return Err(self.active_conflict(&new.job, new.business_date).await?);
            }
            Err(err) => return Err(err.into()),
        }
        if let Some(fire_at) = fire {
            super::scheduler_state::mark_fire_in(&mut tx, &new.job, fire_at).await?;
        }
        super::events::append_event_in(&mut tx, &run_id, None, "created", &describe(new), now)
            .await?;
        tx.commit().await?;
        self.run(&run_id).await
    }

    async fn active_conflict(
        &self,
        job: &JobName,
        date: NaiveDate,
    ) -> Result<LedgerError, LedgerError> {
        let active = self.active_run(job, date).await?;
        Ok(match active {
            Some(run) => LedgerError::RunActive {
                job: job.clone(),
                business_date: date,
                run_id: run.run_id,
                status: run.status,
            },
            // The other run finished between our insert and this look-up.
            None => LedgerError::RunActive {
                job: job.clone(),
                business_date: date,
                run_id: RunId::from("(just finished)"),
                status: RunStatus::Running,
            },
        })
    }

    /// Marks pending/running runs of `job` and `date` whose heartbeat is older
    /// than `lease` as failed, with their unfinished shards; when such a run
    /// had committed shards, the latest succeeded runs of the jobs in
    /// `dependents` for `date` are marked stale in the same transaction.
    pub async fn fail_abandoned(
        &self,
        job: &JobName,
        date: NaiveDate,
        lease: Duration,
        dependents: &[JobName],
    ) -> Result<u64, LedgerError> {
        self.fail_abandoned_as(job, date, lease, dependents, None)
            .await
    }

    /// [`Ledger::fail_abandoned`] as a leader write (checked against `lead`).
    pub async fn fail_abandoned_as(
        &self,
        job: &JobName,
        date: NaiveDate,
        lease: Duration,
        dependents: &[JobName],
        lead: Option<Epoch>,
    ) -> Result<u64, LedgerError> {
        let now = self.clock.now();
        let cutoff = now - chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let stale: Vec<(RunId, Option<String>)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT run_id, owner FROM runs WHERE job = $1 AND business_date = $2 \
                 AND status IN ('pending', 'running') AND COALESCE(heartbeat_at, created_at) < $3",
            )
            .bind(job)
            .bind(date)
            .bind(cutoff)
            .fetch_all(pool)
            .await?
        });
        for (run_id, owner) in &stale {
            let reason = format!(
                "abandoned: no heartbeat from {} for longer than {}s",
                owner.as_deref().unwrap_or("its node"),
                lease.as_secs()
            );
            // The shards it committed before it was abandoned replaced
            // outputs its dependents read: marked with its end, in one
            // transaction (its barrier, which would have marked them, never came).
            let mut tx = self.db.begin_write().await?;
            hold_leader(&mut tx, lead).await?;
            if finish_in(&mut tx, run_id, RunStatus::Failed, Some(&reason), None, now).await? {
                super::replaced::mark_dependents_in(&mut tx, run_id, job, date, dependents, now)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(stale.len() as u64)
    }

    /// Moves a pending run to running, owned by `owner`, and inserts its
    /// shard rows in the same transaction — pending for `to_run`, copied
    /// from `parent` as succeeded for `carry` — so a run is never running
    /// without its shards. Checked against the leader epoch `lead`.
    pub async fn start_run_with_shards(
        &self,
        run_id: &RunId,
        owner: &str,
        to_run: &[u32],
        carry: Option<(&RunId, &[u32])>,
        lead: Option<Epoch>,
    ) -> Result<(), LedgerError> {
        let now = self.clock.now();
        let mut tx = self.db.begin_write().await?;
        hold_leader(&mut tx, lead).await?;
        let done = on_tx!(&mut tx, conn => {
            sqlx::query(
                "UPDATE runs SET status = 'running', owner = $2, started_at = $3, heartbeat_at = $3 \
                 WHERE run_id = $1 AND status = 'pending'",
            )
            .bind(run_id)
            .bind(owner)
            .bind(now)
            .execute(&mut **conn)
            .await?
            .rows_affected()
        });
        if done == 0 {
            tx.rollback().await?;
            let run = self.run(run_id).await?;
            return Err(LedgerError::WrongState {
                run_id: run_id.clone(),
                expected: "pending".into(),
                actual: run.status.to_string(),
            });
        }
        if let Some((parent, items)) = carry {
            super::shards::carry_in(&mut tx, run_id, parent, items).await?;
        }
        super::shards::insert_pending_in(&mut tx, run_id, to_run).await?;
        super::events::append_event_in(
            &mut tx,
            run_id,
            None,
            "started",
            &format!("on {owner}"),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The runs still pending or running, oldest first.
    pub async fn active_runs(&self) -> Result<Vec<RunRecord>, LedgerError> {
        let rows: Vec<RunRow> = on_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE status IN ('pending', 'running') ORDER BY created_at, run_id"
            )))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(RunRecord::try_from).collect()
    }

    /// Records that the run's owner is alive.
    pub async fn heartbeat(&self, run_id: &RunId) -> Result<(), LedgerError> {
        let now = self.clock.now();
        on_db!(&self.db, pool => {
            sqlx::query("UPDATE runs SET heartbeat_at = $2 WHERE run_id = $1 AND status IN ('pending', 'running')")
                .bind(run_id)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Moves an unfinished run to a final status. A run already final is left alone.
    pub async fn finish_run(
        &self,
        run_id: &RunId,
        status: RunStatus,
        error: Option<&str>,
        outcome: Option<&serde_json::Value>,
    ) -> Result<(), LedgerError> {
        self.finish_run_as(run_id, status, error, outcome, None)
            .await
    }

    /// [`Ledger::finish_run`] as a leader write: checked against `lead`; a run
    /// that does not succeed has its unfinished shards failed in the same
    /// transaction, so no shard of a failed run can commit into it afterwards.
    pub async fn finish_run_as(
        &self,
        run_id: &RunId,
        status: RunStatus,
        error: Option<&str>,
        outcome: Option<&serde_json::Value>,
        lead: Option<Epoch>,
    ) -> Result<(), LedgerError> {
        if !status.is_final() {
            return Err(LedgerError::WrongState {
                run_id: run_id.clone(),
                expected: "a final status".into(),
                actual: status.to_string(),
            });
        }
        let now = self.clock.now();
        let mut tx = self.db.begin_write().await?;
        hold_leader(&mut tx, lead).await?;
        finish_in(&mut tx, run_id, status, error, outcome, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// [`Ledger::finish_run`] inside the caller's write transaction (a run's
    /// conclusion, [`Ledger::begin_conclusion`], which already holds the
    /// leader epoch and the run): the finish commits with whatever else the
    /// caller wrote there, or not at all. `Ok(false)` when the run was
    /// already final (nothing written).
    pub async fn finish_run_in(
        &self,
        tx: &mut DbTx,
        run_id: &RunId,
        status: RunStatus,
        error: Option<&str>,
        outcome: Option<&serde_json::Value>,
    ) -> Result<bool, LedgerError> {
        if !status.is_final() {
            return Err(LedgerError::WrongState {
                run_id: run_id.clone(),
                expected: "a final status".into(),
                actual: status.to_string(),
            });
        }
        finish_in(tx, run_id, status, error, outcome, self.clock.now()).await
    }

    /// One run by id.
    pub async fn run(&self, run_id: &RunId) -> Result<RunRecord, LedgerError> {
        let row: Option<RunRow> = on_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = $1")))
                .bind(run_id)
                .fetch_optional(pool)
                .await?
        });
        row.ok_or_else(|| LedgerError::UnknownRun(run_id.clone()))?
            .try_into()
    }

    /// Runs matching `filter`, newest first.
    pub async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, LedgerError> {
        let limit = if filter.limit > 0 { filter.limit } else { 100 };
        let status = filter.status.map(|s| s.as_str());
        let rows: Vec<RunRow> = on_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE ($1 IS NULL OR job = $1) \
                 AND ($2 IS NULL OR business_date = $2) AND ($3 IS NULL OR status = $3) \
                 ORDER BY created_at DESC, run_id DESC LIMIT $4"
            )))
            .bind(&filter.job)
            .bind(filter.business_date)
            .bind(status)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(RunRecord::try_from).collect()
    }

    /// The pending or running run of a job and date, if any.
    pub async fn active_run(
        &self,
        job: &JobName,
        date: NaiveDate,
    ) -> Result<Option<RunRecord>, LedgerError> {
        self.last_run_where(job, date, "status IN ('pending', 'running')")
            .await
    }

    /// The latest succeeded run of a job and date, if any.
    pub async fn succeeded_run(
        &self,
        job: &JobName,
        date: NaiveDate,
    ) -> Result<Option<RunRecord>, LedgerError> {
        self.last_run_where(job, date, "status = 'succeeded'").await
    }

    async fn last_run_where(
        &self,
        job: &JobName,
        date: NaiveDate,
        condition: &'static str,
    ) -> Result<Option<RunRecord>, LedgerError> {
        let row: Option<RunRow> = on_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE job = $1 AND business_date = $2 AND {condition} \
                 ORDER BY attempt DESC LIMIT 1"
            )))
            .bind(job)
            .bind(date)
            .fetch_optional(pool)
            .await?
        });
        row.map(RunRecord::try_from).transpose()
    }

    /// Runs still pending or running whose heartbeat is older than `before`.
    pub async fn stale_runs(&self, before: DateTime<Utc>) -> Result<Vec<RunRecord>, LedgerError> {
        let rows: Vec<RunRow> = on_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE status IN ('pending', 'running') \
                 AND COALESCE(heartbeat_at, created_at) < $1 ORDER BY created_at"
            )))
            .bind(before)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(RunRecord::try_from).collect()
    }
}

fn describe(new: &NewRun) -> String {
    let mut text = format!(
        "{} run of {} for {} requested by {}",
        new.trigger, new.job, new.business_date, new.requested_by
    );
    if let Some(parent) = &new.parent_run {
        text.push_str(&format!("; rerun of {parent}"));
        if new.failed_only {
            text.push_str(" (failed shards only)");
        }
    }
    if let Some(reason) = &new.reason {
        text.push_str(&format!("; reason: {reason}"));
    }
    text
}

/// The one way a run ends, inside the caller's leader write: an unfinished
/// run (pending or running) gets its final `status`, error and outcome and
/// the `finished` event; a run that does not succeed has its unfinished
/// shards failed with it. A run already final is left alone (`false`).
pub(super) async fn finish_in(
    tx: &mut DbTx,
    run_id: &str,
    status: RunStatus,
    error: Option<&str>,
    outcome: Option<&serde_json::Value>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, LedgerError> {
    if status == RunStatus::Succeeded {
        // A newer success of the date makes its older runs' stale marks history.
        clear_older_marks_in(tx, run_id, now).await?;
    } else {
        // Shards it committed replaced part of the date's carried state.
        super::replaced::mark_later_after_partial_in(tx, run_id, now).await?;
        super::shards::fail_unfinished_in(tx, run_id, error.unwrap_or("the run ended"), now)
            .await?;
    }
    let outcome = outcome.map(|o| o.to_string());
    let finished = on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE runs SET status = $2, error = $3, outcome = $4, finished_at = $5 \
             WHERE run_id = $1 AND status IN ('pending', 'running')",
        )
        .bind(run_id)
        .bind(status.as_str())
        .bind(error)
        .bind(outcome)
        .bind(now)
        .execute(&mut **conn)
        .await?
        .rows_affected()
    }) == 1;
    if finished {
        let message = match error {
            Some(error) => format!("{status}: {error}"),
            None => status.to_string(),
        };
        super::events::append_event_in(tx, run_id, None, "finished", &message, now).await?;
    }
    Ok(finished)
}

/// Clears the stale marks of the other runs of `run_id`'s job and date.
async fn clear_older_marks_in(
    tx: &mut DbTx,
    run_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), LedgerError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE run_stale SET cleared_by_run = $1, cleared_at = $2 \
             WHERE cleared_by_run IS NULL AND run_id <> $1 \
             AND (job, business_date) IN (SELECT job, business_date FROM runs WHERE run_id = $1)",
        )
        .bind(run_id)
        .bind(now)
        .execute(&mut **conn)
        .await?;
    });
    Ok(())
}
