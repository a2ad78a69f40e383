//! The comparison itself: a full outer hash join of the two sides' keys
//! (polars), then each row put in exactly one [`Category`].
//!
//! Rules, in order:
//! - A key present more than once on a side: its first row (lowest line) is
//!   compared, each later row is `duplicate_in_ledger` / `duplicate_in_statement`.
//! - Rows pair by key **and kind**: a refund row is never compared with a
//!   payment row (Alipay prints the order number as the refund's request
//!   number when the merchant sent none, so a refund may share its
//!   payment's key).
//! - A pair: either side `REFUND_EXCEPTION` (WeChat 退款状态 `CHANGE`: the
//!   refund bounced back to the merchant account) → `refund_exception`;
//!   statuses differ → `status_mismatch`; else amounts differ →
//!   `amount_mismatch`; else both sides state a fee and the fees differ
//!   (exactly, at 5 decimals) → `fee_mismatch`; else `matched`.
//! - Refunds left one-sided after the key join: a statement refund and one
//!   of our refunds of the **same order and amount** pair (oldest line
//!   first) and are classified like any pair (the refund number did not
//!   match, e.g. Alipay showing the order number; see docs/recon-formats.md).
//! - A key on one side only: a `REFUND_EXCEPTION` row → `refund_exception`;
//!   a `CLOSED` row agrees with the other side's silence (no money moved) →
//!   `matched`, on that side only; a row completed within the pending window
//!   before the cut-off (or after it) → `pending`; else `missing_in_channel`
//!   (ledger only) or `missing_in_ledger` (statement only).

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use polars::prelude::{IntoSeries, JoinValidation, SeriesJoin, UInt64Chunked};

use super::EngineError;
use super::minor_units::format_cents;
use super::side::{NO_FEE, Side, SideName, SideTotals};
use crate::jobs::recon::formats::LedgerStatus;

/// Where a row landed. The order is the order of `summary.csv` and `diff.csv`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Category {
    Matched = 0,
    AmountMismatch,
    StatusMismatch,
    FeeMismatch,
    /// A refund the channel reports as failed after the fact (WeChat
    /// `CHANGE`, 退款异常): the money came back to the merchant account and
    /// needs manual handling. Never matched silently.
    RefundException,
    MissingInChannel,
    MissingInLedger,
    DuplicateInLedger,
    DuplicateInStatement,
    Pending,
}

impl Category {
    /// Every category, in report order.
    pub const ALL: [Category; CATEGORIES] = [
        Category::Matched,
        Category::AmountMismatch,
        Category::StatusMismatch,
        Category::FeeMismatch,
        Category::RefundException,
        Category::MissingInChannel,
        Category::MissingInLedger,
        Category::DuplicateInLedger,
        Category::DuplicateInStatement,
        Category::Pending,
    ];

    /// The name written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Matched => "matched",
            Category::AmountMismatch => "amount_mismatch",
            Category::StatusMismatch => "status_mismatch",
            Category::FeeMismatch => "fee_mismatch",
            Category::RefundException => "refund_exception",
            Category::MissingInChannel => "missing_in_channel",
            Category::MissingInLedger => "missing_in_ledger",
            Category::DuplicateInLedger => "duplicate_in_ledger",
            Category::DuplicateInStatement => "duplicate_in_statement",
            Category::Pending => "pending",
        }
    }

    /// Whether the category is a break (neither matched nor pending).
    pub fn is_break(self) -> bool {
        !matches!(self, Category::Matched | Category::Pending)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// How many categories there are.
pub const CATEGORIES: usize = 10;

/// Per-category arrays in stored shard summaries: written as a list in
/// [`Category::ALL`] order; a list of 9 (written before `refund_exception`
/// existed) is read with a zero in its place.
mod per_category {
    use super::CATEGORIES;
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        values: &[T; CATEGORIES],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        values.as_slice().serialize(serializer)
    }

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<[T; CATEGORIES], D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de> + Default + Copy,
    {
        let values = Vec::<T>::deserialize(deserializer)?;
        let mut out = [T::default(); CATEGORIES];
        match values.len() {
            CATEGORIES => out.copy_from_slice(&values),
            9 => {
                out[..4].copy_from_slice(&values[..4]);
                out[5..].copy_from_slice(&values[4..]);
            }
            n => {
                return Err(D::Error::custom(format!(
                    "{n} per-category values, expected {CATEGORIES}"
                )));
            }
        }
        Ok(out)
    }
}

