//! Executing one run: dependencies, shard rows, dispatch, barrier, finalize.
//! The same path serves a fresh run, a run adopted by a new leader and a
//! run left by a crashed node: whatever the ledger says is unfinished is
//! (re)dispatched, and the barrier needs every expected shard.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use futures::future::join_all;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::kind::{RunCtx, ShardOutcome};
use super::progress::Progress;
use super::shard::{ItemEnd, Ownership};
use super::{RunError, RunSummary, Runner};
use crate::catalog::JobDef;
use crate::error_chain::chain;
use crate::ledger::{Epoch, LedgerError, RunId, RunRecord, RunStatus, ShardEpoch, ShardRecord};

/// How often the leader looks at a distributed run's shards in the ledger.
const BARRIER_POLL: std::time::Duration = std::time::Duration::from_millis(200);

impl RunError {
    /// True for errors after which a cluster leader leaves the run as it is
    /// for the next leader (or itself, on the next step) instead of failing
    /// it: the coordination service or the database was unreachable (a
    /// restart), or a newer leader exists.
    pub fn leaves_run_to_next_leader(&self) -> bool {
        match self {
            RunError::Coord(_) | RunError::Ledger(LedgerError::LeaderFenced { .. }) => true,
            RunError::Ledger(LedgerError::Database(e)) => crate::db::is_unreachable(e),
            _ => false,
        }
    }
}

impl Runner {
    /// Executes a pending run to its end and returns it with its shards.
    pub async fn execute(
        &self,
        run_id: &RunId,
        progress: Arc<Progress>,
    ) -> Result<RunSummary, RunError> {
        self.execute_as(run_id, progress, None).await
    }

    /// Executes a pending run, or continues a running one (adoption), under
    /// the leader epoch `lead`; returns the run with its shards.
    pub async fn execute_as(
        &self,
        run_id: &RunId,
        progress: Arc<Progress>,
        lead: Option<Epoch>,
    ) -> Result<RunSummary, RunError> {
        let run = self.ledger.run(run_id).await?;
        if run.status.is_final() {
            self.coord.concluded(run_id).await;
        } else {
            let job = Arc::new(self.catalog.get(&run.job)?.clone());
            let heartbeat_stop = CancellationToken::new();
            // Dropped mid-way (an aborted task, a lost leadership), the run
            // stops heartbeating too, so it can be healed as abandoned.
            let _stop_on_drop = heartbeat_stop.clone().drop_guard();
            let heartbeat = self.spawn_heartbeat(run_id, heartbeat_stop.clone());
            let result = self.execute_inner(&run, &job, progress, lead).await;
            heartbeat_stop.cancel();
            let _ = heartbeat.await;
            if let Err(err) = &result {
                if self.coord.distributed() && err.leaves_run_to_next_leader() {
                    tracing::warn!(%run_id, error = %chain(err), "run left to the next leader step");
                } else {
                    // An unexpected error (database down…) must not leave the run "running".
                    let message = chain(err);
                    let _ = self
                        .ledger
                        .finish_run_as(run_id, RunStatus::Failed, Some(&message), None, lead)
                        .await;
                }
            }
            result?;
        }
        Ok(RunSummary {
            run: self.ledger.run(run_id).await?,
            shards: self.ledger.shards(run_id).await?,
        })
    }

    /// A leader takes over an unfinished run (its previous leader went away,
    /// or dispatch failed): pending → executed; running → unfinished shards
    /// dispatched again, barrier, conclusion.
    pub async fn resume(&self, run_id: &RunId) -> Result<(), RunError> {
        self.resume_as(run_id, None).await
    }

    /// [`Runner::resume`] under the leader epoch `lead`.
    pub async fn resume_as(&self, run_id: &RunId, lead: Option<Epoch>) -> Result<(), RunError> {
        self.execute_as(run_id, Arc::new(Progress::default()), lead)
            .await
            .map(|_| ())
    }

    async fn execute_inner(
        &self,
        run: &RunRecord,
        job: &Arc<JobDef>,
        progress: Arc<Progress>,
        lead: Option<Epoch>,
    ) -> Result<(), RunError> {
        let instance = self.coord.instance_id().to_string();
        if run.status == RunStatus::Pending {
            if let Err(reason) = self.wait_dependencies(run, job).await? {
                self.ledger
                    .finish_run_as(&run.run_id, RunStatus::Failed, Some(&reason), None, lead)
                    .await?;
                return Ok(());
            }
            if self.coord.distributed() && !self.coord.is_leader().await {
                // Leadership moved while waiting: the next leader adopts the run.
                return Ok(());
            }
            let (to_run, to_carry) = self.plan_items(run, job).await?;
            let carry = run
                .parent_run
                .as_ref()
                .map(|parent| (parent, to_carry.as_slice()));
            self.ledger
                .start_run_with_shards(&run.run_id, &instance, &to_run, carry, lead)
                .await?;
        } else {
            self.ledger
                .append_event(
                    &run.run_id,
                    None,
                    "adopted",
                    &format!("by leader {instance}"),
                )
                .await?;
        }
        self.work_and_conclude(run, job, progress, lead).await
    }

