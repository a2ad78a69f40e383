//! The repayment end of day on SQLite and PostgreSQL, over the demo fixtures
//! (fixtures/repayment): reports of 2026-11-21 against hand-derived values,
//! penalty over several days, reruns that never apply a repayment twice.
//!
//! Hand derivations (rate × 1.5 / 360 a day, rounded half-up per day and per
//! installment; schedules from `reckon schedule` / scripts/repayment_reference.py):
//!
//! LN-1004, 24000.00 at 15 %, equal installment from 2026-05-10 (installment
//! 2166.20). Period 5 (due 10-10: 1961.27 + 204.93) unpaid: 14 days
//! (10-11..10-24) × round(1961.27 × 0.000625 = 1.2258) 1.23 = 17.22. On 10-25
//! 1000.00 pays 17.22 penalty, 204.93 interest, 777.85 principal, leaving
//! 1183.42, which accrues round(0.7396) = 0.74 a day for 10-25..11-20 (27 days)
//! = 19.98. Period 6 (due 11-10: 1985.79 + 180.41) accrues 10 days
//! (11-11..11-20) × round(1.2411) 1.24 = 12.40. On 11-21 1500.00 pays period 5
//! (19.98 + 1183.42 = 1203.40), then period 6's 12.40 penalty, 180.41 interest
//! and 103.79 principal; 1882.00 left accrues round(1.17625) = 1.18 on 11-21.
//!
//! LN-1007, 8000.00 at 18 %, equal principal from 2026-01-31. Period 9 (due
//! 10-31: 666.67 + 40.00) unpaid: 18 days (11-01..11-18) × round(0.5000) 0.50
//! = 9.00. On 11-19 300.00 pays 9.00 + 40.00 + 251.00, leaving 415.67, which
//! accrues round(0.3118) = 0.31 a day from 11-19 on.

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
    let kinds = reckon::jobs::builtin();
    let text = std::fs::read_to_string(repo().join("jobs").join(format!("{JOB}.toml"))).unwrap();
    let catalog =
        Catalog::from_sources(&[(PathBuf::from(format!("jobs/{JOB}.toml")), text)], &kinds)
            .expect("valid job file");
    let paths = Paths {
        reports_dir: db.reports_dir(),
        data_dir: db.dir.path().to_path_buf(),
        excel_bom: false,
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
    // Hand-derived above: LN-1004 period 6 (12.40 + 1.18 accrued, 1.18 owed),
    // LN-1007 period 9 (9.00 + 3 × 0.31), LN-1003's interest-only 180.00 unpaid today.
    assert_eq!(
        rows_of(&overdue, "LN-"),
        [
            "LN-1003,3,2026-11-21,0,0.00,180.00,0.00,0.00,0.00,180.00",
            "LN-1004,6,2026-11-10,11,1882.00,0.00,1.18,13.58,1.18,1883.18",
            "LN-1007,9,2026-10-31,21,415.67,0.00,0.31,9.93,0.93,416.60",
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
    // From scripts/repayment_reference.py ("demo LN-1001" and "demo LN-1005").
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
    assert_eq!(schedules.lines().count(), 1 + 12 + 6);
    let summary = read(&dir, "summary.csv");
    // Received on 11-21: 1064.00 + 1500.00 + 22790.90 + 1800.00 = 27154.90
    // (LN-9999's 500.00 is rejected). Prepaid 20000.00; LN-1008 overpaid
    // 1800.00 − 1700.11 = 99.89. Penalty paid: LN-1004's 19.98 + 12.40.
    for line in [
        "loans_processed,8,",
        "new_schedules,2,0.00",
        "repayments_received,4,27154.90",
        "applied_penalty,,32.38",
        "prepaid_principal,,20000.00",
        "unapplied,,99.89",
        "loans_settled,1,0.00",
        "rejects,1,0.00",
    ] {
        assert!(
            summary.lines().any(|l| l.starts_with(line)),
            "{line} in\n{summary}"
        );
    }
    assert_eq!(
        read(&dir, "rejects.csv"),
        "source,record,reason\nrepayment,RP-0091,no loan LN-9999 disbursed on or before 2026-11-21\n"
    );
    // Sharding: every loan's row sits in the item its id hashes to.
    let items: Vec<(String, i64)> = on_db!(&db.db, pool => {
        sqlx::query_as("SELECT loan_id, item FROM repayment_loan_days WHERE job = $1")
            .bind(JOB)
            .fetch_all(pool)
            .await
            .unwrap()
    });
    assert_eq!(items.len(), 8);
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
    // LN-1007 period 9: 9.00 owed before the 11-19 repayment, 0.31 a day after.
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
            "LN-1007,9,2026-10-31,21,415.67,0.00,0.31,9.93,0.93,416.60",
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
    for file in ["schedules.csv", "due.csv", "overdue.csv", "summary.csv"] {
        assert_eq!(
            read(&first, file),
            read(&third, file),
            "{file} after a later day"
        );
    }
}
