//! `reckon bench repayment`: a data generator plus timings of schedule
//! computation alone (one thread) and of computation + storage on SQLite
//! (500-row INSERTs, 100,000 rows a transaction) and PostgreSQL (streamed
//! `COPY … FROM STDIN`), each beside a baseline in the same run: storing
//! rows computed beforehand / a bare `COPY` of pre-rendered identical rows,
//! and single-row INSERTs on a sample (extrapolated, and said so).
//!
//! Rows go to a scratch table `repayment_bench_schedules` shaped like
//! `repayment_schedules` (same columns, same primary key), dropped afterwards.

use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use sqlx::Connection;

use super::interest::DayCountBasis;
use super::schedule::{FirstPeriod, Installment, Method, Terms, generate_into};

/// The convention of the benchmark's schedules (every loan's first period is a whole month).
const CONVENTION: &str = "cny-v2";
use crate::batch::{push_date, push_decimal as push_amount, push_digits};
use crate::money::Money;

/// Loans per multi-row INSERT statement on SQLite (11 parameters a row).
const SQLITE_ROWS_PER_STATEMENT: usize = 500;
/// Multi-row INSERT statements per SQLite transaction (100,000 rows), so one
/// transaction's WAL stays bounded.
const SQLITE_STATEMENTS_PER_TRANSACTION: usize = 200;
/// SQLite page cache for the storage runs, in KiB (`PRAGMA cache_size = -N`).
const SQLITE_CACHE_KIB: u32 = 262_144;
/// Bytes of COPY text sent per message to PostgreSQL.
const COPY_CHUNK_BYTES: usize = 1 << 20;
/// Chunks queued between the computing thread and the COPY sender.
const COPY_QUEUE_CHUNKS: usize = 8;

const TABLE_SQLITE: &str = "CREATE TABLE repayment_bench_schedules (loan_id TEXT NOT NULL, version INTEGER NOT NULL, \
    period INTEGER NOT NULL, generated_on TEXT NOT NULL, reason TEXT NOT NULL, convention TEXT NOT NULL, \
    due_date TEXT NOT NULL, installment TEXT NOT NULL, principal TEXT NOT NULL, interest TEXT NOT NULL, \
    remaining_balance TEXT NOT NULL, PRIMARY KEY (loan_id, version, period))";
const TABLE_POSTGRES: &str = "CREATE TABLE repayment_bench_schedules (loan_id TEXT NOT NULL, version BIGINT NOT NULL, \
    period BIGINT NOT NULL, generated_on DATE NOT NULL, reason TEXT NOT NULL, convention TEXT NOT NULL, \
    due_date DATE NOT NULL, installment NUMERIC NOT NULL, principal NUMERIC NOT NULL, interest NUMERIC NOT NULL, \
    remaining_balance NUMERIC NOT NULL, PRIMARY KEY (loan_id, version, period))";
const COPY_STATEMENT: &str = "COPY repayment_bench_schedules (loan_id, version, period, generated_on, reason, \
    convention, due_date, installment, principal, interest, remaining_balance) FROM STDIN";
const INSERT_COLUMNS: &str = "INSERT INTO repayment_bench_schedules (loan_id, version, period, generated_on, reason, \
    convention, due_date, installment, principal, interest, remaining_balance) VALUES ";

/// Why the benchmark stopped.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("schedule error: {0}")]
    Schedule(#[from] super::schedule::ScheduleError),
    #[error("the computing thread stopped")]
    Producer,
    #[error("the baseline did not write the job's rows: {0}")]
    Baseline(String),
}

/// A loan of the generated book.
#[derive(Debug, Clone)]
pub struct BenchLoan {
    pub loan_id: String,
    pub terms: Terms,
}

