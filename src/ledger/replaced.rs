//! Outputs a run's own shards replaced, and what was built on them.
//!
//! The moment a shard of a run commits, its date's outputs are no longer the
//! ones earlier readers saw — whatever the run's end. Two kinds of readers:
//! - **dependent jobs** (`depends_on`) of the same date: their latest
//!   succeeded run read the outputs this run replaced, so it is marked stale
//!   at this run's barrier, succeeded or not ([`Ledger::mark_replaced_outputs`]);
//!   and a run of a dependent that started before an upstream shard committed
//!   marks itself stale at its own barrier; a run abandoned before its
//!   barrier marks them when it is failed as abandoned ([`mark_dependents_in`]);
//! - **later dates of the same job**, for kinds whose date feeds the next
//!   (a stored carry digest): a run that succeeds compares digests
//!   (`stale.rs`); one that ends failed or cancelled after some of its shards
//!   committed has changed the date's state half-way, so the later succeeded
//!   dates are marked stale when it finishes ([`mark_later_after_partial_in`]).
//!
//! Marks are rows of `run_stale` (the same table and rules as `stale.rs`).

use chrono::{DateTime, NaiveDate, Utc};

use super::events::append_event_in;
use super::stale::{StaleRun, insert_mark, later_succeeded, lock_job};
use super::{Epoch, JobName, Ledger, LedgerError, RunId, hold_leader};
use crate::db::DbTx;
use crate::on_tx;

/// A run of another job marked stale: (job, business date, run id).
pub type StaleDependent = (JobName, NaiveDate, RunId);

/// What [`Ledger::mark_replaced_outputs`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplacedEffect {
    /// The latest succeeded run of each dependent job for the same date,
    /// newly marked stale, by job name.
    pub dependents: Vec<StaleDependent>,
    /// Set when this run is stale itself: a job it depends on committed
    /// outputs for its date after it started (that job and run).
    pub stale_self: Option<StaleDependent>,
}

impl ReplacedEffect {
    /// Attention lines naming what was marked and what to run.
    pub fn attention(&self, job: &str, date: NaiveDate) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.dependents.is_empty() {
            let runs: Vec<String> = self
                .dependents
                .iter()
                .map(|(dep, _, run)| format!("{dep} (run {run})"))
                .collect();
            lines.push(format!(
                "this run replaced outputs of {date} that jobs depending on {job} had read: \
                 now stale: {}; rerun each: reckon rerun <run> --cascade --reason …",
                runs.join(", ")
            ));
        }
        if let Some((up, _, run)) = &self.stale_self {
            lines.push(format!(
                "this run is stale: {up} (run {run}) committed outputs of {date} while this run \
                 was running; rerun it once {up} is final"
            ));
        }
        lines
    }
}

impl Ledger {
    /// At a run's barrier: when the run committed shards of its own, marks
    /// the latest succeeded run of each job in `dependents` for the same
    /// date stale; when a job in `depends_on` committed outputs for the date
    /// after this run started, marks this run stale. One leader-fenced write
    /// transaction with the marks' events.
    pub async fn mark_replaced_outputs(
        &self,
        run_id: &super::RunId,
        dependents: &[JobName],
        depends_on: &[JobName],
        lead: Option<Epoch>,
    ) -> Result<ReplacedEffect, LedgerError> {
        let now = self.clock.now();
        let mut tx = self.db.begin_write().await?;
        hold_leader(&mut tx, lead).await?;
        let row: Option<(JobName, NaiveDate, Option<DateTime<Utc>>)> = on_tx!(&mut tx, conn => {
            sqlx::query_as("SELECT job, business_date, started_at FROM runs WHERE run_id = $1")
                .bind(run_id)
                .fetch_optional(&mut **conn)
                .await?
        });
        let Some((job, date, started_at)) = row else {
            tx.rollback().await?;
            return Err(LedgerError::UnknownRun(run_id.clone()));
        };
        let mut effect = ReplacedEffect {
            dependents: mark_dependents_in(&mut tx, run_id, &job, date, dependents, now).await?,
            stale_self: None,
        };
        if let Some(started_at) = started_at {
            let mut latest: Option<(DateTime<Utc>, RunId)> = None;
            for up in depends_on {
                for (finished, up_run) in committed_shards(&mut tx, up, date).await? {
                    if finished >= started_at && latest.as_ref().is_none_or(|l| finished > l.0) {
                        latest = Some((finished, up_run));
                    }
                }
            }
            if let Some((_, up_run)) = latest {
                insert_mark(&mut tx, run_id, &job, date, &up_run, date, now).await?;
            }
            // Marked now, or earlier by the upstream's own barrier.
            effect.stale_self = active_cause(&mut tx, run_id, &job).await?;
        }
        if let Some((up, _, up_run)) = &effect.stale_self {
            let message = format!(
                "stale: {up} (run {up_run}) committed outputs of {date} while this run was running"
            );
            append_event_in(&mut tx, run_id, None, "stale", &message, now).await?;
        }
        tx.commit().await?;
        Ok(effect)
    }
}

