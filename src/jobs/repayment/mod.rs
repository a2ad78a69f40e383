//! `kind = "repayment"`: loan repayment schedules and the end of day of a
//! loan book — schedule generation, repayment allocation, overdue status,
//! penalty interest and daily interest accrual. See docs/repayment.md.
//!
//! Pure computation lives in [`schedule`], [`interest`], [`allocation`] and
//! [`eod`]; [`store`] reads and writes the tables; [`reports`] builds the CSVs.
//! A shard owns the loans whose id hashes to it ([`crate::sharding::partition_of`]).
//!
//! `[params]`: `penalty_multiplier` (decimal string, default `"1.5"`),
//! `prepayment` (`"shorter-term"`, the default, or `"lower-installment"`).

pub mod allocation;
pub mod bench;
pub mod carry;
pub mod eod;
pub mod fixtures;
pub mod interest;
pub mod reports;
pub mod schedule;
pub mod store;

use rust_decimal::Decimal;

use self::eod::{EodConfig, PrepaymentMode, Receipt, replay};
use self::schedule::{CONVENTION, generate};
use self::store::{LoanOutput, OutputKey, Reject};
use super::params::{ParamError, Params};
use crate::runtime::{JobError, JobKind, RunCtx, RunOutcome, ShardCtx, ShardOutcome};

/// Default penalty rate multiplier over the contract rate.
const PENALTY_MULTIPLIER_DEFAULT: Decimal = Decimal::from_parts(15, 0, 0, false, 1);

/// The `repayment` job kind.
#[derive(Debug, Default)]
pub struct Repayment;

fn config(params: &toml::Table) -> Result<EodConfig, ParamError> {
    let p = Params::new(params);
    let penalty_multiplier = p.decimal_or("penalty_multiplier", PENALTY_MULTIPLIER_DEFAULT)?;
    if penalty_multiplier < Decimal::ZERO {
        return Err(ParamError::new(
            "penalty_multiplier",
            "must not be negative",
        ));
    }
    let prepayment = p
        .str_or("prepayment", "shorter-term")?
        .parse::<PrepaymentMode>()
        .map_err(|reason| ParamError::new("prepayment", reason))?;
    Ok(EodConfig {
        penalty_multiplier,
        prepayment,
    })
}

