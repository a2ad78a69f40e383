//! What to do about fire times missed while no node was running.

use chrono::{DateTime, Utc};

use crate::catalog::{JobDef, MisfirePolicy};

/// The scheduler's decision for one job at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MisfireDecision {
    /// Fire times in `(last handled, now]` that nobody handled.
    pub missed: Vec<DateTime<Utc>>,
    /// The fire time to run once as a catch-up, if the policy says so.
    pub run_for: Option<DateTime<Utc>>,
}

/// Upper bound on missed fire times examined (a per-second cron down for a week).
const MISSED_FIRES_MAX: usize = 10_000;

/// Looks for fire times after `last_handled` up to `now` and applies the policy:
/// `fire_once` collapses them into one run for the latest, `skip` drops them,
/// `catch_up` runs the oldest first.
pub fn decide_misfire(
    job: &JobDef,
    last_handled: DateTime<Utc>,
    now: DateTime<Utc>,
) -> MisfireDecision {
    let missed: Vec<DateTime<Utc>> = match &job.cron {
        Some(cron) => cron
            .fires_after(job.time_zone, last_handled)
            .take_while(|t| *t <= now)
            .take(MISSED_FIRES_MAX)
            .collect(),
        None => Vec::new(),
    };
    let run_for = match job.misfire {
        MisfirePolicy::FireOnce => missed.last().copied(),
        MisfirePolicy::Skip => None,
        // One date at a time, oldest first; the rest follow on later ticks.
        MisfirePolicy::CatchUp => missed.first().copied(),
    };
    MisfireDecision { missed, run_for }
}