/// Settings of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompareConfig {
    /// End of the business day (local wall time). `None`: nothing is pending.
    pub cutoff: Option<NaiveDateTime>,
    /// A one-sided row completed at or after `cutoff - pending_window` is pending.
    pub pending_window: chrono::Duration,
}

impl Default for CompareConfig {
    /// No cut-off; a 30-minute window once a cut-off is set.
    fn default() -> Self {
        CompareConfig {
            cutoff: None,
            pending_window: chrono::Duration::minutes(30),
        }
    }
}

/// Per-category counts and sums of one side, and what its reader counted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SideSummary {
    pub side: SideName,
    /// Rows per category, indexed like [`Category::ALL`].
    #[serde(with = "per_category")]
    pub counts: [u64; CATEGORIES],
    /// Amounts (cents) per category, indexed like [`Category::ALL`].
    #[serde(with = "per_category")]
    pub sums: [i128; CATEGORIES],
    /// What the reader counted (accepted rows, their sum, rejects).
    pub read: SideTotals,
}

impl SideSummary {
    /// Rows in `category`.
    pub fn count(&self, category: Category) -> u64 {
        self.counts[category.index()]
    }

    /// Sum of amounts in `category`, in cents.
    pub fn sum_cents(&self, category: Category) -> i128 {
        self.sums[category.index()]
    }

    /// An empty summary of `side`.
    pub fn empty(side: SideName) -> SideSummary {
        SideSummary {
            side,
            counts: [0; CATEGORIES],
            sums: [0; CATEGORIES],
            read: SideTotals::default(),
        }
    }

    /// Adds another part's counts, sums and read totals (shards of one run).
    pub fn merge(&mut self, other: &SideSummary) {
        for index in 0..Category::ALL.len() {
            self.counts[index] += other.counts[index];
            self.sums[index] += other.sums[index];
        }
        self.read.records += other.read.records;
        self.read.amount_cents += other.read.amount_cents;
        self.read.rejects += other.read.rejects;
    }

    /// Moves one row of `amount` cents from category `from` to `to`.
    pub fn reclassify(&mut self, from: Category, to: Category, amount: i64) {
        self.counts[from.index()] -= 1;
        self.sums[from.index()] -= i128::from(amount);
        self.counts[to.index()] += 1;
        self.sums[to.index()] += i128::from(amount);
    }

    /// Conservation: the categories hold exactly the rows and the amount read.
    pub fn check_conservation(&self) -> Result<(), EngineError> {
        let category_rows: u64 = self.counts.iter().sum();
        let category_sum: i128 = self.sums.iter().sum();
        if category_rows != self.read.records || category_sum != self.read.amount_cents {
            return Err(EngineError::Conservation {
                side: self.side,
                category_rows,
                category_sum: format_cents(category_sum),
                read_rows: self.read.records,
                read_sum: format_cents(self.read.amount_cents),
            });
        }
        Ok(())
    }
}

/// One row of `diff.csv`: a break or a pending record, pointing into the sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffRow {
    pub category: Category,
    /// Row index in the ledger side, when the ledger has this record.
    pub ledger_row: Option<usize>,
    /// Row index in the statement side, when the statement has this record.
    pub statement_row: Option<usize>,
}

/// The result: summaries per side and the rows of `diff.csv` in report order.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub ledger: SideSummary,
    pub statement: SideSummary,
    pub diff: Vec<DiffRow>,
}

