//! Reading a shard's loans, schedules and repayments, and writing its outputs
//! inside the shard's fenced transaction. Queries run on both backends.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::allocation::Component;
use super::eod::{Loan, LoanDay, LoanState};
use super::interest::DayCountBasis;
use super::profile::Phase;
use super::schedule::{FirstPeriod, Installment, Method, Terms, ZERO_CENTS};
use crate::batch::{RowBatch, Value, delete_in};
use crate::db::{Db, DbTx};
use crate::money::Money;
use crate::sharding::partition_of;
use crate::{on_db, on_tx};

/// An input row that cannot be used (a loan or a receipt), with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// `loan` or `repayment`.
    pub source: &'static str,
    /// The loan id or the repayment id.
    pub record: String,
    /// The loan a rejected repayment names (blank for a loan).
    pub loan_id: String,
    /// A rejected repayment's amount as stored.
    pub amount: Option<Decimal>,
    pub reason: String,
}

/// A repayment as stored, before [`super::validate`] checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReceipt {
    pub repayment_id: String,
    pub loan_id: String,
    pub received_on: NaiveDate,
    pub amount: Decimal,
}

type LoanRow = (
    String,
    Money,
    Money,
    i64,
    String,
    NaiveDate,
    i64,
    i64,
    Option<Money>,
);

/// The loans of shard `item` (of `items`) disbursed on or before `date`,
/// by loan id, with `first_period` as the rule of schedules not stored yet;
/// loans whose stored terms are unusable come back as rejects.
pub async fn loans(
    db: &Db,
    date: NaiveDate,
    item: u32,
    items: u32,
    first_period: FirstPeriod,
) -> Result<(Vec<Loan>, Vec<Reject>), sqlx::Error> {
    let rows: Vec<LoanRow> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT loan_id, principal, annual_rate, months, method, disbursed_on, repayment_day, day_count_basis, \
             penalty_rate FROM repayment_loans WHERE disbursed_on <= $1",
        )
        .bind(date)
        .fetch_all(pool)
        .await?
    });
    let mut loans = Vec::new();
    let mut rejects = Vec::new();
    for row in rows {
        if partition_of(&row.0, items) != item {
            continue;
        }
        let loan_id = row.0.clone();
        match loan_from_row(row, first_period) {
            Ok(loan) => loans.push(loan),
            Err(reason) => rejects.push(Reject {
                source: "loan",
                record: loan_id,
                loan_id: String::new(),
                amount: None,
                reason,
            }),
        }
    }
    loans.sort_by(|a, b| a.loan_id.cmp(&b.loan_id));
    Ok((loans, rejects))
}

fn loan_from_row(row: LoanRow, first_period: FirstPeriod) -> Result<Loan, String> {
    let (loan_id, principal, rate, months, method, disbursed_on, day, basis, penalty_rate) = row;
    let basis = DayCountBasis::from_days(basis)
        .ok_or_else(|| format!("day-count basis {basis} is not 360 or 365"))?;
    let penalty_rate = penalty_rate.map(|rate| rate.0);
    if penalty_rate
        .is_some_and(|rate| rate < Decimal::ZERO || rate > super::schedule::ANNUAL_RATE_MAX)
    {
        return Err(format!(
            "penalty rate {} must be between 0 and 1",
            penalty_rate.unwrap_or_default()
        ));
    }
    let terms = Terms {
        principal: principal.0,
        annual_rate: rate.0,
        months: u32::try_from(months).map_err(|_| format!("term of {months} months"))?,
        method: Method::from_str(&method).map_err(|e| e.to_string())?,
        disbursed_on,
        repayment_day: u32::try_from(day).map_err(|_| format!("repayment day {day}"))?,
        first_period,
        basis,
    }
    .validated()
    .map_err(|e| e.to_string())?;
    Ok(Loan {
        loan_id,
        terms,
        penalty_rate,
    })
}

