//! `kind = "recon-funds"` and the break register on SQLite and PostgreSQL:
//! every category from data built for it, conservation on every run, reruns
//! that replace a date's breaks and reports byte for byte, cross-day pending
//! records resolved (or turned into breaks) by the next day's run, shard
//! counts that do not change the result, a statement that never arrives,
//! and `reckon breaks` from the command line.
//!
//! Expected figures are worked out by hand from the rows inserted below.

mod common;

use std::path::PathBuf;
use std::process::Command;

use chrono::{DateTime, Utc};
use common::TestDb;
use common::recon::{assert_conserved, funds_job as job_text};
use reckon::db::Db;
use reckon::jobs::recon::breaks::{self, BreakFilter, BreakState};
use reckon::ledger::RunStatus;
use reckon::money::Money;
use reckon::on_db;
use reckon::runtime::{RunSummary, Runner};
use rust_decimal::Decimal;

on_both_backends! {
    every_category_and_the_register => every_category_and_the_register;
    rerun_replaces_breaks_and_reports => rerun_replaces_breaks_and_reports;
    cross_day_pending_is_resolved_or_becomes_a_break => cross_day_pending_is_resolved_or_becomes_a_break;
    shard_count_does_not_change_the_reports => shard_count_does_not_change_the_reports;
    missing_statement_fails_naming_the_path => missing_statement_fails_naming_the_path;
    breaks_command_lists_and_resolves => breaks_command_lists_and_resolves;
    published_wechat_bill_refund_exception_reaches_reports_and_register => published_wechat_bill_refund_exception_reaches_reports_and_register;
    no_bill_exist_day_is_an_empty_statement_with_a_note => no_bill_exist_day_is_an_empty_statement_with_a_note;
    superseded_leader_finalize_writes_nothing => superseded_leader_finalize_writes_nothing;
}

const D: &str = "2026-11-21";
const D1: &str = "2026-11-22";
const HEADER: &str = "order_no,amount,status,completed_at,fee,refund_no";

async fn runner(db: &TestDb, jobs: &[(&str, String)]) -> Runner {
    common::builtin_runner(db, jobs)
}

async fn run(runner: &Runner, job: &str, business_date: &str) -> RunSummary {
    common::run_job(runner, job, business_date).await
}

async fn rerun(runner: &Runner, parent: &RunSummary) -> RunSummary {
    common::rerun_run(runner, parent, "corrected data").await
}

fn report(db: &TestDb, summary: &RunSummary, file: &str) -> String {
    common::report_text(db, summary, file)
}

fn assert_succeeded(summary: &RunSummary) {
    assert_eq!(
        summary.run.status,
        RunStatus::Succeeded,
        "{:?}",
        summary.run.error
    );
}

/// The run's attention lines, as JSON text.
fn attention(summary: &RunSummary) -> String {
    summary
        .run
        .outcome
        .as_ref()
        .and_then(|o| o.get("attention"))
        .map(|a| a.to_string())
        .unwrap_or_default()
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test instant")
        .with_timezone(&Utc)
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("test decimal")
}

/// A payment order; `completed` is Shanghai time, `status` succeeded or closed.
async fn order(db: &Db, no: &str, channel: &str, amount: &str, fee: &str, status: &str, at: &str) {
    let at = instant(&format!("{at}+08:00"));
    let completed = (status == "succeeded").then_some(at);
    on_db!(db, pool => {
        sqlx::query(
            "INSERT INTO payment_orders (order_no, merchant_id, channel, channel_order_no, currency, \
             amount, fee, status, created_at, completed_at) \
             VALUES ($1, 'M1', $2, NULL, 'CNY', $3, $4, $5, $6, $7)",
        )
        .bind(no)
        .bind(channel)
        .bind(Money(dec(amount)))
        .bind(Money(dec(fee)))
        .bind(status)
        .bind(at)
        .bind(completed)
        .execute(pool)
        .await
        .expect("insert order");
    });
}

