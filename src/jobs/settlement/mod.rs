//! `kind = "settlement"`: the end-of-day settlement of business date D.
//!
//! Each shard settles the merchants (`partition_of(merchant_id)`) and the
//! accounts (`partition_of(account_code)`) of its partition: per merchant and
//! currency the successful payments, refunds, fees and net amount of D's
//! window; per account the opening (D-1's closing), debits, credits and
//! closing. It replaces its rows of `(job, D, item)` in `settlement_lines` and
//! `account_balances` inside its fenced transaction. `finalize` reads every
//! shard's rows back, checks the trial balance, publishes `settlement.csv`,
//! `balances.csv` and `summary.csv`, and fails the run (after publishing)
//! when anything does not balance. See `docs/settlement.md`.
//!
//! `[params]`: `cut_off` (`HH:MM`, default `00:00`: the calendar day).

pub mod compute;
pub mod model;
pub mod reports;
pub mod store;
pub mod trial_balance;
/// The business-day window lives in `jobs::business` (shared with recon).
pub use crate::jobs::business::window;

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveTime};
use rust_decimal::Decimal;

use super::carry_digest::{CarryDigest, amount};
use super::params::Params;
use crate::runtime::{JobError, JobKind, RunCtx, RunOutcome, ShardCtx, ShardOutcome};
use crate::sharding::partition_of;
use model::{Balance, MerchantLine};
use window::Window;

/// Why settling a business date failed.
#[derive(Debug, thiserror::Error)]
pub enum SettlementError {
    /// A ledger row that cannot be settled as it is.
    #[error("{table} {key}: {reason}")]
    BadRow {
        table: &'static str,
        key: String,
        reason: String,
    },
    /// Opening balances would skip business dates that were never settled.
    #[error(
        "account {account} has no closing balance for {previous} (its latest is for {latest}): settle {previous} first"
    )]
    MissingClosing {
        account: String,
        previous: NaiveDate,
        latest: NaiveDate,
    },
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl From<SettlementError> for JobError {
    fn from(err: SettlementError) -> JobError {
        match err {
            SettlementError::Database(e) => JobError::Database(e),
            other => JobError::Input(other.to_string()),
        }
    }
}

/// The `settlement` job kind.
#[derive(Debug, Default)]
pub struct Settlement;

/// The daily cut-off of a job (`cut_off`, default 00:00).
fn cut_off(params: &toml::Table) -> Result<NaiveTime, super::params::ParamError> {
    Params::new(params).time_or("cut_off", NaiveTime::MIN)
}

fn window_of(job: &crate::catalog::JobDef, date: NaiveDate) -> Result<Window, JobError> {
    Ok(Window::for_date(date, cut_off(&job.params)?, job.time_zone))
}

/// What one shard computed.
struct ShardResult {
    lines: Vec<MerchantLine>,
    balances: Vec<Balance>,
    rows_in: u64,
}

async fn compute_shard(ctx: &ShardCtx) -> Result<ShardResult, JobError> {
    let db = ctx.db();
    let window = window_of(&ctx.job, ctx.business_date)?;
    let mine = |key: &str| partition_of(key, ctx.total_items) == ctx.item;
    let mut payments = store::payments(db, &window).await?;
    payments.retain(|p| mine(&p.merchant_id));
    let mut refunds = store::refunds(db, &window).await?;
    refunds.retain(|r| mine(&r.merchant_id));
    let lines = compute::settle_merchants(&payments, &refunds)?;

    let mut accounts = store::accounts(db).await?;
    accounts.retain(|a| mine(&a.code));
    let mut postings = store::postings(db, &window).await?;
    postings.retain(|p| mine(&p.account_code));
    let openings = openings(ctx, &accounts).await?;
    let balances = compute::balances(&accounts, &openings, &postings)?;
    let rows_in = (payments.len() + refunds.len() + postings.len()) as u64;
    Ok(ShardResult {
        lines,
        balances,
        rows_in,
    })
}

/// D-1's closings of `accounts`; refuses an account whose latest snapshot
/// is older than D-1 (the dates between were never settled).
async fn openings(
    ctx: &ShardCtx,
    accounts: &[model::Account],
) -> Result<BTreeMap<String, Decimal>, JobError> {
    let Some(previous) = ctx.business_date.pred_opt() else {
        return Ok(BTreeMap::new());
    };
    let db = ctx.db();
    let closings = store::closings(db, &ctx.job.name, previous).await?;
    let latest = store::snapshots_before(db, &ctx.job.name, ctx.business_date).await?;
    for account in accounts {
        if let Some(&latest) = latest.get(&account.code)
            && latest < previous
        {
            return Err(SettlementError::MissingClosing {
                account: account.code.clone(),
                previous,
                latest,
            }
            .into());
        }
    }
    Ok(closings)
}

/// What a shard hands to finalize (its rows are in the output tables).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SettlementShard {
    merchant_lines: u64,
    accounts: u64,
}

