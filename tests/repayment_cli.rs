//! `reckon schedule`: the calculator prints the same schedule as the job code,
//! checked against scripts/repayment_reference.py output; and
//! `reckon bench repayment --job` runs end to end on a small book.

use std::process::Command;

fn schedule(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_reckon"))
        .arg("schedule")
        .args(args)
        .env_remove("RECKON_DATABASE_URL")
        .output()
        .expect("reckon runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn prints_schedule_csv() {
    let (code, stdout, stderr) = schedule(&[
        "--principal",
        "50000.00",
        "--annual-rate",
        "0.0435",
        "--months",
        "6",
        "--method",
        "equal-installment",
        "--start",
        "2026-01-31",
    ]);
    assert_eq!(code, 0, "{stderr}");
    // From scripts/repayment_reference.py (month-end due dates: Feb 28, Mar 31…).
    assert_eq!(
        stdout,
        "period,due_date,installment,principal,interest,remaining_balance\n\
         1,2026-02-28,8439.38,8258.13,181.25,41741.87\n\
         2,2026-03-31,8439.38,8288.07,151.31,33453.80\n\
         3,2026-04-30,8439.38,8318.11,121.27,25135.69\n\
         4,2026-05-31,8439.38,8348.26,91.12,16787.43\n\
         5,2026-06-30,8439.38,8378.53,60.85,8408.90\n\
         6,2026-07-31,8439.38,8408.90,30.48,0.00\n"
    );
    let (code, stdout, _) = schedule(&[
        "--principal",
        "10000",
        "--annual-rate",
        "0.12",
        "--months",
        "12",
        "--method",
        "bullet",
        "--start",
        "2026-01-15",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout.lines().nth(1),
        Some("1,2027-01-15,11200.00,10000.00,1200.00,0.00")
    );
}

#[test]
fn first_period_flag_charges_the_broken_period() {
    // Disbursed 01-15, repayment day 1: a 17-day first period.
    // scripts/repayment_reference.py: 10000 × 0.12 × 17 / 360 = 56.67 (cny-v2);
    // a whole month, 100.00, under full_month (cny-v1).
    let base = [
        "--principal",
        "10000",
        "--annual-rate",
        "0.12",
        "--months",
        "12",
        "--method",
        "equal-installment",
        "--start",
        "2026-01-15",
        "--repayment-day",
        "1",
    ];
    let (code, stdout, stderr) = schedule(&base);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout.lines().nth(1),
        Some("1,2026-02-01,888.49,831.82,56.67,9168.18")
    );
    assert_eq!(
        stdout.lines().nth(12),
        Some("12,2027-01-01,840.12,831.80,8.32,0.00")
    );
    let mut full = base.to_vec();
    full.extend(["--first-period", "full_month"]);
    let (code, stdout, _) = schedule(&full);
    assert_eq!(code, 0);
    assert_eq!(
        stdout.lines().nth(1),
        Some("1,2026-02-01,888.49,788.49,100.00,9211.51")
    );
    let mut bad = base.to_vec();
    bad.extend(["--first-period", "half"]);
    assert_eq!(schedule(&bad).0, 2);
}

#[test]
fn bad_input_is_a_usage_error() {
    for args in [
        &[
            "--principal",
            "10,000",
            "--annual-rate",
            "0.12",
            "--months",
            "12",
            "--method",
            "bullet",
        ][..],
        &[
            "--principal",
            "100",
            "--annual-rate",
            "0.12",
            "--months",
            "0",
            "--method",
            "bullet",
        ][..],
        &[
            "--principal",
            "100",
            "--annual-rate",
            "12",
            "--months",
            "12",
            "--method",
            "bullet",
        ][..],
        &[
            "--principal",
            "100",
            "--annual-rate",
            "0.12",
            "--months",
            "12",
            "--method",
            "monthly",
        ][..],
    ] {
        let (code, stdout, stderr) = schedule(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stdout.is_empty());
        assert!(!stderr.is_empty());
    }
}

#[test]
fn bench_job_mode_runs_the_job_end_to_end_on_postgres() {
    // A small book: the job runs to success and its output rows are copied
    // back for the baseline (the figures themselves are in docs/repayment.md).
    let url = std::env::var("RECKON_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let output = Command::new(env!("CARGO_BIN_EXE_reckon"))
        .args(["bench", "repayment", "--job", "--loans", "300"])
        .args(["--postgres-url", &url])
        .env("RUST_LOG", "error")
        .env_remove("RECKON_DATABASE_URL")
        .output()
        .expect("reckon runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("300 loans"), "{stdout}");
    assert!(stdout.contains("repayment job end to end"), "{stdout}");
    assert!(stdout.contains("job / bare COPY ="), "{stdout}");
    // The night before leaves checkpoints; the baseline's rows are checked
    // to be the job's; the time is split into phases.
    assert!(stdout.contains("first night"), "{stdout}");
    assert!(
        stdout.contains("checked identical to the job's"),
        "{stdout}"
    );
    assert!(stdout.contains("read checkpoints"), "{stdout}");
}