async fn refund(db: &Db, no: &str, order_no: &str, amount: &str, fee: &str, at: &str) {
    common::ledger_rows::insert_refund(db, no, order_no, amount, fee, &format!("{at}+08:00")).await;
}

async fn execute(db: &Db, sql: &str) {
    on_db!(db, pool => {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(pool)
            .await
            .expect("statement");
    });
}

/// Day D: one record per category (see the module comment of each line).
async fn day_d(db: &TestDb) -> PathBuf {
    let d = &db.db;
    order(
        d,
        "W1",
        "wechat",
        "100.00",
        "0.60",
        "succeeded",
        "2026-11-21T10:00:00",
    )
    .await; // matched
    order(
        d,
        "W2",
        "wechat",
        "50.00",
        "0.30",
        "succeeded",
        "2026-11-21T10:10:00",
    )
    .await; // amount 49.90 there
    order(
        d,
        "W3",
        "wechat",
        "20.00",
        "0.12",
        "closed",
        "2026-11-21T11:00:00",
    )
    .await; // channel says SUCCESS
    order(
        d,
        "W4",
        "wechat",
        "30.00",
        "0.18",
        "succeeded",
        "2026-11-21T11:30:00",
    )
    .await; // fee 0.20 there
    order(
        d,
        "W5",
        "wechat",
        "40.00",
        "0.24",
        "succeeded",
        "2026-11-21T12:00:00",
    )
    .await; // not on statement
    order(
        d,
        "W7",
        "wechat",
        "70.00",
        "0.42",
        "succeeded",
        "2026-11-21T23:50:00",
    )
    .await; // pending (ours)
    order(
        d,
        "A1",
        "alipay",
        "99.00",
        "0.59",
        "succeeded",
        "2026-11-21T12:00:00",
    )
    .await; // other channel
    order(
        d,
        "W0",
        "wechat",
        "11.00",
        "0.07",
        "succeeded",
        "2026-11-20T23:00:00",
    )
    .await; // day before
    refund(d, "R1", "W1", "10.00", "0.06", "2026-11-21T15:00:00").await; // matched (fee -0.06)
    write_statement(
        db,
        D,
        &[
            "W1,100.00,SUCCESS,2026-11-21 10:00:05,0.60,", // line 2
            "W2,49.90,SUCCESS,2026-11-21 10:10:00,0.30,",  // line 3
            "W3,20.00,SUCCESS,2026-11-21 11:00:00,0.12,",  // line 4
            "W4,30.00,SUCCESS,2026-11-21 11:30:00,0.20,",  // line 5
            "W6,60.00,SUCCESS,2026-11-21 13:00:00,0.36,",  // line 6: not ours
            "W1,100.00,SUCCESS,2026-11-21 10:00:05,0.60,", // line 7: duplicate
            "W1,10.00,REFUND,2026-11-21 15:00:00,-0.06,R1", // line 8
            "W9,15.00,SUCCESS,2026-11-21 23:55:00,0.09,",  // line 9: pending (theirs)
            "W10,abc,SUCCESS,2026-11-21 12:00:00,0.01,",   // line 10: reject
        ],
    )
}

fn write_statement(db: &TestDb, day: &str, rows: &[&str]) -> PathBuf {
    let dir = db.dir.path().join("stmt");
    std::fs::create_dir_all(&dir).expect("statement dir");
    let path = dir.join(format!("wechat-{day}.csv"));
    let mut text = format!("{HEADER}\n");
    for row in rows {
        text += row;
        text += "\n";
    }
    std::fs::write(&path, text).expect("write statement");
    path
}

const STATEMENT: &str = "stmt/wechat-{date}.csv";

