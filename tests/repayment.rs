//! The repayment end of day on SQLite and PostgreSQL, over the demo fixtures
//! (fixtures/repayment): reports of 2026-11-21, penalty over several days,
//! reruns that never apply a repayment twice, receipts validated one by one,
//! the servicing rules of docs/repayment.md (payoff interest, advances held,
//! a penalty rate of its own, accrual tie-out, broken first period, loans.csv).
//!
//! Every expected row comes from `python3 scripts/repayment_reference.py demo
//! [DATE]` (exact fractions, simulated day by day from the documented
//! rules), not from the Rust code. Stories of the book:
//! LN-1004 two months behind with partial repayments (exact penalty: 19.97 +
//! 12.41 paid, not 19.98 + 12.40 as per-day rounding gave); LN-1005 pays
//! 20,000.00 before anything is due — held as an advance, not a prepayment;
//! LN-1009, a 10,000.00 bullet at 12 % paid off on 11-21 after 304 days,
//! collects 1,013.33 of accrued interest (today: 0.00); LN-1010, a 0 % loan
//! with its own penalty rate of 18 %, is 10 days late: 500 × 0.18 × 10 / 360
//! = 2.50 (today: no penalty at all); LN-1011 (repayment day 1, disbursed
//! 01-15: a 17-day first period billed 56.67) pays every installment one day
//! early and is never overdue.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{TestDb, date, manual};
use reckon::catalog::Catalog;
use reckon::coord::Embedded;
use reckon::ledger::{Ledger, RunStatus};
use reckon::on_db;
use reckon::runtime::{Paths, Progress, Runner, RunnerConfig};
use reckon::schedule::SystemClock;

const JOB: &str = "repayment-eod";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A runner with the built-in kinds over `jobs/repayment-eod.toml`.
async fn runner(db: &TestDb) -> Runner {
    runner_with(db, "").await
}

/// A runner over `jobs/repayment-eod.toml` with `params` added to its `[params]`.
async fn runner_with(db: &TestDb, params: &str) -> Runner {
    let kinds = reckon::jobs::builtin();
    let mut text =
        std::fs::read_to_string(repo().join("jobs").join(format!("{JOB}.toml"))).unwrap();
    assert!(text.trim_end().ends_with(']') || text.contains("[params]"));
    text.push_str(params);
    let catalog =
        Catalog::from_sources(&[(PathBuf::from(format!("jobs/{JOB}.toml")), text)], &kinds)
            .expect("valid job file");
    let paths = Paths {
        reports_dir: db.reports_dir(),
        data_dir: db.dir.path().to_path_buf(),
        excel_bom: false,
        reports_xlsx: false,
    };
    let config = RunnerConfig {
        parallel_shards_max: 4,
        run_lease: Duration::from_secs(60),
        heartbeat_interval: Duration::from_millis(200),
        dependency_poll: Duration::from_millis(50),
    };
    reckon::jobs::repayment::fixtures::load(
        &db.db,
        &repo().join("fixtures").join("repayment"),
        date("2026-11-21"),
    )
    .await
    .expect("fixtures load");
    Runner::new(
        Ledger::new(db.db.clone(), Arc::new(SystemClock)),
        Arc::new(catalog),
        Arc::new(kinds),
        Arc::new(Embedded::new("test-node")),
        paths,
        config,
    )
}

