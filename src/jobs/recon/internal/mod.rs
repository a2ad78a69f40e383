//! `kind = "recon-internal"`: three-way internal reconciliation (内部对账) of
//! business date D by order number — business orders (order system) vs
//! payment records (fund system) vs journal entries (accounting).
//!
//! Each shard reads D's window of the three sides, keeps the order numbers
//! of its partition (`partition_of(order_no, shards)`), classifies every
//! order number into one category (`compute.rs`), and in its fenced
//! transaction replaces its rows of `(job, D, item)` in `recon_shard_rows`:
//! its breaks and its tally. `finalize` merges the rows of the current
//! shard count, checks conservation, publishes `summary.csv` and `diff.csv`,
//! and records the breaks in the break register. See `docs/recon-internal.md`.
//!
//! `[params]`: `cut_off` (`HH:MM`, default `00:00`: the calendar day),
//! `match_window` (default `30m`: records straddling a cut-off by less are
//! compared on the earlier date, see `membership.rs`).

pub mod compute;
pub mod fixtures;
pub mod membership;
pub mod reports;
pub mod store;

use std::time::Duration;

use chrono::NaiveTime;

use super::breaks::{self, NewBreak, RecordedBreaks};
use super::shard_rows::{self, RowsKey};
use crate::jobs::business::window::Window;
use crate::jobs::params::Params;
use crate::runtime::{JobError, JobKind, RunCtx, RunOutcome, ShardCtx, ShardOutcome};
use crate::sharding::partition_of;
use compute::{Category, Finding, Outcome, Side, Tally, TallyRow};
use membership::Span;

/// The `kind` name in job files.
pub const KIND: &str = "recon-internal";

/// Why an internal reconciliation failed.
#[derive(Debug, thiserror::Error)]
pub enum InternalReconError {
    /// A journal entry that cannot be compared as it is.
    #[error(transparent)]
    MixedCurrency(#[from] compute::MixedCurrencyEntry),
    /// The summary would not add up; nothing was written.
    #[error(transparent)]
    Conservation(#[from] reports::ConservationError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl From<InternalReconError> for JobError {
    fn from(err: InternalReconError) -> JobError {
        match err {
            InternalReconError::Database(e) => JobError::Database(e),
            InternalReconError::MixedCurrency(e) => JobError::Input(e.to_string()),
            other => JobError::Failed(other.to_string()),
        }
    }
}

/// The `recon-internal` job kind.
#[derive(Debug, Default)]
pub struct InternalRecon;

/// The daily cut-off of a job (`cut_off`, default 00:00).
fn cut_off(params: &toml::Table) -> Result<NaiveTime, crate::jobs::params::ParamError> {
    Params::new(params).time_or("cut_off", NaiveTime::MIN)
}

/// The daily cut-off and the match window of a job.
fn span_of(
    params: &toml::Table,
    date: chrono::NaiveDate,
    zone: chrono_tz::Tz,
) -> Result<Span, JobError> {
    let window = Window::for_date(date, cut_off(params)?, zone);
    Ok(Span::new(window, match_window(params)?))
}

/// `escalate_after_days` (default 3): unresolved breaks older than this are
/// named in the run's attention.
fn escalate_after_days(params: &toml::Table) -> Result<u32, crate::jobs::params::ParamError> {
    u32::try_from(Params::new(params).u64_or("escalate_after_days", 3)?)
        .map_err(|_| crate::jobs::params::ParamError::new("escalate_after_days", "is too large"))
}

/// `match_window` (default 30 minutes, at most 6 hours).
fn match_window(params: &toml::Table) -> Result<Duration, crate::jobs::params::ParamError> {
    let hold = Params::new(params).duration_or("match_window", Duration::from_secs(30 * 60))?;
    if hold > membership::MATCH_WINDOW_MAX {
        return Err(crate::jobs::params::ParamError::new(
            "match_window",
            "must be at most 6h (it must stay well inside one business day)",
        ));
    }
    Ok(hold)
}

/// Reads D's records of the three sides (with the match window around the
/// cut-offs) and compares the order numbers of one partition.
async fn compute_shard(ctx: &ShardCtx) -> Result<Outcome, JobError> {
    let db = ctx.db();
    let span = span_of(&ctx.job.params, ctx.business_date, ctx.job.time_zone)?;
    let range = span.read_range();
    let mine = |key: &str| partition_of(key, ctx.total_items) == ctx.item;
    let mut orders = store::orders(db, &range).await?;
    orders.retain(|(_, no, _)| mine(no));
    let mut payments = store::payments(db, &range).await?;
    payments.retain(|(_, no, _)| mine(no));
    let mut lines = store::journal_lines(db, &range).await?;
    lines.retain(|(_, no, _)| mine(no));
    let (orders, payments, lines) = membership::select(&span, orders, payments, lines);
    let entries = compute::entries_from_lines(&lines).map_err(InternalReconError::from)?;
    Ok(compute::reconcile(&orders, &payments, &entries))
}

/// What a shard hands to finalize (its rows are in `recon_shard_rows`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct InternalShard {
    order_numbers: u64,
    breaks: u64,
}

#[async_trait::async_trait]
impl JobKind for InternalRecon {
    fn name(&self) -> &'static str {
        KIND
    }