/// Hand count of day D. Ledger: W1 100 + R1 10 matched; W2 50 amount; W3 20
/// status (CLOSED vs SUCCESS); W4 30 fee; W5 40 missing in channel; W7 70
/// pending (23:50, within 30 min of midnight) = 7 rows, 320.00. Statement:
/// W1 100 + R1 10 matched; W2 49.90; W3 20; W4 30; W6 60 missing in ledger;
/// W1 100 again duplicate; W9 15 pending = 8 rows, 384.90; one reject → 9 read.
const SUMMARY_D: &str = "category,ledger_count,ledger_amount,statement_count,statement_amount
matched,2,110.00,2,110.00
amount_mismatch,1,50.00,1,49.90
status_mismatch,1,20.00,1,20.00
fee_mismatch,1,30.00,1,30.00
refund_exception,0,0.00,0,0.00
missing_in_channel,1,40.00,0,0.00
missing_in_ledger,0,0.00,1,60.00
duplicate_in_ledger,0,0.00,0,0.00
duplicate_in_statement,0,0.00,1,100.00
pending,1,70.00,1,15.00
rejected,0,,1,
total_read,7,320.00,9,384.90
over_refund,0,0.00,0,0.00
orphan_refund,0,0.00,0,0.00
";

async fn register(db: &Db, job: &str) -> Vec<(String, String, String, String)> {
    let mut rows: Vec<(String, String, String, String)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT break_key, found_as, category, state FROM recon_breaks WHERE job = $1",
        )
        .bind(job)
        .fetch_all(pool)
        .await
        .expect("register")
    });
    rows.sort();
    rows
}

fn row(key: &str, found: &str, category: &str, state: &str) -> (String, String, String, String) {
    (key.into(), found.into(), category.into(), state.into())
}

async fn every_category_and_the_register(db: &TestDb) {
    let statement = day_d(db).await;
    let job = "recon-wechat";
    let runner = runner(db, &[(job, job_text(job, 3, STATEMENT))]).await;
    let summary = run(&runner, job, D).await;
    assert_succeeded(&summary);
    let summary_csv = report(db, &summary, "summary.csv");
    assert_eq!(summary_csv, SUMMARY_D);
    assert_conserved(&summary_csv);

    let s = statement.display();
    let diff = report(db, &summary, "diff.csv");
    let expected = [
        format!("amount_mismatch,W2,payment,50.00,49.90,-0.10,0.30,0.30,0.00,SUCCESS,SUCCESS,2026-11-21 10:10:00,2026-11-21 10:10:00,payment_orders,,{s},3,,,,,,"),
        format!("status_mismatch,W3,payment,20.00,20.00,0.00,0.12,0.12,0.00,CLOSED,SUCCESS,2026-11-21 11:00:00,2026-11-21 11:00:00,payment_orders,,{s},4,,,,,,"),
        format!("fee_mismatch,W4,payment,30.00,30.00,0.00,0.18,0.20,0.02,SUCCESS,SUCCESS,2026-11-21 11:30:00,2026-11-21 11:30:00,payment_orders,,{s},5,,,,,,"),
        "missing_in_channel,W5,payment,40.00,,-40.00,0.24,,,SUCCESS,,2026-11-21 12:00:00,,payment_orders,,,,,,,,,".to_string(),
        format!("missing_in_ledger,W6,payment,,60.00,60.00,,0.36,,,SUCCESS,,2026-11-21 13:00:00,,,{s},6,,,,,,"),
        format!("duplicate_in_statement,W1,payment,,100.00,100.00,,0.60,,,SUCCESS,,2026-11-21 10:00:05,,,{s},7,,,,,,"),
        "pending,W7,payment,70.00,,-70.00,0.42,,,SUCCESS,,2026-11-21 23:50:00,,payment_orders,,,,,,,,,".to_string(),
        format!("pending,W9,payment,,15.00,15.00,,0.09,,,SUCCESS,,2026-11-21 23:55:00,,,{s},9,,,,,,"),
    ];
    let lines: Vec<&str> = diff.lines().skip(1).collect();
    assert_eq!(
        lines,
        expected.iter().map(String::as_str).collect::<Vec<_>>(),
        "{diff}"
    );
    let rejects = report(db, &summary, "rejects.csv");
    assert!(
        rejects.contains(&format!("{s},10,bad_amount,")) && rejects.contains("W10,abc,SUCCESS"),
        "{rejects}"
    );
    assert_eq!(
        register(&db.db, job).await,
        vec![
            row(
                "W1",
                "duplicate_in_statement",
                "duplicate_in_statement",
                "open"
            ),
            row("W2", "amount_mismatch", "amount_mismatch", "open"),
            row("W3", "status_mismatch", "status_mismatch", "open"),
            row("W4", "fee_mismatch", "fee_mismatch", "open"),
            row("W5", "missing_in_channel", "missing_in_channel", "open"),
            row("W6", "missing_in_ledger", "missing_in_ledger", "open"),
            row("W7", "pending", "pending", "pending"),
            row("W9", "pending", "pending", "pending"),
        ]
    );
    // The run record carries what finance must look at.
    let attention = attention(&summary);
    assert!(!attention.contains("days old"), "{attention}");
    assert!(
        attention.contains("8 new reconciliation breaks"),
        "{attention}"
    );
    assert!(
        attention.contains("1 rows could not be read"),
        "{attention}"
    );
}

