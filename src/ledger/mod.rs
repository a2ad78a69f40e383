//! The run ledger: runs, shard runs, fencing epochs, the append-only event
//! log and the scheduler's memory, on SQLite or PostgreSQL.
//!
//! Identity (DESIGN.md invariant 1): a run is `(job, business_date, attempt)`;
//! at most one run of a job and business date is pending or running at once,
//! enforced by a partial unique index, not by a check-then-insert.

mod events;
mod fence;
mod leader;
mod records;
mod replaced;
mod runs;
mod scheduler_state;
mod shards;
mod stale;
mod views;

pub use events::STATEMENT_WAIT_EVENT;
pub use fence::{FencedTx, hold_fence};
pub use leader::{Epoch, LeaderRecord, hold_leader};
pub use records::{
    Event, JobName, NewRun, RunFilter, RunId, RunRecord, RunStatus, ShardEpoch, ShardRecord,
    Trigger,
};
pub use replaced::{ReplacedEffect, StaleDependent};
pub use stale::{CarryEffect, StaleMark, StaleRun};
pub use views::{CellRun, LedgerStats, TimedRow};

use std::sync::Arc;

use chrono::NaiveDate;

use crate::db::Db;
use crate::schedule::Clock;

/// Errors of the run ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(
        "a run of `{job}` for {business_date} is already {status} (run {run_id}); wait for it to finish, or rerun it afterwards"
    )]
    RunActive {
        job: JobName,
        business_date: NaiveDate,
        run_id: RunId,
        status: RunStatus,
    },
    #[error("no run with id `{0}`")]
    UnknownRun(RunId),
    #[error(
        "shard {item} of `{job}` for {business_date} was taken over (epoch {held} is no longer current); its outputs were not committed"
    )]
    Fenced {
        job: JobName,
        business_date: NaiveDate,
        item: u32,
        held: ShardEpoch,
    },
    #[error(
        "leader epoch {held} is no longer current: a newer leader was elected; this write was not committed"
    )]
    LeaderFenced { held: Epoch },
    #[error("run {run_id} is {status}: shard {item} is not run for it any more")]
    RunOver {
        run_id: RunId,
        item: u32,
        status: String,
    },
    #[error("shard {item} of run {run_id} has already committed its outputs; it is not run again")]
    AlreadyCommitted { run_id: RunId, item: u32 },
    #[error("run {run_id} is {actual}, expected {expected}")]
    WrongState {
        run_id: RunId,
        expected: String,
        actual: String,
    },
    #[error("the ledger holds a value reckon does not understand: {0}")]
    Corrupt(String),
    /// A value to be stored (a run outcome) that does not serialize.
    #[error("cannot store the value: {0}")]
    Encode(String),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// Access to the run ledger.
#[derive(Debug, Clone)]
pub struct Ledger {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl Ledger {
    /// A ledger over a migrated database.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Ledger {
        Ledger { db, clock }
    }

    /// The database behind the ledger.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The clock the ledger stamps times with.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}
