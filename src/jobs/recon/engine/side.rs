//! One side of a comparison in columns (one entry per accepted row), plus its
//! rejects and the totals its reader counted while reading.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use polars::prelude::{NewChunkedArray, StringChunked};

use crate::sharding::stable_hash;

use super::minor_units::{decimal_to_cents, decimal_to_fee_units};
use crate::jobs::recon::formats::{LedgerStatus, Record, RecordKind, Reject, RejectReason};

/// Which side of the comparison.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
/// Largest amount the engine takes, in cents (13 integer digits, as the
/// fast reader): sums over billions of rows stay far from overflow.
const AMOUNT_MAX: i64 = 10_000_000_000_000 * 100 - 1;
/// Largest fee the engine takes, in 1/100000 units (13 integer digits).
const FEE_MAX: i64 = 10_000_000_000_000 * 100_000 - 1;

/// Rows per key chunk while building a side record by record.
const KEY_CHUNK_ROWS: usize = 65_536;

/// One side's accepted rows in columns; built by a [`SideBuilder`].
#[derive(Debug, Clone)]
pub struct Side {
    pub(crate) name: SideName,
    pub(crate) files: Vec<Arc<Path>>,
    pub(crate) keys: KeyColumn,
    /// [`key_hash`] of each key: the join runs on these, then checks the keys.
    pub(crate) hashes: Vec<u64>,
    pub(crate) refund: Vec<bool>,
    pub(crate) status: Vec<LedgerStatus>,
    pub(crate) amount: Vec<i64>,
    pub(crate) fee: Vec<i64>,
    /// The order number of each refund row, by row (ascending): refunds whose
    /// refund number finds no partner pair by order and amount.
    pub(crate) refund_orders: Vec<(u32, Box<str>)>,
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
        self.keys.get(row)
    }

    /// The order a refund row refunds (`None` for a payment row).
    pub(crate) fn refund_order(&self, row: usize) -> Option<&str> {
        let row = u32::try_from(row).ok()?;
        self.refund_orders
            .binary_search_by_key(&row, |(r, _)| *r)
            .ok()
            .map(|at| &*self.refund_orders[at].1)
    }
}

/// The hash the engine joins on: FNV-1a 64 of the key's bytes (the stable
/// hash of `crate::sharding`). Equal keys have equal hashes; unequal keys
/// that collide are told apart by comparing the keys after the join.
pub(crate) fn key_hash(key: &str) -> u64 {
    stable_hash(key.as_bytes())
}

/// The keys of a side as polars string chunks (one per block read), without
/// a final copy into one array.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyColumn {
    chunks: Vec<StringChunked>,
    /// First row of each chunk.
    starts: Vec<usize>,
    len: usize,
}

impl KeyColumn {
    fn push(&mut self, chunk: StringChunked) {
        if chunk.is_empty() {
            return;
        }
        let chunk = chunk.rechunk().into_owned();
        self.starts.push(self.len);
        self.len += chunk.len();
        self.chunks.push(chunk);
    }

    /// The key of `row` (empty if out of range, which the engine never asks).
    pub(crate) fn get(&self, row: usize) -> &str {
        let chunk = self
            .starts
            .partition_point(|&start| start <= row)
            .saturating_sub(1);
        let (Some(keys), Some(start)) = (self.chunks.get(chunk), self.starts.get(chunk)) else {
            return "";
        };
        keys.downcast_iter()
            .next()
            .and_then(|array| array.get(row - start))
            .unwrap_or("")
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
                keys: KeyColumn::default(),
                hashes: Vec::new(),
                refund: Vec::new(),
                status: Vec::new(),
                amount: Vec::new(),
                fee: Vec::new(),
                refund_orders: Vec::new(),
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

    /// Adds one record read by a statement reader. A value the engine cannot
    /// hold exactly (an amount beyond 13 digits or with sub-cent digits, a
    /// fee with more than 5 decimals) makes the row a `bad_amount` reject:
    /// one row never stops a run.
    pub fn push_record(&mut self, record: &Record) {
        let out_of_range = |column: &str, value: String| Reject {
            file: record.file.clone(),
            line: record.line,
            raw: format!(
                "{} {} amount={} fee={}",
                record.kind.as_str(),
                record.key,
                record.amount,
                record.fee.map(|f| f.to_string()).unwrap_or_default()
            ),
            reason: RejectReason::Range {
                column: column.to_string(),
                text: value,
            },
        };
        let Some(amount) = decimal_to_cents(record.amount).filter(|a| a.abs() <= AMOUNT_MAX) else {
            let reject = out_of_range("amount", record.amount.to_string());
            self.push_rejects([reject]);
            return;
        };
        let fee = match record.fee {
            Some(fee) => match decimal_to_fee_units(fee).filter(|f| f.abs() <= FEE_MAX) {
                Some(units) => units,
                None => {
                    let reject = out_of_range("fee", fee.to_string());
                    self.push_rejects([reject]);
                    return;
                }
            },
            None => NO_FEE,
        };
        let file = self.file_index(&record.file);
        if record.kind == RecordKind::Refund {
            let row = self.side.amount.len() as u32;
            self.side
                .refund_orders
                .push((row, record.order_no.as_str().into()));
        }
        self.side.hashes.push(key_hash(&record.key));
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
    pub(crate) fn append_keys(&mut self, keys: StringChunked) {
        self.flush_keys();
        self.side.keys.push(keys);
    }

    /// Pushes the non-key columns of one accepted row (fast reader).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_columns(
        &mut self,
        hash: u64,
        refund: bool,
        status: LedgerStatus,
        amount: i64,
        fee: i64,
        time: i64,
        file: u16,
        line: u64,
        refund_order: Option<&str>,
    ) {
        let side = &mut self.side;
        if let Some(order) = refund_order {
            let row = side.amount.len() as u32;
            side.refund_orders.push((row, order.into()));
        }
        side.hashes.push(hash);
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
        self.side.keys.push(chunk);
    }

    /// Makes room for `additional` more rows, so that the columns of a large
    /// file are allocated once instead of doubling (and overshooting) as they grow.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let side = &mut self.side;
        side.hashes.reserve_exact(additional);
        side.refund.reserve_exact(additional);
        side.status.reserve_exact(additional);
        side.amount.reserve_exact(additional);
        side.fee.reserve_exact(additional);
        side.time.reserve_exact(additional);
        side.file.reserve_exact(additional);
        side.line.reserve_exact(additional);
    }

    /// The finished side; rejects sorted by file then line.
    pub fn finish(mut self) -> Side {
        self.flush_keys();
        let side = &mut self.side;
        side.hashes.shrink_to_fit();
        side.refund.shrink_to_fit();
        side.status.shrink_to_fit();
        side.amount.shrink_to_fit();
        side.fee.shrink_to_fit();
        side.time.shrink_to_fit();
        side.file.shrink_to_fit();
        side.line.shrink_to_fit();
        self.side
            .rejects
            .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        self.side
    }
}