async fn rerun_replaces_breaks_and_reports(db: &TestDb) {
    day_d(db).await;
    let job = "recon-wechat";
    let runner = runner(db, &[(job, job_text(job, 3, STATEMENT))]).await;
    let first = run(&runner, job, D).await;
    assert_succeeded(&first);
    let second = rerun(&runner, &first).await;
    assert_succeeded(&second);
    for file in ["summary.csv", "diff.csv", "rejects.csv", "carried.csv"] {
        assert_eq!(
            report(db, &first, file),
            report(db, &second, file),
            "{file}"
        );
    }
    let before = register(&db.db, job).await;
    assert_eq!(before.len(), 8);

    // A person resolves W5; the channel's W2 amount turns out right and ours is corrected.
    let w5 = breaks::list(
        &db.db,
        &BreakFilter {
            job: Some(job.into()),
            ..Default::default()
        },
    )
    .await
    .expect("list")
    .into_iter()
    .find(|b| b.key == "W5")
    .expect("W5 break");
    breaks::resolve(
        &db.db,
        w5.id,
        "alice",
        "refunded offline, see ticket 42",
        Utc::now(),
    )
    .await
    .expect("resolve");
    execute(
        &db.db,
        "UPDATE payment_orders SET amount = '49.90' WHERE order_no = 'W2'",
    )
    .await;
    let third = rerun(&runner, &second).await;
    assert_succeeded(&third);
    assert_conserved(&report(db, &third, "summary.csv"));
    assert!(!report(db, &third, "diff.csv").contains(",W2,"));
    let after = register(&db.db, job).await;
    assert_eq!(after.len(), 8, "a rerun never duplicates breaks: {after:?}");
    assert!(after.contains(&row(
        "W2",
        "amount_mismatch",
        "amount_mismatch",
        "auto_resolved"
    )));
    assert!(after.contains(&row(
        "W5",
        "missing_in_channel",
        "missing_in_channel",
        "resolved"
    )));
    let w5 = breaks::get(&db.db, w5.id).await.expect("W5");
    assert_eq!(w5.resolved_by.as_deref(), Some("alice"));
    assert_eq!(w5.note.as_deref(), Some("refunded offline, see ticket 42"));

    // Undo the correction: the W2 break comes back as the same row, open again.
    execute(
        &db.db,
        "UPDATE payment_orders SET amount = '50.00' WHERE order_no = 'W2'",
    )
    .await;
    let fourth = rerun(&runner, &third).await;
    assert_eq!(
        report(db, &first, "diff.csv").replace(",W5,", ""),
        report(db, &fourth, "diff.csv").replace(",W5,", "")
    );
    let again = register(&db.db, job).await;
    assert_eq!(again.len(), 8);
    assert!(again.contains(&row("W2", "amount_mismatch", "amount_mismatch", "open")));
    assert!(again.contains(&row(
        "W5",
        "missing_in_channel",
        "missing_in_channel",
        "resolved"
    )));
}

