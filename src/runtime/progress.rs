//! Live counters of a run, read by the CLI's progress line.

use std::sync::atomic::{AtomicU64, Ordering};

/// Shards done / total and rows read, updated as shards finish.
#[derive(Debug, Default)]
pub struct Progress {
    shards_total: AtomicU64,
    shards_done: AtomicU64,
    shards_failed: AtomicU64,
    rows_in: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProgressSnapshot {
    pub shards_total: u64,
    pub shards_done: u64,
    pub shards_failed: u64,
    pub rows_in: u64,
}

impl Progress {
    pub(crate) fn set_total(&self, total: u64) {
        self.shards_total.store(total, Ordering::Relaxed);
    }

    pub(crate) fn shard_done(&self, rows_in: u64) {
        self.shards_done.fetch_add(1, Ordering::Relaxed);
        self.rows_in.fetch_add(rows_in, Ordering::Relaxed);
    }

    pub(crate) fn shard_failed(&self) {
        self.shards_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Rows read so far by running shards (a job may report as it goes).
    pub fn add_rows(&self, rows: u64) {
        self.rows_in.fetch_add(rows, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            shards_total: self.shards_total.load(Ordering::Relaxed),
            shards_done: self.shards_done.load(Ordering::Relaxed),
            shards_failed: self.shards_failed.load(Ordering::Relaxed),
            rows_in: self.rows_in.load(Ordering::Relaxed),
        }
    }
}
