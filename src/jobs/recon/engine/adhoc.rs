//! Ad-hoc reconciliation of two files (`reckon recon`): read both sides,
//! compare, publish the reports with a manifest. No database.

use std::path::{Path, PathBuf};

use std::time::Instant;

use chrono::Utc;

use super::EngineError;
use super::compare::{CompareConfig, Comparison, compare};
use super::ledger_csv::{read_ledger_layout, read_statement_side};
use super::report::build_reports;
use super::side::SideName;
use crate::jobs::recon::formats::{ReadOptions, StatementFormat};
use crate::report::{Manifest, publish};

/// What `reckon recon` was asked to do.
#[derive(Debug, Clone)]
pub struct AdhocRequest {
    pub ledger: PathBuf,
    pub statement: PathBuf,
    pub format: StatementFormat,
    /// True for `--format generic` without `--mapping` (the ledger layout).
    pub statement_is_ledger_layout: bool,
    pub compare: CompareConfig,
    pub read: ReadOptions,
    pub out: PathBuf,
    pub excel_bom: bool,
    /// Also write `report.xlsx` (`reckon recon --xlsx`).
    pub reports_xlsx: bool,
}

/// What it did.
#[derive(Debug)]
pub struct AdhocOutcome {
    pub comparison: Comparison,
    /// Files written, manifest last.
    pub written: Vec<PathBuf>,
    /// Whether each side took the fast (polars) reader: (ledger, statement).
    pub fast_path: (bool, bool),
    /// The statement reader's notes (e.g. a `No Bill Exist` day read as empty).
    pub statement_notes: Vec<String>,
}

/// Runs an ad-hoc reconciliation and publishes its reports into `request.out`.
pub fn run_adhoc(request: &AdhocRequest) -> Result<AdhocOutcome, EngineError> {
    require_file(&request.ledger)?;
    require_file(&request.statement)?;
    let started = Instant::now();
    let ledger = read_ledger_layout(&request.ledger, SideName::Ledger, request.read)?;
    tracing::debug!(rows = ledger.side.len(), elapsed = ?started.elapsed(), "ledger read");
    let statement = read_statement_side(
        &request.statement,
        &request.format,
        request.statement_is_ledger_layout,
        request.read,
    )?;
    tracing::debug!(rows = statement.side.len(), elapsed = ?started.elapsed(), "statement read");
    let comparison = compare(&ledger.side, &statement.side, &request.compare)?;
    tracing::debug!(diff = comparison.diff.len(), elapsed = ?started.elapsed(), "compared");
    let mut reports = build_reports(
        &ledger.side,
        &statement.side,
        &comparison,
        request.excel_bom,
    )?;
    tracing::debug!(elapsed = ?started.elapsed(), "reports built");
    let manifest = Manifest {
        job: "recon-adhoc".to_string(),
        business_date: request
            .compare
            .cutoff
            .map(|cutoff| cutoff.date().to_string())
            .unwrap_or_default(),
        run_id: uuid::Uuid::now_v7().to_string(),
        attempt: 1,
        instance: std::env::var("HOSTNAME").unwrap_or_default(),
        generated_at: Utc::now().to_rfc3339(),
        files: Vec::new(),
    };
    if request.reports_xlsx {
        // The document date is the business date (the cut-off's), else a fixed one.
        let date = request
            .compare
            .cutoff
            .map(|cutoff| cutoff.date())
            .unwrap_or_default();
        let book = crate::report::xlsx::workbook(&reports.files, date)?;
        reports.files.push(book);
    }
    let written = publish(&request.out, reports.files, manifest)?;
    Ok(AdhocOutcome {
        comparison,
        written,
        fast_path: (ledger.fast_path, statement.fast_path),
        statement_notes: statement.notes,
    })
}

/// A missing input is named as such rather than as a read error deep down.
fn require_file(path: &Path) -> Result<(), EngineError> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|source| EngineError::Io {
            path: path.to_path_buf(),
            source,
        })
}
