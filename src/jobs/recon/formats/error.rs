//! [`FormatError`]: a statement that cannot be used as a whole (as opposed to
//! a bad row, which is a [`super::Reject`]).

use std::path::PathBuf;

use crate::runtime::JobError;

use super::record::Reject;

/// Why a statement file as a whole is unusable. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("cannot read statement {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file did not arrive (or did not stop growing) before the deadline.
    #[error("statement {} did not arrive by {deadline}: {detail}", path.display())]
    NotArrived {
        path: PathBuf,
        deadline: chrono::DateTime<chrono::Utc>,
        detail: String,
    },
    #[error("waiting for statement {} was cancelled", path.display())]
    Cancelled { path: PathBuf },
    /// The header (or the file's layout around it) is not what the format expects.
    #[error("statement {} line {line}: {reason}", path.display())]
    Layout {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    /// A column the format needs is not in the header.
    #[error("statement {} line {line}: no column `{column}` in the header", path.display())]
    MissingColumn {
        path: PathBuf,
        line: u64,
        column: String,
    },
    /// The file's own totals disagree with its rows: it is incomplete or corrupt.
    #[error(
        "statement {} is incomplete or corrupt: it states {figure} = {stated}, its rows give {read}",
        path.display()
    )]
    SelfCheck {
        path: PathBuf,
        figure: String,
        stated: String,
        read: String,
        /// The rows rejected while reading, for `rejects.csv`.
        rejects: Vec<Reject>,
    },
    /// More rows were rejected than the threshold allows.
    #[error(
        "statement {} is mostly unreadable: {rejected} of {rows} rows rejected (limit {limit_percent} %)",
        path.display()
    )]
    MostlyRejects {
        path: PathBuf,
        rejected: u64,
        rows: u64,
        limit_percent: u32,
        /// The rejected rows, for `rejects.csv`.
        rejects: Vec<Reject>,
    },
    /// A generic mapping that cannot work (bad TOML, unknown key, contradictory columns).
    #[error("statement mapping: {0}")]
    Mapping(String),
}

impl FormatError {
    /// The rows rejected before the file was found unusable (empty if none or not known).
    pub fn rejects(&self) -> &[Reject] {
        match self {
            FormatError::SelfCheck { rejects, .. } | FormatError::MostlyRejects { rejects, .. } => {
                rejects
            }
            _ => &[],
        }
    }
}

impl From<FormatError> for JobError {
    fn from(e: FormatError) -> JobError {
        match e {
            FormatError::Io { path, source } => JobError::Io {
                context: format!("cannot read statement {}", path.display()),
                source,
            },
            FormatError::Cancelled { .. } => JobError::Cancelled,
            FormatError::Mapping(reason) => JobError::Param {
                field: "mapping".to_string(),
                reason,
            },
            other => JobError::Input(other.to_string()),
        }
    }
}