/// SplitMix64: a small deterministic generator, so every run builds the same book.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `count` loans of `months` months: principals 1,000.00–200,000.00, eight
/// market rates, half equal installment, 30 % equal principal, 20 % interest-only
/// (each gives `months` installments), disbursed over 2026.
pub fn generate_loans(count: usize, months: u32, seed: u64) -> Vec<BenchLoan> {
    const RATES: [Decimal; 8] = [
        Decimal::from_parts(435, 0, 0, false, 4),
        Decimal::from_parts(6, 0, 0, false, 2),
        Decimal::from_parts(72, 0, 0, false, 3),
        Decimal::from_parts(96, 0, 0, false, 3),
        Decimal::from_parts(12, 0, 0, false, 2),
        Decimal::from_parts(15, 0, 0, false, 2),
        Decimal::from_parts(18, 0, 0, false, 2),
        Decimal::from_parts(24, 0, 0, false, 2),
    ];
    let mut random = SplitMix(seed);
    let first_day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    (0..count)
        .map(|index| {
            let r = random.next();
            let cents = 100_000 + (r % 19_900_001) as i64;
            let method = match (r >> 32) % 10 {
                0..=4 => Method::EqualInstallment,
                5..=7 => Method::EqualPrincipal,
                _ => Method::InterestOnly,
            };
            let disbursed_on = first_day + chrono::Days::new((r >> 40) % 365);
            BenchLoan {
                loan_id: format!("BL{index:08}"),
                terms: Terms {
                    principal: Decimal::new(cents, 2),
                    annual_rate: RATES[((r >> 48) % 8) as usize],
                    months,
                    method,
                    disbursed_on,
                    repayment_day: disbursed_on.day(),
                    first_period: FirstPeriod::ActualDays,
                    basis: DayCountBasis::Days360,
                },
            }
        })
        .collect()
}

/// One measured step.
#[derive(Debug, Clone)]
pub struct Timing {
    pub label: String,
    pub installments: u64,
    pub elapsed: Duration,
    /// Measured on a sample and scaled to the full count.
    pub extrapolated_from: Option<u64>,
}