/// Repayments received on or before `date` for the loans of shard `item`,
/// by loan id, as stored (validated one by one by the job). On PostgreSQL
/// the shard's `loans` are read only (`loan_id = ANY($2)`, by the receipts'
/// loan index); SQLite reads the date's receipts and keeps the shard's. A
/// receipt for a loan that is not in the book hashes to a shard like any
/// other and comes back here, so it is rejected by that shard.
pub async fn receipts(
    db: &Db,
    date: NaiveDate,
    loans: &[String],
    item: u32,
    items: u32,
) -> Result<BTreeMap<String, Vec<RawReceipt>>, sqlx::Error> {
    const COLUMNS: &str = "SELECT repayment_id, loan_id, received_on, amount FROM repayment_receipts WHERE received_on <= $1";
    let rows: Vec<(String, String, NaiveDate, Money)> = match db {
        Db::Sqlite(pool) => sqlx::query_as(COLUMNS).bind(date).fetch_all(pool).await?,
        Db::Postgres(pool) => {
            // The shard's loans, plus receipts naming no loan of the book
            // (rejected by the shard their loan id hashes to).
            let mut rows: Vec<(String, String, NaiveDate, Money)> = sqlx::query_as(
                sqlx::AssertSqlSafe(format!("{COLUMNS} AND loan_id = ANY($2)")),
            )
            .bind(date)
            .bind(loans)
            .fetch_all(pool)
            .await?;
            let orphans: Vec<(String, String, NaiveDate, Money)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{COLUMNS} AND NOT EXISTS (SELECT 1 FROM repayment_loans l \
                 WHERE l.loan_id = repayment_receipts.loan_id AND l.disbursed_on <= $1)"
                )))
                .bind(date)
                .fetch_all(pool)
                .await?;
            rows.extend(orphans);
            rows
        }
    };
    let mut by_loan: BTreeMap<String, Vec<RawReceipt>> = BTreeMap::new();
    for (repayment_id, loan_id, received_on, amount) in rows {
        if partition_of(&loan_id, items) == item {
            by_loan
                .entry(loan_id.clone())
                .or_default()
                .push(RawReceipt {
                    repayment_id,
                    loan_id,
                    received_on,
                    amount: amount.0,
                });
        }
    }
    Ok(by_loan)
}

/// A loan's checkpoint: the digest of the inputs it summarises and its
/// state (JSON of [`super::eod::LoanState`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub inputs: String,
    pub state: String,
}

/// The checkpoints of `job`'s latest date before `date` for the loans of
/// shard `item` (on PostgreSQL read by the shard's `loans`), with that date;
/// `None` when the job has none before `date`.
pub async fn checkpoints(
    db: &Db,
    job: &str,
    date: NaiveDate,
    loans: &[String],
    item: u32,
    items: u32,
) -> Result<Option<(NaiveDate, BTreeMap<String, StoredCheckpoint>)>, sqlx::Error> {
    let latest: Option<NaiveDate> = on_db!(db, pool => {
        sqlx::query_scalar(
            "SELECT MAX(business_date) FROM repayment_checkpoints WHERE job = $1 AND business_date < $2",
        )
        .bind(job)
        .bind(date)
        .fetch_one(pool)
        .await?
    });
    let Some(latest) = latest else {
        return Ok(None);
    };
    const COLUMNS: &str = "SELECT loan_id, inputs, state FROM repayment_checkpoints \
        WHERE job = $1 AND business_date = $2";
    let rows: Vec<(String, String, String)> = match db {
        Db::Sqlite(pool) => {
            sqlx::query_as(COLUMNS)
                .bind(job)
                .bind(latest)
                .fetch_all(pool)
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{COLUMNS} AND loan_id = ANY($3)"
            )))
            .bind(job)
            .bind(latest)
            .bind(loans)
            .fetch_all(pool)
            .await?
        }
    };
    let by_loan = rows
        .into_iter()
        .filter(|(loan_id, _, _)| partition_of(loan_id, items) == item)
        .map(|(loan_id, inputs, state)| (loan_id, StoredCheckpoint { inputs, state }))
        .collect();
    Ok(Some((latest, by_loan)))
}

/// Days of checkpoints a shard keeps before the date it writes (older ones
/// are deleted in the same transaction; a rerun of an older date replays
/// its loans from the disbursement).
pub const CHECKPOINT_RETENTION_DAYS: u64 = 7;

