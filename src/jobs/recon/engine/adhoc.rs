//! Ad-hoc reconciliation of two files (`reckon recon`): read both sides,
//! compare, publish the reports with a manifest. No database.

use std::path::{Path, PathBuf};

use std::time::Instant;

use chrono::Utc;

use super::EngineError;
use super::compare::{CompareConfig, SideSummary, compare};
use super::diff_record::DiffRecord;
use super::ledger_csv::{read_ledger_layout, read_statement_side};
use super::progress::{NoProgress, Phase, PhaseTimes, Progress, Unit};
use super::report::{build_reports, diff_report, summary_report};
use super::side::SideName;
use super::stream::compare_files;
use crate::jobs::recon::formats::{ReadOptions, Reject, StatementFormat, rejects_report};
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
    pub comparison: AdhocComparison,
    /// Files written, manifest last.
    pub written: Vec<PathBuf>,
    /// Whether each side took a fast reader (the partitioned file comparison
    /// or the polars column reader): (ledger, statement).
    pub fast_path: (bool, bool),
    /// The statement reader's notes (e.g. a `No Bill Exist` day read as empty).
    pub statement_notes: Vec<String>,
}

/// The figures of an ad-hoc comparison, whichever path computed them.
#[derive(Debug, Clone)]
pub struct AdhocComparison {
    pub ledger: SideSummary,
    pub statement: SideSummary,
    /// The rows of `diff.csv`, in report order.
    pub diff: Vec<DiffRecord>,
}

/// Runs an ad-hoc reconciliation and publishes its reports into `request.out`.
pub fn run_adhoc(request: &AdhocRequest) -> Result<AdhocOutcome, EngineError> {
    run_adhoc_with(request, &NoProgress)
}

/// [`run_adhoc`], reporting progress. Two ledger-layout files take the
/// partitioned comparison (bounded memory, every core); anything else, or
/// a file that comparison cannot vouch for, the column readers and [`compare`].
pub fn run_adhoc_with(
    request: &AdhocRequest,
    progress: &dyn Progress,
) -> Result<AdhocOutcome, EngineError> {
    require_file(&request.ledger)?;
    require_file(&request.statement)?;
    let started = Instant::now();
    let times = PhaseTimes::default();
    let streamed = if request.statement_is_ledger_layout && !columns_forced() {
        compare_files(
            &request.ledger,
            &request.statement,
            &request.compare,
            request.read,
            progress,
            &times,
        )?
    } else {
        None
    };
    let (comparison, mut files, fast_path, statement_notes) = match streamed {
        Some(found) => {
            tracing::debug!(elapsed = ?started.elapsed(), phases = %times.summary(), "compared (partitioned)");
            let write_started = Instant::now();
            progress.start(Phase::Write.as_str(), None, Unit::Items);
            let rejects: Vec<&Reject> = found.rejects.iter().collect();
            let files = vec![
                summary_report(&found.ledger, &found.statement, request.excel_bom)?,
                diff_report(&found.diff, request.excel_bom)?,
                rejects_report(&rejects, request.excel_bom)?.finish()?,
            ];
            tracing::debug!(elapsed = ?write_started.elapsed(), "reports built");
            let comparison = AdhocComparison {
                ledger: found.ledger,
                statement: found.statement,
                diff: found.diff,
            };
            (comparison, files, (true, true), Vec::new())
        }
        None => {
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
            progress.start(Phase::Write.as_str(), None, Unit::Items);
            let reports = build_reports(
                &ledger.side,
                &statement.side,
                &comparison,
                request.excel_bom,
            )?;
            tracing::debug!(elapsed = ?started.elapsed(), "reports built");
            let comparison = AdhocComparison {
                diff: comparison.records(&ledger.side, &statement.side),
                ledger: comparison.ledger,
                statement: comparison.statement,
            };
            (
                comparison,
                reports.files,
                (ledger.fast_path, statement.fast_path),
                statement.notes,
            )
        }
    };
    let write_started = Instant::now();
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
        let book = crate::report::xlsx::workbook(&files, date)?;
        files.push(book);
    }
    let written = publish(&request.out, files, manifest)?;
    progress.finish(Phase::Write.as_str(), write_started.elapsed());
    tracing::debug!(elapsed = ?started.elapsed(), "published");
    Ok(AdhocOutcome {
        comparison,
        written,
        fast_path,
        statement_notes,
    })
}

/// `RECKON_RECON_ENGINE=columns` makes two ledger-layout files take the
/// polars column readers and [`compare`] (the profile and benchmark of
/// issue 15 time both paths on the same files).
fn columns_forced() -> bool {
    std::env::var("RECKON_RECON_ENGINE").is_ok_and(|value| value == "columns")
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
