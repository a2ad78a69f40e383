//! Reading `jobs/*.toml` and validating every field, across files too
//! (unique names, known dependencies, no dependency cycles).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;

use super::def::{
    BusinessDateRule, ItemParameters, JobDef, MisfirePolicy, RetryPolicy, RunsPerDate,
};
use crate::ledger::JobName;
use crate::schedule::CronSchedule;

/// Upper bound on shard items per job.
pub const SHARDS_MAX: u32 = 1024;
/// Upper bound on retries per shard.
pub const RETRIES_MAX: u32 = 100;

/// One thing wrong with one job file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    pub path: PathBuf,
    /// The offending field (`cron`, `depends_on`, `params.format`, …), or `file`.
    pub field: String,
    pub reason: String,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: field `{}`: {}",
            self.path.display(),
            self.field,
            self.reason
        )
    }
}

/// Why the catalog could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read the job directory {}", path.display())]
    Directory {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid job definitions:\n{}", list(.0))]
    Invalid(Vec<FileProblem>),
    #[error("no job named `{0}` in the catalog")]
    UnknownJob(String),
}

fn list(problems: &[FileProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Validates a job kind name and its `[params]` table; implemented by the
/// registry of job kinds so the catalog knows nothing of finance.
pub trait KindCheck {
    /// `Err((field, reason))` when the kind is unknown or a parameter is wrong;
    /// `field` is relative to `params` (or `kind`).
    fn check(&self, kind: &str, params: &toml::Table) -> Result<(), (String, String)>;
}

/// The validated set of jobs, in name order.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    jobs: BTreeMap<JobName, JobDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: String,
    kind: String,
    #[serde(default)]
    description: String,
    cron: Option<String>,
    time_zone: Option<String>,
    business_date: Option<String>,
    shards: Option<i64>,
    item_parameters: Option<String>,
    timeout: Option<String>,
    retries: Option<i64>,
    retry_backoff: Option<String>,
    retry_backoff_max: Option<String>,
    misfire: Option<String>,
    #[serde(default)]
    depends_on: Vec<String>,
    depends_wait: Option<String>,
    enabled: Option<bool>,
    reports_xlsx: Option<bool>,
    runs_per_date: Option<String>,
    sharding: Option<String>,
    deadline: Option<String>,
    #[serde(default)]
    params: toml::Table,
}

impl Catalog {
    /// Loads every `*.toml` in `dir` (sorted by name) and validates them.
    pub fn load_dir(dir: &Path, kinds: &dyn KindCheck) -> Result<Catalog, CatalogError> {
        let entries = std::fs::read_dir(dir).map_err(|source| CatalogError::Directory {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        paths.sort();
        let mut files = Vec::with_capacity(paths.len());
        let mut problems = Vec::new();
        for path in paths {
            match std::fs::read_to_string(&path) {
                Ok(text) => files.push((path, text)),
                Err(e) => problems.push(problem(&path, "file", format!("cannot read: {e}"))),
            }
        }
        let loaded = Catalog::from_sources(&files, kinds);
        match loaded {
            Err(CatalogError::Invalid(more)) => {
                problems.extend(more);
                Err(CatalogError::Invalid(problems))
            }
            Ok(_) if !problems.is_empty() => Err(CatalogError::Invalid(problems)),
            other => other,
        }
    }

    /// Validates job files given as `(path, text)` pairs.
    pub fn from_sources(
        files: &[(PathBuf, String)],
        kinds: &dyn KindCheck,
    ) -> Result<Catalog, CatalogError> {
        let mut problems = Vec::new();
        let mut jobs = BTreeMap::new();
        for (path, text) in files {
            match parse_job(path, text, kinds) {
                Ok(job) => {
                    if let Some(previous) = jobs.get(&job.name) {
                        let previous: &JobDef = previous;
                        problems.push(problem(
                            path,
                            "name",
                            format!(
                                "job `{}` is already defined in {}",
                                job.name,
                                previous.source.display()
                            ),
                        ));
                    } else {
                        jobs.insert(job.name.clone(), job);
                    }
                }
                Err(mut p) => problems.append(&mut p),
            }
        }
        problems.extend(check_dependencies(&jobs));
        if problems.is_empty() {
            Ok(Catalog { jobs })
        } else {
            Err(CatalogError::Invalid(problems))
        }
    }

    /// A job by name.
    pub fn get(&self, name: &str) -> Result<&JobDef, CatalogError> {
        self.jobs
            .get(name)
            .ok_or_else(|| CatalogError::UnknownJob(name.to_string()))
    }

    /// All jobs in name order.
    pub fn jobs(&self) -> impl Iterator<Item = &JobDef> {
        self.jobs.values()
    }

    /// The jobs that depend on `name` (`depends_on`), in name order.
    pub fn dependents_of(&self, name: &JobName) -> Vec<JobName> {
        self.jobs()
            .filter(|other| other.depends_on.contains(name))
            .map(|other| other.name.clone())
            .collect()
    }

    /// Job names in an order where every job comes after its dependencies.
    pub fn dependency_order(&self) -> Vec<&JobDef> {
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut ordered = Vec::with_capacity(self.jobs.len());
        while ordered.len() < self.jobs.len() {
            let before = ordered.len();
            for job in self.jobs.values() {
                let ready = job.depends_on.iter().all(|d| done.contains(d.as_str()));
                if !done.contains(job.name.as_str()) && ready {
                    done.insert(&job.name);
                    ordered.push(job);
                }
            }
            // Validation refuses cycles, so this only guards against a logic error.
            assert!(
                ordered.len() > before,
                "dependency cycle in a validated catalog"
            );
        }
        ordered
    }
}

fn problem(path: &Path, field: &str, reason: impl Into<String>) -> FileProblem {
    FileProblem {
        path: path.to_path_buf(),
        field: field.to_string(),
        reason: reason.into(),
    }
}

fn parse_job(path: &Path, text: &str, kinds: &dyn KindCheck) -> Result<JobDef, Vec<FileProblem>> {
    let raw: RawJob = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
        let reason = match line {
            Some(line) => format!("{} (line {line})", e.message()),
            None => e.message().to_string(),
        };
        vec![problem(path, &toml_field(&e), reason)]
    })?;
    let mut problems = Vec::new();
    let mut report = |field: &str, reason: String| problems.push(problem(path, field, reason));
    let def = build(path, raw, kinds, &mut report);
    match def {
        Some(def) if problems.is_empty() => Ok(def),
        _ => Err(problems),
    }
}

/// The field a TOML error points at, from its span, or `file`.
fn toml_field(err: &toml::de::Error) -> String {
    let message = err.message();
    ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| {
            let (field, _) = message.strip_prefix(prefix)?.split_once('`')?;
            Some(field.to_string())
        })
        .unwrap_or_else(|| "file".to_string())
}

