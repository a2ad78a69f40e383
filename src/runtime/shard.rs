//! Driving one shard item through its attempts: claim (new epoch), run with
//! a timeout, retry with backoff, and record how it ended.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::sync::Semaphore;

use super::kind::{JobError, ShardCtx, ShardOutcome};
use super::progress::Progress;
use super::{RunError, Runner};
use crate::catalog::JobDef;
use crate::error_chain::chain;
use crate::ledger::{RunRecord, RunStatus};

/// How one attempt ended.
enum Attempt {
    Done,
    Failed(JobError),
    Cancelled(&'static str),
}

impl Runner {
    /// Runs one item to success, exhaustion of retries, or cancellation.
    /// Ledger errors are recorded on the shard rather than returned.
    pub(super) async fn drive_shard(
        &self,
        run: &RunRecord,
        job: &Arc<JobDef>,
        item: u32,
        permits: Arc<Semaphore>,
        progress: Arc<Progress>,
    ) {
        let ended = self.attempts(run, job, item, permits, &progress).await;
        let (status, message) = match ended {
            Ok(None) => return,
            Ok(Some((status, message))) => (status, message),
            Err(err) => (RunStatus::Failed, chain(&err)),
        };
        if status == RunStatus::Failed {
            progress.shard_failed();
        }
        if let Err(err) = self
            .ledger
            .end_shard(&run.run_id, item, status, &message)
            .await
        {
            tracing::error!(run_id = %run.run_id, item, error = %chain(&err), "cannot record shard end");
        }
    }

    /// `Ok(None)` when the shard succeeded, else its final status and reason.
    async fn attempts(
        &self,
        run: &RunRecord,
        job: &Arc<JobDef>,
        item: u32,
        permits: Arc<Semaphore>,
        progress: &Arc<Progress>,
    ) -> Result<Option<(RunStatus, String)>, RunError> {
        let attempts_max = job.retry.retries + 1;
        let mut last_error = String::new();
        for attempt in 1..=attempts_max {
            if self.shutdown.stop_new.is_cancelled() {
                return Ok(Some((
                    RunStatus::Cancelled,
                    "not started: reckon is shutting down".into(),
                )));
            }
            let _permit = tokio::select! {
                permit = permits.clone().acquire_owned() => permit.ok(),
                _ = self.shutdown.stop_new.cancelled() => None,
            };
            if _permit.is_none() {
                return Ok(Some((
                    RunStatus::Cancelled,
                    "not started: reckon is shutting down".into(),
                )));
            }
            match self.attempt(run, job, item, progress).await? {
                Attempt::Done => return Ok(None),
                Attempt::Cancelled(why) => {
                    return Ok(Some((RunStatus::Cancelled, why.to_string())));
                }
                Attempt::Failed(err) => {
                    last_error = chain(&err);
                    let message =
                        format!("attempt {attempt} of {attempts_max} failed: {last_error}");
                    self.ledger
                        .append_event(&run.run_id, Some(item), "attempt_failed", &message)
                        .await?;
                    tracing::warn!(run_id = %run.run_id, job = %job.name, item, "{message}");
                    if !err.is_retryable() {
                        break;
                    }
                }
            }
            drop(_permit);
            if attempt < attempts_max {
                tokio::select! {
                    _ = tokio::time::sleep(job.retry.backoff(attempt)) => {}
                    _ = self.shutdown.abort.cancelled() => {
                        return Ok(Some((RunStatus::Cancelled, "cancelled by shutdown while waiting to retry".into())));
                    }
                }
            }
        }
        Ok(Some((RunStatus::Failed, last_error)))
    }

    async fn attempt(
        &self,
        run: &RunRecord,
        job: &Arc<JobDef>,
        item: u32,
        progress: &Arc<Progress>,
    ) -> Result<Attempt, RunError> {
        let instance = self.coord.instance_id().to_string();
        let epoch = self
            .ledger
            .claim_shard(&run.run_id, &job.name, run.business_date, item, &instance)
            .await?;
        let kind = self
            .kinds
            .get(&job.kind)
            .ok_or_else(|| RunError::UnknownKind {
                job: job.name.clone(),
                kind: job.kind.clone(),
            })?;
        let ctx = ShardCtx {
            run_id: run.run_id.clone(),
            job: job.clone(),
            business_date: run.business_date,
            item,
            total_items: job.shards,
            item_param: job.item_parameters.get(item).map(str::to_string),
            epoch,
            instance,
            ledger: self.ledger.clone(),
            paths: self.paths.clone(),
            cancel: self.shutdown.abort.child_token(),
            progress: progress.clone(),
            committed: AtomicBool::new(false),
        };
        let result = tokio::select! {
            result = tokio::time::timeout(job.timeout, kind.run_shard(&ctx)) => result,
            _ = self.shutdown.abort.cancelled() => return Ok(Attempt::Cancelled("cancelled by shutdown while running")),
        };
        let outcome = match result {
            Err(_) => {
                return Ok(Attempt::Failed(JobError::Failed(format!(
                    "timed out after {}",
                    humantime::format_duration(job.timeout)
                ))));
            }
            Ok(Err(JobError::Cancelled)) => return Ok(Attempt::Cancelled("cancelled")),
            Ok(Err(err)) => return Ok(Attempt::Failed(err)),
            Ok(Ok(outcome)) => ShardOutcome { item, ..outcome },
        };
        if !ctx.is_committed() {
            // A kind without outputs of its own: the done mark alone, still fenced.
            let committed = async {
                let tx = ctx.begin_outputs().await?;
                ctx.commit_outputs(tx, &outcome).await
            };
            if let Err(err) = committed.await {
                return Ok(Attempt::Failed(err));
            }
        }
        progress.shard_done(outcome.rows_in);
        Ok(Attempt::Done)
    }
}
