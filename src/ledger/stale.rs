//! Stale later dates: when a run changes what its business date carries into
//! the next one (settlement closings, repayment loan state, recon-funds
//! carried records), the later succeeded dates of the job were built on the
//! old state. This module stores each succeeded run's carry digest
//! (`run_carry`) and marks those later runs stale (`run_stale`) in the same
//! transaction that marks the run succeeded, so a crash can never leave a
//! success without its marks. A newer succeeded run of a stale date clears
//! the mark (kept, with who cleared it, as history).

use chrono::{DateTime, NaiveDate, Utc};

use super::{Epoch, JobName, Ledger, LedgerError, RunId, RunStatus, hold_leader};
use crate::db::DbTx;
use crate::{on_db, on_tx};

/// A succeeded run whose date was built on carried state that changed since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleMark {
    pub run_id: RunId,
    pub job: JobName,
    pub business_date: NaiveDate,
    /// The run (of an earlier date) that changed the carried state.
    pub caused_by_run: RunId,
    pub caused_by_date: NaiveDate,
    pub marked_at: DateTime<Utc>,
    /// The newer succeeded run of the same date that made it fresh again.
    pub cleared_by_run: Option<RunId>,
    pub cleared_at: Option<DateTime<Utc>>,
}

impl StaleMark {
    /// True while no newer run of the date has succeeded.
    pub fn is_active(&self) -> bool {
        self.cleared_by_run.is_none()
    }
}

/// A later date's run marked stale: (business date, run id).
pub type StaleRun = (NaiveDate, RunId);

/// What finishing a run with its carry digest did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CarryEffect {
    /// The digest differs from the one of the succeeded run of the same date
    /// it replaces (or no run of the date had succeeded before).
    pub changed: bool,
    /// The latest succeeded run of every later date, stale now, in date
    /// order (empty when nothing changed).
    pub stale_later: Vec<StaleRun>,
    /// Set when this run itself is stale: a run of an earlier date changed
    /// its carried state while this one was running (the earlier date and run).
    pub stale_self: Option<StaleRun>,
}

type MarkRow = (
    RunId,
    JobName,
    NaiveDate,
    RunId,
    NaiveDate,
    DateTime<Utc>,
    Option<RunId>,
    Option<DateTime<Utc>>,
);

const MARK_COLUMNS: &str = "run_id, job, business_date, caused_by_run, caused_by_date, marked_at, \
     cleared_by_run, cleared_at";

fn mark(row: MarkRow) -> StaleMark {
    StaleMark {
        run_id: row.0,
        job: row.1,
        business_date: row.2,
        caused_by_run: row.3,
        caused_by_date: row.4,
        marked_at: row.5,
        cleared_by_run: row.6,
        cleared_at: row.7,
    }
}

/// The run being finished, as the marking needs it.
pub(super) struct Finishing {
    pub(super) job: JobName,
    pub(super) business_date: NaiveDate,
    pub(super) started_at: Option<DateTime<Utc>>,
}

impl Ledger {
    /// Marks a pending or running run succeeded together with its carry
    /// `digest`, in one write transaction that also
    /// - compares the digest with the one of the succeeded run of the same
    ///   date it replaces, and when they differ marks the latest succeeded
    ///   run of every later date of the job stale;
    /// - marks this run stale when a run of an earlier date changed its
    ///   carried state after this run started (it may have read the old state);
    /// - clears the stale marks of older runs of this date.
    ///
    /// `outcome` builds the run's stored outcome from what was decided (so
    /// its attention can name the stale dates). A run that is already final
    /// (healed as abandoned meanwhile) is left alone: `Ok(None)`, nothing written.
    pub async fn finish_succeeded_carrying(
        &self,
        run_id: &super::RunId,
        digest: &str,
        lead: Option<Epoch>,
        outcome: impl FnOnce(&CarryEffect) -> Result<serde_json::Value, serde_json::Error>,
    ) -> Result<Option<CarryEffect>, LedgerError> {
        let mut tx = self.db.begin_write().await?;
        // A leader write like every other run conclusion (ledger/leader.rs).
        hold_leader(&mut tx, lead).await?;
        let effect = self
            .finish_succeeded_carrying_in(&mut tx, run_id, digest, outcome)
            .await?;
        match effect {
            Some(_) => tx.commit().await?,
            None => tx.rollback().await?,
        }
        Ok(effect)
    }

