//! Reconciliation: statement readers (`formats`), the comparison engine
//! (`engine`), the break register (`breaks`), the rows shards hand to the
//! finalize step (`shard_rows`), and the job kinds built on them.

pub mod breaks;
pub mod engine;
pub mod fees;
pub mod findings;
pub mod formats;
pub mod funds;
pub mod internal;
pub mod refunds;
pub mod shard_rows;

use crate::runtime::JobError;
use engine::EngineError;
use formats::FormatError;

impl From<EngineError> for JobError {
    /// Unusable input (missing, corrupt, failed self-check) is an input error
    /// that a retry will not cure; a broken invariant or an engine failure is not.
    fn from(error: EngineError) -> JobError {
        match error {
            EngineError::Format(FormatError::Cancelled { .. }) => JobError::Cancelled,
            EngineError::Report(report) => JobError::Report(report),
            EngineError::Conservation { .. } | EngineError::Polars(_) => {
                JobError::Failed(error.to_string())
            }
            input => JobError::Input(crate::error_chain::chain(&input)),
        }
    }
}

impl From<breaks::RollforwardError> for JobError {
    /// A roll-forward that does not balance fails the run, like conservation.
    fn from(error: breaks::RollforwardError) -> JobError {
        match error {
            breaks::RollforwardError::Database(e) => JobError::Database(e),
            breaks::RollforwardError::Report(report) => JobError::Report(report),
            other => JobError::Failed(crate::error_chain::chain(&other)),
        }
    }
}

impl From<breaks::BreakError> for JobError {
    fn from(error: breaks::BreakError) -> JobError {
        match error {
            breaks::BreakError::Database(e) => JobError::Database(e),
            other => JobError::Failed(other.to_string()),
        }
    }
}
