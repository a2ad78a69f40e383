//! Finishing a succeeded run of a kind whose business date feeds the next
//! one: the kind's carry digest goes to the ledger with the success, which
//! marks later dates stale in the same transaction; the run's attention
//! names them (docs/settlement.md, "Stale later dates").

use super::kind::{JobKind, RunCtx, RunOutcome};
use super::{RunError, Runner};
use crate::error_chain::chain;
use crate::ledger::{CarryEffect, RunStatus};

impl Runner {
    /// Finishes a run whose finalize succeeded, when its kind carries state:
    /// stores the digest, marks stale dates, adds them to the attention.
    /// `Ok(false)` when the kind carries nothing (the caller finishes the
    /// run as usual). A digest that cannot be computed fails the run.
    pub(super) async fn finish_with_carry(
        &self,
        kind: &dyn JobKind,
        ctx: &RunCtx,
        outcome: &RunOutcome,
    ) -> Result<bool, RunError> {
        let digest = match kind.carry_digest(ctx, outcome).await {
            Ok(None) => return Ok(false),
            Ok(Some(digest)) => digest,
            Err(err) => {
                let reason = format!(
                    "finalize failed: reading what {} carries into the next date: {}",
                    ctx.business_date,
                    chain(&err)
                );
                self.ledger
                    .finish_run_as(
                        &ctx.run_id,
                        RunStatus::Failed,
                        Some(&reason),
                        None,
                        ctx.leader_epoch,
                    )
                    .await?;
                return Ok(true);
            }
        };
        let finished = self
            .ledger
            .finish_succeeded_carrying(&ctx.run_id, &digest, ctx.leader_epoch, |effect| {
                let mut outcome = outcome.clone();
                outcome.attention.extend(stale_attention(ctx, effect));
                serde_json::to_value(&outcome)
            })
            .await?;
        if finished.is_none() {
            tracing::warn!(run_id = %ctx.run_id, "run was already final at the barrier; left as it was");
        }
        Ok(true)
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
