//! Shard runs: creating them, claiming them (which yields a fencing epoch),
//! carrying committed shards into a rerun, and failing them.

use chrono::NaiveDate;

use super::records::ShardRow;
use super::{Epoch, JobName, Ledger, LedgerError, RunId, ShardEpoch, ShardRecord, hold_leader};
use crate::db::DbTx;
use crate::{on_db, on_tx};

/// Inserts pending shard rows inside a transaction; rows present are kept.
pub(super) async fn insert_pending_in(
    tx: &mut DbTx,
    run_id: &str,
    items: &[u32],
) -> Result<(), LedgerError> {
    for item in items {
        on_tx!(tx, conn => {
            sqlx::query(
                "INSERT INTO shard_runs (run_id, item, status) VALUES ($1, $2, 'pending') \
                 ON CONFLICT (run_id, item) DO NOTHING",
            )
            .bind(run_id)
            .bind(i64::from(*item))
            .execute(&mut **conn)
            .await?
            .rows_affected()
        });
    }
    Ok(())
}

/// Copies `items` that succeeded in `parent_run` into `run_id` (see [`Ledger::carry_shards`]).
pub(super) async fn carry_in(
    tx: &mut DbTx,
    run_id: &str,
    parent_run: &str,
    items: &[u32],
) -> Result<(), LedgerError> {
    for item in items {
        on_tx!(tx, conn => {
            sqlx::query(
                "INSERT INTO shard_runs (run_id, item, instance, epoch, status, attempts, rows_in, rows_out, \
                 carried_from, outcome, started_at, finished_at) \
                 SELECT $1, item, instance, epoch, 'succeeded', 0, rows_in, rows_out, \
                 COALESCE(carried_from, run_id), outcome, started_at, finished_at \
                 FROM shard_runs WHERE run_id = $2 AND item = $3 AND status = 'succeeded'",
            )
            .bind(run_id)
            .bind(parent_run)
            .bind(i64::from(*item))
            .execute(&mut **conn)
            .await?
            .rows_affected()
        });
    }
    Ok(())
}

/// Fails every pending or running shard of a run inside a transaction.
pub(super) async fn fail_unfinished_in(
    tx: &mut DbTx,
    run_id: &str,
    reason: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), LedgerError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE shard_runs SET status = 'failed', error = $2, finished_at = $3 \
             WHERE run_id = $1 AND status IN ('pending', 'running')",
        )
        .bind(run_id)
        .bind(reason)
        .bind(now)
        .execute(&mut **conn)
        .await?
        .rows_affected()
    });
    Ok(())
}

