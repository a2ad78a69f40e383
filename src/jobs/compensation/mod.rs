//! `kind = "compensation"`: drives half-done distributed transactions
//! (transactional messages in `txn_messages`) to a final state, exactly once.
//!
//! Per shard (messages partitioned by a stable hash of their id, see
//! [`store::bucket_of`]): check back `prepared` messages older than
//! `min_age` through the checker of their transaction type, then deliver
//! `committed` ones downstream with the message id as idempotency key.
//! Unknown answers and failed deliveries back off exponentially and end
//! `dead` after the maximum tries; a run with new dead messages succeeds and
//! lists them in [`crate::runtime::RunOutcome::attention`].
//!
//! Business systems call [`manual::confirm`]; operators use `reckon txn`
//! ([`manual::retry`], [`manual::resolve`]). See `docs/compensation.md`.

pub mod bench;
mod checker;
mod downstream;
pub mod engine;
pub mod error;
pub mod fixtures;
mod http;
pub mod manual;
pub mod report;
pub mod settings;
pub mod state;
pub mod store;

pub use engine::{Engine, Hooks, Scope, Tally};
pub use error::CompensationError;
pub use manual::{Confirmation, Decision, confirm};
pub use settings::Settings;
pub use state::State;
pub use store::{Message, NewMessage, Partition, prepare};

use crate::runtime::{JobError, JobKind, RunCtx, RunOutcome, ShardCtx, ShardOutcome};

/// The `compensation` job kind.
#[derive(Clone, Default)]
pub struct Compensation {
    hooks: Hooks,
}

impl Compensation {
    /// A kind with test hooks armed (fault points).
    pub fn with_hooks(hooks: Hooks) -> Compensation {
        Compensation { hooks }
    }
}

/// What a shard leaves for finalize.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct ShardSummary {
    /// The run whose journal holds this shard's transitions (differs from
    /// the finalizing run when the shard was carried over by a rerun).
    run_id: String,
    tally: Tally,
}

#[async_trait::async_trait]
impl JobKind for Compensation {
    fn name(&self) -> &'static str {
        "compensation"
    }

    fn check_params(&self, params: &toml::Table) -> Result<(), (String, String)> {
        Settings::from_params(params)
            .map(|_| ())
            .map_err(Into::into)
    }

    async fn run_shard(&self, ctx: &ShardCtx) -> Result<ShardOutcome, JobError> {
        let settings = Settings::from_params(&ctx.job.params)?;
        let engine = Engine::new(
            ctx.db().clone(),
            settings,
            ctx.ledger.clock().clone(),
            self.hooks.clone(),
        )
        .await?;
        let scope = Scope {
            partition: Partition {
                item: ctx.item,
                total: ctx.total_items,
            },
            fence: Some(store::Fence {
                job: ctx.job.name.clone(),
                business_date: ctx.business_date,
                item: ctx.item,
                epoch: ctx.epoch,
            }),
            journal: store::Journal {
                run_id: ctx.run_id.to_string(),
                item: ctx.item,
            },
            cancel: Some(ctx.cancel.clone()),
        };
        let tally = engine.run_partition(&scope).await?;
        let summary = ShardSummary {
            run_id: ctx.run_id.to_string(),
            tally,
        };
        let outcome = ShardOutcome {
            item: ctx.item,
            rows_in: tally.checked + tally.delivered + tally.delivery_failed,
            rows_out: tally.applied(),
            summary: serde_json::to_value(&summary).map_err(|e| JobError::Failed(e.to_string()))?,
        };
        // The transitions committed batch by batch (each fenced); this marks
        // the shard done with its tally.
        let tx = ctx.begin_outputs().await?;
        ctx.commit_outputs(tx, &outcome).await?;
        Ok(outcome)
    }

    async fn finalize(
        &self,
        ctx: &RunCtx,
        shards: &[ShardOutcome],
    ) -> Result<RunOutcome, JobError> {
        let mut actions = Vec::new();
        let mut total = Tally::default();
        for shard in shards {
            let summary: ShardSummary = shard.summary_as()?;
            let run_id = if summary.run_id.is_empty() {
                ctx.run_id.as_str()
            } else {
                summary.run_id.as_str()
            };
            let listed = report::load_actions(ctx.ledger.db(), run_id, shard.item).await?;
            // The summary counts what the report lists: every journaled change
            // of the shard, whichever owner (epoch) committed it — not the tally
            // of the last owner alone.
            let tally = Tally::of_changes(
                listed
                    .iter()
                    .map(|a| (a.old_state.as_str(), a.new_state.as_str())),
            )
            .map_err(JobError::Failed)?;
            total.add(&Tally {
                lost_races: summary.tally.lost_races,
                ..tally
            });
            actions.extend(listed);
        }
        report::sort(&mut actions);
        let bom = ctx.paths.excel_bom;
        let files = vec![
            report::compensation_csv(&actions, bom)?.finish()?,
            report::summary_csv(&actions, bom)?.finish()?,
        ];
        let lead = ctx.lead().await?;
        let reports = ctx.publish(&lead, files)?;
        lead.done();
        Ok(RunOutcome {
            reports,
            summary: serde_json::to_value(total).map_err(|e| JobError::Failed(e.to_string()))?,
            attention: report::attention(&actions),
            failure: None,
        })
    }
}
