//! The reports of a repayment run, built from the per-day tables all shards
//! wrote: `schedules.csv`, `due.csv`, `overdue.csv`, `rejects.csv` and
//! `loans.csv`, `summary.csv`. Rows are sorted in Rust (byte order of the loan id), so
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
    // Four independent reads of what the shards committed, at once.
    let (schedules, (due, overdue), rejected, rows) = tokio::try_join!(
        schedules(db, job, date, bom),
        installments(db, job, date, bom),
        rejects(db, job, date, bom),
        day_rows(db, job, date),
    )?;
    let totals = totals(&rows);
    // Checked before anything is written; a failure keeps the reports.
    let failure = conservation(&rows, &totals);
    let loans = loans_report(&rows, bom)?;
    let (summary, totals) = summary(&totals, bom, schedules.1, &rejected)?;
    let mut attention = Vec::new();
    if rejected.repayments > 0 {
        attention.push(format!(
            "{} repayments rejected, {} in all (rejects.csv)",
            rejected.repayments,
            amount(rejected.repayment_amount)
        ));
    }
    if rejected.rows > rejected.repayments {
        attention.push(format!(
            "{} loans rejected (rejects.csv)",
            rejected.rows - rejected.repayments
        ));
    }
    let files = vec![
        schedules.0.finish()?,
        due.finish()?,
        overdue.finish()?,
        loans.finish()?,
        rejected.report.finish()?,
        summary.finish()?,
    ];
    let lead = ctx.lead().await?;
    let reports = ctx.publish(&lead, files)?;
    lead.done();
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

/// Rejected input rows and the repayments among them.
struct Rejected {
    report: CsvReport,
    rows: u64,
    repayments: u64,
    repayment_amount: Decimal,
}

/// `rejects.csv`: one row per rejected loan or repayment, with the
/// repayment's loan and amount as stored (not rounded: a sub-cent amount
/// shows as it was received).
async fn rejects(db: &Db, job: &str, date: NaiveDate, bom: bool) -> Result<Rejected, JobError> {
    let mut rows: Vec<(String, String, String, Option<Money>, String)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT source, record, loan_id, amount, reason FROM repayment_rejects \
             WHERE job = $1 AND business_date = $2",
        )
        .bind(job)
        .bind(date)
        .fetch_all(pool)
        .await?
    });
    rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut report = CsvReport::new(
        "rejects.csv",
        &["source", "record", "loan_id", "amount", "reason"],
        bom,
    )?;
    let (mut repayments, mut repayment_amount) = (0u64, ZERO_CENTS);
    for r in &rows {
        // As stored, but never fewer than 2 decimals (PostgreSQL returns a
        // NUMERIC zero as `0`), so both backends print the same bytes.
        let amount_text =
            r.3.map(|m| {
                let mut value = m.0;
                if value.scale() < 2 {
                    value.rescale(2);
                }
                value.to_string()
            })
            .unwrap_or_default();
        if r.0 == "repayment" {
            repayments += 1;
            repayment_amount += r.3.map(|m| m.0).unwrap_or_default();
        }
        report.row([&r.0, &r.1, &r.2, &amount_text, &r.4])?;
    }
    Ok(Rejected {
        report,
        rows: rows.len() as u64,
        repayments,
        repayment_amount,
    })
}

/// One loan's row of the day, as the shards stored it.
#[derive(sqlx::FromRow)]
struct DayRow {
    loan_id: String,
    method: String,
    status: String,
    outstanding_principal: Money,
    overdue_principal: Money,
    overdue_interest: Money,
    penalty_owed: Money,
    days_overdue: i64,
    receipts: i64,
    received: Money,
    applied_penalty: Money,
    applied_interest: Money,
    applied_principal: Money,
    prepaid_principal: Money,
    unapplied: Money,
    accrued_interest: Money,
    penalty_today: Money,
    prepayment_interest: Money,
    advance_in: Money,
    advance_applied: Money,
    advance_balance: Money,
}