    /// [`Ledger::finish_succeeded_carrying`] inside the caller's write
    /// transaction (a run's conclusion, [`Ledger::begin_conclusion`], which
    /// already holds the leader epoch): the run's success, its digest, the
    /// stale marks and their events commit with whatever else the caller
    /// wrote (the kind's finalize writes), or not at all. `Ok(None)` when
    /// the run is already final; nothing was written then.
    pub async fn finish_succeeded_carrying_in(
        &self,
        tx: &mut DbTx,
        run_id: &super::RunId,
        digest: &str,
        outcome: impl FnOnce(&CarryEffect) -> Result<serde_json::Value, serde_json::Error>,
    ) -> Result<Option<CarryEffect>, LedgerError> {
        let run_id = run_id.as_str();
        let now = self.clock.now();
        let Some(run) = finishing(tx, run_id).await? else {
            return Ok(None);
        };
        lock_job(tx, &run.job).await?;
        let previous = previous_digest(tx, &run, run_id).await?;
        let changed = previous.as_deref() != Some(digest);
        let mut effect = CarryEffect {
            changed,
            ..CarryEffect::default()
        };
        if changed {
            effect.stale_later = later_succeeded(tx, &run, false).await?;
            for (date, stale_run) in &effect.stale_later {
                insert_mark(
                    tx,
                    stale_run,
                    &run.job,
                    *date,
                    run_id,
                    run.business_date,
                    now,
                )
                .await?;
            }
        }
        effect.stale_self = changed_while_running(tx, &run).await?;
        if let Some((cause_date, cause_run)) = &effect.stale_self {
            insert_mark(
                tx,
                run_id,
                &run.job,
                run.business_date,
                cause_run,
                *cause_date,
                now,
            )
            .await?;
        }
        clear_older(tx, &run, run_id, now).await?;
        let value = outcome(&effect).map_err(|e| LedgerError::Encode(e.to_string()))?;
        on_tx!(&mut *tx, conn => {
            sqlx::query(
                "INSERT INTO run_carry (run_id, job, business_date, digest, changed) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(run_id)
            .bind(&run.job)
            .bind(run.business_date)
            .bind(digest)
            .bind(changed)
            .execute(&mut **conn)
            .await?;
        });
        // The same finish as every run's (ledger/runs.rs), with the digest beside it.
        super::runs::finish_in(tx, run_id, RunStatus::Succeeded, None, Some(&value), now).await?;
        carry_events_in(tx, run_id, &run, &effect, now).await?;
        Ok(Some(effect))
    }

    /// The stale mark of a run (active or cleared), if it ever had one.
    pub async fn stale_mark(
        &self,
        run_id: &super::RunId,
    ) -> Result<Option<StaleMark>, LedgerError> {
        let row: Option<MarkRow> = on_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {MARK_COLUMNS} FROM run_stale WHERE run_id = $1"
            )))
            .bind(run_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(mark))
    }

    /// Active stale marks (of `job`, or of every job), by job and date.
    pub async fn active_stale_marks(
        &self,
        job: Option<&super::JobName>,
    ) -> Result<Vec<StaleMark>, LedgerError> {
        let rows: Vec<MarkRow> = on_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {MARK_COLUMNS} FROM run_stale WHERE cleared_by_run IS NULL \
                 AND ($1 IS NULL OR job = $1) ORDER BY job, business_date"
            )))
            .bind(job)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(mark).collect())
    }

    /// The carry digest stored with a succeeded run, and whether it changed
    /// from the run it replaced.
    pub async fn carry_digest(
        &self,
        run_id: &super::RunId,
    ) -> Result<Option<(String, bool)>, LedgerError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_as("SELECT digest, changed FROM run_carry WHERE run_id = $1")
                .bind(run_id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Business dates of `job` after `date` with a succeeded run, in date
    /// order: what `reckon rerun --cascade` reruns after `date`.
    pub async fn succeeded_dates_after(
        &self,
        job: &super::JobName,
        date: NaiveDate,
    ) -> Result<Vec<NaiveDate>, LedgerError> {
        let rows: Vec<(NaiveDate,)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT DISTINCT business_date FROM runs WHERE job = $1 AND business_date > $2 \
                 AND status = 'succeeded' ORDER BY business_date",
            )
            .bind(job)
            .bind(date)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }
}

/// The event log entries of a finish with carried state, in its transaction
/// (the marks themselves are in `run_stale`).
async fn carry_events_in(
    tx: &mut DbTx,
    run_id: &str,
    run: &Finishing,
    effect: &CarryEffect,
    now: DateTime<Utc>,
) -> Result<(), LedgerError> {
    for (_, stale_run) in &effect.stale_later {
        let message = format!(
            "stale: run {run_id} changed what {} carries into later dates",
            run.business_date
        );
        super::events::append_event_in(tx, stale_run, None, "stale", &message, now).await?;
    }
    if let Some((date, cause)) = &effect.stale_self {
        let message =
            format!("stale: run {cause} changed what {date} carries while this run was running");
        super::events::append_event_in(tx, run_id, None, "stale", &message, now).await?;
    }
    Ok(())
}

pub(super) async fn finishing(
    tx: &mut DbTx,
    run_id: &str,
) -> Result<Option<Finishing>, LedgerError> {
    let row: Option<(JobName, NaiveDate, Option<DateTime<Utc>>)> = on_tx!(tx, conn => {
        sqlx::query_as(
            "SELECT job, business_date, started_at FROM runs \
             WHERE run_id = $1 AND status IN ('pending', 'running')",
        )
        .bind(run_id)
        .fetch_optional(&mut **conn)
        .await?
    });
    Ok(row.map(|(job, business_date, started_at)| Finishing {
        job,
        business_date,
        started_at,
    }))
}