async fn cross_day_pending_is_resolved_or_becomes_a_break(db: &TestDb) {
    day_d(db).await;
    order(
        &db.db,
        "W11",
        "wechat",
        "25.00",
        "0.15",
        "succeeded",
        "2026-11-22T09:00:00",
    )
    .await;
    let statement_d1 = write_statement(
        db,
        D1,
        &[
            "W7,70.00,SUCCESS,2026-11-22 00:00:30,0.42,", // our pending W7 of D arrives
            "W11,25.00,SUCCESS,2026-11-22 09:00:00,0.15,",
        ],
    );
    let job = "recon-wechat";
    let text = job_text(job, 2, STATEMENT) + "escalate_after_days = 0\n";
    let runner = runner(db, &[(job, text)]).await;
    let first = run(&runner, job, D).await;
    assert_succeeded(&first);
    let next = run(&runner, job, D1).await;
    assert_succeeded(&next);
    // D+1: ours W11 25.00; theirs W11 and W7 (paired with D's pending) = 95.00.
    let summary = report(db, &next, "summary.csv");
    assert!(summary.starts_with(
        "category,ledger_count,ledger_amount,statement_count,statement_amount\nmatched,1,25.00,2,95.00\n"
    ), "{summary}");
    assert!(
        summary.contains("total_read,1,25.00,2,95.00\n"),
        "{summary}"
    );
    assert_conserved(&summary);
    assert_eq!(
        report(db, &next, "diff.csv").lines().count(),
        1,
        "no breaks on D+1"
    );
    let s = statement_d1.display();
    assert_eq!(
        report(db, &next, "carried.csv"),
        format!(
            "business_date,key,kind,found_as,side,amount,outcome,paired_amount,paired_time,paired_file,paired_line
2026-11-21,W7,payment,pending,ledger,70.00,matched,70.00,2026-11-22 00:00:30,{s},2
2026-11-21,W9,payment,pending,statement,15.00,became_missing_in_ledger,,,,
"
        )
    );
    // D's seven unresolved breaks (W1 duplicate, W2–W6, W9 now) are older than 0 days.
    assert!(
        attention(&next).contains("7 unresolved breaks of recon-wechat are more than 0 days old"),
        "{}",
        attention(&next)
    );
    let registered = register(&db.db, job).await;
    assert!(registered.contains(&row("W7", "pending", "pending", "auto_resolved")));
    assert!(registered.contains(&row("W9", "pending", "missing_in_ledger", "open")));
    assert_eq!(registered.len(), 8);

    // Rerunning D+1 decides the carried records the same way, byte for byte.
    let again = rerun(&runner, &next).await;
    assert_succeeded(&again);
    for file in ["summary.csv", "diff.csv", "rejects.csv", "carried.csv"] {
        assert_eq!(report(db, &next, file), report(db, &again, file), "{file}");
    }
    assert_eq!(register(&db.db, job).await, registered);
    // Rerunning D keeps what D+1 decided about D's pending records.
    assert_succeeded(&rerun(&runner, &first).await);
    assert_eq!(register(&db.db, job).await, registered);
}

async fn shard_count_does_not_change_the_reports(db: &TestDb) {
    day_d(db).await;
    let jobs = [
        ("recon-one", job_text("recon-one", 1, STATEMENT)),
        ("recon-four", job_text("recon-four", 4, STATEMENT)),
    ];
    let runner = runner(db, &jobs).await;
    let one = run(&runner, "recon-one", D).await;
    let four = run(&runner, "recon-four", D).await;
    assert_succeeded(&one);
    assert_succeeded(&four);
    for file in ["summary.csv", "diff.csv", "rejects.csv", "carried.csv"] {
        assert_eq!(report(db, &one, file), report(db, &four, file), "{file}");
    }
    assert_eq!(report(db, &four, "summary.csv"), SUMMARY_D);
}