impl DayRow {
    /// Principal paid on the day, due installments and prepaid.
    fn principal_paid(&self) -> Decimal {
        self.applied_principal.0 + self.prepaid_principal.0
    }

    /// Interest paid on the day, due installments and on prepaid principal.
    fn interest_paid(&self) -> Decimal {
        self.applied_interest.0 + self.prepayment_interest.0
    }

    /// Where the day's money went minus where it came from: zero when the
    /// loan conserves money (received + advance applied = paid + held + unapplied).
    fn imbalance(&self) -> Decimal {
        self.received.0 + self.advance_applied.0
            - self.principal_paid()
            - self.interest_paid()
            - self.applied_penalty.0
            - self.advance_in.0
            - self.unapplied.0
    }
}

async fn day_rows(db: &Db, job: &str, date: NaiveDate) -> Result<Vec<DayRow>, JobError> {
    let mut rows: Vec<DayRow> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT d.loan_id, l.method, d.status, d.outstanding_principal, d.overdue_principal, \
             d.overdue_interest, d.penalty_owed, d.days_overdue, d.receipts, d.received, d.applied_penalty, \
             d.applied_interest, d.applied_principal, d.prepaid_principal, d.unapplied, d.accrued_interest, \
             d.penalty_today, d.prepayment_interest, d.advance_in, d.advance_applied, d.advance_balance \
             FROM repayment_loan_days d JOIN repayment_loans l ON l.loan_id = d.loan_id \
             WHERE d.job = $1 AND d.business_date = $2",
        )
        .bind(job)
        .bind(date)
        .fetch_all(pool)
        .await?
    });
    rows.sort_by(|a, b| a.loan_id.cmp(&b.loan_id));
    Ok(rows)
}

/// `loans.csv` (贷款余额表): one row per loan processed, what it owes and
/// what was collected from it on the day.
fn loans_report(rows: &[DayRow], bom: bool) -> Result<CsvReport, JobError> {
    let mut report = CsvReport::new(
        "loans.csv",
        &[
            "loan_id",
            "method",
            "status",
            "principal_outstanding",
            "overdue_principal",
            "overdue_interest",
            "penalty_owed",
            "days_overdue",
            "received",
            "principal_paid",
            "interest_paid",
            "penalty_paid",
            "advance_in",
            "advance_applied",
            "advance_held",
            "unapplied",
            "interest_accrued",
        ],
        bom,
    )?;
    for r in rows {
        report.row([
            r.loan_id.clone(),
            r.method.clone(),
            r.status.clone(),
            amount(r.outstanding_principal.0),
            amount(r.overdue_principal.0),
            amount(r.overdue_interest.0),
            amount(r.penalty_owed.0),
            r.days_overdue.to_string(),
            amount(r.received.0),
            amount(r.principal_paid()),
            amount(r.interest_paid()),
            amount(r.applied_penalty.0),
            amount(r.advance_in.0),
            amount(r.advance_applied.0),
            amount(r.advance_balance.0),
            amount(r.unapplied.0),
            amount(r.accrued_interest.0),
        ])?;
    }
    Ok(report)
}

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
    /// penalty, interest, principal, prepaid, prepayment interest, advance in, advance applied, unapplied
    applied: [Decimal; 8],
    advance_held: Decimal,
    accrued_interest: Decimal,
    penalty_today: Decimal,
}

/// The conservation check before anything is written: per loan and in
/// total, received + advance applied = principal + interest + penalty paid +
/// advance held in + unapplied. `Some(reason)` fails the run.
fn conservation(rows: &[DayRow], t: &Totals) -> Option<String> {
    if let Some(r) = rows.iter().find(|r| !r.imbalance().is_zero()) {
        return Some(format!(
            "loan {}: received {} and {} from the advance, but {} more went out than came in: \
             the allocation does not conserve money",
            r.loan_id,
            amount(r.received.0),
            amount(r.advance_applied.0),
            amount(-r.imbalance())
        ));
    }
    let [
        penalty,
        interest,
        principal,
        prepaid,
        prepayment_interest,
        advance_in,
        advance_applied,
        unapplied,
    ] = t.applied;
    let out =
        penalty + interest + principal + prepaid + prepayment_interest + advance_in + unapplied;
    (t.received + advance_applied != out).then(|| {
        format!(
            "repayments received {} (+{} from the advance) but {} allocated: the allocation does not conserve money",
            amount(t.received),
            amount(advance_applied),
            amount(out)
        )
    })
}

