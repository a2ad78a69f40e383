//! `kind = "repayment"`: loan repayment schedules and the end of day of a
//! loan book — schedule generation, repayment allocation, overdue status,
//! penalty interest and daily interest accrual. See docs/repayment.md.
//!
//! Pure computation lives in [`schedule`], [`interest`], [`allocation`] and
//! [`eod`]; [`store`] reads and writes the tables; [`reports`] builds the CSVs.
//! A shard owns the loans whose id hashes to it ([`crate::sharding::partition_of`]).
//!
//! `[params]` (docs/repayment.md): `penalty_rate` (annual, decimal string;
//! a loan's own `penalty_rate` wins), `penalty_multiplier` (over the contract
//! rate when neither is set, default `"1.5"`), `prepayment`
//! (`"shorter-term"` | `"lower-installment"`), `early_payment` (`"hold"` |
//! `"prepay"`), `payoff_interest` (`"accrued"` | `"current_period"`),
//! `first_period` (`"actual_days"` | `"full_month"`).

pub mod allocation;
pub mod bench;
pub mod carry;
pub mod eod;
pub mod fixtures;
pub mod interest;
pub mod profile;
pub mod reports;
pub mod schedule;
pub mod store;

use rust_decimal::Decimal;

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::NaiveDate;

use self::eod::{
    EarlyPayment, EodConfig, Loan, LoanState, PayoffInterest, PrepaymentMode, Receipt,
    inputs_digest, replay_from,
};
use self::profile::Phase;
use self::schedule::{FirstPeriod, generate};
use self::store::{LoanOutput, OutputKey, RawReceipt, Reject, StoredCheckpoint};
use super::params::{ParamError, Params};
use crate::runtime::{JobError, JobKind, RunCtx, RunOutcome, ShardCtx, ShardOutcome};

/// Default penalty rate multiplier over the contract rate.
const PENALTY_MULTIPLIER_DEFAULT: Decimal = Decimal::from_parts(15, 0, 0, false, 1);

/// The `repayment` job kind.
#[derive(Debug, Default)]
pub struct Repayment;

fn choice<'a, T: std::str::FromStr<Err = String>>(
    p: &Params<'a>,
    field: &str,
    default: &'a str,
) -> Result<T, ParamError> {
    p.str_or(field, default)?
        .parse::<T>()
        .map_err(|reason| ParamError::new(field, reason))
}

fn config(params: &toml::Table) -> Result<EodConfig, ParamError> {
    let p = Params::new(params);
    let penalty_multiplier = p.decimal_or("penalty_multiplier", PENALTY_MULTIPLIER_DEFAULT)?;
    if penalty_multiplier < Decimal::ZERO {
        return Err(ParamError::new(
            "penalty_multiplier",
            "must not be negative",
        ));
    }
    let penalty_rate = match p.opt_str("penalty_rate")? {
        None => None,
        Some(_) => {
            let rate = p.decimal_or("penalty_rate", Decimal::ZERO)?;
            if rate < Decimal::ZERO || rate > schedule::ANNUAL_RATE_MAX {
                return Err(ParamError::new(
                    "penalty_rate",
                    "must be an annual rate between 0 and 1 (\"0.18\" for 18 %)",
                ));
            }
            Some(rate)
        }
    };
    Ok(EodConfig {
        penalty_multiplier,
        penalty_rate,
        prepayment: choice::<PrepaymentMode>(&p, "prepayment", "shorter-term")?,
        early_payment: choice::<EarlyPayment>(&p, "early_payment", "hold")?,
        payoff_interest: choice::<PayoffInterest>(&p, "payoff_interest", "accrued")?,
        first_period: choice::<FirstPeriod>(&p, "first_period", "actual_days")?,
    })
}

/// Checks one receipt on its own: an amount in whole cents (trailing zeros
/// are read exactly: `1000.000` is 1000.00), positive, for a loan of the
/// shard, not before the disbursement. Returns it at scale 2, or the reason.
fn validate(raw: &RawReceipt, disbursed_on: Option<chrono::NaiveDate>) -> Result<Receipt, String> {
    let mut amount = raw.amount;
    if amount.normalize().scale() > 2 {
        return Err(format!("amount {amount} has a fraction of a cent"));
    }
    amount.rescale(2);
    if amount <= Decimal::ZERO {
        return Err(format!("amount {amount} is not positive"));
    }
    let Some(disbursed_on) = disbursed_on else {
        return Err(format!(
            "no loan {} disbursed on or before the business date",
            raw.loan_id
        ));
    };
    if raw.received_on < disbursed_on {
        return Err(format!(
            "received on {}, before loan {} was disbursed on {disbursed_on}",
            raw.received_on, raw.loan_id
        ));
    }
    Ok(Receipt {
        repayment_id: raw.repayment_id.clone(),
        received_on: raw.received_on,
        amount,
    })
}