const UNSET: u8 = u8::MAX;
const NO_ROW: u32 = u32::MAX;

/// Compares two sides; checks conservation before returning.
pub fn compare(
    ledger: &Side,
    statement: &Side,
    config: &CompareConfig,
) -> Result<Comparison, EngineError> {
    for side in [ledger, statement] {
        if side.len() >= NO_ROW as usize {
            return Err(EngineError::Polars(format!(
                "the {} side has {} rows; at most {} can be compared at once",
                side.name,
                side.len(),
                NO_ROW - 1
            )));
        }
    }
    let started = std::time::Instant::now();
    let (min_statement, min_ledger) = join_first_partners(ledger, statement)?;
    tracing::debug!(elapsed = ?started.elapsed(), "joined");
    let mut ledger_category = vec![UNSET; ledger.len()];
    let mut statement_category = vec![UNSET; statement.len()];
    let mut diff = Vec::new();
    for (l, &r) in min_statement.iter().enumerate() {
        if r == NO_ROW {
            continue;
        }
        let r = r as usize;
        let (category, diff_row) = if min_ledger[r] as usize == l {
            let category = classify_pair(ledger, l, statement, r);
            statement_category[r] = category as u8;
            (category, (Some(l), Some(r)))
        } else {
            (Category::DuplicateInLedger, (Some(l), None))
        };
        ledger_category[l] = category as u8;
        if category != Category::Matched {
            diff.push(diff_row_of(category, diff_row));
        }
    }
    for (r, &l) in min_ledger.iter().enumerate() {
        if l != NO_ROW && statement_category[r] == UNSET {
            statement_category[r] = Category::DuplicateInStatement as u8;
            diff.push(diff_row_of(Category::DuplicateInStatement, (None, Some(r))));
        }
    }
    pair_refunds_by_order(
        ledger,
        statement,
        &min_statement,
        &min_ledger,
        &mut ledger_category,
        &mut statement_category,
        &mut diff,
    );
    one_sided(
        ledger,
        &min_statement,
        &mut ledger_category,
        config,
        &mut diff,
    );
    one_sided(
        statement,
        &min_ledger,
        &mut statement_category,
        config,
        &mut diff,
    );
    let ledger_summary = summarize(ledger, &ledger_category)?;
    let statement_summary = summarize(statement, &statement_category)?;
    sort_diff(&mut diff, ledger, statement);
    Ok(Comparison {
        ledger: ledger_summary,
        statement: statement_summary,
        diff,
    })
}

fn diff_row_of(category: Category, rows: (Option<usize>, Option<usize>)) -> DiffRow {
    DiffRow {
        category,
        ledger_row: rows.0,
        statement_row: rows.1,
    }
}

/// Rows per join partition (about): bounds the memory of polars' hash tables.
const JOIN_PARTITION_ROWS: usize = 2_000_000;

