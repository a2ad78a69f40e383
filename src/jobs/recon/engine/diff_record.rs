//! A diff row with its values copied out of the sides: what a shard stores
//! for its run's finalize step, what `diff.csv` is written from, and what the
//! break register keeps of a pending record.

use chrono::{DateTime, NaiveDateTime};

use super::compare::{Category, Compared, Comparison, DiffRow};
use super::side::{NO_FEE, Side};
use crate::jobs::recon::formats::{LedgerStatus, RecordKind};

/// One side's values of a diff row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(from = "SideValuesStored")]
pub struct SideValues {
    /// Amount in cents (positive for refunds too).
    pub amount: i64,
    /// Fee in 1/100000 units; `None` when the side states no fee. Stored as
    /// `fee_e5` (shard rows, the break register's payload).
    #[serde(rename = "fee_e5")]
    pub fee: Option<i64>,
    pub status: LedgerStatus,
    /// Completion time, local wall-clock time as printed.
    pub time: NaiveDateTime,
    /// The file (or table) the row came from.
    pub file: String,
    /// 1-based physical line in `file`; 0 for a database row.
    pub line: u64,
}

/// [`SideValues`] as stored, read back: `fee_e5` (1/100000 units), or the
/// `fee` in 1/10000 units that rows written before fees had 5 decimals hold
/// (break payloads are carried across days, so old rows are still read).
#[derive(serde::Deserialize)]
struct SideValuesStored {
    amount: i64,
    #[serde(default)]
    fee_e5: Option<i64>,
    #[serde(default)]
    fee: Option<i64>,
    status: LedgerStatus,
    time: NaiveDateTime,
    file: String,
    line: u64,
}

impl From<SideValuesStored> for SideValues {
    fn from(stored: SideValuesStored) -> SideValues {
        SideValues {
            amount: stored.amount,
            fee: stored
                .fee_e5
                .or_else(|| stored.fee.map(|units| units.saturating_mul(10))),
            status: stored.status,
            time: stored.time,
            file: stored.file,
            line: stored.line,
        }
    }
}

impl SideValues {
    fn of(side: &Side, row: usize) -> SideValues {
        let fee = side.fee[row];
        SideValues {
            amount: side.amount[row],
            fee: (fee != NO_FEE).then_some(fee),
            status: side.status[row],
            time: DateTime::from_timestamp(side.time[row], 0)
                .map(|t| t.naive_utc())
                .unwrap_or_default(),
            file: side
                .files
                .get(usize::from(side.file[row]))
                .map(|f| f.display().to_string())
                .unwrap_or_default(),
            line: side.line[row],
        }
    }

    pub(crate) fn compared(&self, kind: RecordKind) -> Compared {
        Compared {
            refund: kind == RecordKind::Refund,
            status: self.status,
            amount: self.amount,
            fee: self.fee.unwrap_or(NO_FEE),
        }
    }
}

/// A break or pending record with its values, independent of the sides.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DiffRecord {
    pub category: Category,
    /// Order number, or refund number for refunds.
    pub key: String,
    pub kind: RecordKind,
    pub ledger: Option<SideValues>,
    pub statement: Option<SideValues>,
}

impl DiffRecord {
    /// `statement − ledger` in cents, a missing side counting as 0.
    pub fn delta_cents(&self) -> i128 {
        let amount = |side: &Option<SideValues>| side.as_ref().map_or(0, |v| i128::from(v.amount));
        amount(&self.statement) - amount(&self.ledger)
    }

    /// The category of this record's ledger and statement values (both present).
    pub fn classify(ledger: &SideValues, statement: &SideValues, kind: RecordKind) -> Category {
        super::compare::classify(ledger.compared(kind), statement.compared(kind))
    }

    /// The order of `diff.csv`: category, key, then where each side's row is.
    pub fn report_order(&self) -> impl Ord + '_ {
        (
            self.category,
            self.key.as_str(),
            side_place(&self.ledger),
            side_place(&self.statement),
        )
    }
}

/// Where a side's row is (file, line), for report orders.
pub(crate) fn side_place(side: &Option<SideValues>) -> Option<(&str, u64)> {
    side.as_ref().map(|v| (v.file.as_str(), v.line))
}

impl Comparison {
    /// The diff rows with their values copied out of the sides, in report order.
    pub fn records(&self, ledger: &Side, statement: &Side) -> Vec<DiffRecord> {
        self.diff
            .iter()
            .map(|row| record_of(row, ledger, statement))
            .collect()
    }
}

fn record_of(row: &DiffRow, ledger: &Side, statement: &Side) -> DiffRecord {
    let (side, index) = match (row.ledger_row, row.statement_row) {
        (Some(l), _) => (ledger, l),
        (None, Some(r)) => (statement, r),
        // The engine never makes a row with neither side; keep it visible if it did.
        (None, None) => (ledger, usize::MAX),
    };
    let present = index < side.len();
    DiffRecord {
        category: row.category,
        key: if present {
            side.key(index).to_string()
        } else {
            String::new()
        },
        kind: if present && side.refund[index] {
            RecordKind::Refund
        } else {
            RecordKind::Payment
        },
        ledger: row.ledger_row.map(|l| SideValues::of(ledger, l)),
        statement: row.statement_row.map(|r| SideValues::of(statement, r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_stored_before_five_decimals_are_read_in_the_new_unit() {
        let old = r#"{"amount":1200,"fee":72,"status":"SUCCESS","time":"2026-11-21T09:00:00","file":"f","line":2}"#;
        let values: SideValues = serde_json::from_str(old).unwrap();
        // 72 × 1/10000 = 0.0072 = 720 × 1/100000.
        assert_eq!(values.fee, Some(720));
        let json = serde_json::to_string(&values).unwrap();
        assert!(json.contains(r#""fee_e5":720"#), "{json}");
        let back: SideValues = serde_json::from_str(&json).unwrap();
        assert_eq!(back, values);
    }
}
