//! `rejects.csv`: every rejected row with its file, line, reason and raw text.

use crate::report::{CsvReport, ReportError};

use super::record::Reject;

/// The file name of the rejects report.
pub const REJECTS_FILE: &str = "rejects.csv";

/// Columns of `rejects.csv`: the file as given to the reader, the 1-based
/// line, the reason code (`bad_amount`, …), the full reason, the raw line.
pub const REJECT_COLUMNS: [&str; 5] = ["file", "line", "reason_code", "reason", "raw"];

/// Builds `rejects.csv` from the rejects of one or more files, ordered by
/// file then line so that reruns give the same bytes.
pub fn rejects_report(rejects: &[&Reject], excel_bom: bool) -> Result<CsvReport, ReportError> {
    let mut ordered: Vec<&Reject> = rejects.to_vec();
    ordered.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    let mut report = CsvReport::new(REJECTS_FILE, &REJECT_COLUMNS, excel_bom)?;
    for reject in ordered {
        report.row([
            reject.file.display().to_string(),
            reject.line.to_string(),
            reject.reason.code().to_string(),
            reject.reason.to_string(),
            reject.raw.clone(),
        ])?;
    }
    Ok(report)
}
