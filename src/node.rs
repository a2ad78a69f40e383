//! The node loop: the one place where runs are started, adopted and healed,
//! for a single node (`reckon serve`) and for the leader of a cluster alike.
//!
//! [`Node::step`] is one pass — leadership (a new term records a new leader
//! epoch in the database), the coordinator's housekeeping (cluster failover),
//! adoption of unfinished runs, manual requests, cron — and tests drive it
//! step by step with an injected clock, an injected coordinator and faults
//! injected between any two parts of a step ([`FaultPoint`]). [`Node::run`]
//! repeats it until shutdown. Every write the leader makes carries its epoch,
//! so a superseded leader (paused, cut off) commits nothing.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;

use crate::error_chain::chain;
use crate::ledger::{Epoch, JobName, LedgerError, NewRun, RunId, RunRecord, Trigger};
use crate::runtime::{
    Coordinator, PendingRequest, Progress, RequestAnswer, RunError, RunRequest, Runner,
};
use crate::schedule::Clock;
use crate::scheduler::Scheduler;

/// How long a run left by a failed task waits before it is adopted again.
const ADOPT_AGAIN_AFTER: Duration = Duration::from_secs(1);

/// The parts of a step, in order; a fault hook is asked after each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultPoint {
    /// After the leader epoch was (re)recorded.
    Elected,
    /// After the coordinator's housekeeping (failover).
    Reconciled,
    /// After unfinished runs were adopted.
    Adopted,
    /// After manual requests were answered.
    Requested,
    /// After the cron tick created its runs (before they are started).
    Ticked,
}

/// What a fault hook makes of a point: go on, or stop the step there as if
/// the node had crashed or paused.
pub type FaultHook = Arc<dyn Fn(FaultPoint) -> bool + Send + Sync>;

/// Errors a step reports (it never panics; the loop logs and goes on).
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("step stopped by an injected fault at {0:?}")]
    Fault(FaultPoint),
}

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    pub leading: bool,
    /// The leader epoch this node holds in the database.
    pub epoch: Option<Epoch>,
    /// A new epoch was recorded in this step.
    pub elected: bool,
    pub adopted: Vec<RunId>,
    pub requested: Vec<RunId>,
    pub created: Vec<RunId>,
}

/// One node's loop state.
pub struct Node {
    runner: Runner,
    scheduler: Scheduler,
    clock: Arc<dyn Clock>,
    /// The coordinator term the epoch below was recorded for.
    term: Option<u64>,
    lead: Option<Epoch>,
    /// A newer leader took the database during this term: stay passive
    /// until the coordinator starts a new term.
    superseded: bool,
    handling: Arc<Mutex<BTreeSet<RunId>>>,
    tasks: JoinSet<()>,
    faults: Option<FaultHook>,
}

impl Node {
    /// The loop of the node behind `runner`, reading time from `clock`.
    pub fn new(runner: Runner, clock: Arc<dyn Clock>) -> Node {
        let requested_by = format!("scheduler@{}", runner.coordinator().instance_id());
        Node {
            scheduler: Scheduler::new(runner.clone(), clock.clone(), requested_by),
            runner,
            clock,
            term: None,
            lead: None,
            superseded: false,
            handling: Arc::default(),
            tasks: JoinSet::new(),
            faults: None,
        }
    }

    /// Arms a fault hook (tests, the fault harness).
    pub fn with_faults(mut self, hook: FaultHook) -> Node {
        self.faults = Some(hook);
        self
    }

    /// The leader epoch held, if leading.
    pub fn epoch(&self) -> Option<Epoch> {
        self.lead
    }

