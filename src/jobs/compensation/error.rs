//! Errors of the compensation kind, in words a finance operator understands.

use super::state::State;
use crate::runtime::JobError;

/// Why a compensation step or a manual action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CompensationError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("cannot open the business database of transaction type `{txn_type}`")]
    BusinessDb {
        txn_type: String,
        #[source]
        source: crate::db::DbError,
    },
    #[error("no transactional message `{0}`")]
    NotFound(String),
    #[error("message `{0}` already exists")]
    Duplicate(String),
    /// A manual action or confirmation that the message's state does not allow.
    #[error("message `{id}` is {state}: {reason}")]
    Refused {
        id: String,
        state: State,
        reason: String,
    },
    #[error("message `{id}`: {reason}")]
    BadMessage { id: String, reason: String },
    #[error("stored message `{id}` has an unknown state `{state}`")]
    CorruptState { id: String, state: String },
    /// Another claim of the shard superseded this one (DESIGN.md invariant 2).
    #[error(transparent)]
    Fenced(crate::ledger::LedgerError),
    #[error("cancelled")]
    Cancelled,
    /// A fault injected by a test hook (simulated crash).
    #[error("simulated crash: {0}")]
    Crash(String),
}

impl From<CompensationError> for JobError {
    fn from(e: CompensationError) -> JobError {
        match e {
            CompensationError::Database(e) => JobError::Database(e),
            CompensationError::Fenced(e) => JobError::Ledger(e),
            CompensationError::Cancelled => JobError::Cancelled,
            CompensationError::BadMessage { .. } => JobError::Input(e.to_string()),
            other => JobError::Failed(crate::error_chain::chain(&other)),
        }
    }
}
