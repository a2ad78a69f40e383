//! Report files: CSV built in memory, published atomically (temporary name,
//! then rename) into `reports/{business_date}/{job}/{run_id}/`, with a
//! `manifest.json` holding each file's sha256 and row count.
//!
//! Run ids, hosts and timestamps go only in the manifest, so the CSVs of two
//! runs over the same inputs are byte-identical (DESIGN.md invariant 3).

mod csv_file;
mod publish;
pub mod xlsx;

pub use csv_file::{CsvReport, neutralise};
pub use publish::{Manifest, ManifestEntry, publish};

use std::path::PathBuf;

/// Errors writing reports.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write report {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build CSV report {name}")]
    Csv {
        name: String,
        #[source]
        source: csv::Error,
    },
    #[error("cannot build workbook {name}: {reason}")]
    Xlsx { name: String, reason: String },
}
