//! The report files of a comparison: `summary.csv`, `diff.csv`,
//! `rejects.csv` (columns documented in `docs/recon.md`). Deterministic:
//! fixed order and number formats, nothing run-specific.

use super::compare::{Category, Comparison, SideSummary};
use super::diff_record::{DiffRecord, SideValues};
use super::minor_units::{format_cents, format_fee};
use super::side::Side;
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
            summary_report(&comparison.ledger, &comparison.statement, excel_bom)?,
            diff_report(&comparison.records(ledger, statement), excel_bom)?,
            rejects(ledger, statement, excel_bom)?,
        ],
    })
}

/// `summary.csv`: per category the count and sum of each side, then the
/// rejects and what each side's reader counted.
pub fn summary_report(
    ledger: &SideSummary,
    statement: &SideSummary,
    excel_bom: bool,
) -> Result<(String, Vec<u8>, u64), ReportError> {
    let mut report = CsvReport::new("summary.csv", &SUMMARY_HEADER, excel_bom)?;
    for row in summary_rows(ledger, statement) {
        report.row(row)?;
    }
    report.finish()
}

/// The rows of `summary.csv` (for a kind that appends rows of its own).
pub fn summary_rows(ledger: &SideSummary, statement: &SideSummary) -> Vec<[String; 5]> {
    let mut rows: Vec<[String; 5]> = Category::ALL
        .iter()
        .map(|&category| {
            [
                category.as_str().to_string(),
                ledger.count(category).to_string(),
                format_cents(ledger.sum_cents(category)),
                statement.count(category).to_string(),
                format_cents(statement.sum_cents(category)),
            ]
        })
        .collect();
    rows.push([
        "rejected".to_string(),
        ledger.read.rejects.to_string(),
        String::new(),
        statement.read.rejects.to_string(),
        String::new(),
    ]);
    rows.push([
        "total_read".to_string(),
        (ledger.read.records + ledger.read.rejects).to_string(),
        format_cents(ledger.read.amount_cents),
        (statement.read.records + statement.read.rejects).to_string(),
        format_cents(statement.read.amount_cents),
    ]);
    rows
}

/// `diff.csv` from records already in report order.
pub fn diff_report(
    records: &[DiffRecord],
    excel_bom: bool,
) -> Result<(String, Vec<u8>, u64), ReportError> {
    let mut report = CsvReport::new("diff.csv", &DIFF_HEADER, excel_bom)?;
    for record in records {
        report.row(diff_cells(record))?;
    }
    report.finish()
}

/// One `diff.csv` row, in [`DIFF_HEADER`] order.
pub fn diff_cells(record: &DiffRecord) -> [String; 17] {
    let (l, s) = (&record.ledger, &record.statement);
    let fee_delta = match (
        l.as_ref().and_then(|v| v.fee),
        s.as_ref().and_then(|v| v.fee),
    ) {
        (Some(a), Some(b)) => format_fee(i128::from(b) - i128::from(a)),
        _ => String::new(),
    };
    let field = |side: &Option<SideValues>, pick: fn(&SideValues) -> String| {
        side.as_ref().map(pick).unwrap_or_default()
    };
    [
        record.category.as_str().to_string(),
        record.key.clone(),
        record.kind.as_str().to_string(),
        field(l, |v| format_cents(i128::from(v.amount))),
        field(s, |v| format_cents(i128::from(v.amount))),
        format_cents(record.delta_cents()),
        field(l, |v| {
            v.fee.map(|f| format_fee(i128::from(f))).unwrap_or_default()
        }),
        field(s, |v| {
            v.fee.map(|f| format_fee(i128::from(f))).unwrap_or_default()
        }),
        fee_delta,
        field(l, |v| v.status.to_string()),
        field(s, |v| v.status.to_string()),
        field(l, |v| v.time.format("%Y-%m-%d %H:%M:%S").to_string()),
        field(s, |v| v.time.format("%Y-%m-%d %H:%M:%S").to_string()),
        field(l, |v| v.file.clone()),
        field(l, line_text),
        field(s, |v| v.file.clone()),
        field(s, line_text),
    ]
}

/// The line number, blank for a database row (line 0).
fn line_text(values: &SideValues) -> String {
    if values.line == 0 {
        String::new()
    } else {
        values.line.to_string()
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
