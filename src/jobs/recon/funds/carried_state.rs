//! What a `recon-funds` date carries into the next one: its one-sided
//! records (pending, missing on either side) that later dates re-examine,
//! and what it decided about the records it carried from earlier dates. A
//! rerun of D that changes either (a late order, a corrected statement)
//! makes the later dates stale: they paired against the old set.

use crate::jobs::carry_digest::CarryDigest;
use crate::jobs::recon::engine::{DiffRecord, SideValues};

use super::carry::{Decision, ONE_SIDED};

/// The carry digest of a date's diff records and carried-record decisions
/// (both in report order), and of the passes' rows that later dates build on
/// (`extra`: the refunds the date counted).
pub fn digest(records: &[DiffRecord], decisions: &[Decision], extra: &[Vec<String>]) -> String {
    let side = |values: &Option<SideValues>| match values {
        Some(v) => format!("{} {}", v.amount, v.time),
        None => String::new(),
    };
    let mut digest = CarryDigest::default();
    for record in records
        .iter()
        .filter(|r| ONE_SIDED.contains(&r.category.as_str()))
    {
        digest.row(&[
            "record",
            record.category.as_str(),
            record.key.as_str(),
            record.kind.as_str(),
            side(&record.ledger).as_str(),
            side(&record.statement).as_str(),
        ]);
    }
    for decision in decisions {
        digest.row(&[
            "carried".to_string(),
            decision.carried.id.to_string(),
            decision.state.as_str().to_string(),
            decision.category.clone(),
        ]);
    }
    for row in extra {
        digest.row(row);
    }
    digest.finish()
}