impl Timing {
    /// Installments per second.
    pub fn rate(&self) -> f64 {
        self.installments as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Computes every schedule on this thread, reusing one buffer; returns the
/// installment count and a checksum (so the work cannot be optimized away).
pub fn compute_all(
    loans: &[BenchLoan],
) -> Result<(u64, Decimal, Duration, Option<Duration>), BenchError> {
    let cpu_started = thread_cpu_time();
    let started = Instant::now();
    let mut buffer = Vec::with_capacity(64);
    let mut count = 0u64;
    let mut checksum = Decimal::ZERO;
    for loan in loans {
        generate_into(&loan.terms, &mut buffer)?;
        count += buffer.len() as u64;
        checksum += buffer[buffer.len() - 1].interest;
    }
    let elapsed = started.elapsed();
    let cpu = thread_cpu_time()
        .zip(cpu_started)
        .map(|(end, start)| end.saturating_sub(start));
    Ok((count, checksum, elapsed, cpu))
}

/// CPU time of the calling thread (Linux `/proc/thread-self/schedstat`), so
/// the single-core figure holds on a busy machine.
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// Appends one loan's schedule as COPY text rows (tab-separated).
fn render_copy(out: &mut Vec<u8>, loan: &BenchLoan, schedule: &[Installment]) {
    for row in schedule {
        out.extend_from_slice(loan.loan_id.as_bytes());
        out.extend_from_slice(b"\t0\t");
        push_digits(out, u128::from(row.period));
        out.push(b'\t');
        push_date(out, loan.terms.disbursed_on);
        out.extend_from_slice(b"\tdisbursement\t");
        out.extend_from_slice(CONVENTION.as_bytes());
        out.push(b'\t');
        push_date(out, row.due_date);
        for amount in [row.installment, row.principal, row.interest, row.remaining] {
            out.push(b'\t');
            push_amount(out, amount);
        }
        out.push(b'\n');
    }
}

/// Renders every schedule as COPY text in chunks (the bare-COPY baseline's input).
pub fn render_all(loans: &[BenchLoan]) -> Result<Vec<Vec<u8>>, BenchError> {
    let mut chunks = Vec::new();
    let mut chunk = Vec::with_capacity(COPY_CHUNK_BYTES + 4096);
    let mut buffer = Vec::with_capacity(64);
    for loan in loans {
        generate_into(&loan.terms, &mut buffer)?;
        render_copy(&mut chunk, loan, &buffer);
        if chunk.len() >= COPY_CHUNK_BYTES {
            chunks.push(std::mem::replace(
                &mut chunk,
                Vec::with_capacity(COPY_CHUNK_BYTES + 4096),
            ));
        }
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    Ok(chunks)
}

/// PostgreSQL: fresh scratch table on one connection.
async fn pg_reset(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("DROP TABLE IF EXISTS repayment_bench_schedules")
        .execute(&mut *conn)
        .await?;
    sqlx::query(TABLE_POSTGRES).execute(&mut *conn).await?;
    sqlx::query("CHECKPOINT").execute(&mut *conn).await.ok();
    Ok(())
}

/// PostgreSQL timings: bare COPY of pre-rendered rows, computation streamed
/// into COPY, and single-row INSERTs of `sample` loans.
pub async fn postgres(
    url: &str,
    loans: &[BenchLoan],
    sample: usize,
) -> Result<Vec<Timing>, BenchError> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let mut timings = Vec::new();

    let chunks = render_all(loans)?;
    pg_reset(&mut conn).await?;
    let started = Instant::now();
    let mut copy = conn.copy_in_raw(COPY_STATEMENT).await?;
    for chunk in &chunks {
        copy.send(chunk.as_slice()).await?;
    }
    let rows = copy.finish().await?;
    timings.push(Timing {
        label: "postgres  baseline: bare COPY of pre-rendered rows".into(),
        installments: rows,
        elapsed: started.elapsed(),
        extrapolated_from: None,
    });
    drop(chunks);

    pg_reset(&mut conn).await?;
    let started = Instant::now();
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(COPY_QUEUE_CHUNKS);
    let owned: Vec<BenchLoan> = loans.to_vec();
    let producer = std::thread::spawn(move || -> Result<(), BenchError> {
        let mut chunk = Vec::with_capacity(COPY_CHUNK_BYTES + 4096);
        let mut buffer = Vec::with_capacity(64);
        for loan in &owned {
            generate_into(&loan.terms, &mut buffer)?;
            render_copy(&mut chunk, loan, &buffer);
            if chunk.len() >= COPY_CHUNK_BYTES {
                let full =
                    std::mem::replace(&mut chunk, Vec::with_capacity(COPY_CHUNK_BYTES + 4096));
                sender
                    .blocking_send(full)
                    .map_err(|_| BenchError::Producer)?;
            }
        }
        if !chunk.is_empty() {
            sender
                .blocking_send(chunk)
                .map_err(|_| BenchError::Producer)?;
        }
        Ok(())
    });
    let mut copy = conn.copy_in_raw(COPY_STATEMENT).await?;
    while let Some(chunk) = receiver.recv().await {
        copy.send(chunk).await?;
    }
    let rows = copy.finish().await?;
    producer.join().map_err(|_| BenchError::Producer)??;
    timings.push(Timing {
        label: "postgres  compute + COPY (streamed)".into(),
        installments: rows,
        elapsed: started.elapsed(),
        extrapolated_from: None,
    });

    pg_reset(&mut conn).await?;
    timings.push(single_row_postgres(&mut conn, loans, sample).await?);
    sqlx::query("DROP TABLE IF EXISTS repayment_bench_schedules")
        .execute(&mut conn)
        .await?;
    Ok(timings)
}

async fn single_row_postgres(
    conn: &mut sqlx::PgConnection,
    loans: &[BenchLoan],
    sample: usize,
) -> Result<Timing, BenchError> {
    let total: u64 = loans.iter().map(|l| installments_of(&l.terms)).sum();
    let sql = format!("{INSERT_COLUMNS}($1, 0, $2, $3, 'disbursement', $4, $5, $6, $7, $8, $9)");
    let mut buffer = Vec::new();
    let mut rows = 0u64;
    let started = Instant::now();
    let mut tx = conn.begin().await?;
    for loan in loans.iter().take(sample) {
        generate_into(&loan.terms, &mut buffer)?;
        for row in &buffer {
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&loan.loan_id)
                .bind(i64::from(row.period))
                .bind(loan.terms.disbursed_on)
                .bind(CONVENTION)
                .bind(row.due_date)
                .bind(Money(row.installment))
                .bind(Money(row.principal))
                .bind(Money(row.interest))
                .bind(Money(row.remaining))
                .execute(&mut *tx)
                .await?;
            rows += 1;
        }
    }
    tx.commit().await?;
    Ok(extrapolate(
        "postgres  baseline: single-row INSERT",
        rows,
        total,
        started.elapsed(),
    ))
}

fn installments_of(terms: &Terms) -> u64 {
    if terms.method == Method::Bullet {
        1
    } else {
        u64::from(terms.months)
    }
}

fn extrapolate(label: &str, sampled: u64, total: u64, elapsed: Duration) -> Timing {
    let scale = total as f64 / sampled.max(1) as f64;
    Timing {
        label: label.into(),
        installments: total,
        elapsed: elapsed.mul_f64(scale),
        extrapolated_from: Some(sampled),
    }
}

/// SQLite timings: batched INSERTs of precomputed rows, computation +
/// batched INSERTs (100,000 rows a transaction), and single-row INSERTs of
/// `sample` loans in one transaction.
pub async fn sqlite(
    url: &str,
    loans: &[BenchLoan],
    sample: usize,
) -> Result<Vec<Timing>, BenchError> {
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    let pragma = format!("PRAGMA cache_size = -{SQLITE_CACHE_KIB}");
    sqlx::query(sqlx::AssertSqlSafe(pragma))
        .execute(&mut conn)
        .await?;
    let mut timings = Vec::new();

    let mut precomputed: Vec<(usize, Installment)> = Vec::new();
    let mut buffer = Vec::new();
    for (index, loan) in loans.iter().enumerate() {
        generate_into(&loan.terms, &mut buffer)?;
        precomputed.extend(buffer.drain(..).map(|row| (index, row)));
    }
    sqlite_reset(&mut conn).await?;
    let started = Instant::now();
    for group in precomputed.chunks(SQLITE_ROWS_PER_STATEMENT * SQLITE_STATEMENTS_PER_TRANSACTION) {
        let mut tx = conn.begin().await?;
        for batch in group.chunks(SQLITE_ROWS_PER_STATEMENT) {
            insert_batch(&mut tx, loans, batch).await?;
        }
        tx.commit().await?;
    }
    timings.push(Timing {
        label: "sqlite    baseline: batched INSERT of precomputed rows".into(),
        installments: precomputed.len() as u64,
        elapsed: started.elapsed(),
        extrapolated_from: None,
    });
    drop(precomputed);

    sqlite_reset(&mut conn).await?;
    let started = Instant::now();
    let mut tx = conn.begin().await?;
    let mut batch: Vec<(usize, Installment)> = Vec::with_capacity(SQLITE_ROWS_PER_STATEMENT + 64);
    let mut rows = 0u64;
    let mut statements = 0usize;
    for (index, loan) in loans.iter().enumerate() {
        generate_into(&loan.terms, &mut buffer)?;
        batch.extend(buffer.drain(..).map(|row| (index, row)));
        if batch.len() >= SQLITE_ROWS_PER_STATEMENT {
            insert_batch(&mut tx, loans, &batch).await?;
            rows += batch.len() as u64;
            batch.clear();
            statements += 1;
            if statements.is_multiple_of(SQLITE_STATEMENTS_PER_TRANSACTION) {
                tx.commit().await?;
                tx = conn.begin().await?;
            }
        }
    }
    insert_batch(&mut tx, loans, &batch).await?;
    rows += batch.len() as u64;
    tx.commit().await?;
    timings.push(Timing {
        label: "sqlite    compute + batched INSERT".into(),
        installments: rows,
        elapsed: started.elapsed(),
        extrapolated_from: None,
    });

    sqlite_reset(&mut conn).await?;
    let total: u64 = loans.iter().map(|l| installments_of(&l.terms)).sum();
    let started = Instant::now();
    let mut tx = conn.begin().await?;
    let mut rows = 0u64;
    for (index, loan) in loans.iter().enumerate().take(sample) {
        generate_into(&loan.terms, &mut buffer)?;
        let single: Vec<(usize, Installment)> = buffer.drain(..).map(|row| (index, row)).collect();
        for row in single.chunks(1) {
            insert_batch(&mut tx, loans, row).await?;
            rows += 1;
        }
    }
    tx.commit().await?;
    timings.push(extrapolate(
        "sqlite    baseline: single-row INSERT",
        rows,
        total,
        started.elapsed(),
    ));
    sqlx::query("DROP TABLE IF EXISTS repayment_bench_schedules")
        .execute(&mut conn)
        .await?;
    Ok(timings)
}

async fn sqlite_reset(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    sqlx::query("DROP TABLE IF EXISTS repayment_bench_schedules")
        .execute(&mut *conn)
        .await?;
    sqlx::query(TABLE_SQLITE).execute(&mut *conn).await?;
    Ok(())
}

/// One multi-row INSERT of `rows` (a prepared statement per batch size).
async fn insert_batch(
    conn: &mut sqlx::SqliteConnection,
    loans: &[BenchLoan],
    rows: &[(usize, Installment)],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut sql = String::with_capacity(INSERT_COLUMNS.len() + rows.len() * 64);
    sql.push_str(INSERT_COLUMNS);
    // Anonymous `?` parameters: sqlx resolves `$N` names one by one, which
    // made 4,500-parameter statements slower than single-row INSERTs.
    for i in 0..rows.len() {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?, 0, ?, ?, 'disbursement', ?, ?, ?, ?, ?, ?)");
    }
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (index, row) in rows {
        let loan = &loans[*index];
        query = query
            .bind(loan.loan_id.as_str())
            .bind(i64::from(row.period))
            .bind(loan.terms.disbursed_on)
            .bind(CONVENTION)
            .bind(row.due_date)
            .bind(Money(row.installment))
            .bind(Money(row.principal))
            .bind(Money(row.interest))
            .bind(Money(row.remaining));
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_rows_render_amounts_and_dates_exactly() {
        let loan = BenchLoan {
            loan_id: "BL1".into(),
            terms: Terms {
                principal: Decimal::new(1_000_000, 2),
                annual_rate: Decimal::new(12, 2),
                months: 12,
                method: Method::Bullet,
                disbursed_on: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
                repayment_day: 5,
                first_period: FirstPeriod::ActualDays,
                basis: DayCountBasis::Days360,
            },
        };
        let schedule = crate::jobs::repayment::schedule::generate(&loan.terms).unwrap();
        let mut out = Vec::new();
        render_copy(&mut out, &loan, &schedule);
        // 10000.00 × 0.12 / 12 × 12 = 1200.00 (schedule tests).
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "BL1\t0\t1\t2026-01-05\tdisbursement\tcny-v2\t2027-01-05\t11200.00\t10000.00\t1200.00\t0.00\n"
        );
        let mut out = Vec::new();
        push_amount(&mut out, Decimal::new(-5, 2));
        push_amount(&mut out, Decimal::new(7, 0));
        assert_eq!(out, b"-0.057");
    }

