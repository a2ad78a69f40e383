//! Driving one shard item through its attempts: claim (new epoch), run with
//! a timeout, retry with backoff, and record how it ended.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::kind::{JobError, ShardCtx, ShardOutcome};
use super::progress::Progress;
use super::{RunError, Runner};
use crate::catalog::JobDef;
use crate::error_chain::chain;
use crate::ledger::{LedgerError, RunId, RunRecord, RunStatus, ShardEpoch};

/// How one attempt ended.
enum Attempt {
    Done,
    Failed(JobError),
    Cancelled(&'static str),
    /// This node lost ownership of the shard (cluster session expired,
    /// shutdown of a cluster node): another node takes it over.
    Lost,
}

/// How the work on one item ended, seen from this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemEnd {
    /// Committed (here, or earlier by another owner).
    Succeeded,
    /// Failed or cancelled, recorded in the ledger.
    Ended,
    /// Given up without recording anything: ownership passed to another node.
    Released,
}

/// How a shard is owned while this node drives it.
#[derive(Debug, Clone)]
pub(super) struct Ownership {
    /// Cancelled when this node loses the shard (cluster session expiry).
    pub lost: CancellationToken,
    /// Cluster mode: end marks are fenced by the epoch held, and a shard
    /// this node cannot finish (shutdown, takeover) is left to another node.
    pub distributed: bool,
}

impl Ownership {
    /// A single node owns every shard it runs until it finishes it.
    pub fn local() -> Ownership {
        Ownership {
            lost: CancellationToken::new(),
            distributed: false,
        }
    }
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
        owner: &Ownership,
    ) -> ItemEnd {
        let mut epoch = None;
        let ended = {
            // While this node holds the item (queued for a slot, waiting out a
            // backoff, running), its heartbeat tells the leader it is waiting,
            // not stalled.
            // The heartbeat is polled beside the attempts, never instead of
            // them: an attempt holding a transaction on this shard's row (the
            // claim, the fenced outputs) keeps moving while a heartbeat waits
            // for that row. A heartbeat run inside a `select!` arm would stall
            // the attempt's open transaction until the database's lock and
            // idle-in-transaction timeouts killed it.
            let attempts = self.attempts(run, job, item, permits, &progress, owner, &mut epoch);
            tokio::select! {
                ended = attempts => ended,
                never = self.shard_heartbeat(&run.run_id, item) => match never {},
            }
        };
        let (status, message) = match ended {
            Ok(None) => return ItemEnd::Succeeded,
            Ok(Some((status, message))) => (status, message),
            Err(RunError::Ledger(LedgerError::RunOver { .. })) => {
                // The run ended without this shard (failed, cancelled): its
                // shards are not run, nor committed into it.
                return ItemEnd::Ended;
            }
            Err(err) => (RunStatus::Failed, chain(&err)),
        };
        if owner.distributed && (status != RunStatus::Failed || owner.lost.is_cancelled()) {
            // Cancelled by shutdown or lost: the leader hands it to another node.
            return ItemEnd::Released;
        }
        if status == RunStatus::Failed {
            progress.shard_failed();
        }
        let fence = if owner.distributed { epoch } else { None };
        match self
            .ledger
            .end_shard_fenced(&run.run_id, item, status, &message, fence)
            .await
        {
            Ok(true) => ItemEnd::Ended,
            Ok(false) => ItemEnd::Released,
            Err(err) => {
                tracing::error!(run_id = %run.run_id, item, error = %chain(&err), "cannot record shard end");
                ItemEnd::Released
            }
        }
    }

    /// `Ok(None)` when the shard succeeded, else its final status and reason;
    /// `epoch` tells the caller the last epoch claimed, for a fenced end mark.
    #[allow(clippy::too_many_arguments)]
    async fn attempts(
        &self,
        run: &RunRecord,
        job: &Arc<JobDef>,
        item: u32,
        permits: Arc<Semaphore>,
        progress: &Arc<Progress>,
        owner: &Ownership,
        epoch: &mut Option<ShardEpoch>,
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
                _ = owner.lost.cancelled() => None,
            };
            if _permit.is_none() {
                return Ok(Some((
                    RunStatus::Cancelled,
                    "not started: reckon is shutting down".into(),
                )));
            }
            match self.attempt(run, job, item, progress, owner, epoch).await? {
                Attempt::Done => return Ok(None),
                Attempt::Lost => {
                    return Ok(Some((RunStatus::Cancelled, "ownership lost".into())));
                }
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
                        if owner.distributed
                            && matches!(err, JobError::Ledger(LedgerError::Fenced { .. }))
                        {
                            // Taken over by another node: it is theirs now.
                            return Ok(Some((RunStatus::Cancelled, last_error)));
                        }
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
                    _ = owner.lost.cancelled() => {
                        return Ok(Some((RunStatus::Cancelled, "ownership lost".into())));
                    }
                }
            }
        }
        Ok(Some((RunStatus::Failed, last_error)))
    }

    /// Refreshes the shard's heartbeat every `heartbeat_interval`, for as long
    /// as it is polled; a failed heartbeat is logged, never fatal.
    async fn shard_heartbeat(&self, run_id: &RunId, item: u32) -> std::convert::Infallible {
        loop {
            if let Err(err) = self.ledger.heartbeat_shard(run_id, item).await {
                tracing::warn!(%run_id, item, error = %chain(&err), "shard heartbeat failed");
            }
            tokio::time::sleep(self.config.heartbeat_interval).await;
        }
    }

    async fn attempt(
        &self,
        run: &RunRecord,
        job: &Arc<JobDef>,
        item: u32,
        progress: &Arc<Progress>,
        owner: &Ownership,
        held: &mut Option<ShardEpoch>,
    ) -> Result<Attempt, RunError> {
        if owner.lost.is_cancelled() {
            return Ok(Attempt::Lost);
        }
        let instance = self.coord.instance_id().to_string();
        let epoch = match self
            .ledger
            .claim_shard(&run.run_id, &job.name, run.business_date, item, &instance)
            .await
        {
            Ok(epoch) => epoch,
            Err(LedgerError::AlreadyCommitted { .. }) => return Ok(Attempt::Done),
            Err(err) => return Err(err.into()),
        };
        *held = Some(epoch);
        let kind = self
            .kinds
            .get(&job.kind)
            .ok_or_else(|| RunError::UnknownKind {
                job: job.name.clone(),
                kind: job.kind.clone(),
            })?;
        // The kind sees one token: cancelled on shutdown abort or lost ownership.
        let cancel = self.shutdown.abort.child_token();
        let _cancel_on_end = cancel.clone().drop_guard();
        if owner.distributed {
            let (linked, lost) = (cancel.clone(), owner.lost.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = lost.cancelled() => linked.cancel(),
                    _ = linked.cancelled() => {}
                }
            });
        }
        let ctx = ShardCtx {
            run_id: run.id(),
            job: job.clone(),
            business_date: run.business_date,
            item,
            total_items: job.shards,
            item_param: job.item_parameters.get(item).map(str::to_string),
            epoch,
            instance,
            ledger: self.ledger.clone(),
            paths: self.paths.clone(),
            cancel,
            progress: progress.clone(),
            committed: AtomicBool::new(false),
        };
        let result = tokio::select! {
            result = tokio::time::timeout(job.timeout, kind.run_shard(&ctx)) => result,
            _ = self.shutdown.abort.cancelled() => return Ok(Attempt::Cancelled("cancelled by shutdown while running")),
            _ = owner.lost.cancelled() => return Ok(Attempt::Lost),
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