fn totals(rows: &[DayRow]) -> Totals {
    let mut t = Totals {
        outstanding: ZERO_CENTS,
        ..Totals::default()
    };
    for r in rows {
        t.loans += 1;
        match r.status.as_str() {
            "overdue" => t.overdue += 1,
            "settled" => t.settled += 1,
            _ => t.active += 1,
        }
        t.outstanding += r.outstanding_principal.0;
        t.overdue_principal += r.overdue_principal.0;
        t.overdue_interest += r.overdue_interest.0;
        t.penalty_owed += r.penalty_owed.0;
        t.receipts += r.receipts;
        t.received += r.received.0;
        let values = [
            r.applied_penalty.0,
            r.applied_interest.0,
            r.applied_principal.0,
            r.prepaid_principal.0,
            r.prepayment_interest.0,
            r.advance_in.0,
            r.advance_applied.0,
            r.unapplied.0,
        ];
        for (slot, value) in t.applied.iter_mut().zip(values) {
            *slot += value;
        }
        t.advance_held += r.advance_balance.0;
        t.accrued_interest += r.accrued_interest.0;
        t.penalty_today += r.penalty_today.0;
    }
    t
}

/// `summary.csv` and the run's summary figures.
fn summary(
    t: &Totals,
    bom: bool,
    new_schedules: u64,
    rejected: &Rejected,
) -> Result<(CsvReport, serde_json::Value), JobError> {
    let mut report = CsvReport::new("summary.csv", &["metric", "count", "amount"], bom)?;
    let lines: Vec<(&str, String, Decimal)> = vec![
        ("loans_processed", t.loans.to_string(), t.outstanding),
        ("loans_active", t.active.to_string(), Decimal::ZERO),
        ("loans_overdue", t.overdue.to_string(), t.overdue_principal),
        ("loans_settled", t.settled.to_string(), Decimal::ZERO),
        ("new_schedules", new_schedules.to_string(), Decimal::ZERO),
        ("overdue_interest", String::new(), t.overdue_interest),
        ("penalty_owed", String::new(), t.penalty_owed),
        ("repayments_received", t.receipts.to_string(), t.received),
        (
            "repayments_rejected",
            rejected.repayments.to_string(),
            rejected.repayment_amount,
        ),
        ("applied_penalty", String::new(), t.applied[0]),
        ("applied_interest", String::new(), t.applied[1]),
        ("applied_principal", String::new(), t.applied[2]),
        ("prepaid_principal", String::new(), t.applied[3]),
        ("prepayment_interest", String::new(), t.applied[4]),
        ("advance_in", String::new(), t.applied[5]),
        ("advance_applied", String::new(), t.applied[6]),
        ("advance_held", String::new(), t.advance_held),
        ("unapplied", String::new(), t.applied[7]),
        ("interest_accrued", String::new(), t.accrued_interest),
        ("penalty_accrued", String::new(), t.penalty_today),
        ("rejects", rejected.rows.to_string(), Decimal::ZERO),
    ];
    for (metric, count, value) in &lines {
        report.row([metric.to_string(), count.clone(), amount(*value)])?;
    }
    let totals = serde_json::json!({
        "loans": t.loans,
        "overdue_loans": t.overdue,
        "received": amount(t.received),
        "repayments_rejected": rejected.repayments,
        "interest_accrued": amount(t.accrued_interest),
        "penalty_accrued": amount(t.penalty_today),
        "rejects": rejected.rows,
    });
    Ok((report, totals))
}