#[async_trait::async_trait]
impl JobKind for Settlement {
    fn name(&self) -> &'static str {
        "settlement"
    }

    fn check_params(&self, params: &toml::Table) -> Result<(), (String, String)> {
        cut_off(params)?;
        Ok(())
    }

    async fn run_shard(&self, ctx: &ShardCtx) -> Result<ShardOutcome, JobError> {
        let result = compute_shard(ctx).await?;
        if ctx.cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        let outcome = ShardOutcome::typed(
            ctx.item,
            result.rows_in,
            (result.lines.len() + result.balances.len()) as u64,
            &SettlementShard {
                merchant_lines: result.lines.len() as u64,
                accounts: result.balances.len() as u64,
            },
        )?;
        let key = store::OutputKey {
            job: &ctx.job.name,
            business_date: ctx.business_date,
            item: ctx.item,
            run_id: &ctx.run_id,
        };
        let mut tx = ctx.begin_outputs().await?;
        store::replace_lines(tx.tx(), key, &result.lines).await?;
        store::replace_balances(tx.tx(), key, &result.balances).await?;
        ctx.commit_outputs(tx, &outcome).await?;
        Ok(outcome)
    }

    async fn finalize(
        &self,
        ctx: &RunCtx,
        shards: &[ShardOutcome],
    ) -> Result<RunOutcome, JobError> {
        for shard in shards {
            shard.summary_as::<SettlementShard>()?;
        }
        let db = ctx.ledger.db();
        let (job, date, items) = (&ctx.job.name, ctx.business_date, ctx.job.shards);
        let window = window_of(&ctx.job, date)?;
        let lines = store::lines(db, job, date, items).await?;
        let balances = store::balances(db, job, date, items).await?;
        let journal = store::journal_lines(db, &window).await?;
        let previous_date = date.pred_opt().unwrap_or(date);
        let previous = store::closings(db, job, previous_date).await?;
        let mut trial = trial_balance::check(&balances, &journal, &previous, previous_date);
        check_previous_day(db, ctx, previous_date, &mut trial).await?;

        let merchant_names = store::merchant_names(db).await?;
        let account_names: BTreeMap<String, String> = store::accounts(db)
            .await?
            .into_iter()
            .map(|a| (a.code, a.name))
            .collect();
        let bom = ctx.paths.excel_bom;
        let files = vec![
            reports::settlement(date, &lines, &merchant_names, bom)?,
            reports::balances(date, &balances, &account_names, bom)?,
            reports::summary(date, &trial, bom)?,
        ];
        let lead = ctx.lead().await?;
        let reports = ctx.publish(&lead, files)?;
        lead.done();
        let failures = trial.failures();
        let failure = (!trial.is_balanced()).then(|| {
            format!(
                "trial balance of {date} does not balance: {}",
                failures.join("; ")
            )
        });
        Ok(RunOutcome {
            reports,
            summary: run_summary(&lines, &balances, trial.is_balanced()),
            attention: failures,
            failure,
        })
    }

    /// D's closing balances (account, currency, closing), by account: what
    /// D+1 opens at.
    async fn carry_digest(
        &self,
        ctx: &RunCtx,
        _outcome: &RunOutcome,
    ) -> Result<Option<String>, JobError> {
        let db = ctx.ledger.db();
        let balances =
            store::balances(db, &ctx.job.name, ctx.business_date, ctx.job.shards).await?;
        let mut digest = CarryDigest::default();
        for b in &balances {
            digest.row(&[&b.account_code, &b.currency, &amount(b.closing)]);
        }
        Ok(Some(digest.finish()))
    }
}

/// Adds to `trial` the accounts whose stored D-1 opening is no longer
/// D-2's stored closing (D-1 is stale: D-2 was rerun and changed).
async fn check_previous_day(
    db: &crate::db::Db,
    ctx: &RunCtx,
    previous_date: NaiveDate,
    trial: &mut trial_balance::TrialBalance,
) -> Result<(), JobError> {
    let (job, items) = (&ctx.job.name, ctx.job.shards);
    let Some(before_date) = previous_date.pred_opt() else {
        return Ok(());
    };
    if previous_date == ctx.business_date {
        return Ok(());
    }
    let balances = store::balances(db, job, previous_date, items).await?;
    let before = store::closings(db, job, before_date).await?;
    trial_balance::check_previous_day(
        trial,
        trial_balance::PreviousDay {
            date: previous_date,
            balances: &balances,
            before: &before,
            before_date,
        },
    );
    Ok(())
}

/// Totals per currency for the run record.
fn run_summary(lines: &[MerchantLine], balances: &[Balance], balanced: bool) -> serde_json::Value {
    let mut per_currency: BTreeMap<&str, (i64, Decimal, i64, Decimal, Decimal, Decimal)> =
        BTreeMap::new();
    for line in lines {
        let t = per_currency.entry(&line.currency).or_default();
        t.0 += line.payment_count;
        t.1 += line.payment_amount;
        t.2 += line.refund_count;
        t.3 += line.refund_amount;
        t.4 += line.fee_amount;
        t.5 += line.net_amount;
    }
    let money = |d: Decimal| crate::money::format_scaled(d, crate::money::CENTS);
    let currencies: serde_json::Map<String, serde_json::Value> = per_currency
        .into_iter()
        .map(|(currency, t)| {
            (
                currency.to_string(),
                serde_json::json!({
                    "payment_count": t.0, "payment_amount": money(t.1),
                    "refund_count": t.2, "refund_amount": money(t.3),
                    "fee_amount": money(t.4), "net_amount": money(t.5),
                }),
            )
        })
        .collect();
    serde_json::json!({
        "merchant_lines": lines.len(),
        "accounts": balances.len(),
        "trial_balance": if balanced { "balanced" } else { "imbalanced" },
        "settlement": currencies,
    })
}