fn build(
    path: &Path,
    raw: RawJob,
    kinds: &dyn KindCheck,
    report: &mut dyn FnMut(&str, String),
) -> Option<JobDef> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if !valid_name(&raw.name) {
        report(
            "name",
            format!("`{}` must be 1-64 of a-z, 0-9, - and _", raw.name),
        );
    } else if raw.name != stem {
        report(
            "name",
            format!("`{}` must match the file name `{stem}.toml`", raw.name),
        );
    }
    if let Err((field, reason)) = kinds.check(&raw.kind, &raw.params) {
        let field = if field == "kind" {
            field
        } else {
            format!("params.{field}")
        };
        report(&field, reason);
    }
    let time_zone = parse_zone(raw.time_zone.as_deref(), report);
    let cron = raw.cron.as_deref().and_then(|text| {
        CronSchedule::parse(text)
            .map_err(|e| report("cron", e))
            .ok()
    });
    let shards = match raw.shards.unwrap_or(1) {
        n if (1..=i64::from(SHARDS_MAX)).contains(&n) => n as u32,
        n => {
            report("shards", format!("{n} is not between 1 and {SHARDS_MAX}"));
            1
        }
    };
    let item_parameters =
        ItemParameters::parse(raw.item_parameters.as_deref().unwrap_or(""), shards)
            .map_err(|e| report("item_parameters", e))
            .unwrap_or_default();
    let retries = match raw.retries.unwrap_or(0) {
        n if (0..=i64::from(RETRIES_MAX)).contains(&n) => n as u32,
        n => {
            report("retries", format!("{n} is not between 0 and {RETRIES_MAX}"));
            0
        }
    };
    let mut duration = |field: &str, value: &Option<String>, default: Duration| {
        parse_duration(field, value.as_deref(), default, report)
    };
    let timeout = duration("timeout", &raw.timeout, Duration::from_secs(3600));
    let backoff_initial = duration("retry_backoff", &raw.retry_backoff, Duration::from_secs(5));
    let backoff_max = duration(
        "retry_backoff_max",
        &raw.retry_backoff_max,
        Duration::from_secs(300),
    );
    let depends_wait = duration("depends_wait", &raw.depends_wait, Duration::from_secs(7200));
    let business_date = match raw.business_date.as_deref().unwrap_or("previous_day") {
        "previous_day" => BusinessDateRule::PreviousDay,
        "same_day" => BusinessDateRule::SameDay,
        other => {
            report(
                "business_date",
                format!("`{other}` is not one of previous_day, same_day"),
            );
            BusinessDateRule::PreviousDay
        }
    };
    let misfire = match raw.misfire.as_deref().unwrap_or("fire_once") {
        "fire_once" => MisfirePolicy::FireOnce,
        "skip" => MisfirePolicy::Skip,
        "catch_up" => MisfirePolicy::CatchUp,
        other => {
            report(
                "misfire",
                format!("`{other}` is not one of fire_once, skip, catch_up"),
            );
            MisfirePolicy::FireOnce
        }
    };
    let runs_per_date = match raw.runs_per_date.as_deref().unwrap_or("once") {
        "once" => RunsPerDate::Once,
        "every_fire" => RunsPerDate::EveryFire,
        other => {
            report(
                "runs_per_date",
                format!("`{other}` is not one of once, every_fire"),
            );
            RunsPerDate::Once
        }
    };
    let sharding = raw
        .sharding
        .as_deref()
        .unwrap_or("average")
        .parse::<crate::sharding::Strategy>()
        .map_err(|e| report("sharding", e))
        .unwrap_or_default();
    let deadline = raw.deadline.as_deref().and_then(|text| {
        chrono::NaiveTime::parse_from_str(text, "%H:%M")
            .map_err(|_| {
                report(
                    "deadline",
                    format!("`{text}` is not a local time HH:MM (24-hour clock)"),
                )
            })
            .ok()
    });
    Some(JobDef {
        name: raw.name.into(),
        kind: raw.kind,
        description: raw.description,
        cron,
        time_zone: time_zone?,
        business_date,
        shards,
        item_parameters,
        timeout,
        retry: RetryPolicy {
            retries,
            backoff_initial,
            backoff_max,
        },
        misfire,
        depends_on: raw.depends_on.into_iter().map(JobName::from).collect(),
        depends_wait,
        enabled: raw.enabled.unwrap_or(true),
        reports_xlsx: raw.reports_xlsx.unwrap_or(false),
        runs_per_date,
        sharding,
        deadline,
        params: raw.params,
        source: path.to_path_buf(),
    })
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn parse_zone(text: Option<&str>, report: &mut dyn FnMut(&str, String)) -> Option<Tz> {
    let text = text.unwrap_or("Asia/Shanghai");
    match text.parse::<Tz>() {
        Ok(zone) => Some(zone),
        Err(_) => {
            report(
                "time_zone",
                format!("`{text}` is not an IANA time zone (e.g. Asia/Shanghai)"),
            );
            None
        }
    }
}