    /// Runs (embedded) or dispatches (cluster) every unfinished shard of a
    /// running run, waits at the barrier and concludes.
    async fn work_and_conclude(
        &self,
        run: &RunRecord,
        job: &Arc<JobDef>,
        progress: Arc<Progress>,
        lead: Option<Epoch>,
    ) -> Result<(), RunError> {
        // Work queues first, then the ledger: a worker removes its work node
        // only after the shard's end is recorded, so an item absent from both
        // views was never handed out (or was lost) and is dispatched again.
        let queued = if self.coord.distributed() {
            self.coord.queued(&run.run_id).await?
        } else {
            BTreeSet::new()
        };
        let mut shards = self.ledger.shards(&run.run_id).await?;
        let missing: Vec<u32> = (0..job.shards)
            .filter(|i| !shards.iter().any(|s| s.item == *i))
            .collect();
        if !missing.is_empty() {
            // A running run without (all) its shard rows — left by an older
            // version or a crash between two writes: dispatched, never
            // concluded on what is there.
            tracing::warn!(run_id = %run.run_id, ?missing, "running run lacks shard rows: adding them");
            self.ledger
                .add_missing_shards(&run.run_id, &missing, lead)
                .await?;
            self.ledger
                .append_event(
                    &run.run_id,
                    None,
                    "shards_added",
                    &format!("{} shard row(s) were missing", missing.len()),
                )
                .await?;
            shards = self.ledger.shards(&run.run_id).await?;
        }
        progress.set_total(u64::from(job.shards));
        for shard in shards.iter().filter(|s| s.status.is_final()) {
            match shard.status {
                RunStatus::Succeeded => progress.shard_done(0),
                _ => progress.shard_failed(),
            }
        }
        let open: Vec<u32> = shards
            .iter()
            .filter(|s| !s.status.is_final() && !queued.contains(&s.item))
            .map(|s| s.item)
            .collect();
        if self.coord.distributed() {
            // Cluster: every named instance runs its own items; this node (the
            // leader) waits at the barrier, which is kept in the ledger.
            if !open.is_empty() {
                self.ledger.confirm_leader(lead).await?;
                let assignment = self.coord.assign(job, &open).await?;
                self.coord.dispatch(run, job, &assignment).await?;
            }
            return self.barrier_and_conclude(run, job, lead).await;
        }
        let permits = Arc::new(Semaphore::new(self.config.parallel_shards_max.max(1)));
        let started = Instant::now();
        let owner = Ownership::local();
        join_all(open.iter().map(|item| {
            self.drive_shard(run, job, *item, permits.clone(), progress.clone(), &owner)
        }))
        .await;
        tracing::info!(run_id = %run.run_id, elapsed_ms = started.elapsed().as_millis() as u64, "shards finished");
        self.conclude(run, job, lead).await
    }

    /// Cluster mode: waits until every shard of the run is final in the
    /// ledger, then concludes. Returns without concluding when this node
    /// stops leading (the next leader adopts the run). A shard counts as
    /// progressing while its status or epoch changes or its holder's
    /// heartbeat moves (queued for a slot and waiting out a retry backoff are
    /// waiting, not stalling); a run whose unfinished shards show none of
    /// that for the job's timeout plus the run lease is failed with a reason
    /// naming them, so it never stays running for ever.
    async fn barrier_and_conclude(
        &self,
        run: &RunRecord,
        job: &Arc<JobDef>,
        lead: Option<Epoch>,
    ) -> Result<(), RunError> {
        type Seen = (
            u32,
            RunStatus,
            Option<ShardEpoch>,
            Option<chrono::DateTime<chrono::Utc>>,
        );
        let stall_limit = job.timeout + self.config.run_lease;
        let mut last_change = Instant::now();
        let mut last_seen: Vec<Seen> = Vec::new();
        loop {
            let shards = self.ledger.shards(&run.run_id).await?;
            if shards.len() >= job.shards as usize && shards.iter().all(|s| s.status.is_final()) {
                break;
            }
            let seen: Vec<Seen> = shards
                .iter()
                .map(|s| (s.item, s.status, s.epoch, s.heartbeat_at))
                .collect();
            if seen != last_seen {
                last_seen = seen;
                last_change = Instant::now();
            } else if last_change.elapsed() > stall_limit {
                let waiting: Vec<String> = shards
                    .iter()
                    .filter(|s| !s.status.is_final())
                    .map(|s| s.item.to_string())
                    .collect();
                let reason = format!(
                    "no progress for {}: shard(s) {} not finished by any node",
                    humantime::format_duration(stall_limit),
                    waiting.join(", ")
                );
                tracing::warn!(run_id = %run.run_id, "{reason}");
                self.ledger
                    .fail_unfinished_shards_as(&run.run_id, &reason, lead)
                    .await?;
                break;
            }
            if !self.coord.is_leader().await {
                tracing::warn!(run_id = %run.run_id, "no longer leader: the next leader concludes the run");
                return Ok(());
            }
            tokio::time::sleep(BARRIER_POLL).await;
        }
        if !self.coord.confirm_leader().await {
            tracing::warn!(run_id = %run.run_id, "leadership not confirmed: the next leader concludes the run");
            return Ok(());
        }
        self.conclude(run, job, lead).await?;
        self.coord.concluded(&run.run_id).await;
        Ok(())
    }