/// Inside the caller's write transaction: when run `run_id` (of `job` and `date`)
/// committed shards of its own, marks stale the latest succeeded run of each
/// job in `dependents` for `date`, and their runs started before the run's
/// last commit (they may have read the replaced outputs), each with a
/// `stale` event. Returns the runs newly marked.
pub(super) async fn mark_dependents_in(
    tx: &mut DbTx,
    run_id: &RunId,
    job: &JobName,
    date: NaiveDate,
    dependents: &[JobName],
    now: DateTime<Utc>,
) -> Result<Vec<StaleDependent>, LedgerError> {
    if dependents.is_empty() {
        return Ok(Vec::new());
    }
    // Instants are compared decoded, not as SQLite text.
    let Some(last_commit) = own_commits(tx, run_id).await?.into_iter().flatten().max() else {
        return Ok(Vec::new());
    };
    let mut sorted: Vec<&JobName> = dependents.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut marked = Vec::new();
    for dep in sorted {
        lock_job(tx, dep).await?;
        // Its latest success read the replaced outputs; a run of it
        // started before this run's last commit may have read them too.
        let mut readers: Vec<RunId> = latest_succeeded(tx, dep, date).await?.into_iter().collect();
        readers.extend(running_since_before(tx, dep, date, last_commit).await?);
        for reader in readers {
            if insert_mark(tx, &reader, dep, date, run_id, date, now).await? {
                let message = format!(
                    "stale: run {run_id} of {job} replaced outputs of {date} that {dep} depends on"
                );
                append_event_in(tx, &reader, None, "stale", &message, now).await?;
                marked.push((dep.clone(), date, reader));
            }
        }
    }
    Ok(marked)
}

