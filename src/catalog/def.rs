//! Typed job definitions, built only through validation in [`super::load`].

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::schedule::CronSchedule;

/// What `reckon run` and the scheduler need to know about one job.
#[derive(Debug, Clone)]
pub struct JobDef {
    /// Unique name, also the file stem of its TOML file.
    pub name: crate::ledger::JobName,
    /// The job kind that implements it (`settlement`, `recon-funds`, …).
    pub kind: String,
    pub description: String,
    /// When the scheduler fires it; `None` for manual-only jobs.
    pub cron: Option<CronSchedule>,
    /// Zone in which cron fire times and business dates are read.
    pub time_zone: Tz,
    pub business_date: BusinessDateRule,
    /// Number of shard items (≥ 1).
    pub shards: u32,
    pub item_parameters: ItemParameters,
    /// Limit on one attempt of one shard.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub misfire: MisfirePolicy,
    /// Jobs that must have succeeded for the same business date first.
    pub depends_on: Vec<crate::ledger::JobName>,
    /// How long a run waits for its dependencies before failing.
    pub depends_wait: Duration,
    pub enabled: bool,
    /// Write `report.xlsx` beside the CSV reports (`reports_xlsx = true`).
    pub reports_xlsx: bool,
    /// Whether a succeeded business date may run again on the next fire.
    pub runs_per_date: RunsPerDate,
    /// How a cluster spreads the items over its instances (`sharding = "average"`,
    /// `"odevity"` or `"round_robin"`); ignored by a single node.
    pub sharding: crate::sharding::Strategy,
    /// SLA: local time (in `time_zone`) by which the expected business date
    /// must have a succeeded run (`deadline = "08:00"`); an alert otherwise.
    pub deadline: Option<chrono::NaiveTime>,
    /// Kind-specific parameters (the `[params]` table).
    pub params: toml::Table,
    /// The file it was loaded from.
    pub source: std::path::PathBuf,
}

/// How many successful runs one business date may have without an explicit rerun.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunsPerDate {
    /// Settlement-style jobs: a succeeded date is refused until someone reruns
    /// it with a reason (`runs_per_date = "once"`, the default).
    #[default]
    Once,
    /// Jobs that work on live state rather than a day's inputs (compensation):
    /// every fire makes a new attempt of the date, still never two at once
    /// (`runs_per_date = "every_fire"`).
    EveryFire,
}

/// Which calendar day a fire time works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusinessDateRule {
    /// The calendar day before the fire time, in the job's zone (default).
    PreviousDay,
    /// The calendar day of the fire time, in the job's zone.
    SameDay,
}

impl BusinessDateRule {
    /// The business date for a fire time's local calendar date.
    pub fn for_local_date(self, local: NaiveDate) -> NaiveDate {
        match self {
            BusinessDateRule::PreviousDay => local.pred_opt().unwrap_or(local),
            BusinessDateRule::SameDay => local,
        }
    }
}

/// What the scheduler does about fire times missed while no node ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MisfirePolicy {
    /// Collapse all missed fire times into one catch-up run (the latest).
    FireOnce,
    /// Drop missed fire times; wait for the next one.
    Skip,
    /// Run every missed business date, one at a time in date order, oldest
    /// first (Airflow's catchup: <https://airflow.apache.org/docs/apache-airflow/stable/core-concepts/dag-run.html#catchup>).
    CatchUp,
}

impl MisfirePolicy {
    /// The name used in job files.
    pub fn name(self) -> &'static str {
        match self {
            MisfirePolicy::FireOnce => "fire_once",
            MisfirePolicy::Skip => "skip",
            MisfirePolicy::CatchUp => "catch_up",
        }
    }
}

/// Per-shard retries with exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = one attempt only).
    pub retries: u32,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based): initial × 2^(retry-1), capped.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.backoff_initial
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// Per-item parameters, from `"0=alipay,1=wechat"`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemParameters(BTreeMap<u32, String>);

impl ItemParameters {
    /// Parses `"0=a,1=b"`; each index must be below `shards`.
    pub fn parse(text: &str, shards: u32) -> Result<ItemParameters, String> {
        let mut map = BTreeMap::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (index, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not of the form INDEX=VALUE"))?;
            let index: u32 = index
                .trim()
                .parse()
                .map_err(|_| format!("`{}` in `{part}` is not a shard index", index.trim()))?;
            if index >= shards {
                return Err(format!(
                    "item {index} in `{part}` is not below the shard count {shards}"
                ));
            }
            if map.insert(index, value.trim().to_string()).is_some() {
                return Err(format!("item {index} is given twice"));
            }
        }
        Ok(ItemParameters(map))
    }

    /// The parameter of one item, if any.
    pub fn get(&self, item: u32) -> Option<&str> {
        self.0.get(&item).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_parameters_parse_and_refuse() {
        let params = ItemParameters::parse("0=alipay, 1=wechat", 2).unwrap();
        assert_eq!(params.get(0), Some("alipay"));
        assert_eq!(params.get(1), Some("wechat"));
        assert_eq!(params.get(2), None);
        for (text, needle) in [
            ("0=a,2=b", "not below the shard count 2"),
            ("0=a,0=b", "given twice"),
            ("x=a", "not a shard index"),
            ("0", "not of the form"),
        ] {
            let err = ItemParameters::parse(text, 2).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let policy = RetryPolicy {
            retries: 5,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5),
        };
        let waits: Vec<u64> = (1..=5).map(|r| policy.backoff(r).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
    }

    #[test]
    fn business_date_rules() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(
            BusinessDateRule::PreviousDay.for_local_date(d),
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()
        );
        assert_eq!(BusinessDateRule::SameDay.for_local_date(d), d);
    }
}
