//! Rows of the ledger as typed values.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};

use super::LedgerError;

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStatus {
    /// The name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// True once the run can no longer change.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "pending" => RunStatus::Pending,
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            other => {
                return Err(format!(
                    "`{other}` is not one of pending, running, succeeded, failed, cancelled"
                ));
            }
        })
    }
}

/// Why a run was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Cron,
    Manual,
    Misfire,
    Backfill,
    Failover,
    Rerun,
}

impl Trigger {
    /// The name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Cron => "cron",
            Trigger::Manual => "manual",
            Trigger::Misfire => "misfire",
            Trigger::Backfill => "backfill",
            Trigger::Failover => "failover",
            Trigger::Rerun => "rerun",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Trigger {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "cron" => Trigger::Cron,
            "manual" => Trigger::Manual,
            "misfire" => Trigger::Misfire,
            "backfill" => Trigger::Backfill,
            "failover" => Trigger::Failover,
            "rerun" => Trigger::Rerun,
            other => return Err(format!("`{other}` is not a trigger")),
        })
    }
}

/// Identity stored and bound as its text (`sqlx` transparent): reads as the
/// text wherever a `&str` is taken (SQL binds, paths, logs, messages) and
/// compares with plain strings.
macro_rules! text_identity {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug,
            Clone,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            serde::Serialize,
            serde::Deserialize,
            sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> $name {
                $name(text)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> $name {
                $name(text.to_string())
            }
        }

        impl From<&String> for $name {
            fn from(text: &String) -> $name {
                $name(text.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// A directory name (`reports/{date}/{job}/{run_id}/`).
        impl AsRef<std::path::Path> for $name {
            fn as_ref(&self) -> &std::path::Path {
                std::path::Path::new(&self.0)
            }
        }

        impl AsRef<std::ffi::OsStr> for $name {
            fn as_ref(&self) -> &std::ffi::OsStr {
                std::ffi::OsStr::new(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

text_identity!(
    /// A run's identity (UUIDv7 text), where the node loop passes runs around.
    RunId
);

impl RunId {
    /// A new run's id (UUIDv7: ordered by creation).
    pub fn generate() -> RunId {
        RunId(uuid::Uuid::now_v7().to_string())
    }
}

text_identity!(
    /// A job's name from the catalog, where the node loop passes jobs around.
    JobName
);

/// Job names key maps and sets looked up by `&str`.
impl std::borrow::Borrow<str> for JobName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A shard's fencing token: the epoch of `(job, business_date, item)` in
/// `shard_fences`, bumped by every claim. Distinct from the leader
/// [`super::Epoch`], so the two cannot be mixed up.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct ShardEpoch(pub i64);

impl fmt::Display for ShardEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl RunRecord {
    /// The run's identity, typed.
    pub fn id(&self) -> RunId {
        self.run_id.clone()
    }

    /// The run's job, typed.
    pub fn job_name(&self) -> JobName {
        self.job.clone()
    }
}

/// A request to create a run.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub job: JobName,
    pub business_date: NaiveDate,
    pub trigger: Trigger,
    pub requested_by: String,
    pub reason: Option<String>,
    pub parent_run: Option<RunId>,
    /// Rerun only the shards that did not succeed in `parent_run`.
    pub failed_only: bool,
    pub params: serde_json::Value,
}

/// One run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub run_id: RunId,
    pub job: JobName,
    pub business_date: NaiveDate,
    pub attempt: i64,
    pub trigger: Trigger,
    pub status: RunStatus,
    pub requested_by: String,
    pub reason: Option<String>,
    pub parent_run: Option<RunId>,
    pub failed_only: bool,
    pub params: serde_json::Value,
    pub owner: Option<String>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub outcome: Option<serde_json::Value>,
}

#[derive(sqlx::FromRow)]
pub(super) struct RunRow {
    run_id: RunId,
    job: JobName,
    business_date: NaiveDate,
    attempt: i64,
    trigger: String,
    status: String,
    requested_by: String,
    reason: Option<String>,
    parent_run: Option<RunId>,
    failed_only: bool,
    params: String,
    owner: Option<String>,
    heartbeat_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    error: Option<String>,
    outcome: Option<String>,
}

fn json(text: &str) -> Result<serde_json::Value, LedgerError> {
    serde_json::from_str(text).map_err(|e| LedgerError::Corrupt(format!("json `{text}`: {e}")))
}

impl TryFrom<RunRow> for RunRecord {
    type Error = LedgerError;
    fn try_from(row: RunRow) -> Result<Self, Self::Error> {
        Ok(RunRecord {
            trigger: row.trigger.parse().map_err(LedgerError::Corrupt)?,
            status: row.status.parse().map_err(LedgerError::Corrupt)?,
            params: json(&row.params)?,
            outcome: row.outcome.as_deref().map(json).transpose()?,
            run_id: row.run_id,
            job: row.job,
            business_date: row.business_date,
            attempt: row.attempt,
            requested_by: row.requested_by,
            reason: row.reason,
            parent_run: row.parent_run,
            failed_only: row.failed_only,
            owner: row.owner,
            heartbeat_at: row.heartbeat_at,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            error: row.error,
        })
    }
}

/// One shard of one run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardRecord {
    pub run_id: RunId,
    pub item: u32,
    pub instance: Option<String>,
    pub epoch: Option<ShardEpoch>,
    pub status: RunStatus,
    pub attempts: i64,
    pub rows_in: i64,
    pub rows_out: i64,
    pub error: Option<String>,
    /// The earlier run whose committed outputs this shard reuses.
    pub carried_from: Option<RunId>,
    pub outcome: Option<serde_json::Value>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Last sign of life of the node holding the shard.
    pub heartbeat_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
pub(super) struct ShardRow {
    run_id: RunId,
    item: i64,
    instance: Option<String>,
    epoch: Option<ShardEpoch>,
    status: String,
    attempts: i64,
    rows_in: i64,
    rows_out: i64,
    error: Option<String>,
    carried_from: Option<RunId>,
    outcome: Option<String>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    heartbeat_at: Option<DateTime<Utc>>,
}

impl TryFrom<ShardRow> for ShardRecord {
    type Error = LedgerError;
    fn try_from(row: ShardRow) -> Result<Self, Self::Error> {
        Ok(ShardRecord {
            item: u32::try_from(row.item)
                .map_err(|_| LedgerError::Corrupt(format!("shard item {}", row.item)))?,
            status: row.status.parse().map_err(LedgerError::Corrupt)?,
            outcome: row.outcome.as_deref().map(json).transpose()?,
            run_id: row.run_id,
            instance: row.instance,
            epoch: row.epoch,
            attempts: row.attempts,
            rows_in: row.rows_in,
            rows_out: row.rows_out,
            error: row.error,
            carried_from: row.carried_from,
            started_at: row.started_at,
            finished_at: row.finished_at,
            heartbeat_at: row.heartbeat_at,
        })
    }
}

/// One entry of the append-only event log.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub run_id: RunId,
    pub item: Option<i64>,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub message: String,
}

/// Filters for listing runs; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub job: Option<JobName>,
    pub business_date: Option<NaiveDate>,
    pub status: Option<RunStatus>,
    /// Upper bound on rows returned (newest first).
    pub limit: i64,
}
