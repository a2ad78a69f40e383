//! An election racing a finalize: a kind wrapper that records a newer
//! leader epoch after the runtime's leader check and before the kind's own
//! finalize writes, and what "the old leader wrote nothing" means.
#![allow(dead_code)]

use std::sync::Arc;

use reckon::ledger::{Epoch, LedgerError, RunStatus};
use reckon::runtime::{
    JobError, JobKind, KindRegistry, Progress, RunCtx, RunError, RunOutcome, Runner, ShardCtx,
    ShardOutcome,
};

use super::{TestDb, manual};

/// `inner`, except that its finalize first elects `newer-leader`.
pub struct ElectedDuringFinalize(pub Arc<dyn JobKind>);

#[async_trait::async_trait]
impl JobKind for ElectedDuringFinalize {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn check_params(&self, params: &toml::Table) -> Result<(), (String, String)> {
        self.0.check_params(params)
    }

    async fn run_shard(&self, ctx: &ShardCtx) -> Result<ShardOutcome, JobError> {
        self.0.run_shard(ctx).await
    }

    async fn finalize(
        &self,
        ctx: &RunCtx,
        shards: &[ShardOutcome],
    ) -> Result<RunOutcome, JobError> {
        ctx.ledger.elect_leader("newer-leader").await?;
        self.0.finalize(ctx, shards).await
    }

    async fn carry_digest(
        &self,
        ctx: &RunCtx,
        outcome: &RunOutcome,
    ) -> Result<Option<String>, JobError> {
        self.0.carry_digest(ctx, outcome).await
    }
}

/// The built-in kinds with `kind` wrapped in [`ElectedDuringFinalize`].
pub fn builtin_with_election_during(kind: &str) -> KindRegistry {
    let mut kinds = reckon::jobs::builtin();
    let inner = kinds.get(kind).expect("a built-in kind");
    kinds.register(Arc::new(ElectedDuringFinalize(inner)));
    kinds
}

/// Runs `job` for `date` as the leader of a fresh epoch whose finalize is
/// overtaken by an election: the run must be refused at its first
/// conclusion write and left running (for the newer leader), with no report
/// directory. Returns the run id and the old epoch.
pub async fn run_overtaken(db: &TestDb, runner: &Runner, job: &str, date: &str) -> (String, Epoch) {
    let ledger = runner.ledger().clone();
    let old = ledger.elect_leader("old-leader").await.expect("election");
    let run = runner
        .request_as(manual(job, date), Some(old), None)
        .await
        .expect("run created under the old epoch");
    let result = runner
        .execute_as(&run.run_id, Arc::new(Progress::default()), Some(old))
        .await;
    assert!(
        matches!(
            result,
            Err(RunError::Ledger(LedgerError::LeaderFenced { held })) if held == old
        ),
        "the overtaken finalize must be refused: {result:?}"
    );
    let after = ledger.run(&run.run_id).await.expect("run");
    assert_eq!(after.status, RunStatus::Running, "run state untouched");
    assert!(after.outcome.is_none(), "no outcome recorded");
    // No report (the shards' working split lives under reports/.work/).
    let dir = db.reports_dir().join(date).join(job);
    let published: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .map(|entry| entry.expect("report dir entry").file_name())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        published.is_empty(),
        "no report published by the old leader: {} holds {published:?}",
        dir.display()
    );
    (run.run_id, old)
}