async fn missing_statement_fails_naming_the_path(db: &TestDb) {
    day_d(db).await;
    let job = "recon-late";
    let runner = runner(db, &[(job, job_text(job, 2, "stmt/late-{date}.csv"))]).await;
    let summary = run(&runner, job, D).await;
    assert_eq!(summary.run.status, RunStatus::Failed);
    let error = summary.run.error.clone().unwrap_or_default();
    assert!(
        error.contains("late-2026-11-21.csv") && error.contains("did not arrive"),
        "{error}"
    );
    // Nothing was reported missing because a file did not arrive.
    assert!(register(&db.db, job).await.is_empty());
}

async fn breaks_command_lists_and_resolves(db: &TestDb) {
    day_d(db).await;
    let job = "recon-wechat";
    let runner = runner(db, &[(job, job_text(job, 1, STATEMENT))]).await;
    assert_succeeded(&run(&runner, job, D).await);
    let reckon = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_reckon"))
            .current_dir(db.dir.path())
            .env("RECKON_DATABASE_URL", &db.url)
            .args(args)
            .output()
            .expect("reckon runs")
    };
    let list = reckon(&["breaks", "--job", job, "--open", "--as-of", "2026-11-24"]);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let text = String::from_utf8_lossy(&list.stdout).to_string();
    // Header plus 8 unresolved rows, each 3 days old.
    assert_eq!(text.lines().count(), 9, "{text}");
    let w2 = text
        .lines()
        .find(|l| l.contains(" W2 "))
        .expect("W2 listed");
    assert!(
        w2.contains("2026-11-21") && w2.contains("   3  ") && w2.contains("amount_mismatch"),
        "{w2}"
    );
    assert!(w2.contains("-0.10"), "{w2}");
    let id = w2.split_whitespace().next().expect("id").to_string();
    // Older than 3 days: none yet; older than 2: all.
    let older = reckon(&[
        "breaks",
        "--open",
        "--older-than",
        "3",
        "--as-of",
        "2026-11-24",
    ]);
    assert_eq!(String::from_utf8_lossy(&older.stdout).lines().count(), 1);
    let older = reckon(&[
        "breaks",
        "--open",
        "--older-than",
        "2",
        "--as-of",
        "2026-11-24",
    ]);
    assert_eq!(String::from_utf8_lossy(&older.stdout).lines().count(), 9);

    // The same list as CSV for Excel: header plus 8 rows, W2's columns by name.
    let csv = reckon(&[
        "breaks",
        "--job",
        job,
        "--open",
        "--as-of",
        "2026-11-24",
        "--csv",
    ]);
    assert!(csv.status.success());
    let csv = String::from_utf8_lossy(&csv.stdout).to_string();
    assert_eq!(csv.lines().count(), 9, "{csv}");
    assert!(
        csv.starts_with("id,job,business_date,age_days,state,category,found_as,key,kind,sides,"),
        "{csv}"
    );
    assert!(
        csv.contains(&format!(
            "{id},{job},2026-11-21,3,open,amount_mismatch,amount_mismatch,W2,payment,ledger/statement,50.00,49.90,-0.10,"
        )),
        "{csv}"
    );

    let resolved = reckon(&[
        "breaks",
        "resolve",
        &id,
        "--note",
        "channel corrected the amount",
        "--by",
        "bob",
    ]);
    assert!(
        resolved.status.success(),
        "{}",
        String::from_utf8_lossy(&resolved.stderr)
    );
    let open = reckon(&["breaks", "--job", job, "--open"]);
    assert!(!String::from_utf8_lossy(&open.stdout).contains(" W2 "));
    let all = reckon(&["breaks", "--job", job]);
    let all = String::from_utf8_lossy(&all.stdout).to_string();
    let w2 = all
        .lines()
        .find(|l| l.contains(" W2 "))
        .expect("W2 still listed");
    assert!(
        w2.contains("resolved") && w2.contains("channel corrected the amount"),
        "{w2}"
    );
    let b = breaks::get(&db.db, id.parse().expect("id"))
        .await
        .expect("break");
    assert_eq!(b.state, BreakState::Resolved);
    assert_eq!(b.resolved_by.as_deref(), Some("bob"));
    // Resolving again, an unknown id or an empty note are refused (exit 2).
    for args in [
        vec!["breaks", "resolve", id.as_str(), "--note", "again"],
        vec!["breaks", "resolve", "999999", "--note", "x"],
    ] {
        let refused = reckon(&args);
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
    }
}