    /// Cluster mode: runs one item this node was given, under `lost` (cancelled
    /// when this node loses the shard). Nothing is done for a finished run.
    pub async fn run_item(
        &self,
        run_id: &RunId,
        item: u32,
        lost: CancellationToken,
    ) -> Result<ItemEnd, RunError> {
        let run = self.ledger.run(run_id).await?;
        if run.status.is_final() {
            return Ok(ItemEnd::Ended);
        }
        let job = Arc::new(self.catalog.get(&run.job)?.clone());
        let owner = Ownership {
            lost,
            distributed: true,
        };
        Ok(self
            .drive_shard(
                &run,
                &job,
                item,
                self.worker_permits.clone(),
                Arc::new(Progress::default()),
                &owner,
            )
            .await)
    }

    /// Waits for `depends_on` jobs to succeed for the same date, up to the
    /// job's deadline. `Ok(Err(reason))` when the deadline passed.
    async fn wait_dependencies(
        &self,
        run: &RunRecord,
        job: &JobDef,
    ) -> Result<Result<(), String>, RunError> {
        let deadline = Instant::now() + job.depends_wait;
        loop {
            let mut missing = Vec::new();
            for dep in &job.depends_on {
                if self
                    .ledger
                    .succeeded_run(dep, run.business_date)
                    .await?
                    .is_none()
                {
                    missing.push(dep.as_str());
                }
            }
            if missing.is_empty() || (self.coord.distributed() && !self.coord.is_leader().await) {
                return Ok(Ok(()));
            }
            if Instant::now() >= deadline || self.shutdown.stop_new.is_cancelled() {
                return Ok(Err(format!(
                    "dependency not met: {} has not succeeded for {} after waiting {}",
                    missing.join(", "),
                    run.business_date,
                    humantime::format_duration(job.depends_wait)
                )));
            }
            let wait = self.config.dependency_poll.min(deadline - Instant::now());
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.shutdown.stop_new.cancelled() => {}
            }
        }
    }

    /// Items to execute and items carried over from the parent run.
    async fn plan_items(
        &self,
        run: &RunRecord,
        job: &JobDef,
    ) -> Result<(Vec<u32>, Vec<u32>), RunError> {
        let all: Vec<u32> = (0..job.shards).collect();
        let parent = match (&run.parent_run, run.failed_only) {
            (Some(parent), true) => parent,
            _ => return Ok((all, Vec::new())),
        };
        let done: Vec<u32> = self
            .ledger
            .shards(parent)
            .await?
            .into_iter()
            .filter(|s| s.status == RunStatus::Succeeded)
            .map(|s| s.item)
            .collect();
        let (carry, run_again): (Vec<u32>, Vec<u32>) =
            all.into_iter().partition(|i| done.contains(i));
        Ok((run_again, carry))
    }

    /// The barrier: every shard has ended. Decide the run's status; finalize
    /// when all expected shards succeeded. Every write is a leader write under `lead`.
    async fn conclude(
        &self,
        run: &RunRecord,
        job: &Arc<JobDef>,
        lead: Option<Epoch>,
    ) -> Result<(), RunError> {
        let shards = self.ledger.shards(&run.run_id).await?;
        if shards.len() != job.shards as usize {
            // Never "all of nothing": an empty or short list is not a success.
            return Err(RunError::MissingShards {
                run_id: run.run_id.clone(),
                expected: job.shards,
                found: shards.len(),
            });
        }
        // Committed shards replaced outputs other runs read (ledger/replaced.rs).
        let replaced = self.mark_replaced(run, job, lead).await?;
        if let Some(reason) = unfinished_reason(&shards, RunStatus::Cancelled) {
            self.ledger
                .finish_run_as(&run.run_id, RunStatus::Cancelled, Some(&reason), None, lead)
                .await?;
            return Ok(());
        }
        if let Some(reason) = unfinished_reason(&shards, RunStatus::Failed) {
            self.ledger
                .finish_run_as(&run.run_id, RunStatus::Failed, Some(&reason), None, lead)
                .await?;
            return Ok(());
        }
        let outcomes: Vec<ShardOutcome> =
            shards.iter().map(shard_outcome).collect::<Result<_, _>>()?;
        let kind = self
            .kinds
            .get(&job.kind)
            .ok_or_else(|| RunError::UnknownKind {
                job: job.name.clone(),
                kind: job.kind.clone(),
            })?;
        let ctx = RunCtx {
            run_id: run.id(),
            job: job.clone(),
            business_date: run.business_date,
            attempt: run.attempt,
            instance: self.coord.instance_id().to_string(),
            ledger: self.ledger.clone(),
            paths: self.paths.clone(),
            leader_epoch: lead,
            concluding: Arc::default(),
        };
        // A superseded leader stops here; an election during finalize is
        // caught by the kind's own writes and publication (RunCtx::lead).
        self.ledger.confirm_leader(lead).await?;
        match kind.finalize(&ctx, &outcomes).await {
            Ok(mut outcome) => {
                outcome.attention.extend(replaced);
                let staged = ctx.take_concluding();
                self.record_conclusion(kind.as_ref(), &ctx, &outcome, staged)
                    .await?;
                // Hook point for "a run finished" (after its status is recorded).
            }
            Err(err) => {
                // Whatever the finalize wrote under the fence is not committed.
                if let Some(staged) = ctx.take_concluding() {
                    staged.rollback().await.map_err(LedgerError::from)?;
                }
                let reason = format!("finalize failed: {}", chain(&err));
                self.ledger
                    .finish_run_as(&run.run_id, RunStatus::Failed, Some(&reason), None, lead)
                    .await?;
            }
        }
        Ok(())
    }

    /// Marks stale what this run's committed shards made out of date for
    /// other jobs of its date (dependents' runs; this run itself when a job
    /// it depends on committed after it started). The attention lines name
    /// them; a run that will not succeed keeps them as events.
    async fn mark_replaced(
        &self,
        run: &RunRecord,
        job: &JobDef,
        lead: Option<Epoch>,
    ) -> Result<Vec<String>, RunError> {
        let dependents = self.catalog.dependents_of(&job.name);
        if dependents.is_empty() && job.depends_on.is_empty() {
            // No other job reads this one's outputs, nor this one another's.
            return Ok(Vec::new());
        }
        let effect = self
            .ledger
            .mark_replaced_outputs(&run.run_id, &dependents, &job.depends_on, lead)
            .await?;
        let lines = effect.attention(&job.name, run.business_date);
        for line in &lines {
            tracing::warn!(run_id = %run.run_id, "{line}");
            self.ledger
                .append_event(&run.run_id, None, "attention", line)
                .await?;
        }
        Ok(lines)
    }

    fn spawn_heartbeat(
        &self,
        run_id: &RunId,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let ledger = self.ledger.clone();
        let run_id = run_id.clone();
        let interval = self.config.heartbeat_interval;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(interval) => {}
                }
                if let Err(err) = ledger.heartbeat(&run_id).await {
                    tracing::warn!(%run_id, error = %chain(&err), "heartbeat failed");
                }
            }
        })
    }
}