impl Ledger {
    /// Adds `items` to a run as pending shards.
    pub async fn add_shards(&self, run_id: &RunId, items: &[u32]) -> Result<(), LedgerError> {
        let mut tx = self.db.begin().await?;
        insert_pending_in(&mut tx, run_id, items).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds the shard rows of `items` a running run lacks (a run started by
    /// an older version, or by hand), as pending; rows present are kept.
    /// Checked against the leader epoch `lead`.
    pub async fn add_missing_shards(
        &self,
        run_id: &RunId,
        items: &[u32],
        lead: Option<Epoch>,
    ) -> Result<(), LedgerError> {
        let mut tx = self.db.begin_write().await?;
        hold_leader(&mut tx, lead).await?;
        insert_pending_in(&mut tx, run_id, items).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Copies shards that succeeded in `parent_run` into `run_id` as succeeded,
    /// pointing at the run whose outputs they reuse. Their outputs, keyed by
    /// `(job, business_date, shard)`, are already in place.
    pub async fn carry_shards(
        &self,
        run_id: &RunId,
        parent_run: &RunId,
        items: &[u32],
    ) -> Result<(), LedgerError> {
        let mut tx = self.db.begin().await?;
        carry_in(&mut tx, run_id, parent_run, items).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that the node holding a shard is alive (queued for a slot,
    /// waiting out a retry backoff or running): the leader's stall detector
    /// tells waiting from stalling by it.
    pub async fn heartbeat_shard(&self, run_id: &RunId, item: u32) -> Result<(), LedgerError> {
        let now = self.clock.now();
        on_db!(&self.db, pool => {
            sqlx::query(
                "UPDATE shard_runs SET heartbeat_at = $3 WHERE run_id = $1 AND item = $2 \
                 AND status IN ('pending', 'running')",
            )
            .bind(run_id)
            .bind(i64::from(item))
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Claims a shard for `owner`: bumps the fencing epoch of
    /// `(job, date, item)` and marks the shard running under that epoch.
    /// Any earlier holder of the shard can no longer commit. A shard that
    /// already succeeded is refused with [`LedgerError::AlreadyCommitted`].
    pub async fn claim_shard(
        &self,
        run_id: &RunId,
        job: &JobName,
        date: NaiveDate,
        item: u32,
        owner: &str,
    ) -> Result<ShardEpoch, LedgerError> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let epoch: (ShardEpoch, u64) = on_tx!(&mut tx, conn => {
            let (epoch,): (ShardEpoch,) = sqlx::query_as(
                "INSERT INTO shard_fences (job, business_date, item, epoch, owner, run_id, claimed_at) \
                 VALUES ($1, $2, $3, 1, $4, $5, $6) \
                 ON CONFLICT (job, business_date, item) DO UPDATE SET epoch = shard_fences.epoch + 1, \
                 owner = excluded.owner, run_id = excluded.run_id, claimed_at = excluded.claimed_at \
                 RETURNING epoch",
            )
            .bind(job)
            .bind(date)
            .bind(i64::from(item))
            .bind(owner)
            .bind(run_id)
            .bind(now)
            .fetch_one(&mut **conn)
            .await?;
            let marked = sqlx::query(
                "UPDATE shard_runs SET status = 'running', instance = $3, epoch = $4, attempts = attempts + 1, \
                 started_at = $5, finished_at = NULL, error = NULL \
                 WHERE run_id = $1 AND item = $2 AND status IN ('pending', 'running') \
                 AND EXISTS (SELECT 1 FROM runs WHERE runs.run_id = $1 AND runs.status = 'running')",
            )
            .bind(run_id)
            .bind(i64::from(item))
            .bind(owner)
            .bind(epoch)
            .bind(now)
            .execute(&mut **conn)
            .await?
            .rows_affected();
            (epoch, marked)
        });
        let (epoch, marked) = epoch;
        if marked == 0 {
            // Committed by an earlier owner (a failover that came too late):
            // never run a committed shard again; a shard of a run that ended
            // (failed, cancelled) is not run for it either. The fence bump is undone.
            tx.rollback().await?;
            let shard = self
                .shards(run_id)
                .await?
                .into_iter()
                .find(|s| s.item == item);
            if shard.is_some_and(|s| s.status == super::RunStatus::Succeeded) {
                return Err(LedgerError::AlreadyCommitted {
                    run_id: run_id.clone(),
                    item,
                });
            }
            let run = self.run(run_id).await?;
            return Err(LedgerError::RunOver {
                run_id: run_id.clone(),
                item,
                status: run.status.to_string(),
            });
        }
        tx.commit().await?;
        self.append_event(
            run_id,
            Some(item),
            "claimed",
            &format!("by {owner} with epoch {epoch}"),
        )
        .await?;
        Ok(epoch)
    }

    /// The current fencing epoch of a shard, if it was ever claimed.
    pub async fn current_epoch(
        &self,
        job: &JobName,
        date: NaiveDate,
        item: u32,
    ) -> Result<Option<ShardEpoch>, LedgerError> {
        let epoch: Option<(ShardEpoch,)> = on_db!(&self.db, pool => {
            sqlx::query_as("SELECT epoch FROM shard_fences WHERE job = $1 AND business_date = $2 AND item = $3")
                .bind(job)
                .bind(date)
                .bind(i64::from(item))
                .fetch_optional(pool)
                .await?
        });
        Ok(epoch.map(|(e,)| e))
    }

    /// Marks an unfinished shard failed or cancelled with a reason; a shard
    /// that already succeeded is left alone.
    pub async fn end_shard(
        &self,
        run_id: &RunId,
        item: u32,
        status: super::RunStatus,
        error: &str,
    ) -> Result<(), LedgerError> {
        self.end_shard_fenced(run_id, item, status, error, None)
            .await
            .map(|_| ())
    }

    /// Like [`Ledger::end_shard`], but with `Some(epoch)` only while the shard
    /// is still held under that epoch (a cluster node must not mark a shard
    /// that failed over to another node). Returns whether the shard was marked.
    pub async fn end_shard_fenced(
        &self,
        run_id: &RunId,
        item: u32,
        status: super::RunStatus,
        error: &str,
        epoch: Option<ShardEpoch>,
    ) -> Result<bool, LedgerError> {
        let now = self.clock.now();
        let marked = on_db!(&self.db, pool => {
            sqlx::query(
                "UPDATE shard_runs SET status = $3, error = $4, finished_at = $5 \
                 WHERE run_id = $1 AND item = $2 AND status IN ('pending', 'running') \
                 AND ($6 IS NULL OR epoch = $6)",
            )
            .bind(run_id)
            .bind(i64::from(item))
            .bind(status.as_str())
            .bind(error)
            .bind(now)
            .bind(epoch)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if marked == 0 && epoch.is_some() {
            return Ok(false);
        }
        self.append_event(run_id, Some(item), status.as_str(), error)
            .await?;
        Ok(marked > 0)
    }

    /// Fails every pending or running shard of a run.
    pub async fn fail_unfinished_shards(
        &self,
        run_id: &RunId,
        reason: &str,
    ) -> Result<(), LedgerError> {
        self.fail_unfinished_shards_as(run_id, reason, None).await
    }

    /// [`Ledger::fail_unfinished_shards`] as a leader write (checked against `lead`).
    pub async fn fail_unfinished_shards_as(
        &self,
        run_id: &RunId,
        reason: &str,
        lead: Option<Epoch>,
    ) -> Result<(), LedgerError> {
        let now = self.clock.now();
        let mut tx = self.db.begin_write().await?;
        hold_leader(&mut tx, lead).await?;
        fail_unfinished_in(&mut tx, run_id, reason, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The shards of a run, by item.
    pub async fn shards(&self, run_id: &RunId) -> Result<Vec<ShardRecord>, LedgerError> {
        let rows: Vec<ShardRow> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT run_id, item, instance, epoch, status, attempts, rows_in, rows_out, error, \
                 carried_from, outcome, started_at, finished_at, heartbeat_at FROM shard_runs WHERE run_id = $1 ORDER BY item",
            )
            .bind(run_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(ShardRecord::try_from).collect()
    }
}