    #[test]
    fn generator_is_deterministic_and_every_loan_is_valid() {
        let a = generate_loans(200, 12, 7);
        let b = generate_loans(200, 12, 7);
        assert_eq!(a.len(), 200);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.terms, y.terms);
        }
        let (count, _, _, _) = compute_all(&a).unwrap();
        assert_eq!(count, 200 * 12);
    }
}

/// The business date of the end-to-end job benchmark: every generated loan
/// (disbursed over 2026, 12 months) is active on it.
pub fn job_business_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 31).unwrap_or_default()
}

/// Rows of the generated book written before the job runs (not timed).
#[derive(Debug, Clone, Copy, Default)]
pub struct JobBookRows {
    pub loans: u64,
    pub receipts: u64,
    pub schedules: u64,
}

/// Writes a book for the end-to-end job benchmark into an empty, migrated
/// PostgreSQL database: the loans; their original schedules as earlier
/// nights stored them (every loan disbursed before `date`); a receipt paying
/// every installment due up to `date` on its due date; and on `date` one
/// loan in a hundred paying 1,000.00 more (held as an advance). All by `COPY`.
pub async fn write_job_book(
    url: &str,
    loans: &[BenchLoan],
    date: NaiveDate,
) -> Result<JobBookRows, BenchError> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let mut rows = JobBookRows::default();
    let (mut loan_text, mut receipt_text, mut schedule_text) = (Vec::new(), Vec::new(), Vec::new());
    let mut buffer = Vec::with_capacity(64);
    for (index, loan) in loans.iter().enumerate() {
        let terms = &loan.terms;
        loan_text.extend_from_slice(loan.loan_id.as_bytes());
        loan_text.push(b'\t');
        push_amount(&mut loan_text, terms.principal);
        loan_text.push(b'\t');
        loan_text.extend_from_slice(terms.annual_rate.to_string().as_bytes());
        loan_text.push(b'\t');
        push_digits(&mut loan_text, u128::from(terms.months));
        loan_text.push(b'\t');
        loan_text.extend_from_slice(terms.method.as_str().as_bytes());
        loan_text.push(b'\t');
        push_date(&mut loan_text, terms.disbursed_on);
        loan_text.push(b'\t');
        push_digits(&mut loan_text, u128::from(terms.repayment_day));
        loan_text.extend_from_slice(b"\t360\t\\N\n");
        rows.loans += 1;
        generate_into(terms, &mut buffer)?;
        if terms.disbursed_on < date {
            render_copy(&mut schedule_text, loan, &buffer);
            rows.schedules += buffer.len() as u64;
        }
        for row in buffer.iter().filter(|row| row.due_date <= date) {
            push_receipt(
                &mut receipt_text,
                loan,
                row.period,
                row.due_date,
                row.installment,
            );
            rows.receipts += 1;
        }
        if index % 100 == 7 && terms.disbursed_on <= date {
            push_receipt(&mut receipt_text, loan, 0, date, Decimal::new(100_000, 2));
            rows.receipts += 1;
        }
    }
    let statements: [(&str, &Vec<u8>); 3] = [
        (
            "COPY repayment_loans (loan_id, principal, annual_rate, months, method, disbursed_on, \
             repayment_day, day_count_basis, penalty_rate) FROM STDIN",
            &loan_text,
        ),
        (
            "COPY repayment_receipts (repayment_id, loan_id, received_on, amount) FROM STDIN",
            &receipt_text,
        ),
        (
            "COPY repayment_schedules (loan_id, version, period, generated_on, reason, convention, \
             due_date, installment, principal, interest, remaining_balance) FROM STDIN",
            &schedule_text,
        ),
    ];
    for (statement, text) in statements {
        let mut copy = conn.copy_in_raw(statement).await?;
        for chunk in text.chunks(COPY_CHUNK_BYTES) {
            copy.send(chunk).await?;
        }
        copy.finish().await?;
    }
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    Ok(rows)
}

