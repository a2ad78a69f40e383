//! The leader epoch (issue 13): a row in the database bumped on every
//! election. Every leader write — run creation, start with its shard rows,
//! heal, stall failure, finish — takes it as the first statement of its own
//! transaction ([`hold_leader`]), just as shard writes take their shard fence:
//! once a newer leader was elected, an older one commits nothing.
//!
//! The check is an `UPDATE … WHERE epoch = held`, so it also locks the row
//! until commit (PostgreSQL row lock, SQLite write lock): an election waits
//! for a leader write in flight and then supersedes it, never the reverse.

use std::fmt;

use super::{Ledger, LedgerError};
use crate::db::DbTx;
use crate::{on_db, on_tx};

/// The one leadership scope of a database (every node of a cluster shares it).
const SCOPE: &str = "cluster";

/// A leader's term as recorded in the database; only grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub i64);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Who leads according to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderRecord {
    pub epoch: Epoch,
    pub holder: String,
    pub elected_at: chrono::DateTime<chrono::Utc>,
}

/// Takes the leader epoch inside `tx` when `lead` is given (a leader write);
/// `None` is a write that no leader makes (a CLI run on one node). Fails with
/// [`LedgerError::LeaderFenced`] when a newer leader was elected.
pub async fn hold_leader(tx: &mut DbTx, lead: Option<Epoch>) -> Result<(), LedgerError> {
    let Some(epoch) = lead else { return Ok(()) };
    let held = on_tx!(tx, conn => {
        sqlx::query("UPDATE leader_epochs SET epoch = epoch WHERE scope = $1 AND epoch = $2")
            .bind(SCOPE)
            .bind(epoch.0)
            .execute(&mut **conn)
            .await?
            .rows_affected()
    });
    if held == 1 {
        Ok(())
    } else {
        Err(LedgerError::LeaderFenced { held: epoch })
    }
}

impl Ledger {
    /// Records a new leadership of `holder`: the epoch grows by one (the
    /// first election gets 1). Every write under an older epoch fails from now on.
    pub async fn elect_leader(&self, holder: &str) -> Result<Epoch, LedgerError> {
        let now = self.clock.now();
        let (epoch,): (i64,) = on_db!(&self.db, pool => {
            sqlx::query_as(
                "INSERT INTO leader_epochs (scope, epoch, holder, elected_at) VALUES ($1, 1, $2, $3) \
                 ON CONFLICT (scope) DO UPDATE SET epoch = leader_epochs.epoch + 1, \
                 holder = excluded.holder, elected_at = excluded.elected_at RETURNING epoch",
            )
            .bind(SCOPE)
            .bind(holder)
            .bind(now)
            .fetch_one(pool)
            .await?
        });
        tracing::info!(%holder, epoch, "leader epoch recorded");
        Ok(Epoch(epoch))
    }

    /// The current leader epoch, if any node was ever elected.
    pub async fn leader(&self) -> Result<Option<LeaderRecord>, LedgerError> {
        let row: Option<(i64, String, chrono::DateTime<chrono::Utc>)> = on_db!(&self.db, pool => {
            sqlx::query_as("SELECT epoch, holder, elected_at FROM leader_epochs WHERE scope = $1")
                .bind(SCOPE)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(epoch, holder, elected_at)| LeaderRecord {
            epoch: Epoch(epoch),
            holder,
            elected_at,
        }))
    }

    /// Opens the write transaction of a run's conclusion (what a kind's
    /// finalize writes: break register, carried records, report
    /// publication). Its first statement holds the leader epoch `lead`
    /// ([`hold_leader`]), its second the run, which must still be pending or
    /// running: a superseded leader, or a run concluded or healed meanwhile,
    /// gets an error and nothing of the conclusion commits. Both rows stay
    /// locked until commit, so no election and no other conclusion of the
    /// run interleaves.
    pub async fn begin_conclusion(
        &self,
        run_id: &super::RunId,
        lead: Option<Epoch>,
    ) -> Result<DbTx, LedgerError> {
        let mut tx = self.db.begin_write().await?;
        hold_leader(&mut tx, lead).await?;
        let held = on_tx!(&mut tx, conn => {
            sqlx::query(
                "UPDATE runs SET status = status WHERE run_id = $1 AND status IN ('pending', 'running')",
            )
            .bind(run_id.as_str())
            .execute(&mut **conn)
            .await?
            .rows_affected()
        });
        if held == 1 {
            return Ok(tx);
        }
        let status: Option<(String,)> = on_tx!(&mut tx, conn => {
            sqlx::query_as("SELECT status FROM runs WHERE run_id = $1")
                .bind(run_id.as_str())
                .fetch_optional(&mut **conn)
                .await?
        });
        tx.rollback().await?;
        match status {
            Some((actual,)) => Err(LedgerError::WrongState {
                run_id: run_id.clone(),
                expected: "pending or running (concluding it)".into(),
                actual,
            }),
            None => Err(LedgerError::UnknownRun(run_id.clone())),
        }
    }

    /// Fails with [`LedgerError::LeaderFenced`] unless `lead` is still
    /// current (a read-only check before acts outside the database, such
    /// as publishing reports).
    pub async fn confirm_leader(&self, lead: Option<Epoch>) -> Result<(), LedgerError> {
        let Some(epoch) = lead else { return Ok(()) };
        match self.leader().await? {
            Some(current) if current.epoch == epoch => Ok(()),
            _ => Err(LedgerError::LeaderFenced { held: epoch }),
        }
    }
}
