//! Quartz-style cron expressions (6 fields with seconds, optional year)
//! evaluated in a job's time zone.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// A validated cron expression.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    source: String,
    schedule: cron::Schedule,
}

impl CronSchedule {
    /// Parses `sec min hour day-of-month month day-of-week [year]`.
    pub fn parse(text: &str) -> Result<CronSchedule, String> {
        let fields = text.split_whitespace().count();
        if fields == 5 {
            return Err(format!(
                "`{text}` has 5 fields; reckon wants 6 (seconds first, Quartz style): try `0 {text}`"
            ));
        }
        if !(6..=7).contains(&fields) {
            return Err(format!(
                "`{text}` has {fields} fields; want 6 (sec min hour day month weekday) or 7 (with year)"
            ));
        }
        let schedule = cron::Schedule::from_str(text)
            .map_err(|e| format!("`{text}` is not a valid cron expression: {e}"))?;
        if schedule.upcoming(Utc).next().is_none() {
            return Err(format!("`{text}` never fires"));
        }
        Ok(CronSchedule {
            source: text.to_string(),
            schedule,
        })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Fire times strictly after `after`, evaluated in `zone`.
    pub fn fires_after(
        &self,
        zone: Tz,
        after: DateTime<Utc>,
    ) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.schedule
            .after(&after.with_timezone(&zone))
            .map(|t| t.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn fires_in_the_job_zone() {
        let cron = CronSchedule::parse("0 30 1 * * *").unwrap();
        let after = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
        let fires: Vec<_> = cron
            .fires_after(chrono_tz::Asia::Shanghai, after)
            .take(2)
            .collect();
        // 01:30 in Shanghai is 17:30 UTC the day before.
        assert_eq!(
            fires[0],
            Utc.with_ymd_and_hms(2026, 11, 20, 17, 30, 0).unwrap()
        );
        assert_eq!(
            fires[1],
            Utc.with_ymd_and_hms(2026, 11, 21, 17, 30, 0).unwrap()
        );
    }

    #[test]
    fn refuses_bad_expressions() {
        for (text, needle) in [
            ("30 1 * * *", "5 fields"),
            ("0 30 1 * *  * * *", "8 fields"),
            ("0 61 1 * * *", "not a valid cron"),
        ] {
            let err = CronSchedule::parse(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