/// Deletes the shard's checkpoints older than the retention before `key`'s date.
pub async fn prune_checkpoints(tx: &mut DbTx, key: &OutputKey<'_>) -> Result<(), sqlx::Error> {
    let Some(before) = key
        .business_date
        .checked_sub_days(chrono::Days::new(CHECKPOINT_RETENTION_DAYS))
    else {
        return Ok(());
    };
    on_tx!(tx, conn => {
        sqlx::query(
            "DELETE FROM repayment_checkpoints WHERE job = $1 AND item = $2 AND business_date < $3",
        )
        .bind(key.job)
        .bind(i64::from(key.item))
        .bind(before)
        .execute(&mut **conn)
        .await?;
    });
    Ok(())
}

/// A stored original schedule and the convention it was generated under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSchedule {
    pub convention: String,
    pub installments: Vec<Installment>,
}

type ScheduleRow = (String, i64, String, NaiveDate, Money, Money, Money, Money);

/// The original (version 0) schedules of `loans` (of shard `item`): those
/// without a usable checkpoint. Read by the primary key: `loan_id = ANY($1)`
/// on PostgreSQL, `IN (…)` lists on SQLite — the stored schedules are the
/// largest input, twelve rows a loan.
pub async fn original_schedules(
    db: &Db,
    loans: &[String],
    item: u32,
    items: u32,
) -> Result<BTreeMap<String, StoredSchedule>, sqlx::Error> {
    const COLUMNS: &str = "SELECT loan_id, period, convention, due_date, installment, principal, \
        interest, remaining_balance FROM repayment_schedules WHERE version = 0";
    /// Loan ids per SQLite statement.
    const SQLITE_KEYS: usize = 500;
    let mut rows: Vec<ScheduleRow> = Vec::new();
    match db {
        Db::Sqlite(pool) => {
            for chunk in loans.chunks(SQLITE_KEYS) {
                let list = vec!["?"; chunk.len()].join(", ");
                let sql = format!("{COLUMNS} AND loan_id IN ({list})");
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                for loan in chunk {
                    query = query.bind(loan.as_str());
                }
                let part: Vec<ScheduleRow> = query.fetch_all(pool).await?;
                rows.extend(part);
            }
        }
        Db::Postgres(pool) if !loans.is_empty() => {
            rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{COLUMNS} AND loan_id = ANY($1)"
            )))
            .bind(loans)
            .fetch_all(pool)
            .await?;
        }
        Db::Postgres(_) => {}
    }
    let mut by_loan: BTreeMap<String, StoredSchedule> = BTreeMap::new();
    for (loan_id, period, convention, due_date, installment, principal, interest, remaining) in rows
    {
        if partition_of(&loan_id, items) != item {
            continue;
        }
        let entry = by_loan.entry(loan_id).or_insert_with(|| StoredSchedule {
            convention,
            installments: Vec::new(),
        });
        entry.installments.push(Installment {
            period: u32::try_from(period).unwrap_or(0),
            due_date,
            installment: installment.0,
            principal: principal.0,
            interest: interest.0,
            remaining: remaining.0,
        });
    }
    // Sorted here, per loan: an ORDER BY made PostgreSQL sort every stored
    // installment of the book in each shard.
    for schedule in by_loan.values_mut() {
        schedule.installments.sort_by_key(|i| i.period);
    }
    Ok(by_loan)
}

/// Everything one loan's end of day writes.
pub struct LoanOutput<'a> {
    pub loan: &'a Loan,
    /// The original schedule, when generated by this run.
    pub generated: Option<&'a [Installment]>,
    pub day: &'a LoanDay,
    /// The loan's checkpoint of the date: its inputs' digest and state.
    pub checkpoint: (&'a str, &'a LoanState),
}

/// The key of a shard's per-day outputs.
pub struct OutputKey<'a> {
    pub job: &'a str,
    pub business_date: NaiveDate,
    pub item: u32,
}

/// Replaces the shard's per-day outputs of the date (delete then insert).
pub async fn clear_outputs(tx: &mut DbTx, key: &OutputKey<'_>) -> Result<(), sqlx::Error> {
    for table in [
        "repayment_loan_days",
        "repayment_installment_days",
        "repayment_allocations",
        "repayment_rejects",
        "repayment_checkpoints",
    ] {
        let sql =
            format!("DELETE FROM {table} WHERE job = $1 AND business_date = $2 AND item = $3");
        on_tx!(tx, conn => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(key.job)
                .bind(key.business_date)
                .bind(i64::from(key.item))
                .execute(&mut **conn)
                .await?;
        });
    }
    Ok(())
}