/// What a shard hands to finalize (its rows are in the output tables).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct RepaymentShard {
    loans: u64,
    rejects: u64,
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
        let job = ctx.job.name.as_str();
        let started = Instant::now();
        let (mut loans, mut rejects) =
            store::loans(ctx.db(), date, item, items, config.first_period).await?;
        // Rejected loans too: their receipts are rejected with them.
        let shard_loans: Vec<String> = loans
            .iter()
            .map(|l| l.loan_id.clone())
            .chain(rejects.iter().map(|r| r.record.clone()))
            .collect();
        let mut receipts = store::receipts(ctx.db(), date, &shard_loans, item, items).await?;
        let receipts_read: usize = receipts.values().map(Vec::len).sum();
        Phase::ReadBook.add(started);
        let started = Instant::now();
        let checkpoints =
            store::checkpoints(ctx.db(), job, date, &shard_loans, item, items).await?;
        Phase::ReadCheckpoints.add(started);

        // Each loan's receipts validated one by one, and the checkpoint it
        // continues from when that checkpoint's inputs are today's.
        let started = Instant::now();
        let mut plans = Vec::with_capacity(loans.len());
        for loan in &mut loans {
            let raw = receipts.remove(&loan.loan_id).unwrap_or_default();
            let mut good = Vec::with_capacity(raw.len());
            let mut bad = Vec::new();
            for receipt in &raw {
                match validate(receipt, Some(loan.terms.disbursed_on)) {
                    Ok(valid) => good.push(valid),
                    Err(reason) => bad.push(receipt_reject(receipt, reason)),
                }
            }
            let start = checkpoints
                .as_ref()
                .and_then(|(as_of, stored)| resume_state(loan, &config, &good, *as_of, stored));
            plans.push(Plan {
                raw,
                good,
                bad,
                start,
            });
        }
        Phase::Compute.add(started);

        let started = Instant::now();
        let unresumed: Vec<String> = loans
            .iter()
            .zip(&plans)
            .filter(|(_, plan)| plan.start.is_none())
            .map(|(loan, _)| loan.loan_id.clone())
            .collect();
        let stored = store::original_schedules(ctx.db(), &unresumed, item, items).await?;
        Phase::ReadSchedules.add(started);

        // Compute everything first; the write transaction comes after.
        let started = Instant::now();
        // A stored schedule is regenerated under its own convention.
        let mut unknown_convention = std::collections::BTreeSet::new();
        for loan in &mut loans {
            if let Some(s) = stored.get(&loan.loan_id) {
                match FirstPeriod::from_convention(&s.convention) {
                    Some(rule) => loan.terms.first_period = rule,
                    None => {
                        unknown_convention.insert(loan.loan_id.clone());
                    }
                }
            }
        }
        let mut computed = Vec::with_capacity(loans.len());
        for (loan, plan) in loans.iter().zip(plans) {
            if ctx.cancel.is_cancelled() {
                return Err(JobError::Cancelled);
            }
            let Plan {
                raw,
                good,
                bad,
                start,
            } = plan;
            let resumed = start.is_some();
            let stored = stored.get(&loan.loan_id);
            if let Some(s) = stored.filter(|_| unknown_convention.contains(&loan.loan_id)) {
                rejects.push(reject(
                    "loan",
                    &loan.loan_id,
                    format!("stored schedule has unknown convention `{}`", s.convention),
                ));
                reject_receipts(&mut rejects, &raw, "its loan was rejected");
                continue;
            }
            let generated = match generate(&loan.terms) {
                Ok(schedule) => schedule,
                Err(e) => {
                    rejects.push(reject("loan", &loan.loan_id, e.to_string()));
                    reject_receipts(&mut rejects, &raw, "its loan was rejected");
                    continue;
                }
            };
            // A checkpoint's loan had its schedule stored (or checked) on an
            // earlier date, under the terms its digest covers.
            let is_new = match stored {
                _ if resumed => false,
                None => true,
                Some(s) if s.installments == generated => false,
                Some(s) => {
                    rejects.push(reject(
                        "loan",
                        &loan.loan_id,
                        format!(
                            "stored schedule ({}) differs from its terms: were the terms changed after disbursement?",
                            s.convention
                        ),
                    ));
                    reject_receipts(&mut rejects, &raw, "its loan was rejected");
                    continue;
                }
            };
            match replay_from(loan, &generated, &good, date, &config, start) {
                Ok((day, state)) => match day.conservation_error() {
                    None => {
                        rejects.extend(bad);
                        let inputs = inputs_digest(loan, &config, &good, date);
                        computed.push((loan, is_new.then_some(generated), day, inputs, state));
                    }
                    Some(e) => {
                        return Err(JobError::Input(format!(
                            "loan {}: conservation check failed: {e}",
                            loan.loan_id
                        )));
                    }
                },
                Err(e) => {
                    // A receipt's own reason wins over its loan's (first in, kept).
                    rejects.extend(bad);
                    rejects.push(reject("loan", &loan.loan_id, e.to_string()));
                    reject_receipts(&mut rejects, &raw, "its loan was rejected");
                }
            }
        }
        for left in receipts.values() {
            for raw in left {
                // Amount problems first, then the missing loan.
                let reason = validate(raw, None).err().unwrap_or_default();
                rejects.push(receipt_reject(raw, reason));
            }
        }
        Phase::Compute.add(started);

        let key = OutputKey {
            job: &ctx.job.name,
            business_date: date,
            item,
        };
        let started = Instant::now();
        let mut tx = ctx.begin_outputs().await?;
        store::clear_outputs(tx.tx(), &key).await?;
        store::prune_checkpoints(tx.tx(), &key).await?;
        let written: Vec<String> = computed.iter().map(|c| c.0.loan_id.clone()).collect();
        let generated: Vec<String> = computed
            .iter()
            .filter(|c| c.1.is_some())
            .map(|c| c.0.loan_id.clone())
            .collect();
        store::delete_replaced(tx.tx(), date, &written, &generated).await?;
        Phase::Delete.add(started);
        let mut writer = store::LoanWriter::default();
        for (loan, generated, day, inputs, state) in &computed {
            let output = LoanOutput {
                loan,
                generated: generated.as_deref(),
                day,
                checkpoint: (inputs, state),
            };
            writer.write_loan(tx.tx(), &key, &output).await?;
        }
        writer.flush(tx.tx()).await?;
        let started = Instant::now();
        store::write_rejects(tx.tx(), &key, &rejects).await?;
        Phase::Write.add(started);
        let rows_written = writer.rows + rejects.len() as u64;
        profile::add_rows(rows_written);
        let outcome = ShardOutcome::typed(
            item,
            (loans.len() + receipts_read) as u64,
            computed.len() as u64,
            &RepaymentShard {
                loans: computed.len() as u64,
                rejects: rejects.len() as u64,
            },
        )?;
        let started = Instant::now();
        ctx.commit_outputs(tx, &outcome).await?;
        Phase::Commit.add(started);
        Ok(outcome)
    }

    async fn finalize(
        &self,
        ctx: &RunCtx,
        shards: &[ShardOutcome],
    ) -> Result<RunOutcome, JobError> {
        for shard in shards {
            shard.summary_as::<RepaymentShard>()?;
        }
        // The digest first: it reads the shards' committed rows through the
        // pool, which after the reports would keep the conclusion
        // transaction idle for as long as it takes on a large book (and
        // PostgreSQL ends a transaction idle past the session timeout).
        let (job, date) = (&ctx.job.name, ctx.business_date);
        let started = Instant::now();
        let digest = carry::digest(ctx.ledger.db(), job, date, ctx.job.shards).await?;
        Phase::CarryDigest.add(started);
        let started = Instant::now();
        let mut outcome = reports::build(ctx).await?;
        Phase::Reports.add(started);
        match outcome.summary.as_object_mut() {
            Some(summary) => {
                summary.insert(CARRY_DIGEST.into(), digest.into());
            }
            None => {
                return Err(JobError::Failed(
                    "the repayment summary is not an object".into(),
                ));
            }
        }
        Ok(outcome)
    }

    /// Loan and installment state at the end of the date (see [`carry`]),
    /// computed by finalize before its conclusion transaction.
    async fn carry_digest(
        &self,
        _ctx: &RunCtx,
        outcome: &RunOutcome,
    ) -> Result<Option<String>, JobError> {
        match outcome.summary.get(CARRY_DIGEST).and_then(|d| d.as_str()) {
            Some(digest) => Ok(Some(digest.to_string())),
            None => Err(JobError::Failed(format!(
                "finalize left no {CARRY_DIGEST} in its summary"
            ))),
        }
    }
}

