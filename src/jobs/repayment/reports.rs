//! The reports of a repayment run, built from the per-day tables all shards
//! wrote: `schedules.csv`, `due.csv`, `overdue.csv`, `rejects.csv` and
//! `summary.csv`. Rows are sorted in Rust (byte order of the loan id), so
//! both backends give byte-identical files; amounts have 2 decimals.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::schedule::ZERO_CENTS;
use crate::db::Db;
use crate::money::{Money, format_scaled};
use crate::on_db;
use crate::report::CsvReport;
use crate::runtime::{JobError, RunCtx, RunOutcome};

fn amount(value: Decimal) -> String {
    format_scaled(value, 2)
}

/// Builds and publishes the reports of the run.
pub async fn build(ctx: &RunCtx) -> Result<RunOutcome, JobError> {
    let db = ctx.ledger.db();
    let (job, date, bom) = (
        ctx.job.name.as_str(),
        ctx.business_date,
        ctx.paths.excel_bom,
    );
    let schedules = schedules(db, job, date, bom).await?;
    let (due, overdue) = installments(db, job, date, bom).await?;
    let rejects = rejects(db, job, date, bom).await?;
    let (summary, totals, failure) = summary(db, job, date, bom, &schedules, &rejects).await?;
    let files = vec![
        schedules.0.finish()?,
        due.finish()?,
        overdue.finish()?,
        rejects.0.finish()?,
        summary.finish()?,
    ];
    let reports = ctx.publish(files)?;
    let mut attention = Vec::new();
    if rejects.1 > 0 {
        attention.push(format!(
            "{} repayment input rows rejected (rejects.csv)",
            rejects.1
        ));
    }
    Ok(RunOutcome {
        reports,
        summary: totals,
        attention,
        failure,
    })
}

type ScheduleRow = (
    String,
    String,
    i64,
    i64,
    NaiveDate,
    Money,
    Money,
    Money,
    Money,
);

/// `schedules.csv` and the number of loans with a new schedule.
async fn schedules(
    db: &Db,
    job: &str,
    date: NaiveDate,
    bom: bool,
) -> Result<(CsvReport, u64), JobError> {
    let mut rows: Vec<ScheduleRow> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT s.loan_id, s.reason, s.version, s.period, s.due_date, s.installment, s.principal, s.interest, \
             s.remaining_balance FROM repayment_schedules s JOIN repayment_loan_days d \
             ON d.loan_id = s.loan_id AND d.job = $1 AND d.business_date = $2 WHERE s.generated_on = $2",
        )
        .bind(job)
        .bind(date)
        .fetch_all(pool)
        .await?
    });
    rows.sort_by(|a, b| (&a.0, a.2, a.3).cmp(&(&b.0, b.2, b.3)));
    let mut report = CsvReport::new(
        "schedules.csv",
        &[
            "loan_id",
            "reason",
            "version",
            "period",
            "due_date",
            "installment",
            "principal",
            "interest",
            "remaining_balance",
        ],
        bom,
    )?;
    let mut loans = std::collections::BTreeSet::new();
    for r in &rows {
        loans.insert((r.0.clone(), r.2));
        report.row([
            r.0.clone(),
            r.1.clone(),
            r.2.to_string(),
            r.3.to_string(),
            r.4.to_string(),
            amount(r.5.0),
            amount(r.6.0),
            amount(r.7.0),
            amount(r.8.0),
        ])?;
    }
    Ok((report, loans.len() as u64))
}

type InstallmentRow = (
    String,
    i64,
    NaiveDate,
    Money,
    Money,
    Money,
    Money,
    Money,
    Money,
    Money,
    Money,
    i64,
    String,
);

/// `due.csv` (installments due on the date) and `overdue.csv`.
async fn installments(
    db: &Db,
    job: &str,
    date: NaiveDate,
    bom: bool,
) -> Result<(CsvReport, CsvReport), JobError> {
    let mut rows: Vec<InstallmentRow> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT loan_id, period, due_date, installment, principal, interest, paid_principal, paid_interest, \
             penalty, paid_penalty, penalty_today, days_overdue, status FROM repayment_installment_days \
             WHERE job = $1 AND business_date = $2",
        )
        .bind(job)
        .bind(date)
        .fetch_all(pool)
        .await?
    });
    rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut due = CsvReport::new(
        "due.csv",
        &[
            "loan_id",
            "period",
            "due_date",
            "installment",
            "principal",
            "interest",
            "paid_principal",
            "paid_interest",
            "outstanding",
            "status",
        ],
        bom,
    )?;
    let mut overdue = CsvReport::new(
        "overdue.csv",
        &[
            "loan_id",
            "period",
            "due_date",
            "days_overdue",
            "overdue_principal",
            "overdue_interest",
            "penalty_today",
            "penalty_accrued",
            "penalty_owed",
            "total_owed",
        ],
        bom,
    )?;
    for r in &rows {
        let (principal, interest) = (r.4.0, r.5.0);
        let (paid_principal, paid_interest) = (r.6.0, r.7.0);
        let (penalty, paid_penalty, penalty_today) = (r.8.0, r.9.0, r.10.0);
        let owed_principal = principal - paid_principal;
        let owed_interest = interest - paid_interest;
        let owed_penalty = penalty - paid_penalty;
        if r.2 == date {
            due.row([
                r.0.clone(),
                r.1.to_string(),
                r.2.to_string(),
                amount(r.3.0),
                amount(principal),
                amount(interest),
                amount(paid_principal),
                amount(paid_interest),
                amount(owed_principal + owed_interest),
                r.12.clone(),
            ])?;
        }
        if r.12 == "overdue" {
            overdue.row([
                r.0.clone(),
                r.1.to_string(),
                r.2.to_string(),
                r.11.to_string(),
                amount(owed_principal),
                amount(owed_interest),
                amount(penalty_today),
                amount(penalty),
                amount(owed_penalty),
                amount(owed_principal + owed_interest + owed_penalty),
            ])?;
        }
    }
    Ok((due, overdue))
}