/// "shards 2, 5 failed: first error" when some shard has `status`.
fn unfinished_reason(shards: &[ShardRecord], status: RunStatus) -> Option<String> {
    let hit: Vec<&ShardRecord> = shards.iter().filter(|s| s.status == status).collect();
    let first = hit.first()?;
    let items: Vec<String> = hit.iter().map(|s| s.item.to_string()).collect();
    let noun = if hit.len() == 1 { "shard" } else { "shards" };
    Some(format!(
        "{noun} {} {status}: {}",
        items.join(", "),
        first.error.as_deref().unwrap_or("no reason recorded")
    ))
}

/// A succeeded shard's stored outcome, typed: a missing or malformed
/// summary is an error, never a zero tally.
fn shard_outcome(shard: &ShardRecord) -> Result<ShardOutcome, RunError> {
    let bad = |reason: String| RunError::BadSummary {
        run_id: shard.run_id.clone(),
        item: shard.item,
        reason,
    };
    let value = shard
        .outcome
        .clone()
        .ok_or_else(|| bad("no summary was recorded".into()))?;
    let outcome: ShardOutcome =
        serde_json::from_value(value).map_err(|e| bad(format!("malformed summary: {e}")))?;
    Ok(ShardOutcome {
        item: shard.item,
        ..outcome
    })
}