/// The full outer join; for each row, the lowest row index on the other
/// side with the same key (or `NO_ROW`).
///
/// polars joins the sides' key hashes (u64), partition by partition (a grace
/// hash join: the rows of a partition share `mix(hash) % partitions`, so
/// equal keys always meet); each joined pair is then kept only if the keys
/// themselves are equal, so a hash collision can never pair two records.
fn join_first_partners(
    ledger: &Side,
    statement: &Side,
) -> Result<(Vec<u32>, Vec<u32>), EngineError> {
    let mut min_statement = vec![NO_ROW; ledger.len()];
    let mut min_ledger = vec![NO_ROW; statement.len()];
    if ledger.is_empty() || statement.is_empty() {
        return Ok((min_statement, min_ledger));
    }
    let partitions = (ledger.len() + statement.len())
        .div_ceil(JOIN_PARTITION_ROWS)
        .clamp(1, PARTITIONS_MAX);
    let left_partitions = Partitioned::new(&ledger.hashes, partitions);
    let right_partitions = Partitioned::new(&statement.hashes, partitions);
    let started = std::time::Instant::now();
    let (mut polars_time, mut verify_time) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for partition in 0..partitions {
        let (left_hashes, left_rows) = left_partitions.get(&ledger.hashes, partition);
        let (right_hashes, right_rows) = right_partitions.get(&statement.hashes, partition);
        if left_rows.is_empty() || right_rows.is_empty() {
            continue;
        }
        let left = UInt64Chunked::from_vec("hash".into(), left_hashes).into_series();
        let right = UInt64Chunked::from_vec("hash".into(), right_hashes).into_series();
        let t0 = std::time::Instant::now();
        let (left_ids, right_ids) =
            left.hash_join_outer(&right, JoinValidation::ManyToMany, false)?;
        let t1 = std::time::Instant::now();
        polars_time += t1 - t0;
        for (l, r) in left_ids.iter().zip(right_ids.iter()) {
            let (Some(&l), Some(&r)) = (l, r) else {
                continue;
            };
            let (l, r) = (left_rows[l as usize], right_rows[r as usize]);
            if ledger.refund[l as usize] != statement.refund[r as usize]
                || ledger.key(l as usize) != statement.key(r as usize)
            {
                continue;
            }
            let slot = &mut min_statement[l as usize];
            *slot = (*slot).min(r);
            let slot = &mut min_ledger[r as usize];
            *slot = (*slot).min(l);
        }
        verify_time += t1.elapsed();
    }
    tracing::trace!(total = ?started.elapsed(), polars = ?polars_time, verify = ?verify_time, "join partitions");
    Ok((min_statement, min_ledger))
}

/// Most join partitions.
const PARTITIONS_MAX: usize = 4_096;

/// A side's rows grouped by join partition (a counting sort on `mix(hash)`).
struct Partitioned {
    rows: Vec<u32>,
    /// `rows[starts[p]..starts[p + 1]]` are partition `p`'s rows, in row order.
    starts: Vec<usize>,
}

impl Partitioned {
    fn new(hashes: &[u64], partitions: usize) -> Partitioned {
        let partition = |hash: u64| (mix(hash) % partitions as u64) as usize;
        let mut starts = vec![0usize; partitions + 1];
        for &hash in hashes {
            starts[partition(hash) + 1] += 1;
        }
        for p in 0..partitions {
            starts[p + 1] += starts[p];
        }
        let mut next = starts.clone();
        let mut rows = vec![0u32; hashes.len()];
        for (row, &hash) in hashes.iter().enumerate() {
            let slot = &mut next[partition(hash)];
            rows[*slot] = row as u32;
            *slot += 1;
        }
        Partitioned { rows, starts }
    }

    /// The hashes of partition `p` and the rows they come from.
    fn get<'a>(&'a self, hashes: &[u64], p: usize) -> (Vec<u64>, &'a [u32]) {
        let rows = &self.rows[self.starts[p]..self.starts[p + 1]];
        (rows.iter().map(|&row| hashes[row as usize]).collect(), rows)
    }
}

/// splitmix64's finalizer: spreads FNV's weak low bits before the modulo.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn classify_pair(ledger: &Side, l: usize, statement: &Side, r: usize) -> Category {
    classify(
        Compared {
            refund: ledger.refund[l],
            status: ledger.status[l],
            amount: ledger.amount[l],
            fee: ledger.fee[l],
        },
        Compared {
            refund: statement.refund[r],
            status: statement.status[r],
            amount: statement.amount[r],
            fee: statement.fee[r],
        },
    )
}

/// What decides the category of a pair: kind, status, amount (cents), fee
/// (1/100000 units, [`NO_FEE`] when not stated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Compared {
    pub refund: bool,
    pub status: LedgerStatus,
    pub amount: i64,
    pub fee: i64,
}

