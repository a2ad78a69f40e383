//! Time: cron fire times in a job's zone, business dates, misfire detection,
//! and the [`Clock`] behind which tests move time.

mod clock;
mod cron_expr;
mod misfire;

pub use clock::{Clock, ManualClock, SystemClock};
pub use cron_expr::CronSchedule;
pub use misfire::{MisfireDecision, decide_misfire};

use chrono::{DateTime, NaiveDate, Utc};

use crate::catalog::JobDef;

/// The business date a job works on when fired at `fire_at`.
pub fn business_date_for(job: &JobDef, fire_at: DateTime<Utc>) -> NaiveDate {
    let local = fire_at.with_timezone(&job.time_zone).date_naive();
    job.business_date.for_local_date(local)
}

/// The next `count` fire times of a job after `after`, or none when it has no cron.
pub fn next_fires(job: &JobDef, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
    match &job.cron {
        Some(cron) => cron.fires_after(job.time_zone, after).take(count).collect(),
        None => Vec::new(),
    }
}
