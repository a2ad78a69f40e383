//! Where the repayment job's time goes: wall time per phase, summed over the
//! shards of every run in this process (shards run concurrently, so the sum
//! of the shard phases can exceed the run's wall time). Process-wide
//! counters read by `reckon bench repayment --job`; written nowhere else, so
//! no timing reaches a table or a report.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A phase of the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Loans and receipts of the shard.
    ReadBook,
    /// Checkpoints of an earlier date (and their input check).
    ReadCheckpoints,
    /// Stored original schedules of loans without a usable checkpoint.
    ReadSchedules,
    /// Generating schedules and replaying loans.
    Compute,
    /// Deleting the rows a shard replaces.
    Delete,
    /// Writing the shard's rows (COPY on PostgreSQL, multi-row INSERTs on SQLite).
    Write,
    /// Commit of the shard's transaction (with its fence and done mark).
    Commit,
    /// `finalize`: reading the day's rows back and publishing the reports.
    Reports,
    /// The carry digest of the date (stale marking of later dates).
    CarryDigest,
}

const PHASES: [Phase; 9] = [
    Phase::ReadBook,
    Phase::ReadCheckpoints,
    Phase::ReadSchedules,
    Phase::Compute,
    Phase::Delete,
    Phase::Write,
    Phase::Commit,
    Phase::Reports,
    Phase::CarryDigest,
];

static NANOS: [AtomicU64; 9] = [const { AtomicU64::new(0) }; 9];

impl Phase {
    /// The name printed by the benchmark.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::ReadBook => "read loans and receipts",
            Phase::ReadCheckpoints => "read checkpoints",
            Phase::ReadSchedules => "read stored schedules",
            Phase::Compute => "compute (schedules, replay)",
            Phase::Delete => "delete replaced rows",
            Phase::Write => "write rows",
            Phase::Commit => "commit",
            Phase::Reports => "reports (finalize)",
            Phase::CarryDigest => "carry digest",
        }
    }

    fn index(self) -> usize {
        PHASES.iter().position(|p| *p == self).unwrap_or(0)
    }

    /// Adds the time since `started` to the phase.
    pub fn add(self, started: Instant) {
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        NANOS[self.index()].fetch_add(nanos, Ordering::Relaxed);
    }
}

/// The time of every phase since the last call, and resets the counters.
pub fn take() -> Vec<(Phase, Duration)> {
    PHASES
        .iter()
        .map(|phase| {
            let nanos = NANOS[phase.index()].swap(0, Ordering::Relaxed);
            (*phase, Duration::from_nanos(nanos))
        })
        .collect()
}

static ROWS: AtomicU64 = AtomicU64::new(0);

/// Counts rows written by a shard.
pub fn add_rows(rows: u64) {
    ROWS.fetch_add(rows, Ordering::Relaxed);
}

/// Rows written since the last call, and resets the count.
pub fn take_rows() -> u64 {
    ROWS.swap(0, Ordering::Relaxed)
}