/// The category of a ledger record and a statement record with the same key:
/// a refund exception on either side first, then status (and kind), then
/// amount, then fee when both state one.
pub(crate) fn classify(ledger: Compared, statement: Compared) -> Category {
    if ledger.status == LedgerStatus::RefundException
        || statement.status == LedgerStatus::RefundException
    {
        Category::RefundException
    } else if ledger.status != statement.status || ledger.refund != statement.refund {
        Category::StatusMismatch
    } else if ledger.amount != statement.amount {
        Category::AmountMismatch
    } else if ledger.fee != NO_FEE && statement.fee != NO_FEE && ledger.fee != statement.fee {
        Category::FeeMismatch
    } else {
        Category::Matched
    }
}

/// Rows whose key the other side lacks: duplicates among them, closed,
/// pending or missing.
fn one_sided(
    side: &Side,
    partners: &[u32],
    categories: &mut [u8],
    config: &CompareConfig,
    diff: &mut Vec<DiffRow>,
) {
    let pending_from = config
        .cutoff
        .map(|cutoff| (cutoff - config.pending_window).and_utc().timestamp());
    let (missing, duplicate) = match side.name {
        SideName::Ledger => (Category::MissingInChannel, Category::DuplicateInLedger),
        SideName::Statement => (Category::MissingInLedger, Category::DuplicateInStatement),
    };
    let mut seen: HashSet<(&str, bool)> = HashSet::new();
    for (row, &partner) in partners.iter().enumerate() {
        if partner != NO_ROW {
            continue;
        }
        if categories[row] != UNSET {
            // Paired by order (a refund): later rows of its key are duplicates.
            seen.insert((side.key(row), side.refund[row]));
            continue;
        }
        let category = if !seen.insert((side.key(row), side.refund[row])) {
            duplicate
        } else if side.status[row] == LedgerStatus::RefundException {
            Category::RefundException
        } else if side.status[row] == LedgerStatus::Closed {
            Category::Matched
        } else if pending_from.is_some_and(|from| side.time[row] >= from) {
            Category::Pending
        } else {
            missing
        };
        categories[row] = category as u8;
        if category != Category::Matched {
            let rows = match side.name {
                SideName::Ledger => (Some(row), None),
                SideName::Statement => (None, Some(row)),
            };
            diff.push(diff_row_of(category, rows));
        }
    }
}

/// Refunds that found no partner by key: a statement refund pairs with one
/// of our refunds of the same order and amount (each taken once, in row
/// order), and the pair is classified like any pair. The refund number did
/// not match — e.g. Alipay shows the order number as 退款批次号/请求号 when
/// the refund request carried none — but the money is the same.
fn pair_refunds_by_order(
    ledger: &Side,
    statement: &Side,
    min_statement: &[u32],
    min_ledger: &[u32],
    ledger_category: &mut [u8],
    statement_category: &mut [u8],
    diff: &mut Vec<DiffRow>,
) {
    let unpaired = |side: &Side, partners: &[u32], categories: &[u8]| -> Vec<usize> {
        side.refund_orders
            .iter()
            .map(|(row, _)| *row as usize)
            .filter(|&row| partners[row] == NO_ROW && categories[row] == UNSET)
            .collect()
    };
    let theirs = unpaired(statement, min_ledger, statement_category);
    if theirs.is_empty() {
        return;
    }
    let mut ours: HashMap<(&str, i64), Vec<usize>> = HashMap::new();
    for row in unpaired(ledger, min_statement, ledger_category)
        .into_iter()
        .rev()
    {
        if let Some(order) = ledger.refund_order(row) {
            ours.entry((order, ledger.amount[row]))
                .or_default()
                .push(row);
        }
    }
    let mut seen_keys: HashSet<&str> = HashSet::new();
    for r in theirs {
        // A repeated statement key is a duplicate, left to `one_sided`.
        if !seen_keys.insert(statement.key(r)) {
            continue;
        }
        let Some(order) = statement.refund_order(r) else {
            continue;
        };
        let Some(l) = ours
            .get_mut(&(order, statement.amount[r]))
            .and_then(|rows| rows.pop())
        else {
            continue;
        };
        let category = classify_pair(ledger, l, statement, r);
        ledger_category[l] = category as u8;
        statement_category[r] = category as u8;
        if category != Category::Matched {
            diff.push(diff_row_of(category, (Some(l), Some(r))));
        }
    }
}

