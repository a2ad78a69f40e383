//! Recording a run's conclusion: the run's own finish (status, outcome,
//! report events) and, for a kind whose business date feeds the next one,
//! its carry digest with the stale marks of later dates, all written in the
//! transaction the kind's finalize wrote under the leader fence
//! ([`super::LeadTx`]) and committed with it — finalize effects and the
//! run's success commit together or not at all (issue 13). The run's
//! attention names the stale dates (docs/settlement.md, "Stale later dates").

use super::kind::{JobKind, RunCtx, RunOutcome};
use super::{RunError, Runner};
use crate::db::DbTx;
use crate::error_chain::chain;
use crate::ledger::{CarryEffect, LedgerError, RunStatus};

impl Runner {
    /// Records a finalize's `outcome` in `staged` (the conclusion
    /// transaction the kind handed over with [`super::LeadTx::done`]; a kind
    /// that wrote nothing under the fence gets one opened here) and commits:
    /// report events, the run's final status and outcome, and — for a
    /// succeeded run of a kind that carries state — its digest and the stale
    /// marks. A digest that cannot be computed fails the run. Any error
    /// rolls all of it back, the kind's writes included; the run stays
    /// unfinished and is concluded again.
    pub(super) async fn record_conclusion(
        &self,
        kind: &dyn JobKind,
        ctx: &RunCtx,
        outcome: &RunOutcome,
        staged: Option<DbTx>,
    ) -> Result<(), RunError> {
        // Asked before anything is written: the digest reads the shards'
        // committed outputs (or the outcome), not the finalize's writes.
        let digest = match outcome.failure {
            Some(_) => Ok(None),
            None => kind.carry_digest(ctx, outcome).await.map_err(|err| {
                format!(
                    "finalize failed: reading what {} carries into the next date: {}",
                    ctx.business_date,
                    chain(&err)
                )
            }),
        };
        let mut tx = match staged {
            Some(tx) => tx,
            None => match self
                .ledger
                .begin_conclusion(&ctx.run_id, ctx.leader_epoch)
                .await
            {
                Ok(tx) => tx,
                Err(LedgerError::WrongState { actual, .. }) => {
                    tracing::warn!(run_id = %ctx.run_id, %actual, "run was already final at the barrier; left as it was");
                    return Ok(());
                }
                Err(err) => return Err(err.into()),
            },
        };
        match self.conclusion_writes(&mut tx, ctx, outcome, digest).await {
            Ok(()) => {
                tx.commit().await.map_err(LedgerError::from)?;
                Ok(())
            }
            Err(err) => {
                if let Err(rollback) = tx.rollback().await {
                    tracing::warn!(run_id = %ctx.run_id, error = %chain(&rollback), "rolling back a conclusion failed");
                }
                Err(err)
            }
        }
    }

    async fn conclusion_writes(
        &self,
        tx: &mut DbTx,
        ctx: &RunCtx,
        outcome: &RunOutcome,
        digest: Result<Option<String>, String>,
    ) -> Result<(), RunError> {
        let run_id = &ctx.run_id;
        let value = serde_json::to_value(outcome).map_err(|e| RunError::BadSummary {
            run_id: run_id.clone(),
            item: 0,
            reason: format!("the run outcome does not serialize: {e}"),
        })?;
        for file in &outcome.reports {
            self.ledger
                .append_event_in(tx, run_id, None, "report", &file.display().to_string())
                .await?;
        }
        let finished = match digest {
            Err(reason) => {
                self.ledger
                    .finish_run_in(tx, run_id, RunStatus::Failed, Some(&reason), None)
                    .await?
            }
            Ok(Some(digest)) => self
                .ledger
                .finish_succeeded_carrying_in(tx, run_id, &digest, |effect| {
                    let mut outcome = outcome.clone();
                    outcome.attention.extend(stale_attention(ctx, effect));
                    serde_json::to_value(&outcome)
                })
                .await?
                .is_some(),
            // A kind may publish its reports and still fail the run
            // (RunOutcome::failure): the reports stay recorded.
            Ok(None) => {
                let status = match outcome.failure {
                    Some(_) => RunStatus::Failed,
                    None => RunStatus::Succeeded,
                };
                self.ledger
                    .finish_run_in(tx, run_id, status, outcome.failure.as_deref(), Some(&value))
                    .await?
            }
        };
        if !finished {
            tracing::warn!(run_id = %run_id, "run was already final at the barrier; left as it was");
        }
        Ok(())
    }
}

/// Attention lines naming the stale dates and what to run.
fn stale_attention(ctx: &RunCtx, effect: &CarryEffect) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some((first_date, first_run)) = effect.stale_later.first() {
        let dates: Vec<String> = effect
            .stale_later
            .iter()
            .map(|(date, run)| format!("{date} (run {run})"))
            .collect();
        lines.push(format!(
            "what {} carries into the next date changed: later dates of {} are now stale: {}; \
             rerun them in date order from {first_date}: reckon rerun {first_run} --cascade --reason …",
            ctx.business_date,
            ctx.job.name,
            dates.join(", ")
        ));
    }
    if let Some((date, cause)) = &effect.stale_self {
        lines.push(format!(
            "this run is stale: run {cause} changed what {date} carries while this run was running; \
             rerun it: reckon rerun {} --cascade --reason …",
            ctx.run_id
        ));
    }
    lines
}
