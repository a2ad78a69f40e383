//! Operator actions shared by the command line and the console, so both
//! validate and journal them the same way: which dates a manual run or a
//! backfill covers, and the run request that records who asked and why.
//! (Breaks and transactional messages have theirs in
//! `jobs::recon::breaks::resolve` and `jobs::compensation::manual`.)

use chrono::{NaiveDate, Utc};

use crate::catalog::JobDef;
use crate::ledger::{NewRun, Trigger};

/// Upper bound on dates in one backfill.
pub const BACKFILL_DAYS_MAX: i64 = 366;

/// A refused operator request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpsError {
    #[error("--from {from} is after --to {to}")]
    Reversed { from: NaiveDate, to: NaiveDate },
    #[error("a backfill covers at most {BACKFILL_DAYS_MAX} days; split {from}..{to}")]
    TooLong { from: NaiveDate, to: NaiveDate },
    #[error("a reason is required")]
    NoReason,
}

/// The dates of a backfill `from..=to`, in order.
pub fn date_range(from: NaiveDate, to: NaiveDate) -> Result<Vec<NaiveDate>, OpsError> {
    let days = (to - from).num_days();
    if days < 0 {
        return Err(OpsError::Reversed { from, to });
    }
    if days >= BACKFILL_DAYS_MAX {
        return Err(OpsError::TooLong { from, to });
    }
    Ok(from.iter_days().take(days as usize + 1).collect())
}

/// What `reckon run` / the console's Run form asks for: one date, a range
/// (a backfill), or nothing (the job's business-date rule applied to now).
pub fn run_dates(
    job: &JobDef,
    date: Option<NaiveDate>,
    range: Option<(NaiveDate, NaiveDate)>,
) -> Result<(Vec<NaiveDate>, Trigger), OpsError> {
    Ok(match (date, range) {
        (Some(date), _) => (vec![date], Trigger::Manual),
        (None, Some((from, to))) => (date_range(from, to)?, Trigger::Backfill),
        (None, None) => (
            vec![crate::schedule::business_date_for(job, Utc::now())],
            Trigger::Manual,
        ),
    })
}

/// The run request of a manual run or backfill, journaled with who and why.
pub fn manual_run(
    job: &crate::ledger::JobName,
    business_date: NaiveDate,
    trigger: Trigger,
    requested_by: &str,
    reason: Option<&str>,
) -> NewRun {
    NewRun {
        job: job.clone(),
        business_date,
        trigger,
        requested_by: requested_by.to_string(),
        reason: reason.map(str::to_string),
        parent_run: None,
        failed_only: false,
        params: serde_json::json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_are_inclusive_ordered_and_bounded() {
        assert_eq!(
            date_range(d("2026-11-20"), d("2026-11-22")).unwrap(),
            vec![d("2026-11-20"), d("2026-11-21"), d("2026-11-22")]
        );
        assert!(matches!(
            date_range(d("2026-11-22"), d("2026-11-20")),
            Err(OpsError::Reversed { .. })
        ));
        assert!(matches!(
            date_range(d("2025-01-01"), d("2026-11-20")),
            Err(OpsError::TooLong { .. })
        ));
    }
}