#[async_trait::async_trait]
impl JobKind for Repayment {
    fn name(&self) -> &'static str {
        "repayment"
    }

    fn check_params(&self, params: &toml::Table) -> Result<(), (String, String)> {
        config(params)?;
        Ok(())
    }

    async fn run_shard(&self, ctx: &ShardCtx) -> Result<ShardOutcome, JobError> {
        let config = config(&ctx.job.params)?;
        let date = ctx.business_date;
        let (item, items) = (ctx.item, ctx.total_items);
        let (loans, mut rejects) = store::loans(ctx.db(), date, item, items).await?;
        let mut receipts = store::receipts(ctx.db(), date, item, items).await?;
        let stored = store::original_schedules(ctx.db(), item, items).await?;
        let receipts_read: usize = receipts.values().map(Vec::len).sum();

        // Compute everything first; the write transaction comes after.
        let mut computed = Vec::with_capacity(loans.len());
        for loan in &loans {
            if ctx.cancel.is_cancelled() {
                return Err(JobError::Cancelled);
            }
            let loan_receipts = receipts.remove(&loan.loan_id).unwrap_or_default();
            let generated = match generate(&loan.terms) {
                Ok(schedule) => schedule,
                Err(e) => {
                    rejects.push(reject("loan", &loan.loan_id, e.to_string()));
                    continue;
                }
            };
            let is_new = match stored.get(&loan.loan_id) {
                None => true,
                Some(s) if s.convention == CONVENTION && s.installments == generated => false,
                Some(s) => {
                    rejects.push(reject(
                        "loan",
                        &loan.loan_id,
                        format!(
                            "stored schedule ({}) differs from its terms: were the terms changed after disbursement?",
                            s.convention
                        ),
                    ));
                    continue;
                }
            };
            let (good, bad): (Vec<Receipt>, Vec<Receipt>) =
                loan_receipts.into_iter().partition(|r| {
                    r.received_on >= loan.terms.disbursed_on && r.amount > Decimal::ZERO
                });
            for r in bad {
                rejects.push(reject(
                    "repayment",
                    &r.repayment_id,
                    format!(
                        "loan {} repayment of {} on {} is before the disbursement on {} or not positive",
                        loan.loan_id, r.amount, r.received_on, loan.terms.disbursed_on
                    ),
                ));
            }
            match replay(loan, &generated, &good, date, &config) {
                Ok(day) => computed.push((loan, is_new.then_some(generated), day)),
                Err(e) => rejects.push(reject("loan", &loan.loan_id, e.to_string())),
            }
        }
        for (loan_id, left) in receipts {
            for r in left {
                if !rejects.iter().any(|x| x.record == loan_id) {
                    rejects.push(reject(
                        "repayment",
                        &r.repayment_id,
                        format!("no loan {loan_id} disbursed on or before {date}"),
                    ));
                }
            }
        }

        let key = OutputKey {
            job: &ctx.job.name,
            business_date: date,
            item,
        };
        let mut tx = ctx.begin_outputs().await?;
        store::clear_outputs(tx.tx(), &key).await?;
        let mut writer = store::LoanWriter::default();
        for (loan, generated, day) in &computed {
            let output = LoanOutput {
                loan,
                generated: generated.as_deref(),
                day,
            };
            writer.write_loan(tx.tx(), &key, &output).await?;
        }
        writer.flush(tx.tx()).await?;
        store::write_rejects(tx.tx(), &key, &rejects).await?;
        let outcome = ShardOutcome {
            item,
            rows_in: (loans.len() + receipts_read) as u64,
            rows_out: computed.len() as u64,
            summary: serde_json::json!({ "loans": computed.len(), "rejects": rejects.len() }),
        };
        ctx.commit_outputs(tx, &outcome).await?;
        Ok(outcome)
    }

    async fn finalize(
        &self,
        ctx: &RunCtx,
        _shards: &[ShardOutcome],
    ) -> Result<RunOutcome, JobError> {
        reports::build(ctx).await
    }

    /// Loan and installment state at the end of the date (see [`carry`]).
    async fn carry_digest(
        &self,
        ctx: &RunCtx,
        _outcome: &RunOutcome,
    ) -> Result<Option<String>, JobError> {
        let (job, date) = (&ctx.job.name, ctx.business_date);
        Ok(Some(
            carry::digest(ctx.ledger.db(), job, date, ctx.job.shards).await?,
        ))
    }
}

fn reject(source: &'static str, record: &str, reason: String) -> Reject {
    Reject {
        source,
        record: record.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<(), (String, String)> {
        Repayment.check_params(&text.parse::<toml::Table>().expect("test TOML"))
    }

    #[test]
    fn params_are_checked_at_catalog_load() {
        assert_eq!(check(""), Ok(()));
        assert_eq!(
            check("penalty_multiplier = \"2\"\nprepayment = \"lower-installment\""),
            Ok(())
        );
        assert_eq!(
            check("penalty_multiplier = 1.5").unwrap_err().0,
            "penalty_multiplier"
        );
        assert_eq!(
            check("penalty_multiplier = \"-1\"").unwrap_err().0,
            "penalty_multiplier"
        );
        assert_eq!(
            check("prepayment = \"sometimes\"").unwrap_err().0,
            "prepayment"
        );
        let defaults = config(&toml::Table::new()).unwrap();
        assert_eq!(defaults.penalty_multiplier.to_string(), "1.5");
        assert_eq!(defaults.prepayment, PrepaymentMode::ShorterTerm);
    }
}
