//! The reconciliation comparison engine: two sides (ours = the ledger,
//! theirs = a channel statement) compared by key — our order number for
//! payments, our refund number for refunds — into the categories of issue 3.
//!
//! Money is carried as `i64` minor units inside the engine (amounts in cents,
//! fees in 1/100000 yuan so that sub-cent channel fees stay exact) and turned
//! into [`rust_decimal::Decimal`] at the edges: exact, cheap to sum and
//! compare over tens of millions of rows, and a native polars dtype. Floats
//! are never used. See `docs/recon.md` for why not polars' Decimal dtype.
//!
//! polars is used only inside this module (CSV reading of ledger-layout
//! files and the full outer hash join on the key); nothing polars-typed
//! crosses its public API.
//!
//! Invariant (conservation): every accepted row of each side lands in exactly
//! one [`Category`], every unreadable row is a reject, and the per-category
//! counts and sums add up to what each side's reader counted. [`compare`]
//! checks this and returns [`EngineError::Conservation`] if it ever fails.

pub mod adhoc;
pub mod bench;
mod compare;
mod diff_record;
mod ledger_csv;
mod minor_units;
pub mod progress;
mod report;
mod side;
mod stream;

pub use compare::{Category, CompareConfig, Comparison, DiffRow, SideSummary, compare};
pub(crate) use diff_record::side_place;
pub use diff_record::{DiffRecord, SideValues};
pub use ledger_csv::{LedgerRead, read_ledger_layout, read_statement_side};
pub use minor_units::{
    CentsOutOfRange, cents_to_decimal, cents_to_decimal_i128, decimal_to_cents,
    decimal_to_fee_units, fee_units_to_decimal,
};
pub(crate) use minor_units::{format_cents, format_fee};
pub use report::{
    DIFF_HEADER, ReconReports, SUMMARY_HEADER, build_reports, diff_cells, diff_report,
    summary_report, summary_rows,
};
pub use side::{Side, SideBuilder, SideName, SideTotals};
pub use stream::{FileComparison, SPILL_BUDGET, Sizing, compare_files, compare_files_sized};

use std::path::PathBuf;

/// Why a comparison could not be made or trusted.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A side could not be read at all (missing, corrupt, failed self-check).
    #[error(transparent)]
    Format(#[from] crate::jobs::recon::formats::FormatError),
    /// A file could not be read from disk.
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The categories do not add up to what was read: a bug, never a finding.
    #[error(
        "conservation check failed on the {side} side: categories hold {category_rows} rows / {category_sum} but {read_rows} rows / {read_sum} were read"
    )]
    Conservation {
        side: SideName,
        category_rows: u64,
        category_sum: String,
        read_rows: u64,
        read_sum: String,
    },
    /// polars itself failed (memory, internal error) while joining or reading.
    #[error("comparison engine failure: {0}")]
    Polars(String),
    /// The reports could not be built or written.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
}

impl From<polars::error::PolarsError> for EngineError {
    fn from(error: polars::error::PolarsError) -> Self {
        EngineError::Polars(error.to_string())
    }
}