/// Runs the job for `day` (a rerun when it already succeeded); returns the report directory.
async fn run(runner: &Runner, db: &TestDb, day: &str) -> PathBuf {
    let summary = match runner
        .run_now(manual(JOB, day), Arc::new(Progress::default()))
        .await
    {
        Ok(summary) => summary,
        Err(_) => {
            let last = runner
                .ledger()
                .runs(&reckon::ledger::RunFilter {
                    job: Some(JOB.into()),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_iter()
                .find(|r| r.business_date == date(day))
                .expect("an earlier run of the day");
            let rerun = runner
                .request_rerun(&last.run_id, false, "test rerun", "test")
                .await
                .unwrap();
            runner
                .execute(&rerun.run_id, Arc::new(Progress::default()))
                .await
                .unwrap()
        }
    };
    assert_eq!(
        summary.run.status,
        RunStatus::Succeeded,
        "{:?}",
        summary.run.error
    );
    db.reports_dir()
        .join(day)
        .join(JOB)
        .join(&summary.run.run_id)
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn rows_of<'a>(csv: &'a str, loan: &str) -> Vec<&'a str> {
    csv.lines().filter(|l| l.starts_with(loan)).collect()
}

on_both_backends! {
    demo_date_reports => demo_date_reports;
    penalty_over_several_days => penalty_over_several_days;
    reruns_never_apply_a_repayment_twice => reruns_never_apply_a_repayment_twice;
    bad_receipts_are_rejected_one_by_one => bad_receipts_are_rejected_one_by_one;
    stored_full_month_schedules_stay_valid => stored_full_month_schedules_stay_valid;
    prepay_mode_prepays_at_once => prepay_mode_prepays_at_once;
    checkpoints_give_the_outputs_of_a_full_replay => checkpoints_give_the_outputs_of_a_full_replay;
    a_shard_failing_before_commit_leaves_no_checkpoint => a_shard_failing_before_commit_leaves_no_checkpoint;
}

async fn demo_date_reports(db: &TestDb) {
    let runner = runner(db).await;
    let dir = run(&runner, db, "2026-11-21").await;
    let overdue = read(&dir, "overdue.csv");
    assert_eq!(
        overdue.lines().next(),
        Some(
            "loan_id,period,due_date,days_overdue,overdue_principal,overdue_interest,penalty_today,penalty_accrued,penalty_owed,total_owed"
        )
    );
    assert_eq!(
        rows_of(&overdue, "LN-"),
        [
            "LN-1003,3,2026-11-21,0,0.00,180.00,0.00,0.00,0.00,180.00",
            "LN-1004,6,2026-11-10,11,1881.94,0.00,1.18,13.59,1.18,1883.12",
            "LN-1007,9,2026-10-31,21,415.67,0.00,0.31,9.94,0.94,416.61",
            "LN-1010,3,2026-11-11,10,500.00,0.00,0.25,2.50,2.50,502.50",
        ]
    );
    let due = read(&dir, "due.csv");
    assert_eq!(
        rows_of(&due, "LN-"),
        [
            "LN-1002,5,2026-11-21,1064.00,1000.00,64.00,1000.00,64.00,0.00,paid",
            "LN-1003,3,2026-11-21,180.00,0.00,180.00,0.00,0.00,180.00,overdue",
            "LN-1005,11,2026-11-21,2790.90,2461.89,329.01,2461.89,329.01,0.00,paid",
            "LN-1008,3,2026-11-21,1700.11,1683.28,16.83,1683.28,16.83,0.00,paid",
        ]
    );
    let schedules = read(&dir, "schedules.csv");
    // From scripts/repayment_reference.py ("demo LN-1001").
    let ln1001 = rows_of(&schedules, "LN-1001");
    assert_eq!(ln1001.len(), 12);
    assert_eq!(
        ln1001[0],
        "LN-1001,disbursement,0,1,2026-12-21,4442.44,3942.44,500.00,46057.56"
    );
    assert_eq!(
        ln1001[11],
        "LN-1001,disbursement,0,12,2027-11-21,4442.43,4398.45,43.98,0.00"
    );
    // LN-1009's payoff regenerates nothing left (an empty version 1).
    assert_eq!(schedules.lines().count(), 1 + 12);
    let loans = read(&dir, "loans.csv");
    assert_eq!(
        loans.lines().next(),
        Some(
            "loan_id,method,status,principal_outstanding,overdue_principal,overdue_interest,penalty_owed,days_overdue,received,principal_paid,interest_paid,penalty_paid,advance_in,advance_applied,advance_held,unapplied,interest_accrued"
        )
    );
    assert_eq!(
        rows_of(&loans, "LN-"),
        [
            "LN-1001,equal-installment,active,50000.00,0.00,0.00,0.00,0,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,16.67",
            "LN-1002,equal-principal,active,7000.00,0.00,0.00,0.00,0,1064.00,1000.00,64.00,0.00,0.00,0.00,0.00,0.00,1.87",
            "LN-1003,interest-only,overdue,30000.00,0.00,180.00,0.00,0,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,6.00",
            "LN-1004,equal-installment,overdue,14328.94,1881.94,0.00,1.18,11,1500.00,1287.21,180.41,32.38,0.00,0.00,0.00,0.00,5.19",
            "LN-1005,equal-installment,active,34095.27,0.00,0.00,0.00,0,22790.90,2461.89,329.01,0.00,20000.00,0.00,20000.00,0.00,10.23",
            "LN-1006,bullet,active,100000.00,0.00,0.00,0.00,0,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,16.44",
            "LN-1007,equal-principal,overdue,2415.64,415.67,0.00,0.94,21,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,1.00",
            "LN-1008,equal-installment,settled,0.00,0.00,0.00,0.00,0,1800.00,1683.28,16.83,0.00,99.89,99.89,0.00,99.89,0.00",
            "LN-1009,bullet,settled,0.00,0.00,0.00,0.00,0,11100.00,10000.00,1013.33,0.00,11100.00,11100.00,0.00,86.67,13.88",
            "LN-1010,equal-installment,overdue,2000.00,500.00,0.00,2.50,10,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00",
            "LN-1011,equal-installment,active,1703.26,0.00,0.00,0.00,0,888.49,0.00,0.00,0.00,888.49,0.00,888.49,0.00,0.57",
        ]
    );
    let summary = read(&dir, "summary.csv");
    // Received on 11-21: 1064.00 + 1500.00 + 22790.90 + 1800.00 + 11100.00
    // + 888.49 = 39143.39 (LN-9999's 500.00 is rejected). Penalty paid:
    // LN-1004's 19.97 + 12.41. Held: LN-1005's 20000.00 + LN-1011's 888.49.
    for line in [
        "loans_processed,11,",
        "new_schedules,1,0.00",
        "repayments_received,6,39143.39",
        "repayments_rejected,1,500.00",
        "applied_penalty,,32.38",
        "prepaid_principal,,10000.00",
        "prepayment_interest,,1013.33",
        "advance_in,,32088.38",
        "advance_applied,,11199.89",
        "advance_held,,20888.49",
        "unapplied,,186.56",
        "loans_settled,2,0.00",
        "rejects,1,0.00",
    ] {
        assert!(
            summary.lines().any(|l| l.starts_with(line)),
            "{line} in\n{summary}"
        );
    }
    // loans.csv adds up to the day's receipts.
    let received: rust_decimal::Decimal = rows_of(&loans, "LN-")
        .iter()
        .map(|l| {
            l.split(',')
                .nth(8)
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        })
        .sum();
    assert_eq!(received.to_string(), "39143.39");
    assert_eq!(
        read(&dir, "rejects.csv"),
        "source,record,loan_id,amount,reason\nrepayment,RP-0091,LN-9999,500.00,no loan LN-9999 disbursed on or before the business date\n"
    );
    // LN-1011's schedule is stored under cny-v2: a 17-day first period.
    assert_eq!(
        first_period(db, "LN-1011").await,
        ("cny-v2".to_string(), "56.67".to_string())
    );
    // Sharding: every loan's row sits in the item its id hashes to.
    let items: Vec<(String, i64)> = on_db!(&db.db, pool => {
        sqlx::query_as("SELECT loan_id, item FROM repayment_loan_days WHERE job = $1")
            .bind(JOB)
            .fetch_all(pool)
            .await
            .unwrap()
    });
    assert_eq!(items.len(), 11);
    for (loan, item) in items {
        assert_eq!(
            item,
            i64::from(reckon::sharding::partition_of(&loan, 4)),
            "{loan}"
        );
    }
}

async fn penalty_over_several_days(db: &TestDb) {
    let runner = runner(db).await;
    // LN-1007 period 9: 9.00 owed before the 11-19 repayment; the exact
    // penalty then grows by 415.67 × 0.27 / 360 = 0.3117525 a day.
    for (day, row) in [
        (
            "2026-11-18",
            "LN-1007,9,2026-10-31,18,666.67,40.00,0.50,9.00,9.00,715.67",
        ),
        (
            "2026-11-19",
            "LN-1007,9,2026-10-31,19,415.67,0.00,0.31,9.31,0.31,415.98",
        ),
        (
            "2026-11-20",
            "LN-1007,9,2026-10-31,20,415.67,0.00,0.31,9.62,0.62,416.29",
        ),
        (
            "2026-11-21",
            "LN-1007,9,2026-10-31,21,415.67,0.00,0.31,9.94,0.94,416.61",
        ),
        (
            "2026-11-22",
            "LN-1007,9,2026-10-31,22,415.67,0.00,0.31,10.25,1.25,416.92",
        ),
    ] {
        let dir = run(&runner, db, day).await;
        let overdue = read(&dir, "overdue.csv");
        assert_eq!(rows_of(&overdue, "LN-1007"), [row], "{day}");
    }
    // The partial repayment of 11-19: penalty, then interest, then principal.
    let allocations: Vec<(String, i64, String, String)> = on_db!(&db.db, pool => {
        sqlx::query_as(
            "SELECT repayment_id, period, component, CAST(amount AS TEXT) FROM repayment_allocations \
             WHERE job = $1 AND loan_id = 'LN-1007' ORDER BY business_date, seq",
        )
        .bind(JOB)
        .fetch_all(pool)
        .await
        .unwrap()
    });
    let allocations: Vec<(String, i64, String, String)> = allocations
        .into_iter()
        .map(|(id, period, component, amount)| (id, period, component, normalize(&amount)))
        .collect();
    let expected: Vec<(String, i64, String, String)> = [
        ("RP-0059", 9, "penalty", "9.00"),
        ("RP-0059", 9, "interest", "40.00"),
        ("RP-0059", 9, "principal", "251.00"),
    ]
    .iter()
    .map(|(id, period, component, amount)| {
        (
            id.to_string(),
            *period,
            component.to_string(),
            amount.to_string(),
        )
    })
    .collect();
    assert_eq!(allocations, expected);
}

/// Inserts a repayment straight into the input table (the fixture loader
/// refuses bad amounts; a bank file or an upstream system may not).
async fn insert_receipt(db: &TestDb, id: &str, loan: &str, on: &str, amount: &str) {
    let amount: rust_decimal::Decimal = amount.parse().unwrap();
    on_db!(&db.db, pool => {
        sqlx::query(
            "INSERT INTO repayment_receipts (repayment_id, loan_id, received_on, amount) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(loan)
        .bind(date(on))
        .bind(reckon::money::Money(amount))
        .execute(pool)
        .await
        .unwrap();
    });
}

async fn bad_receipts_are_rejected_one_by_one(db: &TestDb) {
    let runner = runner(db).await;
    // LN-1002 gets, besides its 1064.00 installment, an exact 1000.000 (read
    // as 1000.00 and held: nothing else is due) and three bad receipts.
    insert_receipt(db, "RP-X1", "LN-1002", "2026-11-21", "1000.000").await;
    insert_receipt(db, "RP-X2", "LN-1002", "2026-11-21", "5.001").await;
    insert_receipt(db, "RP-X3", "LN-1002", "2026-11-21", "0.00").await;
    insert_receipt(db, "RP-X4", "LN-1002", "2026-11-21", "-5.00").await;
    let dir = run(&runner, db, "2026-11-21").await;
    let loans = read(&dir, "loans.csv");
    assert_eq!(
        rows_of(&loans, "LN-1002"),
        [
            "LN-1002,equal-principal,active,7000.00,0.00,0.00,0.00,0,2064.00,1000.00,64.00,0.00,1000.00,0.00,1000.00,0.00,1.87"
        ]
    );
    let rejects = read(&dir, "rejects.csv");
    let rejected: Vec<&str> = rejects.lines().skip(1).collect();
    assert_eq!(rejected.len(), 4, "{rejects}");
    for (line, wanted) in rejected.iter().zip([
        "repayment,RP-0091,LN-9999,500.00,no loan LN-9999",
        "repayment,RP-X2,LN-1002,5.001,amount 5.001 has a fraction of a cent",
        "repayment,RP-X3,LN-1002,0.00,amount 0.00 is not positive",
        "repayment,RP-X4,LN-1002,-5.00,amount -5.00 is not positive",
    ]) {
        assert!(line.starts_with(wanted), "{line} / {wanted}");
    }
    let summary = read(&dir, "summary.csv");
    // 500.00 + 5.001 + 0.00 − 5.00 = 500.001, shown with 2 decimals.
    for line in [
        "repayments_received,7,40143.39",
        "repayments_rejected,4,500.00",
        "loans_processed,11,",
    ] {
        assert!(
            summary.lines().any(|l| l.starts_with(line)),
            "{line} in\n{summary}"
        );
    }
    let run = runner
        .ledger()
        .runs(&reckon::ledger::RunFilter {
            job: Some(JOB.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let attention = format!("{:?}", run[0].outcome);
    assert!(attention.contains("4 repayments rejected"), "{attention}");
}

async fn stored_full_month_schedules_stay_valid(db: &TestDb) {
    // LN-1011's schedule stored under full_month (cny-v1: period 1 bills
    // 100.00), then the job runs with the default actual_days: the stored
    // schedule is regenerated under its own convention and still matches.
    let full_month = runner_with(db, "first_period = \"full_month\"\n").await;
    run(&full_month, db, "2026-11-20").await;
    let default = runner(db).await;
    let dir = run(&default, db, "2026-11-21").await;
    assert!(!read(&dir, "rejects.csv").contains("LN-1011"));
    assert_eq!(
        first_period(db, "LN-1011").await,
        ("cny-v1".to_string(), "100.00".to_string())
    );
}

async fn prepay_mode_prepays_at_once(db: &TestDb) {
    // early_payment = "prepay": LN-1005's 20000.00 prepays principal on
    // 11-21 with 0 days of interest (a due date) and shortens the term.
    let runner = runner_with(db, "early_payment = \"prepay\"\n").await;
    let dir = run(&runner, db, "2026-11-21").await;
    let schedules = read(&dir, "schedules.csv");
    // From scripts/repayment_reference.py ("demo LN-1005").
    assert_eq!(
        rows_of(&schedules, "LN-1005"),
        [
            "LN-1005,prepayment,1,12,2026-12-21,2790.90,2664.04,126.86,11431.23",
            "LN-1005,prepayment,1,13,2027-01-21,2790.90,2688.02,102.88,8743.21",
            "LN-1005,prepayment,1,14,2027-02-21,2790.90,2712.21,78.69,6031.00",
            "LN-1005,prepayment,1,15,2027-03-21,2790.90,2736.62,54.28,3294.38",
            "LN-1005,prepayment,1,16,2027-04-21,2790.90,2761.25,29.65,533.13",
            "LN-1005,prepayment,1,17,2027-05-21,537.93,533.13,4.80,0.00",
        ]
    );
}

/// The stored original schedule's convention and period-1 interest of `loan`.
async fn first_period(db: &TestDb, loan: &str) -> (String, String) {
    let rows: Vec<(String, String)> = on_db!(&db.db, pool => {
        sqlx::query_as(
            "SELECT convention, CAST(interest AS TEXT) FROM repayment_schedules \
             WHERE loan_id = $1 AND version = 0 AND period = 1",
        )
        .bind(loan)
        .fetch_all(pool)
        .await
        .unwrap()
    });
    assert_eq!(rows.len(), 1, "{loan}");
    (rows[0].0.clone(), normalize(&rows[0].1))
}

fn normalize(amount: &str) -> String {
    reckon::money::format_scaled(amount.parse().expect("amount"), 2)
}

/// Per-day outputs and installment state, as text, for comparing runs.
async fn state(db: &TestDb) -> Vec<String> {
    let mut out: Vec<String> = on_db!(&db.db, pool => {
        let allocations: Vec<(String, String, i64, String, String)> = sqlx::query_as(
            "SELECT CAST(business_date AS TEXT), loan_id, seq, repayment_id, CAST(amount AS TEXT) FROM repayment_allocations",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let installments: Vec<(String, i64, String, String, String, String)> = sqlx::query_as(
            "SELECT loan_id, period, CAST(paid_principal AS TEXT), CAST(paid_interest AS TEXT), \
             CAST(paid_penalty AS TEXT), status FROM repayment_installments",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let schedules: Vec<(String, i64, i64)> =
            sqlx::query_as("SELECT loan_id, version, period FROM repayment_schedules")
                .fetch_all(pool)
                .await
                .unwrap();
        allocations
            .iter()
            .map(|r| format!("{r:?}"))
            .chain(installments.iter().map(|r| format!("{r:?}")))
            .chain(schedules.iter().map(|r| format!("{r:?}")))
            .collect()
    });
    out.sort();
    out
}

async fn reruns_never_apply_a_repayment_twice(db: &TestDb) {
    let runner = runner(db).await;
    let first = run(&runner, db, "2026-11-21").await;
    let state_first = state(db).await;
    let second = run(&runner, db, "2026-11-21").await;
    assert_ne!(first, second, "a new attempt");
    assert_eq!(state(db).await, state_first, "a rerun changes nothing");
    for file in [
        "schedules.csv",
        "due.csv",
        "overdue.csv",
        "loans.csv",
        "rejects.csv",
        "summary.csv",
    ] {
        assert_eq!(
            read(&first, file),
            read(&second, file),
            "{file} byte-identical"
        );
    }
    // LN-1004's 1500.00 of 11-21 is allocated once: 5 rows summing to 1500.00.
    let rows: Vec<(String,)> = on_db!(&db.db, pool => {
        sqlx::query_as("SELECT CAST(amount AS TEXT) FROM repayment_allocations WHERE repayment_id = 'RP-0026'")
            .fetch_all(pool)
            .await
            .unwrap()
    });
    let total: rust_decimal::Decimal = rows
        .iter()
        .map(|r| r.0.parse::<rust_decimal::Decimal>().unwrap())
        .sum();
    assert_eq!((rows.len(), total.to_string().as_str()), (5, "1500.00"));
    // A later day, then the earlier day again: same reports for the earlier day.
    run(&runner, db, "2026-11-22").await;
    let third = run(&runner, db, "2026-11-21").await;
    for file in [
        "schedules.csv",
        "due.csv",
        "overdue.csv",
        "loans.csv",
        "summary.csv",
    ] {
        assert_eq!(
            read(&first, file),
            read(&third, file),
            "{file} after a later day"
        );
    }
}

const REPORTS: [&str; 6] = [
    "schedules.csv",
    "due.csv",
    "overdue.csv",
    "loans.csv",
    "rejects.csv",
    "summary.csv",
];

fn assert_same_reports(a: &Path, b: &Path, why: &str) {
    for file in REPORTS {
        assert_eq!(read(a, file), read(b, file), "{file}: {why}");
    }
}

/// Checkpoints of the job stored for `day`.
async fn checkpoints_of(db: &TestDb, day: &str) -> i64 {
    on_db!(&db.db, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM repayment_checkpoints WHERE job = $1 AND business_date = $2")
            .bind(JOB)
            .bind(date(day))
            .fetch_one(pool)
            .await
            .unwrap()
    })
}

/// Deletes every checkpoint before `day`: its next run replays every loan
/// from the disbursement.
async fn delete_checkpoints_before(db: &TestDb, day: &str) {
    on_db!(&db.db, pool => {
        sqlx::query("DELETE FROM repayment_checkpoints WHERE business_date < $1")
            .bind(date(day))
            .execute(pool)
            .await
            .unwrap();
    });
}

/// Adds 1.00 held for `loan` to its checkpoint of `day`, leaving the
/// digest of its inputs as it was (what a run continuing from it must show).
async fn tamper_checkpoint(db: &TestDb, loan: &str, day: &str) {
    let text: String = on_db!(&db.db, pool => {
        sqlx::query_scalar("SELECT state FROM repayment_checkpoints WHERE loan_id = $1 AND business_date = $2")
            .bind(loan)
            .bind(date(day))
            .fetch_one(pool)
            .await
            .unwrap()
    });
    let mut state: serde_json::Value = serde_json::from_str(&text).unwrap();
    state["a"]
        .as_array_mut()
        .expect("the advance held")
        .push(serde_json::json!(["TAMPERED", "1.00"]));
    on_db!(&db.db, pool => {
        sqlx::query("UPDATE repayment_checkpoints SET state = $1 WHERE loan_id = $2 AND business_date = $3")
            .bind(state.to_string())
            .bind(loan)
            .bind(date(day))
            .execute(pool)
            .await
            .unwrap();
    });
}

async fn checkpoints_give_the_outputs_of_a_full_replay(db: &TestDb) {
    let runner = runner(db).await;
    for day in ["2026-11-19", "2026-11-20", "2026-11-21"] {
        run(&runner, db, day).await;
    }
    assert!(checkpoints_of(db, "2026-11-21").await >= 10);
    // 11-22 continues from the checkpoints of 11-21.
    let resumed = run(&runner, db, "2026-11-22").await;
    let resumed_state = state(db).await;

    // It does read them: a checkpoint changed under the same input digest
    // changes the loan's day (1.00 more held for LN-1002).
    tamper_checkpoint(db, "LN-1002", "2026-11-21").await;
    let tampered = run(&runner, db, "2026-11-22").await;
    let loans = read(&resumed, "loans.csv");
    let tampered_loans = read(&tampered, "loans.csv");
    assert_ne!(
        rows_of(&tampered_loans, "LN-1002"),
        rows_of(&loans, "LN-1002")
    );
    assert_eq!(
        rows_of(&tampered_loans, "LN-1003"),
        rows_of(&loans, "LN-1003")
    );

    // Without checkpoints every loan is replayed from its disbursement:
    // byte-identical reports, identical rows.
    delete_checkpoints_before(db, "2026-11-22").await;
    let full = run(&runner, db, "2026-11-22").await;
    assert_same_reports(&resumed, &full, "full replay vs from a checkpoint");
    assert_eq!(state(db).await, resumed_state);

    // A rerun of 11-21 writes its checkpoints again; 11-22 continues from them.
    run(&runner, db, "2026-11-21").await;
    let again = run(&runner, db, "2026-11-22").await;
    assert_same_reports(&resumed, &again, "rerun from rewritten checkpoints");
    assert_eq!(state(db).await, resumed_state);

    // A late receipt of 11-20 changes what the 11-21 checkpoint summarised:
    // rerunning 11-22 alone counts it (LN-1007 replayed from its
    // disbursement), exactly as a replay of the whole book does.
    insert_receipt(db, "RP-LATE", "LN-1007", "2026-11-20", "200.00").await;
    let late = run(&runner, db, "2026-11-22").await;
    assert_ne!(
        rows_of(&read(&late, "loans.csv"), "LN-1007"),
        rows_of(&loans, "LN-1007")
    );
    let late_state = state(db).await;
    delete_checkpoints_before(db, "2026-11-22").await;
    let late_full = run(&runner, db, "2026-11-22").await;
    assert_same_reports(&late, &late_full, "late receipt: checkpoint vs full replay");
    assert_eq!(state(db).await, late_state);
}

/// Rows of `table` for 11-21 written by shard `item`.
async fn rows_of_item(db: &TestDb, table: &str, item: u32) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE business_date = $1 AND item = $2");
    on_db!(&db.db, pool => {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(date("2026-11-21"))
            .bind(i64::from(item))
            .fetch_one(pool)
            .await
            .unwrap()
    })
}

async fn a_shard_failing_before_commit_leaves_no_checkpoint(db: &TestDb) {
    // The shard owning LN-9999's rejected receipt fails on its last write
    // (the rejects), after its loan rows and checkpoints went into its
    // transaction: none of them stays; the other shards' do.
    let runner = runner(db).await;
    let failing = reckon::sharding::partition_of("LN-9999", 4);
    let statements: &[&str] = match &db.db {
        reckon::db::Db::Sqlite(_) => &[
            "CREATE TRIGGER fail_rejects BEFORE INSERT ON repayment_rejects \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        ],
        reckon::db::Db::Postgres(_) => &[
            "CREATE FUNCTION fail_rejects() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER fail_rejects BEFORE INSERT ON repayment_rejects \
             FOR EACH ROW EXECUTE FUNCTION fail_rejects()",
        ],
    };
    for sql in statements {
        on_db!(&db.db, pool => {
            sqlx::query(sqlx::AssertSqlSafe(*sql)).execute(pool).await.unwrap();
        });
    }
    let summary = runner
        .run_now(manual(JOB, "2026-11-21"), Arc::new(Progress::default()))
        .await
        .unwrap();
    assert_eq!(summary.run.status, RunStatus::Failed);
    for table in ["repayment_checkpoints", "repayment_loan_days"] {
        assert_eq!(rows_of_item(db, table, failing).await, 0, "{table}");
        let other = (failing + 1) % 4;
        assert!(rows_of_item(db, table, other).await > 0, "{table}");
    }
    on_db!(&db.db, pool => {
        sqlx::query("DROP TRIGGER fail_rejects").execute(pool).await.ok();
        sqlx::query("DROP TRIGGER fail_rejects ON repayment_rejects").execute(pool).await.ok();
    });
    // The rerun writes them, and 11-22 continues from them as from a clean run.
    let rerun = run(&runner, db, "2026-11-21").await;
    assert!(rows_of_item(db, "repayment_checkpoints", failing).await > 0);
    assert!(read(&rerun, "rejects.csv").contains("LN-9999"));
    let resumed = run(&runner, db, "2026-11-22").await;
    delete_checkpoints_before(db, "2026-11-22").await;
    let full = run(&runner, db, "2026-11-22").await;
    assert_same_reports(&resumed, &full, "after a failed shard");
}