/// Writes rejects of the shard.
pub async fn write_rejects(
    tx: &mut DbTx,
    key: &OutputKey<'_>,
    rejects: &[Reject],
) -> Result<(), sqlx::Error> {
    let mut batch = RowBatch::new(
        "repayment_rejects",
        &[
            "job",
            "business_date",
            "item",
            "source",
            "record",
            "loan_id",
            "amount",
            "reason",
        ],
    )
    .ignoring_conflicts();
    for reject in rejects {
        batch.push(vec![
            Value::Text(key.job.to_string()),
            Value::Date(key.business_date),
            Value::Int(i64::from(key.item)),
            Value::Text(reject.source.to_string()),
            Value::Text(reject.record.clone()),
            Value::Text(reject.loan_id.clone()),
            Value::OptionalMoney(reject.amount),
            Value::Text(reject.reason.clone()),
        ]);
    }
    batch.flush(tx).await
}

/// Rows queued per table before they are written.
const FLUSH_ROWS: usize = 50_000;

/// Deletes the rows that the shard's loans about to be written replace:
/// the original schedules of the loans in `generated` (stored anew), the
/// date's regenerations and the installment state of every loan in
/// `written`. One statement per table for the whole shard, before any row
/// is written: on PostgreSQL the keys are one array, so the table is
/// visited once (a hashed scan or the index, as the planner finds cheaper),
/// not once per flush (a flush of 4,000 loans cost a scan of the whole
/// installment table: quadratic in the book).
pub async fn delete_replaced(
    tx: &mut DbTx,
    date: NaiveDate,
    written: &[String],
    generated: &[String],
) -> Result<(), sqlx::Error> {
    delete_in(
        tx,
        "repayment_schedules",
        "version = 0",
        None,
        "loan_id",
        generated,
    )
    .await?;
    delete_in(
        tx,
        "repayment_schedules",
        "version >= 1 AND generated_on = {date}",
        Some(date),
        "loan_id",
        written,
    )
    .await?;
    delete_in(
        tx,
        "repayment_installments",
        "1 = 1",
        None,
        "loan_id",
        written,
    )
    .await
}

/// The rows of a shard's loans, written many per statement, after
/// [`delete_replaced`] removed the rows they replace.
pub struct LoanWriter {
    schedules: RowBatch,
    installments: RowBatch,
    installment_days: RowBatch,
    loan_days: RowBatch,
    allocations: RowBatch,
    checkpoints: RowBatch,
    /// Rows written so far.
    pub rows: u64,
}

impl Default for LoanWriter {
    fn default() -> Self {
        LoanWriter {
            rows: 0,
            checkpoints: RowBatch::new(
                "repayment_checkpoints",
                &["job", "business_date", "item", "loan_id", "inputs", "state"],
            ),
            schedules: RowBatch::new(
                "repayment_schedules",
                &[
                    "loan_id",
                    "version",
                    "period",
                    "generated_on",
                    "reason",
                    "convention",
                    "due_date",
                    "installment",
                    "principal",
                    "interest",
                    "remaining_balance",
                ],
            ),
            installments: RowBatch::new(
                "repayment_installments",
                &[
                    "loan_id",
                    "period",
                    "due_date",
                    "installment",
                    "principal",
                    "interest",
                    "penalty",
                    "paid_principal",
                    "paid_interest",
                    "paid_penalty",
                    "status",
                    "as_of",
                ],
            ),
            installment_days: RowBatch::new(
                "repayment_installment_days",
                &[
                    "job",
                    "business_date",
                    "item",
                    "loan_id",
                    "period",
                    "due_date",
                    "installment",
                    "principal",
                    "interest",
                    "paid_principal",
                    "paid_interest",
                    "penalty",
                    "paid_penalty",
                    "penalty_today",
                    "days_overdue",
                    "status",
                ],
            ),
            loan_days: RowBatch::new(
                "repayment_loan_days",
                &[
                    "job",
                    "business_date",
                    "item",
                    "loan_id",
                    "status",
                    "new_schedule",
                    "outstanding_principal",
                    "overdue_principal",
                    "overdue_interest",
                    "penalty_owed",
                    "days_overdue",
                    "receipts",
                    "received",
                    "applied_penalty",
                    "applied_interest",
                    "applied_principal",
                    "prepaid_principal",
                    "unapplied",
                    "accrued_interest",
                    "penalty_today",
                    "prepayment_interest",
                    "advance_in",
                    "advance_applied",
                    "advance_balance",
                ],
            ),
            allocations: RowBatch::new(
                "repayment_allocations",
                &[
                    "job",
                    "business_date",
                    "item",
                    "loan_id",
                    "seq",
                    "repayment_id",
                    "period",
                    "component",
                    "amount",
                ],
            ),
        }
    }
}

