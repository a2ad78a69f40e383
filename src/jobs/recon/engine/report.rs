//! The report files of a comparison: `summary.csv`, `diff.csv`,
//! `rejects.csv` (columns documented in `docs/recon.md`). Deterministic:
//! fixed order and number formats, nothing run-specific.

use chrono::DateTime;

use super::compare::{Category, Comparison, DiffRow, SideSummary};
use super::minor_units::{format_cents, format_fee};
use super::side::{NO_FEE, Side};
use crate::jobs::recon::formats::{Reject, rejects_report};
use crate::report::{CsvReport, ReportError};

/// `summary.csv` header.
pub const SUMMARY_HEADER: [&str; 5] = [
    "category",
    "ledger_count",
    "ledger_amount",
    "statement_count",
    "statement_amount",
];

/// `diff.csv` header.
pub const DIFF_HEADER: [&str; 17] = [
    "category",
    "key",
    "kind",
    "ledger_amount",
    "statement_amount",
    "delta",
    "ledger_fee",
    "statement_fee",
    "fee_delta",
    "ledger_status",
    "statement_status",
    "ledger_time",
    "statement_time",
    "ledger_file",
    "ledger_line",
    "statement_file",
    "statement_line",
];

/// The three CSV files, ready for [`crate::report::publish`].
#[derive(Debug)]
pub struct ReconReports {
    /// `(name, bytes, rows)` for summary.csv, diff.csv, rejects.csv.
    pub files: Vec<(String, Vec<u8>, u64)>,
}

/// Builds the report files; `excel_bom` adds the UTF-8 BOM Excel wants.
pub fn build_reports(
    ledger: &Side,
    statement: &Side,
    comparison: &Comparison,
    excel_bom: bool,
) -> Result<ReconReports, ReportError> {
    Ok(ReconReports {
        files: vec![
            summary(&comparison.ledger, &comparison.statement, excel_bom)?,
            diff(ledger, statement, &comparison.diff, excel_bom)?,
            rejects(ledger, statement, excel_bom)?,
        ],
    })
}

fn summary(
    ledger: &SideSummary,
    statement: &SideSummary,
    excel_bom: bool,
) -> Result<(String, Vec<u8>, u64), ReportError> {
    let mut report = CsvReport::new("summary.csv", &SUMMARY_HEADER, excel_bom)?;
    for category in Category::ALL {
        report.row([
            category.as_str().to_string(),
            ledger.count(category).to_string(),
            format_cents(ledger.sum_cents(category)),
            statement.count(category).to_string(),
            format_cents(statement.sum_cents(category)),
        ])?;
    }
    report.row([
        "rejected".to_string(),
        ledger.read.rejects.to_string(),
        String::new(),
        statement.read.rejects.to_string(),
        String::new(),
    ])?;
    report.row([
        "total_read".to_string(),
        (ledger.read.records + ledger.read.rejects).to_string(),
        format_cents(ledger.read.amount_cents),
        (statement.read.records + statement.read.rejects).to_string(),
        format_cents(statement.read.amount_cents),
    ])?;
    report.finish()
}

fn diff(
    ledger: &Side,
    statement: &Side,
    rows: &[DiffRow],
    excel_bom: bool,
) -> Result<(String, Vec<u8>, u64), ReportError> {
    let mut report = CsvReport::new("diff.csv", &DIFF_HEADER, excel_bom)?;
    for row in rows {
        let l = row.ledger_row.map(|r| SideRow::of(ledger, r));
        let s = row.statement_row.map(|r| SideRow::of(statement, r));
        let present = l.as_ref().or(s.as_ref());
        let amount_of = |side: &Option<SideRow>| side.as_ref().map_or(0, |x| i128::from(x.amount));
        let fee_delta = match (&l, &s) {
            (Some(a), Some(b)) if a.fee != NO_FEE && b.fee != NO_FEE => {
                format_fee(i128::from(b.fee) - i128::from(a.fee))
            }
            _ => String::new(),
        };
        let field = |side: &Option<SideRow>, pick: fn(&SideRow) -> String| {
            side.as_ref().map(pick).unwrap_or_default()
        };
        report.row([
            row.category.as_str().to_string(),
            present.map(|x| x.key.to_string()).unwrap_or_default(),
            present.map(|x| x.kind.to_string()).unwrap_or_default(),
            field(&l, |x| format_cents(i128::from(x.amount))),
            field(&s, |x| format_cents(i128::from(x.amount))),
            format_cents(amount_of(&s) - amount_of(&l)),
            field(&l, |x| x.fee_text()),
            field(&s, |x| x.fee_text()),
            fee_delta,
            field(&l, |x| x.status.to_string()),
            field(&s, |x| x.status.to_string()),
            field(&l, |x| x.time_text()),
            field(&s, |x| x.time_text()),
            field(&l, |x| x.file.clone()),
            field(&l, |x| x.line.to_string()),
            field(&s, |x| x.file.clone()),
            field(&s, |x| x.line.to_string()),
        ])?;
    }
    report.finish()
}

/// One side's values of a diff row.
struct SideRow<'a> {
    key: &'a str,
    kind: &'static str,
    amount: i64,
    fee: i64,
    status: &'static str,
    time: i64,
    file: String,
    line: u64,
}

impl<'a> SideRow<'a> {
    fn of(side: &'a Side, row: usize) -> SideRow<'a> {
        SideRow {
            key: side.key(row),
            kind: if side.refund[row] {
                "refund"
            } else {
                "payment"
            },
            amount: side.amount[row],
            fee: side.fee[row],
            status: side.status[row].as_str(),
            time: side.time[row],
            file: side
                .files
                .get(usize::from(side.file[row]))
                .map(|f| f.display().to_string())
                .unwrap_or_default(),
            line: side.line[row],
        }
    }

    fn fee_text(&self) -> String {
        if self.fee == NO_FEE {
            String::new()
        } else {
            format_fee(i128::from(self.fee))
        }
    }

    fn time_text(&self) -> String {
        DateTime::from_timestamp(self.time, 0)
            .map(|t| t.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default()
    }
}

/// `rejects.csv` in the formats' layout (file, line, reason_code, reason,
/// raw; ordered by file then line), so every recon report reads the same.
fn rejects(
    ledger: &Side,
    statement: &Side,
    excel_bom: bool,
) -> Result<(String, Vec<u8>, u64), ReportError> {
    let all: Vec<&Reject> = ledger.rejects().iter().chain(statement.rejects()).collect();
    rejects_report(&all, excel_bom)?.finish()
}
