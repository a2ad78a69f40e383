//! Loading loans and repayments from CSV files into the input tables
//! (`reckon demo`, tests). Idempotent: a row with the same key is replaced.
//!
//! `loans.csv`: loan_id, principal, annual_rate, months, method,
//! disbursed_on, repayment_day (blank = day of disbursement),
//! day_count_basis (360 or 365; blank = 360), and optionally penalty_rate
//! (the loan's own annual penalty rate; blank = the job's).
//! `repayments.csv`: repayment_id, loan_id, received_on, amount.

use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use super::interest::DayCountBasis;
use super::schedule::{FirstPeriod, Terms};
use crate::db::Db;
use crate::money::{Money, parse_amount};
use crate::on_db;
use crate::runtime::JobError;

/// A fixture line that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("{}: cannot read", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("{}:{line}: {reason}", path.display())]
    Line {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error("cannot store fixtures")]
    Database(#[from] sqlx::Error),
}

impl From<FixtureError> for JobError {
    fn from(e: FixtureError) -> JobError {
        match e {
            FixtureError::Database(source) => JobError::Database(source),
            other => JobError::Input(crate::error_chain::chain(&other)),
        }
    }
}

/// Loads `loans.csv` and `repayments.csv` from `dir`; returns a description.
pub async fn load(db: &Db, dir: &Path, _business_date: NaiveDate) -> Result<String, JobError> {
    let loans = read(&dir.join("loans.csv"), 8..=9, parse_loan)?;
    let receipts = read(&dir.join("repayments.csv"), 4..=4, parse_receipt)?;
    for (loan_id, terms, penalty_rate) in &loans {
        on_db!(db, pool => {
            sqlx::query(
                "INSERT INTO repayment_loans (loan_id, principal, annual_rate, months, method, disbursed_on, \
                 repayment_day, day_count_basis, penalty_rate) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (loan_id) DO UPDATE SET principal = excluded.principal, \
                 annual_rate = excluded.annual_rate, months = excluded.months, method = excluded.method, \
                 disbursed_on = excluded.disbursed_on, repayment_day = excluded.repayment_day, \
                 day_count_basis = excluded.day_count_basis, penalty_rate = excluded.penalty_rate",
            )
            .bind(loan_id)
            .bind(Money(terms.principal))
            .bind(Money(terms.annual_rate))
            .bind(i64::from(terms.months))
            .bind(terms.method.as_str())
            .bind(terms.disbursed_on)
            .bind(i64::from(terms.repayment_day))
            .bind(i64::from(terms.basis.days()))
            .bind(penalty_rate.map(Money))
            .execute(pool)
            .await
            .map_err(FixtureError::from)?;
        });
    }
    for (repayment_id, loan_id, received_on, amount) in &receipts {
        on_db!(db, pool => {
            sqlx::query(
                "INSERT INTO repayment_receipts (repayment_id, loan_id, received_on, amount) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (repayment_id) DO UPDATE SET loan_id = excluded.loan_id, \
                 received_on = excluded.received_on, amount = excluded.amount",
            )
            .bind(repayment_id)
            .bind(loan_id)
            .bind(received_on)
            .bind(Money(*amount))
            .execute(pool)
            .await
            .map_err(FixtureError::from)?;
        });
    }
    Ok(format!(
        "{} loans and {} repayments",
        loans.len(),
        receipts.len()
    ))
}

/// Reads a CSV with a header and a number of fields in `columns` a line.
fn read<T>(
    path: &Path,
    columns: std::ops::RangeInclusive<usize>,
    parse: fn(&csv::StringRecord) -> Result<T, String>,
) -> Result<Vec<T>, FixtureError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(path)
        .map_err(|source| FixtureError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|source| FixtureError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let error = |reason: String| FixtureError::Line {
            path: path.to_path_buf(),
            line,
            reason,
        };
        if !columns.contains(&record.len()) {
            return Err(error(format!(
                "{} fields, want {} to {}",
                record.len(),
                columns.start(),
                columns.end()
            )));
        }
        out.push(parse(&record).map_err(error)?);
    }
    Ok(out)
}

fn date(text: &str, what: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{what} `{text}` is not a date YYYY-MM-DD"))
}

fn number(text: &str, what: &str) -> Result<u32, String> {
    text.parse()
        .map_err(|_| format!("{what} `{text}` is not a whole number"))
}

fn parse_loan(r: &csv::StringRecord) -> Result<(String, Terms, Option<Decimal>), String> {
    let loan_id = r[0].to_string();
    if loan_id.is_empty() {
        return Err("loan_id is empty".into());
    }
    let disbursed_on = date(&r[5], "disbursed_on")?;
    let basis = if r[7].is_empty() {
        DayCountBasis::Days360
    } else {
        DayCountBasis::from_days(i64::from(number(&r[7], "day_count_basis")?))
            .ok_or_else(|| format!("day_count_basis `{}` is not 360 or 365", &r[7]))?
    };
    let penalty_rate = match r.get(8).filter(|text| !text.is_empty()) {
        None => None,
        Some(text) => Some(parse_amount(text).map_err(|e| e.to_string())?),
    };
    let terms = Terms {
        principal: parse_amount(&r[1]).map_err(|e| e.to_string())?,
        annual_rate: parse_amount(&r[2]).map_err(|e| e.to_string())?,
        months: number(&r[3], "months")?,
        method: r[4]
            .parse()
            .map_err(|e: super::schedule::ScheduleError| e.to_string())?,
        disbursed_on,
        repayment_day: if r[6].is_empty() {
            disbursed_on.day()
        } else {
            number(&r[6], "repayment_day")?
        },
        // The convention is chosen by the job; fixtures only store terms.
        first_period: FirstPeriod::ActualDays,
        basis,
    }
    .validated()
    .map_err(|e| format!("loan {loan_id}: {e}"))?;
    Ok((loan_id, terms, penalty_rate))
}

fn parse_receipt(r: &csv::StringRecord) -> Result<(String, String, NaiveDate, Decimal), String> {
    let amount = parse_amount(&r[3]).map_err(|e| e.to_string())?;
    if amount <= Decimal::ZERO || amount.normalize().scale() > 2 {
        return Err(format!(
            "amount {amount} must be positive with at most 2 decimals"
        ));
    }
    if r[0].is_empty() || r[1].is_empty() {
        return Err("repayment_id and loan_id are required".into());
    }
    Ok((
        r[0].to_string(),
        r[1].to_string(),
        date(&r[2], "received_on")?,
        amount,
    ))
}