/// Counts and sums per category; fails if a row has no category or the
/// totals differ from what the reader counted (conservation).
fn summarize(side: &Side, categories: &[u8]) -> Result<SideSummary, EngineError> {
    let mut counts = [0u64; CATEGORIES];
    let mut sums = [0i128; CATEGORIES];
    for (&category, &amount) in categories.iter().zip(&side.amount) {
        if let Some(count) = counts.get_mut(category as usize) {
            *count += 1;
            sums[category as usize] += i128::from(amount);
        }
    }
    let summary = SideSummary {
        side: side.name,
        counts,
        sums,
        read: side.totals,
    };
    // A row left without a category is missing from the counts: the check fails.
    summary.check_conservation()?;
    Ok(summary)
}

/// Report order: category, then key, then the line (ledger first).
fn sort_diff(diff: &mut [DiffRow], ledger: &Side, statement: &Side) {
    diff.sort_by(|a, b| {
        let key = |row: &DiffRow| match (row.ledger_row, row.statement_row) {
            (Some(l), _) => ledger.key(l),
            (None, Some(r)) => statement.key(r),
            (None, None) => "",
        };
        let line = |row: &DiffRow| {
            (
                row.ledger_row.map(|l| (ledger.file[l], ledger.line[l])),
                row.statement_row
                    .map(|r| (statement.file[r], statement.line[r])),
            )
        };
        (a.category, key(a), line(a)).cmp(&(b.category, key(b), line(b)))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::recon::engine::side::SideBuilder;
    use polars::prelude::{NewChunkedArray, StringChunked};

    /// A side whose rows all carry the same (colliding) hash.
    fn side(name: SideName, keys: &[&str], amounts: &[i64]) -> Side {
        let mut builder = SideBuilder::new(name);
        builder.append_keys(StringChunked::from_slice("key".into(), keys));
        for (line, &amount) in amounts.iter().enumerate() {
            builder.push_columns(
                42,
                false,
                LedgerStatus::Success,
                amount,
                NO_FEE,
                0,
                0,
                line as u64 + 2,
                None,
            );
        }
        builder.finish()
    }

    #[test]
    fn colliding_hashes_never_pair_different_keys() {
        let ledger = side(SideName::Ledger, &["A", "B"], &[100, 200]);
        let statement = side(SideName::Statement, &["B", "C"], &[200, 300]);
        let comparison = compare(&ledger, &statement, &CompareConfig::default()).unwrap();
        // By hand: B matches B; A is only ours, C only theirs.
        assert_eq!(comparison.ledger.count(Category::Matched), 1);
        assert_eq!(comparison.ledger.count(Category::MissingInChannel), 1);
        assert_eq!(comparison.ledger.sum_cents(Category::MissingInChannel), 100);
        assert_eq!(comparison.statement.count(Category::Matched), 1);
        assert_eq!(comparison.statement.count(Category::MissingInLedger), 1);
        assert_eq!(
            comparison.statement.sum_cents(Category::MissingInLedger),
            300
        );
    }

    #[test]
    fn conservation_failure_is_a_typed_error() {
        let ledger = side(SideName::Ledger, &["A"], &[100]);
        let mut broken = ledger.clone();
        broken.totals.amount_cents += 1;
        let statement = side(SideName::Statement, &["A"], &[100]);
        match compare(&broken, &statement, &CompareConfig::default()) {
            Err(EngineError::Conservation { side, .. }) => assert_eq!(side, SideName::Ledger),
            other => panic!("expected a conservation error, got {other:?}"),
        }
    }
}
