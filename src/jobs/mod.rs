//! Job kinds: the finance domain. Each kind implements
//! [`crate::runtime::JobKind`] and knows nothing of ZooKeeper or scheduling.

pub mod command;
pub mod params;
pub mod recon;

use std::sync::Arc;

use crate::runtime::KindRegistry;

/// Every job kind built into reckon.
pub fn builtin() -> KindRegistry {
    let mut kinds = KindRegistry::new();
    kinds.register(Arc::new(command::Command));
    kinds
}

/// Loads the fixture data that the built-in job kinds read (used by
/// `reckon demo` and the tests); returns a one-line description of what was loaded.
pub async fn load_fixtures(
    _db: &crate::db::Db,
    _fixtures: &std::path::Path,
    _business_date: chrono::NaiveDate,
) -> Result<String, crate::runtime::JobError> {
    Ok("no fixture tables yet".to_string())
}
