//! `kind = "recon-funds"`: our payment ledger (the channel's orders and
//! refunds of the business date) against the channel's statement file(s),
//! matched by order number (refunds by refund number).
//!
//! Each shard waits for the statements, reads both sides' records of its
//! partition (`partition_of(key)`), compares them with the engine and stores
//! its diff rows and rejects in its fenced transaction. `finalize` merges the
//! shards, pairs today's one-sided records with earlier dates' pending and
//! missing records (cross-day transactions), checks conservation, publishes
//! `summary.csv`, `diff.csv`, `rejects.csv`, `carried.csv`, and records the
//! breaks in the register. See `docs/recon.md`.

pub mod bench;
pub mod carried_state;
pub mod carry;
pub mod ledger;
pub mod passes;
pub mod settings;
pub mod shard;
mod split;
pub mod tieout;

use crate::jobs::recon::breaks::{self, NewBreak};
use crate::jobs::recon::engine::{
    Category, DiffRecord, SideName, SideSummary, SideValues, cents_to_decimal,
    cents_to_decimal_i128,
};
use crate::jobs::recon::findings::{self, FeeTotals, FindingCategory};
use crate::jobs::recon::formats::{RejectRow, reject_rows_report};
use crate::jobs::recon::shard_rows;
use crate::runtime::{JobError, JobKind, RunCtx, RunOutcome, ShardCtx, ShardOutcome};
use settings::FundsSettings;
use shard::ShardSummary;

/// `row_type` of the diff rows in `recon_shard_rows`.
pub(crate) const DIFF_ROWS: &str = "funds_diff";
/// `row_type` of the rejects in `recon_shard_rows`.
pub(crate) const REJECT_ROWS: &str = "funds_reject";

/// The `recon-funds` job kind.
#[derive(Debug, Default)]
pub struct ReconFunds;