fn push_receipt(out: &mut Vec<u8>, loan: &BenchLoan, period: u32, on: NaiveDate, amount: Decimal) {
    out.extend_from_slice(b"R");
    out.extend_from_slice(loan.loan_id.as_bytes());
    out.push(b'-');
    push_digits(out, u128::from(period));
    out.push(b'\t');
    out.extend_from_slice(loan.loan_id.as_bytes());
    out.push(b'\t');
    push_date(out, on);
    out.push(b'\t');
    push_amount(out, amount);
    out.push(b'\n');
}

/// The tables (and row filters) the repayment job writes for `date`.
fn job_output_tables(job: &str, date: NaiveDate) -> Vec<(&'static str, String)> {
    let day = format!("job = '{job}' AND business_date = '{date}'");
    vec![
        ("repayment_schedules", format!("generated_on = '{date}'")),
        ("repayment_installments", format!("as_of = '{date}'")),
        ("repayment_loan_days", day.clone()),
        ("repayment_installment_days", day.clone()),
        ("repayment_allocations", day.clone()),
        ("repayment_rejects", day.clone()),
        ("repayment_checkpoints", day),
    ]
}

/// The bare-`COPY` baseline of the job: the rows the job wrote for `date`
/// are copied out (not timed), then `COPY`ed into empty tables of the same
/// shape, indexes included, in one transaction (timed). Then checked (not
/// timed): each scratch table holds the job's rows — the same count and the
/// same multiset fingerprint (sum of the first 64 bits of each row's MD5),
/// one scan a side. Returns the rows and the time.
pub async fn copy_job_outputs(
    url: &str,
    job: &str,
    date: NaiveDate,
) -> Result<(u64, Duration), BenchError> {
    use futures::TryStreamExt;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let mut exported = Vec::new();
    for (table, filter) in job_output_tables(job, date) {
        let sql = format!("COPY (SELECT * FROM {table} WHERE {filter}) TO STDOUT");
        let mut stream = conn.copy_out_raw(&sql).await?;
        let mut text = Vec::new();
        while let Some(bytes) = stream.try_next().await? {
            text.extend_from_slice(&bytes);
        }
        drop(stream);
        let scratch = format!("bench_{table}");
        for sql in [
            format!("DROP TABLE IF EXISTS {scratch}"),
            format!("CREATE TABLE {scratch} (LIKE {table} INCLUDING ALL)"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await?;
        }
        exported.push((scratch, text));
    }
    sqlx::query("CHECKPOINT").execute(&mut conn).await.ok();
    let started = Instant::now();
    let mut rows = 0;
    let mut tx = conn.begin().await?;
    for (scratch, text) in &exported {
        let mut copy = tx
            .copy_in_raw(&format!("COPY {scratch} FROM STDIN"))
            .await?;
        for chunk in text.chunks(COPY_CHUNK_BYTES) {
            copy.send(chunk).await?;
        }
        rows += copy.finish().await?;
    }
    tx.commit().await?;
    let elapsed = started.elapsed();
    for (table, filter) in job_output_tables(job, date) {
        let scratch = format!("bench_{table}");
        let fingerprint = |from: String| {
            format!(
                "SELECT COUNT(*), COALESCE(SUM(('x' || SUBSTR(MD5(t::text), 1, 16))::bit(64)::bigint::numeric), 0)::text \
                 FROM {from} t"
            )
        };
        let ours: (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(fingerprint(format!(
            "(SELECT * FROM {table} WHERE {filter})"
        ))))
        .fetch_one(&mut conn)
        .await?;
        let theirs: (i64, String) =
            sqlx::query_as(sqlx::AssertSqlSafe(fingerprint(scratch.clone())))
                .fetch_one(&mut conn)
                .await?;
        if ours != theirs {
            return Err(BenchError::Baseline(format!(
                "{scratch} ({} rows) differs from the job's {table} rows ({})",
                theirs.0, ours.0
            )));
        }
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {scratch}")))
            .execute(&mut conn)
            .await?;
    }
    Ok((rows, elapsed))
}