impl LoanWriter {
    fn batches(&mut self) -> [&mut RowBatch; 6] {
        [
            &mut self.schedules,
            &mut self.installments,
            &mut self.installment_days,
            &mut self.loan_days,
            &mut self.allocations,
            &mut self.checkpoints,
        ]
    }

    /// Writes the queued rows (the replaced ones were deleted by
    /// [`delete_replaced`] before the first loan was queued).
    pub async fn flush(&mut self, tx: &mut DbTx) -> Result<(), sqlx::Error> {
        let started = std::time::Instant::now();
        let mut rows = 0;
        for batch in self.batches() {
            rows += batch.len() as u64;
            batch.flush(tx).await?;
        }
        self.rows += rows;
        Phase::Write.add(started);
        Ok(())
    }

    /// Queues one loan's schedules, installment state and per-day rows
    /// (written, after its old rows are deleted, by [`LoanWriter::flush`],
    /// which this calls once enough rows are queued).
    pub async fn write_loan(
        &mut self,
        tx: &mut DbTx,
        key: &OutputKey<'_>,
        output: &LoanOutput<'_>,
    ) -> Result<(), sqlx::Error> {
        let loan_id = output.loan.loan_id.as_str();
        if let Some(schedule) = output.generated {
            let disbursed = output.loan.terms.disbursed_on;
            let convention = output.loan.terms.first_period.convention();
            self.queue_schedule(loan_id, 0, disbursed, "disbursement", convention, schedule);
        }
        let convention = output.loan.terms.first_period.convention();
        // The regenerations of the date; earlier ones are earlier dates' outputs.
        for regeneration in output
            .day
            .regenerations
            .iter()
            .filter(|r| r.generated_on == key.business_date)
        {
            self.queue_schedule(
                loan_id,
                regeneration.version,
                regeneration.generated_on,
                "prepayment",
                convention,
                &regeneration.schedule,
            );
        }
        self.queue_installments(key, output);
        self.queue_loan_day(key, output);
        self.queue_allocations(key, output);
        let (inputs, state) = output.checkpoint;
        self.checkpoints.push(vec![
            Value::Text(key.job.to_string()),
            Value::Date(key.business_date),
            Value::Int(i64::from(key.item)),
            Value::Text(loan_id.to_string()),
            Value::Text(inputs.to_string()),
            Value::Text(serde_json::to_string(state).unwrap_or_default()),
        ]);
        if self.batches().iter().any(|batch| batch.len() >= FLUSH_ROWS) {
            self.flush(tx).await?;
        }
        Ok(())
    }

    fn queue_schedule(
        &mut self,
        loan_id: &str,
        version: u32,
        generated_on: NaiveDate,
        reason: &str,
        convention: &str,
        schedule: &[Installment],
    ) {
        for row in schedule {
            self.schedules.push(vec![
                Value::Text(loan_id.to_string()),
                Value::Int(i64::from(version)),
                Value::Int(i64::from(row.period)),
                Value::Date(generated_on),
                Value::Text(reason.to_string()),
                Value::Text(convention.to_string()),
                Value::Date(row.due_date),
                Value::Money(row.installment),
                Value::Money(row.principal),
                Value::Money(row.interest),
                Value::Money(row.remaining),
            ]);
        }
    }