#[async_trait::async_trait]
impl JobKind for ReconFunds {
    fn name(&self) -> &'static str {
        "recon-funds"
    }

    fn check_params(&self, params: &toml::Table) -> Result<(), (String, String)> {
        FundsSettings::from_params(params)?;
        tieout::TieoutSettings::from_params(params)?;
        Ok(())
    }

    async fn run_shard(&self, ctx: &ShardCtx) -> Result<ShardOutcome, JobError> {
        shard::run(ctx).await
    }

    /// Computed by `finalize` from the date's one-sided records and carried
    /// decisions ([`carried_state`]) and kept in the run summary.
    async fn carry_digest(
        &self,
        _ctx: &RunCtx,
        outcome: &RunOutcome,
    ) -> Result<Option<String>, JobError> {
        let digest = outcome.summary.get("carry_digest").and_then(|d| d.as_str());
        match digest {
            Some(digest) => Ok(Some(digest.to_string())),
            None => Err(JobError::Failed(
                "finalize left no carry_digest in its summary".into(),
            )),
        }
    }

    async fn finalize(
        &self,
        ctx: &RunCtx,
        shards: &[ShardOutcome],
    ) -> Result<RunOutcome, JobError> {
        let settings = FundsSettings::from_params(&ctx.job.params)?;
        let db = ctx.ledger.db();
        let (job, date, items) = (&ctx.job.name, ctx.business_date, ctx.job.shards);
        let mut ledger = SideSummary::empty(SideName::Ledger);
        let mut statement = SideSummary::empty(SideName::Statement);
        let mut notes = Vec::new();
        let mut fees = FeeTotals::default();
        for shard in shards {
            let summary: ShardSummary = shard.summary_as()?;
            ledger.merge(&summary.ledger);
            statement.merge(&summary.statement);
            notes.extend(summary.notes);
            fees.merge(&summary.fees);
        }
        let mut records: Vec<DiffRecord> =
            shard_rows::read(db, job, date, items, DIFF_ROWS).await?;
        records.sort_by(|a, b| a.report_order().cmp(&b.report_order()));
        let rejects: Vec<RejectRow> = shard_rows::read(db, job, date, items, REJECT_ROWS).await?;

        let carried = breaks::carried(db, job, date, &carry::ONE_SIDED).await?;
        let decisions = carry::pair(
            &carried,
            &mut records,
            &mut ledger,
            &mut statement,
            date,
            settings.pending_days,
        )?;
        records.retain(|record| record.category != Category::Matched);
        records.sort_by(|a, b| a.report_order().cmp(&b.report_order()));
        ledger.check_conservation()?;
        statement.check_conservation()?;
        let day = passes::day_findings(ctx, &settings, &fees, &records).await?;

        let bom = ctx.paths.excel_bom;
        let mut files = vec![
            findings::summary_report(&ledger, &statement, &day.findings, day.fees.as_ref(), bom)?,
            findings::diff_report(&records, &day.findings, bom)?,
            reject_rows_report(rejects.clone(), bom)?.finish()?,
            carry::report(&decisions, bom)?,
        ];
        let tie = tieout::run(ctx, &settings).await?;
        let mut found: Vec<NewBreak> = records.iter().map(new_break).collect::<Result<_, _>>()?;
        found.extend(day.findings.iter().map(findings::Finding::new_break));
        if let Some(tie) = &tie {
            files.push(tieout::tieout_report(std::slice::from_ref(tie), bom)?);
            found.extend(tie.to_break());
        }
        // Register, carried records, refund links and reports together, under
        // the leader fence: a superseded leader writes none of them; a failed
        // publish rolls the register back.
        let mut lead = ctx.lead().await?;
        let recorded = breaks::record_date(lead.tx(), job, date, &ctx.run_id, &found).await?;
        for decision in decisions.iter().filter(|d| d.changes_register()) {
            breaks::set_carried_state(
                lead.tx(),
                decision.carried.id,
                decision.state,
                &decision.category,
                date,
                decision.settled,
                &ctx.run_id,
            )
            .await?;
        }
        passes::record(lead.tx(), job, date, &ctx.run_id, &day).await?;
        // The roll-forward sees this run's register writes.
        files.push(
            breaks::rollforward_date_report(lead.tx(), job, ctx.job.time_zone, date, bom).await?,
        );
        // Counted in the conclusion transaction: it sees this run's register writes.
        let aged =
            breaks::aged_attention(lead.tx(), job, date, settings.escalate_after_days).await?;
        let reports = ctx.publish(&lead, files)?;
        lead.done();

        let engine_breaks = records.iter().filter(|r| r.category.is_break()).count();
        let pending = records.len() - engine_breaks;
        let breaks_found = engine_breaks + day.findings.len();
        let expired = decisions
            .iter()
            .filter(|d| d.outcome.starts_with("became_"))
            .count();
        let cross_day = decisions.iter().filter(|d| d.paired.is_some()).count();
        let mut attention = Vec::new();
        if recorded.opened > 0 {
            attention.push(format!(
                "{} new reconciliation breaks for {date} ({breaks_found} breaks, {pending} pending in diff.csv)",
                recorded.opened
            ));
        }
        if expired > 0 {
            attention.push(format!(
                "{expired} pending records of earlier dates were not matched in time and are now breaks (carried.csv)"
            ));
        }
        let (over, orphan) = (
            day.count(FindingCategory::OverRefund),
            day.count(FindingCategory::OrphanRefund),
        );
        if over + orphan > 0 {
            attention.push(format!(
                "{over} refunds exceed what was paid (over_refund), {orphan} refunds have no payment on either side (orphan_refund)"
            ));
        }
        let fee_findings =
            day.count(FindingCategory::FeeOvercharge) + day.count(FindingCategory::FeeUndercharge);
        if fee_findings > 0 {
            attention.push(format!(
                "{fee_findings} fees differ from the channel contract (fee_overcharge / fee_undercharge in diff.csv)"
            ));
        }
        if let Some(line) = aged {
            attention.push(line);
        }
        if let Some(line) = tie.as_ref().and_then(tieout::Tieout::attention) {
            attention.push(line);
        }
        if !rejects.is_empty() {
            attention.push(format!(
                "{} rows could not be read (rejects.csv)",
                rejects.len()
            ));
        }
        let counts: serde_json::Map<String, serde_json::Value> = Category::ALL
            .iter()
            .map(|&c| {
                (
                    c.as_str().to_string(),
                    serde_json::json!([ledger.count(c), statement.count(c)]),
                )
            })
            .collect();
        Ok(RunOutcome {
            reports,
            summary: serde_json::json!({
                "counts_ledger_statement": counts,
                "breaks": breaks_found,
                "pending": pending,
                "rejects": rejects.len(),
                "cross_day_paired": cross_day,
                "pending_expired": expired,
                "statement_notes": notes,
                "register": recorded,
                "refunds_counted": day.links.len(),
                "refunds_already_counted": day.already_counted,
                "findings": FindingCategory::ALL
                    .iter()
                    .map(|&c| (c.as_str().to_string(), serde_json::json!(day.count(c))))
                    .collect::<serde_json::Map<_, _>>(),
                "fees_contractual_charged": day.fees.map(|f| {
                    serde_json::json!([f.audited, f.contractual.to_string(), f.charged.to_string()])
                }),
                "carry_digest": carried_state::digest(&records, &decisions, &day.digest_rows()),
            }),
            attention,
            failure: None,
        })
    }
}

/// A diff row as the register keeps it.
fn new_break(record: &DiffRecord) -> Result<NewBreak, JobError> {
    let amount = |side: &Option<SideValues>| side.as_ref().map(|v| cents_to_decimal(v.amount));
    let describe = |name: &str, side: &Option<SideValues>| match side {
        Some(v) => format!(
            "{name} {} {} at {}",
            cents_to_decimal(v.amount),
            v.status,
            v.time.format("%Y-%m-%d %H:%M:%S")
        ),
        None => format!("{name} none"),
    };
    Ok(NewBreak {
        category: record.category.as_str().to_string(),
        key: record.key.clone(),
        kind: record.kind.as_str().to_string(),
        sides: "ledger/statement".to_string(),
        left_amount: amount(&record.ledger),
        right_amount: amount(&record.statement),
        delta: cents_to_decimal_i128(record.delta_cents())
            .map_err(|e| JobError::Failed(format!("break {}: {e}", record.key)))?,
        detail: format!(
            "{}; {}",
            describe("ledger", &record.ledger),
            describe("statement", &record.statement)
        ),
        payload: serde_json::to_string(record).unwrap_or_else(|_| "{}".to_string()),
        pending: record.category == Category::Pending,
    })
}
