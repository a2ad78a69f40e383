//! The contract between the runtime and whatever tells a node who is alive,
//! who leads and which instance runs which shard. It lives with the runtime
//! (the runtime never imports `coord/`): `coord::Embedded` answers it for a
//! single process, `coord::zookeeper` is an adapter answering the same facts
//! from ZooKeeper. The node loop (`crate::node`) and the runner ask it; it
//! never drives them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use crate::catalog::JobDef;
use crate::ledger::{JobName, Ledger, RunId, RunRecord};

/// Errors from the coordination service.
#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    #[error("coordination service unavailable: {0}")]
    Unavailable(String),
}

/// Item assignment for one run: instance id → items it runs.
pub type Assignment = BTreeMap<String, Vec<u32>>;

/// A manual run or rerun handed to the leader (cluster: by `reckon run --registry`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunRequest {
    pub job: Option<JobName>,
    pub business_date: Option<NaiveDate>,
    /// `reckon rerun`: the run to run again.
    pub rerun_of: Option<RunId>,
    #[serde(default)]
    pub failed_only: bool,
    pub reason: Option<String>,
    pub requested_by: String,
}

/// The leader's answer: the run it created, or why it refused.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RequestAnswer {
    pub run_id: Option<RunId>,
    pub error: Option<String>,
    pub leader: String,
}

/// A request waiting for the leader, with the coordinator's handle to answer it.
#[derive(Debug, Clone)]
pub struct PendingRequest {
    /// Opaque to the runtime (the trigger node's path in ZooKeeper).
    pub handle: String,
    /// Opaque version for a compare-and-set answer.
    pub version: i64,
    pub request: RunRequest,
}

/// Membership, leadership and shard assignment, as facts.
#[async_trait::async_trait]
pub trait Coordinator: Send + Sync {
    /// This process's instance id.
    fn instance_id(&self) -> &str;
    /// True while this instance may fire cron triggers and create runs.
    async fn is_leader(&self) -> bool;
    /// Like [`Coordinator::is_leader`], but asks the coordination service
    /// (a round trip): used right before acts that only the leader may do
    /// once, such as finalizing a run, so a leader that was paused past its
    /// session does not act on a stale belief.
    async fn confirm_leader(&self) -> bool {
        self.is_leader().await
    }
    /// Grows every time this instance wins an election anew; the node loop
    /// records a new leader epoch in the database for each new term.
    fn leader_term(&self) -> u64 {
        0
    }
    /// Spreads `items` of `job` over the live instances.
    async fn assign(&self, job: &JobDef, items: &[u32]) -> Result<Assignment, CoordError>;
    /// True when the instances named by an assignment run their items
    /// themselves (cluster); false when the process executing the run runs
    /// its share in place (embedded).
    fn distributed(&self) -> bool {
        false
    }
    /// Hands a run's assignment to the instances it names (cluster mode).
    async fn dispatch(
        &self,
        _run: &RunRecord,
        _job: &JobDef,
        _assignment: &Assignment,
    ) -> Result<(), CoordError> {
        Ok(())
    }
    /// Items of `run_id` waiting in, or held from, some instance's work queue
    /// (cluster); an unfinished shard not listed here is dispatched again by
    /// the leader that adopts the run.
    async fn queued(&self, _run_id: &RunId) -> Result<BTreeSet<u32>, CoordError> {
        Ok(BTreeSet::new())
    }
    /// The run has concluded: its coordination markers can go.
    async fn concluded(&self, _run_id: &RunId) {}
    /// The leader's housekeeping each step (cluster: move the work of dead
    /// instances to live ones).
    async fn reconcile(&self, _ledger: &Ledger) -> Result<(), CoordError> {
        Ok(())
    }
    /// Jobs disabled cluster-wide (they do not fire).
    async fn paused_jobs(&self) -> Result<BTreeSet<JobName>, CoordError> {
        Ok(BTreeSet::new())
    }
    /// Manual requests waiting for the leader, oldest first.
    async fn requests(&self) -> Result<Vec<PendingRequest>, CoordError> {
        Ok(Vec::new())
    }
    /// Answers a request returned by [`Coordinator::requests`] (once).
    async fn answer(
        &self,
        _request: &PendingRequest,
        _answer: RequestAnswer,
    ) -> Result<(), CoordError> {
        Ok(())
    }
}
