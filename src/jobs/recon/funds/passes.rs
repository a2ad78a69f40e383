//! The passes of `recon-funds` around the engine's outputs: refund linkage
//! across days (`crate::jobs::recon::refunds`) and the fee audit against the
//! contract (`crate::jobs::recon::fees`). Each shard collects, as its rows go
//! by, its refunds and its payments' fee findings ([`ShardPasses`], stored
//! with the shard's rows); finalize links the refunds of the whole day and
//! audits their fees ([`day_findings`]), and records the links in the
//! register's transaction ([`record`]).

use std::collections::BTreeSet;

use crate::db::DbTx;
use crate::jobs::recon::engine::DiffRecord;
use crate::jobs::recon::fees::{FeeContract, ShardFeeAudit};
use crate::jobs::recon::findings::{FeeTotals, Finding, FindingCategory};
use crate::jobs::recon::formats::Record;
use crate::jobs::recon::refunds::{self, NewLink, RefundFact, store};
use crate::jobs::recon::shard_rows::{self, RowsKey, ShardRowsError};
use crate::runtime::{JobError, RunCtx};

use super::settings::FundsSettings;

/// `row_type` of a shard's refunds in `recon_shard_rows`.
pub(crate) const REFUND_ROWS: &str = "funds_refund";
/// `row_type` of a shard's payment fee findings in `recon_shard_rows`.
pub(crate) const FEE_ROWS: &str = "funds_fee";

/// What one shard collects for the passes.
#[derive(Debug, Default)]
pub struct ShardPasses {
    contract: Option<FeeContract>,
    pub fees: ShardFeeAudit,
    pub refunds: Vec<RefundFact>,
}

impl ShardPasses {
    /// Collects with the job's fee contract, if any.
    pub fn new(contract: Option<FeeContract>) -> ShardPasses {
        ShardPasses {
            contract,
            ..ShardPasses::default()
        }
    }

    /// A statement record of this shard: its refund, and its fee audited.
    pub fn statement(&mut self, record: &Record) {
        if let Some(contract) = &self.contract {
            self.fees.observe(contract, record);
        }
        self.refunds.extend(RefundFact::of(record, false));
    }

    /// A ledger record of this shard: its refund.
    pub fn ledger(&mut self, record: &Record) {
        self.refunds.extend(RefundFact::of(record, true));
    }

    /// Stores the refunds and fee findings with the shard's other rows.
    pub async fn store(&self, tx: &mut DbTx, key: RowsKey<'_>) -> Result<(), ShardRowsError> {
        shard_rows::replace(tx, key, REFUND_ROWS, &self.refunds).await?;
        shard_rows::replace(tx, key, FEE_ROWS, &self.fees.findings).await
    }
}

/// The day's findings of the passes.
#[derive(Debug, Clone, Default)]
pub struct DayFindings {
    /// In report order.
    pub findings: Vec<Finding>,
    /// The refunds the day counted.
    pub links: Vec<NewLink>,
    /// The day's fees against the contract (with a contract).
    pub fees: Option<FeeTotals>,
    /// Refunds of the day already counted (earlier date, or listed twice).
    pub already_counted: u64,
}

impl DayFindings {
    /// Findings of `category`.
    pub fn count(&self, category: FindingCategory) -> usize {
        self.findings
            .iter()
            .filter(|f| f.category == category)
            .count()
    }

    /// Rows for the carry digest: what the date counted is what the next
    /// date's refunded totals start from.
    pub fn digest_rows(&self) -> Vec<Vec<String>> {
        self.links
            .iter()
            .map(|link| {
                vec![
                    "refund_link".to_string(),
                    link.identity.order_no.clone(),
                    link.identity.ledger_key.clone().unwrap_or_default(),
                    link.identity.statement_key.clone().unwrap_or_default(),
                    link.identity.amount.to_string(),
                    link.refunded_total.to_string(),
                    link.category.to_string(),
                ]
            })
            .collect()
    }
}

/// Links the day's refunds (from every shard) to their payments and audits
/// their fees; adds the shards' payment fee findings. `records` are the
/// day's diff rows (for the channel's one-sided payments); `shard_fees` the
/// shards' payment fee totals.
pub async fn day_findings(
    ctx: &RunCtx,
    settings: &FundsSettings,
    shard_fees: &FeeTotals,
    records: &[DiffRecord],
) -> Result<DayFindings, JobError> {
    let db = ctx.ledger.db();
    let (job, date, items) = (&ctx.job.name, ctx.business_date, ctx.job.shards);
    let zone = ctx.job.time_zone;
    let facts: Vec<RefundFact> = shard_rows::read(db, job, date, items, REFUND_ROWS).await?;
    let mut findings: Vec<Finding> = shard_rows::read(db, job, date, items, FEE_ROWS).await?;
    let events = refunds::events(facts);
    let orders: Vec<String> = events
        .iter()
        .map(|e| e.order_no.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let prior = store::prior_links(db, job, date, &orders).await?;
    let window = settings.window(date, zone);
    let payments = store::payments(
        db,
        job,
        &settings.channel,
        date,
        window.end,
        zone,
        settings.cut_off,
        &orders,
        records,
    )
    .await?;
    let linkage = refunds::link(&events, &prior, &payments, settings.fee.as_ref());
    findings.extend(linkage.findings);
    findings.sort_by(|a, b| a.report_order().cmp(&b.report_order()));
    let fees = settings.fee.as_ref().map(|_| {
        let mut fees = *shard_fees;
        fees.merge(&linkage.fees);
        fees
    });
    Ok(DayFindings {
        findings,
        links: linkage.links,
        fees,
        already_counted: linkage.already_counted,
    })
}

/// Replaces the date's counted refunds, in the register's transaction.
pub async fn record(
    tx: &mut DbTx,
    job: &str,
    date: chrono::NaiveDate,
    run_id: &str,
    day: &DayFindings,
) -> Result<(), JobError> {
    store::replace_links(tx, job, date, run_id, &day.links).await?;
    Ok(())
}
