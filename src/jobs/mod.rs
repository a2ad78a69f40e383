//! Job kinds: the finance domain. Each kind implements
//! [`crate::runtime::JobKind`] and knows nothing of ZooKeeper or scheduling.

pub mod business;
pub mod carry_digest;
pub mod checksum;
pub mod command;
pub mod compensation;
pub mod params;
pub mod recon;
pub mod repayment;
pub mod settlement;

use std::sync::Arc;

use crate::runtime::KindRegistry;

/// Every job kind built into reckon.
pub fn builtin() -> KindRegistry {
    let mut kinds = KindRegistry::new();
    kinds.register(Arc::new(command::Command));
    kinds.register(Arc::new(repayment::Repayment));
    kinds.register(Arc::new(settlement::Settlement));
    kinds.register(Arc::new(checksum::Checksum));
    kinds.register(Arc::new(compensation::Compensation::default()));
    kinds.register(Arc::new(recon::funds::ReconFunds));
    kinds.register(Arc::new(recon::internal::InternalRecon));
    kinds
}

/// Loads the fixture data that the built-in job kinds read (used by
/// `reckon demo` and the tests); returns a one-line description of what was loaded.
pub async fn load_fixtures(
    db: &crate::db::Db,
    fixtures: &std::path::Path,
    business_date: chrono::NaiveDate,
) -> Result<String, crate::runtime::JobError> {
    let loaded = [
        compensation::fixtures::load(db, &fixtures.join("compensation"), business_date).await?,
        repayment::fixtures::load(db, &fixtures.join("repayment"), business_date).await?,
        business::fixtures::load(db, &fixtures.join("settlement"), business_date).await?,
        recon::internal::fixtures::load(db, &fixtures.join("recon/internal"), business_date)
            .await?,
    ];
    Ok(loaded.join("; "))
}