    fn check_params(&self, params: &toml::Table) -> Result<(), (String, String)> {
        cut_off(params)?;
        match_window(params)?;
        escalate_after_days(params)?;
        Ok(())
    }

    async fn run_shard(&self, ctx: &ShardCtx) -> Result<ShardOutcome, JobError> {
        let outcome = compute_shard(ctx).await?;
        if ctx.cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        let findings: Vec<&Finding> = outcome
            .findings
            .iter()
            .filter(|f| f.category != Category::Matched)
            .collect();
        let tally = outcome.tally.to_rows();
        let rows_in: u64 = Side::ALL.iter().map(|s| outcome.tally.read_count(*s)).sum();
        let shard_outcome = ShardOutcome::typed(
            ctx.item,
            rows_in,
            findings.len() as u64,
            &InternalShard {
                order_numbers: outcome.findings.len() as u64,
                breaks: findings.len() as u64,
            },
        )?;
        let key = RowsKey {
            job: &ctx.job.name,
            business_date: ctx.business_date,
            item: ctx.item,
            run_id: &ctx.run_id,
        };
        let mut tx = ctx.begin_outputs().await?;
        shard_rows::replace(tx.tx(), key, store::FINDING_ROWS, &findings).await?;
        shard_rows::replace(tx.tx(), key, store::TALLY_ROWS, &tally).await?;
        ctx.commit_outputs(tx, &shard_outcome).await?;
        Ok(shard_outcome)
    }

    async fn finalize(
        &self,
        ctx: &RunCtx,
        shards: &[ShardOutcome],
    ) -> Result<RunOutcome, JobError> {
        for shard in shards {
            shard.summary_as::<InternalShard>()?;
        }
        let (findings, tally) = merged(ctx).await?;
        reports::check_conservation(&tally, &findings).map_err(InternalReconError::from)?;
        let breaks = reports::breaks(&findings);
        let bom = ctx.paths.excel_bom;
        let mut files = vec![reports::summary(&tally, bom)?, reports::diff(&breaks, bom)?];
        let register: Vec<NewBreak> = breaks.iter().map(|f| new_break(f)).collect();
        // Register and reports together, under the leader fence: a failed
        // publish rolls the register back; a superseded leader writes neither.
        let mut lead = ctx.lead().await?;
        let recorded = breaks::record_date(
            lead.tx(),
            &ctx.job.name,
            ctx.business_date,
            &ctx.run_id,
            &register,
        )
        .await?;
        let (job, zone) = (&ctx.job.name, ctx.job.time_zone);
        files.push(
            breaks::rollforward_date_report(lead.tx(), job, zone, ctx.business_date, bom).await?,
        );
        // Counted in the conclusion transaction: it sees this run's register writes.
        let escalate = escalate_after_days(&ctx.job.params)?;
        let aged = breaks::aged_attention(lead.tx(), job, ctx.business_date, escalate).await?;
        let reports = ctx.publish(&lead, files)?;
        lead.done();
        let mut attention = attention(ctx, &breaks, recorded);
        if let Some(line) = aged {
            attention.push(line);
        }
        Ok(RunOutcome {
            reports,
            summary: run_summary(&tally, &breaks, recorded),
            attention,
            failure: None,
        })
    }
}