/// `rejects.csv` and its row count.
async fn rejects(
    db: &Db,
    job: &str,
    date: NaiveDate,
    bom: bool,
) -> Result<(CsvReport, u64), JobError> {
    let mut rows: Vec<(String, String, String)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT source, record, reason FROM repayment_rejects WHERE job = $1 AND business_date = $2",
        )
        .bind(job)
        .bind(date)
        .fetch_all(pool)
        .await?
    });
    rows.sort();
    let mut report = CsvReport::new("rejects.csv", &["source", "record", "reason"], bom)?;
    for r in &rows {
        report.row([&r.0, &r.1, &r.2])?;
    }
    Ok((report, rows.len() as u64))
}

type DayRow = (
    String,
    i64,
    Money,
    Money,
    Money,
    Money,
    i64,
    Money,
    Money,
    Money,
    Money,
    Money,
    Money,
    Money,
    Money,
);

/// Totals over the loans' day rows.
#[derive(Default)]
struct Totals {
    loans: u64,
    active: u64,
    overdue: u64,
    settled: u64,
    outstanding: Decimal,
    overdue_principal: Decimal,
    overdue_interest: Decimal,
    penalty_owed: Decimal,
    receipts: i64,
    received: Decimal,
    applied: [Decimal; 5],
    accrued_interest: Decimal,
    penalty_today: Decimal,
}

async fn summary(
    db: &Db,
    job: &str,
    date: NaiveDate,
    bom: bool,
    schedules: &(CsvReport, u64),
    rejects: &(CsvReport, u64),
) -> Result<(CsvReport, serde_json::Value, Option<String>), JobError> {
    let rows: Vec<DayRow> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT status, new_schedule, outstanding_principal, overdue_principal, overdue_interest, penalty_owed, \
             receipts, received, applied_penalty, applied_interest, applied_principal, prepaid_principal, unapplied, \
             accrued_interest, penalty_today FROM repayment_loan_days WHERE job = $1 AND business_date = $2",
        )
        .bind(job)
        .bind(date)
        .fetch_all(pool)
        .await?
    });
    let mut t = Totals {
        outstanding: ZERO_CENTS,
        ..Totals::default()
    };
    for r in &rows {
        t.loans += 1;
        match r.0.as_str() {
            "overdue" => t.overdue += 1,
            "settled" => t.settled += 1,
            _ => t.active += 1,
        }
        t.outstanding += r.2.0;
        t.overdue_principal += r.3.0;
        t.overdue_interest += r.4.0;
        t.penalty_owed += r.5.0;
        t.receipts += r.6;
        t.received += r.7.0;
        for (slot, value) in t
            .applied
            .iter_mut()
            .zip([r.8.0, r.9.0, r.10.0, r.11.0, r.12.0])
        {
            *slot += value;
        }
        t.accrued_interest += r.13.0;
        t.penalty_today += r.14.0;
    }
    let applied_total: Decimal = t.applied.iter().sum();
    let failure = (applied_total != t.received).then(|| {
        format!(
            "repayments received {} but {} allocated: the allocation does not conserve money",
            amount(t.received),
            amount(applied_total)
        )
    });
    let mut report = CsvReport::new("summary.csv", &["metric", "count", "amount"], bom)?;
    let lines: Vec<(&str, String, Decimal)> = vec![
        ("loans_processed", t.loans.to_string(), t.outstanding),
        ("loans_active", t.active.to_string(), Decimal::ZERO),
        ("loans_overdue", t.overdue.to_string(), t.overdue_principal),
        ("loans_settled", t.settled.to_string(), Decimal::ZERO),
        ("new_schedules", schedules.1.to_string(), Decimal::ZERO),
        ("overdue_interest", String::new(), t.overdue_interest),
        ("penalty_owed", String::new(), t.penalty_owed),
        ("repayments_received", t.receipts.to_string(), t.received),
        ("applied_penalty", String::new(), t.applied[0]),
        ("applied_interest", String::new(), t.applied[1]),
        ("applied_principal", String::new(), t.applied[2]),
        ("prepaid_principal", String::new(), t.applied[3]),
        ("unapplied", String::new(), t.applied[4]),
        ("interest_accrued", String::new(), t.accrued_interest),
        ("penalty_accrued", String::new(), t.penalty_today),
        ("rejects", rejects.1.to_string(), Decimal::ZERO),
    ];
    for (metric, count, value) in &lines {
        report.row([metric.to_string(), count.clone(), amount(*value)])?;
    }
    let totals = serde_json::json!({
        "loans": t.loans,
        "overdue_loans": t.overdue,
        "received": amount(t.received),
        "interest_accrued": amount(t.accrued_interest),
        "penalty_accrued": amount(t.penalty_today),
        "rejects": rejects.1,
    });
    Ok((report, totals, failure))
}
