//! `rejects.csv`: every rejected row with its file, line, reason and raw text.

use crate::report::{CsvReport, ReportError};

use super::record::Reject;

/// The file name of the rejects report.
pub const REJECTS_FILE: &str = "rejects.csv";

/// Columns of `rejects.csv`: the file as given to the reader, the 1-based
/// line, the reason code (`bad_amount`, …), the full reason, the raw line.
pub const REJECT_COLUMNS: [&str; 5] = ["file", "line", "reason_code", "reason", "raw"];

/// A reject as written to `rejects.csv`, detached from the reader (what a
/// shard stores for its run's finalize step).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RejectRow {
    pub file: String,
    pub line: u64,
    pub reason_code: String,
    pub reason: String,
    pub raw: String,
}

impl From<&Reject> for RejectRow {
    fn from(reject: &Reject) -> RejectRow {
        RejectRow {
            file: reject.file.display().to_string(),
            line: reject.line,
            reason_code: reject.reason.code().to_string(),
            reason: reject.reason.to_string(),
            raw: reject.raw.clone(),
        }
    }
}

/// Builds `rejects.csv` from the rejects of one or more files, ordered by
/// file then line so that reruns give the same bytes.
pub fn rejects_report(rejects: &[&Reject], excel_bom: bool) -> Result<CsvReport, ReportError> {
    let rows: Vec<RejectRow> = rejects.iter().map(|&reject| reject.into()).collect();
    reject_rows_report(rows, excel_bom)
}

/// Builds `rejects.csv` from detached rows, ordered by file then line.
pub fn reject_rows_report(
    mut rows: Vec<RejectRow>,
    excel_bom: bool,
) -> Result<CsvReport, ReportError> {
    rows.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    let mut report = CsvReport::new(REJECTS_FILE, &REJECT_COLUMNS, excel_bom)?;
    for row in rows {
        report.row([
            row.file,
            row.line.to_string(),
            row.reason_code,
            row.reason,
            row.raw,
        ])?;
    }
    Ok(report)
}