/// A `recon-funds` job reading WeChat's own bill format.
fn wechat_job_text(name: &str) -> String {
    job_text(name, 2, "stmt/wechat-{date}.csv")
        .replace("format = \"generic\"", "format = \"wechat\"")
}

fn copy_published(db: &TestDb, fixture: &str, day: &str) -> PathBuf {
    let dir = db.dir.path().join("stmt");
    std::fs::create_dir_all(&dir).expect("statement dir");
    let path = dir.join(format!("wechat-{day}.csv"));
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/recon/published")
        .join(fixture);
    std::fs::copy(source, &path).expect("copy fixture");
    path
}

/// The published ALL bill (fixtures/recon/published/wechat_all_20240709.csv)
/// against our books. By hand: ours P1 6.00, P2 60.00, P3 0.01 (fee
/// 0.00006), refund R…01 50.00 and the refund R…03 5.00 that WeChat reports
/// as `CHANGE` = 5 rows, 121.01. Theirs: the same plus the `REFUNDCLOSE`
/// refund R…02 10.00 (no money moved: agrees with our silence) = 6 rows,
/// 131.01. R…03 is a `refund_exception` on both sides, in diff.csv and the
/// register.
async fn published_wechat_bill_refund_exception_reaches_reports_and_register(db: &TestDb) {
    let day = "2024-07-09";
    let d = &db.db;
    order(
        d,
        "P20240709000001",
        "wechat",
        "6.00",
        "0.04",
        "succeeded",
        "2024-07-09T09:12:01",
    )
    .await;
    order(
        d,
        "P20240709000002",
        "wechat",
        "60.00",
        "0.32",
        "succeeded",
        "2024-07-09T10:20:33",
    )
    .await;
    order(
        d,
        "P20240709000003",
        "wechat",
        "0.01",
        "0.00006",
        "succeeded",
        "2024-07-09T11:00:00",
    )
    .await;
    // The refunded order was paid on an earlier day; our ledger holds it.
    order(
        d,
        "P20240625000009",
        "wechat",
        "50.00",
        "0.27",
        "succeeded",
        "2024-06-25T10:00:00",
    )
    .await;
    refund(
        d,
        "R20240709000001",
        "P20240625000009",
        "50.00",
        "0.27",
        "2024-07-09T14:05:11",
    )
    .await;
    refund(
        d,
        "R20240709000003",
        "P20240709000002",
        "5.00",
        "0.03",
        "2024-07-09T16:30:00",
    )
    .await;
    let statement = copy_published(db, "wechat_all_20240709.csv", day);
    let job = "recon-wechat-bill";
    let runner = runner(db, &[(job, wechat_job_text(job))]).await;
    let summary = run(&runner, job, day).await;
    assert_succeeded(&summary);
    let summary_csv = report(db, &summary, "summary.csv");
    assert_conserved(&summary_csv);
    assert_eq!(
        summary_csv,
        "category,ledger_count,ledger_amount,statement_count,statement_amount
matched,4,116.01,5,126.01
amount_mismatch,0,0.00,0,0.00
status_mismatch,0,0.00,0,0.00
fee_mismatch,0,0.00,0,0.00
refund_exception,1,5.00,1,5.00
missing_in_channel,0,0.00,0,0.00
missing_in_ledger,0,0.00,0,0.00
duplicate_in_ledger,0,0.00,0,0.00
duplicate_in_statement,0,0.00,0,0.00
pending,0,0.00,0,0.00
rejected,0,,0,
total_read,5,121.01,6,131.01
over_refund,0,0.00,0,0.00
orphan_refund,0,0.00,0,0.00
"
    );
    let diff = report(db, &summary, "diff.csv");
    assert_eq!(
        diff.lines().skip(1).collect::<Vec<_>>(),
        [format!(
            "refund_exception,R20240709000003,refund,5.00,5.00,0.00,-0.03,-0.03,0.00,REFUND,REFUND_EXCEPTION,2024-07-09 16:30:00,2024-07-09 16:30:00,refunds,,{},7,,,,,,",
            statement.display()
        )]
    );
    assert_eq!(
        register(&db.db, job).await,
        vec![row(
            "R20240709000003",
            "refund_exception",
            "refund_exception",
            "open"
        )]
    );
}