fn parse_duration(
    field: &str,
    text: Option<&str>,
    default: Duration,
    report: &mut dyn FnMut(&str, String),
) -> Duration {
    let Some(text) = text else { return default };
    match humantime::parse_duration(text) {
        Ok(d) => d,
        Err(e) => {
            report(
                field,
                format!("`{text}` is not a duration like 30s, 10m, 2h ({e})"),
            );
            default
        }
    }
}

fn check_dependencies(jobs: &BTreeMap<JobName, JobDef>) -> Vec<FileProblem> {
    let mut problems = Vec::new();
    for job in jobs.values() {
        for dep in &job.depends_on {
            if !jobs.contains_key(dep.as_str()) {
                problems.push(problem(
                    &job.source,
                    "depends_on",
                    format!("unknown job `{dep}`"),
                ));
            }
        }
    }
    for job in jobs.values() {
        if let Some(cycle) = find_cycle(jobs, &job.name) {
            problems.push(problem(
                &job.source,
                "depends_on",
                format!("dependency cycle: {}", cycle.join(" → ")),
            ));
        }
    }
    problems
}

/// A dependency path from `start` back to itself, if there is one.
fn find_cycle(jobs: &BTreeMap<JobName, JobDef>, start: &str) -> Option<Vec<String>> {
    let mut stack: Vec<(String, Vec<String>)> = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((name, path)) = stack.pop() {
        let Some(job) = jobs.get(name.as_str()) else {
            continue;
        };
        for dep in &job.depends_on {
            if *dep == start {
                let mut cycle = path.clone();
                cycle.push(dep.to_string());
                return Some(cycle);
            }
            if seen.insert(dep.to_string()) {
                let mut next = path.clone();
                next.push(dep.to_string());
                stack.push((dep.to_string(), next));
            }
        }
    }
    None
}