/// The run summary's field holding the carry digest.
const CARRY_DIGEST: &str = "carry_digest";

/// One loan's receipts, validated, and the checkpoint it continues from.
struct Plan {
    raw: Vec<RawReceipt>,
    good: Vec<Receipt>,
    /// Receipts rejected on their own (written when the loan is processed;
    /// a rejected loan rejects all its receipts with it).
    bad: Vec<Reject>,
    start: Option<LoanState>,
}

/// The state `loan` continues from: its checkpoint of `as_of`, when it
/// decodes, names a known convention (which the loan's terms then take) and
/// was computed from the inputs the loan has today up to `as_of`.
fn resume_state(
    loan: &mut Loan,
    config: &EodConfig,
    receipts: &[Receipt],
    as_of: NaiveDate,
    stored: &BTreeMap<String, StoredCheckpoint>,
) -> Option<LoanState> {
    let checkpoint = stored.get(&loan.loan_id)?;
    let state: LoanState = serde_json::from_str(&checkpoint.state).ok()?;
    let rule = FirstPeriod::from_convention(&state.convention)?;
    if state.as_of != as_of {
        return None;
    }
    let mut terms = loan.clone();
    terms.terms.first_period = rule;
    if inputs_digest(&terms, config, receipts, as_of) != checkpoint.inputs {
        return None;
    }
    loan.terms.first_period = rule;
    Some(state)
}