/// Serialises the carry decisions of one job. SQLite's `BEGIN IMMEDIATE`
/// already holds the only write lock; on PostgreSQL (read committed) two
/// finishing runs of different dates would otherwise each miss the other's
/// success (write skew): the later date's success not seen by the earlier
/// date's marking, the earlier date's change not seen by the later one.
pub(super) async fn lock_job(tx: &mut DbTx, job: &str) -> Result<(), LedgerError> {
    if let DbTx::Postgres(conn) = tx {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("reckon.carry:{job}"))
            .execute(&mut **conn)
            .await?;
    }
    Ok(())
}

/// The digest of the latest other succeeded run of the date: `None` when no
/// run of the date succeeded before, or the one that did stored no digest.
async fn previous_digest(
    tx: &mut DbTx,
    run: &Finishing,
    run_id: &str,
) -> Result<Option<String>, LedgerError> {
    let row: Option<(Option<String>,)> = on_tx!(tx, conn => {
        sqlx::query_as(
            "SELECT c.digest FROM runs r LEFT JOIN run_carry c ON c.run_id = r.run_id \
             WHERE r.job = $1 AND r.business_date = $2 AND r.status = 'succeeded' AND r.run_id <> $3 \
             ORDER BY r.attempt DESC LIMIT 1",
        )
        .bind(&run.job)
        .bind(run.business_date)
        .bind(run_id)
        .fetch_optional(&mut **conn)
        .await?
    });
    Ok(row.and_then(|(digest,)| digest))
}

/// The latest succeeded run of every later date of the job, in date order;
/// with `carrying_only`, only those runs that stored a carry digest.
pub(super) async fn later_succeeded(
    tx: &mut DbTx,
    run: &Finishing,
    carrying_only: bool,
) -> Result<Vec<StaleRun>, LedgerError> {
    let join = if carrying_only {
        "JOIN run_carry c ON c.run_id = r.run_id "
    } else {
        ""
    };
    Ok(on_tx!(tx, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT r.business_date, r.run_id FROM runs r {join}\
             WHERE r.job = $1 AND r.business_date > $2 AND r.status = 'succeeded' \
             AND r.attempt = (SELECT MAX(o.attempt) FROM runs o WHERE o.job = r.job \
                 AND o.business_date = r.business_date AND o.status = 'succeeded') \
             ORDER BY r.business_date"
        )))
        .bind(&run.job)
        .bind(run.business_date)
        .fetch_all(&mut **conn)
        .await?
    }))
}

/// The latest-dated run of an earlier date that changed its carried state
/// after `run` started (so `run` may have read the state before the change).
async fn changed_while_running(
    tx: &mut DbTx,
    run: &Finishing,
) -> Result<Option<StaleRun>, LedgerError> {
    let Some(started_at) = run.started_at else {
        return Ok(None);
    };
    let rows: Vec<(NaiveDate, RunId, Option<DateTime<Utc>>)> = on_tx!(tx, conn => {
        sqlx::query_as(
            "SELECT r.business_date, r.run_id, r.finished_at FROM run_carry c \
             JOIN runs r ON r.run_id = c.run_id \
             WHERE c.job = $1 AND c.business_date < $2 AND c.changed = $3 \
             ORDER BY r.business_date DESC, r.attempt DESC",
        )
        .bind(&run.job)
        .bind(run.business_date)
        .bind(true)
        .fetch_all(&mut **conn)
        .await?
    });
    // Instants are compared here, decoded, not as SQLite text.
    Ok(rows
        .into_iter()
        .find(|(_, _, finished)| finished.is_some_and(|f| f >= started_at))
        .map(|(date, run_id, _)| (date, run_id)))
}

pub(super) async fn insert_mark(
    tx: &mut DbTx,
    run_id: &str,
    job: &str,
    business_date: NaiveDate,
    caused_by_run: &str,
    caused_by_date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<bool, LedgerError> {
    // A run already stale keeps its first cause.
    let inserted = on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO run_stale (run_id, job, business_date, caused_by_run, caused_by_date, marked_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (run_id) DO NOTHING",
        )
        .bind(run_id)
        .bind(job)
        .bind(business_date)
        .bind(caused_by_run)
        .bind(caused_by_date)
        .bind(now)
        .execute(&mut **conn)
        .await?
        .rows_affected()
    });
    Ok(inserted == 1)
}

/// A newer run of the date succeeded: older runs' marks are cleared.
async fn clear_older(
    tx: &mut DbTx,
    run: &Finishing,
    run_id: &str,
    now: DateTime<Utc>,
) -> Result<(), LedgerError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE run_stale SET cleared_by_run = $3, cleared_at = $4 \
             WHERE job = $1 AND business_date = $2 AND run_id <> $3 AND cleared_by_run IS NULL",
        )
        .bind(&run.job)
        .bind(run.business_date)
        .bind(run_id)
        .bind(now)
        .execute(&mut **conn)
        .await?;
    });
    Ok(())
}