/// Inside a run's finish as failed or cancelled: when the run committed
/// shards of its own, the latest succeeded run of every later date of its
/// job that stored a carry digest (its date was built on this date's state)
/// is marked stale. Returns the runs marked.
pub(super) async fn mark_later_after_partial_in(
    tx: &mut DbTx,
    run_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<StaleRun>, LedgerError> {
    let Some(run) = super::stale::finishing(tx, run_id).await? else {
        return Ok(Vec::new());
    };
    if own_commits(tx, run_id).await?.is_empty() {
        return Ok(Vec::new());
    }
    lock_job(tx, &run.job).await?;
    let later = later_succeeded(tx, &run, true).await?;
    let mut marked = Vec::new();
    for (date, later_run) in later {
        if insert_mark(
            tx,
            &later_run,
            &run.job,
            date,
            run_id,
            run.business_date,
            now,
        )
        .await?
        {
            let message = format!(
                "stale: run {run_id} ended after committing part of what {} carries into later dates",
                run.business_date
            );
            append_event_in(tx, &later_run, None, "stale", &message, now).await?;
            marked.push((date, later_run));
        }
    }
    Ok(marked)
}

/// When each shard the run committed itself finished (carried shards
/// excluded; one entry per shard).
async fn own_commits(
    tx: &mut DbTx,
    run_id: &str,
) -> Result<Vec<Option<DateTime<Utc>>>, LedgerError> {
    let rows: Vec<(Option<DateTime<Utc>>,)> = on_tx!(tx, conn => {
        sqlx::query_as(
            "SELECT finished_at FROM shard_runs WHERE run_id = $1 AND status = 'succeeded' \
             AND carried_from IS NULL",
        )
        .bind(run_id)
        .fetch_all(&mut **conn)
        .await?
    });
    Ok(rows.into_iter().map(|(finished,)| finished).collect())
}

/// Runs of `job` for `date` running since before `instant`.
async fn running_since_before(
    tx: &mut DbTx,
    job: &str,
    date: NaiveDate,
    instant: DateTime<Utc>,
) -> Result<Vec<RunId>, LedgerError> {
    let rows: Vec<(RunId, Option<DateTime<Utc>>)> = on_tx!(tx, conn => {
        sqlx::query_as(
            "SELECT run_id, started_at FROM runs WHERE job = $1 AND business_date = $2 \
             AND status = 'running' ORDER BY attempt",
        )
        .bind(job)
        .bind(date)
        .fetch_all(&mut **conn)
        .await?
    });
    Ok(rows
        .into_iter()
        .filter(|(_, started)| started.is_some_and(|s| s < instant))
        .map(|(run, _)| run)
        .collect())
}

/// The job, date and run of another job that made `run_id` stale, while
/// its mark is active (an earlier date of its own job is `stale.rs`'s case).
async fn active_cause(
    tx: &mut DbTx,
    run_id: &str,
    job: &str,
) -> Result<Option<StaleDependent>, LedgerError> {
    Ok(on_tx!(tx, conn => {
        sqlx::query_as(
            "SELECT r.job, s.caused_by_date, s.caused_by_run FROM run_stale s \
             JOIN runs r ON r.run_id = s.caused_by_run \
             WHERE s.run_id = $1 AND s.cleared_by_run IS NULL AND r.job <> $2",
        )
        .bind(run_id)
        .bind(job)
        .fetch_optional(&mut **conn)
        .await?
    }))
}

/// The latest succeeded run of `job` for `date`.
async fn latest_succeeded(
    tx: &mut DbTx,
    job: &str,
    date: NaiveDate,
) -> Result<Option<RunId>, LedgerError> {
    let row: Option<(RunId,)> = on_tx!(tx, conn => {
        sqlx::query_as(
            "SELECT run_id FROM runs WHERE job = $1 AND business_date = $2 AND status = 'succeeded' \
             ORDER BY attempt DESC LIMIT 1",
        )
        .bind(job)
        .bind(date)
        .fetch_optional(&mut **conn)
        .await?
    });
    Ok(row.map(|(run,)| run))
}

/// (finished at, run id) of every shard of `job`'s runs for `date` committed
/// by the run itself.
async fn committed_shards(
    tx: &mut DbTx,
    job: &str,
    date: NaiveDate,
) -> Result<Vec<(DateTime<Utc>, RunId)>, LedgerError> {
    let rows: Vec<(Option<DateTime<Utc>>, RunId)> = on_tx!(tx, conn => {
        sqlx::query_as(
            "SELECT s.finished_at, r.run_id FROM shard_runs s JOIN runs r ON r.run_id = s.run_id \
             WHERE r.job = $1 AND r.business_date = $2 AND s.status = 'succeeded' \
             AND s.carried_from IS NULL",
        )
        .bind(job)
        .bind(date)
        .fetch_all(&mut **conn)
        .await?
    });
    Ok(rows
        .into_iter()
        .filter_map(|(finished, run)| finished.map(|f| (f, run)))
        .collect())
}