    fn queue_installments(&mut self, key: &OutputKey<'_>, output: &LoanOutput<'_>) {
        let loan_id = output.loan.loan_id.as_str();
        let day = output.day;
        for i in &day.installments {
            let overdue = i.due_date <= day.business_date && !i.is_paid();
            let status = if i.is_paid() {
                "paid"
            } else if overdue {
                "overdue"
            } else {
                "pending"
            };
            self.installments.push(vec![
                Value::Text(loan_id.to_string()),
                Value::Int(i64::from(i.period)),
                Value::Date(i.due_date),
                Value::Money(i.principal + i.interest),
                Value::Money(i.principal),
                Value::Money(i.interest),
                Value::Money(i.penalty_billed()),
                Value::Money(i.paid_principal),
                Value::Money(i.paid_interest),
                Value::Money(i.paid_penalty),
                Value::Text(status.to_string()),
                Value::Date(key.business_date),
            ]);
            if i.due_date == day.business_date || overdue {
                self.installment_days.push(vec![
                    Value::Text(key.job.to_string()),
                    Value::Date(key.business_date),
                    Value::Int(i64::from(key.item)),
                    Value::Text(loan_id.to_string()),
                    Value::Int(i64::from(i.period)),
                    Value::Date(i.due_date),
                    Value::Money(i.principal + i.interest),
                    Value::Money(i.principal),
                    Value::Money(i.interest),
                    Value::Money(i.paid_principal),
                    Value::Money(i.paid_interest),
                    Value::Money(i.penalty_billed()),
                    Value::Money(i.paid_penalty),
                    Value::Money(i.penalty_today.rounded()),
                    Value::Int((day.business_date - i.due_date).num_days().max(0)),
                    Value::Text(status.to_string()),
                ]);
            }
        }
    }

    fn queue_loan_day(&mut self, key: &OutputKey<'_>, output: &LoanOutput<'_>) {
        let day = output.day;
        let sum = |f: fn(&super::allocation::InstallmentState) -> Decimal| -> Decimal {
            day.overdue().map(f).fold(ZERO_CENTS, |total, x| total + x)
        };
        let new_schedule = output.loan.terms.disbursed_on == key.business_date
            || day
                .regenerations
                .iter()
                .any(|r| r.generated_on == key.business_date);
        self.loan_days.push(vec![
            Value::Text(key.job.to_string()),
            Value::Date(key.business_date),
            Value::Int(i64::from(key.item)),
            Value::Text(output.loan.loan_id.clone()),
            Value::Text(day.status.as_str().to_string()),
            Value::Int(i64::from(new_schedule)),
            Value::Money(day.outstanding_principal()),
            Value::Money(sum(|i| i.owed_principal())),
            Value::Money(sum(|i| i.owed_interest())),
            Value::Money(sum(|i| i.owed_penalty())),
            Value::Int(day.days_overdue()),
            Value::Int(i64::from(day.receipts_count)),
            Value::Money(day.received),
            Value::Money(day.applied(Component::Penalty)),
            Value::Money(day.applied(Component::Interest)),
            Value::Money(day.applied(Component::Principal)),
            Value::Money(day.applied(Component::Prepayment)),
            Value::Money(day.applied(Component::Unapplied)),
            Value::Money(day.accrued_interest),
            Value::Money(day.penalty_today()),
            Value::Money(day.applied(Component::PrepaymentInterest)),
            Value::Money(day.applied_from(Component::Advance, false)),
            Value::Money(day.advance_applied()),
            Value::Money(day.advance_balance),
        ]);
    }

    fn queue_allocations(&mut self, key: &OutputKey<'_>, output: &LoanOutput<'_>) {
        for (seq, a) in output.day.allocations.iter().enumerate() {
            self.allocations.push(vec![
                Value::Text(key.job.to_string()),
                Value::Date(key.business_date),
                Value::Int(i64::from(key.item)),
                Value::Text(output.loan.loan_id.clone()),
                Value::Int(seq as i64),
                Value::Text(a.repayment_id.clone()),
                Value::Int(i64::from(a.allocation.period)),
                Value::Text(if a.from_advance {
                    format!("{}_from_advance", a.allocation.component.as_str())
                } else {
                    a.allocation.component.as_str().to_string()
                }),
                Value::Money(a.allocation.amount),
            ]);
        }
    }
}
