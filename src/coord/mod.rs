//! Coordination: who is alive, who leads, which instance runs which shard.
//! [`Embedded`] is the single-process default; a ZooKeeper implementation
//! plugs in behind the same [`Coordinator`] trait.

mod embedded;
pub mod zookeeper;

pub use embedded::Embedded;

use std::collections::BTreeMap;

use crate::catalog::JobDef;
use crate::ledger::RunRecord;

/// Errors from the coordination service.
#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    #[error("coordination service unavailable: {0}")]
    Unavailable(String),
}

/// Item assignment for one run: instance id → items it runs.
pub type Assignment = BTreeMap<String, Vec<u32>>;

/// Membership, leadership and shard assignment.
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
    /// The run has concluded: its coordination markers can go.
    async fn concluded(&self, _run_id: &str) {}
}