/// Every current shard's breaks and tallies, merged.
async fn merged(ctx: &RunCtx) -> Result<(Vec<Finding>, Tally), JobError> {
    let db = ctx.ledger.db();
    let (job, date, items) = (&ctx.job.name, ctx.business_date, ctx.job.shards);
    let findings: Vec<Finding> =
        shard_rows::read(db, job, date, items, store::FINDING_ROWS).await?;
    let rows: Vec<TallyRow> = shard_rows::read(db, job, date, items, store::TALLY_ROWS).await?;
    let mut tally = Tally::default();
    tally.add_rows(&rows);
    Ok((findings, tally))
}

/// The register's view of a break.
fn new_break(finding: &Finding) -> NewBreak {
    let payload = serde_json::json!({
        "orders_amount": finding.orders.amount,
        "payments_amount": finding.payments.amount,
        "journal_amount": finding.journal.amount,
        "orders_status": finding.orders.status,
        "payments_status": finding.payments.status,
        "journal_entries": finding.entries,
    });
    NewBreak {
        category: finding.category.as_str().to_string(),
        key: finding.order_no.clone(),
        kind: "order".to_string(),
        sides: finding.sides.clone(),
        left_amount: finding.left_amount,
        right_amount: finding.right_amount,
        delta: finding.delta,
        detail: finding.detail.clone(),
        payload: payload.to_string(),
        pending: false,
    }
}

/// Counts per category and what the register did, for the run record.
fn run_summary(tally: &Tally, breaks: &[&Finding], recorded: RecordedBreaks) -> serde_json::Value {
    let mut categories = serde_json::Map::new();
    for category in Category::ALL {
        let count = breaks.iter().filter(|f| f.category == category).count();
        if category != Category::Matched {
            categories.insert(category.as_str().to_string(), count.into());
        }
    }
    let read: serde_json::Map<String, serde_json::Value> = Side::ALL
        .iter()
        .map(|side| (side.as_str().to_string(), tally.read_count(*side).into()))
        .collect();
    serde_json::json!({
        "read": read,
        "breaks": breaks.len(),
        "categories": categories,
        "register": recorded,
    })
}

/// Order numbers named per category in an attention line; the rest are in diff.csv.
const ATTENTION_KEYS_MAX: usize = 10;

/// One line per break category when the run opened new breaks.
fn attention(ctx: &RunCtx, breaks: &[&Finding], recorded: RecordedBreaks) -> Vec<String> {
    if recorded.opened == 0 {
        return Vec::new();
    }
    let mut lines = vec![format!(
        "{} {}: {} new break(s) in the register ({} found in all)",
        ctx.job.name,
        ctx.business_date,
        recorded.opened,
        breaks.len()
    )];
    for category in Category::ALL {
        let keys: Vec<&str> = breaks
            .iter()
            .filter(|f| f.category == category)
            .map(|f| f.order_no.as_str())
            .collect();
        if keys.is_empty() {
            continue;
        }
        let more = keys.len().saturating_sub(ATTENTION_KEYS_MAX);
        let shown = keys[..keys.len() - more].join(", ");
        lines.push(if more > 0 {
            format!("{}: {shown} and {more} more", category.as_str())
        } else {
            format!("{}: {shown}", category.as_str())
        });
    }
    lines
}
