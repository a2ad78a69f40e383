//! One side of a comparison in columns (one entry per accepted row), plus its
//! rejects and the totals its reader counted while reading.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use polars::prelude::{NewChunkedArray, StringChunked};

use super::EngineError;
use super::minor_units::{decimal_to_cents, decimal_to_fee_units};
use crate::jobs::recon::formats::{LedgerStatus, Record, RecordKind, Reject};

/// Which side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SideName {
    /// Ours: the payment ledger.
    Ledger,
    /// Theirs: the channel statement.
    Statement,
}

impl SideName {
    /// `ledger` or `statement`, as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SideName::Ledger => "ledger",
            SideName::Statement => "statement",
        }
    }
}

impl fmt::Display for SideName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a reader counted, independently of the engine's categories.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SideTotals {
    /// Accepted rows.
    pub records: u64,
    /// Sum of the accepted rows' amounts, in cents.
    pub amount_cents: i128,
    /// Rejected rows.
    pub rejects: u64,
}

/// Sentinel for "no fee column / no fee" in the fee column.
pub(crate) const NO_FEE: i64 = i64::MIN;

/// Rows per key chunk while building a side record by record.
const KEY_CHUNK_ROWS: usize = 65_536;

/// One side's accepted rows in columns; built by a [`SideBuilder`].
#[derive(Debug, Clone)]
pub struct Side {
    pub(crate) name: SideName,
    pub(crate) files: Vec<Arc<Path>>,
    pub(crate) keys: StringChunked,
    pub(crate) refund: Vec<bool>,
    pub(crate) status: Vec<LedgerStatus>,
    pub(crate) amount: Vec<i64>,
    pub(crate) fee: Vec<i64>,
    /// Local wall-clock time as seconds since 1970-01-01 00:00:00 (no zone).
    pub(crate) time: Vec<i64>,
    pub(crate) file: Vec<u16>,
    pub(crate) line: Vec<u64>,
    pub(crate) rejects: Vec<Reject>,
    pub(crate) totals: SideTotals,
}

impl Side {
    /// Which side this is.
    pub fn name(&self) -> SideName {
        self.name
    }

    /// Accepted rows.
    pub fn len(&self) -> usize {
        self.amount.len()
    }

    /// True when no row was accepted.
    pub fn is_empty(&self) -> bool {
        self.amount.is_empty()
    }

    /// Rows that could not be read, in file and line order.
    pub fn rejects(&self) -> &[Reject] {
        &self.rejects
    }

    /// What the reader counted.
    pub fn totals(&self) -> SideTotals {
        self.totals
    }

    /// The files this side was read from.
    pub fn files(&self) -> &[Arc<Path>] {
        &self.files
    }

    pub(crate) fn key(&self, row: usize) -> &str {
        self.keys.get(row).unwrap_or("")
    }
}

/// Builds a [`Side`] from records (any statement format) or from column
/// chunks (the fast ledger-layout reader).
#[derive(Debug)]
pub struct SideBuilder {
    side: Side,
    pending_keys: Vec<String>,
}

impl SideBuilder {
    /// An empty side.
    pub fn new(name: SideName) -> SideBuilder {
        SideBuilder {
            side: Side {
                name,
                files: Vec::new(),
                keys: StringChunked::from_slice("key".into(), &[] as &[&str]),
                refund: Vec::new(),
                status: Vec::new(),
                amount: Vec::new(),
                fee: Vec::new(),
                time: Vec::new(),
                file: Vec::new(),
                line: Vec::new(),
                rejects: Vec::new(),
                totals: SideTotals::default(),
            },
            pending_keys: Vec::new(),
        }
    }

    /// The index of `path` among this side's files (added if new).
    pub(crate) fn file_index(&mut self, path: &Arc<Path>) -> u16 {
        if let Some(index) = self.side.files.iter().position(|file| file == path) {
            return index as u16;
        }
        self.side.files.push(path.clone());
        (self.side.files.len() - 1) as u16
    }

    /// Adds one record read by a statement reader.
    pub fn push_record(&mut self, record: &Record) -> Result<(), EngineError> {
        let out_of_range = |text: String| EngineError::AmountRange {
            file: record.file.to_path_buf(),
            line: record.line,
            amount: text,
        };
        let amount =
            decimal_to_cents(record.amount).ok_or_else(|| out_of_range(record.amount.to_string()))?;
        let fee = match record.fee {
            Some(fee) => decimal_to_fee_units(fee).ok_or_else(|| out_of_range(fee.to_string()))?,
            None => NO_FEE,
        };
        let file = self.file_index(&record.file);
        self.pending_keys.push(record.key.clone());
        if self.pending_keys.len() >= KEY_CHUNK_ROWS {
            self.flush_keys();
        }
        let side = &mut self.side;
        side.refund.push(record.kind == RecordKind::Refund);
        side.status.push(record.status);
        side.amount.push(amount);
        side.fee.push(fee);
        side.time.push(record.time.and_utc().timestamp());
        side.file.push(file);
        side.line.push(record.line);
        side.totals.records += 1;
        side.totals.amount_cents += i128::from(amount);
        Ok(())
    }

    /// Adds rejected rows (counted in the totals).
    pub fn push_rejects(&mut self, rejects: impl IntoIterator<Item = Reject>) {
        for reject in rejects {
            self.side.totals.rejects += 1;
            self.side.rejects.push(reject);
        }
    }

    /// Appends a chunk of keys whose other columns were pushed with
    /// [`SideBuilder::push_columns`].
    pub(crate) fn append_keys(&mut self, keys: &StringChunked) -> Result<(), EngineError> {
        self.flush_keys();
        self.side.keys.append(keys)?;
        Ok(())
    }

    /// Pushes the non-key columns of one accepted row (fast reader).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_columns(
        &mut self,
        refund: bool,
        status: LedgerStatus,
        amount: i64,
        fee: i64,
        time: i64,
        file: u16,
        line: u64,
    ) {
        let side = &mut self.side;
        side.refund.push(refund);
        side.status.push(status);
        side.amount.push(amount);
        side.fee.push(fee);
        side.time.push(time);
        side.file.push(file);
        side.line.push(line);
        side.totals.records += 1;
        side.totals.amount_cents += i128::from(amount);
    }

    fn flush_keys(&mut self) {
        if self.pending_keys.is_empty() {
            return;
        }
        let chunk = StringChunked::from_iter_values("key".into(), self.pending_keys.drain(..));
        // Appending a chunk of the same dtype cannot fail.
        let _ = self.side.keys.append(&chunk);
    }

    /// The finished side; rejects sorted by file then line.
    pub fn finish(mut self) -> Side {
        self.flush_keys();
        let files = self.side.files.clone();
        self.side
            .rejects
            .sort_by(|a, b| (files_rank(&files, &a.file), a.line).cmp(&(files_rank(&files, &b.file), b.line)));
        self.side.keys.rechunk_mut();
        self.side
    }
}

fn files_rank(files: &[Arc<Path>], file: &Arc<Path>) -> usize {
    files.iter().position(|f| f == file).unwrap_or(usize::MAX)
}
