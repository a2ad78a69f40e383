//! Progress of a long comparison, reported to whoever shows it (the CLI's
//! terminal bar); the engine itself prints nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A stage of a comparison, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading and parsing the ledger file (bytes of the file).
    ReadLedger,
    /// Reading and parsing the statement file (bytes of the file).
    ReadStatement,
    /// Joining and classifying, partition by partition (partitions).
    Join,
    /// Building and publishing the reports.
    Write,
}

impl Phase {
    /// A short label.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::ReadLedger => "read ledger",
            Phase::ReadStatement => "read statement",
            Phase::Join => "join",
            Phase::Write => "write reports",
        }
    }
}

/// What a phase counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Items,
}

/// Receives progress; every method has a no-op default.
pub trait Progress: Sync {
    /// A stage starts with `total` units of work (`None`: unknown).
    fn start(&self, _label: &str, _total: Option<u64>, _unit: Unit) {}
    /// `done` more units of the current stage are finished.
    fn advance(&self, _done: u64) {}
    /// The current stage ended after `elapsed`.
    fn finish(&self, _label: &str, _elapsed: Duration) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Wall time of each phase of one comparison (the profile in docs/recon.md).
#[derive(Debug, Default)]
pub struct PhaseTimes {
    /// Waiting for file bytes (the reader thread's `read` calls).
    pub read_ns: AtomicU64,
    /// Splitting, validating and hashing rows, summed over threads.
    pub parse_ns: AtomicU64,
    /// Writing partitions to spill files.
    pub spill_ns: AtomicU64,
    /// Loading partitions back, summed over threads.
    pub load_ns: AtomicU64,
    /// Hash-table build and probe (the join), summed over threads.
    pub join_ns: AtomicU64,
    /// Categories, sums and diff records, summed over threads.
    pub classify_ns: AtomicU64,
    /// Refunds paired by order, one-sided refunds, the sort of the diff.
    pub finish_ns: AtomicU64,
}

impl PhaseTimes {
    pub(crate) fn add(counter: &AtomicU64, elapsed: Duration) {
        counter.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// `name=seconds` for each phase, for logs and the benchmark.
    pub fn summary(&self) -> String {
        let s = |counter: &AtomicU64| counter.load(Ordering::Relaxed) as f64 / 1e9;
        format!(
            "read={:.2}s parse={:.2}s spill={:.2}s load={:.2}s join={:.2}s classify={:.2}s finish={:.2}s (thread-seconds for parse/load/join/classify)",
            s(&self.read_ns),
            s(&self.parse_ns),
            s(&self.spill_ns),
            s(&self.load_ns),
            s(&self.join_ns),
            s(&self.classify_ns),
            s(&self.finish_ns),
        )
    }
}
