//! One shard of a funds reconciliation: wait for the statements, read both
//! sides' records of this shard's partition, compare, and store the diff
//! rows and rejects for the finalize step inside the fenced transaction.

use std::path::{Path, PathBuf};

use crate::jobs::recon::engine::{
    CompareConfig, EngineError, Side, SideBuilder, SideName, SideSummary, compare,
};
use crate::jobs::recon::formats::{ReadOptions, RejectRow, StatementFormat, await_statement};
use crate::jobs::recon::shard_rows::{self, RowsKey};
use crate::runtime::{JobError, ShardCtx, ShardOutcome};
use crate::sharding::partition_of;

use super::ledger::read_ledger;
use super::passes::ShardPasses;
use super::settings::FundsSettings;
use super::split;
use super::{DIFF_ROWS, REJECT_ROWS};
use crate::jobs::recon::findings::FeeTotals;

/// Per-side counts a shard hands to finalize (in `ShardOutcome::summary`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ShardSummary {
    pub ledger: SideSummary,
    pub statement: SideSummary,
    /// Notes on the statement files (item 0 only), e.g. WeChat's `No Bill
    /// Exist` read as an empty day.
    #[serde(default)]
    pub notes: Vec<String>,
    /// The fee audit of the shard's statement payments (with a contract).
    #[serde(default)]
    pub fees: FeeTotals,
}

/// Runs one shard; rejects (which have no trustworthy key) belong to item 0.
pub async fn run(ctx: &ShardCtx) -> Result<ShardOutcome, JobError> {
    let settings = FundsSettings::from_params(&ctx.job.params)?;
    let (date, zone) = (ctx.business_date, ctx.job.time_zone);
    let paths = settings.statement_paths(&ctx.paths.data_dir, date);
    let deadline = settings.deadline_instant(date, zone);
    let waiting_since = ctx.ledger.clock().now();
    for path in &paths {
        await_statement(
            path,
            settings.poll_interval,
            deadline,
            ctx.cancel.clone(),
            ctx.ledger.clock().as_ref(),
        )
        .await
        .map_err(EngineError::from)?;
    }
    // For the statement-wait metric (an event, so reports stay deterministic).
    let waited = ctx.ledger.clock().now() - waiting_since;
    ctx.ledger
        .append_event(
            &ctx.run_id,
            Some(ctx.item),
            crate::ledger::STATEMENT_WAIT_EVENT,
            &format!("waited_ms={}", waited.num_milliseconds().max(0)),
        )
        .await?;
    let (item, items) = (ctx.item, ctx.total_items);
    let (format, read) = (settings.format.clone(), settings.read);
    let passes = ShardPasses::new(settings.fee.clone());
    let split_top = ctx.paths.reports_dir.join(".work").join("statement-split");
    let split_root = split_top.join(date.to_string()).join(&ctx.job.name);
    let (statement, statement_rejects, notes, mut passes) =
        tokio::task::spawn_blocking(move || {
            split::sweep(&split_top, split::SPLIT_RETENTION);
            read_statements(&split_root, &paths, &format, read, item, items, passes)
        })
        .await
        .map_err(|e| JobError::Failed(format!("statement reader stopped: {e}")))??;

    let window = settings.window(date, zone);
    let (records, rejects) = read_ledger(ctx.db(), &settings.channel, &window, zone).await?;
    let mut ledger = SideBuilder::new(SideName::Ledger);
    for record in records
        .iter()
        .filter(|r| partition_of(&r.key, items) == item)
    {
        ledger.push_record(record);
        passes.ledger(record);
    }
    if item == 0 {
        ledger.push_rejects(rejects);
    }
    let ledger = ledger.finish();

    let pending_window =
        chrono::Duration::from_std(settings.pending_window).map_err(|_| JobError::Param {
            field: "pending_window".into(),
            reason: "is too long".into(),
        })?;
    let config = CompareConfig {
        cutoff: Some(settings.local_cutoff(date, zone)),
        pending_window,
    };
    let mut comparison = compare(&ledger, &statement, &config)?;
    // The statement files' rejects (item 0) come detached from the split.
    comparison.statement.read.rejects += statement_rejects.len() as u64;
    if ctx.cancel.is_cancelled() {
        return Err(JobError::Cancelled);
    }
    let diff = comparison.records(&ledger, &statement);
    let reject_rows: Vec<RejectRow> = ledger
        .rejects()
        .iter()
        .chain(statement.rejects())
        .map(RejectRow::from)
        .chain(statement_rejects)
        .collect();
    let summary = ShardSummary {
        ledger: comparison.ledger.clone(),
        statement: comparison.statement.clone(),
        notes,
        fees: passes.fees.totals,
    };
    let outcome = ShardOutcome {
        item,
        rows_in: ledger.totals().records
            + ledger.totals().rejects
            + comparison.statement.read.records
            + comparison.statement.read.rejects,
        rows_out: diff.len() as u64,
        summary: serde_json::to_value(&summary).map_err(|e| JobError::Failed(e.to_string()))?,
    };
    let key = RowsKey {
        job: &ctx.job.name,
        business_date: date,
        item,
        run_id: &ctx.run_id,
    };
    let mut tx = ctx.begin_outputs().await?;
    shard_rows::replace(tx.tx(), key, DIFF_ROWS, &diff).await?;
    shard_rows::replace(tx.tx(), key, REJECT_ROWS, &reject_rows).await?;
    passes.store(tx.tx(), key).await?;
    ctx.commit_outputs(tx, &outcome).await?;
    Ok(outcome)
}

/// The statement side of partition `item` of `items`, from the split of
/// every file ([`split`]: read once for all shards), the files' rejects and
/// notes (item 0 only), and the passes with the side's records seen.
fn read_statements(
    split_root: &Path,
    paths: &[PathBuf],
    format: &StatementFormat,
    read: ReadOptions,
    item: u32,
    items: u32,
    mut passes: ShardPasses,
) -> Result<(Side, Vec<RejectRow>, Vec<String>, ShardPasses), JobError> {
    let part = split::statement_part(split_root, paths, format, read, item, items)?;
    let mut builder = SideBuilder::new(SideName::Statement);
    for record in &part.records {
        builder.push_record(record);
        passes.statement(record);
    }
    Ok((builder.finish(), part.rejects, part.notes, passes))
}
