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
pub async fn run_overtaken(
    db: &TestDb,
    runner: &Runner,
    job: &str,
    date: &str,
) -> (reckon::ledger::RunId, Epoch) {
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

/// `inner`, except that after its finalize returned (its writes handed to
/// the runtime, not committed) the run "crashes": `carry_digest`, which the
/// runtime asks between the finalize's writes and the run's own finish,
/// tells `reached` and never returns, so the test can abort the task there.
pub struct StopsBeforeFinish {
    pub inner: Arc<dyn JobKind>,
    pub reached: Arc<tokio::sync::Notify>,
}

#[async_trait::async_trait]
impl JobKind for StopsBeforeFinish {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn check_params(&self, params: &toml::Table) -> Result<(), (String, String)> {
        self.inner.check_params(params)
    }

    async fn run_shard(&self, ctx: &ShardCtx) -> Result<ShardOutcome, JobError> {
        self.inner.run_shard(ctx).await
    }

    async fn finalize(
        &self,
        ctx: &RunCtx,
        shards: &[ShardOutcome],
    ) -> Result<RunOutcome, JobError> {
        self.inner.finalize(ctx, shards).await
    }

    async fn carry_digest(
        &self,
        _ctx: &RunCtx,
        _outcome: &RunOutcome,
    ) -> Result<Option<String>, JobError> {
        self.reached.notify_one();
        std::future::pending().await
    }
}

/// The built-in kinds with `kind` wrapped in [`StopsBeforeFinish`].
pub fn builtin_stopping_before_finish(
    kind: &str,
    reached: Arc<tokio::sync::Notify>,
) -> KindRegistry {
    let mut kinds = reckon::jobs::builtin();
    let inner = kinds.get(kind).expect("a built-in kind");
    kinds.register(Arc::new(StopsBeforeFinish { inner, reached }));
    kinds
}

/// Executes `run_id` on `runner` (whose kind is wrapped in
/// [`StopsBeforeFinish`]) and kills it at the hook: the task is aborted
/// there, dropping the open conclusion transaction as a crashed process
/// would. Then the run must still be running with no outcome, no `report`
/// and no `finished` event.
pub async fn crash_before_finish(
    runner: &Runner,
    run_id: &reckon::ledger::RunId,
    reached: Arc<tokio::sync::Notify>,
) {
    let task = {
        let runner = runner.clone();
        let run_id = run_id.clone();
        tokio::spawn(async move { runner.execute(&run_id, Arc::new(Progress::default())).await })
    };
    tokio::time::timeout(std::time::Duration::from_secs(120), reached.notified())
        .await
        .expect("the run reaches the window between finalize and finish");
    task.abort();
    let ended = task.await;
    assert!(
        ended.as_ref().is_err_and(|e| e.is_cancelled()),
        "the run was stopped at the hook: {ended:?}"
    );
    let ledger = runner.ledger();
    let after = ledger.run(run_id).await.expect("run");
    assert_eq!(after.status, RunStatus::Running, "the run is not finished");
    assert!(after.outcome.is_none(), "no outcome recorded");
    let kinds: Vec<String> = ledger
        .events(run_id)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        !kinds.iter().any(|k| k == "report" || k == "finished"),
        "nothing of the conclusion committed: {kinds:?}"
    );
}
