//! The runner: creates runs, executes their shards (bounded concurrency,
//! retries, timeouts, cancellation, fencing), waits at the barrier and
//! finalizes. Knows scheduling, nothing of finance.

mod carry;
mod cascade;
mod coordinator;
mod execute;
mod kind;
mod progress;
mod registry;
mod shard;

pub use cascade::CascadeReport;
pub use coordinator::{
    Assignment, CoordError, Coordinator, PendingRequest, RequestAnswer, RunRequest,
};
pub use kind::{JobError, JobKind, LeadTx, Paths, RunCtx, RunOutcome, ShardCtx, ShardOutcome};
pub use progress::{Progress, ProgressSnapshot};
pub use registry::KindRegistry;
pub use shard::ItemEnd;

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, CatalogError, RunsPerDate};
use crate::ledger::{
    Epoch, JobName, Ledger, LedgerError, NewRun, RunId, RunRecord, RunStatus, ShardRecord, Trigger,
};

/// Limits and timings of the runner.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Shards executing at once in this process.
    pub parallel_shards_max: usize,
    /// A run whose heartbeat is older than this is taken as abandoned.
    pub run_lease: Duration,
    /// How often a running run refreshes its heartbeat.
    pub heartbeat_interval: Duration,
    /// How often a run waiting for dependencies looks again.
    pub dependency_poll: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            parallel_shards_max: 4,
            run_lease: Duration::from_secs(60),
            heartbeat_interval: Duration::from_secs(5),
            dependency_poll: Duration::from_secs(10),
        }
    }
}

/// Errors of the runner itself (a failed shard is not one: it is a failed run).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Coord(#[from] CoordError),
    #[error("job `{job}` uses kind `{kind}`, which this build of reckon does not know")]
    UnknownKind { job: JobName, kind: String },
    #[error(
        "`{job}` already succeeded for {business_date} (run {run_id}); to run it again use `reckon rerun {run_id} --reason …`"
    )]
    AlreadySucceeded {
        job: JobName,
        business_date: NaiveDate,
        run_id: RunId,
    },
    #[error("run {run_id} is still {status}; only a finished run can be rerun")]
    NotFinished { run_id: RunId, status: RunStatus },
    #[error("shard {item} of run {run_id} holds a summary reckon cannot read: {reason}")]
    BadSummary {
        run_id: RunId,
        item: u32,
        reason: String,
    },
    #[error(
        "run {run_id} has {found} shard row(s) where {expected} were expected; it is not concluded"
    )]
    MissingShards {
        run_id: RunId,
        expected: u32,
        found: usize,
    },
    #[error("`{job}` has no succeeded run for {business_date} to rerun")]
    NothingToRerun {
        job: JobName,
        business_date: NaiveDate,
    },
}

/// Shutdown signals: `stop_new` lets running shards finish; `abort` cancels them.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    pub stop_new: CancellationToken,
    pub abort: CancellationToken,
}

/// A finished run with its shards.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run: RunRecord,
    pub shards: Vec<ShardRecord>,
}

/// Creates and executes runs.
#[derive(Clone)]
pub struct Runner {
    ledger: Ledger,
    catalog: Arc<Catalog>,
    kinds: Arc<KindRegistry>,
    coord: Arc<dyn Coordinator>,
    paths: Arc<Paths>,
    config: RunnerConfig,
    shutdown: Shutdown,
    /// Bounds the shards this node runs at once for other nodes' runs (cluster).
    worker_permits: Arc<tokio::sync::Semaphore>,
}

impl Runner {
    /// A runner over a ledger, catalog, kinds and coordinator.
    pub fn new(
        ledger: Ledger,
        catalog: Arc<Catalog>,
        kinds: Arc<KindRegistry>,
        coord: Arc<dyn Coordinator>,
        paths: Paths,
        config: RunnerConfig,
    ) -> Runner {
        Runner {
            ledger,
            catalog,
            kinds,
            coord,
            paths: Arc::new(paths),
            worker_permits: Arc::new(tokio::sync::Semaphore::new(
                config.parallel_shards_max.max(1),
            )),
            config,
            shutdown: Shutdown::default(),
        }
    }

    /// The shutdown handles of this runner.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// The ledger the runner writes to.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The coordinator this runner works under.
    pub fn coordinator(&self) -> &Arc<dyn Coordinator> {
        &self.coord
    }

    /// The catalog the runner reads jobs from.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The runner's limits and timings.
    pub fn config(&self) -> &RunnerConfig {
        &self.config
    }

    /// Creates a run (pending). A cron, manual or backfill request for a date
    /// that already succeeded is refused (unless the job runs
    /// [`RunsPerDate::EveryFire`]): reruns go through [`Runner::rerun`].
    pub async fn request(&self, new: NewRun) -> Result<RunRecord, RunError> {
        self.request_as(new, None, None).await
    }

    /// [`Runner::request`] as a leader write under the leader epoch `lead`;
    /// `fire` is the cron fire time the run answers, recorded as handled in
    /// the run's own transaction.
    pub async fn request_as(
        &self,
        new: NewRun,
        lead: Option<Epoch>,
        fire: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<RunRecord, RunError> {
        let job = self.catalog.get(&new.job)?;
        if self.kinds.get(&job.kind).is_none() {
            return Err(RunError::UnknownKind {
                job: job.name.clone(),
                kind: job.kind.clone(),
            });
        }
        let fresh = matches!(
            new.trigger,
            Trigger::Cron | Trigger::Manual | Trigger::Backfill | Trigger::Misfire
        );
        if fresh
            && job.runs_per_date == RunsPerDate::Once
            && let Some(done) = self
                .ledger
                .succeeded_run(&new.job, new.business_date)
                .await?
        {
            return Err(RunError::AlreadySucceeded {
                job: new.job,
                business_date: new.business_date,
                run_id: done.run_id,
            });
        }
        Ok(self
            .ledger
            .create_run_as(
                &new,
                self.config.run_lease,
                &self.catalog.dependents_of(&new.job),
                lead,
                fire,
            )
            .await?)
    }

    /// Creates a new attempt of a finished run's job and date, linked to it;
    /// with `failed_only`, shards that succeeded in it are carried over.
    pub async fn request_rerun(
        &self,
        parent_run: &RunId,
        failed_only: bool,
        reason: &str,
        requested_by: &str,
    ) -> Result<RunRecord, RunError> {
        self.request_rerun_as(parent_run, failed_only, reason, requested_by, None)
            .await
    }

    /// [`Runner::request_rerun`] as a leader write under `lead`.
    pub async fn request_rerun_as(
        &self,
        parent_run: &RunId,
        failed_only: bool,
        reason: &str,
        requested_by: &str,
        lead: Option<Epoch>,
    ) -> Result<RunRecord, RunError> {
        let parent = self.ledger.run(parent_run).await?;
        if !parent.status.is_final() {
            return Err(RunError::NotFinished {
                run_id: parent.run_id,
                status: parent.status,
            });
        }
        let new = NewRun {
            job: parent.job.clone(),
            business_date: parent.business_date,
            trigger: Trigger::Rerun,
            requested_by: requested_by.to_string(),
            reason: Some(reason.to_string()),
            parent_run: Some(parent.run_id.clone()),
            failed_only,
            params: parent.params.clone(),
        };
        self.request_as(new, lead, None).await
    }

    /// Creates and executes a run, returning when it has finished.
    pub async fn run_now(
        &self,
        new: NewRun,
        progress: Arc<Progress>,
    ) -> Result<RunSummary, RunError> {
        let run = self.request(new).await?;
        self.execute(&run.run_id, progress).await
    }
}
