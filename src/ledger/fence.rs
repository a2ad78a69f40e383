//! The fenced transaction (DESIGN.md invariant 2): a shard's outputs and its
//! `succeeded` mark commit together, and only while the epoch it was claimed
//! with is still current.
//!
//! The first statement of the transaction writes the shard's fence row under
//! the condition `epoch = held`. That both checks the epoch and locks the row
//! (PostgreSQL row lock; SQLite's write lock) until commit, so a concurrent
//! claim waits for the commit and then supersedes it — never the reverse.

use chrono::NaiveDate;

use super::{JobName, Ledger, LedgerError, RunId, ShardEpoch};
use crate::db::DbTx;
use crate::on_tx;

/// An open transaction that holds a shard's fence.
pub struct FencedTx {
    tx: DbTx,
    run_id: RunId,
    job: JobName,
    business_date: NaiveDate,
    item: u32,
    epoch: ShardEpoch,
}

/// Takes (or re-takes) a shard's fence inside `tx`: the first statement of
/// every fenced write. Fails with [`LedgerError::Fenced`] when a newer claim
/// superseded `epoch`; on success the fence row stays locked until `tx` ends.
/// Kinds that commit in several batches (compensation) call it at the start
/// of each batch's transaction.
pub async fn hold_fence(
    tx: &mut DbTx,
    job: &JobName,
    date: NaiveDate,
    item: u32,
    epoch: ShardEpoch,
) -> Result<(), LedgerError> {
    let held = on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE shard_fences SET committed_epoch = $4 \
             WHERE job = $1 AND business_date = $2 AND item = $3 AND epoch = $4",
        )
        .bind(job)
        .bind(date)
        .bind(i64::from(item))
        .bind(epoch)
        .execute(&mut **conn)
        .await?
        .rows_affected()
    });
    if held == 1 {
        Ok(())
    } else {
        Err(LedgerError::Fenced {
            job: job.clone(),
            business_date: date,
            item,
            held: epoch,
        })
    }
}

impl Ledger {
    /// Opens a transaction fenced by `epoch`; fails with
    /// [`LedgerError::Fenced`] when another claim superseded it.
    pub async fn begin_fenced(
        &self,
        run_id: &RunId,
        job: &JobName,
        date: NaiveDate,
        item: u32,
        epoch: ShardEpoch,
    ) -> Result<FencedTx, LedgerError> {
        let mut tx = self.db.begin().await?;
        if let Err(err) = hold_fence(&mut tx, job, date, item, epoch).await {
            tx.rollback().await?;
            return Err(err);
        }
        Ok(FencedTx {
            tx,
            run_id: run_id.clone(),
            job: job.clone(),
            business_date: date,
            item,
            epoch,
        })
    }

    /// Marks the shard succeeded with its counts and outcome, and commits the
    /// transaction with everything the job wrote in it.
    pub async fn commit_shard(
        &self,
        mut fenced: FencedTx,
        rows_in: u64,
        rows_out: u64,
        outcome: &serde_json::Value,
    ) -> Result<(), LedgerError> {
        let now = self.clock.now();
        let outcome = outcome.to_string();
        let rows_in = i64::try_from(rows_in).unwrap_or(i64::MAX);
        let rows_out = i64::try_from(rows_out).unwrap_or(i64::MAX);
        let marked = on_tx!(&mut fenced.tx, conn => {
            sqlx::query(
                "UPDATE shard_runs SET status = 'succeeded', rows_in = $4, rows_out = $5, outcome = $6, \
                 finished_at = $7, error = NULL WHERE run_id = $1 AND item = $2 AND epoch = $3 AND status = 'running' \
                 AND EXISTS (SELECT 1 FROM runs WHERE runs.run_id = $1 AND runs.status = 'running')",
            )
            .bind(&fenced.run_id)
            .bind(i64::from(fenced.item))
            .bind(fenced.epoch)
            .bind(rows_in)
            .bind(rows_out)
            .bind(&outcome)
            .bind(now)
            .execute(&mut **conn)
            .await?
            .rows_affected()
        });
        if marked != 1 {
            fenced.tx.rollback().await?;
            return Err(LedgerError::Fenced {
                job: fenced.job.clone(),
                business_date: fenced.business_date,
                item: fenced.item,
                held: fenced.epoch,
            });
        }
        fenced.tx.commit().await?;
        self.append_event(
            &fenced.run_id,
            Some(fenced.item),
            "committed",
            &format!(
                "epoch {}: {rows_in} rows in, {rows_out} rows out",
                fenced.epoch
            ),
        )
        .await
    }
}

impl FencedTx {
    /// The transaction, for the job's own output writes.
    pub fn tx(&mut self) -> &mut DbTx {
        &mut self.tx
    }

    /// The epoch this transaction is fenced by.
    pub fn epoch(&self) -> ShardEpoch {
        self.epoch
    }
}