/// WeChat answers `No Bill Exist` for a day without trades; that answer,
/// saved as the day's file, is an empty statement with a note, not a failed
/// run. Our one order of the day is then missing in the channel.
async fn no_bill_exist_day_is_an_empty_statement_with_a_note(db: &TestDb) {
    let day = "2024-07-10";
    order(
        &db.db,
        "P20240710000001",
        "wechat",
        "20.00",
        "0.12",
        "succeeded",
        "2024-07-10T10:00:00",
    )
    .await;
    copy_published(db, "wechat_nobill_20240710.csv", day);
    let job = "recon-wechat-nobill";
    let runner = runner(db, &[(job, wechat_job_text(job))]).await;
    let summary = run(&runner, job, day).await;
    assert_succeeded(&summary);
    let summary_csv = report(db, &summary, "summary.csv");
    assert_conserved(&summary_csv);
    assert!(
        summary_csv.contains("missing_in_channel,1,20.00,0,0.00"),
        "{summary_csv}"
    );
    assert!(
        summary_csv.contains("total_read,1,20.00,0,0.00"),
        "{summary_csv}"
    );
    let outcome = summary
        .run
        .outcome
        .as_ref()
        .map(|o| o.to_string())
        .unwrap_or_default();
    assert!(outcome.contains("No Bill Exist"), "{outcome}");
}

/// Issue 13: a leader whose finalize is overtaken by an election (between
/// the runtime's leader check and the kind's writes) writes nothing — no
/// register row of D+1, no carried decision on D's pending records, no run
/// state, no report — and the newer leader then concludes the run.
async fn superseded_leader_finalize_writes_nothing(db: &TestDb) {
    day_d(db).await;
    write_statement(
        db,
        D1,
        &["W7,70.00,SUCCESS,2026-11-22 00:00:30,0.42,"], // D's pending W7 arrives
    );
    let job = "recon-wechat";
    let jobs = [(job, job_text(job, 2, STATEMENT))];
    let plain = runner(db, &jobs).await;
    assert_succeeded(&run(&plain, job, D).await);
    let registered = register(&db.db, job).await;
    assert!(
        registered
            .iter()
            .any(|r| r.0 == "W7" && r.1 == "pending" && r.3 != "auto_resolved"),
        "{registered:?}"
    );

    let overtaken = common::runner_with(
        db,
        common::lead::builtin_with_election_during("recon-funds"),
        &jobs,
        std::sync::Arc::new(reckon::schedule::SystemClock),
    );
    let (run_id, old) = common::lead::run_overtaken(db, &overtaken, job, D1).await;
    assert_eq!(
        register(&db.db, job).await,
        registered,
        "neither D+1's breaks nor the carried decision on W7 were written"
    );

    let ledger = plain.ledger();
    let newer = ledger.leader().await.unwrap().expect("a leader").epoch;
    assert!(newer > old);
    let done = plain
        .execute_as(
            &run_id,
            std::sync::Arc::new(reckon::runtime::Progress::default()),
            Some(newer),
        )
        .await
        .expect("the newer leader concludes the run");
    assert_succeeded(&done);
    assert!(register(&db.db, job).await.contains(&row(
        "W7",
        "pending",
        "pending",
        "auto_resolved"
    )));
    assert!(report(db, &done, "carried.csv").contains("W7,payment,pending,ledger,70.00,matched"));
}