    /// Runs this node is executing or concluding now.
    pub fn handling(&self) -> BTreeSet<RunId> {
        self.handling.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn fault(&self, point: FaultPoint) -> Result<(), NodeError> {
        match &self.faults {
            Some(hook) if !hook(point) => Err(NodeError::Fault(point)),
            _ => Ok(()),
        }
    }

    /// One pass of the loop. Runs it starts or adopts execute in the
    /// background ([`Node::drain`] waits for them).
    pub async fn step(&mut self) -> Result<Step, NodeError> {
        while self.tasks.try_join_next().is_some() {}
        let coord = self.runner.coordinator().clone();
        if !coord.is_leader().await {
            self.term = None;
            self.lead = None;
            self.superseded = false;
            return Ok(Step::default());
        }
        let mut step = Step {
            leading: true,
            ..Step::default()
        };
        let term = coord.leader_term();
        if self.term != Some(term) {
            self.term = Some(term);
            self.superseded = false;
            self.lead = Some(
                self.runner
                    .ledger()
                    .elect_leader(coord.instance_id())
                    .await?,
            );
            step.elected = true;
            self.fault(FaultPoint::Elected)?;
        }
        if self.superseded {
            return Ok(step);
        }
        step.epoch = self.lead;
        let result = self.leader_step(&coord, &mut step).await;
        if let Err(
            NodeError::Ledger(LedgerError::LeaderFenced { .. })
            | NodeError::Run(RunError::Ledger(LedgerError::LeaderFenced { .. })),
        ) = &result
        {
            tracing::warn!(instance = %coord.instance_id(), "a newer leader holds the database: this node stops leading until its next term");
            self.superseded = true;
            self.lead = None;
            step.epoch = None;
        }
        result.map(|()| step)
    }

    async fn leader_step(
        &mut self,
        coord: &Arc<dyn Coordinator>,
        step: &mut Step,
    ) -> Result<(), NodeError> {
        if let Err(err) = coord.reconcile(self.runner.ledger()).await {
            tracing::warn!(error = %chain(&err), "failover pass failed");
        }
        self.fault(FaultPoint::Reconciled)?;
        step.adopted = self.adopt(coord).await?;
        self.fault(FaultPoint::Adopted)?;
        step.requested = self.answer_requests(coord).await;
        self.fault(FaultPoint::Requested)?;
        // Confirmed with the coordination service right before creating
        // runs: a paused leader that lost its session must not fire.
        if !coord.confirm_leader().await {
            return Ok(());
        }
        let paused = match coord.paused_jobs().await {
            Ok(paused) => paused,
            Err(err) => {
                tracing::warn!(error = %chain(&err), "cannot read disabled jobs: no cron tick");
                return Ok(());
            }
        };
        let created = self.scheduler.tick_as(&paused, self.lead).await?;
        step.created = created.iter().map(RunRecord::id).collect();
        self.fault(FaultPoint::Ticked)?;
        for run in created {
            self.spawn(run.id());
        }
        Ok(())
    }

    /// Takes over unfinished runs no task of this node handles. A cluster
    /// leader adopts every one (the ledger, not ZooKeeper, says which runs
    /// are unfinished, so a run created by a leader that stepped down before
    /// dispatching it is run, not left pending); a single node adopts those
    /// whose owner stopped heartbeating for the run lease (a crashed node;
    /// a live `reckon run` keeps its own).
    async fn adopt(&mut self, coord: &Arc<dyn Coordinator>) -> Result<Vec<RunId>, NodeError> {
        let ledger = self.runner.ledger();
        let runs: Vec<RunRecord> = if coord.distributed() {
            ledger.active_runs().await?
        } else {
            let lease = chrono::Duration::from_std(self.runner.config().run_lease)
                .unwrap_or(chrono::Duration::MAX);
            ledger.stale_runs(self.clock.now() - lease).await?
        };
        let mut adopted = Vec::new();
        for run in runs {
            if self.spawn(run.id()) {
                tracing::info!(run_id = %run.run_id, job = %run.job_name(), status = %run.status, "adopting an unfinished run");
                adopted.push(run.id());
            }
        }
        Ok(adopted)
    }

    /// Answers manual requests; returns the runs created.
    async fn answer_requests(&mut self, coord: &Arc<dyn Coordinator>) -> Vec<RunId> {
        let pending = match coord.requests().await {
            Ok(pending) => pending,
            Err(err) => {
                tracing::warn!(error = %chain(&err), "cannot read requests");
                return Vec::new();
            }
        };
        if pending.is_empty() {
            return Vec::new();
        }
        // Unanswered requests stay queued for the next step: reading no
        // disabled jobs is not the same as there being none.
        let paused = match coord.paused_jobs().await {
            Ok(paused) => paused,
            Err(err) => {
                tracing::warn!(error = %chain(&err), "cannot read disabled jobs: requests wait");
                return Vec::new();
            }
        };
        let mut created = Vec::new();
        for request in pending {
            let made = self.create_requested(&request, &paused).await;
            let answer = RequestAnswer {
                run_id: made.as_ref().ok().map(|r| r.run_id.clone()),
                error: made.as_ref().err().cloned(),
                leader: coord.instance_id().to_string(),
            };
            if let Err(err) = coord.answer(&request, answer).await {
                tracing::warn!(handle = %request.handle, error = %chain(&err), "cannot answer a request");
            }
            if let Ok(run) = made {
                self.spawn(run.id());
                created.push(run.id());
            }
        }
        created
    }

    async fn create_requested(
        &self,
        pending: &PendingRequest,
        paused: &BTreeSet<JobName>,
    ) -> Result<RunRecord, String> {
        let request: &RunRequest = &pending.request;
        let runner = &self.runner;
        if let Some(parent) = &request.rerun_of {
            let parent_job = runner
                .ledger()
                .run(parent)
                .await
                .map_err(|e| chain(&e))?
                .job;
            if paused.contains(parent_job.as_str()) {
                let db = runner.ledger().db();
                return Err(crate::toggles::cluster_refusal(db, &parent_job)
                    .await
                    .to_string());
            }
            return runner
                .request_rerun_as(
                    parent,
                    request.failed_only,
                    request.reason.as_deref().unwrap_or("rerun"),
                    &request.requested_by,
                    self.lead,
                )
                .await
                .map_err(|e| chain(&e));
        }
        let name = request
            .job
            .as_ref()
            .ok_or_else(|| "the request names no job".to_string())?;
        if paused.contains(name.as_str()) {
            let db = runner.ledger().db();
            return Err(crate::toggles::cluster_refusal(db, name).await.to_string());
        }
        let job = runner.catalog().get(name).map_err(|e| chain(&e))?;
        let business_date = request
            .business_date
            .unwrap_or_else(|| crate::schedule::business_date_for(job, self.clock.now()));
        let new = NewRun {
            job: name.clone(),
            business_date,
            trigger: Trigger::Manual,
            requested_by: request.requested_by.clone(),
            reason: request.reason.clone(),
            parent_run: None,
            failed_only: false,
            params: serde_json::json!({}),
        };
        runner
            .request_as(new, self.lead, None)
            .await
            .map_err(|e| chain(&e))
    }

    /// Executes (or continues) a run in the background unless a task of
    /// this node already handles it; true when a task was started.
    fn spawn(&mut self, run_id: RunId) -> bool {
        let fresh = self
            .handling
            .lock()
            .map(|mut set| set.insert(run_id.clone()))
            .unwrap_or(false);
        if !fresh {
            return false;
        }
        let runner = self.runner.clone();
        let handling = self.handling.clone();
        let lead = self.lead;
        self.tasks.spawn(async move {
            if let Err(err) = runner
                .execute_as(&run_id, Arc::new(Progress::default()), lead)
                .await
            {
                tracing::error!(%run_id, error = %chain(&err), "run did not conclude here");
                // Left to the next step (ZooKeeper unreachable…): not adopted
                // again at once, so an outage does not spin.
                tokio::time::sleep(ADOPT_AGAIN_AFTER).await;
            }
            if let Ok(mut set) = handling.lock() {
                set.remove(&run_id);
            }
        });
        true
    }

    /// Waits for every run this node started or adopted to end (or be left
    /// to the next leader).
    pub async fn drain(&mut self) {
        while self.tasks.join_next().await.is_some() {}
    }

    /// Steps until reckon is told to stop, sleeping until the next fire
    /// time (at most `poll`) between steps; then waits for its runs.
    pub async fn run(mut self, poll: Duration) {
        let stop = self.runner.shutdown().stop_new.clone();
        while !stop.is_cancelled() {
            if let Err(err) = self.step().await {
                tracing::error!(error = %chain(&err), "node step failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.scheduler.until_next_fire(poll)) => {}
                _ = stop.cancelled() => {}
            }
        }
        tracing::info!(
            runs = self.tasks.len(),
            "waiting for running runs to finish"
        );
        self.drain().await;
    }
}