fn reject(source: &'static str, record: &str, reason: String) -> Reject {
    Reject {
        source,
        record: record.to_string(),
        loan_id: String::new(),
        amount: None,
        reason,
    }
}

fn receipt_reject(raw: &RawReceipt, reason: String) -> Reject {
    Reject {
        source: "repayment",
        record: raw.repayment_id.clone(),
        loan_id: raw.loan_id.clone(),
        amount: Some(raw.amount),
        reason,
    }
}

/// The receipts of a loan that could not be processed are rejects too, so
/// the day's money is accounted for (received = processed + rejected).
fn reject_receipts(rejects: &mut Vec<Reject>, receipts: &[RawReceipt], why: &str) {
    for raw in receipts {
        rejects.push(receipt_reject(raw, why.to_string()));
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
        for (text, field) in [
            ("penalty_rate = 0.18", "penalty_rate"),
            ("penalty_rate = \"-0.1\"", "penalty_rate"),
            ("early_payment = \"later\"", "early_payment"),
            ("payoff_interest = \"none\"", "payoff_interest"),
            ("first_period = \"half_month\"", "first_period"),
        ] {
            assert_eq!(check(text).unwrap_err().0, field, "{text}");
        }
        let defaults = config(&toml::Table::new()).unwrap();
        assert_eq!(defaults, EodConfig::default());
        let set = config(
            &"penalty_rate = \"0.18\"\nearly_payment = \"prepay\"\npayoff_interest = \"current_period\"\nfirst_period = \"full_month\""
                .parse::<toml::Table>()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(set.penalty_rate, Some("0.18".parse().unwrap()));
        assert_eq!(set.early_payment, EarlyPayment::Prepay);
        assert_eq!(set.payoff_interest, PayoffInterest::CurrentPeriod);
        assert_eq!(set.first_period, FirstPeriod::FullMonth);
    }

    fn raw(amount: &str, loan: &str) -> RawReceipt {
        RawReceipt {
            repayment_id: "R1".into(),
            loan_id: loan.into(),
            received_on: "2026-02-15".parse().unwrap(),
            amount: amount.parse().unwrap(),
        }
    }

    #[test]
    fn receipts_are_validated_one_by_one() {
        let disbursed = Some("2026-01-15".parse().unwrap());
        let ok = validate(&raw("1000.000", "L1"), disbursed).unwrap();
        assert_eq!(ok.amount.to_string(), "1000.00");
        assert_eq!(
            validate(&raw("5", "L1"), disbursed)
                .unwrap()
                .amount
                .to_string(),
            "5.00"
        );
        for (amount, reason) in [
            ("1000.001", "fraction of a cent"),
            ("0.00", "not positive"),
            ("-5.00", "not positive"),
        ] {
            let err = validate(&raw(amount, "L1"), disbursed).unwrap_err();
            assert!(err.contains(reason), "{amount}: {err}");
        }
        let err = validate(&raw("5.00", "L9"), None).unwrap_err();
        assert!(err.contains("no loan L9"), "{err}");
        let err = validate(&raw("5.00", "L1"), Some("2026-03-01".parse().unwrap())).unwrap_err();
        assert!(err.contains("before loan L1"), "{err}");
    }
}
